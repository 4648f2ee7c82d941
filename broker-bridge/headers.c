/* broker-bridge request headers: Authorization, Content-Type and Origin, judged (see headers.h). */
#include "headers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_spaces(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

bool ferry_headers_bearer(const char *value, const char **token, size_t *len) {
    static const char scheme[] = "bearer";

    if (value == NULL)
        return false;
    const char *p = skip_spaces(value);
    if (strncasecmp(p, scheme, sizeof(scheme) - 1) != 0 ||
        (p[sizeof(scheme) - 1] != ' ' && p[sizeof(scheme) - 1] != '\t'))
        return false;
    p = skip_spaces(p + sizeof(scheme) - 1);
    size_t n = 0;
    while (p[n] > ' ' && p[n] < 0x7f)
        n++;
    if (n == 0 || *skip_spaces(p + n) != '\0')
        return false;
    *token = p;
    *len = n;
    return true;
}

bool ferry_headers_json(const char *value) {
    static const char type[] = "application/json";
    static const char charset[] = "charset";

    if (value == NULL)
        return false;
    const char *p = skip_spaces(value);
    if (strncasecmp(p, type, sizeof(type) - 1) != 0)
        return false;
    p = skip_spaces(p + sizeof(type) - 1);
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    p = skip_spaces(p + 1);
    if (strncasecmp(p, charset, sizeof(charset) - 1) != 0)
        return false;
    p = skip_spaces(p + sizeof(charset) - 1);
    if (*p != '=')
        return false;
    p = skip_spaces(p + 1);
    bool quoted = *p == '"';
    p += quoted ? 1 : 0;
    if (strncasecmp(p, "utf-8", 5) != 0)
        return false;
    p += 5;
    if (quoted && *p++ != '"')
        return false;
    return *skip_spaces(p) == '\0';
}

bool ferry_headers_origin_normalize(const char *origin, char *out) {
    const char *sep = origin != NULL ? strstr(origin, "://") : NULL;
    bool tls;

    if (sep == NULL)
        return false;
    if (sep - origin == 4 && strncasecmp(origin, "http", 4) == 0)
        tls = false;
    else if (sep - origin == 5 && strncasecmp(origin, "https", 5) == 0)
        tls = true;
    else
        return false;
    const char *host = sep + 3, *end;
    if (host[0] == '[') { /* an IPv6 literal */
        end = strchr(host, ']');
        if (end == NULL || end == host + 1 ||
            strspn(host + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - host - 1))
            return false;
        end++;
    } else {
        end = host + strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789.-_");
        if (end == host)
            return false;
    }
    size_t hlen = (size_t)(end - host);
    long port = tls ? 443 : 80;
    if (*end == ':') {
        size_t digits = strspn(end + 1, "0123456789");
        if (digits == 0 || digits > 5 || end[1 + digits] != '\0')
            return false;
        port = strtol(end + 1, NULL, 10);
        if (port < 1 || port > 65535)
            return false;
    } else if (*end != '\0') {
        return false;
    }
    if (hlen > 255)
        return false;
    int n = snprintf(out, FERRY_ORIGIN_MAX, "%s://%.*s", tls ? "https" : "http", (int)hlen, host);
    if (port != (tls ? 443 : 80))
        snprintf(out + n, FERRY_ORIGIN_MAX - (size_t)n, ":%ld", port);
    for (char *p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return true;
}

bool ferry_headers_origin_allowed(const char *origin, bool tls, const char *host,
                                  const char (*allowed)[FERRY_ORIGIN_MAX], size_t n) {
    char got[FERRY_ORIGIN_MAX], own[FERRY_ORIGIN_MAX], self[FERRY_ORIGIN_MAX + 8];

    if (!ferry_headers_origin_normalize(origin, got))
        return false;
    if (host != NULL && strlen(host) < FERRY_ORIGIN_MAX) {
        snprintf(self, sizeof(self), "%s://%s", tls ? "https" : "http", host);
        if (ferry_headers_origin_normalize(self, own) && strcmp(own, got) == 0)
            return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(allowed[i], got) == 0)
            return true;
    }
    return false;
}
