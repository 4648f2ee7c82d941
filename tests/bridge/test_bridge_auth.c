/* Unit tests of broker-bridge's authorisation decisions (auth.c: token grants, what each role may
 * do, what in an app needs the privileged permission) and of the request headers it judges
 * (headers.c: bearer token, content type, origin). Pure: no store, no server. */
#include "auth.h"
#include "headers.h"
#include "unit.h"

/* The grant of a token body, or fail. */
static ferry_auth_grant grant(const char *text) {
    ferry_auth_grant g;
    ferry_detail e = {"", ""};
    json_t *body = J(text);
    if (ferry_auth_grant_parse(body, &g, &e) != FERRY_OK)
        fail_msg("%s: %s: %s", text, e.field, e.message);
    json_decref(body);
    return g;
}

/* The body is refused naming field. */
static void assert_refused(const char *text, const char *field) {
    ferry_auth_grant g;
    ferry_detail e = {"", ""};
    json_t *body = J(text);
    assert_int_equal(ferry_auth_grant_parse(body, &g, &e), FERRY_EINVAL);
    if (strcmp(e.field, field) != 0)
        fail_msg("%s: refused on '%s' (%s), expected '%s'", text, e.field, e.message, field);
    json_decref(body);
}

static void test_grant_parse(void **state) {
    (void)state;
    ferry_auth_grant g =
        grant("{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\",\"b\"]}");
    assert_string_equal(g.name, "ci");
    assert_int_equal(g.role, FERRY_ROLE_EDITOR);
    assert_false(g.all_namespaces);
    assert_int_equal(g.n_namespaces, 2);
    assert_string_equal(g.namespaces[1], "b");
    assert_false(g.privileged);
    assert_string_equal(g.id, "");

    g = grant("{\"name\":\"ops\",\"role\":\"editor\",\"namespaces\":[\"*\"],\"privileged\":true}");
    assert_true(g.all_namespaces);
    assert_true(g.privileged);
    g = grant("{\"name\":\"root\",\"role\":\"admin\"}");
    assert_true(g.all_namespaces);
    assert_true(g.privileged);
    g = grant("{\"name\":\"root\",\"role\":\"admin\",\"namespaces\":[\"*\"],\"privileged\":true}");
    assert_int_equal(g.role, FERRY_ROLE_ADMIN);
    /* What GET shows may be sent back. */
    g = grant("{\"id\":\"0123456789abcdef\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"name\":\"ro\","
              "\"role\":\"viewer\",\"namespaces\":[\"a\"],\"privileged\":false}");
    assert_int_equal(g.role, FERRY_ROLE_VIEWER);

    /* Round trip. */
    g = grant("{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\",\"b\"]}");
    json_t *back = ferry_auth_grant_json(&g);
    json_t *want = J(
        "{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\",\"b\"],\"privileged\":false}");
    assert_json_equal(back, want);
    json_decref(back);
    json_decref(want);
}

static void test_grant_refused(void **state) {
    (void)state;
    assert_refused("[]", "");
    assert_refused("{\"role\":\"viewer\",\"namespaces\":[\"a\"]}", "name");
    assert_refused("{\"name\":\"Bad_Name\",\"role\":\"viewer\",\"namespaces\":[\"a\"]}", "name");
    assert_refused("{\"name\":\"x\",\"namespaces\":[\"a\"]}", "role");
    assert_refused("{\"name\":\"x\",\"role\":\"owner\",\"namespaces\":[\"a\"]}", "role");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\"}", "namespaces");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[]}", "namespaces");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":\"a\"}", "namespaces");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"*\",\"a\"]}",
                   "namespaces");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"a\",\"*\"]}",
                   "namespaces[1]");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"a\",\"a\"]}",
                   "namespaces[1]");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"A\"]}", "namespaces[0]");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[1]}", "namespaces[0]");
    assert_refused(
        "{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"a\"],\"privileged\":true}",
        "privileged");
    assert_refused("{\"name\":\"x\",\"role\":\"editor\",\"namespaces\":[\"a\"],\"privileged\":1}",
                   "privileged");
    assert_refused("{\"name\":\"x\",\"role\":\"admin\",\"privileged\":false}", "privileged");
    assert_refused("{\"name\":\"x\",\"role\":\"admin\",\"namespaces\":[\"a\"]}", "namespaces");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"a\"],\"token\":\"t\"}",
                   "token");
    assert_refused("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"a\"],\"scope\":1}",
                   "scope");

    /* At most FERRY_AUTH_MAX_NAMESPACES namespaces. */
    json_t *body = J("{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[]}");
    char ns[16];
    for (int i = 0; i <= FERRY_AUTH_MAX_NAMESPACES; i++) {
        snprintf(ns, sizeof(ns), "ns%d", i);
        json_array_append_new(json_object_get(body, "namespaces"), json_string(ns));
    }
    ferry_auth_grant g;
    ferry_detail e;
    assert_int_equal(ferry_auth_grant_parse(body, &g, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "namespaces");
    json_array_remove(json_object_get(body, "namespaces"), 0);
    assert_int_equal(ferry_auth_grant_parse(body, &g, &e), FERRY_OK);
    assert_int_equal(g.n_namespaces, FERRY_AUTH_MAX_NAMESPACES);
    json_decref(body);
}

/* May g do perm in ns? And the message when not. */
static bool may(const ferry_auth_grant *g, ferry_perm perm, const char *ns, char *msg) {
    return ferry_auth_allows(g, perm, ns, "services[0].privileged", msg, 1024);
}

static void test_decisions(void **state) {
    char msg[1024];
    (void)state;
    ferry_auth_grant viewer = grant("{\"name\":\"ro\",\"role\":\"viewer\",\"namespaces\":[\"a\"]}");
    ferry_auth_grant viewer_all =
        grant("{\"name\":\"audit\",\"role\":\"viewer\",\"namespaces\":[\"*\"]}");
    ferry_auth_grant editor =
        grant("{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\",\"b\"]}");
    ferry_auth_grant priv =
        grant("{\"name\":\"ops\",\"role\":\"editor\",\"namespaces\":[\"a\"],\"privileged\":true}");
    ferry_auth_grant admin = grant("{\"name\":\"root\",\"role\":\"admin\"}");

    /* Every role, permission and namespace: {grant, perm, ns, allowed}. */
    static const struct {
        int who; /* 0 viewer, 1 viewer of all, 2 editor, 3 privileged editor, 4 admin */
        ferry_perm perm;
        const char *ns;
        bool ok;
    } cases[] = {
        {0, FERRY_PERM_READ, "a", true},        {0, FERRY_PERM_READ, "b", false},
        {0, FERRY_PERM_WRITE, "a", false},      {0, FERRY_PERM_PRIVILEGED, "a", false},
        {0, FERRY_PERM_ADMIN, NULL, false},     {1, FERRY_PERM_READ, "zz", true},
        {1, FERRY_PERM_WRITE, "zz", false},     {2, FERRY_PERM_READ, "b", true},
        {2, FERRY_PERM_WRITE, "a", true},       {2, FERRY_PERM_WRITE, "c", false},
        {2, FERRY_PERM_READ, "c", false},       {2, FERRY_PERM_PRIVILEGED, "a", false},
        {2, FERRY_PERM_ADMIN, NULL, false},     {3, FERRY_PERM_PRIVILEGED, "a", true},
        {3, FERRY_PERM_PRIVILEGED, "b", false}, {3, FERRY_PERM_WRITE, "b", false},
        {4, FERRY_PERM_READ, "x", true},        {4, FERRY_PERM_WRITE, "y", true},
        {4, FERRY_PERM_PRIVILEGED, "z", true},  {4, FERRY_PERM_ADMIN, NULL, true},
    };
    const ferry_auth_grant *who[] = {&viewer, &viewer_all, &editor, &priv, &admin};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msg[0] = '\0';
        bool ok = may(who[cases[i].who], cases[i].perm, cases[i].ns, msg);
        if (ok != cases[i].ok)
            fail_msg("case %zu: %s %s in '%s': got %d, want %d (%s)", i, who[cases[i].who]->name,
                     ferry_auth_perm_name(cases[i].perm), cases[i].ns != NULL ? cases[i].ns : "",
                     ok, cases[i].ok, msg);
        if (!ok)
            assert_true(strncmp(msg, "forbidden: token '", 18) == 0);
    }

    /* The messages say what is missing and what the token may do. */
    assert_false(may(&editor, FERRY_PERM_WRITE, "c", msg));
    assert_string_equal(msg, "forbidden: token 'ci' (editor of namespaces a, b) may not write in "
                             "namespace 'c'");
    assert_false(may(&viewer, FERRY_PERM_READ, "b", msg));
    assert_string_equal(msg, "forbidden: token 'ro' (viewer of namespace a) may not read in "
                             "namespace 'b'");
    assert_false(may(&viewer_all, FERRY_PERM_WRITE, "b", msg));
    assert_string_equal(msg, "forbidden: token 'audit' (viewer of all namespaces) may not write "
                             "in namespace 'b'");
    assert_false(may(&priv, FERRY_PERM_ADMIN, NULL, msg));
    assert_string_equal(msg, "forbidden: token 'ops' (editor of namespace a, privileged) may not "
                             "manage tokens: that needs an admin token");
    assert_false(may(&editor, FERRY_PERM_PRIVILEGED, "a", msg));
    assert_contains(msg, "may not use services[0].privileged in namespace 'a'");

    /* A namespace from a URL is cut and made printable. */
    assert_false(may(&viewer, FERRY_PERM_READ,
                     "b\x01\xff-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                     msg));
    assert_contains(msg, "namespace 'b?"
                         "?-aaaa");
    assert_contains(msg, "...'");

    /* A long list is shortened. */
    json_t *body = J("{\"name\":\"many\",\"role\":\"viewer\",\"namespaces\":[]}");
    char ns[16];
    for (int i = 0; i < 12; i++) {
        snprintf(ns, sizeof(ns), "n%d", i);
        json_array_append_new(json_object_get(body, "namespaces"), json_string(ns));
    }
    ferry_auth_grant many;
    assert_int_equal(ferry_auth_grant_parse(body, &many, NULL), FERRY_OK);
    json_decref(body);
    assert_false(may(&many, FERRY_PERM_READ, "x", msg));
    assert_contains(msg, "(viewer of namespaces n0, n1, n2, n3, n4, n5, n6, n7 and 4 more)");
}

static void test_app_privileged(void **state) {
    char what[64];
    (void)state;
    static const struct {
        const char *app;
        const char *what; /* NULL: needs nothing */
    } cases[] = {
        {"{\"name\":\"a\",\"services\":[{\"name\":\"s\",\"image\":\"x\"}]}", NULL},
        {"{\"services\":[{\"privileged\":false}],\"hostNetwork\":false,\"volumes\":[{\"name\":"
         "\"v\",\"emptyDir\":{}}]}",
         NULL},
        {"{\"services\":[{},{\"privileged\":true}]}", "services[1].privileged"},
        {"{\"initServices\":[{\"privileged\":true}]}", "initServices[0].privileged"},
        {"{\"volumes\":[{\"name\":\"c\",\"config\":{}},{\"name\":\"h\",\"hostPath\":{\"path\":"
         "\"/\"}}]}",
         "volumes[1].hostPath"},
        {"{\"hostNetwork\":true}", "hostNetwork"},
        /* Not validated yet: anything but false counts. */
        {"{\"services\":[{\"privileged\":\"yes\"}]}", "services[0].privileged"},
        {"{\"hostNetwork\":null}", "hostNetwork"},
        {"{\"volumes\":[{\"hostPath\":null}]}", "volumes[0].hostPath"},
        {"{\"services\":{\"privileged\":true}}", NULL}, /* not a list: 400 from validation */
        {"[]", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *app = J(cases[i].app);
        what[0] = '\0';
        bool got = ferry_auth_app_privileged(app, what, sizeof(what));
        if (got != (cases[i].what != NULL) || (got && strcmp(what, cases[i].what) != 0))
            fail_msg("%s: got %d (%s)", cases[i].app, got, what);
        json_decref(app);
    }
}

static void test_bearer(void **state) {
    const char *tok = NULL;
    size_t len = 0;
    (void)state;
    assert_true(ferry_headers_bearer("Bearer abc.DEF-_~+/=", &tok, &len));
    assert_int_equal(len, 13);
    assert_true(strncmp(tok, "abc.DEF-_~+/=", len) == 0);
    assert_true(ferry_headers_bearer("  bearer\t  xyz  ", &tok, &len));
    assert_int_equal(len, 3);
    assert_true(strncmp(tok, "xyz", 3) == 0);
    const char *bad[] = {"Bearer",       "Bearer ", "Basic dXNlcjpwYXNz", "Bearerxyz", "Bearer a b",
                         "Bearer a\x01", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ferry_headers_bearer(bad[i], &tok, &len))
            fail_msg("'%s' taken as a bearer token", bad[i]);
    }
    assert_false(ferry_headers_bearer(NULL, &tok, &len));
}

static void test_json_type(void **state) {
    (void)state;
    const char *ok[] = {"application/json",
                        "APPLICATION/JSON",
                        " application/json ",
                        "application/json; charset=utf-8",
                        "application/json;charset=UTF-8",
                        "application/json ; charset = \"utf-8\" "};
    const char *bad[] = {"text/plain",
                         "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x",
                         "application/jsonx",
                         "application/json-patch+json",
                         "application/json; charset=latin1",
                         "application/json; boundary=x",
                         "application/json; charset=\"utf-8",
                         "application/json; charset=utf-8; x=y",
                         "",
                         NULL};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!ferry_headers_json(ok[i]))
            fail_msg("'%s' refused", ok[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ferry_headers_json(bad[i]))
            fail_msg("'%s' taken as JSON", bad[i] != NULL ? bad[i] : "(none)");
    }
}

static void test_origin(void **state) {
    char out[FERRY_ORIGIN_MAX];
    static const char allowed[2][FERRY_ORIGIN_MAX] = {"https://ui.example", "http://[::1]:3000"};
    (void)state;

    static const struct {
        const char *in, *out; /* out NULL: refused */
    } norm[] = {
        {"HTTPS://UI.Example:443", "https://ui.example"},
        {"http://127.0.0.1:80", "http://127.0.0.1"},
        {"http://127.0.0.1:7080", "http://127.0.0.1:7080"},
        {"https://host:080", "https://host:80"},
        {"http://[::1]:3000", "http://[::1]:3000"},
        {"null", NULL},
        {"ftp://x", NULL},
        {"https://", NULL},
        {"https://a/", NULL},
        {"https://user@a", NULL},
        {"https://a:", NULL},
        {"https://a:0", NULL},
        {"https://a:65536", NULL},
        {"https://a:123456", NULL},
        {"https://[zz]:1", NULL},
        {"https://[]", NULL},
        {"http//a", NULL},
    };
    for (size_t i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
        bool ok = ferry_headers_origin_normalize(norm[i].in, out);
        if (ok != (norm[i].out != NULL) || (ok && strcmp(out, norm[i].out) != 0))
            fail_msg("'%s': got %d '%s'", norm[i].in, ok, ok ? out : "");
    }

    /* Its own origin: scheme of the connection and the Host header. */
    assert_true(
        ferry_headers_origin_allowed("http://127.0.0.1:7080", false, "127.0.0.1:7080", allowed, 2));
    assert_true(ferry_headers_origin_allowed("https://bridge.example", true, "bridge.example:443",
                                             allowed, 2));
    assert_false(
        ferry_headers_origin_allowed("http://127.0.0.1:7080", true, "127.0.0.1:7080", allowed, 2));
    assert_false(
        ferry_headers_origin_allowed("http://127.0.0.1:7081", false, "127.0.0.1:7080", allowed, 2));
    assert_false(ferry_headers_origin_allowed("http://127.0.0.1", false, NULL, allowed, 2));
    /* Or an allowed one. */
    assert_true(
        ferry_headers_origin_allowed("https://UI.example", false, "127.0.0.1:7080", allowed, 2));
    assert_true(ferry_headers_origin_allowed("http://[::1]:3000", false, "x", allowed, 2));
    assert_false(ferry_headers_origin_allowed("https://ui.example.evil", false, "x", allowed, 2));
    assert_false(ferry_headers_origin_allowed("null", false, "x", allowed, 2));
    assert_false(ferry_headers_origin_allowed("https://ui.example", false, "x", allowed, 0));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_parse), cmocka_unit_test(test_grant_refused),
        cmocka_unit_test(test_decisions),   cmocka_unit_test(test_app_privileged),
        cmocka_unit_test(test_bearer),      cmocka_unit_test(test_json_type),
        cmocka_unit_test(test_origin),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
