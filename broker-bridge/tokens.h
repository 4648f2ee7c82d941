/* broker-bridge tokens: the bearer tokens of the REST API. A token is "ferry_" and the base64url
 * (no padding) of 32 random bytes; the bridge keeps only its SHA-256 digest and its grant
 * (auth.h) in the store's tokens database, so a copy of the database lets nobody in:
 *
 *   "t/<id>"             {"id", "digest": "sha256:<hex>", "grant": {name, role, namespaces,
 *                         privileged}, "createdAt": ms}
 *   "h/sha256:<hex>"     {"id"}   (the index a presented token is looked up by)
 *
 * Ids are 16 random hex digits, or "admin" for the admin token, whose text lives in a file beside
 * the data folder (ferry_tokens_admin_file). Names are unique. Every function is thread-safe,
 * like the other operations of bridge.h (a write under the bridge lock, a read as one LMDB read
 * transaction without it), whose conventions they follow (FERRY_OK with *out a new object owned by
 * the caller, or an error with *e filled; the REST shapes are docs/api-auth.md's). This file calls
 * auth.c, records.c, write.c and store.c. */
#ifndef FERRY_BRIDGE_TOKENS_H
#define FERRY_BRIDGE_TOKENS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "bridge.h"
#include "ferry/common.h"

#define FERRY_TOKEN_PREFIX "ferry_"
#define FERRY_TOKEN_BYTES 32
#define FERRY_TOKEN_LEN (sizeof(FERRY_TOKEN_PREFIX) - 1 + 43) /* 43: base64url of 32 bytes */
#define FERRY_TOKEN_ADMIN_ID "admin"

/* Load the admin token from the file at path, or create the file when it is missing (the token
 * and a newline, mode 0600, written atomically: a temporary file in the same folder, fsynced,
 * then linked to path), and make the store's admin token ("admin", role admin, all namespaces)
 * the one the file holds: the file is the truth, so replacing it (or deleting it, which makes a
 * new one) and restarting changes the admin token. Refused (FERRY_EINVAL, logged with what to
 * do) when the file is not a regular file, group or others may access it (mode & 077), or it does
 * not hold one token; FERRY_EIO for I/O errors; store failures. *created (may be NULL) tells
 * whether the file was made now. */
ferry_err ferry_tokens_admin_file(ferry_bridge *b, const char *path, bool *created);

/* The grant of the token a request presents (len bytes at token, not NUL-terminated).
 * FERRY_ENOTFOUND when it is not a token of this bridge: malformed, unknown or deleted. Other
 * errors are store failures (logged). */
ferry_err ferry_tokens_authenticate(ferry_bridge *b, const char *token, size_t len,
                                    ferry_auth_grant *g);

/* POST /v1/tokens: a new token from body (ferry_auth_grant_parse). *out is its view with the
 * member "token" added: the only time the token is shown. FERRY_EINVAL (the body), FERRY_EEXIST
 * (a token of that name exists). */
ferry_err ferry_tokens_create(ferry_bridge *b, const json_t *body, json_t **out, ferry_detail *e);

/* GET /v1/tokens: {"items": [view...]} sorted by name. A view is {"id", "name", "role",
 * "namespaces", "privileged", "createdAt"}: never the token, never its digest. */
ferry_err ferry_tokens_list(ferry_bridge *b, json_t **out, ferry_detail *e);

/* GET /v1/tokens/{id}: the view. FERRY_ENOTFOUND. */
ferry_err ferry_tokens_get(ferry_bridge *b, const char *id, json_t **out, ferry_detail *e);

/* DELETE /v1/tokens/{id}: {"id", "name", "deleted": true}; the token stops working at once.
 * FERRY_ENOTFOUND; FERRY_ECONFLICT for the admin token (it is the file's: replace the file and
 * restart to change it). */
ferry_err ferry_tokens_delete(ferry_bridge *b, const char *id, json_t **out, ferry_detail *e);

/* ---- internal, for tests ------------------------------------------------------------------- */

/* A new random token into out (FERRY_TOKEN_LEN characters and a NUL). FERRY_EIO when OpenSSL has
 * no random bytes (logged). */
ferry_err ferry_tokens__generate(char out[FERRY_TOKEN_LEN + 1]);

/* true when s[0..len) has the form of a token: the prefix and 43 base64url characters. */
bool ferry_tokens__well_formed(const char *s, size_t len);

#endif
