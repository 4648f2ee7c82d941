/* edge-sync logs: the answer to a logs.request from the bridge (PROTOCOL.md, "logs.request"):
 * the container of the app's service on this node (replica 0; a service container before an
 * init container), the last lines of its log, cut to FERRY_LOGS_MAX_BYTES (the newest kept) and
 * made valid UTF-8 without NUL bytes. Blocking (engine calls): run off the loop thread. */
#ifndef FERRY_EDGE_LOGS_H
#define FERRY_EDGE_LOGS_H

#include <jansson.h>

#include "engine.h"

/* The `logs` message (without "v") answering req (a checked logs.request), new; NULL on ENOMEM.
 * An error (no such container, the engine failing) is an answer too: ok false with its text. */
json_t *ferry_edge_logs_answer(ferry_engine *engine, const json_t *req);

/* The answer refusing req with why (the node does not read it now), new; NULL on ENOMEM. */
json_t *ferry_edge_logs_refusal(const json_t *req, const char *why);

#endif
