/* broker-bridge authorisation: the token model (a role, the namespaces it covers, the privileged
 * permission) and every decision about what a token may do, from plain data: no store, no HTTP.
 * tokens.c keeps the tokens and finds the grant of a presented token; api.c says what each route
 * needs and asks here. The rules in prose: docs/api-auth.md.
 *
 *   role     reads                    writes apps, nodes, configs   privileged   tokens
 *   viewer   its namespaces           -                             -            -
 *   editor   its namespaces           its namespaces                if granted   -
 *   admin    every namespace          every namespace               yes          yes
 */
#ifndef FERRY_BRIDGE_AUTH_H
#define FERRY_BRIDGE_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

#define FERRY_AUTH_MAX_NAMESPACES 64 /* namespaces one token may list */
#define FERRY_AUTH_NAME_MAX 64       /* a DNS label and its NUL */
#define FERRY_AUTH_ID_MAX 24         /* a token id ("admin" or 16 hex digits) and its NUL */

typedef enum {
    FERRY_ROLE_VIEWER,
    FERRY_ROLE_EDITOR,
    FERRY_ROLE_ADMIN,
    FERRY_ROLE_COUNT
} ferry_role;

/* What a request needs from its token. */
typedef enum {
    FERRY_PERM_READ,  /* read apps, nodes and configs of a namespace (and app status) */
    FERRY_PERM_WRITE, /* create, change or delete them */
    /* An app that runs privileged containers, mounts hostPath volumes or uses the host's network:
     * the node's root in other words. Asked in addition to FERRY_PERM_WRITE. */
    FERRY_PERM_PRIVILEGED,
    FERRY_PERM_ADMIN, /* manage tokens */
    FERRY_PERM_COUNT
} ferry_perm;

/* What one token may do: plain data, every field public. */
typedef struct {
    char id[FERRY_AUTH_ID_MAX]; /* "" until stored (tokens.c fills it) */
    char name[FERRY_AUTH_NAME_MAX];
    ferry_role role;
    bool all_namespaces; /* ["*"]; always true for an admin */
    size_t n_namespaces; /* otherwise the namespaces it covers: DNS labels, distinct, >= 1 */
    char namespaces[FERRY_AUTH_MAX_NAMESPACES][FERRY_AUTH_NAME_MAX];
    bool privileged; /* always true for an admin, false for a viewer */
} ferry_auth_grant;

/* "viewer", "editor", "admin"; "read", "write", "privileged", "admin" (the "permission" member
 * of a 403 answer). */
const char *ferry_auth_role_name(ferry_role role);
const char *ferry_auth_perm_name(ferry_perm perm);

/* Take the body of POST /v1/tokens ({"name", "role", "namespaces", "privileged"}) into *g (id
 * left ""). name: a DNS label, required; role: required; namespaces: a non-empty list of distinct
 * DNS labels (at most FERRY_AUTH_MAX_NAMESPACES) or ["*"], required for viewer and editor, ["*"]
 * or absent for admin; privileged: a boolean, false by default, never true for a viewer, never
 * false for an admin. "id" and "createdAt" are ignored (what GET shows may be sent back), any
 * other member ("token" included: the server makes tokens) is refused. FERRY_EINVAL with *e
 * naming the field. */
ferry_err ferry_auth_grant_parse(const json_t *body, ferry_auth_grant *g, ferry_detail *e);

/* g as {"name", "role", "namespaces", "privileged"} (a new object; NULL on ENOMEM): what
 * ferry_auth_grant_parse takes back. */
json_t *ferry_auth_grant_json(const ferry_auth_grant *g);

/* May g do perm in namespace ns (NULL for FERRY_PERM_ADMIN)? When not, msg (len bytes) says
 * which token may not do what and what it may do, as a person reads it:
 *   forbidden: token 'ci' (editor of namespaces a, b) may not write in namespace 'c'
 * what names the member that needs FERRY_PERM_PRIVILEGED ("services[0].privileged"; NULL
 * otherwise). ns is quoted as given (cut and scrubbed, it may come from a URL). Pure. */
bool ferry_auth_allows(const ferry_auth_grant *g, ferry_perm perm, const char *ns, const char *what,
                       char *msg, size_t len);

/* Does the app body need FERRY_PERM_PRIVILEGED? true with the first member that does in what
 * (len bytes): "services[1].privileged", "initServices[0].privileged", "volumes[2].hostPath" or
 * "hostNetwork". Runs on bodies not validated yet, so any value of privileged or hostNetwork but
 * false counts, and any volume with a hostPath member. */
bool ferry_auth_app_privileged(const json_t *app, char *what, size_t len);

#endif
