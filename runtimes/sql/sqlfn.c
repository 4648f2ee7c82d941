/* sql runtime: compile a handler into a prepared SQLite statement over the event's members, and
 * run it per event (reset, rebind, step once).
 *
 * The statement SQLite prepares is
 *   WITH msg("_event", "uid", "name") AS NOT MATERIALIZED (SELECT ?1, ?2, ?3) <handler>
 * with "FROM msg" inserted by the rewrite (rewrite.c) where the handler leaves FROM out. The
 * members a handler names are not known before SQLite resolves its names, so compile discovers
 * them from SQLite's own refusals: each "no such column: X" adds X as a column of msg and prepares
 * again, until the statement prepares or an added column does not change the error (then X was
 * not a member: "j.x" of a json_each j, say, and the error stands). This takes exactly the names
 * SQLite resolves to msg, by SQLite's own rules (an alias in WHERE stays the alias). Per event,
 * every column is bound (a missing member binds NULL), strings and the event's text without a copy
 * (SQLITE_STATIC: they outlive the step, reset comes before they are freed). */
#include "sqlfn.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ferry/base64.h"
#include "rewrite.h"

#define PROGRESS_OPS 1000 /* VM steps between progress callbacks */

struct ferry_sqlfn {
    sqlite3 *db;
    sqlite3_stmt *stmt;
    char *name;
    char *sql;      /* the prepared text */
    char **members; /* [nmembers] member names, bound as ?2.. (?1 is _event) */
    size_t nmembers;
    long ticks;       /* progress callbacks in this run */
    char refused[96]; /* what the authorizer refused last, for the error message */
    char *out;        /* the answer's JSON text */
    size_t out_cap;
    char *scratch; /* nested members' JSON text for this run */
    size_t scratch_cap;
    size_t *spans; /* [nmembers] offset of each nested member's text in scratch, or SIZE_MAX */
};

/* True when s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points over U+10FFFF),
 * as JSON text and jansson require. */
static bool utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- compile --------------------------------------------------------------------------------- */

/* Only reads of the event and of json_each/json_tree, and functions: anything else is refused
 * when the statement is prepared (so at compile time). */
static int authorize(void *arg, int action, const char *a, const char *b, const char *db,
                     const char *trigger) {
    ferry_sqlfn *fn = arg;
    (void)trigger;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (b != NULL && strcasecmp(b, "load_extension") == 0)
            break;
        return SQLITE_OK;
    case SQLITE_READ:
        /* db is NULL for a CTE (msg and the handler's own) */
        if (db == NULL ||
            (a != NULL && (strcmp(a, "json_each") == 0 || strcmp(a, "json_tree") == 0)))
            return SQLITE_OK;
        snprintf(fn->refused, sizeof(fn->refused), "reading table '%s'", a != NULL ? a : "?");
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        snprintf(fn->refused, sizeof(fn->refused), "PRAGMA");
        return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        snprintf(fn->refused, sizeof(fn->refused), "ATTACH/DETACH");
        return SQLITE_DENY;
    default:
        break;
    }
    if (fn->refused[0] == '\0')
        snprintf(fn->refused, sizeof(fn->refused), "%s",
                 action == SQLITE_FUNCTION ? "load_extension" : "writes and schema changes");
    return SQLITE_DENY;
}

static int progress(void *arg) {
    ferry_sqlfn *fn = arg;
    return ++fn->ticks > FERRY_SQLFN_MAX_STEPS / PROGRESS_OPS;
}

/* Append "name" as an SQL quoted identifier. */
static void quote_ident(sqlite3_str *s, const char *name) {
    sqlite3_str_appendchar(s, 1, '"');
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '"')
            sqlite3_str_appendchar(s, 1, '"');
        sqlite3_str_appendchar(s, 1, *p);
    }
    sqlite3_str_appendchar(s, 1, '"');
}

/* The statement text for the current members (sqlite3_free), NULL on ENOMEM. */
static char *statement(const ferry_sqlfn *fn, const sqlfn_text *t) {
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendall(s,
                          t->recursive ? "WITH RECURSIVE msg(\"_event\"" : "WITH msg(\"_event\"");
    for (size_t i = 0; i < fn->nmembers; i++) {
        sqlite3_str_appendchar(s, 1, ',');
        quote_ident(s, fn->members[i]);
    }
    sqlite3_str_appendall(s, ") AS NOT MATERIALIZED (SELECT ?1");
    for (size_t i = 0; i < fn->nmembers; i++)
        sqlite3_str_appendf(s, ",?%d", (int)i + 2); /* no %zu in SQLite */
    sqlite3_str_appendall(s, t->with ? "), " : ") ");
    sqlite3_str_appendall(s, t->body);
    return sqlite3_str_finish(s);
}

/* Prepare the statement for the current members into fn->stmt. Returns SQLite's result code;
 * *msg gets a copy of the error message (ferry_free) when it is not SQLITE_OK. */
static int prepare(ferry_sqlfn *fn, const sqlfn_text *t, char **msg) {
    const char *tail = NULL;
    char *sql = statement(fn, t);
    int rc;

    *msg = NULL;
    sqlite3_finalize(fn->stmt);
    fn->stmt = NULL;
    if (sql == NULL)
        return SQLITE_NOMEM;
    fn->refused[0] = '\0';
    rc = sqlite3_prepare_v3(fn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &fn->stmt, &tail);
    if (rc != SQLITE_OK) {
        if (fn->refused[0] != '\0') {
            size_t n = strlen(fn->refused) + 128;
            *msg = ferry_malloc(n);
            if (*msg != NULL)
                snprintf(*msg, n, "not authorized: %s (a handler only reads the event)",
                         fn->refused);
        } else {
            *msg = ferry_strdup(sqlite3_errmsg(fn->db));
        }
    } else {
        ferry_free(fn->sql);
        fn->sql = ferry_strdup(sql);
        if (fn->sql == NULL)
            rc = SQLITE_NOMEM;
    }
    sqlite3_free(sql);
    return rc;
}

static bool add_member(ferry_sqlfn *fn, const char *name, size_t len) {
    char **m = ferry_realloc(fn->members, (fn->nmembers + 1) * sizeof(*m));
    if (m == NULL)
        return false;
    fn->members = m;
    if ((m[fn->nmembers] = ferry_strndup(name, len)) == NULL)
        return false;
    fn->nmembers++;
    return true;
}

static void drop_member(ferry_sqlfn *fn) {
    ferry_free(fn->members[--fn->nmembers]);
}

static bool has_member(const ferry_sqlfn *fn, const char *name, size_t len) {
    if (len == 6 && strncasecmp(name, "_event", 6) == 0)
        return true;
    for (size_t i = 0; i < fn->nmembers; i++)
        if (strlen(fn->members[i]) == len && strncasecmp(fn->members[i], name, len) == 0)
            return true;
    return false;
}

/* Try name[0..len) as a new member: prepare again. True when that changed the outcome (kept);
 * false when the same error came back (dropped again, *msg unchanged) or on ENOMEM (*rc). */
static bool try_member(ferry_sqlfn *fn, const sqlfn_text *t, const char *name, size_t len, int *rc,
                       char **msg) {
    char *next = NULL;
    if (len == 0 || has_member(fn, name, len))
        return false;
    if (!add_member(fn, name, len)) {
        *rc = SQLITE_NOMEM;
        return false;
    }
    int r = prepare(fn, t, &next);
    if (r == SQLITE_NOMEM || (r != SQLITE_OK && next == NULL)) {
        *rc = SQLITE_NOMEM;
        return false;
    }
    if (r != SQLITE_OK && strcmp(next, *msg) == 0) {
        ferry_free(next);
        drop_member(fn);
        return false;
    }
    ferry_free(*msg);
    *msg = next;
    *rc = r;
    return true;
}

/* Prepare, discovering members from "no such column: X" (see the top of this file). */
static ferry_err discover(ferry_sqlfn *fn, const sqlfn_text *t, ferry_detail *d) {
    static const char prefix[] = "no such column: ";
    char *msg = NULL;
    ferry_err err = FERRY_OK;
    int rc = prepare(fn, t, &msg);

    while (rc != SQLITE_OK && rc != SQLITE_NOMEM && msg != NULL &&
           strncmp(msg, prefix, sizeof(prefix) - 1) == 0) {
        const char *x = msg + sizeof(prefix) - 1;
        const char *dot = strchr(x, '.');
        if (fn->nmembers >= FERRY_SQLFN_MAX_MEMBERS) {
            err = ferry_fail(d, FERRY_ETOOBIG, fn->name, "more than %d event members named",
                             FERRY_SQLFN_MAX_MEMBERS);
            goto out;
        }
        /* "msg.x" or "m.x" (msg under an alias): x; else x is a member whose name holds a dot */
        if (dot != NULL && try_member(fn, t, dot + 1, strlen(dot + 1), &rc, &msg))
            continue;
        if (rc == SQLITE_NOMEM || !try_member(fn, t, x, strlen(x), &rc, &msg))
            break;
    }
    if (rc == SQLITE_NOMEM || (rc != SQLITE_OK && msg == NULL))
        err = ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
    else if (rc != SQLITE_OK)
        err = ferry_fail(d, FERRY_EINVAL, fn->name, "%s", msg);
out:
    ferry_free(msg);
    return err;
}

/* What only a prepared statement shows: one read-only statement, nothing after it. */
static ferry_err check_statement(ferry_sqlfn *fn, ferry_detail *d) {
    if (fn->stmt == NULL)
        return ferry_fail(d, FERRY_EINVAL, fn->name, "no SQL statement");
    if (sqlite3_stmt_isexplain(fn->stmt) != 0 || sqlite3_stmt_readonly(fn->stmt) == 0)
        return ferry_fail(d, FERRY_EINVAL, fn->name, "a handler is one SELECT statement");
    if (sqlite3_column_count(fn->stmt) == 0)
        return ferry_fail(d, FERRY_EINVAL, fn->name, "the SELECT has no result columns");
    return FERRY_OK;
}

static ferry_err open_db(ferry_sqlfn *fn, ferry_detail *d) {
    int rc =
        sqlite3_open_v2(":memory:", &fn->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return ferry_fail(d, rc == SQLITE_NOMEM ? FERRY_ENOMEM : FERRY_EIO, fn->name,
                          "cannot open SQLite: %s", sqlite3_errstr(rc));
    sqlite3_db_config(fn->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(fn->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL); /* "x" is never a string */
    sqlite3_db_config(fn->db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
    sqlite3_db_config(fn->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(fn->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_limit(fn->db, SQLITE_LIMIT_LENGTH, FERRY_SQLFN_MAX_VALUE);
    sqlite3_limit(fn->db, SQLITE_LIMIT_SQL_LENGTH, 4 * FERRY_SQLFN_MAX_SQL);
    sqlite3_limit(fn->db, SQLITE_LIMIT_VARIABLE_NUMBER, FERRY_SQLFN_MAX_MEMBERS + 1);
    sqlite3_limit(fn->db, SQLITE_LIMIT_ATTACHED, 0);
    /* SQLite connects json_each and json_tree on their first use in a connection through steps
     * the authorizer would refuse (writes to sqlite_master): connect them before it is set */
    rc = sqlite3_exec(fn->db, "SELECT 1 FROM json_each('[]'), json_tree('[]')", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ferry_fail(d, rc == SQLITE_NOMEM ? FERRY_ENOMEM : FERRY_EIO, fn->name,
                          "cannot prepare SQLite: %s", sqlite3_errmsg(fn->db));
    sqlite3_set_authorizer(fn->db, authorize, fn);
    sqlite3_progress_handler(fn->db, PROGRESS_OPS, progress, fn);
    return FERRY_OK;
}

/* For a text that is not a SELECT: SQLite's own message when it is a syntax error ('near
 * "selec": syntax error' says more than "not a SELECT"); d unchanged otherwise. */
static void sqlite_says(ferry_sqlfn *fn, const char *sql, size_t len, ferry_detail *d) {
    sqlite3_stmt *st = NULL;
    ferry_detail ignored;
    if (open_db(fn, &ignored) == FERRY_OK &&
        sqlite3_prepare_v2(fn->db, sql, (int)len, &st, NULL) != SQLITE_OK) {
        const char *m = sqlite3_errmsg(fn->db);
        if (strncmp(m, "near ", 5) == 0 || strncmp(m, "unrecognized token", 18) == 0 ||
            strcmp(m, "incomplete input") == 0)
            ferry_fail(d, FERRY_EINVAL, fn->name, "%s", m);
    }
    sqlite3_finalize(st);
}

ferry_err ferry_sqlfn_compile(const char *sql, size_t len, const char *name, ferry_sqlfn **out,
                              ferry_detail *d) {
    ferry_sqlfn *fn = NULL;
    sqlfn_text t = {NULL, false, false, false};
    ferry_detail why;
    ferry_err err;

    *out = NULL;
    if (name == NULL)
        name = "";
    if (len > FERRY_SQLFN_MAX_SQL) {
        err = ferry_fail(d, FERRY_ETOOBIG, name, "the SQL text is over %d bytes",
                         FERRY_SQLFN_MAX_SQL);
        goto out;
    }
    if ((fn = ferry_calloc(1, sizeof(*fn))) == NULL || (fn->name = ferry_strdup(name)) == NULL) {
        err = ferry_fail(d, FERRY_ENOMEM, name, "out of memory");
        goto out;
    }
    /* names in the SQL become keys of the answer, which must be valid UTF-8 */
    if (!utf8_valid((const unsigned char *)sql, len)) {
        err = ferry_fail(d, FERRY_EINVAL, name, "the SQL text is not valid UTF-8");
        goto out;
    }
    if ((err = sqlfn__rewrite(sql, len, &t, &why)) != FERRY_OK) {
        ferry_fail(d, err, name, "%s", why.message);
        if (t.not_select)
            sqlite_says(fn, sql, len, d);
        goto out;
    }
    if ((err = open_db(fn, d)) != FERRY_OK || (err = discover(fn, &t, d)) != FERRY_OK ||
        (err = check_statement(fn, d)) != FERRY_OK)
        goto out;
    if (fn->nmembers > 0 && (fn->spans = ferry_calloc(fn->nmembers, sizeof(*fn->spans))) == NULL) {
        err = ferry_fail(d, FERRY_ENOMEM, name, "out of memory");
        goto out;
    }
    *out = fn;
    fn = NULL;
out:
    ferry_free(t.body);
    ferry_sqlfn_free(fn);
    return err;
}

/* ---- run ------------------------------------------------------------------------------------- */

static bool grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return true;
    size_t c = *cap > 0 ? *cap : 256;
    while (c < need)
        c *= 2;
    char *b = ferry_realloc(*buf, c);
    if (b == NULL)
        return false;
    *buf = b;
    *cap = c;
    return true;
}

/* The JSON text of the nested (object or array) members the handler names, one after another in
 * fn->scratch, their offsets in fn->spans (SIZE_MAX for the others). */
static ferry_err dump_nested(ferry_sqlfn *fn, json_t *const *vals, ferry_detail *d) {
    size_t total = 0, n;
    for (size_t i = 0; i < fn->nmembers; i++) {
        fn->spans[i] = SIZE_MAX;
        if (json_is_object(vals[i]) || json_is_array(vals[i])) {
            if ((n = json_dumpb(vals[i], NULL, 0, JSON_COMPACT)) == 0) /* jansson's ENOMEM */
                return ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
            fn->spans[i] = total;
            total += n + 1;
        }
    }
    if (total == 0)
        return FERRY_OK;
    if (!grow(&fn->scratch, &fn->scratch_cap, total))
        return ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
    for (size_t i = 0; i < fn->nmembers; i++) {
        if (fn->spans[i] == SIZE_MAX)
            continue;
        size_t room = total - fn->spans[i] - 1;
        if ((n = json_dumpb(vals[i], fn->scratch + fn->spans[i], room, JSON_COMPACT)) == 0 ||
            n > room)
            return ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
        fn->scratch[fn->spans[i] + n] = '\0';
    }
    return FERRY_OK;
}

static int bind_member(ferry_sqlfn *fn, int idx, size_t i, const json_t *v) {
    if (v == NULL)
        return sqlite3_bind_null(fn->stmt, idx);
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return sqlite3_bind_int64(fn->stmt, idx, json_integer_value(v));
    case JSON_REAL:
        return sqlite3_bind_double(fn->stmt, idx, json_real_value(v));
    case JSON_STRING:
        return sqlite3_bind_text64(fn->stmt, idx, json_string_value(v), json_string_length(v),
                                   SQLITE_STATIC, SQLITE_UTF8);
    case JSON_TRUE:
        return sqlite3_bind_int(fn->stmt, idx, 1);
    case JSON_FALSE:
        return sqlite3_bind_int(fn->stmt, idx, 0);
    case JSON_OBJECT:
    case JSON_ARRAY:
        return sqlite3_bind_text(fn->stmt, idx, fn->scratch + fn->spans[i], -1, SQLITE_STATIC);
    case JSON_NULL:
    default:
        return sqlite3_bind_null(fn->stmt, idx);
    }
}

/* The value of column i of the current row as JSON (new reference), NULL on ENOMEM or text that
 * is not UTF-8 (*why says which). *size grows by the bytes it takes. */
static json_t *column_value(sqlite3_stmt *st, int i, size_t *size, const char **why) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        *size += 21;
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: {
        double x = sqlite3_column_double(st, i);
        *size += 24;
        return isfinite(x) ? json_real(x) : json_null(); /* JSON has no Inf */
    }
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        json_t *v;
        *size += n + 2;
        if (*size > FERRY_SQLFN_MAX_ROW)
            return NULL;
        if (s != NULL && !utf8_valid((const unsigned char *)s, n))
            *why = "is text that is not valid UTF-8";
        else if (s != NULL && (v = json_stringn_nocheck(s, n)) != NULL)
            return v;
        return NULL;
    }
    case SQLITE_BLOB: {
        const void *b = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i), len = 0;
        *size += (n + 2) / 3 * 4 + 2;
        if (*size > FERRY_SQLFN_MAX_ROW)
            return NULL;
        char *s = ferry_base64_encode(b, n, &len);
        json_t *v = s != NULL ? json_stringn_nocheck(s, len) : NULL;
        ferry_free(s);
        if (v == NULL)
            *why = "out of memory";
        return v;
    }
    default:
        *size += 4;
        return json_null();
    }
}

/* The current row as JSON object text in fn->out. */
static ferry_err answer(ferry_sqlfn *fn, size_t *row_len, ferry_detail *d) {
    json_t *row = json_object();
    ferry_err err = FERRY_OK;
    size_t size = 2, len;
    int n = sqlite3_column_count(fn->stmt);

    if (row == NULL)
        return ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(fn->stmt, i), *why = "out of memory";
        json_t *v = column_value(fn->stmt, i, &size, &why);
        if (size > FERRY_SQLFN_MAX_ROW) {
            json_decref(v);
            err = ferry_fail(d, FERRY_EINVAL, fn->name, "the answer is over %d bytes",
                             FERRY_SQLFN_MAX_ROW);
            goto out;
        }
        if (v == NULL || name == NULL || json_object_set_new(row, name, v) != 0) {
            err = ferry_fail(d, strcmp(why, "out of memory") == 0 ? FERRY_ENOMEM : FERRY_EINVAL,
                             fn->name, "column '%s' %s", name != NULL ? name : "?", why);
            goto out;
        }
    }
    len = json_dumpb(row, NULL, 0, JSON_COMPACT);
    if (len == 0 || !grow(&fn->out, &fn->out_cap, len + 1)) {
        err = ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
        goto out;
    }
    if (json_dumpb(row, fn->out, len, JSON_COMPACT) != len) { /* jansson's ENOMEM */
        err = ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
        goto out;
    }
    fn->out[len] = '\0';
    *row_len = len;
out:
    json_decref(row);
    return err;
}

ferry_err ferry_sqlfn_run(ferry_sqlfn *fn, const char *event, size_t len, const char **row,
                          size_t *row_len, ferry_detail *d) {
    json_t *ev = NULL;
    json_t *small[16], **vals = small;
    json_error_t je;
    ferry_err err = FERRY_OK;
    int rc = SQLITE_OK;

    *row = NULL;
    *row_len = 0;
    if (len > FERRY_SQLFN_MAX_EVENT)
        return ferry_fail(d, FERRY_ETOOBIG, fn->name, "the event is over %d bytes",
                          FERRY_SQLFN_MAX_EVENT);
    ev = json_loadb(event, len, JSON_ALLOW_NUL, &je);
    if (ev == NULL || !json_is_object(ev)) {
        err = ferry_fail(d, FERRY_EFORMAT, fn->name, "the event is not a JSON object%s%s",
                         ev == NULL ? ": " : "", ev == NULL ? je.text : "");
        goto out;
    }
    if (fn->nmembers > sizeof(small) / sizeof(small[0]) &&
        (vals = ferry_calloc(fn->nmembers, sizeof(*vals))) == NULL) {
        err = ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < fn->nmembers; i++)
        vals[i] = json_object_get(ev, fn->members[i]);
    if ((err = dump_nested(fn, vals, d)) != FERRY_OK)
        goto out;
    fn->ticks = 0;
    rc = sqlite3_bind_text64(fn->stmt, 1, len > 0 ? event : "", len, SQLITE_STATIC, SQLITE_UTF8);
    for (size_t i = 0; i < fn->nmembers && rc == SQLITE_OK; i++)
        rc = bind_member(fn, (int)i + 2, i, vals[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(fn->stmt);
    if (rc == SQLITE_ROW)
        err = answer(fn, row_len, d);
    else if (rc == SQLITE_NOMEM)
        err = ferry_fail(d, FERRY_ENOMEM, fn->name, "out of memory");
    else if (rc == SQLITE_INTERRUPT)
        err = ferry_fail(d, FERRY_EINVAL, fn->name, "the handler ran over %d steps",
                         FERRY_SQLFN_MAX_STEPS);
    else if (rc != SQLITE_DONE)
        err = ferry_fail(d, FERRY_EINVAL, fn->name, "%s", sqlite3_errmsg(fn->db));
    if (rc == SQLITE_ROW && err == FERRY_OK)
        *row = fn->out;
out:
    sqlite3_reset(fn->stmt); /* before ev, whose strings are bound, goes */
    if (vals != small)
        ferry_free(vals);
    json_decref(ev);
    return err;
}

/* ---- the rest -------------------------------------------------------------------------------- */

const char *ferry_sqlfn_name(const ferry_sqlfn *fn) {
    return fn->name;
}

const char *ferry_sqlfn_sql(const ferry_sqlfn *fn) {
    return fn->sql;
}

void ferry_sqlfn_free(ferry_sqlfn *fn) {
    if (fn == NULL)
        return;
    sqlite3_finalize(fn->stmt);
    sqlite3_close(fn->db);
    for (size_t i = 0; i < fn->nmembers; i++)
        ferry_free(fn->members[i]);
    ferry_free(fn->members);
    ferry_free(fn->name);
    ferry_free(fn->sql);
    ferry_free(fn->out);
    ferry_free(fn->scratch);
    ferry_free(fn->spans);
    ferry_free(fn);
}
