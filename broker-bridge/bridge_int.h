/* broker-bridge state: the one struct behind the opaque ferry_bridge handle, shared by the files
 * that act on it (bridge.c, write.c, views.c, configs.c, publisher.c). Not for other modules. */
#ifndef FERRY_BRIDGE_INT_H
#define FERRY_BRIDGE_INT_H

#include <pthread.h>

#include <jansson.h>

#include "bridge.h"
#include "ferry/secrets.h"
#include "ferry/sign.h"
#include "broker.h"
#include "hellos.h"
#include "index.h"
#include "logs.h"
#include "metrics.h"
#include "stats.h"
#include "store.h"

struct ferry_bridge {
    pthread_mutex_t lock; /* serialises writes (one writer at a time) and the publisher state below;
                           * reads are LMDB read transactions and take no lock */
    ferry_store *store;
    ferry_bridge_config cfg;
    unsigned char key[FERRY_SECRETS_KEY_LEN]; /* encrypts secret config values; read-only */
    ferry_keypair sign;                       /* signs every message to nodes; read-only */
    bridge_hellos *hellos;                    /* hello budgets and cached syncs (own lock) */
    bridge_index *index;                      /* live apps and nodes (own lock; index.h) */
    ferry_metrics *metrics;                   /* GET /metrics (own lock; telemetry.h) */
    bridge_logs *logs;                        /* logs requests waiting (own lock; logs.h) */
    bridge_stats *stats;                      /* the window of call statistics (own lock) */
    ferry_broker *broker;                     /* broker administration (cfg.broker); read-only */
    /* Publisher state (under lock; publisher.c). */
    bool mqtt_up;
    uint32_t gen;             /* connection generation, bumped on every (re)connect */
    uint64_t cursor;          /* next outbox seq to hand over in this generation */
    size_t inflight;          /* handed over in this generation, not yet answered */
    uint64_t retry_from;      /* lowest failed seq to resend on the next tick; UINT64_MAX: none */
    int64_t last_progress_ms; /* monotonic time of the last ack, or of the first send after idle */
    uint64_t oldest_seq;      /* the oldest outbox entry a scrape saw, and when (telemetry.c) */
    int64_t oldest_seen_ms;
};

/* Queue the node.sync of node (its record node_rec, NULL once deleted) at rev (bridge.c). */
ferry_err bridge__queue_sync(ferry_bridge *b, ferry_store_txn *t, const char *ns, const char *node,
                             const json_t *node_rec, uint64_t rev, size_t *queued);

/* Publish the logs requests ready to go (bridge.c; the loop thread, lock not held). */
void bridge__logs_publish(ferry_bridge *b);

/* Sign (topic, payload) with the bridge's key and hand it to cfg.publish (publisher.c). Lock held.
 */
ferry_err bridge__publish(ferry_bridge *b, const char *topic, const unsigned char *payload,
                          size_t len, const ferry_outbox_ref *ref);

#endif
