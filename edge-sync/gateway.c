/* edge-sync gateway: the loop thread, client connections, upstream connections and their pools
 * (gateway.h has the design, docs/gateway.md the HTTP contract).
 *
 * One call on a client connection, all on the loop thread:
 *   read -> ferry_gateway__req_feed (gateway_http.c) until a request is complete; reading stops
 *   -> ferry_gateway__route_request (gateway_route.c) on the current table, which the call holds
 *   -> an idle upstream connection of the route, or a new one (connect refused or missing socket:
 *      retried every RETRY_STEP_MS for up to FERRY_GATEWAY_RETRY_MS, then 503)
 *   -> the upstream request written from the connection's buffers, the response parsed with
 *      http_parser (HTTP_RESPONSE) into the upstream connection's buffers
 *   -> the response written to the client (the body buffer changes hands, no copy); the upstream
 *      connection goes back to its route's pool when it may; the call is counted once the write
 *      is done; the next pipelined request is parsed, reading starts again.
 * One timer per client connection is the idle timer between requests and the call's deadline
 * during a call; a second one paces connect retries. Buffers belong to connections and are
 * reused by their next requests: a warm call allocates nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <uv.h>

#include "gateway_internal.h"

#define RETRY_STEP_MS 50
#define READ_BUF (64 * 1024)

/* A growable byte buffer (reused; never shrinks). */
typedef struct {
    char *p;
    size_t len, cap;
} gbuf;

static bool gbuf_reserve(gbuf *b, size_t more) {
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap != 0 ? b->cap : 512;
    while (cap < b->len + more)
        cap *= 2;
    char *p = ferry_realloc(b->p, cap);
    if (p == NULL)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

static bool gbuf_add(gbuf *b, const void *data, size_t n) {
    if (!gbuf_reserve(b, n))
        return false;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return true;
}

static bool gbuf_str(gbuf *b, const char *s) {
    return gbuf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static bool gbuf_fmt(gbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if ((size_t)n >= b->cap - b->len) {
        if (!gbuf_reserve(b, (size_t)n + 1))
            return false;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return true;
}

/* Append s (len bytes) as the inside of a JSON string, at most max bytes of it; bytes outside
 * printable ASCII become '?'. */
static bool gbuf_json(gbuf *b, const char *s, size_t len, size_t max) {
    bool ok = true;
    for (size_t i = 0; i < len && i < max && ok; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ok = gbuf_add(b, e, 2);
        } else {
            char ch = c >= 0x20 && c < 0x7f ? (char)c : '?';
            ok = gbuf_add(b, &ch, 1);
        }
    }
    if (len > max && ok)
        ok = gbuf_str(b, "...");
    return ok;
}

typedef struct gw_conn gw_conn;

typedef struct ferry_gateway__up {
    struct ferry_gateway__up *prev, *next; /* every upstream connection of the gateway */
    struct ferry_gateway__up *next_idle;   /* in route->idle */
    ferry_gateway *gw;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_connect_t creq;
    uv_write_t wreq;
    http_parser parser;
    gw_conn *conn;               /* the call it serves, NULL when idle */
    ferry_gateway__route *route; /* idle: the route whose pool holds it */
    int dirfd;                   /* a long socket path's folder while connecting, else -1 */
    bool function;               /* speaks to a runtime (relay only Content-Type) */
    bool head_request;           /* the request was HEAD: the response has no body */
    bool complete, got_bytes, reused, closing, reading;
    int last;                 /* header parsing: 0, 1 in a name, 2 in a value */
    size_t hstart, hname_len; /* the header being read, in hbuf */
    gbuf hbuf;                /* the response headers to relay, "Name: value\r\n" each */
    gbuf body;
    bool too_big;
} gw_up;

struct gw_conn {
    gw_conn *prev, *next;
    ferry_gateway *gw;
    uv_tcp_t tcp;
    uv_timer_t timer; /* idle between requests; the call's deadline during one */
    uv_timer_t retry; /* paces connect retries */
    int open_handles;
    bool closing, busy, reading;
    ferry_gateway__req req;
    gbuf pending; /* received bytes not parsed yet (pipelined requests) */
    size_t pending_off;
    /* The call. */
    ferry_gateway__decision d;
    ferry_gateway__table *table; /* held while busy with a routed call */
    ferry_gateway__series *series;
    gw_up *up;
    uint64_t deadline_ns, retry_until_ns;
    bool retried_stale;
    gbuf out;   /* the upstream request's head */
    gbuf rhead; /* the response head */
    gbuf rbody; /* the response body (swapped with the upstream's) */
    int status;
    bool close_after;
    uv_write_t wreq;
    uv_write_t creq; /* "100 Continue" */
};

struct ferry_gateway {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t async;
    uv_tcp_t listeners[FERRY_GATEWAY_MAX_ADDRESSES];
    size_t nlisteners;
    int port;
    int64_t start_ms;
    ferry_gateway__stats stats;
    /* set_routes and stop hand over under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_mutex_t set_mu; /* one set_routes at a time */
    ferry_gateway__table *pending;
    uint64_t posted, applied;
    bool stop_asked;
    /* Loop thread only. */
    bool stopping;
    ferry_gateway__table *table;
    gw_conn *conns;
    size_t nconns;
    gw_up *ups;
    char id_prefix[32];
    uint64_t id_counter;
    char rbuf[READ_BUF];
    bool rbuf_busy;
};

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static uint64_t now_ns(void) {
    return uv_hrtime();
}

/* ---- tables on the loop ---------------------------------------------------------------------- */

static void up_close(gw_up *up);

static void table_unref(ferry_gateway *gw, ferry_gateway__table *t) {
    if (t == NULL || --t->refs > 0)
        return;
    for (size_t i = 0; i < t->n; i++)
        while (t->routes[i].idle != NULL)
            up_close(t->routes[i].idle);
    ferry_gateway__table_free(t, &gw->stats);
}

static bool same_endpoint(const ferry_gateway__route *a, const ferry_gateway__route *b) {
    if (a->function != b->function)
        return false;
    if (a->function)
        return strcmp(a->socket, b->socket) == 0;
    return a->addr.sin_addr.s_addr == b->addr.sin_addr.s_addr &&
           a->addr.sin_port == b->addr.sin_port;
}

/* Make t the current table: idle connections of routes that keep their endpoint move over. */
static void table_swap(ferry_gateway *gw, ferry_gateway__table *t) {
    ferry_gateway__table *old = gw->table;
    if (old != NULL) {
        for (size_t i = 0; i < t->n; i++) {
            ferry_gateway__route *r = &t->routes[i];
            ferry_gateway__route *o =
                ferry_gateway__table_find(old, r->service, strlen(r->service));
            if (o == NULL || !same_endpoint(o, r))
                continue;
            while (o->idle != NULL) {
                gw_up *up = o->idle;
                o->idle = up->next_idle;
                o->nidle--;
                up->next_idle = r->idle;
                up->route = r;
                r->idle = up;
                r->nidle++;
            }
        }
        for (size_t i = 0; i < old->n; i++)
            while (old->routes[i].idle != NULL)
                up_close(old->routes[i].idle);
    }
    gw->table = t;
    table_unref(gw, old);
}

/* ---- upstream connections -------------------------------------------------------------------- */

static void up_freed(uv_handle_t *h) {
    gw_up *up = h->data;
    ferry_free(up->hbuf.p);
    ferry_free(up->body.p);
    ferry_free(up);
}

static void pool_remove(gw_up *up) {
    ferry_gateway__route *r = up->route;
    if (r == NULL)
        return;
    for (gw_up **pp = &r->idle; *pp != NULL; pp = &(*pp)->next_idle) {
        if (*pp == up) {
            *pp = up->next_idle;
            r->nidle--;
            break;
        }
    }
    up->route = NULL;
    up->next_idle = NULL;
}

/* Close up (idle or in a call, which must have let go of it: up->conn is cleared here). */
static void up_close(gw_up *up) {
    if (up->closing)
        return;
    up->closing = true;
    pool_remove(up);
    if (up->conn != NULL && up->conn->up == up)
        up->conn->up = NULL;
    up->conn = NULL;
    if (up->dirfd >= 0) {
        close(up->dirfd);
        up->dirfd = -1;
    }
    if (up->prev != NULL)
        up->prev->next = up->next;
    else
        up->gw->ups = up->next;
    if (up->next != NULL)
        up->next->prev = up->prev;
    uv_close(&up->h.handle, up_freed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    ferry_gateway *gw = h->loop->data;
    /* One buffer for the whole loop: every read is consumed (parsed or copied) in its callback. */
    if (gw->rbuf_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    gw->rbuf_busy = true;
    buf->base = gw->rbuf;
    buf->len = sizeof(gw->rbuf);
}

static int up_on_header_field(http_parser *p, const char *at, size_t len);
static int up_on_header_value(http_parser *p, const char *at, size_t len);
static int up_on_headers_complete(http_parser *p);
static int up_on_body(http_parser *p, const char *at, size_t len);
static int up_on_message_complete(http_parser *p);

static const http_parser_settings up_settings = {
    .on_header_field = up_on_header_field,
    .on_header_value = up_on_header_value,
    .on_headers_complete = up_on_headers_complete,
    .on_body = up_on_body,
    .on_message_complete = up_on_message_complete,
};

/* End the header being read: keep it in hbuf when it is relayed. */
static void up_header_end(gw_up *up) {
    if (up->last != 2 && up->last != 1)
        return;
    const char *name = up->hbuf.p + up->hstart;
    bool keep = up->function ? up->hname_len == 12 && strncasecmp(name, "content-type", 12) == 0
                             : !ferry_gateway__hop_by_hop(name, up->hname_len) ||
                                   (up->head_request && up->hname_len == 14 &&
                                    strncasecmp(name, "content-length", 14) == 0);
    if (up->last == 1 && !gbuf_str(&up->hbuf, ":"))
        keep = false;
    if (keep && gbuf_str(&up->hbuf, "\r\n"))
        return;
    up->hbuf.len = up->hstart;
}

static int up_on_header_field(http_parser *p, const char *at, size_t len) {
    gw_up *up = p->data;
    if (up->last != 1) {
        up_header_end(up);
        up->hstart = up->hbuf.len;
        up->hname_len = 0;
        up->last = 1;
    }
    if (up->hbuf.len + len > FERRY_GATEWAY_MAX_HEAD * 4 || !gbuf_add(&up->hbuf, at, len)) {
        up->too_big = true;
        return -1;
    }
    up->hname_len += len;
    return 0;
}

static int up_on_header_value(http_parser *p, const char *at, size_t len) {
    gw_up *up = p->data;
    if (up->last != 2) {
        if (!gbuf_str(&up->hbuf, ": "))
            return -1;
        up->last = 2;
    }
    if (up->hbuf.len + len > FERRY_GATEWAY_MAX_HEAD * 4 || !gbuf_add(&up->hbuf, at, len)) {
        up->too_big = true;
        return -1;
    }
    return 0;
}

static int up_on_headers_complete(http_parser *p) {
    gw_up *up = p->data;
    up_header_end(up);
    up->last = 0;
    if ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length > FERRY_GATEWAY_MAX_RESPONSE) {
        up->too_big = true;
        return -1;
    }
    if ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length > 0 &&
        !gbuf_reserve(&up->body, (size_t)p->content_length))
        return -1;
    return up->head_request ? 1 : 0;
}

static int up_on_body(http_parser *p, const char *at, size_t len) {
    gw_up *up = p->data;
    if (up->body.len + len > FERRY_GATEWAY_MAX_RESPONSE || !gbuf_add(&up->body, at, len)) {
        up->too_big = true;
        return -1;
    }
    return 0;
}

static int up_on_message_complete(http_parser *p) {
    gw_up *up = p->data;
    if (p->status_code < 200) {
        /* An interim response (100 Continue, 103): the real one follows. */
        up->hbuf.len = 0;
        up->body.len = 0;
        return 0;
    }
    up->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- client connections ---------------------------------------------------------------------- */

static void conn_close(gw_conn *c);
static void conn_respond(gw_conn *c);
static void conn_error(gw_conn *c, int status, bool close_after, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void call_connect(gw_conn *c);
static void call_send(gw_conn *c);

static const char *route_kind(const gw_conn *c) {
    return c->d.route != NULL && c->d.route->function ? "runtime of service" : "service";
}

/* Let go of the call's upstream connection: back to its route's pool when reusable and the
 * call's table is still the current one, else closed. */
static void call_end_upstream(gw_conn *c, bool reusable) {
    gw_up *up = c->up;
    if (up == NULL)
        return;
    c->up = NULL;
    up->conn = NULL;
    uv_timer_stop(&c->retry);
    ferry_gateway__route *r = c->d.route;
    if (reusable && !c->gw->stopping && c->table == c->gw->table && r != NULL &&
        r->nidle < FERRY_GATEWAY_POOL) {
        up->route = r;
        up->next_idle = r->idle;
        r->idle = up;
        r->nidle++;
        return; /* it keeps reading: an EOF while idle closes it */
    }
    up_close(up);
}

/* Relay the upstream's complete response. */
static void call_relay(gw_conn *c) {
    gw_up *up = c->up;
    const ferry_gateway__route *r = c->d.route;
    uv_timer_stop(&c->timer);
    c->status = up->parser.status_code;
    bool reusable = http_should_keep_alive(&up->parser) != 0;
    /* The body changes hands: the connection sends it, the upstream reads into the old one. */
    gbuf b = c->rbody;
    c->rbody = up->body;
    up->body = b;
    up->body.len = 0;
    c->rhead.len = 0;
    bool ok =
        gbuf_fmt(&c->rhead, "HTTP/1.1 %d %s\r\n", c->status, ferry_gateway__reason(c->status)) &&
        gbuf_add(&c->rhead, up->hbuf.p, up->hbuf.len);
    if (ok && !up->head_request)
        ok = gbuf_fmt(&c->rhead, "Content-Length: %zu\r\n", c->rbody.len);
    if (c->status >= 500 && r->function) {
        const char *body = c->rbody.len > 0 ? c->rbody.p : "";
        size_t n = 0;
        while (n < c->rbody.len && n < 300 && body[n] != '\n' && body[n] != '\r')
            n++;
        gbuf line = {0};
        if (gbuf_json(&line, body, n, 300) && gbuf_add(&line, "", 1))
            LOG_WARN("gateway: %s/%s service '%s' function '%s' answered %d: %s", r->ns, r->app,
                     r->service, r->functions[c->d.function], c->status, line.p);
        ferry_free(line.p);
    }
    call_end_upstream(c, reusable);
    if (!ok) {
        c->rbody.len = 0;
        conn_error(c, 503, true, "out of memory");
        return;
    }
    conn_respond(c);
}

/* The upstream failed before a complete response. */
static void call_upstream_failed(gw_conn *c, const char *what) {
    gw_up *up = c->up;
    bool stale = up != NULL && up->reused && !up->got_bytes && !c->retried_stale;
    if (up != NULL)
        call_end_upstream(c, false);
    if (stale) {
        /* A pooled connection the upstream had closed: once more on a fresh one. */
        c->retried_stale = true;
        call_connect(c);
        return;
    }
    uv_timer_stop(&c->timer);
    conn_error(c, 502, false, "the %s '%.*s' failed: %s", route_kind(c), (int)c->d.service_len,
               c->d.service, what);
}

static void up_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    gw_up *up = s->data;
    ferry_gateway *gw = up->gw;
    if (buf->base == gw->rbuf)
        gw->rbuf_busy = false;
    if (nread == 0)
        return;
    gw_conn *c = up->conn;
    if (c == NULL) {
        /* Idle: the upstream closed it, or sent what nobody asked for. */
        up_close(up);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && up->got_bytes) {
            http_parser_execute(&up->parser, &up_settings, NULL, 0); /* body ended by close */
            if (up->complete) {
                call_relay(c);
                return;
            }
        }
        call_upstream_failed(c, nread == UV_EOF ? "it closed the connection without an answer"
                                                : uv_strerror((int)nread));
        return;
    }
    up->got_bytes = true;
    size_t n = http_parser_execute(&up->parser, &up_settings, buf->base, (size_t)nread);
    (void)n;
    if (up->complete) {
        call_relay(c);
        return;
    }
    if (HTTP_PARSER_ERRNO(&up->parser) != HPE_OK) {
        uv_timer_stop(&c->timer);
        call_end_upstream(c, false);
        if (up->too_big)
            conn_error(c, 502, false, "the answer of the %s '%.*s' exceeds %d MiB", route_kind(c),
                       (int)c->d.service_len, c->d.service, FERRY_GATEWAY_MAX_RESPONSE >> 20);
        else
            conn_error(c, 502, false, "the %s '%.*s' answered malformed HTTP", route_kind(c),
                       (int)c->d.service_len, c->d.service);
    }
}

static void up_write_cb(uv_write_t *w, int status) {
    gw_up *up = w->data;
    if (status < 0 && status != UV_ECANCELED && up->conn != NULL && !up->closing)
        call_upstream_failed(up->conn, uv_strerror(status));
}

/* Send the request on c->up (connected). */
static void call_send(gw_conn *c) {
    gw_up *up = c->up;
    http_parser_init(&up->parser, HTTP_RESPONSE);
    up->parser.data = up;
    up->complete = up->got_bytes = up->too_big = false;
    up->last = 0;
    up->hbuf.len = 0;
    up->body.len = 0;
    up->function = c->d.route->function;
    up->head_request = c->req.parser.method == HTTP_HEAD;
    uv_buf_t bufs[2] = {uv_buf_init(c->out.p, (unsigned)c->out.len),
                        uv_buf_init(c->req.body, (unsigned)c->req.body_len)};
    up->wreq.data = up;
    int rc = 0;
    if (!up->reading) { /* a pooled connection reads all along */
        rc = uv_read_start(&up->h.stream, alloc_cb, up_read_cb);
        up->reading = rc == 0;
    }
    if (rc == 0)
        rc = uv_write(&up->wreq, &up->h.stream, bufs, c->req.body_len > 0 ? 2 : 1, up_write_cb);
    if (rc != 0)
        call_upstream_failed(c, uv_strerror(rc));
}

static void retry_cb(uv_timer_t *t) {
    call_connect(t->data);
}

static void connect_cb(uv_connect_t *req, int status) {
    gw_up *up = req->data;
    if (up->dirfd >= 0) {
        close(up->dirfd);
        up->dirfd = -1;
    }
    if (up->closing)
        return;
    gw_conn *c = up->conn;
    if (c == NULL) {
        up_close(up);
        return;
    }
    if (status == 0) {
        if (!up->function)
            uv_tcp_nodelay(&up->h.tcp, 1);
        call_send(c);
        return;
    }
    call_end_upstream(c, false);
    uint64_t now = now_ns();
    bool down = status == UV_ENOENT || status == UV_ECONNREFUSED || status == UV_EAGAIN ||
                status == UV_ENOTDIR;
    if (down && now + (uint64_t)RETRY_STEP_MS * 1000000 < c->retry_until_ns &&
        now + (uint64_t)RETRY_STEP_MS * 1000000 < c->deadline_ns) {
        uv_timer_start(&c->retry, retry_cb, RETRY_STEP_MS, 0);
        return;
    }
    uv_timer_stop(&c->timer);
    if (c->d.route->function)
        conn_error(c, 503, false, "the runtime of service '%s' is not running (%s)",
                   c->d.route->service, uv_strerror(status));
    else
        conn_error(c, 503, false, "the service '%s' is not answering at %s (%s)",
                   c->d.route->service, c->d.route->target, uv_strerror(status));
}

/* Connect a new upstream connection for c's call. */
static void call_connect(gw_conn *c) {
    ferry_gateway *gw = c->gw;
    ferry_gateway__route *r = c->d.route;
    gw_up *up = ferry_calloc(1, sizeof(*up));
    if (up == NULL) {
        uv_timer_stop(&c->timer);
        conn_error(c, 503, true, "out of memory");
        return;
    }
    up->gw = gw;
    up->dirfd = -1;
    up->function = r->function;
    up->conn = c;
    c->up = up;
    up->h.handle.data = up;
    up->creq.data = up;
    up->next = gw->ups;
    if (gw->ups != NULL)
        gw->ups->prev = up;
    gw->ups = up;
    if (!r->function) {
        uv_tcp_init(&gw->loop, &up->h.tcp);
        int rc =
            uv_tcp_connect(&up->creq, &up->h.tcp, (const struct sockaddr *)&r->addr, connect_cb);
        if (rc != 0) {
            up->creq.data = up;
            call_end_upstream(c, false);
            uv_timer_stop(&c->timer);
            conn_error(c, 503, false, "the service '%s' is not answering at %s (%s)", r->service,
                       r->target, uv_strerror(rc));
        }
        return;
    }
    uv_pipe_init(&gw->loop, &up->h.pipe, 0);
    /* sun_path holds 107 bytes: a longer path is reached through its folder's descriptor. */
    char path[128];
    const char *connect_to = r->socket;
    if (strlen(r->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        const char *slash = strrchr(r->socket, '/');
        char dir[4096];
        size_t dlen = (size_t)(slash - r->socket);
        if (dlen == 0 || dlen >= sizeof(dir))
            dlen = 1;
        memcpy(dir, r->socket, dlen);
        dir[dlen] = '\0';
        up->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int n = snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", up->dirfd, slash + 1);
        if (n < 0 || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            LOG_WARN("gateway: %s/%s service '%s': the socket name in %s is too long", r->ns,
                     r->app, r->service, r->socket);
            snprintf(path, sizeof(path), "/proc/self/fd/-1/x"); /* fails: ENOENT */
        }
        connect_to = path; /* an ENOENT folder makes the descriptor -1: the connect fails */
    }
    uv_pipe_connect(&up->creq, &up->h.pipe, connect_to, connect_cb);
}

static void timeout_cb(uv_timer_t *t) {
    gw_conn *c = t->data;
    if (!c->busy) {
        conn_close(c); /* idle too long, or too slow to send a request */
        return;
    }
    if (c->up != NULL)
        call_end_upstream(c, false);
    uv_timer_stop(&c->retry);
    const ferry_gateway__route *r = c->d.route;
    if (r->function)
        conn_error(c, 504, false, "function '%s' of service '%s' did not answer within %u ms",
                   r->functions[c->d.function], r->service, r->timeout_ms);
    else
        conn_error(c, 504, false, "the service '%s' did not answer within %u ms", r->service,
                   r->timeout_ms);
}

/* Build the upstream request's head in c->out. */
static bool build_request(gw_conn *c) {
    const ferry_gateway__route *r = c->d.route;
    ferry_gateway__req *q = &c->req;
    ferry_gateway *gw = c->gw;
    c->out.len = 0;
    if (r->function) {
        bool ok = gbuf_fmt(&c->out,
                           "POST /%s HTTP/1.1\r\nHost: localhost\r\nX-Ferry-Invoke-Id: %s%012llx"
                           "\r\nContent-Length: %zu\r\n",
                           r->functions[c->d.function], gw->id_prefix,
                           (unsigned long long)(++gw->id_counter & 0xffffffffffffULL), q->body_len);
        if (ok && q->content_type >= 0) {
            const ferry_gateway__header *h = &q->headers[q->content_type];
            ok = gbuf_str(&c->out, "Content-Type: ") &&
                 gbuf_add(&c->out, q->head + h->value, h->value_len) && gbuf_str(&c->out, "\r\n");
        }
        return ok && gbuf_str(&c->out, "\r\n");
    }
    bool ok = gbuf_str(&c->out, http_method_str((enum http_method)q->parser.method)) &&
              gbuf_str(&c->out, c->d.rest_len == 0 || c->d.rest[0] != '/' ? " /" : " ") &&
              gbuf_add(&c->out, c->d.rest, c->d.rest_len) && gbuf_str(&c->out, " HTTP/1.1\r\n");
    bool host = false;
    for (size_t i = 0; i < q->nheaders && ok; i++) {
        const ferry_gateway__header *h = &q->headers[i];
        if (ferry_gateway__hop_by_hop(q->head + h->name, h->name_len))
            continue;
        if (h->name_len == 4 && strncasecmp(q->head + h->name, "host", 4) == 0)
            host = true;
        ok = gbuf_add(&c->out, q->head + h->name, h->name_len) && gbuf_str(&c->out, ": ") &&
             gbuf_add(&c->out, q->head + h->value, h->value_len) && gbuf_str(&c->out, "\r\n");
    }
    if (ok && !host)
        ok = gbuf_fmt(&c->out, "Host: %s\r\n", r->target);
    enum http_method m = (enum http_method)q->parser.method;
    if (ok && (q->body_len > 0 || m == HTTP_POST || m == HTTP_PUT || m == HTTP_PATCH))
        ok = gbuf_fmt(&c->out, "Content-Length: %zu\r\n", q->body_len);
    return ok && gbuf_str(&c->out, "\r\n");
}

/* The series a decided request counts in (NULL: not counted). */
static ferry_gateway__series *decision_series(ferry_gateway *gw, const ferry_gateway__decision *d) {
    ferry_gateway__route *r = d->route;
    if (r == NULL || r->series == NULL)
        return NULL;
    if (!r->function)
        return r->series[0];
    if (d->verdict == FERRY_GATEWAY_CALL)
        return r->series[d->function];
    if (r->series[r->nfunctions] == NULL) /* the misses' series, attached on first use */
        r->series[r->nfunctions] = ferry_gateway__stats_attach(
            &gw->stats, r->ns, r->app, r->service, FERRY_STATS_PROXY_FUNCTION);
    return r->series[r->nfunctions];
}

/* A complete request: route it and start the call or answer. */
static void conn_dispatch(gw_conn *c) {
    ferry_gateway *gw = c->gw;
    ferry_gateway__req *q = &c->req;
    c->busy = true;
    c->close_after = !q->keep_alive;
    c->retried_stale = false;
    uv_timer_stop(&c->timer);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    ferry_gateway__route_request(gw->table, q->parser.method, q->head, q->url_len, &c->d);
    c->table = gw->table;
    c->table->refs++;
    c->series = decision_series(gw, &c->d);
    const ferry_gateway__decision *d = &c->d;
    switch (d->verdict) {
    case FERRY_GATEWAY_BAD_TARGET:
        conn_error(c, 400, false, "the request target must be a path: /{service}/...");
        return;
    case FERRY_GATEWAY_NO_SERVICE:
        conn_error(c, 404, false, "no service '%.*s' on this node", (int)d->service_len,
                   d->service);
        return;
    case FERRY_GATEWAY_NO_FUNCTION:
        conn_error(c, 404, false, "no function '%.*s' in service '%s'", (int)d->name_len, d->name,
                   d->route->service);
        return;
    case FERRY_GATEWAY_BAD_METHOD:
        conn_error(c, 405, false, "functions of service '%s' are called with POST",
                   d->route->service);
        return;
    case FERRY_GATEWAY_CALL:
    case FERRY_GATEWAY_PROXY:
        break;
    }
    if (!build_request(c)) {
        conn_error(c, 503, true, "out of memory");
        return;
    }
    uint64_t now = now_ns();
    c->deadline_ns = now + (uint64_t)d->route->timeout_ms * 1000000;
    c->retry_until_ns = now + (uint64_t)FERRY_GATEWAY_RETRY_MS * 1000000;
    uv_timer_start(&c->timer, timeout_cb, d->route->timeout_ms, 0);
    ferry_gateway__route *r = d->route;
    if (r->idle != NULL) {
        gw_up *up = r->idle;
        r->idle = up->next_idle;
        r->nidle--;
        up->next_idle = NULL;
        up->route = NULL;
        up->conn = c;
        up->reused = true;
        c->up = up;
        call_send(c);
        return;
    }
    call_connect(c);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Parse what is pending, dispatching the next complete request, until the connection is busy or
 * the bytes run out. */
static void conn_drain(gw_conn *c) {
    while (!c->busy && !c->closing && c->pending_off < c->pending.len) {
        size_t n = ferry_gateway__req_feed(&c->req, c->pending.p + c->pending_off,
                                           c->pending.len - c->pending_off, now_ns());
        c->pending_off += n;
        if (c->req.state == FERRY_GATEWAY_REQ_ERROR) {
            c->busy = true;
            if (c->reading) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->reading = false;
            }
            /* A body too big is still counted for a route it names (the URL is in by then). */
            if (c->req.error_status == 413) {
                ferry_gateway__route_request(c->gw->table, c->req.parser.method, c->req.head,
                                             c->req.url_len, &c->d);
                c->table = c->gw->table;
                c->table->refs++;
                c->series = c->d.verdict == FERRY_GATEWAY_NO_SERVICE ||
                                    c->d.verdict == FERRY_GATEWAY_BAD_TARGET
                                ? NULL
                                : decision_series(c->gw, &c->d);
            }
            uv_timer_stop(&c->timer);
            conn_error(c, c->req.error_status, true, "%s", c->req.error);
            return;
        }
        if (c->req.state == FERRY_GATEWAY_REQ_COMPLETE) {
            conn_dispatch(c);
            break;
        }
        if (c->req.expect_continue) {
            c->req.expect_continue = false;
            uv_buf_t b = uv_buf_init((char *)continue_line, sizeof(continue_line) - 1);
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: curl goes on anyway */
        }
    }
    if (c->pending_off == c->pending.len)
        c->pending.len = c->pending_off = 0;
    if (!c->busy && !c->closing && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, conn_read_cb) == 0)
            c->reading = true;
        else
            conn_close(c);
    }
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    gw_conn *c = s->data;
    ferry_gateway *gw = c->gw;
    bool shared = buf->base == gw->rbuf;
    if (nread < 0) {
        if (shared)
            gw->rbuf_busy = false;
        conn_close(c);
        return;
    }
    bool ok = nread == 0 || gbuf_add(&c->pending, buf->base, (size_t)nread);
    if (shared)
        gw->rbuf_busy = false;
    if (!ok) {
        conn_close(c);
        return;
    }
    conn_drain(c);
}

static void conn_freed(uv_handle_t *h) {
    gw_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    ferry_gateway__req_free(&c->req);
    ferry_free(c->pending.p);
    ferry_free(c->out.p);
    ferry_free(c->rhead.p);
    ferry_free(c->rbody.p);
    ferry_free(c);
}

static void conn_close(gw_conn *c) {
    if (c->closing)
        return;
    c->closing = true;
    ferry_gateway *gw = c->gw;
    if (c->up != NULL)
        call_end_upstream(c, false);
    if (c->table != NULL) {
        table_unref(gw, c->table);
        c->table = NULL;
    }
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        gw->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    gw->nconns--;
    uv_close((uv_handle_t *)&c->tcp, conn_freed);
    uv_close((uv_handle_t *)&c->timer, conn_freed);
    uv_close((uv_handle_t *)&c->retry, conn_freed);
}

static void conn_write_cb(uv_write_t *w, int status) {
    gw_conn *c = w->data;
    ferry_gateway *gw = c->gw;
    if (c->closing)
        return;
    uint64_t us = (now_ns() - c->req.start_ns) / 1000;
    ferry_gateway__stats_count(&gw->stats, c->series, c->status, us);
    c->series = NULL;
    if (c->table != NULL) {
        table_unref(gw, c->table);
        c->table = NULL;
    }
    if (status < 0 || c->close_after || gw->stopping) {
        conn_close(c);
        return;
    }
    ferry_gateway__req_next(&c->req);
    if (c->rbody.cap > FERRY_GATEWAY__KEEP_BUFFER) {
        ferry_free(c->rbody.p);
        c->rbody = (gbuf){0};
    }
    c->busy = false;
    uv_timer_start(&c->timer, timeout_cb, FERRY_GATEWAY_IDLE_MS, 0);
    conn_drain(c);
}

/* Write c->rhead (completed here) and c->rbody. */
static void conn_respond(gw_conn *c) {
    bool ok = gbuf_str(&c->rhead, c->close_after ? "Connection: close\r\n\r\n"
                                                 : "Connection: keep-alive\r\n\r\n");
    if (!ok) {
        conn_close(c);
        return;
    }
    uv_buf_t bufs[2] = {uv_buf_init(c->rhead.p, (unsigned)c->rhead.len),
                        uv_buf_init(c->rbody.p, (unsigned)c->rbody.len)};
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, c->rbody.len > 0 ? 2 : 1, conn_write_cb) !=
        0)
        conn_close(c);
}

/* Answer a gateway error: {"error": "..."}. */
static void conn_error(gw_conn *c, int status, bool close_after, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    c->status = status;
    c->close_after = c->close_after || close_after;
    c->rbody.len = 0;
    c->rhead.len = 0;
    bool ok = gbuf_str(&c->rbody, "{\"error\": \"") && gbuf_json(&c->rbody, msg, len, len) &&
              gbuf_str(&c->rbody, "\"}\n") &&
              gbuf_fmt(&c->rhead,
                       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                       "%zu\r\n",
                       status, ferry_gateway__reason(status), c->rbody.len);
    if (!ok) {
        conn_close(c);
        return;
    }
    conn_respond(c);
}

static void on_connection(uv_stream_t *server, int status) {
    ferry_gateway *gw = server->data;
    if (status < 0 || gw->stopping)
        return;
    gw_conn *c = ferry_calloc(1, sizeof(*c));
    if (c == NULL) {
        LOG_WARN("gateway: out of memory for a new connection");
        return;
    }
    c->gw = gw;
    ferry_gateway__req_init(&c->req);
    uv_tcp_init(&gw->loop, &c->tcp);
    uv_timer_init(&gw->loop, &c->timer);
    uv_timer_init(&gw->loop, &c->retry);
    c->tcp.data = c->timer.data = c->retry.data = c;
    c->open_handles = 3;
    c->next = gw->conns;
    if (gw->conns != NULL)
        gw->conns->prev = c;
    gw->conns = c;
    gw->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || gw->nconns > FERRY_GATEWAY_MAX_CONNS) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, timeout_cb, FERRY_GATEWAY_IDLE_MS, 0);
    conn_drain(c); /* starts reading */
}

/* ---- the loop thread and the API ------------------------------------------------------------- */

static void async_cb(uv_async_t *a) {
    ferry_gateway *gw = a->data;
    pthread_mutex_lock(&gw->mu);
    ferry_gateway__table *t = gw->pending;
    gw->pending = NULL;
    uint64_t posted = gw->posted;
    bool stop = gw->stop_asked;
    pthread_mutex_unlock(&gw->mu);
    if (t != NULL)
        table_swap(gw, t);
    pthread_mutex_lock(&gw->mu);
    gw->applied = posted;
    pthread_cond_broadcast(&gw->cond);
    pthread_mutex_unlock(&gw->mu);
    if (!stop || gw->stopping)
        return;
    gw->stopping = true;
    for (size_t i = 0; i < gw->nlisteners; i++)
        uv_close((uv_handle_t *)&gw->listeners[i], NULL);
    while (gw->conns != NULL)
        conn_close(gw->conns);
    while (gw->ups != NULL)
        up_close(gw->ups);
    table_unref(gw, gw->table);
    gw->table = NULL;
    uv_close((uv_handle_t *)&gw->async, NULL);
}

static void loop_main(void *arg) {
    ferry_gateway *gw = arg;
    uv_run(&gw->loop, UV_RUN_DEFAULT);
}

static void gateway_free(ferry_gateway *gw) {
    if (uv_loop_close(&gw->loop) != 0)
        LOG_WARN("gateway: handles left open at stop");
    ferry_gateway__table_free(gw->pending, &gw->stats);
    ferry_gateway__stats_destroy(&gw->stats);
    pthread_mutex_destroy(&gw->mu);
    pthread_mutex_destroy(&gw->set_mu);
    pthread_cond_destroy(&gw->cond);
    ferry_free(gw);
}

/* A TCP socket bound to sa, or a negative errno. IP_FREEBIND: the address of an engine's bridge
 * may not exist yet (Podman creates its bridge with the first container on the network); the
 * gateway listens on it from the start and is reachable once it appears. */
static int bound_socket(const struct sockaddr_in *sa) {
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

ferry_err ferry_gateway_start(const ferry_gateway_opts *o, ferry_gateway **out, char *why,
                              size_t whylen) {
    ferry_err err = FERRY_EINVAL;
    char tmp[256];
    if (why == NULL || whylen == 0) {
        why = tmp;
        whylen = sizeof(tmp);
    }
    why[0] = '\0';
    *out = NULL;
    if (o == NULL || o->naddresses == 0 || o->naddresses > FERRY_GATEWAY_MAX_ADDRESSES ||
        o->addresses == NULL || o->port < 0 || o->port > 65535) {
        snprintf(why, whylen, "1 to %d addresses and a port 0-65535 are needed",
                 FERRY_GATEWAY_MAX_ADDRESSES);
        return FERRY_EINVAL;
    }
    ferry_gateway *gw = ferry_calloc(1, sizeof(*gw));
    if (gw == NULL) {
        snprintf(why, whylen, "out of memory");
        return FERRY_ENOMEM;
    }
    uv_loop_init(&gw->loop);
    gw->loop.data = gw;
    ferry_gateway__stats_init(&gw->stats);
    pthread_mutex_init(&gw->mu, NULL);
    pthread_mutex_init(&gw->set_mu, NULL);
    pthread_cond_init(&gw->cond, NULL);
    gw->start_ms = ferry_now_ms();
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    /* A version-4-looking UUID: 62 random bits here, then a 48-bit call counter. */
    snprintf(gw->id_prefix, sizeof(gw->id_prefix), "%02x%02x%02x%02x-%02x%02x-4%01x%02x-%01x%03x-",
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6] & 0xfu, rnd[7],
             8u | (rnd[6] >> 6), (unsigned)((rnd[2] << 4) ^ rnd[5]) & 0xfffu);
    gw->table = ferry_gateway__table_build(NULL, 0, NULL);
    if (gw->table == NULL) {
        err = FERRY_ENOMEM;
        goto fail;
    }
    uv_async_init(&gw->loop, &gw->async, async_cb);
    gw->async.data = gw;
    gw->port = o->port;
    for (size_t i = 0; i < o->naddresses; i++) {
        struct sockaddr_in sa;
        int rc = uv_ip4_addr(o->addresses[i] != NULL ? o->addresses[i] : "", gw->port, &sa);
        if (rc != 0) {
            snprintf(why, whylen, "'%s' is not an IPv4 address",
                     o->addresses[i] != NULL ? o->addresses[i] : "");
            goto fail;
        }
        uv_tcp_t *l = &gw->listeners[gw->nlisteners];
        uv_tcp_init(&gw->loop, l);
        l->data = gw;
        gw->nlisteners++;
        int fd = bound_socket(&sa);
        rc = fd < 0 ? fd : uv_tcp_open(l, fd);
        if (rc != 0 && fd >= 0)
            close(fd);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)l, 511, on_connection);
        if (rc != 0) {
            snprintf(why, whylen, "cannot listen on %s:%d: %s", o->addresses[i], gw->port,
                     uv_strerror(rc));
            err = FERRY_EIO;
            goto fail;
        }
        if (gw->port == 0) {
            struct sockaddr_in bound;
            int len = sizeof(bound);
            uv_tcp_getsockname(l, (struct sockaddr *)&bound, &len);
            gw->port = ntohs(bound.sin_port);
        }
    }
    if (uv_thread_create(&gw->thread, loop_main, gw) != 0) {
        snprintf(why, whylen, "cannot start the gateway's thread");
        err = FERRY_EIO;
        goto fail;
    }
    *out = gw;
    return FERRY_OK;
fail:
    for (size_t i = 0; i < gw->nlisteners; i++)
        uv_close((uv_handle_t *)&gw->listeners[i], NULL);
    if (gw->async.loop != NULL)
        uv_close((uv_handle_t *)&gw->async, NULL);
    uv_run(&gw->loop, UV_RUN_DEFAULT);
    ferry_gateway__table_free(gw->table, NULL);
    gateway_free(gw);
    return err;
}

int ferry_gateway_port(const ferry_gateway *gw) {
    return gw->port;
}

void ferry_gateway_set_routes(ferry_gateway *gw, const ferry_gateway_route *routes, size_t n) {
    pthread_mutex_lock(&gw->set_mu);
    ferry_gateway__table *t = ferry_gateway__table_build(routes, n, &gw->stats);
    if (t == NULL) {
        LOG_ERROR("gateway: out of memory for a table of %zu routes: the old table stays", n);
        pthread_mutex_unlock(&gw->set_mu);
        return;
    }
    pthread_mutex_lock(&gw->mu);
    ferry_gateway__table *old = gw->pending;
    gw->pending = t;
    uint64_t mine = ++gw->posted;
    pthread_mutex_unlock(&gw->mu);
    ferry_gateway__table_free(old, &gw->stats); /* never used (not possible under set_mu) */
    uv_async_send(&gw->async);
    pthread_mutex_lock(&gw->mu);
    while (gw->applied < mine && !gw->stop_asked)
        pthread_cond_wait(&gw->cond, &gw->mu);
    pthread_mutex_unlock(&gw->mu);
    pthread_mutex_unlock(&gw->set_mu);
}

ferry_err ferry_gateway_stats(ferry_gateway *gw, ferry_gateway_series **out, size_t *n,
                              int64_t *start_ms) {
    if (start_ms != NULL)
        *start_ms = gw->start_ms;
    return ferry_gateway__stats_snapshot(&gw->stats, out, n);
}

void ferry_gateway_stop(ferry_gateway *gw) {
    if (gw == NULL)
        return;
    pthread_mutex_lock(&gw->mu);
    gw->stop_asked = true;
    pthread_cond_broadcast(&gw->cond);
    pthread_mutex_unlock(&gw->mu);
    uv_async_send(&gw->async);
    uv_thread_join(&gw->thread);
    gateway_free(gw);
}
