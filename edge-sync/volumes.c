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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h> /* struct open_how, RESOLVE_*: glibc 2.36 has no openat2 wrapper */
#endif
#endif

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
#define MODE_MOUNT_FILE 0600 /* the file under subpaths/ that a subPath file is mounted on */
#define TMP_PREFIX ".ferry-tmp-"
#define COMPARE_CHUNK 65536
#define MAX_UNMOUNTS                                                                               \
    64 /* mounts unmounted below one folder before giving up (stacked ones too)                    \
        */

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

/* {data}/{top}/{ns}/{app}[/{replica}]: a pod's folder under pods/ or subpaths/. */
static ferry_err pod_dir(const ferry_volumes_ref *ref, const char *top, int replica, char *buf,
                         size_t len) {
    if (!ref_ok(ref) || buf == NULL)
        return FERRY_EINVAL;
    if (replica >= 0)
        return path_fmt(buf, len, "%s/%s/%s/%s/%d", ref->data_dir, top, ref->ns, ref->app, replica);
    return path_fmt(buf, len, "%s/%s/%s/%s", ref->data_dir, top, ref->ns, ref->app);
}

ferry_err ferry_volumes_pod_path(const ferry_volumes_ref *ref, int replica, char *buf, size_t len) {
    return pod_dir(ref, FERRY_PODS_DIR, replica, buf, len);
}

/* ---- removal ---- */

/* Decode the octal escapes ("\040" for a blank) of a path in /proc/self/mountinfo, in place. */
static void unescape_mount_path(char *s) {
    char *w = s;
    for (const char *r = s; *r != '\0';) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* The deepest mount point at or below root (a path without symbolic links) into out; *found
 * false when there is none. FERRY_EIO when the mount table cannot be read. */
static ferry_err deepest_mount(const char *root, char *out, size_t outlen, bool *found) {
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0, best = 0;

    *found = false;
    if (fp == NULL) {
        LOG_WARN("cannot read /proc/self/mountinfo (%s), so cannot tell what is mounted below %s",
                 strerror(errno), root);
        return FERRY_EIO;
    }
    /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...": the fifth field. */
    while (getline(&line, &cap, fp) > 0) {
        char *p = line, *end;
        for (int field = 0; field < 4 && p != NULL; field++) {
            p = strchr(p, ' ');
            if (p != NULL)
                p++;
        }
        if (p == NULL || (end = strchr(p, ' ')) == NULL)
            continue;
        *end = '\0';
        unescape_mount_path(p);
        if (ferry_volumes__path_inside(p, root) && strlen(p) >= best &&
            path_fmt(out, outlen, "%s", p) == FERRY_OK) {
            best = strlen(p);
            *found = true;
        }
    }
    free(line); /* getline's buffer */
    fclose(fp);
    return FERRY_OK;
}

/* Unmount everything mounted at or below path (without symbolic links), deepest first, so that
 * a removal never reaches into another file system: below {data}/subpaths/ a mount shows a
 * folder of an emptyDir or of the host itself. FERRY_EIO (logged) when something stays
 * mounted. */
static ferry_err unmount_below(const char *path) {
    char mp[PATH_MAX];
    bool found = false;
    ferry_err rc;

    for (int i = 0; i < MAX_UNMOUNTS; i++) {
        if ((rc = deepest_mount(path, mp, sizeof(mp), &found)) != FERRY_OK)
            return rc;
        if (!found)
            return FERRY_OK;
        /* MNT_DETACH: a container that still has it mounted keeps its own copy of the mount. */
        if (umount2(mp, MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
            LOG_WARN("cannot unmount %s (%s); leaving %s in place", mp, strerror(errno), path);
            return FERRY_EIO;
        }
        LOG_DEBUG("unmounted %s", mp);
    }
    LOG_WARN("more than %d mounts below %s; leaving it in place", MAX_UNMOUNTS, path);
    return FERRY_EIO;
}

/* path with the symbolic links and ".." of its folder resolved and its last component as it is
 * (the way the mount table names a mount point there), into out. */
static ferry_err canonical_parent(const char *path, char *out, size_t len) {
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if (path_fmt(dir, sizeof(dir), "%.*s", (int)(slash - path), path) != FERRY_OK)
        return FERRY_ETOOBIG;
    if (realpath(dir, real) == NULL)
        return FERRY_EIO;
    return path_fmt(out, len, "%s/%s", strcmp(real, "/") == 0 ? "" : real,
                    slash != NULL ? slash + 1 : path);
}

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

/* What is mounted below path is unmounted first: nftw does not stop at a bind mount of the same
 * file system (FTW_MOUNT compares devices), and a subPath mount under subpaths/ may show a
 * host folder. Then nftw with FTW_PHYS never follows a symbolic link (a link a container planted
 * in its emptyDir is removed, not what it points to) and FTW_DEPTH visits a folder after its
 * content. */
ferry_err ferry_volumes__remove_tree(const char *path) {
    char real[PATH_MAX];
    struct stat st;

    if (path == NULL || !path[0] || strcmp(path, "/") == 0)
        return FERRY_EINVAL;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? FERRY_OK : FERRY_EIO;
    if (canonical_parent(path, real, sizeof(real)) != FERRY_OK) {
        LOG_WARN("cannot resolve the folder of %s; leaving it in place", path);
        return FERRY_EIO;
    }
    if (unmount_below(real) != FERRY_OK)
        return FERRY_EIO;
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

/* The subPath mounts of the pod go first: the folders they show are in the pod's emptyDirs. */
ferry_err ferry_volumes_pod_remove(const ferry_volumes_ref *ref, int replica) {
    char path[PATH_MAX];
    ferry_err e = pod_dir(ref, FERRY_SUBPATHS_DIR, replica, path, sizeof(path));
    ferry_err e2;

    if (e == FERRY_OK)
        e = ferry_volumes__remove_tree(path);
    e2 = ferry_volumes_pod_path(ref, replica, path, sizeof(path));
    if (e2 == FERRY_OK)
        e2 = ferry_volumes__remove_tree(path);
    return e != FERRY_OK ? e : e2;
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

/* Create a temp file in the folder dirfd (its name into name), 0600 from the start so that a
 * secret is never readable by others; -1 with errno set. O_EXCL with O_NOFOLLOW: nothing already
 * there (a file a crash left, a planted link) is opened instead. */
static int make_temp(int dirfd, char *name, size_t len) {
    static unsigned long seq; /* the reconciler's thread only; O_EXCL settles any clash */
    for (int i = 0; i < 100; i++) {
        if (path_fmt(name, len, TMP_PREFIX "%ld-%lu", (long)getpid(), ++seq) != FERRY_OK) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd =
            openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, MODE_SECRET);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Make name in the folder dirfd (shown as dir in messages) hold data with mode, atomically: a
 * reader (a container) sees the old file or the new one, never a partial one, and after a crash
 * the file is one or the other. The new content goes to a temp file in the same folder, is
 * flushed (fsync), then renamed over the old name; the caller fsyncs the folder. Nothing is
 * written when the file already matches. name is one name (no '/'). *changed is set when a file
 * was written. */
static ferry_err write_file_atomic(int dirfd, const char *dir, const char *name,
                                   const unsigned char *data, size_t len, mode_t mode,
                                   bool *changed, char *err, size_t errlen) {
    char tmp[NAME_MAX + 1];
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
    fd = make_temp(dirfd, tmp, sizeof(tmp));
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
    if (ok && renameat(dirfd, tmp, dirfd, name) != 0) {
        saved = errno;
        /* A folder of that name is in the way (left by hand, or by a config whose files were
         * in a folder of that name): remove it and try once more. */
        if (saved == EISDIR || saved == ENOTEMPTY || saved == EEXIST) {
            char in_way[PATH_MAX];
            if (path_fmt(in_way, sizeof(in_way), "%s/%s", dir, name) == FERRY_OK &&
                ferry_volumes__remove_tree(in_way) == FERRY_OK &&
                renameat(dirfd, tmp, dirfd, name) == 0)
                saved = 0;
        }
        ok = saved == 0;
    }
    if (!ok) {
        unlinkat(dirfd, tmp, 0);
        set_err(err, errlen, "cannot write %s/%s: %s", dir, name, strerror(saved));
        return FERRY_EIO;
    }
    *changed = true;
    return FERRY_OK;
}

/* Open the folder name below parent (shown as dir) without following a symbolic link, creating
 * it when missing; what is in the way (a file, a symbolic link: never followed) is removed
 * first. The folder gets exactly MODE_CONFIG_DIR. *made is set when parent changed (a folder
 * made, something removed): the caller fsyncs it. The folder's descriptor, or -1 with err set. */
static int open_folder(int parent, const char *dir, const char *name, bool *made, char *err,
                       size_t errlen) {
    struct stat st;
    int fd = -1;

    for (int attempt = 0; attempt < 2; attempt++) {
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 || attempt == 1)
            break;
        /* ENOTDIR: a file is in the way; ELOOP: a symbolic link (O_NOFOLLOW). Either is removed
         * (unlinkat never follows a link), not used. */
        int why = errno;
        if (why != ENOENT && why != ENOTDIR && why != ELOOP)
            break;
        if (why != ENOENT && unlinkat(parent, name, 0) != 0)
            break;
        *made = true;
        if (mkdirat(parent, name, MODE_CONFIG_DIR) != 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        set_err(err, errlen, "cannot make the folder %s/%s: %s", dir, name, strerror(errno));
        return -1;
    }
    /* mkdirat is subject to the umask; the mode must be exact. */
    if (fstat(fd, &st) != 0 ||
        ((st.st_mode & 07777) != MODE_CONFIG_DIR && fchmod(fd, MODE_CONFIG_DIR) != 0)) {
        set_err(err, errlen, "cannot set the mode of %s/%s: %s", dir, name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Write the file fname (a valid config file name, maybe in folders) below the volume's folder
 * rootfd (shown as root): its folders are opened one by one from rootfd without following a
 * symbolic link (open_folder), then the file is written there (write_file_atomic). Every folder
 * that changed is flushed here but rootfd, which the caller flushes when *root_changed. */
static ferry_err write_file_below(int rootfd, const char *root, const char *fname,
                                  const unsigned char *data, size_t len, mode_t mode,
                                  bool *root_changed, char *err, size_t errlen) {
    char dir[PATH_MAX], name[NAME_MAX + 1];
    const char *p = fname;
    const char *slash;
    int cur = rootfd;
    bool changed = false;
    ferry_err rc = FERRY_OK;

    if (path_fmt(dir, sizeof(dir), "%s", root) != FERRY_OK) {
        set_err(err, errlen, "path of %s/%s too long", root, fname);
        return FERRY_ETOOBIG;
    }
    while ((slash = strchr(p, '/')) != NULL && rc == FERRY_OK) {
        size_t n = (size_t)(slash - p);
        bool made = false;
        int next;

        if (n > NAME_MAX || path_fmt(name, sizeof(name), "%.*s", (int)n, p) != FERRY_OK) {
            set_err(err, errlen, "a folder of %s/%s has too long a name", root, fname);
            rc = FERRY_ETOOBIG;
            break;
        }
        next = open_folder(cur, dir, name, &made, err, errlen);
        if (next >= 0 && made && cur != rootfd && fsync(cur) != 0) {
            set_err(err, errlen, "cannot flush %s: %s", dir, strerror(errno));
            close(next);
            next = -1;
        }
        *root_changed = *root_changed || (made && cur == rootfd);
        if (cur != rootfd)
            close(cur);
        cur = next;
        if (cur < 0) {
            rc = FERRY_EIO;
            break;
        }
        if (path_fmt(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", name) != FERRY_OK) {
            set_err(err, errlen, "path of %s/%s too long", root, fname);
            rc = FERRY_ETOOBIG;
        }
        p = slash + 1;
    }
    if (rc == FERRY_OK)
        rc = write_file_atomic(cur, dir, p, data, len, mode, &changed, err, errlen);
    if (rc == FERRY_OK && changed && cur != rootfd && fsync(cur) != 0) {
        set_err(err, errlen, "cannot flush %s: %s", dir, strerror(errno));
        rc = FERRY_EIO;
    }
    *root_changed = *root_changed || (changed && cur == rootfd);
    if (cur >= 0 && cur != rootfd)
        close(cur);
    return rc;
}

/* The folders the files need ("lib" and "lib/data" for "lib/data/x.bin") as the keys of a new
 * object (caller owns); NULL for lack of memory. Names are valid config file names. */
static json_t *file_folders(const json_t *files) {
    char folder[FERRY_CONFIG_MAX_FILE_NAME + 1];
    const char *fname;
    json_t *f;
    json_t *out = json_object();

    json_object_foreach((json_t *)files, fname, f) {
        for (const char *p = strchr(fname, '/'); out != NULL && p != NULL; p = strchr(p + 1, '/')) {
            size_t n = (size_t)(p - fname);
            if (n >= sizeof(folder))
                break;
            memcpy(folder, fname, n);
            folder[n] = '\0';
            if (json_object_set_new(out, folder, json_true()) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
    }
    return out;
}

/* Remove every entry of the folder dirfd (shown as dir; prefix: its path in the volume, "" or
 * ending in '/') that is not a file or folder of the config: files the config dropped, folders
 * no file is in any more, temp files left by a crash. A kept folder is swept in turn, opened
 * without following a symbolic link; a symbolic link is removed, never followed. *changed is
 * set when dirfd changed; a subfolder that changed is flushed here. */
static ferry_err sweep_dir(int dirfd, const char *dir, const char *prefix, const json_t *files,
                           const json_t *folders, bool *changed) {
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
        char path[PATH_MAX], rel[PATH_MAX];
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (path_fmt(path, sizeof(path), "%s/%s", dir, de->d_name) != FERRY_OK ||
            path_fmt(rel, sizeof(rel), "%s%s", prefix, de->d_name) != FERRY_OK ||
            fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = FERRY_EIO;
            continue;
        }
        if (S_ISREG(st.st_mode) && json_object_get(files, rel) != NULL)
            continue;
        if (S_ISDIR(st.st_mode) && json_object_get(folders, rel) != NULL) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            bool sub_changed = false;
            if (sub < 0 ||
                path_fmt(rel + strlen(rel), sizeof(rel) - strlen(rel), "/") != FERRY_OK ||
                sweep_dir(sub, path, rel, files, folders, &sub_changed) != FERRY_OK ||
                (sub_changed && fsync(sub) != 0))
                rc = FERRY_EIO;
            if (sub >= 0)
                close(sub);
            continue;
        }
        /* A folder goes with everything in it (mounts and links included, none followed); the
         * folders above it were opened without following a link. */
        if (S_ISDIR(st.st_mode) ? ferry_volumes__remove_tree(path) != FERRY_OK
                                : unlinkat(dirfd, de->d_name, 0) != 0 && errno != ENOENT)
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

/* Write the files of one config/secret/certificate volume into dir; files in folders go below
 * it (write_file_below), and what the files no longer hold is swept (sweep_dir). */
static ferry_err sync_files(const char *dir, const char *volume, const char *kind,
                            const json_t *files, char *err, size_t errlen) {
    const char *fname;
    json_t *f;
    json_t *folders = NULL;
    bool changed = false;
    ferry_err rc = FERRY_OK;
    int dirfd = -1;

    json_object_foreach((json_t *)files, fname, f) {
        if (!ferry_config_file_name_valid(fname)) {
            set_err(err, errlen, "volume %s: file %s of its %s is not usable", volume, fname, kind);
            return FERRY_EINVAL;
        }
    }
    if ((folders = file_folders(files)) == NULL)
        return FERRY_ENOMEM;
    json_object_foreach((json_t *)files, fname, f) {
        if (json_object_get(folders, fname) != NULL) {
            set_err(err, errlen, "volume %s: %s of its %s is both a file and a folder of files",
                    volume, fname, kind);
            rc = FERRY_EINVAL;
            goto out;
        }
    }
    if ((rc = ensure_dir(dir, MODE_CONFIG_DIR, err, errlen)) != FERRY_OK)
        goto out;
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        set_err(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        rc = FERRY_EIO;
        goto out;
    }
    json_object_foreach((json_t *)files, fname, f) {
        const char *b64 = json_string_value(json_object_get(f, "data"));
        const json_t *jmode = json_object_get(f, "mode");
        mode_t mode = default_mode(kind, fname);
        unsigned char *data = NULL;
        size_t len = 0;

        if (b64 == NULL) {
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
        rc = write_file_below(dirfd, dir, fname, data, len, mode, &changed, err, errlen);
        OPENSSL_cleanse(data, len); /* may be a secret */
        ferry_free(data);
        if (rc != FERRY_OK)
            break;
    }
    if (rc == FERRY_OK && sweep_dir(dirfd, dir, "", files, folders, &changed) != FERRY_OK) {
        set_err(err, errlen, "volume %s: cannot remove stale files from %s", volume, dir);
        rc = FERRY_EIO;
    }
    /* The renames are durable once the folder is. */
    if (changed && fsync(dirfd) != 0 && rc == FERRY_OK) {
        set_err(err, errlen, "cannot flush %s: %s", dir, strerror(errno));
        rc = FERRY_EIO;
    }
out:
    if (dirfd >= 0)
        close(dirfd);
    json_decref(folders);
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

/* A subPath being resolved inside its volume. */
typedef struct {
    char root[PATH_MAX]; /* the volume's folder, without symbolic links */
    char path[PATH_MAX]; /* the subPath's file or folder so far, without symbolic links */
    int rootfd;          /* root opened O_PATH; -1 when not open */
} sub_path;

/* sp->path relative to sp->root ("." for the root itself). */
static const char *sub_rel(const sub_path *sp) {
    size_t n = strcmp(sp->root, "/") == 0 ? 0 : strlen(sp->root);
    const char *rel = sp->path[n] == '\0' ? "." : sp->path + n + 1;
    return rel[0] != '\0' ? rel : ".";
}

/* The walk behind open_beneath where the kernel has no openat2: one component at a time, each
 * opened below the one before with O_NOFOLLOW, so a symbolic link anywhere fails it (ELOOP). rel
 * has no ".." (resolve_sub_path made it). */
static int walk_beneath(int rootfd, const char *rel) {
    int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    const char *p = rel;

    while (cur >= 0 && *p != '\0') {
        char name[NAME_MAX + 1];
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        struct stat st;
        int next;

        if (n > NAME_MAX || (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(cur);
            errno = n > NAME_MAX ? ENAMETOOLONG : EXDEV;
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        while (*p == '/')
            p++;
        if (n == 0 || (n == 1 && name[0] == '.'))
            continue;
        /* O_PATH | O_NOFOLLOW opens a symbolic link itself: fstat tells. */
        next = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        close(cur);
        cur = next;
        if (cur >= 0 &&
            (fstat(cur, &st) != 0 || S_ISLNK(st.st_mode) || (*p != '\0' && !S_ISDIR(st.st_mode)))) {
            close(cur);
            errno = ELOOP;
            return -1;
        }
    }
    return cur;
}

/* Open rel (relative, no "..") below the folder rootfd as an O_PATH descriptor without following
 * any symbolic link on the way: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (Linux 5.6;
 * the kernel checks every step of its own walk, so nothing swapped in meanwhile can lead it
 * elsewhere), else walk_beneath. -1 with errno set (ELOOP or EXDEV: a symbolic link or ".." on
 * the way). */
static int open_beneath(int rootfd, const char *rel) {
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve =
                               RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
    /* ENOSYS: a kernel before 5.6; EPERM: a seccomp filter that does not know the call. */
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
        return fd;
#endif
    return walk_beneath(rootfd, rel);
}

/* Create the folder of the name p[0..n) in sp->path (inside the volume, no symbolic links):
 * mkdirat in that folder as opened by open_beneath, so a link swapped in since it was resolved
 * cannot make it create anything outside the volume. */
static ferry_err make_sub_dir(const sub_path *sp, const char *p, size_t n, const char *sub,
                              char *why, size_t whylen) {
    char name[NAME_MAX + 1];
    int dirfd;
    ferry_err rc = FERRY_OK;

    if (n > NAME_MAX) {
        set_err(why, whylen, "subPath %s: a name is too long", sub);
        return FERRY_ETOOBIG;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    if ((dirfd = open_beneath(sp->rootfd, sub_rel(sp))) < 0) {
        set_err(why, whylen, "subPath %s changed while it was checked (%s); refused", sub,
                strerror(errno));
        return FERRY_EINVAL;
    }
    if (mkdirat(dirfd, name, MODE_SUBDIR) != 0 && errno != EEXIST) {
        set_err(why, whylen, "cannot create subPath folder %s/%s: %s", sp->path, name,
                strerror(errno));
        rc = FERRY_EIO;
    }
    close(dirfd);
    return rc;
}

/* Resolve sub inside the volume at root into sp: sp->path becomes the path of sub without
 * symbolic links, sp->rootfd the volume's folder, open (the caller closes it, also on failure).
 * create: make missing folders along the way (emptyDir, hostPath). Each existing prefix is
 * resolved and checked before anything is created below it, so nothing is ever created, or
 * mounted, outside the volume. Symbolic links that stay inside the volume are followed here;
 * what gets mounted is then opened again without following any (open_beneath). */
static ferry_err resolve_sub_path(sub_path *sp, const char *root, const char *sub, bool create,
                                  char *why, size_t whylen) {
    char cand[PATH_MAX], real[PATH_MAX];
    const char *p = sub;
    struct stat st;
    ferry_err rc;

    sp->rootfd = -1;
    if (!sub_path_ok(sub)) {
        set_err(why, whylen, "subPath %s must be a relative path without '..'",
                sub != NULL ? sub : "");
        return FERRY_EINVAL;
    }
    if (realpath(root, sp->root) == NULL) {
        set_err(why, whylen, "cannot resolve %s: %s", root, strerror(errno));
        return FERRY_EIO;
    }
    /* The volume's folder itself is opened from "/" the same way: no link swapped into its path
     * since realpath can lead it elsewhere. */
    int slash = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    sp->rootfd = slash >= 0 ? open_beneath(slash, sp->root[1] != '\0' ? sp->root + 1 : ".") : -1;
    if (slash >= 0)
        close(slash);
    if (sp->rootfd < 0 || fstat(sp->rootfd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_err(why, whylen, "cannot open the folder %s: %s", sp->root,
                sp->rootfd < 0 ? strerror(errno) : "not a folder");
        return FERRY_EIO;
    }
    memcpy(sp->path, sp->root, sizeof(sp->path));
    while (*p != '\0') {
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (!(n == 1 && p[0] == '.')) {
            if (path_fmt(cand, sizeof(cand), "%s/%.*s", strcmp(sp->path, "/") == 0 ? "" : sp->path,
                         (int)n, p) != FERRY_OK) {
                set_err(why, whylen, "subPath %s: path too long", sub);
                return FERRY_ETOOBIG;
            }
            if (realpath(cand, real) == NULL) {
                if (errno != ENOENT || !create) {
                    set_err(why, whylen, "subPath %s does not exist in the volume", sub);
                    return FERRY_ENOTFOUND;
                }
                if ((rc = make_sub_dir(sp, p, n, sub, why, whylen)) != FERRY_OK)
                    return rc;
                if (realpath(cand, real) == NULL) {
                    set_err(why, whylen, "cannot resolve %s: %s", cand, strerror(errno));
                    return FERRY_EIO;
                }
            }
            if (!ferry_volumes__path_inside(real, sp->root)) {
                set_err(why, whylen,
                        "subPath %s leads outside the volume (through a symbolic link to %s); "
                        "refused",
                        sub, real);
                return FERRY_EINVAL;
            }
            memcpy(sp->path, real, sizeof(sp->path));
        }
        p += n;
        while (*p == '/')
            p++;
    }
    return FERRY_OK;
}

/* Make `at` show the file or folder open as fd (st: its fstat), by a bind mount of
 * /proc/self/fd/N; `at` is a path under subpaths/ that only edge-sync writes. Nothing is done
 * when it shows that one already (mounted by an earlier pass, or before a restart); whatever
 * else is mounted there (an earlier spec's subPath) is unmounted first. */
static ferry_err bind_at(int fd, const struct stat *st, const char *at, const char *sub, char *why,
                         size_t whylen) {
    char src[64];
    struct stat cur;
    int tmp;

    if (lstat(at, &cur) == 0 && cur.st_dev == st->st_dev && cur.st_ino == st->st_ino)
        return FERRY_OK;
    for (int i = 0; i < MAX_UNMOUNTS && umount2(at, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++)
        continue; /* stops at EINVAL (not a mount point) or ENOENT; mount() tells the rest */
    /* The mount point must be of the same type: a folder for a folder, a file for a file. */
    if (lstat(at, &cur) == 0 && (S_ISDIR(cur.st_mode) != S_ISDIR(st->st_mode) ||
                                 !(S_ISDIR(cur.st_mode) || S_ISREG(cur.st_mode)))) {
        if ((S_ISDIR(cur.st_mode) ? rmdir(at) : unlink(at)) != 0) {
            set_err(why, whylen, "cannot clear %s for subPath %s: %s", at, sub, strerror(errno));
            return FERRY_EIO;
        }
    }
    if (S_ISDIR(st->st_mode)) {
        if (mkdir(at, MODE_PRIVATE) != 0 && errno != EEXIST) {
            set_err(why, whylen, "cannot create %s: %s", at, strerror(errno));
            return FERRY_EIO;
        }
    } else {
        tmp = open(at, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, MODE_MOUNT_FILE);
        if (tmp < 0) {
            set_err(why, whylen, "cannot create %s: %s", at, strerror(errno));
            return FERRY_EIO;
        }
        close(tmp);
    }
    snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
    if (mount(src, at, NULL, MS_BIND | MS_REC, NULL) != 0) {
        int saved = errno;
        set_err(why, whylen, "cannot bind-mount subPath %s at %s: %s%s", sub, at, strerror(saved),
                saved == EPERM || saved == EACCES
                    ? "; subPaths of emptyDir and hostPath volumes need edge-sync to run as root "
                      "(it mounts the checked folder so that the engine cannot be led elsewhere "
                      "later); refused"
                    : "");
        return FERRY_EIO;
    }
    if (lstat(at, &cur) != 0 || cur.st_dev != st->st_dev || cur.st_ino != st->st_ino) {
        umount2(at, MNT_DETACH | UMOUNT_NOFOLLOW);
        set_err(why, whylen, "the mount of subPath %s at %s does not show it; refused", sub, at);
        return FERRY_EIO;
    }
    return FERRY_OK;
}

/* The subPath sp of mount `index` of container cname in pod replica, opened without following
 * any symbolic link and bind-mounted at {data}/subpaths/{ns}/{app}/{replica}/{cname}/{index}
 * (that path into out). */
static ferry_err mount_sub_path(const ferry_volumes_ref *ref, int replica, const char *cname,
                                size_t index, const sub_path *sp, const char *sub, char *out,
                                size_t outlen, char *why, size_t whylen) {
    char dir[PATH_MAX];
    struct stat st;
    int fd = -1;
    ferry_err rc;

    if (!ferry_name_valid(cname)) {
        set_err(why, whylen, "the container name is not a DNS label");
        return FERRY_EINVAL;
    }
    if ((fd = open_beneath(sp->rootfd, sub_rel(sp))) < 0) {
        set_err(why, whylen, "subPath %s changed while it was checked (%s); refused", sub,
                strerror(errno));
        return FERRY_EINVAL;
    }
    if (fstat(fd, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
        set_err(why, whylen, "subPath %s is neither a folder nor a regular file; refused", sub);
        rc = FERRY_EINVAL;
        goto out;
    }
    if ((rc = ensure_app_dir(ref, FERRY_SUBPATHS_DIR, dir, sizeof(dir), why, whylen)) ||
        (rc = pod_dir(ref, FERRY_SUBPATHS_DIR, replica, dir, sizeof(dir))) ||
        (rc = ensure_dir(dir, MODE_PRIVATE, why, whylen)) ||
        (rc = path_fmt(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", cname)) ||
        (rc = ensure_dir(dir, MODE_PRIVATE, why, whylen)) ||
        (rc = path_fmt(out, outlen, "%s/%zu", dir, index))) {
        if (rc == FERRY_ETOOBIG)
            set_err(why, whylen, "the path of subPath %s under %s is too long", sub, ref->data_dir);
        goto out;
    }
    rc = bind_at(fd, &st, out, sub, why, whylen);
out:
    close(fd);
    return rc;
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

/* The host side of a mount with a subPath into host. A config volume's folder is edge-sync's own
 * and mounted read-only, so no container can plant a link in it: its file is mounted by path.
 * An emptyDir or hostPath may be written by a container at any time: the subPath is mounted
 * under subpaths/ and that stable place is what the engine mounts. */
static ferry_err sub_path_host(const ferry_volumes_ref *ref, int replica, const char *cname,
                               size_t index, const char *root, const char *sub, bool files,
                               char *host, size_t hostlen, char *why, size_t whylen) {
    sub_path sp;
    ferry_err rc = resolve_sub_path(&sp, root, sub, !files, why, whylen);

    if (rc == FERRY_OK && files && path_fmt(host, hostlen, "%s", sp.path) != FERRY_OK) {
        set_err(why, whylen, "subPath %s: path too long", sub);
        rc = FERRY_ETOOBIG;
    } else if (rc == FERRY_OK && !files) {
        rc = mount_sub_path(ref, replica, cname, index, &sp, sub, host, hostlen, why, whylen);
    }
    if (sp.rootfd >= 0)
        close(sp.rootfd);
    return rc;
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
    char root[PATH_MAX], host[PATH_MAX], why[1024] = "";
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
        if ((rc = sub_path_host(ref, replica, cname, i, root, sub,
                                ferry_volumes_kind_has_files(kind), host, sizeof(host), why,
                                sizeof(why)))) {
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
