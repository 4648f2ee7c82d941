/* broker-bridge stats: per-series rings of call-statistics deltas and their views (see stats.h). */
#include "stats.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/stats.h"
#include "ferry/topics.h"

/* The counters of a series, in the order of the wire's names. */
enum { C_REQUESTS, C_SUCCESS, C_CLIENT, C_SERVER, C_TIMEOUTS, STATS_COUNTERS };
static const char *const counter_names[STATS_COUNTERS] = {"requests", "success", "clientErrors",
                                                          "serverErrors", "timeouts"};

#define STATS_VALUES (STATS_COUNTERS + FERRY_STATS_BUCKETS) /* counters, then the histogram */
#define STATS_FUNCTION_MAX 64                               /* [A-Za-z0-9_-]{1,63} or "*" */

/* One slot: the deltas of the reports whose ts fell in it. */
typedef struct {
    int64_t slot; /* ts / STATS_SLOT_MS of what it holds; -1 when it holds nothing */
    uint32_t v[STATS_VALUES];
} stats_slot;

typedef struct {
    char ns[FERRY_NAME_MAX], app[FERRY_NAME_MAX], node[FERRY_NAME_MAX];
    char service[FERRY_NAME_MAX], function[STATS_FUNCTION_MAX];
    int64_t start;              /* the node's start of the last report */
    int64_t ts;                 /* ts of the last report */
    int64_t touched_ms;         /* the bridge's clock at the last report (eviction) */
    uint64_t cum[STATS_VALUES]; /* the totals of the last report */
    stats_slot ring[STATS_SLOTS];
} stats_series;

struct bridge_stats {
    pthread_mutex_t lock;
    size_t max;
    int64_t created_ms;
    stats_series **series; /* n of them; room for max */
    size_t n;
    json_t *index;         /* "ns/app/node/service/function" -> its position in series */
    int64_t last_sweep_ms; /* the last eviction of idle series */
    int64_t last_warn_ms;  /* the last WARN about refusals */
    size_t refused;        /* refusals since that WARN */
};

ferry_err bridge__stats_new(size_t max_series, int64_t now_ms, bridge_stats **out) {
    bridge_stats *s = ferry_calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL)
        return FERRY_ENOMEM;
    s->max = max_series > 0 ? max_series : STATS_DEFAULT_MAX_SERIES;
    s->created_ms = now_ms;
    s->series = ferry_calloc(s->max, sizeof(*s->series));
    s->index = json_object();
    if (s->series == NULL || s->index == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        json_decref(s->index);
        ferry_free(s->series);
        ferry_free(s);
        return FERRY_ENOMEM;
    }
    *out = s;
    return FERRY_OK;
}

void bridge__stats_free(bridge_stats *s) {
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        ferry_free(s->series[i]);
    ferry_free(s->series);
    json_decref(s->index);
    pthread_mutex_destroy(&s->lock);
    ferry_free(s);
}

static void series_key(char *buf, size_t len, const stats_series *se) {
    snprintf(buf, len, "%s/%s/%s/%s/%s", se->ns, se->app, se->node, se->service, se->function);
}

/* Remove series i (the last one takes its place), lock held. */
static void remove_at(bridge_stats *s, size_t i) {
    char key[5 * FERRY_NAME_MAX];
    series_key(key, sizeof(key), s->series[i]);
    json_object_del(s->index, key);
    ferry_free(s->series[i]);
    s->series[i] = s->series[--s->n];
    s->series[s->n] = NULL;
    if (i < s->n) {
        series_key(key, sizeof(key), s->series[i]);
        json_object_set_new(s->index, key, json_integer((json_int_t)i)); /* replaces: no alloc */
    }
}

/* Evict the series idle for longer than the ring, at most once a second; lock held. */
static void sweep(bridge_stats *s, int64_t now_ms) {
    if (now_ms - s->last_sweep_ms < 1000)
        return;
    s->last_sweep_ms = now_ms;
    for (size_t i = s->n; i-- > 0;) {
        if (now_ms - s->series[i]->touched_ms > (int64_t)STATS_SLOTS * STATS_SLOT_MS)
            remove_at(s, i);
    }
}

/* The series of key, created (with the names given) when absent and there is room; NULL when
 * the table is full or on ENOMEM. *fresh tells a new one. Lock held. */
static stats_series *series_of(bridge_stats *s, const char *ns, const char *app, const char *node,
                               const char *service, const char *function, int64_t now_ms,
                               bool *fresh) {
    char key[5 * FERRY_NAME_MAX];
    snprintf(key, sizeof(key), "%s/%s/%s/%s/%s", ns, app, node, service, function);
    json_t *at = json_object_get(s->index, key);
    *fresh = false;
    if (at != NULL)
        return s->series[json_integer_value(at)];
    if (s->n == s->max)
        sweep(s, now_ms);
    if (s->n == s->max)
        return NULL;
    stats_series *se = ferry_calloc(1, sizeof(*se));
    if (se == NULL)
        return NULL;
    snprintf(se->ns, sizeof(se->ns), "%s", ns);
    snprintf(se->app, sizeof(se->app), "%s", app);
    snprintf(se->node, sizeof(se->node), "%s", node);
    snprintf(se->service, sizeof(se->service), "%s", service);
    snprintf(se->function, sizeof(se->function), "%s", function);
    for (size_t k = 0; k < STATS_SLOTS; k++)
        se->ring[k].slot = -1;
    if (json_object_set_new(s->index, key, json_integer((json_int_t)s->n)) != 0) {
        ferry_free(se);
        return NULL;
    }
    s->series[s->n++] = se;
    *fresh = true;
    return se;
}

/* The totals of one validated calls entry (FERRY_STATS_BUCKETS latency entries, non-negative). */
static void entry_totals(const json_t *call, uint64_t v[STATS_VALUES]) {
    for (size_t c = 0; c < STATS_COUNTERS; c++)
        v[c] = (uint64_t)json_integer_value(json_object_get(call, counter_names[c]));
    const json_t *lat = json_object_get(call, "latency");
    for (size_t k = 0; k < FERRY_STATS_BUCKETS; k++)
        v[STATS_COUNTERS + k] = (uint64_t)json_integer_value(json_array_get(lat, k));
}

static uint32_t sat_add(uint32_t a, uint64_t b) {
    return b >= (uint64_t)(UINT32_MAX - a) ? UINT32_MAX : a + (uint32_t)b;
}

/* Put delta into the slot of ts (already clamped to the ring). */
static void place(stats_series *se, int64_t ts, const uint64_t delta[STATS_VALUES]) {
    int64_t slot = ts / STATS_SLOT_MS;
    stats_slot *sl = &se->ring[slot % STATS_SLOTS];
    if (sl->slot != slot) {
        memset(sl->v, 0, sizeof(sl->v));
        sl->slot = slot;
    }
    for (size_t i = 0; i < STATS_VALUES; i++)
        sl->v[i] = sat_add(sl->v[i], delta[i]);
}

/* One entry of a report, lock held: false when the table had no room for a new series. */
static bool apply(bridge_stats *s, const char *ns, const char *node, int64_t start, int64_t ts,
                  const json_t *call, int64_t now_ms) {
    uint64_t tot[STATS_VALUES], delta[STATS_VALUES];
    bool fresh, restart = false;
    stats_series *se =
        series_of(s, ns, json_string_value(json_object_get(call, "app")), node,
                  json_string_value(json_object_get(call, "service")),
                  json_string_value(json_object_get(call, "function")), now_ms, &fresh);
    if (se == NULL)
        return false;
    entry_totals(call, tot);
    if (fresh) {
        restart = start >= s->created_ms;
        if (!restart)
            memcpy(se->cum, tot, sizeof(tot)); /* a baseline only */
    } else if (start < se->start || (start == se->start && ts <= se->ts)) {
        return true; /* stale: an earlier run of the gateway, a duplicate or overtaken */
    } else if (start > se->start) {
        restart = true;
    } else {
        for (size_t i = 0; i < STATS_VALUES && !restart; i++)
            restart = tot[i] < se->cum[i];
    }
    for (size_t i = 0; i < STATS_VALUES; i++)
        delta[i] = restart ? tot[i] : tot[i] - se->cum[i];
    memcpy(se->cum, tot, sizeof(tot));
    se->start = start;
    se->ts = ts;
    se->touched_ms = now_ms;
    /* A node clock ahead counts at the bridge's now; what is older than the ring moves the
     * baseline only. */
    int64_t at = ts > now_ms ? now_ms : ts;
    if (at > now_ms - (int64_t)STATS_SLOTS * STATS_SLOT_MS && at >= 0)
        place(se, at, delta);
    return true;
}

size_t bridge__stats_report(bridge_stats *s, const char *ns, const char *node, int64_t start,
                            int64_t ts, const json_t *calls, int64_t now_ms) {
    size_t refused = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < json_array_size(calls); i++)
        refused += !apply(s, ns, node, start, ts, json_array_get(calls, i), now_ms);
    s->refused += refused;
    if (s->refused > 0 && now_ms - s->last_warn_ms >= STATS_WARN_EVERY_MS) {
        LOG_WARN("stats: refused %zu new series (latest from node %s/%s): the window holds its "
                 "limit of %zu series (--stats-max-series); they are not shown until series "
                 "idle for an hour make room",
                 s->refused, ns, node, s->max);
        s->refused = 0;
        s->last_warn_ms = now_ms;
    }
    pthread_mutex_unlock(&s->lock);
    return refused;
}

void bridge__stats_drop(bridge_stats *s, const char *ns, const char *app, const char *node) {
    pthread_mutex_lock(&s->lock);
    for (size_t i = s->n; i-- > 0;) {
        const stats_series *se = s->series[i];
        if (strcmp(se->ns, ns) == 0 && (app == NULL || strcmp(se->app, app) == 0) &&
            (node == NULL || strcmp(se->node, node) == 0))
            remove_at(s, i);
    }
    pthread_mutex_unlock(&s->lock);
}

size_t bridge__stats_count(bridge_stats *s) {
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ---- views ----------------------------------------------------------------------------------- */

/* Sums over a window (uint64: no saturation across slots). */
typedef struct {
    uint64_t v[STATS_VALUES];
} stats_sum;

static void sum_add(stats_sum *to, const stats_sum *from) {
    for (size_t i = 0; i < STATS_VALUES; i++)
        to->v[i] += from->v[i];
}

/* {"requests", ..., "qps", "latencyMs": {"p50", "p90", "p99"}} of sum, into obj. */
static bool put_counters(json_t *obj, const stats_sum *sum, int window_s) {
    const uint64_t *lat = sum->v + STATS_COUNTERS;
    bool ok = true;
    for (size_t c = 0; c < STATS_COUNTERS; c++)
        ok = ok &&
             json_object_set_new(obj, counter_names[c], json_integer((json_int_t)sum->v[c])) == 0;
    return ok &&
           json_object_set_new(obj, "qps",
                               json_real((double)sum->v[C_REQUESTS] / (double)window_s)) == 0 &&
           json_object_set_new(obj, "latencyMs",
                               json_pack("{s:f, s:f, s:f}", "p50",
                                         ferry_stats_quantile_ms(lat, 0.5), "p90",
                                         ferry_stats_quantile_ms(lat, 0.9), "p99",
                                         ferry_stats_quantile_ms(lat, 0.99))) == 0;
}

static int cmp_series(const void *a, const void *b) {
    const stats_series *x = *(stats_series *const *)a, *y = *(stats_series *const *)b;
    int c = strcmp(x->node, y->node);
    if (c == 0)
        c = strcmp(x->service, y->service);
    return c != 0 ? c : strcmp(x->function, y->function);
}

/* The views' grouping: one level (the fleet, a node, a service) being summed and listed. */
typedef struct {
    json_t *obj;   /* the level's object; its "total" is set when it closes */
    json_t *items; /* its list of the level below */
    stats_sum sum;
} level;

static bool level_open(level *l, json_t *obj, const char *list) {
    memset(&l->sum, 0, sizeof(l->sum));
    l->obj = obj;
    l->items = json_array();
    return obj != NULL && l->items != NULL && json_object_set(obj, list, l->items) == 0;
}

/* Close l: its total, then append it to up (NULL for the fleet) and add its sum there. */
static bool level_close(level *l, level *up, int window_s) {
    json_t *total = json_object();
    bool ok = total != NULL && put_counters(total, &l->sum, window_s) &&
              json_object_set(l->obj, "total", total) == 0;
    if (up != NULL) {
        ok = ok && json_array_append(up->items, l->obj) == 0;
        sum_add(&up->sum, &l->sum);
    }
    json_decref(total);
    json_decref(l->items);
    json_decref(l->obj);
    l->items = l->obj = NULL;
    return ok;
}

/* Build the view from the matching series (sorted), lock held. */
static bool build_view(stats_series **m, size_t nm, int window_s, int64_t now_ms, json_t *out) {
    int64_t nslots = window_s / (STATS_SLOT_MS / 1000);
    int64_t last = now_ms / STATS_SLOT_MS, first = last - nslots + 1;
    uint64_t *per_slot = ferry_calloc((size_t)nslots, sizeof(uint64_t));
    level fleet = {0}, node = {0}, svc = {0};
    const char *node_name = "", *svc_name = ""; /* of the open levels */
    bool ok = per_slot != NULL && level_open(&fleet, json_incref(out), "nodes");

    for (size_t i = 0; ok && i < nm; i++) {
        const stats_series *se = m[i];
        stats_sum fn = {{0}};
        bool seen = false;
        for (size_t k = 0; k < STATS_SLOTS; k++) {
            const stats_slot *sl = &se->ring[k];
            if (sl->slot < first || sl->slot > last)
                continue;
            for (size_t v = 0; v < STATS_VALUES; v++)
                fn.v[v] += sl->v[v];
            per_slot[sl->slot - first] += sl->v[C_REQUESTS];
            seen = true;
        }
        if (!seen)
            continue; /* no report in the window */
        bool new_node = node.obj == NULL || strcmp(node_name, se->node) != 0;
        bool new_svc = new_node || strcmp(svc_name, se->service) != 0;
        node_name = se->node;
        svc_name = se->service;
        if (new_svc && svc.obj != NULL)
            ok = level_close(&svc, &node, window_s);
        if (new_node && node.obj != NULL)
            ok = ok && level_close(&node, &fleet, window_s);
        if (ok && new_node)
            ok = level_open(&node, json_pack("{s:s}", "node", se->node), "services");
        if (ok && new_svc)
            ok = level_open(&svc, json_pack("{s:s}", "service", se->service), "functions");
        json_t *f = json_pack("{s:s}", "function", se->function);
        ok = ok && f != NULL && put_counters(f, &fn, window_s) &&
             json_array_append(svc.items, f) == 0;
        json_decref(f);
        sum_add(&svc.sum, &fn);
    }
    if (svc.obj != NULL)
        ok = level_close(&svc, &node, window_s) && ok;
    if (node.obj != NULL)
        ok = level_close(&node, &fleet, window_s) && ok;
    if (fleet.obj != NULL)
        ok = level_close(&fleet, NULL, window_s) && ok;
    json_decref(fleet.obj);
    json_t *series = json_array();
    ok = ok && series != NULL && json_object_set(out, "series", series) == 0;
    for (int64_t k = 0; ok && k < nslots; k++)
        ok = json_array_append_new(series,
                                   json_pack("{s:I, s:I, s:f}", "ts",
                                             (json_int_t)((first + k) * STATS_SLOT_MS), "requests",
                                             (json_int_t)per_slot[k], "qps",
                                             (double)per_slot[k] / (STATS_SLOT_MS / 1000))) == 0;
    json_decref(series);
    json_decref(svc.obj);
    json_decref(svc.items);
    json_decref(node.obj);
    json_decref(node.items);
    json_decref(fleet.items);
    ferry_free(per_slot);
    return ok;
}

ferry_err bridge__stats_view(bridge_stats *s, const char *ns, const char *app, int window_s,
                             int64_t now_ms, json_t *out) {
    stats_series **m = NULL;
    size_t nm = 0;
    ferry_err err = FERRY_ENOMEM;

    if (window_s < STATS_MIN_WINDOW_S || window_s > STATS_MAX_WINDOW_S ||
        window_s % (STATS_SLOT_MS / 1000) != 0)
        return FERRY_EINVAL;
    if (json_object_set_new(out, "window", json_integer(window_s)) != 0 ||
        json_object_set_new(out, "interval", json_integer(STATS_SLOT_MS / 1000)) != 0)
        return FERRY_ENOMEM;
    pthread_mutex_lock(&s->lock);
    if (s->n > 0 && (m = ferry_calloc(s->n, sizeof(*m))) == NULL)
        goto out;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->series[i]->ns, ns) == 0 && strcmp(s->series[i]->app, app) == 0)
            m[nm++] = s->series[i];
    }
    if (nm > 1)
        qsort(m, nm, sizeof(*m), cmp_series);
    if (build_view(m, nm, window_s, now_ms, out))
        err = FERRY_OK;
out:
    pthread_mutex_unlock(&s->lock);
    ferry_free(m);
    return err;
}
