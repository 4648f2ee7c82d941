/* libFuzzer target: ferryctl's manifest reader (ferryctl/manifest.c) on arbitrary bytes: YAML
 * documents or JSON, as `ferryctl apply -f` reads a file. It either fails with an error that
 * names the source, a line and a column, or gives documents that are all JSON objects; aliases
 * never copy more than their cap (memory stays bounded: libFuzzer's -rss_limit_mb). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *docs = NULL;
    char err[512] = "";
    if (ctl_manifest_parse((const char *)data, size, "fuzz", &docs, err, sizeof(err)) != 0) {
        if (strncmp(err, "fuzz", 4) != 0 || docs != NULL)
            abort();
        return 0;
    }
    size_t i;
    json_t *d;
    if (!json_is_array(docs))
        abort();
    json_array_foreach(docs, i, d) {
        if (!json_is_object(d))
            abort();
    }
    json_decref(docs);
    return 0;
}
