/* edge-sync reconciler: diff desired pods (LMDB) against the engine's containers (by label) and
 * act. The engine is the only record of what runs, so a restart at any point loses nothing and
 * never creates duplicates: names are deterministic and every container is found by its labels. */
#include "reconcile.h"

#include <stdio.h>
#include <string.h>

#include "ferry/app.h"
#include "ferry/proto.h"
#include "pod.h"

#define STOP_TIMEOUT_S 10
#define LOG_TAIL_LINES 20

/* The containers of one app, as listed. Borrowed from the listing. */
typedef struct {
    ferry_container **items;
    size_t n;
} app_containers;

static const char *label(const ferry_container *c, const char *key) {
    const char *v = json_string_value(json_object_get(c->labels, key));
    return v ? v : "";
}

static int replica_of(const ferry_container *c) {
    return atoi(label(c, FERRY_LBL_REPLICA));
}

static bool is_infra(const ferry_container *c) {
    return !strcmp(label(c, FERRY_LBL_ROLE), "infra");
}

static ferry_container *find(const app_containers *ac, int replica, const char *service) {
    for (size_t i = 0; i < ac->n; i++) {
        ferry_container *c = ac->items[i];
        if (!c || replica_of(c) != replica)
            continue;
        if (service ? (!is_infra(c) && !strcmp(label(c, FERRY_LBL_SERVICE), service)) : is_infra(c))
            return c;
    }
    return NULL;
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

/* Remove every container of one replica (replica < 0: of the whole app), services before the
 * infra container: Podman refuses to remove an infra container that others still join. */
static void drop_pod(const ferry_reconcile_cfg *cfg, app_containers *ac, int replica) {
    for (int infra_pass = 0; infra_pass < 2; infra_pass++)
        for (size_t i = 0; i < ac->n; i++) {
            ferry_container *c = ac->items[i];
            if (c && (replica < 0 || replica_of(c) == replica) && is_infra(c) == infra_pass)
                drop(cfg, ac, c);
        }
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

/* Make sure image is on the node: pull it when missing. */
static ferry_err ensure_image(const ferry_reconcile_cfg *cfg, const char *image, char *err,
                              size_t errlen) {
    bool present = false;
    char why[512] = "";
    ferry_err e = ferry_engine_image_present(cfg->engine, image, &present);

    if (e == FERRY_OK && present)
        return FERRY_OK;
    LOG_INFO("pulling image %s", image);
    e = ferry_engine_pull(cfg->engine, image, NULL, why, sizeof(why));
    if (e != FERRY_OK)
        snprintf(err, errlen, "image %s is not on the node and could not be pulled: %s", image,
                 why[0] ? why : ferry_strerror(e));
    return e;
}

/* Turn an engine start error into advice a person can act on. */
static void explain_start_error(const char *what, const char *engine_msg, char *err,
                                size_t errlen) {
    if (strstr(engine_msg, "port is already allocated") ||
        strstr(engine_msg, "address already in use"))
        snprintf(err, errlen,
                 "%s: a host port of this app is already in use on the node; free it or change "
                 "hostPort (engine: %s)",
                 what, engine_msg);
    else
        snprintf(err, errlen, "%s could not start: %s", what, engine_msg);
}

/* Append the state of a container (from inspect) to containers; sets *running / *failed and
 * the message for a container that keeps exiting. */
static void report_container(const ferry_reconcile_cfg *cfg, const char *id, const char *service,
                             const char *image, const char *error, json_t *containers,
                             bool *all_running, char *msg, size_t msglen) {
    json_t *info = NULL, *state;
    const char *status = "waiting";
    long long restarts = 0, exit_code = 0;
    const char *engine_error = "";

    if (id && ferry_engine_inspect(cfg->engine, id, &info) == FERRY_OK) {
        state = json_object_get(info, "State");
        status = json_string_value(json_object_get(state, "Status"));
        status = status ? status : "unknown";
        exit_code = (long long)json_integer_value(json_object_get(state, "ExitCode"));
        restarts = (long long)json_integer_value(json_object_get(info, "RestartCount"));
        engine_error = json_string_value(json_object_get(state, "Error"));
        engine_error = engine_error ? engine_error : "";
    }
    char errbuf[1024];

    snprintf(errbuf, sizeof(errbuf), "%s", !error[0] && engine_error[0] ? engine_error : error);
    ferry_text_scrub(errbuf); /* engine text goes into a protocol string: valid UTF-8 only */
    error = errbuf;
    if (strcmp(status, "running") != 0)
        *all_running = false;
    /* Podman reports a container between restarts as "stopped" where Docker says "exited" or
     * "restarting". */
    if (!msg[0] && !error[0] &&
        (!strcmp(status, "exited") || !strcmp(status, "restarting") || !strcmp(status, "dead") ||
         !strcmp(status, "stopped"))) {
        char *tail = NULL;
        if (id)
            ferry_engine_logs_tail(cfg->engine, id, LOG_TAIL_LINES, &tail);
        snprintf(msg, msglen,
                 "service %s exited with code %lld (restarted %lld times); last log: %s", service,
                 exit_code, restarts, tail && tail[0] ? tail : "(empty)");
        ferry_text_scrub(msg); /* the log is the container's bytes: keep only valid UTF-8 */
        ferry_free(tail);
    }
    json_array_append_new(containers,
                          json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "name", service, "state",
                                    status, "restarts", (json_int_t)restarts, "exitCode",
                                    (json_int_t)exit_code, "error", error, "image", image));
    json_decref(info);
}

/* Bring one replica's infra container up; returns its id (borrowed from the listing or owned in
 * *created) or NULL with err set. */
static const char *ensure_infra(const ferry_reconcile_cfg *cfg, const ferry_pod_ref *ref,
                                const json_t *spec, app_containers *ac, char **created, char *err,
                                size_t errlen) {
    char name[256], hash[65], why[512] = "";
    ferry_container *infra = find(ac, ref->replica, NULL);
    json_t *body = NULL;
    const char *id = NULL;

    ferry_pod_infra_hash(spec, cfg->pause_image, hash);
    if (infra && strcmp(label(infra, FERRY_LBL_HASH), hash) != 0) {
        /* The pod's network changed: every container joined to it goes with it. */
        drop_pod(cfg, ac, ref->replica);
        infra = NULL;
    }
    if (infra) {
        id = infra->id;
        if (!strcmp(infra->state, "running"))
            return id;
    } else {
        if (ferry_pod_infra_name(ref, name, sizeof(name)) != FERRY_OK ||
            !(body = ferry_pod_infra_body(ref, spec, cfg->pause_image))) {
            snprintf(err, errlen, "internal error building the pod");
            return NULL;
        }
        ferry_err e = create_named(cfg, name, body, created, why, sizeof(why));
        if (e == FERRY_ENOTFOUND) { /* the pause image was removed behind our back */
            ferry_engine_ensure_pause_image(cfg->engine, cfg->pause_binary, cfg->pause_image);
            e = create_named(cfg, name, body, created, why, sizeof(why));
        }
        if (e != FERRY_OK) {
            snprintf(err, errlen, "pod network container could not be created: %s", why);
            json_decref(body);
            return NULL;
        }
        json_decref(body);
        id = *created;
    }
    if (ferry_engine_start(cfg->engine, id, why, sizeof(why)) != FERRY_OK) {
        explain_start_error("the pod", why, err, errlen);
        return NULL;
    }
    return id;
}

/* Reconcile one service of one replica; returns the container id to inspect (owned in *created
 * or borrowed) and fills err on failure. */
static const char *ensure_service(const ferry_reconcile_cfg *cfg, const ferry_pod_ref *ref,
                                  const json_t *spec, const json_t *svc, const char *infra_id,
                                  app_containers *ac, char **created, char *err, size_t errlen) {
    const char *sname = json_string_value(json_object_get(svc, "name"));
    const char *image = json_string_value(json_object_get(svc, "image"));
    ferry_container *cur = find(ac, ref->replica, sname);
    char name[256], hash[65], why[512] = "", what[128];
    json_t *body = NULL;
    const char *id = NULL;

    ferry_pod_service_hash(spec, svc, hash);
    snprintf(what, sizeof(what), "service %s", sname);
    if (cur && !strcmp(label(cur, FERRY_LBL_HASH), hash)) {
        id = cur->id;
        if (strcmp(cur->state, "created") != 0)
            return id; /* running, or the engine's restart policy owns it */
    } else {
        /* Pull first, so that a bad image leaves the old container running. */
        if (ensure_image(cfg, image, err, errlen) != FERRY_OK)
            return cur ? cur->id : NULL;
        if (cur)
            drop(cfg, ac, cur);
        if (ferry_pod_service_name(ref, sname, name, sizeof(name)) != FERRY_OK ||
            !(body = ferry_pod_service_body(ref, spec, svc, infra_id))) {
            snprintf(err, errlen, "internal error building service %s", sname);
            return NULL;
        }
        LOG_INFO("creating container %s (app version %lld)", name, ref->version);
        if (create_named(cfg, name, body, created, why, sizeof(why)) != FERRY_OK) {
            snprintf(err, errlen, "service %s could not be created: %s", sname, why);
            json_decref(body);
            return NULL;
        }
        json_decref(body);
        id = *created;
    }
    if (ferry_engine_start(cfg->engine, id, why, sizeof(why)) != FERRY_OK)
        explain_start_error(what, why, err, errlen);
    return id;
}

static json_t *status_new(const ferry_reconcile_cfg *cfg, const char *app, long long version,
                          const char *phase, const char *message, json_t *containers) {
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "type", FERRY_MSG_APP_STATUS, "ns",
                     cfg->ns, "node", cfg->node, "app", app, "version", (json_int_t)version,
                     "phase", phase, "message", message, "containers",
                     containers ? containers : json_array());
}

static json_t *reconcile_app(const ferry_reconcile_cfg *cfg, const char *app, long long version,
                             const json_t *spec, app_containers *ac) {
    json_t *svcs = json_object_get(spec, "services"), *svc, *containers = json_array();
    long long replicas = json_integer_value(json_object_get(spec, "replicas"));
    char msg[2048] = "";
    bool all_running = true, failed = false;
    size_t i;

    if (replicas < 1)
        replicas = 1;
    for (int r = 0; r < (int)replicas; r++) {
        ferry_pod_ref ref = {cfg->node, cfg->ns, app, version, r};
        char *infra_created = NULL, err[1024] = "";
        const char *infra_id = ensure_infra(cfg, &ref, spec, ac, &infra_created, err, sizeof(err));

        json_array_foreach(svcs, i, svc) {
            const char *sname = json_string_value(json_object_get(svc, "name"));
            const char *image = json_string_value(json_object_get(svc, "image"));
            char *created = NULL, serr[1024] = "";
            const char *id = NULL;

            if (infra_id)
                id = ensure_service(cfg, &ref, spec, svc, infra_id, ac, &created, serr,
                                    sizeof(serr));
            else
                snprintf(serr, sizeof(serr), "%s", err);
            if (serr[0]) {
                failed = true;
                if (!msg[0])
                    snprintf(msg, sizeof(msg), "%s", serr);
            }
            report_container(cfg, id, sname, image, serr, containers, &all_running, msg,
                             sizeof(msg));
            ferry_free(created);
        }
        /* Services removed from the spec. */
        for (size_t k = 0; k < ac->n; k++) {
            ferry_container *c = ac->items[k];
            bool wanted = false;
            if (!c || replica_of(c) != r || is_infra(c))
                continue;
            json_array_foreach(svcs, i, svc) wanted =
                wanted || !strcmp(json_string_value(json_object_get(svc, "name")),
                                  label(c, FERRY_LBL_SERVICE));
            if (!wanted)
                drop(cfg, ac, c);
        }
        ferry_free(infra_created);
    }
    /* Replicas beyond the count. */
    for (i = 0; i < ac->n; i++)
        if (ac->items[i] && replica_of(ac->items[i]) >= (int)replicas)
            drop_pod(cfg, ac, replica_of(ac->items[i]));
    if (msg[0])
        failed = true;
    return status_new(cfg, app, version,
                      failed        ? "Failed"
                      : all_running ? "Running"
                                    : "Deploying",
                      msg, containers);
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

ferry_err ferry_reconcile(const ferry_reconcile_cfg *cfg, json_t **statuses) {
    MDB_txn *txn = NULL;
    json_t *node = NULL, *apps = NULL, *groups = NULL, *out = json_object(), *rec;
    ferry_container *list = NULL;
    size_t n = 0;
    const char *name;
    ferry_err err;

    *statuses = NULL;
    if (!out)
        return FERRY_ENOMEM;
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
    if (!(groups = group_by_app(cfg, list, n))) {
        err = FERRY_ENOMEM;
        goto out;
    }
    json_object_foreach(apps, name, rec) {
        app_containers ac = {NULL, 0};
        json_t *spec = json_object_get(rec, "spec");
        long long version = (long long)json_integer_value(json_object_get(rec, "version"));
        bool desired = !json_is_true(json_object_get(rec, "deleted")) &&
                       json_is_true(json_object_get(node, "registered")) &&
                       ferry_selector_matches(json_object_get(spec, "selector"),
                                              json_object_get(node, "labels"));
        collect(json_object_get(groups, name), list, &ac);
        if (desired) {
            json_object_set_new(out, name, reconcile_app(cfg, name, version, spec, &ac));
        } else {
            bool left = false;
            drop_pod(cfg, &ac, -1);
            for (size_t i = 0; i < ac.n; i++)
                left = left || ac.items[i];
            json_object_set_new(out, name,
                                status_new(cfg, name, version, left ? "Deploying" : "Removed",
                                           left ? "removing the app's containers" : "", NULL));
        }
        ferry_free(ac.items);
        json_object_del(groups, name);
    }
    /* Containers of apps the store does not know at all (store lost or app never ours). */
    json_object_foreach(groups, name, rec) {
        app_containers ac = {NULL, 0};
        collect(rec, list, &ac);
        LOG_INFO("app %s is not assigned to this node; removing its containers", name);
        drop_pod(cfg, &ac, -1);
        ferry_free(ac.items);
    }
out:
    ferry_containers_free(list, n);
    json_decref(groups);
    json_decref(apps);
    json_decref(node);
    if (err == FERRY_OK)
        *statuses = out;
    else
        json_decref(out);
    return err;
}
