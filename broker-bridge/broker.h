/* Broker administration: what the bridge asks of the MQTT broker so that each node holds its own
 * credential and may use only its own topics, and so that a person may watch the traffic.
 *
 * PURE. Nothing here touches the network or the store: every operation turns a change into the
 * MQTT messages that carry it out and hands them, in order, to an emit callback. The bridge
 * appends them to its outbox in the transaction of the node write that caused them, so broker
 * changes are as durable and as ordered as every other message: published in order, and again
 * after a crash until the broker acknowledged them. Every operation is therefore idempotent (a
 * replayed grant or revoke leaves the same state), and its messages must be published by a client
 * that may administer the broker (services.sh's bridge client, scripts/mqtts.sh).
 *
 * Two layers. The policy (ferry_broker_node_policy) is broker-neutral: a credential's names and
 * the topic filters it may publish on or subscribe to. An adapter (ferry_broker_ops) says it in
 * one broker's language. The one adapter today, "mosquitto-dynsec", writes command lists for
 * mosquitto's dynamic-security plugin on $CONTROL/dynamic-security/v1 (broker_dynsec.c); "none"
 * emits nothing, for a broker that lets every client do everything (the plain test broker). The
 * protocol between bridge and nodes stays standard MQTT; an EMQX or HiveMQ adapter goes here: one
 * administered over MQTT fits as is, one administered over HTTP (EMQX's REST API) or one that
 * asks the bridge (EMQX's HTTP authorizer, a HiveMQ extension) implements the same operations and
 * emits nothing or other messages.
 *
 * Names. ns and node are DNS labels (no dots), so these names never collide, with each other or
 * with the broker's own clients (ferry-bridge, ferry-admin: no dot):
 *   node credential   username = client id = "node.{ns}.{node}"
 *   debug credential  username = client id = "debug.{name}"
 * The client id is bound to the credential (the broker refuses the credential with any other
 * client id), so one node cannot take over another's session (take the client id and close the
 * connection holding it), not even with its own password. A
 * node learns both names with its credential (enrollment), and connects with them. */
#ifndef FERRY_BROKER_H
#define FERRY_BROKER_H

#include <jansson.h>
#include <stddef.h>

#include "ferry/common.h"
#include "ferry/topics.h"

#define FERRY_BROKER_NAME_MAX 160             /* a username or client id, NUL included */
#define FERRY_BROKER_PASSWORD_MAX 256         /* bytes of a password, NUL excluded */
#define FERRY_BROKER_CONTROL_MAX (256 * 1024) /* bytes of one emitted message, at most */

/* One message to queue: payload (len bytes, not NUL-terminated) on topic, QoS 1, not retained.
 * topic and payload are borrowed for the call. A return other than FERRY_OK stops the operation,
 * which returns that error (messages emitted before it stay emitted: the caller's transaction
 * decides). */
typedef ferry_err (*ferry_broker_emit_fn)(void *ctx, const char *topic,
                                          const unsigned char *payload, size_t len);

/* ---- the policy (broker-neutral) ------------------------------------------------------------- */

typedef enum {
    FERRY_BROKER_PUBLISH,  /* may publish on topics matching filter */
    FERRY_BROKER_SUBSCRIBE /* may subscribe to filter (or a narrower one) and receive what matches
                            */
} ferry_broker_access;

typedef struct {
    ferry_broker_access access;
    char filter[FERRY_TOPIC_MAX];
} ferry_broker_rule;

/* Everything a credential may do; nothing else is allowed. rules is owned (policy_free). */
typedef struct {
    char username[FERRY_BROKER_NAME_MAX];
    char client_id[FERRY_BROKER_NAME_MAX];
    ferry_broker_rule *rules;
    size_t nrules;
} ferry_broker_policy;

/* The node's names into buf (len bytes): "node.{ns}.{node}" (username and client id alike).
 * FERRY_EINVAL when ns or node is not a DNS label, FERRY_ETOOBIG when buf is too small. */
ferry_err ferry_broker_node_username(const char *ns, const char *node, char *buf, size_t len);

/* "debug.{name}", as above for name. */
ferry_err ferry_broker_debug_username(const char *name, char *buf, size_t len);

/* What node ns/node with these labels (a label map, ferry_labels_validate; NULL: none) may do:
 *   publish    ferry/{ns}/nodes/{node}/hello, .../online, .../status/+, .../stats
 *   subscribe  ferry/{ns}/nodes/{node}/sync, .../secrets/+, ferry/{ns}/all/apps/+, and for each
 *              label ferry/{ns}/labels/{key}={value}/apps/+ (ferry_topic_label_filter's spelling)
 * Label rules come in the order of their keys (bytewise). *out is filled (free it with
 * ferry_broker_policy_free); on error it holds nothing. FERRY_EINVAL for a bad name or label map,
 * FERRY_ENOMEM. */
ferry_err ferry_broker_node_policy(const char *ns, const char *node, const json_t *labels,
                                   ferry_broker_policy *out);

/* What debug credential name may do: subscribe ferry/# (read every Ferry message, app specs
 * with their resolved secrets included); publish nothing. */
ferry_err ferry_broker_debug_policy(const char *name, ferry_broker_policy *out);

/* Frees p's rules and empties it; NULL or an empty policy is a no-op. */
void ferry_broker_policy_free(ferry_broker_policy *p);

/* ---- adapters -------------------------------------------------------------------------------- */

/* One broker's language. Both functions are pure and emit the whole change as few messages as
 * the broker allows (dynsec: one), each at most FERRY_BROKER_CONTROL_MAX bytes. */
typedef struct {
    const char *kind;
    /* Create or update the credential of p: it ends up with exactly p's rules and, when password
     * is not NULL, that password with p->client_id bound (closing a live connection of the
     * credential, which used the old one). password NULL keeps the credential's password,
     * client id and connection; a credential that did not exist is created without a password
     * and cannot log in until a grant gives it one. */
    ferry_err (*grant)(const ferry_broker_policy *p, const char *password,
                       ferry_broker_emit_fn emit, void *ctx);
    /* Delete the credential username and its rules: its live connection is closed and every
     * later connection refused. Revoking what does not exist changes nothing. */
    ferry_err (*revoke)(const char *username, ferry_broker_emit_fn emit, void *ctx);
} ferry_broker_ops;

extern const ferry_broker_ops ferry_broker_dynsec_ops; /* "mosquitto-dynsec" (broker_dynsec.c) */

/* ---- the interface the bridge calls ---------------------------------------------------------- */

typedef struct ferry_broker ferry_broker; /* opaque */

/* The adapter named kind: "mosquitto-dynsec" or "none". FERRY_EINVAL for another kind,
 * FERRY_ENOMEM. */
ferry_err ferry_broker_create(const char *kind, ferry_broker **out);
void ferry_broker_destroy(ferry_broker *b); /* NULL: no-op */
const char *ferry_broker_kind(const ferry_broker *b);

/* Create or update node ns/node's credential and rules (ferry_broker_node_policy for labels).
 * password: 1..FERRY_BROKER_PASSWORD_MAX bytes of printable ASCII (no space), or NULL to keep it (a
 * relabel). On a live connection: a new password closes it; a relabel does not, and a subscription
 * to a label the node lost stops delivering at once (the broker checks what a client may receive on
 * every message). FERRY_EINVAL for a bad name, label map or password (nothing emitted),
 * FERRY_ENOMEM, FERRY_ETOOBIG, or what emit returned. */
ferry_err ferry_broker_node_grant(const ferry_broker *b, const char *ns, const char *node,
                                  const char *password, const json_t *labels,
                                  ferry_broker_emit_fn emit, void *ctx);

/* Delete node ns/node's credential: its connection is closed, its next one refused. mosquitto
 * keeps the session of its client id (its subscriptions, until the session expires) but queues
 * nothing for it meanwhile: every message is checked against the read rights of a credential
 * that no longer exists (docs/platform.md). */
ferry_err ferry_broker_node_revoke(const ferry_broker *b, const char *ns, const char *node,
                                   ferry_broker_emit_fn emit, void *ctx);

/* A read-only credential "debug.{name}" for a person: `mosquitto_sub -i debug.NAME -u
 * debug.NAME -P PASSWORD -t 'ferry/#'`. It reads everything the nodes read (secrets included):
 * grant it for a while, then revoke it. password as for node_grant, but required. */
ferry_err ferry_broker_debug_grant(const ferry_broker *b, const char *name, const char *password,
                                   ferry_broker_emit_fn emit, void *ctx);
ferry_err ferry_broker_debug_revoke(const ferry_broker *b, const char *name,
                                    ferry_broker_emit_fn emit, void *ctx);

#endif
