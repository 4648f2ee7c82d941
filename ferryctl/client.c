/* ferryctl's API client: settings from flags, environment and config file; requests through
 * libcurl. */
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"
#include "manifest.h"

#define REPLY_MAX (64u * 1024u * 1024u) /* a page of 1000 apps is a few MiB */
#define CONF_MAX (64u * 1024u)

enum { K_SERVER, K_TOKEN, K_TOKEN_FILE, K_CA, K_NAMESPACE, K_COUNT };

struct ctl_client {
    CURL *curl;
    ctl_settings s;
    char *own[K_COUNT + 2]; /* what s points to, plus the config path */
};

typedef struct {
    char *buf;
    size_t len;
    bool too_big;
} reply_buf;

/* A small text file whole (new, NUL-terminated), or NULL with errno. */
static char *read_text(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    if (f == NULL)
        return NULL;
    char *buf = ctl_read_all(f, max, &n);
    int err = errno;
    fclose(f);
    errno = err;
    return buf;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* path, or dir/path when path is relative and dir is not NULL (new). */
static char *resolve_path(const char *dir, const char *path) {
    if (dir == NULL || path[0] == '/')
        return ferry_strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = ferry_malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", dir, path);
    return out;
}

int ctl_config_parse(const char *text, const char *dir, char *out[5], char *err, size_t errlen) {
    static const char *const keys[K_COUNT] = {"server", "token", "token-file", "ca", "namespace"};
    char *copy = ferry_strdup(text);
    int rc = -1, line = 0;

    for (int k = 0; k < K_COUNT; k++)
        out[k] = NULL;
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* strtok_r skips empty lines, so count lines by hand to name the right one. */
    for (char *p = copy; p != NULL;) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        line++;
        char *l = trim(p);
        p = nl != NULL ? nl + 1 : NULL;
        if (l[0] == '\0' || l[0] == '#')
            continue;
        char *eq = strchr(l, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "line %d: expected \"key = value\"", line);
            goto out;
        }
        *eq = '\0';
        char *key = trim(l), *value = trim(eq + 1);
        int k = 0;
        while (k < K_COUNT && strcmp(key, keys[k]) != 0)
            k++;
        if (k == K_COUNT) {
            snprintf(err, errlen,
                     "line %d: unknown key '%s' (server, token, token-file, ca, namespace)", line,
                     key);
            goto out;
        }
        if (value[0] == '\0') {
            snprintf(err, errlen, "line %d: %s has no value", line, key);
            goto out;
        }
        ferry_free(out[k]);
        out[k] = k == K_TOKEN_FILE || k == K_CA ? resolve_path(dir, value) : ferry_strdup(value);
        if (out[k] == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0) {
        for (int k = 0; k < K_COUNT; k++) {
            ferry_free(out[k]);
            out[k] = NULL;
        }
    }
    ferry_free(copy);
    return rc;
}

/* The config file to read: explicit (--config, $FERRY_CONFIG; must exist) or the default (may be
 * absent). New string or NULL. */
static char *config_path(const ctl_cmdline *cl, bool *explicit) {
    const char *p = cl->config != NULL ? cl->config : getenv("FERRY_CONFIG");
    char buf[4096];
    *explicit = p != NULL && p[0] != '\0';
    if (*explicit)
        return ferry_strdup(p);
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/')
        snprintf(buf, sizeof(buf), "%s/ferry/config", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(buf, sizeof(buf), "%s/.config/ferry/config", home);
    else
        return NULL;
    return ferry_strdup(buf);
}

static const char *pick(const char *flag, const char *env, const char *conf) {
    const char *e = env != NULL ? getenv(env) : NULL;
    if (flag != NULL)
        return flag;
    if (e != NULL && e[0] != '\0')
        return e;
    return conf;
}

int ctl_client_open(const ctl_cmdline *cl, ctl_client **out) {
    ctl_client *c = ferry_calloc(1, sizeof(*c));
    char *conf[K_COUNT] = {0};
    char *path = NULL, *text = NULL, *token = NULL, err[256];
    bool explicit = false;
    int rc = CTL_EXIT_USAGE;

    *out = NULL;
    if (c == NULL)
        goto oom;
    path = config_path(cl, &explicit);
    if (path != NULL && (text = read_text(path, CONF_MAX)) == NULL &&
        (explicit || errno != ENOENT)) {
        fprintf(stderr, "error: cannot read the config file %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (text != NULL) {
        char *dir = ferry_strdup(path), *slash = dir != NULL ? strrchr(dir, '/') : NULL;
        if (slash != NULL)
            *slash = '\0';
        int prc = ctl_config_parse(text, slash != NULL ? dir : NULL, conf, err, sizeof(err));
        ferry_free(dir);
        if (prc != 0) {
            fprintf(stderr, "error: config file %s: %s\n", path, err);
            goto out;
        }
    }
    /* A token file named by the config is read only when no flag or variable gives the token. */
    const char *tok = pick(cl->token, "FERRY_TOKEN", conf[K_TOKEN]);
    if (tok == NULL && conf[K_TOKEN_FILE] != NULL) {
        if ((token = read_text(conf[K_TOKEN_FILE], 4096)) == NULL) {
            fprintf(stderr, "error: cannot read the token file %s (from %s): %s\n",
                    conf[K_TOKEN_FILE], path, strerror(errno));
            goto out;
        }
        tok = trim(token);
    }
    const char *server = pick(cl->server, "FERRY_SERVER", conf[K_SERVER]);
    if (server == NULL) {
        fprintf(stderr, "error: no server: give --server URL, set FERRY_SERVER, or write "
                        "\"server = URL\" in ~/.config/ferry/config (see ferryctl --help)\n");
        goto out;
    }
    const char *ca = pick(cl->ca, "FERRY_CA", conf[K_CA]);
    const char *ns = pick(cl->ns, "FERRY_NAMESPACE", conf[K_NAMESPACE]);
    c->own[0] = ferry_strdup(server);
    c->own[1] = tok != NULL ? ferry_strdup(tok) : NULL;
    c->own[2] = ca != NULL ? ferry_strdup(ca) : NULL;
    c->own[3] = ferry_strdup(ns != NULL ? ns : "default");
    c->own[4] = path;
    path = NULL;
    if (c->own[0] == NULL || (tok != NULL && c->own[1] == NULL) ||
        (ca != NULL && c->own[2] == NULL) || c->own[3] == NULL)
        goto oom;
    size_t n = strlen(c->own[0]);
    while (n > 0 && c->own[0][n - 1] == '/')
        c->own[0][--n] = '\0';
    c->s.server = c->own[0];
    c->s.token = c->own[1];
    c->s.ca = c->own[2];
    c->s.ns = c->own[3];
    c->s.conf_path = text != NULL ? c->own[4] : NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (c->curl = curl_easy_init()) == NULL)
        goto oom;
    *out = c;
    c = NULL;
    rc = CTL_EXIT_OK;
    goto out;
oom:
    fprintf(stderr, "error: out of memory\n");
out:
    for (int k = 0; k < K_COUNT; k++)
        ferry_free(conf[k]);
    ferry_free(text);
    ferry_free(token);
    ferry_free(path);
    ctl_client_close(c);
    return rc;
}

void ctl_client_close(ctl_client *c) {
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    for (size_t i = 0; i < sizeof(c->own) / sizeof(c->own[0]); i++)
        ferry_free(c->own[i]);
    ferry_free(c);
}

const ctl_settings *ctl_client_settings(const ctl_client *c) {
    return &c->s;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx) {
    reply_buf *r = ctx;
    size_t n = size * nmemb;
    if (r->len + n > REPLY_MAX) {
        r->too_big = true;
        return 0; /* makes curl fail the transfer */
    }
    char *nb = ferry_realloc(r->buf, r->len + n + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, data, n);
    r->buf = nb;
    r->len += n;
    r->buf[r->len] = '\0';
    return n;
}

int ctl_request(ctl_client *c, const char *method, const char *path, const json_t *body,
                long *status, json_t **reply) {
    struct curl_slist *headers = NULL, *h = NULL;
    reply_buf r = {0};
    char *url = NULL, *text = NULL, *auth = NULL, errbuf[CURL_ERROR_SIZE] = "";
    int rc = CTL_EXIT_UNREACHABLE;
    CURL *k = c->curl;

    *status = 0;
    *reply = NULL;
    size_t ulen = strlen(c->s.server) + strlen(path) + 1;
    if ((url = ferry_malloc(ulen)) == NULL)
        goto oom;
    snprintf(url, ulen, "%s%s", c->s.server, path);
    curl_easy_reset(k);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &r);
    /* The token is the only credential: never let a redirect carry it elsewhere. */
    curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->s.ca != NULL)
        curl_easy_setopt(k, CURLOPT_CAINFO, c->s.ca);
    if (c->s.token != NULL) {
        size_t alen = strlen(c->s.token) + 32;
        if ((auth = ferry_malloc(alen)) == NULL)
            goto oom;
        snprintf(auth, alen, "Authorization: Bearer %s", c->s.token);
        if ((h = curl_slist_append(headers, auth)) == NULL)
            goto oom;
        headers = h;
    }
    if (body != NULL) {
        if ((text = json_dumps(body, JSON_COMPACT)) == NULL ||
            (h = curl_slist_append(headers, "Content-Type: application/json")) == NULL)
            goto oom;
        headers = h;
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    }
    if ((h = curl_slist_append(headers, "Accept: application/json")) == NULL)
        goto oom;
    headers = h;
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, headers);
    CURLcode cc = curl_easy_perform(k);
    if (cc != CURLE_OK) {
        if (r.too_big)
            fprintf(stderr, "error: %s %s: the answer is larger than %u bytes\n", method, url,
                    REPLY_MAX);
        else
            fprintf(stderr, "error: cannot reach the server at %s: %s\n", c->s.server,
                    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, status);
    if (r.len > 0)
        *reply = json_loadb(r.buf, r.len, 0, NULL);
    rc = CTL_EXIT_OK;
    goto out;
oom:
    fprintf(stderr, "error: out of memory\n");
out:
    curl_slist_free_all(headers);
    ferry_free(r.buf);
    ferry_free(url);
    ferry_free(auth);
    free(text);
    return rc;
}

void ctl_reply_error(long status, const json_t *reply, char *buf, size_t len) {
    const char *e = json_string_value(json_object_get(reply, "error"));
    if (e != NULL)
        snprintf(buf, len, "%s", e);
    else
        snprintf(buf, len, "the server answered HTTP %ld", status);
}

char *ctl_escape(ctl_client *c, const char *text) {
    return curl_easy_escape(c->curl, text, 0);
}

void ctl_free_escaped(char *s) {
    curl_free(s);
}
