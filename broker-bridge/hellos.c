/* broker-bridge hellos: per-node budget and sync cache (see hellos.h). */
#include "hellos.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ferry/topics.h"

struct bridge_hellos {
    pthread_mutex_t lock;
    json_t *nodes; /* "ns/node" -> {"tokens": n, "at": ms, "rev": r, "digest": s, "sync": msg} */
};

ferry_err bridge__hellos_new(bridge_hellos **out) {
    bridge_hellos *h = ferry_calloc(1, sizeof(*h));
    *out = NULL;
    if (h == NULL)
        return FERRY_ENOMEM;
    if ((h->nodes = json_object()) == NULL || pthread_mutex_init(&h->lock, NULL) != 0) {
        json_decref(h->nodes);
        ferry_free(h);
        return FERRY_ENOMEM;
    }
    *out = h;
    return FERRY_OK;
}

void bridge__hellos_free(bridge_hellos *h) {
    if (h == NULL)
        return;
    json_decref(h->nodes);
    pthread_mutex_destroy(&h->lock);
    ferry_free(h);
}

/* The state of ns/node (borrowed; created when create), lock held. */
static json_t *state_of(bridge_hellos *h, const char *ns, const char *node, bool create) {
    char key[2 * FERRY_NAME_MAX + 2];
    snprintf(key, sizeof(key), "%s/%s", ns, node);
    json_t *st = json_object_get(h->nodes, key);
    if (st != NULL || !create)
        return st;
    if (json_object_size(h->nodes) >= HELLO_MAX_NODES)
        json_object_clear(h->nodes); /* a budget forgotten is a fresh budget: bounded memory */
    st = json_pack("{s:i, s:I}", "tokens", HELLO_BURST, "at", (json_int_t)0);
    if (st == NULL || json_object_set_new(h->nodes, key, st) != 0)
        return NULL;
    return st;
}

bool bridge__hellos_admit(bridge_hellos *h, const char *ns, const char *node, int64_t now_ms) {
    bool ok = true;
    pthread_mutex_lock(&h->lock);
    json_t *st = state_of(h, ns, node, true);
    if (st != NULL) {
        json_int_t tokens = json_integer_value(json_object_get(st, "tokens"));
        json_int_t at = json_integer_value(json_object_get(st, "at"));
        json_int_t refill = at == 0 ? HELLO_BURST : (now_ms - at) / HELLO_REFILL_MS;
        if (refill > 0) {
            tokens = tokens + refill > HELLO_BURST ? HELLO_BURST : tokens + refill;
            at = at == 0 ? now_ms : at + refill * HELLO_REFILL_MS;
        }
        ok = tokens > 0;
        json_object_set_new(st, "tokens", json_integer(ok ? tokens - 1 : tokens));
        json_object_set_new(st, "at", json_integer(at));
    }
    pthread_mutex_unlock(&h->lock);
    return ok;
}

json_t *bridge__hellos_cached(bridge_hellos *h, const char *ns, const char *node, uint64_t rev,
                              const char *digest) {
    json_t *sync = NULL;
    pthread_mutex_lock(&h->lock);
    json_t *st = state_of(h, ns, node, false);
    const char *d = json_string_value(json_object_get(st, "digest"));
    if (d != NULL && strcmp(d, digest) == 0 &&
        json_integer_value(json_object_get(st, "rev")) == (json_int_t)rev)
        sync = json_incref(json_object_get(st, "sync")); /* read-only from now on */
    pthread_mutex_unlock(&h->lock);
    return sync;
}

void bridge__hellos_keep(bridge_hellos *h, const char *ns, const char *node, uint64_t rev,
                         const char *digest, json_t *sync) {
    pthread_mutex_lock(&h->lock);
    json_t *st = state_of(h, ns, node, true);
    if (st != NULL) {
        json_object_set_new(st, "rev", json_integer((json_int_t)rev));
        json_object_set_new(st, "digest", json_string(digest));
        json_object_set(st, "sync", sync);
    }
    pthread_mutex_unlock(&h->lock);
}
