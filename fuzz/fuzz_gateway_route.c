/* libFuzzer target: the node gateway's request parsing and routing (edge-sync/gateway_http.c,
 * gateway_route.c) on raw bytes, without sockets. Input: one byte, the size of the pieces the
 * bytes arrive in (as reads would split them), then the bytes of one or more pipelined requests.
 * Every complete request is routed on a fixed table; what the router points at must lie inside
 * the URL, a call must name one of the route's functions, an error must be 400, 413 or 431. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fns[] = {"resize", "hello"};

static ferry_gateway__table *the_table(void) {
    static ferry_gateway__table *t;
    if (t == NULL) {
        ferry_gateway_route routes[] = {
            {.service = "img",
             .ns = "n",
             .app = "a",
             .function = true,
             .socket = "/s",
             .functions = fns,
             .nfunctions = 2},
            {.service = "web", .ns = "n", .app = "b", .target = "127.0.0.1:80"},
        };
        t = ferry_gateway__table_build(routes, 2, NULL);
        if (t == NULL)
            abort();
    }
    return t;
}

static bool inside(const char *p, size_t len, const char *url, size_t url_len) {
    return p >= url && p + len <= url + url_len;
}

static void check(const ferry_gateway__req *r) {
    const char *url = r->head;
    size_t len = r->url_len;
    if (len > r->head_len || r->body_len > FERRY_GATEWAY_MAX_BODY ||
        r->head_len > FERRY_GATEWAY_MAX_HEAD)
        abort();
    for (size_t i = 0; i < r->nheaders; i++) {
        const ferry_gateway__header *h = &r->headers[i];
        if ((size_t)h->name + h->name_len > r->head_len ||
            (size_t)h->value + h->value_len > r->head_len)
            abort();
    }
    ferry_gateway__decision d;
    ferry_gateway__route_request(the_table(), r->parser.method, url, len, &d);
    switch (d.verdict) {
    case FERRY_GATEWAY_CALL:
        if (d.route == NULL || !d.route->function || d.function >= d.route->nfunctions ||
            r->parser.method != HTTP_POST || !inside(d.name, d.name_len, url, len) ||
            strlen(d.route->functions[d.function]) != d.name_len ||
            memcmp(d.route->functions[d.function], d.name, d.name_len) != 0)
            abort();
        break;
    case FERRY_GATEWAY_PROXY:
        if (d.route == NULL || d.route->function || !inside(d.rest, d.rest_len, url, len) ||
            d.rest + d.rest_len != url + len)
            abort();
        break;
    case FERRY_GATEWAY_NO_FUNCTION:
        if (d.route == NULL || !inside(d.name, d.name_len, url, len) || d.status != 404)
            abort();
        break;
    case FERRY_GATEWAY_BAD_METHOD:
        if (d.route == NULL || r->parser.method == HTTP_POST || d.status != 405)
            abort();
        break;
    case FERRY_GATEWAY_NO_SERVICE:
        if (d.route != NULL || !inside(d.service, d.service_len, url, len) || d.status != 404)
            abort();
        break;
    case FERRY_GATEWAY_BAD_TARGET:
        if (d.route != NULL || d.status != 400)
            abort();
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    ferry_gateway__req r;
    ferry_gateway__req_init(&r);
    int requests = 0;
    while (left > 0 && requests < 64) {
        size_t n = left < step ? left : step;
        size_t used = ferry_gateway__req_feed(&r, p, n, 0);
        if (used > n)
            abort();
        p += used;
        left -= used;
        if (r.state == FERRY_GATEWAY_REQ_ERROR) {
            if (r.error_status != 400 && r.error_status != 413 && r.error_status != 431)
                abort();
            break;
        }
        if (r.state == FERRY_GATEWAY_REQ_COMPLETE) {
            check(&r);
            ferry_gateway__req_next(&r);
            requests++;
        } else if (used != n) {
            abort(); /* MORE consumes everything */
        }
    }
    ferry_gateway__req_free(&r);
    return 0;
}
