/* broker-bridge index: the live apps and the nodes of every namespace, in memory, kept on write.
 *
 * Lists, syncs and status views read it instead of scanning a namespace's records, decoding and
 * re-checking each (and every tombstone of a deleted app, forever). It holds per app its version,
 * selector and whether it may carry secret material; per node its labels; names in sorted order
 * (pages) and apps grouped by their topic label (the apps a node's labels can select without
 * looking at the others).
 *
 * Consistency with the store: the index is loaded from the store at open, and the store's
 * watcher (store.h) stages every app and node record a write transaction puts or deletes; the
 * writer applies what it staged after the commit, or drops it after an abort. Writers hold the
 * index's write lock from before their transaction to after the apply, and readers hold the read
 * lock from before their read transaction to its end: a reader's snapshot and the index it sees
 * are of the same commit. Staging and applying run under the bridge lock (one writer).
 *
 * Records it is loaded from were checked by the store's record checks (records.h); a record that
 * fails them is left out and logged. */
#ifndef FERRY_BRIDGE_INDEX_H
#define FERRY_BRIDGE_INDEX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/common.h"
#include "ferry/sign.h"
#include "store.h"

typedef struct bridge_index bridge_index;

typedef enum { BRIDGE_INDEX_APPS, BRIDGE_INDEX_NODES } bridge_index_kind;

ferry_err bridge__index_new(bridge_index **out);
void bridge__index_free(bridge_index *ix);

/* Fill an empty index from the store's apps and nodes (at open). */
ferry_err bridge__index_load(bridge_index *ix, ferry_store_txn *t);

/* The store watcher's half: stage a put (rec) or delete (rec NULL) of key in db. Apps and nodes
 * only; other databases are ignored. FERRY_ENOMEM fails the transaction. */
ferry_err bridge__index_stage(bridge_index *ix, ferry_db db, const char *key, const json_t *rec);

/* Whether anything is staged (read under the bridge lock, as staging is done). */
bool bridge__index_staged(const bridge_index *ix);

/* Apply what was staged (after a commit) or drop it (after an abort). */
void bridge__index_apply(bridge_index *ix);
void bridge__index_drop(bridge_index *ix);

void bridge__index_read_lock(bridge_index *ix);
void bridge__index_write_lock(bridge_index *ix);
void bridge__index_unlock(bridge_index *ix);

/* ---- queries (a lock held; what they return is borrowed until it is released) ---------------- */

/* The item of ns/name: an app's {"version": n, "selector": {..} (absent: every node),
 * "secrets": bool}, or a node's labels object; NULL when there is none (or the app is deleted). */
const json_t *bridge__index_get(const bridge_index *ix, bridge_index_kind kind, const char *ns,
                                const char *name);

/* Whether node ns/name is registered (its record passed the checks); *enrolled and its signing
 * key when it has enrolled. */
bool bridge__index_node(const bridge_index *ix, const char *ns, const char *name, bool *enrolled,
                        unsigned char sign[FERRY_SIGN_KEY_LEN]);

/* Call fn for every item of ns in name order until it returns false. */
typedef bool (*bridge_index_fn)(const char *name, const json_t *item, void *ctx);
void bridge__index_each(const bridge_index *ix, bridge_index_kind kind, const char *ns,
                        bridge_index_fn fn, void *ctx);

/* Call fn, in name order, for every item of ns whose name contains part (strstr: a caller that
 * wants the search case-insensitive lowers part; names are lower case) until it returns false.
 * FERRY_ENOMEM when the names could not be laid out for the search. */
ferry_err bridge__index_each_named(const bridge_index *ix, bridge_index_kind kind, const char *ns,
                                   const char *part, bridge_index_fn fn, void *ctx);

/* Call fn for every namespace the index holds apps or nodes of, with their numbers. */
typedef void (*bridge_index_ns_fn)(const char *ns, size_t apps, size_t nodes, void *ctx);
void bridge__index_namespaces(const bridge_index *ix, bridge_index_ns_fn fn, void *ctx);

/* Call fn, in name order, for every live app of ns that selects a node with these labels (NULL:
 * none; the full selector is checked). FERRY_ENOMEM when the candidates could not be gathered. */
ferry_err bridge__index_apps_for(const bridge_index *ix, const char *ns, const json_t *labels,
                                 bridge_index_fn fn, void *ctx);

/* Call fn, in name order, for every node of ns that selector selects (NULL: every node), with
 * its labels, until it returns false. The selector is evaluated on the nodes' label postings
 * (nodeset.h), not node by node. FERRY_ENOMEM when the selection could not be built. */
ferry_err bridge__index_nodes_for(const bridge_index *ix, const char *ns, const json_t *selector,
                                  bridge_index_fn fn, void *ctx);

/* Whether an app spec may carry secret material: it mounts a secret or certificate, or pulls from
 * a registry. */
bool bridge__app_may_have_secrets(const json_t *spec);

#endif
