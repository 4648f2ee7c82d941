/* ferry-sql-runtime: the program inside a function service's runtime container. It compiles every
 * function's SQL handler at start (any error: one line on stderr, exit 1) and serves
 * POST /{function} (the event as body) and GET /healthz over HTTP/1.1 on a unix socket. The
 * contract (environment, answers) is in runtimes/sql/README.md.
 *
 * Threads: libmicrohttpd runs a pool of threads; each call borrows one "set" of compiled handlers
 * (one SQLite connection and statement per function) from a locked free list and returns it after
 * the run. There are as many sets as pool threads, so a call never waits for one.
 * Stopping: SIGTERM/SIGINT are taken by sigwait in the main thread (blocked everywhere else); the
 * daemon is quiesced (no new connections), calls in flight are given up to 10 s to finish, then
 * it stops and the program exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sqlfn.h"

#define PROG "ferry-sql-runtime"
#define MAX_FUNCTIONS 256
#define MAX_THREADS 4
#define STOP_GRACE_MS 10000

typedef struct {
    char *name;
    char *file; /* the handler's path below the code dir, for messages */
} function;

typedef struct set {
    ferry_sqlfn **fns; /* [nfunctions], in the order of functions */
    struct set *next;
} set;

static const char *service = "";
static function *functions;
static size_t nfunctions;
static set *sets, *free_sets;
static size_t nsets;
static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sets_cond = PTHREAD_COND_INITIALIZER;
static atomic_long in_flight;
static char *health; /* GET /healthz's answer */

/* ---- start ----------------------------------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* A relative path that stays below its folder: no leading '/', no ".." component. "" passes. */
static bool safe_relative(const char *p) {
    if (p[0] == '/')
        return false;
    for (const char *s = p; *s != '\0';) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n;
        s += *s == '/';
    }
    return true;
}

/* The handler file's text (ferry_free), at most FERRY_SQLFN_MAX_SQL bytes, or die. */
static char *read_handler(const function *f, const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t n = 0;

    if (fd < 0 || fstat(fd, &st) != 0)
        die("function '%s': %s: %s", f->name, f->file, strerror(errno));
    if (!S_ISREG(st.st_mode))
        die("function '%s': %s: not a regular file", f->name, f->file);
    if ((buf = ferry_malloc(FERRY_SQLFN_MAX_SQL + 1)) == NULL)
        die("out of memory");
    for (;;) {
        ssize_t r = read(fd, buf + n, FERRY_SQLFN_MAX_SQL + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("function '%s': %s: %s", f->name, f->file, strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > FERRY_SQLFN_MAX_SQL)
            die("function '%s': %s: over %d bytes", f->name, f->file, FERRY_SQLFN_MAX_SQL);
    }
    close(fd);
    *len = n;
    return buf;
}

/* FERRY_FUNCTIONS into functions[], with every handler compiled once per set, or die. */
static void load_functions(const char *code_dir) {
    const char *env = getenv("FERRY_FUNCTIONS");
    json_error_t je;
    json_t *arr = json_loads(env != NULL ? env : "", 0, &je), *names = json_array(), *v;
    size_t i;

    if (arr == NULL || !json_is_array(arr))
        die("FERRY_FUNCTIONS must be a JSON array of {\"name\",\"handler\",\"codedir\"}%s%s",
            arr == NULL ? ": " : "", arr == NULL ? je.text : "");
    if (json_array_size(arr) > MAX_FUNCTIONS)
        die("FERRY_FUNCTIONS: more than %d functions", MAX_FUNCTIONS);
    nfunctions = json_array_size(arr);
    functions = ferry_calloc(nfunctions > 0 ? nfunctions : 1, sizeof(*functions));
    for (i = 0; i < nsets; i++)
        sets[i].fns = ferry_calloc(nfunctions > 0 ? nfunctions : 1, sizeof(ferry_sqlfn *));
    if (functions == NULL || names == NULL)
        die("out of memory");
    json_array_foreach(arr, i, v) {
        function *f = &functions[i];
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *handler = json_string_value(json_object_get(v, "handler"));
        const char *dir = json_string_value(json_object_get(v, "codedir"));
        char *sql, path[4096];
        size_t len = 0;

        if (dir == NULL && json_object_get(v, "codedir") != NULL &&
            !json_is_null(json_object_get(v, "codedir")))
            die("FERRY_FUNCTIONS[%zu]: codedir must be a string", i);
        if (dir == NULL)
            dir = "";
        if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL)
            die("FERRY_FUNCTIONS[%zu]: name must be a non-empty string without '/'", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(functions[k].name, name) == 0)
                die("FERRY_FUNCTIONS: function '%s' twice", name);
        if (handler == NULL || handler[0] == '\0')
            die("function '%s': handler must be a non-empty string (the SQL file)", name);
        if (!safe_relative(handler) || !safe_relative(dir))
            die("function '%s': handler and codedir must be relative paths without '..'", name);
        f->name = ferry_strdup(name);
        if (snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] != '\0' ? "/" : "", handler) >=
            (int)sizeof(path))
            die("function '%s': handler path too long", name);
        f->file = ferry_strdup(path);
        if (snprintf(path, sizeof(path), "%s/%s", code_dir, f->file) >= (int)sizeof(path))
            die("function '%s': handler path too long", name);
        if (f->name == NULL || f->file == NULL || json_array_append_new(names, json_string(name)))
            die("out of memory");
        sql = read_handler(f, path, &len);
        for (size_t s = 0; s < nsets; s++) {
            ferry_detail d;
            char text[sizeof(d.field) + sizeof(d.message) + 4];
            /* the file's base name, as in "function 'f': filter.sql: ..." */
            const char *base = strrchr(handler, '/') != NULL ? strrchr(handler, '/') + 1 : handler;
            if (ferry_sqlfn_compile(sql, len, base, &sets[s].fns[i], &d) != FERRY_OK)
                die("function '%s': %s", name, ferry_detail_text(&d, text, sizeof(text)));
        }
        ferry_free(sql);
    }
    json_t *h = json_pack("{s:b,s:s,s:s,s:o}", "ok", 1, "runtime", "sql", "service", service,
                          "functions", names);
    if (h == NULL || (health = json_dumps(h, JSON_COMPACT)) == NULL)
        die("out of memory");
    json_decref(h);
    json_decref(arr);
}

/* The listening unix socket at path (a stale file is replaced), mode 0666, or die. */
static int listen_unix(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        die("FERRY_SOCKET %s: path too long (at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        die("socket: %s", strerror(errno));
    if (unlink(path) != 0 && errno != ENOENT)
        die("FERRY_SOCKET %s: cannot remove the old file: %s", path, strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("FERRY_SOCKET %s: %s", path, strerror(errno));
    if (chmod(path, 0666) != 0)
        die("FERRY_SOCKET %s: chmod: %s", path, strerror(errno));
    if (listen(fd, 128) != 0)
        die("FERRY_SOCKET %s: listen: %s", path, strerror(errno));
    return fd;
}

/* ---- calls ----------------------------------------------------------------------------------- */

typedef struct {
    char *body;
    size_t len, cap;
    bool too_big;  /* more body than FERRY_SQLFN_MAX_EVENT: dropped, 413 at the end */
    bool answered; /* 413 was queued from Content-Length before the body was read */
} request;

static set *take_set(void) {
    pthread_mutex_lock(&sets_lock);
    while (free_sets == NULL)
        pthread_cond_wait(&sets_cond, &sets_lock);
    set *s = free_sets;
    free_sets = s->next;
    pthread_mutex_unlock(&sets_lock);
    return s;
}

static void give_set(set *s) {
    pthread_mutex_lock(&sets_lock);
    s->next = free_sets;
    free_sets = s;
    pthread_cond_signal(&sets_cond);
    pthread_mutex_unlock(&sets_lock);
}

/* Queue status with len bytes of body (copied; NULL for none) as application/json. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len, const char *invoke_id) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(body != NULL ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (body != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (invoke_id != NULL)
        MHD_add_response_header(resp, "X-Ferry-Invoke-Id", invoke_id);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Queue status with {"error": message}. */
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *message,
                                   const char *invoke_id) {
    json_t *j = json_pack("{s:s}", "error", message);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    enum MHD_Result ret;
    if (text == NULL)
        ret = reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "{\"error\":\"out of memory\"}", 25,
                    invoke_id);
    else
        ret = reply(c, status, text, strlen(text), invoke_id);
    free(text);
    json_decref(j);
    return ret;
}

static enum MHD_Result reply_too_big(struct MHD_Connection *c, const char *invoke_id) {
    char text[128];
    snprintf(text, sizeof(text), "the event is over %d bytes", FERRY_SQLFN_MAX_EVENT);
    return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, text, invoke_id);
}

static const function *find_function(const char *url, size_t *index) {
    if (url[0] != '/')
        return NULL;
    for (size_t i = 0; i < nfunctions; i++) {
        if (strcmp(functions[i].name, url + 1) == 0) {
            *index = i;
            return &functions[i];
        }
    }
    return NULL;
}

/* The invoke id, echoed back, when it is 1-128 printable ASCII characters; else NULL. */
static const char *invoke_id_of(struct MHD_Connection *c) {
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Ferry-Invoke-Id");
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > 128)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x20 || id[i] > 0x7e)
            return NULL;
    return id;
}

static enum MHD_Result call(struct MHD_Connection *c, size_t index, const request *r,
                            const char *invoke_id) {
    const function *f = &functions[index];
    set *s = take_set();
    const char *row = NULL;
    size_t len = 0;
    ferry_detail d;
    enum MHD_Result ret;
    ferry_err err =
        ferry_sqlfn_run(s->fns[index], r->body != NULL ? r->body : "", r->len, &row, &len, &d);

    if (err == FERRY_OK && row != NULL) {
        ret = reply(c, MHD_HTTP_OK, row, len, invoke_id);
    } else if (err == FERRY_OK) {
        ret = reply(c, MHD_HTTP_NO_CONTENT, NULL, 0, invoke_id);
    } else {
        char text[sizeof(d.field) + sizeof(d.message) + 64];
        unsigned status = err == FERRY_EFORMAT   ? MHD_HTTP_BAD_REQUEST
                          : err == FERRY_ETOOBIG ? MHD_HTTP_CONTENT_TOO_LARGE
                          : err == FERRY_EINVAL  ? MHD_HTTP_UNPROCESSABLE_CONTENT
                                                 : MHD_HTTP_INTERNAL_SERVER_ERROR;
        snprintf(text, sizeof(text), "function '%s': %s: %s", f->name, d.field, d.message);
        if (status == MHD_HTTP_UNPROCESSABLE_CONTENT || status >= 500)
            LOG_WARN("%s (invoke id %s)", text, invoke_id != NULL ? invoke_id : "none");
        ret = reply_error(c, status, text, invoke_id);
    }
    give_set(s);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    request *r = *con_cls;
    const char *id = invoke_id_of(c);
    const function *f;
    size_t index = 0;
    (void)cls;
    (void)version;

    if (r == NULL) { /* the first call: headers only */
        if ((r = ferry_calloc(1, sizeof(*r))) == NULL)
            return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&in_flight, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > FERRY_SQLFN_MAX_EVENT) {
            r->answered = true; /* MHD sends it without reading the body, then closes */
            return reply_too_big(c, id);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (r->answered) {
            /* dropped */
        } else if (!r->too_big && r->len + *upload_size > FERRY_SQLFN_MAX_EVENT) {
            r->too_big = true;
        } else if (!r->too_big) {
            if (r->len + *upload_size > r->cap) {
                size_t cap = r->cap > 0 ? r->cap : 4096;
                while (cap < r->len + *upload_size)
                    cap *= 2;
                char *b = ferry_realloc(r->body, cap);
                if (b == NULL)
                    return MHD_NO;
                r->body = b;
                r->cap = cap;
            }
            memcpy(r->body + r->len, upload_data, *upload_size);
            r->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    if (strcmp(url, "/healthz") == 0) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET /healthz", id);
        return reply(c, MHD_HTTP_OK, health, strlen(health), id);
    }
    if ((f = find_function(url, &index)) == NULL) {
        char text[512];
        snprintf(text, sizeof(text), "no function '%.200s' in service '%.200s'",
                 url[0] == '/' ? url + 1 : url, service);
        return reply_error(c, MHD_HTTP_NOT_FOUND, text, id);
    }
    if (strcmp(method, "POST") != 0)
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "call a function with POST", id);
    if (r->too_big)
        return reply_too_big(c, id);
    return call(c, index, r, id);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    request *r = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (r == NULL)
        return;
    ferry_free(r->body);
    ferry_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    LOG_WARN("libmicrohttpd: %s", buf);
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(void) {
    const char *code_dir = getenv("FERRY_CODE_DIR");
    const char *sock = getenv("FERRY_SOCKET");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct MHD_Daemon *daemon = NULL;
    sigset_t stop;
    int fd, sig = 0;

    ferry_log_init(PROG);
    if (getenv("FERRY_SERVICE") != NULL)
        service = getenv("FERRY_SERVICE");
    if (code_dir == NULL || code_dir[0] == '\0')
        code_dir = "/ferry/code";
    if (sock == NULL || sock[0] == '\0')
        sock = "/ferry/run/runtime.sock";
    /* a bound on what all handlers together may allocate in SQLite */
    sqlite3_hard_heap_limit64(512LL * 1024 * 1024);
    nsets = ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (size_t)ncpu;
    if ((sets = ferry_calloc(nsets, sizeof(*sets))) == NULL)
        die("out of memory");
    load_functions(code_dir);
    for (size_t i = 0; i < nsets; i++) {
        sets[i].next = free_sets;
        free_sets = &sets[i];
    }

    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before any thread starts: they inherit it */
    signal(SIGPIPE, SIG_IGN);

    fd = listen_unix(sock);
    daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)nsets,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (daemon == NULL)
        die("cannot start the HTTP server on %s", sock);
    LOG_INFO("service '%s': %zu function(s) on %s, %zu thread(s)", service, nfunctions, sock,
             nsets);

    while (sigwait(&stop, &sig) != 0)
        ;
    LOG_INFO("signal %d: finishing the calls in flight", sig);
    MHD_socket lfd = MHD_quiesce_daemon(daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    unlink(sock);
    for (int waited = 0; atomic_load(&in_flight) > 0 && waited < STOP_GRACE_MS; waited += 10)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    MHD_stop_daemon(daemon);
    for (size_t s = 0; s < nsets; s++) {
        for (size_t i = 0; i < nfunctions; i++)
            ferry_sqlfn_free(sets[s].fns[i]);
        ferry_free(sets[s].fns);
    }
    for (size_t i = 0; i < nfunctions; i++) {
        ferry_free(functions[i].name);
        ferry_free(functions[i].file);
    }
    ferry_free(functions);
    ferry_free(sets);
    free(health);
    return 0;
}
