/* broker-bridge tokens: bearer tokens at rest (digests and grants in the tokens database), making
 * them, the admin token file, and finding the grant of a presented token (see tokens.h). */
#include "tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge_int.h"
#include "ferry/base64.h"
#include "ferry/secrets.h"
#include "records.h"
#include "write.h"

#define ID_BYTES 8   /* ids are 16 hex digits */
#define FILE_MAX 256 /* an admin token file longer than this is not one token */
#define KEY_MAX (2 + FERRY_SECRETS_DIGEST_LEN)

/* ---- token text ------------------------------------------------------------------------------ */

ferry_err ferry_tokens__generate(char out[FERRY_TOKEN_LEN + 1]) {
    unsigned char raw[FERRY_TOKEN_BYTES];
    char *b64 = NULL;
    size_t n = 0;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        LOG_ERROR("tokens: no random bytes for a new token (OpenSSL error %lu)", ERR_get_error());
        return FERRY_EIO;
    }
    b64 = ferry_base64_encode(raw, sizeof(raw), &n);
    ferry_secrets_wipe(raw, sizeof(raw));
    if (b64 == NULL)
        return FERRY_ENOMEM;
    /* base64url (RFC 4648 section 5) without padding: the token goes in headers and shells. */
    size_t len = strcspn(b64, "=");
    for (size_t i = 0; i < len; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    snprintf(out, FERRY_TOKEN_LEN + 1, "%s%.*s", FERRY_TOKEN_PREFIX, (int)len, b64);
    ferry_secrets_wipe(b64, n);
    ferry_free(b64);
    return FERRY_OK;
}

bool ferry_tokens__well_formed(const char *s, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t plen = sizeof(FERRY_TOKEN_PREFIX) - 1;

    if (len != FERRY_TOKEN_LEN || strncmp(s, FERRY_TOKEN_PREFIX, plen) != 0)
        return false;
    for (size_t i = plen; i < len; i++) {
        if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
            return false;
    }
    return true;
}

static void token_key(char key[KEY_MAX], const char *id) {
    snprintf(key, KEY_MAX, "t/%s", id);
}

static void digest_key(char key[KEY_MAX], const char *digest) {
    snprintf(key, KEY_MAX, "h/%s", digest);
}

static bool id_valid(const char *id) {
    return strcmp(id, FERRY_TOKEN_ADMIN_ID) == 0 ||
           (strlen(id) == 2 * ID_BYTES && strspn(id, "0123456789abcdef") == 2 * ID_BYTES);
}

/* ---- records --------------------------------------------------------------------------------- */

/* Check the token record found at key (untrusted: a file on disk) and take its grant. */
static ferry_err record_grant(const char *key, const json_t *rec, ferry_auth_grant *g) {
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *digest = json_string_value(json_object_get(rec, "digest"));
    ferry_detail e = {"", ""};
    char why[sizeof(e.field) + sizeof(e.message) + 2];

    if (id == NULL || strncmp(key, "t/", 2) != 0 || strcmp(key + 2, id) != 0 || !id_valid(id) ||
        digest == NULL || strlen(digest) != FERRY_SECRETS_DIGEST_LEN - 1 ||
        strncmp(digest, "sha256:", 7) != 0 ||
        strspn(digest + 7, "0123456789abcdef") != FERRY_SECRETS_DIGEST_LEN - 8 ||
        !json_is_integer(json_object_get(rec, "createdAt"))) {
        LOG_ERROR("tokens: record '%s' lacks a valid id, digest or createdAt; it is ignored "
                  "(delete it with DELETE /v1/tokens/{id} or restore the store)",
                  key);
        return FERRY_EFORMAT;
    }
    if (ferry_auth_grant_parse(json_object_get(rec, "grant"), g, &e) != FERRY_OK) {
        LOG_ERROR("tokens: record '%s' has an invalid grant (%s); it is ignored", key,
                  ferry_detail_text(&e, why, sizeof(why)));
        return FERRY_EFORMAT;
    }
    snprintf(g->id, sizeof(g->id), "%s", id);
    return FERRY_OK;
}

/* The REST view of a checked record: id, the grant, createdAt. */
static json_t *view(const ferry_auth_grant *g, const json_t *rec) {
    json_t *grant = ferry_auth_grant_json(g);
    json_t *v = json_pack("{s:s}", "id", g->id);
    if (grant == NULL || v == NULL || json_object_update(v, grant) != 0 ||
        json_object_set_new(v, "createdAt", bridge__time(bridge__int(rec, "createdAt"))) != 0) {
        json_decref(v);
        v = NULL;
    }
    json_decref(grant);
    return v;
}

/* Read and check the record of token id. */
static ferry_err get_token(ferry_store_txn *t, const char *id, json_t **rec, ferry_auth_grant *g) {
    char key[KEY_MAX];
    ferry_err err;

    token_key(key, id);
    if ((err = ferry_store_get(t, FERRY_DB_TOKENS, key, rec)) != FERRY_OK)
        return err;
    if ((err = record_grant(key, *rec, g)) != FERRY_OK) {
        json_decref(*rec);
        *rec = NULL;
    }
    return err;
}

/* Write the record of a token and its digest index. */
static ferry_err put_token(ferry_store_txn *t, const ferry_auth_grant *g, const char *digest,
                           int64_t created) {
    char key[KEY_MAX];
    ferry_err err = FERRY_ENOMEM;
    json_t *grant = ferry_auth_grant_json(g);
    json_t *rec = grant != NULL ? json_pack("{s:s, s:s, s:O, s:I}", "id", g->id, "digest", digest,
                                            "grant", grant, "createdAt", (json_int_t)created)
                                : NULL;
    json_t *index = json_pack("{s:s}", "id", g->id);

    if (rec == NULL || index == NULL)
        goto out;
    token_key(key, g->id);
    if ((err = ferry_store_put(t, FERRY_DB_TOKENS, key, rec)) != FERRY_OK)
        goto out;
    digest_key(key, digest);
    err = ferry_store_put(t, FERRY_DB_TOKENS, key, index);
out:
    json_decref(grant);
    json_decref(rec);
    json_decref(index);
    return err;
}

/* Delete the record of a token and its digest index (rec: its checked record). */
static ferry_err del_token(ferry_store_txn *t, const char *id, const json_t *rec) {
    char key[KEY_MAX];
    ferry_err err;

    token_key(key, id);
    if ((err = ferry_store_del(t, FERRY_DB_TOKENS, key)) != FERRY_OK)
        return err;
    digest_key(key, json_string_value(json_object_get(rec, "digest")));
    err = ferry_store_del(t, FERRY_DB_TOKENS, key);
    return err == FERRY_ENOTFOUND ? FERRY_OK : err;
}

/* Call fn for every token whose record reads back (an unreadable one is logged and skipped, so
 * that one bad record does not hide the others). */
typedef bool (*token_fn)(const ferry_auth_grant *g, const json_t *rec, void *ctx);

typedef struct {
    token_fn fn;
    void *ctx;
} token_scan;

static bool scan_each(const char *key, const json_t *rec, void *ctx) {
    token_scan *s = ctx;
    ferry_auth_grant g;
    if (strncmp(key, "t/", 2) != 0 || record_grant(key, rec, &g) != FERRY_OK)
        return true;
    return s->fn(&g, rec, s->ctx);
}

static ferry_err scan_tokens(ferry_store_txn *t, token_fn fn, void *ctx) {
    token_scan s = {fn, ctx};
    return ferry_store_scan(t, FERRY_DB_TOKENS, "t/", scan_each, &s);
}

/* Reads are one LMDB read transaction, a consistent snapshot, without the bridge lock (writes go
 * through bridge__run_write, under it): every request looks its token up, and none of them waits
 * for a write. daemon/kv.c lets read transactions run beside a write and holds a growth of the map
 * until they end. */
static ferry_err run_read(ferry_bridge *b, ferry_store_fn fn, void *ctx) {
    return ferry_store_read(b->store, fn, ctx);
}

/* ---- the admin token file -------------------------------------------------------------------- */

/* Read and check an existing admin token file into token. FERRY_ENOTFOUND when it is missing. */
static ferry_err admin_read(const char *path, char token[FERRY_TOKEN_LEN + 1]) {
    char buf[FILE_MAX];
    size_t n = 0;
    ferry_err err = ferry_secrets_read_file(path, "the admin token file", buf, sizeof(buf), &n);

    if (err == FERRY_EINVAL)
        LOG_ERROR("tokens: the admin token file %s grants admin access to the API; refusing to "
                  "start (chmod 600 it, or delete it and restart for a new admin token)",
                  path);
    if (err != FERRY_OK)
        goto out;
    err = FERRY_EINVAL;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (!ferry_tokens__well_formed(buf, (size_t)n)) {
        LOG_ERROR("tokens: the admin token file %s does not hold one token (\"%s\" and 43 "
                  "base64url characters); refusing to start (delete it and restart for a new one)",
                  path, FERRY_TOKEN_PREFIX);
        goto out;
    }
    memcpy(token, buf, FERRY_TOKEN_LEN);
    token[FERRY_TOKEN_LEN] = '\0';
    err = FERRY_OK;
out:
    ferry_secrets_wipe(buf, sizeof(buf));
    return err;
}

/* Write a new admin token file: whole or not at all, and of two bridges creating it at once the
 * first wins (the second reads the winner's token). */
static ferry_err admin_create(const char *path) {
    char token[FERRY_TOKEN_LEN + 2];
    ferry_err err = ferry_tokens__generate(token);
    if (err == FERRY_OK) {
        memcpy(token + FERRY_TOKEN_LEN, "\n", 2);
        err = ferry_secrets_write_file(path, "the admin token file", token, FERRY_TOKEN_LEN + 1,
                                       true);
    }
    ferry_secrets_wipe(token, sizeof(token));
    return err;
}

typedef struct {
    bridge_write_op op; /* first: bridge__run_write hands the transaction &op */
    const char *token;  /* create: the new token, for the answer */
    const char *digest;
    const ferry_auth_grant *grant;
    bool replaced; /* the store held another admin token */
} token_write;

static ferry_err admin_txn(ferry_store_txn *t, void *ctx) {
    token_write *w = ctx;
    json_t *rec = NULL;
    ferry_auth_grant old;
    ferry_err err = get_token(t, FERRY_TOKEN_ADMIN_ID, &rec, &old);

    bridge__op_reset(&w->op);
    w->replaced = false;
    if (err == FERRY_OK &&
        strcmp(json_string_value(json_object_get(rec, "digest")), w->digest) == 0) {
        json_decref(rec);
        return FERRY_OK; /* the file's token already */
    }
    if (err == FERRY_OK) {
        w->replaced = true;
        err = del_token(t, FERRY_TOKEN_ADMIN_ID, rec);
    } else if (err == FERRY_ENOTFOUND || err == FERRY_EFORMAT) {
        err = FERRY_OK; /* none yet, or an unreadable one: the file's replaces it */
    }
    json_decref(rec);
    if (err == FERRY_OK)
        err = put_token(t, w->grant, w->digest, w->op.now);
    w->op.out = json_object();
    return err;
}

ferry_err ferry_tokens_admin_file(ferry_bridge *b, const char *path, bool *created) {
    char token[FERRY_TOKEN_LEN + 1];
    char digest[FERRY_SECRETS_DIGEST_LEN];
    ferry_detail e = {"", ""};
    ferry_auth_grant g = {.role = FERRY_ROLE_ADMIN, .all_namespaces = true, .privileged = true};
    token_write w = {.op = {.e = &e}, .digest = digest, .grant = &g};
    json_t *out = NULL;
    bool made = false;
    ferry_err err = admin_read(path, token);

    if (err == FERRY_ENOTFOUND) {
        if ((err = admin_create(path)) != FERRY_OK)
            return err;
        made = true;
        err = admin_read(path, token); /* ours, or a concurrent creator's */
    }
    if (err != FERRY_OK)
        return err;
    snprintf(g.id, sizeof(g.id), "%s", FERRY_TOKEN_ADMIN_ID);
    snprintf(g.name, sizeof(g.name), "%s", FERRY_TOKEN_ADMIN_ID);
    ferry_secrets_digest(token, FERRY_TOKEN_LEN, digest);
    ferry_secrets_wipe(token, sizeof(token));
    err = bridge__run_write(b, admin_txn, &w.op, &out);
    json_decref(out);
    if (err != FERRY_OK) {
        LOG_ERROR("tokens: cannot store the admin token of %s: %s", path, e.message);
        return err;
    }
    if (made)
        LOG_INFO("tokens: created the admin token file %s (mode 0600); send its content as "
                 "\"Authorization: Bearer <token>\"",
                 path);
    else if (w.replaced)
        LOG_INFO("tokens: the admin token file %s holds a new token; the previous admin token no "
                 "longer works",
                 path);
    if (created != NULL)
        *created = made;
    return FERRY_OK;
}

/* ---- authenticate ---------------------------------------------------------------------------- */

typedef struct {
    const char *digest;
    ferry_auth_grant *g;
} auth_read;

static ferry_err auth_txn(ferry_store_txn *t, void *ctx) {
    auth_read *a = ctx;
    char key[KEY_MAX];
    json_t *index = NULL, *rec = NULL;
    ferry_err err;

    digest_key(key, a->digest);
    if ((err = ferry_store_get(t, FERRY_DB_TOKENS, key, &index)) != FERRY_OK)
        return err;
    const char *id = json_string_value(json_object_get(index, "id"));
    if (id == NULL || !id_valid(id)) {
        LOG_ERROR("tokens: index record '%s' names no valid token id; the token is refused", key);
        err = FERRY_EFORMAT;
    } else if ((err = get_token(t, id, &rec, a->g)) == FERRY_ENOTFOUND) {
        LOG_ERROR("tokens: index record '%s' names token '%s', which is missing; the token is "
                  "refused",
                  key, id);
        err = FERRY_EFORMAT;
    } else if (err == FERRY_OK &&
               strcmp(json_string_value(json_object_get(rec, "digest")), a->digest) != 0) {
        LOG_ERROR("tokens: index record '%s' names token '%s', which has another digest; the "
                  "token is refused",
                  key, id);
        err = FERRY_EFORMAT;
    }
    json_decref(index);
    json_decref(rec);
    return err;
}

ferry_err ferry_tokens_authenticate(ferry_bridge *b, const char *token, size_t len,
                                    ferry_auth_grant *g) {
    char digest[FERRY_SECRETS_DIGEST_LEN];
    auth_read a = {digest, g};

    if (!ferry_tokens__well_formed(token, len))
        return FERRY_ENOTFOUND;
    ferry_secrets_digest(token, len, digest);
    ferry_err err = run_read(b, auth_txn, &a);
    /* An index that does not hold together lets nobody in; the log says which record. */
    return err == FERRY_EFORMAT || err == FERRY_EVERSION ? FERRY_ENOTFOUND : err;
}

/* ---- the REST operations --------------------------------------------------------------------- */

typedef struct {
    const char *name; /* looked for */
    bool found;
} name_scan;

static bool same_name(const ferry_auth_grant *g, const json_t *rec, void *ctx) {
    name_scan *s = ctx;
    (void)rec;
    s->found = strcmp(g->name, s->name) == 0;
    return !s->found;
}

static ferry_err create_txn(ferry_store_txn *t, void *ctx) {
    token_write *w = ctx;
    name_scan s = {w->grant->name, false};
    char key[KEY_MAX];
    json_t *rec = NULL;
    ferry_err err;

    bridge__op_reset(&w->op);
    if ((err = scan_tokens(t, same_name, &s)) != FERRY_OK)
        return err;
    if (s.found)
        return ferry_fail(w->op.e, FERRY_EEXIST, "name", "token '%s' already exists",
                          w->grant->name);
    token_key(key, w->grant->id);
    if ((err = ferry_store_get(t, FERRY_DB_TOKENS, key, &rec)) != FERRY_ENOTFOUND) {
        json_decref(rec);
        return err != FERRY_OK ? err
                               : ferry_fail(w->op.e, FERRY_ECONFLICT, "id",
                                            "token id %s is taken (a one in 2^64 chance); send "
                                            "the request again",
                                            w->grant->id);
    }
    if ((err = put_token(t, w->grant, w->digest, w->op.now)) != FERRY_OK)
        return err;
    /* The answer is made here, token included: once committed, nothing may fail any more. */
    rec = json_pack("{s:I}", "createdAt", (json_int_t)w->op.now);
    w->op.out = rec != NULL ? view(w->grant, rec) : NULL;
    json_decref(rec);
    if (w->op.out == NULL || json_object_set_new(w->op.out, "token", json_string(w->token)) != 0)
        return FERRY_ENOMEM;
    return FERRY_OK;
}

ferry_err ferry_tokens_create(ferry_bridge *b, const json_t *body, json_t **out, ferry_detail *e) {
    char token[FERRY_TOKEN_LEN + 1];
    char digest[FERRY_SECRETS_DIGEST_LEN];
    unsigned char id[ID_BYTES];
    ferry_auth_grant g;
    token_write w = {.op = {.e = e}, .token = token, .digest = digest, .grant = &g};
    ferry_err err;

    *out = NULL;
    if ((err = ferry_auth_grant_parse(body, &g, e)) != FERRY_OK)
        return err;
    if (strcmp(g.name, FERRY_TOKEN_ADMIN_ID) == 0)
        return ferry_fail(e, FERRY_EEXIST, "name",
                          "token 'admin' already exists (the admin token of the file)");
    if (RAND_bytes(id, sizeof(id)) != 1 || ferry_tokens__generate(token) != FERRY_OK)
        return ferry_fail(e, FERRY_EIO, NULL, "no random bytes for a token; see the bridge log");
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(g.id + 2 * i, sizeof(g.id) - 2 * i, "%02x", id[i]);
    ferry_secrets_digest(token, FERRY_TOKEN_LEN, digest);
    err = bridge__run_write(b, create_txn, &w.op, out);
    if (err == FERRY_OK)
        LOG_INFO("tokens: created token '%s' (id %s, %s)", g.name, g.id,
                 ferry_auth_role_name(g.role));
    ferry_secrets_wipe(token, sizeof(token));
    return err;
}

typedef struct {
    json_t *items;
    ferry_err err;
} list_scan;

static bool list_each(const ferry_auth_grant *g, const json_t *rec, void *ctx) {
    list_scan *s = ctx;
    if (json_array_append_new(s->items, view(g, rec)) != 0) {
        s->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

static int by_name(const void *a, const void *b) {
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

static ferry_err list_txn(ferry_store_txn *t, void *ctx) {
    list_scan *s = ctx;
    json_array_clear(s->items);
    s->err = FERRY_OK;
    ferry_err err = scan_tokens(t, list_each, s);
    return err != FERRY_OK ? err : s->err;
}

ferry_err ferry_tokens_list(ferry_bridge *b, json_t **out, ferry_detail *e) {
    list_scan s = {json_array(), FERRY_OK};
    json_t **items = NULL;
    ferry_err err = s.items != NULL ? run_read(b, list_txn, &s) : FERRY_ENOMEM;
    size_t n = json_array_size(s.items);

    *out = NULL;
    if (err == FERRY_OK && n > 0 && (items = ferry_calloc(n, sizeof(*items))) == NULL)
        err = FERRY_ENOMEM;
    if (err != FERRY_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(s.items, i));
    qsort(items, n, sizeof(*items), by_name);
    json_array_clear(s.items);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(s.items, items[i]);
    *out = json_pack("{s:O}", "items", s.items);
    err = *out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    ferry_free(items);
    json_decref(s.items);
    return err == FERRY_OK ? err : bridge__store_fail(e, err);
}

typedef struct {
    const char *id;
    json_t *out;
    ferry_detail *e;
} get_read;

static ferry_err get_txn(ferry_store_txn *t, void *ctx) {
    get_read *r = ctx;
    json_t *rec = NULL;
    ferry_auth_grant g;
    ferry_err err = get_token(t, r->id, &rec, &g);
    if (err == FERRY_OK && (r->out = view(&g, rec)) == NULL)
        err = FERRY_ENOMEM;
    json_decref(rec);
    return err;
}

ferry_err ferry_tokens_get(ferry_bridge *b, const char *id, json_t **out, ferry_detail *e) {
    get_read r = {id, NULL, e};
    ferry_err err = id_valid(id) ? run_read(b, get_txn, &r) : FERRY_ENOTFOUND;

    *out = r.out;
    if (err == FERRY_ENOTFOUND)
        return ferry_fail(e, err, "id", "no token with id '%.40s'", id);
    return err == FERRY_OK ? err : bridge__store_fail(e, err);
}

static ferry_err delete_txn(ferry_store_txn *t, void *ctx) {
    token_write *w = ctx;
    const char *id = w->op.name;
    json_t *rec = NULL;
    ferry_auth_grant g;
    ferry_err err;

    bridge__op_reset(&w->op);
    if ((err = get_token(t, id, &rec, &g)) == FERRY_ENOTFOUND)
        return ferry_fail(w->op.e, err, "id", "no token with id '%s'", id);
    if (err == FERRY_OK && strcmp(id, FERRY_TOKEN_ADMIN_ID) == 0)
        err = ferry_fail(w->op.e, FERRY_ECONFLICT, "id",
                         "the admin token belongs to its file: replace (or delete) the file and "
                         "restart the bridge to change it");
    if (err == FERRY_OK)
        err = del_token(t, id, rec);
    if (err == FERRY_OK &&
        (w->op.out = json_pack("{s:s, s:s, s:b}", "id", id, "name", g.name, "deleted", 1)) == NULL)
        err = FERRY_ENOMEM;
    json_decref(rec);
    return err;
}

ferry_err ferry_tokens_delete(ferry_bridge *b, const char *id, json_t **out, ferry_detail *e) {
    token_write w = {.op = {.e = e, .name = id}};

    *out = NULL;
    if (!id_valid(id))
        return ferry_fail(e, FERRY_ENOTFOUND, "id", "no token with id '%.40s'", id);
    ferry_err err = bridge__run_write(b, delete_txn, &w.op, out);
    if (err == FERRY_OK)
        LOG_INFO("tokens: deleted token '%s'", id);
    return err;
}
