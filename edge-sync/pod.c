/* edge-sync pods: container names, content hashes and Docker API ContainerCreate bodies for the
 * infra, service and init containers of one replica of an app (see pod.h). */
#include "pod.h"
#include "volumes.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "ferry/quantity.h"

/* The infra container's command: the static ferry-pause binary at the image root. */
#define POD_PAUSE_CMD "/pause"

/* Bumped whenever the mapping from spec to container changes in a way that must replace
 * containers created by an older edge-sync; it is part of every hash. */
#define POD_HASH_DOMAIN "ferry-pod-v1\n"

/* The environment HAMi-core reads to share a GPU (see pod.h). */
#define POD_ENV_GPU_MEMORY "CUDA_DEVICE_MEMORY_LIMIT"
#define POD_ENV_GPU_SM "CUDA_DEVICE_SM_LIMIT"

/* Bounds the validator enforces (docs/apps-complete.md); checked again so that a bad spec makes
 * no body rather than a wrong one. */
#define POD_GPU_MEMORY_MAX 4096
#define POD_GPU_COMPUTE_MAX 100

/* ---- names ---- */

/* "ferry.{node}.{ns}.{app}.{replica}" followed by ".{prefix}{member}" when member is given. */
static ferry_err pod_name(const ferry_pod_ref *ref, const char *prefix, const char *member,
                          char *buf, size_t len) {
    int n;
    if (ref == NULL || ref->node == NULL || ref->ns == NULL || ref->app == NULL || buf == NULL ||
        len == 0)
        return FERRY_EINVAL;
    if (member != NULL)
        n = snprintf(buf, len, "ferry.%s.%s.%s.%d.%s%s", ref->node, ref->ns, ref->app, ref->replica,
                     prefix, member);
    else
        n = snprintf(buf, len, "ferry.%s.%s.%s.%d", ref->node, ref->ns, ref->app, ref->replica);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

ferry_err ferry_pod_infra_name(const ferry_pod_ref *ref, char *buf, size_t len) {
    return pod_name(ref, "", NULL, buf, len);
}

ferry_err ferry_pod_service_name(const ferry_pod_ref *ref, const char *service, char *buf,
                                 size_t len) {
    if (service == NULL)
        return FERRY_EINVAL;
    return pod_name(ref, "", service, buf, len);
}

ferry_err ferry_pod_init_name(const ferry_pod_ref *ref, const char *init, char *buf, size_t len) {
    if (init == NULL)
        return FERRY_EINVAL;
    return pod_name(ref, "init-", init, buf, len);
}

/* ---- hashing ---- */

static int hash_chunk(const char *buf, size_t size, void *data) {
    return EVP_DigestUpdate((EVP_MD_CTX *)data, buf, size) == 1 ? 0 : -1;
}

/* SHA-256 of the domain tag followed by the canonical dump of v (sorted keys, compact), as hex.
 * JSON_SORT_KEYS makes the digest independent of key order; the dump is streamed into the
 * digest, so nothing is allocated but the digest context. out is "" on failure: a hash that
 * matches nothing, so the worst case is a needless replacement. */
static void hash_json(const json_t *v, char out[65]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    out[0] = '\0';
    if (ctx == NULL || v == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, POD_HASH_DOMAIN, strlen(POD_HASH_DOMAIN)) != 1 ||
        json_dump_callback(v, hash_chunk, ctx, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) !=
            0 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
        goto out;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
out:
    EVP_MD_CTX_free(ctx);
}

/* json_object_set_new that reports failure, for chains of || in the builders below. */
static bool set_new(json_t *obj, const char *key, json_t *v) {
    return v == NULL || json_object_set_new(obj, key, v) != 0;
}

/* ---- app-level settings ---- */

const char *ferry_pod_workload(const json_t *spec) {
    const char *w = json_string_value(json_object_get(spec, "workload"));
    if (w != NULL && (strcmp(w, "daemonset") == 0 || strcmp(w, "job") == 0))
        return w;
    return "deployment";
}

/* The Docker RestartPolicy of the app's service (or init) containers (see pod.h). Docker reads
 * "on-failure" with a MaximumRetryCount of 0 as "retry forever", the opposite of backoffLimit 0,
 * so that case becomes "no". */
static json_t *restart_policy(const json_t *spec, bool init) {
    const char *workload = ferry_pod_workload(spec);
    const char *policy = json_string_value(json_object_get(spec, "restartPolicy"));
    const json_t *limit = json_object_get(spec, "backoffLimit");
    json_int_t retries = json_is_integer(limit) ? json_integer_value(limit) : 6;

    if (init ||
        (strcmp(workload, "job") == 0 && (policy == NULL || strcmp(policy, "OnFailure") != 0)))
        return json_pack("{s:s}", "Name", "no");
    if (strcmp(workload, "job") == 0)
        return retries > 0
                   ? json_pack("{s:s, s:I}", "Name", "on-failure", "MaximumRetryCount", retries)
                   : json_pack("{s:s}", "Name", "no");
    return json_pack("{s:s}", "Name", "unless-stopped");
}

static bool host_network(const json_t *spec) {
    return json_is_true(json_object_get(spec, "hostNetwork"));
}

/* ---- infra ---- */

/* "8080/tcp" for {"containerPort": 8080, "protocol": "TCP"}; false if the port is unusable
 * (the validator rejects such specs; skipping keeps a bad spec from producing a bad body). */
static bool port_key(const json_t *port, char *buf, size_t len, json_int_t *host_port) {
    json_int_t cport = json_integer_value(json_object_get(port, "containerPort"));
    const char *proto = json_string_value(json_object_get(port, "protocol"));
    *host_port = json_integer_value(json_object_get(port, "hostPort"));
    if (cport < 1 || cport > 65535 || *host_port < 0 || *host_port > 65535)
        return false;
    bool udp = proto != NULL && (strcmp(proto, "UDP") == 0 || strcmp(proto, "udp") == 0);
    snprintf(buf, len, "%lld/%s", (long long)cport, udp ? "udp" : "tcp");
    return true;
}

/* ExposedPorts and HostConfig.PortBindings of every service's ports. */
static bool collect_ports(const json_t *spec, json_t *exposed, json_t *bindings) {
    size_t i, j;
    json_t *svc, *port;

    json_array_foreach(json_object_get(spec, "services"), i, svc) {
        json_array_foreach(json_object_get(svc, "ports"), j, port) {
            char key[32], hp[8];
            json_int_t hport;
            if (!port_key(port, key, sizeof(key), &hport))
                continue;
            if (set_new(exposed, key, json_object()))
                return false;
            if (hport == 0)
                continue;
            json_t *list = json_object_get(bindings, key);
            if (list == NULL) {
                if (set_new(bindings, key, json_array()))
                    return false;
                list = json_object_get(bindings, key);
            }
            snprintf(hp, sizeof(hp), "%lld", (long long)hport);
            if (json_array_append_new(list,
                                      json_pack("{s:s, s:s}", "HostIp", "", "HostPort", hp)) != 0)
                return false;
        }
    }
    return true;
}

/* The infra container's body without Hostname and Labels: exactly what its hash covers. Without
 * hostNetwork it is the same object as edge-sync's first version built, so that upgrading
 * edge-sync does not replace running pods. */
static json_t *infra_core(const json_t *spec, const char *pause_image) {
    json_t *core = json_object();
    json_t *host = json_object();
    json_t *exposed = NULL, *bindings = NULL;
    bool fail = core == NULL || host == NULL || pause_image == NULL;

    if (fail)
        goto out;
    if (host_network(spec)) {
        /* The host's network: nothing to publish, every port is already the host's. */
        fail = set_new(host, "NetworkMode", json_string("host"));
    } else {
        exposed = json_object();
        bindings = json_object();
        fail = exposed == NULL || bindings == NULL || !collect_ports(spec, exposed, bindings) ||
               set_new(host, "PortBindings", json_incref(bindings)) ||
               set_new(core, "ExposedPorts", json_incref(exposed));
    }
    fail = fail || set_new(host, "RestartPolicy", json_pack("{s:s}", "Name", "unless-stopped")) ||
           set_new(core, "Image", json_string(pause_image)) ||
           set_new(core, "Cmd", json_pack("[s]", POD_PAUSE_CMD)) ||
           set_new(core, "HostConfig", json_incref(host));
out:
    json_decref(exposed);
    json_decref(bindings);
    json_decref(host);
    if (fail) {
        json_decref(core);
        core = NULL;
    }
    return core;
}

void ferry_pod_infra_hash(const json_t *spec, const char *pause_image, char out[65]) {
    json_t *core = infra_core(spec, pause_image);
    out[0] = '\0';
    if (core != NULL)
        hash_json(core, out);
    json_decref(core);
}

/* The labels every container of the pod carries. */
static json_t *pod_labels(const ferry_pod_ref *ref, const json_t *spec, const char *role,
                          const char *hash) {
    char version[24], replica[16];
    snprintf(version, sizeof(version), "%lld", ref->version);
    snprintf(replica, sizeof(replica), "%d", ref->replica);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", FERRY_LBL_MANAGED, "1",
                     FERRY_LBL_NODE, ref->node != NULL ? ref->node : "", FERRY_LBL_NS, ref->ns,
                     FERRY_LBL_APP, ref->app, FERRY_LBL_VERSION, version, FERRY_LBL_REPLICA,
                     replica, FERRY_LBL_ROLE, role, FERRY_LBL_WORKLOAD, ferry_pod_workload(spec),
                     FERRY_LBL_HASH, hash);
}

json_t *ferry_pod_infra_body(const ferry_pod_ref *ref, const json_t *spec,
                             const char *pause_image) {
    char hash[65];
    json_t *body = NULL;

    if (ref == NULL || ref->ns == NULL || ref->app == NULL || spec == NULL || pause_image == NULL)
        return NULL;
    body = infra_core(spec, pause_image);
    if (body == NULL)
        return NULL;
    hash_json(body, hash);
    if (!hash[0] || (!host_network(spec) && set_new(body, "Hostname", json_string(ref->app))) ||
        set_new(body, "Labels", pod_labels(ref, spec, "infra", hash))) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* ---- service and init containers ---- */

/* The files the bridge resolved for a config/secret/certificate volume, or NULL for other kinds
 * (and for a config the spec does not carry: the reconciler refuses such a spec). */
static const json_t *volume_files(const json_t *spec, const json_t *volume) {
    static const char *const kinds[] = {"config", "secret", "certificate"};
    const json_t *configs = json_object_get(json_object_get(spec, "resolved"), "configs");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const char *cname =
            json_string_value(json_object_get(json_object_get(volume, kinds[i]), "name"));
        if (cname != NULL)
            return json_object_get(json_object_get(configs, cname), "files");
    }
    return NULL;
}

/* What shapes a service or init container besides its own object: {volume name: {"volume":
 * definition, "files": resolved files or null}} for every volume it mounts. */
static json_t *mounted_volumes(const json_t *spec, const json_t *service) {
    json_t *out = json_object();
    size_t i;
    json_t *m;

    if (out == NULL)
        return NULL;
    json_array_foreach(json_object_get(service, "volumeMounts"), i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const json_t *vol = ferry_volumes_find(spec, name);
        const json_t *files = vol != NULL ? volume_files(spec, vol) : NULL;
        if (name == NULL || json_object_get(out, name) != NULL)
            continue;
        if (set_new(out, name, json_pack("{s:O?, s:O?}", "volume", vol, "files", files))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The hash of a service or init container. A service of a plain deployment (no volumes, no
 * binds) hashes its object alone, exactly as edge-sync's first version did, so that upgrading
 * edge-sync does not restart running apps; everything else hashes the object together with its
 * volumes, binds, workload, restart policy and role. The two forms cannot collide: the second
 * is an object with a "service" member, which no service object has. */
static void member_hash(const json_t *spec, const json_t *service, const json_t *binds, bool init,
                        char out[65]) {
    json_t *volumes = mounted_volumes(spec, service);
    json_t *restart = restart_policy(spec, init);
    const char *workload = ferry_pod_workload(spec);
    json_t *core = NULL;

    out[0] = '\0';
    if (service == NULL || volumes == NULL || restart == NULL)
        goto out;
    if (!init && json_object_size(volumes) == 0 && json_array_size(binds) == 0 &&
        strcmp(workload, "deployment") == 0) {
        hash_json(service, out);
        goto out;
    }
    core = json_pack("{s:s, s:O, s:O, s:O, s:s, s:O}", "role", init ? "init" : "service", "service",
                     service, "volumes", volumes, "binds",
                     json_array_size(binds) > 0 ? binds : json_null(), "workload", workload,
                     "restart", restart);
    hash_json(core, out);
out:
    json_decref(volumes);
    json_decref(restart);
    json_decref(core);
}

void ferry_pod_service_hash(const json_t *spec, const json_t *service, const json_t *binds,
                            char out[65]) {
    member_hash(spec, service, binds, false, out);
}

void ferry_pod_init_hash(const json_t *spec, const json_t *init, const json_t *binds,
                         char out[65]) {
    member_hash(spec, init, binds, true, out);
}

static json_t *string_array(const json_t *a) {
    json_t *out = json_array();
    size_t i;
    json_t *v;
    if (out == NULL)
        return NULL;
    json_array_foreach(a, i, v) {
        if (json_is_string(v) && json_array_append(out, v) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The GPU share a service asks for: *memory in units of 256 MB and *compute in percent, 0 when
 * not asked. False for values outside the validator's bounds. */
static bool gpu_limits(const json_t *limits, json_int_t *memory, json_int_t *compute) {
    const json_t *m = json_object_get(limits, "gpuMemory");
    const json_t *c = json_object_get(limits, "gpuCompute");
    *memory = json_integer_value(m);
    *compute = json_integer_value(c);
    if ((m != NULL && (!json_is_integer(m) || *memory < 1 || *memory > POD_GPU_MEMORY_MAX)) ||
        (c != NULL && (!json_is_integer(c) || *compute < 1 || *compute > POD_GPU_COMPUTE_MAX)))
        return false;
    return true;
}

static bool is_gpu_env(const char *name) {
    return strcmp(name, POD_ENV_GPU_MEMORY) == 0 || strcmp(name, POD_ENV_GPU_SM) == 0;
}

/* Env as ["NAME=value", ...] from [{"name": .., "value": ..}, ...], then the GPU share's
 * variables, which replace the user's entries of the same names. */
static json_t *env_list(const json_t *env, json_int_t gpu_memory, json_int_t gpu_compute) {
    json_t *out = json_array();
    bool gpu = gpu_memory > 0 || gpu_compute > 0;
    size_t i;
    json_t *e;
    if (out == NULL)
        return NULL;
    json_array_foreach(env, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *value = json_string_value(json_object_get(e, "value"));
        if (name == NULL || (gpu && is_gpu_env(name)))
            continue;
        if (json_array_append_new(out, json_sprintf("%s=%s", name, value != NULL ? value : "")))
            goto fail;
    }
    if (gpu_memory > 0 && json_array_append_new(out, json_sprintf("%s=%lldm", POD_ENV_GPU_MEMORY,
                                                                  (long long)gpu_memory * 256)))
        goto fail;
    if (gpu_compute > 0 &&
        json_array_append_new(out, json_sprintf("%s=%lld", POD_ENV_GPU_SM, (long long)gpu_compute)))
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* HostConfig.NanoCpus, Memory/MemorySwap and Privileged from the service. FERRY_EINVAL for a
 * quantity the schema library does not accept. */
static ferry_err host_resources(const json_t *service, const json_t *limits, json_t *host) {
    const json_t *cpu = json_object_get(limits, "cpu");
    const json_t *memory = json_object_get(limits, "memory");
    int64_t millicores = 0, bytes = 0;
    ferry_err rc;

    if (cpu != NULL) {
        if ((rc = ferry_quantity_parse_cpu(cpu, &millicores)) != FERRY_OK)
            return rc;
        if (millicores < 1 || millicores > INT64_MAX / 1000000)
            return FERRY_EINVAL;
        if (set_new(host, "NanoCpus", json_integer((json_int_t)(millicores * 1000000))))
            return FERRY_ENOMEM;
    }
    if (memory != NULL) {
        if ((rc = ferry_quantity_parse_memory(memory, &bytes)) != FERRY_OK)
            return rc;
        if (bytes < 1)
            return FERRY_EINVAL;
        if (set_new(host, "Memory", json_integer((json_int_t)bytes)) ||
            set_new(host, "MemorySwap", json_integer((json_int_t)bytes)))
            return FERRY_ENOMEM;
    }
    if (json_is_true(json_object_get(service, "privileged")) &&
        set_new(host, "Privileged", json_true()))
        return FERRY_ENOMEM;
    return FERRY_OK;
}

/* The body of a service (init false) or init container: see pod.h. */
static json_t *member_body(const ferry_pod_ref *ref, const json_t *spec, const json_t *service,
                           const char *infra_id, const json_t *binds, bool init) {
    const json_t *command = json_object_get(service, "command");
    const json_t *args = json_object_get(service, "args");
    const json_t *limits = json_object_get(json_object_get(service, "resources"), "limits");
    const char *image = json_string_value(json_object_get(service, "image"));
    const char *name = json_string_value(json_object_get(service, "name"));
    const char *role = init ? "init" : "service";
    json_t *body = NULL, *host = NULL, *labels = NULL;
    json_int_t gpu_memory, gpu_compute;
    char hash[65];
    ferry_err rc;

    if (ref == NULL || ref->ns == NULL || ref->app == NULL || service == NULL || infra_id == NULL ||
        image == NULL || name == NULL || (binds != NULL && !json_is_array(binds)))
        return NULL;
    if (!gpu_limits(limits, &gpu_memory, &gpu_compute)) {
        LOG_ERROR("app %s/%s: %s %s: GPU limits out of range; not creating it", ref->ns, ref->app,
                  role, name);
        return NULL;
    }
    member_hash(spec, service, binds, init, hash);
    if (!hash[0] || (body = json_object()) == NULL || (host = json_object()) == NULL)
        goto fail;
    if ((rc = host_resources(service, limits, host)) != FERRY_OK) {
        if (rc != FERRY_ENOMEM)
            LOG_ERROR("app %s/%s: %s %s: resource limits not understood (%s); not creating it",
                      ref->ns, ref->app, role, name, ferry_strerror(rc));
        goto fail;
    }
    if (set_new(host, "NetworkMode", json_sprintf("container:%s", infra_id)) ||
        set_new(host, "RestartPolicy", restart_policy(spec, init)) ||
        (json_array_size(binds) > 0 && set_new(host, "Binds", string_array(binds))) ||
        ((gpu_memory > 0 || gpu_compute > 0) &&
         set_new(host, "DeviceRequests",
                 json_pack("[{s:s, s:i, s:[[s]]}]", "Driver", "nvidia", "Count", -1, "Capabilities",
                           "gpu"))))
        goto fail;
    labels = pod_labels(ref, spec, role, hash);
    const json_t *stop = json_object_get(service, "stopTimeout");
    if (labels == NULL || set_new(labels, FERRY_LBL_SERVICE, json_string(name)) ||
        (json_is_integer(stop) &&
         set_new(labels, FERRY_ENGINE_LBL_STOP_TIMEOUT,
                 json_sprintf("%lld", (long long)json_integer_value(stop)))) ||
        set_new(body, "Image", json_string(image)) ||
        (json_array_size(command) > 0 && set_new(body, "Entrypoint", string_array(command))) ||
        (json_array_size(args) > 0 && set_new(body, "Cmd", string_array(args))) ||
        set_new(body, "Env", env_list(json_object_get(service, "env"), gpu_memory, gpu_compute)) ||
        (json_is_integer(stop) && set_new(body, "StopTimeout", json_incref((json_t *)stop))) ||
        set_new(body, "Labels", json_incref(labels)) ||
        set_new(body, "HostConfig", json_incref(host)))
        goto fail;
    json_decref(labels);
    json_decref(host);
    return body;
fail:
    json_decref(labels);
    json_decref(host);
    json_decref(body);
    return NULL;
}

json_t *ferry_pod_service_body(const ferry_pod_ref *ref, const json_t *spec, const json_t *service,
                               const char *infra_id, const json_t *binds) {
    return member_body(ref, spec, service, infra_id, binds, false);
}

json_t *ferry_pod_init_body(const ferry_pod_ref *ref, const json_t *spec, const json_t *init,
                            const char *infra_id, const json_t *binds) {
    return member_body(ref, spec, init, infra_id, binds, true);
}
