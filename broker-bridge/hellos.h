/* broker-bridge hellos: what a hello may cost. Each node has a budget of hellos (a token bucket:
 * HELLO_BURST at once, one more per HELLO_REFILL_MS); a hello over budget is dropped (the node
 * asks again after 30 s). The last sync built for a node is kept with the store revision and the
 * hello's digest it answered, so a repeated hello at an unchanged revision costs a lookup.
 * Thread-safe (its own mutex); it never touches the store. */
#ifndef FERRY_BRIDGE_HELLOS_H
#define FERRY_BRIDGE_HELLOS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/common.h"

#define HELLO_BURST 20
#define HELLO_REFILL_MS 1000
#define HELLO_MAX_NODES 100000 /* beyond this many nodes tracked, the oldest state is forgotten */

typedef struct bridge_hellos bridge_hellos;

ferry_err bridge__hellos_new(bridge_hellos **out);
void bridge__hellos_free(bridge_hellos *h);

/* Whether a hello from ns/node at now_ms (monotonic) is within its budget; takes one token. */
bool bridge__hellos_admit(bridge_hellos *h, const char *ns, const char *node, int64_t now_ms);

/* The sync kept for ns/node when it answered a hello with this digest at rev (a new reference:
 * the sync is shared and must not be modified; jansson's reference counts are atomic), or NULL. */
json_t *bridge__hellos_cached(bridge_hellos *h, const char *ns, const char *node, uint64_t rev,
                              const char *digest);

/* Keep sync (a reference is taken; it is not modified from then on) as the answer for (ns/node,
 * rev, digest). */
void bridge__hellos_keep(bridge_hellos *h, const char *ns, const char *node, uint64_t rev,
                         const char *digest, json_t *sync);

#endif
