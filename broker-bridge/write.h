/* broker-bridge writes: what every API write shares (write.c). A write runs in one LMDB
 * transaction under the bridge lock: it validates, takes ++rev, writes its record and queues the
 * messages it causes in the outbox, sealed (outbox.h); the publisher is kicked after the commit.
 * The app and node writes (bridge.c) and the config writes (configs.c) are built on this. */
#ifndef FERRY_BRIDGE_WRITE_H
#define FERRY_BRIDGE_WRITE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge.h"
#include "store.h"

/* One API write: inputs, outputs and the transaction body. Outputs are reset at the start of the
 * body (bridge__op_reset) because the store may run it again on a grown map. */
typedef struct {
    ferry_bridge *b;
    const char *ns;
    const char *name;
    const json_t *input;     /* normalized app spec, node labels, or sealed config */
    json_int_t body_version; /* PUT "version" or 0 */
    int64_t now;
    json_t *out;
    size_t queued;
    ferry_detail *e;
} bridge_write_op;

void bridge__op_reset(bridge_write_op *op);

/* The optional "version" of a PUT body into *version (0 when absent): FERRY_EINVAL naming the
 * field when it is not a positive integer. */
ferry_err bridge__body_version(const json_t *body, json_int_t *version, ferry_detail *e);

/* FERRY_ECONFLICT (op->e filled) when the PUT named a version other than the stored one. */
ferry_err bridge__check_version(const bridge_write_op *op, int64_t stored);

/* Run fn in one write transaction under the bridge lock; on success *out = op->out and the
 * publisher is kicked when messages were queued; on a store failure op->e is filled. */
ferry_err bridge__run_write(ferry_bridge *b, ferry_store_fn fn, bridge_write_op *op, json_t **out);

/* Encode msg (stolen; NULL counts as ENOMEM) with ferry_proto_encode; *buf from ferry_malloc. */
ferry_err bridge__encode(json_t *msg, unsigned char **buf, size_t *len);

/* Encode msg (stolen) and append it, sealed, to the outbox on topic; ++*queued. */
ferry_err bridge__queue(const ferry_bridge *b, ferry_store_txn *t, const char *topic, json_t *msg,
                        size_t *queued);
/* Queue payload as it is (no encoding) on topic. */
ferry_err bridge__queue_raw(const ferry_bridge *b, ferry_store_txn *t, const char *topic,
                            const unsigned char *payload, size_t len, size_t *queued);

/* Queue an empty message on topic: published retained, it clears the topic's retained message. */
ferry_err bridge__queue_clear(const ferry_bridge *b, ferry_store_txn *t, const char *topic,
                              size_t *queued);

/* Broker administration (broker.h) through the outbox of this write: the commands go out in order
 * with the write's other messages, and again after a crash until the broker acknowledged them. */
typedef struct {
    const ferry_bridge *b;
    ferry_store_txn *t;
    size_t *queued;
} bridge_broker_emit;

/* Node ns/node's credential: a new password (enrollment) or NULL (its rights follow labels). */
ferry_err bridge__broker_grant(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                               const char *node, const char *password, const json_t *labels,
                               size_t *queued);
ferry_err bridge__broker_revoke(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                const char *node, size_t *queued);
/* The read-only debug credential "debug.{name}": granted with password, revoked with NULL. */
ferry_err bridge__broker_debug(const ferry_bridge *b, ferry_store_txn *t, const char *name,
                               const char *password, size_t *queued);

/* The topic an app with this spec is published on (see PROTOCOL.md, "Topics") into buf; errors of
 * ferry_topic_build, logged. */
ferry_err bridge__app_topic(const char *ns, const char *app, const json_t *spec, char *buf,
                            size_t len);

/* Queue the messages of an app change from version base to version: the wire documents before
 * (old_wire; NULL when unknown or for a new app, which forces an app.put) and after. app.patch
 * when the selector is unchanged and the encoded patch is smaller than the app.put, else app.put,
 * on the app's topic and also on the old topic (from old_spec's selector) when it moved. A
 * message over FERRY_MAX_PAYLOAD is FERRY_EINVAL with e filled. */
ferry_err bridge__queue_app_change(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                   const char *app, const json_t *old_spec, const json_t *old_wire,
                                   const json_t *new_wire, int64_t base, int64_t version,
                                   size_t *queued, ferry_detail *e);

#endif
