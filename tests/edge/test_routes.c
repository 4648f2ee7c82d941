/* The gateway's route table from a survey (edge-sync/routes.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "routes.h"

static json_t *J(const char *text) {
    json_t *v = json_loads(text, 0, NULL);
    if (v == NULL)
        fail_msg("bad JSON in test: %s", text);
    return v;
}

static const ferry_gateway_route *find(const ferry_routes *r, const char *service) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].service, service) == 0)
            return &r->items[i];
    return NULL;
}

static void test_routes_of_running_apps(void **state) {
    (void)state;
    ferry_survey_item items[4];
    memset(items, 0, sizeof(items));
    snprintf(items[0].name, sizeof(items[0].name), "fn");
    items[0].dir.kind = FERRY_DIRECTIVE_RUN;
    items[0].spec = J("{\"type\": \"function\", \"monitorQps\": true, \"services\": [{\"name\": "
                      "\"py\", \"timeout\": 3, \"functions\": [{\"name\": \"a\"}, {\"name\": "
                      "\"b\"}]}, {\"name\": \"sql\", \"functions\": [{\"name\": \"f\"}]}]}");
    snprintf(items[1].name, sizeof(items[1].name), "web");
    items[1].dir.kind = FERRY_DIRECTIVE_RUN;
    snprintf(items[1].pod_ip, sizeof(items[1].pod_ip), "10.1.2.3");
    items[1].spec = J("{\"services\": [{\"name\": \"published\", \"ports\": [{\"containerPort\": "
                      "80, \"hostPort\": 18080, \"protocol\": \"TCP\"}]}, {\"name\": \"inside\", "
                      "\"ports\": [{\"containerPort\": 53, \"protocol\": \"UDP\"}, "
                      "{\"containerPort\": 8081, \"protocol\": \"TCP\"}]}, {\"name\": "
                      "\"portless\", \"ports\": []}]}");
    snprintf(items[2].name, sizeof(items[2].name), "host");
    items[2].dir.kind = FERRY_DIRECTIVE_RUN;
    items[2].spec = J("{\"hostNetwork\": true, \"services\": [{\"name\": \"h\", \"ports\": "
                      "[{\"containerPort\": 9000}]}, {\"name\": \"nopod\", \"ports\": []}]}");
    snprintf(items[3].name, sizeof(items[3].name), "gone");
    items[3].dir.kind = FERRY_DIRECTIVE_REMOVE;
    items[3].spec = J("{\"services\": [{\"name\": \"g\", \"ports\": [{\"containerPort\": 1, "
                      "\"hostPort\": 2}]}]}");
    ferry_survey s = {items, 4, 0};
    ferry_routes r;

    assert_int_equal(ferry_routes_build("/data", "team", &s, &r), FERRY_OK);
    assert_int_equal(r.n, 5); /* py, sql, published, inside, h */
    const ferry_gateway_route *py = find(&r, "py");
    assert_non_null(py);
    assert_true(py->function && py->monitor_qps);
    assert_string_equal(py->socket, "/data/pods/team/fn/0/ferry-run-0/runtime.sock");
    assert_int_equal(py->timeout_ms, 3000);
    assert_int_equal(py->nfunctions, 2);
    assert_string_equal(py->functions[1], "b");
    const ferry_gateway_route *sql = find(&r, "sql");
    assert_string_equal(sql->socket, "/data/pods/team/fn/0/ferry-run-1/runtime.sock");
    assert_int_equal(sql->timeout_ms, 30000);
    assert_string_equal(find(&r, "published")->target, "127.0.0.1:18080");
    assert_false(find(&r, "published")->function || find(&r, "published")->monitor_qps);
    assert_string_equal(find(&r, "inside")->target, "10.1.2.3:8081"); /* the first TCP port */
    assert_string_equal(find(&r, "h")->target, "127.0.0.1:9000");
    assert_null(find(&r, "portless"));
    assert_null(find(&r, "g"));
    assert_string_equal(find(&r, "inside")->app, "web");
    assert_string_equal(find(&r, "inside")->ns, "team");
    ferry_routes_free(&r);

    /* Without its pod's address, a service without a published port has no route. */
    items[1].pod_ip[0] = '\0';
    assert_int_equal(ferry_routes_build("/data", "team", &s, &r), FERRY_OK);
    assert_null(find(&r, "inside"));
    assert_non_null(find(&r, "published"));
    ferry_routes_free(&r);
    for (size_t i = 0; i < 4; i++)
        json_decref(items[i].spec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_of_running_apps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
