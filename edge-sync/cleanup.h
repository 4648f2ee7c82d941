/* edge-sync file cleanup: every --cleanup-interval seconds, delete the volume files nothing needs
 * any more (volumes.h has the layout): those of apps that no longer run on this node and of jobs
 * whose pods finished. Never a folder that a container which is not exited mounts.
 *
 * The decision is pure (ferry_cleanup_decide) and separate from the I/O (ferry_cleanup_run).
 * Run it on the reconciler's thread, right after a reconcile pass and never during one: the pass
 * writes the files before it creates or starts any container, so a folder deleted here is written
 * again before anything could mount it. */
#ifndef FERRY_EDGE_CLEANUP_H
#define FERRY_EDGE_CLEANUP_H

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"
#include "ferry/common.h"

/* What a folder under the data folder is. */
typedef enum {
    FERRY_CLEANUP_APP_VOLUMES, /* volumes/{ns}/{app} */
    FERRY_CLEANUP_VOLUME,      /* volumes/{ns}/{app}/{volume} */
    FERRY_CLEANUP_APP_PODS,    /* pods/{ns}/{app} or subpaths/{ns}/{app} */
    FERRY_CLEANUP_POD          /* pods/{ns}/{app}/{replica} or subpaths/{ns}/{app}/{replica} */
} ferry_cleanup_kind;

/* One folder the cleanup looks at. Strings borrowed. */
typedef struct {
    ferry_cleanup_kind kind;
    const char *path;   /* absolute path of the folder */
    const char *app;    /* the app it belongs to */
    const char *member; /* FERRY_CLEANUP_VOLUME: the volume; FERRY_CLEANUP_POD: the replica */
    const char *twin;   /* NULL, or the same pod's (app's) folder under the other of pods/ and
                         * subpaths/: a container that mounts a subPath of an emptyDir mounts a
                         * place under subpaths/ yet uses the emptyDir under pods/ */
} ferry_cleanup_item;

/* Whether the folder may be deleted.
 *
 * apps is what the last reconcile pass knew (ferry_reconcile_result.apps): {app: {"desired": b,
 * "finished": b, "replicas": n, "volumes": [name, ...]}}, where desired means the node must run
 * the app (a scheduled one included), finished that it is a job whose every pod ran to
 * completion, replicas the number of pods it should have and volumes the names of its config,
 * secret and certificate volumes. An app missing from apps is not desired.
 *
 * live_mounts is an array of the host paths that containers which are not exited (running,
 * restarting, paused, created) bind-mount. A folder is deleted when it is not needed and no
 * live mount lies in it or above it, nor in or above its twin:
 *   app folders: the app is not desired, or is a finished job;
 *   a volume folder of a needed app: the app has no such config volume (any more);
 *   a pod folder of a needed app: its replica is not a number below replicas. */
bool ferry_cleanup_decide(const ferry_cleanup_item *item, const json_t *apps,
                          const json_t *live_mounts);

/* What the cleanup needs. Strings borrowed. */
typedef struct {
    const char *data_dir; /* absolute */
    const char *ns;
    ferry_engine *engine;
} ferry_cleanup_cfg;

/* One cleanup: ask the engine which containers are not exited and what they mount (every
 * container edge-sync manages on this engine, whatever its node), look at the folders of the
 * namespace under data_dir (volumes/, pods/, subpaths/), delete those ferry_cleanup_decide
 * allows, each logged (subPath mounts under subpaths/ are unmounted first: see
 * ferry_volumes__remove_tree; this is how mounts a killed edge-sync left for a pod that is gone
 * go). *deleted (may be NULL) counts them. FERRY_EIO when the engine could not be asked: then
 * nothing is deleted. */
ferry_err ferry_cleanup_run(const ferry_cleanup_cfg *cfg, const json_t *apps, int *deleted);

/* ---- internal, for tests ----------------------------------------------------------------------
 * The folder sweep behind ferry_cleanup_run, with the engine's answer given, so that
 * tests/edge/test_volumes.c runs it on real folders without an engine. */

/* Look at the folders below {cfg->data_dir}/{top}/{cfg->ns}: each app's (app_kind, a folder
 * named like an app), then, in the app folders kept, their members (member_kind: a folder named
 * like a volume for FERRY_CLEANUP_VOLUME, a replica number for FERRY_CLEANUP_POD). Delete each
 * that ferry_cleanup_decide allows with apps and live (the live mounts, as there), log it and
 * count it in *deleted; for top FERRY_PODS_DIR and FERRY_SUBPATHS_DIR each item's twin is the
 * same path under the other. Anything else, and a folder that cannot be read or removed, is
 * left as it is. cfg->engine is not used. */
void ferry_cleanup__sweep(const ferry_cleanup_cfg *cfg, const char *top,
                          ferry_cleanup_kind app_kind, ferry_cleanup_kind member_kind,
                          const json_t *apps, const json_t *live, int *deleted);

#endif
