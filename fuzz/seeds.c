/* ferry-fuzz-seeds: write seed corpora for the fuzz targets of broker-bridge and edge-sync code
 * (fuzz_bridge_record, fuzz_edge_record, fuzz_api_route) into DIR/<target>/, made by the stores'
 * own encoders so that they track the formats on disk; and for fuzz_selector (selectors of the
 * sample apps and their string forms) and fuzz_engine_wire (engine answers as jansson and our
 * log frame encoder make them); and for fuzz_sql (handlers, and events as jansson writes them).
 * fuzz/seed.sh runs it.
 * usage: ferry-fuzz-seeds DIR */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../broker-bridge/outbox.h"
#include "../broker-bridge/store.h"
#include "../edge-sync/store.h"
#include "ferry/app.h"
#include "ferry/proto.h"
#include "ferry/topics.h"
#include "fuzz_util.h"

static const char app_text[] =
    "{\"name\":\"web\",\"description\":\"Demo web app\",\"labels\":{\"team\":\"edge\"},"
    "\"selector\":{\"matchLabels\":{\"example.com/zone\":\"a\"}},"
    "\"services\":[{\"name\":\"httpd\",\"image\":\"busybox:1.36\","
    "\"command\":[\"httpd\",\"-f\",\"-p\",\"8080\"],"
    "\"env\":[{\"name\":\"MODE\",\"value\":\"prod\"}],"
    "\"ports\":[{\"containerPort\":8080,\"hostPort\":18080}]}],\"replicas\":1}";
static const char app_min_text[] =
    "{\"name\":\"db\",\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}";
static const char node_text[] = "{\"name\":\"edge-1\",\"labels\":{\"example.com/zone\":\"a\","
                                "\"tier\":\"front\"}}";

static const char *out_dir;
static int status;

static void fail(const char *what) {
    fprintf(stderr, "ferry-fuzz-seeds: %s\n", what);
    status = 1;
}

/* Write kind byte (< 0: none), key and a NUL (key NULL: neither), then value, as one seed. */
static void seed(const char *target, const char *name, int kind, const char *key, const void *value,
                 size_t len) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fail(strerror(errno));
        return;
    }
    snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fail(strerror(errno));
        return;
    }
    if (kind >= 0)
        fputc(kind, f);
    if (key != NULL)
        fwrite(key, 1, strlen(key) + 1, f);
    fwrite(value, 1, len, f);
    if (fclose(f) != 0)
        fail(strerror(errno));
}

/* One seed made by an encoder: its result err and its output buf (freed here). */
static void encoded(const char *target, const char *name, int kind, const char *key, ferry_err err,
                    unsigned char *buf, size_t len) {
    if (err == FERRY_OK)
        seed(target, name, kind, key, buf, len);
    else
        fprintf(stderr, "ferry-fuzz-seeds: cannot encode %s/%s: %s\n", target, name,
                ferry_strerror(err));
    status |= err != FERRY_OK;
    ferry_free(buf);
}

/* A bridge record (rec stolen) through ferry_store__encode_record. */
static void bridge_record(const char *name, int kind, const char *key, json_t *rec) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = rec != NULL ? ferry_store__encode_record(rec, &buf, &len) : FERRY_ENOMEM;
    encoded("fuzz_bridge_record", name, kind, key, err, buf, len);
    json_decref(rec);
}

/* An outbox entry carrying msg (stolen) on topic tp. */
static void bridge_outbox(const char *name, const ferry_topic *tp, json_t *msg) {
    char topic[FERRY_TOPIC_MAX];
    unsigned char *payload = NULL, *buf = NULL;
    size_t plen = 0, len = 0;
    ferry_err err = msg != NULL ? ferry_topic_build(tp, topic, sizeof(topic)) : FERRY_ENOMEM;
    if (err == FERRY_OK)
        err = ferry_proto_encode(msg, &payload, &plen);
    if (err == FERRY_OK)
        err = ferry_outbox__encode(topic, payload, plen, &buf, &len);
    encoded("fuzz_bridge_record", name, FUZZ_BRIDGE_OUTBOX, NULL, err, buf, len);
    ferry_free(payload);
    json_decref(msg);
}

static void bridge_seeds(const json_t *app, const json_t *app_min) {
    const json_t *labels = json_object_get(json_object_get(app, "selector"), "matchLabels");
    bridge_record("app", FUZZ_BRIDGE_APP, "default/web",
                  json_pack("{s:s, s:s, s:i, s:b, s:O, s:I, s:I}", "ns", "default", "name", "web",
                            "version", 7, "deleted", 0, "spec", app, "createdAt",
                            (json_int_t)1764139488000, "updatedAt", (json_int_t)1764139499000));
    bridge_record("app-tombstone", FUZZ_BRIDGE_APP, "prod/db",
                  json_pack("{s:s, s:s, s:i, s:b, s:O, s:I, s:I}", "ns", "prod", "name", "db",
                            "version", 12, "deleted", 1, "spec", app_min, "createdAt",
                            (json_int_t)0, "updatedAt", (json_int_t)-1));
    bridge_record("node", FUZZ_BRIDGE_NODE, "default/edge-1",
                  json_pack("{s:s, s:s, s:O, s:I, s:I}", "ns", "default", "name", "edge-1",
                            "labels", labels, "createdAt", (json_int_t)1764139488000, "updatedAt",
                            (json_int_t)1764139488000));
    bridge_record("node-no-labels", FUZZ_BRIDGE_NODE, "default/edge-2",
                  json_pack("{s:s, s:s, s:{}, s:I, s:I}", "ns", "default", "name", "edge-2",
                            "labels", "createdAt", (json_int_t)1, "updatedAt", (json_int_t)2));
    bridge_record("status", FUZZ_BRIDGE_STATUS, "default/web/edge-1",
                  json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:[{s:s, s:s, s:i, s:i, s:s, "
                            "s:s}], s:I}",
                            "ns", "default", "node", "edge-1", "app", "web", "version", 7, "phase",
                            "Running", "message", "1/1 containers running", "ts",
                            (json_int_t)1764139488000, "containers", "name", "httpd", "state",
                            "running", "restarts", 0, "exitCode", 0, "error", "", "image",
                            "busybox:1.36", "updatedAt", (json_int_t)1764139488000));
    bridge_record("nodestate", FUZZ_BRIDGE_NODESTATE, "default/edge-1",
                  json_pack("{s:s, s:s, s:b, s:I, s:{s:b, s:[{s:i, s:s, s:i}]}}", "ns", "default",
                            "node", "edge-1", "online", 1, "ts", (json_int_t)1764139488000, "gpu",
                            "sharing", 0, "devices", "index", 0, "model", "NVIDIA H100",
                            "memoryMiB", 81559));
    bridge_record("config", FUZZ_BRIDGE_CONFIG, "default/web-conf",
                  json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:s, s:{s:s}}, s:I, s:I}", "ns",
                            "default", "name", "web-conf", "kind", "config", "version", 4, "config",
                            "name", "web-conf", "kind", "config", "data", "app.conf", "mode=prod\n",
                            "createdAt", (json_int_t)1764139488000, "updatedAt",
                            (json_int_t)1764139488000));

    ferry_topic label = {FERRY_TOPIC_APP_LABEL, "default", "", "web", "example.com/zone", "a"};
    ferry_topic sync = {FERRY_TOPIC_NODE_SYNC, "default", "edge-1", "", "", ""};
    bridge_outbox("outbox-put", &label,
                  json_pack("{s:s, s:s, s:s, s:i, s:O}", "type", FERRY_MSG_APP_PUT, "ns", "default",
                            "app", "web", "version", 7, "spec", app));
    bridge_outbox("outbox-sync", &sync,
                  json_pack("{s:s, s:s, s:s, s:i, s:b, s:O, s:[]}", "type", FERRY_MSG_NODE_SYNC,
                            "ns", "default", "node", "edge-1", "rev", 9, "registered", 1, "labels",
                            labels, "apps"));
}

static void edge_app(const char *name, const char *key, const ferry_estore_app *app) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = ferry_estore__encode_app(app, &buf, &len);
    encoded("fuzz_edge_record", name, FUZZ_EDGE_APP, key, err, buf, len);
}

/* The node record node (stolen). */
static void edge_node(const char *name, json_t *node) {
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_err err = node != NULL ? ferry_estore__encode_node(node, &buf, &len) : FERRY_ENOMEM;
    encoded("fuzz_edge_record", name, FUZZ_EDGE_NODE, NULL, err, buf, len);
    json_decref(node);
}

static void edge_seeds(json_t *app, json_t *app_min) {
    const json_t *labels = json_object_get(json_object_get(app, "selector"), "matchLabels");
    ferry_estore_app held = {7, false, app}, small = {1, false, app_min}, tomb = {12, true, NULL};
    edge_app("app", "web", &held);
    edge_app("app-min", "db", &small);
    edge_app("app-tombstone", "web", &tomb);
    edge_node("node", json_pack("{s:i, s:b, s:O}", "rev", 9, "registered", 1, "labels", labels));
    edge_node("node-fresh", json_pack("{s:i, s:b, s:{}}", "rev", 0, "registered", 0, "labels"));
}

static void route_seeds(void) {
    static const char *const paths[] = {
        "/healthz",
        "/v1/namespaces/default/apps?page=2&pageSize=50&name=we",
        "/v1/namespaces/default/apps/web",
        "/v1/namespaces/default/apps/web/status",
        "/v1/namespaces/prod/nodes?pageSize=1000",
        "/v1/namespaces/prod/nodes/edge-1",
        "/v1/namespaces/prod/nodes/edge-1/apps",
        "/v1/namespaces/prod/nodes/edge-1/enroll",
        "/v1/enroll",
        "/v1/broker/debug",
        "/v1/broker/debug/alice",
        "/v1/namespaces/default/apps/web/status/extra",
        "/v1/namespaces//apps",
    };
    char name[32];
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        snprintf(name, sizeof(name), "path-%zu", i);
        seed("fuzz_api_route", name, -1, NULL, paths[i], strlen(paths[i]));
    }
    /* Bodies: "PATH", NUL, body. */
    seed("fuzz_api_route", "post-app", -1, "/v1/namespaces/default/apps", app_text,
         strlen(app_text));
    seed("fuzz_api_route", "put-app", -1, "/v1/namespaces/default/apps/db", app_min_text,
         strlen(app_min_text));
    seed("fuzz_api_route", "post-node", -1, "/v1/namespaces/prod/nodes", node_text,
         strlen(node_text));
    static const char relabel[] = "{\"labels\":{\"tier\":\"\"}}";
    seed("fuzz_api_route", "put-node", -1, "/v1/namespaces/prod/nodes/edge-1", relabel,
         strlen(relabel));
}

/* Frames (fuzz_util.h) for a frame target: msgs is [[topic index, message], ...] (stolen); a
 * message that is the string "" is an empty payload. */
static void frames(const char *target, const char *name, json_t *msgs) {
    unsigned char *all = NULL;
    size_t total = 0, i;
    json_t *m;
    ferry_err err = msgs != NULL ? FERRY_OK : FERRY_ENOMEM;
    json_array_foreach(msgs, i, m) {
        unsigned char *buf = NULL, *grown;
        size_t len = 0;
        json_t *msg = json_array_get(m, 1);
        if (err != FERRY_OK)
            break;
        if (!json_is_string(msg) && (err = ferry_proto_encode(msg, &buf, &len)) != FERRY_OK)
            break;
        if (len > 0xffff || (grown = realloc(all, total + FUZZ_FRAME_HEAD + len)) == NULL) {
            err = FERRY_ETOOBIG;
            ferry_free(buf);
            break;
        }
        all = grown;
        all[total] = (unsigned char)json_integer_value(json_array_get(m, 0));
        all[total + 1] = (unsigned char)(len >> 8);
        all[total + 2] = (unsigned char)len;
        if (len > 0)
            memcpy(all + total + FUZZ_FRAME_HEAD, buf, len);
        total += FUZZ_FRAME_HEAD + len;
        ferry_free(buf);
    }
    if (err == FERRY_OK)
        seed(target, name, -1, NULL, all, total);
    else
        fail("cannot build frames");
    free(all);
    json_decref(msgs);
}

static void frame_seeds(json_t *app) {
    json_t *spec = json_deep_copy(app);
    json_object_set_new(spec, "name", json_string("web"));
    json_object_set_new(spec, "selector", json_pack("{s:{s:s}}", "matchLabels", "zone", "a"));
    frames("fuzz_edge_sync", "register-put-patch-delete",
           json_pack("[[i, {s:s, s:s, s:s, s:i, s:b, s:{s:s}, s:[{s:s, s:i, s:O}]}],"
                     " [i, {s:s, s:s, s:s, s:i, s:O}],"
                     " [i, {s:s, s:s, s:s, s:i, s:i, s:{s:{s:{s:s}}}}],"
                     " [i, {s:s, s:s, s:s, s:i}]]",
                     0, "type", FERRY_MSG_NODE_SYNC, "ns", "default", "node", "n1", "rev", 3,
                     "registered", 1, "labels", "zone", "a", "apps", "app", "web", "version", 2,
                     "spec", spec, 2, "type", FERRY_MSG_APP_PUT, "ns", "default", "app", "web",
                     "version", 4, "spec", spec, 2, "type", FERRY_MSG_APP_PATCH, "ns", "default",
                     "app", "web", "base", 4, "version", 5, "patch", "obj", "description", "set",
                     "x", 1, "type", FERRY_MSG_APP_DELETE, "ns", "default", "app", "web", "version",
                     6));
    frames("fuzz_node_msgs", "hello-status-online-clear",
           json_pack("[[i, {s:s, s:s, s:s, s:s, s:{s:i}}],"
                     " [i, {s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:[]}],"
                     " [i, {s:s, s:s, s:s, s:b, s:i}], [i, s]]",
                     0, "type", FERRY_MSG_NODE_HELLO, "ns", "default", "node", "n1", "reason",
                     "connect", "apps", "web", 1, 1, "type", FERRY_MSG_APP_STATUS, "ns", "default",
                     "node", "n1", "app", "web", "version", 1, "phase", "Running", "message", "",
                     "ts", 1, "containers", 2, "type", FERRY_MSG_NODE_ONLINE, "ns", "default",
                     "node", "n1", "online", 1, "ts", 1, 1, ""));
    /* Two cumulative reports of n1 (topic 9), then one of n2 (topic 10) naming n1. */
    json_t *lat = json_pack("[i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i]", 0, 0, 3, 0, 0, 0, 0, 0, 0,
                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    frames("fuzz_node_msgs", "stats-reports",
           json_pack("[[i, {s:s, s:s, s:s, s:I, s:I, s:[{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, "
                     "s:O}]}], [i, {s:s, s:s, s:s, s:I, s:I, s:[{s:s, s:s, s:s, s:i, s:i, s:i, "
                     "s:i, s:i, s:O}]}], [i, {s:s, s:s, s:s, s:I, s:I, s:[]}]]",
                     9, "type", FERRY_MSG_NODE_STATS, "ns", "default", "node", "n1", "start",
                     (json_int_t)1, "ts", (json_int_t)2, "calls", "app", "web", "service", "s",
                     "function", "*", "requests", 4, "success", 3, "clientErrors", 0,
                     "serverErrors", 0, "timeouts", 1, "latency", lat, 9, "type",
                     FERRY_MSG_NODE_STATS, "ns", "default", "node", "n1", "start", (json_int_t)1,
                     "ts", (json_int_t)3, "calls", "app", "web", "service", "s", "function", "*",
                     "requests", 2, "success", 2, "clientErrors", 0, "serverErrors", 0, "timeouts",
                     0, "latency", lat, 10, "type", FERRY_MSG_NODE_STATS, "ns", "default", "node",
                     "n1", "start", (json_int_t)1, "ts", (json_int_t)4, "calls"));
    json_decref(lat);
    json_decref(spec);
}

/* ?selector= values: string forms as users write them, the selectors of the sample apps as JSON,
 * and every JSON one in the string form (fuzz_util.h's encoder). */
static void selector_seeds(const json_t *app) {
    static const char *const strings[] = {
        "",
        "region=east",
        " region = east , tier notin ( gw , edge ) , ! gpu ",
        "tier in (gw,core)",
        "tier notin (edge), region != west",
        "example.com/zone==a,gpu,!example.com/old",
        "region=east,region=west",
        "zone in (,a)",
    };
    static const char *const objects[] = {
        "{\"matchLabels\":{\"region\":\"east\",\"tier\":\"\"}}",
        "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"gw\","
        "\"edge\"]},{\"key\":\"gpu\",\"operator\":\"Exists\"},{\"key\":\"example.com/x\","
        "\"operator\":\"DoesNotExist\",\"values\":[]},{\"key\":\"zone\",\"operator\":"
        "\"NotIn\",\"values\":[\"\",\"b\"]}]}",
    };
    char name[32];
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        snprintf(name, sizeof(name), "string-%zu", i);
        seed("fuzz_selector", name, -1, NULL, strings[i], strlen(strings[i]));
    }
    for (size_t i = 0; i <= sizeof(objects) / sizeof(objects[0]); i++) {
        json_t *sel = i < sizeof(objects) / sizeof(objects[0])
                          ? json_loads(objects[i], 0, NULL)
                          : json_incref(json_object_get(app, "selector"));
        char *json = sel != NULL ? json_dumps(sel, JSON_COMPACT) : NULL;
        char *text = sel != NULL ? fuzz_selector_string(sel) : NULL;
        if (json == NULL || text == NULL) {
            fail("cannot encode a sample selector");
        } else {
            snprintf(name, sizeof(name), "json-%zu", i);
            seed("fuzz_selector", name, -1, NULL, json, strlen(json));
            snprintf(name, sizeof(name), "encoded-%zu", i);
            seed("fuzz_selector", name, -1, NULL, text, strlen(text));
        }
        free(json);
        free(text);
        json_decref(sel);
    }
}

/* One fuzz_engine_wire seed: kind, the chunking byte, the engine's bytes. */
static void wire_seed(const char *name, int kind, unsigned char chunking, const void *body,
                      size_t len) {
    unsigned char buf[1024];
    if (len + 1 > sizeof(buf)) {
        fail("an engine seed is too long");
        return;
    }
    buf[0] = chunking;
    memcpy(buf + 1, body, len);
    seed("fuzz_engine_wire", name, kind, NULL, buf, len + 1);
}

/* What the engines answer, as jansson writes it (each object is one line of a stream). */
static void engine_seeds(void) {
    json_t *lines[] = {
        json_pack("{s:s, s:s}", "status", "Pulling from ferry-test/busybox", "id", "1"),
        json_pack("{s:s, s:{s:i, s:i}, s:s}", "status", "Downloading", "progressDetail", "current",
                  512, "total", 1024, "id", "4f4fb700ef54"),
        json_pack("{s:{}, s:{s:s}, s:s}", "progressDetail", "errorDetail", "message",
                  "initializing source: boom", "error", "initializing source: boom"),
        json_pack("{s:s}", "status", "Status: Downloaded newer image for ferry-test/busybox:1"),
        json_pack("{s:s}", "message", "pull access denied for x, repository does not exist\n"),
        json_pack("{s:s, s:{s:s, s:i}}", "Id", "4f4fb700ef54", "State", "Status", "running",
                  "ExitCode", 0),
    };
    char stream[1024] = "", *one;
    size_t n = 0;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (lines[i] == NULL || (one = json_dumps(lines[i], JSON_COMPACT)) == NULL) {
            fail("cannot encode an engine answer");
            continue;
        }
        if (i < 4) /* the lines of a pull that failed */
            n += (size_t)snprintf(stream + n, sizeof(stream) - n, "%s\r\n", one);
        else
            wire_seed(i == 4 ? "body-error" : "body-inspect", FUZZ_WIRE_BODY, 0, one, strlen(one));
        if (i == 4)
            wire_seed("stream-early-error", FUZZ_WIRE_STREAM, 3, one, strlen(one));
        free(one);
        json_decref(lines[i]);
    }
    wire_seed("stream-pull", FUZZ_WIRE_STREAM, 7, stream, n);
    static const char text[] = "page not found\n";
    wire_seed("body-text", FUZZ_WIRE_BODY, 9, text, strlen(text));

    unsigned char frames[64];
    size_t flen = fuzz_log_frame(frames, 1, "listening on :80\n", 17);
    flen += fuzz_log_frame(frames + flen, 2, "warning\n", 8);
    flen += fuzz_log_frame(frames + flen, 1, "", 0);
    wire_seed("logs", FUZZ_WIRE_LOGS, 5, frames, flen);
}

/* fuzz_sql: handlers as the runtime's README and unit cases write them, each in a frame followed
 * by frames of events as jansson writes them. */
static void sql_seeds(void) {
    static const char *const handlers[] = {
        "select name as result where uid > 6",
        "select name as result from msg where uid > 6",
        "select a->>'b' as b, json_extract(a, '$.b.c[1]') as c, _event from msg m where m.ok",
        "select j.value as v from msg, json_each(msg.tags) j where j.value > 1",
        "with recursive c(x) as (select 1 union all select x + 1 from c limit 5) "
        "select count(*) as n, sum(x) as s from c, msg where uid is not distinct from 7",
        "select uid * 2 as x, upper(name) u, x'00ff' as b, \"a.b\" where temp > 20 "
        "union all select 1, 2, 3, 4 order by 1 limit 1 -- end",
    };
    json_t *events[] = {
        json_pack("{s:i, s:s, s:f}", "uid", 7, "name", "ferry", "temp", 21.5),
        json_pack("{s:i, s:n, s:b, s:{s:{s:[i,i]}}, s:[i,i,i], s:s}", "uid", 3, "name", "ok", 1,
                  "a", "b", "c", 1, 2, "tags", 1, 2, 3, "a.b", "dot"),
        json_pack("[i]", 1),
    };
    char *texts[3] = {NULL, NULL, NULL};
    for (size_t e = 0; e < 3; e++)
        if (events[e] == NULL || (texts[e] = json_dumps(events[e], JSON_COMPACT)) == NULL)
            fail("cannot encode an event");
    for (size_t h = 0; h < sizeof(handlers) / sizeof(handlers[0]) && status == 0; h++) {
        unsigned char buf[2048];
        size_t n = 0;
        const char *parts[4] = {handlers[h], texts[0], texts[1], texts[2]};
        for (size_t i = 0; i < 4; i++) {
            size_t len = strlen(parts[i]);
            if (n + FUZZ_FRAME_HEAD + len > sizeof(buf))
                break;
            buf[n] = 0;
            buf[n + 1] = (unsigned char)(len >> 8);
            buf[n + 2] = (unsigned char)len;
            memcpy(buf + n + FUZZ_FRAME_HEAD, parts[i], len);
            n += FUZZ_FRAME_HEAD + len;
        }
        char name[32];
        snprintf(name, sizeof(name), "handler-%zu", h);
        seed("fuzz_sql", name, -1, NULL, buf, n);
    }
    for (size_t e = 0; e < 3; e++) {
        free(texts[e]);
        json_decref(events[e]);
    }
}

int main(int argc, char **argv) {
    json_t *raw = NULL, *app = NULL, *raw_min = NULL, *app_min = NULL;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ferry-fuzz-seeds: cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    if ((raw = json_loads(app_text, 0, NULL)) == NULL || (app = ferry_app_normalize(raw)) == NULL ||
        (raw_min = json_loads(app_min_text, 0, NULL)) == NULL ||
        (app_min = ferry_app_normalize(raw_min)) == NULL) {
        fail("the sample apps do not load");
    } else {
        bridge_seeds(app, app_min);
        edge_seeds(app, app_min);
        route_seeds();
        frame_seeds(app);
        selector_seeds(app);
        engine_seeds();
        sql_seeds();
    }
    json_decref(raw);
    json_decref(app);
    json_decref(raw_min);
    json_decref(app_min);
    return status;
}
