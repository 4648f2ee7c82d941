/* fuzz_sql: the sql runtime's two untrusted inputs together: a handler's SQL text (from a function
 * config) and events (HTTP bodies). Input: frames (fuzz_util.h); the first frame's payload is the
 * SQL, each further frame's payload an event run through the same compiled handler. Neither may
 * crash, leak or answer with anything but a JSON object, none, or an error. */
#include <jansson.h>

#include "fuzz_util.h"
#include "sqlfn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off = 0, topic, len;
    const uint8_t *payload;
    ferry_sqlfn *fn = NULL;
    ferry_detail d;

    if (!fuzz_next_frame(data, size, &off, 1, &topic, &payload, &len))
        return 0;
    if (ferry_sqlfn_compile((const char *)payload, len, "fuzz.sql", &fn, &d) != FERRY_OK)
        return 0;
    for (int n = 0; n < 8 && fuzz_next_frame(data, size, &off, 1, &topic, &payload, &len); n++) {
        const char *row = NULL;
        size_t row_len = 0;
        if (ferry_sqlfn_run(fn, (const char *)payload, len, &row, &row_len, &d) != FERRY_OK ||
            row == NULL)
            continue;
        json_t *j = json_loadb(row, row_len, JSON_ALLOW_NUL, NULL);
        if (j == NULL || !json_is_object(j) || strlen(row) > row_len) {
            dprintf(STDERR_FILENO, "answer is not a JSON object: %s\n", row);
            abort();
        }
        json_decref(j);
    }
    ferry_sqlfn_free(fn);
    return 0;
}
