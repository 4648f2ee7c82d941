/* Unit tests of label selectors (schema/selector.c): Kubernetes matching semantics with
 * matchExpressions, validation, the topic label, and the string form. */
#include "unit.h"

#include <stdio.h>

#include "ferry/selector.h"

static void test_expressions_match(void **state) {
    (void)state;
    json_t *labels =
        J("{\"region\":\"east\",\"tier\":\"gw\",\"gpu\":\"\",\"example.com/x\":\"1\"}");
    static const struct {
        const char *selector;
        bool match;
    } cases[] = {
        {"{\"matchExpressions\":[]}", true},
        {"{\"matchExpressions\":null}", true},
        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"gw\",\"edge\"]"
         "}]}",
         true},
        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"edge\"]}]}",
         false},
        {"{\"matchExpressions\":[{\"key\":\"rack\",\"operator\":\"In\",\"values\":[\"1\"]}]}",
         false},
        {"{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"In\",\"values\":[\"\"]}]}", true},
        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"edge\"]}]}",
         true},
        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"gw\"]}]}",
         false},
        /* NotIn holds for a missing label (Kubernetes) */
        {"{\"matchExpressions\":[{\"key\":\"rack\",\"operator\":\"NotIn\",\"values\":[\"1\"]}]}",
         true},
        {"{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Exists\"}]}", true},
        {"{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Exists\",\"values\":[]}]}", true},
        {"{\"matchExpressions\":[{\"key\":\"rack\",\"operator\":\"Exists\"}]}", false},
        {"{\"matchExpressions\":[{\"key\":\"rack\",\"operator\":\"DoesNotExist\"}]}", true},
        {"{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}]}", false},
        {"{\"matchExpressions\":[{\"key\":\"example.com/"
         "x\",\"operator\":\"In\",\"values\":[\"1\"]}]}",
         true},
        /* all must hold: labels and expressions */
        {"{\"matchLabels\":{\"region\":\"east\"},\"matchExpressions\":[{\"key\":\"gpu\","
         "\"operator\":"
         "\"Exists\"},{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"gw\"]}]}",
         true},
        {"{\"matchLabels\":{\"region\":\"west\"},\"matchExpressions\":[{\"key\":\"gpu\","
         "\"operator\":"
         "\"Exists\"}]}",
         false},
        {"{\"matchLabels\":{\"region\":\"east\"},\"matchExpressions\":[{\"key\":\"gpu\","
         "\"operator\":"
         "\"Exists\"},{\"key\":\"rack\",\"operator\":\"Exists\"}]}",
         false},
        /* malformed selectors match nothing */
        {"{\"matchExpressions\":{}}", false},
        {"{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Gt\"}]}", false},
        {"{\"matchExpressions\":[{\"operator\":\"Exists\"}]}", false},
        {"{\"matchExpressions\":[{\"key\":\"gpu\"}]}", false},
        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":\"gw\"}]}",
         false},
        {"{\"matchExpressions\":[{\"key\":\"rack\",\"operator\":\"NotIn\"}]}", false},
        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[1]}]}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *sel = J(cases[i].selector);
        if (ferry_selector_matches(sel, labels) != cases[i].match)
            fail_msg("selector %s: expected %d", cases[i].selector, cases[i].match);
        json_decref(sel);
    }
    /* a node without labels: only "absent" expressions hold */
    json_t *sel = J("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"DoesNotExist\"},"
                    "{\"key\":\"b\",\"operator\":\"NotIn\",\"values\":[\"x\"]}]}");
    assert_true(ferry_selector_matches(sel, NULL));
    json_t *empty = json_object();
    assert_true(ferry_selector_matches(sel, empty));
    json_decref(empty);
    json_decref(sel);
    json_decref(labels);
}

/* An app that selects by expressions only goes on the "all" topic. */
static void test_topic_with_expressions(void **state) {
    (void)state;
    const char *k = NULL, *v = NULL;
    json_t *sel = J("{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Exists\"}]}");
    assert_false(ferry_selector_topic_label(sel, &k, &v));
    json_decref(sel);
    sel = J("{\"matchLabels\":{\"zone\":\"a\"},\"matchExpressions\":[{\"key\":\"b\",\"operator\":"
            "\"Exists\"}]}");
    assert_true(ferry_selector_topic_label(sel, &k, &v));
    assert_string_equal(k, "zone");
    assert_string_equal(v, "a");
    json_decref(sel);
}

/* ferry_selector_each: the requirements in order (matchLabels first) with their operators, the
 * walk stopped by the callback, and what is malformed. */
typedef struct {
    char seen[256];
    int stop_after; /* 0: never */
    int calls;
} walk_log;

static bool log_requirement(const char *key, ferry_selector_op op, const char *value,
                            const json_t *values, void *ctx) {
    static const char *const names[] = {"=", "in", "notin", "exists", "!"};
    walk_log *w = ctx;
    size_t n = strlen(w->seen);
    snprintf(w->seen + n, sizeof(w->seen) - n, "%s%s %s %s/%zu", n > 0 ? "," : "", key, names[op],
             value != NULL ? value : "-", json_array_size(values));
    return ++w->calls != w->stop_after;
}

static void test_each_requirement(void **state) {
    (void)state;
    static const struct {
        const char *selector; /* NULL: a NULL selector */
        int stop_after, result;
        const char *seen;
    } cases[] = {
        {NULL, 0, 1, ""},
        {"{}", 0, 1, ""},
        {"{\"matchLabels\":{\"zone\":\"a\"},\"matchExpressions\":[{\"key\":\"t\",\"operator\":"
         "\"In\",\"values\":[\"x\",\"y\"]},{\"key\":\"g\",\"operator\":\"DoesNotExist\"}]}",
         0, 1, "zone = a/0,t in -/2,g ! -/0"},
        {"{\"matchLabels\":{\"zone\":\"a\",\"rack\":\"r\"}}", 1, 0, "zone = a/0"},
        {"{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\",\"values\":[\"x\"]},"
         "{\"key\":\"g\",\"operator\":\"Exists\"}]}",
         0, 1, "t notin -/1,g exists -/0"},
        {"[]", 0, -1, ""},
        {"{\"matchLabels\":{\"zone\":1}}", 0, -1, ""},
        {"{\"matchExpressions\":{}}", 0, -1, ""},
        {"{\"matchLabels\":{\"zone\":\"a\"},\"matchExpressions\":[{\"key\":\"t\",\"operator\":"
         "\"Near\"}]}",
         0, -1, "zone = a/0"},
        {"{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\",\"values\":[]}]}", 0, -1,
         ""},
        {"{\"matchExpressions\":[{\"operator\":\"Exists\"}]}", 0, -1, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *sel = cases[i].selector != NULL ? J(cases[i].selector) : NULL;
        walk_log w = {.stop_after = cases[i].stop_after};
        int got = ferry_selector_each(sel, log_requirement, &w);
        if (got != cases[i].result || strcmp(w.seen, cases[i].seen) != 0)
            fail_msg("case %zu: %d \"%s\", expected %d \"%s\"", i, got, w.seen, cases[i].result,
                     cases[i].seen);
        json_decref(sel);
    }
}

static void test_validate(void **state) {
    (void)state;
    ferry_detail err;
    json_t *sel = J("{\"matchLabels\":{\"a\":\"b\"},\"matchExpressions\":[{\"key\":\"k\","
                    "\"operator\":\"In\",\"values\":[\"x\",\"\"]}]}");
    assert_int_equal(ferry_selector_validate(sel, NULL, &err), FERRY_OK);
    assert_int_equal(ferry_selector_validate(sel, "q", NULL), FERRY_OK);
    json_decref(sel);
    sel = J("{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\"}]}");
    assert_int_equal(ferry_selector_validate(sel, "query.selector", &err), FERRY_EINVAL);
    assert_string_equal(err.field, "query.selector.matchExpressions[0].values");
    assert_int_equal(ferry_selector_validate(sel, NULL, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "selector.matchExpressions[0].values");
    assert_int_equal(ferry_selector_validate(sel, NULL, NULL), FERRY_EINVAL);
    json_decref(sel);
    sel = J("{\"matchLabels\":{\"a b\":\"c\"}}");
    assert_int_equal(ferry_selector_validate(sel, "s", &err), FERRY_EINVAL);
    assert_string_equal(err.field, "s.matchLabels");
    json_decref(sel);
    sel = J("[]");
    assert_int_equal(ferry_selector_validate(sel, "s", &err), FERRY_EINVAL);
    assert_string_equal(err.field, "s");
    json_decref(sel);
    assert_int_equal(ferry_selector_validate(NULL, NULL, &err), FERRY_EINVAL);
}

static void test_parse_string(void **state) {
    (void)state;
    static const struct {
        const char *s;
        const char *want; /* JSON, or NULL for an error */
        const char *why;  /* substring of the error */
    } cases[] = {
        {"", "{}", NULL},
        {"   ", "{}", NULL},
        {"region=east", "{\"matchLabels\":{\"region\":\"east\"}}", NULL},
        {"region==east", "{\"matchLabels\":{\"region\":\"east\"}}", NULL},
        {"gpu=", "{\"matchLabels\":{\"gpu\":\"\"}}", NULL},
        {"region=east,tier in (gw,edge),!gpu,gpu",
         "{\"matchLabels\":{\"region\":\"east\"},\"matchExpressions\":[{\"key\":\"tier\","
         "\"operator\":\"In\",\"values\":[\"gw\",\"edge\"]},{\"key\":\"gpu\",\"operator\":"
         "\"DoesNotExist\"},{\"key\":\"gpu\",\"operator\":\"Exists\"}]}",
         NULL},
        {" region = east , tier notin ( gw , edge ) , ! gpu ",
         "{\"matchLabels\":{\"region\":\"east\"},\"matchExpressions\":[{\"key\":\"tier\","
         "\"operator\":\"NotIn\",\"values\":[\"gw\",\"edge\"]},{\"key\":\"gpu\",\"operator\":"
         "\"DoesNotExist\"}]}",
         NULL},
        {"tier!=gw",
         "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"gw\"]}]}",
         NULL},
        {"tier in(gw)",
         "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"gw\"]}]}",
         NULL},
        {"tier in ()",
         "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"\"]}]}", NULL},
        {"example.com/zone=a,in",
         "{\"matchLabels\":{\"example.com/zone\":\"a\"},\"matchExpressions\":[{\"key\":\"in\","
         "\"operator\":\"Exists\"}]}",
         NULL},
        /* the same equality twice is one label; another value on the key never matches */
        {"a=1,a=1", "{\"matchLabels\":{\"a\":\"1\"}}", NULL},
        {"a=1,a=2",
         "{\"matchLabels\":{\"a\":\"1\"},\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\","
         "\"values\":[\"2\"]}]}",
         NULL},
        {",", NULL, "at character 1: expected a label key"},
        {"a=1,", NULL, "at character 5: expected a requirement after ','"},
        {"a=1,,b=2", NULL, "at character 5: expected a label key"},
        {"a b", NULL, "at character 3: expected ',', '=', '==', '!=', 'in' or 'notin'"},
        {"a in gw", NULL, "at character 6: expected '(' after 'in'"},
        {"a in (gw", NULL, "expected ',' or ')'"},
        {"a in (gw edge)", NULL, "expected ',' or ')'"},
        {"a=1 b=2", NULL, "at character 5: expected ',' between requirements"},
        {"a!1", NULL, "at character 3: expected '=' after '!'"},
        {"!", NULL, "expected a label key"},
        {"a=(", NULL, "expected ','"},
        {"a=b=c", NULL, "expected ','"},
        {"a b=c", NULL, "expected ','"},
        {"a in (x),", NULL, "expected a requirement after ','"},
        /* keys and values follow the label rules */
        {"a/b/c=1", NULL, "key 'a/b/c'"},
        {"k=-v", NULL, "value of 'k'"},
        {"k in (ok,-bad)", NULL, "must be a label value"},
        {"-k", NULL, "must be a label key"},
        {"k=\xff", NULL, "must be valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *sel = (json_t *)1;
        ferry_detail err;
        memset(&err, 0, sizeof(err));
        ferry_err rc = ferry_selector_parse_string(cases[i].s, &sel, &err);
        if (cases[i].want != NULL) {
            if (rc != FERRY_OK)
                fail_msg("'%s' refused: %s: %s", cases[i].s, err.field, err.message);
            json_t *want = J(cases[i].want);
            assert_json_equal(sel, want);
            json_decref(want);
            assert_int_equal(ferry_selector_validate(sel, NULL, &err), FERRY_OK);
            json_decref(sel);
            continue;
        }
        if (rc != FERRY_EINVAL)
            fail_msg("'%s' accepted", cases[i].s);
        assert_null(sel);
        if (strncmp(err.field, "selector", 8) != 0 || strstr(err.message, cases[i].why) == NULL)
            fail_msg("'%s': got \"%s: %s\", want \"...%s...\"", cases[i].s, err.field, err.message,
                     cases[i].why);
    }
    /* the parsed form selects what the JSON form does */
    json_t *sel = NULL;
    json_t *labels = J("{\"region\":\"east\",\"tier\":\"edge\"}");
    assert_int_equal(ferry_selector_parse_string("region=east,tier in (gw,edge),!gpu", &sel, NULL),
                     FERRY_OK);
    assert_true(ferry_selector_matches(sel, labels));
    json_decref(sel);
    assert_int_equal(ferry_selector_parse_string("region=east,gpu", &sel, NULL), FERRY_OK);
    assert_false(ferry_selector_matches(sel, labels));
    json_decref(sel);
    json_decref(labels);

    ferry_detail err;
    assert_int_equal(ferry_selector_parse_string(NULL, &sel, &err), FERRY_EINVAL);
    assert_int_equal(ferry_selector_parse_string("a", NULL, &err), FERRY_EINVAL);
    char *longs = malloc(5000);
    memset(longs, 'a', 4999);
    longs[4999] = '\0';
    assert_int_equal(ferry_selector_parse_string(longs, &sel, &err), FERRY_EINVAL);
    assert_contains(err.message, "at most 4096 characters");
    free(longs);

    /* out of memory anywhere: FERRY_ENOMEM, no leak */
    long n;
    for (n = 1; n < 1000; n++) {
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_selector_parse_string("a=1,b in (x,y),!c,d!=e,a=2", &sel, &err);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK)
            break;
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_null(sel);
    }
    assert_true(n > 10 && n < 1000);
    json_decref(sel);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expressions_match), cmocka_unit_test(test_topic_with_expressions),
        cmocka_unit_test(test_each_requirement),  cmocka_unit_test(test_validate),
        cmocka_unit_test(test_parse_string),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
