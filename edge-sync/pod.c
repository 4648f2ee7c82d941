/* edge-sync pods: container names, content hashes and Docker API ContainerCreate bodies for the
 * infra and service containers of one replica of an app (see pod.h). */
#include "pod.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* The infra container's command: the static ferry-pause binary at the image root. */
#define POD_PAUSE_CMD "/pause"

/* Bumped whenever the mapping from spec to container changes in a way that must replace
 * containers created by an older edge-sync; it is part of every hash. */
#define POD_HASH_DOMAIN "ferry-pod-v1\n"

ferry_err ferry_pod_infra_name(const ferry_pod_ref *ref, char *buf, size_t len) {
    if (!ref || !ref->node || !ref->ns || !ref->app || !buf || len == 0)
        return FERRY_EINVAL;
    int n = snprintf(buf, len, "ferry.%s.%s.%s.%d", ref->node, ref->ns, ref->app, ref->replica);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

ferry_err ferry_pod_service_name(const ferry_pod_ref *ref, const char *service, char *buf,
                                 size_t len) {
    if (!ref || !ref->node || !ref->ns || !ref->app || !service || !buf || len == 0)
        return FERRY_EINVAL;
    int n = snprintf(buf, len, "ferry.%s.%s.%s.%d.%s", ref->node, ref->ns, ref->app, ref->replica,
                     service);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

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
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
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
    return !v || json_object_set_new(obj, key, v) != 0;
}

static json_t *string_array(const json_t *a) {
    json_t *out = json_array();
    size_t i;
    json_t *v;
    if (!out)
        return NULL;
    json_array_foreach(a, i, v) {
        if (json_is_string(v) && json_array_append(out, v) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* "8080/tcp" for {"containerPort": 8080, "protocol": "TCP"}; false if the port is unusable
 * (the validator rejects such specs; skipping keeps a bad spec from producing a bad body). */
static bool port_key(const json_t *port, char *buf, size_t len, json_int_t *host_port) {
    json_int_t cport = json_integer_value(json_object_get(port, "containerPort"));
    const char *proto = json_string_value(json_object_get(port, "protocol"));
    *host_port = json_integer_value(json_object_get(port, "hostPort"));
    if (cport < 1 || cport > 65535 || *host_port < 0 || *host_port > 65535)
        return false;
    bool udp = proto && (strcmp(proto, "UDP") == 0 || strcmp(proto, "udp") == 0);
    snprintf(buf, len, "%lld/%s", (long long)cport, udp ? "udp" : "tcp");
    return true;
}

/* The infra container's body without Hostname and Labels: exactly what its hash covers. */
static json_t *infra_core(const json_t *spec, const char *pause_image) {
    json_t *core = json_object();
    json_t *exposed = json_object();
    json_t *bindings = json_object();
    json_t *host = json_object();
    json_t *restart = json_object();
    json_t *services = json_object_get(spec, "services");
    size_t i, j;
    json_t *svc, *port;
    bool fail = !core || !exposed || !bindings || !host || !restart || !pause_image;

    if (fail)
        goto out;
    json_array_foreach(services, i, svc) {
        json_array_foreach(json_object_get(svc, "ports"), j, port) {
            char key[32];
            json_int_t hport;
            if (!port_key(port, key, sizeof(key), &hport))
                continue;
            if ((fail = set_new(exposed, key, json_object())))
                goto out;
            if (hport == 0)
                continue;
            json_t *list = json_object_get(bindings, key);
            if (!list) {
                if ((fail = set_new(bindings, key, json_array())))
                    goto out;
                list = json_object_get(bindings, key);
            }
            char hp[8];
            snprintf(hp, sizeof(hp), "%lld", (long long)hport);
            fail = json_array_append_new(
                       list, json_pack("{s:s, s:s}", "HostIp", "", "HostPort", hp)) != 0;
            if (fail)
                goto out;
        }
    }
    fail = set_new(restart, "Name", json_string("unless-stopped")) ||
           set_new(host, "PortBindings", json_incref(bindings)) ||
           set_new(host, "RestartPolicy", json_incref(restart)) ||
           set_new(core, "Image", json_string(pause_image)) ||
           set_new(core, "Cmd", json_pack("[s]", POD_PAUSE_CMD)) ||
           set_new(core, "ExposedPorts", json_incref(exposed)) ||
           set_new(core, "HostConfig", json_incref(host));
out:
    json_decref(exposed);
    json_decref(bindings);
    json_decref(host);
    json_decref(restart);
    if (fail) {
        json_decref(core);
        core = NULL;
    }
    return core;
}

void ferry_pod_infra_hash(const json_t *spec, const char *pause_image, char out[65]) {
    json_t *core = infra_core(spec, pause_image);
    out[0] = '\0';
    if (core)
        hash_json(core, out);
    json_decref(core);
}

void ferry_pod_service_hash(const json_t *spec, const json_t *service, char out[65]) {
    (void)spec; /* the service object alone shapes its container; the pod's ports are infra's */
    hash_json(service, out);
}

/* The labels every container of the pod carries. */
static json_t *pod_labels(const ferry_pod_ref *ref, const char *role, const char *hash) {
    char version[24], replica[16];
    snprintf(version, sizeof(version), "%lld", ref->version);
    snprintf(replica, sizeof(replica), "%d", ref->replica);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", FERRY_LBL_MANAGED, "1",
                     FERRY_LBL_NODE, ref->node ? ref->node : "", FERRY_LBL_NS, ref->ns,
                     FERRY_LBL_APP, ref->app, FERRY_LBL_VERSION, version, FERRY_LBL_REPLICA,
                     replica, FERRY_LBL_ROLE, role, FERRY_LBL_HASH, hash);
}

json_t *ferry_pod_infra_body(const ferry_pod_ref *ref, const json_t *spec,
                             const char *pause_image) {
    char hash[65];
    json_t *body = NULL;

    if (!ref || !ref->ns || !ref->app || !spec || !pause_image)
        return NULL;
    body = infra_core(spec, pause_image);
    if (!body)
        return NULL;
    hash_json(body, hash);
    if (!hash[0] || set_new(body, "Hostname", json_string(ref->app)) ||
        set_new(body, "Labels", pod_labels(ref, "infra", hash))) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Env as ["NAME=value", ...] from [{"name": .., "value": ..}, ...]. */
static json_t *env_list(const json_t *env) {
    json_t *out = json_array();
    size_t i;
    json_t *e;
    if (!out)
        return NULL;
    json_array_foreach(env, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *value = json_string_value(json_object_get(e, "value"));
        if (!name)
            continue;
        if (json_array_append_new(out, json_sprintf("%s=%s", name, value ? value : ""))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *ferry_pod_service_body(const ferry_pod_ref *ref, const json_t *spec, const json_t *service,
                               const char *infra_id) {
    char hash[65];
    json_t *body = NULL;
    const json_t *command = json_object_get(service, "command");
    const json_t *args = json_object_get(service, "args");
    const char *image = json_string_value(json_object_get(service, "image"));
    const char *name = json_string_value(json_object_get(service, "name"));

    if (!ref || !ref->ns || !ref->app || !service || !infra_id || !image || !name)
        return NULL;
    ferry_pod_service_hash(spec, service, hash);
    body = json_object();
    json_t *labels = pod_labels(ref, "service", hash);
    if (!hash[0] || !body || !labels || set_new(labels, FERRY_LBL_SERVICE, json_string(name)) ||
        set_new(body, "Image", json_string(image)) ||
        (json_array_size(command) > 0 && set_new(body, "Entrypoint", string_array(command))) ||
        (json_array_size(args) > 0 && set_new(body, "Cmd", string_array(args))) ||
        set_new(body, "Env", env_list(json_object_get(service, "env"))) ||
        set_new(body, "Labels", json_incref(labels)) ||
        set_new(body, "HostConfig",
                json_pack("{s:s+, s:{s:s}}", "NetworkMode", "container:", infra_id, "RestartPolicy",
                          "Name", "unless-stopped"))) {
        json_decref(body);
        body = NULL;
    }
    json_decref(labels);
    return body;
}
