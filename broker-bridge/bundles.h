/* broker-bridge bundles: the secret material of apps, sealed per node (schema/PROTOCOL.md,
 * "Trust", and ferry/bundle.h). Wire documents go out in their public form; each enrolled node an
 * app targets gets the app's bundle sealed to its X25519 key, on its own secrets topic or inside
 * its node.sync. */
#ifndef FERRY_BRIDGE_BUNDLES_H
#define FERRY_BRIDGE_BUNDLES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge.h"
#include "ferry/secrets.h"
#include "store.h"

/* A wire document split into what topics carry and what only targets get. bundle is NULL and
 * digest "" for an app without secret material. Release with bridge__wire_parts_clear. */
typedef struct {
    json_t *pub;
    json_t *bundle;
    char digest[FERRY_SECRETS_DIGEST_LEN];
} bridge_wire_parts;

ferry_err bridge__wire_split(const json_t *wire, bridge_wire_parts *out);
void bridge__wire_parts_clear(bridge_wire_parts *p);

/* The bundle of app sealed to the enrolled node node_rec (its box key), associated data
 * "ns/node/app/digest": *entry = {"app", "digest", "sealed": base64}. FERRY_ENOTFOUND when the
 * node never enrolled. */
ferry_err bridge__seal_for(const json_t *node_rec, const char *app, const bridge_wire_parts *p,
                           json_t **entry);

/* Queue the app's bundle (p) as an app.secrets message to every enrolled node of ns that
 * selector selects now. Nothing when p has no bundle. */
ferry_err bridge__queue_bundles(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                const char *app, const json_t *selector, const bridge_wire_parts *p,
                                size_t *queued);

/* bridge__queue_app_change (write.h) for full wire documents: the bundle of new_wire first, to
 * every target, when its secret material changed (or the selector, or there is no old_wire),
 * then the app's message with the public documents. */
ferry_err bridge__queue_app_wire(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                 const char *app, const json_t *old_spec, const json_t *old_wire,
                                 const json_t *new_wire, int64_t base, int64_t version,
                                 size_t *queued, ferry_detail *e);

#endif
