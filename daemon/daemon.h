/* The skeleton both daemons share: command-line options from one table (parsed, range-checked
 * and printed as usage from the same rows), the log level, and a libuv loop with a wake-up
 * handle for other threads, a one-second tick and SIGINT/SIGTERM handling. */
#ifndef FERRY_DAEMON_DAEMON_H
#define FERRY_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

#include "ferry/common.h"

/* ---- options ---- */

typedef enum {
    FERRY_OPT_STRING,    /* target: const char ** (points into argv) */
    FERRY_OPT_INT,       /* target: int *; a decimal integer in [min, max] */
    FERRY_OPT_FLAG,      /* target: bool *; set to true, takes no value */
    FERRY_OPT_LOG_LEVEL, /* target: unused; error|warn|info|debug sets ferry_log_threshold */
} ferry_opt_kind;

/* One option: --name VALUE (or --name=VALUE). The table ends with a row whose name is NULL. */
typedef struct {
    const char *name;
    ferry_opt_kind kind;
    void *target;
    long min, max;     /* FERRY_OPT_INT */
    const char *value; /* the value's name in the usage ("URI", "SECONDS"); NULL for flags */
    const char *help;  /* one line, with the default */
} ferry_opt;

/* What ferry_opts_parse found. */
typedef enum {
    FERRY_OPTS_OK,
    FERRY_OPTS_HELP, /* --help: the usage went to stdout; exit 0 */
    FERRY_OPTS_BAD,  /* a bad option or value: a message naming it went to stderr; exit 2 */
} ferry_opts_result;

/* Parse argv against the table. Targets keep their defaults unless given. Positional arguments
 * are refused. synopsis is the usage's first line after "usage: ". */
ferry_opts_result ferry_opts_parse(const char *program, const char *synopsis, const ferry_opt *opts,
                                   int argc, char **argv);

/* Print the usage built from the table. */
void ferry_opts_usage(FILE *f, const char *synopsis, const ferry_opt *opts);

/* ---- the loop ---- */

/* Callbacks, on the loop thread. on_stop: a signal asked the daemon to stop; stop the producers
 * (threads that call ferry_daemon_wake); the loop then ends once its work is done. */
typedef struct {
    void (*on_wake)(void *ud);
    void (*on_tick)(void *ud); /* every second */
    void (*on_stop)(void *ud);
    void *ud;
} ferry_daemon_hooks;

/* The loop and its handles. Fields are read-only for the owner, loop included. */
typedef struct {
    uv_loop_t *loop;
    uv_async_t wake;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    ferry_daemon_hooks hooks;
    bool running;  /* between init and stop */
    bool stopping; /* a signal arrived */
} ferry_daemon;

/* Set up on uv_default_loop(); SIGPIPE is ignored (sockets report EPIPE instead). */
ferry_err ferry_daemon_init(ferry_daemon *d, const ferry_daemon_hooks *hooks);

/* Any thread: make on_wake run soon (libuv coalesces wake-ups: drain everything each time). ctx
 * is the ferry_daemon, so that it fits callbacks of the form void (*)(void *). */
void ferry_daemon_wake(void *ctx);

/* Run until a signal stopped the daemon and every handle and queued work is done; then close
 * the loop. */
void ferry_daemon_run(ferry_daemon *d);

/* Stop as a signal would (from the loop thread). */
void ferry_daemon_stop(ferry_daemon *d);

#endif
