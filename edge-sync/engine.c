/* edge-sync engine: a blocking client of the Docker Engine API v1.41 over a unix socket with
 * libcurl, speaking to Docker 20.10 and to Podman 4.3's Docker-compatible API alike (engine.h).
 *
 * Docker and Podman differ in a few places; each is handled where it bites and marked "Podman:"
 * below. In short (all seen on Docker 20.10.24 and Podman 4.3.1):
 *  - Podman names images imported or built locally "localhost/NAME:TAG", and images imported
 *    with a short repo "docker.io/NAME:TAG". Its compat API resolves the short name (the one an
 *    app uses, "ferry-test/busybox:1") to the local image in GET /images/{name}/json and in
 *    POST /containers/create, so names are passed through as they are; only the Image field of
 *    GET /containers/json shows the long form, and ferry_engine_list strips "localhost/" so that
 *    both engines report the name the app used.
 *  - Podman's import (POST /images/create?fromSrc=-) ignores the `tag` parameter and always
 *    tags "latest"; both engines accept the tag inside `repo` (repo=NAME:TAG), so that is sent.
 *    It also files a short repo under docker.io ("docker.io/ferry/pause:1"), as if it came from
 *    Docker Hub: the pause image is imported as "localhost/NAME:TAG" instead, the name Podman
 *    gives every local image, which the short name finds like any other.
 *  - Podman answers a name clash on create with 500 ("... is already in use ...") where Docker
 *    answers 409: both become FERRY_EEXIST.
 *  - Podman answers a failed pull with 200 and an "error" line in the stream; Docker answers a
 *    failure before the first byte with a status and {"message": ..}, and later failures with
 *    "error" lines. Both are followed to the end and turned into an error with the message.
 *  - Podman refuses to remove a container that others join (NetworkMode "container:<id>"),
 *    even with force=1: "has dependent containers which must be removed before it". Docker
 *    removes it and leaves the joined containers without a network. ferry_engine_remove reports
 *    FERRY_ECONFLICT then: remove a pod's service containers before its infra container.
 *  - Podman stops a container that is not running with 204, Docker with 304; both are success.
 *  - Logs of a container without a TTY come multiplexed (8-byte frame headers) from both.
 *  - Docker pulls from a registry on 127.0.0.0/8 over plain HTTP when it does not speak TLS;
 *    Podman insists on TLS unless registries.conf says otherwise, and its compat pull has no
 *    switch for it. For a loopback registry (a node-local mirror) engine.c pulls through
 *    Podman's own API (libpod, tlsVerify=false) so both engines behave the same; any other
 *    plain-HTTP registry must be declared insecure in the node's registries.conf (Podman) or
 *    daemon.json (Docker).
 */
#include "engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENGINE_API "http://localhost/v1.41"
#define ENGINE_LIBPOD_API "http://localhost/v4.0.0/libpod" /* Podman's own API, same socket */
#define ENGINE_BODY_CAP ((size_t)16 << 20)                 /* any response body */
#define ENGINE_LINE_CAP ((size_t)1 << 20)                  /* one line of a progress stream */
#define ENGINE_PAUSE_CAP ((size_t)64 << 20)                /* the pause binary */
#define ENGINE_TIMEOUT_S 60L                               /* an ordinary request */
#define ENGINE_STREAM_TIMEOUT_S 1800L                      /* a pull or an import */
#define ENGINE_PATH_MAX 4096

#define ENGINE_IDLE_HANDLES 8 /* curl handles kept (with their connection) between calls */

/* Thread-safe: each call takes a curl handle of its own from the idle ones (or a new one) and
 * gives it back, so calls from several threads run side by side. */
struct ferry_engine {
    pthread_mutex_t lock; /* guards idle */
    CURL *idle[ENGINE_IDLE_HANDLES];
    size_t nidle;
    char *socket_path;
    char describe[96];
    bool podman;
};

/* ---- HTTP ------------------------------------------------------------------------------------ */

/* A response body. Whole mode: data holds the body (NUL-terminated), up to ENGINE_BODY_CAP.
 * Line mode (on_line set): the body is cut at '\n' and each line handed to on_line; data holds
 * only the line being received, up to ENGINE_LINE_CAP. */
typedef struct {
    char *data;
    size_t len, alloc;
    bool overflow, nomem;
    void (*on_line)(void *ctx, const char *line, size_t len);
    void *ctx;
} resp_buf;

typedef struct {
    const char *method; /* "GET", "POST" or "DELETE" */
    const char *path;   /* below /v1.41, query included, already escaped */
    const char *ctype;  /* Content-Type of body, or NULL */
    const void *body;
    size_t body_len;
    const char *auth; /* X-Registry-Auth value, or NULL */
    long timeout_s;
    bool libpod; /* path is below Podman's libpod API instead of the Docker API */
} http_req;

static void resp_free(resp_buf *b) {
    ferry_free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
    b->overflow = b->nomem = false;
}

static bool resp_append(resp_buf *b, const char *p, size_t n, size_t cap) {
    if (n > cap - b->len) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 > b->alloc) {
        size_t want = b->alloc ? b->alloc : 4096;
        while (want < b->len + n + 1)
            want *= 2;
        if (want > cap + 1)
            want = cap + 1;
        char *d = ferry_realloc(b->data, want);
        if (!d) {
            b->nomem = true;
            return false;
        }
        b->data = d;
        b->alloc = want;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
    resp_buf *b = ud;
    size_t n = size * nmemb;
    if (!b->on_line)
        return resp_append(b, p, n, ENGINE_BODY_CAP) ? n : 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t take = nl ? (size_t)(nl - (p + i)) : n - i;
        if (!resp_append(b, p + i, take, ENGINE_LINE_CAP))
            return 0;
        i += take;
        if (nl) {
            b->on_line(b->ctx, b->data ? b->data : "", b->len);
            b->len = 0;
            i++;
        }
    }
    return n;
}

/* Append a header line to *hdrs; on failure the whole list is freed and *hdrs is NULL. */
static void add_header(struct curl_slist **hdrs, const char *line) {
    struct curl_slist *h = *hdrs ? curl_slist_append(*hdrs, line) : NULL;
    if (!h)
        curl_slist_free_all(*hdrs);
    *hdrs = h;
}

static CURL *take_handle(ferry_engine *e) {
    CURL *c = NULL;
    pthread_mutex_lock(&e->lock);
    if (e->nidle > 0)
        c = e->idle[--e->nidle];
    pthread_mutex_unlock(&e->lock);
    return c != NULL ? c : curl_easy_init();
}

static void give_handle(ferry_engine *e, CURL *c) {
    pthread_mutex_lock(&e->lock);
    if (e->nidle < ENGINE_IDLE_HANDLES) {
        e->idle[e->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    if (c != NULL)
        curl_easy_cleanup(c);
}

/* One request. *status is the HTTP status; the body lands in *resp. FERRY_EIO when the engine
 * could not be reached or the exchange broke, FERRY_ETOOBIG when a body exceeded its cap. */
static ferry_err http(ferry_engine *e, const http_req *r, long *status, resp_buf *resp) {
    char url[sizeof(ENGINE_LIBPOD_API) + ENGINE_PATH_MAX];
    char curl_err[CURL_ERROR_SIZE] = "";
    char auth_hdr[8192];
    struct curl_slist *hdrs = NULL;
    ferry_err rc = FERRY_OK;
    CURL *c = take_handle(e);

    *status = 0;
    if (c == NULL)
        return FERRY_ENOMEM;
    snprintf(url, sizeof(url), "%s%s", r->libpod ? ENGINE_LIBPOD_API : ENGINE_API, r->path);
    curl_easy_reset(c);                        /* keeps the open connection */
    hdrs = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip on big bodies */
    if (r->ctype) {
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s", r->ctype);
        add_header(&hdrs, ct);
    }
    if (r->auth) {
        int n = snprintf(auth_hdr, sizeof(auth_hdr), "X-Registry-Auth: %s", r->auth);
        if (n < 0 || (size_t)n >= sizeof(auth_hdr)) {
            rc = FERRY_ETOOBIG;
            goto out;
        }
        add_header(&hdrs, auth_hdr);
    }
    if (!hdrs) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, e->socket_path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, r->timeout_s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (resp->on_line && cc == CURLE_OK && resp->len > 0) {
        resp->on_line(resp->ctx, resp->data, resp->len); /* last line without '\n' */
        resp->len = 0;
    }
    if (resp->overflow) {
        LOG_WARN("engine %s: the answer to %s %s exceeds its size cap; giving up on it",
                 e->socket_path, r->method, r->path);
        rc = FERRY_ETOOBIG;
    } else if (resp->nomem) {
        rc = FERRY_ENOMEM;
    } else if (cc != CURLE_OK) {
        LOG_WARN("engine %s: %s %s failed: %s", e->socket_path, r->method, r->path,
                 curl_err[0] ? curl_err : curl_easy_strerror(cc));
        rc = FERRY_EIO;
    }
out:
    if (r->auth)
        OPENSSL_cleanse(auth_hdr, sizeof(auth_hdr)); /* credentials */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    give_handle(e, c);
    return rc;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The engine's explanation of a failed request: "message" of a JSON body (both engines), else
 * the body itself, else the status. */
static void engine_message(const resp_buf *b, long status, char *out, size_t outlen) {
    json_t *j = NULL;
    if (b->data && b->len > 0)
        j = json_loadb(b->data, b->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (msg)
        set_err(out, outlen, "%s", msg);
    else if (b->data && b->len > 0)
        set_err(out, outlen, "%.*s", (int)(b->len > 512 ? 512 : b->len), b->data);
    else
        set_err(out, outlen, "engine answered HTTP %ld", status);
    json_decref(j);
    /* the engines end messages with '\n' at times */
    if (out && outlen > 0) {
        size_t n = strlen(out);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
            out[--n] = '\0';
    }
}

static ferry_err status_err(long status) {
    switch (status) {
    case 400:
        return FERRY_EINVAL;
    case 404:
        return FERRY_ENOTFOUND;
    case 409:
        return FERRY_ECONFLICT;
    default:
        return FERRY_EENGINE;
    }
}

/* Percent-encode s into a path or query component. */
static ferry_err append_escaped(ferry_engine *e, char *path, size_t len, const char *s) {
    (void)e;
    char *x = curl_easy_escape(NULL, s, 0); /* the handle is unused since curl 7.82 */
    if (!x)
        return FERRY_ENOMEM;
    size_t used = strlen(path);
    int n = snprintf(path + used, len - used, "%s", x);
    curl_free(x);
    return n < 0 || (size_t)n >= len - used ? FERRY_ETOOBIG : FERRY_OK;
}

/* Build a request path from a format where every "%s" is an argument to percent-encode and the
 * rest is copied as is. */
static ferry_err vbuild_path(ferry_engine *e, char *path, size_t len, const char *fmt, va_list ap) {
    ferry_err rc = FERRY_OK;
    path[0] = '\0';
    for (const char *p = fmt; *p && rc == FERRY_OK; p++) {
        if (p[0] == '%' && p[1] == 's') {
            rc = append_escaped(e, path, len, va_arg(ap, const char *));
            p++;
            continue;
        }
        size_t used = strlen(path);
        if (used + 1 >= len)
            return FERRY_ETOOBIG;
        path[used] = *p;
        path[used + 1] = '\0';
    }
    return rc;
}

static ferry_err build_path(ferry_engine *e, char *path, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ferry_err rc = vbuild_path(e, path, len, fmt, ap);
    va_end(ap);
    return rc;
}

/* A request without a body to the path that fmt and its arguments build (see vbuild_path). */
static ferry_err call(ferry_engine *e, const char *method, long timeout_s, long *status,
                      resp_buf *resp, const char *fmt, ...) {
    char path[ENGINE_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    ferry_err rc = vbuild_path(e, path, sizeof(path), fmt, ap);
    va_end(ap);
    if (rc != FERRY_OK)
        return rc;
    http_req r = {.method = method, .path = path, .timeout_s = timeout_s};
    return http(e, &r, status, resp);
}

/* Log the engine's explanation of a failed request ("engine: <what> failed: <message>") and map
 * its status. */
static ferry_err request_failed(const resp_buf *b, long status, const char *what) {
    char msg[512];
    engine_message(b, status, msg, sizeof(msg));
    LOG_WARN("engine: %s failed: %s", what, msg);
    return status_err(status);
}

/* json_dumps into a ferry_malloc'd buffer (jansson's own allocator may differ). */
static char *dump_json(const json_t *v, size_t *len) {
    size_t flags = JSON_COMPACT;
    size_t n = json_dumpb(v, NULL, 0, flags);
    char *buf = n ? ferry_malloc(n + 1) : NULL;
    if (!buf || json_dumpb(v, buf, n, flags) != n) {
        ferry_free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static ferry_err parse_body(const resp_buf *b, json_t **out) {
    json_error_t jerr;
    *out = b->data ? json_loadb(b->data, b->len, 0, &jerr) : NULL;
    if (!*out) {
        LOG_WARN("engine answered a body that is not JSON (%s)",
                 b->data ? jerr.text : "empty body");
        return FERRY_EFORMAT;
    }
    return FERRY_OK;
}

/* ---- open / close ---------------------------------------------------------------------------- */

ferry_err ferry_engine_open(const char *socket_path, ferry_engine **out) {
    ferry_engine *e = NULL;
    resp_buf b = {0};
    json_t *ver = NULL;
    long status;
    ferry_err rc;

    *out = NULL;
    if (!socket_path)
        return FERRY_EINVAL;
    e = ferry_calloc(1, sizeof(*e));
    if (!e || pthread_mutex_init(&e->lock, NULL) != 0) {
        ferry_free(e);
        return FERRY_ENOMEM;
    }
    if (!(e->socket_path = ferry_strdup(socket_path))) {
        rc = FERRY_ENOMEM;
        goto fail;
    }
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/_ping");
    if (rc == FERRY_OK && (status != 200 || !b.data || strncmp(b.data, "OK", 2) != 0)) {
        LOG_ERROR("engine %s: GET /_ping answered HTTP %ld; is it a Docker or Podman socket?",
                  socket_path, status);
        rc = FERRY_EIO;
    }
    if (rc != FERRY_OK)
        goto fail;
    resp_free(&b);
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/version");
    if (rc == FERRY_OK && status != 200)
        rc = FERRY_EIO;
    if (rc == FERRY_OK && parse_body(&b, &ver) != FERRY_OK)
        rc = FERRY_EIO;
    if (rc != FERRY_OK) {
        LOG_ERROR("engine %s: GET /version failed (HTTP %ld)", socket_path, status);
        goto fail;
    }
    /* Podman lists a component "Podman Engine"; Docker's is "Engine". */
    size_t i;
    json_t *comp;
    json_array_foreach(json_object_get(ver, "Components"), i, comp) {
        const char *name = json_string_value(json_object_get(comp, "Name"));
        if (name && strstr(name, "Podman"))
            e->podman = true;
    }
    const char *version = json_string_value(json_object_get(ver, "Version"));
    snprintf(e->describe, sizeof(e->describe), "%s %s", e->podman ? "podman" : "docker",
             version ? version : "(unknown version)");
    const char *api = json_string_value(json_object_get(ver, "ApiVersion"));
    LOG_INFO("engine %s: %s, API %s", socket_path, e->describe, api ? api : "?");
    *out = e;
    e = NULL;
fail:
    json_decref(ver);
    resp_free(&b);
    ferry_engine_close(e);
    return rc;
}

void ferry_engine_close(ferry_engine *e) {
    if (!e)
        return;
    while (e->nidle > 0)
        curl_easy_cleanup(e->idle[--e->nidle]);
    pthread_mutex_destroy(&e->lock);
    ferry_free(e->socket_path);
    ferry_free(e);
}

const char *ferry_engine_describe(const ferry_engine *e) {
    return e->describe;
}

bool ferry_engine_is_podman(const ferry_engine *e) {
    return e->podman;
}

/* ---- containers ------------------------------------------------------------------------------ */

void ferry_containers_free(ferry_container *c, size_t n) {
    if (!c)
        return;
    for (size_t i = 0; i < n; i++) {
        ferry_free(c[i].id);
        ferry_free(c[i].name);
        ferry_free(c[i].image);
        ferry_free(c[i].state);
        json_decref(c[i].labels);
    }
    ferry_free(c);
}

/* Podman: a locally imported image shows as "localhost/NAME:TAG" where the app (and Docker) say
 * "NAME:TAG". */
static const char *image_display(const ferry_engine *e, const char *image) {
    static const char local[] = "localhost/";
    if (e->podman && strncmp(image, local, sizeof(local) - 1) == 0)
        return image + sizeof(local) - 1;
    return image;
}

ferry_err ferry_engine_list(ferry_engine *e, const char *const *filters, ferry_container **out,
                            size_t *n) {
    char filter[1024], what[1200];
    resp_buf b = {0};
    json_t *arr = NULL, *f = NULL, *list = NULL;
    ferry_container *c = NULL;
    size_t count = 0;
    long status;
    ferry_err rc;

    *out = NULL;
    *n = 0;
    if (filters == NULL || filters[0] == NULL)
        return FERRY_EINVAL;
    /* Several label filters: the engine lists the containers that carry all of them. */
    f = json_pack("{s:[]}", "label");
    list = json_object_get(f, "label");
    for (size_t k = 0; f != NULL && filters[k] != NULL; k++)
        if (json_array_append_new(list, json_string(filters[k])) != 0) {
            json_decref(f);
            f = NULL;
        }
    size_t flen = f ? json_dumpb(f, filter, sizeof(filter) - 1, JSON_COMPACT) : 0;
    if (!f || flen == 0 || flen >= sizeof(filter)) {
        rc = f ? FERRY_ETOOBIG : FERRY_ENOMEM;
        goto out;
    }
    filter[flen] = '\0';
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/containers/json?all=1&filters=%s", filter);
    if (rc != FERRY_OK)
        goto out;
    if (status != 200) {
        snprintf(what, sizeof(what), "listing containers with %s", filter);
        rc = request_failed(&b, status, what);
        goto out;
    }
    if ((rc = parse_body(&b, &arr)) != FERRY_OK)
        goto out;
    if (!json_is_array(arr)) {
        rc = FERRY_EFORMAT;
        goto out;
    }
    c = ferry_calloc(json_array_size(arr) + 1, sizeof(*c));
    if (!c) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        const char *id = json_string_value(json_object_get(it, "Id"));
        const char *name = json_string_value(json_array_get(json_object_get(it, "Names"), 0));
        const char *image = json_string_value(json_object_get(it, "Image"));
        const char *state = json_string_value(json_object_get(it, "State"));
        json_t *labels = json_object_get(it, "Labels");
        if (!id) {
            LOG_WARN("engine: a listed container has no Id; skipping it");
            continue;
        }
        if (name && name[0] == '/')
            name++;
        ferry_container *x = &c[count++];
        x->id = ferry_strdup(id);
        x->name = ferry_strdup(name ? name : "");
        x->image = ferry_strdup(image ? image_display(e, image) : "");
        x->state = ferry_strdup(state ? state : "");
        x->labels = json_is_object(labels) ? json_deep_copy(labels) : json_object();
        if (!x->id || !x->name || !x->image || !x->state || !x->labels) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
    *out = c;
    *n = count;
    c = NULL;
out:
    ferry_containers_free(c, count);
    json_decref(arr);
    json_decref(f);
    resp_free(&b);
    return rc;
}

ferry_err ferry_engine_inspect(ferry_engine *e, const char *id, json_t **out) {
    char what[128];
    resp_buf b = {0};
    long status;
    ferry_err rc;

    *out = NULL;
    if (!id)
        return FERRY_EINVAL;
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/containers/%s/json", id);
    if (rc == FERRY_OK && status == 200) {
        rc = parse_body(&b, out);
    } else if (rc == FERRY_OK) {
        rc = status_err(status);
        if (rc != FERRY_ENOTFOUND) {
            snprintf(what, sizeof(what), "inspecting container %.80s", id);
            rc = request_failed(&b, status, what);
        }
    }
    resp_free(&b);
    return rc;
}

ferry_err ferry_engine_state(ferry_engine *e, const char *id, ferry_cstate *out) {
    json_t *info = NULL, *state;
    const char *s, *err;

    memset(out, 0, sizeof(*out));
    snprintf(out->status, sizeof(out->status), "unknown");
    ferry_err rc = ferry_engine_inspect(e, id, &info);
    if (rc != FERRY_OK)
        return rc;
    state = json_object_get(info, "State");
    s = json_string_value(json_object_get(state, "Status"));
    err = json_string_value(json_object_get(state, "Error"));
    snprintf(out->status, sizeof(out->status), "%s", s ? s : "unknown");
    snprintf(out->error, sizeof(out->error), "%s", err ? err : "");
    out->exit_code = (long long)json_integer_value(json_object_get(state, "ExitCode"));
    out->restarts = (long long)json_integer_value(json_object_get(info, "RestartCount"));
    json_decref(info);
    return FERRY_OK;
}

ferry_err ferry_engine_create(ferry_engine *e, const char *name, const json_t *body, char **id,
                              char *err, size_t errlen) {
    char path[ENGINE_PATH_MAX];
    resp_buf b = {0};
    json_t *res = NULL;
    char *json = NULL;
    size_t json_len = 0;
    long status;
    ferry_err rc;

    *id = NULL;
    set_err(err, errlen, "%s", "");
    if (!name || !body)
        return FERRY_EINVAL;
    if (!(json = dump_json(body, &json_len))) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    rc = build_path(e, path, sizeof(path), "/containers/create?name=%s", name);
    if (rc != FERRY_OK)
        goto out;
    http_req r = {.method = "POST",
                  .path = path,
                  .ctype = "application/json",
                  .body = json,
                  .body_len = json_len,
                  .timeout_s = ENGINE_TIMEOUT_S};
    if ((rc = http(e, &r, &status, &b)) != FERRY_OK) {
        set_err(err, errlen, "cannot reach the engine: %s", ferry_strerror(rc));
        goto out;
    }
    if (status != 201) {
        engine_message(&b, status, err, errlen);
        rc = status_err(status);
        /* Podman: a name clash is 500 "... is already in use ..." (Docker: 409). */
        if (rc == FERRY_ECONFLICT ||
            (e->podman && status == 500 && b.data && strstr(b.data, "already in use")))
            rc = FERRY_EEXIST;
        goto out;
    }
    if ((rc = parse_body(&b, &res)) != FERRY_OK)
        goto out;
    const char *cid = json_string_value(json_object_get(res, "Id"));
    if (!cid) {
        set_err(err, errlen, "engine answered create without an Id");
        rc = FERRY_EFORMAT;
        goto out;
    }
    if (!(*id = ferry_strdup(cid)))
        rc = FERRY_ENOMEM;
out:
    json_decref(res);
    ferry_free(json);
    resp_free(&b);
    return rc;
}

ferry_err ferry_engine_start(ferry_engine *e, const char *id, char *err, size_t errlen) {
    resp_buf b = {0};
    long status;
    ferry_err rc;

    set_err(err, errlen, "%s", "");
    if (!id)
        return FERRY_EINVAL;
    rc = call(e, "POST", ENGINE_TIMEOUT_S, &status, &b, "/containers/%s/start", id);
    if (rc != FERRY_OK) {
        set_err(err, errlen, "cannot reach the engine: %s", ferry_strerror(rc));
    } else if (status != 204 && status != 304) { /* 304: already running */
        engine_message(&b, status, err, errlen);
        rc = status_err(status);
    }
    resp_free(&b);
    return rc;
}

ferry_err ferry_engine_stop(ferry_engine *e, const char *id, int timeout_s) {
    char t[16], what[128];
    resp_buf b = {0};
    long status;
    ferry_err rc;

    if (!id)
        return FERRY_EINVAL;
    if (timeout_s < 0)
        timeout_s = 0;
    snprintf(t, sizeof(t), "%d", timeout_s);
    rc = call(e, "POST", ENGINE_TIMEOUT_S + timeout_s, &status, &b, "/containers/%s/stop?t=%s", id,
              t);
    /* 304: not running (Docker; Podman says 204); 404: gone. */
    if (rc == FERRY_OK && status != 204 && status != 304 && status != 404) {
        snprintf(what, sizeof(what), "stopping container %.80s", id);
        rc = request_failed(&b, status, what);
    }
    resp_free(&b);
    return rc;
}

ferry_err ferry_engine_remove(ferry_engine *e, const char *id) {
    char what[128];
    resp_buf b = {0};
    long status;
    ferry_err rc;

    if (!id)
        return FERRY_EINVAL;
    rc = call(e, "DELETE", ENGINE_TIMEOUT_S, &status, &b, "/containers/%s?force=1&v=1", id);
    if (rc == FERRY_OK && status != 204 && status != 404) {
        snprintf(what, sizeof(what), "removing container %.80s", id);
        rc = request_failed(&b, status, what);
        /* Podman: refuses while containers join this one's namespaces (see the top). */
        if (e->podman && b.data && strstr(b.data, "dependent containers"))
            rc = FERRY_ECONFLICT;
    }
    resp_free(&b);
    return rc;
}

/* Concatenate the payloads of Docker's multiplexed log stream: frames of an 8-byte header
 * (stream 0/1/2, three zero bytes, big-endian payload length) and the payload. out has room
 * for len + 1 bytes. A truncated last frame is kept as far as it goes. */
static size_t demux_logs(const unsigned char *in, size_t len, char *out) {
    size_t pos = 0, n = 0;
    while (pos < len) {
        if (len - pos < 8 || in[pos] > 2 || in[pos + 1] || in[pos + 2] || in[pos + 3])
            break;
        size_t flen = (size_t)in[pos + 4] << 24 | (size_t)in[pos + 5] << 16 |
                      (size_t)in[pos + 6] << 8 | (size_t)in[pos + 7];
        pos += 8;
        if (flen > len - pos)
            flen = len - pos;
        memcpy(out + n, in + pos, flen);
        n += flen;
        pos += flen;
    }
    if (pos < len)
        LOG_DEBUG("engine: %zu bytes of logs are not in frames; dropped", len - pos);
    out[n] = '\0';
    return n;
}

ferry_err ferry_engine_logs_tail(ferry_engine *e, const char *id, int lines, char **out) {
    char tail[16], what[128];
    resp_buf b = {0};
    json_t *info = NULL;
    long status;
    ferry_err rc;

    *out = NULL;
    if (!id || lines <= 0)
        return FERRY_EINVAL;
    /* Only a container without a TTY has its output multiplexed. */
    if ((rc = ferry_engine_inspect(e, id, &info)) != FERRY_OK)
        goto out;
    bool tty = json_is_true(json_object_get(json_object_get(info, "Config"), "Tty"));
    snprintf(tail, sizeof(tail), "%d", lines);
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b,
              "/containers/%s/logs?stdout=1&stderr=1&tail=%s", id, tail);
    if (rc != FERRY_OK)
        goto out;
    if (status != 200) {
        snprintf(what, sizeof(what), "reading the logs of container %.80s", id);
        rc = request_failed(&b, status, what);
        goto out;
    }
    if (!(*out = ferry_malloc(b.len + 1))) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    if (tty) {
        if (b.len)
            memcpy(*out, b.data, b.len);
        (*out)[b.len] = '\0';
    } else {
        demux_logs((const unsigned char *)(b.data ? b.data : ""), b.len, *out);
    }
out:
    json_decref(info);
    resp_free(&b);
    return rc;
}

/* ---- images ---------------------------------------------------------------------------------- */

ferry_err ferry_engine_image_present(ferry_engine *e, const char *image, bool *present) {
    char what[600];
    resp_buf b = {0};
    long status;
    ferry_err rc;

    *present = false;
    if (!image || !image[0])
        return FERRY_EINVAL;
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/images/%s/json", image);
    if (rc == FERRY_OK && status == 200) {
        *present = true;
    } else if (rc == FERRY_OK && status != 404) {
        snprintf(what, sizeof(what), "looking up image %.500s", image);
        rc = request_failed(&b, status, what);
    }
    resp_free(&b);
    return rc;
}

/* Split an image reference into what POST /images/create wants: fromImage (everything before
 * the tag or digest) and tag (the tag, or the digest "sha256:..", or "latest"). A ':' counts as
 * the tag separator only after the last '/', so "127.0.0.1:5000/a/b" has no tag. With a digest,
 * a tag in front of it ("a:1@sha256:..") is dropped: the digest decides. */
static ferry_err split_image_ref(const char *image, char *repo, size_t repolen, char *tag,
                                 size_t taglen) {
    const char *at = strchr(image, '@');
    size_t rlen = at ? (size_t)(at - image) : strlen(image);
    size_t last = 0; /* start of the last path component */
    const char *colon = NULL, *t = "latest";
    size_t tlen = 6;

    for (size_t i = 0; i < rlen; i++)
        if (image[i] == '/')
            last = i + 1;
    for (size_t i = last; i < rlen; i++)
        if (image[i] == ':')
            colon = image + i;
    if (at) {
        t = at + 1;
        tlen = strlen(t);
    } else if (colon) {
        t = colon + 1;
        tlen = rlen - (size_t)(t - image);
    }
    if (colon)
        rlen = (size_t)(colon - image);
    if (rlen == 0 || tlen == 0 || last == rlen)
        return FERRY_EINVAL;
    if (rlen >= repolen || tlen >= taglen)
        return FERRY_ETOOBIG;
    memcpy(repo, image, rlen);
    repo[rlen] = '\0';
    memcpy(tag, t, tlen);
    tag[tlen] = '\0';
    return FERRY_OK;
}

/* true when the first component of repo names a registry ("127.0.0.1:5000/a", "quay.io/a",
 * "localhost/a"), the rule both engines apply. */
static bool has_registry_host(const char *repo) {
    const char *slash = strchr(repo, '/');
    if (!slash)
        return false;
    size_t n = (size_t)(slash - repo);
    return memchr(repo, '.', n) || memchr(repo, ':', n) ||
           (n == 9 && strncmp(repo, "localhost", 9) == 0);
}

/* true when repo's registry is on this host: "localhost" or an address in 127.0.0.0/8, with or
 * without a port (Docker's default insecure range). */
static bool loopback_registry(const char *repo) {
    if (!has_registry_host(repo))
        return false;
    size_t n = strcspn(repo, ":/");
    if (n == 9 && strncmp(repo, "localhost", 9) == 0)
        return true;
    if (strncmp(repo, "127.", 4) != 0)
        return false;
    return strspn(repo, "0123456789.") == n;
}

/* base64url (with padding, as both engines decode X-Registry-Auth) of n bytes; caller frees. */
static char *base64url(const void *data, size_t n) {
    if (n > (size_t)1 << 20)
        return NULL;
    char *out = ferry_malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return out;
}

/* What a progress stream (pull, import) said went wrong: the first "error" or
 * "errorDetail.message" of its lines, and a "message" (the shape of an answer that failed before
 * the stream began). */
typedef struct {
    char error[512];
    char message[512];
    size_t lines;
} stream_state;

static void on_stream_line(void *ctx, const char *line, size_t len) {
    stream_state *s = ctx;
    json_t *j = json_loadb(line, len, 0, NULL);
    s->lines++;
    if (!j)
        return; /* blank or not JSON: progress text carries no verdict */
    const char *error = json_string_value(json_object_get(j, "error"));
    if (!error)
        error = json_string_value(json_object_get(json_object_get(j, "errorDetail"), "message"));
    const char *message = json_string_value(json_object_get(j, "message"));
    if (error && !s->error[0])
        snprintf(s->error, sizeof(s->error), "%s", error);
    if (message && !s->message[0])
        snprintf(s->message, sizeof(s->message), "%s", message);
    json_decref(j);
}

/* Run a pull or an import and judge the stream. */
static ferry_err stream_request(ferry_engine *e, const http_req *r, const char *what, char *err,
                                size_t errlen) {
    stream_state s = {{0}, {0}, 0};
    resp_buf b = {.on_line = on_stream_line, .ctx = &s};
    long status;
    ferry_err rc = http(e, r, &status, &b);

    if (rc != FERRY_OK) {
        set_err(err, errlen, "%s: cannot reach the engine: %s", what, ferry_strerror(rc));
    } else if (status != 200) {
        if (s.message[0] || s.error[0])
            set_err(err, errlen, "%s", s.message[0] ? s.message : s.error);
        else
            set_err(err, errlen, "%s: engine answered HTTP %ld", what, status);
        rc = status_err(status);
        if (rc != FERRY_ENOTFOUND)
            rc = FERRY_EENGINE;
    } else if (s.error[0]) {
        set_err(err, errlen, "%s", s.error);
        /* Podman reports every failure in the stream with 200. */
        rc = strstr(s.error, "not found") || strstr(s.error, "manifest unknown") ||
                     strstr(s.error, "does not exist")
                 ? FERRY_ENOTFOUND
                 : FERRY_EENGINE;
    }
    resp_free(&b);
    return rc;
}

ferry_err ferry_engine_pull(ferry_engine *e, const char *image, const json_t *auth_json, char *err,
                            size_t errlen) {
    char path[ENGINE_PATH_MAX], repo[1024], tag[256];
    char *auth = NULL, *auth_raw = NULL;
    size_t auth_len = 0;
    ferry_err rc;

    set_err(err, errlen, "%s", "");
    if (!image || (rc = split_image_ref(image, repo, sizeof(repo), tag, sizeof(tag))) != FERRY_OK) {
        set_err(err, errlen, "invalid image reference \"%s\"", image ? image : "");
        return image ? rc : FERRY_EINVAL;
    }
    if (auth_json) {
        auth_raw = dump_json(auth_json, &auth_len);
        auth = auth_raw ? base64url(auth_raw, auth_len) : NULL;
        if (!auth) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
    /* Podman: see the top for why a loopback registry goes through libpod. */
    bool libpod = e->podman && loopback_registry(repo);
    if (libpod)
        rc = build_path(e, path, sizeof(path), "/images/pull?reference=%s&tlsVerify=false", image);
    else
        rc = build_path(e, path, sizeof(path), "/images/create?fromImage=%s&tag=%s", repo, tag);
    if (rc != FERRY_OK)
        goto out;
    LOG_INFO("engine: pulling %s", image);
    http_req r = {.method = "POST",
                  .path = path,
                  .auth = auth,
                  .timeout_s = ENGINE_STREAM_TIMEOUT_S,
                  .libpod = libpod};
    rc = stream_request(e, &r, "pull", err, errlen);
    if (rc != FERRY_OK)
        LOG_WARN("engine: pulling %s failed: %s", image, err ? err : ferry_strerror(rc));
out:
    if (auth_raw) {
        OPENSSL_cleanse(auth_raw, auth_len);
        ferry_free(auth_raw);
    }
    if (auth) {
        OPENSSL_cleanse(auth, strlen(auth));
        ferry_free(auth);
    }
    return rc;
}

/* ---- the pause image ------------------------------------------------------------------------- */

#define TAR_BLOCK 512

static void tar_octal(char *field, size_t width, unsigned long long v) {
    snprintf(field, width, "%0*llo", (int)(width - 1), v); /* width-1 digits and a NUL */
}

/* A ustar archive holding one regular file `name` (mode 0755, root-owned, mtime 0 so that the
 * same binary always gives the same layer). Caller frees. */
static char *tar_one_file(const char *name, const void *data, size_t len, size_t *tar_len) {
    size_t padded = (len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    size_t total = TAR_BLOCK + padded + 2 * TAR_BLOCK; /* header, data, end of archive */
    char *tar = ferry_calloc(1, total);
    if (!tar || strlen(name) >= 100) {
        ferry_free(tar);
        return NULL;
    }
    char *h = tar;
    memcpy(h, name, strlen(name));
    tar_octal(h + 100, 8, 0755);
    tar_octal(h + 108, 8, 0);
    tar_octal(h + 116, 8, 0);
    tar_octal(h + 124, 12, len);
    tar_octal(h + 136, 12, 0);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "root", 4);
    memcpy(h + 297, "root", 4);
    memset(h + 148, ' ', 8); /* the checksum counts its own field as spaces */
    unsigned long sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06lo", sum);
    h[155] = ' ';
    memcpy(tar + TAR_BLOCK, data, len);
    *tar_len = total;
    return tar;
}

static ferry_err read_file(const char *path, char **out, size_t *len) {
    struct stat st;
    ferry_err rc = FERRY_OK;
    char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        LOG_ERROR("cannot read the pause binary %s: %s", path,
                  fd < 0 || errno ? strerror(errno) : "not a regular file");
        rc = FERRY_EIO;
        goto out;
    }
    if ((size_t)st.st_size > ENGINE_PAUSE_CAP || st.st_size == 0) {
        LOG_ERROR("the pause binary %s has %lld bytes; expected 1..%zu", path,
                  (long long)st.st_size, ENGINE_PAUSE_CAP);
        rc = FERRY_ETOOBIG;
        goto out;
    }
    if (!(buf = ferry_malloc((size_t)st.st_size))) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            LOG_ERROR("reading the pause binary %s failed: %s", path,
                      n < 0 ? strerror(errno) : "file shrank");
            rc = FERRY_EIO;
            goto out;
        }
        got += (size_t)n;
    }
    *out = buf;
    *len = got;
    buf = NULL;
out:
    if (fd >= 0)
        close(fd);
    ferry_free(buf);
    return rc;
}

ferry_err ferry_engine_ensure_pause_image(ferry_engine *e, const char *pause_binary,
                                          const char *image_ref) {
    char path[ENGINE_PATH_MAX], repo[512], tag[128], err[512] = "";
    char *bin = NULL, *tar = NULL;
    size_t bin_len = 0, tar_len = 0;
    bool present = false;
    ferry_err rc;

    if (!pause_binary || !image_ref)
        return FERRY_EINVAL;
    if ((rc = ferry_engine_image_present(e, image_ref, &present)) != FERRY_OK || present)
        return rc;
    /* Tag in repo: Podman ignores the tag parameter of an import (see the top). A digest cannot
     * name an import. */
    if (strchr(image_ref, '@') ||
        (rc = split_image_ref(image_ref, repo, sizeof(repo), tag, sizeof(tag))) != FERRY_OK) {
        LOG_ERROR("pause image reference \"%s\" must be NAME[:TAG]", image_ref);
        return FERRY_EINVAL;
    }
    if ((rc = read_file(pause_binary, &bin, &bin_len)) != FERRY_OK)
        goto out;
    if (!(tar = tar_one_file("pause", bin, bin_len, &tar_len))) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    char named[sizeof("localhost/") + sizeof(repo) + sizeof(tag)];
    snprintf(named, sizeof(named), "%s%s:%s",
             e->podman && !has_registry_host(repo) ? "localhost/" : "", repo, tag);
    if ((rc = build_path(e, path, sizeof(path), "/images/create?fromSrc=-&repo=%s", named)) !=
        FERRY_OK)
        goto out;
    http_req r = {.method = "POST",
                  .path = path,
                  .ctype = "application/x-tar",
                  .body = tar,
                  .body_len = tar_len,
                  .timeout_s = ENGINE_STREAM_TIMEOUT_S};
    if ((rc = stream_request(e, &r, "import", err, sizeof(err))) != FERRY_OK) {
        LOG_ERROR("engine: importing the pause image %s from %s failed: %s", image_ref,
                  pause_binary, err);
        goto out;
    }
    /* Check that the engine now finds it under the name the pods will use. */
    if ((rc = ferry_engine_image_present(e, image_ref, &present)) == FERRY_OK && !present) {
        LOG_ERROR("engine: imported the pause image but %s does not find it by that name",
                  e->describe);
        rc = FERRY_EENGINE;
    }
    if (rc == FERRY_OK)
        LOG_INFO("engine: imported pause image %s (%zu bytes from %s)", image_ref, bin_len,
                 pause_binary);
out:
    ferry_free(bin);
    ferry_free(tar);
    return rc;
}

/* ---- the operations table ---- */

static ferry_err op_list(void *e, const char *const *labels, ferry_container **out, size_t *n) {
    return ferry_engine_list(e, labels, out, n);
}
static ferry_err op_state(void *e, const char *id, ferry_cstate *out) {
    return ferry_engine_state(e, id, out);
}
static ferry_err op_logs_tail(void *e, const char *id, int lines, char **out) {
    return ferry_engine_logs_tail(e, id, lines, out);
}
static ferry_err op_image_present(void *e, const char *image, bool *present) {
    return ferry_engine_image_present(e, image, present);
}
static ferry_err op_pull(void *e, const char *image, const json_t *auth, char *err, size_t len) {
    return ferry_engine_pull(e, image, auth, err, len);
}
static ferry_err op_create(void *e, const char *name, const json_t *body, char **id, char *err,
                           size_t len) {
    return ferry_engine_create(e, name, body, id, err, len);
}
static ferry_err op_start(void *e, const char *id, char *err, size_t len) {
    return ferry_engine_start(e, id, err, len);
}
static ferry_err op_stop(void *e, const char *id, int timeout_s) {
    return ferry_engine_stop(e, id, timeout_s);
}
static ferry_err op_remove(void *e, const char *id) {
    return ferry_engine_remove(e, id);
}
static ferry_err op_ensure_pause_image(void *e, const char *binary, const char *image) {
    return ferry_engine_ensure_pause_image(e, binary, image);
}

const ferry_engine_ops ferry_engine_api_ops = {
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
