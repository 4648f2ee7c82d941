/* Secrets: key files (32 random bytes, mode 0600) and the AES-256-GCM encryption of secret values
 * (secret data, certificate keys, registry passwords) before they rest on disk, in the bridge's
 * LMDB and in a node's. The identity keys of ferry/sign.h live in key files of the same kind. */
#ifndef FERRY_SECRETS_H
#define FERRY_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

#define FERRY_SECRETS_KEY_LEN 32   /* AES-256 */
#define FERRY_SECRETS_NONCE_LEN 12 /* random per value */
#define FERRY_SECRETS_TAG_LEN 16
/* "sha256:" and 64 hex digits, NUL-terminated. */
#define FERRY_SECRETS_DIGEST_LEN 72

/* Owner-only files (keys, tokens, credentials). `what` names the file in log lines ("the key
 * file"). */

/* Read the whole of file path into buf (at most cap bytes) and its size into *len. FERRY_ENOTFOUND
 * (not logged) when it does not exist; FERRY_EINVAL (logged, saying what to do) when it is not a
 * regular file, group or others may access it (mode & 077), or it holds more than cap bytes;
 * FERRY_EIO (logged) when it cannot be read. */
ferry_err ferry_secrets_read_file(const char *path, const char *what, void *buf, size_t cap,
                                  size_t *len);

/* Write len bytes of data as file path, mode 0600, whole or not at all: a temporary file in the
 * same folder, fsynced, then put in place, and the folder fsynced. exclusive: a file already at
 * path stays (of two writers at once the first wins: read it back); else it is replaced.
 * FERRY_EINVAL (path too long), FERRY_EIO; logged. */
ferry_err ferry_secrets_write_file(const char *path, const char *what, const void *data, size_t len,
                                   bool exclusive);

/* Load the key from the file at path. When the file does not exist and create is true, a new
 * random key (RAND_bytes) is written there first, atomically (a temporary file of mode 0600 in the
 * same folder, fsynced, then linked to path; a concurrent creator wins and its key is read) and
 * *created (if not NULL) becomes true. Refused, with a log line that says what to do: a file that
 * is not a regular file, that is not exactly FERRY_SECRETS_KEY_LEN bytes, or that group or others
 * may access (mode & 077: the key decrypts every stored secret). FERRY_ENOTFOUND when absent and
 * create is false; FERRY_EINVAL for a refused file; FERRY_EIO for I/O errors. */
ferry_err ferry_secrets_key_load(const char *path, bool create,
                                 unsigned char key[FERRY_SECRETS_KEY_LEN], bool *created);

#define FERRY_SECRETS_OVERHEAD (FERRY_SECRETS_NONCE_LEN + FERRY_SECRETS_TAG_LEN)

/* AES-256-GCM of len bytes of plain under key, a fresh random nonce and aad (aad_len bytes) into
 * out, which has room for len + FERRY_SECRETS_OVERHEAD bytes: nonce, ciphertext, tag.
 * FERRY_EINVAL past INT_MAX, FERRY_ENOMEM, FERRY_EIO (OpenSSL failed; logged). */
ferry_err ferry_secrets_seal_bytes(const unsigned char key[FERRY_SECRETS_KEY_LEN], const void *aad,
                                   size_t aad_len, const void *plain, size_t len,
                                   unsigned char *out);

/* The reverse: slen bytes of sealed (as ferry_secrets_seal_bytes wrote them) into out, which has
 * room for slen - FERRY_SECRETS_OVERHEAD bytes. FERRY_EFORMAT when shorter than the overhead,
 * FERRY_EINVAL when the authentication fails (another key, another aad or altered bytes; out is
 * wiped), FERRY_ENOMEM, FERRY_EIO. */
ferry_err ferry_secrets_open_bytes(const unsigned char key[FERRY_SECRETS_KEY_LEN], const void *aad,
                                   size_t aad_len, const unsigned char *sealed, size_t slen,
                                   unsigned char *out);

/* The same as text: encrypt len bytes of plain with AES-256-GCM under key, a fresh random 12-byte
 * nonce and aad (a NUL-terminated string that binds the value to its place, "ns/name/field").
 * *sealed becomes a NUL-terminated string from ferry_malloc (caller frees): base64 of nonce,
 * ciphertext and tag. FERRY_ENOMEM, FERRY_EIO (OpenSSL failed; logged). */
ferry_err ferry_secrets_seal(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *aad,
                             const void *plain, size_t len, char **sealed);

/* Decrypt what ferry_secrets_seal wrote (slen bytes of sealed) with the same key and aad. *plain
 * becomes a buffer from ferry_malloc of *len bytes plus a NUL (caller frees, ideally after
 * ferry_secrets_wipe). FERRY_EFORMAT when sealed is not of that form, FERRY_EINVAL when the
 * authentication fails (another key, another aad or altered bytes), FERRY_ENOMEM. */
ferry_err ferry_secrets_open(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *aad,
                             const char *sealed, size_t slen, unsigned char **plain, size_t *len);

/* out = "sha256:" + lowercase hex of SHA-256(data). */
void ferry_secrets_digest(const void *data, size_t len, char out[FERRY_SECRETS_DIGEST_LEN]);

/* A new random token: prefix followed by base64url (no padding) of 32 random bytes. From
 * ferry_malloc (caller frees); NULL on ENOMEM or when no random bytes could be had (logged). */
char *ferry_secrets_token(const char *prefix);

/* Overwrite len bytes at p with zeros in a way the compiler keeps (OPENSSL_cleanse). */
void ferry_secrets_wipe(void *p, size_t len);

#endif
