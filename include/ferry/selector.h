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

/* The requirements of a selector, one at a time, for code that evaluates them otherwise than
 * against one node's labels (the bridge's label postings). EQ is a matchLabels entry: value is
 * the wanted value and values the same as a JSON string; IN and NOT_IN have values (a JSON
 * array, absent for an IN without values; its members need not be strings: such a member equals
 * no label); EXISTS and NOT_EXISTS have neither. */
typedef enum {
    FERRY_SELECTOR_EQ,
    FERRY_SELECTOR_IN,
    FERRY_SELECTOR_NOT_IN,
    FERRY_SELECTOR_EXISTS,
    FERRY_SELECTOR_NOT_EXISTS
} ferry_selector_op;

typedef bool (*ferry_selector_fn)(const char *key, ferry_selector_op op, const char *value,
                                  const json_t *values, void *ctx);

/* Call fn for each requirement of selector, matchLabels first, until it returns false. Returns 1
 * when every requirement was passed (an empty or missing selector has none), 0 when fn stopped
 * the walk, and -1 for a malformed selector, which selects nothing (not an object, a member of
 * the wrong type, a matchLabels value that is not a string, an expression without a key or with
 * an unknown operator, NotIn without values); fn may have been called for the requirements
 * before the malformed one. */
int ferry_selector_each(const json_t *selector, ferry_selector_fn fn, void *ctx);

/* true when the selector selects a node with these labels (Kubernetes semantics: every
 * matchLabels entry and every expression must hold; NotIn and DoesNotExist hold for a missing
 * label). An empty or missing selector matches every node; a malformed one matches none. */
bool ferry_selector_matches(const json_t *selector, const json_t *labels);

/* The label topic an app is published on: the alphabetically first matchLabels entry. Returns
 * true and sets *key and *value (borrowed from selector) when there is one; false means the app
 * goes on the namespace-wide "all" topic (also when it selects by matchExpressions only). */
bool ferry_selector_topic_label(const json_t *selector, const char **key, const char **value);

#endif
