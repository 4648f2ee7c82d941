/* broker-bridge authorisation: roles, the grant of a token and what it may do (see auth.h). */
#include "auth.h"

#include <stdio.h>
#include <string.h>

#include "ferry/labels.h"

#define LISTED_MAX 8 /* namespaces a message lists before "and N more" */

static const char *const role_names[FERRY_ROLE_COUNT] = {"viewer", "editor", "admin"};
static const char *const perm_names[FERRY_PERM_COUNT] = {"read", "write", "privileged", "admin"};

const char *ferry_auth_role_name(ferry_role role) {
    return (unsigned)role < FERRY_ROLE_COUNT ? role_names[role] : "?";
}

const char *ferry_auth_perm_name(ferry_perm perm) {
    return (unsigned)perm < FERRY_PERM_COUNT ? perm_names[perm] : "?";
}

/* ---- the grant as JSON ----------------------------------------------------------------------- */

static ferry_err parse_namespaces(const json_t *v, ferry_auth_grant *g, ferry_detail *e) {
    static const char msg[] = "must be a non-empty list of distinct namespace names (DNS labels), "
                              "or [\"*\"] for every namespace";
    size_t n = json_array_size(v);

    if (!json_is_array(v) || n == 0)
        return ferry_fail(e, FERRY_EINVAL, "namespaces", "%s", msg);
    if (n > FERRY_AUTH_MAX_NAMESPACES)
        return ferry_fail(e, FERRY_EINVAL, "namespaces",
                          "lists %zu namespaces, at most %d are allowed (or [\"*\"])", n,
                          FERRY_AUTH_MAX_NAMESPACES);
    const char *first = json_string_value(json_array_get(v, 0));
    if (first != NULL && strcmp(first, "*") == 0) {
        if (n != 1)
            return ferry_fail(e, FERRY_EINVAL, "namespaces",
                              "\"*\" (every namespace) must be the only entry");
        g->all_namespaces = true;
        return FERRY_OK;
    }
    for (size_t i = 0; i < n; i++) {
        const char *ns = json_string_value(json_array_get(v, i));
        char field[48];
        snprintf(field, sizeof(field), "namespaces[%zu]", i);
        if (ns == NULL || !ferry_name_valid(ns))
            return ferry_fail(e, FERRY_EINVAL, field,
                              "must be a namespace name (a DNS label), or the list [\"*\"]");
        for (size_t k = 0; k < i; k++) {
            if (strcmp(g->namespaces[k], ns) == 0)
                return ferry_fail(e, FERRY_EINVAL, field, "'%s' is listed twice", ns);
        }
        snprintf(g->namespaces[i], sizeof(g->namespaces[i]), "%s", ns);
    }
    g->n_namespaces = n;
    return FERRY_OK;
}

ferry_err ferry_auth_grant_parse(const json_t *body, ferry_auth_grant *g, ferry_detail *e) {
    const char *key;
    const json_t *v;
    ferry_err err;

    memset(g, 0, sizeof(*g));
    if (!json_is_object(body))
        return ferry_fail(e, FERRY_EINVAL, "", "a token is a JSON object");
    json_object_foreach((json_t *)body, key, v) {
        static const char *const known[] = {"name",      "role", "namespaces", "privileged",
                                            "createdAt", "id",   NULL};
        size_t k = 0;
        while (known[k] != NULL && strcmp(known[k], key) != 0)
            k++;
        if (known[k] == NULL && strcmp(key, "token") == 0)
            return ferry_fail(e, FERRY_EINVAL, "token",
                              "read-only: the server makes the token and shows it once");
        if (known[k] == NULL)
            return ferry_fail(e, FERRY_EINVAL, key,
                              "unknown member (a token has name, role, namespaces, privileged)");
    }

    const char *name = json_string_value(json_object_get(body, "name"));
    if (name == NULL || !ferry_name_valid(name))
        return ferry_fail(e, FERRY_EINVAL, "name",
                          "is required: a DNS label (1-63 characters of a-z, 0-9 and '-')");
    snprintf(g->name, sizeof(g->name), "%s", name);

    const char *role = json_string_value(json_object_get(body, "role"));
    int r = 0;
    while (role != NULL && r < FERRY_ROLE_COUNT && strcmp(role, role_names[r]) != 0)
        r++;
    if (role == NULL || r == FERRY_ROLE_COUNT)
        return ferry_fail(e, FERRY_EINVAL, "role", "is required: viewer, editor or admin");
    g->role = (ferry_role)r;

    v = json_object_get(body, "privileged");
    if (v != NULL && !json_is_boolean(v))
        return ferry_fail(e, FERRY_EINVAL, "privileged", "must be true or false");
    g->privileged = g->role == FERRY_ROLE_ADMIN || json_is_true(v);
    if (g->role == FERRY_ROLE_VIEWER && json_is_true(v))
        return ferry_fail(e, FERRY_EINVAL, "privileged",
                          "a viewer writes nothing: only an editor may be privileged");
    if (g->role == FERRY_ROLE_ADMIN && json_is_false(v))
        return ferry_fail(e, FERRY_EINVAL, "privileged",
                          "an admin token is always privileged (use an editor token)");

    v = json_object_get(body, "namespaces");
    if (g->role == FERRY_ROLE_ADMIN) {
        const char *only = json_string_value(json_array_get(v, 0));
        if (v != NULL && (json_array_size(v) != 1 || only == NULL || strcmp(only, "*") != 0))
            return ferry_fail(e, FERRY_EINVAL, "namespaces",
                              "an admin token covers every namespace: [\"*\"] or leave it out");
        g->all_namespaces = true;
        return FERRY_OK;
    }
    if (v == NULL)
        return ferry_fail(e, FERRY_EINVAL, "namespaces",
                          "is required for a %s: the namespaces it covers, or [\"*\"]",
                          role_names[g->role]);
    if ((err = parse_namespaces(v, g, e)) != FERRY_OK)
        return err;
    return FERRY_OK;
}

json_t *ferry_auth_grant_json(const ferry_auth_grant *g) {
    json_t *ns = json_array();
    json_t *out = NULL;

    if (ns == NULL)
        return NULL;
    if (g->all_namespaces && json_array_append_new(ns, json_string("*")) != 0)
        goto out;
    for (size_t i = 0; !g->all_namespaces && i < g->n_namespaces; i++) {
        if (json_array_append_new(ns, json_string(g->namespaces[i])) != 0)
            goto out;
    }
    out = json_pack("{s:s, s:s, s:O, s:b}", "name", g->name, "role", ferry_auth_role_name(g->role),
                    "namespaces", ns, "privileged", g->privileged);
out:
    json_decref(ns);
    return out;
}

/* ---- decisions ------------------------------------------------------------------------------- */

static bool covers(const ferry_auth_grant *g, const char *ns) {
    if (g->all_namespaces)
        return true;
    for (size_t i = 0; ns != NULL && i < g->n_namespaces; i++) {
        if (strcmp(g->namespaces[i], ns) == 0)
            return true;
    }
    return false;
}

/* What g may do, for a message: "admin", "viewer of namespaces a, b", "editor of namespace a,
 * privileged", "editor of all namespaces". */
static void describe(const ferry_auth_grant *g, char *buf, size_t len) {
    size_t at = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k = snprintf(buf + at, len - at, __VA_ARGS__);                                         \
        at = k < 0 || (size_t)k >= len - at ? len - 1 : at + (size_t)k;                            \
    } while (0)

    if (len == 0)
        return;
    buf[0] = '\0';
    if (g->role == FERRY_ROLE_ADMIN) {
        PUT("admin");
        return;
    }
    PUT("%s of ", ferry_auth_role_name(g->role));
    if (g->all_namespaces)
        PUT("all namespaces");
    else
        PUT("namespace%s ", g->n_namespaces == 1 ? "" : "s");
    for (size_t i = 0; !g->all_namespaces && i < g->n_namespaces && i < LISTED_MAX; i++)
        PUT("%s%s", i > 0 ? ", " : "", g->namespaces[i]);
    if (!g->all_namespaces && g->n_namespaces > LISTED_MAX)
        PUT(" and %zu more", g->n_namespaces - LISTED_MAX);
    if (g->role == FERRY_ROLE_EDITOR && g->privileged)
        PUT(", privileged");
#undef PUT
}

bool ferry_auth_allows(const ferry_auth_grant *g, ferry_perm perm, const char *ns, const char *what,
                       char *msg, size_t len) {
    bool ok = false;
    char who[FERRY_AUTH_NAME_MAX + 48 + LISTED_MAX * FERRY_AUTH_NAME_MAX];
    char where[80];

    switch (perm) {
    case FERRY_PERM_READ:
        ok = covers(g, ns);
        break;
    case FERRY_PERM_WRITE:
        ok = g->role != FERRY_ROLE_VIEWER && covers(g, ns);
        break;
    case FERRY_PERM_PRIVILEGED:
        ok = g->role != FERRY_ROLE_VIEWER && g->privileged && covers(g, ns);
        break;
    case FERRY_PERM_ADMIN:
    case FERRY_PERM_COUNT:
        ok = g->role == FERRY_ROLE_ADMIN;
        break;
    }
    if (ok || len == 0)
        return ok;
    describe(g, who, sizeof(who));
    /* ns comes from the request path: cut it and make it printable UTF-8. */
    snprintf(where, sizeof(where), "%.64s%s", ns != NULL ? ns : "",
             ns != NULL && strlen(ns) > 64 ? "..." : "");
    ferry_text_scrub(where);
    if (perm == FERRY_PERM_ADMIN || perm == FERRY_PERM_COUNT)
        snprintf(msg, len,
                 "forbidden: token '%s' (%s) may not manage tokens: that needs an admin "
                 "token",
                 g->name, who);
    else if (perm == FERRY_PERM_PRIVILEGED)
        snprintf(msg, len,
                 "forbidden: token '%s' (%s) may not use %s in namespace '%s': privileged "
                 "containers, hostPath volumes and hostNetwork need the privileged permission "
                 "(an admin token, or an editor token made with \"privileged\": true)",
                 g->name, who, what != NULL ? what : "that", where);
    else
        snprintf(msg, len, "forbidden: token '%s' (%s) may not %s in namespace '%s'", g->name, who,
                 perm == FERRY_PERM_READ ? "read" : "write", where);
    return false;
}

/* The first container of list (named listname) whose privileged member is there and not false. */
static bool container_privileged(const json_t *list, const char *listname, char *what, size_t len) {
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *v = json_object_get(json_array_get(list, i), "privileged");
        if (v != NULL && !json_is_false(v)) {
            snprintf(what, len, "%s[%zu].privileged", listname, i);
            return true;
        }
    }
    return false;
}

bool ferry_auth_app_privileged(const json_t *app, char *what, size_t len) {
    const json_t *volumes = json_object_get(app, "volumes");
    const json_t *v = json_object_get(app, "hostNetwork");

    if (container_privileged(json_object_get(app, "services"), "services", what, len) ||
        container_privileged(json_object_get(app, "initServices"), "initServices", what, len))
        return true;
    for (size_t i = 0; i < json_array_size(volumes); i++) {
        if (json_object_get(json_array_get(volumes, i), "hostPath") != NULL) {
            snprintf(what, len, "volumes[%zu].hostPath", i);
            return true;
        }
    }
    if (v != NULL && !json_is_false(v)) {
        snprintf(what, len, "hostNetwork");
        return true;
    }
    return false;
}
