/* edge-sync observe: what the engine runs for one app, as plain data for the plan (plan.h): every
 * container of the app on this node with its labels, its state from inspect and, once it has
 * stopped, the end of its log. Blocking engine calls: run it on a worker thread. */
#ifndef FERRY_EDGE_OBSERVE_H
#define FERRY_EDGE_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "ferry/common.h"
#include "plan.h"

/* Which app, and how to reach the engine. Strings borrowed. */
typedef struct {
    const ferry_engine_ops *ops;
    void *engine;
    const char *node;
    const char *ns;
} ferry_observe_cfg;

/* The containers of app (labels io.ferry.node, io.ferry.namespace and io.ferry.app). A log tail
 * is read for every container that stopped (exited or restarting) with a non-zero code, and with
 * clean_exits also for those that exited with 0. *out is new (ferry_observation_free).
 * FERRY_EIO (logged) when the engine could not list them. */
ferry_err ferry_observe_app(const ferry_observe_cfg *cfg, const char *app, bool clean_exits,
                            ferry_observation *out);

/* Every app of the namespace that has containers on this node: *apps is a new object
 * {app: has_service_containers (boolean)}; *sigs (when sigs is not NULL) a new object
 * {app: ferry_observe_sig of its containers, as an integer}. FERRY_EIO (logged) when the engine
 * could not list. */
ferry_err ferry_observe_node(const ferry_observe_cfg *cfg, json_t **apps, json_t **pod_ips,
                             json_t **sigs);

/* One container's share of an app's signature: a hash of its id and state. The signature of a set
 * of containers is the XOR of their shares (any order); it changes when a container comes, goes,
 * or changes state, so that an unchanged signature tells that a pass over the app would find what
 * the last one found (see main.c). */
uint64_t ferry_observe_sig(const char *id, const char *state);

/* The signature of what an observation saw. */
uint64_t ferry_observation_sig(const ferry_observation *o);

#endif
