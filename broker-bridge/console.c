/* broker-bridge's web console: a folder's static files loaded into a sorted table once, looked up
 * per request without touching the filesystem (see console.h). */
#include "console.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/secrets.h"

#define ETAG_BYTES 16 /* of the SHA-256: 32 hex digits */

typedef struct {
    ferry_console_file pub; /* its pointers are set once the table is complete (fix_pointers) */
    char path[FERRY_CONSOLE_MAX_PATH];
    char etag[2 * ETAG_BYTES + 3];
    unsigned char *data;
} entry;

struct ferry_console {
    entry *files;
    size_t n, cap, bytes;
    size_t max_files, max_file, max_total;
    const char *root; /* the folder, for the logs (borrowed while loading only) */
};

/* Served extensions: one table, checked by ferry_console_type. */
static const struct {
    const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
};

const char *ferry_console_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot == name)
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(dot + 1, types[i].ext) == 0)
            return types[i].type;
    }
    return NULL;
}

static bool name_char(char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

/* One path component we serve: not empty, not starting with "." (so neither "." nor ".."),
 * [A-Za-z0-9._-] only. */
static bool valid_component(const char *s, size_t len) {
    if (len == 0 || s[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!name_char(s[i]))
            return false;
    }
    return true;
}

/* A URL path we could hold: "/" then components joined by "/". */
static bool valid_path(const char *url) {
    size_t len = strlen(url);
    if (len < 2 || len >= FERRY_CONSOLE_MAX_PATH || url[0] != '/')
        return false;
    for (const char *p = url + 1;;) {
        size_t n = strcspn(p, "/");
        if (!valid_component(p, n))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

/* The quoted first 2 * ETAG_BYTES hex digits of the "sha256:<hex>" digest configs use too. */
static void etag_of(const unsigned char *data, size_t len, char *out) {
    char digest[FERRY_SECRETS_DIGEST_LEN];
    ferry_secrets_digest(data, len, digest);
    snprintf(out, 2 * ETAG_BYTES + 3, "\"%.*s\"", 2 * ETAG_BYTES, digest + 7);
}

/* Read the regular file name (in folder dfd) of path into a new entry. The file is opened
 * without following a link and checked again once open: what lstat saw may have been replaced. */
static ferry_err load_file(ferry_console *c, int dfd, const char *name, const char *path,
                           const char *type) {
    ferry_err err = FERRY_EINVAL;
    unsigned char *data = NULL;
    struct stat st;
    size_t len = 0, got = 0;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        LOG_ERROR("console: cannot open %s%s: %s", c->root, path, strerror(errno));
        return FERRY_EINVAL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        LOG_ERROR("console: %s%s is not a regular file any more", c->root, path);
        goto out;
    }
    len = (size_t)st.st_size;
    if (c->n >= c->max_files) {
        LOG_ERROR("console: %s holds more than %zu files to serve", c->root, c->max_files);
        err = FERRY_ETOOBIG;
        goto out;
    }
    if (len > c->max_file) {
        LOG_ERROR("console: %s%s has %zu bytes, over the limit of %zu a file", c->root, path, len,
                  c->max_file);
        err = FERRY_ETOOBIG;
        goto out;
    }
    if (c->bytes + len > c->max_total) {
        LOG_ERROR("console: %s%s takes the console's files over the limit of %zu bytes in all",
                  c->root, path, c->max_total);
        err = FERRY_ETOOBIG;
        goto out;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 32;
        entry *grown = ferry_realloc(c->files, cap * sizeof(*grown));
        if (grown == NULL) {
            err = FERRY_ENOMEM;
            goto out;
        }
        c->files = grown;
        c->cap = cap;
    }
    if ((data = ferry_malloc(len != 0 ? len : 1)) == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    while (got < len) {
        ssize_t r = read(fd, data + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            LOG_ERROR("console: cannot read %s%s: %s", c->root, path,
                      r < 0 ? strerror(errno) : "it became shorter while read");
            goto out;
        }
        got += (size_t)r;
    }
    entry *e = &c->files[c->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->path, sizeof(e->path), "%s", path);
    etag_of(data, len, e->etag);
    e->data = data;
    e->pub.len = len;
    e->pub.type = type;
    c->bytes += len;
    data = NULL;
    err = FERRY_OK;
out:
    ferry_free(data);
    close(fd);
    return err;
}

/* Load the folder dfd (owned: closed here), whose URL path is prefix ("" for the root). */
static ferry_err walk(ferry_console *c, int dfd, const char *prefix, unsigned depth) {
    ferry_err err = FERRY_OK;
    DIR *d = fdopendir(dfd);
    struct dirent *de;

    if (d == NULL) {
        LOG_ERROR("console: cannot read the folder %s%s: %s", c->root, prefix, strerror(errno));
        close(dfd);
        return FERRY_EINVAL;
    }
    while (err == FERRY_OK) {
        char path[FERRY_CONSOLE_MAX_PATH];
        struct stat st;
        errno = 0;
        if ((de = readdir(d)) == NULL) {
            if (errno != 0) {
                LOG_ERROR("console: cannot read the folder %s%s: %s", c->root, prefix,
                          strerror(errno));
                err = FERRY_EINVAL;
            }
            break;
        }
        const char *name = de->d_name, *type = ferry_console_type(name);
        if (name[0] == '.') /* ".", "..", and dotfiles: never served */
            continue;
        int n = snprintf(path, sizeof(path), "%s/%s", prefix, name);
        if (!valid_component(name, strlen(name)) || n < 0 || (size_t)n >= sizeof(path)) {
            LOG_WARN("console: skipped %s%s/%s: a name of [A-Za-z0-9._-] only, and a path under "
                     "%d bytes, is served",
                     c->root, prefix, name, FERRY_CONSOLE_MAX_PATH);
            continue;
        }
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            LOG_ERROR("console: cannot stat %s%s: %s", c->root, path, strerror(errno));
            err = FERRY_EINVAL;
        } else if (S_ISLNK(st.st_mode)) {
            LOG_WARN("console: skipped %s%s: a symbolic link (links are not followed)", c->root,
                     path);
        } else if (S_ISDIR(st.st_mode)) {
            if (depth + 1 >= FERRY_CONSOLE_MAX_DEPTH) {
                LOG_ERROR("console: %s%s is more than %d folders deep", c->root, path,
                          FERRY_CONSOLE_MAX_DEPTH);
                err = FERRY_ETOOBIG;
                break;
            }
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                LOG_ERROR("console: cannot open the folder %s%s: %s", c->root, path,
                          strerror(errno));
                err = FERRY_EINVAL;
            } else {
                err = walk(c, sub, path, depth + 1);
            }
        } else if (!S_ISREG(st.st_mode)) {
            LOG_WARN("console: skipped %s%s: not a regular file", c->root, path);
        } else if (type == NULL) {
            LOG_INFO("console: skipped %s%s: not a type the console serves (html, js, mjs, css, "
                     "json, svg, png, ico, woff2, txt)",
                     c->root, path);
        } else {
            err = load_file(c, dirfd(d), name, path, type);
        }
    }
    closedir(d);
    return err;
}

static int by_path(const void *x, const void *y) {
    return strcmp(((const entry *)x)->path, ((const entry *)y)->path);
}

static int find_path(const void *key, const void *e) {
    return strcmp(key, ((const entry *)e)->path);
}

ferry_err ferry_console__load_limited(const char *dir, size_t max_files, size_t max_file,
                                      size_t max_total, ferry_console **out) {
    ferry_console *c = NULL;
    ferry_err err;
    int fd;

    *out = NULL;
    /* The folder itself may be a link (a packaging choice); nothing inside it is followed. */
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT)
            return FERRY_ENOTFOUND;
        LOG_ERROR("console: cannot open the folder %s: %s", dir, strerror(errno));
        return FERRY_EINVAL;
    }
    if ((c = ferry_calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return FERRY_ENOMEM;
    }
    c->max_files = max_files;
    c->max_file = max_file;
    c->max_total = max_total;
    c->root = dir;
    if ((err = walk(c, fd, "", 0)) != FERRY_OK) {
        ferry_console_free(c);
        return err;
    }
    if (c->n > 0)
        qsort(c->files, c->n, sizeof(*c->files), by_path);
    for (size_t i = 0; i < c->n; i++) {
        entry *e = &c->files[i];
        e->pub.path = e->path;
        e->pub.etag = e->etag;
        e->pub.data = e->data;
    }
    c->root = NULL;
    *out = c;
    return FERRY_OK;
}

ferry_err ferry_console_load(const char *dir, ferry_console **out) {
    return ferry_console__load_limited(dir, FERRY_CONSOLE_MAX_FILES, FERRY_CONSOLE_MAX_FILE,
                                       FERRY_CONSOLE_MAX_TOTAL, out);
}

void ferry_console_free(ferry_console *c) {
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        ferry_free(c->files[i].data);
    ferry_free(c->files);
    ferry_free(c);
}

size_t ferry_console_count(const ferry_console *c) {
    return c != NULL ? c->n : 0;
}

size_t ferry_console_bytes(const ferry_console *c) {
    return c != NULL ? c->bytes : 0;
}

const ferry_console_file *ferry_console_find(const ferry_console *c, const char *url) {
    if (c == NULL || c->n == 0 || url == NULL)
        return NULL;
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    if (!valid_path(url))
        return NULL;
    const entry *e = bsearch(url, c->files, c->n, sizeof(*c->files), find_path);
    return e != NULL ? &e->pub : NULL;
}

bool ferry_console_etag_match(const char *if_none_match, const char *etag) {
    size_t elen = strlen(etag);
    if (if_none_match == NULL)
        return false;
    for (const char *p = if_none_match; *p != '\0';) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        size_t len = n;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        const char *tag = p;
        if (len >= 2 && strncmp(tag, "W/", 2) == 0) { /* weak comparison (RFC 9110 13.1.2) */
            tag += 2;
            len -= 2;
        }
        if ((len == 1 && tag[0] == '*') || (len == elen && strncmp(tag, etag, len) == 0))
            return true;
        p += n + (p[n] == ',' ? 1 : 0);
    }
    return false;
}
