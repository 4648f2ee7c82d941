/* Prometheus metrics for both daemons: a registry of counter, gauge and histogram families with
 * labelled series, and its rendering in the text exposition format (version 0.0.4) that
 * Prometheus scrapes. Thread-safe: one mutex per registry; every call is short (a hash look-up
 * and an addition), rendering copies under it.
 *
 * A family is declared once, before any series of it is touched; touching an undeclared family
 * is a programming error and is ignored (logged once per call site would cost more than it
 * helps: the unit test renders every family the daemons declare). Series are created on first
 * use. Labels are given as the text Prometheus puts between the braces, built with
 * ferry_metrics_label, so that a series is found by one string. */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stddef.h>

#include "ferry/common.h"

typedef enum { FERRY_METRIC_COUNTER, FERRY_METRIC_GAUGE, FERRY_METRIC_HISTOGRAM } ferry_metric_type;

typedef struct ferry_metrics ferry_metrics;

ferry_err ferry_metrics_new(ferry_metrics **out);
void ferry_metrics_free(ferry_metrics *m);

/* Declare family name (a Prometheus metric name; static string, not copied, nor is help) of a
 * type; a histogram has nbuckets upper bounds in ascending order (copied; +Inf is implied).
 * FERRY_EINVAL for a name declared twice or bad buckets, FERRY_ENOMEM. */
ferry_err ferry_metrics_declare(ferry_metrics *m, const char *name, ferry_metric_type type,
                                const char *help, const double *buckets, size_t nbuckets);

/* add, set, observe and clear do nothing on a NULL registry: a daemon that serves no metrics
 * counts nothing. */

/* A counter or gauge series grows by v (a counter never by less than 0: ignored). */
void ferry_metrics_add(ferry_metrics *m, const char *name, const char *labels, double v);
/* A gauge series becomes v. */
void ferry_metrics_set(ferry_metrics *m, const char *name, const char *labels, double v);
/* A histogram series observes v. */
void ferry_metrics_observe(ferry_metrics *m, const char *name, const char *labels, double v);
/* Every series of a family is forgotten (gauges recomputed from scratch at each scrape). */
void ferry_metrics_clear(ferry_metrics *m, const char *name);

/* Append `key="value"` to buf (len bytes, NUL-terminated, a comma first when buf is not empty),
 * the value escaped as the format asks (backslash, double quote, newline). Returns false when it
 * did not fit (buf unchanged). */
bool ferry_metrics_label(char *buf, size_t len, const char *key, const char *value);

/* The whole registry as the text format; *text is new (ferry_free), *len its length. */
ferry_err ferry_metrics_render(ferry_metrics *m, char **text, size_t *len);

/* A server that serves GET /metrics only: the status for a request head (NUL-terminated, its
 * blank line included or not): 200, 400 (no request line), 404 (another path; a query is
 * ignored), 405 (another method on /metrics). Pure; untrusted input (fuzz/fuzz_metrics_request). */
int ferry_metrics_http_route(const char *head);

/* The content type of what ferry_metrics_render makes. */
#define FERRY_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
