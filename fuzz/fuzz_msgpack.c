/* libFuzzer target: the msgpack decoder on untrusted bytes; what it accepts must re-encode and
 * decode to the same value. */
#include <stdint.h>
#include <stdlib.h>

#include "ferry/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *v = NULL;
    json_t *again = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;

    if (ferry_msgpack_decode(data, size, &v) != FERRY_OK)
        return 0;
    if (ferry_msgpack_encode(v, &buf, &len) != FERRY_OK)
        abort(); /* we decoded it: we must be able to write it */
    if (ferry_msgpack_decode(buf, len, &again) != FERRY_OK || !json_equal(v, again))
        abort();
    ferry_free(buf);
    json_decref(again);
    json_decref(v);
    return 0;
}
