/* Ferry codec: jansson values <-> msgpack bytes; the decoder is the gate for untrusted payloads. */
#include "ferry/codec.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Why the decoder is written by hand instead of using msgpack_unpack():
 * msgpack-c 4 trusts the sizes a payload declares and allocates them up front (a 5-byte input can
 * ask for gigabytes), has no depth limit, and accepts what we must refuse (bin, ext, non-string
 * keys, invalid UTF-8, duplicate keys). Making it safe would need a complete pre-scan of the bytes,
 * which is already a decoder; then a second pass through msgpack_object to build jansson values.
 * One bounded pass that builds jansson values directly is smaller and checks every rule at the
 * byte where it applies (every read is preceded by a check against the end of the buffer).
 * The encoder does use msgpack-c's packer (the format choices are its, not ours), writing into our
 * own buffer so that allocation goes through ferry_realloc and the failing-allocator test hook. */

/* jansson spends 40 to 250 bytes per value, so a 4 MiB payload of one-byte empty maps would cost
 * about 1 GiB. The decoder charges an estimate of each value's memory against this budget
 * (16 times the payload cap) and refuses inputs past it. Real payloads (specs are mostly strings)
 * stay under a tenth of it. */
#define DECODE_MEM_BUDGET (16u * FERRY_MAX_PAYLOAD)
#define COST_SCALAR 48u
#define COST_ARRAY 96u
#define COST_MAP 160u
#define COST_SLOT 16u  /* per array element */
#define COST_ENTRY 64u /* per map entry, plus the key's length */

/* ---- text ------------------------------------------------------------------------------------ */

bool codec__text_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            cp = c & 0x07u;
        } else {
            return false; /* continuation byte, overlong lead (c0, c1) or past U+10FFFF */
        }
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

size_t codec__utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* ---- encoder --------------------------------------------------------------------------------- */

typedef struct {
    unsigned char *buf;
    size_t len;
    size_t cap;
} wbuf;

static int wbuf_write(void *data, const char *src, size_t n) {
    wbuf *w = data;
    if (n > SIZE_MAX / 2 - w->len)
        return -1;
    if (w->len + n > w->cap) {
        size_t cap = w->cap != 0 ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        unsigned char *nb = ferry_realloc(w->buf, cap);
        if (nb == NULL)
            return -1;
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, src, n);
    w->len += n;
    return 0;
}

/* Strings are checked so that everything we write, we (and every other reader) can read back. */
static ferry_err encode_str(msgpack_packer *pk, const char *s, size_t n) {
    if (!codec__text_valid(s, n) || n > UINT32_MAX)
        return FERRY_EINVAL;
    if (msgpack_pack_str(pk, n) != 0 || msgpack_pack_str_body(pk, s, n) != 0)
        return FERRY_ENOMEM;
    return FERRY_OK;
}

static ferry_err encode_value(msgpack_packer *pk, const json_t *v, int depth) {
    ferry_err rc = FERRY_OK;
    int prc = 0;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *member;
        if (depth >= FERRY_MAX_DEPTH || json_object_size(v) > FERRY_MAX_ITEMS)
            return FERRY_ETOOBIG;
        if (msgpack_pack_map(pk, json_object_size(v)) != 0)
            return FERRY_ENOMEM;
        json_object_keylen_foreach((json_t *)v, key, klen, member) {
            if ((rc = encode_str(pk, key, klen)) != FERRY_OK ||
                (rc = encode_value(pk, member, depth + 1)) != FERRY_OK)
                return rc;
        }
        return FERRY_OK;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (depth >= FERRY_MAX_DEPTH || n > FERRY_MAX_ITEMS)
            return FERRY_ETOOBIG;
        if (msgpack_pack_array(pk, n) != 0)
            return FERRY_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if ((rc = encode_value(pk, json_array_get(v, i), depth + 1)) != FERRY_OK)
                return rc;
        return FERRY_OK;
    }
    case JSON_STRING:
        return encode_str(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        prc = msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        prc = msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        prc = msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        prc = msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        prc = msgpack_pack_nil(pk);
        break;
    default:
        return FERRY_EINVAL;
    }
    return prc == 0 ? FERRY_OK : FERRY_ENOMEM;
}

ferry_err ferry_msgpack_encode(const json_t *v, unsigned char **out, size_t *len) {
    wbuf w = {0};
    msgpack_packer pk;
    ferry_err rc;

    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (v == NULL || out == NULL || len == NULL)
        return FERRY_EINVAL;
    msgpack_packer_init(&pk, &w, wbuf_write);
    if ((rc = encode_value(&pk, v, 0)) != FERRY_OK)
        goto fail;
    *out = w.buf;
    *len = w.len;
    return FERRY_OK;
fail:
    ferry_free(w.buf);
    return rc;
}

/* ---- decoder --------------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *start;
    const unsigned char *p;
    const unsigned char *end;
    size_t budget; /* estimated bytes of jansson memory still allowed */
    char *why;
    size_t whylen;
} decoder;

__attribute__((format(printf, 3, 4))) static ferry_err dec_fail(decoder *d, ferry_err rc,
                                                                const char *fmt, ...) {
    if (d->why != NULL && d->whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->why, d->whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static size_t dec_left(const decoder *d) {
    return (size_t)(d->end - d->p);
}

static size_t dec_off(const decoder *d) {
    return (size_t)(d->p - d->start);
}

/* Read an n-byte big-endian unsigned integer; the caller checked that n bytes remain. */
static uint64_t dec_be(decoder *d, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | d->p[i];
    d->p += n;
    return v;
}

static ferry_err dec_need(decoder *d, size_t n, const char *what) {
    if (dec_left(d) < n)
        return dec_fail(d, FERRY_EFORMAT,
                        "truncated input: %s at offset %zu needs %zu bytes, %zu left", what,
                        dec_off(d), n, dec_left(d));
    return FERRY_OK;
}

static ferry_err dec_charge(decoder *d, size_t cost) {
    if (cost > d->budget)
        return dec_fail(d, FERRY_ETOOBIG,
                        "decoded value at offset %zu would exceed the memory budget of %u bytes",
                        dec_off(d), DECODE_MEM_BUDGET);
    d->budget -= cost;
    return FERRY_OK;
}

/* Read the length that follows a str/array/map marker whose length field is w bytes wide. */
static ferry_err dec_len(decoder *d, size_t w, size_t *n) {
    ferry_err rc = dec_need(d, w, "length");
    if (rc == FERRY_OK)
        *n = (size_t)dec_be(d, w);
    return rc;
}

static ferry_err dec_str_bytes(decoder *d, size_t n, const char **s, const char *what) {
    ferry_err rc;
    if ((rc = dec_need(d, n, what)) != FERRY_OK)
        return rc;
    if (!codec__text_valid((const char *)d->p, n))
        return dec_fail(d, FERRY_EFORMAT, "%s at offset %zu is not valid UTF-8 (or holds NUL)",
                        what, dec_off(d));
    *s = (const char *)d->p;
    d->p += n;
    return FERRY_OK;
}

static ferry_err dec_value(decoder *d, int depth, json_t **out);

static ferry_err dec_array(decoder *d, size_t n, int depth, json_t **out) {
    json_t *arr = NULL;
    ferry_err rc;

    if (depth >= FERRY_MAX_DEPTH)
        return dec_fail(d, FERRY_ETOOBIG, "nesting deeper than %d at offset %zu", FERRY_MAX_DEPTH,
                        dec_off(d));
    if (n > FERRY_MAX_ITEMS)
        return dec_fail(d, FERRY_ETOOBIG,
                        "array at offset %zu declares %zu items, over the limit of %u", dec_off(d),
                        n, FERRY_MAX_ITEMS);
    if (n > dec_left(d)) /* each item takes at least one byte */
        return dec_fail(d, FERRY_ETOOBIG,
                        "array at offset %zu declares %zu items but only %zu bytes remain",
                        dec_off(d), n, dec_left(d));
    if ((rc = dec_charge(d, COST_ARRAY + n * COST_SLOT)) != FERRY_OK)
        return rc;
    if ((arr = json_array()) == NULL)
        return FERRY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *item = NULL;
        if ((rc = dec_value(d, depth + 1, &item)) != FERRY_OK)
            goto fail;
        if (json_array_append_new(arr, item) != 0) {
            rc = FERRY_ENOMEM;
            goto fail;
        }
    }
    *out = arr;
    return FERRY_OK;
fail:
    json_decref(arr);
    return rc;
}

static ferry_err dec_map(decoder *d, size_t n, int depth, json_t **out) {
    json_t *obj = NULL;
    ferry_err rc;

    if (depth >= FERRY_MAX_DEPTH)
        return dec_fail(d, FERRY_ETOOBIG, "nesting deeper than %d at offset %zu", FERRY_MAX_DEPTH,
                        dec_off(d));
    if (n > FERRY_MAX_ITEMS)
        return dec_fail(d, FERRY_ETOOBIG,
                        "map at offset %zu declares %zu entries, over the limit of %u", dec_off(d),
                        n, FERRY_MAX_ITEMS);
    if (n > dec_left(d) / 2) /* each entry takes at least two bytes */
        return dec_fail(d, FERRY_ETOOBIG,
                        "map at offset %zu declares %zu entries but only %zu bytes remain",
                        dec_off(d), n, dec_left(d));
    if ((rc = dec_charge(d, COST_MAP)) != FERRY_OK)
        return rc;
    if ((obj = json_object()) == NULL)
        return FERRY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *val = NULL;
        const char *key = NULL;
        size_t klen = 0;
        size_t koff = dec_off(d);

        if ((rc = dec_need(d, 1, "map key")) != FERRY_OK)
            goto fail;
        unsigned char b = *d->p++;
        if (b >= 0xa0 && b <= 0xbf)
            klen = b & 0x1fu;
        else if (b >= 0xd9 && b <= 0xdb)
            rc = dec_len(d, (size_t)1 << (b - 0xd9), &klen);
        else
            rc = dec_fail(d, FERRY_EFORMAT, "map key at offset %zu is not a string (byte 0x%02x)",
                          koff, b);
        if (rc != FERRY_OK || (rc = dec_str_bytes(d, klen, &key, "map key")) != FERRY_OK)
            goto fail;
        if ((rc = dec_charge(d, COST_ENTRY + klen)) != FERRY_OK)
            goto fail;
        if (json_object_getn(obj, key, klen) != NULL) {
            rc = dec_fail(d, FERRY_EFORMAT, "duplicate map key '%.*s' at offset %zu",
                          (int)(klen > 64 ? 64 : klen), key, koff);
            goto fail;
        }
        if ((rc = dec_value(d, depth + 1, &val)) != FERRY_OK)
            goto fail;
        if (json_object_setn_new_nocheck(obj, key, klen, val) != 0) {
            rc = FERRY_ENOMEM;
            goto fail;
        }
    }
    *out = obj;
    return FERRY_OK;
fail:
    json_decref(obj);
    return rc;
}

static ferry_err dec_value(decoder *d, int depth, json_t **out) {
    ferry_err rc;
    json_t *v = NULL;
    size_t off = dec_off(d);
    size_t n = 0;

    if ((rc = dec_need(d, 1, "value")) != FERRY_OK)
        return rc;
    unsigned char b = *d->p++;

    if (b <= 0x7f || b >= 0xe0) { /* positive / negative fixint */
        if ((rc = dec_charge(d, COST_SCALAR)) != FERRY_OK)
            return rc;
        v = json_integer(b <= 0x7f ? (json_int_t)b : (json_int_t)(int8_t)b);
    } else if (b <= 0x8f) {
        return dec_map(d, b & 0x0fu, depth, out);
    } else if (b <= 0x9f) {
        return dec_array(d, b & 0x0fu, depth, out);
    } else if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) {
        const char *s = NULL;
        if (b <= 0xbf)
            n = b & 0x1fu;
        else if ((rc = dec_len(d, (size_t)1 << (b - 0xd9), &n)) != FERRY_OK)
            return rc;
        if ((rc = dec_str_bytes(d, n, &s, "string")) != FERRY_OK ||
            (rc = dec_charge(d, COST_SCALAR + n)) != FERRY_OK)
            return rc;
        v = json_stringn_nocheck(s, n);
    } else if (b == 0xc0) {
        v = json_null();
    } else if (b == 0xc2 || b == 0xc3) {
        v = json_boolean(b == 0xc3);
    } else if (b == 0xca || b == 0xcb) {
        double dv;
        if ((rc = dec_need(d, b == 0xca ? 4 : 8, "float")) != FERRY_OK)
            return rc;
        if (b == 0xca) {
            uint32_t bits = (uint32_t)dec_be(d, 4);
            float f;
            memcpy(&f, &bits, sizeof(f));
            dv = (double)f;
        } else {
            uint64_t bits = dec_be(d, 8);
            memcpy(&dv, &bits, sizeof(dv));
        }
        if (!isfinite(dv))
            return dec_fail(d, FERRY_EFORMAT, "float at offset %zu is not finite", off);
        if ((rc = dec_charge(d, COST_SCALAR)) != FERRY_OK)
            return rc;
        v = json_real(dv);
    } else if (b >= 0xcc && b <= 0xd3) {
        size_t w = (size_t)1 << ((b - 0xcc) & 3);
        if ((rc = dec_need(d, w, "integer")) != FERRY_OK)
            return rc;
        uint64_t u = dec_be(d, w);
        json_int_t iv;
        if (b <= 0xcf) { /* uint 8..64 */
            if (u > INT64_MAX)
                return dec_fail(d, FERRY_EFORMAT, "integer at offset %zu does not fit int64", off);
            iv = (json_int_t)u;
        } else if (w == 1) {
            iv = (int8_t)(uint8_t)u;
        } else if (w == 2) {
            iv = (int16_t)(uint16_t)u;
        } else if (w == 4) {
            iv = (int32_t)(uint32_t)u;
        } else {
            iv = (int64_t)u;
        }
        if ((rc = dec_charge(d, COST_SCALAR)) != FERRY_OK)
            return rc;
        v = json_integer(iv);
    } else if (b == 0xdc || b == 0xdd) {
        if ((rc = dec_len(d, b == 0xdc ? 2 : 4, &n)) != FERRY_OK)
            return rc;
        return dec_array(d, n, depth, out);
    } else if (b == 0xde || b == 0xdf) {
        if ((rc = dec_len(d, b == 0xde ? 2 : 4, &n)) != FERRY_OK)
            return rc;
        return dec_map(d, n, depth, out);
    } else if (b >= 0xc4 && b <= 0xc6) {
        return dec_fail(d, FERRY_EFORMAT, "bin value at offset %zu is not accepted", off);
    } else if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) {
        return dec_fail(d, FERRY_EFORMAT, "ext value at offset %zu is not accepted", off);
    } else {
        return dec_fail(d, FERRY_EFORMAT, "invalid msgpack byte 0x%02x at offset %zu", b, off);
    }
    if (v == NULL)
        return FERRY_ENOMEM;
    *out = v;
    return FERRY_OK;
}

ferry_err ferry_msgpack_decode_reason(const unsigned char *buf, size_t len, json_t **out, char *why,
                                      size_t whylen) {
    decoder d = {buf, buf, buf, DECODE_MEM_BUDGET, why, whylen};
    json_t *v = NULL;
    ferry_err rc;

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (out == NULL || (buf == NULL && len > 0))
        return dec_fail(&d, FERRY_EINVAL, "no output or no input buffer");
    if (len > FERRY_MAX_PAYLOAD)
        return dec_fail(&d, FERRY_ETOOBIG, "payload of %zu bytes exceeds the limit of %u", len,
                        FERRY_MAX_PAYLOAD);
    if (len == 0)
        return dec_fail(&d, FERRY_EFORMAT, "empty payload");
    d.end = buf + len;
    if ((rc = dec_value(&d, 0, &v)) != FERRY_OK)
        goto fail;
    if (d.p != d.end) {
        rc = dec_fail(&d, FERRY_EFORMAT, "%zu trailing bytes after the value (at offset %zu)",
                      dec_left(&d), dec_off(&d));
        goto fail;
    }
    *out = v;
    return FERRY_OK;
fail:
    if (rc == FERRY_ENOMEM)
        dec_fail(&d, rc, "out of memory while decoding");
    json_decref(v);
    return rc;
}

ferry_err ferry_msgpack_decode(const unsigned char *buf, size_t len, json_t **out) {
    return ferry_msgpack_decode_reason(buf, len, out, NULL, 0);
}
