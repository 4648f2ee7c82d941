/* broker-bridge core: API writes (record + rev + outbox in one transaction), node messages
 * (hello, status, online) and the outbox publisher. */
#include "bridge_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ferry/app.h"
#include "ferry/labels.h"
#include "ferry/selector.h"
#include "ferry/codec.h"
#include "ferry/patch.h"
#include "ferry/proto.h"
#include "ferry/topics.h"

#define DEFAULT_WINDOW 1000
#define STALL_MS 60000 /* no ack for this long with messages in flight: send everything again */
#define MAX_BATCH 1024 /* node messages handled in one transaction */

/* ---- shared helpers (bridge_int.h) ----------------------------------------------------------- */

ferry_err bridge__store_fail(ferry_detail *e, ferry_err err) {
    if (err == FERRY_ENOMEM)
        return ferry_fail(e, err, NULL, "out of memory");
    return ferry_fail(e, err, NULL, "storage failure (%s); see the bridge log",
                      ferry_strerror(err));
}

ferry_err bridge__check_names(const char *ns, const char *name, ferry_detail *e) {
    if (ns == NULL || !ferry_name_valid(ns))
        return ferry_fail(e, FERRY_EINVAL, "namespace",
                          "must be a DNS label (1-63 characters of a-z, 0-9 and '-', "
                          "starting and ending with a letter or digit)");
    if (name != NULL && !ferry_name_valid(name))
        return ferry_fail(e, FERRY_EINVAL, "name",
                          "must be a DNS label (1-63 characters of a-z, 0-9 and '-', "
                          "starting and ending with a letter or digit)");
    return FERRY_OK;
}

void bridge__key(char *buf, const char *a, const char *b, const char *c) {
    if (c != NULL)
        snprintf(buf, BRIDGE_KEY_MAX, "%s/%s/%s", a, b, c);
    else
        snprintf(buf, BRIDGE_KEY_MAX, "%s/%s", a, b);
}

int64_t bridge__int(const json_t *rec, const char *field) {
    return (int64_t)json_integer_value(json_object_get(rec, field));
}

json_t *bridge__time(int64_t ms) {
    char buf[32];
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

/* Record layouts: the fields each record must carry, with their JSON type (JSON_TRUE: any
 * boolean). */
typedef struct {
    const char *name;
    json_type type;
} record_field;

static const record_field app_fields[] = {{"ns", JSON_STRING},         {"name", JSON_STRING},
                                          {"version", JSON_INTEGER},   {"deleted", JSON_TRUE},
                                          {"spec", JSON_OBJECT},       {"createdAt", JSON_INTEGER},
                                          {"updatedAt", JSON_INTEGER}, {NULL, JSON_NULL}};
static const record_field node_fields[] = {{"ns", JSON_STRING},         {"name", JSON_STRING},
                                           {"labels", JSON_OBJECT},     {"createdAt", JSON_INTEGER},
                                           {"updatedAt", JSON_INTEGER}, {NULL, JSON_NULL}};
static const record_field status_fields[] = {
    {"ns", JSON_STRING},        {"app", JSON_STRING},        {"node", JSON_STRING},
    {"version", JSON_INTEGER},  {"phase", JSON_STRING},      {"message", JSON_STRING},
    {"containers", JSON_ARRAY}, {"updatedAt", JSON_INTEGER}, {NULL, JSON_NULL}};

static const record_field config_fields[] = {
    {"ns", JSON_STRING},         {"name", JSON_STRING},   {"kind", JSON_STRING},
    {"version", JSON_INTEGER},   {"config", JSON_OBJECT}, {"createdAt", JSON_INTEGER},
    {"updatedAt", JSON_INTEGER}, {NULL, JSON_NULL}};

static bool record_ok(const char *what, const char *key, const json_t *rec,
                      const record_field *fields) {
    for (const record_field *f = fields; f->name != NULL; f++) {
        const json_t *v = json_object_get(rec, f->name);
        if (v == NULL || (f->type == JSON_TRUE ? !json_is_boolean(v) : json_typeof(v) != f->type)) {
            LOG_ERROR("store: %s record '%s' has no valid '%s'; it is treated as unreadable", what,
                      key, f->name);
            return false;
        }
    }
    return true;
}

/* The names of a record (string fields a, b and optionally c) are DNS labels and the record's key
 * is "a/b[/c]": a record is only ever written under its own names, and those names go into
 * topics and messages that nodes check. */
static bool names_ok(const char *what, const char *key, const json_t *rec, const char *a,
                     const char *b, const char *c) {
    const char *fields[3] = {a, b, c};
    char want[BRIDGE_KEY_MAX] = "";
    size_t off = 0;

    for (size_t i = 0; i < 3 && fields[i] != NULL; i++) {
        const json_t *v = json_object_get(rec, fields[i]);
        const char *name = json_string_value(v);
        if (name == NULL || strlen(name) != json_string_length(v) || !ferry_name_valid(name)) {
            LOG_ERROR("store: %s record '%s' has no valid '%s' (a DNS label); it is treated as "
                      "unreadable",
                      what, key, fields[i]);
            return false;
        }
        /* At most three labels of 63 bytes and two slashes: want never truncates. */
        off += (size_t)snprintf(want + off, sizeof(want) - off, "%s%s", i > 0 ? "/" : "", name);
    }
    if (strcmp(key, want) != 0) {
        LOG_ERROR("store: %s record '%s' names '%s'; it is treated as unreadable", what, key, want);
        return false;
    }
    return true;
}

bool bridge__app_record_ok(const char *key, const json_t *rec) {
    ferry_detail verr;
    if (!record_ok("app", key, rec, app_fields) || !names_ok("app", key, rec, "ns", "name", NULL))
        return false;
    /* The spec goes out as it is in app.put and node.sync, where nodes check it like this. */
    const json_t *spec = json_object_get(rec, "spec");
    if (bridge__int(rec, "version") < 1) {
        LOG_ERROR("store: app record '%s' has a version below 1; it is treated as unreadable", key);
        return false;
    }
    if (ferry_app_validate(spec, &verr) != FERRY_OK) {
        LOG_ERROR("store: app record '%s' holds an invalid spec (%s: %s); it is treated as "
                  "unreadable",
                  key, verr.field, verr.message);
        return false;
    }
    if (strcmp(json_string_value(json_object_get(spec, "name")),
               json_string_value(json_object_get(rec, "name"))) != 0) {
        LOG_ERROR("store: app record '%s' holds the spec of another app; it is treated as "
                  "unreadable",
                  key);
        return false;
    }
    return true;
}

bool bridge__node_record_ok(const char *key, const json_t *rec) {
    ferry_detail verr;
    if (!record_ok("node", key, rec, node_fields) ||
        !names_ok("node", key, rec, "ns", "name", NULL))
        return false;
    if (ferry_labels_validate(json_object_get(rec, "labels"), "labels", &verr) != FERRY_OK) {
        LOG_ERROR("store: node record '%s' has invalid '%s' (%s); it is treated as unreadable", key,
                  verr.field, verr.message);
        return false;
    }
    return true;
}

bool bridge__config_record_ok(const char *key, const json_t *rec) {
    if (!record_ok("config", key, rec, config_fields) ||
        !names_ok("config", key, rec, "ns", "name", NULL))
        return false;
    if (bridge__int(rec, "version") < 1) {
        LOG_ERROR("store: config record '%s' has a version below 1; it is treated as unreadable",
                  key);
        return false;
    }
    return bridge__config_body_ok(key, rec);
}

bool bridge__status_record_ok(const char *key, const json_t *rec) {
    return record_ok("status", key, rec, status_fields) &&
           names_ok("status", key, rec, "ns", "app", "node");
}

static ferry_err get_checked(ferry_store_txn *t, ferry_db db, const char *ns, const char *name,
                             bool (*ok)(const char *, const json_t *), json_t **out) {
    char key[BRIDGE_KEY_MAX];
    bridge__key(key, ns, name, NULL);
    ferry_err err = ferry_store_get(t, db, key, out);
    if (err == FERRY_OK && !ok(key, *out)) {
        json_decref(*out);
        *out = NULL;
        err = FERRY_EFORMAT;
    }
    return err;
}

ferry_err bridge__get_app(ferry_store_txn *t, const char *ns, const char *name, json_t **out) {
    return get_checked(t, FERRY_DB_APPS, ns, name, bridge__app_record_ok, out);
}

ferry_err bridge__get_node(ferry_store_txn *t, const char *ns, const char *name, json_t **out) {
    return get_checked(t, FERRY_DB_NODES, ns, name, bridge__node_record_ok, out);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* Load the key file (created when missing, unless the store already holds sealed values, which
 * a new key could not decrypt) and check that it decrypts what the store holds. */
static ferry_err load_key(ferry_bridge *b, const ferry_bridge_config *cfg) {
    char path[4096];
    ferry_err err;
    bool created = false;
    char *probe = NULL;

    if (cfg->key_file != NULL) {
        if ((size_t)snprintf(path, sizeof(path), "%s", cfg->key_file) >= sizeof(path))
            return FERRY_EINVAL;
    } else {
        size_t n = strlen(cfg->data_dir);
        while (n > 1 && cfg->data_dir[n - 1] == '/')
            n--;
        if ((size_t)snprintf(path, sizeof(path), "%.*s.key", (int)n, cfg->data_dir) >= sizeof(path))
            return FERRY_EINVAL;
    }
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

ferry_err ferry_bridge_open(const ferry_bridge_config *cfg, ferry_bridge **out) {
    ferry_err err = FERRY_ENOMEM;
    ferry_bridge *b = ferry_calloc(1, sizeof(*b));
    *out = NULL;
    if (b == NULL)
        return err;
    b->cfg = *cfg;
    b->cfg.data_dir = NULL; /* not kept */
    b->cfg.key_file = NULL;
    if (b->cfg.window == 0)
        b->cfg.window = DEFAULT_WINDOW;
    b->retry_from = UINT64_MAX;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        ferry_free(b);
        return FERRY_ENOMEM;
    }
    if ((err = ferry_store_open(cfg->data_dir, cfg->mapsize, &b->store)) != FERRY_OK ||
        (err = load_key(b, cfg)) != FERRY_OK) {
        ferry_bridge_close(b);
        return err;
    }
    *out = b;
    return FERRY_OK;
}

void ferry_bridge_close(ferry_bridge *b) {
    if (b == NULL)
        return;
    ferry_store_close(b->store);
    ferry_secrets_wipe(b->key, sizeof(b->key));
    pthread_mutex_destroy(&b->lock);
    ferry_free(b);
}

/* ---- messages -------------------------------------------------------------------------------- */

/* Encode msg (stolen) with ferry_proto_encode. */
static ferry_err encode(json_t *msg, unsigned char **buf, size_t *len) {
    ferry_err err = msg == NULL ? FERRY_ENOMEM : ferry_proto_encode(msg, buf, len);
    json_decref(msg);
    return err;
}

/* Outbox payloads are sealed with the key (README.md, "Secrets"): app.put, app.patch and
 * node.sync carry the decrypted files of secrets, which must not reach the disk in clear (nor
 * linger in LMDB's freed pages once published). A sealed payload is this byte (never the first
 * byte of a msgpack payload: 0xc1 is unused in msgpack), nonce, ciphertext and tag, with the topic
 * as AAD; anything else is a plain payload written by an older bridge. */
#define OUTBOX_SEALED 0xc1
#define OUTBOX_SEAL_OVERHEAD (1 + FERRY_SECRETS_OVERHEAD)

static ferry_err outbox_add(const ferry_bridge *b, ferry_store_txn *t, const char *topic,
                            const unsigned char *payload, size_t len, uint64_t *seq) {
    unsigned char *buf = ferry_malloc(len + OUTBOX_SEAL_OVERHEAD);
    ferry_err err = FERRY_ENOMEM;
    if (buf == NULL)
        return err;
    buf[0] = OUTBOX_SEALED;
    if ((err = ferry_secrets_seal_bytes(b->key, topic, strlen(topic), payload, len, buf + 1)) ==
        FERRY_OK)
        err = ferry_store_outbox_append(t, topic, buf, len + OUTBOX_SEAL_OVERHEAD, seq);
    ferry_free(buf);
    return err;
}

/* Encode msg (stolen) and append it to the outbox on topic. */
static ferry_err queue(const ferry_bridge *b, ferry_store_txn *t, const char *topic, json_t *msg,
                       size_t *queued) {
    unsigned char *buf = NULL;
    size_t len = 0;
    uint64_t seq;
    ferry_err err = encode(msg, &buf, &len);
    if (err == FERRY_OK)
        err = outbox_add(b, t, topic, buf, len, &seq);
    if (err == FERRY_OK) {
        (*queued)++;
        LOG_DEBUG("outbox: queued #%llu on %s (%zu bytes)", (unsigned long long)seq, topic, len);
    }
    ferry_free(buf);
    return err;
}

ferry_err bridge__app_topic(const char *ns, const char *app, const json_t *spec, char *buf,
                            size_t len) {
    ferry_topic tp = {.kind = FERRY_TOPIC_APP_ALL};
    const char *k, *v;
    snprintf(tp.ns, sizeof(tp.ns), "%s", ns);
    snprintf(tp.app, sizeof(tp.app), "%s", app);
    if (ferry_selector_topic_label(json_object_get(spec, "selector"), &k, &v)) {
        tp.kind = FERRY_TOPIC_APP_LABEL;
        snprintf(tp.label_key, sizeof(tp.label_key), "%s", k);
        snprintf(tp.label_value, sizeof(tp.label_value), "%s", v);
    }
    ferry_err err = ferry_topic_build(&tp, buf, len);
    if (err != FERRY_OK)
        LOG_ERROR("cannot build the topic of app %s/%s: %s", ns, app, ferry_strerror(err));
    return err;
}

static ferry_err sync_topic(const char *ns, const char *node, char *buf, size_t len) {
    ferry_topic tp = {.kind = FERRY_TOPIC_NODE_SYNC};
    snprintf(tp.ns, sizeof(tp.ns), "%s", ns);
    snprintf(tp.node, sizeof(tp.node), "%s", node);
    return ferry_topic_build(&tp, buf, len);
}

static json_t *app_put_msg(const char *ns, const char *app, int64_t version, const json_t *spec) {
    return json_pack("{s:s, s:s, s:s, s:I, s:O}", "type", FERRY_MSG_APP_PUT, "ns", ns, "app", app,
                     "version", (json_int_t)version, "spec", spec);
}

struct sync_scan {
    const json_t *labels; /* the node's labels */
    const json_t *held;   /* hello's apps map, or NULL: every spec is included */
    bridge_resolver *res; /* wire documents of the specs sent */
    json_t *apps;
    ferry_err err;
};

static bool sync_each(const char *key, const json_t *rec, void *ctx) {
    struct sync_scan *sc = ctx;
    if (!bridge__app_record_ok(key, rec)) {
        sc->err = FERRY_EFORMAT;
        return false;
    }
    const json_t *spec = json_object_get(rec, "spec");
    if (json_is_true(json_object_get(rec, "deleted")) ||
        !ferry_selector_matches(json_object_get(spec, "selector"), sc->labels))
        return true;
    const char *name = json_string_value(json_object_get(rec, "name"));
    json_int_t version = json_integer_value(json_object_get(rec, "version"));
    json_t *held = sc->held ? json_object_get(sc->held, name) : NULL;
    json_t *wire = NULL;
    if (!(json_is_integer(held) && json_integer_value(held) == version) &&
        (sc->err = bridge__wire_spec(sc->res, name, spec, &wire, NULL)) != FERRY_OK)
        return false;
    json_t *item = json_pack("{s:s, s:I}", "app", name, "version", version);
    if (item == NULL || (wire != NULL && json_object_set_new(item, "spec", wire) != 0) ||
        json_array_append_new(sc->apps, item) != 0) {
        if (item == NULL)
            json_decref(wire);
        sc->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

/* The node.sync for node at rev: registered with its labels and every app of the namespace that
 * selects it when node_rec is not NULL, else registered=false with nothing. held (a hello's apps
 * map, may be NULL) leaves out the specs the node already has. *msg is new. */
static ferry_err build_sync(ferry_bridge *b, ferry_store_txn *t, const char *ns, const char *node,
                            const json_t *node_rec, uint64_t rev, const json_t *held,
                            json_t **msg) {
    bridge_resolver res;
    struct sync_scan sc = {.held = held, .res = &res, .apps = json_array(), .err = FERRY_OK};
    json_t *labels = node_rec ? json_object_get(node_rec, "labels") : NULL;
    ferry_err err = FERRY_ENOMEM;
    char prefix[BRIDGE_KEY_MAX];

    bridge__resolver_init(&res, b, t, ns);
    *msg = NULL;
    if (sc.apps == NULL)
        goto out;
    if (node_rec != NULL) {
        sc.labels = labels;
        bridge__key(prefix, ns, "", NULL);
        err = ferry_store_scan(t, FERRY_DB_APPS, prefix, sync_each, &sc);
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
    err = *msg != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    bridge__resolver_done(&res);
    json_decref(sc.apps);
    return err;
}

/* Queue the node.sync of a node whose registration changed at rev. */
static ferry_err queue_sync(ferry_bridge *b, ferry_store_txn *t, const char *ns, const char *node,
                            const json_t *node_rec, uint64_t rev, size_t *queued) {
    char topic[FERRY_TOPIC_MAX];
    json_t *msg = NULL;
    ferry_err err = sync_topic(ns, node, topic, sizeof(topic));
    if (err == FERRY_OK)
        err = build_sync(b, t, ns, node, node_rec, rev, NULL, &msg);
    if (err == FERRY_OK)
        err = queue(b, t, topic, msg, queued);
    return err;
}

/* ---- API writes ------------------------------------------------------------------------------ */

ferry_err bridge__body_version(const json_t *body, json_int_t *version, ferry_detail *e) {
    json_t *v = json_object_get(body, "version");
    *version = 0;
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1))
        return ferry_fail(e, FERRY_EINVAL, "version", "must be a positive integer");
    *version = v != NULL ? json_integer_value(v) : 0;
    return FERRY_OK;
}

ferry_err bridge__check_version(const bridge_write_op *op, int64_t stored) {
    if (op->body_version != 0 && op->body_version != stored)
        return ferry_fail(op->e, FERRY_ECONFLICT, "version",
                          "version conflict: stored %lld, body %lld", (long long)stored,
                          (long long)op->body_version);
    return FERRY_OK;
}

void bridge__op_reset(bridge_write_op *op) {
    json_decref(op->out);
    op->out = NULL;
    op->queued = 0;
}

ferry_err bridge__run_write(ferry_bridge *b, ferry_store_fn fn, bridge_write_op *op, json_t **out) {
    op->b = b;
    op->now = ferry_now_ms();
    pthread_mutex_lock(&b->lock);
    ferry_err err = ferry_store_write(b->store, fn, op);
    pthread_mutex_unlock(&b->lock);
    if (err == FERRY_OK) {
        *out = op->out;
        op->out = NULL;
        if (op->queued > 0 && b->cfg.kick != NULL)
            b->cfg.kick(b->cfg.kick_ctx);
    } else {
        json_decref(op->out);
        op->out = NULL;
        /* Errors from the transaction body filled op->e; the rest are store failures. */
        if (err != FERRY_EINVAL && err != FERRY_EEXIST && err != FERRY_ENOTFOUND &&
            err != FERRY_ECONFLICT)
            bridge__store_fail(op->e, err);
    }
    return err;
}

/* Encode msg (stolen) for the app's topic; a payload over the cap is refused with e filled. */
static ferry_err encode_app_msg(const char *ns, const char *app, json_t *msg, unsigned char **buf,
                                size_t *len, ferry_detail *e) {
    ferry_err err = encode(msg, buf, len);
    if (err == FERRY_OK && *len > FERRY_MAX_PAYLOAD - OUTBOX_SEAL_OVERHEAD) {
        ferry_free(*buf);
        *buf = NULL;
        err = FERRY_ETOOBIG;
    }
    if (err == FERRY_ETOOBIG)
        err = ferry_fail(e, FERRY_EINVAL, NULL,
                         "app '%s/%s' with the files of its configs would be over the %u-byte "
                         "message cap",
                         ns, app, FERRY_MAX_PAYLOAD);
    return err;
}

/* Choose what to send for an update (see bridge_int.h): app.patch when the selector is unchanged
 * and the patch is smaller than the whole app, else app.put. A selector change alters the set of
 * targeted nodes and a newly targeted node holds no base to patch: the put spares each of them a
 * gap and a hello round trip. */
ferry_err bridge__queue_app_change(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                   const char *app, const json_t *old_spec, const json_t *old_wire,
                                   const json_t *new_wire, int64_t base, int64_t version,
                                   size_t *queued, ferry_detail *e) {
    unsigned char *buf = NULL, *patch_buf = NULL;
    size_t len = 0, patch_len = 0;
    char topic[FERRY_TOPIC_MAX], old_topic[FERRY_TOPIC_MAX];
    uint64_t seq;
    ferry_err err;

    if ((err = bridge__app_topic(ns, app, new_wire, topic, sizeof(topic))) != FERRY_OK ||
        (err = bridge__app_topic(ns, app, old_spec, old_topic, sizeof(old_topic))) != FERRY_OK ||
        (err = encode_app_msg(ns, app, app_put_msg(ns, app, version, new_wire), &buf, &len, e)) !=
            FERRY_OK)
        goto out;
    json_t *delta = NULL;
    if (old_wire != NULL &&
        json_equal(json_object_get(old_spec, "selector"), json_object_get(new_wire, "selector")))
        delta = ferry_patch_diff(old_wire, new_wire); /* NULL on ENOMEM: the put will do */
    if (delta != NULL &&
        encode(json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "type", FERRY_MSG_APP_PATCH, "ns", ns,
                         "app", app, "base", (json_int_t)base, "version", (json_int_t)version,
                         "patch", delta),
               &patch_buf, &patch_len) == FERRY_OK &&
        patch_len < len) {
        ferry_free(buf);
        buf = patch_buf;
        len = patch_len;
        patch_buf = NULL;
    }
    if ((err = outbox_add(b, t, topic, buf, len, &seq)) != FERRY_OK)
        goto out;
    (*queued)++;
    /* Nodes that only the old topic reaches no longer match: the put tells them to drop it. */
    if (strcmp(topic, old_topic) != 0) {
        if ((err = outbox_add(b, t, old_topic, buf, len, &seq)) != FERRY_OK)
            goto out;
        (*queued)++;
    }
out:
    ferry_free(buf);
    ferry_free(patch_buf);
    return err;
}

static ferry_err app_create_txn(ferry_store_txn *t, void *ctx) {
    bridge_write_op *op = ctx;
    json_t *old = NULL, *rec = NULL, *wire = NULL;
    char key[BRIDGE_KEY_MAX], topic[FERRY_TOPIC_MAX];
    unsigned char *buf = NULL;
    size_t len = 0;
    uint64_t rev, seq;
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
    if ((err = ferry_store_put(t, FERRY_DB_APPS, key, rec)) != FERRY_OK ||
        (err = bridge__app_topic(op->ns, op->name, op->input, topic, sizeof(topic))) != FERRY_OK ||
        (err = encode_app_msg(op->ns, op->name, app_put_msg(op->ns, op->name, (int64_t)rev, wire),
                              &buf, &len, op->e)) != FERRY_OK ||
        (err = outbox_add(op->b, t, topic, buf, len, &seq)) != FERRY_OK)
        goto out;
    op->queued++;
    op->out = bridge__app_view(rec, op->now);
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    bridge__resolver_done(&res);
    ferry_free(buf);
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
        (err = bridge__queue_app_change(op->b, t, op->ns, op->name, old_spec, old_wire, wire, base,
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
        (err = queue(op->b, t, topic,
                     json_pack("{s:s, s:s, s:s, s:I}", "type", FERRY_MSG_APP_DELETE, "ns", op->ns,
                               "app", op->name, "version", (json_int_t)rev),
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
    if (err == FERRY_OK)
        LOG_INFO("app %s/%s deleted at version %lld", ns, name,
                 (long long)json_integer_value(json_object_get(*out, "version")));
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
        if ((err = ferry_store_del(t, FERRY_DB_NODES, key)) != FERRY_OK ||
            (err = queue_sync(op->b, t, op->ns, op->name, NULL, rev, &op->queued)) != FERRY_OK)
            goto out;
        op->out = json_pack("{s:s, s:s, s:b}", "name", op->name, "namespace", op->ns, "deleted", 1);
    } else {
        int64_t created = old ? bridge__int(old, "createdAt") : op->now;
        err = FERRY_ENOMEM;
        rec = json_pack("{s:s, s:s, s:O, s:I, s:I}", "ns", op->ns, "name", op->name, "labels",
                        op->input, "createdAt", (json_int_t)created, "updatedAt",
                        (json_int_t)op->now);
        if (rec == NULL)
            goto out;
        if ((err = ferry_store_put(t, FERRY_DB_NODES, key, rec)) != FERRY_OK ||
            (err = queue_sync(op->b, t, op->ns, op->name, rec, rev, &op->queued)) != FERRY_OK)
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
    if (name_path != NULL && json_is_string(jname) && strcmp(json_string_value(jname), name_path)) {
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
    *name = name_path ? name_path : json_string_value(json_object_get(body, "name"));
    json_t *l = json_object_get(body, "labels");
    *labels = l ? json_deep_copy(l) : json_object();
    err = *labels ? FERRY_OK : bridge__store_fail(e, FERRY_ENOMEM);
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
    if (err == FERRY_OK)
        LOG_INFO("node %s/%s %s", ns, op.name,
                 create ? "registered"
                 : body ? "relabelled"
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
    int64_t received_ms;
} node_msg;

typedef struct {
    ferry_bridge *b;
    node_msg *msgs;
    size_t n;
    json_t *replies; /* [[topic, msg], ...]: syncs to publish after the commit */
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
    default:
        LOG_WARN("mqtt: message on '%.*s' is not for the bridge; dropped", (int)m->topic_len,
                 m->topic);
        return NULL;
    }
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
        LOG_WARN("mqtt: '%s' message on '%.*s' (expected %s) dropped", type ? type : "?",
                 (int)m->topic_len, m->topic, want);
        goto reject;
    }
    if (ns == NULL || node == NULL || strcmp(ns, tp->ns) != 0 || strcmp(node, tp->node) != 0 ||
        (tp->kind == FERRY_TOPIC_NODE_STATUS && (app == NULL || strcmp(app, tp->app) != 0))) {
        LOG_WARN("mqtt: %s on '%.*s' names another node or app (ns %s, node %s, app %s); dropped",
                 type, (int)m->topic_len, m->topic, ns ? ns : "?", node ? node : "?",
                 app ? app : "-");
        goto reject;
    }
    return msg;
reject:
    json_decref(msg);
    return NULL;
}

static ferry_err handle_hello(ferry_bridge *b, ferry_store_txn *t, const node_msg *m, uint64_t rev,
                              json_t *replies) {
    json_t *node = NULL, *sync = NULL;
    char topic[FERRY_TOPIC_MAX];
    ferry_err err = bridge__get_node(t, m->topic.ns, m->topic.node, &node);
    if (err == FERRY_ENOTFOUND)
        err = FERRY_OK;
    if (err == FERRY_OK)
        err = sync_topic(m->topic.ns, m->topic.node, topic, sizeof(topic));
    if (err == FERRY_OK)
        err = build_sync(b, t, m->topic.ns, m->topic.node, node, rev,
                         json_object_get(m->msg, "apps"), &sync);
    if (err == FERRY_OK && json_array_append_new(replies, json_pack("[s, O]", topic, sync)) != 0)
        err = FERRY_ENOMEM;
    LOG_DEBUG("hello from %s/%s (%s): answering with rev %llu, %s", m->topic.ns, m->topic.node,
              json_string_value(json_object_get(m->msg, "reason")), (unsigned long long)rev,
              node ? "registered" : "not registered");
    json_decref(node);
    json_decref(sync);
    return err;
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
    if (json_object_set_new(rec, "updatedAt", json_integer(m->received_ms)) != 0)
        goto out;
    err = ferry_store_put(t, FERRY_DB_STATUS, key, rec);
out:
    json_decref(old);
    json_decref(rec);
    return err;
}

bool bridge__gpu_ok(const json_t *gpu) {
    static const char *const fields[] = {"index", "model", "memoryMiB"};
    const json_t *devices = json_object_get(gpu, "devices");
    if (!json_is_object(gpu) || json_object_size(gpu) != 2 ||
        !json_is_boolean(json_object_get(gpu, "sharing")) || !json_is_array(devices) ||
        json_array_size(devices) > 64)
        return false;
    for (size_t i = 0; i < json_array_size(devices); i++) {
        const json_t *d = json_array_get(devices, i);
        const json_t *model = json_object_get(d, "model");
        if (!json_is_object(d) || json_object_size(d) != 3 || !json_is_string(model) ||
            json_string_length(model) > 256)
            return false;
        for (size_t k = 0; k < 3; k++) {
            const json_t *v = json_object_get(d, fields[k]);
            if (k != 1 && (!json_is_integer(v) || json_integer_value(v) < 0))
                return false;
        }
    }
    return true;
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
                            "online", online, "ts", (json_int_t)m->received_ms, "gpu", gpu);
    ferry_err err = rec ? ferry_store_put(t, FERRY_DB_NODESTATE, key, rec) : FERRY_ENOMEM;
    json_decref(rec);
    json_decref(old);
    return err;
}

static ferry_err batch_txn(ferry_store_txn *t, void *ctx) {
    batch_op *op = ctx;
    uint64_t rev;
    ferry_err err = ferry_store_rev(t, &rev);

    json_array_clear(op->replies);
    for (size_t i = 0; i < op->n && err == FERRY_OK; i++) {
        const node_msg *m = &op->msgs[i];
        if (m->msg == NULL)
            continue;
        switch (m->topic.kind) {
        case FERRY_TOPIC_NODE_HELLO:
            err = handle_hello(op->b, t, m, rev, op->replies);
            break;
        case FERRY_TOPIC_NODE_STATUS:
            err = handle_status(t, m);
            break;
        case FERRY_TOPIC_NODE_ONLINE:
            err = handle_online(t, m);
            break;
        default:
            break;
        }
    }
    return err;
}

static ferry_err handle_batch(ferry_bridge *b, const ferry_bridge_msg *msgs, size_t n) {
    ferry_err err = FERRY_ENOMEM;
    batch_op op = {
        .b = b, .msgs = ferry_calloc(n, sizeof(node_msg)), .n = n, .replies = json_array()};

    if (op.msgs == NULL || op.replies == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        op.msgs[i].msg = check_msg(&msgs[i], &op.msgs[i].topic);
        op.msgs[i].received_ms = msgs[i].received_ms;
    }
    pthread_mutex_lock(&b->lock);
    err = ferry_store_write(b->store, batch_txn, &op);
    size_t r;
    json_t *reply;
    json_array_foreach(op.replies, r, reply) {
        const char *topic = json_string_value(json_array_get(reply, 0));
        unsigned char *buf = NULL;
        size_t len = 0;
        if (err != FERRY_OK)
            break;
        if (encode(json_incref(json_array_get(reply, 1)), &buf, &len) != FERRY_OK ||
            b->cfg.publish(b->cfg.publish_ctx, topic, buf, len, NULL) != FERRY_OK)
            LOG_WARN("could not send the sync on %s; the node asks again in 30 s", topic);
        ferry_free(buf);
    }
    pthread_mutex_unlock(&b->lock);
    if (err != FERRY_OK)
        LOG_ERROR("store: %zu node messages could not be stored (%s); they are lost, nodes "
                  "resend status on reconnect and hellos after 30 s",
                  n, ferry_strerror(err));
out:
    for (size_t i = 0; op.msgs != NULL && i < n; i++)
        json_decref(op.msgs[i].msg);
    ferry_free(op.msgs);
    json_decref(op.replies);
    return err;
}

ferry_err ferry_bridge_handle_messages(ferry_bridge *b, const ferry_bridge_msg *msgs, size_t n) {
    ferry_err err = FERRY_OK;
    for (size_t off = 0; off < n && err == FERRY_OK; off += MAX_BATCH)
        err = handle_batch(b, msgs + off, n - off < MAX_BATCH ? n - off : MAX_BATCH);
    return err;
}

/* ---- outbox publisher ------------------------------------------------------------------------ */

void ferry_bridge_mqtt_up(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    b->mqtt_up = true;
    b->gen++;
    b->cursor = 0;
    b->inflight = 0;
    b->retry_from = UINT64_MAX;
    b->last_progress_ms = ferry_mono_ms();
    pthread_mutex_unlock(&b->lock);
    ferry_bridge_pump(b);
}

void ferry_bridge_mqtt_down(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    b->mqtt_up = false;
    pthread_mutex_unlock(&b->lock);
}

static bool pump_each(uint64_t seq, const char *topic, const unsigned char *payload, size_t len,
                      void *ctx) {
    ferry_bridge *b = ctx;
    unsigned char *plain = NULL;
    if (b->inflight >= b->cfg.window)
        return false;
    ferry_outbox_ref ref = {.seq = seq, .gen = b->gen};
    if (len > 0 && payload[0] == OUTBOX_SEALED) {
        ferry_err err = FERRY_EFORMAT;
        if (len >= OUTBOX_SEAL_OVERHEAD &&
            (plain = ferry_malloc(len - OUTBOX_SEAL_OVERHEAD + 1)) == NULL)
            return false; /* retried on the next kick or tick */
        if (plain != NULL)
            err =
                ferry_secrets_open_bytes(b->key, topic, strlen(topic), payload + 1, len - 1, plain);
        if (err != FERRY_OK) {
            ferry_free(plain);
            if (err == FERRY_ENOMEM)
                return false;
            LOG_ERROR("outbox: entry %llu on %s does not decrypt with the key file (%s); it is "
                      "skipped and stays in the outbox",
                      (unsigned long long)seq, topic, ferry_strerror(err));
            b->cursor = seq + 1;
            return true;
        }
        len -= OUTBOX_SEAL_OVERHEAD;
        payload = plain;
    }
    ferry_err perr = b->cfg.publish(b->cfg.publish_ctx, topic, payload, len, &ref);
    if (plain != NULL) {
        ferry_secrets_wipe(plain, len);
        ferry_free(plain);
    }
    if (perr != FERRY_OK)
        return false; /* retried on the next kick or tick */
    if (b->inflight == 0)
        b->last_progress_ms = ferry_mono_ms();
    b->inflight++;
    b->cursor = seq + 1;
    return true;
}

static ferry_err pump_txn(ferry_store_txn *t, void *ctx) {
    ferry_bridge *b = ctx;
    return ferry_store_outbox_scan(t, b->cursor, pump_each, b);
}

void ferry_bridge_pump(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    if (b->mqtt_up && b->inflight < b->cfg.window)
        ferry_store_read(b->store, pump_txn, b);
    pthread_mutex_unlock(&b->lock);
}

typedef struct {
    const ferry_outbox_ref *refs;
    size_t n;
} ack_op;

static ferry_err ack_txn(ferry_store_txn *t, void *ctx) {
    ack_op *op = ctx;
    ferry_err err = FERRY_OK;
    for (size_t i = 0; i < op->n && err == FERRY_OK; i++)
        err = ferry_store_outbox_delete(t, op->refs[i].seq);
    return err;
}

void ferry_bridge_outbox_acked(ferry_bridge *b, const ferry_outbox_ref *refs, size_t n) {
    ack_op op = {.refs = refs, .n = n};
    if (n == 0)
        return;
    pthread_mutex_lock(&b->lock);
    ferry_err err = ferry_store_write(b->store, ack_txn, &op);
    if (err != FERRY_OK)
        LOG_ERROR("store: cannot remove %zu acknowledged messages from the outbox (%s); they are "
                  "published again on reconnect",
                  n, ferry_strerror(err));
    for (size_t i = 0; i < n; i++) {
        if (refs[i].gen == b->gen && b->inflight > 0)
            b->inflight--;
    }
    b->last_progress_ms = ferry_mono_ms();
    LOG_DEBUG("outbox: %zu acknowledged, %zu in flight", n, b->inflight);
    pthread_mutex_unlock(&b->lock);
}

void ferry_bridge_outbox_failed(ferry_bridge *b, const ferry_outbox_ref *ref) {
    pthread_mutex_lock(&b->lock);
    if (ref->gen == b->gen) {
        if (b->inflight > 0)
            b->inflight--;
        if (ref->seq < b->retry_from)
            b->retry_from = ref->seq;
    }
    pthread_mutex_unlock(&b->lock);
}

void ferry_bridge_tick(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    if (b->mqtt_up && b->retry_from != UINT64_MAX) {
        if (b->retry_from < b->cursor)
            b->cursor = b->retry_from;
        b->retry_from = UINT64_MAX;
    }
    if (b->mqtt_up && b->inflight > 0 && ferry_mono_ms() - b->last_progress_ms > STALL_MS) {
        LOG_WARN("outbox: no acknowledgement for %d s with %zu messages in flight; publishing "
                 "everything not acknowledged again",
                 STALL_MS / 1000, b->inflight);
        b->gen++;
        b->cursor = 0;
        b->inflight = 0;
        b->last_progress_ms = ferry_mono_ms();
    }
    pthread_mutex_unlock(&b->lock);
    ferry_bridge_pump(b);
}
