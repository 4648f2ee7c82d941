/* libFuzzer target: patch application on untrusted patches. Input: msgpack [doc, patch]. Apply
 * must not touch doc, must give an encodable result, and diff(doc, result) must apply back. */
#include <stdint.h>
#include <stdlib.h>

#include "ferry/codec.h"
#include "ferry/patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *pair = NULL;
    json_t *copy = NULL;
    json_t *out = NULL;
    json_t *back = NULL;
    json_t *diff = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;

    if (ferry_msgpack_decode(data, size, &pair) != FERRY_OK || !json_is_array(pair) ||
        json_array_size(pair) != 2)
        goto out;
    const json_t *doc = json_array_get(pair, 0);
    const json_t *patch = json_array_get(pair, 1);
    copy = json_deep_copy(pair);
    if (ferry_patch_apply(doc, patch, &out) != FERRY_OK)
        goto check;
    if (ferry_msgpack_encode(out, &buf, &len) != FERRY_OK)
        abort();
    if ((diff = ferry_patch_diff(doc, out)) == NULL)
        abort();
    if (ferry_patch_apply(doc, diff, &back) != FERRY_OK || !json_equal(back, out))
        abort();
check:
    if (!json_equal(copy, pair))
        abort(); /* apply modified its input */
out:
    ferry_free(buf);
    json_decref(diff);
    json_decref(back);
    json_decref(out);
    json_decref(copy);
    json_decref(pair);
    return 0;
}
