/* Helpers shared by the schema library's cmocka unit tests. */
#ifndef FERRY_TEST_UNIT_H
#define FERRY_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"

/* Parse JSON text or fail the test. */
static inline json_t *J(const char *text) {
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (v == NULL)
        fail_msg("bad JSON in test (%s): %s", e.text, text);
    return v;
}

/* assert_true(json_equal(a, b)) that prints both on failure. */
static inline void assert_json_equal(const json_t *a, const json_t *b) {
    if (!json_equal(a, b)) {
        char *sa = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        char *sb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        print_error("got:      %s\nexpected: %s\n", sa != NULL ? sa : "NULL",
                    sb != NULL ? sb : "NULL");
        free(sa);
        free(sb);
        fail();
    }
}

static inline void assert_contains(const char *haystack, const char *needle) {
    if (haystack == NULL || strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack != NULL ? haystack : "(null)", needle);
}

/* Run the group; argv[1], if given, is a name pattern selecting the tests to run. Jansson's
 * allocations go through ferry_malloc so the failing-allocator loops reach them too. */
#define FERRY_RUN_TESTS(tests, argc, argv)                                                         \
    (ferry_alloc_install_json(), cmocka_set_test_filter((argc) > 1 ? (argv)[1] : NULL),            \
     cmocka_run_group_tests(tests, NULL, NULL))

#endif
