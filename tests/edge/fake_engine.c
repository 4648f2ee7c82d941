/* A fake container engine for the reconciler's unit tests (see fake_engine.h). */
#include "fake_engine.h"

#include <stdio.h>
#include <string.h>

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void record(fake_engine *f, const char *what, const char *name) {
    char line[320];
    snprintf(line, sizeof(line), "%s %s", what, name);
    json_array_append_new(f->calls, json_string(line));
}

void fake_engine_init(fake_engine *f) {
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->images = json_pack("{s:b}", "ferry/pause:1", 1);
    f->pullable = json_object();
    f->exit_codes = json_object();
    f->port_taken = json_object();
    f->calls = json_array();
}

void fake_engine_free(fake_engine *f) {
    for (size_t i = 0; i < f->n; i++) {
        json_decref(f->c[i].labels);
        json_decref(f->c[i].body);
    }
    free(f->c);
    json_decref(f->images);
    json_decref(f->pullable);
    json_decref(f->exit_codes);
    json_decref(f->port_taken);
    json_decref(f->calls);
    pthread_mutex_destroy(&f->lock);
}

/* By id or name. */
static fake_container *lookup(fake_engine *f, const char *id) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->c[i].id, id) == 0 || strcmp(f->c[i].name, id) == 0)
            return &f->c[i];
    return NULL;
}

fake_container *fake_engine_find(fake_engine *f, const char *suffix) {
    for (size_t i = 0; i < f->n; i++)
        if (ends_with(f->c[i].name, suffix))
            return &f->c[i];
    return NULL;
}

size_t fake_engine_count(fake_engine *f, const char *part) {
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += strstr(f->c[i].name, part) != NULL;
    return n;
}

size_t fake_engine_calls(fake_engine *f, const char *prefix) {
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(f->calls, i, v) n +=
        strncmp(json_string_value(v), prefix, strlen(prefix)) == 0;
    return n;
}

static bool has_labels(const fake_container *c, const char *const *filters) {
    for (size_t k = 0; filters[k] != NULL; k++) {
        const char *eq = strchr(filters[k], '=');
        char key[256];
        if (eq == NULL || (size_t)(eq - filters[k]) >= sizeof(key))
            return false;
        memcpy(key, filters[k], (size_t)(eq - filters[k]));
        key[eq - filters[k]] = '\0';
        const char *v = json_string_value(json_object_get(c->labels, key));
        if (v == NULL || strcmp(v, eq + 1) != 0)
            return false;
    }
    return true;
}

static ferry_err op_list(void *e, const char *const *filters, ferry_container **out, size_t *n) {
    fake_engine *f = e;
    pthread_mutex_lock(&f->lock);
    *out = ferry_calloc(f->n + 1, sizeof(**out));
    *n = 0;
    for (size_t i = 0; i < f->n; i++) {
        const fake_container *c = &f->c[i];
        if (!has_labels(c, filters))
            continue;
        ferry_container *x = &(*out)[(*n)++];
        x->id = ferry_strdup(c->id);
        x->name = ferry_strdup(c->name);
        x->image = ferry_strdup(c->image);
        x->state = ferry_strdup(c->st.status);
        x->labels = json_deep_copy(c->labels);
    }
    pthread_mutex_unlock(&f->lock);
    return FERRY_OK;
}

static ferry_err op_state(void *e, const char *id, ferry_cstate *out) {
    fake_engine *f = e;
    pthread_mutex_lock(&f->lock);
    fake_container *c = lookup(f, id);
    if (c != NULL)
        *out = c->st;
    pthread_mutex_unlock(&f->lock);
    if (c == NULL) {
        memset(out, 0, sizeof(*out));
        snprintf(out->status, sizeof(out->status), "unknown");
        return FERRY_ENOTFOUND;
    }
    return FERRY_OK;
}

static ferry_err op_logs_tail(void *e, const char *id, int lines, char **out) {
    (void)e;
    (void)lines;
    char buf[128];
    snprintf(buf, sizeof(buf), "log of %.60s\n", id);
    *out = ferry_strdup(buf);
    return FERRY_OK;
}

static ferry_err op_image_present(void *e, const char *image, bool *present) {
    fake_engine *f = e;
    pthread_mutex_lock(&f->lock);
    record(f, "image", image);
    *present = json_object_get(f->images, image) != NULL;
    pthread_mutex_unlock(&f->lock);
    return FERRY_OK;
}

static ferry_err op_pull(void *e, const char *image, const json_t *auth, char *err, size_t len) {
    fake_engine *f = e;
    (void)auth;
    pthread_mutex_lock(&f->lock);
    record(f, "pull", image);
    bool ok = json_object_get(f->pullable, image) != NULL;
    if (ok)
        json_object_set_new(f->images, image, json_true());
    pthread_mutex_unlock(&f->lock);
    if (!ok)
        snprintf(err, len, "pull access denied for %s", image);
    return ok ? FERRY_OK : FERRY_EENGINE;
}

static ferry_err op_create(void *e, const char *name, const json_t *body, char **id, char *err,
                           size_t len) {
    fake_engine *f = e;
    const char *image = json_string_value(json_object_get(body, "Image"));
    ferry_err rc = FERRY_OK;
    pthread_mutex_lock(&f->lock);
    record(f, "create", name);
    if (lookup(f, name) != NULL) {
        snprintf(err, len, "Conflict. The container name \"/%s\" is already in use", name);
        rc = FERRY_EEXIST;
    } else if (image == NULL || json_object_get(f->images, image) == NULL) {
        snprintf(err, len, "No such image: %s", image != NULL ? image : "?");
        rc = FERRY_ENOTFOUND;
    } else {
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            f->c = realloc(f->c, f->cap * sizeof(*f->c));
        }
        fake_container *c = &f->c[f->n++];
        memset(c, 0, sizeof(*c));
        snprintf(c->id, sizeof(c->id), "id%04d", ++f->next_id);
        snprintf(c->name, sizeof(c->name), "%s", name);
        snprintf(c->image, sizeof(c->image), "%s", image);
        c->labels = json_deep_copy(json_object_get(body, "Labels"));
        c->body = json_deep_copy(body);
        snprintf(c->st.status, sizeof(c->st.status), "created");
        *id = ferry_strdup(c->id);
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* The value of the first key of obj that name ends with, or NULL. */
static json_t *by_suffix(json_t *obj, const char *name) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (ends_with(name, k))
            return v;
    }
    return NULL;
}

static ferry_err op_start(void *e, const char *id, char *err, size_t len) {
    fake_engine *f = e;
    ferry_err rc = FERRY_OK;
    pthread_mutex_lock(&f->lock);
    fake_container *c = lookup(f, id);
    if (c == NULL) {
        snprintf(err, len, "No such container: %s", id);
        rc = FERRY_ENOTFOUND;
    } else {
        json_t *code = by_suffix(f->exit_codes, c->name);
        record(f, "start", c->name);
        if (by_suffix(f->port_taken, c->name) != NULL) {
            snprintf(err, len, "Bind for 0.0.0.0:8080 failed: port is already allocated");
            rc = FERRY_EENGINE;
        } else if (code != NULL) {
            snprintf(c->st.status, sizeof(c->st.status), "exited");
            c->st.exit_code = json_integer_value(code);
        } else {
            snprintf(c->st.status, sizeof(c->st.status), "running");
        }
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static ferry_err op_stop(void *e, const char *id, int timeout_s) {
    fake_engine *f = e;
    (void)timeout_s;
    pthread_mutex_lock(&f->lock);
    fake_container *c = lookup(f, id);
    if (c != NULL) {
        record(f, "stop", c->name);
        if (strcmp(c->st.status, "running") == 0) {
            snprintf(c->st.status, sizeof(c->st.status), "exited");
            c->st.exit_code = 143;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return FERRY_OK;
}

static ferry_err op_remove(void *e, const char *id) {
    fake_engine *f = e;
    pthread_mutex_lock(&f->lock);
    fake_container *c = lookup(f, id);
    if (c != NULL) {
        record(f, "remove", c->name);
        json_decref(c->labels);
        json_decref(c->body);
        *c = f->c[--f->n];
    }
    pthread_mutex_unlock(&f->lock);
    return FERRY_OK;
}

static ferry_err op_ensure_pause_image(void *e, const char *binary, const char *image) {
    fake_engine *f = e;
    (void)binary;
    pthread_mutex_lock(&f->lock);
    json_object_set_new(f->images, image, json_true());
    pthread_mutex_unlock(&f->lock);
    return FERRY_OK;
}

const ferry_engine_ops fake_engine_ops = {
    .list = op_list,
    .state = op_state,
    .logs_tail = op_logs_tail,
    .image_present = op_image_present,
    .pull = op_pull,
    .create = op_create,
    .start = op_start,
    .stop = op_stop,
    .remove = op_remove,
    .ensure_pause_image = op_ensure_pause_image,
};
