/* broker-bridge telemetry: the families of GET /metrics and the gauges computed at each scrape
 * (telemetry.h). */
#include "telemetry.h"

#include <stdio.h>
#include <string.h>

#include "bridge_int.h"
#include "ferry/selector.h"
#include "records.h"

#define M_OUTBOX "ferry_bridge_outbox_entries"
#define M_OUTBOX_AGE "ferry_bridge_outbox_oldest_age_seconds"
#define M_INFLIGHT "ferry_bridge_outbox_inflight"
#define M_CONNECTED "ferry_bridge_mqtt_connected"
#define M_REV "ferry_bridge_rev"
#define M_NODES "ferry_bridge_nodes"
#define M_ONLINE "ferry_bridge_nodes_online"
#define M_APPS "ferry_bridge_apps"
#define M_APP_NODES "ferry_bridge_app_nodes"
#define M_MAP "ferry_bridge_store_map_bytes"
#define M_USED "ferry_bridge_store_used_bytes"

ferry_err bridge__telemetry_declare(ferry_metrics *m) {
    static const double seconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,   0.25,   0.5,   1,    2.5};
    static const struct {
        const char *name;
        ferry_metric_type type;
        const char *help;
    } fams[] = {
        {M_API_REQUESTS, FERRY_METRIC_COUNTER,
         "API requests answered, by route template, method and status code."},
        {M_API_SECONDS, FERRY_METRIC_HISTOGRAM,
         "Time from a request's headers to its answer being queued, by route and method."},
        {M_OUTBOX, FERRY_METRIC_GAUGE,
         "Messages in the outbox, not yet acknowledged by the broker."},
        {M_OUTBOX_AGE, FERRY_METRIC_GAUGE,
         "Seconds since this bridge first saw the oldest outbox entry pending (0 when empty)."},
        {M_INFLIGHT, FERRY_METRIC_GAUGE, "Outbox messages handed to MQTT, awaiting their PUBACK."},
        {M_CONNECTED, FERRY_METRIC_GAUGE, "1 while the bridge is connected to the broker."},
        {M_MQTT_CONNECTS, FERRY_METRIC_COUNTER, "Connections to the broker made (first included)."},
        {M_MQTT_PUBLISHES, FERRY_METRIC_COUNTER,
         "Messages published: outbox entries (tracked) and direct hello answers."},
        {M_MQTT_ACKS, FERRY_METRIC_COUNTER, "Outbox messages the broker acknowledged."},
        {M_MQTT_FAILURES, FERRY_METRIC_COUNTER,
         "Outbox messages whose publish failed (published again)."},
        {M_NODE_MESSAGES, FERRY_METRIC_COUNTER,
         "Messages received from nodes, by type (invalid: dropped before any check)."},
        {M_REV, FERRY_METRIC_GAUGE, "The store's revision: every app and node change takes one."},
        {M_NODES, FERRY_METRIC_GAUGE, "Nodes registered, by namespace."},
        {M_ONLINE, FERRY_METRIC_GAUGE, "Nodes whose last online state says online, by namespace."},
        {M_APPS, FERRY_METRIC_GAUGE, "Apps (not deleted), by namespace."},
        {M_APP_NODES, FERRY_METRIC_GAUGE,
         "Nodes of an app by state: targeted (selected), applied, running, failed (reporting the "
         "app's current version in that phase), as GET .../apps/{name}/status counts them."},
        {M_MAP, FERRY_METRIC_GAUGE, "Size of the LMDB map."},
        {M_USED, FERRY_METRIC_GAUGE, "Bytes of the LMDB map in use."},
    };
    ferry_err err = FERRY_OK;
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]) && err == FERRY_OK; i++)
        err = ferry_metrics_declare(
            m, fams[i].name, fams[i].type, fams[i].help, seconds,
            fams[i].type == FERRY_METRIC_HISTOGRAM ? sizeof(seconds) / sizeof(seconds[0]) : 0);
    /* Counters without labels exist from the start: a rate over them needs a first sample. */
    ferry_metrics_add(m, M_MQTT_CONNECTS, NULL, 0);
    ferry_metrics_add(m, M_MQTT_ACKS, NULL, 0);
    ferry_metrics_add(m, M_MQTT_FAILURES, NULL, 0);
    return err;
}

/* ---- scrape-time gauges ---------------------------------------------------------------------- */

typedef struct {
    ferry_bridge *b;
    ferry_store_txn *t;
    const char *ns;
    json_t *apps; /* app -> [targeted, applied, running, failed] */
    uint64_t oldest;
    bool has_oldest;
    size_t online;
    ferry_err err;
} scrape;

static void bump(json_t *counts, size_t i) {
    json_t *v = json_array_get(counts, i);
    json_integer_set(v, json_integer_value(v) + 1);
}

/* An app that selects the node: one more targeted. */
static bool target_each(const char *app, const json_t *item, void *ctx) {
    scrape *sc = ctx;
    (void)item;
    bump(json_object_get(sc->apps, app), 0);
    return true;
}

static bool node_each(const char *node, const json_t *labels, void *ctx) {
    scrape *sc = ctx;
    (void)node;
    sc->err = bridge__index_apps_for(sc->b->index, sc->ns, labels, target_each, sc);
    return sc->err == FERRY_OK;
}

static bool app_each(const char *app, const json_t *item, void *ctx) {
    scrape *sc = ctx;
    (void)item;
    json_t *zero = json_pack("[i, i, i, i]", 0, 0, 0, 0);
    if (zero == NULL || json_object_set_new(sc->apps, app, zero) != 0) {
        sc->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

/* A status counts when its node is targeted and it reports the app's current version. */
static bool status_each(const char *key, const json_t *rec, void *ctx) {
    scrape *sc = ctx;
    if (!bridge__status_record_ok(key, rec))
        return true;
    const char *app = json_string_value(json_object_get(rec, "app"));
    const char *node = json_string_value(json_object_get(rec, "node"));
    const char *phase = json_string_value(json_object_get(rec, "phase"));
    const json_t *item = bridge__index_get(sc->b->index, BRIDGE_INDEX_APPS, sc->ns, app);
    const json_t *labels = bridge__index_get(sc->b->index, BRIDGE_INDEX_NODES, sc->ns, node);
    json_t *counts = json_object_get(sc->apps, app);
    if (item == NULL || labels == NULL || counts == NULL || strcmp(phase, "Pending") == 0 ||
        json_integer_value(json_object_get(rec, "version")) <
            json_integer_value(json_object_get(item, "version")) ||
        !ferry_selector_matches(json_object_get(item, "selector"), labels))
        return true;
    bump(counts, 1);
    if (strcmp(phase, "Running") == 0)
        bump(counts, 2);
    else if (strcmp(phase, "Failed") == 0)
        bump(counts, 3);
    return true;
}

static bool online_each(const char *key, const json_t *rec, void *ctx) {
    scrape *sc = ctx;
    (void)key;
    sc->online += json_is_true(json_object_get(rec, "online"));
    return true;
}

static void set_ns(ferry_metrics *m, const char *name, const char *ns, double v) {
    char labels[128] = "";
    ferry_metrics_label(labels, sizeof(labels), "namespace", ns);
    ferry_metrics_set(m, name, labels, v);
}

static void ns_each(const char *ns, size_t apps, size_t nodes, void *ctx) {
    static const char *const states[] = {"targeted", "applied", "running", "failed"};
    scrape *sc = ctx;
    ferry_metrics *m = sc->b->metrics;
    char prefix[BRIDGE_KEY_MAX];
    const char *app;
    json_t *counts;

    if (sc->err != FERRY_OK)
        return;
    set_ns(m, M_APPS, ns, (double)apps);
    set_ns(m, M_NODES, ns, (double)nodes);
    sc->ns = ns;
    sc->online = 0;
    if ((sc->apps = json_object()) == NULL) {
        sc->err = FERRY_ENOMEM;
        return;
    }
    bridge__key(prefix, ns, "", NULL);
    bridge__index_each(sc->b->index, BRIDGE_INDEX_APPS, ns, app_each, sc);
    if (sc->err == FERRY_OK)
        bridge__index_each(sc->b->index, BRIDGE_INDEX_NODES, ns, node_each, sc);
    if (sc->err == FERRY_OK)
        sc->err = ferry_store_scan(sc->t, FERRY_DB_STATUS, prefix, status_each, sc);
    if (sc->err == FERRY_OK)
        sc->err = ferry_store_scan(sc->t, FERRY_DB_NODESTATE, prefix, online_each, sc);
    set_ns(m, M_ONLINE, ns, (double)sc->online);
    json_object_foreach(sc->apps, app, counts) {
        for (size_t i = 0; i < 4; i++) {
            char labels[256] = "";
            ferry_metrics_label(labels, sizeof(labels), "namespace", ns);
            ferry_metrics_label(labels, sizeof(labels), "app", app);
            ferry_metrics_label(labels, sizeof(labels), "state", states[i]);
            ferry_metrics_set(m, M_APP_NODES, labels,
                              (double)json_integer_value(json_array_get(counts, i)));
        }
    }
    json_decref(sc->apps);
    sc->apps = NULL;
}

static bool first_entry(uint64_t seq, const char *topic, const unsigned char *payload, size_t len,
                        void *ctx) {
    scrape *sc = ctx;
    (void)topic;
    (void)payload;
    (void)len;
    sc->oldest = seq;
    sc->has_oldest = true;
    return false;
}

static ferry_err collect_txn(ferry_store_txn *t, void *ctx) {
    scrape *sc = ctx;
    ferry_metrics *m = sc->b->metrics;
    size_t entries = 0;
    uint64_t rev = 0;
    ferry_err err;
    sc->t = t;
    if ((err = ferry_store_outbox_count(t, &entries)) != FERRY_OK ||
        (err = ferry_store_outbox_scan(t, 0, first_entry, sc)) != FERRY_OK ||
        (err = ferry_store_rev(t, &rev)) != FERRY_OK)
        return err;
    ferry_metrics_set(m, M_OUTBOX, NULL, (double)entries);
    ferry_metrics_set(m, M_REV, NULL, (double)rev);
    ferry_metrics_clear(m, M_APP_NODES);
    bridge__index_namespaces(sc->b->index, ns_each, sc);
    return sc->err;
}

ferry_err bridge__telemetry_collect(ferry_bridge *b) {
    scrape sc = {.b = b, .err = FERRY_OK};
    size_t map = 0, used = 0;
    bridge__index_read_lock(b->index);
    ferry_err err = ferry_store_read(b->store, collect_txn, &sc);
    bridge__index_unlock(b->index);
    if (err != FERRY_OK)
        return err;
    /* The oldest entry's age as this process saw it: entries carry no time of their own. */
    int64_t now = ferry_mono_ms();
    pthread_mutex_lock(&b->lock);
    if (!sc.has_oldest) {
        b->oldest_seq = 0;
    } else if (sc.oldest != b->oldest_seq) {
        b->oldest_seq = sc.oldest;
        b->oldest_seen_ms = now;
    }
    double age = sc.has_oldest ? (double)(now - b->oldest_seen_ms) / 1000.0 : 0;
    double inflight = (double)b->inflight;
    double up = b->mqtt_up ? 1 : 0;
    pthread_mutex_unlock(&b->lock);
    ferry_metrics_set(b->metrics, M_OUTBOX_AGE, NULL, age);
    ferry_metrics_set(b->metrics, M_INFLIGHT, NULL, inflight);
    ferry_metrics_set(b->metrics, M_CONNECTED, NULL, up);
    ferry_store_usage(b->store, &map, &used);
    ferry_metrics_set(b->metrics, M_MAP, NULL, (double)map);
    ferry_metrics_set(b->metrics, M_USED, NULL, (double)used);
    return FERRY_OK;
}

/* ---- bridge.h -------------------------------------------------------------------------------- */

struct ferry_metrics *ferry_bridge_metrics(ferry_bridge *b) {
    return b->metrics;
}

ferry_err ferry_bridge_metrics_text(ferry_bridge *b, char **text, size_t *len) {
    ferry_err err = bridge__telemetry_collect(b);
    *text = NULL;
    *len = 0;
    if (err != FERRY_OK)
        LOG_WARN("metrics: the scrape-time gauges could not be read (%s); served as they were",
                 ferry_strerror(err));
    return ferry_metrics_render(b->metrics, text, len);
}
