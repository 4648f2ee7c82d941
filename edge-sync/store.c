/* edge-sync store: the apps and node record the cloud sent, as records with a format version in
 * LMDB (daemon/kv.h), validated on every read (a file on disk is untrusted input too). */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ferry/app.h"
#include "ferry/record.h"
#include "kv.h"

enum { DB_APPS, DB_META, DB_BUNDLES, DB_COUNT };
static const char *const db_names[DB_COUNT] = {"apps", "meta", "bundles"};

#define NODE_KEY "node"

/* What the last listing of the apps decoded, by name (sorted, as LMDB returns keys), with a
 * digest of each record's bytes: a record whose bytes did not change since is not decoded and
 * validated again (a pass of the reconciler lists every app; without this a burst of K app
 * messages cost O(K^2) decodes on a node). Only records that passed ferry_estore__decode_app are
 * kept, so a skipped check is one that these exact bytes passed before. */
typedef struct {
    char name[64];
    size_t len;
    unsigned char digest[32]; /* SHA-256 of the record's bytes */
    ferry_estore_app app;     /* a reference of the spec */
} memo_entry;

struct ferry_estore {
    ferry_kv *kv;
    pthread_mutex_t memo_lock; /* the loop's writes and the reconciler's surveys both list */
    memo_entry *memo;
    size_t nmemo;
};

struct ferry_estore_txn {
    ferry_kv_txn *kv;
    ferry_estore *s;
};

static void memo_free(memo_entry *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        ferry_estore_app_clear(&m[i].app);
    ferry_free(m);
}

/* A store around kv (err: what opening kv said; kv is closed on failure). */
static ferry_err store_new(ferry_err err, ferry_kv *kv, ferry_estore **out) {
    ferry_estore *s = NULL;

    *out = NULL;
    if (err == FERRY_OK && (s = ferry_calloc(1, sizeof(*s))) == NULL)
        err = FERRY_ENOMEM;
    if (err != FERRY_OK) {
        ferry_kv_close(kv);
        return err;
    }
    s->kv = kv;
    pthread_mutex_init(&s->memo_lock, NULL);
    *out = s;
    return FERRY_OK;
}

ferry_err ferry_estore_open(const char *dir, ferry_estore **out) {
    ferry_kv *kv = NULL;
    ferry_err err = ferry_kv_open(dir, db_names, DB_COUNT, 0, "edge store", &kv);
    return store_new(err, kv, out);
}

ferry_err ferry_estore_env_open(const char *dir, size_t mapsize, ferry_kv_env **out) {
    return ferry_kv_env_open(dir, db_names, DB_COUNT, mapsize, "edge stores", out);
}

ferry_err ferry_estore_open_shared(ferry_kv_env *env, const char *node, ferry_estore **out) {
    ferry_kv *kv = NULL;
    ferry_err err = ferry_kv_open_view(env, node, node, &kv);
    return store_new(err, kv, out);
}

void ferry_estore_close(ferry_estore *s) {
    if (s == NULL)
        return;
    ferry_kv_close(s->kv);
    memo_free(s->memo, s->nmemo);
    pthread_mutex_destroy(&s->memo_lock);
    ferry_free(s);
}

typedef struct {
    ferry_estore *s;
    ferry_estore_fn fn;
    void *ctx;
} txn_call;

static ferry_err run_fn(ferry_kv_txn *kt, void *ctx) {
    txn_call *c = ctx;
    ferry_estore_txn t = {kt, c->s};
    return c->fn(&t, c->ctx);
}

ferry_err ferry_estore_read(ferry_estore *s, ferry_estore_fn fn, void *ctx) {
    txn_call c = {s, fn, ctx};
    return ferry_kv_read(s->kv, run_fn, &c);
}

ferry_err ferry_estore_write(ferry_estore *s, ferry_estore_fn fn, void *ctx) {
    txn_call c = {s, fn, ctx};
    return ferry_kv_write(s->kv, run_fn, &c);
}

void ferry_estore_app_clear(ferry_estore_app *a) {
    if (a == NULL)
        return;
    json_decref(a->spec);
    a->spec = NULL;
}

/* ---- record codecs (store.h, "internal") ---- */

/* Decode one record value written with FERRY_ESTORE_FV; logged naming key when it is not. */
static ferry_err decode_record(const void *buf, size_t len, const char *key, json_t **out) {
    long long found = 0;
    ferry_err err = ferry_record_decode(buf, len, FERRY_ESTORE_FV, out, &found);
    if (err == FERRY_EVERSION)
        LOG_ERROR("edge store: record '%s' has format version %lld, this build reads only %d; it "
                  "is ignored",
                  key, found, FERRY_ESTORE_FV);
    else if (err != FERRY_OK)
        LOG_ERROR("edge store: record '%s' is unreadable (%s); it is ignored", key,
                  ferry_strerror(err));
    return err;
}

ferry_err ferry_estore__decode_app(const void *buf, size_t len, const char *name,
                                   ferry_estore_app *out) {
    json_t *rec = NULL;
    ferry_err err = decode_record(buf, len, name, &rec);
    json_t *version = json_object_get(rec, "version");
    json_t *deleted = json_object_get(rec, "deleted");
    json_t *spec = json_object_get(rec, "spec");
    ferry_detail verr;

    memset(out, 0, sizeof(*out));
    if (err != FERRY_OK)
        goto out;
    err = FERRY_EFORMAT;
    if (!json_is_integer(version) || json_integer_value(version) < 0 || !json_is_boolean(deleted))
        goto bad;
    if (!json_is_true(deleted)) {
        /* What sync.c stored came in a message whose spec was checked like this. */
        if (!json_is_object(spec) ||
            ferry_app_validate_ex(spec, FERRY_APP_ALLOW_RESOLVED, &verr) != FERRY_OK ||
            strcmp(json_string_value(json_object_get(spec, "name")), name) != 0)
            goto bad;
        out->spec = json_incref(spec);
    }
    out->version = json_integer_value(version);
    out->deleted = json_is_true(deleted);
    err = FERRY_OK;
    goto out;
bad:
    LOG_ERROR("edge store: app record '%s' is malformed; it is ignored", name);
out:
    json_decref(rec);
    return err;
}

ferry_err ferry_estore__encode_app(const ferry_estore_app *app, unsigned char **buf, size_t *len) {
    json_t *rec =
        json_pack("{s:I, s:b, s:O}", "version", (json_int_t)app->version, "deleted", app->deleted,
                  "spec", app->deleted || app->spec == NULL ? json_null() : app->spec);
    ferry_err err = FERRY_ENOMEM;

    *buf = NULL;
    *len = 0;
    if (rec != NULL)
        err = ferry_record_encode(rec, FERRY_ESTORE_FV, buf, len);
    json_decref(rec);
    return err;
}

ferry_err ferry_estore__decode_node(const void *buf, size_t len, json_t **out) {
    json_t *rec = NULL;
    ferry_err err = decode_record(buf, len, NODE_KEY, &rec);
    json_t *rev = json_object_get(rec, "rev");
    json_t *labels = json_object_get(rec, "labels");
    ferry_detail verr;

    *out = NULL;
    if (err != FERRY_OK)
        return err;
    /* The fields of the node.sync that wrote it, checked like the protocol checks them. */
    if (json_is_integer(rev) && json_integer_value(rev) >= 0 &&
        json_is_boolean(json_object_get(rec, "registered")) && json_is_object(labels) &&
        ferry_labels_validate(labels, "labels", &verr) == FERRY_OK) {
        *out = rec;
        return FERRY_OK;
    }
    LOG_ERROR("edge store: node record is malformed");
    json_decref(rec);
    return FERRY_EFORMAT;
}

ferry_err ferry_estore__encode_node(const json_t *node, unsigned char **buf, size_t *len) {
    return ferry_record_encode(node, FERRY_ESTORE_FV, buf, len);
}

/* ---- records ---- */

ferry_err ferry_estore_get_app(ferry_estore_txn *t, const char *name, ferry_estore_app *out) {
    const void *val;
    size_t vlen;
    ferry_err err = ferry_kv_get(t->kv, DB_APPS, name, strlen(name), &val, &vlen);

    memset(out, 0, sizeof(*out));
    return err == FERRY_OK ? ferry_estore__decode_app(val, vlen, name, out) : err;
}

ferry_err ferry_estore_put_app(ferry_estore_txn *t, const char *name, const ferry_estore_app *app) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_estore__encode_app(app, &buf, &len);

    if (err == FERRY_OK)
        err = ferry_kv_put(t->kv, DB_APPS, name, strlen(name), buf, len, false);
    ferry_free(buf);
    return err;
}

typedef struct {
    const char *name;
    long long version;
    bool *gone;
} collect_op;

static ferry_err collect_txn(ferry_estore_txn *t, void *ctx) {
    collect_op *op = ctx;
    ferry_estore_app cur;
    ferry_err err = ferry_estore_get_app(t, op->name, &cur);
    *op->gone = false;
    if (err == FERRY_ENOTFOUND)
        return FERRY_OK;
    if (err == FERRY_OK && cur.deleted && cur.version == op->version) {
        err = ferry_kv_del(t->kv, DB_APPS, op->name, strlen(op->name));
        *op->gone = err == FERRY_OK;
    }
    ferry_estore_app_clear(&cur);
    return err;
}

ferry_err ferry_estore_collect(ferry_estore *s, const char *name, long long version, bool *gone) {
    collect_op op = {name, version, gone};
    return ferry_estore_write(s, collect_txn, &op);
}

void ferry_estore_apps_free(ferry_estore_apps *a) {
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++)
        ferry_estore_app_clear(&a->items[i].app);
    ferry_free(a->items);
    a->items = NULL;
    a->n = 0;
}

typedef struct {
    ferry_estore_apps *out;
    size_t cap;
    ferry_err err;
    const memo_entry *old; /* the store's memo (sorted by name) */
    size_t nold, oi;
    memo_entry *memo; /* the new one: what this listing decoded or reused */
    size_t nmemo;
} list_ctx;

static bool list_each(const void *key, size_t klen, const void *val, size_t vlen, void *ctx) {
    list_ctx *lc = ctx;
    ferry_estore_entry *e;
    unsigned char digest[32];
    const memo_entry *hit = NULL;

    if (klen == 0 || klen >= sizeof(e->name))
        return true; /* never written by this store: not an app name */
    if (lc->out->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 16;
        ferry_estore_entry *items = ferry_realloc(lc->out->items, cap * sizeof(*items));
        memo_entry *memo = ferry_realloc(lc->memo, cap * sizeof(*memo));
        if (items != NULL)
            lc->out->items = items;
        if (memo != NULL)
            lc->memo = memo;
        if (items == NULL || memo == NULL) {
            lc->err = FERRY_ENOMEM;
            return false;
        }
        lc->cap = cap;
    }
    e = &lc->out->items[lc->out->n];
    memcpy(e->name, key, klen);
    e->name[klen] = '\0';
    if (EVP_Digest(val, vlen, digest, NULL, EVP_sha256(), NULL) != 1) {
        lc->err = FERRY_ENOMEM;
        return false;
    }
    while (lc->oi < lc->nold && strcmp(lc->old[lc->oi].name, e->name) < 0)
        lc->oi++;
    if (lc->oi < lc->nold && strcmp(lc->old[lc->oi].name, e->name) == 0 &&
        lc->old[lc->oi].len == vlen && memcmp(lc->old[lc->oi].digest, digest, 32) == 0)
        hit = &lc->old[lc->oi];
    if (hit != NULL) {
        e->app = hit->app;
        json_incref(e->app.spec);
    } else if (ferry_estore__decode_app(val, vlen, e->name, &e->app) != FERRY_OK) {
        return true; /* a bad record is logged and must not hide the others */
    }
    memo_entry *m = &lc->memo[lc->nmemo++];
    memcpy(m->name, e->name, klen + 1);
    m->len = vlen;
    memcpy(m->digest, digest, 32);
    m->app = e->app;
    json_incref(m->app.spec);
    lc->out->n++;
    return true;
}

ferry_err ferry_estore_list_apps(ferry_estore_txn *t, ferry_estore_apps *out) {
    ferry_estore *s = t->s;
    list_ctx lc = {out, 0, FERRY_OK, NULL, 0, 0, NULL, 0};
    ferry_err err;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->memo_lock);
    lc.old = s->memo;
    lc.nold = s->nmemo;
    err = ferry_kv_scan(t->kv, DB_APPS, NULL, 0, 0, list_each, &lc);
    if (err == FERRY_OK)
        err = lc.err;
    if (err == FERRY_OK) { /* what this listing saw is the memo from now on */
        memo_free(s->memo, s->nmemo);
        s->memo = lc.memo;
        s->nmemo = lc.nmemo;
    } else {
        memo_free(lc.memo, lc.nmemo);
    }
    pthread_mutex_unlock(&s->memo_lock);
    if (err != FERRY_OK)
        ferry_estore_apps_free(out);
    return err;
}

ferry_err ferry_estore_get_node(ferry_estore_txn *t, json_t **out) {
    const void *val;
    size_t vlen;
    ferry_err err = ferry_kv_get(t->kv, DB_META, NODE_KEY, strlen(NODE_KEY), &val, &vlen);

    *out = NULL;
    if (err == FERRY_OK)
        err = ferry_estore__decode_node(val, vlen, out);
    if (err == FERRY_OK)
        return FERRY_OK;
    if (err != FERRY_ENOTFOUND && err != FERRY_EFORMAT && err != FERRY_EVERSION)
        return err;
    if (err != FERRY_ENOTFOUND)
        LOG_WARN("edge store: starting as unregistered; the next node.sync registers the node "
                 "again");
    *out = json_pack("{s:i, s:b, s:{}}", "rev", 0, "registered", 0, "labels");
    return *out != NULL ? FERRY_OK : FERRY_ENOMEM;
}

ferry_err ferry_estore_put_node(ferry_estore_txn *t, const json_t *node) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_estore__encode_node(node, &buf, &len);

    if (err == FERRY_OK)
        err = ferry_kv_put(t->kv, DB_META, NODE_KEY, strlen(NODE_KEY), buf, len, false);
    ferry_free(buf);
    return err;
}

typedef struct {
    json_t *node;
    ferry_estore_apps *apps;
} snapshot_ctx;

static ferry_err snapshot_txn(ferry_estore_txn *t, void *ctx) {
    snapshot_ctx *sc = ctx;
    ferry_err err = ferry_estore_get_node(t, &sc->node);
    return err == FERRY_OK ? ferry_estore_list_apps(t, sc->apps) : err;
}

ferry_err ferry_estore_snapshot(ferry_estore *s, json_t **node, ferry_estore_apps *apps) {
    snapshot_ctx sc = {NULL, apps};
    ferry_err err = ferry_estore_read(s, snapshot_txn, &sc);

    *node = NULL;
    if (err != FERRY_OK) {
        json_decref(sc.node);
        ferry_estore_apps_free(apps);
        return err;
    }
    *node = sc.node;
    return FERRY_OK;
}

/* ---- secret bundles ---- */

void ferry_estore_bundle_clear(ferry_estore_bundle *b) {
    if (b == NULL)
        return;
    ferry_free(b->sealed);
    memset(b, 0, sizeof(*b));
}

/* A bundle record: {"digest", "sealed"}, both strings of the protocol's shapes. */
static bool bundle_ok(const json_t *rec) {
    const char *d = json_string_value(json_object_get(rec, "digest"));
    return d != NULL && strlen(d) == 71 && strncmp(d, "sha256:", 7) == 0 &&
           json_is_string(json_object_get(rec, "sealed"));
}

ferry_err ferry_estore_get_bundle(ferry_estore_txn *t, const char *app, ferry_estore_bundle *out) {
    json_t *rec = NULL;
    ferry_err err = ferry_kv_get_record(t->kv, DB_BUNDLES, app, FERRY_ESTORE_FV, &rec);

    memset(out, 0, sizeof(*out));
    if (err == FERRY_OK && !bundle_ok(rec)) {
        LOG_ERROR("edge store: the secret bundle of app %s is malformed; it is ignored", app);
        err = FERRY_EFORMAT;
    }
    if (err == FERRY_OK) {
        snprintf(out->digest, sizeof(out->digest), "%s",
                 json_string_value(json_object_get(rec, "digest")));
        if ((out->sealed = ferry_strdup(json_string_value(json_object_get(rec, "sealed")))) == NULL)
            err = FERRY_ENOMEM;
    }
    json_decref(rec);
    return err;
}

ferry_err ferry_estore_put_bundle(ferry_estore_txn *t, const char *app, const char *digest,
                                  const char *sealed) {
    json_t *rec = json_pack("{s:s, s:s}", "digest", digest, "sealed", sealed);
    ferry_err err = rec != NULL ? ferry_kv_put_record(t->kv, DB_BUNDLES, app, FERRY_ESTORE_FV, rec)
                                : FERRY_ENOMEM;
    json_decref(rec);
    return err;
}

ferry_err ferry_estore_del_bundle(ferry_estore_txn *t, const char *app) {
    ferry_err err = ferry_kv_del(t->kv, DB_BUNDLES, app, strlen(app));
    return err == FERRY_ENOTFOUND ? FERRY_OK : err;
}

static bool digest_each(const void *key, size_t klen, const void *val, size_t vlen, void *ctx) {
    json_t *out = ctx, *rec = NULL;
    char app[64];
    if (klen == 0 || klen >= sizeof(app))
        return true;
    memcpy(app, key, klen);
    app[klen] = '\0';
    if (ferry_record_decode(val, vlen, FERRY_ESTORE_FV, &rec, NULL) == FERRY_OK && bundle_ok(rec))
        json_object_set(out, app, json_object_get(rec, "digest"));
    json_decref(rec);
    return true;
}

ferry_err ferry_estore_bundle_digests(ferry_estore_txn *t, json_t **out) {
    ferry_err err;
    if ((*out = json_object()) == NULL)
        return FERRY_ENOMEM;
    if ((err = ferry_kv_scan(t->kv, DB_BUNDLES, NULL, 0, 0, digest_each, *out)) != FERRY_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return err;
}

static ferry_err count_txn(ferry_estore_txn *t, void *ctx) {
    ferry_estore_apps apps = {0};
    ferry_err err = ferry_estore_list_apps(t, &apps);
    for (size_t i = 0; err == FERRY_OK && i < apps.n; i++)
        *(size_t *)ctx += !apps.items[i].app.deleted;
    ferry_estore_apps_free(&apps);
    return err;
}

size_t ferry_estore_count_apps(ferry_estore *s) {
    size_t n = 0;
    return ferry_estore_read(s, count_txn, &n) == FERRY_OK ? n : 0;
}

void ferry_estore_usage(ferry_estore *s, size_t *map, size_t *used) {
    ferry_kv_usage(s->kv, map, used);
}
