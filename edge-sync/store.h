/* edge-sync store: the node's durable copy of what the cloud told it (LMDB). The MQTT thread is
 * the only writer; the loop and the reconciler read. */
#ifndef FERRY_EDGE_STORE_H
#define FERRY_EDGE_STORE_H

#include <jansson.h>
#include <lmdb.h>
#include <stdbool.h>

#include "ferry/common.h"

/* Record format version of every value in the store. */
#define FERRY_ESTORE_FV 1

typedef struct ferry_estore ferry_estore; /* opaque */

/* Open (creating) the store in folder dir. */
ferry_err ferry_estore_open(const char *dir, ferry_estore **out);
void ferry_estore_close(ferry_estore *s);

/* Transactions. A write txn must be committed or aborted by the thread that began it; read txns
 * are short-lived (no long-lived readers, per PLATFORM.md). Commit is durable (fsync). */
ferry_err ferry_estore_begin(ferry_estore *s, bool write, MDB_txn **txn);
ferry_err ferry_estore_commit(MDB_txn *txn);
void ferry_estore_abort(MDB_txn *txn);

/* An app as held by the node: version, deleted flag (a tombstone keeps the version so that stale
 * messages cannot bring the app back) and the spec (NULL for a tombstone). */
typedef struct {
    long long version;
    bool deleted;
    json_t *spec; /* owned by whoever holds the struct; ferry_estore_app_clear releases it */
} ferry_estore_app;

void ferry_estore_app_clear(ferry_estore_app *a);

/* Read app `name`; FERRY_ENOTFOUND when the node never heard of it. *out->spec is a new reference.
 */
ferry_err ferry_estore_get_app(ferry_estore *s, MDB_txn *txn, const char *name,
                               ferry_estore_app *out);
ferry_err ferry_estore_put_app(ferry_estore *s, MDB_txn *txn, const char *name,
                               const ferry_estore_app *app);

/* Every app record as a new object {name: {"version":N,"deleted":b,"spec":{..}|null}}. */
ferry_err ferry_estore_list_apps(ferry_estore *s, MDB_txn *txn, json_t **out);

/* What the node knows about itself: {"rev":R,"registered":b,"labels":{..}}; a fresh store gives
 * {"rev":0,"registered":false,"labels":{}}. *out is a new reference. */
ferry_err ferry_estore_get_node(ferry_estore *s, MDB_txn *txn, json_t **out);
ferry_err ferry_estore_put_node(ferry_estore *s, MDB_txn *txn, const json_t *node);

/* ---- internal, for tests and fuzzing -----------------------------------------------------------
 * The record codecs behind the functions above, free of LMDB so that fuzz/fuzz_edge_record.c runs
 * exactly the code that reads the files (which are untrusted input). Records are msgpack maps
 * with "fv": FERRY_ESTORE_FV. Decoders return FERRY_EFORMAT (not msgpack, not a map, no "fv", a
 * field missing or invalid) or FERRY_EVERSION (another "fv"), logged. */

/* An app record ("version" >= 0, "deleted", and unless deleted a "spec" that passes
 * ferry_app_validate and is named name). out->spec is a new reference. */
ferry_err ferry_estore__decode_app(const void *buf, size_t len, const char *name,
                                   ferry_estore_app *out);
ferry_err ferry_estore__encode_app(const ferry_estore_app *app, unsigned char **buf, size_t *len);

/* The node record ("rev" >= 0, "registered", valid "labels"; other members are kept). *out is a
 * new object without "fv". */
ferry_err ferry_estore__decode_node(const void *buf, size_t len, json_t **out);
/* node: an object (not modified). *buf from ferry_malloc for both encoders; caller frees. */
ferry_err ferry_estore__encode_node(const json_t *node, unsigned char **buf, size_t *len);

#endif
