/* edge-sync protocol rules: what one cloud message does to the node's store (PROTOCOL.md). */
#include "sync.h"

#include <string.h>

#include "ferry/app.h"
#include "ferry/patch.h"
#include "ferry/proto.h"
#include "ferry/topics.h"

static long long int_field(const json_t *msg, const char *key) {
    return (long long)json_integer_value(json_object_get(msg, key));
}

static const char *str_field(const json_t *msg, const char *key) {
    const char *s = json_string_value(json_object_get(msg, key));
    return s != NULL ? s : "";
}

/* Does the app (spec) belong on this node now? */
static bool targets_node(const json_t *node, const json_t *spec) {
    return json_is_true(json_object_get(node, "registered")) &&
           ferry_selector_matches(json_object_get(spec, "selector"),
                                  json_object_get(node, "labels"));
}

/* Store spec at version if it targets the node, else a tombstone (when the node held the app). */
static ferry_err store_spec(ferry_estore_txn *t, const json_t *node, const char *name,
                            long long version, json_t *spec, bool held, ferry_sync_actions *act) {
    ferry_estore_app app = {version, false, spec};

    if (!targets_node(node, spec)) {
        if (!held)
            return FERRY_OK;
        app.deleted = true;
        app.spec = NULL;
        LOG_INFO("app %s v%lld no longer selects this node; removing it", name, version);
    } else {
        LOG_INFO("app %s: stored version %lld", name, version);
    }
    act->reconcile = true;
    return ferry_estore_put_app(t, name, &app);
}

static ferry_err on_put(ferry_estore_txn *t, const json_t *node, const json_t *msg,
                        ferry_sync_actions *act) {
    const char *name = str_field(msg, "app");
    long long version = int_field(msg, "version");
    ferry_estore_app cur;
    ferry_err err = ferry_estore_get_app(t, name, &cur);
    bool found = err == FERRY_OK;

    if (err != FERRY_OK && err != FERRY_ENOTFOUND && err != FERRY_EFORMAT)
        return err;
    if (found && version <= cur.version) {
        LOG_DEBUG("app %s v%lld: already have v%lld, duplicate ignored", name, version,
                  cur.version);
        err = FERRY_OK;
        goto out;
    }
    /* The last sync (rev R) was authoritative for every version up to R: an app it did not
     * leave here at version <= R is deleted or not for this node (its tombstone may have been
     * collected), so an old put (a duplicate, a replay) must not bring it back. */
    if (!found && version <= int_field(node, "rev")) {
        LOG_DEBUG("app %s v%lld: not held and not newer than the last sync (rev %lld); ignored",
                  name, version, int_field(node, "rev"));
        err = FERRY_OK;
        goto out;
    }
    err = store_spec(t, node, name, version, json_object_get(msg, "spec"), found && !cur.deleted,
                     act);
out:
    ferry_estore_app_clear(&cur);
    return err;
}

/* A patch is only ever sent for an unchanged selector (a selector change goes out as app.put), so
 * a patch for an app the node does not hold is not for this node. */
static ferry_err on_patch(ferry_estore_txn *t, const json_t *node, const json_t *msg,
                          ferry_sync_actions *act) {
    const char *name = str_field(msg, "app");
    long long base = int_field(msg, "base"), version = int_field(msg, "version");
    ferry_estore_app cur;
    json_t *spec = NULL;
    ferry_detail verr;
    ferry_err err = ferry_estore_get_app(t, name, &cur);

    if (err == FERRY_ENOTFOUND || err == FERRY_EFORMAT)
        return FERRY_OK;
    if (err != FERRY_OK)
        return err;
    if (cur.deleted || version <= cur.version)
        goto out;
    if (cur.version != base) {
        LOG_INFO("app %s: delta %lld->%lld does not apply to held v%lld; asking for a resync", name,
                 base, version, cur.version);
        act->hello_reason = "gap";
        goto out;
    }
    if (ferry_patch_apply(cur.spec, json_object_get(msg, "patch"), &spec) != FERRY_OK ||
        ferry_app_validate_ex(spec, FERRY_APP_ALLOW_RESOLVED, &verr) != FERRY_OK ||
        strcmp(str_field(spec, "name"), name) != 0) {
        LOG_WARN("app %s: delta %lld->%lld gives an invalid app; asking for a resync", name, base,
                 version);
        act->hello_reason = "gap";
        goto out;
    }
    err = store_spec(t, node, name, version, spec, true, act);
out:
    json_decref(spec);
    ferry_estore_app_clear(&cur);
    return err;
}

static ferry_err on_delete(ferry_estore_txn *t, const json_t *msg, ferry_sync_actions *act) {
    const char *name = str_field(msg, "app");
    long long version = int_field(msg, "version");
    ferry_estore_app cur;
    ferry_err err = ferry_estore_get_app(t, name, &cur);

    if (err == FERRY_ENOTFOUND || err == FERRY_EFORMAT)
        return FERRY_OK;
    if (err == FERRY_OK && version > cur.version) {
        ferry_estore_app tomb = {version, true, NULL};
        LOG_INFO("app %s deleted at v%lld", name, version);
        act->reconcile = act->reconcile || !cur.deleted;
        err = ferry_estore_put_app(t, name, &tomb);
        if (err == FERRY_OK)
            err = ferry_estore_del_bundle(t, name);
    }
    ferry_estore_app_clear(&cur);
    return err;
}

/* Apply one entry of a node.sync; listed collects the names seen. */
static ferry_err sync_entry(ferry_estore_txn *t, const json_t *node, const json_t *entry,
                            ferry_sync_actions *act) {
    const char *name = str_field(entry, "app");
    long long version = int_field(entry, "version");
    json_t *spec = json_object_get(entry, "spec");
    ferry_estore_app cur;
    ferry_err err = ferry_estore_get_app(t, name, &cur);
    bool found = err == FERRY_OK;

    if (err != FERRY_OK && err != FERRY_ENOTFOUND && err != FERRY_EFORMAT)
        return err;
    err = FERRY_OK;
    if (spec == NULL) {
        if (!found || cur.deleted || cur.version != version) {
            LOG_INFO("sync: app %s v%lld was not sent and is not held; asking again", name,
                     version);
            act->hello_reason = "gap";
        }
        goto out;
    }
    /* A newer version from an app topic, or a deletion newer than this snapshot, wins. */
    if (found &&
        ((!cur.deleted && cur.version >= version) || (cur.deleted && cur.version > version)))
        goto out;
    err = store_spec(t, node, name, version, spec, true, act);
out:
    ferry_estore_app_clear(&cur);
    return err;
}

/* Keep a sealed bundle ({app, digest, sealed}) as it arrived; the reconciler opens it. */
static ferry_err keep_bundle(ferry_estore_txn *t, const json_t *b, ferry_sync_actions *act) {
    const char *app = str_field(b, "app");
    ferry_estore_bundle cur;
    ferry_err err = ferry_estore_get_bundle(t, app, &cur);
    bool same = err == FERRY_OK && strcmp(cur.digest, str_field(b, "digest")) == 0;
    ferry_estore_bundle_clear(&cur);
    if (same)
        return FERRY_OK;
    LOG_INFO("app %s: stored its secret bundle %.19s...", app, str_field(b, "digest"));
    act->reconcile = true;
    return ferry_estore_put_bundle(t, app, str_field(b, "digest"), str_field(b, "sealed"));
}

static ferry_err on_sync(ferry_estore_txn *t, json_t *node, const json_t *msg,
                         ferry_sync_actions *act) {
    long long rev = int_field(msg, "rev");
    json_t *labels = json_object_get(msg, "labels");
    json_t *registered = json_object_get(msg, "registered");
    json_t *apps = json_object_get(msg, "apps");
    ferry_estore_apps held = {NULL, 0};
    json_t *entry;
    size_t i, k;
    ferry_err err;

    if (rev < int_field(node, "rev")) {
        LOG_INFO("sync at rev %lld is older than the one applied (rev %lld); ignored", rev,
                 int_field(node, "rev"));
        return FERRY_OK;
    }
    act->sync_received = true;
    if (!json_equal(labels, json_object_get(node, "labels")) ||
        !json_equal(registered, json_object_get(node, "registered"))) {
        LOG_INFO("node %s: labels/registration changed at rev %lld", str_field(msg, "node"), rev);
        act->resubscribe = true;
        act->reconcile = true;
    }
    if (json_object_set(node, "rev", json_object_get(msg, "rev")) ||
        json_object_set(node, "labels", labels) || json_object_set(node, "registered", registered))
        return FERRY_ENOMEM;
    if ((err = ferry_estore_put_node(t, node)) != FERRY_OK)
        return err;
    json_array_foreach(apps, i, entry) {
        if ((err = sync_entry(t, node, entry, act)) != FERRY_OK)
            return err;
    }
    json_array_foreach(json_object_get(msg, "secrets"), i, entry) {
        if ((err = keep_bundle(t, entry, act)) != FERRY_OK)
            return err;
    }
    /* Held apps the snapshot does not list, and that it already knew about, are gone. */
    if ((err = ferry_estore_list_apps(t, &held)) != FERRY_OK)
        return err;
    for (k = 0; k < held.n && err == FERRY_OK; k++) {
        const char *name = held.items[k].name;
        long long version = held.items[k].app.version;
        bool listed = false;
        json_array_foreach(apps, i, entry) listed =
            listed || strcmp(str_field(entry, "app"), name) == 0;
        if (listed || held.items[k].app.deleted || version > rev)
            continue;
        ferry_estore_app tomb = {version, true, NULL};
        LOG_INFO("sync: app %s is no longer assigned to this node; removing it", name);
        act->reconcile = true;
        err = ferry_estore_put_app(t, name, &tomb);
        if (err == FERRY_OK)
            err = ferry_estore_del_bundle(t, name);
    }
    ferry_estore_apps_free(&held);
    return err;
}

/* Check that the message's names agree with its topic and with this node. */
static bool addressed_to_us(const ferry_sync_self *self, const ferry_topic *t, const json_t *msg) {
    const char *type = str_field(msg, "type");

    if (strcmp(str_field(msg, "ns"), self->ns) != 0)
        return false;
    if (strcmp(type, FERRY_MSG_NODE_SYNC) == 0)
        return t->kind == FERRY_TOPIC_NODE_SYNC && strcmp(t->node, self->node) == 0 &&
               strcmp(str_field(msg, "node"), self->node) == 0;
    if (strcmp(type, FERRY_MSG_APP_PUT) == 0 || strcmp(type, FERRY_MSG_APP_PATCH) == 0 ||
        strcmp(type, FERRY_MSG_APP_DELETE) == 0)
        return (t->kind == FERRY_TOPIC_APP_LABEL || t->kind == FERRY_TOPIC_APP_ALL) &&
               strcmp(t->app, str_field(msg, "app")) == 0;
    if (strcmp(type, FERRY_MSG_APP_SECRETS) == 0)
        return t->kind == FERRY_TOPIC_NODE_SECRETS && strcmp(t->node, self->node) == 0 &&
               strcmp(str_field(msg, "node"), self->node) == 0 &&
               strcmp(t->app, str_field(msg, "app")) == 0;
    return false;
}

typedef struct {
    const json_t *msg;
    ferry_sync_actions *act;
} handle_ctx;

static ferry_err handle_txn(ferry_estore_txn *t, void *ctx) {
    handle_ctx *hc = ctx;
    const char *type = str_field(hc->msg, "type");
    json_t *node = NULL;
    ferry_err err;

    memset(hc->act, 0, sizeof(*hc->act)); /* the store may run this again on a grown map */
    if ((err = ferry_estore_get_node(t, &node)) != FERRY_OK)
        return err;
    if (strcmp(type, FERRY_MSG_APP_PUT) == 0)
        err = on_put(t, node, hc->msg, hc->act);
    else if (strcmp(type, FERRY_MSG_APP_PATCH) == 0)
        err = on_patch(t, node, hc->msg, hc->act);
    else if (strcmp(type, FERRY_MSG_APP_DELETE) == 0)
        err = on_delete(t, hc->msg, hc->act);
    else if (strcmp(type, FERRY_MSG_APP_SECRETS) == 0)
        err = keep_bundle(t, hc->msg, hc->act);
    else
        err = on_sync(t, node, hc->msg, hc->act);
    json_decref(node);
    return err;
}

ferry_err ferry_sync_handle(ferry_estore *s, const ferry_sync_self *self, const char *topic,
                            size_t tlen, const void *payload, size_t plen,
                            ferry_sync_actions *act) {
    ferry_topic t;
    json_t *msg = NULL;
    char why[256] = "";
    ferry_err err = FERRY_OK;

    memset(act, 0, sizeof(*act));
    if (ferry_topic_parse(topic, tlen, &t) != FERRY_OK || strcmp(t.ns, self->ns) != 0) {
        LOG_WARN("ignoring a message on unexpected topic '%.*s'", (int)(tlen > 200 ? 200 : tlen),
                 topic);
        return FERRY_OK;
    }
    if (ferry_proto_decode(payload, plen, &msg, why, sizeof(why)) != FERRY_OK) {
        LOG_WARN("ignoring a malformed payload (%zu bytes) on %.*s: %s", plen, (int)tlen, topic,
                 why);
        return FERRY_OK;
    }
    if (!addressed_to_us(self, &t, msg)) {
        LOG_WARN("ignoring a %s message on %.*s: it does not match its topic or this node",
                 str_field(msg, "type"), (int)tlen, topic);
        goto out;
    }
    handle_ctx hc = {msg, act};
    if ((err = ferry_estore_write(s, handle_txn, &hc)) != FERRY_OK) {
        LOG_ERROR("could not store the %s message from %.*s (%s); asking the cloud to send it "
                  "again",
                  str_field(msg, "type"), (int)tlen, topic, ferry_strerror(err));
        memset(act, 0, sizeof(*act));
        act->hello_reason = "store";
    }
out:
    json_decref(msg);
    return err;
}

typedef struct {
    json_t *node;
    ferry_estore_apps apps;
    json_t *bundles;
} hello_snapshot;

static ferry_err hello_txn(ferry_estore_txn *t, void *ctx) {
    hello_snapshot *h = ctx;
    ferry_err err = ferry_estore_list_apps(t, &h->apps);
    if (err == FERRY_OK)
        err = ferry_estore_bundle_digests(t, &h->bundles);
    return err;
}

ferry_err ferry_sync_hello(ferry_estore *s, const ferry_sync_self *self, const char *reason,
                           json_t **out) {
    hello_snapshot h = {0};
    json_t *apps = json_object(), *secrets = json_object(), *digest;
    ferry_err err = FERRY_ENOMEM;

    *out = NULL;
    if (apps == NULL || secrets == NULL)
        goto out;
    if ((err = ferry_estore_read(s, hello_txn, &h)) != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    for (size_t i = 0; i < h.apps.n; i++) {
        if (h.apps.items[i].app.deleted)
            continue;
        if (json_object_set_new(apps, h.apps.items[i].name,
                                json_integer((json_int_t)h.apps.items[i].app.version)) != 0)
            goto out;
        /* The bundles of held apps: the bridge leaves them out of its answer. */
        if ((digest = json_object_get(h.bundles, h.apps.items[i].name)) != NULL &&
            json_object_set(secrets, h.apps.items[i].name, digest) != 0)
            goto out;
    }
    *out = json_pack("{s:s, s:s, s:s, s:s, s:O}", "type", FERRY_MSG_NODE_HELLO, "ns", self->ns,
                     "node", self->node, "reason", reason, "apps", apps);
    if (*out != NULL && json_object_size(secrets) > 0 &&
        json_object_set(*out, "secrets", secrets) != 0) {
        json_decref(*out);
        *out = NULL;
    }
    err = *out != NULL ? FERRY_OK : FERRY_ENOMEM;
out:
    ferry_estore_apps_free(&h.apps);
    json_decref(h.bundles);
    json_decref(apps);
    json_decref(secrets);
    return err;
}
