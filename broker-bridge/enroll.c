/* broker-bridge enrollment: one-time tokens for registered nodes, and the exchange in which a node
 * gives its public keys and gets its identity (schema/PROTOCOL.md, "Trust"). */
#include <stdio.h>
#include <string.h>

#include "bridge_int.h"
#include "ferry/labels.h"
#include "ferry/secrets.h"
#include "ferry/sign.h"
#include "records.h"
#include "views.h"
#include "write.h"

#define TOKEN_PREFIX "fen_"
#define TOKEN_TTL_MS (3600 * 1000) /* one hour */

/* ---- tokens ---- */

/* The write op first: bridge__run_write hands the transaction a pointer to it. */
typedef struct {
    bridge_write_op op;
    const char *hash; /* the token's digest: the key of its record */
    int64_t expires;
} token_op;

static ferry_err token_txn(ferry_store_txn *t, void *ctx) {
    token_op *to = ctx;
    bridge_write_op *op = &to->op;
    json_t *node = NULL, *rec = NULL;

    bridge__op_reset(op);
    ferry_err err = bridge__get_node(t, op->ns, op->name, &node);
    if (err == FERRY_ENOTFOUND) {
        err = ferry_fail(op->e, FERRY_ENOTFOUND, NULL,
                         "node '%s' not found (register it first: POST .../nodes)", op->name);
        goto out;
    }
    if (err != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    rec = json_pack("{s:s, s:s, s:I}", "ns", op->ns, "node", op->name, "expiresAt",
                    (json_int_t)to->expires);
    if (rec == NULL || (err = ferry_store_put(t, FERRY_DB_ENROLL, to->hash, rec)) != FERRY_OK)
        goto out;
    op->out = json_pack("{s:s, s:s, s:o}", "namespace", op->ns, "node", op->name, "expiresAt",
                        bridge__time(to->expires));
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    json_decref(node);
    json_decref(rec);
    return err;
}

ferry_err ferry_bridge_node_enroll_token(ferry_bridge *b, const char *ns, const char *name,
                                         json_t **out, ferry_detail *e) {
    char hash[FERRY_SECRETS_DIGEST_LEN];
    char *token = NULL;
    token_op to = {.op = {.ns = ns, .name = name, .e = e},
                   .hash = hash,
                   .expires = ferry_now_ms() + TOKEN_TTL_MS};
    ferry_err err = bridge__check_names(ns, name, e);

    *out = NULL;
    if (err != FERRY_OK)
        return err;
    if ((token = ferry_secrets_token(TOKEN_PREFIX)) == NULL)
        return bridge__store_fail(e, FERRY_ENOMEM);
    ferry_secrets_digest(token, strlen(token), hash);
    err = bridge__run_write(b, token_txn, &to.op, out);
    if (err == FERRY_OK && json_object_set_new(*out, "token", json_string(token)) != 0) {
        json_decref(*out);
        *out = NULL;
        err = bridge__store_fail(e, FERRY_ENOMEM);
    }
    if (err == FERRY_OK)
        LOG_INFO("node %s/%s: enrollment token issued (valid until %s)", ns, name,
                 json_string_value(json_object_get(*out, "expiresAt")));
    ferry_secrets_wipe(token, strlen(token));
    ferry_free(token);
    return err;
}

/* ---- enrolling ---- */

typedef struct {
    bridge_write_op op; /* first, as in token_op */
    const char *hash;
    const char *sign_key, *box_key; /* base64, checked */
    char ns[64], node[64];
    char *password; /* the node's new broker password (ferry_malloc), when the broker has one */
} enroll_op;

/* The one answer for every token that does not let a node in: nothing tells a stranger whether a
 * token ever existed. */
static ferry_err refused(ferry_detail *e) {
    return ferry_fail(e, FERRY_ENOTFOUND, "token",
                      "this enrollment token is unknown, spent or expired; ask for a new one "
                      "(POST /v1/namespaces/{ns}/nodes/{name}/enroll)");
}

static ferry_err enroll_txn(ferry_store_txn *t, void *ctx) {
    enroll_op *eo = ctx;
    bridge_write_op *op = &eo->op;
    json_t *tok = NULL, *node = NULL, *rec = NULL;
    char key[BRIDGE_KEY_MAX];
    uint64_t rev;

    bridge__op_reset(op);
    ferry_err err = ferry_store_get(t, FERRY_DB_ENROLL, eo->hash, &tok);
    if (err == FERRY_ENOTFOUND || err == FERRY_EFORMAT || err == FERRY_EVERSION) {
        err = refused(op->e);
        goto out;
    }
    if (err != FERRY_OK)
        goto out;
    const char *ns = json_string_value(json_object_get(tok, "ns"));
    const char *name = json_string_value(json_object_get(tok, "node"));
    if (ns == NULL || name == NULL || !ferry_name_valid(ns) || !ferry_name_valid(name) ||
        bridge__int(tok, "expiresAt") < op->now) {
        /* Expired (or unusable): spent now, and answered like an unknown one. */
        op->out = json_null();
        err = ferry_store_del(t, FERRY_DB_ENROLL, eo->hash);
        goto out;
    }
    snprintf(eo->ns, sizeof(eo->ns), "%s", ns);
    snprintf(eo->node, sizeof(eo->node), "%s", name);
    if ((err = ferry_store_del(t, FERRY_DB_ENROLL, eo->hash)) != FERRY_OK)
        goto out;
    err = bridge__get_node(t, eo->ns, eo->node, &node);
    if (err == FERRY_ENOTFOUND) { /* deleted since: the token is spent, the node stays out */
        op->out = json_null();
        err = FERRY_OK;
        goto out;
    }
    if (err != FERRY_OK || (err = ferry_store_next_rev(t, &rev)) != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    if ((rec = json_deep_copy(node)) == NULL ||
        json_object_set_new(rec, "keys",
                            json_pack("{s:s, s:s, s:I}", "sign", eo->sign_key, "box", eo->box_key,
                                      "at", (json_int_t)op->now)) != 0 ||
        json_object_set_new(rec, "updatedAt", json_integer(op->now)) != 0)
        goto out;
    bridge__key(key, eo->ns, eo->node, NULL);
    /* A new credential (a re-enrollment replaces the old one and closes its connection), granted
     * before the node's sync goes out. Not kept here: the broker has it, the node gets it once. */
    if (strcmp(ferry_broker_kind(op->b->broker), "none") != 0) {
        ferry_free(eo->password);
        if ((eo->password = ferry_secrets_token("")) == NULL) {
            err = FERRY_ENOMEM;
            goto out;
        }
    }
    if ((err = ferry_store_put(t, FERRY_DB_NODES, key, rec)) != FERRY_OK ||
        (eo->password != NULL &&
         (err = bridge__broker_grant(op->b, t, eo->ns, eo->node, eo->password,
                                     json_object_get(rec, "labels"), &op->queued)) != FERRY_OK) ||
        (err = bridge__queue_sync(op->b, t, eo->ns, eo->node, rec, rev, &op->queued)) != FERRY_OK)
        goto out;
    op->out = json_object();
    err = op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    json_decref(tok);
    json_decref(node);
    json_decref(rec);
    return err;
}

/* The answer a node gets: who it is, whom to trust, where to connect. */
static json_t *identity(const ferry_bridge *b, const enroll_op *eo) {
    char pub[FERRY_SIGN_PUB_B64], client[FERRY_BROKER_NAME_MAX];
    ferry_sign_pub_encode(b->sign.pub, pub);
    if (ferry_broker_node_username(eo->ns, eo->node, client, sizeof(client)) != FERRY_OK)
        return NULL; /* names checked when the token was issued */
    return json_pack("{s:s, s:s, s:s, s:{s:s?, s:s, s:s?, s:s?, s:s?}}", "namespace", eo->ns,
                     "node", eo->node, "bridgeKey", pub, "mqtt", "uri", b->cfg.node_mqtt_uri,
                     "clientId", client, "ca", b->cfg.node_mqtt_ca, "username",
                     eo->password != NULL ? client : NULL, "password", eo->password);
}

ferry_err ferry_bridge_enroll(ferry_bridge *b, const json_t *body, json_t **out, ferry_detail *e) {
    static const char *const fields[] = {"token", "signKey", "boxKey"};
    unsigned char pub[FERRY_SIGN_KEY_LEN];
    char hash[FERRY_SECRETS_DIGEST_LEN];
    enroll_op eo = {.op = {.e = e}, .hash = hash};
    json_t *result = NULL;

    *out = NULL;
    if (!json_is_object(body))
        return ferry_fail(e, FERRY_EINVAL, NULL, "the body must be a JSON object");
    for (size_t i = 0; i < 3; i++)
        if (!json_is_string(json_object_get(body, fields[i])))
            return ferry_fail(e, FERRY_EINVAL, fields[i], "must be a string");
    const char *token = json_string_value(json_object_get(body, "token"));
    eo.sign_key = json_string_value(json_object_get(body, "signKey"));
    eo.box_key = json_string_value(json_object_get(body, "boxKey"));
    if (ferry_sign_pub_decode(eo.sign_key, pub) != FERRY_OK)
        return ferry_fail(e, FERRY_EINVAL, "signKey", "must be an Ed25519 public key (base64)");
    if (ferry_sign_pub_decode(eo.box_key, pub) != FERRY_OK)
        return ferry_fail(e, FERRY_EINVAL, "boxKey", "must be an X25519 public key (base64)");
    if (strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 || strlen(token) > 128)
        return refused(e);
    ferry_secrets_digest(token, strlen(token), hash);
    ferry_err err = bridge__run_write(b, enroll_txn, &eo.op, &result);
    if (err == FERRY_OK && json_is_null(result))
        err = refused(e);
    if (err == FERRY_OK && (*out = identity(b, &eo)) == NULL)
        err = bridge__store_fail(e, FERRY_ENOMEM);
    if (err == FERRY_OK)
        LOG_INFO("node %s/%s enrolled%s", eo.ns, eo.node,
                 eo.password != NULL ? " (its broker credential granted)" : "");
    if (eo.password != NULL) {
        ferry_secrets_wipe(eo.password, strlen(eo.password));
        ferry_free(eo.password);
    }
    json_decref(result);
    return err;
}

/* ---- debug credentials ---- */

typedef struct {
    bridge_write_op op;   /* first */
    const char *password; /* NULL: revoke */
} debug_op;

static ferry_err debug_txn(ferry_store_txn *t, void *ctx) {
    debug_op *d = ctx;
    bridge__op_reset(&d->op);
    ferry_err err = bridge__broker_debug(d->op.b, t, d->op.name, d->password, &d->op.queued);
    if (err == FERRY_OK && (d->op.out = json_object()) == NULL)
        err = FERRY_ENOMEM;
    return err;
}

static ferry_err debug_run(ferry_bridge *b, const char *name, const char *password, json_t **out,
                           ferry_detail *e) {
    debug_op d = {.op = {.name = name, .e = e}, .password = password};
    json_t *result = NULL;
    *out = NULL;
    if (name == NULL || !ferry_name_valid(name))
        return ferry_fail(e, FERRY_EINVAL, "name",
                          "must be a DNS label (1-63 characters of a-z, 0-9 and '-')");
    if (strcmp(ferry_broker_kind(b->broker), "none") == 0)
        return ferry_fail(e, FERRY_ECONFLICT, NULL,
                          "this bridge does not administer its broker (--broker-admin none)");
    ferry_err err = bridge__run_write(b, debug_txn, &d.op, &result);
    json_decref(result);
    return err;
}

ferry_err ferry_bridge_debug_credential(ferry_bridge *b, const json_t *body, json_t **out,
                                        ferry_detail *e) {
    char user[FERRY_BROKER_NAME_MAX];
    const char *name = json_string_value(json_object_get(body, "name"));
    char *password = ferry_secrets_token("");
    ferry_err err = password != NULL ? FERRY_OK : bridge__store_fail(e, FERRY_ENOMEM);

    *out = NULL;
    if (err == FERRY_OK && !json_is_object(body))
        err = ferry_fail(e, FERRY_EINVAL, NULL, "the body must be a JSON object");
    if (err == FERRY_OK)
        err = debug_run(b, name, password, out, e);
    if (err == FERRY_OK && ferry_broker_debug_username(name, user, sizeof(user)) == FERRY_OK &&
        (*out = json_pack("{s:s, s:s, s:s}", "username", user, "clientId", user, "password",
                          password)) == NULL)
        err = bridge__store_fail(e, FERRY_ENOMEM);
    if (err == FERRY_OK)
        LOG_INFO("broker: debug credential %s granted", user);
    if (password != NULL) {
        ferry_secrets_wipe(password, strlen(password));
        ferry_free(password);
    }
    return err;
}

ferry_err ferry_bridge_debug_revoke(ferry_bridge *b, const char *name, json_t **out,
                                    ferry_detail *e) {
    ferry_err err = debug_run(b, name, NULL, out, e);
    if (err == FERRY_OK && (*out = json_pack("{s:s, s:b}", "name", name, "revoked", 1)) == NULL)
        err = bridge__store_fail(e, FERRY_ENOMEM);
    if (err == FERRY_OK)
        LOG_INFO("broker: debug credential debug.%s revoked", name);
    return err;
}
