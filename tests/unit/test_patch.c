/* Unit tests of structural diff/patch (schema/patch.c), including a randomized round-trip property
 * over generated documents and the failing-allocator loop. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "ferry/codec.h"
#include "ferry/patch.h"

/* diff(from, to) must equal `want` (when not NULL) and apply back to `to`. */
static void check_diff(const char *from_s, const char *to_s, const char *want_s) {
    json_t *from = J(from_s), *to = J(to_s), *from_copy = json_deep_copy(from);
    json_t *patch = ferry_patch_diff(from, to);
    json_t *out = NULL;
    assert_non_null(patch);
    if (want_s != NULL) {
        json_t *want = J(want_s);
        assert_json_equal(patch, want);
        json_decref(want);
    }
    assert_int_equal(ferry_patch_apply(from, patch, &out), FERRY_OK);
    assert_json_equal(out, to);
    assert_json_equal(from, from_copy);
    json_decref(out);
    json_decref(patch);
    json_decref(from_copy);
    json_decref(from);
    json_decref(to);
}

static void test_diff_objects(void **state) {
    (void)state;
    check_diff("{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}", "{\"obj\":{}}");
    check_diff("{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":3,\"c\":[1]}",
               "{\"obj\":{\"b\":{\"set\":3},\"c\":{\"set\":[1]}}}");
    check_diff("{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"obj\":{},\"del\":[\"b\"]}");
    check_diff("{\"a\":{\"x\":{\"y\":1,\"z\":2}}}", "{\"a\":{\"x\":{\"y\":1,\"z\":3}}}",
               "{\"obj\":{\"a\":{\"obj\":{\"x\":{\"obj\":{\"z\":{\"set\":3}}}}}}}");
    check_diff("{\"a\":[1,2]}", "{\"a\":[2,1]}", "{\"obj\":{\"a\":{\"set\":[2,1]}}}");
    check_diff("{\"a\":{}}", "{\"a\":[]}", "{\"obj\":{\"a\":{\"set\":[]}}}");
    check_diff("{\"a\":1}", "[1]", "{\"set\":[1]}");
    check_diff("5", "6", "{\"set\":6}");
    check_diff("[1,2]", "[1,2]", "{\"set\":[1,2]}");
    check_diff("null", "{}", "{\"set\":{}}");
}

static void test_diff_keyed(void **state) {
    (void)state;
    const char *base =
        "[{\"name\":\"a\",\"v\":1},{\"name\":\"b\",\"v\":2},{\"name\":\"c\",\"v\":3}]";
    check_diff(base, base, "{\"keyed\":\"name\",\"items\":{}}");
    /* change one item */
    check_diff(base, "[{\"name\":\"a\",\"v\":1},{\"name\":\"b\",\"v\":5},{\"name\":\"c\",\"v\":3}]",
               "{\"keyed\":\"name\",\"items\":{\"b\":{\"obj\":{\"v\":{\"set\":5}}}}}");
    /* delete one, append one: the natural order needs no "order" */
    check_diff(base, "[{\"name\":\"a\",\"v\":1},{\"name\":\"c\",\"v\":3},{\"name\":\"d\"}]",
               "{\"keyed\":\"name\",\"items\":{\"d\":{\"set\":{\"name\":\"d\"}}},\"del\":[\"b\"]}");
    /* insert in the middle: order is sent */
    check_diff(
        base,
        "[{\"name\":\"a\",\"v\":1},{\"name\":\"x\"},{\"name\":\"b\",\"v\":2},{\"name\":\"c\","
        "\"v\":3}]",
        "{\"keyed\":\"name\",\"items\":{\"x\":{\"set\":{\"name\":\"x\"}}},\"order\":[\"a\","
        "\"x\",\"b\",\"c\"]}");
    /* pure reorder */
    check_diff(base, "[{\"name\":\"c\",\"v\":3},{\"name\":\"a\",\"v\":1},{\"name\":\"b\",\"v\":2}]",
               "{\"keyed\":\"name\",\"items\":{},\"order\":[\"c\",\"a\",\"b\"]}");
    /* two new items keep their relative order without "order" */
    check_diff("[]", "[{\"name\":\"b\"},{\"name\":\"a\"}]",
               "{\"keyed\":\"name\",\"items\":{\"b\":{\"set\":{\"name\":\"b\"}},\"a\":{\"set\":{"
               "\"name\":\"a\"}}}}");
    check_diff(base, "[]", "{\"keyed\":\"name\",\"items\":{},\"del\":[\"a\",\"b\",\"c\"]}");
    /* not keyed: duplicate names, a non-object, a name that is not a string */
    check_diff("[{\"name\":\"a\"},{\"name\":\"a\"}]", "[{\"name\":\"a\"}]",
               "{\"set\":[{\"name\":\"a\"}]}");
    check_diff("[{\"name\":\"a\"}]", "[{\"name\":\"a\"},1]", "{\"set\":[{\"name\":\"a\"},1]}");
    check_diff("[{\"name\":1}]", "[{\"name\":2}]", "{\"set\":[{\"name\":2}]}");
    check_diff("[{\"id\":1}]", "[{\"id\":2}]", "{\"set\":[{\"id\":2}]}");
}

/* The case the protocol is built for: one env value of one service out of ten. */
static void test_one_env_value(void **state) {
    (void)state;
    json_t *from = json_array();
    for (int i = 0; i < 10; i++) {
        char n[8];
        snprintf(n, sizeof(n), "s%d", i);
        json_array_append_new(from, json_pack("{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "name", n,
                                              "image", "busybox", "env", "name", "A", "value", "1",
                                              "name", "B", "value", "2"));
    }
    json_t *app_from = json_pack("{s:s, s:o}", "name", "web", "services", from);
    json_t *app_to = json_deep_copy(app_from);
    json_t *env = json_object_get(json_array_get(json_object_get(app_to, "services"), 7), "env");
    json_object_set_new(json_array_get(env, 1), "value", json_string("3"));
    json_t *patch = ferry_patch_diff(app_from, app_to);
    json_t *want =
        J("{\"obj\":{\"services\":{\"keyed\":\"name\",\"items\":{\"s7\":{\"obj\":{\"env\":"
          "{\"keyed\":\"name\",\"items\":{\"B\":{\"obj\":{\"value\":{\"set\":\"3\"}}}}}}}"
          "}}}}");
    assert_json_equal(patch, want);
    json_decref(want);
    json_decref(patch);
    json_decref(app_from);
    json_decref(app_to);
}

static void expect_apply(const char *doc_s, const char *patch_s, ferry_err want) {
    json_t *doc = J(doc_s), *patch = J(patch_s), *copy = json_deep_copy(doc), *out = NULL;
    ferry_err rc = ferry_patch_apply(doc, patch, &out);
    if (rc != want)
        fail_msg("apply %s to %s: got %d, want %d", patch_s, doc_s, rc, want);
    if (rc != FERRY_OK)
        assert_null(out);
    assert_json_equal(doc, copy);
    json_decref(out);
    json_decref(copy);
    json_decref(patch);
    json_decref(doc);
}

static void test_apply_malformed(void **state) {
    (void)state;
    static const struct {
        const char *doc, *patch;
    } bad[] = {
        {"{}", "1"},
        {"{}", "[]"},
        {"{}", "{}"},
        {"{}", "{\"set\":1,\"x\":2}"},
        {"{}", "{\"obj\":1}"},
        {"{}", "{\"obj\":{},\"x\":1}"},
        {"{\"a\":1}", "{\"obj\":{},\"del\":\"a\"}"},
        {"{\"a\":1}", "{\"obj\":{},\"del\":[1]}"},
        {"{\"a\":1}", "{\"obj\":{},\"del\":[\"a\",\"a\"]}"},
        {"{\"a\":1}", "{\"obj\":{},\"del\":[\"b\"]}"},
        {"{\"a\":1}", "{\"obj\":{\"a\":{\"set\":2}},\"del\":[\"a\"]}"},
        {"{\"a\":1}", "{\"obj\":{\"a\":{\"obj\":{}}}}"},
        {"{\"a\":1}", "{\"obj\":{\"b\":{\"obj\":{}}}}"},
        {"{\"a\":1}", "{\"obj\":{\"a\":5}}"},
        {"[1]", "{\"obj\":{}}"},
        {"{}", "{\"keyed\":\"name\",\"items\":{}}"},
        {"[]", "{\"keyed\":\"\",\"items\":{}}"},
        {"[]", "{\"keyed\":1,\"items\":{}}"},
        {"[]", "{\"keyed\":\"name\"}"},
        {"[]", "{\"keyed\":\"name\",\"items\":[]}"},
        {"[]", "{\"keyed\":\"name\",\"items\":{},\"extra\":1}"},
        {"[{\"name\":\"a\"},{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{}}"},
        {"[{\"name\":\"a\"},3]", "{\"keyed\":\"name\",\"items\":{}}"},
        {"[{\"id\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{}}"},
        {"[]", "{\"keyed\":\"name\",\"items\":{\"a\":{\"set\":{\"name\":\"b\"}}}}"},
        {"[]", "{\"keyed\":\"name\",\"items\":{\"a\":{\"set\":5}}}"},
        {"[]", "{\"keyed\":\"name\",\"items\":{\"a\":{\"obj\":{}}}}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{\"a\":{\"obj\":{\"name\":{\"set\":"
                               "\"b\"}}}}}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{\"a\":{\"obj\":{},\"del\":[\"name\"]"
                               "}}}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{\"a\":{\"set\":1}}}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{},\"del\":[\"b\"]}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{\"a\":{\"set\":{\"name\":\"a\"}}},"
                               "\"del\":[\"a\"]}"},
        {"[{\"name\":\"a\"},{\"name\":\"b\"}]",
         "{\"keyed\":\"name\",\"items\":{},\"order\":[\"a\"]}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{},\"order\":[\"a\",\"b\"]}"},
        {"[{\"name\":\"a\"},{\"name\":\"b\"}]",
         "{\"keyed\":\"name\",\"items\":{},\"order\":[\"a\",\"a\"]}"},
        {"[{\"name\":\"a\"},{\"name\":\"b\"}]",
         "{\"keyed\":\"name\",\"items\":{},\"order\":[\"a\",\"c\"]}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{},\"order\":\"a\"}"},
        {"[{\"name\":\"a\"}]", "{\"keyed\":\"name\",\"items\":{},\"order\":[1]}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_apply(bad[i].doc, bad[i].patch, FERRY_EFORMAT);

    /* well-formed ones, including a keyed patch on another key and an explicit order */
    expect_apply("[{\"id\":\"x\",\"v\":1}]",
                 "{\"keyed\":\"id\",\"items\":{\"x\":{\"obj\":{\"v\":{\"set\":2}}}}}", FERRY_OK);
    expect_apply("[{\"name\":\"a\"},{\"name\":\"b\"}]",
                 "{\"keyed\":\"name\",\"items\":{\"c\":{\"set\":{\"name\":\"c\"}}},\"del\":[\"a\"],"
                 "\"order\":[\"c\",\"b\"]}",
                 FERRY_OK);
    expect_apply("{\"a\":1}", "{\"set\":{\"b\":2}}", FERRY_OK);

    json_t *doc = J("{}"), *out = NULL;
    assert_int_equal(ferry_patch_apply(doc, NULL, &out), FERRY_EINVAL);
    assert_int_equal(ferry_patch_apply(NULL, doc, &out), FERRY_EINVAL);
    assert_int_equal(ferry_patch_apply(doc, doc, NULL), FERRY_EINVAL);
    /* a member name with NUL is refused */
    json_t *p = J("{\"obj\":{}}");
    json_object_setn_new(json_object_get(p, "obj"), "a\0b", 3, J("{\"set\":1}"));
    assert_int_equal(ferry_patch_apply(doc, p, &out), FERRY_EFORMAT);
    json_decref(p);
    json_decref(doc);
}

static void test_apply_depth(void **state) {
    (void)state;
    /* a patch that nests deeper than the cap */
    json_t *patch = J("{\"set\":1}");
    json_t *doc = json_integer(1);
    for (int i = 0; i < FERRY_MAX_DEPTH + 2; i++) {
        patch = json_pack("{s:{s:o}}", "obj", "k", patch);
        doc = json_pack("{s:o}", "k", doc);
    }
    json_t *out = NULL;
    assert_int_equal(ferry_patch_apply(doc, patch, &out), FERRY_ETOOBIG);
    json_decref(patch);
    json_decref(doc);

    /* a "set" that would make the result deeper than the cap */
    json_t *deep = json_integer(1);
    for (int i = 0; i < FERRY_MAX_DEPTH; i++)
        deep = json_pack("[o]", deep);
    doc = J("{\"a\":1}");
    patch = json_pack("{s:{s:{s:O}}}", "obj", "a", "set", deep);
    assert_int_equal(ferry_patch_apply(doc, patch, &out), FERRY_ETOOBIG);
    json_decref(patch);
    patch = json_pack("{s:O}", "set", deep);
    assert_int_equal(ferry_patch_apply(doc, patch, &out), FERRY_OK);
    json_decref(out);
    json_decref(patch);
    json_decref(doc);
    json_decref(deep);
}

/* The result owns its values: changing it does not touch the document or the patch. */
static void test_apply_no_aliasing(void **state) {
    (void)state;
    json_t *doc = J("{\"a\":{\"b\":[1]},\"c\":{\"d\":1}}");
    json_t *patch = J("{\"obj\":{\"c\":{\"set\":{\"e\":[2]}}}}");
    json_t *doc_copy = json_deep_copy(doc), *patch_copy = json_deep_copy(patch), *out = NULL;
    assert_int_equal(ferry_patch_apply(doc, patch, &out), FERRY_OK);
    json_array_append_new(json_object_get(json_object_get(out, "a"), "b"), json_integer(9));
    json_array_append_new(json_object_get(json_object_get(out, "c"), "e"), json_integer(9));
    assert_json_equal(doc, doc_copy);
    assert_json_equal(patch, patch_copy);
    json_decref(out);
    json_decref(doc);
    json_decref(patch);
    json_decref(doc_copy);
    json_decref(patch_copy);
}

/* ---- randomized round trip ------------------------------------------------------------------- */

static unsigned long rng_state;

static unsigned rnd(unsigned n) {
    rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)((rng_state >> 33) % n);
}

static json_t *gen(int depth);

static json_t *gen_scalar(void) {
    static const char *const words[] = {"", "a", "b", "web", "x y", "\xc3\xa9t\xc3\xa9"};
    switch (rnd(6)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rnd(2));
    case 2:
        return json_integer((json_int_t)rnd(100) - 50);
    case 3:
        return json_real((double)rnd(1000) / 8.0);
    default:
        return json_string(words[rnd(6)]);
    }
}

static json_t *gen_keyed(int depth) {
    json_t *a = json_array();
    unsigned n = rnd(6), base = rnd(8);
    bool clash = rnd(10) == 0; /* now and then duplicate names: then it is not keyed */
    for (unsigned i = 0; i < n; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%u", clash ? rnd(4) : (base + i * 3) % 16);
        json_t *item = json_object();
        json_object_set_new(item, "name", json_string(name));
        if (rnd(2))
            json_object_set_new(item, "v", gen(depth + 1));
        if (rnd(3) == 0)
            json_object_set_new(item, "w", gen(depth + 1));
        json_array_append_new(a, item);
    }
    return a;
}

static json_t *gen(int depth) {
    unsigned kind = depth > 4 ? 0 : rnd(5);
    if (kind <= 1)
        return gen_scalar();
    if (kind == 2) {
        json_t *o = json_object();
        unsigned n = rnd(5);
        for (unsigned i = 0; i < n; i++) {
            char key[8];
            snprintf(key, sizeof(key), "k%u", rnd(6));
            json_object_set_new(o, key, gen(depth + 1));
        }
        return o;
    }
    if (kind == 3)
        return gen_keyed(depth);
    json_t *a = json_array();
    unsigned n = rnd(4);
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(a, gen(depth + 1));
    return a;
}

/* A random edit of v (in place, returns the possibly replaced value). */
static json_t *mutate(json_t *v, int depth) {
    if (depth > 5 || rnd(6) == 0) {
        json_decref(v);
        return gen(depth);
    }
    if (json_is_object(v) && json_object_size(v) > 0) {
        void *it = json_object_iter(v);
        for (unsigned skip = rnd((unsigned)json_object_size(v)); skip > 0; skip--)
            it = json_object_iter_next(v, it);
        const char *key = json_object_iter_key(it);
        switch (rnd(3)) {
        case 0:
            json_object_del(v, key);
            break;
        case 1: {
            char nk[8];
            snprintf(nk, sizeof(nk), "k%u", rnd(9));
            json_object_set_new(v, nk, gen(depth + 1));
            break;
        }
        default:
            json_object_set_new(v, key, mutate(json_incref(json_object_iter_value(it)), depth + 1));
        }
        return v;
    }
    if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i = rnd((unsigned)json_array_size(v));
        switch (rnd(4)) {
        case 0:
            json_array_remove(v, i);
            break;
        case 1: { /* move an item (a reorder for keyed arrays) */
            json_t *item = json_incref(json_array_get(v, i));
            json_array_remove(v, i);
            json_array_insert_new(v, rnd((unsigned)json_array_size(v) + 1), item);
            break;
        }
        case 2: {
            json_t *item = json_array_get(v, 0);
            if (json_is_object(item) && json_object_get(item, "name") != NULL) {
                char name[8];
                snprintf(name, sizeof(name), "n%u", rnd(12));
                json_array_insert_new(v, rnd((unsigned)json_array_size(v) + 1),
                                      json_pack("{s:s, s:o}", "name", name, "v", gen(depth + 1)));
            } else {
                json_array_append_new(v, gen(depth + 1));
            }
            break;
        }
        default:
            if (json_is_object(json_array_get(v, i))) {
                json_t *item = json_incref(json_array_get(v, i));
                json_t *name = json_incref(json_object_get(item, "name"));
                item = mutate(item, depth + 1);
                if (json_is_object(item) && name != NULL)
                    json_object_set(item, "name", name); /* keep keyed items keyed */
                json_decref(name);
                json_array_set_new(v, i, item);
            } else {
                json_array_set_new(v, i, mutate(json_incref(json_array_get(v, i)), depth + 1));
            }
        }
        return v;
    }
    json_decref(v);
    return gen(depth);
}

static void test_random_roundtrip(void **state) {
    (void)state;
    rng_state = 20261126;
    int keyed_seen = 0, order_seen = 0;
    for (int iter = 0; iter < 5000; iter++) {
        json_t *from = json_object();
        json_object_set_new(from, "services", gen_keyed(0));
        json_object_set_new(from, "x", gen(0));
        json_t *to = json_deep_copy(from);
        for (unsigned k = 0, n = 1 + rnd(4); k < n; k++) {
            if (rnd(3) != 0) /* mostly edit the keyed array, the case that matters */
                json_object_set_new(to, "services",
                                    mutate(json_incref(json_object_get(to, "services")), 1));
            else
                to = mutate(to, 0);
        }
        json_t *patch = ferry_patch_diff(from, to);
        assert_non_null(patch);
        char *ps = json_dumps(patch, JSON_COMPACT | JSON_ENCODE_ANY);
        keyed_seen += strstr(ps, "\"keyed\"") != NULL;
        order_seen += strstr(ps, "\"order\"") != NULL;
        free(ps);

        /* through the wire: msgpack out and back in */
        unsigned char *buf = NULL;
        size_t len = 0;
        json_t *wire = NULL, *out = NULL;
        assert_int_equal(ferry_msgpack_encode(patch, &buf, &len), FERRY_OK);
        assert_int_equal(ferry_msgpack_decode(buf, len, &wire), FERRY_OK);
        ferry_err rc = ferry_patch_apply(from, wire, &out);
        if (rc != FERRY_OK || !json_equal(out, to)) {
            char *a = json_dumps(from, JSON_COMPACT | JSON_ENCODE_ANY);
            char *b = json_dumps(to, JSON_COMPACT | JSON_ENCODE_ANY);
            char *p = json_dumps(patch, JSON_COMPACT | JSON_ENCODE_ANY);
            fail_msg("iteration %d: rc %d\nfrom  %s\nto    %s\npatch %s", iter, rc, a, b, p);
        }
        ferry_free(buf);
        json_decref(wire);
        json_decref(out);
        json_decref(patch);
        json_decref(from);
        json_decref(to);
    }
    /* the generator really exercises keyed arrays and explicit orders */
    if (keyed_seen < 1000 || order_seen < 300)
        fail_msg("keyed patches: %d, with order: %d", keyed_seen, order_seen);
}

static void test_alloc_failures(void **state) {
    (void)state;
    json_t *from = J("{\"services\":[{\"name\":\"a\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]},"
                     "{\"name\":\"b\"}],\"d\":1,\"gone\":[1]}");
    json_t *to = J("{\"services\":[{\"name\":\"c\"},{\"name\":\"a\",\"env\":[{\"name\":\"X\","
                   "\"value\":\"2\"},{\"name\":\"Y\"}]}],\"d\":2,\"new\":{\"x\":[1]}}");
    json_t *patch = ferry_patch_diff(from, to);
    long n;
    for (n = 1; n < 100000; n++) {
        ferry_alloc_fail_after(n);
        json_t *p = ferry_patch_diff(from, to);
        ferry_alloc_fail_after(0);
        if (p != NULL) {
            json_t *out = NULL;
            /* a diff that survived failures may be larger ("set"), never wrong */
            assert_int_equal(ferry_patch_apply(from, p, &out), FERRY_OK);
            assert_json_equal(out, to);
            json_decref(out);
            bool full = json_equal(p, patch);
            json_decref(p);
            if (full)
                break;
        }
    }
    assert_true(n > 10 && n < 100000);
    for (n = 1; n < 100000; n++) {
        json_t *out = NULL;
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_patch_apply(from, patch, &out);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK) {
            assert_json_equal(out, to);
            json_decref(out);
            break;
        }
        assert_int_equal(rc, FERRY_ENOMEM);
        assert_null(out);
    }
    assert_true(n > 10 && n < 100000);
    json_decref(patch);
    json_decref(from);
    json_decref(to);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_objects),     cmocka_unit_test(test_diff_keyed),
        cmocka_unit_test(test_one_env_value),    cmocka_unit_test(test_apply_malformed),
        cmocka_unit_test(test_apply_depth),      cmocka_unit_test(test_apply_no_aliasing),
        cmocka_unit_test(test_random_roundtrip), cmocka_unit_test(test_alloc_failures),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
