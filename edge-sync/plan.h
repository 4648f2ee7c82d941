/* edge-sync plan: the reconciler's decisions, pure. From what the node must run (the store, made
 * concrete with content hashes) and what the engine runs (observe.h), it says what to do next
 * (actions, carried out by act.h) and what to report (the app's status). No I/O: every input is
 * plain data, so every decision has a unit test (tests/edge/test_plan.c).
 *
 * A pass over one app is a loop (reconcile.c): observe, plan, act, and again, until the plan asks
 * for nothing more; the status of the last plan is the one reported. Each action either changes
 * what the engine runs or records a failure (ferry_failures) that the next plan takes into
 * account, so the loop ends. The order inside a pod follows from what the plan asks for in each
 * round: the infra container first (it owns the network namespace), then the init containers one
 * at a time (each must exit 0), then every service at once. */
#ifndef FERRY_EDGE_PLAN_H
#define FERRY_EDGE_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "ferry/common.h"

#define FERRY_LOG_TAIL_CHARS 600       /* the end of a container's log quoted in a status message */
#define FERRY_MAX_STATUS_CONTAINERS 64 /* PROTOCOL.md: app.status carries at most 64 */

/* ---- what the engine runs (filled by observe.c) ---- */

typedef enum { FERRY_ROLE_INFRA, FERRY_ROLE_INIT, FERRY_ROLE_SERVICE, FERRY_ROLE_OTHER } ferry_role;

/* One container of the app, from its labels (pod.h) and from inspect. */
typedef struct {
    char id[80];
    char name[256];
    char image[256];
    ferry_role role;
    int replica;       /* io.ferry.replica; -1 when missing */
    char member[64];   /* io.ferry.service: the service or init container's name */
    char hash[65];     /* io.ferry.hash */
    long long version; /* io.ferry.version */
    ferry_cstate st;   /* status "unknown" when inspect failed */
    /* The end of its log (valid UTF-8, "(empty)" when there is none) for a container that has
     * stopped (see ferry_observe_app); "" otherwise. */
    char log_tail[FERRY_LOG_TAIL_CHARS + 16];
} ferry_observed;

typedef struct {
    ferry_observed *items;
    size_t n;
} ferry_observation;

void ferry_observation_free(ferry_observation *o);

/* ---- what the node must run ---- */

/* What happens to an app on this node, decided for all apps at once (ferry_plan_node). */
typedef enum {
    FERRY_DIRECTIVE_RUN,       /* run it */
    FERRY_DIRECTIVE_SCHEDULED, /* its deploy.at is ahead: touch nothing, report Scheduled */
    FERRY_DIRECTIVE_REFUSE,    /* it may not run here (message): remove what it has, Failed */
    FERRY_DIRECTIVE_REMOVE,    /* not desired: remove it, report Removed */
    FERRY_DIRECTIVE_FORGET,    /* unknown to the store: remove its containers, report nothing */
} ferry_directive_kind;

typedef struct {
    ferry_directive_kind kind;
    int64_t at_ms;     /* SCHEDULED: wall-clock time of deploy.at */
    char message[512]; /* SCHEDULED: "deploys at ..."; REFUSE: why */
} ferry_directive;

/* An app as ferry_plan_node needs it. */
typedef struct {
    const char *name;
    long long version;
    bool deleted;       /* a tombstone */
    const json_t *spec; /* NULL for a tombstone */
    bool has_services;  /* the engine runs service containers of it now */
} ferry_node_app;

/* Decide for every app (out[i] for apps[i]): REMOVE when it is a tombstone, the node is not
 * registered or the selector does not match its labels; SCHEDULED while deploy.at is after
 * now_ms (an unparsable time deploys now); REFUSE when it wants GPU limits without gpu_sharing,
 * or when one of its service names is held by another app: apps that already run service
 * containers keep their names (after a restart, what runs keeps running), then the lower version
 * (the app that came first), then the name, and the loser fails naming the holder ("service web
 * is already run by app a on this node"); RUN otherwise. node: {"registered", "labels"}. */
void ferry_plan_node(const json_t *node, const ferry_node_app *apps, size_t n, bool gpu_sharing,
                     int64_t now_ms, ferry_directive *out);

/* One init or service container of one pod, made concrete (reconcile.c computes binds and hash
 * on the node's files). */
typedef struct {
    const json_t *obj; /* the spec's service or init object (borrowed) */
    const char *name;  /* borrowed from obj */
    const char *image; /* borrowed from obj */
    char hash[65];     /* ferry_pod_*_hash with binds; "" when error is set */
    json_t *binds;     /* owned by the desired app; NULL when error is set */
    char error[1024];  /* the binds could not be made: why */
} ferry_member;

/* One pod (replica) of the app. */
typedef struct {
    bool done;              /* a job pod that ran to completion (ferry_plan_job_pod_done) */
    char error[1024];       /* its files could not be prepared: why ("" when fine) */
    ferry_member *inits;    /* n_inits, in order */
    ferry_member *services; /* n_services */
} ferry_pod_in;

/* The app as the node must run it. */
typedef struct {
    const char *app;
    long long version;
    const json_t *spec;
    char infra_hash[65];
    bool job;
    long long retries; /* job with restartPolicy OnFailure: restarts the engine makes */
    int pods;          /* replicas (1 for a daemonset) */
    size_t n_inits, n_services;
    char error[1024];  /* its volume files could not be written: the app fails, why */
    ferry_pod_in *pod; /* pods entries; NULL when error is set */
} ferry_app_desired;

/* Read the desired shape of spec into d (pods, job, retries, counts); pod stays NULL. */
void ferry_plan_desired_init(ferry_app_desired *d, const char *app, long long version,
                             const json_t *spec);

/* Whether replica r of a job ran to completion for this version: an init container exited
 * non-zero, or every service exited for good (exit 0, or no restart of the engine to come). */
bool ferry_plan_job_pod_done(const ferry_app_desired *d, const ferry_observation *o, int r);

/* ---- what went wrong while acting (filled by act.c, read by the next plan) ---- */

typedef enum {
    FERRY_FAIL_POD,    /* the infra container of replica could not be made or started */
    FERRY_FAIL_MEMBER, /* an init or service container (role, index) could not be made */
    FERRY_FAIL_REMOVE, /* container id could not be removed */
} ferry_failure_kind;

typedef struct {
    ferry_failure_kind kind;
    int replica;
    ferry_role role;
    int index;
    char id[80];
    char message[1024];
} ferry_failure;

typedef struct {
    ferry_failure *items;
    size_t n, cap;
} ferry_failures;

/* Add a failure (dropped on ENOMEM: the next pass tries again). */
void ferry_failures_add(ferry_failures *f, const ferry_failure *x);
void ferry_failures_free(ferry_failures *f);

/* ---- the plan ---- */

typedef enum {
    FERRY_ACT_CREATE,     /* make and start (replica, role, index), pulling its image first;
                             id: the container it replaces (removed once the image is there) */
    FERRY_ACT_START,      /* start container id */
    FERRY_ACT_STOP,       /* stop container id (the infra container of a finished job pod) */
    FERRY_ACT_REMOVE,     /* stop and remove container id */
    FERRY_ACT_REMOVE_POD, /* every container of replica (-1: of the app), then its files */
    FERRY_ACT_WAIT,       /* init container id runs: wait for it to exit (until a deadline) */
} ferry_action_kind;

typedef struct {
    ferry_action_kind kind;
    int replica;
    ferry_role role; /* CREATE: INFRA, INIT or SERVICE */
    int index;       /* CREATE: index in initServices or services */
    char id[80];
} ferry_action;

/* The plan for one app: actions in order, and the status that holds if nothing more is done. */
typedef struct {
    ferry_action *actions;
    size_t n, cap;
    const char *phase;  /* static: Running, Deploying, Failed, Succeeded, Scheduled, Removed */
    char message[2048]; /* the first problem, or what the app waits for */
    json_t *containers; /* status entries: services, then init containers (owned) */
    bool busy;          /* an init container runs: come back soon */
    bool finished;      /* a job whose every pod ran to completion */
    bool report;        /* false for FORGET: no status */
} ferry_app_plan;

/* Plan one app. d may be NULL for REMOVE, REFUSE and FORGET; f may be NULL. FERRY_ENOMEM only. */
ferry_err ferry_plan_app(const ferry_directive *dir, const ferry_app_desired *d,
                         const ferry_observation *o, const ferry_failures *f, ferry_app_plan *out);
void ferry_app_plan_clear(ferry_app_plan *p);

#endif
