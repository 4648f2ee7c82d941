/* Unit tests of the call-statistics histogram (schema/stats.c): bucket bounds, the bucket of a
 * latency, and quantiles (empty, one bucket, interpolation, bucket edges, the last bucket). */
#include "unit.h"

#include <math.h>
#include <stdint.h>

#include "ferry/stats.h"

/* cmocka's assert_float_equal works in float: compare doubles here. */
#define assert_ms(got, want) assert_near((got), (want), __LINE__)
static void assert_near(double got, double want, int line) {
    if (fabs(got - want) > 1e-9)
        fail_msg("line %d: got %.12g ms, want %.12g ms", line, got, want);
}

static void test_bounds_and_buckets(void **state) {
    (void)state;
    assert_int_equal(ferry_stats_bound_us(-1), 0);
    assert_int_equal(ferry_stats_bound_us(0), 50);
    assert_int_equal(ferry_stats_bound_us(1), 100);
    assert_int_equal(ferry_stats_bound_us(18), 13107200); /* ~13.1 s */
    assert_true(ferry_stats_bound_us(FERRY_STATS_BUCKETS - 1) == UINT64_MAX);
    for (int k = 1; k < FERRY_STATS_BUCKETS - 1; k++)
        assert_true(ferry_stats_bound_us(k) == 2 * ferry_stats_bound_us(k - 1));
    /* A bound belongs to its own bucket; one microsecond more is the next one's. */
    assert_int_equal(ferry_stats_bucket(0), 0);
    assert_int_equal(ferry_stats_bucket(50), 0);
    assert_int_equal(ferry_stats_bucket(51), 1);
    assert_int_equal(ferry_stats_bucket(100), 1);
    assert_int_equal(ferry_stats_bucket(101), 2);
    for (int k = 0; k < FERRY_STATS_BUCKETS - 1; k++) {
        assert_int_equal(ferry_stats_bucket(ferry_stats_bound_us(k)), k);
        assert_int_equal(ferry_stats_bucket(ferry_stats_bound_us(k) + 1), k + 1);
    }
    assert_int_equal(ferry_stats_bucket(13107201), FERRY_STATS_BUCKETS - 1);
    assert_int_equal(ferry_stats_bucket(UINT64_MAX), FERRY_STATS_BUCKETS - 1);
}

static void test_quantile_empty_and_bad_q(void **state) {
    (void)state;
    uint64_t h[FERRY_STATS_BUCKETS] = {0};
    assert_ms(ferry_stats_quantile_ms(h, 0.5), 0.0);
    assert_ms(ferry_stats_quantile_ms(h, 0.99), 0.0);
    h[3] = 10;
    assert_ms(ferry_stats_quantile_ms(h, 0.0), 0.0);
    assert_ms(ferry_stats_quantile_ms(h, 1.0), 0.0);
    assert_ms(ferry_stats_quantile_ms(h, -1.0), 0.0);
}

static void test_quantile_single_bucket(void **state) {
    (void)state;
    uint64_t h[FERRY_STATS_BUCKETS] = {0};
    h[0] = 10; /* 0..50 us */
    assert_ms(ferry_stats_quantile_ms(h, 0.5), 0.025);
    assert_ms(ferry_stats_quantile_ms(h, 0.9), 0.045);
    h[0] = 0;
    h[3] = 10; /* 200..400 us */
    assert_ms(ferry_stats_quantile_ms(h, 0.5), 0.3);
    assert_ms(ferry_stats_quantile_ms(h, 0.99), 0.398);
    h[3] = 1; /* one call: every quantile inside its bucket */
    assert_ms(ferry_stats_quantile_ms(h, 0.5), 0.3);
}

static void test_quantile_interpolation(void **state) {
    (void)state;
    uint64_t h[FERRY_STATS_BUCKETS] = {0};
    h[0] = 1;
    h[1] = 3; /* rank 2 of 4: the first of bucket 1's three, a third into 50..100 us */
    assert_ms(ferry_stats_quantile_ms(h, 0.5), (50.0 + 50.0 / 3.0) / 1000.0);
    /* rank exactly at the end of a bucket: that bucket's upper bound */
    uint64_t e[FERRY_STATS_BUCKETS] = {0};
    e[0] = 5;
    e[1] = 5;
    assert_ms(ferry_stats_quantile_ms(e, 0.5), 0.05);
    /* empty buckets in between are skipped */
    uint64_t g[FERRY_STATS_BUCKETS] = {0};
    g[2] = 50;  /* 100..200 us */
    g[10] = 50; /* 25.6..51.2 ms */
    assert_ms(ferry_stats_quantile_ms(g, 0.5), 0.2);
    assert_ms(ferry_stats_quantile_ms(g, 0.9), 25.6 + 0.8 * 25.6);
    assert_true(ferry_stats_quantile_ms(g, 0.5) <= ferry_stats_quantile_ms(g, 0.9));
    assert_true(ferry_stats_quantile_ms(g, 0.9) <= ferry_stats_quantile_ms(g, 0.99));
}

static void test_quantile_last_bucket(void **state) {
    (void)state;
    uint64_t h[FERRY_STATS_BUCKETS] = {0};
    h[FERRY_STATS_BUCKETS - 1] = 4; /* slower than ~13.1 s: its lower bound */
    assert_ms(ferry_stats_quantile_ms(h, 0.5), 13107.2);
    assert_ms(ferry_stats_quantile_ms(h, 0.99), 13107.2);
    h[0] = 96; /* p99 falls in the last bucket, p50 in the first */
    assert_ms(ferry_stats_quantile_ms(h, 0.5), 50.0 * (50.0 / 96.0) / 1000.0);
    assert_ms(ferry_stats_quantile_ms(h, 0.99), 13107.2);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_and_buckets),
        cmocka_unit_test(test_quantile_empty_and_bad_q),
        cmocka_unit_test(test_quantile_single_bucket),
        cmocka_unit_test(test_quantile_interpolation),
        cmocka_unit_test(test_quantile_last_bucket),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
