/* ferryctl samples: example messages, golden payload files and fuzz seed corpora, all produced by
 * our own encoder so that they track the wire format. */
#include "samples.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/app.h"
#include "ferry/codec.h"
#include "ferry/patch.h"
#include "ferry/proto.h"
#include "ferry/topics.h"

const char *const samples_app_v1 =
    "{\"name\":\"web\",\"description\":\"Demo web app\",\"labels\":{\"team\":\"edge\"},"
    "\"selector\":{\"matchLabels\":{\"zone\":\"a\"}},"
    "\"services\":[{\"name\":\"httpd\",\"image\":\"busybox:1.36\","
    "\"command\":[\"httpd\",\"-f\",\"-p\",\"8080\"],"
    "\"env\":[{\"name\":\"MODE\",\"value\":\"prod\"},{\"name\":\"LOG_LEVEL\",\"value\":\"info\"}],"
    "\"ports\":[{\"containerPort\":8080,\"hostPort\":18080}]},"
    "{\"name\":\"sidecar\",\"image\":\"busybox:1.36\",\"command\":[\"sleep\",\"3600\"],"
    "\"env\":[{\"name\":\"TARGET\",\"value\":\"localhost:8080\"}]}],\"replicas\":1}";

const char *const samples_app_v2 =
    "{\"name\":\"web\",\"description\":\"Demo web app\",\"labels\":{\"team\":\"edge\",\"tier\":"
    "\"front\"},\"selector\":{\"matchLabels\":{\"zone\":\"a\"}},"
    "\"services\":[{\"name\":\"cache\",\"image\":\"redis:7\","
    "\"ports\":[{\"containerPort\":6379,\"protocol\":\"TCP\"}]},"
    "{\"name\":\"httpd\",\"image\":\"busybox:1.36\","
    "\"command\":[\"httpd\",\"-f\",\"-p\",\"8080\"],"
    "\"env\":[{\"name\":\"MODE\",\"value\":\"staging\"},{\"name\":\"LOG_LEVEL\",\"value\":"
    "\"info\"}],\"ports\":[{\"containerPort\":8080,\"hostPort\":18080}]}],\"replicas\":1}";

static json_t *load_app(const char *text) {
    json_t *raw = json_loads(text, 0, NULL);
    json_t *app = raw != NULL ? ferry_app_normalize(raw) : NULL;
    json_decref(raw);
    return app;
}

static const char *const msg_texts[] = {
    "app-delete",
    "{\"type\":\"app.delete\",\"ns\":\"default\",\"app\":\"web\",\"version\":12}",
    "node-sync-unregistered",
    "{\"type\":\"node.sync\",\"ns\":\"default\",\"node\":\"edge-2\",\"rev\":13,"
    "\"registered\":false,\"labels\":{},\"apps\":[]}",
    "node-hello",
    "{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"edge-1\",\"reason\":\"connect\","
    "\"apps\":{\"web\":9,\"db\":3}}",
    "app-status",
    "{\"type\":\"app.status\",\"ns\":\"default\",\"node\":\"edge-1\",\"app\":\"web\","
    "\"version\":9,\"phase\":\"Running\",\"message\":\"2/2 containers running\","
    "\"ts\":1764139488000,\"containers\":[{\"name\":\"httpd\",\"state\":\"running\","
    "\"restarts\":0,\"exitCode\":0,\"error\":\"\",\"image\":\"busybox:1.36\"},"
    "{\"name\":\"sidecar\",\"state\":\"exited\",\"restarts\":3,\"exitCode\":137,"
    "\"error\":\"OOMKilled\",\"image\":\"busybox:1.36\"}]}",
    "node-online",
    "{\"type\":\"node.online\",\"ns\":\"default\",\"node\":\"edge-1\",\"online\":true,"
    "\"ts\":1764139488000}",
    "node-online-will",
    "{\"type\":\"node.online\",\"ns\":\"default\",\"node\":\"edge-1\",\"online\":false}",
    "extra-fields",
    "{\"type\":\"app.delete\",\"ns\":\"default\",\"app\":\"web\",\"version\":12,"
    "\"trace\":\"4bf92f3577b34da6\",\"future\":{\"x\":[1,2.5,null]}}",
};

#define N_TEXT (sizeof(msg_texts) / sizeof(msg_texts[0]) / 2)
#define N_BUILT 3 /* app-put, app-patch, node-sync: built from the app samples */

size_t samples_count(void) {
    return N_BUILT + N_TEXT;
}

json_t *samples_message(size_t i, const char **name) {
    json_t *v1 = NULL;
    json_t *v2 = NULL;
    json_t *m = NULL;

    if (i >= N_BUILT) {
        i -= N_BUILT;
        if (i >= N_TEXT)
            return NULL;
        if (name != NULL)
            *name = msg_texts[2 * i];
        return json_loads(msg_texts[2 * i + 1], 0, NULL);
    }
    if ((v1 = load_app(samples_app_v1)) == NULL || (v2 = load_app(samples_app_v2)) == NULL)
        goto out;
    if (i == 0) {
        if (name != NULL)
            *name = "app-put";
        m = json_pack("{s:s, s:s, s:s, s:i, s:O}", "type", FERRY_MSG_APP_PUT, "ns", "default",
                      "app", "web", "version", 7, "spec", v1);
    } else if (i == 1) {
        if (name != NULL)
            *name = "app-patch";
        m = json_pack("{s:s, s:s, s:s, s:i, s:i, s:o}", "type", FERRY_MSG_APP_PATCH, "ns",
                      "default", "app", "web", "base", 7, "version", 9, "patch",
                      ferry_patch_diff(v1, v2));
    } else {
        if (name != NULL)
            *name = "node-sync";
        m = json_pack("{s:s, s:s, s:s, s:i, s:b, s:{s:s, s:s}, s:[{s:s, s:i, s:O}, {s:s, s:i}]}",
                      "type", FERRY_MSG_NODE_SYNC, "ns", "default", "node", "edge-1", "rev", 12,
                      "registered", 1, "labels", "zone", "a", "example.com/tier", "edge", "apps",
                      "app", "web", "version", 9, "spec", v2, "app", "db", "version", 3);
    }
out:
    json_decref(v1);
    json_decref(v2);
    return m;
}

/* ---- files ------------------------------------------------------------------------------------
 */

static int write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "ferryctl: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = fwrite(data, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "ferryctl: short write to %s\n", path);
    return rc;
}

static int mkdir_p(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ferryctl: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- golden files -----------------------------------------------------------------------------
 */

/* Crafted payloads: msgpack that our encoder would never write, packed by hand. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} raw;

static void raw_init(raw *r) {
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
}

static void raw_str(raw *r, const char *s) {
    msgpack_pack_str(&r->pk, strlen(s));
    msgpack_pack_str_body(&r->pk, s, strlen(s));
}

/* Header of an app.delete: map of n entries, "v": 1, "type": "app.delete", then n-2 more. */
static void raw_delete_head(raw *r, size_t n) {
    msgpack_pack_map(&r->pk, n);
    raw_str(r, "v");
    msgpack_pack_int64(&r->pk, 1);
    raw_str(r, "type");
    raw_str(r, FERRY_MSG_APP_DELETE);
}

typedef struct {
    FILE *manifest;
    const char *dir;
    int rc;
} golden;

static const char *err_name(ferry_err rc) {
    switch (rc) {
    case FERRY_OK:
        return "OK";
    case FERRY_EFORMAT:
        return "EFORMAT";
    case FERRY_ETOOBIG:
        return "ETOOBIG";
    case FERRY_EINVAL:
        return "EINVAL";
    case FERRY_EVERSION:
        return "EVERSION";
    default:
        return ferry_strerror(rc);
    }
}

/* Write one golden payload and its manifest line, after checking that the decoder gives the
 * expected result today (so a changed sample cannot silently produce a wrong manifest). */
static void golden_put(golden *g, const char *file, const char *expect, const char *why,
                       const void *data, size_t len) {
    json_t *m = NULL;
    char got[512];
    ferry_err rc = ferry_proto_decode(data, len, &m, got, sizeof(got));
    json_decref(m);
    if (strcmp(err_name(rc), expect) != 0 || strstr(got, why) == NULL) {
        fprintf(stderr, "ferryctl: golden %s: expected %s \"%s\", decoder says %s \"%s\"\n", file,
                expect, why, err_name(rc), got);
        g->rc = -1;
    }
    if (write_file(g->dir, file, data, len) != 0)
        g->rc = -1;
    fprintf(g->manifest, "%s %s %s\n", file, expect, why);
}

static void golden_raw(golden *g, const char *file, const char *expect, const char *why, raw *r) {
    golden_put(g, file, expect, why, r->sb.data, r->sb.size);
    msgpack_sbuffer_destroy(&r->sb);
}

static void golden_crafted(golden *g) {
    raw r;

    raw_init(&r); /* a map key that is an integer */
    raw_delete_head(&r, 3);
    msgpack_pack_int64(&r.pk, 7);
    raw_str(&r, "x");
    golden_raw(g, "corrupt-int-key.msgpack", "EFORMAT", "is not a string", &r);

    raw_init(&r);
    raw_delete_head(&r, 3);
    raw_str(&r, "type");
    raw_str(&r, FERRY_MSG_APP_DELETE);
    golden_raw(g, "corrupt-duplicate-key.msgpack", "EFORMAT", "duplicate map key 'type'", &r);

    raw_init(&r);
    raw_delete_head(&r, 3);
    raw_str(&r, "ns");
    msgpack_pack_str(&r.pk, 3);
    msgpack_pack_str_body(&r.pk, "d\xff\xfe", 3);
    golden_raw(g, "corrupt-bad-utf8.msgpack", "EFORMAT", "not valid UTF-8", &r);

    raw_init(&r);
    raw_delete_head(&r, 3);
    raw_str(&r, "ns");
    msgpack_pack_bin(&r.pk, 3);
    msgpack_pack_bin_body(&r.pk, "abc", 3);
    golden_raw(g, "corrupt-bin-value.msgpack", "EFORMAT", "bin value", &r);

    raw_init(&r); /* declares 2^32-1 items in a few bytes: must not allocate them */
    raw_delete_head(&r, 3);
    raw_str(&r, "apps");
    msgpack_pack_array(&r.pk, 0xffffffffu);
    msgpack_pack_nil(&r.pk);
    golden_raw(g, "corrupt-huge-count.msgpack", "ETOOBIG",
               "declares 4294967295 items, over the limit", &r);

    raw_init(&r);
    raw_delete_head(&r, 3);
    raw_str(&r, "deep");
    for (int i = 0; i < 40; i++)
        msgpack_pack_array(&r.pk, 1);
    msgpack_pack_nil(&r.pk);
    golden_raw(g, "corrupt-deep-nesting.msgpack", "ETOOBIG", "nesting deeper than 32", &r);

    raw_init(&r);
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_int64(&r.pk, 1);
    golden_raw(g, "corrupt-not-a-map.msgpack", "EFORMAT", "not a msgpack map", &r);

    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_str(&r, "type");
    raw_str(&r, FERRY_MSG_APP_DELETE);
    golden_raw(g, "corrupt-missing-version.msgpack", "EFORMAT", "no format version", &r);

    raw_init(&r);
    msgpack_pack_map(&r.pk, 2);
    raw_str(&r, "v");
    raw_str(&r, "1");
    raw_str(&r, "type");
    raw_str(&r, FERRY_MSG_APP_DELETE);
    golden_raw(g, "corrupt-version-not-int.msgpack", "EFORMAT", "not an integer", &r);

    raw_init(&r);
    msgpack_pack_map(&r.pk, 2);
    raw_str(&r, "v");
    msgpack_pack_int64(&r.pk, 1);
    raw_str(&r, "type");
    raw_str(&r, "app.rename");
    golden_raw(g, "corrupt-unknown-type.msgpack", "EFORMAT", "unknown message type 'app.rename'",
               &r);

    raw_init(&r);
    raw_delete_head(&r, 5);
    raw_str(&r, "ns");
    raw_str(&r, "Default_NS");
    raw_str(&r, "app");
    raw_str(&r, "web");
    raw_str(&r, "version");
    msgpack_pack_int64(&r.pk, 3);
    golden_raw(g, "corrupt-bad-name.msgpack", "EINVAL",
               "app.delete: field 'ns' must be a DNS label", &r);

    raw_init(&r);
    raw_delete_head(&r, 4);
    raw_str(&r, "ns");
    raw_str(&r, "default");
    raw_str(&r, "app");
    raw_str(&r, "web");
    golden_raw(g, "corrupt-missing-field.msgpack", "EINVAL",
               "app.delete: field 'version' is required", &r);

    raw_init(&r);
    raw_delete_head(&r, 5);
    raw_str(&r, "ns");
    raw_str(&r, "default");
    raw_str(&r, "app");
    raw_str(&r, "web");
    raw_str(&r, "version");
    msgpack_pack_uint64(&r.pk, UINT64_MAX);
    golden_raw(g, "corrupt-uint64-overflow.msgpack", "EFORMAT", "does not fit int64", &r);

    raw_init(&r);
    raw_delete_head(&r, 5);
    raw_str(&r, "ns");
    raw_str(&r, "default");
    raw_str(&r, "app");
    raw_str(&r, "web");
    raw_str(&r, "version");
    msgpack_pack_double(&r.pk, 3.0);
    golden_raw(g, "corrupt-version-float.msgpack", "EINVAL",
               "app.delete: field 'version' must be a positive integer", &r);
}

/* Messages that encode fine but break a rule of their type. */
static void golden_invalid(golden *g) {
    static const char *const cases[][3] = {
        {"corrupt-invalid-spec.msgpack", "services[0].ports[0].hostPort",
         "{\"type\":\"app.put\",\"ns\":\"default\",\"app\":\"web\",\"version\":4,\"spec\":"
         "{\"name\":\"web\",\"replicas\":2,\"services\":[{\"name\":\"a\",\"image\":\"x\","
         "\"ports\":[{\"containerPort\":80,\"hostPort\":8080}]}]}}"},
        {"corrupt-spec-name-mismatch.msgpack", "spec.name' must equal",
         "{\"type\":\"app.put\",\"ns\":\"default\",\"app\":\"web\",\"version\":4,\"spec\":"
         "{\"name\":\"api\",\"services\":[{\"name\":\"a\",\"image\":\"x\"}]}}"},
        {"corrupt-patch-version.msgpack", "field 'version' must be greater than 'base'",
         "{\"type\":\"app.patch\",\"ns\":\"default\",\"app\":\"web\",\"base\":5,\"version\":5,"
         "\"patch\":{\"obj\":{}}}"},
        {"corrupt-patch-shape.msgpack", "field 'patch' is not a valid patch",
         "{\"type\":\"app.patch\",\"ns\":\"default\",\"app\":\"web\",\"base\":5,\"version\":6,"
         "\"patch\":{\"obj\":{\"a\":{\"replace\":1}}}}"},
        {"corrupt-hello-reason.msgpack", "field 'reason' must be one of",
         "{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"n1\",\"reason\":\"boot\","
         "\"apps\":{}}"},
        {"corrupt-sync-duplicate-app.msgpack", "duplicate app 'web'",
         "{\"type\":\"node.sync\",\"ns\":\"default\",\"node\":\"n1\",\"rev\":3,"
         "\"registered\":true,\"labels\":{},\"apps\":[{\"app\":\"web\",\"version\":1},"
         "{\"app\":\"web\",\"version\":2}]}"},
        {"corrupt-status-phase.msgpack", "field 'phase' must be one of",
         "{\"type\":\"app.status\",\"ns\":\"default\",\"node\":\"n1\",\"app\":\"web\","
         "\"version\":1,\"phase\":\"Exploded\",\"message\":\"\",\"ts\":1,\"containers\":[]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *m = json_loads(cases[i][2], 0, NULL);
        unsigned char *buf = NULL;
        size_t len = 0;
        if (m == NULL || ferry_proto_encode(m, &buf, &len) != FERRY_OK) {
            fprintf(stderr, "ferryctl: cannot build %s\n", cases[i][0]);
            g->rc = -1;
        } else {
            golden_put(g, cases[i][0], "EINVAL", cases[i][1], buf, len);
        }
        ferry_free(buf);
        json_decref(m);
    }
}

int samples_write_golden(const char *dir) {
    char path[4096];
    golden g = {NULL, dir, 0};

    snprintf(path, sizeof(path), "%s/MANIFEST", dir);
    if ((g.manifest = fopen(path, "w")) == NULL) {
        fprintf(stderr, "ferryctl: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(g.manifest, "# Golden payloads, written by `ferryctl golden DIR`; checked by "
                        "test_proto.\n# FILE EXPECTED-RESULT SUBSTRING-OF-REASON\n");
    for (size_t i = 0; i < samples_count(); i++) {
        const char *name = NULL;
        json_t *m = samples_message(i, &name);
        json_t *dec = NULL;
        unsigned char *buf = NULL;
        size_t len = 0;
        char file[256];
        char why[256];
        if (m == NULL || ferry_proto_encode(m, &buf, &len) != FERRY_OK ||
            ferry_proto_decode(buf, len, &dec, why, sizeof(why)) != FERRY_OK) {
            fprintf(stderr, "ferryctl: sample %zu (%s) does not encode and decode\n", i,
                    name != NULL ? name : "?");
            g.rc = -1;
            goto next;
        }
        snprintf(file, sizeof(file), "valid-%s.msgpack", name);
        golden_put(&g, file, "OK", "", buf, len);
        snprintf(file, sizeof(file), "%s/valid-%s.json", dir, name);
        if (json_dump_file(dec, file, JSON_INDENT(2)) != 0)
            g.rc = -1;
        if (i == 0) { /* truncations of the largest sample */
            golden_put(&g, "truncated-app-put-half.msgpack", "EFORMAT", "truncated input", buf,
                       len / 2);
            golden_put(&g, "truncated-app-put-last-byte.msgpack", "EFORMAT", "truncated", buf,
                       len - 1);
            golden_put(&g, "truncated-app-put-header.msgpack", "ETOOBIG",
                       "declares 6 entries but only 2 bytes remain", buf, 3);
            unsigned char *more = ferry_malloc(len + 1);
            if (more != NULL) {
                memcpy(more, buf, len);
                more[len] = 0xc0;
                golden_put(&g, "corrupt-trailing-byte.msgpack", "EFORMAT", "trailing bytes", more,
                           len + 1);
            }
            ferry_free(more);
        }
        if (i == N_BUILT) { /* the app.delete sample, as a future format version */
            json_t *fut = json_deep_copy(m);
            unsigned char *fb = NULL;
            size_t fl = 0;
            json_t *v = json_integer(2);
            /* proto_encode always writes v=1: encode the envelope ourselves */
            json_t *env = json_pack("{s:o}", "v", v);
            if (fut == NULL || env == NULL || json_object_update(env, fut) != 0 ||
                ferry_msgpack_encode(env, &fb, &fl) != FERRY_OK)
                g.rc = -1;
            else
                golden_put(&g, "future-version-2.msgpack", "EVERSION",
                           "unsupported format version 2", fb, fl);
            ferry_free(fb);
            json_decref(env);
            json_decref(fut);
        }
    next:
        ferry_free(buf);
        json_decref(dec);
        json_decref(m);
    }
    golden_crafted(&g);
    golden_invalid(&g);
    if (fclose(g.manifest) != 0)
        g.rc = -1;
    return g.rc;
}

/* ---- fuzz seeds -------------------------------------------------------------------------------
 */

static int seed_bytes(const char *dir, const char *fuzzer, const char *name, const void *data,
                      size_t len) {
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/%s", dir, fuzzer);
    if (mkdir_p(sub) != 0)
        return -1;
    return write_file(sub, name, data, len);
}

static int seed_json(const char *dir, const char *fuzzer, const char *name, const json_t *v) {
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = ferry_msgpack_encode(v, &buf, &len) == FERRY_OK
                 ? seed_bytes(dir, fuzzer, name, buf, len)
                 : -1;
    ferry_free(buf);
    return rc;
}

static int seed_topics(const char *dir) {
    static const ferry_topic topics[] = {
        {FERRY_TOPIC_APP_LABEL, "default", "", "web", "example.com/zone", "eu-1"},
        {FERRY_TOPIC_APP_LABEL, "prod", "", "api", "tier", ""},
        {FERRY_TOPIC_APP_ALL, "default", "", "web", "", ""},
        {FERRY_TOPIC_NODE_SYNC, "default", "edge-1", "", "", ""},
        {FERRY_TOPIC_NODE_HELLO, "default", "edge-1", "", "", ""},
        {FERRY_TOPIC_NODE_STATUS, "default", "edge-1", "web", "", ""},
        {FERRY_TOPIC_NODE_ONLINE, "default", "edge-1", "", "", ""},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        char buf[FERRY_TOPIC_MAX];
        char name[32];
        snprintf(name, sizeof(name), "topic-%zu", i);
        if (ferry_topic_build(&topics[i], buf, sizeof(buf)) != FERRY_OK ||
            seed_bytes(dir, "fuzz_topic", name, buf, strlen(buf)) != 0)
            rc = -1;
    }
    return rc;
}

static int seed_patches(const char *dir) {
    json_t *v1 = load_app(samples_app_v1);
    json_t *v2 = load_app(samples_app_v2);
    json_t *pairs[4] = {NULL, NULL, NULL, NULL};
    int rc = v1 != NULL && v2 != NULL ? 0 : -1;

    if (rc == 0) {
        json_t *d12 = ferry_patch_diff(v1, v2);
        json_t *d21 = ferry_patch_diff(v2, v1);
        json_t *same = ferry_patch_diff(v1, v1);
        pairs[0] = json_pack("[O,o]", v1, d12);
        pairs[1] = json_pack("[O,o]", v2, d21);
        pairs[2] = json_pack("[O,o]", v1, same);
        pairs[3] = json_pack("[O,{s:O}]", v1, "set", v2);
    }
    for (size_t i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof(name), "pair-%zu", i);
        if (pairs[i] == NULL || seed_json(dir, "fuzz_patch", name, pairs[i]) != 0)
            rc = -1;
        json_decref(pairs[i]);
    }
    json_decref(v1);
    json_decref(v2);
    return rc;
}

int samples_write_seeds(const char *dir) {
    int rc = mkdir_p(dir);
    for (size_t i = 0; rc == 0 && i < samples_count(); i++) {
        const char *name = NULL;
        json_t *m = samples_message(i, &name);
        unsigned char *buf = NULL;
        size_t len = 0;
        if (m == NULL || ferry_proto_encode(m, &buf, &len) != FERRY_OK ||
            seed_bytes(dir, "fuzz_proto", name, buf, len) != 0 ||
            seed_bytes(dir, "fuzz_msgpack", name, buf, len) != 0)
            rc = -1;
        ferry_free(buf);
        json_decref(m);
    }
    const char *apps[] = {samples_app_v1, samples_app_v2,
                          "{\"name\":\"x\",\"services\":[{\"name\":\"a\",\"image\":\"i\"}]}"};
    for (size_t i = 0; rc == 0 && i < sizeof(apps) / sizeof(apps[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "app-%zu.json", i);
        rc = seed_bytes(dir, "fuzz_app_json", name, apps[i], strlen(apps[i]));
    }
    if (rc == 0) {
        json_t *scalars = json_pack("[n,b,b,i,I,I,f,s,s,{},[]]", 1, 0, -1, (json_int_t)INT64_MAX,
                                    (json_int_t)INT64_MIN, 0.5, "", "h\xc3\xa9llo");
        rc = scalars != NULL ? seed_json(dir, "fuzz_msgpack", "scalars", scalars) : -1;
        json_decref(scalars);
    }
    if (rc == 0)
        rc = seed_topics(dir);
    if (rc == 0)
        rc = seed_patches(dir);
    return rc;
}
