/* Integration tests of broker-bridge/broker.h against the secure mosquitto of scripts/services.sh
 * (FERRY_TEST_MQTTS, FERRY_TEST_CA, FERRY_TEST_MQTT_BRIDGE_USER/PASS, FERRY_TEST_MQTT_ADMIN_USER/
 * PASS; skipped, 77, without them). The commands the dynsec adapter emits are published by the
 * bridge's credential, as the bridge's outbox will; every client is the project's MQTT core
 * (daemon/mqtt.h) over TLS with the test CA pinned.
 *
 * What a client may not do is proven twice: the broker's answer (a PUBACK or SUBACK reason code
 * of 0x80 or more) and the absence of the message where it would arrive. Absence is shown with a
 * sentinel: a message that is allowed, sent after the forbidden one by the same client; MQTT keeps
 * one client's messages in order, so once the sentinel arrived the forbidden one never will. The
 * observer (the admin credential, which may read every topic) watches the test's namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "mqtt.h"

#define SKIP 77
#define DEADLINE_MS 10000
#define MAX_PAYLOAD (4u * 1024u * 1024u) /* FERRY_MAX_PAYLOAD, mosquitto's message_size_limit */
#define RESPONSE_TOPIC "$CONTROL/dynamic-security/v1/response"

static struct {
    const char *uri, *ca, *bridge_user, *bridge_pass, *admin_user, *admin_pass;
    char ns[32];
} env;

/* One connected (or refused) client and what its handlers saw. */
typedef struct {
    ferry_mqtt *m;
    char id[FERRY_BROKER_NAME_MAX];
    int up, down;
    char cause[160];
    json_t *msgs;   /* [{"topic", "len", "payload"}] in arrival order */
    json_t *done;   /* tag -> ok, for tracked publishes */
    int sub_result; /* -1 waiting, 0 refused, 1 granted */
    uint64_t next_tag;
} peer;

static void on_up(void *ud) {
    ((peer *)ud)->up++;
}

static void on_down(void *ud, const char *cause) {
    peer *p = ud;
    p->down++;
    snprintf(p->cause, sizeof(p->cause), "%s", cause);
}

static void on_messages(void *ud, const ferry_mqtt_msg *msgs, size_t n) {
    peer *p = ud;
    for (size_t i = 0; i < n; i++) {
        /* Keep small payloads (the broker's responses); a big one is known by its length. */
        size_t keep = msgs[i].len <= 65536 ? msgs[i].len : 0;
        json_array_append_new(p->msgs, json_pack("{s:s, s:I, s:s#}", "topic", msgs[i].topic, "len",
                                                 (json_int_t)msgs[i].len, "payload",
                                                 (const char *)msgs[i].payload, keep));
    }
}

static void on_published(void *ud, const ferry_mqtt_done *done, size_t n) {
    peer *p = ud;
    char tag[24];
    for (size_t i = 0; i < n; i++) {
        snprintf(tag, sizeof(tag), "%llu", (unsigned long long)done[i].tag);
        json_object_set_new(p->done, tag, json_boolean(done[i].ok));
    }
}

static void on_subscribed(void *ud, uint64_t tag, bool ok) {
    (void)tag;
    ((peer *)ud)->sub_result = ok ? 1 : 0;
}

/* Drain p until cond(p, arg) holds; false at the deadline. */
static bool wait_until(peer *p, bool (*cond)(const peer *, const void *), const void *arg) {
    int64_t deadline = ferry_mono_ms() + DEADLINE_MS;
    for (;;) {
        ferry_mqtt_drain(p->m);
        ferry_mqtt_tick(p->m);
        if (cond(p, arg))
            return true;
        if (ferry_mono_ms() > deadline)
            return false;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL); /* polling the client's queue, with a deadline */
    }
}

static bool settled(const peer *p, const void *arg) {
    (void)arg;
    return p->up > 0 || p->down > 0;
}

/* Connect as user (NULL: anonymous) with client id id to uri, trusting ca; returns whether the
 * broker let it in. The peer is kept either way (peer_close). */
static bool peer_open(peer *p, const char *uri, const char *ca, const char *id, const char *user,
                      const char *pass) {
    ferry_mqtt_tls tls = {.ca_file = ca};
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->msgs = json_array();
    p->done = json_object();
    p->sub_result = -1;
    ferry_mqtt_opts o = {
        .uri = uri,
        .client_id = id,
        .username = user,
        .password = pass,
        .tls = strncmp(uri, "ssl://", 6) == 0 ? &tls : NULL,
        .session_expiry_s = 60,
        .max_retry_s = 60,
        .handlers = {on_up, on_down, on_messages, on_published, on_subscribed, NULL},
        .ud = p};
    assert_int_equal(ferry_mqtt_create(&o, &p->m), FERRY_OK);
    ferry_mqtt_connect(p->m);
    if (!wait_until(p, settled, NULL))
        fail_msg("%s: neither connected nor refused", id);
    return p->up > 0;
}

static void peer_close(peer *p) {
    ferry_mqtt_destroy(p->m);
    json_decref(p->msgs);
    json_decref(p->done);
    memset(p, 0, sizeof(*p));
}

/* A node's or a debug reader's own connection: its username is its client id. */
static bool open_as(peer *p, const char *username, const char *pass) {
    return peer_open(p, env.uri, env.ca, username, username, pass);
}

static bool sub_answered(const peer *p, const void *arg) {
    (void)arg;
    return p->sub_result >= 0;
}

/* Subscribe p to filter; whether the broker granted it. */
static bool subscribe(peer *p, const char *filter) {
    const char *filters[] = {filter};
    p->sub_result = -1;
    assert_int_equal(ferry_mqtt_subscribe(p->m, filters, 1, ++p->next_tag), FERRY_OK);
    if (!wait_until(p, sub_answered, NULL))
        fail_msg("%s: no SUBACK for %s", p->id, filter);
    return p->sub_result == 1;
}

static bool pub_answered(const peer *p, const void *tag) {
    return json_object_get(p->done, tag) != NULL;
}

/* Publish at QoS 1 and wait for the broker's answer: whether it accepted the message. */
static bool publish(peer *p, const char *topic, const void *payload, size_t len, bool retain) {
    char tag[24];
    ferry_mqtt_pub pub = {.retain = retain, .tracked = true, .tag = ++p->next_tag};
    snprintf(tag, sizeof(tag), "%llu", (unsigned long long)pub.tag);
    assert_int_equal(ferry_mqtt_publish(p->m, topic, payload, len, &pub), FERRY_OK);
    if (!wait_until(p, pub_answered, tag))
        fail_msg("%s: no answer to the publish on %s", p->id, topic);
    return json_is_true(json_object_get(p->done, tag));
}

static bool publish_text(peer *p, const char *topic, const char *text) {
    return publish(p, topic, text, strlen(text), false);
}

/* Index of the first message on topic in p->msgs, or -1. */
static long find_msg(const peer *p, const char *topic) {
    size_t i;
    json_t *m;
    json_array_foreach(p->msgs, i, m) {
        if (strcmp(json_string_value(json_object_get(m, "topic")), topic) == 0)
            return (long)i;
    }
    return -1;
}

static bool has_msg(const peer *p, const void *topic) {
    return find_msg(p, topic) >= 0;
}

/* Wait for a message on topic at p; its payload length. */
static size_t expect_msg(peer *p, const char *topic) {
    if (!wait_until(p, has_msg, topic))
        fail_msg("%s never received a message on %s (%zu others)", p->id, topic,
                 json_array_size(p->msgs));
    return (size_t)json_integer_value(
        json_object_get(json_array_get(p->msgs, (size_t)find_msg(p, topic)), "len"));
}

static void expect_none(const peer *p, const char *topic) {
    if (find_msg(p, topic) >= 0)
        fail_msg("%s received a message on %s", p->id, topic);
}

static bool is_down(const peer *p, const void *arg) {
    (void)arg;
    return p->down > 0;
}

/* ---- the bridge: emits through its own credential ----------------------------------------------
 */

static peer bridge, observer;

static bool response_arrived(const peer *p, const void *arg) {
    (void)arg;
    return find_msg(p, RESPONSE_TOPIC) >= 0;
}

/* The emit of broker.h: publish as the bridge; then read the plugin's answer, in which every
 * command succeeded but for the creates of what exists and the deletes of what is gone. */
static ferry_err emit(void *ctx, const char *topic, const unsigned char *payload, size_t len) {
    static const char *const expected[] = {"Role already exists", "Client already exists",
                                           "Client not found", "Role not found"};
    json_error_t je;
    (void)ctx;
    json_array_clear(bridge.msgs);
    if (!publish(&bridge, topic, payload, len, false))
        return FERRY_EIO;
    if (!wait_until(&bridge, response_arrived, NULL))
        fail_msg("no answer from the dynamic-security plugin");
    json_t *r = json_array_get(bridge.msgs, (size_t)find_msg(&bridge, RESPONSE_TOPIC));
    json_t *doc = json_loads(json_string_value(json_object_get(r, "payload")), 0, &je);
    json_t *responses = json_object_get(doc, "responses"), *one;
    size_t i;
    assert_true(json_array_size(responses) > 0);
    json_array_foreach(responses, i, one) {
        const char *error = json_string_value(json_object_get(one, "error"));
        bool fine = error == NULL;
        for (size_t k = 0; !fine && k < sizeof(expected) / sizeof(expected[0]); k++)
            fine = strcmp(error, expected[k]) == 0;
        if (!fine)
            fail_msg("%s: %s", json_string_value(json_object_get(one, "command")), error);
    }
    json_decref(doc);
    json_array_clear(bridge.msgs);
    return FERRY_OK;
}

static ferry_broker *broker;

/* Names of the test's namespace. */
static const char *username(const char *node) {
    static char buf[FERRY_BROKER_NAME_MAX];
    assert_int_equal(ferry_broker_node_username(env.ns, node, buf, sizeof(buf)), FERRY_OK);
    return buf;
}

static const char *topic(const char *fmt, const char *a) {
    static char bufs[32][FERRY_TOPIC_MAX]; /* enough for the topics one test holds at once */
    static int next;
    char *buf = bufs[next++ % 32];
    snprintf(buf, FERRY_TOPIC_MAX, "ferry/%s/", env.ns);
    snprintf(buf + strlen(buf), FERRY_TOPIC_MAX - strlen(buf), fmt, a);
    return buf;
}

static void node_grant(const char *node, const char *password, const char *labels_json) {
    json_t *labels = labels_json != NULL ? json_loads(labels_json, 0, NULL) : NULL;
    assert_int_equal(ferry_broker_node_grant(broker, env.ns, node, password, labels, emit, NULL),
                     FERRY_OK);
    json_decref(labels);
}

static void node_revoke(const char *node) {
    assert_int_equal(ferry_broker_node_revoke(broker, env.ns, node, emit, NULL), FERRY_OK);
}

/* A node granted with password and labels, connected under its own names. */
static void node_up(peer *p, const char *node, const char *password, const char *labels_json) {
    char user[FERRY_BROKER_NAME_MAX];
    node_grant(node, password, labels_json);
    snprintf(user, sizeof(user), "%s", username(node));
    if (!open_as(p, user, password))
        fail_msg("node %s refused: %s", node, p->cause);
}

static int group_setup(void **state) {
    (void)state;
    snprintf(env.ns, sizeof(env.ns), "it%d", (int)getpid());
    if (ferry_broker_create("mosquitto-dynsec", &broker) != FERRY_OK)
        return -1;
    char id[64];
    snprintf(id, sizeof(id), "ferry-bridge-it%d", (int)getpid());
    if (!peer_open(&bridge, env.uri, env.ca, id, env.bridge_user, env.bridge_pass) ||
        !subscribe(&bridge, RESPONSE_TOPIC) || !subscribe(&bridge, "ferry/+/nodes/+/hello") ||
        !subscribe(&bridge, "ferry/+/nodes/+/status/+") ||
        !subscribe(&bridge, "ferry/+/nodes/+/online") ||
        !subscribe(&bridge, "ferry/+/nodes/+/stats"))
        return -1;
    snprintf(id, sizeof(id), "ferry-observer-it%d", (int)getpid());
    char all[64];
    snprintf(all, sizeof(all), "ferry/%s/#", env.ns);
    if (!peer_open(&observer, env.uri, env.ca, id, env.admin_user, env.admin_pass) ||
        !subscribe(&observer, all))
        return -1;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    peer_close(&observer);
    peer_close(&bridge);
    ferry_broker_destroy(broker);
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_node_uses_its_own_topics(void **state) {
    peer n;
    (void)state;
    node_up(&n, "own", "pw-own", "{\"region\": \"east\", \"example.com/zone\": \"a\"}");
    const char *reads[] = {topic("nodes/%s/sync", "own"), topic("nodes/%s/secrets/+", "own"),
                           topic("all/apps/+", ""), NULL, NULL};
    reads[3] = topic("labels/region=east/apps/%s", "+");
    reads[4] = topic("labels/example.com%%2Fzone=a/apps/%s", "+");
    for (size_t i = 0; i < 5; i++)
        if (!subscribe(&n, reads[i]))
            fail_msg("subscription to %s refused", reads[i]);
    const char *sent[] = {topic("nodes/%s/sync", "own"), topic("nodes/%s/secrets/web", "own"),
                          topic("all/apps/%s", "web"), topic("labels/region=east/apps/%s", "web")};
    for (size_t i = 0; i < 4; i++) {
        assert_true(publish_text(&bridge, sent[i], "for own"));
        expect_msg(&n, sent[i]);
    }
    const char *zone = topic("labels/example.com%%2Fzone=a/apps/%s", "web");
    assert_true(publish_text(&bridge, zone, "for own"));
    expect_msg(&n, zone);

    const char *own[] = {topic("nodes/%s/hello", "own"), topic("nodes/%s/status/web", "own"),
                         topic("nodes/%s/online", "own"), topic("nodes/%s/stats", "own")};
    for (size_t i = 0; i < 4; i++) {
        /* status and online are retained */
        assert_true(publish(&n, own[i], "{}", 2, i == 1 || i == 2));
        expect_msg(&bridge, own[i]);
    }
    peer_close(&n);
    node_revoke("own");
}

static void test_node_cannot_publish_elsewhere(void **state) {
    peer n, evil;
    char cmd[512];
    (void)state;
    node_up(&n, "pub", "pw-pub", "{\"region\": \"east\"}");
    /* Another node's topics, its own inbound ones, the apps' topics. */
    const char *forbidden[] = {
        topic("nodes/%s/hello", "victim"),  topic("nodes/%s/status/web", "victim"),
        topic("nodes/%s/online", "victim"), topic("nodes/%s/stats", "victim"),
        topic("nodes/%s/sync", "pub"),      topic("nodes/%s/secrets/web", "pub"),
        topic("all/apps/%s", "forged"),     topic("labels/region=east/apps/%s", "forged")};
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        if (publish_text(&n, forbidden[i], "forged"))
            fail_msg("the broker accepted a publish on %s", forbidden[i]);
    /* Nor may it administer the broker: a client it makes for itself does not exist. */
    snprintf(cmd, sizeof(cmd),
             "{\"commands\":[{\"command\":\"createClient\",\"username\":\"%s\","
             "\"password\":\"evil\"}]}",
             username("evil"));
    assert_false(publish_text(&n, "$CONTROL/dynamic-security/v1", cmd));
    const char *sentinel = topic("nodes/%s/hello", "pub");
    assert_true(publish_text(&n, sentinel, "sentinel"));
    expect_msg(&observer, sentinel);
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        expect_none(&observer, forbidden[i]);
    assert_false(open_as(&evil, username("evil"), "evil"));
    peer_close(&evil);
    peer_close(&n);
    node_revoke("pub");
}

static void test_node_cannot_read_elsewhere(void **state) {
    peer n;
    char all[64];
    (void)state;
    node_up(&n, "read", "pw-read", "{\"region\": \"east\"}");
    snprintf(all, sizeof(all), "ferry/%s/#", env.ns);
    const char *forbidden[] = {topic("nodes/%s/sync", "other"),
                               topic("nodes/%s/secrets/+", "other"),
                               topic("labels/region=west/apps/%s", "+"),
                               topic("nodes/%s/sync", "+"),
                               topic("nodes/%s/hello", "read"),
                               topic("all/apps/%s", "#"),
                               all,
                               "ferry/#",
                               "#",
                               RESPONSE_TOPIC};
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        if (subscribe(&n, forbidden[i]))
            fail_msg("the broker granted a subscription to %s", forbidden[i]);
    const char *own = topic("nodes/%s/sync", "read");
    assert_true(subscribe(&n, own));
    const char *others[] = {topic("nodes/%s/sync", "other"),
                            topic("labels/region=west/apps/%s", "web")};
    for (size_t i = 0; i < 2; i++)
        assert_true(publish_text(&bridge, others[i], "not for read"));
    assert_true(publish_text(&bridge, own, "sentinel"));
    expect_msg(&n, own);
    expect_none(&n, others[0]);
    expect_none(&n, others[1]);
    peer_close(&n);
    node_revoke("read");
}

static void test_relabel_moves_what_it_may_read(void **state) {
    peer n;
    (void)state;
    const char *east = topic("labels/region=east/apps/%s", "+");
    const char *west = topic("labels/region=west/apps/%s", "+");
    node_up(&n, "relabel", "pw-relabel", "{\"region\": \"east\"}");
    assert_true(subscribe(&n, east));
    assert_false(subscribe(&n, west));
    const char *east_web = topic("labels/region=east/apps/%s", "web");
    assert_true(publish_text(&bridge, east_web, "v1"));
    expect_msg(&n, east_web);

    node_grant("relabel", NULL, "{\"region\": \"west\"}");
    /* The subscription it still holds to east delivers nothing more; the connection stays. */
    json_array_clear(n.msgs);
    const char *east_api = topic("labels/region=east/apps/%s", "api");
    const char *sync = topic("nodes/%s/sync", "relabel");
    assert_true(subscribe(&n, sync));
    assert_true(publish_text(&bridge, east_api, "after the relabel"));
    assert_true(publish_text(&bridge, sync, "sentinel"));
    expect_msg(&n, sync);
    expect_none(&n, east_api);
    assert_int_equal(n.down, 0);
    assert_true(subscribe(&n, west));
    assert_false(subscribe(&n, east));
    const char *west_web = topic("labels/region=west/apps/%s", "web");
    assert_true(publish_text(&bridge, west_web, "v2"));
    expect_msg(&n, west_web);
    assert_int_equal(n.down, 0);
    peer_close(&n);
    /* A relabel keeps the password. */
    assert_true(open_as(&n, username("relabel"), "pw-relabel"));
    peer_close(&n);
    node_revoke("relabel");
}

static void test_new_password_replaces_the_old(void **state) {
    peer n;
    (void)state;
    node_up(&n, "rotate", "pw-old", NULL);
    node_grant("rotate", "pw-new", NULL);
    if (!wait_until(&n, is_down, NULL))
        fail_msg("the connection with the old password is still open");
    peer_close(&n);
    assert_false(open_as(&n, username("rotate"), "pw-old"));
    peer_close(&n);
    assert_true(open_as(&n, username("rotate"), "pw-new"));
    peer_close(&n);
    node_revoke("rotate");
}

static void test_revoke_closes_and_refuses(void **state) {
    peer n, again;
    (void)state;
    node_up(&n, "revoke", "pw-revoke", "{\"region\": \"east\"}");
    assert_true(subscribe(&n, topic("nodes/%s/sync", "revoke")));
    node_revoke("revoke");
    if (!wait_until(&n, is_down, NULL))
        fail_msg("the revoked node is still connected");
    assert_false(open_as(&again, username("revoke"), "pw-revoke"));
    peer_close(&again);
    peer_close(&n);
    node_revoke("revoke"); /* again: nothing left to delete, no harm */
}

static void test_credential_bound_to_client_id(void **state) {
    peer n, other;
    char one[FERRY_BROKER_NAME_MAX], two[FERRY_BROKER_NAME_MAX];
    (void)state;
    node_up(&n, "one", "pw-one", NULL);
    node_grant("two", "pw-two", NULL);
    snprintf(one, sizeof(one), "%s", username("one"));
    snprintf(two, sizeof(two), "%s", username("two"));
    /* Its own credential under another client id, and another node's under its id: refused, and
     * the live connection of "one" is not taken over. */
    assert_false(peer_open(&other, env.uri, env.ca, "someone-else", one, "pw-one"));
    peer_close(&other);
    assert_false(peer_open(&other, env.uri, env.ca, one, two, "pw-two"));
    peer_close(&other);
    assert_false(open_as(&other, one, "wrong"));
    assert_true(subscribe(&n, topic("nodes/%s/sync", "one"))); /* a round trip: still there */
    assert_int_equal(n.down, 0);
    peer_close(&other);
    peer_close(&n);
    node_revoke("one");
    node_revoke("two");
}

static void test_anonymous_and_plain_tcp_refused(void **state) {
    peer p;
    char plain[128];
    (void)state;
    assert_false(peer_open(&p, env.uri, env.ca, "ferry-anonymous", NULL, NULL));
    peer_close(&p);
    /* The TLS port does not speak plain MQTT, even to a good credential. */
    const char *port = strrchr(env.uri, ':');
    assert_non_null(port);
    snprintf(plain, sizeof(plain), "tcp://127.0.0.1%s", port);
    assert_false(peer_open(&p, plain, NULL, "ferry-plain-tcp", env.bridge_user, env.bridge_pass));
    peer_close(&p);
}

static void test_ca_is_pinned(void **state) {
    peer p;
    const char *other_ca = "/etc/ssl/certs/ca-certificates.crt"; /* the public CAs, not ours */
    (void)state;
    if (access(other_ca, R_OK) != 0)
        skip();
    assert_false(
        peer_open(&p, env.uri, other_ca, "ferry-other-ca", env.bridge_user, env.bridge_pass));
    peer_close(&p);
}

static void test_debug_reads_everything_publishes_nothing(void **state) {
    peer d;
    char name[32], user[FERRY_BROKER_NAME_MAX];
    (void)state;
    snprintf(name, sizeof(name), "it%d", (int)getpid());
    assert_int_equal(ferry_broker_debug_grant(broker, name, "pw-debug", emit, NULL), FERRY_OK);
    assert_int_equal(ferry_broker_debug_username(name, user, sizeof(user)), FERRY_OK);
    if (!open_as(&d, user, "pw-debug"))
        fail_msg("the debug credential was refused: %s", d.cause);
    assert_true(subscribe(&d, "ferry/#"));
    const char *app = topic("all/apps/%s", "web"), *sync = topic("nodes/%s/sync", "any");
    assert_true(publish_text(&bridge, app, "app"));
    assert_true(publish_text(&bridge, sync, "sync"));
    expect_msg(&d, app);
    expect_msg(&d, sync);
    /* Refused by the broker before the bridge sends the sentinel (the PUBACK comes after the
     * broker queued a message for its subscribers), so the sentinel arrives after them. */
    const char *forbidden[] = {topic("nodes/%s/sync", "forged"), topic("all/apps/%s", "forged"),
                               topic("nodes/%s/hello", "forged")};
    for (size_t i = 0; i < 3; i++)
        assert_false(publish_text(&d, forbidden[i], "forged"));
    assert_false(subscribe(&d, RESPONSE_TOPIC));
    const char *sentinel = topic("all/apps/%s", "sentinel");
    assert_true(publish_text(&bridge, sentinel, "sentinel"));
    expect_msg(&observer, sentinel);
    for (size_t i = 0; i < 3; i++)
        expect_none(&observer, forbidden[i]);
    assert_int_equal(ferry_broker_debug_revoke(broker, name, emit, NULL), FERRY_OK);
    if (!wait_until(&d, is_down, NULL))
        fail_msg("the revoked debug credential is still connected");
    peer_close(&d);
}

/* The broker takes a payload of exactly the protocol's cap on a long topic (the topic does not
 * count) and refuses one byte more with a PUBACK code, delivering nothing. */
static void test_payload_cap(void **state) {
    peer n;
    char key[300];
    (void)state;
    /* A label key of 4 DNS labels of 60 characters as its prefix: a 300-byte topic. */
    memset(key, 'a', sizeof(key));
    for (int i = 1; i < 4; i++)
        key[61 * i - 1] = '.';
    snprintf(key + 243, sizeof(key) - 243, "/zone");
    char labels[400];
    snprintf(labels, sizeof(labels), "{\"%s\": \"a\"}", key);
    node_up(&n, "cap", "pw-cap", labels);
    char filter[FERRY_TOPIC_MAX], app[FERRY_TOPIC_MAX];
    assert_int_equal(ferry_topic_label_filter(env.ns, key, "a", filter, sizeof(filter)), FERRY_OK);
    assert_true(subscribe(&n, filter));
    ferry_topic t = {.kind = FERRY_TOPIC_APP_LABEL, .app = "web", .label_value = "a"};
    snprintf(t.ns, sizeof(t.ns), "%s", env.ns);
    snprintf(t.label_key, sizeof(t.label_key), "%s", key);
    assert_int_equal(ferry_topic_build(&t, app, sizeof(app)), FERRY_OK);
    assert_true(strlen(app) > 280);

    unsigned char *big = calloc(MAX_PAYLOAD + 1, 1);
    assert_non_null(big);
    assert_true(publish(&bridge, app, big, MAX_PAYLOAD, false));
    assert_int_equal(expect_msg(&n, app), MAX_PAYLOAD);
    json_array_clear(n.msgs);
    assert_false(publish(&bridge, app, big, MAX_PAYLOAD + 1, false));
    free(big);
    const char *sentinel = topic("nodes/%s/sync", "cap");
    assert_true(subscribe(&n, sentinel));
    assert_true(publish_text(&bridge, sentinel, "sentinel"));
    expect_msg(&n, sentinel);
    expect_none(&n, app);
    peer_close(&n);
    node_revoke("cap");
}

static const char *need(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int main(void) {
    env.uri = need("FERRY_TEST_MQTTS");
    env.ca = need("FERRY_TEST_CA");
    env.bridge_user = need("FERRY_TEST_MQTT_BRIDGE_USER");
    env.bridge_pass = need("FERRY_TEST_MQTT_BRIDGE_PASS");
    env.admin_user = need("FERRY_TEST_MQTT_ADMIN_USER");
    env.admin_pass = need("FERRY_TEST_MQTT_ADMIN_PASS");
    if (env.uri == NULL || env.ca == NULL || env.bridge_user == NULL || env.bridge_pass == NULL ||
        env.admin_user == NULL || env.admin_pass == NULL) {
        fprintf(stderr, "FERRY_TEST_MQTTS, FERRY_TEST_CA and the bridge's and admin's credentials "
                        "are not set (scripts/services.sh): skipped\n");
        return SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_uses_its_own_topics),
        cmocka_unit_test(test_node_cannot_publish_elsewhere),
        cmocka_unit_test(test_node_cannot_read_elsewhere),
        cmocka_unit_test(test_relabel_moves_what_it_may_read),
        cmocka_unit_test(test_new_password_replaces_the_old),
        cmocka_unit_test(test_revoke_closes_and_refuses),
        cmocka_unit_test(test_credential_bound_to_client_id),
        cmocka_unit_test(test_anonymous_and_plain_tcp_refused),
        cmocka_unit_test(test_ca_is_pinned),
        cmocka_unit_test(test_debug_reads_everything_publishes_nothing),
        cmocka_unit_test(test_payload_cap),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
