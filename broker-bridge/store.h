/* broker-bridge store: the bridge's durable state in one LMDB environment (apps, nodes, config
 * objects, statuses, node online state, the rev counter, the outbox of messages still to publish
 * and the digests of the API's bearer tokens). */
#ifndef FERRY_BRIDGE_STORE_H
#define FERRY_BRIDGE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

/* Format version of every record ("fv" in msgpack records, first byte of outbox entries). */
#define FERRY_STORE_FV 1

/* Default initial map size; the map grows (doubles) on MDB_MAP_FULL. */
#define FERRY_STORE_MAPSIZE ((size_t)1 << 30)

/* Named databases. Keys are "ns/name" (apps, nodes, configs), "ns/app/node" (status), "ns/node"
 * (nodestate), a big-endian uint64 sequence number (outbox), plain names (meta), the hex SHA-256
 * of an enrollment token (enroll) and, for the API's bearer tokens, "t/<id>" and
 * "h/sha256:<hex>" (tokens.h). */
typedef enum {
    FERRY_DB_META,
    FERRY_DB_APPS,
    FERRY_DB_NODES,
    FERRY_DB_STATUS,
    FERRY_DB_NODESTATE,
    FERRY_DB_OUTBOX,
    FERRY_DB_CONFIGS,
    FERRY_DB_ENROLL,
    FERRY_DB_TOKENS,
    FERRY_DB_COUNT
} ferry_db;

typedef struct ferry_store ferry_store;         /* opaque */
typedef struct ferry_store_txn ferry_store_txn; /* opaque; lives for one read/write call */

/* Open (creating if needed) the store in directory dir (created with mode 0700 if missing) with
 * an initial map of mapsize bytes (0: FERRY_STORE_MAPSIZE). The store is NOT thread-safe: its
 * user serialises every call (the bridge holds one mutex around all of them), which is also what
 * makes growing the map safe (LMDB requires that no transaction is open in the process). */
ferry_err ferry_store_open(const char *dir, size_t mapsize, ferry_store **out);
void ferry_store_close(ferry_store *s);

/* Current map size in bytes (for tests and logs). */
size_t ferry_store_mapsize(const ferry_store *s);

/* The map's size and the bytes in use in it (metrics). */
void ferry_store_usage(const ferry_store *s, size_t *map, size_t *used);

/* Run fn inside one transaction. ferry_store_write commits when fn returns FERRY_OK (a durable
 * commit: it survives kill -9 and power loss) and aborts otherwise, returning fn's error. When the
 * map is full (MDB_MAP_FULL from a put or from the commit) it aborts, doubles the map and runs fn
 * again from scratch: fn must therefore reset its outputs at its start and have no effect outside
 * the transaction. */
typedef ferry_err (*ferry_store_fn)(ferry_store_txn *txn, void *ctx);

/* fn is called in the transaction for every record a write puts (rec) or deletes (rec NULL),
 * after the put or delete succeeded; an error from it fails that put or delete. It is also
 * called with key NULL (db FERRY_DB_COUNT) when an attempt of a write transaction begins (an
 * attempt is run again after the map grew): what it heard before belongs to no commit. One
 * watcher per store, set before any transaction runs (the bridge's index, index.h). */
typedef ferry_err (*ferry_store_watch_fn)(ferry_db db, const char *key, const json_t *rec,
                                          void *ctx);
void ferry_store_watch(ferry_store *s, ferry_store_watch_fn fn, void *ctx);

ferry_err ferry_store_read(ferry_store *s, ferry_store_fn fn, void *ctx);
ferry_err ferry_store_write(ferry_store *s, ferry_store_fn fn, void *ctx);

/* Records: JSON objects stored as msgpack with "fv": FERRY_STORE_FV added. */

/* Read the record at key. *out is a new object (caller owns) without "fv". FERRY_ENOTFOUND when
 * absent, FERRY_EVERSION for a record of another format version, FERRY_EFORMAT for one that does
 * not decode to an object; both are logged with the database and key. */
ferry_err ferry_store_get(ferry_store_txn *t, ferry_db db, const char *key, json_t **out);

/* Write rec (an object; it is not modified) at key, replacing any previous record. */
ferry_err ferry_store_put(ferry_store_txn *t, ferry_db db, const char *key, const json_t *rec);

/* Delete key. FERRY_ENOTFOUND when absent. */
ferry_err ferry_store_del(ferry_store_txn *t, ferry_db db, const char *key);

/* Call fn for every record whose key starts with prefix, in key order. key and rec are borrowed
 * for the call. fn returns true to go on, false to stop. A record that fails to decode stops the
 * scan with its error. */
typedef bool (*ferry_store_each_fn)(const char *key, const json_t *rec, void *ctx);
ferry_err ferry_store_scan(ferry_store_txn *t, ferry_db db, const char *prefix,
                           ferry_store_each_fn fn, void *ctx);

/* The rev counter (0 in a new store) and its increment (writes; returns the new value). */
ferry_err ferry_store_rev(ferry_store_txn *t, uint64_t *rev);
ferry_err ferry_store_next_rev(ferry_store_txn *t, uint64_t *rev);

/* Outbox. Entries are numbered by a counter kept in meta that never goes back (also when the
 * outbox empties), so a late acknowledgement can never remove a newer entry. Each entry is
 * framed with ferry_outbox__encode (outbox.h): FERRY_EINVAL for a topic or payload it refuses. */
ferry_err ferry_store_outbox_append(ferry_store_txn *t, const char *topic,
                                    const unsigned char *payload, size_t len, uint64_t *seq);
/* Remove entry seq; an absent entry is not an error (acknowledgements can repeat). */
ferry_err ferry_store_outbox_delete(ferry_store_txn *t, uint64_t seq);
/* Call fn for entries with seq >= from in order; topic (NUL-terminated) and payload are borrowed
 * for the call. fn returns true to go on. An entry that is corrupt or of another format version is
 * logged and skipped (it stays in the store). */
typedef bool (*ferry_store_outbox_fn)(uint64_t seq, const char *topic, const unsigned char *payload,
                                      size_t len, void *ctx);
ferry_err ferry_store_outbox_scan(ferry_store_txn *t, uint64_t from, ferry_store_outbox_fn fn,
                                  void *ctx);
/* Number of entries in the outbox. */
ferry_err ferry_store_outbox_count(ferry_store_txn *t, size_t *n);

/* ---- internal, for tests and fuzzing -----------------------------------------------------------
 * The record codecs behind the functions above, free of LMDB so that fuzz/fuzz_bridge_record.c
 * runs exactly the code that reads the files (which are untrusted input). The outbox entries'
 * codec is outbox.h's. */

/* Decode a record value: a msgpack map carrying "fv": FERRY_STORE_FV. *out is a new object
 * without "fv". FERRY_EFORMAT (not msgpack, not a map, no integer "fv") or FERRY_EVERSION
 * (another fv), logged naming db and key (used for the log only). */
ferry_err ferry_store__decode_record(const void *buf, size_t len, ferry_db db, const char *key,
                                     json_t **out);
/* Encode rec (an object; not modified) with "fv" added. *buf from ferry_malloc, caller frees.
 * FERRY_EINVAL when rec is not an object. */
ferry_err ferry_store__encode_record(const json_t *rec, unsigned char **buf, size_t *len);

#endif
