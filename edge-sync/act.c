/* edge-sync act: a plan's actions carried out on the engine (see act.h). */
#include "act.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry/app.h"
#include "pod.h"
#include "volumes.h"

/* Each container's own stop timeout (engine.h): 10 s, a function runtime's timeout + 5 s (so that
 * it finishes the calls it started: docs/functions.md). */
#define STOP_TIMEOUT_S (-1)
#define WAIT_POLL_MS 100

/* ---- registries ---- */

/* A registry server as written in a registry config, without scheme and trailing '/'. */
static void server_norm(const char *server, char *out, size_t len) {
    if (strncmp(server, "https://", 8) == 0)
        server += 8;
    else if (strncmp(server, "http://", 7) == 0)
        server += 7;
    snprintf(out, len, "%s", server);
    for (size_t n = strlen(out); n > 0 && out[n - 1] == '/'; n--)
        out[n - 1] = '\0';
}

static bool docker_hub(const char *server) {
    return strcmp(server, "docker.io") == 0 || strcmp(server, "index.docker.io") == 0 ||
           strcmp(server, "registry-1.docker.io") == 0 || strcmp(server, "index.docker.io/v1") == 0;
}

/* true when image comes from server: the server (a host[:port], maybe with a path) prefixes the
 * reference up to a '/'; an image without a registry host comes from Docker Hub. */
static bool image_from(const char *image, const char *server) {
    size_t n = strlen(server);
    const char *slash = strchr(image, '/');
    bool has_host = slash != NULL && (memchr(image, '.', (size_t)(slash - image)) != NULL ||
                                      memchr(image, ':', (size_t)(slash - image)) != NULL ||
                                      strncmp(image, "localhost/", 10) == 0);
    if (n > 0 && strncmp(image, server, n) == 0 && image[n] == '/')
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
        if (server == NULL)
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
static ferry_err ensure_image(const ferry_act_cfg *cfg, const json_t *spec, const char *image,
                              char *err, size_t errlen) {
    bool present = false;
    char why[512] = "";
    json_t *auth = NULL;
    ferry_err e = cfg->ops->image_present(cfg->engine, image, &present);

    if (e == FERRY_OK && present)
        return FERRY_OK;
    auth = registry_auth(spec, image);
    LOG_INFO("pulling image %s%s", image,
             auth != NULL ? " with the app's registry credentials" : "");
    e = cfg->ops->pull(cfg->engine, image, auth, why, sizeof(why));
    if (e != FERRY_OK)
        snprintf(err, errlen, "image %s is not on the node and could not be pulled: %s%s", image,
                 why[0] != '\0' ? why : ferry_strerror(e),
                 auth != NULL ? ""
                 : json_array_size(json_object_get(spec, "registries")) > 0
                     ? " (no registry of the app serves this image)"
                     : "");
    json_decref(auth);
    return e;
}

/* ---- containers ---- */

static void fail(ferry_failures *f, ferry_failure_kind kind, const ferry_action *a, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void fail(ferry_failures *f, ferry_failure_kind kind, const ferry_action *a, const char *fmt,
                 ...) {
    ferry_failure x = {.kind = kind, .replica = a->replica, .role = a->role, .index = a->index};
    va_list ap;
    snprintf(x.id, sizeof(x.id), "%s", a->id);
    va_start(ap, fmt);
    vsnprintf(x.message, sizeof(x.message), fmt, ap);
    va_end(ap);
    ferry_text_scrub(x.message);
    ferry_failures_add(f, &x);
}

/* Stop and remove a container; false (logged) when the engine refused to remove it. */
static bool drop(const ferry_act_cfg *cfg, const char *id, const char *name) {
    LOG_INFO("removing container %s", name);
    cfg->ops->stop(cfg->engine, id, STOP_TIMEOUT_S);
    if (cfg->ops->remove(cfg->engine, id) != FERRY_OK) {
        LOG_WARN("could not remove container %s; will retry on the next pass", name);
        return false;
    }
    return true;
}

/* Remove every container of one replica (replica < 0: of the whole app), services and inits
 * before the infra container: Podman refuses to remove an infra container that others still
 * join. Once none is left, the pod's files (emptyDir) go too. */
static void drop_pod(const ferry_act_cfg *cfg, const char *app, const ferry_observation *o,
                     const ferry_action *a, ferry_failures *f) {
    ferry_volumes_ref vref = {cfg->data_dir, cfg->ns, app};
    bool left = false;
    for (int infra_pass = 0; infra_pass < 2; infra_pass++) {
        for (size_t i = 0; i < o->n; i++) {
            const ferry_observed *c = &o->items[i];
            if ((a->replica >= 0 && c->replica != a->replica) ||
                (c->role == FERRY_ROLE_INFRA) != (infra_pass == 1))
                continue;
            if (!drop(cfg, c->id, c->name)) {
                ferry_action x = *a;
                snprintf(x.id, sizeof(x.id), "%s", c->id);
                fail(f, FERRY_FAIL_REMOVE, &x, "could not remove container %s", c->name);
                left = true;
            }
        }
    }
    if (!left && ferry_name_valid(app) && ferry_volumes_pod_remove(&vref, a->replica) != FERRY_OK)
        LOG_WARN("app %s: could not remove the files of pod %d; the cleanup retries", app,
                 a->replica);
}

/* Create a container under a deterministic name. A container of that name that the listing did
 * not show as ours (labels lost or edited by hand) is in the way: remove it and try once more. */
static ferry_err create_named(const ferry_act_cfg *cfg, const char *name, const json_t *body,
                              char **id, char *err, size_t errlen) {
    ferry_err e = cfg->ops->create(cfg->engine, name, body, id, err, errlen);
    if (e == FERRY_EEXIST) {
        LOG_WARN("a container named %s is in the way; replacing it", name);
        cfg->ops->stop(cfg->engine, name, STOP_TIMEOUT_S);
        cfg->ops->remove(cfg->engine, name);
        e = cfg->ops->create(cfg->engine, name, body, id, err, errlen);
    }
    return e;
}

static bool port_taken(const char *why) {
    return strstr(why, "port is already allocated") != NULL ||
           strstr(why, "address already in use") != NULL;
}

/* What a member is called in messages: "service web" or "init container migrate". */
static const char *what(const ferry_action *a) {
    return a->role == FERRY_ROLE_INIT ? "init container" : "service";
}

static const ferry_member *member_of(const ferry_app_desired *d, const ferry_action *a) {
    const ferry_pod_in *pod = &d->pod[a->replica];
    return a->role == FERRY_ROLE_INIT ? &pod->inits[a->index] : &pod->services[a->index];
}

/* Start a container; a failure is recorded for the pod (infra) or the member. */
static void start(const ferry_act_cfg *cfg, const ferry_app_desired *d, const ferry_action *a,
                  const char *id, ferry_failures *f) {
    char why[512] = "";
    if (cfg->ops->start(cfg->engine, id, why, sizeof(why)) == FERRY_OK)
        return;
    if (a->role == FERRY_ROLE_INFRA) {
        if (port_taken(why))
            fail(f, FERRY_FAIL_POD, a,
                 "the pod: a host port of this app is already in use on the node; free it or "
                 "change hostPort (engine: %s)",
                 why);
        else
            fail(f, FERRY_FAIL_POD, a, "the pod could not start: %s", why);
        return;
    }
    const char *name = member_of(d, a)->name;
    if (port_taken(why))
        fail(f, FERRY_FAIL_MEMBER, a,
             "%s %s: a host port of this app is already in use on the node; free it or change "
             "hostPort (engine: %s)",
             what(a), name, why);
    else
        fail(f, FERRY_FAIL_MEMBER, a, "%s %s could not start: %s", what(a), name, why);
}

static void create_infra(const ferry_act_cfg *cfg, const ferry_app_desired *d,
                         const ferry_pod_ref *ref, const ferry_action *a, ferry_failures *f) {
    char name[256], why[512] = "", *id = NULL;
    json_t *body = NULL;
    ferry_err e;

    if (ferry_pod_infra_name(ref, name, sizeof(name)) != FERRY_OK ||
        (body = ferry_pod_infra_body(ref, d->spec, cfg->pause_image)) == NULL) {
        fail(f, FERRY_FAIL_POD, a, "internal error building the pod");
        return;
    }
    LOG_INFO("creating container %s (app version %lld)", name, ref->version);
    e = create_named(cfg, name, body, &id, why, sizeof(why));
    if (e == FERRY_ENOTFOUND) { /* the pause image was removed behind our back */
        cfg->ops->ensure_pause_image(cfg->engine, cfg->pause_binary, cfg->pause_image);
        e = create_named(cfg, name, body, &id, why, sizeof(why));
    }
    json_decref(body);
    if (e != FERRY_OK)
        fail(f, FERRY_FAIL_POD, a, "pod network container could not be created: %s", why);
    else
        start(cfg, d, a, id, f);
    ferry_free(id);
}

static void create_member(const ferry_act_cfg *cfg, const ferry_app_desired *d,
                          const ferry_observation *o, const ferry_pod_ref *ref,
                          const ferry_action *a, ferry_failures *f) {
    const ferry_member *m = member_of(d, a);
    const char *infra_id = NULL;
    char name[256], err[1024] = "", *id = NULL;
    json_t *body = NULL;
    ferry_err e;

    for (size_t i = 0; i < o->n; i++)
        if (o->items[i].replica == a->replica && o->items[i].role == FERRY_ROLE_INFRA)
            infra_id = o->items[i].id;
    /* A replacement pulls first, so that a bad image leaves the old container running. A new
     * container is created at once, and the image pulled only when that fails (one engine call
     * less on the usual path, where the image is there). */
    bool replacing = a->id[0] != '\0';
    if (replacing && ensure_image(cfg, d->spec, m->image, err, sizeof(err)) != FERRY_OK) {
        fail(f, FERRY_FAIL_MEMBER, a, "%s", err);
        return;
    }
    if (replacing) {
        for (size_t i = 0; i < o->n; i++)
            if (strcmp(o->items[i].id, a->id) == 0 && !drop(cfg, a->id, o->items[i].name)) {
                fail(f, FERRY_FAIL_MEMBER, a, "%s %s: the old container could not be removed",
                     what(a), m->name);
                return;
            }
    }
    e = a->role == FERRY_ROLE_INIT ? ferry_pod_init_name(ref, m->name, name, sizeof(name))
                                   : ferry_pod_service_name(ref, m->name, name, sizeof(name));
    if (e == FERRY_OK && infra_id != NULL)
        body = a->role == FERRY_ROLE_INIT
                   ? ferry_pod_init_body(ref, d->spec, m->obj, infra_id, m->binds)
                   : ferry_pod_service_body(ref, d->spec, m->obj, infra_id, m->binds);
    if (body == NULL) {
        fail(f, FERRY_FAIL_MEMBER, a,
             "%s %s: the container could not be built (see edge-sync's "
             "log)",
             what(a), m->name);
        return;
    }
    LOG_INFO("creating container %s (app version %lld)", name, ref->version);
    e = create_named(cfg, name, body, &id, err, sizeof(err));
    if (e != FERRY_OK && !replacing) {
        /* Most often the image is missing (Docker: 404; Podman's answers vary): pull it, and
         * create once more when it is there. */
        if (ensure_image(cfg, d->spec, m->image, err, sizeof(err)) != FERRY_OK) {
            json_decref(body);
            fail(f, FERRY_FAIL_MEMBER, a, "%s", err);
            return;
        }
        e = create_named(cfg, name, body, &id, err, sizeof(err));
    }
    json_decref(body);
    if (e != FERRY_OK)
        fail(f, FERRY_FAIL_MEMBER, a, "%s %s could not be created: %s", what(a), m->name, err);
    else
        start(cfg, d, a, id, f);
    ferry_free(id);
}

/* Wait (until the deadline) for a started init container to exit. */
static void wait_exit(const ferry_act_cfg *cfg, const char *id, int64_t until_ms) {
    for (;;) {
        ferry_cstate st;
        if (cfg->ops->state(cfg->engine, id, &st) != FERRY_OK || strcmp(st.status, "exited") == 0 ||
            strcmp(st.status, "dead") == 0 || strcmp(st.status, "stopped") == 0 ||
            ferry_mono_ms() >= until_ms)
            return;
        struct timespec ts = {0, WAIT_POLL_MS * 1000000L};
        nanosleep(&ts, NULL); /* polling the engine, with a deadline */
    }
}

void ferry_act(const ferry_act_cfg *cfg, const char *app, const ferry_app_desired *d,
               const ferry_observation *o, const ferry_app_plan *p, int64_t wait_until_ms,
               ferry_failures *f) {
    for (size_t i = 0; i < p->n; i++) {
        const ferry_action *a = &p->actions[i];
        ferry_pod_ref ref = {cfg->node, cfg->ns, app, d != NULL ? d->version : 0, a->replica};
        switch (a->kind) {
        case FERRY_ACT_CREATE:
            if (d == NULL || a->replica < 0 || a->replica >= d->pods || d->pod == NULL)
                break;
            if (a->role == FERRY_ROLE_INFRA)
                create_infra(cfg, d, &ref, a, f);
            else
                create_member(cfg, d, o, &ref, a, f);
            break;
        case FERRY_ACT_START:
            if (d != NULL && a->replica >= 0 && a->replica < d->pods && d->pod != NULL)
                start(cfg, d, a, a->id, f);
            break;
        case FERRY_ACT_STOP:
            LOG_INFO("app %s: job pod %d finished; stopping its pod container", app, a->replica);
            cfg->ops->stop(cfg->engine, a->id, STOP_TIMEOUT_S);
            break;
        case FERRY_ACT_REMOVE:
            for (size_t k = 0; k < o->n; k++)
                if (strcmp(o->items[k].id, a->id) == 0 && !drop(cfg, a->id, o->items[k].name))
                    fail(f, FERRY_FAIL_REMOVE, a, "could not remove container %s",
                         o->items[k].name);
            break;
        case FERRY_ACT_REMOVE_POD:
            drop_pod(cfg, app, o, a, f);
            break;
        case FERRY_ACT_WAIT:
            wait_exit(cfg, a->id, wait_until_ms);
            break;
        }
    }
}
