/* broker-bridge views: the read side of the REST API (apps, nodes, configs, deployment status),
 * built from the stored records in one read transaction each. */
#include "views.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "ferry/quantity.h"
#include "ferry/selector.h"
#include "ferry/topics.h"
#include "records.h"

/* ---- record views ---------------------------------------------------------------------------- */

bool bridge__deploy_at(const json_t *spec, int64_t *at_ms) {
    const char *at = json_string_value(json_object_get(json_object_get(spec, "deploy"), "at"));
    return at != NULL && ferry_time_parse_rfc3339(at, at_ms) == FERRY_OK;
}

/* "deployState" (README.md, "Scheduled deployment"): "Scheduled" until deploy.at, then "Active".
 * The time itself is the spec's deploy.at; the status endpoint shows it normalised as
 * "deployAt". */
json_t *bridge__app_view(const json_t *rec, int64_t now_ms) {
    int64_t at = 0;
    bool scheduled = bridge__deploy_at(json_object_get(rec, "spec"), &at) && at > now_ms;
    json_t *v = json_deep_copy(json_object_get(rec, "spec"));
    if (v == NULL || json_object_set(v, "namespace", json_object_get(rec, "ns")) != 0 ||
        json_object_set(v, "version", json_object_get(rec, "version")) != 0 ||
        json_object_set_new(v, "createdAt", bridge__time(bridge__int(rec, "createdAt"))) != 0 ||
        json_object_set_new(v, "updatedAt", bridge__time(bridge__int(rec, "updatedAt"))) != 0 ||
        json_object_set_new(v, "deployState", json_string(scheduled ? "Scheduled" : "Active")) !=
            0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* What the node reported last: online (false when it never did) and its GPUs (*gpu new or NULL;
 * a stored object that is not of the reported shape is left out). */
static bool node_state(ferry_store_txn *t, const char *ns, const char *node, json_t **gpu) {
    char key[BRIDGE_KEY_MAX];
    json_t *st = NULL;
    bridge__key(key, ns, node, NULL);
    bool online = ferry_store_get(t, FERRY_DB_NODESTATE, key, &st) == FERRY_OK &&
                  json_is_true(json_object_get(st, "online"));
    if (gpu != NULL) {
        json_t *g = json_object_get(st, "gpu");
        *gpu = g != NULL && bridge__gpu_ok(g) ? json_incref(g) : NULL;
    }
    json_decref(st);
    return online;
}

bool bridge__node_online(ferry_store_txn *t, const char *ns, const char *node) {
    return node_state(t, ns, node, NULL);
}

/* The node's "gpu" as it reported it in node.online ({"sharing", "devices"}); absent when it
 * reported none (an older edge-sync, or never online). */
json_t *bridge__node_view(ferry_store_txn *t, const json_t *rec) {
    const char *ns = json_string_value(json_object_get(rec, "ns"));
    const char *name = json_string_value(json_object_get(rec, "name"));
    json_t *gpu = NULL;
    bool online = node_state(t, ns, name, &gpu);
    const json_t *keys = json_object_get(rec, "keys");
    return json_pack("{s:s, s:s, s:O, s:b, s:o*, s:b, s:o*, s:o, s:o}", "name", name, "namespace",
                     ns, "labels", json_object_get(rec, "labels"), "online", online, "gpu", gpu,
                     "enrolled", keys != NULL, "enrolledAt",
                     keys != NULL ? bridge__time(bridge__int(keys, "at")) : NULL, "createdAt",
                     bridge__time(bridge__int(rec, "createdAt")), "updatedAt",
                     bridge__time(bridge__int(rec, "updatedAt")));
}

static ferry_err view_slot(json_t *parent, const char *member, const char *field, void *ctx) {
    (void)field;
    (void)ctx;
    json_t *slot = json_object_get(parent, member);
    if (!bridge__slot_sealed(slot))
        return FERRY_EFORMAT;
    json_t *view = json_pack("{s:O}", "digest", json_object_get(slot, "digest"));
    return view != NULL && json_object_set_new(parent, member, view) == 0 ? FERRY_OK : FERRY_ENOMEM;
}

json_t *bridge__config_view(const json_t *rec) {
    json_t *v = json_deep_copy(json_object_get(rec, "config"));
    if (v == NULL || bridge__each_slot(v, view_slot, NULL) != FERRY_OK ||
        json_object_set(v, "namespace", json_object_get(rec, "ns")) != 0 ||
        json_object_set(v, "version", json_object_get(rec, "version")) != 0 ||
        json_object_set_new(v, "createdAt", bridge__time(bridge__int(rec, "createdAt"))) != 0 ||
        json_object_set_new(v, "updatedAt", bridge__time(bridge__int(rec, "updatedAt"))) != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- read operations ------------------------------------------------------------------------- */

/* One API read: inputs, the view being built and the error. */
typedef struct {
    ferry_bridge *b;
    const char *ns;
    const char *name;
    const ferry_bridge_page *page;
    json_t *out;
    ferry_detail *e;
    /* scan state */
    json_t *rec;      /* the app or node the view is about */
    json_t *entries;  /* object: name -> entry */
    json_t *selector; /* node lists: the parsed selector, or NULL */
    int64_t now;      /* wall clock of the read (deployment state) */
    long total;
    ferry_err err;
} read_op;

static ferry_err run_read(ferry_bridge *b, ferry_store_fn fn, read_op *op, json_t **out) {
    op->b = b;
    op->now = ferry_now_ms();
    /* A read transaction is a consistent snapshot on its own: no lock, so reads never wait for
     * writes (nor for a flood of hellos). */
    bridge__index_read_lock(b->index);
    ferry_err err = ferry_store_read(b->store, fn, op);
    bridge__index_unlock(b->index);
    json_decref(op->rec);
    json_decref(op->entries);
    json_decref(op->selector);
    op->rec = op->entries = op->selector = NULL;
    if (err == FERRY_OK && op->out == NULL)
        err = FERRY_ENOMEM;
    if (err == FERRY_OK) {
        *out = op->out;
    } else {
        json_decref(op->out);
        if (err != FERRY_EINVAL && err != FERRY_ENOTFOUND)
            bridge__store_fail(op->e, err);
    }
    op->out = NULL;
    return err;
}

/* op->rec: the app op names, unless it does not exist or was deleted (FERRY_ENOTFOUND, op->e
 * filled). */
static ferry_err live_app(ferry_store_txn *t, read_op *op) {
    ferry_err err = bridge__get_app(t, op->ns, op->name, &op->rec);
    if (err == FERRY_ENOTFOUND ||
        (err == FERRY_OK && json_is_true(json_object_get(op->rec, "deleted"))))
        return ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "app '%s' not found", op->name);
    return err;
}

static ferry_err app_get_txn(ferry_store_txn *t, void *ctx) {
    read_op *op = ctx;
    ferry_err err = live_app(t, op);
    if (err == FERRY_OK)
        op->out = bridge__app_view(op->rec, op->now);
    return err;
}

ferry_err ferry_bridge_app_get(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                               ferry_detail *e) {
    read_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    return err != FERRY_OK ? err : run_read(b, app_get_txn, &op, out);
}

static ferry_err node_get_txn(ferry_store_txn *t, void *ctx) {
    read_op *op = ctx;
    ferry_err err = bridge__get_node(t, op->ns, op->name, &op->rec);
    if (err == FERRY_ENOTFOUND)
        return ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "node '%s' not found", op->name);
    if (err == FERRY_OK)
        op->out = bridge__node_view(t, op->rec);
    return err;
}

ferry_err ferry_bridge_node_get(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                ferry_detail *e) {
    read_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    return err != FERRY_OK ? err : run_read(b, node_get_txn, &op, out);
}

static ferry_err config_get_txn(ferry_store_txn *t, void *ctx) {
    read_op *op = ctx;
    ferry_err err = bridge__get_config(t, op->ns, op->name, &op->rec);
    if (err == FERRY_ENOTFOUND)
        return ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "config '%s' not found", op->name);
    if (err == FERRY_OK)
        op->out = bridge__config_view(op->rec);
    return err;
}

ferry_err ferry_bridge_config_get(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                  ferry_detail *e) {
    read_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    return err != FERRY_OK ? err : run_read(b, config_get_txn, &op, out);
}

/* ---- lists ----------------------------------------------------------------------------------- */

typedef struct {
    read_op *op;
    ferry_store_txn *t;
    ferry_db db;  /* apps, nodes or configs */
    json_t *page; /* apps and nodes: the names on the page, from the index */
    /* The name filter in lower case: index names are DNS labels (lower case already), so a
     * plain strstr finds what strcasestr would, several times faster over 100,000 names. */
    char needle[FERRY_NAME_MAX];
    bool filter;      /* a name filter was given */
    bool needle_fits; /* false: it is longer than any name, nothing matches */
} list_scan;

static bool name_matches(const ferry_bridge_page *pg, const char *name) {
    return pg->name == NULL || pg->name[0] == '\0' || strcasestr(name, pg->name) != NULL;
}

/* Whether the next match is on the page; counts it. */
static bool on_page(read_op *op) {
    const ferry_bridge_page *pg = op->page;
    long index = op->total++;
    return index >= (pg->page - 1) * pg->page_size && index < pg->page * pg->page_size;
}

/* Configs (a few per namespace): every record, checked. */
static bool config_each(const char *key, const json_t *rec, void *ctx) {
    list_scan *ls = ctx;
    read_op *op = ls->op;
    const ferry_bridge_page *pg = op->page;
    if (!bridge__config_record_ok(key, rec)) {
        op->err = FERRY_EFORMAT;
        return false;
    }
    if (!name_matches(pg, json_string_value(json_object_get(rec, "name"))) ||
        (pg->kind != NULL &&
         strcmp(json_string_value(json_object_get(rec, "kind")), pg->kind) != 0) ||
        !on_page(op))
        return true;
    if (json_array_append_new(json_object_get(op->out, "items"), bridge__config_view(rec)) != 0) {
        op->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

/* Apps and nodes: the index in name order (no tombstones in it), filtered (a node selector is
 * checked by bridge__index_nodes_for); a name on the page is kept, and only those records are
 * read. */
static bool index_each(const char *name, const json_t *item, void *ctx) {
    list_scan *ls = ctx;
    read_op *op = ls->op;
    (void)item;
    if ((ls->filter && (!ls->needle_fits || strstr(name, ls->needle) == NULL)) || !on_page(op))
        return true;
    if (json_array_append_new(ls->page, json_string(name)) != 0) {
        op->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

/* The views of the records on the page. */
static ferry_err page_views(list_scan *ls) {
    read_op *op = ls->op;
    json_t *items = json_object_get(op->out, "items");
    size_t i;
    json_t *v;
    json_array_foreach(ls->page, i, v) {
        const char *name = json_string_value(v);
        json_t *rec = NULL;
        ferry_err err = ls->db == FERRY_DB_APPS ? bridge__get_app(ls->t, op->ns, name, &rec)
                                                : bridge__get_node(ls->t, op->ns, name, &rec);
        if (err != FERRY_OK)
            return err;
        json_t *item = ls->db == FERRY_DB_APPS ? bridge__app_view(rec, op->now)
                                               : bridge__node_view(ls->t, rec);
        json_decref(rec);
        if (json_array_append_new(items, item) != 0)
            return FERRY_ENOMEM;
    }
    return FERRY_OK;
}

static ferry_err list_txn(ferry_store_txn *t, read_op *op, ferry_db db) {
    char prefix[BRIDGE_KEY_MAX];
    list_scan ls = {.op = op, .t = t, .db = db};
    ferry_err err = FERRY_ENOMEM;
    op->out = json_pack("{s:[]}", "items");
    if (op->out == NULL)
        return FERRY_ENOMEM;
    if (db == FERRY_DB_CONFIGS) {
        bridge__key(prefix, op->ns, "", NULL);
        err = ferry_store_scan(t, db, prefix, config_each, &ls);
    } else if ((ls.page = json_array()) != NULL) {
        const char *name = op->page->name != NULL ? op->page->name : "";
        size_t n = strlen(name);
        ls.filter = n > 0;
        ls.needle_fits = n < sizeof(ls.needle); /* longer than any name: nothing matches */
        for (size_t i = 0; ls.needle_fits && i <= n; i++)
            ls.needle[i] = (char)tolower((unsigned char)name[i]);
        bridge_index_kind kind = db == FERRY_DB_APPS ? BRIDGE_INDEX_APPS : BRIDGE_INDEX_NODES;
        err = FERRY_OK;
        if (db == FERRY_DB_NODES && op->selector != NULL)
            err = bridge__index_nodes_for(op->b->index, op->ns, op->selector, index_each, &ls);
        else if (ls.filter && ls.needle_fits)
            err = bridge__index_each_named(op->b->index, kind, op->ns, ls.needle, index_each, &ls);
        else if (!ls.filter)
            bridge__index_each(op->b->index, kind, op->ns, index_each, &ls);
        if (err == FERRY_OK)
            err = op->err != FERRY_OK ? op->err : page_views(&ls);
        json_decref(ls.page);
    }
    if (err == FERRY_OK)
        err = op->err;
    if (err == FERRY_OK &&
        (json_object_set_new(op->out, "total", json_integer(op->total)) != 0 ||
         json_object_set_new(op->out, "page", json_integer(op->page->page)) != 0 ||
         json_object_set_new(op->out, "pageSize", json_integer(op->page->page_size)) != 0))
        err = FERRY_ENOMEM;
    return err;
}

static ferry_err app_list_txn(ferry_store_txn *t, void *ctx) {
    return list_txn(t, ctx, FERRY_DB_APPS);
}

static ferry_err node_list_txn(ferry_store_txn *t, void *ctx) {
    return list_txn(t, ctx, FERRY_DB_NODES);
}

static ferry_err config_list_txn(ferry_store_txn *t, void *ctx) {
    return list_txn(t, ctx, FERRY_DB_CONFIGS);
}

/* page >= 1 and page_size from min_size (1 for lists; 0 for a status view: its summary only) to
 * 1000. */
static ferry_err check_page(const ferry_bridge_page *pg, long min_size, ferry_detail *e) {
    if (pg->page < 1)
        return ferry_fail(e, FERRY_EINVAL, "page", "must be an integer >= 1");
    if (pg->page_size < min_size || pg->page_size > 1000)
        return ferry_fail(e, FERRY_EINVAL, "pageSize", "must be an integer between %ld%s and 1000",
                          min_size, min_size == 0 ? " (the summary only)" : "");
    return FERRY_OK;
}

ferry_err ferry_bridge_app_list(ferry_bridge *b, const char *ns, const ferry_bridge_page *pg,
                                json_t **out, ferry_detail *e) {
    read_op op = {.ns = ns, .page = pg, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, NULL, e);
    if (err == FERRY_OK)
        err = check_page(pg, 1, e);
    return err != FERRY_OK ? err : run_read(b, app_list_txn, &op, out);
}

/* The selector of a node list: the Kubernetes string form, or a JSON object when it starts with
 * '{'. *sel is new (NULL: no selector given). */
static ferry_err parse_selector(const char *text, json_t **sel, ferry_detail *e) {
    json_error_t jerr;
    *sel = NULL;
    if (text == NULL)
        return FERRY_OK;
    if (text[0] != '{')
        return ferry_selector_parse_string(text, sel, e) != FERRY_OK ? FERRY_EINVAL : FERRY_OK;
    if ((*sel = json_loads(text, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
        return ferry_fail(e, FERRY_EINVAL, "selector", "invalid JSON at column %d: %s", jerr.column,
                          jerr.text);
    if (ferry_selector_validate(*sel, "selector", e) != FERRY_OK) {
        json_decref(*sel);
        *sel = NULL;
        return FERRY_EINVAL;
    }
    return FERRY_OK;
}

ferry_err ferry_bridge_node_list(ferry_bridge *b, const char *ns, const ferry_bridge_page *pg,
                                 json_t **out, ferry_detail *e) {
    read_op op = {.ns = ns, .page = pg, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, NULL, e);
    if (err == FERRY_OK)
        err = check_page(pg, 1, e);
    if (err == FERRY_OK)
        err = parse_selector(pg->selector, &op.selector, e);
    return err != FERRY_OK ? err : run_read(b, node_list_txn, &op, out);
}

ferry_err ferry_bridge_config_list(ferry_bridge *b, const char *ns, const ferry_bridge_page *pg,
                                   json_t **out, ferry_detail *e) {
    static const char *const kinds[] = {"config", "secret", "certificate", "registry"};
    read_op op = {.ns = ns, .page = pg, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, NULL, e);
    if (err == FERRY_OK)
        err = check_page(pg, 1, e);
    if (err == FERRY_OK && pg->kind != NULL) {
        bool known = false;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
            known = known || strcmp(pg->kind, kinds[i]) == 0;
        if (!known)
            err = ferry_fail(e, FERRY_EINVAL, "kind",
                             "must be config, secret, certificate or registry");
    }
    return err != FERRY_OK ? err : run_read(b, config_list_txn, &op, out);
}

/* ---- deployment status ----------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The values of obj as an array in key order (new; NULL on ENOMEM). */
static json_t *sorted_values(json_t *obj) {
    size_t n = json_object_size(obj), i = 0;
    const char **keys = ferry_calloc(n ? n : 1, sizeof(*keys));
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    if (keys == NULL || arr == NULL)
        goto fail;
    json_object_foreach(obj, k, v) {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (i = 0; i < n; i++) {
        if (json_array_append(arr, json_object_get(obj, keys[i])) != 0)
            goto fail;
    }
    ferry_free(keys);
    return arr;
fail:
    ferry_free(keys);
    json_decref(arr);
    return NULL;
}

/* Fill a status entry from a status record (or the Pending defaults when st is NULL). */
static int fill_entry(json_t *entry, const json_t *st) {
    static const char *const fields[] = {"version", "phase", "message", "containers"};
    if (st == NULL)
        return json_object_set_new(entry, "version", json_integer(0)) ||
               json_object_set_new(entry, "phase", json_string("Pending")) ||
               json_object_set_new(entry, "message", json_string("")) ||
               json_object_set_new(entry, "containers", json_array());
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (json_object_set(entry, fields[i], json_object_get(st, fields[i])) != 0)
            return -1;
    }
    return 0;
}

/* The walk of an app's status view: its targets (from the index) and its status records (a
 * store scan), both in node name order, merged; each node counted in the summary, and an entry
 * built only for the nodes on the page. */
typedef struct {
    read_op *op;
    ferry_store_txn *t;
    json_int_t version;   /* the app's */
    const char **targets; /* borrowed from the index (the read lock is held) */
    size_t ntargets, captargets, next;
    size_t pos, from, to; /* the view's nodes so far; the page is [from, to) */
    json_t *nodes;        /* the page's entries */
    json_int_t targeted, applied, running, failed, succeeded, scheduled, silent;
} status_walk;

static bool status_target_each(const char *node, const json_t *labels, void *ctx) {
    status_walk *w = ctx;
    (void)labels;
    if (w->ntargets == w->captargets) {
        size_t cap = w->captargets != 0 ? 2 * w->captargets : 256;
        const char **grown = ferry_realloc(w->targets, cap * sizeof(*grown));
        if (grown == NULL) {
            w->op->err = FERRY_ENOMEM;
            return false;
        }
        w->targets = grown;
        w->captargets = cap;
    }
    w->targets[w->ntargets++] = node;
    return true;
}

/* One node of the view, in name order: st its status record (NULL: none, Pending). */
static bool status_node(status_walk *w, const char *node, bool target, const json_t *st) {
    bool on_page = w->pos >= w->from && w->pos < w->to;
    w->pos++;
    const char *phase = st != NULL ? json_string_value(json_object_get(st, "phase")) : "Pending";
    json_int_t version = st != NULL ? json_integer_value(json_object_get(st, "version")) : 0;
    /* A node's state is read only where it shows: on the page, or in a target's count. */
    bool online = (on_page || (target && st != NULL)) && bridge__node_online(w->t, w->op->ns, node);
    if (target) {
        bool current = version >= w->version && strcmp(phase, "Pending") != 0;
        w->targeted++;
        w->applied += current;
        w->running += current && strcmp(phase, "Running") == 0;
        w->failed += current && strcmp(phase, "Failed") == 0;
        w->succeeded += current && strcmp(phase, "Succeeded") == 0;
        w->scheduled += current && strcmp(phase, "Scheduled") == 0;
        w->silent += st == NULL || !online;
    }
    if (!on_page)
        return true;
    json_t *entry = json_pack("{s:s}", "node", node);
    if (entry == NULL || fill_entry(entry, st) != 0 ||
        json_object_set_new(entry, "updatedAt",
                            st != NULL ? bridge__time(bridge__int(st, "updatedAt"))
                                       : json_null()) != 0 ||
        json_object_set_new(entry, "online", json_boolean(online)) != 0 ||
        json_array_append(w->nodes, entry) != 0) {
        json_decref(entry);
        w->op->err = FERRY_ENOMEM;
        return false;
    }
    json_decref(entry);
    return true;
}

/* The targets left that come before node in name order (NULL: all of them), each without a
 * status (Pending). */
static bool targets_before(status_walk *w, const char *node) {
    while (w->next < w->ntargets && (node == NULL || strcmp(w->targets[w->next], node) < 0)) {
        if (!status_node(w, w->targets[w->next++], true, NULL))
            return false;
    }
    return true;
}

/* The targets before node, then node itself. */
static bool status_report_each(const char *key, const json_t *rec, void *ctx) {
    status_walk *w = ctx;
    const char *node = strrchr(key, '/') + 1; /* key: ns/app/node */
    if (!bridge__status_record_ok(key, rec))
        return true;
    if (!targets_before(w, node))
        return false;
    bool target = w->next < w->ntargets && strcmp(w->targets[w->next], node) == 0;
    w->next += target;
    return status_node(w, node, target, rec);
}

/* Summary over the targeted nodes (see README.md, "Deployment status"): applied = reporting the
 * current version in a phase other than Pending; running / failed = of those, in that phase;
 * notReporting = no status for this app at all, or the node is not online. The status records
 * are keyed ns/app/node: the scan meets the nodes in the index's (strcmp) order. */
static ferry_err app_status_txn(ferry_store_txn *t, void *ctx) {
    read_op *op = ctx;
    char prefix[BRIDGE_KEY_MAX];
    status_walk w = {.op = op, .t = t, .to = SIZE_MAX};

    ferry_err err = bridge__get_app(t, op->ns, op->name, &op->rec);
    if (err == FERRY_ENOTFOUND)
        return ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "app '%s' not found", op->name);
    if (err != FERRY_OK)
        return err;
    bool deleted = json_is_true(json_object_get(op->rec, "deleted"));
    w.version = json_integer_value(json_object_get(op->rec, "version"));
    if (op->page != NULL) {
        w.from = (size_t)(op->page->page - 1) * (size_t)op->page->page_size;
        w.to = w.from + (size_t)op->page->page_size;
    }
    if ((w.nodes = json_array()) == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    if (!deleted) {
        const json_t *selector = json_object_get(json_object_get(op->rec, "spec"), "selector");
        if ((err = bridge__index_nodes_for(op->b->index, op->ns, selector, status_target_each,
                                           &w)) != FERRY_OK ||
            (err = op->err) != FERRY_OK)
            goto out;
    }
    bridge__key(prefix, op->ns, op->name, "");
    if ((err = ferry_store_scan(t, FERRY_DB_STATUS, prefix, status_report_each, &w)) != FERRY_OK ||
        (err = op->err) != FERRY_OK)
        goto out;
    if (!targets_before(&w, NULL)) {
        err = op->err;
        goto out;
    }
    /* Scheduled until deploy.at; then Deploying until every target reports the current version
     * (in any phase but Pending and Scheduled), then Deployed. */
    int64_t at = 0;
    bool has_at = bridge__deploy_at(json_object_get(op->rec, "spec"), &at);
    const char *state = deleted                                ? "Deleted"
                        : has_at && at > op->now               ? "Scheduled"
                        : w.applied - w.scheduled < w.targeted ? "Deploying"
                                                               : "Deployed";
    op->out = json_pack("{s:s, s:s, s:I, s:b, s:O, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, "
                        "s:o*}}",
                        "name", op->name, "namespace", op->ns, "version", w.version, "deleted",
                        deleted, "nodes", w.nodes, "summary", "targeted", w.targeted, "applied",
                        w.applied, "running", w.running, "failed", w.failed, "succeeded",
                        w.succeeded, "scheduled", w.scheduled, "notReporting", w.silent,
                        "deployState", state, "deployAt", has_at ? bridge__time(at) : NULL);
    err = FERRY_ENOMEM;
    if (op->out == NULL ||
        (op->page != NULL &&
         (json_object_set_new(op->out, "total", json_integer((json_int_t)w.pos)) != 0 ||
          json_object_set_new(op->out, "page", json_integer(op->page->page)) != 0 ||
          json_object_set_new(op->out, "pageSize", json_integer(op->page->page_size)) != 0)))
        goto out;
    err = FERRY_OK;
out:
    json_decref(w.nodes);
    ferry_free(w.targets);
    return err;
}

ferry_err ferry_bridge_app_status_page(ferry_bridge *b, const char *ns, const char *name,
                                       const ferry_bridge_page *pg, json_t **out, ferry_detail *e) {
    read_op op = {.ns = ns, .name = name, .page = pg, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    if (err == FERRY_OK && pg != NULL)
        err = check_page(pg, 0, e);
    return err != FERRY_OK ? err : run_read(b, app_status_txn, &op, out);
}

ferry_err ferry_bridge_app_status(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                  ferry_detail *e) {
    return ferry_bridge_app_status_page(b, ns, name, NULL, out, e);
}

/* ---- call statistics of one app -------------------------------------------------------------- */

static ferry_err app_stats_txn(ferry_store_txn *t, void *ctx) {
    read_op *op = ctx;
    ferry_err err = live_app(t, op);
    if (err == FERRY_OK)
        op->out = json_pack(
            "{s:s, s:s, s:b}", "namespace", op->ns, "app", op->name, "monitorQps",
            json_is_true(json_object_get(json_object_get(op->rec, "spec"), "monitorQps")));
    return err;
}

/* The app from the store, then the window (stats.h): the window has its own lock and is never
 * read inside a store transaction. */
ferry_err ferry_bridge_app_stats(ferry_bridge *b, const char *ns, const char *name, long window_s,
                                 json_t **out, ferry_detail *e) {
    read_op op = {.ns = ns, .name = name, .e = e};
    const long step = STATS_SLOT_MS / 1000;
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    if (err != FERRY_OK)
        return err;
    if (window_s < STATS_MIN_WINDOW_S || window_s > STATS_MAX_WINDOW_S)
        return ferry_fail(e, FERRY_EINVAL, "window", "must be a number of seconds from %d to %d",
                          STATS_MIN_WINDOW_S, STATS_MAX_WINDOW_S);
    if ((err = run_read(b, app_stats_txn, &op, out)) != FERRY_OK)
        return err;
    window_s = (window_s + step - 1) / step * step;
    if ((err = bridge__stats_view(b->stats, ns, name, (int)window_s, ferry_now_ms(), *out)) !=
        FERRY_OK) {
        json_decref(*out);
        *out = NULL;
        ferry_fail(e, err, NULL, "out of memory building the statistics");
    }
    return err;
}

/* ---- apps of one node ------------------------------------------------------------------------ */

/* An app that selects the node (from the index). */
static bool node_target_each(const char *app, const json_t *item, void *ctx) {
    read_op *op = ctx;
    (void)item;
    json_t *entry = json_pack("{s:s}", "app", app);
    if (entry == NULL || fill_entry(entry, NULL) != 0 ||
        json_object_set_new(op->entries, app, entry) != 0) {
        op->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

static bool node_report_each(const char *key, const json_t *rec, void *ctx) {
    read_op *op = ctx;
    const char *node = strrchr(key, '/') + 1; /* key: ns/app/node */
    if (strcmp(node, op->name) != 0 || !bridge__status_record_ok(key, rec))
        return true;
    const char *app = json_string_value(json_object_get(rec, "app"));
    json_t *entry = json_object_get(op->entries, app);
    if (entry == NULL) {
        entry = json_pack("{s:s}", "app", app);
        if (entry == NULL || json_object_set_new(op->entries, app, entry) != 0) {
            op->err = FERRY_ENOMEM;
            return false;
        }
    }
    if (fill_entry(entry, rec) != 0) {
        op->err = FERRY_ENOMEM;
        return false;
    }
    return true;
}

static ferry_err node_apps_txn(ferry_store_txn *t, void *ctx) {
    read_op *op = ctx;
    char prefix[BRIDGE_KEY_MAX];

    ferry_err err = bridge__get_node(t, op->ns, op->name, &op->rec);
    if (err != FERRY_OK && err != FERRY_ENOTFOUND)
        return err;
    if ((op->entries = json_object()) == NULL)
        return FERRY_ENOMEM;
    bridge__key(prefix, op->ns, "", NULL);
    if (op->rec != NULL &&
        ((err = bridge__index_apps_for(op->b->index, op->ns, json_object_get(op->rec, "labels"),
                                       node_target_each, op)) != FERRY_OK ||
         (err = op->err) != FERRY_OK))
        return err;
    /* Statuses are keyed ns/app/node: the node's are spread over the namespace. */
    if ((err = ferry_store_scan(t, FERRY_DB_STATUS, prefix, node_report_each, op)) != FERRY_OK ||
        (err = op->err) != FERRY_OK)
        return err;
    if (op->rec == NULL && json_object_size(op->entries) == 0)
        return ferry_fail(op->e, FERRY_ENOTFOUND, NULL, "node '%s' not found", op->name);
    json_t *apps = sorted_values(op->entries);
    if (apps == NULL)
        return FERRY_ENOMEM;
    json_t *gpu = NULL;
    bool online = node_state(t, op->ns, op->name, &gpu);
    op->out = json_pack("{s:s, s:b, s:o*, s:o}", "node", op->name, "online", online, "gpu", gpu,
                        "apps", apps);
    return op->out != NULL ? FERRY_OK : FERRY_ENOMEM;
}

ferry_err ferry_bridge_node_apps(ferry_bridge *b, const char *ns, const char *name, json_t **out,
                                 ferry_detail *e) {
    read_op op = {.ns = ns, .name = name, .e = e};
    *out = NULL;
    ferry_err err = bridge__check_names(ns, name, e);
    return err != FERRY_OK ? err : run_read(b, node_apps_txn, &op, out);
}
