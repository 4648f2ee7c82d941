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

/* Read and decode one record; checks the format version. */
static ferry_err get_record(MDB_txn *txn, MDB_dbi dbi, const char *key, json_t **out) {
    MDB_val k = {strlen(key), (void *)key}, v;
    json_t *rec = NULL;
    ferry_err err = from_mdb(mdb_get(txn, dbi, &k, &v), "get");

    *out = NULL;
    if (err != FERRY_OK)
        return err;
    err = ferry_msgpack_decode(v.mv_data, v.mv_size, &rec);
    if (err != FERRY_OK) {
        LOG_ERROR("edge store: record '%s' is unreadable (%s); it is ignored", key,
                  ferry_strerror(err));
        return FERRY_EFORMAT;
    }
    if (json_integer_value(json_object_get(rec, "fv")) != FERRY_ESTORE_FV) {
        LOG_ERROR("edge store: record '%s' has unknown format version; it is ignored", key);
        json_decref(rec);
        return FERRY_EVERSION;
    }
    *out = rec;
    return FERRY_OK;
}

static ferry_err put_record(MDB_txn *txn, MDB_dbi dbi, const char *key, json_t *rec) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err;

    if (json_object_set_new(rec, "fv", json_integer(FERRY_ESTORE_FV)) != 0)
        return FERRY_ENOMEM;
    err = ferry_msgpack_encode(rec, &buf, &len);
    if (err == FERRY_OK) {
        MDB_val k = {strlen(key), (void *)key}, v = {len, buf};
        err = from_mdb(mdb_put(txn, dbi, &k, &v, 0), "put");
    }
    ferry_free(buf);
    return err;
}

/* Turn a decoded record into an app; rejects records whose fields do not have the right shape. */
static ferry_err app_from_record(const char *name, const json_t *rec, ferry_estore_app *out) {
    json_t *version = json_object_get(rec, "version");
    json_t *deleted = json_object_get(rec, "deleted");
    json_t *spec = json_object_get(rec, "spec");
    ferry_verr verr;

    if (!json_is_integer(version) || json_integer_value(version) < 0 || !json_is_boolean(deleted))
        goto bad;
    out->version = json_integer_value(version);
    out->deleted = json_is_true(deleted);
    out->spec = NULL;
    if (!out->deleted) {
        if (!json_is_object(spec) || ferry_app_validate(spec, &verr) != FERRY_OK)
            goto bad;
        out->spec = json_incref(spec);
    }
    return FERRY_OK;
bad:
    LOG_ERROR("edge store: app record '%s' is malformed; it is ignored", name);
    return FERRY_EFORMAT;
}

ferry_err ferry_estore_get_app(ferry_estore *s, MDB_txn *txn, const char *name,
                               ferry_estore_app *out) {
    json_t *rec = NULL;
    ferry_err err = get_record(txn, s->apps, name, &rec);

    memset(out, 0, sizeof(*out));
    if (err == FERRY_OK)
        err = app_from_record(name, rec, out);
    json_decref(rec);
    return err;
}

ferry_err ferry_estore_put_app(ferry_estore *s, MDB_txn *txn, const char *name,
                               const ferry_estore_app *app) {
    json_t *rec =
        json_pack("{s:I, s:b, s:O}", "version", (json_int_t)app->version, "deleted", app->deleted,
                  "spec", app->deleted || !app->spec ? json_null() : app->spec);
    ferry_err err;

    if (!rec)
        return FERRY_ENOMEM;
    err = put_record(txn, s->apps, name, rec);
    json_decref(rec);
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
    json_t *rec = NULL;
    ferry_err err = get_record(txn, s->meta, "node", &rec);
    ferry_verr verr;

    *out = NULL;
    if (err == FERRY_OK) {
        json_t *rev = json_object_get(rec, "rev");
        json_t *labels = json_object_get(rec, "labels");
        if (json_is_integer(rev) && json_is_boolean(json_object_get(rec, "registered")) &&
            json_is_object(labels) && ferry_labels_validate(labels, "labels", &verr) == FERRY_OK) {
            json_object_del(rec, "fv");
            *out = rec;
            return FERRY_OK;
        }
        LOG_ERROR("edge store: node record is malformed; starting as unregistered");
        json_decref(rec);
    } else if (err != FERRY_ENOTFOUND && err != FERRY_EFORMAT && err != FERRY_EVERSION) {
        return err;
    }
    *out = json_pack("{s:i, s:b, s:{}}", "rev", 0, "registered", 0, "labels");
    return *out ? FERRY_OK : FERRY_ENOMEM;
}

ferry_err ferry_estore_put_node(ferry_estore *s, MDB_txn *txn, const json_t *node) {
    json_t *rec = json_deep_copy(node);
    ferry_err err;

    if (!rec)
        return FERRY_ENOMEM;
    err = put_record(txn, s->meta, "node", rec);
    json_decref(rec);
    return err;
}
