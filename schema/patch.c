/* Ferry structural diff/patch of JSON documents (app deltas on the wire, see patch.h). */
#include "ferry/patch.h"

#include <stdio.h>
#include <string.h>

#include "ferry/codec.h"
#include "internal.h"

#define KEYED_BY "name"

__attribute__((format(printf, 4, 5))) static ferry_err pfail(ferry_err rc, char *why, size_t whylen,
                                                             const char *fmt, ...) {
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* A member name or item name as a C string; NULL when it is not a string or holds NUL. */
static const char *cstr(const json_t *v) {
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

/* ---- structural check ------------------------------------------------------------------------ */

/* Check that list is an array of distinct strings, none of them a member of `exclude` (may be
 * NULL). Uses a set built in a jansson object: lists may hold 65536 names. */
static ferry_err check_names(const json_t *list, const json_t *exclude, const char *what, char *why,
                             size_t whylen) {
    ferry_err rc = FERRY_OK;
    json_t *seen = NULL;

    if (!json_is_array(list))
        return pfail(FERRY_EFORMAT, why, whylen, "\"%s\" must be an array of strings", what);
    if ((seen = json_object()) == NULL)
        return FERRY_ENOMEM;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *n = cstr(json_array_get(list, i));
        if (n == NULL) {
            rc = pfail(FERRY_EFORMAT, why, whylen, "\"%s\" must be an array of strings", what);
            goto out;
        }
        if (json_object_get(seen, n) != NULL) {
            rc = pfail(FERRY_EFORMAT, why, whylen, "\"%s\" lists a name twice", what);
            goto out;
        }
        if (exclude != NULL && json_object_get(exclude, n) != NULL) {
            rc = pfail(FERRY_EFORMAT, why, whylen, "a name is both patched and in \"%s\"", what);
            goto out;
        }
        if (json_object_set_new(seen, n, json_true()) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
out:
    json_decref(seen);
    return rc;
}

static bool only_keys(const json_t *obj, const char *const *allowed) {
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, klen, v) {
        (void)v;
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strlen(key) == klen && strcmp(key, *a) == 0;
        if (!ok)
            return false;
    }
    return true;
}

static ferry_err check(const json_t *p, int depth, char *why, size_t whylen) {
    static const char *const set_keys[] = {"set", NULL};
    static const char *const obj_keys[] = {"obj", "del", NULL};
    static const char *const keyed_keys[] = {"keyed", "items", "del", "order", NULL};
    const json_t *members;
    const json_t *v;
    const char *key;
    size_t klen;
    ferry_err rc;

    if (depth > FERRY_MAX_DEPTH)
        return pfail(FERRY_ETOOBIG, why, whylen, "patch nests deeper than %d", FERRY_MAX_DEPTH);
    if (!json_is_object(p))
        return pfail(FERRY_EFORMAT, why, whylen, "a patch must be an object");
    if (json_object_get(p, "set") != NULL) {
        if (!only_keys(p, set_keys))
            return pfail(FERRY_EFORMAT, why, whylen, "a \"set\" patch has other members");
        return FERRY_OK;
    }
    if ((members = json_object_get(p, "obj")) != NULL) {
        if (!only_keys(p, obj_keys))
            return pfail(FERRY_EFORMAT, why, whylen, "an \"obj\" patch has unknown members");
        if (!json_is_object(members))
            return pfail(FERRY_EFORMAT, why, whylen, "\"obj\" must be an object");
    } else if ((v = json_object_get(p, "keyed")) != NULL) {
        if (!only_keys(p, keyed_keys))
            return pfail(FERRY_EFORMAT, why, whylen, "a \"keyed\" patch has unknown members");
        if (cstr(v) == NULL || json_string_length(v) == 0)
            return pfail(FERRY_EFORMAT, why, whylen, "\"keyed\" must be a non-empty string");
        members = json_object_get(p, "items");
        if (!json_is_object(members))
            return pfail(FERRY_EFORMAT, why, whylen, "\"items\" must be an object");
        if ((v = json_object_get(p, "order")) != NULL &&
            (rc = check_names(v, NULL, "order", why, whylen)) != FERRY_OK)
            return rc;
    } else {
        return pfail(FERRY_EFORMAT, why, whylen, "a patch needs \"set\", \"obj\" or \"keyed\"");
    }
    if ((v = json_object_get(p, "del")) != NULL &&
        (rc = check_names(v, members, "del", why, whylen)) != FERRY_OK)
        return rc;
    json_object_keylen_foreach((json_t *)members, key, klen, v) {
        if (strlen(key) != klen)
            return pfail(FERRY_EFORMAT, why, whylen, "a member name holds NUL");
        if ((rc = check(v, depth + 1, why, whylen)) != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

ferry_err patch__check(const json_t *patch, char *why, size_t whylen) {
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    return check(patch, 0, why, whylen);
}

/* ---- apply ----------------------------------------------------------------------------------- */

/* Deep copy of v placed at nesting level `depth` of the result, refusing results nested deeper
 * than FERRY_MAX_DEPTH (they could not be encoded or decoded). */
static ferry_err copy_bounded(const json_t *v, int depth, json_t **out) {
    json_t *c = NULL;
    ferry_err rc = FERRY_OK;

    *out = NULL;
    if ((json_is_object(v) || json_is_array(v)) && depth >= FERRY_MAX_DEPTH)
        return FERRY_ETOOBIG;
    if (json_is_object(v)) {
        const char *key;
        size_t klen;
        json_t *m;
        if ((c = json_object()) == NULL)
            return FERRY_ENOMEM;
        json_object_keylen_foreach((json_t *)v, key, klen, m) {
            json_t *mc = NULL;
            if ((rc = copy_bounded(m, depth + 1, &mc)) != FERRY_OK)
                goto fail;
            if (json_object_setn_new_nocheck(c, key, klen, mc) != 0) {
                rc = FERRY_ENOMEM;
                goto fail;
            }
        }
    } else if (json_is_array(v)) {
        if ((c = json_array()) == NULL)
            return FERRY_ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *ic = NULL;
            if ((rc = copy_bounded(json_array_get(v, i), depth + 1, &ic)) != FERRY_OK)
                goto fail;
            if (json_array_append_new(c, ic) != 0) {
                rc = FERRY_ENOMEM;
                goto fail;
            }
        }
    } else if ((c = json_copy((json_t *)v)) == NULL) {
        return FERRY_ENOMEM;
    }
    *out = c;
    return FERRY_OK;
fail:
    json_decref(c);
    return rc;
}

static ferry_err apply(const json_t *doc, const json_t *p, int depth, json_t **out);

static ferry_err apply_obj(const json_t *doc, const json_t *p, int depth, json_t **out) {
    const json_t *members = json_object_get(p, "obj");
    const json_t *del = json_object_get(p, "del");
    json_t *res = NULL;
    json_t *gone = NULL;
    const char *key;
    json_t *v;
    ferry_err rc = FERRY_OK;

    if (!json_is_object(doc))
        return FERRY_EFORMAT; /* an "obj" patch on a missing value or a non-object */
    if (depth >= FERRY_MAX_DEPTH)
        return FERRY_ETOOBIG;
    if ((res = json_object()) == NULL || (gone = json_object()) == NULL) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(del); i++) {
        const char *n = json_string_value(json_array_get(del, i));
        if (json_object_get(doc, n) == NULL) {
            rc = FERRY_EFORMAT; /* deletes a member the document does not have */
            goto out;
        }
        if (json_object_set_new(gone, n, json_true()) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
    /* Members in document order (patched or copied), then new members in patch order. The
     * structural check guarantees that no name is both patched and deleted. */
    json_object_foreach((json_t *)doc, key, v) {
        const json_t *mp = json_object_get(members, key);
        json_t *nv = NULL;
        if (json_object_get(gone, key) != NULL)
            continue;
        rc = mp != NULL ? apply(v, mp, depth + 1, &nv) : copy_bounded(v, depth + 1, &nv);
        if (rc != FERRY_OK)
            goto out;
        if (json_object_set_new_nocheck(res, key, nv) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
    json_object_foreach((json_t *)members, key, v) {
        json_t *nv = NULL;
        if (json_object_get(doc, key) != NULL)
            continue;
        if ((rc = apply(NULL, v, depth + 1, &nv)) != FERRY_OK)
            goto out;
        if (json_object_set_new_nocheck(res, key, nv) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
    if (json_object_size(res) > FERRY_MAX_ITEMS) {
        rc = FERRY_ETOOBIG;
        goto out;
    }
    *out = res;
    res = NULL;
out:
    json_decref(gone);
    json_decref(res);
    return rc;
}

/* Index a keyed array: name -> item. FERRY_EFORMAT when an item is not an object with a unique
 * string member `by`. */
static ferry_err keyed_index(const json_t *arr, const char *by, json_t **index) {
    json_t *idx = NULL;
    ferry_err rc = FERRY_OK;

    *index = NULL;
    if ((idx = json_object()) == NULL)
        return FERRY_ENOMEM;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *item = json_array_get(arr, i);
        const char *n = cstr(json_object_get(item, by));
        if (n == NULL || json_object_get(idx, n) != NULL) {
            rc = FERRY_EFORMAT;
            goto fail;
        }
        if (json_object_set(idx, n, item) != 0) {
            rc = FERRY_ENOMEM;
            goto fail;
        }
    }
    *index = idx;
    return FERRY_OK;
fail:
    json_decref(idx);
    return rc;
}

static ferry_err apply_keyed(const json_t *doc, const json_t *p, int depth, json_t **out) {
    const char *by = json_string_value(json_object_get(p, "keyed"));
    const json_t *items = json_object_get(p, "items");
    const json_t *del = json_object_get(p, "del");
    const json_t *order = json_object_get(p, "order");
    json_t *idx = NULL;
    json_t *res = NULL;
    json_t *byname = NULL;
    const char *key;
    json_t *v;
    ferry_err rc;

    if (!json_is_array(doc))
        return FERRY_EFORMAT;
    if (depth >= FERRY_MAX_DEPTH)
        return FERRY_ETOOBIG;
    if ((rc = keyed_index(doc, by, &idx)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < json_array_size(del); i++) {
        const char *n = json_string_value(json_array_get(del, i));
        if (json_object_get(idx, n) == NULL) {
            rc = FERRY_EFORMAT; /* deletes an item the document does not have */
            goto out;
        }
        json_object_del(idx, n); /* idx now holds the surviving items */
    }
    if ((res = json_array()) == NULL) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    /* Surviving items in document order (patched in place), then new items in patch order. */
    for (size_t i = 0; i < json_array_size(doc); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(doc, i), by));
        const json_t *item = json_object_get(idx, n);
        const json_t *ip = json_object_get(items, n);
        json_t *nv = NULL;
        if (item == NULL)
            continue;
        rc = ip != NULL ? apply(item, ip, depth + 1, &nv) : copy_bounded(item, depth + 1, &nv);
        if (rc != FERRY_OK)
            goto out;
        if (json_array_append_new(res, nv) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
        if (!json_equal(json_object_get(nv, by), json_object_get(item, by))) {
            rc = FERRY_EFORMAT; /* an item patch may not rename the item */
            goto out;
        }
    }
    json_object_foreach((json_t *)items, key, v) {
        json_t *nv = NULL;
        if (json_object_get(idx, key) != NULL)
            continue; /* a surviving item, patched above (check: never also deleted) */
        if ((rc = apply(NULL, v, depth + 1, &nv)) != FERRY_OK)
            goto out;
        if (json_array_append_new(res, nv) != 0) {
            rc = FERRY_ENOMEM;
            goto out;
        }
        const char *nn = cstr(json_object_get(nv, by));
        if (nn == NULL || strcmp(nn, key) != 0) {
            rc = FERRY_EFORMAT; /* a new item must carry the name it is listed under */
            goto out;
        }
    }
    if (json_array_size(res) > FERRY_MAX_ITEMS) {
        rc = FERRY_ETOOBIG;
        goto out;
    }
    if (order != NULL) {
        json_t *sorted = NULL;
        if ((rc = keyed_index(res, by, &byname)) != FERRY_OK)
            goto out;
        if (json_array_size(order) != json_array_size(res)) {
            rc = FERRY_EFORMAT;
            goto out;
        }
        if ((sorted = json_array()) == NULL) {
            rc = FERRY_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < json_array_size(order); i++) {
            json_t *item = json_object_get(byname, json_string_value(json_array_get(order, i)));
            if (item == NULL) {
                rc = FERRY_EFORMAT; /* order names an item the result does not have */
                json_decref(sorted);
                goto out;
            }
            if (json_array_append(sorted, item) != 0) {
                rc = FERRY_ENOMEM;
                json_decref(sorted);
                goto out;
            }
        }
        json_decref(res);
        res = sorted;
    }
    *out = res;
    res = NULL;
    rc = FERRY_OK;
out:
    json_decref(idx);
    json_decref(byname);
    json_decref(res);
    return rc;
}

static ferry_err apply(const json_t *doc, const json_t *p, int depth, json_t **out) {
    const json_t *v;
    *out = NULL;
    if (depth > FERRY_MAX_DEPTH)
        return FERRY_ETOOBIG;
    if ((v = json_object_get(p, "set")) != NULL)
        return copy_bounded(v, depth, out);
    if (json_object_get(p, "obj") != NULL)
        return apply_obj(doc, p, depth, out);
    return apply_keyed(doc, p, depth, out);
}

ferry_err ferry_patch_apply(const json_t *doc, const json_t *patch, json_t **out) {
    ferry_err rc;

    if (out == NULL)
        return FERRY_EINVAL;
    *out = NULL;
    if (doc == NULL || patch == NULL)
        return FERRY_EINVAL;
    if ((rc = check(patch, 0, NULL, 0)) != FERRY_OK)
        return rc;
    return apply(doc, patch, 0, out);
}

/* ---- diff ------------------------------------------------------------------------------------ */

static json_t *diff(const json_t *from, const json_t *to);

static json_t *set_patch(const json_t *to) {
    json_t *p = json_object();
    if (p != NULL && json_object_set_new(p, "set", json_deep_copy(to)) != 0) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* Both objects: patch changed members, "set" new ones, delete removed ones. */
static json_t *diff_obj(const json_t *from, const json_t *to) {
    json_t *p = json_object();
    json_t *members = json_object();
    json_t *del = json_array();
    const char *key;
    json_t *v;
    bool ok = p != NULL && members != NULL && del != NULL;

    json_object_foreach((json_t *)to, key, v) {
        const json_t *old = json_object_get(from, key);
        if (!ok)
            break;
        if (old != NULL && json_equal(old, v))
            continue;
        ok = json_object_set_new(members, key, old != NULL ? diff(old, v) : set_patch(v)) == 0;
    }
    json_object_foreach((json_t *)from, key, v) {
        if (ok && json_object_get(to, key) == NULL)
            ok = json_array_append_new(del, json_string(key)) == 0;
    }
    ok = ok && json_object_set(p, "obj", members) == 0 &&
         (json_array_size(del) == 0 || json_object_set(p, "del", del) == 0);
    json_decref(members);
    json_decref(del);
    if (!ok) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* Both arrays of objects with unique string "name" members (indexes given). */
static json_t *diff_keyed(const json_t *from, const json_t *to, const json_t *ifrom,
                          const json_t *ito) {
    json_t *p = json_object();
    json_t *items = json_object();
    json_t *del = json_array();
    json_t *expect = json_array();
    json_t *order = json_array();
    bool ok = p != NULL && items != NULL && del != NULL && expect != NULL && order != NULL;

    /* Applying items/del keeps surviving items in their old order and appends new ones: that is
     * the order to expect; "order" is only sent when the new document differs from it. */
    for (size_t i = 0; ok && i < json_array_size(from); i++) {
        json_t *n = json_object_get(json_array_get(from, i), KEYED_BY);
        if (json_object_get(ito, json_string_value(n)) == NULL)
            ok = json_array_append(del, n) == 0;
        else
            ok = json_array_append(expect, n) == 0;
    }
    for (size_t i = 0; ok && i < json_array_size(to); i++) {
        const json_t *item = json_array_get(to, i);
        json_t *n = json_object_get(item, KEYED_BY);
        const char *name = json_string_value(n);
        const json_t *old = json_object_get(ifrom, name);
        ok = json_array_append(order, n) == 0;
        if (ok && old == NULL)
            ok = json_array_append(expect, n) == 0 &&
                 json_object_set_new(items, name, set_patch(item)) == 0;
        else if (ok && !json_equal(old, item))
            ok = json_object_set_new(items, name, diff(old, item)) == 0;
    }
    ok = ok && json_object_set_new(p, "keyed", json_string(KEYED_BY)) == 0 &&
         json_object_set(p, "items", items) == 0 &&
         (json_array_size(del) == 0 || json_object_set(p, "del", del) == 0) &&
         (json_equal(expect, order) || json_object_set(p, "order", order) == 0);
    json_decref(items);
    json_decref(del);
    json_decref(expect);
    json_decref(order);
    if (!ok) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static json_t *diff(const json_t *from, const json_t *to) {
    if (json_is_object(from) && json_is_object(to))
        return diff_obj(from, to);
    if (json_is_array(from) && json_is_array(to)) {
        json_t *ifrom = NULL;
        json_t *ito = NULL;
        json_t *p = NULL;
        ferry_err r1 = keyed_index(from, KEYED_BY, &ifrom);
        ferry_err r2 = r1 == FERRY_OK ? keyed_index(to, KEYED_BY, &ito) : r1;
        if (r1 == FERRY_OK && r2 == FERRY_OK)
            p = diff_keyed(from, to, ifrom, ito);
        json_decref(ifrom);
        json_decref(ito);
        if (r1 == FERRY_ENOMEM || r2 == FERRY_ENOMEM || (r2 == FERRY_OK && p != NULL))
            return p;
    }
    return set_patch(to);
}

json_t *ferry_patch_diff(const json_t *from, const json_t *to) {
    if (from == NULL || to == NULL)
        return NULL;
    return diff(from, to);
}
