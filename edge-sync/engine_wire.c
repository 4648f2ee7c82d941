/* edge-sync engine: the parts of talking to the engine that need no engine (engine_wire.h). */
#include "engine_wire.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* ---- response buffer ------------------------------------------------------------------------- */

void ferry_engine__resp_free(ferry_engine__resp *b) {
    ferry_free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
    b->overflow = b->nomem = false;
}

bool ferry_engine__resp_append(ferry_engine__resp *b, const char *p, size_t n, size_t cap) {
    if (n > cap - b->len) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 > b->alloc) {
        size_t want = b->alloc ? b->alloc : 4096;
        while (want < b->len + n + 1)
            want *= 2;
        if (want > cap + 1)
            want = cap + 1;
        char *d = ferry_realloc(b->data, want);
        if (d == NULL) {
            b->nomem = true;
            return false;
        }
        b->data = d;
        b->alloc = want;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

size_t ferry_engine__resp_write(char *p, size_t size, size_t nmemb, void *ud) {
    ferry_engine__resp *b = ud;
    size_t n = size * nmemb;
    if (b->on_line == NULL)
        return ferry_engine__resp_append(b, p, n, FERRY_ENGINE_BODY_CAP) ? n : 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t take = nl != NULL ? (size_t)(nl - (p + i)) : n - i;
        if (!ferry_engine__resp_append(b, p + i, take, FERRY_ENGINE_LINE_CAP))
            return 0;
        i += take;
        if (nl != NULL) {
            b->on_line(b->ctx, b->data != NULL ? b->data : "", b->len);
            b->len = 0;
            i++;
        }
    }
    return n;
}

/* ---- the progress stream of a pull or an import ---- */

void ferry_engine__stream_line(void *ctx, const char *line, size_t len) {
    ferry_engine__stream *s = ctx;
    json_t *j = json_loadb(line, len, 0, NULL);
    s->lines++;
    if (j == NULL)
        return; /* blank or not JSON: progress text carries no verdict */
    const char *error = json_string_value(json_object_get(j, "error"));
    if (error == NULL)
        error = json_string_value(json_object_get(json_object_get(j, "errorDetail"), "message"));
    const char *message = json_string_value(json_object_get(j, "message"));
    if (error != NULL && !s->error[0])
        snprintf(s->error, sizeof(s->error), "%s", error);
    if (message != NULL && !s->message[0])
        snprintf(s->message, sizeof(s->message), "%s", message);
    json_decref(j);
}

/* ---- errors ---------------------------------------------------------------------------------- */

void ferry_engine__set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void ferry_engine__message(const ferry_engine__resp *b, long status, char *out, size_t outlen) {
    json_t *j = NULL;
    if (b->data != NULL && b->len > 0)
        j = json_loadb(b->data, b->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (msg != NULL)
        ferry_engine__set_err(out, outlen, "%s", msg);
    else if (b->data != NULL && b->len > 0)
        ferry_engine__set_err(out, outlen, "%.*s", (int)(b->len > 512 ? 512 : b->len), b->data);
    else
        ferry_engine__set_err(out, outlen, "engine answered HTTP %ld", status);
    json_decref(j);
    /* the engines end messages with '\n' at times */
    if (out != NULL && outlen > 0) {
        size_t n = strlen(out);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
            out[--n] = '\0';
    }
}

ferry_err ferry_engine__status_err(long status) {
    switch (status) {
    case 400:
        return FERRY_EINVAL;
    case 404:
        return FERRY_ENOTFOUND;
    case 409:
        return FERRY_ECONFLICT;
    default:
        return FERRY_EENGINE;
    }
}

/* ---- requests and bodies ---- */

/* Percent-encode s onto the end of path. */
static ferry_err append_escaped(char *path, size_t len, const char *s) {
    char *x = curl_easy_escape(NULL, s, 0); /* the handle is unused since curl 7.82 */
    if (x == NULL)
        return FERRY_ENOMEM;
    size_t used = strlen(path);
    int n = snprintf(path + used, len - used, "%s", x);
    curl_free(x);
    return n < 0 || (size_t)n >= len - used ? FERRY_ETOOBIG : FERRY_OK;
}

ferry_err ferry_engine__vbuild_path(char *path, size_t len, const char *fmt, va_list ap) {
    ferry_err rc = FERRY_OK;
    path[0] = '\0';
    for (const char *p = fmt; *p && rc == FERRY_OK; p++) {
        if (p[0] == '%' && p[1] == 's') {
            rc = append_escaped(path, len, va_arg(ap, const char *));
            p++;
            continue;
        }
        size_t used = strlen(path);
        if (used + 1 >= len)
            return FERRY_ETOOBIG;
        path[used] = *p;
        path[used + 1] = '\0';
    }
    return rc;
}

ferry_err ferry_engine__build_path(char *path, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ferry_err rc = ferry_engine__vbuild_path(path, len, fmt, ap);
    va_end(ap);
    return rc;
}

char *ferry_engine__dump_json(const json_t *v, size_t *len) {
    size_t flags = JSON_COMPACT;
    size_t n = json_dumpb(v, NULL, 0, flags);
    char *buf = n ? ferry_malloc(n + 1) : NULL;
    if (buf == NULL || json_dumpb(v, buf, n, flags) != n) {
        ferry_free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

ferry_err ferry_engine__parse_body(const ferry_engine__resp *b, json_t **out) {
    json_error_t jerr;
    *out = b->data != NULL ? json_loadb(b->data, b->len, 0, &jerr) : NULL;
    if (*out == NULL) {
        LOG_WARN("engine answered a body that is not JSON (%s)",
                 b->data != NULL ? jerr.text : "empty body");
        return FERRY_EFORMAT;
    }
    return FERRY_OK;
}

/* ---- images ---------------------------------------------------------------------------------- */

ferry_err ferry_engine__split_image_ref(const char *image, char *repo, size_t repolen, char *tag,
                                        size_t taglen) {
    const char *at = strchr(image, '@');
    size_t rlen = at != NULL ? (size_t)(at - image) : strlen(image);
    size_t last = 0; /* start of the last path component */
    const char *colon = NULL, *t = "latest";
    size_t tlen = 6;

    for (size_t i = 0; i < rlen; i++)
        if (image[i] == '/')
            last = i + 1;
    for (size_t i = last; i < rlen; i++)
        if (image[i] == ':')
            colon = image + i;
    if (at != NULL) {
        t = at + 1;
        tlen = strlen(t);
    } else if (colon != NULL) {
        t = colon + 1;
        tlen = rlen - (size_t)(t - image);
    }
    if (colon != NULL)
        rlen = (size_t)(colon - image);
    if (rlen == 0 || tlen == 0 || last == rlen)
        return FERRY_EINVAL;
    if (rlen >= repolen || tlen >= taglen)
        return FERRY_ETOOBIG;
    memcpy(repo, image, rlen);
    repo[rlen] = '\0';
    memcpy(tag, t, tlen);
    tag[tlen] = '\0';
    return FERRY_OK;
}

bool ferry_engine__has_registry_host(const char *repo) {
    const char *slash = strchr(repo, '/');
    if (slash == NULL)
        return false;
    size_t n = (size_t)(slash - repo);
    return memchr(repo, '.', n) != NULL || memchr(repo, ':', n) != NULL ||
           (n == 9 && strncmp(repo, "localhost", 9) == 0);
}

bool ferry_engine__loopback_registry(const char *repo) {
    if (!ferry_engine__has_registry_host(repo))
        return false;
    size_t n = strcspn(repo, ":/");
    if (n == 9 && strncmp(repo, "localhost", 9) == 0)
        return true;
    if (strncmp(repo, "127.", 4) != 0)
        return false;
    return strspn(repo, "0123456789.") == n;
}

char *ferry_engine__base64url(const void *data, size_t n) {
    if (n > (size_t)1 << 20)
        return NULL;
    char *out = ferry_malloc(4 * ((n + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return out;
}

/* ---- the pause image ------------------------------------------------------------------------- */

#define TAR_BLOCK 512

static void tar_octal(char *field, size_t width, unsigned long long v) {
    snprintf(field, width, "%0*llo", (int)(width - 1), v); /* width-1 digits and a NUL */
}

char *ferry_engine__tar_one_file(const char *name, const void *data, size_t len, size_t *tar_len) {
    size_t padded = (len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    size_t total = TAR_BLOCK + padded + 2 * TAR_BLOCK; /* header, data, end of archive */
    char *tar = ferry_calloc(1, total);
    if (tar == NULL || strlen(name) >= 100) {
        ferry_free(tar);
        return NULL;
    }
    char *h = tar;
    memcpy(h, name, strlen(name));
    tar_octal(h + 100, 8, 0755);
    tar_octal(h + 108, 8, 0);
    tar_octal(h + 116, 8, 0);
    tar_octal(h + 124, 12, len);
    tar_octal(h + 136, 12, 0);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "root", 4);
    memcpy(h + 297, "root", 4);
    memset(h + 148, ' ', 8); /* the checksum counts its own field as spaces */
    unsigned long sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06lo", sum);
    h[155] = ' ';
    memcpy(tar + TAR_BLOCK, data, len);
    *tar_len = total;
    return tar;
}

/* ---- logs ------------------------------------------------------------------------------------ */

size_t ferry_engine__demux_logs(const unsigned char *in, size_t len, char *out) {
    size_t pos = 0, n = 0;
    while (pos < len) {
        if (len - pos < 8 || in[pos] > 2 || in[pos + 1] || in[pos + 2] || in[pos + 3])
            break;
        size_t flen = (size_t)in[pos + 4] << 24 | (size_t)in[pos + 5] << 16 |
                      (size_t)in[pos + 6] << 8 | (size_t)in[pos + 7];
        pos += 8;
        if (flen > len - pos)
            flen = len - pos;
        memcpy(out + n, in + pos, flen);
        n += flen;
        pos += flen;
    }
    if (pos < len)
        LOG_DEBUG("engine: %zu bytes of logs are not in frames; dropped", len - pos);
    out[n] = '\0';
    return n;
}

/* ---- a log made fit to send ---- */

/* The length of the valid UTF-8 sequence at p (n bytes left), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0x01 && c <= 0x7f)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return need;
}

size_t ferry_engine__clean_log(char *text, size_t len, size_t max, bool *truncated) {
    unsigned char *p = (unsigned char *)text;
    size_t start = 0;
    *truncated = false;
    if (len > max) {
        *truncated = true;
        start = len - max;
        /* Not in the middle of a character; from the next line when one starts soon. */
        while (start < len && (p[start] & 0xc0) == 0x80)
            start++;
        const unsigned char *nl = memchr(p + start, '\n', len - start < 1024 ? len - start : 1024);
        if (nl != NULL && (size_t)(nl - p) + 1 < len)
            start = (size_t)(nl - p) + 1;
        memmove(p, p + start, len - start);
        len -= start;
    }
    for (size_t i = 0; i < len;) {
        size_t k = utf8_len(p + i, len - i);
        if (k == 0) {
            p[i] = '?';
            k = 1;
        }
        i += k;
    }
    return len;
}
