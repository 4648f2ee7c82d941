/* broker-bridge MQTT: the Paho MQTTAsync client (MQTT 5, persistent session, automatic reconnect)
 * and the hand-over of its callbacks to the loop thread. */
#ifndef FERRY_BRIDGE_MQTT_H
#define FERRY_BRIDGE_MQTT_H

#include <stdint.h>

#include "bridge.h"
#include "ferry/common.h"

typedef struct ferry_bmqtt ferry_bmqtt; /* opaque */

typedef struct {
    const char *uri;           /* "tcp://127.0.0.1:1883" */
    const char *client_id;     /* "ferry-bridge" */
    uint32_t session_expiry_s; /* 0: 7 days */
    /* Called from Paho's threads whenever an event was queued; it must make the loop thread call
     * ferry_bmqtt_drain soon (uv_async_send). */
    void (*wake)(void *ctx);
    void *wake_ctx;
} ferry_bmqtt_config;

/* Create the client (it does not connect yet). */
ferry_err ferry_bmqtt_create(const ferry_bmqtt_config *cfg, ferry_bmqtt **out);

/* Start connecting; automatic reconnect takes over from there. */
ferry_err ferry_bmqtt_connect(ferry_bmqtt *m);

/* Loop thread: hand every queued event to the bridge in order: received messages (in batches),
 * connection up (subscribe, then the bridge republishes its outbox) and down, acknowledgements. */
void ferry_bmqtt_drain(ferry_bmqtt *m, ferry_bridge *b);

/* Loop thread, about once a second: retries a failed subscription or first connection. */
void ferry_bmqtt_tick(ferry_bmqtt *m);

/* A ferry_bridge_publish_fn (ctx is the ferry_bmqtt): publish at QoS 1, not retained. Loop thread
 * only. */
ferry_err ferry_bmqtt_publish(void *ctx, const char *topic, const unsigned char *payload,
                              size_t len, const ferry_outbox_ref *ref);

/* Disconnect (waiting up to about a second), destroy the client and free what is still queued.
 * No callback runs after it returns. */
void ferry_bmqtt_destroy(ferry_bmqtt *m);

#endif
