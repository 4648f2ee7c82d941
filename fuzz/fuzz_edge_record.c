/* libFuzzer target: edge-sync's LMDB records as read back from disk (the layout is in
 * fuzz_util.h). What decodes must re-encode to the same thing, and must be what the protocol would
 * have let the node store: an app as an app.put, the node record as a node.sync. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_app(const char *name, const uint8_t *val, size_t vlen) {
    ferry_estore_app app, again;
    unsigned char *buf = NULL;
    size_t len = 0;

    if (ferry_estore__decode_app(val, vlen, name, &app) != FERRY_OK)
        return;
    if ((app.spec == NULL) != app.deleted || app.version < 0)
        abort();
    if (ferry_estore__encode_app(&app, &buf, &len) != FERRY_OK ||
        ferry_estore__decode_app(buf, len, name, &again) != FERRY_OK ||
        again.version != app.version || again.deleted != app.deleted ||
        (app.spec != NULL && !json_equal(app.spec, again.spec)))
        abort();
    if (!app.deleted && app.version >= 1)
        fuzz_protocol_accepts(json_pack("{s:s, s:s, s:s, s:I, s:O}", "type", FERRY_MSG_APP_PUT,
                                        "ns", "default", "app", name, "version",
                                        (json_int_t)app.version, "spec", app.spec),
                              "an app.put of a decoded app record");
    ferry_free(buf);
    ferry_estore_app_clear(&again);
    ferry_estore_app_clear(&app);
}

static void check_node(const uint8_t *val, size_t vlen) {
    json_t *node = NULL, *again = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;

    if (ferry_estore__decode_node(val, vlen, &node) != FERRY_OK)
        return;
    if (json_object_get(node, "fv") != NULL ||
        ferry_estore__encode_node(node, &buf, &len) != FERRY_OK ||
        ferry_estore__decode_node(buf, len, &again) != FERRY_OK || !json_equal(node, again))
        abort();
    fuzz_protocol_accepts(json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:[]}", "type",
                                    FERRY_MSG_NODE_SYNC, "ns", "default", "node", "n1", "rev",
                                    json_object_get(node, "rev"), "registered",
                                    json_object_get(node, "registered"), "labels",
                                    json_object_get(node, "labels"), "apps"),
                          "a node.sync of the decoded node record");
    ferry_free(buf);
    json_decref(again);
    json_decref(node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || data[0] >= FUZZ_EDGE_KINDS)
        return 0;
    if (data[0] == FUZZ_EDGE_NODE) {
        check_node(data + 1, size - 1);
        return 0;
    }
    /* ferry_estore_list_apps reads keys of 1 to 127 bytes. */
    const uint8_t *nul = memchr(data + 1, '\0', size - 1);
    if (nul == NULL || nul == data + 1 || nul - (data + 1) >= 128)
        return 0;
    check_app((const char *)data + 1, nul + 1, size - (size_t)(nul + 1 - data));
    return 0;
}
