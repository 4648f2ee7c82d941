/* Ferry schema validation helpers shared by the validators (labels.c, selector.c, config.c,
 * app.c): members of an object, strings without NUL, quoting untrusted text for messages. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

bool validate__key_in(const char *key, const char *const *set) {
    for (; *set != NULL; set++)
        if (strcmp(key, *set) == 0)
            return true;
    return false;
}

ferry_err validate__check_fields(const json_t *obj, const char *path, const char *const *allowed,
                                 const char *const *ignored, ferry_detail *d) {
    const char *key;
    size_t klen;
    json_t *val;
    char f[192];
    char q[72];

    json_object_keylen_foreach((json_t *)obj, key, klen, val) {
        (void)val;
        if (strlen(key) == klen &&
            (validate__key_in(key, allowed) || (ignored != NULL && validate__key_in(key, ignored))))
            continue;
        snprintf(f, sizeof(f), "%s%s%s", path, path[0] != '\0' ? "." : "",
                 validate__quote(key, q, sizeof(q)));
        return ferry_fail(d, FERRY_EINVAL, f, "unknown field");
    }
    return FERRY_OK;
}

const char *validate__str(const json_t *v) {
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

const char *validate__quote(const char *s, char *buf, size_t cap) {
    size_t o = 0;
    for (; s != NULL && *s != '\0' && o + 4 < cap; s++)
        buf[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf[o] = '\0';
    if (s != NULL && *s != '\0' && o + 4 >= cap) {
        common__utf8_trim(buf);
        strcat(buf, "...");
    }
    return buf;
}
