/* Ferry base64: strict standard base64 encoding and decoding (config file contents). */
#include "ferry/base64.h"

#include <stdint.h>
#include <string.h>

static const char B64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1. */
static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *ferry_base64_encode(const void *data, size_t len, size_t *outlen) {
    const unsigned char *in = data;
    char *out = NULL;
    size_t o = 0;

    if (outlen != NULL)
        *outlen = 0;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
        return NULL;
    size_t n = (len + 2) / 3 * 4;
    if ((out = ferry_malloc(n + 1)) == NULL)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            w |= in[i + 2];
        out[o++] = B64_ALPHABET[(w >> 18) & 63];
        out[o++] = B64_ALPHABET[(w >> 12) & 63];
        out[o++] = i + 1 < len ? B64_ALPHABET[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? B64_ALPHABET[w & 63] : '=';
    }
    out[o] = '\0';
    if (outlen != NULL)
        *outlen = o;
    return out;
}

/* Walk s once; with out != NULL also write the bytes. Returns false on any deviation from the
 * canonical form. */
static bool b64_walk(const char *s, size_t len, unsigned char *out, size_t *decoded) {
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    if (len % 4 != 0 || (len > 0 && p == NULL))
        return false;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (p[i + (size_t)k] == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad > 0 || (v[k] = b64_value(p[i + (size_t)k])) < 0)
                return false;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* the bits a pad leaves unused must be zero, so every byte string has one encoding */
        if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
            return false;
        if (out != NULL) {
            out[o] = (unsigned char)(w >> 16);
            if (pad < 2)
                out[o + 1] = (unsigned char)(w >> 8);
            if (pad < 1)
                out[o + 2] = (unsigned char)w;
        }
        o += (size_t)(3 - pad);
    }
    if (decoded != NULL)
        *decoded = o;
    return true;
}

bool ferry_base64_valid(const char *s, size_t len, size_t *decoded) {
    return b64_walk(s, len, NULL, decoded);
}

ferry_err ferry_base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen) {
    size_t n = 0;
    unsigned char *buf = NULL;

    if (out == NULL || outlen == NULL)
        return FERRY_EINVAL;
    *out = NULL;
    *outlen = 0;
    if (!b64_walk(s, len, NULL, &n))
        return FERRY_EFORMAT;
    if ((buf = ferry_malloc(n > 0 ? n : 1)) == NULL)
        return FERRY_ENOMEM;
    b64_walk(s, len, buf, NULL);
    *out = buf;
    *outlen = n;
    return FERRY_OK;
}
