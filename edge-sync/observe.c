/* edge-sync observe: the engine's containers of an app as plain data (see observe.h). */
#include "observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pod.h"

#define LOG_TAIL_LINES 20

static const char *label(const ferry_container *c, const char *key) {
    const char *v = json_string_value(json_object_get(c->labels, key));
    return v != NULL ? v : "";
}

static ferry_role role_of(const char *role) {
    if (strcmp(role, "infra") == 0)
        return FERRY_ROLE_INFRA;
    if (strcmp(role, "init") == 0)
        return FERRY_ROLE_INIT;
    if (strcmp(role, "service") == 0)
        return FERRY_ROLE_SERVICE;
    return FERRY_ROLE_OTHER;
}

/* A decimal label value, or fallback when it is not one. */
static long long number(const char *s, long long fallback) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return s[0] != '\0' && end != NULL && *end == '\0' ? v : fallback;
}

static bool stopped(const char *status) {
    return strcmp(status, "exited") == 0 || strcmp(status, "dead") == 0 ||
           strcmp(status, "stopped") == 0 || strcmp(status, "restarting") == 0;
}

/* The last lines of a container's log, at most FERRY_LOG_TAIL_CHARS (the end), valid UTF-8. */
static void log_tail(const ferry_observe_cfg *cfg, const char *id, char *out, size_t len) {
    char *tail = NULL;
    snprintf(out, len, "(empty)");
    if (cfg->ops->logs_tail(cfg->engine, id, LOG_TAIL_LINES, &tail) == FERRY_OK && tail != NULL &&
        tail[0] != '\0') {
        size_t n = strlen(tail);
        snprintf(out, len, "%s", n > FERRY_LOG_TAIL_CHARS ? tail + n - FERRY_LOG_TAIL_CHARS : tail);
    }
    ferry_text_scrub(out); /* the log is the container's bytes: keep only valid UTF-8 */
    ferry_free(tail);
}

static void fill(const ferry_observe_cfg *cfg, const ferry_container *c, bool clean_exits,
                 ferry_observed *o) {
    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "%s", c->id);
    snprintf(o->name, sizeof(o->name), "%s", c->name);
    snprintf(o->image, sizeof(o->image), "%s", c->image);
    o->role = role_of(label(c, FERRY_LBL_ROLE));
    o->replica = (int)number(label(c, FERRY_LBL_REPLICA), -1);
    snprintf(o->member, sizeof(o->member), "%s", label(c, FERRY_LBL_SERVICE));
    snprintf(o->hash, sizeof(o->hash), "%s", label(c, FERRY_LBL_HASH));
    o->version = number(label(c, FERRY_LBL_VERSION), -1);
    if (cfg->ops->state(cfg->engine, c->id, &o->st) != FERRY_OK) {
        memset(&o->st, 0, sizeof(o->st));
        snprintf(o->st.status, sizeof(o->st.status), "unknown");
    }
    if (o->role != FERRY_ROLE_INFRA && stopped(o->st.status) &&
        (o->st.exit_code != 0 || clean_exits))
        log_tail(cfg, c->id, o->log_tail, sizeof(o->log_tail));
}

ferry_err ferry_observe_app(const ferry_observe_cfg *cfg, const char *app, bool clean_exits,
                            ferry_observation *out) {
    char node[320], ns[320], app_label[320];
    const char *labels[] = {node, ns, app_label, NULL};
    ferry_container *list = NULL;
    size_t n = 0;
    ferry_err err;

    memset(out, 0, sizeof(*out));
    snprintf(node, sizeof(node), "%s=%s", FERRY_LBL_NODE, cfg->node);
    snprintf(ns, sizeof(ns), "%s=%s", FERRY_LBL_NS, cfg->ns);
    snprintf(app_label, sizeof(app_label), "%s=%s", FERRY_LBL_APP, app);
    if ((err = cfg->ops->list(cfg->engine, labels, &list, &n)) != FERRY_OK) {
        LOG_WARN("app %s: cannot list its containers (%s); will retry", app, ferry_strerror(err));
        return FERRY_EIO;
    }
    if (n > 0 && (out->items = ferry_calloc(n, sizeof(*out->items))) == NULL) {
        ferry_containers_free(list, n);
        return FERRY_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        /* The engine filtered by label; the values are compared again, exactly. */
        if (strcmp(label(&list[i], FERRY_LBL_APP), app) != 0 ||
            strcmp(label(&list[i], FERRY_LBL_NS), cfg->ns) != 0 ||
            strcmp(label(&list[i], FERRY_LBL_NODE), cfg->node) != 0)
            continue;
        fill(cfg, &list[i], clean_exits, &out->items[out->n++]);
    }
    ferry_containers_free(list, n);
    return FERRY_OK;
}

uint64_t ferry_observe_sig(const char *id, const char *state) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (const char *p = state; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

uint64_t ferry_observation_sig(const ferry_observation *o) {
    uint64_t sig = 0;
    for (size_t i = 0; i < o->n; i++)
        sig ^= ferry_observe_sig(o->items[i].id, o->items[i].st.status);
    return sig;
}

ferry_err ferry_observe_node(const ferry_observe_cfg *cfg, json_t **apps, json_t **pod_ips,
                             json_t **sigs) {
    char node[320];
    const char *labels[] = {node, NULL};
    ferry_container *list = NULL;
    size_t n = 0;
    ferry_err err;

    *apps = NULL;
    if (pod_ips != NULL)
        *pod_ips = NULL;
    if (sigs != NULL)
        *sigs = NULL;
    snprintf(node, sizeof(node), "%s=%s", FERRY_LBL_NODE, cfg->node);
    if ((err = cfg->ops->list(cfg->engine, labels, &list, &n)) != FERRY_OK) {
        LOG_WARN("cannot list containers from the engine (%s); will retry", ferry_strerror(err));
        return FERRY_EIO;
    }
    json_t *out = json_object();
    json_t *ips = pod_ips != NULL ? json_object() : NULL;
    json_t *sig = sigs != NULL ? json_object() : NULL;
    for (size_t i = 0; out != NULL && i < n; i++) {
        const char *app = label(&list[i], FERRY_LBL_APP);
        bool service = role_of(label(&list[i], FERRY_LBL_ROLE)) == FERRY_ROLE_SERVICE;
        if (strcmp(label(&list[i], FERRY_LBL_NS), cfg->ns) != 0 || app[0] == '\0' ||
            strcmp(label(&list[i], FERRY_LBL_NODE), cfg->node) != 0)
            continue;
        if (service || json_object_get(out, app) == NULL)
            json_object_set_new(out, app, json_boolean(service));
        if (ips != NULL && role_of(label(&list[i], FERRY_LBL_ROLE)) == FERRY_ROLE_INFRA &&
            strcmp(label(&list[i], FERRY_LBL_REPLICA), "0") == 0 && list[i].ip[0] != '\0')
            json_object_set_new(ips, app, json_string(list[i].ip));
        if (sig != NULL) {
            uint64_t h = (uint64_t)json_integer_value(json_object_get(sig, app)) ^
                         ferry_observe_sig(list[i].id, list[i].state != NULL ? list[i].state : "");
            json_object_set_new(sig, app, json_integer((json_int_t)h));
        }
    }
    ferry_containers_free(list, n);
    if (out == NULL || (pod_ips != NULL && ips == NULL) || (sigs != NULL && sig == NULL)) {
        json_decref(out);
        json_decref(ips);
        json_decref(sig);
        return FERRY_ENOMEM;
    }
    *apps = out;
    if (pod_ips != NULL)
        *pod_ips = ips;
    if (sigs != NULL)
        *sigs = sig;
    return FERRY_OK;
}
