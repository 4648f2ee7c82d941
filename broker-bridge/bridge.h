/* broker-bridge core: every decision of the bridge (API writes with their outbox messages, answers
 * to node messages, the outbox publisher), free of MQTT and HTTP so that it can be unit-tested. */
#ifndef FERRY_BRIDGE_H
#define FERRY_BRIDGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

typedef struct ferry_bridge ferry_bridge; /* opaque */

/* One outbox message handed to the publisher: its sequence number and the connection generation
 * it was sent in (acknowledgements from an older connection only remove the entry). */
typedef struct {
    uint64_t seq;
    uint32_t gen;
} ferry_outbox_ref;

/* Publish payload on topic at QoS 1, with sig (the bridge's signature of topic and payload,
 * ferry/sign.h) as the MQTT 5 user property "sig". An empty payload is published retained: it
 * clears the topic's retained message (a deleted node's statuses and online state). ref is NULL for
 * a direct message (a sync answering a hello) and otherwise must come back through
 * ferry_bridge_outbox_acked/_failed once the broker answered. Called with the bridge lock held, on
 * the thread that called ferry_bridge_pump or ferry_bridge_handle_messages: it must not call into
 * the bridge. Returns FERRY_OK when the message was handed over; anything else stops this round of
 * publishing. */
typedef ferry_err (*ferry_bridge_publish_fn)(void *ctx, const char *topic,
                                             const unsigned char *payload, size_t len,
                                             const char *sig, const ferry_outbox_ref *ref);

/* Asks the owner to call ferry_bridge_pump soon (from the thread that publishes). Called after
 * every commit that added outbox entries, from whichever thread made it, without the lock. */
typedef void (*ferry_bridge_kick_fn)(void *ctx);

typedef struct {
    const char *data_dir;
    /* The key that encrypts secret config values (secrets.h); NULL: "<data_dir>.key", beside the
     * data folder. Created at first start; never inside data_dir, so that a copy of the database
     * alone reveals no secret. */
    const char *key_file;
    /* The bridge's Ed25519 signing key (ferry/sign.h): NULL: "<data_dir>.sign". Created at first
     * start; nodes pin its public half when they enroll, so keep it with the data. */
    const char *sign_key_file;
    /* What an enrolling node is told (schema/PROTOCOL.md, "Trust"): the broker URI as nodes reach
     * it, and the PEM of the CA that signs the broker's certificate (NULL: none, a plain tcp://
     * broker). Borrowed for the bridge's life. */
    const char *node_mqtt_uri;
    const char *node_mqtt_ca;
    /* Believe unsigned messages from nodes that never enrolled (--insecure-nodes). */
    bool insecure_nodes;
    /* How the bridge administers the broker (broker.h): "mosquitto-dynsec" gives each enrolled
     * node its own credential and topic rights (and revokes them when it is deleted); "none"
     * (NULL) administers nothing: the broker must be secured otherwise. */
    const char *broker;
    size_t mapsize; /* initial LMDB map size; 0: default (1 GiB) */
    size_t window;  /* most outbox messages in flight at once; 0: default (1000) */
    /* Most series of call statistics kept in memory (stats.h; --stats-max-series); 0: default
     * (4096). */
    size_t stats_max_series;
    ferry_bridge_publish_fn publish;
    void *publish_ctx;
    ferry_bridge_kick_fn kick; /* may be NULL */
    void *kick_ctx;
} ferry_bridge_config;

/* Open the store in cfg->data_dir, load (or create) the key file and create the bridge.
 * Publishing starts with ferry_bridge_mqtt_up. Every function below is thread-safe (one mutex
 * serialises them). Refused (FERRY_EINVAL, logged) when the key file is unfit (secrets.h), missing
 * while the store holds encrypted values, or not the key those values were encrypted with. */
ferry_err ferry_bridge_open(const ferry_bridge_config *cfg, ferry_bridge **out);
void ferry_bridge_close(ferry_bridge *b);

/* The bridge's public signing key (what nodes pin when they enroll). */
void ferry_bridge_public_key(const ferry_bridge *b, unsigned char pub[32]);

/* ---- REST operations ---------------------------------------------------------------------------
 * Each returns FERRY_OK with *out a new JSON object (caller owns) in the REST shape of api.h, or an
 * error with *e (the detail: the field, "" when none, and what is wrong) filled and *out NULL:
 * FERRY_EINVAL (400), FERRY_ENOTFOUND (404), FERRY_EEXIST or FERRY_ECONFLICT (409), anything else
 * (500). A write commits its record, the new rev and the messages it causes to the outbox in one
 * durable transaction before it returns; on any error nothing is stored. */

typedef struct {
    long page;        /* >= 1 */
    long page_size;   /* 1..1000 (an app status view: 0..1000) */
    const char *name; /* case-insensitive substring filter on the name; NULL or "" for all */
    /* Node lists only: the nodes a label selector matches, given as the Kubernetes string form
     * ("region=east,tier in (gw,edge),!gpu") or, when it starts with '{', as a JSON selector
     * object. NULL for all; "" selects all too. */
    const char *selector;
    const char *kind; /* config lists only: "config", "secret", "certificate" or "registry" */
} ferry_bridge_page;

ferry_err ferry_bridge_app_create(ferry_bridge *b, const char *ns, const json_t *body, json_t **out,
                                  ferry_detail *e);
ferry_err ferry_bridge_app_update(ferry_bridge *b, const char *ns, const char *name,
                                  const json_t *body, json_t **out, ferry_detail *e);
ferry_err ferry_bridge_app_delete(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                  ferry_detail *e);
ferry_err ferry_bridge_app_get(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                               ferry_detail *e);
ferry_err ferry_bridge_app_list(ferry_bridge *b, const char *ns, const ferry_bridge_page *pg,
                                json_t **out, ferry_detail *e);
ferry_err ferry_bridge_app_status(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                  ferry_detail *e);
/* The status view with its nodes paged (name order): pg NULL is ferry_bridge_app_status (every
 * node); else pg->page >= 1 and pg->page_size 0..1000 (0: no nodes, the summary only; FERRY_EINVAL
 * naming "page" or "pageSize" otherwise), and the answer adds "total" (the view's nodes), "page"
 * and "pageSize". pg's other members are not used. */
ferry_err ferry_bridge_app_status_page(ferry_bridge *b, const char *ns, const char *name,
                                       const ferry_bridge_page *pg, json_t **out, ferry_detail *e);
/* The call statistics of an app over the last window_s seconds (10..3600, rounded up to a
 * multiple of 10; FERRY_EINVAL naming "window" otherwise): {"namespace", "app", "window",
 * "interval", "monitorQps", "total", "nodes", "series"} (docs/api.md). FERRY_ENOTFOUND for an
 * app that does not exist or is deleted. */
ferry_err ferry_bridge_app_stats(ferry_bridge *b, const char *ns, const char *name, long window_s,
                                 json_t **out, ferry_detail *e);

ferry_err ferry_bridge_node_create(ferry_bridge *b, const char *ns, const json_t *body,
                                   json_t **out, ferry_detail *e);
ferry_err ferry_bridge_node_update(ferry_bridge *b, const char *ns, const char *name,
                                   const json_t *body, json_t **out, ferry_detail *e);
ferry_err ferry_bridge_node_delete(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                   ferry_detail *e);
ferry_err ferry_bridge_node_get(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                ferry_detail *e);
ferry_err ferry_bridge_node_list(ferry_bridge *b, const char *ns, const ferry_bridge_page *pg,
                                 json_t **out, ferry_detail *e);
ferry_err ferry_bridge_node_apps(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                 ferry_detail *e);

/* Enrollment (schema/PROTOCOL.md, "Trust"). A one-time token for the registered node name,
 * valid for an hour: {"namespace", "node", "token", "expiresAt"}; only its SHA-256 is stored.
 * FERRY_ENOTFOUND for a node that is not registered. */
ferry_err ferry_bridge_node_enroll_token(ferry_bridge *b, const char *ns, const char *name,
                                         json_t **out, ferry_detail *e);

/* A node enrolls: body {"token", "signKey", "boxKey"} (its public keys, base64). The token is
 * spent, the keys are stored with the node (replacing earlier ones) and a node.sync is queued.
 * *out: {"namespace", "node", "bridgeKey", "mqtt": {"uri", "clientId", "ca"?}}. FERRY_EINVAL
 * for a malformed body, FERRY_ENOTFOUND (field "token") for a token that is unknown, spent or
 * expired, all alike. */
ferry_err ferry_bridge_enroll(ferry_bridge *b, const json_t *body, json_t **out, ferry_detail *e);

/* A read-only broker credential for a person watching the traffic (body {"name": DNS label}):
 * *out = {"username", "clientId", "password"}, "debug.{name}" (broker.h); granted again with a
 * new password when it exists. It reads every message (secrets stay sealed to their nodes).
 * FERRY_ECONFLICT when the bridge does not administer its broker (cfg.broker "none"). */
ferry_err ferry_bridge_debug_credential(ferry_bridge *b, const json_t *body, json_t **out,
                                        ferry_detail *e);
/* Revoke debug credential name (also when it does not exist). */
ferry_err ferry_bridge_debug_revoke(ferry_bridge *b, const char *name, json_t **out,
                                    ferry_detail *e);

/* Config objects (docs/apps-complete.md): secret values are stored encrypted and never
 * returned: views show {"digest": "sha256:<hex of the value>"} in their place. Every change takes
 * a new rev as its version; an update also gives every app of the namespace that references the
 * config a new version and publishes it with the new files (in the same transaction). Deleting a
 * config that an app references is FERRY_ECONFLICT naming the apps. */
ferry_err ferry_bridge_config_create(ferry_bridge *b, const char *ns, const json_t *body,
                                     json_t **out, ferry_detail *e);
ferry_err ferry_bridge_config_update(ferry_bridge *b, const char *ns, const char *name,
                                     const json_t *body, json_t **out, ferry_detail *e);
ferry_err ferry_bridge_config_delete(ferry_bridge *b, const char *ns, const char *name,
                                     json_t **out, ferry_detail *e);
ferry_err ferry_bridge_config_get(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                  ferry_detail *e);
ferry_err ferry_bridge_config_list(ferry_bridge *b, const char *ns, const ferry_bridge_page *pg,
                                   json_t **out, ferry_detail *e);

/* The MQTT connection state last reported and the current rev. */
ferry_err ferry_bridge_health(ferry_bridge *b, bool *mqtt_up, uint64_t *rev);

/* ---- MQTT side (called from the loop thread) ------------------------------------------------ */

/* A message received on one of the bridge's subscriptions; borrowed for the call. */
typedef struct {
    const char *topic;
    size_t topic_len;
    const unsigned char *payload;
    size_t len;
    int64_t received_ms; /* wall clock at reception */
    const char *sig;     /* the MQTT user property "sig", or NULL (ferry/sign.h) */
} ferry_bridge_msg;

/* Handle a batch of node messages (hello, status, online, stats) in one write transaction. Each
 * is believed only when it is valid for its topic, the node its topic names is registered, its
 * signature checks against that node's enrolled key (or the node never enrolled and the bridge
 * runs with insecure_nodes) and, for a status, the app exists with a version at least the
 * status's (schema/PROTOCOL.md, "Trust"); anything else is logged and dropped. Hellos are
 * answered with a node.sync after the commit. Of a believed node.stats, the entries of apps that
 * exist (not deleted) go into the statistics window (stats.h) after the commit; they are never
 * stored. Returns an error only when the store failed (then nothing of the batch was stored). */
ferry_err ferry_bridge_handle_messages(ferry_bridge *b, const ferry_bridge_msg *msgs, size_t n);

/* The connection came up (a new generation: the whole outbox is published again, in order) or
 * went down (publishing stops). */
void ferry_bridge_mqtt_up(ferry_bridge *b);
void ferry_bridge_mqtt_down(ferry_bridge *b);

/* Publish outbox entries not yet handed over, in order, while fewer than the window are in
 * flight. */
void ferry_bridge_pump(ferry_bridge *b);

/* The broker acknowledged these messages: remove them from the outbox (one transaction). */
void ferry_bridge_outbox_acked(ferry_bridge *b, const ferry_outbox_ref *refs, size_t n);

/* Publishing this message failed: it is sent again on the next tick. */
void ferry_bridge_outbox_failed(ferry_bridge *b, const ferry_outbox_ref *ref);

/* Call about once a second: resends failed messages, and everything not acknowledged when no
 * acknowledgement came for a long time while messages were in flight. */
void ferry_bridge_tick(ferry_bridge *b);

/* ---- container logs from a node (logs.h, PROTOCOL.md "logs.request") ---- */

/* The answer to a logs request: an HTTP status (200, 502 the node could not read the log, 503,
 * 504 no answer in time) and its JSON body (owned by the callee). Called exactly once, on the
 * loop thread (or the closing thread), never from ferry_bridge_logs_start. */
typedef void (*ferry_bridge_logs_fn)(void *ctx, unsigned status, json_t *body);

/* Ask node ns/node for the log of service of app (service NULL: the app's only service), the
 * last tail lines (0: 100) since the Unix time since (0: from the start). Checked here: the
 * names, tail (1..FERRY_LOGS_MAX_TAIL), the node registered, the app live, the service one of
 * its services or init services (FERRY_EINVAL naming the query parameter, FERRY_ENOTFOUND);
 * FERRY_EIO with e filled when the node is offline, the broker down, or too many requests wait.
 * On FERRY_OK, *id names the request: it is published once ferry_bridge_logs_go(id) says the
 * caller is ready for done. */
ferry_err ferry_bridge_logs_start(ferry_bridge *b, const char *ns, const char *node,
                                  const char *app, const char *service, long tail, long since,
                                  ferry_bridge_logs_fn done, void *ctx, char id[33],
                                  ferry_detail *e);
void ferry_bridge_logs_go(ferry_bridge *b, const char *id);

/* Answer every waiting logs request 503 (before the API stops). */
void ferry_bridge_logs_cancel(ferry_bridge *b);

/* ---- metrics ---- */

/* The bridge's Prometheus registry (lives as long as the bridge; thread-safe), and its text after
 * the scrape-time gauges were computed (*text is new: ferry_free). */
struct ferry_metrics;
struct ferry_metrics *ferry_bridge_metrics(ferry_bridge *b);
ferry_err ferry_bridge_metrics_text(ferry_bridge *b, char **text, size_t *len);

#endif
