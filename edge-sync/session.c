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
    bool connected;
    /* Hello */
    bool hello_outstanding;
    int64_t hello_sent_at;
    const char *hello_after_sub; /* static reason: say hello once the broker granted sub_tag */
    uint64_t sub_tag;
    json_t *label_filters; /* label filters now subscribed */
    /* Reconciliation */
    bool reconcile_wanted;
    int64_t next_reconcile_at;
    json_t *published; /* app -> last status published (without ts) */
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
    s->reconcile_wanted = true; /* the node runs what it last heard, cloud or no cloud */
    if (s->published == NULL || s->label_filters == NULL) {
        ferry_session_free(s);
        return FERRY_ENOMEM;
    }
    if (topic_for(s, FERRY_TOPIC_NODE_SYNC, s->sync_topic, sizeof(s->sync_topic)) != FERRY_OK ||
        topic_for(s, FERRY_TOPIC_NODE_HELLO, s->hello_topic, sizeof(s->hello_topic)) != FERRY_OK ||
        topic_for(s, FERRY_TOPIC_NODE_ONLINE, s->online_topic, sizeof(s->online_topic)) !=
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
    s->hello_sent_at = now;
}

static ferry_err node_txn(ferry_estore_txn *t, void *ctx) {
    return ferry_estore_get_node(t, ctx);
}

/* (Re)subscribe to this node's sync topic, the namespace's "all" topic and one topic per label;
 * drop label topics of labels the node lost. The hello goes out once the broker acknowledged,
 * so nothing published after the bridge answers can slip past a missing subscription. */
static void subscribe_all(ferry_session *s, const char *reason) {
    json_t *node = NULL, *filters = json_array(), *old = s->label_filters, *v;
    const char *list[FERRY_SESSION_MAX_FILTERS], *gone[FERRY_SESSION_MAX_FILTERS], *key;
    char buf[FERRY_TOPIC_MAX];
    size_t n = 0, ngone = 0, i, j;

    if (filters == NULL)
        return;
    if (ferry_estore_read(s->cfg.store, node_txn, &node) != FERRY_OK)
        node = NULL;
    json_object_foreach(json_object_get(node, "labels"), key, v) {
        if (ferry_topic_label_filter(s->cfg.ns, key, json_string_value(v), buf, sizeof(buf)) ==
            FERRY_OK)
            json_array_append_new(filters, json_string(buf));
    }
    list[n++] = s->sync_topic;
    list[n++] = s->secrets_filter;
    list[n++] = s->all_filter;
    json_array_foreach(filters, i, v) {
        if (n < FERRY_SESSION_MAX_FILTERS)
            list[n++] = json_string_value(v);
    }
    json_array_foreach(old, i, v) {
        bool keep = false;
        json_t *w;
        json_array_foreach(filters, j, w) keep = keep || json_equal(v, w);
        if (!keep && ngone < FERRY_SESSION_MAX_FILTERS)
            gone[ngone++] = json_string_value(v);
    }
    if (ngone > 0)
        s->cfg.io.unsubscribe(s->cfg.io.ctx, gone, ngone);
    s->hello_after_sub = reason;
    if (s->cfg.io.subscribe(s->cfg.io.ctx, list, n, ++s->sub_tag) != FERRY_OK)
        LOG_WARN("subscribe failed; retrying on the next connect or label change");
    s->label_filters = filters;
    json_decref(old);
    json_decref(node);
}

void ferry_session_connected(ferry_session *s, int64_t now) {
    json_t *online = online_msg(s, true);
    (void)now;
    LOG_INFO("mqtt: connected as node %s/%s", s->cfg.ns, s->cfg.node);
    s->connected = true;
    json_object_clear(s->published); /* report everything again after any outage */
    publish_msg(s, s->online_topic, online, true);
    json_decref(online);
    subscribe_all(s, "connect");
    s->reconcile_wanted = true;
}

void ferry_session_disconnected(ferry_session *s, int64_t now) {
    (void)now;
    s->connected = false;
}

void ferry_session_subscribed(ferry_session *s, uint64_t tag, bool ok, int64_t now) {
    if (tag != s->sub_tag)
        return; /* an older subscription, superseded */
    if (ok && s->hello_after_sub != NULL) {
        send_hello(s, s->hello_after_sub, now);
        s->hello_after_sub = NULL;
    } else if (!ok) {
        LOG_WARN("the broker refused a subscription; retrying");
        subscribe_all(s, s->hello_after_sub != NULL ? s->hello_after_sub : "subscribe");
    }
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
    ferry_sync_handle(s->cfg.store, &s->self, topic, tlen, payload, len, &act);
    if (act.reconcile)
        s->reconcile_wanted = true;
    if (act.resubscribe && s->connected)
        subscribe_all(s, "subscribe");
    if (act.sync_received)
        s->hello_outstanding = false;
    if (act.hello_reason != NULL)
        send_hello(s, act.hello_reason, now);
}

void ferry_session_need_secrets(ferry_session *s, int64_t now) {
    if (s->connected && !s->hello_outstanding) {
        LOG_INFO("an app waits for its secret bundle; asking the cloud");
        send_hello(s, "gap", now);
    }
}

void ferry_session_overflow(ferry_session *s, int64_t now) {
    LOG_WARN("messages from the cloud were dropped before they were stored; asking for a resync");
    send_hello(s, "gap", now);
}

void ferry_session_tick(ferry_session *s, int64_t now) {
    if (s->hello_outstanding && s->connected &&
        now - s->hello_sent_at >= FERRY_SESSION_HELLO_RETRY_MS)
        send_hello(s, "retry", now);
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

void ferry_session_report(ferry_session *s, const json_t *status) {
    const char *app = json_string_value(json_object_get(status, "app"));
    char topic[FERRY_TOPIC_MAX];
    ferry_topic t = {.kind = FERRY_TOPIC_NODE_STATUS};
    json_t *msg;

    if (app == NULL || json_equal(status, json_object_get(s->published, app)))
        return;
    snprintf(t.ns, sizeof(t.ns), "%s", s->cfg.ns);
    snprintf(t.node, sizeof(t.node), "%s", s->cfg.node);
    snprintf(t.app, sizeof(t.app), "%s", app);
    if (ferry_topic_build(&t, topic, sizeof(topic)) != FERRY_OK)
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

bool ferry_session_hello_outstanding(const ferry_session *s) {
    return s->hello_outstanding;
}

bool ferry_session_is_connected(const ferry_session *s) {
    return s->connected;
}
