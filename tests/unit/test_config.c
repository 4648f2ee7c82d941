/* Unit tests of config objects and of an app's "resolved" member (schema/config.c): the cases in
 * tests/unit/config_cases.json, size caps, and the files a node writes. */
#include "unit.h"

#include <stdio.h>

#include "ferry/app.h"
#include "ferry/base64.h"
#include "ferry/config.h"

#ifndef FERRY_CONFIG_CASES
#error "FERRY_CONFIG_CASES must name tests/unit/config_cases.json"
#endif

static json_t *cases;

static int load_cases(void **state) {
    (void)state;
    json_error_t e;
    cases = json_load_file(FERRY_CONFIG_CASES, JSON_ALLOW_NUL, &e);
    if (cases == NULL)
        fprintf(stderr, "%s: %s (line %d)\n", FERRY_CONFIG_CASES, e.text, e.line);
    return cases != NULL ? 0 : -1;
}

static int free_cases(void **state) {
    (void)state;
    json_decref(cases);
    return 0;
}

/* Run the invalid list key (objects {field, message, member}) and the valid list through check. */
static void run(const char *bad_key, const char *good_key, const char *member,
                ferry_err (*check)(const json_t *, ferry_detail *)) {
    const json_t *bad = json_object_get(cases, bad_key);
    const json_t *good = json_object_get(cases, good_key);
    assert_true(json_array_size(bad) > 10 && json_array_size(good) > 3);
    for (size_t i = 0; i < json_array_size(bad); i++) {
        const json_t *c = json_array_get(bad, i);
        const char *field = json_string_value(json_object_get(c, "field"));
        const char *message = json_string_value(json_object_get(c, "message"));
        ferry_detail err;
        memset(&err, 0, sizeof(err));
        if (check(json_object_get(c, member), &err) != FERRY_EINVAL)
            fail_msg("%s[%zu] (%s) accepted", bad_key, i, field);
        if (strcmp(err.field, field) != 0 || strstr(err.message, message) == NULL)
            fail_msg("%s[%zu]: got \"%s: %s\", want \"%s: ...%s...\"", bad_key, i, err.field,
                     err.message, field, message);
        assert_int_equal(check(json_object_get(c, member), NULL), FERRY_EINVAL);
    }
    for (size_t i = 0; i < json_array_size(good); i++) {
        ferry_detail err;
        if (check(json_array_get(good, i), &err) != FERRY_OK)
            fail_msg("%s[%zu] refused: %s: %s", good_key, i, err.field, err.message);
    }
}

static ferry_err check_resolved(const json_t *app, ferry_detail *err) {
    return ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, err);
}

static void test_config_cases(void **state) {
    (void)state;
    run("invalid", "valid", "config", ferry_config_validate);
}

static void test_resolved_cases(void **state) {
    (void)state;
    run("resolved_invalid", "resolved_valid", "app", check_resolved);
    /* without the flag every app with "resolved" is refused the same way */
    const json_t *good = json_object_get(cases, "resolved_valid");
    for (size_t i = 0; i < json_array_size(good); i++) {
        const json_t *app = json_array_get(good, i);
        ferry_detail err;
        ferry_err rc = ferry_app_validate(app, &err);
        if (json_object_get(app, "resolved") == NULL)
            continue;
        assert_int_equal(rc, FERRY_EINVAL);
        assert_string_equal(err.field, "resolved");
    }
}

static json_t *big_string(size_t n) {
    char *s = malloc(n + 1);
    memset(s, 'x', n);
    s[n] = '\0';
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* 1 MiB of content per config, counted across data and decoded binaryData. */
static void test_size_caps(void **state) {
    (void)state;
    ferry_detail err;
    json_t *cfg = J("{\"name\":\"c\",\"kind\":\"config\",\"data\":{}}");
    json_t *data = json_object_get(cfg, "data");
    json_object_set_new(data, "a", big_string(FERRY_CONFIG_MAX_DATA - 1));
    json_object_set_new(cfg, "binaryData", J("{\"b\":\"Zg==\"}"));
    assert_int_equal(ferry_config_validate(cfg, &err), FERRY_OK);
    json_object_set_new(cfg, "binaryData", J("{\"b\":\"Zm8=\"}"));
    assert_int_equal(ferry_config_validate(cfg, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "binaryData.b");
    assert_contains(err.message, "at most 1048576 bytes");
    json_decref(cfg);

    cfg = J("{\"name\":\"c\",\"kind\":\"certificate\",\"certificate\":{\"cert\":\"-----BEGIN "
            "C-----\\n-----END C-----\"}}");
    json_t *c = json_object_get(cfg, "certificate");
    char *key = malloc(FERRY_CONFIG_MAX_DATA + 100);
    strcpy(key, "-----BEGIN K-----\n");
    memset(key + strlen(key), 'x', FERRY_CONFIG_MAX_DATA);
    strcpy(key + 18 + FERRY_CONFIG_MAX_DATA, "-----END K-----");
    json_object_set_new(c, "key", json_string(key));
    free(key);
    assert_int_equal(ferry_config_validate(cfg, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "certificate");
    assert_contains(err.message, "at most 1048576 bytes");
    json_decref(cfg);

    /* resolved: 1 MiB decoded per config */
    json_t *app = J("{\"name\":\"w\",\"volumes\":[{\"name\":\"v\",\"config\":{\"name\":\"c\"}}],"
                    "\"services\":[{\"name\":\"a\",\"image\":\"i\"}],\"resolved\":{\"configs\":"
                    "{\"c\":{\"kind\":\"config\",\"version\":1,\"files\":{}}}}}");
    json_t *files = json_object_get(
        json_object_get(json_object_get(json_object_get(app, "resolved"), "configs"), "c"),
        "files");
    unsigned char *bytes = calloc(1, FERRY_CONFIG_MAX_DATA);
    char *b64 = ferry_base64_encode(bytes, FERRY_CONFIG_MAX_DATA, NULL);
    json_object_set_new(files, "a", json_pack("{s:s, s:i}", "data", b64, "mode", 420));
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_OK);
    json_object_set_new(files, "b", json_pack("{s:s, s:i}", "data", "AA==", "mode", 420));
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "resolved.configs.c.files.b.data");
    ferry_free(b64);
    free(bytes);
    json_decref(app);
}

/* Decode files[name].data and compare with want; check the mode. */
static void assert_file_n(const json_t *files, const char *name, const char *want, size_t wlen,
                          int mode) {
    const json_t *f = json_object_get(files, name);
    if (f == NULL)
        fail_msg("no file '%s'", name);
    const char *data = json_string_value(json_object_get(f, "data"));
    unsigned char *raw = NULL;
    size_t len = 0;
    assert_int_equal(ferry_base64_decode(data, strlen(data), &raw, &len), FERRY_OK);
    assert_int_equal(len, wlen);
    assert_memory_equal(raw, want, len);
    assert_int_equal(json_integer_value(json_object_get(f, "mode")), mode);
    ferry_free(raw);
}

static void assert_file(const json_t *files, const char *name, const char *want, int mode) {
    assert_file_n(files, name, want, strlen(want), mode);
}

/* The file name rule at its edges: folders, depth and length (config_cases.json has the
 * messages). */
static void test_file_names(void **state) {
    (void)state;
    static const char *const good[] = {
        "a",        "index.py",        "lib/util.py",        ".a", "..a", "a..",
        "a/.b/..c", "a/b/c/d/e/f/g/h", "handlers/filter.sql"};
    static const char *const bad[] = {"",
                                      ".",
                                      "..",
                                      "/",
                                      "/a",
                                      "a/",
                                      "a//b",
                                      "./a",
                                      "../a",
                                      "a/.",
                                      "a/..",
                                      "a/./b",
                                      "a/../b",
                                      "a b",
                                      "a\\b",
                                      "a/b\n",
                                      "a/b/c/d/e/f/g/h/i",
                                      "\xc3\xa9"};
    char name[FERRY_CONFIG_MAX_FILE_NAME + 2];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!ferry_config_file_name_valid(good[i]))
            fail_msg("'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ferry_config_file_name_valid(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    assert_false(ferry_config_file_name_valid(NULL));

    /* 253 characters in all, the '/' included: 7 names of 31, each with its '/', and one of 29 */
    memset(name, 'x', sizeof(name));
    for (size_t i = 31; i < 7 * 32; i += 32)
        name[i] = '/';
    name[FERRY_CONFIG_MAX_FILE_NAME] = '\0';
    assert_true(ferry_config_file_name_valid(name));
    name[FERRY_CONFIG_MAX_FILE_NAME] = 'x';
    name[FERRY_CONFIG_MAX_FILE_NAME + 1] = '\0';
    assert_false(ferry_config_file_name_valid(name));
    /* one name of 253 */
    memset(name, 'x', FERRY_CONFIG_MAX_FILE_NAME);
    name[FERRY_CONFIG_MAX_FILE_NAME] = '\0';
    assert_true(ferry_config_file_name_valid(name));
}

static void test_files(void **state) {
    (void)state;
    json_t *files = NULL;
    json_t *cfg = J("{\"name\":\"c\",\"kind\":\"config\",\"data\":{\"app.conf\":\"listen 80\\n\","
                    "\"u\":\"\\u00e9\"},\"binaryData\":{\"logo.png\":\"AAEC/w==\"}}");
    assert_int_equal(ferry_config_files(cfg, &files), FERRY_OK);
    assert_int_equal(json_object_size(files), 3);
    assert_file(files, "app.conf", "listen 80\n", 0644);
    assert_file(files, "u", "\xc3\xa9", 0644);
    assert_file_n(files, "logo.png", "\x00\x01\x02\xff", 4, 0644);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(files, "u"), "mode")), 420);
    json_decref(files);
    json_decref(cfg);

    cfg = J("{\"name\":\"s\",\"kind\":\"secret\",\"data\":{\"password\":\"s3cret\"}}");
    assert_int_equal(ferry_config_files(cfg, &files), FERRY_OK);
    assert_int_equal(json_object_size(files), 1);
    assert_file(files, "password", "s3cret", 0600);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(files, "password"), "mode")), 384);
    json_decref(files);
    json_decref(cfg);

    cfg = J("{\"name\":\"e\",\"kind\":\"secret\"}");
    assert_int_equal(ferry_config_files(cfg, &files), FERRY_OK);
    assert_int_equal(json_object_size(files), 0);
    json_decref(files);
    json_decref(cfg);

    cfg = J("{\"name\":\"t\",\"kind\":\"certificate\",\"certificate\":{\"cert\":\"C\",\"key\":"
            "\"K\",\"ca\":\"A\"}}");
    assert_int_equal(ferry_config_files(cfg, &files), FERRY_OK);
    assert_int_equal(json_object_size(files), 3);
    assert_file(files, "tls.crt", "C", 0644);
    assert_file(files, "tls.key", "K", 0600);
    assert_file(files, "ca.crt", "A", 0644);
    json_decref(files);
    json_object_del(json_object_get(cfg, "certificate"), "ca");
    assert_int_equal(ferry_config_files(cfg, &files), FERRY_OK);
    assert_int_equal(json_object_size(files), 2);
    assert_null(json_object_get(files, "ca.crt"));
    json_decref(files);
    json_decref(cfg);

    /* what ferry_config_files makes is what a resolved entry must hold */
    cfg = J("{\"name\":\"app-config\",\"kind\":\"config\",\"data\":{\"a\":\"x\"},\"binaryData\":"
            "{\"b\":\"Zg==\"}}");
    assert_int_equal(ferry_config_files(cfg, &files), FERRY_OK);
    json_t *app =
        J("{\"name\":\"w\",\"volumes\":[{\"name\":\"v\",\"config\":{\"name\":"
          "\"app-config\"}}],\"services\":[{\"name\":\"a\",\"image\":\"i\","
          "\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/v\",\"subPath\":\"a\"}]}]}");
    json_object_set_new(app, "resolved",
                        json_pack("{s:{s:{s:s, s:i, s:O}}}", "configs", "app-config", "kind",
                                  "config", "version", 5, "files", files));
    ferry_detail err;
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_OK);
    json_decref(app);
    json_decref(files);

    /* files in folders keep their names; a subPath may name one of them */
    json_t *fn =
        J("{\"name\":\"fn\",\"kind\":\"config\",\"data\":{\"index.py\":\"x\",\"lib/util.py\":"
          "\"y\"},\"binaryData\":{\"lib/data/b.bin\":\"Zg==\"}}");
    assert_int_equal(ferry_config_validate(fn, &err), FERRY_OK);
    assert_int_equal(ferry_config_files(fn, &files), FERRY_OK);
    assert_file(files, "lib/util.py", "y", 0644);
    assert_file(files, "lib/data/b.bin", "f", 0644);
    json_decref(fn);
    app = J("{\"name\":\"w\",\"volumes\":[{\"name\":\"v\",\"config\":{\"name\":\"fn\"}}],"
            "\"services\":[{\"name\":\"a\",\"image\":\"i\",\"volumeMounts\":[{\"name\":\"v\","
            "\"mountPath\":\"/v\",\"subPath\":\"lib/util.py\"}]}]}");
    assert_int_equal(ferry_app_validate(app, &err), FERRY_OK);
    json_object_set_new(app, "resolved",
                        json_pack("{s:{s:{s:s, s:i, s:O}}}", "configs", "fn", "kind", "config",
                                  "version", 1, "files", files));
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_OK);
    json_decref(app);
    json_decref(files);

    assert_int_equal(ferry_config_files(NULL, &files), FERRY_EINVAL);
    assert_null(files);
    json_t *r = J("{\"name\":\"r\",\"kind\":\"registry\",\"registry\":{\"server\":\"x\","
                  "\"username\":\"u\",\"password\":\"p\"}}");
    assert_int_equal(ferry_config_files(r, &files), FERRY_EINVAL);
    json_decref(r);
    assert_int_equal(ferry_config_files(cfg, NULL), FERRY_EINVAL);
    json_t *junk = J("{\"kind\":\"config\",\"binaryData\":{\"b\":\"!\"}}");
    assert_int_equal(ferry_config_files(junk, &files), FERRY_EINVAL);
    json_decref(junk);
    junk = J("{\"kind\":\"certificate\",\"certificate\":{\"cert\":\"C\"}}");
    assert_int_equal(ferry_config_files(junk, &files), FERRY_EINVAL);
    json_decref(junk);

    /* out of memory anywhere: FERRY_ENOMEM, no leak */
    long n;
    for (n = 1; n < 1000; n++) {
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_config_files(cfg, &files);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK)
            break;
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_null(files);
    }
    assert_true(n > 3 && n < 1000);
    json_decref(files);
    json_decref(cfg);
}

/* Validation allocates nothing: it cannot fail for lack of memory (proto decode relies on it). */
static void test_validate_allocates_nothing(void **state) {
    (void)state;
    const json_t *good = json_object_get(cases, "resolved_valid");
    for (size_t i = 0; i < json_array_size(good); i++) {
        ferry_detail err;
        ferry_alloc_fail_after(1);
        ferry_err rc =
            ferry_app_validate_ex(json_array_get(good, i), FERRY_APP_ALLOW_RESOLVED, &err);
        ferry_alloc_fail_after(0);
        assert_int_equal(rc, FERRY_OK);
    }
    const json_t *configs = json_object_get(cases, "valid");
    for (size_t i = 0; i < json_array_size(configs); i++) {
        ferry_detail err;
        ferry_alloc_fail_after(1);
        ferry_err rc = ferry_config_validate(json_array_get(configs, i), &err);
        ferry_alloc_fail_after(0);
        assert_int_equal(rc, FERRY_OK);
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_cases), cmocka_unit_test(test_resolved_cases),
        cmocka_unit_test(test_size_caps),    cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_files),        cmocka_unit_test(test_validate_allocates_nothing),
    };
    ferry_alloc_install_json();
    cmocka_set_test_filter(argc > 1 ? argv[1] : NULL);
    return cmocka_run_group_tests(tests, load_cases, free_cases);
}
