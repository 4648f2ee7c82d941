/* ferryctl manifests: YAML and JSON documents to JSON objects (libyaml events), JSON to YAML. */
#include "manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ferry/common.h"

#define DEPTH_MAX 128 /* nesting deeper than any Ferry object, shallow enough for the C stack */
/* Values aliases may copy in all: a few aliases of aliases would otherwise grow a small file into
 * gigabytes ("billion laughs"). Far more than any manifest uses. */
#define ALIAS_VALUES_MAX 100000

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- input ---------------------------------------------------------------------------------- */

char *ctl_read_all(FILE *f, size_t max, size_t *len) {
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int err = 0;

    *len = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 65536;
            char *nb = cap <= max ? ferry_realloc(buf, ncap + 1) : NULL;
            if (nb == NULL) {
                err = cap > max ? EFBIG : ENOMEM;
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        err = EIO;
        goto fail;
    }
    if (n > max) {
        err = EFBIG;
        goto fail;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    ferry_free(buf);
    errno = err;
    return NULL;
}

/* ---- scalar resolution (YAML 1.2 core schema) ------------------------------------------------ */

static bool all_of(const char *s, size_t len, const char *set) {
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (strchr(set, s[i]) == NULL || s[i] == '\0')
            return false;
    return true;
}

static bool one_of(const char *s, size_t len, const char *const *words) {
    for (size_t i = 0; words[i] != NULL; i++)
        if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0)
            return true;
    return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s, size_t len) {
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return false;
    }
    return i == len;
}

/* The integer s (sign, then base digits) in *out; false when it does not fit in 64 bits. */
static bool parse_int(const char *s, size_t len, int base, int64_t *out) {
    char buf[80];
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    char *end = NULL;
    long long v = strtoll(buf, &end, base);
    if (errno == ERANGE || end == NULL || *end != '\0')
        return false;
    *out = v;
    return true;
}

json_t *ctl_yaml_resolve_plain(const char *s, size_t len) {
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    int64_t v = 0;

    if (len == 0 || one_of(s, len, nulls))
        return json_null();
    if (one_of(s, len, trues))
        return json_true();
    if (one_of(s, len, falses))
        return json_false();
    size_t sign = len > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (all_of(s + sign, len - sign, "0123456789"))
        return parse_int(s, len, 10, &v) ? json_integer(v) : NULL;
    if (len > 2 && s[0] == '0' && s[1] == 'o' && all_of(s + 2, len - 2, "01234567"))
        return parse_int(s + 2, len - 2, 8, &v) ? json_integer(v) : NULL;
    if (len > 2 && s[0] == '0' && s[1] == 'x' && all_of(s + 2, len - 2, "0123456789abcdefABCDEF"))
        return parse_int(s + 2, len - 2, 16, &v) ? json_integer(v) : NULL;
    if (is_float(s, len)) {
        char buf[128];
        if (len < sizeof(buf)) {
            memcpy(buf, s, len);
            buf[len] = '\0';
            return json_real(strtod(buf, NULL));
        }
    }
    /* .inf and .nan have no JSON form: they stay strings, like everything else. */
    return json_stringn(s, len);
}

/* ---- YAML to JSON ---------------------------------------------------------------------------- */

typedef struct {
    json_t *node;
    char *key;      /* a mapping's key waiting for its value */
    yaml_mark_t at; /* where the key (or the node) starts, for errors */
    char *anchor;   /* registered when the node ends, so an alias cannot make a cycle */
} frame;

typedef struct {
    const char *source;
    char *err;
    size_t errlen;
    frame stack[DEPTH_MAX];
    size_t depth;
    json_t *root;
    json_t *anchors; /* name -> node */
    json_t *docs;
    size_t alias_values; /* values copied by aliases so far (ALIAS_VALUES_MAX) */
} builder;

/* The values in v (itself included), counting no further than limit. */
static size_t count_values(const json_t *v, size_t limit) {
    size_t n = 1, i;
    const char *k;
    json_t *c;
    if (json_is_array(v)) {
        json_array_foreach(v, i, c) {
            if (n >= limit)
                break;
            n += count_values(c, limit - n);
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) {
            if (n >= limit)
                break;
            n += count_values(c, limit - n);
        }
    }
    return n;
}

static int fail_at(builder *b, yaml_mark_t at, const char *what, const char *detail) {
    snprintf(b->err, b->errlen, "%s:%zu:%zu: %s%s%s", b->source, at.line + 1, at.column + 1, what,
             detail != NULL ? " " : "", detail != NULL ? detail : "");
    return -1;
}

/* Put value (stolen) where the open node expects it. */
static int add(builder *b, json_t *value, yaml_mark_t at) {
    if (value == NULL)
        return fail_at(b, at, "out of memory", NULL);
    if (b->depth == 0) {
        b->root = value;
        return 0;
    }
    frame *top = &b->stack[b->depth - 1];
    if (json_is_array(top->node)) {
        if (json_array_append_new(top->node, value) != 0)
            return fail_at(b, at, "out of memory", NULL);
        return 0;
    }
    if (top->key == NULL) {
        json_decref(value);
        return fail_at(b, at, "a mapping key must be a scalar", NULL);
    }
    int rc = json_object_set_new(top->node, top->key, value) != 0
                 ? fail_at(b, at, "out of memory", NULL)
                 : 0;
    ferry_free(top->key);
    top->key = NULL;
    return rc;
}

static json_t *tagged_scalar(builder *b, const yaml_event_t *ev, int *rc) {
    const char *tag = (const char *)ev->data.scalar.tag;
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    json_t *r = NULL;

    *rc = 0;
    if (tag == NULL || strcmp(tag, "!") == 0)
        r = plain && tag == NULL ? ctl_yaml_resolve_plain(v, len) : json_stringn(v, len);
    else if (strcmp(tag, TAG_PREFIX "str") == 0)
        r = json_stringn(v, len);
    else if (strncmp(tag, TAG_PREFIX, sizeof(TAG_PREFIX) - 1) == 0) {
        const char *want = tag + sizeof(TAG_PREFIX) - 1;
        r = ctl_yaml_resolve_plain(v, len);
        bool ok = r != NULL && ((strcmp(want, "int") == 0 && json_is_integer(r)) ||
                                (strcmp(want, "float") == 0 && json_is_number(r)) ||
                                (strcmp(want, "bool") == 0 && json_is_boolean(r)) ||
                                (strcmp(want, "null") == 0 && json_is_null(r)));
        if (ok && strcmp(want, "float") == 0 && json_is_integer(r)) {
            json_t *f = json_real((double)json_integer_value(r));
            json_decref(r);
            r = f;
        }
        if (!ok) {
            json_decref(r);
            *rc = fail_at(b, ev->start_mark, "the value does not match its tag", tag);
            return NULL;
        }
    } else {
        *rc = fail_at(b, ev->start_mark, "unsupported tag", tag);
        return NULL;
    }
    if (r == NULL)
        *rc = fail_at(b, ev->start_mark, "integer out of range (64 bits)", NULL);
    return r;
}

static int on_scalar(builder *b, const yaml_event_t *ev) {
    int rc = 0;
    if (b->depth > 0 && json_is_object(b->stack[b->depth - 1].node) &&
        b->stack[b->depth - 1].key == NULL) {
        frame *top = &b->stack[b->depth - 1];
        const char *k = (const char *)ev->data.scalar.value;
        if (strlen(k) != ev->data.scalar.length)
            return fail_at(b, ev->start_mark, "a key holds a NUL character", NULL);
        if (json_object_get(top->node, k) != NULL)
            return fail_at(b, ev->start_mark, "duplicate key", k);
        if ((top->key = ferry_strdup(k)) == NULL)
            return fail_at(b, ev->start_mark, "out of memory", NULL);
        top->at = ev->start_mark;
        return 0;
    }
    json_t *v = tagged_scalar(b, ev, &rc);
    if (rc != 0)
        return rc;
    if (ev->data.scalar.anchor != NULL &&
        json_object_set(b->anchors, (const char *)ev->data.scalar.anchor, v) != 0) {
        json_decref(v);
        return fail_at(b, ev->start_mark, "out of memory", NULL);
    }
    return add(b, v, ev->start_mark);
}

static int on_start(builder *b, const yaml_event_t *ev, bool mapping) {
    const yaml_char_t *anchor =
        mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    if (b->depth > 0 && json_is_object(b->stack[b->depth - 1].node) &&
        b->stack[b->depth - 1].key == NULL)
        return fail_at(b, ev->start_mark, "a mapping key must be a scalar", NULL);
    if (b->depth == DEPTH_MAX)
        return fail_at(b, ev->start_mark, "nested too deeply", NULL);
    frame *f = &b->stack[b->depth];
    memset(f, 0, sizeof(*f));
    f->node = mapping ? json_object() : json_array();
    f->at = ev->start_mark;
    if (f->node == NULL ||
        (anchor != NULL && (f->anchor = ferry_strdup((const char *)anchor)) == NULL)) {
        json_decref(f->node);
        return fail_at(b, ev->start_mark, "out of memory", NULL);
    }
    b->depth++;
    return 0;
}

static int on_end(builder *b, const yaml_event_t *ev) {
    frame f = b->stack[--b->depth];
    ferry_free(f.key);
    if (f.anchor != NULL) {
        int rc = json_object_set(b->anchors, f.anchor, f.node);
        ferry_free(f.anchor);
        if (rc != 0) {
            json_decref(f.node);
            return fail_at(b, ev->start_mark, "out of memory", NULL);
        }
    }
    return add(b, f.node, f.at);
}

static int on_alias(builder *b, const yaml_event_t *ev) {
    const char *name = (const char *)ev->data.alias.anchor;
    json_t *v = json_object_get(b->anchors, name);
    if (v == NULL)
        return fail_at(b, ev->start_mark, "unknown alias (or one inside its own anchor)", name);
    if (b->depth > 0 && json_is_object(b->stack[b->depth - 1].node) &&
        b->stack[b->depth - 1].key == NULL)
        return fail_at(b, ev->start_mark, "an alias as a mapping key is not supported", NULL);
    b->alias_values += count_values(v, ALIAS_VALUES_MAX + 1);
    if (b->alias_values > ALIAS_VALUES_MAX)
        return fail_at(b, ev->start_mark, "aliases copy more than 100000 values in all", name);
    return add(b, json_deep_copy(v), ev->start_mark);
}

static int on_document_end(builder *b, yaml_mark_t start) {
    json_t *root = b->root;
    int rc = 0;
    b->root = NULL;
    if (root == NULL || json_is_null(root))
        goto out;
    if (!json_is_object(root)) {
        rc = fail_at(b, start, "a document must be a mapping (an object with \"kind\")", NULL);
        goto out;
    }
    if (json_array_append(b->docs, root) != 0)
        rc = fail_at(b, start, "out of memory", NULL);
out:
    json_decref(root);
    return rc;
}

static int parse_yaml(builder *b, const char *text, size_t len) {
    yaml_parser_t p;
    yaml_event_t ev;
    yaml_mark_t doc_start = {0};
    int rc = -1;
    bool done = false;

    if (!yaml_parser_initialize(&p)) {
        snprintf(b->err, b->errlen, "%s: out of memory", b->source);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            yaml_mark_t at = p.problem_mark;
            snprintf(b->err, b->errlen, "%s:%zu:%zu: %s%s%s", b->source, at.line + 1, at.column + 1,
                     p.problem != NULL ? p.problem : "invalid YAML", p.context != NULL ? " " : "",
                     p.context != NULL ? p.context : "");
            goto out;
        }
        int step = 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            doc_start = ev.start_mark;
            json_object_clear(b->anchors); /* anchors are per document */
            break;
        case YAML_DOCUMENT_END_EVENT:
            step = on_document_end(b, doc_start);
            break;
        case YAML_SCALAR_EVENT:
            step = on_scalar(b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            step = on_alias(b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            step = on_start(b, &ev, false);
            break;
        case YAML_MAPPING_START_EVENT:
            step = on_start(b, &ev, true);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            step = on_end(b, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (step != 0)
            goto out;
    }
    rc = 0;
out:
    while (b->depth > 0) {
        frame *f = &b->stack[--b->depth];
        json_decref(f->node);
        ferry_free(f->key);
        ferry_free(f->anchor);
    }
    json_decref(b->root);
    b->root = NULL;
    yaml_parser_delete(&p);
    return rc;
}

static int parse_json(builder *b, const char *text, size_t len) {
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (v == NULL) {
        snprintf(b->err, b->errlen, "%s:%d:%d: %s", b->source, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (json_is_object(v)) {
        rc = json_array_append(b->docs, v);
    } else {
        size_t i;
        json_t *d;
        rc = 0;
        json_array_foreach(v, i, d) {
            if (!json_is_object(d)) {
                snprintf(b->err, b->errlen, "%s: item %zu of the array is not an object", b->source,
                         i);
                rc = -1;
                break;
            }
            if (json_array_append(b->docs, d) != 0)
                rc = -1;
        }
    }
    json_decref(v);
    return rc;
}

int ctl_manifest_parse(const char *text, size_t len, const char *source, json_t **docs, char *err,
                       size_t errlen) {
    builder *b = ferry_calloc(1, sizeof(*b));
    int rc = -1;
    size_t i = 0;

    *docs = NULL;
    if (b == NULL || (b->docs = json_array()) == NULL || (b->anchors = json_object()) == NULL) {
        snprintf(err, errlen, "%s: out of memory", source);
        goto out;
    }
    b->source = source;
    b->err = err;
    b->errlen = errlen;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    rc = i < len && (text[i] == '{' || text[i] == '[') ? parse_json(b, text, len)
                                                       : parse_yaml(b, text, len);
    if (rc == 0) {
        *docs = b->docs;
        b->docs = NULL;
    }
out:
    if (b != NULL) {
        json_decref(b->docs);
        json_decref(b->anchors);
    }
    ferry_free(b);
    return rc;
}

/* ---- JSON to YAML ---------------------------------------------------------------------------- */

/* A string that would read back as something else when plain, or that is empty: quoted. */
static yaml_scalar_style_t string_style(const char *s, size_t len) {
    json_t *r = ctl_yaml_resolve_plain(s, len);
    bool other = r == NULL || !json_is_string(r);
    json_decref(r);
    if (other)
        return YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (memchr(s, '\n', len) != NULL)
        return YAML_LITERAL_SCALAR_STYLE; /* code in configs stays readable */
    return YAML_ANY_SCALAR_STYLE;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t len, yaml_scalar_style_t style) {
    yaml_event_t ev;
    if (len > INT32_MAX)
        return -1;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)len, 1, 1,
                                      style))
        return -1;
    return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int emit_node(yaml_emitter_t *e, const json_t *v) {
    yaml_event_t ev;
    char buf[64];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(e, &ev))
            return -1;
        json_object_foreach((json_t *)v, k, m) {
            if (emit_scalar(e, k, strlen(k), string_style(k, strlen(k))) != 0 ||
                emit_node(e, m) != 0)
                return -1;
        }
        return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0 : -1;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(e, &ev))
            return -1;
        json_array_foreach(v, i, m) {
            if (emit_node(e, m) != 0)
                return -1;
        }
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0 : -1;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        return emit_scalar(e, s, len, string_style(s, len));
    }
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        /* "2" would read back as an integer */
        if (strpbrk(buf, ".eEn") == NULL)
            strcat(buf, ".0");
        break;
    case JSON_TRUE:
        snprintf(buf, sizeof(buf), "true");
        break;
    case JSON_FALSE:
        snprintf(buf, sizeof(buf), "false");
        break;
    case JSON_NULL:
        snprintf(buf, sizeof(buf), "null");
        break;
    }
    return emit_scalar(e, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
}

int ctl_yaml_write(FILE *f, const json_t *v) {
    yaml_emitter_t e;
    yaml_event_t ev;
    int rc = -1;

    if (!yaml_emitter_initialize(&e))
        return -1;
    yaml_emitter_set_output_file(&e, f);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(&e, &ev) ||
        !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(&e, &ev) || emit_node(&e, v) != 0 ||
        !yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&e, &ev) ||
        !yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&e, &ev) ||
        !yaml_emitter_flush(&e))
        goto out;
    rc = 0;
out:
    yaml_emitter_delete(&e);
    return rc;
}
