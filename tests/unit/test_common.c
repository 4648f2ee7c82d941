/* Unit tests of the common runtime (schema/common.c): error strings and details, allocation
 * wrappers and the failing-allocator hook, the logger's line format, clocks. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void test_strerror(void **state) {
    (void)state;
    for (int e = 0; e < FERRY_ERR_COUNT; e++) {
        const char *s = ferry_strerror((ferry_err)e);
        assert_non_null(s);
        assert_true(strlen(s) > 3);
        assert_string_not_equal(s, "unknown error");
    }
    assert_string_equal(ferry_strerror(FERRY_ERR_COUNT), "unknown error");
    assert_string_equal(ferry_strerror((ferry_err)-1), "unknown error");
}

static void test_detail(void **state) {
    (void)state;
    ferry_detail d;
    char text[sizeof(d.field) + 2 + sizeof(d.message)];

    assert_int_equal(ferry_fail(NULL, FERRY_EEXIST, "name", "x"), FERRY_EEXIST);
    assert_int_equal(ferry_fail(&d, FERRY_EINVAL, "replicas", "must be at most %d", 64),
                     FERRY_EINVAL);
    assert_string_equal(d.field, "replicas");
    assert_string_equal(d.message, "must be at most 64");
    assert_string_equal(ferry_detail_text(&d, text, sizeof(text)), "replicas: must be at most 64");
    ferry_fail(&d, FERRY_EEXIST, NULL, "app '%s' already exists", "web");
    assert_string_equal(d.field, "");
    assert_string_equal(ferry_detail_text(&d, text, sizeof(text)), "app 'web' already exists");
    /* Cut at a character boundary: "\xc3\xa9" is one character of two bytes. */
    ferry_fail(&d, FERRY_EINVAL, "f", "%510s\xc3\xa9", "");
    assert_int_equal(strlen(d.message), 510);
    ferry_fail(&d, FERRY_EINVAL, "f", "ab\xc3\xa9");
    assert_string_equal(ferry_detail_text(&d, text, 7), "f: ab");
}

static void scrub_case(const char *in, const char *want) {
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", in);
    ferry_text_scrub(buf);
    assert_string_equal(buf, want);
}

static void test_text_scrub(void **state) {
    (void)state;
    scrub_case("plain text\nline\ttab", "plain text\nline\ttab");
    scrub_case("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    scrub_case("bad \xff byte", "bad ? byte");
    scrub_case("cut \xe2\x82", "cut ??");        /* truncated sequence */
    scrub_case("over \xc0\xaf", "over ??");      /* overlong '/' */
    scrub_case("surr \xed\xa0\x80", "surr ???"); /* UTF-16 surrogate */
    scrub_case("bell\a esc\x1b", "bell? esc?");
    ferry_text_scrub(NULL);
}

static void test_alloc(void **state) {
    (void)state;
    assert_null(ferry_calloc(SIZE_MAX / 2, 3)); /* overflow is refused, not wrapped */
    void *p = ferry_calloc(0, 8);
    assert_non_null(p);
    ferry_free(p);
    ferry_free(NULL);
    char *s = ferry_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    ferry_free(s);
    s = ferry_strdup("xyz");
    assert_string_equal(s, "xyz");
    ferry_free(s);
    assert_null(ferry_strdup(NULL));

    /* the N-th allocation from now fails, once */
    ferry_alloc_fail_after(3);
    void *a = ferry_malloc(1), *b = ferry_malloc(1), *c = ferry_malloc(1), *d = ferry_malloc(1);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_non_null(d);
    ferry_free(a);
    ferry_free(b);
    ferry_free(d);
    ferry_alloc_fail_after(1);
    assert_null(json_object()); /* jansson goes through the wrappers */
    json_t *o = json_object();
    assert_non_null(o);
    json_decref(o);
    ferry_alloc_fail_after(1);
    assert_null(ferry_realloc(NULL, 10));
    ferry_alloc_fail_after(0);
}

static void test_log_format(void **state) {
    (void)state;
    char path[] = "/tmp/ferry-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    ferry_log_init("/usr/bin/test_common");
    ferry_log_threshold = FERRY_LOG_INFO;
    LOG_INFO("hello %d", 42);
    LOG_DEBUG("not shown %d", 1);
    LOG_ERROR("two\nlines");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[512] = "";
    FILE *f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    close(fd);
    unlink(path);
    /* "2026-11-26T06:44:48.123Z test_common INFO test_common.c:NN hello 42" */
    char *line2 = strchr(buf, '\n');
    assert_non_null(line2);
    *line2++ = '\0';
    assert_int_equal(
        strlen(buf) > 25 && buf[4] == '-' && buf[10] == 'T' && buf[19] == '.' && buf[23] == 'Z', 1);
    assert_contains(buf, " test_common INFO test_common.c:");
    assert_contains(buf, " hello 42");
    assert_contains(line2, " ERROR ");
    assert_contains(line2, "two?lines\n"); /* one call, one line */
    assert_null(strstr(line2, "not shown"));
}

static void test_clocks(void **state) {
    (void)state;
    int64_t a = ferry_mono_ms(), now = ferry_now_ms();
    assert_true(now > 1700000000000LL); /* after 2023 */
    assert_true(ferry_mono_ms() >= a);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),   cmocka_unit_test(test_detail),
        cmocka_unit_test(test_alloc),      cmocka_unit_test(test_text_scrub),
        cmocka_unit_test(test_log_format), cmocka_unit_test(test_clocks),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
