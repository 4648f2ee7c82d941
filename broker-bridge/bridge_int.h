/* broker-bridge internals shared by bridge.c (writes, node messages, outbox) and views.c (the
 * read side of the REST API). Not for other modules. */
#ifndef FERRY_BRIDGE_INT_H
#define FERRY_BRIDGE_INT_H

#include <pthread.h>

#include "bridge.h"
#include "secrets.h"
#include "store.h"

#define BRIDGE_KEY_MAX 200 /* "ns/app/node": three DNS labels and two slashes */

struct ferry_bridge {
    pthread_mutex_t lock; /* serialises every store access and the publisher state below */
    ferry_store *store;
    ferry_bridge_config cfg;
    unsigned char key[FERRY_SECRETS_KEY_LEN]; /* encrypts secret config values; read-only */
    /* Publisher state (under lock). */
    bool mqtt_up;
    uint32_t gen;             /* connection generation, bumped on every (re)connect */
    uint64_t cursor;          /* next outbox seq to hand over in this generation */
    size_t inflight;          /* handed over in this generation, not yet answered */
    uint64_t retry_from;      /* lowest failed seq to resend on the next tick; UINT64_MAX: none */
    int64_t last_progress_ms; /* monotonic time of the last ack, or of the first send after idle */
};

/* Check the namespace (and name, when not NULL) taken from a request: FERRY_EINVAL naming the
 * field when one is not a DNS label. */
ferry_err bridge__check_names(const char *ns, const char *name, ferry_detail *e);

/* Store failure as seen by an API client. */
ferry_err bridge__store_fail(ferry_detail *e, ferry_err err);

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

/* The topic an app with this spec is published on (see PROTOCOL.md, "Topics") into buf; errors of
 * ferry_topic_build, logged. */
ferry_err bridge__app_topic(const char *ns, const char *app, const json_t *spec, char *buf,
                            size_t len);

/* RFC 3339 UTC ("2026-11-26T06:44:48Z") of a time in milliseconds since the epoch. */
json_t *bridge__time(int64_t ms);

/* REST views of stored records (new references; NULL on ENOMEM). app_view adds the deployment
 * state at now_ms (README.md, "Scheduled deployment"); node_view reads the node's online state and
 * GPUs in t; config_view shows secret values as their digest (NULL also for a sealed value that
 * is malformed: check records with bridge__config_record_ok first). */
json_t *bridge__app_view(const json_t *rec, int64_t now_ms);
json_t *bridge__node_view(ferry_store_txn *t, const json_t *rec);
json_t *bridge__config_view(const json_t *rec);

/* The deploy.at of a spec in ms (false when the spec has none or it does not parse). */
bool bridge__deploy_at(const json_t *spec, int64_t *at_ms);

/* true when gpu is the object a node reports in node.online ({"sharing": bool, "devices":
 * [{"index", "model", "memoryMiB"}]}, at most 64 devices): untrusted, so checked before it is
 * stored and again when read back. */
bool bridge__gpu_ok(const json_t *gpu);

/* ---- writes (bridge.c), shared with configs.c ----------------------------------------------- */

/* One API write: inputs, outputs and the transaction body. Outputs are reset at the start of the
 * body (bridge__op_reset) because the store may run it again on a grown map. */
typedef struct {
    ferry_bridge *b;
    const char *ns;
    const char *name;
    const json_t *input;     /* normalized app spec, node labels, or sealed config */
    json_int_t body_version; /* PUT "version" or 0 */
    int64_t now;
    json_t *out;
    size_t queued;
    ferry_detail *e;
} bridge_write_op;

void bridge__op_reset(bridge_write_op *op);

/* The optional "version" of a PUT body into *version (0 when absent): FERRY_EINVAL naming the
 * field when it is not a positive integer. */
ferry_err bridge__body_version(const json_t *body, json_int_t *version, ferry_detail *e);

/* FERRY_ECONFLICT (op->e filled) when the PUT named a version other than the stored one. */
ferry_err bridge__check_version(const bridge_write_op *op, int64_t stored);

/* Run fn in one write transaction under the bridge lock; on success *out = op->out and the
 * publisher is kicked when messages were queued; on a store failure op->e is filled. */
ferry_err bridge__run_write(ferry_bridge *b, ferry_store_fn fn, bridge_write_op *op, json_t **out);

/* Queue the messages of an app change from version base to version: the wire documents before
 * (old_wire; NULL when unknown, which forces an app.put) and after. app.patch when the selector
 * is unchanged and the encoded patch is smaller than the app.put, else app.put, on the app's
 * topic and also on the old topic (from old_spec's selector) when it moved. A message over
 * FERRY_MAX_PAYLOAD is FERRY_EINVAL with e filled. */
ferry_err bridge__queue_app_change(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                   const char *app, const json_t *old_spec, const json_t *old_wire,
                                   const json_t *new_wire, int64_t base, int64_t version,
                                   size_t *queued, ferry_detail *e);

/* ---- config objects and the wire documents of apps (configs.c) ----------------------------- */

/* Check a config record: its fields (bridge.c), then its "config" member (configs.c): an object
 * of the record's name and kind whose secret values are sealed ({"enc", "digest"}). Logged. */
bool bridge__config_record_ok(const char *key, const json_t *rec);
bool bridge__config_body_ok(const char *key, const json_t *rec);

/* Find the first sealed value in the store (*where: "config ns/name, field f", from ferry_malloc;
 * NULL when there is none) and, with decrypt, check that b->key decrypts it (FERRY_EINVAL when
 * not). For the start-up check of the key file; takes the lock itself. */
ferry_err bridge__probe_sealed(ferry_bridge *b, bool decrypt, char **where);

/* Turns stored apps into what nodes receive, reading the configs they reference in one
 * transaction; resolved entries are cached for the life of the resolver (one namespace). */
typedef struct {
    ferry_bridge *b;
    ferry_store_txn *t;
    const char *ns;
    json_t *configs;    /* cache: name -> {kind, version, files} */
    json_t *registries; /* cache: name -> {name, server, username, password} */
} bridge_resolver;

void bridge__resolver_init(bridge_resolver *r, ferry_bridge *b, ferry_store_txn *t, const char *ns);
void bridge__resolver_done(bridge_resolver *r);

/* The wire document of app: a copy of spec plus "resolved" (PROTOCOL.md, "Resolved configs"):
 * the files of every config its volumes name and the credentials of its registries; no
 * "resolved" when it references none. *wire is new. A reference to a missing config or one of
 * another kind is FERRY_EINVAL with e filled naming the field ("volumes[1].secret.name",
 * "registries[0]"); an unreadable config record or a failed decryption is FERRY_EFORMAT (logged;
 * e filled when not NULL). */
ferry_err bridge__wire_spec(bridge_resolver *r, const char *app, const json_t *spec, json_t **wire,
                            ferry_detail *e);

/* Whether spec references the config object name (a volume or registries[]). */
bool bridge__app_uses_config(const json_t *spec, const char *name);

#endif
