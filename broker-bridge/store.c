/* broker-bridge store: the bridge's databases on the daemons' LMDB layer (daemon/kv.h): records
 * with a format version, the rev counter and the outbox (see store.h; the bytes of an outbox
 * entry are outbox.c's). */
#include "store.h"

#include <string.h>

#include "ferry/record.h"
#include "ferry/topics.h"
#include "kv.h"
#include "outbox.h"

static const char *const db_names[FERRY_DB_COUNT] = {
    "meta", "apps", "nodes", "status", "nodestate", "outbox", "configs", "enroll", "tokens"};

struct ferry_store {
    ferry_kv *kv;
    ferry_store_watch_fn watch;
    void *watch_ctx;
};

struct ferry_store_txn {
    ferry_kv_txn *kv;
    ferry_store *s;
};

static void put_be64(unsigned char b[8], uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char b[8]) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

/* ---- record codecs (store.h, "internal") ---- */

ferry_err ferry_store__decode_record(const void *buf, size_t len, ferry_db db, const char *key,
                                     json_t **out) {
    long long found = 0;
    ferry_err err = ferry_record_decode(buf, len, FERRY_STORE_FV, out, &found);
    if (err == FERRY_EVERSION)
        LOG_ERROR("store: record '%s' in '%s' has format version %lld, this build reads only %d "
                  "(was the data written by a newer broker-bridge?)",
                  key, db_names[db], found, FERRY_STORE_FV);
    else if (err != FERRY_OK)
        LOG_ERROR("store: record '%s' in '%s' is not a msgpack map with a format version 'fv' "
                  "(%s); it is skipped until rewritten",
                  key, db_names[db], ferry_strerror(err));
    return err;
}

ferry_err ferry_store__encode_record(const json_t *rec, unsigned char **buf, size_t *len) {
    return ferry_record_encode(rec, FERRY_STORE_FV, buf, len);
}

/* ---- environment ---- */

ferry_err ferry_store_open(const char *dir, size_t mapsize, ferry_store **out) {
    ferry_store *s = ferry_calloc(1, sizeof(*s));
    ferry_err err;

    *out = NULL;
    if (s == NULL)
        return FERRY_ENOMEM;
    err = ferry_kv_open(dir, db_names, FERRY_DB_COUNT, mapsize != 0 ? mapsize : FERRY_STORE_MAPSIZE,
                        "store", &s->kv);
    if (err != FERRY_OK) {
        ferry_free(s);
        return err;
    }
    *out = s;
    return FERRY_OK;
}

void ferry_store_close(ferry_store *s) {
    if (s == NULL)
        return;
    ferry_kv_close(s->kv);
    ferry_free(s);
}

size_t ferry_store_mapsize(const ferry_store *s) {
    return ferry_kv_mapsize(s->kv);
}

void ferry_store_usage(const ferry_store *s, size_t *map, size_t *used) {
    ferry_kv_usage(s->kv, map, used);
}

void ferry_store_watch(ferry_store *s, ferry_store_watch_fn fn, void *ctx) {
    s->watch = fn;
    s->watch_ctx = ctx;
}

typedef struct {
    ferry_store *s;
    ferry_store_fn fn;
    void *ctx;
} txn_call;

static ferry_err run_fn(ferry_kv_txn *kt, void *ctx) {
    txn_call *c = ctx;
    ferry_store_txn t = {kt, c->s};
    return c->fn(&t, c->ctx);
}

ferry_err ferry_store_read(ferry_store *s, ferry_store_fn fn, void *ctx) {
    txn_call c = {s, fn, ctx};
    return ferry_kv_read(s->kv, run_fn, &c);
}

/* A write's body: the watcher hears first that an attempt begins (LMDB's layer runs it again
 * after growing a full map). */
static ferry_err run_write_fn(ferry_kv_txn *kt, void *ctx) {
    txn_call *c = ctx;
    ferry_store_txn t = {kt, c->s};
    ferry_err err = FERRY_OK;
    if (c->s->watch != NULL)
        err = c->s->watch(FERRY_DB_COUNT, NULL, NULL, c->s->watch_ctx);
    return err == FERRY_OK ? c->fn(&t, c->ctx) : err;
}

ferry_err ferry_store_write(ferry_store *s, ferry_store_fn fn, void *ctx) {
    txn_call c = {s, fn, ctx};
    return ferry_kv_write(s->kv, run_write_fn, &c);
}

/* ---- records ---- */

ferry_err ferry_store_get(ferry_store_txn *t, ferry_db db, const char *key, json_t **out) {
    const void *val;
    size_t vlen;
    ferry_err err = ferry_kv_get(t->kv, (unsigned)db, key, strlen(key), &val, &vlen);
    *out = NULL;
    return err == FERRY_OK ? ferry_store__decode_record(val, vlen, db, key, out) : err;
}

ferry_err ferry_store_put(ferry_store_txn *t, ferry_db db, const char *key, const json_t *rec) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_store__encode_record(rec, &buf, &len);

    if (err == FERRY_OK)
        err = ferry_kv_put(t->kv, (unsigned)db, key, strlen(key), buf, len, false);
    ferry_free(buf);
    if (err == FERRY_OK && t->s->watch != NULL)
        err = t->s->watch(db, key, rec, t->s->watch_ctx);
    return err;
}

ferry_err ferry_store_del(ferry_store_txn *t, ferry_db db, const char *key) {
    ferry_err err = ferry_kv_del(t->kv, (unsigned)db, key, strlen(key));
    if (err == FERRY_OK && t->s->watch != NULL)
        err = t->s->watch(db, key, NULL, t->s->watch_ctx);
    return err;
}

typedef struct {
    ferry_db db;
    ferry_store_each_fn fn;
    void *ctx;
    ferry_err err;
} scan_ctx;

static bool scan_each(const void *key, size_t klen, const void *val, size_t vlen, void *ctx) {
    scan_ctx *sc = ctx;
    char k[512]; /* LMDB keys are at most 511 bytes */
    json_t *rec = NULL;

    if (klen >= sizeof(k)) {
        sc->err = FERRY_EFORMAT;
        return false;
    }
    memcpy(k, key, klen);
    k[klen] = '\0';
    if ((sc->err = ferry_store__decode_record(val, vlen, sc->db, k, &rec)) != FERRY_OK)
        return false;
    bool more = sc->fn(k, rec, sc->ctx);
    json_decref(rec);
    return more;
}

ferry_err ferry_store_scan(ferry_store_txn *t, ferry_db db, const char *prefix,
                           ferry_store_each_fn fn, void *ctx) {
    scan_ctx sc = {db, fn, ctx, FERRY_OK};
    size_t plen = strlen(prefix);
    ferry_err err = ferry_kv_scan(t->kv, (unsigned)db, prefix, plen, plen, scan_each, &sc);
    return err != FERRY_OK ? err : sc.err;
}

/* ---- counters ---- */

static ferry_err counter_get(ferry_store_txn *t, const char *name, uint64_t *value) {
    const void *val;
    size_t vlen;
    ferry_err err = ferry_kv_get(t->kv, FERRY_DB_META, name, strlen(name), &val, &vlen);
    *value = 0;
    if (err == FERRY_ENOTFOUND)
        return FERRY_OK;
    if (err != FERRY_OK)
        return err;
    if (vlen != 8) {
        LOG_ERROR("store: counter '%s' has %zu bytes instead of 8; the store is corrupt", name,
                  vlen);
        return FERRY_EFORMAT;
    }
    *value = get_be64(val);
    return FERRY_OK;
}

static ferry_err counter_next(ferry_store_txn *t, const char *name, uint64_t *value) {
    unsigned char b[8];
    uint64_t cur;
    ferry_err err = counter_get(t, name, &cur);
    if (err != FERRY_OK)
        return err;
    put_be64(b, cur + 1);
    if ((err = ferry_kv_put(t->kv, FERRY_DB_META, name, strlen(name), b, 8, false)) != FERRY_OK)
        return err;
    *value = cur + 1;
    return FERRY_OK;
}

ferry_err ferry_store_rev(ferry_store_txn *t, uint64_t *rev) {
    return counter_get(t, "rev", rev);
}

ferry_err ferry_store_next_rev(ferry_store_txn *t, uint64_t *rev) {
    return counter_next(t, "rev", rev);
}

/* ---- outbox ---- */

ferry_err ferry_store_outbox_append(ferry_store_txn *t, const char *topic,
                                    const unsigned char *payload, size_t len, uint64_t *seq) {
    unsigned char kb[8], *buf = NULL;
    size_t blen = 0;
    ferry_err err = ferry_outbox__encode(topic, payload, len, &buf, &blen);

    if (err == FERRY_OK && (err = counter_next(t, "outseq", seq)) == FERRY_OK) {
        put_be64(kb, *seq);
        err = ferry_kv_put(t->kv, FERRY_DB_OUTBOX, kb, 8, buf, blen, true);
    }
    ferry_free(buf);
    return err;
}

ferry_err ferry_store_outbox_delete(ferry_store_txn *t, uint64_t seq) {
    unsigned char kb[8];
    put_be64(kb, seq);
    ferry_err err = ferry_kv_del(t->kv, FERRY_DB_OUTBOX, kb, 8);
    return err == FERRY_ENOTFOUND ? FERRY_OK : err;
}

typedef struct {
    ferry_store_outbox_fn fn;
    void *ctx;
} outbox_scan_ctx;

static bool outbox_each(const void *key, size_t klen, const void *val, size_t vlen, void *ctx) {
    outbox_scan_ctx *sc = ctx;
    char topic[FERRY_TOPIC_MAX];
    const char *tp;
    const unsigned char *payload;
    size_t tlen, plen;

    if (klen != 8) {
        LOG_ERROR("store: outbox key of %zu bytes instead of 8; entry skipped", klen);
        return true;
    }
    uint64_t seq = get_be64(key);
    if (ferry_outbox__decode(val, vlen, seq, &tp, &tlen, &payload, &plen) != FERRY_OK)
        return true; /* logged */
    memcpy(topic, tp, tlen);
    topic[tlen] = '\0';
    return sc->fn(seq, topic, payload, plen, sc->ctx);
}

ferry_err ferry_store_outbox_scan(ferry_store_txn *t, uint64_t from, ferry_store_outbox_fn fn,
                                  void *ctx) {
    unsigned char kb[8];
    outbox_scan_ctx sc = {fn, ctx};
    put_be64(kb, from);
    return ferry_kv_scan(t->kv, FERRY_DB_OUTBOX, kb, 8, 0, outbox_each, &sc);
}

ferry_err ferry_store_outbox_count(ferry_store_txn *t, size_t *n) {
    return ferry_kv_count(t->kv, FERRY_DB_OUTBOX, n);
}
