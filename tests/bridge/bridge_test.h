/* Helpers shared by broker-bridge's cmocka unit tests: temporary data directories, sample apps and
 * a publisher that records what the bridge publishes. */
#ifndef FERRY_TEST_BRIDGE_H
#define FERRY_TEST_BRIDGE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bridge.h"
#include "ferry/proto.h"
#include "ferry/sign.h"
#include "unit.h"

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the string. */
static inline char *tmp_dir(void) {
    const char *base = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/ferry-bridge-test-XXXXXX",
             base != NULL && *base ? base : "/tmp");
    if (mkdtemp(path) == NULL)
        fail_msg("mkdtemp %s failed", path);
    return strdup(path);
}

/* Remove dir, the plain files in it (LMDB's data.mdb and lock.mdb) and the bridge's key and admin
 * token files beside it ("<dir>.key", "<dir>.admin-token"). */
static inline void rm_dir(char *dir) {
    if (dir == NULL)
        return;
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[1024];
    snprintf(path, sizeof(path), "%s.key", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s.sign", dir);
    remove(path);
    snprintf(path, sizeof(path), "%s.admin-token", dir);
    unlink(path);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    free(dir);
}

/* An app with nsvc services (names s0.., env of nenv entries each) and, when key is not NULL, a
 * selector on key=value. */
static inline json_t *sample_app(const char *name, int nsvc, int nenv, const char *key,
                                 const char *value) {
    json_t *app = json_pack("{s:s, s:s, s:[]}", "name", name, "description",
                            "a sample app with a description long enough to weigh", "services");
    char buf[64];
    for (int i = 0; i < nsvc; i++) {
        json_t *env = json_array();
        for (int k = 0; k < nenv; k++) {
            snprintf(buf, sizeof(buf), "VAR_%d", k);
            json_array_append_new(env, json_pack("{s:s, s:s}", "name", buf, "value",
                                                 "some-configuration-value-0123456789"));
        }
        snprintf(buf, sizeof(buf), "s%d", i);
        json_array_append_new(json_object_get(app, "services"),
                              json_pack("{s:s, s:s, s:o, s:[s, s]}", "name", buf, "image",
                                        "registry.example.com/team/service:1.2.3", "env", env,
                                        "args", "--port", "8080"));
    }
    if (key != NULL)
        json_object_set_new(app, "selector", json_pack("{s:{s:s}}", "matchLabels", key, value));
    return app;
}

/* A node's message on topic (msg stolen), as the MQTT core hands it to the bridge: encoded, and
 * signed with key when not NULL. Returns what ferry_bridge_handle_messages returned. */
static inline ferry_err node_message(ferry_bridge *b, const char *topic, json_t *msg,
                                     const ferry_keypair *key) {
    unsigned char *buf = NULL;
    size_t len = 0;
    char sig[FERRY_SIGN_SIG_B64] = "";
    assert_int_equal(ferry_proto_encode(msg, &buf, &len), FERRY_OK);
    if (key != NULL)
        assert_int_equal(ferry_sign_message(key, topic, buf, len, sig), FERRY_OK);
    ferry_bridge_msg m = {.topic = topic,
                          .topic_len = strlen(topic),
                          .payload = buf,
                          .len = len,
                          .received_ms = ferry_now_ms(),
                          .sig = key != NULL ? sig : NULL};
    ferry_err err = ferry_bridge_handle_messages(b, &m, 1);
    ferry_free(buf);
    json_decref(msg);
    return err;
}

/* One message the bridge published. */
typedef struct {
    char topic[1024];
    json_t *msg; /* decoded with ferry_proto_decode */
    size_t len;
    ferry_outbox_ref ref;
    bool outbox;
    char sig[FERRY_SIGN_SIG_B64];
    bool signed_ok; /* sig is the bridge's signature of topic and payload */
} published;

/* Records every publish; fail_next makes the next publishes fail. */
typedef struct {
    published items[256];
    size_t n;
    int fail_next;
    int kicks;
    unsigned char bridge_pub[FERRY_SIGN_KEY_LEN]; /* to check signatures, once known */
    bool bridge_pub_set;
} recorder;

static inline ferry_err record_publish(void *ctx, const char *topic, const unsigned char *payload,
                                       size_t len, const char *sig, const ferry_outbox_ref *ref) {
    recorder *r = ctx;
    char why[256] = "";
    if (r->fail_next > 0) {
        r->fail_next--;
        return FERRY_EIO;
    }
    if (r->n >= sizeof(r->items) / sizeof(r->items[0]))
        fail_msg("recorder full");
    published *p = &r->items[r->n++];
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    snprintf(p->sig, sizeof(p->sig), "%s", sig != NULL ? sig : "");
    p->signed_ok = r->bridge_pub_set && sig != NULL &&
                   ferry_sign_verify(r->bridge_pub, topic, strlen(topic), payload, len, sig);
    p->len = len;
    p->outbox = ref != NULL;
    if (ref != NULL)
        p->ref = *ref;
    if (len == 0) /* clears a retained message */
        p->msg = json_pack("{s:s}", "type", "clear");
    else if (strncmp(topic, "$CONTROL/", 9) == 0) /* broker administration: JSON (broker.h) */
        p->msg = json_loadb((const char *)payload, len, 0, NULL);
    else if (ferry_proto_decode(payload, len, &p->msg, why, sizeof(why)) != FERRY_OK)
        fail_msg("the bridge published an invalid payload on %s: %s", topic, why);
    return FERRY_OK;
}

static inline void record_kick(void *ctx) {
    ((recorder *)ctx)->kicks++;
}

static inline void recorder_clear(recorder *r) {
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->items[i].msg);
    r->n = 0;
}

/* Acknowledge every outbox message recorded so far. */
static inline void ack_all(ferry_bridge *b, recorder *r) {
    ferry_outbox_ref refs[256];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].outbox)
            refs[n++] = r->items[i].ref;
    }
    ferry_bridge_outbox_acked(b, refs, n);
}

static inline uint64_t rev_of(ferry_bridge *b) {
    bool up;
    uint64_t rev = 0;
    assert_int_equal(ferry_bridge_health(b, &up, &rev), FERRY_OK);
    return rev;
}

static inline const char *msg_type(const published *p) {
    return json_string_value(json_object_get(p->msg, "type"));
}

static inline json_int_t msg_int(const published *p, const char *field) {
    return json_integer_value(json_object_get(p->msg, field));
}

/* The fixture of the core tests: a bridge on a temporary folder whose publisher records. The
 * key file ("<dir>.key") sits beside the folder. */
typedef struct {
    char *dir;
    char key_path[600];
    ferry_bridge *b;
    recorder rec;
} bridge_fixture;

static inline ferry_err bridge_fixture_open(bridge_fixture *f) {
    ferry_bridge_config cfg = {.data_dir = f->dir,
                               .publish = record_publish,
                               .publish_ctx = &f->rec,
                               .kick = record_kick,
                               .kick_ctx = &f->rec,
                               .insecure_nodes = true};
    ferry_err err = ferry_bridge_open(&cfg, &f->b);
    if (err == FERRY_OK) {
        ferry_bridge_public_key(f->b, f->rec.bridge_pub);
        f->rec.bridge_pub_set = true;
    }
    return err;
}

/* Close and open the bridge again on the same folder, as after a restart. */
static inline void bridge_fixture_reopen(bridge_fixture *f) {
    ferry_bridge_close(f->b);
    f->b = NULL;
    assert_int_equal(bridge_fixture_open(f), FERRY_OK);
}

static inline int bridge_fixture_setup(void **state) {
    bridge_fixture *f = calloc(1, sizeof(*f));
    f->dir = tmp_dir();
    snprintf(f->key_path, sizeof(f->key_path), "%s.key", f->dir);
    assert_int_equal(bridge_fixture_open(f), FERRY_OK);
    *state = f;
    return 0;
}

static inline int bridge_fixture_teardown(void **state) {
    bridge_fixture *f = *state;
    ferry_bridge_close(f->b);
    recorder_clear(&f->rec);
    rm_dir(f->dir);
    free(f);
    return 0;
}

/* Publish everything in the outbox (as on a connect) and return the number of messages. */
static inline size_t flush_outbox(bridge_fixture *f) {
    recorder_clear(&f->rec);
    ferry_bridge_mqtt_up(f->b);
    return f->rec.n;
}

/* Acknowledge what was published so the next flush shows only new messages. */
static inline void settle(bridge_fixture *f) {
    flush_outbox(f);
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);
}

#endif
