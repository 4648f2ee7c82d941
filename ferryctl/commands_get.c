/* ferryctl get and describe: lists and items as tables, JSON, YAML or names; the detail of one. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ferry/common.h"
#include "ferry/selector.h"
#include "table.h"

#define NOT_FOUND_FMT "%s \"%s\" not found"

typedef struct {
    ctl_client *c;
    const ctl_cmdline *cl;
    const char *ns, *coll, *kind; /* kind: "app", "node", "config" */
    int64_t now;
} get_ctx;

static const char *str(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* The manifest kind of a resource ("App") for output that apply takes back. */
static const char *manifest_kind(const char *kind) {
    return strcmp(kind, "app") == 0 ? "App" : strcmp(kind, "node") == 0 ? "Node" : "Config";
}

/* item with apiVersion and kind first (new), so that get -o yaml can be applied again; a
 * config's own kind (config, secret ...) is the manifest's "type". */
static json_t *as_manifest(const char *kind, const json_t *item) {
    json_t *m = json_pack("{s:s, s:s}", "apiVersion", "ferry/v1", "kind", manifest_kind(kind));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)item, k, v) {
        bool type = strcmp(kind, "config") == 0 && strcmp(k, "kind") == 0;
        if (m != NULL && json_object_set(m, type ? "type" : k, v) != 0) {
            json_decref(m);
            m = NULL;
        }
    }
    return m;
}

/* A GET of sub (NULL: the item) of name; *out new on 200. */
static int get_one(get_ctx *g, const char *name, const char *sub, json_t **out) {
    long status = 0;
    char what[300];
    int rc = ctl_ns_request(g->c, "GET", g->ns, g->coll, name, sub, NULL, NULL, &status, out);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (status == 200)
        return CTL_EXIT_OK;
    if (status == 404 && sub == NULL)
        snprintf(what, sizeof(what), NOT_FOUND_FMT, g->kind, name);
    else
        snprintf(what, sizeof(what), "get %s %s%s%s", g->kind, name, sub != NULL ? "/" : "",
                 sub != NULL ? sub : "");
    if (status == 404 && sub == NULL) {
        fprintf(stderr, "error: %s\n", what);
        rc = CTL_EXIT_ERROR;
    } else {
        rc = ctl_api_fail(what, status, *out);
    }
    json_decref(*out);
    *out = NULL;
    return rc;
}

/* ---- tables ---------------------------------------------------------------------------------- */

static void images_text(const json_t *app, char *buf, size_t len) {
    size_t at = 0, i;
    json_t *s;
    buf[0] = '\0';
    json_array_foreach(json_object_get(app, "services"), i, s) {
        const char *img = json_string_value(json_object_get(s, "image"));
        if (img == NULL)
            img = str(s, "runtime");
        int n = snprintf(buf + at, len - at, "%s%s", at > 0 ? "," : "", img);
        if (n < 0 || (size_t)n >= len - at)
            break;
        at += (size_t)n;
    }
}

static void selector_text(const json_t *app, char *buf, size_t len) {
    const json_t *sel = json_object_get(app, "selector");
    size_t at = 0, i;
    json_t *e;
    ctl_labels_text(json_object_get(sel, "matchLabels"), buf, len);
    if (strcmp(buf, "<none>") == 0)
        buf[0] = '\0';
    at = strlen(buf);
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
        char vals[256] = "";
        size_t vat = 0, j;
        json_t *v;
        json_array_foreach(json_object_get(e, "values"), j, v) {
            int n = snprintf(vals + vat, sizeof(vals) - vat, "%s%s", vat > 0 ? "," : "",
                             json_string_value(v) != NULL ? json_string_value(v) : "");
            if (n < 0 || (size_t)n >= sizeof(vals) - vat)
                break;
            vat += (size_t)n;
        }
        const char *op = str(e, "operator");
        int n;
        if (strcmp(op, "Exists") == 0)
            n = snprintf(buf + at, len - at, "%s%s", at > 0 ? "," : "", str(e, "key"));
        else if (strcmp(op, "DoesNotExist") == 0)
            n = snprintf(buf + at, len - at, "%s!%s", at > 0 ? "," : "", str(e, "key"));
        else
            n = snprintf(buf + at, len - at, "%s%s %s (%s)", at > 0 ? "," : "", str(e, "key"),
                         strcmp(op, "In") == 0 ? "in" : "notin", vals);
        if (n < 0 || (size_t)n >= len - at)
            break;
        at += (size_t)n;
    }
    if (at == 0)
        snprintf(buf, len, "<all>");
}

static int app_rows(get_ctx *g, const json_t *items, ctl_table *t) {
    size_t i;
    json_t *app;
    json_array_foreach(items, i, app) {
        char ver[32], tg[32] = "?", run[32] = "?", fail[32] = "?", age[32], sel[512], img[512];
        const char *state = str(app, "deployState");
        json_t *st = NULL;
        int rc = get_one(g, str(app, "name"), "status", &st);
        if (rc == CTL_EXIT_UNREACHABLE)
            return rc;
        if (st != NULL) {
            const json_t *sum = json_object_get(st, "summary");
            snprintf(tg, sizeof(tg), "%lld",
                     (long long)json_integer_value(json_object_get(sum, "targeted")));
            snprintf(run, sizeof(run), "%lld",
                     (long long)json_integer_value(json_object_get(sum, "running")));
            snprintf(fail, sizeof(fail), "%lld",
                     (long long)json_integer_value(json_object_get(sum, "failed")));
            if (json_string_value(json_object_get(sum, "deployState")) != NULL)
                state = json_string_value(json_object_get(sum, "deployState"));
        }
        snprintf(ver, sizeof(ver), "%lld",
                 (long long)json_integer_value(json_object_get(app, "version")));
        ctl_age_since(str(app, "createdAt"), g->now, age, sizeof(age));
        selector_text(app, sel, sizeof(sel));
        images_text(app, img, sizeof(img));
        const char *row[] = {str(app, "name"), ver, tg, run, fail, age, state, sel, img};
        rc = ctl_table_add(t, row);
        json_decref(st);
        if (rc != 0)
            return CTL_EXIT_ERROR;
    }
    return CTL_EXIT_OK;
}

static int node_rows(get_ctx *g, const json_t *items, ctl_table *t) {
    size_t i;
    json_t *node;
    json_array_foreach(items, i, node) {
        char labels[1024], apps[32] = "?", age[32];
        json_t *na = NULL;
        int rc = get_one(g, str(node, "name"), "apps", &na);
        if (rc == CTL_EXIT_UNREACHABLE)
            return rc;
        if (na != NULL)
            snprintf(apps, sizeof(apps), "%zu", json_array_size(json_object_get(na, "apps")));
        json_decref(na);
        ctl_labels_text(json_object_get(node, "labels"), labels, sizeof(labels));
        ctl_age_since(str(node, "createdAt"), g->now, age, sizeof(age));
        const char *row[] = {str(node, "name"),
                             labels,
                             json_is_true(json_object_get(node, "online")) ? "true" : "false",
                             apps,
                             json_is_true(json_object_get(node, "enrolled")) ? "true" : "false",
                             json_object_get(node, "gpu") != NULL ? "yes" : "no",
                             age};
        if (ctl_table_add(t, row) != 0)
            return CTL_EXIT_ERROR;
    }
    return CTL_EXIT_OK;
}

/* How many files or members a config carries (the DATA column). */
static size_t config_entries(const json_t *cfg) {
    const char *kind = str(cfg, "kind");
    if (strcmp(kind, "certificate") == 0)
        return json_object_size(json_object_get(cfg, "certificate"));
    if (strcmp(kind, "registry") == 0)
        return json_object_size(json_object_get(cfg, "registry"));
    return json_object_size(json_object_get(cfg, "data")) +
           json_object_size(json_object_get(cfg, "binaryData"));
}

static int config_rows(get_ctx *g, const json_t *items, ctl_table *t) {
    size_t i;
    json_t *cfg;
    json_array_foreach(items, i, cfg) {
        char ver[32], data[32], age[32], upd[32];
        snprintf(ver, sizeof(ver), "%lld",
                 (long long)json_integer_value(json_object_get(cfg, "version")));
        snprintf(data, sizeof(data), "%zu", config_entries(cfg));
        ctl_age_since(str(cfg, "createdAt"), g->now, age, sizeof(age));
        ctl_age_since(str(cfg, "updatedAt"), g->now, upd, sizeof(upd));
        const char *row[] = {str(cfg, "name"), str(cfg, "kind"), ver, data, age, upd};
        if (ctl_table_add(t, row) != 0)
            return CTL_EXIT_ERROR;
    }
    return CTL_EXIT_OK;
}

static int print_table(get_ctx *g, const json_t *items, bool wide) {
    static const char *const app_h[] = {"NAME", "VERSION", "TARGETED", "RUNNING", "FAILED",
                                        "AGE",  "STATE",   "SELECTOR", "IMAGES"};
    static const char *const node_h[] = {"NAME",     "LABELS", "ONLINE", "APPS",
                                         "ENROLLED", "GPU",    "AGE"};
    static const char *const cfg_h[] = {"NAME", "KIND", "VERSION", "DATA", "AGE", "UPDATED"};
    bool app = strcmp(g->kind, "app") == 0, node = strcmp(g->kind, "node") == 0;
    const char *const *h = app ? app_h : node ? node_h : cfg_h;
    /* The narrow table is the wide one's first columns. */
    size_t cols = app ? (wide ? 9 : 6) : node ? (wide ? 7 : 4) : (wide ? 6 : 5);
    ctl_table *t = ctl_table_new(app ? 9 : node ? 7 : 6, h);
    int rc = CTL_EXIT_ERROR;
    if (t == NULL)
        goto out;
    rc = app ? app_rows(g, items, t) : node ? node_rows(g, items, t) : config_rows(g, items, t);
    if (rc != CTL_EXIT_OK)
        goto out;
    ctl_table_write(t, cols, "", stdout);
out:
    /* The rows fail only for memory (a failed request of one row shows "?" in its cells). */
    if (rc == CTL_EXIT_ERROR)
        fprintf(stderr, "error: out of memory\n");
    ctl_table_free(t);
    return rc;
}

/* ---- get ------------------------------------------------------------------------------------- */

/* Items (apps, configs) whose labels match the selector text; the API filters only nodes. */
static int filter_labels(const char *text, json_t *items) {
    ferry_detail d;
    json_t *sel = NULL;
    if (ferry_selector_parse_string(text, &sel, &d) != FERRY_OK) {
        fprintf(stderr, "error: -l %s: %s: %s\n", text, d.field, d.message);
        return CTL_EXIT_USAGE;
    }
    for (size_t i = json_array_size(items); i > 0; i--) {
        const json_t *labels = json_object_get(json_array_get(items, i - 1), "labels");
        json_t *none = labels == NULL ? json_object() : NULL;
        bool match = ferry_selector_matches(sel, labels != NULL ? labels : none);
        json_decref(none);
        if (!match)
            json_array_remove(items, i - 1);
    }
    json_decref(sel);
    return CTL_EXIT_OK;
}

static int print_items(get_ctx *g, json_t *items, bool single) {
    const char *o = g->cl->output;
    int rc = CTL_EXIT_OK;
    if (o != NULL && strcmp(o, "name") == 0) {
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            printf("%s/%s\n", g->kind, str(it, "name"));
        }
        return CTL_EXIT_OK;
    }
    if (o != NULL && (strcmp(o, "json") == 0 || strcmp(o, "yaml") == 0)) {
        json_t *list = json_array(), *out = NULL;
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            json_array_append_new(list, as_manifest(g->kind, it));
        }
        if (list == NULL || json_array_size(list) != json_array_size(items)) {
            json_decref(list);
            fprintf(stderr, "error: out of memory\n");
            return CTL_EXIT_ERROR;
        }
        out = single ? json_incref(json_array_get(list, 0))
                     : json_pack("{s:s, s:s, s:o}", "apiVersion", "ferry/v1", "kind", "List",
                                 "items", list);
        if (single)
            json_decref(list);
        rc = out != NULL ? ctl_print_value(out, o) : CTL_EXIT_ERROR;
        json_decref(out);
        return rc;
    }
    if (json_array_size(items) == 0) {
        fprintf(stderr, "No %ss found in namespace %s.\n", g->kind, g->ns);
        return CTL_EXIT_OK;
    }
    return print_table(g, items, o != NULL && strcmp(o, "wide") == 0);
}

static int resolve_args(const ctl_cmdline *cl, const char *cmd, get_ctx *g) {
    if (cl->n_args < 1 || !ctl_resource(cl->args[0], &g->coll, &g->kind)) {
        fprintf(stderr, "error: %s: %s (apps, nodes or configs); see ferryctl %s --help\n", cmd,
                cl->n_args < 1 ? "name the resource type" : "unknown resource type", cmd);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

int ctl_cmd_get(const ctl_cmdline *cl) {
    get_ctx g = {.cl = cl, .now = ferry_now_ms()};
    json_t *items = NULL;
    int rc = resolve_args(cl, "get", &g);
    const char *o = cl->output;
    if (rc != CTL_EXIT_OK)
        return rc;
    if (o != NULL && strcmp(o, "wide") != 0 && strcmp(o, "json") != 0 && strcmp(o, "yaml") != 0 &&
        strcmp(o, "name") != 0) {
        fprintf(stderr, "error: -o %s: must be wide, json, yaml or name\n", o);
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_client_open(cl, &g.c)) != CTL_EXIT_OK)
        return rc;
    g.ns = cl->ns != NULL ? cl->ns : ctl_client_settings(g.c)->ns;
    if (cl->n_args > 1) {
        /* Named items: each one that exists is shown; a missing one is an error (exit 1). */
        int worst = CTL_EXIT_OK;
        if ((items = json_array()) == NULL)
            goto oom;
        for (int i = 1; i < cl->n_args; i++) {
            json_t *it = NULL;
            int one = get_one(&g, cl->args[i], NULL, &it);
            if (one == CTL_EXIT_UNREACHABLE) {
                rc = one;
                goto out;
            }
            worst = one > worst ? one : worst;
            if (it != NULL && json_array_append_new(items, it) != 0)
                goto oom;
        }
        rc = json_array_size(items) > 0 ? print_items(&g, items, cl->n_args == 2) : CTL_EXIT_OK;
        rc = rc != CTL_EXIT_OK ? rc : worst;
        goto out;
    }
    bool nodes = strcmp(g.kind, "node") == 0;
    if ((rc = ctl_list_all(g.c, g.ns, g.coll, cl->search, nodes ? cl->selector : NULL,
                           cl->chunk_size, &items)) != CTL_EXIT_OK)
        goto out;
    if (!nodes && cl->selector != NULL && (rc = filter_labels(cl->selector, items)) != CTL_EXIT_OK)
        goto out;
    rc = print_items(&g, items, false);
    goto out;
oom:
    fprintf(stderr, "error: out of memory\n");
    rc = CTL_EXIT_ERROR;
out:
    json_decref(items);
    ctl_client_close(g.c);
    return rc;
}

/* ---- describe -------------------------------------------------------------------------------- */

static void when_text(const char *at, int64_t now, char *buf, size_t len) {
    char age[32];
    if (at == NULL || at[0] == '\0') {
        snprintf(buf, len, "<never>");
        return;
    }
    ctl_age_since(at, now, age, sizeof(age));
    snprintf(buf, len, "%s (%s ago)", at, age);
}

static void field(const char *name, const char *value) {
    printf("%-15s %s\n", name, value);
}

/* A titled table, or "Title:  <none>" when it has no rows. */
static void print_section(const char *title, const ctl_table *t) {
    if (ctl_table_rows(t) == 0) {
        field(title, "<none>");
        return;
    }
    printf("%s\n", title);
    ctl_table_write(t, 32, "  ", stdout);
}

static int describe_containers(ctl_table *ct, const char *owner, const json_t *containers) {
    size_t i;
    json_t *k;
    json_array_foreach(containers, i, k) {
        char restarts[32], code[32];
        snprintf(restarts, sizeof(restarts), "%lld",
                 (long long)json_integer_value(json_object_get(k, "restarts")));
        snprintf(code, sizeof(code), "%lld",
                 (long long)json_integer_value(json_object_get(k, "exitCode")));
        const char *row[] = {owner,    str(k, "name"), str(k, "state"),
                             restarts, code,           str(k, "error")};
        if (ctl_table_add(ct, row) != 0)
            return -1;
    }
    return 0;
}

static int describe_app(get_ctx *g, const char *name) {
    static const char *const node_h[] = {"NODE",   "VERSION",  "PHASE",
                                         "ONLINE", "REPORTED", "MESSAGE"};
    static const char *const cont_h[] = {"NODE",     "CONTAINER", "STATE",
                                         "RESTARTS", "EXIT CODE", "ERROR"};
    static const char *const svc_h[] = {"NAME", "IMAGE", "PORTS"};
    json_t *app = NULL, *st = NULL;
    ctl_table *nt = ctl_table_new(6, node_h), *ct = ctl_table_new(6, cont_h);
    ctl_table *svc = ctl_table_new(3, svc_h), *chg = NULL;
    char buf[1024];
    int rc = get_one(g, name, NULL, &app);
    if (rc != CTL_EXIT_OK)
        goto out;
    if ((rc = get_one(g, name, "status", &st)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_ERROR;
    if (nt == NULL || ct == NULL || svc == NULL)
        goto out;
    field("Name:", str(app, "name"));
    field("Namespace:", str(app, "namespace"));
    snprintf(buf, sizeof(buf), "%lld",
             (long long)json_integer_value(json_object_get(app, "version")));
    field("Version:", buf);
    field("Description:", str(app, "description"));
    ctl_labels_text(json_object_get(app, "labels"), buf, sizeof(buf));
    field("Labels:", buf);
    selector_text(app, buf, sizeof(buf));
    field("Selector:", buf);
    const char *workload = str(app, "workload");
    snprintf(buf, sizeof(buf), "%s, %lld replica(s), restart policy %s",
             workload[0] != '\0' ? workload : "deployment",
             (long long)json_integer_value(json_object_get(app, "replicas")),
             str(app, "restartPolicy"));
    field("Workload:", buf);
    const json_t *sum = json_object_get(st, "summary");
    field("Deploy state:", str(sum, "deployState"));
    if (json_object_get(sum, "deployAt") != NULL)
        field("Deploy at:", str(sum, "deployAt"));
    when_text(str(app, "createdAt"), g->now, buf, sizeof(buf));
    field("Created:", buf);
    when_text(str(app, "updatedAt"), g->now, buf, sizeof(buf));
    field("Updated:", buf);

    size_t i, j;
    json_t *s, *p;
    json_array_foreach(json_object_get(app, "services"), i, s) {
        char ports[256] = "";
        size_t at = 0;
        json_array_foreach(json_object_get(s, "ports"), j, p) {
            json_int_t hp = json_integer_value(json_object_get(p, "hostPort"));
            char hpt[32] = "";
            if (hp > 0)
                snprintf(hpt, sizeof(hpt), "->%lld", (long long)hp);
            int n =
                snprintf(ports + at, sizeof(ports) - at, "%s%lld%s/%s", at > 0 ? "," : "",
                         (long long)json_integer_value(json_object_get(p, "containerPort")), hpt,
                         json_object_get(p, "protocol") != NULL ? str(p, "protocol") : "TCP");
            if (n < 0 || (size_t)n >= sizeof(ports) - at)
                break;
            at += (size_t)n;
        }
        const char *img = json_string_value(json_object_get(s, "image"));
        const char *row[] = {str(s, "name"), img != NULL ? img : str(s, "runtime"), ports};
        if (ctl_table_add(svc, row) != 0)
            goto out;
    }
    print_section("Services:", svc);

    snprintf(buf, sizeof(buf),
             "version %lld: %lld targeted, %lld applied, %lld running, %lld failed, %lld "
             "succeeded, %lld not reporting",
             (long long)json_integer_value(json_object_get(st, "version")),
             (long long)json_integer_value(json_object_get(sum, "targeted")),
             (long long)json_integer_value(json_object_get(sum, "applied")),
             (long long)json_integer_value(json_object_get(sum, "running")),
             (long long)json_integer_value(json_object_get(sum, "failed")),
             (long long)json_integer_value(json_object_get(sum, "succeeded")),
             (long long)json_integer_value(json_object_get(sum, "notReporting")));
    field("Rollout:", buf);
    json_t *e;
    json_array_foreach(json_object_get(st, "nodes"), i, e) {
        char ver[32], rep[64];
        snprintf(ver, sizeof(ver), "%lld",
                 (long long)json_integer_value(json_object_get(e, "version")));
        if (json_is_string(json_object_get(e, "updatedAt")))
            ctl_age_since(str(e, "updatedAt"), g->now, rep, sizeof(rep));
        else
            snprintf(rep, sizeof(rep), "never");
        const char *row[] = {str(e, "node"),
                             ver,
                             str(e, "phase"),
                             json_is_true(json_object_get(e, "online")) ? "true" : "false",
                             rep,
                             str(e, "message")};
        if (ctl_table_add(nt, row) != 0 ||
            describe_containers(ct, str(e, "node"), json_object_get(e, "containers")) != 0)
            goto out;
    }
    print_section("Nodes:", nt);
    print_section("Containers:", ct);
    /* The API keeps the current version and the times of creation and last update, not a
     * history of versions: show what there is and say so. */
    static const char *const chg_h[] = {"CHANGE", "AT", "AGE"};
    chg = ctl_table_new(3, chg_h);
    if (chg == NULL)
        goto out;
    for (int k = 0; k < 2; k++) {
        char what[64], age[32];
        const char *at = str(app, k == 0 ? "updatedAt" : "createdAt");
        if (k == 0)
            snprintf(what, sizeof(what), "version %lld (current)",
                     (long long)json_integer_value(json_object_get(app, "version")));
        else
            snprintf(what, sizeof(what), "created");
        ctl_age_since(at, g->now, age, sizeof(age));
        const char *row[] = {what, at, age};
        if (ctl_table_add(chg, row) != 0)
            goto out;
    }
    print_section("Recent changes:", chg);
    printf("  (the API keeps no history of earlier versions)\n");
    rc = CTL_EXIT_OK;
out:
    if (rc == CTL_EXIT_ERROR && app != NULL && st != NULL)
        fprintf(stderr, "error: out of memory\n");
    ctl_table_free(nt);
    ctl_table_free(ct);
    ctl_table_free(svc);
    ctl_table_free(chg);
    json_decref(app);
    json_decref(st);
    return rc;
}

static int describe_node(get_ctx *g, const char *name) {
    static const char *const app_h[] = {"APP", "VERSION", "PHASE", "MESSAGE"};
    static const char *const cont_h[] = {"APP",      "CONTAINER", "STATE",
                                         "RESTARTS", "EXIT CODE", "ERROR"};
    json_t *node = NULL, *na = NULL;
    ctl_table *at = ctl_table_new(4, app_h), *ct = ctl_table_new(6, cont_h);
    char buf[1024];
    int rc = get_one(g, name, NULL, &node);
    if (rc != CTL_EXIT_OK || (rc = get_one(g, name, "apps", &na)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_ERROR;
    if (at == NULL || ct == NULL)
        goto out;
    field("Name:", str(node, "name"));
    field("Namespace:", str(node, "namespace"));
    ctl_labels_text(json_object_get(node, "labels"), buf, sizeof(buf));
    field("Labels:", buf);
    field("Online:", json_is_true(json_object_get(node, "online")) ? "true" : "false");
    if (json_is_true(json_object_get(node, "enrolled"))) {
        when_text(str(node, "enrolledAt"), g->now, buf, sizeof(buf));
        field("Enrolled:", buf);
    } else {
        field("Enrolled:", "no");
    }
    char *gpu = json_object_get(node, "gpu") != NULL
                    ? json_dumps(json_object_get(node, "gpu"), JSON_COMPACT)
                    : NULL;
    field("GPU:", gpu != NULL ? gpu : "<none reported>");
    free(gpu);
    when_text(str(node, "createdAt"), g->now, buf, sizeof(buf));
    field("Created:", buf);
    when_text(str(node, "updatedAt"), g->now, buf, sizeof(buf));
    field("Updated:", buf);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(na, "apps"), i, e) {
        char ver[32];
        snprintf(ver, sizeof(ver), "%lld",
                 (long long)json_integer_value(json_object_get(e, "version")));
        const char *row[] = {str(e, "app"), ver, str(e, "phase"), str(e, "message")};
        if (ctl_table_add(at, row) != 0 ||
            describe_containers(ct, str(e, "app"), json_object_get(e, "containers")) != 0)
            goto out;
    }
    print_section("Apps:", at);
    print_section("Containers:", ct);
    rc = CTL_EXIT_OK;
out:
    ctl_table_free(at);
    ctl_table_free(ct);
    json_decref(node);
    json_decref(na);
    return rc;
}

static int describe_config(get_ctx *g, const char *name) {
    static const char *const h[] = {"KEY", "SIZE", "VALUE"};
    json_t *cfg = NULL;
    ctl_table *t = ctl_table_new(3, h);
    char buf[1024];
    int rc = get_one(g, name, NULL, &cfg);
    if (rc != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_ERROR;
    if (t == NULL)
        goto out;
    field("Name:", str(cfg, "name"));
    field("Namespace:", str(cfg, "namespace"));
    field("Kind:", str(cfg, "kind"));
    snprintf(buf, sizeof(buf), "%lld",
             (long long)json_integer_value(json_object_get(cfg, "version")));
    field("Version:", buf);
    when_text(str(cfg, "createdAt"), g->now, buf, sizeof(buf));
    field("Created:", buf);
    when_text(str(cfg, "updatedAt"), g->now, buf, sizeof(buf));
    field("Updated:", buf);
    /* Values are not printed (they may be code or long); sealed ones only show their digest. */
    static const char *const maps[] = {"data", "binaryData", "certificate", "registry"};
    for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(cfg, maps[m]), k, v) {
            char key[300], size[32] = "", value[128] = "";
            snprintf(key, sizeof(key), "%s.%s", maps[m], k);
            if (json_is_string(v)) {
                snprintf(size, sizeof(size), "%zu bytes", json_string_length(v));
                if (strcmp(maps[m], "registry") == 0)
                    snprintf(value, sizeof(value), "%s", json_string_value(v));
            } else {
                snprintf(value, sizeof(value), "sealed %s", str(v, "digest"));
            }
            const char *row[] = {key, size, value};
            if (ctl_table_add(t, row) != 0)
                goto out;
        }
    }
    print_section("Data:", t);
    rc = CTL_EXIT_OK;
out:
    ctl_table_free(t);
    json_decref(cfg);
    return rc;
}

int ctl_cmd_describe(const ctl_cmdline *cl) {
    get_ctx g = {.cl = cl, .now = ferry_now_ms()};
    int rc = resolve_args(cl, "describe", &g);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (cl->n_args < 2) {
        fprintf(stderr, "error: describe %s: name one or more; see ferryctl describe --help\n",
                g.kind);
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_client_open(cl, &g.c)) != CTL_EXIT_OK)
        return rc;
    g.ns = cl->ns != NULL ? cl->ns : ctl_client_settings(g.c)->ns;
    for (int i = 1; i < cl->n_args; i++) {
        if (i > 1)
            printf("\n");
        int one = strcmp(g.kind, "app") == 0    ? describe_app(&g, cl->args[i])
                  : strcmp(g.kind, "node") == 0 ? describe_node(&g, cl->args[i])
                                                : describe_config(&g, cl->args[i]);
        rc = one > rc ? one : rc;
        if (one == CTL_EXIT_UNREACHABLE)
            break;
    }
    ctl_client_close(g.c);
    return rc;
}
