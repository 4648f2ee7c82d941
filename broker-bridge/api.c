/* broker-bridge REST API: the checks a request passes, the routing table, request bodies, JSON
 * answers, and libmicrohttpd's server with TLS and its limits (see api.h for the routes). */
#include "api.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ferry/secrets.h"
#include "headers.h"
#include "stats.h"
#include "telemetry.h"
#include "tokens.h"

#define PEM_MAX (1024 * 1024) /* a certificate chain or key file larger than this is refused */

struct ferry_api {
    struct MHD_Daemon *daemon;
    ferry_bridge *bridge;
    uint16_t port;
    bool tls;
    char *cert, *key; /* PEM text handed to libmicrohttpd; freed after the daemon stops */
    size_t n_origins;
    char origins[FERRY_API_MAX_ORIGINS][FERRY_ORIGIN_MAX]; /* --allow-origin, normalised */
    const ferry_console *console;                          /* borrowed; NULL: none */
};

typedef struct request request;

/* What a route's handler gets: the request passed every check; body is its parsed JSON body for
 * routes that take one, else NULL. */
typedef struct {
    ferry_api *a;
    struct MHD_Connection *c;
    const request *r;
    const json_t *body;
} call;

/* A route's work: a bridge operation, whose result on_request answers (the row's status with
 * *out, or the error in *e). */
typedef ferry_err (*handler_fn)(const call *k, json_t **out, ferry_detail *e);

/* One row of the routing table: a method on a kind of path. */
typedef struct {
    ferry_api__path path;
    const char *method;
    ferry_api__rule rule;
    handler_fn fn;
    unsigned ok;    /* the status of a success: 200, or 201 for a create */
    bool query_err; /* a list: errors name the query parameter (see reply_result) */
} route_row;

/* One request being received. */
struct request {
    const route_row *row; /* set once the headers passed the checks */
    ferry_api__route rt;
    ferry_auth_grant grant; /* of its token (zero on public routes) */
    char *body;
    size_t len, cap;
    bool too_big;
    bool answered;         /* a response was queued before the body was read (the checks, 413) */
    bool routed;           /* rt names a route (metrics: its template) */
    bool console;          /* a file of the web console (metrics: route "console") */
    char method[8];        /* a known method, or "other" (metrics: bounded label values) */
    struct timespec start; /* when the headers were in */
    /* GET .../logs: the connection is suspended until the node's answer (or a timeout) fills
     * these from the loop thread and resumes it (logs_step). */
    struct MHD_Connection *conn;
    bool logs_done;
    unsigned logs_status;
    json_t *logs_body;
};

/* ---- answers --------------------------------------------------------------------------------- */

/* Queue status with body (stolen) as compact JSON, with one more header (hname: hvalue) when
 * hname is not NULL (Allow for 405, WWW-Authenticate for 401). */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *body,
                             const char *hname, const char *hvalue) {
    enum MHD_Result ret = MHD_NO;
    struct MHD_Response *resp = NULL;
    char *text = NULL;
    size_t len = body != NULL ? json_dumpb(body, NULL, 0, JSON_COMPACT) : 0;

    if (len == 0 || (text = ferry_malloc(len + 1)) == NULL) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        resp =
            MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else {
        json_dumpb(body, text, len, JSON_COMPACT);
        text[len++] = '\n';
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    }
    if (resp == NULL)
        goto out;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (hname != NULL)
        MHD_add_response_header(resp, hname, hvalue);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
out:
    ferry_free(text);
    json_decref(body);
    return ret;
}

/* {"error": text} plus key: value when key is not NULL and value not NULL or "". The texts may
 * quote the request (its path, its headers): they are made printable UTF-8 first, which JSON
 * strings need. */
static json_t *error_body(const char *text, const char *key, const char *value) {
    char t[sizeof(((ferry_detail *)0)->message) + 256], v[sizeof(((ferry_detail *)0)->field)];
    snprintf(t, sizeof(t), "%s", text);
    ferry_text_scrub(t);
    json_t *body = json_pack("{s:s}", "error", t);
    if (body != NULL && key != NULL && value != NULL && value[0] != '\0') {
        snprintf(v, sizeof(v), "%s", value);
        ferry_text_scrub(v);
        json_object_set_new(body, key, json_string(v));
    }
    return body;
}

/* GET /metrics: the bridge's registry as Prometheus text, its scrape-time gauges computed now. */
static enum MHD_Result reply_metrics(ferry_api *a, struct MHD_Connection *c) {
    char *text = NULL;
    size_t len = 0;
    enum MHD_Result ret = MHD_NO;
    if (ferry_bridge_metrics_text(a->bridge, &text, &len) != FERRY_OK)
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, error_body("out of memory", NULL, NULL),
                     NULL, NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        ferry_free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, FERRY_METRICS_CONTENT_TYPE);
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Queue status with {"error": text, "field": field}; no "field" when it is NULL or "". */
static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *field,
                                  const char *text) {
    return reply(c, status, error_body(text, "field", field), NULL, NULL);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                   ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return reply_text(c, status, NULL, msg);
}

/* 403 for a token that lacks perm: {"error": msg, "permission": "read" | "write" | ...}. */
static enum MHD_Result reply_forbidden(struct MHD_Connection *c, ferry_perm perm, const char *msg) {
    return reply(c, MHD_HTTP_FORBIDDEN, error_body(msg, "permission", ferry_auth_perm_name(perm)),
                 NULL, NULL);
}

/* 401 with the challenge of RFC 6750; invalid: a token was sent, but it is not one of ours. */
static enum MHD_Result reply_unauthorized(struct MHD_Connection *c, bool invalid, const char *msg) {
    return reply(
        c, MHD_HTTP_UNAUTHORIZED, error_body(msg, NULL, NULL), MHD_HTTP_HEADER_WWW_AUTHENTICATE,
        invalid ? "Bearer realm=\"ferry\", error=\"invalid_token\"" : "Bearer realm=\"ferry\"");
}

static unsigned http_status(ferry_err err) {
    switch (err) {
    case FERRY_EINVAL:
        return MHD_HTTP_BAD_REQUEST;
    case FERRY_ENOTFOUND:
        return MHD_HTTP_NOT_FOUND;
    case FERRY_EEXIST:
    case FERRY_ECONFLICT:
        return MHD_HTTP_CONFLICT;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* Answer the result of a bridge operation: ok_status with *out, or the error in e as
 * {"error": text, "field": field}. The text is the detail as one line ("services[0].image: must
 * be ..."), except for a conflict (409): that message is about the object as a whole ("app 'web'
 * already exists", "version conflict: ...") and field only names the member that identifies it.
 * A list is asked with query parameters: there field is the parameter the failure is in
 * ("selector" for "selector.matchLabels"; the text says where inside it). */
static enum MHD_Result reply_result(struct MHD_Connection *c, ferry_err err, unsigned ok_status,
                                    json_t *out, const ferry_detail *e, bool list) {
    char text[sizeof(e->field) + 2 + sizeof(e->message)];
    char field[sizeof(e->field)];

    if (err == FERRY_OK)
        return reply(c, ok_status, out, NULL, NULL);
    json_decref(out);
    if (err == FERRY_EEXIST || err == FERRY_ECONFLICT)
        snprintf(text, sizeof(text), "%s", e->message);
    else
        ferry_detail_text(e, text, sizeof(text));
    snprintf(field, sizeof(field), "%.*s", list ? (int)strcspn(e->field, ".[") : (int)sizeof(field),
             e->field);
    return reply_text(c, http_status(err), field, text);
}

/* ---- request parsing (api.h, "internal") ----------------------------------------------------- */

long ferry_api__parse_count(const char *v, long dflt) {
    if (v == NULL)
        return dflt;
    size_t n = strlen(v);
    if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
        return 0;
    return strtol(v, NULL, 10);
}

/* Cut the path after prefix into at most max segments at '/' (in rt->buf); the count, or 0 when
 * a segment is empty or there are more. */
static size_t split(const char *rest, ferry_api__route *rt, char **seg, size_t max) {
    size_t n = 0;

    if (strlen(rest) >= sizeof(rt->buf))
        return 0;
    strcpy(rt->buf, rest);
    for (char *p = rt->buf, *slash;; p = slash + 1) {
        if (n == max || p[0] == '\0' || p[0] == '/')
            return 0;
        seg[n++] = p;
        if ((slash = strchr(p, '/')) == NULL)
            return n;
        *slash = '\0';
    }
}

bool ferry_api__parse_path(const char *url, ferry_api__route *rt) {
    static const char ns_prefix[] = "/v1/namespaces/";
    static const char tokens[] = "/v1/tokens";
    static const char debug[] = "/v1/broker/debug";
    static const char *const colls[FERRY_API_COLLECTIONS] = {"apps", "nodes", "configs"};
    static const char *const subs[FERRY_API_COLLECTIONS] = {"status", "apps", NULL};
    char *seg[4] = {0};
    size_t n;

    memset(rt, 0, sizeof(*rt));
    if (strcmp(url, "/healthz") == 0) {
        rt->path = FERRY_API_HEALTH;
        return true;
    }
    if (strcmp(url, "/metrics") == 0) {
        rt->path = FERRY_API_METRICS;
        return true;
    }
    if (strcmp(url, tokens) == 0) {
        rt->path = FERRY_API_TOKENS;
        return true;
    }
    if (strncmp(url, tokens, sizeof(tokens) - 1) == 0 && url[sizeof(tokens) - 1] == '/') {
        if (split(url + sizeof(tokens), rt, seg, 1) != 1)
            return false;
        rt->path = FERRY_API_TOKEN;
        rt->name = seg[0];
        return true;
    }
    if (strcmp(url, "/v1/openapi.json") == 0) {
        rt->path = FERRY_API_OPENAPI;
        return true;
    }
    if (strcmp(url, "/v1/enroll") == 0) {
        rt->path = FERRY_API_ENROLL;
        return true;
    }
    if (strcmp(url, debug) == 0) {
        rt->path = FERRY_API_DEBUG;
        return true;
    }
    if (strncmp(url, debug, sizeof(debug) - 1) == 0 && url[sizeof(debug) - 1] == '/') {
        if (split(url + sizeof(debug), rt, seg, 1) != 1)
            return false;
        rt->path = FERRY_API_DEBUG_ITEM;
        rt->name = seg[0];
        return true;
    }
    if (strncmp(url, ns_prefix, sizeof(ns_prefix) - 1) != 0)
        return false;
    /* ns / collection [/ name [/ sub]] */
    n = split(url + sizeof(ns_prefix) - 1, rt, seg, 4);
    if (n < 2)
        return false;
    int c = 0;
    while (c < FERRY_API_COLLECTIONS && strcmp(seg[1], colls[c]) != 0)
        c++;
    if (c == FERRY_API_COLLECTIONS)
        return false;
    if (n == 4 && c == FERRY_API_NODES && strcmp(seg[3], "enroll") == 0) {
        rt->path = FERRY_API_ENROLL_TOKEN;
        rt->coll = FERRY_API_NODES;
        rt->ns = seg[0];
        rt->name = seg[2];
        return true;
    }
    if (n == 4 && c == FERRY_API_NODES && strcmp(seg[3], "logs") == 0) {
        rt->path = FERRY_API_NODE_LOGS;
        rt->coll = FERRY_API_NODES;
        rt->ns = seg[0];
        rt->name = seg[2];
        return true;
    }
    if (n == 4 && c == FERRY_API_APPS && strcmp(seg[3], "stats") == 0) {
        rt->path = FERRY_API_APP_STATS;
        rt->coll = FERRY_API_APPS;
        rt->ns = seg[0];
        rt->name = seg[2];
        return true;
    }
    if (n == 4 && (subs[c] == NULL || strcmp(seg[3], subs[c]) != 0))
        return false;
    rt->path = n == 2 ? FERRY_API_LIST : n == 3 ? FERRY_API_ITEM : FERRY_API_SUB;
    rt->coll = (ferry_api__collection)c;
    rt->ns = seg[0];
    rt->name = n >= 3 ? seg[2] : NULL;
    return true;
}

/* ---- route handlers -------------------------------------------------------------------------- */

static ferry_err health(const call *k, json_t **out, ferry_detail *e) {
    bool up = false;
    uint64_t rev = 0;
    ferry_err err = ferry_bridge_health(k->a->bridge, &up, &rev);
    if (err != FERRY_OK)
        return ferry_fail(e, err, NULL, "storage failure; see the bridge log");
    *out = json_pack("{s:b, s:s, s:I}", "ok", 1, "mqtt", up ? "connected" : "disconnected", "rev",
                     (json_int_t)rev);
    return FERRY_OK; /* NULL (ENOMEM) is answered 500 */
}

/* The built-in document, parsed per request (~50 KiB, read rarely) so that it goes out like
 * every other answer. */
static ferry_err openapi(const call *k, json_t **out, ferry_detail *e) {
    (void)k;
    *out = json_loadb(ferry_api_openapi_json, ferry_api_openapi_len, 0, NULL);
    return *out != NULL ? FERRY_OK
                        : ferry_fail(e, FERRY_ENOMEM, NULL, "out of memory reading the document");
}

static ferry_err token_list(const call *k, json_t **out, ferry_detail *e) {
    return ferry_tokens_list(k->a->bridge, out, e);
}

static ferry_err token_create(const call *k, json_t **out, ferry_detail *e) {
    return ferry_tokens_create(k->a->bridge, k->body, out, e);
}

static ferry_err token_get(const call *k, json_t **out, ferry_detail *e) {
    return ferry_tokens_get(k->a->bridge, k->r->rt.name, out, e);
}

static ferry_err token_delete(const call *k, json_t **out, ferry_detail *e) {
    return ferry_tokens_delete(k->a->bridge, k->r->rt.name, out, e);
}

static ferry_err enroll_token(const call *k, json_t **out, ferry_detail *e) {
    return ferry_bridge_node_enroll_token(k->a->bridge, k->r->rt.ns, k->r->rt.name, out, e);
}

static ferry_err enroll(const call *k, json_t **out, ferry_detail *e) {
    return ferry_bridge_enroll(k->a->bridge, k->body, out, e);
}

static ferry_err debug_grant(const call *k, json_t **out, ferry_detail *e) {
    return ferry_bridge_debug_credential(k->a->bridge, k->body, out, e);
}

static ferry_err debug_revoke(const call *k, json_t **out, ferry_detail *e) {
    return ferry_bridge_debug_revoke(k->a->bridge, k->r->rt.name, out, e);
}

typedef ferry_err (*list_fn)(ferry_bridge *, const char *, const ferry_bridge_page *, json_t **,
                             ferry_detail *);
typedef ferry_err (*create_fn)(ferry_bridge *, const char *, const json_t *, json_t **,
                               ferry_detail *);
typedef ferry_err (*item_fn)(ferry_bridge *, const char *, const char *, json_t **, ferry_detail *);
typedef ferry_err (*update_fn)(ferry_bridge *, const char *, const char *, const json_t *,
                               json_t **, ferry_detail *);

/* The operations of one collection. */
typedef struct {
    list_fn list;
    create_fn create;
    item_fn get;
    update_fn update;
    item_fn remove;
    item_fn sub_get; /* the one sub-resource (see ferry_api__route), or NULL */
} collection;

static const collection collections[FERRY_API_COLLECTIONS] = {
    [FERRY_API_APPS] = {ferry_bridge_app_list, ferry_bridge_app_create, ferry_bridge_app_get,
                        ferry_bridge_app_update, ferry_bridge_app_delete, ferry_bridge_app_status},
    [FERRY_API_NODES] = {ferry_bridge_node_list, ferry_bridge_node_create, ferry_bridge_node_get,
                         ferry_bridge_node_update, ferry_bridge_node_delete,
                         ferry_bridge_node_apps},
    [FERRY_API_CONFIGS] = {ferry_bridge_config_list, ferry_bridge_config_create,
                           ferry_bridge_config_get, ferry_bridge_config_update,
                           ferry_bridge_config_delete, NULL},
};

static const char *query(const call *k, const char *key) {
    return MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, key);
}

/* The count parameters are parsed strictly: 0 (which the bridge refuses) when malformed. */
static ferry_err ns_list(const call *k, json_t **out, ferry_detail *e) {
    ferry_bridge_page pg = {.page = ferry_api__parse_count(query(k, "page"), 1),
                            .page_size = ferry_api__parse_count(query(k, "pageSize"), 20),
                            .name = query(k, "name"),
                            .selector = query(k, "selector"),
                            .kind = query(k, "kind")};
    return collections[k->r->rt.coll].list(k->a->bridge, k->r->rt.ns, &pg, out, e);
}

static ferry_err ns_create(const call *k, json_t **out, ferry_detail *e) {
    return collections[k->r->rt.coll].create(k->a->bridge, k->r->rt.ns, k->body, out, e);
}

static ferry_err ns_get(const call *k, json_t **out, ferry_detail *e) {
    return collections[k->r->rt.coll].get(k->a->bridge, k->r->rt.ns, k->r->rt.name, out, e);
}

static ferry_err ns_update(const call *k, json_t **out, ferry_detail *e) {
    const request *r = k->r;
    return collections[r->rt.coll].update(k->a->bridge, r->rt.ns, r->rt.name, k->body, out, e);
}

static ferry_err ns_delete(const call *k, json_t **out, ferry_detail *e) {
    return collections[k->r->rt.coll].remove(k->a->bridge, k->r->rt.ns, k->r->rt.name, out, e);
}

/* An app's status view pages its nodes when ?page or ?pageSize is given (pageSize 0: the summary
 * only); a malformed count is refused like a list's. */
static ferry_err ns_sub(const call *k, json_t **out, ferry_detail *e) {
    const request *r = k->r;
    const char *page = query(k, "page"), *size = query(k, "pageSize");
    if (r->rt.coll != FERRY_API_APPS || (page == NULL && size == NULL))
        return collections[r->rt.coll].sub_get(k->a->bridge, r->rt.ns, r->rt.name, out, e);
    long n = ferry_api__parse_count(size, 20);
    ferry_bridge_page pg = {.page = ferry_api__parse_count(page, 1),
                            .page_size = size != NULL && strcmp(size, "0") == 0 ? 0
                                         : n > 0                                ? n
                                                                                : -1};
    return ferry_bridge_app_status_page(k->a->bridge, r->rt.ns, r->rt.name, &pg, out, e);
}

/* ?window= is parsed strictly like the counts: 0 (refused, naming "window") when malformed. */
static ferry_err app_stats(const call *k, json_t **out, ferry_detail *e) {
    long window = ferry_api__parse_count(query(k, "window"), STATS_DEFAULT_WINDOW_S);
    return ferry_bridge_app_stats(k->a->bridge, k->r->rt.ns, k->r->rt.name, window, out, e);
}

/* An app body (POST, PUT of an app) that needs the privileged permission from a token without
 * it: answered 403 (true, *ret what queuing returned). The route's own permission was checked
 * with the headers. */
static bool refuse_privileged(struct MHD_Connection *c, const request *r, const json_t *body,
                              enum MHD_Result *ret) {
    char what[64], msg[1024];

    if (body == NULL || r->rt.coll != FERRY_API_APPS ||
        (r->rt.path != FERRY_API_LIST && r->rt.path != FERRY_API_ITEM) ||
        !ferry_auth_app_privileged(body, what, sizeof(what)) ||
        ferry_auth_allows(&r->grant, FERRY_PERM_PRIVILEGED, r->rt.ns, what, msg, sizeof(msg)))
        return false;
    *ret = reply_forbidden(c, FERRY_PERM_PRIVILEGED, msg);
    return true;
}

/* ---- the routing table ----------------------------------------------------------------------- */

/* Every route: its path, method, whether it is public, the permission its token needs (in the
 * path's namespace for namespaced paths), whether it takes a JSON body. A public route is served
 * without a token: the node enrollment (POST /v1/enroll, a node with its one-time token) is one,
 * with its own check of that token in its handler; the API's contract (GET /v1/openapi.json)
 * another: it holds no data, only what the repository publishes. schema/openapi.yaml describes
 * every row (tests/e2e/openapi_check.py checks that). */
static const route_row routes[] = {
    /* path, method, {public, permission, takes a body}, handler, status of a success, list */
    {FERRY_API_HEALTH, "GET", {true, FERRY_PERM_READ, false}, health, 200, false},
    /* No namespace in the path: only a token that reads every namespace passes (auth.c). */
    {FERRY_API_METRICS, "GET", {false, FERRY_PERM_READ, false}, NULL, 200, false},
    {FERRY_API_OPENAPI, "GET", {true, FERRY_PERM_READ, false}, openapi, 200, false},
    {FERRY_API_TOKENS, "GET", {false, FERRY_PERM_ADMIN, false}, token_list, 200, false},
    {FERRY_API_TOKENS, "POST", {false, FERRY_PERM_ADMIN, true}, token_create, 201, false},
    {FERRY_API_TOKEN, "GET", {false, FERRY_PERM_ADMIN, false}, token_get, 200, false},
    {FERRY_API_TOKEN, "DELETE", {false, FERRY_PERM_ADMIN, false}, token_delete, 200, false},
    {FERRY_API_LIST, "GET", {false, FERRY_PERM_READ, false}, ns_list, 200, true},
    {FERRY_API_LIST, "POST", {false, FERRY_PERM_WRITE, true}, ns_create, 201, false},
    {FERRY_API_ITEM, "GET", {false, FERRY_PERM_READ, false}, ns_get, 200, false},
    {FERRY_API_ITEM, "PUT", {false, FERRY_PERM_WRITE, true}, ns_update, 200, false},
    {FERRY_API_ITEM, "DELETE", {false, FERRY_PERM_WRITE, false}, ns_delete, 200, false},
    {FERRY_API_SUB, "GET", {false, FERRY_PERM_READ, false}, ns_sub, 200, false},
    {FERRY_API_APP_STATS, "GET", {false, FERRY_PERM_READ, false}, app_stats, 200, false},
    /* Answered once the node answers: the connection waits suspended (logs_step). */
    {FERRY_API_NODE_LOGS, "GET", {false, FERRY_PERM_READ, false}, NULL, 200, true},
    {FERRY_API_ENROLL_TOKEN, "POST", {false, FERRY_PERM_WRITE, false}, enroll_token, 201, false},
    {FERRY_API_ENROLL, "POST", {true, FERRY_PERM_READ, true}, enroll, 200, false},
    {FERRY_API_DEBUG, "POST", {false, FERRY_PERM_ADMIN, true}, debug_grant, 201, false},
    {FERRY_API_DEBUG_ITEM, "DELETE", {false, FERRY_PERM_ADMIN, false}, debug_revoke, 200, false},
};
#define ROUTES (sizeof(routes) / sizeof(routes[0]))

/* The row of method on path, or NULL with the methods path has in allow. */
static const route_row *find_row(ferry_api__path path, const char *method, char *allow,
                                 size_t len) {
    size_t at = 0;
    if (len > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < ROUTES; i++) {
        if (routes[i].path != path)
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        int k = snprintf(allow + at, len - at, "%s%s", at > 0 ? ", " : "", routes[i].method);
        at = k < 0 || (size_t)k >= len - at ? len - 1 : at + (size_t)k;
    }
    return NULL;
}

bool ferry_api__find_rule(ferry_api__path path, const char *method, ferry_api__rule *rule,
                          char *allow, size_t len) {
    const route_row *row = find_row(path, method, allow, len);
    if (row != NULL)
        *rule = row->rule;
    return row != NULL;
}

/* ---- the checks made when the headers are in ------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name) {
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Everything that can be decided before the body is read, in this order: the origin, the token,
 * the route, the route's permission, the body's media type and announced size. The first that
 * fails is answered (r->answered; the body will be dropped); otherwise r->row is set and MHD_YES
 * asks for the body. Checking the token before the route keeps the routes private. */
static enum MHD_Result admit(ferry_api *a, struct MHD_Connection *c, const char *url,
                             const char *method, request *r) {
    const char *origin = header(c, MHD_HTTP_HEADER_ORIGIN);
    const char *length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
    char allow[64], msg[1024];
    const route_row *row = NULL;

    r->answered = true;
    if (origin != NULL &&
        !ferry_headers_origin_allowed(origin, a->tls, header(c, MHD_HTTP_HEADER_HOST), a->origins,
                                      a->n_origins))
        return reply_error(c, MHD_HTTP_FORBIDDEN,
                           "forbidden: cross-origin request from '%.200s' (the API serves "
                           "requests from its own origin and those given with --allow-origin)",
                           origin);
    bool routed = ferry_api__parse_path(url, &r->rt);
    r->routed = routed;
    if (routed)
        row = find_row(r->rt.path, method, allow, sizeof(allow));
    if (row == NULL || !row->rule.is_public) {
        const char *token = NULL;
        size_t len = 0;
        if (!ferry_headers_bearer(header(c, MHD_HTTP_HEADER_AUTHORIZATION), &token, &len))
            return reply_unauthorized(c, false,
                                      "missing bearer token: send \"Authorization: Bearer "
                                      "<token>\" (see docs/api-auth.md)");
        ferry_err err = ferry_tokens_authenticate(a->bridge, token, len, &r->grant);
        if (err == FERRY_ENOTFOUND)
            return reply_unauthorized(c, true, "unknown or deleted token");
        if (err != FERRY_OK)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "storage failure (%s); see the bridge log", ferry_strerror(err));
    }
    if (!routed)
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no route for %s %.300s", method, url);
    if (row == NULL)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, error_body("method not allowed", NULL, NULL),
                     MHD_HTTP_HEADER_ALLOW, allow);
    if (!row->rule.is_public &&
        !ferry_auth_allows(&r->grant, row->rule.perm, r->rt.ns, NULL, msg, sizeof(msg)))
        return reply_forbidden(c, row->rule.perm, msg);
    unsigned long long announced = length != NULL ? strtoull(length, NULL, 10) : 0;
    bool has_body = announced > 0 || header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
    if (has_body && !ferry_headers_json(type))
        return reply_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                           "a request body must be JSON sent as \"Content-Type: "
                           "application/json\" (got %s%.100s%s)",
                           type != NULL ? "'" : "", type != NULL ? type : "none",
                           type != NULL ? "'" : "");
    if (announced > FERRY_API_MAX_BODY) {
        r->too_big = true;
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes",
                           FERRY_API_MAX_BODY);
    }
    r->row = row;
    r->answered = false;
    return MHD_YES;
}

/* ---- the web console ------------------------------------------------------------------------ */

/* What a browser is told about every console answer. The console is one origin's own scripts
 * and styles, nothing inline (the CSP forbids it), never framed, never leaking its URLs. */
static const char console_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

static void console_headers(const ferry_api *a, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Content-Security-Policy", console_csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    if (a->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

/* A console file f: GET and HEAD (libmicrohttpd leaves the body out of a HEAD answer) get it,
 * or 304 without a body when If-None-Match names its ETag; revalidated on every use (no-cache),
 * so a new console is seen at once after a restart. Other methods: 405. The bytes are the
 * console's, which outlives the server: nothing is copied. */
static enum MHD_Result console_reply(ferry_api *a, struct MHD_Connection *c, const char *method,
                                     const ferry_console_file *f) {
    struct MHD_Response *resp = NULL;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char body[] = "{\"error\":\"method not allowed\"}\n";
        resp =
            MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (ferry_console_etag_match(header(c, MHD_HTTP_HEADER_IF_NONE_MATCH), f->etag)) {
        /* No Content-Type: a 304 carries only what updates the cached copy (RFC 9110 15.4.5). */
        if ((resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)) == NULL)
            return MHD_NO;
        status = MHD_HTTP_NOT_MODIFIED;
    } else {
        resp = MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
    }
    if (status != MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    }
    console_headers(a, resp);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- libmicrohttpd glue ---------------------------------------------------------------------- */

static bool append(request *r, const char *data, size_t size) {
    if (r->len + size > FERRY_API_MAX_BODY)
        return false;
    if (r->len + size > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + size)
            cap *= 2;
        char *p = ferry_realloc(r->body, cap);
        if (p == NULL)
            return false;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, size);
    r->len += size;
    return true;
}

/* The request body as JSON: NULL after answering 400 with the parse position (*ret). */
static json_t *parse_body(struct MHD_Connection *c, const request *r, enum MHD_Result *ret) {
    json_error_t jerr;
    json_t *body =
        json_loadb(r->body != NULL ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL)
        *ret =
            reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid JSON at line %d, column %d (byte %d): %s",
                        jerr.line, jerr.column, jerr.position, jerr.text);
    return body;
}

/* The node's answer (loop thread): keep it and let libmicrohttpd call on_request again. */
static void logs_done(void *ctx, unsigned status, json_t *body) {
    request *r = ctx;
    r->logs_status = status;
    r->logs_body = body;
    r->logs_done = true;
    MHD_resume_connection(r->conn);
}

/* GET .../nodes/{name}/logs: ask the node, then wait suspended (a pool thread is not held). */
static enum MHD_Result logs_step(ferry_api *a, struct MHD_Connection *c, request *r) {
    call k = {a, c, r, NULL};
    ferry_detail e = {"", ""};
    char id[33];
    const char *tail_q = query(&k, "tail"), *since_q = query(&k, "since");
    long tail = ferry_api__parse_count(tail_q, 0);
    /* A Unix time has 10 digits: more than the counts of ferry_api__parse_count. */
    long since = 0;
    if (since_q != NULL && since_q[0] != '\0' && strlen(since_q) <= 12 &&
        strspn(since_q, "0123456789") == strlen(since_q))
        since = strtol(since_q, NULL, 10);
    if (tail_q != NULL && tail == 0)
        return reply_text(c, MHD_HTTP_BAD_REQUEST, "tail",
                          "tail: must be an integer from 1 to 10000");
    if (since_q != NULL && since == 0 && strcmp(since_q, "0") != 0)
        return reply_text(c, MHD_HTTP_BAD_REQUEST, "since",
                          "since: must be a Unix time in seconds");
    r->conn = c;
    ferry_err err =
        ferry_bridge_logs_start(a->bridge, r->rt.ns, r->rt.name, query(&k, "app"),
                                query(&k, "service"), tail, since, logs_done, r, id, &e);
    if (err == FERRY_EIO) {
        char text[sizeof(e.message) + sizeof(e.field) + 2];
        ferry_detail_text(&e, text, sizeof(text));
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, text);
    }
    if (err != FERRY_OK)
        return reply_result(c, err, 200, NULL, &e, true);
    MHD_suspend_connection(c);
    ferry_bridge_logs_go(a->bridge, id);
    return MHD_YES;
}

/* MHD calls this once when the headers are in (admit), once per piece of body (*size > 0) and
 * once at the end (*size == 0), where the request is answered. A request answered by admit has
 * its body dropped; so has a body over the cap that was not announced, answered 413 at the end.
 * Calls come from the threads of the pool, one connection never on two at once. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls) {
    ferry_api *a = cls;
    request *r = *con_cls;
    json_t *body = NULL;
    enum MHD_Result ret;
    (void)version;

    if (r == NULL) {
        static const char *const known[] = {"GET",   "POST", "PUT",    "DELETE",
                                            "PATCH", "HEAD", "OPTIONS"};
        if ((r = ferry_calloc(1, sizeof(*r))) == NULL)
            return MHD_NO;
        *con_cls = r;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        snprintf(r->method, sizeof(r->method), "other");
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strcmp(method, known[i]) == 0)
                snprintf(r->method, sizeof(r->method), "%s", known[i]);
        }
        /* The console's files are public and hold nothing of the API's: they are answered
         * before its checks (a foreign Origin gets them as any page would). Any other path,
         * "/" without a console included, is the API's as before. */
        const ferry_console_file *f = ferry_console_find(a->console, url);
        if (f != NULL) {
            r->console = r->answered = true;
            return console_reply(a, c, method, f);
        }
        return admit(a, c, url, method, r);
    }
    if (*size > 0) {
        if (!r->answered && !r->too_big && !append(r, data, *size)) {
            r->too_big = true;
            ferry_free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
        }
        *size = 0;
        return MHD_YES;
    }
    if (r->logs_done) { /* resumed with the node's answer */
        json_t *answer = r->logs_body;
        r->logs_body = NULL;
        r->logs_done = false;
        return reply(c, r->logs_status, answer, NULL, NULL);
    }
    if (r->answered)
        return MHD_YES;
    r->answered = true;
    if (r->too_big)
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes",
                           FERRY_API_MAX_BODY);
    if (r->row->rule.body && (body = parse_body(c, r, &ret)) == NULL)
        return ret;
    if (r->row->path == FERRY_API_METRICS) {
        ret = reply_metrics(a, c);
    } else if (r->row->path == FERRY_API_NODE_LOGS) {
        ret = logs_step(a, c, r);
    } else if (!refuse_privileged(c, r, body, &ret)) {
        call k = {a, c, r, body};
        json_t *out = NULL;
        ferry_detail e = {"", ""};
        ferry_err err = r->row->fn(&k, &out, &e);
        ret = reply_result(c, err, r->row->ok, out, &e, r->row->query_err);
    }
    json_decref(body);
    LOG_DEBUG("http: %s %s", method, url);
    return ret;
}

/* The route template of a request, a bounded label value ("other" when unrouted). */
static const char *route_label(const request *r) {
    static const char *const lists[] = {"/v1/namespaces/{ns}/apps", "/v1/namespaces/{ns}/nodes",
                                        "/v1/namespaces/{ns}/configs"};
    static const char *const items[] = {"/v1/namespaces/{ns}/apps/{name}",
                                        "/v1/namespaces/{ns}/nodes/{name}",
                                        "/v1/namespaces/{ns}/configs/{name}"};
    static const char *const subs[] = {"/v1/namespaces/{ns}/apps/{name}/status",
                                       "/v1/namespaces/{ns}/nodes/{name}/apps", "other"};
    if (r->console)
        return "console";
    if (!r->routed)
        return "other";
    switch (r->rt.path) {
    case FERRY_API_HEALTH:
        return "/healthz";
    case FERRY_API_METRICS:
        return "/metrics";
    case FERRY_API_OPENAPI:
        return "/v1/openapi.json";
    case FERRY_API_TOKENS:
        return "/v1/tokens";
    case FERRY_API_TOKEN:
        return "/v1/tokens/{id}";
    case FERRY_API_LIST:
        return lists[r->rt.coll];
    case FERRY_API_ITEM:
        return items[r->rt.coll];
    case FERRY_API_SUB:
        return subs[r->rt.coll];
    case FERRY_API_ENROLL_TOKEN:
        return "/v1/namespaces/{ns}/nodes/{name}/enroll";
    case FERRY_API_ENROLL:
        return "/v1/enroll";
    case FERRY_API_DEBUG:
        return "/v1/broker/debug";
    case FERRY_API_DEBUG_ITEM:
        return "/v1/broker/debug/{name}";
    case FERRY_API_APP_STATS:
        return "/v1/namespaces/{ns}/apps/{name}/stats";
    case FERRY_API_NODE_LOGS:
        return "/v1/namespaces/{ns}/nodes/{name}/logs";
    default:
        return "other";
    }
}

/* A finished request in the metrics: its route, method and status, and how long it took. */
static void count_request(ferry_api *a, struct MHD_Connection *c, const request *r) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    struct ferry_metrics *m = ferry_bridge_metrics(a->bridge);
    struct timespec now;
    char labels[160] = "", code[12];
    unsigned status = info != NULL ? info->http_status : 0;
    if (status == 0)
        return; /* nothing was answered (the client went away) */
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds =
        (double)(now.tv_sec - r->start.tv_sec) + (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
    snprintf(code, sizeof(code), "%u", status);
    ferry_metrics_label(labels, sizeof(labels), "route", route_label(r));
    ferry_metrics_label(labels, sizeof(labels), "method", r->method);
    ferry_metrics_observe(m, M_API_SECONDS, labels, seconds);
    ferry_metrics_label(labels, sizeof(labels), "code", code);
    ferry_metrics_add(m, M_API_REQUESTS, labels, 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code) {
    request *r = *con_cls;
    (void)code;
    if (r != NULL) {
        count_request(cls, c, r);
        json_decref(r->logs_body);
        ferry_free(r->body);
        ferry_free(r);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    LOG_WARN("http: %s", msg);
}

/* ---- starting and stopping ------------------------------------------------------------------- */

/* Split "host:port" or "[v6]:port" and resolve it numerically-or-by-name. */
static ferry_err resolve(const char *listen, struct sockaddr_storage *ss) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen = colon != NULL ? (size_t)(colon - listen) : 0;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM},
                    *res = NULL;

    if (colon == NULL || colon[1] == '\0')
        goto bad;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        LOG_ERROR("http: cannot resolve listen address %s: %s", listen, gai_strerror(rc));
        return FERRY_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return FERRY_OK;
bad:
    LOG_ERROR("http: listen address '%s' is not ADDR:PORT", listen);
    return FERRY_EINVAL;
}

/* The PEM file at path (what: "certificate", "key") as a NUL-terminated string (ferry_malloc). */
static ferry_err read_pem(const char *path, const char *what, char **out) {
    ferry_err err = FERRY_EINVAL;
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n = 0;

    *out = NULL;
    if (f == NULL) {
        LOG_ERROR("http: cannot open the TLS %s file %s: %s", what, path, strerror(errno));
        return FERRY_EINVAL;
    }
    if ((text = ferry_malloc(PEM_MAX + 1)) == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    n = fread(text, 1, PEM_MAX + 1, f);
    if (ferror(f) || n == 0 || n > PEM_MAX) {
        LOG_ERROR("http: cannot read the TLS %s file %s (%s)", what, path,
                  ferror(f) ? "read error"
                  : n == 0  ? "empty"
                            : "over 1 MiB");
        goto out;
    }
    text[n] = '\0';
    if (strstr(text, "-----BEGIN ") == NULL) {
        LOG_ERROR("http: the TLS %s file %s holds no PEM block (-----BEGIN ...)", what, path);
        goto out;
    }
    *out = text;
    text = NULL;
    err = FERRY_OK;
out:
    fclose(f);
    ferry_free(text);
    return err;
}

/* Take the --allow-origin entries (each a comma-separated list) into a->origins. */
static ferry_err add_origins(ferry_api *a, const ferry_api_config *cfg) {
    for (size_t i = 0; i < cfg->n_allow_origins; i++) {
        for (const char *p = cfg->allow_origins[i]; *p != '\0';) {
            size_t n = strcspn(p, ","), lead = strspn(p, " \t");
            size_t len = n > lead ? n - lead : 0;
            char one[FERRY_ORIGIN_MAX];
            while (len > 0 && (p[lead + len - 1] == ' ' || p[lead + len - 1] == '\t'))
                len--;
            snprintf(one, sizeof(one), "%.*s", (int)len, p + lead);
            p += n + (p[n] == ',' ? 1 : 0);
            if (len == 0)
                continue;
            if (a->n_origins == FERRY_API_MAX_ORIGINS) {
                LOG_ERROR("http: more than %d origins given with --allow-origin",
                          FERRY_API_MAX_ORIGINS);
                return FERRY_EINVAL;
            }
            if (len >= sizeof(one) ||
                !ferry_headers_origin_normalize(one, a->origins[a->n_origins])) {
                LOG_ERROR("http: --allow-origin '%s' is not an origin: scheme://host[:port] with "
                          "scheme http or https, no path",
                          one);
                return FERRY_EINVAL;
            }
            a->n_origins++;
        }
    }
    return FERRY_OK;
}

/* The TLS files of cfg into a (a->tls), or plain HTTP when asked for; refused otherwise. */
static ferry_err choose_transport(ferry_api *a, const ferry_api_config *cfg) {
    ferry_err err;
    if ((cfg->tls_cert != NULL) != (cfg->tls_key != NULL)) {
        LOG_ERROR("http: --tls-cert and --tls-key go together: give both (or --plain-http alone)");
        return FERRY_EINVAL;
    }
    if (cfg->tls_cert == NULL) {
        if (cfg->plain_http)
            return FERRY_OK;
        LOG_ERROR("http: refusing to serve the API over plain HTTP: give --tls-cert FILE and "
                  "--tls-key FILE, or --plain-http to serve it without TLS (on a trusted network "
                  "or behind a TLS proxy only: tokens travel in every request)");
        return FERRY_EINVAL;
    }
    if (cfg->plain_http)
        LOG_WARN(
            "http: --plain-http is ignored: --tls-cert and --tls-key serve the API over HTTPS");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        LOG_ERROR("http: this libmicrohttpd has no TLS support; install Debian's libmicrohttpd12 "
                  "(built with GnuTLS)");
        return FERRY_EINVAL;
    }
    if ((err = read_pem(cfg->tls_cert, "certificate", &a->cert)) != FERRY_OK ||
        (err = read_pem(cfg->tls_key, "key", &a->key)) != FERRY_OK)
        return err;
    a->tls = true;
    return FERRY_OK;
}

static void api_free(ferry_api *a) {
    if (a == NULL)
        return;
    ferry_free(a->cert);
    if (a->key != NULL)
        ferry_secrets_wipe(a->key, strlen(a->key));
    ferry_free(a->key);
    ferry_free(a);
}

ferry_err ferry_api_start(const ferry_api_config *cfg, ferry_bridge *bridge, ferry_api **out) {
    struct sockaddr_storage ss = {0};
    ferry_api *a = NULL;
    unsigned threads = cfg->threads != 0 ? cfg->threads : FERRY_API_DEFAULT_THREADS;
    unsigned limit =
        cfg->max_connections != 0 ? cfg->max_connections : FERRY_API_DEFAULT_CONNECTIONS;
    unsigned timeout = cfg->timeout_s != 0 ? cfg->timeout_s : FERRY_API_DEFAULT_TIMEOUT;
    struct MHD_OptionItem opts[8];
    size_t n = 0;
    ferry_err err;

    *out = NULL;
    if ((err = resolve(cfg->listen, &ss)) != FERRY_OK)
        return err;
    if ((a = ferry_calloc(1, sizeof(*a))) == NULL)
        return FERRY_ENOMEM;
    a->bridge = bridge;
    a->console = cfg->console;
    if ((err = add_origins(a, cfg)) != FERRY_OK || (err = choose_transport(a, cfg)) != FERRY_OK)
        goto fail;
    /* A pool of threads, each polling its share of the connections (epoll): a slow or stalled
     * client holds a connection slot and a descriptor, never a thread, until the idle timeout.
     * The bridge core's functions are thread-safe (one mutex). A per-address limit only when
     * asked for (--api-max-per-ip): every client behind a proxy, and a health check on the same
     * host, share one address. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout, NULL};
    if (cfg->max_per_ip > 0)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                            (intptr_t)cfg->max_per_ip, NULL};
    if (threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    if (a->tls) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, a->cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, a->key};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (a->tls)
        flags |= MHD_USE_TLS;
    a->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_ARRAY,
                                 opts, MHD_OPTION_END);
    if (a->daemon == NULL) {
        if (a->tls)
            LOG_ERROR("http: cannot serve HTTPS on %s: address in use or not local, or the "
                      "certificate and key are not a matching PEM pair (see above)",
                      cfg->listen);
        else
            LOG_ERROR("http: cannot listen on %s (address in use or not local?)", cfg->listen);
        err = FERRY_EIO;
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info != NULL ? info->port : 0;
    LOG_INFO("http: serving the API on %s over %s (port %u; %u threads, at most %u connections, "
             "idle ones closed after %u s)",
             cfg->listen, a->tls ? "HTTPS" : "plain HTTP", a->port, threads, limit, timeout);
    if (a->console != NULL)
        LOG_INFO("http: serving the web console at / (%zu files, %zu bytes)",
                 ferry_console_count(a->console), ferry_console_bytes(a->console));
    *out = a;
    return FERRY_OK;
fail:
    api_free(a);
    return err;
}

uint16_t ferry_api_port(const ferry_api *a) {
    return a->port;
}

void ferry_api_stop(ferry_api *a) {
    if (a == NULL)
        return;
    /* No connection may stay suspended when the daemon stops: the logs requests end first. */
    ferry_bridge_logs_cancel(a->bridge);
    if (a->daemon != NULL)
        MHD_stop_daemon(a->daemon);
    api_free(a);
}
