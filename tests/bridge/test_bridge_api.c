/* Unit tests of broker-bridge's REST API: an in-process server on an ephemeral port, without MQTT,
 * driven over HTTP with libcurl: the routes, and the checks before them (tokens, permissions,
 * content type, origin). */
#include <curl/curl.h>
#include <stddef.h>
#include <strings.h>

#include "api.h"
#include "ferry/sign.h"
#include "bridge_test.h"
#include "tokens.h"

typedef struct {
    char *dir;
    ferry_bridge *b;
    ferry_api *api;
    recorder rec;
    char base[64];
    char admin[FERRY_TOKEN_LEN + 1]; /* the admin token, from its file */
    const char *token;               /* what req() sends as the bearer token (NULL: none) */
} fixture;

static const char UI_ORIGIN[] = "https://ui.example";

/* The token in the admin token file of dir ("<dir>.admin-token"). */
static void read_admin(const char *dir, char token[FERRY_TOKEN_LEN + 1]) {
    char path[600];
    snprintf(path, sizeof(path), "%s.admin-token", dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(token, FERRY_TOKEN_LEN + 1, fp));
    fclose(fp);
    assert_int_equal(strlen(token), FERRY_TOKEN_LEN);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    char path[600];
    const char *origins[] = {UI_ORIGIN};
    f->dir = tmp_dir();
    /* insecure_nodes: test_app_stats delivers reports of nodes that never enrolled. */
    ferry_bridge_config cfg = {.data_dir = f->dir,
                               .publish = record_publish,
                               .publish_ctx = &f->rec,
                               .insecure_nodes = true};
    assert_int_equal(ferry_bridge_open(&cfg, &f->b), FERRY_OK);
    snprintf(path, sizeof(path), "%s.admin-token", f->dir);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_OK);
    read_admin(f->dir, f->admin);
    f->token = f->admin;
    ferry_api_config ac = {.listen = "127.0.0.1:0",
                           .plain_http = true,
                           .allow_origins = origins,
                           .n_allow_origins = 1,
                           .threads = 2};
    assert_int_equal(ferry_api_start(&ac, f->b, &f->api), FERRY_OK);
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

/* What a request sends besides its method, path and body, and headers of the answer. */
typedef struct {
    bool chunked;             /* the body without Content-Length */
    const char *content_type; /* NULL: application/json; "": none */
    const char *origin;       /* an Origin header, or NULL */
    char www_authenticate[128];
    char allow[64];
} req_opts;

static size_t on_header(char *p, size_t size, size_t n, void *ctx) {
    req_opts *o = ctx;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off, cap;
    } wanted[] = {{"WWW-Authenticate:", offsetof(req_opts, www_authenticate), 128},
                  {"Allow:", offsetof(req_opts, allow), 64}};
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        size_t k = strlen(wanted[i].name);
        if (len > k && strncasecmp(p, wanted[i].name, k) == 0)
            snprintf((char *)o + wanted[i].off, wanted[i].cap, "%.*s",
                     (int)strcspn(p + k + 1, "\r\n"), p + k + 1);
    }
    return len;
}

/* Send method path with body (may be NULL; len 0 means strlen) and the fixture's token, and
 * return the status; *out is the answer as JSON (the test fails when it is not JSON with a JSON
 * content type). o (may be NULL) adds headers and receives some of the answer's. */
static long request_ex(fixture *f, const char *method, const char *path, const char *body,
                       size_t len, req_opts *o, json_t **out) {
    CURL *c = curl_easy_init();
    char url[512], line[256];
    buffer resp = {0};
    req_opts none = {0};
    source src = {.data = body, .len = body != NULL ? (len ? len : strlen(body)) : 0};
    struct curl_slist *hdrs = NULL;
    long status = 0;
    char *ctype = NULL;

    o = o != NULL ? o : &none;
    if (o->content_type == NULL)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    else if (o->content_type[0] != '\0') {
        snprintf(line, sizeof(line), "Content-Type: %s", o->content_type);
        hdrs = curl_slist_append(hdrs, line);
    } else {
        hdrs = curl_slist_append(hdrs, "Content-Type:");
    }
    if (f->token != NULL) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", f->token);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (o->origin != NULL) {
        snprintf(line, sizeof(line), "Origin: %s", o->origin);
        hdrs = curl_slist_append(hdrs, line);
    }
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, o);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        if (o->chunked)
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

static long request(fixture *f, const char *method, const char *path, const char *body, size_t len,
                    bool chunked, json_t **out) {
    req_opts o = {.chunked = chunked};
    return request_ex(f, method, path, body, len, &o, out);
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
    /* A name that comes or goes after a search is found, or not, by the next one. */
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps",
                         "{\"name\":\"aweb\",\"services\":[{\"name\":\"s\",\"image\":\"x:1\"}]}",
                         &out),
                     201);
    json_decref(out);
    assert_int_equal(req(f, "DELETE", "/v1/namespaces/default/apps/web-a", NULL, &out), 200);
    json_decref(out);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps?name=web", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    assert_string_equal(str(json_array_get(json_object_get(out, "items"), 0), "name"), "aweb");
    assert_string_equal(str(json_array_get(json_object_get(out, "items"), 1), "name"), "web-b");
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
    json_decref(out);
    /* The summary alone (pageSize=0), and a page; a malformed count is refused, naming it. */
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/web/status?pageSize=0", NULL, &out),
                     200);
    assert_int_equal(json_array_size(json_object_get(out, "nodes")), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    assert_json_equal(json_object_get(out, "summary"), want);
    json_decref(want);
    json_decref(out);
    assert_int_equal(
        req(f, "GET", "/v1/namespaces/default/apps/web/status?page=1&pageSize=5", NULL, &out), 200);
    assert_string_equal(str(json_array_get(json_object_get(out, "nodes"), 0), "node"), "n1");
    assert_int_equal(json_integer_value(json_object_get(out, "pageSize")), 5);
    json_decref(out);
    static const char *const bad[] = {"pageSize=x", "pageSize=-1", "pageSize=1001", "page=0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/namespaces/default/apps/web/status?%s", bad[i]);
        assert_int_equal(req(f, "GET", path, NULL, &out), 400);
        assert_string_equal(str(out, "field"), bad[i][4] == 'S' ? "pageSize" : "page");
        json_decref(out);
    }

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

/* ---- authentication and authorisation ------------------------------------------------------- */

/* req() and check the status; the answer is dropped. */
static void expect(fixture *f, const char *method, const char *path, const char *body,
                   long status) {
    json_t *out = NULL;
    long got = req(f, method, path, body, &out);
    if (got != status) {
        char *text = json_dumps(out, JSON_COMPACT);
        fail_msg("%s %s: %ld, expected %ld: %s", method, path, got, status, text);
    }
    json_decref(out);
}

/* Create a token as admin from body; its text into token. */
static void make_token(fixture *f, const char *body, char token[FERRY_TOKEN_LEN + 1]) {
    json_t *out = NULL;
    const char *was = f->token;
    f->token = f->admin;
    assert_int_equal(req(f, "POST", "/v1/tokens", body, &out), 201);
    assert_int_equal(strlen(str(out, "token")), FERRY_TOKEN_LEN);
    strcpy(token, str(out, "token"));
    json_decref(out);
    f->token = was;
}

/* The answer is 403 with exactly this error and permission. */
static void assert_forbidden(fixture *f, const char *method, const char *path, const char *body,
                             const char *error, const char *permission) {
    json_t *out = NULL;
    assert_int_equal(req(f, method, path, body, &out), 403);
    if (error != NULL)
        assert_string_equal(str(out, "error"), error);
    assert_string_equal(str(out, "permission"), permission);
    json_decref(out);
}

static void test_unauthenticated(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    req_opts o = {0};
    char gone[FERRY_TOKEN_LEN + 1];

    /* /healthz is public. */
    f->token = NULL;
    expect(f, "GET", "/healthz", NULL, 200);
    /* Everything else needs a token; unknown paths too (the routes stay private). */
    const char *paths[] = {"/v1/namespaces/default/apps", "/v1/tokens", "/v1/tokens/admin",
                           "/v1/namespaces/default/nodes/n1/apps", "/nothing/here"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        memset(&o, 0, sizeof(o));
        assert_int_equal(request_ex(f, "GET", paths[i], NULL, 0, &o, &out), 401);
        assert_string_equal(o.www_authenticate, "Bearer realm=\"ferry\"");
        assert_non_null(strstr(str(out, "error"), "missing bearer token"));
        json_decref(out);
    }
    memset(&o, 0, sizeof(o));
    assert_int_equal(request_ex(f, "POST", "/v1/namespaces/default/apps", WEB, 0, &o, &out), 401);
    json_decref(out);
    /* A token that is not one of ours: malformed, unknown, deleted. */
    make_token(f, "{\"name\":\"gone\",\"role\":\"viewer\",\"namespaces\":[\"*\"]}", gone);
    const char *bad[] = {"nope", "ferry_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", gone};
    f->token = f->admin;
    assert_int_equal(req(f, "GET", "/v1/tokens", NULL, &out), 200);
    const char *id = str(json_array_get(json_object_get(out, "items"), 1), "id");
    char path[64];
    snprintf(path, sizeof(path), "/v1/tokens/%s", id);
    json_decref(out);
    assert_int_equal(req(f, "DELETE", path, NULL, &out), 200);
    assert_true(json_is_true(json_object_get(out, "deleted")));
    assert_string_equal(str(out, "name"), "gone");
    json_decref(out);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->token = bad[i];
        memset(&o, 0, sizeof(o));
        assert_int_equal(request_ex(f, "GET", "/v1/namespaces/default/apps", NULL, 0, &o, &out),
                         401);
        assert_string_equal(o.www_authenticate, "Bearer realm=\"ferry\", error=\"invalid_token\"");
        assert_string_equal(str(out, "error"), "unknown or deleted token");
        json_decref(out);
    }
    /* With a token: the route decides (404, 405 with Allow). */
    f->token = f->admin;
    expect(f, "GET", "/nothing/here", NULL, 404);
    memset(&o, 0, sizeof(o));
    assert_int_equal(request_ex(f, "PUT", "/v1/tokens", "{}", 0, &o, &out), 405);
    assert_string_equal(o.allow, "GET, POST");
    json_decref(out);
    memset(&o, 0, sizeof(o));
    assert_int_equal(request_ex(f, "POST", "/healthz", "{}", 0, &o, &out), 405);
    assert_string_equal(o.allow, "GET");
    json_decref(out);
}

static const char PRIV_APP[] =
    "{\"name\":\"root\",\"services\":[{\"name\":\"s\",\"image\":\"x:1\",\"privileged\":true}]}";
static const char HOSTPATH_APP[] =
    "{\"name\":\"disk\",\"volumes\":[{\"name\":\"v\",\"hostPath\":{\"path\":\"/etc\"}}],"
    "\"services\":[{\"name\":\"s\",\"image\":\"x:1\",\"volumeMounts\":[{\"name\":\"v\","
    "\"mountPath\":\"/host\"}]}]}";
static const char HOSTNET_APP[] =
    "{\"name\":\"net\",\"hostNetwork\":true,\"services\":[{\"name\":\"s\",\"image\":\"x:1\"}]}";
static const char PLAIN_APP[] =
    "{\"name\":\"plain\",\"services\":[{\"name\":\"s\",\"image\":\"x:1\"}]}";

static void test_roles(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    char viewer[FERRY_TOKEN_LEN + 1], editor[FERRY_TOKEN_LEN + 1], priv[FERRY_TOKEN_LEN + 1];

    make_token(f, "{\"name\":\"ro\",\"role\":\"viewer\",\"namespaces\":[\"a\"]}", viewer);
    make_token(f, "{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\",\"b\"]}", editor);
    make_token(f,
               "{\"name\":\"ops\",\"role\":\"editor\",\"namespaces\":[\"a\"],\"privileged\":true}",
               priv);
    expect(f, "POST", "/v1/namespaces/a/apps", PLAIN_APP, 201);

    /* viewer: reads its namespace, nothing else. */
    f->token = viewer;
    expect(f, "GET", "/v1/namespaces/a/apps", NULL, 200);
    expect(f, "GET", "/v1/namespaces/a/apps/plain/status", NULL, 200);
    assert_forbidden(f, "GET", "/v1/namespaces/b/nodes", NULL,
                     "forbidden: token 'ro' (viewer of namespace a) may not read in namespace 'b'",
                     "read");
    assert_forbidden(f, "POST", "/v1/namespaces/a/apps", WEB,
                     "forbidden: token 'ro' (viewer of namespace a) may not write in namespace 'a'",
                     "write");
    assert_forbidden(f, "DELETE", "/v1/namespaces/a/apps/plain", NULL, NULL, "write");
    assert_forbidden(f, "PUT", "/v1/namespaces/a/configs/c", "{}", NULL, "write");
    assert_forbidden(f, "GET", "/v1/tokens", NULL,
                     "forbidden: token 'ro' (viewer of namespace a) may not manage tokens: that "
                     "needs an admin token",
                     "admin");

    /* editor: reads and writes apps, nodes and configs of its namespaces. */
    f->token = editor;
    expect(f, "POST", "/v1/namespaces/b/apps", WEB, 201);
    expect(f, "POST", "/v1/namespaces/b/nodes", "{\"name\":\"n1\"}", 201);
    expect(f, "POST", "/v1/namespaces/a/configs",
           "{\"name\":\"c\",\"kind\":\"config\",\"data\":{\"f\":\"x\"}}", 201);
    expect(f, "DELETE", "/v1/namespaces/a/apps/plain", NULL, 200);
    assert_forbidden(f, "POST", "/v1/namespaces/c/apps", WEB,
                     "forbidden: token 'ci' (editor of namespaces a, b) may not write in namespace "
                     "'c'",
                     "write");
    assert_forbidden(f, "GET", "/v1/namespaces/c/apps/web", NULL, NULL, "read");
    assert_forbidden(f, "POST", "/v1/tokens", "{\"name\":\"x\",\"role\":\"admin\"}", NULL, "admin");
    assert_forbidden(f, "DELETE", "/v1/tokens/admin", NULL, NULL, "admin");
    /* Privileged containers, hostPath volumes, hostNetwork: not without the permission, and not
     * through an update either. */
    assert_forbidden(f, "POST", "/v1/namespaces/a/apps", PRIV_APP,
                     "forbidden: token 'ci' (editor of namespaces a, b) may not use "
                     "services[0].privileged in namespace 'a': privileged containers, hostPath "
                     "volumes and hostNetwork need the privileged permission (an admin token, or "
                     "an editor token made with \"privileged\": true)",
                     "privileged");
    assert_forbidden(f, "POST", "/v1/namespaces/a/apps", HOSTPATH_APP, NULL, "privileged");
    assert_forbidden(f, "POST", "/v1/namespaces/a/apps", HOSTNET_APP, NULL, "privileged");
    assert_forbidden(f, "PUT", "/v1/namespaces/b/apps/web",
                     "{\"name\":\"web\",\"services\":[{\"name\":\"s\",\"image\":\"x:1\","
                     "\"privileged\":true}]}",
                     NULL, "privileged");
    assert_int_equal(req(f, "GET", "/v1/namespaces/b/apps/web", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2); /* unchanged */
    json_decref(out);

    /* a privileged editor may, in its namespaces only; so may an admin. */
    f->token = priv;
    expect(f, "POST", "/v1/namespaces/a/apps", PRIV_APP, 201);
    expect(f, "POST", "/v1/namespaces/a/apps", HOSTPATH_APP, 201);
    assert_forbidden(f, "POST", "/v1/namespaces/b/apps", HOSTNET_APP, NULL, "write");
    f->token = f->admin;
    expect(f, "POST", "/v1/namespaces/z/apps", HOSTNET_APP, 201);
    expect(f, "GET", "/v1/namespaces/b/apps/web", NULL, 200);
}

static void test_tokens(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    char path[64], id[32];

    assert_int_equal(req(f, "POST", "/v1/tokens",
                         "{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\",\"b\"],"
                         "\"privileged\":true}",
                         &out),
                     201);
    assert_true(strncmp(str(out, "token"), FERRY_TOKEN_PREFIX, 6) == 0);
    json_t *want = J("{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\",\"b\"],"
                     "\"privileged\":true}");
    json_t *got = json_deep_copy(out);
    json_object_del(got, "id");
    json_object_del(got, "createdAt");
    json_object_del(got, "token");
    assert_json_equal(got, want);
    json_decref(got);
    json_decref(want);
    assert_int_equal(strlen(str(out, "id")), 16);
    assert_int_equal(strlen(str(out, "createdAt")), 20);
    snprintf(id, sizeof(id), "%s", str(out, "id"));
    json_decref(out);

    /* Shown once: lists and GETs have no token (nor its digest). */
    assert_int_equal(req(f, "GET", "/v1/tokens", NULL, &out), 200);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(str(json_array_get(items, 0), "name"), "admin");
    assert_string_equal(str(json_array_get(items, 0), "id"), "admin");
    assert_string_equal(str(json_array_get(items, 1), "name"), "ci");
    char *text = json_dumps(out, 0);
    assert_null(strstr(text, "ferry_"));
    assert_null(strstr(text, "sha256"));
    free(text);
    json_decref(out);
    snprintf(path, sizeof(path), "/v1/tokens/%s", id);
    assert_int_equal(req(f, "GET", path, NULL, &out), 200);
    assert_string_equal(str(out, "name"), "ci");
    assert_null(json_object_get(out, "token"));
    json_decref(out);

    /* Refused bodies, names taken, the admin token. */
    assert_int_equal(req(f, "POST", "/v1/tokens",
                         "{\"name\":\"ci\",\"role\":\"viewer\","
                         "\"namespaces\":[\"a\"]}",
                         &out),
                     409);
    assert_string_equal(str(out, "error"), "token 'ci' already exists");
    json_decref(out);
    expect(f, "POST", "/v1/tokens", "{\"name\":\"admin\",\"role\":\"admin\"}", 409);
    assert_int_equal(req(f, "POST", "/v1/tokens", "{\"name\":\"x\",\"role\":\"root\"}", &out), 400);
    assert_string_equal(str(out, "field"), "role");
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/tokens",
                         "{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"a\"],\"token\":"
                         "\"ferry_mine\"}",
                         &out),
                     400);
    assert_string_equal(str(out, "field"), "token");
    json_decref(out);
    assert_int_equal(req(f, "DELETE", "/v1/tokens/admin", NULL, &out), 409);
    assert_string_equal(str(out, "field"), "id");
    json_decref(out);
    expect(f, "GET", "/v1/tokens/0123456789abcdef", NULL, 404);
    expect(f, "GET", "/v1/tokens/no%20such", NULL, 404);
    expect(f, "DELETE", path, NULL, 200);
    expect(f, "DELETE", path, NULL, 404);
}

static void test_content_type(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    req_opts o = {.content_type = "text/plain"};

    assert_int_equal(request_ex(f, "POST", "/v1/namespaces/a/apps", PLAIN_APP, 0, &o, &out), 415);
    assert_string_equal(str(out, "error"), "a request body must be JSON sent as \"Content-Type: "
                                           "application/json\" (got 'text/plain')");
    json_decref(out);
    o = (req_opts){.content_type = "application/x-www-form-urlencoded"};
    assert_int_equal(request_ex(f, "PUT", "/v1/namespaces/a/nodes/n", "{}", 0, &o, &out), 415);
    json_decref(out);
    o = (req_opts){.content_type = ""};
    assert_int_equal(request_ex(f, "POST", "/v1/tokens", "{}", 0, &o, &out), 415);
    assert_non_null(strstr(str(out, "error"), "(got none)"));
    json_decref(out);
    o = (req_opts){.content_type = "text/plain", .chunked = true};
    assert_int_equal(request_ex(f, "POST", "/v1/namespaces/a/apps", PLAIN_APP, 0, &o, &out), 415);
    json_decref(out);
    o = (req_opts){.content_type = "Application/JSON; charset=\"UTF-8\""};
    assert_int_equal(request_ex(f, "POST", "/v1/namespaces/a/apps", PLAIN_APP, 0, &o, &out), 201);
    json_decref(out);
    /* No body, no media type needed. */
    o = (req_opts){.content_type = ""};
    assert_int_equal(request_ex(f, "DELETE", "/v1/namespaces/a/apps/plain", NULL, 0, &o, &out),
                     200);
    json_decref(out);
}

static void test_origin(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    char own[80];
    req_opts o = {.origin = "https://evil.example"};

    /* A cross-site POST: refused before anything else, even with a valid token. */
    assert_int_equal(request_ex(f, "POST", "/v1/namespaces/a/apps", PLAIN_APP, 0, &o, &out), 403);
    assert_non_null(strstr(str(out, "error"), "cross-origin request from 'https://evil.example'"));
    assert_null(json_object_get(out, "permission"));
    json_decref(out);
    const char *refused[] = {"null", "http://127.0.0.1", "https://ui.example:8443",
                             "http://ui.example"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        o = (req_opts){.origin = refused[i]};
        assert_int_equal(request_ex(f, "GET", "/healthz", NULL, 0, &o, &out), 403);
        json_decref(out);
    }
    /* Its own origin (scheme and Host) and the allowed one pass. */
    snprintf(own, sizeof(own), "HTTP://127.0.0.1:%u", ferry_api_port(f->api));
    const char *passed[] = {own, UI_ORIGIN, "https://UI.example:443"};
    for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
        o = (req_opts){.origin = passed[i]};
        assert_int_equal(request_ex(f, "GET", "/v1/namespaces/a/apps", NULL, 0, &o, &out), 200);
        json_decref(out);
    }
    o = (req_opts){.origin = UI_ORIGIN};
    assert_int_equal(request_ex(f, "POST", "/v1/namespaces/a/apps", PLAIN_APP, 0, &o, &out), 201);
    json_decref(out);
}

static void test_start_refused(void **state) {
    fixture *f = *state;
    ferry_api *api = NULL;
    const char *bad_origin[] = {"https://ok.example, ftp://x"};
    ferry_api_config cfgs[] = {
        {.listen = "127.0.0.1:0"},                                      /* neither TLS nor plain */
        {.listen = "127.0.0.1:0", .tls_cert = "/nonexistent/cert.pem"}, /* key missing */
        {.listen = "127.0.0.1:0", .tls_cert = "/nonexistent/c", .tls_key = "/nonexistent/k"},
        {.listen = "127.0.0.1:0",
         .plain_http = true,
         .allow_origins = bad_origin,
         .n_allow_origins = 1},
        {.listen = "nowhere", .plain_http = true},
    };
    for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        assert_int_equal(ferry_api_start(&cfgs[i], f->b, &api), FERRY_EINVAL);
        assert_null(api);
    }
}

/* Enrollment over the API: an editor asks for a node's token; the node enrolls without an API
 * token (the one-time token is the check), once. */
static void test_enroll_routes(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_keypair sk, bk;
    char sign[FERRY_SIGN_PUB_B64], box[FERRY_SIGN_PUB_B64], body[512];
    memset(&sk, 3, sizeof(sk));
    memset(&bk, 4, sizeof(bk));
    assert_int_equal(ferry_sign_keypair(&sk), FERRY_OK);
    assert_int_equal(ferry_box_keypair(&bk), FERRY_OK);
    ferry_sign_pub_encode(sk.pub, sign);
    ferry_sign_pub_encode(bk.pub, box);

    expect(f, "POST", "/v1/namespaces/default/nodes", "{\"name\":\"n1\"}", 201);
    expect(f, "POST", "/v1/namespaces/default/nodes/nope/enroll", NULL, 404);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/nodes/n1/enroll", NULL, &out), 201);
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"signKey\":\"%s\",\"boxKey\":\"%s\"}",
             str(out, "token"), sign, box);
    json_decref(out);
    f->token = NULL; /* a node has no API token */
    assert_int_equal(req(f, "POST", "/v1/enroll", body, &out), 200);
    assert_string_equal(str(out, "node"), "n1");
    assert_string_equal(str(json_object_get(out, "mqtt"), "clientId"), "node.default.n1");
    json_decref(out);
    expect(f, "POST", "/v1/enroll", body, 404); /* spent */
    /* Without a token nothing else opens up. */
    expect(f, "POST", "/v1/namespaces/default/nodes/n1/enroll", NULL, 401);
    f->token = f->admin;
    /* This bridge does not administer its broker: no debug credentials. */
    expect(f, "POST", "/v1/broker/debug", "{\"name\":\"alice\"}", 409);
}

/* A node.stats report of node east: requests calls of fn/s/f, ok of them successful, c4 client
 * errors, all in latency bucket 2 (100..200 us). */
static void stats_report(fixture *f, long long start, long long ts, int requests, int ok, int c4) {
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"type\":\"node.stats\",\"ns\":\"default\",\"node\":\"east\",\"start\":%lld,"
             "\"ts\":%lld,\"calls\":[{\"app\":\"fn\",\"service\":\"s\",\"function\":\"f\","
             "\"requests\":%d,\"success\":%d,\"clientErrors\":%d,\"serverErrors\":0,"
             "\"timeouts\":0,\"latency\":[0,0,%d,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}",
             start, ts, requests, ok, c4, requests);
    assert_int_equal(node_message(f->b, "ferry/default/nodes/east/stats", J(text), NULL), FERRY_OK);
}

static void test_app_stats(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    expect(f, "POST", "/v1/namespaces/default/nodes", "{\"name\":\"east\"}", 201);
    expect(f, "POST", "/v1/namespaces/default/apps",
           "{\"name\":\"fn\",\"monitorQps\":true,\"services\":[{\"name\":\"s\","
           "\"image\":\"busybox\"}]}",
           201);
    /* window: 10..3600, else 400 naming it; an unknown app: 404 */
    static const char *const bad[] = {"?window=9", "?window=3601", "?window=abc",
                                      "?window=", "?window=-10"};
    char path[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/v1/namespaces/default/apps/fn/stats%s", bad[i]);
        assert_int_equal(req(f, "GET", path, NULL, &out), 400);
        assert_string_equal(str(out, "field"), "window");
        json_decref(out);
    }
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/nope/stats", NULL, &out), 404);
    json_decref(out);
    assert_int_equal(req(f, "POST", "/v1/namespaces/default/apps/fn/stats", "{}", &out), 405);
    json_decref(out);

    /* Two cumulative reports ten seconds apart: 10 calls, then 30 in all. The node's counters
     * started before the bridge, so the first report is its baseline: 20 calls count. */
    long long now = ferry_now_ms();
    stats_report(f, now - 20000, now - 10000, 10, 10, 0);
    stats_report(f, now - 20000, now, 30, 26, 4);
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/fn/stats?window=60", NULL, &out),
                     200);
    assert_string_equal(str(out, "namespace"), "default");
    assert_string_equal(str(out, "app"), "fn");
    assert_int_equal(json_integer_value(json_object_get(out, "window")), 60);
    assert_int_equal(json_integer_value(json_object_get(out, "interval")), 10);
    assert_true(json_is_true(json_object_get(out, "monitorQps")));
    json_t *total = json_object_get(out, "total");
    assert_int_equal(json_integer_value(json_object_get(total, "requests")), 20);
    assert_int_equal(json_integer_value(json_object_get(total, "success")), 16);
    assert_int_equal(json_integer_value(json_object_get(total, "clientErrors")), 4);
    assert_int_equal(json_integer_value(json_object_get(total, "timeouts")), 0);
    assert_float_equal(json_real_value(json_object_get(total, "qps")), 20.0f / 60.0f, 1e-6f);
    double p50 = json_real_value(json_object_get(json_object_get(total, "latencyMs"), "p50"));
    assert_true(p50 > 0.1 && p50 <= 0.2); /* bucket 2: 100..200 us */
    json_t *node = json_array_get(json_object_get(out, "nodes"), 0);
    assert_string_equal(str(node, "node"), "east");
    json_t *svc = json_array_get(json_object_get(node, "services"), 0);
    assert_string_equal(str(svc, "service"), "s");
    json_t *fn = json_array_get(json_object_get(svc, "functions"), 0);
    assert_string_equal(str(fn, "function"), "f");
    assert_int_equal(json_integer_value(json_object_get(fn, "requests")), 20);
    json_t *series = json_object_get(out, "series");
    assert_int_equal(json_array_size(series), 6);
    json_int_t sum = 0;
    for (size_t i = 0; i < 6; i++)
        sum += json_integer_value(json_object_get(json_array_get(series, i), "requests"));
    assert_int_equal(sum, 20);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(series, 5), "requests")),
                     20);
    json_decref(out);
    /* default window 60 */
    assert_int_equal(req(f, "GET", "/v1/namespaces/default/apps/fn/stats", NULL, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "window")), 60);
    json_decref(out);
    /* the app's read permission: a viewer of another namespace may not */
    char viewer[FERRY_TOKEN_LEN + 1];
    make_token(f, "{\"name\":\"ro\",\"role\":\"viewer\",\"namespaces\":[\"a\"]}", viewer);
    f->token = viewer;
    assert_forbidden(f, "GET", "/v1/namespaces/default/apps/fn/stats", NULL, NULL, "read");
    f->token = f->admin;
}

static void test_routing_table(void **state) {
    ferry_api__route rt;
    ferry_api__rule rule;
    char allow[64];
    (void)state;

    assert_true(ferry_api__parse_path("/v1/tokens", &rt));
    assert_int_equal(rt.path, FERRY_API_TOKENS);
    assert_true(ferry_api__parse_path("/v1/tokens/abc", &rt));
    assert_int_equal(rt.path, FERRY_API_TOKEN);
    assert_string_equal(rt.name, "abc");
    assert_false(ferry_api__parse_path("/v1/tokens/", &rt));
    assert_false(ferry_api__parse_path("/v1/tokens/a/b", &rt));
    assert_false(ferry_api__parse_path("/v1/tokensx", &rt));
    assert_true(ferry_api__parse_path("/v1/namespaces/a/apps/web/status", &rt));
    assert_int_equal(rt.path, FERRY_API_SUB);
    assert_string_equal(rt.ns, "a");
    assert_string_equal(rt.name, "web");
    assert_false(ferry_api__parse_path("/v1/namespaces/a/configs/c/status", &rt));
    assert_false(ferry_api__parse_path("/v1/namespaces//apps", &rt));
    assert_true(ferry_api__parse_path("/v1/namespaces/a/nodes/n1/enroll", &rt));
    assert_int_equal(rt.path, FERRY_API_ENROLL_TOKEN);
    assert_string_equal(rt.ns, "a");
    assert_string_equal(rt.name, "n1");
    assert_false(ferry_api__parse_path("/v1/namespaces/a/apps/web/enroll", &rt));
    assert_true(ferry_api__parse_path("/v1/namespaces/a/apps/web/stats", &rt));
    assert_int_equal(rt.path, FERRY_API_APP_STATS);
    assert_string_equal(rt.ns, "a");
    assert_string_equal(rt.name, "web");
    assert_false(ferry_api__parse_path("/v1/namespaces/a/nodes/n1/stats", &rt));
    assert_false(ferry_api__parse_path("/v1/namespaces/a/apps/web/stats/x", &rt));
    assert_true(ferry_api__parse_path("/v1/enroll", &rt));
    assert_int_equal(rt.path, FERRY_API_ENROLL);
    assert_true(ferry_api__parse_path("/v1/broker/debug/alice", &rt));
    assert_int_equal(rt.path, FERRY_API_DEBUG_ITEM);
    assert_string_equal(rt.name, "alice");

    /* Only /healthz is public; what every route needs. */
    static const struct {
        ferry_api__path path;
        const char *method;
        bool is_public;
        ferry_perm perm;
        bool body;
    } want[] = {
        {FERRY_API_HEALTH, "GET", true, FERRY_PERM_READ, false},
        {FERRY_API_TOKENS, "GET", false, FERRY_PERM_ADMIN, false},
        {FERRY_API_TOKENS, "POST", false, FERRY_PERM_ADMIN, true},
        {FERRY_API_TOKEN, "GET", false, FERRY_PERM_ADMIN, false},
        {FERRY_API_TOKEN, "DELETE", false, FERRY_PERM_ADMIN, false},
        {FERRY_API_LIST, "GET", false, FERRY_PERM_READ, false},
        {FERRY_API_LIST, "POST", false, FERRY_PERM_WRITE, true},
        {FERRY_API_ITEM, "GET", false, FERRY_PERM_READ, false},
        {FERRY_API_ITEM, "PUT", false, FERRY_PERM_WRITE, true},
        {FERRY_API_ITEM, "DELETE", false, FERRY_PERM_WRITE, false},
        {FERRY_API_SUB, "GET", false, FERRY_PERM_READ, false},
        {FERRY_API_ENROLL_TOKEN, "POST", false, FERRY_PERM_WRITE, false},
        {FERRY_API_APP_STATS, "GET", false, FERRY_PERM_READ, false},
        {FERRY_API_ENROLL, "POST", true, FERRY_PERM_READ, true},
        {FERRY_API_DEBUG, "POST", false, FERRY_PERM_ADMIN, true},
        {FERRY_API_DEBUG_ITEM, "DELETE", false, FERRY_PERM_ADMIN, false},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_true(
            ferry_api__find_rule(want[i].path, want[i].method, &rule, allow, sizeof(allow)));
        assert_int_equal(rule.is_public, want[i].is_public);
        if (!want[i].is_public)
            assert_int_equal(rule.perm, want[i].perm);
        assert_int_equal(rule.body, want[i].body);
    }
    assert_false(ferry_api__find_rule(FERRY_API_ITEM, "PATCH", &rule, allow, sizeof(allow)));
    assert_string_equal(allow, "GET, PUT, DELETE");
    assert_false(ferry_api__find_rule(FERRY_API_SUB, "POST", &rule, allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_configs_and_selector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging_and_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unauthenticated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enroll_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_stats, setup, teardown),
        cmocka_unit_test(test_routing_table),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = FERRY_RUN_TESTS(tests, argc, argv);
    curl_global_cleanup();
    return rc;
}
