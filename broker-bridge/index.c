/* broker-bridge index: live apps and nodes per namespace in memory, kept on write (index.h). */
#include "index.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/selector.h"
#include "ferry/sign.h"
#include "ferry/topics.h"
#include "nodeset.h"
#include "records.h"

/* The items of one kind in one namespace, in strcmp order of their names (look-ups are binary
 * searches; pages and filters walk the array). */
typedef struct {
    char *name; /* own copy */
    json_t *item;
    /* A node's enrolled signing key (FERRY_SIGN_KEY_LEN bytes, own copy; NULL: not enrolled): a
     * message it sends is checked against it without reading and checking its record again.
     * Out of line, so that an entry stays small (inserts move the entries after it). */
    unsigned char *sign;
    uint32_t slot; /* a node's slot in its space's nodeset */
} ix_entry;

typedef struct {
    ix_entry *v;
    size_t n, cap;
    /* The names again, one after the other (NUL-terminated; names[off[i]] is v[i]'s), for the
     * name search: 100,000 names scattered over the heap cost a cache miss each. Rebuilt by the
     * first search after a name came or went (stale), under names_lock. */
    char *names;
    size_t *off;
    bool stale;
} ix_set;

typedef struct ix_space {
    char ns[FERRY_NAME_MAX];
    ix_set sets[2]; /* by bridge_index_kind */
    json_t *topics; /* apps by topic label: "k=v" (or "" for the all topic) -> {name: item} */
    bridge_nodeset *nodes; /* nodes by label, for selectors */
    struct ix_space *next;
} ix_space;

/* A staged change: item NULL removes ns/name. */
typedef struct {
    bridge_index_kind kind;
    char ns[FERRY_NAME_MAX];
    char name[FERRY_NAME_MAX];
    json_t *item;
    bool has_sign;
    unsigned char sign[FERRY_SIGN_KEY_LEN];
} ix_change;

struct bridge_index {
    pthread_rwlock_t lock;
    pthread_mutex_t names_lock; /* rebuilds of the sets' name arenas (readers hold lock) */
    ix_space *spaces;           /* few namespaces: a list */
    ix_change *staged;
    size_t nstaged, capstaged;
};

ferry_err bridge__index_new(bridge_index **out) {
    bridge_index *ix = ferry_calloc(1, sizeof(*ix));
    pthread_rwlockattr_t attr;
    *out = NULL;
    if (ix == NULL)
        return FERRY_ENOMEM;
    /* Writers first: a flood of hellos (readers) must not keep an API write waiting. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) {
        ferry_free(ix);
        return FERRY_ENOMEM;
    }
    if (pthread_mutex_init(&ix->names_lock, NULL) != 0) {
        pthread_rwlock_destroy(&ix->lock);
        ferry_free(ix);
        return FERRY_ENOMEM;
    }
    *out = ix;
    return FERRY_OK;
}

static void set_free(ix_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        ferry_free(s->v[i].name);
        json_decref(s->v[i].item);
        ferry_free(s->v[i].sign);
    }
    ferry_free(s->v);
    ferry_free(s->names);
    ferry_free(s->off);
}

void bridge__index_free(bridge_index *ix) {
    if (ix == NULL)
        return;
    bridge__index_drop(ix);
    ferry_free(ix->staged);
    for (ix_space *sp = ix->spaces, *next; sp != NULL; sp = next) {
        next = sp->next;
        set_free(&sp->sets[BRIDGE_INDEX_APPS]);
        set_free(&sp->sets[BRIDGE_INDEX_NODES]);
        json_decref(sp->topics);
        bridge__nodeset_free(sp->nodes);
        ferry_free(sp);
    }
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->names_lock);
    ferry_free(ix);
}

void bridge__index_read_lock(bridge_index *ix) {
    pthread_rwlock_rdlock(&ix->lock);
}

void bridge__index_write_lock(bridge_index *ix) {
    pthread_rwlock_wrlock(&ix->lock);
}

void bridge__index_unlock(bridge_index *ix) {
    pthread_rwlock_unlock(&ix->lock);
}

/* ---- items ----------------------------------------------------------------------------------- */

bool bridge__app_may_have_secrets(const json_t *spec) {
    size_t i;
    json_t *v;
    if (json_array_size(json_object_get(spec, "registries")) > 0)
        return true;
    json_array_foreach(json_object_get(spec, "volumes"), i, v) {
        if (json_object_get(v, "secret") != NULL || json_object_get(v, "certificate") != NULL)
            return true;
    }
    return false;
}

/* The index item of a live app record (new), or NULL on ENOMEM. */
static json_t *app_item(const json_t *rec) {
    const json_t *spec = json_object_get(rec, "spec");
    const json_t *selector = json_object_get(spec, "selector");
    json_t *item =
        json_pack("{s:I, s:b}", "version", json_integer_value(json_object_get(rec, "version")),
                  "secrets", bridge__app_may_have_secrets(spec));
    if (item != NULL && selector != NULL &&
        json_object_set_new(item, "selector", json_deep_copy(selector)) != 0) {
        json_decref(item);
        item = NULL;
    }
    return item;
}

/* The topic label bucket of an app item: "k=v", or "" when it goes on the all topic. */
static void topic_key(const json_t *item, char *buf, size_t len) {
    const char *k = NULL, *v = NULL;
    if (ferry_selector_topic_label(json_object_get(item, "selector"), &k, &v))
        snprintf(buf, len, "%s=%s", k, v);
    else
        buf[0] = '\0';
}

/* ---- staging --------------------------------------------------------------------------------- */

/* Split "ns/name" into its parts; false when key is not of that shape. */
static bool split_key(const char *key, char *ns, char *name) {
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) >= FERRY_NAME_MAX ||
        strchr(slash + 1, '/') != NULL || strlen(slash + 1) >= FERRY_NAME_MAX)
        return false;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    strcpy(name, slash + 1);
    return true;
}

ferry_err bridge__index_stage(bridge_index *ix, ferry_db db, const char *key, const json_t *rec) {
    ix_change c = {0};
    if (db != FERRY_DB_APPS && db != FERRY_DB_NODES)
        return FERRY_OK;
    c.kind = db == FERRY_DB_APPS ? BRIDGE_INDEX_APPS : BRIDGE_INDEX_NODES;
    if (!split_key(key, c.ns, c.name))
        return FERRY_OK; /* not a record of ours: nothing the index could list */
    if (rec != NULL && c.kind == BRIDGE_INDEX_APPS &&
        !json_is_true(json_object_get(rec, "deleted"))) {
        if ((c.item = app_item(rec)) == NULL)
            return FERRY_ENOMEM;
    } else if (rec != NULL && c.kind == BRIDGE_INDEX_NODES) {
        const json_t *labels = json_object_get(rec, "labels");
        if ((c.item = labels != NULL ? json_deep_copy(labels) : json_object()) == NULL)
            return FERRY_ENOMEM;
        c.has_sign = bridge__node_key(rec, "sign", c.sign);
    }
    if (ix->nstaged == ix->capstaged) {
        size_t cap = ix->capstaged != 0 ? 2 * ix->capstaged : 16;
        ix_change *grown = ferry_realloc(ix->staged, cap * sizeof(*grown));
        if (grown == NULL) {
            json_decref(c.item);
            return FERRY_ENOMEM;
        }
        ix->staged = grown;
        ix->capstaged = cap;
    }
    ix->staged[ix->nstaged++] = c;
    return FERRY_OK;
}

bool bridge__index_staged(const bridge_index *ix) {
    return ix->nstaged > 0;
}

void bridge__index_drop(bridge_index *ix) {
    for (size_t i = 0; i < ix->nstaged; i++)
        json_decref(ix->staged[i].item);
    ix->nstaged = 0;
}

/* ---- applying -------------------------------------------------------------------------------- */

static ix_space *space_of(const bridge_index *ix, const char *ns) {
    for (ix_space *sp = ix->spaces; sp != NULL; sp = sp->next) {
        if (strcmp(sp->ns, ns) == 0)
            return sp;
    }
    return NULL;
}

static ix_space *space_add(bridge_index *ix, const char *ns) {
    ix_space *sp = ferry_calloc(1, sizeof(*sp));
    if (sp == NULL)
        return NULL;
    snprintf(sp->ns, sizeof(sp->ns), "%s", ns);
    if ((sp->topics = json_object()) == NULL || (sp->nodes = bridge__nodeset_new()) == NULL) {
        json_decref(sp->topics);
        ferry_free(sp);
        return NULL;
    }
    sp->next = ix->spaces;
    ix->spaces = sp;
    return sp;
}

/* Where name is, or would go, in s->v. */
static size_t set_find(const ix_set *s, const char *name, bool *found) {
    size_t lo = 0, hi = s->n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The item of name in s, or NULL. */
static json_t *set_get(const ix_set *s, const char *name) {
    bool found;
    size_t at = set_find(s, name, &found);
    return found ? s->v[at].item : NULL;
}

/* The own copy of c's signing key in *sign (NULL when it has none); false on ENOMEM. */
static bool sign_copy(const ix_change *c, unsigned char **sign) {
    *sign = NULL;
    if (!c->has_sign)
        return true;
    if ((*sign = ferry_malloc(FERRY_SIGN_KEY_LEN)) == NULL)
        return false;
    memcpy(*sign, c->sign, FERRY_SIGN_KEY_LEN);
    return true;
}

/* Set the item of c's name (a reference is taken) and its key; its entry, or NULL on ENOMEM
 * (s unchanged). A new entry has no slot. */
static ix_entry *set_put(ix_set *s, const ix_change *c) {
    bool found;
    unsigned char *sign;
    size_t at = set_find(s, c->name, &found);
    if (!sign_copy(c, &sign))
        return NULL;
    if (found) {
        json_decref(s->v[at].item);
        s->v[at].item = json_incref(c->item);
        ferry_free(s->v[at].sign);
        s->v[at].sign = sign;
        return &s->v[at];
    }
    if (s->n == s->cap) {
        size_t cap = s->cap != 0 ? 2 * s->cap : 64;
        ix_entry *grown = ferry_realloc(s->v, cap * sizeof(*grown));
        if (grown == NULL) {
            ferry_free(sign);
            return NULL;
        }
        s->v = grown;
        s->cap = cap;
    }
    char *copy = ferry_strdup(c->name);
    if (copy == NULL) {
        ferry_free(sign);
        return NULL;
    }
    memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
    s->v[at] = (ix_entry){copy, json_incref(c->item), sign, BRIDGE_NODESET_NO_SLOT};
    s->n++;
    s->stale = true;
    return &s->v[at];
}

static void set_remove(ix_set *s, const char *name) {
    bool found;
    size_t at = set_find(s, name, &found);
    if (!found)
        return;
    ferry_free(s->v[at].name);
    json_decref(s->v[at].item);
    ferry_free(s->v[at].sign);
    memmove(&s->v[at], &s->v[at + 1], (s->n - at - 1) * sizeof(*s->v));
    s->n--;
    s->stale = true;
}

static void bucket_remove(ix_space *sp, const char *name, const json_t *item) {
    char key[FERRY_LABEL_KEY_MAX + FERRY_LABEL_VALUE_MAX];
    topic_key(item, key, sizeof(key));
    json_t *bucket = json_object_get(sp->topics, key);
    json_object_del(bucket, name);
    if (bucket != NULL && json_object_size(bucket) == 0)
        json_object_del(sp->topics, key);
}

static bool bucket_add(ix_space *sp, const char *name, json_t *item) {
    char key[FERRY_LABEL_KEY_MAX + FERRY_LABEL_VALUE_MAX];
    topic_key(item, key, sizeof(key));
    json_t *bucket = json_object_get(sp->topics, key);
    if (bucket == NULL &&
        (json_object_set_new(sp->topics, key, bucket = json_object()) != 0 || bucket == NULL))
        return false;
    return json_object_set(bucket, name, item) == 0;
}

/* A node's change: its entry, and its slot and postings in the nodeset. The old labels are
 * still referenced by the entry while the nodeset drops their postings. */
static bool apply_node(ix_space *sp, ix_change *c) {
    ix_set *s = &sp->sets[BRIDGE_INDEX_NODES];
    bool found;
    size_t at = set_find(s, c->name, &found);
    if (c->item == NULL) {
        if (found) {
            bridge__nodeset_remove(sp->nodes, s->v[at].slot);
            set_remove(s, c->name);
        }
        return true;
    }
    if (found) {
        uint32_t slot = s->v[at].slot;
        return bridge__nodeset_put(sp->nodes, &slot, s->v[at].name, c->item) &&
               set_put(s, c) != NULL;
    }
    ix_entry *e = set_put(s, c);
    return e != NULL && bridge__nodeset_put(sp->nodes, &e->slot, e->name, e->item);
}

/* One change; false on ENOMEM (the index then lacks the item: logged by the caller). */
static bool apply_one(bridge_index *ix, ix_change *c) {
    ix_space *sp = space_of(ix, c->ns);
    if (sp == NULL && c->item == NULL)
        return true;
    if (sp == NULL && (sp = space_add(ix, c->ns)) == NULL)
        return false;
    if (c->kind == BRIDGE_INDEX_NODES)
        return apply_node(sp, c);
    ix_set *s = &sp->sets[c->kind];
    json_t *old = set_get(s, c->name);
    if (old != NULL)
        bucket_remove(sp, c->name, old);
    if (c->item == NULL) {
        set_remove(s, c->name);
        return true;
    }
    return set_put(s, c) != NULL && bucket_add(sp, c->name, c->item);
}

void bridge__index_apply(bridge_index *ix) {
    for (size_t i = 0; i < ix->nstaged; i++) {
        ix_change *c = &ix->staged[i];
        if (!apply_one(ix, c)) {
            /* The bridge cannot go on honestly with an index that lacks a record. */
            LOG_ERROR("out of memory keeping the index of %s/%s; stopping", c->ns, c->name);
            abort();
        }
    }
    bridge__index_drop(ix);
}

/* ---- loading --------------------------------------------------------------------------------- */

typedef struct {
    bridge_index *ix;
    ferry_db db;
    ferry_err err;
} load_scan;

static bool load_each(const char *key, const json_t *rec, void *ctx) {
    load_scan *ls = ctx;
    bool ok = ls->db == FERRY_DB_APPS ? bridge__app_record_ok(key, rec)
                                      : bridge__node_record_ok(key, rec);
    if (!ok)
        return true; /* logged by the check; lists and syncs leave it out, as they did */
    ls->err = bridge__index_stage(ls->ix, ls->db, key, rec);
    return ls->err == FERRY_OK;
}

ferry_err bridge__index_load(bridge_index *ix, ferry_store_txn *t) {
    static const ferry_db dbs[] = {FERRY_DB_APPS, FERRY_DB_NODES};
    ferry_err err = FERRY_OK;
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]) && err == FERRY_OK; i++) {
        load_scan ls = {ix, dbs[i], FERRY_OK};
        err = ferry_store_scan(t, dbs[i], "", load_each, &ls);
        if (err == FERRY_OK)
            err = ls.err;
    }
    if (err != FERRY_OK)
        bridge__index_drop(ix);
    else
        bridge__index_apply(ix);
    return err;
}

/* ---- queries --------------------------------------------------------------------------------- */

const json_t *bridge__index_get(const bridge_index *ix, bridge_index_kind kind, const char *ns,
                                const char *name) {
    const ix_space *sp = space_of(ix, ns);
    return sp != NULL ? set_get(&sp->sets[kind], name) : NULL;
}

bool bridge__index_node(const bridge_index *ix, const char *ns, const char *name, bool *enrolled,
                        unsigned char sign[FERRY_SIGN_KEY_LEN]) {
    const ix_space *sp = space_of(ix, ns);
    const ix_set *s = sp != NULL ? &sp->sets[BRIDGE_INDEX_NODES] : NULL;
    bool found = false;
    size_t at = s != NULL ? set_find(s, name, &found) : 0;
    *enrolled = found && s->v[at].sign != NULL;
    if (*enrolled)
        memcpy(sign, s->v[at].sign, FERRY_SIGN_KEY_LEN);
    return found;
}

void bridge__index_each(const bridge_index *ix, bridge_index_kind kind, const char *ns,
                        bridge_index_fn fn, void *ctx) {
    const ix_space *sp = space_of(ix, ns);
    if (sp == NULL)
        return;
    const ix_set *s = &sp->sets[kind];
    for (size_t i = 0; i < s->n; i++) {
        if (!fn(s->v[i].name, s->v[i].item, ctx))
            return;
    }
}

/* Lay s's names out one after the other again; false on ENOMEM (s->stale stays set). */
static bool names_rebuild(ix_set *s) {
    size_t len = 0;
    for (size_t i = 0; i < s->n; i++)
        len += strlen(s->v[i].name) + 1;
    char *names = ferry_malloc(len > 0 ? len : 1);
    size_t *off = ferry_malloc((s->n > 0 ? s->n : 1) * sizeof(*off));
    if (names == NULL || off == NULL) {
        ferry_free(names);
        ferry_free(off);
        return false;
    }
    len = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->v[i].name) + 1;
        memcpy(names + len, s->v[i].name, l);
        off[i] = len;
        len += l;
    }
    ferry_free(s->names);
    ferry_free(s->off);
    s->names = names;
    s->off = off;
    s->stale = false;
    return true;
}

ferry_err bridge__index_each_named(const bridge_index *ix, bridge_index_kind kind, const char *ns,
                                   const char *part, bridge_index_fn fn, void *ctx) {
    ix_space *sp = space_of(ix, ns);
    if (sp == NULL)
        return FERRY_OK;
    ix_set *s = &sp->sets[kind];
    bridge_index *mix = (bridge_index *)ix; /* the arena is a cache: rebuilt under its own lock */
    pthread_mutex_lock(&mix->names_lock);
    bool ok = !s->stale || names_rebuild(s);
    pthread_mutex_unlock(&mix->names_lock);
    if (!ok)
        return FERRY_ENOMEM;
    /* No writer can run while the caller holds the read lock: the arena stays as it is. */
    for (size_t i = 0; i < s->n; i++) {
        if (strstr(s->names + s->off[i], part) != NULL && !fn(s->v[i].name, s->v[i].item, ctx))
            break;
    }
    return FERRY_OK;
}

void bridge__index_namespaces(const bridge_index *ix, bridge_index_ns_fn fn, void *ctx) {
    for (const ix_space *sp = ix->spaces; sp != NULL; sp = sp->next)
        fn(sp->ns, sp->sets[BRIDGE_INDEX_APPS].n, sp->sets[BRIDGE_INDEX_NODES].n, ctx);
}

typedef struct {
    const char *name;
    const json_t *item;
} candidate;

static int cmp_candidate(const void *a, const void *b) {
    return strcmp(((const candidate *)a)->name, ((const candidate *)b)->name);
}

/* The apps of one bucket into cands (cap checked by the caller: an app is in one bucket only). */
static size_t gather(const json_t *bucket, candidate *cands, size_t n) {
    const char *name;
    json_t *item;
    json_object_foreach((json_t *)bucket, name, item) {
        cands[n].name = name;
        cands[n].item = item;
        n++;
    }
    return n;
}

ferry_err bridge__index_apps_for(const bridge_index *ix, const char *ns, const json_t *labels,
                                 bridge_index_fn fn, void *ctx) {
    const ix_space *sp = space_of(ix, ns);
    char key[FERRY_LABEL_KEY_MAX + FERRY_LABEL_VALUE_MAX];
    const char *k;
    json_t *v;
    size_t n = 0;

    if (sp == NULL)
        return FERRY_OK;
    candidate *cands = ferry_calloc(sp->sets[BRIDGE_INDEX_APPS].n + 1, sizeof(*cands));
    if (cands == NULL)
        return FERRY_ENOMEM;
    /* An app selects only nodes that carry its topic label (or it is on the all topic). */
    n = gather(json_object_get(sp->topics, ""), cands, n);
    json_object_foreach((json_t *)labels, k, v) {
        if (!json_is_string(v))
            continue;
        snprintf(key, sizeof(key), "%s=%s", k, json_string_value(v));
        n = gather(json_object_get(sp->topics, key), cands, n);
    }
    qsort(cands, n, sizeof(*cands), cmp_candidate);
    for (size_t i = 0; i < n; i++) {
        if (ferry_selector_matches(json_object_get(cands[i].item, "selector"), labels) &&
            !fn(cands[i].name, cands[i].item, ctx))
            break;
    }
    ferry_free(cands);
    return FERRY_OK;
}

/* The selected slots with their names, in name order, for a selection small beside the set. */
static ferry_err nodes_gathered(const ix_space *sp, const bridge_nodeset_selected *sel,
                                bridge_index_fn fn, void *ctx) {
    candidate *cands = ferry_calloc(sel->count + 1, sizeof(*cands));
    size_t n = 0;
    if (cands == NULL)
        return FERRY_ENOMEM;
    for (size_t w = 0; w < sel->nwords; w++) {
        for (uint64_t bits = sel->bits[w]; bits != 0; bits &= bits - 1) {
            uint32_t slot = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            cands[n].name = bridge__nodeset_name(sp->nodes, slot);
            cands[n].item = bridge__nodeset_labels(sp->nodes, slot);
            n++;
        }
    }
    qsort(cands, n, sizeof(*cands), cmp_candidate);
    for (size_t i = 0; i < n; i++) {
        if (!fn(cands[i].name, cands[i].item, ctx))
            break;
    }
    ferry_free(cands);
    return FERRY_OK;
}

ferry_err bridge__index_nodes_for(const bridge_index *ix, const char *ns, const json_t *selector,
                                  bridge_index_fn fn, void *ctx) {
    const ix_space *sp = space_of(ix, ns);
    bridge_nodeset_selected sel;

    if (sp == NULL)
        return FERRY_OK;
    ferry_err err = bridge__nodeset_select(sp->nodes, selector, &sel);
    if (err != FERRY_OK)
        return err;
    const ix_set *s = &sp->sets[BRIDGE_INDEX_NODES];
    /* A few nodes: sort them by name. Many: walk the set in name order and test their bits,
     * ~1 ns a node where a sort costs ~20 ns a node selected. */
    if (!sel.scan && sel.count * 16 < s->n) {
        err = nodes_gathered(sp, &sel, fn, ctx);
        bridge__nodeset_selected_free(&sel);
        return err;
    }
    for (size_t i = 0; i < s->n; i++) {
        bool in = sel.scan ? ferry_selector_matches(selector, s->v[i].item)
                           : bridge__nodeset_has(&sel, s->v[i].slot);
        if (in && !fn(s->v[i].name, s->v[i].item, ctx))
            break;
    }
    bridge__nodeset_selected_free(&sel);
    return FERRY_OK;
}
