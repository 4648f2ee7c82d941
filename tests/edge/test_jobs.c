/* Unit tests of edge-sync/jobs.c: which reconciliation work may start, on made-up surveys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "jobs.h"

/* A survey of apps named by the characters of names ("abc": apps a, b and c). */
static ferry_survey survey(const char *names) {
    ferry_survey s = {0};
    s.n = strlen(names);
    s.items = ferry_calloc(s.n, sizeof(*s.items));
    for (size_t i = 0; i < s.n; i++) {
        snprintf(s.items[i].name, sizeof(s.items[i].name), "%c", names[i]);
        s.items[i].version = (long long)i + 1;
        s.items[i].spec = json_pack("{s:i}", "mark", (int)i);
    }
    return s;
}

/* Run one survey through j. */
static void survey_done(ferry_jobs *j, const char *names) {
    ferry_survey s = survey(names);
    ferry_jobs_want_survey(j);
    assert_true(ferry_jobs_take_survey(j));
    ferry_jobs_survey_done(j, &s);
    ferry_survey_free(&s);
}

/* Start what may start; their names in order. */
static const char *take_all(ferry_jobs *j, char *buf) {
    ferry_survey_item it;
    size_t n = 0;
    while (ferry_jobs_take_app(j, &it)) {
        buf[n++] = it.name[0];
        json_decref(it.spec);
    }
    buf[n] = '\0';
    return buf;
}

static void test_limit_and_one_pass_per_app(void **state) {
    ferry_jobs *j = ferry_jobs_new(2);
    char buf[16];
    (void)state;
    survey_done(j, "abc");
    assert_string_equal(take_all(j, buf), "ab"); /* at most 2 at once */
    assert_int_equal(ferry_jobs_running(j), 2);
    /* A new survey while a and b run: c starts when room frees up, a waits for a to finish. */
    survey_done(j, "ac");
    ferry_jobs_app_done(j, "b");
    assert_string_equal(take_all(j, buf), "c");
    ferry_jobs_app_done(j, "c");
    assert_string_equal(take_all(j, buf), ""); /* a still runs: its newer work waits */
    ferry_jobs_app_done(j, "a");
    assert_string_equal(take_all(j, buf), "a");
    ferry_jobs_app_done(j, "a");
    assert_string_equal(take_all(j, buf), "");
    ferry_jobs_free(j);
}

static void test_newer_work_replaces_waiting_work(void **state) {
    ferry_jobs *j = ferry_jobs_new(1);
    ferry_survey_item it;
    (void)state;
    survey_done(j, "a");
    assert_true(ferry_jobs_take_app(j, &it));
    json_decref(it.spec);
    survey_done(j, "b");           /* b waits (limit 1) with mark 0 */
    ferry_survey s = survey("xb"); /* a newer survey: b with mark 1 */
    ferry_jobs_want_survey(j);
    assert_true(ferry_jobs_take_survey(j));
    ferry_jobs_survey_done(j, &s);
    ferry_survey_free(&s);
    ferry_jobs_app_done(j, "a");
    assert_true(ferry_jobs_take_app(j, &it));
    assert_string_equal(it.name, "b"); /* b asked first, with the newer item */
    assert_int_equal(json_integer_value(json_object_get(it.spec, "mark")), 1);
    json_decref(it.spec);
    ferry_jobs_free(j);
}

static void test_one_survey_at_a_time(void **state) {
    ferry_jobs *j = ferry_jobs_new(4);
    (void)state;
    assert_false(ferry_jobs_take_survey(j)); /* not asked for */
    ferry_jobs_want_survey(j);
    assert_true(ferry_jobs_take_survey(j));
    ferry_jobs_want_survey(j);
    assert_false(ferry_jobs_take_survey(j)); /* one runs: the next follows it */
    ferry_jobs_survey_done(j, NULL);
    assert_true(ferry_jobs_take_survey(j));
    ferry_jobs_survey_done(j, NULL);
    ferry_jobs_free(j);
}

static void test_cleanup_runs_alone_on_fresh_facts(void **state) {
    ferry_jobs *j = ferry_jobs_new(4);
    char buf[16];
    (void)state;
    survey_done(j, "a");
    assert_string_equal(take_all(j, buf), "a");
    ferry_jobs_want_cleanup(j);
    assert_false(ferry_jobs_take_cleanup(j)); /* waits for a survey */
    ferry_jobs_app_done(j, "a");
    assert_false(ferry_jobs_take_cleanup(j));
    survey_done(j, "ab");                     /* the cleanup asked for this survey */
    assert_false(ferry_jobs_take_cleanup(j)); /* its apps first */
    ferry_jobs_want_survey(j);
    assert_false(ferry_jobs_take_survey(j)); /* no new survey meanwhile */
    assert_string_equal(take_all(j, buf), "ab");
    ferry_jobs_app_done(j, "a");
    ferry_jobs_app_done(j, "b");
    assert_true(ferry_jobs_take_cleanup(j));
    assert_false(ferry_jobs_take_survey(j)); /* alone */
    ferry_jobs_cleanup_done(j);
    assert_true(ferry_jobs_take_survey(j));
    ferry_jobs_survey_done(j, NULL);
    ferry_jobs_free(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_and_one_pass_per_app),
        cmocka_unit_test(test_newer_work_replaces_waiting_work),
        cmocka_unit_test(test_one_survey_at_a_time),
        cmocka_unit_test(test_cleanup_runs_alone_on_fresh_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
