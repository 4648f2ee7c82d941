/* libFuzzer target: broker-bridge's handlers of node messages (ferry_bridge_handle_messages:
 * hello, status, online, stats, a cleared status) fed frames in any order (layout in fuzz_util.h),
 * on a fresh bridge per input with two registered nodes and an app. Whatever the bridge publishes
 * in answer must be a valid protocol message, and its views must still read. */
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "ferry/codec.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ferry_err check_publish(void *ctx, const char *topic, const unsigned char *payload,
                               size_t len, const char *sig, const ferry_outbox_ref *ref) {
    json_t *msg = NULL;
    char why[256] = "";
    (void)ctx;
    (void)sig;
    (void)ref;
    if (len > FERRY_MAX_PAYLOAD ||
        (len > 0 && ferry_proto_decode(payload, len, &msg, why, sizeof(why)) != FERRY_OK)) {
        dprintf(STDERR_FILENO, "the bridge published an invalid message on %s: %s\n", topic, why);
        abort();
    }
    json_decref(msg);
    return FERRY_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void must(ferry_err err, const char *what) {
    if (err != FERRY_OK) {
        dprintf(STDERR_FILENO, "setup: %s: %s\n", what, ferry_strerror(err));
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char dir[128], path[160];
    ferry_bridge *b = NULL;
    json_t *out = NULL, *body;
    ferry_detail e;
    ferry_bridge_msg msgs[64];
    size_t n = 0, off = 0, topic, len;
    const uint8_t *payload;

    snprintf(dir, sizeof(dir), "%s/ferry-fuzz-bridge-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        abort();
    ferry_bridge_config cfg = {
        .data_dir = dir, .publish = check_publish, .insecure_nodes = true, .mapsize = 64u << 20};
    must(ferry_bridge_open(&cfg, &b), "open");
    body = json_pack("{s:s, s:{s:s}}", "name", "n1", "labels", "zone", "a");
    must(ferry_bridge_node_create(b, "default", body, &out, &e), "node n1");
    json_decref(body);
    json_decref(out);
    body = json_pack("{s:s}", "name", "n2");
    must(ferry_bridge_node_create(b, "default", body, &out, &e), "node n2");
    json_decref(body);
    json_decref(out);
    body = json_pack("{s:s, s:[{s:s, s:s}]}", "name", "web", "services", "name", "s", "image",
                     "img:1");
    must(ferry_bridge_app_create(b, "default", body, &out, &e), "app web");
    json_decref(body);
    json_decref(out);
    ferry_bridge_mqtt_up(b);

    while (n < sizeof(msgs) / sizeof(msgs[0]) &&
           fuzz_next_frame(data, size, &off, FUZZ_NODE_TOPICS, &topic, &payload, &len)) {
        msgs[n++] = (ferry_bridge_msg){.topic = fuzz_node_topics[topic],
                                       .topic_len = strlen(fuzz_node_topics[topic]),
                                       .payload = payload,
                                       .len = len,
                                       .received_ms = 1};
    }
    /* One batch, then each again alone: the batching must not matter for safety. */
    ferry_bridge_handle_messages(b, msgs, n);
    for (size_t i = 0; i < n; i++)
        ferry_bridge_handle_messages(b, &msgs[i], 1);
    if (ferry_bridge_app_status(b, "default", "web", &out, &e) != FERRY_OK)
        abort();
    json_decref(out);
    if (ferry_bridge_node_apps(b, "default", "n1", &out, &e) != FERRY_OK)
        abort();
    json_decref(out);
    if (ferry_bridge_app_stats(b, "default", "web", 3600, &out, &e) != FERRY_OK)
        abort();
    json_decref(out);
    ferry_bridge_close(b);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    snprintf(path, sizeof(path), "%s.key", dir);
    remove(path);
    snprintf(path, sizeof(path), "%s.sign", dir);
    remove(path);
    return 0;
}
