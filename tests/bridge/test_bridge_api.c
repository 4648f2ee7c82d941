/* Unit tests of broker-bridge's REST API: an in-process server on an ephemeral port, without MQTT,
 * driven over HTTP with libcurl. */
#include <curl/curl.h>

#include "api.h"
#include "bridge_test.h"

typedef struct {
    char *dir;
    ferry_bridge *b;
    ferry_api *api;
    recorder rec;
    char base[64];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    f->dir = tmp_dir();
    ferry_bridge_config cfg = {
        .data_dir = f->dir, .publish = record_publish, .publish_ctx = &f->rec};
    assert_int_equal(ferry_bridge_open(&cfg, &f->b), FERRY_OK);
    assert_int_equal(ferry_api_start("127.0.0.1:0", f->b, &f->api), FERRY_OK);
    assert_true(ferry_api_port(f->api) > 0);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", ferry_api_port(f->api));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ferry_api_stop(f->api);
    ferry_bridge_close(f->b);
    recorder_clear(&f->rec);
    rm_dir(f->dir);
    free(f);
    return 0;
}

typedef struct {
    char *data;
    size_t len;
} buffer;

static size_t on_data(char *p, size_t size, size_t n, void *ctx) {
    buffer *b = ctx;
    b->data = realloc(b->data, b->len + size * n + 1);
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

typedef struct {
    const char *data;
    size_t len, pos;
} source;

static size_t on_read(char *p, size_t size, size_t n, void *ctx) {
    source *s = ctx;
    size_t k = size * n < s->len - s->pos ? size * n : s->len - s->pos;
    memcpy(p, s->data + s->pos, k);
    s->pos += k;
    return k;
}

/* Send method path with body (may be NULL; len 0 means strlen) and return the status; *out is the
 * answer as JSON (the test fails when it is not JSON with a JSON content type). chunked sends the
 * body without Content-Length. */
static long request(fixture *f, const char *method, const char *path, const char *body, size_t len,
                    bool chunked, json_t **out) {
    CURL *c = curl_easy_init();
    char url[512];
    buffer resp = {0};
    source src = {.data = body, .len = body != NULL ? (len ? len : strlen(body)) : 0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    char *ctype = NULL;

    snprintf(url, sizeof(url), "%s%s", f->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        if (chunked)
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        else
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src.len);
        hdrs = curl_slist_append(hdrs, "Expect:");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
    if (ctype == NULL || strcmp(ctype, "application/json") != 0)
        fail_msg("%s %s: content type %s", method, path, ctype != NULL ? ctype : "(none)");
    json_error_t e;
    *out = json_loadb(resp.data != NULL ? resp.data : "", resp.len, 0, &e);
    if (*out == NULL)
        fail_msg("%s %s: answer is not JSON: %s", method, path, resp.data != NULL ? resp.data : "");
    free(resp.data);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
}

static long req(fixture *f, const char *method, const char *path, const char *body, json_t **out) {
    return request(f, method, path, body, 0, false, out);
}

static const char *str(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "(none)";
}

static const char WEB[] = "{\"name\":\"web\",\"selector\":{\"matchLabels\":{\"zone\":\"eu-1\"}},"
                          "\"services\":[{\"name\":\"httpd\",\"image\":\"busybox:1\","
                          "\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}";

static void test_app_crud(void **state) {
    fixture *f = *state;
    json_t *out = NULL;

    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps", WEB, &out), 201);
    assert_string_equal(str(out, "name"), "web");
    assert_string_equal(str(out, "namespace"), "default");
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    assert_int_equal(strlen(str(out, "createdAt")), 20); /* 2026-11-26T06:44:48Z */
    assert_int_equal(str(out, "createdAt")[19], 'Z');
    assert_int_equal(json_integer_value(json_object_get(out, "replicas")), 1);
    json_decref(out);

    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps", WEB, &out), 409);
    json_t *want = J("{\"error\":\"app 'web' already exists\",\"field\":\"name\"}");
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);

    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/web", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    /* What GET returns can be PUT back as is (read-only fields are ignored). */
    json_object_set_new(out, "replicas", json_integer(2));
    char *body = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    assert_int_equal(req(f, "PUT", "/v1/namespaces/default/apps/web", body, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    assert_int_equal(json_integer_value(json_object_get(out, "replicas")), 2);
    json_decref(out);
    /* The same body again carries version 1: conflict. */
    assert_int_equal(req(f, "PUT", "/v1/namespaces/default/apps/web", body, &out), 409);
    assert_string_equal(str(out, "error"), "version conflict: stored 2, body 1");
    json_decref(out);
    free(body);

    assert_int_equal(req(f, "PUT", "/v1/namespaces/default/apps/other", WEB, &out), 400);
    assert_string_equal(str(out, "field"), "name");
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/nope", NULL, &out), 404);
    json_decref(out);

    assert_int_equal(req(f, "DELETE", "/v1/namespaces/default/apps/web", NULL, &out), 200);
    want = J("{\"name\":\"web\",\"version\":3,\"deleted\":true}");
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/web", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "DELETE", "/v1/namespaces/default/apps/web", NULL, &out), 404);
    json_decref(out);

    /* Status of a deleted app: 200, deleted; of one that never existed: 404. */
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/web/status", NULL, &out), 200);
    assert_true(json_is_true(json_object_get(out, "deleted")));
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 3);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/nope/status", NULL, &out), 404);
    json_decref(out);

    /* Re-created: a higher version. */
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps", WEB, &out), 201);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 4);
    json_decref(out);
}

static void test_list_paging_and_filter(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    const char *names[] = {"web-b", "web-a", "db", "WEBLESS-not-valid", "cache", "webshop"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"name\":\"%s\",\"services\":[{\"name\":\"s\",\"image\":\"x:1\"}]}", names[i]);
        long want = strcmp(names[i], "WEBLESS-not-valid") == 0 ? 400 : 201;
        assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps", body, &out), want);
        json_decref(out);
    }
    assert_int_equal(req(f, "DELETE", "/v1/namespaces/default/apps/db", NULL, &out), 200);
    json_decref(out);

    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(out, "page")), 1);
    assert_int_equal(json_integer_value(json_object_get(out, "pageSize")), 20);
    assert_string_equal(str(json_array_get(json_object_get(out, "items"), 0), "name"), "cache");
    json_decref(out);

    assert_int_equal(
        req(f, "GET", "/v1/namespaces/default/apps?name=WEB&page=2&pageSize=2", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    assert_string_equal(str(json_array_get(json_object_get(out, "items"), 0), "name"), "webshop");
    json_decref(out);

    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps?page=0", NULL, &out), 400);
    assert_string_equal(str(out, "field"), "page");
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps?pageSize=1001", NULL, &out), 400);
    assert_string_equal(str(out, "field"), "pageSize");
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps?pageSize=abc", NULL, &out), 400);
    assert_string_equal(str(out, "field"), "pageSize");
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/other/apps", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
}

static void test_errors(void **state) {
    fixture *f = *state;
    json_t *out = NULL;

    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps", "{\"name\": \"web\",", &out),
                     400);
    assert_non_null(strstr(str(out, "error"), "invalid JSON at line 1"));
    assert_null(json_object_get(out, "field"));
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps", "[1]", &out), 400);
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/Bad_NS/apps", WEB, &out), 400);
    assert_string_equal(str(out, "field"), "namespace");
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps",
                         "{\"name\":\"x\",\"services\":[{\"name\":\"s\",\"image\":\"\"}]}", &out),
                     400);
    assert_string_equal(str(out, "field"), "services[0].image");
    assert_non_null(strstr(str(out, "error"), "services[0].image: "));
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/things", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v2/whatever", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/web/extra", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "PATCH", "/v1/namespaces/default/apps/web", "{}", &out), 405);
    json_decref(out);
    assert_int_equal(req(f, "DELETE", "/v1/namespaces/default/apps", NULL, &out), 405);
    json_decref(out);

    /* Bodies over 1 MiB: 413, announced or not. */
    size_t big = FERRY_API_MAX_BODY + 10;
    char *body = malloc(big);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    assert_int_equal(request(f, "POST", "/v1/namespaces/default/apps", body, big, false, &out),
                     413);
    json_decref(out);
    assert_int_equal(request(f, "POST", "/v1/namespaces/default/apps", body, big, true, &out), 413);
    json_decref(out);
    free(body);

    /* Nothing was stored by any of these. */
    assert_int_equal(req(f, "GET", "/healthz", NULL, &out), 200);
    json_t *want = J("{\"ok\":true,\"mqtt\":\"disconnected\",\"rev\":0}");
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);
}

static void test_nodes(void **state) {
    fixture *f = *state;
    json_t *out = NULL;

    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps", WEB, &out), 201);
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/nodes",
                         "{\"name\":\"n1\",\"labels\":{\"zone\":\"eu-1\"}}", &out),
                     201);
    assert_string_equal(str(out, "name"), "n1");
    assert_string_equal(str(out, "namespace"), "default");
    assert_true(json_is_false(json_object_get(out, "online")));
    assert_string_equal(str(json_object_get(out, "labels"), "zone"), "eu-1");
    assert_non_null(json_object_get(out, "createdAt"));
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/nodes", "{\"name\":\"n1\"}", &out),
                     409);
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/nodes", "{\"name\":\"n2\"}", &out),
                     201);
    json_decref(out);

    assert_int_equal(req(f, "GET", "/v1/namespaces/default/nodes/n1/apps", NULL, &out), 200);
    json_t *want = J("{\"node\":\"n1\",\"online\":false,\"apps\":[{\"app\":\"web\",\"version\":0,"
                     "\"phase\":\"Pending\",\"message\":\"\",\"containers\":[]}]}");
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);

    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/web/status", NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "nodes")), 1);
    want = J("{\"targeted\":1,\"applied\":0,\"running\":0,\"failed\":0,\"succeeded\":0,"
             "\"scheduled\":0,\"notReporting\":1,\"deployState\":\"Deploying\"}");
    assert_json_equal(json_object_get(out, "summary"), want);
    json_decref(want);
    json_decref(out);

    assert_int_equal(
        req(f, "PUT", "/v1/namespaces/default/nodes/n1", "{\"labels\":{\"zone\":\"us-2\"}}", &out),
        200);
    assert_string_equal(str(json_object_get(out, "labels"), "zone"), "us-2");
    json_decref(out);
    assert_int_equal(
        req(f, "PUT", "/v1/namespaces/default/nodes/n1", "{\"name\":\"n7\",\"labels\":{}}", &out),
        400);
    assert_string_equal(str(out, "field"), "name");
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/nodes/n1/apps", NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "apps")), 0);
    json_decref(out);

    assert_int_equal(req(f, "GET", "/v1/namespaces/default/nodes?name=N1", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);
    assert_int_equal(req(f, "DELETE", "/v1/namespaces/default/nodes/n1", NULL, &out), 200);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/nodes/n1", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/nodes/n1/apps", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/nodes", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);
}

static void test_configs_and_selector(void **state) {
    fixture *f = *state;
    json_t *out = NULL;

    /* The routes: 201 on create, the secret as a digest, 409 for a config in use. */
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/configs",
                         "{\"name\":\"s\",\"kind\":\"secret\",\"data\":{\"pw\":\"hunter2\"}}",
                         &out),
                     201);
    assert_int_equal(json_object_size(json_object_get(json_object_get(out, "data"), "pw")), 1);
    assert_true(strncmp(str(json_object_get(json_object_get(out, "data"), "pw"), "digest"),
                        "sha256:", 7) == 0);
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/configs",
                         "{\"name\":\"s\",\"kind\":\"secret\"}", &out),
                     409);
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps",
                         "{\"name\":\"web\",\"volumes\":[{\"name\":\"v\",\"secret\":{\"name\":"
                         "\"nope\"}}],\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}",
                         &out),
                     400);
    assert_string_equal(str(out, "field"), "volumes[0].secret.name");
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps",
                         "{\"name\":\"web\",\"volumes\":[{\"name\":\"v\",\"secret\":{\"name\":"
                         "\"s\"}}],\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}",
                         &out),
                     201);
    json_decref(out);
    assert_int_equal(req(f, "DELETE", "/v1/namespaces/default/configs/s", NULL, &out), 409);
    assert_string_equal(str(out, "error"), "config 's' is used by apps: web");
    assert_string_equal(str(out, "field"), "name");
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/configs?kind=secret", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    char *text = json_dumps(out, 0);
    assert_null(strstr(text, "hunter2"));
    free(text);
    json_decref(out);
    assert_int_equal(req(f, "PUT", "/v1/namespaces/default/configs/s",
                         "{\"kind\":\"secret\",\"data\":{\"pw\":\"x\"}}", &out),
                     200);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/configs/s/status", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/configs?kind=vault", NULL, &out), 400);
    assert_string_equal(str(out, "field"), "kind");
    json_decref(out);

    /* Selector preview, percent-encoded as a client sends it. */
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/nodes",
                         "{\"name\":\"n1\",\"labels\":{\"region\":\"east\",\"tier\":\"gw\"}}",
                         &out),
                     201);
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/nodes",
                         "{\"name\":\"n2\",\"labels\":{\"region\":\"east\",\"gpu\":\"1\"}}", &out),
                     201);
    json_decref(out);
    assert_int_equal(req(f, "GET",
                         "/v1/namespaces/default/nodes?selector=region%3Deast%2Ctier%20in%20"
                         "(gw%2Cedge)%2C!gpu",
                         NULL, &out),
                     200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    assert_string_equal(str(json_array_get(json_object_get(out, "items"), 0), "name"), "n1");
    json_decref(out);
    assert_int_equal(req(f, "GET",
                         "/v1/namespaces/default/nodes?selector=%7B%22matchLabels%22%3A%7B%22gpu%22"
                         "%3A%221%22%7D%7D",
                         NULL, &out),
                     200);
    assert_string_equal(str(json_array_get(json_object_get(out, "items"), 0), "name"), "n2");
    json_decref(out);
    assert_int_equal(
        req(f, "GET", "/v1/namespaces/default/nodes?selector=region%20in%20(", NULL, &out), 400);
    assert_string_equal(str(out, "field"), "selector");
    json_decref(out);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_configs_and_selector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging_and_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = FERRY_RUN_TESTS(tests, argc, argv);
    curl_global_cleanup();
    return rc;
}
