/* Unit tests of edge-sync/volumes.c (config files, emptyDir folders, binds, path safety) and of
 * the file cleanup's decisions (cleanup.c), on real files in a temp folder. The folder sweep is
 * reached without an engine through cleanup.h's internal section (ferry_cleanup__sweep).
 *
 * subPath mounts of emptyDir and hostPath volumes are bind mounts (volumes.h): as root, the
 * binary runs in a mount namespace of its own, so that no mount it makes outlives it; without
 * root the tests that need a mount are skipped (tests/edge/test_subpaths.c covers the mounts
 * themselves). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "ferry/base64.h"
#include "volumes.h"

typedef struct {
    char dir[64];
    ferry_volumes_ref ref;
} fixture;

static bool can_mount; /* root, in a mount namespace of its own (main) */

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-volumes-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->ref = (ferry_volumes_ref){f->dir, "prod", "web"};
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    assert_int_equal(ferry_volumes__remove_tree(f->dir), FERRY_OK);
    free(f);
    return 0;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static json_t *file_entry(const char *text, int mode) {
    char *b64 = ferry_base64_encode(text, strlen(text), NULL);
    json_t *e;
    assert_non_null(b64);
    e = json_pack("{s:s, s:i}", "data", b64, "mode", mode);
    ferry_free(b64);
    return e;
}

/* An app with a config, a secret, a certificate, an emptyDir and a hostPath volume (hostPath at
 * host_path), resolved files included. */
static json_t *app_spec(const char *host_path, const char *conf_text) {
    json_t *spec = json_pack(
        "{s:s, s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}, {s:s, s:{s:s}}, {s:s, s:{}}, {s:s, s:{s:s}}],"
        " s:[{s:s, s:s, s:[]}], s:{s:{}, s:[]}}",
        "name", "web", "volumes", "name", "cfg", "config", "name", "app-config", "name", "creds",
        "secret", "name", "app-secret", "name", "tls", "certificate", "name", "app-cert", "name",
        "scratch", "emptyDir", "name", "data", "hostPath", "path", host_path, "services", "name",
        "httpd", "image", "busybox", "volumeMounts", "resolved", "configs", "registries");
    json_t *configs = json_object_get(json_object_get(spec, "resolved"), "configs");
    assert_non_null(spec);
    json_object_set_new(configs, "app-config",
                        json_pack("{s:s, s:i, s:{s:o, s:o}}", "kind", "config", "version", 3,
                                  "files", "app.conf", file_entry(conf_text, 0644), "logo.txt",
                                  file_entry("logo", 0644)));
    json_object_set_new(configs, "app-secret",
                        json_pack("{s:s, s:i, s:{s:o}}", "kind", "secret", "version", 4, "files",
                                  "password", file_entry("s3cret", 0600)));
    json_object_set_new(configs, "app-cert",
                        json_pack("{s:s, s:i, s:{s:o, s:o}}", "kind", "certificate", "version", 5,
                                  "files", "tls.crt", file_entry("CERT", 0644), "tls.key",
                                  file_entry("KEY", 0600)));
    return spec;
}

static json_t *mounts(json_t *spec) {
    return json_object_get(json_array_get(json_object_get(spec, "services"), 0), "volumeMounts");
}

static void add_mount(json_t *spec, const char *vol, const char *path, bool ro, const char *sub) {
    json_t *m = json_pack("{s:s, s:s, s:b}", "name", vol, "mountPath", path, "readOnly", ro);
    if (sub != NULL)
        json_object_set_new(m, "subPath", json_string(sub));
    json_array_append_new(mounts(spec), m);
}

static void read_text(const char *path, char *buf, size_t len) {
    FILE *fp = fopen(path, "r");
    size_t n;
    assert_non_null(fp);
    n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

static unsigned mode_of(const char *path) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

static ino_t inode_of(const char *path) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void path_of(const fixture *f, char *buf, size_t len, const char *rel) {
    snprintf(buf, len, "%s/%s", f->dir, rel);
}

static dev_t device_of(const char *path) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_dev;
}

/* path shows the same file or folder as rel under the fixture's folder. */
static void assert_shows(const fixture *f, const char *path, const char *rel) {
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), rel);
    if (inode_of(path) != inode_of(p) || device_of(path) != device_of(p))
        fail_msg("%s does not show %s", path, p);
}

/* Skip the rest of a test that makes subPath mounts when this run cannot mount. */
static void need_mounts(void) {
    if (!can_mount) {
        print_message("skipped: subPath mounts need root\n");
        skip();
    }
}

static void sync_ok(fixture *f, const json_t *spec) {
    char err[512] = "";
    ferry_err e = ferry_volumes_sync(&f->ref, spec, err, sizeof(err));
    if (e != FERRY_OK)
        fail_msg("ferry_volumes_sync: %s (%s)", ferry_strerror(e), err);
}

/* ---- config files ---------------------------------------------------------------------------- */

static void test_files_and_modes(void **state) {
    fixture *f = *state;
    json_t *spec = app_spec(f->dir, "listen 80\n");
    char p[PATH_MAX], text[64];

    sync_ok(f, spec);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/app.conf");
    read_text(p, text, sizeof(text));
    assert_string_equal(text, "listen 80\n");
    assert_int_equal(mode_of(p), 0644);
    path_of(f, p, sizeof(p), "volumes/prod/web/creds/password");
    read_text(p, text, sizeof(text));
    assert_string_equal(text, "s3cret");
    assert_int_equal(mode_of(p), 0600);
    path_of(f, p, sizeof(p), "volumes/prod/web/tls/tls.key");
    assert_int_equal(mode_of(p), 0600);
    path_of(f, p, sizeof(p), "volumes/prod/web/tls/tls.crt");
    assert_int_equal(mode_of(p), 0644);
    /* Folders down to the app: private; the mounted folder: readable by a container's user. */
    path_of(f, p, sizeof(p), "volumes");
    assert_int_equal(mode_of(p), 0700);
    path_of(f, p, sizeof(p), "volumes/prod");
    assert_int_equal(mode_of(p), 0700);
    path_of(f, p, sizeof(p), "volumes/prod/web");
    assert_int_equal(mode_of(p), 0700);
    path_of(f, p, sizeof(p), "volumes/prod/web/creds");
    assert_int_equal(mode_of(p), 0755);
    /* emptyDir and hostPath: nothing under volumes/. */
    path_of(f, p, sizeof(p), "volumes/prod/web");
    assert_int_equal(count_entries(p), 3);
    json_decref(spec);
}

static void test_atomic_replacement(void **state) {
    fixture *f = *state;
    json_t *spec = app_spec(f->dir, "v1");
    char p[PATH_MAX], dir[PATH_MAX], text[64];
    ino_t before;
    json_t *files;

    sync_ok(f, spec);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/app.conf");
    path_of(f, dir, sizeof(dir), "volumes/prod/web/cfg");
    before = inode_of(p);
    /* Same content: the file is left alone. */
    sync_ok(f, spec);
    assert_true(inode_of(p) == before);
    /* New content: a new file renamed over the old one (a reader never sees half of it). */
    json_decref(spec);
    spec = app_spec(f->dir, "v2 is longer");
    sync_ok(f, spec);
    read_text(p, text, sizeof(text));
    assert_string_equal(text, "v2 is longer");
    assert_true(inode_of(p) != before);
    assert_int_equal(count_entries(dir), 2); /* no temp file left */
    /* A mode change alone rewrites the file too. */
    files = json_object_get(
        json_object_get(json_object_get(json_object_get(spec, "resolved"), "configs"),
                        "app-config"),
        "files");
    json_object_set_new(json_object_get(files, "app.conf"), "mode", json_integer(0640));
    sync_ok(f, spec);
    assert_int_equal(mode_of(p), 0640);
    /* A key the config dropped goes; a temp file a crash left goes. */
    json_object_del(files, "logo.txt");
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/.ferry-tmp-abc123");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    sync_ok(f, spec);
    assert_false(exists(p));
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/logo.txt");
    assert_false(exists(p));
    assert_int_equal(count_entries(dir), 1);
    json_decref(spec);
}

static void test_file_replaces_symlink(void **state) {
    fixture *f = *state;
    json_t *spec = app_spec(f->dir, "mine");
    char p[PATH_MAX], text[64], outside[PATH_MAX];

    sync_ok(f, spec);
    /* Someone replaced a config file by a link to a file elsewhere: the link is replaced, the
     * file it points to is not written through. */
    path_of(f, outside, sizeof(outside), "outside.txt");
    FILE *fp = fopen(outside, "w");
    assert_non_null(fp);
    fputs("untouched", fp);
    fclose(fp);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/app.conf");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink(outside, p), 0);
    sync_ok(f, spec);
    read_text(outside, text, sizeof(text));
    assert_string_equal(text, "untouched");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    read_text(p, text, sizeof(text));
    assert_string_equal(text, "mine");
    json_decref(spec);
}

/* The files of config app-config (borrowed from spec), to change them. */
static json_t *config_files(json_t *spec, const char *config) {
    return json_object_get(
        json_object_get(json_object_get(json_object_get(spec, "resolved"), "configs"), config),
        "files");
}

/* rel under the fixture's folder holds text. */
static void assert_text(const fixture *f, const char *rel, const char *want) {
    char p[PATH_MAX], text[64];
    path_of(f, p, sizeof(p), rel);
    if (!exists(p))
        fail_msg("%s is missing", rel);
    read_text(p, text, sizeof(text));
    assert_string_equal(text, want);
}

static unsigned mode_at(const fixture *f, const char *rel) {
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), rel);
    return mode_of(p);
}

static bool exists_at(const fixture *f, const char *rel) {
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), rel);
    return exists(p);
}

static size_t entries_at(const fixture *f, const char *rel) {
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), rel);
    return count_entries(p);
}

static void plant_link(const fixture *f, const char *target_rel, const char *rel) {
    char target[PATH_MAX], p[PATH_MAX];
    path_of(f, target, sizeof(target), target_rel);
    path_of(f, p, sizeof(p), rel);
    assert_int_equal(symlink(target, p), 0);
}

/* Files in folders (a function's code): folders made with the volume folder's mode whatever the
 * umask, files with theirs; a file moved to another folder leaves no empty folder behind; a file
 * can become a folder and back. */
static void test_files_in_folders(void **state) {
    fixture *f = *state;
    json_t *spec = app_spec(f->dir, "conf");
    json_t *files = config_files(spec, "app-config");
    mode_t old_umask = umask(077);

    json_object_set_new(files, "index.py", file_entry("import lib.util", 0644));
    json_object_set_new(files, "lib/util.py", file_entry("util", 0644));
    json_object_set_new(files, "lib/data/blob.bin", file_entry("blob", 0640));
    json_object_set_new(files, "handlers/filter.sql", file_entry("SELECT 1", 0644));
    json_object_set_new(config_files(spec, "app-secret"), "db/password", file_entry("pw", 0600));
    sync_ok(f, spec);
    assert_text(f, "volumes/prod/web/cfg/index.py", "import lib.util");
    assert_text(f, "volumes/prod/web/cfg/lib/util.py", "util");
    assert_text(f, "volumes/prod/web/cfg/lib/data/blob.bin", "blob");
    assert_text(f, "volumes/prod/web/cfg/handlers/filter.sql", "SELECT 1");
    assert_text(f, "volumes/prod/web/creds/db/password", "pw");
    assert_int_equal(mode_at(f, "volumes/prod/web/cfg/lib"), 0755);
    assert_int_equal(mode_at(f, "volumes/prod/web/cfg/lib/data"), 0755);
    assert_int_equal(mode_at(f, "volumes/prod/web/cfg/lib/data/blob.bin"), 0640);
    assert_int_equal(mode_at(f, "volumes/prod/web/creds/db"), 0755);
    assert_int_equal(mode_at(f, "volumes/prod/web/creds/db/password"), 0600);
    assert_int_equal(entries_at(f, "volumes/prod/web/cfg/lib"), 2); /* no temp file left */

    /* Same files: nothing rewritten. A folder whose mode was changed gets it back. */
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/util.py");
    ino_t before = inode_of(p);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/data");
    assert_int_equal(chmod(p, 0700), 0);
    sync_ok(f, spec);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/util.py");
    assert_true(inode_of(p) == before);
    assert_int_equal(mode_at(f, "volumes/prod/web/cfg/lib/data"), 0755);

    /* Moved: lib/data/blob.bin to lib/other/blob.bin, handlers/filter.sql to
     * handlers/select.sql: the old file and the folder nothing is in any more go. */
    json_object_del(files, "lib/data/blob.bin");
    json_object_set_new(files, "lib/other/blob.bin", file_entry("blob", 0644));
    json_object_del(files, "handlers/filter.sql");
    json_object_set_new(files, "handlers/select.sql", file_entry("SELECT 2", 0644));
    sync_ok(f, spec);
    assert_false(exists_at(f, "volumes/prod/web/cfg/lib/data"));
    assert_text(f, "volumes/prod/web/cfg/lib/other/blob.bin", "blob");
    assert_false(exists_at(f, "volumes/prod/web/cfg/handlers/filter.sql"));
    assert_text(f, "volumes/prod/web/cfg/handlers/select.sql", "SELECT 2");
    assert_int_equal(entries_at(f, "volumes/prod/web/cfg/lib"), 2);
    assert_int_equal(entries_at(f, "volumes/prod/web/cfg/handlers"), 1);

    /* A file becomes a folder (index.py -> index.py/main.py) and a folder a file (lib). */
    json_object_del(files, "index.py");
    json_object_set_new(files, "index.py/main.py", file_entry("main", 0644));
    json_object_del(files, "lib/util.py");
    json_object_del(files, "lib/other/blob.bin");
    json_object_set_new(files, "lib", file_entry("now a file", 0644));
    sync_ok(f, spec);
    assert_text(f, "volumes/prod/web/cfg/index.py/main.py", "main");
    assert_int_equal(mode_at(f, "volumes/prod/web/cfg/index.py"), 0755);
    assert_text(f, "volumes/prod/web/cfg/lib", "now a file");
    /* and back */
    json_object_del(files, "lib");
    json_object_set_new(files, "lib/util.py", file_entry("util again", 0644));
    sync_ok(f, spec);
    assert_text(f, "volumes/prod/web/cfg/lib/util.py", "util again");

    /* Temp files a crash left in a folder, and a folder nobody asked for, go. */
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/.ferry-tmp-abc123");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/junk");
    assert_int_equal(mkdir(p, 0700), 0);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/junk/deeper");
    assert_int_equal(mkdir(p, 0700), 0);
    sync_ok(f, spec);
    assert_int_equal(entries_at(f, "volumes/prod/web/cfg/lib"), 1);

    /* All files out of folders: no folder left. */
    json_object_clear(files);
    json_object_set_new(files, "app.conf", file_entry("flat", 0644));
    json_object_clear(config_files(spec, "app-secret"));
    sync_ok(f, spec);
    assert_int_equal(entries_at(f, "volumes/prod/web/cfg"), 1);
    assert_int_equal(entries_at(f, "volumes/prod/web/creds"), 0);
    umask(old_umask);
    json_decref(spec);
}

/* Symbolic links planted in a config volume's folders are never followed: not to make a folder,
 * not to write a file, not when sweeping. */
static void test_folders_do_not_follow_symlinks(void **state) {
    fixture *f = *state;
    json_t *spec = app_spec(f->dir, "conf");
    json_t *files = config_files(spec, "app-config");
    char p[PATH_MAX];

    path_of(f, p, sizeof(p), "outside");
    assert_int_equal(mkdir(p, 0700), 0);
    path_of(f, p, sizeof(p), "outside/keep.txt");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("untouched", fp);
    fclose(fp);
    sync_ok(f, spec);

    /* lib is a link to a folder elsewhere when lib/util.py is to be written: the link goes, a
     * real folder takes its place, nothing is written where it pointed. */
    plant_link(f, "outside", "volumes/prod/web/cfg/lib");
    json_object_set_new(files, "lib/util.py", file_entry("util", 0644));
    json_object_set_new(files, "lib/sub/x.py", file_entry("x", 0644));
    sync_ok(f, spec);
    struct stat st;
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_text(f, "volumes/prod/web/cfg/lib/util.py", "util");
    assert_int_equal(entries_at(f, "outside"), 1);

    /* A link to a folder in place of lib/sub (deeper down), and one in place of the file
     * lib/util.py: the same. */
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/sub/x.py");
    assert_int_equal(unlink(p), 0);
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/sub");
    assert_int_equal(rmdir(p), 0);
    plant_link(f, "outside", "volumes/prod/web/cfg/lib/sub");
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/lib/util.py");
    assert_int_equal(unlink(p), 0);
    plant_link(f, "outside/keep.txt", "volumes/prod/web/cfg/lib/util.py");
    sync_ok(f, spec);
    assert_text(f, "volumes/prod/web/cfg/lib/sub/x.py", "x");
    assert_text(f, "volumes/prod/web/cfg/lib/util.py", "util");
    assert_text(f, "outside/keep.txt", "untouched");
    assert_int_equal(entries_at(f, "outside"), 1);

    /* Links the config does not have go, without touching what they point to: at the top, in a
     * kept folder, and inside a folder that is swept away. */
    plant_link(f, "outside", "volumes/prod/web/cfg/stale");
    plant_link(f, "outside", "volumes/prod/web/cfg/lib/stale");
    path_of(f, p, sizeof(p), "volumes/prod/web/cfg/junk");
    assert_int_equal(mkdir(p, 0755), 0);
    plant_link(f, "outside", "volumes/prod/web/cfg/junk/link");
    plant_link(f, "outside/keep.txt", "volumes/prod/web/cfg/junk/file-link");
    sync_ok(f, spec);
    assert_false(exists_at(f, "volumes/prod/web/cfg/stale"));
    assert_false(exists_at(f, "volumes/prod/web/cfg/lib/stale"));
    assert_false(exists_at(f, "volumes/prod/web/cfg/junk"));
    assert_text(f, "outside/keep.txt", "untouched");
    assert_int_equal(entries_at(f, "outside"), 1);
    json_decref(spec);
}

/* A file that is also a folder of another file cannot be written: refused, nothing half done. */
static void test_file_and_folder_refused(void **state) {
    fixture *f = *state;
    json_t *spec = app_spec(f->dir, "conf");
    json_t *files = config_files(spec, "app-config");
    char err[512] = "";

    json_object_set_new(files, "lib", file_entry("a file", 0644));
    json_object_set_new(files, "lib/util.py", file_entry("util", 0644));
    assert_int_equal(ferry_volumes_sync(&f->ref, spec, err, sizeof(err)), FERRY_EINVAL);
    assert_non_null(strstr(err, "lib"));
    assert_false(exists_at(f, "volumes/prod/web/cfg/app.conf"));
    json_object_del(files, "lib");
    json_object_set_new(files, "../escape", file_entry("no", 0644));
    assert_int_equal(ferry_volumes_sync(&f->ref, spec, err, sizeof(err)), FERRY_EINVAL);
    assert_false(exists_at(f, "volumes/prod/web/escape"));
    json_decref(spec);
}

static void test_missing_pieces(void **state) {
    fixture *f = *state;
    char err[512] = "", missing[PATH_MAX];
    json_t *spec;

    path_of(f, missing, sizeof(missing), "no/such/folder");
    spec = app_spec(missing, "x");
    assert_int_equal(ferry_volumes_sync(&f->ref, spec, err, sizeof(err)), FERRY_ENOTFOUND);
    assert_non_null(strstr(err, "volume data: host path"));
    assert_non_null(strstr(err, missing));
    assert_false(exists(missing)); /* hostPath folders are never created */
    json_decref(spec);

    spec = app_spec(f->dir, "x");
    json_object_del(json_object_get(json_object_get(spec, "resolved"), "configs"), "app-secret");
    err[0] = '\0';
    assert_int_equal(ferry_volumes_sync(&f->ref, spec, err, sizeof(err)), FERRY_ENOTFOUND);
    assert_non_null(strstr(err, "volume creds: secret app-secret"));
    json_decref(spec);

    /* Names that are not DNS labels never become paths. */
    spec = app_spec(f->dir, "x");
    ferry_volumes_ref bad = {f->dir, "prod", "../etc"};
    assert_int_equal(ferry_volumes_sync(&bad, spec, err, sizeof(err)), FERRY_EINVAL);
    json_object_set_new(json_array_get(json_object_get(spec, "volumes"), 0), "name",
                        json_string("../x"));
    assert_int_equal(ferry_volumes_sync(&f->ref, spec, err, sizeof(err)), FERRY_EINVAL);
    json_decref(spec);
}

/* ---- emptyDir -------------------------------------------------------------------------------- */

static void test_empty_dir_lifetime(void **state) {
    fixture *f = *state;
    json_t *spec = app_spec(f->dir, "x");
    char err[512] = "", p[PATH_MAX], file[PATH_MAX];

    assert_int_equal(ferry_volumes_pod_prepare(&f->ref, 1, spec, true, err, sizeof(err)), FERRY_OK);
    path_of(f, p, sizeof(p), "pods/prod/web/1/scratch");
    assert_int_equal(mode_of(p), 0777);
    path_of(f, p, sizeof(p), "pods/prod/web/1");
    assert_int_equal(mode_of(p), 0700);
    path_of(f, file, sizeof(file), "pods/prod/web/1/scratch/data");
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    /* The same pod again: its data stays. */
    assert_int_equal(ferry_volumes_pod_prepare(&f->ref, 1, spec, false, err, sizeof(err)),
                     FERRY_OK);
    assert_true(exists(file));
    /* A new pod: empty. */
    assert_int_equal(ferry_volumes_pod_prepare(&f->ref, 1, spec, true, err, sizeof(err)), FERRY_OK);
    assert_false(exists(file));
    /* Removed with the pod, without following a link a container planted. */
    char outside[PATH_MAX], link[PATH_MAX];
    path_of(f, outside, sizeof(outside), "keep-me");
    fp = fopen(outside, "w");
    assert_non_null(fp);
    fclose(fp);
    path_of(f, link, sizeof(link), "pods/prod/web/1/scratch/escape");
    assert_int_equal(symlink(f->dir, link), 0);
    assert_int_equal(ferry_volumes_pod_remove(&f->ref, 1), FERRY_OK);
    path_of(f, p, sizeof(p), "pods/prod/web/1");
    assert_false(exists(p));
    assert_true(exists(outside));
    assert_int_equal(ferry_volumes_pod_remove(&f->ref, -1), FERRY_OK);
    path_of(f, p, sizeof(p), "pods/prod/web");
    assert_false(exists(p));
    json_decref(spec);
}

/* ---- binds ----------------------------------------------------------------------------------- */

static void test_binds(void **state) {
    fixture *f = *state;
    char host[PATH_MAX], err[512] = "", want[PATH_MAX * 2];
    json_t *spec, *binds = NULL, *svc;

    path_of(f, host, sizeof(host), "host");
    assert_int_equal(mkdir(host, 0755), 0);
    spec = app_spec(host, "x");
    add_mount(spec, "cfg", "/etc/app", false, NULL);
    add_mount(spec, "cfg", "/etc/app.conf", false, "app.conf");
    add_mount(spec, "creds", "/run/secrets", true, NULL);
    add_mount(spec, "scratch", "/scratch", false, NULL);
    add_mount(spec, "scratch", "/cache", false, "a/b");
    add_mount(spec, "data", "/data", true, NULL);
    add_mount(spec, "cfg", "/app/util.py", false, "lib/util.py");
    json_object_set_new(config_files(spec, "app-config"), "lib/util.py", file_entry("u", 0644));
    svc = json_array_get(json_object_get(spec, "services"), 0);
    sync_ok(f, spec);
    need_mounts();
    assert_int_equal(ferry_volumes_pod_prepare(&f->ref, 0, spec, true, err, sizeof(err)), FERRY_OK);
    assert_int_equal(ferry_volumes_binds(&f->ref, 0, spec, svc, &binds, err, sizeof(err)),
                     FERRY_OK);
    assert_int_equal(json_array_size(binds), 7);
    /* Config volumes are always read-only: the files are edge-sync's copy. */
    snprintf(want, sizeof(want), "%s/volumes/prod/web/cfg:/etc/app:ro", f->dir);
    assert_string_equal(json_string_value(json_array_get(binds, 0)), want);
    snprintf(want, sizeof(want), "%s/volumes/prod/web/cfg/app.conf:/etc/app.conf:ro", f->dir);
    assert_string_equal(json_string_value(json_array_get(binds, 1)), want);
    snprintf(want, sizeof(want), "%s/volumes/prod/web/creds:/run/secrets:ro", f->dir);
    assert_string_equal(json_string_value(json_array_get(binds, 2)), want);
    snprintf(want, sizeof(want), "%s/pods/prod/web/0/scratch:/scratch", f->dir);
    assert_string_equal(json_string_value(json_array_get(binds, 3)), want);
    /* A missing subPath of an emptyDir is created, as Kubernetes does; the engine mounts the
     * place edge-sync mounted it at (container httpd, volumeMounts[4]). */
    snprintf(want, sizeof(want), "%s/subpaths/prod/web/0/httpd/4:/cache", f->dir);
    assert_string_equal(json_string_value(json_array_get(binds, 4)), want);
    snprintf(want, sizeof(want), "%s/subpaths/prod/web/0/httpd/4", f->dir);
    assert_shows(f, want, "pods/prod/web/0/scratch/a/b");
    snprintf(want, sizeof(want), "%s:/data:ro", host);
    assert_string_equal(json_string_value(json_array_get(binds, 5)), want);
    /* A config file in a folder, by its path like any other. */
    snprintf(want, sizeof(want), "%s/volumes/prod/web/cfg/lib/util.py:/app/util.py:ro", f->dir);
    assert_string_equal(json_string_value(json_array_get(binds, 6)), want);
    json_decref(binds);

    /* Another replica mounts its own emptyDir. */
    assert_int_equal(ferry_volumes_pod_prepare(&f->ref, 1, spec, true, err, sizeof(err)), FERRY_OK);
    assert_int_equal(ferry_volumes_binds(&f->ref, 1, spec, svc, &binds, err, sizeof(err)),
                     FERRY_OK);
    snprintf(want, sizeof(want), "%s/pods/prod/web/1/scratch:/scratch", f->dir);
    assert_string_equal(json_string_value(json_array_get(binds, 3)), want);
    json_decref(binds);

    /* No mounts: an empty list. */
    json_array_clear(mounts(spec));
    assert_int_equal(ferry_volumes_binds(&f->ref, 0, spec, svc, &binds, err, sizeof(err)),
                     FERRY_OK);
    assert_int_equal(json_array_size(binds), 0);
    json_decref(binds);
    json_decref(spec);
}

/* Binds of a spec with one mount; returns the error code, the bind in out (or ""). */
static ferry_err one_bind(fixture *f, json_t *spec, const char *vol, const char *sub, char *out,
                          size_t len, char *err, size_t errlen) {
    json_t *binds = NULL;
    ferry_err e;
    json_array_clear(mounts(spec));
    add_mount(spec, vol, "/mnt", false, sub);
    e = ferry_volumes_binds(&f->ref, 0, spec, json_array_get(json_object_get(spec, "services"), 0),
                            &binds, err, errlen);
    snprintf(out, len, "%s", e == FERRY_OK ? json_string_value(json_array_get(binds, 0)) : "");
    json_decref(binds);
    return e;
}

static void test_sub_path_safety(void **state) {
    fixture *f = *state;
    char host[PATH_MAX], err[512], out[PATH_MAX * 2], p[PATH_MAX], want[PATH_MAX * 2];
    json_t *spec;

    path_of(f, host, sizeof(host), "host");
    assert_int_equal(mkdir(host, 0755), 0);
    spec = app_spec(host, "x");
    sync_ok(f, spec);
    assert_int_equal(ferry_volumes_pod_prepare(&f->ref, 0, spec, true, err, sizeof(err)), FERRY_OK);

    /* ".." and absolute paths, whatever the kind. */
    assert_int_equal(one_bind(f, spec, "scratch", "../../..", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_non_null(strstr(err, "without '..'"));
    assert_int_equal(one_bind(f, spec, "data", "a/../../b", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_int_equal(one_bind(f, spec, "scratch", "/etc", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);

    /* A link a container planted in its emptyDir, pointing out of it: refused, and nothing is
     * created where it points. */
    path_of(f, p, sizeof(p), "pods/prod/web/0/scratch/escape");
    assert_int_equal(symlink("/", p), 0);
    assert_int_equal(one_bind(f, spec, "scratch", "escape/etc", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    assert_non_null(strstr(err, "leads outside the volume"));
    assert_int_equal(one_bind(f, spec, "scratch", "escape", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    path_of(f, p, sizeof(p), "pods/prod/web/0/scratch/up");
    assert_int_equal(symlink("..", p), 0);
    assert_int_equal(one_bind(f, spec, "scratch", "up/new-dir", out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);
    path_of(f, p, sizeof(p), "pods/prod/web/0/new-dir");
    assert_false(exists(p));

    /* Config volumes: subPath is a file of the config. */
    assert_int_equal(one_bind(f, spec, "cfg", "nope.conf", out, sizeof(out), err, sizeof(err)),
                     FERRY_ENOTFOUND);
    assert_non_null(strstr(err, "not a file of config volume cfg"));
    assert_int_equal(one_bind(f, spec, "tls", "tls.key", out, sizeof(out), err, sizeof(err)),
                     FERRY_OK);
    snprintf(want, sizeof(want), "%s/volumes/prod/web/tls/tls.key:/mnt:ro", f->dir);
    assert_string_equal(out, want);

    /* A mount of a volume the app does not have. */
    assert_int_equal(one_bind(f, spec, "nope", NULL, out, sizeof(out), err, sizeof(err)),
                     FERRY_EINVAL);

    /* A link that stays inside: the resolved folder is what gets mounted (at the place the
     * engine mounts: container httpd, volumeMounts[0]). */
    need_mounts();
    path_of(f, p, sizeof(p), "pods/prod/web/0/scratch/real");
    assert_int_equal(mkdir(p, 0755), 0);
    path_of(f, p, sizeof(p), "pods/prod/web/0/scratch/alias");
    assert_int_equal(symlink("real", p), 0);
    assert_int_equal(one_bind(f, spec, "scratch", "alias", out, sizeof(out), err, sizeof(err)),
                     FERRY_OK);
    snprintf(want, sizeof(want), "%s/subpaths/prod/web/0/httpd/0:/mnt", f->dir);
    assert_string_equal(out, want);
    snprintf(want, sizeof(want), "%s/subpaths/prod/web/0/httpd/0", f->dir);
    assert_shows(f, want, "pods/prod/web/0/scratch/real");
    json_decref(spec);
}

/* ---- cleanup decisions ----------------------------------------------------------------------- */

static json_t *facts(void) {
    return json_pack(
        "{s:{s:b, s:b, s:i, s:[s]}, s:{s:b, s:b, s:i, s:[s]}, s:{s:b, s:b, s:i, s:[]}}", "web",
        "desired", 1, "finished", 0, "replicas", 2, "volumes", "cfg", "batch", "desired", 1,
        "finished", 1, "replicas", 1, "volumes", "cfg", "gone", "desired", 0, "finished", 0,
        "replicas", 0, "volumes");
}

static bool decide(ferry_cleanup_kind kind, const char *path, const char *app, const char *member,
                   const json_t *apps, const json_t *live) {
    ferry_cleanup_item item = {kind, path, app, member, NULL};
    return ferry_cleanup_decide(&item, apps, live);
}

static void test_cleanup_decide(void **state) {
    (void)state;
    json_t *apps = facts(), *none = json_array();
    json_t *live = json_pack("[s]", "/d/volumes/prod/gone/cfg/app.conf");
    json_t *live_above = json_pack("[s]", "/d");

    /* A desired, running app keeps its files; only what its spec dropped goes. */
    assert_false(decide(FERRY_CLEANUP_APP_VOLUMES, "/d/volumes/prod/web", "web", NULL, apps, none));
    assert_false(decide(FERRY_CLEANUP_VOLUME, "/d/volumes/prod/web/cfg", "web", "cfg", apps, none));
    assert_true(decide(FERRY_CLEANUP_VOLUME, "/d/volumes/prod/web/old", "web", "old", apps, none));
    assert_false(decide(FERRY_CLEANUP_APP_PODS, "/d/pods/prod/web", "web", NULL, apps, none));
    assert_false(decide(FERRY_CLEANUP_POD, "/d/pods/prod/web/1", "web", "1", apps, none));
    assert_true(decide(FERRY_CLEANUP_POD, "/d/pods/prod/web/2", "web", "2", apps, none));
    assert_true(decide(FERRY_CLEANUP_POD, "/d/pods/prod/web/01", "web", "01", apps, none));
    /* A finished job, an app no longer here, an app the store does not know: everything goes. */
    assert_true(
        decide(FERRY_CLEANUP_APP_VOLUMES, "/d/volumes/prod/batch", "batch", NULL, apps, none));
    assert_true(decide(FERRY_CLEANUP_APP_PODS, "/d/pods/prod/batch", "batch", NULL, apps, none));
    assert_true(
        decide(FERRY_CLEANUP_APP_VOLUMES, "/d/volumes/prod/gone", "gone", NULL, apps, none));
    assert_true(decide(FERRY_CLEANUP_APP_VOLUMES, "/d/volumes/prod/x", "x", NULL, apps, none));
    assert_true(decide(FERRY_CLEANUP_APP_VOLUMES, "/d/volumes/prod/x", "x", NULL, NULL, NULL));
    /* ... unless a container that is not exited mounts something in it, or above it. */
    assert_false(
        decide(FERRY_CLEANUP_APP_VOLUMES, "/d/volumes/prod/gone", "gone", NULL, apps, live));
    assert_true(decide(FERRY_CLEANUP_APP_VOLUMES, "/d/volumes/prod/gone2", "gone2", NULL, apps,
                       live)); /* a prefix of the name is not the folder */
    assert_false(
        decide(FERRY_CLEANUP_APP_PODS, "/d/pods/prod/batch", "batch", NULL, apps, live_above));
    /* A live mount in the twin folder (subpaths/ for pods/ and back) keeps the folder too. */
    json_t *live_sub = json_pack("[s]", "/d/subpaths/prod/gone/0/httpd/1");
    ferry_cleanup_item pod = {FERRY_CLEANUP_POD, "/d/pods/prod/gone/0", "gone", "0",
                              "/d/subpaths/prod/gone/0"};
    assert_false(ferry_cleanup_decide(&pod, apps, live_sub));
    pod.twin = "/d/subpaths/prod/gone/1";
    assert_true(ferry_cleanup_decide(&pod, apps, live_sub));
    json_decref(live_sub);
    /* Malformed items are kept. */
    assert_false(decide(FERRY_CLEANUP_APP_VOLUMES, "volumes/prod/gone", "gone", NULL, apps, none));
    assert_false(decide(FERRY_CLEANUP_POD, "/d/pods/prod/web/9", "web", NULL, apps, none));
    assert_false(ferry_cleanup_decide(NULL, apps, none));
    json_decref(apps);
    json_decref(none);
    json_decref(live);
    json_decref(live_above);
}

static void make_dir(const fixture *f, const char *rel) {
    char p[PATH_MAX];
    path_of(f, p, sizeof(p), rel);
    assert_int_equal(mkdir(p, 0700), 0);
}

/* The sweep over real folders, with the engine's answer given. */
static void test_cleanup_sweep(void **state) {
    fixture *f = *state;
    json_t *apps = facts();
    json_t *live = json_array();
    ferry_cleanup_cfg cfg = {f->dir, "prod", NULL};
    char p[PATH_MAX];
    int deleted = 0;
    static const char *const dirs[] = {"volumes",
                                       "volumes/prod",
                                       "volumes/prod/web",
                                       "volumes/prod/web/cfg",
                                       "volumes/prod/web/old",
                                       "volumes/prod/batch",
                                       "volumes/prod/batch/cfg",
                                       "volumes/prod/gone",
                                       "volumes/prod/gone/cfg",
                                       "volumes/prod/Not_Ours",
                                       "volumes/other",
                                       "volumes/other/gone",
                                       "pods",
                                       "pods/prod",
                                       "pods/prod/web",
                                       "pods/prod/web/0",
                                       "pods/prod/web/5",
                                       "pods/prod/gone",
                                       "pods/prod/gone/0",
                                       "pods/prod/left",
                                       "pods/prod/left/0",
                                       "subpaths",
                                       "subpaths/prod",
                                       "subpaths/prod/web",
                                       "subpaths/prod/web/0",
                                       "subpaths/prod/web/3",
                                       "subpaths/prod/gone",
                                       "subpaths/prod/left",
                                       "subpaths/prod/left/0",
                                       "subpaths/prod/left/0/httpd",
                                       "subpaths/prod/left/0/httpd/1"};

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        make_dir(f, dirs[i]);
    /* A running container of "gone" still mounts its config (its removal failed, say). */
    path_of(f, p, sizeof(p), "volumes/prod/gone/cfg");
    json_array_append_new(live, json_string(p));
    /* ... and one of "left" a subPath of its emptyDir: the pod's folders under pods/ and
     * subpaths/ both stay. */
    path_of(f, p, sizeof(p), "subpaths/prod/left/0/httpd/1");
    json_array_append_new(live, json_string(p));

    ferry_cleanup__sweep(&cfg, FERRY_VOLUMES_DIR, FERRY_CLEANUP_APP_VOLUMES, FERRY_CLEANUP_VOLUME,
                         apps, live, &deleted);
    ferry_cleanup__sweep(&cfg, FERRY_PODS_DIR, FERRY_CLEANUP_APP_PODS, FERRY_CLEANUP_POD, apps,
                         live, &deleted);
    ferry_cleanup__sweep(&cfg, FERRY_SUBPATHS_DIR, FERRY_CLEANUP_APP_PODS, FERRY_CLEANUP_POD, apps,
                         live, &deleted);
    assert_int_equal(deleted, 6);
    static const char *const kept[] = {
        "volumes/prod/web/cfg",  "volumes/prod/gone/cfg",
        "volumes/prod/Not_Ours", "volumes/other/gone",
        "pods/prod/web/0",       "pods/prod/left/0",
        "subpaths/prod/web/0",   "subpaths/prod/left/0/httpd/1",
    };
    static const char *const gone[] = {"volumes/prod/web/old", "volumes/prod/batch",
                                       "pods/prod/web/5",      "pods/prod/gone",
                                       "subpaths/prod/web/3",  "subpaths/prod/gone"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        path_of(f, p, sizeof(p), kept[i]);
        if (!exists(p))
            fail_msg("%s was deleted", kept[i]);
    }
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        path_of(f, p, sizeof(p), gone[i]);
        if (exists(p))
            fail_msg("%s was kept", gone[i]);
    }
    json_decref(apps);
    json_decref(live);
}

int main(void) {
    /* Mounts made here stay here, and go when the process ends. */
    can_mount = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
                mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_replaces_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_in_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folders_do_not_follow_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_and_folder_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_dir_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_path_safety, setup, teardown),
        cmocka_unit_test(test_cleanup_decide),
        cmocka_unit_test_setup_teardown(test_cleanup_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
