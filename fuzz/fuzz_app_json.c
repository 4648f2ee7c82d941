/* libFuzzer target: app JSON as an HTTP body: parse, validate, normalize. A valid app normalizes
 * to a valid app, normalization is idempotent, and a spec that references no config object
 * travels in an app.put as it is (one that does needs the bridge's "resolved" member first). */
#include <stdint.h>
#include <stdlib.h>

#include "ferry/app.h"
#include "ferry/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *app = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *norm = NULL;
    json_t *again = NULL;
    json_t *msg = NULL;
    json_t *dec = NULL;
    json_t *refs = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    ferry_detail err;

    if (app == NULL)
        return 0;
    bool valid = ferry_app_validate(app, &err) == FERRY_OK;
    norm = ferry_app_normalize(app); /* must not crash on invalid input either */
    if (!valid)
        goto out;
    if (norm == NULL || ferry_app_validate(norm, &err) != FERRY_OK)
        abort();
    if ((again = ferry_app_normalize(norm)) == NULL || !json_equal(again, norm))
        abort();
    if (ferry_app_config_refs(norm, &refs) != FERRY_OK)
        abort();
    if (json_object_size(json_object_get(refs, "configs")) > 0 ||
        json_array_size(json_object_get(refs, "registries")) > 0)
        goto out;
    msg = json_pack("{s:s, s:s, s:O, s:i, s:O}", "type", FERRY_MSG_APP_PUT, "ns", "default", "app",
                    json_object_get(norm, "name"), "version", 1, "spec", norm);
    if (msg == NULL || ferry_proto_encode(msg, &buf, &len) != FERRY_OK ||
        ferry_proto_decode(buf, len, &dec, NULL, 0) != FERRY_OK)
        abort();
out:
    ferry_free(buf);
    json_decref(dec);
    json_decref(refs);
    json_decref(msg);
    json_decref(again);
    json_decref(norm);
    json_decref(app);
    return 0;
}
