/* Unit tests of quantities, times and base64 (schema/quantity.c, schema/base64.c). */
#include "unit.h"

#include <stdio.h>

#include "ferry/base64.h"
#include "ferry/quantity.h"

typedef struct {
    const char *json; /* a JSON value */
    ferry_err rc;
    int64_t want;
} qcase;

static void run_cases(const qcase *cases, size_t n, ferry_err (*parse)(const json_t *, int64_t *),
                      const char *what) {
    for (size_t i = 0; i < n; i++) {
        json_t *v = J(cases[i].json);
        int64_t got = -12345;
        ferry_err rc = parse(v, &got);
        if (rc != cases[i].rc)
            fail_msg("%s %s: rc %d, want %d", what, cases[i].json, rc, cases[i].rc);
        if (rc == FERRY_OK && got != cases[i].want)
            fail_msg("%s %s: %lld, want %lld", what, cases[i].json, (long long)got,
                     (long long)cases[i].want);
        if (rc != FERRY_OK && got != -12345)
            fail_msg("%s %s: output written on failure", what, cases[i].json);
        assert_int_equal(parse(v, NULL), cases[i].rc);
        json_decref(v);
    }
}

static void test_cpu(void **state) {
    (void)state;
    static const qcase cases[] = {
        {"\"0.5\"", FERRY_OK, 500},
        {"\"500m\"", FERRY_OK, 500},
        {"\"2\"", FERRY_OK, 2000},
        {"\"1.25\"", FERRY_OK, 1250},
        {"\"1m\"", FERRY_OK, 1},
        {"\"0.001\"", FERRY_OK, 1},
        {"\"0.0010000000000000000000\"", FERRY_OK, 1}, /* trailing zeros carry no precision */
        {"\"1.0m\"", FERRY_OK, 1},
        {"\"007\"", FERRY_OK, 7000},
        {"\"1000000\"", FERRY_OK, 1000000000},
        {"\"1000000000m\"", FERRY_OK, 1000000000},
        {"2", FERRY_OK, 2000},
        {"0.5", FERRY_OK, 500},
        {"0.1", FERRY_OK, 100},
        {"0.3", FERRY_OK, 300},
        {"1.001", FERRY_OK, 1001},
        {"0.001", FERRY_OK, 1},
        {"1000000", FERRY_OK, 1000000000},
        {"1000000.0", FERRY_OK, 1000000000},
        /* not positive */
        {"0", FERRY_EINVAL, 0},
        {"-1", FERRY_EINVAL, 0},
        {"0.0", FERRY_EINVAL, 0},
        {"-0.5", FERRY_EINVAL, 0},
        {"\"0\"", FERRY_EINVAL, 0},
        {"\"0m\"", FERRY_EINVAL, 0},
        {"\"0.000\"", FERRY_EINVAL, 0},
        /* finer than a millicore */
        {"\"0.0005\"", FERRY_EINVAL, 0},
        {"\"1.0001\"", FERRY_EINVAL, 0},
        {"\"0.5m\"", FERRY_EINVAL, 0},
        {"0.0001", FERRY_EINVAL, 0},
        {"1.0005", FERRY_EINVAL, 0},
        /* too large */
        {"1000001", FERRY_ETOOBIG, 0},
        {"1000000.001", FERRY_ETOOBIG, 0},
        {"1e300", FERRY_ETOOBIG, 0},
        {"\"1000000.001\"", FERRY_ETOOBIG, 0},
        {"\"1000000001m\"", FERRY_ETOOBIG, 0},
        {"\"9223372036854775807\"", FERRY_ETOOBIG, 0},
        {"\"99999999999999999999999\"", FERRY_ETOOBIG, 0},
        {"9223372036854775807", FERRY_ETOOBIG, 0},
        /* junk */
        {"\"\"", FERRY_EINVAL, 0},
        {"\"m\"", FERRY_EINVAL, 0},
        {"\".5\"", FERRY_EINVAL, 0},
        {"\"5.\"", FERRY_EINVAL, 0},
        {"\"1.2.3\"", FERRY_EINVAL, 0},
        {"\"+1\"", FERRY_EINVAL, 0},
        {"\"-1\"", FERRY_EINVAL, 0},
        {"\"1e3\"", FERRY_EINVAL, 0},
        {"\" 1\"", FERRY_EINVAL, 0},
        {"\"1 \"", FERRY_EINVAL, 0},
        {"\"500 m\"", FERRY_EINVAL, 0},
        {"\"500M\"", FERRY_EINVAL, 0},
        {"\"1k\"", FERRY_EINVAL, 0},
        {"\"2Gi\"", FERRY_EINVAL, 0},
        {"\"500mm\"", FERRY_EINVAL, 0},
        {"\"0x10\"", FERRY_EINVAL, 0},
        {"\"1,5\"", FERRY_EINVAL, 0},
        {"\"0.1234567890123456789\"", FERRY_EINVAL, 0}, /* more than 18 decimal places */
        {"true", FERRY_EINVAL, 0},
        {"null", FERRY_EINVAL, 0},
        {"[1]", FERRY_EINVAL, 0},
        {"{}", FERRY_EINVAL, 0},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), ferry_quantity_parse_cpu, "cpu");
    assert_int_equal(ferry_quantity_parse_cpu(NULL, NULL), FERRY_EINVAL);
    json_t *nul = json_stringn("1\0m", 3);
    assert_int_equal(ferry_quantity_parse_cpu(nul, NULL), FERRY_EINVAL);
    json_decref(nul);
}

static void test_memory(void **state) {
    (void)state;
    static const qcase cases[] = {
        {"\"64Mi\"", FERRY_OK, 67108864},
        {"\"1Gi\"", FERRY_OK, 1073741824},
        {"\"128M\"", FERRY_OK, 128000000},
        {"\"1000\"", FERRY_OK, 1000},
        {"\"0\"", FERRY_OK, 0},
        {"0", FERRY_OK, 0},
        {"67108864", FERRY_OK, 67108864},
        {"\"1k\"", FERRY_OK, 1000},
        {"\"1Ki\"", FERRY_OK, 1024},
        {"\"1G\"", FERRY_OK, 1000000000},
        {"\"1T\"", FERRY_OK, 1000000000000},
        {"\"1Ti\"", FERRY_OK, 1099511627776},
        {"\"1P\"", FERRY_OK, 1000000000000000},
        {"\"1Pi\"", FERRY_OK, 1125899906842624},
        {"\"1E\"", FERRY_OK, 1000000000000000000},
        {"\"1Ei\"", FERRY_OK, 1152921504606846976},
        {"\"7Ei\"", FERRY_OK, 8070450532247928832},
        {"\"9.223372036854775807E\"", FERRY_OK, INT64_MAX},
        {"\"9223372036854775807\"", FERRY_OK, INT64_MAX},
        {"9223372036854775807", FERRY_OK, INT64_MAX},
        {"\"1.5Gi\"", FERRY_OK, 1610612736},
        {"\"0.5Ki\"", FERRY_OK, 512},
        {"\"1.1Ki\"", FERRY_OK, 1127}, /* 1126.4 rounds up */
        {"\"0.5\"", FERRY_OK, 1},
        {"\"0.000000000000000001\"", FERRY_OK, 1},
        {"\"0.000000000000000001Ei\"", FERRY_OK, 2}, /* 1.152921504606846976 */
        {"\"0.000000000000000001E\"", FERRY_OK, 1},
        {"\"2.5M\"", FERRY_OK, 2500000},
        {"\"1.000000000000000000000\"", FERRY_OK, 1},
        {"\"0.1Mi\"", FERRY_OK, 104858}, /* 104857.6 */
        {"\"4Mi\"", FERRY_OK, 4194304},
        {"\"7.99999999999999999Ei\"", FERRY_OK, 9223372036854775797}, /* ...796.47 */
        /* overflow */
        {"\"8Ei\"", FERRY_ETOOBIG, 0},
        {"\"9.3E\"", FERRY_ETOOBIG, 0},
        {"\"10E\"", FERRY_ETOOBIG, 0},
        {"\"9223372036854775808\"", FERRY_ETOOBIG, 0},
        {"\"99999999999999999999999\"", FERRY_ETOOBIG, 0},
        {"\"9007199254740993Ki\"", FERRY_ETOOBIG, 0},
        /* junk */
        {"-1", FERRY_EINVAL, 0},
        {"1.5", FERRY_EINVAL, 0},
        {"67108864.0", FERRY_EINVAL, 0},
        {"\"\"", FERRY_EINVAL, 0},
        {"\"Mi\"", FERRY_EINVAL, 0},
        {"\"64MB\"", FERRY_EINVAL, 0},
        {"\"64mi\"", FERRY_EINVAL, 0},
        {"\"64m\"", FERRY_EINVAL, 0},
        {"\"64K\"", FERRY_EINVAL, 0},
        {"\"64KI\"", FERRY_EINVAL, 0},
        {"\"64 Mi\"", FERRY_EINVAL, 0},
        {"\" 64Mi\"", FERRY_EINVAL, 0},
        {"\"64Mi \"", FERRY_EINVAL, 0},
        {"\"-64Mi\"", FERRY_EINVAL, 0},
        {"\"+64Mi\"", FERRY_EINVAL, 0},
        {"\"1e9\"", FERRY_EINVAL, 0},
        {"\"1.\"", FERRY_EINVAL, 0},
        {"\".5Gi\"", FERRY_EINVAL, 0},
        {"\"1..5Gi\"", FERRY_EINVAL, 0},
        {"\"1Gii\"", FERRY_EINVAL, 0},
        {"\"0.1234567890123456789\"", FERRY_EINVAL, 0},
        {"true", FERRY_EINVAL, 0},
        {"null", FERRY_EINVAL, 0},
        {"{}", FERRY_EINVAL, 0},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), ferry_quantity_parse_memory, "memory");
    assert_int_equal(ferry_quantity_parse_memory(NULL, NULL), FERRY_EINVAL);
}

static void test_rfc3339(void **state) {
    (void)state;
    static const struct {
        const char *s;
        ferry_err rc;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", FERRY_OK, 0},
        {"2026-11-26T10:00:00Z", FERRY_OK, 1795687200000},
        {"2026-11-26t10:00:00z", FERRY_OK, 1795687200000},
        {"2026-11-26T11:00:00+01:00", FERRY_OK, 1795687200000},
        {"2026-11-26T04:30:00-05:30", FERRY_OK, 1795687200000},
        {"2026-11-26T10:00:00-00:00", FERRY_OK, 1795687200000},
        {"2026-11-26T10:00:00.5Z", FERRY_OK, 1795687200500},
        {"2026-11-26T10:00:00.123456789Z", FERRY_OK, 1795687200123},
        {"2026-11-26T10:00:00.01Z", FERRY_OK, 1795687200010},
        {"2000-02-29T00:00:00Z", FERRY_OK, 951782400000},
        {"2024-02-29T12:00:00Z", FERRY_OK, 1709208000000},
        {"1969-12-31T23:59:59Z", FERRY_OK, -1000},
        {"1900-01-01T00:00:00Z", FERRY_OK, -2208988800000},
        {"0000-01-01T00:00:00Z", FERRY_OK, -62167219200000},
        {"9999-12-31T23:59:59.999Z", FERRY_OK, 253402300799999},
        {"2016-12-31T23:59:60Z", FERRY_OK, 1483228800000}, /* leap second */
        {"2026-11-26T23:59:59+23:59", FERRY_OK, 1795651259000},
        {"2026-11-26T10:00:00", FERRY_EINVAL, 0},
        {"2026-11-26T10:00Z", FERRY_EINVAL, 0},
        {"2026-11-26 10:00:00Z", FERRY_EINVAL, 0},
        {"2026-11-26", FERRY_EINVAL, 0},
        {"2026-13-01T00:00:00Z", FERRY_EINVAL, 0},
        {"2026-00-01T00:00:00Z", FERRY_EINVAL, 0},
        {"2026-02-29T00:00:00Z", FERRY_EINVAL, 0},
        {"1900-02-29T00:00:00Z", FERRY_EINVAL, 0},
        {"2026-04-31T00:00:00Z", FERRY_EINVAL, 0},
        {"2026-01-00T00:00:00Z", FERRY_EINVAL, 0},
        {"2026-01-01T24:00:00Z", FERRY_EINVAL, 0},
        {"2026-01-01T00:60:00Z", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:61Z", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00.Z", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00+1:00", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00+01", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00+0100", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00+24:00", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00+01:60", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00ZZ", FERRY_EINVAL, 0},
        {"2026-01-01T00:00:00Z ", FERRY_EINVAL, 0},
        {" 2026-01-01T00:00:00Z", FERRY_EINVAL, 0},
        {"2026/01/01T00:00:00Z", FERRY_EINVAL, 0},
        {"+2026-01-01T00:00:00Z", FERRY_EINVAL, 0},
        {"20260-01-01T00:00:00Z", FERRY_EINVAL, 0},
        {"2026-1-01T00:00:00Z", FERRY_EINVAL, 0},
        {"", FERRY_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -7;
        ferry_err rc = ferry_time_parse_rfc3339(cases[i].s, &ms);
        if (rc != cases[i].rc || (rc == FERRY_OK && ms != cases[i].ms))
            fail_msg("'%s': rc %d ms %lld, want rc %d ms %lld", cases[i].s, rc, (long long)ms,
                     cases[i].rc, (long long)cases[i].ms);
        assert_int_equal(ferry_time_parse_rfc3339(cases[i].s, NULL), cases[i].rc);
    }
    assert_int_equal(ferry_time_parse_rfc3339(NULL, NULL), FERRY_EINVAL);
}

static void test_base64(void **state) {
    (void)state;
    static const struct {
        const char *raw;
        const char *b64;
    } vectors[] = {/* RFC 4648 section 10 */
                   {"", ""},
                   {"f", "Zg=="},
                   {"fo", "Zm8="},
                   {"foo", "Zm9v"},
                   {"foob", "Zm9vYg=="},
                   {"fooba", "Zm9vYmE="},
                   {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        size_t n = 99;
        char *s = ferry_base64_encode(vectors[i].raw, strlen(vectors[i].raw), &n);
        assert_string_equal(s, vectors[i].b64);
        assert_int_equal(n, strlen(vectors[i].b64));
        unsigned char *back = NULL;
        size_t blen = 99;
        assert_int_equal(ferry_base64_decode(s, n, &back, &blen), FERRY_OK);
        assert_non_null(back);
        assert_int_equal(blen, strlen(vectors[i].raw));
        assert_memory_equal(back, vectors[i].raw, blen);
        assert_true(ferry_base64_valid(s, n, &blen));
        assert_int_equal(blen, strlen(vectors[i].raw));
        ferry_free(back);
        ferry_free(s);
    }
    /* every byte value, every length mod 3 */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    for (size_t len = 250; len <= 256; len++) {
        size_t n = 0;
        char *s = ferry_base64_encode(all, len, &n);
        unsigned char *back = NULL;
        size_t blen = 0;
        assert_int_equal(ferry_base64_decode(s, n, &back, &blen), FERRY_OK);
        assert_int_equal(blen, len);
        assert_memory_equal(back, all, len);
        ferry_free(back);
        ferry_free(s);
    }
    static const char *const bad[] = {
        "Zg",       /* no padding */
        "Zg=",      /* short padding */
        "Zg===",    /* length */
        "Zh==",     /* non-zero unused bits */
        "Zm9=",     /* non-zero unused bits */
        "Z===",     /* three pads */
        "====",     /* only pads */
        "Zg==Zg==", /* pad in the middle */
        "Zm=v",     /* pad before data */
        "Zm9v\n",   /* whitespace */
        "Zm 9v",    /* whitespace */
        "Zm9-",     /* url alphabet */
        "Zm9_",     /* url alphabet */
        "Zm9\xc3",  /* not ASCII */
        "A",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *out = (unsigned char *)"x";
        size_t n = 5;
        if (ferry_base64_valid(bad[i], strlen(bad[i]), NULL))
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(ferry_base64_decode(bad[i], strlen(bad[i]), &out, &n), FERRY_EFORMAT);
        assert_null(out);
        assert_int_equal(n, 0);
    }
    assert_false(ferry_base64_valid("Zm\0v", 4, NULL));
    assert_true(ferry_base64_valid(NULL, 0, NULL));
    unsigned char *out = NULL;
    size_t n = 0;
    assert_int_equal(ferry_base64_decode("", 0, &out, &n), FERRY_OK);
    assert_non_null(out);
    assert_int_equal(n, 0);
    ferry_free(out);
    assert_int_equal(ferry_base64_decode("Zg==", 4, NULL, &n), FERRY_EINVAL);
    char *s = ferry_base64_encode(NULL, 0, NULL);
    assert_string_equal(s, "");
    ferry_free(s);
    ferry_alloc_fail_after(1);
    assert_null(ferry_base64_encode("abc", 3, &n));
    ferry_alloc_fail_after(1);
    assert_int_equal(ferry_base64_decode("Zg==", 4, &out, &n), FERRY_ENOMEM);
    ferry_alloc_fail_after(0);
    assert_null(out);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_base64),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
