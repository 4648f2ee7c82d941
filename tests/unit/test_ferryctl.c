/* Unit tests of ferryctl's manifests (ferryctl/manifest.c), tables and ages (table.c) and config
 * file (client.c). */
#include "unit.h"

#include <errno.h>
#include <stdio.h>

#include "client.h"
#include "ferry/quantity.h"
#include "manifest.h"
#include "table.h"

/* Parse text; the documents, or NULL with the error in err. */
static json_t *parse(const char *text, char *err, size_t errlen) {
    json_t *docs = NULL;
    err[0] = '\0';
    if (ctl_manifest_parse(text, strlen(text), "m.yaml", &docs, err, errlen) != 0)
        return NULL;
    return docs;
}

static void test_plain_scalars(void **state) {
    (void)state;
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        {"", "null"},
        {"~", "null"},
        {"null", "null"},
        {"NULL", "null"},
        {"true", "true"},
        {"False", "false"},
        {"TRUE", "true"},
        {"yes", "\"yes\""}, /* YAML 1.1 booleans are strings in the core schema */
        {"on", "\"on\""},
        {"0", "0"},
        {"-12", "-12"},
        {"+7", "7"},
        {"0o17", "15"},
        {"0x1F", "31"},
        {"1.5", "1.5"},
        {"-.5", "-0.5"},
        {"1e3", "1000.0"},
        {"2.", "2.0"},
        {"1.0.2", "\"1.0.2\""},
        {"0.5Gi", "\"0.5Gi\""},
        {"500m", "\"500m\""},
        {".inf", "\".inf\""},
        {"1_000", "\"1_000\""},
        {"9223372036854775807", "9223372036854775807"},
        {"ferry-test/busybox:1", "\"ferry-test/busybox:1\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *got = ctl_yaml_resolve_plain(cases[i].yaml, strlen(cases[i].yaml));
        json_t *want = J(cases[i].json);
        if (got == NULL || !json_equal(got, want))
            fail_msg("plain scalar '%s' did not resolve to %s", cases[i].yaml, cases[i].json);
        json_decref(got);
        json_decref(want);
    }
    assert_null(ctl_yaml_resolve_plain("99999999999999999999", 20));
}

static void test_documents(void **state) {
    (void)state;
    char err[256];
    json_t *docs = parse("apiVersion: ferry/v1\n"
                         "kind: Config\n"
                         "name: code\n"
                         "data:\n"
                         "  index.py: |\n"
                         "    def handler(e, c):\n"
                         "        return e\n"
                         "---\n"
                         "kind: Node\n"
                         "name: east-1\n"
                         "labels: {region: east, zone: \"1\"}\n"
                         "---\n"
                         "# an empty document is skipped\n"
                         "---\n"
                         "kind: App\n"
                         "name: web\n"
                         "replicas: 2\n"
                         "description: 'true'\n"
                         "labels: &l {team: iot}\n"
                         "selector: {matchLabels: *l}\n"
                         "services:\n"
                         "  - name: web\n"
                         "    image: busybox\n"
                         "    env: [{name: A, value: !!str 10}, {name: B, value: \"0x10\"}]\n"
                         "    ports: [{containerPort: 8080, hostPort: !!int \"18080\"}]\n"
                         "...\n",
                         err, sizeof(err));
    if (docs == NULL)
        fail_msg("parse failed: %s", err);
    assert_int_equal(json_array_size(docs), 3);
    json_t *want = J("[{\"apiVersion\": \"ferry/v1\", \"kind\": \"Config\", \"name\": \"code\","
                     "  \"data\": {\"index.py\": \"def handler(e, c):\\n    return e\\n\"}},"
                     " {\"kind\": \"Node\", \"name\": \"east-1\","
                     "  \"labels\": {\"region\": \"east\", \"zone\": \"1\"}},"
                     " {\"kind\": \"App\", \"name\": \"web\", \"replicas\": 2,"
                     "  \"description\": \"true\", \"labels\": {\"team\": \"iot\"},"
                     "  \"selector\": {\"matchLabels\": {\"team\": \"iot\"}},"
                     "  \"services\": [{\"name\": \"web\", \"image\": \"busybox\","
                     "    \"env\": [{\"name\": \"A\", \"value\": \"10\"},"
                     "             {\"name\": \"B\", \"value\": \"0x10\"}],"
                     "    \"ports\": [{\"containerPort\": 8080, \"hostPort\": 18080}]}]}]");
    assert_json_equal(docs, want);
    json_decref(want);
    json_decref(docs);
}

static void test_json_input(void **state) {
    (void)state;
    char err[256];
    json_t *docs = parse("  {\"kind\": \"App\", \"name\": \"a\"}", err, sizeof(err));
    assert_non_null(docs);
    assert_int_equal(json_array_size(docs), 1);
    json_decref(docs);
    docs = parse("[{\"kind\": \"App\", \"name\": \"a\"}, {\"kind\": \"Node\", \"name\": \"n\"}]",
                 err, sizeof(err));
    assert_non_null(docs);
    assert_int_equal(json_array_size(docs), 2);
    json_decref(docs);
    assert_null(parse("{\"kind\": \"App\",\n \"kind\": \"Node\"}", err, sizeof(err)));
    assert_non_null(strstr(err, "m.yaml:2:"));
    assert_null(parse("[1]", err, sizeof(err)));
    assert_non_null(strstr(err, "item 0"));
}

static void test_errors_name_line_and_column(void **state) {
    (void)state;
    static const struct {
        const char *yaml, *where, *what;
    } cases[] = {
        {"kind: App\nname: a\nname: b\n", "m.yaml:3:1:", "duplicate key name"},
        {"kind: App\nlabels:\n  a: 1\n b: 2\n", "m.yaml:4:", ""},
        {"kind: App\n---\n- a\n- b\n", "m.yaml:2:1:", "must be a mapping"},
        {"kind: App\nport: !!int abc\n", "m.yaml:2:7:", "does not match its tag"},
        {"kind: App\nx: !custom 1\n", "m.yaml:2:4:", "unsupported tag !custom"},
        {"kind: App\nx: *nope\n", "m.yaml:2:4:", "unknown alias"},
        {"kind: App\n? [a, b]\n: c\n", "m.yaml:2:3:", "key must be a scalar"},
        {"kind: App\nx: \"unterminated\n", "m.yaml:", "quoted scalar"},
        {"kind: App\nn: 123456789012345678901234\n", "m.yaml:2:4:", "out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        json_t *docs = parse(cases[i].yaml, err, sizeof(err));
        if (docs != NULL)
            fail_msg("case %zu parsed", i);
        if (strncmp(err, cases[i].where, strlen(cases[i].where)) != 0 ||
            strstr(err, cases[i].what) == NULL)
            fail_msg("case %zu: error '%s', want '%s...%s'", i, err, cases[i].where, cases[i].what);
    }
}

static void test_yaml_write_round_trip(void **state) {
    (void)state;
    json_t *v = J("{\"name\": \"web\", \"s\": [\"true\", \"\", \"12\", \"1.5\", \"null\", \"a: b\","
                  " \"line1\\nline2\\n\", \"~\", \"x\"], \"n\": 3, \"f\": 2.0, \"b\": false,"
                  " \"z\": null, \"e\": {}, \"l\": [], \"\\u00e9t\\u00e9\": \"caf\\u00e9\"}");
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(ctl_yaml_write(f, v), 0);
    fclose(f);
    json_t *docs = NULL;
    if (ctl_manifest_parse(buf, len, "out", &docs, err, sizeof(err)) != 0)
        fail_msg("cannot read back: %s\n%s", err, buf);
    assert_json_equal(json_array_get(docs, 0), v);
    assert_non_null(strstr(buf, "name: web\n"));
    free(buf);
    json_decref(docs);
    json_decref(v);
}

static void test_age(void **state) {
    (void)state;
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {
        {-5, "<invalid>"},
        {-1, "0s"},
        {0, "0s"},
        {5, "5s"},
        {119, "119s"},
        {120, "2m"},
        {192, "3m12s"},
        {600, "10m"},
        {179 * 60, "179m"},
        {3 * 3600, "3h"},
        {5 * 3600 + 180, "5h3m"},
        {30 * 3600, "30h"},
        {4 * 86400, "4d"},
        {6 * 86400 + 5 * 3600, "6d5h"},
        {120 * 86400, "120d"},
        {760 * 86400, "2y30d"},
        {3650 * 86400, "10y"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        ctl_age(cases[i].s, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("age of %lld s: %s, want %s", (long long)cases[i].s, buf, cases[i].want);
    }
    char buf[32];
    int64_t now = 0;
    assert_int_equal(ferry_time_parse_rfc3339("2026-12-02T08:00:00Z", &now), FERRY_OK);
    ctl_age_since("2026-12-02T07:57:00Z", now + 999, buf, sizeof(buf));
    assert_string_equal(buf, "3m");
    ctl_age_since("yesterday", now, buf, sizeof(buf));
    assert_string_equal(buf, "<unknown>");
}

static void test_table(void **state) {
    (void)state;
    static const char *const h[] = {"NAME", "VERSION", "AGE"};
    static const char *const r1[] = {"web", "12", "5s"};
    static const char *const r2[] = {"caf\xc3\xa9-long-name", "3", NULL};
    ctl_table *t = ctl_table_new(3, h);
    assert_non_null(t);
    assert_int_equal(ctl_table_add(t, r1), 0);
    assert_int_equal(ctl_table_add(t, r2), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctl_table_write(t, 3, "", f);
    fclose(f);
    assert_string_equal(buf, "NAME             VERSION   AGE\n"
                             "web              12        5s\n"
                             "caf\xc3\xa9-long-name   3\n");
    free(buf);
    f = open_memstream(&buf, &len);
    ctl_table_write(t, 2, "  ", f);
    fclose(f);
    assert_string_equal(buf, "  NAME             VERSION\n"
                             "  web              12\n"
                             "  caf\xc3\xa9-long-name   3\n");
    free(buf);
    ctl_table_free(t);
}

static void test_config_file(void **state) {
    (void)state;
    char *out[5], err[256];
    assert_int_equal(ctl_config_parse("# made by scripts/up.sh\n\n"
                                      "server = https://127.0.0.1:7080 \n"
                                      "token-file = bridge.admin-token\n"
                                      "ca=/etc/ferry/ca.crt\n"
                                      "namespace = prod\n",
                                      "/run/ferry", out, err, sizeof(err)),
                     0);
    assert_string_equal(out[0], "https://127.0.0.1:7080");
    assert_null(out[1]);
    assert_string_equal(out[2], "/run/ferry/bridge.admin-token");
    assert_string_equal(out[3], "/etc/ferry/ca.crt");
    assert_string_equal(out[4], "prod");
    for (int i = 0; i < 5; i++)
        ferry_free(out[i]);
    assert_int_equal(ctl_config_parse("server = x\n\nport = 1\n", NULL, out, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 3: unknown key 'port'"));
    assert_int_equal(ctl_config_parse("server\n", NULL, out, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(ctl_config_parse("token =\n", NULL, out, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "token has no value"));
}

static void test_read_all(void **state) {
    (void)state;
    static char text[200000];
    memset(text, 'x', sizeof(text));
    size_t len = 0;
    FILE *f = fmemopen(text, sizeof(text), "r");
    char *buf = ctl_read_all(f, sizeof(text), &len);
    fclose(f);
    assert_non_null(buf);
    assert_int_equal(len, sizeof(text));
    assert_int_equal(buf[len], '\0');
    ferry_free(buf);
    f = fmemopen(text, sizeof(text), "r");
    assert_null(ctl_read_all(f, sizeof(text) - 1, &len));
    assert_int_equal(errno, EFBIG);
    fclose(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_scalars),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_json_input),
        cmocka_unit_test(test_errors_name_line_and_column),
        cmocka_unit_test(test_yaml_write_round_trip),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_read_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
