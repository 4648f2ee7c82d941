/* Unit tests of the reconciler's loop (edge-sync/reconcile.c: survey, observe, plan, act) over a
 * fake engine (fake_engine.c), a real store and real volume files in a temp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_engine.h"
#include "ferry/base64.h"
#include "ferry/bundle.h"
#include "ferry/sign.h"
#include "ferry/app.h"
#include "reconcile.h"
#include "store.h"

typedef struct {
    char dir[64];
    ferry_estore *store;
    fake_engine eng;
    ferry_reconcile_cfg cfg;
    json_t *statuses;  /* app -> last status */
    json_t *collected; /* apps whose tombstone a pass collected */
} fixture;

static ferry_err put_node_txn(ferry_estore_txn *t, void *ctx) {
    return ferry_estore_put_node(t, ctx);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-rec-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(ferry_estore_open(f->dir, &f->store), FERRY_OK);
    json_t *node =
        json_pack("{s:i, s:b, s:{s:s}}", "rev", 1, "registered", 1, "labels", "region", "east");
    assert_int_equal(ferry_estore_write(f->store, put_node_txn, node), FERRY_OK);
    json_decref(node);
    fake_engine_init(&f->eng);
    json_object_set_new(f->eng.images, "img:1", json_true());
    f->cfg = (ferry_reconcile_cfg){.store = f->store,
                                   .ops = &fake_engine_ops,
                                   .engine = &f->eng,
                                   .ns = "ns",
                                   .node = "n1",
                                   .pause_image = "ferry/pause:1",
                                   .pause_binary = "/nonexistent",
                                   .data_dir = f->dir};
    f->statuses = json_object();
    f->collected = json_object();
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    ferry_estore_close(f->store);
    fake_engine_free(&f->eng);
    json_decref(f->statuses);
    json_decref(f->collected);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

typedef struct {
    const char *name;
    ferry_estore_app app;
} put_ctx;

static ferry_err put_app_txn(ferry_estore_txn *t, void *ctx) {
    put_ctx *p = ctx;
    return ferry_estore_put_app(t, p->name, &p->app);
}

/* Store spec (stolen; normalised like the bridge does) as app name at version. */
static void store_app(fixture *f, const char *name, long long version, json_t *spec) {
    json_t *norm = spec != NULL ? ferry_app_normalize(spec) : NULL;
    ferry_detail verr;
    if (norm != NULL && ferry_app_validate_ex(norm, FERRY_APP_ALLOW_RESOLVED, &verr) != FERRY_OK)
        fail_msg("invalid test spec: %s: %s", verr.field, verr.message);
    put_ctx p = {name, {version, norm == NULL, norm}};
    assert_int_equal(ferry_estore_write(f->store, put_app_txn, &p), FERRY_OK);
    json_decref(spec);
    json_decref(norm);
}

static json_t *spec(const char *name, const char *greeting) {
    return json_pack("{s:s, s:{s:{s:s}}, s:[{s:s, s:s, s:[{s:s, s:s}]}, {s:s, s:s}]}", "name", name,
                     "selector", "matchLabels", "region", "east", "services", "name", "web",
                     "image", "img:1", "env", "name", "GREETING", "value", greeting, "name", "db",
                     "image", "img:1");
}

/* spec() with its two services named web and db (service names are the node's, one app each). */
static json_t *spec_as(const char *name, const char *greeting, const char *web, const char *db) {
    json_t *s = spec(name, greeting), *svcs = json_object_get(s, "services");
    json_object_set_new(json_array_get(svcs, 0), "name", json_string(web));
    json_object_set_new(json_array_get(svcs, 1), "name", json_string(db));
    return s;
}

/* s with service i's image set to image (s returned). */
static json_t *with_image(json_t *s, size_t i, const char *image) {
    json_object_set_new(json_array_get(json_object_get(s, "services"), i), "image",
                        json_string(image));
    return s;
}

/* A survey and a pass over every app, as the daemon runs them; statuses kept. */
static void reconcile(fixture *f) {
    ferry_survey s;
    assert_int_equal(ferry_reconcile_survey(&f->cfg, &s), FERRY_OK);
    for (size_t i = 0; i < s.n; i++) {
        ferry_app_result r;
        assert_int_equal(ferry_reconcile_app(&f->cfg, &s.items[i], &r), FERRY_OK);
        if (r.status != NULL)
            json_object_set(f->statuses, s.items[i].name, r.status);
        if (r.collected)
            json_object_set_new(f->collected, s.items[i].name, json_true());
        ferry_app_result_clear(&r);
    }
    ferry_survey_free(&s);
}

static const char *phase(fixture *f, const char *app) {
    return json_string_value(json_object_get(json_object_get(f->statuses, app), "phase"));
}

static const char *message(fixture *f, const char *app) {
    return json_string_value(json_object_get(json_object_get(f->statuses, app), "message"));
}

/* app failed because image is not on the node and the fake engine refuses to pull it. */
static void assert_pull_refused(fixture *f, const char *app, const char *image) {
    char want[256];
    snprintf(want, sizeof(want),
             "image %s is not on the node and could not be pulled: pull access denied for %s",
             image, image);
    assert_string_equal(phase(f, app), "Failed");
    assert_string_equal(message(f, app), want);
}

static void test_deploy_update_delete(void **state) {
    fixture *f = *state;
    store_app(f, "web", 3, spec("web", "hello"));
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Running");
    assert_int_equal(fake_engine_count(&f->eng, "ferry.n1.ns.web.0"), 3);
    fake_container *web = fake_engine_find(&f->eng, "ferry.n1.ns.web.0.web");
    assert_non_null(web);
    assert_string_equal(json_string_value(json_object_get(web->labels, "io.ferry.version")), "3");
    char web_id[80];
    snprintf(web_id, sizeof(web_id), "%s", web->id);

    /* Nothing changed: a pass creates, starts and removes nothing. */
    size_t calls = json_array_size(f->eng.calls);
    reconcile(f);
    assert_int_equal(json_array_size(f->eng.calls), calls);

    /* An env change replaces exactly that service. */
    store_app(f, "web", 4, spec("web", "bonjour"));
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Running");
    assert_int_equal(fake_engine_calls(&f->eng, "create "), 4);
    assert_int_equal(fake_engine_calls(&f->eng, "remove ferry.n1.ns.web.0.web"), 1);
    assert_int_equal(fake_engine_calls(&f->eng, "remove "), 1);
    web = fake_engine_find(&f->eng, "ferry.n1.ns.web.0.web");
    assert_string_not_equal(web->id, web_id);
    assert_string_equal(json_string_value(json_array_get(json_object_get(web->body, "Env"), 0)),
                        "GREETING=bonjour");

    /* Deleted: every container goes, the app reports Removed. */
    store_app(f, "web", 5, NULL);
    reconcile(f);
    assert_int_equal(fake_engine_count(&f->eng, ""), 0);
    assert_string_equal(phase(f, "web"), "Removed");
}

static ferry_err app_exists_txn(ferry_estore_txn *t, void *ctx) {
    ferry_estore_app a;
    ferry_err err = ferry_estore_get_app(t, ctx, &a);
    ferry_estore_app_clear(&a);
    return err;
}

/* A tombstone is forgotten once the app is gone and a sync at or past its version came (the sync
 * is authoritative up to its rev): not before. */
static void test_tombstone_collected_after_sync(void **state) {
    fixture *f = *state;
    store_app(f, "web", 3, spec("web", "hello"));
    reconcile(f);
    store_app(f, "web", 5, NULL); /* an app.delete at v5; the last sync was rev 1 */
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Removed");
    assert_int_equal(json_object_size(f->collected), 0);
    assert_int_equal(ferry_estore_read(f->store, app_exists_txn, "web"), FERRY_OK);
    /* A sync at rev 5 was applied: the next pass forgets the app and reports nothing. */
    json_t *node =
        json_pack("{s:i, s:b, s:{s:s}}", "rev", 5, "registered", 1, "labels", "region", "east");
    assert_int_equal(ferry_estore_write(f->store, put_node_txn, node), FERRY_OK);
    json_decref(node);
    json_object_clear(f->statuses);
    reconcile(f);
    assert_true(json_is_true(json_object_get(f->collected, "web")));
    assert_null(json_object_get(f->statuses, "web"));
    assert_int_equal(ferry_estore_read(f->store, app_exists_txn, "web"), FERRY_ENOTFOUND);
    assert_int_equal(fake_engine_count(&f->eng, ""), 0);
}

static void test_restart_makes_no_duplicates(void **state) {
    fixture *f = *state;
    store_app(f, "web", 3, spec("web", "hello"));
    reconcile(f);
    /* A new daemon (kill -9 and restart) finds everything by its labels. */
    json_object_clear(f->statuses);
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Running");
    assert_int_equal(fake_engine_count(&f->eng, ""), 3);
    assert_int_equal(fake_engine_calls(&f->eng, "create "), 3);
    /* Containers of an app the store does not know (the store was lost) go, without a status. */
    ferry_estore_close(f->store);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -f %s/data.mdb %s/lock.mdb", f->dir, f->dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ferry_estore_open(f->dir, &f->store), FERRY_OK);
    f->cfg.store = f->store;
    json_object_clear(f->statuses);
    reconcile(f);
    assert_int_equal(fake_engine_count(&f->eng, ""), 0);
    assert_int_equal(json_object_size(f->statuses), 0);
}

static void test_inits_run_in_order(void **state) {
    fixture *f = *state;
    json_t *s = spec("web", "hello");
    json_object_set_new(s, "initServices",
                        json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", "migrate", "image", "img:1",
                                  "name", "seed", "image", "img:1"));
    json_object_set_new(f->eng.exit_codes, ".init-migrate", json_integer(0));
    json_object_set_new(f->eng.exit_codes, ".init-seed", json_integer(0));
    store_app(f, "web", 3, s);
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Running");
    /* infra, migrate, seed, then the services. */
    json_t *calls = f->eng.calls;
    size_t i, k = 0;
    json_t *v;
    const char *want[] = {"create ferry.n1.ns.web.0",
                          "start ferry.n1.ns.web.0",
                          "create ferry.n1.ns.web.0.init-migrate",
                          "start ferry.n1.ns.web.0.init-migrate",
                          "create ferry.n1.ns.web.0.init-seed",
                          "start ferry.n1.ns.web.0.init-seed"};
    json_array_foreach(calls, i, v) {
        if (k < 6 && strcmp(json_string_value(v), want[k]) == 0)
            k++;
    }
    assert_int_equal(k, 6);
    /* Done once: a later pass does not run them again. */
    size_t n = json_array_size(calls);
    reconcile(f);
    assert_int_equal(json_array_size(calls), n);
}

static void test_init_failure_and_job(void **state) {
    fixture *f = *state;
    json_t *s = spec("web", "hello");
    json_object_set_new(s, "initServices",
                        json_pack("[{s:s, s:s}]", "name", "migrate", "image", "img:1"));
    json_object_set_new(f->eng.exit_codes, ".init-migrate", json_integer(4));
    store_app(f, "web", 3, s);
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Failed");
    assert_non_null(strstr(message(f, "web"), "init container migrate exited with code 4"));
    assert_null(fake_engine_find(&f->eng, "ferry.n1.ns.web.0.web"));

    /* A job: runs to completion once, then reports Succeeded and starts nothing again. */
    json_t *job = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "name", "batch", "workload", "job",
                            "services", "name", "work", "image", "img:1");
    json_object_set_new(f->eng.exit_codes, ".batch.0.work", json_integer(0));
    store_app(f, "batch", 8, job);
    reconcile(f);
    reconcile(f);
    assert_string_equal(phase(f, "batch"), "Succeeded");
    assert_int_equal(fake_engine_calls(&f->eng, "start ferry.n1.ns.batch.0.work"), 1);
    assert_int_equal(fake_engine_calls(&f->eng, "stop ferry.n1.ns.batch.0"), 1);
}

static void test_errors_are_reported(void **state) {
    fixture *f = *state;
    /* A host port in use. */
    json_object_set_new(f->eng.port_taken, "ferry.n1.ns.web.0", json_true());
    store_app(f, "web", 3, spec("web", "hello"));
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Failed");
    assert_non_null(strstr(message(f, "web"), "a host port of this app is already in use"));
    json_object_clear(f->eng.port_taken);
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Running");
    /* A new image that cannot be pulled leaves the old container running. */
    store_app(f, "web", 4, with_image(spec("web", "hello"), 1, "missing:2"));
    reconcile(f);
    assert_pull_refused(f, "web", "missing:2");
    assert_non_null(fake_engine_find(&f->eng, "ferry.n1.ns.web.0.db"));
    /* Once it can be pulled, it is replaced. */
    json_object_set_new(f->eng.pullable, "missing:2", json_true());
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Running");
    assert_string_equal(fake_engine_find(&f->eng, "ferry.n1.ns.web.0.db")->image, "missing:2");

    /* A new app: created at once, its image pulled only when the create says it is missing,
     * with the same message when it cannot be. */
    size_t pulls = fake_engine_calls(&f->eng, "pull");
    store_app(f, "fresh", 5, with_image(spec_as("fresh", "hi", "fweb", "fdb"), 0, "later:1"));
    reconcile(f);
    assert_pull_refused(f, "fresh", "later:1");
    assert_null(fake_engine_find(&f->eng, "ferry.n1.ns.fresh.0.fweb"));
    assert_int_equal(fake_engine_calls(&f->eng, "pull"), pulls + 1);
    json_object_set_new(f->eng.pullable, "later:1", json_true());
    reconcile(f);
    assert_string_equal(phase(f, "fresh"), "Running");
    assert_string_equal(fake_engine_find(&f->eng, "ferry.n1.ns.fresh.0.fweb")->image, "later:1");
    assert_int_equal(fake_engine_calls(&f->eng, "pull"), pulls + 2);
    /* With the image there, a new container costs no image look-up. */
    size_t lookups = fake_engine_calls(&f->eng, "image ");
    store_app(f, "third", 6, spec_as("third", "yo", "tweb", "tdb"));
    reconcile(f);
    assert_string_equal(phase(f, "third"), "Running");
    assert_int_equal(fake_engine_calls(&f->eng, "image "), lookups);
}

static void test_name_clash(void **state) {
    fixture *f = *state;
    store_app(f, "a", 3, spec("a", "x"));
    reconcile(f);
    store_app(f, "b", 2, spec("b", "y")); /* lower version, but a already runs web and db */
    reconcile(f);
    assert_string_equal(phase(f, "a"), "Running");
    assert_string_equal(phase(f, "b"), "Failed");
    assert_string_equal(message(f, "b"), "service web is already run by app a on this node");
    assert_int_equal(fake_engine_count(&f->eng, "ferry.n1.ns.b"), 0);
}

typedef struct {
    const char *app;
    const char *digest;
    const char *sealed;
} bundle_put;

static ferry_err put_bundle_txn(ferry_estore_txn *t, void *ctx) {
    bundle_put *b = ctx;
    return ferry_estore_put_bundle(t, b->app, b->digest, b->sealed);
}

static void test_secrets_from_the_bundle(void **state) {
    fixture *f = *state;
    ferry_keypair box;
    memset(box.seed, 42, 32);
    assert_int_equal(ferry_box_keypair(&box), FERRY_OK);
    /* The full wire document the bridge made, split as it sends it. */
    json_t *wire =
        json_pack("{s:s, s:[{s:s, s:s, s:[{s:s, s:s}]}], s:[{s:s, s:{s:s}}], s:{s:{s:{s:s, s:i, "
                  "s:{s:{s:s, s:i}}}}}}",
                  "name", "web", "services", "name", "web", "image", "img:1", "volumeMounts",
                  "name", "pw", "mountPath", "/pw", "volumes", "name", "pw", "secret", "name",
                  "db-pw", "resolved", "configs", "db-pw", "kind", "secret", "version", 2, "files",
                  "password", "data", "aHVudGVyMg==", "mode", 384);
    json_t *pub = NULL, *bundle = NULL;
    char digest[FERRY_SECRETS_DIGEST_LEN];
    assert_int_equal(ferry_bundle_split(wire, &pub, &bundle, digest), FERRY_OK);
    store_app(f, "web", 3, json_incref(pub));

    /* No key: the app waits. With the key but no bundle: it waits and asks. */
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Deploying");
    assert_non_null(strstr(message(f, "web"), "did not enroll"));
    f->cfg.box = &box;
    ferry_survey s;
    assert_int_equal(ferry_reconcile_survey(&f->cfg, &s), FERRY_OK);
    ferry_app_result r;
    assert_int_equal(ferry_reconcile_app(&f->cfg, &s.items[0], &r), FERRY_OK);
    assert_true(r.needs_secrets);
    assert_int_equal(fake_engine_count(&f->eng, ""), 0); /* nothing touched meanwhile */
    ferry_app_result_clear(&r);
    ferry_survey_free(&s);

    /* The bundle sealed to this node: the app runs with the secret file written. */
    char aad[200], *plain = json_dumps(bundle, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char *sealed = NULL;
    size_t slen = 0;
    snprintf(aad, sizeof(aad), "ns/n1/web/%s", digest);
    assert_int_equal(
        ferry_box_seal(box.pub, aad, strlen(aad), plain, strlen(plain), &sealed, &slen), FERRY_OK);
    char *b64 = ferry_base64_encode(sealed, slen, NULL);
    bundle_put bp = {"web", digest, b64};
    assert_int_equal(ferry_estore_write(f->store, put_bundle_txn, &bp), FERRY_OK);
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Running");
    char path[256], content[64] = "";
    snprintf(path, sizeof(path), "%s/volumes/ns/web/pw/password", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(content, sizeof(content), fp));
    fclose(fp);
    assert_string_equal(content, "hunter2");
    /* A bundle sealed to another place (another app's aad) does not open: the app fails. */
    bp.app = "web";
    snprintf(aad, sizeof(aad), "ns/n1/other/%s", digest);
    ferry_free(sealed);
    ferry_free(b64);
    assert_int_equal(
        ferry_box_seal(box.pub, aad, strlen(aad), plain, strlen(plain), &sealed, &slen), FERRY_OK);
    b64 = ferry_base64_encode(sealed, slen, NULL);
    bp.sealed = b64;
    assert_int_equal(ferry_estore_write(f->store, put_bundle_txn, &bp), FERRY_OK);
    reconcile(f);
    assert_string_equal(phase(f, "web"), "Failed");
    assert_non_null(strstr(message(f, "web"), "does not open"));
    free(plain);
    ferry_free(sealed);
    ferry_free(b64);
    json_decref(wire);
    json_decref(pub);
    json_decref(bundle);
}

/* The survey's signature of an app's containers equals the one its steady pass ends with, and
 * changes when a container changes state: what lets the daemon skip passes that would find
 * nothing to do (main.c). An app that failed is never steady. */
static void test_steady_signature(void **state) {
    fixture *f = *state;
    ferry_survey s;
    ferry_app_result r;

    store_app(f, "web", 3, spec("web", "hello"));
    reconcile(f);
    assert_int_equal(ferry_reconcile_survey(&f->cfg, &s), FERRY_OK);
    assert_int_equal(s.n, 1);
    assert_int_not_equal(s.items[0].engine_sig, 0);
    assert_int_equal(ferry_reconcile_app(&f->cfg, &s.items[0], &r), FERRY_OK);
    assert_true(r.steady);
    assert_int_equal(r.engine_sig, s.items[0].engine_sig);
    uint64_t before = r.engine_sig;
    ferry_app_result_clear(&r);
    ferry_survey_free(&s);

    fake_container *db = fake_engine_find(&f->eng, "ferry.n1.ns.web.0.db");
    assert_non_null(db);
    snprintf(db->st.status, sizeof(db->st.status), "exited");
    assert_int_equal(ferry_reconcile_survey(&f->cfg, &s), FERRY_OK);
    assert_int_not_equal(s.items[0].engine_sig, before);
    ferry_survey_free(&s);

    store_app(f, "bad", 4, with_image(spec_as("bad", "x", "bweb", "bdb"), 0, "missing:1"));
    assert_int_equal(ferry_reconcile_survey(&f->cfg, &s), FERRY_OK);
    for (size_t i = 0; i < s.n; i++) {
        if (strcmp(s.items[i].name, "bad") != 0)
            continue;
        assert_int_equal(ferry_reconcile_app(&f->cfg, &s.items[i], &r), FERRY_OK);
        assert_string_equal(json_string_value(json_object_get(r.status, "phase")), "Failed");
        assert_false(r.steady);
        ferry_app_result_clear(&r);
    }
    ferry_survey_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deploy_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_collected_after_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_makes_no_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inits_run_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_failure_and_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_are_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_clash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_from_the_bundle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steady_signature, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
