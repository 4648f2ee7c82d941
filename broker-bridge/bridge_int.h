/* broker-bridge internals shared by bridge.c (writes, node messages, outbox) and views.c (the
 * read side of the REST API). Not for other modules. */
#ifndef FERRY_BRIDGE_INT_H
#define FERRY_BRIDGE_INT_H

#include <pthread.h>

#include "bridge.h"
#include "store.h"

#define BRIDGE_KEY_MAX 200 /* "ns/app/node": three DNS labels and two slashes */

struct ferry_bridge {
    pthread_mutex_t lock; /* serialises every store access and the publisher state below */
    ferry_store *store;
    ferry_bridge_config cfg;
    /* Publisher state (under lock). */
    bool mqtt_up;
    uint32_t gen;             /* connection generation, bumped on every (re)connect */
    uint64_t cursor;          /* next outbox seq to hand over in this generation */
    size_t inflight;          /* handed over in this generation, not yet answered */
    uint64_t retry_from;      /* lowest failed seq to resend on the next tick; UINT64_MAX: none */
    int64_t last_progress_ms; /* monotonic time of the last ack, or of the first send after idle */
};

/* Fill *e (if not NULL) and return err. */
ferry_err bridge__fail(ferry_bridge_error *e, ferry_err err, const char *field, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

/* Check the namespace (and name, when not NULL) taken from a request: FERRY_EINVAL naming the
 * field when one is not a DNS label. */
ferry_err bridge__check_names(const char *ns, const char *name, ferry_bridge_error *e);

/* Store failure as seen by an API client. */
ferry_err bridge__store_fail(ferry_bridge_error *e, ferry_err err);

/* "a/b" or "a/b/c" into buf[BRIDGE_KEY_MAX]; c may be NULL. */
void bridge__key(char *buf, const char *a, const char *b, const char *c);

/* Read and check an app / node record: FERRY_EFORMAT (logged) when a field is missing or mistyped,
 * besides the errors of ferry_store_get. *out is owned by the caller. */
ferry_err bridge__get_app(ferry_store_txn *t, const char *ns, const char *name, json_t **out);
ferry_err bridge__get_node(ferry_store_txn *t, const char *ns, const char *name, json_t **out);
bool bridge__app_record_ok(const char *key, const json_t *rec);
bool bridge__node_record_ok(const char *key, const json_t *rec);
bool bridge__status_record_ok(const char *key, const json_t *rec);

/* Record field accessors (records are checked on read, so these never fail). */
int64_t bridge__int(const json_t *rec, const char *field);

/* RFC 3339 UTC ("2026-11-26T06:44:48Z") of a time in milliseconds since the epoch. */
json_t *bridge__time(int64_t ms);

/* REST views of stored records (new references; NULL on ENOMEM). node_view reads the node's
 * online state in t. */
json_t *bridge__app_view(const json_t *rec);
json_t *bridge__node_view(ferry_store_txn *t, const json_t *rec);

#endif
