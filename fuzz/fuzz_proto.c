/* libFuzzer target: full decode and validation of protocol payloads; an accepted message must
 * survive a re-encode. */
#include <stdint.h>
#include <stdlib.h>

#include "ferry/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *msg = NULL;
    json_t *again = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    char why[256];

    if (ferry_proto_decode(data, size, &msg, why, sizeof(why)) != FERRY_OK)
        return 0;
    if (ferry_proto_encode(msg, &buf, &len) != FERRY_OK ||
        ferry_proto_decode(buf, len, &again, why, sizeof(why)) != FERRY_OK ||
        !json_equal(msg, again))
        abort();
    ferry_free(buf);
    json_decref(again);
    json_decref(msg);
    return 0;
}
