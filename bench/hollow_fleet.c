/* hollow_fleet: N edge nodes in one process for fleet-scale benchmarks (like Kubernetes'
 * kubemark or KubeEdge's edgemark). Each node runs edge-sync's real protocol path: its own MQTT
 * client (daemon/mqtt.c, client id node.{ns}.{node}, persistent session), its own session
 * (edge-sync/session.c: hellos, syncs, subscriptions, statuses), its own LMDB store
 * (edge-sync/store.c, sync.c) and the real targeting decision (ferry_plan_node). Only the engine
 * is hollow: a node "runs" an app by recording the version and reporting app.status Running at
 * that version for every app ferry_plan_node tells it to run.
 *
 * Insecure nodes only (the bridge runs with --insecure-nodes). Node labels come from the cloud,
 * as for a real node: register the nodes with their labels through the REST API first.
 *
 * Stores: one LMDB environment in {data} for every node (ferry_estore_open_shared: each node's
 * keys under its name, daemon/kv.h "Views"): a node costs one file descriptor, its socket. An
 * environment per node cost 3 more (data.mdb twice, lock.mdb) and stopped the fleet near 5,000
 * nodes at the hard RLIMIT_NOFILE of 20,000.
 *
 * Lines on stdout (JSON), for bench/bench_fleet.py: "converged" when every node runs what
 * --expect asks (again after each SIGHUP, which reads --expect again: "reloaded"); "settled" when
 * every node is connected, has had a node.sync since it connected and is converged (after a
 * broker restart). They carry what the cloud's topics delivered to the nodes (rx, rxBytes).
 * --report FILE: per node what its store holds, what it runs, its labels, whether connected
 * (tests/e2e/test_fleet.py judges exact convergence from it).
 *
 * --raw N: a baseline instead of the fleet: N plain subscribers (the same MQTT core) on one
 * topic and one publisher, in as many processes as the fleet (--first-node keeps their names
 * apart): a line once all N are subscribed, one payload of --raw-bytes published per SIGHUP (a
 * line with its wall-clock time), and a line with the wall-clock time each time all N have
 * received one more; the benchmark takes the last process's line minus the publish. With
 * --raw-reconnect, nothing is published: a line each time all N are subscribed (again, after a
 * broker restart).
 *
 * Threads: everything here runs on the libuv loop thread; Paho's MQTTAsync adds its own threads,
 * shared by all clients of the process (bench/README.md has what was measured). */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "daemon.h"
#include "ferry/proto.h"
#include "mqtt.h"
#include "plan.h"
#include "session.h"
#include "session_mqtt.h"
#include "store.h"

typedef struct fleet fleet;

typedef struct node {
    fleet *f;
    size_t index;
    char name[64];
    char client_id[160];
    ferry_estore *store;
    ferry_session *session;
    ferry_mqtt *mqtt;
    json_t *running; /* app -> version the hollow engine runs */
    json_t *held;    /* app -> version the store holds (tombstones left out), at the last pass */
    json_t *labels;  /* the node record's labels, at the last pass */
    bool converged;
    bool up;         /* connected now */
    bool connecting; /* a connect was started and has not ended (up or failed) yet */
    bool queued;     /* waits in the fleet's reconnect queue */
    bool synced;     /* a node.sync arrived since the node last connected */
    /* What the cloud's topics delivered to the node (messages, payload bytes). */
    long rx, rx_bytes;
    /* Wake-up list: dirty and next under f->lock (Paho's threads push, the loop pops). */
    bool dirty;
    struct node *next;
    /* --raw: subscribed now */
    bool raw_subscribed;
} node;

struct fleet {
    /* Options. */
    const char *mqtt_uri, *ns, *prefix, *data_dir, *report_path, *expect_path;
    int nodes, first_index, connect_rate, connect_window, reconcile_interval_s, raw, raw_bytes;
    bool first, raw_reconnect;

    ferry_daemon d;
    uv_timer_t connect_timer;
    node *n;
    size_t nconnecting; /* nodes whose connect was started */
    size_t nup;         /* nodes connected now */
    size_t ninflight;   /* connects started and not ended */
    size_t *rq;         /* reconnect queue (node indices), a ring of total entries */
    size_t rq_head, rq_len;
    size_t nconverged;
    size_t nsynced;
    long rx, rx_bytes; /* every node's */
    bool settled;      /* every node connected, synced and converged (printed when it becomes so) */
    uv_signal_t sighup;
    json_t *expect;    /* {"*": {app: version}, node: {app: version}} */
    ferry_kv_env *env; /* every node's store */
    int64_t start_ms, converged_ms;
    int ticks;
    bool report_dirty; /* a node's pass ran since the report was written */
    pthread_mutex_t lock;
    node *dirty_head;
    /* --raw */
    ferry_mqtt *pub;
    bool pub_up;
    size_t nsubscribed;
    bool all_subscribed; /* printed when it becomes so */
    int round;           /* payloads every subscriber received */
    long raw_got;        /* every subscriber's messages, in all */
    bool publish_asked;  /* a SIGHUP came, the publish is not done yet */
};

/* ---- process figures ---- */

static long proc_status(const char *key) {
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    FILE *fp = fopen("/proc/self/status", "r");
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(fp);
    return v;
}

static long count_fds(void) {
    long n = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    while (readdir(dir) != NULL)
        n++;
    closedir(dir);
    return n - 3; /* ".", ".." and the folder's own descriptor */
}

static void progress(fleet *f, const char *what) {
    fprintf(stderr,
            "hollow_fleet: %s t=%.1fs nodes=%d connected=%zu converged=%zu rss=%ldKiB threads=%ld "
            "fds=%ld\n",
            what, (double)(ferry_mono_ms() - f->start_ms) / 1000.0, f->nodes, f->nup, f->nconverged,
            proc_status("VmRSS"), proc_status("Threads"), count_fds());
}

/* ---- the hollow engine ---- */

/* Whether n runs exactly what --expect asks of it. */
static bool node_converged(const fleet *f, const node *n) {
    const json_t *want;
    if (f->expect == NULL)
        return false;
    want = json_object_get(f->expect, n->name);
    if (want == NULL)
        want = json_object_get(f->expect, "*");
    return want != NULL && json_equal(want, n->running);
}

/* The report: per node what its store holds, what the hollow engine runs, its labels and
 * whether it is connected (the CI test tests/e2e/test_fleet.py judges exact convergence from
 * it). Written to a temp file and renamed, so a reader never sees half of one. */
static void write_report(fleet *f) {
    json_t *nodes = json_object(), *doc = NULL;
    char tmp[4096];
    FILE *fp = NULL;

    if (f->report_path == NULL || nodes == NULL)
        goto out;
    for (int i = 0; i < f->nodes; i++) {
        const node *n = &f->n[i];
        json_object_set_new(nodes, n->name,
                            json_pack("{s:O, s:O, s:O*, s:b}", "held", n->held, "running",
                                      n->running, "labels", n->labels, "up", n->up));
    }
    doc = json_pack("{s:i, s:I, s:I, s:O, s:I, s:I}", "nodes", f->nodes, "connected",
                    (json_int_t)f->nup, "converged", (json_int_t)f->nconverged, "node", nodes,
                    "rssKiB", (json_int_t)proc_status("VmRSS"), "threads",
                    (json_int_t)proc_status("Threads"));
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->report_path);
    if (doc == NULL || (fp = fopen(tmp, "w")) == NULL)
        goto out;
    json_dumpf(doc, fp, JSON_COMPACT);
    fputc('\n', fp);
    if (fclose(fp) == 0)
        rename(tmp, f->report_path);
    f->report_dirty = false;
out:
    json_decref(doc);
    json_decref(nodes);
}

/* The "converged" line, once every node runs what --expect asks (once per expectation). */
static void converged_line(fleet *f) {
    if (f->nconverged == (size_t)f->nodes && f->converged_ms == 0) {
        f->converged_ms = ferry_mono_ms();
        printf("{\"converged\": true, \"nodes\": %d, \"seconds\": %.3f, \"rssKiB\": %ld, "
               "\"threads\": %ld, \"fds\": %ld, \"rx\": %ld, \"rxBytes\": %ld}\n",
               f->nodes, (double)(f->converged_ms - f->start_ms) / 1000.0, proc_status("VmRSS"),
               proc_status("Threads"), count_fds(), f->rx, f->rx_bytes);
        fflush(stdout);
        write_report(f);
        if (f->first)
            ferry_daemon_stop(&f->d);
    }
}

static void check_converged(fleet *f, node *n) {
    bool c = node_converged(f, n);
    if (c == n->converged)
        return;
    n->converged = c;
    if (c)
        f->nconverged++;
    else
        f->nconverged--;
    converged_line(f);
}

/* One status entry per service, "running", as observe/plan would report them. */
static json_t *containers_of(const json_t *spec) {
    json_t *list = json_array(), *svc;
    size_t i;
    json_array_foreach(json_object_get(spec, "services"), i, svc) {
        const char *name = json_string_value(json_object_get(svc, "name"));
        const char *image = json_string_value(json_object_get(svc, "image"));
        json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "name",
                                              name != NULL ? name : "", "state", "running",
                                              "restarts", 0, "exitCode", 0, "error", "", "image",
                                              image != NULL ? image : ""));
    }
    return list;
}

/* The survey and every app pass at once: ferry_plan_node decides, nothing is observed. */
static void hollow_reconcile(node *n) {
    json_t *nrec = NULL;
    ferry_estore_apps apps = {0};
    ferry_node_app *in = NULL;
    ferry_directive *dirs = NULL;

    if (ferry_estore_snapshot(n->store, &nrec, &apps) != FERRY_OK)
        goto out;
    if (apps.n > 0 && ((in = calloc(apps.n, sizeof(*in))) == NULL ||
                       (dirs = calloc(apps.n, sizeof(*dirs))) == NULL))
        goto out;
    for (size_t i = 0; i < apps.n; i++) {
        const ferry_estore_entry *e = &apps.items[i];
        in[i] = (ferry_node_app){e->name, e->app.version, e->app.deleted, e->app.spec,
                                 json_object_get(n->running, e->name) != NULL};
    }
    json_object_clear(n->held);
    for (size_t i = 0; i < apps.n; i++)
        if (!apps.items[i].app.deleted)
            json_object_set_new(n->held, apps.items[i].name,
                                json_integer(apps.items[i].app.version));
    json_decref(n->labels);
    n->labels = json_incref(json_object_get(nrec, "labels"));
    n->f->report_dirty = true;
    ferry_plan_node(nrec, in, apps.n, false, ferry_now_ms(), dirs);
    for (size_t i = 0; i < apps.n; i++) {
        const ferry_estore_entry *e = &apps.items[i];
        const char *phase = NULL;
        json_t *containers = NULL, *status;
        switch (dirs[i].kind) {
        case FERRY_DIRECTIVE_RUN:
            phase = "Running";
            json_object_set_new(n->running, e->name, json_integer(e->app.version));
            break;
        case FERRY_DIRECTIVE_SCHEDULED:
            phase = "Scheduled";
            break;
        case FERRY_DIRECTIVE_REFUSE:
            phase = "Failed";
            json_object_del(n->running, e->name);
            break;
        case FERRY_DIRECTIVE_REMOVE:
            phase = "Removed";
            json_object_del(n->running, e->name);
            break;
        case FERRY_DIRECTIVE_FORGET:
            break;
        }
        const char *message = dirs[i].kind == FERRY_DIRECTIVE_RUN ? "" : dirs[i].message;
        /* As edge-sync passes only the apps that changed: a status already reported as it
         * stands is not built again (ferry_session_report would drop it). */
        if (phase == NULL ||
            ferry_session_reported(n->session, e->name, e->app.version, phase, message))
            continue;
        containers = dirs[i].kind == FERRY_DIRECTIVE_RUN ? containers_of(e->app.spec) : NULL;
        status = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "type", FERRY_MSG_APP_STATUS,
                           "ns", n->f->ns, "node", n->name, "app", e->name, "version",
                           (json_int_t)e->app.version, "phase", phase, "message", message,
                           "containers", containers != NULL ? containers : json_array());
        if (status != NULL)
            ferry_session_report(n->session, status);
        json_decref(status);
    }
    check_converged(n->f, n);
out:
    free(in);
    free(dirs);
    ferry_estore_apps_free(&apps);
    json_decref(nrec);
}

static void node_pump(node *n) {
    if (n->session != NULL && ferry_session_reconcile_due(n->session, ferry_mono_ms()))
        hollow_reconcile(n);
}

/* ---- MQTT events (the session's I/O is ferry_session_mqtt_io) ---- */

/* Clients of the process: the nodes, or with --raw the subscribers (f->nodes then counts them)
 * and the publisher. */
static size_t fleet_size(const fleet *f) {
    return (size_t)f->nodes + (f->raw > 0 ? 1 : 0);
}

static void connect_ended(node *n) {
    if (n->connecting)
        n->f->ninflight--;
    n->connecting = false;
}

static void on_up(void *ud) {
    node *n = ud;
    n->f->report_dirty = true;
    if (!n->up)
        n->f->nup++;
    n->up = true;
    connect_ended(n);
    if (n->session != NULL)
        ferry_session_connected(n->session, ferry_mono_ms());
    else if (n->f->raw > 0 && n->index == (size_t)n->f->raw) /* the publisher */
        n->f->pub_up = true;
    else {
        const char *filter = "bench/raw";
        ferry_mqtt_subscribe(n->mqtt, &filter, 1, 1);
    }
}

static void on_down(void *ud, const char *cause) {
    node *n = ud;
    LOG_DEBUG("%s: not connected (%s)", n->name, cause);
    n->f->report_dirty = true;
    if (n->up)
        n->f->nup--;
    n->up = false;
    if (n->synced)
        n->f->nsynced--;
    n->synced = false;
    if (n->raw_subscribed)
        n->f->nsubscribed--;
    n->raw_subscribed = false;
    if (n->session != NULL)
        ferry_session_disconnected(n->session, ferry_mono_ms());
    connect_ended(n);
    if (!n->queued) { /* the connect timer starts it again, paced */
        fleet *f = n->f;
        f->rq[(f->rq_head + f->rq_len++) % fleet_size(f)] = n->index;
        n->queued = true;
    }
}

static void on_messages(void *ud, const ferry_mqtt_msg *msgs, size_t cnt) {
    node *n = ud;
    fleet *f = n->f;
    if (n->session == NULL) { /* --raw subscriber */
        f->raw_got += (long)cnt;
        return;
    }
    f->report_dirty = true;
    for (size_t i = 0; i < cnt; i++) {
        static const char sync_tail[] = "/sync";
        const size_t tl = sizeof(sync_tail) - 1;
        n->rx++;
        n->rx_bytes += (long)msgs[i].len;
        f->rx++;
        f->rx_bytes += (long)msgs[i].len;
        if (!n->synced && msgs[i].topic_len >= tl &&
            memcmp(msgs[i].topic + msgs[i].topic_len - tl, sync_tail, tl) == 0) {
            n->synced = true;
            f->nsynced++;
        }
        ferry_session_message(n->session, msgs[i].topic, msgs[i].topic_len, msgs[i].payload,
                              msgs[i].len, ferry_mqtt_msg_prop(&msgs[i], FERRY_SIGN_PROP),
                              ferry_mono_ms());
    }
}

static void on_subscribed(void *ud, uint64_t tag, bool ok) {
    node *n = ud;
    if (n->session != NULL)
        ferry_session_subscribed(n->session, tag, ok, ferry_mono_ms());
    else if (ok && !n->raw_subscribed) {
        n->raw_subscribed = true;
        n->f->nsubscribed++;
    }
}

static void on_overflow(void *ud, size_t cnt) {
    node *n = ud;
    LOG_WARN("%s: %zu received messages were dropped", n->name, cnt);
    if (n->session != NULL)
        ferry_session_overflow(n->session, ferry_mono_ms());
}

/* Paho's threads: put the node on the wake-up list once, then wake the loop. */
static void node_wake(void *ctx) {
    node *n = ctx;
    fleet *f = n->f;
    bool wake;
    pthread_mutex_lock(&f->lock);
    wake = f->dirty_head == NULL;
    if (!n->dirty) {
        n->dirty = true;
        n->next = f->dirty_head;
        f->dirty_head = n;
    }
    pthread_mutex_unlock(&f->lock);
    if (wake)
        ferry_daemon_wake(&f->d);
}

/* ---- --raw: the broker's fan-out alone ---- */

/* --raw-reconnect: a line whenever all are subscribed again. Else: the subscribed line, a
 * publish per SIGHUP, a line per payload every subscriber received. */
static void raw_step(fleet *f) {
    if (f->raw_reconnect) {
        bool all = f->nsubscribed == (size_t)f->raw;
        if (all && !f->all_subscribed) {
            printf("{\"rawSubscribed\": %d, \"seconds\": %.3f}\n", f->raw,
                   (double)(ferry_mono_ms() - f->start_ms) / 1000.0);
            fflush(stdout);
        }
        f->all_subscribed = all;
        return;
    }
    if (!f->all_subscribed && f->nsubscribed == (size_t)f->raw) {
        f->all_subscribed = true;
        printf("{\"rawSubscribed\": %d}\n", f->raw);
        fflush(stdout);
    }
    while (f->raw_got >= (long)f->raw * (f->round + 1)) {
        f->round++;
        printf("{\"rawRound\": %d, \"wallMs\": %lld}\n", f->round, (long long)ferry_now_ms());
        fflush(stdout);
    }
    if (f->publish_asked && f->pub_up) {
        unsigned char *payload = calloc(1, (size_t)f->raw_bytes);
        if (payload == NULL)
            return;
        f->publish_asked = false;
        printf("{\"rawPublished\": true, \"wallMs\": %lld}\n", (long long)ferry_now_ms());
        fflush(stdout);
        ferry_mqtt_publish(f->pub, "bench/raw", payload, (size_t)f->raw_bytes, NULL);
        free(payload);
    }
}

/* ---- the loop ---- */

/* Print a line when every node is connected, has had a node.sync since it connected, and runs
 * what --expect asks: after a broker restart, every node reconnected and converged. */
static void check_settled(fleet *f) {
    bool now = f->expect != NULL && f->nup == (size_t)f->nodes && f->nsynced == (size_t)f->nodes &&
               f->nconverged == (size_t)f->nodes;
    if (now && !f->settled) {
        printf("{\"settled\": true, \"seconds\": %.3f, \"rx\": %ld, \"rxBytes\": %ld}\n",
               (double)(ferry_mono_ms() - f->start_ms) / 1000.0, f->rx, f->rx_bytes);
        fflush(stdout);
    }
    f->settled = now;
}

/* SIGHUP: read --expect again (the benchmark changed what nodes should run) and print when every
 * node runs it (a "converged" line, again). */
static void on_sighup(uv_signal_t *h, int signum) {
    fleet *f = h->data;
    json_t *expect = json_load_file(f->expect_path, 0, NULL);
    (void)signum;
    if (expect == NULL) {
        LOG_ERROR("cannot read %s again; the expectation is unchanged", f->expect_path);
        return;
    }
    json_decref(f->expect);
    f->expect = expect;
    f->converged_ms = 0;
    printf("{\"reloaded\": true, \"converged\": %zu, \"rx\": %ld, \"rxBytes\": %ld}\n",
           f->nconverged, f->rx, f->rx_bytes);
    fflush(stdout);
    for (int i = 0; i < f->nodes; i++)
        check_converged(f, &f->n[i]);
    converged_line(f); /* every node ran it already (none of them changed): the line now */
}

static void on_raw_sighup(uv_signal_t *h, int signum) {
    fleet *f = h->data;
    (void)signum;
    f->publish_asked = true;
    raw_step(f);
}

static void on_wake(void *ud) {
    fleet *f = ud;
    node *list;
    pthread_mutex_lock(&f->lock);
    list = f->dirty_head;
    f->dirty_head = NULL;
    pthread_mutex_unlock(&f->lock);
    /* Clear each node's flag before draining it, reading its link first: once the flag is
     * clear, Paho's threads may put the node on the new list (and wake the loop again). */
    while (list != NULL) {
        node *n = list;
        pthread_mutex_lock(&f->lock);
        list = n->next;
        n->dirty = false;
        pthread_mutex_unlock(&f->lock);
        ferry_mqtt_drain(n->mqtt);
        node_pump(n);
    }
    if (f->raw > 0)
        raw_step(f);
    else
        check_settled(f);
}

static void on_tick(void *ud) {
    fleet *f = ud;
    int64_t now = ferry_mono_ms();
    /* No ferry_mqtt_tick: the clients are made with owner_reconnects, on_connect_timer
     * reconnects them. */
    for (size_t i = 0; i < f->nconnecting; i++) {
        node *n = &f->n[i];
        if (n->session != NULL) {
            ferry_session_tick(n->session, now);
            node_pump(n);
        }
    }
    if (f->report_dirty)
        write_report(f);
    if (++f->ticks % 5 == 0)
        progress(f, "progress");
}

/* Every client connects through here, the first time and after every loss (the clients are
 * made with owner_reconnects): at most --connect-rate starts a second and --connect-window
 * connects in flight. Paho's one receive thread polls every socket of the process per event, so
 * a connect costs more the more clients there are: an open-loop rate that outruns it ends in
 * connect timeouts whose retries pile up (10,000 clients of one process stalled at 5,656 that
 * way, and a broker restart reconnected 5 a second). */
static void start_connect(fleet *f, node *n) {
    n->connecting = true;
    f->ninflight++;
    if (ferry_mqtt_connect(n->mqtt) != FERRY_OK) /* logged; queued again */
        on_down(n, "cannot start connecting");
}

static void on_connect_timer(uv_timer_t *t) {
    fleet *f = t->data;
    size_t total = fleet_size(f);
    size_t batch = (size_t)(f->connect_rate / 20 > 0 ? f->connect_rate / 20 : 1);
    bool all_started = f->nconnecting == total;

    for (size_t k = 0; k < batch && f->ninflight < (size_t)f->connect_window; k++) {
        if (f->nconnecting < total) {
            start_connect(f, &f->n[f->nconnecting++]);
        } else if (f->rq_len > 0) {
            node *n = &f->n[f->rq[f->rq_head]];
            f->rq_head = (f->rq_head + 1) % total;
            f->rq_len--;
            n->queued = false;
            start_connect(f, n);
        } else {
            break;
        }
    }
    if (!all_started && f->nconnecting == total)
        progress(f, "all connects started");
}

static void on_stop(void *ud) {
    fleet *f = ud;
    size_t total = fleet_size(f);
    int64_t t0 = ferry_mono_ms();
    write_report(f);
    progress(f, "stopping");
    uv_close((uv_handle_t *)&f->connect_timer, NULL);
    if (f->expect_path != NULL || f->raw > 0)
        uv_close((uv_handle_t *)&f->sighup, NULL);
    for (size_t i = 0; i < total; i++) {
        ferry_mqtt_destroy(f->n[i].mqtt);
        f->n[i].mqtt = NULL;
    }
    fprintf(stderr, "hollow_fleet: %zu clients destroyed in %.1f s\n", total,
            (double)(ferry_mono_ms() - t0) / 1000.0);
}

/* ---- start-up ---- */

static ferry_err node_open(fleet *f, node *n, size_t i) {
    const char *will_topic = NULL;
    unsigned char *will = NULL;
    size_t will_len = 0;
    char will_sig[FERRY_SIGN_SIG_B64];
    ferry_err err = FERRY_OK;
    bool raw = f->raw > 0;

    n->f = f;
    n->index = i;
    if (raw)
        snprintf(n->name, sizeof(n->name), "%s-%s-%zu", f->prefix,
                 i == (size_t)f->raw ? "pub" : "sub", (size_t)f->first_index + i);
    else
        snprintf(n->name, sizeof(n->name), "%s-%zu", f->prefix, (size_t)f->first_index + i);
    snprintf(n->client_id, sizeof(n->client_id), "node.%s.%s", f->ns, n->name);
    if (!raw) {
        if ((n->running = json_object()) == NULL || (n->held = json_object()) == NULL)
            return FERRY_ENOMEM;
        if ((err = ferry_estore_open_shared(f->env, n->name, &n->store)) != FERRY_OK)
            return err;
        ferry_session_cfg sc = {.ns = f->ns,
                                .node = n->name,
                                .store = n->store,
                                .io = ferry_session_mqtt_io(&n->mqtt),
                                .reconcile_interval_s = f->reconcile_interval_s};
        if ((err = ferry_session_new(&sc, &n->session)) != FERRY_OK ||
            (err = ferry_session_will(n->session, &will_topic, &will, &will_len, will_sig)) !=
                FERRY_OK)
            goto out;
    }
    ferry_mqtt_opts mo = {.uri = f->mqtt_uri,
                          .client_id = n->client_id,
                          .will_topic = will_topic,
                          .will_payload = will,
                          .will_len = will_len,
                          .will_retain = true,
                          .will_on_destroy = false, /* the bench ends; the nodes did not stop */
                          .keepalive_s = 60,
                          .drop_oldest = true,
                          .owner_reconnects = true, /* paced by on_connect_timer */
                          .max_queued_bytes = (size_t)1 << 20,
                          .wake = node_wake,
                          .wake_ctx = n,
                          .handlers = {.on_up = on_up,
                                       .on_down = on_down,
                                       .on_messages = on_messages,
                                       .on_subscribed = on_subscribed,
                                       .on_overflow = on_overflow},
                          .ud = n};
    err = ferry_mqtt_create(&mo, &n->mqtt);
out:
    free(will);
    return err;
}

static void node_close(node *n) {
    ferry_mqtt_destroy(n->mqtt);
    ferry_session_free(n->session);
    ferry_estore_close(n->store);
    json_decref(n->running);
    json_decref(n->held);
    json_decref(n->labels);
}

static const char synopsis[] =
    "hollow_fleet --mqtt URI --ns NS --nodes N --data DIR [--prefix NAME] [--expect FILE] "
    "[--report FILE]\n"
    "       hollow_fleet --mqtt URI --raw N [--first-node I] [--raw-bytes B | --raw-reconnect]";

int main(int argc, char **argv) {
    static fleet f;
    struct rlimit rl;
    size_t total;
    int rc = 1;
    const ferry_opt opts[] = {
        {"mqtt", FERRY_OPT_STRING, &f.mqtt_uri, 0, 0, "URI", "broker (tcp://127.0.0.1:1883)"},
        {"ns", FERRY_OPT_STRING, &f.ns, 0, 0, "NS", "namespace of the nodes (default)"},
        {"nodes", FERRY_OPT_INT, &f.nodes, 1, 1000000, "N", "hollow nodes to run (1)"},
        {"prefix", FERRY_OPT_STRING, &f.prefix, 0, 0, "NAME",
         "nodes are NAME-I .. NAME-(I+N-1), I of --first-node (hollow)"},
        {"first-node", FERRY_OPT_INT, &f.first_index, 0, 10000000, "I",
         "the first node's number (0): several processes share a fleet"},
        {"data", FERRY_OPT_STRING, &f.data_dir, 0, 0, "DIR",
         "the nodes' LMDB stores, one environment in DIR (required)"},
        {"connect-rate", FERRY_OPT_INT, &f.connect_rate, 1, 1000000, "PER_S",
         "MQTT connects started per second (500)"},
        {"connect-window", FERRY_OPT_INT, &f.connect_window, 1, 1000000, "N",
         "at most N connects in flight, first ones and reconnects (200)"},
        {"reconcile-interval", FERRY_OPT_INT, &f.reconcile_interval_s, 1, 86400, "SECONDS",
         "periodic hollow reconciliation of each node (60)"},
        {"expect", FERRY_OPT_STRING, &f.expect_path, 0, 0, "FILE",
         "JSON {\"*\": {app: version}, NODE: {app: version}}: print the time when every node "
         "runs exactly its entry (a node without one: \"*\")"},
        {"first", FERRY_OPT_FLAG, &f.first, 0, 0, NULL, "with --expect: exit 0 once converged"},
        {"report", FERRY_OPT_STRING, &f.report_path, 0, 0, "FILE",
         "JSON of what each node holds and runs, its labels and whether it is connected, "
         "written at convergence, every second something changed, and at exit"},
        {"raw", FERRY_OPT_INT, &f.raw, 1, 1000000, "N",
         "baseline: N plain subscribers of one topic and a publisher, no Ferry: one publish per "
         "SIGHUP; prints when all N are subscribed and each time all N have received one more "
         "(wall-clock ms); runs until SIGTERM"},
        {"raw-bytes", FERRY_OPT_INT, &f.raw_bytes, 1, 4 << 20, "B", "--raw payload size (1024)"},
        {"raw-reconnect", FERRY_OPT_FLAG, &f.raw_reconnect, 0, 0, NULL,
         "with --raw: publish nothing; print a line whenever all N are subscribed (again, after a "
         "broker restart); run until SIGTERM"},
        {"log-level", FERRY_OPT_LOG_LEVEL, NULL, 0, 0, "LEVEL", "error|warn|info|debug (warn)"},
        {NULL, 0, NULL, 0, 0, NULL, NULL}};

    ferry_log_init("hollow_fleet");
    ferry_log_threshold = FERRY_LOG_WARN;
    f.mqtt_uri = "tcp://127.0.0.1:1883";
    f.ns = "default";
    f.prefix = "hollow";
    f.nodes = 1;
    f.connect_rate = 500;
    f.connect_window = 200;
    f.reconcile_interval_s = 60;
    f.raw_bytes = 1024;
    switch (ferry_opts_parse("hollow_fleet", synopsis, opts, argc, argv)) {
    case FERRY_OPTS_HELP:
        return 0;
    case FERRY_OPTS_BAD:
        return 2;
    case FERRY_OPTS_OK:
        break;
    }
    if (f.raw == 0 && f.data_dir == NULL) {
        fprintf(stderr, "hollow_fleet: --data DIR is required\n");
        return 2;
    }
    if (f.raw > 0)
        f.nodes = 0;
    if (f.expect_path != NULL && (f.expect = json_load_file(f.expect_path, 0, NULL)) == NULL) {
        fprintf(stderr, "hollow_fleet: cannot read %s\n", f.expect_path);
        return 2;
    }
    /* Every node holds a socket and its store's files: take all the descriptors allowed. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        fprintf(stderr, "hollow_fleet: RLIMIT_NOFILE %llu\n", (unsigned long long)rl.rlim_cur);
    }
    srand((unsigned)(ferry_now_ms() ^ getpid()));
    pthread_mutex_init(&f.lock, NULL);
    total = (size_t)f.nodes + (f.raw > 0 ? (size_t)f.raw + 1 : 0);
    if (f.raw > 0)
        f.nodes = 0;
    if ((f.n = calloc(total, sizeof(*f.n))) == NULL ||
        (f.rq = calloc(total > 0 ? total : 1, sizeof(*f.rq))) == NULL)
        goto out;
    /* The map starts at 64 KiB a node (the apps of a 10-app bench), at least the default 64 MiB,
     * and doubles as needed. */
    if (f.data_dir != NULL &&
        ferry_estore_env_open(f.data_dir, f.nodes > 1024 ? (size_t)f.nodes << 16 : 0, &f.env) !=
            FERRY_OK) {
        fprintf(stderr, "hollow_fleet: cannot open the stores in %s\n", f.data_dir);
        goto out;
    }
    f.start_ms = ferry_mono_ms();
    for (size_t i = 0; i < total; i++)
        if (node_open(&f, &f.n[i], i) != FERRY_OK) {
            fprintf(stderr, "hollow_fleet: node %zu could not start\n", i);
            progress(&f, "failed");
            goto out;
        }
    if (f.raw > 0)
        f.pub = f.n[f.raw].mqtt;
    progress(&f, "opened");
    ferry_daemon_hooks hooks = {on_wake, on_tick, on_stop, &f};
    if (ferry_daemon_init(&f.d, &hooks) != FERRY_OK)
        goto out;
    uv_timer_init(f.d.loop, &f.connect_timer);
    f.connect_timer.data = &f;
    uv_timer_start(&f.connect_timer, on_connect_timer, 0, 50);
    if (f.expect_path != NULL || f.raw > 0) {
        uv_signal_init(f.d.loop, &f.sighup);
        f.sighup.data = &f;
        uv_signal_start(&f.sighup, f.raw > 0 ? on_raw_sighup : on_sighup, SIGHUP);
    }
    if (f.raw > 0)
        f.nodes = f.raw; /* the progress lines count the subscribers */
    ferry_daemon_run(&f.d);
    rc = f.first && f.expect != NULL && f.converged_ms == 0 ? 1 : 0; /* --first: converged? */
out:
    for (size_t i = 0; f.n != NULL && i < total; i++)
        node_close(&f.n[i]);
    ferry_kv_env_close(f.env);
    free(f.n);
    free(f.rq);
    json_decref(f.expect);
    return rc;
}
