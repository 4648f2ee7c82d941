/* edge-sync MQTT: Paho MQTTAsync client setup, persistent session and callbacks (see mqtt.h). */
#include "mqtt.h"

#include <MQTTAsync.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ferry_mqtt {
    MQTTAsync client;
    ferry_mqtt_opts opts;
    char *uri, *client_id, *will_topic;
    void *will_payload;
};

/* Paho limits what it buffers while disconnected; status messages are small and few per app. */
#define MQTT_MAX_BUFFERED 10000

/* Waiting for Paho's disconnect to finish at shutdown; not synchronisation of tests. */
static void sleep_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void on_connection_lost(void *ctx, char *cause) {
    ferry_mqtt *m = ctx;
    if (m->opts.on_lost)
        m->opts.on_lost(m->opts.ud, cause ? cause : "connection lost");
}

static int on_message_arrived(void *ctx, char *topic, int tlen, MQTTAsync_message *msg) {
    ferry_mqtt *m = ctx;
    size_t len = tlen > 0 ? (size_t)tlen : strlen(topic);

    if (m->opts.on_message)
        m->opts.on_message(m->opts.ud, topic, len, msg->payload,
                           msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1; /* never 0: Paho would redeliver in a loop (PLATFORM.md) */
}

static void on_connected(void *ctx, char *cause) {
    ferry_mqtt *m = ctx;
    (void)cause;
    if (m->opts.on_connected)
        m->opts.on_connected(m->opts.ud);
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData5 *resp) {
    ferry_mqtt *m = ctx;
    if (m->opts.on_lost)
        m->opts.on_lost(m->opts.ud, resp && resp->message ? resp->message : "connect failed");
}

typedef struct {
    ferry_mqtt *m;
    long tag;
} sub_ctx;

static void on_sub_success(void *ctx, MQTTAsync_successData5 *resp) {
    sub_ctx *sc = ctx;
    bool ok = true;
    int i;

    if (resp->alt.sub.reasonCodeCount > 0 && resp->alt.sub.reasonCodes) {
        for (i = 0; i < resp->alt.sub.reasonCodeCount; i++)
            ok = ok && resp->alt.sub.reasonCodes[i] < MQTTREASONCODE_UNSPECIFIED_ERROR;
    } else {
        ok = resp->reasonCode < MQTTREASONCODE_UNSPECIFIED_ERROR;
    }
    if (sc->m->opts.on_subscribed)
        sc->m->opts.on_subscribed(sc->m->opts.ud, sc->tag, ok);
    ferry_free(sc);
}

static void on_sub_failure(void *ctx, MQTTAsync_failureData5 *resp) {
    sub_ctx *sc = ctx;
    (void)resp;
    if (sc->m->opts.on_subscribed)
        sc->m->opts.on_subscribed(sc->m->opts.ud, sc->tag, false);
    ferry_free(sc);
}

ferry_err ferry_mqtt_create(const ferry_mqtt_opts *opts, ferry_mqtt **out) {
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    ferry_mqtt *m = ferry_calloc(1, sizeof(*m));
    int rc;

    *out = NULL;
    if (!m)
        return FERRY_ENOMEM;
    m->opts = *opts;
    m->uri = ferry_strdup(opts->uri);
    m->client_id = ferry_strdup(opts->client_id);
    m->will_topic = opts->will_topic ? ferry_strdup(opts->will_topic) : NULL;
    m->will_payload = opts->will_len ? ferry_malloc(opts->will_len) : NULL;
    if (!m->uri || !m->client_id || (opts->will_topic && !m->will_topic) ||
        (opts->will_len && !m->will_payload))
        goto nomem;
    if (opts->will_len)
        memcpy(m->will_payload, opts->will_payload, opts->will_len);
    co.sendWhileDisconnected = 1;
    co.maxBufferedMessages = MQTT_MAX_BUFFERED;
    co.deleteOldestMessages = 1;
    rc = MQTTAsync_createWithOptions(&m->client, m->uri, m->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                     NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt: cannot create a client for %s: %s", m->uri, MQTTAsync_strerror(rc));
        ferry_mqtt_destroy(m);
        return FERRY_EINVAL;
    }
    MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message_arrived, NULL);
    MQTTAsync_setConnected(m->client, m, on_connected);
    *out = m;
    return FERRY_OK;
nomem:
    ferry_mqtt_destroy(m);
    return FERRY_ENOMEM;
}

ferry_err ferry_mqtt_connect(ferry_mqtt *m) {
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    int rc;

    expiry.value.integer4 = (unsigned int)m->opts.session_expiry_s;
    MQTTProperties_add(&props, &expiry);
    co.keepAliveInterval = 15;
    co.cleanstart = 0; /* the v5 initializer sets 1: keep the session (PLATFORM.md) */
    co.automaticReconnect = 1;
    /* Spread reconnects of a fleet after a broker outage: Paho's own jitter is weak. */
    co.minRetryInterval = 1 + rand() % 3;
    co.maxRetryInterval = 30;
    co.connectProperties = &props;
    co.onFailure5 = on_connect_failure;
    co.context = m;
    if (m->will_topic) {
        will.topicName = m->will_topic;
        will.payload.data = m->will_payload;
        will.payload.len = (int)m->opts.will_len;
        will.message = NULL;
        will.retained = 1;
        will.qos = 1;
        co.will = &will;
    }
    rc = MQTTAsync_connect(m->client, &co);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_WARN("mqtt: connect to %s failed to start: %s", m->uri, MQTTAsync_strerror(rc));
        return FERRY_EIO;
    }
    return FERRY_OK;
}

ferry_err ferry_mqtt_subscribe(ferry_mqtt *m, char *const *filters, int n, long tag) {
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    sub_ctx *sc = ferry_malloc(sizeof(*sc));
    int qos[64], i, rc;

    if (!sc)
        return FERRY_ENOMEM;
    if (n <= 0 || n > 64) {
        ferry_free(sc);
        return FERRY_EINVAL;
    }
    for (i = 0; i < n; i++)
        qos[i] = 1;
    sc->m = m;
    sc->tag = tag;
    ro.onSuccess5 = on_sub_success;
    ro.onFailure5 = on_sub_failure;
    ro.context = sc;
    rc = MQTTAsync_subscribeMany(m->client, n, (char *const *)filters, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_WARN("mqtt: subscribe failed: %s", MQTTAsync_strerror(rc));
        ferry_free(sc);
        return FERRY_EIO;
    }
    return FERRY_OK;
}

ferry_err ferry_mqtt_unsubscribe(ferry_mqtt *m, char *const *filters, int n) {
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_unsubscribeMany(m->client, n, (char *const *)filters, &ro);
    return rc == MQTTASYNC_SUCCESS ? FERRY_OK : FERRY_EIO;
}

ferry_err ferry_mqtt_publish(ferry_mqtt *m, const char *topic, const void *payload, size_t len,
                             bool retain) {
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc;

    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    msg.retained = retain;
    rc = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_WARN("mqtt: publish on %s failed: %s", topic, MQTTAsync_strerror(rc));
        return FERRY_EIO;
    }
    return FERRY_OK;
}

bool ferry_mqtt_is_connected(ferry_mqtt *m) {
    return MQTTAsync_isConnected(m->client) != 0;
}

void ferry_mqtt_destroy(ferry_mqtt *m) {
    if (!m)
        return;
    if (m->client) {
        MQTTAsync_disconnectOptions dc = MQTTAsync_disconnectOptions_initializer5;
        dc.timeout = 1000;
        /* A stopped node is offline: let the broker publish the will for us. */
        dc.reasonCode = MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE;
        if (MQTTAsync_isConnected(m->client) &&
            MQTTAsync_disconnect(m->client, &dc) == MQTTASYNC_SUCCESS) {
            int64_t deadline = ferry_mono_ms() + 1000;
            while (MQTTAsync_isConnected(m->client) && ferry_mono_ms() < deadline)
                sleep_ms(10);
        }
        MQTTAsync_destroy(&m->client);
    }
    ferry_free(m->uri);
    ferry_free(m->client_id);
    ferry_free(m->will_topic);
    ferry_free(m->will_payload);
    ferry_free(m);
}
