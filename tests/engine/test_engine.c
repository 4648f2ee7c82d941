/* Integration test of edge-sync/engine.c and pod.c against a real engine (Docker or Podman).
 * Usage: test_engine ENV_VAR PAUSE_BINARY, where the environment variable ENV_VAR holds the
 * engine's socket path; exits 77 (skipped) when it is unset. Optional: FERRY_TEST_REGISTRY
 * (host:port of a registry holding ferry-test/busybox:1 behind basic auth) with
 * FERRY_TEST_REGISTRY_USER and FERRY_TEST_REGISTRY_PASS for the authenticated pull test.
 *
 * Every container carries the label io.ferry.test=<run id> and lives in a namespace unique to the
 * run, so runs in parallel (and on both engines at once) do not meet; the group teardown removes
 * whatever carries the label, whatever failed before. Needs the image ferry-test/busybox:1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "ferry/common.h"
#include "pod.h"

#define TEST_LABEL "io.ferry.test"
#define TEST_IMAGE "ferry-test/busybox:1"
#define DEADLINE_MS 60000

static struct {
    ferry_engine *e;
    const char *socket_path;
    const char *pause_binary;
    char run_id[64];
    char ns[32];
    char pause_ref[96];
} fx;

/* The containers of this run (label TEST_LABEL=run_id). */
static ferry_err list_run(ferry_container **c, size_t *n) {
    char filter[128];
    const char *filters[] = {filter, NULL};
    snprintf(filter, sizeof(filter), "%s=%s", TEST_LABEL, fx.run_id);
    return ferry_engine_list(fx.e, filters, c, n);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP port nobody listens on right now (the kernel's pick). */
static int free_port(void) {
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

typedef struct {
    char data[4096];
    size_t len;
} small_buf;

static size_t small_write(char *p, size_t size, size_t nmemb, void *ud) {
    small_buf *b = ud;
    size_t n = size * nmemb;
    size_t room = sizeof(b->data) - 1 - b->len;
    size_t take = n < room ? n : room;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    b->data[b->len] = '\0';
    return n;
}

/* One HTTP request with curl: to url, over the engine's socket when unix is set. Returns the
 * HTTP status (0 when the exchange failed; then curl_err says why). */
static long raw_http(const char *method, const char *url, bool unix_sock, small_buf *body,
                     char curl_err[CURL_ERROR_SIZE]) {
    long status = 0;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    body->len = 0;
    body->data[0] = '\0';
    curl_err[0] = '\0';
    if (unix_sock)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, fx.socket_path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, small_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

/* The engine's URL of image ref, followed by suffix. */
static void image_url(char *url, size_t len, const char *ref, const char *suffix) {
    CURL *c = curl_easy_init();
    char *x = curl_easy_escape(c, ref, 0);
    assert_non_null(x);
    snprintf(url, len, "http://localhost/v1.41/images/%s%s", x, suffix);
    curl_free(x);
    curl_easy_cleanup(c);
}

/* Images are outside engine.h: the test removes what it imported or pulled itself. */
static void remove_image(const char *ref) {
    char url[512], err[CURL_ERROR_SIZE];
    small_buf b;
    image_url(url, sizeof(url), ref, "?force=1");
    long status = raw_http("DELETE", url, true, &b, err);
    if (status != 200 && status != 404)
        print_message("removing image %s: HTTP %ld %s %s\n", ref, status, b.data, err);
}

static void print_container(const char *id) {
    json_t *info = NULL;
    char *logs = NULL;
    if (ferry_engine_inspect(fx.e, id, &info) == FERRY_OK) {
        char *state = json_dumps(json_object_get(info, "State"), JSON_COMPACT);
        print_message("container %s state: %s\n", id, state != NULL ? state : "?");
        free(state);
    }
    if (ferry_engine_logs_tail(fx.e, id, 20, &logs) == FERRY_OK)
        print_message("container %s logs:\n%s\n", id, logs);
    json_decref(info);
    ferry_free(logs);
}

/* Remove every container of this run: services first (Podman refuses to remove a container
 * that others join), then the rest. */
static void remove_run_containers(void) {
    for (int pass = 0; pass < 2; pass++) {
        ferry_container *c = NULL;
        size_t n = 0;
        if (list_run(&c, &n) != FERRY_OK)
            return;
        for (size_t i = 0; i < n; i++) {
            const char *role = json_string_value(json_object_get(c[i].labels, FERRY_LBL_ROLE));
            bool infra = role != NULL && strcmp(role, "infra") == 0;
            if (pass == 1 || !infra)
                ferry_engine_remove(fx.e, c[i].id);
        }
        ferry_containers_free(c, n);
    }
}

static void tag_body(json_t *body) {
    assert_non_null(body);
    assert_int_equal(
        json_object_set_new(json_object_get(body, "Labels"), TEST_LABEL, json_string(fx.run_id)),
        0);
}

static json_t *web_spec(const char *greeting, int host_port) {
    json_t *spec = json_pack(
        "{s:s, s:[{s:s, s:s, s:[s,s,s], s:[], s:[{s:s, s:s}], s:[{s:i, s:i, s:s}]}]}", "name",
        "web", "services", "name", "web", "image", TEST_IMAGE, "command", "sh", "-c",
        "mkdir -p /www && echo \"$GREETING\" > /www/index.html && echo started-web && "
        "echo to-stderr >&2 && exec httpd -f -p 8080 -h /www",
        "args", "env", "name", "GREETING", "value", greeting, "ports", "containerPort", 8080,
        "hostPort", host_port, "protocol", "TCP");
    assert_non_null(spec);
    return spec;
}

/* Create the infra container of ref (tagged) and return its id; err holds the engine's word. */
static ferry_err create_infra(const ferry_pod_ref *ref, const json_t *spec, char **id, char *err,
                              size_t errlen) {
    char name[256];
    assert_int_equal(ferry_pod_infra_name(ref, name, sizeof(name)), FERRY_OK);
    json_t *body = ferry_pod_infra_body(ref, spec, fx.pause_ref);
    tag_body(body);
    ferry_err rc = ferry_engine_create(fx.e, name, body, id, err, errlen);
    json_decref(body);
    return rc;
}

static ferry_err create_service(const ferry_pod_ref *ref, const json_t *spec, const json_t *svc,
                                const char *infra_id, char **id, char *err, size_t errlen) {
    char name[256];
    assert_int_equal(ferry_pod_service_name(ref, json_string_value(json_object_get(svc, "name")),
                                            name, sizeof(name)),
                     FERRY_OK);
    json_t *body = ferry_pod_service_body(ref, spec, svc, infra_id, NULL);
    tag_body(body);
    ferry_err rc = ferry_engine_create(fx.e, name, body, id, err, errlen);
    json_decref(body);
    return rc;
}

/* Poll http://127.0.0.1:port/ until it answers 200 with want in the body. */
static void wait_http(int port, const char *want, const char *svc_id) {
    char url[64], err[CURL_ERROR_SIZE];
    small_buf b;
    long status = 0;
    int64_t deadline = ferry_mono_ms() + DEADLINE_MS;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    for (;;) {
        status = raw_http("GET", url, false, &b, err);
        if (status == 200 && strstr(b.data, want) != NULL)
            return;
        if (ferry_mono_ms() > deadline)
            break;
        pause_ms(50);
    }
    print_message("GET %s: no \"%s\" within %d ms; last: HTTP %ld, body \"%s\", error \"%s\"\n",
                  url, want, DEADLINE_MS, status, b.data, err);
    print_container(svc_id);
    fail();
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_describe(void **state) {
    (void)state;
    const char *d = ferry_engine_describe(fx.e);
    print_message("engine: %s\n", d);
    assert_true(strncmp(d, ferry_engine_is_podman(fx.e) ? "podman " : "docker ", 7) == 0);
}

static void test_pause_image(void **state) {
    (void)state;
    bool present = true;
    assert_int_equal(ferry_engine_image_present(fx.e, fx.pause_ref, &present), FERRY_OK);
    assert_false(present);
    assert_int_equal(ferry_engine_ensure_pause_image(fx.e, fx.pause_binary, fx.pause_ref),
                     FERRY_OK);
    assert_int_equal(ferry_engine_image_present(fx.e, fx.pause_ref, &present), FERRY_OK);
    assert_true(present);
    /* present: nothing to do */
    assert_int_equal(ferry_engine_ensure_pause_image(fx.e, "/nonexistent/pause", fx.pause_ref),
                     FERRY_OK);
    /* the app's short name resolves on both engines (Podman stores localhost/...) */
    assert_int_equal(ferry_engine_image_present(fx.e, TEST_IMAGE, &present), FERRY_OK);
    if (!present)
        print_message("the test image %s is missing: build it first\n", TEST_IMAGE);
    assert_true(present);
}

static void test_pod_lifecycle(void **state) {
    (void)state;
    char err[512], greeting[96], port_str[16];
    char *infra = NULL, *svc = NULL, *clash = NULL, *dup = NULL, *logs = NULL;
    json_t *info = NULL;
    ferry_container *c = NULL;
    size_t n = 0;
    int port = free_port();
    snprintf(port_str, sizeof(port_str), "%d", port);
    snprintf(greeting, sizeof(greeting), "hello-%s", fx.run_id);
    json_t *spec = web_spec(greeting, port);
    json_t *web = json_array_get(json_object_get(spec, "services"), 0);
    ferry_pod_ref ref = {.node = "test-node", .ns = fx.ns, .app = "web", .version = 1};

    /* build and start the pod */
    assert_int_equal(create_infra(&ref, spec, &infra, err, sizeof(err)), FERRY_OK);
    assert_int_equal(ferry_engine_start(fx.e, infra, err, sizeof(err)), FERRY_OK);
    assert_int_equal(ferry_engine_start(fx.e, infra, err, sizeof(err)), FERRY_OK); /* again */
    ferry_err rc = create_service(&ref, spec, web, infra, &svc, err, sizeof(err));
    if (rc != FERRY_OK)
        print_message("create service: %s: %s\n", ferry_strerror(rc), err);
    assert_int_equal(rc, FERRY_OK);
    rc = ferry_engine_start(fx.e, svc, err, sizeof(err));
    if (rc != FERRY_OK)
        print_message("start service: %s: %s\n", ferry_strerror(rc), err);
    assert_int_equal(rc, FERRY_OK);
    wait_http(port, greeting, svc);

    /* list by label: exactly the two */
    assert_int_equal(list_run(&c, &n), FERRY_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        const char *role = json_string_value(json_object_get(c[i].labels, FERRY_LBL_ROLE));
        assert_non_null(role);
        assert_string_equal(c[i].state, "running");
        assert_string_equal(json_string_value(json_object_get(c[i].labels, FERRY_LBL_NS)), fx.ns);
        if (strcmp(role, "infra") == 0) {
            assert_string_equal(c[i].id, infra);
            assert_string_equal(c[i].image, fx.pause_ref);
        } else {
            assert_string_equal(role, "service");
            assert_string_equal(c[i].id, svc);
            assert_string_equal(c[i].image, TEST_IMAGE); /* also on Podman */
            assert_string_equal(json_string_value(json_object_get(c[i].labels, FERRY_LBL_SERVICE)),
                                "web");
            assert_non_null(strstr(c[i].name, ".web.0.web"));
        }
    }
    ferry_containers_free(c, n);
    c = NULL;

    /* inspect: state and restart count */
    assert_int_equal(ferry_engine_inspect(fx.e, svc, &info), FERRY_OK);
    json_t *st = json_object_get(info, "State");
    assert_string_equal(json_string_value(json_object_get(st, "Status")), "running");
    assert_true(json_is_true(json_object_get(st, "Running")));
    assert_true(json_is_integer(json_object_get(info, "RestartCount")));
    assert_int_equal(json_integer_value(json_object_get(info, "RestartCount")), 0);
    json_decref(info);
    info = NULL;

    /* logs: stdout and stderr, demultiplexed; tail counts lines */
    assert_int_equal(ferry_engine_logs_tail(fx.e, svc, 10, &logs), FERRY_OK);
    assert_non_null(strstr(logs, "started-web\n"));
    assert_non_null(strstr(logs, "to-stderr\n"));
    assert_null(strchr(logs, '\x01')); /* no frame header left */
    assert_int_equal(count_lines(logs), 2);
    ferry_free(logs);
    assert_int_equal(ferry_engine_logs_tail(fx.e, svc, 1, &logs), FERRY_OK);
    assert_int_equal(count_lines(logs), 1);
    ferry_free(logs);
    logs = NULL;

    /* the same name again: EEXIST with the engine's word */
    assert_int_equal(create_infra(&ref, spec, &dup, err, sizeof(err)), FERRY_EEXIST);
    assert_null(dup);
    assert_true(err[0] != '\0');
    print_message("name clash: %s\n", err);

    /* a second pod on the same host port: created, but it cannot start */
    ferry_pod_ref other = ref;
    other.app = "clash";
    assert_int_equal(create_infra(&other, spec, &clash, err, sizeof(err)), FERRY_OK);
    rc = ferry_engine_start(fx.e, clash, err, sizeof(err));
    print_message("port clash: %s: %s\n", ferry_strerror(rc), err);
    assert_int_not_equal(rc, FERRY_OK);
    assert_non_null(strstr(err, port_str));
    assert_int_equal(ferry_engine_remove(fx.e, clash), FERRY_OK);

    /* stop: twice is fine, and the state shows it */
    assert_int_equal(ferry_engine_stop(fx.e, svc, 1), FERRY_OK);
    assert_int_equal(ferry_engine_stop(fx.e, svc, 1), FERRY_OK);
    assert_int_equal(ferry_engine_inspect(fx.e, svc, &info), FERRY_OK);
    assert_false(json_is_true(json_object_get(json_object_get(info, "State"), "Running")));
    json_decref(info);
    info = NULL;

    /* remove: Podman keeps an infra container that others join; Docker lets it go */
    rc = ferry_engine_remove(fx.e, infra);
    assert_int_equal(rc, ferry_engine_is_podman(fx.e) ? FERRY_ECONFLICT : FERRY_OK);
    assert_int_equal(ferry_engine_remove(fx.e, svc), FERRY_OK);
    assert_int_equal(ferry_engine_remove(fx.e, infra), FERRY_OK);
    assert_int_equal(ferry_engine_remove(fx.e, infra), FERRY_OK); /* gone is fine */
    assert_int_equal(ferry_engine_stop(fx.e, infra, 1), FERRY_OK);
    assert_int_equal(ferry_engine_inspect(fx.e, infra, &info), FERRY_ENOTFOUND);
    assert_int_equal(ferry_engine_start(fx.e, infra, err, sizeof(err)), FERRY_ENOTFOUND);
    assert_int_equal(list_run(&c, &n), FERRY_OK);
    assert_int_equal(n, 0);
    ferry_containers_free(c, n);

    ferry_free(infra);
    ferry_free(svc);
    ferry_free(clash);
    json_decref(spec);
}

static void test_missing_image(void **state) {
    (void)state;
    char image[128], err[512];
    char *infra = NULL, *svc = NULL;
    bool present = true;
    snprintf(image, sizeof(image), "ferry-test/missing-%s:1", fx.run_id);
    json_t *spec = web_spec("x", 0);
    json_t *web = json_array_get(json_object_get(spec, "services"), 0);
    json_object_set_new(web, "image", json_string(image));
    ferry_pod_ref ref = {.node = "test-node", .ns = fx.ns, .app = "missing", .version = 1};

    assert_int_equal(ferry_engine_image_present(fx.e, image, &present), FERRY_OK);
    assert_false(present);

    assert_int_equal(create_infra(&ref, spec, &infra, err, sizeof(err)), FERRY_OK);
    ferry_err rc = create_service(&ref, spec, web, infra, &svc, err, sizeof(err));
    print_message("create with a missing image: %s: %s\n", ferry_strerror(rc), err);
    assert_int_equal(rc, FERRY_ENOTFOUND);
    assert_null(svc);
    assert_non_null(strcasestr(err, "no such image"));

    /* no registry answers for it here: the pull fails with the engine's explanation */
    rc = ferry_engine_pull(fx.e, image, NULL, err, sizeof(err));
    print_message("pull of a missing image: %s: %s\n", ferry_strerror(rc), err);
    assert_true(rc == FERRY_ENOTFOUND || rc == FERRY_EENGINE);
    assert_true(strlen(err) > 10);

    assert_int_equal(ferry_engine_remove(fx.e, infra), FERRY_OK);
    ferry_free(infra);
    json_decref(spec);
}

/* Optional: a private registry with basic auth (see the top of the file). */
static void test_registry_pull(void **state) {
    (void)state;
    const char *reg = getenv("FERRY_TEST_REGISTRY");
    const char *user = getenv("FERRY_TEST_REGISTRY_USER");
    const char *pass = getenv("FERRY_TEST_REGISTRY_PASS");
    char image[256], err[512];
    bool present = false;
    if (reg == NULL || !reg[0] || user == NULL || pass == NULL) {
        print_message("FERRY_TEST_REGISTRY(_USER/_PASS) unset: no registry test\n");
        skip();
    }
    snprintf(image, sizeof(image), "%s/%s", reg, TEST_IMAGE);
    remove_image(image);

    ferry_err rc = ferry_engine_pull(fx.e, image, NULL, err, sizeof(err));
    print_message("pull without credentials: %s: %s\n", ferry_strerror(rc), err);
    assert_int_not_equal(rc, FERRY_OK);
    assert_true(err[0] != '\0');

    json_t *auth =
        json_pack("{s:s, s:s, s:s}", "username", user, "password", pass, "serveraddress", reg);
    rc = ferry_engine_pull(fx.e, image, auth, err, sizeof(err));
    if (rc != FERRY_OK)
        print_message("pull with credentials: %s: %s\n", ferry_strerror(rc), err);
    assert_int_equal(rc, FERRY_OK);
    assert_int_equal(ferry_engine_image_present(fx.e, image, &present), FERRY_OK);
    assert_true(present);

    /* again by digest ("REGISTRY/ferry-test/busybox@sha256:..", from the image's RepoDigests) */
    char url[512], cerr[CURL_ERROR_SIZE], digest_ref[256] = "";
    small_buf b;
    image_url(url, sizeof(url), image, "/json");
    assert_int_equal(raw_http("GET", url, true, &b, cerr), 200);
    json_t *info = json_loads(b.data, 0, NULL);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(info, "RepoDigests"), i, d) {
        if (strncmp(json_string_value(d), reg, strlen(reg)) == 0)
            snprintf(digest_ref, sizeof(digest_ref), "%s", json_string_value(d));
    }
    json_decref(info);
    print_message("digest reference: %s\n", digest_ref);
    assert_non_null(strstr(digest_ref, "@sha256:"));
    remove_image(image);
    rc = ferry_engine_pull(fx.e, digest_ref, auth, err, sizeof(err));
    if (rc != FERRY_OK)
        print_message("pull by digest: %s: %s\n", ferry_strerror(rc), err);
    assert_int_equal(rc, FERRY_OK);
    assert_int_equal(ferry_engine_image_present(fx.e, digest_ref, &present), FERRY_OK);
    assert_true(present);
    remove_image(digest_ref);
    json_decref(auth);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int group_setup(void **state) {
    (void)state;
    ferry_err rc = ferry_engine_open(fx.socket_path, &fx.e);
    if (rc != FERRY_OK) {
        print_message("cannot open the engine at %s: %s\n", fx.socket_path, ferry_strerror(rc));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    remove_run_containers();
    remove_image(fx.pause_ref);
    ferry_engine_close(fx.e);
    return 0;
}

int main(int argc, char **argv) {
    ferry_log_init(argv[0]);
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET_ENV_VAR PAUSE_BINARY\n", argv[0]);
        return 2;
    }
    fx.socket_path = getenv(argv[1]);
    fx.pause_binary = argv[2];
    if (fx.socket_path == NULL || !fx.socket_path[0]) {
        fprintf(stderr, "%s is unset: skipping the engine test\n", argv[1]);
        return 77;
    }
    /* Unique per run: pid and time, so parallel and repeated runs never share a name. */
    unsigned long long t = (unsigned long long)ferry_now_ms();
    snprintf(fx.run_id, sizeof(fx.run_id), "%ld-%llu", (long)getpid(), t);
    snprintf(fx.ns, sizeof(fx.ns), "t%lx%llx", (long)getpid(), t % 0xffffff);
    snprintf(fx.pause_ref, sizeof(fx.pause_ref), "ferry-test/pause:%s", fx.run_id);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe),      cmocka_unit_test(test_pause_image),
        cmocka_unit_test(test_pod_lifecycle), cmocka_unit_test(test_missing_image),
        cmocka_unit_test(test_registry_pull),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
