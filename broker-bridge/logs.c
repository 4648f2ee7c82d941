/* broker-bridge logs: requests for a container's log waiting for their node's answer (logs.h). */
#include "logs.h"

#include <pthread.h>
#include <string.h>

#include "ferry/proto.h"

typedef struct req {
    json_t *msg; /* the logs.request without "type" (ns, node, id, app, service, tail, since) */
    int64_t at;  /* monotonic ms when added */
    bool ready, sent;
    ferry_bridge_logs_fn done;
    void *ctx;
    struct req *next;
} req;

struct bridge_logs {
    pthread_mutex_t lock;
    req *head;
    size_t n;
};

ferry_err bridge__logs_new(bridge_logs **out) {
    bridge_logs *l = ferry_calloc(1, sizeof(*l));
    *out = NULL;
    if (l == NULL)
        return FERRY_ENOMEM;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        ferry_free(l);
        return FERRY_ENOMEM;
    }
    *out = l;
    return FERRY_OK;
}

void bridge__logs_free(bridge_logs *l) {
    if (l == NULL)
        return;
    bridge__logs_expire(l, 0, true);
    pthread_mutex_destroy(&l->lock);
    ferry_free(l);
}

static const char *field(const json_t *o, const char *k) {
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

ferry_err bridge__logs_add(bridge_logs *l, const json_t *msg, ferry_bridge_logs_fn done,
                           void *ctx) {
    ferry_err err = FERRY_ETOOBIG;
    req *r = NULL;
    pthread_mutex_lock(&l->lock);
    if (l->n >= BRIDGE_LOGS_MAX)
        goto out;
    err = FERRY_ENOMEM;
    if ((r = ferry_calloc(1, sizeof(*r))) == NULL || (r->msg = json_deep_copy(msg)) == NULL) {
        ferry_free(r);
        goto out;
    }
    r->at = ferry_mono_ms();
    r->done = done;
    r->ctx = ctx;
    r->next = l->head;
    l->head = r;
    l->n++;
    err = FERRY_OK;
out:
    pthread_mutex_unlock(&l->lock);
    return err;
}

void bridge__logs_go(bridge_logs *l, const char *id) {
    pthread_mutex_lock(&l->lock);
    for (req *r = l->head; r != NULL; r = r->next) {
        if (strcmp(field(r->msg, "id"), id) == 0)
            r->ready = true;
    }
    pthread_mutex_unlock(&l->lock);
}

json_t *bridge__logs_to_send(bridge_logs *l) {
    json_t *out = json_array();
    pthread_mutex_lock(&l->lock);
    for (req *r = l->head; r != NULL && out != NULL; r = r->next) {
        if (!r->ready || r->sent)
            continue;
        json_t *m = json_deep_copy(r->msg);
        if (m == NULL || json_object_set_new(m, "type", json_string(FERRY_MSG_LOGS_REQUEST)) != 0 ||
            json_array_append_new(out, m) != 0)
            break; /* out of memory: the rest go on the next wake-up */
        r->sent = true;
    }
    pthread_mutex_unlock(&l->lock);
    return out;
}

/* Take the request of id out of the list (lock held); NULL when there is none. */
static req *take(bridge_logs *l, const char *id) {
    for (req **p = &l->head; *p != NULL; p = &(*p)->next) {
        if (strcmp(field((*p)->msg, "id"), id) == 0) {
            req *r = *p;
            *p = r->next;
            l->n--;
            return r;
        }
    }
    return NULL;
}

static void finish(req *r, unsigned status, json_t *body) {
    r->done(r->ctx, status, body);
    json_decref(r->msg);
    ferry_free(r);
}

bool bridge__logs_answer(bridge_logs *l, const char *ns, const char *node, const json_t *msg) {
    pthread_mutex_lock(&l->lock);
    req *r = take(l, field(msg, "id"));
    /* Only the node asked answers, and only for what was asked. */
    if (r != NULL &&
        (strcmp(field(r->msg, "ns"), ns) != 0 || strcmp(field(r->msg, "node"), node) != 0 ||
         strcmp(field(r->msg, "app"), field(msg, "app")) != 0 ||
         strcmp(field(r->msg, "service"), field(msg, "service")) != 0 || !r->sent)) {
        r->next = l->head; /* not its answer: back in the list */
        l->head = r;
        l->n++;
        r = NULL;
    }
    pthread_mutex_unlock(&l->lock);
    if (r == NULL)
        return false;
    json_t *body =
        json_is_true(json_object_get(msg, "ok"))
            ? json_pack("{s:s, s:s, s:s, s:s, s:O}", "node", node, "app", field(msg, "app"),
                        "service", field(msg, "service"), "text", field(msg, "text"), "truncated",
                        json_object_get(msg, "truncated"))
            : json_pack("{s:s}", "error", field(msg, "error"));
    finish(r, json_is_true(json_object_get(msg, "ok")) ? 200 : 502, body);
    return true;
}

void bridge__logs_expire(bridge_logs *l, int64_t now, bool all) {
    req *gone = NULL;
    pthread_mutex_lock(&l->lock);
    for (req **p = &l->head; *p != NULL;) {
        req *r = *p;
        if (all || (r->ready && now - r->at >= BRIDGE_LOGS_TIMEOUT_MS)) {
            *p = r->next;
            l->n--;
            r->next = gone;
            gone = r;
        } else {
            p = &r->next;
        }
    }
    pthread_mutex_unlock(&l->lock);
    /* Outside the lock: done resumes HTTP connections. */
    while (gone != NULL) {
        req *r = gone;
        gone = r->next;
        json_t *body =
            all ? json_pack("{s:s}", "error", "the bridge is stopping; ask again")
                : json_pack("{s:s, s:s}", "error",
                            "the node did not answer within 15 s (offline, or its link is slow)",
                            "node", field(r->msg, "node"));
        finish(r, all ? 503 : 504, body);
    }
}
