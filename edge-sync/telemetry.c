/* edge-sync telemetry: families, the counting engine table and the /metrics server
 * (telemetry.h). */
#include "telemetry.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define REQUEST_MAX 8192
#define CONNECTIONS_MAX 16
#define REQUEST_TIMEOUT_MS 10000

ferry_err ferry_edge_telemetry_declare(ferry_metrics *m) {
    static const double pass_s[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    static const double call_s[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30};
    static const struct {
        const char *name;
        ferry_metric_type type;
        const char *help;
        const double *b;
        size_t nb;
    } fams[] = {
        {M_EDGE_PASSES, FERRY_METRIC_COUNTER,
         "Reconciliation passes over one app, by result (ok, or failed: the pass is retried).",
         NULL, 0},
        {M_EDGE_PASS_SECONDS, FERRY_METRIC_HISTOGRAM,
         "Duration of a reconciliation pass over one app (observe, plan, act until settled).",
         pass_s, sizeof(pass_s) / sizeof(pass_s[0])},
        {M_EDGE_SURVEYS, FERRY_METRIC_COUNTER,
         "Surveys of the node (every app and the engine's containers, one decision each).", NULL,
         0},
        {M_EDGE_ENGINE_CALLS, FERRY_METRIC_COUNTER,
         "Calls to the container engine's API, by call and result.", NULL, 0},
        {M_EDGE_ENGINE_SECONDS, FERRY_METRIC_HISTOGRAM,
         "Duration of calls to the container engine's API, by call.", call_s,
         sizeof(call_s) / sizeof(call_s[0])},
        {M_EDGE_MESSAGES, FERRY_METRIC_COUNTER, "MQTT messages received from the cloud, by type.",
         NULL, 0},
        {M_EDGE_SYNC_AGE, FERRY_METRIC_GAUGE,
         "Seconds since the last node.sync was applied (-1: none since start).", NULL, 0},
        {M_EDGE_CONNECTED, FERRY_METRIC_GAUGE, "1 while connected to the broker.", NULL, 0},
        {M_EDGE_APPS, FERRY_METRIC_GAUGE, "Apps the node's store holds (tombstones left out).",
         NULL, 0},
        {M_EDGE_STORE_MAP, FERRY_METRIC_GAUGE, "Size of the store's LMDB map.", NULL, 0},
        {M_EDGE_STORE_USED, FERRY_METRIC_GAUGE, "Bytes of the store's LMDB map in use.", NULL, 0},
    };
    ferry_err err = FERRY_OK;
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]) && err == FERRY_OK; i++)
        err = ferry_metrics_declare(m, fams[i].name, fams[i].type, fams[i].help, fams[i].b,
                                    fams[i].nb);
    return err;
}

/* ---- the counting engine --------------------------------------------------------------------- */

static double since(const struct timespec *t0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void count_call(const ferry_counted_engine *c, const char *call, ferry_err err,
                       const struct timespec *t0) {
    char labels[96] = "";
    if (c->m == NULL)
        return;
    ferry_metrics_label(labels, sizeof(labels), "call", call);
    ferry_metrics_observe(c->m, M_EDGE_ENGINE_SECONDS, labels, since(t0));
    ferry_metrics_label(labels, sizeof(labels), "result",
                        err == FERRY_OK ? "ok" : ferry_strerror(err));
    ferry_metrics_add(c->m, M_EDGE_ENGINE_CALLS, labels, 1);
}

/* Each wrapper: the clock, the real call, the count. */
#define COUNTED(call, expr)                                                                        \
    do {                                                                                           \
        const ferry_counted_engine *c = engine;                                                    \
        struct timespec t0;                                                                        \
        clock_gettime(CLOCK_MONOTONIC, &t0);                                                       \
        ferry_err result = (expr);                                                                 \
        count_call(c, call, result, &t0);                                                          \
        return result;                                                                             \
    } while (0)

static ferry_err c_list(void *engine, const char *const *labels, ferry_container **out, size_t *n) {
    COUNTED("list", c->ops->list(c->engine, labels, out, n));
}

static ferry_err c_state(void *engine, const char *id, ferry_cstate *out) {
    COUNTED("inspect", c->ops->state(c->engine, id, out));
}

static ferry_err c_logs_tail(void *engine, const char *id, int lines, char **out) {
    COUNTED("logs", c->ops->logs_tail(c->engine, id, lines, out));
}

static ferry_err c_image_present(void *engine, const char *image, bool *present) {
    COUNTED("image_inspect", c->ops->image_present(c->engine, image, present));
}

static ferry_err c_pull(void *engine, const char *image, const json_t *auth_json, char *err,
                        size_t errlen) {
    COUNTED("pull", c->ops->pull(c->engine, image, auth_json, err, errlen));
}

static ferry_err c_create(void *engine, const char *name, const json_t *body, char **id, char *err,
                          size_t errlen) {
    COUNTED("create", c->ops->create(c->engine, name, body, id, err, errlen));
}

static ferry_err c_start(void *engine, const char *id, char *err, size_t errlen) {
    COUNTED("start", c->ops->start(c->engine, id, err, errlen));
}

static ferry_err c_stop(void *engine, const char *id, int timeout_s) {
    COUNTED("stop", c->ops->stop(c->engine, id, timeout_s));
}

static ferry_err c_remove(void *engine, const char *id) {
    COUNTED("remove", c->ops->remove(c->engine, id));
}

static ferry_err c_ensure_pause_image(void *engine, const char *pause_binary,
                                      const char *image_ref) {
    COUNTED("pause_image", c->ops->ensure_pause_image(c->engine, pause_binary, image_ref));
}

const ferry_engine_ops ferry_counted_engine_ops = {
    .list = c_list,
    .state = c_state,
    .logs_tail = c_logs_tail,
    .image_present = c_image_present,
    .pull = c_pull,
    .create = c_create,
    .start = c_start,
    .stop = c_stop,
    .remove = c_remove,
    .ensure_pause_image = c_ensure_pause_image,
};

/* ---- GET /metrics ---------------------------------------------------------------------------- */

struct ferry_metrics_http {
    uv_tcp_t listener;
    ferry_metrics *m;
    ferry_metrics_collect_fn collect;
    void *ctx;
    int port;
    size_t open; /* handles not yet closed: the listener and each connection's two */
    bool stopping;
    struct conn *conns;
};

typedef struct conn {
    ferry_metrics_http *h;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    char buf[REQUEST_MAX];
    size_t len;
    char *reply; /* what is being written */
    bool answered, closing;
    int closed; /* of its two handles */
    struct conn *next;
} conn;

static void maybe_free(ferry_metrics_http *h) {
    if (h->stopping && h->open == 0)
        ferry_free(h);
}

static void on_conn_closed(uv_handle_t *handle) {
    conn *c = handle->data;
    ferry_metrics_http *h = c->h;
    h->open--;
    if (++c->closed < 2)
        return;
    for (conn **p = &h->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    ferry_free(c->reply);
    ferry_free(c);
    maybe_free(h);
}

static void conn_close(conn *c) {
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_written(uv_write_t *wr, int status) {
    (void)status;
    conn_close(wr->data);
}

/* Answer status with body (copied) and close after it is written. */
static void answer(conn *c, const char *status, const char *type, const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, len);
    c->answered = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (n < 0 || (c->reply = ferry_malloc((size_t)n + len)) == NULL) {
        conn_close(c);
        return;
    }
    memcpy(c->reply, head, (size_t)n);
    memcpy(c->reply + n, body, len);
    uv_buf_t b = uv_buf_init(c->reply, (unsigned)((size_t)n + len));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        conn_close(c);
}

static void answer_text(conn *c, const char *status, const char *text) {
    answer(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* A complete head: GET /metrics (a query is ignored) or an error (metrics.h). */
static void handle(conn *c) {
    switch (ferry_metrics_http_route(c->buf)) {
    case 400:
        answer_text(c, "400 Bad Request", "bad request\n");
        return;
    case 404:
        answer_text(c, "404 Not Found", "only /metrics is served here\n");
        return;
    case 405:
        answer_text(c, "405 Method Not Allowed", "GET only\n");
        return;
    default:
        break;
    }
    if (c->h->collect != NULL)
        c->h->collect(c->h->ctx);
    char *text = NULL;
    size_t len = 0;
    if (ferry_metrics_render(c->h->m, &text, &len) != FERRY_OK) {
        answer_text(c, "500 Internal Server Error", "out of memory\n");
        return;
    }
    answer(c, "200 OK", FERRY_METRICS_CONTENT_TYPE, text, len);
    ferry_free(text);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
    conn *c = handle->data;
    (void)suggested;
    /* One byte kept for the NUL that ends the head. */
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
    conn *c = stream->data;
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (c->answered)
        return;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    if (strstr(c->buf, "\r\n\r\n") != NULL)
        handle(c);
    else if (c->len >= sizeof(c->buf) - 1)
        answer_text(c, "431 Request Header Fields Too Large", "request over 8 KiB\n");
}

static void on_timeout(uv_timer_t *timer) {
    conn_close(timer->data);
}

static void on_connection(uv_stream_t *server, int status) {
    ferry_metrics_http *h = server->data;
    size_t n = 0;
    if (status < 0)
        return;
    for (conn *c = h->conns; c != NULL; c = c->next)
        n++;
    conn *c = ferry_calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->h = h;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->next = h->conns;
    h->conns = c;
    h->open += 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || n >= CONNECTIONS_MAX) {
        conn_close(c); /* a scraper at a time is the use; more are refused */
        return;
    }
    uv_timer_start(&c->timer, on_timeout, REQUEST_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_listener_closed(uv_handle_t *handle) {
    ferry_metrics_http *h = handle->data;
    h->open--;
    maybe_free(h);
}

ferry_err ferry_metrics_http_start(uv_loop_t *loop, const char *listen, ferry_metrics *m,
                                   ferry_metrics_collect_fn collect, void *ctx,
                                   ferry_metrics_http **out) {
    char host[64];
    int port = -1, rc;
    struct sockaddr_in sa;
    const char *colon = strrchr(listen, ':');
    *out = NULL;
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host) ||
        sscanf(colon + 1, "%d", &port) != 1 || port < 0 || port > 65535) {
        LOG_ERROR("metrics: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9480)", listen);
        return FERRY_EINVAL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (uv_ip4_addr(host, port, &sa) != 0) {
        LOG_ERROR("metrics: '%s' is not an IPv4 address", host);
        return FERRY_EINVAL;
    }
    ferry_metrics_http *h = ferry_calloc(1, sizeof(*h));
    if (h == NULL)
        return FERRY_ENOMEM;
    h->m = m;
    h->collect = collect;
    h->ctx = ctx;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    h->open = 1;
    if ((rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&sa, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&h->listener, 16, on_connection)) != 0) {
        LOG_ERROR("metrics: cannot listen on %s: %s", listen, uv_strerror(rc));
        h->stopping = true;
        uv_close((uv_handle_t *)&h->listener, on_listener_closed);
        return FERRY_EIO;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &blen) == 0)
        h->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    LOG_INFO("metrics: serving GET /metrics on %s:%d", host, h->port);
    *out = h;
    return FERRY_OK;
}

int ferry_metrics_http_port(const ferry_metrics_http *h) {
    return h->port;
}

void ferry_metrics_http_stop(ferry_metrics_http *h) {
    if (h == NULL)
        return;
    h->stopping = true;
    for (conn *c = h->conns; c != NULL; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
