/* Unit tests of edge-sync/engine_wire.c's ferry_engine__clean_log: a log made fit for a logs answer
 * (cut to its newest bytes, valid UTF-8 without NUL). */
#include "engine_wire.h"
#include "unit.h"

static void check(const char *in, size_t len, size_t max, const char *want, bool cut) {
    char buf[256];
    bool truncated = true;
    memcpy(buf, in, len);
    size_t n = ferry_engine__clean_log(buf, len, max, &truncated);
    buf[n] = '\0';
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    assert_int_equal(truncated, cut);
    json_t *s = json_stringn(buf, n); /* what jansson (and so the encoder) accepts */
    assert_non_null(s);
    json_decref(s);
}

static void test_clean(void **state) {
    (void)state;
    check("plain\n", 6, 100, "plain\n", false);
    check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", 15, 100,
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", false);
    /* A NUL, a lone continuation byte, an overlong form, a surrogate, a cut sequence. */
    check("a\0b\x80"
          "c\xc0\xaf"
          "d\xed\xa0\x80"
          "e\xe2\x82",
          14, 100, "a?b?c??d???e??", false);
    /* Over the cap: the newest bytes, from the next line start. */
    check("line one\nline two\nline three\n", 29, 16, "line three\n", true);
    /* Not in the middle of a character even without a line start. */
    check("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 3, "\xc3\xa9", true);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_clean)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
