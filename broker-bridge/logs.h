/* broker-bridge logs: a container's log fetched from its node over MQTT on request (PROTOCOL.md,
 * "logs.request"). The requests waiting for an answer live here, in memory (a request is only
 * worth its HTTP connection): at most BRIDGE_LOGS_MAX at once, each answered within
 * BRIDGE_LOGS_TIMEOUT_MS by the node's signed `logs` message or by a timeout. Thread-safe (its
 * own mutex); the publishing and the answers run on the loop thread (bridge.c). */
#ifndef FERRY_BRIDGE_LOGS_H
#define FERRY_BRIDGE_LOGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge.h"
#include "ferry/common.h"

#define BRIDGE_LOGS_MAX 32
#define BRIDGE_LOGS_TIMEOUT_MS 15000

typedef struct bridge_logs bridge_logs;

ferry_err bridge__logs_new(bridge_logs **out);
/* Every request still waiting is answered 503 first. */
void bridge__logs_free(bridge_logs *l);

/* Register a request ({"ns","node","id","app","service","tail","since"} without type, borrowed:
 * copied) that waits until bridge__logs_go. FERRY_ETOOBIG when BRIDGE_LOGS_MAX wait already. */
ferry_err bridge__logs_add(bridge_logs *l, const json_t *req, ferry_bridge_logs_fn done, void *ctx);

/* The request may be published now (its HTTP connection is suspended). */
void bridge__logs_go(bridge_logs *l, const char *id);

/* The requests ready and not yet published, as a new array of their messages (marked sent). */
json_t *bridge__logs_to_send(bridge_logs *l);

/* A believed `logs` message from node ns/node: the waiting request of its id (same node, app and
 * service) is answered 200 with {"node","app","service","text","truncated"}, or 502 with the
 * node's error. Unknown ids (late, or forged) are ignored: false. */
bool bridge__logs_answer(bridge_logs *l, const char *ns, const char *node, const json_t *msg);

/* Answer 504 every request older than BRIDGE_LOGS_TIMEOUT_MS (now: monotonic ms); and 503 every
 * request when all is true (shutting down). */
void bridge__logs_expire(bridge_logs *l, int64_t now, bool all);

#endif
