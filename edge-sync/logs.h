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

/* Make text (len bytes) fit a logs answer in place: keep its last max bytes (from a line start
 * when one is near), replace invalid UTF-8 and NUL bytes by '?'. Returns the new length; sets
 * *truncated when bytes were dropped. */
size_t ferry_edge_logs_clean(char *text, size_t len, size_t max, bool *truncated);

#endif
