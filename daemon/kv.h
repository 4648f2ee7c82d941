/* The LMDB layer under both daemons' stores: one environment in a folder, named databases,
 * transactions run as a function (read, or write with a durable commit), a map that grows on
 * MDB_MAP_FULL, and records in the schema's record codec. LMDB's types stay inside this file
 * and the stores built on it.
 *
 * Threads: any thread may run transactions (MDB_NOTLS); LMDB runs one write transaction at a
 * time and readers beside it. Growing the map needs every transaction of the process closed, so
 * transactions hold a shared lock and growth takes it exclusively: a transaction function must
 * therefore never start another transaction (no nesting), and readers stay short.
 *
 * Views: several stores may share one environment (bench/hollow_fleet.c runs thousands of edge
 * stores in one process, where an environment each would cost 3 file descriptors each and LMDB
 * allows one environment per file per process). Each store is then a view whose keys carry a
 * prefix in the environment's databases. Not a database per store: every LMDB transaction
 * allocates and walks arrays as long as the environment's maxdbs, which thousands of databases
 * would make the cost of every read and write. */
#ifndef FERRY_DAEMON_KV_H
#define FERRY_DAEMON_KV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

typedef struct ferry_kv ferry_kv;         /* opaque */
typedef struct ferry_kv_txn ferry_kv_txn; /* opaque; lives for one ferry_kv_read/_write call */
typedef struct ferry_kv_env ferry_kv_env; /* opaque; an environment shared by views */

/* Longest view prefix in bytes (a view's keys are then at most 511 - prefix - 1 bytes). */
#define FERRY_KV_MAX_PREFIX 127

/* Open (creating) the environment in dir (made with mode 0700, parents included) with the
 * databases named in dbs (index i is database i below). mapsize: the first map size in bytes
 * (0: 64 MiB); it doubles whenever a write needs more. name is for log lines ("edge store"). */
ferry_err ferry_kv_open(const char *dir, const char *const *dbs, unsigned ndbs, size_t mapsize,
                        const char *name, ferry_kv **out);
/* Closes the environment too when ferry_kv_open opened it (not a view's). */
void ferry_kv_close(ferry_kv *kv);

/* An environment for views, opened as ferry_kv_open does (its databases, map size, growth). */
ferry_err ferry_kv_env_open(const char *dir, const char *const *dbs, unsigned ndbs, size_t mapsize,
                            const char *name, ferry_kv_env **out);
/* After every view on env was closed. */
void ferry_kv_env_close(ferry_kv_env *env);
/* A view of env's databases holding only the keys under prefix (1..FERRY_KV_MAX_PREFIX bytes,
 * no NUL; stored as the prefix and a NUL, so no view sees another's keys): every call below
 * works on it as on a store of its own, keys without the prefix. Close with ferry_kv_close
 * before env. Views of one env share its transactions' rules (one writer at a time, the map's
 * growth waits for every view's transactions). Differences: ferry_kv_put's append is an
 * ordinary put, and ferry_kv_count scans the view. */
ferry_err ferry_kv_open_view(ferry_kv_env *env, const char *prefix, const char *name,
                             ferry_kv **out);

/* Current map size in bytes. */
size_t ferry_kv_mapsize(ferry_kv *kv);

/* The map's size and the bytes in use in it (pages up to the last one used), for metrics. */
void ferry_kv_usage(ferry_kv *kv, size_t *map, size_t *used);

/* Run fn inside one transaction. ferry_kv_write commits when fn returns FERRY_OK (durably: it
 * survives kill -9 and power loss) and aborts otherwise, returning fn's error. When the map is
 * full it aborts, doubles the map and runs fn again from scratch: fn must reset its outputs at
 * its start and have no effect outside the transaction. */
typedef ferry_err (*ferry_kv_fn)(ferry_kv_txn *t, void *ctx);
ferry_err ferry_kv_read(ferry_kv *kv, ferry_kv_fn fn, void *ctx);
ferry_err ferry_kv_write(ferry_kv *kv, ferry_kv_fn fn, void *ctx);

/* Bytes. Keys are 1..511 bytes. A value read lives until the transaction ends. */
ferry_err ferry_kv_get(ferry_kv_txn *t, unsigned db, const void *key, size_t klen, const void **val,
                       size_t *vlen);
/* append: the key sorts after every key of db (MDB_APPEND, for counters' sequences). */
ferry_err ferry_kv_put(ferry_kv_txn *t, unsigned db, const void *key, size_t klen, const void *val,
                       size_t vlen, bool append);
/* FERRY_ENOTFOUND when absent. */
ferry_err ferry_kv_del(ferry_kv_txn *t, unsigned db, const void *key, size_t klen);

/* Call fn for every entry with key >= from (flen 0: from the first) whose first prefix_len bytes
 * equal those of from, in key order; fn returns false to stop. key and val are borrowed. */
typedef bool (*ferry_kv_each_fn)(const void *key, size_t klen, const void *val, size_t vlen,
                                 void *ctx);
ferry_err ferry_kv_scan(ferry_kv_txn *t, unsigned db, const void *from, size_t flen,
                        size_t prefix_len, ferry_kv_each_fn fn, void *ctx);

/* Number of entries in db. */
ferry_err ferry_kv_count(ferry_kv_txn *t, unsigned db, size_t *n);

/* Records (ferry/record.h) at string keys. get: *out is new (caller owns); FERRY_ENOTFOUND,
 * FERRY_EFORMAT or FERRY_EVERSION (both logged with the database and key). */
ferry_err ferry_kv_get_record(ferry_kv_txn *t, unsigned db, const char *key, int fv, json_t **out);
ferry_err ferry_kv_put_record(ferry_kv_txn *t, unsigned db, const char *key, int fv,
                              const json_t *rec);

/* Log a record that did not decode (ferry_record_decode's error err) naming the store, database
 * and key; returns err. For stores that decode values they read with ferry_kv_get or a scan. */
ferry_err ferry_kv_record_error(const ferry_kv *kv, unsigned db, const char *key, ferry_err err,
                                int fv, long long found);

#endif
