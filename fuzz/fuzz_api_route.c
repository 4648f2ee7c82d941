/* libFuzzer target: what broker-bridge's REST API parses itself (api.c, headers.c, auth.c): the
 * request path and the count query values, the headers it judges (the path's text is fed to them
 * too), and a request body taken as the API and the bridge take it (the layout is in
 * fuzz_util.h). A path that routes must be rebuilt from its parts; a token grant must survive its
 * round trip; a body the bridge accepts must make a record that its own read checks accept. */
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "ferry/app.h"
#include "headers.h"
#include "fuzz_util.h"
#include "records.h"
#include "store.h"

#define MAX_URL 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *url, const ferry_api__route *rt) {
    char again[MAX_URL + 64];
    static const char *const colls[FERRY_API_COLLECTIONS] = {"apps", "nodes", "configs"};
    static const char *const subs[FERRY_API_COLLECTIONS] = {"status", "apps", ""};

    switch (rt->path) {
    case FERRY_API_HEALTH:
    case FERRY_API_TOKENS:
        if (strcmp(url, rt->path == FERRY_API_HEALTH ? "/healthz" : "/v1/tokens") != 0 ||
            rt->ns != NULL || rt->name != NULL)
            abort();
        return;
    case FERRY_API_TOKEN:
        if (rt->ns != NULL || rt->name == NULL || rt->name[0] == '\0' ||
            strchr(rt->name, '/') != NULL)
            abort();
        snprintf(again, sizeof(again), "/v1/tokens/%s", rt->name);
        if (strcmp(again, url) != 0)
            abort();
        return;
    case FERRY_API_ENROLL:
    case FERRY_API_DEBUG:
        if (strcmp(url, rt->path == FERRY_API_ENROLL ? "/v1/enroll" : "/v1/broker/debug") != 0 ||
            rt->ns != NULL || rt->name != NULL)
            abort();
        return;
    case FERRY_API_METRICS:
    case FERRY_API_OPENAPI:
        if (strcmp(url, rt->path == FERRY_API_METRICS ? "/metrics" : "/v1/openapi.json") != 0 ||
            rt->ns != NULL || rt->name != NULL)
            abort();
        return;
    case FERRY_API_DEBUG_ITEM:
        if (rt->ns != NULL || rt->name == NULL || rt->name[0] == '\0' ||
            strchr(rt->name, '/') != NULL)
            abort();
        snprintf(again, sizeof(again), "/v1/broker/debug/%s", rt->name);
        if (strcmp(again, url) != 0)
            abort();
        return;
    case FERRY_API_ENROLL_TOKEN:
    case FERRY_API_NODE_LOGS:
    case FERRY_API_APP_STATS: {
        bool on_node = rt->path != FERRY_API_APP_STATS;
        const char *sub = rt->path == FERRY_API_ENROLL_TOKEN ? "enroll"
                          : rt->path == FERRY_API_NODE_LOGS  ? "logs"
                                                             : "stats";
        if (rt->ns == NULL || rt->name == NULL ||
            rt->coll != (on_node ? FERRY_API_NODES : FERRY_API_APPS) || rt->ns[0] == '\0' ||
            rt->name[0] == '\0' || strchr(rt->ns, '/') != NULL || strchr(rt->name, '/') != NULL)
            abort();
        snprintf(again, sizeof(again), "/v1/namespaces/%s/%s/%s/%s", rt->ns,
                 on_node ? "nodes" : "apps", rt->name, sub);
        if (strcmp(again, url) != 0)
            abort();
        return;
    }
    case FERRY_API_LIST:
    case FERRY_API_ITEM:
    case FERRY_API_SUB:
        break;
    default:
        abort();
    }
    bool item = rt->path != FERRY_API_LIST, sub = rt->path == FERRY_API_SUB;
    if (rt->ns == NULL || rt->ns[0] == '\0' || strchr(rt->ns, '/') != NULL ||
        item != (rt->name != NULL) ||
        (rt->name != NULL && (rt->name[0] == '\0' || strchr(rt->name, '/') != NULL)))
        abort();
    snprintf(again, sizeof(again), "/v1/namespaces/%s/%s%s%s%s%s", rt->ns, colls[rt->coll],
             item ? "/" : "", item ? rt->name : "", sub ? "/" : "", sub ? subs[rt->coll] : "");
    if (strcmp(again, url) != 0)
        abort();
    bridge__check_names(rt->ns, rt->name, NULL);
}

/* The request headers the API judges, fed the same text: what comes out must hold together. */
static void check_headers(const char *text) {
    const char *tok = NULL;
    size_t len = 0;
    char one[FERRY_ORIGIN_MAX], two[FERRY_ORIGIN_MAX];
    static const char allowed[1][FERRY_ORIGIN_MAX] = {"https://ui.example"};

    if (ferry_headers_bearer(text, &tok, &len) &&
        (len == 0 || tok < text || tok + len > text + strlen(text) ||
         memchr(tok, ' ', len) != NULL))
        abort();
    ferry_headers_json(text);
    if (ferry_headers_origin_normalize(text, one)) {
        /* Normal forms are fixed points, and an origin is allowed from its own host. */
        if (!ferry_headers_origin_normalize(one, two) || strcmp(one, two) != 0)
            abort();
        bool tls = strncmp(one, "https://", 8) == 0;
        if (!ferry_headers_origin_allowed(text, tls, one + (tls ? 8 : 7), allowed, 1))
            abort();
    }
}

/* Each "key=value" of the query as libmicrohttpd would hand it over (no percent-decoding here). */
static void check_query(char *query) {
    for (char *kv = strtok(query, "&"); kv != NULL; kv = strtok(NULL, "&")) {
        char *v = strchr(kv, '=');
        v = v != NULL ? v + 1 : kv + strlen(kv);
        long got = ferry_api__parse_count(v, 7);
        size_t n = strlen(v);
        bool digits = n >= 1 && n <= 9 && strspn(v, "0123456789") == n;
        long want = 0;
        for (size_t i = 0; digits && i < n; i++)
            want = want * 10 + (v[i] - '0');
        if (got != want)
            abort();
    }
    if (ferry_api__parse_count(NULL, 7) != 7)
        abort();
}

/* rec must survive the store and its read checks, as the record the bridge writes for a request. */
static void check_record(const char *key, json_t *rec, bool app) {
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *back = NULL;

    if (rec == NULL || ferry_store__encode_record(rec, &buf, &len) != FERRY_OK ||
        ferry_store__decode_record(buf, len, app ? FERRY_DB_APPS : FERRY_DB_NODES, key, &back) !=
            FERRY_OK ||
        !(app ? bridge__app_record_ok(key, back) : bridge__node_record_ok(key, back))) {
        dprintf(2, "the bridge would store an unreadable record at '%s'\n", key);
        abort();
    }
    ferry_free(buf);
    json_decref(back);
    json_decref(rec);
}

/* What the API reads in a body before the bridge: a token request (its grant must survive the
 * round trip through JSON) and what in an app needs the privileged permission. */
static void check_auth_body(const json_t *doc) {
    ferry_auth_grant g, back;
    char what[64];

    if (ferry_auth_grant_parse(doc, &g, NULL) == FERRY_OK) {
        json_t *again = ferry_auth_grant_json(&g);
        if (again == NULL || ferry_auth_grant_parse(again, &back, NULL) != FERRY_OK ||
            memcmp(&g, &back, sizeof(g)) != 0)
            abort();
        json_decref(again);
    }
    if (ferry_auth_app_privileged(doc, what, sizeof(what)) && what[0] == '\0')
        abort();
}

/* A POST (LIST) or PUT (ITEM) body, handled like api.c's parse_body and bridge.c's app_input
 * and node_input up to the record they store. */
static void check_body(const ferry_api__route *rt, const uint8_t *body, size_t len) {
    json_t *doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *spec = NULL;
    ferry_detail verr;
    char key[BRIDGE_KEY_MAX];

    if (doc != NULL)
        check_auth_body(doc);
    if (doc == NULL || !json_is_object(doc) ||
        (rt->path != FERRY_API_LIST && rt->path != FERRY_API_ITEM) ||
        bridge__check_names(rt->ns, rt->name, NULL) != FERRY_OK ||
        rt->coll == FERRY_API_CONFIGS) /* sealed with the bridge's key: not reproduced here */
        goto out;
    if (rt->coll == FERRY_API_APPS) {
        if (ferry_app_validate(doc, &verr) != FERRY_OK || (spec = ferry_app_normalize(doc)) == NULL)
            goto out;
        const char *name = json_string_value(json_object_get(spec, "name"));
        if (rt->name != NULL && strcmp(rt->name, name) != 0)
            goto out; /* 400: renaming */
        bridge__key(key, rt->ns, name, NULL);
        check_record(key,
                     json_pack("{s:s, s:s, s:i, s:b, s:O, s:I, s:I}", "ns", rt->ns, "name", name,
                               "version", 1, "deleted", 0, "spec", spec, "createdAt", (json_int_t)0,
                               "updatedAt", (json_int_t)0),
                     true);
    } else {
        json_t *jname = json_object_get(doc, "name");
        if (rt->name != NULL && jname == NULL)
            json_object_set_new(doc, "name", json_string(rt->name));
        else if (rt->name != NULL &&
                 (!json_is_string(jname) || strcmp(json_string_value(jname), rt->name) != 0))
            goto out; /* 400: renaming */
        if (ferry_node_validate(doc, &verr) != FERRY_OK)
            goto out;
        const char *name = json_string_value(json_object_get(doc, "name"));
        json_t *labels = json_object_get(doc, "labels");
        labels = labels != NULL ? json_incref(labels) : json_object();
        bridge__key(key, rt->ns, name, NULL);
        check_record(key,
                     json_pack("{s:s, s:s, s:o, s:I, s:I}", "ns", rt->ns, "name", name, "labels",
                               labels, "createdAt", (json_int_t)0, "updatedAt", (json_int_t)0),
                     false);
    }
out:
    json_decref(spec);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char url[MAX_URL];
    ferry_api__route rt;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t n = nul != NULL ? (size_t)(nul - data) : size;

    if (n >= sizeof(url))
        return 0;
    memcpy(url, data, n);
    url[n] = '\0';
    char *query = strchr(url, '?');
    if (query != NULL)
        *query++ = '\0';
    bool routed = ferry_api__parse_path(url, &rt);
    if (routed)
        check_path(url, &rt);
    check_headers(url);
    if (query != NULL)
        check_query(query);
    if (routed && nul != NULL)
        check_body(&rt, nul + 1, size - n - 1);
    return 0;
}
