/* broker-bridge REST API: JSON over HTTPS (or plain HTTP when asked for), served by libmicrohttpd
 * on a pool of threads. Each route needs a permission of the request's bearer token (auth.h;
 * docs/api-auth.md); "-" is a public route, served without a token.
 *
 *   GET    /healthz                                  -      {"ok","mqtt","rev"}
 *   GET    /metrics                                  read of every namespace: Prometheus text
 *                                                            (docs/metrics.md)
 *   GET    /v1/openapi.json                          -      the OpenAPI document of this API
 *                                                            (schema/openapi.yaml, built in)
 *   GET    /v1/tokens                                admin  {"items"}
 *   POST   /v1/tokens                                admin  201 token, with "token" (shown once)
 *   GET    /v1/tokens/{id}                           admin  {"id","name","role","namespaces",
 *                                                            "privileged","createdAt"}
 *   DELETE /v1/tokens/{id}                           admin  {"id","name","deleted":true}
 *   GET    /v1/namespaces/{ns}/apps?page&pageSize&name
 *                                                    read   {"items","total","page","pageSize"}
 *   POST   /v1/namespaces/{ns}/apps                  write  201 stored app
 *   GET    /v1/namespaces/{ns}/apps/{name}           read   stored app
 *   PUT    /v1/namespaces/{ns}/apps/{name}           write  stored app (new version)
 *   DELETE /v1/namespaces/{ns}/apps/{name}           write  {"name","version","deleted":true}
 *   GET    /v1/namespaces/{ns}/apps/{name}/status    read   {"name","namespace","version",
 *                                                            "deleted","nodes","summary"}
 *   GET    /v1/namespaces/{ns}/apps/{name}/stats?window
 *                                                    read   {"namespace","app","window","interval",
 *                                                            "monitorQps","total","nodes","series"}
 *                                                            (docs/api.md; window 10..3600 s)
 *   GET    /v1/namespaces/{ns}/nodes?page&pageSize&name&selector
 *                                                    read   {"items","total","page","pageSize"};
 *                                                            selector: the nodes it matches now
 *   POST   /v1/namespaces/{ns}/nodes                 write  201 node
 *   GET|PUT|DELETE /v1/namespaces/{ns}/nodes/{name}  read|write  node (PUT changes its labels)
 *   GET    /v1/namespaces/{ns}/nodes/{name}/apps     read   {"node","online","gpu","apps"}
 *   GET    /v1/namespaces/{ns}/nodes/{name}/logs?app&service&tail&since
 *                                                    read   {"node","app","service","text",
 *                                                            "truncated"}: fetched from the node
 *                                                            over MQTT (502 its error, 503 offline,
 *                                                            504 no answer in 15 s)
 *   GET    /v1/namespaces/{ns}/configs?page&pageSize&name&kind
 *                                                    read   {"items","total","page","pageSize"}
 *   POST   /v1/namespaces/{ns}/configs               write  201 config (secret values as digests)
 *   GET|PUT|DELETE /v1/namespaces/{ns}/configs/{name}
 *                                                    read|write  config; DELETE of one in use: 409
 *
 * An app body (POST, PUT) with privileged containers, hostPath volumes or hostNetwork also needs
 * the privileged permission.
 *
 * Before a request is routed: an Origin header that is neither the request's own origin nor an
 * allowed one is refused (403: browsers' cross-site requests); then the token (401, with
 * "WWW-Authenticate: Bearer", when missing, unknown or deleted); then the route (404, 405 with
 * Allow); then the permission (403); a request with a body must say "Content-Type:
 * application/json" (415) and stay under 1 MiB (413). These are answered before the body is read.
 *
 * The web console (console.h) is served beside the API and is not part of it (no route above, no
 * place in schema/openapi.yaml): a path that names one of its files ("/" names /index.html) is
 * answered before any of these checks, publicly, for GET and HEAD (405 otherwise), with its
 * ETag (304 for a matching If-None-Match) and the browser security headers of console_reply in
 * api.c. Every other path goes through the checks as before.
 *
 * Errors: {"error": text, "field": path (only when about a field)} with 400 (invalid input,
 * invalid JSON with its position), 401, 403 (a token's: {"error", "permission"}), 404, 405, 409,
 * 413, 415 or 500. */
#ifndef FERRY_BRIDGE_API_H
#define FERRY_BRIDGE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "bridge.h"
#include "console.h"
#include "ferry/common.h"

/* Limits and defaults: request bodies; --allow-origin entries; threads serving requests;
 * connections open at once (each holds a descriptor); seconds a connection may stay idle. */
#define FERRY_API_MAX_BODY (1024u * 1024u)
#define FERRY_API_MAX_ORIGINS 32
#define FERRY_API_DEFAULT_THREADS 4
#define FERRY_API_DEFAULT_CONNECTIONS 4096
#define FERRY_API_DEFAULT_TIMEOUT 10

typedef struct ferry_api ferry_api; /* opaque */

/* How to serve. Borrowed for ferry_api_start only. */
typedef struct {
    const char *listen; /* "ADDR:PORT", IPv4 or "[IPv6]:PORT"; port 0 picks a free one */
    /* PEM files of the certificate (its chain may follow it) and its private key: serve HTTPS.
     * Both or neither. */
    const char *tls_cert, *tls_key;
    bool plain_http; /* without them: serve plain HTTP. Neither: refused */
    /* Origins besides the request's own that browsers may send requests from ("https://ui.example",
     * "http://127.0.0.1:3000"); each entry may hold several, comma-separated. No CORS headers are
     * sent: this is for a UI that reaches the API through a proxy under another origin. */
    const char *const *allow_origins;
    size_t n_allow_origins;
    unsigned threads;         /* 0: FERRY_API_DEFAULT_THREADS */
    unsigned max_connections; /* 0: FERRY_API_DEFAULT_CONNECTIONS */
    unsigned timeout_s;       /* 0: FERRY_API_DEFAULT_TIMEOUT */
    unsigned max_per_ip;      /* connections from one address at once; 0: no limit (a reverse
                               * proxy in front shows every client as one address) */
    /* The web console's files (console.h), served at / beside the API; NULL: none. Borrowed: it
     * must outlive the server (ferry_api_stop). */
    const ferry_console *console;
} ferry_api_config;

/* Serve the API for bridge as cfg says. The bridge must outlive the server. FERRY_EINVAL (logged
 * with what to do) for a bad address or origin, TLS files without plain_http missing, only one of
 * the two TLS files, files that cannot be read; FERRY_EIO when it cannot listen (or the
 * certificate and key do not make a TLS server). */
ferry_err ferry_api_start(const ferry_api_config *cfg, ferry_bridge *bridge, ferry_api **out);

/* The port actually listened on. */
uint16_t ferry_api_port(const ferry_api *a);

/* Stop serving; returns once the requests in progress are finished. */
void ferry_api_stop(ferry_api *a);

/* ---- internal, for tests and fuzzing -----------------------------------------------------------
 * The parsers of what a client sends before the bridge sees it, free of libmicrohttpd so that
 * fuzz/fuzz_api_route.c runs exactly this code. */

/* What a path names. */
typedef enum {
    FERRY_API_HEALTH,       /* /healthz */
    FERRY_API_TOKENS,       /* /v1/tokens */
    FERRY_API_TOKEN,        /* /v1/tokens/{id} */
    FERRY_API_LIST,         /* /v1/namespaces/{ns}/{collection} */
    FERRY_API_ITEM,         /* /v1/namespaces/{ns}/{collection}/{name} */
    FERRY_API_SUB,          /* /v1/namespaces/{ns}/{collection}/{name}/{sub-resource} */
    FERRY_API_ENROLL_TOKEN, /* /v1/namespaces/{ns}/nodes/{name}/enroll */
    FERRY_API_ENROLL,       /* /v1/enroll: a node enrolls (public; its token is the check) */
    FERRY_API_DEBUG,        /* /v1/broker/debug: read-only broker credentials for people */
    FERRY_API_DEBUG_ITEM,   /* /v1/broker/debug/{name} */
    FERRY_API_APP_STATS,    /* /v1/namespaces/{ns}/apps/{name}/stats */
    FERRY_API_METRICS,      /* /metrics: Prometheus text (a token reading every namespace) */
    FERRY_API_NODE_LOGS,    /* /v1/namespaces/{ns}/nodes/{name}/logs: a container's log */
    FERRY_API_OPENAPI,      /* /v1/openapi.json: the API's contract (public) */
    FERRY_API_PATHS
} ferry_api__path;

/* The collections under /v1/namespaces/{ns}/. */
typedef enum {
    FERRY_API_APPS,    /* sub-resource "status" */
    FERRY_API_NODES,   /* sub-resource "apps" */
    FERRY_API_CONFIGS, /* no sub-resource */
    FERRY_API_COLLECTIONS
} ferry_api__collection;

/* A request path taken apart. ns and name point into buf. */
typedef struct {
    ferry_api__path path;
    ferry_api__collection coll; /* LIST, ITEM, SUB */
    const char *ns;             /* LIST, ITEM, SUB, ENROLL_TOKEN, APP_STATS; else NULL */
    const char *name; /* ITEM, SUB, ENROLL_TOKEN, APP_STATS: the item; TOKEN: the token id;
                       * DEBUG_ITEM: the credential's name; else NULL */
    char buf[512];
} ferry_api__route;

/* Parse url (as libmicrohttpd hands it: without the query, percent-decoded) into *rt. false when
 * no route has this path (404); the names are not checked here (the bridge answers 400). */
bool ferry_api__parse_path(const char *url, ferry_api__route *rt);

/* What the routing table says about method on a path of kind path: whether it is public (served
 * without a token), the permission its token needs otherwise (in the path's namespace for the
 * namespaced paths) and whether it takes a JSON body. false when the path has no such method
 * (405), allow (len bytes) then lists the methods it has ("GET, POST"). */
typedef struct {
    bool is_public;
    ferry_perm perm;
    bool body;
} ferry_api__rule;
bool ferry_api__find_rule(ferry_api__path path, const char *method, ferry_api__rule *rule,
                          char *allow, size_t len);

/* The OpenAPI document (JSON, NUL-terminated, ferry_api_openapi_len bytes) that
 * GET /v1/openapi.json serves: generated at build time from schema/openapi.yaml
 * (schema/openapi_build.py -> openapi_doc.c in the build folder). */
extern const char ferry_api_openapi_json[];
extern const size_t ferry_api_openapi_len;

/* A query value that must be a count ("page", "pageSize"): dflt when absent (v NULL), its value
 * when it is 1 to 9 decimal digits, else 0 (which every caller rejects). */
long ferry_api__parse_count(const char *v, long dflt);

#endif
