/* broker-bridge writes: the transaction every API write runs in, its version checks, and the
 * messages it queues in the outbox (app.put or app.patch of an app change, sealed; see write.h). */
#include "write.h"

#include <stdio.h>
#include <string.h>

#include "bridge_int.h"
#include "ferry/codec.h"
#include "ferry/patch.h"
#include "ferry/proto.h"
#include "ferry/selector.h"
#include "ferry/topics.h"
#include "outbox.h"
#include "records.h"

/* ---- the transaction ------------------------------------------------------------------------- */

void bridge__op_reset(bridge_write_op *op) {
    json_decref(op->out);
    op->out = NULL;
    op->queued = 0;
}

ferry_err bridge__body_version(const json_t *body, json_int_t *version, ferry_detail *e) {
    json_t *v = json_object_get(body, "version");
    *version = 0;
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1))
        return ferry_fail(e, FERRY_EINVAL, "version", "must be a positive integer");
    *version = v != NULL ? json_integer_value(v) : 0;
    return FERRY_OK;
}

ferry_err bridge__check_version(const bridge_write_op *op, int64_t stored) {
    if (op->body_version != 0 && op->body_version != stored)
        return ferry_fail(op->e, FERRY_ECONFLICT, "version",
                          "version conflict: stored %lld, body %lld", (long long)stored,
                          (long long)op->body_version);
    return FERRY_OK;
}

ferry_err bridge__run_write(ferry_bridge *b, ferry_store_fn fn, bridge_write_op *op, json_t **out) {
    op->b = b;
    op->now = ferry_now_ms();
    pthread_mutex_lock(&b->lock);
    /* The index's write lock from before the transaction to after its changes are applied: no
     * reader sees this commit without them, or them without it (index.h). */
    bridge__index_write_lock(b->index);
    ferry_err err = ferry_store_write(b->store, fn, op);
    if (err == FERRY_OK)
        bridge__index_apply(b->index);
    else
        bridge__index_drop(b->index);
    bridge__index_unlock(b->index);
    pthread_mutex_unlock(&b->lock);
    if (err == FERRY_OK) {
        *out = op->out;
        op->out = NULL;
        if (op->queued > 0 && b->cfg.kick != NULL)
            b->cfg.kick(b->cfg.kick_ctx);
    } else {
        json_decref(op->out);
        op->out = NULL;
        /* Errors from the transaction body filled op->e; the rest are store failures. */
        if (err != FERRY_EINVAL && err != FERRY_EEXIST && err != FERRY_ENOTFOUND &&
            err != FERRY_ECONFLICT)
            bridge__store_fail(op->e, err);
    }
    return err;
}

/* ---- messages -------------------------------------------------------------------------------- */

ferry_err bridge__encode(json_t *msg, unsigned char **buf, size_t *len) {
    ferry_err err = msg == NULL ? FERRY_ENOMEM : ferry_proto_encode(msg, buf, len);
    json_decref(msg);
    return err;
}

/* Seal payload for topic (outbox.h) and append it to the outbox. */
static ferry_err outbox_add(const ferry_bridge *b, ferry_store_txn *t, const char *topic,
                            const unsigned char *payload, size_t len, uint64_t *seq) {
    unsigned char *buf = NULL;
    size_t blen = 0;
    ferry_err err = ferry_outbox__seal(b->key, topic, payload, len, &buf, &blen);
    if (err == FERRY_OK)
        err = ferry_store_outbox_append(t, topic, buf, blen, seq);
    ferry_free(buf);
    return err;
}

ferry_err bridge__queue(const ferry_bridge *b, ferry_store_txn *t, const char *topic, json_t *msg,
                        size_t *queued) {
    unsigned char *buf = NULL;
    size_t len = 0;
    uint64_t seq;
    ferry_err err = bridge__encode(msg, &buf, &len);
    if (err == FERRY_OK)
        err = outbox_add(b, t, topic, buf, len, &seq);
    if (err == FERRY_OK) {
        (*queued)++;
        LOG_DEBUG("outbox: queued #%llu on %s (%zu bytes)", (unsigned long long)seq, topic, len);
    }
    ferry_free(buf);
    return err;
}

ferry_err bridge__queue_raw(const ferry_bridge *b, ferry_store_txn *t, const char *topic,
                            const unsigned char *payload, size_t len, size_t *queued) {
    uint64_t seq;
    ferry_err err = outbox_add(b, t, topic, payload, len, &seq);
    if (err == FERRY_OK)
        (*queued)++;
    return err;
}

ferry_err bridge__queue_clear(const ferry_bridge *b, ferry_store_txn *t, const char *topic,
                              size_t *queued) {
    return bridge__queue_raw(b, t, topic, (const unsigned char *)"", 0, queued);
}

/* A ferry_broker_emit_fn onto the outbox of the write in ctx (a bridge_broker_emit). */
static ferry_err broker_emit(void *ctx, const char *topic, const unsigned char *payload,
                             size_t len) {
    bridge_broker_emit *be = ctx;
    return bridge__queue_raw(be->b, be->t, topic, payload, len, be->queued);
}

ferry_err bridge__broker_grant(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                               const char *node, const char *password, const json_t *labels,
                               size_t *queued) {
    bridge_broker_emit be = {b, t, queued};
    return ferry_broker_node_grant(b->broker, ns, node, password, labels, broker_emit, &be);
}

ferry_err bridge__broker_revoke(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                const char *node, size_t *queued) {
    bridge_broker_emit be = {b, t, queued};
    return ferry_broker_node_revoke(b->broker, ns, node, broker_emit, &be);
}

ferry_err bridge__broker_debug(const ferry_bridge *b, ferry_store_txn *t, const char *name,
                               const char *password, size_t *queued) {
    bridge_broker_emit be = {b, t, queued};
    return password != NULL ? ferry_broker_debug_grant(b->broker, name, password, broker_emit, &be)
                            : ferry_broker_debug_revoke(b->broker, name, broker_emit, &be);
}

ferry_err bridge__app_topic(const char *ns, const char *app, const json_t *spec, char *buf,
                            size_t len) {
    ferry_topic tp = {.kind = FERRY_TOPIC_APP_ALL};
    const char *k, *v;
    snprintf(tp.ns, sizeof(tp.ns), "%s", ns);
    snprintf(tp.app, sizeof(tp.app), "%s", app);
    if (ferry_selector_topic_label(json_object_get(spec, "selector"), &k, &v)) {
        tp.kind = FERRY_TOPIC_APP_LABEL;
        snprintf(tp.label_key, sizeof(tp.label_key), "%s", k);
        snprintf(tp.label_value, sizeof(tp.label_value), "%s", v);
    }
    ferry_err err = ferry_topic_build(&tp, buf, len);
    if (err != FERRY_OK)
        LOG_ERROR("cannot build the topic of app %s/%s: %s", ns, app, ferry_strerror(err));
    return err;
}

static json_t *app_put_msg(const char *ns, const char *app, int64_t version, const json_t *spec) {
    return json_pack("{s:s, s:s, s:s, s:I, s:O}", "type", FERRY_MSG_APP_PUT, "ns", ns, "app", app,
                     "version", (json_int_t)version, "spec", spec);
}

/* Encode msg (stolen) for the app's topic; a payload over the cap is refused with e filled. */
static ferry_err encode_app_msg(const char *ns, const char *app, json_t *msg, unsigned char **buf,
                                size_t *len, ferry_detail *e) {
    ferry_err err = bridge__encode(msg, buf, len);
    if (err == FERRY_OK && *len > FERRY_MAX_PAYLOAD - FERRY_OUTBOX_SEAL_OVERHEAD) {
        ferry_free(*buf);
        *buf = NULL;
        err = FERRY_ETOOBIG;
    }
    if (err == FERRY_ETOOBIG)
        err = ferry_fail(e, FERRY_EINVAL, NULL,
                         "app '%s/%s' with the files of its configs would be over the %u-byte "
                         "message cap",
                         ns, app, FERRY_MAX_PAYLOAD);
    return err;
}

/* Choose what to send for an update (see write.h): app.patch when the selector is unchanged
 * and the patch is smaller than the whole app, else app.put. A selector change alters the set of
 * targeted nodes and a newly targeted node holds no base to patch: the put spares each of them a
 * gap and a hello round trip. */
ferry_err bridge__queue_app_change(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                   const char *app, const json_t *old_spec, const json_t *old_wire,
                                   const json_t *new_wire, int64_t base, int64_t version,
                                   size_t *queued, ferry_detail *e) {
    unsigned char *buf = NULL, *patch_buf = NULL;
    size_t len = 0, patch_len = 0;
    char topic[FERRY_TOPIC_MAX], old_topic[FERRY_TOPIC_MAX];
    uint64_t seq;
    ferry_err err;

    if ((err = bridge__app_topic(ns, app, new_wire, topic, sizeof(topic))) != FERRY_OK ||
        (err = bridge__app_topic(ns, app, old_spec, old_topic, sizeof(old_topic))) != FERRY_OK ||
        (err = encode_app_msg(ns, app, app_put_msg(ns, app, version, new_wire), &buf, &len, e)) !=
            FERRY_OK)
        goto out;
    json_t *delta = NULL;
    if (old_wire != NULL &&
        json_equal(json_object_get(old_spec, "selector"), json_object_get(new_wire, "selector")))
        delta = ferry_patch_diff(old_wire, new_wire); /* NULL on ENOMEM: the put will do */
    if (delta != NULL &&
        bridge__encode(json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "type", FERRY_MSG_APP_PATCH,
                                 "ns", ns, "app", app, "base", (json_int_t)base, "version",
                                 (json_int_t)version, "patch", delta),
                       &patch_buf, &patch_len) == FERRY_OK &&
        patch_len < len) {
        ferry_free(buf);
        buf = patch_buf;
        len = patch_len;
        patch_buf = NULL;
    }
    if ((err = outbox_add(b, t, topic, buf, len, &seq)) != FERRY_OK)
        goto out;
    (*queued)++;
    /* Nodes that only the old topic reaches no longer match: the put tells them to drop it. */
    if (strcmp(topic, old_topic) != 0) {
        if ((err = outbox_add(b, t, old_topic, buf, len, &seq)) != FERRY_OK)
            goto out;
        (*queued)++;
    }
out:
    ferry_free(buf);
    ferry_free(patch_buf);
    return err;
}
