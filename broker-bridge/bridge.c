/* broker-bridge core: opening and closing the bridge, the app and node writes of the REST API,
 * the node.sync a node gets, and the answers to node messages (hello, status, online). */
#include "bridge_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "configs.h"
#include "ferry/app.h"
#include "ferry/codec.h"
#include "ferry/labels.h"
#include "ferry/proto.h"
#include "ferry/selector.h"
#include "ferry/topics.h"
#include "bundles.h"
#include "records.h"
#include "telemetry.h"
#include "views.h"
#include "write.h"

#define DEFAULT_WINDOW 1000
#define MAX_BATCH 1024 /* node messages handled in one transaction */

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* The path of a key file beside the data folder ("<data_dir><suffix>") unless given. */
static ferry_err key_path(const char *given, const char *data_dir, const char *suffix, char *buf,
                          size_t len) {
    size_t n = strlen(data_dir);
    while (n > 1 && data_dir[n - 1] == '/')
        n--;
    int w = given != NULL ? snprintf(buf, len, "%s", given)
                          : snprintf(buf, len, "%.*s%s", (int)n, data_dir, suffix);
    return w < 0 || (size_t)w >= len ? FERRY_EINVAL : FERRY_OK;
}

/* Load the key file (created when missing, unless the store already holds sealed values, which
 * a new key could not decrypt) and check that it decrypts what the store holds. */
static ferry_err load_key(ferry_bridge *b, const ferry_bridge_config *cfg) {
    char path[4096];
    ferry_err err;
    bool created = false;
    char *probe = NULL;

    if ((err = key_path(cfg->key_file, cfg->data_dir, ".key", path, sizeof(path))) != FERRY_OK)
        return err;
    if ((err = bridge__probe_sealed(b, false, &probe)) != FERRY_OK)
        return err;
    err = ferry_secrets_key_load(path, probe == NULL, b->key, &created);
    if (err == FERRY_ENOTFOUND) {
        LOG_ERROR("secrets: the key file %s is missing, but the store in %s holds encrypted "
                  "secrets (%s); restore the key file (or pass --key-file)",
                  path, cfg->data_dir, probe);
        err = FERRY_EINVAL;
    }
    if (err == FERRY_OK && probe != NULL) {
        ferry_free(probe);
        probe = NULL;
        if ((err = bridge__probe_sealed(b, true, &probe)) != FERRY_OK)
            LOG_ERROR("secrets: the key file %s does not decrypt the secrets stored in %s (%s); "
                      "is it the key this store was created with?",
                      path, cfg->data_dir, probe);
    }
    if (err != FERRY_OK && created)
        unlink(path);
    if (err == FERRY_OK)
        LOG_DEBUG("secrets: key file %s loaded", path);
    ferry_free(probe);
    return err;
}

/* Load (or create at first start) the bridge's signing key. */
static ferry_err load_sign_key(ferry_bridge *b, const ferry_bridge_config *cfg) {
    char path[4096];
    ferry_err err = key_path(cfg->sign_key_file, cfg->data_dir, ".sign", path, sizeof(path));
    if (err == FERRY_OK)
        err = ferry_secrets_key_load(path, true, b->sign.seed, NULL);
    if (err == FERRY_OK)
        err = ferry_sign_keypair(&b->sign);
    if (err == FERRY_OK) {
        char pub[FERRY_SIGN_PUB_B64];
        ferry_sign_pub_encode(b->sign.pub, pub);
        LOG_INFO("identity: signing key %s loaded (public key %s)", path, pub);
    }
    return err;
}

/* The store's watcher: stages what writes change for the index (index.h). */
static ferry_err watch_store(ferry_db db, const char *key, const json_t *rec, void *ctx) {
    bridge_index *ix = ctx;
    if (key == NULL) { /* an attempt of a write begins */
        bridge__index_drop(ix);
        return FERRY_OK;
    }
    return bridge__index_stage(ix, db, key, rec);
}

static ferry_err load_index_txn(ferry_store_txn *t, void *ctx) {
    return bridge__index_load(ctx, t);
}

/* The index from the store, then every write keeps it. */
static ferry_err load_index(ferry_bridge *b) {
    int64_t t0 = ferry_mono_ms();
    ferry_err err = ferry_store_read(b->store, load_index_txn, b->index);
    if (err != FERRY_OK) {
        LOG_ERROR("store: could not index the apps and nodes (%s)", ferry_strerror(err));
        return err;
    }
    ferry_store_watch(b->store, watch_store, b->index);
    LOG_INFO("store: apps and nodes indexed in %lld ms", (long long)(ferry_mono_ms() - t0));
    return FERRY_OK;
}

ferry_err ferry_bridge_open(const ferry_bridge_config *cfg, ferry_bridge **out) {
    ferry_err err = FERRY_ENOMEM;
    ferry_bridge *b = ferry_calloc(1, sizeof(*b));
    *out = NULL;
    if (b == NULL)
        return err;
    b->cfg = *cfg;
    b->cfg.data_dir = NULL; /* not kept */
    b->cfg.key_file = NULL;
    b->cfg.sign_key_file = NULL;
    if (b->cfg.window == 0)
        b->cfg.window = DEFAULT_WINDOW;
    b->retry_from = UINT64_MAX;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        ferry_free(b);
        return FERRY_ENOMEM;
    }
    if ((err = ferry_broker_create(cfg->broker != NULL ? cfg->broker : "none", &b->broker)) !=
        FERRY_OK) {
        LOG_ERROR("broker administration '%s' is unknown (mosquitto-dynsec or none)", cfg->broker);
        ferry_bridge_close(b);
        return err;
    }
    b->cfg.broker = NULL; /* not kept */
    if ((err = bridge__hellos_new(&b->hellos)) != FERRY_OK ||
        (err = bridge__stats_new(cfg->stats_max_series, ferry_now_ms(), &b->stats)) != FERRY_OK ||
        (err = bridge__index_new(&b->index)) != FERRY_OK ||
        (err = ferry_metrics_new(&b->metrics)) != FERRY_OK ||
        (err = bridge__logs_new(&b->logs)) != FERRY_OK ||
        (err = bridge__telemetry_declare(b->metrics)) != FERRY_OK ||
        (err = ferry_store_open(cfg->data_dir, cfg->mapsize, &b->store)) != FERRY_OK ||
        (err = load_index(b)) != FERRY_OK || (err = load_key(b, cfg)) != FERRY_OK ||
        (err = load_sign_key(b, cfg)) != FERRY_OK) {
        ferry_bridge_close(b);
        return err;
    }
    *out = b;
    return FERRY_OK;
}

void ferry_bridge_public_key(const ferry_bridge *b, unsigned char pub[32]) {
    memcpy(pub, b->sign.pub, sizeof(b->sign.pub));
}

void ferry_bridge_close(ferry_bridge *b) {
    if (b == NULL)
        return;
    ferry_store_close(b->store);
    bridge__logs_free(b->logs);
    bridge__index_free(b->index);
    ferry_metrics_free(b->metrics);
    bridge__hellos_free(b->hellos);
    bridge__stats_free(b->stats);
    ferry_broker_destroy(b->broker);
    ferry_secrets_wipe(b->key, sizeof(b->key));
    ferry_secrets_wipe(&b->sign, sizeof(b->sign));
    pthread_mutex_destroy(&b->lock);
    ferry_free(b);
}

/* ---- node.sync ------------------------------------------------------------------------------- */

static ferry_err sync_topic(const char *ns, const char *node, char *buf, size_t len) {
    ferry_topic tp = {.kind = FERRY_TOPIC_NODE_SYNC};
    snprintf(tp.ns, sizeof(tp.ns), "%s", ns);
    snprintf(tp.node, sizeof(tp.node), "%s", node);
    return ferry_topic_build(&tp, buf, len);
}

struct sync_scan {
    ferry_store_txn *t;
    const char *ns;
    const json_t *node_rec;     /* the node's record (its labels, its keys) */
    const json_t *held;         /* hello's apps map, or NULL: every spec is included */
    const json_t *held_secrets; /* hello's secrets map, or NULL: every bundle is included */
    bridge_resolver *res;       /* wire documents of the specs sent */
    json_t *apps;
    json_t *secrets; /* the sealed bundles the node lacks */
    size_t budget;   /* bytes of specs and bundles this sync may still carry */
    bool carries;    /* a spec or bundle is in: the next one must fit the budget */
    ferry_err err;
};

/* A node.sync carries specs and bundles up to SYNC_BUDGET bytes (as compact JSON, which msgpack
 * never exceeds); the apps past it are listed without their spec (their bundles left out), and
 * the node asks for them with its next hello (PROTOCOL.md, "node.sync"). The list itself costs
 * about 80 bytes an app, so one sync holds some 12,000 apps. */
#define SYNC_BUDGET (FERRY_MAX_PAYLOAD / 4 * 3)

/* Whether v (compact JSON) fits what is left of the sync's budget; takes it when it does. The
 * first item always fits: alone it fits a message, as its own app.put did. */
static bool sync_fits(struct sync_scan *sc, const json_t *v) {
    size_t size = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (sc->carries && size > sc->budget)
        return false;
    sc->budget = size > sc->budget ? 0 : sc->budget - size;
    sc->carries = true;
    return true;
}

/* One app that selects the node (from the index): listed with its version; its spec read from
 * the store only when the node lacks it, its bundle only when it may have one. */
static bool sync_each(const char *name, const json_t *item, void *ctx) {
    struct sync_scan *sc = ctx;
    json_int_t version = json_integer_value(json_object_get(item, "version"));
    json_t *held = sc->held != NULL ? json_object_get(sc->held, name) : NULL;
    bool has_spec = json_is_integer(held) && json_integer_value(held) == version;
    bool send_spec = !has_spec;
    json_t *rec = NULL, *wire = NULL, *entry = NULL, *sealed = NULL;
    bridge_wire_parts parts = {0};

    if (send_spec || json_is_true(json_object_get(item, "secrets"))) {
        if ((sc->err = bridge__get_app(sc->t, sc->ns, name, &rec)) != FERRY_OK)
            goto out;
        const json_t *spec = json_object_get(rec, "spec");
        if ((sc->err = bridge__wire_spec(sc->res, name, spec, &wire, NULL)) != FERRY_OK ||
            (sc->err = bridge__wire_split(wire, &parts)) != FERRY_OK)
            goto out;
    }
    const char *has = json_string_value(json_object_get(sc->held_secrets, name));
    if (parts.bundle != NULL && (has == NULL || strcmp(has, parts.digest) != 0)) {
        sc->err = bridge__seal_for(sc->node_rec, name, &parts, &sealed);
        if (sc->err == FERRY_ENOTFOUND) /* not enrolled: it cannot open bundles */
            sc->err = FERRY_OK;
        if (sc->err != FERRY_OK)
            goto out;
    }
    send_spec = send_spec && sync_fits(sc, parts.pub);
    if (sealed != NULL && !send_spec && !has_spec) {
        json_decref(sealed); /* its spec comes later: so does its bundle */
        sealed = NULL;
    }
    if (sealed != NULL && !sync_fits(sc, sealed)) {
        json_decref(sealed);
        sealed = NULL;
    }
    sc->err = FERRY_ENOMEM;
    entry = json_pack("{s:s, s:I}", "app", name, "version", version);
    if (entry == NULL || (send_spec && json_object_set(entry, "spec", parts.pub) != 0) ||
        json_array_append(sc->apps, entry) != 0 ||
        (sealed != NULL && json_array_append(sc->secrets, sealed) != 0))
        goto out;
    sc->err = FERRY_OK;
out:
    bridge__wire_parts_clear(&parts);
    json_decref(rec);
    json_decref(wire);
    json_decref(entry);
    json_decref(sealed);
    return sc->err == FERRY_OK;
}

/* The node.sync for node at rev: registered with its labels and every app of the namespace that
 * selects it when node_rec is not NULL, else registered=false with nothing. Specs go in their
 * public form; the sealed bundles of those apps go in "secrets" when the node is enrolled. held
 * (a hello, may be NULL) leaves out the specs and bundles the node already has. The apps come
 * from the index (a lock on it held: t's snapshot is the index's commit), so a sync costs what
 * the node's apps cost, whatever else the namespace holds. *msg is new. */
static ferry_err build_sync(ferry_bridge *b, ferry_store_txn *t, const char *ns, const char *node,
                            const json_t *node_rec, uint64_t rev, const json_t *held,
                            json_t **msg) {
    bridge_resolver res;
    struct sync_scan sc = {.t = t,
                           .ns = ns,
                           .node_rec = node_rec,
                           .held = json_object_get(held, "apps"),
                           .held_secrets = held != NULL ? json_object_get(held, "secrets") : NULL,
                           .res = &res,
                           .apps = json_array(),
                           .secrets = json_array(),
                           .budget = SYNC_BUDGET,
                           .err = FERRY_OK};
    json_t *labels = node_rec != NULL ? json_object_get(node_rec, "labels") : NULL;
    ferry_err err = FERRY_ENOMEM;

    bridge__resolver_init(&res, b, t, ns);
    *msg = NULL;
    if (sc.apps == NULL || sc.secrets == NULL)
        goto out;
    if (node_rec != NULL) {
        err = bridge__index_apps_for(b->index, ns, labels, sync_each, &sc);
        if (err == FERRY_OK)
            err = sc.err;
        if (err != FERRY_OK)
            goto out;
    }
    *msg = json_pack("{s:s, s:s, s:s, s:I, s:b, s:O?, s:O}", "type", FERRY_MSG_NODE_SYNC, "ns", ns,
                     "node", node, "rev", (json_int_t)rev, "registered", node_rec != NULL, "labels",
                     labels, "apps", sc.apps);
    if (*msg != NULL && labels == NULL)
        json_object_set_new(*msg, "labels", json_object());
    if (*msg != NULL && json_array_size(sc.secrets) > 0)
        json_object_set(*msg, "secrets", sc.secrets);
    err = *msg != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    bridge__resolver_done(&res);
    json_decref(sc.apps);
    json_decref(sc.secrets);
    return err;
}

/* Queue the node.sync of a node whose registration changed at rev. */
ferry_err bridge__queue_sync(ferry_bridge *b, ferry_store_txn *t, const char *ns, const char *node,
                             const json_t *node_rec, uint64_t rev, size_t *queued) {
    char topic[FERRY_TOPIC_MAX];
    json_t *msg = NULL;
    ferry_err err = sync_topic(ns, node, topic, sizeof(topic));
    if (err == FERRY_OK)
        err = build_sync(b, t, ns, node, node_rec, rev, NULL, &msg);
    if (err == FERRY_OK)
        err = bridge__queue(b, t, topic, msg, queued);
    return err;
}

/* ---- API writes ------------------------------------------------------------------------------ */

static ferry_err app_create_txn(ferry_store_txn *t, void *ctx) {
    bridge_write_op *op = ctx;
    json_t *old = NULL, *rec = NULL, *wire = NULL;
    char key[BRIDGE_KEY_MAX];
    uint64_t rev;
    int64_t created = op->now;
    bridge_resolver res;

    bridge__resolver_init(&res, op->b, t, op->ns);
    bridge__op_reset(op);
    ferry_err err = bridge__get_app(t, op->ns, op->name, &old);
    if (err == FERRY_OK && !json_is_true(json_object_get(old, "deleted"))) {
        err = ferry_fail(op->e, FERRY_EEXIST, "name", "app '%s' already exists", op->name);
        goto out;
    }
    if (err != FERRY_OK && err != FERRY_ENOTFOUND)
        goto out;
    /* Every config and registry it names must exist (400, nothing stored): what nodes get is
     * the app with their contents. */
    if ((err = bridge__wire_spec(&res, op->name, op->input, &wire, op->e)) != FERRY_OK ||
        (err = ferry_store_next_rev(t, &rev)) != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    rec = json_pack("{s:s, s:s, s:I, s:b, s:O, s:I, s:I}", "ns", op->ns, "name", op->name,
                    "version", (json_int_t)rev, "deleted", 0, "spec", op->input, "createdAt",
                    (json_int_t)created, "updatedAt", (json_int_t)op->now);
    if (rec == NULL)
        goto out;
    bridge__key(key, op->ns, op->name, NULL);
    /* No old wire document: an app.put on the app's topic. */
    if ((err = ferry_store_put(t, FERRY_DB_APPS, key, rec)) != FERRY_OK ||
        (err = bridge__queue_app_wire(op->b, t, op->ns, op->name, op->input, NULL, wire, 0,
                                      (int64_t)rev, &op->queued, op->e)) != FERRY_OK)
        goto out;
    op->out = bridge__app_view(rec, op->now);
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    bridge__resolver_done(&res);
    json_decref(old);
    json_decref(rec);
    json_decref(wire);
    return err;
}

/* Validate an app body and normalise it; *spec is new. */
static ferry_err app_input(const json_t *body, json_t **spec, ferry_detail *e) {
    *spec = NULL;
    if (!json_is_object(body))
        return ferry_fail(e, FERRY_EINVAL, NULL, "the body must be a JSON object");
    if (ferry_app_validate(body, e) != FERRY_OK)
        return FERRY_EINVAL;
    *spec = ferry_app_normalize(body);
    return *spec != NULL ? FERRY_OK : bridge__store_fail(e, FERRY_ENOMEM);
}

ferry_err ferry_bridge_app_create(ferry_bridge *b, const char *ns, const json_t *body, json_t **out,
                                  ferry_detail *e) {
    json_t *spec = NULL;
    bridge_write_op op = {.ns = ns, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, NULL, e);
    if (err == FERRY_OK)
        err = app_input(body, &spec, e);
    if (err != FERRY_OK)
        goto out;
    op.name = json_string_value(json_object_get(spec, "name"));
    op.input = spec;
    err = bridge__run_write(b, app_create_txn, &op, out);
    if (err == FERRY_OK)
        LOG_INFO("app %s/%s created at version %lld", ns, op.name,
                 (long long)json_integer_value(json_object_get(*out, "version")));
out:
    json_decref(spec);
    return err;
}

static ferry_err app_update_txn(ferry_store_txn *t, void *ctx) {
    bridge_write_op *op = ctx;
    json_t *old = NULL, *rec = NULL, *old_wire = NULL, *wire = NULL;
    char key[BRIDGE_KEY_MAX];
    uint64_t rev;
    bridge_resolver res;

    bridge__resolver_init(&res, op->b, t, op->ns);
    bridge__op_reset(op);
    ferry_err err = bridge__get_app(t, op->ns, op->name, &old);
    if (err == FERRY_ENOTFOUND ||
        (err == FERRY_OK && json_is_true(json_object_get(old, "deleted")))) {
        err = ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "app '%s' not found", op->name);
        goto out;
    }
    if (err != FERRY_OK)
        goto out;
    int64_t base = bridge__int(old, "version");
    if ((err = bridge__check_version(op, base)) != FERRY_OK)
        goto out;
    const json_t *old_spec = json_object_get(old, "spec");
    /* What nodes hold at base (configs only change together with the apps that use them); when
     * it cannot be rebuilt the put goes out. */
    if (bridge__wire_spec(&res, op->name, old_spec, &old_wire, NULL) != FERRY_OK)
        old_wire = NULL;
    if ((err = bridge__wire_spec(&res, op->name, op->input, &wire, op->e)) != FERRY_OK ||
        (err = ferry_store_next_rev(t, &rev)) != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    rec = json_pack("{s:s, s:s, s:I, s:b, s:O, s:I, s:I}", "ns", op->ns, "name", op->name,
                    "version", (json_int_t)rev, "deleted", 0, "spec", op->input, "createdAt",
                    (json_int_t)bridge__int(old, "createdAt"), "updatedAt", (json_int_t)op->now);
    if (rec == NULL)
        goto out;
    bridge__key(key, op->ns, op->name, NULL);
    if ((err = ferry_store_put(t, FERRY_DB_APPS, key, rec)) != FERRY_OK ||
        (err = bridge__queue_app_wire(op->b, t, op->ns, op->name, old_spec, old_wire, wire, base,
                                      (int64_t)rev, &op->queued, op->e)) != FERRY_OK)
        goto out;
    op->out = bridge__app_view(rec, op->now);
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    bridge__resolver_done(&res);
    json_decref(old);
    json_decref(rec);
    json_decref(old_wire);
    json_decref(wire);
    return err;
}

ferry_err ferry_bridge_app_update(ferry_bridge *b, const char *ns, const char *name,
                                  const json_t *body, json_t **out, ferry_detail *e) {
    json_t *spec = NULL;
    bridge_write_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    if (err == FERRY_OK)
        err = app_input(body, &spec, e);
    if (err != FERRY_OK)
        goto out;
    const char *body_name = json_string_value(json_object_get(spec, "name"));
    if (strcmp(body_name, name) != 0) {
        err = ferry_fail(e, FERRY_EINVAL, "name",
                         "must equal the name in the path ('%s'), renaming is not "
                         "supported",
                         name);
        goto out;
    }
    if ((err = bridge__body_version(body, &op.body_version, e)) != FERRY_OK)
        goto out;
    op.input = spec;
    err = bridge__run_write(b, app_update_txn, &op, out);
    if (err == FERRY_OK)
        LOG_INFO("app %s/%s updated to version %lld", ns, name,
                 (long long)json_integer_value(json_object_get(*out, "version")));
out:
    json_decref(spec);
    return err;
}

static bool count_each(const char *key, const json_t *rec, void *ctx) {
    (void)key;
    (void)rec;
    (*(size_t *)ctx)++;
    return true;
}

/* Forget app of ns once it is deleted and no node keeps a status of it (every node that ran it
 * forgot it, or was deleted): the tombstone has done its work (PROTOCOL.md, "Collecting"). */
static ferry_err collect_app(ferry_store_txn *t, const char *ns, const char *app) {
    json_t *rec = NULL;
    char key[BRIDGE_KEY_MAX], prefix[BRIDGE_KEY_MAX];
    size_t statuses = 0;
    ferry_err err = bridge__get_app(t, ns, app, &rec);

    if (err == FERRY_ENOTFOUND || err == FERRY_EFORMAT)
        return FERRY_OK;
    if (err != FERRY_OK || !json_is_true(json_object_get(rec, "deleted")))
        goto out;
    bridge__key(prefix, ns, app, "");
    if ((err = ferry_store_scan(t, FERRY_DB_STATUS, prefix, count_each, &statuses)) != FERRY_OK ||
        statuses > 0)
        goto out;
    bridge__key(key, ns, app, NULL);
    if ((err = ferry_store_del(t, FERRY_DB_APPS, key)) == FERRY_OK)
        LOG_INFO("app %s/%s: deleted, and no node holds it any more; its tombstone is collected",
                 ns, app);
out:
    json_decref(rec);
    return err;
}

static ferry_err app_delete_txn(ferry_store_txn *t, void *ctx) {
    bridge_write_op *op = ctx;
    json_t *rec = NULL;
    char key[BRIDGE_KEY_MAX], topic[FERRY_TOPIC_MAX];
    uint64_t rev;

    bridge__op_reset(op);
    ferry_err err = bridge__get_app(t, op->ns, op->name, &rec);
    if (err == FERRY_ENOTFOUND ||
        (err == FERRY_OK && json_is_true(json_object_get(rec, "deleted")))) {
        err = ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "app '%s' not found", op->name);
        goto out;
    }
    if (err != FERRY_OK || (err = ferry_store_next_rev(t, &rev)) != FERRY_OK)
        goto out;
    /* A tombstone keeps the version (and the selector, for the topic) so that a re-created app
     * continues from a higher version. */
    err = FERRY_ENOMEM;
    if (json_object_set_new(rec, "version", json_integer((json_int_t)rev)) != 0 ||
        json_object_set_new(rec, "deleted", json_true()) != 0 ||
        json_object_set_new(rec, "updatedAt", json_integer(op->now)) != 0)
        goto out;
    bridge__key(key, op->ns, op->name, NULL);
    if ((err = ferry_store_put(t, FERRY_DB_APPS, key, rec)) != FERRY_OK ||
        (err = bridge__app_topic(op->ns, op->name, json_object_get(rec, "spec"), topic,
                                 sizeof(topic))) != FERRY_OK ||
        (err = bridge__queue(op->b, t, topic,
                             json_pack("{s:s, s:s, s:s, s:I}", "type", FERRY_MSG_APP_DELETE, "ns",
                                       op->ns, "app", op->name, "version", (json_int_t)rev),
                             &op->queued)) != FERRY_OK)
        goto out;
    op->out =
        json_pack("{s:s, s:I, s:b}", "name", op->name, "version", (json_int_t)rev, "deleted", 1);
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    json_decref(rec);
    return err;
}

ferry_err ferry_bridge_app_delete(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                  ferry_detail *e) {
    bridge_write_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    if (err == FERRY_OK)
        err = bridge__run_write(b, app_delete_txn, &op, out);
    if (err == FERRY_OK) {
        LOG_INFO("app %s/%s deleted at version %lld", ns, name,
                 (long long)json_integer_value(json_object_get(*out, "version")));
        /* After the commit: a report checked before it was applied under the lock before it. */
        bridge__stats_drop(b->stats, ns, name, NULL);
    }
    return err;
}

typedef struct {
    const char *node;
    json_t *apps; /* names of the apps with a status of node */
} node_statuses;

static bool node_status_each(const char *key, const json_t *rec, void *ctx) {
    node_statuses *ns = ctx;
    const char *node = json_string_value(json_object_get(rec, "node"));
    const char *app = json_string_value(json_object_get(rec, "app"));
    (void)key;
    if (node != NULL && app != NULL && strcmp(node, ns->node) == 0)
        json_array_append_new(ns->apps, json_string(app));
    return true;
}

/* A deleted node: drop its statuses (collecting the tombstones they kept) and clear its retained
 * statuses and online state on the broker. */
static ferry_err forget_node(ferry_bridge *b, ferry_store_txn *t, const char *ns, const char *node,
                             size_t *queued) {
    node_statuses st = {node, json_array()};
    char prefix[BRIDGE_KEY_MAX], key[BRIDGE_KEY_MAX], topic[FERRY_TOPIC_MAX];
    ferry_topic tp = {.kind = FERRY_TOPIC_NODE_STATUS};
    size_t i;
    json_t *v;
    ferry_err err = st.apps != NULL ? FERRY_OK : FERRY_ENOMEM;

    snprintf(tp.ns, sizeof(tp.ns), "%s", ns);
    snprintf(tp.node, sizeof(tp.node), "%s", node);
    bridge__key(prefix, ns, "", NULL);
    if (err == FERRY_OK)
        err = ferry_store_scan(t, FERRY_DB_STATUS, prefix, node_status_each, &st);
    json_array_foreach(st.apps, i, v) {
        if (err != FERRY_OK)
            break;
        bridge__key(key, ns, json_string_value(v), node);
        snprintf(tp.app, sizeof(tp.app), "%s", json_string_value(v));
        if ((err = ferry_store_del(t, FERRY_DB_STATUS, key)) == FERRY_OK &&
            (err = ferry_topic_build(&tp, topic, sizeof(topic))) == FERRY_OK &&
            (err = bridge__queue_clear(b, t, topic, queued)) == FERRY_OK)
            err = collect_app(t, ns, json_string_value(v));
    }
    tp.kind = FERRY_TOPIC_NODE_ONLINE;
    bridge__key(key, ns, node, NULL);
    if (err == FERRY_OK && (err = ferry_store_del(t, FERRY_DB_NODESTATE, key)) == FERRY_ENOTFOUND)
        err = FERRY_OK;
    if (err == FERRY_OK && (err = ferry_topic_build(&tp, topic, sizeof(topic))) == FERRY_OK)
        err = bridge__queue_clear(b, t, topic, queued);
    json_decref(st.apps);
    return err;
}

/* Node registration, relabelling (op->input = labels) and deletion (op->input = NULL). */
static ferry_err node_write_txn(ferry_store_txn *t, void *ctx, bool create) {
    bridge_write_op *op = ctx;
    json_t *old = NULL, *rec = NULL;
    char key[BRIDGE_KEY_MAX];
    uint64_t rev;

    bridge__op_reset(op);
    ferry_err err = bridge__get_node(t, op->ns, op->name, &old);
    if (create && err == FERRY_OK) {
        err = ferry_fail(op->e, FERRY_EEXIST, "name", "node '%s' already exists", op->name);
        goto out;
    }
    if (!create && err == FERRY_ENOTFOUND) {
        err = ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "node '%s' not found", op->name);
        goto out;
    }
    if ((err != FERRY_OK && err != FERRY_ENOTFOUND) ||
        (err = ferry_store_next_rev(t, &rev)) != FERRY_OK)
        goto out;
    bridge__key(key, op->ns, op->name, NULL);
    if (op->input == NULL) { /* delete */
        /* The node hears it is deleted, then its credential goes (PROTOCOL.md, "Trust"). */
        if ((err = ferry_store_del(t, FERRY_DB_NODES, key)) != FERRY_OK ||
            (err = bridge__queue_sync(op->b, t, op->ns, op->name, NULL, rev, &op->queued)) !=
                FERRY_OK ||
            (err = forget_node(op->b, t, op->ns, op->name, &op->queued)) != FERRY_OK ||
            (json_object_get(old, "keys") != NULL &&
             (err = bridge__broker_revoke(op->b, t, op->ns, op->name, &op->queued)) != FERRY_OK))
            goto out;
        op->out = json_pack("{s:s, s:s, s:b}", "name", op->name, "namespace", op->ns, "deleted", 1);
    } else {
        int64_t created = old != NULL ? bridge__int(old, "createdAt") : op->now;
        err = FERRY_ENOMEM;
        rec = json_pack("{s:s, s:s, s:O, s:I, s:I}", "ns", op->ns, "name", op->name, "labels",
                        op->input, "createdAt", (json_int_t)created, "updatedAt",
                        (json_int_t)op->now);
        if (rec == NULL)
            goto out;
        /* A relabel keeps the node's enrolled keys. */
        json_t *keys = json_object_get(old, "keys");
        if (keys != NULL && json_object_set(rec, "keys", keys) != 0)
            goto out;
        /* An enrolled node's topic rights follow its labels, before its new sync goes out. */
        if ((err = ferry_store_put(t, FERRY_DB_NODES, key, rec)) != FERRY_OK ||
            (keys != NULL && (err = bridge__broker_grant(op->b, t, op->ns, op->name, NULL,
                                                         op->input, &op->queued)) != FERRY_OK) ||
            (err = bridge__queue_sync(op->b, t, op->ns, op->name, rec, rev, &op->queued)) !=
                FERRY_OK)
            goto out;
        op->out = bridge__node_view(t, rec);
    }
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    json_decref(old);
    json_decref(rec);
    return err;
}

static ferry_err node_create_txn(ferry_store_txn *t, void *ctx) {
    return node_write_txn(t, ctx, true);
}

static ferry_err node_change_txn(ferry_store_txn *t, void *ctx) {
    return node_write_txn(t, ctx, false);
}

/* Validate a node body; name_path is the name from the URL (PUT) or NULL (POST). *labels is new. */
static ferry_err node_input(const json_t *body, const char *name_path, const char **name,
                            json_t **labels, ferry_detail *e) {
    json_t *copy = NULL;
    ferry_err err = FERRY_EINVAL;
    *labels = NULL;
    if (!json_is_object(body))
        return ferry_fail(e, FERRY_EINVAL, NULL, "the body must be a JSON object");
    json_t *jname = json_object_get(body, "name");
    if (name_path != NULL && json_is_string(jname) &&
        strcmp(json_string_value(jname), name_path) != 0) {
        return ferry_fail(e, FERRY_EINVAL, "name",
                          "must equal the name in the path ('%s'), renaming is not "
                          "supported",
                          name_path);
    }
    if (name_path != NULL && jname == NULL) { /* PUT may leave the name out */
        copy = json_copy((json_t *)body);
        if (copy == NULL || json_object_set_new(copy, "name", json_string(name_path)) != 0) {
            err = bridge__store_fail(e, FERRY_ENOMEM);
            goto out;
        }
        body = copy;
    }
    if (ferry_node_validate(body, e) != FERRY_OK)
        goto out; /* err is FERRY_EINVAL */
    *name = name_path != NULL ? name_path : json_string_value(json_object_get(body, "name"));
    json_t *l = json_object_get(body, "labels");
    *labels = l != NULL ? json_deep_copy(l) : json_object();
    err = *labels != NULL ? FERRY_OK : bridge__store_fail(e, FERRY_ENOMEM);
out:
    json_decref(copy);
    return err;
}

static ferry_err node_write(ferry_bridge *b, const char *ns, const char *name, const json_t *body,
                            bool create, json_t **out, ferry_detail *e) {
    json_t *labels = NULL;
    bridge_write_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    if (err == FERRY_OK && body != NULL)
        err = node_input(body, name, &op.name, &labels, e);
    if (err != FERRY_OK)
        goto out;
    op.input = labels;
    err = bridge__run_write(b, create ? node_create_txn : node_change_txn, &op, out);
    if (err == FERRY_OK && !create && body == NULL) /* deleted: its statistics go (stats.h) */
        bridge__stats_drop(b->stats, ns, NULL, op.name);
    if (err == FERRY_OK)
        LOG_INFO("node %s/%s %s", ns, op.name,
                 create         ? "registered"
                 : body != NULL ? "relabelled"
                                : "deleted");
out:
    json_decref(labels);
    return err;
}

ferry_err ferry_bridge_node_create(ferry_bridge *b, const char *ns, const json_t *body,
                                   json_t **out, ferry_detail *e) {
    return node_write(b, ns, NULL, body, true, out, e);
}

ferry_err ferry_bridge_node_update(ferry_bridge *b, const char *ns, const char *name,
                                   const json_t *body, json_t **out, ferry_detail *e) {
    if (name == NULL)
        return ferry_fail(e, FERRY_EINVAL, "name", "is required");
    return node_write(b, ns, name, body, false, out, e);
}

ferry_err ferry_bridge_node_delete(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                   ferry_detail *e) {
    if (name == NULL)
        return ferry_fail(e, FERRY_EINVAL, "name", "is required");
    return node_write(b, ns, name, NULL, false, out, e);
}

static ferry_err rev_txn(ferry_store_txn *t, void *ctx) {
    return ferry_store_rev(t, ctx);
}

ferry_err ferry_bridge_health(ferry_bridge *b, bool *mqtt_up, uint64_t *rev) {
    pthread_mutex_lock(&b->lock);
    *mqtt_up = b->mqtt_up;
    ferry_err err = ferry_store_read(b->store, rev_txn, rev);
    pthread_mutex_unlock(&b->lock);
    return err;
}

/* ---- node messages --------------------------------------------------------------------------- */

typedef struct {
    json_t *msg; /* decoded payload, or NULL when rejected */
    ferry_topic topic;
    const ferry_bridge_msg *raw; /* as received: the signature covers these bytes */
    json_t *calls; /* node.stats: the entries believed, applied after the commit (else NULL) */
    bool logs;     /* a believed logs answer, handed over after the commit */
} node_msg;

typedef struct {
    ferry_bridge *b;
    node_msg *msgs;
    size_t n;
} batch_op;

/* Decode and check one message: payload valid for its type, type matching the topic kind, and the
 * names in the payload matching those in the topic (a node may only speak for itself). */
static json_t *check_msg(const ferry_bridge_msg *m, ferry_topic *tp) {
    char why[256] = "";
    json_t *msg = NULL;
    const char *want = NULL;

    if (ferry_topic_parse(m->topic, m->topic_len, tp) != FERRY_OK) {
        LOG_WARN("mqtt: message on unexpected topic '%.*s' dropped", (int)m->topic_len, m->topic);
        return NULL;
    }
    switch (tp->kind) {
    case FERRY_TOPIC_NODE_HELLO:
        want = FERRY_MSG_NODE_HELLO;
        break;
    case FERRY_TOPIC_NODE_STATUS:
        want = FERRY_MSG_APP_STATUS;
        break;
    case FERRY_TOPIC_NODE_ONLINE:
        want = FERRY_MSG_NODE_ONLINE;
        break;
    case FERRY_TOPIC_NODE_STATS:
        want = FERRY_MSG_NODE_STATS;
        break;
    case FERRY_TOPIC_LOGS_REPLY:
        want = FERRY_MSG_LOGS;
        break;
    default:
        LOG_WARN("mqtt: message on '%.*s' is not for the bridge; dropped", (int)m->topic_len,
                 m->topic);
        return NULL;
    }
    if (tp->kind == FERRY_TOPIC_NODE_STATUS && m->len == 0)
        return json_pack("{s:b}", "clear", 1); /* the node forgot the app (see status_clear) */
    ferry_err err = ferry_proto_decode(m->payload, m->len, &msg, why, sizeof(why));
    if (err != FERRY_OK) {
        LOG_WARN("mqtt: invalid payload on '%.*s' dropped: %s", (int)m->topic_len, m->topic, why);
        return NULL;
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    const char *ns = json_string_value(json_object_get(msg, "ns"));
    const char *node = json_string_value(json_object_get(msg, "node"));
    const char *app = json_string_value(json_object_get(msg, "app"));
    if (type == NULL || strcmp(type, want) != 0) {
        LOG_WARN("mqtt: '%s' message on '%.*s' (expected %s) dropped", type != NULL ? type : "?",
                 (int)m->topic_len, m->topic, want);
        goto reject;
    }
    if (ns == NULL || node == NULL || strcmp(ns, tp->ns) != 0 || strcmp(node, tp->node) != 0 ||
        (tp->kind == FERRY_TOPIC_NODE_STATUS && (app == NULL || strcmp(app, tp->app) != 0))) {
        LOG_WARN("mqtt: %s on '%.*s' names another node or app (ns %s, node %s, app %s); dropped",
                 type, (int)m->topic_len, m->topic, ns != NULL ? ns : "?",
                 node != NULL ? node : "?", app != NULL ? app : "-");
        goto reject;
    }
    return msg;
reject:
    json_decref(msg);
    return NULL;
}

static ferry_err handle_status(ferry_store_txn *t, const node_msg *m) {
    json_t *old = NULL, *rec = NULL;
    char key[BRIDGE_KEY_MAX];
    json_int_t version = json_integer_value(json_object_get(m->msg, "version"));

    bridge__key(key, m->topic.ns, m->topic.app, m->topic.node);
    ferry_err err = ferry_store_get(t, FERRY_DB_STATUS, key, &old);
    if (err == FERRY_OK && json_integer_value(json_object_get(old, "version")) > version) {
        LOG_DEBUG("status of %s at version %lld is older than the stored one; ignored", key,
                  (long long)version);
        goto out;
    }
    /* An absent or unreadable old record is simply replaced. */
    if (err != FERRY_OK && err != FERRY_ENOTFOUND && err != FERRY_EFORMAT && err != FERRY_EVERSION)
        goto out;
    err = FERRY_ENOMEM;
    rec = json_deep_copy(m->msg);
    if (rec == NULL)
        goto out;
    json_object_del(rec, "v");
    json_object_del(rec, "type");
    if (json_object_set_new(rec, "updatedAt", json_integer(m->raw->received_ms)) != 0)
        goto out;
    err = ferry_store_put(t, FERRY_DB_STATUS, key, rec);
    LOG_DEBUG("status of %s at version %lld: %s", key, (long long)version,
              json_string_value(json_object_get(rec, "phase")));
out:
    json_decref(old);
    json_decref(rec);
    return err;
}

/* The node's online state; with online: true also the GPUs it reports (docs/apps-complete.md),
 * which the last will (online: false) does not carry: the previous report is kept then. */
static ferry_err handle_online(ferry_store_txn *t, const node_msg *m) {
    char key[BRIDGE_KEY_MAX];
    json_t *old = NULL;
    bool online = json_is_true(json_object_get(m->msg, "online"));
    const json_t *gpu = json_object_get(m->msg, "gpu");

    bridge__key(key, m->topic.ns, m->topic.node, NULL);
    if (gpu != NULL && !bridge__gpu_ok(gpu)) {
        LOG_WARN("mqtt: node %s reports a malformed 'gpu' object; it is not shown", key);
        gpu = NULL;
    }
    if (!online && ferry_store_get(t, FERRY_DB_NODESTATE, key, &old) == FERRY_OK)
        gpu = json_object_get(old, "gpu");
    json_t *rec = json_pack("{s:s, s:s, s:b, s:I, s:O*}", "ns", m->topic.ns, "node", m->topic.node,
                            "online", online, "ts", (json_int_t)m->raw->received_ms, "gpu", gpu);
    ferry_err err = rec != NULL ? ferry_store_put(t, FERRY_DB_NODESTATE, key, rec) : FERRY_ENOMEM;
    json_decref(rec);
    json_decref(old);
    return err;
}

static bool is_clear(const node_msg *m) {
    return json_is_true(json_object_get(m->msg, "clear"));
}

/* An empty retained status: the node forgot the app (its tombstone collected, PROTOCOL.md). */
static ferry_err status_clear(ferry_store_txn *t, const node_msg *m) {
    char key[BRIDGE_KEY_MAX];
    bridge__key(key, m->topic.ns, m->topic.app, m->topic.node);
    ferry_err err = ferry_store_del(t, FERRY_DB_STATUS, key);
    if (err == FERRY_ENOTFOUND)
        err = FERRY_OK;
    return err == FERRY_OK ? collect_app(t, m->topic.ns, m->topic.app) : err;
}

/* Whether the bridge believes m (see bridge.h, ferry_bridge_handle_messages): FERRY_OK and
 * *ok. Each refusal is one log line. */
static ferry_err trusted(const ferry_bridge *b, ferry_store_txn *t, const node_msg *m, bool *ok) {
    const ferry_topic *tp = &m->topic;
    unsigned char pub[FERRY_SIGN_KEY_LEN];
    bool enrolled = false;
    json_t *app = NULL;
    ferry_err err = FERRY_OK;

    *ok = false;
    /* The node from the index (stable here, as the app's below): a record that failed its
     * checks is not in it, and is not believed, as before. */
    if (!bridge__index_node(b->index, tp->ns, tp->node, &enrolled, pub)) {
        /* The bridge clears the retained messages of a deleted node itself: they come back. */
        if (is_clear(m))
            LOG_DEBUG("mqtt: a cleared status on '%.*s' of a node not registered; ignored",
                      (int)m->raw->topic_len, m->raw->topic);
        else
            LOG_WARN("mqtt: refused a message on '%.*s': node %s/%s is not registered",
                     (int)m->raw->topic_len, m->raw->topic, tp->ns, tp->node);
        goto out;
    }
    if (enrolled) {
        if (!ferry_sign_verify(pub, m->raw->topic, m->raw->topic_len, m->raw->payload, m->raw->len,
                               m->raw->sig)) {
            LOG_WARN("mqtt: refused a message on '%.*s': %s", (int)m->raw->topic_len, m->raw->topic,
                     m->raw->sig == NULL ? "it is not signed"
                                         : "its signature is not node's enrolled key's");
            goto out;
        }
    } else if (!b->cfg.insecure_nodes) {
        LOG_WARN("mqtt: refused a message on '%.*s': node %s/%s has not enrolled",
                 (int)m->raw->topic_len, m->raw->topic, tp->ns, tp->node);
        goto out;
    }
    if (tp->kind == FERRY_TOPIC_NODE_STATUS && !is_clear(m)) {
        json_int_t version = json_integer_value(json_object_get(m->msg, "version"));
        /* A live app's version from the index (stable here: its writers hold the bridge lock,
         * or this is a hello's read under its read lock); a deleted one's from its tombstone. */
        const json_t *item = bridge__index_get(b->index, BRIDGE_INDEX_APPS, tp->ns, tp->app);
        json_int_t have = json_integer_value(json_object_get(item, "version"));
        err = item != NULL ? FERRY_OK : bridge__get_app(t, tp->ns, tp->app, &app);
        if (err == FERRY_OK && item == NULL)
            have = bridge__int(app, "version");
        if (err == FERRY_ENOTFOUND || err == FERRY_EFORMAT || (err == FERRY_OK && have < version)) {
            LOG_WARN("mqtt: refused a status of app %s/%s v%lld from %s: %s", tp->ns, tp->app,
                     (long long)version, tp->node,
                     err == FERRY_OK ? "the app has no such version" : "no such app");
            err = FERRY_OK;
            goto out;
        }
        if (err != FERRY_OK)
            goto out;
    }
    *ok = true;
out:
    json_decref(app);
    return err;
}

/* The entries of a believed node.stats whose app exists, not deleted, in the node's namespace
 * (into m->calls): a report for any other app would only take room in the window. */
static ferry_err stats_accept(ferry_store_txn *t, node_msg *m) {
    const json_t *calls = json_object_get(m->msg, "calls");
    json_t *known = json_object(); /* app -> whether it counts */
    json_t *keep = json_array();
    ferry_err err = FERRY_ENOMEM;

    if (known == NULL || keep == NULL)
        goto out;
    for (size_t i = 0; i < json_array_size(calls); i++) {
        const json_t *call = json_array_get(calls, i);
        const char *app = json_string_value(json_object_get(call, "app"));
        const json_t *counts = json_object_get(known, app);
        if (counts == NULL) {
            json_t *rec = NULL;
            ferry_err ge = bridge__get_app(t, m->topic.ns, app, &rec);
            if (ge != FERRY_OK && ge != FERRY_ENOTFOUND && ge != FERRY_EFORMAT) {
                err = ge;
                goto out;
            }
            bool ok = ge == FERRY_OK && !json_is_true(json_object_get(rec, "deleted"));
            json_decref(rec);
            /* Ordinary for one report after a delete: not worth more than a debug line. */
            if (!ok)
                LOG_DEBUG("stats: node %s/%s reports calls of app %s, which does not exist; "
                          "ignored",
                          m->topic.ns, m->topic.node, app);
            if (json_object_set_new(known, app, json_boolean(ok)) != 0)
                goto out;
            counts = json_object_get(known, app);
        }
        if (json_is_true(counts) && json_array_append(keep, (json_t *)call) != 0)
            goto out;
    }
    json_decref(m->calls);
    m->calls = keep;
    keep = NULL;
    err = FERRY_OK;
out:
    json_decref(known);
    json_decref(keep);
    return err;
}

/* Statuses, onlines and stats of a batch, in one write transaction (hellos are answered apart;
 * the stats believed are applied after the commit: a write may be run again on a larger map). */
static ferry_err batch_txn(ferry_store_txn *t, void *ctx) {
    batch_op *op = ctx;
    ferry_err err = FERRY_OK;

    for (size_t i = 0; i < op->n && err == FERRY_OK; i++) {
        node_msg *m = &op->msgs[i];
        bool ok = false;
        if (m->msg == NULL || m->topic.kind == FERRY_TOPIC_NODE_HELLO)
            continue;
        json_decref(m->calls);
        m->calls = NULL;
        if ((err = trusted(op->b, t, m, &ok)) != FERRY_OK || !ok)
            continue;
        if (m->topic.kind == FERRY_TOPIC_NODE_STATS)
            err = stats_accept(t, m);
        else if (m->topic.kind == FERRY_TOPIC_NODE_STATUS)
            err = is_clear(m) ? status_clear(t, m) : handle_status(t, m);
        else if (m->topic.kind == FERRY_TOPIC_NODE_ONLINE)
            err = handle_online(t, m);
        else if (m->topic.kind == FERRY_TOPIC_LOGS_REPLY)
            m->logs = true;
    }
    return err;
}

typedef struct {
    ferry_bridge *b;
    const node_msg *m;
    const char *digest; /* what the node holds, as a string (the cache key) */
    json_t *sync;       /* the answer, or NULL when the hello is refused */
} hello_op;

/* Answer a hello in a read transaction: the bridge lock is not needed to read, so a flood of hellos
 * never holds up the API's writes. */
static ferry_err hello_txn(ferry_store_txn *t, void *ctx) {
    hello_op *op = ctx;
    const node_msg *m = op->m;
    json_t *node = NULL;
    uint64_t rev;
    bool ok = false;
    ferry_err err = trusted(op->b, t, m, &ok);

    if (err != FERRY_OK || !ok || (err = ferry_store_rev(t, &rev)) != FERRY_OK)
        return err;
    op->sync = bridge__hellos_cached(op->b->hellos, m->topic.ns, m->topic.node, rev, op->digest);
    if (op->sync != NULL)
        return FERRY_OK;
    err = bridge__get_node(t, m->topic.ns, m->topic.node, &node);
    if (err == FERRY_OK)
        err = build_sync(op->b, t, m->topic.ns, m->topic.node, node, rev, m->msg, &op->sync);
    if (err == FERRY_OK)
        bridge__hellos_keep(op->b->hellos, m->topic.ns, m->topic.node, rev, op->digest, op->sync);
    LOG_DEBUG("hello from %s/%s (%s): answering with rev %llu", m->topic.ns, m->topic.node,
              json_string_value(json_object_get(m->msg, "reason")), (unsigned long long)rev);
    json_decref(node);
    return err;
}

/* A hello: within the node's budget, believed, answered with its sync (published under the lock
 * the publisher needs). Failures are logged: the node asks again after 30 s. */
static void answer_hello(ferry_bridge *b, const node_msg *m) {
    char topic[FERRY_TOPIC_MAX];
    json_t *held = json_pack("{s:O?, s:O?}", "apps", json_object_get(m->msg, "apps"), "secrets",
                             json_object_get(m->msg, "secrets"));
    char *digest = held != NULL ? json_dumps(held, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    hello_op op = {.b = b, .m = m, .digest = digest};
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = FERRY_ENOMEM;

    if (!bridge__hellos_admit(b->hellos, m->topic.ns, m->topic.node, ferry_mono_ms())) {
        LOG_WARN("mqtt: dropped a hello from %s/%s: over its budget of %d a second", m->topic.ns,
                 m->topic.node, 1000 / HELLO_REFILL_MS);
        goto out;
    }
    if (digest == NULL)
        goto out;
    bridge__index_read_lock(b->index);
    err = ferry_store_read(b->store, hello_txn, &op);
    bridge__index_unlock(b->index);
    if (err != FERRY_OK || op.sync == NULL)
        goto out;
    if ((err = sync_topic(m->topic.ns, m->topic.node, topic, sizeof(topic))) == FERRY_OK &&
        (err = bridge__encode(json_incref(op.sync), &buf, &len)) == FERRY_OK) {
        pthread_mutex_lock(&b->lock);
        err = bridge__publish(b, topic, buf, len, NULL);
        pthread_mutex_unlock(&b->lock);
    }
out:
    if (err != FERRY_OK)
        LOG_WARN("could not answer the hello of %s/%s (%s); the node asks again in 30 s",
                 m->topic.ns, m->topic.node, ferry_strerror(err));
    ferry_free(buf);
    free(digest);
    json_decref(held);
    json_decref(op.sync);
}

/* One more received message of its type (metrics). */
static void count_message(ferry_bridge *b, const node_msg *m) {
    const char *type = "type=\"invalid\"";
    if (m->msg != NULL)
        switch (m->topic.kind) {
        case FERRY_TOPIC_NODE_HELLO:
            type = "type=\"node.hello\"";
            break;
        case FERRY_TOPIC_NODE_STATUS:
            type = "type=\"app.status\"";
            break;
        case FERRY_TOPIC_NODE_ONLINE:
            type = "type=\"node.online\"";
            break;
        case FERRY_TOPIC_NODE_STATS:
            type = "type=\"node.stats\"";
            break;
        case FERRY_TOPIC_LOGS_REPLY:
            type = "type=\"logs\"";
            break;
        default:
            type = "type=\"other\"";
            break;
        }
    ferry_metrics_add(b->metrics, M_NODE_MESSAGES, type, 1);
}

static ferry_err handle_batch(ferry_bridge *b, const ferry_bridge_msg *msgs, size_t n) {
    ferry_err err = FERRY_ENOMEM;
    batch_op op = {.b = b, .msgs = ferry_calloc(n, sizeof(node_msg)), .n = n};
    size_t hellos = 0;

    if (op.msgs == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        op.msgs[i].msg = check_msg(&msgs[i], &op.msgs[i].topic);
        op.msgs[i].raw = &msgs[i];
        count_message(b, &op.msgs[i]);
        hellos += op.msgs[i].msg != NULL && op.msgs[i].topic.kind == FERRY_TOPIC_NODE_HELLO;
    }
    err = FERRY_OK;
    if (hellos < n) {
        pthread_mutex_lock(&b->lock);
        err = ferry_store_write(b->store, batch_txn, &op);
        /* Statuses change no app or node the index holds (a collected tombstone was not in it):
         * what the batch staged is applied after its commit, in one step. A batch that staged
         * nothing (statuses, onlines, stats: nearly all) does not wait for the index's readers,
         * such as a status view of an app on 10,000 nodes. */
        if (bridge__index_staged(b->index)) {
            bridge__index_write_lock(b->index);
            if (err == FERRY_OK)
                bridge__index_apply(b->index);
            else
                bridge__index_drop(b->index);
            bridge__index_unlock(b->index);
        }
        /* Under the lock, so that an app or node deleted meanwhile drops these after them. */
        for (size_t i = 0; i < n && err == FERRY_OK; i++) {
            const node_msg *m = &op.msgs[i];
            if (m->calls != NULL)
                bridge__stats_report(b->stats, m->topic.ns, m->topic.node,
                                     json_integer_value(json_object_get(m->msg, "start")),
                                     json_integer_value(json_object_get(m->msg, "ts")), m->calls,
                                     m->raw->received_ms);
        }
        pthread_mutex_unlock(&b->lock);
    }
    if (err != FERRY_OK)
        LOG_ERROR("store: %zu node messages could not be stored (%s); they are lost, nodes "
                  "resend status on reconnect and hellos after 30 s",
                  n - hellos, ferry_strerror(err));
    for (size_t i = 0; i < n && err == FERRY_OK; i++) {
        const node_msg *m = &op.msgs[i];
        if (m->logs && !bridge__logs_answer(b->logs, m->topic.ns, m->topic.node, m->msg))
            LOG_INFO("mqtt: a logs answer from %s/%s for no waiting request (late?); dropped",
                     m->topic.ns, m->topic.node);
    }
    for (size_t i = 0; i < n && hellos > 0; i++) {
        if (op.msgs[i].msg != NULL && op.msgs[i].topic.kind == FERRY_TOPIC_NODE_HELLO)
            answer_hello(b, &op.msgs[i]);
    }
out:
    for (size_t i = 0; op.msgs != NULL && i < n; i++) {
        json_decref(op.msgs[i].msg);
        json_decref(op.msgs[i].calls);
    }
    ferry_free(op.msgs);
    return err;
}

ferry_err ferry_bridge_handle_messages(ferry_bridge *b, const ferry_bridge_msg *msgs, size_t n) {
    ferry_err err = FERRY_OK;
    for (size_t off = 0; off < n && err == FERRY_OK; off += MAX_BATCH)
        err = handle_batch(b, msgs + off, n - off < MAX_BATCH ? n - off : MAX_BATCH);
    return err;
}

/* ---- container logs from nodes (logs.h) ------------------------------------------------------ */

typedef struct {
    ferry_bridge *b;
    const char *ns, *node, *app, *service;
    const char *chosen; /* the service asked, or the app's only one */
    json_t *rec;
    ferry_detail *e;
} logs_check;

/* Whether name is one of the services (or init services) of spec; counts them in *n and keeps
 * the first in *first. */
static bool has_service(const json_t *spec, const char *name, size_t *n, const char **first) {
    static const char *const lists[] = {"services", "initServices"};
    bool found = false;
    size_t i;
    json_t *v;
    *n = 0;
    for (size_t k = 0; k < 2; k++) {
        json_array_foreach(json_object_get(spec, lists[k]), i, v) {
            const char *s = json_string_value(json_object_get(v, "name"));
            if (s == NULL)
                continue;
            if (*n == 0)
                *first = s;
            (*n)++;
            found = found || (name != NULL && strcmp(s, name) == 0);
        }
    }
    return found;
}

static ferry_err logs_check_txn(ferry_store_txn *t, void *ctx) {
    logs_check *lc = ctx;
    size_t n = 0;
    const char *first = NULL;
    if (bridge__index_get(lc->b->index, BRIDGE_INDEX_NODES, lc->ns, lc->node) == NULL)
        return ferry_fail(lc->e, FERRY_ENOTFOUND, NULL, "node '%s' not found", lc->node);
    if (bridge__index_get(lc->b->index, BRIDGE_INDEX_APPS, lc->ns, lc->app) == NULL)
        return ferry_fail(lc->e, FERRY_ENOTFOUND, "app", "app '%s' not found", lc->app);
    ferry_err err = bridge__get_app(t, lc->ns, lc->app, &lc->rec);
    if (err != FERRY_OK)
        return err;
    const json_t *spec = json_object_get(lc->rec, "spec");
    if (has_service(spec, lc->service, &n, &first))
        lc->chosen = lc->service;
    else if (lc->service != NULL)
        return ferry_fail(lc->e, FERRY_EINVAL, "service", "app '%s' has no service '%s'", lc->app,
                          lc->service);
    else if (n == 1)
        lc->chosen = first;
    else
        return ferry_fail(lc->e, FERRY_EINVAL, "service",
                          "required: app '%s' has %zu services (and init services)", lc->app, n);
    if (!bridge__node_online(t, lc->ns, lc->node))
        return ferry_fail(lc->e, FERRY_EIO, NULL,
                          "node '%s' is offline: its logs can be read once it is back", lc->node);
    return FERRY_OK;
}

ferry_err ferry_bridge_logs_start(ferry_bridge *b, const char *ns, const char *node,
                                  const char *app, const char *service, long tail, long since,
                                  ferry_bridge_logs_fn done, void *ctx, char id[33],
                                  ferry_detail *e) {
    logs_check lc = {.b = b, .ns = ns, .node = node, .app = app, .service = service, .e = e};
    unsigned char raw[FERRY_LOGS_ID_LEN / 2];
    json_t *msg = NULL;
    ferry_err err = bridge__check_names(ns, node, e);

    id[0] = '\0';
    if (err != FERRY_OK)
        return err;
    if (app == NULL || !ferry_name_valid(app))
        return ferry_fail(e, FERRY_EINVAL, "app", "required: the app's name (a DNS label)");
    if (service != NULL && !ferry_name_valid(service))
        return ferry_fail(e, FERRY_EINVAL, "service", "must be a DNS label");
    if (tail == 0)
        tail = 100;
    if (tail < 1 || tail > FERRY_LOGS_MAX_TAIL)
        return ferry_fail(e, FERRY_EINVAL, "tail", "must be an integer from 1 to %d",
                          FERRY_LOGS_MAX_TAIL);
    if (since < 0)
        return ferry_fail(e, FERRY_EINVAL, "since", "must be a Unix time in seconds (>= 0)");
    bridge__index_read_lock(b->index);
    err = ferry_store_read(b->store, logs_check_txn, &lc);
    bridge__index_unlock(b->index);
    if (err != FERRY_OK)
        goto out;
    pthread_mutex_lock(&b->lock);
    bool up = b->mqtt_up;
    pthread_mutex_unlock(&b->lock);
    if (!up) {
        err = ferry_fail(e, FERRY_EIO, NULL, "the bridge is not connected to the broker");
        goto out;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        err = ferry_fail(e, FERRY_ENOMEM, NULL, "no random bytes for a request id");
        goto out;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    msg =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "ns", ns, "node", node, "id", id, "app",
                  app, "service", lc.chosen, "tail", (json_int_t)tail, "since", (json_int_t)since);
    err = msg != NULL ? bridge__logs_add(b->logs, msg, done, ctx) : FERRY_ENOMEM;
    if (err == FERRY_ETOOBIG)
        err = ferry_fail(e, FERRY_EIO, NULL, "%d logs requests wait already; ask again later",
                         BRIDGE_LOGS_MAX);
    else if (err != FERRY_OK)
        err = bridge__store_fail(e, err);
out:
    if (err != FERRY_OK)
        id[0] = '\0';
    json_decref(msg);
    json_decref(lc.rec);
    return err;
}

void ferry_bridge_logs_go(ferry_bridge *b, const char *id) {
    bridge__logs_go(b->logs, id);
    if (b->cfg.kick != NULL)
        b->cfg.kick(b->cfg.kick_ctx);
}

void ferry_bridge_logs_cancel(ferry_bridge *b) {
    bridge__logs_expire(b->logs, 0, true);
}

void bridge__logs_publish(ferry_bridge *b) {
    json_t *msgs = bridge__logs_to_send(b->logs);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        ferry_topic tp = {.kind = FERRY_TOPIC_LOGS_REQUEST};
        char topic[FERRY_TOPIC_MAX];
        unsigned char *buf = NULL;
        size_t len = 0;
        snprintf(tp.ns, sizeof(tp.ns), "%s", json_string_value(json_object_get(m, "ns")));
        snprintf(tp.node, sizeof(tp.node), "%s", json_string_value(json_object_get(m, "node")));
        ferry_err err = ferry_topic_build(&tp, topic, sizeof(topic));
        if (err == FERRY_OK && (err = ferry_proto_encode(m, &buf, &len)) == FERRY_OK) {
            pthread_mutex_lock(&b->lock);
            err = bridge__publish(b, topic, buf, len, NULL);
            pthread_mutex_unlock(&b->lock);
        }
        if (err != FERRY_OK) /* it times out: 504 */
            LOG_WARN("logs: could not ask %s for its logs (%s)", topic, ferry_strerror(err));
        ferry_free(buf);
    }
    json_decref(msgs);
}
