/* broker-bridge REST API: JSON over HTTP/1.1 served by libmicrohttpd on one internal thread.
 *
 *   GET    /healthz                                       {"ok","mqtt","rev"}
 *   GET    /v1/namespaces/{ns}/apps?page&pageSize&name    {"items","total","page","pageSize"}
 *   POST   /v1/namespaces/{ns}/apps                       201 stored app
 *   GET    /v1/namespaces/{ns}/apps/{name}                stored app
 *   PUT    /v1/namespaces/{ns}/apps/{name}                stored app (new version)
 *   DELETE /v1/namespaces/{ns}/apps/{name}                {"name","version","deleted":true}
 *   GET    /v1/namespaces/{ns}/apps/{name}/status         {"name","namespace","version",
 *                                                          "deleted","nodes","summary"}
 *   GET    /v1/namespaces/{ns}/nodes?page&pageSize&name&selector
 *                                                         {"items","total","page","pageSize"};
 *                                                         selector: the nodes it matches now
 *   POST   /v1/namespaces/{ns}/nodes                      201 node
 *   GET|PUT|DELETE /v1/namespaces/{ns}/nodes/{name}       node (PUT changes its labels)
 *   GET    /v1/namespaces/{ns}/nodes/{name}/apps          {"node","online","gpu","apps"}
 *   GET    /v1/namespaces/{ns}/configs?page&pageSize&name&kind
 *                                                         {"items","total","page","pageSize"}
 *   POST   /v1/namespaces/{ns}/configs                    201 config (secret values as digests)
 *   GET|PUT|DELETE /v1/namespaces/{ns}/configs/{name}     config; DELETE of one in use: 409
 *
 * Errors: {"error": text, "field": path (only when about a field)} with 400 (invalid input,
 * invalid JSON with its position), 404, 405, 409, 413 (body over 1 MiB) or 500. */
#ifndef FERRY_BRIDGE_API_H
#define FERRY_BRIDGE_API_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge.h"
#include "ferry/common.h"

#define FERRY_API_MAX_BODY (1024u * 1024u)

typedef struct ferry_api ferry_api; /* opaque */

/* Serve the API for bridge on listen ("ADDR:PORT", IPv4 or "[IPv6]:PORT"; port 0 picks a free
 * one). The bridge must outlive the server. FERRY_EINVAL for a bad address, FERRY_EIO when it
 * cannot listen. */
ferry_err ferry_api_start(const char *listen, ferry_bridge *bridge, ferry_api **out);

/* The port actually listened on. */
uint16_t ferry_api_port(const ferry_api *a);

/* Stop serving; returns once the request in progress (if any) is finished. */
void ferry_api_stop(ferry_api *a);

/* ---- internal, for tests and fuzzing -----------------------------------------------------------
 * The parsers of what a client sends before the bridge sees it, free of libmicrohttpd so that
 * fuzz/fuzz_api_route.c runs exactly this code. */

/* The collections under /v1/namespaces/{ns}/. */
typedef enum {
    FERRY_API_APPS,    /* sub-resource "status" */
    FERRY_API_NODES,   /* sub-resource "apps" */
    FERRY_API_CONFIGS, /* no sub-resource */
    FERRY_API_COLLECTIONS
} ferry_api__collection;

/* A request path taken apart. ns and name point into buf. */
typedef struct {
    int segs; /* 1: /healthz; 2: a collection; 3: an item; 4: the item's sub-resource */
    ferry_api__collection coll;
    const char *ns;   /* segs >= 2 */
    const char *name; /* segs >= 3, else NULL */
    char buf[512];
} ferry_api__route;

/* Parse url (as libmicrohttpd hands it: without the query, percent-decoded) into *rt. false when
 * no route has this path (404); the names are not checked here (the bridge answers 400). */
bool ferry_api__parse_path(const char *url, ferry_api__route *rt);

/* A query value that must be a count ("page", "pageSize"): dflt when absent (v NULL), its value
 * when it is 1 to 9 decimal digits, else 0 (which every caller rejects). */
long ferry_api__parse_count(const char *v, long dflt);

#endif
