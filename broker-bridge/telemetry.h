/* broker-bridge telemetry: the Prometheus families the bridge serves at GET /metrics
 * (docs/metrics.md), their names in one place, and the gauges computed at each scrape from the
 * store and the index (outbox, nodes, apps and their fleet counters, LMDB use). Counters are
 * counted where things happen (api.c, publisher.c, bridge.c) through the names below. */
#ifndef FERRY_BRIDGE_TELEMETRY_H
#define FERRY_BRIDGE_TELEMETRY_H

#include "ferry/common.h"
#include "metrics.h"

#define M_API_REQUESTS "ferry_bridge_api_requests_total"
#define M_API_SECONDS "ferry_bridge_api_request_duration_seconds"
#define M_MQTT_CONNECTS "ferry_bridge_mqtt_connects_total"
#define M_MQTT_PUBLISHES "ferry_bridge_mqtt_publishes_total"
#define M_MQTT_ACKS "ferry_bridge_mqtt_acks_total"
#define M_MQTT_FAILURES "ferry_bridge_mqtt_publish_failures_total"
#define M_NODE_MESSAGES "ferry_bridge_node_messages_total"

typedef struct ferry_bridge ferry_bridge;

/* Declare every family of the bridge in m. */
ferry_err bridge__telemetry_declare(ferry_metrics *m);

/* Set the scrape-time gauges of b in its registry: one read transaction under the index's read
 * lock; cost O(nodes + statuses + nodes x their candidate apps) of the store. */
ferry_err bridge__telemetry_collect(ferry_bridge *b);

#endif
