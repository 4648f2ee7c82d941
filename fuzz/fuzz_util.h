/* fuzz: what the targets of broker-bridge and edge-sync code share with each other and with the
 * seed writer (seeds.c): the layout of their inputs and the protocol check of what they build. */
#ifndef FERRY_FUZZ_UTIL_H
#define FERRY_FUZZ_UTIL_H

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
