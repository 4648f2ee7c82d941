/* edge-sync act: carries out a plan's actions (plan.h) on the engine, through its operations
 * table, and records what failed for the next plan. Blocking: run it on a worker thread. The
 * engine is the only record of what runs: names are deterministic and every container carries
 * its labels (pod.h), so an act cut short by kill -9 leaves nothing the next pass cannot read. */
#ifndef FERRY_EDGE_ACT_H
#define FERRY_EDGE_ACT_H

#include <stdint.h>

#include "engine.h"
#include "plan.h"

/* How to act. Strings borrowed. */
typedef struct {
    const ferry_engine_ops *ops;
    void *engine;
    const char *node;
    const char *ns;
    const char *pause_image;  /* e.g. "ferry/pause:1" */
    const char *pause_binary; /* re-imported when the image disappeared */
    const char *data_dir;     /* absolute; volume files live below it (volumes.h) */
} ferry_act_cfg;

/* Carry out p's actions for app, in order. d is the desired app (NULL unless the directive was
 * RUN); o is the observation p was planned from (it names the containers of a pod to remove and
 * the infra container that members join). A WAIT polls the container until it exits or the
 * monotonic clock passes wait_until_ms. Every failure a person must see goes into f:
 *   CREATE of an infra container, START of one: FERRY_FAIL_POD ("pod network container could not
 *     be created: ...", "the pod: a host port of this app is already in use ...");
 *   CREATE or START of a member: FERRY_FAIL_MEMBER ("image X is not on the node and could not be
 *     pulled: ...", "service web could not be created: ...", "init container i: a host port
 *     ..."). A replaced member stays until its new image is on the node;
 *   REMOVE (or a container of REMOVE_POD) that the engine refused: FERRY_FAIL_REMOVE.
 * A pod's files go with its last container (REMOVE_POD), when app is a valid name. */
void ferry_act(const ferry_act_cfg *cfg, const char *app, const ferry_app_desired *d,
               const ferry_observation *o, const ferry_app_plan *p, int64_t wait_until_ms,
               ferry_failures *f);

#endif
