/* edge-sync reconciler: diff desired pods (LMDB) against the engine's containers (by label) and
 * act. The engine is the only record of what runs, so a restart at any point loses nothing and
 * never creates duplicates: names are deterministic and every container is found by its labels.
 * That includes what already happened: an init container that exited 0, or a job's exited
 * services, carry the hash and version they were made for and are kept as the record that this
 * step is done. */
#include "reconcile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/app.h"
#include "ferry/proto.h"
#include "ferry/quantity.h"
#include "pod.h"
#include "volumes.h"

#define STOP_TIMEOUT_S 10
#define LOG_TAIL_LINES 20
#define LOG_TAIL_CHARS 600
#define INIT_WAIT_MS 2000 /* per pass, all init containers together: then the pass moves on */
#define INIT_POLL_MS 100
#define BUSY_PASS_MS 1000        /* how soon the next pass comes while an init container runs */
#define MAX_STATUS_CONTAINERS 64 /* PROTOCOL.md: app.status carries at most 64 */

#define ROLE_INFRA "infra"
#define ROLE_SERVICE "service"
#define ROLE_INIT "init"

/* The containers of one app, as listed. Borrowed from the listing; an entry becomes NULL once
 * the container was removed. */
typedef struct {
    ferry_container **items;
    size_t n;
} app_containers;

/* A container's state, from inspect. */
typedef struct {
    char status[32]; /* "running", "exited", ...; "waiting" when there is no container */
    long long exit_code, restarts;
    char error[512]; /* the engine's State.Error */
} cstate;

/* One pass. */
typedef struct {
    const ferry_reconcile_cfg *cfg;
    int64_t now_ms;        /* wall clock when the pass began */
    int64_t init_deadline; /* monotonic: until then the pass waits for init containers */
    int64_t wake_at_ms;
} pass_t;

/* One app during a pass. */
typedef struct {
    pass_t *pass;
    const ferry_reconcile_cfg *cfg;
    const char *app;
    long long version;
    const json_t *spec;
    app_containers *ac;
    ferry_volumes_ref vref;
    bool job;
    long long retries;  /* job with OnFailure: restarts the engine makes after a failure */
    json_t *containers; /* status entries of the services */
    json_t *inits;      /* status entries of the init containers (listed after the services) */
    char msg[2048];     /* the first problem, or what the app waits for */
    bool failed, busy, all_running, any_running;
    int done_pods;      /* job: pods that ran to completion */
    bool job_failed;    /* job: a finished pod failed */
    char job_msg[2048]; /* job: why it failed */
} app_run;

static const char *label(const ferry_container *c, const char *key) {
    const char *v = json_string_value(json_object_get(c->labels, key));
    return v ? v : "";
}

static int replica_of(const ferry_container *c) {
    return atoi(label(c, FERRY_LBL_REPLICA));
}

static bool has_role(const ferry_container *c, const char *role) {
    return !strcmp(label(c, FERRY_LBL_ROLE), role);
}

static bool is_infra(const ferry_container *c) {
    return has_role(c, ROLE_INFRA);
}

static bool exited_status(const char *s) {
    /* Podman reports a container between restarts as "stopped" where Docker says "exited". */
    return !strcmp(s, "exited") || !strcmp(s, "dead") || !strcmp(s, "stopped");
}

/* The container of one replica with this role and (for services and inits) name. */
static ferry_container *find(const app_containers *ac, int replica, const char *role,
                             const char *name) {
    for (size_t i = 0; i < ac->n; i++) {
        ferry_container *c = ac->items[i];
        if (!c || replica_of(c) != replica || !has_role(c, role))
            continue;
        if (!name || !strcmp(label(c, FERRY_LBL_SERVICE), name))
            return c;
    }
    return NULL;
}

static bool replica_has_containers(const app_containers *ac, int replica) {
    for (size_t i = 0; i < ac->n; i++)
        if (ac->items[i] && (replica < 0 || replica_of(ac->items[i]) == replica))
            return true;
    return false;
}

/* Stop and remove a container and forget it in the listing. */
static void drop(const ferry_reconcile_cfg *cfg, app_containers *ac, ferry_container *c) {
    LOG_INFO("removing container %s", c->name);
    ferry_engine_stop(cfg->engine, c->id, STOP_TIMEOUT_S);
    if (ferry_engine_remove(cfg->engine, c->id) != FERRY_OK) {
        LOG_WARN("could not remove container %s; will retry on the next pass", c->name);
        return;
    }
    for (size_t i = 0; i < ac->n; i++)
        if (ac->items[i] == c)
            ac->items[i] = NULL;
}

/* Remove every container of one replica (replica < 0: of the whole app), services and inits
 * before the infra container: Podman refuses to remove an infra container that others still
 * join. Once none is left, the pod's files (emptyDir) go too, when vref is given. */
static void drop_pod(const ferry_reconcile_cfg *cfg, app_containers *ac, int replica,
                     const ferry_volumes_ref *vref) {
    for (int infra_pass = 0; infra_pass < 2; infra_pass++)
        for (size_t i = 0; i < ac->n; i++) {
            ferry_container *c = ac->items[i];
            if (c && (replica < 0 || replica_of(c) == replica) && is_infra(c) == infra_pass)
                drop(cfg, ac, c);
        }
    if (vref && !replica_has_containers(ac, replica) &&
        ferry_volumes_pod_remove(vref, replica) != FERRY_OK)
        LOG_WARN("app %s: could not remove the files of pod %d; the cleanup retries", vref->app,
                 replica);
}

/* Create a container under a deterministic name. A container of that name that the listing did
 * not show as ours (labels lost or edited by hand) is in the way: remove it and try once more. */
static ferry_err create_named(const ferry_reconcile_cfg *cfg, const char *name, const json_t *body,
                              char **id, char *err, size_t errlen) {
    ferry_err e = ferry_engine_create(cfg->engine, name, body, id, err, errlen);
    if (e == FERRY_EEXIST) {
        LOG_WARN("a container named %s is in the way; replacing it", name);
        ferry_engine_stop(cfg->engine, name, STOP_TIMEOUT_S);
        ferry_engine_remove(cfg->engine, name);
        e = ferry_engine_create(cfg->engine, name, body, id, err, errlen);
    }
    return e;
}

/* ---- registries -------------------------------------------------------------------------------
 */

/* A registry server as written in a registry config, without scheme and trailing '/'. */
static void server_norm(const char *server, char *out, size_t len) {
    if (!strncmp(server, "https://", 8))
        server += 8;
    else if (!strncmp(server, "http://", 7))
        server += 7;
    snprintf(out, len, "%s", server);
    for (size_t n = strlen(out); n > 0 && out[n - 1] == '/'; n--)
        out[n - 1] = '\0';
}

static bool docker_hub(const char *server) {
    return !strcmp(server, "docker.io") || !strcmp(server, "index.docker.io") ||
           !strcmp(server, "registry-1.docker.io") || !strcmp(server, "index.docker.io/v1");
}

/* true when image comes from server: the server (a host[:port], maybe with a path) prefixes the
 * reference up to a '/'; an image without a registry host comes from Docker Hub. */
static bool image_from(const char *image, const char *server) {
    size_t n = strlen(server);
    const char *slash = strchr(image, '/');
    bool has_host =
        slash && (memchr(image, '.', (size_t)(slash - image)) ||
                  memchr(image, ':', (size_t)(slash - image)) || !strncmp(image, "localhost/", 10));
    if (n > 0 && !strncmp(image, server, n) && image[n] == '/')
        return true;
    return !has_host && docker_hub(server);
}

/* The X-Registry-Auth credentials for image from spec.resolved.registries (the first registry
 * whose server the image comes from), or NULL. Caller owns. */
static json_t *registry_auth(const json_t *spec, const char *image) {
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(json_object_get(spec, "resolved"), "registries"), i, r) {
        const char *server = json_string_value(json_object_get(r, "server"));
        char norm[512];
        if (!server)
            continue;
        server_norm(server, norm, sizeof(norm));
        if (image_from(image, norm))
            return json_pack("{s:s?, s:s?, s:s}", "username",
                             json_string_value(json_object_get(r, "username")), "password",
                             json_string_value(json_object_get(r, "password")), "serveraddress",
                             norm);
    }
    return NULL;
}

/* Make sure image is on the node: pull it when missing, with the app's credentials for its
 * registry. */
static ferry_err ensure_image(const ferry_reconcile_cfg *cfg, const json_t *spec, const char *image,
                              char *err, size_t errlen) {
    bool present = false;
    char why[512] = "";
    json_t *auth = NULL;
    ferry_err e = ferry_engine_image_present(cfg->engine, image, &present);

    if (e == FERRY_OK && present)
        return FERRY_OK;
    auth = registry_auth(spec, image);
    LOG_INFO("pulling image %s%s", image, auth ? " with the app's registry credentials" : "");
    e = ferry_engine_pull(cfg->engine, image, auth, why, sizeof(why));
    if (e != FERRY_OK)
        snprintf(err, errlen, "image %s is not on the node and could not be pulled: %s%s", image,
                 why[0] ? why : ferry_strerror(e),
                 auth ? ""
                      : (json_array_size(json_object_get(spec, "registries")) > 0
                             ? " (no registry of the app serves this image)"
                             : ""));
    json_decref(auth);
    return e;
}

/* ---- reporting --------------------------------------------------------------------------------
 */

static void inspect_state(const ferry_reconcile_cfg *cfg, const char *id, cstate *st) {
    json_t *info = NULL, *state;
    const char *s, *err;

    memset(st, 0, sizeof(*st));
    snprintf(st->status, sizeof(st->status), "%s", id ? "unknown" : "waiting");
    if (!id || ferry_engine_inspect(cfg->engine, id, &info) != FERRY_OK)
        return;
    state = json_object_get(info, "State");
    s = json_string_value(json_object_get(state, "Status"));
    err = json_string_value(json_object_get(state, "Error"));
    snprintf(st->status, sizeof(st->status), "%s", s ? s : "unknown");
    snprintf(st->error, sizeof(st->error), "%s", err ? err : "");
    st->exit_code = (long long)json_integer_value(json_object_get(state, "ExitCode"));
    st->restarts = (long long)json_integer_value(json_object_get(info, "RestartCount"));
    json_decref(info);
}

/* The last lines of a container's log, at most LOG_TAIL_CHARS (the end), valid UTF-8. */
static void log_tail(const ferry_reconcile_cfg *cfg, const char *id, char *out, size_t len) {
    char *tail = NULL;
    snprintf(out, len, "(empty)");
    if (id && ferry_engine_logs_tail(cfg->engine, id, LOG_TAIL_LINES, &tail) == FERRY_OK && tail &&
        tail[0]) {
        size_t n = strlen(tail);
        const char *from = n > LOG_TAIL_CHARS ? tail + n - LOG_TAIL_CHARS : tail;
        snprintf(out, len, "%s", from);
    }
    ferry_text_scrub(out); /* the log is the container's bytes: keep only valid UTF-8 */
    ferry_free(tail);
}

static void add_entry(json_t *list, const char *name, const char *image, const cstate *st,
                      const char *error) {
    char errbuf[1024];
    snprintf(errbuf, sizeof(errbuf), "%s", error && error[0] ? error : st->error);
    ferry_text_scrub(errbuf); /* engine text goes into a protocol string: valid UTF-8 only */
    json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "name", name, "state",
                                          st->status, "restarts", (json_int_t)st->restarts,
                                          "exitCode", (json_int_t)st->exit_code, "error", errbuf,
                                          "image", image ? image : ""));
}

static void set_msg(app_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(app_run *run, const char *fmt, ...) {
    va_list ap;
    if (run->msg[0])
        return; /* the first problem is the one to report */
    va_start(ap, fmt);
    vsnprintf(run->msg, sizeof(run->msg), fmt, ap);
    va_end(ap);
    ferry_text_scrub(run->msg);
}

/* ---- pods -------------------------------------------------------------------------------------
 */

/* Bring one replica's infra container up (and its emptyDir folders); returns its id (borrowed
 * from the listing or owned in *created) or NULL with err set. */
static const char *ensure_infra(app_run *run, const ferry_pod_ref *ref, char **created, char *err,
                                size_t errlen) {
    const ferry_reconcile_cfg *cfg = run->cfg;
    char name[256], hash[65], why[512] = "";
    ferry_container *infra = find(run->ac, ref->replica, ROLE_INFRA, NULL);
    json_t *body = NULL;
    const char *id = NULL;

    ferry_pod_infra_hash(run->spec, cfg->pause_image, hash);
    if (infra && strcmp(label(infra, FERRY_LBL_HASH), hash) != 0) {
        /* The pod's network changed: every container joined to it goes with it. */
        drop_pod(cfg, run->ac, ref->replica, &run->vref);
        infra = NULL;
    }
    /* A new pod starts with empty emptyDirs, unless containers of the old one are still there
     * (they may be using them). */
    bool fresh = !infra && !replica_has_containers(run->ac, ref->replica);
    if (ferry_volumes_pod_prepare(&run->vref, ref->replica, run->spec, fresh, err, errlen) !=
        FERRY_OK)
        return NULL;
    if (infra) {
        id = infra->id;
        if (!strcmp(infra->state, "running"))
            return id;
    } else {
        if (ferry_pod_infra_name(ref, name, sizeof(name)) != FERRY_OK ||
            !(body = ferry_pod_infra_body(ref, run->spec, cfg->pause_image))) {
            snprintf(err, errlen, "internal error building the pod");
            return NULL;
        }
        ferry_err e = create_named(cfg, name, body, created, why, sizeof(why));
        if (e == FERRY_ENOTFOUND) { /* the pause image was removed behind our back */
            ferry_engine_ensure_pause_image(cfg->engine, cfg->pause_binary, cfg->pause_image);
            e = create_named(cfg, name, body, created, why, sizeof(why));
        }
        json_decref(body);
        if (e != FERRY_OK) {
            snprintf(err, errlen, "pod network container could not be created: %s", why);
            return NULL;
        }
        id = *created;
    }
    if (ferry_engine_start(cfg->engine, id, why, sizeof(why)) != FERRY_OK) {
        if (strstr(why, "port is already allocated") || strstr(why, "address already in use"))
            snprintf(err, errlen,
                     "the pod: a host port of this app is already in use on the node; free it or "
                     "change hostPort (engine: %s)",
                     why);
        else
            snprintf(err, errlen, "the pod could not start: %s", why);
        return NULL;
    }
    return id;
}

/* Create (when missing or changed) and start a service or init container. Returns the id to
 * inspect (owned in *created or borrowed) and fills err on failure. cur: the existing container
 * of that name, if any. */
static const char *ensure_member(app_run *run, const ferry_pod_ref *ref, const json_t *svc,
                                 bool init, const char *infra_id, const json_t *binds,
                                 const char *hash, ferry_container *cur, char **created, char *err,
                                 size_t errlen) {
    const ferry_reconcile_cfg *cfg = run->cfg;
    const char *sname = json_string_value(json_object_get(svc, "name"));
    const char *image = json_string_value(json_object_get(svc, "image"));
    const char *what = init ? "init container" : "service";
    char name[256], why[512] = "";
    json_t *body = NULL;
    const char *id = NULL;
    ferry_err e;

    if (cur && !strcmp(label(cur, FERRY_LBL_HASH), hash)) {
        id = cur->id;
        if (strcmp(cur->state, "created") != 0)
            return id; /* running, exited, or the engine's restart policy owns it */
    } else {
        /* Pull first, so that a bad image leaves the old container running. */
        if (ensure_image(cfg, run->spec, image, err, errlen) != FERRY_OK)
            return cur ? cur->id : NULL;
        if (cur)
            drop(cfg, run->ac, cur);
        e = init ? ferry_pod_init_name(ref, sname, name, sizeof(name))
                 : ferry_pod_service_name(ref, sname, name, sizeof(name));
        body = e != FERRY_OK ? NULL
               : init        ? ferry_pod_init_body(ref, run->spec, svc, infra_id, binds)
                             : ferry_pod_service_body(ref, run->spec, svc, infra_id, binds);
        if (!body) {
            snprintf(err, errlen, "%s %s: the container could not be built (see edge-sync's log)",
                     what, sname);
            return NULL;
        }
        LOG_INFO("creating container %s (app version %lld)", name, ref->version);
        e = create_named(cfg, name, body, created, why, sizeof(why));
        json_decref(body);
        if (e != FERRY_OK) {
            snprintf(err, errlen, "%s %s could not be created: %s", what, sname, why);
            return NULL;
        }
        id = *created;
    }
    if (ferry_engine_start(cfg->engine, id, why, sizeof(why)) != FERRY_OK) {
        if (strstr(why, "port is already allocated") || strstr(why, "address already in use"))
            snprintf(err, errlen,
                     "%s %s: a host port of this app is already in use on the node; free it or "
                     "change hostPort (engine: %s)",
                     what, sname, why);
        else
            snprintf(err, errlen, "%s %s could not start: %s", what, sname, why);
    }
    return id;
}

/* Remove the services (and, from index `from` on, the init containers) of one replica: an init
 * container has to run again, and everything after it comes after it. */
static void drop_after_init(app_run *run, int replica, size_t from) {
    const json_t *inits = json_object_get(run->spec, "initServices");
    for (size_t i = 0; i < run->ac->n; i++) {
        ferry_container *c = run->ac->items[i];
        bool later = false;
        if (!c || replica_of(c) != replica || is_infra(c))
            continue;
        if (has_role(c, ROLE_INIT)) {
            size_t k;
            json_t *init;
            later = true; /* an init container the spec no longer has */
            json_array_foreach(inits, k, init) {
                if (!strcmp(json_string_value(json_object_get(init, "name")),
                            label(c, FERRY_LBL_SERVICE)))
                    later = k >= from;
            }
        }
        if (has_role(c, ROLE_SERVICE) || later)
            drop(run->cfg, run->ac, c);
    }
}

/* Wait (until the pass's deadline) for a started init container to exit. */
static void wait_exit(app_run *run, const char *id, cstate *st) {
    for (;;) {
        inspect_state(run->cfg, id, st);
        if (exited_status(st->status) || strcmp(st->status, "unknown") == 0 ||
            ferry_mono_ms() >= run->pass->init_deadline)
            return;
        struct timespec ts = {0, INIT_POLL_MS * 1000000L};
        nanosleep(&ts, NULL); /* polling the engine, with a deadline */
    }
}

/* Run the init containers of one replica in order. true when every one exited 0 for the current
 * spec (the services may start). Otherwise run->busy (one is running: the next pass continues)
 * or run->failed is set with the message; when an init container failed, failure holds why. */
static bool run_inits(app_run *run, const ferry_pod_ref *ref, const char *infra_id, char *failure,
                      size_t failure_len) {
    const json_t *inits = json_object_get(run->spec, "initServices");
    size_t k;
    json_t *init;

    json_array_foreach(inits, k, init) {
        const char *iname = json_string_value(json_object_get(init, "name"));
        const char *image = json_string_value(json_object_get(init, "image"));
        ferry_container *cur = find(run->ac, ref->replica, ROLE_INIT, iname);
        json_t *binds = NULL;
        char hash[65], err[1024] = "", *created = NULL;
        const char *id = NULL;
        cstate st;
        bool ok = false;

        if (ferry_volumes_binds(&run->vref, ref->replica, run->spec, init, &binds, err,
                                sizeof(err)) != FERRY_OK) {
            run->failed = true;
            set_msg(run, "init container %s: %s", iname, err);
            inspect_state(run->cfg, NULL, &st);
            add_entry(run->inits, iname, image, &st, err);
            return false;
        }
        ferry_pod_init_hash(run->spec, init, binds, hash);
        if (!cur || strcmp(label(cur, FERRY_LBL_HASH), hash) != 0) {
            /* Not run for this spec yet: it, the init containers after it and the services
             * (re)start in order. */
            drop_after_init(run, ref->replica, k);
            cur = NULL;
        }
        id = ensure_member(run, ref, init, true, infra_id, binds, hash, cur, &created, err,
                           sizeof(err));
        json_decref(binds);
        if (id && !err[0])
            wait_exit(run, id, &st);
        else
            inspect_state(run->cfg, id, &st);
        if (err[0]) {
            run->failed = true;
            set_msg(run, "%s", err);
        } else if (!exited_status(st.status)) {
            run->busy = true;
            set_msg(run, "init container %s running", iname);
        } else if (st.exit_code != 0) {
            char tail[LOG_TAIL_CHARS + 16];
            log_tail(run->cfg, id, tail, sizeof(tail));
            run->failed = true;
            snprintf(failure, failure_len, "init container %s exited with code %lld; last log: %s",
                     iname, st.exit_code, tail);
            ferry_text_scrub(failure);
            set_msg(run, "%s", failure);
        } else {
            ok = true;
        }
        add_entry(run->inits, iname, image, &st, err);
        ferry_free(created);
        if (!ok)
            return false;
    }
    return true;
}

/* true when the job's service container has ended for good: exited, and either with code 0 or
 * with no restart of the engine's on-failure policy to come. */
static bool job_member_done(const app_run *run, const cstate *st) {
    return exited_status(st->status) &&
           (st->exit_code == 0 || run->retries == 0 || st->restarts >= run->retries);
}

/* Append why a job's service failed to buf ("job failed: service X exited with code N ..."). */
static void job_failure(const app_run *run, const char *name, const char *id, const cstate *st,
                        char *buf, size_t len) {
    char tail[LOG_TAIL_CHARS + 16];
    size_t n = strlen(buf);
    log_tail(run->cfg, id, tail, sizeof(tail));
    snprintf(buf + n, len - n,
             "%sservice %s exited with code %lld (restarted %lld times); last log: %s",
             n ? "; " : "job failed: ", name, st->exit_code, st->restarts, tail);
}

/* A job pod ended: record it, and its failure (why, in the format of job_failure). */
static void job_pod_ended(app_run *run, const char *why) {
    size_t n = strlen(run->job_msg);
    run->done_pods++;
    if (!why[0])
        return;
    run->job_failed = true;
    snprintf(run->job_msg + n, sizeof(run->job_msg) - n, "%s%s", n ? "; " : "", why);
}

/* A job pod that already ran to completion for this app version: every service exited for good,
 * or an init container failed. Then nothing of it is started again: its infra container is
 * stopped (the exited containers stay as the record), and its state is reported. With report
 * false, only the question is answered. */
static bool job_pod_done(app_run *run, int replica, bool report) {
    const json_t *svcs = json_object_get(run->spec, "services");
    char version[24];
    size_t i;
    json_t *svc;
    cstate st;

    snprintf(version, sizeof(version), "%lld", run->version);
    /* A failed init container ends the pod (restartPolicy is about the services). */
    json_array_foreach(json_object_get(run->spec, "initServices"), i, svc) {
        const char *iname = json_string_value(json_object_get(svc, "name"));
        ferry_container *c = find(run->ac, replica, ROLE_INIT, iname);
        if (!c || strcmp(label(c, FERRY_LBL_VERSION), version) != 0 || !exited_status(c->state))
            break;
        inspect_state(run->cfg, c->id, &st);
        if (!exited_status(st.status))
            break;
        if (st.exit_code != 0) {
            if (report) {
                char tail[LOG_TAIL_CHARS + 16];
                log_tail(run->cfg, c->id, tail, sizeof(tail));
                add_entry(run->inits, iname, c->image, &st, NULL);
                json_array_foreach(svcs, i, svc) {
                    cstate none;
                    inspect_state(run->cfg, NULL, &none);
                    add_entry(run->containers, json_string_value(json_object_get(svc, "name")),
                              json_string_value(json_object_get(svc, "image")), &none, NULL);
                }
                char why[LOG_TAIL_CHARS + 256];
                snprintf(why, sizeof(why), "init container %s exited with code %lld; last log: %s",
                         iname, st.exit_code, tail);
                job_pod_ended(run, why);
            }
            return true;
        }
    }
    json_array_foreach(svcs, i, svc) {
        const char *sname = json_string_value(json_object_get(svc, "name"));
        ferry_container *c = find(run->ac, replica, ROLE_SERVICE, sname);
        if (!c || strcmp(label(c, FERRY_LBL_VERSION), version) != 0 || !exited_status(c->state))
            return false;
    }
    json_array_foreach(svcs, i, svc) {
        ferry_container *c =
            find(run->ac, replica, ROLE_SERVICE, json_string_value(json_object_get(svc, "name")));
        inspect_state(run->cfg, c->id, &st);
        if (!job_member_done(run, &st))
            return false;
    }
    if (!report)
        return true;
    ferry_container *infra = find(run->ac, replica, ROLE_INFRA, NULL);
    if (infra && !exited_status(infra->state)) {
        LOG_INFO("app %s: job pod %d finished; stopping its pod container", run->app, replica);
        ferry_engine_stop(run->cfg->engine, infra->id, STOP_TIMEOUT_S);
    }
    char why[2048] = "";
    json_array_foreach(svcs, i, svc) {
        const char *sname = json_string_value(json_object_get(svc, "name"));
        ferry_container *c = find(run->ac, replica, ROLE_SERVICE, sname);
        inspect_state(run->cfg, c->id, &st);
        add_entry(run->containers, sname, json_string_value(json_object_get(svc, "image")), &st,
                  NULL);
        if (st.exit_code != 0)
            job_failure(run, sname, c->id, &st, why, sizeof(why));
    }
    job_pod_ended(run, why);
    json_array_foreach(json_object_get(run->spec, "initServices"), i, svc) {
        const char *iname = json_string_value(json_object_get(svc, "name"));
        ferry_container *c = find(run->ac, replica, ROLE_INIT, iname);
        inspect_state(run->cfg, c ? c->id : NULL, &st);
        add_entry(run->inits, iname, json_string_value(json_object_get(svc, "image")), &st, NULL);
    }
    return true;
}

/* The status of one service container after this pass acted on it. */
static void report_service(app_run *run, const char *sname, const char *image, const char *id,
                           const char *error, cstate *out) {
    cstate st;
    inspect_state(run->cfg, id, &st);
    *out = st;
    add_entry(run->containers, sname, image, &st, error);
    if (!strcmp(st.status, "running"))
        run->any_running = true;
    else
        run->all_running = false;
    if (error && error[0])
        return;
    bool stopped = exited_status(st.status) || !strcmp(st.status, "restarting");
    if (!stopped)
        return;
    if (run->job) {
        /* Exit 0 is a job's success; a failure the engine retries is reported on the way. */
        if (st.exit_code != 0 && !job_member_done(run, &st))
            set_msg(run, "service %s exited with code %lld; the engine restarts it (%lld of %lld)",
                    sname, st.exit_code, st.restarts, run->retries);
        return;
    }
    char tail[LOG_TAIL_CHARS + 16];
    log_tail(run->cfg, id, tail, sizeof(tail));
    run->failed = true;
    set_msg(run, "service %s exited with code %lld (restarted %lld times); last log: %s", sname,
            st.exit_code, st.restarts, tail);
}

/* Everything of one replica: infra, init containers, services. */
static void reconcile_pod(app_run *run, int replica) {
    const json_t *svcs = json_object_get(run->spec, "services"), *svc;
    ferry_pod_ref ref = {run->cfg->node, run->cfg->ns, run->app, run->version, replica};
    char *infra_created = NULL, err[1024] = "", why[2048] = "", init_failure[1024] = "";
    bool inits_ok = false, pod_done;
    size_t i;

    const char *infra_id = ensure_infra(run, &ref, &infra_created, err, sizeof(err));
    if (!infra_id) {
        run->failed = true;
        set_msg(run, "%s", err);
    } else {
        inits_ok = run_inits(run, &ref, infra_id, init_failure, sizeof(init_failure));
    }
    /* A job pod that ends during this pass is reported as ended at once. */
    pod_done = run->job && (inits_ok || init_failure[0]);
    json_array_foreach(svcs, i, svc) {
        const char *sname = json_string_value(json_object_get(svc, "name"));
        const char *image = json_string_value(json_object_get(svc, "image"));
        char *created = NULL, serr[1024] = "", hash[65];
        const char *id = NULL;
        json_t *binds = NULL;
        cstate st;

        if (!inits_ok) {
            /* Waiting for the init containers (or failed): nothing to start yet. */
            ferry_container *c = find(run->ac, replica, ROLE_SERVICE, sname);
            report_service(run, sname, image, c ? c->id : NULL, infra_id ? "" : err, &st);
            run->all_running = false;
            continue;
        }
        if (ferry_volumes_binds(&run->vref, replica, run->spec, svc, &binds, serr, sizeof(serr)) ==
            FERRY_OK) {
            ferry_pod_service_hash(run->spec, svc, binds, hash);
            id = ensure_member(run, &ref, svc, false, infra_id, binds, hash,
                               find(run->ac, replica, ROLE_SERVICE, sname), &created, serr,
                               sizeof(serr));
        }
        json_decref(binds);
        if (serr[0]) {
            run->failed = true;
            set_msg(run, "%s", serr);
        }
        report_service(run, sname, image, id, serr, &st);
        if (run->job && (serr[0] || !job_member_done(run, &st)))
            pod_done = false;
        else if (run->job && st.exit_code != 0)
            job_failure(run, sname, id, &st, why, sizeof(why));
        ferry_free(created);
    }
    if (pod_done) {
        if (init_failure[0])
            snprintf(why, sizeof(why), "%s", init_failure); /* as job_pod_done words it */
        job_pod_ended(run, why);
    }
    /* Services and init containers removed from the spec. */
    for (size_t k = 0; k < run->ac->n; k++) {
        ferry_container *c = run->ac->items[k];
        const json_t *list;
        bool wanted = false;
        if (!c || replica_of(c) != replica || is_infra(c))
            continue;
        list = json_object_get(run->spec, has_role(c, ROLE_INIT) ? "initServices" : "services");
        json_array_foreach(list, i, svc) wanted =
            wanted ||
            !strcmp(json_string_value(json_object_get(svc, "name")), label(c, FERRY_LBL_SERVICE));
        if (!wanted)
            drop(run->cfg, run->ac, c);
    }
    ferry_free(infra_created);
}

/* ---- apps -------------------------------------------------------------------------------------
 */

static json_t *status_new(const ferry_reconcile_cfg *cfg, const char *app, long long version,
                          const char *phase, const char *message, json_t *containers) {
    json_t *list = containers ? containers : json_array();
    /* PROTOCOL.md caps the list; the first entries (services before init containers) stay. */
    while (json_array_size(list) > MAX_STATUS_CONTAINERS)
        json_array_remove(list, json_array_size(list) - 1);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "type", FERRY_MSG_APP_STATUS, "ns",
                     cfg->ns, "node", cfg->node, "app", app, "version", (json_int_t)version,
                     "phase", phase, "message", message, "containers", list);
}

static long long pod_count(const json_t *spec) {
    long long replicas = json_integer_value(json_object_get(spec, "replicas"));
    if (!strcmp(ferry_pod_workload(spec), "daemonset") || replicas < 1)
        return 1;
    return replicas;
}

static bool container_wants_gpu(const json_t *svc) {
    const json_t *limits = json_object_get(json_object_get(svc, "resources"), "limits");
    return json_object_get(limits, "gpuMemory") || json_object_get(limits, "gpuCompute");
}

static bool app_wants_gpu(const json_t *spec) {
    size_t i;
    json_t *svc;
    json_array_foreach(json_object_get(spec, "services"), i,
                       svc) if (container_wants_gpu(svc)) return true;
    json_array_foreach(json_object_get(spec, "initServices"), i,
                       svc) if (container_wants_gpu(svc)) return true;
    return false;
}

/* The facts the file cleanup needs about one app (see reconcile.h). */
static json_t *app_facts(const json_t *spec, bool desired, bool finished) {
    json_t *vols = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(spec, "volumes"), i, v) {
        if (ferry_volumes_kind_has_files(ferry_volumes_kind(v)))
            json_array_append(vols, json_object_get(v, "name"));
    }
    return json_pack("{s:b, s:b, s:I, s:o}", "desired", desired, "finished", finished, "replicas",
                     (json_int_t)(desired ? pod_count(spec) : 0), "volumes",
                     vols ? vols : json_array());
}

static json_t *reconcile_app(pass_t *pass, const char *app, long long version, const json_t *spec,
                             app_containers *ac, bool *finished) {
    const ferry_reconcile_cfg *cfg = pass->cfg;
    const char *policy = json_string_value(json_object_get(spec, "restartPolicy"));
    const json_t *limit = json_object_get(spec, "backoffLimit");
    long long pods = pod_count(spec);
    app_run run = {.pass = pass,
                   .cfg = cfg,
                   .app = app,
                   .version = version,
                   .spec = spec,
                   .ac = ac,
                   .vref = {cfg->data_dir, cfg->ns, app},
                   .job = !strcmp(ferry_pod_workload(spec), "job"),
                   .containers = json_array(),
                   .inits = json_array(),
                   .all_running = true};
    char err[1024] = "", version_str[24];
    bool *done = NULL;
    long long predone = 0;
    const char *phase;
    json_t *status, *e;
    size_t i;

    *finished = false;
    run.retries = run.job && policy && !strcmp(policy, "OnFailure")
                      ? (json_is_integer(limit) ? (long long)json_integer_value(limit) : 6)
                      : 0;
    snprintf(version_str, sizeof(version_str), "%lld", version);
    if (run.job) {
        /* A job runs once per app version: pods of an older version make way for a new run. */
        for (i = 0; i < ac->n; i++)
            if (ac->items[i] && strcmp(label(ac->items[i], FERRY_LBL_VERSION), version_str) != 0)
                drop_pod(cfg, ac, replica_of(ac->items[i]), &run.vref);
        done = ferry_calloc((size_t)pods, sizeof(*done));
        for (int r = 0; done && r < (int)pods; r++)
            if ((done[r] = job_pod_done(&run, r, false)))
                predone++;
    }
    /* A finished job needs its files no more (the cleanup takes them): do not write them again. */
    if (!(run.job && predone == pods) &&
        ferry_volumes_sync(&run.vref, spec, err, sizeof(err)) != FERRY_OK) {
        run.failed = true;
        set_msg(&run, "%s", err);
    } else {
        for (int r = 0; r < (int)pods; r++) {
            if (done && done[r])
                job_pod_done(&run, r, true);
            else
                reconcile_pod(&run, r);
        }
    }
    /* Replicas beyond the count. */
    for (i = 0; i < ac->n; i++)
        if (ac->items[i] && replica_of(ac->items[i]) >= (int)pods)
            drop_pod(cfg, ac, replica_of(ac->items[i]), &run.vref);
    if (run.busy)
        pass->wake_at_ms = pass->wake_at_ms && pass->wake_at_ms < pass->now_ms + BUSY_PASS_MS
                               ? pass->wake_at_ms
                               : pass->now_ms + BUSY_PASS_MS;
    if (run.job && run.done_pods == pods) {
        *finished = true;
        phase = run.job_failed ? "Failed" : "Succeeded";
        snprintf(run.msg, sizeof(run.msg), "%s", run.job_failed ? run.job_msg : "");
        ferry_text_scrub(run.msg);
    } else if (run.failed) {
        phase = "Failed";
    } else if (run.busy) {
        phase = "Deploying";
    } else if (run.job) {
        phase = run.any_running ? "Running" : "Deploying";
    } else {
        phase = run.all_running ? "Running" : "Deploying";
    }
    json_array_foreach(run.inits, i, e) json_array_append(run.containers, e);
    status = status_new(cfg, app, version, phase, run.msg, run.containers);
    json_decref(run.inits);
    ferry_free(done);
    return status;
}

/* Group the listed containers of this namespace by app name: {app: [index, ...]}. */
static json_t *group_by_app(const ferry_reconcile_cfg *cfg, ferry_container *list, size_t n) {
    json_t *groups = json_object();
    for (size_t i = 0; groups && i < n; i++) {
        const char *app = label(&list[i], FERRY_LBL_APP);
        json_t *g;
        if (strcmp(label(&list[i], FERRY_LBL_NS), cfg->ns) != 0 || !app[0])
            continue;
        if (!(g = json_object_get(groups, app))) {
            g = json_array();
            json_object_set_new(groups, app, g);
        }
        json_array_append_new(g, json_integer((json_int_t)i));
    }
    return groups;
}

static void collect(json_t *group, ferry_container *list, app_containers *ac) {
    size_t i;
    json_t *idx;
    ac->n = json_array_size(group);
    ac->items = ac->n ? ferry_calloc(ac->n, sizeof(*ac->items)) : NULL;
    if (!ac->items)
        ac->n = 0;
    json_array_foreach(group, i, idx) if (i < ac->n) ac->items[i] = &list[json_integer_value(idx)];
}

/* The time an app is scheduled for, when that is still ahead: true with *at (wall-clock ms). */
static bool scheduled(const char *app, const json_t *spec, int64_t now, int64_t *at) {
    const char *s = json_string_value(json_object_get(json_object_get(spec, "deploy"), "at"));
    if (!s)
        return false;
    if (ferry_time_parse_rfc3339(s, at) != FERRY_OK) {
        LOG_WARN("app %s: deploy.at %s is not an RFC 3339 time; deploying now", app, s);
        return false;
    }
    return *at > now;
}

/* Service names held by two apps: the app that runs the name keeps it. Apps that already have
 * service containers come first (after a restart, whatever runs keeps running), then by version
 * (the app that arrived first, i.e. the lower version at first deployment); each app takes its
 * names unless one is taken, in which case it fails naming the holder. Returns {app: message}
 * for the apps that may not run. cands: [{"app", "version", "existing", "spec"}]. */
static int clash_order(const void *a, const void *b) {
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    bool ex = json_is_true(json_object_get(x, "existing")),
         ey = json_is_true(json_object_get(y, "existing"));
    json_int_t vx = json_integer_value(json_object_get(x, "version")),
               vy = json_integer_value(json_object_get(y, "version"));
    if (ex != ey)
        return ex ? -1 : 1;
    if (vx != vy)
        return vx < vy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "app")),
                  json_string_value(json_object_get(y, "app")));
}

static json_t *resolve_clashes(json_t *cands) {
    size_t n = json_array_size(cands), i, j;
    json_t **order = n ? ferry_calloc(n, sizeof(*order)) : NULL;
    json_t *taken = json_object(), *losers = json_object(), *svc;

    for (i = 0; order && i < n; i++)
        order[i] = json_array_get(cands, i);
    if (order)
        qsort(order, n, sizeof(*order), clash_order);
    for (i = 0; order && i < n; i++) {
        const char *app = json_string_value(json_object_get(order[i], "app"));
        const json_t *svcs = json_object_get(json_object_get(order[i], "spec"), "services");
        const char *clash = NULL, *holder = NULL;
        json_array_foreach(svcs, j, svc) {
            const char *s = json_string_value(json_object_get(svc, "name"));
            if (s && json_object_get(taken, s)) {
                clash = s;
                holder = json_string_value(json_object_get(taken, s));
                break;
            }
        }
        if (clash) {
            json_object_set_new(
                losers, app,
                json_sprintf("service %s is already run by app %s on this node", clash, holder));
            continue;
        }
        json_array_foreach(svcs, j, svc) {
            const char *s = json_string_value(json_object_get(svc, "name"));
            if (s)
                json_object_set_new(taken, s, json_string(app));
        }
    }
    ferry_free(order);
    json_decref(taken);
    return losers;
}

static bool has_service_containers(const app_containers *ac) {
    for (size_t i = 0; i < ac->n; i++)
        if (ac->items[i] && has_role(ac->items[i], ROLE_SERVICE))
            return true;
    return false;
}

void ferry_reconcile_result_clear(ferry_reconcile_result *r) {
    if (!r)
        return;
    json_decref(r->statuses);
    json_decref(r->apps);
    memset(r, 0, sizeof(*r));
}

ferry_err ferry_reconcile(const ferry_reconcile_cfg *cfg, ferry_reconcile_result *result) {
    MDB_txn *txn = NULL;
    json_t *node = NULL, *apps = NULL, *groups = NULL, *rec, *cands = NULL, *losers = NULL;
    json_t *out = json_object(), *facts = json_object();
    ferry_container *list = NULL;
    size_t n = 0;
    const char *name;
    pass_t pass = {cfg, ferry_now_ms(), ferry_mono_ms() + INIT_WAIT_MS, 0};
    ferry_err err;

    memset(result, 0, sizeof(*result));
    if (!out || !facts || !cfg->data_dir) {
        err = !out || !facts ? FERRY_ENOMEM : FERRY_EINVAL;
        goto out;
    }
    if ((err = ferry_estore_begin(cfg->store, false, &txn)) != FERRY_OK)
        goto out;
    err = ferry_estore_get_node(cfg->store, txn, &node);
    if (err == FERRY_OK)
        err = ferry_estore_list_apps(cfg->store, txn, &apps);
    ferry_estore_abort(txn);
    if (err != FERRY_OK)
        goto out;
    if ((err = ferry_engine_list(cfg->engine, FERRY_LBL_NODE, cfg->node, &list, &n)) != FERRY_OK) {
        LOG_WARN("cannot list containers from the engine (%s); will retry", ferry_strerror(err));
        goto out;
    }
    if (!(groups = group_by_app(cfg, list, n)) || !(cands = json_array())) {
        err = FERRY_ENOMEM;
        goto out;
    }
    /* Which apps this node runs now: desired, and not scheduled for later. */
    json_object_foreach(apps, name, rec) {
        json_t *spec = json_object_get(rec, "spec");
        int64_t at = 0;
        bool desired = !json_is_true(json_object_get(rec, "deleted")) &&
                       json_is_true(json_object_get(node, "registered")) &&
                       ferry_selector_matches(json_object_get(spec, "selector"),
                                              json_object_get(node, "labels"));
        json_object_set_new(rec, "desired", json_boolean(desired));
        if (desired && scheduled(name, spec, pass.now_ms, &at)) {
            json_object_set_new(rec, "at", json_integer((json_int_t)at));
            continue;
        }
        if (desired) {
            app_containers ac = {NULL, 0};
            collect(json_object_get(groups, name), list, &ac);
            json_array_append_new(cands, json_pack("{s:s, s:O, s:b, s:O}", "app", name, "version",
                                                   json_object_get(rec, "version"), "existing",
                                                   has_service_containers(&ac), "spec", spec));
            ferry_free(ac.items);
        }
    }
    if (!(losers = resolve_clashes(cands))) {
        err = FERRY_ENOMEM;
        goto out;
    }
    json_object_foreach(apps, name, rec) {
        app_containers ac = {NULL, 0};
        json_t *spec = json_object_get(rec, "spec");
        long long version = (long long)json_integer_value(json_object_get(rec, "version"));
        bool desired = json_is_true(json_object_get(rec, "desired")), finished = false;
        const char *clash = json_string_value(json_object_get(losers, name));
        ferry_volumes_ref vref = {cfg->data_dir, cfg->ns, name};

        collect(json_object_get(groups, name), list, &ac);
        if (desired && json_object_get(rec, "at")) {
            int64_t at = json_integer_value(json_object_get(rec, "at"));
            char msg[128];
            /* Nothing is touched: what runs (an older version) runs on until then. */
            snprintf(msg, sizeof(msg), "deploys at %s",
                     json_string_value(json_object_get(json_object_get(spec, "deploy"), "at")));
            json_object_set_new(out, name, status_new(cfg, name, version, "Scheduled", msg, NULL));
            if (!pass.wake_at_ms || at < pass.wake_at_ms)
                pass.wake_at_ms = at;
        } else if (desired && (clash || (app_wants_gpu(spec) && !cfg->gpu_sharing))) {
            /* This app does not run here: what it had goes (it may not run half-way). */
            drop_pod(cfg, &ac, -1, &vref);
            json_object_set_new(
                out, name,
                status_new(cfg, name, version, "Failed",
                           clash ? clash
                                 : "this node does not offer GPU sharing (start edge-sync with "
                                   "--gpu-sharing on a node with NVIDIA GPUs)",
                           NULL));
        } else if (desired) {
            json_object_set_new(out, name,
                                reconcile_app(&pass, name, version, spec, &ac, &finished));
        } else {
            bool left;
            drop_pod(cfg, &ac, -1, &vref);
            left = replica_has_containers(&ac, -1);
            json_object_set_new(out, name,
                                status_new(cfg, name, version, left ? "Deploying" : "Removed",
                                           left ? "removing the app's containers" : "", NULL));
        }
        json_object_set_new(facts, name, app_facts(spec, desired, finished));
        ferry_free(ac.items);
        json_object_del(groups, name);
    }
    /* Containers of apps the store does not know at all (store lost or app never ours). */
    json_object_foreach(groups, name, rec) {
        app_containers ac = {NULL, 0};
        ferry_volumes_ref vref = {cfg->data_dir, cfg->ns, name};
        collect(rec, list, &ac);
        LOG_INFO("app %s is not assigned to this node; removing its containers", name);
        drop_pod(cfg, &ac, -1, ferry_name_valid(name) ? &vref : NULL);
        ferry_free(ac.items);
    }
out:
    ferry_containers_free(list, n);
    json_decref(groups);
    json_decref(apps);
    json_decref(node);
    json_decref(cands);
    json_decref(losers);
    if (err == FERRY_OK) {
        result->statuses = out;
        result->apps = facts;
        result->wake_at_ms = pass.wake_at_ms;
    } else {
        json_decref(out);
        json_decref(facts);
    }
    return err;
}
