/* Ferry application model: validation of apps, nodes and labels, defaults, selector matching. */
#include "ferry/app.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"

#define APP_MAX_SERVICES 64
#define APP_MAX_REPLICAS 64
#define APP_MAX_LABELS 64
#define APP_MAX_DESCRIPTION 1024
#define APP_MAX_IMAGE 512
#define APP_MAX_ARGV 256
#define APP_MAX_ENV 1024
#define APP_MAX_ENV_NAME 256

static const char MSG_DNS[] = "must be a DNS label: 1-63 lowercase letters, digits or '-', "
                              "starting and ending with a letter or digit";
static const char MSG_PORT[] = "must be an integer between 1 and 65535";

/* ---- names and labels -------------------------------------------------------------------------
 */

static bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c) {
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool dns_label(const char *s, size_t n) {
    if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool ferry_name_valid(const char *name) {
    return name != NULL && dns_label(name, strnlen(name, 64));
}

/* Kubernetes DNS-1123 subdomain: dot-separated parts of [a-z0-9-] that start and end with an
 * alphanumeric, at most 253 characters in all. */
static bool dns_subdomain(const char *s, size_t n) {
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_lower_alnum(s[i]) && s[i] != '-')
                return false;
            continue;
        }
        if (i == start || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
            return false;
        start = i + 1;
    }
    return true;
}

/* The "name" part of a label key, and a non-empty label value: 1-63 of [A-Za-z0-9-_.] starting
 * and ending with an alphanumeric. */
static bool label_word(const char *s, size_t n) {
    if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool app__label_key_valid(const char *key, size_t len) {
    if (key == NULL)
        return false;
    const char *slash = memchr(key, '/', len);
    if (slash == NULL)
        return label_word(key, len);
    size_t plen = (size_t)(slash - key);
    return dns_subdomain(key, plen) && label_word(slash + 1, len - plen - 1);
}

bool app__label_value_valid(const char *value, size_t len) {
    return value != NULL && (len == 0 || label_word(value, len));
}

/* ---- errors -----------------------------------------------------------------------------------
 */

/* Drop an incomplete UTF-8 sequence that truncation left at the end of s. */
static void utf8_trim(char *s) {
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0) {
        s[0] = '\0';
        return;
    }
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (n - (i - 1) < want)
        s[i - 1] = '\0';
}

ferry_err app__fail(ferry_verr *err, const char *field, const char *fmt, ...) {
    if (err == NULL)
        return FERRY_EINVAL;
    snprintf(err->field, sizeof(err->field), "%s", field != NULL ? field : "");
    utf8_trim(err->field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    utf8_trim(err->message);
    return FERRY_EINVAL;
}

/* A short, printable rendering of an untrusted string for error messages. */
static const char *quote(const char *s, char *buf, size_t cap) {
    size_t o = 0;
    for (; s != NULL && *s != '\0' && o + 4 < cap; s++)
        buf[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf[o] = '\0';
    if (s != NULL && *s != '\0' && o + 4 >= cap) {
        utf8_trim(buf);
        strcat(buf, "...");
    }
    return buf;
}

ferry_err ferry_labels_validate(const json_t *labels, const char *field, ferry_verr *err) {
    const char *key;
    size_t klen;
    json_t *val;
    char q[72];

    if (field == NULL)
        field = "labels";
    if (!json_is_object(labels))
        return app__fail(err, field, "must be an object mapping label keys to string values");
    if (json_object_size(labels) > APP_MAX_LABELS)
        return app__fail(err, field, "must hold at most %d labels", APP_MAX_LABELS);
    json_object_keylen_foreach((json_t *)labels, key, klen, val) {
        if (strlen(key) != klen || !app__label_key_valid(key, klen))
            return app__fail(err, field,
                             "key '%s' must be an optional DNS subdomain prefix and '/', then 1-63 "
                             "characters [A-Za-z0-9-_.] starting and ending with a letter or digit",
                             quote(key, q, sizeof(q)));
        if (!json_is_string(val))
            return app__fail(err, field, "value of '%s' must be a string",
                             quote(key, q, sizeof(q)));
        const char *s = json_string_value(val);
        size_t n = json_string_length(val);
        if (strlen(s) != n || !app__label_value_valid(s, n))
            return app__fail(err, field,
                             "value of '%s' must be empty or 1-63 characters [A-Za-z0-9-_.] "
                             "starting and ending with a letter or digit",
                             quote(key, q, sizeof(q)));
    }
    return FERRY_OK;
}

/* ---- app validation ---------------------------------------------------------------------------
 */

static bool key_in(const char *key, const char *const *set) {
    for (; *set != NULL; set++)
        if (strcmp(key, *set) == 0)
            return true;
    return false;
}

/* Reject members of obj not in allowed (nor in ignored); path is the object's field path. */
static ferry_err check_fields(const json_t *obj, const char *path, const char *const *allowed,
                              const char *const *ignored, ferry_verr *err) {
    const char *key;
    size_t klen;
    json_t *val;
    char f[192];
    char q[72];

    json_object_keylen_foreach((json_t *)obj, key, klen, val) {
        (void)val;
        if (strlen(key) == klen &&
            (key_in(key, allowed) || (ignored != NULL && key_in(key, ignored))))
            continue;
        snprintf(f, sizeof(f), "%s%s%s", path, path[0] != '\0' ? "." : "",
                 quote(key, q, sizeof(q)));
        return app__fail(err, f, "unknown field");
    }
    return FERRY_OK;
}

/* A JSON string without NUL bytes (jansson strings may hold NUL; C consumers would cut them). */
static const char *str_of(const json_t *v) {
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

static bool int_in(const json_t *v, json_int_t lo, json_int_t hi) {
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
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

static ferry_err check_argv(const json_t *v, const char *path, ferry_verr *err) {
    char f[192];
    if (!json_is_array(v) || json_array_size(v) > APP_MAX_ARGV)
        return app__fail(err, path, "must be an array of at most %d strings", APP_MAX_ARGV);
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (str_of(json_array_get(v, i)) == NULL) {
            snprintf(f, sizeof(f), "%s[%zu]", path, i);
            return app__fail(err, f, "must be a string");
        }
    }
    return FERRY_OK;
}

static ferry_err check_env(const json_t *env, const char *path, ferry_verr *err) {
    static const char *const fields[] = {"name", "value", NULL};
    char f[192];
    char q[72];
    ferry_err rc;

    if (!json_is_array(env) || json_array_size(env) > APP_MAX_ENV)
        return app__fail(err, path, "must be an array of at most %d {name, value} objects",
                         APP_MAX_ENV);
    for (size_t j = 0; j < json_array_size(env); j++) {
        const json_t *e = json_array_get(env, j);
        snprintf(f, sizeof(f), "%s[%zu]", path, j);
        if (!json_is_object(e))
            return app__fail(err, f, "must be an object");
        if ((rc = check_fields(e, f, fields, NULL, err)) != FERRY_OK)
            return rc;
        const json_t *name = json_object_get(e, "name");
        const json_t *value = json_object_get(e, "value");
        snprintf(f, sizeof(f), "%s[%zu].name", path, j);
        if (name == NULL)
            return app__fail(err, f, "is required");
        const char *s = str_of(name);
        if (s == NULL || !env_name_valid(s))
            return app__fail(err, f,
                             "must be 1-%d characters: a letter or '_', then letters, digits, '_', "
                             "'.' or '-'",
                             APP_MAX_ENV_NAME);
        for (size_t k = 0; k < j; k++) {
            if (strcmp(s, json_string_value(json_object_get(json_array_get(env, k), "name"))) == 0)
                return app__fail(err, f, "duplicate env name '%s'", quote(s, q, sizeof(q)));
        }
        if (value != NULL && str_of(value) == NULL) {
            snprintf(f, sizeof(f), "%s[%zu].value", path, j);
            return app__fail(err, f, "must be a string");
        }
    }
    return FERRY_OK;
}

static const char *port_protocol(const json_t *port) {
    const char *p = json_string_value(json_object_get(port, "protocol"));
    return p != NULL ? p : "TCP";
}

static ferry_err check_ports(const json_t *ports, const char *path, ferry_verr *err) {
    static const char *const fields[] = {"containerPort", "hostPort", "protocol", NULL};
    char f[192];
    ferry_err rc;

    if (!json_is_array(ports))
        return app__fail(err, path, "must be an array of port objects");
    for (size_t j = 0; j < json_array_size(ports); j++) {
        const json_t *p = json_array_get(ports, j);
        snprintf(f, sizeof(f), "%s[%zu]", path, j);
        if (!json_is_object(p))
            return app__fail(err, f, "must be an object");
        if ((rc = check_fields(p, f, fields, NULL, err)) != FERRY_OK)
            return rc;
        const json_t *cp = json_object_get(p, "containerPort");
        const json_t *hp = json_object_get(p, "hostPort");
        const json_t *proto = json_object_get(p, "protocol");
        snprintf(f, sizeof(f), "%s[%zu].containerPort", path, j);
        if (cp == NULL)
            return app__fail(err, f, "is required");
        if (!int_in(cp, 1, 65535))
            return app__fail(err, f, MSG_PORT);
        snprintf(f, sizeof(f), "%s[%zu].hostPort", path, j);
        if (hp != NULL && !int_in(hp, 1, 65535))
            return app__fail(err, f, MSG_PORT);
        snprintf(f, sizeof(f), "%s[%zu].protocol", path, j);
        const char *ps = str_of(proto);
        if (proto != NULL && (ps == NULL || (strcmp(ps, "TCP") != 0 && strcmp(ps, "UDP") != 0)))
            return app__fail(err, f, "must be \"TCP\" or \"UDP\"");
    }
    return FERRY_OK;
}

static ferry_err check_service(const json_t *services, size_t i, ferry_verr *err) {
    static const char *const fields[] = {"name", "command", "args", "env", "image", "ports", NULL};
    const json_t *svc = json_array_get(services, i);
    char path[32];
    char sub[48]; /* "services[63].command" */
    char f[192];
    char q[72];
    ferry_err rc;

    snprintf(path, sizeof(path), "services[%zu]", i);
    if (!json_is_object(svc))
        return app__fail(err, path, "must be an object");
    if ((rc = check_fields(svc, path, fields, NULL, err)) != FERRY_OK)
        return rc;

    const json_t *name = json_object_get(svc, "name");
    snprintf(f, sizeof(f), "%s.name", path);
    if (name == NULL)
        return app__fail(err, f, "is required");
    const char *s = str_of(name);
    if (s == NULL || !ferry_name_valid(s))
        return app__fail(err, f, MSG_DNS);
    for (size_t k = 0; k < i; k++) {
        if (strcmp(s, json_string_value(json_object_get(json_array_get(services, k), "name"))) == 0)
            return app__fail(err, f, "duplicate service name '%s'", quote(s, q, sizeof(q)));
    }

    const json_t *image = json_object_get(svc, "image");
    snprintf(f, sizeof(f), "%s.image", path);
    if (image == NULL)
        return app__fail(err, f, "is required");
    const char *im = str_of(image);
    size_t imlen = im != NULL ? strlen(im) : 0;
    bool im_ok = imlen > 0 && imlen <= APP_MAX_IMAGE;
    for (size_t k = 0; im_ok && k < imlen; k++)
        im_ok = im[k] > ' ' && im[k] < 0x7f;
    if (!im_ok)
        return app__fail(err, f,
                         "must be 1-%d printable ASCII characters without whitespace (an image "
                         "reference)",
                         APP_MAX_IMAGE);

    const json_t *v;
    snprintf(sub, sizeof(sub), "%s.command", path);
    if ((v = json_object_get(svc, "command")) != NULL && (rc = check_argv(v, sub, err)) != FERRY_OK)
        return rc;
    snprintf(sub, sizeof(sub), "%s.args", path);
    if ((v = json_object_get(svc, "args")) != NULL && (rc = check_argv(v, sub, err)) != FERRY_OK)
        return rc;
    snprintf(sub, sizeof(sub), "%s.env", path);
    if ((v = json_object_get(svc, "env")) != NULL && (rc = check_env(v, sub, err)) != FERRY_OK)
        return rc;
    snprintf(sub, sizeof(sub), "%s.ports", path);
    if ((v = json_object_get(svc, "ports")) != NULL && (rc = check_ports(v, sub, err)) != FERRY_OK)
        return rc;
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
 * protocol keeps this linear without allocating; the owner is looked up only to word the error. */
static ferry_err check_port_clashes(const json_t *services, json_int_t replicas, ferry_verr *err) {
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
                return app__fail(err, f,
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
            if (replicas > 1)
                return app__fail(err, f,
                                 "must not be set when replicas > 1 (the replicas would clash on "
                                 "the host port)");
            mask = (uint8_t)(1u << (hp & 7));
            if (hbits[pi][hp >> 3] & mask)
                return app__fail(err, f, "hostPort %lld/%s is already used by service '%s'",
                                 (long long)hp, proto,
                                 port_owner(services, i, j, "hostPort", hp, proto));
            hbits[pi][hp >> 3] |= mask;
        }
    }
    return FERRY_OK;
}

ferry_err ferry_app_validate(const json_t *app, ferry_verr *err) {
    static const char *const fields[] = {"name",     "description", "labels", "selector",
                                         "services", "replicas",    NULL};
    static const char *const ignored[] = {"namespace", "version",     "createdAt",
                                          "updatedAt", "deployState", NULL};
    static const char *const sel_fields[] = {"matchLabels", NULL};
    ferry_err rc;
    const json_t *v;

    if (!json_is_object(app))
        return app__fail(err, "app", "must be a JSON object");
    if ((rc = check_fields(app, "", fields, ignored, err)) != FERRY_OK)
        return rc;

    if ((v = json_object_get(app, "name")) == NULL)
        return app__fail(err, "name", "is required");
    if (str_of(v) == NULL || !ferry_name_valid(json_string_value(v)))
        return app__fail(err, "name", MSG_DNS);

    if ((v = json_object_get(app, "description")) != NULL &&
        (str_of(v) == NULL || codec__utf8_chars(json_string_value(v)) > APP_MAX_DESCRIPTION))
        return app__fail(err, "description", "must be a string of at most %d characters",
                         APP_MAX_DESCRIPTION);

    if ((v = json_object_get(app, "labels")) != NULL &&
        (rc = ferry_labels_validate(v, "labels", err)) != FERRY_OK)
        return rc;

    if ((v = json_object_get(app, "selector")) != NULL) {
        if (!json_is_object(v))
            return app__fail(err, "selector", "must be an object");
        if ((rc = check_fields(v, "selector", sel_fields, NULL, err)) != FERRY_OK)
            return rc;
        const json_t *ml = json_object_get(v, "matchLabels");
        if (ml != NULL && (rc = ferry_labels_validate(ml, "selector.matchLabels", err)) != FERRY_OK)
            return rc;
    }

    const json_t *services = json_object_get(app, "services");
    if (services == NULL)
        return app__fail(err, "services", "is required");
    if (!json_is_array(services) || json_array_size(services) == 0 ||
        json_array_size(services) > APP_MAX_SERVICES)
        return app__fail(err, "services", "must be a non-empty array of at most %d services",
                         APP_MAX_SERVICES);
    for (size_t i = 0; i < json_array_size(services); i++)
        if ((rc = check_service(services, i, err)) != FERRY_OK)
            return rc;

    json_int_t replicas = 1;
    if ((v = json_object_get(app, "replicas")) != NULL) {
        if (!int_in(v, 1, APP_MAX_REPLICAS))
            return app__fail(err, "replicas", "must be an integer between 1 and %d",
                             APP_MAX_REPLICAS);
        replicas = json_integer_value(v);
    }
    return check_port_clashes(services, replicas, err);
}

/* ---- normalization ----------------------------------------------------------------------------
 */

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

static json_t *normalize_service(const json_t *svc) {
    json_t *out = json_object();
    json_t *env = json_array();
    json_t *ports = json_array();
    const json_t *src;
    bool ok = out != NULL && env != NULL && ports != NULL;

    ok = ok && put(out, "name", copy_or(json_object_get(svc, "name"), empty_string));
    ok = ok && put(out, "image", copy_or(json_object_get(svc, "image"), empty_string));
    ok = ok && put(out, "command", copy_or(json_object_get(svc, "command"), json_array));
    ok = ok && put(out, "args", copy_or(json_object_get(svc, "args"), json_array));
    src = json_object_get(svc, "env");
    for (size_t i = 0; ok && i < json_array_size(src); i++) {
        const json_t *e = json_array_get(src, i);
        json_t *ne = json_object();
        ok = json_array_append_new(env, ne) == 0 && ne != NULL &&
             put(ne, "name", copy_or(json_object_get(e, "name"), empty_string)) &&
             put(ne, "value", copy_or(json_object_get(e, "value"), empty_string));
    }
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
    ok = ok && json_object_set(out, "ports", ports) == 0;
    json_decref(env);
    json_decref(ports);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *ferry_app_normalize(const json_t *app) {
    json_t *out = NULL;
    json_t *sel = NULL;
    json_t *services = NULL;
    const json_t *v;

    if (!json_is_object(app))
        return NULL;
    if ((out = json_object()) == NULL || (sel = json_object()) == NULL ||
        (services = json_array()) == NULL)
        goto fail;
    if (!put(out, "name", copy_or(json_object_get(app, "name"), empty_string)) ||
        !put(out, "description", copy_or(json_object_get(app, "description"), empty_string)) ||
        !put(out, "labels", copy_or(json_object_get(app, "labels"), json_object)))
        goto fail;
    v = json_object_get(json_object_get(app, "selector"), "matchLabels");
    if (!put(sel, "matchLabels", copy_or(v, json_object)) || json_object_set(out, "selector", sel))
        goto fail;
    v = json_object_get(app, "services");
    for (size_t i = 0; i < json_array_size(v); i++)
        if (json_array_append_new(services, normalize_service(json_array_get(v, i))) != 0)
            goto fail;
    if (json_object_set(out, "services", services) != 0)
        goto fail;
    v = json_object_get(app, "replicas");
    if (!put(out, "replicas", v != NULL ? json_deep_copy(v) : json_integer(1)))
        goto fail;
    json_decref(sel);
    json_decref(services);
    return out;
fail:
    json_decref(sel);
    json_decref(services);
    json_decref(out);
    return NULL;
}

/* ---- nodes and selectors ----------------------------------------------------------------------
 */

ferry_err ferry_node_validate(const json_t *node, ferry_verr *err) {
    static const char *const fields[] = {"name", "labels", NULL};
    static const char *const ignored[] = {"namespace", "createdAt", "updatedAt",
                                          "online",    "rev",       NULL};
    ferry_err rc;
    const json_t *v;

    if (!json_is_object(node))
        return app__fail(err, "node", "must be a JSON object");
    if ((rc = check_fields(node, "", fields, ignored, err)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(node, "name")) == NULL)
        return app__fail(err, "name", "is required");
    if (str_of(v) == NULL || !ferry_name_valid(json_string_value(v)))
        return app__fail(err, "name", MSG_DNS);
    if ((v = json_object_get(node, "labels")) != NULL)
        return ferry_labels_validate(v, "labels", err);
    return FERRY_OK;
}

bool ferry_selector_matches(const json_t *selector, const json_t *labels) {
    const char *key;
    json_t *want;

    if (selector == NULL || json_is_null(selector))
        return true;
    if (!json_is_object(selector))
        return false;
    const json_t *ml = json_object_get(selector, "matchLabels");
    if (ml == NULL || json_is_null(ml))
        return true;
    if (!json_is_object(ml))
        return false;
    json_object_foreach((json_t *)ml, key, want) {
        const json_t *have = json_is_object(labels) ? json_object_get(labels, key) : NULL;
        if (!json_is_string(want) || !json_is_string(have) || !json_equal(want, have))
            return false;
    }
    return true;
}

bool ferry_selector_topic_label(const json_t *selector, const char **key, const char **value) {
    const char *k;
    const char *best = NULL;
    json_t *v;
    json_t *bestv = NULL;

    const json_t *ml = json_object_get(selector, "matchLabels");
    if (!json_is_object(ml))
        return false;
    json_object_foreach((json_t *)ml, k, v) {
        if (best == NULL || strcmp(k, best) < 0) {
            best = k;
            bestv = v;
        }
    }
    if (best == NULL || !json_is_string(bestv))
        return false;
    if (key != NULL)
        *key = best;
    if (value != NULL)
        *value = json_string_value(bestv);
    return true;
}
