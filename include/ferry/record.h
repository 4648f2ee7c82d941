/* Records at rest: the values of the daemons' LMDB stores. A record is a JSON object written as a
 * msgpack map with its format version added as "fv"; a reader accepts only the version it knows.
 * Files on disk are untrusted input: decoding goes through ferry_msgpack_decode's caps. */
#ifndef FERRY_RECORD_H
#define FERRY_RECORD_H

#include <jansson.h>
#include <stddef.h>

#include "ferry/common.h"

/* Encode rec (an object; not modified) with "fv": fv added. *buf from ferry_malloc, caller frees.
 * FERRY_EINVAL when rec is not an object, FERRY_ENOMEM. */
ferry_err ferry_record_encode(const json_t *rec, int fv, unsigned char **buf, size_t *len);

/* Decode a record written with format version fv. *out is a new object without "fv" (caller
 * owns). FERRY_EFORMAT: not msgpack, not a map, or no integer "fv"; FERRY_EVERSION: another
 * "fv", stored in *found (may be NULL). Nothing is logged: the caller knows which record it is. */
ferry_err ferry_record_decode(const void *buf, size_t len, int fv, json_t **out, long long *found);

#endif
