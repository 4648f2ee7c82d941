/* Ferry label selectors: validation, matching with Kubernetes semantics (matchLabels and
 * matchExpressions), the topic an app goes on, and the Kubernetes string form. */
#include "ferry/selector.h"

#include <stdio.h>
#include <string.h>

#include "ferry/labels.h"
#include "internal.h"

#define SEL_MAX_EXPRESSIONS 64
#define SEL_MAX_VALUES 64
#define SEL_MAX_STRING 4096

static const char *const SEL_OPERATORS[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};

static ferry_err check_expression(const json_t *e, const char *path, ferry_detail *d) {
    static const char *const fields[] = {"key", "operator", "values", NULL};
    char f[192];
    ferry_err rc;

    if (!json_is_object(e))
        return ferry_fail(d, FERRY_EINVAL, path, "must be an object {key, operator, values}");
    if ((rc = validate__check_fields(e, path, fields, NULL, d)) != FERRY_OK)
        return rc;
    const json_t *key = json_object_get(e, "key");
    const json_t *op = json_object_get(e, "operator");
    const json_t *values = json_object_get(e, "values");
    ferry__path(f, sizeof(f), "%s.key", path);
    if (key == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    const char *k = validate__str(key);
    if (k == NULL || !labels__key_valid(k, strlen(k)))
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be a label key: an optional DNS subdomain prefix and '/', then "
                          "1-63 characters [A-Za-z0-9-_.] starting and ending with a letter or "
                          "digit");
    ferry__path(f, sizeof(f), "%s.operator", path);
    if (op == NULL)
        return ferry_fail(d, FERRY_EINVAL, f, "is required");
    const char *o = validate__str(op);
    if (o == NULL || !validate__key_in(o, SEL_OPERATORS))
        return ferry_fail(d, FERRY_EINVAL, f, "must be one of In, NotIn, Exists, DoesNotExist");
    bool need = o[0] == 'I' || o[0] == 'N'; /* In, NotIn */
    ferry__path(f, sizeof(f), "%s.values", path);
    if (values != NULL && (!json_is_array(values) || json_array_size(values) > SEL_MAX_VALUES))
        return ferry_fail(d, FERRY_EINVAL, f, "must be an array of at most %d label values",
                          SEL_MAX_VALUES);
    if (need && json_array_size(values) == 0)
        return ferry_fail(d, FERRY_EINVAL, f,
                          "must be a non-empty array of label values for operator %s", o);
    if (!need && json_array_size(values) > 0)
        return ferry_fail(d, FERRY_EINVAL, f, "must be absent or empty for operator %s", o);
    for (size_t i = 0; i < json_array_size(values); i++) {
        const char *s = validate__str(json_array_get(values, i));
        ferry__path(f, sizeof(f), "%s.values[%zu]", path, i);
        if (s == NULL || !labels__value_valid(s, strlen(s)))
            return ferry_fail(d, FERRY_EINVAL, f,
                              "must be a label value: empty or 1-63 characters [A-Za-z0-9-_.] "
                              "starting and ending with a letter or digit");
    }
    return FERRY_OK;
}

ferry_err ferry_selector_validate(const json_t *selector, const char *field, ferry_detail *d) {
    static const char *const fields[] = {"matchLabels", "matchExpressions", NULL};
    char f[192];
    ferry_err rc;

    if (field == NULL)
        field = "selector";
    if (!json_is_object(selector))
        return ferry_fail(d, FERRY_EINVAL, field, "must be an object");
    if ((rc = validate__check_fields(selector, field, fields, NULL, d)) != FERRY_OK)
        return rc;
    const json_t *ml = json_object_get(selector, "matchLabels");
    snprintf(f, sizeof(f), "%s.matchLabels", field);
    if (ml != NULL && (rc = ferry_labels_validate(ml, f, d)) != FERRY_OK)
        return rc;
    const json_t *me = json_object_get(selector, "matchExpressions");
    snprintf(f, sizeof(f), "%s.matchExpressions", field);
    if (me != NULL && (!json_is_array(me) || json_array_size(me) > SEL_MAX_EXPRESSIONS))
        return ferry_fail(d, FERRY_EINVAL, f, "must be an array of at most %d expressions",
                          SEL_MAX_EXPRESSIONS);
    for (size_t i = 0; i < json_array_size(me); i++) {
        snprintf(f, sizeof(f), "%s.matchExpressions[%zu]", field, i);
        if ((rc = check_expression(json_array_get(me, i), f, d)) != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

/* ---- matching -------------------------------------------------------------------------------- */

int ferry_selector_each(const json_t *selector, ferry_selector_fn fn, void *ctx) {
    const char *key;
    json_t *want;

    if (selector == NULL || json_is_null(selector))
        return 1;
    if (!json_is_object(selector))
        return -1;
    const json_t *ml = json_object_get(selector, "matchLabels");
    if (ml != NULL && !json_is_null(ml)) {
        if (!json_is_object(ml))
            return -1;
        json_object_foreach((json_t *)ml, key, want) {
            if (!json_is_string(want))
                return -1;
            if (!fn(key, FERRY_SELECTOR_EQ, json_string_value(want), want, ctx))
                return 0;
        }
    }
    const json_t *me = json_object_get(selector, "matchExpressions");
    if (me == NULL || json_is_null(me))
        return 1;
    if (!json_is_array(me))
        return -1;
    for (size_t i = 0; i < json_array_size(me); i++) {
        /* In the order of SEL_OPERATORS. */
        static const ferry_selector_op codes[] = {FERRY_SELECTOR_IN, FERRY_SELECTOR_NOT_IN,
                                                  FERRY_SELECTOR_EXISTS, FERRY_SELECTOR_NOT_EXISTS};
        _Static_assert(sizeof(codes) / sizeof(codes[0]) ==
                           sizeof(SEL_OPERATORS) / sizeof(SEL_OPERATORS[0]) - 1,
                       "an operator code per name");
        const json_t *e = json_array_get(me, i);
        const char *k = json_string_value(json_object_get(e, "key"));
        const char *op = json_string_value(json_object_get(e, "operator"));
        const json_t *values = json_object_get(e, "values");
        size_t o = 0;
        while (op != NULL && SEL_OPERATORS[o] != NULL && strcmp(op, SEL_OPERATORS[o]) != 0)
            o++;
        if (k == NULL || op == NULL || SEL_OPERATORS[o] == NULL ||
            (values != NULL && !json_is_array(values)))
            return -1;
        /* NotIn needs a value (Kubernetes); an In without values selects nothing by itself. */
        if (codes[o] == FERRY_SELECTOR_NOT_IN && json_array_size(values) == 0)
            return -1;
        if (!fn(k, codes[o], NULL, values, ctx))
            return 0;
    }
    return 1;
}

static bool value_in(const json_t *values, const json_t *have) {
    for (size_t i = 0; i < json_array_size(values); i++)
        if (json_equal(json_array_get(values, i), have))
            return true;
    return false;
}

/* One requirement against a node's labels (ctx; Kubernetes semantics: NotIn and DoesNotExist
 * also hold when the label is missing; a label that is not a string fails every requirement). */
static bool requirement_holds(const char *key, ferry_selector_op op, const char *value,
                              const json_t *values, void *ctx) {
    const json_t *labels = ctx;
    const json_t *have = json_is_object(labels) ? json_object_get(labels, key) : NULL;
    if (have != NULL && !json_is_string(have))
        return false;
    switch (op) {
    case FERRY_SELECTOR_EQ:
        (void)value;
        return have != NULL && json_equal(values, have);
    case FERRY_SELECTOR_IN:
        return have != NULL && value_in(values, have);
    case FERRY_SELECTOR_NOT_IN:
        return have == NULL || !value_in(values, have);
    case FERRY_SELECTOR_EXISTS:
        return have != NULL;
    case FERRY_SELECTOR_NOT_EXISTS:
        return have == NULL;
    }
    return false;
}

bool ferry_selector_matches(const json_t *selector, const json_t *labels) {
    return ferry_selector_each(selector, requirement_holds, (void *)labels) == 1;
}

bool ferry_selector_topic_label(const json_t *selector, const char **key, const char **value) {
    const char *k;
    const char *best = NULL;
    json_t *v;
    json_t *bestv = NULL;

    const json_t *ml = json_object_get(selector, "matchLabels");
    if (!json_is_object(ml))
        return false;
    json_object_foreach((json_t *)ml, k, v) {
        if (best == NULL || strcmp(k, best) < 0) {
            best = k;
            bestv = v;
        }
    }
    if (best == NULL || !json_is_string(bestv))
        return false;
    if (key != NULL)
        *key = best;
    if (value != NULL)
        *value = json_string_value(bestv);
    return true;
}

/* ---- string form ----------------------------------------------------------------------------- */

/* A cursor over the selector string; errors name the 1-based character position. */
typedef struct {
    const char *s;
    size_t pos;
    ferry_detail *d;
    const char *field;
} sel_parser;

__attribute__((format(printf, 2, 3))) static ferry_err sp_fail(sel_parser *p, const char *fmt,
                                                               ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ferry_fail(p->d, FERRY_EINVAL, p->field, "at character %zu: %s", p->pos + 1, msg);
}

static void sp_space(sel_parser *p) {
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

/* A word: a run of characters that are not blanks, ',', '(', ')', '=' or '!'. */
static size_t sp_word(sel_parser *p, const char **w) {
    size_t start = p->pos;
    while (p->s[p->pos] != '\0' && strchr(" \t,()=!", p->s[p->pos]) == NULL)
        p->pos++;
    *w = p->s + start;
    return p->pos - start;
}

static bool sp_is(const char *w, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

/* Append {key, operator, values} to exprs; values may be NULL (Exists, DoesNotExist). */
static ferry_err add_expression(json_t *exprs, const char *key, size_t klen, const char *op,
                                json_t *values) {
    json_t *e = json_object();
    bool ok = e != NULL && json_object_set_new(e, "key", json_stringn(key, klen)) == 0 &&
              json_object_set_new(e, "operator", json_string(op)) == 0 &&
              (values == NULL || json_object_set(e, "values", values) == 0) &&
              json_array_append(exprs, e) == 0;
    json_decref(e);
    return ok ? FERRY_OK : FERRY_ENOMEM;
}

static ferry_err parse_requirement(sel_parser *p, json_t *ml, json_t *exprs) {
    const char *key;
    const char *w;
    json_t *values = NULL;
    ferry_err rc = FERRY_OK;

    sp_space(p);
    bool negate = p->s[p->pos] == '!';
    if (negate) {
        p->pos++;
        sp_space(p);
    }
    size_t klen = sp_word(p, &key);
    if (klen == 0)
        return sp_fail(p, "expected a label key");
    sp_space(p);
    char c = p->s[p->pos];
    if (negate || c == ',' || c == '\0') /* "!key" or "key" */
        return add_expression(exprs, key, klen, negate ? "DoesNotExist" : "Exists", NULL);
    if (c == '=' || c == '!') {
        bool ne = c == '!';
        p->pos++;
        if (ne && p->s[p->pos] != '=')
            return sp_fail(p, "expected '=' after '!'");
        if (ne || p->s[p->pos] == '=')
            p->pos++;
        sp_space(p);
        size_t vlen = sp_word(p, &w);
        if (ne) {
            if ((values = json_array()) == NULL ||
                json_array_append_new(values, json_stringn(w, vlen)) != 0)
                rc = FERRY_ENOMEM;
            else
                rc = add_expression(exprs, key, klen, "NotIn", values);
            goto out;
        }
        /* equality goes to matchLabels (so it can choose the app's topic); a second equality
         * on the same key with another value becomes an In expression, which never matches
         * together with the first, as in Kubernetes */
        json_t *val = json_stringn(w, vlen);
        char *k = ferry_strndup(key, klen);
        const json_t *old = k != NULL ? json_object_get(ml, k) : NULL;
        if (val == NULL || k == NULL) {
            rc = FERRY_ENOMEM;
        } else if (old == NULL) {
            rc = json_object_set(ml, k, val) == 0 ? FERRY_OK : FERRY_ENOMEM;
        } else if (!json_equal(old, val)) {
            if ((values = json_array()) == NULL || json_array_append(values, val) != 0)
                rc = FERRY_ENOMEM;
            else
                rc = add_expression(exprs, key, klen, "In", values);
        }
        ferry_free(k);
        json_decref(val);
        goto out;
    }
    size_t at = p->pos;
    size_t olen = sp_word(p, &w);
    bool in = sp_is(w, olen, "in");
    if (!in && !sp_is(w, olen, "notin")) {
        p->pos = at;
        return sp_fail(p, "expected ',', '=', '==', '!=', 'in' or 'notin' after the key");
    }
    sp_space(p);
    if (p->s[p->pos] != '(')
        return sp_fail(p, "expected '(' after '%s'", in ? "in" : "notin");
    p->pos++;
    if ((values = json_array()) == NULL)
        return FERRY_ENOMEM;
    for (;;) {
        sp_space(p);
        size_t vlen = sp_word(p, &w);
        if (json_array_append_new(values, json_stringn(w, vlen)) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
        sp_space(p);
        if (p->s[p->pos] == ')')
            break;
        if (p->s[p->pos] != ',') {
            rc = sp_fail(p, "expected ',' or ')' in the value list");
            goto out;
        }
        p->pos++;
    }
    p->pos++;
    rc = add_expression(exprs, key, klen, in ? "In" : "NotIn", values);
out:
    json_decref(values);
    return rc;
}

ferry_err ferry_selector_parse_string(const char *s, json_t **selector, ferry_detail *d) {
    sel_parser p = {s, 0, d, "selector"};
    json_t *sel = NULL;
    json_t *ml = NULL;
    json_t *exprs = NULL;
    ferry_err rc = FERRY_ENOMEM;

    if (selector == NULL)
        return ferry_fail(d, FERRY_EINVAL, "selector", "no output");
    *selector = NULL;
    if (s == NULL)
        return ferry_fail(d, FERRY_EINVAL, "selector", "is required");
    if (strlen(s) > SEL_MAX_STRING)
        return ferry_fail(d, FERRY_EINVAL, "selector", "must be at most %d characters",
                          SEL_MAX_STRING);
    if (!codec__text_valid(s, strlen(s)))
        return ferry_fail(d, FERRY_EINVAL, "selector", "must be valid UTF-8");
    if ((sel = json_object()) == NULL || (ml = json_object()) == NULL ||
        (exprs = json_array()) == NULL)
        goto out;
    sp_space(&p);
    while (s[p.pos] != '\0') {
        if ((rc = parse_requirement(&p, ml, exprs)) != FERRY_OK)
            goto out;
        sp_space(&p);
        if (s[p.pos] == '\0')
            break;
        if (s[p.pos] != ',') {
            rc = sp_fail(&p, "expected ',' between requirements");
            goto out;
        }
        p.pos++;
        sp_space(&p);
        if (s[p.pos] == '\0') {
            rc = sp_fail(&p, "expected a requirement after ','");
            goto out;
        }
    }
    rc = FERRY_ENOMEM;
    if ((json_object_size(ml) > 0 && json_object_set(sel, "matchLabels", ml) != 0) ||
        (json_array_size(exprs) > 0 && json_object_set(sel, "matchExpressions", exprs) != 0))
        goto out;
    if ((rc = ferry_selector_validate(sel, "selector", d)) != FERRY_OK)
        goto out;
    *selector = sel;
    sel = NULL;
out:
    if (rc == FERRY_ENOMEM)
        ferry_fail(d, FERRY_EINVAL, "selector", "out of memory");
    json_decref(sel);
    json_decref(ml);
    json_decref(exprs);
    return rc;
}
