/* broker-bridge nodeset: the nodes of one namespace by label, for selectors. Each node has a
 * slot (a small integer, reused after a delete); each label "k=v" and each label key "k" has the
 * sorted slots of the nodes that carry it. A selector is evaluated as set operations on bitmaps
 * over the slots: a few microseconds per 10,000 nodes, whatever share of them it selects, where
 * checking each node's labels took ~1 us per node.
 *
 * Not thread-safe by itself: the index calls the writers under its write lock and
 * bridge__nodeset_select under its read lock (select writes nothing but its result). */
#ifndef BRIDGE_NODESET_H
#define BRIDGE_NODESET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

typedef struct bridge_nodeset bridge_nodeset;

#define BRIDGE_NODESET_NO_SLOT UINT32_MAX

/* A new, empty set; NULL on ENOMEM. Free with bridge__nodeset_free (NULL is fine). */
bridge_nodeset *bridge__nodeset_new(void);
void bridge__nodeset_free(bridge_nodeset *s);

/* Put a node: *slot is BRIDGE_NODESET_NO_SLOT for a node the set does not hold (a slot is taken
 * and written back), or the slot it holds it at (its labels are replaced). name and labels are
 * borrowed: they must live until the slot is put again or removed. false on ENOMEM (the set may
 * then hold the node with part of its labels: the index stops the daemon). */
bool bridge__nodeset_put(bridge_nodeset *s, uint32_t *slot, const char *name, const json_t *labels);

/* Remove the node at slot; the slot may be given to the next new node. */
void bridge__nodeset_remove(bridge_nodeset *s, uint32_t slot);

/* What a selector selects. scan: a requirement the postings cannot stand for (a key with '=' in
 * it, a value with a NUL in it): the caller checks each node with ferry_selector_matches (bits is
 * then NULL). Otherwise bits has a bit per slot (nwords words) and count is the number set. */
typedef struct {
    bool scan;
    uint64_t *bits; /* own: bridge__nodeset_selected_free */
    size_t nwords;
    size_t count;
} bridge_nodeset_selected;

/* Evaluate selector (NULL or JSON null: every node) with ferry_selector_matches's semantics.
 * FERRY_OK with *out filled, or FERRY_ENOMEM. */
ferry_err bridge__nodeset_select(const bridge_nodeset *s, const json_t *selector,
                                 bridge_nodeset_selected *out);
void bridge__nodeset_selected_free(bridge_nodeset_selected *sel);

static inline bool bridge__nodeset_has(const bridge_nodeset_selected *sel, uint32_t slot) {
    return slot / 64 < sel->nwords && (sel->bits[slot / 64] >> (slot % 64) & 1u) != 0;
}

/* The name and labels a slot was put with (borrowed, see bridge__nodeset_put). */
const char *bridge__nodeset_name(const bridge_nodeset *s, uint32_t slot);
const json_t *bridge__nodeset_labels(const bridge_nodeset *s, uint32_t slot);

#endif
