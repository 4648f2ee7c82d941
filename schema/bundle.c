/* Secret bundles: the secret material of a wire document, split out and merged back (see
 * ferry/bundle.h). */
#include "ferry/bundle.h"

#include <string.h>

#include "ferry/base64.h"

/* Whether a file of a resolved config of this kind is secret material. */
static bool secret_file(const char *kind, const char *file) {
    return strcmp(kind, "secret") == 0 ||
           (strcmp(kind, "certificate") == 0 && strcmp(file, "tls.key") == 0);
}

/* "sha256:<hex>" of the bytes a base64 text decodes to. */
static ferry_err data_digest(const char *b64, size_t len, char digest[FERRY_SECRETS_DIGEST_LEN]) {
    unsigned char *raw = NULL;
    size_t n = 0;
    ferry_err err = ferry_base64_decode(b64, len, &raw, &n);
    if (err == FERRY_OK)
        ferry_secrets_digest(raw, n, digest);
    if (raw != NULL)
        ferry_secrets_wipe(raw, n);
    ferry_free(raw);
    return err;
}

ferry_err ferry_bundle_digest(const json_t *bundle, char digest[FERRY_SECRETS_DIGEST_LEN]) {
    char *text = json_dumps(bundle, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return FERRY_ENOMEM;
    ferry_secrets_digest(text, strlen(text), digest);
    ferry_secrets_wipe(text, strlen(text));
    ferry_free(text);
    return FERRY_OK;
}

ferry_err ferry_bundle_split(const json_t *wire, json_t **pub, json_t **bundle,
                             char digest[FERRY_SECRETS_DIGEST_LEN]) {
    json_t *p = json_deep_copy(wire), *b = json_pack("{s:{}, s:{}}", "configs", "registries");
    json_t *resolved = json_object_get(p, "resolved");
    const char *name, *file;
    json_t *cfg, *entry;
    bool any = false;
    ferry_err err = FERRY_ENOMEM;
    char d[FERRY_SECRETS_DIGEST_LEN];

    *pub = NULL;
    *bundle = NULL;
    digest[0] = '\0';
    if (p == NULL || b == NULL)
        goto out;
    json_object_foreach(json_object_get(resolved, "configs"), name, cfg) {
        const char *kind = json_string_value(json_object_get(cfg, "kind"));
        json_t *taken = json_object();
        if (kind == NULL || taken == NULL) {
            json_decref(taken);
            err = kind == NULL ? FERRY_EINVAL : FERRY_ENOMEM;
            goto out;
        }
        json_object_foreach(json_object_get(cfg, "files"), file, entry) {
            const json_t *data = json_object_get(entry, "data");
            if (!secret_file(kind, file) || !json_is_string(data))
                continue;
            if ((err = data_digest(json_string_value(data), json_string_length(data), d)) !=
                    FERRY_OK ||
                json_object_set(taken, file, (json_t *)data) != 0 ||
                json_object_set_new(entry, "digest", json_string(d)) != 0 ||
                json_object_del(entry, "data") != 0) {
                json_decref(taken);
                err = err != FERRY_OK ? err : FERRY_ENOMEM;
                goto out;
            }
        }
        if (json_object_size(taken) > 0) {
            any = true;
            if (json_object_set(json_object_get(b, "configs"), name, taken) != 0) {
                json_decref(taken);
                goto out;
            }
        }
        json_decref(taken);
    }
    size_t i;
    json_array_foreach(json_object_get(resolved, "registries"), i, entry) {
        const json_t *pw = json_object_get(entry, "password");
        const char *rname = json_string_value(json_object_get(entry, "name"));
        if (!json_is_string(pw) || rname == NULL)
            continue;
        ferry_secrets_digest(json_string_value(pw), json_string_length(pw), d);
        if (json_object_set(json_object_get(b, "registries"), rname, (json_t *)pw) != 0 ||
            json_object_set_new(entry, "passwordDigest", json_string(d)) != 0 ||
            json_object_del(entry, "password") != 0)
            goto out;
        any = true;
    }
    if (any) {
        if ((err = ferry_bundle_digest(b, digest)) != FERRY_OK ||
            json_object_set_new(resolved, "secrets", json_string(digest)) != 0) {
            err = err != FERRY_OK ? err : FERRY_ENOMEM;
            goto out;
        }
        *bundle = b;
        b = NULL;
    }
    *pub = p;
    p = NULL;
    err = FERRY_OK;
out:
    json_decref(p);
    json_decref(b);
    return err;
}

ferry_err ferry_bundle_merge(const json_t *pub, const json_t *bundle, json_t **full,
                             ferry_detail *d) {
    json_t *f = json_deep_copy(pub);
    json_t *resolved = json_object_get(f, "resolved");
    const char *want = json_string_value(json_object_get(resolved, "secrets"));
    const json_t *bconfigs = json_object_get(bundle, "configs");
    const json_t *bregs = json_object_get(bundle, "registries");
    const char *name, *file;
    json_t *cfg, *entry;
    size_t used = 0, offered = 0, i;
    char got[FERRY_SECRETS_DIGEST_LEN];
    ferry_err err = FERRY_ENOMEM;

    *full = NULL;
    if (f == NULL)
        goto out;
    err = FERRY_EINVAL;
    if (want == NULL) {
        /* No secret material on the wire: nothing to merge, and no placeholder may remain. */
        json_object_foreach(json_object_get(resolved, "configs"), name, cfg) {
            json_object_foreach(json_object_get(cfg, "files"), file, entry) {
                if (json_object_get(entry, "digest") != NULL) {
                    ferry_fail(d, err, "resolved.secrets", "is missing for file %s of %s", file,
                               name);
                    goto out;
                }
            }
        }
        json_array_foreach(json_object_get(resolved, "registries"), i, entry) {
            if (json_object_get(entry, "passwordDigest") != NULL) {
                ferry_fail(d, err, "resolved.secrets", "is missing for a registry password");
                goto out;
            }
        }
        *full = f;
        return FERRY_OK;
    }
    if (!json_is_object(bundle) || json_object_size(bundle) != 2 || !json_is_object(bconfigs) ||
        !json_is_object(bregs)) {
        ferry_fail(d, err, "bundle", "must be {configs, registries}");
        goto out;
    }
    if ((err = ferry_bundle_digest(bundle, got)) != FERRY_OK)
        goto out;
    err = FERRY_EINVAL;
    if (strcmp(got, want) != 0) {
        ferry_fail(d, err, "bundle", "is not the one the app names (%s, not %s)", got, want);
        goto out;
    }
    json_object_foreach((json_t *)bconfigs, name, cfg) offered += json_object_size(cfg);
    offered += json_object_size(bregs);
    json_object_foreach(json_object_get(resolved, "configs"), name, cfg) {
        json_object_foreach(json_object_get(cfg, "files"), file, entry) {
            const char *dg = json_string_value(json_object_get(entry, "digest"));
            const json_t *data = json_object_get(json_object_get(bconfigs, name), file);
            if (dg == NULL)
                continue;
            if (!json_is_string(data) ||
                data_digest(json_string_value(data), json_string_length(data), got) != FERRY_OK ||
                strcmp(got, dg) != 0) {
                ferry_fail(d, err, "bundle", "has no valid file %s of %s", file, name);
                goto out;
            }
            if (json_object_set(entry, "data", (json_t *)data) != 0 ||
                json_object_del(entry, "digest") != 0) {
                err = FERRY_ENOMEM;
                goto out;
            }
            used++;
        }
    }
    json_array_foreach(json_object_get(resolved, "registries"), i, entry) {
        const char *dg = json_string_value(json_object_get(entry, "passwordDigest"));
        const json_t *pw =
            json_object_get(bregs, json_string_value(json_object_get(entry, "name")));
        if (dg == NULL)
            continue;
        if (!json_is_string(pw) ||
            (ferry_secrets_digest(json_string_value(pw), json_string_length(pw), got),
             strcmp(got, dg) != 0)) {
            ferry_fail(d, err, "bundle", "has no valid password of registry %s",
                       json_string_value(json_object_get(entry, "name")));
            goto out;
        }
        if (json_object_set(entry, "password", (json_t *)pw) != 0 ||
            json_object_del(entry, "passwordDigest") != 0) {
            err = FERRY_ENOMEM;
            goto out;
        }
        used++;
    }
    if (used != offered) {
        ferry_fail(d, err, "bundle", "holds %zu values the app does not name", offered - used);
        goto out;
    }
    json_object_del(resolved, "secrets");
    *full = f;
    return FERRY_OK;
out:
    json_decref(f);
    return err;
}
