/* Unit tests of edge-sync/pod.c: container names, content hashes and ContainerCreate bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "ferry/common.h"
#include "pod.h"

#define PAUSE "ferry/pause:1"

static const char spec_text[] =
    "{\"name\":\"web\",\"description\":\"\",\"labels\":{},\"replicas\":1,"
    "\"selector\":{\"matchLabels\":{}},\"services\":["
    "{\"name\":\"httpd\",\"image\":\"ferry-test/busybox:1\","
    "\"command\":[\"sh\",\"-c\",\"exec httpd -f -p 8080\"],\"args\":[],"
    "\"env\":[{\"name\":\"GREETING\",\"value\":\"hello\"},{\"name\":\"EMPTY\",\"value\":\"\"}],"
    "\"ports\":[{\"containerPort\":8080,\"hostPort\":18080,\"protocol\":\"TCP\"},"
    "{\"containerPort\":9000,\"hostPort\":0,\"protocol\":\"UDP\"}]},"
    "{\"name\":\"dns\",\"image\":\"127.0.0.1:5000/a/dns:2\",\"command\":[],"
    "\"args\":[\"-p\",\"53\"],\"env\":[],"
    "\"ports\":[{\"containerPort\":53,\"hostPort\":5353,\"protocol\":\"UDP\"}]}]}";

static const ferry_pod_ref ref = {
    .node = "edge-1", .ns = "prod", .app = "web", .version = 42, .replica = 0};

static json_t *load_spec(void) {
    json_t *spec = json_loads(spec_text, 0, NULL);
    assert_non_null(spec);
    return spec;
}

static json_t *service(json_t *spec, size_t i) {
    json_t *s = json_array_get(json_object_get(spec, "services"), i);
    assert_non_null(s);
    return s;
}

static void assert_hex64(const char *h) {
    assert_int_equal(strlen(h), 64);
    for (size_t i = 0; i < 64; i++)
        assert_non_null(strchr("0123456789abcdef", h[i]));
}

static const char *label(const json_t *body, const char *key) {
    return json_string_value(json_object_get(json_object_get(body, "Labels"), key));
}

/* ---- names ----------------------------------------------------------------------------------- */

static void test_names(void **state) {
    (void)state;
    char buf[128];
    assert_int_equal(ferry_pod_infra_name(&ref, buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry.edge-1.prod.web.0");
    assert_int_equal(ferry_pod_service_name(&ref, "httpd", buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry.edge-1.prod.web.0.httpd");

    ferry_pod_ref r3 = ref;
    r3.replica = 3;
    assert_int_equal(ferry_pod_service_name(&r3, "dns", buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry.edge-1.prod.web.3.dns");

    /* exact fit, one byte short */
    size_t need = strlen("ferry.edge-1.prod.web.0") + 1;
    assert_int_equal(ferry_pod_infra_name(&ref, buf, need), FERRY_OK);
    assert_int_equal(ferry_pod_infra_name(&ref, buf, need - 1), FERRY_ETOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(ferry_pod_service_name(&ref, "httpd", buf, 10), FERRY_ETOOBIG);

    /* a service named "infra" cannot clash with the infra container: it has one segment more */
    assert_int_equal(ferry_pod_service_name(&ref, "infra", buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry.edge-1.prod.web.0.infra");
    assert_int_equal(ferry_pod_service_name(&ref, NULL, buf, sizeof(buf)), FERRY_EINVAL);
    assert_int_equal(ferry_pod_infra_name(NULL, buf, sizeof(buf)), FERRY_EINVAL);
    assert_int_equal(ferry_pod_infra_name(&ref, buf, 0), FERRY_EINVAL);
}

/* ---- hashes ---------------------------------------------------------------------------------- */

static void test_hash_deterministic_and_key_order(void **state) {
    (void)state;
    json_t *spec = load_spec();
    char a[65], b[65];
    ferry_pod_infra_hash(spec, PAUSE, a);
    assert_hex64(a);
    ferry_pod_infra_hash(spec, PAUSE, b);
    assert_string_equal(a, b);
    ferry_pod_service_hash(spec, service(spec, 0), a);
    assert_hex64(a);

    /* The same service with its keys in another order hashes the same. */
    json_t *reordered = json_loads(
        "{\"ports\":[{\"protocol\":\"TCP\",\"hostPort\":18080,\"containerPort\":8080},"
        "{\"protocol\":\"UDP\",\"containerPort\":9000,\"hostPort\":0}],"
        "\"env\":[{\"value\":\"hello\",\"name\":\"GREETING\"},{\"value\":\"\",\"name\":\"EMPTY\"}],"
        "\"args\":[],\"command\":[\"sh\",\"-c\",\"exec httpd -f -p 8080\"],"
        "\"image\":\"ferry-test/busybox:1\",\"name\":\"httpd\"}",
        0, NULL);
    assert_non_null(reordered);
    ferry_pod_service_hash(spec, reordered, b);
    assert_string_equal(a, b);
    json_decref(reordered);
    json_decref(spec);
}

static void test_hash_env_change_touches_one_service(void **state) {
    (void)state;
    json_t *spec = load_spec();
    char infra0[65], httpd0[65], dns0[65], infra1[65], httpd1[65], dns1[65];
    ferry_pod_infra_hash(spec, PAUSE, infra0);
    ferry_pod_service_hash(spec, service(spec, 0), httpd0);
    ferry_pod_service_hash(spec, service(spec, 1), dns0);

    json_t *env0 = json_array_get(json_object_get(service(spec, 0), "env"), 0);
    json_object_set_new(env0, "value", json_string("bonjour"));
    ferry_pod_infra_hash(spec, PAUSE, infra1);
    ferry_pod_service_hash(spec, service(spec, 0), httpd1);
    ferry_pod_service_hash(spec, service(spec, 1), dns1);

    assert_string_equal(infra0, infra1);
    assert_string_not_equal(httpd0, httpd1);
    assert_string_equal(dns0, dns1);

    /* image and args too */
    json_object_set_new(service(spec, 1), "image", json_string("127.0.0.1:5000/a/dns:3"));
    ferry_pod_service_hash(spec, service(spec, 1), dns1);
    assert_string_not_equal(dns0, dns1);
    ferry_pod_infra_hash(spec, PAUSE, infra1);
    assert_string_equal(infra0, infra1);
    json_decref(spec);
}

static void test_hash_infra_follows_ports_and_pause(void **state) {
    (void)state;
    json_t *spec = load_spec();
    char base[65], h[65];
    ferry_pod_infra_hash(spec, PAUSE, base);

    ferry_pod_infra_hash(spec, "ferry/pause:2", h);
    assert_string_not_equal(base, h);

    /* a host port moves */
    json_t *port = json_array_get(json_object_get(service(spec, 0), "ports"), 0);
    json_object_set_new(port, "hostPort", json_integer(18081));
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_not_equal(base, h);
    json_object_set_new(port, "hostPort", json_integer(18080));
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_equal(base, h);

    /* a protocol changes */
    json_object_set_new(port, "protocol", json_string("UDP"));
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_not_equal(base, h);
    json_object_set_new(port, "protocol", json_string("TCP"));

    /* another service's port list grows */
    json_array_append_new(
        json_object_get(service(spec, 1), "ports"),
        json_pack("{s:i,s:i,s:s}", "containerPort", 54, "hostPort", 0, "protocol", "TCP"));
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_not_equal(base, h);
    json_array_remove(json_object_get(service(spec, 1), "ports"), 1);
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_equal(base, h);

    /* a new service without ports does not touch the infra container */
    json_array_append_new(json_object_get(spec, "services"),
                          json_pack("{s:s,s:s,s:[],s:[],s:[],s:[]}", "name", "worker", "image",
                                    "w:1", "command", "args", "env", "ports"));
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_equal(base, h);
    json_decref(spec);
}

/* ---- bodies ---------------------------------------------------------------------------------- */

static void assert_pod_labels(const json_t *body, const char *role) {
    assert_string_equal(label(body, FERRY_LBL_MANAGED), "1");
    assert_string_equal(label(body, FERRY_LBL_NODE), "edge-1");
    assert_string_equal(label(body, FERRY_LBL_NS), "prod");
    assert_string_equal(label(body, FERRY_LBL_APP), "web");
    assert_string_equal(label(body, FERRY_LBL_VERSION), "42");
    assert_string_equal(label(body, FERRY_LBL_REPLICA), "0");
    assert_string_equal(label(body, FERRY_LBL_ROLE), role);
}

static void test_infra_body(void **state) {
    (void)state;
    json_t *spec = load_spec();
    json_t *body = ferry_pod_infra_body(&ref, spec, PAUSE);
    char hash[65];
    assert_non_null(body);

    assert_string_equal(json_string_value(json_object_get(body, "Image")), PAUSE);
    json_t *cmd = json_object_get(body, "Cmd");
    assert_int_equal(json_array_size(cmd), 1);
    assert_string_equal(json_string_value(json_array_get(cmd, 0)), "/pause");
    assert_string_equal(json_string_value(json_object_get(body, "Hostname")), "web");
    assert_pod_labels(body, "infra");
    assert_null(label(body, FERRY_LBL_SERVICE));
    ferry_pod_infra_hash(spec, PAUSE, hash);
    assert_string_equal(label(body, FERRY_LBL_HASH), hash);

    json_t *exposed = json_object_get(body, "ExposedPorts");
    assert_int_equal(json_object_size(exposed), 3);
    assert_non_null(json_object_get(exposed, "8080/tcp"));
    assert_non_null(json_object_get(exposed, "9000/udp"));
    assert_non_null(json_object_get(exposed, "53/udp"));

    json_t *host = json_object_get(body, "HostConfig");
    json_t *pb = json_object_get(host, "PortBindings");
    assert_int_equal(json_object_size(pb), 2); /* 9000/udp has no host port */
    json_t *expect = json_loads("{\"8080/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"18080\"}],"
                                "\"53/udp\":[{\"HostIp\":\"\",\"HostPort\":\"5353\"}]}",
                                0, NULL);
    assert_true(json_equal(pb, expect));
    json_decref(expect);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(host, "RestartPolicy"), "Name")),
        "unless-stopped");
    assert_null(json_object_get(host, "NetworkMode"));
    json_decref(body);

    /* no services with ports: nothing exposed, nothing bound */
    json_t *bare = json_pack("{s:s,s:[]}", "name", "web", "services");
    body = ferry_pod_infra_body(&ref, bare, PAUSE);
    assert_non_null(body);
    assert_int_equal(json_object_size(json_object_get(body, "ExposedPorts")), 0);
    assert_int_equal(
        json_object_size(json_object_get(json_object_get(body, "HostConfig"), "PortBindings")), 0);
    json_decref(body);
    json_decref(bare);

    assert_null(ferry_pod_infra_body(&ref, spec, NULL));
    json_decref(spec);
}

static void test_service_body(void **state) {
    (void)state;
    json_t *spec = load_spec();
    char hash[65];

    /* command given, args empty: Entrypoint only */
    json_t *body = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123");
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "Image")), "ferry-test/busybox:1");
    assert_true(json_equal(json_object_get(body, "Entrypoint"),
                           json_object_get(service(spec, 0), "command")));
    assert_null(json_object_get(body, "Cmd"));
    json_t *env = json_object_get(body, "Env");
    assert_int_equal(json_array_size(env), 2);
    assert_string_equal(json_string_value(json_array_get(env, 0)), "GREETING=hello");
    assert_string_equal(json_string_value(json_array_get(env, 1)), "EMPTY=");
    assert_pod_labels(body, "service");
    assert_string_equal(label(body, FERRY_LBL_SERVICE), "httpd");
    ferry_pod_service_hash(spec, service(spec, 0), hash);
    assert_string_equal(label(body, FERRY_LBL_HASH), hash);
    json_t *host = json_object_get(body, "HostConfig");
    assert_string_equal(json_string_value(json_object_get(host, "NetworkMode")),
                        "container:abc123");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(host, "RestartPolicy"), "Name")),
        "unless-stopped");
    /* ports belong to the infra container */
    assert_null(json_object_get(body, "ExposedPorts"));
    assert_null(json_object_get(host, "PortBindings"));
    assert_null(json_object_get(body, "Hostname"));
    json_decref(body);

    /* args given, command empty: Cmd only, the image's entrypoint stays */
    body = ferry_pod_service_body(&ref, spec, service(spec, 1), "abc123");
    assert_non_null(body);
    assert_null(json_object_get(body, "Entrypoint"));
    json_t *want_cmd = json_pack("[s,s]", "-p", "53");
    assert_true(json_equal(json_object_get(body, "Cmd"), want_cmd));
    json_decref(want_cmd);
    assert_int_equal(json_array_size(json_object_get(body, "Env")), 0);
    assert_string_equal(label(body, FERRY_LBL_SERVICE), "dns");
    json_decref(body);

    assert_null(ferry_pod_service_body(&ref, spec, service(spec, 0), NULL));
    json_t *noimage = json_pack("{s:s}", "name", "x");
    assert_null(ferry_pod_service_body(&ref, spec, noimage, "abc"));
    json_decref(noimage);
    json_decref(spec);
}

/* Every allocation failure gives NULL or the full body, and no leak (ASan checks). */
static void test_bodies_under_failing_allocator(void **state) {
    (void)state;
    json_t *spec = load_spec();
    json_t *want_infra = ferry_pod_infra_body(&ref, spec, PAUSE);
    json_t *want_svc = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123");
    assert_non_null(want_infra);
    assert_non_null(want_svc);

    ferry_alloc_install_json();
    int nulls = 0;
    for (long n = 1; n < 400; n++) {
        ferry_alloc_fail_after(n);
        json_t *infra = ferry_pod_infra_body(&ref, spec, PAUSE);
        ferry_alloc_fail_after(0);
        if (infra)
            assert_true(json_equal(infra, want_infra));
        else
            nulls++;
        json_decref(infra);

        ferry_alloc_fail_after(n);
        json_t *svc = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123");
        ferry_alloc_fail_after(0);
        if (svc)
            assert_true(json_equal(svc, want_svc));
        else
            nulls++;
        json_decref(svc);
    }
    assert_true(nulls > 10); /* the hook did reach the builders */
    json_decref(want_infra);
    json_decref(want_svc);
    json_decref(spec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_hash_deterministic_and_key_order),
        cmocka_unit_test(test_hash_env_change_touches_one_service),
        cmocka_unit_test(test_hash_infra_follows_ports_and_pause),
        cmocka_unit_test(test_infra_body),
        cmocka_unit_test(test_service_body),
        cmocka_unit_test(test_bodies_under_failing_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
