/* edge-sync gateway: the node's local HTTP server in front of function runtimes and container
 * apps' services (docs/gateway.md has the HTTP contract, status codes and limits).
 *
 * `POST /{service}/{function}` calls a function service's runtime (HTTP/1.1 over its unix
 * socket) as `POST /{function}`; any method on `/{service}/{rest...}` of a container app's
 * service is proxied to its "host:port" as `/{rest...}`. Calls of monitored routes are counted
 * per (ns, app, service, function) with a latency histogram (ferry/stats.h).
 *
 * Threads. The gateway runs its own thread with its own libuv loop; every socket, timer and
 * upstream connection lives on that loop and nothing on it blocks. The functions below are
 * called from other threads: set_routes hands a copied table to the loop (uv_async) and waits
 * until the loop uses it; stats copies the counters under a mutex the loop takes once per call.
 *
 * Routes. The table is replaced whole: a call already routed finishes on the table it started
 * with (tables are reference-counted by the calls in flight), every request parsed after
 * set_routes returned uses the new one. Idle upstream connections move to the new table's route
 * when the service keeps the same socket or target, and are closed otherwise.
 *
 * Upstream pooling. Each route keeps up to FERRY_GATEWAY_POOL idle keep-alive connections to its
 * runtime or target; a call takes one (or connects) and gives it back when the upstream's
 * response allowed keep-alive. A pooled connection the upstream closed is noticed while idle
 * (it is read) and dropped; a request that meets a connection closed under it before any
 * response byte is sent again once on a fresh one.
 *
 * The process must ignore SIGPIPE (edge-sync's daemon.c does): a peer that went away is then an
 * EPIPE on its connection. */
#ifndef FERRY_EDGE_GATEWAY_H
#define FERRY_EDGE_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"
#include "ferry/stats.h"

/* Limits (docs/gateway.md). */
#define FERRY_GATEWAY_MAX_HEAD (16 * 1024)            /* request line + headers: 431 */
#define FERRY_GATEWAY_MAX_HEADERS 100                 /* header lines: 431 */
#define FERRY_GATEWAY_MAX_BODY (6 * 1024 * 1024)      /* request body: 413 */
#define FERRY_GATEWAY_MAX_RESPONSE (32 * 1024 * 1024) /* upstream response: 502 */
#define FERRY_GATEWAY_MAX_CONNS 1024                  /* client connections; more are closed */
#define FERRY_GATEWAY_IDLE_MS 30000                   /* idle keep-alive / slow request */
#define FERRY_GATEWAY_TIMEOUT_MS 30000                /* default per-call timeout */
#define FERRY_GATEWAY_RETRY_MS 3000                   /* retrying a runtime that is down */
#define FERRY_GATEWAY_POOL 16                         /* idle upstream connections per route */
#define FERRY_GATEWAY_MAX_ADDRESSES 16                /* listen addresses */

typedef struct ferry_gateway ferry_gateway;

/* One route: every string is borrowed by ferry_gateway_set_routes, which copies it. */
typedef struct {
    const char *service; /* the first path segment: a DNS label (1-63 of [a-z0-9-]) */
    const char *ns;      /* owner, for statistics and messages */
    const char *app;
    bool function;      /* true: a function service; false: proxy to a container service */
    const char *socket; /* function: the runtime's unix socket (any length) */
    const char *target; /* proxy: "a.b.c.d:port" */
    const char *const *functions; /* function: the function names (nfunctions of them) */
    size_t nfunctions;
    unsigned timeout_ms; /* per call; 0 means FERRY_GATEWAY_TIMEOUT_MS */
    bool monitor_qps;    /* count the calls of this route */
} ferry_gateway_route;

typedef struct {
    const char *const *addresses; /* IPv4 literals to listen on, e.g. {"127.0.0.1", "172.17.0.1"} */
    size_t naddresses;            /* 1 to FERRY_GATEWAY_MAX_ADDRESSES */
    int port; /* the same port on every address; 0: the system picks one on the first address and
               * the others use it */
} ferry_gateway_opts;

/* Start the gateway: bind and listen on every address, then run its loop on a new thread, with an
 * empty route table. On failure (an address that is not IPv4, a port in use, no memory) nothing
 * runs, *out is NULL and why (whylen bytes, may be NULL) says what failed. */
ferry_err ferry_gateway_start(const ferry_gateway_opts *o, ferry_gateway **out, char *why,
                              size_t whylen);

/* The port the gateway listens on. */
int ferry_gateway_port(const ferry_gateway *gw);

/* Replace the whole route table with a copy of routes[0..n). Routes with an invalid service name,
 * a duplicate service, a function route without socket or a proxy route whose target is not
 * "IPv4:port" are left out with a WARN line. Thread-safe; returns once the gateway's loop uses the
 * new table. Not from the gateway's own thread. */
void ferry_gateway_set_routes(ferry_gateway *gw, const ferry_gateway_route *routes, size_t n);

/* Cumulative counters of one (ns, app, service, function) since the gateway started; function is
 * FERRY_STATS_PROXY_FUNCTION for a proxied route. requests == success + client_errors +
 * server_errors + timeouts, and the latency buckets sum to requests: a call is counted once, when
 * its response was sent (or failed to be). */
typedef struct {
    char *ns, *app, *service, *function;
    uint64_t requests, success, client_errors, server_errors, timeouts;
    uint64_t latency[FERRY_STATS_BUCKETS];
} ferry_gateway_series;

/* A snapshot of every series: one per function of each monitored route of the current table, plus
 * the series of routes that left the table (or stopped being monitored) since the last snapshot,
 * reported this once and then forgotten. *out is an array of *n series (NULL when 0) that the
 * caller frees with ferry_gateway_stats_free; *start_ms (may be NULL) is the wall clock when the
 * gateway started. FERRY_ENOMEM leaves *out NULL and forgets nothing. Thread-safe. */
ferry_err ferry_gateway_stats(ferry_gateway *gw, ferry_gateway_series **out, size_t *n,
                              int64_t *start_ms);
void ferry_gateway_stats_free(ferry_gateway_series *s, size_t n);

/* Close the listeners and every connection (calls in flight end without an answer, uncounted),
 * join the thread and free everything. NULL is a no-op. */
void ferry_gateway_stop(ferry_gateway *gw);

#endif
