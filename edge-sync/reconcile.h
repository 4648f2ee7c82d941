/* edge-sync reconciler: one pass drives the engine towards what the store says the node must run,
 * and reports the state of every app. Blocking; run it off the event loop, one pass at a time. */
#ifndef FERRY_EDGE_RECONCILE_H
#define FERRY_EDGE_RECONCILE_H

#include <jansson.h>

#include "engine.h"
#include "ferry/common.h"
#include "store.h"

typedef struct {
    ferry_estore *store;
    ferry_engine *engine;
    const char *ns;
    const char *node;
    const char *pause_image;  /* e.g. "ferry/pause:1" */
    const char *pause_binary; /* re-imported if the image disappears */
} ferry_reconcile_cfg;

/* One pass. Creates what is missing, replaces what changed (pull, stop the old, start the new),
 * removes what is no longer desired. *statuses (caller owns) maps each app name to its
 * app.status fields without "ts": {"type","ns","node","app","version","phase","message",
 * "containers":[...]}; deleted apps whose containers are gone report phase "Removed". An error is
 * returned only when the pass could not look at the engine or the store at all. */
ferry_err ferry_reconcile(const ferry_reconcile_cfg *cfg, json_t **statuses);

#endif
