/* Broker administration (broker.h): credential names, the broker-neutral policy of a node and of
 * a debug reader, the argument checks every adapter relies on, and the choice of adapter. */
#include "broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/labels.h"

struct ferry_broker {
    const ferry_broker_ops *ops;
};

/* ---- names ----------------------------------------------------------------------------------- */

/* "prefix.a" (b NULL) or "prefix.a.b" into buf: FERRY_ETOOBIG (buf emptied) when it does not
 * fit. */
static ferry_err join(char *buf, size_t len, const char *prefix, const char *a, const char *b) {
    int n;
    if (buf == NULL || len == 0)
        return FERRY_EINVAL;
    if (b != NULL)
        n = snprintf(buf, len, "%s.%s.%s", prefix, a, b);
    else
        n = snprintf(buf, len, "%s.%s", prefix, a);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

static bool name_ok(const char *s) {
    return s != NULL && strnlen(s, FERRY_NAME_MAX) < FERRY_NAME_MAX && ferry_name_valid(s);
}

ferry_err ferry_broker_node_username(const char *ns, const char *node, char *buf, size_t len) {
    if (buf != NULL && len > 0)
        buf[0] = '\0';
    if (!name_ok(ns) || !name_ok(node))
        return FERRY_EINVAL;
    return join(buf, len, "node", ns, node);
}

ferry_err ferry_broker_debug_username(const char *name, char *buf, size_t len) {
    if (buf != NULL && len > 0)
        buf[0] = '\0';
    if (!name_ok(name))
        return FERRY_EINVAL;
    return join(buf, len, "debug", name, NULL);
}

/* ---- policies -------------------------------------------------------------------------------- */

void ferry_broker_policy_free(ferry_broker_policy *p) {
    if (p == NULL)
        return;
    ferry_free(p->rules);
    memset(p, 0, sizeof(*p));
}

/* The next rule of p, its filter built from fmt with ns and node (the node's own topics). */
static ferry_err add_rule(ferry_broker_policy *p, size_t cap, ferry_broker_access access,
                          const char *fmt, const char *ns, const char *node) {
    ferry_broker_rule *r;
    if (p->nrules == cap)
        return FERRY_ETOOBIG;
    r = &p->rules[p->nrules];
    r->access = access;
    if (snprintf(r->filter, sizeof(r->filter), fmt, ns, node) >= (int)sizeof(r->filter))
        return FERRY_ETOOBIG;
    p->nrules++;
    return FERRY_OK;
}

typedef struct {
    const char *key;
    const char *value;
} label;

static int label_cmp(const void *a, const void *b) {
    return strcmp(((const label *)a)->key, ((const label *)b)->key);
}

ferry_err ferry_broker_node_policy(const char *ns, const char *node, const json_t *labels,
                                   ferry_broker_policy *out) {
    /* The node's own topics, as ferry_topic_build spells them (names need no encoding). */
    static const struct {
        ferry_broker_access access;
        const char *fmt;
    } own[] = {
        {FERRY_BROKER_PUBLISH, "ferry/%s/nodes/%s/hello"},
        {FERRY_BROKER_PUBLISH, "ferry/%s/nodes/%s/online"},
        {FERRY_BROKER_PUBLISH, "ferry/%s/nodes/%s/status/+"},
        {FERRY_BROKER_PUBLISH, "ferry/%s/nodes/%s/stats"},
        {FERRY_BROKER_PUBLISH, "ferry/%s/nodes/%s/logs/reply"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/%s/nodes/%s/sync"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/%s/nodes/%s/secrets/+"},
        {FERRY_BROKER_SUBSCRIBE, "ferry/%s/nodes/%s/logs/request"},
    };
    const size_t nown = sizeof(own) / sizeof(own[0]);
    label *sorted = NULL;
    size_t nlabels, cap, i = 0;
    const char *key;
    json_t *value;
    ferry_broker_rule *r;
    ferry_err err;

    if (out == NULL)
        return FERRY_EINVAL;
    memset(out, 0, sizeof(*out));
    if (labels != NULL && (err = ferry_labels_validate(labels, "labels", NULL)) != FERRY_OK)
        return err;
    if (ferry_broker_node_username(ns, node, out->username, sizeof(out->username)) != FERRY_OK)
        return FERRY_EINVAL;
    memcpy(out->client_id, out->username, sizeof(out->client_id));
    nlabels = labels != NULL ? json_object_size(labels) : 0;
    cap = nown + 1 + nlabels;
    out->rules = ferry_calloc(cap, sizeof(*out->rules));
    sorted = ferry_calloc(nlabels > 0 ? nlabels : 1, sizeof(*sorted));
    if (out->rules == NULL || sorted == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < nown; k++)
        if ((err = add_rule(out, cap, own[k].access, own[k].fmt, ns, node)) != FERRY_OK)
            goto out;
    r = &out->rules[out->nrules++];
    r->access = FERRY_BROKER_SUBSCRIBE;
    if ((err = ferry_topic_all_filter(ns, r->filter, sizeof(r->filter))) != FERRY_OK)
        goto out;
    /* Label rules in key order, so that the same labels always give the same messages. */
    json_object_foreach((json_t *)labels, key, value) {
        sorted[i].key = key;
        sorted[i++].value = json_string_value(value);
    }
    qsort(sorted, nlabels, sizeof(*sorted), label_cmp);
    for (i = 0; i < nlabels; i++) {
        r = &out->rules[out->nrules++];
        r->access = FERRY_BROKER_SUBSCRIBE;
        err = ferry_topic_label_filter(ns, sorted[i].key, sorted[i].value, r->filter,
                                       sizeof(r->filter));
        if (err != FERRY_OK)
            goto out;
    }
    err = FERRY_OK;
out:
    ferry_free(sorted);
    if (err != FERRY_OK)
        ferry_broker_policy_free(out);
    return err;
}

ferry_err ferry_broker_debug_policy(const char *name, ferry_broker_policy *out) {
    if (out == NULL)
        return FERRY_EINVAL;
    memset(out, 0, sizeof(*out));
    if (ferry_broker_debug_username(name, out->username, sizeof(out->username)) != FERRY_OK)
        return FERRY_EINVAL;
    memcpy(out->client_id, out->username, sizeof(out->client_id));
    out->rules = ferry_calloc(1, sizeof(*out->rules));
    if (out->rules == NULL)
        return FERRY_ENOMEM;
    out->rules[0].access = FERRY_BROKER_SUBSCRIBE;
    snprintf(out->rules[0].filter, sizeof(out->rules[0].filter), "ferry/#");
    out->nrules = 1;
    return FERRY_OK;
}

/* ---- adapters -------------------------------------------------------------------------------- */

static ferry_err none_grant(const ferry_broker_policy *p, const char *password,
                            ferry_broker_emit_fn emit, void *ctx) {
    (void)p, (void)password, (void)emit, (void)ctx;
    return FERRY_OK;
}

static ferry_err none_revoke(const char *username, ferry_broker_emit_fn emit, void *ctx) {
    (void)username, (void)emit, (void)ctx;
    return FERRY_OK;
}

static const ferry_broker_ops none_ops = {"none", none_grant, none_revoke};

static const ferry_broker_ops *const adapters[] = {&ferry_broker_dynsec_ops, &none_ops};

ferry_err ferry_broker_create(const char *kind, ferry_broker **out) {
    const ferry_broker_ops *ops = NULL;
    if (out == NULL)
        return FERRY_EINVAL;
    *out = NULL;
    for (size_t i = 0; kind != NULL && i < sizeof(adapters) / sizeof(adapters[0]); i++)
        if (strcmp(adapters[i]->kind, kind) == 0)
            ops = adapters[i];
    if (ops == NULL)
        return FERRY_EINVAL;
    *out = ferry_calloc(1, sizeof(**out));
    if (*out == NULL)
        return FERRY_ENOMEM;
    (*out)->ops = ops;
    return FERRY_OK;
}

void ferry_broker_destroy(ferry_broker *b) {
    ferry_free(b);
}

const char *ferry_broker_kind(const ferry_broker *b) {
    return b->ops->kind;
}

/* ---- operations ------------------------------------------------------------------------------ */

/* 1..FERRY_BROKER_PASSWORD_MAX bytes of printable ASCII, space excluded. */
static bool password_ok(const char *password) {
    size_t n = 0;
    if (password == NULL)
        return false;
    for (; password[n] != '\0' && n <= FERRY_BROKER_PASSWORD_MAX; n++)
        if (password[n] < '!' || password[n] > '~')
            return false;
    return n > 0 && n <= FERRY_BROKER_PASSWORD_MAX;
}

ferry_err ferry_broker_node_grant(const ferry_broker *b, const char *ns, const char *node,
                                  const char *password, const json_t *labels,
                                  ferry_broker_emit_fn emit, void *ctx) {
    ferry_broker_policy p;
    ferry_err err;
    if (b == NULL || emit == NULL || (password != NULL && !password_ok(password)))
        return FERRY_EINVAL;
    if ((err = ferry_broker_node_policy(ns, node, labels, &p)) != FERRY_OK)
        return err;
    err = b->ops->grant(&p, password, emit, ctx);
    ferry_broker_policy_free(&p);
    return err;
}

ferry_err ferry_broker_node_revoke(const ferry_broker *b, const char *ns, const char *node,
                                   ferry_broker_emit_fn emit, void *ctx) {
    char username[FERRY_BROKER_NAME_MAX];
    if (b == NULL || emit == NULL ||
        ferry_broker_node_username(ns, node, username, sizeof(username)) != FERRY_OK)
        return FERRY_EINVAL;
    return b->ops->revoke(username, emit, ctx);
}

ferry_err ferry_broker_debug_grant(const ferry_broker *b, const char *name, const char *password,
                                   ferry_broker_emit_fn emit, void *ctx) {
    ferry_broker_policy p;
    ferry_err err;
    if (b == NULL || emit == NULL || !password_ok(password))
        return FERRY_EINVAL;
    if ((err = ferry_broker_debug_policy(name, &p)) != FERRY_OK)
        return err;
    err = b->ops->grant(&p, password, emit, ctx);
    ferry_broker_policy_free(&p);
    return err;
}

ferry_err ferry_broker_debug_revoke(const ferry_broker *b, const char *name,
                                    ferry_broker_emit_fn emit, void *ctx) {
    char username[FERRY_BROKER_NAME_MAX];
    if (b == NULL || emit == NULL ||
        ferry_broker_debug_username(name, username, sizeof(username)) != FERRY_OK)
        return FERRY_EINVAL;
    return b->ops->revoke(username, emit, ctx);
}
