/* broker-bridge outbox entries: the one place that knows their bytes (README.md, "The outbox" and
 * "Secrets"). An entry in LMDB is framed as fv (1 byte), the topic's length (2 bytes, big-endian),
 * the topic and the payload; store.c frames and unframes it. The payload is sealed with the key
 * file's key before it is framed, because app.put, app.patch and node.sync carry the decrypted
 * files of secrets, which must not reach the disk in clear (nor linger in LMDB's freed pages once
 * published): FERRY_OUTBOX_SEALED, nonce, ciphertext and tag, with the topic as additional data.
 * The writers seal, the publisher opens. Free of LMDB and of the bridge's state, so that
 * fuzz/fuzz_bridge_record.c runs exactly the code that reads the files. */
#ifndef FERRY_BRIDGE_OUTBOX_H
#define FERRY_BRIDGE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"
#include "ferry/secrets.h"

/* The first byte of a sealed payload: never the first byte of a msgpack payload (0xc1 is unused in
 * msgpack). A payload that does not start with it was written by an older bridge, unsealed. */
#define FERRY_OUTBOX_SEALED 0xc1
/* Bytes a sealed payload has beyond the plain one. */
#define FERRY_OUTBOX_SEAL_OVERHEAD (1 + FERRY_SECRETS_OVERHEAD)

/* Encode an outbox entry (fv byte, topic length in 2 bytes big-endian, topic, payload). *buf from
 * ferry_malloc, caller frees. FERRY_EINVAL for an empty topic, one of FERRY_TOPIC_MAX bytes or
 * more, or a payload over FERRY_MAX_PAYLOAD. */
ferry_err ferry_outbox__encode(const char *topic, const unsigned char *payload, size_t len,
                               unsigned char **buf, size_t *blen);

/* Decode an outbox entry: *topic (tlen bytes, 1 to FERRY_TOPIC_MAX - 1, no NUL, not terminated)
 * and *payload point into buf. FERRY_EVERSION or FERRY_EFORMAT, logged with seq (for the log
 * only), for anything ferry_outbox__encode would not have written. */
ferry_err ferry_outbox__decode(const void *buf, size_t len, uint64_t seq, const char **topic,
                               size_t *tlen, const unsigned char **payload, size_t *plen);

/* Seal len bytes of payload for topic under key: *buf from ferry_malloc (caller frees) of *blen =
 * len + FERRY_OUTBOX_SEAL_OVERHEAD bytes. FERRY_ENOMEM, errors of ferry_secrets_seal_bytes. */
ferry_err ferry_outbox__seal(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *topic,
                             const unsigned char *payload, size_t len, unsigned char **buf,
                             size_t *blen);

/* true when a stored payload is sealed (false: publish it as it is). */
bool ferry_outbox__sealed(const unsigned char *payload, size_t len);

/* Open a sealed payload of topic under key: *plain from ferry_malloc of *plen bytes (caller wipes
 * it with ferry_secrets_wipe and frees it). FERRY_EFORMAT when it is shorter than the overhead,
 * FERRY_ENOMEM, errors of ferry_secrets_open_bytes (FERRY_EINVAL: another key, altered bytes). */
ferry_err ferry_outbox__open(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *topic,
                             const unsigned char *payload, size_t len, unsigned char **plain,
                             size_t *plen);

#endif
