/* edge-sync volumes: config/secret/certificate files and emptyDir folders on the node, and the
 * bind strings that mount volumes into containers (see volumes.h). */
#include "volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ferry/app.h"
#include "ferry/base64.h"
#include "ferry/config.h"

#define MODE_PRIVATE 0700    /* volumes/, pods/ and the folders down to {app}, {replica} */
#define MODE_CONFIG_DIR 0755 /* the folder of a config volume (mounted) */
#define MODE_EMPTY_DIR 0777  /* an emptyDir (mounted, writable by any container user) */
#define MODE_SUBDIR 0755     /* a subPath folder created inside an emptyDir or hostPath */
#define MODE_FILE 0644       /* default file mode */
#define MODE_SECRET 0600     /* default for secrets and certificate keys */
#define TMP_PREFIX ".ferry-tmp-"
#define COMPARE_CHUNK 65536

static const char *const KINDS[] = {"hostPath", "emptyDir", "config", "secret", "certificate"};

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static ferry_err path_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ferry_err path_fmt(char *buf, size_t len, const char *fmt, ...) {
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

static bool ref_ok(const ferry_volumes_ref *ref) {
    return ref != NULL && ref->data_dir != NULL && ref->data_dir[0] && ref->ns != NULL &&
           ref->app != NULL && ferry_name_valid(ref->ns) && ferry_name_valid(ref->app);
}

const char *ferry_volumes_kind(const json_t *volume) {
    for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
        if (json_is_object(json_object_get(volume, KINDS[i])))
            return KINDS[i];
    return NULL;
}

bool ferry_volumes_kind_has_files(const char *kind) {
    return kind != NULL && (strcmp(kind, "config") == 0 || strcmp(kind, "secret") == 0 ||
                            strcmp(kind, "certificate") == 0);
}

/* A subPath: relative, not empty, no ".." segment. */
static bool sub_path_ok(const char *sub) {
    const char *p = sub;
    if (sub == NULL || !sub[0] || sub[0] == '/')
        return false;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

bool ferry_volumes__path_inside(const char *path, const char *root) {
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (n == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Make sure path is a real folder (not a symbolic link) with exactly `mode`, creating it when
 * missing. Its parent must exist. */
static ferry_err ensure_dir(const char *path, mode_t mode, char *err, size_t errlen) {
    struct stat st;

    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        set_err(err, errlen, "cannot create folder %s: %s", path, strerror(errno));
        return FERRY_EIO;
    }
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "%s is not a folder (a file or symbolic link is in the way)", path);
        return FERRY_EIO;
    }
    /* mkdir is subject to the umask; the mode must be exact. */
    if ((st.st_mode & 07777) != mode && chmod(path, mode) != 0) {
        set_err(err, errlen, "cannot set the mode of %s: %s", path, strerror(errno));
        return FERRY_EIO;
    }
    return FERRY_OK;
}

/* Create {data}/{top}/{ns}/{app} (all 0700). */
static ferry_err ensure_app_dir(const ferry_volumes_ref *ref, const char *top, char *path,
                                size_t len, char *err, size_t errlen) {
    ferry_err e;
    if ((e = path_fmt(path, len, "%s/%s", ref->data_dir, top)) ||
        (e = ensure_dir(path, MODE_PRIVATE, err, errlen)) ||
        (e = path_fmt(path, len, "%s/%s/%s", ref->data_dir, top, ref->ns)) ||
        (e = ensure_dir(path, MODE_PRIVATE, err, errlen)) ||
        (e = path_fmt(path, len, "%s/%s/%s/%s", ref->data_dir, top, ref->ns, ref->app)) ||
        (e = ensure_dir(path, MODE_PRIVATE, err, errlen))) {
        if (e == FERRY_ETOOBIG)
            set_err(err, errlen, "the path of the app's files under %s is too long", ref->data_dir);
        return e;
    }
    return FERRY_OK;
}

ferry_err ferry_volumes_path(const ferry_volumes_ref *ref, const char *volume, char *buf,
                             size_t len) {
    if (!ref_ok(ref) || buf == NULL || (volume != NULL && !ferry_name_valid(volume)))
        return FERRY_EINVAL;
    if (volume != NULL)
        return path_fmt(buf, len, "%s/%s/%s/%s/%s", ref->data_dir, FERRY_VOLUMES_DIR, ref->ns,
                        ref->app, volume);
    return path_fmt(buf, len, "%s/%s/%s/%s", ref->data_dir, FERRY_VOLUMES_DIR, ref->ns, ref->app);
}

ferry_err ferry_volumes_pod_path(const ferry_volumes_ref *ref, int replica, char *buf, size_t len) {
    if (!ref_ok(ref) || buf == NULL)
        return FERRY_EINVAL;
    if (replica >= 0)
        return path_fmt(buf, len, "%s/%s/%s/%s/%d", ref->data_dir, FERRY_PODS_DIR, ref->ns,
                        ref->app, replica);
    return path_fmt(buf, len, "%s/%s/%s/%s", ref->data_dir, FERRY_PODS_DIR, ref->ns, ref->app);
}

/* ---- removal ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        LOG_WARN("cannot remove %s: %s; will retry at the next cleanup", path, strerror(errno));
        return 0; /* go on with the rest; the caller checks whether the root is gone */
    }
    return 0;
}

/* nftw with FTW_PHYS never follows a symbolic link (a link a container planted in its emptyDir
 * is removed, not what it points to) and FTW_DEPTH visits a folder after its content. */
ferry_err ferry_volumes__remove_tree(const char *path) {
    struct stat st;

    if (path == NULL || !path[0] || strcmp(path, "/") == 0)
        return FERRY_EINVAL;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? FERRY_OK : FERRY_EIO;
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) {
            LOG_WARN("cannot remove %s: %s", path, strerror(errno));
            return FERRY_EIO;
        }
        return FERRY_OK;
    }
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (lstat(path, &st) == 0) {
        LOG_WARN("could not remove all of %s; will retry", path);
        return FERRY_EIO;
    }
    return FERRY_OK;
}

ferry_err ferry_volumes_pod_remove(const ferry_volumes_ref *ref, int replica) {
    char path[PATH_MAX];
    ferry_err e = ferry_volumes_pod_path(ref, replica, path, sizeof(path));
    return e ? e : ferry_volumes__remove_tree(path);
}

ferry_err ferry_volumes_app_remove(const ferry_volumes_ref *ref) {
    char path[PATH_MAX];
    ferry_err e = ferry_volumes_path(ref, NULL, path, sizeof(path));
    return e ? e : ferry_volumes__remove_tree(path);
}

/* ---- config files ---- */

/* true when the open file fd holds exactly data[0..len). */
static bool same_content(int fd, const unsigned char *data, size_t len) {
    unsigned char buf[COMPARE_CHUNK];
    size_t off = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0)
            return off == len;
        if ((size_t)n > len - off || memcmp(buf, data + off, (size_t)n) != 0)
            return false;
        off += (size_t)n;
    }
}

static bool write_all(int fd, const unsigned char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Make dir/name hold data with mode, atomically: a reader (a container) sees the old file or the
 * new one, never a partial one, and after a crash the file is one or the other. The new content
 * goes to a temp file in the same folder, is flushed (fsync), then renamed over the old name;
 * the caller fsyncs the folder. Nothing is written when the file already matches. dirfd is dir
 * opened; names were checked by ferry_config_file_name_valid. *changed is set when a file was
 * written. */
static ferry_err write_file_atomic(int dirfd, const char *dir, const char *name,
                                   const unsigned char *data, size_t len, mode_t mode,
                                   bool *changed, char *err, size_t errlen) {
    char tmp[PATH_MAX];
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    bool same = false;

    if (fd >= 0) {
        same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode &&
               (size_t)st.st_size == len && same_content(fd, data, len);
        close(fd);
    }
    if (same)
        return FERRY_OK;
    if (path_fmt(tmp, sizeof(tmp), "%s/" TMP_PREFIX "XXXXXX", dir) != FERRY_OK) {
        set_err(err, errlen, "path of %s/%s too long", dir, name);
        return FERRY_ETOOBIG;
    }
    fd = mkostemp(tmp, O_CLOEXEC); /* 0600 from the start: a secret is never readable */
    if (fd < 0) {
        set_err(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
        return FERRY_EIO;
    }
    bool ok = fchmod(fd, mode) == 0 && write_all(fd, data, len) && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && renameat(AT_FDCWD, tmp, dirfd, name) != 0) {
        saved = errno;
        /* A folder of that name is in the way (left by hand): remove it and try once more. */
        if (saved == EISDIR || saved == ENOTEMPTY || saved == EEXIST) {
            char in_way[PATH_MAX];
            if (path_fmt(in_way, sizeof(in_way), "%s/%s", dir, name) == FERRY_OK &&
                ferry_volumes__remove_tree(in_way) == FERRY_OK &&
                renameat(AT_FDCWD, tmp, dirfd, name) == 0)
                saved = 0;
        }
        ok = saved == 0;
    }
    if (!ok) {
        unlink(tmp);
        set_err(err, errlen, "cannot write %s/%s: %s", dir, name, strerror(saved));
        return FERRY_EIO;
    }
    *changed = true;
    return FERRY_OK;
}

/* Remove every entry of the folder that is not a file of the config (files the config dropped,
 * temp files left by a crash). */
static ferry_err sweep_dir(int dirfd, const char *dir, const json_t *files, bool *changed) {
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    ferry_err rc = FERRY_OK;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return FERRY_EIO;
    }
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (json_object_get(files, de->d_name) != NULL && ferry_config_file_name_valid(de->d_name))
            continue;
        if (path_fmt(path, sizeof(path), "%s/%s", dir, de->d_name) != FERRY_OK ||
            ferry_volumes__remove_tree(path) != FERRY_OK)
            rc = FERRY_EIO;
        else
            *changed = true;
    }
    closedir(d);
    return rc;
}

/* The default mode of a file when the bridge gave none. */
static mode_t default_mode(const char *kind, const char *file) {
    if (strcmp(kind, "secret") == 0 ||
        (strcmp(kind, "certificate") == 0 && strcmp(file, "tls.key") == 0))
        return MODE_SECRET;
    return MODE_FILE;
}

/* Write the files of one config/secret/certificate volume into dir. */
static ferry_err sync_files(const char *dir, const char *volume, const char *kind,
                            const json_t *files, char *err, size_t errlen) {
    const char *fname;
    json_t *f;
    bool changed = false;
    ferry_err rc = FERRY_OK;
    int dirfd;

    if ((rc = ensure_dir(dir, MODE_CONFIG_DIR, err, errlen)) != FERRY_OK)
        return rc;
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        set_err(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        return FERRY_EIO;
    }
    json_object_foreach((json_t *)files, fname, f) {
        const char *b64 = json_string_value(json_object_get(f, "data"));
        const json_t *jmode = json_object_get(f, "mode");
        mode_t mode = default_mode(kind, fname);
        unsigned char *data = NULL;
        size_t len = 0;

        if (!ferry_config_file_name_valid(fname) || b64 == NULL) {
            set_err(err, errlen, "volume %s: file %s of its %s is not usable", volume, fname, kind);
            rc = FERRY_EINVAL;
            break;
        }
        if (json_is_integer(jmode)) {
            json_int_t m = json_integer_value(jmode);
            if (m < 0 || m > 0777) {
                set_err(err, errlen, "volume %s: file %s has mode %lld, outside 0..0777", volume,
                        fname, (long long)m);
                rc = FERRY_EINVAL;
                break;
            }
            mode = (mode_t)m;
        }
        if (ferry_base64_decode(b64, strlen(b64), &data, &len) != FERRY_OK) {
            set_err(err, errlen, "volume %s: file %s is not valid base64", volume, fname);
            rc = FERRY_EINVAL;
            break;
        }
        rc = write_file_atomic(dirfd, dir, fname, data, len, mode, &changed, err, errlen);
        OPENSSL_cleanse(data, len); /* may be a secret */
        ferry_free(data);
        if (rc != FERRY_OK)
            break;
    }
    if (rc == FERRY_OK && sweep_dir(dirfd, dir, files, &changed) != FERRY_OK) {
        set_err(err, errlen, "volume %s: cannot remove stale files from %s", volume, dir);
        rc = FERRY_EIO;
    }
    /* The renames are durable once the folder is. */
    if (changed && fsync(dirfd) != 0 && rc == FERRY_OK) {
        set_err(err, errlen, "cannot flush %s: %s", dir, strerror(errno));
        rc = FERRY_EIO;
    }
    close(dirfd);
    return rc;
}

/* The resolved files of a config-kind volume, or NULL with err set. */
static const json_t *resolved_files(const json_t *spec, const json_t *vol, const char *kind,
                                    char *err, size_t errlen) {
    const char *vname = json_string_value(json_object_get(vol, "name"));
    const char *cname = json_string_value(json_object_get(json_object_get(vol, kind), "name"));
    const json_t *cfg =
        json_object_get(json_object_get(json_object_get(spec, "resolved"), "configs"), cname);
    const json_t *files = json_object_get(cfg, "files");
    const char *ckind = json_string_value(json_object_get(cfg, "kind"));

    if (cname == NULL || !json_is_object(files) || (ckind != NULL && strcmp(ckind, kind) != 0)) {
        set_err(err, errlen,
                "volume %s: %s %s is not among the configs the cloud resolved for this app "
                "(create it, or update the bridge)",
                vname != NULL ? vname : "?", kind, cname != NULL ? cname : "?");
        return NULL;
    }
    return files;
}

ferry_err ferry_volumes_sync(const ferry_volumes_ref *ref, const json_t *spec, char *err,
                             size_t errlen) {
    char path[PATH_MAX];
    size_t i;
    json_t *vol;
    bool app_dir = false;
    ferry_err rc;

    if (!ref_ok(ref))
        return FERRY_EINVAL;
    json_array_foreach(json_object_get(spec, "volumes"), i, vol) {
        const char *vname = json_string_value(json_object_get(vol, "name"));
        const char *kind = ferry_volumes_kind(vol);
        struct stat st;

        if (vname == NULL || kind == NULL || !ferry_name_valid(vname)) {
            set_err(err, errlen, "volumes[%zu] is not usable (name or kind missing)", i);
            return FERRY_EINVAL;
        }
        if (strcmp(kind, "hostPath") == 0) {
            const char *hp =
                json_string_value(json_object_get(json_object_get(vol, "hostPath"), "path"));
            if (hp == NULL || hp[0] != '/' || strchr(hp, ':') != NULL) {
                set_err(err, errlen,
                        "volume %s: hostPath.path must be an absolute path without ':'", vname);
                return FERRY_EINVAL;
            }
            if (stat(hp, &st) != 0) {
                set_err(err, errlen,
                        "volume %s: host path %s does not exist on this node (%s); Ferry does "
                        "not create hostPath folders: create it or fix the path",
                        vname, hp, strerror(errno));
                return FERRY_ENOTFOUND;
            }
            continue;
        }
        if (!ferry_volumes_kind_has_files(kind))
            continue; /* emptyDir: per pod */
        const json_t *files = resolved_files(spec, vol, kind, err, errlen);
        if (files == NULL)
            return FERRY_ENOTFOUND;
        if (!app_dir) {
            if ((rc = ensure_app_dir(ref, FERRY_VOLUMES_DIR, path, sizeof(path), err, errlen)))
                return rc;
            app_dir = true;
        }
        if ((rc = ferry_volumes_path(ref, vname, path, sizeof(path))) != FERRY_OK) {
            set_err(err, errlen, "volume %s: path too long", vname);
            return rc;
        }
        if ((rc = sync_files(path, vname, kind, files, err, errlen)) != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

/* ---- emptyDir ---- */

ferry_err ferry_volumes_pod_prepare(const ferry_volumes_ref *ref, int replica, const json_t *spec,
                                    bool fresh, char *err, size_t errlen) {
    char path[PATH_MAX];
    size_t i;
    json_t *vol;
    bool any = false;
    ferry_err rc;

    if (!ref_ok(ref) || replica < 0)
        return FERRY_EINVAL;
    if (fresh && (rc = ferry_volumes_pod_remove(ref, replica)) != FERRY_OK) {
        set_err(err, errlen, "cannot clear the files an earlier pod %d left", replica);
        return rc;
    }
    json_array_foreach(json_object_get(spec, "volumes"), i, vol) {
        const char *vname = json_string_value(json_object_get(vol, "name"));
        const char *kind = ferry_volumes_kind(vol);
        if (kind == NULL || strcmp(kind, "emptyDir") != 0)
            continue;
        if (vname == NULL || !ferry_name_valid(vname)) {
            set_err(err, errlen, "volumes[%zu]: name is not a DNS label", i);
            return FERRY_EINVAL;
        }
        if (!any) {
            if ((rc = ensure_app_dir(ref, FERRY_PODS_DIR, path, sizeof(path), err, errlen)) ||
                (rc = ferry_volumes_pod_path(ref, replica, path, sizeof(path))) ||
                (rc = ensure_dir(path, MODE_PRIVATE, err, errlen)))
                return rc;
            any = true;
        }
        if ((rc = ferry_volumes_pod_path(ref, replica, path, sizeof(path))) ||
            (rc = path_fmt(path + strlen(path), sizeof(path) - strlen(path), "/%s", vname))) {
            set_err(err, errlen, "volume %s: path too long", vname);
            return rc;
        }
        /* Only a new folder gets its mode: what the pod did with it since is the pod's. */
        if (mkdir(path, MODE_EMPTY_DIR) == 0) {
            if (chmod(path, MODE_EMPTY_DIR) != 0) {
                set_err(err, errlen, "cannot set the mode of %s: %s", path, strerror(errno));
                return FERRY_EIO;
            }
        } else {
            struct stat st;
            if (errno != EEXIST || lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
                set_err(err, errlen, "cannot create the emptyDir %s: %s", path,
                        errno == EEXIST ? "something else is in the way" : strerror(errno));
                return FERRY_EIO;
            }
        }
    }
    return FERRY_OK;
}

/* ---- binds ---- */

const json_t *ferry_volumes_find(const json_t *spec, const char *name) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(spec, "volumes"), i, v) {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n != NULL && name != NULL && strcmp(n, name) == 0)
            return v;
    }
    return NULL;
}

/* Resolve root/sub into out: the canonical path (no symbolic links) of sub inside the volume at
 * root. create: make missing folders along the way (emptyDir, hostPath). Each existing prefix is
 * resolved and checked before anything is created below it, so nothing is ever created, or
 * mounted, outside the volume. */
static ferry_err resolve_sub_path(const char *root, const char *sub, bool create, char *out,
                                  size_t outlen, char *why, size_t whylen) {
    char real_root[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
    size_t base;
    const char *p = sub;

    if (!sub_path_ok(sub)) {
        set_err(why, whylen, "subPath %s must be a relative path without '..'",
                sub != NULL ? sub : "");
        return FERRY_EINVAL;
    }
    if (realpath(root, real_root) == NULL) {
        set_err(why, whylen, "cannot resolve %s: %s", root, strerror(errno));
        return FERRY_EIO;
    }
    if (path_fmt(path, sizeof(path), "%s", real_root) != FERRY_OK)
        return FERRY_ETOOBIG;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        base = strlen(path);
        if (!(n == 1 && p[0] == '.')) {
            if (base + 1 + n >= sizeof(path)) {
                set_err(why, whylen, "subPath %s: path too long", sub);
                return FERRY_ETOOBIG;
            }
            path[base] = '/';
            memcpy(path + base + 1, p, n);
            path[base + 1 + n] = '\0';
            if (realpath(path, real) == NULL) {
                if (errno != ENOENT || !create) {
                    set_err(why, whylen, "subPath %s does not exist in the volume", sub);
                    return FERRY_ENOTFOUND;
                }
                /* path's parent is canonical and inside the volume: mkdir creates the last
                 * component right there (it does not follow a symbolic link in that place). */
                if (mkdir(path, MODE_SUBDIR) != 0 && errno != EEXIST) {
                    set_err(why, whylen, "cannot create subPath folder %s: %s", path,
                            strerror(errno));
                    return FERRY_EIO;
                }
                if (realpath(path, real) == NULL) {
                    set_err(why, whylen, "cannot resolve %s: %s", path, strerror(errno));
                    return FERRY_EIO;
                }
            }
            if (!ferry_volumes__path_inside(real, real_root)) {
                set_err(why, whylen,
                        "subPath %s leads outside the volume (through a symbolic link to %s); "
                        "refused",
                        sub, real);
                return FERRY_EINVAL;
            }
            if (path_fmt(path, sizeof(path), "%s", real) != FERRY_OK)
                return FERRY_ETOOBIG;
        }
        p += n;
        while (*p == '/')
            p++;
    }
    if (path_fmt(out, outlen, "%s", path) != FERRY_OK) {
        set_err(why, whylen, "subPath %s: path too long", sub);
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

/* The host path of a mounted volume, before its subPath. */
static ferry_err mount_root(const ferry_volumes_ref *ref, int replica, const json_t *vol,
                            const char *kind, char *root, size_t len) {
    const char *vname = json_string_value(json_object_get(vol, "name"));
    ferry_err rc;

    if (strcmp(kind, "hostPath") == 0)
        return path_fmt(
            root, len, "%s",
            json_string_value(json_object_get(json_object_get(vol, "hostPath"), "path")));
    if (strcmp(kind, "emptyDir") == 0) {
        if ((rc = ferry_volumes_pod_path(ref, replica, root, len)) != FERRY_OK)
            return rc;
        return path_fmt(root + strlen(root), len - strlen(root), "/%s", vname);
    }
    return ferry_volumes_path(ref, vname, root, len);
}

/* The bind string of mount m (volumeMounts[i] of container cname) into buf. */
static ferry_err one_bind(const ferry_volumes_ref *ref, int replica, const json_t *spec,
                          const char *cname, size_t i, const json_t *m, char *buf, size_t len,
                          char *err, size_t errlen) {
    const char *vname = json_string_value(json_object_get(m, "name"));
    const char *mpath = json_string_value(json_object_get(m, "mountPath"));
    const char *sub = json_string_value(json_object_get(m, "subPath"));
    const json_t *vol = ferry_volumes_find(spec, vname);
    const char *kind = ferry_volumes_kind(vol);
    bool ro = json_is_true(json_object_get(m, "readOnly"));
    char root[PATH_MAX], host[PATH_MAX], why[512] = "";
    ferry_err rc;

    if (vol == NULL || kind == NULL || mpath == NULL || mpath[0] != '/') {
        set_err(err, errlen, "%s: volumeMounts[%zu] names no volume of the app or no mountPath",
                cname, i);
        return FERRY_EINVAL;
    }
    if ((rc = mount_root(ref, replica, vol, kind, root, sizeof(root))) != FERRY_OK) {
        set_err(err, errlen, "%s: the path of volume %s is not usable", cname, vname);
        return rc;
    }
    if (ferry_volumes_kind_has_files(kind)) {
        const json_t *files = resolved_files(spec, vol, kind, err, errlen);
        ro = true; /* edge-sync's copy of the config; changes come from the cloud */
        if (files == NULL)
            return FERRY_ENOTFOUND;
        if (sub != NULL && json_object_get(files, sub) == NULL) {
            set_err(err, errlen, "%s: subPath %s is not a file of %s volume %s", cname, sub, kind,
                    vname);
            return FERRY_ENOTFOUND;
        }
    }
    if (sub != NULL && sub[0]) {
        bool create = !ferry_volumes_kind_has_files(kind);
        if ((rc = resolve_sub_path(root, sub, create, host, sizeof(host), why, sizeof(why)))) {
            set_err(err, errlen, "%s: volume %s: %s", cname, vname, why);
            return rc;
        }
    } else if (path_fmt(host, sizeof(host), "%s", root) != FERRY_OK) {
        return FERRY_ETOOBIG;
    }
    /* Docker's bind syntax is "HOST:CONTAINER[:OPTIONS]": a ':' in either path breaks it. */
    if (strchr(host, ':') != NULL || strchr(mpath, ':') != NULL) {
        set_err(err, errlen, "%s: %s contains ':', which engines cannot bind", cname,
                strchr(mpath, ':') != NULL ? mpath : host);
        return FERRY_EINVAL;
    }
    if (path_fmt(buf, len, "%s:%s%s", host, mpath, ro ? ":ro" : "") != FERRY_OK)
        return FERRY_ETOOBIG;
    return FERRY_OK;
}

ferry_err ferry_volumes_binds(const ferry_volumes_ref *ref, int replica, const json_t *spec,
                              const json_t *container, json_t **binds, char *err, size_t errlen) {
    const char *cname = json_string_value(json_object_get(container, "name"));
    char bind[2 * PATH_MAX + 8];
    json_t *out = NULL, *m;
    size_t i;
    ferry_err rc;

    if (binds == NULL)
        return FERRY_EINVAL;
    *binds = NULL;
    if (!ref_ok(ref) || replica < 0 || cname == NULL)
        return FERRY_EINVAL;
    if ((out = json_array()) == NULL)
        return FERRY_ENOMEM;
    json_array_foreach(json_object_get(container, "volumeMounts"), i, m) {
        rc = one_bind(ref, replica, spec, cname, i, m, bind, sizeof(bind), err, errlen);
        if (rc == FERRY_OK && json_array_append_new(out, json_string(bind)) != 0)
            rc = FERRY_ENOMEM;
        if (rc != FERRY_OK) {
            json_decref(out);
            return rc;
        }
    }
    *binds = out;
    return FERRY_OK;
}
