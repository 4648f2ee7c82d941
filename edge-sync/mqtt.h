/* edge-sync MQTT: a Paho MQTTAsync (MQTT 5) client with a persistent session, a retained last will
 * and reconnects, wrapped for the daemon. Callbacks run on Paho's thread: keep them short; the
 * daemon forwards what they report to its libuv loop. */
#ifndef FERRY_EDGE_MQTT_H
#define FERRY_EDGE_MQTT_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

typedef struct ferry_mqtt ferry_mqtt; /* opaque */

typedef struct {
    const char *uri;       /* tcp://host:port */
    const char *client_id; /* stable per node: the broker keeps its session */
    const char *will_topic;
    const void *will_payload;
    size_t will_len;
    int session_expiry_s;
    /* Paho thread. connected: every (re)connect; lost: connection lost or connect failed. */
    void (*on_connected)(void *ud);
    void (*on_lost)(void *ud, const char *cause);
    /* Paho thread; the PUBACK goes out after it returns, so durable work happens inside. */
    void (*on_message)(void *ud, const char *topic, size_t tlen, const void *payload, size_t plen);
    /* Paho thread; result of ferry_mqtt_subscribe with its tag. */
    void (*on_subscribed)(void *ud, long tag, bool ok);
    void *ud;
} ferry_mqtt_opts;

/* Create the client (no network yet). Strings in opts are copied. */
ferry_err ferry_mqtt_create(const ferry_mqtt_opts *opts, ferry_mqtt **out);

/* Start connecting (Clean Start 0, Session Expiry, will). Paho reconnects by itself after a
 * connection was lost; a failed first connect is reported through on_lost, and the caller calls
 * ferry_mqtt_connect again later. */
ferry_err ferry_mqtt_connect(ferry_mqtt *m);

/* Subscribe to n filters at QoS 1; on_subscribed(tag) reports the outcome. */
ferry_err ferry_mqtt_subscribe(ferry_mqtt *m, char *const *filters, int n, long tag);
ferry_err ferry_mqtt_unsubscribe(ferry_mqtt *m, char *const *filters, int n);

/* Publish at QoS 1; buffered by Paho while disconnected. Thread-safe. */
ferry_err ferry_mqtt_publish(ferry_mqtt *m, const char *topic, const void *payload, size_t len,
                             bool retain);

bool ferry_mqtt_is_connected(ferry_mqtt *m);

/* Disconnect (publishing nothing more) and free. */
void ferry_mqtt_destroy(ferry_mqtt *m);

#endif
