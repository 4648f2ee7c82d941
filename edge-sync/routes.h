/* edge-sync: the node gateway's route table (gateway.h) from what the survey decided to run: a
 * route per function service (its runtime's socket) and per container service with a TCP port
 * (its first: the hostPort, the containerPort with hostNetwork, else the containerPort on the
 * pod's address), named by the service. */
#ifndef FERRY_EDGE_ROUTES_H
#define FERRY_EDGE_ROUTES_H

#include <stddef.h>

#include "ferry/common.h"
#include "reconcile.h"

typedef struct {
    char *service, *ns, *app;
    bool function;
    char *socket;     /* function: {data}/pods/{ns}/{app}/0/ferry-run-{i}/runtime.sock */
    char *target;     /* proxy: "127.0.0.1:PORT" */
    char **functions; /* function names */
    size_t nfunctions;
    unsigned timeout_ms;
    bool monitor_qps;
} ferry_route;

typedef struct {
    ferry_route *items;
    size_t n;
} ferry_routes;

/* The routes of every app the survey runs (directive RUN). Service names are unique among them
 * (ferry_plan_node refuses an app whose service name another app holds). FERRY_ENOMEM only. */
ferry_err ferry_routes_build(const char *data_dir, const char *ns, const ferry_survey *s,
                             ferry_routes *out);
void ferry_routes_free(ferry_routes *r);

#endif
