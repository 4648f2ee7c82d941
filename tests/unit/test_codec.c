/* Unit tests of the msgpack codec (schema/codec.c): round trips, every rejection rule, caps, and
 * the failing-allocator loop. */
#include "unit.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferry/codec.h"

static const char *const sample_doc =
    "{\"name\":\"web\",\"n\":-5,\"big\":9223372036854775807,\"small\":-9223372036854775808,"
    "\"pi\":3.25,\"t\":true,\"f\":false,\"z\":null,\"s\":\"h\\u00e9llo \\u20ac \\ud834\\udd1e\","
    "\"arr\":[1,[2,[3,{}]],[],{\"k\":\"v\"}],\"services\":[{\"name\":\"a\",\"env\":[]}]}";

static json_t *roundtrip(const json_t *v) {
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *out = NULL;
    assert_int_equal(ferry_msgpack_encode(v, &buf, &len), FERRY_OK);
    assert_int_equal(ferry_msgpack_decode(buf, len, &out), FERRY_OK);
    ferry_free(buf);
    return out;
}

static ferry_err decode_bytes(const void *bytes, size_t len) {
    json_t *out = NULL;
    char why[256];
    ferry_err rc = ferry_msgpack_decode_reason(bytes, len, &out, why, sizeof(why));
    if (rc == FERRY_OK)
        assert_non_null(out);
    else
        assert_null(out);
    json_decref(out);
    return rc;
}

/* Decode bytes produced by msgpack-c's packer. */
static ferry_err decode_sbuf(msgpack_sbuffer *sb, json_t **out) {
    ferry_err rc = ferry_msgpack_decode((const unsigned char *)sb->data, sb->size, out);
    msgpack_sbuffer_destroy(sb);
    return rc;
}

static void test_roundtrip_document(void **state) {
    (void)state;
    json_t *doc = J(sample_doc);
    json_t *back = roundtrip(doc);
    assert_json_equal(back, doc);
    /* key order survives (jansson keeps insertion order) */
    assert_string_equal(json_object_iter_key(json_object_iter(back)), "name");
    json_decref(back);
    json_decref(doc);
}

static void test_integers(void **state) {
    (void)state;
    static const json_int_t vals[] = {0,
                                      1,
                                      127,
                                      128,
                                      255,
                                      256,
                                      65535,
                                      65536,
                                      4294967295LL,
                                      4294967296LL,
                                      INT64_MAX,
                                      -1,
                                      -32,
                                      -33,
                                      -128,
                                      -129,
                                      -32768,
                                      -32769,
                                      (json_int_t)INT32_MIN - 1,
                                      INT64_MIN};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        json_t *v = json_integer(vals[i]);
        json_t *back = roundtrip(v);
        assert_true(json_is_integer(back));
        assert_true(json_integer_value(back) == vals[i]);
        json_decref(v);
        json_decref(back);
    }
    /* non-minimal encodings from other writers are fine */
    static const unsigned char u16[] = {0xcd, 0x00, 0x05},
                               i64[] = {0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    json_t *out = NULL;
    assert_int_equal(ferry_msgpack_decode(u16, sizeof(u16), &out), FERRY_OK);
    assert_int_equal(json_integer_value(out), 5);
    json_decref(out);
    assert_int_equal(ferry_msgpack_decode(i64, sizeof(i64), &out), FERRY_OK);
    assert_int_equal(json_integer_value(out), -2);
    json_decref(out);
    /* uint64 past INT64_MAX does not fit */
    static const unsigned char u64[] = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(decode_bytes(u64, sizeof(u64)), FERRY_EFORMAT);
}

static void test_floats(void **state) {
    (void)state;
    json_t *v = json_real(-1.5e300);
    json_t *back = roundtrip(v);
    assert_true(json_is_real(back) && json_real_value(back) == -1.5e300);
    json_decref(v);
    json_decref(back);

    static const unsigned char f32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00}; /* 1.5f */
    json_t *out = NULL;
    assert_int_equal(ferry_msgpack_decode(f32, sizeof(f32), &out), FERRY_OK);
    assert_true(json_is_real(out) && json_real_value(out) == 1.5);
    json_decref(out);

    static const unsigned char nan64[] = {0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0};
    static const unsigned char inf32[] = {0xca, 0x7f, 0x80, 0x00, 0x00};
    assert_int_equal(decode_bytes(nan64, sizeof(nan64)), FERRY_EFORMAT);
    assert_int_equal(decode_bytes(inf32, sizeof(inf32)), FERRY_EFORMAT);
}

static void test_string_lengths(void **state) {
    (void)state;
    static const size_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 100000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char *s = malloc(lens[i] + 1);
        assert_non_null(s);
        memset(s, 'x', lens[i]);
        s[lens[i]] = '\0';
        json_t *v = json_string(s);
        json_t *back = roundtrip(v);
        assert_json_equal(back, v);
        json_decref(v);
        json_decref(back);
        free(s);
    }
    static const unsigned char str8[] = {0xd9, 0x02, 'h', 'i'};
    assert_int_equal(decode_bytes(str8, sizeof(str8)), FERRY_OK);
}

static json_t *array_of(size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)(i & 0x7f)));
    return a;
}

static void test_container_sizes(void **state) {
    (void)state;
    static const size_t sizes[] = {0, 15, 16, 65535, FERRY_MAX_ITEMS};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        json_t *a = array_of(sizes[i]);
        json_t *back = roundtrip(a);
        assert_int_equal(json_array_size(back), sizes[i]);
        json_decref(a);
        json_decref(back);
        json_t *o = json_object();
        for (size_t k = 0; k < sizes[i] && k < 20; k++) {
            char key[16];
            snprintf(key, sizeof(key), "k%zu", k);
            json_object_set_new(o, key, json_null());
        }
        back = roundtrip(o);
        assert_json_equal(back, o);
        json_decref(o);
        json_decref(back);
    }
    /* over the item cap, both ways */
    json_t *a = array_of(FERRY_MAX_ITEMS + 1);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_msgpack_encode(a, &buf, &len), FERRY_ETOOBIG);
    assert_null(buf);
    json_decref(a);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, FERRY_MAX_ITEMS + 1);
    for (size_t i = 0; i < FERRY_MAX_ITEMS + 1; i++)
        msgpack_pack_nil(&pk);
    assert_int_equal(decode_bytes(sb.data, sb.size), FERRY_ETOOBIG);
    msgpack_sbuffer_destroy(&sb);
}

static json_t *nested(int depth, bool maps) {
    json_t *v = json_integer(1);
    for (int i = 0; i < depth; i++) {
        json_t *c = maps ? json_object() : json_array();
        if (maps)
            json_object_set_new(c, "k", v);
        else
            json_array_append_new(c, v);
        v = c;
    }
    return v;
}

static void test_depth(void **state) {
    (void)state;
    for (int maps = 0; maps <= 1; maps++) {
        json_t *ok = nested(FERRY_MAX_DEPTH, maps);
        json_t *deep = nested(FERRY_MAX_DEPTH + 1, maps);
        json_t *back = roundtrip(ok);
        assert_json_equal(back, ok);
        json_decref(back);
        unsigned char *buf = NULL;
        size_t len = 0;
        assert_int_equal(ferry_msgpack_encode(deep, &buf, &len), FERRY_ETOOBIG);
        /* hand-made bytes for depth 33 */
        unsigned char raw[FERRY_MAX_DEPTH * 3 + 8];
        size_t n = 0;
        for (int i = 0; i <= FERRY_MAX_DEPTH; i++) {
            if (maps) {
                raw[n++] = 0x81;
                raw[n++] = 0xa1;
                raw[n++] = 'k';
            } else {
                raw[n++] = 0x91;
            }
        }
        raw[n++] = 0x01;
        assert_int_equal(decode_bytes(raw, n), FERRY_ETOOBIG);
        json_decref(ok);
        json_decref(deep);
    }
}

/* Every strict prefix of a valid encoding is refused (never accepted, never a crash). */
static void test_truncation(void **state) {
    (void)state;
    json_t *doc = J(sample_doc);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_msgpack_encode(doc, &buf, &len), FERRY_OK);
    for (size_t n = 0; n < len; n++) {
        ferry_err rc = decode_bytes(buf, n);
        assert_true(rc == FERRY_EFORMAT || rc == FERRY_ETOOBIG);
    }
    assert_int_equal(decode_bytes(buf, len), FERRY_OK);
    ferry_free(buf);
    json_decref(doc);
}

static void test_trailing_and_empty(void **state) {
    (void)state;
    static const unsigned char two[] = {0xc0, 0xc0};
    assert_int_equal(decode_bytes(two, sizeof(two)), FERRY_EFORMAT);
    assert_int_equal(decode_bytes(two, 0), FERRY_EFORMAT);
    json_t *out = NULL;
    assert_int_equal(ferry_msgpack_decode(NULL, 3, &out), FERRY_EINVAL);
    assert_int_equal(ferry_msgpack_decode(two, 1, NULL), FERRY_EINVAL);
    char why[128];
    assert_int_equal(ferry_msgpack_decode_reason(two, 2, &out, why, sizeof(why)), FERRY_EFORMAT);
    assert_contains(why, "trailing");
}

static void test_rejected_types(void **state) {
    (void)state;
    static const unsigned char cases[][6] = {
        {0xc1},                         /* never used */
        {0xc4, 0x01, 'a'},              /* bin 8 */
        {0xc5, 0x00, 0x01, 'a'},        /* bin 16 */
        {0xc6, 0x00, 0x00, 0x00, 0x00}, /* bin 32 */
        {0xc7, 0x01, 0x05, 'a'},        /* ext 8 */
        {0xd4, 0x05, 'a'},              /* fixext 1 */
        {0xd8, 0x05, 'a'},              /* fixext 16 (truncated too) */
    };
    static const size_t lens[] = {1, 3, 4, 5, 4, 3, 3};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        assert_int_equal(decode_bytes(cases[i], lens[i]), FERRY_EFORMAT);
}

static void test_map_keys(void **state) {
    (void)state;
    static const unsigned char int_key[] = {0x81, 0x01, 0xc0};
    static const unsigned char nil_key[] = {0x81, 0xc0, 0xc0};
    static const unsigned char arr_key[] = {0x81, 0x90, 0xc0};
    static const unsigned char bin_key[] = {0x81, 0xc4, 0x01, 'a', 0xc0};
    static const unsigned char dup[] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02};
    static const unsigned char ok[] = {0x82, 0xa1, 'a', 0x01, 0xd9, 0x01, 'b', 0x02};
    assert_int_equal(decode_bytes(int_key, sizeof(int_key)), FERRY_EFORMAT);
    assert_int_equal(decode_bytes(nil_key, sizeof(nil_key)), FERRY_EFORMAT);
    assert_int_equal(decode_bytes(arr_key, sizeof(arr_key)), FERRY_EFORMAT);
    assert_int_equal(decode_bytes(bin_key, sizeof(bin_key)), FERRY_EFORMAT);
    assert_int_equal(decode_bytes(dup, sizeof(dup)), FERRY_EFORMAT);
    assert_int_equal(decode_bytes(ok, sizeof(ok)), FERRY_OK);
}

static void test_utf8(void **state) {
    (void)state;
    static const char *const bad[] = {
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xf5\x80\x80\x80", /* invalid lead */
        "\x80",             /* lone continuation */
        "\xe2\x82",         /* truncated sequence */
        "a\xff",            /* invalid byte */
        "\xe2\x28\xa1",     /* bad continuation */
    };
    static const char *const good[] = {"",
                                       "plain",
                                       "h\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9d\x84\x9e",
                                       "\xef\xbf\xbf",
                                       "\xf4\x8f\xbf\xbf"};
    unsigned char buf[16];
    for (int as_key = 0; as_key <= 1; as_key++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + sizeof(good) / sizeof(good[0]); i++) {
            bool is_bad = i < sizeof(bad) / sizeof(bad[0]);
            const char *s = is_bad ? bad[i] : good[i - sizeof(bad) / sizeof(bad[0])];
            size_t n = strlen(s), o = 0;
            if (as_key)
                buf[o++] = 0x81;
            buf[o++] = (unsigned char)(0xa0 | n);
            memcpy(buf + o, s, n);
            o += n;
            if (as_key)
                buf[o++] = 0xc0;
            assert_int_equal(decode_bytes(buf, o), is_bad ? FERRY_EFORMAT : FERRY_OK);
        }
        /* an embedded NUL is refused too (C consumers would cut the string there) */
        unsigned char nul[] = {0x81, 0xa3, 'a', 0, 'b', 0xc0};
        assert_int_equal(decode_bytes(as_key ? nul : nul + 1, as_key ? sizeof(nul) : 4),
                         FERRY_EFORMAT);
    }
}

static void test_declared_counts(void **state) {
    (void)state;
    static const unsigned char arr32[] = {0xdd, 0x00, 0x00, 0x03, 0xe8, 0xc0, 0xc0};
    static const unsigned char arr_max[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char map16[] = {0xde, 0x00, 0x03, 0xa1, 'a', 0xc0, 0xa1};
    static const unsigned char str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(decode_bytes(arr32, sizeof(arr32)), FERRY_ETOOBIG);
    assert_int_equal(decode_bytes(arr_max, sizeof(arr_max)), FERRY_ETOOBIG);
    assert_int_equal(decode_bytes(map16, sizeof(map16)), FERRY_ETOOBIG);
    assert_int_equal(decode_bytes(str32, sizeof(str32)), FERRY_EFORMAT);
}

static void test_payload_cap(void **state) {
    (void)state;
    size_t len = FERRY_MAX_PAYLOAD + 1;
    unsigned char *big = calloc(1, len);
    assert_non_null(big);
    big[0] = 0xdb; /* str 32 of FERRY_MAX_PAYLOAD - 4 bytes: exactly one byte too many */
    uint32_t n = (uint32_t)(len - 5);
    big[1] = (unsigned char)(n >> 24);
    big[2] = (unsigned char)(n >> 16);
    big[3] = (unsigned char)(n >> 8);
    big[4] = (unsigned char)n;
    memset(big + 5, 'a', n);
    assert_int_equal(decode_bytes(big, len), FERRY_ETOOBIG);
    n--; /* the same at exactly the cap is accepted */
    big[4] = (unsigned char)n;
    assert_int_equal(decode_bytes(big, len - 1), FERRY_OK);
    free(big);
}

/* A payload of tiny containers would cost jansson ~50x its size: the memory budget stops it. */
static void test_memory_budget(void **state) {
    (void)state;
    size_t arrays = 63, per = 65535, len = 3 + arrays * (3 + per);
    unsigned char *buf = malloc(len), *p = buf;
    assert_non_null(buf);
    *p++ = 0xdc;
    *p++ = 0;
    *p++ = (unsigned char)arrays;
    for (size_t i = 0; i < arrays; i++) {
        *p++ = 0xdc;
        *p++ = 0xff;
        *p++ = 0xff;
        memset(p, 0x80, per); /* empty maps */
        p += per;
    }
    assert_true(len <= FERRY_MAX_PAYLOAD);
    char why[256];
    json_t *out = NULL;
    assert_int_equal(ferry_msgpack_decode_reason(buf, len, &out, why, sizeof(why)), FERRY_ETOOBIG);
    assert_contains(why, "memory budget");
    free(buf);
}

static void test_encode_rejects(void **state) {
    (void)state;
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_msgpack_encode(NULL, &buf, &len), FERRY_EINVAL);
    json_t *bad = json_stringn_nocheck("a\xff", 2);
    assert_int_equal(ferry_msgpack_encode(bad, &buf, &len), FERRY_EINVAL);
    json_decref(bad);
    bad = json_stringn("a\0b", 3);
    assert_int_equal(ferry_msgpack_encode(bad, &buf, &len), FERRY_EINVAL);
    json_decref(bad);
    bad = json_object();
    json_object_setn_new(bad, "a\0b", 3, json_true());
    assert_int_equal(ferry_msgpack_encode(bad, &buf, &len), FERRY_EINVAL);
    assert_null(buf);
    json_decref(bad);
}

/* Our bytes are read by msgpack-c, and msgpack-c's by us. */
static void test_interop(void **state) {
    (void)state;
    json_t *doc = J("{\"a\":[1,-2,3.5,\"x\",true,null],\"b\":{}}");
    unsigned char *buf = NULL;
    size_t len = 0, off = 0;
    msgpack_unpacked up;
    assert_int_equal(ferry_msgpack_encode(doc, &buf, &len), FERRY_OK);
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, (const char *)buf, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len);
    assert_int_equal(up.data.type, MSGPACK_OBJECT_MAP);
    msgpack_object a = up.data.via.map.ptr[0].val;
    assert_int_equal(a.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(a.via.array.ptr[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(a.via.array.ptr[2].type, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(a.via.array.ptr[3].type, MSGPACK_OBJECT_STR);
    msgpack_unpacked_destroy(&up);
    ferry_free(buf);
    json_decref(doc);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    json_t *out = NULL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "u", 1);
    msgpack_pack_uint16(&pk, 7);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "f", 1);
    msgpack_pack_float(&pk, 0.25f);
    assert_int_equal(decode_sbuf(&sb, &out), FERRY_OK);
    json_t *want = J("{\"u\":7,\"f\":0.25}");
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);
}

/* Every allocation failure gives FERRY_ENOMEM and leaks nothing (checked by ASan builds). */
static void test_alloc_failures(void **state) {
    (void)state;
    json_t *doc = J(sample_doc);
    unsigned char *buf = NULL;
    size_t len = 0;
    long n;
    for (n = 1; n < 100000; n++) {
        unsigned char *b = NULL;
        size_t l = 0;
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_msgpack_encode(doc, &b, &l);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK) {
            ferry_free(b);
            break;
        }
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_null(b);
    }
    assert_true(n > 1 && n < 100000);
    assert_int_equal(ferry_msgpack_encode(doc, &buf, &len), FERRY_OK);
    for (n = 1; n < 100000; n++) {
        json_t *out = NULL;
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_msgpack_decode(buf, len, &out);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK) {
            assert_json_equal(out, doc);
            json_decref(out);
            break;
        }
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_null(out);
    }
    assert_true(n > 10 && n < 100000);
    ferry_free(buf);
    json_decref(doc);
}

/* Random bytes and random mutations of a valid payload: never a crash, result always clean. */
static void test_random_inputs(void **state) {
    (void)state;
    json_t *doc = J(sample_doc);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_msgpack_encode(doc, &buf, &len), FERRY_OK);
    srand(12345);
    unsigned char *m = malloc(len);
    assert_non_null(m);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(m, buf, len);
        for (int k = 0; k < 1 + iter % 4; k++)
            m[(size_t)rand() % len] = (unsigned char)rand();
        json_t *out = NULL;
        if (ferry_msgpack_decode(m, len, &out) == FERRY_OK) {
            json_t *again = roundtrip(out);
            assert_json_equal(again, out);
            json_decref(again);
        }
        json_decref(out);
    }
    free(m);
    ferry_free(buf);
    json_decref(doc);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_document),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_string_lengths),
        cmocka_unit_test(test_container_sizes),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_trailing_and_empty),
        cmocka_unit_test(test_rejected_types),
        cmocka_unit_test(test_map_keys),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_declared_counts),
        cmocka_unit_test(test_payload_cap),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_interop),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_random_inputs),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
