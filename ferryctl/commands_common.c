/* ferryctl commands: resources, namespaced requests and their errors, all pages of a list, output.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "ferry/common.h"
#include "manifest.h"

bool ctl_resource(const char *arg, const char **collection, const char **singular) {
    static const char *const names[][4] = {
        {"apps", "app", "app", "apps"},
        {"nodes", "node", "node", "no"},
        {"configs", "config", "config", "cfg"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (size_t j = 0; j < 4; j++) {
            if (strcmp(arg, names[i][j]) == 0) {
                *collection = names[i][0];
                *singular = names[i][1];
                return true;
            }
        }
    }
    return false;
}

int ctl_ns_request(ctl_client *c, const char *method, const char *ns, const char *coll,
                   const char *name, const char *sub, const char *query, const json_t *body,
                   long *status, json_t **reply) {
    char *ens = ctl_escape(c, ns), *ename = name != NULL ? ctl_escape(c, name) : NULL;
    char path[2048];
    int rc = CTL_EXIT_ERROR;
    *status = 0;
    *reply = NULL;
    if (ens == NULL || (name != NULL && ename == NULL)) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    int n = snprintf(path, sizeof(path), "/v1/namespaces/%s/%s%s%s%s%s%s%s", ens, coll,
                     ename != NULL ? "/" : "", ename != NULL ? ename : "", sub != NULL ? "/" : "",
                     sub != NULL ? sub : "", query != NULL ? "?" : "", query != NULL ? query : "");
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "error: request path too long\n");
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    rc = ctl_request(c, method, path, body, status, reply);
out:
    ctl_free_escaped(ens);
    ctl_free_escaped(ename);
    return rc;
}

int ctl_api_fail(const char *prefix, long status, const json_t *reply) {
    char msg[1200];
    ctl_reply_error(status, reply, msg, sizeof(msg));
    fprintf(stderr, "error: %s: %s\n", prefix, msg);
    return CTL_EXIT_ERROR;
}

int ctl_list_all(ctl_client *c, const char *ns, const char *coll, const char *name,
                 const char *selector, long chunk, json_t **items) {
    char *ename = name != NULL ? ctl_escape(c, name) : NULL;
    char *esel = selector != NULL ? ctl_escape(c, selector) : NULL;
    json_t *all = json_array(), *names = json_object(), *reply = NULL;
    char query[4096], what[256];
    int rc = CTL_EXIT_ERROR;
    long status = 0;

    *items = NULL;
    if (all == NULL || names == NULL || (name != NULL && ename == NULL) ||
        (selector != NULL && esel == NULL)) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    snprintf(what, sizeof(what), "list %s in namespace %s", coll, ns);
    /* Pages are counted from the first one each time: an item created or deleted between two
     * requests can shift the pages by one; a name seen twice is kept once, and the loop ends
     * when the server's total is reached or a page comes back short. */
    for (long page = 1;; page++) {
        int n = snprintf(query, sizeof(query), "page=%ld&pageSize=%ld%s%s%s%s", page, chunk,
                         ename != NULL ? "&name=" : "", ename != NULL ? ename : "",
                         esel != NULL ? "&selector=" : "", esel != NULL ? esel : "");
        if (n < 0 || (size_t)n >= sizeof(query)) {
            fprintf(stderr, "error: the selector or search text is too long\n");
            rc = CTL_EXIT_USAGE;
            goto out;
        }
        json_decref(reply);
        reply = NULL;
        if ((rc = ctl_ns_request(c, "GET", ns, coll, NULL, NULL, query, NULL, &status, &reply)) !=
            CTL_EXIT_OK)
            goto out;
        if (status != 200) {
            rc = ctl_api_fail(what, status, reply);
            goto out;
        }
        json_t *got = json_object_get(reply, "items");
        size_t i;
        json_t *it;
        json_array_foreach(got, i, it) {
            const char *nm = json_string_value(json_object_get(it, "name"));
            bool seen = nm != NULL && json_object_get(names, nm) != NULL;
            if (nm != NULL && json_object_set_new(names, nm, json_true()) != 0)
                seen = false;
            if (!seen && json_array_append(all, it) != 0) {
                fprintf(stderr, "error: out of memory\n");
                rc = CTL_EXIT_ERROR;
                goto out;
            }
        }
        json_int_t total = json_integer_value(json_object_get(reply, "total"));
        if ((long)json_array_size(got) < chunk || (json_int_t)(page * chunk) >= total)
            break;
    }
    *items = all;
    all = NULL;
    rc = CTL_EXIT_OK;
out:
    json_decref(reply);
    json_decref(all);
    json_decref(names);
    ctl_free_escaped(ename);
    ctl_free_escaped(esel);
    return rc;
}

int ctl_print_value(const json_t *v, const char *fmt) {
    if (strcmp(fmt, "yaml") == 0) {
        if (ctl_yaml_write(stdout, v) != 0) {
            fprintf(stderr, "error: cannot write YAML\n");
            return CTL_EXIT_ERROR;
        }
        return CTL_EXIT_OK;
    }
    if (json_dumpf(v, stdout, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "error: cannot write JSON\n");
        return CTL_EXIT_ERROR;
    }
    fputc('\n', stdout);
    return CTL_EXIT_OK;
}

void ctl_labels_text(const json_t *labels, char *buf, size_t len) {
    const char *k;
    json_t *v;
    size_t at = 0;
    buf[0] = '\0';
    json_object_foreach((json_t *)labels, k, v) {
        int n = snprintf(buf + at, len - at, "%s%s=%s", at > 0 ? "," : "", k,
                         json_string_value(v) != NULL ? json_string_value(v) : "");
        if (n < 0 || (size_t)n >= len - at)
            break;
        at += (size_t)n;
    }
    if (at == 0)
        snprintf(buf, len, "<none>");
}
