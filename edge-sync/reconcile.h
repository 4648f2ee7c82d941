/* edge-sync reconciler: drives the engine towards what the store says the node must run, one app
 * at a time, and reports the state of each app. Two steps, both blocking (run them on worker
 * threads):
 *
 *   ferry_reconcile_survey  reads the store and the node's containers once and decides, for all
 *                           apps together, what happens to each (plan.h, ferry_plan_node);
 *   ferry_reconcile_app     runs one app to that decision: observe, plan, act, until the plan
 *                           asks for nothing more (plan.h), and reports its status.
 *
 * Apps are independent: ferry_reconcile_app may run for several apps at once (never twice for
 * one app at the same time: that is the caller's rule, see jobs.h), so one slow app (a container
 * that ignores SIGTERM) holds no other. */
#ifndef FERRY_EDGE_RECONCILE_H
#define FERRY_EDGE_RECONCILE_H

#include <jansson.h>
#include <stdint.h>

#include "engine.h"
#include "ferry/sign.h"
#include "ferry/common.h"
#include "ferry/function.h"
#include "plan.h"
#include "store.h"

typedef struct {
    ferry_estore *store;
    const ferry_engine_ops *ops;
    void *engine;
    const char *ns;
    const char *node;
    const char *pause_image;  /* e.g. "ferry/pause:1" */
    const char *pause_binary; /* re-imported if the image disappears */
    bool gpu_sharing;         /* --gpu-sharing: GPU limits can be honoured (HAMi-core set up) */
    const char *data_dir;     /* absolute; volume files live below it (volumes.h) */
    /* The node's X25519 key: opens the secret bundles sealed to it (schema/PROTOCOL.md,
     * "Trust"); NULL when the node did not enroll (its apps with secrets then wait). */
    const ferry_keypair *box;
    /* Runtime images and the gateway's URL for the container form of apps
     * (ferry_function_pod_spec); NULL: the default images and no FERRY_GATEWAY. */
    const ferry_function_node *fn;
} ferry_reconcile_cfg;

/* What to do with one app. */
typedef struct {
    char name[64];
    ferry_directive dir;
    long long version; /* as held (0 for FORGET) */
    json_t *spec;      /* owned; NULL for a tombstone or FORGET */
    /* A tombstone no later than the last sync applied: once the app is removed, the node may
     * forget it (the sync is authoritative for every version up to its rev; PROTOCOL.md). */
    bool collectable;
    char pod_ip[16];     /* the IPv4 address of its first pod's infra container; "" when none */
    uint64_t engine_sig; /* ferry_observe_sig of its containers in the survey's list (observe.h) */
} ferry_survey_item;

typedef struct {
    ferry_survey_item *items; /* the store's apps in name order, then apps only the engine has */
    size_t n;
    /* Wall-clock ms of the earliest scheduled deployment still ahead; 0 when none. */
    int64_t wake_at_ms;
} ferry_survey;

/* Read the store and the engine's containers of this node; an error (logged) when either could
 * not be read at all. */
ferry_err ferry_reconcile_survey(const ferry_reconcile_cfg *cfg, ferry_survey *out);
void ferry_survey_free(ferry_survey *s);

/* What one app's reconciliation found. Owned by the caller; ferry_app_result_clear. */
typedef struct {
    /* The app.status fields without "ts" ({"type","ns","node","app","version","phase","message",
     * "containers"}); NULL for FORGET (an app the store does not know gets no status). */
    json_t *status;
    /* {"desired": b, "finished": b, "replicas": n, "volumes": [name, ...]}: what the file cleanup
     * needs to know of the app (cleanup.h, ferry_cleanup_decide); NULL for FORGET. */
    json_t *facts;
    /* Wall-clock ms at which the app wants another pass even if nothing else happens (soon while
     * an init container runs); 0 when the periodic pass is soon enough. */
    int64_t wake_at_ms;
    /* The app waits for the secret bundle its spec names: the node should ask the cloud. */
    bool needs_secrets;
    /* A collectable tombstone whose app is gone from the engine was removed from the store: the
     * node should clear its retained status instead of reporting one (status is NULL). */
    bool collected;
    /* The pass ended Running with nothing left to do, nothing failed and nothing to wait for:
     * another pass finds the same as long as the app's version and directive and its
     * containers' ids and states (engine_sig, of the last observation) stay the same. */
    bool steady;
    uint64_t engine_sig;
} ferry_app_result;

/* Reconcile one app to item's directive (see plan.h for the order and the rules). An app whose
 * spec names a secret bundle runs with the bundle the node holds merged in (ferry/bundle.h);
 * without it (or with one of another digest) nothing is touched, the app reports Deploying,
 * waiting for it, and needs_secrets is set; a bundle that does not open or fit fails the app. An
 * error only when the engine could not be asked at all (out is then empty). */
ferry_err ferry_reconcile_app(const ferry_reconcile_cfg *cfg, const ferry_survey_item *item,
                              ferry_app_result *out);
void ferry_app_result_clear(ferry_app_result *r);

#endif
