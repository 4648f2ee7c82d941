/* edge-sync: the gateway's routes from the survey (routes.h). */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "ferry/function.h"
#include "volumes.h"

/* The strings of a route are the table's own (ferry_strdup), const only for the gateway. */
static void route_clear(ferry_gateway_route *r) {
    ferry_free((void *)r->service);
    ferry_free((void *)r->ns);
    ferry_free((void *)r->app);
    ferry_free((void *)r->socket);
    ferry_free((void *)r->target);
    for (size_t i = 0; i < r->nfunctions; i++)
        ferry_free((void *)r->functions[i]);
    ferry_free((void *)r->functions);
    memset(r, 0, sizeof(*r));
}

void ferry_routes_free(ferry_routes *r) {
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        route_clear(&r->items[i]);
    ferry_free(r->items);
    memset(r, 0, sizeof(*r));
}

/* The address the node reaches a container service on in target ("" when none): its first TCP
 * port's hostPort on loopback, its containerPort on loopback when the pod has the host's network,
 * else its containerPort on the pod's address. */
static void proxy_target(const json_t *spec, const json_t *svc, const char *pod_ip, char *target,
                         size_t len) {
    const json_t *port = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(svc, "ports"), i, p) {
        const char *proto = json_string_value(json_object_get(p, "protocol"));
        if (proto == NULL || strcmp(proto, "TCP") == 0) {
            port = p;
            break;
        }
    }
    target[0] = '\0';
    if (port == NULL)
        return;
    json_int_t cp = json_integer_value(json_object_get(port, "containerPort"));
    json_int_t hp = json_integer_value(json_object_get(port, "hostPort"));
    if (json_is_true(json_object_get(spec, "hostNetwork")))
        snprintf(target, len, "127.0.0.1:%lld", (long long)cp);
    else if (hp > 0)
        snprintf(target, len, "127.0.0.1:%lld", (long long)hp);
    else if (pod_ip != NULL && pod_ip[0] != '\0')
        snprintf(target, len, "%s:%lld", pod_ip, (long long)cp);
}

static ferry_err function_route(const char *data_dir, const char *ns, const char *app,
                                const json_t *svc, size_t index, ferry_gateway_route *r) {
    ferry_volumes_ref vref = {data_dir, ns, app};
    const json_t *fns = json_object_get(svc, "functions");
    char pod[4096], sock[4200];
    char **names;

    r->function = true;
    r->timeout_ms = (unsigned)json_integer_value(json_object_get(svc, "timeout")) * 1000u;
    if (r->timeout_ms == 0)
        r->timeout_ms = FERRY_FUNCTION_TIMEOUT_S * 1000u;
    if (ferry_volumes_pod_path(&vref, 0, pod, sizeof(pod)) != FERRY_OK)
        return FERRY_EINVAL;
    snprintf(sock, sizeof(sock), "%s/%srun-%zu/%s", pod, FERRY_FUNCTION_VOLUME_PREFIX, index,
             FERRY_FUNCTION_SOCKET_NAME);
    if ((r->socket = ferry_strdup(sock)) == NULL ||
        (names = ferry_calloc(json_array_size(fns) + 1, sizeof(char *))) == NULL)
        return FERRY_ENOMEM;
    r->functions = (const char *const *)names;
    for (size_t k = 0; k < json_array_size(fns); k++) {
        const char *n = json_string_value(json_object_get(json_array_get(fns, k), "name"));
        if (n == NULL)
            continue;
        if ((names[r->nfunctions] = ferry_strdup(n)) == NULL)
            return FERRY_ENOMEM;
        r->nfunctions++;
    }
    return FERRY_OK;
}

ferry_err ferry_routes_build(const char *data_dir, const char *ns, const ferry_survey *s,
                             ferry_routes *out) {
    size_t cap = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].dir.kind == FERRY_DIRECTIVE_RUN)
            cap += json_array_size(json_object_get(s->items[i].spec, "services"));
    if (cap == 0)
        return FERRY_OK;
    if ((out->items = ferry_calloc(cap, sizeof(*out->items))) == NULL)
        return FERRY_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        const ferry_survey_item *it = &s->items[i];
        if (it->dir.kind != FERRY_DIRECTIVE_RUN)
            continue;
        const char *type = json_string_value(json_object_get(it->spec, "type"));
        bool function = type != NULL && strcmp(type, "function") == 0;
        bool qps = json_is_true(json_object_get(it->spec, "monitorQps"));
        size_t k;
        json_t *svc;
        json_array_foreach(json_object_get(it->spec, "services"), k, svc) {
            const char *name = json_string_value(json_object_get(svc, "name"));
            char target[48] = "";
            if (!function)
                proxy_target(it->spec, svc, it->pod_ip, target, sizeof(target));
            if (name == NULL || (!function && target[0] == '\0'))
                continue;
            ferry_gateway_route *r = &out->items[out->n++];
            r->monitor_qps = qps;
            if ((r->service = ferry_strdup(name)) == NULL || (r->ns = ferry_strdup(ns)) == NULL ||
                (r->app = ferry_strdup(it->name)) == NULL)
                goto nomem;
            if (function) {
                ferry_err err = function_route(data_dir, ns, it->name, svc, k, r);
                if (err == FERRY_ENOMEM)
                    goto nomem;
                if (err != FERRY_OK) {
                    route_clear(r);
                    out->n--;
                }
                continue;
            }
            r->timeout_ms = FERRY_FUNCTION_TIMEOUT_S * 1000u;
            if ((r->target = ferry_strdup(target)) == NULL)
                goto nomem;
        }
    }
    return FERRY_OK;
nomem:
    ferry_routes_free(out);
    return FERRY_ENOMEM;
}
