/* edge-sync gateway: the route table (a validated copy of what set_routes gets, sorted by service)
 * and the routing decision for one request, both free of I/O. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_internal.h"

bool ferry_gateway__label_ok(const char *s, size_t len) {
    if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

bool ferry_gateway__target_parse(const char *target, struct sockaddr_in *sa) {
    char host[INET_ADDRSTRLEN];
    const char *colon = strrchr(target, ':');
    if (colon == NULL || (size_t)(colon - target) >= sizeof(host) || colon[1] == '\0')
        return false;
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return false;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

static int cmp_route(const void *a, const void *b) {
    return strcmp(((const ferry_gateway__route *)a)->service,
                  ((const ferry_gateway__route *)b)->service);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Monitored routes have one series per function and, for function routes, one more (the last,
 * attached on first use by gateway.c) for the calls that name no function of the route. */
static size_t route_nseries(const ferry_gateway__route *r) {
    return r->function ? r->nfunctions + 1 : 1;
}

static void route_clear(ferry_gateway__route *r, ferry_gateway__stats *st) {
    size_t nseries = route_nseries(r);
    if (r->series != NULL)
        for (size_t i = 0; i < nseries; i++)
            if (st != NULL)
                ferry_gateway__stats_detach(st, r->series[i]);
    ferry_free(r->series);
    for (size_t i = 0; i < r->nfunctions; i++)
        ferry_free(r->functions[i]);
    ferry_free(r->functions);
    ferry_free(r->service);
    ferry_free(r->ns);
    ferry_free(r->app);
    ferry_free(r->socket);
    ferry_free(r->target);
}

static const char *or_empty(const char *s) {
    return s != NULL ? s : "";
}

/* Copy in into *r; false on ENOMEM (r is then cleared by the caller). */
static bool route_copy(ferry_gateway__route *r, const ferry_gateway_route *in,
                       ferry_gateway__stats *st) {
    r->service = ferry_strdup(in->service);
    r->ns = ferry_strdup(or_empty(in->ns));
    r->app = ferry_strdup(or_empty(in->app));
    r->function = in->function;
    r->monitor_qps = in->monitor_qps;
    r->timeout_ms = in->timeout_ms != 0 ? in->timeout_ms : FERRY_GATEWAY_TIMEOUT_MS;
    if (r->service == NULL || r->ns == NULL || r->app == NULL)
        return false;
    if (in->function) {
        r->socket = ferry_strdup(in->socket);
        if (r->socket == NULL)
            return false;
        if (in->nfunctions > 0) {
            r->functions = ferry_calloc(in->nfunctions, sizeof(char *));
            if (r->functions == NULL)
                return false;
        }
        for (size_t i = 0; i < in->nfunctions; i++) {
            r->functions[i] = ferry_strdup(or_empty(in->functions[i]));
            if (r->functions[i] == NULL)
                return false;
            r->nfunctions = i + 1;
        }
        if (r->nfunctions > 1)
            qsort(r->functions, r->nfunctions, sizeof(char *), cmp_str);
    } else {
        r->target = ferry_strdup(in->target);
        if (r->target == NULL)
            return false;
    }
    if (!r->monitor_qps || st == NULL)
        return true;
    r->series = ferry_calloc(route_nseries(r), sizeof(*r->series));
    if (r->series == NULL)
        return false;
    for (size_t i = 0; i < (r->function ? r->nfunctions : 1); i++) {
        r->series[i] =
            ferry_gateway__stats_attach(st, r->ns, r->app, r->service,
                                        r->function ? r->functions[i] : FERRY_STATS_PROXY_FUNCTION);
        if (r->series[i] == NULL)
            return false;
    }
    return true;
}

/* Why in (a route given to set_routes) cannot be used, or NULL. */
static const char *route_invalid(const ferry_gateway_route *in, struct sockaddr_in *sa) {
    if (in->service == NULL || !ferry_gateway__label_ok(in->service, strlen(in->service)))
        return "the service is not a DNS label";
    if (in->function) {
        if (in->socket == NULL || in->socket[0] != '/')
            return "a function service needs an absolute socket path";
        if (in->nfunctions > 0 && in->functions == NULL)
            return "no function names";
        return NULL;
    }
    if (in->target == NULL || !ferry_gateway__target_parse(in->target, sa))
        return "the target is not IPv4:port";
    return NULL;
}

ferry_gateway__table *ferry_gateway__table_build(const ferry_gateway_route *routes, size_t n,
                                                 ferry_gateway__stats *st) {
    ferry_gateway__table *t = ferry_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->refs = 1;
    if (n > 0) {
        t->routes = ferry_calloc(n, sizeof(*t->routes));
        if (t->routes == NULL)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const ferry_gateway_route *in = &routes[i];
        struct sockaddr_in sa;
        const char *why = route_invalid(in, &sa);
        if (why == NULL && ferry_gateway__table_find(t, in->service, strlen(in->service)) != NULL)
            why = "the service is routed twice";
        if (why != NULL) {
            LOG_WARN("gateway: route of service '%s' (%s/%s) left out: %s", or_empty(in->service),
                     or_empty(in->ns), or_empty(in->app), why);
            continue;
        }
        ferry_gateway__route *r = &t->routes[t->n];
        memset(r, 0, sizeof(*r));
        if (!in->function)
            r->addr = sa;
        if (!route_copy(r, in, st)) {
            route_clear(r, st);
            goto fail;
        }
        t->n++;
        /* Kept sorted as it grows so that table_find above sees every route so far. */
        qsort(t->routes, t->n, sizeof(*t->routes), cmp_route);
    }
    return t;
fail:
    ferry_gateway__table_free(t, st);
    return NULL;
}

void ferry_gateway__table_free(ferry_gateway__table *t, ferry_gateway__stats *st) {
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        route_clear(&t->routes[i], st);
    ferry_free(t->routes);
    ferry_free(t);
}

ferry_gateway__route *ferry_gateway__table_find(const ferry_gateway__table *t, const char *service,
                                                size_t len) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *s = t->routes[mid].service;
        int c = strncmp(s, service, len);
        if (c == 0 && s[len] != '\0')
            c = 1; /* s is longer: after service */
        if (c == 0)
            return &t->routes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The index of name (len bytes) in r's sorted function names, or -1. */
static long function_find(const ferry_gateway__route *r, const char *name, size_t len) {
    size_t lo = 0, hi = r->nfunctions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *s = r->functions[mid];
        int c = strncmp(s, name, len);
        if (c == 0 && s[len] != '\0')
            c = 1;
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void ferry_gateway__route_request(const ferry_gateway__table *t, int method, const char *url,
                                  size_t len, ferry_gateway__decision *d) {
    memset(d, 0, sizeof(*d));
    /* Origin form only: "/service[/rest][?query]". A NUL inside would cut names short. */
    if (len == 0 || url[0] != '/' || memchr(url, '\0', len) != NULL) {
        d->verdict = FERRY_GATEWAY_BAD_TARGET;
        d->status = 400;
        return;
    }
    const char *end = url + len;
    const char *query = memchr(url, '?', len);
    const char *path_end = query != NULL ? query : end;
    const char *hash = memchr(url, '#', (size_t)(path_end - url));
    if (hash != NULL)
        path_end = hash;
    const char *svc = url + 1;
    const char *slash = memchr(svc, '/', (size_t)(path_end - svc));
    const char *svc_end = slash != NULL ? slash : path_end;
    d->service = svc;
    d->service_len = (size_t)(svc_end - svc);
    d->route = ferry_gateway__label_ok(svc, d->service_len)
                   ? ferry_gateway__table_find(t, svc, d->service_len)
                   : NULL;
    if (d->route == NULL) {
        d->verdict = FERRY_GATEWAY_NO_SERVICE;
        d->status = 404;
        return;
    }
    if (!d->route->function) {
        d->verdict = FERRY_GATEWAY_PROXY;
        d->rest = svc_end;
        d->rest_len = (size_t)(end - svc_end);
        return;
    }
    if (method != HTTP_POST) {
        d->verdict = FERRY_GATEWAY_BAD_METHOD;
        d->status = 405;
        return;
    }
    d->name = slash != NULL ? slash + 1 : path_end;
    d->name_len = (size_t)(path_end - d->name);
    long i = memchr(d->name, '/', d->name_len) == NULL
                 ? function_find(d->route, d->name, d->name_len)
                 : -1;
    if (i < 0) {
        d->verdict = FERRY_GATEWAY_NO_FUNCTION;
        d->status = 404;
        return;
    }
    d->verdict = FERRY_GATEWAY_CALL;
    d->function = (size_t)i;
}
