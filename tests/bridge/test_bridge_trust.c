/* Unit tests of broker-bridge's trust rules (schema/PROTOCOL.md, "Trust"): enrollment tokens and
 * the exchange that records a node's keys, signatures on everything the bridge publishes, and which
 * node messages it believes. The bridge runs without --insecure-nodes here. */
#include "bridge_test.h"

#include "ferry/secrets.h"

typedef bridge_fixture fixture;

/* A bridge that tells enrolling nodes a TLS broker; broker: its administration (NULL: none). */
static int open_bridge(void **state, const char *broker) {
    fixture *f = calloc(1, sizeof(*f));
    f->dir = tmp_dir();
    ferry_bridge_config cfg = {.data_dir = f->dir,
                               .publish = record_publish,
                               .publish_ctx = &f->rec,
                               .node_mqtt_uri = "ssl://broker.example:8883",
                               .node_mqtt_ca = "-----BEGIN CERTIFICATE-----\nx\n",
                               .broker = broker};
    assert_int_equal(ferry_bridge_open(&cfg, &f->b), FERRY_OK);
    ferry_bridge_public_key(f->b, f->rec.bridge_pub);
    f->rec.bridge_pub_set = true;
    *state = f;
    return 0;
}

static int setup(void **state) {
    return open_bridge(state, NULL);
}

static int setup_dynsec(void **state) {
    return open_bridge(state, "mosquitto-dynsec");
}

/* A node's keys as it would make them at enrollment. */
typedef struct {
    ferry_keypair sign, box;
} node_keys;

static void make_keys(node_keys *k, unsigned char seed) {
    memset(k->sign.seed, seed, 32);
    memset(k->box.seed, seed + 1, 32);
    assert_int_equal(ferry_sign_keypair(&k->sign), FERRY_OK);
    assert_int_equal(ferry_box_keypair(&k->box), FERRY_OK);
}

static void register_node(fixture *f, const char *name) {
    json_t *out = NULL, *body = json_pack("{s:s, s:{s:s}}", "name", name, "labels", "zone", "a");
    ferry_detail e;
    assert_int_equal(ferry_bridge_node_create(f->b, "default", body, &out, &e), FERRY_OK);
    json_decref(body);
    json_decref(out);
}

/* A fresh enrollment token for name; caller frees. */
static char *token_for(fixture *f, const char *name) {
    json_t *out = NULL;
    ferry_detail e;
    assert_int_equal(ferry_bridge_node_enroll_token(f->b, "default", name, &out, &e), FERRY_OK);
    char *token = strdup(json_string_value(json_object_get(out, "token")));
    assert_non_null(json_object_get(out, "expiresAt"));
    json_decref(out);
    return token;
}

static ferry_err enroll(fixture *f, const char *token, const node_keys *k, json_t **out,
                        ferry_detail *e) {
    char sign[FERRY_SIGN_PUB_B64], box[FERRY_SIGN_PUB_B64];
    ferry_sign_pub_encode(k->sign.pub, sign);
    ferry_sign_pub_encode(k->box.pub, box);
    json_t *body = json_pack("{s:s, s:s, s:s}", "token", token, "signKey", sign, "boxKey", box);
    ferry_err err = ferry_bridge_enroll(f->b, body, out, e);
    json_decref(body);
    return err;
}

/* A node message on topic, signed with key (NULL: unsigned). */
static void node_sends(fixture *f, const char *topic, json_t *msg, const ferry_keypair *key) {
    assert_int_equal(node_message(f->b, topic, msg, key), FERRY_OK);
}

static json_t *hello(const char *node) {
    return json_pack("{s:s, s:s, s:s, s:s, s:{}}", "type", "node.hello", "ns", "default", "node",
                     node, "reason", "connect", "apps");
}

static void test_enroll_records_keys_once(void **state) {
    fixture *f = *state;
    node_keys k;
    json_t *out = NULL, *view = NULL;
    ferry_detail e;
    make_keys(&k, 1);
    register_node(f, "n1");
    char *token = token_for(f, "n1");
    assert_int_equal(strncmp(token, "fen_", 4), 0);
    settle(f);

    assert_int_equal(enroll(f, token, &k, &out, &e), FERRY_OK);
    /* What the node pins and where it connects. */
    char pub[FERRY_SIGN_PUB_B64];
    ferry_sign_pub_encode(f->rec.bridge_pub, pub);
    assert_string_equal(json_string_value(json_object_get(out, "bridgeKey")), pub);
    assert_string_equal(json_string_value(json_object_get(out, "node")), "n1");
    json_t *mqtt = json_object_get(out, "mqtt");
    assert_string_equal(json_string_value(json_object_get(mqtt, "uri")),
                        "ssl://broker.example:8883");
    assert_string_equal(json_string_value(json_object_get(mqtt, "clientId")), "node.default.n1");
    assert_non_null(json_string_value(json_object_get(mqtt, "ca")));
    json_decref(out);
    /* The node gets its sync (signed), and shows as enrolled. */
    assert_int_equal(flush_outbox(f), 1);
    assert_string_equal(f->rec.items[0].topic, "ferry/default/nodes/n1/sync");
    assert_true(f->rec.items[0].signed_ok);
    assert_int_equal(ferry_bridge_node_get(f->b, "default", "n1", &view, &e), FERRY_OK);
    assert_true(json_is_true(json_object_get(view, "enrolled")));
    json_decref(view);

    /* Spent: the same token again, an unknown one, one of another shape: refused alike. */
    assert_int_equal(enroll(f, token, &k, &out, &e), FERRY_ENOTFOUND);
    assert_string_equal(e.field, "token");
    assert_int_equal(enroll(f, "fen_nope", &k, &out, &e), FERRY_ENOTFOUND);
    assert_int_equal(enroll(f, "nope", &k, &out, &e), FERRY_ENOTFOUND);
    free(token);
    /* No token for a node that is not registered. */
    assert_int_equal(ferry_bridge_node_enroll_token(f->b, "default", "ghost", &out, &e),
                     FERRY_ENOTFOUND);
    /* A token of a node deleted before it was used lets nobody in. */
    register_node(f, "n2");
    token = token_for(f, "n2");
    assert_int_equal(ferry_bridge_node_delete(f->b, "default", "n2", &out, &e), FERRY_OK);
    json_decref(out);
    assert_int_equal(enroll(f, token, &k, &out, &e), FERRY_ENOTFOUND);
    free(token);
    /* Keys that are not keys. */
    json_t *body = json_pack("{s:s, s:s, s:s}", "token", "fen_x", "signKey", "AAAA", "boxKey", "");
    assert_int_equal(ferry_bridge_enroll(f->b, body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "signKey");
    json_decref(body);
}

static void test_believes_only_the_enrolled_node(void **state) {
    fixture *f = *state;
    node_keys k, other;
    json_t *out = NULL;
    ferry_detail e;
    make_keys(&k, 1);
    make_keys(&other, 5);
    register_node(f, "n1");
    register_node(f, "n2");
    char *token = token_for(f, "n1");
    assert_int_equal(enroll(f, token, &k, &out, &e), FERRY_OK);
    json_decref(out);
    free(token);
    settle(f);

    /* Signed by n1's key on n1's topic: answered, signed by the bridge. */
    node_sends(f, "ferry/default/nodes/n1/hello", hello("n1"), &k.sign);
    assert_int_equal(f->rec.n, 1);
    assert_true(f->rec.items[0].signed_ok);
    recorder_clear(&f->rec);
    /* Unsigned, signed by another key, or n1's signature replayed on n2's topic: nothing. */
    node_sends(f, "ferry/default/nodes/n1/hello", hello("n1"), NULL);
    node_sends(f, "ferry/default/nodes/n1/hello", hello("n1"), &other.sign);
    node_sends(f, "ferry/default/nodes/n2/hello", hello("n2"), &k.sign);
    /* n2 never enrolled: without --insecure-nodes it is not believed at all. */
    node_sends(f, "ferry/default/nodes/n2/hello", hello("n2"), NULL);
    /* An unregistered node. */
    node_sends(f, "ferry/default/nodes/ghost/hello", hello("ghost"), &k.sign);
    assert_int_equal(f->rec.n, 0);

    /* Statuses: only for an app that exists, never above its version. */
    json_t *app = sample_app("web", 1, 1, NULL, NULL);
    assert_int_equal(ferry_bridge_app_create(f->b, "default", app, &out, &e), FERRY_OK);
    json_int_t v = json_integer_value(json_object_get(out, "version"));
    json_decref(out);
    json_decref(app);
    static const char *const st =
        "{\"type\":\"app.status\",\"ns\":\"default\",\"node\":\"n1\",\"app\":\"%s\","
        "\"version\":%lld,\"phase\":\"Running\",\"message\":\"\",\"ts\":1,\"containers\":[]}";
    char buf[512];
    snprintf(buf, sizeof(buf), st, "web", (long long)v + 1000);
    node_sends(f, "ferry/default/nodes/n1/status/web", J(buf), &k.sign);
    snprintf(buf, sizeof(buf), st, "nope", 1LL);
    node_sends(f, "ferry/default/nodes/n1/status/nope", J(buf), &k.sign);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "web", &out, &e), FERRY_OK);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "nodes"), 0), "phase")),
                        "Pending");
    json_decref(out);
    snprintf(buf, sizeof(buf), st, "web", (long long)v);
    node_sends(f, "ferry/default/nodes/n1/status/web", J(buf), &k.sign);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "web", &out, &e), FERRY_OK);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "nodes"), 0), "phase")),
                        "Running");
    json_decref(out);

    /* Call statistics: believed only signed by the node the topic names. */
    long long now = ferry_now_ms();
    static const char *const stats_fmt =
        "{\"type\":\"node.stats\",\"ns\":\"default\",\"node\":\"%s\",\"start\":%lld,"
        "\"ts\":%lld,\"calls\":[{\"app\":\"web\",\"service\":\"s0\",\"function\":\"*\","
        "\"requests\":%d,\"success\":%d,\"clientErrors\":0,\"serverErrors\":0,\"timeouts\":0,"
        "\"latency\":[%d,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}";
    snprintf(buf, sizeof(buf), stats_fmt, "n1", now, now, 3, 3, 3);
    node_sends(f, "ferry/default/nodes/n1/stats", J(buf), NULL);
    node_sends(f, "ferry/default/nodes/n1/stats", J(buf), &other.sign);
    snprintf(buf, sizeof(buf), stats_fmt, "n2", now, now, 5, 5, 5);
    node_sends(f, "ferry/default/nodes/n2/stats", J(buf), &k.sign);
    node_sends(f, "ferry/default/nodes/n2/stats", J(buf), NULL);
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "web", 60, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "total"), "requests")),
                     0);
    json_decref(out);
    snprintf(buf, sizeof(buf), stats_fmt, "n1", now, now, 3, 3, 3);
    node_sends(f, "ferry/default/nodes/n1/stats", J(buf), &k.sign);
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "web", 60, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "total"), "requests")),
                     3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "nodes"), 0), "node")),
                        "n1");
    json_decref(out);

    /* A relabel keeps the keys: still believed. Deleted: no longer. */
    json_t *body = json_pack("{s:{s:s}}", "labels", "zone", "b");
    assert_int_equal(ferry_bridge_node_update(f->b, "default", "n1", body, &out, &e), FERRY_OK);
    json_decref(body);
    json_decref(out);
    settle(f);
    node_sends(f, "ferry/default/nodes/n1/hello", hello("n1"), &k.sign);
    assert_int_equal(f->rec.n, 1);
    recorder_clear(&f->rec);
    assert_int_equal(ferry_bridge_node_delete(f->b, "default", "n1", &out, &e), FERRY_OK);
    json_decref(out);
    settle(f);
    node_sends(f, "ferry/default/nodes/n1/hello", hello("n1"), &k.sign);
    assert_int_equal(f->rec.n, 0);
}

/* The commands of the outbox recorded so far on $CONTROL, as one string of their "command"s, in
 * order, with the sync marked where it went: "createRole ... | sync". */
static const char *commands(fixture *f) {
    static char buf[1024];
    buf[0] = '\0';
    for (size_t i = 0; i < f->rec.n; i++) {
        const published *p = &f->rec.items[i];
        if (strcmp(p->topic, "$CONTROL/dynamic-security/v1") == 0) {
            json_t *cmds = json_object_get(p->msg, "commands"), *c;
            size_t j;
            json_array_foreach(cmds, j, c) {
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s ",
                         json_string_value(json_object_get(c, "command")));
            }
        } else if (strstr(p->topic, "/sync") != NULL) {
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "| sync ");
        }
    }
    return buf;
}

/* With the mosquitto-dynsec adapter, enrollment grants the node its credential (answered once,
 * never stored), a relabel moves its rights before its sync goes out, a delete revokes it. */
static void test_broker_credentials(void **state) {
    fixture *f = *state;
    node_keys k;
    json_t *out = NULL;
    ferry_detail e;
    make_keys(&k, 7);
    register_node(f, "n1");
    char *token = token_for(f, "n1");
    settle(f);
    assert_int_equal(enroll(f, token, &k, &out, &e), FERRY_OK);
    free(token);
    json_t *mqtt = json_object_get(out, "mqtt");
    assert_string_equal(json_string_value(json_object_get(mqtt, "username")), "node.default.n1");
    const char *password = json_string_value(json_object_get(mqtt, "password"));
    assert_non_null(password);
    assert_true(strlen(password) >= 40);
    flush_outbox(f);
    assert_string_equal(commands(f),
                        "createRole modifyRole createClient modifyClient enableClient | sync ");
    /* The password goes to the broker sealed in the outbox, and nowhere else in the store. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "grep -rqa '%s' %s", password, f->dir);
    assert_int_not_equal(system(cmd), 0);
    json_decref(out);
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);

    json_t *body = json_pack("{s:{s:s}}", "labels", "zone", "b");
    assert_int_equal(ferry_bridge_node_update(f->b, "default", "n1", body, &out, &e), FERRY_OK);
    json_decref(body);
    json_decref(out);
    flush_outbox(f);
    assert_string_equal(commands(f), "createRole modifyRole createClient | sync ");
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);

    assert_int_equal(ferry_bridge_node_delete(f->b, "default", "n1", &out, &e), FERRY_OK);
    json_decref(out);
    flush_outbox(f);
    assert_string_equal(commands(f), "| sync deleteClient deleteRole ");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enroll_records_keys_once, setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_believes_only_the_enrolled_node, setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_broker_credentials, setup_dynsec,
                                        bridge_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
