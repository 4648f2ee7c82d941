/* edge-sync reconciler: one pass drives the engine towards what the store says the node must run,
 * and reports the state of every app. Blocking; run it off the event loop, one pass at a time. */
#ifndef FERRY_EDGE_RECONCILE_H
#define FERRY_EDGE_RECONCILE_H

#include <jansson.h>
#include <stdint.h>

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
    bool gpu_sharing;         /* --gpu-sharing: GPU limits can be honoured (HAMi-core set up) */
    const char *data_dir;     /* absolute; volume files live below it (volumes.h) */
} ferry_reconcile_cfg;

/* What one pass found. Owned by the caller once ferry_reconcile returned FERRY_OK; release with
 * ferry_reconcile_result_clear. */
typedef struct {
    /* app name -> app.status fields without "ts": {"type","ns","node","app","version","phase",
     * "message","containers":[...]}. Deleted apps whose containers are gone report "Removed". */
    json_t *statuses;
    /* app name -> {"desired": b, "finished": b, "replicas": n, "volumes": [name, ...]}: what the
     * file cleanup needs to know (cleanup.h, ferry_cleanup_decide). */
    json_t *apps;
    /* Wall-clock milliseconds at which the next pass is due even if nothing else happens (a
     * scheduled deployment's time, or soon while an init container runs); 0 when the periodic
     * pass is soon enough. */
    int64_t wake_at_ms;
} ferry_reconcile_result;

/* One pass. Creates what is missing, replaces what changed (pull, stop the old, start the new),
 * removes what is no longer desired; per app, in this order: scheduled (deploy.at in the future:
 * phase Scheduled, nothing touched), service names another app on this node already runs
 * (Failed), GPU limits without --gpu-sharing (Failed), volume files, then per pod the infra
 * container, the init containers one at a time (each must exit 0; a running one is waited for a
 * short while, then the pass moves on and a later pass continues), the services. Jobs run to
 * completion once per app version (phase Succeeded or Failed); their exited containers are the
 * record. An error is returned only when the pass could not look at the engine or the store at
 * all; out is then left empty. */
ferry_err ferry_reconcile(const ferry_reconcile_cfg *cfg, ferry_reconcile_result *out);

void ferry_reconcile_result_clear(ferry_reconcile_result *r);

#endif
