/* edge-sync session: the node's protocol state machine (see session.h). */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include "ferry/proto.h"
#include "sync.h"

struct ferry_session {
    ferry_session_cfg cfg;
    ferry_sync_self self;
    char sync_topic[FERRY_TOPIC_MAX], all_filter[FERRY_TOPIC_MAX], secrets_filter[FERRY_TOPIC_MAX];
    char online_topic[FERRY_TOPIC_MAX], hello_topic[FERRY_TOPIC_MAX];
    char logs_topic[FERRY_TOPIC_MAX], logs_reply_topic[FERRY_TOPIC_MAX];
    bool connected;
    /* Hello */
    bool hello_outstanding;
    int64_t last_hello_at;      /* the last hello's: its retry, the check, the gap limit */
    const char *hello_deferred; /* static reason of a hello held back by a limit, or NULL */
    int64_t hello_not_before;
    int64_t store_backoff_ms; /* 0 after a message was stored */
    /* Subscriptions: generation sub_gen goes out in batches tagged (sub_gen << 8) | batch. */
    const char *hello_after_sub; /* static reason: say hello once the broker granted them all */
    uint64_t sub_gen;
    size_t sub_pending; /* batches of sub_gen not yet granted */
    int64_t resub_at;   /* a refused or failed subscription is tried again then; 0: none */
    int64_t sub_backoff_ms;
    json_t *label_filters; /* label filters now subscribed */
    /* Reconciliation */
    bool reconcile_wanted;
    int64_t next_reconcile_at;
    json_t *published;    /* app -> last status published (without ts) */
    json_t *forgotten;    /* apps whose retained status is to be cleared on the next connect */
    int64_t last_sync_ms; /* when the last node.sync was applied; 0: none yet */
};

static ferry_err topic_for(const ferry_session *s, ferry_topic_kind kind, char *buf, size_t len) {
    ferry_topic t = {.kind = kind};
    snprintf(t.ns, sizeof(t.ns), "%s", s->cfg.ns);
    snprintf(t.node, sizeof(t.node), "%s", s->cfg.node);
    return ferry_topic_build(&t, buf, len);
}

ferry_err ferry_session_new(const ferry_session_cfg *cfg, ferry_session **out) {
    ferry_session *s = ferry_calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return FERRY_ENOMEM;
    s->cfg = *cfg;
    if (s->cfg.reconcile_interval_s < 1)
        s->cfg.reconcile_interval_s = 1;
    s->self = (ferry_sync_self){cfg->ns, cfg->node};
    s->published = json_object();
    s->label_filters = json_array();
    s->forgotten = json_object();
    s->reconcile_wanted = true; /* the node runs what it last heard, cloud or no cloud */
    if (s->published == NULL || s->label_filters == NULL || s->forgotten == NULL) {
        ferry_session_free(s);
        return FERRY_ENOMEM;
    }
    if (topic_for(s, FERRY_TOPIC_NODE_SYNC, s->sync_topic, sizeof(s->sync_topic)) != FERRY_OK ||
        topic_for(s, FERRY_TOPIC_NODE_HELLO, s->hello_topic, sizeof(s->hello_topic)) != FERRY_OK ||
        topic_for(s, FERRY_TOPIC_NODE_ONLINE, s->online_topic, sizeof(s->online_topic)) !=
            FERRY_OK ||
        topic_for(s, FERRY_TOPIC_LOGS_REQUEST, s->logs_topic, sizeof(s->logs_topic)) != FERRY_OK ||
        topic_for(s, FERRY_TOPIC_LOGS_REPLY, s->logs_reply_topic, sizeof(s->logs_reply_topic)) !=
            FERRY_OK ||
        ferry_topic_all_filter(cfg->ns, s->all_filter, sizeof(s->all_filter)) != FERRY_OK ||
        (size_t)snprintf(s->secrets_filter, sizeof(s->secrets_filter),
                         "ferry/%s/nodes/%s/secrets/+", cfg->ns,
                         cfg->node) >= sizeof(s->secrets_filter)) {
        ferry_session_free(s);
        return FERRY_EINVAL;
    }
    *out = s;
    return FERRY_OK;
}

void ferry_session_free(ferry_session *s) {
    if (s == NULL)
        return;
    json_decref(s->published);
    json_decref(s->label_filters);
    json_decref(s->forgotten);
    ferry_free(s);
}

/* The node's signature of (topic, buf) into sig; "" in insecure mode. */
static ferry_err sign(const ferry_session *s, const char *topic, const unsigned char *buf,
                      size_t len, char sig[FERRY_SIGN_SIG_B64]) {
    sig[0] = '\0';
    return s->cfg.sign != NULL ? ferry_sign_message(s->cfg.sign, topic, buf, len, sig) : FERRY_OK;
}

/* Encode msg (borrowed), sign it and publish it. */
static void publish_msg(ferry_session *s, const char *topic, const json_t *msg, bool retain) {
    unsigned char *buf = NULL;
    size_t len = 0;
    char sig[FERRY_SIGN_SIG_B64];

    if (msg != NULL && ferry_proto_encode(msg, &buf, &len) == FERRY_OK &&
        sign(s, topic, buf, len, sig) == FERRY_OK)
        s->cfg.io.publish(s->cfg.io.ctx, topic, buf, len, retain, s->cfg.sign != NULL ? sig : NULL);
    else
        LOG_ERROR("cannot encode or sign a %s message",
                  msg != NULL ? json_string_value(json_object_get(msg, "type")) : "?");
    ferry_free(buf);
}

static json_t *online_msg(const ferry_session *s, bool online) {
    json_t *msg = json_pack("{s:s, s:s, s:s, s:b}", "type", FERRY_MSG_NODE_ONLINE, "ns", s->cfg.ns,
                            "node", s->cfg.node, "online", online);
    if (msg != NULL && online) {
        json_object_set_new(msg, "ts", json_integer((json_int_t)ferry_now_ms()));
        if (s->cfg.gpu != NULL)
            json_object_set(msg, "gpu", (json_t *)s->cfg.gpu);
    }
    return msg;
}

ferry_err ferry_session_will(ferry_session *s, const char **topic, unsigned char **buf, size_t *len,
                             char *sig) {
    json_t *msg = online_msg(s, false);
    ferry_err err = msg != NULL ? ferry_proto_encode(msg, buf, len) : FERRY_ENOMEM;
    json_decref(msg);
    *topic = s->online_topic;
    if (err == FERRY_OK)
        err = sign(s, s->online_topic, *buf, *len, sig);
    return err;
}

static void send_hello(ferry_session *s, const char *reason, int64_t now) {
    json_t *hello = NULL;

    s->hello_deferred = NULL;
    if (!s->connected)
        return; /* the next connect says hello anyway */
    if (ferry_sync_hello(s->cfg.store, &s->self, reason, &hello) != FERRY_OK) {
        LOG_ERROR("cannot read the store to say hello; retrying in %d s",
                  FERRY_SESSION_HELLO_RETRY_MS / 1000);
    } else {
        LOG_INFO("hello (%s): holding %zu apps", reason,
                 json_object_size(json_object_get(hello, "apps")));
        publish_msg(s, s->hello_topic, hello, false);
    }
    json_decref(hello);
    s->hello_outstanding = true;
    s->last_hello_at = now;
}

static int64_t doubled(int64_t ms) {
    return ms <= 0                                  ? 1000
           : ms >= FERRY_SESSION_BACKOFF_MAX_MS / 2 ? FERRY_SESSION_BACKOFF_MAX_MS
                                                    : ms * 2;
}

/* A hello caused by a message: a store failure waits out its backoff, a gap goes out at most once
 * per FERRY_SESSION_GAP_MIN_MS; the tick sends what was held back. */
static void ask_hello(ferry_session *s, const char *reason, int64_t now) {
    int64_t at = now;
    if (strcmp(reason, "store") == 0) {
        s->store_backoff_ms = doubled(s->store_backoff_ms);
        at = now + s->store_backoff_ms;
        LOG_WARN("asking the cloud again in %lld ms", (long long)s->store_backoff_ms);
    } else if (s->last_hello_at != 0 && now - s->last_hello_at < FERRY_SESSION_GAP_MIN_MS) {
        at = s->last_hello_at + FERRY_SESSION_GAP_MIN_MS;
    }
    if (at <= now) {
        send_hello(s, reason, now);
    } else if (s->hello_deferred == NULL || at < s->hello_not_before) {
        s->hello_deferred = reason;
        s->hello_not_before = at;
    }
}

static ferry_err node_txn(ferry_estore_txn *t, void *ctx) {
    return ferry_estore_get_node(t, ctx);
}

/* Send filters[0..n) in batches: unsubscribe (tag unused) or subscribe with the generation's tags.
 * False when the client refused a batch. */
static bool send_batches(ferry_session *s, const char *const *filters, size_t n, bool sub) {
    size_t batch = 0;
    for (size_t off = 0; off < n; off += FERRY_SESSION_SUB_BATCH, batch++) {
        size_t k = n - off < FERRY_SESSION_SUB_BATCH ? n - off : FERRY_SESSION_SUB_BATCH;
        if (!sub) {
            s->cfg.io.unsubscribe(s->cfg.io.ctx, filters + off, k);
        } else if (s->cfg.io.subscribe(s->cfg.io.ctx, filters + off, k,
                                       (s->sub_gen << 8) | batch) != FERRY_OK) {
            return false;
        } else {
            s->sub_pending++;
        }
    }
    return true;
}

/* Subscription trouble: subscribe again after the backoff. */
static void resubscribe_later(ferry_session *s, int64_t now) {
    s->sub_backoff_ms = doubled(s->sub_backoff_ms);
    s->resub_at = now + s->sub_backoff_ms;
    s->sub_pending = 0;
    s->sub_gen++; /* answers to the failed generation are stale */
}

/* (Re)subscribe to this node's sync and secrets topics, the namespace's "all" topic and one topic
 * per label; drop label topics of labels the node lost. The hello goes out once the broker
 * acknowledged every batch, so nothing published after the bridge answers can slip past a missing
 * subscription. */
static void subscribe_all(ferry_session *s, const char *reason, int64_t now) {
    json_t *node = NULL, *filters = json_array(), *old = s->label_filters, *v;
    const char *key, **list = NULL, **gone = NULL;
    char buf[FERRY_TOPIC_MAX];
    size_t n = 0, ngone = 0, i, j;

    s->resub_at = 0;
    if (ferry_estore_read(s->cfg.store, node_txn, &node) != FERRY_OK)
        node = NULL;
    json_object_foreach(json_object_get(node, "labels"), key, v) {
        if (filters != NULL && ferry_topic_label_filter(s->cfg.ns, key, json_string_value(v), buf,
                                                        sizeof(buf)) == FERRY_OK)
            json_array_append_new(filters, json_string(buf));
    }
    list = ferry_calloc(json_array_size(filters) + 4, sizeof(*list));
    gone = ferry_calloc(json_array_size(old) + 1, sizeof(*gone));
    if (filters == NULL || list == NULL || gone == NULL) {
        LOG_ERROR("out of memory; subscribing again later");
        resubscribe_later(s, now);
        json_decref(filters);
        goto out;
    }
    list[n++] = s->sync_topic;
    list[n++] = s->secrets_filter;
    list[n++] = s->logs_topic;
    list[n++] = s->all_filter;
    json_array_foreach(filters, i, v) list[n++] = json_string_value(v);
    json_array_foreach(old, i, v) {
        bool keep = false;
        json_t *w;
        json_array_foreach(filters, j, w) keep = keep || json_equal(v, w);
        if (!keep)
            gone[ngone++] = json_string_value(v);
    }
    send_batches(s, gone, ngone, false);
    s->hello_after_sub = reason;
    s->sub_gen++;
    s->sub_pending = 0;
    if (!send_batches(s, list, n, true)) {
        LOG_WARN("subscribe failed; retrying in %lld ms", (long long)doubled(s->sub_backoff_ms));
        resubscribe_later(s, now);
    }
    s->label_filters = filters;
    json_decref(old);
out:
    ferry_free(list);
    ferry_free(gone);
    json_decref(node);
}

static ferry_err status_topic(const ferry_session *s, const char *app, char *buf, size_t len) {
    ferry_topic t = {.kind = FERRY_TOPIC_NODE_STATUS};
    snprintf(t.ns, sizeof(t.ns), "%s", s->cfg.ns);
    snprintf(t.node, sizeof(t.node), "%s", s->cfg.node);
    snprintf(t.app, sizeof(t.app), "%s", app);
    return ferry_topic_build(&t, buf, len);
}

static void clear_status(ferry_session *s, const char *app) {
    char topic[FERRY_TOPIC_MAX], sig[FERRY_SIGN_SIG_B64];
    if (status_topic(s, app, topic, sizeof(topic)) != FERRY_OK ||
        sign(s, topic, (const unsigned char *)"", 0, sig) != FERRY_OK)
        return;
    LOG_INFO("app %s: clearing its retained status", app);
    s->cfg.io.publish(s->cfg.io.ctx, topic, "", 0, true, s->cfg.sign != NULL ? sig : NULL);
}

void ferry_session_connected(ferry_session *s, int64_t now) {
    json_t *online = online_msg(s, true);
    LOG_INFO("mqtt: connected as node %s/%s", s->cfg.ns, s->cfg.node);
    s->connected = true;
    s->hello_deferred = NULL; /* the hello after the subscriptions covers it */
    s->sub_backoff_ms = 0;
    json_object_clear(s->published); /* report everything again after any outage */
    publish_msg(s, s->online_topic, online, true);
    json_decref(online);
    const char *app;
    json_t *v;
    json_object_foreach(s->forgotten, app, v) clear_status(s, app);
    json_object_clear(s->forgotten);
    subscribe_all(s, "connect", now);
    s->reconcile_wanted = true;
}

void ferry_session_disconnected(ferry_session *s, int64_t now) {
    (void)now;
    s->connected = false;
    s->resub_at = 0; /* the next connect subscribes */
}

void ferry_session_subscribed(ferry_session *s, uint64_t tag, bool ok, int64_t now) {
    if ((tag >> 8) != s->sub_gen || s->sub_pending == 0)
        return; /* an older subscription, superseded */
    if (!ok) {
        LOG_WARN("the broker refused a subscription; subscribing again in %lld ms",
                 (long long)doubled(s->sub_backoff_ms));
        resubscribe_later(s, now);
        return;
    }
    if (--s->sub_pending > 0)
        return;
    s->sub_backoff_ms = 0;
    if (s->hello_after_sub != NULL) {
        send_hello(s, s->hello_after_sub, now);
        s->hello_after_sub = NULL;
    }
}

/* A logs.request (its signature checked): for this node, handed to the daemon, which reads the
 * log off the loop and answers with ferry_session_logs_reply. */
static void logs_request(ferry_session *s, const void *payload, size_t len) {
    char why[256] = "";
    json_t *msg = NULL;
    if (ferry_proto_decode(payload, len, &msg, why, sizeof(why)) != FERRY_OK) {
        LOG_WARN("refused a logs request: %s", why);
        return;
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (strcmp(type, FERRY_MSG_LOGS_REQUEST) != 0 ||
        strcmp(json_string_value(json_object_get(msg, "ns")), s->cfg.ns) != 0 ||
        strcmp(json_string_value(json_object_get(msg, "node")), s->cfg.node) != 0)
        LOG_WARN("refused a %s on the logs topic: not a logs request for this node", type);
    else if (s->cfg.on_logs == NULL)
        LOG_WARN("a logs request for %s came, but this daemon does not read logs",
                 json_string_value(json_object_get(msg, "app")));
    else
        s->cfg.on_logs(s->cfg.on_logs_ctx, msg);
    json_decref(msg);
}

void ferry_session_message(ferry_session *s, const char *topic, size_t tlen, const void *payload,
                           size_t len, const char *sig, int64_t now) {
    ferry_sync_actions act;

    if (s->cfg.bridge_pub != NULL &&
        !ferry_sign_verify(s->cfg.bridge_pub, topic, tlen, payload, len, sig)) {
        LOG_WARN("refused a message on '%.*s': %s", (int)(tlen > 200 ? 200 : tlen), topic,
                 sig == NULL ? "it is not signed" : "its signature is not the bridge's");
        return;
    }
    if (tlen == strlen(s->logs_topic) && memcmp(topic, s->logs_topic, tlen) == 0) {
        logs_request(s, payload, len);
        return;
    }
    ferry_sync_handle(s->cfg.store, &s->self, topic, tlen, payload, len, &act);
    if (act.reconcile)
        s->reconcile_wanted = true;
    if (act.resubscribe && s->connected) {
        /* Registered (or relabelled) now: say online again. A bridge refuses the online state of
         * a node it does not know, and a retained message is only read again on subscribe, so a
         * node that connected before it was registered would stay offline in the cloud. */
        json_t *online = online_msg(s, true);
        publish_msg(s, s->online_topic, online, true);
        json_decref(online);
        subscribe_all(s, "subscribe", now);
    }
    if (act.sync_received) {
        s->hello_outstanding = false;
        s->last_sync_ms = now;
    }
    if (act.hello_reason == NULL || strcmp(act.hello_reason, "store") != 0)
        s->store_backoff_ms = 0;
    if (act.hello_reason != NULL)
        ask_hello(s, act.hello_reason, now);
}

void ferry_session_need_secrets(ferry_session *s, int64_t now) {
    if (s->connected && !s->hello_outstanding) {
        LOG_INFO("an app waits for its secret bundle; asking the cloud");
        ask_hello(s, "gap", now);
    }
}

void ferry_session_overflow(ferry_session *s, int64_t now) {
    LOG_WARN("messages from the cloud were dropped before they were stored; asking for a resync");
    ask_hello(s, "gap", now);
}

void ferry_session_tick(ferry_session *s, int64_t now) {
    if (!s->connected)
        return;
    if (s->resub_at != 0 && now >= s->resub_at)
        subscribe_all(s, s->hello_after_sub != NULL ? s->hello_after_sub : "subscribe", now);
    if (s->sub_pending > 0 || s->resub_at != 0)
        return; /* the hello follows the subscriptions */
    if (s->hello_deferred != NULL && now >= s->hello_not_before)
        send_hello(s, s->hello_deferred, now);
    else if (s->hello_outstanding && now - s->last_hello_at >= FERRY_SESSION_HELLO_RETRY_MS)
        send_hello(s, "retry", now);
    else if (!s->hello_outstanding && s->hello_deferred == NULL &&
             now - s->last_hello_at >= FERRY_SESSION_CHECK_MS)
        send_hello(s, "check", now);
}

bool ferry_session_reconcile_due(ferry_session *s, int64_t now) {
    if (!s->reconcile_wanted && now < s->next_reconcile_at)
        return false;
    s->reconcile_wanted = false;
    s->next_reconcile_at = now + (int64_t)s->cfg.reconcile_interval_s * 1000;
    return true;
}

void ferry_session_wake_at(ferry_session *s, int64_t wall_ms, int64_t now_wall, int64_t now) {
    int64_t in_ms = wall_ms - now_wall;
    int64_t at = now + (in_ms > 0 ? in_ms : 0);
    if (wall_ms > 0 && at < s->next_reconcile_at)
        s->next_reconcile_at = at;
}

void ferry_session_forget(ferry_session *s, const char *app) {
    json_object_del(s->published, app);
    if (s->connected)
        clear_status(s, app);
    else
        json_object_set_new(s->forgotten, app, json_true());
}

void ferry_session_report(ferry_session *s, const json_t *status) {
    const char *app = json_string_value(json_object_get(status, "app"));
    char topic[FERRY_TOPIC_MAX];
    json_t *msg;

    if (app == NULL || json_equal(status, json_object_get(s->published, app)))
        return;
    if (status_topic(s, app, topic, sizeof(topic)) != FERRY_OK)
        return;
    json_object_set_new(s->published, app, json_deep_copy(status));
    msg = json_deep_copy(status);
    if (msg == NULL)
        return;
    json_object_set_new(msg, "ts", json_integer(ferry_now_ms()));
    LOG_INFO("app %s: %s (v%lld) %s", app, json_string_value(json_object_get(msg, "phase")),
             (long long)json_integer_value(json_object_get(msg, "version")),
             json_string_value(json_object_get(msg, "message")));
    publish_msg(s, topic, msg, true);
    json_decref(msg);
}

bool ferry_session_reported(const ferry_session *s, const char *app, int64_t version,
                            const char *phase, const char *message) {
    const json_t *st = json_object_get(s->published, app);
    const char *p = json_string_value(json_object_get(st, "phase"));
    const char *m = json_string_value(json_object_get(st, "message"));
    return st != NULL && json_integer_value(json_object_get(st, "version")) == version &&
           p != NULL && strcmp(p, phase) == 0 && m != NULL && strcmp(m, message) == 0;
}

bool ferry_session_hello_outstanding(const ferry_session *s) {
    return s->hello_outstanding;
}

bool ferry_session_is_connected(const ferry_session *s) {
    return s->connected;
}

void ferry_session_stats(ferry_session *s, const json_t *stats) {
    char topic[FERRY_TOPIC_MAX];
    /* Counters are cumulative: a report that cannot go now is made up by the next one. */
    if (!s->connected || topic_for(s, FERRY_TOPIC_NODE_STATS, topic, sizeof(topic)) != FERRY_OK)
        return;
    publish_msg(s, topic, stats, false);
}

void ferry_session_logs_reply(ferry_session *s, const json_t *reply) {
    /* The bridge waits 15 s for it: one that cannot go now is of no use later. */
    if (s->connected)
        publish_msg(s, s->logs_reply_topic, reply, false);
}

int64_t ferry_session_last_sync(const ferry_session *s) {
    return s->last_sync_ms;
}
