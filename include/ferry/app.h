/* Ferry application model: validation, defaults, selectors, node records. Apps are JSON objects
 * (jansson) in the shape of schema/app.schema.json. */
#ifndef FERRY_APP_H
#define FERRY_APP_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"

/* A validation failure: the field path ("services[1].ports[0].hostPort") and the rule broken
 * ("must be an integer between 1 and 65535"). */
typedef struct {
    char field[192];
    char message[256];
} ferry_verr;

/* Validate an app document as received from a user (POST/PUT body). Read-only server fields
 * ("namespace", "version", "createdAt", "updatedAt", "deployState") are accepted and ignored; any
 * other unknown field is an error. Returns FERRY_OK or FERRY_EINVAL with *err filled. */
ferry_err ferry_app_validate(const json_t *app, ferry_verr *err);

/* Return a new object (caller owns) holding only the spec fields of a valid app with defaults
 * filled in: replicas 1, protocol "TCP", description "", labels {}, selector.matchLabels {},
 * env [], command [], args [], ports []. NULL on ENOMEM. */
json_t *ferry_app_normalize(const json_t *app);

/* Validate a node registration {"name": .., "labels": {..}} (labels optional). */
ferry_err ferry_node_validate(const json_t *node, ferry_verr *err);

/* Validate a label map (Kubernetes rules: key = optional DNS-subdomain prefix + '/' + name of at
 * most 63 chars [A-Za-z0-9] with [-_.] inside; value empty or same form). field is the path
 * printed in errors ("labels", "selector.matchLabels"). */
ferry_err ferry_labels_validate(const json_t *labels, const char *field, ferry_verr *err);

/* true when name is a DNS label: 1-63 chars of [a-z0-9-], starting and ending alphanumeric. */
bool ferry_name_valid(const char *name);

/* true when the selector ({"matchLabels": {...}}) selects a node with these labels. An empty or
 * missing selector matches every node. */
bool ferry_selector_matches(const json_t *selector, const json_t *labels);

/* The label topic an app is published on: the alphabetically first matchLabels entry. Returns
 * true and sets *key and *value (borrowed from selector) when there is one; false means the app
 * goes on the namespace-wide "all" topic. */
bool ferry_selector_topic_label(const json_t *selector, const char **key, const char **value);

#endif
