/* edge-sync gateway, internal: the pieces of gateway.c that need no socket, shared with the unit
 * tests and the fuzz target. gateway_route.c: the route table and the routing decision (pure);
 * gateway_http.c: the request parser (http_parser with the gateway's limits) and response heads;
 * gateway_stats.c: the call counters. */
#ifndef FERRY_EDGE_GATEWAY_INTERNAL_H
#define FERRY_EDGE_GATEWAY_INTERNAL_H

#include <http_parser.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"

/* ---- statistics (gateway_stats.c) ------------------------------------------------------------ */

/* The counters of one (ns, app, service, function). refs counts the tables that point at it; a
 * series with refs == 0 is reported by the next snapshot and then freed. */
typedef struct ferry_gateway__series {
    struct ferry_gateway__series *next;
    char *ns, *app, *service, *function;
    unsigned refs;
    uint64_t requests, success, client_errors, server_errors, timeouts;
    uint64_t latency[FERRY_STATS_BUCKETS];
} ferry_gateway__series;

typedef struct {
    pthread_mutex_t mu; /* guards every series and the list */
    ferry_gateway__series *head;
} ferry_gateway__stats;

void ferry_gateway__stats_init(ferry_gateway__stats *st);
/* Free every series (nothing may count any more). */
void ferry_gateway__stats_destroy(ferry_gateway__stats *st);
/* The series of these names, created when new; one more reference. NULL on ENOMEM. */
ferry_gateway__series *ferry_gateway__stats_attach(ferry_gateway__stats *st, const char *ns,
                                                   const char *app, const char *service,
                                                   const char *function);
/* One reference less (s may be NULL). */
void ferry_gateway__stats_detach(ferry_gateway__stats *st, ferry_gateway__series *s);
/* Count one call that was answered with status after us microseconds (s may be NULL). */
void ferry_gateway__stats_count(ferry_gateway__stats *st, ferry_gateway__series *s, int status,
                                uint64_t us);
/* ferry_gateway_stats without the start time. */
ferry_err ferry_gateway__stats_snapshot(ferry_gateway__stats *st, ferry_gateway_series **out,
                                        size_t *n);

/* ---- route table (gateway_route.c) ----------------------------------------------------------- */

struct ferry_gateway__up; /* an upstream connection (gateway.c) */

typedef struct {
    char *service, *ns, *app;
    bool function, monitor_qps;
    char *socket;            /* function routes */
    char *target;            /* proxy routes, as given */
    struct sockaddr_in addr; /* proxy routes: target parsed */
    char **functions;        /* sorted by strcmp */
    size_t nfunctions;
    unsigned timeout_ms; /* never 0 */
    /* Monitored: one per function, then one (NULL until gateway.c attaches it) counting under
     * FERRY_STATS_PROXY_FUNCTION the calls that name no function of the route (404, 405); a proxy
     * route has one. NULL when not monitored. */
    ferry_gateway__series **series;
    /* Owned by gateway.c on the loop thread: the idle upstream connections. */
    struct ferry_gateway__up *idle;
    unsigned nidle;
} ferry_gateway__route;

/* A table of routes sorted by service. refs: the calls in flight that use it, plus one while it
 * is the gateway's current table (loop thread only). */
typedef struct {
    ferry_gateway__route *routes;
    size_t n;
    unsigned refs;
} ferry_gateway__table;

/* Whether s (len bytes) is a DNS label: 1-63 of [a-z0-9-], not starting or ending with '-'. */
bool ferry_gateway__label_ok(const char *s, size_t len);
/* Parse "a.b.c.d:port" into *sa. */
bool ferry_gateway__target_parse(const char *target, struct sockaddr_in *sa);

/* A copy of routes[0..n) as a table with refs == 1, leaving out invalid and duplicate routes
 * (WARN); st (may be NULL) gives monitored routes their series. NULL on ENOMEM. */
ferry_gateway__table *ferry_gateway__table_build(const ferry_gateway_route *routes, size_t n,
                                                 ferry_gateway__stats *st);
/* Free t (its routes' idle lists must be empty) and detach its series from st (may be NULL). */
void ferry_gateway__table_free(ferry_gateway__table *t, ferry_gateway__stats *st);
/* The route of service (len bytes) in t, or NULL. */
ferry_gateway__route *ferry_gateway__table_find(const ferry_gateway__table *t, const char *service,
                                                size_t len);

/* What to do with a request. */
typedef enum {
    FERRY_GATEWAY_CALL,        /* call function `function` of `route` */
    FERRY_GATEWAY_PROXY,       /* proxy to `route` with path `rest` */
    FERRY_GATEWAY_BAD_TARGET,  /* 400: not an origin-form request target */
    FERRY_GATEWAY_NO_SERVICE,  /* 404: no such service (not counted) */
    FERRY_GATEWAY_NO_FUNCTION, /* 404: the service has no such function */
    FERRY_GATEWAY_BAD_METHOD   /* 405: a function called other than with POST */
} ferry_gateway__verdict;

typedef struct {
    ferry_gateway__verdict verdict;
    int status;                  /* the answer's status for the errors, 0 for CALL/PROXY */
    ferry_gateway__route *route; /* NULL for BAD_TARGET and NO_SERVICE */
    size_t function;             /* CALL: index in route->functions */
    const char *service, *name;  /* spans of the URL: the service, the function name asked for */
    size_t service_len, name_len;
    const char *rest; /* PROXY: what follows the service in the URL ("", "/a/b?q", "?q"): the
                       * upstream's path is "/" + rest when it does not start with '/' */
    size_t rest_len;
} ferry_gateway__decision;

/* Route a request: method (enum http_method) and its request target url (len bytes, as received).
 * Pure: points into url and t. */
void ferry_gateway__route_request(const ferry_gateway__table *t, int method, const char *url,
                                  size_t len, ferry_gateway__decision *d);

/* ---- request parsing (gateway_http.c) -------------------------------------------------------- */

/* Buffers bigger than this are freed once used rather than kept for the next request. */
#define FERRY_GATEWAY__KEEP_BUFFER (256 * 1024)

typedef enum {
    FERRY_GATEWAY_REQ_MORE,     /* every byte consumed, the request is not complete */
    FERRY_GATEWAY_REQ_COMPLETE, /* a request is complete; bytes after it were not consumed */
    FERRY_GATEWAY_REQ_ERROR     /* answer req->error_status and close the connection */
} ferry_gateway__req_state;

typedef struct {
    uint32_t name, name_len, value, value_len; /* offsets in head */
} ferry_gateway__header;

/* One request being parsed, reused for the next request of a keep-alive connection. */
typedef struct {
    http_parser parser;
    ferry_gateway__req_state state;
    int error_status;  /* REQ_ERROR: 400, 413 or 431 */
    const char *error; /* REQ_ERROR: why, static */
    char *head;        /* the URL, then the header names and values (not NUL-terminated) */
    size_t head_len, head_cap;
    uint32_t url_len; /* the URL is head[0..url_len) */
    ferry_gateway__header headers[FERRY_GATEWAY_MAX_HEADERS];
    size_t nheaders;
    int last;         /* 0: none yet, 1: in a header name, 2: in a value */
    int content_type; /* index in headers, -1 */
    char *body;
    size_t body_len, body_cap;
    bool keep_alive;      /* REQ_COMPLETE: the client keeps the connection */
    bool expect_continue; /* the client sent "Expect: 100-continue" (set once the head is in) */
    uint64_t start_ns;    /* uv_hrtime-like clock at the request's first byte (req_feed's now) */
    uint64_t now_ns;
} ferry_gateway__req;

void ferry_gateway__req_init(ferry_gateway__req *r);
void ferry_gateway__req_free(ferry_gateway__req *r);
/* Parse data (len bytes) received at now_ns; returns the bytes consumed and sets r->state. After
 * REQ_COMPLETE, call req_next before feeding the bytes not consumed. */
size_t ferry_gateway__req_feed(ferry_gateway__req *r, const char *data, size_t len,
                               uint64_t now_ns);
/* Forget the request (keep the buffers) and parse the next one. */
void ferry_gateway__req_next(ferry_gateway__req *r);
/* Header i's name and value. */
static inline const char *ferry_gateway__hname(const ferry_gateway__req *r, size_t i) {
    return r->head + r->headers[i].name;
}
static inline const char *ferry_gateway__hvalue(const ferry_gateway__req *r, size_t i) {
    return r->head + r->headers[i].value;
}
/* Whether a header (name, len bytes) is hop-by-hop (not passed on by a proxy), or one the gateway
 * sets itself (Content-Length). */
bool ferry_gateway__hop_by_hop(const char *name, size_t len);
/* The reason phrase of status. */
const char *ferry_gateway__reason(int status);

#endif
