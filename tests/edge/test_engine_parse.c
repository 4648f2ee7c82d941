/* Unit tests of the parts of the edge-sync engine client that need no engine (engine_wire.c,
 * through its internal header engine_wire.h): image reference splitting, X-Registry-Auth
 * encoding, the in-memory tar of the pause image, log demultiplexing, progress stream parsing,
 * engine error messages and request paths; and ferry_engine_open without an engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "engine.h"
#include "engine_wire.h"

static void test_split_image_ref(void **state) {
    (void)state;
    static const struct {
        const char *in, *repo, *tag;
    } ok[] = {
        {"busybox", "busybox", "latest"},
        {"ferry-test/busybox:1", "ferry-test/busybox", "1"},
        {"127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b", "1"},
        {"127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b", "latest"},
        {"localhost:5000/b@sha256:0123abcd", "localhost:5000/b", "sha256:0123abcd"},
        {"a/b:1@sha256:0123abcd", "a/b", "sha256:0123abcd"},
        {"docker.io/library/nginx:1.25-alpine", "docker.io/library/nginx", "1.25-alpine"},
    };
    char repo[64], tag[32];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(
            ferry_engine__split_image_ref(ok[i].in, repo, sizeof(repo), tag, sizeof(tag)),
            FERRY_OK);
        assert_string_equal(repo, ok[i].repo);
        assert_string_equal(tag, ok[i].tag);
    }
    static const char *const bad[] = {"", ":1", "a:", "a@", "@sha256:1", "host:5000/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            ferry_engine__split_image_ref(bad[i], repo, sizeof(repo), tag, sizeof(tag)),
            FERRY_EINVAL);
    assert_int_equal(
        ferry_engine__split_image_ref("a-very-long-repository-name-indeed:1", repo, 8, tag, 8),
        FERRY_ETOOBIG);
    assert_int_equal(ferry_engine__split_image_ref("a:a-very-long-tag", repo, 8, tag, 8),
                     FERRY_ETOOBIG);
}

static void test_registry_host(void **state) {
    (void)state;
    assert_false(ferry_engine__has_registry_host("busybox"));
    assert_false(ferry_engine__has_registry_host("ferry/pause"));
    assert_false(ferry_engine__has_registry_host("my-org/a/b"));
    assert_true(ferry_engine__has_registry_host("127.0.0.1:5000/a/b"));
    assert_true(ferry_engine__has_registry_host("quay.io/a"));
    assert_true(ferry_engine__has_registry_host("localhost/a"));
    assert_true(ferry_engine__has_registry_host("registry:5000/a"));

    assert_true(ferry_engine__loopback_registry("127.0.0.1:5000/a/b"));
    assert_true(ferry_engine__loopback_registry("127.1.2.3/a"));
    assert_true(ferry_engine__loopback_registry("localhost:5000/a"));
    assert_true(ferry_engine__loopback_registry("localhost/a"));
    assert_false(ferry_engine__loopback_registry("127.0.0.1.example.com/a"));
    assert_false(ferry_engine__loopback_registry("localhost.example.com:5000/a"));
    assert_false(ferry_engine__loopback_registry("10.0.0.1:5000/a"));
    assert_false(ferry_engine__loopback_registry("localhost"));
    assert_false(ferry_engine__loopback_registry("my-org/a"));
}

static void test_base64url(void **state) {
    (void)state;
    static const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *s = ferry_engine__base64url(bytes, sizeof(bytes));
    assert_string_equal(s, "-_-_");
    ferry_free(s);
    s = ferry_engine__base64url("ab", 2); /* padded, as Go's base64.URLEncoding expects */
    assert_string_equal(s, "YWI=");
    ferry_free(s);
    static const char auth[] = "{\"username\":\"u\",\"password\":\"p\"}";
    s = ferry_engine__base64url(auth, strlen(auth));
    assert_string_equal(s, "eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ==");
    ferry_free(s);
}

static unsigned long long octal(const char *p, size_t n) {
    unsigned long long v = 0;
    for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
        v = v * 8 + (unsigned long long)(p[i] - '0');
    return v;
}

static void test_tar_one_file(void **state) {
    (void)state;
    char data[700];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    size_t len = 0;
    char *tar = ferry_engine__tar_one_file("pause", data, sizeof(data), &len);
    assert_non_null(tar);
    assert_int_equal(len, 512 + 1024 + 1024); /* header, 2 data blocks, 2 end blocks */
    assert_string_equal(tar, "pause");
    assert_int_equal(octal(tar + 100, 8), 0755);
    assert_int_equal(octal(tar + 124, 12), sizeof(data));
    assert_int_equal(tar[156], '0');
    assert_memory_equal(tar + 257,
                        "ustar\0"
                        "00",
                        8);
    /* the checksum: the header's bytes summed with the checksum field read as spaces */
    unsigned long sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += i >= 148 && i < 156 ? (unsigned char)' ' : (unsigned char)tar[i];
    assert_int_equal(octal(tar + 148, 8), sum);
    assert_memory_equal(tar + 512, data, sizeof(data));
    for (size_t i = 512 + sizeof(data); i < len; i++)
        assert_int_equal(tar[i], 0);
    ferry_free(tar);

    assert_null(ferry_engine__tar_one_file(
        "a-name-longer-than-the-one-hundred-bytes-that-the-ustar-name-field-"
        "holds-is-refused-outright-xxxxxxxxxxxxxxxxxxxxx",
        data, 1, &len));
}

static void test_demux_logs(void **state) {
    (void)state;
    static const unsigned char frames[] = {1,    0,    0, 0, 0, 0, 0, 4, 'o', 'u', 't',
                                           '\n', 2,    0, 0, 0, 0, 0, 0, 4,   'e', 'r',
                                           'r',  '\n', 1, 0, 0, 0, 0, 0, 0,   0};
    char out[sizeof(frames) + 1];
    assert_int_equal(ferry_engine__demux_logs(frames, sizeof(frames), out), 8);
    assert_string_equal(out, "out\nerr\n");

    /* a frame cut short keeps what arrived */
    assert_int_equal(ferry_engine__demux_logs(frames, 10, out), 2);
    assert_string_equal(out, "ou");
    /* a header cut short, or bytes that are no header, end the stream */
    assert_int_equal(ferry_engine__demux_logs(frames, 16, out), 4);
    assert_string_equal(out, "out\n");
    static const unsigned char junk[] = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
    assert_int_equal(ferry_engine__demux_logs(junk, sizeof(junk), out), 0);
    assert_string_equal(out, "");
    /* a declared length past the end */
    static const unsigned char big[] = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'x'};
    assert_int_equal(ferry_engine__demux_logs(big, sizeof(big), out), 1);
    assert_string_equal(out, "x");
}

/* Feed a progress stream to ferry_engine__resp_write in awkward chunks. */
static void feed(ferry_engine__resp *b, const char *s, size_t chunk) {
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i += chunk) {
        size_t n = len - i < chunk ? len - i : chunk;
        assert_int_equal(ferry_engine__resp_write((char *)s + i, 1, n, b), n);
    }
}

static void test_progress_stream(void **state) {
    (void)state;
    static const char ok[] = "{\"status\":\"Pulling from a/b\",\"id\":\"1\"}\r\n"
                             "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1}}\n"
                             "\n"
                             "not json at all\n"
                             "{\"status\":\"Status: Downloaded newer image for a/b:1\"}\n";
    for (size_t chunk = 1; chunk < sizeof(ok); chunk += 7) {
        ferry_engine__stream s = {{0}, {0}, 0};
        ferry_engine__resp b = {.on_line = ferry_engine__stream_line, .ctx = &s};
        feed(&b, ok, chunk);
        assert_int_equal(s.lines, 5);
        assert_string_equal(s.error, "");
        ferry_engine__resp_free(&b);
    }

    /* Podman: 200 and the error in the stream, both as "error" and "errorDetail" */
    static const char podman[] =
        "{\"progressDetail\":{},\"errorDetail\":{\"message\":\"initializing source: boom\"},"
        "\"error\":\"initializing source: boom\"}\n";
    ferry_engine__stream s = {{0}, {0}, 0};
    ferry_engine__resp b = {.on_line = ferry_engine__stream_line, .ctx = &s};
    feed(&b, podman, 5);
    assert_string_equal(s.error, "initializing source: boom");
    ferry_engine__resp_free(&b);

    /* only errorDetail; then a later error does not overwrite the first */
    memset(&s, 0, sizeof(s));
    feed(&b, "{\"errorDetail\":{\"message\":\"first\"}}\n{\"error\":\"second\"}\n", 3);
    assert_string_equal(s.error, "first");
    ferry_engine__resp_free(&b);

    /* Docker: an early failure is one object with "message" and no newline */
    memset(&s, 0, sizeof(s));
    feed(&b, "{\"message\":\"pull access denied for x\"}", 64);
    assert_int_equal(s.lines, 0);
    ferry_engine__stream_line(b.ctx, b.data, b.len); /* what engine.c's http() does at the end */
    assert_string_equal(s.message, "pull access denied for x");
    ferry_engine__resp_free(&b);
}

static void test_line_cap(void **state) {
    (void)state;
    ferry_engine__stream s = {{0}, {0}, 0};
    ferry_engine__resp b = {.on_line = ferry_engine__stream_line, .ctx = &s};
    char *chunk = ferry_malloc(64 * 1024);
    assert_non_null(chunk);
    memset(chunk, 'x', 64 * 1024);
    size_t fed = 0, rc;
    do {
        rc = ferry_engine__resp_write(chunk, 1, 64 * 1024, &b);
        fed += rc;
    } while (rc != 0 && fed < 4 * FERRY_ENGINE_LINE_CAP);
    assert_int_equal(rc, 0); /* a line without end is refused at the cap */
    assert_true(b.overflow);
    ferry_free(chunk);
    ferry_engine__resp_free(&b);
}

static void test_engine_message(void **state) {
    (void)state;
    char msg[64];
    ferry_engine__resp b = {0};
    static const char body[] = "{\"message\":\"No such image: a:1\\n\"}";
    assert_true(ferry_engine__resp_append(&b, body, strlen(body), 1024));
    ferry_engine__message(&b, 404, msg, sizeof(msg));
    assert_string_equal(msg, "No such image: a:1");
    ferry_engine__resp_free(&b);
    assert_true(ferry_engine__resp_append(&b, "page not found\n", 15, 1024));
    ferry_engine__message(&b, 404, msg, sizeof(msg));
    assert_string_equal(msg, "page not found");
    ferry_engine__resp_free(&b);
    ferry_engine__message(&b, 500, msg, sizeof(msg));
    assert_string_equal(msg, "engine answered HTTP 500");
    ferry_engine__message(&b, 500, NULL, 0); /* no buffer: nothing to do */
}

static void test_build_path(void **state) {
    (void)state;
    char path[64];
    assert_int_equal(ferry_engine__build_path(path, sizeof(path), "/images/%s/json", "a/b:1"),
                     FERRY_OK);
    assert_string_equal(path, "/images/a%2Fb%3A1/json");
    assert_int_equal(
        ferry_engine__build_path(path, sizeof(path), "/x?f=%s&t=%s", "{\"l\":[\"k=v\"]}", "9"),
        FERRY_OK);
    assert_string_equal(path, "/x?f=%7B%22l%22%3A%5B%22k%3Dv%22%5D%7D&t=9");
    assert_int_equal(ferry_engine__build_path(path, 12, "/containers/%s/json", "abc"),
                     FERRY_ETOOBIG);
    assert_int_equal(ferry_engine__build_path(path, 8, "/containers/json", "abc"), FERRY_ETOOBIG);
}

static void test_open_without_engine(void **state) {
    (void)state;
    ferry_engine *e = (ferry_engine *)1;
    assert_int_equal(ferry_engine_open("/nonexistent/ferry-test.sock", &e), FERRY_EIO);
    assert_null(e);
    ferry_engine_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_image_ref), cmocka_unit_test(test_registry_host),
        cmocka_unit_test(test_base64url),       cmocka_unit_test(test_tar_one_file),
        cmocka_unit_test(test_demux_logs),      cmocka_unit_test(test_progress_stream),
        cmocka_unit_test(test_line_cap),        cmocka_unit_test(test_engine_message),
        cmocka_unit_test(test_build_path),      cmocka_unit_test(test_open_without_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
