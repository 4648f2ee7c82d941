/* edge-sync engine: a blocking client of the Docker Engine API v1.41 over a unix socket with
 * libcurl, speaking to Docker 20.10 and to Podman 4.3's Docker-compatible API alike (engine.h).
 * This file holds the transport and the public API; what needs no engine (response and stream
 * parsing, error messages, request paths, image references, the pause image's tar) is in
 * engine_wire.c.
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
#include "engine_wire.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENGINE_API "http://localhost/v1.41"
#define ENGINE_LIBPOD_API "http://localhost/v4.0.0/libpod" /* Podman's own API, same socket */
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

/* Append a header line to *hdrs; on failure the whole list is freed and *hdrs is NULL. */
static void add_header(struct curl_slist **hdrs, const char *line) {
    struct curl_slist *h = *hdrs != NULL ? curl_slist_append(*hdrs, line) : NULL;
    if (h == NULL)
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
static ferry_err http(ferry_engine *e, const http_req *r, long *status, ferry_engine__resp *resp) {
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
    if (r->ctype != NULL) {
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s", r->ctype);
        add_header(&hdrs, ct);
    }
    if (r->auth != NULL) {
        int n = snprintf(auth_hdr, sizeof(auth_hdr), "X-Registry-Auth: %s", r->auth);
        if (n < 0 || (size_t)n >= sizeof(auth_hdr)) {
            rc = FERRY_ETOOBIG;
            goto out;
        }
        add_header(&hdrs, auth_hdr);
    }
    if (hdrs == NULL) {
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
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ferry_engine__resp_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }
    int64_t t0 = ferry_mono_ms();
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    /* The trace of a deployment (bench/bench_deploy.py --trace) reads these. */
    LOG_DEBUG("engine: %s %.200s -> %ld in %lld ms", r->method, r->path, *status,
              (long long)(ferry_mono_ms() - t0));
    if (resp->on_line != NULL && cc == CURLE_OK && resp->len > 0) {
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
    if (r->auth != NULL)
        OPENSSL_cleanse(auth_hdr, sizeof(auth_hdr)); /* credentials */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    give_handle(e, c);
    return rc;
}

/* A request without a body to the path that fmt and its arguments build (see
 * ferry_engine__build_path). */
static ferry_err call(ferry_engine *e, const char *method, long timeout_s, long *status,
                      ferry_engine__resp *resp, const char *fmt, ...) {
    char path[ENGINE_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    ferry_err rc = ferry_engine__vbuild_path(path, sizeof(path), fmt, ap);
    va_end(ap);
    if (rc != FERRY_OK)
        return rc;
    http_req r = {.method = method, .path = path, .timeout_s = timeout_s};
    return http(e, &r, status, resp);
}

/* Log the engine's explanation of a failed request ("engine: <what> failed: <message>") and map
 * its status. */
static ferry_err request_failed(const ferry_engine__resp *b, long status, const char *what) {
    char msg[512];
    ferry_engine__message(b, status, msg, sizeof(msg));
    LOG_WARN("engine: %s failed: %s", what, msg);
    return ferry_engine__status_err(status);
}

/* ---- open / close ---------------------------------------------------------------------------- */

ferry_err ferry_engine_open(const char *socket_path, ferry_engine **out) {
    ferry_engine *e = NULL;
    ferry_engine__resp b = {0};
    json_t *ver = NULL;
    long status;
    ferry_err rc;

    *out = NULL;
    if (socket_path == NULL)
        return FERRY_EINVAL;
    e = ferry_calloc(1, sizeof(*e));
    if (e == NULL || pthread_mutex_init(&e->lock, NULL) != 0) {
        ferry_free(e);
        return FERRY_ENOMEM;
    }
    if ((e->socket_path = ferry_strdup(socket_path)) == NULL) {
        rc = FERRY_ENOMEM;
        goto fail;
    }
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/_ping");
    if (rc == FERRY_OK && (status != 200 || b.data == NULL || strncmp(b.data, "OK", 2) != 0)) {
        LOG_ERROR("engine %s: GET /_ping answered HTTP %ld; is it a Docker or Podman socket?",
                  socket_path, status);
        rc = FERRY_EIO;
    }
    if (rc != FERRY_OK)
        goto fail;
    ferry_engine__resp_free(&b);
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/version");
    if (rc == FERRY_OK && status != 200)
        rc = FERRY_EIO;
    if (rc == FERRY_OK && ferry_engine__parse_body(&b, &ver) != FERRY_OK)
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
        if (name != NULL && strstr(name, "Podman") != NULL)
            e->podman = true;
    }
    const char *version = json_string_value(json_object_get(ver, "Version"));
    snprintf(e->describe, sizeof(e->describe), "%s %s", e->podman ? "podman" : "docker",
             version != NULL ? version : "(unknown version)");
    const char *api = json_string_value(json_object_get(ver, "ApiVersion"));
    LOG_INFO("engine %s: %s, API %s", socket_path, e->describe, api != NULL ? api : "?");
    *out = e;
    e = NULL;
fail:
    json_decref(ver);
    ferry_engine__resp_free(&b);
    ferry_engine_close(e);
    return rc;
}

void ferry_engine_close(ferry_engine *e) {
    if (e == NULL)
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
    if (c == NULL)
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
    ferry_engine__resp b = {0};
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
    size_t flen = f != NULL ? json_dumpb(f, filter, sizeof(filter) - 1, JSON_COMPACT) : 0;
    if (f == NULL || flen == 0 || flen >= sizeof(filter)) {
        rc = f != NULL ? FERRY_ETOOBIG : FERRY_ENOMEM;
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
    if ((rc = ferry_engine__parse_body(&b, &arr)) != FERRY_OK)
        goto out;
    if (!json_is_array(arr)) {
        rc = FERRY_EFORMAT;
        goto out;
    }
    c = ferry_calloc(json_array_size(arr) + 1, sizeof(*c));
    if (c == NULL) {
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
        if (id == NULL) {
            LOG_WARN("engine: a listed container has no Id; skipping it");
            continue;
        }
        if (name != NULL && name[0] == '/')
            name++;
        ferry_container *x = &c[count++];
        x->id = ferry_strdup(id);
        x->name = ferry_strdup(name != NULL ? name : "");
        x->image = ferry_strdup(image != NULL ? image_display(e, image) : "");
        x->state = ferry_strdup(state != NULL ? state : "");
        x->labels = json_is_object(labels) ? json_deep_copy(labels) : json_object();
        const char *net;
        json_t *nv;
        json_object_foreach(json_object_get(json_object_get(it, "NetworkSettings"), "Networks"),
                            net, nv) {
            const char *ip = json_string_value(json_object_get(nv, "IPAddress"));
            if (ip != NULL && ip[0] != '\0' && strlen(ip) < sizeof(x->ip)) {
                snprintf(x->ip, sizeof(x->ip), "%s", ip);
                break;
            }
        }
        if (x->id == NULL || x->name == NULL || x->image == NULL || x->state == NULL ||
            x->labels == NULL) {
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
    ferry_engine__resp_free(&b);
    return rc;
}

ferry_err ferry_engine_inspect(ferry_engine *e, const char *id, json_t **out) {
    char what[128];
    ferry_engine__resp b = {0};
    long status;
    ferry_err rc;

    *out = NULL;
    if (id == NULL)
        return FERRY_EINVAL;
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/containers/%s/json", id);
    if (rc == FERRY_OK && status == 200) {
        rc = ferry_engine__parse_body(&b, out);
    } else if (rc == FERRY_OK) {
        rc = ferry_engine__status_err(status);
        if (rc != FERRY_ENOTFOUND) {
            snprintf(what, sizeof(what), "inspecting container %.80s", id);
            rc = request_failed(&b, status, what);
        }
    }
    ferry_engine__resp_free(&b);
    return rc;
}

ferry_err ferry_engine_bridge_gateway(ferry_engine *e, char *ip, size_t len) {
    ferry_engine__resp b = {0};
    json_t *net = NULL, *cfg;
    long status;
    size_t i;
    ferry_err rc;

    ip[0] = '\0';
    /* Podman's API answers for its default network under Docker's name "bridge". */
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/networks/bridge");
    if (rc == FERRY_OK && status == 200)
        rc = ferry_engine__parse_body(&b, &net);
    else if (rc == FERRY_OK)
        rc = request_failed(&b, status, "inspecting the network bridge");
    if (rc == FERRY_OK) {
        rc = FERRY_ENOTFOUND;
        json_array_foreach(json_object_get(json_object_get(net, "IPAM"), "Config"), i, cfg) {
            const char *gw = json_string_value(json_object_get(cfg, "Gateway"));
            if (gw != NULL && strchr(gw, ':') == NULL && strlen(gw) < len) {
                snprintf(ip, len, "%s", gw);
                rc = FERRY_OK;
                break;
            }
        }
    }
    json_decref(net);
    ferry_engine__resp_free(&b);
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
    snprintf(out->status, sizeof(out->status), "%s", s != NULL ? s : "unknown");
    snprintf(out->error, sizeof(out->error), "%s", err != NULL ? err : "");
    out->exit_code = (long long)json_integer_value(json_object_get(state, "ExitCode"));
    out->restarts = (long long)json_integer_value(json_object_get(info, "RestartCount"));
    json_decref(info);
    return FERRY_OK;
}

ferry_err ferry_engine_create(ferry_engine *e, const char *name, const json_t *body, char **id,
                              char *err, size_t errlen) {
    char path[ENGINE_PATH_MAX];
    ferry_engine__resp b = {0};
    json_t *res = NULL;
    char *json = NULL;
    size_t json_len = 0;
    long status;
    ferry_err rc;

    *id = NULL;
    ferry_engine__set_err(err, errlen, "%s", "");
    if (name == NULL || body == NULL)
        return FERRY_EINVAL;
    if ((json = ferry_engine__dump_json(body, &json_len)) == NULL) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    rc = ferry_engine__build_path(path, sizeof(path), "/containers/create?name=%s", name);
    if (rc != FERRY_OK)
        goto out;
    http_req r = {.method = "POST",
                  .path = path,
                  .ctype = "application/json",
                  .body = json,
                  .body_len = json_len,
                  .timeout_s = ENGINE_TIMEOUT_S};
    if ((rc = http(e, &r, &status, &b)) != FERRY_OK) {
        ferry_engine__set_err(err, errlen, "cannot reach the engine: %s", ferry_strerror(rc));
        goto out;
    }
    if (status != 201) {
        ferry_engine__message(&b, status, err, errlen);
        rc = ferry_engine__status_err(status);
        /* Podman: a name clash is 500 "... is already in use ..." (Docker: 409). */
        if (rc == FERRY_ECONFLICT || (e->podman && status == 500 && b.data != NULL &&
                                      strstr(b.data, "already in use") != NULL))
            rc = FERRY_EEXIST;
        goto out;
    }
    if ((rc = ferry_engine__parse_body(&b, &res)) != FERRY_OK)
        goto out;
    const char *cid = json_string_value(json_object_get(res, "Id"));
    if (cid == NULL) {
        ferry_engine__set_err(err, errlen, "engine answered create without an Id");
        rc = FERRY_EFORMAT;
        goto out;
    }
    if ((*id = ferry_strdup(cid)) == NULL)
        rc = FERRY_ENOMEM;
out:
    json_decref(res);
    ferry_free(json);
    ferry_engine__resp_free(&b);
    return rc;
}

ferry_err ferry_engine_start(ferry_engine *e, const char *id, char *err, size_t errlen) {
    ferry_engine__resp b = {0};
    long status;
    ferry_err rc;

    ferry_engine__set_err(err, errlen, "%s", "");
    if (id == NULL)
        return FERRY_EINVAL;
    rc = call(e, "POST", ENGINE_TIMEOUT_S, &status, &b, "/containers/%s/start", id);
    if (rc != FERRY_OK) {
        ferry_engine__set_err(err, errlen, "cannot reach the engine: %s", ferry_strerror(rc));
    } else if (status != 204 && status != 304) { /* 304: already running */
        ferry_engine__message(&b, status, err, errlen);
        rc = ferry_engine__status_err(status);
    }
    ferry_engine__resp_free(&b);
    return rc;
}

/* The stop timeout a container carries in its label, else the default. */
static int own_stop_timeout(ferry_engine *e, const char *id) {
    json_t *info = NULL;
    int t = FERRY_ENGINE_STOP_DEFAULT_S;
    if (ferry_engine_inspect(e, id, &info) == FERRY_OK) {
        const char *v = json_string_value(
            json_object_get(json_object_get(json_object_get(info, "Config"), "Labels"),
                            FERRY_ENGINE_LBL_STOP_TIMEOUT));
        char *end = NULL;
        long n = v != NULL ? strtol(v, &end, 10) : -1;
        if (v != NULL && end != v && *end == '\0' && n >= 0 && n <= FERRY_ENGINE_STOP_MAX_S)
            t = (int)n;
    }
    json_decref(info);
    return t;
}

ferry_err ferry_engine_stop(ferry_engine *e, const char *id, int timeout_s) {
    char t[16], what[128];
    ferry_engine__resp b = {0};
    long status;
    ferry_err rc;

    if (id == NULL)
        return FERRY_EINVAL;
    if (timeout_s < 0)
        timeout_s = own_stop_timeout(e, id);
    if (snprintf(t, sizeof(t), "%d", timeout_s) > 0)
        rc = call(e, "POST", ENGINE_TIMEOUT_S + timeout_s, &status, &b, "/containers/%s/stop?t=%s",
                  id, t);
    else
        rc = FERRY_EINVAL;
    /* 304: not running (Docker; Podman says 204); 404: gone. */
    if (rc == FERRY_OK && status != 204 && status != 304 && status != 404) {
        snprintf(what, sizeof(what), "stopping container %.80s", id);
        rc = request_failed(&b, status, what);
    }
    ferry_engine__resp_free(&b);
    return rc;
}

ferry_err ferry_engine_remove(ferry_engine *e, const char *id) {
    char what[128];
    ferry_engine__resp b = {0};
    long status;
    ferry_err rc;

    if (id == NULL)
        return FERRY_EINVAL;
    rc = call(e, "DELETE", ENGINE_TIMEOUT_S, &status, &b, "/containers/%s?force=1&v=1", id);
    if (rc == FERRY_OK && status != 204 && status != 404) {
        snprintf(what, sizeof(what), "removing container %.80s", id);
        rc = request_failed(&b, status, what);
        /* Podman: refuses while containers join this one's namespaces (see the top). */
        if (e->podman && b.data != NULL && strstr(b.data, "dependent containers") != NULL)
            rc = FERRY_ECONFLICT;
    }
    ferry_engine__resp_free(&b);
    return rc;
}

ferry_err ferry_engine_logs_tail(ferry_engine *e, const char *id, int lines, char **out) {
    return ferry_engine_logs(e, id, lines, 0, out);
}

ferry_err ferry_engine_logs(ferry_engine *e, const char *id, int lines, long long since,
                            char **out) {
    char tail[16], what[128];
    ferry_engine__resp b = {0};
    json_t *info = NULL;
    long status;
    ferry_err rc;

    *out = NULL;
    if (id == NULL || lines <= 0)
        return FERRY_EINVAL;
    /* Only a container without a TTY has its output multiplexed. */
    if ((rc = ferry_engine_inspect(e, id, &info)) != FERRY_OK)
        goto out;
    bool tty = json_is_true(json_object_get(json_object_get(info, "Config"), "Tty"));
    snprintf(tail, sizeof(tail), "%d", lines);
    /* call() escapes what %s puts in (digits stay digits) and knows no other conversion: the
     * query's structure stays in the format, the numbers go in as text. */
    char since_s[24];
    snprintf(since_s, sizeof(since_s), "%lld", since);
    if (since > 0)
        rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b,
                  "/containers/%s/logs?stdout=1&stderr=1&tail=%s&since=%s", id, tail, since_s);
    else
        rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b,
                  "/containers/%s/logs?stdout=1&stderr=1&tail=%s", id, tail);
    if (rc != FERRY_OK)
        goto out;
    if (status != 200) {
        snprintf(what, sizeof(what), "reading the logs of container %.80s", id);
        rc = request_failed(&b, status, what);
        goto out;
    }
    if ((*out = ferry_malloc(b.len + 1)) == NULL) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    if (tty) {
        if (b.len)
            memcpy(*out, b.data, b.len);
        (*out)[b.len] = '\0';
    } else {
        ferry_engine__demux_logs((const unsigned char *)(b.data != NULL ? b.data : ""), b.len,
                                 *out);
    }
out:
    json_decref(info);
    ferry_engine__resp_free(&b);
    return rc;
}

/* ---- images ---------------------------------------------------------------------------------- */

ferry_err ferry_engine_image_present(ferry_engine *e, const char *image, bool *present) {
    char what[600];
    ferry_engine__resp b = {0};
    long status;
    ferry_err rc;

    *present = false;
    if (image == NULL || !image[0])
        return FERRY_EINVAL;
    rc = call(e, "GET", ENGINE_TIMEOUT_S, &status, &b, "/images/%s/json", image);
    if (rc == FERRY_OK && status == 200) {
        *present = true;
    } else if (rc == FERRY_OK && status != 404) {
        snprintf(what, sizeof(what), "looking up image %.500s", image);
        rc = request_failed(&b, status, what);
    }
    ferry_engine__resp_free(&b);
    return rc;
}

/* Run a pull or an import and judge the stream. */
static ferry_err stream_request(ferry_engine *e, const http_req *r, const char *what, char *err,
                                size_t errlen) {
    ferry_engine__stream s = {{0}, {0}, 0};
    ferry_engine__resp b = {.on_line = ferry_engine__stream_line, .ctx = &s};
    long status;
    ferry_err rc = http(e, r, &status, &b);

    if (rc != FERRY_OK) {
        ferry_engine__set_err(err, errlen, "%s: cannot reach the engine: %s", what,
                              ferry_strerror(rc));
    } else if (status != 200) {
        if (s.message[0] || s.error[0])
            ferry_engine__set_err(err, errlen, "%s", s.message[0] ? s.message : s.error);
        else
            ferry_engine__set_err(err, errlen, "%s: engine answered HTTP %ld", what, status);
        rc = ferry_engine__status_err(status);
        if (rc != FERRY_ENOTFOUND)
            rc = FERRY_EENGINE;
    } else if (s.error[0]) {
        ferry_engine__set_err(err, errlen, "%s", s.error);
        /* Podman reports every failure in the stream with 200. */
        rc = strstr(s.error, "not found") != NULL || strstr(s.error, "manifest unknown") != NULL ||
                     strstr(s.error, "does not exist") != NULL
                 ? FERRY_ENOTFOUND
                 : FERRY_EENGINE;
    }
    ferry_engine__resp_free(&b);
    return rc;
}

ferry_err ferry_engine_pull(ferry_engine *e, const char *image, const json_t *auth_json, char *err,
                            size_t errlen) {
    char path[ENGINE_PATH_MAX], repo[1024], tag[256];
    char *auth = NULL, *auth_raw = NULL;
    size_t auth_len = 0;
    ferry_err rc;

    ferry_engine__set_err(err, errlen, "%s", "");
    if (image == NULL || (rc = ferry_engine__split_image_ref(image, repo, sizeof(repo), tag,
                                                             sizeof(tag))) != FERRY_OK) {
        ferry_engine__set_err(err, errlen, "invalid image reference \"%s\"",
                              image != NULL ? image : "");
        return image != NULL ? rc : FERRY_EINVAL;
    }
    if (auth_json != NULL) {
        auth_raw = ferry_engine__dump_json(auth_json, &auth_len);
        auth = auth_raw != NULL ? ferry_engine__base64url(auth_raw, auth_len) : NULL;
        if (auth == NULL) {
            rc = FERRY_ENOMEM;
            goto out;
        }
    }
    /* Podman: see the top for why a loopback registry goes through libpod. */
    bool libpod = e->podman && ferry_engine__loopback_registry(repo);
    if (libpod)
        rc = ferry_engine__build_path(path, sizeof(path),
                                      "/images/pull?reference=%s&tlsVerify=false", image);
    else
        rc = ferry_engine__build_path(path, sizeof(path), "/images/create?fromImage=%s&tag=%s",
                                      repo, tag);
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
        LOG_WARN("engine: pulling %s failed: %s", image, err != NULL ? err : ferry_strerror(rc));
out:
    if (auth_raw != NULL) {
        OPENSSL_cleanse(auth_raw, auth_len);
        ferry_free(auth_raw);
    }
    if (auth != NULL) {
        OPENSSL_cleanse(auth, strlen(auth));
        ferry_free(auth);
    }
    return rc;
}

/* ---- the pause image ------------------------------------------------------------------------- */

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
    if ((buf = ferry_malloc((size_t)st.st_size)) == NULL) {
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

    if (pause_binary == NULL || image_ref == NULL)
        return FERRY_EINVAL;
    if ((rc = ferry_engine_image_present(e, image_ref, &present)) != FERRY_OK || present)
        return rc;
    /* Tag in repo: Podman ignores the tag parameter of an import (see the top). A digest cannot
     * name an import. */
    if (strchr(image_ref, '@') != NULL ||
        (rc = ferry_engine__split_image_ref(image_ref, repo, sizeof(repo), tag, sizeof(tag))) !=
            FERRY_OK) {
        LOG_ERROR("pause image reference \"%s\" must be NAME[:TAG]", image_ref);
        return FERRY_EINVAL;
    }
    if ((rc = read_file(pause_binary, &bin, &bin_len)) != FERRY_OK)
        goto out;
    if ((tar = ferry_engine__tar_one_file("pause", bin, bin_len, &tar_len)) == NULL) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    char named[sizeof("localhost/") + sizeof(repo) + sizeof(tag)];
    snprintf(named, sizeof(named), "%s%s:%s",
             e->podman && !ferry_engine__has_registry_host(repo) ? "localhost/" : "", repo, tag);
    if ((rc = ferry_engine__build_path(path, sizeof(path), "/images/create?fromSrc=-&repo=%s",
                                       named)) != FERRY_OK)
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
