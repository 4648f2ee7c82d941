/* Unit tests of edge-sync's protocol rules (sync.c) over a real LMDB store in a temp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/proto.h"
#include "kv.h"
#include "store.h"
#include "sync.h"

static const ferry_sync_self SELF = {"default", "n1"};

typedef struct {
    char dir[64];
    ferry_estore *s;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-sync-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(ferry_estore_open(f->dir, &f->s), FERRY_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    ferry_estore_close(f->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Encode msg (stolen) and hand it to the node as if it arrived on topic. */
static ferry_sync_actions deliver(fixture *f, const char *topic, json_t *msg) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_sync_actions act;

    assert_non_null(msg);
    assert_int_equal(ferry_proto_encode(msg, &buf, &len), FERRY_OK);
    ferry_sync_handle(f->s, &SELF, topic, strlen(topic), buf, len, &act);
    ferry_free(buf);
    json_decref(msg);
    return act;
}

static json_t *spec(const char *name, const char *region, const char *greeting) {
    return json_pack("{s:s, s:{s:{s:s}}, s:[{s:s, s:s, s:[{s:s, s:s}]}], s:i}", "name", name,
                     "selector", "matchLabels", "region", region, "services", "name", "httpd",
                     "image", "busybox:1", "env", "name", "GREETING", "value", greeting, "replicas",
                     1);
}

#define EAST_TOPIC(app) "ferry/default/labels/region=east/apps/" app

static ferry_sync_actions put(fixture *f, const char *app, long long v, const char *region) {
    char topic[128];
    snprintf(topic, sizeof(topic), "ferry/default/labels/region=east/apps/%s", app);
    return deliver(f, topic,
                   json_pack("{s:s, s:s, s:s, s:I, s:o}", "type", "app.put", "ns", "default", "app",
                             app, "version", (json_int_t)v, "spec", spec(app, region, "hello")));
}

static ferry_sync_actions sync_msg(fixture *f, long long rev, json_t *labels, json_t *apps) {
    return deliver(f, "ferry/default/nodes/n1/sync",
                   json_pack("{s:s, s:s, s:s, s:I, s:b, s:o, s:o}", "type", "node.sync", "ns",
                             "default", "node", "n1", "rev", (json_int_t)rev, "registered", 1,
                             "labels", labels, "apps", apps));
}

static void register_east(fixture *f) {
    ferry_sync_actions a = sync_msg(f, 1, json_pack("{s:s}", "region", "east"), json_array());
    assert_true(a.resubscribe);
    assert_true(a.sync_received);
}

typedef struct {
    const char *name;
    ferry_estore_app *app;
} get_ctx;

static ferry_err get_txn(ferry_estore_txn *t, void *ctx) {
    get_ctx *g = ctx;
    return ferry_estore_get_app(t, g->name, g->app);
}

/* The app as stored: version, deleted; -1 when never stored. */
static long long held(fixture *f, const char *app, bool *deleted, json_t **spec_out) {
    ferry_estore_app a;
    get_ctx g = {app, &a};
    ferry_err err = ferry_estore_read(f->s, get_txn, &g);

    if (err == FERRY_ENOTFOUND)
        return -1;
    assert_int_equal(err, FERRY_OK);
    if (deleted != NULL)
        *deleted = a.deleted;
    if (spec_out != NULL)
        *spec_out = json_incref(a.spec);
    ferry_estore_app_clear(&a);
    return a.version;
}

static void test_put_stores_and_drops_duplicates(void **state) {
    fixture *f = *state;
    bool deleted = true;
    register_east(f);
    assert_true(put(f, "web", 5, "east").reconcile);
    assert_int_equal(held(f, "web", &deleted, NULL), 5);
    assert_false(deleted);
    assert_false(put(f, "web", 5, "east").reconcile); /* duplicate */
    assert_false(put(f, "web", 3, "east").reconcile); /* stale */
    assert_int_equal(held(f, "web", NULL, NULL), 5);
}

static void test_put_for_other_selector_not_stored(void **state) {
    fixture *f = *state;
    bool deleted = false;
    register_east(f);
    assert_false(put(f, "web", 5, "west").reconcile);
    assert_int_equal(held(f, "web", NULL, NULL), -1);
    /* Held, then its selector moves away: the node drops it. */
    put(f, "web", 6, "east");
    assert_true(put(f, "web", 7, "west").reconcile);
    assert_int_equal(held(f, "web", &deleted, NULL), 7);
    assert_true(deleted);
}

static void test_unregistered_node_runs_nothing(void **state) {
    fixture *f = *state;
    assert_false(put(f, "web", 5, "east").reconcile);
    assert_int_equal(held(f, "web", NULL, NULL), -1);
}

static json_t *env_patch(const char *value) {
    return json_pack("{s:{s:{s:s, s:{s:{s:{s:{s:s, s:{s:{s:{s:{s:s}}}}}}}}}}}", "obj", "services",
                     "keyed", "name", "items", "httpd", "obj", "env", "keyed", "name", "items",
                     "GREETING", "obj", "value", "set", value);
}

static ferry_sync_actions patch(fixture *f, long long base, long long v, const char *value) {
    return deliver(f, EAST_TOPIC("web"),
                   json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "type", "app.patch", "ns", "default",
                             "app", "web", "base", (json_int_t)base, "version", (json_int_t)v,
                             "patch", env_patch(value)));
}

static void test_patch_applies_on_base_and_detects_gaps(void **state) {
    fixture *f = *state;
    json_t *s = NULL;
    ferry_sync_actions a;

    register_east(f);
    put(f, "web", 5, "east");
    a = patch(f, 5, 6, "bonjour");
    assert_true(a.reconcile);
    assert_null(a.hello_reason);
    assert_int_equal(held(f, "web", NULL, &s), 6);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(
                json_object_get(json_array_get(json_object_get(s, "services"), 0), "env"), 0),
            "value")),
        "bonjour");
    json_decref(s);
    /* A duplicate of the same delta does nothing. */
    a = patch(f, 5, 6, "bonjour");
    assert_false(a.reconcile);
    assert_null(a.hello_reason);
    /* 8 on base 7: the node missed 7. */
    a = patch(f, 7, 8, "hola");
    assert_false(a.reconcile);
    assert_string_equal(a.hello_reason, "gap");
    assert_int_equal(held(f, "web", NULL, NULL), 6);
}

static void test_patch_for_unheld_app_ignored(void **state) {
    fixture *f = *state;
    register_east(f);
    ferry_sync_actions a = patch(f, 5, 6, "x");
    assert_false(a.reconcile);
    assert_null(a.hello_reason);
}

static void test_delete_tombstone_blocks_stale_put(void **state) {
    fixture *f = *state;
    bool deleted = false;
    register_east(f);
    put(f, "web", 5, "east");
    assert_true(deliver(f, EAST_TOPIC("web"),
                        json_pack("{s:s, s:s, s:s, s:i}", "type", "app.delete", "ns", "default",
                                  "app", "web", "version", 6))
                    .reconcile);
    assert_int_equal(held(f, "web", &deleted, NULL), 6);
    assert_true(deleted);
    assert_false(put(f, "web", 5, "east").reconcile); /* late duplicate of the old create */
    assert_true(put(f, "web", 9, "east").reconcile);  /* re-created */
    assert_int_equal(held(f, "web", &deleted, NULL), 9);
    assert_false(deleted);
}

/* Once a tombstone is collected, the last sync's rev guards the app: a put at or below it (a
 * duplicate, a replay) does not bring it back; a newer one does. */
static void test_collected_app_not_revived(void **state) {
    fixture *f = *state;
    bool gone = false;
    register_east(f);
    put(f, "web", 5, "east");
    sync_msg(f, 10, json_pack("{s:s}", "region", "east"), json_array());
    assert_int_equal(ferry_estore_collect(f->s, "web", 5, &gone), FERRY_OK);
    assert_true(gone);
    assert_int_equal(held(f, "web", NULL, NULL), -1);
    assert_false(put(f, "web", 5, "east").reconcile);
    assert_false(put(f, "web", 10, "east").reconcile);
    assert_int_equal(held(f, "web", NULL, NULL), -1);
    assert_true(put(f, "web", 11, "east").reconcile);
    assert_int_equal(held(f, "web", NULL, NULL), 11);
    /* Collecting checks the version: a tombstone replaced meanwhile stays. */
    assert_int_equal(ferry_estore_collect(f->s, "web", 11, &gone), FERRY_OK);
    assert_false(gone);
}

static void test_sync_converges_adds_updates_deletes(void **state) {
    fixture *f = *state;
    bool deleted = false;
    ferry_sync_actions a;

    register_east(f);
    put(f, "old", 2, "east");
    put(f, "web", 3, "east");
    put(f, "newer", 12, "east"); /* arrived on its topic after the snapshot was taken */
    a = sync_msg(f, 10, json_pack("{s:s}", "region", "east"),
                 json_pack("[{s:s, s:i, s:o}, {s:s, s:i, s:o}]", "app", "web", "version", 7, "spec",
                           spec("web", "east", "v7"), "app", "fresh", "version", 9, "spec",
                           spec("fresh", "east", "x")));
    assert_true(a.reconcile);
    assert_false(a.resubscribe);
    assert_int_equal(held(f, "web", NULL, NULL), 7);
    assert_int_equal(held(f, "fresh", NULL, NULL), 9);
    assert_int_equal(held(f, "old", &deleted, NULL), 2);
    assert_true(deleted);
    assert_int_equal(held(f, "newer", &deleted, NULL), 12);
    assert_false(deleted);
    /* An older snapshot arriving late changes nothing. */
    a = sync_msg(f, 4, json_pack("{s:s}", "region", "west"), json_array());
    assert_false(a.reconcile);
    assert_int_equal(held(f, "web", &deleted, NULL), 7);
    assert_false(deleted);
}

static void test_sync_without_spec_for_unheld_asks_again(void **state) {
    fixture *f = *state;
    register_east(f);
    ferry_sync_actions a = sync_msg(f, 10, json_pack("{s:s}", "region", "east"),
                                    json_pack("[{s:s, s:i}]", "app", "web", "version", 7));
    assert_string_equal(a.hello_reason, "gap");
}

static void test_relabel_moves_apps(void **state) {
    fixture *f = *state;
    bool deleted = false;
    register_east(f);
    put(f, "web", 3, "east");
    ferry_sync_actions a = sync_msg(f, 5, json_pack("{s:s}", "region", "west"), json_array());
    assert_true(a.resubscribe);
    assert_int_equal(held(f, "web", &deleted, NULL), 3);
    assert_true(deleted);
    /* Back east: the snapshot lists it again at the same version, and it comes back. */
    sync_msg(f, 6, json_pack("{s:s}", "region", "east"),
             json_pack("[{s:s, s:i, s:o}]", "app", "web", "version", 3, "spec",
                       spec("web", "east", "hello")));
    assert_int_equal(held(f, "web", &deleted, NULL), 3);
    assert_false(deleted);
}

static void test_malformed_and_foreign_messages_ignored(void **state) {
    fixture *f = *state;
    ferry_sync_actions a;
    const unsigned char junk[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01};

    register_east(f);
    put(f, "web", 3, "east");
    ferry_sync_handle(f->s, &SELF, EAST_TOPIC("web"), strlen(EAST_TOPIC("web")), junk, sizeof(junk),
                      &a);
    assert_false(a.reconcile);
    assert_null(a.hello_reason);
    /* A put whose app does not match its topic. */
    a = deliver(f, EAST_TOPIC("other"),
                json_pack("{s:s, s:s, s:s, s:i, s:o}", "type", "app.put", "ns", "default", "app",
                          "web", "version", 9, "spec", spec("web", "east", "x")));
    assert_false(a.reconcile);
    /* Another node's sync. */
    a = deliver(f, "ferry/default/nodes/n2/sync",
                json_pack("{s:s, s:s, s:s, s:i, s:b, s:{}, s:[]}", "type", "node.sync", "ns",
                          "default", "node", "n2", "rev", 99, "registered", 1, "labels", "apps"));
    assert_false(a.sync_received);
    assert_int_equal(held(f, "web", NULL, NULL), 3);
}

static void test_hello_lists_held_apps(void **state) {
    fixture *f = *state;
    json_t *hello = NULL;
    register_east(f);
    put(f, "web", 3, "east");
    put(f, "gone", 4, "east");
    deliver(f, EAST_TOPIC("gone"),
            json_pack("{s:s, s:s, s:s, s:i}", "type", "app.delete", "ns", "default", "app", "gone",
                      "version", 5));
    assert_int_equal(ferry_sync_hello(f->s, &SELF, "connect", &hello), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(hello, "apps"), "web")), 3);
    assert_null(json_object_get(json_object_get(hello, "apps"), "gone"));
    assert_string_equal(json_string_value(json_object_get(hello, "reason")), "connect");
    json_decref(hello);
}

/* A record that decoded to something other than a map was taken for a newer format version, and
 * an app in that state could never be updated again (found while fuzzing the record decoders). */
static ferry_err put_raw_txn(ferry_kv_txn *t, void *ctx) {
    (void)ctx;
    return ferry_kv_put(t, 0, "web", 3, "\x05", 1, false); /* msgpack for the integer 5 */
}

static void test_corrupt_record_replaced(void **state) {
    fixture *f = *state;
    static const char *const dbs[] = {"apps", "meta"};
    ferry_kv *kv = NULL;
    register_east(f);
    /* The store's own layout, written behind its back (one environment per file: close it). */
    ferry_estore_close(f->s);
    assert_int_equal(ferry_kv_open(f->dir, dbs, 2, 0, "test", &kv), FERRY_OK);
    assert_int_equal(ferry_kv_write(kv, put_raw_txn, NULL), FERRY_OK);
    ferry_kv_close(kv);
    assert_int_equal(ferry_estore_open(f->dir, &f->s), FERRY_OK);
    assert_true(put(f, "web", 5, "east").reconcile);
    assert_int_equal(held(f, "web", NULL, NULL), 5);
}

typedef struct {
    size_t n;
} count_ctx;

static ferry_err list_txn(ferry_estore_txn *t, void *ctx) {
    ferry_estore_apps apps = {0};
    ferry_err err = ferry_estore_list_apps(t, &apps);
    ((count_ctx *)ctx)->n = apps.n;
    ferry_estore_apps_free(&apps);
    return err;
}

static size_t listed(fixture *f) {
    count_ctx c = {0};
    assert_int_equal(ferry_estore_read(f->s, list_txn, &c), FERRY_OK);
    return c.n;
}

static ferry_err count_txn(ferry_kv_txn *t, void *ctx) {
    return ferry_kv_count(t, 0, &((count_ctx *)ctx)->n);
}

/* The listing of the apps (a reconciler pass) reuses what it decoded last time only for a record
 * of the same bytes: a new version, and a record that no longer passes the checks, are read
 * afresh, never served from what an earlier listing kept. */
typedef struct {
    const char *name;
    long long version;
    const char *greeting; /* of the listed spec; NULL: not listed */
} listed_app;

static ferry_err list_one_txn(ferry_estore_txn *t, void *ctx) {
    listed_app *l = ctx;
    ferry_estore_apps apps = {0};
    ferry_err err = ferry_estore_list_apps(t, &apps);
    l->version = -1;
    l->greeting = NULL;
    for (size_t i = 0; err == FERRY_OK && i < apps.n; i++) {
        if (strcmp(apps.items[i].name, l->name) != 0)
            continue;
        json_t *env = json_object_get(
            json_array_get(json_object_get(apps.items[i].app.spec, "services"), 0), "env");
        l->version = apps.items[i].app.version;
        /* a string of the test's static set, so it outlives the listing */
        const char *g = json_string_value(json_object_get(json_array_get(env, 0), "value"));
        l->greeting = g == NULL ? NULL : strcmp(g, "hello") == 0 ? "hello" : "other";
    }
    ferry_estore_apps_free(&apps);
    return err;
}

static listed_app list_one(fixture *f, const char *name) {
    listed_app l = {name, -1, NULL};
    assert_int_equal(ferry_estore_read(f->s, list_one_txn, &l), FERRY_OK);
    return l;
}

typedef struct {
    long long version;
    json_t *spec;
} put_ctx;

static ferry_err put_app_txn(ferry_estore_txn *t, void *ctx) {
    put_ctx *p = ctx;
    ferry_estore_app a = {p->version, false, p->spec};
    return ferry_estore_put_app(t, "web", &a);
}

static void test_listing_reuses_only_identical_records(void **state) {
    fixture *f = *state;
    register_east(f);
    assert_true(put(f, "web", 5, "east").reconcile);
    for (int i = 0; i < 2; i++) { /* the second listing reuses the first one's decoding */
        listed_app l = list_one(f, "web");
        assert_int_equal(l.version, 5);
        assert_string_equal(l.greeting, "hello");
    }
    /* A record that fails the checks (no image), written behind the protocol's back. */
    put_ctx bad = {6, spec("web", "east", "bye")};
    json_object_del(json_array_get(json_object_get(bad.spec, "services"), 0), "image");
    assert_int_equal(ferry_estore_write(f->s, put_app_txn, &bad), FERRY_OK);
    assert_int_equal(list_one(f, "web").version, -1);
    json_decref(bad.spec);
    /* A new version of the same name and length, other bytes. */
    put_ctx next = {7, spec("web", "east", "howdy")};
    assert_int_equal(ferry_estore_write(f->s, put_app_txn, &next), FERRY_OK);
    listed_app l = list_one(f, "web");
    assert_int_equal(l.version, 7);
    assert_string_equal(l.greeting, "other");
    json_decref(next.spec);
    put_ctx back = {8, spec("web", "east", "hello")};
    assert_int_equal(ferry_estore_write(f->s, put_app_txn, &back), FERRY_OK);
    l = list_one(f, "web");
    assert_int_equal(l.version, 8);
    assert_string_equal(l.greeting, "hello");
    json_decref(back.spec);
}

/* Stores sharing one environment (the hollow fleet's) see only their own keys, also where one
 * node's name starts with another's ("n1", "n10"), and keep them across a reopen. */
static void test_shared_stores_are_separate(void **state) {
    fixture *f = *state;
    ferry_estore *own = f->s, *a = NULL, *b = NULL;
    ferry_kv_env *env = NULL;
    ferry_kv *view = NULL;
    count_ctx c = {0};
    char dir[128];

    snprintf(dir, sizeof(dir), "%s/shared", f->dir);
    assert_int_equal(ferry_estore_env_open(dir, 0, &env), FERRY_OK);
    assert_int_equal(ferry_estore_open_shared(env, "n1", &a), FERRY_OK);
    assert_int_equal(ferry_estore_open_shared(env, "n10", &b), FERRY_OK);
    f->s = a;
    register_east(f);
    assert_true(put(f, "web", 5, "east").reconcile);
    f->s = b;
    assert_int_equal(held(f, "web", NULL, NULL), -1);
    register_east(f);
    assert_true(put(f, "web", 7, "east").reconcile);
    assert_true(put(f, "db", 2, "east").reconcile);
    assert_int_equal(listed(f), 2);
    f->s = a;
    assert_int_equal(held(f, "web", NULL, NULL), 5);
    assert_int_equal(listed(f), 1);
    assert_int_equal(ferry_kv_open_view(env, "n1", "test", &view), FERRY_OK);
    assert_int_equal(ferry_kv_read(view, count_txn, &c), FERRY_OK);
    assert_int_equal(c.n, 1);
    ferry_kv_close(view);
    ferry_estore_close(a);
    ferry_estore_close(b);
    ferry_kv_env_close(env);

    assert_int_equal(ferry_estore_env_open(dir, 0, &env), FERRY_OK);
    assert_int_equal(ferry_estore_open_shared(env, "n10", &b), FERRY_OK);
    f->s = b;
    assert_int_equal(held(f, "web", NULL, NULL), 7);
    assert_int_equal(listed(f), 2);
    ferry_estore_close(b);
    ferry_kv_env_close(env);
    f->s = own;
}

/* The decoders accept only what the protocol let the node store. */
static void test_record_decoders(void **state) {
    ferry_estore_app app = {3, false, spec("db", "east", "hi")}, out;
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *node = NULL;
    (void)state;

    assert_int_equal(ferry_estore__encode_app(&app, &buf, &len), FERRY_OK);
    assert_int_equal(ferry_estore__decode_app(buf, len, "db", &out), FERRY_OK);
    assert_int_equal(out.version, 3);
    assert_true(json_equal(out.spec, app.spec));
    ferry_estore_app_clear(&out);
    /* The spec of another app under this name. */
    assert_int_equal(ferry_estore__decode_app(buf, len, "web", &out), FERRY_EFORMAT);
    assert_null(out.spec);
    ferry_free(buf);
    ferry_estore_app_clear(&app);

    node = json_pack("{s:i, s:b, s:{}}", "rev", -1, "registered", 1, "labels");
    assert_int_equal(ferry_estore__encode_node(node, &buf, &len), FERRY_OK);
    json_decref(node);
    assert_int_equal(ferry_estore__decode_node(buf, len, &node), FERRY_EFORMAT);
    assert_null(node);
    ferry_free(buf);
    assert_int_equal(ferry_estore__decode_node("\x81\xa2"
                                               "fv\x02",
                                               5, &node),
                     FERRY_EVERSION);
    assert_int_equal(ferry_estore__decode_node("\x05", 1, &node), FERRY_EFORMAT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_stores_and_drops_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_for_other_selector_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregistered_node_runs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch_applies_on_base_and_detects_gaps, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_patch_for_unheld_app_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_tombstone_blocks_stale_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collected_app_not_revived, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_converges_adds_updates_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_without_spec_for_unheld_asks_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_relabel_moves_apps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_reuses_only_identical_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_foreign_messages_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hello_lists_held_apps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_stores_are_separate, setup, teardown),
        cmocka_unit_test(test_record_decoders),
    };
    return cmocka_run_group_tests_name("edge_sync", tests, NULL, NULL);
}
