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

/* Publish payload on topic at QoS 1. ref is NULL for a direct message (a sync answering a hello)
 * and otherwise must come back through ferry_bridge_outbox_acked/_failed once the broker answered.
 * Called with the bridge lock held, on the thread that called ferry_bridge_pump or
 * ferry_bridge_handle_messages: it must not call into the bridge. Returns FERRY_OK when the message
 * was handed over; anything else stops this round of publishing. */
typedef ferry_err (*ferry_bridge_publish_fn)(void *ctx, const char *topic,
                                             const unsigned char *payload, size_t len,
                                             const ferry_outbox_ref *ref);

/* Asks the owner to call ferry_bridge_pump soon (from the thread that publishes). Called after
 * every commit that added outbox entries, from whichever thread made it, without the lock. */
typedef void (*ferry_bridge_kick_fn)(void *ctx);

typedef struct {
    const char *data_dir;
    /* The key that encrypts secret config values (secrets.h); NULL: "<data_dir>.key", beside the
     * data folder. Created at first start; never inside data_dir, so that a copy of the database
     * alone reveals no secret. */
    const char *key_file;
    size_t mapsize; /* initial LMDB map size; 0: default (1 GiB) */
    size_t window;  /* most outbox messages in flight at once; 0: default (1000) */
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

/* ---- REST operations ---------------------------------------------------------------------------
 * Each returns FERRY_OK with *out a new JSON object (caller owns) in the REST shape of api.h, or an
 * error with *e (the detail: the field, "" when none, and what is wrong) filled and *out NULL:
 * FERRY_EINVAL (400), FERRY_ENOTFOUND (404), FERRY_EEXIST or FERRY_ECONFLICT (409), anything else
 * (500). A write commits its record, the new rev and the messages it causes to the outbox in one
 * durable transaction before it returns; on any error nothing is stored. */

typedef struct {
    long page;        /* >= 1 */
    long page_size;   /* 1..1000 */
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
} ferry_bridge_msg;

/* Handle a batch of node messages (hello, status, online) in one write transaction. Invalid
 * messages are logged and dropped; hellos are answered with a node.sync after the commit. Returns
 * an error only when the store failed (then nothing of the batch was stored). */
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

#endif
