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

/* The sample messages, one row each, in the order of the golden files: JSON text in which the
 * string values "$v1" and "$v2" stand for the sample apps (normalized) and "$v1->v2" for the patch
 * from one to the other, which only our own code can build (see fill). */
static const struct {
    const char *name;
    const char *text;
} SAMPLES[] = {
    {"app-put", "{\"type\":\"app.put\",\"ns\":\"default\",\"app\":\"web\",\"version\":7,"
                "\"spec\":\"$v1\"}"},
    {"app-patch", "{\"type\":\"app.patch\",\"ns\":\"default\",\"app\":\"web\",\"base\":7,"
                  "\"version\":9,\"patch\":\"$v1->v2\"}"},
    {"node-sync", "{\"type\":\"node.sync\",\"ns\":\"default\",\"node\":\"edge-1\",\"rev\":12,"
                  "\"registered\":true,\"labels\":{\"zone\":\"a\",\"example.com/tier\":\"edge\"},"
                  "\"apps\":[{\"app\":\"web\",\"version\":9,\"spec\":\"$v2\"},"
                  "{\"app\":\"db\",\"version\":3}]}"},
    {"app-delete", "{\"type\":\"app.delete\",\"ns\":\"default\",\"app\":\"web\",\"version\":12}"},
    {"node-sync-unregistered",
     "{\"type\":\"node.sync\",\"ns\":\"default\",\"node\":\"edge-2\",\"rev\":13,"
     "\"registered\":false,\"labels\":{},\"apps\":[]}"},
    {"node-hello", "{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"edge-1\","
                   "\"reason\":\"connect\",\"apps\":{\"web\":9,\"db\":3}}"},
    {"app-status",
     "{\"type\":\"app.status\",\"ns\":\"default\",\"node\":\"edge-1\",\"app\":\"web\","
     "\"version\":9,\"phase\":\"Running\",\"message\":\"2/2 containers running\","
     "\"ts\":1764139488000,\"containers\":[{\"name\":\"httpd\",\"state\":\"running\","
     "\"restarts\":0,\"exitCode\":0,\"error\":\"\",\"image\":\"busybox:1.36\"},"
     "{\"name\":\"sidecar\",\"state\":\"exited\",\"restarts\":3,\"exitCode\":137,"
     "\"error\":\"OOMKilled\",\"image\":\"busybox:1.36\"}]}"},
    {"node-online", "{\"type\":\"node.online\",\"ns\":\"default\",\"node\":\"edge-1\","
                    "\"online\":true,\"ts\":1764139488000}"},
    {"node-online-will", "{\"type\":\"node.online\",\"ns\":\"default\",\"node\":\"edge-1\","
                         "\"online\":false}"},
    {"node-stats",
     "{\"type\":\"node.stats\",\"ns\":\"default\",\"node\":\"edge-1\",\"start\":1764139000000,"
     "\"ts\":1764139488000,\"calls\":[{\"app\":\"fn\",\"service\":\"gateway\",\"function\":"
     "\"resize\",\"requests\":120,\"success\":110,\"clientErrors\":6,\"serverErrors\":3,"
     "\"timeouts\":1,\"latency\":[0,0,0,4,20,50,30,10,5,0,0,0,0,0,0,0,0,0,0,1]},"
     "{\"app\":\"fn\",\"service\":\"api\",\"function\":\"*\",\"requests\":7,\"success\":7,"
     "\"clientErrors\":0,\"serverErrors\":0,\"timeouts\":0,"
     "\"latency\":[0,0,7,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}"},
    {"extra-fields", "{\"type\":\"app.delete\",\"ns\":\"default\",\"app\":\"web\",\"version\":12,"
                     "\"trace\":\"4bf92f3577b34da6\",\"future\":{\"x\":[1,2.5,null]}}"},
};

size_t samples_count(void) {
    return sizeof(SAMPLES) / sizeof(SAMPLES[0]);
}

static bool is_placeholder(const json_t *v) {
    return json_is_string(v) && json_string_value(v)[0] == '$';
}

/* What the placeholder v stands for (a new reference); NULL on ENOMEM or for an unknown one. */
static json_t *placeholder(const json_t *v, const json_t *v1, const json_t *v2) {
    const char *s = json_string_value(v);
    if (strcmp(s, "$v1") == 0)
        return json_incref((json_t *)v1);
    if (strcmp(s, "$v2") == 0)
        return json_incref((json_t *)v2);
    if (strcmp(s, "$v1->v2") == 0)
        return ferry_patch_diff(v1, v2);
    return NULL;
}

/* Replace, in place, every placeholder among the values of v (at any depth). false on ENOMEM or
 * for an unknown placeholder. */
static bool fill(json_t *v, const json_t *v1, const json_t *v2) {
    const char *key;
    json_t *child;
    size_t i;

    json_object_foreach(v, key, child) {
        if (is_placeholder(child) ? json_object_set_new(v, key, placeholder(child, v1, v2)) != 0
                                  : !fill(child, v1, v2))
            return false;
    }
    json_array_foreach(v, i, child) {
        if (is_placeholder(child) ? json_array_set_new(v, i, placeholder(child, v1, v2)) != 0
                                  : !fill(child, v1, v2))
            return false;
    }
    return true;
}

json_t *samples_message(size_t i, const char **name) {
    json_t *v1 = NULL;
    json_t *v2 = NULL;
    json_t *m = NULL;

    if (i >= samples_count())
        return NULL;
    if (name != NULL)
        *name = SAMPLES[i].name;
    if ((v1 = load_app(samples_app_v1)) != NULL && (v2 = load_app(samples_app_v2)) != NULL &&
        (m = json_loads(SAMPLES[i].text, 0, NULL)) != NULL && !fill(m, v1, v2)) {
        json_decref(m);
        m = NULL;
    }
    json_decref(v1);
    json_decref(v2);
    return m;
}

/* ---- files ----------------------------------------------------------------------------------- */

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

/* ---- golden files ---------------------------------------------------------------------------- */

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

/* Crafted payloads: msgpack that our encoder would never write, packed by hand from a list of
 * items (one builder, pack_crafted, for every row of CRAFTED). */
typedef enum {
    P_END,    /* end of the list */
    P_DELETE, /* the head of an app.delete: a map of n entries, "v": 1, "type": "app.delete" */
    P_MAP,    /* a map header of n entries */
    P_ARRAY,  /* an array header of n items */
    P_NEST,   /* n nested arrays of one item each */
    P_STR,    /* the string s */
    P_BIN,    /* the bytes of s as bin */
    P_INT,    /* n as a signed integer */
    P_UINT,   /* n as an unsigned integer */
    P_DOUBLE, /* d */
    P_NIL,
} pack_kind;

typedef struct {
    pack_kind kind;
    const char *s;
    uint64_t n;
    double d;
} pack_item;

/* One item each; clang-format would spread every macro over two lines. */
/* clang-format off */
#define DELETE(n) {P_DELETE, NULL, (n), 0}
#define MAP(n) {P_MAP, NULL, (n), 0}
#define ARRAY(n) {P_ARRAY, NULL, (n), 0}
#define NEST(n) {P_NEST, NULL, (n), 0}
#define STR(s) {P_STR, (s), 0, 0}
#define BIN(s) {P_BIN, (s), 0, 0}
#define INT(n) {P_INT, NULL, (n), 0}
#define UINT(n) {P_UINT, NULL, (n), 0}
#define DOUBLE(d) {P_DOUBLE, NULL, 0, (d)}
#define NIL {P_NIL, NULL, 0, 0}
/* clang-format on */

/* One crafted golden file: its name, the decoder's expected result and a part of its reason. */
static const struct {
    const char *file;
    const char *expect;
    const char *why;
    pack_item items[8];
} CRAFTED[] = {
    /* a map key that is an integer */
    {"corrupt-int-key.msgpack", "EFORMAT", "is not a string", {DELETE(3), INT(7), STR("x")}},
    {"corrupt-duplicate-key.msgpack",
     "EFORMAT",
     "duplicate map key 'type'",
     {DELETE(3), STR("type"), STR(FERRY_MSG_APP_DELETE)}},
    {"corrupt-bad-utf8.msgpack",
     "EFORMAT",
     "not valid UTF-8",
     {DELETE(3), STR("ns"), STR("d\xff\xfe")}},
    {"corrupt-bin-value.msgpack", "EFORMAT", "bin value", {DELETE(3), STR("ns"), BIN("abc")}},
    /* declares 2^32-1 items in a few bytes: must not allocate them */
    {"corrupt-huge-count.msgpack",
     "ETOOBIG",
     "declares 4294967295 items, over the limit",
     {DELETE(3), STR("apps"), ARRAY(0xffffffffu), NIL}},
    {"corrupt-deep-nesting.msgpack",
     "ETOOBIG",
     "nesting deeper than 32",
     {DELETE(3), STR("deep"), NEST(40), NIL}},
    {"corrupt-not-a-map.msgpack", "EFORMAT", "not a msgpack map", {ARRAY(1), INT(1)}},
    {"corrupt-missing-version.msgpack",
     "EFORMAT",
     "no format version",
     {MAP(1), STR("type"), STR(FERRY_MSG_APP_DELETE)}},
    {"corrupt-version-not-int.msgpack",
     "EFORMAT",
     "not an integer",
     {MAP(2), STR("v"), STR("1"), STR("type"), STR(FERRY_MSG_APP_DELETE)}},
    {"corrupt-unknown-type.msgpack",
     "EFORMAT",
     "unknown message type 'app.rename'",
     {MAP(2), STR("v"), INT(1), STR("type"), STR("app.rename")}},
    {"corrupt-bad-name.msgpack",
     "EINVAL",
     "app.delete: field 'ns' must be a DNS label",
     {DELETE(5), STR("ns"), STR("Default_NS"), STR("app"), STR("web"), STR("version"), INT(3)}},
    {"corrupt-missing-field.msgpack",
     "EINVAL",
     "app.delete: field 'version' is required",
     {DELETE(4), STR("ns"), STR("default"), STR("app"), STR("web")}},
    {"corrupt-uint64-overflow.msgpack",
     "EFORMAT",
     "does not fit int64",
     {DELETE(5), STR("ns"), STR("default"), STR("app"), STR("web"), STR("version"),
      UINT(UINT64_MAX)}},
    {"corrupt-version-float.msgpack",
     "EINVAL",
     "app.delete: field 'version' must be a positive integer",
     {DELETE(5), STR("ns"), STR("default"), STR("app"), STR("web"), STR("version"), DOUBLE(3.0)}},
};

#undef DELETE
#undef MAP
#undef ARRAY
#undef NEST
#undef STR
#undef BIN
#undef INT
#undef UINT
#undef DOUBLE
#undef NIL

static void pack_str(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Pack items (up to P_END or the end of the array) into sb. */
static void pack_crafted(msgpack_sbuffer *sb, const pack_item *items, size_t n) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < n && items[i].kind != P_END; i++) {
        const pack_item *it = &items[i];
        switch (it->kind) {
        case P_DELETE:
            msgpack_pack_map(&pk, (size_t)it->n);
            pack_str(&pk, "v");
            msgpack_pack_int64(&pk, 1);
            pack_str(&pk, "type");
            pack_str(&pk, FERRY_MSG_APP_DELETE);
            break;
        case P_MAP:
            msgpack_pack_map(&pk, (size_t)it->n);
            break;
        case P_ARRAY:
            msgpack_pack_array(&pk, (size_t)it->n);
            break;
        case P_NEST:
            for (uint64_t k = 0; k < it->n; k++)
                msgpack_pack_array(&pk, 1);
            break;
        case P_STR:
            pack_str(&pk, it->s);
            break;
        case P_BIN:
            msgpack_pack_bin(&pk, strlen(it->s));
            msgpack_pack_bin_body(&pk, it->s, strlen(it->s));
            break;
        case P_INT:
            msgpack_pack_int64(&pk, (int64_t)it->n);
            break;
        case P_UINT:
            msgpack_pack_uint64(&pk, it->n);
            break;
        case P_DOUBLE:
            msgpack_pack_double(&pk, it->d);
            break;
        case P_NIL:
            msgpack_pack_nil(&pk);
            break;
        case P_END:
            break;
        }
    }
}

static void golden_crafted(golden *g) {
    for (size_t i = 0; i < sizeof(CRAFTED) / sizeof(CRAFTED[0]); i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        pack_crafted(&sb, CRAFTED[i].items, sizeof(CRAFTED[i].items) / sizeof(CRAFTED[i].items[0]));
        golden_put(g, CRAFTED[i].file, CRAFTED[i].expect, CRAFTED[i].why, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
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
        {"corrupt-stats-outcomes.msgpack",
         "field 'calls[0].serverErrors' makes success + clientErrors + serverErrors + timeouts "
         "exceed requests",
         "{\"type\":\"node.stats\",\"ns\":\"default\",\"node\":\"n1\",\"start\":1,\"ts\":2,"
         "\"calls\":[{\"app\":\"fn\",\"service\":\"s\",\"function\":\"f\",\"requests\":3,"
         "\"success\":2,\"clientErrors\":1,\"serverErrors\":1,\"timeouts\":0,"
         "\"latency\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,3]}]}"},
        {"corrupt-stats-latency.msgpack",
         "field 'calls[0].latency' must be an array of 20 non-negative integers",
         "{\"type\":\"node.stats\",\"ns\":\"default\",\"node\":\"n1\",\"start\":1,\"ts\":2,"
         "\"calls\":[{\"app\":\"fn\",\"service\":\"s\",\"function\":\"f\",\"requests\":3,"
         "\"success\":3,\"clientErrors\":0,\"serverErrors\":0,\"timeouts\":0,"
         "\"latency\":[3]}]}"},
        {"corrupt-stats-duplicate.msgpack", "duplicate app/service/function 'fn/s/*'",
         "{\"type\":\"node.stats\",\"ns\":\"default\",\"node\":\"n1\",\"start\":1,\"ts\":2,"
         "\"calls\":[{\"app\":\"fn\",\"service\":\"s\",\"function\":\"*\",\"requests\":0,"
         "\"success\":0,\"clientErrors\":0,\"serverErrors\":0,\"timeouts\":0,"
         "\"latency\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},{\"app\":\"fn\",\"service\":"
         "\"s\",\"function\":\"*\",\"requests\":0,\"success\":0,\"clientErrors\":0,"
         "\"serverErrors\":0,\"timeouts\":0,\"latency\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
         "0]}]}"},
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
        if (strcmp(name, "app-put") == 0) { /* truncations of the largest sample */
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
        if (strcmp(name, "node-stats") == 0) /* cut inside the calls */
            golden_put(&g, "truncated-node-stats.msgpack", "EFORMAT", "truncated", buf, len - 40);
        if (strcmp(name, "app-delete") == 0) { /* the sample, as a future format version */
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

/* ---- fuzz seeds ------------------------------------------------------------------------------ */

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
