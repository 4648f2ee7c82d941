/* Ferry application model: validation of apps and node registrations, defaults, config
 * references. */
#include "ferry/app.h"

#include <stdio.h>
#include <string.h>

#include "ferry/config.h"
#include "ferry/function.h"
#include "ferry/labels.h"
#include "ferry/quantity.h"
#include "ferry/selector.h"
#include "internal.h"

#define APP_MAX_SERVICES 64
#define APP_MAX_REPLICAS 64
#define APP_MAX_DESCRIPTION 1024
#define APP_MAX_IMAGE 512
#define APP_MAX_ARGV 256
#define APP_MAX_ENV 1024
#define APP_MAX_ENV_NAME 256
#define APP_MAX_VOLUMES 64
#define APP_MAX_MOUNTS 64
#define APP_MAX_REGISTRIES 64
#define APP_MAX_PATH 4096
#define APP_MAX_BACKOFF 100
#define APP_DEFAULT_BACKOFF 6
#define APP_MIN_MEMORY (INT64_C(4) * 1024 * 1024)

static const char MSG_DNS[] = "must be a DNS label: 1-63 lowercase letters, digits or '-', "
                              "starting and ending with a letter or digit";
static const char MSG_PORT[] = "must be an integer between 1 and 65535";

static const char *const VOLUME_KINDS[] = {"hostPath",    "config",   "secret",
                                           "certificate", "emptyDir", NULL};
static const char *const WORKLOADS[] = {"deployment", "daemonset", "job", NULL};

static bool int_in(const json_t *v, json_int_t lo, json_int_t hi) {
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* A path of at most APP_MAX_PATH characters (code points, as JSON Schema's maxLength counts)
 * without control characters and without a ".." segment; absolute (starting with '/') or
 * relative (not starting with '/') as asked. */
static bool path_valid(const char *s, bool absolute) {
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || codec__utf8_chars(s) > APP_MAX_PATH || (s[0] == '/') != absolute)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(s + i, "/");
        if (len == 2 && s[i] == '.' && s[i + 1] == '.')
            return false;
        i += len; /* the loop steps over the '/' */
    }
    return true;
}

/* Length of a path without its trailing slashes (but "/" stays "/"), for comparing mount points. */
static size_t path_key_len(const char *s) {
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        n--;
    return n;
}

/* ---- containers ------------------------------------------------------------------------------ */

static bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool env_name_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > APP_MAX_ENV_NAME || (!is_alnum(s[0]) && s[0] != '_') ||
        (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static ferry_err check_argv(const json_t *v, const char *path, ferry_detail *d) {
    char f[192];
    if (!json_is_array(v) || json_array_size(v) > APP_MAX_ARGV)
        return ferry_fail(d, FERRY_EINVAL, path, "must be an array of at most %d strings",
                          APP_MAX_ARGV);
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (validate__str(json_array_get(v, i)) == NULL) {
            snprintf(f, sizeof(f), "%s[%zu]", path, i);
            return ferry_fail(d, FERRY_EINVAL, f, "must be a string");
        }
    }
    return FERRY_OK;
}

ferry_err app__check_env(const json_t *env, const char *path, ferry_detail *d) {
    static const char *const fields[] = {"name", "value", NULL};
    char f[192];
    char q[72];
    ferry_err rc;

    if (!json_is_array(env) || json_array_size(env) > APP_MAX_ENV)
        return ferry_fail(d, FERRY_EINVAL, path,
                          "must be an array of at most %d {name, value} objects", APP_MAX_ENV);
    for (size_t j = 0; j < json_array_size(env); j++) {
        const json_t *e = json_array_get(env, j);
        ferry__path(f, sizeof(f), "%s[%zu]", path, j);
        if (!json_is_object(e))
            return ferry_fail(d, FERRY_EINVAL, f, "must be an object");
        if ((rc = validate__check_fields(e, f, fields, NULL, d)) != FERRY_OK)
            return rc;
        const json_t *name = json_object_get(e, "name");
        const json_t *value = json_object_get(e, "value");
        ferry__path(f, sizeof(f), "%s[%zu].name", path, j);
        if (name == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        const char *s = validate__str(name);
        if (s == NULL || !env_name_valid(s))
            return ferry_fail(
                d, FERRY_EINVAL, f,
                "must be 1-%d characters: a letter or '_', then letters, digits, '_', "
                "'.' or '-'",
                APP_MAX_ENV_NAME);
        for (size_t k = 0; k < j; k++) {
            if (strcmp(s, json_string_value(json_object_get(json_array_get(env, k), "name"))) == 0)
                return ferry_fail(d, FERRY_EINVAL, f, "duplicate env name '%s'",
                                  validate__quote(s, q, sizeof(q)));
        }
        if (value != NULL && validate__str(value) == NULL) {
            ferry__path(f, sizeof(f), "%s[%zu].value", path, j);
            return ferry_fail(d, FERRY_EINVAL, f, "must be a string");
        }
    }
    return FERRY_OK;
}

static const char *port_protocol(const json_t *port) {
    const char *p = json_string_value(json_object_get(port, "protocol"));
    return p != NULL ? p : "TCP";
}

static ferry_err check_ports(const json_t *ports, const char *path, ferry_detail *d) {
    static const char *const fields[] = {"containerPort", "hostPort", "protocol", NULL};
    char f[192];
    ferry_err rc;

    if (!json_is_array(ports))
        return ferry_fail(d, FERRY_EINVAL, path, "must be an array of port objects");
    for (size_t j = 0; j < json_array_size(ports); j++) {
        const json_t *p = json_array_get(ports, j);
        ferry__path(f, sizeof(f), "%s[%zu]", path, j);
        if (!json_is_object(p))
            return ferry_fail(d, FERRY_EINVAL, f, "must be an object");
        if ((rc = validate__check_fields(p, f, fields, NULL, d)) != FERRY_OK)
            return rc;
        const json_t *cp = json_object_get(p, "containerPort");
        const json_t *hp = json_object_get(p, "hostPort");
        const json_t *proto = json_object_get(p, "protocol");
        ferry__path(f, sizeof(f), "%s[%zu].containerPort", path, j);
        if (cp == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        if (!int_in(cp, 1, 65535))
            return ferry_fail(d, FERRY_EINVAL, f, MSG_PORT);
        ferry__path(f, sizeof(f), "%s[%zu].hostPort", path, j);
        if (hp != NULL && !int_in(hp, 1, 65535))
            return ferry_fail(d, FERRY_EINVAL, f, MSG_PORT);
        ferry__path(f, sizeof(f), "%s[%zu].protocol", path, j);
        const char *ps = validate__str(proto);
        if (proto != NULL && (ps == NULL || (strcmp(ps, "TCP") != 0 && strcmp(ps, "UDP") != 0)))
            return ferry_fail(d, FERRY_EINVAL, f, "must be \"TCP\" or \"UDP\"");
    }
    return FERRY_OK;
}

/* The kind key of a volume ("hostPath", "config", ...), or NULL when it has none or several. */
const char *app__volume_kind(const json_t *vol) {
    const char *kind = NULL;
    for (const char *const *k = VOLUME_KINDS; *k != NULL; k++) {
        if (json_object_get(vol, *k) == NULL)
            continue;
        if (kind != NULL)
            return NULL;
        kind = *k;
    }
    return kind;
}

/* The volume named name, or NULL. */
static const json_t *find_volume(const json_t *volumes, const char *name, size_t *index) {
    for (size_t i = 0; i < json_array_size(volumes); i++) {
        const json_t *vol = json_array_get(volumes, i);
        const char *n = json_string_value(json_object_get(vol, "name"));
        if (n != NULL && strcmp(n, name) == 0) {
            if (index != NULL)
                *index = i;
            return vol;
        }
    }
    return NULL;
}

bool app__config_kind(const char *kind) {
    return kind != NULL && (strcmp(kind, "config") == 0 || strcmp(kind, "secret") == 0 ||
                            strcmp(kind, "certificate") == 0);
}

ferry_err app__check_mounts(const json_t *mounts, const char *path, const json_t *volumes,
                            ferry_detail *d) {
    static const char *const fields[] = {"name", "mountPath", "readOnly", "subPath", NULL};
    char f[192];
    char q[72];
    ferry_err rc;

    if (!json_is_array(mounts) || json_array_size(mounts) > APP_MAX_MOUNTS)
        return ferry_fail(d, FERRY_EINVAL, path, "must be an array of at most %d volume mounts",
                          APP_MAX_MOUNTS);
    for (size_t j = 0; j < json_array_size(mounts); j++) {
        const json_t *m = json_array_get(mounts, j);
        ferry__path(f, sizeof(f), "%s[%zu]", path, j);
        if (!json_is_object(m))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be an object {name, mountPath, readOnly, subPath}");
        if ((rc = validate__check_fields(m, f, fields, NULL, d)) != FERRY_OK)
            return rc;

        ferry__path(f, sizeof(f), "%s[%zu].name", path, j);
        const json_t *name = json_object_get(m, "name");
        if (name == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        const char *n = validate__str(name);
        const json_t *vol = n != NULL ? find_volume(volumes, n, NULL) : NULL;
        if (vol == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "must name a volume of the app (volumes[].name)");

        ferry__path(f, sizeof(f), "%s[%zu].mountPath", path, j);
        const json_t *mp = json_object_get(m, "mountPath");
        if (mp == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        const char *mps = validate__str(mp);
        if (mps == NULL || !path_valid(mps, true))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be an absolute path of at most %d characters without a '..' "
                              "segment or control characters",
                              APP_MAX_PATH);
        size_t mlen = path_key_len(mps);
        for (size_t k = 0; k < j; k++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(mounts, k), "mountPath"));
            if (path_key_len(other) == mlen && memcmp(other, mps, mlen) == 0)
                return ferry_fail(d, FERRY_EINVAL, f, "mountPath '%s' is already used by %s[%zu]",
                                  validate__quote(mps, q, sizeof(q)), path, k);
        }

        ferry__path(f, sizeof(f), "%s[%zu].readOnly", path, j);
        const json_t *ro = json_object_get(m, "readOnly");
        if (ro != NULL && !json_is_boolean(ro))
            return ferry_fail(d, FERRY_EINVAL, f, "must be true or false");

        ferry__path(f, sizeof(f), "%s[%zu].subPath", path, j);
        const json_t *sp = json_object_get(m, "subPath");
        if (sp == NULL)
            continue;
        const char *sps = validate__str(sp);
        if (app__config_kind(app__volume_kind(vol))) {
            if (sps == NULL || !ferry_config_file_name_valid(sps))
                return ferry_fail(d, FERRY_EINVAL, f,
                                  "must name one file of the %s volume: a file name of at "
                                  "most 253 characters, 1-8 names of [A-Za-z0-9._-] separated "
                                  "by single '/', none of them '.' or '..'",
                                  app__volume_kind(vol));
        } else if (sps == NULL || !path_valid(sps, false)) {
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be a relative path of at most %d characters without a '..' "
                              "segment or control characters",
                              APP_MAX_PATH);
        }
    }
    return FERRY_OK;
}

ferry_err app__check_resources(const json_t *res, const char *path, ferry_detail *d) {
    static const char *const fields[] = {"limits", NULL};
    static const char *const lfields[] = {"cpu", "memory", "gpuMemory", "gpuCompute", NULL};
    char f[192];
    int64_t n = 0;
    ferry_err rc;

    if (!json_is_object(res))
        return ferry_fail(d, FERRY_EINVAL, path, "must be an object {limits}");
    if ((rc = validate__check_fields(res, path, fields, NULL, d)) != FERRY_OK)
        return rc;
    const json_t *lim = json_object_get(res, "limits");
    if (lim == NULL)
        return FERRY_OK;
    ferry__path(f, sizeof(f), "%s.limits", path);
    if (!json_is_object(lim))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be an object {cpu, memory, gpuMemory, gpuCompute}");
    if ((rc = validate__check_fields(lim, f, lfields, NULL, d)) != FERRY_OK)
        return rc;
    const json_t *v;
    ferry__path(f, sizeof(f), "%s.limits.cpu", path);
    if ((v = json_object_get(lim, "cpu")) != NULL &&
        (rc = ferry_quantity_parse_cpu(v, &n)) != FERRY_OK)
        return rc == FERRY_ETOOBIG ? ferry_fail(d, FERRY_EINVAL, f, "must be at most %lld cores",
                                                (long long)(FERRY_CPU_MAX_MILLICORES / 1000))
                                   : ferry_fail(d, FERRY_EINVAL, f,
                                                "must be a positive number of cores or a "
                                                "quantity string like \"0.5\", \"2\" or \"500m\" "
                                                "(whole millicores)");
    ferry__path(f, sizeof(f), "%s.limits.memory", path);
    if ((v = json_object_get(lim, "memory")) != NULL) {
        if ((rc = ferry_quantity_parse_memory(v, &n)) != FERRY_OK)
            return rc == FERRY_ETOOBIG
                       ? ferry_fail(d, FERRY_EINVAL, f, "is too large")
                       : ferry_fail(d, FERRY_EINVAL, f,
                                    "must be a quantity like \"64Mi\", \"1Gi\", \"128M\" or "
                                    "\"1000\" (bytes), or an integer number of bytes");
        if (n < APP_MIN_MEMORY)
            return ferry_fail(d, FERRY_EINVAL, f, "must be at least 4Mi (4194304 bytes)");
    }
    const json_t *gm = json_object_get(lim, "gpuMemory");
    const json_t *gc = json_object_get(lim, "gpuCompute");
    ferry__path(f, sizeof(f), "%s.limits.gpuMemory", path);
    if (gm != NULL && !int_in(gm, 1, 4096))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be an integer between 1 and 4096 (units of 256 MB)");
    ferry__path(f, sizeof(f), "%s.limits.gpuCompute", path);
    if (gc != NULL && !int_in(gc, 1, 100))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be an integer between 1 and 100 (percent of the GPU)");
    if (gm != NULL && gc == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required when gpuMemory is set");
    return FERRY_OK;
}

/* Find the container named name in list[0..n); its index in *at. */
bool app__name_in(const json_t *list, size_t n, const char *name, size_t *at) {
    for (size_t k = 0; k < n; k++) {
        const char *other = json_string_value(json_object_get(json_array_get(list, k), "name"));
        if (other != NULL && strcmp(other, name) == 0) {
            *at = k;
            return true;
        }
    }
    return false;
}

/* services[i] or initServices[i] (init true). Names are unique across both lists: inits is the
 * (already checked) initServices array when checking services, else NULL. */
static ferry_err check_container(const json_t *list, size_t i, bool init, const json_t *inits,
                                 const json_t *volumes, ferry_detail *d) {
    static const char *const fields[] = {"name",       "command", "args",         "env",
                                         "image",      "ports",   "volumeMounts", "resources",
                                         "privileged", NULL};
    const json_t *svc = json_array_get(list, i);
    const char *listname = init ? "initServices" : "services";
    char path[32];
    char f[192];
    char q[72];
    size_t at = 0;
    ferry_err rc;

    snprintf(path, sizeof(path), "%s[%zu]", listname, i);
    if (!json_is_object(svc))
        return ferry_fail(d, FERRY_EINVAL, path, "must be an object");
    snprintf(f, sizeof(f), "%s.ports", path);
    if (init && json_object_get(svc, "ports") != NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "must not be set: init containers have no ports");
    if ((rc = validate__check_fields(svc, path, fields, NULL, d)) != FERRY_OK)
        return rc;

    const json_t *name = json_object_get(svc, "name");
    snprintf(f, sizeof(f), "%s.name", path);
    if (name == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    const char *s = validate__str(name);
    if (s == NULL || !ferry_name_valid(s))
        return ferry_fail(d, FERRY_EINVAL, f, MSG_DNS);
    if (app__name_in(list, i, s, &at))
        return ferry_fail(d, FERRY_EINVAL, f, "duplicate %s name '%s'",
                          init ? "init service" : "service", validate__quote(s, q, sizeof(q)));
    if (inits != NULL && app__name_in(inits, json_array_size(inits), s, &at))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "name '%s' is already used by initServices[%zu] (names are unique "
                          "across initServices and services)",
                          validate__quote(s, q, sizeof(q)), at);

    const json_t *image = json_object_get(svc, "image");
    snprintf(f, sizeof(f), "%s.image", path);
    if (image == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    const char *im = validate__str(image);
    size_t imlen = im != NULL ? strlen(im) : 0;
    bool im_ok = imlen > 0 && imlen <= APP_MAX_IMAGE;
    for (size_t k = 0; im_ok && k < imlen; k++)
        im_ok = im[k] > ' ' && im[k] < 0x7f;
    if (!im_ok)
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be 1-%d printable ASCII characters without whitespace (an image "
                          "reference)",
                          APP_MAX_IMAGE);

    const json_t *v;
    snprintf(f, sizeof(f), "%s.command", path);
    if ((v = json_object_get(svc, "command")) != NULL && (rc = check_argv(v, f, d)) != FERRY_OK)
        return rc;
    snprintf(f, sizeof(f), "%s.args", path);
    if ((v = json_object_get(svc, "args")) != NULL && (rc = check_argv(v, f, d)) != FERRY_OK)
        return rc;
    snprintf(f, sizeof(f), "%s.env", path);
    if ((v = json_object_get(svc, "env")) != NULL && (rc = app__check_env(v, f, d)) != FERRY_OK)
        return rc;
    snprintf(f, sizeof(f), "%s.ports", path);
    if ((v = json_object_get(svc, "ports")) != NULL && (rc = check_ports(v, f, d)) != FERRY_OK)
        return rc;
    snprintf(f, sizeof(f), "%s.volumeMounts", path);
    if ((v = json_object_get(svc, "volumeMounts")) != NULL &&
        (rc = app__check_mounts(v, f, volumes, d)) != FERRY_OK)
        return rc;
    snprintf(f, sizeof(f), "%s.resources", path);
    if ((v = json_object_get(svc, "resources")) != NULL &&
        (rc = app__check_resources(v, f, d)) != FERRY_OK)
        return rc;
    snprintf(f, sizeof(f), "%s.privileged", path);
    if ((v = json_object_get(svc, "privileged")) != NULL && !json_is_boolean(v))
        return ferry_fail(d, FERRY_EINVAL, f, "must be true or false");
    return FERRY_OK;
}

/* Find the service of the first port before services[si].ports[pj] with the same port number
 * (member key) and protocol. */
static const char *port_owner(const json_t *services, size_t si, size_t pj, const char *key,
                              json_int_t port, const char *proto) {
    for (size_t i = 0; i <= si; i++) {
        const json_t *svc = json_array_get(services, i);
        const json_t *ports = json_object_get(svc, "ports");
        size_t n = i == si ? pj : json_array_size(ports);
        for (size_t j = 0; j < n; j++) {
            const json_t *p = json_array_get(ports, j);
            if (json_integer_value(json_object_get(p, key)) == port &&
                strcmp(port_protocol(p), proto) == 0)
                return json_string_value(json_object_get(svc, "name"));
        }
    }
    return "?";
}

/* Ports across services: the services of one app share a network namespace (and the host's
 * ports), so each containerPort/protocol and each hostPort/protocol may appear once. A bitmap per
 * protocol keeps this linear without allocating; the owner is looked up only to word the error.
 * Init containers have no ports. several_pods: more than one pod of the app runs on a node at
 * once (replicas > 1, except for a daemonset), so a host port would clash between them. */
static ferry_err check_port_clashes(const json_t *services, bool several_pods, ferry_detail *d) {
    uint8_t cbits[2][65536 / 8];
    uint8_t hbits[2][65536 / 8];
    char f[192];

    memset(cbits, 0, sizeof(cbits));
    memset(hbits, 0, sizeof(hbits));
    for (size_t i = 0; i < json_array_size(services); i++) {
        const json_t *ports = json_object_get(json_array_get(services, i), "ports");
        for (size_t j = 0; j < json_array_size(ports); j++) {
            const json_t *p = json_array_get(ports, j);
            const char *proto = port_protocol(p);
            int pi = strcmp(proto, "UDP") == 0;
            json_int_t cp = json_integer_value(json_object_get(p, "containerPort"));
            const json_t *hpv = json_object_get(p, "hostPort");
            uint8_t mask = (uint8_t)(1u << (cp & 7));
            if (cbits[pi][cp >> 3] & mask) {
                snprintf(f, sizeof(f), "services[%zu].ports[%zu].containerPort", i, j);
                return ferry_fail(d, FERRY_EINVAL, f,
                                  "containerPort %lld/%s is already used by service '%s' (the "
                                  "services of an app share one network namespace)",
                                  (long long)cp, proto,
                                  port_owner(services, i, j, "containerPort", cp, proto));
            }
            cbits[pi][cp >> 3] |= mask;
            if (hpv == NULL)
                continue;
            json_int_t hp = json_integer_value(hpv);
            snprintf(f, sizeof(f), "services[%zu].ports[%zu].hostPort", i, j);
            if (several_pods)
                return ferry_fail(d, FERRY_EINVAL, f,
                                  "must not be set when replicas > 1 (the replicas would clash on "
                                  "the host port)");
            mask = (uint8_t)(1u << (hp & 7));
            if (hbits[pi][hp >> 3] & mask)
                return ferry_fail(d, FERRY_EINVAL, f,
                                  "hostPort %lld/%s is already used by service '%s'", (long long)hp,
                                  proto, port_owner(services, i, j, "hostPort", hp, proto));
            hbits[pi][hp >> 3] |= mask;
        }
    }
    return FERRY_OK;
}

/* ---- app-level fields ------------------------------------------------------------------------ */

static ferry_err check_volumes(const json_t *volumes, ferry_detail *d) {
    static const char *const fields[] = {"name",        "hostPath", "config", "secret",
                                         "certificate", "emptyDir", NULL};
    static const char *const host_fields[] = {"path", NULL};
    static const char *const ref_fields[] = {"name", NULL};
    static const char *const no_fields[] = {NULL};
    char path[32];
    char f[192];
    char q[72];
    size_t at = 0;
    ferry_err rc;

    if (!json_is_array(volumes) || json_array_size(volumes) > APP_MAX_VOLUMES)
        return ferry_fail(d, FERRY_EINVAL, "volumes", "must be an array of at most %d volumes",
                          APP_MAX_VOLUMES);
    for (size_t i = 0; i < json_array_size(volumes); i++) {
        const json_t *vol = json_array_get(volumes, i);
        snprintf(path, sizeof(path), "volumes[%zu]", i);
        if (!json_is_object(vol))
            return ferry_fail(d, FERRY_EINVAL, path, "must be an object");
        if ((rc = validate__check_fields(vol, path, fields, NULL, d)) != FERRY_OK)
            return rc;
        snprintf(f, sizeof(f), "%s.name", path);
        const json_t *name = json_object_get(vol, "name");
        if (name == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        const char *s = validate__str(name);
        if (s == NULL || !ferry_name_valid(s))
            return ferry_fail(d, FERRY_EINVAL, f, MSG_DNS);
        if (app__name_in(volumes, i, s, &at))
            return ferry_fail(d, FERRY_EINVAL, f, "duplicate volume name '%s'",
                              validate__quote(s, q, sizeof(q)));
        const char *kind = app__volume_kind(vol);
        if (kind == NULL)
            return ferry_fail(d, FERRY_EINVAL, path,
                              "must have exactly one of hostPath, config, secret, certificate, "
                              "emptyDir");
        const json_t *src = json_object_get(vol, kind);
        snprintf(f, sizeof(f), "%s.%s", path, kind);
        if (!json_is_object(src))
            return ferry_fail(d, FERRY_EINVAL, f, "must be an object");
        if (strcmp(kind, "emptyDir") == 0) {
            if ((rc = validate__check_fields(src, f, no_fields, NULL, d)) != FERRY_OK)
                return rc;
        } else if (strcmp(kind, "hostPath") == 0) {
            if ((rc = validate__check_fields(src, f, host_fields, NULL, d)) != FERRY_OK)
                return rc;
            const json_t *hp = json_object_get(src, "path");
            snprintf(f, sizeof(f), "%s.hostPath.path", path);
            if (hp == NULL)
                return ferry_fail(d, FERRY_EINVAL, f, "is required");
            if (!path_valid(validate__str(hp), true))
                return ferry_fail(d, FERRY_EINVAL, f,
                                  "must be an absolute path of at most %d characters without a "
                                  "'..' segment or control characters",
                                  APP_MAX_PATH);
        } else {
            if ((rc = validate__check_fields(src, f, ref_fields, NULL, d)) != FERRY_OK)
                return rc;
            const json_t *ref = json_object_get(src, "name");
            snprintf(f, sizeof(f), "%s.%s.name", path, kind);
            if (ref == NULL)
                return ferry_fail(d, FERRY_EINVAL, f, "is required");
            const char *rs = validate__str(ref);
            if (rs == NULL || !ferry_name_valid(rs))
                return ferry_fail(d, FERRY_EINVAL, f, "must be the name of a %s object: %s", kind,
                                  MSG_DNS);
            /* config objects share one namespace: one name cannot be two kinds */
            for (size_t k = 0; k < i; k++) {
                const json_t *other = json_array_get(volumes, k);
                const char *ok = app__volume_kind(other);
                if (!app__config_kind(ok) || strcmp(ok, kind) == 0)
                    continue;
                const char *on =
                    json_string_value(json_object_get(json_object_get(other, ok), "name"));
                if (on != NULL && strcmp(on, rs) == 0)
                    return ferry_fail(d, FERRY_EINVAL, f, "'%s' is used as a %s by volumes[%zu]",
                                      validate__quote(rs, q, sizeof(q)), ok, k);
            }
        }
    }
    return FERRY_OK;
}

/* A container app's service carries none of a function service's fields. */
static ferry_err check_function_fields(const json_t *services, size_t i, ferry_detail *d) {
    static const char *const only[] = {"runtime", "functionConfig", "functions", "timeout", NULL};
    char f[192];
    for (size_t k = 0; only[k] != NULL; k++) {
        if (json_object_get(json_array_get(services, i), only[k]) != NULL) {
            snprintf(f, sizeof(f), "services[%zu].%s", i, only[k]);
            return ferry_fail(d, FERRY_EINVAL, f,
                              "is only allowed in a function app (\"type\": \"function\")");
        }
    }
    return FERRY_OK;
}

static ferry_err check_containers(const json_t *app, ferry_detail *d) {
    const json_t *volumes = json_object_get(app, "volumes");
    const json_t *inits = json_object_get(app, "initServices");
    const json_t *services = json_object_get(app, "services");
    ferry_err rc;

    if (inits != NULL && (!json_is_array(inits) || json_array_size(inits) > APP_MAX_SERVICES))
        return ferry_fail(d, FERRY_EINVAL, "initServices",
                          "must be an array of at most %d init services", APP_MAX_SERVICES);
    for (size_t i = 0; i < json_array_size(inits); i++)
        if ((rc = check_container(inits, i, true, NULL, volumes, d)) != FERRY_OK)
            return rc;
    if (services == NULL)
        return ferry_fail(d, FERRY_EINVAL, "services", "is required");
    if (!json_is_array(services) || json_array_size(services) == 0 ||
        json_array_size(services) > APP_MAX_SERVICES)
        return ferry_fail(d, FERRY_EINVAL, "services",
                          "must be a non-empty array of at most %d services", APP_MAX_SERVICES);
    if (function__is_function_app(app)) {
        for (size_t i = 0; i < json_array_size(services); i++)
            if ((rc = function__check_service(services, i, volumes, d)) != FERRY_OK)
                return rc;
        return function__check_app(app, d);
    }
    for (size_t i = 0; i < json_array_size(services); i++)
        if ((rc = check_function_fields(services, i, d)) != FERRY_OK ||
            (rc = check_container(services, i, false, inits, volumes, d)) != FERRY_OK)
            return rc;
    return FERRY_OK;
}

/* workload, replicas, restartPolicy, backoffLimit; *several_pods for the host port rule. */
static ferry_err check_workload(const json_t *app, bool *several_pods, ferry_detail *d) {
    const json_t *v;
    const char *workload = "deployment";

    if ((v = json_object_get(app, "workload")) != NULL) {
        workload = validate__str(v);
        if (workload == NULL || !validate__key_in(workload, WORKLOADS))
            return ferry_fail(d, FERRY_EINVAL, "workload",
                              "must be \"deployment\", \"daemonset\" or \"job\"");
    }
    bool job = strcmp(workload, "job") == 0;
    json_int_t replicas = 1;
    if ((v = json_object_get(app, "replicas")) != NULL) {
        if (!int_in(v, 1, APP_MAX_REPLICAS))
            return ferry_fail(d, FERRY_EINVAL, "replicas", "must be an integer between 1 and %d",
                              APP_MAX_REPLICAS);
        replicas = json_integer_value(v);
    }
    *several_pods = replicas > 1 && strcmp(workload, "daemonset") != 0;
    if ((v = json_object_get(app, "restartPolicy")) != NULL) {
        const char *rp = validate__str(v);
        if (job && (rp == NULL || (strcmp(rp, "Never") != 0 && strcmp(rp, "OnFailure") != 0)))
            return ferry_fail(d, FERRY_EINVAL, "restartPolicy",
                              "must be \"Never\" or \"OnFailure\" for workload job");
        if (!job && (rp == NULL || strcmp(rp, "Always") != 0))
            return ferry_fail(d, FERRY_EINVAL, "restartPolicy",
                              "must be \"Always\" for workload %s", workload);
    }
    if ((v = json_object_get(app, "backoffLimit")) != NULL) {
        if (!job)
            return ferry_fail(d, FERRY_EINVAL, "backoffLimit", "is only allowed for workload job");
        if (!int_in(v, 0, APP_MAX_BACKOFF))
            return ferry_fail(d, FERRY_EINVAL, "backoffLimit",
                              "must be an integer between 0 and %d", APP_MAX_BACKOFF);
    }
    return FERRY_OK;
}

static ferry_err check_registries(const json_t *app, ferry_detail *d) {
    const json_t *regs = json_object_get(app, "registries");
    const json_t *volumes = json_object_get(app, "volumes");
    char f[192];
    char q[72];

    if (regs == NULL)
        return FERRY_OK;
    if (!json_is_array(regs) || json_array_size(regs) > APP_MAX_REGISTRIES)
        return ferry_fail(d, FERRY_EINVAL, "registries",
                          "must be an array of at most %d registry names (registry config "
                          "objects)",
                          APP_MAX_REGISTRIES);
    for (size_t k = 0; k < json_array_size(regs); k++) {
        const char *s = validate__str(json_array_get(regs, k));
        snprintf(f, sizeof(f), "registries[%zu]", k);
        if (s == NULL || !ferry_name_valid(s))
            return ferry_fail(d, FERRY_EINVAL, f, "must be the name of a registry object: %s",
                              MSG_DNS);
        for (size_t j = 0; j < k; j++)
            if (strcmp(s, json_string_value(json_array_get(regs, j))) == 0)
                return ferry_fail(d, FERRY_EINVAL, f, "duplicate registry '%s'",
                                  validate__quote(s, q, sizeof(q)));
        for (size_t i = 0; i < json_array_size(volumes); i++) {
            const json_t *vol = json_array_get(volumes, i);
            const char *kind = app__volume_kind(vol);
            const char *n = json_string_value(json_object_get(json_object_get(vol, kind), "name"));
            if (app__config_kind(kind) && n != NULL && strcmp(n, s) == 0)
                return ferry_fail(d, FERRY_EINVAL, f, "'%s' is used as a %s by volumes[%zu]",
                                  validate__quote(s, q, sizeof(q)), kind, i);
        }
    }
    return FERRY_OK;
}

static ferry_err check_deploy(const json_t *deploy, ferry_detail *d) {
    static const char *const fields[] = {"at", NULL};
    ferry_err rc;

    if (!json_is_object(deploy))
        return ferry_fail(d, FERRY_EINVAL, "deploy", "must be an object {at}");
    if ((rc = validate__check_fields(deploy, "deploy", fields, NULL, d)) != FERRY_OK)
        return rc;
    const json_t *at = json_object_get(deploy, "at");
    if (at == NULL)
        return ferry_fail(d, FERRY_EINVAL, "deploy.at", "is required");
    if (ferry_time_parse_rfc3339(validate__str(at), NULL) != FERRY_OK)
        return ferry_fail(d, FERRY_EINVAL, "deploy.at",
                          "must be an RFC 3339 time with a zone, like \"2026-11-26T10:00:00Z\" or "
                          "\"2026-11-26T11:00:00+01:00\"");
    return FERRY_OK;
}

ferry_err ferry_app_validate(const json_t *app, ferry_detail *d) {
    return ferry_app_validate_ex(app, 0, d);
}

ferry_err ferry_app_validate_ex(const json_t *app, unsigned flags, ferry_detail *d) {
    static const char *const fields[] = {
        "name",        "description", "labels",   "selector", "volumes",       "initServices",
        "services",    "registries",  "workload", "replicas", "restartPolicy", "backoffLimit",
        "hostNetwork", "monitorQps",  "deploy",   "resolved", "type",          NULL};
    static const char *const ignored[] = {"namespace", "version",     "createdAt",
                                          "updatedAt", "deployState", NULL};
    bool several_pods = false;
    ferry_err rc;
    const json_t *v;

    if (!json_is_object(app))
        return ferry_fail(d, FERRY_EINVAL, "app", "must be a JSON object");
    if ((rc = validate__check_fields(app, "", fields, ignored, d)) != FERRY_OK)
        return rc;
    const json_t *resolved = json_object_get(app, "resolved");
    if (resolved != NULL && !(flags & FERRY_APP_ALLOW_RESOLVED))
        return ferry_fail(d, FERRY_EINVAL, "resolved", "read-only, filled by the server");

    if ((v = json_object_get(app, "name")) == NULL)
        return ferry_fail(d, FERRY_EINVAL, "name", "is required");
    if (validate__str(v) == NULL || !ferry_name_valid(json_string_value(v)))
        return ferry_fail(d, FERRY_EINVAL, "name", MSG_DNS);

    if ((v = json_object_get(app, "description")) != NULL &&
        (validate__str(v) == NULL || codec__utf8_chars(json_string_value(v)) > APP_MAX_DESCRIPTION))
        return ferry_fail(d, FERRY_EINVAL, "description",
                          "must be a string of at most %d characters", APP_MAX_DESCRIPTION);

    if ((v = json_object_get(app, "labels")) != NULL &&
        (rc = ferry_labels_validate(v, "labels", d)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(app, "selector")) != NULL &&
        (rc = ferry_selector_validate(v, "selector", d)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(app, "volumes")) != NULL && (rc = check_volumes(v, d)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(app, "type")) != NULL &&
        (validate__str(v) == NULL || (strcmp(json_string_value(v), "container") != 0 &&
                                      strcmp(json_string_value(v), "function") != 0)))
        return ferry_fail(d, FERRY_EINVAL, "type",
                          "must be \"container\" (the default) or \"function\"");
    if ((rc = check_containers(app, d)) != FERRY_OK ||
        (rc = check_workload(app, &several_pods, d)) != FERRY_OK ||
        (rc = check_registries(app, d)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(app, "hostNetwork")) != NULL && !json_is_boolean(v))
        return ferry_fail(d, FERRY_EINVAL, "hostNetwork", "must be true or false");
    if ((v = json_object_get(app, "monitorQps")) != NULL && !json_is_boolean(v))
        return ferry_fail(d, FERRY_EINVAL, "monitorQps", "must be true or false");
    if ((v = json_object_get(app, "deploy")) != NULL && (rc = check_deploy(v, d)) != FERRY_OK)
        return rc;
    if ((rc = check_port_clashes(json_object_get(app, "services"), several_pods, d)) != FERRY_OK)
        return rc;
    if (flags & FERRY_APP_ALLOW_RESOLVED)
        return config__check_resolved(app, resolved, d);
    return FERRY_OK;
}

ferry_err ferry_app_config_refs(const json_t *app, json_t **refs) {
    json_t *out = NULL;
    json_t *configs = NULL;
    json_t *regs = NULL;
    ferry_err rc = FERRY_ENOMEM;

    if (refs != NULL)
        *refs = NULL;
    if (!json_is_object(app) || refs == NULL)
        return FERRY_EINVAL;
    if ((out = json_object()) == NULL || (configs = json_object()) == NULL ||
        (regs = json_array()) == NULL)
        goto out;
    const json_t *volumes = json_object_get(app, "volumes");
    for (size_t i = 0; i < json_array_size(volumes); i++) {
        const json_t *vol = json_array_get(volumes, i);
        const char *kind = app__volume_kind(vol);
        const char *name = validate__str(json_object_get(json_object_get(vol, kind), "name"));
        if (!app__config_kind(kind) || name == NULL || json_object_get(configs, name) != NULL)
            continue;
        if (json_object_set_new(configs, name, json_string(kind)) != 0)
            goto out;
    }
    const json_t *services = json_object_get(app, "services");
    for (size_t i = 0; function__is_function_app(app) && i < json_array_size(services); i++) {
        const char *name =
            validate__str(json_object_get(json_array_get(services, i), "functionConfig"));
        if (name == NULL || json_object_get(configs, name) != NULL)
            continue;
        if (json_object_set_new(configs, name, json_string("config")) != 0)
            goto out;
    }
    const json_t *names = json_object_get(app, "registries");
    for (size_t k = 0; k < json_array_size(names); k++) {
        const json_t *n = json_array_get(names, k);
        if (validate__str(n) != NULL && json_array_append(regs, (json_t *)n) != 0)
            goto out;
    }
    if (json_object_set(out, "configs", configs) != 0 ||
        json_object_set(out, "registries", regs) != 0)
        goto out;
    *refs = out;
    out = NULL;
    rc = FERRY_OK;
out:
    json_decref(out);
    json_decref(configs);
    json_decref(regs);
    return rc;
}

/* ---- normalization --------------------------------------------------------------------------- */

/* Set obj[key] = v (stealing v); false when v is NULL or on ENOMEM. */
static bool put(json_t *obj, const char *key, json_t *v) {
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static json_t *copy_or(const json_t *v, json_t *(*make)(void)) {
    return v != NULL ? json_deep_copy(v) : make();
}

static json_t *empty_string(void) {
    return json_string("");
}

static json_t *json_no(void) {
    return json_false();
}

static json_t *normalize_mounts(const json_t *src) {
    json_t *out = json_array();
    bool ok = out != NULL;
    for (size_t i = 0; ok && i < json_array_size(src); i++) {
        const json_t *m = json_array_get(src, i);
        const json_t *sp = json_object_get(m, "subPath");
        json_t *nm = json_object();
        ok = json_array_append_new(out, nm) == 0 && nm != NULL &&
             put(nm, "name", copy_or(json_object_get(m, "name"), empty_string)) &&
             put(nm, "mountPath", copy_or(json_object_get(m, "mountPath"), empty_string)) &&
             put(nm, "readOnly", copy_or(json_object_get(m, "readOnly"), json_no)) &&
             (sp == NULL || put(nm, "subPath", json_deep_copy(sp)));
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *normalize_env(const json_t *src);

static json_t *normalize_container(const json_t *svc, bool init) {
    json_t *out = json_object();
    json_t *env = normalize_env(json_object_get(svc, "env"));
    json_t *ports = json_array();
    const json_t *src;
    bool ok = out != NULL && env != NULL && ports != NULL;

    ok = ok && put(out, "name", copy_or(json_object_get(svc, "name"), empty_string));
    ok = ok && put(out, "image", copy_or(json_object_get(svc, "image"), empty_string));
    ok = ok && put(out, "command", copy_or(json_object_get(svc, "command"), json_array));
    ok = ok && put(out, "args", copy_or(json_object_get(svc, "args"), json_array));
    ok = ok && json_object_set(out, "env", env) == 0;
    src = json_object_get(svc, "ports");
    for (size_t i = 0; ok && i < json_array_size(src); i++) {
        const json_t *p = json_array_get(src, i);
        const json_t *hp = json_object_get(p, "hostPort");
        json_t *np = json_object();
        ok = json_array_append_new(ports, np) == 0 && np != NULL &&
             put(np, "containerPort", json_deep_copy(json_object_get(p, "containerPort"))) &&
             (hp == NULL || put(np, "hostPort", json_deep_copy(hp))) &&
             put(np, "protocol", json_string(port_protocol(p)));
    }
    ok = ok && (init || json_object_set(out, "ports", ports) == 0);
    ok = ok && put(out, "volumeMounts", normalize_mounts(json_object_get(svc, "volumeMounts")));
    src = json_object_get(svc, "resources");
    ok = ok && (src == NULL || put(out, "resources", json_deep_copy(src)));
    ok = ok && put(out, "privileged", copy_or(json_object_get(svc, "privileged"), json_no));
    json_decref(env);
    json_decref(ports);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *normalize_containers(const json_t *src, bool init) {
    json_t *out = json_array();
    for (size_t i = 0; out != NULL && i < json_array_size(src); i++) {
        if (json_array_append_new(out, normalize_container(json_array_get(src, i), init)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *normalize_env(const json_t *src) {
    json_t *env = json_array();
    bool ok = env != NULL;
    for (size_t i = 0; ok && i < json_array_size(src); i++) {
        const json_t *e = json_array_get(src, i);
        json_t *ne = json_object();
        ok = json_array_append_new(env, ne) == 0 && ne != NULL &&
             put(ne, "name", copy_or(json_object_get(e, "name"), empty_string)) &&
             put(ne, "value", copy_or(json_object_get(e, "value"), empty_string));
    }
    if (!ok) {
        json_decref(env);
        return NULL;
    }
    return env;
}

static json_t *normalize_functions(const json_t *src) {
    json_t *out = json_array();
    for (size_t i = 0; out != NULL && i < json_array_size(src); i++) {
        const json_t *svc = json_array_get(src, i);
        json_t *fn =
            function__normalize_service(svc, normalize_env(json_object_get(svc, "env")),
                                        normalize_mounts(json_object_get(svc, "volumeMounts")));
        if (json_array_append_new(out, fn) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *normalize_selector(const json_t *sel) {
    json_t *out = json_object();
    json_t *exprs = NULL;
    const json_t *src = json_object_get(sel, "matchExpressions");
    bool ok = out != NULL &&
              put(out, "matchLabels", copy_or(json_object_get(sel, "matchLabels"), json_object));
    if (ok && json_array_size(src) > 0) {
        ok = (exprs = json_array()) != NULL;
        for (size_t i = 0; ok && i < json_array_size(src); i++) {
            const json_t *e = json_array_get(src, i);
            json_t *ne = json_object();
            ok = json_array_append_new(exprs, ne) == 0 && ne != NULL &&
                 put(ne, "key", copy_or(json_object_get(e, "key"), empty_string)) &&
                 put(ne, "operator", copy_or(json_object_get(e, "operator"), empty_string)) &&
                 put(ne, "values", copy_or(json_object_get(e, "values"), json_array));
        }
        ok = ok && json_object_set(out, "matchExpressions", exprs) == 0;
    }
    json_decref(exprs);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *ferry_app_normalize(const json_t *app) {
    json_t *out = NULL;
    const json_t *v;

    if (!json_is_object(app))
        return NULL;
    const char *workload = json_string_value(json_object_get(app, "workload"));
    if (workload == NULL)
        workload = "deployment";
    bool job = strcmp(workload, "job") == 0;
    if ((out = json_object()) == NULL ||
        !put(out, "name", copy_or(json_object_get(app, "name"), empty_string)) ||
        !put(out, "description", copy_or(json_object_get(app, "description"), empty_string)) ||
        !put(out, "labels", copy_or(json_object_get(app, "labels"), json_object)) ||
        !put(out, "selector", normalize_selector(json_object_get(app, "selector"))) ||
        !put(out, "volumes", copy_or(json_object_get(app, "volumes"), json_array)) ||
        !put(out, "initServices",
             normalize_containers(json_object_get(app, "initServices"), true)) ||
        !put(out, "services",
             function__is_function_app(app)
                 ? normalize_functions(json_object_get(app, "services"))
                 : normalize_containers(json_object_get(app, "services"), false)) ||
        !put(out, "registries", copy_or(json_object_get(app, "registries"), json_array)) ||
        !put(out, "workload", json_string(workload)))
        goto fail;
    v = json_object_get(app, "replicas");
    if (!put(out, "replicas", v != NULL ? json_deep_copy(v) : json_integer(1)))
        goto fail;
    v = json_object_get(app, "restartPolicy");
    if (!put(out, "restartPolicy",
             v != NULL ? json_deep_copy(v) : json_string(job ? "Never" : "Always")))
        goto fail;
    v = json_object_get(app, "backoffLimit");
    if (job && !put(out, "backoffLimit",
                    v != NULL ? json_deep_copy(v) : json_integer(APP_DEFAULT_BACKOFF)))
        goto fail;
    if (!put(out, "hostNetwork", copy_or(json_object_get(app, "hostNetwork"), json_no)) ||
        !put(out, "monitorQps", copy_or(json_object_get(app, "monitorQps"), json_no)))
        goto fail;
    if ((v = json_object_get(app, "deploy")) != NULL && !put(out, "deploy", json_deep_copy(v)))
        goto fail;
    if (function__is_function_app(app) && !put(out, "type", json_string("function")))
        goto fail;
    if ((v = json_object_get(app, "resolved")) != NULL && !put(out, "resolved", json_deep_copy(v)))
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* ---- nodes ----------------------------------------------------------------------------------- */

ferry_err ferry_node_validate(const json_t *node, ferry_detail *d) {
    static const char *const fields[] = {"name", "labels", NULL};
    static const char *const ignored[] = {"namespace", "createdAt", "updatedAt",
                                          "online",    "rev",       NULL};
    ferry_err rc;
    const json_t *v;

    if (!json_is_object(node))
        return ferry_fail(d, FERRY_EINVAL, "node", "must be a JSON object");
    if ((rc = validate__check_fields(node, "", fields, ignored, d)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(node, "name")) == NULL)
        return ferry_fail(d, FERRY_EINVAL, "name", "is required");
    if (validate__str(v) == NULL || !ferry_name_valid(json_string_value(v)))
        return ferry_fail(d, FERRY_EINVAL, "name", MSG_DNS);
    if ((v = json_object_get(node, "labels")) != NULL)
        return ferry_labels_validate(v, "labels", d);
    return FERRY_OK;
}
