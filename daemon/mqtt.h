/* The MQTT client core of both daemons: Paho MQTTAsync (MQTT 5) with a persistent session,
 * automatic reconnect, first-connect retry with backoff, optional TLS and credentials, and the
 * hand-off of everything Paho's threads report to the owner's thread.
 *
 * Threads. Paho calls back on its own threads while it holds its internal lock. This module's
 * callbacks only copy what they get onto a queue under a small mutex (never held while calling
 * Paho) and call opts.wake; the owner then calls ferry_mqtt_drain on its own thread, which hands
 * every event to the handlers in the order it happened. Every other function is for the owner's
 * thread, except ferry_mqtt_publish, which any thread may call.
 *
 * Delivery. QoS 1 everywhere. Paho sends the PUBACK of a received message before the message
 * reaches any callback (docs/platform.md), so an acknowledged message can still be lost by a
 * crash: the protocol, not the acknowledgement, makes delivery exact (schema/PROTOCOL.md). The
 * module knows nothing of Ferry's topics or messages. */
#ifndef FERRY_DAEMON_MQTT_H
#define FERRY_DAEMON_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

typedef struct ferry_mqtt ferry_mqtt; /* opaque */

/* TLS for ssl:// and mqtts:// URIs. Strings are copied. */
typedef struct {
    const char *ca_file;   /* PEM bundle of the CAs that may sign the broker's certificate */
    const char *cert_file; /* PEM client certificate (chain), or NULL */
    const char *key_file;  /* PEM private key of cert_file, or NULL when cert_file holds it */
} ferry_mqtt_tls;

#define FERRY_MQTT_MAX_PROPS 4 /* user properties kept per message (the first ones) */

/* An MQTT 5 user property (name and value are UTF-8 strings). */
typedef struct {
    const char *name;
    const char *value;
} ferry_mqtt_prop;

/* A received message, borrowed for the handler call. */
typedef struct {
    const char *topic; /* topic_len bytes, also NUL-terminated */
    size_t topic_len;
    const unsigned char *payload;
    size_t len;
    int64_t received_ms;                         /* wall clock when Paho handed it over */
    ferry_mqtt_prop props[FERRY_MQTT_MAX_PROPS]; /* its user properties, nprops of them */
    size_t nprops;
} ferry_mqtt_msg;

/* The value of the user property name of msg, or NULL. */
const char *ferry_mqtt_msg_prop(const ferry_mqtt_msg *msg, const char *name);

/* How a publish asked to be told about ended: the broker's PUBACK (ok) or a failure. */
typedef struct {
    uint64_t tag;   /* as given to ferry_mqtt_publish */
    uint32_t epoch; /* as given to ferry_mqtt_publish */
    bool ok;
} ferry_mqtt_done;

/* What ferry_mqtt_drain hands over, on the owner's thread. Runs of messages and of completions
 * come as one call each; order across kinds is kept. Any handler may be NULL. */
typedef struct {
    void (*on_up)(void *ud);                      /* connected: first time and every reconnect */
    void (*on_down)(void *ud, const char *cause); /* connection lost or refused */
    void (*on_messages)(void *ud, const ferry_mqtt_msg *msgs, size_t n);
    void (*on_published)(void *ud, const ferry_mqtt_done *done, size_t n);
    void (*on_subscribed)(void *ud, uint64_t tag, bool ok); /* ok: every filter granted */
    /* Received messages were dropped because the queue was over max_queued_bytes (or memory
     * ran out): n of them since the last drain. */
    void (*on_overflow)(void *ud, size_t n);
} ferry_mqtt_handlers;

typedef struct {
    const char *uri;       /* tcp://host:port, or ssl://host:port with tls */
    const char *client_id; /* stable: the broker keeps the session under it */
    const char *username;  /* NULL: none */
    const char *password;  /* NULL: none */
    const ferry_mqtt_tls *tls;
    /* Last will, published by the broker when the connection ends without a DISCONNECT (or with
     * will_on_destroy). NULL topic: none. */
    const char *will_topic;
    const void *will_payload;
    size_t will_len;
    bool will_retain;
    const char *will_sig;      /* sent as the will's user property "sig" (ferry/sign.h), or NULL */
    bool will_on_destroy;      /* ferry_mqtt_destroy asks the broker to publish the will */
    uint32_t session_expiry_s; /* 0: 7 days */
    int keepalive_s;           /* 0: 30 */
    int max_retry_s;           /* backoff cap for reconnects; 0: 30 */
    int max_buffered;          /* publishes Paho holds while disconnected; 0: 10000 */
    bool drop_oldest;          /* when that is full, drop the oldest (else refuse the new one) */
    size_t max_queued_bytes;   /* received payload bytes waiting for drain; 0: 64 MiB */
    /* The owner reconnects: Paho does not reconnect by itself and a failed connect is not
     * retried; after on_down the owner calls ferry_mqtt_connect when it chooses (the hollow
     * fleet paces thousands of clients of one process that way, bench/hollow_fleet.c). */
    bool owner_reconnects;
    /* Paho's thread, after something was queued: make the owner call ferry_mqtt_drain soon. */
    void (*wake)(void *ctx);
    void *wake_ctx;
    ferry_mqtt_handlers handlers;
    void *ud; /* first argument of every handler */
} ferry_mqtt_opts;

/* Create the client; nothing goes on the network yet. Strings in opts are copied. FERRY_EINVAL
 * (logged) when Paho refuses the URI, e.g. ssl:// without tls. */
ferry_err ferry_mqtt_create(const ferry_mqtt_opts *opts, ferry_mqtt **out);

/* Start connecting (Clean Start 0 with a Session Expiry Interval: a persistent session). After a
 * first success Paho reconnects by itself; until then a failed attempt (also one that cannot
 * start: FERRY_EIO, logged) is retried by ferry_mqtt_tick with a growing, randomised delay.
 * With owner_reconnects, neither: the owner calls it again after on_down (or FERRY_EIO). */
ferry_err ferry_mqtt_connect(ferry_mqtt *m);

/* Hand every queued event to the handlers (see ferry_mqtt_handlers). */
void ferry_mqtt_drain(ferry_mqtt *m);

/* About once a second: retries a first connection that failed, when its time has come. */
void ferry_mqtt_tick(ferry_mqtt *m);

/* How to publish. tracked: the outcome comes back through on_published with tag and epoch.
 * props: user properties sent with the message (at most FERRY_MQTT_MAX_PROPS; copied). */
typedef struct {
    bool retain;
    bool tracked;
    uint64_t tag;
    uint32_t epoch;
    const ferry_mqtt_prop *props;
    size_t nprops;
} ferry_mqtt_pub;

/* Publish at QoS 1 (pub NULL: not retained, not tracked). Paho copies the payload; while
 * disconnected it buffers up to max_buffered messages (see drop_oldest). Any thread. FERRY_EIO
 * (logged) when Paho refused it; a tracked publish then gets no completion. */
ferry_err ferry_mqtt_publish(ferry_mqtt *m, const char *topic, const void *payload, size_t len,
                             const ferry_mqtt_pub *pub);

/* Subscribe to n filters (1..64) at QoS 1; the outcome comes back through on_subscribed with
 * tag. Unsubscribe has no report. FERRY_EIO (logged) when Paho refused the request. */
ferry_err ferry_mqtt_subscribe(ferry_mqtt *m, const char *const *filters, size_t n, uint64_t tag);
ferry_err ferry_mqtt_unsubscribe(ferry_mqtt *m, const char *const *filters, size_t n);

bool ferry_mqtt_is_connected(ferry_mqtt *m);

/* Disconnect (waiting about a second), destroy the client and free what is still queued. No
 * callback runs after it returns; NULL is a no-op. */
void ferry_mqtt_destroy(ferry_mqtt *m);

#endif
