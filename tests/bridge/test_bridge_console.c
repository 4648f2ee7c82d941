/* Unit tests of broker-bridge's web console loader and lookup (console.c): content types,
 * ETags, what is skipped (dotfiles, links, odd names, other extensions), the limits, and paths
 * that must name nothing ("..", ".", empty segments). Files in a temporary folder; no server. */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "unit.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) {
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* root/rel with len bytes of data; the folders on the way are made. */
static void put(const char *root, const char *rel, const char *data, size_t len) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void puts_(const char *root, const char *rel, const char *text) {
    put(root, rel, text, strlen(text));
}

static char *tmp_root(void) {
    char tmpl[] = "/tmp/ferry-console-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

static ferry_console *load_ok(const char *root) {
    ferry_console *c = NULL;
    assert_int_equal(ferry_console_load(root, &c), FERRY_OK);
    assert_non_null(c);
    return c;
}

static void assert_served(const ferry_console *c, const char *url, const char *type,
                          const char *text) {
    const ferry_console_file *f = ferry_console_find(c, url);
    if (f == NULL)
        fail_msg("%s is not served", url);
    assert_string_equal(f->type, type);
    assert_int_equal(f->len, strlen(text));
    assert_memory_equal(f->data, text, f->len);
}

static void assert_not_served(const ferry_console *c, const char *url) {
    if (ferry_console_find(c, url) != NULL)
        fail_msg("%s is served", url);
}

static void test_types_and_skips(void **state) {
    (void)state;
    char *root = tmp_root(), link[512];
    puts_(root, "index.html", "<!doctype html>");
    puts_(root, "js/app.js", "export {};");
    puts_(root, "js/lib/mod.mjs", "export const a = 1;");
    puts_(root, "css/site.css", "body{}");
    puts_(root, "data.json", "{}");
    puts_(root, "img/logo.svg", "<svg/>");
    puts_(root, "img/a_b-c.png", "PNG");
    puts_(root, "favicon.ico", "ICO");
    puts_(root, "fonts/f.woff2", "wOF2");
    puts_(root, "robots.txt", "User-agent: *");
    puts_(root, "README.md", "not served: unknown extension");
    puts_(root, "js/app.js.map", "not served");
    puts_(root, ".hidden.js", "not served: a dotfile");
    puts_(root, ".git/config.js", "not served: in a dot folder");
    puts_(root, "bad name.js", "not served: a space");
    puts_(root, "x+y.js", "not served: a plus");
    puts_(root, "Makefile", "no extension");
    snprintf(link, sizeof(link), "%s/link.js", root);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    snprintf(link, sizeof(link), "%s/jslink", root);
    assert_int_equal(symlink("js", link), 0);
    snprintf(link, sizeof(link), "%s/secret.txt", root);
    assert_int_equal(symlink("/etc/hostname", link), 0);

    ferry_console *c = load_ok(root);
    assert_int_equal(ferry_console_count(c), 10);
    assert_served(c, "/", "text/html; charset=utf-8", "<!doctype html>");
    assert_served(c, "/index.html", "text/html; charset=utf-8", "<!doctype html>");
    assert_served(c, "/js/app.js", "text/javascript; charset=utf-8", "export {};");
    assert_served(c, "/js/lib/mod.mjs", "text/javascript; charset=utf-8", "export const a = 1;");
    assert_served(c, "/css/site.css", "text/css; charset=utf-8", "body{}");
    assert_served(c, "/data.json", "application/json", "{}");
    assert_served(c, "/img/logo.svg", "image/svg+xml", "<svg/>");
    assert_served(c, "/img/a_b-c.png", "image/png", "PNG");
    assert_served(c, "/favicon.ico", "image/x-icon", "ICO");
    assert_served(c, "/fonts/f.woff2", "font/woff2", "wOF2");
    assert_served(c, "/robots.txt", "text/plain; charset=utf-8", "User-agent: *");
    const char *const absent[] = {
        "/README.md",   "/js/app.js.map", "/.hidden.js",       "/.git/config.js",   "/bad name.js",
        "/x+y.js",      "/Makefile",      "/link.js",          "/jslink/app.js",    "/secret.txt",
        "/js",          "/js/",           "/nope.js",          "index.html",        "",
        "//index.html", "/./index.html",  "/js/../index.html", "/../index.html",    "/..",
        "/js/./app.js", "/js//app.js",    "/index.html/",      "/%2e%2e/index.html"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        assert_not_served(c, absent[i]);
    assert_null(ferry_console_find(c, NULL));
    assert_null(ferry_console_find(NULL, "/"));
    ferry_console_free(c);
    rm_tree(root);
    free(root);
}

static void test_etags(void **state) {
    (void)state;
    char *root = tmp_root();
    puts_(root, "a.txt", "hello");
    puts_(root, "b.txt", "hello");
    puts_(root, "c.txt", "hellO");
    puts_(root, "empty.txt", "");
    ferry_console *c1 = load_ok(root), *c2 = load_ok(root);
    /* SHA-256("hello") = 2cf24dba5fb0a30e26e83b2ac5b9e29e 1b161e5c..., SHA-256("") = e3b0c442... */
    assert_string_equal(ferry_console_find(c1, "/a.txt")->etag,
                        "\"2cf24dba5fb0a30e26e83b2ac5b9e29e\"");
    assert_string_equal(ferry_console_find(c1, "/empty.txt")->etag,
                        "\"e3b0c44298fc1c149afbf4c8996fb924\"");
    assert_int_equal(ferry_console_find(c1, "/empty.txt")->len, 0);
    assert_string_equal(ferry_console_find(c1, "/b.txt")->etag,
                        ferry_console_find(c1, "/a.txt")->etag);
    assert_string_not_equal(ferry_console_find(c1, "/c.txt")->etag,
                            ferry_console_find(c1, "/a.txt")->etag);
    assert_string_equal(ferry_console_find(c2, "/c.txt")->etag,
                        ferry_console_find(c1, "/c.txt")->etag);
    assert_int_equal(ferry_console_bytes(c1), 15);
    ferry_console_free(c1);
    ferry_console_free(c2);
    rm_tree(root);
    free(root);
}

static void test_etag_match(void **state) {
    (void)state;
    const char *tag = "\"0123456789abcdef0123456789abcdef\"";
    assert_true(ferry_console_etag_match(tag, tag));
    assert_true(ferry_console_etag_match("*", tag));
    assert_true(ferry_console_etag_match("W/\"0123456789abcdef0123456789abcdef\"", tag));
    assert_true(ferry_console_etag_match("\"x\", \"0123456789abcdef0123456789abcdef\" ", tag));
    assert_false(ferry_console_etag_match(NULL, tag));
    assert_false(ferry_console_etag_match("", tag));
    assert_false(ferry_console_etag_match("\"x\"", tag));
    assert_false(ferry_console_etag_match("0123456789abcdef0123456789abcdef", tag));
    assert_false(ferry_console_etag_match("\"0123456789abcdef0123456789abcde\"", tag));
    assert_false(ferry_console_etag_match("\"0123456789abcdef0123456789abcdef\"x", tag));
}

static void test_limits(void **state) {
    (void)state;
    char *root = tmp_root(), deep[512];
    ferry_console *c = NULL;
    puts_(root, "a.js", "12345");
    puts_(root, "d/b.js", "12345");
    puts_(root, "c.txt", "1");
    assert_int_equal(ferry_console__load_limited(root, 3, 5, 11, &c), FERRY_OK);
    assert_int_equal(ferry_console_count(c), 3);
    ferry_console_free(c);
    assert_int_equal(ferry_console__load_limited(root, 2, 5, 11, &c), FERRY_ETOOBIG);
    assert_null(c);
    assert_int_equal(ferry_console__load_limited(root, 3, 4, 11, &c), FERRY_ETOOBIG);
    assert_int_equal(ferry_console__load_limited(root, 3, 5, 10, &c), FERRY_ETOOBIG);
    assert_null(c);
    /* Files that are skipped do not count. */
    puts_(root, "skip.md", "1234567890");
    puts_(root, ".skip.js", "1234567890");
    assert_int_equal(ferry_console__load_limited(root, 3, 5, 11, &c), FERRY_OK);
    ferry_console_free(c);

    /* Folders FERRY_CONSOLE_MAX_DEPTH deep are refused. */
    size_t n = (size_t)snprintf(deep, sizeof(deep), "x");
    for (int i = 1; i < FERRY_CONSOLE_MAX_DEPTH; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "/x");
    snprintf(deep + n, sizeof(deep) - n, "/f.js");
    puts_(root, deep, "1");
    assert_int_equal(ferry_console_load(root, &c), FERRY_ETOOBIG);
    assert_null(c);
    rm_tree(root);
    free(root);
}

static void test_folder_errors(void **state) {
    (void)state;
    char *root = tmp_root(), file[512];
    ferry_console *c = NULL;
    assert_int_equal(ferry_console_load("/nonexistent/ferry-console", &c), FERRY_ENOTFOUND);
    assert_null(c);
    snprintf(file, sizeof(file), "%s/index.html", root);
    puts_(root, "index.html", "x");
    assert_int_equal(ferry_console_load(file, &c), FERRY_EINVAL); /* not a folder */
    assert_null(c);
    rm_tree(root);
    /* An empty folder is a console of no files: nothing is served, not even /. */
    assert_int_equal(mkdir(root, 0755), 0);
    c = load_ok(root);
    assert_int_equal(ferry_console_count(c), 0);
    assert_null(ferry_console_find(c, "/"));
    ferry_console_free(c);
    rm_tree(root);
    free(root);
}

static void test_types(void **state) {
    (void)state;
    assert_string_equal(ferry_console_type("a.html"), "text/html; charset=utf-8");
    assert_string_equal(ferry_console_type("a.b.css"), "text/css; charset=utf-8");
    assert_null(ferry_console_type("a.HTML"));
    assert_null(ferry_console_type("a"));
    assert_null(ferry_console_type("a."));
    assert_null(ferry_console_type(".js"));
    assert_null(ferry_console_type("a.htm"));
    assert_null(ferry_console_type("a.jsx"));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_skips), cmocka_unit_test(test_etags),
        cmocka_unit_test(test_etag_match),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_folder_errors),   cmocka_unit_test(test_types),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
