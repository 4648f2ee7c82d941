/* edge-sync pods: how one replica of an app maps onto engine containers. An infra container
 * (the pause image) owns the network namespace and the published ports; each service runs in a
 * container joined to it (NetworkMode "container:<infra id>"). Everything carries labels so that
 * the reconciler can rebuild its view from the engine alone after any restart. */
#ifndef FERRY_POD_H
#define FERRY_POD_H

#include <jansson.h>

#include "ferry/common.h"

/* Labels put on every container Ferry creates. */
#define FERRY_LBL_MANAGED "io.ferry.managed"   /* "1" */
#define FERRY_LBL_NODE "io.ferry.node"         /* node name */
#define FERRY_LBL_NS "io.ferry.namespace"      /* namespace */
#define FERRY_LBL_APP "io.ferry.app"           /* app name */
#define FERRY_LBL_VERSION "io.ferry.version"   /* app version that created the container */
#define FERRY_LBL_REPLICA "io.ferry.replica"   /* replica index, "0".. */
#define FERRY_LBL_ROLE "io.ferry.role"         /* "infra", "service" or "init" */
#define FERRY_LBL_SERVICE "io.ferry.service"   /* service name (roles service and init) */
#define FERRY_LBL_WORKLOAD "io.ferry.workload" /* "deployment", "daemonset" or "job" */
#define FERRY_LBL_HASH "io.ferry.hash"         /* hex digest of what the container was built from */

/* Which pod a container belongs to. Strings are borrowed. */
typedef struct {
    const char *node;
    const char *ns;
    const char *app;
    long long version;
    int replica;
} ferry_pod_ref;

/* Container names: the infra container is named for the pod, "ferry.{node}.{ns}.{app}.{replica}",
 * a service container "ferry.{node}.{ns}.{app}.{replica}.{service}" (one segment more, so no
 * service name can clash with the infra container; the node is in the name so that several nodes
 * can share one engine, as the tests do), and an init container
 * "ferry.{node}.{ns}.{app}.{replica}.init-{name}". Written into buf; FERRY_ETOOBIG if it does not
 * fit, FERRY_EINVAL for a NULL argument. */
ferry_err ferry_pod_infra_name(const ferry_pod_ref *ref, char *buf, size_t len);
ferry_err ferry_pod_service_name(const ferry_pod_ref *ref, const char *service, char *buf,
                                 size_t len);
ferry_err ferry_pod_init_name(const ferry_pod_ref *ref, const char *init, char *buf, size_t len);

/* The app's workload ("deployment" when absent or unknown). Borrowed from spec or static. */
const char *ferry_pod_workload(const json_t *spec);

/* Content hashes: the hex SHA-256 (64 chars + NUL) of what shapes a container. A container whose
 * io.ferry.hash differs from the desired one is replaced. out is "" only on ENOMEM.
 *
 * Infra: the ports of all services, hostNetwork and pause_image (with hostNetwork the ports are
 * not published, so they no longer count).
 *
 * Service and init containers: the service object itself, the definition of every volume it
 * mounts, for config/secret/certificate volumes the files of spec.resolved.configs[name] (not
 * its "version": a config update that leaves these files alone restarts nothing), the binds, the
 * workload and the Docker restart policy derived from restartPolicy/backoffLimit, and the role.
 * So a config change restarts exactly the containers that mount it. binds as for the bodies. */
void ferry_pod_infra_hash(const json_t *spec, const char *pause_image, char out[65]);
void ferry_pod_service_hash(const json_t *spec, const json_t *service, const json_t *binds,
                            char out[65]);
void ferry_pod_init_hash(const json_t *spec, const json_t *init, const json_t *binds, char out[65]);

/* Docker API ContainerCreate bodies (caller owns; NULL on ENOMEM or on a spec that the validator
 * would have refused). Labels: the ones above, io.ferry.hash being the matching hash function's.
 *
 * Infra: runs pause_image, Hostname = app name. Without hostNetwork it exposes and publishes every
 * service's ports (hostPort 0/absent: exposed, not published); with "hostNetwork": true it gets
 * HostConfig.NetworkMode "host", no ports and no Hostname (the host's). RestartPolicy
 * unless-stopped.
 *
 * Service (role "service") and init (role "init") containers: Image, Entrypoint = command (when
 * not empty), Cmd = args (when not empty), Env = env as NAME=value, NetworkMode
 * "container:<infra_id>" (with hostNetwork that is the host's network), HostConfig.Binds = binds
 * (NULL or an array of Docker bind strings "HOST:CONTAINER[:ro]"; omitted when NULL or empty),
 * and the service's resources:
 *   limits.cpu        -> HostConfig.NanoCpus = millicores * 1e6 (ferry_quantity_parse_cpu)
 *   limits.memory     -> HostConfig.Memory = bytes (ferry_quantity_parse_memory) and
 *                        MemorySwap = Memory (no swap beyond the limit)
 *   privileged: true  -> HostConfig.Privileged
 *   limits.gpuMemory and/or limits.gpuCompute -> HostConfig.DeviceRequests
 *       [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}] (every GPU of the node)
 *       plus, appended to Env (replacing any user entry of the same name):
 *       CUDA_DEVICE_MEMORY_LIMIT = "{gpuMemory * 256}m" (gpuMemory is in units of 256 MB)
 *       CUDA_DEVICE_SM_LIMIT = "{gpuCompute}" (percent of the streaming multiprocessors)
 *       These are HAMi-core's variables: they take effect when the image (or the node, through
 *       ld.so.preload) loads libvgpu.so; the reconciler refuses GPU apps on a node started
 *       without --gpu-sharing.
 * Restart policy of a service: workload deployment/daemonset -> unless-stopped; job with
 * restartPolicy Never (default) -> "no"; job with OnFailure -> on-failure with MaximumRetryCount
 * = backoffLimit (default 6; 0 becomes "no", since Docker reads a count of 0 as "forever").
 * Init containers always get "no" and carry io.ferry.service = their name. */
json_t *ferry_pod_infra_body(const ferry_pod_ref *ref, const json_t *spec, const char *pause_image);
json_t *ferry_pod_service_body(const ferry_pod_ref *ref, const json_t *spec, const json_t *service,
                               const char *infra_id, const json_t *binds);
json_t *ferry_pod_init_body(const ferry_pod_ref *ref, const json_t *spec, const json_t *init,
                            const char *infra_id, const json_t *binds);

#endif
