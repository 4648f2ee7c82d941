/* Unit tests of broker-bridge's store: records with a format version, counters, the outbox and
 * map growth. */
#include <lmdb.h>

#include "bridge_test.h"
#include "ferry/codec.h"
#include "store.h"

typedef struct {
    char *dir;
    ferry_store *s;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    f->dir = tmp_dir();
    assert_int_equal(ferry_store_open(f->dir, 0, &f->s), FERRY_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ferry_store_close(f->s);
    rm_dir(f->dir);
    free(f);
    return 0;
}

/* ---- transaction bodies used by the tests ---- */

typedef struct {
    const char *key;
    json_t *rec;
    ferry_err err;
} kv;

static ferry_err put_txn(ferry_store_txn *t, void *ctx) {
    kv *x = ctx;
    return ferry_store_put(t, FERRY_DB_APPS, x->key, x->rec);
}

static ferry_err get_txn(ferry_store_txn *t, void *ctx) {
    kv *x = ctx;
    json_decref(x->rec);
    x->rec = NULL;
    x->err = ferry_store_get(t, FERRY_DB_APPS, x->key, &x->rec);
    return FERRY_OK;
}

static ferry_err del_txn(ferry_store_txn *t, void *ctx) {
    kv *x = ctx;
    return ferry_store_del(t, FERRY_DB_APPS, x->key);
}

static ferry_err fail_after_put_txn(ferry_store_txn *t, void *ctx) {
    ferry_err err = put_txn(t, ctx);
    return err == FERRY_OK ? FERRY_EINVAL : err;
}

static void test_record_round_trip(void **state) {
    fixture *f = *state;
    json_t *rec = J("{\"name\":\"web\",\"version\":3,\"deleted\":false,\"spec\":{\"a\":[1,2]}}");
    kv x = {.key = "default/web", .rec = rec};

    assert_int_equal(ferry_store_write(f->s, put_txn, &x), FERRY_OK);
    x.rec = NULL;
    assert_int_equal(ferry_store_read(f->s, get_txn, &x), FERRY_OK);
    assert_int_equal(x.err, FERRY_OK);
    assert_json_equal(x.rec, rec); /* "fv" is added on write and removed on read */
    assert_null(json_object_get(rec, "fv"));

    /* An aborted write leaves nothing. */
    kv y = {.key = "default/other", .rec = rec};
    assert_int_equal(ferry_store_write(f->s, fail_after_put_txn, &y), FERRY_EINVAL);
    y.rec = NULL;
    assert_int_equal(ferry_store_read(f->s, get_txn, &y), FERRY_OK);
    assert_int_equal(y.err, FERRY_ENOTFOUND);

    assert_int_equal(ferry_store_write(f->s, del_txn, &x), FERRY_OK);
    assert_int_equal(ferry_store_write(f->s, del_txn, &x), FERRY_ENOTFOUND);
    assert_int_equal(ferry_store_read(f->s, get_txn, &x), FERRY_OK);
    assert_int_equal(x.err, FERRY_ENOTFOUND);
    json_decref(x.rec);
    json_decref(rec);
}

/* Write raw bytes at key in "apps", bypassing the store (as another version of the program or a
 * corruption would). */
static void raw_put(const char *dir, const char *key, const void *data, size_t len) {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)data};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "apps", 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_record_version_rejected(void **state) {
    fixture *f = *state;
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *future = J("{\"fv\":2,\"name\":\"web\"}"), *nofv = J("{\"name\":\"web\"}");
    kv x = {0};

    ferry_store_close(f->s);
    assert_int_equal(ferry_msgpack_encode(future, &buf, &len), FERRY_OK);
    raw_put(f->dir, "default/future", buf, len);
    ferry_free(buf);
    assert_int_equal(ferry_msgpack_encode(nofv, &buf, &len), FERRY_OK);
    raw_put(f->dir, "default/nofv", buf, len);
    ferry_free(buf);
    raw_put(f->dir, "default/garbage", "\xc1\xff", 2);
    assert_int_equal(ferry_store_open(f->dir, 0, &f->s), FERRY_OK);

    x.key = "default/future";
    assert_int_equal(ferry_store_read(f->s, get_txn, &x), FERRY_OK);
    assert_int_equal(x.err, FERRY_EVERSION);
    assert_null(x.rec);
    x.key = "default/nofv";
    assert_int_equal(ferry_store_read(f->s, get_txn, &x), FERRY_OK);
    assert_int_equal(x.err, FERRY_EFORMAT);
    x.key = "default/garbage";
    assert_int_equal(ferry_store_read(f->s, get_txn, &x), FERRY_OK);
    assert_int_equal(x.err, FERRY_EFORMAT);
    json_decref(future);
    json_decref(nofv);
}

typedef struct {
    json_t *keys;
} scan_ctx;

static bool collect_key(const char *key, const json_t *rec, void *ctx) {
    (void)rec;
    json_array_append_new(((scan_ctx *)ctx)->keys, json_string(key));
    return true;
}

static ferry_err scan_txn(ferry_store_txn *t, void *ctx) {
    return ferry_store_scan(t, FERRY_DB_APPS, "b/", collect_key, ctx);
}

static void test_scan_prefix(void **state) {
    fixture *f = *state;
    const char *keys[] = {"a/x", "b/zz", "b/a", "b/m", "bb/a", "c/a"};
    json_t *rec = J("{}");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        kv x = {.key = keys[i], .rec = rec};
        assert_int_equal(ferry_store_write(f->s, put_txn, &x), FERRY_OK);
    }
    scan_ctx sc = {.keys = json_array()};
    assert_int_equal(ferry_store_read(f->s, scan_txn, &sc), FERRY_OK);
    json_t *want = J("[\"b/a\",\"b/m\",\"b/zz\"]");
    assert_json_equal(sc.keys, want);
    json_decref(want);
    json_decref(sc.keys);
    json_decref(rec);
}

static ferry_err next_rev_txn(ferry_store_txn *t, void *ctx) {
    return ferry_store_next_rev(t, ctx);
}

static ferry_err rev_txn(ferry_store_txn *t, void *ctx) {
    return ferry_store_rev(t, ctx);
}

static void test_rev_counter_survives_reopen(void **state) {
    fixture *f = *state;
    uint64_t rev = 99;
    assert_int_equal(ferry_store_read(f->s, rev_txn, &rev), FERRY_OK);
    assert_int_equal(rev, 0);
    for (uint64_t i = 1; i <= 3; i++) {
        assert_int_equal(ferry_store_write(f->s, next_rev_txn, &rev), FERRY_OK);
        assert_int_equal(rev, i);
    }
    ferry_store_close(f->s);
    assert_int_equal(ferry_store_open(f->dir, 0, &f->s), FERRY_OK);
    assert_int_equal(ferry_store_read(f->s, rev_txn, &rev), FERRY_OK);
    assert_int_equal(rev, 3);
}

/* ---- outbox ---- */

typedef struct {
    const char *topic;
    const char *payload;
    uint64_t seq;
} entry;

static ferry_err append_txn(ferry_store_txn *t, void *ctx) {
    entry *e = ctx;
    return ferry_store_outbox_append(t, e->topic, (const unsigned char *)e->payload,
                                     strlen(e->payload), &e->seq);
}

static ferry_err delete_txn(ferry_store_txn *t, void *ctx) {
    return ferry_store_outbox_delete(t, *(uint64_t *)ctx);
}

typedef struct {
    uint64_t from;
    json_t *seen; /* [[seq, topic, payload], ...] */
    size_t count;
} outbox_ctx;

static bool collect_entry(uint64_t seq, const char *topic, const unsigned char *payload, size_t len,
                          void *ctx) {
    outbox_ctx *o = ctx;
    json_array_append_new(
        o->seen, json_pack("[I, s, s%]", (json_int_t)seq, topic, (const char *)payload, len));
    return true;
}

static ferry_err outbox_txn(ferry_store_txn *t, void *ctx) {
    outbox_ctx *o = ctx;
    json_array_clear(o->seen);
    ferry_err err = ferry_store_outbox_scan(t, o->from, collect_entry, o);
    return err == FERRY_OK ? ferry_store_outbox_count(t, &o->count) : err;
}

static void test_outbox_order_and_delete(void **state) {
    fixture *f = *state;
    entry e[] = {{"ferry/a/all/apps/x", "one", 0},
                 {"ferry/a/all/apps/y", "two", 0},
                 {"ferry/a/nodes/n1/sync", "three", 0}};
    outbox_ctx o = {.seen = json_array()};

    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ferry_store_write(f->s, append_txn, &e[i]), FERRY_OK);
    assert_true(e[0].seq < e[1].seq && e[1].seq < e[2].seq);
    assert_int_equal(ferry_store_read(f->s, outbox_txn, &o), FERRY_OK);
    json_t *want = json_pack("[[I,s,s],[I,s,s],[I,s,s]]", (json_int_t)e[0].seq, e[0].topic, "one",
                             (json_int_t)e[1].seq, e[1].topic, "two", (json_int_t)e[2].seq,
                             e[2].topic, "three");
    assert_json_equal(o.seen, want);
    json_decref(want);
    assert_int_equal(o.count, 3);

    /* Scans start at "from"; deleting the middle one keeps the order of the rest. */
    o.from = e[1].seq;
    assert_int_equal(ferry_store_read(f->s, outbox_txn, &o), FERRY_OK);
    assert_int_equal(json_array_size(o.seen), 2);
    assert_int_equal(ferry_store_write(f->s, delete_txn, &e[1].seq), FERRY_OK);
    assert_int_equal(ferry_store_write(f->s, delete_txn, &e[1].seq), FERRY_OK); /* repeat ok */
    o.from = 0;
    assert_int_equal(ferry_store_read(f->s, outbox_txn, &o), FERRY_OK);
    assert_int_equal(o.count, 2);
    assert_string_equal(json_string_value(json_array_get(json_array_get(o.seen, 1), 2)), "three");

    /* Emptied, the outbox does not reuse sequence numbers, also across a reopen. */
    assert_int_equal(ferry_store_write(f->s, delete_txn, &e[0].seq), FERRY_OK);
    assert_int_equal(ferry_store_write(f->s, delete_txn, &e[2].seq), FERRY_OK);
    ferry_store_close(f->s);
    assert_int_equal(ferry_store_open(f->dir, 0, &f->s), FERRY_OK);
    entry again = {"ferry/a/all/apps/z", "four", 0};
    assert_int_equal(ferry_store_write(f->s, append_txn, &again), FERRY_OK);
    assert_true(again.seq > e[2].seq);
    json_decref(o.seen);
}

/* A store opened with a tiny map grows it when a write does not fit, and keeps what was written. */
static void test_map_grows(void **state) {
    fixture *f = *state;
    char key[32];
    json_t *rec = json_pack("{s:s}", "blob", "");
    char *big = malloc(64 * 1024);
    memset(big, 'x', 64 * 1024 - 1);
    big[64 * 1024 - 1] = '\0';
    json_object_set_new(rec, "blob", json_string(big));
    free(big);

    ferry_store_close(f->s);
    rm_dir(f->dir);
    f->dir = tmp_dir();
    assert_int_equal(ferry_store_open(f->dir, 256 * 1024, &f->s), FERRY_OK);
    size_t initial = ferry_store_mapsize(f->s);
    for (int i = 0; i < 64; i++) { /* 4 MiB of records */
        snprintf(key, sizeof(key), "default/app-%02d", i);
        kv x = {.key = key, .rec = rec};
        assert_int_equal(ferry_store_write(f->s, put_txn, &x), FERRY_OK);
    }
    assert_true(ferry_store_mapsize(f->s) > initial);
    kv x = {.key = "default/app-00"};
    assert_int_equal(ferry_store_read(f->s, get_txn, &x), FERRY_OK);
    assert_int_equal(x.err, FERRY_OK);
    assert_json_equal(x.rec, rec);
    json_decref(x.rec);
    json_decref(rec);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_version_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rev_counter_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_order_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_grows, setup, teardown),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
