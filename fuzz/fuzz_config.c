/* libFuzzer target: a config object as the body of POST/PUT .../configs (JSON), through
 * ferry_config_validate, and the files a node writes for it (ferry_config_files), which must not
 * crash on what validation refused either. For a valid object: exactly the files the kind
 * defines, each name a relative path that stays below the volume's folder and is not a folder of
 * another name, each data canonical base64 that decodes to
 * exactly what the object holds (the text of data, the bytes of binaryData, the PEM of
 * certificate), mode 0600 for secrets and tls.key and 0644 otherwise, the total within
 * FERRY_CONFIG_MAX_DATA; and an app that mounts it, with these files as its resolved member,
 * passes the node's check (ferry_app_validate_ex with FERRY_APP_ALLOW_RESOLVED) and the
 * protocol. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/app.h"
#include "ferry/base64.h"
#include "ferry/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes the file `name` must hold (borrowed from cfg) into *bytes and *len, and its mode;
 * false when the kind defines no such file. */
static bool expected_file(const json_t *cfg, const char *kind, const char *name, const char **bytes,
                          size_t *len, int *mode) {
    const json_t *v = NULL;
    *mode = strcmp(kind, "secret") == 0 ? FERRY_CONFIG_MODE_SECRET : FERRY_CONFIG_MODE_PUBLIC;
    if (strcmp(kind, "certificate") == 0) {
        const json_t *c = json_object_get(cfg, "certificate");
        if (strcmp(name, "tls.crt") == 0)
            v = json_object_get(c, "cert");
        else if (strcmp(name, "tls.key") == 0)
            v = json_object_get(c, "key");
        else if (strcmp(name, "ca.crt") == 0)
            v = json_object_get(c, "ca");
        if (strcmp(name, "tls.key") == 0)
            *mode = FERRY_CONFIG_MODE_SECRET;
    } else if ((v = json_object_get(json_object_get(cfg, "data"), name)) == NULL) {
        /* binaryData: the file holds what its base64 says, and keeps that very text */
        v = json_object_get(json_object_get(cfg, "binaryData"), name);
        *bytes = NULL;
        *len = 0;
        return json_is_string(v);
    }
    if (!json_is_string(v))
        return false;
    *bytes = json_string_value(v);
    *len = json_string_length(v);
    return true;
}

/* The number of files the kind defines for cfg. */
static size_t expected_count(const json_t *cfg, const char *kind) {
    if (strcmp(kind, "certificate") == 0)
        return json_object_get(json_object_get(cfg, "certificate"), "ca") != NULL ? 3 : 2;
    return json_object_size(json_object_get(cfg, "data")) +
           json_object_size(json_object_get(cfg, "binaryData"));
}

/* An oracle of its own for the file name rule: a relative path with no empty, "." or ".."
 * name, so that it stays below the folder it is written in. */
static bool stays_below(const char *name) {
    const char *p = name;
    if (name[0] == '/')
        return false;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

/* true when a folder of name is itself a file of files (a node could not write both). */
static bool folder_is_file(const json_t *files, const char *name) {
    for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/'))
        if (json_object_getn(files, name, (size_t)(p - name)) != NULL)
            return true;
    return false;
}

static void check_files(const json_t *cfg, const char *kind, const json_t *files) {
    const char *name;
    json_t *f;
    size_t total = 0;

    if (json_object_size(files) != expected_count(cfg, kind) ||
        json_object_size(files) > FERRY_CONFIG_MAX_FILES)
        abort();
    json_object_foreach((json_t *)files, name, f) {
        const char *b64 = json_string_value(json_object_get(f, "data"));
        const json_t *mode = json_object_get(f, "mode");
        const char *want = NULL;
        size_t want_len = 0, len = 0;
        unsigned char *bytes = NULL;
        int want_mode = 0;
        char *again = NULL;

        if (!ferry_config_file_name_valid(name) || !stays_below(name) ||
            folder_is_file(files, name) || b64 == NULL || !json_is_integer(mode) ||
            !expected_file(cfg, kind, name, &want, &want_len, &want_mode) ||
            json_integer_value(mode) != want_mode ||
            ferry_base64_decode(b64, strlen(b64), &bytes, &len) != FERRY_OK)
            abort();
        /* canonical: the decoded bytes encode to the very same text */
        if ((again = ferry_base64_encode(bytes, len, NULL)) == NULL || strcmp(again, b64) != 0)
            abort();
        if (want != NULL && (len != want_len || memcmp(bytes, want, len) != 0))
            abort();
        if (want == NULL && strcmp(b64, json_string_value(json_object_get(
                                            json_object_get(cfg, "binaryData"), name))) != 0)
            abort();
        total += len;
        ferry_free(again);
        ferry_free(bytes);
    }
    if (total > FERRY_CONFIG_MAX_DATA)
        abort();
}

/* An app that mounts cfg as its only volume, with files as resolved: what a node receives. */
static void check_on_node(const json_t *cfg, const char *kind, json_t *files) {
    const char *name = json_string_value(json_object_get(cfg, "name"));
    ferry_detail d;
    json_t *app =
        json_pack("{s:s, s:[{s:s, s:{s:s}}], s:[{s:s, s:s, s:[{s:s, s:s}]}],"
                  " s:{s:{s:{s:s, s:i, s:O}}}}",
                  "name", "web", "volumes", "name", "v", kind, "name", name, "services", "name",
                  "a", "image", "i", "volumeMounts", "name", "v", "mountPath", "/v", "resolved",
                  "configs", name, "kind", kind, "version", 1, "files", files);
    if (app == NULL)
        abort();
    if (ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &d) != FERRY_OK) {
        dprintf(STDERR_FILENO, "the node refuses the files of a valid config: %s: %s\n", d.field,
                d.message);
        abort();
    }
    fuzz_protocol_accepts(json_pack("{s:s, s:s, s:s, s:i, s:O}", "type", FERRY_MSG_APP_PUT, "ns",
                                    "default", "app", "web", "version", 1, "spec", app),
                          "a valid config's files");
    json_decref(app);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *cfg = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *files = NULL;
    ferry_detail d;

    if (cfg == NULL)
        return 0;
    bool valid = ferry_config_validate(cfg, &d) == FERRY_OK;
    ferry_err rc = ferry_config_files(cfg, &files); /* must not crash on invalid input either */
    const char *kind = json_string_value(json_object_get(cfg, "kind"));
    if (!valid)
        goto out;
    if (strcmp(kind, "registry") == 0) {
        if (rc != FERRY_EINVAL || files != NULL)
            abort();
        goto out;
    }
    if (rc != FERRY_OK || files == NULL)
        abort();
    check_files(cfg, kind, files);
    check_on_node(cfg, kind, files);
out:
    json_decref(files);
    json_decref(cfg);
    return 0;
}
