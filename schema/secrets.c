/* Secrets: key files and AES-256-GCM sealing of secret values (see ferry/secrets.h). */
#include "ferry/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/base64.h"

/* ---- owner-only files ----------------------------------------------------------------------- */

ferry_err ferry_secrets_read_file(const char *path, const char *what, void *buf, size_t cap,
                                  size_t *len) {
    ferry_err err = FERRY_EIO;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *len = 0;
    if (fd < 0) {
        if (errno == ENOENT)
            return FERRY_ENOTFOUND;
        LOG_ERROR("cannot open %s %s: %s", what, path, strerror(errno));
        return FERRY_EIO;
    }
    if (fstat(fd, &st) != 0) {
        LOG_ERROR("cannot stat %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    err = FERRY_EINVAL;
    if (!S_ISREG(st.st_mode)) {
        LOG_ERROR("%s %s is not a regular file; refusing it", what, path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        LOG_ERROR("%s %s has mode %04o: group or others may read it, and only its owner may; "
                  "refusing it (chmod 600 it)",
                  what, path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if ((unsigned long long)st.st_size > cap) {
        LOG_ERROR("%s %s has %lld bytes, more than the %zu it may; refusing it", what, path,
                  (long long)st.st_size, cap);
        goto out;
    }
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    if (n != (ssize_t)st.st_size) {
        LOG_ERROR("cannot read %s %s: %s", what, path, n < 0 ? strerror(errno) : "short read");
        err = FERRY_EIO;
        goto out;
    }
    *len = (size_t)n;
    err = FERRY_OK;
out:
    close(fd);
    return err;
}

/* The folder of path, for the fsync that makes the new name durable. */
static void fsync_parent(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));
    if (n >= sizeof(dir))
        return;
    if (slash == NULL)
        memcpy(dir, ".", 2);
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

ferry_err ferry_secrets_write_file(const char *path, const char *what, const void *data, size_t len,
                                   bool exclusive) {
    char tmp[PATH_MAX + 16];
    ferry_err err = FERRY_EIO;
    int fd = -1;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= sizeof(tmp)) {
        LOG_ERROR("%s path too long: %s", what, path);
        return FERRY_EINVAL;
    }
    if ((fd = mkstemp(tmp)) < 0) { /* mode 0600 */
        LOG_ERROR("cannot create %s beside %s: %s", what, path, strerror(errno));
        return FERRY_EIO;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
        LOG_ERROR("cannot write %s %s: %s", what, tmp, strerror(errno));
        goto out;
    }
    /* link fails with EEXIST where a file is already there: the first writer's stays. */
    if (exclusive ? link(tmp, path) != 0 && errno != EEXIST : rename(tmp, path) != 0) {
        LOG_ERROR("cannot create %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    fsync_parent(path);
    err = FERRY_OK;
out:
    close(fd);
    unlink(tmp); /* after a rename: nothing there any more */
    return err;
}

/* ---- key file -------------------------------------------------------------------------------- */

/* Read and check an existing key file. FERRY_ENOTFOUND when it does not exist. */
static ferry_err key_read(const char *path, unsigned char key[FERRY_SECRETS_KEY_LEN]) {
    unsigned char buf[256]; /* a wrong file of up to this size is told by its size */
    size_t len = 0;
    ferry_err err = ferry_secrets_read_file(path, "the key file", buf, sizeof(buf), &len);

    if (err == FERRY_EINVAL)
        LOG_ERROR("secrets: the key file %s protects stored secrets or this daemon's identity; "
                  "refusing to start",
                  path);
    if (err == FERRY_OK && len != FERRY_SECRETS_KEY_LEN) {
        LOG_ERROR("secrets: the key file %s has %zu bytes instead of %d; refusing to start (is it "
                  "the right file? a new key cannot decrypt secrets stored with the old one)",
                  path, len, FERRY_SECRETS_KEY_LEN);
        err = FERRY_EINVAL;
    }
    if (err == FERRY_OK)
        memcpy(key, buf, FERRY_SECRETS_KEY_LEN);
    ferry_secrets_wipe(buf, sizeof(buf));
    return err;
}

/* Write a new random key: the key file appears whole or not at all, and of two processes creating
 * it at once the first wins (the second then reads the winner's key). */
static ferry_err key_create(const char *path) {
    unsigned char key[FERRY_SECRETS_KEY_LEN];
    if (RAND_bytes(key, sizeof(key)) != 1) {
        LOG_ERROR("secrets: no random bytes for a new key (OpenSSL error %lu)", ERR_get_error());
        return FERRY_EIO;
    }
    ferry_err err = ferry_secrets_write_file(path, "the key file", key, sizeof(key), true);
    ferry_secrets_wipe(key, sizeof(key));
    return err;
}

ferry_err ferry_secrets_key_load(const char *path, bool create,
                                 unsigned char key[FERRY_SECRETS_KEY_LEN], bool *created) {
    ferry_err err = key_read(path, key);
    if (created != NULL)
        *created = false;
    if (err != FERRY_ENOTFOUND || !create)
        return err;
    if ((err = key_create(path)) != FERRY_OK)
        return err;
    /* Read back what is there now: ours, or a concurrent creator's. */
    if ((err = key_read(path, key)) == FERRY_OK) {
        LOG_INFO("secrets: created the key file %s (back it up with the data: what it protects is "
                 "lost without it)",
                 path);
        if (created != NULL)
            *created = true;
    }
    return err;
}

/* ---- sealing --------------------------------------------------------------------------------- */

void ferry_secrets_wipe(void *p, size_t len) {
    if (p != NULL && len > 0)
        OPENSSL_cleanse(p, len);
}

static ferry_err crypto_fail(const char *what) {
    LOG_ERROR("secrets: %s failed (OpenSSL error %lu)", what, ERR_get_error());
    return FERRY_EIO;
}

ferry_err ferry_secrets_seal_bytes(const unsigned char key[FERRY_SECRETS_KEY_LEN], const void *aad,
                                   size_t aad_len, const void *plain, size_t len,
                                   unsigned char *out) {
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *nonce = out, *ct = out + FERRY_SECRETS_NONCE_LEN, *tag = ct + len;
    ferry_err err = FERRY_EIO;
    int n = 0, fin = 0;

    if (len > INT_MAX - FERRY_SECRETS_OVERHEAD || aad_len > INT_MAX)
        return FERRY_EINVAL;
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
        return FERRY_ENOMEM;
    if (RAND_bytes(nonce, FERRY_SECRETS_NONCE_LEN) != 1) {
        err = crypto_fail("random nonce");
        goto out;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, FERRY_SECRETS_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
        (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
        (len > 0 && EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1) ||
        EVP_EncryptFinal_ex(ctx, ct + (len > 0 ? n : 0), &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FERRY_SECRETS_TAG_LEN, tag) != 1) {
        err = crypto_fail("AES-256-GCM encryption");
        goto out;
    }
    err = FERRY_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

ferry_err ferry_secrets_open_bytes(const unsigned char key[FERRY_SECRETS_KEY_LEN], const void *aad,
                                   size_t aad_len, const unsigned char *sealed, size_t slen,
                                   unsigned char *out) {
    EVP_CIPHER_CTX *ctx = NULL;
    ferry_err err = FERRY_EIO;
    int n = 0, fin = 0;

    if (slen < FERRY_SECRETS_OVERHEAD || slen > INT_MAX || aad_len > INT_MAX)
        return FERRY_EFORMAT;
    size_t clen = slen - FERRY_SECRETS_OVERHEAD;
    const unsigned char *nonce = sealed, *ct = sealed + FERRY_SECRETS_NONCE_LEN, *tag = ct + clen;
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
        return FERRY_ENOMEM;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, FERRY_SECRETS_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
        (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
        (clen > 0 && EVP_DecryptUpdate(ctx, out, &n, ct, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FERRY_SECRETS_TAG_LEN, (void *)tag) != 1) {
        err = crypto_fail("AES-256-GCM decryption");
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, out + (clen > 0 ? n : 0), &fin) != 1) {
        ferry_secrets_wipe(out, clen);
        ERR_clear_error();
        err = FERRY_EINVAL; /* the tag does not match: wrong key, wrong place or altered */
        goto out;
    }
    err = FERRY_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

ferry_err ferry_secrets_seal(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *aad,
                             const void *plain, size_t len, char **sealed) {
    unsigned char *buf = NULL;
    ferry_err err = FERRY_EINVAL;

    *sealed = NULL;
    if (len > INT_MAX - FERRY_SECRETS_OVERHEAD)
        return err;
    if ((buf = ferry_malloc(len + FERRY_SECRETS_OVERHEAD)) == NULL)
        return FERRY_ENOMEM;
    err = ferry_secrets_seal_bytes(key, aad, strlen(aad), plain, len, buf);
    if (err == FERRY_OK)
        err = (*sealed = ferry_base64_encode(buf, len + FERRY_SECRETS_OVERHEAD, NULL)) != NULL
                  ? FERRY_OK
                  : FERRY_ENOMEM;
    ferry_free(buf);
    return err;
}

ferry_err ferry_secrets_open(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *aad,
                             const char *sealed, size_t slen, unsigned char **plain, size_t *len) {
    unsigned char *raw = NULL, *out = NULL;
    size_t rlen = 0;
    ferry_err err;

    *plain = NULL;
    *len = 0;
    if ((err = ferry_base64_decode(sealed, slen, &raw, &rlen)) != FERRY_OK)
        goto out;
    err = FERRY_EFORMAT;
    if (rlen < FERRY_SECRETS_OVERHEAD)
        goto out;
    size_t clen = rlen - FERRY_SECRETS_OVERHEAD;
    err = FERRY_ENOMEM;
    if ((out = ferry_malloc(clen + 1)) == NULL)
        goto out;
    if ((err = ferry_secrets_open_bytes(key, aad, strlen(aad), raw, rlen, out)) != FERRY_OK)
        goto out;
    out[clen] = '\0';
    *plain = out;
    *len = clen;
    out = NULL;
out:
    ferry_free(out);
    ferry_free(raw);
    return err;
}

void ferry_secrets_digest(const void *data, size_t len, char out[FERRY_SECRETS_DIGEST_LEN]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    memcpy(out, "sha256:", 8);
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        LOG_ERROR("secrets: SHA-256 failed (OpenSSL error %lu)", ERR_get_error());
        return;
    }
    for (unsigned i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[7 + 2 * mdlen] = '\0';
}

char *ferry_secrets_token(const char *prefix) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[32];
    size_t plen = strlen(prefix), o = plen;
    char *out = ferry_malloc(plen + 44);

    if (out == NULL)
        return NULL;
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        LOG_ERROR("secrets: no random bytes for a token (OpenSSL error %lu)", ERR_get_error());
        ferry_free(out);
        return NULL;
    }
    memcpy(out, prefix, plen);
    /* 32 bytes: ten groups of three, then two bytes (three characters, no padding). */
    for (size_t i = 0; i < 30; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 3; k >= 0; k--)
            out[o++] = alphabet[(v >> (6 * k)) & 63];
    }
    uint32_t v = (uint32_t)raw[30] << 16 | (uint32_t)raw[31] << 8;
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o] = '\0';
    ferry_secrets_wipe(raw, sizeof(raw));
    return out;
}
