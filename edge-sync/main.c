/* edge-sync: the edge daemon. Follows the cloud over MQTT into LMDB (session.h), reconciles the
 * container engine against LMDB one app at a time on worker threads (reconcile.h, jobs.h), and
 * publishes deployment state. This file is the wiring: options, the libuv loop, the MQTT core and
 * the worker threads; the decisions live in the modules it connects. */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cleanup.h"
#include "daemon.h"
#include "engine.h"
#include "ferry/app.h"
#include "ferry/function.h"
#include "ferry/proto.h"
#include "gateway.h"
#include "gpu.h"
#include "identity.h"
#include "jobs.h"
#include "mqtt.h"
#include "reconcile.h"
#include "routes.h"
#include "logs.h"
#include "session.h"
#include "session_mqtt.h"
#include "store.h"
#include "telemetry.h"

typedef struct {
    /* Options. */
    const char *node, *ns, *mqtt_uri, *data_dir, *engine_sock, *pause_binary_opt;
    const char *enroll_url, *enroll_token, *enroll_ca;
    int reconcile_interval_s, session_expiry_s, cleanup_interval_s, parallel;
    int gateway_port, stats_interval_s;
    const char *gateway_addresses, *metrics_listen;
    bool gpu_sharing, probe_gpu, insecure, no_gateway;
    ferry_identity id; /* when enrolled (!insecure) */

    char pause_binary[PATH_MAX];
    char data_abs[PATH_MAX]; /* data_dir made absolute: engines bind-mount files below it */
    json_t *gpu;             /* the GPU probe's report, sent in node.online; NULL if it failed */

    ferry_daemon d;
    ferry_estore *store;
    ferry_engine *engine;
    ferry_mqtt *mqtt;
    ferry_session *session;
    ferry_jobs *jobs;
    ferry_reconcile_cfg rcfg;
    uv_timer_t cleanup_timer;
    /* The node gateway (gateway.h) and what the reconciler puts into containers (images, its
     * URL). stats_sent: the counters of the last node.stats, to send only what changed. */
    ferry_gateway *gateway;
    ferry_function_node fn;
    char gateway_url[96];
    uv_timer_t stats_timer;
    json_t *stats_sent;
    /* app -> what the file cleanup needs (reconcile.h): written on the loop thread when an app's
     * pass ends; the cleanup's worker reads it only while no app pass runs (jobs.h). */
    json_t *facts;
    int in_flight; /* work queued on the thread pool and not done */
    /* app -> "directive/version/engine signature" of its last pass, when that pass ended steady
     * (reconcile.h): a survey skips the apps whose key is unchanged, so that a node at rest costs
     * one engine list per interval instead of a list and inspects per app, and a new app is not
     * queued behind a no-op pass over every other one. Every spec change (configs and secrets
     * included) comes with a new version, and an app that fails, waits or acts is not steady.
     * A full survey passes every app (the unchanged ones last): at the start, after a connect
     * (the session reports every app again) and at least every FULL_REFRESH_MS, which bounds how
     * stale what only inspect shows (restart counts) gets. */
    json_t *steady;
    bool survey_full;     /* the survey to start next passes every app */
    int64_t last_full_ms; /* when the last such survey started */
    /* --metrics-listen: the registry (NULL without: nothing is counted), its server, and the
     * engine behind counting that the reconciler then uses. */
    ferry_metrics *metrics;
    ferry_metrics_http *metrics_http;
    ferry_counted_engine counted;
    int logs_in_flight; /* logs requests being read (at most LOGS_AT_ONCE) */
} edge_t;

#define LOGS_AT_ONCE 4

#define FULL_REFRESH_MS 60000

/* One piece of work on libuv's thread pool. */
typedef enum { WORK_SURVEY, WORK_APP, WORK_CLEANUP, WORK_LOGS } work_kind;

typedef struct {
    uv_work_t req;
    edge_t *e;
    work_kind kind;
    ferry_err err;
    ferry_survey survey;     /* WORK_SURVEY */
    ferry_survey_item item;  /* WORK_APP */
    ferry_app_result result; /* WORK_APP */
    int deleted;             /* WORK_CLEANUP */
    json_t *logs_req;        /* WORK_LOGS: the logs.request, and its answer */
    json_t *logs_answer;
    bool full; /* WORK_SURVEY: pass every app (see edge_t.steady) */
    /* Monotonic ms when queued, started and ended: the debug log traces the waits. */
    int64_t queued_ms, start_ms, end_ms;
} work_t;

static void pump(edge_t *e);

/* ---- MQTT events (loop thread, from ferry_mqtt_drain) ---- */

static void on_up(void *ud) {
    edge_t *e = ud;
    ferry_session_connected(e->session, ferry_mono_ms());
    e->survey_full = true; /* the session reports every app again after an outage */
}

static void on_down(void *ud, const char *cause) {
    edge_t *e = ud;
    LOG_WARN("mqtt: not connected to %s (%s); retrying", e->mqtt_uri, cause);
    ferry_session_disconnected(e->session, ferry_mono_ms());
}

/* A received message in the metrics, by what its topic says it is. */
static void count_message(edge_t *e, const ferry_mqtt_msg *m) {
    ferry_topic tp;
    const char *type = "type=\"invalid\"";
    if (e->metrics == NULL)
        return;
    if (ferry_topic_parse(m->topic, m->topic_len, &tp) == FERRY_OK)
        switch (tp.kind) {
        case FERRY_TOPIC_APP_LABEL:
        case FERRY_TOPIC_APP_ALL:
            type = "type=\"app\"";
            break;
        case FERRY_TOPIC_NODE_SYNC:
            type = "type=\"node.sync\"";
            break;
        case FERRY_TOPIC_NODE_SECRETS:
            type = "type=\"app.secrets\"";
            break;
        case FERRY_TOPIC_LOGS_REQUEST:
            type = "type=\"logs.request\"";
            break;
        default:
            type = "type=\"other\"";
            break;
        }
    ferry_metrics_add(e->metrics, M_EDGE_MESSAGES, type, 1);
}

static void on_messages(void *ud, const ferry_mqtt_msg *msgs, size_t n) {
    edge_t *e = ud;
    for (size_t i = 0; i < n; i++) {
        count_message(e, &msgs[i]);
        LOG_DEBUG("mqtt: handling %zu bytes on %.*s (received %lld ms ago)", msgs[i].len,
                  (int)msgs[i].topic_len, msgs[i].topic,
                  (long long)(ferry_now_ms() - msgs[i].received_ms));
        ferry_session_message(e->session, msgs[i].topic, msgs[i].topic_len, msgs[i].payload,
                              msgs[i].len, ferry_mqtt_msg_prop(&msgs[i], FERRY_SIGN_PROP),
                              ferry_mono_ms());
    }
}

static void on_subscribed(void *ud, uint64_t tag, bool ok) {
    edge_t *e = ud;
    ferry_session_subscribed(e->session, tag, ok, ferry_mono_ms());
}

static void on_overflow(void *ud, size_t n) {
    edge_t *e = ud;
    LOG_WARN("mqtt: %zu received messages were dropped", n);
    ferry_session_overflow(e->session, ferry_mono_ms());
}

/* ---- the gateway ---- */

/* The survey's apps as the gateway's route table. */
static void set_routes(edge_t *e, const ferry_survey *survey) {
    ferry_routes r;
    if (e->gateway == NULL || ferry_routes_build(e->data_abs, e->ns, survey, &r) != FERRY_OK)
        return;
    ferry_gateway_set_routes(e->gateway, r.items, r.n);
    ferry_routes_free(&r);
}

/* The gateway's counters as a node.stats message (without "v"); NULL on ENOMEM. */
static json_t *stats_msg(edge_t *e, const ferry_gateway_series *s, size_t n, int64_t start) {
    json_t *calls = json_array();
    for (size_t i = 0; calls != NULL && i < n && i < FERRY_STATS_MAX_CALLS; i++) {
        json_t *lat = json_array();
        for (int k = 0; lat != NULL && k < FERRY_STATS_BUCKETS; k++)
            json_array_append_new(lat, json_integer((json_int_t)s[i].latency[k]));
        if (json_array_append_new(
                calls, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "app", s[i].app,
                                 "service", s[i].service, "function", s[i].function, "requests",
                                 (json_int_t)s[i].requests, "success", (json_int_t)s[i].success,
                                 "clientErrors", (json_int_t)s[i].client_errors, "serverErrors",
                                 (json_int_t)s[i].server_errors, "timeouts",
                                 (json_int_t)s[i].timeouts, "latency", lat)) != 0) {
            json_decref(calls);
            return NULL;
        }
    }
    if (calls == NULL)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:I, s:o}", "type", FERRY_MSG_NODE_STATS, "ns", e->ns, "node",
                     e->node, "start", (json_int_t)start, "calls", calls);
}

/* Every --stats-interval: the counters of monitored apps, when they changed since the last. */
static void on_stats_timer(uv_timer_t *t) {
    edge_t *e = t->data;
    ferry_gateway_series *s = NULL;
    size_t n = 0;
    int64_t start = 0;
    json_t *msg;

    if (e->gateway == NULL || !ferry_session_is_connected(e->session) ||
        ferry_gateway_stats(e->gateway, &s, &n, &start) != FERRY_OK)
        return;
    msg = n > 0 ? stats_msg(e, s, n, start) : NULL;
    ferry_gateway_stats_free(s, n);
    if (msg == NULL || json_equal(msg, e->stats_sent)) {
        json_decref(msg);
        return;
    }
    json_decref(e->stats_sent);
    e->stats_sent = json_deep_copy(msg);
    json_object_set_new(msg, "ts", json_integer(ferry_now_ms()));
    ferry_session_stats(e->session, msg);
    json_decref(msg);
}

/* Listen on --gateway-address ("bridge": the host on the engine's default network, whose address
 * containers get in FERRY_GATEWAY). */
static ferry_err start_gateway(edge_t *e) {
    char list[512], bridge[64] = "", why[256] = "";
    const char *addrs[FERRY_GATEWAY_MAX_ADDRESSES];
    size_t n = 0;
    ferry_err err;

    snprintf(list, sizeof(list), "%s", e->gateway_addresses);
    for (char *save = NULL, *a = strtok_r(list, ",", &save); a != NULL;
         a = strtok_r(NULL, ",", &save)) {
        if (n == FERRY_GATEWAY_MAX_ADDRESSES) {
            LOG_ERROR("gateway: at most %d addresses", FERRY_GATEWAY_MAX_ADDRESSES);
            return FERRY_EINVAL;
        }
        if (strcmp(a, "bridge") == 0) {
            if (ferry_engine_bridge_gateway(e->engine, bridge, sizeof(bridge)) != FERRY_OK) {
                LOG_WARN("gateway: the engine's default network has no IPv4 gateway; containers "
                         "cannot reach the gateway");
                continue;
            }
            a = bridge;
        }
        addrs[n++] = a;
    }
    if (n == 0) {
        LOG_ERROR("gateway: no address to listen on (--gateway-address %s)", e->gateway_addresses);
        return FERRY_EINVAL;
    }
    ferry_gateway_opts o = {addrs, n, e->gateway_port};
    if ((err = ferry_gateway_start(&o, &e->gateway, why, sizeof(why))) != FERRY_OK) {
        LOG_ERROR("gateway: %s", why);
        return err;
    }
    snprintf(e->gateway_url, sizeof(e->gateway_url), "http://%.64s:%d",
             bridge[0] != '\0' ? bridge : addrs[0], ferry_gateway_port(e->gateway));
    e->fn.gateway_url = e->gateway_url;
    LOG_INFO("gateway: serving on %s (port %d); containers get FERRY_GATEWAY=%s",
             e->gateway_addresses, ferry_gateway_port(e->gateway), e->gateway_url);
    return FERRY_OK;
}

/* ---- work on the thread pool ---- */

static void steady_key(const ferry_survey_item *it, uint64_t sig, char *buf, size_t len) {
    snprintf(buf, len, "%d/%lld/%016llx", (int)it->dir.kind, it->version, (unsigned long long)sig);
}

/* Whether the survey's item finds the app as its last steady pass left it. */
static bool unchanged(edge_t *e, const ferry_survey_item *it) {
    char key[64];
    const char *last = json_string_value(json_object_get(e->steady, it->name));
    steady_key(it, it->engine_sig, key, sizeof(key));
    return last != NULL && strcmp(last, key) == 0;
}

/* The survey's items in the order they should be passed: the apps that changed first (a new app
 * is not queued behind a no-op pass over every other one); the unchanged ones after them when
 * full, else not at all. */
static void select_items(edge_t *e, ferry_survey *s, bool full) {
    ferry_survey_item *out = s->n > 0 ? ferry_calloc(s->n, sizeof(*out)) : NULL;
    size_t n = 0, skipped = 0;

    if (out == NULL)
        return; /* every app, in name order */
    for (int later = 0; later < 2; later++) {
        for (size_t i = 0; i < s->n; i++) {
            if (unchanged(e, &s->items[i]) != (later == 1))
                continue;
            if (later == 1 && !full) {
                json_decref(s->items[i].spec);
                skipped++;
                continue;
            }
            out[n++] = s->items[i];
        }
    }
    LOG_DEBUG("survey: %zu app(s) to pass, %zu unchanged %s", n, full ? 0 : skipped,
              full ? "(a full survey passes every app)" : "skipped");
    ferry_free(s->items);
    s->items = out;
    s->n = n;
}

static void work_run(uv_work_t *req) {
    work_t *w = req->data;
    edge_t *e = w->e;
    w->start_ms = ferry_mono_ms();
    switch (w->kind) {
    case WORK_SURVEY:
        w->err = ferry_reconcile_survey(&e->rcfg, &w->survey);
        break;
    case WORK_APP:
        w->err = ferry_reconcile_app(&e->rcfg, &w->item, &w->result);
        break;
    case WORK_CLEANUP: {
        ferry_cleanup_cfg cc = {.data_dir = e->data_abs, .ns = e->ns, .engine = e->engine};
        w->err = ferry_cleanup_run(&cc, e->facts, &w->deleted);
        break;
    }
    case WORK_LOGS:
        w->logs_answer = ferry_edge_logs_answer(e->engine, w->logs_req);
        w->err = w->logs_answer != NULL ? FERRY_OK : FERRY_ENOMEM;
        break;
    }
    w->end_ms = ferry_mono_ms();
}

/* Once every piece of work is over, give the heap's free pages back: a pass over many apps parses
 * engine answers and specs in bursts, and glibc keeps what a burst freed (below the top of the
 * heap, or in the middle of it) until told. Once per reconciliation, when nothing runs. */
static void release_memory(edge_t *e) {
#ifdef __GLIBC__
    if (e->in_flight == 0)
        malloc_trim(0);
#else
    (void)e;
#endif
}

static void work_done(uv_work_t *req, int status) {
    work_t *w = req->data;
    edge_t *e = w->e;
    int64_t now = ferry_mono_ms(), wall = ferry_now_ms();
    (void)status;

    LOG_DEBUG("%s%s: waited %lld ms for a thread, ran %lld ms, done %lld ms later (%s)",
              w->kind == WORK_SURVEY ? "survey"
              : w->kind == WORK_APP  ? "pass of app "
                                     : "cleanup",
              w->kind == WORK_APP ? w->item.name : "", (long long)(w->start_ms - w->queued_ms),
              (long long)(w->end_ms - w->start_ms), (long long)(now - w->end_ms),
              ferry_strerror(w->err));
    switch (w->kind) {
    case WORK_SURVEY:
        ferry_metrics_add(e->metrics, M_EDGE_SURVEYS, NULL, 1);
        if (w->err == FERRY_OK)
            ferry_session_wake_at(e->session, w->survey.wake_at_ms, wall, now);
        if (w->err == FERRY_OK)
            set_routes(e, &w->survey);
        if (w->err == FERRY_OK)
            select_items(e, &w->survey, w->full);
        ferry_jobs_survey_done(e->jobs, w->err == FERRY_OK ? &w->survey : NULL);
        ferry_survey_free(&w->survey);
        break;
    case WORK_APP:
        ferry_metrics_add(e->metrics, M_EDGE_PASSES,
                          w->err == FERRY_OK ? "result=\"ok\"" : "result=\"failed\"", 1);
        ferry_metrics_observe(e->metrics, M_EDGE_PASS_SECONDS, NULL,
                              (double)(w->end_ms - w->start_ms) / 1000.0);
        if (w->err == FERRY_OK && w->result.status != NULL && !e->d.stopping)
            ferry_session_report(e->session, w->result.status);
        if (w->err == FERRY_OK && w->result.collected)
            ferry_session_forget(e->session, w->item.name);
        if (w->err == FERRY_OK && w->result.steady) {
            char key[64];
            steady_key(&w->item, w->result.engine_sig, key, sizeof(key));
            json_object_set_new(e->steady, w->item.name, json_string(key));
        } else {
            json_object_del(e->steady, w->item.name);
        }
        if (w->err == FERRY_OK && w->result.facts != NULL)
            json_object_set(e->facts, w->item.name, w->result.facts);
        else if (w->err == FERRY_OK)
            json_object_del(e->facts, w->item.name);
        if (w->err == FERRY_OK)
            ferry_session_wake_at(e->session, w->result.wake_at_ms, wall, now);
        if (w->err == FERRY_OK && w->result.needs_secrets && !e->d.stopping)
            ferry_session_need_secrets(e->session, now);
        ferry_jobs_app_done(e->jobs, w->item.name);
        ferry_app_result_clear(&w->result);
        json_decref(w->item.spec);
        break;
    case WORK_CLEANUP:
        if (w->err != FERRY_OK)
            ferry_jobs_want_cleanup(e->jobs); /* try again after the next survey */
        else if (w->deleted > 0)
            LOG_INFO("cleanup: removed %d folder(s) of volume files", w->deleted);
        ferry_jobs_cleanup_done(e->jobs);
        break;
    case WORK_LOGS:
        if (w->logs_answer != NULL && !e->d.stopping)
            ferry_session_logs_reply(e->session, w->logs_answer);
        json_decref(w->logs_req);
        json_decref(w->logs_answer);
        e->logs_in_flight--;
        break;
    }
    ferry_free(w);
    e->in_flight--;
    pump(e);
    release_memory(e);
}

static void queue(edge_t *e, work_kind kind, const ferry_survey_item *item, bool full) {
    work_t *w = ferry_calloc(1, sizeof(*w));
    if (w == NULL) {
        LOG_ERROR("out of memory; reconciliation waits for the next tick");
        if (item != NULL) {
            ferry_jobs_app_done(e->jobs, item->name);
            json_decref(item->spec);
        }
        return;
    }
    w->e = e;
    w->kind = kind;
    w->req.data = w;
    w->queued_ms = ferry_mono_ms();
    w->full = full;
    if (item != NULL)
        w->item = *item;
    e->in_flight++;
    uv_queue_work(e->d.loop, &w->req, work_run, work_done);
}

/* A logs request from the bridge (session.h): read off the loop; more than LOGS_AT_ONCE at once
 * are answered busy (the bridge's user asks again). */
static void on_logs_request(void *ctx, const json_t *req) {
    edge_t *e = ctx;
    work_t *w = NULL;
    if (e->d.stopping)
        return;
    if (e->logs_in_flight >= LOGS_AT_ONCE || (w = ferry_calloc(1, sizeof(*w))) == NULL ||
        (w->logs_req = json_deep_copy(req)) == NULL) {
        json_t *busy = ferry_edge_logs_refusal(req, "the node is reading other logs; ask again");
        if (busy != NULL)
            ferry_session_logs_reply(e->session, busy);
        json_decref(busy);
        ferry_free(w);
        return;
    }
    w->e = e;
    w->kind = WORK_LOGS;
    w->req.data = w;
    w->queued_ms = ferry_mono_ms();
    e->in_flight++;
    e->logs_in_flight++;
    uv_queue_work(e->d.loop, &w->req, work_run, work_done);
}

/* Start whatever work may start now (jobs.h decides). */
static void pump(edge_t *e) {
    ferry_survey_item item;
    if (e->d.stopping)
        return;
    int64_t now = ferry_mono_ms();
    if (ferry_session_reconcile_due(e->session, now))
        ferry_jobs_want_survey(e->jobs);
    if (now - e->last_full_ms >= FULL_REFRESH_MS)
        e->survey_full = true;
    if (ferry_jobs_take_survey(e->jobs)) {
        if (e->survey_full)
            e->last_full_ms = now;
        queue(e, WORK_SURVEY, NULL, e->survey_full);
        e->survey_full = false;
    }
    while (ferry_jobs_take_app(e->jobs, &item))
        queue(e, WORK_APP, &item, false);
    if (ferry_jobs_take_cleanup(e->jobs))
        queue(e, WORK_CLEANUP, NULL, false);
}

/* ---- the loop ---- */

static void on_wake(void *ud) {
    edge_t *e = ud;
    ferry_mqtt_drain(e->mqtt);
    pump(e);
}

static void on_tick(void *ud) {
    edge_t *e = ud;
    ferry_mqtt_tick(e->mqtt);
    ferry_session_tick(e->session, ferry_mono_ms());
    pump(e);
}

/* Every --cleanup-interval: after the next survey's apps, the file cleanup runs. */
static void on_cleanup_timer(uv_timer_t *t) {
    edge_t *e = t->data;
    ferry_jobs_want_cleanup(e->jobs);
    pump(e);
}

static void on_stop(void *ud) {
    edge_t *e = ud;
    uv_close((uv_handle_t *)&e->stats_timer, NULL);
    ferry_metrics_http_stop(e->metrics_http);
    e->metrics_http = NULL;
    /* Paho's threads must be gone before the wake handle they poke is closed; the broker
     * publishes the will (offline) for us. Work in flight finishes before the loop ends. */
    ferry_mqtt_destroy(e->mqtt);
    e->mqtt = NULL;
    uv_close((uv_handle_t *)&e->cleanup_timer, NULL);
}

/* The scrape-time gauges (telemetry.h), on the loop thread. */
static void collect_metrics(void *ctx) {
    edge_t *e = ctx;
    size_t map = 0, used = 0;
    int64_t last = ferry_session_last_sync(e->session);
    ferry_metrics_set(e->metrics, M_EDGE_SYNC_AGE, NULL,
                      last != 0 ? (double)(ferry_mono_ms() - last) / 1000.0 : -1);
    ferry_metrics_set(e->metrics, M_EDGE_CONNECTED, NULL,
                      ferry_session_is_connected(e->session) ? 1 : 0);
    ferry_metrics_set(e->metrics, M_EDGE_APPS, NULL, (double)ferry_estore_count_apps(e->store));
    ferry_estore_usage(e->store, &map, &used);
    ferry_metrics_set(e->metrics, M_EDGE_STORE_MAP, NULL, (double)map);
    ferry_metrics_set(e->metrics, M_EDGE_STORE_USED, NULL, (double)used);
}

/* ---- start-up ---- */

static const char synopsis[] =
    "edge-sync [--data DIR] --enroll URL --token TOKEN [--ca FILE]   (once)\n"
    "       edge-sync [--data DIR] [options]                           (enrolled)\n"
    "       edge-sync --insecure --node NAME [--namespace NS] [--mqtt URI] [options]";

/* --probe-gpu: the GPU report on stdout, as node.online carries it. The exit status. */
static int probe_gpu_and_print(bool sharing) {
    json_t *report = NULL;
    int rc = 1;

    if (ferry_gpu_probe(NULL, sharing, &report) == FERRY_OK &&
        json_dumpf(report, stdout, JSON_COMPACT) == 0) {
        putchar('\n');
        rc = 0;
    }
    json_decref(report);
    return rc;
}

/* --enroll: the exit status. */
static int enroll(edge_t *e) {
    char msg[1024];
    if (e->enroll_token == NULL) {
        fprintf(stderr, "edge-sync: --enroll URL needs --token TOKEN\n");
        return 2;
    }
    ferry_err err = ferry_identity_enroll(e->data_dir, e->enroll_url, e->enroll_token, e->enroll_ca,
                                          msg, sizeof(msg));
    fprintf(err == FERRY_OK ? stdout : stderr, "edge-sync: %s\n", msg);
    return err == FERRY_OK ? 0 : 1;
}

/* Who this node is: its enrollment, or --node/--namespace with --insecure. -1 to go on, else the
 * exit status. */
static int identify(edge_t *e) {
    if (e->insecure) {
        LOG_WARN("running with --insecure: messages are neither signed nor checked; anyone who "
                 "reaches the broker can make this node run anything");
        if (e->ns == NULL)
            e->ns = "default";
        if (e->mqtt_uri == NULL)
            e->mqtt_uri = "tcp://127.0.0.1:1883";
    } else {
        ferry_err err = ferry_identity_load(e->data_dir, &e->id);
        if (err == FERRY_ENOTFOUND) {
            fprintf(stderr,
                    "edge-sync: this node has not enrolled (no %s/identity): run edge-sync --data "
                    "%s --enroll URL --token TOKEN first (ask an operator for the token: POST "
                    "/v1/namespaces/NS/nodes/NAME/enroll), or start with --insecure\n",
                    e->data_dir, e->data_dir);
            return 2;
        }
        if (err != FERRY_OK)
            return 1;
        if ((e->node != NULL && strcmp(e->node, e->id.node) != 0) ||
            (e->ns != NULL && strcmp(e->ns, e->id.ns) != 0)) {
            fprintf(stderr, "edge-sync: this data folder is enrolled as node %s/%s, not %s/%s\n",
                    e->id.ns, e->id.node, e->ns != NULL ? e->ns : e->id.ns,
                    e->node != NULL ? e->node : e->id.node);
            return 2;
        }
        e->node = e->id.node;
        e->ns = e->id.ns;
        if (e->mqtt_uri == NULL)
            e->mqtt_uri = e->id.mqtt_uri;
    }
    if (e->node == NULL || !ferry_name_valid(e->node) || !ferry_name_valid(e->ns)) {
        fprintf(stderr,
                "edge-sync: --node NAME is required; node and namespace must be DNS labels\n");
        return 2;
    }
    return -1;
}

/* 0 to go on, else the exit status. */
static int parse_args(edge_t *e, int argc, char **argv) {
    const ferry_opt opts[] = {
        {"node", FERRY_OPT_STRING, &e->node, 0, 0, "NAME",
         "this node's name, as registered in the cloud (from the enrollment; required with "
         "--insecure)"},
        {"namespace", FERRY_OPT_STRING, &e->ns, 0, 0, "NS",
         "namespace of the node (from the enrollment; default with --insecure)"},
        {"mqtt", FERRY_OPT_STRING, &e->mqtt_uri, 0, 0, "URI",
         "broker (from the enrollment; tcp://127.0.0.1:1883 with --insecure)"},
        {"data", FERRY_OPT_STRING, &e->data_dir, 0, 0, "DIR",
         "LMDB and volume files (/var/lib/ferry/edge)"},
        {"engine", FERRY_OPT_STRING, &e->engine_sock, 0, 0, "SOCKET",
         "Docker/Podman API socket (/var/run/docker.sock)"},
        {"pause-binary", FERRY_OPT_STRING, &e->pause_binary_opt, 0, 0, "PATH",
         "static pause binary (ferry-pause beside edge-sync)"},
        {"reconcile-interval", FERRY_OPT_INT, &e->reconcile_interval_s, 1, 86400, "SECONDS",
         "periodic survey of the engine (5); an app is passed again when it or its containers "
         "changed, and at least every 60 s"},
        {"parallel", FERRY_OPT_INT, &e->parallel, 1, 64, "N",
         "apps reconciled at the same time (4)"},
        {"session-expiry", FERRY_OPT_INT, &e->session_expiry_s, 1, INT_MAX, "SECONDS",
         "MQTT session expiry (604800)"},
        {"cleanup-interval", FERRY_OPT_INT, &e->cleanup_interval_s, 1, 86400 * 7, "SECONDS",
         "delete unused volume files every SECONDS (600)"},
        {"gpu-sharing", FERRY_OPT_FLAG, &e->gpu_sharing, 0, 0, NULL,
         "GPU sharing (HAMi-core) is set up: run apps with GPU limits"},
        {"probe-gpu", FERRY_OPT_FLAG, &e->probe_gpu, 0, 0, NULL,
         "print the GPU report sent in node.online, then exit"},
        {"enroll", FERRY_OPT_STRING, &e->enroll_url, 0, 0, "URL",
         "enroll this node (the bridge's https://HOST:PORT/v1/enroll) with --token, keep its "
         "identity in DIR/identity, then exit"},
        {"token", FERRY_OPT_STRING, &e->enroll_token, 0, 0, "TOKEN",
         "the one-time enrollment token (POST /v1/namespaces/NS/nodes/NAME/enroll)"},
        {"ca", FERRY_OPT_STRING, &e->enroll_ca, 0, 0, "FILE",
         "with --enroll: the CA that signs the bridge's certificate (the system's CAs)"},
        {"insecure", FERRY_OPT_FLAG, &e->insecure, 0, 0, NULL,
         "run without an enrollment: nothing is signed or checked, anyone who reaches the broker "
         "can make this node run anything (tests only)"},
        {"gateway-port", FERRY_OPT_INT, &e->gateway_port, 1, 65535, "PORT",
         "the node gateway's port: POST /{service}/{function} of function apps, /{service}/... "
         "of container services (8480)"},
        {"gateway-address", FERRY_OPT_STRING, &e->gateway_addresses, 0, 0, "LIST",
         "comma-separated IPv4 addresses the gateway listens on; \"bridge\" is the host's "
         "address on the engine's default network, where containers reach it "
         "(127.0.0.1,bridge)"},
        {"no-gateway", FERRY_OPT_FLAG, &e->no_gateway, 0, 0, NULL,
         "run no gateway (function apps then cannot be called)"},
        {"metrics-listen", FERRY_OPT_STRING, &e->metrics_listen, 0, 0, "ADDR:PORT",
         "serve Prometheus metrics at GET /metrics on this IPv4 address (off; plain HTTP, no "
         "token: a local or management address)"},
        {"stats-interval", FERRY_OPT_INT, &e->stats_interval_s, 1, 3600, "SECONDS",
         "send the call statistics of apps with monitorQps every SECONDS when they changed (10)"},
        {"image-python3", FERRY_OPT_STRING, &e->fn.image_python3, 0, 0, "IMAGE",
         "the python3 function runtime (" FERRY_RUNTIME_IMAGE_PYTHON3 ")"},
        {"image-nodejs10", FERRY_OPT_STRING, &e->fn.image_nodejs10, 0, 0, "IMAGE",
         "the nodejs10 function runtime (" FERRY_RUNTIME_IMAGE_NODEJS10 ")"},
        {"image-sql", FERRY_OPT_STRING, &e->fn.image_sql, 0, 0, "IMAGE",
         "the sql function runtime (" FERRY_RUNTIME_IMAGE_SQL ")"},
        {"log-level", FERRY_OPT_LOG_LEVEL, NULL, 0, 0, "LEVEL",
         "error|warn|info|debug (info, or FERRY_LOG_LEVEL)"},
        {NULL, 0, NULL, 0, 0, NULL, NULL}};
    int rc;

    e->data_dir = "/var/lib/ferry/edge";
    e->engine_sock = "/var/run/docker.sock";
    e->reconcile_interval_s = 5;
    e->parallel = 4;
    e->cleanup_interval_s = 600;
    e->session_expiry_s = 7 * 24 * 3600;
    e->gateway_port = 8480;
    e->gateway_addresses = "127.0.0.1,bridge";
    e->stats_interval_s = 10;
    e->fn.image_python3 = FERRY_RUNTIME_IMAGE_PYTHON3;
    e->fn.image_nodejs10 = FERRY_RUNTIME_IMAGE_NODEJS10;
    e->fn.image_sql = FERRY_RUNTIME_IMAGE_SQL;
    switch (ferry_opts_parse("edge-sync", synopsis, opts, argc, argv)) {
    case FERRY_OPTS_HELP:
        return 0;
    case FERRY_OPTS_BAD:
        return 2;
    case FERRY_OPTS_OK:
        break;
    }
    if (e->probe_gpu)
        return probe_gpu_and_print(e->gpu_sharing);
    if (e->enroll_url != NULL)
        return enroll(e);
    if ((rc = identify(e)) >= 0)
        return rc;
    if (e->pause_binary_opt != NULL) {
        snprintf(e->pause_binary, sizeof(e->pause_binary), "%s", e->pause_binary_opt);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
            self[n] = '\0';
            *strrchr(self, '/') = '\0';
            snprintf(e->pause_binary, sizeof(e->pause_binary), "%.*s/ferry-pause",
                     (int)(sizeof(e->pause_binary) - 13), self);
        }
    }
    return -1;
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
    return ferry_engine_ensure_pause_image(e->engine, e->pause_binary, "ferry/pause:1");
}

/* Session, jobs and the MQTT client, wired together. */
static ferry_err start_session(edge_t *e) {
    char client_id[160], will_sig[FERRY_SIGN_SIG_B64];
    const char *will_topic = NULL;
    unsigned char *will = NULL;
    size_t will_len = 0;
    ferry_mqtt_tls tls = {.ca_file = e->id.ca_file};
    ferry_err err;

    ferry_session_cfg sc = {.ns = e->ns,
                            .node = e->node,
                            .store = e->store,
                            .io = ferry_session_mqtt_io(&e->mqtt),
                            .gpu = e->gpu,
                            .reconcile_interval_s = e->reconcile_interval_s,
                            .sign = e->insecure ? NULL : &e->id.sign,
                            .bridge_pub = e->insecure ? NULL : e->id.bridge_pub,
                            .on_logs = on_logs_request,
                            .on_logs_ctx = e};
    if ((err = ferry_session_new(&sc, &e->session)) != FERRY_OK ||
        (err = ferry_session_will(e->session, &will_topic, &will, &will_len, will_sig)) != FERRY_OK)
        goto out;
    if ((e->jobs = ferry_jobs_new(e->parallel)) == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    /* node.{ns}.{node}: DNS labels hold no dots, so ids of different nodes cannot collide. */
    snprintf(client_id, sizeof(client_id), "node.%s.%s", e->ns, e->node);
    bool use_tls =
        strncmp(e->mqtt_uri, "ssl://", 6) == 0 || strncmp(e->mqtt_uri, "mqtts://", 8) == 0;
    ferry_mqtt_opts mo = {.uri = e->mqtt_uri,
                          .client_id = client_id,
                          .will_topic = will_topic,
                          .will_payload = will,
                          .will_len = will_len,
                          .will_retain = true,
                          .will_sig = will_sig[0] != '\0' ? will_sig : NULL,
                          .username = e->id.username[0] != '\0' ? e->id.username : NULL,
                          .password = e->id.password[0] != '\0' ? e->id.password : NULL,
                          .tls = use_tls ? &tls : NULL,
                          .will_on_destroy = true, /* a stopped node is offline */
                          .session_expiry_s = (uint32_t)e->session_expiry_s,
                          .keepalive_s = 15,
                          .drop_oldest = true, /* statuses: newer ones matter */
                          .wake = ferry_daemon_wake,
                          .wake_ctx = &e->d,
                          .handlers = {.on_up = on_up,
                                       .on_down = on_down,
                                       .on_messages = on_messages,
                                       .on_subscribed = on_subscribed,
                                       .on_overflow = on_overflow},
                          .ud = e};
    if ((err = ferry_mqtt_create(&mo, &e->mqtt)) != FERRY_OK)
        goto out;
    ferry_mqtt_connect(e->mqtt); /* retried by the tick when it cannot start */
out:
    ferry_free(will);
    return err;
}

int main(int argc, char **argv) {
    static edge_t e;
    char threads[16];
    int rc;

    ferry_log_init("edge-sync");
#ifdef __GLIBC__
    /* glibc gives each thread that allocates an arena of its own (up to 8 per core): the pool's
     * threads, Paho's two and the gateway's would keep up to ten heaps, each holding the pages it
     * freed. The daemon allocates little and seldom from several threads at once: one arena. */
    mallopt(M_ARENA_MAX, 1);
#endif
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if ((rc = parse_args(&e, argc, argv)) >= 0)
        return rc;
    rc = 1;
    srand((unsigned)(ferry_now_ms() ^ getpid()));
    /* The survey and the cleanup beside --parallel app passes: libuv sizes its pool once. */
    snprintf(threads, sizeof(threads), "%d", e.parallel + 2);
    setenv("UV_THREADPOOL_SIZE", threads, 0);
    if (ferry_gpu_probe(NULL, e.gpu_sharing, &e.gpu) != FERRY_OK)
        LOG_ERROR("cannot build the GPU report; node.online goes without it");
    else
        LOG_INFO("gpu: %zu device(s), sharing %s",
                 json_array_size(json_object_get(e.gpu, "devices")), e.gpu_sharing ? "on" : "off");
    if ((e.facts = json_object()) == NULL || (e.steady = json_object()) == NULL ||
        ferry_estore_open(e.data_dir, &e.store) != FERRY_OK)
        goto out;
    if (realpath(e.data_dir, e.data_abs) == NULL) {
        LOG_ERROR("cannot resolve the data folder %s: %s", e.data_dir, strerror(errno));
        goto out;
    }
    if (open_engine(&e) != FERRY_OK) {
        LOG_ERROR("no usable container engine at %s; exiting", e.engine_sock);
        goto out;
    }
    e.rcfg = (ferry_reconcile_cfg){.store = e.store,
                                   .ops = &ferry_engine_api_ops,
                                   .engine = e.engine,
                                   .ns = e.ns,
                                   .node = e.node,
                                   .pause_image = "ferry/pause:1",
                                   .pause_binary = e.pause_binary,
                                   .gpu_sharing = e.gpu_sharing,
                                   .data_dir = e.data_abs,
                                   .box = e.insecure ? NULL : &e.id.box,
                                   .fn = &e.fn};
    if (e.metrics_listen != NULL) {
        if (ferry_metrics_new(&e.metrics) != FERRY_OK ||
            ferry_edge_telemetry_declare(e.metrics) != FERRY_OK)
            goto out;
        e.counted = (ferry_counted_engine){&ferry_engine_api_ops, e.engine, e.metrics};
        e.rcfg.ops = &ferry_counted_engine_ops;
        e.rcfg.engine = &e.counted;
    }
    if (!e.no_gateway && start_gateway(&e) != FERRY_OK)
        goto out;
    ferry_daemon_hooks hooks = {on_wake, on_tick, on_stop, &e};
    if (ferry_daemon_init(&e.d, &hooks) != FERRY_OK)
        goto out;
    e.survey_full = true;
    if (e.metrics != NULL &&
        ferry_metrics_http_start(e.d.loop, e.metrics_listen, e.metrics, collect_metrics, &e,
                                 &e.metrics_http) != FERRY_OK) {
        ferry_daemon_stop(&e.d);
        ferry_daemon_run(&e.d);
        goto out;
    }
    uv_timer_init(e.d.loop, &e.cleanup_timer);
    e.cleanup_timer.data = &e;
    uv_timer_start(&e.cleanup_timer, on_cleanup_timer, (uint64_t)e.cleanup_interval_s * 1000,
                   (uint64_t)e.cleanup_interval_s * 1000);
    uv_timer_init(e.d.loop, &e.stats_timer);
    e.stats_timer.data = &e;
    uv_timer_start(&e.stats_timer, on_stats_timer, (uint64_t)e.stats_interval_s * 1000,
                   (uint64_t)e.stats_interval_s * 1000);
    if (start_session(&e) != FERRY_OK) {
        ferry_daemon_stop(&e.d);
        ferry_daemon_run(&e.d);
        goto out;
    }
    LOG_INFO("edge-sync %s/%s started: data %s, broker %s, %d apps at a time", e.ns, e.node,
             e.data_dir, e.mqtt_uri, e.parallel);
    /* Reconcile from LMDB at once: the node runs what it last heard, cloud or no cloud. */
    pump(&e);
    ferry_daemon_run(&e.d);
    rc = 0;
out:
    ferry_gateway_stop(e.gateway);
    json_decref(e.stats_sent);
    ferry_mqtt_destroy(e.mqtt);
    ferry_jobs_free(e.jobs);
    ferry_session_free(e.session);
    ferry_engine_close(e.engine);
    ferry_estore_close(e.store);
    json_decref(e.facts);
    json_decref(e.steady);
    json_decref(e.gpu);
    ferry_metrics_free(e.metrics);
    ferry_identity_clear(&e.id);
    return rc;
}
