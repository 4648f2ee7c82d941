/* sql runtime: the text rewrite of a handler's SELECT (a tiny top-level tokenizer) that lets it
 * leave out FROM, before SQLite sees it. Pure: no SQLite, no I/O. */
#ifndef FERRY_SQLFN_REWRITE_H
#define FERRY_SQLFN_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

/* What sqlfn__rewrite makes of a handler. The statement to prepare is
 *   "WITH " ("RECURSIVE " when recursive) "msg(...) AS (...)" (with ? ", " : " ") body
 * body: a NUL-terminated string from ferry_malloc (the caller frees it with ferry_free): the
 * handler's text after its own "WITH [RECURSIVE]" when it has one, cut at its first top-level ';',
 * with " FROM msg " inserted into every top-level SELECT core that has no FROM. */
typedef struct {
    char *body;
    bool with;       /* the handler has its own WITH clause: body continues that CTE list */
    bool recursive;  /* ... and it is WITH RECURSIVE */
    bool not_select; /* set with the error for text that does not start with SELECT or WITH */
} sqlfn_text;

/* Rewrite the handler sql[0..len). Refuses (FERRY_EINVAL, with d's message set and field ""):
 * text that does not start with SELECT or WITH, more than one statement, parameters (?, :x, @x,
 * $x), a top-level '*' or 't.*' result column, a NUL byte. FERRY_ENOMEM. On error out->body is
 * NULL. The tokenizer skips strings, quoted identifiers, comments and everything in parentheses;
 * anything it does not understand is left for SQLite to refuse. */
ferry_err sqlfn__rewrite(const char *sql, size_t len, sqlfn_text *out, ferry_detail *d);

#endif
