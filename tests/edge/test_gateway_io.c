/* The node gateway over real sockets (integration): the gateway in this process, a fake runtime
 * on unix sockets and a fake container service on TCP, both threads of this test, and clients
 * over plain sockets. Synchronisation polls with deadlines; the only sleeps are the fake
 * upstream's own slowness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

/* ---- the fake upstream --------------------------------------------------------------------- */

typedef struct {
    int lfd;
    pthread_t thread;
    pthread_mutex_t mu;
    int accepted;         /* connections accepted */
    char last_head[4096]; /* the last request's head */
} fake;

typedef struct {
    fake *f;
    int fd;
} fake_conn;

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool write_all(int fd, const void *p, size_t n) {
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read one HTTP message (head + Content-Length body) from fd into buf; returns its total length,
 * head_len the head's (with the blank line); -1 on EOF/error. Test code: a minimal reader. */
static ssize_t read_message(int fd, char *buf, size_t cap, size_t *head_len, size_t *have) {
    size_t len = *have;
    char *end;
    for (;;) {
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL)
            break;
        if (len + 1 >= cap)
            return -1;
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    *head_len = (size_t)(end + 4 - buf);
    size_t clen = 0;
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl != NULL && cl < end)
        clen = strtoul(cl + 17, NULL, 10);
    size_t total = *head_len + clen;
    if (total + 1 > cap)
        return -1;
    while (len < total) {
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    *have = len - total; /* bytes of the next message, moved to the front by the caller */
    return (ssize_t)total;
}

static void *fake_serve(void *arg) {
    fake_conn *fc = arg;
    fake *f = fc->f;
    int fd = fc->fd;
    free(fc);
    size_t cap = 8 * 1024 * 1024;
    char *buf = malloc(cap);
    size_t have = 0, head_len;
    ssize_t n;
    while ((n = read_message(fd, buf, cap, &head_len, &have)) > 0) {
        pthread_mutex_lock(&f->mu);
        size_t hl = head_len < sizeof(f->last_head) ? head_len : sizeof(f->last_head) - 1;
        memcpy(f->last_head, buf, hl);
        f->last_head[hl] = '\0';
        pthread_mutex_unlock(&f->mu);
        char head[1024];
        const char *body = buf + head_len;
        size_t blen = (size_t)n - head_len;
        char ctype[256] = "text/plain";
        const char *ct = strcasestr(buf, "\r\ncontent-type: ");
        if (ct != NULL && ct < buf + head_len)
            sscanf(ct + 16, "%255[^\r]", ctype);
        int status = 200;
        if (strncmp(buf, "POST /fail ", 11) == 0) {
            status = 500;
            body = "Traceback (most recent call last):\n  ZeroDivisionError\n";
            blen = strlen(body);
            strcpy(ctype, "text/plain");
        } else if (strncmp(buf, "POST /slow ", 11) == 0) {
            msleep(1500);
        } else if (strncmp(buf, "POST /nap ", 10) == 0) {
            msleep(300);
        } else if (strncmp(buf, "POST ", 5) != 0) {
            body = buf; /* proxied: echo the head */
            blen = head_len;
        }
        int hn = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d X\r\nContent-Type: %s\r\nX-Upstream: 1\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          status, ctype, blen);
        if (!write_all(fd, head, (size_t)hn) || !write_all(fd, body, blen))
            break;
        memmove(buf, buf + n, have);
    }
    free(buf);
    close(fd);
    return NULL;
}

static void *fake_accept(void *arg) {
    fake *f = arg;
    for (;;) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            break;
        pthread_mutex_lock(&f->mu);
        f->accepted++;
        pthread_mutex_unlock(&f->mu);
        fake_conn *fc = malloc(sizeof(*fc));
        fc->f = f;
        fc->fd = fd;
        pthread_t t;
        pthread_create(&t, NULL, fake_serve, fc);
        pthread_detach(t);
    }
    return NULL;
}

static void fake_start(fake *f, int lfd) {
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    f->lfd = lfd;
    assert_int_equal(listen(lfd, 64), 0);
    pthread_create(&f->thread, NULL, fake_accept, f);
}

static void fake_stop(fake *f) {
    shutdown(f->lfd, SHUT_RDWR);
    pthread_join(f->thread, NULL);
    close(f->lfd);
}

static int fake_accepted(fake *f) {
    pthread_mutex_lock(&f->mu);
    int n = f->accepted;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* ---- fixtures -------------------------------------------------------------------------------- */

typedef struct {
    char dir[64];
    char sock[512];    /* the runtime's socket, in a folder deep enough to exceed sun_path */
    char missing[512]; /* a socket nobody listens on */
    fake runtime, web;
    int web_port;
    ferry_gateway *gw;
} env;

static const char *const fns[] = {"echo", "fail", "slow", "nap"};

static void set_routes(env *e, bool with_web) {
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", e->web_port);
    ferry_gateway_route routes[] = {
        {.service = "fn",
         .ns = "default",
         .app = "fa",
         .function = true,
         .socket = e->sock,
         .functions = fns,
         .nfunctions = 4,
         .timeout_ms = 800,
         .monitor_qps = true},
        {.service = "down",
         .ns = "default",
         .app = "fb",
         .function = true,
         .socket = e->missing,
         .functions = fns,
         .nfunctions = 1,
         .timeout_ms = 1000,
         .monitor_qps = true},
        {.service = "web",
         .ns = "default",
         .app = "w",
         .function = false,
         .target = target,
         .monitor_qps = true},
        {.service = "BAD", .ns = "default", .app = "x", .function = true, .socket = e->sock},
    };
    ferry_gateway_set_routes(e->gw, routes, with_web ? 4 : 2);
}

static int setup(void **state) {
    env *e = calloc(1, sizeof(*e));
    strcpy(e->dir, "/tmp/ferry-gw-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    /* A path longer than sun_path (108 bytes). */
    char deep[256];
    snprintf(deep, sizeof(deep), "%s/%s", e->dir,
             "a-very-long-folder-name-to-push-the-socket-path-past-the-108-bytes-of-sun_path-xx");
    assert_int_equal(mkdir(deep, 0700), 0);
    snprintf(e->sock, sizeof(e->sock), "%s/runtime.sock", deep);
    snprintf(e->missing, sizeof(e->missing), "%s/missing.sock", e->dir);
    assert_true(strlen(e->sock) > 108);

    int ufd = socket(AF_UNIX, SOCK_STREAM, 0);
    char old[PATH_MAX];
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir(deep), 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, "runtime.sock");
    assert_int_equal(bind(ufd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(chdir(old), 0);
    fake_start(&e->runtime, ufd);

    int tfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(tfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t sl = sizeof(sin);
    getsockname(tfd, (struct sockaddr *)&sin, &sl);
    e->web_port = ntohs(sin.sin_port);
    fake_start(&e->web, tfd);

    const char *addrs[] = {"127.0.0.1", "127.0.0.2"};
    ferry_gateway_opts o = {.addresses = addrs, .naddresses = 2, .port = 0};
    char why[256];
    assert_int_equal(ferry_gateway_start(&o, &e->gw, why, sizeof(why)), FERRY_OK);
    assert_true(ferry_gateway_port(e->gw) > 0);
    set_routes(e, true);
    *state = e;
    return 0;
}

static int teardown(void **state) {
    env *e = *state;
    ferry_gateway_stop(e->gw);
    fake_stop(&e->runtime);
    fake_stop(&e->web);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
    return 0;
}

/* ---- the client ------------------------------------------------------------------------------ */

static int dial(env *e, const char *addr) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)ferry_gateway_port(e->gw))};
    inet_pton(AF_INET, addr, &sin.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

typedef struct {
    int status;
    char head[4096];
    char *body;
    size_t body_len;
} resp;

static char rbuf[8 * 1024 * 1024];
/* Bytes of the next response that came with the last one (pipelined answers can arrive in one
 * read), at the front of rbuf, and the connection they came on. */
static size_t rbuf_have;
static int rbuf_fd = -1;

/* Read one response from fd; status -1 when the connection closed first. */
static void get_response(int fd, resp *r) {
    size_t have = fd == rbuf_fd ? rbuf_have : 0, head_len;
    ssize_t n = read_message(fd, rbuf, sizeof(rbuf), &head_len, &have);
    memset(r, 0, sizeof(*r));
    rbuf_fd = -1;
    if (n < 0) {
        r->status = -1;
        return;
    }
    sscanf(rbuf, "HTTP/1.1 %d", &r->status);
    size_t hl = head_len < sizeof(r->head) ? head_len : sizeof(r->head) - 1;
    memcpy(r->head, rbuf, hl);
    r->body_len = (size_t)n - head_len;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, rbuf + head_len, r->body_len);
    r->body[r->body_len] = '\0';
    memmove(rbuf, rbuf + n, have); /* the next response's first bytes, kept for fd */
    rbuf_have = have;
    rbuf_fd = fd;
}

static void call(int fd, const char *method, const char *path, const char *ctype, const void *body,
                 size_t blen, resp *r) {
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: gw\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "X-Test: yes\r\nConnection: keep-alive\r\n\r\n",
                     method, path, ctype, blen);
    assert_true(write_all(fd, head, (size_t)n));
    if (blen > 0)
        assert_true(write_all(fd, body, blen));
    get_response(fd, r);
}

static int one_call(env *e, const char *method, const char *path, resp *r) {
    int fd = dial(e, "127.0.0.1");
    call(fd, method, path, "application/json", "{\"a\":1}", 7, r);
    close(fd);
    return r->status;
}

static bool closed_by_peer(int fd) {
    char c;
    int64_t until = mono_ms() + 3000;
    while (mono_ms() < until) {
        ssize_t n = recv(fd, &c, 1, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
    return false;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_function_json_and_raw(void **state) {
    env *e = *state;
    resp r;
    int fd = dial(e, "127.0.0.2");
    call(fd, "POST", "/fn/echo", "application/json", "{\"x\":[1,2]}", 11, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"x\":[1,2]}");
    assert_non_null(strcasestr(r.head, "Content-Type: application/json\r\n"));
    assert_null(strcasestr(r.head, "X-Upstream")); /* only Content-Type is relayed */
    free(r.body);
    pthread_mutex_lock(&e->runtime.mu);
    assert_true(strncmp(e->runtime.last_head, "POST /echo HTTP/1.1\r\n", 21) == 0);
    assert_non_null(strcasestr(e->runtime.last_head, "\r\nX-Ferry-Invoke-Id: "));
    pthread_mutex_unlock(&e->runtime.mu);

    unsigned char raw[256];
    for (int i = 0; i < 256; i++)
        raw[i] = (unsigned char)i;
    call(fd, "POST", "/fn/echo", "application/octet-stream", raw, sizeof(raw), &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, sizeof(raw));
    assert_memory_equal(r.body, raw, sizeof(raw));
    free(r.body);
    close(fd);
}

static void test_errors_404_405_500(void **state) {
    env *e = *state;
    resp r;
    assert_int_equal(one_call(e, "POST", "/nope/echo", &r), 404);
    assert_string_equal(r.body, "{\"error\": \"no service 'nope' on this node\"}\n");
    free(r.body);
    assert_int_equal(one_call(e, "POST", "/fn/other", &r), 404);
    assert_string_equal(r.body, "{\"error\": \"no function 'other' in service 'fn'\"}\n");
    free(r.body);
    assert_int_equal(one_call(e, "GET", "/fn/echo", &r), 405);
    free(r.body);
    assert_int_equal(one_call(e, "POST", "/fn/fail", &r), 500);
    assert_non_null(strstr(r.body, "Traceback"));
    free(r.body);
    /* Invalid route names were left out. */
    assert_int_equal(one_call(e, "POST", "/BAD/echo", &r), 404);
    free(r.body);
}

static void test_timeout_504(void **state) {
    env *e = *state;
    resp r;
    int64_t t0 = mono_ms();
    assert_int_equal(one_call(e, "POST", "/fn/slow", &r), 504);
    int64_t took = mono_ms() - t0;
    assert_non_null(strstr(r.body, "'slow'"));
    assert_non_null(strstr(r.body, "800 ms"));
    assert_true(took >= 750 && took < 3000); /* the runtime would answer 200 at 1.5 s */
    free(r.body);
}

static void test_runtime_down_503(void **state) {
    env *e = *state;
    resp r;
    int64_t t0 = mono_ms();
    assert_int_equal(one_call(e, "POST", "/down/echo", &r), 503);
    assert_non_null(strstr(r.body, "the runtime of service 'down' is not running"));
    assert_true(mono_ms() - t0 < 2500); /* within the route's 1 s timeout, give or take load */
    free(r.body);
}

static void test_proxy(void **state) {
    env *e = *state;
    resp r;
    int fd = dial(e, "127.0.0.1");
    call(fd, "GET", "/web/a/b?x=1&y=%20", "text/plain", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "GET /a/b?x=1&y=%20 HTTP/1.1\r\n", 29) == 0);
    assert_non_null(strstr(r.body, "\r\nX-Test: yes\r\n"));
    assert_null(strcasestr(r.body, "\r\nConnection:"));
    assert_non_null(strstr(r.head, "X-Upstream: 1\r\n")); /* proxied headers are relayed */
    free(r.body);
    call(fd, "PUT", "/web", "text/plain", "hello", 5, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "PUT / HTTP/1.1\r\n", 16) == 0);
    free(r.body);
    call(fd, "GET", "/web?q", "text/plain", NULL, 0, &r);
    assert_true(strncmp(r.body, "GET /?q HTTP/1.1\r\n", 18) == 0);
    free(r.body);
    close(fd);
}

static void test_keepalive_reuse_and_pipelining(void **state) {
    env *e = *state;
    resp r;
    int fd = dial(e, "127.0.0.1");
    call(fd, "POST", "/fn/echo", "text/plain", "0", 1, &r);
    free(r.body);
    int before = fake_accepted(&e->runtime);
    for (int i = 0; i < 50; i++) {
        call(fd, "POST", "/fn/echo", "text/plain", "abc", 3, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "abc");
        free(r.body);
    }
    assert_int_equal(fake_accepted(&e->runtime), before); /* the pooled connection served all */
    /* Two requests in one write: two answers, in order. */
    const char two[] = "POST /fn/echo HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
                       "POST /fn/echo HTTP/1.1\r\nContent-Length: 3\r\n\r\ntwo";
    assert_true(write_all(fd, two, sizeof(two) - 1));
    get_response(fd, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "one");
    free(r.body);
    get_response(fd, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "two");
    free(r.body);
    close(fd);
}

static void test_limits_413_and_garbage_400(void **state) {
    env *e = *state;
    resp r;
    int fd = dial(e, "127.0.0.1");
    const char big[] = "POST /fn/echo HTTP/1.1\r\nContent-Length: 7000000\r\n\r\n";
    assert_true(write_all(fd, big, sizeof(big) - 1));
    get_response(fd, &r);
    assert_int_equal(r.status, 413);
    free(r.body);
    assert_true(closed_by_peer(fd));
    close(fd);

    fd = dial(e, "127.0.0.1");
    const char junk[] = "\x16\x03\x01 hello garbage\r\n\r\n";
    assert_true(write_all(fd, junk, sizeof(junk) - 1));
    get_response(fd, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"error\""));
    free(r.body);
    assert_true(closed_by_peer(fd));
    close(fd);

    /* A head over 16 KiB: 431. */
    fd = dial(e, "127.0.0.1");
    char *longhead = malloc(20000);
    int n = snprintf(longhead, 20000, "GET /web/ HTTP/1.1\r\nX-Big: %0*d\r\n\r\n", 17000, 0);
    assert_true(write_all(fd, longhead, (size_t)n));
    get_response(fd, &r);
    assert_int_equal(r.status, 431);
    free(r.body);
    free(longhead);
    close(fd);
}

typedef struct {
    env *e;
    int status;
    char body[64];
} bg_call;

static void *bg_nap(void *arg) {
    bg_call *b = arg;
    resp r;
    b->status = one_call(b->e, "POST", "/fn/nap", &r);
    if (r.body != NULL)
        snprintf(b->body, sizeof(b->body), "%s", r.body);
    free(r.body);
    return NULL;
}

static void test_set_routes_in_flight(void **state) {
    env *e = *state;
    bg_call b[4];
    pthread_t t[4];
    int before = fake_accepted(&e->runtime);
    for (int i = 0; i < 4; i++) {
        b[i].e = e;
        pthread_create(&t[i], NULL, bg_nap, &b[i]);
    }
    /* Wait until the four calls reached the runtime (each on its own upstream connection). */
    int64_t until = mono_ms() + 3000;
    while (fake_accepted(&e->runtime) < before + 4 && mono_ms() < until)
        msleep(5);
    set_routes(e, false); /* web leaves, fn stays */
    resp r;
    assert_int_equal(one_call(e, "GET", "/web/", &r), 404);
    free(r.body);
    set_routes(e, true);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(b[i].status, 200);
        assert_string_equal(b[i].body, "{\"a\":1}");
    }
    assert_int_equal(one_call(e, "GET", "/web/", &r), 200);
    free(r.body);
}

static const ferry_gateway_series *find_series(const ferry_gateway_series *s, size_t n,
                                               const char *service, const char *function) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].service, service) == 0 && strcmp(s[i].function, function) == 0)
            return &s[i];
    return NULL;
}

static uint64_t hist_total(const ferry_gateway_series *s) {
    uint64_t t = 0;
    for (int i = 0; i < FERRY_STATS_BUCKETS; i++)
        t += s->latency[i];
    return t;
}

static void test_stats(void **state) {
    env *e = *state;
    resp r;
    const char *calls[][2] = {{"POST", "/fn/echo"},   {"POST", "/fn/echo"}, {"POST", "/fn/fail"},
                              {"POST", "/fn/slow"},   {"POST", "/fn/zzz"},  {"GET", "/fn/echo"},
                              {"POST", "/down/echo"}, {"GET", "/web/x"},    {"POST", "/nope/x"}};
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        one_call(e, calls[i][0], calls[i][1], &r);
        free(r.body);
    }
    ferry_gateway_series *s = NULL;
    size_t n = 0;
    int64_t start = 0;
    /* A call is counted once its answer is written: poll until the last one is in. */
    const ferry_gateway_series *web = NULL;
    int64_t until = mono_ms() + 3000;
    for (;;) {
        assert_int_equal(ferry_gateway_stats(e->gw, &s, &n, &start), FERRY_OK);
        web = find_series(s, n, "web", "*");
        if ((web != NULL && web->requests == 1) || mono_ms() > until)
            break;
        ferry_gateway_stats_free(s, n);
        msleep(5);
    }
    assert_true(start > 0);
    const ferry_gateway_series *echo = find_series(s, n, "fn", "echo");
    const ferry_gateway_series *fail = find_series(s, n, "fn", "fail");
    const ferry_gateway_series *slow = find_series(s, n, "fn", "slow");
    const ferry_gateway_series *miss = find_series(s, n, "fn", "*");
    const ferry_gateway_series *down = find_series(s, n, "down", "echo");
    assert_non_null(echo);
    assert_non_null(fail);
    assert_non_null(slow);
    assert_non_null(miss);
    assert_non_null(down);
    assert_non_null(web);
    assert_string_equal(echo->ns, "default");
    assert_string_equal(echo->app, "fa");
    assert_int_equal(echo->requests, 2);
    assert_int_equal(echo->success, 2);
    assert_int_equal(fail->server_errors, 1);
    assert_int_equal(slow->timeouts, 1);
    assert_int_equal(miss->requests, 2);
    assert_int_equal(miss->client_errors, 2);
    assert_int_equal(down->server_errors, 1);
    assert_int_equal(web->success, 1);
    assert_null(find_series(s, n, "nope", "x"));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].requests,
                         s[i].success + s[i].client_errors + s[i].server_errors + s[i].timeouts);
        assert_int_equal(hist_total(&s[i]), s[i].requests);
    }
    uint64_t slow_ones = 0; /* the timeout answered after 800 ms */
    for (int k = ferry_stats_bucket(799000); k < FERRY_STATS_BUCKETS; k++)
        slow_ones += slow->latency[k];
    assert_int_equal(slow_ones, 1);
    ferry_gateway_stats_free(s, n);

    /* web leaves the table: reported once more, then forgotten. */
    set_routes(e, false);
    assert_int_equal(ferry_gateway_stats(e->gw, &s, &n, NULL), FERRY_OK);
    assert_non_null(find_series(s, n, "web", "*"));
    ferry_gateway_stats_free(s, n);
    assert_int_equal(ferry_gateway_stats(e->gw, &s, &n, NULL), FERRY_OK);
    assert_null(find_series(s, n, "web", "*"));
    assert_non_null(find_series(s, n, "fn", "echo"));
    ferry_gateway_stats_free(s, n);
}

static void test_many_connections(void **state) {
    env *e = *state;
    enum { N = 64 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = dial(e, "127.0.0.1");
    /* A slow client (half a request) does not block the others. */
    assert_true(write_all(fds[0], "POST /fn/echo HTTP/1.1\r\nContent-Len", 35));
    for (int i = 1; i < N; i++) {
        resp r;
        call(fds[i], "POST", "/fn/echo", "text/plain", "x", 1, &r);
        assert_int_equal(r.status, 200);
        free(r.body);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    ferry_log_threshold = FERRY_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_function_json_and_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_404_405_500, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_504, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_down_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_reuse_and_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_413_and_garbage_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_routes_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_connections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
