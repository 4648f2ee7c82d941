/* edge-sync file cleanup: which volume folders nothing needs any more, and deleting them
 * (see cleanup.h). */
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/app.h"
#include "pod.h"
#include "volumes.h"

/* ---- the decision ---- */

static bool name_in(const json_t *names, const char *name) {
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        const char *s = json_string_value(v);
        if (s != NULL && name != NULL && strcmp(s, name) == 0)
            return true;
    }
    return false;
}

/* A replica folder name: decimal digits, no sign, no leading zero, at most 6 digits. -1 else. */
static int replica_number(const char *s) {
    int r = 0;
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 6 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        r = r * 10 + (s[i] - '0');
    }
    return r;
}

/* Whether the reconciler still needs the folder. */
static bool needed(const ferry_cleanup_item *item, const json_t *apps) {
    const json_t *facts = json_object_get(apps, item->app);
    int r;

    if (facts == NULL || !json_is_true(json_object_get(facts, "desired")) ||
        json_is_true(json_object_get(facts, "finished")))
        return false;
    switch (item->kind) {
    case FERRY_CLEANUP_APP_VOLUMES:
    case FERRY_CLEANUP_APP_PODS:
        return true;
    case FERRY_CLEANUP_VOLUME:
        return name_in(json_object_get(facts, "volumes"), item->member);
    case FERRY_CLEANUP_POD:
        r = replica_number(item->member);
        return r >= 0 && r < json_integer_value(json_object_get(facts, "replicas"));
    }
    return true;
}

/* A live container mounts the folder, something inside it, or a folder above it. */
static bool in_use(const char *path, const json_t *live_mounts) {
    size_t i;
    json_t *v;
    json_array_foreach(live_mounts, i, v) {
        const char *src = json_string_value(v);
        if (src != NULL &&
            (ferry_volumes__path_inside(src, path) || ferry_volumes__path_inside(path, src)))
            return true;
    }
    return false;
}

bool ferry_cleanup_decide(const ferry_cleanup_item *item, const json_t *apps,
                          const json_t *live_mounts) {
    if (item == NULL || item->path == NULL || item->path[0] != '/' || item->app == NULL ||
        ((item->kind == FERRY_CLEANUP_VOLUME || item->kind == FERRY_CLEANUP_POD) &&
         item->member == NULL))
        return false;
    return !needed(item, apps) && !in_use(item->path, live_mounts) &&
           (item->twin == NULL || !in_use(item->twin, live_mounts));
}

/* ---- I/O ---- */

static bool exited(const char *state) {
    return state != NULL && (strcmp(state, "exited") == 0 || strcmp(state, "dead") == 0 ||
                             strcmp(state, "stopped") == 0);
}

/* Append the host side of every bind of an inspected container: Mounts[].Source and the part of
 * HostConfig.Binds before the first ':'. */
static void add_mounts(const json_t *info, json_t *out) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(info, "Mounts"), i, v) {
        const char *src = json_string_value(json_object_get(v, "Source"));
        if (src != NULL && src[0])
            json_array_append_new(out, json_string(src));
    }
    json_array_foreach(json_object_get(json_object_get(info, "HostConfig"), "Binds"), i, v) {
        const char *b = json_string_value(v);
        const char *colon = b != NULL ? strchr(b, ':') : NULL;
        if (colon != NULL && colon > b)
            json_array_append_new(out, json_stringn(b, (size_t)(colon - b)));
    }
}

/* The host paths that containers which are not exited mount; NULL when the engine could not tell
 * (then nothing may be deleted). */
static json_t *live_mounts(ferry_engine *engine) {
    static const char *const managed[] = {FERRY_LBL_MANAGED "=1", NULL};
    ferry_container *list = NULL;
    size_t n = 0;
    json_t *out = NULL;
    ferry_err e;

    if ((e = ferry_engine_list(engine, managed, &list, &n)) != FERRY_OK) {
        LOG_WARN("cleanup: cannot list containers (%s); deleting nothing this time",
                 ferry_strerror(e));
        return NULL;
    }
    if ((out = json_array()) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *info = NULL;
        if (exited(list[i].state))
            continue;
        e = ferry_engine_inspect(engine, list[i].id, &info);
        if (e == FERRY_ENOTFOUND)
            continue; /* removed since the listing */
        if (e != FERRY_OK) {
            LOG_WARN("cleanup: cannot inspect container %s (%s); deleting nothing this time",
                     list[i].name, ferry_strerror(e));
            json_decref(out);
            out = NULL;
            goto out;
        }
        add_mounts(info, out);
        json_decref(info);
    }
out:
    ferry_containers_free(list, n);
    return out;
}

/* Why a folder goes, for the log. */
static const char *reason(const ferry_cleanup_item *item, const json_t *apps) {
    const json_t *facts = json_object_get(apps, item->app);
    if (facts == NULL || !json_is_true(json_object_get(facts, "desired")))
        return "the app no longer runs on this node";
    if (json_is_true(json_object_get(facts, "finished")))
        return "the job finished";
    return item->kind == FERRY_CLEANUP_VOLUME ? "the app no longer has this volume"
                                              : "the app no longer has this pod";
}

/* Look at one entry: decide, delete. true when it was kept (and is a folder). */
static bool visit(const ferry_cleanup_item *item, const json_t *apps, const json_t *live,
                  int *deleted) {
    struct stat st;
    if (lstat(item->path, &st) != 0 || !S_ISDIR(st.st_mode))
        return false; /* not a folder of ours: leave it alone */
    if (!ferry_cleanup_decide(item, apps, live))
        return true;
    if (ferry_volumes__remove_tree(item->path) == FERRY_OK) {
        LOG_INFO("cleanup: removed %s (%s)", item->path, reason(item, apps));
        (*deleted)++;
    }
    return false;
}

/* The other of pods/ and subpaths/ (one pod's files live in both), or NULL. */
static const char *twin_top(const char *top) {
    if (strcmp(top, FERRY_PODS_DIR) == 0)
        return FERRY_SUBPATHS_DIR;
    if (strcmp(top, FERRY_SUBPATHS_DIR) == 0)
        return FERRY_PODS_DIR;
    return NULL;
}

/* {data}/{top}/{ns}/{app}[/{member}] into buf; false when it does not fit. */
static bool item_path(char *buf, size_t len, const ferry_cleanup_cfg *cfg, const char *top,
                      const char *app, const char *member) {
    int n = member != NULL
                ? snprintf(buf, len, "%s/%s/%s/%s/%s", cfg->data_dir, top, cfg->ns, app, member)
                : snprintf(buf, len, "%s/%s/%s/%s", cfg->data_dir, top, cfg->ns, app);
    return n > 0 && (size_t)n < len;
}

/* The folders below {data}/{top}/{ns}: each app's, then, for kept apps, their members. */
void ferry_cleanup__sweep(const ferry_cleanup_cfg *cfg, const char *top,
                          ferry_cleanup_kind app_kind, ferry_cleanup_kind member_kind,
                          const json_t *apps, const json_t *live, int *deleted) {
    char base[PATH_MAX], app_path[PATH_MAX], member_path[PATH_MAX], twin[PATH_MAX];
    const char *other = twin_top(top);
    DIR *d, *md;
    struct dirent *de, *me;
    int n = snprintf(base, sizeof(base), "%s/%s/%s", cfg->data_dir, top, cfg->ns);

    if (n < 0 || (size_t)n >= sizeof(base) || (d = opendir(base)) == NULL)
        return; /* nothing there yet */
    while ((de = readdir(d)) != NULL) {
        ferry_cleanup_item item = {app_kind, app_path, de->d_name, NULL, NULL};
        if (!ferry_name_valid(de->d_name))
            continue; /* ".", "..", or not made by edge-sync */
        if (!item_path(app_path, sizeof(app_path), cfg, top, de->d_name, NULL))
            continue;
        if (other != NULL && item_path(twin, sizeof(twin), cfg, other, de->d_name, NULL))
            item.twin = twin;
        if (!visit(&item, apps, live, deleted))
            continue;
        if ((md = opendir(app_path)) == NULL)
            continue;
        while ((me = readdir(md)) != NULL) {
            ferry_cleanup_item mitem = {member_kind, member_path, de->d_name, me->d_name, NULL};
            bool ours = member_kind == FERRY_CLEANUP_VOLUME ? ferry_name_valid(me->d_name)
                                                            : replica_number(me->d_name) >= 0;
            if (!ours ||
                !item_path(member_path, sizeof(member_path), cfg, top, de->d_name, me->d_name))
                continue;
            if (other != NULL && item_path(twin, sizeof(twin), cfg, other, de->d_name, me->d_name))
                mitem.twin = twin;
            visit(&mitem, apps, live, deleted);
        }
        closedir(md);
    }
    closedir(d);
}

ferry_err ferry_cleanup_run(const ferry_cleanup_cfg *cfg, const json_t *apps, int *deleted) {
    int count = 0;
    json_t *live;

    if (deleted != NULL)
        *deleted = 0;
    if (cfg == NULL || cfg->data_dir == NULL || cfg->data_dir[0] != '/' || cfg->ns == NULL ||
        cfg->engine == NULL)
        return FERRY_EINVAL;
    if ((live = live_mounts(cfg->engine)) == NULL)
        return FERRY_EIO;
    ferry_cleanup__sweep(cfg, FERRY_VOLUMES_DIR, FERRY_CLEANUP_APP_VOLUMES, FERRY_CLEANUP_VOLUME,
                         apps, live, &count);
    ferry_cleanup__sweep(cfg, FERRY_PODS_DIR, FERRY_CLEANUP_APP_PODS, FERRY_CLEANUP_POD, apps, live,
                         &count);
    ferry_cleanup__sweep(cfg, FERRY_SUBPATHS_DIR, FERRY_CLEANUP_APP_PODS, FERRY_CLEANUP_POD, apps,
                         live, &count);
    json_decref(live);
    LOG_DEBUG("cleanup: %d folder(s) removed under %s", count, cfg->data_dir);
    if (deleted != NULL)
        *deleted = count;
    return FERRY_OK;
}
