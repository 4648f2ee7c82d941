/* Ferry application model: validation, defaults and config references of apps, node
 * registrations. Apps are JSON objects (jansson) in the shape of schema/app.schema.json. */
#ifndef FERRY_APP_H
#define FERRY_APP_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"
/* Names, labels and selectors have headers of their own; included here only for code that still
 * reaches them through this one (edge-sync). New code includes what it uses. */
#include "ferry/labels.h"
#include "ferry/selector.h"

/* Validate an app document as received from a user (POST/PUT body): every field and rule of
 * schema/app.schema.json plus the rules it cannot express (docs/apps-complete.md, "Field rules" in
 * schema/PROTOCOL.md). Read-only server fields ("namespace", "version", "createdAt", "updatedAt",
 * "deployState") are accepted and ignored; "resolved" is refused ("resolved: read-only, filled by
 * the server"); any other unknown field is an error. Returns FERRY_OK or FERRY_EINVAL with *d
 * filled. Same as ferry_app_validate_ex(app, 0, d). */
ferry_err ferry_app_validate(const json_t *app, ferry_detail *d);

/* Flags of ferry_app_validate_ex. */
#define FERRY_APP_ALLOW_RESOLVED 0x1u /* accept (and fully check) the server-filled "resolved" */

/* ferry_app_validate with flags. With FERRY_APP_ALLOW_RESOLVED (specs on the wire and in a
 * node's store), a "resolved" member is accepted and checked: its shape (configs: {name: {kind,
 * version, files: {file: {data: base64, mode: 0..0777}}}}, registries: [{name, server, username,
 * password}]) and its agreement with the app (every config a volume references is present with
 * the volume's kind, every name of registries[] has exactly one entry, nothing else). A missing
 * "resolved" counts as empty. */
ferry_err ferry_app_validate_ex(const json_t *app, unsigned flags, ferry_detail *d);

/* Return a new object (caller owns) holding only the spec fields of a valid app with defaults
 * filled in: description "", labels {}, selector.matchLabels {} (matchExpressions kept when
 * non-empty, each with values [] by default), volumes [], initServices [], registries [],
 * workload "deployment", replicas 1, restartPolicy ("Always"; "Never" for a job), backoffLimit 6
 * (job only), hostNetwork false, monitorQps false; per container: command [], args [], env []
 * (value
 * ""), ports [] (protocol "TCP"; services only), volumeMounts [] (readOnly false), privileged
 * false; "resources" and "deploy" are copied when present. A "resolved" member is copied as is.
 * NULL on ENOMEM. */
json_t *ferry_app_normalize(const json_t *app);

/* The config objects an app references, for the server to resolve: *refs becomes a new object
 * (caller owns) {"configs": {name: kind}, "registries": [name, ...]} where kind is "config",
 * "secret" or "certificate" (from volumes) and registries lists the app's registries[] in order.
 * Meant for valid apps; malformed entries are skipped. FERRY_EINVAL when app is not an object or
 * refs is NULL, FERRY_ENOMEM. */
ferry_err ferry_app_config_refs(const json_t *app, json_t **refs);

/* Validate a node registration {"name": .., "labels": {..}} (labels optional). */
ferry_err ferry_node_validate(const json_t *node, ferry_detail *d);

#endif
