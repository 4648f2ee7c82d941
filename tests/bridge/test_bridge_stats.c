/* Unit tests of broker-bridge's window of call statistics (stats.c: deltas from cumulative
 * reports, restarts, gaps, clock skew, the ring's wrap after an hour, the series cap, quantiles
 * over merged histograms, drops) and of node.stats through the bridge (trust, app and node
 * deletion, GET .../stats). */
#include "bridge_test.h"

#include "ferry/stats.h"
#include "stats.h"

#define T0 1764139480000LL /* a slot boundary */

/* One calls entry: req requests, ok of them successful, c5 server errors, all in bucket b. */
static json_t *call(const char *app, const char *svc, const char *fn, long long req, long long ok,
                    long long c5, int b) {
    json_t *lat = json_array();
    for (int k = 0; k < FERRY_STATS_BUCKETS; k++)
        json_array_append_new(lat, json_integer(k == b ? req : 0));
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "app", app, "service", svc,
                     "function", fn, "requests", (json_int_t)req, "success", (json_int_t)ok,
                     "clientErrors", (json_int_t)0, "serverErrors", (json_int_t)c5, "timeouts",
                     (json_int_t)0, "latency", lat);
}

/* Report one entry (stolen) of node at (start, ts), the bridge's clock at now. */
static size_t report(bridge_stats *s, const char *node, long long start, long long ts,
                     json_t *entry, long long now) {
    json_t *calls = json_pack("[o]", entry);
    size_t refused = bridge__stats_report(s, "default", node, start, ts, calls, now);
    json_decref(calls);
    return refused;
}

/* The view of app "fn" over window seconds at now (caller frees). */
static json_t *view(bridge_stats *s, int window, long long now) {
    json_t *out = json_object();
    assert_int_equal(bridge__stats_view(s, "default", "fn", window, now, out), FERRY_OK);
    return out;
}

static json_int_t total(const json_t *v, const char *counter) {
    return json_integer_value(json_object_get(json_object_get(v, "total"), counter));
}

static json_int_t view_requests(bridge_stats *s, int window, long long now) {
    json_t *v = view(s, window, now);
    json_int_t n = total(v, "requests");
    json_decref(v);
    return n;
}

static void test_deltas_from_cumulative_reports(void **state) {
    (void)state;
    bridge_stats *s = NULL;
    assert_int_equal(bridge__stats_new(0, T0, &s), FERRY_OK);
    /* Counters that started after the table: the first totals are all new. */
    assert_int_equal(
        report(s, "east", T0 + 1, T0 + 5000, call("fn", "s", "f", 10, 9, 1, 2), T0 + 5000), 0);
    assert_int_equal(
        report(s, "east", T0 + 1, T0 + 15000, call("fn", "s", "f", 25, 23, 2, 2), T0 + 15000), 0);
    json_t *v = view(s, 60, T0 + 19000);
    assert_int_equal(json_integer_value(json_object_get(v, "window")), 60);
    assert_int_equal(json_integer_value(json_object_get(v, "interval")), 10);
    assert_int_equal(total(v, "requests"), 25);
    assert_int_equal(total(v, "success"), 23);
    assert_int_equal(total(v, "serverErrors"), 2);
    assert_float_equal(json_real_value(json_object_get(json_object_get(v, "total"), "qps")),
                       25.0f / 60.0f, 1e-6f);
    /* The series: six slots, oldest first, the last two holding the deltas 10 and 15. */
    json_t *series = json_object_get(v, "series");
    assert_int_equal(json_array_size(series), 6);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(series, 5), "ts")),
                     T0 + 10000);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(series, 5), "requests")),
                     15);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(series, 4), "requests")),
                     10);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(series, 3), "requests")), 0);
    /* nodes > services > functions */
    json_t *node = json_array_get(json_object_get(v, "nodes"), 0);
    assert_string_equal(json_string_value(json_object_get(node, "node")), "east");
    json_t *svc = json_array_get(json_object_get(node, "services"), 0);
    assert_string_equal(json_string_value(json_object_get(svc, "service")), "s");
    json_t *fn = json_array_get(json_object_get(svc, "functions"), 0);
    assert_string_equal(json_string_value(json_object_get(fn, "function")), "f");
    assert_int_equal(json_integer_value(json_object_get(fn, "requests")), 25);
    assert_int_equal(total(svc, "requests"), 25);
    assert_int_equal(total(node, "requests"), 25);
    json_decref(v);
    /* The last slot alone; a duplicate and an overtaken report change nothing. */
    assert_int_equal(view_requests(s, 10, T0 + 19000), 15);
    report(s, "east", T0 + 1, T0 + 15000, call("fn", "s", "f", 25, 23, 2, 2), T0 + 16000);
    report(s, "east", T0 + 1, T0 + 12000, call("fn", "s", "f", 20, 18, 2, 2), T0 + 16000);
    assert_int_equal(view_requests(s, 60, T0 + 19000), 25);
    /* A window past the reports shows nothing, and no node. */
    v = view(s, 10, T0 + 45000);
    assert_int_equal(total(v, "requests"), 0);
    assert_int_equal(json_array_size(json_object_get(v, "nodes")), 0);
    json_decref(v);
    /* Windows the view refuses (the API rounds up to a multiple of 10 first). */
    json_t *out = json_object();
    assert_int_equal(bridge__stats_view(s, "default", "fn", 0, T0, out), FERRY_EINVAL);
    assert_int_equal(bridge__stats_view(s, "default", "fn", 15, T0, out), FERRY_EINVAL);
    assert_int_equal(bridge__stats_view(s, "default", "fn", 3610, T0, out), FERRY_EINVAL);
    json_decref(out);
    bridge__stats_free(s);
}

static void test_first_report_and_restarts(void **state) {
    (void)state;
    bridge_stats *s = NULL;
    assert_int_equal(bridge__stats_new(0, T0, &s), FERRY_OK);
    /* Counters older than the bridge's table: a baseline only (those calls are not all new). */
    report(s, "east", T0 - 600000, T0 + 5000, call("fn", "s", "f", 1000, 1000, 0, 1), T0 + 5000);
    assert_int_equal(view_requests(s, 60, T0 + 5000), 0);
    report(s, "east", T0 - 600000, T0 + 15000, call("fn", "s", "f", 1004, 1004, 0, 1), T0 + 15000);
    assert_int_equal(view_requests(s, 60, T0 + 15000), 4);
    /* A counter going down with the same start: restarted, the new totals are the delta. */
    report(s, "east", T0 - 600000, T0 + 25000, call("fn", "s", "f", 3, 3, 0, 1), T0 + 25000);
    assert_int_equal(view_requests(s, 10, T0 + 25000), 3);
    /* A new start: the same. */
    report(s, "east", T0 + 30000, T0 + 35000, call("fn", "s", "f", 7, 7, 0, 1), T0 + 35000);
    assert_int_equal(view_requests(s, 10, T0 + 35000), 7);
    /* A report of the previous run arriving late: ignored. */
    report(s, "east", T0 - 600000, T0 + 36000, call("fn", "s", "f", 2000, 2000, 0, 1), T0 + 36000);
    assert_int_equal(view_requests(s, 10, T0 + 36000), 7);
    report(s, "east", T0 + 30000, T0 + 37000, call("fn", "s", "f", 9, 9, 0, 1), T0 + 37000);
    assert_int_equal(view_requests(s, 10, T0 + 37000), 9);
    bridge__stats_free(s);
}

static void test_gaps_and_clock_skew(void **state) {
    (void)state;
    bridge_stats *s = NULL;
    assert_int_equal(bridge__stats_new(0, T0, &s), FERRY_OK);
    report(s, "east", T0, T0 + 5000, call("fn", "s", "f", 10, 10, 0, 0), T0 + 5000);
    /* A minute of lost reports: the next one's whole delta lands in its own slot. */
    report(s, "east", T0, T0 + 65000, call("fn", "s", "f", 40, 40, 0, 0), T0 + 65000);
    json_t *v = view(s, 70, T0 + 65000);
    json_t *series = json_object_get(v, "series");
    assert_int_equal(json_array_size(series), 7);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(series, 0), "requests")),
                     10);
    for (size_t k = 1; k < 6; k++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(series, k), "requests")),
                         0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(series, 6), "requests")),
                     30);
    assert_int_equal(total(v, "requests"), 40);
    json_decref(v);
    /* A node clock an hour ahead: counted at the bridge's now. */
    report(s, "east", T0, T0 + 3600000, call("fn", "s", "f", 45, 45, 0, 0), T0 + 75000);
    assert_int_equal(view_requests(s, 10, T0 + 75000), 5);
    /* A report older than the ring: only the baseline moves. */
    report(s, "west", T0, T0 + 1000, call("fn", "s", "f", 50, 50, 0, 0), T0 + 4000000);
    assert_int_equal(view_requests(s, 3600, T0 + 4000000), 0);
    report(s, "west", T0, T0 + 4000000, call("fn", "s", "f", 52, 52, 0, 0), T0 + 4000000);
    assert_int_equal(view_requests(s, 3600, T0 + 4000000), 2);
    bridge__stats_free(s);
}

/* 400 reports 10 s apart, one call each: the ring keeps the last 360. */
static void test_ring_wraps_after_an_hour(void **state) {
    (void)state;
    bridge_stats *s = NULL;
    long long now = T0;
    assert_int_equal(bridge__stats_new(0, T0, &s), FERRY_OK);
    for (long long i = 1; i <= 400; i++) {
        now = T0 + i * 10000 + 500;
        report(s, "east", T0, now, call("fn", "s", "f", i, i, 0, 3), now);
    }
    assert_int_equal(view_requests(s, 3600, now), 360);
    assert_int_equal(view_requests(s, 10, now), 1);
    assert_int_equal(view_requests(s, 600, now), 60);
    json_t *v = view(s, 3600, now);
    assert_int_equal(json_array_size(json_object_get(v, "series")), 360);
    json_decref(v);
    bridge__stats_free(s);
}

static void test_series_cap(void **state) {
    (void)state;
    bridge_stats *s = NULL;
    assert_int_equal(bridge__stats_new(2, T0, &s), FERRY_OK);
    assert_int_equal(report(s, "east", T0, T0 + 1000, call("fn", "s", "a", 1, 1, 0, 0), T0 + 1000),
                     0);
    assert_int_equal(report(s, "east", T0, T0 + 1000, call("fn", "s", "b", 1, 1, 0, 0), T0 + 1000),
                     0);
    /* Full: a new series is refused (with a WARN), a known one still counts. */
    assert_int_equal(report(s, "east", T0, T0 + 2000, call("fn", "s", "c", 1, 1, 0, 0), T0 + 2000),
                     1);
    assert_int_equal(bridge__stats_count(s), 2);
    assert_int_equal(report(s, "east", T0, T0 + 3000, call("fn", "s", "a", 5, 5, 0, 0), T0 + 3000),
                     0);
    assert_int_equal(view_requests(s, 60, T0 + 3000), 6);
    /* An hour later "b" is idle for longer than the ring: it makes room; "a" is kept. */
    long long later = T0 + 3600000 + 2500;
    assert_int_equal(report(s, "east", T0, later, call("fn", "s", "a", 6, 6, 0, 0), later), 0);
    assert_int_equal(report(s, "east", T0, later, call("fn", "s", "c", 2, 2, 0, 0), later), 0);
    assert_int_equal(bridge__stats_count(s), 2);
    assert_int_equal(view_requests(s, 60, later), 1 + 2);
    bridge__stats_free(s);
}

/* Quantiles of a service and of the fleet come from the merged histograms. */
static void test_quantiles_over_merged_histograms(void **state) {
    (void)state;
    bridge_stats *s = NULL;
    assert_int_equal(bridge__stats_new(0, T0, &s), FERRY_OK);
    report(s, "east", T0, T0 + 1000, call("fn", "s", "f", 90, 90, 0, 1), T0 + 1000);
    report(s, "west", T0, T0 + 1000, call("fn", "s", "f", 10, 10, 0, 12), T0 + 1000);
    report(s, "west", T0, T0 + 1000, call("fn", "s", "g", 0, 0, 0, 0), T0 + 1000);
    uint64_t merged[FERRY_STATS_BUCKETS] = {0};
    merged[1] = 90;
    merged[12] = 10;
    json_t *v = view(s, 60, T0 + 1000);
    json_t *lat = json_object_get(json_object_get(v, "total"), "latencyMs");
    assert_float_equal(json_real_value(json_object_get(lat, "p50")),
                       ferry_stats_quantile_ms(merged, 0.5), 1e-6);
    assert_float_equal(json_real_value(json_object_get(lat, "p99")),
                       ferry_stats_quantile_ms(merged, 0.99), 1e-3);
    assert_true(json_real_value(json_object_get(lat, "p50")) < 0.1);   /* bucket 1: 50..100 us */
    assert_true(json_real_value(json_object_get(lat, "p99")) > 100.0); /* bucket 12: >102 ms */
    /* per node: sorted, each its own histogram */
    json_t *nodes = json_object_get(v, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    json_t *west = json_array_get(nodes, 1);
    assert_string_equal(json_string_value(json_object_get(west, "node")), "west");
    json_t *fns =
        json_object_get(json_array_get(json_object_get(west, "services"), 0), "functions");
    assert_int_equal(json_array_size(fns), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(fns, 1), "function")),
                        "g");
    assert_true(json_real_value(json_object_get(
                    json_object_get(json_object_get(west, "total"), "latencyMs"), "p50")) > 100.0);
    assert_int_equal(total(v, "requests"), 100);
    json_decref(v);
    bridge__stats_free(s);
}

static void test_drops(void **state) {
    (void)state;
    bridge_stats *s = NULL;
    assert_int_equal(bridge__stats_new(0, T0, &s), FERRY_OK);
    report(s, "east", T0, T0 + 1000, call("fn", "s", "f", 1, 1, 0, 0), T0 + 1000);
    report(s, "west", T0, T0 + 1000, call("fn", "s", "f", 1, 1, 0, 0), T0 + 1000);
    report(s, "east", T0, T0 + 1000, call("other", "s", "f", 1, 1, 0, 0), T0 + 1000);
    bridge__stats_drop(s, "default", NULL, "west");
    assert_int_equal(bridge__stats_count(s), 2);
    bridge__stats_drop(s, "elsewhere", "fn", NULL);
    assert_int_equal(bridge__stats_count(s), 2);
    bridge__stats_drop(s, "default", "fn", NULL);
    assert_int_equal(bridge__stats_count(s), 1);
    assert_int_equal(view_requests(s, 60, T0 + 1000), 0);
    /* The one left still counts (the index followed the moves). */
    report(s, "east", T0, T0 + 2000, call("other", "s", "f", 3, 3, 0, 0), T0 + 2000);
    json_t *out = json_object();
    assert_int_equal(bridge__stats_view(s, "default", "other", 60, T0 + 2000, out), FERRY_OK);
    assert_int_equal(total(out, "requests"), 3);
    json_decref(out);
    bridge__stats_free(s);
}

/* ---- through the bridge ---------------------------------------------------------------------- */

static json_t *stats_msg(const char *node, long long start, long long ts, json_t *calls) {
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "type", "node.stats", "ns", "default",
                     "node", node, "start", (json_int_t)start, "ts", (json_int_t)ts, "calls",
                     calls);
}

static void add_node(bridge_fixture *f, const char *name) {
    json_t *out = NULL, *body = json_pack("{s:s}", "name", name);
    ferry_detail e;
    assert_int_equal(ferry_bridge_node_create(f->b, "default", body, &out, &e), FERRY_OK);
    json_decref(body);
    json_decref(out);
}

static void add_app(bridge_fixture *f, const char *name) {
    json_t *out = NULL, *app = sample_app(name, 1, 0, NULL, NULL);
    ferry_detail e;
    json_object_set_new(app, "monitorQps", json_true());
    assert_int_equal(ferry_bridge_app_create(f->b, "default", app, &out, &e), FERRY_OK);
    json_decref(app);
    json_decref(out);
}

static json_int_t app_requests(bridge_fixture *f, const char *app) {
    json_t *out = NULL;
    ferry_detail e;
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", app, 60, &out, &e), FERRY_OK);
    json_int_t n = total(out, "requests");
    json_decref(out);
    return n;
}

static void test_bridge_reports(void **state) {
    bridge_fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    add_node(f, "east");
    add_node(f, "west");
    add_app(f, "fn");
    long long now = ferry_now_ms(), start = now;
    /* east's report of fn and of an app that does not exist */
    assert_int_equal(node_message(f->b, "ferry/default/nodes/east/stats",
                                  stats_msg("east", start, now,
                                            json_pack("[o, o]", call("fn", "s", "f", 4, 4, 0, 1),
                                                      call("ghost", "s", "f", 9, 9, 0, 1))),
                                  NULL),
                     FERRY_OK);
    /* a report on east's topic naming west, and one on a stranger's topic: refused */
    node_message(
        f->b, "ferry/default/nodes/east/stats",
        stats_msg("west", start, now + 1, json_pack("[o]", call("fn", "s", "f", 50, 50, 0, 1))),
        NULL);
    node_message(
        f->b, "ferry/default/nodes/nobody/stats",
        stats_msg("nobody", start, now + 1, json_pack("[o]", call("fn", "s", "f", 50, 50, 0, 1))),
        NULL);
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "fn", 60, &out, &e), FERRY_OK);
    assert_string_equal(json_string_value(json_object_get(out, "namespace")), "default");
    assert_string_equal(json_string_value(json_object_get(out, "app")), "fn");
    assert_true(json_is_true(json_object_get(out, "monitorQps")));
    assert_int_equal(total(out, "requests"), 4);
    assert_int_equal(json_array_size(json_object_get(out, "nodes")), 1);
    json_decref(out);
    /* window: rounded up to 10 s, bounded */
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "fn", 15, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "window")), 20);
    json_decref(out);
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "fn", 9, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "window");
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "fn", 3601, &out, &e), FERRY_EINVAL);
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "ghost", 60, &out, &e),
                     FERRY_ENOTFOUND);
    assert_null(out);
    /* west reports; deleting the node drops its series only */
    node_message(
        f->b, "ferry/default/nodes/west/stats",
        stats_msg("west", start, now + 2, json_pack("[o]", call("fn", "s", "f", 6, 6, 0, 1))),
        NULL);
    assert_int_equal(app_requests(f, "fn"), 10);
    assert_int_equal(ferry_bridge_node_delete(f->b, "default", "west", &out, &e), FERRY_OK);
    json_decref(out);
    assert_int_equal(app_requests(f, "fn"), 4);
    /* deleting the app drops the rest: re-created, it starts empty */
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "fn", &out, &e), FERRY_OK);
    json_decref(out);
    assert_int_equal(ferry_bridge_app_stats(f->b, "default", "fn", 60, &out, &e), FERRY_ENOTFOUND);
    /* a report for the deleted app counts nowhere */
    node_message(
        f->b, "ferry/default/nodes/east/stats",
        stats_msg("east", start, now + 3, json_pack("[o]", call("fn", "s", "f", 8, 8, 0, 1))),
        NULL);
    add_app(f, "fn");
    assert_int_equal(app_requests(f, "fn"), 0);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deltas_from_cumulative_reports),
        cmocka_unit_test(test_first_report_and_restarts),
        cmocka_unit_test(test_gaps_and_clock_skew),
        cmocka_unit_test(test_ring_wraps_after_an_hour),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_quantiles_over_merged_histograms),
        cmocka_unit_test(test_drops),
        cmocka_unit_test_setup_teardown(test_bridge_reports, bridge_fixture_setup,
                                        bridge_fixture_teardown),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
