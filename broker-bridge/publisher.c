/* broker-bridge publisher: hands outbox entries to MQTT in order within a window, one connection
 * generation at a time, and removes them when the broker acknowledges them (README.md, "The
 * outbox"). */
#include <stdint.h>

#include "bridge_int.h"
#include "outbox.h"
#include "telemetry.h"

#define STALL_MS 60000 /* no ack for this long with messages in flight: send everything again */

void ferry_bridge_mqtt_up(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    b->mqtt_up = true;
    b->gen++;
    b->cursor = 0;
    b->inflight = 0;
    b->retry_from = UINT64_MAX;
    b->last_progress_ms = ferry_mono_ms();
    pthread_mutex_unlock(&b->lock);
    ferry_metrics_add(b->metrics, M_MQTT_CONNECTS, NULL, 1);
    ferry_bridge_pump(b);
}

void ferry_bridge_mqtt_down(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    b->mqtt_up = false;
    pthread_mutex_unlock(&b->lock);
}

ferry_err bridge__publish(ferry_bridge *b, const char *topic, const unsigned char *payload,
                          size_t len, const ferry_outbox_ref *ref) {
    char sig[FERRY_SIGN_SIG_B64];
    ferry_err err = ferry_sign_message(&b->sign, topic, payload, len, sig);
    if (err == FERRY_OK)
        err = b->cfg.publish(b->cfg.publish_ctx, topic, payload, len, sig, ref);
    if (err == FERRY_OK)
        ferry_metrics_add(b->metrics, M_MQTT_PUBLISHES,
                          ref != NULL ? "kind=\"outbox\"" : "kind=\"direct\"", 1);
    return err;
}

static bool pump_each(uint64_t seq, const char *topic, const unsigned char *payload, size_t len,
                      void *ctx) {
    ferry_bridge *b = ctx;
    unsigned char *plain = NULL;
    if (b->inflight >= b->cfg.window)
        return false;
    ferry_outbox_ref ref = {.seq = seq, .gen = b->gen};
    if (ferry_outbox__sealed(payload, len)) {
        size_t plen = 0;
        ferry_err err = ferry_outbox__open(b->key, topic, payload, len, &plain, &plen);
        if (err == FERRY_ENOMEM)
            return false; /* retried on the next kick or tick */
        if (err != FERRY_OK) {
            LOG_ERROR("outbox: entry %llu on %s does not decrypt with the key file (%s); it is "
                      "skipped and stays in the outbox",
                      (unsigned long long)seq, topic, ferry_strerror(err));
            b->cursor = seq + 1;
            return true;
        }
        len = plen;
        payload = plain;
    }
    ferry_err perr = bridge__publish(b, topic, payload, len, &ref);
    if (plain != NULL) {
        ferry_secrets_wipe(plain, len);
        ferry_free(plain);
    }
    if (perr != FERRY_OK)
        return false; /* retried on the next kick or tick */
    if (b->inflight == 0)
        b->last_progress_ms = ferry_mono_ms();
    b->inflight++;
    b->cursor = seq + 1;
    return true;
}

static ferry_err pump_txn(ferry_store_txn *t, void *ctx) {
    ferry_bridge *b = ctx;
    return ferry_store_outbox_scan(t, b->cursor, pump_each, b);
}

void ferry_bridge_pump(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    bool up = b->mqtt_up;
    if (up && b->inflight < b->cfg.window)
        ferry_store_read(b->store, pump_txn, b);
    pthread_mutex_unlock(&b->lock);
    if (up)
        bridge__logs_publish(b);
}

typedef struct {
    const ferry_outbox_ref *refs;
    size_t n;
} ack_op;

static ferry_err ack_txn(ferry_store_txn *t, void *ctx) {
    ack_op *op = ctx;
    ferry_err err = FERRY_OK;
    for (size_t i = 0; i < op->n && err == FERRY_OK; i++)
        err = ferry_store_outbox_delete(t, op->refs[i].seq);
    return err;
}

void ferry_bridge_outbox_acked(ferry_bridge *b, const ferry_outbox_ref *refs, size_t n) {
    ack_op op = {.refs = refs, .n = n};
    if (n == 0)
        return;
    pthread_mutex_lock(&b->lock);
    ferry_err err = ferry_store_write(b->store, ack_txn, &op);
    if (err != FERRY_OK)
        LOG_ERROR("store: cannot remove %zu acknowledged messages from the outbox (%s); they are "
                  "published again on reconnect",
                  n, ferry_strerror(err));
    for (size_t i = 0; i < n; i++) {
        if (refs[i].gen == b->gen && b->inflight > 0)
            b->inflight--;
    }
    b->last_progress_ms = ferry_mono_ms();
    LOG_DEBUG("outbox: %zu acknowledged, %zu in flight", n, b->inflight);
    pthread_mutex_unlock(&b->lock);
    ferry_metrics_add(b->metrics, M_MQTT_ACKS, NULL, (double)n);
}

void ferry_bridge_outbox_failed(ferry_bridge *b, const ferry_outbox_ref *ref) {
    ferry_metrics_add(b->metrics, M_MQTT_FAILURES, NULL, 1);
    pthread_mutex_lock(&b->lock);
    if (ref->gen == b->gen) {
        if (b->inflight > 0)
            b->inflight--;
        if (ref->seq < b->retry_from)
            b->retry_from = ref->seq;
    }
    pthread_mutex_unlock(&b->lock);
}

void ferry_bridge_tick(ferry_bridge *b) {
    pthread_mutex_lock(&b->lock);
    if (b->mqtt_up && b->retry_from != UINT64_MAX) {
        if (b->retry_from < b->cursor)
            b->cursor = b->retry_from;
        b->retry_from = UINT64_MAX;
    }
    if (b->mqtt_up && b->inflight > 0 && ferry_mono_ms() - b->last_progress_ms > STALL_MS) {
        LOG_WARN("outbox: no acknowledgement for %d s with %zu messages in flight; publishing "
                 "everything not acknowledged again",
                 STALL_MS / 1000, b->inflight);
        b->gen++;
        b->cursor = 0;
        b->inflight = 0;
        b->last_progress_ms = ferry_mono_ms();
    }
    pthread_mutex_unlock(&b->lock);
    bridge__logs_expire(b->logs, ferry_mono_ms(), false);
    ferry_bridge_pump(b);
}
