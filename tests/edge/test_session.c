/* Unit tests of edge-sync/session.c, the node's protocol state machine, with a recording transport
 * (what it publishes and subscribes to), a real store in a temp folder and a made-up clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/proto.h"
#include "session.h"

typedef struct {
    char dir[64];
    ferry_estore *store;
    ferry_session *s;
    ferry_keypair node_key, bridge_key; /* the secure fixture's */
    int bad_sigs;                       /* publishes whose signature did not check */
    json_t *out;  /* ["pub TOPIC TYPE [retained]" | "sub F1 F2 .. #TAG" | "unsub F .."] */
    json_t *msgs; /* decoded payloads of the publishes, in order */
    uint64_t last_tag;
    json_t *logs; /* logs requests handed to the daemon */
} fixture;

static void rec_logs(void *ctx, const json_t *request) {
    fixture *f = ctx;
    json_array_append(f->logs, (json_t *)request);
}

static ferry_err rec_publish(void *ctx, const char *topic, const void *payload, size_t len,
                             bool retain, const char *sig) {
    fixture *f = ctx;
    if (sig != NULL && !ferry_sign_verify(f->node_key.pub, topic, strlen(topic), payload, len, sig))
        f->bad_sigs++;
    json_t *msg = NULL;
    char why[128], line[256];
    if (len == 0) /* clears the topic's retained message */
        msg = json_pack("{s:s}", "type", "clear");
    else
        assert_int_equal(ferry_proto_decode(payload, len, &msg, why, sizeof(why)), FERRY_OK);
    snprintf(line, sizeof(line), "pub %s %s%s", topic,
             json_string_value(json_object_get(msg, "type")), retain ? " retained" : "");
    json_array_append_new(f->out, json_string(line));
    json_array_append_new(f->msgs, msg);
    return FERRY_OK;
}

static ferry_err rec_subscribe(void *ctx, const char *const *filters, size_t n, uint64_t tag) {
    fixture *f = ctx;
    char line[4096] = "sub";
    for (size_t i = 0; i < n; i++)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", filters[i]);
    snprintf(line + strlen(line), sizeof(line) - strlen(line), " #%llu",
             (unsigned long long)(tag >> 8));
    if ((tag & 0xff) != 0)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), ".%llu",
                 (unsigned long long)(tag & 0xff));
    json_array_append_new(f->out, json_string(line));
    f->last_tag = tag;
    return FERRY_OK;
}

static ferry_err rec_unsubscribe(void *ctx, const char *const *filters, size_t n) {
    fixture *f = ctx;
    char line[4096] = "unsub";
    for (size_t i = 0; i < n; i++)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", filters[i]);
    json_array_append_new(f->out, json_string(line));
    return FERRY_OK;
}

static int open_fixture(void **state, bool secure) {
    fixture *f = calloc(1, sizeof(*f));
    memset(f->node_key.seed, 1, 32);
    memset(f->bridge_key.seed, 2, 32);
    assert_int_equal(ferry_sign_keypair(&f->node_key), FERRY_OK);
    assert_int_equal(ferry_sign_keypair(&f->bridge_key), FERRY_OK);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-session-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(ferry_estore_open(f->dir, &f->store), FERRY_OK);
    f->out = json_array();
    f->msgs = json_array();
    f->logs = json_array();
    ferry_session_cfg cfg = {.ns = "default",
                             .node = "n1",
                             .store = f->store,
                             .io = {rec_publish, rec_subscribe, rec_unsubscribe, f},
                             .reconcile_interval_s = 5,
                             .sign = secure ? &f->node_key : NULL,
                             .bridge_pub = secure ? f->bridge_key.pub : NULL,
                             .on_logs = rec_logs,
                             .on_logs_ctx = f};
    assert_int_equal(ferry_session_new(&cfg, &f->s), FERRY_OK);
    *state = f;
    return 0;
}

static int setup(void **state) {
    return open_fixture(state, false);
}

static int setup_secure(void **state) {
    return open_fixture(state, true);
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    ferry_session_free(f->s);
    ferry_estore_close(f->store);
    json_decref(f->out);
    json_decref(f->msgs);
    json_decref(f->logs);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* What the session did since the last call, as one string ("a | b | c"); then forgotten. */
static const char *did(fixture *f) {
    static char buf[16384];
    size_t i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(f->out, i, v) {
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " | " : "",
                 json_string_value(v));
    }
    json_array_clear(f->out);
    return buf;
}

/* The last message published. */
static json_t *last_msg(fixture *f) {
    return json_array_get(f->msgs, json_array_size(f->msgs) - 1);
}

/* Deliver msg (stolen) on topic, signed for sig_topic by key (key NULL: unsigned). */
static void deliver_signed(fixture *f, const char *topic, json_t *msg, const ferry_keypair *key,
                           const char *sig_topic, int64_t now) {
    unsigned char *buf = NULL;
    size_t len = 0;
    char sig[FERRY_SIGN_SIG_B64];
    assert_int_equal(ferry_proto_encode(msg, &buf, &len), FERRY_OK);
    if (key != NULL)
        assert_int_equal(ferry_sign_message(key, sig_topic, buf, len, sig), FERRY_OK);
    ferry_session_message(f->s, topic, strlen(topic), buf, len, key != NULL ? sig : NULL, now);
    ferry_free(buf);
    json_decref(msg);
}

static void deliver(fixture *f, const char *topic, json_t *msg, int64_t now) {
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_proto_encode(msg, &buf, &len), FERRY_OK);
    ferry_session_message(f->s, topic, strlen(topic), buf, len, NULL, now);
    ferry_free(buf);
    json_decref(msg);
}

static json_t *sync_msg(long long rev, json_t *labels) {
    return json_pack("{s:s, s:s, s:s, s:I, s:b, s:o, s:[]}", "type", "node.sync", "ns", "default",
                     "node", "n1", "rev", (json_int_t)rev, "registered", 1, "labels", labels,
                     "apps");
}

#define TAG(gen) ((uint64_t)(gen) << 8) /* the first batch of a subscription generation */
#define SYNC "ferry/default/nodes/n1/sync"
#define ALL                                                                                        \
    "ferry/default/nodes/n1/secrets/+ ferry/default/nodes/n1/logs/request "                        \
    "ferry/default/all/apps/+"

static void test_connect_subscribes_then_hello(void **state) {
    fixture *f = *state;
    ferry_session_connected(f->s, 1000);
    /* Online first (retained), then the subscriptions; no hello before the broker granted them. */
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/online node.online retained | sub " SYNC
                                " " ALL " #1");
    assert_true(json_is_true(json_object_get(last_msg(f), "online")));
    ferry_session_subscribed(f->s, TAG(1), true, 1100);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/hello node.hello");
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "connect");
    assert_true(ferry_session_hello_outstanding(f->s));
    /* A late answer to an older subscription changes nothing. */
    ferry_session_subscribed(f->s, TAG(0), true, 1200);
    assert_string_equal(did(f), "");
}

static void test_refused_subscription_is_retried(void **state) {
    fixture *f = *state;
    ferry_session_connected(f->s, 1000);
    did(f);
    /* Refused: again after 1 s, not at once (a broker that refuses must not be hammered). */
    ferry_session_subscribed(f->s, TAG(1), false, 1100);
    assert_string_equal(did(f), "");
    ferry_session_tick(f->s, 2099);
    assert_string_equal(did(f), "");
    ferry_session_tick(f->s, 2100);
    assert_string_equal(did(f), "sub " SYNC " " ALL " #3");
    /* Refused again: the wait doubles. */
    ferry_session_subscribed(f->s, TAG(3), false, 2200);
    ferry_session_tick(f->s, 4199);
    assert_string_equal(did(f), "");
    ferry_session_tick(f->s, 4200);
    assert_string_equal(did(f), "sub " SYNC " " ALL " #5");
    ferry_session_subscribed(f->s, TAG(5), true, 4300);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/hello node.hello");
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "connect");
}

/* 64 labels make 67 filters: three SUBSCRIBE packets; the hello waits for all three grants. */
static void test_many_labels_in_batches(void **state) {
    fixture *f = *state;
    json_t *labels = json_object();
    char key[16];
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "l%02d", i);
        json_object_set_new(labels, key, json_string("x"));
    }
    ferry_session_connected(f->s, 1000);
    ferry_session_subscribed(f->s, TAG(1), true, 1000);
    did(f);
    deliver(f, SYNC, sync_msg(3, labels), 5000);
    const char *out = did(f);
    assert_non_null(strstr(out, "ferry/default/labels/l00=x/apps/+"));
    assert_non_null(strstr(out, "ferry/default/labels/l62=x/apps/+"));
    assert_non_null(strstr(out, "ferry/default/labels/l63=x/apps/+ #2.2"));
    assert_non_null(strstr(out, " #2.1"));
    ferry_session_subscribed(f->s, TAG(2) | 2, true, 5100);
    ferry_session_subscribed(f->s, TAG(2), true, 5100);
    assert_string_equal(did(f), "");
    ferry_session_subscribed(f->s, TAG(2) | 1, true, 5200);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/hello node.hello");
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "subscribe");
}

/* Anti-entropy: a node that heard nothing asks, with its digest, every FERRY_SESSION_CHECK_MS. */
static void test_periodic_check(void **state) {
    fixture *f = *state;
    ferry_session_connected(f->s, 1000);
    ferry_session_subscribed(f->s, TAG(1), true, 1000);
    deliver(f, SYNC, sync_msg(3, json_object()), 1500);
    ferry_session_subscribed(f->s, TAG(2), true, 1500); /* registered: subscribed again, hello */
    deliver(f, SYNC, sync_msg(3, json_object()), 1600);
    did(f);
    ferry_session_tick(f->s, 1500 + FERRY_SESSION_CHECK_MS - 1);
    assert_string_equal(did(f), "");
    ferry_session_tick(f->s, 1500 + FERRY_SESSION_CHECK_MS);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/hello node.hello");
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "check");
    /* Unanswered: the 30 s retry, not another check. */
    ferry_session_tick(f->s, 1500 + FERRY_SESSION_CHECK_MS + FERRY_SESSION_HELLO_RETRY_MS);
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "retry");
}

static void test_labels_move_subscriptions(void **state) {
    fixture *f = *state;
    ferry_session_connected(f->s, 1000);
    ferry_session_subscribed(f->s, TAG(1), true, 1000);
    did(f);
    /* The sync answers the hello and gives labels: online again (the bridge may have refused
     * the first one, before the node was registered), one topic per label, then hello again. */
    deliver(f, SYNC, sync_msg(3, json_pack("{s:s, s:s}", "region", "east", "tier", "gw")), 2000);
    assert_false(ferry_session_hello_outstanding(f->s));
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/online node.online retained | sub " SYNC
                                " " ALL " ferry/default/labels/region=east/apps/+ "
                                "ferry/default/labels/tier=gw/apps/+ #2");
    ferry_session_subscribed(f->s, TAG(2), true, 2100);
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "subscribe");
    did(f);
    /* A label goes: its topic is unsubscribed. */
    deliver(f, SYNC, sync_msg(4, json_pack("{s:s}", "region", "east")), 3000);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/online node.online retained | "
                                "unsub ferry/default/labels/tier=gw/apps/+ | sub " SYNC " " ALL
                                " ferry/default/labels/region=east/apps/+ #3");
}

static void test_gap_and_retry(void **state) {
    fixture *f = *state;
    ferry_session_connected(f->s, 1000);
    ferry_session_subscribed(f->s, TAG(1), true, 1000);
    deliver(f, SYNC, sync_msg(3, json_pack("{s:s}", "region", "east")), 1500);
    ferry_session_subscribed(f->s, TAG(2), true, 1600);
    deliver(f, SYNC, sync_msg(3, json_pack("{s:s}", "region", "east")), 1700);
    did(f);
    /* A patch whose base the node does not hold: a gap, so hello. */
    deliver(f, "ferry/default/labels/region=east/apps/web",
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:{s:{}}}", "type", "app.patch", "ns", "default",
                      "app", "web", "base", 4, "version", 5, "patch", "obj"),
            3000);
    assert_string_equal(did(f), ""); /* the node does not hold web: not for it */
    deliver(f, "ferry/default/all/apps/web",
            json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:[{s:s, s:s}]}}", "type", "app.put", "ns",
                      "default", "app", "web", "version", 4, "spec", "name", "web", "services",
                      "name", "a", "image", "img:1"),
            3100);
    deliver(f, "ferry/default/all/apps/web",
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:{s:{}}}", "type", "app.patch", "ns", "default",
                      "app", "web", "base", 6, "version", 7, "patch", "obj"),
            3200);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/hello node.hello");
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "gap");
    /* Another gap within the second: held back, sent by the tick once the second is over. */
    deliver(f, "ferry/default/all/apps/web",
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:{s:{}}}", "type", "app.patch", "ns", "default",
                      "app", "web", "base", 7, "version", 8, "patch", "obj"),
            3300);
    ferry_session_tick(f->s, 4199);
    assert_string_equal(did(f), "");
    ferry_session_tick(f->s, 4200);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/hello node.hello");
    /* No answer: asked again after 30 s, not before; not while disconnected. */
    ferry_session_tick(f->s, 4200 + FERRY_SESSION_HELLO_RETRY_MS - 1);
    assert_string_equal(did(f), "");
    ferry_session_disconnected(f->s, 40000);
    ferry_session_tick(f->s, 4200 + FERRY_SESSION_HELLO_RETRY_MS);
    assert_string_equal(did(f), "");
    /* Dropped messages ask for a resync too. */
    ferry_session_connected(f->s, 50000);
    did(f);
    ferry_session_tick(f->s, 50000);
    assert_string_equal(did(f), ""); /* the hello waits for the subscriptions */
    ferry_session_subscribed(f->s, TAG(3), true, 50000);
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "connect");
    ferry_session_overflow(f->s, 52000);
    assert_string_equal(json_string_value(json_object_get(last_msg(f), "reason")), "gap");
}

/* A forgotten app's retained status is cleared: at once when connected, else on the next
 * connect (after the online message). */
static void test_forget_clears_status(void **state) {
    fixture *f = *state;
    ferry_session_connected(f->s, 1000);
    ferry_session_subscribed(f->s, TAG(1), true, 1000);
    did(f);
    ferry_session_forget(f->s, "web");
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/status/web clear retained");
    ferry_session_disconnected(f->s, 2000);
    ferry_session_forget(f->s, "db");
    assert_string_equal(did(f), "");
    ferry_session_connected(f->s, 3000);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/online node.online retained | pub "
                                "ferry/default/nodes/n1/status/db clear retained | sub " SYNC
                                " " ALL " #2");
}

static void test_reconcile_timing(void **state) {
    fixture *f = *state;
    /* At start: at once (the node runs what it holds, cloud or not), then every 5 s. */
    assert_true(ferry_session_reconcile_due(f->s, 1000));
    assert_false(ferry_session_reconcile_due(f->s, 1001));
    assert_false(ferry_session_reconcile_due(f->s, 5999));
    assert_true(ferry_session_reconcile_due(f->s, 6000));
    /* A wake-up asked for (a scheduled deployment) brings it forward, never back. */
    ferry_session_wake_at(f->s, 1700000002000LL, 1700000000000LL, 6000); /* in 2 s */
    assert_false(ferry_session_reconcile_due(f->s, 7999));
    assert_true(ferry_session_reconcile_due(f->s, 8000));
    ferry_session_wake_at(f->s, 1700000060000LL, 1700000000000LL, 8000); /* in 60 s */
    assert_true(ferry_session_reconcile_due(f->s, 13000));
    /* A message that changes what the node runs: at once. */
    ferry_session_connected(f->s, 13000);
    assert_true(ferry_session_reconcile_due(f->s, 13001));
    deliver(f, SYNC, sync_msg(3, json_pack("{s:s}", "region", "east")), 13002);
    assert_true(ferry_session_reconcile_due(f->s, 13003));
    assert_false(ferry_session_reconcile_due(f->s, 13004));
}

static void test_status_published_once(void **state) {
    fixture *f = *state;
    json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:[]}", "type", "app.status", "ns",
                           "default", "node", "n1", "app", "web", "version", 3, "phase", "Running",
                           "message", "", "containers");
    ferry_session_connected(f->s, 1000);
    did(f);
    assert_false(ferry_session_reported(f->s, "web", 3, "Running", ""));
    ferry_session_report(f->s, st);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/status/web app.status retained");
    assert_non_null(json_object_get(last_msg(f), "ts"));
    assert_true(ferry_session_reported(f->s, "web", 3, "Running", ""));
    assert_false(ferry_session_reported(f->s, "web", 4, "Running", ""));
    assert_false(ferry_session_reported(f->s, "web", 3, "Failed", ""));
    assert_false(ferry_session_reported(f->s, "web", 3, "Running", "why"));
    ferry_session_report(f->s, st);
    assert_string_equal(did(f), "");
    json_object_set_new(st, "phase", json_string("Failed"));
    ferry_session_report(f->s, st);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/status/web app.status retained");
    /* After a reconnect everything is reported again. */
    ferry_session_connected(f->s, 2000);
    did(f);
    assert_false(ferry_session_reported(f->s, "web", 3, "Failed", ""));
    ferry_session_report(f->s, st);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/status/web app.status retained");
    json_decref(st);
}

static void test_will(void **state) {
    fixture *f = *state;
    const char *topic = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *msg = NULL;
    char why[64];
    char sig[FERRY_SIGN_SIG_B64];
    assert_int_equal(ferry_session_will(f->s, &topic, &buf, &len, sig), FERRY_OK);
    assert_string_equal(sig, ""); /* insecure here */
    assert_string_equal(topic, "ferry/default/nodes/n1/online");
    assert_int_equal(ferry_proto_decode(buf, len, &msg, why, sizeof(why)), FERRY_OK);
    assert_true(json_is_false(json_object_get(msg, "online")));
    json_decref(msg);
    ferry_free(buf);
}

static void test_trust(void **state) {
    fixture *f = *state;
    ferry_keypair stranger;
    memset(stranger.seed, 9, 32);
    assert_int_equal(ferry_sign_keypair(&stranger), FERRY_OK);
    /* What the node says is signed with its key. */
    ferry_session_connected(f->s, 1000);
    ferry_session_subscribed(f->s, TAG(1), true, 1000);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/online node.online retained | sub " SYNC
                                " " ALL " #1 | pub ferry/default/nodes/n1/hello node.hello");
    assert_int_equal(f->bad_sigs, 0);
    char sig[FERRY_SIGN_SIG_B64];
    const char *topic;
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_session_will(f->s, &topic, &buf, &len, sig), FERRY_OK);
    assert_true(ferry_sign_verify(f->node_key.pub, topic, strlen(topic), buf, len, sig));
    ferry_free(buf);
    /* From the cloud: unsigned, signed by a stranger, or signed for another node's topic, a sync
     * changes nothing (no labels, no subscriptions, the hello still unanswered). */
    deliver_signed(f, SYNC, sync_msg(3, json_pack("{s:s}", "region", "east")), NULL, NULL, 2000);
    deliver_signed(f, SYNC, sync_msg(3, json_pack("{s:s}", "region", "east")), &stranger, SYNC,
                   2000);
    deliver_signed(f, SYNC, sync_msg(3, json_pack("{s:s}", "region", "east")), &f->bridge_key,
                   "ferry/default/nodes/n2/sync", 2000);
    assert_string_equal(did(f), "");
    assert_true(ferry_session_hello_outstanding(f->s));
    /* Signed by the bridge for this topic: applied. */
    deliver_signed(f, SYNC, sync_msg(3, json_pack("{s:s}", "region", "east")), &f->bridge_key, SYNC,
                   2000);
    assert_false(ferry_session_hello_outstanding(f->s));
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/online node.online retained | sub " SYNC
                                " " ALL " ferry/default/labels/region=east/apps/+ #2");
}

/* A logs request: only the bridge's, only for this node, reaches the daemon; the answer goes
 * out signed on the reply topic. */
static void test_logs_request(void **state) {
    fixture *f = *state;
    const char *topic = "ferry/default/nodes/n1/logs/request";
    ferry_session_connected(f->s, 1000);
    ferry_session_subscribed(f->s, TAG(1), true, 1000);
    json_array_clear(f->out);
#define LOGS_REQ(node)                                                                             \
    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "type", "logs.request", "ns", "default", \
              "node", node, "id", "0123456789abcdef0123456789abcdef", "app", "web", "service",     \
              "s0", "tail", 100, "since", 0)
    deliver_signed(f, topic, LOGS_REQ("n1"), NULL, NULL, 2000);            /* unsigned */
    deliver_signed(f, topic, LOGS_REQ("n2"), &f->bridge_key, topic, 2000); /* another node */
    deliver_signed(f, topic,
                   json_pack("{s:s, s:s, s:s, s:i, s:b, s:o, s:[]}", "type", "node.sync", "ns",
                             "default", "node", "n1", "rev", 1, "registered", 1, "labels",
                             json_object(), "apps"),
                   &f->bridge_key, topic, 2000); /* another type */
    assert_int_equal(json_array_size(f->logs), 0);
    deliver_signed(f, topic, LOGS_REQ("n1"), &f->bridge_key, topic, 2000);
    assert_int_equal(json_array_size(f->logs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(f->logs, 0), "service")),
                        "s0");
#undef LOGS_REQ
    json_t *reply =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:b}", "type", "logs", "ns",
                  "default", "node", "n1", "id", "0123456789abcdef0123456789abcdef", "app", "web",
                  "service", "s0", "ok", 1, "error", "", "text", "hello\n", "truncated", 0);
    ferry_session_logs_reply(f->s, reply);
    json_decref(reply);
    assert_string_equal(did(f), "pub ferry/default/nodes/n1/logs/reply logs");
    assert_int_equal(f->bad_sigs, 0);
    ferry_session_disconnected(f->s, 3000);
    reply = json_pack("{s:s}", "type", "logs");
    ferry_session_logs_reply(f->s, reply); /* offline: dropped */
    json_decref(reply);
    assert_string_equal(did(f), "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_subscribes_then_hello, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_subscription_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels_move_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_labels_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget_clears_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_timing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_published_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_will, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_request, setup_secure, teardown),
        cmocka_unit_test_setup_teardown(test_trust, setup_secure, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
