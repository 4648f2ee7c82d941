/* broker-bridge records: keys, record layouts and their checks, the sealed secret values of config
 * objects, checked reads, and store failures as the API reports them (README.md, "Store").
 * records.c calls only store.c and the schema library; everything above the store builds on it. */
#ifndef FERRY_BRIDGE_RECORDS_H
#define FERRY_BRIDGE_RECORDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/common.h"
#include "store.h"

#define BRIDGE_KEY_MAX 200 /* "ns/app/node": three DNS labels and two slashes */

/* ---- keys, names, times ---------------------------------------------------------------------- */

/* "a/b" or "a/b/c" into buf[BRIDGE_KEY_MAX]; c may be NULL. */
void bridge__key(char *buf, const char *a, const char *b, const char *c);

/* Check the namespace (and name, when not NULL) taken from a request: FERRY_EINVAL naming the
 * field when one is not a DNS label. */
ferry_err bridge__check_names(const char *ns, const char *name, ferry_detail *e);

/* Store failure as seen by an API client: *e filled ("out of memory", "storage failure (...);
 * see the bridge log"); returns err. */
ferry_err bridge__store_fail(ferry_detail *e, ferry_err err);

/* Record field accessors (records are checked on read, so these never fail). */
int64_t bridge__int(const json_t *rec, const char *field);

/* RFC 3339 UTC ("2026-11-26T06:44:48Z") of a time in milliseconds since the epoch. */
json_t *bridge__time(int64_t ms);

/* ---- secret values of config objects --------------------------------------------------------- */

/* The members of a config object that hold secret values ("slots"): every data value of a secret,
 * a certificate's key, a registry's password. A sealed slot is {"enc": base64(nonce|ciphertext|
 * tag), "digest": "sha256:<hex of the plaintext>"}; in views it becomes {"digest"} alone.
 * bridge__each_slot calls fn for each slot of cfg (parent: the object that holds it, member: its
 * name there, field: its path, "data.password") and stops at the first error, which it returns;
 * FERRY_EFORMAT when cfg has no kind. */
typedef ferry_err (*bridge_slot_fn)(json_t *parent, const char *member, const char *field,
                                    void *ctx);
ferry_err bridge__each_slot(json_t *cfg, bridge_slot_fn fn, void *ctx);

/* true when slot has the shape of a sealed value ({"enc": string, "digest": "sha256:..."}). */
bool bridge__slot_sealed(const json_t *slot);

/* ---- record checks --------------------------------------------------------------------------- */

/* Check a record read from the store (key: where it was found): every field of its layout with
 * its type, names that are DNS labels and those of the key, and what a node would refuse once it
 * is sent (an app spec that fails validation or names another app, invalid labels). A config
 * record's "config" member is an object of the record's name and kind whose secret values are
 * sealed. Logged naming the record. */
bool bridge__app_record_ok(const char *key, const json_t *rec);
bool bridge__node_record_ok(const char *key, const json_t *rec);

/* The public key `which` ("sign" or "box") of an enrolled node's record into pub; false when the
 * node never enrolled. Records are checked on read, so a present key is well-formed. */
bool bridge__node_key(const json_t *rec, const char *which, unsigned char pub[32]);
bool bridge__status_record_ok(const char *key, const json_t *rec);
bool bridge__config_record_ok(const char *key, const json_t *rec);

/* true when gpu is the object a node reports in node.online ({"sharing": bool, "devices":
 * [{"index", "model", "memoryMiB"}]}, at most 64 devices): untrusted, so checked before it is
 * stored and again when read back. */
bool bridge__gpu_ok(const json_t *gpu);

/* ---- checked reads --------------------------------------------------------------------------- */

/* Read and check an app / node / config record: FERRY_EFORMAT (logged) when the check above
 * fails, besides the errors of ferry_store_get. *out is owned by the caller. */
ferry_err bridge__get_app(ferry_store_txn *t, const char *ns, const char *name, json_t **out);
ferry_err bridge__get_node(ferry_store_txn *t, const char *ns, const char *name, json_t **out);
ferry_err bridge__get_config(ferry_store_txn *t, const char *ns, const char *name, json_t **out);

#endif
