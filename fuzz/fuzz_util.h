/* fuzz: what the targets share with each other and with the seed writer (seeds.c): the layout of
 * their inputs, the protocol check of what they build, and the encoders of the forms they read
 * that Ferry itself never writes (the string form of a selector, Docker's log frames). */
#ifndef FERRY_FUZZ_UTIL_H
#define FERRY_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/proto.h"

/* fuzz_bridge_record and fuzz_edge_record inputs: one byte saying what the rest is; then, for an
 * LMDB record, its key, a NUL and its value as stored (an outbox entry and the edge node record,
 * whose keys the code does not read, are the value alone). */
enum {
    FUZZ_BRIDGE_APP,       /* apps: "ns/name" */
    FUZZ_BRIDGE_NODE,      /* nodes: "ns/name" */
    FUZZ_BRIDGE_STATUS,    /* status: "ns/app/node" */
    FUZZ_BRIDGE_NODESTATE, /* nodestate: "ns/node" */
    FUZZ_BRIDGE_OUTBOX,    /* outbox: value only */
    FUZZ_BRIDGE_CONFIG,    /* configs: "ns/name" */
    FUZZ_BRIDGE_KINDS
};
enum {
    FUZZ_EDGE_APP,  /* apps: the app's name */
    FUZZ_EDGE_NODE, /* meta "node": value only */
    FUZZ_EDGE_KINDS
};

/* fuzz_api_route inputs: "PATH[?QUERY]", then optionally a NUL and a request body. */

/* fuzz_node_msgs and fuzz_edge_sync inputs: frames, each a topic byte, a 16-bit big-endian
 * length and that many payload bytes (a short last frame takes what is left). The topic byte
 * picks one of the target's topics (modulo their number). */
#define FUZZ_FRAME_HEAD 3

/* fuzz_node_msgs topics: what nodes publish, from registered nodes and from a stranger. */
static const char *const fuzz_node_topics[] = {
    "ferry/default/nodes/n1/hello",      "ferry/default/nodes/n1/status/web",
    "ferry/default/nodes/n1/online",     "ferry/default/nodes/n2/hello",
    "ferry/default/nodes/n2/status/web", "ferry/default/nodes/n1/status/gone",
    "ferry/default/nodes/x/hello",       "ferry/other/nodes/n1/status/web",
    "ferry/default/nodes/n1/sync",       "ferry/default/nodes/n1/stats",
    "ferry/default/nodes/n2/stats",
};
#define FUZZ_NODE_TOPICS (sizeof(fuzz_node_topics) / sizeof(fuzz_node_topics[0]))

/* fuzz_edge_sync topics: what node n1 of "default" (labels zone=a) subscribes to, and others. */
static const char *const fuzz_edge_topics[] = {
    "ferry/default/nodes/n1/sync",
    "ferry/default/all/apps/web",
    "ferry/default/labels/zone=a/apps/web",
    "ferry/default/nodes/n1/secrets/web",
    "ferry/default/all/apps/db",
    "ferry/default/nodes/n2/sync",
    "ferry/other/all/apps/web",
};
#define FUZZ_EDGE_TOPICS (sizeof(fuzz_edge_topics) / sizeof(fuzz_edge_topics[0]))

/* The next frame of data[*off..size): its topic index (mod ntopics), payload and length. False
 * at the end. */
static inline bool fuzz_next_frame(const uint8_t *data, size_t size, size_t *off, size_t ntopics,
                                   size_t *topic, const uint8_t **payload, size_t *len) {
    if (*off + FUZZ_FRAME_HEAD > size)
        return false;
    *topic = data[*off] % ntopics;
    *len = ((size_t)data[*off + 1] << 8) | data[*off + 2];
    *off += FUZZ_FRAME_HEAD;
    if (*len > size - *off)
        *len = size - *off;
    *payload = data + *off;
    *off += *len;
    return true;
}

/* fuzz_engine_wire inputs: one byte saying which engine answer the rest is (modulo
 * FUZZ_WIRE_KINDS), one byte that seeds how it is cut into the chunks curl hands over, then the
 * bytes the engine sent. */
enum {
    FUZZ_WIRE_STREAM, /* a progress stream (pull, import): JSON lines */
    FUZZ_WIRE_BODY,   /* a whole response body: JSON, an error message, anything */
    FUZZ_WIRE_LOGS,   /* container logs: Docker's multiplexed frames, or anything */
    FUZZ_WIRE_KINDS
};

/* A valid selector (ferry_selector_validate) in the Kubernetes string form that
 * ferry_selector_parse_string reads: "k=v" for matchLabels, "k in (a,b)", "k notin (a)", "k",
 * "!k" for expressions, joined by ','. A new string (free()); NULL when out of memory. */
static inline char *fuzz_selector_string(const json_t *sel) {
    const json_t *ml = json_object_get(sel, "matchLabels");
    const json_t *me = json_object_get(sel, "matchExpressions");
    const char *key, *sep = "";
    char *buf = NULL;
    size_t len = 0, i;
    json_t *v;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        return NULL;
    json_object_foreach((json_t *)ml, key, v) {
        fprintf(f, "%s%s=%s", sep, key, json_string_value(v));
        sep = ",";
    }
    json_array_foreach(me, i, v) {
        const char *op = json_string_value(json_object_get(v, "operator"));
        const json_t *values = json_object_get(v, "values");
        bool in = strcmp(op, "In") == 0;
        key = json_string_value(json_object_get(v, "key"));
        if (in || strcmp(op, "NotIn") == 0) {
            fprintf(f, "%s%s %s (", sep, key, in ? "in" : "notin");
            for (size_t k = 0; k < json_array_size(values); k++)
                fprintf(f, "%s%s", k > 0 ? "," : "", json_string_value(json_array_get(values, k)));
            fputc(')', f);
        } else {
            fprintf(f, "%s%s%s", sep, strcmp(op, "DoesNotExist") == 0 ? "!" : "", key);
        }
        sep = ",";
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* One frame of Docker's multiplexed log stream (stream 0-2, three zero bytes, the big-endian
 * payload length, the payload) at out, which has room for 8 + len bytes. Returns 8 + len. */
static inline size_t fuzz_log_frame(unsigned char *out, unsigned stream, const void *payload,
                                    size_t len) {
    out[0] = (unsigned char)stream;
    out[1] = out[2] = out[3] = 0;
    out[4] = (unsigned char)(len >> 24);
    out[5] = (unsigned char)(len >> 16);
    out[6] = (unsigned char)(len >> 8);
    out[7] = (unsigned char)len;
    if (len > 0)
        memcpy(out + 8, payload, len);
    return 8 + len;
}

/* msg (stolen), built from something the code under test accepted, must encode and pass
 * ferry_proto_decode as on the receiving side; else the finding is told on fd 2 (stderr's stream
 * is quiet, see fuzz_init.c) and the target aborts. */
static inline void fuzz_protocol_accepts(json_t *msg, const char *what) {
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *dec = NULL;
    char why[256] = "";

    if (msg == NULL || ferry_proto_encode(msg, &buf, &len) != FERRY_OK ||
        ferry_proto_decode(buf, len, &dec, why, sizeof(why)) != FERRY_OK) {
        dprintf(STDERR_FILENO, "%s, but the protocol rejects it: %s\n", what, why);
        abort();
    }
    ferry_free(buf);
    json_decref(dec);
    json_decref(msg);
}

#endif
