/* Function apps: normalization and the container form a node runs (schema/function.c). The field
 * rules are cases of tests/unit/app_cases.json and tests/examples/apps. */
#include "ferry/app.h"
#include "ferry/function.h"
#include "unit.h"

static const char FN_APP[] =
    "{\"name\": \"fn\", \"type\": \"function\", \"monitorQps\": true, \"services\": [{\"name\": "
    "\"test-node\", \"runtime\": \"python3\", \"functionConfig\": \"code\", \"functions\": "
    "[{\"name\": \"process\", \"handler\": \"index.handler\"}], \"env\": [{\"name\": \"A\", "
    "\"value\": \"1\"}]}, {\"name\": \"filter\", \"runtime\": \"sql\", \"functionConfig\": "
    "\"code\", \"image\": \"my/sql:2\", \"timeout\": 3, \"functions\": [{\"name\": \"f\", "
    "\"handler\": \"filter.sql\", \"codedir\": \"sql\"}]}]}";

/* assert_json_equal against JSON text. */
static void assert_json_text(const json_t *a, const char *text) {
    json_t *b = J(text);
    assert_json_equal(a, b);
    json_decref(b);
}

static const ferry_function_node NODE = {"rt/py:1", "rt/js:1", "rt/sql:1",
                                         "http://172.17.0.1:8480"};

/* The value of env variable name of a container, or NULL. */
static const char *env_of(const json_t *c, const char *name) {
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c, "env"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return json_string_value(json_object_get(e, "value"));
    }
    return NULL;
}

static void test_normalize_defaults(void **state) {
    (void)state;
    json_t *app = J(FN_APP);
    ferry_detail d;
    assert_int_equal(ferry_app_validate(app, &d), FERRY_OK);
    json_t *n = ferry_app_normalize(app);
    assert_non_null(n);
    assert_string_equal(json_string_value(json_object_get(n, "type")), "function");
    const json_t *s0 = json_array_get(json_object_get(n, "services"), 0);
    assert_int_equal(json_integer_value(json_object_get(s0, "timeout")), 30);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(s0, "functions"), 0), "codedir")),
                        "");
    assert_null(json_object_get(s0, "image"));
    assert_null(json_object_get(s0, "ports"));
    /* normalized twice: the same */
    assert_int_equal(ferry_app_validate(n, &d), FERRY_OK);
    json_t *n2 = ferry_app_normalize(n);
    assert_json_equal(n, n2);
    json_t *refs = NULL;
    assert_int_equal(ferry_app_config_refs(n, &refs), FERRY_OK);
    assert_json_text(refs, ("{\"configs\": {\"code\": \"config\"}, \"registries\": []}"));
    json_decref(refs);
    json_decref(n2);
    json_decref(n);
    json_decref(app);
}

static void test_pod_spec_function_app(void **state) {
    (void)state;
    json_t *app = J(FN_APP);
    json_t *n = ferry_app_normalize(app);
    json_object_set_new(n, "resolved",
                        J("{\"configs\": {\"code\": {\"kind\": \"config\", \"version\": 7, "
                          "\"files\": {}}}}"));
    json_t *pod = ferry_function_pod_spec(n, &NODE);
    assert_non_null(pod);
    const json_t *svcs = json_object_get(pod, "services");
    assert_int_equal(json_array_size(svcs), 2);
    const json_t *py = json_array_get(svcs, 0), *sql = json_array_get(svcs, 1);
    assert_string_equal(json_string_value(json_object_get(py, "image")), "rt/py:1");
    assert_string_equal(json_string_value(json_object_get(sql, "image")), "my/sql:2");
    assert_string_equal(env_of(py, "A"), "1");
    assert_string_equal(env_of(py, "FERRY_SERVICE"), "test-node");
    assert_string_equal(env_of(py, "FERRY_RUNTIME"), "python3");
    assert_string_equal(env_of(py, "FERRY_CODE_VERSION"), "7");
    assert_string_equal(env_of(py, "FERRY_SOCKET"), "/ferry/run/runtime.sock");
    assert_string_equal(env_of(py, "FERRY_GATEWAY"), "http://172.17.0.1:8480");
    json_t *fns = json_loads(env_of(sql, "FERRY_FUNCTIONS"), 0, NULL);
    assert_json_text(fns, ("[{\"name\": \"f\", \"handler\": \"filter.sql\", \"codedir\": "
                           "\"sql\"}]"));
    json_decref(fns);
    assert_json_text(json_object_get(sql, "volumeMounts"),
                     ("[{\"name\": \"ferry-code-1\", \"mountPath\": \"/ferry/code\", "
                      "\"readOnly\": true}, {\"name\": \"ferry-run-1\", \"mountPath\": "
                      "\"/ferry/run\", \"readOnly\": false}]"));
    assert_json_text(json_object_get(pod, "volumes"),
                     ("[{\"name\": \"ferry-code-0\", \"config\": {\"name\": \"code\"}}, "
                      "{\"name\": \"ferry-run-0\", \"emptyDir\": {}}, {\"name\": "
                      "\"ferry-code-1\", \"config\": {\"name\": \"code\"}}, {\"name\": "
                      "\"ferry-run-1\", \"emptyDir\": {}}]"));
    /* Stopped after the timeout + 5 s, with FERRY_DRAIN_S the timeout. */
    assert_int_equal(json_integer_value(json_object_get(py, "stopTimeout")), 35);
    assert_int_equal(json_integer_value(json_object_get(sql, "stopTimeout")), 8);
    assert_string_equal(env_of(sql, "FERRY_DRAIN_S"), "3");
    /* Else the container form passes the container rules (with the resolved configs). */
    json_object_del((json_t *)py, "stopTimeout");
    json_object_del((json_t *)sql, "stopTimeout");
    json_object_del(pod, "type");
    ferry_detail d;
    assert_int_equal(ferry_app_validate_ex(pod, FERRY_APP_ALLOW_RESOLVED, &d), FERRY_OK);
    json_decref(pod);
    json_decref(n);
    json_decref(app);
}

static void test_pod_spec_container_app(void **state) {
    (void)state;
    json_t *app = J("{\"name\": \"web\", \"initServices\": [{\"name\": \"i\", \"image\": \"b\"}], "
                    "\"services\": [{\"name\": \"a\", \"image\": \"b\"}, {\"name\": \"c\", "
                    "\"image\": \"b\", \"env\": [{\"name\": \"FERRY_GATEWAY\", \"value\": "
                    "\"mine\"}]}]}");
    json_t *n = ferry_app_normalize(app);
    json_t *pod = ferry_function_pod_spec(n, &NODE);
    const json_t *svcs = json_object_get(pod, "services");
    assert_string_equal(env_of(json_array_get(svcs, 0), "FERRY_GATEWAY"), "http://172.17.0.1:8480");
    assert_string_equal(env_of(json_array_get(svcs, 1), "FERRY_GATEWAY"), "mine");
    assert_string_equal(
        env_of(json_array_get(json_object_get(pod, "initServices"), 0), "FERRY_GATEWAY"),
        "http://172.17.0.1:8480");
    /* No gateway: the spec as it was. */
    ferry_function_node none = NODE;
    none.gateway_url = NULL;
    json_t *same = ferry_function_pod_spec(n, &none);
    assert_json_equal(same, n);
    json_decref(same);
    json_decref(pod);
    json_decref(n);
    json_decref(app);
}

static void test_function_names(void **state) {
    (void)state;
    assert_true(ferry_function_name_valid("process"));
    assert_true(ferry_function_name_valid("Process_2-x"));
    assert_false(ferry_function_name_valid(""));
    assert_false(ferry_function_name_valid("a/b"));
    assert_false(ferry_function_name_valid("a.b"));
    assert_false(ferry_function_name_valid(
        "0123456789012345678901234567890123456789012345678901234567890123"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_defaults),
        cmocka_unit_test(test_pod_spec_function_app),
        cmocka_unit_test(test_pod_spec_container_app),
        cmocka_unit_test(test_function_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
