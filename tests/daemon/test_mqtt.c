/* Integration tests of daemon/mqtt.c, the MQTT client core of both daemons, against the real
 * mosquitto of scripts/services.sh (FERRY_TEST_MQTT; skipped, 77, without it): subscribe and
 * publish with their outcomes, user properties both ways, a persistent session that keeps what
 * was published while the client was away, a refused first connection (retried by the client,
 * or only by its owner with owner_reconnects), and the byte cap on what
 * waits for the owner. Waits poll with a deadline, draining the client as a daemon's loop does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <stdatomic.h>

#include "mqtt.h"

#define SKIP 77
#define DEADLINE_MS 10000

static const char *broker;

/* What the handlers saw. */
typedef struct {
    int up, down;
    char cause[160];
    json_t *msgs; /* [{"topic", "payload", "props": {name: value}}] */
    json_t *done; /* [{"tag", "epoch", "ok"}] */
    int64_t sub_tag;
    int sub_ok;
    size_t overflow;
} seen;

static void on_up(void *ud) {
    ((seen *)ud)->up++;
}

static void on_down(void *ud, const char *cause) {
    seen *s = ud;
    s->down++;
    snprintf(s->cause, sizeof(s->cause), "%s", cause);
}

static void on_messages(void *ud, const ferry_mqtt_msg *msgs, size_t n) {
    seen *s = ud;
    for (size_t i = 0; i < n; i++) {
        json_t *props = json_object();
        for (size_t k = 0; k < msgs[i].nprops; k++)
            json_object_set_new(props, msgs[i].props[k].name, json_string(msgs[i].props[k].value));
        json_array_append_new(s->msgs,
                              json_pack("{s:s, s:s#, s:o}", "topic", msgs[i].topic, "payload",
                                        msgs[i].payload, msgs[i].len, "props", props));
    }
}

static void on_published(void *ud, const ferry_mqtt_done *done, size_t n) {
    seen *s = ud;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(s->done,
                              json_pack("{s:I, s:I, s:b}", "tag", (json_int_t)done[i].tag, "epoch",
                                        (json_int_t)done[i].epoch, "ok", done[i].ok));
}

static void on_subscribed(void *ud, uint64_t tag, bool ok) {
    seen *s = ud;
    s->sub_tag = (int64_t)tag;
    s->sub_ok = ok ? 1 : 0;
}

static void on_overflow(void *ud, size_t n) {
    ((seen *)ud)->overflow += n;
}

/* Wake-ups from Paho's threads: one per event queued or message dropped. */
static atomic_int wakes;
static void on_wake(void *ctx) {
    (void)ctx;
    atomic_fetch_add(&wakes, 1);
}

static bool owner_reconnects; /* the next client() is made with it */

static ferry_mqtt *client(seen *s, const char *uri, const char *id, size_t max_bytes) {
    ferry_mqtt *m = NULL;
    memset(s, 0, sizeof(*s));
    s->msgs = json_array();
    s->done = json_array();
    s->sub_ok = -1;
    ferry_mqtt_opts o = {
        .uri = uri,
        .client_id = id,
        .session_expiry_s = 60,
        .max_queued_bytes = max_bytes,
        .owner_reconnects = owner_reconnects,
        .wake = on_wake,
        .handlers = {on_up, on_down, on_messages, on_published, on_subscribed, on_overflow},
        .ud = s};
    assert_int_equal(ferry_mqtt_create(&o, &m), FERRY_OK);
    return m;
}

static void forget(seen *s) {
    json_decref(s->msgs);
    json_decref(s->done);
}

/* Drain m until cond(s) holds; fail naming what after DEADLINE_MS. */
static void wait_for(ferry_mqtt *m, seen *s, bool (*cond)(const seen *), const char *what) {
    int64_t deadline = ferry_mono_ms() + DEADLINE_MS;
    for (;;) {
        ferry_mqtt_drain(m);
        ferry_mqtt_tick(m);
        if (cond(s))
            return;
        if (ferry_mono_ms() > deadline)
            fail_msg("timed out waiting for %s (up %d, down %d '%s', %zu messages, %zu done, %zu "
                     "dropped)",
                     what, s->up, s->down, s->cause, json_array_size(s->msgs),
                     json_array_size(s->done), s->overflow);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL); /* polling the queue, with a deadline */
    }
}

static bool is_up(const seen *s) {
    return s->up > 0;
}
static bool is_down(const seen *s) {
    return s->down > 0;
}
static bool subscribed(const seen *s) {
    return s->sub_ok >= 0;
}
static bool got_one(const seen *s) {
    return json_array_size(s->msgs) >= 1;
}
static bool acked_one(const seen *s) {
    return json_array_size(s->done) >= 1;
}

static char id_buf[64];
static const char *unique_id(const char *what) {
    snprintf(id_buf, sizeof(id_buf), "ferry-test-%s-%d-%lld", what, (int)getpid(),
             (long long)ferry_mono_ms());
    return id_buf;
}

static void test_publish_subscribe_and_properties(void **state) {
    seen s;
    char topic[128];
    (void)state;
    snprintf(topic, sizeof(topic), "ferry-test/%d/core", (int)getpid());
    ferry_mqtt *m = client(&s, broker, unique_id("pubsub"), 0);
    assert_int_equal(ferry_mqtt_connect(m), FERRY_OK);
    wait_for(m, &s, is_up, "the connection");
    const char *filters[] = {topic};
    assert_int_equal(ferry_mqtt_subscribe(m, filters, 1, 42), FERRY_OK);
    wait_for(m, &s, subscribed, "the SUBACK");
    assert_int_equal(s.sub_tag, 42);
    assert_int_equal(s.sub_ok, 1);

    ferry_mqtt_prop props[] = {{"sig", "c2lnbmF0dXJl"}, {"kid", "k1"}};
    ferry_mqtt_pub pub = {.tracked = true, .tag = 7, .epoch = 3, .props = props, .nprops = 2};
    assert_int_equal(ferry_mqtt_publish(m, topic, "\0binary\x7f", 8, &pub), FERRY_OK);
    wait_for(m, &s, acked_one, "the PUBACK");
    json_t *d = json_array_get(s.done, 0);
    assert_int_equal(json_integer_value(json_object_get(d, "tag")), 7);
    assert_int_equal(json_integer_value(json_object_get(d, "epoch")), 3);
    assert_true(json_is_true(json_object_get(d, "ok")));
    wait_for(m, &s, got_one, "the message back");
    json_t *msg = json_array_get(s.msgs, 0);
    assert_string_equal(json_string_value(json_object_get(msg, "topic")), topic);
    assert_int_equal(json_string_length(json_object_get(msg, "payload")), 8);
    assert_memory_equal(json_string_value(json_object_get(msg, "payload")), "\0binary\x7f", 8);
    json_t *p = json_object_get(msg, "props");
    assert_string_equal(json_string_value(json_object_get(p, "sig")), "c2lnbmF0dXJl");
    assert_string_equal(json_string_value(json_object_get(p, "kid")), "k1");
    ferry_mqtt_destroy(m);
    forget(&s);
}

static void test_session_keeps_what_came_while_away(void **state) {
    seen s, o;
    char topic[128], id[64];
    (void)state;
    snprintf(topic, sizeof(topic), "ferry-test/%d/session", (int)getpid());
    snprintf(id, sizeof(id), "%s", unique_id("session"));
    ferry_mqtt *m = client(&s, broker, id, 0);
    assert_int_equal(ferry_mqtt_connect(m), FERRY_OK);
    wait_for(m, &s, is_up, "the connection");
    const char *filters[] = {topic};
    assert_int_equal(ferry_mqtt_subscribe(m, filters, 1, 1), FERRY_OK);
    wait_for(m, &s, subscribed, "the SUBACK");
    ferry_mqtt_destroy(m);
    forget(&s);

    /* Published while the client is away (QoS 1): the broker keeps it in the session. */
    ferry_mqtt *other = client(&o, broker, unique_id("other"), 0);
    assert_int_equal(ferry_mqtt_connect(other), FERRY_OK);
    wait_for(other, &o, is_up, "the other connection");
    ferry_mqtt_pub pub = {.tracked = true};
    assert_int_equal(ferry_mqtt_publish(other, topic, "while away", 10, &pub), FERRY_OK);
    wait_for(other, &o, acked_one, "the other's PUBACK");
    ferry_mqtt_destroy(other);
    forget(&o);

    m = client(&s, broker, id, 0);
    assert_int_equal(ferry_mqtt_connect(m), FERRY_OK);
    wait_for(m, &s, got_one, "the message kept in the session");
    assert_string_equal(json_string_value(json_object_get(json_array_get(s.msgs, 0), "payload")),
                        "while away");
    ferry_mqtt_destroy(m);
    forget(&s);
}

static void test_refused_first_connection(void **state) {
    seen s;
    (void)state;
    /* Nothing listens on port 1 of the loopback address: refused at once, retried later. */
    ferry_mqtt *m = client(&s, "tcp://127.0.0.1:1", unique_id("refused"), 0);
    ferry_mqtt_connect(m);
    wait_for(m, &s, is_down, "the refusal");
    assert_int_equal(s.up, 0);
    ferry_mqtt_destroy(m);
    forget(&s);
}

static bool downs(const seen *s, int n) {
    return s->down >= n;
}
static bool down_twice(const seen *s) {
    return downs(s, 2);
}

/* With owner_reconnects a refused connect is not tried again by the client (ferry_mqtt_tick):
 * the owner does it (the hollow fleet paces thousands of clients so). Without it, the client
 * tries again after about a second: the same wait sees the second refusal. */
static void test_owner_reconnects(void **state) {
    seen s;
    (void)state;
    for (int owner = 1; owner >= 0; owner--) {
        owner_reconnects = owner;
        ferry_mqtt *m = client(&s, "tcp://127.0.0.1:1", unique_id("owner"), 0);
        owner_reconnects = false;
        ferry_mqtt_connect(m);
        wait_for(m, &s, is_down, "the refusal");
        /* The client's own retry comes within 1 + 1 s (retry_s 1, jitter below it): wait 3 s. */
        int64_t until = ferry_mono_ms() + 3000;
        while (ferry_mono_ms() < until && s.down < 2) {
            ferry_mqtt_tick(m);
            ferry_mqtt_drain(m);
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL); /* a bounded window in which nothing may happen */
        }
        assert_int_equal(s.down, owner ? 1 : 2);
        if (owner) { /* the owner tries again: refused again */
            ferry_mqtt_connect(m);
            wait_for(m, &s, down_twice, "the second refusal, after the owner's connect");
        }
        assert_int_equal(s.up, 0);
        ferry_mqtt_destroy(m);
        forget(&s);
    }
}

static bool overflowed(const seen *s) {
    return s->overflow > 0 && json_array_size(s->msgs) >= 1;
}

static void test_queue_is_bounded_in_bytes(void **state) {
    seen s, o;
    char topic[128], payload[1000];
    (void)state;
    snprintf(topic, sizeof(topic), "ferry-test/%d/bounded", (int)getpid());
    memset(payload, 'x', sizeof(payload));
    /* Room for about one message: the rest is dropped, counted, and reported at the next drain. */
    ferry_mqtt *m = client(&s, broker, unique_id("bounded"), 1500);
    assert_int_equal(ferry_mqtt_connect(m), FERRY_OK);
    wait_for(m, &s, is_up, "the connection");
    const char *filters[] = {topic};
    assert_int_equal(ferry_mqtt_subscribe(m, filters, 1, 1), FERRY_OK);
    wait_for(m, &s, subscribed, "the SUBACK");
    ferry_mqtt *other = client(&o, broker, unique_id("flood"), 0);
    assert_int_equal(ferry_mqtt_connect(other), FERRY_OK);
    wait_for(other, &o, is_up, "the other connection");
    atomic_store(&wakes, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ferry_mqtt_publish(other, topic, payload, sizeof(payload), NULL),
                         FERRY_OK);
    /* m is not drained until all five reached it (queued or dropped: each wakes the owner). */
    int64_t deadline = ferry_mono_ms() + DEADLINE_MS;
    while (atomic_load(&wakes) < 5) {
        ferry_mqtt_drain(other);
        if (ferry_mono_ms() > deadline)
            fail_msg("only %d of 5 messages reached the client", atomic_load(&wakes));
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL); /* polling a counter, with a deadline */
    }
    wait_for(m, &s, overflowed, "a drain that reports dropped messages");
    assert_int_equal(json_array_size(s.msgs) + s.overflow, 5);
    assert_true(json_array_size(s.msgs) >= 1);
    ferry_mqtt_destroy(other);
    ferry_mqtt_destroy(m);
    forget(&o);
    forget(&s);
}

int main(void) {
    broker = getenv("FERRY_TEST_MQTT");
    if (broker == NULL || broker[0] == '\0') {
        fprintf(stderr, "FERRY_TEST_MQTT is not set (scripts/services.sh): skipped\n");
        return SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_subscribe_and_properties),
        cmocka_unit_test(test_session_keeps_what_came_while_away),
        cmocka_unit_test(test_refused_first_connection),
        cmocka_unit_test(test_owner_reconnects),
        cmocka_unit_test(test_queue_is_bounded_in_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
