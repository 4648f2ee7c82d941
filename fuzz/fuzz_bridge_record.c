/* libFuzzer target: broker-bridge's LMDB values as read back from disk (records, outbox entries;
 * the layout is in fuzz_util.h). What the store decodes must re-encode to the same thing, and a
 * record the bridge's checks accept must be usable: its view builds and the messages made from it
 * pass the node's protocol checks. */
#include <stdint.h>
#include <string.h>

#include "ferry/selector.h"
#include "ferry/topics.h"
#include "fuzz_util.h"
#include "outbox.h"
#include "records.h"
#include "store.h"
#include "views.h"
#include "write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_app(const json_t *rec) {
    const char *ns = json_string_value(json_object_get(rec, "ns"));
    const char *name = json_string_value(json_object_get(rec, "name"));
    const json_t *spec = json_object_get(rec, "spec");
    char topic[FERRY_TOPIC_MAX];

    json_t *view = bridge__app_view(rec, 0);
    if (view == NULL || bridge__app_topic(ns, name, spec, topic, sizeof(topic)) != FERRY_OK)
        abort();
    json_decref(view);
    fuzz_protocol_accepts(json_pack("{s:s, s:s, s:s, s:O, s:O}", "type", FERRY_MSG_APP_PUT, "ns",
                                    ns, "app", name, "version", json_object_get(rec, "version"),
                                    "spec", spec),
                          "an app.put built from an accepted app record");
}

static void check_node(const json_t *rec) {
    const json_t *labels = json_object_get(rec, "labels");
    json_t *selector = json_pack("{s:{s:s}}", "matchLabels", "zone", "a");
    ferry_selector_matches(selector, labels);
    json_decref(selector);
    fuzz_protocol_accepts(json_pack("{s:s, s:O, s:O, s:i, s:b, s:O, s:[]}", "type",
                                    FERRY_MSG_NODE_SYNC, "ns", json_object_get(rec, "ns"), "node",
                                    json_object_get(rec, "name"), "rev", 1, "registered", 1,
                                    "labels", labels, "apps"),
                          "a node.sync built from an accepted node record");
}

static void check_outbox(const uint8_t *data, size_t size) {
    const char *topic;
    const unsigned char *payload;
    size_t tlen, plen, len = 0;
    unsigned char *buf = NULL;
    char t[FERRY_TOPIC_MAX];

    if (ferry_outbox__decode(data, size, 1, &topic, &tlen, &payload, &plen) != FERRY_OK)
        return;
    if (tlen == 0 || tlen >= sizeof(t) || memchr(topic, '\0', tlen) != NULL)
        abort();
    memcpy(t, topic, tlen);
    t[tlen] = '\0';
    /* The layout is canonical: what decodes re-encodes to the same bytes. */
    if (ferry_outbox__encode(t, payload, plen, &buf, &len) != FERRY_OK || len != size ||
        memcmp(buf, data, size) != 0)
        abort();
    ferry_free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const ferry_db dbs[FUZZ_BRIDGE_KINDS] = {
        [FUZZ_BRIDGE_APP] = FERRY_DB_APPS,      [FUZZ_BRIDGE_NODE] = FERRY_DB_NODES,
        [FUZZ_BRIDGE_STATUS] = FERRY_DB_STATUS, [FUZZ_BRIDGE_NODESTATE] = FERRY_DB_NODESTATE,
        [FUZZ_BRIDGE_OUTBOX] = FERRY_DB_OUTBOX, [FUZZ_BRIDGE_CONFIG] = FERRY_DB_CONFIGS};
    json_t *rec = NULL, *again = NULL, *view = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;

    if (size < 1 || data[0] >= FUZZ_BRIDGE_KINDS)
        return 0;
    int kind = data[0];
    if (kind == FUZZ_BRIDGE_OUTBOX) {
        check_outbox(data + 1, size - 1);
        return 0;
    }
    const uint8_t *nul = memchr(data + 1, '\0', size - 1);
    if (nul == NULL || nul - (data + 1) >= BRIDGE_KEY_MAX)
        return 0;
    const char *key = (const char *)data + 1;
    const uint8_t *val = nul + 1;
    size_t vlen = size - (size_t)(val - data);

    if (ferry_store__decode_record(val, vlen, dbs[kind], key, &rec) != FERRY_OK)
        return 0;
    if (ferry_store__encode_record(rec, &buf, &len) != FERRY_OK ||
        ferry_store__decode_record(buf, len, dbs[kind], key, &again) != FERRY_OK ||
        !json_equal(rec, again))
        abort();
    switch (kind) {
    case FUZZ_BRIDGE_APP:
        if (bridge__app_record_ok(key, rec))
            check_app(rec);
        break;
    case FUZZ_BRIDGE_NODE:
        if (bridge__node_record_ok(key, rec))
            check_node(rec);
        break;
    case FUZZ_BRIDGE_STATUS:
        if (bridge__status_record_ok(key, rec))
            json_decref(bridge__time(bridge__int(rec, "updatedAt")));
        break;
    case FUZZ_BRIDGE_NODESTATE:
        bridge__gpu_ok(json_object_get(rec, "gpu"));
        break;
    case FUZZ_BRIDGE_CONFIG:
        /* A checked record has a view (its secret values shown as digests). */
        if (bridge__config_record_ok(key, rec) && (view = bridge__config_view(rec)) == NULL)
            abort();
        break;
    default:
        break;
    }
    ferry_free(buf);
    json_decref(view);
    json_decref(again);
    json_decref(rec);
    return 0;
}
