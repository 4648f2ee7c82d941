/* ferryctl apply: manifests from files, folders or stdin, created or updated through the API. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "ferry/app.h"
#include "ferry/common.h"
#include "ferry/secrets.h"
#include "manifest.h"

#define MANIFEST_MAX (16u * 1024u * 1024u)
#define CONFLICT_RETRIES 3 /* re-reads after a 409 when the manifest names no version */

typedef enum { RES_CONFIG, RES_NODE, RES_APP } res_kind; /* also the order they are applied in */

static const char *const coll_of[] = {"configs", "nodes", "apps"};
static const char *const name_of[] = {"config", "node", "app"};

typedef struct {
    ctl_client *c;
    const char *ns; /* of documents without "namespace" */
} apply_ctx;

/* ---- reading ----------------------------------------------------------------------------------
 */

/* Parse one file (or stdin for "-") and append its documents to all. */
static int load_file(const char *path, json_t *all) {
    bool in = strcmp(path, "-") == 0;
    FILE *f = in ? stdin : fopen(path, "rb");
    char err[512];
    json_t *docs = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc = CTL_EXIT_USAGE;
    if (f == NULL) {
        fprintf(stderr, "error: cannot open %s: %s\n", path, strerror(errno));
        return rc;
    }
    if ((text = ctl_read_all(f, MANIFEST_MAX, &len)) == NULL) {
        fprintf(stderr, "error: %s: %s\n", in ? "stdin" : path,
                errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
        goto out;
    }
    if (ctl_manifest_parse(text, len, in ? "stdin" : path, &docs, err, sizeof(err)) != 0) {
        fprintf(stderr, "error: %s\n", err);
        goto out;
    }
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        json_t *src =
            json_pack("{s:s, s:I}", "file", in ? "stdin" : path, "doc", (json_int_t)i + 1);
        if (src == NULL ||
            json_array_append_new(all, json_pack("{s:O, s:o}", "doc", d, "src", src)) != 0) {
            fprintf(stderr, "error: out of memory\n");
            goto out;
        }
    }
    rc = CTL_EXIT_OK;
out:
    if (!in && f != NULL)
        fclose(f);
    ferry_free(text);
    json_decref(docs);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static bool manifest_name(const char *n) {
    size_t l = strlen(n);
    return n[0] != '.' && ((l > 5 && strcmp(n + l - 5, ".yaml") == 0) ||
                           (l > 4 && strcmp(n + l - 4, ".yml") == 0) ||
                           (l > 5 && strcmp(n + l - 5, ".json") == 0));
}

/* A folder: its *.yaml, *.yml and *.json files in name order (not its subfolders). */
static int load_path(const char *path, json_t *all) {
    struct stat st;
    struct dirent **list = NULL;
    int rc = CTL_EXIT_OK;
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return load_file(path, all);
    int n = scandir(path, &list, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "error: cannot read the folder %s: %s\n", path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        char full[4096];
        if (rc == CTL_EXIT_OK && manifest_name(list[i]->d_name)) {
            snprintf(full, sizeof(full), "%s/%s", path, list[i]->d_name);
            rc = load_file(full, all);
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

/* ---- checking ---------------------------------------------------------------------------------
 */

/* The documents of a "kind: List" ("items") in its place: get -o yaml output applies as is. */
static int expand_lists(json_t *all) {
    json_t *out = json_array();
    size_t i, j;
    json_t *e, *it;
    int rc = CTL_EXIT_ERROR;
    if (out == NULL)
        goto out;
    json_array_foreach(all, i, e) {
        const json_t *doc = json_object_get(e, "doc");
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        if (kind == NULL || strcmp(kind, "List") != 0) {
            if (json_array_append(out, e) != 0)
                goto out;
            continue;
        }
        json_array_foreach(json_object_get(doc, "items"), j, it) {
            if (json_array_append_new(
                    out, json_pack("{s:O, s:O}", "doc", it, "src", json_object_get(e, "src"))) != 0)
                goto out;
        }
    }
    if (json_array_clear(all) != 0 || json_array_extend(all, out) != 0)
        goto out;
    rc = CTL_EXIT_OK;
out:
    if (rc != CTL_EXIT_OK)
        fprintf(stderr, "error: out of memory\n");
    json_decref(out);
    return rc;
}

static int check_doc(json_t *e, res_kind *kind) {
    json_t *doc = json_object_get(e, "doc"), *src = json_object_get(e, "src");
    const char *file = json_string_value(json_object_get(src, "file"));
    long long n = (long long)json_integer_value(json_object_get(src, "doc"));
    const char *k = json_string_value(json_object_get(doc, "kind"));
    const json_t *api = json_object_get(doc, "apiVersion");
    const char *why = NULL;
    if (!json_is_object(doc))
        why = "a document must be an object";
    else if (api != NULL &&
             (!json_is_string(api) || strcmp(json_string_value(api), "ferry/v1") != 0))
        why = "apiVersion must be ferry/v1";
    else if (k == NULL)
        why = "kind is missing (App, Config or Node)";
    else if (strcmp(k, "App") == 0)
        *kind = RES_APP;
    else if (strcmp(k, "Config") == 0 || strcmp(k, "config") == 0 || strcmp(k, "secret") == 0 ||
             strcmp(k, "certificate") == 0 || strcmp(k, "registry") == 0)
        *kind = RES_CONFIG; /* the API's own body of a config object applies as it is */
    else if (strcmp(k, "Node") == 0)
        *kind = RES_NODE;
    else
        why = "kind must be App, Config or Node";
    if (why == NULL && *kind == RES_CONFIG && strcmp(k, "Config") != 0 &&
        json_object_get(doc, "type") != NULL)
        why = "type goes with kind: Config only";
    if (why == NULL && !json_is_string(json_object_get(doc, "name")))
        why = "name is missing";
    if (why == NULL && json_object_get(doc, "namespace") != NULL &&
        !json_is_string(json_object_get(doc, "namespace")))
        why = "namespace must be a string";
    if (why != NULL) {
        fprintf(stderr, "error: %s: document %lld: %s\n", file, n, why);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

/* ---- bodies and comparisons ------------------------------------------------------------------ */

/* The API body of a document (new): the manifest members dropped; a Config's "type" becomes
 * the API's "kind" (the manifest's kind is "Config"); a config object in the API's own form
 * (kind: config, secret ...) is its body. */
static json_t *body_of(res_kind kind, const json_t *doc) {
    json_t *b = json_deep_copy(doc);
    if (b == NULL)
        return NULL;
    json_object_del(b, "apiVersion");
    json_object_del(b, "namespace");
    if (kind == RES_CONFIG && strcmp(json_string_value(json_object_get(b, "kind")), "Config") != 0)
        return b;
    json_object_del(b, "kind");
    if (kind == RES_CONFIG) {
        json_t *t = json_object_get(b, "type");
        if (json_object_set_new(b, "kind", t != NULL ? json_incref(t) : json_string("config")) !=
            0) {
            json_decref(b);
            return NULL;
        }
        json_object_del(b, "type");
    }
    if (kind == RES_NODE) {
        /* A node is its name and labels; what a node view adds is the server's. */
        json_t *n = json_pack("{s:O, s:O?}", "name", json_object_get(b, "name"), "labels",
                              json_object_get(b, "labels"));
        json_decref(b);
        b = n;
        if (b != NULL && json_object_get(b, "labels") == NULL)
            json_object_set_new(b, "labels", json_object());
    }
    return b;
}

static void drop(json_t *o, const char *const *keys) {
    for (size_t i = 0; keys[i] != NULL; i++)
        json_object_del(o, keys[i]);
}

/* Secret values as the API shows them: {"digest": "sha256:..."}. */
static void seal_view(json_t *parent, const char *member) {
    json_t *v = json_object_get(parent, member);
    char digest[FERRY_SECRETS_DIGEST_LEN];
    if (!json_is_string(v))
        return;
    ferry_secrets_digest(json_string_value(v), json_string_length(v), digest);
    json_object_set_new(parent, member, json_pack("{s:s}", "digest", digest));
}

/* Whether the stored object (its API view) already is what body asks for. */
static bool same(res_kind kind, const json_t *body, const json_t *view) {
    static const char *const ro[] = {"namespace", "version", "createdAt",
                                     "updatedAt", "digests", NULL};
    bool eq = false;
    if (kind == RES_APP) {
        /* Normalising fills the defaults the server fills and keeps only the spec's members. */
        json_t *a = ferry_app_normalize(body), *b = ferry_app_normalize(view);
        eq = a != NULL && b != NULL && json_equal(a, b);
        json_decref(a);
        json_decref(b);
    } else if (kind == RES_NODE) {
        eq = json_equal(json_object_get(body, "labels"), json_object_get(view, "labels"));
    } else {
        json_t *a = json_deep_copy(body), *b = json_deep_copy(view);
        if (a != NULL && b != NULL) {
            drop(a, ro);
            drop(b, ro);
            const char *k = json_string_value(json_object_get(a, "kind"));
            if (k != NULL && strcmp(k, "secret") == 0) {
                json_t *data = json_object_get(a, "data");
                const char *key;
                json_t *v;
                void *tmp;
                json_object_foreach_safe(data, tmp, key, v) {
                    seal_view(data, key);
                }
            } else if (k != NULL && strcmp(k, "certificate") == 0) {
                seal_view(json_object_get(a, "certificate"), "key");
            } else if (k != NULL && strcmp(k, "registry") == 0) {
                seal_view(json_object_get(a, "registry"), "password");
            }
            eq = json_equal(a, b);
        }
        json_decref(a);
        json_decref(b);
    }
    return eq;
}

/* ---- applying ---------------------------------------------------------------------------------
 */

static int apply_one(apply_ctx *a, res_kind kind, const json_t *doc) {
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *ns = json_string_value(json_object_get(doc, "namespace"));
    const char *coll = coll_of[kind];
    json_t *body = body_of(kind, doc), *view = NULL, *reply = NULL;
    char what[300];
    long status = 0;
    int rc = CTL_EXIT_ERROR;
    /* A version in the manifest is the reader's: the update must find exactly it stored. */
    bool pinned = kind != RES_NODE && json_object_get(body, "version") != NULL;

    if (ns == NULL)
        ns = a->ns;
    snprintf(what, sizeof(what), "%s/%s", name_of[kind], name);
    if (body == NULL) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        json_decref(view);
        view = NULL;
        if ((rc = ctl_ns_request(a->c, "GET", ns, coll, name, NULL, NULL, NULL, &status, &view)) !=
            CTL_EXIT_OK)
            goto out;
        if (status == 404) {
            json_object_del(body, "version");
            if ((rc = ctl_ns_request(a->c, "POST", ns, coll, NULL, NULL, NULL, body, &status,
                                     &reply)) != CTL_EXIT_OK)
                goto out;
            if (status == 409 && attempt < CONFLICT_RETRIES)
                continue; /* created by someone else since the GET: update it instead */
            rc = status == 201 || status == 200 ? CTL_EXIT_OK : ctl_api_fail(what, status, reply);
            if (rc == CTL_EXIT_OK)
                printf("%s created\n", what);
            goto out;
        }
        if (status != 200) {
            rc = ctl_api_fail(what, status, view);
            goto out;
        }
        if (same(kind, body, view)) {
            printf("%s unchanged\n", what);
            rc = CTL_EXIT_OK;
            goto out;
        }
        if (kind != RES_NODE && !pinned &&
            json_object_set(body, "version", json_object_get(view, "version")) != 0) {
            fprintf(stderr, "error: out of memory\n");
            rc = CTL_EXIT_ERROR;
            goto out;
        }
        json_decref(reply);
        reply = NULL;
        if ((rc = ctl_ns_request(a->c, "PUT", ns, coll, name, NULL, NULL, body, &status, &reply)) !=
            CTL_EXIT_OK)
            goto out;
        /* Someone else's change came between our GET and PUT: read it and decide again. */
        if (status == 409 && !pinned && attempt < CONFLICT_RETRIES)
            continue;
        rc = status == 200 ? CTL_EXIT_OK : ctl_api_fail(what, status, reply);
        if (rc == CTL_EXIT_OK)
            printf("%s configured\n", what);
        goto out;
    }
out:
    json_decref(body);
    json_decref(view);
    json_decref(reply);
    return rc;
}

int ctl_cmd_apply(const ctl_cmdline *cl) {
    apply_ctx a = {0};
    json_t *all = json_array();
    int rc = CTL_EXIT_USAGE;

    if (cl->n_files == 0 || cl->n_args > 0) {
        fprintf(stderr, "error: apply: give -f FILE|DIR|- (and nothing else); see ferryctl "
                        "apply --help\n");
        goto out;
    }
    if (all == NULL) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    /* Everything is read and checked before anything is sent: a typo in the third file does
     * not leave the first two applied. */
    for (size_t i = 0; i < cl->n_files; i++)
        if ((rc = load_path(cl->files[i], all)) != CTL_EXIT_OK)
            goto out;
    if ((rc = expand_lists(all)) != CTL_EXIT_OK)
        goto out;
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        res_kind k = RES_APP;
        if ((rc = check_doc(e, &k)) != CTL_EXIT_OK)
            goto out;
        json_object_set_new(e, "rank", json_integer(k));
    }
    if (json_array_size(all) == 0) {
        fprintf(stderr, "error: apply: no documents in the input\n");
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    if ((rc = ctl_client_open(cl, &a.c)) != CTL_EXIT_OK)
        goto out;
    a.ns = cl->ns != NULL ? cl->ns : ctl_client_settings(a.c)->ns;
    /* Configs first, then nodes, then apps (each group in input order): an app may use a config
     * of the same input. */
    int worst = CTL_EXIT_OK;
    for (res_kind k = RES_CONFIG; k <= RES_APP; k++) {
        json_array_foreach(all, i, e) {
            if (json_integer_value(json_object_get(e, "rank")) != (json_int_t)k)
                continue;
            int one = apply_one(&a, k, json_object_get(e, "doc"));
            worst = one > worst ? one : worst;
            if (one == CTL_EXIT_UNREACHABLE)
                break;
        }
        if (worst == CTL_EXIT_UNREACHABLE)
            break;
    }
    rc = worst;
out:
    ctl_client_close(a.c);
    json_decref(all);
    return rc;
}
