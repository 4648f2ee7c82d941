/* Unit tests of the subPath mounts of edge-sync/volumes.c (volumes.h, ferry_volumes_binds) with
 * real bind mounts on real files in a temp folder: a symbolic link swapped in after the mount is
 * not followed, what the check refuses is never mounted, removal (also of what a killed process
 * left, and by the cleanup) unmounts without reaching into the mounted folders, and where
 * mounting is not permitted the bind fails with a clear message. Needs root (exit 77 otherwise);
 * runs in a mount namespace of its own, so that no mount outlives it. volumes.c is included to
 * reach its static open_beneath and walk_beneath (the fallback for kernels without openat2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include "../../edge-sync/volumes.c"
#include "cleanup.h"

typedef struct {
    char dir[64];
    ferry_volumes_ref ref;
    json_t *spec;
} fixture;

/* An app with an emptyDir "scratch" and a hostPath "data" at {dir}/host, one service "httpd"
 * without mounts (bind() adds one). */
static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    char host[PATH_MAX];
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-subpaths-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->ref = (ferry_volumes_ref){f->dir, "prod", "web"};
    snprintf(host, sizeof(host), "%s/host", f->dir);
    assert_int_equal(mkdir(host, 0755), 0);
    f->spec = json_pack("{s:s, s:[{s:s, s:{}}, {s:s, s:{s:s}}], s:[{s:s, s:s, s:[]}],"
                        " s:{s:{}, s:[]}}",
                        "name", "web", "volumes", "name", "scratch", "emptyDir", "name", "data",
                        "hostPath", "path", host, "services", "name", "httpd", "image", "busybox",
                        "volumeMounts", "resolved", "configs", "registries");
    assert_non_null(f->spec);
    *state = f;
    return 0;
}

/* Mount points at path (exact) or, below, under it. */
static int mounts(const char *path, bool below) {
    FILE *fp = fopen("/proc/self/mountinfo", "r");
    char line[8192], mp[4096];
    int n = 0;
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL)
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
            (below ? ferry_volumes__path_inside(mp, path) : strcmp(mp, path) == 0))
            n++;
    fclose(fp);
    return n;
}

static int teardown(void **state) {
    fixture *f = *state;
    assert_int_equal(ferry_volumes__remove_tree(f->dir), FERRY_OK);
    assert_int_equal(mounts(f->dir, true), 0);
    json_decref(f->spec);
    free(f);
    return 0;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static void path_of(const fixture *f, char *buf, size_t len, const char *rel) {
    snprintf(buf, len, "%s/%s", f->dir, rel);
}

static void make_dir(const fixture *f, const char *rel) {
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void write_text(const fixture *f, const char *rel, const char *text) {
    char p[PATH_MAX];
    FILE *fp;
    path_of(f, p, sizeof(p), rel);
    assert_non_null(fp = fopen(p, "w"));
    fputs(text, fp);
    fclose(fp);
}

/* The text of rel ("" when it cannot be read). */
static const char *read_text(const fixture *f, const char *rel) {
    static char text[256];
    char p[PATH_MAX];
    FILE *fp;
    size_t n;
    path_of(f, p, sizeof(p), rel);
    text[0] = '\0';
    if ((fp = fopen(p, "r")) == NULL)
        return text;
    n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    return text;
}

static bool exists(const fixture *f, const char *rel) {
    char p[PATH_MAX];
    struct stat st;
    path_of(f, p, sizeof(p), rel);
    return lstat(p, &st) == 0;
}

/* a and b (relative to the fixture) are the same file or folder. */
static bool same(const fixture *f, const char *a, const char *b) {
    char pa[PATH_MAX], pb[PATH_MAX];
    struct stat sa, sb;
    path_of(f, pa, sizeof(pa), a);
    path_of(f, pb, sizeof(pb), b);
    return lstat(pa, &sa) == 0 && lstat(pb, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int mounts_at(const fixture *f, const char *rel, bool below) {
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), rel);
    return mounts(p, below);
}

/* Make volumeMounts[index] of the service mount volume vol at /m{index} with subPath sub (the
 * mounts set before stay; missing ones before it mount the whole emptyDir) and compute the
 * service's binds in pod replica. The host side of that mount's bind goes into out (or ""), the
 * error into err. */
static ferry_err bind(fixture *f, int replica, size_t index, const char *vol, const char *sub,
                      char *out, size_t len, char *err, size_t errlen) {
    json_t *svc = json_array_get(json_object_get(f->spec, "services"), 0);
    json_t *list = json_object_get(svc, "volumeMounts");
    json_t *binds = NULL;
    char mpath[32];
    ferry_err e;

    while (json_array_size(list) <= index) {
        snprintf(mpath, sizeof(mpath), "/m%zu", json_array_size(list));
        json_array_append_new(list, json_pack("{s:s, s:s}", "name", "scratch", "mountPath", mpath));
    }
    snprintf(mpath, sizeof(mpath), "/m%zu", index);
    json_array_set_new(
        list, index, json_pack("{s:s, s:s, s:s}", "name", vol, "mountPath", mpath, "subPath", sub));
    err[0] = '\0';
    e = ferry_volumes_binds(&f->ref, replica, f->spec, svc, &binds, err, errlen);
    out[0] = '\0';
    if (e == FERRY_OK) {
        const char *b = json_string_value(json_array_get(binds, index));
        const char *colon = strchr(b, ':');
        snprintf(out, len, "%.*s", (int)(colon - b), b);
    }
    json_decref(binds);
    return e;
}

static void prepare(fixture *f, int replica) {
    char err[512] = "";
    if (ferry_volumes_pod_prepare(&f->ref, replica, f->spec, true, err, sizeof(err)) != FERRY_OK)
        fail_msg("ferry_volumes_pod_prepare: %s", err);
}

static void bind_ok(fixture *f, int replica, size_t index, const char *vol, const char *sub,
                    const char *want_rel) {
    char out[PATH_MAX], want[PATH_MAX], err[1024];
    ferry_err e = bind(f, replica, index, vol, sub, out, sizeof(out), err, sizeof(err));
    if (e != FERRY_OK)
        fail_msg("bind %s %s: %s (%s)", vol, sub, ferry_strerror(e), err);
    path_of(f, want, sizeof(want), want_rel);
    assert_string_equal(out, want);
}

/* ---- the race of CVE-2021-25741 -------------------------------------------------------------- */

static void test_swap_after_bind(void **state) {
    fixture *f = *state;
    char out[PATH_MAX], err[1024], p[PATH_MAX];

    prepare(f, 0);
    make_dir(f, "outside");
    write_text(f, "outside/secret", "host secret");
    /* A missing subPath is created in the emptyDir and mounted where the engine takes it. */
    bind_ok(f, 0, 0, "scratch", "cache/x", "subpaths/prod/web/0/httpd/0");
    assert_true(same(f, "subpaths/prod/web/0/httpd/0", "pods/prod/web/0/scratch/cache/x"));
    write_text(f, "pods/prod/web/0/scratch/cache/x/mine", "pod data");

    /* The container swaps the folder for a link to the host. The place the engine mounts at
     * every (re)start still shows the folder that was checked, not the link's target. */
    path_of(f, p, sizeof(p), "pods/prod/web/0/scratch/cache/x");
    char moved[PATH_MAX];
    path_of(f, moved, sizeof(moved), "pods/prod/web/0/scratch/cache/moved");
    assert_int_equal(rename(p, moved), 0);
    char outside[PATH_MAX];
    path_of(f, outside, sizeof(outside), "outside");
    assert_int_equal(symlink(outside, p), 0);
    assert_true(same(f, "subpaths/prod/web/0/httpd/0", "pods/prod/web/0/scratch/cache/moved"));
    assert_string_equal(read_text(f, "subpaths/prod/web/0/httpd/0/mine"), "pod data");
    assert_false(exists(f, "subpaths/prod/web/0/httpd/0/secret"));
    /* The same with a link further up the path. */
    char cache[PATH_MAX], cache2[PATH_MAX];
    path_of(f, cache, sizeof(cache), "pods/prod/web/0/scratch/cache");
    path_of(f, cache2, sizeof(cache2), "pods/prod/web/0/scratch/cache2");
    assert_int_equal(rename(cache, cache2), 0);
    assert_int_equal(symlink("/", cache), 0);
    assert_string_equal(read_text(f, "subpaths/prod/web/0/httpd/0/mine"), "pod data");

    /* The next pass refuses the link and leaves the mount as it was. */
    assert_int_equal(bind(f, 0, 0, "scratch", "cache/x", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_non_null(strstr(err, "leads outside the volume"));
    assert_string_equal(read_text(f, "subpaths/prod/web/0/httpd/0/mine"), "pod data");
    assert_int_equal(mounts_at(f, "subpaths/prod/web/0/httpd/0", false), 1);

    /* A real folder again: mounted anew, not stacked on the old mount. */
    assert_int_equal(unlink(cache), 0);
    make_dir(f, "pods/prod/web/0/scratch/cache");
    bind_ok(f, 0, 0, "scratch", "cache/x", "subpaths/prod/web/0/httpd/0");
    assert_true(same(f, "subpaths/prod/web/0/httpd/0", "pods/prod/web/0/scratch/cache/x"));
    assert_int_equal(mounts_at(f, "subpaths/prod/web/0/httpd/0", false), 1);
    /* Unchanged: nothing is mounted again. */
    bind_ok(f, 0, 0, "scratch", "cache/x", "subpaths/prod/web/0/httpd/0");
    assert_int_equal(mounts_at(f, "subpaths/prod/web/0/httpd/0", false), 1);
}

static void test_file_sub_path(void **state) {
    fixture *f = *state;
    char out[PATH_MAX], err[1024], p[PATH_MAX], outside[PATH_MAX];

    prepare(f, 0);
    make_dir(f, "host/conf");
    write_text(f, "host/conf/app.ini", "v1");
    write_text(f, "secret", "host secret");
    bind_ok(f, 0, 0, "data", "conf/app.ini", "subpaths/prod/web/0/httpd/0");
    path_of(f, p, sizeof(p), "subpaths/prod/web/0/httpd/0");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_string_equal(read_text(f, "subpaths/prod/web/0/httpd/0"), "v1");

    /* The file swapped for a link: the mount keeps the file. */
    path_of(f, p, sizeof(p), "host/conf/app.ini");
    path_of(f, outside, sizeof(outside), "secret");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink(outside, p), 0);
    assert_string_equal(read_text(f, "subpaths/prod/web/0/httpd/0"), "v1");
    assert_int_equal(bind(f, 0, 0, "data", "conf/app.ini", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);

    /* The same place now for a folder (the spec changed): a folder is mounted there. */
    make_dir(f, "host/logs");
    bind_ok(f, 0, 0, "data", "logs", "subpaths/prod/web/0/httpd/0");
    assert_true(same(f, "subpaths/prod/web/0/httpd/0", "host/logs"));
    assert_int_equal(mounts_at(f, "subpaths/prod/web/0/httpd/0", false), 1);
}

/* ---- what the check refuses, as before ---------------------------------------------------------
 */

static void test_refused_at_check(void **state) {
    fixture *f = *state;
    char out[PATH_MAX], err[1024], p[PATH_MAX];

    prepare(f, 0);
    assert_int_equal(bind(f, 0, 0, "scratch", "../../..", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_non_null(strstr(err, "without '..'"));
    assert_int_equal(bind(f, 0, 0, "data", "a/../../b", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_int_equal(bind(f, 0, 0, "scratch", "/etc", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    path_of(f, p, sizeof(p), "pods/prod/web/0/scratch/escape");
    assert_int_equal(symlink("/", p), 0);
    assert_int_equal(bind(f, 0, 0, "scratch", "escape/etc", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_non_null(strstr(err, "leads outside the volume"));
    path_of(f, p, sizeof(p), "host/up");
    assert_int_equal(symlink("..", p), 0);
    assert_int_equal(bind(f, 0, 0, "data", "up/new-dir", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_false(exists(f, "new-dir"));
    /* Neither a folder nor a regular file. */
    path_of(f, p, sizeof(p), "pods/prod/web/0/scratch/pipe");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(bind(f, 0, 0, "scratch", "pipe", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_non_null(strstr(err, "neither a folder nor a regular file"));
    /* Nothing was mounted. */
    assert_int_equal(mounts(f->dir, true), 0);
}

/* open_beneath (openat2 here) and walk_beneath (kernels before 5.6) agree. */
static void test_open_beneath(void **state) {
    fixture *f = *state;
    int (*const open_fns[])(int, const char *) = {open_beneath, walk_beneath};
    char p[PATH_MAX];
    struct stat want, got;
    int rootfd;

    make_dir(f, "v");
    make_dir(f, "v/a");
    make_dir(f, "v/a/b");
    write_text(f, "v/a/file", "x");
    path_of(f, p, sizeof(p), "v/lnk");
    assert_int_equal(symlink("a", p), 0);
    path_of(f, p, sizeof(p), "v/a/abs");
    assert_int_equal(symlink("/", p), 0);
    path_of(f, p, sizeof(p), "v");
    assert_true((rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
    path_of(f, p, sizeof(p), "v/a/b");
    assert_int_equal(stat(p, &want), 0);
    for (size_t i = 0; i < 2; i++) {
        int fd = open_fns[i](rootfd, "a/b");
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &got), 0);
        assert_true(got.st_ino == want.st_ino);
        close(fd);
        assert_true((fd = open_fns[i](rootfd, "a/./file")) >= 0);
        close(fd);
        assert_true((fd = open_fns[i](rootfd, ".")) >= 0);
        close(fd);
        static const char *const refused[] = {"lnk",      "lnk/b", "a/abs",  "a/abs/etc",
                                              "a/file/x", "..",    "a/../.."};
        for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
            fd = open_fns[i](rootfd, refused[k]);
            if (fd >= 0)
                fail_msg("%s opened %s", i == 0 ? "open_beneath" : "walk_beneath", refused[k]);
        }
    }
    close(rootfd);
}

/* ---- removal --------------------------------------------------------------------------------- */

static void test_remove_unmounts(void **state) {
    fixture *f = *state;
    char p[PATH_MAX], src[PATH_MAX];

    prepare(f, 0);
    make_dir(f, "host/keep");
    write_text(f, "host/keep/data", "host data");
    bind_ok(f, 0, 0, "data", "keep", "subpaths/prod/web/0/httpd/0");
    bind_ok(f, 0, 1, "scratch", "tmp", "subpaths/prod/web/0/httpd/1");
    /* One more mount stacked on a place (by hand): it goes too. */
    path_of(f, p, sizeof(p), "subpaths/prod/web/0/httpd/1");
    path_of(f, src, sizeof(src), "outside");
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mount(src, p, NULL, MS_BIND, NULL), 0);
    assert_int_equal(mounts_at(f, "subpaths", true), 3);

    assert_int_equal(ferry_volumes_pod_remove(&f->ref, 0), FERRY_OK);
    assert_int_equal(mounts(f->dir, true), 0);
    assert_false(exists(f, "subpaths/prod/web/0"));
    assert_false(exists(f, "pods/prod/web/0"));
    /* The removal did not reach into the hostPath through its mount. */
    assert_string_equal(read_text(f, "host/keep/data"), "host data");
    assert_true(exists(f, "outside"));

    /* A fresh pod starts without the mounts of the one before. */
    prepare(f, 1);
    bind_ok(f, 1, 0, "data", "keep", "subpaths/prod/web/1/httpd/0");
    prepare(f, 1);
    assert_int_equal(mounts(f->dir, true), 0);
    assert_false(exists(f, "subpaths/prod/web/1"));
    assert_string_equal(read_text(f, "host/keep/data"), "host data");
}

/* A killed edge-sync leaves its mounts (they belong to the mount namespace, not the process):
 * the next pass takes them over as they are, and the removal of the pod, or the cleanup once
 * the app is gone, unmounts them. */
static void test_leftover_after_kill(void **state) {
    fixture *f = *state;
    char out[PATH_MAX], err[1024];
    int status;
    pid_t pid;

    prepare(f, 0);
    make_dir(f, "host/keep");
    write_text(f, "host/keep/data", "host data");
    fflush(NULL);
    if ((pid = fork()) == 0) {
        if (bind(f, 0, 0, "data", "keep", out, sizeof(out), err, sizeof(err)) != FERRY_OK ||
            bind(f, 0, 1, "scratch", "a", out, sizeof(out), err, sizeof(err)) != FERRY_OK)
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_true(same(f, "subpaths/prod/web/0/httpd/0", "host/keep"));
    assert_int_equal(mounts_at(f, "subpaths", true), 2);

    /* The next pass finds the mount in place. */
    bind_ok(f, 0, 0, "data", "keep", "subpaths/prod/web/0/httpd/0");
    assert_int_equal(mounts_at(f, "subpaths", true), 2);

    /* The app is gone: the cleanup unmounts and removes, and keeps the host's files. */
    ferry_cleanup_cfg cfg = {f->dir, "prod", NULL};
    json_t *apps = json_object(), *live = json_array();
    int deleted = 0;
    ferry_cleanup__sweep(&cfg, FERRY_PODS_DIR, FERRY_CLEANUP_APP_PODS, FERRY_CLEANUP_POD, apps,
                         live, &deleted);
    ferry_cleanup__sweep(&cfg, FERRY_SUBPATHS_DIR, FERRY_CLEANUP_APP_PODS, FERRY_CLEANUP_POD, apps,
                         live, &deleted);
    assert_int_equal(deleted, 2);
    assert_int_equal(mounts(f->dir, true), 0);
    assert_false(exists(f, "subpaths/prod/web"));
    assert_false(exists(f, "pods/prod/web"));
    assert_string_equal(read_text(f, "host/keep/data"), "host data");
    json_decref(apps);
    json_decref(live);
}

/* ---- without the right to mount -------------------------------------------------------------- */

/* Drop CAP_SYS_ADMIN (mount, umount) from this process, as a non-root edge-sync lacks it. */
static bool drop_sys_admin(void) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0)
        return false;
    data[0].effective &= ~(1u << CAP_SYS_ADMIN);
    data[0].permitted &= ~(1u << CAP_SYS_ADMIN);
    return syscall(SYS_capset, &hdr, data) == 0;
}

static void test_mount_not_permitted(void **state) {
    fixture *f = *state;
    char out[PATH_MAX], err[1024];
    int status;
    pid_t pid;

    prepare(f, 0);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        if (!drop_sys_admin())
            _exit(3);
        ferry_err e = bind(f, 0, 0, "scratch", "a", out, sizeof(out), err, sizeof(err));
        if (e != FERRY_EIO || strstr(err, "need edge-sync to run as root") == NULL ||
            strstr(err, "refused") == NULL) {
            fprintf(stderr, "bind without CAP_SYS_ADMIN: %s (%s)\n", ferry_strerror(e), err);
            _exit(1);
        }
        /* Config volumes and whole emptyDirs need no mount of edge-sync's. */
        json_t *svc = json_array_get(json_object_get(f->spec, "services"), 0), *binds = NULL;
        json_object_set_new(svc, "volumeMounts",
                            json_pack("[{s:s, s:s}]", "name", "scratch", "mountPath", "/s"));
        e = ferry_volumes_binds(&f->ref, 0, f->spec, svc, &binds, err, sizeof(err));
        json_decref(binds);
        _exit(e == FERRY_OK ? 0 : 4);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(mounts(f->dir, true), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_swap_after_bind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_sub_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_at_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_beneath, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_unmounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftover_after_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_not_permitted, setup, teardown),
    };
    if (geteuid() != 0) {
        printf("SKIP edge_subpaths: bind mounts need root\n");
        return 77;
    }
    /* Mounts made here stay here, and go when the process ends. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("SKIP edge_subpaths: no mount namespace of its own (%s)\n", strerror(errno));
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
