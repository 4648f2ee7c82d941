/* fuzz: what the targets of broker-bridge and edge-sync code share with each other and with the
 * seed writer (seeds.c): the layout of their inputs and the protocol check of what they build. */
#ifndef FERRY_FUZZ_UTIL_H
#define FERRY_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    "ferry/default/nodes/n1/sync",
};
#define FUZZ_NODE_TOPICS (sizeof(fuzz_node_topics) / sizeof(fuzz_node_topics[0]))

/* fuzz_edge_sync topics: what node n1 of "default" (labels zone=a) subscribes to, and others. */
static const char *const fuzz_edge_topics[] = {
    "ferry/default/nodes/n1/sync",          "ferry/default/all/apps/web",
    "ferry/default/labels/zone=a/apps/web", "ferry/default/nodes/n1/secrets/web",
    "ferry/default/all/apps/db",            "ferry/default/nodes/n2/sync",
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
