/* edge-sync engine: a thin client of the Docker Engine API (also served by Podman) over a unix
 * socket, through libcurl. Every call is blocking; a handle may be used from several threads at
 * once (each call has a connection of its own). The reconciler reaches it through
 * ferry_engine_ops, so that tests can put a fake engine in its place. */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"

typedef struct ferry_engine ferry_engine; /* opaque */

/* Open a client for the engine at socket_path (e.g. /var/run/docker.sock) and check it answers
 * GET /_ping and GET /version. FERRY_EIO when it does not answer. */
ferry_err ferry_engine_open(const char *socket_path, ferry_engine **out);
void ferry_engine_close(ferry_engine *e);

/* "docker 20.10.24" or "podman 4.3.1" (from /version); lives as long as e. */
const char *ferry_engine_describe(const ferry_engine *e);
bool ferry_engine_is_podman(const ferry_engine *e);

/* The IPv4 address of the host on the engine's default network ("bridge"; Podman's default
 * network answers to that name too): where containers reach services of the node. In ip (len
 * bytes). FERRY_ENOTFOUND when the network has no IPv4 gateway. */
ferry_err ferry_engine_bridge_gateway(ferry_engine *e, char *ip, size_t len);

/* A container as listed by GET /containers/json?all=1. All fields owned by the array. */
typedef struct {
    char *id;
    char *name; /* without the leading '/' */
    char *image;
    char *state;    /* "created", "running", "exited", ... */
    json_t *labels; /* object, never NULL */
    char ip[16];    /* its IPv4 address on the first network that gives one; "" when none */
} ferry_container;

/* List every container (running or not) carrying all the labels given as "key=value" strings
 * (a NULL-terminated array of at least one). *out is an array of *n entries (caller frees with
 * ferry_containers_free). */
ferry_err ferry_engine_list(ferry_engine *e, const char *const *labels, ferry_container **out,
                            size_t *n);
void ferry_containers_free(ferry_container *c, size_t n);

/* GET /containers/{id}/json; *out is the engine's JSON (caller owns). FERRY_ENOTFOUND if gone. */
ferry_err ferry_engine_inspect(ferry_engine *e, const char *id, json_t **out);

/* A container's state as inspect shows it. */
typedef struct {
    char status[32]; /* "running", "exited", "restarting", "created", ...; "unknown" */
    long long exit_code;
    long long restarts;
    char error[512]; /* the engine's State.Error */
} ferry_cstate;

/* The State of GET /containers/{id}/json. FERRY_ENOTFOUND if gone (out->status "unknown"). */
ferry_err ferry_engine_state(ferry_engine *e, const char *id, ferry_cstate *out);

/* true when the image is present locally (GET /images/{name}/json). */
ferry_err ferry_engine_image_present(ferry_engine *e, const char *image, bool *present);

/* Pull image (POST /images/create?fromImage=..&tag=..), following the progress stream to the end
 * and failing on an error message in it. auth_json is NULL or {"username":..,"password":..,
 * "serveraddress":..} sent base64url-encoded as X-Registry-Auth. On failure, err holds the
 * engine's message (e.g. "pull access denied for x, repository does not exist"). */
ferry_err ferry_engine_pull(ferry_engine *e, const char *image, const json_t *auth_json, char *err,
                            size_t errlen);

/* POST /containers/create?name=NAME with body (Docker API ContainerCreate JSON). *id owned by the
 * caller (ferry_free). On failure err holds the engine's message; FERRY_EEXIST for a name clash,
 * FERRY_ENOTFOUND when the image is missing. */
ferry_err ferry_engine_create(ferry_engine *e, const char *name, const json_t *body, char **id,
                              char *err, size_t errlen);

/* POST /containers/{id}/start. Already started counts as success. err as above (e.g. "port is
 * already allocated"). */
ferry_err ferry_engine_start(ferry_engine *e, const char *id, char *err, size_t errlen);

/* The longest stop timeout Ferry gives a container (a function runtime: its timeout + 5 s), the
 * one it gets without its own, and the label that holds its own (pod.c sets it). */
#define FERRY_ENGINE_STOP_MAX_S 605
#define FERRY_ENGINE_STOP_DEFAULT_S 10
#define FERRY_ENGINE_LBL_STOP_TIMEOUT "io.ferry.stop-timeout"

/* POST /containers/{id}/stop?t=timeout_s; when timeout_s < 0, t is the container's own (its
 * FERRY_ENGINE_LBL_STOP_TIMEOUT label, read by inspecting it; FERRY_ENGINE_STOP_DEFAULT_S
 * without one). Engines differ in what they do without t (Podman 4.3 did not wait), so t is
 * always sent. Already stopped or gone counts as success. */
ferry_err ferry_engine_stop(ferry_engine *e, const char *id, int timeout_s);

/* DELETE /containers/{id}?force=1&v=1; gone counts as success. */
ferry_err ferry_engine_remove(ferry_engine *e, const char *id);

/* The last `lines` lines of the container's stdout+stderr as text (caller frees); "" if none. */
ferry_err ferry_engine_logs_tail(ferry_engine *e, const char *id, int lines, char **out);
/* The same, only lines written at or after the Unix time since (seconds; 0: from the start). */
ferry_err ferry_engine_logs(ferry_engine *e, const char *id, int lines, long long since,
                            char **out);

/* Make sure image_ref (e.g. "ferry/pause:1") exists: if missing, import it from a one-file tar
 * built in memory around the static binary at pause_binary (POST /images/create?fromSrc=-), with
 * the binary as /pause. The infra container of every pod runs it. */
ferry_err ferry_engine_ensure_pause_image(ferry_engine *e, const char *pause_binary,
                                          const char *image_ref);

/* What the reconciler needs of an engine, as a table: ferry_engine_api_ops calls the functions
 * above on a ferry_engine (engine is the ferry_engine *); tests provide a fake. Each has the
 * contract of the function of the same name. */
typedef struct {
    ferry_err (*list)(void *engine, const char *const *labels, ferry_container **out, size_t *n);
    ferry_err (*state)(void *engine, const char *id, ferry_cstate *out);
    ferry_err (*logs_tail)(void *engine, const char *id, int lines, char **out);
    ferry_err (*image_present)(void *engine, const char *image, bool *present);
    ferry_err (*pull)(void *engine, const char *image, const json_t *auth_json, char *err,
                      size_t errlen);
    ferry_err (*create)(void *engine, const char *name, const json_t *body, char **id, char *err,
                        size_t errlen);
    ferry_err (*start)(void *engine, const char *id, char *err, size_t errlen);
    ferry_err (*stop)(void *engine, const char *id, int timeout_s);
    ferry_err (*remove)(void *engine, const char *id);
    ferry_err (*ensure_pause_image)(void *engine, const char *pause_binary, const char *image_ref);
} ferry_engine_ops;

extern const ferry_engine_ops ferry_engine_api_ops;

#endif
