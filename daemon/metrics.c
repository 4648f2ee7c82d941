/* Prometheus metrics registry and text exposition (metrics.h). */
#include "metrics.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_FAMILIES 64
#define MAX_BUCKETS 16

typedef struct {
    char *labels;
    double value; /* counter, gauge */
    double sum;   /* histogram */
    unsigned long long count;
    unsigned long long buckets[MAX_BUCKETS]; /* per bucket, not cumulative */
} series;

typedef struct {
    const char *name;
    const char *help;
    ferry_metric_type type;
    double bounds[MAX_BUCKETS];
    size_t nbounds;
    series *s;
    size_t n, cap;
    json_t *where; /* labels -> index in s */
} family;

struct ferry_metrics {
    pthread_mutex_t lock;
    family f[MAX_FAMILIES];
    size_t n;
};

ferry_err ferry_metrics_new(ferry_metrics **out) {
    ferry_metrics *m = ferry_calloc(1, sizeof(*m));
    *out = NULL;
    if (m == NULL)
        return FERRY_ENOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        ferry_free(m);
        return FERRY_ENOMEM;
    }
    *out = m;
    return FERRY_OK;
}

static void family_clear(family *f) {
    for (size_t i = 0; i < f->n; i++)
        ferry_free(f->s[i].labels);
    f->n = 0;
    json_object_clear(f->where);
}

void ferry_metrics_free(ferry_metrics *m) {
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        family_clear(&m->f[i]);
        ferry_free(m->f[i].s);
        json_decref(m->f[i].where);
    }
    pthread_mutex_destroy(&m->lock);
    ferry_free(m);
}

static family *find(ferry_metrics *m, const char *name) {
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->f[i].name, name) == 0)
            return &m->f[i];
    }
    return NULL;
}

ferry_err ferry_metrics_declare(ferry_metrics *m, const char *name, ferry_metric_type type,
                                const char *help, const double *buckets, size_t nbuckets) {
    ferry_err err = FERRY_EINVAL;
    pthread_mutex_lock(&m->lock);
    if (find(m, name) != NULL || m->n == MAX_FAMILIES || nbuckets > MAX_BUCKETS ||
        (type == FERRY_METRIC_HISTOGRAM && nbuckets == 0))
        goto out;
    for (size_t i = 1; i < nbuckets; i++) {
        if (!(buckets[i] > buckets[i - 1]))
            goto out;
    }
    family *f = &m->f[m->n];
    memset(f, 0, sizeof(*f));
    if ((f->where = json_object()) == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    f->name = name;
    f->help = help;
    f->type = type;
    f->nbounds = type == FERRY_METRIC_HISTOGRAM ? nbuckets : 0;
    if (f->nbounds > 0)
        memcpy(f->bounds, buckets, f->nbounds * sizeof(*buckets));
    m->n++;
    err = FERRY_OK;
out:
    pthread_mutex_unlock(&m->lock);
    return err;
}

/* The series of labels in the family of name and type, created when new; NULL when the family is
 * unknown or of another type, or on ENOMEM. Lock held. */
static series *series_of(ferry_metrics *m, const char *name, ferry_metric_type type,
                         const char *labels) {
    family *f = find(m, name);
    if (labels == NULL)
        labels = "";
    if (f == NULL || f->type != type)
        return NULL;
    json_t *at = json_object_get(f->where, labels);
    if (at != NULL)
        return &f->s[json_integer_value(at)];
    if (f->n == f->cap) {
        size_t cap = f->cap != 0 ? 2 * f->cap : 8;
        series *grown = ferry_realloc(f->s, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        f->s = grown;
        f->cap = cap;
    }
    series *s = &f->s[f->n];
    memset(s, 0, sizeof(*s));
    if ((s->labels = ferry_strdup(labels)) == NULL)
        return NULL;
    if (json_object_set_new(f->where, labels, json_integer((json_int_t)f->n)) != 0) {
        ferry_free(s->labels);
        return NULL;
    }
    f->n++;
    return s;
}

void ferry_metrics_add(ferry_metrics *m, const char *name, const char *labels, double v) {
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    family *f = find(m, name);
    if (f != NULL && (f->type == FERRY_METRIC_GAUGE || v >= 0)) {
        series *s = series_of(m, name, f->type, labels);
        if (s != NULL)
            s->value += v;
    }
    pthread_mutex_unlock(&m->lock);
}

void ferry_metrics_set(ferry_metrics *m, const char *name, const char *labels, double v) {
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = series_of(m, name, FERRY_METRIC_GAUGE, labels);
    if (s != NULL)
        s->value = v;
    pthread_mutex_unlock(&m->lock);
}

void ferry_metrics_observe(ferry_metrics *m, const char *name, const char *labels, double v) {
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    family *f = find(m, name);
    series *s = series_of(m, name, FERRY_METRIC_HISTOGRAM, labels);
    if (s != NULL && !isnan(v)) {
        size_t b = 0;
        while (b < f->nbounds && v > f->bounds[b])
            b++;
        if (b < f->nbounds)
            s->buckets[b]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&m->lock);
}

void ferry_metrics_clear(ferry_metrics *m, const char *name) {
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    family *f = find(m, name);
    if (f != NULL)
        family_clear(f);
    pthread_mutex_unlock(&m->lock);
}

bool ferry_metrics_label(char *buf, size_t len, const char *key, const char *value) {
    size_t at = strlen(buf);
    int k = snprintf(buf + at, len - at, "%s%s=\"", at > 0 ? "," : "", key);
    size_t o = at + (size_t)(k > 0 ? k : 0);
    if (k < 0 || o >= len)
        goto full;
    for (const char *p = value; *p != '\0'; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t need = esc != NULL ? 2 : 1;
        if (o + need >= len)
            goto full;
        if (esc != NULL)
            memcpy(buf + o, esc, 2);
        else
            buf[o] = *p;
        o += need;
    }
    if (o + 2 > len)
        goto full;
    buf[o++] = '"';
    buf[o] = '\0';
    return true;
full:
    buf[at] = '\0';
    return false;
}

/* ---- rendering ------------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...) {
    va_list ap;
    for (int round = 0; round < 2 && !t->oom; round++) {
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *grown = ferry_realloc(t->p, cap);
        if (grown == NULL) {
            t->oom = true;
            return;
        }
        t->p = grown;
        t->cap = cap;
    }
}

/* A value as the format writes floats (integers without a fraction). */
static void put_value(text *t, double v) {
    if (isinf(v))
        put(t, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        put(t, "NaN");
    else if (v == floor(v) && fabs(v) < 1e15)
        put(t, "%.0f", v);
    else
        put(t, "%.9g", v);
}

static void render_family(text *t, const family *f) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    put(t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
    for (size_t i = 0; i < f->n; i++) {
        const series *s = &f->s[i];
        const char *sep = s->labels[0] != '\0' ? "," : "";
        if (f->type != FERRY_METRIC_HISTOGRAM) {
            put(t, s->labels[0] != '\0' ? "%s{%s} " : "%s%s ", f->name, s->labels);
            put_value(t, s->value);
            put(t, "\n");
            continue;
        }
        unsigned long long cum = 0;
        for (size_t b = 0; b < f->nbounds; b++) {
            cum += s->buckets[b];
            put(t, "%s_bucket{%s%sle=\"%.6g\"} %llu\n", f->name, s->labels, sep, f->bounds[b], cum);
        }
        put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep, s->count);
        put(t, s->labels[0] != '\0' ? "%s_sum{%s} " : "%s_sum%s ", f->name, s->labels);
        put_value(t, s->sum);
        put(t, s->labels[0] != '\0' ? "\n%s_count{%s} %llu\n" : "\n%s_count%s %llu\n", f->name,
            s->labels, s->count);
    }
}

ferry_err ferry_metrics_render(ferry_metrics *m, char **out, size_t *len) {
    text t = {0};
    *out = NULL;
    *len = 0;
    if ((t.p = ferry_malloc(4096)) == NULL)
        return FERRY_ENOMEM;
    t.cap = 4096;
    t.p[0] = '\0';
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n && !t.oom; i++)
        render_family(&t, &m->f[i]);
    pthread_mutex_unlock(&m->lock);
    if (t.oom) {
        ferry_free(t.p);
        return FERRY_ENOMEM;
    }
    *out = t.p;
    *len = t.len;
    return FERRY_OK;
}

int ferry_metrics_http_route(const char *head) {
    char method[8] = "", target[256] = "";
    /* "METHOD SP TARGET SP HTTP/1.x": what does not fit the fields is not a request line. */
    if (sscanf(head, "%7s %255s HTTP/1.", method, target) != 2)
        return 400;
    target[strcspn(target, "?")] = '\0';
    if (strcmp(target, "/metrics") != 0)
        return 404;
    return strcmp(method, "GET") == 0 ? 200 : 405;
}
