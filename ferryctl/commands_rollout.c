/* ferryctl rollout status: follows an app's deployment status until every targeted node runs the
 * current version, a node fails it, or the deadline passes. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "ferry/common.h"

/* Polls ask for the summary only (?pageSize=0): at 10,000 nodes the whole view is ~11 MB. The
 * nodes are read once, for the report of a failure or a timeout. */
#define POLL_MS 500
#define POLL_QUERY "pageSize=0"
#define BAR_WIDTH 30

typedef struct {
    long long version, targeted, applied, running, failed, succeeded;
    const char *state;
} counts;

static long long num(const json_t *o, const char *k) {
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *str(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static void progress(const char *what, const counts *n, bool tty, char *last, size_t lastlen) {
    char line[512], bar[BAR_WIDTH + 1];
    long long denom = n->targeted > 0 ? n->targeted : 1;
    size_t ok = (size_t)((n->running + n->succeeded) * BAR_WIDTH / denom);
    size_t bad = (size_t)(n->failed * BAR_WIDTH / denom);
    for (size_t i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < ok ? '#' : i < ok + bad ? 'x' : '-';
    bar[BAR_WIDTH] = '\0';
    snprintf(line, sizeof(line),
             "%s version %lld: %lld/%lld applied, %lld running, %lld failed of %lld targeted%s%s",
             what, n->version, n->applied, n->targeted, n->running + n->succeeded, n->failed,
             n->targeted, strcmp(n->state, "Scheduled") == 0 ? " (scheduled)" : "", "");
    if (tty) {
        /* Redraw in place: carriage return, the bar, clear to the end of the line. */
        printf("\r[%s] %s\x1b[K", bar, line);
        fflush(stdout);
    } else if (strcmp(line, last) != 0) {
        printf("%s\n", line);
        fflush(stdout);
    }
    snprintf(last, lastlen, "%s", line);
}

/* The nodes that failed the current version, with their messages and containers. */
static void print_failed(FILE *f, const json_t *st, long long version) {
    size_t i, j;
    json_t *e, *k;
    json_array_foreach(json_object_get(st, "nodes"), i, e) {
        if (strcmp(str(e, "phase"), "Failed") != 0 || num(e, "version") < version)
            continue;
        fprintf(f, "  node %s: %s\n", str(e, "node"),
                str(e, "message")[0] != '\0' ? str(e, "message") : "Failed");
        json_array_foreach(json_object_get(e, "containers"), j, k) {
            fprintf(f, "    container %s: %s, exit code %lld, %lld restarts%s%s\n", str(k, "name"),
                    str(k, "state"), num(k, "exitCode"), num(k, "restarts"),
                    str(k, "error")[0] != '\0' ? ": " : "", str(k, "error"));
        }
    }
}

/* The targeted nodes that do not run the current version yet (at a timeout). */
static void print_waiting(FILE *f, const json_t *st, long long version) {
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "nodes"), i, e) {
        const char *phase = str(e, "phase");
        if (strcmp(phase, "Removed") == 0 ||
            (num(e, "version") >= version &&
             (strcmp(phase, "Running") == 0 || strcmp(phase, "Succeeded") == 0)))
            continue;
        fprintf(f, "  node %s: version %lld, %s%s%s%s\n", str(e, "node"), num(e, "version"), phase,
                json_is_true(json_object_get(e, "online")) ? "" : " (offline)",
                str(e, "message")[0] != '\0' ? ": " : "", str(e, "message"));
    }
}

/* The view with every node, for the report; the polled view when that read fails (its nodes are
 * then missing from the report, not the verdict). New reference. */
static json_t *with_nodes(ctl_client *c, const char *ns, const char *name, json_t *polled) {
    long status = 0;
    json_t *full = NULL;
    if (ctl_ns_request(c, "GET", ns, "apps", name, "status", NULL, NULL, &status, &full) ==
            CTL_EXIT_OK &&
        status == 200)
        return full;
    json_decref(full);
    return json_incref(polled);
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ctl_cmd_rollout(const ctl_cmdline *cl) {
    const char *coll = NULL, *kind = NULL, *name = NULL;
    char what[300], last[512] = "", res[64] = "";
    ctl_client *c = NULL;
    json_t *st = NULL;
    int rc = CTL_EXIT_USAGE;

    /* rollout status app NAME, or rollout status app/NAME */
    if (cl->n_args >= 2 && strcmp(cl->args[0], "status") == 0) {
        const char *slash = strchr(cl->args[1], '/');
        if (slash != NULL && cl->n_args == 2) {
            snprintf(res, sizeof(res), "%.*s", (int)(slash - cl->args[1]), cl->args[1]);
            name = slash + 1;
        } else if (cl->n_args == 3) {
            snprintf(res, sizeof(res), "%s", cl->args[1]);
            name = cl->args[2];
        }
    }
    if (name == NULL || name[0] == '\0' || !ctl_resource(res, &coll, &kind) ||
        strcmp(kind, "app") != 0) {
        fprintf(stderr, "error: rollout: usage: ferryctl rollout status app NAME [--timeout "
                        "DURATION]; see ferryctl rollout --help\n");
        return rc;
    }
    snprintf(what, sizeof(what), "app/%s", name);
    if ((rc = ctl_client_open(cl, &c)) != CTL_EXIT_OK)
        return rc;
    const char *ns = cl->ns != NULL ? cl->ns : ctl_client_settings(c)->ns;
    bool tty = isatty(STDOUT_FILENO) == 1;
    int64_t deadline = ferry_mono_ms() + cl->timeout_ms;
    for (;;) {
        long status = 0;
        json_decref(st);
        st = NULL;
        if ((rc = ctl_ns_request(c, "GET", ns, "apps", name, "status", POLL_QUERY, NULL, &status,
                                 &st)) != CTL_EXIT_OK)
            goto out;
        if (status == 404) {
            fprintf(stderr, "%serror: app \"%s\" not found\n", tty && last[0] != '\0' ? "\n" : "",
                    name);
            rc = CTL_EXIT_ERROR;
            goto out;
        }
        if (status != 200) {
            rc = ctl_api_fail(what, status, st);
            goto out;
        }
        const json_t *sum = json_object_get(st, "summary");
        counts n = {num(st, "version"),     num(sum, "targeted"), num(sum, "applied"),
                    num(sum, "running"),    num(sum, "failed"),   num(sum, "succeeded"),
                    str(sum, "deployState")};
        if (json_is_true(json_object_get(st, "deleted"))) {
            fprintf(stderr, "%serror: app \"%s\" was deleted\n", tty && last[0] != '\0' ? "\n" : "",
                    name);
            rc = CTL_EXIT_ERROR;
            goto out;
        }
        progress(what, &n, tty, last, sizeof(last));
        bool settled = n.applied >= n.targeted && strcmp(n.state, "Scheduled") != 0;
        bool timed_out = ferry_mono_ms() >= deadline;
        if (settled && n.failed == 0 && n.running + n.succeeded >= n.targeted) {
            printf("%s%s version %lld successfully rolled out to %lld node%s\n", tty ? "\n" : "",
                   what, n.version, n.targeted, n.targeted == 1 ? "" : "s");
            rc = CTL_EXIT_OK;
            goto out;
        }
        /* A failure is final once every target reported the version (or time is up): a node
         * still starting could yet succeed, and the answer should name every node that failed. */
        if (n.failed > 0 && (settled || timed_out)) {
            fprintf(stderr, "%serror: %s version %lld failed on %lld of %lld node%s:\n",
                    tty ? "\n" : "", what, n.version, n.failed, n.targeted,
                    n.targeted == 1 ? "" : "s");
            json_t *full = with_nodes(c, ns, name, st);
            print_failed(stderr, full, n.version);
            json_decref(full);
            rc = CTL_EXIT_ERROR;
            goto out;
        }
        if (timed_out) {
            fprintf(stderr, "%serror: timed out waiting for %s version %lld; not running yet:\n",
                    tty ? "\n" : "", what, n.version);
            json_t *full = with_nodes(c, ns, name, st);
            print_waiting(stderr, full, n.version);
            json_decref(full);
            rc = CTL_EXIT_TIMEOUT;
            goto out;
        }
        int64_t left = deadline - ferry_mono_ms();
        sleep_ms(left < POLL_MS ? (left > 0 ? (long)left : 0) : POLL_MS);
    }
out:
    json_decref(st);
    ctl_client_close(c);
    return rc;
}
