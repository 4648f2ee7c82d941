/* sql runtime: compile a handler (one SQL SELECT) once, run it against JSON events. The rules a
 * handler follows are in runtimes/sql/README.md. */
#ifndef FERRY_SQLFN_H
#define FERRY_SQLFN_H

#include <stddef.h>

#include "ferry/common.h"

#define FERRY_SQLFN_MAX_SQL (64 * 1024)          /* bytes of a handler's SQL text */
#define FERRY_SQLFN_MAX_EVENT (1024 * 1024)      /* bytes of one event */
#define FERRY_SQLFN_MAX_MEMBERS 256              /* event members one handler may name */
#define FERRY_SQLFN_MAX_ROW (4 * 1024 * 1024)    /* bytes of the answer's JSON text */
#define FERRY_SQLFN_MAX_VALUE (2 * 1024 * 1024)  /* bytes of one string or blob in SQLite */
#define FERRY_SQLFN_MAX_STEPS (20 * 1000 * 1000) /* SQLite VM steps of one run, about */

/* One compiled handler: its own in-memory SQLite connection and prepared statement. Not thread
 * safe: use one handle from one thread at a time (compile one per thread to run in parallel). */
typedef struct ferry_sqlfn ferry_sqlfn;

/* Compile the handler sql[0..len) (not NUL-terminated) named name (its file name, used in error
 * details; copied). On success *out is a new handle (ferry_sqlfn_free). Errors, with d->field =
 * name and d->message naming what is wrong (SQLite's own message for SQL it refuses):
 * FERRY_ETOOBIG (SQL over FERRY_SQLFN_MAX_SQL, more than FERRY_SQLFN_MAX_MEMBERS members named),
 * FERRY_EINVAL (not one SELECT, syntax, unknown function, writes, PRAGMA, ATTACH, tables other
 * than msg, json_each and json_tree, parameters, '*'), FERRY_ENOMEM. Every error a handler's
 * text can cause is found here; a run fails only on what an event does (below). */
ferry_err ferry_sqlfn_compile(const char *sql, size_t len, const char *name, ferry_sqlfn **out,
                              ferry_detail *d);

/* Run fn against the event event[0..len) (JSON text; not NUL-terminated). On FERRY_OK *row is the
 * first selected row as compact JSON object text (NUL-terminated, *row_len bytes without the NUL)
 * or NULL when the handler selects no row (WHERE filtered the event out). *row is owned by fn and
 * valid until the next run or ferry_sqlfn_free. Errors, with d->message set (d->field = the
 * handler's name): FERRY_ETOOBIG (event over FERRY_SQLFN_MAX_EVENT), FERRY_EFORMAT (the event is
 * not a JSON object), FERRY_EINVAL (the handler failed on this event: SQLite's message, such as
 * "malformed JSON" from json_extract of a member that is not JSON, integer overflow, a string or
 * answer over its cap, more than FERRY_SQLFN_MAX_STEPS steps), FERRY_ENOMEM. */
ferry_err ferry_sqlfn_run(ferry_sqlfn *fn, const char *event, size_t len, const char **row,
                          size_t *row_len, ferry_detail *d);

/* The handler's name as given to compile; the text SQLite prepared (for debugging). Owned by
 * fn. */
const char *ferry_sqlfn_name(const ferry_sqlfn *fn);
const char *ferry_sqlfn_sql(const ferry_sqlfn *fn);

/* Free fn (NULL is a no-op). */
void ferry_sqlfn_free(ferry_sqlfn *fn);

#endif
