/* Unit tests of daemon/metrics.c: the registry and the text exposition format. */
#include "metrics.h"
#include "unit.h"

static const char *render(ferry_metrics *m, char **text) {
    size_t len = 0;
    assert_int_equal(ferry_metrics_render(m, text, &len), FERRY_OK);
    assert_int_equal(strlen(*text), len);
    return *text;
}

static void test_families_render(void **state) {
    static const double b[] = {0.01, 0.1, 1};
    ferry_metrics *m = NULL;
    char *text = NULL, labels[128] = "";
    (void)state;
    assert_int_equal(ferry_metrics_new(&m), FERRY_OK);
    assert_int_equal(ferry_metrics_declare(m, "x_total", FERRY_METRIC_COUNTER, "Calls.", NULL, 0),
                     FERRY_OK);
    assert_int_equal(ferry_metrics_declare(m, "x_total", FERRY_METRIC_GAUGE, "Again.", NULL, 0),
                     FERRY_EINVAL);
    assert_int_equal(ferry_metrics_declare(m, "depth", FERRY_METRIC_GAUGE, "Depth.", NULL, 0),
                     FERRY_OK);
    assert_int_equal(
        ferry_metrics_declare(m, "lat_seconds", FERRY_METRIC_HISTOGRAM, "Latency.", b, 3),
        FERRY_OK);
    assert_true(ferry_metrics_label(labels, sizeof(labels), "route", "/a\"b\\c\nd"));
    assert_true(ferry_metrics_label(labels, sizeof(labels), "code", "200"));
    assert_string_equal(labels, "route=\"/a\\\"b\\\\c\\nd\",code=\"200\"");
    ferry_metrics_add(m, "x_total", labels, 2);
    ferry_metrics_add(m, "x_total", labels, 1);
    ferry_metrics_add(m, "x_total", labels, -5); /* a counter never goes down */
    ferry_metrics_add(m, "nothing", labels, 1);  /* undeclared: ignored */
    ferry_metrics_set(m, "depth", NULL, 7);
    ferry_metrics_set(m, "x_total", NULL, 9); /* not a gauge: ignored */
    ferry_metrics_observe(m, "lat_seconds", "r=\"a\"", 0.005);
    ferry_metrics_observe(m, "lat_seconds", "r=\"a\"", 0.5);
    ferry_metrics_observe(m, "lat_seconds", "r=\"a\"", 3);
    assert_string_equal(render(m, &text),
                        "# HELP x_total Calls.\n# TYPE x_total counter\n"
                        "x_total{route=\"/a\\\"b\\\\c\\nd\",code=\"200\"} 3\n"
                        "# HELP depth Depth.\n# TYPE depth gauge\ndepth 7\n"
                        "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
                        "lat_seconds_bucket{r=\"a\",le=\"0.01\"} 1\n"
                        "lat_seconds_bucket{r=\"a\",le=\"0.1\"} 1\n"
                        "lat_seconds_bucket{r=\"a\",le=\"1\"} 2\n"
                        "lat_seconds_bucket{r=\"a\",le=\"+Inf\"} 3\n"
                        "lat_seconds_sum{r=\"a\"} 3.505\nlat_seconds_count{r=\"a\"} 3\n");
    ferry_free(text);
    ferry_metrics_clear(m, "depth");
    ferry_metrics_clear(m, "x_total");
    ferry_metrics_clear(m, "lat_seconds");
    assert_string_equal(render(m, &text), "# HELP x_total Calls.\n# TYPE x_total counter\n"
                                          "# HELP depth Depth.\n# TYPE depth gauge\n"
                                          "# HELP lat_seconds Latency.\n# TYPE lat_seconds "
                                          "histogram\n");
    ferry_free(text);
    ferry_metrics_free(m);
}

static void test_label_full_and_many_series(void **state) {
    ferry_metrics *m = NULL;
    char small[12] = "";
    char *text = NULL;
    (void)state;
    assert_false(ferry_metrics_label(small, sizeof(small), "key", "too long a value"));
    assert_string_equal(small, "");
    assert_int_equal(ferry_metrics_new(&m), FERRY_OK);
    assert_int_equal(ferry_metrics_declare(m, "g", FERRY_METRIC_GAUGE, "G.", NULL, 0), FERRY_OK);
    for (int i = 0; i < 5000; i++) {
        char labels[64] = "", v[16];
        snprintf(v, sizeof(v), "a%d", i);
        assert_true(ferry_metrics_label(labels, sizeof(labels), "app", v));
        ferry_metrics_set(m, "g", labels, i);
    }
    render(m, &text);
    assert_non_null(strstr(text, "g{app=\"a4999\"} 4999\n"));
    ferry_free(text);
    ferry_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_render),
        cmocka_unit_test(test_label_full_and_many_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
