/* ferryctl logs: a container's log, fetched from its edge node over MQTT by the bridge
 * (GET /v1/namespaces/{ns}/nodes/{node}/logs; PROTOCOL.md, "logs.request"). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "ferry/labels.h"
#include "ferry/proto.h"

int ctl_cmd_logs(const ctl_cmdline *cl) {
    ctl_client *c = NULL;
    json_t *reply = NULL;
    long status = 0;
    char query[256];
    int rc;

    if (cl->n_args != 1 || cl->node == NULL) {
        fprintf(stderr, "error: logs: give the app and --node NODE; see ferryctl logs --help\n");
        return CTL_EXIT_USAGE;
    }
    const char *app = cl->args[0];
    if (!ferry_name_valid(app) || !ferry_name_valid(cl->node) ||
        (cl->service != NULL && !ferry_name_valid(cl->service))) {
        fprintf(stderr, "error: logs: the app, --node and --service are names (DNS labels)\n");
        return CTL_EXIT_USAGE;
    }
    if (cl->tail < 0 || cl->tail > FERRY_LOGS_MAX_TAIL) {
        fprintf(stderr, "error: logs: --tail must be from 1 to %d\n", FERRY_LOGS_MAX_TAIL);
        return CTL_EXIT_USAGE;
    }
    int n = snprintf(query, sizeof(query), "app=%s&tail=%ld", app, cl->tail > 0 ? cl->tail : 100);
    if (cl->service != NULL)
        n += snprintf(query + n, sizeof(query) - (size_t)n, "&service=%s", cl->service);
    if (cl->since_ms > 0) /* a duration back from now, as kubectl's --since */
        snprintf(query + n, sizeof(query) - (size_t)n, "&since=%lld",
                 (long long)time(NULL) - (long long)(cl->since_ms / 1000));
    if ((rc = ctl_client_open(cl, &c)) != CTL_EXIT_OK)
        return rc;
    const char *ns = cl->ns != NULL ? cl->ns : ctl_client_settings(c)->ns;
    rc = ctl_ns_request(c, "GET", ns, "nodes", cl->node, "logs", query, NULL, &status, &reply);
    if (rc == CTL_EXIT_OK && status != 200) {
        char what[200];
        snprintf(what, sizeof(what), "logs of app %s on node %s", app, cl->node);
        rc = ctl_api_fail(what, status, reply);
    } else if (rc == CTL_EXIT_OK) {
        const char *text = json_string_value(json_object_get(reply, "text"));
        size_t len = json_string_length(json_object_get(reply, "text"));
        if (text != NULL && fwrite(text, 1, len, stdout) != len)
            rc = CTL_EXIT_ERROR;
        if (json_is_true(json_object_get(reply, "truncated")))
            fprintf(stderr,
                    "(the log was cut to its last %d KiB; ask for fewer lines with --tail)\n",
                    FERRY_LOGS_MAX_BYTES / 1024);
    }
    json_decref(reply);
    ctl_client_close(c);
    return rc;
}
