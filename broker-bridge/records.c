/* broker-bridge records: what the store holds, as the API and the nodes name it. Keys, the layout
 * of each record and its checks on read (records are files on disk: untrusted input), the members
 * of a config that hold sealed secret values, and store failures as the API reports them. It
 * knows the store and the schema library, nothing else of the bridge. */
#include "records.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry/app.h"
#include "ferry/config.h"
#include "ferry/labels.h"
#include "ferry/secrets.h"
#include "ferry/sign.h"

/* ---- keys, names, times ---------------------------------------------------------------------- */

void bridge__key(char *buf, const char *a, const char *b, const char *c) {
    if (c != NULL)
        snprintf(buf, BRIDGE_KEY_MAX, "%s/%s/%s", a, b, c);
    else
        snprintf(buf, BRIDGE_KEY_MAX, "%s/%s", a, b);
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

ferry_err bridge__store_fail(ferry_detail *e, ferry_err err) {
    if (err == FERRY_ENOMEM)
        return ferry_fail(e, err, NULL, "out of memory");
    return ferry_fail(e, err, NULL, "storage failure (%s); see the bridge log",
                      ferry_strerror(err));
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

/* ---- secret values of config objects --------------------------------------------------------- */

ferry_err bridge__each_slot(json_t *cfg, bridge_slot_fn fn, void *ctx) {
    const char *kind = json_string_value(json_object_get(cfg, "kind"));
    char field[300];
    ferry_err err = FERRY_OK;

    if (kind == NULL)
        return FERRY_EFORMAT;
    if (strcmp(kind, "secret") == 0) {
        json_t *data = json_object_get(cfg, "data");
        const char *k;
        json_t *v;
        json_object_foreach(data, k, v) {
            snprintf(field, sizeof(field), "data.%s", k);
            if ((err = fn(data, k, field, ctx)) != FERRY_OK)
                break;
        }
    } else if (strcmp(kind, "certificate") == 0) {
        json_t *c = json_object_get(cfg, "certificate");
        if (json_object_get(c, "key") != NULL)
            err = fn(c, "key", "certificate.key", ctx);
    } else if (strcmp(kind, "registry") == 0) {
        json_t *r = json_object_get(cfg, "registry");
        if (json_object_get(r, "password") != NULL)
            err = fn(r, "password", "registry.password", ctx);
    }
    return err;
}

bool bridge__slot_sealed(const json_t *slot) {
    const json_t *digest = json_object_get(slot, "digest");
    return json_is_object(slot) && json_object_size(slot) == 2 &&
           json_is_string(json_object_get(slot, "enc")) && json_is_string(digest) &&
           json_string_length(digest) == FERRY_SECRETS_DIGEST_LEN - 1 &&
           strncmp(json_string_value(digest), "sha256:", 7) == 0;
}

/* A stand-in that passes ferry_config_validate wherever a secret value may stand (secret data,
 * PEM key, registry password), to check the rest of a stored config without decrypting it. */
static ferry_err placeholder_slot(json_t *parent, const char *member, const char *field,
                                  void *ctx) {
    (void)field;
    (void)ctx;
    if (!bridge__slot_sealed(json_object_get(parent, member)))
        return FERRY_EFORMAT;
    return json_object_set_new(parent, member,
                               json_string("-----BEGIN SEALED-----\n-----END SEALED-----\n")) == 0
               ? FERRY_OK
               : FERRY_ENOMEM;
}

/* ---- record checks --------------------------------------------------------------------------- */

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
    /* An enrolled node's public keys (schema/PROTOCOL.md, "Trust"). */
    const json_t *keys = json_object_get(rec, "keys");
    unsigned char pub[FERRY_SIGN_KEY_LEN];
    if (keys != NULL &&
        (!json_is_object(keys) ||
         ferry_sign_pub_decode(json_string_value(json_object_get(keys, "sign")), pub) != FERRY_OK ||
         ferry_sign_pub_decode(json_string_value(json_object_get(keys, "box")), pub) != FERRY_OK ||
         !json_is_integer(json_object_get(keys, "at")))) {
        LOG_ERROR("store: node record '%s' has malformed 'keys'; it is treated as unreadable", key);
        return false;
    }
    return true;
}

bool bridge__node_key(const json_t *rec, const char *which, unsigned char pub[FERRY_SIGN_KEY_LEN]) {
    return ferry_sign_pub_decode(
               json_string_value(json_object_get(json_object_get(rec, "keys"), which)), pub) ==
           FERRY_OK;
}

bool bridge__status_record_ok(const char *key, const json_t *rec) {
    return record_ok("status", key, rec, status_fields) &&
           names_ok("status", key, rec, "ns", "app", "node");
}

/* The "config" member of a config record: an object of the record's name and kind whose secret
 * values are sealed ({"enc", "digest"}) and that is otherwise a valid config. Logged. */
static bool config_body_ok(const char *key, const json_t *rec) {
    const json_t *cfg = json_object_get(rec, "config");
    json_t *copy = NULL;
    ferry_detail verr;
    bool ok = false;

    if (!json_equal(json_object_get(cfg, "name"), json_object_get(rec, "name")) ||
        !json_equal(json_object_get(cfg, "kind"), json_object_get(rec, "kind"))) {
        LOG_ERROR("store: config record '%s' holds another config's name or kind; it is treated "
                  "as unreadable",
                  key);
        return false;
    }
    if ((copy = json_deep_copy(cfg)) == NULL)
        return false;
    if (bridge__each_slot(copy, placeholder_slot, NULL) != FERRY_OK) {
        LOG_ERROR("store: config record '%s' holds a secret value that is not sealed; it is "
                  "treated as unreadable",
                  key);
        goto out;
    }
    if (ferry_config_validate(copy, &verr) != FERRY_OK) {
        LOG_ERROR("store: config record '%s' is not a valid config (%s: %s); it is treated as "
                  "unreadable",
                  key, verr.field, verr.message);
        goto out;
    }
    ok = true;
out:
    json_decref(copy);
    return ok;
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
    return config_body_ok(key, rec);
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

/* ---- checked reads --------------------------------------------------------------------------- */

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

ferry_err bridge__get_config(ferry_store_txn *t, const char *ns, const char *name, json_t **out) {
    return get_checked(t, FERRY_DB_CONFIGS, ns, name, bridge__config_record_ok, out);
}
