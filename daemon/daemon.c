/* The daemons' skeleton: options from a table, log level, the libuv loop with wake, tick and
 * signals (see daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 64
#define TICK_MS 1000

/* ---- options ---- */

static bool parse_level(const char *s, ferry_log_level *out) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (ferry_log_level)i;
            return true;
        }
    }
    return false;
}

/* A decimal integer in [min, max], the whole string. */
static bool parse_int(const char *s, long min, long max, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

void ferry_opts_usage(FILE *f, const char *synopsis, const ferry_opt *opts) {
    fprintf(f, "usage: %s\n", synopsis);
    for (const ferry_opt *o = opts; o->name != NULL; o++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->value != NULL ? " " : "",
                 o->value != NULL ? o->value : "");
        fprintf(f, "  %-26s %s\n", left, o->help);
    }
    fprintf(f, "  %-26s %s\n", "--help", "print this help and exit");
}

/* Apply one option's value; false (with a message on stderr) when it is not acceptable. */
static bool apply(const char *program, const ferry_opt *o, const char *arg) {
    ferry_log_level level;
    switch (o->kind) {
    case FERRY_OPT_STRING:
        *(const char **)o->target = arg;
        return true;
    case FERRY_OPT_INT:
        if (parse_int(arg, o->min, o->max, o->target))
            return true;
        fprintf(stderr, "%s: --%s: '%s' is not an integer between %ld and %ld\n", program, o->name,
                arg, o->min, o->max);
        return false;
    case FERRY_OPT_FLAG:
        *(bool *)o->target = true;
        return true;
    case FERRY_OPT_LOG_LEVEL:
        if (parse_level(arg, &level)) {
            ferry_log_threshold = level;
            return true;
        }
        fprintf(stderr, "%s: --%s: '%s' is not one of error|warn|info|debug\n", program, o->name,
                arg);
        return false;
    }
    return false;
}

ferry_opts_result ferry_opts_parse(const char *program, const char *synopsis, const ferry_opt *opts,
                                   int argc, char **argv) {
    struct option longs[MAX_OPTS + 2];
    size_t n = 0;
    int c, index;

    for (const ferry_opt *o = opts; o->name != NULL && n < MAX_OPTS; o++, n++)
        longs[n] = (struct option){
            o->name, o->kind == FERRY_OPT_FLAG ? no_argument : required_argument, NULL, (int)n + 1};
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "h", longs, &index)) != -1) {
        if (c == 'h') {
            ferry_opts_usage(stdout, synopsis, opts);
            return FERRY_OPTS_HELP;
        }
        if (c < 1 || (size_t)c > n) {
            ferry_opts_usage(stderr, synopsis, opts);
            return FERRY_OPTS_BAD;
        }
        if (!apply(program, &opts[c - 1], optarg))
            return FERRY_OPTS_BAD;
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", program, argv[optind]);
        return FERRY_OPTS_BAD;
    }
    return FERRY_OPTS_OK;
}

/* ---- the loop ---- */

static void on_wake(uv_async_t *h) {
    ferry_daemon *d = h->data;
    if (!d->stopping && d->hooks.on_wake != NULL)
        d->hooks.on_wake(d->hooks.ud);
}

static void on_tick(uv_timer_t *h) {
    ferry_daemon *d = h->data;
    if (!d->stopping && d->hooks.on_tick != NULL)
        d->hooks.on_tick(d->hooks.ud);
}

static void on_signal(uv_signal_t *h, int signum) {
    ferry_daemon *d = h->data;
    LOG_INFO("signal %d: stopping", signum);
    ferry_daemon_stop(d);
}

ferry_err ferry_daemon_init(ferry_daemon *d, const ferry_daemon_hooks *hooks) {
    memset(d, 0, sizeof(*d));
    d->hooks = *hooks;
    d->loop = uv_default_loop();
    if (d->loop == NULL)
        return FERRY_ENOMEM;
    signal(SIGPIPE, SIG_IGN);
    uv_async_init(d->loop, &d->wake, on_wake);
    uv_timer_init(d->loop, &d->tick);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sigterm);
    d->wake.data = d->tick.data = d->sigint.data = d->sigterm.data = d;
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    d->running = true;
    return FERRY_OK;
}

void ferry_daemon_wake(void *ctx) {
    ferry_daemon *d = ctx;
    uv_async_send(&d->wake);
}

void ferry_daemon_stop(ferry_daemon *d) {
    if (d->stopping)
        return;
    d->stopping = true;
    /* The producers go first: no thread may poke the wake handle once it is closed. */
    if (d->hooks.on_stop != NULL)
        d->hooks.on_stop(d->hooks.ud);
    uv_close((uv_handle_t *)&d->wake, NULL);
    uv_close((uv_handle_t *)&d->tick, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
}

void ferry_daemon_run(ferry_daemon *d) {
    if (!d->running)
        return;
    uv_run(d->loop, UV_RUN_DEFAULT);
    if (!d->stopping) /* the loop ran dry by itself: close what is left */
        ferry_daemon_stop(d);
    uv_run(d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(d->loop) != 0)
        LOG_WARN("the event loop still had handles open at exit");
    d->running = false;
}
