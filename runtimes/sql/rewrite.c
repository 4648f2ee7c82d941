/* sql runtime: the text rewrite of a handler's SELECT that inserts "FROM msg" where the product's
 * documented form leaves FROM out ("select name as result where uid > 6").
 *
 * Why a tokenizer and not SQLite's parser: SQLite does not expose its parse tree, and the only
 * thing we need to know is where each top-level SELECT core ends its result columns. A core ends
 * at FROM, WHERE, GROUP, HAVING, WINDOW, ORDER, LIMIT, UNION, INTERSECT, EXCEPT, ';' or the end,
 * and none of those words can appear unquoted at parenthesis depth 0 inside an expression, except
 * FROM in "IS [NOT] DISTINCT FROM" (handled) and WINDOW, which is not reserved (taken as the
 * clause only when followed by "name AS"). Subqueries are inside parentheses and keep their own
 * FROM or none (a scalar subquery without FROM is valid SQL). Whatever this scan gets wrong in
 * text that is not valid SQL, SQLite refuses at prepare time. */
#include "rewrite.h"

#include <string.h>
#include <strings.h>

typedef enum { TK_WORD, TK_QUOTED, TK_STRING, TK_NUMBER, TK_PARAM, TK_PUNCT, TK_END } tk_kind;

typedef struct {
    tk_kind kind;
    size_t start, end; /* [start, end) in the text */
} token;

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool is_word_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (unsigned char)c >= 0x80;
}

static bool is_word_char(char c) {
    return is_word_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* The end of the quoted run that starts at s[i] (the opening quote), closed by close; a doubled
 * close stands for itself unless close is ']'. Unterminated: n. */
static size_t quoted_end(const char *s, size_t n, size_t i, char close) {
    for (i++; i < n; i++) {
        if (s[i] != close)
            continue;
        if (close != ']' && i + 1 < n && s[i + 1] == close) {
            i++;
            continue;
        }
        return i + 1;
    }
    return n;
}

/* The first token at or after s[i], past whitespace and comments. */
static token next_token(const char *s, size_t n, size_t i) {
    for (;;) {
        while (i < n && is_space(s[i]))
            i++;
        if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
        } else if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            const char *e = i + 2 <= n ? memmem(s + i + 2, n - i - 2, "*/", 2) : NULL;
            i = e != NULL ? (size_t)(e - s) + 2 : n;
        } else {
            break;
        }
    }
    token t = {TK_END, i, i};
    if (i >= n)
        return t;
    char c = s[i];
    if (c == '\'') {
        t.kind = TK_STRING;
        t.end = quoted_end(s, n, i, '\'');
    } else if (c == '"' || c == '`' || c == '[') {
        t.kind = TK_QUOTED;
        t.end = quoted_end(s, n, i, c == '[' ? ']' : c);
    } else if (is_word_start(c)) {
        t.kind = TK_WORD;
        for (t.end = i + 1; t.end < n && is_word_char(s[t.end]);)
            t.end++;
    } else if ((c >= '0' && c <= '9') ||
               (c == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
        t.kind = TK_NUMBER;
        for (t.end = i + 1; t.end < n && (is_word_char(s[t.end]) || s[t.end] == '.');)
            t.end++;
    } else if (c == '?' || c == ':' || c == '@' || c == '$') {
        t.kind = TK_PARAM;
        t.end = i + 1;
    } else {
        t.kind = TK_PUNCT;
        t.end = i + 1;
    }
    return t;
}

static bool word_is(const char *s, token t, const char *kw) {
    size_t len = strlen(kw);
    return t.kind == TK_WORD && t.end - t.start == len && strncasecmp(s + t.start, kw, len) == 0;
}

static bool punct_is(const char *s, token t, char c) {
    return t.kind == TK_PUNCT && s[t.start] == c;
}

/* Growable output of the rewrite; ok turns false on ENOMEM and stays false. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool ok;
} outbuf;

static void put(outbuf *o, const char *p, size_t n) {
    if (!o->ok)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap > 0 ? o->cap : 256;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *b = ferry_realloc(o->buf, cap);
        if (b == NULL) {
            o->ok = false;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* The words that end a SELECT core's result columns (and its FROM clause, when it has one). */
static bool ends_core(const char *s, size_t n, token t) {
    static const char *const kws[] = {"where", "group", "having", "order",
                                      "limit", "union", "except", "intersect"};
    for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
        if (word_is(s, t, kws[i]))
            return true;
    if (word_is(s, t, "window")) { /* not reserved: the clause only as "WINDOW name AS" */
        token a = next_token(s, n, t.end);
        token b = next_token(s, n, a.end);
        return (a.kind == TK_WORD || a.kind == TK_QUOTED) && word_is(s, b, "as");
    }
    return false;
}

ferry_err sqlfn__rewrite(const char *sql, size_t len, sqlfn_text *out, ferry_detail *d) {
    static const char from_msg[] = " FROM msg ";
    outbuf o = {NULL, 0, 0, true};
    ferry_err err = FERRY_EINVAL;
    size_t copied, last_end, depth = 0;
    bool in_core = false, has_from = false, in_results = false;
    token prev[2] = {{TK_END, 0, 0}, {TK_END, 0, 0}}; /* the last depth-0 tokens, newest first */
    token t;

    memset(out, 0, sizeof(*out));
    if (memchr(sql, '\0', len) != NULL) {
        ferry_fail(d, err, "", "the SQL text contains a NUL byte");
        goto out;
    }
    t = next_token(sql, len, 0);
    if (word_is(sql, t, "with")) {
        out->with = true;
        t = next_token(sql, len, t.end);
        if (word_is(sql, t, "recursive")) {
            out->recursive = true;
            t = next_token(sql, len, t.end);
        }
    } else if (!word_is(sql, t, "select")) {
        out->not_select = true;
        ferry_fail(d, err, "", "a handler is one SELECT statement");
        goto out;
    }
    copied = last_end = t.start;
    for (; t.kind != TK_END; t = next_token(sql, len, t.end)) {
        if (!punct_is(sql, t, ';'))
            last_end = t.end;
        if (t.kind == TK_PARAM) {
            ferry_fail(d, err, "",
                       "parameters (?, :name, @name, $name) are not supported: the "
                       "event's members are the columns");
            goto out;
        }
        if (punct_is(sql, t, '(')) {
            depth++;
            continue;
        }
        if (punct_is(sql, t, ')')) {
            if (depth > 0)
                depth--;
            continue;
        }
        if (depth > 0)
            continue;
        if (punct_is(sql, t, ';')) {
            token rest = next_token(sql, len, t.end);
            while (punct_is(sql, rest, ';'))
                rest = next_token(sql, len, rest.end);
            if (rest.kind != TK_END) {
                ferry_fail(d, err, "", "more than one statement: a handler is one SELECT");
                goto out;
            }
            break;
        }
        if (word_is(sql, t, "select")) {
            in_core = in_results = true;
            has_from = false;
        } else if (word_is(sql, t, "from") && in_core &&
                   !(word_is(sql, prev[0], "distinct") &&
                     (word_is(sql, prev[1], "is") || word_is(sql, prev[1], "not")))) {
            has_from = true;
            in_results = false;
        } else if (in_core && ends_core(sql, len, t)) {
            if (!has_from) {
                put(&o, sql + copied, t.start - copied);
                put(&o, from_msg, sizeof(from_msg) - 1);
                copied = t.start;
                has_from = true;
            }
            in_results = false;
            if (!word_is(sql, t, "where") && !word_is(sql, t, "group") &&
                !word_is(sql, t, "having") && !word_is(sql, t, "window"))
                in_core = false;
        } else if (punct_is(sql, t, '*') && in_results &&
                   (word_is(sql, prev[0], "select") || word_is(sql, prev[0], "distinct") ||
                    word_is(sql, prev[0], "all") || punct_is(sql, prev[0], ',') ||
                    punct_is(sql, prev[0], '.'))) {
            ferry_fail(d, err, "",
                       "'*' is not supported: name the members you need, or select "
                       "_event for the whole event");
            goto out;
        }
        prev[1] = prev[0];
        prev[0] = t;
    }
    /* The end of the statement (';' or the end of the text): right after its last token, so that
     * a trailing "-- comment" does not swallow the insertion. */
    if (in_core && !has_from) {
        put(&o, sql + copied, last_end - copied);
        put(&o, from_msg, sizeof(from_msg) - 1);
        copied = last_end;
    }
    put(&o, sql + copied, (t.kind == TK_END ? len : t.start) - copied);
    if (!o.ok || o.buf == NULL) {
        err = o.ok ? FERRY_EINVAL : FERRY_ENOMEM;
        ferry_fail(d, err, "", o.ok ? "empty SELECT" : "out of memory");
        goto out;
    }
    out->body = o.buf;
    o.buf = NULL;
    err = FERRY_OK;
out:
    ferry_free(o.buf);
    return err;
}
