/* broker-bridge outbox entries: their bytes, framed for LMDB and sealed with the key (see
 * outbox.h). */
#include "outbox.h"

#include <string.h>

#include "ferry/codec.h"
#include "ferry/topics.h"
#include "store.h"

/* ---- framing ------------------------------------------------------------------------------- */

/* fv (1 byte), topic length (2 bytes, big-endian), topic, payload. Payloads are opaque bytes,
 * which the JSON-based record codec cannot carry; the layout is checked on read. */
#define OUTBOX_HEAD 3

ferry_err ferry_outbox__encode(const char *topic, const unsigned char *payload, size_t len,
                               unsigned char **buf, size_t *blen) {
    size_t tlen = strlen(topic);
    unsigned char *b = NULL;

    *buf = NULL;
    *blen = 0;
    if (tlen == 0 || tlen >= FERRY_TOPIC_MAX || len > FERRY_MAX_PAYLOAD)
        return FERRY_EINVAL;
    if ((b = ferry_malloc(OUTBOX_HEAD + tlen + len)) == NULL)
        return FERRY_ENOMEM;
    b[0] = FERRY_STORE_FV;
    b[1] = (unsigned char)(tlen >> 8);
    b[2] = (unsigned char)(tlen & 0xff);
    memcpy(b + OUTBOX_HEAD, topic, tlen);
    if (len > 0)
        memcpy(b + OUTBOX_HEAD + tlen, payload, len);
    *buf = b;
    *blen = OUTBOX_HEAD + tlen + len;
    return FERRY_OK;
}

ferry_err ferry_outbox__decode(const void *buf, size_t len, uint64_t seq, const char **topic,
                               size_t *tlen, const unsigned char **payload, size_t *plen) {
    const unsigned char *p = buf;

    *topic = NULL;
    *payload = NULL;
    *tlen = *plen = 0;
    if (len < OUTBOX_HEAD) {
        LOG_ERROR("store: corrupt outbox entry %llu (%zu bytes); skipped", (unsigned long long)seq,
                  len);
        return FERRY_EFORMAT;
    }
    if (p[0] != FERRY_STORE_FV) {
        LOG_ERROR("store: outbox entry %llu has format version %u, this build reads only %d; "
                  "skipped",
                  (unsigned long long)seq, p[0], FERRY_STORE_FV);
        return FERRY_EVERSION;
    }
    size_t n = ((size_t)p[1] << 8) | p[2];
    if (n == 0 || n >= FERRY_TOPIC_MAX || n > len - OUTBOX_HEAD ||
        memchr(p + OUTBOX_HEAD, '\0', n) != NULL) {
        LOG_ERROR("store: outbox entry %llu has a corrupt topic; skipped", (unsigned long long)seq);
        return FERRY_EFORMAT;
    }
    if (len - OUTBOX_HEAD - n > FERRY_MAX_PAYLOAD) { /* never written so: append caps it */
        LOG_ERROR("store: outbox entry %llu has a payload of %zu bytes, over the cap; skipped",
                  (unsigned long long)seq, len - OUTBOX_HEAD - n);
        return FERRY_EFORMAT;
    }
    *topic = (const char *)p + OUTBOX_HEAD;
    *tlen = n;
    *payload = p + OUTBOX_HEAD + n;
    *plen = len - OUTBOX_HEAD - n;
    return FERRY_OK;
}

/* ---- sealing ------------------------------------------------------------------------------- */

ferry_err ferry_outbox__seal(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *topic,
                             const unsigned char *payload, size_t len, unsigned char **buf,
                             size_t *blen) {
    unsigned char *b = ferry_malloc(len + FERRY_OUTBOX_SEAL_OVERHEAD);
    ferry_err err = FERRY_ENOMEM;

    *buf = NULL;
    *blen = 0;
    if (b == NULL)
        return err;
    b[0] = FERRY_OUTBOX_SEALED;
    if ((err = ferry_secrets_seal_bytes(key, topic, strlen(topic), payload, len, b + 1)) !=
        FERRY_OK) {
        ferry_free(b);
        return err;
    }
    *buf = b;
    *blen = len + FERRY_OUTBOX_SEAL_OVERHEAD;
    return FERRY_OK;
}

bool ferry_outbox__sealed(const unsigned char *payload, size_t len) {
    return len > 0 && payload[0] == FERRY_OUTBOX_SEALED;
}

ferry_err ferry_outbox__open(const unsigned char key[FERRY_SECRETS_KEY_LEN], const char *topic,
                             const unsigned char *payload, size_t len, unsigned char **plain,
                             size_t *plen) {
    unsigned char *p = NULL;

    *plain = NULL;
    *plen = 0;
    if (len < FERRY_OUTBOX_SEAL_OVERHEAD)
        return FERRY_EFORMAT;
    if ((p = ferry_malloc(len - FERRY_OUTBOX_SEAL_OVERHEAD + 1)) == NULL)
        return FERRY_ENOMEM;
    ferry_err err = ferry_secrets_open_bytes(key, topic, strlen(topic), payload + 1, len - 1, p);
    if (err != FERRY_OK) {
        ferry_free(p);
        return err;
    }
    *plain = p;
    *plen = len - FERRY_OUTBOX_SEAL_OVERHEAD;
    return FERRY_OK;
}
