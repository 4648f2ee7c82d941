/* edge-sync protocol rules: applies one MQTT message from the cloud to the node's store, inside
 * one LMDB write txn, and says what the daemon must do next (schema/PROTOCOL.md, "Node rules"). */
#ifndef FERRY_EDGE_SYNC_H
#define FERRY_EDGE_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"
#include "store.h"

/* What follows from a message. hello_reason is a static string or NULL. */
typedef struct {
    bool reconcile;           /* desired state changed: run the reconciler */
    bool resubscribe;         /* labels changed: move the label subscriptions, then hello */
    bool sync_received;       /* a node.sync was applied: the outstanding hello is answered */
    const char *hello_reason; /* send a node.hello with this reason */
} ferry_sync_actions;

/* Who this node is. */
typedef struct {
    const char *ns;
    const char *node;
} ferry_sync_self;

/* Handle one message (topic of tlen bytes, payload of plen bytes; both untrusted). Malformed or
 * foreign messages are logged and ignored (FERRY_OK, no action). A store failure returns the error
 * with hello_reason "store" set: the change is not durable, so the cloud must send it again. */
ferry_err ferry_sync_handle(ferry_estore *s, const ferry_sync_self *self, const char *topic,
                            size_t tlen, const void *payload, size_t plen, ferry_sync_actions *act);

/* The node.hello message for the current store (caller owns). */
ferry_err ferry_sync_hello(ferry_estore *s, const ferry_sync_self *self, const char *reason,
                           json_t **out);

#endif
