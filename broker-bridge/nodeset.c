/* broker-bridge nodeset: nodes by label as slot postings; selectors as bitmaps (nodeset.h). */
#include "nodeset.h"

#include <stdio.h>
#include <string.h>

#include "ferry/selector.h"
#include "ferry/topics.h"

/* The slots of the nodes that carry one label "k=v" or label key "k", ascending. */
typedef struct {
    uint32_t *v;
    uint32_t n, cap;
} posting;

/* A bucket of the postings' hash table (linear probing); key NULL: empty. */
typedef struct {
    char *key; /* own copy */
    uint64_t hash;
    posting p;
} bucket;

typedef struct {
    const char *name;     /* borrowed; NULL: the slot is free */
    const json_t *labels; /* borrowed */
    /* A label the postings cannot stand for (a value that is not a string or has a NUL in it, a
     * key with '=' in it, or longer than the label rules allow): this node is checked on its
     * own. */
    bool odd;
} slot_info;

struct bridge_nodeset {
    slot_info *slots;
    uint32_t nslots, capslots; /* nslots: the highest slot ever given + 1 */
    uint32_t *free;            /* slots to give again, a stack */
    uint32_t nfree, capfree;
    uint64_t *live; /* a bit per slot in use; capslots / 64 words */
    size_t nodd;    /* slots whose node is odd */
    bucket *tab;
    size_t tabcap, tabn; /* tabcap: a power of two, or 0 */
};

/* "k=v" or "k" (v NULL) into buf; false when it does not fit (no node's posting has that key:
 * a node whose label does not fit is odd). */
static bool label_key(char *buf, size_t len, const char *k, const char *v) {
    int n = v != NULL ? snprintf(buf, len, "%s=%s", k, v) : snprintf(buf, len, "%s", k);
    return n >= 0 && (size_t)n < len;
}

#define KEY_LEN (FERRY_LABEL_KEY_MAX + FERRY_LABEL_VALUE_MAX + 1)

/* Bit i of a bitmap over slots, set (on) or cleared. */
static void bit_put(uint64_t *bits, uint32_t i, bool on) {
    if (on)
        bits[i / 64] |= (uint64_t)1 << (i % 64);
    else
        bits[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* ---- the table of postings ------------------------------------------------------------------ */

static uint64_t hash_of(const char *s) {
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Where key is, or the empty bucket where it would go (the table has room). */
static size_t tab_find(const bridge_nodeset *s, const char *key, uint64_t h) {
    size_t mask = s->tabcap - 1;
    size_t i = (size_t)h & mask;
    while (s->tab[i].key != NULL && (s->tab[i].hash != h || strcmp(s->tab[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

static const posting *tab_get(const bridge_nodeset *s, const char *key) {
    if (s->tabcap == 0)
        return NULL;
    size_t i = tab_find(s, key, hash_of(key));
    return s->tab[i].key != NULL ? &s->tab[i].p : NULL;
}

static bool tab_grow(bridge_nodeset *s) {
    size_t cap = s->tabcap != 0 ? 2 * s->tabcap : 64;
    bucket *old = s->tab;
    size_t oldcap = s->tabcap;
    if ((s->tab = ferry_calloc(cap, sizeof(*s->tab))) == NULL) {
        s->tab = old;
        return false;
    }
    s->tabcap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key != NULL)
            s->tab[tab_find(s, old[i].key, old[i].hash)] = old[i];
    }
    ferry_free(old);
    return true;
}

/* The posting of key, added empty when missing; NULL on ENOMEM. */
static posting *tab_add(bridge_nodeset *s, const char *key) {
    if ((s->tabn + 1) * 10 > s->tabcap * 7 && !tab_grow(s))
        return NULL;
    uint64_t h = hash_of(key);
    size_t i = tab_find(s, key, h);
    if (s->tab[i].key == NULL) {
        if ((s->tab[i].key = ferry_strdup(key)) == NULL)
            return NULL;
        s->tab[i].hash = h;
        s->tab[i].p = (posting){0};
        s->tabn++;
    }
    return &s->tab[i].p;
}

/* Remove the bucket at i, moving the ones after it that probed past it back (no tombstones). */
static void tab_del_at(bridge_nodeset *s, size_t i) {
    size_t mask = s->tabcap - 1;
    ferry_free(s->tab[i].key);
    ferry_free(s->tab[i].p.v);
    s->tab[i] = (bucket){0};
    s->tabn--;
    for (size_t j = (i + 1) & mask; s->tab[j].key != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)s->tab[j].hash & mask;
        /* The entry at j stays when its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        s->tab[i] = s->tab[j];
        s->tab[j] = (bucket){0};
        i = j;
    }
}

/* ---- postings -------------------------------------------------------------------------------- */

/* The first position in p whose slot is >= slot. */
static uint32_t posting_at(const posting *p, uint32_t slot) {
    uint32_t lo = 0, hi = p->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->v[mid] < slot)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool posting_add(bridge_nodeset *s, const char *key, uint32_t slot) {
    posting *p = tab_add(s, key);
    if (p == NULL)
        return false;
    uint32_t at = posting_at(p, slot);
    if (at < p->n && p->v[at] == slot)
        return true;
    if (p->n == p->cap) {
        uint32_t cap = p->cap != 0 ? 2 * p->cap : 4;
        uint32_t *grown = ferry_realloc(p->v, cap * sizeof(*grown));
        if (grown == NULL)
            return false;
        p->v = grown;
        p->cap = cap;
    }
    memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof(*p->v));
    p->v[at] = slot;
    p->n++;
    return true;
}

static void posting_del(bridge_nodeset *s, const char *key, uint32_t slot) {
    if (s->tabcap == 0)
        return;
    size_t i = tab_find(s, key, hash_of(key));
    posting *p = &s->tab[i].p;
    if (s->tab[i].key == NULL)
        return;
    uint32_t at = posting_at(p, slot);
    if (at == p->n || p->v[at] != slot)
        return;
    memmove(&p->v[at], &p->v[at + 1], (p->n - at - 1) * sizeof(*p->v));
    if (--p->n == 0)
        tab_del_at(s, i);
}

/* Add (or remove) slot to (from) the postings of labels; false on ENOMEM; *odd is set when a
 * label cannot be posted. */
static bool post_labels(bridge_nodeset *s, uint32_t slot, const json_t *labels, bool add,
                        bool *odd) {
    char key[KEY_LEN];
    const char *k;
    json_t *v;
    *odd = labels != NULL && !json_is_object(labels);
    json_object_foreach((json_t *)labels, k, v) {
        if (strchr(k, '=') != NULL || !json_is_string(v) ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            *odd = true;
            continue;
        }
        for (int pass = 0; pass < 2; pass++) {
            if (!label_key(key, sizeof(key), k, pass == 0 ? json_string_value(v) : NULL)) {
                *odd = true;
                continue;
            }
            if (!add)
                posting_del(s, key, slot);
            else if (!posting_add(s, key, slot))
                return false;
        }
    }
    return true;
}

/* ---- slots ----------------------------------------------------------------------------------- */

bridge_nodeset *bridge__nodeset_new(void) {
    return ferry_calloc(1, sizeof(bridge_nodeset));
}

void bridge__nodeset_free(bridge_nodeset *s) {
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->tabcap; i++) {
        ferry_free(s->tab[i].key);
        ferry_free(s->tab[i].p.v);
    }
    ferry_free(s->tab);
    ferry_free(s->slots);
    ferry_free(s->free);
    ferry_free(s->live);
    ferry_free(s);
}

/* A free slot into *slot; false on ENOMEM. */
static bool slot_take(bridge_nodeset *s, uint32_t *slot) {
    if (s->nfree > 0) {
        *slot = s->free[--s->nfree];
        return true;
    }
    if (s->nslots == s->capslots) {
        if (s->capslots >= UINT32_MAX / 2)
            return false;
        uint32_t cap = s->capslots != 0 ? 2 * s->capslots : 64;
        slot_info *slots = ferry_realloc(s->slots, (size_t)cap * sizeof(*slots));
        if (slots == NULL)
            return false;
        s->slots = slots;
        uint64_t *live = ferry_realloc(s->live, (size_t)cap / 64 * sizeof(*live));
        if (live == NULL)
            return false;
        memset(live + s->capslots / 64, 0, (size_t)(cap - s->capslots) / 64 * sizeof(*live));
        s->live = live;
        s->capslots = cap;
    }
    *slot = s->nslots++;
    return true;
}

bool bridge__nodeset_put(bridge_nodeset *s, uint32_t *slot, const char *name,
                         const json_t *labels) {
    bool odd;
    if (*slot != BRIDGE_NODESET_NO_SLOT) {
        slot_info *in = &s->slots[*slot];
        post_labels(s, *slot, in->labels, false, &odd);
        if (in->odd)
            s->nodd--;
    } else {
        if (!slot_take(s, slot))
            return false;
        bit_put(s->live, *slot, true);
    }
    s->slots[*slot] = (slot_info){name, labels, false};
    bool ok = post_labels(s, *slot, labels, true, &odd);
    s->slots[*slot].odd = odd;
    if (odd)
        s->nodd++;
    return ok;
}

void bridge__nodeset_remove(bridge_nodeset *s, uint32_t slot) {
    bool odd;
    if (slot >= s->nslots || s->slots[slot].name == NULL)
        return;
    post_labels(s, slot, s->slots[slot].labels, false, &odd);
    if (s->slots[slot].odd)
        s->nodd--;
    s->slots[slot] = (slot_info){0};
    bit_put(s->live, slot, false);
    /* The stack has room for every slot ever given: growing it cannot fail past its first use. */
    if (s->nfree == s->capfree) {
        uint32_t cap = s->capfree != 0 ? 2 * s->capfree : 64;
        uint32_t *grown = ferry_realloc(s->free, (size_t)cap * sizeof(*grown));
        if (grown == NULL)
            return; /* the slot is not given again: a leak of 24 bytes, not a wrong answer */
        s->free = grown;
        s->capfree = cap;
    }
    s->free[s->nfree++] = slot;
}

const char *bridge__nodeset_name(const bridge_nodeset *s, uint32_t slot) {
    return s->slots[slot].name;
}

const json_t *bridge__nodeset_labels(const bridge_nodeset *s, uint32_t slot) {
    return s->slots[slot].labels;
}

/* ---- selecting ------------------------------------------------------------------------------- */

static void bits_or_posting(uint64_t *bits, const posting *p) {
    for (uint32_t i = 0; p != NULL && i < p->n; i++)
        bit_put(bits, p->v[i], true);
}

/* res &= tmp (or &= ~tmp when negate). */
static void bits_and(uint64_t *res, const uint64_t *tmp, size_t nwords, bool negate) {
    for (size_t i = 0; i < nwords; i++)
        res[i] &= negate ? ~tmp[i] : tmp[i];
}

/* The posting of k=v (v NULL: of key k); NULL when no node carries it. */
static const posting *lookup(const bridge_nodeset *s, const char *k, const char *v) {
    char key[KEY_LEN];
    return label_key(key, sizeof(key), k, v) ? tab_get(s, key) : NULL;
}

/* A JSON string the postings can stand for: no NUL inside it. */
static bool plain(const json_t *str) {
    return strlen(json_string_value(str)) == json_string_length(str);
}

/* The evaluation of one selector: res starts as every live node. */
typedef struct {
    const bridge_nodeset *s;
    uint64_t *res, *tmp;
    size_t nwords;
    bool scan; /* a requirement the postings cannot stand for: check each node instead */
} sel_walk;

/* res &= the nodes one requirement selects (ferry_selector_matches's rules as set operations:
 * NotIn and DoesNotExist are complements, so that they hold for a node without the label). */
static bool and_requirement(const char *key, ferry_selector_op op, const char *value,
                            const json_t *values, void *ctx) {
    sel_walk *w = ctx;
    if (strchr(key, '=') != NULL || (op == FERRY_SELECTOR_EQ && !plain(values))) {
        w->scan = true;
        return false;
    }
    memset(w->tmp, 0, w->nwords * sizeof(*w->tmp));
    if (op == FERRY_SELECTOR_EQ)
        bits_or_posting(w->tmp, lookup(w->s, key, value));
    if (op == FERRY_SELECTOR_EXISTS || op == FERRY_SELECTOR_NOT_EXISTS)
        bits_or_posting(w->tmp, lookup(w->s, key, NULL));
    for (size_t i = 0;
         (op == FERRY_SELECTOR_IN || op == FERRY_SELECTOR_NOT_IN) && i < json_array_size(values);
         i++) {
        const json_t *v = json_array_get(values, i);
        if (!json_is_string(v))
            continue; /* equals no label */
        if (!plain(v)) {
            w->scan = true;
            return false;
        }
        bits_or_posting(w->tmp, lookup(w->s, key, json_string_value(v)));
    }
    bits_and(w->res, w->tmp, w->nwords,
             op == FERRY_SELECTOR_NOT_IN || op == FERRY_SELECTOR_NOT_EXISTS);
    return true;
}

ferry_err bridge__nodeset_select(const bridge_nodeset *s, const json_t *selector,
                                 bridge_nodeset_selected *out) {
    size_t nwords = ((size_t)s->nslots + 63) / 64;
    uint64_t *tmp = NULL;
    ferry_err err = FERRY_ENOMEM;

    *out = (bridge_nodeset_selected){.nwords = nwords};
    if ((out->bits = ferry_calloc(nwords + 1, sizeof(*out->bits))) == NULL ||
        (tmp = ferry_calloc(nwords + 1, sizeof(*tmp))) == NULL)
        goto out;
    if (nwords > 0)
        memcpy(out->bits, s->live, nwords * sizeof(*out->bits));
    sel_walk w = {s, out->bits, tmp, nwords, false};
    int walked = ferry_selector_each(selector, and_requirement, &w);
    if (w.scan) {
        ferry_free(out->bits);
        *out = (bridge_nodeset_selected){.scan = true};
        err = FERRY_OK;
        goto out;
    }
    if (walked < 0) /* malformed: selects nothing */
        memset(out->bits, 0, nwords * sizeof(*out->bits));
    /* Nodes with a label the postings lack answer for themselves (none in a well-kept store). */
    for (uint32_t i = 0; s->nodd > 0 && i < s->nslots; i++) {
        if (s->slots[i].name == NULL || !s->slots[i].odd)
            continue;
        bit_put(out->bits, i, ferry_selector_matches(selector, s->slots[i].labels));
    }
    for (size_t i = 0; i < nwords; i++)
        out->count += (size_t)__builtin_popcountll(out->bits[i]);
    err = FERRY_OK;
out:
    ferry_free(tmp);
    if (err != FERRY_OK)
        bridge__nodeset_selected_free(out);
    return err;
}

void bridge__nodeset_selected_free(bridge_nodeset_selected *sel) {
    ferry_free(sel->bits);
    sel->bits = NULL;
    sel->nwords = sel->count = 0;
}
