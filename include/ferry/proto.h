/* Ferry wire protocol: message envelopes exchanged over MQTT (see schema/PROTOCOL.md). */
#ifndef FERRY_PROTO_H
#define FERRY_PROTO_H

#include <jansson.h>

#include "ferry/common.h"

/* Format version carried in every payload as key "v". */
#define FERRY_PROTO_VERSION 1

/* Message types (key "type"). */
#define FERRY_MSG_APP_PUT "app.put"
#define FERRY_MSG_APP_PATCH "app.patch"
#define FERRY_MSG_APP_DELETE "app.delete"
#define FERRY_MSG_NODE_SYNC "node.sync"
#define FERRY_MSG_NODE_HELLO "node.hello"
#define FERRY_MSG_APP_STATUS "app.status"
#define FERRY_MSG_NODE_ONLINE "node.online"
#define FERRY_MSG_APP_SECRETS "app.secrets"
#define FERRY_MSG_NODE_STATS "node.stats"     /* call statistics (ferry/stats.h) */
#define FERRY_MSG_LOGS_REQUEST "logs.request" /* the bridge asks a node for a container's log */
#define FERRY_MSG_LOGS "logs"                 /* the node's answer */

/* Logs over MQTT (PROTOCOL.md, "logs.request"): at most this many lines asked, and this many
 * bytes of text in an answer (the newest are kept: "truncated" says some were cut). */
#define FERRY_LOGS_MAX_TAIL 10000
#define FERRY_LOGS_MAX_BYTES (256 * 1024)
#define FERRY_LOGS_ID_LEN 32 /* lowercase hex of 16 random bytes */

/* Encode msg (a JSON object holding "type" and the type's fields, without "v") as a msgpack
 * payload with "v": FERRY_PROTO_VERSION added. *out from ferry_malloc, caller frees. */
ferry_err ferry_proto_encode(const json_t *msg, unsigned char **out, size_t *len);

/* Decode an untrusted payload and validate it completely for its type (every field of
 * PROTOCOL.md: presence, JSON type, ranges, names in DNS-label form, app specs through
 * ferry_app_validate_ex with FERRY_APP_ALLOW_RESOLVED, patches structurally). On success *msg is a
 * new object (caller owns) that still holds "v" and "type". On failure returns FERRY_EFORMAT /
 * FERRY_EVERSION / FERRY_ETOOBIG / FERRY_EINVAL and writes a one-line reason into why (if why !=
 * NULL), e.g. "app.patch: field 'base' must be a positive integer". */
ferry_err ferry_proto_decode(const unsigned char *buf, size_t len, json_t **msg, char *why,
                             size_t whylen);

#endif
