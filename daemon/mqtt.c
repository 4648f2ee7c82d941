/* The MQTT client core of both daemons (see mqtt.h): Paho's callbacks queue, the owner drains. */
#include "mqtt.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_SESSION_EXPIRY_S (7u * 24u * 3600u)
#define DEFAULT_KEEPALIVE_S 30
#define DEFAULT_MAX_RETRY_S 30
#define DEFAULT_MAX_BUFFERED 10000
#define DEFAULT_MAX_QUEUED_BYTES ((size_t)64 << 20)
#define EVENT_OVERHEAD 256 /* what a queued message costs beyond its payload, for the byte cap */
#define MAX_FILTERS 64

typedef enum { EV_MESSAGE, EV_UP, EV_DOWN, EV_CONNECT_FAILED, EV_DONE, EV_SUBSCRIBED } ev_kind;

typedef struct event {
    struct event *next;
    ev_kind kind;
    char *topic; /* EV_MESSAGE: copied from Paho */
    size_t topic_len;
    unsigned char *payload;
    size_t len;
    char *props[FERRY_MQTT_MAX_PROPS][2]; /* user properties: name, value */
    size_t nprops;
    int64_t received_ms;
    ferry_mqtt_done done; /* EV_DONE; EV_SUBSCRIBED uses tag and ok */
    char cause[160];      /* EV_DOWN, EV_CONNECT_FAILED */
} event;

/* Context of one tracked publish or one subscribe, alive until Paho answers. All live ones are
 * linked so that those Paho never answers (the client destroyed first) are freed too. */
typedef struct request {
    struct request *prev, *next;
    ferry_mqtt *m;
    bool subscribe;
    size_t filters; /* a subscribe: how many */
    ferry_mqtt_done done;
} request;

struct ferry_mqtt {
    MQTTAsync client;
    ferry_mqtt_opts opts;
    /* Copies of the strings of opts, alive as long as the client (Paho keeps pointers). */
    char *uri, *client_id, *username, *password, *will_topic, *will_sig, *ca_file, *cert_file,
        *key_file;
    void *will_payload;
    /* Shared with Paho's threads, under qlock. qlock is never held while calling Paho: its
     * callbacks run under Paho's lock and take qlock, so the other order would deadlock. */
    pthread_mutex_t qlock;
    event *head, *tail;
    size_t queued_bytes;
    size_t dropped;
    request pending; /* list head */
    /* Owner thread only. */
    bool ever_up;
    bool retry_due;
    int retry_s;
    int64_t retry_at_ms;
};

/* ---- Paho's threads ------------------------------------------------------------------------ */

static void push(ferry_mqtt *m, event *ev) {
    pthread_mutex_lock(&m->qlock);
    if (m->tail != NULL)
        m->tail->next = ev;
    else
        m->head = ev;
    m->tail = ev;
    pthread_mutex_unlock(&m->qlock);
    if (m->opts.wake != NULL)
        m->opts.wake(m->opts.wake_ctx);
}

static void free_event(event *ev) {
    if (ev == NULL)
        return;
    for (size_t i = 0; i < ev->nprops; i++) {
        ferry_free(ev->props[i][0]);
        ferry_free(ev->props[i][1]);
    }
    ferry_free(ev->topic);
    ferry_free(ev->payload);
    ferry_free(ev);
}

static void push_state(ferry_mqtt *m, ev_kind kind, const char *cause) {
    event *ev = ferry_calloc(1, sizeof(*ev));
    if (ev == NULL) {
        LOG_ERROR("mqtt: out of memory; a connection event (%d) is lost", (int)kind);
        return;
    }
    ev->kind = kind;
    snprintf(ev->cause, sizeof(ev->cause), "%s", cause != NULL ? cause : "");
    push(m, ev);
}

static void count_dropped(ferry_mqtt *m) {
    pthread_mutex_lock(&m->qlock);
    if (m->dropped++ % 1000 == 0)
        LOG_WARN("mqtt: %zu bytes of received messages wait for the loop; dropping messages "
                 "(%zu so far)",
                 m->queued_bytes, m->dropped);
    pthread_mutex_unlock(&m->qlock);
    if (m->opts.wake != NULL)
        m->opts.wake(m->opts.wake_ctx);
}

/* Copy the user properties of msg into ev (the first FERRY_MQTT_MAX_PROPS); false on ENOMEM. */
static bool copy_props(event *ev, const MQTTAsync_message *msg) {
    for (int i = 0; i < msg->properties.count && ev->nprops < FERRY_MQTT_MAX_PROPS; i++) {
        const MQTTProperty *p = &msg->properties.array[i];
        if (p->identifier != MQTTPROPERTY_CODE_USER_PROPERTY)
            continue;
        char **kv = ev->props[ev->nprops];
        kv[0] = ferry_strndup(p->value.data.data, (size_t)p->value.data.len);
        kv[1] = ferry_strndup(p->value.value.data, (size_t)p->value.value.len);
        ev->nprops++;
        if (kv[0] == NULL || kv[1] == NULL)
            return false;
    }
    return true;
}

/* Copy the message and return 1: never 0, or Paho delivers it again at once, forever. */
static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg) {
    ferry_mqtt *m = context;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    size_t cost = plen + tlen + EVENT_OVERHEAD;
    event *ev = NULL;
    bool full;

    pthread_mutex_lock(&m->qlock);
    full = m->queued_bytes + cost > m->opts.max_queued_bytes;
    if (!full)
        m->queued_bytes += cost;
    pthread_mutex_unlock(&m->qlock);
    if (!full) {
        ev = ferry_calloc(1, sizeof(*ev));
        if (ev != NULL) {
            ev->topic = ferry_strndup(topic, tlen);
            ev->payload = ferry_malloc(plen);
        }
    }
    if (ev == NULL || ev->topic == NULL || ev->payload == NULL || !copy_props(ev, msg)) {
        free_event(ev);
        if (!full) {
            pthread_mutex_lock(&m->qlock);
            m->queued_bytes -= cost;
            pthread_mutex_unlock(&m->qlock);
        }
        count_dropped(m);
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
    push_state(context, EV_UP, NULL);
}

static void on_connection_lost(void *context, char *cause) {
    ferry_mqtt *m = context;
    LOG_WARN("mqtt: connection to %s lost (%s); reconnecting", m->uri,
             cause != NULL ? cause : "no cause");
    push_state(m, EV_DOWN, cause != NULL ? cause : "connection lost");
}

static void on_disconnected(void *context, MQTTProperties *props, enum MQTTReasonCodes rc) {
    ferry_mqtt *m = context;
    (void)props;
    LOG_WARN("mqtt: the broker at %s closed the connection (%s); reconnecting", m->uri,
             MQTTReasonCode_toString(rc));
    push_state(m, EV_DOWN, MQTTReasonCode_toString(rc));
}

static void on_connect_failure(void *context, MQTTAsync_failureData5 *r) {
    ferry_mqtt *m = context;
    char cause[160];
    snprintf(cause, sizeof(cause), "%s (code %d)",
             r != NULL && r->message != NULL ? r->message
                                             : MQTTAsync_strerror(r != NULL ? r->code : -1),
             r != NULL ? r->code : -1);
    LOG_WARN("mqtt: cannot connect to %s as %s: %s", m->uri, m->client_id, cause);
    push_state(m, EV_CONNECT_FAILED, cause);
}

static void unlink_request(request *rq) {
    pthread_mutex_lock(&rq->m->qlock);
    rq->prev->next = rq->next;
    rq->next->prev = rq->prev;
    pthread_mutex_unlock(&rq->m->qlock);
}

/* A tracked publish or a subscribe got its answer: queue it and free the context. */
static void request_done(request *rq, bool ok) {
    ferry_mqtt *m = rq->m;
    event *ev = ferry_calloc(1, sizeof(*ev));

    unlink_request(rq);
    if (ev == NULL) {
        LOG_ERROR("mqtt: out of memory; the outcome of %s %llu is lost",
                  rq->subscribe ? "subscription" : "publish", (unsigned long long)rq->done.tag);
    } else {
        ev->kind = rq->subscribe ? EV_SUBSCRIBED : EV_DONE;
        ev->done = rq->done;
        ev->done.ok = ok;
        push(m, ev);
    }
    ferry_free(rq);
}

static void on_pub_ok(void *context, MQTTAsync_successData5 *r) {
    bool ok = r == NULL || r->reasonCode < MQTTREASONCODE_UNSPECIFIED_ERROR;
    if (!ok)
        LOG_WARN("mqtt: the broker refused a publish: %s", MQTTReasonCode_toString(r->reasonCode));
    request_done(context, ok);
}

static void on_pub_fail(void *context, MQTTAsync_failureData5 *r) {
    LOG_WARN("mqtt: publish failed: %s (code %d)",
             r != NULL && r->message != NULL ? r->message
                                             : MQTTAsync_strerror(r != NULL ? r->code : -1),
             r != NULL ? r->code : -1);
    request_done(context, false);
}

static void on_sub_ok(void *context, MQTTAsync_successData5 *r) {
    request *rq = context;
    bool ok = r != NULL;
    /* One granted QoS per filter. Paho fills the array only when more than one filter was asked
     * for (the rest of the union is left as it was); for one, the code is in reasonCode. */
    if (ok && rq->filters > 1) {
        ok = r->alt.sub.reasonCodeCount == (int)rq->filters && r->alt.sub.reasonCodes != NULL;
        for (int i = 0; ok && i < r->alt.sub.reasonCodeCount; i++)
            ok = r->alt.sub.reasonCodes[i] < MQTTREASONCODE_UNSPECIFIED_ERROR;
    } else if (ok) {
        ok = r->reasonCode < MQTTREASONCODE_UNSPECIFIED_ERROR;
    }
    request_done(rq, ok);
}

static void on_sub_fail(void *context, MQTTAsync_failureData5 *r) {
    LOG_WARN("mqtt: subscribing failed: %s (code %d)",
             r != NULL && r->message != NULL ? r->message
                                             : MQTTAsync_strerror(r != NULL ? r->code : -1),
             r != NULL ? r->code : -1);
    request_done(context, false);
}

/* ---- owner's thread -------------------------------------------------------------------------- */

/* Copy s into *dst (NULL stays NULL); false on ENOMEM. */
static bool copy_str(char **dst, const char *s) {
    *dst = s != NULL ? ferry_strdup(s) : NULL;
    return s == NULL || *dst != NULL;
}

ferry_err ferry_mqtt_create(const ferry_mqtt_opts *opts, ferry_mqtt **out) {
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    ferry_mqtt *m = ferry_calloc(1, sizeof(*m));
    const ferry_mqtt_tls *tls = opts->tls;
    int rc;

    *out = NULL;
    if (m == NULL)
        return FERRY_ENOMEM;
    m->opts = *opts;
    m->opts.tls = NULL; /* copied below */
    if (m->opts.session_expiry_s == 0)
        m->opts.session_expiry_s = DEFAULT_SESSION_EXPIRY_S;
    if (m->opts.keepalive_s <= 0)
        m->opts.keepalive_s = DEFAULT_KEEPALIVE_S;
    if (m->opts.max_retry_s <= 0)
        m->opts.max_retry_s = DEFAULT_MAX_RETRY_S;
    if (m->opts.max_buffered <= 0)
        m->opts.max_buffered = DEFAULT_MAX_BUFFERED;
    if (m->opts.max_queued_bytes == 0)
        m->opts.max_queued_bytes = DEFAULT_MAX_QUEUED_BYTES;
    m->pending.next = m->pending.prev = &m->pending;
    m->retry_s = 1;
    pthread_mutex_init(&m->qlock, NULL);
    if (!copy_str(&m->uri, opts->uri) || !copy_str(&m->client_id, opts->client_id) ||
        !copy_str(&m->username, opts->username) || !copy_str(&m->password, opts->password) ||
        !copy_str(&m->will_topic, opts->will_topic) || !copy_str(&m->will_sig, opts->will_sig) ||
        (tls != NULL &&
         (!copy_str(&m->ca_file, tls->ca_file) || !copy_str(&m->cert_file, tls->cert_file) ||
          !copy_str(&m->key_file, tls->key_file))) ||
        (opts->will_len > 0 && (m->will_payload = ferry_malloc(opts->will_len)) == NULL)) {
        ferry_mqtt_destroy(m);
        return FERRY_ENOMEM;
    }
    if (opts->will_len > 0)
        memcpy(m->will_payload, opts->will_payload, opts->will_len);
    m->opts.uri = m->uri;
    m->opts.client_id = m->client_id;
    if (tls != NULL)
        m->opts.tls = tls; /* only its presence is kept; the strings are the copies above */
    co.MQTTVersion = MQTTVERSION_5;
    co.sendWhileDisconnected = 1; /* a message sent in the instant the link drops is not lost */
    co.maxBufferedMessages = m->opts.max_buffered;
    co.deleteOldestMessages = m->opts.drop_oldest;
    rc = MQTTAsync_createWithOptions(&m->client, m->uri, m->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                     NULL, &co);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message, NULL);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setConnected(m->client, m, on_connected);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setDisconnected(m->client, m, on_disconnected);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_ERROR("mqtt: cannot create a client for %s: %s", m->uri, MQTTAsync_strerror(rc));
        ferry_mqtt_destroy(m);
        return FERRY_EINVAL;
    }
    *out = m;
    return FERRY_OK;
}

/* Paho's automatic reconnect covers only connections that once succeeded: until then, try
 * again after a doubling, randomised delay. */
static void schedule_retry(ferry_mqtt *m) {
    int jitter = m->retry_s > 1 ? rand() % m->retry_s : 0;
    m->retry_due = true;
    m->retry_at_ms = ferry_mono_ms() + (int64_t)(m->retry_s + jitter) * 1000;
    if (m->retry_s < m->opts.max_retry_s)
        m->retry_s = m->retry_s * 2 < m->opts.max_retry_s ? m->retry_s * 2 : m->opts.max_retry_s;
}

ferry_err ferry_mqtt_connect(ferry_mqtt *m) {
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer, will_props = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    int rc;

    /* A persistent session needs Clean Start 0 AND a Session Expiry Interval (the v5
     * initializer sets Clean Start 1), or the broker drops what it queued for us at the first
     * disconnect. */
    expiry.value.integer4 = m->opts.session_expiry_s;
    if (MQTTProperties_add(&props, &expiry) != 0)
        return FERRY_ENOMEM;
    co.cleanstart = 0;
    co.connectProperties = &props;
    co.keepAliveInterval = m->opts.keepalive_s;
    co.automaticReconnect = !m->opts.owner_reconnects;
    /* Paho's backoff has little jitter: a random minimum spreads the reconnects of a fleet
     * after a broker outage. */
    co.minRetryInterval = 1 + rand() % 3;
    co.maxRetryInterval = m->opts.max_retry_s;
    co.username = m->username;
    co.password = m->password;
    co.onFailure5 = on_connect_failure; /* on_connected reports every success, the first too */
    co.context = m;
    if (m->will_topic != NULL) {
        will.topicName = m->will_topic;
        will.payload.data = m->will_payload;
        will.payload.len = (int)m->opts.will_len;
        will.message = NULL;
        will.retained = m->opts.will_retain;
        will.qos = 1;
        co.will = &will;
        if (m->will_sig != NULL) {
            MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
            p.value.data.data = "sig";
            p.value.data.len = 3;
            p.value.value.data = m->will_sig;
            p.value.value.len = (int)strlen(m->will_sig);
            if (MQTTProperties_add(&will_props, &p) != 0) {
                MQTTProperties_free(&props);
                return FERRY_ENOMEM;
            }
            co.willProperties = &will_props;
        }
    }
    if (m->opts.tls != NULL) {
        ssl.trustStore = m->ca_file;
        ssl.keyStore = m->cert_file;
        ssl.privateKey = m->key_file;
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1; /* the certificate must name the host of the URI */
        co.ssl = &ssl;
    }
    rc = MQTTAsync_connect(m->client, &co);
    MQTTProperties_free(&props);
    MQTTProperties_free(&will_props);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_WARN("mqtt: cannot start connecting to %s: %s", m->uri, MQTTAsync_strerror(rc));
        if (!m->opts.owner_reconnects)
            schedule_retry(m);
        return FERRY_EIO;
    }
    LOG_INFO("mqtt: connecting to %s as %s", m->uri, m->client_id);
    return FERRY_OK;
}

void ferry_mqtt_tick(ferry_mqtt *m) {
    if (!m->retry_due || ferry_mono_ms() < m->retry_at_ms)
        return;
    m->retry_due = false;
    if (MQTTAsync_isConnected(m->client) == 0)
        ferry_mqtt_connect(m); /* schedules the next try when it cannot start */
}

/* Runs of messages and of completions collected during one drain. */
typedef struct {
    ferry_mqtt_msg *msgs;
    size_t nmsgs;
    ferry_mqtt_done *dones;
    size_t ndones;
} runs;

static void flush_runs(ferry_mqtt *m, runs *r) {
    const ferry_mqtt_handlers *h = &m->opts.handlers;
    if (r->nmsgs > 0 && h->on_messages != NULL)
        h->on_messages(m->opts.ud, r->msgs, r->nmsgs);
    if (r->ndones > 0 && h->on_published != NULL)
        h->on_published(m->opts.ud, r->dones, r->ndones);
    r->nmsgs = r->ndones = 0;
}

static void deliver(ferry_mqtt *m, const event *ev) {
    const ferry_mqtt_handlers *h = &m->opts.handlers;
    switch (ev->kind) {
    case EV_UP:
        LOG_INFO("mqtt: connected to %s as %s", m->uri, m->client_id);
        m->ever_up = true;
        m->retry_due = false;
        m->retry_s = 1;
        if (h->on_up != NULL)
            h->on_up(m->opts.ud);
        break;
    case EV_CONNECT_FAILED:
        if (!m->ever_up && !m->opts.owner_reconnects)
            schedule_retry(m);
        __attribute__((fallthrough)); /* the owner sees a refused connection as one down */
    case EV_DOWN:
        if (h->on_down != NULL)
            h->on_down(m->opts.ud, ev->cause);
        break;
    case EV_SUBSCRIBED:
        if (h->on_subscribed != NULL)
            h->on_subscribed(m->opts.ud, ev->done.tag, ev->done.ok);
        break;
    default:
        break;
    }
}

void ferry_mqtt_drain(ferry_mqtt *m) {
    event *list, *ev;
    size_t n = 0, dropped;
    runs r = {0};

    pthread_mutex_lock(&m->qlock);
    list = m->head;
    m->head = m->tail = NULL;
    m->queued_bytes = 0;
    dropped = m->dropped;
    m->dropped = 0;
    pthread_mutex_unlock(&m->qlock);
    if (dropped > 0 && m->opts.handlers.on_overflow != NULL)
        m->opts.handlers.on_overflow(m->opts.ud, dropped);
    for (ev = list; ev != NULL; ev = ev->next)
        n++;
    if (n == 0)
        return;
    r.msgs = ferry_calloc(n, sizeof(*r.msgs));
    r.dones = ferry_calloc(n, sizeof(*r.dones));
    if (r.msgs == NULL || r.dones == NULL) {
        LOG_ERROR("mqtt: out of memory; %zu events dropped", n);
        if (m->opts.handlers.on_overflow != NULL)
            m->opts.handlers.on_overflow(m->opts.ud, n);
        goto out;
    }
    for (ev = list; ev != NULL; ev = ev->next) {
        if (ev->kind == EV_MESSAGE) {
            if (r.ndones > 0)
                flush_runs(m, &r);
            ferry_mqtt_msg *mm = &r.msgs[r.nmsgs++];
            *mm = (ferry_mqtt_msg){.topic = ev->topic,
                                   .topic_len = ev->topic_len,
                                   .payload = ev->payload,
                                   .len = ev->len,
                                   .received_ms = ev->received_ms,
                                   .nprops = ev->nprops};
            for (size_t k = 0; k < ev->nprops; k++)
                mm->props[k] = (ferry_mqtt_prop){ev->props[k][0], ev->props[k][1]};
        } else if (ev->kind == EV_DONE) {
            if (r.nmsgs > 0)
                flush_runs(m, &r);
            r.dones[r.ndones++] = ev->done;
        } else {
            flush_runs(m, &r);
            deliver(m, ev);
        }
    }
    flush_runs(m, &r);
out:
    ferry_free(r.msgs);
    ferry_free(r.dones);
    while (list != NULL) {
        ev = list->next;
        free_event(list);
        list = ev;
    }
}

/* A request context linked into the pending list. */
static request *request_new(ferry_mqtt *m, bool subscribe, uint64_t tag, uint32_t epoch) {
    request *rq = ferry_calloc(1, sizeof(*rq));
    if (rq == NULL)
        return NULL;
    rq->m = m;
    rq->subscribe = subscribe;
    rq->done.tag = tag;
    rq->done.epoch = epoch;
    pthread_mutex_lock(&m->qlock);
    rq->next = m->pending.next;
    rq->prev = &m->pending;
    m->pending.next->prev = rq;
    m->pending.next = rq;
    pthread_mutex_unlock(&m->qlock);
    return rq;
}

ferry_err ferry_mqtt_publish(ferry_mqtt *m, const char *topic, const void *payload, size_t len,
                             const ferry_mqtt_pub *pub) {
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    request *rq = NULL;
    int rc;

    if (len > INT32_MAX)
        return FERRY_ETOOBIG;
    if (pub != NULL && pub->tracked) {
        if ((rq = request_new(m, false, pub->tag, pub->epoch)) == NULL)
            return FERRY_ENOMEM;
        ro.onSuccess5 = on_pub_ok;
        ro.onFailure5 = on_pub_fail;
        ro.context = rq;
    }
    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    msg.retained = pub != NULL && pub->retain;
    for (size_t i = 0; pub != NULL && i < pub->nprops && i < FERRY_MQTT_MAX_PROPS; i++) {
        MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
        p.value.data.data = (char *)pub->props[i].name;
        p.value.data.len = (int)strlen(pub->props[i].name);
        p.value.value.data = (char *)pub->props[i].value;
        p.value.value.len = (int)strlen(pub->props[i].value);
        if (MQTTProperties_add(&msg.properties, &p) != 0) { /* copies name and value */
            MQTTProperties_free(&msg.properties);
            if (rq != NULL) {
                unlink_request(rq);
                ferry_free(rq);
            }
            return FERRY_ENOMEM;
        }
    }
    rc = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
    MQTTProperties_free(&msg.properties);
    if (rc != MQTTASYNC_SUCCESS) {
        if (rq != NULL) {
            unlink_request(rq);
            ferry_free(rq);
        }
        LOG_WARN("mqtt: cannot publish on %s: %s", topic, MQTTAsync_strerror(rc));
        return FERRY_EIO;
    }
    LOG_DEBUG("mqtt: published %zu bytes on %s", len, topic);
    return FERRY_OK;
}

ferry_err ferry_mqtt_subscribe(ferry_mqtt *m, const char *const *filters, size_t n, uint64_t tag) {
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int qos[MAX_FILTERS];
    request *rq;
    int rc;

    if (n == 0 || n > MAX_FILTERS)
        return FERRY_EINVAL;
    if ((rq = request_new(m, true, tag, 0)) == NULL)
        return FERRY_ENOMEM;
    rq->filters = n;
    for (size_t i = 0; i < n; i++)
        qos[i] = 1;
    ro.onSuccess5 = on_sub_ok;
    ro.onFailure5 = on_sub_fail;
    ro.context = rq;
    rc = MQTTAsync_subscribeMany(m->client, (int)n, (char *const *)filters, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        unlink_request(rq);
        ferry_free(rq);
        LOG_WARN("mqtt: cannot subscribe: %s", MQTTAsync_strerror(rc));
        return FERRY_EIO;
    }
    return FERRY_OK;
}

ferry_err ferry_mqtt_unsubscribe(ferry_mqtt *m, const char *const *filters, size_t n) {
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    if (n == 0 || n > MAX_FILTERS)
        return FERRY_EINVAL;
    int rc = MQTTAsync_unsubscribeMany(m->client, (int)n, (char *const *)filters, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        LOG_WARN("mqtt: cannot unsubscribe: %s", MQTTAsync_strerror(rc));
        return FERRY_EIO;
    }
    return FERRY_OK;
}

const char *ferry_mqtt_msg_prop(const ferry_mqtt_msg *msg, const char *name) {
    for (size_t i = 0; i < msg->nprops; i++)
        if (strcmp(msg->props[i].name, name) == 0)
            return msg->props[i].value;
    return NULL;
}

bool ferry_mqtt_is_connected(ferry_mqtt *m) {
    return MQTTAsync_isConnected(m->client) != 0;
}

void ferry_mqtt_destroy(ferry_mqtt *m) {
    if (m == NULL)
        return;
    if (m->client != NULL) {
        if (MQTTAsync_isConnected(m->client)) {
            MQTTAsync_disconnectOptions dc = MQTTAsync_disconnectOptions_initializer5;
            dc.timeout = 1000;
            if (m->opts.will_on_destroy)
                dc.reasonCode = MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE;
            if (MQTTAsync_disconnect(m->client, &dc) == MQTTASYNC_SUCCESS) {
                int64_t deadline = ferry_mono_ms() + 1500;
                struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
                /* Waiting for Paho's disconnect to finish, not synchronising with a test. */
                while (MQTTAsync_isConnected(m->client) && ferry_mono_ms() < deadline)
                    nanosleep(&ts, NULL);
            }
        }
        MQTTAsync_destroy(&m->client);
    }
    /* No callback runs any more: free what Paho never answered and what was never drained. */
    while (m->pending.next != &m->pending && m->pending.next != NULL) {
        request *rq = m->pending.next;
        rq->prev->next = rq->next;
        rq->next->prev = rq->prev;
        ferry_free(rq);
    }
    while (m->head != NULL) {
        event *ev = m->head;
        m->head = ev->next;
        free_event(ev);
    }
    pthread_mutex_destroy(&m->qlock);
    ferry_free(m->uri);
    ferry_free(m->client_id);
    ferry_free(m->username);
    ferry_free(m->password);
    ferry_free(m->will_topic);
    ferry_free(m->will_sig);
    ferry_free(m->ca_file);
    ferry_free(m->cert_file);
    ferry_free(m->key_file);
    ferry_free(m->will_payload);
    ferry_free(m);
}
