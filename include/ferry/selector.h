/* Ferry label selectors (Kubernetes semantics): validation, the string form, matching a node's
 * labels, and the label topic an app goes on. */
#ifndef FERRY_SELECTOR_H
#define FERRY_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"

/* Validate a label selector {"matchLabels": {..}, "matchExpressions": [{key, operator, values}]}
 * (both optional): label rules for matchLabels, keys of expressions label keys, operator In |
 * NotIn | Exists | DoesNotExist, values (label values) non-empty for In/NotIn and absent or empty
 * for Exists/DoesNotExist. field is the path printed in errors (default "selector"); errors name
 * e.g. "selector.matchExpressions[0].values". FERRY_OK or FERRY_EINVAL with *d filled. */
ferry_err ferry_selector_validate(const json_t *selector, const char *field, ferry_detail *d);

/* Parse the Kubernetes string form of a selector: comma-separated requirements "key=value" or
 * "key==value" (into matchLabels), "key!=value" (NotIn), "key in (v1,v2)", "key notin (v1,v2)",
 * "key" (Exists), "!key" (DoesNotExist), with blanks allowed around tokens; "" selects
 * everything. On success *selector is a new, valid selector object (caller owns; members left out
 * when empty). FERRY_EINVAL with *d filled (field "selector", the message names the character
 * position), FERRY_ENOMEM. */
ferry_err ferry_selector_parse_string(const char *s, json_t **selector, ferry_detail *d);

/* true when the selector selects a node with these labels (Kubernetes semantics: every
 * matchLabels entry and every expression must hold; NotIn and DoesNotExist hold for a missing
 * label). An empty or missing selector matches every node; a malformed one matches none. */
bool ferry_selector_matches(const json_t *selector, const json_t *labels);

/* The label topic an app is published on: the alphabetically first matchLabels entry. Returns
 * true and sets *key and *value (borrowed from selector) when there is one; false means the app
 * goes on the namespace-wide "all" topic (also when it selects by matchExpressions only). */
bool ferry_selector_topic_label(const json_t *selector, const char **key, const char **value);

#endif
