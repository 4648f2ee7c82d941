/* broker-bridge stats: the bounded window of call statistics that nodes report (node.stats,
 * schema/PROTOCOL.md). One series per (ns, app, node, service, function), each a ring of the last
 * STATS_SLOTS slots of STATS_SLOT_MS holding per-slot deltas, computed from consecutive cumulative
 * reports. Memory is bounded by design: at most max_series series (about 38 KiB each), each a
 * fixed-size ring. Nothing is stored on disk: the window restarts empty with the bridge (nodes'
 * counters are cumulative, so their next report sets the baseline again).
 *
 * How a report becomes deltas (the rules the tests check):
 * - The first report of a series sets its baseline. Its totals count as a delta only when the
 *   node's counters started (start) after this table was created: the bridge then heard of every
 *   call since, so none was counted before.
 * - Same start, later ts: the delta is the new totals minus the old; when any counter went down,
 *   the counters restarted and the new totals are the delta. Same start, ts not later than the
 *   last report's: a duplicate or a report overtaken by a newer one, ignored. An older start: a
 *   report of a previous run of the node's gateway, ignored. A newer start: a restart, the new
 *   totals are the delta.
 * - The whole delta goes into the slot of the report's ts (after a gap, a report covering several
 *   slots shows as one spike; totals over a window that holds it are exact). A ts later than the
 *   bridge's clock counts at the bridge's now (a node clock ahead); a ts older than the ring
 *   (STATS_SLOTS slots) only moves the baseline.
 * - Deltas are kept as uint32 per slot, saturating.
 * - When the table is full, series idle for longer than the ring (all of their slots are out of
 *   every window) are evicted, at most once a second; if none is, the new series is refused, with
 *   one WARN log a minute counting the refusals.
 *
 * Thread-safe: one mutex around the table (reports come from the MQTT path, views from the API's
 * threads). It never touches the store. */
#ifndef FERRY_BRIDGE_STATS_H
#define FERRY_BRIDGE_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

#define STATS_SLOTS 360               /* one hour ... */
#define STATS_SLOT_MS 10000           /* ... at 10 s resolution */
#define STATS_DEFAULT_MAX_SERIES 4096 /* --stats-max-series */
#define STATS_WARN_EVERY_MS 60000     /* refusals are logged at most once a minute */
#define STATS_MIN_WINDOW_S 10         /* GET .../stats?window= bounds */
#define STATS_MAX_WINDOW_S 3600
#define STATS_DEFAULT_WINDOW_S 60

typedef struct bridge_stats bridge_stats;

/* A table of at most max_series series (0: STATS_DEFAULT_MAX_SERIES), created at now_ms (wall
 * clock: see the first-report rule above). */
ferry_err bridge__stats_new(size_t max_series, int64_t now_ms, bridge_stats **out);
void bridge__stats_free(bridge_stats *s);

/* Apply one node.stats report of node ns/node: its start and ts and calls, an array of entries
 * as ferry_proto_decode validated them (borrowed). now_ms: the bridge's wall clock. Returns the
 * number of entries refused because the table is full. */
size_t bridge__stats_report(bridge_stats *s, const char *ns, const char *node, int64_t start,
                            int64_t ts, const json_t *calls, int64_t now_ms);

/* Forget every series of ns whose app is app and whose node is node (NULL: any). */
void bridge__stats_drop(bridge_stats *s, const char *ns, const char *app, const char *node);

/* The number of series held. */
size_t bridge__stats_count(bridge_stats *s);

/* The statistics of ns/app over the last window_s seconds up to now_ms (window_s a multiple of
 * STATS_SLOT_MS / 1000 within STATS_MIN_WINDOW_S..STATS_MAX_WINDOW_S: the slots that end after
 * now_ms - window_s, the current one included), added to out: "window", "interval", "total",
 * "nodes" and "series" (docs/api.md). FERRY_EINVAL for a window out of bounds, FERRY_ENOMEM. */
ferry_err bridge__stats_view(bridge_stats *s, const char *ns, const char *app, int window_s,
                             int64_t now_ms, json_t *out);

#endif
