/* Unit tests of the wire protocol (schema/proto.c): per-type validation, versions, and the golden
 * payloads in tests/golden/proto (valid, truncated, corrupt, future version). */
#include "unit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferry/codec.h"
#include "ferry/proto.h"

#ifndef FERRY_GOLDEN_DIR
#error "FERRY_GOLDEN_DIR must name tests/golden/proto"
#endif

#define SPEC "{\"name\":\"web\",\"services\":[{\"name\":\"a\",\"image\":\"busybox\"}]}"
/* A spec as the bridge sends it: with the server-filled "resolved" member. */
#define SPEC_RESOLVED                                                                              \
    "{\"name\":\"web\",\"volumes\":[{\"name\":\"c\",\"secret\":{\"name\":\"s\"}}],"                \
    "\"registries\":[\"r\"],\"services\":[{\"name\":\"a\",\"image\":\"busybox\","                  \
    "\"volumeMounts\":[{\"name\":\"c\",\"mountPath\":\"/s\"}]}],\"resolved\":{\"configs\":{"       \
    "\"s\":{\"kind\":\"secret\",\"version\":4,\"files\":{\"p\":{\"data\":\"czNjcmV0\","            \
    "\"mode\":384}}}},\"registries\":[{\"name\":\"r\",\"server\":\"127.0.0.1:5000\","              \
    "\"username\":\"u\",\"password\":\"p\"}]}}"

/* A latency histogram of FERRY_STATS_BUCKETS (20) buckets, and node.stats around calls. */
#define LAT20 "[0,1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,1]"
#define STATS(calls)                                                                               \
    "{\"type\":\"node.stats\",\"ns\":\"d\",\"node\":\"n1\",\"start\":1000,\"ts\":2000,"            \
    "\"calls\":[" calls "]}"
#define CALL(app, svc, fn, req, ok, c4, c5, to, lat)                                               \
    "{\"app\":\"" app "\",\"service\":\"" svc "\",\"function\":\"" fn "\",\"requests\":" #req      \
    ",\"success\":" #ok ",\"clientErrors\":" #c4 ",\"serverErrors\":" #c5 ",\"timeouts\":" #to     \
    ",\"latency\":" lat "}"

/* Encode msg (JSON text, no "v") with ferry_proto_encode, decode it back. */
static ferry_err roundtrip(const char *text, char *why, size_t whylen) {
    json_t *msg = J(text), *back = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_proto_encode(msg, &buf, &len), FERRY_OK);
    ferry_err rc = ferry_proto_decode(buf, len, &back, why, whylen);
    if (rc == FERRY_OK) {
        assert_int_equal(json_integer_value(json_object_get(back, "v")), 1);
        json_object_del(back, "v");
        assert_json_equal(back, msg);
        json_decref(back);
    } else {
        assert_null(back);
    }
    ferry_free(buf);
    json_decref(msg);
    return rc;
}

static const char *const valid_msgs[] = {
    "{\"type\":\"app.put\",\"ns\":\"default\",\"app\":\"web\",\"version\":1,\"spec\":" SPEC "}",
    "{\"type\":\"app.patch\",\"ns\":\"default\",\"app\":\"web\",\"base\":1,\"version\":2,"
    "\"patch\":{\"obj\":{\"replicas\":{\"set\":2}}}}",
    "{\"type\":\"app.delete\",\"ns\":\"default\",\"app\":\"web\",\"version\":3}",
    "{\"type\":\"node.sync\",\"ns\":\"default\",\"node\":\"n1\",\"rev\":0,\"registered\":false,"
    "\"labels\":{},\"apps\":[]}",
    "{\"type\":\"node.sync\",\"ns\":\"default\",\"node\":\"n1\",\"rev\":9,\"registered\":true,"
    "\"labels\":{\"zone\":\"a\"},\"apps\":[{\"app\":\"web\",\"version\":2,\"spec\":" SPEC
    "},{\"app\":\"db\",\"version\":1}]}",
    "{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"n1\",\"reason\":\"gap\",\"apps\":{}}",
    "{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"n1\",\"reason\":\"store\","
    "\"apps\":{\"web\":2,\"db\":1}}",
    "{\"type\":\"app.status\",\"ns\":\"default\",\"node\":\"n1\",\"app\":\"web\",\"version\":0,"
    "\"phase\":\"Removed\",\"message\":\"\",\"ts\":-1,\"containers\":[]}",
    "{\"type\":\"app.status\",\"ns\":\"default\",\"node\":\"n1\",\"app\":\"web\",\"version\":2,"
    "\"phase\":\"Failed\",\"message\":\"pull failed\",\"ts\":1764139488000,\"containers\":[{"
    "\"name\":\"a\",\"state\":\"exited\",\"restarts\":2,\"exitCode\":-1,\"error\":\"no such "
    "image\",\"image\":\"busybox\"}]}",
    "{\"type\":\"node.online\",\"ns\":\"default\",\"node\":\"n1\",\"online\":false}",
    "{\"type\":\"node.online\",\"ns\":\"default\",\"node\":\"n1\",\"online\":true,\"ts\":5}",
    /* specs on the wire carry "resolved" */
    "{\"type\":\"app.put\",\"ns\":\"default\",\"app\":\"web\",\"version\":1,\"spec\":" SPEC_RESOLVED
    "}",
    "{\"type\":\"node.sync\",\"ns\":\"default\",\"node\":\"n1\",\"rev\":9,\"registered\":true,"
    "\"labels\":{},\"apps\":[{\"app\":\"web\",\"version\":2,\"spec\":" SPEC_RESOLVED "}]}",
    "{\"type\":\"app.patch\",\"ns\":\"default\",\"app\":\"web\",\"base\":1,\"version\":2,"
    "\"patch\":{\"obj\":{\"resolved\":{\"obj\":{\"registries\":{\"set\":[]}}}}}}",
    /* call statistics: a function, a proxied service ("*"), outcomes summing to requests or less */
    STATS(CALL("fn", "s", "f", 56, 50, 3, 2, 1, LAT20) "," CALL(
        "fn", "s", "*", 0, 0, 0, 0, 0, LAT20) "," CALL("fn", "s2", "f_2-X", 9, 1, 0, 0, 0, LAT20)),
    STATS(""),
    /* unknown envelope fields are ignored (forward compatibility) */
    "{\"type\":\"app.delete\",\"ns\":\"default\",\"app\":\"web\",\"version\":3,\"x\":[1],"
    "\"traceId\":\"abc\"}",
};

static void test_valid_messages(void **state) {
    (void)state;
    char why[256];
    for (size_t i = 0; i < sizeof(valid_msgs) / sizeof(valid_msgs[0]); i++) {
        if (roundtrip(valid_msgs[i], why, sizeof(why)) != FERRY_OK)
            fail_msg("message %zu refused: %s", i, why);
    }
}

static const struct {
    const char *msg;
    const char *why; /* substring */
} invalid_msgs[] = {
    {"{\"type\":\"app.put\",\"app\":\"web\",\"version\":1,\"spec\":" SPEC "}",
     "app.put: field 'ns' is required"},
    {"{\"type\":\"app.put\",\"ns\":\"Default\",\"app\":\"web\",\"version\":1,\"spec\":" SPEC "}",
     "app.put: field 'ns' must be a DNS label"},
    {"{\"type\":\"app.put\",\"ns\":\"d\",\"app\":\"web\",\"version\":0,\"spec\":" SPEC "}",
     "field 'version' must be a positive integer"},
    {"{\"type\":\"app.put\",\"ns\":\"d\",\"app\":\"web\",\"version\":1}",
     "field 'spec' is required"},
    {"{\"type\":\"app.put\",\"ns\":\"d\",\"app\":\"web\",\"version\":1,\"spec\":[]}",
     "field 'spec' must be an object"},
    {"{\"type\":\"app.put\",\"ns\":\"d\",\"app\":\"api\",\"version\":1,\"spec\":" SPEC "}",
     "field 'spec.name' must equal the message's app ('api')"},
    {"{\"type\":\"app.put\",\"ns\":\"d\",\"app\":\"web\",\"version\":1,\"spec\":{\"name\":\"web\","
     "\"services\":[{\"name\":\"a\",\"image\":\"x y\"}]}}",
     "field 'spec.services[0].image' must be 1-512 printable ASCII"},
    {"{\"type\":\"app.put\",\"ns\":\"d\",\"app\":\"web\",\"version\":1,\"spec\":{\"name\":\"web\","
     "\"volumes\":[{\"name\":\"c\",\"secret\":{\"name\":\"s\"}}],\"services\":[{\"name\":\"a\","
     "\"image\":\"i\"}]}}",
     "field 'spec.resolved.configs' must hold the secret 's' that volumes[0] references"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":true,"
     "\"labels\":{},\"apps\":[{\"app\":\"web\",\"version\":1,\"spec\":{\"name\":\"web\","
     "\"services\":[{\"name\":\"a\",\"image\":\"i\"}],\"resolved\":{\"configs\":{\"x\":{"
     "\"kind\":\"config\",\"version\":1,\"files\":{}}}}}}]}",
     "field 'apps[0].spec.resolved.configs.x' is not referenced by a volume or function service of "
     "the app"},
    {"{\"type\":\"app.patch\",\"ns\":\"d\",\"app\":\"web\",\"base\":0,\"version\":2,\"patch\":{"
     "\"obj\":{}}}",
     "app.patch: field 'base' must be a positive integer"},
    {"{\"type\":\"app.patch\",\"ns\":\"d\",\"app\":\"web\",\"base\":3,\"version\":2,\"patch\":{"
     "\"obj\":{}}}",
     "field 'version' must be greater than 'base'"},
    {"{\"type\":\"app.patch\",\"ns\":\"d\",\"app\":\"web\",\"base\":1,\"version\":2}",
     "field 'patch' is required"},
    {"{\"type\":\"app.patch\",\"ns\":\"d\",\"app\":\"web\",\"base\":1,\"version\":2,\"patch\":[]}",
     "field 'patch' is not a valid patch"},
    {"{\"type\":\"app.patch\",\"ns\":\"d\",\"app\":\"web\",\"base\":1,\"version\":2,\"patch\":{"
     "\"keyed\":\"name\",\"items\":{},\"order\":[\"a\",\"a\"]}}",
     "lists a name twice"},
    {"{\"type\":\"app.delete\",\"ns\":\"d\",\"app\":\"-web\",\"version\":1}",
     "app.delete: field 'app' must be a DNS label"},
    {"{\"type\":\"app.delete\",\"ns\":\"d\",\"app\":\"web\",\"version\":\"1\"}",
     "field 'version' must be a positive integer"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":-1,\"registered\":true,"
     "\"labels\":{},\"apps\":[]}",
     "node.sync: field 'rev' must be a non-negative integer"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":1,"
     "\"labels\":{},\"apps\":[]}",
     "field 'registered' must be true or false"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":true,"
     "\"labels\":{\"k\":5},\"apps\":[]}",
     "field 'labels' value of 'k' must be a string"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":true,"
     "\"labels\":{},\"apps\":{}}",
     "field 'apps' must be an array"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":true,"
     "\"labels\":{},\"apps\":[5]}",
     "field 'apps[0]' must be an object"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":true,"
     "\"labels\":{},\"apps\":[{\"app\":\"web\",\"version\":0}]}",
     "field 'apps[0].version' must be a positive integer"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":true,"
     "\"labels\":{},\"apps\":[{\"app\":\"db\",\"version\":1,\"spec\":" SPEC "}]}",
     "field 'apps[0].spec.name' must equal the message's app ('db')"},
    {"{\"type\":\"node.sync\",\"ns\":\"d\",\"node\":\"n1\",\"rev\":1,\"registered\":true,"
     "\"labels\":{},\"apps\":[{\"app\":\"web\",\"version\":1},{\"app\":\"web\",\"version\":2}]}",
     "field 'apps[1].app' duplicate app 'web'"},
    {"{\"type\":\"node.hello\",\"ns\":\"d\",\"node\":\"n1\",\"reason\":\"hi\",\"apps\":{}}",
     "node.hello: field 'reason' must be one of connect, gap, subscribe, retry, store"},
    {"{\"type\":\"node.hello\",\"ns\":\"d\",\"node\":\"n1\",\"reason\":\"gap\",\"apps\":[]}",
     "field 'apps' must be an object"},
    {"{\"type\":\"node.hello\",\"ns\":\"d\",\"node\":\"n1\",\"reason\":\"gap\",\"apps\":{\"Web\":1}"
     "}",
     "keys must be DNS labels"},
    {"{\"type\":\"node.hello\",\"ns\":\"d\",\"node\":\"n1\",\"reason\":\"gap\",\"apps\":{\"web\":0}"
     "}",
     "values must be positive integers"},
    {"{\"type\":\"app.status\",\"ns\":\"d\",\"node\":\"n1\",\"app\":\"web\",\"version\":1,"
     "\"phase\":\"Up\",\"message\":\"\",\"ts\":1,\"containers\":[]}",
     "app.status: field 'phase' must be one of Pending, Deploying, Running"},
    {"{\"type\":\"app.status\",\"ns\":\"d\",\"node\":\"n1\",\"app\":\"web\",\"version\":1,"
     "\"phase\":\"Running\",\"message\":3,\"ts\":1,\"containers\":[]}",
     "field 'message' must be a string of at most 4096 characters"},
    {"{\"type\":\"app.status\",\"ns\":\"d\",\"node\":\"n1\",\"app\":\"web\",\"version\":1,"
     "\"phase\":\"Running\",\"message\":\"\",\"containers\":[]}",
     "field 'ts' is required"},
    {"{\"type\":\"app.status\",\"ns\":\"d\",\"node\":\"n1\",\"app\":\"web\",\"version\":1,"
     "\"phase\":\"Running\",\"message\":\"\",\"ts\":1.5,\"containers\":[]}",
     "field 'ts' must be an integer"},
    {"{\"type\":\"app.status\",\"ns\":\"d\",\"node\":\"n1\",\"app\":\"web\",\"version\":1,"
     "\"phase\":\"Running\",\"message\":\"\",\"ts\":1,\"containers\":[{\"name\":\"a\","
     "\"state\":\"running\",\"restarts\":-1,\"exitCode\":0,\"error\":\"\",\"image\":\"i\"}]}",
     "field 'containers[0].restarts' must be a non-negative integer"},
    {"{\"type\":\"app.status\",\"ns\":\"d\",\"node\":\"n1\",\"app\":\"web\",\"version\":1,"
     "\"phase\":\"Running\",\"message\":\"\",\"ts\":1,\"containers\":[{\"name\":\"a\","
     "\"state\":\"running\",\"restarts\":0,\"exitCode\":0,\"image\":\"i\"}]}",
     "field 'containers[0].error' is required"},
    {"{\"type\":\"node.online\",\"ns\":\"d\",\"node\":\"n1\",\"online\":\"yes\"}",
     "node.online: field 'online' must be true or false"},
    {"{\"type\":\"node.online\",\"ns\":\"d\",\"node\":\"n1\",\"online\":true,\"ts\":\"now\"}",
     "field 'ts' must be an integer"},
    {"{\"type\":\"node.stats\",\"ns\":\"d\",\"node\":\"n1\",\"ts\":2000,\"calls\":[]}",
     "node.stats: field 'start' is required"},
    {"{\"type\":\"node.stats\",\"ns\":\"d\",\"node\":\"n1\",\"start\":1,\"ts\":-5,"
     "\"calls\":[]}",
     "node.stats: field 'ts' must be a non-negative integer"},
    {"{\"type\":\"node.stats\",\"ns\":\"d\",\"node\":\"N1\",\"start\":1,\"ts\":1,\"calls\":[]}",
     "field 'node' must be a DNS label"},
    {"{\"type\":\"node.stats\",\"ns\":\"d\",\"node\":\"n1\",\"start\":1,\"ts\":1,\"calls\":{}}",
     "field 'calls' must be an array of at most 4096 entries"},
    {STATS("1"), "field 'calls[0]' must be an object"},
    {STATS(CALL("Fn", "s", "f", 1, 1, 0, 0, 0, LAT20)), "field 'calls[0].app' must be a DNS label"},
    {STATS(CALL("fn", "s_1", "f", 1, 1, 0, 0, 0, LAT20)),
     "field 'calls[0].service' must be a DNS label"},
    {STATS(CALL("fn", "s", "f.g", 1, 1, 0, 0, 0, LAT20)),
     "field 'calls[0].function' must be 1 to 63 of [A-Za-z0-9_-], or \"*\""},
    {STATS(CALL("fn", "s", "", 1, 1, 0, 0, 0, LAT20)), "field 'calls[0].function' must be"},
    {STATS(CALL("fn", "s", "**", 1, 1, 0, 0, 0, LAT20)), "field 'calls[0].function' must be"},
    {STATS(CALL("fn", "s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1, 1,
                0, 0, 0, LAT20)),
     "field 'calls[0].function' must be"},
    {STATS(CALL("fn", "s", "f", -1, 0, 0, 0, 0, LAT20)),
     "field 'calls[0].requests' must be a non-negative integer"},
    {STATS(CALL("fn", "s", "f", 1, 0, 0, 0, 1.5, LAT20)),
     "field 'calls[0].timeouts' must be a non-negative integer"},
    {STATS(CALL("fn", "s", "f", 5, 2, 1, 2, 1, LAT20)),
     "field 'calls[0].timeouts' makes success + clientErrors + serverErrors + timeouts exceed "
     "requests"},
    {STATS(CALL("fn", "s", "f", 5, 6, 0, 0, 0, LAT20)), "field 'calls[0].success' makes"},
    {STATS(CALL("fn", "s", "f", 5, 5, 0, 0, 0, "[0,0,0]")),
     "field 'calls[0].latency' must be an array of 20 non-negative integers"},
    {STATS(CALL("fn", "s", "f", 5, 5, 0, 0, 0, "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-1]")),
     "field 'calls[0].latency' must be an array of 20 non-negative integers"},
    {STATS(CALL("fn", "s", "f", 5, 5, 0, 0, 0, "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]")),
     "field 'calls[0].latency' must be an array of 20"},
    {"{\"type\":\"node.stats\",\"ns\":\"d\",\"node\":\"n1\",\"start\":1,\"ts\":1,\"calls\":["
     "{\"app\":\"fn\",\"service\":\"s\",\"function\":\"f\",\"requests\":1,\"success\":1,"
     "\"clientErrors\":0,\"serverErrors\":0,\"latency\":" LAT20 "}]}",
     "field 'calls[0].timeouts' is required"},
    {STATS(CALL("fn", "s", "f", 1, 1, 0, 0, 0, LAT20) "," CALL(
         "fn", "s2", "f", 1, 1, 0, 0, 0, LAT20) "," CALL("fn", "s", "f", 2, 2, 0, 0, 0, LAT20)),
     "field 'calls[2]' duplicate app/service/function 'fn/s/f'"},
};

/* node.stats carries at most 4096 entries (FERRY_STATS_MAX_CALLS); counters up to int64. */
static void test_stats_limits(void **state) {
    (void)state;
    json_t *m = J(STATS(""));
    json_t *calls = json_object_get(m, "calls");
    char why[256], fn[16];
    for (int i = 0; i < 4097; i++) {
        snprintf(fn, sizeof(fn), "f%d", i);
        json_t *c =
            J(CALL("fn", "s", "f", 9223372036854775807, 9223372036854775807, 0, 0, 0, LAT20));
        json_object_set_new(c, "function", json_string(fn));
        json_array_append_new(calls, c);
    }
    for (int over = 1; over >= 0; over--) {
        unsigned char *buf = NULL;
        size_t len = 0;
        json_t *out = NULL;
        assert_int_equal(ferry_proto_encode(m, &buf, &len), FERRY_OK);
        assert_int_equal(ferry_proto_decode(buf, len, &out, why, sizeof(why)),
                         over ? FERRY_EINVAL : FERRY_OK);
        if (over)
            assert_contains(why, "at most 4096 entries");
        json_decref(out);
        ferry_free(buf);
        json_array_remove(calls, 0);
    }
    json_decref(m);
}

static void test_invalid_messages(void **state) {
    (void)state;
    char why[256];
    for (size_t i = 0; i < sizeof(invalid_msgs) / sizeof(invalid_msgs[0]); i++) {
        why[0] = '\0';
        ferry_err rc = roundtrip(invalid_msgs[i].msg, why, sizeof(why));
        if (rc != FERRY_EINVAL || strstr(why, invalid_msgs[i].why) == NULL)
            fail_msg("message %zu: got %d \"%s\", want EINVAL \"%s\"", i, rc, why,
                     invalid_msgs[i].why);
    }
}

/* Long texts: message and error are capped at 4096 characters, containers at 64. */
static void test_status_limits(void **state) {
    (void)state;
    json_t *m =
        J("{\"type\":\"app.status\",\"ns\":\"d\",\"node\":\"n1\",\"app\":\"web\",\"version\":1,"
          "\"phase\":\"Running\",\"message\":\"\",\"ts\":1,\"containers\":[]}");
    char *text = malloc(4098);
    memset(text, 'x', 4097);
    text[4097] = '\0';
    char why[256];
    for (int over = 0; over <= 1; over++) {
        memset(text, 'x', 4097);
        text[4096 + over] = '\0';
        json_object_set_new(m, "message", json_string(text));
        unsigned char *buf = NULL;
        size_t len = 0;
        json_t *out = NULL;
        assert_int_equal(ferry_proto_encode(m, &buf, &len), FERRY_OK);
        assert_int_equal(ferry_proto_decode(buf, len, &out, why, sizeof(why)),
                         over ? FERRY_EINVAL : FERRY_OK);
        json_decref(out);
        ferry_free(buf);
    }
    json_object_set_new(m, "message", json_string(""));
    json_t *cs = json_object_get(m, "containers");
    for (int i = 0; i < 65; i++)
        json_array_append_new(cs, J("{\"name\":\"a\",\"state\":\"running\",\"restarts\":0,"
                                    "\"exitCode\":0,\"error\":\"\",\"image\":\"i\"}"));
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *out = NULL;
    assert_int_equal(ferry_proto_encode(m, &buf, &len), FERRY_OK);
    assert_int_equal(ferry_proto_decode(buf, len, &out, why, sizeof(why)), FERRY_EINVAL);
    assert_contains(why, "at most 64 containers");
    ferry_free(buf);
    free(text);
    json_decref(m);
}

static ferry_err decode_json_envelope(const char *text, char *why, size_t whylen) {
    json_t *env = J(text), *out = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ferry_msgpack_encode(env, &buf, &len), FERRY_OK);
    ferry_err rc = ferry_proto_decode(buf, len, &out, why, whylen);
    json_decref(out);
    ferry_free(buf);
    json_decref(env);
    return rc;
}

static void test_envelope(void **state) {
    (void)state;
    char why[256];
    assert_int_equal(
        decode_json_envelope("{\"v\":2,\"type\":\"app.delete\",\"ns\":\"d\",\"app\":\"w\"}", why,
                             sizeof(why)),
        FERRY_EVERSION);
    assert_string_equal(why, "unsupported format version 2");
    assert_int_equal(decode_json_envelope("{\"v\":0,\"type\":\"x\"}", why, sizeof(why)),
                     FERRY_EVERSION);
    assert_string_equal(why, "unsupported format version 0");
    assert_int_equal(decode_json_envelope("{\"type\":\"app.delete\"}", why, sizeof(why)),
                     FERRY_EFORMAT);
    assert_int_equal(decode_json_envelope("{\"v\":1.0,\"type\":\"app.delete\"}", why, sizeof(why)),
                     FERRY_EFORMAT);
    assert_int_equal(decode_json_envelope("{\"v\":1}", why, sizeof(why)), FERRY_EFORMAT);
    assert_int_equal(decode_json_envelope("{\"v\":1,\"type\":7}", why, sizeof(why)), FERRY_EFORMAT);
    assert_int_equal(decode_json_envelope("{\"v\":1,\"type\":\"app.move\"}", why, sizeof(why)),
                     FERRY_EFORMAT);
    assert_contains(why, "unknown message type 'app.move'");
    assert_int_equal(decode_json_envelope("[1]", why, sizeof(why)), FERRY_EFORMAT);
    assert_int_equal(decode_json_envelope("\"x\"", why, sizeof(why)), FERRY_EFORMAT);

    /* encode: "v" is always ours, "type" is required */
    json_t *m = J("{\"type\":\"app.delete\",\"v\":7,\"ns\":\"d\",\"app\":\"w\",\"version\":1}");
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *out = NULL;
    assert_int_equal(ferry_proto_encode(m, &buf, &len), FERRY_OK);
    assert_int_equal(buf[0], 0x85); /* map of 5 */
    assert_int_equal(buf[1], 0xa1); /* "v" comes first */
    assert_int_equal(buf[3], 0x01); /* = 1 */
    assert_int_equal(ferry_proto_decode(buf, len, &out, NULL, 0), FERRY_OK);
    json_decref(out);
    ferry_free(buf);
    json_decref(m);
    m = J("{\"ns\":\"d\"}");
    assert_int_equal(ferry_proto_encode(m, &buf, &len), FERRY_EINVAL);
    json_decref(m);
    assert_int_equal(ferry_proto_encode(NULL, &buf, &len), FERRY_EINVAL);
    assert_int_equal(ferry_proto_decode((const unsigned char *)"", 0, &out, why, sizeof(why)),
                     FERRY_EFORMAT);
    assert_contains(why, "malformed payload");
    assert_int_equal(ferry_proto_decode((const unsigned char *)"", 0, NULL, why, sizeof(why)),
                     FERRY_EINVAL);
}

static ferry_err err_by_name(const char *s) {
    static const struct {
        const char *name;
        ferry_err rc;
    } names[] = {{"OK", FERRY_OK},
                 {"EFORMAT", FERRY_EFORMAT},
                 {"ETOOBIG", FERRY_ETOOBIG},
                 {"EINVAL", FERRY_EINVAL},
                 {"EVERSION", FERRY_EVERSION}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].rc;
    fail_msg("unknown result '%s' in MANIFEST", s);
    return FERRY_ERR_COUNT;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    unsigned char *buf = malloc(FERRY_MAX_PAYLOAD);
    *len = fread(buf, 1, FERRY_MAX_PAYLOAD, f);
    fclose(f);
    return buf;
}

/* Every file in MANIFEST decodes to its expected result; valid ones match their .json and our
 * encoder still writes exactly those bytes; every payload file in the folder is listed. */
static void test_golden(void **state) {
    (void)state;
    char line[1024], path[2048];
    int listed = 0, valid = 0, future = 0, truncated = 0, corrupt = 0;
    FILE *mf = fopen(FERRY_GOLDEN_DIR "/MANIFEST", "r");
    assert_non_null(mf);
    json_t *seen = json_object();
    while (fgets(line, sizeof(line), mf) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *file = strtok(line, " ");
        char *expect = strtok(NULL, " ");
        char *want_why = strtok(NULL, "");
        assert_non_null(file);
        assert_non_null(expect);
        json_object_set_new(seen, file, json_true());
        snprintf(path, sizeof(path), "%s/%s", FERRY_GOLDEN_DIR, file);
        size_t len = 0;
        unsigned char *buf = read_file(path, &len);
        json_t *msg = NULL;
        char why[512] = "";
        ferry_err rc = ferry_proto_decode(buf, len, &msg, why, sizeof(why));
        if (rc != err_by_name(expect) || (want_why != NULL && strstr(why, want_why) == NULL))
            fail_msg("%s: got %d \"%s\", want %s \"%s\"", file, rc, why, expect,
                     want_why != NULL ? want_why : "");
        if (rc == FERRY_OK) {
            snprintf(path, sizeof(path), "%s/%.*s.json", FERRY_GOLDEN_DIR,
                     (int)(strlen(file) - strlen(".msgpack")), file);
            json_t *want = json_load_file(path, 0, NULL);
            assert_non_null(want);
            assert_json_equal(msg, want);
            unsigned char *again = NULL;
            size_t alen = 0;
            assert_int_equal(ferry_proto_encode(want, &again, &alen), FERRY_OK);
            if (alen != len || memcmp(again, buf, len) != 0)
                fail_msg("%s: the encoder no longer writes these bytes (wire format changed?)",
                         file);
            ferry_free(again);
            json_decref(want);
            valid++;
        }
        future += strncmp(file, "future-", 7) == 0;
        truncated += strncmp(file, "truncated-", 10) == 0;
        corrupt += strncmp(file, "corrupt-", 8) == 0;
        json_decref(msg);
        free(buf);
        listed++;
    }
    fclose(mf);
    DIR *d = opendir(FERRY_GOLDEN_DIR);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 8 && strcmp(e->d_name + n - 8, ".msgpack") == 0 &&
            json_object_get(seen, e->d_name) == NULL)
            fail_msg("%s is not in MANIFEST", e->d_name);
    }
    closedir(d);
    json_decref(seen);
    assert_true(valid >= 7 && future >= 1 && truncated >= 2 && corrupt >= 10);
    assert_int_equal(listed, valid + future + truncated + corrupt);
}

static void test_alloc_failures(void **state) {
    (void)state;
    size_t len = 0;
    unsigned char *buf = read_file(FERRY_GOLDEN_DIR "/valid-node-sync.msgpack", &len);
    long n;
    for (n = 1; n < 100000; n++) {
        json_t *msg = NULL;
        char why[256];
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_proto_decode(buf, len, &msg, why, sizeof(why));
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK) {
            json_decref(msg);
            break;
        }
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_null(msg);
    }
    assert_true(n > 10 && n < 100000);
    free(buf);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_messages), cmocka_unit_test(test_invalid_messages),
        cmocka_unit_test(test_status_limits),  cmocka_unit_test(test_stats_limits),
        cmocka_unit_test(test_envelope),       cmocka_unit_test(test_golden),
        cmocka_unit_test(test_alloc_failures),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
