/* ferryctl delete and label: deleting apps, nodes and configs; setting and removing node labels. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ferry/common.h"

int ctl_cmd_delete(const ctl_cmdline *cl) {
    const char *coll = NULL, *kind = NULL;
    ctl_client *c = NULL;
    int rc = CTL_EXIT_OK;
    if (cl->n_args < 2 || !ctl_resource(cl->args[0], &coll, &kind)) {
        fprintf(stderr, "error: delete: give a resource type (app, node, config) and one or more "
                        "names; see ferryctl delete --help\n");
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_client_open(cl, &c)) != CTL_EXIT_OK)
        return rc;
    const char *ns = cl->ns != NULL ? cl->ns : ctl_client_settings(c)->ns;
    for (int i = 1; i < cl->n_args; i++) {
        json_t *reply = NULL;
        long status = 0;
        char what[300];
        int one =
            ctl_ns_request(c, "DELETE", ns, coll, cl->args[i], NULL, NULL, NULL, &status, &reply);
        snprintf(what, sizeof(what), "%s/%s", kind, cl->args[i]);
        if (one == CTL_EXIT_OK && status == 404) {
            fprintf(stderr, "error: %s \"%s\" not found\n", kind, cl->args[i]);
            one = CTL_EXIT_ERROR;
        } else if (one == CTL_EXIT_OK && status != 200) {
            one = ctl_api_fail(what, status, reply);
        } else if (one == CTL_EXIT_OK) {
            printf("%s deleted\n", what);
        }
        json_decref(reply);
        rc = one > rc ? one : rc;
        if (one == CTL_EXIT_UNREACHABLE)
            break;
    }
    ctl_client_close(c);
    return rc;
}

/* Apply "k=v" and "k-" arguments to labels; CTL_EXIT_USAGE naming a bad one. An existing key
 * gets another value only with overwrite (kubectl's rule: a typo should not relabel silently). */
static int edit_labels(const ctl_cmdline *cl, json_t *labels) {
    for (int i = 2; i < cl->n_args; i++) {
        char key[320];
        const char *a = cl->args[i], *eq = strchr(a, '=');
        size_t n = strlen(a);
        if (eq == NULL && n > 1 && a[n - 1] == '-') {
            snprintf(key, sizeof(key), "%.*s", (int)(n - 1), a);
            if (json_object_get(labels, key) == NULL)
                fprintf(stderr, "label \"%s\" not found.\n", key);
            json_object_del(labels, key);
            continue;
        }
        if (eq == NULL || eq == a || (size_t)(eq - a) >= sizeof(key)) {
            fprintf(stderr, "error: label: %s: expected KEY=VALUE or KEY-\n", a);
            return CTL_EXIT_USAGE;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - a), a);
        const char *old = json_string_value(json_object_get(labels, key));
        if (old != NULL && strcmp(old, eq + 1) != 0 && !cl->overwrite) {
            fprintf(stderr,
                    "error: label %s already has the value \"%s\"; give --overwrite to change it\n",
                    key, old);
            return CTL_EXIT_USAGE;
        }
        if (json_object_set_new(labels, key, json_string(eq + 1)) != 0) {
            fprintf(stderr, "error: label %s: the value is not valid UTF-8\n", key);
            return CTL_EXIT_USAGE;
        }
    }
    return CTL_EXIT_OK;
}

int ctl_cmd_label(const ctl_cmdline *cl) {
    const char *coll = NULL, *kind = NULL;
    ctl_client *c = NULL;
    json_t *node = NULL, *labels = NULL, *body = NULL, *reply = NULL;
    long status = 0;
    char what[300];
    int rc = CTL_EXIT_USAGE;

    if (cl->n_args < 3 || !ctl_resource(cl->args[0], &coll, &kind) || strcmp(kind, "node") != 0) {
        fprintf(stderr, "error: label: usage: ferryctl label node NAME KEY=VALUE... KEY-...; "
                        "see ferryctl label --help\n");
        return rc;
    }
    snprintf(what, sizeof(what), "node/%s", cl->args[1]);
    if ((rc = ctl_client_open(cl, &c)) != CTL_EXIT_OK)
        return rc;
    const char *ns = cl->ns != NULL ? cl->ns : ctl_client_settings(c)->ns;
    if ((rc = ctl_ns_request(c, "GET", ns, coll, cl->args[1], NULL, NULL, NULL, &status, &node)) !=
        CTL_EXIT_OK)
        goto out;
    if (status != 200) {
        rc = status == 404
                 ? (fprintf(stderr, "error: node \"%s\" not found\n", cl->args[1]), CTL_EXIT_ERROR)
                 : ctl_api_fail(what, status, node);
        goto out;
    }
    labels = json_deep_copy(json_object_get(node, "labels"));
    if (labels == NULL)
        labels = json_object();
    if ((rc = edit_labels(cl, labels)) != CTL_EXIT_OK)
        goto out;
    if (json_equal(labels, json_object_get(node, "labels"))) {
        printf("%s not labeled\n", what);
        goto out;
    }
    /* Nodes carry no version: the PUT replaces the labels read above. */
    body = json_pack("{s:s, s:O}", "name", cl->args[1], "labels", labels);
    if ((rc = ctl_ns_request(c, "PUT", ns, coll, cl->args[1], NULL, NULL, body, &status, &reply)) !=
        CTL_EXIT_OK)
        goto out;
    rc = status == 200 ? CTL_EXIT_OK : ctl_api_fail(what, status, reply);
    if (rc == CTL_EXIT_OK)
        printf("%s labeled\n", what);
out:
    json_decref(node);
    json_decref(labels);
    json_decref(body);
    json_decref(reply);
    ctl_client_close(c);
    return rc;
}
