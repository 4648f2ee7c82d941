/* Ferry codec: JSON values <-> msgpack bytes, safe for untrusted input. */
#ifndef FERRY_CODEC_H
#define FERRY_CODEC_H

#include <jansson.h>

#include "ferry/common.h"

/* Caps applied to every decode of untrusted bytes. */
#define FERRY_MAX_PAYLOAD (4u * 1024u * 1024u) /* bytes of one MQTT payload or LMDB record */
#define FERRY_MAX_DEPTH 32                     /* nesting of arrays/maps */
#define FERRY_MAX_ITEMS 65536                  /* elements of one array or map */

/* Encode v (object, array, string, integer, real, true, false, null) as msgpack.
 * On success *out is a buffer from ferry_malloc owned by the caller (ferry_free), *len its size.
 * Errors: FERRY_ENOMEM, FERRY_EINVAL (v NULL), FERRY_ETOOBIG (depth). */
ferry_err ferry_msgpack_encode(const json_t *v, unsigned char **out, size_t *len);

/* Decode exactly one msgpack value filling all of buf[0..len) into a new JSON value (caller owns
 * the reference). Accepted: nil, bool, int (fits int64), float, str (valid UTF-8), array, map with
 * str keys. Rejected with FERRY_EFORMAT: truncated input, trailing bytes, bin, ext, non-string
 * keys, invalid UTF-8, duplicate keys. FERRY_ETOOBIG: len > FERRY_MAX_PAYLOAD, depth or counts
 * over the caps, or a declared count larger than the bytes that remain. Never crashes. */
ferry_err ferry_msgpack_decode(const unsigned char *buf, size_t len, json_t **out);

/* ferry_msgpack_decode that also writes a one-line reason for a failure into why (if not NULL),
 * e.g. "truncated input: string at offset 12 needs 40 bytes, 3 left". */
ferry_err ferry_msgpack_decode_reason(const unsigned char *buf, size_t len, json_t **out, char *why,
                                      size_t whylen);

#endif
