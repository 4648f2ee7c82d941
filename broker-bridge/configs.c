/* broker-bridge configs: config objects (config, secret, certificate, registry) with their secret
 * values sealed at rest, their writes (an update re-publishes every app that uses the config), and
 * the wire documents of apps: the stored spec plus the "resolved" files and credentials. */
#include "configs.h"

#include <stdio.h>
#include <string.h>

#include "bridge_int.h"
#include "ferry/app.h"
#include "ferry/config.h"
#include "bundles.h"
#include "records.h"
#include "views.h"
#include "write.h"

/* ---- secret values --------------------------------------------------------------------------- */

/* What a slot callback needs: the key, where the config lives (for the AAD), the log name. */
typedef struct {
    ferry_bridge *b;
    const char *ns;
    const char *name;
} slot_ctx;

/* The AAD of a value: "ns/name/field", so that a sealed value copied to another config, field or
 * namespace does not decrypt. field may hold '/' (data.db/password: a file in a folder), ns and
 * name cannot (DNS labels), so the AAD still names one value. */
static void slot_aad(const slot_ctx *c, const char *field, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s/%s", c->ns, c->name, field);
}

static ferry_err seal_slot(json_t *parent, const char *member, const char *field, void *ctx) {
    slot_ctx *c = ctx;
    const json_t *v = json_object_get(parent, member);
    char aad[512], digest[FERRY_SECRETS_DIGEST_LEN];
    char *sealed = NULL;

    if (!json_is_string(v))
        return FERRY_EINVAL; /* validated before: not reached */
    slot_aad(c, field, aad, sizeof(aad));
    ferry_err err =
        ferry_secrets_seal(c->b->key, aad, json_string_value(v), json_string_length(v), &sealed);
    if (err != FERRY_OK)
        return err;
    ferry_secrets_digest(json_string_value(v), json_string_length(v), digest);
    json_t *slot = json_pack("{s:s, s:s}", "enc", sealed, "digest", digest);
    ferry_free(sealed);
    return slot != NULL && json_object_set_new(parent, member, slot) == 0 ? FERRY_OK : FERRY_ENOMEM;
}

static ferry_err open_slot(json_t *parent, const char *member, const char *field, void *ctx) {
    slot_ctx *c = ctx;
    const json_t *enc = json_object_get(json_object_get(parent, member), "enc");
    unsigned char *plain = NULL;
    size_t len = 0;
    char aad[512];

    slot_aad(c, field, aad, sizeof(aad));
    ferry_err err = ferry_secrets_open(c->b->key, aad, json_string_value(enc),
                                       json_string_length(enc), &plain, &len);
    if (err != FERRY_OK) {
        LOG_ERROR("secrets: cannot decrypt '%s' of config %s/%s (%s): the key file is not the one "
                  "it was stored with, or the record was altered",
                  field, c->ns, c->name, ferry_strerror(err));
        return FERRY_EFORMAT;
    }
    json_t *v = json_stringn((const char *)plain, len); /* NULL for bytes that are not UTF-8 */
    ferry_secrets_wipe(plain, len);
    ferry_free(plain);
    if (v == NULL || json_object_set_new(parent, member, v) != 0) {
        LOG_ERROR("secrets: '%s' of config %s/%s does not decrypt to text", field, c->ns, c->name);
        return FERRY_EFORMAT;
    }
    return FERRY_OK;
}

/* The plaintext config of a checked record (new), validated again after decryption. */
static ferry_err config_plain(ferry_bridge *b, const json_t *rec, json_t **out) {
    slot_ctx c = {.b = b,
                  .ns = json_string_value(json_object_get(rec, "ns")),
                  .name = json_string_value(json_object_get(rec, "name"))};
    json_t *cfg = json_deep_copy(json_object_get(rec, "config"));
    ferry_detail verr;
    ferry_err err = FERRY_ENOMEM;

    *out = NULL;
    if (cfg == NULL || (err = bridge__each_slot(cfg, open_slot, &c)) != FERRY_OK)
        goto out;
    if (ferry_config_validate(cfg, &verr) != FERRY_OK) {
        LOG_ERROR("store: config %s/%s decrypts to an invalid config (%s: %s)", c.ns, c.name,
                  verr.field, verr.message);
        err = FERRY_EFORMAT;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
out:
    json_decref(cfg);
    return err;
}

/* ---- start-up check of the key --------------------------------------------------------------- */

typedef struct {
    ferry_bridge *b;
    bool decrypt;
    char *where;
    ferry_err err;
} probe_op;

static ferry_err first_slot(json_t *parent, const char *member, const char *field, void *ctx) {
    (void)parent;
    (void)member;
    snprintf(ctx, 300, "%s", field);
    return FERRY_ECONFLICT; /* stop at the first one */
}

static bool probe_each(const char *key, const json_t *rec, void *ctx) {
    probe_op *op = ctx;
    char field[300] = "";
    char where[BRIDGE_KEY_MAX + 320];
    json_t *copy = NULL;

    if (!bridge__config_record_ok(key, rec))
        return true; /* logged; it is refused where it is used */
    if ((copy = json_deep_copy(json_object_get(rec, "config"))) == NULL) {
        op->err = FERRY_ENOMEM;
        return false;
    }
    bool found = bridge__each_slot(copy, first_slot, field) == FERRY_ECONFLICT;
    json_decref(copy);
    copy = NULL;
    if (!found)
        return true;
    snprintf(where, sizeof(where), "config %s, field %s", key, field);
    if ((op->where = ferry_strdup(where)) == NULL) {
        op->err = FERRY_ENOMEM;
        return false;
    }
    if (op->decrypt) {
        op->err = config_plain(op->b, rec, &copy);
        json_decref(copy);
        if (op->err == FERRY_EFORMAT)
            op->err = FERRY_EINVAL;
    }
    return false;
}

static ferry_err probe_txn(ferry_store_txn *t, void *ctx) {
    ferry_err err = ferry_store_scan(t, FERRY_DB_CONFIGS, "", probe_each, ctx);
    if (err == FERRY_EFORMAT || err == FERRY_EVERSION)
        err = FERRY_OK; /* an undecodable record (logged) is refused where it is used */
    return err != FERRY_OK ? err : ((probe_op *)ctx)->err;
}

ferry_err bridge__probe_sealed(ferry_bridge *b, bool decrypt, char **where) {
    probe_op op = {.b = b, .decrypt = decrypt};
    pthread_mutex_lock(&b->lock);
    ferry_err err = ferry_store_read(b->store, probe_txn, &op);
    pthread_mutex_unlock(&b->lock);
    *where = op.where;
    return err;
}

/* ---- wire documents -------------------------------------------------------------------------- */

void bridge__resolver_init(bridge_resolver *r, ferry_bridge *b, ferry_store_txn *t,
                           const char *ns) {
    r->b = b;
    r->t = t;
    r->ns = ns;
    r->configs = NULL;
    r->registries = NULL;
}

void bridge__resolver_done(bridge_resolver *r) {
    json_decref(r->configs);
    json_decref(r->registries);
    r->configs = r->registries = NULL;
}

/* The path of the first volume of spec that references config name (for errors). */
static void volume_field(const json_t *spec, const char *name, const char *kind, char *buf,
                         size_t len) {
    const json_t *volumes = json_object_get(spec, "volumes");
    snprintf(buf, len, "volumes");
    for (size_t i = 0; i < json_array_size(volumes); i++) {
        const json_t *ref = json_object_get(json_array_get(volumes, i), kind);
        const char *n = json_string_value(json_object_get(ref, "name"));
        if (n != NULL && strcmp(n, name) == 0) {
            snprintf(buf, len, "volumes[%zu].%s.name", i, kind);
            return;
        }
    }
}

/* Read config name for a reference at field, expecting kind: its checked record (*rec, new).
 * FERRY_EINVAL (e filled) when absent or of another kind. */
static ferry_err get_config(bridge_resolver *r, const char *name, const char *kind,
                            const char *field, json_t **rec, ferry_detail *e) {
    ferry_err err = bridge__get_config(r->t, r->ns, name, rec);
    if (err == FERRY_ENOTFOUND)
        return ferry_fail(e, FERRY_EINVAL, field, "%s '%s' not found in namespace '%s'", kind, name,
                          r->ns);
    if (err == FERRY_EFORMAT || err == FERRY_EVERSION)
        return ferry_fail(e, FERRY_EFORMAT, field, "config '%s' is unreadable; see the bridge log",
                          name);
    if (err != FERRY_OK)
        return err;
    const char *have = json_string_value(json_object_get(*rec, "kind"));
    if (strcmp(have, kind) != 0) {
        err = ferry_fail(e, FERRY_EINVAL, field, "config '%s' is a %s, not a %s", name, have, kind);
        json_decref(*rec);
        *rec = NULL;
    }
    return err;
}

/* resolved.configs entry of config name (borrowed from the cache). */
static ferry_err resolve_config(bridge_resolver *r, const json_t *spec, const char *name,
                                const char *kind, const json_t **entry, ferry_detail *e) {
    json_t *rec = NULL, *plain = NULL, *files = NULL, *made = NULL;
    char field[192] = "volumes";
    ferry_err err = FERRY_ENOMEM;

    if ((*entry = json_object_get(r->configs, name)) != NULL) {
        const char *have = json_string_value(json_object_get(*entry, "kind"));
        if (strcmp(have, kind) == 0)
            return FERRY_OK;
        *entry = NULL; /* another kind: fails below with the right message */
    }
    if (r->configs == NULL && (r->configs = json_object()) == NULL)
        goto out;
    volume_field(spec, name, kind, field, sizeof(field));
    if ((err = get_config(r, name, kind, field, &rec, e)) != FERRY_OK ||
        (err = config_plain(r->b, rec, &plain)) != FERRY_OK ||
        (err = ferry_config_files(plain, &files)) != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    made = json_pack("{s:s, s:O, s:O}", "kind", kind, "version", json_object_get(rec, "version"),
                     "files", files);
    if (made == NULL || json_object_set(r->configs, name, made) != 0)
        goto out;
    *entry = made;
    err = FERRY_OK;
out:
    if (err == FERRY_EFORMAT)
        ferry_fail(e, FERRY_EFORMAT, field, "config '%s' is unreadable; see the bridge log", name);
    json_decref(rec);
    json_decref(plain);
    json_decref(files);
    json_decref(made); /* the cache holds it */
    return err;
}

/* resolved.registries entry of registry name (borrowed from the cache), for registries[k]. */
static ferry_err resolve_registry(bridge_resolver *r, const char *name, size_t k,
                                  const json_t **entry, ferry_detail *e) {
    json_t *rec = NULL, *plain = NULL, *made = NULL;
    char field[64] = "registries";
    ferry_err err = FERRY_ENOMEM;

    if ((*entry = json_object_get(r->registries, name)) != NULL)
        return FERRY_OK;
    if (r->registries == NULL && (r->registries = json_object()) == NULL)
        goto out;
    snprintf(field, sizeof(field), "registries[%zu]", k);
    if ((err = get_config(r, name, "registry", field, &rec, e)) != FERRY_OK ||
        (err = config_plain(r->b, rec, &plain)) != FERRY_OK)
        goto out;
    const json_t *reg = json_object_get(plain, "registry");
    err = FERRY_ENOMEM;
    made = json_pack("{s:s, s:O, s:O, s:O}", "name", name, "server", json_object_get(reg, "server"),
                     "username", json_object_get(reg, "username"), "password",
                     json_object_get(reg, "password"));
    if (made == NULL || json_object_set(r->registries, name, made) != 0)
        goto out;
    *entry = made;
    err = FERRY_OK;
out:
    if (err == FERRY_EFORMAT)
        ferry_fail(e, FERRY_EFORMAT, field, "registry '%s' is unreadable; see the bridge log",
                   name);
    json_decref(rec);
    json_decref(plain);
    json_decref(made);
    return err;
}

ferry_err bridge__wire_spec(bridge_resolver *r, const char *app, const json_t *spec, json_t **wire,
                            ferry_detail *e) {
    json_t *refs = NULL, *resolved = NULL, *out = NULL;
    const json_t *entry;
    const char *name;
    json_t *kind;
    ferry_err err = FERRY_ENOMEM;

    *wire = NULL;
    if ((out = json_copy((json_t *)spec)) == NULL ||
        (err = ferry_app_config_refs(spec, &refs)) != FERRY_OK)
        goto out;
    const json_t *configs = json_object_get(refs, "configs");
    const json_t *regs = json_object_get(refs, "registries");
    if (json_object_size(configs) == 0 && json_array_size(regs) == 0)
        goto done; /* nothing to resolve: the spec as stored */
    err = FERRY_ENOMEM;
    if ((resolved = json_pack("{s:{}, s:[]}", "configs", "registries")) == NULL)
        goto out;
    json_object_foreach((json_t *)configs, name, kind) {
        if ((err = resolve_config(r, spec, name, json_string_value(kind), &entry, e)) != FERRY_OK)
            goto out;
        if (json_object_set(json_object_get(resolved, "configs"), name, (json_t *)entry) != 0) {
            err = FERRY_ENOMEM;
            goto out;
        }
    }
    for (size_t k = 0; k < json_array_size(regs); k++) {
        name = json_string_value(json_array_get(regs, k));
        if ((err = resolve_registry(r, name, k, &entry, e)) != FERRY_OK)
            goto out;
        if (json_array_append(json_object_get(resolved, "registries"), (json_t *)entry) != 0) {
            err = FERRY_ENOMEM;
            goto out;
        }
    }
    if (json_object_set(out, "resolved", resolved) != 0) {
        err = FERRY_ENOMEM;
        goto out;
    }
done:
    *wire = out;
    out = NULL;
    err = FERRY_OK;
out:
    if (err != FERRY_OK && err != FERRY_EINVAL)
        LOG_ERROR("cannot build what nodes receive for app %s/%s: %s", r->ns, app,
                  ferry_strerror(err));
    json_decref(refs);
    json_decref(resolved);
    json_decref(out);
    return err;
}

static bool app_uses_config(const json_t *spec, const char *name) {
    json_t *refs = NULL;
    bool used = false;
    if (ferry_app_config_refs(spec, &refs) != FERRY_OK)
        return false;
    used = json_object_get(json_object_get(refs, "configs"), name) != NULL;
    const json_t *regs = json_object_get(refs, "registries");
    for (size_t k = 0; !used && k < json_array_size(regs); k++)
        used = strcmp(json_string_value(json_array_get(regs, k)), name) == 0;
    json_decref(refs);
    return used;
}

/* ---- writes ---------------------------------------------------------------------------------- */

/* Validate a config body (name_path: the name in the URL for PUT, NULL for POST) and turn it into
 * what is stored: read-only members dropped, secret values sealed. *stored is new. */
static ferry_err config_input(ferry_bridge *b, const char *ns, const json_t *body,
                              const char *name_path, json_t **stored, ferry_detail *e) {
    static const char *const read_only[] = {"namespace", "version", "createdAt", "updatedAt",
                                            "digests"};
    json_t *cfg = NULL;
    ferry_err err = FERRY_ENOMEM;

    *stored = NULL;
    if (!json_is_object(body))
        return ferry_fail(e, FERRY_EINVAL, NULL, "the body must be a JSON object");
    if ((cfg = json_deep_copy(body)) == NULL)
        goto fail;
    const json_t *jname = json_object_get(cfg, "name");
    if (name_path != NULL && jname == NULL &&
        json_object_set_new(cfg, "name", json_string(name_path)) != 0) /* PUT may leave it out */
        goto fail;
    if (ferry_config_validate(cfg, e) != FERRY_OK) {
        err = FERRY_EINVAL;
        goto fail;
    }
    const char *name = json_string_value(json_object_get(cfg, "name"));
    if (name_path != NULL && strcmp(name, name_path) != 0) {
        err = ferry_fail(e, FERRY_EINVAL, "name",
                         "must equal the name in the path ('%s'), renaming is not "
                         "supported",
                         name_path);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
        json_object_del(cfg, read_only[i]);
    slot_ctx c = {.b = b, .ns = ns, .name = name};
    if ((err = bridge__each_slot(cfg, seal_slot, &c)) != FERRY_OK) {
        err = bridge__store_fail(e, err);
        goto fail;
    }
    *stored = cfg;
    return FERRY_OK;
fail:
    if (err == FERRY_ENOMEM)
        bridge__store_fail(e, err);
    json_decref(cfg);
    return err;
}

/* Read config ns/name for a write: FERRY_ENOTFOUND with e filled when absent. */
static ferry_err get_for_write(ferry_store_txn *t, const bridge_write_op *op, json_t **rec) {
    ferry_err err = bridge__get_config(t, op->ns, op->name, rec);
    if (err == FERRY_ENOTFOUND)
        return ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "config '%s' not found", op->name);
    return err;
}

static ferry_err put_config(ferry_store_txn *t, const bridge_write_op *op, uint64_t rev,
                            int64_t created, json_t **rec) {
    char key[BRIDGE_KEY_MAX];
    bridge__key(key, op->ns, op->name, NULL);
    *rec = json_pack("{s:s, s:s, s:O, s:I, s:O, s:I, s:I}", "ns", op->ns, "name", op->name, "kind",
                     json_object_get(op->input, "kind"), "version", (json_int_t)rev, "config",
                     op->input, "createdAt", (json_int_t)created, "updatedAt", (json_int_t)op->now);
    return *rec != NULL ? ferry_store_put(t, FERRY_DB_CONFIGS, key, *rec) : FERRY_ENOMEM;
}

static ferry_err config_create_txn(ferry_store_txn *t, void *ctx) {
    bridge_write_op *op = ctx;
    json_t *old = NULL, *rec = NULL;
    uint64_t rev;

    bridge__op_reset(op);
    ferry_err err = get_for_write(t, op, &old);
    if (err == FERRY_OK) {
        err = ferry_fail(op->e, FERRY_EEXIST, "name", "config '%s' already exists", op->name);
        goto out;
    }
    if ((err != FERRY_ENOTFOUND && err != FERRY_OK) ||
        (err = ferry_store_next_rev(t, &rev)) != FERRY_OK ||
        (err = put_config(t, op, rev, op->now, &rec)) != FERRY_OK)
        goto out;
    /* No app can reference it yet (such an app was refused): nothing to publish. */
    op->out = bridge__config_view(rec);
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    json_decref(old);
    json_decref(rec);
    return err;
}

/* The apps of the namespace that use a config, with what nodes hold of them now. */
typedef struct {
    bridge_resolver *res;
    const char *config;
    json_t *apps;  /* [[record, wire or null], ...] */
    json_t *users; /* names, for the 409 of a delete */
    ferry_err err;
} users_scan;

static bool users_each(const char *key, const json_t *rec, void *ctx) {
    users_scan *us = ctx;
    json_t *wire = NULL;
    if (!bridge__app_record_ok(key, rec)) {
        us->err = FERRY_EFORMAT;
        return false;
    }
    const json_t *spec = json_object_get(rec, "spec");
    if (json_is_true(json_object_get(rec, "deleted")) || !app_uses_config(spec, us->config))
        return true;
    if (us->users != NULL && json_array_append(us->users, json_object_get(rec, "name")) != 0) {
        us->err = FERRY_ENOMEM;
        return false;
    }
    if (us->apps == NULL)
        return true;
    /* Unknown (unresolvable) old wire document: the app goes out as a put. */
    if (bridge__wire_spec(us->res, json_string_value(json_object_get(rec, "name")), spec, &wire,
                          NULL) != FERRY_OK)
        wire = NULL;
    if (json_array_append_new(us->apps, json_pack("[O, o?]", rec, wire)) != 0) {
        us->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

static ferry_err find_users(ferry_store_txn *t, const bridge_write_op *op, users_scan *us) {
    char prefix[BRIDGE_KEY_MAX];
    bridge__key(prefix, op->ns, "", NULL);
    ferry_err err = ferry_store_scan(t, FERRY_DB_APPS, prefix, users_each, us);
    return err != FERRY_OK ? err : us->err;
}

/* Give app (its record and the wire document nodes hold) a new version with the config files as
 * they are now in the transaction, and queue it. */
static ferry_err republish(ferry_store_txn *t, bridge_write_op *op, bridge_resolver *res,
                           const json_t *item) {
    json_t *rec = json_deep_copy(json_array_get(item, 0)), *wire = NULL;
    const json_t *old_wire = json_array_get(item, 1);
    const char *app = json_string_value(json_object_get(rec, "name"));
    char key[BRIDGE_KEY_MAX];
    uint64_t rev;
    ferry_err err = FERRY_ENOMEM;

    if (rec == NULL)
        goto out;
    const json_t *spec = json_object_get(rec, "spec");
    int64_t base = bridge__int(rec, "version");
    if ((err = bridge__wire_spec(res, app, spec, &wire, op->e)) != FERRY_OK ||
        (err = ferry_store_next_rev(t, &rev)) != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    if (json_object_set_new(rec, "version", json_integer((json_int_t)rev)) != 0 ||
        json_object_set_new(rec, "updatedAt", json_integer(op->now)) != 0)
        goto out;
    bridge__key(key, op->ns, app, NULL);
    if ((err = ferry_store_put(t, FERRY_DB_APPS, key, rec)) != FERRY_OK ||
        (err = bridge__queue_app_wire(op->b, t, op->ns, app, spec,
                                      json_is_null(old_wire) ? NULL : old_wire, wire, base,
                                      (int64_t)rev, &op->queued, op->e)) != FERRY_OK)
        goto out;
    LOG_INFO("app %s/%s re-published at version %lld: config '%s' changed", op->ns, app,
             (long long)rev, op->name);
out:
    json_decref(rec);
    json_decref(wire);
    return err;
}

/* An update: the config gets a new version, then every app that uses it gets one too and goes
 * out with the new files (app.patch of the old wire document to the new one when smaller), all in
 * this transaction, so that nodes replace exactly the containers that mount it. */
static ferry_err config_update_txn(ferry_store_txn *t, void *ctx) {
    bridge_write_op *op = ctx;
    json_t *old = NULL, *rec = NULL;
    bridge_resolver before, after;
    users_scan us = {.res = &before, .config = op->name, .apps = json_array()};
    uint64_t rev;

    bridge__resolver_init(&before, op->b, t, op->ns);
    bridge__resolver_init(&after, op->b, t, op->ns);
    bridge__op_reset(op);
    ferry_err err = us.apps != NULL ? get_for_write(t, op, &old) : FERRY_ENOMEM;
    if (err != FERRY_OK)
        goto out;
    int64_t base = bridge__int(old, "version");
    if ((err = bridge__check_version(op, base)) != FERRY_OK)
        goto out;
    if (!json_equal(json_object_get(old, "kind"), json_object_get(op->input, "kind"))) {
        err = ferry_fail(op->e, FERRY_EINVAL, "kind",
                         "cannot change (stored %s); delete the config and create it "
                         "again",
                         json_string_value(json_object_get(old, "kind")));
        goto out;
    }
    /* The old wire documents are built before the new config is written. */
    if ((err = find_users(t, op, &us)) != FERRY_OK ||
        (err = ferry_store_next_rev(t, &rev)) != FERRY_OK ||
        (err = put_config(t, op, rev, bridge__int(old, "createdAt"), &rec)) != FERRY_OK)
        goto out;
    size_t i;
    json_t *item;
    json_array_foreach(us.apps, i, item) {
        if ((err = republish(t, op, &after, item)) != FERRY_OK)
            goto out;
    }
    op->out = bridge__config_view(rec);
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    bridge__resolver_done(&before);
    bridge__resolver_done(&after);
    json_decref(us.apps);
    json_decref(old);
    json_decref(rec);
    return err;
}

static ferry_err config_delete_txn(ferry_store_txn *t, void *ctx) {
    bridge_write_op *op = ctx;
    json_t *old = NULL;
    users_scan us = {.config = op->name, .users = json_array()};
    char key[BRIDGE_KEY_MAX], list[400];
    uint64_t rev;
    size_t off = 0;

    bridge__op_reset(op);
    ferry_err err = us.users != NULL ? get_for_write(t, op, &old) : FERRY_ENOMEM;
    if (err != FERRY_OK || (err = find_users(t, op, &us)) != FERRY_OK)
        goto out;
    if (json_array_size(us.users) > 0) {
        list[0] = '\0';
        for (size_t i = 0; i < json_array_size(us.users) && off < sizeof(list); i++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i > 0 ? ", " : "",
                                    json_string_value(json_array_get(us.users, i)));
        err = ferry_fail(op->e, FERRY_ECONFLICT, "name", "config '%s' is used by apps: %s",
                         op->name, list);
        goto out;
    }
    bridge__key(key, op->ns, op->name, NULL);
    if ((err = ferry_store_next_rev(t, &rev)) != FERRY_OK ||
        (err = ferry_store_del(t, FERRY_DB_CONFIGS, key)) != FERRY_OK)
        goto out;
    op->out = json_pack("{s:s, s:s, s:I, s:b}", "name", op->name, "namespace", op->ns, "version",
                        (json_int_t)rev, "deleted", 1);
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    json_decref(us.users);
    json_decref(old);
    return err;
}

ferry_err ferry_bridge_config_create(ferry_bridge *b, const char *ns, const json_t *body,
                                     json_t **out, ferry_detail *e) {
    json_t *stored = NULL;
    bridge_write_op op = {.ns = ns, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, NULL, e);
    if (err == FERRY_OK)
        err = config_input(b, ns, body, NULL, &stored, e);
    if (err != FERRY_OK)
        goto out;
    op.name = json_string_value(json_object_get(stored, "name"));
    op.input = stored;
    err = bridge__run_write(b, config_create_txn, &op, out);
    if (err == FERRY_OK)
        LOG_INFO("config %s/%s created at version %lld", ns, op.name,
                 (long long)json_integer_value(json_object_get(*out, "version")));
out:
    json_decref(stored);
    return err;
}

ferry_err ferry_bridge_config_update(ferry_bridge *b, const char *ns, const char *name,
                                     const json_t *body, json_t **out, ferry_detail *e) {
    json_t *stored = NULL;
    bridge_write_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    if (err == FERRY_OK)
        err = config_input(b, ns, body, name, &stored, e);
    if (err != FERRY_OK)
        goto out;
    if ((err = bridge__body_version(body, &op.body_version, e)) != FERRY_OK)
        goto out;
    op.input = stored;
    err = bridge__run_write(b, config_update_txn, &op, out);
    if (err == FERRY_OK)
        LOG_INFO("config %s/%s updated to version %lld", ns, name,
                 (long long)json_integer_value(json_object_get(*out, "version")));
out:
    json_decref(stored);
    return err;
}

ferry_err ferry_bridge_config_delete(ferry_bridge *b, const char *ns, const char *name,
                                     json_t **out, ferry_detail *e) {
    bridge_write_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    if (err == FERRY_OK)
        err = bridge__run_write(b, config_delete_txn, &op, out);
    if (err == FERRY_OK)
        LOG_INFO("config %s/%s deleted", ns, name);
    return err;
}
