/* Function apps (type "function"): services run by a runtime (python3, nodejs10, sql) that serves
 * their functions; the node's gateway answers POST /{service}/{function} (docs/functions.md). The
 * rules are part of ferry_app_validate; this header holds the names and the container form. */
#ifndef FERRY_FUNCTION_H
#define FERRY_FUNCTION_H

#include <jansson.h>
#include <stdbool.h>

#define FERRY_FUNCTION_MAX_NAME 63
#define FERRY_FUNCTION_TIMEOUT_S 30 /* a function service's default timeout */

/* Inside a runtime container: the function config's files (read-only), the folder of the socket
 * the runtime serves on. */
#define FERRY_FUNCTION_ROOT "/ferry"
#define FERRY_FUNCTION_CODE_DIR "/ferry/code"
#define FERRY_FUNCTION_RUN_DIR "/ferry/run"
#define FERRY_FUNCTION_SOCKET "/ferry/run/runtime.sock"
#define FERRY_FUNCTION_SOCKET_NAME "runtime.sock"
/* Volumes of a function app's container form: "{prefix}code-{i}", "{prefix}run-{i}" for
 * services[i] (an emptyDir: the socket's folder on the node). User volumes may not use it. */
#define FERRY_FUNCTION_VOLUME_PREFIX "ferry-"
/* Every container a node runs gets the gateway's URL in this variable (unless it sets it). */
#define FERRY_FUNCTION_ENV_GATEWAY "FERRY_GATEWAY"

/* The runtime images a node uses unless told otherwise (scripts/images.sh builds them). */
#define FERRY_RUNTIME_IMAGE_PYTHON3 "ferry/runtime-python3:1"
#define FERRY_RUNTIME_IMAGE_NODEJS10 "ferry/runtime-nodejs10:1"
#define FERRY_RUNTIME_IMAGE_SQL "ferry/runtime-sql:1"

/* A function name: 1-63 of [A-Za-z0-9_-]. */
bool ferry_function_name_valid(const char *s);

/* What a node puts into the container form. */
typedef struct {
    const char *image_python3; /* runtime images, for services that name none */
    const char *image_nodejs10;
    const char *image_sql;
    const char *gateway_url; /* FERRY_GATEWAY for every container; NULL: none */
} ferry_function_node;

/* The spec a node runs for a valid, normalized app spec (caller owns; NULL on ENOMEM): a copy in
 * which every container gets FERRY_GATEWAY, and, for a function app, every service becomes its
 * runtime container: the runtime image, env FERRY_SERVICE, FERRY_RUNTIME, FERRY_FUNCTIONS (the
 * functions as JSON), FERRY_CODE_DIR, FERRY_SOCKET and FERRY_CODE_VERSION (the function config's
 * version: new code, new container) and FERRY_DRAIN_S (the timeout), the function config mounted
 * read-only at /ferry/code, an emptyDir "ferry-run-{i}" at /ferry/run, and "stopTimeout" (the
 * timeout + 5 s; not an app field: the node's StopTimeout of the container). */
json_t *ferry_function_pod_spec(const json_t *spec, const ferry_function_node *node);

#endif
