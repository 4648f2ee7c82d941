/* broker-bridge REST API: routing, request bodies, JSON answers (see api.h for the routes). */
#include "api.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct ferry_api {
    struct MHD_Daemon *daemon;
    ferry_bridge *bridge;
    uint16_t port;
};

/* One request being received. */
typedef struct {
    char *body;
    size_t len, cap;
    bool too_big;
    bool answered; /* a response was queued before the body was read (413) */
} request;

/* ---- answers --------------------------------------------------------------------------------- */

/* Queue status with body (stolen) as compact JSON. allow: Allow header for 405, or NULL. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *body,
                             const char *allow) {
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
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
out:
    ferry_free(text);
    json_decref(body);
    return ret;
}

/* Queue status with {"error": text, "field": field}; no "field" when it is NULL or "". */
static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *field,
                                  const char *text) {
    json_t *body = json_pack("{s:s}", "error", text);
    if (body != NULL && field != NULL && field[0] != '\0')
        json_object_set_new(body, "field", json_string(field));
    return reply(c, status, body, NULL);
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
        return reply(c, ok_status, out, NULL);
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

bool ferry_api__parse_path(const char *url, ferry_api__route *rt) {
    static const char prefix[] = "/v1/namespaces/";
    char *seg[5] = {0};
    size_t n = 0;

    memset(rt, 0, sizeof(*rt));
    if (strcmp(url, "/healthz") == 0) {
        rt->segs = 1;
        return true;
    }
    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0 || strlen(url) >= sizeof(rt->buf))
        return false;
    /* ns / collection [/ name [/ sub]] */
    strcpy(rt->buf, url + sizeof(prefix) - 1);
    for (char *p = rt->buf, *slash; n < 5; p = slash + 1) {
        seg[n++] = p;
        if ((slash = strchr(p, '/')) == NULL)
            break;
        *slash = '\0';
    }
    if (n < 2 || n > 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (seg[i][0] == '\0')
            return false;
    }
    static const char *const colls[FERRY_API_COLLECTIONS] = {"apps", "nodes", "configs"};
    static const char *const subs[FERRY_API_COLLECTIONS] = {"status", "apps", NULL};
    int c = 0;
    while (c < FERRY_API_COLLECTIONS && strcmp(seg[1], colls[c]) != 0)
        c++;
    if (c == FERRY_API_COLLECTIONS)
        return false;
    rt->coll = (ferry_api__collection)c;
    if (n == 4 && (subs[c] == NULL || strcmp(seg[3], subs[c]) != 0))
        return false;
    rt->segs = (int)n;
    rt->ns = seg[0];
    rt->name = n >= 3 ? seg[2] : NULL;
    return true;
}

/* ---- routes ---------------------------------------------------------------------------------- */

/* A strictly parsed non-negative query integer; 0 (which every caller rejects) when malformed. */
static long query_long(struct MHD_Connection *c, const char *key, long dflt) {
    return ferry_api__parse_count(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key), dflt);
}

static enum MHD_Result health(ferry_api *a, struct MHD_Connection *c) {
    bool up = false;
    uint64_t rev = 0;
    if (ferry_bridge_health(a->bridge, &up, &rev) != FERRY_OK)
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "storage failure; see the bridge log");
    return reply(c, MHD_HTTP_OK,
                 json_pack("{s:b, s:s, s:I}", "ok", 1, "mqtt", up ? "connected" : "disconnected",
                           "rev", (json_int_t)rev),
                 NULL);
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

static enum MHD_Result route(ferry_api *a, struct MHD_Connection *c, const char *url,
                             const char *method, const request *r) {
    ferry_api__route rt;
    json_t *out = NULL, *body = NULL;
    ferry_detail e = {"", ""};
    ferry_err err;
    enum MHD_Result ret;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    bool put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;
    bool del = strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;

    if (!ferry_api__parse_path(url, &rt))
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no route for %s %s", method, url);
    if (rt.segs == 1)
        return get ? health(a, c)
                   : reply(c, 405, json_pack("{s:s}", "error", "method not allowed"), "GET");
    const collection *col = &collections[rt.coll];
    const char *ns = rt.ns, *name = rt.name;
    int n = rt.segs;

    if (n == 2 && get) {
        ferry_bridge_page pg = {
            .page = query_long(c, "page", 1),
            .page_size = query_long(c, "pageSize", 20),
            .name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name"),
            .selector = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "selector"),
            .kind = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind")};
        err = col->list(a->bridge, ns, &pg, &out, &e);
    } else if (n == 2 && post) {
        if ((body = parse_body(c, r, &ret)) == NULL)
            return ret;
        err = col->create(a->bridge, ns, body, &out, &e);
        json_decref(body);
        return reply_result(c, err, MHD_HTTP_CREATED, out, &e, false);
    } else if (n == 2) {
        return reply(c, 405, json_pack("{s:s}", "error", "method not allowed"), "GET, POST");
    } else if (n == 3 && get) {
        err = col->get(a->bridge, ns, name, &out, &e);
    } else if (n == 3 && put) {
        if ((body = parse_body(c, r, &ret)) == NULL)
            return ret;
        err = col->update(a->bridge, ns, name, body, &out, &e);
        json_decref(body);
    } else if (n == 3 && del) {
        err = col->remove(a->bridge, ns, name, &out, &e);
    } else if (n == 3) {
        return reply(c, 405, json_pack("{s:s}", "error", "method not allowed"), "GET, PUT, DELETE");
    } else if (get) {
        err = col->sub_get(a->bridge, ns, name, &out, &e);
    } else {
        return reply(c, 405, json_pack("{s:s}", "error", "method not allowed"), "GET");
    }
    return reply_result(c, err, MHD_HTTP_OK, out, &e, n == 2 && get);
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

/* MHD calls this once when the headers are in, once per piece of body (*size > 0) and once at the
 * end (*size == 0), where the request is answered. A body over the cap is answered 413 at once
 * when Content-Length announces it, else read to the end and dropped. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls) {
    ferry_api *a = cls;
    request *r = *con_cls;
    (void)version;

    if (r == NULL) {
        if ((r = ferry_calloc(1, sizeof(*r))) == NULL)
            return MHD_NO;
        *con_cls = r;
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > FERRY_API_MAX_BODY) {
            r->too_big = r->answered = true;
            return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes",
                               FERRY_API_MAX_BODY);
        }
        return MHD_YES;
    }
    if (*size > 0) {
        if (!r->too_big && !append(r, data, *size)) {
            r->too_big = true;
            ferry_free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
        }
        *size = 0;
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    r->answered = true;
    if (r->too_big)
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes",
                           FERRY_API_MAX_BODY);
    enum MHD_Result ret = route(a, c, url, method, r);
    LOG_DEBUG("http: %s %s", method, url);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code) {
    request *r = *con_cls;
    (void)cls;
    (void)c;
    (void)code;
    if (r != NULL) {
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

ferry_err ferry_api_start(const char *listen, ferry_bridge *bridge, ferry_api **out) {
    struct sockaddr_storage ss = {0};
    ferry_api *a = NULL;
    ferry_err err = resolve(listen, &ss);

    *out = NULL;
    if (err != FERRY_OK)
        return err;
    if ((a = ferry_calloc(1, sizeof(*a))) == NULL)
        return FERRY_ENOMEM;
    a->bridge = bridge;
    /* One internal thread: MHD multiplexes the connections and calls on_request for one request
     * at a time, so API writes are serialised without further locking here. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (a->daemon == NULL) {
        LOG_ERROR("http: cannot listen on %s (address in use or not local?)", listen);
        ferry_free(a);
        return FERRY_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info != NULL ? info->port : 0;
    LOG_INFO("http: serving the API on %s (port %u)", listen, a->port);
    *out = a;
    return FERRY_OK;
}

uint16_t ferry_api_port(const ferry_api *a) {
    return a->port;
}

void ferry_api_stop(ferry_api *a) {
    if (a == NULL)
        return;
    if (a->daemon != NULL)
        MHD_stop_daemon(a->daemon);
    ferry_free(a);
}
