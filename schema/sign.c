/* Ed25519 signatures of MQTT messages and X25519 sealed boxes (see ferry/sign.h). */
#include "ferry/sign.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>

#include "ferry/base64.h"
#include "ferry/secrets.h"

#define BOX_NONCE 12
#define BOX_TAG 16
#define BOX_INFO "ferry-box-v1"

static ferry_err ssl_fail(const char *what) {
    LOG_ERROR("crypto: %s failed (OpenSSL error %lu)", what, ERR_get_error());
    return FERRY_EIO;
}

/* The public half of a raw private key of type (EVP_PKEY_ED25519 or EVP_PKEY_X25519). */
static ferry_err derive(int type, ferry_keypair *kp) {
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(type, NULL, kp->seed, FERRY_SIGN_KEY_LEN);
    size_t n = FERRY_SIGN_KEY_LEN;
    ferry_err err = FERRY_OK;
    if (k == NULL || EVP_PKEY_get_raw_public_key(k, kp->pub, &n) != 1 || n != FERRY_SIGN_KEY_LEN)
        err = ssl_fail("deriving a public key");
    EVP_PKEY_free(k);
    return err;
}

ferry_err ferry_sign_keypair(ferry_keypair *kp) {
    return derive(EVP_PKEY_ED25519, kp);
}

ferry_err ferry_box_keypair(ferry_keypair *kp) {
    return derive(EVP_PKEY_X25519, kp);
}

/* topic || 0x00 || payload, the bytes a signature covers. *out from ferry_malloc. */
static unsigned char *signed_bytes(const char *topic, size_t tlen, const void *payload, size_t len,
                                   size_t *n) {
    unsigned char *b = NULL;
    if (len > SIZE_MAX - tlen - 1 || (b = ferry_malloc(tlen + 1 + len)) == NULL)
        return NULL;
    memcpy(b, topic, tlen);
    b[tlen] = 0;
    if (len > 0)
        memcpy(b + tlen + 1, payload, len);
    *n = tlen + 1 + len;
    return b;
}

ferry_err ferry_sign_message(const ferry_keypair *kp, const char *topic, const void *payload,
                             size_t len, char sig_b64[FERRY_SIGN_SIG_B64]) {
    EVP_PKEY *k =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, kp->seed, FERRY_SIGN_KEY_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[FERRY_SIGN_SIG_LEN];
    size_t siglen = sizeof(sig), n = 0;
    unsigned char *msg = signed_bytes(topic, strlen(topic), payload, len, &n);
    ferry_err err = FERRY_ENOMEM;

    sig_b64[0] = '\0';
    if (k == NULL || ctx == NULL || msg == NULL)
        goto out;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, msg, n) != 1 || siglen != FERRY_SIGN_SIG_LEN) {
        err = ssl_fail("signing");
        goto out;
    }
    char *b64 = ferry_base64_encode(sig, sizeof(sig), NULL);
    if (b64 == NULL || strlen(b64) >= FERRY_SIGN_SIG_B64) {
        ferry_free(b64);
        goto out;
    }
    memcpy(sig_b64, b64, strlen(b64) + 1);
    ferry_free(b64);
    err = FERRY_OK;
out:
    ferry_free(msg);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return err;
}

bool ferry_sign_verify(const unsigned char pub[FERRY_SIGN_KEY_LEN], const char *topic, size_t tlen,
                       const void *payload, size_t len, const char *sig_b64) {
    unsigned char *sig = NULL, *msg = NULL;
    size_t siglen = 0, n = 0;
    EVP_PKEY *k = NULL;
    EVP_MD_CTX *ctx = NULL;
    bool ok = false;

    if (sig_b64 == NULL || strlen(sig_b64) != FERRY_SIGN_SIG_B64 - 1 ||
        ferry_base64_decode(sig_b64, strlen(sig_b64), &sig, &siglen) != FERRY_OK ||
        siglen != FERRY_SIGN_SIG_LEN)
        goto out;
    if ((k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, FERRY_SIGN_KEY_LEN)) ==
            NULL ||
        (ctx = EVP_MD_CTX_new()) == NULL ||
        (msg = signed_bytes(topic, tlen, payload, len, &n)) == NULL)
        goto out;
    ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
         EVP_DigestVerify(ctx, sig, siglen, msg, n) == 1;
out:
    ERR_clear_error(); /* a bad signature leaves an error on the queue: it is an answer, not one */
    ferry_free(sig);
    ferry_free(msg);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

void ferry_sign_pub_encode(const unsigned char pub[FERRY_SIGN_KEY_LEN],
                           char out[FERRY_SIGN_PUB_B64]) {
    char *b64 = ferry_base64_encode(pub, FERRY_SIGN_KEY_LEN, NULL);
    out[0] = '\0';
    if (b64 != NULL && strlen(b64) < FERRY_SIGN_PUB_B64)
        memcpy(out, b64, strlen(b64) + 1);
    ferry_free(b64);
}

ferry_err ferry_sign_pub_decode(const char *b64, unsigned char pub[FERRY_SIGN_KEY_LEN]) {
    unsigned char *raw = NULL;
    size_t n = 0;
    ferry_err err = FERRY_EINVAL;
    if (b64 != NULL && strlen(b64) == FERRY_SIGN_PUB_B64 - 1 &&
        ferry_base64_decode(b64, strlen(b64), &raw, &n) == FERRY_OK && n == FERRY_SIGN_KEY_LEN) {
        memcpy(pub, raw, FERRY_SIGN_KEY_LEN);
        err = FERRY_OK;
    }
    ferry_free(raw);
    return err;
}

/* The AES key of a box: HKDF-SHA256 of the X25519 shared secret of priv and peer, salted with the
 * ephemeral and the recipient's public keys. */
static ferry_err box_key(EVP_PKEY *priv, const unsigned char peer[FERRY_SIGN_KEY_LEN],
                         const unsigned char eph_pub[FERRY_SIGN_KEY_LEN],
                         const unsigned char to_pub[FERRY_SIGN_KEY_LEN], unsigned char key[32]) {
    EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, FERRY_SIGN_KEY_LEN);
    EVP_PKEY_CTX *dc = NULL, *kc = NULL;
    unsigned char shared[32], salt[64];
    size_t slen = sizeof(shared), klen = 32;
    ferry_err err = FERRY_EIO;

    memcpy(salt, eph_pub, 32);
    memcpy(salt + 32, to_pub, 32);
    if (p == NULL || (dc = EVP_PKEY_CTX_new(priv, NULL)) == NULL || EVP_PKEY_derive_init(dc) != 1 ||
        EVP_PKEY_derive_set_peer(dc, p) != 1 || EVP_PKEY_derive(dc, shared, &slen) != 1 ||
        slen != sizeof(shared))
        goto out;
    if ((kc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL)) == NULL || EVP_PKEY_derive_init(kc) != 1 ||
        EVP_PKEY_CTX_set_hkdf_md(kc, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set1_hkdf_salt(kc, salt, sizeof(salt)) != 1 ||
        EVP_PKEY_CTX_set1_hkdf_key(kc, shared, (int)slen) != 1 ||
        EVP_PKEY_CTX_add1_hkdf_info(kc, (const unsigned char *)BOX_INFO, sizeof(BOX_INFO) - 1) !=
            1 ||
        EVP_PKEY_derive(kc, key, &klen) != 1 || klen != 32)
        goto out;
    err = FERRY_OK;
out:
    if (err != FERRY_OK)
        ERR_clear_error(); /* a low-order peer key fails here: the box does not open */
    ferry_secrets_wipe(shared, sizeof(shared));
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_CTX_free(kc);
    EVP_PKEY_free(p);
    return err;
}

ferry_err ferry_box_seal(const unsigned char to[FERRY_SIGN_KEY_LEN], const void *aad,
                         size_t aad_len, const void *plain, size_t len, unsigned char **out,
                         size_t *olen) {
    ferry_keypair eph;
    EVP_PKEY *k = NULL;
    unsigned char key[32];
    unsigned char *b = NULL;
    ferry_err err = FERRY_ENOMEM;

    *out = NULL;
    *olen = 0;
    if (len > SIZE_MAX - FERRY_BOX_OVERHEAD - 1 ||
        (b = ferry_malloc(len + FERRY_BOX_OVERHEAD)) == NULL)
        return FERRY_ENOMEM;
    if (RAND_bytes(eph.seed, sizeof(eph.seed)) != 1 || ferry_box_keypair(&eph) != FERRY_OK ||
        (k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, eph.seed, 32)) == NULL) {
        err = ssl_fail("making an ephemeral key");
        goto out;
    }
    if ((err = box_key(k, to, eph.pub, to, key)) != FERRY_OK)
        goto out;
    memcpy(b, eph.pub, 32);
    /* nonce | ciphertext | tag, as ferry_secrets_seal_bytes lays them out */
    err = ferry_secrets_seal_bytes(key, aad, aad_len, plain, len, b + 32);
    if (err != FERRY_OK)
        goto out;
    *out = b;
    *olen = len + FERRY_BOX_OVERHEAD;
    b = NULL;
out:
    ferry_secrets_wipe(key, sizeof(key));
    ferry_secrets_wipe(&eph, sizeof(eph));
    EVP_PKEY_free(k);
    ferry_free(b);
    return err;
}

ferry_err ferry_box_open(const ferry_keypair *kp, const void *aad, size_t aad_len,
                         const unsigned char *sealed, size_t slen, unsigned char **out,
                         size_t *olen) {
    EVP_PKEY *k = NULL;
    unsigned char key[32];
    unsigned char *b = NULL;
    ferry_err err;

    *out = NULL;
    *olen = 0;
    if (slen < FERRY_BOX_OVERHEAD)
        return FERRY_EFORMAT;
    if ((b = ferry_malloc(slen - FERRY_BOX_OVERHEAD + 1)) == NULL)
        return FERRY_ENOMEM;
    if ((k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, kp->seed, 32)) == NULL) {
        err = ssl_fail("loading the box key");
        goto out;
    }
    if ((err = box_key(k, sealed, sealed, kp->pub, key)) != FERRY_OK) {
        err = FERRY_EINVAL;
        goto out;
    }
    err = ferry_secrets_open_bytes(key, aad, aad_len, sealed + 32, slen - 32, b);
    if (err != FERRY_OK)
        goto out;
    b[slen - FERRY_BOX_OVERHEAD] = '\0';
    *out = b;
    *olen = slen - FERRY_BOX_OVERHEAD;
    b = NULL;
out:
    ferry_secrets_wipe(key, sizeof(key));
    EVP_PKEY_free(k);
    ferry_free(b);
    return err;
}
