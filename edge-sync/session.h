/* edge-sync session: the node's side of the protocol (schema/PROTOCOL.md, "Node rules") as a
 * state machine, free of libuv and Paho: what to subscribe to, when to say hello and how often to
 * ask again, which messages change the store (through sync.h), which app statuses to publish and
 * when the next reconciliation is due. The daemon (main.c) feeds it events from the MQTT core and
 * the clock; tests feed it directly and record what it publishes (tests/edge/test_session.c).
 *
 * Every function runs on one thread (the loop's). `now` is the monotonic clock in milliseconds. */
#ifndef FERRY_EDGE_SESSION_H
#define FERRY_EDGE_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"
#include "ferry/sign.h"
#include "ferry/topics.h"
#include "store.h"

#define FERRY_SESSION_HELLO_RETRY_MS 30000 /* a hello without an answer is sent again */
#define FERRY_SESSION_CHECK_MS 300000      /* anti-entropy: a hello at least this often */
#define FERRY_SESSION_GAP_MIN_MS 1000      /* hellos caused by messages: at most one a second */
#define FERRY_SESSION_BACKOFF_MAX_MS 60000 /* cap of the backoffs (subscriptions, store) */
#define FERRY_SESSION_SUB_BATCH 32         /* filters per SUBSCRIBE (sync, secrets, all, labels) */

/* The MQTT side as the session sees it (QoS 1). A failed call is logged by the callee; the
 * session retries where the protocol needs it. */
typedef struct {
    /* sig: the node's signature of topic and payload (ferry/sign.h), to send as the MQTT user
     * property "sig"; NULL in insecure mode. */
    ferry_err (*publish)(void *ctx, const char *topic, const void *payload, size_t len, bool retain,
                         const char *sig);
    ferry_err (*subscribe)(void *ctx, const char *const *filters, size_t n, uint64_t tag);
    ferry_err (*unsubscribe)(void *ctx, const char *const *filters, size_t n);
    void *ctx;
} ferry_session_io;

typedef struct {
    const char *ns;
    const char *node;
    ferry_estore *store;
    ferry_session_io io;
    const json_t *gpu;        /* the GPU report sent in node.online (borrowed), or NULL */
    int reconcile_interval_s; /* periodic reconciliation (>= 1) */
    /* Trust (schema/PROTOCOL.md): the node's signing key, and the bridge's public key that every
     * message from the cloud must be signed with. Both NULL only in insecure mode (--insecure):
     * then nothing is signed and nothing is checked. Borrowed. */
    const ferry_keypair *sign;
    const unsigned char *bridge_pub;
    /* A logs.request for this node came (signed by the bridge, decoded and checked; borrowed for
     * the call): the daemon reads the log off the loop thread and answers with
     * ferry_session_logs_reply. NULL: requests are refused with a log line. */
    void (*on_logs)(void *ctx, const json_t *request);
    void *on_logs_ctx;
} ferry_session_cfg;

typedef struct ferry_session ferry_session; /* opaque */

/* Strings and the store are borrowed for the session's life. FERRY_EINVAL for names that make
 * no topic. */
ferry_err ferry_session_new(const ferry_session_cfg *cfg, ferry_session **out);
void ferry_session_free(ferry_session *s);

/* The last will to register with the broker: node.online with online false, retained, on
 * *topic (static inside the session). *buf from ferry_malloc; sig (FERRY_SIGN_SIG_B64 bytes)
 * receives its signature, "" in insecure mode. */
ferry_err ferry_session_will(ferry_session *s, const char **topic, unsigned char **buf, size_t *len,
                             char *sig);

/* The connection came up: announce the node online (with its GPUs), subscribe to its sync and
 * secrets topics, the namespace's "all" topic and one topic per label, and say hello once the
 * broker granted them; publish every app status again and reconcile. */
void ferry_session_connected(ferry_session *s, int64_t now);
void ferry_session_disconnected(ferry_session *s, int64_t now);

/* The broker answered subscription tag. Refused: subscribe again after a backoff (1 s doubling
 * to FERRY_SESSION_BACKOFF_MAX_MS). The filters go in batches of FERRY_SESSION_SUB_BATCH; the
 * hello waits for all of them. */
void ferry_session_subscribed(ferry_session *s, uint64_t tag, bool ok, int64_t now);

/* A message from the cloud (untrusted). Unless insecure, it must carry sig, the bridge's
 * signature of topic and payload: otherwise it is refused with one log line and changes nothing.
 * Then it is applied to the store (sync.h); a changed desired state makes a reconciliation due,
 * changed labels move the subscriptions (then hello), a gap or a store failure says hello. */
void ferry_session_message(ferry_session *s, const char *topic, size_t tlen, const void *payload,
                           size_t len, const char *sig, int64_t now);

/* An app waits for the secret bundle its spec names: say hello (the answer carries the bundles the
 * node lacks), unless a hello is already waiting for its answer. */
void ferry_session_need_secrets(ferry_session *s, int64_t now);

/* Received messages were dropped before they reached the session: ask for a resync. */
void ferry_session_overflow(ferry_session *s, int64_t now);

/* About once a second: says hello again when the last one went unanswered for
 * FERRY_SESSION_HELLO_RETRY_MS, sends a hello deferred by the limits below, subscribes again
 * after a refusal's backoff, and says hello (reason "check") when none went out for
 * FERRY_SESSION_CHECK_MS: the anti-entropy that finds messages the broker dropped while the node
 * stayed connected. Hellos caused by messages (gaps) go out at most once per
 * FERRY_SESSION_GAP_MIN_MS; after a store failure the next hello waits 1 s, doubling to
 * FERRY_SESSION_BACKOFF_MAX_MS while the failures go on. */
void ferry_session_tick(ferry_session *s, int64_t now);

/* Whether a reconciliation should start now: something changed, or the periodic interval (or a
 * wake-up asked for) came. True clears the request and sets the next periodic time. */
bool ferry_session_reconcile_due(ferry_session *s, int64_t now);

/* A reconciliation wants another pass at wall-clock time wall_ms (a scheduled deployment, a
 * running init container); now_wall is the wall clock now. Brings the next pass forward only. */
void ferry_session_wake_at(ferry_session *s, int64_t wall_ms, int64_t now_wall, int64_t now);

/* An app's status (app.status fields without "ts"): published, retained, with "ts" added, when
 * it differs from the last one published for the app since the connection came up. */
void ferry_session_report(ferry_session *s, const json_t *status);

/* Whether the last status published for app since the connection came up has this version,
 * phase and message (a caller may skip building one that ferry_session_report would drop). */
bool ferry_session_reported(const ferry_session *s, const char *app, int64_t version,
                            const char *phase, const char *message);

/* The node forgot app (its tombstone was collected): clear its retained status on the broker (an
 * empty retained message, signed) so that the bridge drops its record too. */
void ferry_session_forget(ferry_session *s, const char *app);

/* What the session is waiting for (for tests and logs). */
bool ferry_session_hello_outstanding(const ferry_session *s);
bool ferry_session_is_connected(const ferry_session *s);
/* When (monotonic ms) the last node.sync was applied; 0 when none since the start. */
int64_t ferry_session_last_sync(const ferry_session *s);

/* Publish a node.stats message (stats: its fields without "v"; borrowed), signed, on the node's
 * stats topic; dropped while not connected (its counters are cumulative: the next report covers
 * it). */
void ferry_session_stats(ferry_session *s, const json_t *stats);

/* Publish the answer to a logs request (a `logs` message without "v"; borrowed), signed, on the
 * node's logs/reply topic; dropped while not connected (the bridge answers 504 then). */
void ferry_session_logs_reply(ferry_session *s, const json_t *reply);

#endif
