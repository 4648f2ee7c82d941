/* Unit tests of broker-bridge's core: what each API write stores and publishes, the answers to
 * node messages, and the outbox publisher (acks, reconnects, failures). */
#include "bridge_int.h"
#include "bridge_test.h"
#include "records.h"
#include "ferry/patch.h"
#include "ferry/topics.h"

typedef bridge_fixture fixture;

static void open_bridge(fixture *f) {
    assert_int_equal(bridge_fixture_open(f), FERRY_OK);
}

/* Strip the server's read-only members from an app view, leaving the stored spec. */
static void view_to_spec(json_t *view) {
    static const char *const read_only[] = {"namespace", "version", "createdAt", "updatedAt",
                                            "deployState"};
    for (size_t i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
        json_object_del(view, read_only[i]);
}

static json_int_t create_app(fixture *f, json_t *app) {
    json_t *out = NULL;
    ferry_detail e;
    ferry_err err = ferry_bridge_app_create(f->b, "default", app, &out, &e);
    if (err != FERRY_OK)
        fail_msg("create failed: %s (%s)", e.message, e.field);
    json_int_t v = json_integer_value(json_object_get(out, "version"));
    json_decref(out);
    json_decref(app);
    return v;
}

static json_int_t update_app(fixture *f, json_t *app) {
    json_t *out = NULL;
    ferry_detail e;
    const char *name = json_string_value(json_object_get(app, "name"));
    ferry_err err = ferry_bridge_app_update(f->b, "default", name, app, &out, &e);
    if (err != FERRY_OK)
        fail_msg("update failed: %s (%s)", e.message, e.field);
    json_int_t v = json_integer_value(json_object_get(out, "version"));
    json_decref(out);
    json_decref(app);
    return v;
}

static void node_op(fixture *f, const char *op, const char *name, const char *labels_json) {
    json_t *out = NULL, *body = NULL;
    ferry_detail e;
    ferry_err err;
    if (labels_json != NULL)
        body = json_pack("{s:s, s:o}", "name", name, "labels", J(labels_json));
    if (strcmp(op, "create") == 0)
        err = ferry_bridge_node_create(f->b, "default", body, &out, &e);
    else if (strcmp(op, "update") == 0)
        err = ferry_bridge_node_update(f->b, "default", name, body, &out, &e);
    else
        err = ferry_bridge_node_delete(f->b, "default", name, &out, &e);
    if (err != FERRY_OK)
        fail_msg("node %s failed: %s (%s)", op, e.message, e.field);
    json_decref(out);
    json_decref(body);
}

/* ---- app writes ---- */

static void test_create_publishes_put(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;

    json_t *app = sample_app("web", 1, 1, NULL, NULL);
    assert_int_equal(ferry_bridge_app_create(f->b, "default", app, &out, &e), FERRY_OK);
    json_decref(app);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(out, "namespace")), "default");
    assert_non_null(json_string_value(json_object_get(out, "createdAt")));
    assert_int_equal(json_integer_value(json_object_get(out, "replicas")), 1); /* normalized */
    assert_int_equal(f->rec.kicks, 1);
    assert_int_equal(f->rec.n, 0); /* nothing is published while disconnected */

    assert_int_equal(flush_outbox(f), 1);
    published *p = &f->rec.items[0];
    assert_string_equal(p->topic, "ferry/default/all/apps/web");
    assert_string_equal(msg_type(p), FERRY_MSG_APP_PUT);
    assert_int_equal(msg_int(p, "version"), 1);
    json_t *spec = json_deep_copy(out);
    view_to_spec(spec);
    assert_json_equal(json_object_get(p->msg, "spec"), spec);
    json_decref(spec);
    json_decref(out);

    /* With a selector the app goes on the label topic of its first matchLabels entry. */
    ack_all(f->b, &f->rec);
    create_app(f, sample_app("db", 1, 1, "zone", "eu-1"));
    assert_int_equal(flush_outbox(f), 1);
    assert_string_equal(f->rec.items[0].topic, "ferry/default/labels/zone=eu-1/apps/db");
    ack_all(f->b, &f->rec);
    create_app(f, sample_app("cache", 1, 1, "example.com/tier", "gold"));
    assert_int_equal(flush_outbox(f), 1);
    assert_string_equal(f->rec.items[0].topic,
                        "ferry/default/labels/example.com%2Ftier=gold/apps/cache");
}

static void test_rev_monotonic(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;

    json_int_t v1 = create_app(f, sample_app("web", 1, 1, NULL, NULL));
    json_int_t v2 = create_app(f, sample_app("api", 1, 1, NULL, NULL));
    json_int_t v3 = update_app(f, sample_app("web", 1, 2, NULL, NULL));
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "web", &out, &e), FERRY_OK);
    json_int_t v4 = json_integer_value(json_object_get(out, "version"));
    assert_true(json_is_true(json_object_get(out, "deleted")));
    json_decref(out);
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "web", &out, &e), FERRY_ENOTFOUND);
    json_int_t v5 = create_app(f, sample_app("web", 1, 1, NULL, NULL));
    assert_true(v1 < v2 && v2 < v3 && v3 < v4 && v4 < v5);
    assert_int_equal(v5, 5);
    assert_int_equal(rev_of(f->b), 5);

    /* The counter and the tombstone survive a restart. */
    ferry_bridge_close(f->b);
    open_bridge(f);
    assert_int_equal(rev_of(f->b), 5);
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "web", &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 5);
    json_decref(out);
}

static void test_update_sends_small_patch(void **state) {
    fixture *f = *state;
    json_t *old_app = sample_app("web", 10, 8, NULL, NULL);
    json_t *new_app = json_deep_copy(old_app);
    json_t *env = json_object_get(json_array_get(json_object_get(new_app, "services"), 4), "env");
    json_object_set_new(json_array_get(env, 3), "value", json_string("changed"));

    json_int_t base = create_app(f, json_incref(old_app));
    assert_int_equal(flush_outbox(f), 1);
    size_t put_len = f->rec.items[0].len;
    json_t *old_spec = json_incref(json_object_get(f->rec.items[0].msg, "spec"));
    ack_all(f->b, &f->rec);

    json_int_t version = update_app(f, json_incref(new_app));
    assert_int_equal(flush_outbox(f), 1);
    published *p = &f->rec.items[0];
    assert_string_equal(p->topic, "ferry/default/all/apps/web");
    assert_string_equal(msg_type(p), FERRY_MSG_APP_PATCH);
    assert_int_equal(msg_int(p, "base"), base);
    assert_int_equal(msg_int(p, "version"), version);
    if (p->len * 10 >= put_len)
        fail_msg("patch of %zu bytes is not much smaller than the %zu-byte put", p->len, put_len);

    /* Applying it to the old spec gives the new one. */
    json_t *patched = NULL, *out = NULL;
    ferry_detail e;
    assert_int_equal(ferry_patch_apply(old_spec, json_object_get(p->msg, "patch"), &patched),
                     FERRY_OK);
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "web", &out, &e), FERRY_OK);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(
                json_object_get(json_array_get(json_object_get(patched, "services"), 4), "env"), 3),
            "value")),
        "changed");
    view_to_spec(out);
    assert_json_equal(patched, out);
    json_decref(out);
    json_decref(patched);
    json_decref(old_spec);
    json_decref(old_app);
    json_decref(new_app);
}

/* Encoded size of msg (stolen). */
static size_t encoded_len(json_t *msg) {
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_proto_encode(msg, &buf, &len), FERRY_OK);
    ferry_free(buf);
    json_decref(msg);
    return len;
}

/* When the patch would not be smaller than the whole app, the whole app goes. */
static void test_update_small_app_sends_put(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    json_t *from = J("{\"name\":\"tiny\",\"services\":[{\"name\":\"a\",\"image\":\"x:1\"}]}");
    /* Nearly every member changes: the patch costs more than the whole (normalized) app. */
    json_t *to = J("{\"name\":\"t\",\"description\":\"d\",\"labels\":{\"k\":\"v\"},"
                   "\"workload\":\"job\",\"restartPolicy\":\"OnFailure\",\"backoffLimit\":1,"
                   "\"hostNetwork\":true,\"monitorQps\":true,"
                   "\"services\":[{\"name\":\"b\",\"image\":\"y:2\",\"args\":[\"-v\"],"
                   "\"command\":[\"/c\"],\"privileged\":true}]}");
    json_object_set_new(to, "name", json_string("tiny"));
    create_app(f, json_incref(from));
    settle(f);
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "tiny", &out, &e), FERRY_OK);
    json_int_t v = update_app(f, json_incref(to));
    assert_int_equal(flush_outbox(f), 1);
    json_t *spec = json_object_get(f->rec.items[0].msg, "spec");
    assert_non_null(spec);
    json_t *old_spec = json_deep_copy(out);
    view_to_spec(old_spec);
    size_t put = encoded_len(json_pack("{s:s, s:s, s:s, s:I, s:O}", "type", "app.put", "ns",
                                       "default", "app", "tiny", "version", v, "spec", spec));
    size_t patch = encoded_len(json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "type", "app.patch",
                                         "ns", "default", "app", "tiny", "base", v - 1, "version",
                                         v, "patch", ferry_patch_diff(old_spec, spec)));
    if (patch < put)
        fail_msg("test premise: the patch (%zu bytes) should not be smaller than the put (%zu)",
                 patch, put);
    assert_string_equal(msg_type(&f->rec.items[0]), FERRY_MSG_APP_PUT);
    json_decref(old_spec);
    json_decref(out);
    json_decref(from);
    json_decref(to);
}

static void test_delete_publishes_delete(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    create_app(f, sample_app("db", 1, 1, "zone", "eu-1"));
    settle(f);
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "db", &out, &e), FERRY_OK);
    json_t *want = J("{\"name\":\"db\",\"version\":2,\"deleted\":true}");
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);
    assert_int_equal(flush_outbox(f), 1);
    published *p = &f->rec.items[0];
    assert_string_equal(p->topic, "ferry/default/labels/zone=eu-1/apps/db");
    assert_string_equal(msg_type(p), FERRY_MSG_APP_DELETE);
    assert_int_equal(msg_int(p, "version"), 2);
    /* Deleting again, or a name never seen: 404, nothing published. */
    settle(f);
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "db", &out, &e), FERRY_ENOTFOUND);
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "nope", &out, &e), FERRY_ENOTFOUND);
    assert_int_equal(flush_outbox(f), 0);
    assert_int_equal(rev_of(f->b), 2);
}

static void test_selector_change_publishes_on_both_topics(void **state) {
    fixture *f = *state;
    create_app(f, sample_app("web", 1, 1, "zone", "eu-1"));
    settle(f);
    json_int_t v = update_app(f, sample_app("web", 1, 1, "zone", "us-2"));
    assert_int_equal(flush_outbox(f), 2);
    const char *topics[2] = {f->rec.items[0].topic, f->rec.items[1].topic};
    assert_string_equal(topics[0], "ferry/default/labels/zone=us-2/apps/web");
    assert_string_equal(topics[1], "ferry/default/labels/zone=eu-1/apps/web");
    for (int i = 0; i < 2; i++) {
        assert_string_equal(msg_type(&f->rec.items[i]), FERRY_MSG_APP_PUT);
        assert_int_equal(msg_int(&f->rec.items[i], "version"), v);
    }
    /* Dropping the selector moves it to the "all" topic. */
    ack_all(f->b, &f->rec);
    update_app(f, sample_app("web", 1, 1, NULL, NULL));
    assert_int_equal(flush_outbox(f), 2);
    assert_string_equal(f->rec.items[0].topic, "ferry/default/all/apps/web");
    assert_string_equal(f->rec.items[1].topic, "ferry/default/labels/zone=us-2/apps/web");
}

static void test_validation_errors_change_nothing(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    char text[sizeof(e.field) + 2 + sizeof(e.message)];

    create_app(f, sample_app("web", 1, 1, NULL, NULL));
    settle(f);
    uint64_t rev = rev_of(f->b);

    /* Invalid spec. */
    json_t *bad = sample_app("web2", 1, 1, NULL, NULL);
    json_object_set_new(bad, "replicas", json_integer(-3));
    assert_int_equal(ferry_bridge_app_create(f->b, "default", bad, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "replicas");
    assert_non_null(strstr(ferry_detail_text(&e, text, sizeof(text)), "replicas: "));
    assert_null(out);
    json_decref(bad);
    /* Bad namespace. */
    bad = sample_app("web3", 1, 1, NULL, NULL);
    assert_int_equal(ferry_bridge_app_create(f->b, "Not_A_Label", bad, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "namespace");
    json_decref(bad);
    /* Duplicate. */
    bad = sample_app("web", 1, 1, NULL, NULL);
    assert_int_equal(ferry_bridge_app_create(f->b, "default", bad, &out, &e), FERRY_EEXIST);
    assert_string_equal(e.message, "app 'web' already exists");
    assert_string_equal(e.field, "name");
    /* Update: name differs from the path, stale version, unknown app. */
    assert_int_equal(ferry_bridge_app_update(f->b, "default", "other", bad, &out, &e),
                     FERRY_EINVAL);
    assert_string_equal(e.field, "name");
    json_object_set_new(bad, "version", json_integer(7));
    assert_int_equal(ferry_bridge_app_update(f->b, "default", "web", bad, &out, &e),
                     FERRY_ECONFLICT);
    assert_string_equal(e.message, "version conflict: stored 1, body 7");
    json_object_set_new(bad, "name", json_string("ghost"));
    json_object_del(bad, "version");
    assert_int_equal(ferry_bridge_app_update(f->b, "default", "ghost", bad, &out, &e),
                     FERRY_ENOTFOUND);
    json_decref(bad);
    /* Nodes: invalid labels, duplicate, unknown. */
    bad = J("{\"name\":\"n1\",\"labels\":{\"bad key!\":\"x\"}}");
    assert_int_equal(ferry_bridge_node_create(f->b, "default", bad, &out, &e), FERRY_EINVAL);
    assert_non_null(strstr(e.field, "labels"));
    json_decref(bad);
    assert_int_equal(ferry_bridge_node_delete(f->b, "default", "n9", &out, &e), FERRY_ENOTFOUND);

    assert_int_equal(rev_of(f->b), rev);
    assert_int_equal(flush_outbox(f), 0);

    /* A matching version is accepted. */
    bad = sample_app("web", 1, 2, NULL, NULL);
    json_object_set_new(bad, "version", json_integer(1));
    assert_int_equal(update_app(f, bad), rev + 1);
}

/* ---- nodes and sync ---- */

static const published *only_sync(fixture *f, const char *node) {
    char topic[128];
    snprintf(topic, sizeof(topic), "ferry/default/nodes/%s/sync", node);
    assert_int_equal(f->rec.n, 1);
    assert_string_equal(f->rec.items[0].topic, topic);
    assert_string_equal(msg_type(&f->rec.items[0]), FERRY_MSG_NODE_SYNC);
    return &f->rec.items[0];
}

/* "name:version:spec|..." for the apps of a sync, spec being 1 when it carries one. */
static void assert_sync_apps(const published *p, const char *want) {
    char got[512] = "";
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(p->msg, "apps"), i, a) {
        char item[128];
        snprintf(item, sizeof(item), "%s%s:%lld:%d", i ? "|" : "",
                 json_string_value(json_object_get(a, "app")),
                 (long long)json_integer_value(json_object_get(a, "version")),
                 json_object_get(a, "spec") != NULL);
        strncat(got, item, sizeof(got) - strlen(got) - 1);
    }
    assert_string_equal(got, want);
}

static void test_node_sync_on_register_relabel_delete(void **state) {
    fixture *f = *state;
    create_app(f, sample_app("everywhere", 1, 1, NULL, NULL)); /* v1 */
    create_app(f, sample_app("eu", 1, 1, "zone", "eu-1"));     /* v2 */
    create_app(f, sample_app("us", 1, 1, "zone", "us-2"));     /* v3 */
    json_t *gone = sample_app("gone", 1, 1, NULL, NULL);
    create_app(f, gone); /* v4 */
    json_t *out = NULL;
    ferry_detail e;
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "gone", &out, &e), FERRY_OK); /* v5 */
    json_decref(out);
    settle(f);

    node_op(f, "create", "n1", "{\"zone\":\"eu-1\",\"arch\":\"arm64\"}");
    assert_int_equal(flush_outbox(f), 1);
    const published *p = only_sync(f, "n1");
    assert_int_equal(msg_int(p, "rev"), 6);
    assert_true(json_is_true(json_object_get(p->msg, "registered")));
    json_t *want = J("{\"zone\":\"eu-1\",\"arch\":\"arm64\"}");
    assert_json_equal(json_object_get(p->msg, "labels"), want);
    json_decref(want);
    assert_sync_apps(p, "eu:2:1|everywhere:1:1");
    ack_all(f->b, &f->rec);

    node_op(f, "update", "n1", "{\"zone\":\"us-2\"}");
    assert_int_equal(flush_outbox(f), 1);
    p = only_sync(f, "n1");
    assert_int_equal(msg_int(p, "rev"), 7);
    assert_sync_apps(p, "everywhere:1:1|us:3:1");
    ack_all(f->b, &f->rec);

    node_op(f, "delete", "n1", NULL);
    assert_int_equal(flush_outbox(f), 2); /* its sync, and its retained online state cleared */
    assert_string_equal(f->rec.items[1].topic, "ferry/default/nodes/n1/online");
    assert_int_equal(f->rec.items[1].len, 0);
    p = &f->rec.items[0];
    assert_string_equal(p->topic, "ferry/default/nodes/n1/sync");
    assert_int_equal(msg_int(p, "rev"), 8);
    assert_true(json_is_false(json_object_get(p->msg, "registered")));
    assert_int_equal(json_object_size(json_object_get(p->msg, "labels")), 0);
    assert_int_equal(json_array_size(json_object_get(p->msg, "apps")), 0);
    assert_int_equal(ferry_bridge_node_get(f->b, "default", "n1", &out, &e), FERRY_ENOTFOUND);
}

/* Build a message as a node would send it. */
static ferry_err node_says(fixture *f, const char *topic, json_t *msg) {
    return node_message(f->b, topic, msg, NULL);
}

static void test_hello_answered_with_sync(void **state) {
    fixture *f = *state;
    create_app(f, sample_app("a", 1, 1, NULL, NULL));     /* v1 */
    create_app(f, sample_app("b", 1, 1, "zone", "eu-1")); /* v2 */
    create_app(f, sample_app("c", 1, 1, "zone", "us-2")); /* v3, not for n1 */
    update_app(f, sample_app("a", 1, 3, NULL, NULL));     /* v4 */
    node_op(f, "create", "n1", "{\"zone\":\"eu-1\"}");    /* rev 5 */
    settle(f);

    /* The node holds b at its version and an old a: only a's spec is sent. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/hello",
                               J("{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"n1\","
                                 "\"reason\":\"connect\",\"apps\":{\"a\":1,\"b\":2,\"x\":9}}")),
                     FERRY_OK);
    const published *p = only_sync(f, "n1");
    assert_false(p->outbox); /* answered directly */
    assert_int_equal(msg_int(p, "rev"), 5);
    assert_sync_apps(p, "a:4:1|b:2:0");
    recorder_clear(&f->rec);

    /* Empty hello: every spec. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/hello",
                               J("{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"n1\","
                                 "\"reason\":\"gap\",\"apps\":{}}")),
                     FERRY_OK);
    assert_sync_apps(only_sync(f, "n1"), "a:4:1|b:2:1");
    recorder_clear(&f->rec);

    /* Unknown node: not registered, not believed: no answer (schema/PROTOCOL.md, "Trust"). */
    assert_int_equal(node_says(f, "ferry/default/nodes/stranger/hello",
                               J("{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":"
                                 "\"stranger\",\"reason\":\"connect\",\"apps\":{\"a\":4}}")),
                     FERRY_OK);
    assert_int_equal(f->rec.n, 0);

    /* A hello for another node than its topic says is dropped. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n2/hello",
                               J("{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"n1\","
                                 "\"reason\":\"connect\",\"apps\":{}}")),
                     FERRY_OK);
    assert_int_equal(f->rec.n, 0);
}

static json_t *status_msg(const char *node, const char *app, int version, const char *phase) {
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:[{s:s, s:s, s:i, s:i, s:s, "
                     "s:s}]}",
                     "type", "app.status", "ns", "default", "node", node, "app", app, "version",
                     version, "phase", phase, "message", "", "ts", (json_int_t)ferry_now_ms(),
                     "containers", "name", "s0", "state", "running", "restarts", 0, "exitCode", 0,
                     "error", "", "image", "registry.example.com/team/service:1.2.3");
}

static void test_status_and_online(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    create_app(f, sample_app("web", 1, 1, "zone", "eu-1")); /* v1 */
    node_op(f, "create", "n1", "{\"zone\":\"eu-1\"}");
    node_op(f, "create", "n2", "{\"zone\":\"eu-1\"}");
    node_op(f, "create", "n3", "{\"zone\":\"us-2\"}");
    update_app(f, sample_app("web", 1, 2, "zone", "eu-1")); /* v5 */

    assert_int_equal(
        node_says(f, "ferry/default/nodes/n1/status/web", status_msg("n1", "web", 5, "Running")),
        FERRY_OK);
    /* Older than what is stored: ignored. */
    assert_int_equal(
        node_says(f, "ferry/default/nodes/n1/status/web", status_msg("n1", "web", 1, "Failed")),
        FERRY_OK);
    /* Topic and payload disagree: dropped. */
    assert_int_equal(
        node_says(f, "ferry/default/nodes/n2/status/web", status_msg("n1", "web", 9, "Failed")),
        FERRY_OK);
    assert_int_equal(
        node_says(f, "ferry/default/nodes/n1/online",
                  json_pack("{s:s, s:s, s:s, s:b, s:I}", "type", "node.online", "ns", "default",
                            "node", "n1", "online", 1, "ts", (json_int_t)1)),
        FERRY_OK);
    /* A node no longer targeted still reports. */
    assert_int_equal(
        node_says(f, "ferry/default/nodes/n3/status/web", status_msg("n3", "web", 5, "Removed")),
        FERRY_OK);

    assert_int_equal(ferry_bridge_app_status(f->b, "default", "web", &out, &e), FERRY_OK);
    json_t *nodes = json_object_get(out, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    json_t *n1 = json_array_get(nodes, 0), *n2 = json_array_get(nodes, 1);
    assert_string_equal(json_string_value(json_object_get(n1, "node")), "n1");
    assert_string_equal(json_string_value(json_object_get(n1, "phase")), "Running");
    assert_int_equal(json_integer_value(json_object_get(n1, "version")), 5);
    assert_true(json_is_true(json_object_get(n1, "online")));
    assert_int_equal(json_array_size(json_object_get(n1, "containers")), 1);
    assert_string_equal(json_string_value(json_object_get(n2, "phase")), "Pending");
    assert_true(json_is_false(json_object_get(n2, "online")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 2), "phase")),
                        "Removed");
    json_t *want = J("{\"targeted\":2,\"applied\":1,\"running\":1,\"failed\":0,"
                     "\"succeeded\":0,\"scheduled\":0,\"notReporting\":1,"
                     "\"deployState\":\"Deploying\"}");
    assert_json_equal(json_object_get(out, "summary"), want);
    json_decref(out);

    /* Paged: the same summary over every node, a page of the nodes in name order, the total. */
    static const struct {
        long page, size;
        const char *nodes;
    } pages[] = {{1, 2, "n1,n2"}, {2, 2, "n3"}, {2, 1, "n2"}, {4, 1, ""}, {1, 0, ""}};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        ferry_bridge_page pg = {.page = pages[i].page, .page_size = pages[i].size};
        char names[64] = "";
        assert_int_equal(ferry_bridge_app_status_page(f->b, "default", "web", &pg, &out, &e),
                         FERRY_OK);
        assert_json_equal(json_object_get(out, "summary"), want);
        assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
        assert_int_equal(json_integer_value(json_object_get(out, "page")), pages[i].page);
        assert_int_equal(json_integer_value(json_object_get(out, "pageSize")), pages[i].size);
        size_t j;
        json_t *n;
        json_array_foreach(json_object_get(out, "nodes"), j, n) {
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", j > 0 ? "," : "",
                     json_string_value(json_object_get(n, "node")));
        }
        assert_string_equal(names, pages[i].nodes);
        json_decref(out);
    }
    json_decref(want);
    ferry_bridge_page bad_size = {.page = 1, .page_size = 1001}, bad_page = {.page = 0};
    assert_int_equal(ferry_bridge_app_status_page(f->b, "default", "web", &bad_size, &out, &e),
                     FERRY_EINVAL);
    assert_string_equal(e.field, "pageSize");
    assert_int_equal(ferry_bridge_app_status_page(f->b, "default", "web", &bad_page, &out, &e),
                     FERRY_EINVAL);
    assert_string_equal(e.field, "page");
    assert_null(out);

    /* The node's view lists the app too. */
    assert_int_equal(ferry_bridge_node_apps(f->b, "default", "n1", &out, &e), FERRY_OK);
    assert_true(json_is_true(json_object_get(out, "online")));
    assert_int_equal(json_array_size(json_object_get(out, "apps")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "apps"), 0), "phase")),
                        "Running");
    json_decref(out);

    /* After delete: 200, deleted, the nodes still reporting. */
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "web", &out, &e), FERRY_OK);
    json_decref(out);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "web", &out, &e), FERRY_OK);
    assert_true(json_is_true(json_object_get(out, "deleted")));
    assert_int_equal(json_array_size(json_object_get(out, "nodes")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(out, "summary"), "targeted")), 0);
    json_decref(out);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "never", &out, &e), FERRY_ENOTFOUND);

    /* Collecting (PROTOCOL.md): n3 forgot the app (an empty retained status): its record goes;
     * the tombstone stays while n1 still holds a status. */
    ferry_bridge_msg clear = {.topic = "ferry/default/nodes/n3/status/web",
                              .topic_len = strlen("ferry/default/nodes/n3/status/web"),
                              .payload = (const unsigned char *)"",
                              .len = 0,
                              .received_ms = ferry_now_ms()};
    assert_int_equal(ferry_bridge_handle_messages(f->b, &clear, 1), FERRY_OK);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "web", &out, &e), FERRY_OK);
    assert_int_equal(json_array_size(json_object_get(out, "nodes")), 1);
    json_decref(out);
    /* n1 is deleted: its statuses go (cleared on the broker too), and with the last one the
     * tombstone: the app is gone for good. */
    settle(f);
    node_op(f, "delete", "n1", NULL);
    flush_outbox(f);
    bool cleared = false;
    for (size_t i = 0; i < f->rec.n; i++)
        cleared =
            cleared || (strcmp(f->rec.items[i].topic, "ferry/default/nodes/n1/status/web") == 0 &&
                        f->rec.items[i].len == 0);
    assert_true(cleared);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "web", &out, &e), FERRY_ENOTFOUND);
    /* Re-created, it goes on from a higher version. */
    uint64_t rev = rev_of(f->b);
    assert_true(create_app(f, sample_app("web", 1, 1, NULL, NULL)) > (json_int_t)rev);
}

/* ---- records read back ---- */

static ferry_err put_web_txn(ferry_store_txn *t, void *ctx) {
    return ferry_store_put(t, FERRY_DB_APPS, "default/web", ctx);
}

/* A record whose contents a node would reject is unreadable: neither served nor sent (found by
 * fuzz_bridge_record; the checks once looked at the JSON types only, so a stored spec that is not a
 * valid app went out in app.put and node.sync, and nodes rejected the whole sync). */
static void test_unusable_records_rejected(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    json_t *spec = sample_app("web", 1, 1, "zone", "eu-1");
    json_t *rec =
        json_pack("{s:s, s:s, s:i, s:b, s:O, s:i, s:i}", "ns", "default", "name", "web", "version",
                  3, "deleted", 0, "spec", spec, "createdAt", 1, "updatedAt", 2);
    assert_true(bridge__app_record_ok("default/web", rec));
    assert_false(bridge__app_record_ok("default/db", rec)); /* stored under another key */
    json_t *bad = json_deep_copy(rec);
    json_object_set_new(bad, "version", json_integer(0));
    assert_false(bridge__app_record_ok("default/web", bad));
    json_decref(bad);
    bad = json_deep_copy(rec);
    json_object_set_new(json_object_get(bad, "spec"), "name", json_string("db"));
    assert_false(bridge__app_record_ok("default/web", bad)); /* another app's spec */
    json_decref(bad);
    bad = json_deep_copy(rec);
    json_object_set_new(json_object_get(bad, "spec"), "bogus", json_true());
    assert_false(bridge__app_record_ok("default/web", bad)); /* not a valid app */

    /* Stored, it is not served and not sent: a hello fails rather than answer a sync the node
     * would reject. */
    assert_int_equal(ferry_store_write(f->b->store, put_web_txn, bad), FERRY_OK);
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "web", &out, &e), FERRY_EFORMAT);
    assert_null(out);
    json_decref(bad);

    json_t *node = J("{\"ns\":\"default\",\"name\":\"n1\",\"labels\":{\"zone\":\"eu-1\"},"
                     "\"createdAt\":1,\"updatedAt\":2}");
    assert_true(bridge__node_record_ok("default/n1", node));
    json_object_set_new(json_object_get(node, "labels"), "not a key", json_string("x"));
    assert_false(bridge__node_record_ok("default/n1", node));
    json_decref(node);
    json_t *st = status_msg("n1", "web", 3, "Running");
    json_object_set_new(st, "updatedAt", json_integer(1));
    assert_true(bridge__status_record_ok("default/web/n1", st));
    assert_false(bridge__status_record_ok("default/web/n2", st)); /* another node's status */
    json_decref(st);
    json_decref(rec);
    json_decref(spec);
}

/* ---- outbox publisher ---- */

static void test_outbox_window_ack_and_reconnect(void **state) {
    fixture *f = *state;
    ferry_bridge_close(f->b);
    ferry_bridge_config cfg = {
        .data_dir = f->dir, .window = 2, .publish = record_publish, .publish_ctx = &f->rec};
    assert_int_equal(ferry_bridge_open(&cfg, &f->b), FERRY_OK);
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "app%d", i);
        create_app(f, sample_app(name, 1, 1, NULL, NULL));
    }

    /* Window of 2: two go out in order, the third waits for an ack. */
    ferry_bridge_mqtt_up(f->b);
    assert_int_equal(f->rec.n, 2);
    assert_int_equal(msg_int(&f->rec.items[0], "version"), 1);
    assert_int_equal(msg_int(&f->rec.items[1], "version"), 2);
    ferry_bridge_pump(f->b);
    assert_int_equal(f->rec.n, 2);
    ferry_bridge_outbox_acked(f->b, &f->rec.items[0].ref, 1);
    ferry_bridge_pump(f->b);
    assert_int_equal(f->rec.n, 3);
    assert_int_equal(msg_int(&f->rec.items[2], "version"), 3);

    /* Reconnect: what was not acknowledged goes out again, in order. */
    ferry_bridge_mqtt_down(f->b);
    ferry_outbox_ref old2 = f->rec.items[1].ref;
    recorder_clear(&f->rec);
    ferry_bridge_mqtt_up(f->b);
    assert_int_equal(f->rec.n, 2);
    assert_int_equal(msg_int(&f->rec.items[0], "version"), 2);
    assert_int_equal(msg_int(&f->rec.items[1], "version"), 3);
    /* A late ack from the old connection removes the entry without freeing window room. */
    ferry_bridge_outbox_acked(f->b, &old2, 1);
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);

    /* Restart: the outbox is empty, nothing is sent again. */
    ferry_bridge_close(f->b);
    assert_int_equal(ferry_bridge_open(&cfg, &f->b), FERRY_OK);
    ferry_bridge_mqtt_up(f->b);
    assert_int_equal(f->rec.n, 0);
}

static void test_outbox_failure_retried_on_tick(void **state) {
    fixture *f = *state;
    create_app(f, sample_app("a", 1, 1, NULL, NULL));
    create_app(f, sample_app("b", 1, 1, NULL, NULL));

    /* The first publish fails synchronously: nothing more goes out until the next pump. */
    f->rec.fail_next = 1;
    ferry_bridge_mqtt_up(f->b);
    assert_int_equal(f->rec.n, 0);
    ferry_bridge_tick(f->b);
    assert_int_equal(f->rec.n, 2);

    /* The broker refuses b: it goes out again on the next tick, a is not repeated. */
    ferry_bridge_outbox_acked(f->b, &f->rec.items[0].ref, 1);
    ferry_bridge_outbox_failed(f->b, &f->rec.items[1].ref);
    json_int_t bv = msg_int(&f->rec.items[1], "version");
    recorder_clear(&f->rec);
    ferry_bridge_pump(f->b);
    assert_int_equal(f->rec.n, 0);
    ferry_bridge_tick(f->b);
    assert_int_equal(f->rec.n, 1);
    assert_int_equal(msg_int(&f->rec.items[0], "version"), bv);
}

/* A restart after a crash publishes what the previous run committed but never sent. */
static void test_outbox_survives_restart(void **state) {
    fixture *f = *state;
    create_app(f, sample_app("a", 1, 1, NULL, NULL));
    ferry_bridge_close(f->b);
    open_bridge(f);
    assert_int_equal(flush_outbox(f), 1);
    assert_string_equal(f->rec.items[0].topic, "ferry/default/all/apps/a");
}

/* ---- the index: lists, syncs and views without tombstones, the same after a restart ---- */

/* The names of a list's items, "a|b|c", and its total. */
static void assert_list(fixture *f, bool nodes, const char *name, const char *selector, long page,
                        long size, const char *want, long total) {
    ferry_bridge_page pg = {.page = page, .page_size = size, .name = name, .selector = selector};
    json_t *out = NULL;
    ferry_detail e;
    char got[512] = "";
    size_t i;
    json_t *item;
    ferry_err err = nodes ? ferry_bridge_node_list(f->b, "default", &pg, &out, &e)
                          : ferry_bridge_app_list(f->b, "default", &pg, &out, &e);
    if (err != FERRY_OK)
        fail_msg("list failed: %s (%s)", e.message, e.field);
    json_array_foreach(json_object_get(out, "items"), i, item) {
        strncat(got, i ? "|" : "", sizeof(got) - strlen(got) - 1);
        strncat(got, json_string_value(json_object_get(item, "name")),
                sizeof(got) - strlen(got) - 1);
    }
    assert_string_equal(got, want);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), total);
    json_decref(out);
}

/* The app names of a sync, "a|b". */
static void assert_sync_names(const published *p, const char *want) {
    char got[512] = "";
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(p->msg, "apps"), i, a) {
        strncat(got, i ? "|" : "", sizeof(got) - strlen(got) - 1);
        strncat(got, json_string_value(json_object_get(a, "app")), sizeof(got) - strlen(got) - 1);
    }
    assert_string_equal(got, want);
}

static void hello_from(fixture *f, const char *node) {
    char topic[128];
    snprintf(topic, sizeof(topic), "ferry/default/nodes/%s/hello", node);
    recorder_clear(&f->rec);
    assert_int_equal(node_says(f, topic,
                               json_pack("{s:s, s:s, s:s, s:s, s:{}}", "type", "node.hello", "ns",
                                         "default", "node", node, "reason", "connect", "apps")),
                     FERRY_OK);
}

static void test_index_lists_syncs_and_restart(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    char name[16];
    /* a00..a29: every third on all nodes, every third on zone=eu-1, every third on an expression
     * only (the all topic, checked by the node's labels); a00..a19 deleted again. */
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "a%02d", i);
        json_t *app = sample_app(name, 1, 1, i % 3 == 1 ? "zone" : NULL, "eu-1");
        if (i % 3 == 2)
            json_object_set_new(app, "selector",
                                J("{\"matchExpressions\":[{\"key\":\"arch\",\"operator\":"
                                  "\"In\",\"values\":[\"arm64\"]}]}"));
        create_app(f, app);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "a%02d", i);
        assert_int_equal(ferry_bridge_app_delete(f->b, "default", name, &out, &e), FERRY_OK);
        json_decref(out);
    }
    node_op(f, "create", "n1", "{\"zone\":\"eu-1\",\"arch\":\"arm64\"}");
    node_op(f, "create", "n2", "{\"zone\":\"us-2\"}");
    node_op(f, "create", "n3", "{\"arch\":\"arm64\"}");
    settle(f);

    for (int round = 0; round < 2; round++) {
        assert_list(f, false, NULL, NULL, 1, 3, "a20|a21|a22", 10);
        assert_list(f, false, NULL, NULL, 4, 3, "a29", 10);
        assert_list(f, false, NULL, NULL, 5, 3, "", 10);
        assert_list(f, false, "A2", NULL, 1, 2, "a20|a21", 10);
        assert_list(f, false, "a1", NULL, 1, 20, "", 0); /* tombstones are not listed */
        assert_list(f, true, NULL, NULL, 1, 20, "n1|n2|n3", 3);
        assert_list(f, true, NULL, "arch=arm64", 1, 1, "n1", 2);
        assert_list(f, true, NULL, "arch=arm64", 2, 1, "n3", 2);

        hello_from(f, "n1");
        assert_sync_names(only_sync(f, "n1"), "a20|a21|a22|a23|a24|a25|a26|a27|a28|a29");
        hello_from(f, "n2");
        assert_sync_names(only_sync(f, "n2"), "a21|a24|a27");
        hello_from(f, "n3");
        assert_sync_names(only_sync(f, "n3"), "a20|a21|a23|a24|a26|a27|a29");
        recorder_clear(&f->rec);

        assert_int_equal(ferry_bridge_node_apps(f->b, "default", "n2", &out, &e), FERRY_OK);
        assert_int_equal(json_array_size(json_object_get(out, "apps")), 3);
        json_decref(out);
        assert_int_equal(ferry_bridge_app_status(f->b, "default", "a22", &out, &e), FERRY_OK);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(out, "summary"), "targeted")), 1);
        json_decref(out);

        /* The same from the store alone after a restart. */
        ferry_bridge_close(f->b);
        open_bridge(f);
        settle(f);
    }

    /* A relabel and a re-created app are seen at once. */
    node_op(f, "update", "n2", "{\"zone\":\"eu-1\"}");
    create_app(f, sample_app("a05", 1, 1, "zone", "us-2"));
    settle(f);
    assert_list(f, false, NULL, NULL, 1, 2, "a05|a20", 11);
    assert_list(f, true, NULL, "zone=eu-1", 1, 20, "n1|n2", 2); /* the label buckets moved */
    assert_list(f, true, NULL, "zone=us-2", 1, 20, "", 0);
    assert_list(f, true, "N2", "zone=eu-1,arch!=arm64", 1, 20, "n2", 1);
    assert_list(f, true, NULL, "!zone", 1, 20, "n3", 1); /* no matchLabels: every node checked */
    hello_from(f, "n2");
    assert_sync_names(only_sync(f, "n2"), "a21|a22|a24|a25|a27|a28");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_publishes_put, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rev_monotonic, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_update_sends_small_patch, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_update_small_app_sends_put, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delete_publishes_delete, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_selector_change_publishes_on_both_topics,
                                        bridge_fixture_setup, bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_validation_errors_change_nothing, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_node_sync_on_register_relabel_delete,
                                        bridge_fixture_setup, bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_hello_answered_with_sync, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_status_and_online, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unusable_records_rejected, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_window_ack_and_reconnect, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_failure_retried_on_tick, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_index_lists_syncs_and_restart, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_survives_restart, bridge_fixture_setup,
                                        bridge_fixture_teardown),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
