/* edge-sync store: LMDB records of the apps and node state the cloud sent, msgpack with a format
 * version, validated on every read (a file on disk is untrusted input too). */
#include "store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/app.h"
#include "ferry/codec.h"

/* The map is sparse on disk; 1 GiB is far more than any node holds (apps are kilobytes). */
#define ESTORE_MAPSIZE ((size_t)1 << 30)

struct ferry_estore {
    MDB_env *env;
    MDB_dbi apps;
    MDB_dbi meta;
};

static ferry_err from_mdb(int rc, const char *what) {
    if (rc == 0)
        return FERRY_OK;
    if (rc == MDB_NOTFOUND)
        return FERRY_ENOTFOUND;
    LOG_ERROR("edge store: %s failed: %s", what, mdb_strerror(rc));
    return FERRY_ESTORE;
}

ferry_err ferry_estore_open(const char *dir, ferry_estore **out) {
    ferry_estore *s = NULL;
    MDB_txn *txn = NULL;
    ferry_err err = FERRY_ESTORE;
    int rc;

    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        LOG_ERROR("edge store: cannot create folder %s: %s", dir, strerror(errno));
        return FERRY_EIO;
    }
    s = ferry_calloc(1, sizeof(*s));
    if (!s)
        return FERRY_ENOMEM;
    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail;
    mdb_env_set_maxdbs(s->env, 4);
    mdb_env_set_mapsize(s->env, ESTORE_MAPSIZE);
    /* MDB_NOTLS: read txns are begun on the loop thread and the reconciler's worker threads. */
    if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, "apps", MDB_CREATE, &s->apps)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0)
        goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    *out = s;
    return FERRY_OK;
fail:
    LOG_ERROR("edge store: cannot open LMDB in %s: %s", dir, mdb_strerror(rc));
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    ferry_free(s);
    return err;
}

void ferry_estore_close(ferry_estore *s) {
    if (!s)
        return;
    mdb_env_close(s->env);
    ferry_free(s);
}

ferry_err ferry_estore_begin(ferry_estore *s, bool write, MDB_txn **txn) {
    return from_mdb(mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn), "begin txn");
}

ferry_err ferry_estore_commit(MDB_txn *txn) {
    return from_mdb(mdb_txn_commit(txn), "commit");
}

void ferry_estore_abort(MDB_txn *txn) {
    if (txn)
        mdb_txn_abort(txn);
}

void ferry_estore_app_clear(ferry_estore_app *a) {
    if (!a)
        return;
    json_decref(a->spec);
    a->spec = NULL;
}

/* ---- record codecs (store.h, "internal") ----------------------------------------------------- */

/* Decode one record value: a msgpack map carrying "fv": FERRY_ESTORE_FV. */
static ferry_err decode_record(const void *buf, size_t len, const char *key, json_t **out) {
    json_t *rec = NULL;
    ferry_err err = ferry_msgpack_decode(buf, len, &rec);

    *out = NULL;
    if (err != FERRY_OK) {
        LOG_ERROR("edge store: record '%s' is unreadable (%s); it is ignored", key,
                  ferry_strerror(err));
        return FERRY_EFORMAT;
    }
    json_t *fv = json_object_get(rec, "fv");
    if (!json_is_object(rec) || !json_is_integer(fv)) {
        LOG_ERROR("edge store: record '%s' is not a map with a format version; it is ignored", key);
        json_decref(rec);
        return FERRY_EFORMAT;
    }
    if (json_integer_value(fv) != FERRY_ESTORE_FV) {
        LOG_ERROR("edge store: record '%s' has format version %lld, this build reads only %d; it "
                  "is ignored",
                  key, (long long)json_integer_value(fv), FERRY_ESTORE_FV);
        json_decref(rec);
        return FERRY_EVERSION;
    }
    json_object_del(rec, "fv");
    *out = rec;
    return FERRY_OK;
}

/* Encode rec (an object; not modified) with "fv" added. */
static ferry_err encode_record(const json_t *rec, unsigned char **buf, size_t *len) {
    json_t *copy = json_copy((json_t *)rec); /* shallow: only adds "fv" */
    ferry_err err = FERRY_ENOMEM;

    *buf = NULL;
    *len = 0;
    if (copy != NULL && json_object_set_new(copy, "fv", json_integer(FERRY_ESTORE_FV)) == 0)
        err = ferry_msgpack_encode(copy, buf, len);
    json_decref(copy);
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
                  "spec", app->deleted || !app->spec ? json_null() : app->spec);
    ferry_err err = rec ? encode_record(rec, buf, len) : FERRY_ENOMEM;

    if (!rec) {
        *buf = NULL;
        *len = 0;
    }
    json_decref(rec);
    return err;
}

ferry_err ferry_estore__decode_node(const void *buf, size_t len, json_t **out) {
    json_t *rec = NULL;
    ferry_err err = decode_record(buf, len, "node", &rec);
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
    if (!json_is_object(node)) {
        *buf = NULL;
        *len = 0;
        return FERRY_EINVAL;
    }
    return encode_record(node, buf, len);
}

/* ---- records ----------------------------------------------------------------------------------
 */

/* The value at key (borrowed until the txn ends). */
static ferry_err get_value(MDB_txn *txn, MDB_dbi dbi, const char *key, MDB_val *v) {
    MDB_val k = {strlen(key), (void *)key};
    return from_mdb(mdb_get(txn, dbi, &k, v), "get");
}

static ferry_err put_value(MDB_txn *txn, MDB_dbi dbi, const char *key, unsigned char *buf,
                           size_t len) {
    MDB_val k = {strlen(key), (void *)key}, v = {len, buf};
    return from_mdb(mdb_put(txn, dbi, &k, &v, 0), "put");
}

ferry_err ferry_estore_get_app(ferry_estore *s, MDB_txn *txn, const char *name,
                               ferry_estore_app *out) {
    MDB_val v;
    ferry_err err = get_value(txn, s->apps, name, &v);

    memset(out, 0, sizeof(*out));
    return err == FERRY_OK ? ferry_estore__decode_app(v.mv_data, v.mv_size, name, out) : err;
}

ferry_err ferry_estore_put_app(ferry_estore *s, MDB_txn *txn, const char *name,
                               const ferry_estore_app *app) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_estore__encode_app(app, &buf, &len);

    if (err == FERRY_OK)
        err = put_value(txn, s->apps, name, buf, len);
    ferry_free(buf);
    return err;
}

ferry_err ferry_estore_list_apps(ferry_estore *s, MDB_txn *txn, json_t **out) {
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    json_t *apps = json_object();
    ferry_err err = FERRY_OK;
    int rc;

    *out = NULL;
    if (!apps)
        return FERRY_ENOMEM;
    if ((rc = mdb_cursor_open(txn, s->apps, &cur)) != 0) {
        err = from_mdb(rc, "cursor");
        goto out;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char name[128];
        ferry_estore_app app;
        json_t *entry;

        if (k.mv_size == 0 || k.mv_size >= sizeof(name))
            continue;
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        if (ferry_estore_get_app(s, txn, name, &app) != FERRY_OK)
            continue; /* logged; a bad record must not hide the others */
        entry = json_pack("{s:I, s:b, s:o}", "version", (json_int_t)app.version, "deleted",
                          app.deleted, "spec", app.spec ? app.spec : json_null());
        if (!entry || json_object_set_new(apps, name, entry) != 0) {
            err = FERRY_ENOMEM;
            goto out;
        }
    }
    if (rc != MDB_NOTFOUND)
        err = from_mdb(rc, "cursor walk");
out:
    if (cur)
        mdb_cursor_close(cur);
    if (err == FERRY_OK)
        *out = apps;
    else
        json_decref(apps);
    return err;
}

ferry_err ferry_estore_get_node(ferry_estore *s, MDB_txn *txn, json_t **out) {
    MDB_val v;
    ferry_err err = get_value(txn, s->meta, "node", &v);

    *out = NULL;
    if (err == FERRY_OK)
        err = ferry_estore__decode_node(v.mv_data, v.mv_size, out);
    if (err == FERRY_OK)
        return FERRY_OK;
    if (err != FERRY_ENOTFOUND && err != FERRY_EFORMAT && err != FERRY_EVERSION)
        return err;
    if (err != FERRY_ENOTFOUND)
        LOG_WARN("edge store: starting as unregistered; the next node.sync registers the node "
                 "again");
    *out = json_pack("{s:i, s:b, s:{}}", "rev", 0, "registered", 0, "labels");
    return *out ? FERRY_OK : FERRY_ENOMEM;
}

ferry_err ferry_estore_put_node(ferry_estore *s, MDB_txn *txn, const json_t *node) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_estore__encode_node(node, &buf, &len);

    if (err == FERRY_OK)
        err = put_value(txn, s->meta, "node", buf, len);
    ferry_free(buf);
    return err;
}
