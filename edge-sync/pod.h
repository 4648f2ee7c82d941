/* edge-sync pods: how one replica of an app maps onto engine containers. An infra container
 * (the pause image) owns the network namespace and the published ports; each service runs in a
 * container joined to it (NetworkMode "container:<infra id>"). Everything carries labels so that
 * the reconciler can rebuild its view from the engine alone after any restart. */
#ifndef FERRY_POD_H
#define FERRY_POD_H

#include <jansson.h>

#include "ferry/common.h"

/* Labels put on every container Ferry creates. */
#define FERRY_LBL_MANAGED "io.ferry.managed" /* "1" */
#define FERRY_LBL_NODE "io.ferry.node"       /* node name */
#define FERRY_LBL_NS "io.ferry.namespace"    /* namespace */
#define FERRY_LBL_APP "io.ferry.app"         /* app name */
#define FERRY_LBL_VERSION "io.ferry.version" /* app version that created the container */
#define FERRY_LBL_REPLICA "io.ferry.replica" /* replica index, "0".. */
#define FERRY_LBL_ROLE "io.ferry.role"       /* "infra" or "service" */
#define FERRY_LBL_SERVICE "io.ferry.service" /* service name (role service) */
#define FERRY_LBL_HASH "io.ferry.hash"       /* hex digest of what the container was built from */

/* Which pod a container belongs to. Strings are borrowed. */
typedef struct {
    const char *node;
    const char *ns;
    const char *app;
    long long version;
    int replica;
} ferry_pod_ref;

/* Container names: the infra container is named for the pod, "ferry.{node}.{ns}.{app}.{replica}",
 * and a service container "ferry.{node}.{ns}.{app}.{replica}.{service}" (one segment more, so no
 * service name can clash with the infra container; the node is in the name so that several nodes
 * can share one engine, as the tests do). Written into buf; FERRY_ETOOBIG if it does not fit. */
ferry_err ferry_pod_infra_name(const ferry_pod_ref *ref, char *buf, size_t len);
ferry_err ferry_pod_service_name(const ferry_pod_ref *ref, const char *service, char *buf,
                                 size_t len);

/* The hex SHA-256 (64 chars + NUL) of what shapes the infra container (the ports of all
 * services and pause_image), and of one service (its whole object). A container whose
 * io.ferry.hash differs from the desired one is replaced. out is "" only on ENOMEM. */
void ferry_pod_infra_hash(const json_t *spec, const char *pause_image, char out[65]);
void ferry_pod_service_hash(const json_t *spec, const json_t *service, char out[65]);

/* Docker API ContainerCreate bodies (caller owns). The infra container runs pause_image, publishes
 * every service's ports (hostPort 0/absent: not published) and carries the labels above. A
 * service container runs service.image with Entrypoint = command (when given), Cmd = args (when
 * given), Env = env as NAME=value, NetworkMode "container:<infra_id>", RestartPolicy
 * unless-stopped, and the labels. NULL on ENOMEM. */
json_t *ferry_pod_infra_body(const ferry_pod_ref *ref, const json_t *spec, const char *pause_image);
json_t *ferry_pod_service_body(const ferry_pod_ref *ref, const json_t *spec, const json_t *service,
                               const char *infra_id);

#endif
