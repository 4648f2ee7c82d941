/* edge-sync telemetry: the Prometheus families edge-sync serves with --metrics-listen (off by
 * default; docs/metrics.md), an engine operations table that counts and times every engine call
 * around the real one, and the small HTTP server that answers GET /metrics on the loop thread. */
#ifndef FERRY_EDGE_TELEMETRY_H
#define FERRY_EDGE_TELEMETRY_H

#include <uv.h>

#include "engine.h"
#include "ferry/common.h"
#include "metrics.h"

#define M_EDGE_PASSES "ferry_edge_reconcile_passes_total"
#define M_EDGE_PASS_SECONDS "ferry_edge_reconcile_pass_seconds"
#define M_EDGE_SURVEYS "ferry_edge_surveys_total"
#define M_EDGE_ENGINE_CALLS "ferry_edge_engine_calls_total"
#define M_EDGE_ENGINE_SECONDS "ferry_edge_engine_call_seconds"
#define M_EDGE_MESSAGES "ferry_edge_messages_total"
#define M_EDGE_SYNC_AGE "ferry_edge_last_sync_age_seconds"
#define M_EDGE_CONNECTED "ferry_edge_mqtt_connected"
#define M_EDGE_APPS "ferry_edge_apps"
#define M_EDGE_STORE_MAP "ferry_edge_store_map_bytes"
#define M_EDGE_STORE_USED "ferry_edge_store_used_bytes"

/* Declare every family of edge-sync in m. */
ferry_err ferry_edge_telemetry_declare(ferry_metrics *m);

/* An engine behind counting: ferry_counted_engine_ops calls ops on engine and counts each call
 * in m (by call and result: ok or the error's name) with its duration. m may be NULL (then it
 * only forwards). Read-only once made; thread-safe as the engine and the registry are. */
typedef struct {
    const ferry_engine_ops *ops;
    void *engine;
    ferry_metrics *m;
} ferry_counted_engine;

extern const ferry_engine_ops ferry_counted_engine_ops; /* engine: a ferry_counted_engine * */

/* ---- GET /metrics on the loop thread ---- */

typedef struct ferry_metrics_http ferry_metrics_http;

/* Called on the loop thread before each answer: set the scrape-time gauges. */
typedef void (*ferry_metrics_collect_fn)(void *ctx);

/* Serve GET /metrics of m on listen ("ADDR:PORT", IPv4) on loop: one request per connection,
 * answered and closed (Prometheus scrapes this way too); anything else gets 404 or 405; a
 * request must fit 8 KiB and arrive within 10 s. FERRY_EINVAL for a bad address, FERRY_EIO when
 * it cannot listen (logged). */
ferry_err ferry_metrics_http_start(uv_loop_t *loop, const char *listen, ferry_metrics *m,
                                   ferry_metrics_collect_fn collect, void *ctx,
                                   ferry_metrics_http **out);

/* The port listened on (port 0 picks one). */
int ferry_metrics_http_port(const ferry_metrics_http *h);

/* Stop listening and close every connection; h is freed once libuv has closed them (the loop
 * must run on). */
void ferry_metrics_http_stop(ferry_metrics_http *h);

#endif
