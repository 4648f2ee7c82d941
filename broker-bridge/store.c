/* broker-bridge store: LMDB environment, msgpack records with a format version, the rev counter
 * and the outbox (see store.h; the bytes of an outbox entry are outbox.c's). */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/codec.h"
#include "ferry/topics.h"
#include "outbox.h"

#define MAX_GROWTHS 16 /* doublings tried for one write before giving up */

static const char *const db_names[FERRY_DB_COUNT] = {"meta",      "apps",   "nodes",  "status",
                                                     "nodestate", "outbox", "configs"};

struct ferry_store {
    MDB_env *env;
    MDB_dbi dbi[FERRY_DB_COUNT];
    size_t mapsize;
};

struct ferry_store_txn {
    ferry_store *s;
    MDB_txn *txn;
    bool map_full; /* a put failed with MDB_MAP_FULL: the write is redone on a larger map */
};

/* ---- helpers --------------------------------------------------------------------------------- */

static ferry_err mdb_fail(ferry_store_txn *t, int rc, const char *what, ferry_db db,
                          const char *key) {
    if (rc == MDB_MAP_FULL && t != NULL) {
        t->map_full = true;
        LOG_DEBUG("store: map full during %s in '%s'; the write is retried on a larger map", what,
                  db_names[db]);
    } else {
        LOG_ERROR("store: %s in '%s' key '%s' failed: %s", what, db_names[db], key ? key : "",
                  mdb_strerror(rc));
    }
    return FERRY_ESTORE;
}

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

static int mkdir_p(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path))
        return ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return errno;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

/* ---- record codecs (store.h, "internal") ----------------------------------------------------- */

ferry_err ferry_store__decode_record(const void *buf, size_t len, ferry_db db, const char *key,
                                     json_t **out) {
    json_t *rec = NULL;
    ferry_err err = ferry_msgpack_decode(buf, len, &rec);
    *out = NULL;
    if (err != FERRY_OK) {
        LOG_ERROR("store: record '%s' in '%s' is not valid msgpack (%s); it is skipped until "
                  "rewritten",
                  key, db_names[db], ferry_strerror(err));
        err = FERRY_EFORMAT;
        goto out;
    }
    json_t *fv = json_object_get(rec, "fv");
    if (!json_is_object(rec) || !json_is_integer(fv)) {
        LOG_ERROR("store: record '%s' in '%s' has no format version 'fv'", key, db_names[db]);
        err = FERRY_EFORMAT;
        goto out;
    }
    if (json_integer_value(fv) != FERRY_STORE_FV) {
        LOG_ERROR("store: record '%s' in '%s' has format version %lld, this build reads only %d "
                  "(was the data written by a newer broker-bridge?)",
                  key, db_names[db], (long long)json_integer_value(fv), FERRY_STORE_FV);
        err = FERRY_EVERSION;
        goto out;
    }
    json_object_del(rec, "fv");
    *out = rec;
    rec = NULL;
out:
    json_decref(rec);
    return err;
}

ferry_err ferry_store__encode_record(const json_t *rec, unsigned char **buf, size_t *len) {
    ferry_err err = FERRY_ENOMEM;
    json_t *copy = json_copy((json_t *)rec); /* shallow: only adds "fv" */

    *buf = NULL;
    *len = 0;
    if (copy == NULL || !json_is_object(copy)) {
        err = copy == NULL ? FERRY_ENOMEM : FERRY_EINVAL;
        goto out;
    }
    if (json_object_set_new(copy, "fv", json_integer(FERRY_STORE_FV)) != 0)
        goto out;
    err = ferry_msgpack_encode(copy, buf, len);
out:
    json_decref(copy);
    return err;
}

/* ---- environment ----------------------------------------------------------------------------- */

ferry_err ferry_store_open(const char *dir, size_t mapsize, ferry_store **out) {
    ferry_err err = FERRY_ESTORE;
    ferry_store *s = NULL;
    MDB_txn *txn = NULL;
    int rc;

    *out = NULL;
    if (mapsize == 0)
        mapsize = FERRY_STORE_MAPSIZE;
    if ((rc = mkdir_p(dir)) != 0) {
        LOG_ERROR("store: cannot create data directory %s: %s", dir, strerror(rc));
        goto fail;
    }
    s = ferry_calloc(1, sizeof(*s));
    if (s == NULL) {
        err = FERRY_ENOMEM;
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->env, FERRY_DB_COUNT)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, mapsize)) != 0) {
        LOG_ERROR("store: cannot set up LMDB environment: %s", mdb_strerror(rc));
        goto fail;
    }
    if ((rc = mdb_env_open(s->env, dir, 0, 0600)) != 0) {
        LOG_ERROR("store: cannot open LMDB environment in %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->mapsize = info.me_mapsize;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail_rc;
    for (int i = 0; i < FERRY_DB_COUNT; i++) {
        if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i])) != 0)
            goto fail_rc;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail_rc;
    LOG_DEBUG("store: opened %s (map %zu MiB)", dir, s->mapsize >> 20);
    *out = s;
    return FERRY_OK;
fail_rc:
    LOG_ERROR("store: cannot open the databases in %s: %s", dir, mdb_strerror(rc));
fail:
    if (txn != NULL)
        mdb_txn_abort(txn);
    ferry_store_close(s);
    return err;
}

void ferry_store_close(ferry_store *s) {
    if (s == NULL)
        return;
    if (s->env != NULL)
        mdb_env_close(s->env);
    ferry_free(s);
}

size_t ferry_store_mapsize(const ferry_store *s) {
    return s->mapsize;
}

static ferry_err begin(ferry_store *s, unsigned flags, MDB_txn **txn) {
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) { /* another process grew the map: adopt its size */
        mdb_env_set_mapsize(s->env, 0);
        rc = mdb_txn_begin(s->env, NULL, flags, txn);
    }
    if (rc != 0) {
        LOG_ERROR("store: cannot begin a transaction: %s", mdb_strerror(rc));
        return FERRY_ESTORE;
    }
    return FERRY_OK;
}

ferry_err ferry_store_read(ferry_store *s, ferry_store_fn fn, void *ctx) {
    ferry_store_txn t = {.s = s};
    ferry_err err = begin(s, MDB_RDONLY, &t.txn);
    if (err != FERRY_OK)
        return err;
    err = fn(&t, ctx);
    mdb_txn_abort(t.txn);
    return err;
}

/* MDB_MAP_FULL leaves the transaction unusable: abort it, grow the map while no transaction is
 * open (the caller serialises all store access, see store.h) and redo the whole write. */
ferry_err ferry_store_write(ferry_store *s, ferry_store_fn fn, void *ctx) {
    for (int attempt = 0;; attempt++) {
        ferry_store_txn t = {.s = s};
        ferry_err err = begin(s, 0, &t.txn);
        if (err != FERRY_OK)
            return err;
        err = fn(&t, ctx);
        if (err == FERRY_OK) {
            int rc = mdb_txn_commit(t.txn);
            if (rc == MDB_MAP_FULL) {
                t.map_full = true;
            } else if (rc != 0) {
                LOG_ERROR("store: commit failed: %s; nothing of this change was stored",
                          mdb_strerror(rc));
                return FERRY_ESTORE;
            } else {
                return FERRY_OK;
            }
        } else {
            mdb_txn_abort(t.txn);
        }
        if (!t.map_full)
            return err;
        if (attempt >= MAX_GROWTHS) {
            LOG_ERROR("store: map still full at %zu MiB; write refused", s->mapsize >> 20);
            return FERRY_ESTORE;
        }
        size_t grown = s->mapsize * 2;
        int rc = mdb_env_set_mapsize(s->env, grown);
        if (rc != 0) {
            LOG_ERROR("store: cannot grow the map to %zu MiB: %s", grown >> 20, mdb_strerror(rc));
            return FERRY_ESTORE;
        }
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        s->mapsize = info.me_mapsize;
        LOG_INFO("store: map grown to %zu KiB", s->mapsize >> 10);
    }
}

/* ---- records --------------------------------------------------------------------------------- */

static MDB_val key_val(const char *key) {
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key};
    return k;
}

ferry_err ferry_store_get(ferry_store_txn *t, ferry_db db, const char *key, json_t **out) {
    MDB_val k = key_val(key), v;
    *out = NULL;
    int rc = mdb_get(t->txn, t->s->dbi[db], &k, &v);
    if (rc == MDB_NOTFOUND)
        return FERRY_ENOTFOUND;
    if (rc != 0)
        return mdb_fail(t, rc, "get", db, key);
    return ferry_store__decode_record(v.mv_data, v.mv_size, db, key, out);
}

ferry_err ferry_store_put(ferry_store_txn *t, ferry_db db, const char *key, const json_t *rec) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_store__encode_record(rec, &buf, &len);

    if (err == FERRY_OK) {
        MDB_val k = key_val(key), v = {.mv_size = len, .mv_data = buf};
        int rc = mdb_put(t->txn, t->s->dbi[db], &k, &v, 0);
        err = rc == 0 ? FERRY_OK : mdb_fail(t, rc, "put", db, key);
    }
    ferry_free(buf);
    return err;
}

ferry_err ferry_store_del(ferry_store_txn *t, ferry_db db, const char *key) {
    MDB_val k = key_val(key);
    int rc = mdb_del(t->txn, t->s->dbi[db], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return FERRY_ENOTFOUND;
    return rc == 0 ? FERRY_OK : mdb_fail(t, rc, "delete", db, key);
}

ferry_err ferry_store_scan(ferry_store_txn *t, ferry_db db, const char *prefix,
                           ferry_store_each_fn fn, void *ctx) {
    ferry_err err = FERRY_OK;
    MDB_cursor *cur = NULL;
    json_t *rec = NULL;
    size_t plen = strlen(prefix);
    char key[512];

    int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
    if (rc != 0)
        return mdb_fail(t, rc, "cursor open", db, prefix);
    MDB_val k = key_val(prefix), v;
    MDB_cursor_op op = plen > 0 ? MDB_SET_RANGE : MDB_FIRST;
    for (; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (k.mv_size >= sizeof(key)) { /* LMDB keys are at most 511 bytes */
            err = FERRY_EFORMAT;
            goto out;
        }
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        if ((err = ferry_store__decode_record(v.mv_data, v.mv_size, db, key, &rec)) != FERRY_OK)
            goto out;
        bool more = fn(key, rec, ctx);
        json_decref(rec);
        rec = NULL;
        if (!more)
            goto out;
    }
    if (rc != MDB_NOTFOUND && rc != 0)
        err = mdb_fail(t, rc, "scan", db, prefix);
out:
    json_decref(rec);
    mdb_cursor_close(cur);
    return err;
}

/* ---- counters -------------------------------------------------------------------------------- */

static ferry_err counter_get(ferry_store_txn *t, const char *name, uint64_t *value) {
    MDB_val k = key_val(name), v;
    *value = 0;
    int rc = mdb_get(t->txn, t->s->dbi[FERRY_DB_META], &k, &v);
    if (rc == MDB_NOTFOUND)
        return FERRY_OK;
    if (rc != 0)
        return mdb_fail(t, rc, "get", FERRY_DB_META, name);
    if (v.mv_size != 8) {
        LOG_ERROR("store: counter '%s' has %zu bytes instead of 8; the store is corrupt", name,
                  v.mv_size);
        return FERRY_EFORMAT;
    }
    *value = get_be64(v.mv_data);
    return FERRY_OK;
}

static ferry_err counter_next(ferry_store_txn *t, const char *name, uint64_t *value) {
    unsigned char b[8];
    uint64_t cur;
    ferry_err err = counter_get(t, name, &cur);
    if (err != FERRY_OK)
        return err;
    put_be64(b, cur + 1);
    MDB_val k = key_val(name), v = {.mv_size = 8, .mv_data = b};
    int rc = mdb_put(t->txn, t->s->dbi[FERRY_DB_META], &k, &v, 0);
    if (rc != 0)
        return mdb_fail(t, rc, "put", FERRY_DB_META, name);
    *value = cur + 1;
    return FERRY_OK;
}

ferry_err ferry_store_rev(ferry_store_txn *t, uint64_t *rev) {
    return counter_get(t, "rev", rev);
}

ferry_err ferry_store_next_rev(ferry_store_txn *t, uint64_t *rev) {
    return counter_next(t, "rev", rev);
}

/* ---- outbox ---------------------------------------------------------------------------------- */

ferry_err ferry_store_outbox_append(ferry_store_txn *t, const char *topic,
                                    const unsigned char *payload, size_t len, uint64_t *seq) {
    unsigned char kb[8], *buf = NULL;
    size_t blen = 0;
    ferry_err err = ferry_outbox__encode(topic, payload, len, &buf, &blen);

    if (err != FERRY_OK || (err = counter_next(t, "outseq", seq)) != FERRY_OK)
        goto out;
    put_be64(kb, *seq);
    MDB_val k = {.mv_size = 8, .mv_data = kb}, v = {.mv_size = blen, .mv_data = buf};
    int rc = mdb_put(t->txn, t->s->dbi[FERRY_DB_OUTBOX], &k, &v, MDB_APPEND);
    err = rc == 0 ? FERRY_OK : mdb_fail(t, rc, "append", FERRY_DB_OUTBOX, topic);
out:
    ferry_free(buf);
    return err;
}

ferry_err ferry_store_outbox_delete(ferry_store_txn *t, uint64_t seq) {
    unsigned char kb[8];
    put_be64(kb, seq);
    MDB_val k = {.mv_size = 8, .mv_data = kb};
    int rc = mdb_del(t->txn, t->s->dbi[FERRY_DB_OUTBOX], &k, NULL);
    if (rc == 0 || rc == MDB_NOTFOUND)
        return FERRY_OK;
    return mdb_fail(t, rc, "delete", FERRY_DB_OUTBOX, "");
}

ferry_err ferry_store_outbox_scan(ferry_store_txn *t, uint64_t from, ferry_store_outbox_fn fn,
                                  void *ctx) {
    ferry_err err = FERRY_OK;
    MDB_cursor *cur = NULL;
    unsigned char kb[8];
    char topic[FERRY_TOPIC_MAX];

    int rc = mdb_cursor_open(t->txn, t->s->dbi[FERRY_DB_OUTBOX], &cur);
    if (rc != 0)
        return mdb_fail(t, rc, "cursor open", FERRY_DB_OUTBOX, "");
    put_be64(kb, from);
    MDB_val k = {.mv_size = 8, .mv_data = kb}, v;
    for (MDB_cursor_op op = MDB_SET_RANGE; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0;
         op = MDB_NEXT) {
        const char *tp;
        const unsigned char *payload;
        size_t tlen, plen;
        if (k.mv_size != 8) {
            LOG_ERROR("store: outbox key of %zu bytes instead of 8; entry skipped", k.mv_size);
            continue;
        }
        uint64_t seq = get_be64(k.mv_data);
        if (ferry_outbox__decode(v.mv_data, v.mv_size, seq, &tp, &tlen, &payload, &plen) !=
            FERRY_OK)
            continue; /* logged */
        memcpy(topic, tp, tlen);
        topic[tlen] = '\0';
        if (!fn(seq, topic, payload, plen, ctx))
            goto out;
    }
    if (rc != MDB_NOTFOUND)
        err = mdb_fail(t, rc, "scan", FERRY_DB_OUTBOX, "");
out:
    mdb_cursor_close(cur);
    return err;
}

ferry_err ferry_store_outbox_count(ferry_store_txn *t, size_t *n) {
    MDB_stat st;
    int rc = mdb_stat(t->txn, t->s->dbi[FERRY_DB_OUTBOX], &st);
    *n = 0;
    if (rc != 0)
        return mdb_fail(t, rc, "stat", FERRY_DB_OUTBOX, "");
    *n = st.ms_entries;
    return FERRY_OK;
}
