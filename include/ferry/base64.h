/* Ferry base64: strict standard base64 (RFC 4648 section 4, with padding) for config files. */
#ifndef FERRY_BASE64_H
#define FERRY_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

/* Encode len bytes of data as padded standard base64. Returns a NUL-terminated string from
 * ferry_malloc (caller frees with ferry_free), NULL on ENOMEM or when the result would not fit
 * size_t. *outlen (if not NULL) receives its length without the NUL. data may be NULL when len is
 * 0 (the result is ""). */
char *ferry_base64_encode(const void *data, size_t len, size_t *outlen);

/* true when s[0..len) is canonical padded standard base64: alphabet [A-Za-z0-9+/], length a
 * multiple of 4, '=' only as one or two final pad characters, unused bits of the last group
 * zero, no whitespace. *decoded (if not NULL) receives the number of bytes it decodes to.
 * Allocates nothing. */
bool ferry_base64_valid(const char *s, size_t len, size_t *decoded);

/* Decode s[0..len) (strict, as ferry_base64_valid). On success *out is a buffer from
 * ferry_malloc (caller frees; never NULL, even for 0 bytes) and *outlen its size.
 * FERRY_EFORMAT for input that is not canonical base64, FERRY_ENOMEM. */
ferry_err ferry_base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);

#endif
