/* Unit tests of the sql runtime's library (runtimes/sql/sqlfn.c): the data-driven cases of
 * tests/unit/sql_cases.json, one handle across events, the caps, and the failing-allocator loop. */
#include "unit.h"

#include "sqlfn.h"

#ifndef FERRY_SQL_CASES
#error "FERRY_SQL_CASES must name tests/unit/sql_cases.json"
#endif

static ferry_sqlfn *compile_ok(const char *sql) {
    ferry_sqlfn *fn = NULL;
    ferry_detail d;
    if (ferry_sqlfn_compile(sql, strlen(sql), "h.sql", &fn, &d) != FERRY_OK)
        fail_msg("%s: refused: %s: %s", sql, d.field, d.message);
    return fn;
}

/* Run fn on event text; the answer as JSON (new reference), json_null() for none. */
static json_t *run_ok(ferry_sqlfn *fn, const char *event) {
    const char *row = NULL;
    size_t len = 0;
    ferry_detail d;
    if (ferry_sqlfn_run(fn, event, strlen(event), &row, &len, &d) != FERRY_OK)
        fail_msg("%s on %s: %s", ferry_sqlfn_sql(fn), event, d.message);
    if (row == NULL)
        return json_null();
    assert_int_equal(strlen(row), len);
    return J(row);
}

static ferry_err code_of(const char *name) {
    if (strcmp(name, "format") == 0)
        return FERRY_EFORMAT;
    if (strcmp(name, "toobig") == 0)
        return FERRY_ETOOBIG;
    return FERRY_EINVAL;
}

static void one_case(size_t i, const json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *sql = json_string_value(json_object_get(c, "sql"));
    const json_t *expect = json_object_get(c, "expect");
    const char *compile_error = json_string_value(json_object_get(expect, "compile_error"));
    const char *run_error = json_string_value(json_object_get(expect, "run_error"));
    const char *text = json_string_value(json_object_get(c, "event_text"));
    char *owned = NULL;
    ferry_sqlfn *fn = NULL;
    ferry_detail d;
    const char *row = NULL;
    size_t len = 0;

    assert_non_null(sql);
    ferry_err err = ferry_sqlfn_compile(sql, strlen(sql), "h.sql", &fn, &d);
    if (compile_error != NULL) {
        if (err == FERRY_OK)
            fail_msg("case %zu (%s): compiled, want \"%s\": %s", i, name, compile_error,
                     ferry_sqlfn_sql(fn));
        if (strcmp(d.field, "h.sql") != 0 || strstr(d.message, compile_error) == NULL)
            fail_msg("case %zu (%s): got \"%s: %s\", want \"h.sql: ...%s...\"", i, name, d.field,
                     d.message, compile_error);
        assert_null(fn);
        return;
    }
    if (err != FERRY_OK)
        fail_msg("case %zu (%s): refused: %s", i, name, d.message);
    if (text == NULL) {
        owned = json_dumps(json_object_get(c, "event"), JSON_ENCODE_ANY | JSON_COMPACT);
        text = owned;
    }
    assert_non_null(text);
    err = ferry_sqlfn_run(fn, text, strlen(text), &row, &len, &d);
    if (run_error != NULL) {
        const char *code = json_string_value(json_object_get(expect, "code"));
        if (err != code_of(code != NULL ? code : "invalid") || strstr(d.message, run_error) == NULL)
            fail_msg("case %zu (%s): got %d \"%s\", want %s \"...%s...\"", i, name, err,
                     err == FERRY_OK ? (row != NULL ? row : "none") : d.message, code, run_error);
    } else if (err != FERRY_OK) {
        fail_msg("case %zu (%s): %s (%s)", i, name, d.message, ferry_sqlfn_sql(fn));
    } else if (json_is_string(expect)) { /* "none" */
        if (row != NULL)
            fail_msg("case %zu (%s): got %s, want none", i, name, row);
    } else {
        if (row == NULL)
            fail_msg("case %zu (%s): got none (%s)", i, name, ferry_sqlfn_sql(fn));
        json_t *got = json_loadb(row, len, JSON_ALLOW_NUL, NULL);
        assert_non_null(got);
        if (!json_equal(got, json_object_get(expect, "row")))
            fail_msg("case %zu (%s): got %s", i, name, row);
        json_decref(got);
    }
    free(owned);
    ferry_sqlfn_free(fn);
}

static void test_cases(void **state) {
    (void)state;
    json_error_t e;
    json_t *cases = json_load_file(FERRY_SQL_CASES, JSON_ALLOW_NUL, &e);
    if (cases == NULL)
        fail_msg("%s: %s (line %d)", FERRY_SQL_CASES, e.text, e.line);
    const json_t *list = json_object_get(cases, "cases");
    assert_true(json_array_size(list) > 50);
    for (size_t i = 0; i < json_array_size(list); i++)
        one_case(i, json_array_get(list, i));
    json_decref(cases);
}

/* One compiled handle over events whose members change type, go missing and come back. */
static void test_reuse(void **state) {
    (void)state;
    ferry_sqlfn *fn = compile_ok("select name as result, typeof(uid) as t where uid > 6");
    static const char *const events[] = {
        "{\"uid\": 7, \"name\": \"a\"}",
        "{\"uid\": 1, \"name\": \"b\"}",
        "{\"uid\": \"zz\", \"name\": {\"x\": [1]}}",
        "{\"name\": \"c\"}",
        "{\"uid\": 8.5, \"name\": null}",
    };
    static const char *const want[] = {
        "{\"result\": \"a\", \"t\": \"integer\"}",
        "null",
        "{\"result\": \"{\\\"x\\\":[1]}\", \"t\": \"text\"}",
        "null",
        "{\"result\": null, \"t\": \"real\"}",
    };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
            json_t *got = run_ok(fn, events[i]), *w = J(want[i]);
            assert_json_equal(got, w);
            json_decref(got);
            json_decref(w);
        }
    }
    ferry_sqlfn_free(fn);
}

static void test_rewrite(void **state) {
    (void)state;
    static const struct {
        const char *sql, *want; /* want: a substring of the prepared text */
    } cases[] = {
        {"select name as result where uid > 6", "select name as result  FROM msg where uid > 6"},
        {"select 1 -- c", "select 1 FROM msg  -- c"},
        {"select a window w as (order by a)", "select a  FROM msg window w as"},
        {"select window from msg", "select window from msg"},
        {"WITH RECURSIVE t(x) AS (SELECT 1) SELECT x FROM t",
         "WITH RECURSIVE msg(\"_event\") AS NOT MATERIALIZED (SELECT ?1), t(x) AS"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ferry_sqlfn *fn = NULL;
        ferry_detail d;
        ferry_err err = ferry_sqlfn_compile(cases[i].sql, strlen(cases[i].sql), "h", &fn, &d);
        if (err != FERRY_OK)
            fail_msg("%s: %s", cases[i].sql, d.message);
        if (strstr(ferry_sqlfn_sql(fn), cases[i].want) == NULL)
            fail_msg("%s: prepared %s, want ...%s...", cases[i].sql, ferry_sqlfn_sql(fn),
                     cases[i].want);
        ferry_sqlfn_free(fn);
    }
}

static void test_caps(void **state) {
    (void)state;
    ferry_sqlfn *fn = NULL;
    ferry_detail d;
    const char *row;
    size_t len, n = FERRY_SQLFN_MAX_SQL + 1;
    char *big = malloc(FERRY_SQLFN_MAX_EVENT + 64);

    assert_non_null(big);
    /* SQL over the cap */
    memset(big, ' ', n);
    memcpy(big, "select 1", 8);
    assert_int_equal(ferry_sqlfn_compile(big, n, "h", &fn, &d), FERRY_ETOOBIG);
    /* more members than the cap */
    size_t off = (size_t)sprintf(big, "select 0");
    for (int i = 0; i <= FERRY_SQLFN_MAX_MEMBERS; i++)
        off += (size_t)sprintf(big + off, "+m%d", i);
    assert_int_equal(ferry_sqlfn_compile(big, off, "h", &fn, &d), FERRY_ETOOBIG);
    assert_non_null(strstr(d.message, "members"));
    /* exactly the cap of members */
    off = (size_t)sprintf(big, "select 0");
    for (int i = 1; i < FERRY_SQLFN_MAX_MEMBERS; i++)
        off += (size_t)sprintf(big + off, "+m%d", i);
    off += (size_t)sprintf(big + off, " as s");
    assert_int_equal(ferry_sqlfn_compile(big, off, "h", &fn, &d), FERRY_OK);
    assert_int_equal(ferry_sqlfn_run(fn, "{\"m7\": 5}", 9, &row, &len, &d), FERRY_OK);
    assert_string_equal(row, "{\"s\":null}"); /* 0 + NULL + ... is NULL */
    ferry_sqlfn_free(fn);
    /* an event over the cap, and one just under it */
    fn = compile_ok("select length(s) as n");
    n = FERRY_SQLFN_MAX_EVENT + 1;
    memset(big, 'x', n);
    memcpy(big, "{\"s\":\"", 6);
    memcpy(big + n - 2, "\"}", 2);
    assert_int_equal(ferry_sqlfn_run(fn, big, n, &row, &len, &d), FERRY_ETOOBIG);
    assert_int_equal(ferry_sqlfn_run(fn, big + 1, n - 1, &row, &len, &d), FERRY_EFORMAT);
    big[1] = '{';
    big[2] = '"';
    big[3] = 's';
    big[4] = '"';
    big[5] = ':';
    big[6] = '"';
    assert_int_equal(ferry_sqlfn_run(fn, big + 1, n - 1, &row, &len, &d), FERRY_OK);
    assert_string_equal(row, "{\"n\":1048568}");
    ferry_sqlfn_free(fn);
    free(big);
}

/* Every allocation of ours that fails gives a clean error and no leak (SQLite's own allocations
 * are not ours to fail). */
static void test_failing_allocator(void **state) {
    (void)state;
    const char *sql = "select name as result, a->>'b' as b, x'01' as bl where uid > 6";
    const char *ev = "{\"uid\": 7, \"name\": \"ferry\", \"a\": {\"b\": [1]}}";
    ferry_alloc_install_json();
    for (long n = 1; n < 400; n++) {
        ferry_sqlfn *fn = NULL;
        ferry_detail d;
        const char *row = NULL;
        size_t len;
        ferry_alloc_fail_after(n);
        ferry_err err = ferry_sqlfn_compile(sql, strlen(sql), "h", &fn, &d);
        if (err == FERRY_OK) {
            err = ferry_sqlfn_run(fn, ev, strlen(ev), &row, &len, &d);
            if (err == FERRY_OK)
                assert_string_equal(row, "{\"result\":\"ferry\",\"b\":\"[1]\",\"bl\":\"AQ==\"}");
            else if (err != FERRY_ENOMEM && err != FERRY_EFORMAT) /* jansson: EFORMAT */
                fail_msg("allocation %ld failing: run: %d %s", n, err, d.message);
        } else {
            if (err != FERRY_ENOMEM)
                fail_msg("allocation %ld failing: %d %s", n, err, d.message);
            assert_null(fn);
        }
        ferry_alloc_fail_after(0);
        ferry_sqlfn_free(fn);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_rewrite),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
