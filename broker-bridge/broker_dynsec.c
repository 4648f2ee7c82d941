/* The "mosquitto-dynsec" adapter of broker.h: a policy as command lists for mosquitto's
 * dynamic-security plugin, published on $CONTROL/dynamic-security/v1.
 *
 * What mosquitto 2.0.11 does with them (docs/platform.md, "mosquitto"; tests/broker/ checks it
 * against the real broker):
 * - A message holds a list of commands, run in order, each answered on .../response; one that
 *   fails (createRole of a role that exists) does not stop the next. The broker runs them before
 *   it sends the PUBACK, so an acknowledged grant is in force.
 * - There is no "create or update": a grant creates the role and the client (an "already
 *   exists" answer is expected) and then sets what it must, which makes it idempotent.
 * - modifyRole with "acls" replaces the role's ACLs without disconnecting anyone; the broker
 *   checks a client's role at every publish, subscribe and delivery, so a relabel needs no
 *   reconnect. modifyClient, deleteClient and deleteRole close the live connections of the
 *   clients concerned (DISCONNECT 0x98).
 * - ACLs have no %c/%u substitution in 2.0.x: every credential has a role of its own, named
 *   like it, holding its topics literally. Label topics are percent-encoded and never hold '+'
 *   or '#'.
 * - The defaults for ACLs no role matches let a client receive anything it subscribed to, so
 *   each role ends with denials at priority -1 and says everything itself.
 * - Every change rewrites the plugin's whole JSON file: fine for a fleet's pace of enrollments. */
#include "broker.h"

#include <string.h>

#define CONTROL_TOPIC "$CONTROL/dynamic-security/v1"

/* One ACL of a role. NULL on ENOMEM. */
static json_t *acl(const char *type, const char *topic, bool allow, int priority) {
    return json_pack("{s:s, s:s, s:b, s:i}", "acltype", type, "topic", topic, "allow", allow,
                     "priority", priority);
}

/* Append v (stolen) to array a; false when v is NULL (ENOMEM) or the append failed. */
static bool push(json_t *a, json_t *v) {
    return v != NULL && json_array_append_new(a, v) == 0;
}

/* The role's ACLs: each publish rule lets the client send; each subscribe rule lets it
 * subscribe (to the filter or a narrower one) and receive what matches; then nothing else. */
static json_t *role_acls(const ferry_broker_policy *p) {
    json_t *acls = json_array();
    bool ok = acls != NULL;
    for (size_t i = 0; ok && i < p->nrules; i++) {
        const char *f = p->rules[i].filter;
        if (p->rules[i].access == FERRY_BROKER_PUBLISH)
            ok = push(acls, acl("publishClientSend", f, true, 0));
        else
            ok = push(acls, acl("subscribePattern", f, true, 0)) &&
                 push(acls, acl("publishClientReceive", f, true, 0));
    }
    ok = ok && push(acls, acl("publishClientSend", "#", false, -1)) &&
         push(acls, acl("publishClientReceive", "#", false, -1)) &&
         push(acls, acl("subscribePattern", "#", false, -1));
    if (!ok) {
        json_decref(acls);
        return NULL;
    }
    return acls;
}

/* {"command": name} with the members of fields (borrowed) added; NULL on ENOMEM. */
static json_t *command(const char *name, const json_t *fields) {
    json_t *c = json_pack("{s:s}", "command", name);
    if (c != NULL && json_object_update(c, (json_t *)fields) != 0) {
        json_decref(c);
        c = NULL;
    }
    return c;
}

/* Emit {"commands": cmds} (stolen) on the control topic. */
static ferry_err emit_commands(json_t *cmds, ferry_broker_emit_fn emit, void *ctx) {
    json_t *msg = NULL;
    unsigned char *buf = NULL;
    size_t len;
    ferry_err err;

    if (cmds == NULL)
        return FERRY_ENOMEM;
    msg = json_pack("{s:o}", "commands", cmds);
    if (msg == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    len = json_dumpb(msg, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        err = FERRY_ENOMEM;
        goto out;
    }
    if (len > FERRY_BROKER_CONTROL_MAX) {
        err = FERRY_ETOOBIG;
        goto out;
    }
    if ((buf = ferry_malloc(len)) == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    json_dumpb(msg, (char *)buf, len, JSON_COMPACT);
    err = emit(ctx, CONTROL_TOPIC, buf, len);
out:
    ferry_free(buf);
    json_decref(msg);
    return err;
}

/* createRole, then modifyRole with the ACLs; createClient, and with a password modifyClient
 * (password, client id, the one role) and enableClient. Without a password an existing client
 * is left alone (modifyClient would disconnect it); a new one cannot log in yet. */
static ferry_err dynsec_grant(const ferry_broker_policy *p, const char *password,
                              ferry_broker_emit_fn emit, void *ctx) {
    const char *u = p->username;
    json_t *cmds = json_array(), *client = NULL;
    bool ok = cmds != NULL;

    ok = ok && push(cmds, json_pack("{s:s, s:s}", "command", "createRole", "rolename", u));
    ok = ok && push(cmds, json_pack("{s:s, s:s, s:o}", "command", "modifyRole", "rolename", u,
                                    "acls", role_acls(p)));
    client = json_pack("{s:s, s:s, s:[{s:s}]}", "username", u, "clientid", p->client_id, "roles",
                       "rolename", u);
    ok = ok && client != NULL;
    if (ok && password != NULL)
        ok = json_object_set_new(client, "password", json_string(password)) == 0;
    ok = ok && push(cmds, command("createClient", client));
    if (ok && password != NULL)
        ok = push(cmds, command("modifyClient", client)) &&
             push(cmds, json_pack("{s:s, s:s}", "command", "enableClient", "username", u));
    json_decref(client);
    if (!ok) {
        json_decref(cmds);
        return FERRY_ENOMEM;
    }
    return emit_commands(cmds, emit, ctx);
}

/* deleteClient (closes its connection), then deleteRole. */
static ferry_err dynsec_revoke(const char *username, ferry_broker_emit_fn emit, void *ctx) {
    json_t *cmds = json_pack("[{s:s, s:s}, {s:s, s:s}]", "command", "deleteClient", "username",
                             username, "command", "deleteRole", "rolename", username);
    return emit_commands(cmds, emit, ctx);
}

const ferry_broker_ops ferry_broker_dynsec_ops = {"mosquitto-dynsec", dynsec_grant, dynsec_revoke};
