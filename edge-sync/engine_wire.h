/* edge-sync engine, internal: what engine.c says to and hears from the engine that needs no
 * engine to work out (response buffers, the progress stream, error messages, request paths and
 * bodies, image references, X-Registry-Auth, the pause image's tar, log frames). Shared by
 * engine.c and its unit test (tests/edge/test_engine_parse.c); not for other modules. */
#ifndef FERRY_EDGE_ENGINE_WIRE_H
#define FERRY_EDGE_ENGINE_WIRE_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

#define FERRY_ENGINE_BODY_CAP ((size_t)16 << 20) /* any response body */
#define FERRY_ENGINE_LINE_CAP ((size_t)1 << 20)  /* one line of a progress stream */

/* ---- response buffer ------------------------------------------------------------------------- */

/* A response body; start it zeroed (on_line and ctx set for line mode), end it with
 * ferry_engine__resp_free. Whole mode: data holds the body (NUL-terminated), up to
 * FERRY_ENGINE_BODY_CAP. Line mode (on_line set): the body is cut at '\n' and each line handed to
 * on_line; data holds only the line being received, up to FERRY_ENGINE_LINE_CAP. data is owned
 * by the buffer; overflow and nomem say why an append was refused. */
typedef struct {
    char *data;
    size_t len, alloc;
    bool overflow, nomem;
    void (*on_line)(void *ctx, const char *line, size_t len);
    void *ctx;
} ferry_engine__resp;

/* Free b's data and clear its length and flags (on_line and ctx stay); b may be reused. */
void ferry_engine__resp_free(ferry_engine__resp *b);

/* Append n bytes of p, keeping data NUL-terminated. false, with nothing appended, when len would
 * pass cap (b->overflow set) or memory ran out (b->nomem set). */
bool ferry_engine__resp_append(ferry_engine__resp *b, const char *p, size_t n, size_t cap);

/* libcurl's CURLOPT_WRITEFUNCTION with ud a ferry_engine__resp: append size * nmemb bytes (whole
 * mode) or cut them into lines for on_line (line mode). Returns the bytes taken; 0 (which makes
 * curl give up) when a cap was passed or memory ran out. A last line without '\n' stays in data
 * for the caller to hand on. */
size_t ferry_engine__resp_write(char *p, size_t size, size_t nmemb, void *ud);

/* ---- the progress stream of a pull or an import ---- */

/* What a progress stream (pull, import) said went wrong: the first "error" or
 * "errorDetail.message" of its lines, and a "message" (the shape of an answer that failed before
 * the stream began). Start it zeroed. */
typedef struct {
    char error[512];
    char message[512];
    size_t lines;
} ferry_engine__stream;

/* A ferry_engine__resp on_line for a progress stream: ctx is a ferry_engine__stream. Counts the
 * line and keeps its verdict; a blank line or one that is not JSON carries none. */
void ferry_engine__stream_line(void *ctx, const char *line, size_t len);

/* ---- errors ---------------------------------------------------------------------------------- */

/* snprintf into err; nothing when err is NULL or errlen 0. */
void ferry_engine__set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The engine's explanation of a failed request into out (may be NULL): "message" of a JSON body
 * (both engines), else the body itself (up to 512 bytes), else the status; without the trailing
 * newlines the engines add at times. */
void ferry_engine__message(const ferry_engine__resp *b, long status, char *out, size_t outlen);

/* The error of an HTTP status: 400 FERRY_EINVAL, 404 FERRY_ENOTFOUND, 409 FERRY_ECONFLICT, any
 * other FERRY_EENGINE. */
ferry_err ferry_engine__status_err(long status);

/* ---- requests and bodies ---- */

/* Build a request path into path (len bytes) from a format where every "%s" is an argument to
 * percent-encode and the rest is copied as is. FERRY_ETOOBIG when it does not fit, FERRY_ENOMEM;
 * path is then unusable. */
ferry_err ferry_engine__build_path(char *path, size_t len, const char *fmt, ...);
ferry_err ferry_engine__vbuild_path(char *path, size_t len, const char *fmt, va_list ap);

/* v as compact JSON in a ferry_malloc'd, NUL-terminated buffer (caller frees with ferry_free;
 * jansson's own allocator may differ), its length in *len. NULL when out of memory. */
char *ferry_engine__dump_json(const json_t *v, size_t *len);

/* Parse b's body as JSON; *out is a new reference. FERRY_EFORMAT (logged) when it is not JSON. */
ferry_err ferry_engine__parse_body(const ferry_engine__resp *b, json_t **out);

/* ---- images ---------------------------------------------------------------------------------- */

/* Split an image reference into what POST /images/create wants: fromImage into repo (everything
 * before the tag or digest) and tag (the tag, or the digest "sha256:..", or "latest"). A ':'
 * counts as the tag separator only after the last '/', so "127.0.0.1:5000/a/b" has no tag. With
 * a digest, a tag in front of it ("a:1@sha256:..") is dropped: the digest decides. FERRY_EINVAL
 * for an empty repo, tag or last component; FERRY_ETOOBIG when a part does not fit its buffer. */
ferry_err ferry_engine__split_image_ref(const char *image, char *repo, size_t repolen, char *tag,
                                        size_t taglen);

/* true when the first component of repo names a registry ("127.0.0.1:5000/a", "quay.io/a",
 * "localhost/a"), the rule both engines apply. */
bool ferry_engine__has_registry_host(const char *repo);

/* true when repo's registry is on this host: "localhost" or an address in 127.0.0.0/8, with or
 * without a port (Docker's default insecure range). */
bool ferry_engine__loopback_registry(const char *repo);

/* base64url (with padding, as both engines decode X-Registry-Auth) of n bytes, NUL-terminated;
 * caller frees with ferry_free (and should cleanse it first: it carries credentials). NULL when
 * out of memory or n passes 1 MiB. */
char *ferry_engine__base64url(const void *data, size_t n);

/* ---- the pause image ------------------------------------------------------------------------- */

/* A ustar archive holding one regular file `name` (mode 0755, root-owned, mtime 0 so that the
 * same binary always gives the same layer) with the len bytes of data; its size in *tar_len.
 * Caller frees with ferry_free. NULL when out of memory or name has 100 bytes or more. */
char *ferry_engine__tar_one_file(const char *name, const void *data, size_t len, size_t *tar_len);

/* ---- logs ------------------------------------------------------------------------------------ */

/* Concatenate the payloads of Docker's multiplexed log stream into out: frames of an 8-byte
 * header (stream 0/1/2, three zero bytes, big-endian payload length) and the payload. out has
 * room for len + 1 bytes and ends NUL-terminated. A truncated last frame is kept as far as it
 * goes; bytes that are not a frame end the stream. Returns the length written. */
size_t ferry_engine__demux_logs(const unsigned char *in, size_t len, char *out);

/* Make a log (text, len bytes) fit a logs answer in place: keep its last max bytes (from a line
 * start when one begins in the first KiB of them, never inside a character), replace invalid
 * UTF-8 and NUL bytes by '?'. Returns the new length; *truncated says whether bytes were cut. */
size_t ferry_engine__clean_log(char *text, size_t len, size_t max, bool *truncated);

#endif
