/* Unit tests of MQTT topic building and parsing (schema/topics.c). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "ferry/topics.h"

static ferry_topic topic(ferry_topic_kind kind, const char *ns, const char *node, const char *app,
                         const char *key, const char *value) {
    ferry_topic t;
    memset(&t, 0, sizeof(t));
    t.kind = kind;
    snprintf(t.ns, sizeof(t.ns), "%s", ns);
    snprintf(t.node, sizeof(t.node), "%s", node);
    snprintf(t.app, sizeof(t.app), "%s", app);
    snprintf(t.label_key, sizeof(t.label_key), "%s", key);
    snprintf(t.label_value, sizeof(t.label_value), "%s", value);
    return t;
}

static ferry_err parse(const char *s, ferry_topic *out) {
    return ferry_topic_parse(s, strlen(s), out);
}

static void check_roundtrip(const ferry_topic *t, const char *want) {
    char buf[FERRY_TOPIC_MAX];
    ferry_topic back;
    assert_int_equal(ferry_topic_build(t, buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, want);
    assert_int_equal(parse(buf, &back), FERRY_OK);
    assert_int_equal(back.kind, t->kind);
    assert_string_equal(back.ns, t->ns);
    assert_string_equal(back.node, t->node);
    assert_string_equal(back.app, t->app);
    assert_string_equal(back.label_key, t->label_key);
    assert_string_equal(back.label_value, t->label_value);
}

static void test_build_and_parse_every_shape(void **state) {
    (void)state;
    ferry_topic t = topic(FERRY_TOPIC_APP_LABEL, "default", "", "web", "zone", "eu-1");
    check_roundtrip(&t, "ferry/default/labels/zone=eu-1/apps/web");
    t = topic(FERRY_TOPIC_APP_ALL, "default", "", "web", "", "");
    check_roundtrip(&t, "ferry/default/all/apps/web");
    t = topic(FERRY_TOPIC_NODE_SYNC, "ns1", "edge-1", "", "", "");
    check_roundtrip(&t, "ferry/ns1/nodes/edge-1/sync");
    t = topic(FERRY_TOPIC_NODE_HELLO, "ns1", "edge-1", "", "", "");
    check_roundtrip(&t, "ferry/ns1/nodes/edge-1/hello");
    t = topic(FERRY_TOPIC_NODE_STATUS, "ns1", "edge-1", "web", "", "");
    check_roundtrip(&t, "ferry/ns1/nodes/edge-1/status/web");
    t = topic(FERRY_TOPIC_NODE_ONLINE, "ns1", "edge-1", "", "", "");
    check_roundtrip(&t, "ferry/ns1/nodes/edge-1/online");
    t = topic(FERRY_TOPIC_NODE_STATS, "ns1", "edge-1", "", "", "");
    check_roundtrip(&t, "ferry/ns1/nodes/edge-1/stats");
}

/* The bridge's subscription to node.stats covers exactly the topics nodes build. */
static void test_stats_topic_and_filter(void **state) {
    (void)state;
    char buf[FERRY_TOPIC_MAX];
    ferry_topic t = topic(FERRY_TOPIC_NODE_STATS, "default", "east", "", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry/default/nodes/east/stats");
    assert_string_equal(FERRY_TOPIC_STATS_FILTER, "ferry/+/nodes/+/stats");
    t = topic(FERRY_TOPIC_NODE_STATS, "default", "", "", "", ""); /* the node is required */
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_NODE_STATS, "default", "Bad", "", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    /* an app given with it is not part of the topic */
    t = topic(FERRY_TOPIC_NODE_STATS, "default", "east", "web", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry/default/nodes/east/stats");
    ferry_topic back;
    assert_int_equal(parse("ferry/default/nodes/east/stats", &back), FERRY_OK);
    assert_int_equal(back.kind, FERRY_TOPIC_NODE_STATS);
    assert_string_equal(back.app, "");
}

static void test_label_encoding(void **state) {
    (void)state;
    ferry_topic t = topic(FERRY_TOPIC_APP_LABEL, "default", "", "web", "example.com/zone", "a_b.C");
    check_roundtrip(&t, "ferry/default/labels/example.com%2Fzone=a_b.C/apps/web");
    t = topic(FERRY_TOPIC_APP_LABEL, "default", "", "web", "gpu", ""); /* empty value is a label */
    check_roundtrip(&t, "ferry/default/labels/gpu=/apps/web");
    char buf[FERRY_TOPIC_MAX];
    assert_int_equal(ferry_topic_label_filter("default", "k8s.io/arch", "x86_64", buf, sizeof(buf)),
                     FERRY_OK);
    assert_string_equal(buf, "ferry/default/labels/k8s.io%2Farch=x86_64/apps/+");
    assert_int_equal(ferry_topic_all_filter("default", buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry/default/all/apps/+");
    /* the longest key there is still fits */
    char key[FERRY_LABEL_KEY_MAX];
    memset(key, 'a', 253);
    key[253] = '/';
    memset(key + 254, 'b', 63);
    key[317] = '\0';
    t = topic(FERRY_TOPIC_APP_LABEL, "default", "", "web", key, "v");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_OK);
    ferry_topic back;
    assert_int_equal(parse(buf, &back), FERRY_OK);
    assert_string_equal(back.label_key, key);
}

static void test_build_errors(void **state) {
    (void)state;
    char buf[FERRY_TOPIC_MAX];
    char small[20];
    ferry_topic t = topic(FERRY_TOPIC_APP_ALL, "Default", "", "web", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_APP_ALL, "default", "", "", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_NODE_SYNC, "default", "-x", "", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_APP_LABEL, "default", "", "web", "", "v");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_APP_LABEL, "default", "", "web", "bad key", "v");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_APP_LABEL, "default", "", "web", "k", "-bad");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_NODE_STATUS, "default", "n", "", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic((ferry_topic_kind)99, "default", "n", "a", "", "");
    assert_int_equal(ferry_topic_build(&t, buf, sizeof(buf)), FERRY_EINVAL);
    t = topic(FERRY_TOPIC_NODE_SYNC, "default", "edge-1", "", "", "");
    assert_int_equal(ferry_topic_build(&t, small, sizeof(small)), FERRY_ETOOBIG);
    assert_string_equal(small, "");
    assert_int_equal(ferry_topic_build(&t, buf, 31), FERRY_ETOOBIG); /* no room for the NUL */
    assert_int_equal(ferry_topic_build(&t, buf, 32), FERRY_OK);
    assert_int_equal(ferry_topic_all_filter("default", small, sizeof(small)), FERRY_ETOOBIG);
    assert_int_equal(ferry_topic_label_filter("default", "k", "v", small, sizeof(small)),
                     FERRY_ETOOBIG);
    assert_int_equal(ferry_topic_label_filter("default", "k/", "v", buf, sizeof(buf)),
                     FERRY_EINVAL);
}

static void test_parse_errors(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "ferry",
        "ferry/default",
        "ferry/default/all/apps",
        "ferry/default/all/apps/",
        "ferry/default/all/apps/web/",
        "/ferry/default/all/apps/web",
        "ferry//all/apps/web",
        "Ferry/default/all/apps/web",
        "ferry/Default/all/apps/web",
        "ferry/default/all/apps/web/x",
        "ferry/default/all/apps/+",
        "ferry/default/all/apps/#",
        "ferry/default/all/app/web",
        "ferry/default/everyone/apps/web",
        "ferry/default/labels/zone/apps/web",
        "ferry/default/labels/=a/apps/web",
        "ferry/default/labels/zone=a/apps",
        "ferry/default/labels/zone=a/app/web",
        "ferry/default/labels/zone=a/apps/web/x",
        "ferry/default/labels/zone=a=b/apps/web",
        "ferry/default/labels/zo%6Ee=a/apps/web",             /* %6E is 'n': not canonical */
        "ferry/default/labels/example.com%2fzone=a/apps/web", /* lower-case hex */
        "ferry/default/labels/example.com%2/apps/web",
        "ferry/default/labels/example.com%ZZzone=a/apps/web",
        "ferry/default/labels/zone%00=a/apps/web",
        "ferry/default/labels/zo ne=a/apps/web",
        "ferry/default/labels/zone=-a/apps/web",
        "ferry/default/labels/a%2Fb%2Fc=v/apps/web", /* two slashes in a key */
        "ferry/default/nodes/edge-1",
        "ferry/default/nodes/edge-1/status",
        "ferry/default/nodes/edge-1/status/web/x",
        "ferry/default/nodes/edge-1/bye",
        "ferry/default/nodes/edge-1/sync/x",
        "ferry/default/nodes/EDGE/sync",
        "ferry/default/nodes/edge_1/sync",
        "ferry/default/nodes/edge-1/hello/",
        "ferry/default/nodes/edge-1/stats/web",
        "ferry/default/nodes/edge-1/stats/",
        "ferry/default/nodes/+/stats",
        "ferry/default/nodes/edge-1/Stats",
        "ferry/default/nodes/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/sync",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ferry_topic t;
        if (parse(bad[i], &t) != FERRY_EFORMAT)
            fail_msg("accepted bad topic '%s'", bad[i]);
    }
    ferry_topic t;
    assert_int_equal(ferry_topic_parse("ferry/a/all/apps/web\0x", 22, &t), FERRY_EFORMAT);
    assert_int_equal(ferry_topic_parse(NULL, 3, &t), FERRY_EFORMAT);
    assert_int_equal(ferry_topic_parse("ferry/a/all/apps/web", 20, NULL), FERRY_EINVAL);
    /* not NUL-terminated: only len bytes are read */
    assert_int_equal(ferry_topic_parse("ferry/a/all/apps/webXYZ", 20, &t), FERRY_OK);
    assert_string_equal(t.app, "web");
}

static void test_parse_random(void **state) {
    (void)state;
    static const char alphabet[] = "ferry/default/labels/zone=%2F/apps/nodes/hello/syncAF09-.";
    char buf[96];
    srand(7);
    for (int i = 0; i < 200000; i++) {
        size_t n = (size_t)rand() % sizeof(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
        ferry_topic t;
        if (ferry_topic_parse(buf, n, &t) == FERRY_OK) {
            char again[FERRY_TOPIC_MAX];
            assert_int_equal(ferry_topic_build(&t, again, sizeof(again)), FERRY_OK);
            assert_int_equal(strlen(again), n);
            assert_memory_equal(again, buf, n);
        }
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_parse_every_shape),
        cmocka_unit_test(test_label_encoding),
        cmocka_unit_test(test_stats_topic_and_filter),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_random),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
