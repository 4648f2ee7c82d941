/* Unit tests of app/node/label validation, normalization and selectors (schema/app.c). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "ferry/app.h"
#include "ferry/labels.h"
#include "ferry/selector.h"

#ifndef FERRY_APP_CASES
#error "FERRY_APP_CASES must name tests/unit/app_cases.json"
#endif

/* An app with one service named "a"; %s is spliced in as extra members of the app. */
#define APP(extra)                                                                                 \
    "{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"busybox\"}]" extra "}"
/* An app whose first service gets the extra members. */
#define SVC(extra)                                                                                 \
    "{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"busybox\"" extra "}]}"

typedef struct {
    const char *json;
    const char *field;
    const char *message; /* substring */
} bad_case;

static const bad_case bad_apps[] = {
    {"[]", "app", "must be a JSON object"},
    {APP(",\"bogus\":1"), "bogus", "unknown field"},
    {"{\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}", "name", "is required"},
    {APP(",\"name\":\"\""), "name", "must be a DNS label"},
    {"{\"name\":\"Web\",\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}", "name",
     "must be a DNS label: 1-63 lowercase letters, digits or '-', starting and ending with a "
     "letter or digit"},
    {"{\"name\":\"-web\",\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}", "name", "DNS label"},
    {"{\"name\":\"web-\",\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}", "name", "DNS label"},
    {"{\"name\":\"web_1\",\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}", "name", "DNS label"},
    {"{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"services\":["
     "{"
     "\"name\":\"a\",\"image\":\"i\"}]}",
     "name", "DNS label"},
    {"{\"name\":7,\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}", "name", "DNS label"},
    {APP(",\"description\":5"), "description", "must be a string of at most 1024 characters"},
    {APP(",\"labels\":[]"), "labels", "must be an object"},
    {APP(",\"labels\":{\"bad key\":\"v\"}"), "labels", "key 'bad key' must be"},
    {APP(",\"labels\":{\"a/b/c\":\"v\"}"), "labels", "key 'a/b/c'"},
    {APP(",\"labels\":{\"Example.com/x\":\"v\"}"), "labels", "key 'Example.com/x'"},
    {APP(",\"labels\":{\"a..b/x\":\"v\"}"), "labels", "key"},
    {APP(",\"labels\":{\"/x\":\"v\"}"), "labels", "key"},
    {APP(",\"labels\":{\"x/\":\"v\"}"), "labels", "key"},
    {APP(",\"labels\":{\"-x\":\"v\"}"), "labels", "key"},
    {APP(",\"labels\":{\"\":\"v\"}"), "labels", "key"},
    {APP(",\"labels\":{\"k\":1}"), "labels", "value of 'k' must be a string"},
    {APP(",\"labels\":{\"k\":\"-v\"}"), "labels", "value of 'k' must be empty or 1-63"},
    {APP(",\"labels\":{\"k\":\"a b\"}"), "labels", "value of 'k'"},
    {APP(",\"selector\":[]"), "selector", "must be an object"},
    {APP(",\"selector\":{\"matchFields\":[]}"), "selector.matchFields", "unknown field"},
    {APP(",\"selector\":{\"matchLabels\":{\"k\":\"-\"}}"), "selector.matchLabels", "value of 'k'"},
    {APP(",\"selector\":{\"matchLabels\":5}"), "selector.matchLabels", "must be an object"},
    {"{\"name\":\"web\"}", "services", "is required"},
    {"{\"name\":\"web\",\"services\":{}}", "services", "non-empty array of at most 64"},
    {"{\"name\":\"web\",\"services\":[]}", "services", "non-empty array"},
    {"{\"name\":\"web\",\"services\":[1]}", "services[0]", "must be an object"},
    {SVC(",\"foo\":1"), "services[0].foo", "unknown field"},
    {"{\"name\":\"web\",\"services\":[{\"image\":\"i\"}]}", "services[0].name", "is required"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"A\",\"image\":\"i\"}]}", "services[0].name",
     "must be a DNS label: 1-63 lowercase letters, digits or '-', starting and ending with a "
     "letter or digit"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":"
     "\"i\"},{\"name\":\"a\",\"image\":\"i\"}]}",
     "services[2].name", "duplicate service name 'a'"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\"}]}", "services[0].image", "is required"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"\"}]}", "services[0].image",
     "must be 1-512 printable ASCII characters without whitespace"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"busy box\"}]}",
     "services[0].image", "without whitespace"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"busybox\\n\"}]}",
     "services[0].image", "without whitespace"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"b\\u00fcsybox\"}]}",
     "services[0].image", "printable ASCII"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":1}]}", "services[0].image",
     "printable ASCII"},
    {SVC(",\"command\":\"sh\""), "services[0].command", "must be an array of at most 256 strings"},
    {SVC(",\"command\":[\"sh\",1]"), "services[0].command[1]", "must be a string"},
    {SVC(",\"args\":[null]"), "services[0].args[0]", "must be a string"},
    {SVC(",\"env\":{}"), "services[0].env", "must be an array"},
    {SVC(",\"env\":[1]"), "services[0].env[0]", "must be an object"},
    {SVC(",\"env\":[{\"name\":\"A\",\"valueFrom\":{}}]"), "services[0].env[0].valueFrom",
     "unknown field"},
    {SVC(",\"env\":[{\"value\":\"x\"}]"), "services[0].env[0].name", "is required"},
    {SVC(",\"env\":[{\"name\":\"\"}]"), "services[0].env[0].name", "must be 1-256 characters"},
    {SVC(",\"env\":[{\"name\":\"1ABC\"}]"), "services[0].env[0].name", "a letter or '_'"},
    {SVC(",\"env\":[{\"name\":\"A B\"}]"), "services[0].env[0].name", "must be 1-256"},
    {SVC(",\"env\":[{\"name\":\"A=B\"}]"), "services[0].env[0].name", "must be 1-256"},
    {SVC(",\"env\":[{\"name\":\"A\",\"value\":1}]"), "services[0].env[0].value",
     "must be a string"},
    {SVC(",\"env\":[{\"name\":\"A\"},{\"name\":\"B\"},{\"name\":\"A\",\"value\":\"2\"}]"),
     "services[0].env[2].name", "duplicate env name 'A'"},
    {SVC(",\"ports\":{}"), "services[0].ports", "must be an array"},
    {SVC(",\"ports\":[80]"), "services[0].ports[0]", "must be an object"},
    {SVC(",\"ports\":[{\"containerPort\":80,\"name\":\"http\"}]"), "services[0].ports[0].name",
     "unknown field"},
    {SVC(",\"ports\":[{\"hostPort\":80}]"), "services[0].ports[0].containerPort", "is required"},
    {SVC(",\"ports\":[{\"containerPort\":0}]"), "services[0].ports[0].containerPort",
     "must be an integer between 1 and 65535"},
    {SVC(",\"ports\":[{\"containerPort\":65536}]"), "services[0].ports[0].containerPort",
     "between 1 and 65535"},
    {SVC(",\"ports\":[{\"containerPort\":\"80\"}]"), "services[0].ports[0].containerPort",
     "between 1 and 65535"},
    {SVC(",\"ports\":[{\"containerPort\":80.0}]"), "services[0].ports[0].containerPort",
     "between 1 and 65535"},
    {SVC(",\"ports\":[{\"containerPort\":80,\"hostPort\":-1}]"), "services[0].ports[0].hostPort",
     "between 1 and 65535"},
    {SVC(",\"ports\":[{\"containerPort\":80,\"protocol\":\"tcp\"}]"),
     "services[0].ports[0].protocol", "must be \"TCP\" or \"UDP\""},
    {SVC(",\"ports\":[{\"containerPort\":80,\"protocol\":\"SCTP\"}]"),
     "services[0].ports[0].protocol", "\"TCP\" or \"UDP\""},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"i\",\"ports\":[{"
     "\"containerPort\":80}]},{\"name\":\"b\",\"image\":\"i\",\"ports\":[{\"containerPort\":81},{"
     "\"containerPort\":80,\"protocol\":\"TCP\"}]}]}",
     "services[1].ports[1].containerPort", "containerPort 80/TCP is already used by service 'a'"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"i\",\"ports\":[{"
     "\"containerPort\":53,\"protocol\":\"UDP\"},{\"containerPort\":53,\"protocol\":\"UDP\"}]}]}",
     "services[0].ports[1].containerPort", "53/UDP is already used by service 'a'"},
    {"{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"i\",\"ports\":[{"
     "\"containerPort\":80,\"hostPort\":8080}]},{\"name\":\"b\",\"image\":\"i\",\"ports\":[{"
     "\"containerPort\":81,\"hostPort\":8080}]}]}",
     "services[1].ports[0].hostPort", "hostPort 8080/TCP is already used by service 'a'"},
    {APP(",\"replicas\":0"), "replicas", "must be an integer between 1 and 64"},
    {APP(",\"replicas\":65"), "replicas", "between 1 and 64"},
    {APP(",\"replicas\":\"2\""), "replicas", "between 1 and 64"},
    {APP(",\"replicas\":1.5"), "replicas", "between 1 and 64"},
    {"{\"name\":\"web\",\"replicas\":2,\"services\":[{\"name\":\"a\",\"image\":\"i\",\"ports\":[{"
     "\"containerPort\":80},{\"containerPort\":81,\"hostPort\":8080}]}]}",
     "services[0].ports[1].hostPort", "must not be set when replicas > 1"},
};

static const char *const good_apps[] = {
    APP(""),
    APP(",\"namespace\":\"x\",\"version\":3,\"createdAt\":1,\"updatedAt\":\"t\","
        "\"deployState\":{}"),
    APP(",\"description\":\"\",\"labels\":{},\"selector\":{},\"replicas\":64"),
    APP(",\"labels\":{\"example.com/zone\":\"eu-1\",\"a\":\"\",\"A_b.c\":\"X-1.y_z\","
        "\"k8s.io/Arch\":\"x86_64\"},\"selector\":{\"matchLabels\":{\"zone\":\"a\"}}"),
    SVC(",\"command\":[],\"args\":[\"\",\"x y\"],\"env\":[{\"name\":\"_A.b-c\"},{\"name\":\"B\","
        "\"value\":\"\"}],\"ports\":[{\"containerPort\":1,\"hostPort\":65535,\"protocol\":"
        "\"UDP\"},{\"containerPort\":1}]"),
    "{\"name\":\"web\",\"replicas\":3,\"services\":[{\"name\":\"a\",\"image\":\"i\",\"ports\":[{"
    "\"containerPort\":80}]},{\"name\":\"b\",\"image\":\"registry:5000/x/y@sha256:abc\","
    "\"ports\":[{\"containerPort\":80,\"protocol\":\"UDP\"}]}]}",
    "{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"i\",\"ports\":[{"
    "\"containerPort\":80,\"hostPort\":80},{\"containerPort\":81,\"hostPort\":80,\"protocol\":"
    "\"UDP\"}]}]}",
};

static void test_invalid_apps(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(bad_apps) / sizeof(bad_apps[0]); i++) {
        json_t *app = J(bad_apps[i].json);
        ferry_detail err;
        memset(&err, 0, sizeof(err));
        if (ferry_app_validate(app, &err) != FERRY_EINVAL)
            fail_msg("case %zu accepted: %s", i, bad_apps[i].json);
        if (strcmp(err.field, bad_apps[i].field) != 0 ||
            strstr(err.message, bad_apps[i].message) == NULL)
            fail_msg("case %zu: got \"%s: %s\", want \"%s: ...%s...\"", i, err.field, err.message,
                     bad_apps[i].field, bad_apps[i].message);
        assert_int_equal(ferry_app_validate(app, NULL), FERRY_EINVAL);
        json_decref(app);
    }
}

static void test_valid_apps(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(good_apps) / sizeof(good_apps[0]); i++) {
        json_t *app = J(good_apps[i]);
        ferry_detail err;
        if (ferry_app_validate(app, &err) != FERRY_OK)
            fail_msg("case %zu refused: %s: %s", i, err.field, err.message);
        json_t *norm = ferry_app_normalize(app);
        assert_non_null(norm);
        assert_int_equal(ferry_app_validate(norm, &err), FERRY_OK);
        json_t *again = ferry_app_normalize(norm);
        assert_json_equal(again, norm);
        json_decref(again);
        json_decref(norm);
        json_decref(app);
    }
}

static json_t *repeat_string(char c, size_t n, const char *unit) {
    size_t ul = unit != NULL ? strlen(unit) : 1;
    char *s = malloc(n * ul + 1);
    for (size_t i = 0; i < n; i++) {
        if (unit != NULL)
            memcpy(s + i * ul, unit, ul);
        else
            s[i] = c;
    }
    s[n * ul] = '\0';
    json_t *v = json_string(s);
    free(s);
    return v;
}

static ferry_err validate_with(const char *base, const char *path_key, json_t *value,
                               ferry_detail *err) {
    json_t *app = J(base);
    json_t *target = app;
    if (strncmp(path_key, "svc.", 4) == 0) {
        target = json_array_get(json_object_get(app, "services"), 0);
        path_key += 4;
    }
    json_object_set_new(target, path_key, value);
    ferry_err rc = ferry_app_validate(app, err);
    json_decref(app);
    return rc;
}

/* Limits: exactly at the limit passes, one over fails. Lengths count characters, not bytes. */
static void test_limits(void **state) {
    (void)state;
    ferry_detail err;
    assert_int_equal(validate_with(APP(""), "description", repeat_string('x', 1024, NULL), &err),
                     FERRY_OK);
    assert_int_equal(
        validate_with(APP(""), "description", repeat_string(0, 1024, "\xc3\xa9"), &err), FERRY_OK);
    assert_int_equal(validate_with(APP(""), "description", repeat_string('x', 1025, NULL), &err),
                     FERRY_EINVAL);
    assert_string_equal(err.field, "description");
    assert_int_equal(validate_with(APP(""), "svc.image", repeat_string('x', 512, NULL), &err),
                     FERRY_OK);
    assert_int_equal(validate_with(APP(""), "svc.image", repeat_string('x', 513, NULL), &err),
                     FERRY_EINVAL);

    json_t *labels = json_object();
    for (int i = 0; i < 64; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(labels, k, json_string("v"));
    }
    assert_int_equal(validate_with(APP(""), "labels", json_deep_copy(labels), &err), FERRY_OK);
    json_object_set_new(labels, "one-more", json_string("v"));
    assert_int_equal(validate_with(APP(""), "labels", labels, &err), FERRY_EINVAL);
    assert_contains(err.message, "at most 64 labels");

    char key[400];
    memset(key, 'a', 253);
    key[253] = '/';
    memset(key + 254, 'b', 63);
    key[317] = '\0';
    labels = json_pack("{s:s}", key, "v");
    assert_int_equal(ferry_labels_validate(labels, "labels", &err), FERRY_OK);
    json_decref(labels);
    key[0] = '\0';
    memset(key, 'a', 254);
    strcpy(key + 254, "/b");
    labels = json_pack("{s:s}", key, "v");
    assert_int_equal(ferry_labels_validate(labels, "labels", &err), FERRY_EINVAL);
    assert_true(strlen(err.message) < sizeof(err.message)); /* long keys are cut, not overflowed */
    json_decref(labels);
    memset(key, 'b', 64);
    key[64] = '\0';
    labels = json_pack("{s:s}", "k", key);
    assert_int_equal(ferry_labels_validate(labels, "labels", &err), FERRY_EINVAL);
    json_decref(labels);
    key[63] = '\0';
    labels = json_pack("{s:s}", key, key);
    assert_int_equal(ferry_labels_validate(labels, "labels", &err), FERRY_OK);
    json_decref(labels);

    json_t *svcs = json_array();
    for (int i = 0; i < 65; i++) {
        char n[16];
        snprintf(n, sizeof(n), "s%d", i);
        json_array_append_new(svcs, json_pack("{s:s, s:s}", "name", n, "image", "i"));
    }
    json_t *app = json_pack("{s:s, s:O}", "name", "web", "services", svcs);
    assert_int_equal(ferry_app_validate(app, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "services");
    json_array_remove(svcs, 64);
    json_object_set(app, "services", svcs);
    assert_int_equal(ferry_app_validate(app, &err), FERRY_OK);
    json_decref(app);
    json_decref(svcs);

    json_t *args = json_array();
    for (int i = 0; i < 256; i++)
        json_array_append_new(args, json_string("x"));
    assert_int_equal(validate_with(APP(""), "svc.args", json_deep_copy(args), &err), FERRY_OK);
    json_array_append_new(args, json_string("x"));
    assert_int_equal(validate_with(APP(""), "svc.args", args, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "services[0].args");

    json_t *env = json_array();
    for (int i = 0; i < 1024; i++) {
        char n[16];
        snprintf(n, sizeof(n), "V%d", i);
        json_array_append_new(env, json_pack("{s:s}", "name", n));
    }
    assert_int_equal(validate_with(APP(""), "svc.env", json_deep_copy(env), &err), FERRY_OK);
    json_array_append_new(env, json_pack("{s:s}", "name", "LAST"));
    assert_int_equal(validate_with(APP(""), "svc.env", env, &err), FERRY_EINVAL);
    assert_int_equal(validate_with(APP(""), "svc.env",
                                   json_pack("[{s:o}]", "name", repeat_string('A', 256, NULL)),
                                   &err),
                     FERRY_OK);
    assert_int_equal(validate_with(APP(""), "svc.env",
                                   json_pack("[{s:o}]", "name", repeat_string('A', 257, NULL)),
                                   &err),
                     FERRY_EINVAL);
}

/* Strings holding NUL (possible through jansson's length-aware API) never pass for names. */
static void test_embedded_nul(void **state) {
    (void)state;
    ferry_detail err;
    json_t *app = J(APP(""));
    json_object_set_new(app, "name", json_stringn("web\0x", 5));
    assert_int_equal(ferry_app_validate(app, &err), FERRY_EINVAL);
    json_object_set_new(app, "name", json_string("web"));
    json_object_setn_new(app, "name\0x", 6, json_true());
    assert_int_equal(ferry_app_validate(app, &err), FERRY_EINVAL);
    assert_string_equal(err.message, "unknown field");
    json_decref(app);
}

static void test_normalize_defaults(void **state) {
    (void)state;
    json_t *app = J("{\"name\":\"web\",\"version\":4,\"services\":[{\"name\":\"a\",\"image\":\"i\","
                    "\"env\":[{\"name\":\"A\"}],\"ports\":[{\"containerPort\":80},"
                    "{\"containerPort\":53,\"hostPort\":5353,\"protocol\":\"UDP\"}]}]}");
    json_t *want = J("{\"name\":\"web\",\"description\":\"\",\"labels\":{},\"selector\":"
                     "{\"matchLabels\":{}},\"services\":[{\"name\":\"a\",\"image\":\"i\","
                     "\"command\":[],\"args\":[],\"env\":[{\"name\":\"A\",\"value\":\"\"}],"
                     "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"},{\"containerPort\":"
                     "53,\"hostPort\":5353,\"protocol\":\"UDP\"}],\"volumeMounts\":[],"
                     "\"privileged\":false}],\"replicas\":1,\"volumes\":[],\"initServices\":[],"
                     "\"registries\":[],\"workload\":\"deployment\",\"restartPolicy\":\"Always\","
                     "\"hostNetwork\":false,\"monitorQps\":false}");
    json_t *norm = ferry_app_normalize(app);
    assert_json_equal(norm, want);
    json_decref(norm);
    json_decref(want);
    assert_null(ferry_app_normalize(NULL));
    json_t *arr = json_array();
    assert_null(ferry_app_normalize(arr));
    json_decref(arr);

    /* out of memory at every step: NULL, no leak */
    long n;
    for (n = 1; n < 10000; n++) {
        ferry_alloc_fail_after(n);
        norm = ferry_app_normalize(app);
        ferry_alloc_fail_after(0);
        if (norm != NULL)
            break;
    }
    assert_true(n > 5 && n < 10000);
    json_decref(norm);
    json_decref(app);
}

/* The rules of docs/apps-complete.md, one case each, from tests/unit/app_cases.json. */
static void test_case_file(void **state) {
    (void)state;
    json_error_t e;
    json_t *cases = json_load_file(FERRY_APP_CASES, 0, &e);
    if (cases == NULL)
        fail_msg("%s: %s (line %d)", FERRY_APP_CASES, e.text, e.line);
    const json_t *bad = json_object_get(cases, "invalid");
    const json_t *good = json_object_get(cases, "valid");
    assert_true(json_array_size(bad) > 100 && json_array_size(good) > 3);
    for (size_t i = 0; i < json_array_size(bad); i++) {
        const json_t *c = json_array_get(bad, i);
        const char *field = json_string_value(json_object_get(c, "field"));
        const char *message = json_string_value(json_object_get(c, "message"));
        ferry_detail err;
        memset(&err, 0, sizeof(err));
        if (ferry_app_validate(json_object_get(c, "app"), &err) != FERRY_EINVAL)
            fail_msg("invalid[%zu] (%s) accepted", i, field);
        if (strcmp(err.field, field) != 0 || strstr(err.message, message) == NULL)
            fail_msg("invalid[%zu]: got \"%s: %s\", want \"%s: ...%s...\"", i, err.field,
                     err.message, field, message);
    }
    for (size_t i = 0; i < json_array_size(good); i++) {
        const json_t *app = json_array_get(good, i);
        ferry_detail err;
        if (ferry_app_validate(app, &err) != FERRY_OK)
            fail_msg("valid[%zu] refused: %s: %s", i, err.field, err.message);
        json_t *norm = ferry_app_normalize(app);
        assert_non_null(norm);
        if (ferry_app_validate(norm, &err) != FERRY_OK)
            fail_msg("valid[%zu] normalized refused: %s: %s", i, err.field, err.message);
        json_t *again = ferry_app_normalize(norm);
        assert_json_equal(again, norm);
        json_decref(again);
        json_decref(norm);
    }
    /* out of memory at every step of normalizing the fullest app: NULL, no leak */
    long n;
    for (n = 1; n < 100000; n++) {
        ferry_alloc_fail_after(n);
        json_t *norm = ferry_app_normalize(json_array_get(good, 0));
        ferry_alloc_fail_after(0);
        if (norm != NULL) {
            json_decref(norm);
            break;
        }
    }
    assert_true(n > 100 && n < 100000);
    json_decref(cases);
}

/* An app with n items built by make(i) as member key of the app (or of its first service). */
static ferry_err validate_many(const char *key, bool in_service, size_t n,
                               json_t *(*make)(size_t i), ferry_detail *err) {
    json_t *app = J("{\"name\":\"web\",\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}],"
                    "\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, make(i));
    json_t *target = in_service ? json_array_get(json_object_get(app, "services"), 0) : app;
    json_object_set_new(target, key, arr);
    ferry_err rc = ferry_app_validate(app, err);
    json_decref(app);
    return rc;
}

static json_t *make_volume(size_t i) {
    char n[16];
    snprintf(n, sizeof(n), "v%zu", i);
    return json_pack("{s:s, s:{}}", "name", n, "emptyDir");
}

static json_t *make_mount(size_t i) {
    char p[16];
    snprintf(p, sizeof(p), "/m%zu", i);
    return json_pack("{s:s, s:s}", "name", "v", "mountPath", p);
}

static json_t *make_registry(size_t i) {
    char n[16];
    snprintf(n, sizeof(n), "r%zu", i);
    return json_string(n);
}

static json_t *make_init(size_t i) {
    char n[16];
    snprintf(n, sizeof(n), "init%zu", i);
    return json_pack("{s:s, s:s}", "name", n, "image", "i");
}

static json_t *make_expression(size_t i) {
    char k[16];
    snprintf(k, sizeof(k), "k%zu", i);
    return json_pack("{s:s, s:s}", "key", k, "operator", "Exists");
}

static json_t *make_value(size_t i) {
    char v[16];
    snprintf(v, sizeof(v), "v%zu", i);
    return json_string(v);
}

/* Count limits of the new arrays, and path lengths: at the limit passes, one over fails. */
static void test_new_limits(void **state) {
    (void)state;
    ferry_detail err;
    assert_int_equal(validate_many("volumes", false, 64, make_volume, &err), FERRY_OK);
    assert_int_equal(validate_many("volumes", false, 65, make_volume, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "volumes");
    assert_int_equal(validate_many("volumeMounts", true, 64, make_mount, &err), FERRY_OK);
    assert_int_equal(validate_many("volumeMounts", true, 65, make_mount, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "services[0].volumeMounts");
    assert_int_equal(validate_many("registries", false, 64, make_registry, &err), FERRY_OK);
    assert_int_equal(validate_many("registries", false, 65, make_registry, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "registries");
    assert_int_equal(validate_many("initServices", false, 64, make_init, &err), FERRY_OK);
    assert_int_equal(validate_many("initServices", false, 65, make_init, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "initServices");

    json_t *app = J(APP(""));
    json_t *exprs = json_array();
    for (size_t i = 0; i < 65; i++)
        json_array_append_new(exprs, make_expression(i));
    json_object_set_new(app, "selector", json_pack("{s:O}", "matchExpressions", exprs));
    assert_int_equal(ferry_app_validate(app, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "selector.matchExpressions");
    json_array_remove(exprs, 64);
    assert_int_equal(ferry_app_validate(app, &err), FERRY_OK);
    json_t *values = json_array();
    for (size_t i = 0; i < 65; i++)
        json_array_append_new(values, make_value(i));
    json_object_set_new(app, "selector",
                        json_pack("{s:[{s:s, s:s, s:O}]}", "matchExpressions", "key", "k",
                                  "operator", "In", "values", values));
    assert_int_equal(ferry_app_validate(app, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "selector.matchExpressions[0].values");
    json_array_remove(values, 64);
    assert_int_equal(ferry_app_validate(app, &err), FERRY_OK);
    json_decref(values);
    json_decref(exprs);

    char path[4200];
    path[0] = '/';
    memset(path + 1, 'a', 4095);
    path[4096] = '\0';
    json_object_set_new(app, "volumes",
                        json_pack("[{s:s, s:{s:s}}]", "name", "v", "hostPath", "path", path));
    assert_int_equal(ferry_app_validate(app, &err), FERRY_OK);
    strcpy(path + 4096, "a");
    json_object_set_new(app, "volumes",
                        json_pack("[{s:s, s:{s:s}}]", "name", "v", "hostPath", "path", path));
    assert_int_equal(ferry_app_validate(app, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "volumes[0].hostPath.path");
    json_decref(app);
}

/* Normalization of the new fields: defaults per workload, per container, per mount. */
static void test_normalize_new_fields(void **state) {
    (void)state;
    json_t *app = J("{\"name\":\"j\",\"workload\":\"job\",\"volumes\":[{\"name\":\"c\","
                    "\"config\":{\"name\":\"cfg\"}}],\"initServices\":[{\"name\":\"i\","
                    "\"image\":\"x\",\"volumeMounts\":[{\"name\":\"c\",\"mountPath\":\"/c\","
                    "\"subPath\":\"f\"}]}],\"services\":[{\"name\":\"a\",\"image\":\"x\","
                    "\"resources\":{\"limits\":{\"cpu\":\"1\"}},\"privileged\":true}],"
                    "\"selector\":{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":"
                    "\"Exists\"}]},\"deploy\":{\"at\":\"2026-11-26T10:00:00Z\"}}");
    json_t *want =
        J("{\"name\":\"j\",\"description\":\"\",\"labels\":{},\"selector\":{\"matchLabels\":{},"
          "\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Exists\",\"values\":[]}]},"
          "\"volumes\":[{\"name\":\"c\",\"config\":{\"name\":\"cfg\"}}],\"initServices\":[{"
          "\"name\":\"i\",\"image\":\"x\",\"command\":[],\"args\":[],\"env\":[],"
          "\"volumeMounts\":[{\"name\":\"c\",\"mountPath\":\"/c\",\"readOnly\":false,"
          "\"subPath\":\"f\"}],\"privileged\":false}],\"services\":[{\"name\":\"a\",\"image\":"
          "\"x\",\"command\":[],\"args\":[],\"env\":[],\"ports\":[],\"volumeMounts\":[],"
          "\"resources\":{\"limits\":{\"cpu\":\"1\"}},\"privileged\":true}],\"registries\":[],"
          "\"workload\":\"job\",\"replicas\":1,\"restartPolicy\":\"Never\",\"backoffLimit\":6,"
          "\"hostNetwork\":false,\"monitorQps\":false,\"deploy\":{\"at\":"
          "\"2026-11-26T10:00:00Z\"}}");
    json_t *norm = ferry_app_normalize(app);
    assert_json_equal(norm, want);
    /* key order is part of the shape (it is what a diff and the wire see) */
    char *a = json_dumps(norm, JSON_COMPACT);
    char *b = json_dumps(want, JSON_COMPACT);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(norm);
    json_decref(want);
    json_decref(app);

    app = J("{\"name\":\"d\",\"workload\":\"daemonset\",\"services\":[{\"name\":\"a\","
            "\"image\":\"x\"}]}");
    norm = ferry_app_normalize(app);
    assert_string_equal(json_string_value(json_object_get(norm, "restartPolicy")), "Always");
    assert_null(json_object_get(norm, "backoffLimit"));
    assert_null(json_object_get(json_object_get(norm, "selector"), "matchExpressions"));
    json_decref(norm);
    json_decref(app);

    /* "resolved" is kept (a node may normalize a spec it received) */
    app = J(APP(",\"resolved\":{\"configs\":{},\"registries\":[]}"));
    norm = ferry_app_normalize(app);
    assert_json_equal(json_object_get(norm, "resolved"), json_object_get(app, "resolved"));
    assert_int_equal(ferry_app_validate(norm, NULL), FERRY_EINVAL);
    assert_int_equal(ferry_app_validate_ex(norm, FERRY_APP_ALLOW_RESOLVED, NULL), FERRY_OK);
    json_decref(norm);
    json_decref(app);
}

/* ferry_app_validate refuses "resolved"; with the flag it is checked (test_config has the rest). */
static void test_resolved_flag(void **state) {
    (void)state;
    ferry_detail err;
    json_t *app = J(APP(",\"resolved\":{}"));
    assert_int_equal(ferry_app_validate(app, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "resolved");
    assert_string_equal(err.message, "read-only, filled by the server");
    assert_int_equal(ferry_app_validate_ex(app, 0, &err), FERRY_EINVAL);
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_OK);
    json_object_set_new(app, "resolved", json_array());
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "resolved");
    json_object_del(app, "resolved");
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_OK);
    /* an app that references a config needs it resolved on the wire */
    json_object_set_new(app, "volumes", J("[{\"name\":\"c\",\"secret\":{\"name\":\"s\"}}]"));
    assert_int_equal(ferry_app_validate(app, &err), FERRY_OK);
    assert_int_equal(ferry_app_validate_ex(app, FERRY_APP_ALLOW_RESOLVED, &err), FERRY_EINVAL);
    assert_string_equal(err.field, "resolved.configs");
    assert_contains(err.message, "the secret 's' that volumes[0] references");
    json_decref(app);
}

static void test_config_refs(void **state) {
    (void)state;
    json_t *refs = NULL;
    json_t *app = J("{\"name\":\"w\",\"volumes\":[{\"name\":\"a\",\"config\":{\"name\":"
                    "\"c1\"}},{\"name\":\"b\",\"secret\":{\"name\":\"s1\"}},{\"name\":\"h\","
                    "\"hostPath\":{\"path\":\"/x\"}},{\"name\":\"c\",\"config\":{\"name\":"
                    "\"c1\"}},{\"name\":\"d\",\"certificate\":{\"name\":\"t\"}},{\"name\":"
                    "\"e\",\"emptyDir\":{}}],\"registries\":[\"r2\",\"r1\"],\"services\":[{"
                    "\"name\":\"a\",\"image\":\"i\"}]}");
    assert_int_equal(ferry_app_config_refs(app, &refs), FERRY_OK);
    json_t *want = J("{\"configs\":{\"c1\":\"config\",\"s1\":\"secret\",\"t\":"
                     "\"certificate\"},\"registries\":[\"r2\",\"r1\"]}");
    assert_json_equal(refs, want);
    json_decref(want);
    json_decref(refs);
    json_decref(app);

    app = J(APP(""));
    assert_int_equal(ferry_app_config_refs(app, &refs), FERRY_OK);
    want = J("{\"configs\":{},\"registries\":[]}");
    assert_json_equal(refs, want);
    json_decref(want);
    json_decref(refs);
    assert_int_equal(ferry_app_config_refs(app, NULL), FERRY_EINVAL);
    assert_int_equal(ferry_app_config_refs(NULL, &refs), FERRY_EINVAL);
    assert_null(refs);
    long n;
    for (n = 1; n < 1000; n++) {
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_app_config_refs(app, &refs);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK)
            break;
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_null(refs);
    }
    assert_true(n > 1 && n < 1000);
    json_decref(refs);
    json_decref(app);
}

static void test_nodes(void **state) {
    (void)state;
    static const bad_case bad[] = {
        {"{}", "name", "is required"},
        {"{\"name\":\"Edge\"}", "name", "DNS label"},
        {"{\"name\":\"edge\",\"labels\":{\"k\":2}}", "labels", "value of 'k'"},
        {"{\"name\":\"edge\",\"addr\":\"x\"}", "addr", "unknown field"},
        {"[]", "node", "must be a JSON object"},
    };
    ferry_detail err;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *node = J(bad[i].json);
        assert_int_equal(ferry_node_validate(node, &err), FERRY_EINVAL);
        assert_string_equal(err.field, bad[i].field);
        assert_contains(err.message, bad[i].message);
        json_decref(node);
    }
    json_t *node = J("{\"name\":\"edge-1\",\"labels\":{\"zone\":\"a\"},\"namespace\":\"d\","
                     "\"createdAt\":1,\"updatedAt\":2,\"online\":true,\"rev\":3}");
    assert_int_equal(ferry_node_validate(node, &err), FERRY_OK);
    json_decref(node);
    node = J("{\"name\":\"edge-1\"}");
    assert_int_equal(ferry_node_validate(node, &err), FERRY_OK);
    json_decref(node);
}

static void test_names(void **state) {
    (void)state;
    assert_true(ferry_name_valid("a"));
    assert_true(ferry_name_valid("0"));
    assert_true(ferry_name_valid("a-b-1"));
    assert_true(
        ferry_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_false(
        ferry_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_false(ferry_name_valid(""));
    assert_false(ferry_name_valid(NULL));
    assert_false(ferry_name_valid("a.b"));
    assert_false(ferry_name_valid("a-"));
    assert_false(ferry_name_valid("-a"));
    assert_false(ferry_name_valid("A"));
    assert_false(ferry_name_valid("a b"));
    assert_false(ferry_name_valid("\xc3\xa9"));
}

static void test_selectors(void **state) {
    (void)state;
    json_t *labels = J("{\"zone\":\"a\",\"gpu\":\"\",\"example.com/tier\":\"edge\"}");
    static const struct {
        const char *selector;
        bool match;
    } cases[] = {
        {"null", true},
        {"{}", true},
        {"{\"matchLabels\":{}}", true},
        {"{\"matchLabels\":{\"zone\":\"a\"}}", true},
        {"{\"matchLabels\":{\"zone\":\"a\",\"gpu\":\"\"}}", true},
        {"{\"matchLabels\":{\"zone\":\"a\",\"example.com/tier\":\"edge\"}}", true},
        {"{\"matchLabels\":{\"zone\":\"b\"}}", false},
        {"{\"matchLabels\":{\"zone\":\"a\",\"rack\":\"1\"}}", false},
        {"{\"matchLabels\":{\"gpu\":\"yes\"}}", false},
        {"{\"matchLabels\":{\"zone\":1}}", false},
        {"{\"matchLabels\":[]}", false},
        {"[]", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *sel = J(cases[i].selector);
        if (ferry_selector_matches(sel, labels) != cases[i].match)
            fail_msg("selector %s: expected %d", cases[i].selector, cases[i].match);
        json_decref(sel);
    }
    assert_true(ferry_selector_matches(NULL, labels));
    json_t *sel = J("{\"matchLabels\":{\"zone\":\"a\"}}");
    assert_false(ferry_selector_matches(sel, NULL));
    json_decref(sel);
    json_decref(labels);
}

static void test_topic_label(void **state) {
    (void)state;
    const char *k = NULL, *v = NULL;
    json_t *sel =
        J("{\"matchLabels\":{\"zone\":\"a\",\"example.com/tier\":\"edge\",\"gpu\":\"\"}}");
    assert_true(ferry_selector_topic_label(sel, &k, &v));
    assert_string_equal(k, "example.com/tier");
    assert_string_equal(v, "edge");
    json_decref(sel);
    sel = J("{\"matchLabels\":{}}");
    assert_false(ferry_selector_topic_label(sel, &k, &v));
    json_decref(sel);
    sel = J("{}");
    assert_false(ferry_selector_topic_label(sel, &k, &v));
    json_decref(sel);
    assert_false(ferry_selector_topic_label(NULL, &k, &v));
    sel = J("{\"matchLabels\":{\"B\":\"x\",\"a\":\"y\"}}"); /* byte order: 'B' < 'a' */
    assert_true(ferry_selector_topic_label(sel, &k, &v));
    assert_string_equal(k, "B");
    json_decref(sel);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_apps),
        cmocka_unit_test(test_valid_apps),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_normalize_defaults),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_topic_label),
        cmocka_unit_test(test_case_file),
        cmocka_unit_test(test_new_limits),
        cmocka_unit_test(test_normalize_new_fields),
        cmocka_unit_test(test_resolved_flag),
        cmocka_unit_test(test_config_refs),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
