/* Function apps: the rules of function services (app.c calls them for an app of type "function")
 * and the container form a node runs them in (include/ferry/function.h, docs/functions.md). */
#include "ferry/function.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/config.h"
#include "ferry/labels.h"
#include "internal.h"

#define FN_MAX_FUNCTIONS 64
#define FN_MAX_HANDLER 255
#define FN_MAX_CODEDIR 1024
#define FN_MAX_TIMEOUT 600

static const char *const RUNTIMES[] = {"python3", "nodejs10", "sql", NULL};

bool ferry_function_name_valid(const char *s) {
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > FERRY_FUNCTION_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool ident_char(char c, bool first, bool js) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (js && c == '$') ||
           (!first && c >= '0' && c <= '9');
}

/* "script.function": script [A-Za-z0-9_.-]+ not starting with '.', then the last '.', then an
 * identifier of the language. */
static bool script_handler_valid(const char *s, bool js) {
    size_t n = strlen(s);
    const char *dot = strrchr(s, '.');
    if (n == 0 || n > FN_MAX_HANDLER || dot == NULL || dot == s || s[0] == '.' || dot[1] == '\0')
        return false;
    for (const char *p = s; p < dot; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    for (const char *p = dot + 1; *p != '\0'; p++)
        if (!ident_char(*p, p == dot + 1, js))
            return false;
    return true;
}

/* "" or a relative folder: segments of config file name characters, none "." or "..". */
static bool codedir_valid(const char *s) {
    size_t n = strlen(s);
    if (n > FN_MAX_CODEDIR || s[0] == '/')
        return false;
    for (size_t i = 0; i < n;) {
        size_t len = strcspn(s + i, "/");
        char seg[256];
        if (len == 0 || len >= sizeof(seg)) {
            if (len == 0 && i + 1 == n) /* one trailing slash: "lib/" */
                return true;
            return false;
        }
        memcpy(seg, s + i, len);
        seg[len] = '\0';
        if (!ferry_config_file_name_valid(seg))
            return false;
        i += len + (s[i + len] == '/' ? 1 : 0);
    }
    return true;
}

static ferry_err check_functions(const json_t *fns, const char *path, const char *runtime,
                                 ferry_detail *d) {
    static const char *const fields[] = {"name", "handler", "codedir", NULL};
    char f[192];
    char q[72];
    ferry_err rc;

    if (fns == NULL)
        return ferry_fail(d, FERRY_EINVAL, path, "is required");
    if (!json_is_array(fns) || json_array_size(fns) == 0 || json_array_size(fns) > FN_MAX_FUNCTIONS)
        return ferry_fail(d, FERRY_EINVAL, path,
                          "must be a non-empty array of at most %d {name, handler, codedir}",
                          FN_MAX_FUNCTIONS);
    bool sql = strcmp(runtime, "sql") == 0;
    bool js = strcmp(runtime, "nodejs10") == 0;
    for (size_t j = 0; j < json_array_size(fns); j++) {
        const json_t *fn = json_array_get(fns, j);
        ferry__path(f, sizeof(f), "%s[%zu]", path, j);
        if (!json_is_object(fn))
            return ferry_fail(d, FERRY_EINVAL, f, "must be an object {name, handler, codedir}");
        if ((rc = validate__check_fields(fn, f, fields, NULL, d)) != FERRY_OK)
            return rc;
        ferry__path(f, sizeof(f), "%s[%zu].name", path, j);
        const json_t *name = json_object_get(fn, "name");
        if (name == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        const char *s = validate__str(name);
        if (s == NULL || !ferry_function_name_valid(s))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be 1-%d letters, digits, '_' or '-' (the function's path "
                              "segment: /{service}/{function})",
                              FERRY_FUNCTION_MAX_NAME);
        size_t at = 0;
        if (app__name_in(fns, j, s, &at))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "duplicate function name '%s' (also %s[%zu].name; names are unique "
                              "within a service)",
                              validate__quote(s, q, sizeof(q)), path, at);
        ferry__path(f, sizeof(f), "%s[%zu].handler", path, j);
        const json_t *handler = json_object_get(fn, "handler");
        if (handler == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        const char *h = validate__str(handler);
        if (sql && (h == NULL || !ferry_config_file_name_valid(h)))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be the file holding the SQL statement, e.g. \"filter.sql\" "
                              "(a config file name: [A-Za-z0-9._-], not '.' or '..')");
        if (!sql && (h == NULL || !script_handler_valid(h, js)))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be \"script.function\", e.g. \"index.handler\" (function "
                              "handler of index.%s): at most %d characters, the script "
                              "[A-Za-z0-9_.-], the function an identifier",
                              js ? "js" : "py", FN_MAX_HANDLER);
        ferry__path(f, sizeof(f), "%s[%zu].codedir", path, j);
        const json_t *cd = json_object_get(fn, "codedir");
        if (cd != NULL && (validate__str(cd) == NULL || !codedir_valid(json_string_value(cd))))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be a relative folder of the function config (\"\" for its "
                              "root): at most %d characters, segments [A-Za-z0-9._-], no '.' "
                              "or '..'",
                              FN_MAX_CODEDIR);
    }
    return FERRY_OK;
}

/* The volumeMounts of a function service may not cover the runtime's own folders. */
static ferry_err check_reserved_mounts(const json_t *mounts, const char *path, ferry_detail *d) {
    char f[192];
    for (size_t j = 0; j < json_array_size(mounts); j++) {
        const char *mp = json_string_value(json_object_get(json_array_get(mounts, j), "mountPath"));
        size_t n = strlen(FERRY_FUNCTION_ROOT);
        if (mp != NULL && strncmp(mp, FERRY_FUNCTION_ROOT, n) == 0 &&
            (mp[n] == '\0' || mp[n] == '/')) {
            ferry__path(f, sizeof(f), "%s[%zu].mountPath", path, j);
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must not be %s or below it (the runtime's code and socket)",
                              FERRY_FUNCTION_ROOT);
        }
    }
    return FERRY_OK;
}

ferry_err function__check_service(const json_t *list, size_t i, const json_t *volumes,
                                  ferry_detail *d) {
    static const char *const fields[] = {
        "name",  "runtime", "functionConfig", "functions", "timeout",
        "image", "env",     "volumeMounts",   "resources", NULL};
    const json_t *svc = json_array_get(list, i);
    char path[32];
    char f[192];
    char q[72];
    size_t at = 0;
    const json_t *v;
    ferry_err rc;

    snprintf(path, sizeof(path), "services[%zu]", i);
    if (!json_is_object(svc))
        return ferry_fail(d, FERRY_EINVAL, path, "must be an object");
    static const char *const container_only[] = {"command", "args", "ports", "privileged", NULL};
    for (size_t k = 0; container_only[k] != NULL; k++) {
        if (json_object_get(svc, container_only[k]) != NULL) {
            snprintf(f, sizeof(f), "%s.%s", path, container_only[k]);
            return ferry_fail(d, FERRY_EINVAL, f,
                              "is not allowed in a function service (its runtime decides)");
        }
    }
    if ((rc = validate__check_fields(svc, path, fields, NULL, d)) != FERRY_OK)
        return rc;

    snprintf(f, sizeof(f), "%s.name", path);
    if ((v = json_object_get(svc, "name")) == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    const char *s = validate__str(v);
    if (s == NULL || !ferry_name_valid(s))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be a DNS label: 1-63 lowercase letters, digits or '-', starting "
                          "and ending with a letter or digit");
    if (app__name_in(list, i, s, &at))
        return ferry_fail(d, FERRY_EINVAL, f, "duplicate service '%s' (also services[%zu].name)",
                          validate__quote(s, q, sizeof(q)), at);

    snprintf(f, sizeof(f), "%s.runtime", path);
    if ((v = json_object_get(svc, "runtime")) == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required in a function service");
    const char *runtime = validate__str(v);
    if (runtime == NULL || !validate__key_in(runtime, RUNTIMES))
        return ferry_fail(d, FERRY_EINVAL, f, "must be \"python3\", \"nodejs10\" or \"sql\"");

    snprintf(f, sizeof(f), "%s.functionConfig", path);
    if ((v = json_object_get(svc, "functionConfig")) == NULL)
        return ferry_fail(d, FERRY_EINVAL, f,
                          "is required: the name of the config object holding the code");
    const char *cfg = validate__str(v);
    if (cfg == NULL || !ferry_name_valid(cfg))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be the name of a config object: a DNS label (1-63 lowercase "
                          "letters, digits or '-')");
    for (size_t k = 0; k < json_array_size(volumes); k++) {
        const json_t *vol = json_array_get(volumes, k);
        const char *kind = app__volume_kind(vol);
        const char *n = json_string_value(json_object_get(json_object_get(vol, kind), "name"));
        if (app__config_kind(kind) && strcmp(kind, "config") != 0 && n != NULL &&
            strcmp(n, cfg) == 0)
            return ferry_fail(d, FERRY_EINVAL, f,
                              "'%s' is used as a %s by volumes[%zu] (a function config is a "
                              "config)",
                              validate__quote(cfg, q, sizeof(q)), kind, k);
    }

    snprintf(f, sizeof(f), "%s.functions", path);
    if ((rc = check_functions(json_object_get(svc, "functions"), f, runtime, d)) != FERRY_OK)
        return rc;

    snprintf(f, sizeof(f), "%s.timeout", path);
    if ((v = json_object_get(svc, "timeout")) != NULL &&
        (!json_is_integer(v) || json_integer_value(v) < 1 ||
         json_integer_value(v) > FN_MAX_TIMEOUT))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be an integer number of seconds between 1 and %d (a call that "
                          "takes longer is answered 504)",
                          FN_MAX_TIMEOUT);
    snprintf(f, sizeof(f), "%s.image", path);
    if ((v = json_object_get(svc, "image")) != NULL) {
        const char *im = validate__str(v);
        size_t n = im != NULL ? strlen(im) : 0;
        bool ok = n > 0 && n <= 512;
        for (size_t k = 0; ok && k < n; k++)
            ok = im[k] > ' ' && im[k] < 0x7f;
        if (!ok)
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be 1-512 printable ASCII characters without whitespace (a "
                              "runtime image reference; leave it out for the node's own)");
    }
    snprintf(f, sizeof(f), "%s.env", path);
    if ((v = json_object_get(svc, "env")) != NULL && (rc = app__check_env(v, f, d)) != FERRY_OK)
        return rc;
    snprintf(f, sizeof(f), "%s.volumeMounts", path);
    if ((v = json_object_get(svc, "volumeMounts")) != NULL &&
        ((rc = app__check_mounts(v, f, volumes, d)) != FERRY_OK ||
         (rc = check_reserved_mounts(v, f, d)) != FERRY_OK))
        return rc;
    snprintf(f, sizeof(f), "%s.resources", path);
    if ((v = json_object_get(svc, "resources")) != NULL &&
        (rc = app__check_resources(v, f, d)) != FERRY_OK)
        return rc;
    return FERRY_OK;
}

ferry_err function__check_app(const json_t *app, ferry_detail *d) {
    const json_t *inits = json_object_get(app, "initServices");
    const json_t *volumes = json_object_get(app, "volumes");
    const json_t *v;
    char f[192];

    if (json_array_size(inits) > 0)
        return ferry_fail(d, FERRY_EINVAL, "initServices",
                          "must be empty in a function app (type \"function\")");
    if ((v = json_object_get(app, "workload")) != NULL && json_is_string(v) &&
        strcmp(json_string_value(v), "job") == 0)
        return ferry_fail(d, FERRY_EINVAL, "workload",
                          "must be \"deployment\" or \"daemonset\" in a function app (its "
                          "functions are served until it is deleted)");
    if ((v = json_object_get(app, "replicas")) != NULL && json_is_integer(v) &&
        json_integer_value(v) != 1)
        return ferry_fail(d, FERRY_EINVAL, "replicas",
                          "must be 1 in a function app (one runtime per service and node, "
                          "served as /{service}/{function})");
    for (size_t k = 0; k < json_array_size(volumes); k++) {
        const char *n = json_string_value(json_object_get(json_array_get(volumes, k), "name"));
        if (n != NULL &&
            strncmp(n, FERRY_FUNCTION_VOLUME_PREFIX, strlen(FERRY_FUNCTION_VOLUME_PREFIX)) == 0) {
            snprintf(f, sizeof(f), "volumes[%zu].name", k);
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must not start with \"%s\" in a function app (names of the "
                              "runtime's own volumes)",
                              FERRY_FUNCTION_VOLUME_PREFIX);
        }
    }
    return FERRY_OK;
}

bool function__is_function_app(const json_t *app) {
    const char *t = json_string_value(json_object_get(app, "type"));
    return t != NULL && strcmp(t, "function") == 0;
}

/* ---- normalization ---- */

static bool put(json_t *obj, const char *key, json_t *v) {
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

json_t *function__normalize_service(const json_t *svc, json_t *env, json_t *mounts) {
    json_t *out = json_object();
    json_t *fns = json_array();
    const json_t *src = json_object_get(svc, "functions");
    const json_t *v;
    bool ok = out != NULL && fns != NULL && env != NULL && mounts != NULL;

    ok = ok && put(out, "name", json_deep_copy(json_object_get(svc, "name"))) &&
         put(out, "runtime", json_deep_copy(json_object_get(svc, "runtime"))) &&
         put(out, "functionConfig", json_deep_copy(json_object_get(svc, "functionConfig")));
    for (size_t i = 0; ok && i < json_array_size(src); i++) {
        const json_t *fn = json_array_get(src, i);
        const json_t *cd = json_object_get(fn, "codedir");
        ok = json_array_append_new(
                 fns, json_pack("{s:O, s:O, s:o}", "name", json_object_get(fn, "name"), "handler",
                                json_object_get(fn, "handler"), "codedir",
                                cd != NULL ? json_deep_copy(cd) : json_string(""))) == 0;
    }
    ok = ok && json_object_set(out, "functions", fns) == 0;
    v = json_object_get(svc, "timeout");
    ok = ok && put(out, "timeout",
                   v != NULL ? json_deep_copy(v) : json_integer(FERRY_FUNCTION_TIMEOUT_S));
    ok =
        ok && ((v = json_object_get(svc, "image")) == NULL || put(out, "image", json_deep_copy(v)));
    ok = ok && json_object_set(out, "env", env) == 0 &&
         json_object_set(out, "volumeMounts", mounts) == 0;
    ok = ok && ((v = json_object_get(svc, "resources")) == NULL ||
                put(out, "resources", json_deep_copy(v)));
    json_decref(fns);
    json_decref(env);
    json_decref(mounts);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- the container form ---- */

static const char *runtime_image(const ferry_function_node *node, const char *runtime) {
    if (strcmp(runtime, "python3") == 0)
        return node->image_python3;
    if (strcmp(runtime, "nodejs10") == 0)
        return node->image_nodejs10;
    return node->image_sql;
}

/* env (a normalized env array) with name=value appended unless the user set name. */
static bool env_add(json_t *env, const char *name, json_t *value) {
    size_t i;
    json_t *e;
    if (value == NULL)
        return false;
    json_array_foreach(env, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n != NULL && strcmp(n, name) == 0) {
            json_decref(value);
            return true;
        }
    }
    return json_array_append_new(env, json_pack("{s:s, s:o}", "name", name, "value", value)) == 0;
}

static bool add_gateway_env(json_t *containers, const char *url) {
    size_t i;
    json_t *c;
    if (url == NULL)
        return true;
    json_array_foreach(containers, i, c) {
        json_t *env = json_object_get(c, "env");
        if (!json_is_array(env)) {
            if (json_object_set_new(c, "env", json_array()) != 0)
                return false;
            env = json_object_get(c, "env");
        }
        if (!env_add(env, FERRY_FUNCTION_ENV_GATEWAY, json_string(url)))
            return false;
    }
    return true;
}

/* services[i] of a function app as the container that runs it. */
static json_t *runtime_container(const json_t *spec, const json_t *svc, size_t i,
                                 const ferry_function_node *node, json_t *volumes) {
    const char *runtime = json_string_value(json_object_get(svc, "runtime"));
    const char *cfg = json_string_value(json_object_get(svc, "functionConfig"));
    const char *image = json_string_value(json_object_get(svc, "image"));
    const json_t *resolved =
        json_object_get(json_object_get(json_object_get(spec, "resolved"), "configs"), cfg);
    json_t *out = NULL, *env = NULL, *mounts = NULL, *fns = NULL;
    char code[64], run[64];
    char *fjson = NULL;

    if (runtime == NULL || cfg == NULL)
        return NULL;
    if (image == NULL)
        image = runtime_image(node, runtime);
    snprintf(code, sizeof(code), "%scode-%zu", FERRY_FUNCTION_VOLUME_PREFIX, i);
    snprintf(run, sizeof(run), "%srun-%zu", FERRY_FUNCTION_VOLUME_PREFIX, i);
    if (image == NULL ||
        json_array_append_new(
            volumes, json_pack("{s:s, s:{s:s}}", "name", code, "config", "name", cfg)) != 0 ||
        json_array_append_new(volumes, json_pack("{s:s, s:{}}", "name", run, "emptyDir")) != 0)
        return NULL;
    env = json_deep_copy(json_object_get(svc, "env"));
    mounts = json_deep_copy(json_object_get(svc, "volumeMounts"));
    fns = json_deep_copy(json_object_get(svc, "functions"));
    if (env == NULL || mounts == NULL || fns == NULL ||
        (fjson = json_dumps(fns, JSON_COMPACT)) == NULL)
        goto out;
    /* The code's version is in the container's env, so new code makes a new container. */
    bool ok =
        env_add(env, "FERRY_SERVICE", json_incref(json_object_get(svc, "name"))) &&
        env_add(env, "FERRY_RUNTIME", json_string(runtime)) &&
        env_add(env, "FERRY_FUNCTIONS", json_string(fjson)) &&
        env_add(env, "FERRY_CODE_DIR", json_string(FERRY_FUNCTION_CODE_DIR)) &&
        env_add(env, "FERRY_SOCKET", json_string(FERRY_FUNCTION_SOCKET)) &&
        env_add(env, "FERRY_CODE_VERSION",
                json_sprintf(
                    "%lld", (long long)json_integer_value(json_object_get(resolved, "version")))) &&
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}", "name", code, "mountPath",
                                                FERRY_FUNCTION_CODE_DIR, "readOnly", 1)) == 0 &&
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}", "name", run, "mountPath",
                                                FERRY_FUNCTION_RUN_DIR, "readOnly", 0)) == 0;
    if (!ok)
        goto out;
    /* The engine stops it with SIGTERM and waits the timeout + 5 s: the runtime finishes what
     * it started (it drains for the timeout) before it is killed. */
    json_int_t timeout = json_integer_value(json_object_get(svc, "timeout"));
    if (timeout <= 0)
        timeout = FERRY_FUNCTION_TIMEOUT_S;
    if (!env_add(env, "FERRY_DRAIN_S", json_sprintf("%lld", (long long)timeout)))
        goto out;
    out = json_pack("{s:O, s:s, s:[], s:[], s:O, s:[], s:O, s:b, s:I}", "name",
                    json_object_get(svc, "name"), "image", image, "command", "args", "env", env,
                    "ports", "volumeMounts", mounts, "privileged", 0, "stopTimeout", timeout + 5);
    if (out != NULL && json_object_get(svc, "resources") != NULL &&
        json_object_set(out, "resources", json_object_get(svc, "resources")) != 0) {
        json_decref(out);
        out = NULL;
    }
out:
    free(fjson);
    json_decref(env);
    json_decref(mounts);
    json_decref(fns);
    return out;
}

json_t *ferry_function_pod_spec(const json_t *spec, const ferry_function_node *node) {
    json_t *out = NULL;
    if (!json_is_object(spec) || node == NULL || (out = json_deep_copy(spec)) == NULL)
        return NULL;
    if (function__is_function_app(spec)) {
        const json_t *services = json_object_get(spec, "services");
        json_t *volumes = json_object_get(out, "volumes");
        json_t *containers = json_array();
        if (!json_is_array(volumes)) {
            if (json_object_set_new(out, "volumes", json_array()) != 0)
                goto fail;
            volumes = json_object_get(out, "volumes");
        }
        if (containers == NULL || json_object_set_new(out, "services", containers) != 0)
            goto fail;
        for (size_t i = 0; i < json_array_size(services); i++)
            if (json_array_append_new(
                    containers,
                    runtime_container(spec, json_array_get(services, i), i, node, volumes)) != 0)
                goto fail;
    }
    if (!add_gateway_env(json_object_get(out, "initServices"), node->gateway_url) ||
        !add_gateway_env(json_object_get(out, "services"), node->gateway_url))
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}
