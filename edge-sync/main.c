/* edge-sync: the edge daemon. Follows the cloud over MQTT into LMDB, reconciles the container
 * engine against LMDB, publishes deployment state. One libuv loop owns all decisions; Paho's
 * thread only stores messages (durably, before the PUBACK) and reports what happened. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cleanup.h"
#include "engine.h"
#include "ferry/app.h"
#include "ferry/codec.h"
#include "ferry/proto.h"
#include "ferry/topics.h"
#include "gpu.h"
#include "mqtt.h"
#include "reconcile.h"
#include "store.h"
#include "sync.h"

#define HELLO_RETRY_MS 30000
#define TICK_MS 1000
#define MAX_FILTERS 64

/* What Paho's thread reports, taken by the loop in one piece. */
typedef struct {
    bool connected, lost, reconcile, resubscribe, sync_received, suback, suback_ok;
    long suback_tag;
    const char *hello_reason;
} edge_events;

typedef struct {
    /* configuration */
    const char *node, *ns, *mqtt_uri, *data_dir, *engine_sock, *pause_image;
    char pause_binary[PATH_MAX];
    int reconcile_interval_s, session_expiry_s, cleanup_interval_s;
    char data_abs[PATH_MAX]; /* data_dir made absolute: engines bind-mount files below it */
    bool gpu_sharing;
    json_t *gpu; /* the GPU probe's report, sent in node.online; NULL if the probe failed */

    ferry_estore *store;
    ferry_engine *engine;
    ferry_mqtt *mqtt;
    ferry_sync_self self;
    char sync_topic[FERRY_TOPIC_MAX], all_filter[FERRY_TOPIC_MAX];
    char online_topic[FERRY_TOPIC_MAX], hello_topic[FERRY_TOPIC_MAX];

    uv_loop_t *loop;
    uv_async_t wake;
    uv_signal_t sig_int, sig_term;
    uv_timer_t tick;
    uv_timer_t cleanup_timer;

    /* Reported by Paho's thread, taken by the loop. */
    pthread_mutex_t lock;
    edge_events ev;

    /* Loop-only state. */
    bool ever_connected, connected, stopping;
    int64_t retry_connect_at, hello_sent_at, next_reconcile_at;
    bool hello_outstanding;
    json_t *label_filters; /* label filters now subscribed */
    long sub_tag;
    const char *hello_after_sub;

    /* The reconciler runs on libuv's thread pool, one pass at a time. */
    uv_work_t work;
    bool working, work_pending;
    ferry_reconcile_result work_result;
    bool work_ok;
    bool cleanup_due;  /* the cleanup timer fired: run the file cleanup after the next pass */
    bool work_cleanup; /* this pass runs it (read by the worker) */
    json_t *published; /* app -> last status published (without ts) */
} edge_t;

static void wake_loop(edge_t *e) {
    uv_async_send(&e->wake);
}

/* ---- Paho thread ------------------------------------------------------------------------------
 */

static void on_connected(void *ud) {
    edge_t *e = ud;
    pthread_mutex_lock(&e->lock);
    e->ev.connected = true;
    pthread_mutex_unlock(&e->lock);
    wake_loop(e);
}

static void on_lost(void *ud, const char *cause) {
    edge_t *e = ud;
    LOG_WARN("mqtt: not connected to %s (%s); retrying", e->mqtt_uri, cause);
    pthread_mutex_lock(&e->lock);
    e->ev.lost = true;
    pthread_mutex_unlock(&e->lock);
    wake_loop(e);
}

/* The LMDB write happens here, before Paho sends the PUBACK: a change counts as received only
 * once it is durable (PLATFORM.md). */
static void on_message(void *ud, const char *topic, size_t tlen, const void *payload, size_t plen) {
    edge_t *e = ud;
    ferry_sync_actions act;

    ferry_sync_handle(e->store, &e->self, topic, tlen, payload, plen, &act);
    pthread_mutex_lock(&e->lock);
    e->ev.reconcile |= act.reconcile;
    e->ev.resubscribe |= act.resubscribe;
    e->ev.sync_received |= act.sync_received;
    if (act.hello_reason)
        e->ev.hello_reason = act.hello_reason;
    pthread_mutex_unlock(&e->lock);
    wake_loop(e);
}

static void on_subscribed(void *ud, long tag, bool ok) {
    edge_t *e = ud;
    pthread_mutex_lock(&e->lock);
    e->ev.suback = true;
    e->ev.suback_tag = tag;
    e->ev.suback_ok = ok;
    pthread_mutex_unlock(&e->lock);
    wake_loop(e);
}

/* ---- loop -------------------------------------------------------------------------------------
 */

static void publish_msg(edge_t *e, const char *topic, const json_t *msg, bool retain) {
    unsigned char *buf = NULL;
    size_t len = 0;

    if (!e->mqtt)
        return;
    if (ferry_proto_encode(msg, &buf, &len) == FERRY_OK)
        ferry_mqtt_publish(e->mqtt, topic, buf, len, retain);
    else
        LOG_ERROR("cannot encode a %s message", json_string_value(json_object_get(msg, "type")));
    ferry_free(buf);
}

static void send_hello(edge_t *e, const char *reason) {
    json_t *hello = NULL;

    if (!e->connected)
        return; /* the next connect says hello anyway */
    if (ferry_sync_hello(e->store, &e->self, reason, &hello) != FERRY_OK) {
        LOG_ERROR("cannot read the store to say hello; retrying in %d s", HELLO_RETRY_MS / 1000);
    } else {
        LOG_INFO("hello (%s): holding %zu apps", reason,
                 json_object_size(json_object_get(hello, "apps")));
        publish_msg(e, e->hello_topic, hello, false);
    }
    json_decref(hello);
    e->hello_outstanding = true;
    e->hello_sent_at = ferry_mono_ms();
}

/* (Re)subscribe to this node's sync topic, the namespace's "all" topic and one topic per label;
 * drop label topics of labels the node lost. The hello goes out once the broker acknowledged,
 * so nothing published after the bridge answers can slip past a missing subscription. */
static void subscribe_all(edge_t *e, const char *reason) {
    MDB_txn *txn = NULL;
    json_t *node = NULL, *filters = json_array(), *old = e->label_filters, *v;
    char *list[MAX_FILTERS], *gone[MAX_FILTERS], buf[FERRY_TOPIC_MAX];
    const char *key;
    int n = 0, ngone = 0;
    size_t i, j;

    if (ferry_estore_begin(e->store, false, &txn) == FERRY_OK) {
        ferry_estore_get_node(e->store, txn, &node);
        ferry_estore_abort(txn);
    }
    json_object_foreach(json_object_get(node, "labels"), key, v) {
        if (ferry_topic_label_filter(e->ns, key, json_string_value(v), buf, sizeof(buf)) ==
            FERRY_OK)
            json_array_append_new(filters, json_string(buf));
    }
    list[n++] = e->sync_topic;
    list[n++] = e->all_filter;
    json_array_foreach(filters, i, v) if (n < MAX_FILTERS) list[n++] = (char *)json_string_value(v);
    json_array_foreach(old, i, v) {
        bool keep = false;
        json_t *w;
        json_array_foreach(filters, j, w) keep = keep || json_equal(v, w);
        if (!keep && ngone < MAX_FILTERS)
            gone[ngone++] = (char *)json_string_value(v);
    }
    if (ngone > 0)
        ferry_mqtt_unsubscribe(e->mqtt, gone, ngone);
    e->hello_after_sub = reason;
    if (ferry_mqtt_subscribe(e->mqtt, list, n, ++e->sub_tag) != FERRY_OK)
        LOG_WARN("subscribe failed; retrying on the next tick");
    e->label_filters = filters;
    json_decref(old);
    json_decref(node);
}

static void reconcile_work(uv_work_t *req) {
    edge_t *e = req->data;
    ferry_reconcile_cfg cfg = {.store = e->store,
                               .engine = e->engine,
                               .ns = e->ns,
                               .node = e->node,
                               .pause_image = e->pause_image,
                               .pause_binary = e->pause_binary,
                               .gpu_sharing = e->gpu_sharing,
                               .data_dir = e->data_abs};
    e->work_ok = ferry_reconcile(&cfg, &e->work_result) == FERRY_OK;
    /* The file cleanup shares the worker with the reconciler: it never runs during a pass, and
     * it decides from what this pass saw (cleanup.h). */
    if (e->work_ok && e->work_cleanup) {
        ferry_cleanup_cfg cc = {.data_dir = e->data_abs, .ns = e->ns, .engine = e->engine};
        int deleted = 0;
        if (ferry_cleanup_run(&cc, e->work_result.apps, &deleted) != FERRY_OK)
            e->work_ok = false;
        else if (deleted > 0)
            LOG_INFO("cleanup: removed %d folder(s) of volume files", deleted);
    }
}

static void kick_reconcile(edge_t *e);

/* Publish every app status that changed since it was last published. */
static void reconcile_done(uv_work_t *req, int status) {
    edge_t *e = req->data;
    json_t *st;
    const char *app;
    char topic[FERRY_TOPIC_MAX];
    (void)status;

    e->working = false;
    if (e->work_cleanup && !e->work_ok)
        e->cleanup_due = true; /* try again after the next pass */
    json_object_foreach(e->work_result.statuses, app, st) {
        ferry_topic t = {.kind = FERRY_TOPIC_NODE_STATUS};
        if (json_equal(st, json_object_get(e->published, app)))
            continue;
        snprintf(t.ns, sizeof(t.ns), "%s", e->ns);
        snprintf(t.node, sizeof(t.node), "%s", e->node);
        snprintf(t.app, sizeof(t.app), "%s", app);
        if (ferry_topic_build(&t, topic, sizeof(topic)) != FERRY_OK)
            continue;
        json_object_set(e->published, app, st);
        st = json_deep_copy(st);
        json_object_set_new(st, "ts", json_integer(ferry_now_ms()));
        LOG_INFO("app %s: %s (v%lld) %s", app, json_string_value(json_object_get(st, "phase")),
                 (long long)json_integer_value(json_object_get(st, "version")),
                 json_string_value(json_object_get(st, "message")));
        publish_msg(e, topic, st, true);
        json_decref(st);
    }
    int64_t wake_at_ms = e->work_result.wake_at_ms;
    ferry_reconcile_result_clear(&e->work_result);
    if (e->work_pending && !e->stopping) {
        e->work_pending = false;
        kick_reconcile(e);
    }
    /* A scheduled deployment (or a running init container) wants a pass at a given time; set after
     * any kick above, which moves the next periodic pass. The tick looks every TICK_MS, so that
     * is the granularity. */
    if (wake_at_ms > 0) {
        int64_t in_ms = wake_at_ms - ferry_now_ms();
        int64_t at = ferry_mono_ms() + (in_ms > 0 ? in_ms : 0);
        if (at < e->next_reconcile_at)
            e->next_reconcile_at = at;
    }
}

static void kick_reconcile(edge_t *e) {
    e->next_reconcile_at = ferry_mono_ms() + e->reconcile_interval_s * 1000;
    if (e->working) {
        e->work_pending = true;
        return;
    }
    e->working = true;
    e->work_cleanup = e->cleanup_due;
    e->cleanup_due = false;
    e->work.data = e;
    uv_queue_work(e->loop, &e->work, reconcile_work, reconcile_done);
}

static void publish_online(edge_t *e, bool online) {
    json_t *msg = json_pack("{s:s, s:s, s:s, s:b, s:I}", "type", FERRY_MSG_NODE_ONLINE, "ns", e->ns,
                            "node", e->node, "online", online, "ts", (json_int_t)ferry_now_ms());
    if (msg && online && e->gpu)
        json_object_set(msg, "gpu", e->gpu);
    publish_msg(e, e->online_topic, msg, true);
    json_decref(msg);
}

static void on_wake(uv_async_t *h) {
    edge_t *e = h->data;
    edge_events ev;

    pthread_mutex_lock(&e->lock);
    ev = e->ev;
    memset(&e->ev, 0, sizeof(e->ev));
    pthread_mutex_unlock(&e->lock);
    if (e->stopping)
        return;
    if (ev.lost) {
        e->connected = false;
        if (!e->ever_connected) /* Paho only reconnects after a first success */
            e->retry_connect_at = ferry_mono_ms() + 1000 + rand() % 2000;
    }
    if (ev.connected) {
        LOG_INFO("mqtt: connected to %s as node %s/%s", e->mqtt_uri, e->ns, e->node);
        e->connected = e->ever_connected = true;
        e->retry_connect_at = 0;
        json_object_clear(e->published); /* report everything again after any outage */
        publish_online(e, true);
        subscribe_all(e, "connect");
        kick_reconcile(e);
    }
    if (ev.resubscribe && e->connected)
        subscribe_all(e, "subscribe");
    if (ev.suback && ev.suback_tag == e->sub_tag) {
        if (ev.suback_ok && e->hello_after_sub) {
            send_hello(e, e->hello_after_sub);
            e->hello_after_sub = NULL;
        } else if (!ev.suback_ok) {
            LOG_WARN("the broker refused a subscription; retrying");
            subscribe_all(e, e->hello_after_sub ? e->hello_after_sub : "subscribe");
        }
    }
    if (ev.sync_received)
        e->hello_outstanding = false;
    if (ev.hello_reason)
        send_hello(e, ev.hello_reason);
    if (ev.reconcile)
        kick_reconcile(e);
}

static void on_tick(uv_timer_t *t) {
    edge_t *e = t->data;
    int64_t now = ferry_mono_ms();

    if (e->retry_connect_at && now >= e->retry_connect_at) {
        e->retry_connect_at = 0;
        if (ferry_mqtt_connect(e->mqtt) != FERRY_OK)
            e->retry_connect_at = now + 2000;
    }
    if (e->hello_outstanding && e->connected && now - e->hello_sent_at >= HELLO_RETRY_MS)
        send_hello(e, "retry");
    if (now >= e->next_reconcile_at)
        kick_reconcile(e);
}

/* Every --cleanup-interval: the next pass is followed by the file cleanup. */
static void on_cleanup_timer(uv_timer_t *t) {
    edge_t *e = t->data;
    e->cleanup_due = true;
    kick_reconcile(e);
}

static void close_cb(uv_handle_t *h) {
    (void)h;
}

static void on_signal(uv_signal_t *s, int signum) {
    edge_t *e = s->data;
    LOG_INFO("signal %d: stopping", signum);
    e->stopping = true;
    /* Paho's threads must be gone before the async handle they poke is closed. */
    ferry_mqtt_destroy(e->mqtt);
    e->mqtt = NULL;
    uv_close((uv_handle_t *)&e->wake, close_cb);
    uv_close((uv_handle_t *)&e->sig_int, close_cb);
    uv_close((uv_handle_t *)&e->sig_term, close_cb);
    uv_close((uv_handle_t *)&e->tick, close_cb);
    uv_close((uv_handle_t *)&e->cleanup_timer, close_cb);
}

/* ---- start-up ---------------------------------------------------------------------------------
 */

static void usage(FILE *f) {
    fprintf(f,
            "usage: edge-sync --node NAME [options]\n"
            "  --node NAME            this node's name, as registered in the cloud (required)\n"
            "  --namespace NS         namespace of the node (default: default)\n"
            "  --mqtt URI             broker (default: tcp://127.0.0.1:1883)\n"
            "  --data DIR             LMDB folder (default: /var/lib/ferry/edge)\n"
            "  --engine SOCKET        Docker/Podman API socket (default: /var/run/docker.sock)\n"
            "  --pause-binary PATH    static pause binary (default: ferry-pause beside edge-sync)\n"
            "  --reconcile-interval S periodic reconcile and state refresh (default: 5)\n"
            "  --session-expiry S     MQTT session expiry (default: 604800)\n"
            "  --cleanup-interval S   delete unused volume files every S seconds (default: 600)\n"
            "  --gpu-sharing          GPU sharing (HAMi-core) is set up: run apps with GPU limits\n"
            "  --probe-gpu            print the GPU report sent in node.online, then exit\n"
            "  --log-level LEVEL      error|warn|info|debug\n");
}

/* --probe-gpu: the GPU report on stdout, as node.online carries it. The exit status. */
static int probe_gpu_and_print(bool sharing) {
    json_t *report = NULL;
    int rc = 1;

    ferry_log_init("edge-sync");
    if (ferry_gpu_probe(NULL, sharing, &report) == FERRY_OK &&
        json_dumpf(report, stdout, JSON_COMPACT) == 0) {
        putchar('\n');
        rc = 0;
    }
    json_decref(report);
    return rc;
}

static int parse_args(edge_t *e, int argc, char **argv) {
    static const struct option opts[] = {{"node", required_argument, 0, 'n'},
                                         {"namespace", required_argument, 0, 's'},
                                         {"mqtt", required_argument, 0, 'm'},
                                         {"data", required_argument, 0, 'd'},
                                         {"engine", required_argument, 0, 'e'},
                                         {"pause-binary", required_argument, 0, 'p'},
                                         {"reconcile-interval", required_argument, 0, 'r'},
                                         {"session-expiry", required_argument, 0, 'x'},
                                         {"cleanup-interval", required_argument, 0, 'c'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {"gpu-sharing", no_argument, 0, 'g'},
                                         {"probe-gpu", no_argument, 0, 'G'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    bool probe_gpu = false;
    int c;

    e->ns = "default";
    e->mqtt_uri = "tcp://127.0.0.1:1883";
    e->data_dir = "/var/lib/ferry/edge";
    e->engine_sock = "/var/run/docker.sock";
    e->pause_image = "ferry/pause:1";
    e->reconcile_interval_s = 5;
    e->cleanup_interval_s = 600;
    e->session_expiry_s = 7 * 24 * 3600;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            e->node = optarg;
            break;
        case 's':
            e->ns = optarg;
            break;
        case 'm':
            e->mqtt_uri = optarg;
            break;
        case 'd':
            e->data_dir = optarg;
            break;
        case 'e':
            e->engine_sock = optarg;
            break;
        case 'p':
            snprintf(e->pause_binary, sizeof(e->pause_binary), "%s", optarg);
            break;
        case 'r':
            e->reconcile_interval_s = atoi(optarg);
            break;
        case 'x':
            e->session_expiry_s = atoi(optarg);
            break;
        case 'c':
            e->cleanup_interval_s = atoi(optarg);
            break;
        case 'l':
            setenv("FERRY_LOG_LEVEL", optarg, 1);
            break;
        case 'g':
            e->gpu_sharing = true;
            break;
        case 'G':
            probe_gpu = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (probe_gpu)
        exit(probe_gpu_and_print(e->gpu_sharing));
    if (!e->node || !ferry_name_valid(e->node) || !ferry_name_valid(e->ns)) {
        fprintf(stderr,
                "edge-sync: --node NAME is required; node and namespace must be DNS labels\n");
        return -1;
    }
    if (e->reconcile_interval_s < 1)
        e->reconcile_interval_s = 1;
    if (e->cleanup_interval_s < 1)
        e->cleanup_interval_s = 1;
    if (!e->pause_binary[0]) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
            self[n] = '\0';
            *strrchr(self, '/') = '\0';
            snprintf(e->pause_binary, sizeof(e->pause_binary), "%.*s/ferry-pause",
                     (int)(sizeof(e->pause_binary) - 13), self);
        }
    }
    return 0;
}

static int build_topics(edge_t *e) {
    ferry_topic t = {0};
    snprintf(t.ns, sizeof(t.ns), "%s", e->ns);
    snprintf(t.node, sizeof(t.node), "%s", e->node);
    t.kind = FERRY_TOPIC_NODE_SYNC;
    if (ferry_topic_build(&t, e->sync_topic, sizeof(e->sync_topic)))
        return -1;
    t.kind = FERRY_TOPIC_NODE_HELLO;
    if (ferry_topic_build(&t, e->hello_topic, sizeof(e->hello_topic)))
        return -1;
    t.kind = FERRY_TOPIC_NODE_ONLINE;
    if (ferry_topic_build(&t, e->online_topic, sizeof(e->online_topic)))
        return -1;
    return ferry_topic_all_filter(e->ns, e->all_filter, sizeof(e->all_filter)) ? -1 : 0;
}

/* The engine may come up after us (boot order): wait for it, for a while. */
static ferry_err open_engine(edge_t *e) {
    int64_t deadline = ferry_mono_ms() + 60000;
    ferry_err err;

    while ((err = ferry_engine_open(e->engine_sock, &e->engine)) != FERRY_OK) {
        if (ferry_mono_ms() > deadline)
            return err;
        LOG_WARN("engine at %s does not answer; retrying", e->engine_sock);
        sleep(2);
    }
    LOG_INFO("engine: %s at %s", ferry_engine_describe(e->engine), e->engine_sock);
    return ferry_engine_ensure_pause_image(e->engine, e->pause_binary, e->pause_image);
}

int main(int argc, char **argv) {
    static edge_t e;
    char client_id[160];
    unsigned char *will = NULL;
    size_t will_len = 0;
    json_t *will_msg = NULL;
    int rc = 1;

    ferry_log_init("edge-sync");
    if (parse_args(&e, argc, argv) != 0)
        return 2;
    ferry_log_init("edge-sync");
    srand((unsigned)(ferry_now_ms() ^ getpid()));
    if (ferry_gpu_probe(NULL, e.gpu_sharing, &e.gpu) != FERRY_OK)
        LOG_ERROR("cannot build the GPU report; node.online goes without it");
    else
        LOG_INFO("gpu: %zu device(s), sharing %s",
                 json_array_size(json_object_get(e.gpu, "devices")), e.gpu_sharing ? "on" : "off");
    e.self.ns = e.ns;
    e.self.node = e.node;
    pthread_mutex_init(&e.lock, NULL);
    e.published = json_object();
    e.label_filters = json_array();
    if (build_topics(&e) != 0) {
        LOG_ERROR("cannot build topics for node %s/%s", e.ns, e.node);
        goto out;
    }
    if (ferry_estore_open(e.data_dir, &e.store) != FERRY_OK)
        goto out;
    if (!realpath(e.data_dir, e.data_abs)) {
        LOG_ERROR("cannot resolve the data folder %s: %s", e.data_dir, strerror(errno));
        goto out;
    }
    if (open_engine(&e) != FERRY_OK) {
        LOG_ERROR("no usable container engine at %s; exiting", e.engine_sock);
        goto out;
    }
    e.loop = uv_default_loop();
    uv_async_init(e.loop, &e.wake, on_wake);
    e.wake.data = &e;
    uv_signal_init(e.loop, &e.sig_int);
    uv_signal_init(e.loop, &e.sig_term);
    e.sig_int.data = e.sig_term.data = &e;
    uv_signal_start(&e.sig_int, on_signal, SIGINT);
    uv_signal_start(&e.sig_term, on_signal, SIGTERM);
    uv_timer_init(e.loop, &e.tick);
    e.tick.data = &e;
    uv_timer_start(&e.tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_init(e.loop, &e.cleanup_timer);
    e.cleanup_timer.data = &e;
    uv_timer_start(&e.cleanup_timer, on_cleanup_timer, (uint64_t)e.cleanup_interval_s * 1000,
                   (uint64_t)e.cleanup_interval_s * 1000);

    /* Reconcile from LMDB at once: the node runs what it last heard, cloud or no cloud. */
    kick_reconcile(&e);

    will_msg = json_pack("{s:s, s:s, s:s, s:b}", "type", FERRY_MSG_NODE_ONLINE, "ns", e.ns, "node",
                         e.node, "online", 0);
    if (!will_msg || ferry_proto_encode(will_msg, &will, &will_len) != FERRY_OK)
        goto out;
    snprintf(client_id, sizeof(client_id), "ferry-edge-%s-%s", e.ns, e.node);
    ferry_mqtt_opts mo = {.uri = e.mqtt_uri,
                          .client_id = client_id,
                          .will_topic = e.online_topic,
                          .will_payload = will,
                          .will_len = will_len,
                          .session_expiry_s = e.session_expiry_s,
                          .on_connected = on_connected,
                          .on_lost = on_lost,
                          .on_message = on_message,
                          .on_subscribed = on_subscribed,
                          .ud = &e};
    if (ferry_mqtt_create(&mo, &e.mqtt) != FERRY_OK)
        goto out;
    if (ferry_mqtt_connect(e.mqtt) != FERRY_OK)
        e.retry_connect_at = ferry_mono_ms() + 2000;
    LOG_INFO("edge-sync %s/%s started: data %s, broker %s", e.ns, e.node, e.data_dir, e.mqtt_uri);
    uv_run(e.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    ferry_mqtt_destroy(e.mqtt);
    if (e.loop)
        uv_loop_close(e.loop);
    ferry_engine_close(e.engine);
    ferry_estore_close(e.store);
    json_decref(will_msg);
    json_decref(e.published);
    json_decref(e.label_filters);
    json_decref(e.gpu);
    ferry_free(will);
    return rc;
}
