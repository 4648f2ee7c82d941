/* Unit tests of edge-sync/pod.c: container names, content hashes and ContainerCreate bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "engine.h"
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
    ferry_pod_service_hash(spec, service(spec, 0), NULL, a);
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
    ferry_pod_service_hash(spec, reordered, NULL, b);
    assert_string_equal(a, b);
    json_decref(reordered);
    json_decref(spec);
}

static void test_hash_env_change_touches_one_service(void **state) {
    (void)state;
    json_t *spec = load_spec();
    char infra0[65], httpd0[65], dns0[65], infra1[65], httpd1[65], dns1[65];
    ferry_pod_infra_hash(spec, PAUSE, infra0);
    ferry_pod_service_hash(spec, service(spec, 0), NULL, httpd0);
    ferry_pod_service_hash(spec, service(spec, 1), NULL, dns0);

    json_t *env0 = json_array_get(json_object_get(service(spec, 0), "env"), 0);
    json_object_set_new(env0, "value", json_string("bonjour"));
    ferry_pod_infra_hash(spec, PAUSE, infra1);
    ferry_pod_service_hash(spec, service(spec, 0), NULL, httpd1);
    ferry_pod_service_hash(spec, service(spec, 1), NULL, dns1);

    assert_string_equal(infra0, infra1);
    assert_string_not_equal(httpd0, httpd1);
    assert_string_equal(dns0, dns1);

    /* image and args too */
    json_object_set_new(service(spec, 1), "image", json_string("127.0.0.1:5000/a/dns:3"));
    ferry_pod_service_hash(spec, service(spec, 1), NULL, dns1);
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
    json_t *body = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123", NULL);
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
    ferry_pod_service_hash(spec, service(spec, 0), NULL, hash);
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
    body = ferry_pod_service_body(&ref, spec, service(spec, 1), "abc123", NULL);
    assert_non_null(body);
    assert_null(json_object_get(body, "Entrypoint"));
    json_t *want_cmd = json_pack("[s,s]", "-p", "53");
    assert_true(json_equal(json_object_get(body, "Cmd"), want_cmd));
    json_decref(want_cmd);
    assert_int_equal(json_array_size(json_object_get(body, "Env")), 0);
    assert_string_equal(label(body, FERRY_LBL_SERVICE), "dns");
    json_decref(body);

    /* A stop timeout of its own (a function runtime's): StopTimeout and the label edge-sync
     * stops it by; none without. */
    assert_null(label(body = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc", NULL),
                      FERRY_ENGINE_LBL_STOP_TIMEOUT));
    assert_null(json_object_get(body, "StopTimeout"));
    json_decref(body);
    json_object_set_new(service(spec, 0), "stopTimeout", json_integer(35));
    body = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc", NULL);
    assert_string_equal(label(body, FERRY_ENGINE_LBL_STOP_TIMEOUT), "35");
    assert_int_equal(json_integer_value(json_object_get(body, "StopTimeout")), 35);
    json_decref(body);
    json_object_del(service(spec, 0), "stopTimeout");

    assert_null(ferry_pod_service_body(&ref, spec, service(spec, 0), NULL, NULL));
    json_t *noimage = json_pack("{s:s}", "name", "x");
    assert_null(ferry_pod_service_body(&ref, spec, noimage, "abc", NULL));
    json_decref(noimage);
    json_decref(spec);
}

/* Every allocation failure gives NULL or the full body, and no leak (ASan checks). */
static void test_bodies_under_failing_allocator(void **state) {
    (void)state;
    json_t *spec = load_spec();
    json_t *want_infra = ferry_pod_infra_body(&ref, spec, PAUSE);
    json_t *want_svc = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123", NULL);
    assert_non_null(want_infra);
    assert_non_null(want_svc);

    ferry_alloc_install_json();
    int nulls = 0;
    for (long n = 1; n < 400; n++) {
        ferry_alloc_fail_after(n);
        json_t *infra = ferry_pod_infra_body(&ref, spec, PAUSE);
        ferry_alloc_fail_after(0);
        if (infra != NULL)
            assert_true(json_equal(infra, want_infra));
        else
            nulls++;
        json_decref(infra);

        ferry_alloc_fail_after(n);
        json_t *svc = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123", NULL);
        ferry_alloc_fail_after(0);
        if (svc != NULL)
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

/* ---- the new app shape (docs/apps-complete.md) ----------------------------------------------- */

/* An app with volumes, configs the bridge resolved, an init container, limits and a GPU share. */
static const char full_text[] =
    "{\"name\":\"web\",\"replicas\":1,\"services\":["
    "{\"name\":\"httpd\",\"image\":\"h:1\",\"command\":[],\"args\":[],"
    "\"env\":[{\"name\":\"CUDA_DEVICE_SM_LIMIT\",\"value\":\"100\"},{\"name\":\"A\",\"value\":"
    "\"1\"}],"
    "\"ports\":[{\"containerPort\":8080,\"hostPort\":18080,\"protocol\":\"TCP\"}],"
    "\"volumeMounts\":[{\"name\":\"cfg\",\"mountPath\":\"/etc/app/app.conf\",\"readOnly\":true,"
    "\"subPath\":\"app.conf\"}],"
    "\"resources\":{\"limits\":{\"cpu\":\"0.5\",\"memory\":\"64Mi\",\"gpuMemory\":4,"
    "\"gpuCompute\":50}},\"privileged\":true},"
    "{\"name\":\"worker\",\"image\":\"w:1\",\"command\":[],\"args\":[],\"env\":[],\"ports\":[],"
    "\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"},"
    "{\"name\":\"scratch\",\"mountPath\":\"/tmp\"}]}],"
    "\"initServices\":[{\"name\":\"migrate\",\"image\":\"m:1\",\"command\":[\"sh\",\"-c\",\"true\"]"
    ","
    "\"args\":[],\"env\":[],\"volumeMounts\":[{\"name\":\"creds\",\"mountPath\":\"/run/creds\"}],"
    "\"resources\":{\"limits\":{\"cpu\":\"250m\",\"memory\":\"1Gi\"}}}],"
    "\"volumes\":[{\"name\":\"cfg\",\"config\":{\"name\":\"app-config\"}},"
    "{\"name\":\"data\",\"hostPath\":{\"path\":\"/var/lib/app\"}},"
    "{\"name\":\"creds\",\"secret\":{\"name\":\"app-secret\"}},"
    "{\"name\":\"scratch\",\"emptyDir\":{}}],"
    "\"resolved\":{\"configs\":{"
    "\"app-config\":{\"kind\":\"config\",\"version\":12,"
    "\"files\":{\"app.conf\":{\"data\":\"aGVsbG8=\",\"mode\":420}}},"
    "\"app-secret\":{\"kind\":\"secret\",\"version\":3,"
    "\"files\":{\"password\":{\"data\":\"czNjcmV0\",\"mode\":384}}}},\"registries\":[]}}";

static json_t *load_full(void) {
    json_t *spec = json_loads(full_text, 0, NULL);
    assert_non_null(spec);
    return spec;
}

static json_t *init_service(json_t *spec) {
    json_t *s = json_array_get(json_object_get(spec, "initServices"), 0);
    assert_non_null(s);
    return s;
}

static json_t *host_config(const json_t *body) {
    json_t *host = json_object_get(body, "HostConfig");
    assert_non_null(host);
    return host;
}

/* "Name" and "MaximumRetryCount" of the body's restart policy. */
static const char *restart_name(const json_t *body, json_int_t *retries) {
    json_t *rp = json_object_get(host_config(body), "RestartPolicy");
    if (retries != NULL)
        *retries = json_integer_value(json_object_get(rp, "MaximumRetryCount"));
    return json_string_value(json_object_get(rp, "Name"));
}

/* The hashes of every container of the full spec's pod, to see which ones a change touches. */
typedef struct {
    char infra[65], httpd[65], worker[65], migrate[65];
} pod_hashes;

static const char *const full_binds_httpd[] = {
    "/d/volumes/prod/web/cfg/app.conf:/etc/app/app.conf:ro"};

static void full_hashes(const json_t *spec, pod_hashes *h) {
    json_t *svcs = json_object_get(spec, "services");
    ferry_pod_infra_hash(spec, PAUSE, h->infra);
    ferry_pod_service_hash(spec, json_array_get(svcs, 0), NULL, h->httpd);
    ferry_pod_service_hash(spec, json_array_get(svcs, 1), NULL, h->worker);
    ferry_pod_init_hash(spec, json_array_get(json_object_get(spec, "initServices"), 0), NULL,
                        h->migrate);
    assert_hex64(h->infra);
    assert_hex64(h->httpd);
    assert_hex64(h->worker);
    assert_hex64(h->migrate);
}

/* Which of the pod's containers changed hash: "i" infra, "h" httpd, "w" worker, "m" migrate. */
static const char *changed(const pod_hashes *a, const pod_hashes *b) {
    static char out[5];
    size_t n = 0;
    if (strcmp(a->infra, b->infra) != 0)
        out[n++] = 'i';
    if (strcmp(a->httpd, b->httpd) != 0)
        out[n++] = 'h';
    if (strcmp(a->worker, b->worker) != 0)
        out[n++] = 'w';
    if (strcmp(a->migrate, b->migrate) != 0)
        out[n++] = 'm';
    out[n] = '\0';
    return out;
}

/* The hashes of a plain deployment are the ones the first edge-sync computed (golden values of
 * the HEAD~ code for spec_text), so upgrading edge-sync does not restart running apps. */
static void test_hash_stable_across_upgrade(void **state) {
    (void)state;
    json_t *spec = load_spec();
    char h[65];
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_equal(h, "1a90b5b2bf87b9e4c10f6e5accc3d15a443a61a0436a54d7225ed58c7535f498");
    ferry_pod_service_hash(spec, service(spec, 0), NULL, h);
    assert_string_equal(h, "13e105181c990f825d11f0ee17e526f4c449c15dd13ebddfd8bf858e805607f7");
    ferry_pod_service_hash(spec, service(spec, 1), NULL, h);
    assert_string_equal(h, "6638f808c147a9edd433d76700dc00f48c5a6b63172e85ff0187657285c2659a");
    /* explicit defaults are the defaults */
    json_object_set_new(spec, "workload", json_string("deployment"));
    json_object_set_new(spec, "hostNetwork", json_false());
    json_object_set_new(spec, "volumes", json_array());
    json_t *no_binds = json_array();
    ferry_pod_service_hash(spec, service(spec, 1), no_binds, h);
    json_decref(no_binds);
    assert_string_equal(h, "6638f808c147a9edd433d76700dc00f48c5a6b63172e85ff0187657285c2659a");
    ferry_pod_infra_hash(spec, PAUSE, h);
    assert_string_equal(h, "1a90b5b2bf87b9e4c10f6e5accc3d15a443a61a0436a54d7225ed58c7535f498");
    json_decref(spec);
}

/* A config's content restarts exactly the containers that mount it; its version alone does not. */
static void test_hash_follows_config_content(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_t *configs = json_object_get(json_object_get(spec, "resolved"), "configs");
    pod_hashes base, h;
    full_hashes(spec, &base);

    json_object_set_new(json_object_get(configs, "app-config"), "version", json_integer(13));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "");

    json_t *file = json_object_get(json_object_get(json_object_get(configs, "app-config"), "files"),
                                   "app.conf");
    json_object_set_new(file, "data", json_string("aGVsbG8h"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "h");
    json_object_set_new(file, "data", json_string("aGVsbG8="));
    json_object_set_new(file, "mode", json_integer(384));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "h");
    json_object_set_new(file, "mode", json_integer(420));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "");

    /* the secret only the init container mounts */
    json_object_set_new(json_object_get(json_object_get(configs, "app-secret"), "files"), "token",
                        json_pack("{s:s, s:i}", "data", "eA==", "mode", 384));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "m");
    json_object_del(json_object_get(json_object_get(configs, "app-secret"), "files"), "token");

    /* a config nobody mounts */
    json_object_set_new(configs, "other",
                        json_pack("{s:s, s:i, s:{}}", "kind", "config", "version", 1, "files"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "");
    json_decref(spec);
}

static void test_hash_follows_volumes_and_binds(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_t *volumes = json_object_get(spec, "volumes");
    pod_hashes base, h;
    full_hashes(spec, &base);

    /* a hostPath moves: the worker mounts it */
    json_t *data = json_array_get(volumes, 1);
    json_object_set_new(data, "hostPath", json_pack("{s:s}", "path", "/srv/app"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "w");
    json_object_set_new(data, "hostPath", json_pack("{s:s}", "path", "/var/lib/app"));

    /* the config volume points at another config (absent from resolved: files null) */
    json_t *cfg = json_array_get(volumes, 0);
    json_object_set_new(cfg, "config", json_pack("{s:s}", "name", "app-config-2"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "h");
    json_object_set_new(cfg, "config", json_pack("{s:s}", "name", "app-config"));

    /* a volume nobody mounts */
    json_array_append_new(volumes, json_pack("{s:s, s:{}}", "name", "spare", "emptyDir"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "");

    /* a mount's readOnly flag is part of the service object */
    json_t *mount = json_array_get(json_object_get(service(spec, 1), "volumeMounts"), 0);
    json_object_set_new(mount, "readOnly", json_true());
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "w");
    json_object_del(mount, "readOnly");

    /* binds */
    char a[65], b[65];
    json_t *binds = json_pack("[s]", full_binds_httpd[0]);
    ferry_pod_service_hash(spec, service(spec, 0), binds, a);
    assert_string_not_equal(a, base.httpd);
    ferry_pod_service_hash(spec, service(spec, 0), binds, b);
    assert_string_equal(a, b);
    json_array_set_new(binds, 0,
                       json_string("/e/volumes/prod/web/cfg/app.conf:/etc/app/app.conf:ro"));
    ferry_pod_service_hash(spec, service(spec, 0), binds, b);
    assert_string_not_equal(a, b);
    ferry_pod_init_hash(spec, init_service(spec), binds, b);
    assert_string_not_equal(b, base.migrate);
    json_decref(binds);
    /* no binds and an empty list are the same */
    json_t *none = json_array();
    ferry_pod_service_hash(spec, service(spec, 0), none, a);
    assert_string_equal(a, base.httpd);
    ferry_pod_init_hash(spec, init_service(spec), none, a);
    assert_string_equal(a, base.migrate);
    json_decref(none);

    /* limits are part of the service object */
    json_t *limits = json_object_get(json_object_get(service(spec, 0), "resources"), "limits");
    json_object_set_new(limits, "gpuCompute", json_integer(60));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "h");
    json_decref(spec);
}

static void test_hash_follows_workload(void **state) {
    (void)state;
    json_t *spec = load_full();
    pod_hashes base, h, job;
    full_hashes(spec, &base);

    /* deployment: restartPolicy/backoffLimit do not shape anything */
    json_object_set_new(spec, "backoffLimit", json_integer(3));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "");

    json_object_set_new(spec, "workload", json_string("daemonset"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "hwm");

    json_object_set_new(spec, "workload", json_string("job"));
    full_hashes(spec, &job);
    assert_string_equal(changed(&h, &job), "hwm");
    /* job Never: backoffLimit changes nothing */
    json_object_set_new(spec, "backoffLimit", json_integer(5));
    full_hashes(spec, &h);
    assert_string_equal(changed(&job, &h), "");
    json_object_set_new(spec, "restartPolicy", json_string("Never"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&job, &h), "");
    /* OnFailure: the services change, not the init container (always "no") */
    json_object_set_new(spec, "restartPolicy", json_string("OnFailure"));
    full_hashes(spec, &h);
    assert_string_equal(changed(&job, &h), "hw");
    pod_hashes five = h;
    json_object_set_new(spec, "backoffLimit", json_integer(6));
    full_hashes(spec, &h);
    assert_string_equal(changed(&five, &h), "hw");
    json_decref(spec);
}

static void test_hash_init_vs_service(void **state) {
    (void)state;
    json_t *spec = load_full();
    char as_init[65], as_service[65];
    ferry_pod_init_hash(spec, init_service(spec), NULL, as_init);
    ferry_pod_service_hash(spec, init_service(spec), NULL, as_service);
    assert_string_not_equal(as_init, as_service);
    json_decref(spec);

    /* even in a plain deployment without volumes */
    spec = load_spec();
    ferry_pod_init_hash(spec, service(spec, 1), NULL, as_init);
    ferry_pod_service_hash(spec, service(spec, 1), NULL, as_service);
    assert_string_not_equal(as_init, as_service);
    json_decref(spec);
}

static void test_hash_host_network(void **state) {
    (void)state;
    json_t *spec = load_full();
    pod_hashes base, host, h;
    full_hashes(spec, &base);
    json_object_set_new(spec, "hostNetwork", json_true());
    full_hashes(spec, &host);
    assert_string_equal(changed(&base, &host), "i"); /* the services follow the infra anyway */

    /* with the host's network, ports no longer shape the infra container */
    json_t *port = json_array_get(json_object_get(service(spec, 0), "ports"), 0);
    json_object_set_new(port, "hostPort", json_integer(18081));
    full_hashes(spec, &h);
    assert_string_equal(changed(&host, &h), "h");
    json_object_set_new(spec, "hostNetwork", json_false());
    full_hashes(spec, &h);
    assert_string_not_equal(h.infra, base.infra);
    json_object_set_new(port, "hostPort", json_integer(18080));
    full_hashes(spec, &h);
    assert_string_equal(changed(&base, &h), "");
    json_decref(spec);
}

static void test_init_name(void **state) {
    (void)state;
    char buf[128];
    assert_int_equal(ferry_pod_init_name(&ref, "migrate", buf, sizeof(buf)), FERRY_OK);
    assert_string_equal(buf, "ferry.edge-1.prod.web.0.init-migrate");
    assert_int_equal(ferry_pod_init_name(&ref, "migrate", buf, 20), FERRY_ETOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(ferry_pod_init_name(&ref, NULL, buf, sizeof(buf)), FERRY_EINVAL);
    assert_int_equal(ferry_pod_init_name(NULL, "migrate", buf, sizeof(buf)), FERRY_EINVAL);
}

static void test_workload(void **state) {
    (void)state;
    json_t *spec = json_object();
    assert_string_equal(ferry_pod_workload(NULL), "deployment");
    assert_string_equal(ferry_pod_workload(spec), "deployment");
    json_object_set_new(spec, "workload", json_string("job"));
    assert_string_equal(ferry_pod_workload(spec), "job");
    json_object_set_new(spec, "workload", json_string("daemonset"));
    assert_string_equal(ferry_pod_workload(spec), "daemonset");
    json_object_set_new(spec, "workload", json_string("cronjob"));
    assert_string_equal(ferry_pod_workload(spec), "deployment");
    json_decref(spec);
}

static void test_body_resources_and_gpu(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_t *body = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123", NULL);
    char hash[65];
    assert_non_null(body);
    json_t *host = host_config(body);
    assert_int_equal(json_integer_value(json_object_get(host, "NanoCpus")), 500000000);
    assert_int_equal(json_integer_value(json_object_get(host, "Memory")), 64 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(host, "MemorySwap")), 64 * 1024 * 1024);
    assert_true(json_is_true(json_object_get(host, "Privileged")));
    json_t *want =
        json_loads("[{\"Driver\":\"nvidia\",\"Count\":-1,\"Capabilities\":[[\"gpu\"]]}]", 0, NULL);
    assert_true(json_equal(json_object_get(host, "DeviceRequests"), want));
    json_decref(want);
    /* the user's CUDA_DEVICE_SM_LIMIT gives way to the share's */
    want = json_pack("[s,s,s]", "A=1", "CUDA_DEVICE_MEMORY_LIMIT=1024m", "CUDA_DEVICE_SM_LIMIT=50");
    assert_true(json_equal(json_object_get(body, "Env"), want));
    json_decref(want);
    assert_null(json_object_get(host, "Binds"));
    assert_string_equal(restart_name(body, NULL), "unless-stopped");
    assert_string_equal(label(body, FERRY_LBL_WORKLOAD), "deployment");
    ferry_pod_service_hash(spec, service(spec, 0), NULL, hash);
    assert_string_equal(label(body, FERRY_LBL_HASH), hash);
    json_decref(body);

    /* no limits: none of these keys */
    body = ferry_pod_service_body(&ref, spec, service(spec, 1), "abc123", NULL);
    assert_non_null(body);
    host = host_config(body);
    assert_null(json_object_get(host, "NanoCpus"));
    assert_null(json_object_get(host, "Memory"));
    assert_null(json_object_get(host, "MemorySwap"));
    assert_null(json_object_get(host, "Privileged"));
    assert_null(json_object_get(host, "DeviceRequests"));
    assert_int_equal(json_array_size(json_object_get(body, "Env")), 0);
    json_decref(body);

    /* other quantity forms; gpuCompute alone; privileged false */
    json_t *svc = service(spec, 0);
    json_t *limits = json_object_get(json_object_get(svc, "resources"), "limits");
    json_object_set_new(limits, "cpu", json_integer(2));
    json_object_set_new(limits, "memory", json_string("1.5Gi"));
    json_object_del(limits, "gpuMemory");
    json_object_set_new(limits, "gpuCompute", json_integer(100));
    json_object_set_new(svc, "privileged", json_false());
    body = ferry_pod_service_body(&ref, spec, svc, "abc123", NULL);
    assert_non_null(body);
    host = host_config(body);
    assert_int_equal(json_integer_value(json_object_get(host, "NanoCpus")), 2000000000);
    assert_int_equal(json_integer_value(json_object_get(host, "Memory")), 1610612736);
    assert_null(json_object_get(host, "Privileged"));
    assert_non_null(json_object_get(host, "DeviceRequests"));
    want = json_pack("[s,s]", "A=1", "CUDA_DEVICE_SM_LIMIT=100");
    assert_true(json_equal(json_object_get(body, "Env"), want));
    json_decref(want);
    json_decref(body);

    json_object_set_new(limits, "cpu", json_string("250m"));
    json_object_set_new(limits, "gpuMemory", json_integer(4096));
    body = ferry_pod_service_body(&ref, spec, svc, "abc123", NULL);
    host = host_config(body);
    assert_int_equal(json_integer_value(json_object_get(host, "NanoCpus")), 250000000);
    assert_string_equal(json_string_value(json_array_get(json_object_get(body, "Env"), 1)),
                        "CUDA_DEVICE_MEMORY_LIMIT=1048576m");
    json_decref(body);

    /* what the validator refuses makes no body */
    json_object_set_new(limits, "gpuMemory", json_integer(4097));
    assert_null(ferry_pod_service_body(&ref, spec, svc, "abc123", NULL));
    json_object_set_new(limits, "gpuMemory", json_integer(0));
    assert_null(ferry_pod_service_body(&ref, spec, svc, "abc123", NULL));
    json_object_set_new(limits, "gpuMemory", json_string("4"));
    assert_null(ferry_pod_service_body(&ref, spec, svc, "abc123", NULL));
    json_object_del(limits, "gpuMemory");
    json_object_set_new(limits, "gpuCompute", json_integer(101));
    assert_null(ferry_pod_service_body(&ref, spec, svc, "abc123", NULL));
    json_object_del(limits, "gpuCompute");
    json_object_set_new(limits, "cpu", json_string("lots"));
    assert_null(ferry_pod_service_body(&ref, spec, svc, "abc123", NULL));
    json_object_set_new(limits, "cpu", json_string("1"));
    json_object_set_new(limits, "memory", json_string("-1Mi"));
    assert_null(ferry_pod_service_body(&ref, spec, svc, "abc123", NULL));
    json_object_set_new(limits, "memory", json_integer(0));
    assert_null(ferry_pod_service_body(&ref, spec, svc, "abc123", NULL));
    json_decref(spec);
}

static void test_body_binds(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_t *binds = json_pack("[s,s]", "/d/pods/prod/web/0/scratch:/tmp", "/var/lib/app:/data");
    json_t *body = ferry_pod_service_body(&ref, spec, service(spec, 1), "abc123", binds);
    char hash[65];
    assert_non_null(body);
    assert_true(json_equal(json_object_get(host_config(body), "Binds"), binds));
    ferry_pod_service_hash(spec, service(spec, 1), binds, hash);
    assert_string_equal(label(body, FERRY_LBL_HASH), hash);
    json_decref(body);

    json_t *empty = json_array();
    body = ferry_pod_service_body(&ref, spec, service(spec, 1), "abc123", empty);
    assert_non_null(body);
    assert_null(json_object_get(host_config(body), "Binds"));
    json_decref(body);
    json_decref(empty);

    json_t *bad = json_string("/a:/b");
    assert_null(ferry_pod_service_body(&ref, spec, service(spec, 1), "abc123", bad));
    json_decref(bad);
    json_decref(binds);
    json_decref(spec);
}

static void test_body_restart_policy(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_t *svc = service(spec, 1);
    json_t *body;
    json_int_t retries;

    json_object_set_new(spec, "workload", json_string("daemonset"));
    body = ferry_pod_service_body(&ref, spec, svc, "abc123", NULL);
    assert_string_equal(restart_name(body, NULL), "unless-stopped");
    assert_string_equal(label(body, FERRY_LBL_WORKLOAD), "daemonset");
    json_decref(body);

    json_object_set_new(spec, "workload", json_string("job"));
    body = ferry_pod_service_body(&ref, spec, svc, "abc123", NULL);
    assert_string_equal(restart_name(body, NULL), "no");
    assert_string_equal(label(body, FERRY_LBL_WORKLOAD), "job");
    json_decref(body);

    json_object_set_new(spec, "restartPolicy", json_string("OnFailure"));
    body = ferry_pod_service_body(&ref, spec, svc, "abc123", NULL);
    assert_string_equal(restart_name(body, &retries), "on-failure");
    assert_int_equal(retries, 6); /* the default backoffLimit */
    json_decref(body);

    json_object_set_new(spec, "backoffLimit", json_integer(3));
    body = ferry_pod_service_body(&ref, spec, svc, "abc123", NULL);
    assert_string_equal(restart_name(body, &retries), "on-failure");
    assert_int_equal(retries, 3);
    json_decref(body);

    /* Docker reads on-failure:0 as "forever"; backoffLimit 0 means no retry */
    json_object_set_new(spec, "backoffLimit", json_integer(0));
    body = ferry_pod_service_body(&ref, spec, svc, "abc123", NULL);
    assert_string_equal(restart_name(body, NULL), "no");
    json_decref(body);

    /* init containers never restart */
    body = ferry_pod_init_body(&ref, spec, init_service(spec), "abc123", NULL);
    assert_string_equal(restart_name(body, NULL), "no");
    json_decref(body);
    json_decref(spec);
}

static void test_init_body(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_t *binds = json_pack("[s]", "/d/volumes/prod/web/creds:/run/creds");
    json_t *body = ferry_pod_init_body(&ref, spec, init_service(spec), "abc123", binds);
    char hash[65];
    assert_non_null(body);
    assert_pod_labels(body, "init");
    assert_string_equal(label(body, FERRY_LBL_SERVICE), "migrate");
    assert_string_equal(label(body, FERRY_LBL_WORKLOAD), "deployment");
    ferry_pod_init_hash(spec, init_service(spec), binds, hash);
    assert_string_equal(label(body, FERRY_LBL_HASH), hash);
    assert_string_equal(json_string_value(json_object_get(body, "Image")), "m:1");
    assert_true(json_equal(json_object_get(body, "Entrypoint"),
                           json_object_get(init_service(spec), "command")));
    json_t *host = host_config(body);
    assert_string_equal(json_string_value(json_object_get(host, "NetworkMode")),
                        "container:abc123");
    assert_string_equal(restart_name(body, NULL), "no");
    assert_true(json_equal(json_object_get(host, "Binds"), binds));
    assert_int_equal(json_integer_value(json_object_get(host, "NanoCpus")), 250000000);
    assert_int_equal(json_integer_value(json_object_get(host, "Memory")), 1073741824);
    assert_null(json_object_get(host, "DeviceRequests"));
    json_decref(body);
    assert_null(ferry_pod_init_body(&ref, spec, init_service(spec), NULL, binds));
    json_decref(binds);
    json_decref(spec);
}

static void test_infra_body_host_network(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_object_set_new(spec, "hostNetwork", json_true());
    json_t *body = ferry_pod_infra_body(&ref, spec, PAUSE);
    char hash[65];
    assert_non_null(body);
    json_t *host = host_config(body);
    assert_string_equal(json_string_value(json_object_get(host, "NetworkMode")), "host");
    assert_null(json_object_get(host, "PortBindings"));
    assert_null(json_object_get(body, "ExposedPorts"));
    assert_null(json_object_get(body, "Hostname"));
    assert_string_equal(restart_name(body, NULL), "unless-stopped");
    assert_pod_labels(body, "infra");
    assert_string_equal(label(body, FERRY_LBL_WORKLOAD), "deployment");
    ferry_pod_infra_hash(spec, PAUSE, hash);
    assert_string_equal(label(body, FERRY_LBL_HASH), hash);
    json_decref(body);

    /* services still join the infra container, which has the host's network */
    body = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123", NULL);
    assert_string_equal(json_string_value(json_object_get(host_config(body), "NetworkMode")),
                        "container:abc123");
    json_decref(body);
    json_decref(spec);
}

/* Every allocation failure gives NULL or the full body, and no leak (ASan checks). */
static void test_full_bodies_under_failing_allocator(void **state) {
    (void)state;
    json_t *spec = load_full();
    json_t *binds = json_pack("[s]", full_binds_httpd[0]);
    json_object_set_new(spec, "hostNetwork", json_true());
    json_object_set_new(spec, "workload", json_string("job"));
    json_object_set_new(spec, "restartPolicy", json_string("OnFailure"));
    json_t *want_infra = ferry_pod_infra_body(&ref, spec, PAUSE);
    json_t *want_svc = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123", binds);
    json_t *want_init = ferry_pod_init_body(&ref, spec, init_service(spec), "abc123", binds);
    assert_non_null(want_infra);
    assert_non_null(want_svc);
    assert_non_null(want_init);

    ferry_alloc_install_json();
    int nulls = 0;
    for (long n = 1; n < 600; n++) {
        json_t *got[3];
        ferry_alloc_fail_after(n);
        got[0] = ferry_pod_infra_body(&ref, spec, PAUSE);
        ferry_alloc_fail_after(n);
        got[1] = ferry_pod_service_body(&ref, spec, service(spec, 0), "abc123", binds);
        ferry_alloc_fail_after(n);
        got[2] = ferry_pod_init_body(&ref, spec, init_service(spec), "abc123", binds);
        ferry_alloc_fail_after(0);
        assert_true(got[0] == NULL || json_equal(got[0], want_infra));
        assert_true(got[1] == NULL || json_equal(got[1], want_svc));
        assert_true(got[2] == NULL || json_equal(got[2], want_init));
        for (int k = 0; k < 3; k++) {
            nulls += got[k] == NULL;
            json_decref(got[k]);
        }
    }
    assert_true(nulls > 30);
    json_decref(want_infra);
    json_decref(want_svc);
    json_decref(want_init);
    json_decref(binds);
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
        cmocka_unit_test(test_hash_stable_across_upgrade),
        cmocka_unit_test(test_hash_follows_config_content),
        cmocka_unit_test(test_hash_follows_volumes_and_binds),
        cmocka_unit_test(test_hash_follows_workload),
        cmocka_unit_test(test_hash_init_vs_service),
        cmocka_unit_test(test_hash_host_network),
        cmocka_unit_test(test_init_name),
        cmocka_unit_test(test_workload),
        cmocka_unit_test(test_body_resources_and_gpu),
        cmocka_unit_test(test_body_binds),
        cmocka_unit_test(test_body_restart_policy),
        cmocka_unit_test(test_init_body),
        cmocka_unit_test(test_infra_body_host_network),
        cmocka_unit_test(test_full_bodies_under_failing_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
