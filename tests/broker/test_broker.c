/* Unit tests of broker-bridge/broker.c and broker_dynsec.c: credential names, the policy of a node
 * and of a debug reader, the dynamic-security command lists a grant, a relabel and a revoke emit,
 * argument checks (nothing emitted), errors from emit, and allocation failures. What mosquitto
 * does with the commands is tests/broker/test_broker_mosquitto.c's part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "broker.h"
#include "ferry/topics.h"

#define CONTROL "$CONTROL/dynamic-security/v1"

/* What emit was given: [{"topic", "json"}] with the payload parsed. */
typedef struct {
    json_t *msgs;
    ferry_err fail_with; /* returned by emit when not FERRY_OK */
    size_t calls;
} sink;

static ferry_err record(void *ctx, const char *topic, const unsigned char *payload, size_t len) {
    sink *s = ctx;
    json_error_t je;
    s->calls++;
    if (s->fail_with != FERRY_OK)
        return s->fail_with;
    json_t *doc = json_loadb((const char *)payload, len, 0, &je);
    assert_non_null(doc);
    json_array_append_new(s->msgs, json_pack("{s:s, s:o}", "topic", topic, "json", doc));
    return FERRY_OK;
}

static int setup(void **state) {
    sink *s = calloc(1, sizeof(*s));
    s->msgs = json_array();
    *state = s;
    return 0;
}

static int teardown(void **state) {
    sink *s = *state;
    json_decref(s->msgs);
    free(s);
    return 0;
}

static ferry_broker *dynsec(void) {
    ferry_broker *b = NULL;
    assert_int_equal(ferry_broker_create("mosquitto-dynsec", &b), FERRY_OK);
    assert_string_equal(ferry_broker_kind(b), "mosquitto-dynsec");
    return b;
}

/* The commands of the only message emitted, after checking its topic. */
static json_t *only_commands(const sink *s) {
    assert_int_equal(json_array_size(s->msgs), 1);
    json_t *m = json_array_get(s->msgs, 0);
    assert_string_equal(json_string_value(json_object_get(m, "topic")), CONTROL);
    json_t *cmds = json_object_get(json_object_get(m, "json"), "commands");
    assert_true(json_is_array(cmds));
    return cmds;
}

static void assert_commands(json_t *cmds, const char *const *names, size_t n) {
    assert_int_equal(json_array_size(cmds), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, i), "command")),
                            names[i]);
}

/* The ACL of type on topic in acls, or NULL. */
static json_t *find_acl(json_t *acls, const char *type, const char *topic) {
    size_t i;
    json_t *a;
    json_array_foreach(acls, i, a) {
        if (strcmp(json_string_value(json_object_get(a, "acltype")), type) == 0 &&
            strcmp(json_string_value(json_object_get(a, "topic")), topic) == 0)
            return a;
    }
    return NULL;
}

static void assert_allowed(json_t *acls, const char *type, const char *topic) {
    json_t *a = find_acl(acls, type, topic);
    if (a == NULL)
        fail_msg("no %s ACL for %s", type, topic);
    assert_true(json_is_true(json_object_get(a, "allow")));
    assert_int_equal(json_integer_value(json_object_get(a, "priority")), 0);
}

/* ---- names ----------------------------------------------------------------------------------- */

static void test_names(void **state) {
    char a[FERRY_BROKER_NAME_MAX], b[FERRY_BROKER_NAME_MAX];
    (void)state;
    assert_int_equal(ferry_broker_node_username("default", "edge-1", a, sizeof(a)), FERRY_OK);
    assert_string_equal(a, "node.default.edge-1");
    /* The names that a dash-joined id would confuse stay apart. */
    assert_int_equal(ferry_broker_node_username("a-b", "c", a, sizeof(a)), FERRY_OK);
    assert_int_equal(ferry_broker_node_username("a", "b-c", b, sizeof(b)), FERRY_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(ferry_broker_debug_username("alice", a, sizeof(a)), FERRY_OK);
    assert_string_equal(a, "debug.alice");

    const char *bad[] = {
        "",  "A", "a.b", "a/b",
        "+", "#", "-a",  "x234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ferry_broker_node_username(bad[i], "n", a, sizeof(a)), FERRY_EINVAL);
        assert_string_equal(a, "");
        assert_int_equal(ferry_broker_node_username("ns", bad[i], a, sizeof(a)), FERRY_EINVAL);
        assert_int_equal(ferry_broker_debug_username(bad[i], a, sizeof(a)), FERRY_EINVAL);
    }
    assert_int_equal(ferry_broker_node_username(NULL, "n", a, sizeof(a)), FERRY_EINVAL);
    assert_int_equal(ferry_broker_node_username("ns", "node", a, 8), FERRY_ETOOBIG);
    assert_string_equal(a, "");
}

/* ---- policies -------------------------------------------------------------------------------- */

static void test_node_policy(void **state) {
    ferry_broker_policy p;
    char want[FERRY_TOPIC_MAX];
    (void)state;
    json_t *labels = json_pack("{s:s, s:s}", "region", "east", "example.com/zone", "a.b");
    assert_int_equal(ferry_broker_node_policy("default", "edge-1", labels, &p), FERRY_OK);
    assert_string_equal(p.username, "node.default.edge-1");
    assert_string_equal(p.client_id, "node.default.edge-1");
    const struct {
        ferry_broker_access access;
        const char *filter;
    } rules[] = {
        {FERRY_BROKER_PUBLISH, "ferry/default/nodes/edge-1/hello"},
        {FERRY_BROKER_PUBLISH, "ferry/default/nodes/edge-1/online"},
        {FERRY_BROKER_PUBLISH, "ferry/default/nodes/edge-1/status/+"},
        {FERRY_BROKER_PUBLISH, "ferry/default/nodes/edge-1/stats"},
        {FERRY_BROKER_PUBLISH, "ferry/default/nodes/edge-1/logs/reply"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/default/nodes/edge-1/sync"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/default/nodes/edge-1/secrets/+"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/default/nodes/edge-1/logs/request"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/default/all/apps/+"},
        /* Keys in byte order; '/' percent-encoded as the bridge publishes it. */
        {FERRY_BROKER_SUBSCRIBE, "ferry/default/labels/example.com%2Fzone=a.b/apps/+"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/default/labels/region=east/apps/+"},
    };
    assert_int_equal(p.nrules, sizeof(rules) / sizeof(rules[0]));
    for (size_t i = 0; i < p.nrules; i++) {
        assert_int_equal(p.rules[i].access, rules[i].access);
        assert_string_equal(p.rules[i].filter, rules[i].filter);
    }
    /* The same spelling as the topic builders the bridge and the node use. */
    ferry_topic t = {.kind = FERRY_TOPIC_NODE_HELLO, .ns = "default", .node = "edge-1"};
    assert_int_equal(ferry_topic_build(&t, want, sizeof(want)), FERRY_OK);
    assert_string_equal(p.rules[0].filter, want);
    t.kind = FERRY_TOPIC_NODE_ONLINE;
    assert_int_equal(ferry_topic_build(&t, want, sizeof(want)), FERRY_OK);
    assert_string_equal(p.rules[1].filter, want);
    t.kind = FERRY_TOPIC_NODE_STATS;
    assert_int_equal(ferry_topic_build(&t, want, sizeof(want)), FERRY_OK);
    assert_string_equal(p.rules[3].filter, want);
    t.kind = FERRY_TOPIC_LOGS_REPLY;
    assert_int_equal(ferry_topic_build(&t, want, sizeof(want)), FERRY_OK);
    assert_string_equal(p.rules[4].filter, want);
    t.kind = FERRY_TOPIC_NODE_SYNC;
    assert_int_equal(ferry_topic_build(&t, want, sizeof(want)), FERRY_OK);
    assert_string_equal(p.rules[5].filter, want);
    t.kind = FERRY_TOPIC_LOGS_REQUEST;
    assert_int_equal(ferry_topic_build(&t, want, sizeof(want)), FERRY_OK);
    assert_string_equal(p.rules[7].filter, want);
    assert_int_equal(
        ferry_topic_label_filter("default", "example.com/zone", "a.b", want, sizeof(want)),
        FERRY_OK);
    assert_string_equal(p.rules[9].filter, want);
    ferry_broker_policy_free(&p);
    assert_null(p.rules);
    assert_int_equal(p.nrules, 0);
    ferry_broker_policy_free(&p); /* emptied: again is fine */
    json_decref(labels);

    /* No labels: the fixed rules only. */
    assert_int_equal(ferry_broker_node_policy("default", "edge-1", NULL, &p), FERRY_OK);
    assert_int_equal(p.nrules, 9);
    ferry_broker_policy_free(&p);
}

static void test_node_policy_refuses(void **state) {
    ferry_broker_policy p;
    (void)state;
    json_t *bad[] = {json_pack("{s:i}", "region", 1), json_pack("{s:s}", "bad key!", "x"),
                     json_pack("{s:s}", "k", "bad value!"), json_array()};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ferry_broker_node_policy("default", "edge-1", bad[i], &p), FERRY_EINVAL);
        assert_null(p.rules);
        assert_string_equal(p.username, "");
        json_decref(bad[i]);
    }
    assert_int_equal(ferry_broker_node_policy("Default", "edge-1", NULL, &p), FERRY_EINVAL);
    assert_int_equal(ferry_broker_node_policy("default", "edge.1", NULL, &p), FERRY_EINVAL);
    assert_int_equal(ferry_broker_node_policy("default", "edge-1", NULL, NULL), FERRY_EINVAL);

    /* As many labels as a node may have (64) fit; one more is refused. */
    json_t *many = json_object();
    char key[16];
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        json_object_set_new(many, key, json_string("v"));
    }
    assert_int_equal(ferry_broker_node_policy("default", "edge-1", many, &p), FERRY_OK);
    assert_int_equal(p.nrules, 9 + 64);
    ferry_broker_policy_free(&p);
    json_object_set_new(many, "k64", json_string("v"));
    assert_int_equal(ferry_broker_node_policy("default", "edge-1", many, &p), FERRY_EINVAL);
    json_decref(many);
}

static void test_debug_policy(void **state) {
    ferry_broker_policy p;
    (void)state;
    assert_int_equal(ferry_broker_debug_policy("alice", &p), FERRY_OK);
    assert_string_equal(p.username, "debug.alice");
    assert_string_equal(p.client_id, "debug.alice");
    assert_int_equal(p.nrules, 1);
    assert_int_equal(p.rules[0].access, FERRY_BROKER_SUBSCRIBE);
    assert_string_equal(p.rules[0].filter, "ferry/#");
    ferry_broker_policy_free(&p);
    assert_int_equal(ferry_broker_debug_policy("Alice", &p), FERRY_EINVAL);
}

/* ---- dynsec command lists -------------------------------------------------------------------- */

static void test_grant_with_password(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    json_t *labels = json_pack("{s:s}", "region", "east");
    assert_int_equal(ferry_broker_node_grant(b, "default", "edge-1", "s3cret!", labels, record, s),
                     FERRY_OK);
    json_t *cmds = only_commands(s);
    const char *names[] = {"createRole", "modifyRole", "createClient", "modifyClient",
                           "enableClient"};
    assert_commands(cmds, names, 5);
    const char *u = "node.default.edge-1";
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 0), "rolename")), u);

    /* The role's ACLs: the policy's rules, then denials of everything else. */
    json_t *acls = json_object_get(json_array_get(cmds, 1), "acls");
    assert_int_equal(json_array_size(acls), 5 + 2 * 5 + 3);
    assert_allowed(acls, "publishClientSend", "ferry/default/nodes/edge-1/hello");
    assert_allowed(acls, "publishClientSend", "ferry/default/nodes/edge-1/online");
    assert_allowed(acls, "publishClientSend", "ferry/default/nodes/edge-1/status/+");
    assert_allowed(acls, "publishClientSend", "ferry/default/nodes/edge-1/stats");
    assert_allowed(acls, "publishClientSend", "ferry/default/nodes/edge-1/logs/reply");
    const char *subs[] = {"ferry/default/nodes/edge-1/sync", "ferry/default/nodes/edge-1/secrets/+",
                          "ferry/default/nodes/edge-1/logs/request", "ferry/default/all/apps/+",
                          "ferry/default/labels/region=east/apps/+"};
    for (size_t i = 0; i < 5; i++) {
        assert_allowed(acls, "subscribePattern", subs[i]);
        assert_allowed(acls, "publishClientReceive", subs[i]);
    }
    assert_null(find_acl(acls, "publishClientSend", "ferry/default/nodes/edge-1/sync"));
    const char *denied[] = {"publishClientSend", "publishClientReceive", "subscribePattern"};
    for (size_t i = 0; i < 3; i++) {
        json_t *a = json_array_get(acls, json_array_size(acls) - 3 + i);
        assert_string_equal(json_string_value(json_object_get(a, "acltype")), denied[i]);
        assert_string_equal(json_string_value(json_object_get(a, "topic")), "#");
        assert_true(json_is_false(json_object_get(a, "allow")));
        assert_int_equal(json_integer_value(json_object_get(a, "priority")), -1);
    }

    /* createClient and modifyClient carry the same client: password, bound id, its one role. */
    for (size_t i = 2; i <= 3; i++) {
        json_t *c = json_array_get(cmds, i);
        assert_string_equal(json_string_value(json_object_get(c, "username")), u);
        assert_string_equal(json_string_value(json_object_get(c, "password")), "s3cret!");
        assert_string_equal(json_string_value(json_object_get(c, "clientid")), u);
        json_t *roles = json_object_get(c, "roles");
        assert_int_equal(json_array_size(roles), 1);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(roles, 0), "rolename")), u);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 4), "username")), u);
    json_decref(labels);
    ferry_broker_destroy(b);
}

static void test_relabel_keeps_credential(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    json_t *labels = json_pack("{s:s}", "region", "west");
    assert_int_equal(ferry_broker_node_grant(b, "default", "edge-1", NULL, labels, record, s),
                     FERRY_OK);
    json_t *cmds = only_commands(s);
    /* No modifyClient: it would disconnect the node. createClient only acts on a new node. */
    const char *names[] = {"createRole", "modifyRole", "createClient"};
    assert_commands(cmds, names, 3);
    json_t *c = json_array_get(cmds, 2);
    assert_null(json_object_get(c, "password"));
    assert_string_equal(json_string_value(json_object_get(c, "clientid")), "node.default.edge-1");
    json_t *acls = json_object_get(json_array_get(cmds, 1), "acls");
    assert_allowed(acls, "subscribePattern", "ferry/default/labels/region=west/apps/+");
    assert_null(find_acl(acls, "subscribePattern", "ferry/default/labels/region=east/apps/+"));
    json_decref(labels);
    ferry_broker_destroy(b);
}

static void test_revoke(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    assert_int_equal(ferry_broker_node_revoke(b, "default", "edge-1", record, s), FERRY_OK);
    json_t *cmds = only_commands(s);
    const char *names[] = {"deleteClient", "deleteRole"};
    assert_commands(cmds, names, 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 0), "username")),
                        "node.default.edge-1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 1), "rolename")),
                        "node.default.edge-1");
    ferry_broker_destroy(b);
}

static void test_debug_grant_and_revoke(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    assert_int_equal(ferry_broker_debug_grant(b, "alice", "pw", record, s), FERRY_OK);
    json_t *cmds = only_commands(s);
    json_t *acls = json_object_get(json_array_get(cmds, 1), "acls");
    assert_allowed(acls, "subscribePattern", "ferry/#");
    assert_allowed(acls, "publishClientReceive", "ferry/#");
    size_t i;
    json_t *a;
    json_array_foreach(acls, i, a) {
        if (strcmp(json_string_value(json_object_get(a, "acltype")), "publishClientSend") == 0)
            assert_true(json_is_false(json_object_get(a, "allow")));
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 2), "clientid")),
                        "debug.alice");
    json_array_clear(s->msgs);
    assert_int_equal(ferry_broker_debug_revoke(b, "alice", record, s), FERRY_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(only_commands(s), 0), "username")),
        "debug.alice");
    /* A debug credential needs a password. */
    assert_int_equal(ferry_broker_debug_grant(b, "alice", NULL, record, s), FERRY_EINVAL);
    ferry_broker_destroy(b);
}

static void test_bad_arguments_emit_nothing(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    char longpw[FERRY_BROKER_PASSWORD_MAX + 2];
    memset(longpw, 'p', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    const char *badpw[] = {"", "with space", "tab\t", "caf\xc3\xa9", longpw};
    for (size_t i = 0; i < sizeof(badpw) / sizeof(badpw[0]); i++) {
        assert_int_equal(ferry_broker_node_grant(b, "default", "n", badpw[i], NULL, record, s),
                         FERRY_EINVAL);
        assert_int_equal(ferry_broker_debug_grant(b, "alice", badpw[i], record, s), FERRY_EINVAL);
    }
    longpw[FERRY_BROKER_PASSWORD_MAX] = '\0'; /* exactly the most */
    json_t *badlabels = json_pack("{s:b}", "gpu", 1);
    assert_int_equal(ferry_broker_node_grant(b, "default", "n", "pw", badlabels, record, s),
                     FERRY_EINVAL);
    assert_int_equal(ferry_broker_node_grant(b, "default", "n.x", "pw", NULL, record, s),
                     FERRY_EINVAL);
    assert_int_equal(ferry_broker_node_grant(b, "default", "n", "pw", NULL, NULL, s), FERRY_EINVAL);
    assert_int_equal(ferry_broker_node_grant(NULL, "default", "n", "pw", NULL, record, s),
                     FERRY_EINVAL);
    assert_int_equal(ferry_broker_node_revoke(b, "default", "N", record, s), FERRY_EINVAL);
    assert_int_equal(ferry_broker_debug_revoke(b, "", record, s), FERRY_EINVAL);
    assert_int_equal(s->calls, 0);
    assert_int_equal(ferry_broker_node_grant(b, "default", "n", longpw, NULL, record, s), FERRY_OK);
    assert_int_equal(s->calls, 1);
    json_decref(badlabels);
    ferry_broker_destroy(b);
}

static void test_emit_error_is_returned(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    s->fail_with = FERRY_ESTORE;
    assert_int_equal(ferry_broker_node_grant(b, "default", "n", "pw", NULL, record, s),
                     FERRY_ESTORE);
    assert_int_equal(ferry_broker_node_revoke(b, "default", "n", record, s), FERRY_ESTORE);
    assert_int_equal(s->calls, 2);
    ferry_broker_destroy(b);
}

/* The largest node there can be (64 labels with the longest keys and values) fits in one
 * message, far below the broker's payload cap. */
static void test_largest_node_fits(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    json_t *labels = json_object();
    char key[320], value[64];
    /* A 253-character prefix of four labels, '/', and a 63-character name. */
    memset(key, 'p', 253);
    key[63] = key[127] = key[191] = '.';
    key[253] = '/';
    memset(value, 'v', 63);
    value[63] = '\0';
    for (int i = 0; i < 64; i++) {
        memset(key + 254, 'n', 63);
        snprintf(key + 254, 3, "%02d", i);
        key[256] = 'n';
        key[317] = '\0';
        json_object_set_new(labels, key, json_string(value));
    }
    assert_int_equal(json_object_size(labels), 64);
    const char *ns = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";
    assert_int_equal(ferry_broker_node_grant(b, ns, ns, "pw", labels, record, s), FERRY_OK);
    json_t *acls = json_object_get(json_array_get(only_commands(s), 1), "acls");
    assert_int_equal(json_array_size(acls), 5 + 2 * (4 + 64) + 3);
    size_t len =
        json_dumpb(json_object_get(json_array_get(s->msgs, 0), "json"), NULL, 0, JSON_COMPACT);
    assert_true(len > 65536 && len <= FERRY_BROKER_CONTROL_MAX);
    json_decref(labels);
    ferry_broker_destroy(b);
}

/* The bytes depend on the labels, not on the order they were inserted in. */
static void test_same_labels_same_bytes(void **state) {
    sink *s = *state;
    ferry_broker *b = dynsec();
    json_t *l1 = json_pack("{s:s, s:s, s:s}", "a", "1", "zone", "x", "m/k", "2");
    json_t *l2 = json_pack("{s:s, s:s, s:s}", "zone", "x", "m/k", "2", "a", "1");
    assert_int_equal(ferry_broker_node_grant(b, "ns", "n", NULL, l1, record, s), FERRY_OK);
    assert_int_equal(ferry_broker_node_grant(b, "ns", "n", NULL, l2, record, s), FERRY_OK);
    assert_int_equal(json_array_size(s->msgs), 2);
    assert_true(json_equal(json_array_get(s->msgs, 0), json_array_get(s->msgs, 1)));
    json_decref(l1);
    json_decref(l2);
    ferry_broker_destroy(b);
}

static void test_kinds(void **state) {
    sink *s = *state;
    ferry_broker *b = NULL;
    assert_int_equal(ferry_broker_create("emqx", &b), FERRY_EINVAL);
    assert_null(b);
    assert_int_equal(ferry_broker_create(NULL, &b), FERRY_EINVAL);
    /* "none": a broker that lets everyone do everything needs no messages. */
    assert_int_equal(ferry_broker_create("none", &b), FERRY_OK);
    assert_string_equal(ferry_broker_kind(b), "none");
    assert_int_equal(ferry_broker_node_grant(b, "default", "n", "pw", NULL, record, s), FERRY_OK);
    assert_int_equal(ferry_broker_node_revoke(b, "default", "n", record, s), FERRY_OK);
    assert_int_equal(ferry_broker_debug_grant(b, "alice", "pw", record, s), FERRY_OK);
    assert_int_equal(s->calls, 0);
    /* ... but the arguments are checked all the same. */
    assert_int_equal(ferry_broker_node_grant(b, "default", "N", "pw", NULL, record, s),
                     FERRY_EINVAL);
    ferry_broker_destroy(b);
    ferry_broker_destroy(NULL);
}

/* Counts the messages without allocating through Ferry's wrappers. */
static ferry_err count(void *ctx, const char *topic, const unsigned char *payload, size_t len) {
    (void)topic, (void)payload, (void)len;
    ++*(size_t *)ctx;
    return FERRY_OK;
}

/* Every allocation failure gives FERRY_ENOMEM, emits nothing, and leaks nothing (ASan). */
static void test_allocation_failures(void **state) {
    ferry_broker *b = dynsec();
    json_t *labels = json_pack("{s:s, s:s}", "region", "east", "example.com/zone", "a");
    long n;
    (void)state;
    ferry_alloc_install_json();
    for (n = 1; n < 100000; n++) {
        size_t emitted = 0;
        ferry_alloc_fail_after(n);
        ferry_err rc =
            ferry_broker_node_grant(b, "default", "edge-1", "pw", labels, count, &emitted);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK) {
            assert_int_equal(emitted, 1);
            break;
        }
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_int_equal(emitted, 0);
    }
    assert_true(n > 10 && n < 100000);
    for (n = 1; n < 100000; n++) {
        size_t emitted = 0;
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_broker_node_revoke(b, "default", "edge-1", count, &emitted);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK)
            break;
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_int_equal(emitted, 0);
    }
    assert_true(n > 1 && n < 100000);
    json_decref(labels);
    ferry_broker_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_node_policy),
        cmocka_unit_test(test_node_policy_refuses),
        cmocka_unit_test(test_debug_policy),
        cmocka_unit_test_setup_teardown(test_grant_with_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relabel_keeps_credential, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_debug_grant_and_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments_emit_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_error_is_returned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_largest_node_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_labels_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
