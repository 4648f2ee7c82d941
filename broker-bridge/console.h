/* broker-bridge's web console: the static files of a folder (HTML, CSS, ES modules, images) read
 * into memory once at start, so that api.c serves them at / without touching the filesystem per
 * request. The console is not part of the REST API: it has no route in api.c's routes[] and no
 * place in schema/openapi.yaml.
 *
 * What is loaded: regular files only, found by walking the folder without following symbolic
 * links (a link is skipped, logged); names starting with "." (files and folders) are skipped;
 * every path component must be made of [A-Za-z0-9._-] (others skipped, logged); only the
 * extensions of ferry_console_type are loaded (others skipped, logged). Bounded:
 * FERRY_CONSOLE_MAX_FILES files, FERRY_CONSOLE_MAX_FILE bytes each, FERRY_CONSOLE_MAX_TOTAL in
 * all, FERRY_CONSOLE_MAX_DEPTH folders deep; going over any of them refuses the whole folder. */
#ifndef FERRY_BRIDGE_CONSOLE_H
#define FERRY_BRIDGE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

#define FERRY_CONSOLE_MAX_FILES 512
#define FERRY_CONSOLE_MAX_FILE (8u * 1024u * 1024u)
#define FERRY_CONSOLE_MAX_TOTAL (32u * 1024u * 1024u)
#define FERRY_CONSOLE_MAX_DEPTH 16
#define FERRY_CONSOLE_MAX_PATH 256 /* bytes of a file's URL path, "/" included */

typedef struct ferry_console ferry_console; /* opaque; read-only once loaded: threads share it */

/* One loaded file. Every pointer lives as long as the console it came from. */
typedef struct {
    const char *path;          /* its URL path: "/index.html", "/js/app.js" */
    const unsigned char *data; /* its bytes */
    size_t len;
    const char *type; /* the Content-Type to send */
    const char *etag; /* a strong ETag: quoted hex of the first 16 bytes of SHA-256(data) */
} ferry_console_file;

/* Load the files of folder dir (see above) into a new console (*out; ferry_console_free).
 * FERRY_ENOTFOUND when dir does not exist (not logged: the caller decides whether that is an
 * error); FERRY_EINVAL when it cannot be read or is not a folder, or a file in it cannot be read;
 * FERRY_ETOOBIG over a limit; FERRY_ENOMEM. Every failure but FERRY_ENOTFOUND is logged with
 * the file it is about. A folder without any loadable file is a console of 0 files. */
ferry_err ferry_console_load(const char *dir, ferry_console **out);

void ferry_console_free(ferry_console *c);

/* How many files were loaded, and their bytes in all. */
size_t ferry_console_count(const ferry_console *c);
size_t ferry_console_bytes(const ferry_console *c);

/* The file a request path names (as libmicrohttpd hands it: percent-decoded, without the query),
 * or NULL: "/" names "/index.html"; a path with a "." or ".." segment, an empty segment, or a
 * character outside [A-Za-z0-9._-/] names nothing. No filesystem access: a binary search of the
 * sorted table. Safe from any thread. */
const ferry_console_file *ferry_console_find(const ferry_console *c, const char *url);

/* Whether an If-None-Match header value names etag: one of its comma-separated tags equals it
 * (a weak "W/" tag compares equal too, as RFC 9110 asks for If-None-Match), or it is "*". false
 * for NULL. */
bool ferry_console_etag_match(const char *if_none_match, const char *etag);

/* The Content-Type of a file name by its extension, or NULL when such files are not served. */
const char *ferry_console_type(const char *name);

/* ---- internal, for tests ---------------------------------------------------------------------
 * ferry_console_load with other limits (files, bytes of one file, bytes in all). */
ferry_err ferry_console__load_limited(const char *dir, size_t max_files, size_t max_file,
                                      size_t max_total, ferry_console **out);

#endif
