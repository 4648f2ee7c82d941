/* edge-sync gateway: the call counters of monitored routes (one series per ns, app, service,
 * function), kept across route table changes and reported by snapshots. */
#include <string.h>

#include "gateway_internal.h"

void ferry_gateway__stats_init(ferry_gateway__stats *st) {
    pthread_mutex_init(&st->mu, NULL);
    st->head = NULL;
}

static void series_free(ferry_gateway__series *s) {
    if (s == NULL)
        return;
    ferry_free(s->ns);
    ferry_free(s->app);
    ferry_free(s->service);
    ferry_free(s->function);
    ferry_free(s);
}

void ferry_gateway__stats_destroy(ferry_gateway__stats *st) {
    ferry_gateway__series *s = st->head;
    while (s != NULL) {
        ferry_gateway__series *next = s->next;
        series_free(s);
        s = next;
    }
    st->head = NULL;
    pthread_mutex_destroy(&st->mu);
}

ferry_gateway__series *ferry_gateway__stats_attach(ferry_gateway__stats *st, const char *ns,
                                                   const char *app, const char *service,
                                                   const char *function) {
    ferry_gateway__series *s;
    pthread_mutex_lock(&st->mu);
    for (s = st->head; s != NULL; s = s->next) {
        if (strcmp(s->service, service) == 0 && strcmp(s->function, function) == 0 &&
            strcmp(s->ns, ns) == 0 && strcmp(s->app, app) == 0) {
            s->refs++;
            goto out;
        }
    }
    s = ferry_calloc(1, sizeof(*s));
    if (s == NULL)
        goto out;
    s->ns = ferry_strdup(ns);
    s->app = ferry_strdup(app);
    s->service = ferry_strdup(service);
    s->function = ferry_strdup(function);
    if (s->ns == NULL || s->app == NULL || s->service == NULL || s->function == NULL) {
        series_free(s);
        s = NULL;
        goto out;
    }
    s->refs = 1;
    s->next = st->head;
    st->head = s;
out:
    pthread_mutex_unlock(&st->mu);
    return s;
}

void ferry_gateway__stats_detach(ferry_gateway__stats *st, ferry_gateway__series *s) {
    if (s == NULL)
        return;
    pthread_mutex_lock(&st->mu);
    if (s->refs > 0)
        s->refs--;
    pthread_mutex_unlock(&st->mu);
}

void ferry_gateway__stats_count(ferry_gateway__stats *st, ferry_gateway__series *s, int status,
                                uint64_t us) {
    if (s == NULL)
        return;
    int bucket = ferry_stats_bucket(us);
    pthread_mutex_lock(&st->mu);
    s->requests++;
    if (status == 504)
        s->timeouts++;
    else if (status >= 500)
        s->server_errors++;
    else if (status >= 400)
        s->client_errors++;
    else
        s->success++;
    s->latency[bucket]++;
    pthread_mutex_unlock(&st->mu);
}

ferry_err ferry_gateway__stats_snapshot(ferry_gateway__stats *st, ferry_gateway_series **out,
                                        size_t *n) {
    ferry_err err = FERRY_OK;
    ferry_gateway_series *arr = NULL;
    size_t count = 0, i = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&st->mu);
    for (ferry_gateway__series *s = st->head; s != NULL; s = s->next)
        count++;
    if (count == 0)
        goto out;
    arr = ferry_calloc(count, sizeof(*arr));
    if (arr == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    for (ferry_gateway__series *s = st->head; s != NULL; s = s->next, i++) {
        ferry_gateway_series *o = &arr[i];
        o->ns = ferry_strdup(s->ns);
        o->app = ferry_strdup(s->app);
        o->service = ferry_strdup(s->service);
        o->function = ferry_strdup(s->function);
        if (o->ns == NULL || o->app == NULL || o->service == NULL || o->function == NULL) {
            ferry_gateway_stats_free(arr, i + 1);
            arr = NULL;
            err = FERRY_ENOMEM;
            goto out;
        }
        o->requests = s->requests;
        o->success = s->success;
        o->client_errors = s->client_errors;
        o->server_errors = s->server_errors;
        o->timeouts = s->timeouts;
        memcpy(o->latency, s->latency, sizeof(o->latency));
    }
    /* Reported once: forget the series no table points at any more. */
    for (ferry_gateway__series **pp = &st->head; *pp != NULL;) {
        ferry_gateway__series *s = *pp;
        if (s->refs == 0) {
            *pp = s->next;
            series_free(s);
        } else {
            pp = &s->next;
        }
    }
    *out = arr;
    *n = count;
out:
    pthread_mutex_unlock(&st->mu);
    return err;
}

void ferry_gateway_stats_free(ferry_gateway_series *s, size_t n) {
    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        ferry_free(s[i].ns);
        ferry_free(s[i].app);
        ferry_free(s[i].service);
        ferry_free(s[i].function);
    }
    ferry_free(s);
}
