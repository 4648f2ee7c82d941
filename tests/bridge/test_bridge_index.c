/* Unit tests of broker-bridge's index for node selectors: the nodes a selector selects, from the
 * label postings (nodeset.c), must be exactly those ferry_selector_matches selects, in name
 * order, through creates, relabels and deletes (slots given again), for well-formed, malformed and
 * odd selectors and labels. The reference is a model kept beside the index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/selector.h"
#include "index.h"
#include "nodeset.h"

/* The seeded generator of this test (the same sequence on every machine). */
static unsigned long long rng_state;

static unsigned rnd(unsigned n) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng_state >> 33) % n);
}

static const char *const ZONES[] = {"z0", "z1", "z2", "z3", "z4", "z5", "z6", "z7"};
static const char *const TIERS[] = {"edge", "gw", "core"};

/* Labels as a fleet has them, now and then with one the postings cannot stand for. */
static json_t *random_labels(void) {
    json_t *l = json_object();
    char rack[8];
    if (rnd(10) != 0)
        json_object_set_new(l, "zone", json_string(ZONES[rnd(8)]));
    if (rnd(4) != 0)
        json_object_set_new(l, "tier", json_string(TIERS[rnd(3)]));
    if (rnd(3) == 0)
        json_object_set_new(l, "gpu", json_string("1"));
    json_object_set_new(l, "arch", json_string(rnd(2) != 0 ? "amd64" : "arm64"));
    snprintf(rack, sizeof(rack), "r%u", rnd(40));
    json_object_set_new(l, "rack", json_string(rack));
    /* Nearly one value per node: postings emptied and forgotten all the time. */
    snprintf(rack, sizeof(rack), "s%u", rnd(3000));
    json_object_set_new(l, "serial", json_string(rack));
    switch (rnd(40)) {
    case 0:
        json_object_set_new(l, "gpu", json_integer(1)); /* not a string */
        break;
    case 1:
        json_object_set_new(l, "a=b", json_string("c")); /* '=' in a key */
        break;
    case 2:
        json_object_set_new(l, "a", json_string("b=c")); /* '=' in a value is a value */
        break;
    default:
        break;
    }
    return l;
}

static json_t *random_values(void) {
    json_t *v = json_array();
    unsigned n = rnd(4);
    for (unsigned i = 0; i < n; i++) {
        unsigned pick = rnd(14);
        json_array_append_new(v, pick < 8    ? json_string(ZONES[pick])
                                 : pick < 11 ? json_string(TIERS[pick - 8])
                                 : pick < 12 ? json_integer(1)
                                 : pick < 13 ? json_string("1")
                                             : json_string("b=c"));
    }
    return v;
}

static const char *random_key(void) {
    static const char *const keys[] = {"zone",   "tier", "gpu", "arch", "rack",
                                       "serial", "a",    "a=b", "none"};
    return keys[rnd(9)];
}

/* A selector of the shapes the API and apps carry, and of some they never should. */
static json_t *random_selector(void) {
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", "Near"};
    switch (rnd(30)) {
    case 0:
        return NULL;
    case 1:
        return json_null();
    case 2:
        return json_string("zone=z1");
    case 3:
        return json_pack("{s:s}", "matchLabels", "zone");
    case 4:
        return json_pack("{s:{s:i}}", "matchLabels", "zone", 1);
    case 5:
        return json_pack("{s:{}}", "matchExpressions");
    case 6:
        return json_pack("{s:[{s:s}]}", "matchExpressions", "key", "zone");
    default:
        break;
    }
    json_t *sel = json_object();
    json_t *ml = json_object();
    unsigned n = rnd(3);
    for (unsigned i = 0; i < n; i++) {
        const char *k = random_key();
        unsigned pick = rnd(12);
        char value[8];
        snprintf(value, sizeof(value), "%c%u", k[0], rnd(strcmp(k, "serial") == 0 ? 3000 : 40));
        json_object_set_new(ml, k,
                            strcmp(k, "rack") == 0 || strcmp(k, "serial") == 0 ? json_string(value)
                            : pick < 8  ? json_string(ZONES[pick])
                            : pick < 10 ? json_string(TIERS[pick - 8])
                            : pick < 11 ? json_string("amd64")
                                        : json_string("c"));
    }
    if (n > 0 || rnd(2) == 0)
        json_object_set_new(sel, "matchLabels", ml);
    else
        json_decref(ml);
    json_t *me = json_array();
    n = rnd(4);
    for (unsigned i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s,s:s}", "key", random_key(), "operator", ops[rnd(5)]);
        if (rnd(5) != 0)
            json_object_set_new(e, "values", random_values());
        json_array_append_new(me, e);
    }
    if (n > 0 || rnd(2) == 0)
        json_object_set_new(sel, "matchExpressions", me);
    else
        json_decref(me);
    return sel;
}

/* What the index hands its callback, up to a limit. */
typedef struct {
    json_t *names;
    size_t limit;
} seen;

static bool collect(const char *name, const json_t *item, void *ctx) {
    seen *s = ctx;
    (void)item;
    json_array_append_new(s->names, json_string(name));
    return json_array_size(s->names) < s->limit;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names model holds, in name order, that selector selects (the reference). */
static json_t *expected(const json_t *model, const json_t *selector, size_t limit) {
    json_t *names = json_array();
    const char **sorted = calloc(json_object_size(model) + 1, sizeof(*sorted));
    const char *name;
    json_t *labels;
    size_t n = 0;
    json_object_foreach((json_t *)model, name, labels) {
        if (ferry_selector_matches(selector, labels))
            sorted[n++] = name;
    }
    qsort(sorted, n, sizeof(*sorted), cmp_name);
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(names, json_string(sorted[i]));
    free(sorted);
    return names;
}

/* Stage and apply one node's record (labels NULL: delete it), in the index and the model. */
static void put_node(bridge_index *ix, json_t *model, const char *name, json_t *labels) {
    char key[64];
    snprintf(key, sizeof(key), "default/%s", name);
    json_t *rec = labels != NULL
                      ? json_pack("{s:s,s:s,s:O}", "ns", "default", "name", name, "labels", labels)
                      : NULL;
    bridge__index_write_lock(ix);
    assert_int_equal(bridge__index_stage(ix, FERRY_DB_NODES, key, rec), FERRY_OK);
    bridge__index_apply(ix);
    bridge__index_unlock(ix);
    json_decref(rec);
    if (labels != NULL)
        json_object_set_new(model, name, labels);
    else
        json_object_del(model, name);
}

/* The names the index hands its callback for selector, up to limit (new array). */
static json_t *selected(bridge_index *ix, const json_t *selector, size_t limit) {
    seen got = {json_array(), limit};
    bridge__index_read_lock(ix);
    assert_int_equal(bridge__index_nodes_for(ix, "default", selector, collect, &got), FERRY_OK);
    bridge__index_unlock(ix);
    return got.names;
}

/* The index's answer for selector against the model's, in full and cut short by the callback. */
static void check_selector(bridge_index *ix, const json_t *model, const json_t *selector) {
    for (int cut = 0; cut < 2; cut++) {
        size_t limit = cut == 0 ? (size_t)-1 : 1 + rnd(20);
        json_t *got = selected(ix, selector, limit);
        json_t *want = expected(model, selector, limit);
        if (!json_equal(got, want)) {
            char *s = json_dumps(selector, JSON_COMPACT | JSON_ENCODE_ANY);
            fail_msg("selector %s: %zu nodes selected, %zu expected (limit %zu)",
                     s != NULL ? s : "(null)", json_array_size(got), json_array_size(want), limit);
        }
        json_decref(want);
        json_decref(got);
    }
}

/* Every label any node carries, as a selector of its own: exactly the nodes that carry it (a
 * posting lost in the table, or a slot left in one, shows here). */
static void check_every_label(bridge_index *ix, const json_t *model) {
    json_t *counts = json_object(); /* k -> {v: nodes} */
    const char *name, *k, *v;
    json_t *labels, *value, *byvalue, *n;
    json_object_foreach((json_t *)model, name, labels) {
        json_object_foreach(labels, k, value) {
            if (!json_is_string(value))
                continue;
            if ((byvalue = json_object_get(counts, k)) == NULL)
                json_object_set_new(counts, k, byvalue = json_object());
            n = json_object_get(byvalue, json_string_value(value));
            json_object_set_new(byvalue, json_string_value(value),
                                json_integer(json_integer_value(n) + 1));
        }
    }
    json_object_foreach(counts, k, byvalue) {
        json_object_foreach(byvalue, v, n) {
            json_t *sel = json_pack("{s:{s:s}}", "matchLabels", k, v);
            json_t *got = selected(ix, sel, (size_t)-1);
            size_t i;
            json_t *nm;
            if (json_array_size(got) != (size_t)json_integer_value(n))
                fail_msg("%s=%s: %zu nodes selected, %lld carry it", k, v, json_array_size(got),
                         json_integer_value(n));
            json_array_foreach(got, i, nm) {
                const json_t *l = json_object_get(model, json_string_value(nm));
                assert_string_equal(json_string_value(json_object_get(l, k)), v);
            }
            json_decref(got);
            json_decref(sel);
        }
    }
    json_decref(counts);
}

/* Creates, relabels and deletes of 1,500 names (slots freed and given again), each round checked
 * with 60 selectors and a selector per label; small selections take the sorted path, large ones the
 * walk in name order. */
static void test_selectors_match_the_reference(void **state) {
    (void)state;
    bridge_index *ix = NULL;
    json_t *model = json_object();
    char name[32];
    rng_state = 20261202;
    assert_int_equal(bridge__index_new(&ix), FERRY_OK);
    for (int round = 0; round < 12; round++) {
        for (int op = 0; op < 800; op++) {
            snprintf(name, sizeof(name), "node-%04u", rnd(1500));
            put_node(ix, model, name, rnd(5) == 0 ? NULL : random_labels());
        }
        for (int i = 0; i < 60; i++) {
            json_t *sel = random_selector();
            check_selector(ix, model, sel);
            json_decref(sel);
        }
        check_every_label(ix, model);
    }
    /* Every node gone: nothing is selected, not even by the empty selector. */
    const char *n;
    json_t *labels;
    void *tmp;
    json_object_foreach_safe(model, tmp, n, labels) {
        snprintf(name, sizeof(name), "%s", n);
        put_node(ix, model, name, NULL);
    }
    check_selector(ix, model, NULL);
    json_decref(model);
    bridge__index_free(ix);
}

/* The postings themselves: a relabel moves a node from one posting to another, and a label
 * no node carries any more is forgotten (a selector on it selects nothing). */
static void test_relabel_moves_postings(void **state) {
    (void)state;
    bridge_nodeset *s = bridge__nodeset_new();
    bridge_nodeset_selected sel;
    uint32_t a = BRIDGE_NODESET_NO_SLOT, b = BRIDGE_NODESET_NO_SLOT;
    json_t *la = json_pack("{s:s}", "zone", "east");
    json_t *lb = json_pack("{s:s}", "zone", "east");
    json_t *west = json_pack("{s:s}", "zone", "west");
    json_t *by_east = json_pack("{s:{s:s}}", "matchLabels", "zone", "east");
    json_t *no_zone =
        json_pack("{s:[{s:s,s:s}]}", "matchExpressions", "key", "zone", "operator", "DoesNotExist");
    assert_non_null(s);
    assert_true(bridge__nodeset_put(s, &a, "a", la));
    assert_true(bridge__nodeset_put(s, &b, "b", lb));
    assert_int_not_equal(a, b);
    assert_int_equal(bridge__nodeset_select(s, by_east, &sel), FERRY_OK);
    assert_false(sel.scan);
    assert_int_equal(sel.count, 2);
    bridge__nodeset_selected_free(&sel);

    assert_true(bridge__nodeset_put(s, &a, "a", west));
    assert_int_equal(bridge__nodeset_select(s, by_east, &sel), FERRY_OK);
    assert_int_equal(sel.count, 1);
    assert_true(bridge__nodeset_has(&sel, b));
    assert_false(bridge__nodeset_has(&sel, a));
    bridge__nodeset_selected_free(&sel);

    bridge__nodeset_remove(s, b);
    assert_int_equal(bridge__nodeset_select(s, by_east, &sel), FERRY_OK);
    assert_int_equal(sel.count, 0);
    bridge__nodeset_selected_free(&sel);
    assert_int_equal(bridge__nodeset_select(s, no_zone, &sel), FERRY_OK);
    assert_int_equal(sel.count, 0);
    bridge__nodeset_selected_free(&sel);

    /* The freed slot is given to the next node. */
    uint32_t c = BRIDGE_NODESET_NO_SLOT;
    assert_true(bridge__nodeset_put(s, &c, "c", lb));
    assert_int_equal(c, b);
    assert_string_equal(bridge__nodeset_name(s, c), "c");
    bridge__nodeset_free(s);
    json_decref(la);
    json_decref(lb);
    json_decref(west);
    json_decref(by_east);
    json_decref(no_zone);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selectors_match_the_reference),
        cmocka_unit_test(test_relabel_moves_postings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
