/* Identity and trust on the wire (schema/PROTOCOL.md, "Trust"): Ed25519 signatures over an MQTT
 * message, and X25519 sealed boxes that only one node can open. OpenSSL underneath.
 *
 * A signature covers the topic and the payload, `topic || 0x00 || payload`, so that a message
 * signed for one topic (node A's sync) is worthless on another (node B's). It travels as the MQTT 5
 * user property "sig": base64 of the 64 signature bytes. The payload stays plain msgpack.
 *
 * A sealed box is ephemeral X25519 to the recipient's public key, HKDF-SHA256 of the shared
 * secret (salt: both public keys; info "ferry-box-v1") to an AES-256 key, then AES-256-GCM with a
 * random nonce and the caller's associated data: eph_pub (32) | nonce (12) | ciphertext | tag (16).
 * Only the holder of the recipient's private key opens it; the associated data (e.g. "ns/node/app")
 * binds it to its place. */
#ifndef FERRY_SIGN_H
#define FERRY_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

#define FERRY_SIGN_KEY_LEN 32 /* Ed25519 private seed and public key; X25519 keys */
#define FERRY_SIGN_SIG_LEN 64 /* Ed25519 signature */
#define FERRY_SIGN_SIG_B64 89 /* its base64, NUL included */
#define FERRY_SIGN_PUB_B64 45 /* a public key's base64, NUL included */
#define FERRY_SIGN_PROP "sig" /* the MQTT user property that carries the signature */
#define FERRY_BOX_OVERHEAD (32 + 12 + 16)

/* A key pair. seed: the private half (any 32 random bytes; kept in a key file, ferry/secrets.h);
 * pub: derived from it. */
typedef struct {
    unsigned char seed[FERRY_SIGN_KEY_LEN];
    unsigned char pub[FERRY_SIGN_KEY_LEN];
} ferry_keypair;

/* Derive pub from seed: an Ed25519 (signing) or an X25519 (box) key pair. FERRY_EIO when OpenSSL
 * fails (logged). */
ferry_err ferry_sign_keypair(ferry_keypair *kp);
ferry_err ferry_box_keypair(ferry_keypair *kp);

/* Sign topic || 0x00 || payload with kp into sig_b64 (base64, NUL-terminated). */
ferry_err ferry_sign_message(const ferry_keypair *kp, const char *topic, const void *payload,
                             size_t len, char sig_b64[FERRY_SIGN_SIG_B64]);

/* true when sig_b64 (untrusted: NULL, any length or alphabet) is pub's signature of topic || 0x00
 * || payload (topic is tlen bytes, not NUL-terminated). */
bool ferry_sign_verify(const unsigned char pub[FERRY_SIGN_KEY_LEN], const char *topic, size_t tlen,
                       const void *payload, size_t len, const char *sig_b64);

/* Public keys as text: base64 of the 32 bytes. decode: FERRY_EINVAL for anything else. */
void ferry_sign_pub_encode(const unsigned char pub[FERRY_SIGN_KEY_LEN],
                           char out[FERRY_SIGN_PUB_B64]);
ferry_err ferry_sign_pub_decode(const char *b64, unsigned char pub[FERRY_SIGN_KEY_LEN]);

/* Seal len bytes of plain to the X25519 public key to, with associated data aad (aad_len bytes).
 * *out (from ferry_malloc, caller frees) holds *olen = len + FERRY_BOX_OVERHEAD bytes. */
ferry_err ferry_box_seal(const unsigned char to[FERRY_SIGN_KEY_LEN], const void *aad,
                         size_t aad_len, const void *plain, size_t len, unsigned char **out,
                         size_t *olen);

/* Open what ferry_box_seal made for kp (untrusted input). *out (from ferry_malloc, caller frees
 * and should wipe) holds *olen bytes plus a NUL. FERRY_EFORMAT when shorter than the overhead,
 * FERRY_EINVAL when it does not authenticate (another recipient, other aad, altered bytes). */
ferry_err ferry_box_open(const ferry_keypair *kp, const void *aad, size_t aad_len,
                         const unsigned char *sealed, size_t slen, unsigned char **out,
                         size_t *olen);

#endif
