/* ferryctl API commands: the parsed command line they share, their exit codes and entry points. */
#ifndef FERRYCTL_CLI_H
#define FERRYCTL_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Exit codes of every API command (ferryctl --help and docs/ferryctl.md list them). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1,       /* the server refused or failed a request; a rollout failed */
    CTL_EXIT_USAGE = 2,       /* bad command line, unreadable or invalid manifest, config file */
    CTL_EXIT_UNREACHABLE = 3, /* no answer from the server (connection, TLS, timeout of a call) */
    CTL_EXIT_TIMEOUT = 4,     /* rollout status: the deadline passed first */
};

#define CTL_MAX_FILES 64

/* The command line after the command's name: options (any order, getopt_long) and the other
 * arguments. Strings point into argv. */
typedef struct {
    /* connection (client.h) */
    const char *server, *token, *config, *ca;
    const char *ns; /* -n; NULL: the config file's, else "default" */
    /* get */
    const char *selector; /* -l */
    const char *search;   /* --search: the API's fuzzy name filter */
    const char *output;   /* -o: NULL (table), wide, json, yaml, name */
    long chunk_size;      /* --chunk-size: items per page request */
    /* apply */
    const char *files[CTL_MAX_FILES]; /* -f, repeatable */
    size_t n_files;
    /* label */
    bool overwrite;
    /* rollout status */
    long timeout_ms;
    /* logs */
    const char *node, *service;
    long tail;     /* 0: the server's default (100) */
    long since_ms; /* --since: how far back; 0: the whole log */
    /* the rest */
    char **args;
    int n_args;
} ctl_cmdline;

/* The commands: each prints its results and errors and returns an exit code above. */
int ctl_cmd_apply(const ctl_cmdline *cl);
int ctl_cmd_get(const ctl_cmdline *cl);
int ctl_cmd_describe(const ctl_cmdline *cl);
int ctl_cmd_delete(const ctl_cmdline *cl);
int ctl_cmd_label(const ctl_cmdline *cl);
int ctl_cmd_rollout(const ctl_cmdline *cl);
int ctl_cmd_logs(const ctl_cmdline *cl);

/* The resource named by a command argument ("app", "apps", "a" ...): its API collection ("apps",
 * "nodes", "configs") and its singular ("app", ...); false when unknown. */
bool ctl_resource(const char *arg, const char **collection, const char **singular);

#endif
