/* libFuzzer target: MQTT topic parsing; an accepted topic must build back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/topics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ferry_topic t;
    char buf[FERRY_TOPIC_MAX];

    if (ferry_topic_parse((const char *)data, size, &t) != FERRY_OK)
        return 0;
    if (ferry_topic_build(&t, buf, sizeof(buf)) != FERRY_OK || strlen(buf) != size ||
        memcmp(buf, data, size) != 0)
        abort();
    return 0;
}
