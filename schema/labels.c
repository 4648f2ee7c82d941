/* Ferry names and labels: the DNS-label rule for the names of apps, nodes, namespaces and config
 * objects, and Kubernetes label maps (keys and values). */
#include "ferry/labels.h"

#include <string.h>

#include "internal.h"

#define LABELS_MAX 64 /* labels in one map */

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

bool labels__key_valid(const char *key, size_t len) {
    if (key == NULL)
        return false;
    const char *slash = memchr(key, '/', len);
    if (slash == NULL)
        return label_word(key, len);
    size_t plen = (size_t)(slash - key);
    return dns_subdomain(key, plen) && label_word(slash + 1, len - plen - 1);
}

bool labels__value_valid(const char *value, size_t len) {
    return value != NULL && (len == 0 || label_word(value, len));
}

ferry_err ferry_labels_validate(const json_t *labels, const char *field, ferry_detail *d) {
    const char *key;
    size_t klen;
    json_t *val;
    char q[72];

    if (field == NULL)
        field = "labels";
    if (!json_is_object(labels))
        return ferry_fail(d, FERRY_EINVAL, field,
                          "must be an object mapping label keys to string values");
    if (json_object_size(labels) > LABELS_MAX)
        return ferry_fail(d, FERRY_EINVAL, field, "must hold at most %d labels", LABELS_MAX);
    json_object_keylen_foreach((json_t *)labels, key, klen, val) {
        if (strlen(key) != klen || !labels__key_valid(key, klen))
            return ferry_fail(
                d, FERRY_EINVAL, field,
                "key '%s' must be an optional DNS subdomain prefix and '/', then 1-63 "
                "characters [A-Za-z0-9-_.] starting and ending with a letter or digit",
                validate__quote(key, q, sizeof(q)));
        if (!json_is_string(val))
            return ferry_fail(d, FERRY_EINVAL, field, "value of '%s' must be a string",
                              validate__quote(key, q, sizeof(q)));
        const char *s = json_string_value(val);
        size_t n = json_string_length(val);
        if (strlen(s) != n || !labels__value_valid(s, n))
            return ferry_fail(d, FERRY_EINVAL, field,
                              "value of '%s' must be empty or 1-63 characters [A-Za-z0-9-_.] "
                              "starting and ending with a letter or digit",
                              validate__quote(key, q, sizeof(q)));
    }
    return FERRY_OK;
}
