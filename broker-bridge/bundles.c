/* broker-bridge bundles: secret material sealed per node (see bundles.h). */
#include "bundles.h"

#include <stdio.h>
#include <string.h>

#include "ferry/base64.h"
#include "ferry/bundle.h"
#include "ferry/proto.h"
#include "ferry/selector.h"
#include "ferry/sign.h"
#include "ferry/topics.h"
#include "records.h"
#include "write.h"

ferry_err bridge__wire_split(const json_t *wire, bridge_wire_parts *out) {
    memset(out, 0, sizeof(*out));
    return ferry_bundle_split(wire, &out->pub, &out->bundle, out->digest);
}

void bridge__wire_parts_clear(bridge_wire_parts *p) {
    if (p == NULL)
        return;
    json_decref(p->pub);
    json_decref(p->bundle);
    memset(p, 0, sizeof(*p));
}

ferry_err bridge__seal_for(const json_t *node_rec, const char *app, const bridge_wire_parts *p,
                           json_t **entry) {
    unsigned char box[FERRY_SIGN_KEY_LEN], *sealed = NULL;
    size_t slen = 0;
    char aad[320];
    char *plain = NULL, *b64 = NULL;
    ferry_err err;

    *entry = NULL;
    if (!bridge__node_key(node_rec, "box", box))
        return FERRY_ENOTFOUND;
    snprintf(aad, sizeof(aad), "%s/%s/%s/%s", json_string_value(json_object_get(node_rec, "ns")),
             json_string_value(json_object_get(node_rec, "name")), app, p->digest);
    if ((plain = json_dumps(p->bundle, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        return FERRY_ENOMEM;
    err = ferry_box_seal(box, aad, strlen(aad), plain, strlen(plain), &sealed, &slen);
    ferry_secrets_wipe(plain, strlen(plain));
    ferry_free(plain);
    if (err != FERRY_OK)
        return err;
    b64 = ferry_base64_encode(sealed, slen, NULL);
    ferry_free(sealed);
    if (b64 == NULL)
        return FERRY_ENOMEM;
    *entry = json_pack("{s:s, s:s, s:s}", "app", app, "digest", p->digest, "sealed", b64);
    ferry_free(b64);
    return *entry != NULL ? FERRY_OK : FERRY_ENOMEM;
}

typedef struct {
    const ferry_bridge *b;
    ferry_store_txn *t;
    const char *ns, *app;
    const json_t *selector;
    const bridge_wire_parts *p;
    size_t *queued;
    ferry_err err;
} bundle_scan;

static bool each_node(const char *key, const json_t *rec, void *ctx) {
    bundle_scan *bs = ctx;
    ferry_topic tp = {.kind = FERRY_TOPIC_NODE_SECRETS};
    char topic[FERRY_TOPIC_MAX];
    json_t *entry = NULL;

    if (!bridge__node_record_ok(key, rec)) {
        bs->err = FERRY_EFORMAT;
        return false;
    }
    if (!ferry_selector_matches(bs->selector, json_object_get(rec, "labels")))
        return true;
    ferry_err err = bridge__seal_for(rec, bs->app, bs->p, &entry);
    if (err == FERRY_ENOTFOUND)
        return true; /* not enrolled: it gets its bundles in the node.sync after enrolling */
    snprintf(tp.ns, sizeof(tp.ns), "%s", bs->ns);
    snprintf(tp.node, sizeof(tp.node), "%s", json_string_value(json_object_get(rec, "name")));
    snprintf(tp.app, sizeof(tp.app), "%s", bs->app);
    if (err == FERRY_OK)
        err = ferry_topic_build(&tp, topic, sizeof(topic));
    if (err == FERRY_OK) {
        json_object_set_new(entry, "type", json_string(FERRY_MSG_APP_SECRETS));
        json_object_set_new(entry, "ns", json_string(bs->ns));
        json_object_set_new(entry, "node", json_string(tp.node));
        err = bridge__queue(bs->b, bs->t, topic, entry, bs->queued);
        entry = NULL;
    }
    json_decref(entry);
    bs->err = err;
    return err == FERRY_OK;
}

ferry_err bridge__queue_bundles(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                const char *app, const json_t *selector, const bridge_wire_parts *p,
                                size_t *queued) {
    char prefix[80];
    bundle_scan bs = {b, t, ns, app, selector, p, queued, FERRY_OK};
    if (p->bundle == NULL)
        return FERRY_OK;
    snprintf(prefix, sizeof(prefix), "%s/", ns);
    ferry_err err = ferry_store_scan(t, FERRY_DB_NODES, prefix, each_node, &bs);
    return err != FERRY_OK ? err : bs.err;
}

ferry_err bridge__queue_app_wire(const ferry_bridge *b, ferry_store_txn *t, const char *ns,
                                 const char *app, const json_t *old_spec, const json_t *old_wire,
                                 const json_t *new_wire, int64_t base, int64_t version,
                                 size_t *queued, ferry_detail *e) {
    bridge_wire_parts before = {0}, after = {0};
    ferry_err err;

    if ((old_wire != NULL && (err = bridge__wire_split(old_wire, &before)) != FERRY_OK) ||
        (err = bridge__wire_split(new_wire, &after)) != FERRY_OK)
        goto out;
    const json_t *selector = json_object_get(new_wire, "selector");
    if (after.bundle != NULL &&
        (old_wire == NULL || strcmp(before.digest, after.digest) != 0 ||
         !json_equal(json_object_get(old_spec, "selector"), selector)) &&
        (err = bridge__queue_bundles(b, t, ns, app, selector, &after, queued)) != FERRY_OK)
        goto out;
    err = bridge__queue_app_change(b, t, ns, app, old_spec, old_wire != NULL ? before.pub : NULL,
                                   after.pub, base, version, queued, e);
out:
    bridge__wire_parts_clear(&before);
    bridge__wire_parts_clear(&after);
    return err;
}
