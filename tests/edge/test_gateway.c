/* The node gateway's pure pieces: routing decisions, request parsing under the limits, the route
 * table and the call counters (gateway_internal.h), with no socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_internal.h"

static const char *const fns[] = {"resize", "hello", "b-c_d.1"};

static ferry_gateway__table *table(ferry_gateway__stats *st) {
    ferry_gateway_route routes[] = {
        {.service = "web",
         .ns = "default",
         .app = "site",
         .target = "10.0.0.1:8080",
         .monitor_qps = true},
        {.service = "img",
         .ns = "default",
         .app = "fn",
         .function = true,
         .socket = "/run/ferry/fn/runtime.sock",
         .functions = fns,
         .nfunctions = 3,
         .monitor_qps = true},
        {.service = "Bad", .function = true, .socket = "/x"},            /* not a label */
        {.service = "img", .function = true, .socket = "/y"},            /* twice */
        {.service = "px", .target = "localhost:80"},                     /* not IPv4 */
        {.service = "rel", .function = true, .socket = "relative.sock"}, /* not absolute */
        {.service = "quiet", .ns = "n", .app = "a", .target = "127.0.0.1:1"},
    };
    return ferry_gateway__table_build(routes, sizeof(routes) / sizeof(routes[0]), st);
}

static void route(const ferry_gateway__table *t, int method, const char *url,
                  ferry_gateway__decision *d) {
    ferry_gateway__route_request(t, method, url, strlen(url), d);
}

static void test_labels_and_targets(void **state) {
    (void)state;
    assert_true(ferry_gateway__label_ok("a", 1));
    assert_true(ferry_gateway__label_ok("a-1", 3));
    assert_false(ferry_gateway__label_ok("", 0));
    assert_false(ferry_gateway__label_ok("-a", 2));
    assert_false(ferry_gateway__label_ok("a-", 2));
    assert_false(ferry_gateway__label_ok("A", 1));
    assert_false(ferry_gateway__label_ok("a.b", 3));
    char l64[65];
    memset(l64, 'a', 64);
    assert_true(ferry_gateway__label_ok(l64, 63));
    assert_false(ferry_gateway__label_ok(l64, 64));
    struct sockaddr_in sa;
    assert_true(ferry_gateway__target_parse("127.0.0.1:80", &sa));
    assert_int_equal(ntohs(sa.sin_port), 80);
    assert_false(ferry_gateway__target_parse("127.0.0.1", &sa));
    assert_false(ferry_gateway__target_parse("127.0.0.1:", &sa));
    assert_false(ferry_gateway__target_parse("127.0.0.1:0", &sa));
    assert_false(ferry_gateway__target_parse("127.0.0.1:65536", &sa));
    assert_false(ferry_gateway__target_parse("127.0.0.1:8x", &sa));
    assert_false(ferry_gateway__target_parse("host:80", &sa));
    assert_false(ferry_gateway__target_parse("[::1]:80", &sa));
}

static void test_table(void **state) {
    (void)state;
    ferry_gateway__table *t = table(NULL);
    assert_non_null(t);
    assert_int_equal(t->n, 3); /* img, quiet, web: the invalid and the duplicate are left out */
    assert_string_equal(t->routes[0].service, "img");
    assert_string_equal(t->routes[1].service, "quiet");
    assert_string_equal(t->routes[2].service, "web");
    assert_string_equal(t->routes[0].socket, "/run/ferry/fn/runtime.sock");
    assert_int_equal(t->routes[0].timeout_ms, FERRY_GATEWAY_TIMEOUT_MS);
    assert_string_equal(t->routes[0].functions[0], "b-c_d.1"); /* sorted */
    assert_null(ferry_gateway__table_find(t, "im", 2));
    assert_null(ferry_gateway__table_find(t, "imgx", 4));
    assert_non_null(ferry_gateway__table_find(t, "imgx", 3));
    ferry_gateway__table_free(t, NULL);
    ferry_gateway__table *empty = ferry_gateway__table_build(NULL, 0, NULL);
    assert_non_null(empty);
    assert_null(ferry_gateway__table_find(empty, "x", 1));
    ferry_gateway__table_free(empty, NULL);
}

static void test_routing(void **state) {
    (void)state;
    ferry_gateway__table *t = table(NULL);
    ferry_gateway__decision d;

    route(t, HTTP_POST, "/img/resize", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_CALL);
    assert_string_equal(d.route->functions[d.function], "resize");
    route(t, HTTP_POST, "/img/b-c_d.1?x=1", &d); /* the query is not part of the name */
    assert_int_equal(d.verdict, FERRY_GATEWAY_CALL);
    assert_string_equal(d.route->functions[d.function], "b-c_d.1");

    route(t, HTTP_POST, "/img/nope", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_FUNCTION);
    assert_int_equal(d.status, 404);
    assert_int_equal(d.name_len, 4);
    assert_memory_equal(d.name, "nope", 4);
    route(t, HTTP_POST, "/img/resize/more", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_FUNCTION);
    route(t, HTTP_POST, "/img/res", &d); /* a prefix of a name */
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_FUNCTION);
    route(t, HTTP_POST, "/img", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_FUNCTION);
    assert_int_equal(d.name_len, 0);
    route(t, HTTP_POST, "/img/", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_FUNCTION);

    route(t, HTTP_GET, "/img/resize", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_BAD_METHOD);
    assert_int_equal(d.status, 405);
    route(t, HTTP_PUT, "/img/nope", &d); /* the method is checked first */
    assert_int_equal(d.verdict, FERRY_GATEWAY_BAD_METHOD);

    route(t, HTTP_POST, "/nope/resize", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_SERVICE);
    assert_int_equal(d.status, 404);
    assert_int_equal(d.service_len, 4);
    route(t, HTTP_POST, "/IMG/resize", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_SERVICE);
    route(t, HTTP_POST, "/", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_SERVICE);
    route(t, HTTP_POST, "//img/resize", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_NO_SERVICE);

    route(t, HTTP_GET, "http://host/img/resize", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_BAD_TARGET);
    assert_int_equal(d.status, 400);
    route(t, HTTP_GET, "*", &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_BAD_TARGET);
    ferry_gateway__route_request(t, HTTP_GET, "/web\0x", 6, &d);
    assert_int_equal(d.verdict, FERRY_GATEWAY_BAD_TARGET);

    const struct {
        const char *url, *rest;
    } proxy[] = {{"/web/a/b?x=1", "/a/b?x=1"},
                 {"/web", ""},
                 {"/web/", "/"},
                 {"/web?q=1", "?q=1"},
                 {"/web/#f", "/#f"}};
    for (size_t i = 0; i < sizeof(proxy) / sizeof(proxy[0]); i++) {
        route(t, HTTP_DELETE, proxy[i].url, &d);
        assert_int_equal(d.verdict, FERRY_GATEWAY_PROXY);
        assert_string_equal(d.route->service, "web");
        assert_int_equal(d.rest_len, strlen(proxy[i].rest));
        assert_memory_equal(d.rest, proxy[i].rest, d.rest_len);
    }
    ferry_gateway__table_free(t, NULL);
}

/* Feed text in pieces of step bytes; the state at the end. */
static ferry_gateway__req_state feed(ferry_gateway__req *r, const char *text, size_t len,
                                     size_t step, size_t *consumed) {
    size_t off = 0;
    while (off < len && r->state == FERRY_GATEWAY_REQ_MORE) {
        size_t n = len - off < step ? len - off : step;
        off += ferry_gateway__req_feed(r, text + off, n, 42);
    }
    if (consumed != NULL)
        *consumed = off;
    return r->state;
}

static void test_request_parsing(void **state) {
    (void)state;
    const char two[] =
        "POST /img/resize?x HTTP/1.1\r\nHost: a\r\nContent-Type: image/png\r\n"
        "Content-Length: 5\r\n\r\nhello"
        "GET /web/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for (size_t step = 1; step <= sizeof(two); step += 7) {
        ferry_gateway__req r;
        ferry_gateway__req_init(&r);
        size_t used;
        assert_int_equal(feed(&r, two, sizeof(two) - 1, step, &used), FERRY_GATEWAY_REQ_COMPLETE);
        assert_int_equal(r.parser.method, HTTP_POST);
        assert_int_equal(r.url_len, 13);
        assert_memory_equal(r.head, "/img/resize?x", 13);
        assert_int_equal(r.nheaders, 3);
        assert_true(r.content_type >= 0);
        assert_memory_equal(ferry_gateway__hvalue(&r, (size_t)r.content_type), "image/png", 9);
        assert_int_equal(r.body_len, 5);
        assert_memory_equal(r.body, "hello", 5);
        assert_true(r.keep_alive);
        assert_int_equal(r.start_ns, 42);
        ferry_gateway__req_next(&r);
        size_t used2;
        assert_int_equal(feed(&r, two + used, sizeof(two) - 1 - used, step, &used2),
                         FERRY_GATEWAY_REQ_COMPLETE);
        assert_int_equal(used + used2, sizeof(two) - 1);
        assert_int_equal(r.parser.method, HTTP_GET);
        assert_int_equal(r.body_len, 3);
        assert_memory_equal(r.body, "abc", 3);
        ferry_gateway__req_free(&r);
    }
}

static void test_request_limits(void **state) {
    (void)state;
    ferry_gateway__req r;
    ferry_gateway__req_init(&r);
    const char big[] = "POST /a/b HTTP/1.1\r\nContent-Length: 6291457\r\n\r\n";
    assert_int_equal(feed(&r, big, sizeof(big) - 1, 4096, NULL), FERRY_GATEWAY_REQ_ERROR);
    assert_int_equal(r.error_status, 413);
    ferry_gateway__req_free(&r);

    /* A chunked body over the cap. */
    ferry_gateway__req_init(&r);
    const char chunked[] = "POST /a/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n400000\r\n";
    assert_int_equal(feed(&r, chunked, sizeof(chunked) - 1, 4096, NULL), FERRY_GATEWAY_REQ_MORE);
    char *chunk = malloc(0x400000);
    memset(chunk, 'x', 0x400000);
    for (int i = 0; i < 2 && r.state == FERRY_GATEWAY_REQ_MORE; i++) {
        ferry_gateway__req_feed(&r, chunk, 0x400000, 0);
        if (r.state == FERRY_GATEWAY_REQ_MORE)
            ferry_gateway__req_feed(&r, "\r\n400000\r\n", 10, 0);
    }
    assert_int_equal(r.state, FERRY_GATEWAY_REQ_ERROR);
    assert_int_equal(r.error_status, 413);
    free(chunk);
    ferry_gateway__req_free(&r);

    /* A head over 16 KiB, and too many header lines: 431. */
    ferry_gateway__req_init(&r);
    char *head = malloc(40000);
    size_t n = (size_t)snprintf(head, 40000, "GET /a/%0*d HTTP/1.1\r\n\r\n", 17000, 0);
    assert_int_equal(feed(&r, head, n, 1000, NULL), FERRY_GATEWAY_REQ_ERROR);
    assert_int_equal(r.error_status, 431);
    ferry_gateway__req_free(&r);
    ferry_gateway__req_init(&r);
    n = (size_t)snprintf(head, 40000, "GET /a HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(head + n, 40000 - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(head + n, 40000 - n, "\r\n");
    assert_int_equal(feed(&r, head, n, 1000, NULL), FERRY_GATEWAY_REQ_ERROR);
    assert_int_equal(r.error_status, 431);
    ferry_gateway__req_free(&r);
    free(head);

    /* Garbage: 400. */
    ferry_gateway__req_init(&r);
    assert_int_equal(feed(&r, "\x16\x03\x01garbage\r\n\r\n", 14, 100, NULL),
                     FERRY_GATEWAY_REQ_ERROR);
    assert_int_equal(r.error_status, 400);
    ferry_gateway__req_free(&r);

    /* Connection: close and HTTP/1.0 end the connection; Expect: 100-continue is seen. */
    ferry_gateway__req_init(&r);
    const char closing[] = "POST /a/b HTTP/1.1\r\nConnection: close\r\nExpect: 100-continue\r\n"
                           "Content-Length: 2\r\n\r\n";
    assert_int_equal(feed(&r, closing, sizeof(closing) - 1, 100, NULL), FERRY_GATEWAY_REQ_MORE);
    assert_true(r.expect_continue);
    assert_int_equal(feed(&r, "hi", 2, 100, NULL), FERRY_GATEWAY_REQ_COMPLETE);
    assert_false(r.keep_alive);
    ferry_gateway__req_free(&r);
    ferry_gateway__req_init(&r);
    assert_int_equal(feed(&r, "GET /a HTTP/1.0\r\n\r\n", 19, 100, NULL),
                     FERRY_GATEWAY_REQ_COMPLETE);
    assert_false(r.keep_alive);
    ferry_gateway__req_free(&r);
}

static void test_hop_by_hop(void **state) {
    (void)state;
    assert_true(ferry_gateway__hop_by_hop("Connection", 10));
    assert_true(ferry_gateway__hop_by_hop("TRANSFER-ENCODING", 17));
    assert_true(ferry_gateway__hop_by_hop("content-length", 14));
    assert_false(ferry_gateway__hop_by_hop("Content-Type", 12));
    assert_false(ferry_gateway__hop_by_hop("Connectio", 9));
    assert_string_equal(ferry_gateway__reason(404), "Not Found");
    assert_string_equal(ferry_gateway__reason(599), "Status");
}

static void test_stats(void **state) {
    (void)state;
    ferry_gateway__stats st;
    ferry_gateway__stats_init(&st);
    ferry_gateway__table *t = table(&st);
    ferry_gateway__route *img = ferry_gateway__table_find(t, "img", 3);
    ferry_gateway__route *web = ferry_gateway__table_find(t, "web", 3);
    ferry_gateway__route *quiet = ferry_gateway__table_find(t, "quiet", 5);
    assert_null(quiet->series);  /* not monitored */
    assert_null(img->series[3]); /* the misses' series is attached on first use */
    ferry_gateway__series *resize = img->series[2]; /* functions sorted: b-c_d.1, hello, resize */
    assert_string_equal(resize->function, "resize");
    assert_string_equal(web->series[0]->function, FERRY_STATS_PROXY_FUNCTION);
    const int statuses[] = {200, 302, 400, 404, 500, 503, 504, 201};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        ferry_gateway__stats_count(&st, resize, statuses[i], 100 * (uint64_t)i);
    ferry_gateway__stats_count(&st, NULL, 200, 1); /* not monitored: nothing */

    ferry_gateway_series *s;
    size_t n;
    assert_int_equal(ferry_gateway__stats_snapshot(&st, &s, &n), FERRY_OK);
    assert_int_equal(n, 4); /* three functions and web's */
    const ferry_gateway_series *r = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].function, "resize") == 0)
            r = &s[i];
    assert_non_null(r);
    assert_string_equal(r->ns, "default");
    assert_string_equal(r->app, "fn");
    assert_string_equal(r->service, "img");
    assert_int_equal(r->requests, 8);
    assert_int_equal(r->success, 3);
    assert_int_equal(r->client_errors, 2);
    assert_int_equal(r->server_errors, 2);
    assert_int_equal(r->timeouts, 1);
    uint64_t total = 0;
    for (int k = 0; k < FERRY_STATS_BUCKETS; k++)
        total += r->latency[k];
    assert_int_equal(total, 8);
    assert_int_equal(r->latency[0], 1); /* 0 us */
    ferry_gateway_stats_free(s, n);

    /* A new table with the same route keeps the counters; web leaves. */
    ferry_gateway_route again[] = {{.service = "img",
                                    .ns = "default",
                                    .app = "fn",
                                    .function = true,
                                    .socket = "/s",
                                    .functions = fns,
                                    .nfunctions = 3,
                                    .monitor_qps = true}};
    ferry_gateway__table *t2 = ferry_gateway__table_build(again, 1, &st);
    assert_ptr_equal(t2->routes[0].series[2], resize);
    ferry_gateway__table_free(t, &st);
    assert_int_equal(ferry_gateway__stats_snapshot(&st, &s, &n), FERRY_OK);
    assert_int_equal(n, 4); /* web is reported once more */
    ferry_gateway_stats_free(s, n);
    assert_int_equal(ferry_gateway__stats_snapshot(&st, &s, &n), FERRY_OK);
    assert_int_equal(n, 3); /* then forgotten */
    for (size_t i = 0; i < n; i++)
        assert_string_equal(s[i].service, "img");
    ferry_gateway_stats_free(s, n);
    ferry_gateway__table_free(t2, &st);
    ferry_gateway__stats_destroy(&st);
}

int main(void) {
    ferry_log_threshold = FERRY_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_and_targets),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_request_parsing),
        cmocka_unit_test(test_request_limits),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
