/* The LMDB layer of the daemons' stores (see kv.h). */
#include "kv.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/record.h"

#define DEFAULT_MAPSIZE ((size_t)64 << 20)
#define MAX_GROWTHS 16 /* doublings tried for one write before giving up */
#define MAX_DBS 16

struct ferry_kv {
    MDB_env *env;
    MDB_dbi dbi[MAX_DBS];
    const char *dbs[MAX_DBS]; /* names, borrowed from the caller's static table */
    unsigned ndbs;
    char name[48];
    /* Shared by every transaction, exclusive while the map grows (kv.h, "Threads"). */
    pthread_rwlock_t grow;
    size_t mapsize; /* under grow */
};

struct ferry_kv_txn {
    ferry_kv *kv;
    MDB_txn *txn;
    bool map_full; /* a put failed with MDB_MAP_FULL: the write is redone on a larger map */
};

static ferry_err fail(ferry_kv_txn *t, int rc, const char *what, unsigned db) {
    if (rc == MDB_MAP_FULL) {
        t->map_full = true;
        LOG_DEBUG("%s: map full during %s in '%s'; the write is retried on a larger map",
                  t->kv->name, what, t->kv->dbs[db]);
    } else {
        LOG_ERROR("%s: %s in '%s' failed: %s", t->kv->name, what, t->kv->dbs[db], mdb_strerror(rc));
    }
    return FERRY_ESTORE;
}

static int mkdir_p(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path))
        return ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p != '\0'; p++) {
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

static size_t env_mapsize(MDB_env *env) {
    MDB_envinfo info;
    mdb_env_info(env, &info);
    return info.me_mapsize;
}

ferry_err ferry_kv_open(const char *dir, const char *const *dbs, unsigned ndbs, size_t mapsize,
                        const char *name, ferry_kv **out) {
    ferry_kv *kv = NULL;
    MDB_txn *txn = NULL;
    int rc;

    *out = NULL;
    if (ndbs == 0 || ndbs > MAX_DBS)
        return FERRY_EINVAL;
    if ((rc = mkdir_p(dir)) != 0) {
        LOG_ERROR("%s: cannot create the folder %s: %s", name, dir, strerror(rc));
        return FERRY_EIO;
    }
    if ((kv = ferry_calloc(1, sizeof(*kv))) == NULL)
        return FERRY_ENOMEM;
    snprintf(kv->name, sizeof(kv->name), "%s", name);
    kv->ndbs = ndbs;
    memcpy(kv->dbs, dbs, ndbs * sizeof(*dbs));
    if (pthread_rwlock_init(&kv->grow, NULL) != 0) {
        ferry_free(kv);
        return FERRY_ENOMEM;
    }
    if ((rc = mdb_env_create(&kv->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(kv->env, (MDB_dbi)ndbs)) != 0 ||
        (rc = mdb_env_set_mapsize(kv->env, mapsize != 0 ? mapsize : DEFAULT_MAPSIZE)) != 0 ||
        /* MDB_NOTLS: read transactions run on several threads (the reconciler's workers). */
        (rc = mdb_env_open(kv->env, dir, MDB_NOTLS, 0600)) != 0)
        goto fail;
    /* An existing file larger than the size asked for keeps its size. */
    kv->mapsize = env_mapsize(kv->env);
    if ((rc = mdb_txn_begin(kv->env, NULL, 0, &txn)) != 0)
        goto fail;
    for (unsigned i = 0; i < ndbs; i++)
        if ((rc = mdb_dbi_open(txn, dbs[i], MDB_CREATE, &kv->dbi[i])) != 0)
            goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    LOG_DEBUG("%s: opened %s (map %zu MiB)", name, dir, kv->mapsize >> 20);
    *out = kv;
    return FERRY_OK;
fail:
    LOG_ERROR("%s: cannot open LMDB in %s: %s", name, dir, mdb_strerror(rc));
    if (txn != NULL)
        mdb_txn_abort(txn);
    ferry_kv_close(kv);
    return FERRY_ESTORE;
}

void ferry_kv_close(ferry_kv *kv) {
    if (kv == NULL)
        return;
    if (kv->env != NULL)
        mdb_env_close(kv->env);
    pthread_rwlock_destroy(&kv->grow);
    ferry_free(kv);
}

size_t ferry_kv_mapsize(ferry_kv *kv) {
    pthread_rwlock_rdlock(&kv->grow);
    size_t n = kv->mapsize;
    pthread_rwlock_unlock(&kv->grow);
    return n;
}

void ferry_kv_usage(ferry_kv *kv, size_t *map, size_t *used) {
    MDB_envinfo info;
    MDB_stat st;
    pthread_rwlock_rdlock(&kv->grow);
    *map = kv->mapsize;
    *used = 0;
    if (mdb_env_info(kv->env, &info) == 0 && mdb_env_stat(kv->env, &st) == 0)
        *used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    pthread_rwlock_unlock(&kv->grow);
}

static ferry_err begin(ferry_kv *kv, unsigned flags, MDB_txn **txn) {
    int rc = mdb_txn_begin(kv->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) { /* another process grew the map: adopt its size */
        mdb_env_set_mapsize(kv->env, 0);
        rc = mdb_txn_begin(kv->env, NULL, flags, txn);
    }
    if (rc != 0) {
        LOG_ERROR("%s: cannot begin a transaction: %s", kv->name, mdb_strerror(rc));
        return FERRY_ESTORE;
    }
    return FERRY_OK;
}

ferry_err ferry_kv_read(ferry_kv *kv, ferry_kv_fn fn, void *ctx) {
    ferry_kv_txn t = {.kv = kv};
    pthread_rwlock_rdlock(&kv->grow);
    ferry_err err = begin(kv, MDB_RDONLY, &t.txn);
    if (err == FERRY_OK) {
        err = fn(&t, ctx);
        mdb_txn_abort(t.txn);
    }
    pthread_rwlock_unlock(&kv->grow);
    return err;
}

/* Double the map (from the size `seen` when the write failed; another thread may have grown
 * it meanwhile). Called without a transaction or the shared lock. */
static ferry_err grow(ferry_kv *kv, size_t seen) {
    ferry_err err = FERRY_OK;
    pthread_rwlock_wrlock(&kv->grow);
    if (kv->mapsize == seen) {
        size_t grown = seen * 2;
        int rc = mdb_env_set_mapsize(kv->env, grown);
        if (rc != 0) {
            LOG_ERROR("%s: cannot grow the map to %zu MiB: %s", kv->name, grown >> 20,
                      mdb_strerror(rc));
            err = FERRY_ESTORE;
        } else {
            kv->mapsize = env_mapsize(kv->env);
            LOG_INFO("%s: map grown to %zu MiB", kv->name, kv->mapsize >> 20);
        }
    }
    pthread_rwlock_unlock(&kv->grow);
    return err;
}

/* MDB_MAP_FULL leaves the transaction unusable: abort it, grow the map while no transaction is
 * open, and redo the whole write. */
ferry_err ferry_kv_write(ferry_kv *kv, ferry_kv_fn fn, void *ctx) {
    for (int attempt = 0;; attempt++) {
        ferry_kv_txn t = {.kv = kv};
        pthread_rwlock_rdlock(&kv->grow);
        size_t seen = kv->mapsize;
        ferry_err err = begin(kv, 0, &t.txn);
        if (err != FERRY_OK) {
            pthread_rwlock_unlock(&kv->grow);
            return err;
        }
        err = fn(&t, ctx);
        if (err == FERRY_OK) {
            int rc = mdb_txn_commit(t.txn);
            if (rc == MDB_MAP_FULL) {
                t.map_full = true;
                err = FERRY_ESTORE;
            } else if (rc != 0) {
                LOG_ERROR("%s: commit failed: %s; nothing of this change was stored", kv->name,
                          mdb_strerror(rc));
                err = FERRY_ESTORE;
            }
        } else {
            mdb_txn_abort(t.txn);
        }
        pthread_rwlock_unlock(&kv->grow);
        if (!t.map_full)
            return err;
        if (attempt >= MAX_GROWTHS) {
            LOG_ERROR("%s: map still full at %zu MiB; write refused", kv->name, seen >> 20);
            return FERRY_ESTORE;
        }
        if ((err = grow(kv, seen)) != FERRY_OK)
            return err;
    }
}

static ferry_err check_key(ferry_kv_txn *t, unsigned db, size_t klen) {
    if (db >= t->kv->ndbs || klen == 0 || klen > 511) {
        LOG_ERROR("%s: bad key of %zu bytes for database %u", t->kv->name, klen, db);
        return FERRY_EINVAL;
    }
    return FERRY_OK;
}

ferry_err ferry_kv_get(ferry_kv_txn *t, unsigned db, const void *key, size_t klen, const void **val,
                       size_t *vlen) {
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    ferry_err err = check_key(t, db, klen);
    *val = NULL;
    *vlen = 0;
    if (err != FERRY_OK)
        return err;
    int rc = mdb_get(t->txn, t->kv->dbi[db], &k, &v);
    if (rc == MDB_NOTFOUND)
        return FERRY_ENOTFOUND;
    if (rc != 0)
        return fail(t, rc, "get", db);
    *val = v.mv_data;
    *vlen = v.mv_size;
    return FERRY_OK;
}

ferry_err ferry_kv_put(ferry_kv_txn *t, unsigned db, const void *key, size_t klen, const void *val,
                       size_t vlen, bool append) {
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v = {vlen, (void *)val};
    ferry_err err = check_key(t, db, klen);
    if (err != FERRY_OK)
        return err;
    int rc = mdb_put(t->txn, t->kv->dbi[db], &k, &v, append ? MDB_APPEND : 0);
    return rc == 0 ? FERRY_OK : fail(t, rc, "put", db);
}

ferry_err ferry_kv_del(ferry_kv_txn *t, unsigned db, const void *key, size_t klen) {
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    ferry_err err = check_key(t, db, klen);
    if (err != FERRY_OK)
        return err;
    int rc = mdb_del(t->txn, t->kv->dbi[db], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return FERRY_ENOTFOUND;
    return rc == 0 ? FERRY_OK : fail(t, rc, "delete", db);
}

ferry_err ferry_kv_scan(ferry_kv_txn *t, unsigned db, const void *from, size_t flen,
                        size_t prefix_len, ferry_kv_each_fn fn, void *ctx) {
    MDB_cursor *cur = NULL;
    MDB_val k = {.mv_size = flen, .mv_data = (void *)from}, v;
    ferry_err err = FERRY_OK;
    int rc;

    if (db >= t->kv->ndbs || prefix_len > flen)
        return FERRY_EINVAL;
    if ((rc = mdb_cursor_open(t->txn, t->kv->dbi[db], &cur)) != 0)
        return fail(t, rc, "cursor open", db);
    for (MDB_cursor_op op = flen > 0 ? MDB_SET_RANGE : MDB_FIRST;
         (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        if (prefix_len > 0 && (k.mv_size < prefix_len || memcmp(k.mv_data, from, prefix_len) != 0))
            break;
        if (!fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, ctx))
            break;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = fail(t, rc, "scan", db);
    mdb_cursor_close(cur);
    return err;
}

ferry_err ferry_kv_count(ferry_kv_txn *t, unsigned db, size_t *n) {
    MDB_stat st;
    *n = 0;
    if (db >= t->kv->ndbs)
        return FERRY_EINVAL;
    int rc = mdb_stat(t->txn, t->kv->dbi[db], &st);
    if (rc != 0)
        return fail(t, rc, "stat", db);
    *n = st.ms_entries;
    return FERRY_OK;
}

ferry_err ferry_kv_record_error(const ferry_kv *kv, unsigned db, const char *key, ferry_err err,
                                int fv, long long found) {
    const char *dbname = db < kv->ndbs ? kv->dbs[db] : "?";
    if (err == FERRY_EVERSION)
        LOG_ERROR("%s: record '%s' in '%s' has format version %lld, this build reads only %d "
                  "(written by a newer version?); it is treated as unreadable",
                  kv->name, key, dbname, found, fv);
    else if (err == FERRY_EFORMAT)
        LOG_ERROR("%s: record '%s' in '%s' is not a msgpack map with a format version; it is "
                  "treated as unreadable",
                  kv->name, key, dbname);
    return err;
}

ferry_err ferry_kv_get_record(ferry_kv_txn *t, unsigned db, const char *key, int fv, json_t **out) {
    const void *val;
    size_t vlen;
    long long found = 0;
    ferry_err err = ferry_kv_get(t, db, key, strlen(key), &val, &vlen);

    *out = NULL;
    if (err != FERRY_OK)
        return err;
    err = ferry_record_decode(val, vlen, fv, out, &found);
    return err == FERRY_OK ? err : ferry_kv_record_error(t->kv, db, key, err, fv, found);
}

ferry_err ferry_kv_put_record(ferry_kv_txn *t, unsigned db, const char *key, int fv,
                              const json_t *rec) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_record_encode(rec, fv, &buf, &len);
    if (err == FERRY_OK)
        err = ferry_kv_put(t, db, key, strlen(key), buf, len, false);
    ferry_free(buf);
    return err;
}
