/* broker-bridge MQTT: Paho MQTTAsync client; its callbacks only copy what they get onto a locked
 * queue and wake the loop thread, which hands it to the bridge (see README.md, "Threads"). */
#include "mqtt.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSION_EXPIRY_S (7u * 24u * 3600u)
#define MAX_BUFFERED 100000
#define MAX_QUEUED_MESSAGES 100000 /* received messages waiting for the loop thread */
#define RETRY_MAX_S 60

typedef enum {
    EV_MESSAGE,
    EV_UP,
    EV_DOWN,
    EV_ACK,
    EV_NACK,
    EV_CONNECT_FAILED,
    EV_SUB_FAILED
} ev_kind;

typedef struct event {
    struct event *next;
    ev_kind kind;
    char *topic; /* EV_MESSAGE: topic and payload copied from Paho */
    size_t topic_len;
    unsigned char *payload;
    size_t len;
    int64_t received_ms;
    ferry_outbox_ref ref; /* EV_ACK, EV_NACK */
} event;

/* Context of one publish, alive until Paho calls onSuccess5 or onFailure5. All live ones are
 * linked so that those Paho never answers (destroyed with the client) are freed too. */
typedef struct pubctx {
    struct pubctx *prev, *next;
    ferry_bmqtt *m;
    ferry_outbox_ref ref;
    bool tracked; /* an outbox message: its answer goes back to the bridge */
} pubctx;

struct ferry_bmqtt {
    MQTTAsync client;
    ferry_bmqtt_config cfg;
    char *uri;
    char *client_id;
    /* Shared with Paho's threads, under qlock. qlock is never held while calling Paho (its
     * callbacks run under Paho's own lock and take qlock: the other order would deadlock). */
    pthread_mutex_t qlock;
    event *head, *tail;
    size_t queued_messages;
    unsigned long dropped;
    pubctx pending; /* list head */
    /* Loop thread only. */
    bool up;
    bool ever_up; /* Paho's automatic reconnect covers only connections that once succeeded */
    bool resubscribe;
    bool connect_failed;
    int retry_s;
    int64_t retry_at_ms;
};

static const char *const sub_topics[] = {"ferry/+/nodes/+/hello", "ferry/+/nodes/+/status/+",
                                         "ferry/+/nodes/+/online"};
#define SUB_COUNT ((int)(sizeof(sub_topics) / sizeof(sub_topics[0])))

/* ---- Paho threads ---------------------------------------------------------------------------- */

static void push(ferry_bmqtt *m, event *ev) {
    pthread_mutex_lock(&m->qlock);
    if (m->tail != NULL)
        m->tail->next = ev;
    else
        m->head = ev;
    m->tail = ev;
    pthread_mutex_unlock(&m->qlock);
    m->cfg.wake(m->cfg.wake_ctx);
}

static void push_kind(ferry_bmqtt *m, ev_kind kind) {
    event *ev = ferry_calloc(1, sizeof(*ev));
    if (ev == NULL) {
        LOG_ERROR("mqtt: out of memory; connection event %d lost", (int)kind);
        return;
    }
    ev->kind = kind;
    push(m, ev);
}

/* Copy the message and return 1 (never 0: Paho would redeliver it at once, forever). The PUBACK
 * leaves when this returns; the bridge tolerates losing the message (nodes resend). */
static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg) {
    ferry_bmqtt *m = context;
    event *ev = NULL;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    bool full;

    pthread_mutex_lock(&m->qlock);
    full = m->queued_messages >= MAX_QUEUED_MESSAGES;
    if (full && m->dropped++ % 1000 == 0)
        LOG_WARN("mqtt: %zu received messages wait for the loop thread; dropping (%lu so far)",
                 m->queued_messages, m->dropped);
    if (!full)
        m->queued_messages++;
    pthread_mutex_unlock(&m->qlock);
    if (full)
        goto out;
    ev = ferry_calloc(1, sizeof(*ev));
    if (ev != NULL) {
        ev->topic = ferry_strndup(topic, tlen);
        ev->payload = ferry_malloc(plen ? plen : 1);
    }
    if (ev == NULL || ev->topic == NULL || ev->payload == NULL) {
        LOG_ERROR("mqtt: out of memory; message on %s dropped", topic);
        if (ev != NULL) {
            ferry_free(ev->topic);
            ferry_free(ev->payload);
            ferry_free(ev);
        }
        pthread_mutex_lock(&m->qlock);
        m->queued_messages--;
        pthread_mutex_unlock(&m->qlock);
        goto out;
    }
    ev->kind = EV_MESSAGE;
    ev->topic_len = tlen;
    if (plen > 0)
        memcpy(ev->payload, msg->payload, plen);
    ev->len = plen;
    ev->received_ms = ferry_now_ms();
    push(m, ev);
out:
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void on_connected(void *context, char *cause) {
    (void)cause;
    push_kind(context, EV_UP);
}

static void on_connection_lost(void *context, char *cause) {
    ferry_bmqtt *m = context;
    LOG_WARN("mqtt: connection to %s lost (%s); reconnecting", m->uri, cause ? cause : "no cause");
    push_kind(m, EV_DOWN);
}

static void on_disconnected(void *context, MQTTProperties *props, enum MQTTReasonCodes rc) {
    ferry_bmqtt *m = context;
    (void)props;
    LOG_WARN("mqtt: the broker at %s closed the session (%s); reconnecting", m->uri,
             MQTTReasonCode_toString(rc));
    push_kind(m, EV_DOWN);
}

static void on_connect_failure(void *context, MQTTAsync_failureData5 *r) {
    ferry_bmqtt *m = context;
    LOG_WARN("mqtt: cannot connect to %s: %s (code %d)", m->uri,
             r && r->message ? r->message : MQTTAsync_strerror(r ? r->code : -1), r ? r->code : -1);
    push_kind(m, EV_CONNECT_FAILED);
}

static void on_sub_ok(void *context, MQTTAsync_successData5 *r) {
    ferry_bmqtt *m = context;
    bool ok = r->alt.sub.reasonCodeCount > 0 || r->reasonCode < MQTTREASONCODE_UNSPECIFIED_ERROR;
    for (int i = 0; i < r->alt.sub.reasonCodeCount; i++)
        ok = ok && r->alt.sub.reasonCodes[i] < MQTTREASONCODE_UNSPECIFIED_ERROR;
    if (ok) {
        LOG_INFO("mqtt: subscribed to hello, status and online topics");
        return;
    }
    LOG_ERROR("mqtt: the broker refused a subscription (check its ACLs); retrying");
    push_kind(m, EV_SUB_FAILED);
}

static void on_sub_fail(void *context, MQTTAsync_failureData5 *r) {
    LOG_ERROR("mqtt: subscribing failed: %s (code %d); retrying",
              r && r->message ? r->message : MQTTAsync_strerror(r ? r->code : -1),
              r ? r->code : -1);
    push_kind(context, EV_SUB_FAILED);
}

static void unlink_pub(pubctx *pc) {
    pc->prev->next = pc->next;
    pc->next->prev = pc->prev;
}

static void pub_done(pubctx *pc, bool ok, int code, const char *why) {
    ferry_bmqtt *m = pc->m;
    event *ev = NULL;
    pthread_mutex_lock(&m->qlock);
    unlink_pub(pc);
    pthread_mutex_unlock(&m->qlock);
    if (!ok)
        LOG_WARN("mqtt: publish failed: %s (code %d)%s", why ? why : MQTTAsync_strerror(code), code,
                 pc->tracked ? "; it is sent again" : "");
    if (pc->tracked && (ev = ferry_calloc(1, sizeof(*ev))) != NULL) {
        ev->kind = ok ? EV_ACK : EV_NACK;
        ev->ref = pc->ref;
        push(m, ev);
    } else if (pc->tracked) {
        LOG_ERROR("mqtt: out of memory; outbox message %llu stays until the next reconnect",
                  (unsigned long long)pc->ref.seq);
    }
    ferry_free(pc);
}

static void on_pub_ok(void *context, MQTTAsync_successData5 *r) {
    if (r->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
        pub_done(context, false, r->reasonCode, MQTTReasonCode_toString(r->reasonCode));
    else
        pub_done(context, true, 0, NULL);
}

static void on_pub_fail(void *context, MQTTAsync_failureData5 *r) {
    pub_done(context, false, r ? r->code : -1, r ? r->message : NULL);
}

/* ---- loop thread ----------------------------------------------------------------------------- */

ferry_err ferry_bmqtt_create(const ferry_bmqtt_config *cfg, ferry_bmqtt **out) {
    MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer5;
    ferry_bmqtt *m = ferry_calloc(1, sizeof(*m));
    int rc;

    *out = NULL;
    if (m == NULL)
        return FERRY_ENOMEM;
    m->cfg = *cfg;
    if (m->cfg.session_expiry_s == 0)
        m->cfg.session_expiry_s = SESSION_EXPIRY_S;
    m->uri = ferry_strdup(cfg->uri);
    m->client_id = ferry_strdup(cfg->client_id);
    m->pending.next = m->pending.prev = &m->pending;
    m->retry_s = 1;
    pthread_mutex_init(&m->qlock, NULL);
    if (m->uri == NULL || m->client_id == NULL) {
        ferry_bmqtt_destroy(m);
        return FERRY_ENOMEM;
    }
    opts.MQTTVersion = MQTTVERSION_5;
    opts.sendWhileDisconnected = 1; /* a sync sent in the instant the link drops is not lost */
    opts.maxBufferedMessages = MAX_BUFFERED;
    rc = MQTTAsync_createWithOptions(&m->client, m->uri, m->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                     NULL, &opts);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message, NULL);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setConnected(m->client, m, on_connected);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setDisconnected(m->client, m, on_disconnected);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt: cannot create a client for %s: %s", m->uri, MQTTAsync_strerror(rc));
        ferry_bmqtt_destroy(m);
        return FERRY_EINVAL;
    }
    *out = m;
    return FERRY_OK;
}

ferry_err ferry_bmqtt_connect(ferry_bmqtt *m) {
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer5;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    int rc;

    /* Persistent session: Clean Start = 0 and a Session Expiry Interval, or the broker drops
     * the session (and what it queued for us) at the first disconnect. */
    expiry.value.integer4 = m->cfg.session_expiry_s;
    if (MQTTProperties_add(&props, &expiry) != 0)
        return FERRY_ENOMEM;
    opts.cleanstart = 0;
    opts.connectProperties = &props;
    opts.keepAliveInterval = 30;
    opts.automaticReconnect = 1;
    /* Paho's backoff has little jitter: a random minimum spreads reconnect storms. */
    opts.minRetryInterval = 1 + rand() % 4;
    opts.maxRetryInterval = RETRY_MAX_S;
    opts.onSuccess5 = NULL; /* on_connected reports every connection, the first included */
    opts.onFailure5 = on_connect_failure;
    opts.context = m;
    rc = MQTTAsync_connect(m->client, &opts);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt: cannot start connecting to %s: %s", m->uri, MQTTAsync_strerror(rc));
        return FERRY_EIO;
    }
    LOG_INFO("mqtt: connecting to %s as %s", m->uri, m->client_id);
    return FERRY_OK;
}

static void subscribe(ferry_bmqtt *m) {
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int qos[SUB_COUNT];
    for (int i = 0; i < SUB_COUNT; i++)
        qos[i] = 1;
    ro.onSuccess5 = on_sub_ok;
    ro.onFailure5 = on_sub_fail;
    ro.context = m;
    m->resubscribe = false;
    int rc = MQTTAsync_subscribeMany(m->client, SUB_COUNT, (char *const *)sub_topics, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt: cannot subscribe: %s; retrying", MQTTAsync_strerror(rc));
        m->resubscribe = true;
    }
}

ferry_err ferry_bmqtt_publish(void *ctx, const char *topic, const unsigned char *payload,
                              size_t len, const ferry_outbox_ref *ref) {
    ferry_bmqtt *m = ctx;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    pubctx *pc = ferry_calloc(1, sizeof(*pc));

    if (pc == NULL)
        return FERRY_ENOMEM;
    pc->m = m;
    pc->tracked = ref != NULL;
    if (ref != NULL)
        pc->ref = *ref;
    pthread_mutex_lock(&m->qlock);
    pc->next = m->pending.next;
    pc->prev = &m->pending;
    m->pending.next->prev = pc;
    m->pending.next = pc;
    pthread_mutex_unlock(&m->qlock);

    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    ro.onSuccess5 = on_pub_ok;
    ro.onFailure5 = on_pub_fail;
    ro.context = pc;
    int rc = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&m->qlock);
        unlink_pub(pc);
        pthread_mutex_unlock(&m->qlock);
        ferry_free(pc);
        LOG_WARN("mqtt: cannot publish on %s: %s", topic, MQTTAsync_strerror(rc));
        return FERRY_EIO;
    }
    LOG_DEBUG("mqtt: published %zu bytes on %s", len, topic);
    return FERRY_OK;
}

static void free_event(event *ev) {
    ferry_free(ev->topic);
    ferry_free(ev->payload);
    ferry_free(ev);
}

/* Batches of received messages and acknowledgements, handed over in one call (and one LMDB
 * transaction) each. */
typedef struct {
    ferry_bridge_msg *msgs;
    size_t nmsgs;
    ferry_outbox_ref *acks;
    size_t nacks;
} batches;

static void flush(ferry_bridge *b, batches *bt) {
    if (bt->nmsgs > 0)
        ferry_bridge_handle_messages(b, bt->msgs, bt->nmsgs);
    if (bt->nacks > 0)
        ferry_bridge_outbox_acked(b, bt->acks, bt->nacks);
    bt->nmsgs = bt->nacks = 0;
}

void ferry_bmqtt_drain(ferry_bmqtt *m, ferry_bridge *b) {
    event *list, *ev;
    size_t n = 0, nmessages = 0;
    batches bt = {0};

    pthread_mutex_lock(&m->qlock);
    list = m->head;
    m->head = m->tail = NULL;
    nmessages = m->queued_messages;
    m->queued_messages = 0;
    pthread_mutex_unlock(&m->qlock);
    for (ev = list; ev != NULL; ev = ev->next)
        n++;
    if (n == 0)
        return;
    bt.msgs = ferry_calloc(n, sizeof(*bt.msgs));
    bt.acks = ferry_calloc(n, sizeof(*bt.acks));
    if (bt.msgs == NULL || bt.acks == NULL) {
        LOG_ERROR("mqtt: out of memory; %zu events (%zu messages) dropped", n, nmessages);
        goto out;
    }
    for (ev = list; ev != NULL; ev = ev->next) {
        switch (ev->kind) {
        case EV_MESSAGE:
            bt.msgs[bt.nmsgs++] = (ferry_bridge_msg){.topic = ev->topic,
                                                     .topic_len = ev->topic_len,
                                                     .payload = ev->payload,
                                                     .len = ev->len,
                                                     .received_ms = ev->received_ms};
            continue;
        case EV_ACK:
            bt.acks[bt.nacks++] = ev->ref;
            continue;
        default:
            break;
        }
        flush(b, &bt);
        switch (ev->kind) {
        case EV_UP:
            LOG_INFO("mqtt: connected to %s", m->uri);
            m->up = m->ever_up = true;
            m->connect_failed = false;
            m->retry_s = 1;
            subscribe(m);
            ferry_bridge_mqtt_up(b);
            break;
        case EV_DOWN:
            m->up = false;
            ferry_bridge_mqtt_down(b);
            break;
        case EV_NACK:
            ferry_bridge_outbox_failed(b, &ev->ref);
            break;
        case EV_CONNECT_FAILED:
            if (!m->ever_up) {
                m->connect_failed = true;
                m->retry_at_ms = ferry_mono_ms() + m->retry_s * 1000;
            }
            break;
        case EV_SUB_FAILED:
            m->resubscribe = true;
            break;
        default:
            break;
        }
    }
    flush(b, &bt);
out:
    ferry_free(bt.msgs);
    ferry_free(bt.acks);
    while (list != NULL) {
        ev = list->next;
        free_event(list);
        list = ev;
    }
}

void ferry_bmqtt_tick(ferry_bmqtt *m) {
    if (m->up && m->resubscribe)
        subscribe(m);
    /* Paho's automatic reconnect only takes over after a first successful connection. */
    if (!m->up && m->connect_failed && ferry_mono_ms() >= m->retry_at_ms) {
        m->connect_failed = false;
        if (m->retry_s < RETRY_MAX_S)
            m->retry_s *= 2;
        if (MQTTAsync_isConnected(m->client) == 0)
            ferry_bmqtt_connect(m);
    }
}

void ferry_bmqtt_destroy(ferry_bmqtt *m) {
    if (m == NULL)
        return;
    if (m->client != NULL) {
        if (MQTTAsync_isConnected(m->client)) {
            MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer5;
            opts.timeout = 1000;
            if (MQTTAsync_disconnect(m->client, &opts) == MQTTASYNC_SUCCESS) {
                int64_t deadline = ferry_mono_ms() + 1500;
                struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
                while (MQTTAsync_isConnected(m->client) && ferry_mono_ms() < deadline)
                    nanosleep(&ts, NULL);
            }
        }
        MQTTAsync_destroy(&m->client);
    }
    /* No callback runs any more: free what Paho never answered and what was never drained. */
    while (m->pending.next != &m->pending && m->pending.next != NULL) {
        pubctx *pc = m->pending.next;
        unlink_pub(pc);
        ferry_free(pc);
    }
    while (m->head != NULL) {
        event *ev = m->head;
        m->head = ev->next;
        free_event(ev);
    }
    pthread_mutex_destroy(&m->qlock);
    ferry_free(m->uri);
    ferry_free(m->client_id);
    ferry_free(m);
}
