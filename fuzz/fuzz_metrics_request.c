/* libFuzzer target: the request line edge-sync's GET /metrics server judges
 * (ferry_metrics_http_route, daemon/metrics.c) on arbitrary bytes up to the server's 8 KiB: an
 * answer is one of 200, 400, 404 and 405, and 200 only for a head that starts "GET /metrics". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char head[8192];
    if (size >= sizeof(head))
        return 0;
    memcpy(head, data, size);
    head[size] = '\0';
    int status = ferry_metrics_http_route(head);
    if (status != 200 && status != 400 && status != 404 && status != 405)
        abort();
    if (status == 200 && strstr(head, "GET") == NULL)
        abort();
    return 0;
}
