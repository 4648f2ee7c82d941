/* edge-sync store: the node's durable copy of what the cloud told it (LMDB through daemon/kv.h):
 * the apps it holds (tombstones included) and the node record. Transactions are functions run by
 * ferry_estore_read/_write, as in broker-bridge's store; LMDB's types stay inside. The session
 * (loop thread) writes; the reconciler's workers read. */
#ifndef FERRY_EDGE_STORE_H
#define FERRY_EDGE_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"
#include "kv.h"

/* Record format version of every value in the store. */
#define FERRY_ESTORE_FV 1

typedef struct ferry_estore ferry_estore;         /* opaque */
typedef struct ferry_estore_txn ferry_estore_txn; /* opaque; lives for one read/write call */

/* Open (creating) the store in folder dir. The map starts small and grows as needed. */
ferry_err ferry_estore_open(const char *dir, ferry_estore **out);
void ferry_estore_close(ferry_estore *s);

/* Many nodes' stores in one LMDB environment, for bench/hollow_fleet.c (N nodes in one process:
 * an environment each would cost 3 file descriptors a node). ferry_estore_env_open opens the
 * environment in dir (mapsize: the first map size, 0 for 64 MiB; it grows as needed);
 * ferry_estore_open_shared opens node's store inside it (its keys prefixed by node, daemon/kv.h
 * "Views"). Close every such store with ferry_estore_close, then env with ferry_kv_env_close.
 * edge-sync itself uses ferry_estore_open. */
ferry_err ferry_estore_env_open(const char *dir, size_t mapsize, ferry_kv_env **out);
ferry_err ferry_estore_open_shared(ferry_kv_env *env, const char *node, ferry_estore **out);

/* Run fn in one transaction (daemon/kv.h: a write commits durably when fn returns FERRY_OK, and
 * may run fn again from scratch after growing the map: reset outputs at its start). Never start
 * a transaction inside fn. */
typedef ferry_err (*ferry_estore_fn)(ferry_estore_txn *t, void *ctx);
ferry_err ferry_estore_read(ferry_estore *s, ferry_estore_fn fn, void *ctx);
ferry_err ferry_estore_write(ferry_estore *s, ferry_estore_fn fn, void *ctx);

/* An app as held by the node: version, deleted flag (a tombstone keeps the version so that stale
 * messages cannot bring the app back) and the spec (NULL for a tombstone). */
typedef struct {
    long long version;
    bool deleted;
    json_t *spec; /* owned by whoever holds the struct; ferry_estore_app_clear releases it */
} ferry_estore_app;

void ferry_estore_app_clear(ferry_estore_app *a);

/* Read app `name`; FERRY_ENOTFOUND when the node never heard of it, FERRY_EFORMAT (logged) for
 * an unreadable record. out->spec is a new reference. */
ferry_err ferry_estore_get_app(ferry_estore_txn *t, const char *name, ferry_estore_app *out);
ferry_err ferry_estore_put_app(ferry_estore_txn *t, const char *name, const ferry_estore_app *app);
/* Forget the tombstone of name if it is still one at version (its own transaction): *gone tells
 * whether it was removed (false when the app came back or moved on meanwhile). */
ferry_err ferry_estore_collect(ferry_estore *s, const char *name, long long version, bool *gone);

/* Every readable app record, in name order. Release with ferry_estore_apps_free. */
typedef struct {
    char name[64];
    ferry_estore_app app;
} ferry_estore_entry;

typedef struct {
    ferry_estore_entry *items;
    size_t n;
} ferry_estore_apps;

ferry_err ferry_estore_list_apps(ferry_estore_txn *t, ferry_estore_apps *out);
void ferry_estore_apps_free(ferry_estore_apps *a);

/* For metrics: the apps held (tombstones left out; 0 when the store cannot be read), and the
 * map's size and bytes in use (of the environment the store is in). */
size_t ferry_estore_count_apps(ferry_estore *s);
void ferry_estore_usage(ferry_estore *s, size_t *map, size_t *used);

/* What the node knows about itself: {"rev":R,"registered":b,"labels":{..}}; a fresh (or
 * unreadable) record gives {"rev":0,"registered":false,"labels":{}}. *out is a new reference. */
ferry_err ferry_estore_get_node(ferry_estore_txn *t, json_t **out);
ferry_err ferry_estore_put_node(ferry_estore_txn *t, const json_t *node);

/* The sealed secret bundle the node holds for an app (schema/PROTOCOL.md, "Trust"), as it
 * arrived: sealed to the node's X25519 key, so it rests encrypted. */
typedef struct {
    char digest[80];
    char *sealed; /* base64; owned (ferry_estore_bundle_clear) */
} ferry_estore_bundle;

void ferry_estore_bundle_clear(ferry_estore_bundle *b);

/* FERRY_ENOTFOUND when the node holds none for app. */
ferry_err ferry_estore_get_bundle(ferry_estore_txn *t, const char *app, ferry_estore_bundle *out);
ferry_err ferry_estore_put_bundle(ferry_estore_txn *t, const char *app, const char *digest,
                                  const char *sealed);
/* Forget the bundle of app (gone or no longer needed); absent is fine. */
ferry_err ferry_estore_del_bundle(ferry_estore_txn *t, const char *app);
/* {app: digest} of every bundle held (new object). */
ferry_err ferry_estore_bundle_digests(ferry_estore_txn *t, json_t **out);

/* The node record and every app, read in one transaction (for the reconciler and hellos). */
ferry_err ferry_estore_snapshot(ferry_estore *s, json_t **node, ferry_estore_apps *apps);

/* ---- internal, for tests and fuzzing ----
 * The record codecs behind the functions above, free of LMDB so that fuzz/fuzz_edge_record.c runs
 * exactly the code that reads the files (which are untrusted input): ferry/record.h with
 * FERRY_ESTORE_FV. Decoders return FERRY_EFORMAT (not msgpack, not a map, no "fv", a field missing
 * or invalid) or FERRY_EVERSION (another "fv"), logged. */

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
