/* Ferry wire protocol: encode messages with their format version; decode and fully validate
 * untrusted payloads per type (schema/PROTOCOL.md). */
#include "ferry/proto.h"

#include <stdio.h>
#include <string.h>

#include "ferry/app.h"
#include "ferry/base64.h"
#include "ferry/codec.h"
#include "ferry/labels.h"
#include "ferry/stats.h"
#include "internal.h"

#define PROTO_MAX_TEXT 4096     /* message / error strings, in characters */
#define PROTO_MAX_CONTAINERS 64 /* containers in one app.status */
#define PROTO_MAX_STATE 64      /* container state string */
#define PROTO_MAX_IMAGE 512     /* container image string */

/* Error codes of ferry_proto_decode: FERRY_ETOOBIG and FERRY_EFORMAT for bytes that are not a
 * Ferry message at all (size caps, malformed msgpack, not a map, "v" or "type" missing or
 * mistyped, unknown type), FERRY_EVERSION for an unknown "v", FERRY_EINVAL for a message of a
 * known type whose fields fail validation, FERRY_ENOMEM. */

typedef struct {
    const char *type;
    char *why;
    size_t whylen;
} pctx;

__attribute__((format(printf, 4, 5))) static ferry_err bad(const pctx *c, const char *field,
                                                           ferry_err rc, const char *fmt, ...) {
    if (c->why != NULL && c->whylen > 0) {
        int n = snprintf(c->why, c->whylen, "%s: field '%s' ", c->type, field);
        if (n >= 0 && (size_t)n < c->whylen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->why + n, c->whylen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

static void path(char *buf, size_t cap, const char *prefix, const char *key) {
    snprintf(buf, cap, "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", key);
}

static ferry_err req(const pctx *c, const json_t *obj, const char *prefix, const char *key,
                     const json_t **v) {
    char f[192];
    if ((*v = json_object_get(obj, key)) == NULL) {
        path(f, sizeof(f), prefix, key);
        return bad(c, f, FERRY_EINVAL, "is required");
    }
    return FERRY_OK;
}

static ferry_err req_name(const pctx *c, const json_t *obj, const char *prefix, const char *key,
                          const char **out) {
    const json_t *v;
    char f[192];
    ferry_err rc = req(c, obj, prefix, key, &v);
    if (rc != FERRY_OK)
        return rc;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        !ferry_name_valid(json_string_value(v))) {
        path(f, sizeof(f), prefix, key);
        return bad(c, f, FERRY_EINVAL, "must be a DNS label");
    }
    if (out != NULL)
        *out = json_string_value(v);
    return FERRY_OK;
}

static ferry_err req_int(const pctx *c, const json_t *obj, const char *prefix, const char *key,
                         json_int_t min, json_int_t *out) {
    const json_t *v;
    char f[192];
    ferry_err rc = req(c, obj, prefix, key, &v);
    if (rc != FERRY_OK)
        return rc;
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        path(f, sizeof(f), prefix, key);
        return bad(c, f, FERRY_EINVAL, "%s",
                   min == 1   ? "must be a positive integer"
                   : min == 0 ? "must be a non-negative integer"
                              : "must be an integer");
    }
    if (out != NULL)
        *out = json_integer_value(v);
    return FERRY_OK;
}

static ferry_err req_bool(const pctx *c, const json_t *obj, const char *key) {
    const json_t *v;
    ferry_err rc = req(c, obj, "", key, &v);
    if (rc == FERRY_OK && !json_is_boolean(v))
        return bad(c, key, FERRY_EINVAL, "must be true or false");
    return rc;
}

static ferry_err req_text(const pctx *c, const json_t *obj, const char *prefix, const char *key,
                          size_t maxchars) {
    const json_t *v;
    char f[192];
    ferry_err rc = req(c, obj, prefix, key, &v);
    if (rc != FERRY_OK)
        return rc;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        codec__utf8_chars(json_string_value(v)) > maxchars) {
        path(f, sizeof(f), prefix, key);
        return bad(c, f, FERRY_EINVAL, "must be a string of at most %zu characters", maxchars);
    }
    return FERRY_OK;
}

static ferry_err req_enum(const pctx *c, const json_t *obj, const char *key,
                          const char *const *values, const char *list) {
    const json_t *v;
    ferry_err rc = req(c, obj, "", key, &v);
    if (rc != FERRY_OK)
        return rc;
    for (const char *const *p = values; json_is_string(v) && *p != NULL; p++)
        if (strcmp(json_string_value(v), *p) == 0 && strlen(*p) == json_string_length(v))
            return FERRY_OK;
    return bad(c, key, FERRY_EINVAL, "must be one of %s", list);
}

/* An app spec: valid (ferry_app_validate_ex with the server-filled "resolved" member allowed)
 * and named like the message's app. */
static ferry_err check_spec(const pctx *c, const json_t *spec, const char *prefix,
                            const char *app) {
    ferry_detail verr;
    char f[80]; /* prefix is at most "apps[65535]" */
    path(f, sizeof(f), prefix, "spec");
    if (!json_is_object(spec))
        return bad(c, f, FERRY_EINVAL, "must be an object (an app spec)");
    if (ferry_app_validate_ex(spec, FERRY_APP_ALLOW_RESOLVED, &verr) != FERRY_OK) {
        char sub[sizeof(f) + sizeof(verr.field) + 2];
        snprintf(sub, sizeof(sub), "%s.%s", f, verr.field);
        return bad(c, sub, FERRY_EINVAL, "%s", verr.message);
    }
    if (strcmp(json_string_value(json_object_get(spec, "name")), app) != 0) {
        char nf[192];
        path(nf, sizeof(nf), f, "name");
        return bad(c, nf, FERRY_EINVAL, "must equal the message's app ('%s')", app);
    }
    return FERRY_OK;
}

static ferry_err check_labels(const pctx *c, const json_t *labels, const char *field) {
    ferry_detail verr;
    if (ferry_labels_validate(labels, field, &verr) != FERRY_OK)
        return bad(c, verr.field, FERRY_EINVAL, "%s", verr.message);
    return FERRY_OK;
}

static ferry_err check_app_put(const pctx *c, const json_t *m) {
    const char *app = NULL;
    const json_t *spec;
    ferry_err rc;
    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "app", &app)) != FERRY_OK ||
        (rc = req_int(c, m, "", "version", 1, NULL)) != FERRY_OK ||
        (rc = req(c, m, "", "spec", &spec)) != FERRY_OK)
        return rc;
    return check_spec(c, spec, "", app);
}

static ferry_err check_app_patch(const pctx *c, const json_t *m) {
    json_int_t base = 0, version = 0;
    const json_t *patch;
    char pwhy[160];
    ferry_err rc;
    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "app", NULL)) != FERRY_OK ||
        (rc = req_int(c, m, "", "base", 1, &base)) != FERRY_OK ||
        (rc = req_int(c, m, "", "version", 1, &version)) != FERRY_OK ||
        (rc = req(c, m, "", "patch", &patch)) != FERRY_OK)
        return rc;
    if (version <= base)
        return bad(c, "version", FERRY_EINVAL, "must be greater than 'base'");
    if ((rc = patch__check(patch, pwhy, sizeof(pwhy))) != FERRY_OK)
        return bad(c, "patch", rc == FERRY_ENOMEM ? rc : FERRY_EINVAL, "is not a valid patch: %s",
                   rc == FERRY_ENOMEM ? "out of memory" : pwhy);
    return FERRY_OK;
}

static ferry_err check_app_delete(const pctx *c, const json_t *m) {
    ferry_err rc;
    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "app", NULL)) != FERRY_OK)
        return rc;
    return req_int(c, m, "", "version", 1, NULL);
}

/* A sealed secret bundle (schema/PROTOCOL.md, "Trust"): {app, digest, sealed} at prefix. */
static ferry_err check_sealed(const pctx *c, const json_t *b, const char *prefix,
                              const char **app) {
    const json_t *v;
    char f[192];
    ferry_err rc;
    if ((rc = req_name(c, b, prefix, "app", app)) != FERRY_OK ||
        (rc = req(c, b, prefix, "digest", &v)) != FERRY_OK)
        return rc;
    if (!json_is_string(v) || json_string_length(v) != 71 ||
        strncmp(json_string_value(v), "sha256:", 7) != 0) {
        path(f, sizeof(f), prefix, "digest");
        return bad(c, f, FERRY_EINVAL, "must be \"sha256:\" and 64 hex digits");
    }
    if ((rc = req(c, b, prefix, "sealed", &v)) != FERRY_OK)
        return rc;
    if (!json_is_string(v) ||
        !ferry_base64_valid(json_string_value(v), json_string_length(v), NULL)) {
        path(f, sizeof(f), prefix, "sealed");
        return bad(c, f, FERRY_EINVAL, "must be a base64 string");
    }
    return FERRY_OK;
}

static ferry_err check_app_secrets(const pctx *c, const json_t *m) {
    ferry_err rc;
    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "node", NULL)) != FERRY_OK)
        return rc;
    return check_sealed(c, m, "", NULL);
}

static ferry_err check_node_sync(const pctx *c, const json_t *m) {
    const json_t *labels;
    const json_t *apps;
    json_t *seen = NULL;
    char prefix[64];
    ferry_err rc;

    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "node", NULL)) != FERRY_OK ||
        (rc = req_int(c, m, "", "rev", 0, NULL)) != FERRY_OK ||
        (rc = req_bool(c, m, "registered")) != FERRY_OK ||
        (rc = req(c, m, "", "labels", &labels)) != FERRY_OK ||
        (rc = check_labels(c, labels, "labels")) != FERRY_OK ||
        (rc = req(c, m, "", "apps", &apps)) != FERRY_OK)
        return rc;
    if (!json_is_array(apps))
        return bad(c, "apps", FERRY_EINVAL, "must be an array");
    if ((seen = json_object()) == NULL)
        return FERRY_ENOMEM;
    for (size_t i = 0; i < json_array_size(apps); i++) {
        const json_t *a = json_array_get(apps, i);
        const json_t *spec;
        const char *name = NULL;
        snprintf(prefix, sizeof(prefix), "apps[%zu]", i);
        if (!json_is_object(a)) {
            rc = bad(c, prefix, FERRY_EINVAL, "must be an object");
            goto out;
        }
        if ((rc = req_name(c, a, prefix, "app", &name)) != FERRY_OK ||
            (rc = req_int(c, a, prefix, "version", 1, NULL)) != FERRY_OK)
            goto out;
        if (json_object_get(seen, name) != NULL) {
            char f[192];
            path(f, sizeof(f), prefix, "app");
            rc = bad(c, f, FERRY_EINVAL, "duplicate app '%s'", name);
            goto out;
        }
        if (json_object_set_new(seen, name, json_true()) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
        if ((spec = json_object_get(a, "spec")) != NULL &&
            (rc = check_spec(c, spec, prefix, name)) != FERRY_OK)
            goto out;
    }
    /* The sealed secret bundles of listed apps the node lacks (optional). */
    const json_t *secrets = json_object_get(m, "secrets");
    if (secrets != NULL && !json_is_array(secrets)) {
        rc = bad(c, "secrets", FERRY_EINVAL, "must be an array");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(secrets); i++) {
        const json_t *b = json_array_get(secrets, i);
        const char *name = NULL;
        snprintf(prefix, sizeof(prefix), "secrets[%zu]", i);
        if (!json_is_object(b)) {
            rc = bad(c, prefix, FERRY_EINVAL, "must be an object");
            goto out;
        }
        if ((rc = check_sealed(c, b, prefix, &name)) != FERRY_OK)
            goto out;
        if (json_object_get(seen, name) == NULL) {
            char f[192];
            path(f, sizeof(f), prefix, "app");
            rc = bad(c, f, FERRY_EINVAL, "'%s' is not one of the listed apps", name);
            goto out;
        }
    }
out:
    json_decref(seen);
    return rc;
}

static ferry_err check_node_hello(const pctx *c, const json_t *m) {
    static const char *const reasons[] = {"connect", "gap",   "subscribe", "retry",
                                          "store",   "check", NULL};
    const json_t *apps;
    const char *key;
    size_t klen;
    json_t *v;
    ferry_err rc;

    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "node", NULL)) != FERRY_OK ||
        (rc = req_enum(c, m, "reason", reasons, "connect, gap, subscribe, retry, store, check")) !=
            FERRY_OK ||
        (rc = req(c, m, "", "apps", &apps)) != FERRY_OK)
        return rc;
    if (!json_is_object(apps))
        return bad(c, "apps", FERRY_EINVAL, "must be an object mapping app names to versions");
    json_object_keylen_foreach((json_t *)apps, key, klen, v) {
        if (strlen(key) != klen || !ferry_name_valid(key))
            return bad(c, "apps", FERRY_EINVAL, "keys must be DNS labels (app names)");
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return bad(c, "apps", FERRY_EINVAL, "values must be positive integers (versions)");
    }
    /* The digests of the secret bundles the node holds (optional). */
    const json_t *secrets = json_object_get(m, "secrets");
    if (secrets != NULL && !json_is_object(secrets))
        return bad(c, "secrets", FERRY_EINVAL, "must be an object mapping app names to digests");
    json_object_keylen_foreach((json_t *)secrets, key, klen, v) {
        if (strlen(key) != klen || !ferry_name_valid(key))
            return bad(c, "secrets", FERRY_EINVAL, "keys must be DNS labels (app names)");
        if (!json_is_string(v) || json_string_length(v) != 71 ||
            strncmp(json_string_value(v), "sha256:", 7) != 0)
            return bad(c, "secrets", FERRY_EINVAL, "values must be digests (sha256:...)");
    }
    return FERRY_OK;
}

static ferry_err check_app_status(const pctx *c, const json_t *m) {
    static const char *const phases[] = {"Pending", "Deploying", "Running",   "Failed",
                                         "Removed", "Scheduled", "Succeeded", NULL};
    const json_t *containers;
    char prefix[64];
    ferry_err rc;

    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "node", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "app", NULL)) != FERRY_OK ||
        (rc = req_int(c, m, "", "version", 0, NULL)) != FERRY_OK ||
        (rc = req_enum(c, m, "phase", phases,
                       "Pending, Deploying, Running, Failed, Removed, Scheduled, Succeeded")) !=
            FERRY_OK ||
        (rc = req_text(c, m, "", "message", PROTO_MAX_TEXT)) != FERRY_OK ||
        (rc = req_int(c, m, "", "ts", INT64_MIN, NULL)) != FERRY_OK ||
        (rc = req(c, m, "", "containers", &containers)) != FERRY_OK)
        return rc;
    if (!json_is_array(containers) || json_array_size(containers) > PROTO_MAX_CONTAINERS)
        return bad(c, "containers", FERRY_EINVAL, "must be an array of at most %d containers",
                   PROTO_MAX_CONTAINERS);
    for (size_t i = 0; i < json_array_size(containers); i++) {
        const json_t *ct = json_array_get(containers, i);
        snprintf(prefix, sizeof(prefix), "containers[%zu]", i);
        if (!json_is_object(ct))
            return bad(c, prefix, FERRY_EINVAL, "must be an object");
        if ((rc = req_name(c, ct, prefix, "name", NULL)) != FERRY_OK ||
            (rc = req_text(c, ct, prefix, "state", PROTO_MAX_STATE)) != FERRY_OK ||
            (rc = req_int(c, ct, prefix, "restarts", 0, NULL)) != FERRY_OK ||
            (rc = req_int(c, ct, prefix, "exitCode", INT64_MIN, NULL)) != FERRY_OK ||
            (rc = req_text(c, ct, prefix, "error", PROTO_MAX_TEXT)) != FERRY_OK ||
            (rc = req_text(c, ct, prefix, "image", PROTO_MAX_IMAGE)) != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

static ferry_err check_node_online(const pctx *c, const json_t *m) {
    ferry_err rc;
    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "node", NULL)) != FERRY_OK ||
        (rc = req_bool(c, m, "online")) != FERRY_OK)
        return rc;
    if (json_object_get(m, "ts") != NULL)
        return req_int(c, m, "", "ts", INT64_MIN, NULL);
    return FERRY_OK;
}

/* A function name of node.stats: [A-Za-z0-9_-]{1,63}, or FERRY_STATS_PROXY_FUNCTION. */
static bool stats_function_ok(const json_t *v) {
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 63 || strlen(s) != n)
        return false;
    if (strcmp(s, FERRY_STATS_PROXY_FUNCTION) == 0)
        return true;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* One entry of node.stats "calls": names, counters (outcomes within requests) and histogram. */
static ferry_err check_stats_call(const pctx *c, const json_t *call, const char *prefix) {
    static const char *const outcomes[] = {"success", "clientErrors", "serverErrors", "timeouts"};
    char f[96];
    json_int_t requests = 0, sum = 0, n = 0;
    ferry_err rc;

    if (!json_is_object(call))
        return bad(c, prefix, FERRY_EINVAL, "must be an object");
    if ((rc = req_name(c, call, prefix, "app", NULL)) != FERRY_OK ||
        (rc = req_name(c, call, prefix, "service", NULL)) != FERRY_OK)
        return rc;
    path(f, sizeof(f), prefix, "function");
    if (!stats_function_ok(json_object_get(call, "function")))
        return bad(c, f, FERRY_EINVAL, "must be 1 to 63 of [A-Za-z0-9_-], or \"%s\"",
                   FERRY_STATS_PROXY_FUNCTION);
    if ((rc = req_int(c, call, prefix, "requests", 0, &requests)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        if ((rc = req_int(c, call, prefix, outcomes[i], 0, &n)) != FERRY_OK)
            return rc;
        if (n > requests - sum) { /* sum <= requests so far: no overflow */
            path(f, sizeof(f), prefix, outcomes[i]);
            return bad(c, f, FERRY_EINVAL,
                       "makes success + clientErrors + serverErrors + timeouts exceed requests");
        }
        sum += n;
    }
    const json_t *lat = NULL;
    if ((rc = req(c, call, prefix, "latency", &lat)) != FERRY_OK)
        return rc;
    path(f, sizeof(f), prefix, "latency");
    if (!json_is_array(lat) || json_array_size(lat) != FERRY_STATS_BUCKETS)
        return bad(c, f, FERRY_EINVAL, "must be an array of %d non-negative integers",
                   FERRY_STATS_BUCKETS);
    for (size_t k = 0; k < FERRY_STATS_BUCKETS; k++) {
        const json_t *b = json_array_get(lat, k);
        if (!json_is_integer(b) || json_integer_value(b) < 0)
            return bad(c, f, FERRY_EINVAL, "must be an array of %d non-negative integers",
                       FERRY_STATS_BUCKETS);
    }
    return FERRY_OK;
}

static ferry_err check_node_stats(const pctx *c, const json_t *m) {
    const json_t *calls;
    json_t *seen = NULL;
    char prefix[32], key[3 * 64]; /* three names of at most 63 bytes */
    ferry_err rc;

    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "node", NULL)) != FERRY_OK ||
        (rc = req_int(c, m, "", "start", 0, NULL)) != FERRY_OK ||
        (rc = req_int(c, m, "", "ts", 0, NULL)) != FERRY_OK ||
        (rc = req(c, m, "", "calls", &calls)) != FERRY_OK)
        return rc;
    if (!json_is_array(calls) || json_array_size(calls) > FERRY_STATS_MAX_CALLS)
        return bad(c, "calls", FERRY_EINVAL, "must be an array of at most %d entries",
                   FERRY_STATS_MAX_CALLS);
    if ((seen = json_object()) == NULL)
        return FERRY_ENOMEM;
    for (size_t i = 0; i < json_array_size(calls); i++) {
        const json_t *call = json_array_get(calls, i);
        snprintf(prefix, sizeof(prefix), "calls[%zu]", i);
        if ((rc = check_stats_call(c, call, prefix)) != FERRY_OK)
            goto out;
        /* Names hold no '/' (DNS labels, [A-Za-z0-9_-] or "*"): the key is unambiguous. */
        snprintf(key, sizeof(key), "%s/%s/%s", json_string_value(json_object_get(call, "app")),
                 json_string_value(json_object_get(call, "service")),
                 json_string_value(json_object_get(call, "function")));
        if (json_object_get(seen, key) != NULL) {
            rc = bad(c, prefix, FERRY_EINVAL, "duplicate app/service/function '%s'", key);
            goto out;
        }
        if (json_object_set_new(seen, key, json_true()) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
out:
    json_decref(seen);
    return rc;
}

/* A logs request's id: FERRY_LOGS_ID_LEN lowercase hex digits. */
static ferry_err req_logs_id(const pctx *c, const json_t *m) {
    const json_t *v;
    ferry_err rc = req(c, m, "", "id", &v);
    if (rc != FERRY_OK)
        return rc;
    if (!json_is_string(v) || json_string_length(v) != FERRY_LOGS_ID_LEN ||
        strspn(json_string_value(v), "0123456789abcdef") != FERRY_LOGS_ID_LEN)
        return bad(c, "id", FERRY_EINVAL, "must be %d lowercase hex digits", FERRY_LOGS_ID_LEN);
    return FERRY_OK;
}

/* What a logs request and its answer both name: the node, the request, the app's service. */
static ferry_err req_logs_head(const pctx *c, const json_t *m) {
    ferry_err rc;
    if ((rc = req_name(c, m, "", "ns", NULL)) != FERRY_OK ||
        (rc = req_name(c, m, "", "node", NULL)) != FERRY_OK ||
        (rc = req_logs_id(c, m)) != FERRY_OK || (rc = req_name(c, m, "", "app", NULL)) != FERRY_OK)
        return rc;
    return req_name(c, m, "", "service", NULL);
}

static ferry_err check_logs_request(const pctx *c, const json_t *m) {
    json_int_t tail = 0;
    ferry_err rc;
    if ((rc = req_logs_head(c, m)) != FERRY_OK ||
        (rc = req_int(c, m, "", "tail", 1, &tail)) != FERRY_OK ||
        (rc = req_int(c, m, "", "since", 0, NULL)) != FERRY_OK)
        return rc;
    if (tail > FERRY_LOGS_MAX_TAIL)
        return bad(c, "tail", FERRY_EINVAL, "must be at most %d lines", FERRY_LOGS_MAX_TAIL);
    return FERRY_OK;
}

static ferry_err check_logs(const pctx *c, const json_t *m) {
    const json_t *text;
    ferry_err rc;
    if ((rc = req_logs_head(c, m)) != FERRY_OK || (rc = req_bool(c, m, "ok")) != FERRY_OK ||
        (rc = req_bool(c, m, "truncated")) != FERRY_OK ||
        (rc = req_text(c, m, "", "error", PROTO_MAX_TEXT)) != FERRY_OK ||
        (rc = req(c, m, "", "text", &text)) != FERRY_OK)
        return rc;
    /* Bytes, not characters: the cap is what the bridge holds for an API answer. */
    if (!json_is_string(text) || json_string_length(text) > FERRY_LOGS_MAX_BYTES ||
        strlen(json_string_value(text)) != json_string_length(text))
        return bad(c, "text", FERRY_EINVAL, "must be a string of at most %d bytes without NUL",
                   FERRY_LOGS_MAX_BYTES);
    return FERRY_OK;
}

static const struct {
    const char *type;
    ferry_err (*check)(const pctx *c, const json_t *m);
} proto_types[] = {
    {FERRY_MSG_APP_PUT, check_app_put},
    {FERRY_MSG_APP_PATCH, check_app_patch},
    {FERRY_MSG_APP_DELETE, check_app_delete},
    {FERRY_MSG_NODE_SYNC, check_node_sync},
    {FERRY_MSG_NODE_HELLO, check_node_hello},
    {FERRY_MSG_APP_STATUS, check_app_status},
    {FERRY_MSG_NODE_ONLINE, check_node_online},
    {FERRY_MSG_APP_SECRETS, check_app_secrets},
    {FERRY_MSG_NODE_STATS, check_node_stats},
    {FERRY_MSG_LOGS_REQUEST, check_logs_request},
    {FERRY_MSG_LOGS, check_logs},
};

__attribute__((format(printf, 4, 5))) static ferry_err why_set(char *why, size_t whylen,
                                                               ferry_err rc, const char *fmt, ...) {
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

ferry_err ferry_proto_decode(const unsigned char *buf, size_t len, json_t **msg, char *why,
                             size_t whylen) {
    json_t *m = NULL;
    char cwhy[160];
    ferry_err rc;

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (msg == NULL)
        return why_set(why, whylen, FERRY_EINVAL, "no output");
    *msg = NULL;
    if ((rc = ferry_msgpack_decode_reason(buf, len, &m, cwhy, sizeof(cwhy))) != FERRY_OK)
        return why_set(why, whylen, rc, "malformed payload: %s", cwhy);
    if (!json_is_object(m)) {
        rc = why_set(why, whylen, FERRY_EFORMAT, "payload is not a msgpack map");
        goto fail;
    }
    const json_t *v = json_object_get(m, "v");
    if (v == NULL) {
        rc = why_set(why, whylen, FERRY_EFORMAT, "payload has no format version 'v'");
        goto fail;
    }
    if (!json_is_integer(v)) {
        rc = why_set(why, whylen, FERRY_EFORMAT, "format version 'v' is not an integer");
        goto fail;
    }
    if (json_integer_value(v) != FERRY_PROTO_VERSION) {
        rc = why_set(why, whylen, FERRY_EVERSION, "unsupported format version %lld",
                     (long long)json_integer_value(v));
        goto fail;
    }
    const json_t *t = json_object_get(m, "type");
    if (!json_is_string(t)) {
        rc = why_set(why, whylen, FERRY_EFORMAT, "payload has no string 'type'");
        goto fail;
    }
    rc = why_set(why, whylen, FERRY_EFORMAT, "unknown message type '%.64s'", json_string_value(t));
    for (size_t i = 0; i < sizeof(proto_types) / sizeof(proto_types[0]); i++) {
        if (strcmp(json_string_value(t), proto_types[i].type) != 0)
            continue;
        pctx c = {proto_types[i].type, why, whylen};
        if (why != NULL && whylen > 0)
            why[0] = '\0';
        if ((rc = proto_types[i].check(&c, m)) == FERRY_ENOMEM)
            why_set(why, whylen, rc, "%s: out of memory while validating", c.type);
        break;
    }
    if (rc != FERRY_OK)
        goto fail;
    *msg = m;
    return FERRY_OK;
fail:
    json_decref(m);
    return rc;
}

ferry_err ferry_proto_encode(const json_t *msg, unsigned char **out, size_t *len) {
    json_t *env = NULL;
    const char *key;
    json_t *v;
    ferry_err rc = FERRY_ENOMEM;

    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "type")) || out == NULL ||
        len == NULL)
        return FERRY_EINVAL;
    /* A shallow envelope: "v" first, then the message's members (references, not copies). */
    if ((env = json_object()) == NULL ||
        json_object_set_new(env, "v", json_integer(FERRY_PROTO_VERSION)) != 0)
        goto out;
    json_object_foreach((json_t *)msg, key, v) {
        if (strcmp(key, "v") != 0 && json_object_set(env, key, v) != 0)
            goto out;
    }
    if ((rc = ferry_msgpack_encode(env, out, len)) != FERRY_OK)
        goto out;
    if (*len > FERRY_MAX_PAYLOAD) {
        ferry_free(*out);
        *out = NULL;
        *len = 0;
        rc = FERRY_ETOOBIG;
    }
out:
    json_decref(env);
    return rc;
}
