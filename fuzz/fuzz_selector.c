/* libFuzzer target: the ?selector= of the bridge's node list, read as broker-bridge reads it
 * (views.c, parse_selector): text starting with '{' is JSON checked by ferry_selector_validate,
 * anything else the Kubernetes string form of ferry_selector_parse_string. A selector that
 * either accepts is valid, reads the same in the other form (a parsed string form comes back as
 * the very same object), names its topic label from matchLabels, and matches a node's labels
 * exactly when each of its requirements alone does, each with its operator's meaning, on label
 * sets made from the selector itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/selector.h"
#include "fuzz_util.h"

#define SEL_MAX_STRING 4096 /* what ferry_selector_parse_string reads at most */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether one requirement alone holds for labels, by its definition: a matchLabels entry (op
 * NULL) or an expression. */
static bool requirement_holds(const char *key, const char *op, const json_t *values,
                              const json_t *labels) {
    const json_t *have = json_object_get(labels, key);
    bool listed = false;
    for (size_t i = 0; have != NULL && i < json_array_size(values); i++)
        listed = listed || json_equal(json_array_get(values, i), have);
    if (op == NULL || strcmp(op, "In") == 0)
        return listed;
    if (strcmp(op, "NotIn") == 0)
        return !listed;
    if (strcmp(op, "Exists") == 0)
        return have != NULL;
    return have == NULL; /* DoesNotExist */
}

/* matches(sel, labels) against its requirements one by one: the one selector of each alone
 * matches as the requirement's definition says, and sel as all of them together. */
static void check_match(const json_t *sel, const json_t *labels) {
    const json_t *ml = json_object_get(sel, "matchLabels");
    const json_t *me = json_object_get(sel, "matchExpressions");
    const char *key;
    json_t *v;
    size_t i;
    bool all = true;

    json_object_foreach((json_t *)ml, key, v) {
        json_t *one = json_pack("{s:{s:O}}", "matchLabels", key, v);
        json_t *values = json_pack("[O]", v);
        bool holds = requirement_holds(key, NULL, values, labels);
        if (one == NULL || values == NULL || ferry_selector_matches(one, labels) != holds)
            abort();
        all = all && holds;
        json_decref(one);
        json_decref(values);
    }
    json_array_foreach(me, i, v) {
        json_t *one = json_pack("{s:[O]}", "matchExpressions", v);
        bool holds = requirement_holds(json_string_value(json_object_get(v, "key")),
                                       json_string_value(json_object_get(v, "operator")),
                                       json_object_get(v, "values"), labels);
        if (one == NULL || ferry_selector_matches(one, labels) != holds)
            abort();
        all = all && holds;
        json_decref(one);
    }
    if (ferry_selector_matches(sel, labels) != all)
        abort();
}

#define LABEL_SETS 4

/* The label sets a valid selector is tried on, into sets (new objects): none; every key it names
 * with the first value it names for it; every key with a value it does not name; matchLabels
 * with a value of each In list and any value for Exists (a node it would usually select). */
static void label_sets(const json_t *sel, json_t *sets[LABEL_SETS]) {
    const json_t *ml = json_object_get(sel, "matchLabels");
    const json_t *me = json_object_get(sel, "matchExpressions");
    json_t *none = json_object(), *first = json_object(), *other = json_object();
    json_t *fit = json_is_object(ml) ? json_deep_copy(ml) : json_object();
    const char *key;
    json_t *v;
    size_t i;

    if (none == NULL || first == NULL || other == NULL || fit == NULL)
        abort();
    json_object_foreach((json_t *)ml, key, v) {
        json_object_set(first, key, v);
        json_object_set_new(other, key, json_string("zz-not-named"));
    }
    json_array_foreach(me, i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        const char *op = json_string_value(json_object_get(v, "operator"));
        json_t *v0 = json_array_get(json_object_get(v, "values"), 0);
        if (json_object_get(first, k) == NULL)
            json_object_set_new(first, k, v0 != NULL ? json_copy(v0) : json_string("v"));
        json_object_set_new(other, k, json_string("zz-not-named"));
        if (json_object_get(fit, k) == NULL && (strcmp(op, "In") == 0 || strcmp(op, "Exists") == 0))
            json_object_set_new(fit, k, v0 != NULL ? json_copy(v0) : json_string("v"));
    }
    sets[0] = none;
    sets[1] = first;
    sets[2] = other;
    sets[3] = fit;
}

static void free_sets(json_t *sets[LABEL_SETS]) {
    for (size_t i = 0; i < LABEL_SETS; i++)
        json_decref(sets[i]);
}

/* check_match on every label set, and the topic label: the alphabetically first matchLabels
 * entry. */
static void check_matches(const json_t *sel) {
    const json_t *ml = json_object_get(sel, "matchLabels");
    const char *key, *tk = NULL, *tv = NULL;
    json_t *sets[LABEL_SETS], *v;

    label_sets(sel, sets);
    for (size_t i = 0; i < LABEL_SETS; i++)
        check_match(sel, sets[i]);
    free_sets(sets);
    if (ferry_selector_topic_label(sel, &tk, &tv)) {
        json_object_foreach((json_t *)ml, key, v) {
            if (strcmp(key, tk) < 0)
                abort();
        }
        if (!json_is_string(json_object_get(ml, tk)) ||
            strcmp(json_string_value(json_object_get(ml, tk)), tv) != 0)
            abort();
    } else if (json_object_size(ml) > 0) {
        abort();
    }
}

/* sel (valid) in the string form, parsed again: NULL when the text passes the length cap. */
static json_t *reparse(const json_t *sel) {
    char *text = fuzz_selector_string(sel);
    json_t *again = NULL;
    ferry_detail d;
    if (text == NULL)
        abort();
    if (strlen(text) <= SEL_MAX_STRING && ferry_selector_parse_string(text, &again, &d) != FERRY_OK)
        abort();
    free(text);
    return again;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    json_t *sel = NULL, *again = NULL;
    ferry_detail d;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* a query value reaches the bridge as a C string */
    if (text[0] == '{') {
        if ((sel = json_loads(text, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
            ferry_selector_validate(sel, "selector", &d) != FERRY_OK)
            goto out;
        /* The same selector in the string form selects the same nodes. */
        if ((again = reparse(sel)) != NULL) {
            json_t *sets[LABEL_SETS];
            label_sets(sel, sets);
            for (size_t i = 0; i < LABEL_SETS; i++)
                if (ferry_selector_matches(sel, sets[i]) != ferry_selector_matches(again, sets[i]))
                    abort();
            free_sets(sets);
        }
    } else {
        if (ferry_selector_parse_string(text, &sel, &d) != FERRY_OK)
            goto out;
        if (ferry_selector_validate(sel, "selector", &d) != FERRY_OK)
            abort();
        if ((again = reparse(sel)) != NULL && !json_equal(sel, again))
            abort();
    }
    check_matches(sel);
out:
    json_decref(again);
    json_decref(sel);
    free(text);
    return 0;
}
