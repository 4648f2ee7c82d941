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
#define MAX_KEY 511 /* LMDB's default key size limit */

/* One LMDB environment and its databases; a ferry_kv is a view of it (all of it, or the keys
 * under one prefix). */
struct ferry_kv_env {
    MDB_env *env;
    MDB_dbi dbi[MAX_DBS];
    const char *dbs[MAX_DBS]; /* names, borrowed from the caller's static table */
    unsigned ndbs;
    char name[48];
    /* Shared by every transaction of every view, exclusive while the map grows (kv.h,
     * "Threads"). */
    pthread_rwlock_t grow;
    size_t mapsize; /* under grow */
};

struct ferry_kv {
    ferry_kv_env *env;
    bool owns_env; /* ferry_kv_open's: closed with the view */
    /* Every key of the view starts with these bytes (the prefix and its NUL, so that no view's
     * keys are another's); plen 0: the whole environment. */
    char prefix[FERRY_KV_MAX_PREFIX + 1];
    size_t plen;
    char name[48];
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
                  t->kv->name, what, t->kv->env->dbs[db]);
    } else {
        LOG_ERROR("%s: %s in '%s' failed: %s", t->kv->name, what, t->kv->env->dbs[db],
                  mdb_strerror(rc));
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

/* e after env_open initialized its lock. */
static void env_close(ferry_kv_env *e) {
    if (e->env != NULL)
        mdb_env_close(e->env);
    e->env = NULL;
    pthread_rwlock_destroy(&e->grow);
}

/* Open e in dir with its databases (e zeroed by the caller). */
static ferry_err env_open(ferry_kv_env *e, const char *dir, const char *const *dbs, unsigned ndbs,
                          size_t mapsize, const char *name) {
    MDB_txn *txn = NULL;
    int rc;

    if (ndbs == 0 || ndbs > MAX_DBS)
        return FERRY_EINVAL;
    if ((rc = mkdir_p(dir)) != 0) {
        LOG_ERROR("%s: cannot create the folder %s: %s", name, dir, strerror(rc));
        return FERRY_EIO;
    }
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->ndbs = ndbs;
    memcpy(e->dbs, dbs, ndbs * sizeof(*dbs));
    if (pthread_rwlock_init(&e->grow, NULL) != 0)
        return FERRY_ENOMEM;
    if ((rc = mdb_env_create(&e->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(e->env, (MDB_dbi)ndbs)) != 0 ||
        (rc = mdb_env_set_mapsize(e->env, mapsize != 0 ? mapsize : DEFAULT_MAPSIZE)) != 0 ||
        /* MDB_NOTLS: read transactions run on several threads (the reconciler's workers). */
        (rc = mdb_env_open(e->env, dir, MDB_NOTLS, 0600)) != 0)
        goto fail;
    /* An existing file larger than the size asked for keeps its size. */
    e->mapsize = env_mapsize(e->env);
    if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0)
        goto fail;
    for (unsigned i = 0; i < ndbs; i++)
        if ((rc = mdb_dbi_open(txn, dbs[i], MDB_CREATE, &e->dbi[i])) != 0)
            goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    LOG_DEBUG("%s: opened %s (map %zu MiB)", name, dir, e->mapsize >> 20);
    return FERRY_OK;
fail:
    LOG_ERROR("%s: cannot open LMDB in %s: %s", name, dir, mdb_strerror(rc));
    if (txn != NULL)
        mdb_txn_abort(txn);
    env_close(e);
    return FERRY_ESTORE;
}

static ferry_err view_new(ferry_kv_env *e, const char *prefix, const char *name, ferry_kv **out) {
    size_t plen = prefix != NULL ? strlen(prefix) + 1 : 0;
    ferry_kv *kv;

    *out = NULL;
    if (plen > sizeof(kv->prefix))
        return FERRY_EINVAL;
    if ((kv = ferry_calloc(1, sizeof(*kv))) == NULL)
        return FERRY_ENOMEM;
    kv->env = e;
    if (plen > 0)
        memcpy(kv->prefix, prefix, plen);
    kv->plen = plen;
    snprintf(kv->name, sizeof(kv->name), "%s", name);
    *out = kv;
    return FERRY_OK;
}

ferry_err ferry_kv_open(const char *dir, const char *const *dbs, unsigned ndbs, size_t mapsize,
                        const char *name, ferry_kv **out) {
    ferry_kv_env *env = NULL;
    ferry_err err;

    *out = NULL;
    if ((err = ferry_kv_env_open(dir, dbs, ndbs, mapsize, name, &env)) != FERRY_OK)
        return err;
    if ((err = view_new(env, NULL, name, out)) != FERRY_OK) {
        ferry_kv_env_close(env);
        return err;
    }
    (*out)->owns_env = true;
    return FERRY_OK;
}

void ferry_kv_close(ferry_kv *kv) {
    if (kv == NULL)
        return;
    if (kv->owns_env)
        ferry_kv_env_close(kv->env);
    ferry_free(kv);
}

ferry_err ferry_kv_env_open(const char *dir, const char *const *dbs, unsigned ndbs, size_t mapsize,
                            const char *name, ferry_kv_env **out) {
    ferry_kv_env *env = ferry_calloc(1, sizeof(*env));
    ferry_err err;

    *out = NULL;
    if (env == NULL)
        return FERRY_ENOMEM;
    if ((err = env_open(env, dir, dbs, ndbs, mapsize, name)) != FERRY_OK) {
        ferry_free(env);
        return err;
    }
    *out = env;
    return FERRY_OK;
}

void ferry_kv_env_close(ferry_kv_env *env) {
    if (env == NULL)
        return;
    env_close(env);
    ferry_free(env);
}

ferry_err ferry_kv_open_view(ferry_kv_env *env, const char *prefix, const char *name,
                             ferry_kv **out) {
    if (prefix == NULL || prefix[0] == '\0') {
        *out = NULL;
        return FERRY_EINVAL;
    }
    return view_new(env, prefix, name, out);
}

size_t ferry_kv_mapsize(ferry_kv *kv) {
    ferry_kv_env *e = kv->env;
    pthread_rwlock_rdlock(&e->grow);
    size_t n = e->mapsize;
    pthread_rwlock_unlock(&e->grow);
    return n;
}

void ferry_kv_usage(ferry_kv *kv, size_t *map, size_t *used) {
    ferry_kv_env *e = kv->env;
    MDB_envinfo info;
    MDB_stat st;
    pthread_rwlock_rdlock(&e->grow);
    *map = e->mapsize;
    *used = 0;
    if (mdb_env_info(e->env, &info) == 0 && mdb_env_stat(e->env, &st) == 0)
        *used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    pthread_rwlock_unlock(&e->grow);
}

static ferry_err begin(ferry_kv *kv, unsigned flags, MDB_txn **txn) {
    int rc = mdb_txn_begin(kv->env->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) { /* another process grew the map: adopt its size */
        mdb_env_set_mapsize(kv->env->env, 0);
        rc = mdb_txn_begin(kv->env->env, NULL, flags, txn);
    }
    if (rc != 0) {
        LOG_ERROR("%s: cannot begin a transaction: %s", kv->name, mdb_strerror(rc));
        return FERRY_ESTORE;
    }
    return FERRY_OK;
}

ferry_err ferry_kv_read(ferry_kv *kv, ferry_kv_fn fn, void *ctx) {
    ferry_kv_txn t = {.kv = kv};
    pthread_rwlock_rdlock(&kv->env->grow);
    ferry_err err = begin(kv, MDB_RDONLY, &t.txn);
    if (err == FERRY_OK) {
        err = fn(&t, ctx);
        mdb_txn_abort(t.txn);
    }
    pthread_rwlock_unlock(&kv->env->grow);
    return err;
}

/* Double the map (from the size `seen` when the write failed; another thread may have grown
 * it meanwhile). Called without a transaction or the shared lock. */
static ferry_err grow(ferry_kv_env *e, size_t seen) {
    ferry_err err = FERRY_OK;
    pthread_rwlock_wrlock(&e->grow);
    if (e->mapsize == seen) {
        size_t grown = seen * 2;
        int rc = mdb_env_set_mapsize(e->env, grown);
        if (rc != 0) {
            LOG_ERROR("%s: cannot grow the map to %zu MiB: %s", e->name, grown >> 20,
                      mdb_strerror(rc));
            err = FERRY_ESTORE;
        } else {
            e->mapsize = env_mapsize(e->env);
            LOG_INFO("%s: map grown to %zu MiB", e->name, e->mapsize >> 20);
        }
    }
    pthread_rwlock_unlock(&e->grow);
    return err;
}

/* MDB_MAP_FULL leaves the transaction unusable: abort it, grow the map while no transaction is
 * open, and redo the whole write. */
ferry_err ferry_kv_write(ferry_kv *kv, ferry_kv_fn fn, void *ctx) {
    for (int attempt = 0;; attempt++) {
        ferry_kv_txn t = {.kv = kv};
        pthread_rwlock_rdlock(&kv->env->grow);
        size_t seen = kv->env->mapsize;
        ferry_err err = begin(kv, 0, &t.txn);
        if (err != FERRY_OK) {
            pthread_rwlock_unlock(&kv->env->grow);
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
        pthread_rwlock_unlock(&kv->env->grow);
        if (!t.map_full)
            return err;
        if (attempt >= MAX_GROWTHS) {
            LOG_ERROR("%s: map still full at %zu MiB; write refused", kv->name, seen >> 20);
            return FERRY_ESTORE;
        }
        if ((err = grow(kv->env, seen)) != FERRY_OK)
            return err;
    }
}

/* The key as stored: the view's prefix, then key (into buf, MAX_KEY bytes). */
static ferry_err full_key(ferry_kv_txn *t, unsigned db, const void *key, size_t klen,
                          char buf[MAX_KEY], MDB_val *out) {
    const ferry_kv *kv = t->kv;
    if (db >= kv->env->ndbs || klen == 0 || klen > MAX_KEY - kv->plen) {
        LOG_ERROR("%s: bad key of %zu bytes for database %u", kv->name, klen, db);
        return FERRY_EINVAL;
    }
    if (kv->plen == 0) {
        *out = (MDB_val){.mv_size = klen, .mv_data = (void *)key};
        return FERRY_OK;
    }
    memcpy(buf, kv->prefix, kv->plen);
    memcpy(buf + kv->plen, key, klen);
    *out = (MDB_val){.mv_size = kv->plen + klen, .mv_data = buf};
    return FERRY_OK;
}

ferry_err ferry_kv_get(ferry_kv_txn *t, unsigned db, const void *key, size_t klen, const void **val,
                       size_t *vlen) {
    char buf[MAX_KEY];
    MDB_val k, v;
    ferry_err err = full_key(t, db, key, klen, buf, &k);
    *val = NULL;
    *vlen = 0;
    if (err != FERRY_OK)
        return err;
    int rc = mdb_get(t->txn, t->kv->env->dbi[db], &k, &v);
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
    char buf[MAX_KEY];
    MDB_val k, v = {vlen, (void *)val};
    ferry_err err = full_key(t, db, key, klen, buf, &k);
    if (err != FERRY_OK)
        return err;
    /* In a view, "after every key of the view" is not "after every key of the database", which
     * is what MDB_APPEND checks: a view's append is an ordinary put. */
    unsigned flags = append && t->kv->plen == 0 ? MDB_APPEND : 0;
    int rc = mdb_put(t->txn, t->kv->env->dbi[db], &k, &v, flags);
    return rc == 0 ? FERRY_OK : fail(t, rc, "put", db);
}

ferry_err ferry_kv_del(ferry_kv_txn *t, unsigned db, const void *key, size_t klen) {
    char buf[MAX_KEY];
    MDB_val k;
    ferry_err err = full_key(t, db, key, klen, buf, &k);
    if (err != FERRY_OK)
        return err;
    int rc = mdb_del(t->txn, t->kv->env->dbi[db], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return FERRY_ENOTFOUND;
    return rc == 0 ? FERRY_OK : fail(t, rc, "delete", db);
}

ferry_err ferry_kv_scan(ferry_kv_txn *t, unsigned db, const void *from, size_t flen,
                        size_t prefix_len, ferry_kv_each_fn fn, void *ctx) {
    const ferry_kv *kv = t->kv;
    char buf[MAX_KEY];
    MDB_cursor *cur = NULL;
    MDB_val start = {.mv_size = flen, .mv_data = (void *)from}, k, v;
    ferry_err err = FERRY_OK;
    int rc;

    if (db >= kv->env->ndbs || prefix_len > flen || flen > MAX_KEY - kv->plen)
        return FERRY_EINVAL;
    /* A view scans from its prefix (then from) and stops where its prefix ends. */
    if (kv->plen > 0) {
        memcpy(buf, kv->prefix, kv->plen);
        if (flen > 0)
            memcpy(buf + kv->plen, from, flen);
        start = (MDB_val){.mv_size = kv->plen + flen, .mv_data = buf};
        prefix_len += kv->plen;
    }
    k = start;
    if ((rc = mdb_cursor_open(t->txn, kv->env->dbi[db], &cur)) != 0)
        return fail(t, rc, "cursor open", db);
    for (MDB_cursor_op op = start.mv_size > 0 ? MDB_SET_RANGE : MDB_FIRST;
         (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        if (prefix_len > 0 &&
            (k.mv_size < prefix_len || memcmp(k.mv_data, start.mv_data, prefix_len) != 0))
            break;
        if (!fn((const char *)k.mv_data + kv->plen, k.mv_size - kv->plen, v.mv_data, v.mv_size,
                ctx))
            break;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = fail(t, rc, "scan", db);
    mdb_cursor_close(cur);
    return err;
}

static bool count_each(const void *key, size_t klen, const void *val, size_t vlen, void *ctx) {
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(size_t *)ctx)++;
    return true;
}

ferry_err ferry_kv_count(ferry_kv_txn *t, unsigned db, size_t *n) {
    MDB_stat st;
    *n = 0;
    if (db >= t->kv->env->ndbs)
        return FERRY_EINVAL;
    if (t->kv->plen > 0) /* the database holds other views' keys too */
        return ferry_kv_scan(t, db, NULL, 0, 0, count_each, n);
    int rc = mdb_stat(t->txn, t->kv->env->dbi[db], &st);
    if (rc != 0)
        return fail(t, rc, "stat", db);
    *n = st.ms_entries;
    return FERRY_OK;
}

ferry_err ferry_kv_record_error(const ferry_kv *kv, unsigned db, const char *key, ferry_err err,
                                int fv, long long found) {
    const char *dbname = db < kv->env->ndbs ? kv->env->dbs[db] : "?";
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
