/* Ferry config objects: validation of the four kinds, the files a node writes for them, and the
 * check of an app's server-filled "resolved" member against the app. */
#include "ferry/config.h"

#include <stdio.h>
#include <string.h>

#include "ferry/base64.h"
#include "ferry/labels.h"
#include "internal.h"

static const char *const CONFIG_KINDS[] = {"config", "secret", "certificate", "registry", NULL};
/* The kinds a volume can reference (registry objects are referenced by "registries"). */
static const char *const VOLUME_CONFIG_KINDS[] = {"config", "secret", "certificate", NULL};

static const char MSG_FILE[] =
    "must be a relative path of at most 253 characters: 1-8 names of [A-Za-z0-9._-] separated by "
    "single '/', none of them '.' or '..', no '/' at either end";
static const char MSG_SERVER[] = "must be host[:port] without a scheme or path, like "
                                 "\"registry.example.com\" or \"127.0.0.1:5000\"";

static bool file_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool ferry_config_file_name_valid(const char *s) {
    size_t n = s != NULL ? strlen(s) : 0;
    size_t seg = 0;
    size_t segs = 1;

    if (n == 0 || n > FERRY_CONFIG_MAX_FILE_NAME)
        return false;
    /* s[n] is the NUL that ends the last name. */
    for (size_t i = 0; i <= n; i++) {
        if (s[i] == '/' || s[i] == '\0') {
            if (seg == 0 || (seg == 1 && s[i - 1] == '.') ||
                (seg == 2 && s[i - 1] == '.' && s[i - 2] == '.'))
                return false;
            if (s[i] == '/' && ++segs > FERRY_CONFIG_MAX_FILE_DEPTH)
                return false;
            seg = 0;
        } else if (file_char(s[i])) {
            seg++;
        } else {
            return false;
        }
    }
    return true;
}

/* A file name that is also a folder of another name: the first folder of name (a valid file
 * name) that is a file of map or of sibling (either may be NULL), into folder; which map holds it
 * in *in_sibling. false when there is none. Allocates nothing. */
static bool file_is_folder(const char *name, const json_t *map, const json_t *sibling,
                           char folder[FERRY_CONFIG_MAX_FILE_NAME + 1], bool *in_sibling) {
    for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
        size_t n = (size_t)(p - name);
        if (n > FERRY_CONFIG_MAX_FILE_NAME)
            return false;
        memcpy(folder, name, n);
        folder[n] = '\0';
        *in_sibling = json_object_get(map, folder) == NULL;
        if (!*in_sibling || json_object_get(sibling, folder) != NULL)
            return true;
    }
    return false;
}

static bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A registry server: a host name or IPv4 address (dot-separated parts of letters, digits and
 * inner '-'), or an IPv6 address in brackets, then an optional ":port" (1-65535). */
static bool server_valid(const char *s) {
    size_t n = s != NULL ? strlen(s) : 0;
    size_t i = 0;
    if (n == 0 || n > 261)
        return false;
    if (s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!(host_char(s[i]) || s[i] == ':' || s[i] == '.'))
                return false;
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        size_t part = 0;
        for (; i < n && s[i] != ':'; i++) {
            if (s[i] == '.') {
                if (part == 0 || s[i - 1] == '-')
                    return false;
                part = 0;
            } else if (host_char(s[i]) || (s[i] == '-' && part > 0)) {
                if (++part > 63)
                    return false;
            } else {
                return false;
            }
        }
        if (part == 0 || s[i - 1] == '-' || i > 253)
            return false;
    }
    if (i == n)
        return true;
    if (s[i] != ':' || n - i - 1 == 0 || n - i - 1 > 5)
        return false;
    long port = 0;
    for (i++; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* A string that contains a PEM block: "-----BEGIN " and, after it, "-----END ". */
static bool pem_like(const char *s) {
    const char *b = s != NULL ? strstr(s, "-----BEGIN ") : NULL;
    return b != NULL && strstr(b + 11, "-----END ") != NULL;
}

/* A file map of a config object: data (text values) or binaryData (base64 values). Adds the
 * content bytes to *total and the file count to *count; sibling (may be NULL) is the other map,
 * named sibling_field: no name may be in both (checked from binaryData), and no name of either
 * may be a folder of a name of either. */
static ferry_err check_file_map(const json_t *map, const char *field, bool binary,
                                const json_t *sibling, const char *sibling_field, size_t *total,
                                size_t *count, ferry_detail *d) {
    const char *key;
    size_t klen;
    json_t *val;
    char f[192];
    char q[72];
    char folder[FERRY_CONFIG_MAX_FILE_NAME + 1];
    bool in_sibling = false;

    if (!json_is_object(map))
        return ferry_fail(d, FERRY_EINVAL, field, "must be an object mapping file names to %s",
                          binary ? "base64 strings" : "text");
    json_object_keylen_foreach((json_t *)map, key, klen, val) {
        if (strlen(key) != klen || !ferry_config_file_name_valid(key))
            return ferry_fail(d, FERRY_EINVAL, field, "file name '%s' %s",
                              validate__quote(key, q, sizeof(q)), MSG_FILE);
        snprintf(f, sizeof(f), "%s.%s", field, key);
        if (binary && json_object_get(sibling, key) != NULL)
            return ferry_fail(d, FERRY_EINVAL, f,
                              "file '%s' is also in %s (names are unique across data "
                              "and binaryData)",
                              key, sibling_field);
        if (file_is_folder(key, map, sibling, folder, &in_sibling))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "file '%s' is in folder '%s', which is also a file (%s.%s); a name "
                              "cannot be both a file and a folder",
                              key, folder, in_sibling ? sibling_field : field, folder);
        size_t len = 0;
        if (binary) {
            if (!json_is_string(val) ||
                !ferry_base64_valid(json_string_value(val), json_string_length(val), &len))
                return ferry_fail(d, FERRY_EINVAL, f,
                                  "must be a base64 string (standard alphabet, padded)");
        } else {
            if (validate__str(val) == NULL)
                return ferry_fail(d, FERRY_EINVAL, f,
                                  "must be a string without NUL characters (use binaryData for "
                                  "binary files)");
            len = json_string_length(val);
        }
        *total += len;
        if (++*count > FERRY_CONFIG_MAX_FILES)
            return ferry_fail(d, FERRY_EINVAL, field, "a config object holds at most %d files",
                              FERRY_CONFIG_MAX_FILES);
        if (*total > FERRY_CONFIG_MAX_DATA)
            return ferry_fail(d, FERRY_EINVAL, f,
                              "a config object holds at most %u bytes (1 MiB) of data",
                              FERRY_CONFIG_MAX_DATA);
    }
    return FERRY_OK;
}

static ferry_err check_certificate(const json_t *c, ferry_detail *d) {
    static const char *const fields[] = {"cert", "key", "ca", NULL};
    char f[64];
    size_t total = 0;
    ferry_err rc;

    if (!json_is_object(c))
        return ferry_fail(d, FERRY_EINVAL, "certificate", "must be an object {cert, key, ca}");
    if ((rc = validate__check_fields(c, "certificate", fields, NULL, d)) != FERRY_OK)
        return rc;
    for (size_t i = 0; fields[i] != NULL; i++) {
        const json_t *v = json_object_get(c, fields[i]);
        snprintf(f, sizeof(f), "certificate.%s", fields[i]);
        if (v == NULL && i < 2)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        if (v == NULL)
            continue;
        if (!pem_like(validate__str(v)))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be PEM text (a \"-----BEGIN ...-----\" to \"-----END "
                              "...-----\" block)");
        total += json_string_length(v);
    }
    if (total > FERRY_CONFIG_MAX_DATA)
        return ferry_fail(d, FERRY_EINVAL, "certificate",
                          "must hold at most %u bytes (1 MiB) of PEM text", FERRY_CONFIG_MAX_DATA);
    return FERRY_OK;
}

/* username and password: non-empty strings of at most FERRY_CONFIG_MAX_CREDENTIAL characters. */
static ferry_err check_credential(const json_t *obj, const char *path, const char *key,
                                  ferry_detail *d) {
    char f[192];
    const json_t *v = json_object_get(obj, key);
    snprintf(f, sizeof(f), "%s.%s", path, key);
    if (v == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    const char *s = validate__str(v);
    if (s == NULL || s[0] == '\0' || codec__utf8_chars(s) > FERRY_CONFIG_MAX_CREDENTIAL)
        return ferry_fail(d, FERRY_EINVAL, f, "must be a non-empty string of at most %d characters",
                          FERRY_CONFIG_MAX_CREDENTIAL);
    return FERRY_OK;
}

/* true when v is "sha256:" and 64 lowercase hex digits (ferry_secrets_digest's form). */
static bool digest_valid(const json_t *v) {
    const char *s = validate__str(v);
    if (s == NULL || strlen(s) != 71 || strncmp(s, "sha256:", 7) != 0)
        return false;
    for (size_t i = 7; i < 71; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

#define MSG_DIGEST "must be \"sha256:\" and 64 lowercase hex digits"

/* {server, username, password} (plus "name" when in_resolved) at path. */
static ferry_err check_registry(const json_t *r, const char *path, bool in_resolved,
                                ferry_detail *d) {
    static const char *const fields[] = {"server", "username", "password", NULL};
    static const char *const rfields[] = {"name",     "server",         "username",
                                          "password", "passwordDigest", NULL};
    char f[192];
    ferry_err rc;

    if (!json_is_object(r))
        return ferry_fail(d, FERRY_EINVAL, path, "must be an object {%sserver, username, password}",
                          in_resolved ? "name, " : "");
    if ((rc = validate__check_fields(r, path, in_resolved ? rfields : fields, NULL, d)) != FERRY_OK)
        return rc;
    if (in_resolved) {
        snprintf(f, sizeof(f), "%s.name", path);
        const json_t *n = json_object_get(r, "name");
        if (n == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        if (validate__str(n) == NULL || !ferry_name_valid(json_string_value(n)))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be the name of a registry object (a DNS label)");
    }
    snprintf(f, sizeof(f), "%s.server", path);
    const json_t *server = json_object_get(r, "server");
    if (server == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    if (!server_valid(validate__str(server)))
        return ferry_fail(d, FERRY_EINVAL, f, "%s", MSG_SERVER);
    if ((rc = check_credential(r, path, "username", d)) != FERRY_OK)
        return rc;
    /* On the wire (schema/PROTOCOL.md, "Trust") the password may stand as its digest; the
     * password itself then travels sealed to each node. */
    const json_t *pd = json_object_get(r, "passwordDigest");
    if (in_resolved && pd != NULL) {
        snprintf(f, sizeof(f), "%s.passwordDigest", path);
        if (json_object_get(r, "password") != NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "must not come with \"password\"");
        return digest_valid(pd) ? FERRY_OK : ferry_fail(d, FERRY_EINVAL, f, MSG_DIGEST);
    }
    return check_credential(r, path, "password", d);
}

ferry_err ferry_config_validate(const json_t *cfg, ferry_detail *d) {
    static const char *const fields[] = {"name",        "kind",     "data", "binaryData",
                                         "certificate", "registry", NULL};
    static const char *const ignored[] = {"namespace", "version", "createdAt",
                                          "updatedAt", "digests", NULL};
    /* member -> the kinds it belongs to */
    static const struct {
        const char *member;
        const char *kinds[3];
    } owners[] = {{"data", {"config", "secret", NULL}},
                  {"binaryData", {"config", NULL, NULL}},
                  {"certificate", {"certificate", NULL, NULL}},
                  {"registry", {"registry", NULL, NULL}}};
    size_t total = 0;
    size_t count = 0;
    ferry_err rc;
    const json_t *v;

    if (!json_is_object(cfg))
        return ferry_fail(d, FERRY_EINVAL, "config", "must be a JSON object");
    if ((rc = validate__check_fields(cfg, "", fields, ignored, d)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(cfg, "name")) == NULL)
        return ferry_fail(d, FERRY_EINVAL, "name", "is required");
    if (validate__str(v) == NULL || !ferry_name_valid(json_string_value(v)))
        return ferry_fail(d, FERRY_EINVAL, "name",
                          "must be a DNS label: 1-63 lowercase letters, digits or '-', starting "
                          "and ending with a letter or digit");
    if ((v = json_object_get(cfg, "kind")) == NULL)
        return ferry_fail(d, FERRY_EINVAL, "kind", "is required");
    const char *kind = validate__str(v);
    if (kind == NULL || !validate__key_in(kind, CONFIG_KINDS))
        return ferry_fail(d, FERRY_EINVAL, "kind",
                          "must be \"config\", \"secret\", \"certificate\" or \"registry\"");
    for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
        if (json_object_get(cfg, owners[i].member) == NULL)
            continue;
        bool ok = false;
        for (size_t k = 0; k < 3 && owners[i].kinds[k] != NULL; k++)
            ok = ok || strcmp(owners[i].kinds[k], kind) == 0;
        if (!ok)
            return ferry_fail(d, FERRY_EINVAL, owners[i].member, "is not allowed for kind %s",
                              kind);
    }
    if ((v = json_object_get(cfg, "data")) != NULL &&
        (rc = check_file_map(v, "data", false, json_object_get(cfg, "binaryData"), "binaryData",
                             &total, &count, d)) != FERRY_OK)
        return rc;
    if ((v = json_object_get(cfg, "binaryData")) != NULL &&
        (rc = check_file_map(v, "binaryData", true, json_object_get(cfg, "data"), "data", &total,
                             &count, d)) != FERRY_OK)
        return rc;
    if (strcmp(kind, "certificate") == 0) {
        if ((v = json_object_get(cfg, "certificate")) == NULL)
            return ferry_fail(d, FERRY_EINVAL, "certificate", "is required for kind certificate");
        return check_certificate(v, d);
    }
    if (strcmp(kind, "registry") == 0) {
        if ((v = json_object_get(cfg, "registry")) == NULL)
            return ferry_fail(d, FERRY_EINVAL, "registry", "is required for kind registry");
        return check_registry(v, "registry", false, d);
    }
    return FERRY_OK;
}

/* ---- files ----------------------------------------------------------------------------------- */

/* files[name] = {"data": base64 of bytes, "mode": mode}. */
static bool add_file(json_t *files, const char *name, const void *bytes, size_t len, int mode) {
    size_t blen = 0;
    char *b64 = ferry_base64_encode(bytes, len, &blen);
    json_t *entry = b64 != NULL ? json_pack("{s:s%, s:i}", "data", b64, blen, "mode", mode) : NULL;
    ferry_free(b64);
    return entry != NULL && json_object_set_new(files, name, entry) == 0;
}

ferry_err ferry_config_files(const json_t *cfg, json_t **files) {
    json_t *out = NULL;
    const char *key;
    json_t *val;
    ferry_err rc = FERRY_ENOMEM;

    if (files != NULL)
        *files = NULL;
    const char *kind = json_string_value(json_object_get(cfg, "kind"));
    if (files == NULL || kind == NULL || strcmp(kind, "registry") == 0 ||
        !validate__key_in(kind, CONFIG_KINDS))
        return FERRY_EINVAL;
    if ((out = json_object()) == NULL)
        goto out;
    if (strcmp(kind, "certificate") == 0) {
        static const char *const members[] = {"cert", "key", "ca"};
        static const char *const names[] = {"tls.crt", "tls.key", "ca.crt"};
        const json_t *c = json_object_get(cfg, "certificate");
        for (size_t i = 0; i < 3; i++) {
            const json_t *v = json_object_get(c, members[i]);
            if (v == NULL && i == 2)
                continue;
            if (!json_is_string(v)) {
                rc = FERRY_EINVAL;
                goto out;
            }
            if (!add_file(out, names[i], json_string_value(v), json_string_length(v),
                          i == 1 ? FERRY_CONFIG_MODE_SECRET : FERRY_CONFIG_MODE_PUBLIC))
                goto out;
        }
    } else {
        int mode =
            strcmp(kind, "secret") == 0 ? FERRY_CONFIG_MODE_SECRET : FERRY_CONFIG_MODE_PUBLIC;
        json_object_foreach((json_t *)json_object_get(cfg, "data"), key, val) {
            if (!json_is_string(val)) {
                rc = FERRY_EINVAL;
                goto out;
            }
            if (!add_file(out, key, json_string_value(val), json_string_length(val), mode))
                goto out;
        }
        json_object_foreach((json_t *)json_object_get(cfg, "binaryData"), key, val) {
            /* already base64: keep the text after checking it is the canonical form */
            if (!json_is_string(val) ||
                !ferry_base64_valid(json_string_value(val), json_string_length(val), NULL)) {
                rc = FERRY_EINVAL;
                goto out;
            }
            json_t *entry = json_pack("{s:O, s:i}", "data", val, "mode", mode);
            if (entry == NULL || json_object_set_new(out, key, entry) != 0)
                goto out;
        }
    }
    *files = out;
    out = NULL;
    rc = FERRY_OK;
out:
    json_decref(out);
    return rc;
}

/* ---- resolved -------------------------------------------------------------------------------- */

/* resolved.configs.NAME = {kind, version, files}. */
static ferry_err check_resolved_config(const json_t *c, const char *path, ferry_detail *d) {
    static const char *const fields[] = {"kind", "version", "files", NULL};
    static const char *const ffields[] = {"data", "mode", "digest", NULL};
    const char *key;
    size_t klen;
    json_t *val;
    char f[192];
    char q[72];
    char folder[FERRY_CONFIG_MAX_FILE_NAME + 1];
    bool in_sibling = false;
    size_t total = 0;
    ferry_err rc;

    if (!json_is_object(c))
        return ferry_fail(d, FERRY_EINVAL, path, "must be an object {kind, version, files}");
    if ((rc = validate__check_fields(c, path, fields, NULL, d)) != FERRY_OK)
        return rc;
    const json_t *kind = json_object_get(c, "kind");
    const json_t *version = json_object_get(c, "version");
    const json_t *files = json_object_get(c, "files");
    ferry__path(f, sizeof(f), "%s.kind", path);
    if (kind == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    if (validate__str(kind) == NULL ||
        !validate__key_in(json_string_value(kind), VOLUME_CONFIG_KINDS))
        return ferry_fail(d, FERRY_EINVAL, f, "must be \"config\", \"secret\" or \"certificate\"");
    ferry__path(f, sizeof(f), "%s.version", path);
    if (version == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    if (!json_is_integer(version) || json_integer_value(version) < 1)
        return ferry_fail(d, FERRY_EINVAL, f, "must be a positive integer");
    ferry__path(f, sizeof(f), "%s.files", path);
    if (files == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    if (!json_is_object(files) || json_object_size(files) > FERRY_CONFIG_MAX_FILES)
        return ferry_fail(d, FERRY_EINVAL, f, "must be an object of at most %d files",
                          FERRY_CONFIG_MAX_FILES);
    json_object_keylen_foreach((json_t *)files, key, klen, val) {
        ferry__path(f, sizeof(f), "%s.files", path);
        if (strlen(key) != klen || !ferry_config_file_name_valid(key))
            return ferry_fail(d, FERRY_EINVAL, f, "file name '%s' %s",
                              validate__quote(key, q, sizeof(q)), MSG_FILE);
        ferry__path(f, sizeof(f), "%s.files.%s", path, key);
        if (file_is_folder(key, files, NULL, folder, &in_sibling))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "file '%s' is in folder '%s', which is also a file (files.%s); a "
                              "name cannot be both a file and a folder",
                              key, folder, folder);
        if (!json_is_object(val))
            return ferry_fail(d, FERRY_EINVAL, f, "must be an object {data, mode}");
        if ((rc = validate__check_fields(val, f, ffields, NULL, d)) != FERRY_OK)
            return rc;
        const json_t *data = json_object_get(val, "data");
        const json_t *mode = json_object_get(val, "mode");
        const json_t *digest = json_object_get(val, "digest");
        size_t len = 0;
        /* On the wire a secret file may stand as its digest (schema/PROTOCOL.md, "Trust"). */
        ferry__path(f, sizeof(f), "%s.files.%s.digest", path, key);
        if (digest != NULL && data != NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "must not come with \"data\"");
        if (digest != NULL && !digest_valid(digest))
            return ferry_fail(d, FERRY_EINVAL, f, MSG_DIGEST);
        ferry__path(f, sizeof(f), "%s.files.%s.data", path, key);
        if (data == NULL && digest == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        if (data != NULL && !json_is_string(data))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be a base64 string (standard alphabet, padded)");
        if (data != NULL &&
            !ferry_base64_valid(json_string_value(data), json_string_length(data), &len))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be a base64 string (standard alphabet, padded)");
        if ((total += len) > FERRY_CONFIG_MAX_DATA)
            return ferry_fail(d, FERRY_EINVAL, f, "a config holds at most %u bytes (1 MiB) of data",
                              FERRY_CONFIG_MAX_DATA);
        ferry__path(f, sizeof(f), "%s.files.%s.mode", path, key);
        if (mode == NULL)
            return ferry_fail(d, FERRY_EINVAL, f, "is required");
        if (!json_is_integer(mode) || json_integer_value(mode) < 0 ||
            json_integer_value(mode) > 0777)
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be an integer file mode between 0 and 0777 (511)");
    }
    return FERRY_OK;
}

/* The config object a volume references (NULL for hostPath, emptyDir or a malformed volume); its
 * kind in *kind. */
static const char *volume_ref(const json_t *vol, const char **kind) {
    for (size_t k = 0; VOLUME_CONFIG_KINDS[k] != NULL; k++) {
        const char *n = json_string_value(
            json_object_get(json_object_get(vol, VOLUME_CONFIG_KINDS[k]), "name"));
        if (n != NULL) {
            *kind = VOLUME_CONFIG_KINDS[k];
            return n;
        }
    }
    return NULL;
}

/* The kind with which a volume of app references the config object name, or NULL when none
 * does. */
static const char *referenced_kind(const json_t *app, const char *name) {
    const json_t *volumes = json_object_get(app, "volumes");
    const json_t *services = json_object_get(app, "services");
    const char *kind = NULL;
    for (size_t i = 0; i < json_array_size(volumes); i++) {
        const char *n = volume_ref(json_array_get(volumes, i), &kind);
        if (n != NULL && strcmp(n, name) == 0)
            return kind;
    }
    for (size_t i = 0; function__is_function_app(app) && i < json_array_size(services); i++) {
        const char *n =
            json_string_value(json_object_get(json_array_get(services, i), "functionConfig"));
        if (n != NULL && strcmp(n, name) == 0)
            return "config";
    }
    return NULL;
}

/* The index of the entry named name in resolved.registries, or -1. */
static long registry_entry(const json_t *regs, const char *name, size_t before) {
    for (size_t i = 0; i < json_array_size(regs) && i < before; i++) {
        const char *n = json_string_value(json_object_get(json_array_get(regs, i), "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return (long)i;
    }
    return -1;
}

/* Allocates nothing, so that a validation never fails for lack of memory. */
ferry_err config__check_resolved(const json_t *app, const json_t *resolved, ferry_detail *d) {
    static const char *const fields[] = {"configs", "registries", "secrets", NULL};
    const char *key;
    size_t klen;
    json_t *val;
    char f[192];
    char q[72];
    ferry_err rc;

    if (resolved != NULL && !json_is_object(resolved))
        return ferry_fail(d, FERRY_EINVAL, "resolved", "must be an object {configs, registries}");
    if (resolved != NULL &&
        (rc = validate__check_fields(resolved, "resolved", fields, NULL, d)) != FERRY_OK)
        return rc;
    const json_t *configs = json_object_get(resolved, "configs");
    const json_t *regs = json_object_get(resolved, "registries");
    if (configs != NULL && !json_is_object(configs))
        return ferry_fail(d, FERRY_EINVAL, "resolved.configs",
                          "must be an object mapping config names to {kind, version, files}");
    if (regs != NULL && !json_is_array(regs))
        return ferry_fail(d, FERRY_EINVAL, "resolved.registries",
                          "must be an array of {name, server, username, password}");
    const json_t *secrets = json_object_get(resolved, "secrets");
    if (secrets != NULL && !digest_valid(secrets))
        return ferry_fail(d, FERRY_EINVAL, "resolved.secrets", MSG_DIGEST);

    json_object_keylen_foreach((json_t *)configs, key, klen, val) {
        if (strlen(key) != klen || !ferry_name_valid(key))
            return ferry_fail(d, FERRY_EINVAL, "resolved.configs",
                              "key '%s' must be a config name (a DNS label)",
                              validate__quote(key, q, sizeof(q)));
        snprintf(f, sizeof(f), "resolved.configs.%s", key);
        if ((rc = check_resolved_config(val, f, d)) != FERRY_OK)
            return rc;
        const char *want = referenced_kind(app, key);
        if (want == NULL)
            return ferry_fail(d, FERRY_EINVAL, f,
                              "is not referenced by a volume or function service of the app");
        if (strcmp(json_string_value(json_object_get(val, "kind")), want) != 0) {
            snprintf(f, sizeof(f), "resolved.configs.%s.kind", key);
            return ferry_fail(d, FERRY_EINVAL, f, "must be \"%s\" (the kind of the app's volume)",
                              want);
        }
    }
    const json_t *volumes = json_object_get(app, "volumes");
    for (size_t i = 0; i < json_array_size(volumes); i++) {
        const char *kind = NULL;
        const char *n = volume_ref(json_array_get(volumes, i), &kind);
        if (n != NULL && json_object_get(configs, n) == NULL)
            return ferry_fail(d, FERRY_EINVAL, "resolved.configs",
                              "must hold the %s '%s' that volumes[%zu] references", kind, n, i);
    }
    const json_t *services = json_object_get(app, "services");
    for (size_t i = 0; function__is_function_app(app) && i < json_array_size(services); i++) {
        const char *n =
            json_string_value(json_object_get(json_array_get(services, i), "functionConfig"));
        if (n != NULL && json_object_get(configs, n) == NULL)
            return ferry_fail(d, FERRY_EINVAL, "resolved.configs",
                              "must hold the config '%s' that services[%zu].functionConfig "
                              "references",
                              n, i);
    }

    const json_t *names = json_object_get(app, "registries");
    for (size_t i = 0; i < json_array_size(regs); i++) {
        const json_t *r = json_array_get(regs, i);
        snprintf(f, sizeof(f), "resolved.registries[%zu]", i);
        if ((rc = check_registry(r, f, true, d)) != FERRY_OK)
            return rc;
        const char *n = json_string_value(json_object_get(r, "name"));
        snprintf(f, sizeof(f), "resolved.registries[%zu].name", i);
        bool listed = false;
        for (size_t k = 0; k < json_array_size(names); k++)
            listed = listed || strcmp(json_string_value(json_array_get(names, k)), n) == 0;
        if (!listed)
            return ferry_fail(d, FERRY_EINVAL, f, "'%s' is not in the app's registries", n);
        if (registry_entry(regs, n, i) >= 0)
            return ferry_fail(d, FERRY_EINVAL, f, "duplicate registry '%s'", n);
    }
    for (size_t k = 0; k < json_array_size(names); k++) {
        const char *n = json_string_value(json_array_get(names, k));
        if (registry_entry(regs, n, json_array_size(regs)) < 0)
            return ferry_fail(d, FERRY_EINVAL, "resolved.registries",
                              "must hold an entry for registry '%s' (registries[%zu])", n, k);
    }
    return FERRY_OK;
}
