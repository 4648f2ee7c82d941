/* libFuzzer target: edge-sync's protocol state machine over its store (ferry_sync_handle) fed
 * frames in any order (layout in fuzz_util.h), on a fresh store per input. After every message the
 * store must still read back, every app held must be one the protocol would have sent (an
 * app.put), and the node's hello must be a valid protocol message. */
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "store.h"
#include "sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void check_store(ferry_estore *s, const ferry_sync_self *self) {
    json_t *node = NULL, *hello = NULL;
    ferry_estore_apps apps = {NULL, 0};

    if (ferry_estore_snapshot(s, &node, &apps) != FERRY_OK)
        abort();
    for (size_t i = 0; i < apps.n; i++) {
        const ferry_estore_app *a = &apps.items[i].app;
        if ((a->spec == NULL) != a->deleted || a->version < 1)
            abort();
        if (!a->deleted)
            fuzz_protocol_accepts(json_pack("{s:s, s:s, s:s, s:I, s:O}", "type", FERRY_MSG_APP_PUT,
                                            "ns", self->ns, "app", apps.items[i].name, "version",
                                            (json_int_t)a->version, "spec", a->spec),
                                  "an app the node holds");
    }
    if (ferry_sync_hello(s, self, "check", &hello) != FERRY_OK)
        abort();
    fuzz_protocol_accepts(hello, "the node's hello");
    ferry_estore_apps_free(&apps);
    json_decref(node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char dir[128];
    ferry_estore *s = NULL;
    ferry_sync_self self = {"default", "n1"};
    size_t off = 0, topic, len, count = 0;
    const uint8_t *payload;

    snprintf(dir, sizeof(dir), "%s/ferry-fuzz-edge-XXXXXX", base);
    if (mkdtemp(dir) == NULL || ferry_estore_open(dir, &s) != FERRY_OK)
        abort();
    while (count++ < 64 &&
           fuzz_next_frame(data, size, &off, FUZZ_EDGE_TOPICS, &topic, &payload, &len)) {
        ferry_sync_actions act;
        const char *t = fuzz_edge_topics[topic];
        if (ferry_sync_handle(s, &self, t, strlen(t), payload, len, &act) != FERRY_OK)
            abort(); /* a store error on tmpfs: a bug */
        check_store(s, &self);
    }
    ferry_estore_close(s);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
