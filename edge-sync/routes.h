/* edge-sync: the node gateway's route table (gateway.h) from what the survey decided to run: a
 * route per function service (its runtime's socket) and per container service with a TCP port
 * (its first: the hostPort, the containerPort with hostNetwork, else the containerPort on the
 * pod's address), named by the service. */
#ifndef FERRY_EDGE_ROUTES_H
#define FERRY_EDGE_ROUTES_H

#include <stddef.h>

#include "ferry/common.h"
#include "gateway.h"
#include "reconcile.h"

/* The table as ferry_gateway_set_routes takes it; every string (socket: {data}/pods/{ns}/{app}/0/
 * ferry-run-{i}/runtime.sock, target: "ADDRESS:PORT") is owned by the table. */
typedef struct {
    ferry_gateway_route *items;
    size_t n;
} ferry_routes;

/* The routes of every app the survey runs (directive RUN). Service names are unique among them
 * (ferry_plan_node refuses an app whose service name another app holds). FERRY_ENOMEM only. */
ferry_err ferry_routes_build(const char *data_dir, const char *ns, const ferry_survey *s,
                             ferry_routes *out);
void ferry_routes_free(ferry_routes *r);

#endif
