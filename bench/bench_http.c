/* bench_http: a closed-loop HTTP/1.1 load client for the function benchmarks
 * (bench/bench_functions.py). N threads, each with its own keep-alive connection, send the same
 * POST (Content-Length body) one after the other for a fixed time and time every call; the
 * answers must carry Content-Length (or be 204/304). The target is TCP host:port or a unix
 * socket path, so the node gateway and a runtime's socket are measured with the same client.
 * Prints one JSON line: {"calls", "errors", "calls_per_s", "p50_ms", "p99_ms", "client_cpu_us"
 * (this process's user+system CPU per answer, warm-up included), ...}.
 *
 * usage: bench_http (--tcp HOST:PORT | --unix PATH) [--path /svc/fn] [--body TEXT]
 *                   [--content-type TYPE] [--conns N] [--seconds S] [--warmup S] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (1 << 20)

typedef struct {
    const char *tcp_host;
    int tcp_port;
    const char *unix_path;
    char *request; /* the whole request, sent as is every call */
    size_t request_len;
    double seconds, warmup;
} config;

typedef struct {
    const config *cfg;
    pthread_t thread;
    double *lat; /* seconds per successful call, in the measured window */
    size_t n, cap;
    long errors, reconnects;
    long answered;     /* every answer, warm-up included (for the CPU per call) */
    const char *fatal; /* why the thread stopped early, or NULL */
    int last_status;
} worker;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_target(const config *cfg) {
    int fd;
    if (cfg->unix_path != NULL) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(cfg->unix_path) >= sizeof(sa.sun_path))
            return -1;
        strcpy(sa.sun_path, cfg->unix_path);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->tcp_port)};
    if (inet_pton(AF_INET, cfg->tcp_host, &sa.sin_addr) != 1)
        return -1;
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* Reads one response on fd into buf (RESP_MAX). Returns its status, 0 when the connection
 * closed before any byte (a keep-alive connection the server dropped), -1 on an error (*why
 * says what). *close_after is set when the server said Connection: close. */
static int read_response(int fd, char *buf, bool *close_after, const char **why) {
    size_t have = 0;
    char *end = NULL;
    *close_after = false;
    while (end == NULL) {
        if (have + 1 >= RESP_MAX) {
            *why = "response headers too long";
            return -1;
        }
        ssize_t r = recv(fd, buf + have, RESP_MAX - 1 - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *why = "connection closed in the middle of a response";
            return have == 0 ? 0 : -1;
        }
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        *why = "not an HTTP/1.x response";
        return -1;
    }
    long clen = -1;
    for (char *line = strstr(buf, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        char *h = line + 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = strtol(h + 15, NULL, 10);
        else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0) {
            *why = "chunked responses are not supported";
            return -1;
        } else if (strncasecmp(h, "Connection:", 11) == 0 && strstr(h, "close") != NULL &&
                   strstr(h, "close") < strstr(h, "\r\n"))
            *close_after = true;
    }
    if (clen < 0) {
        if (status == 204 || status == 304 || (status >= 100 && status < 200))
            clen = 0;
        else {
            *why = "response without Content-Length";
            return -1;
        }
    }
    size_t want = (size_t)(end + 4 - buf) + (size_t)clen;
    if (want >= RESP_MAX) {
        *why = "response too long";
        return -1;
    }
    while (have < want) {
        ssize_t r = recv(fd, buf + have, RESP_MAX - 1 - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *why = "connection closed in the middle of a body";
            return -1;
        }
        have += (size_t)r;
    }
    if (have > want) {
        *why = "more bytes than the response (pipelining is not used)";
        return -1;
    }
    return status;
}

static void *run_worker(void *arg) {
    worker *w = arg;
    const config *cfg = w->cfg;
    char *buf = malloc(RESP_MAX);
    int fd = -1;
    double start = now_s(), measure_from = start + cfg->warmup, stop = measure_from + cfg->seconds;
    if (buf == NULL) {
        w->fatal = "out of memory";
        return NULL;
    }
    for (;;) {
        double t0 = now_s();
        if (t0 >= stop)
            break;
        if (fd < 0 && (fd = connect_target(cfg)) < 0) {
            w->fatal = "cannot connect";
            break;
        }
        bool close_after = false;
        const char *why = NULL;
        int status = -1;
        if (send_all(fd, cfg->request, cfg->request_len))
            status = read_response(fd, buf, &close_after, &why);
        else
            status = 0, why = "send failed";
        if (status <= 0) {
            close(fd);
            fd = -1;
            if (status == 0 && w->reconnects < 1000) {
                w->reconnects++; /* a dropped keep-alive connection: again on a new one */
                continue;
            }
            w->fatal = why;
            break;
        }
        double t1 = now_s();
        w->last_status = status;
        w->answered++;
        if (close_after) {
            close(fd);
            fd = -1;
            w->reconnects++;
        }
        if (t0 < measure_from)
            continue;
        if (status < 200 || status >= 300) {
            w->errors++;
            continue;
        }
        if (w->n == w->cap) {
            size_t cap = w->cap != 0 ? w->cap * 2 : 4096;
            double *lat = realloc(w->lat, cap * sizeof(*lat));
            if (lat == NULL) {
                w->fatal = "out of memory";
                break;
            }
            w->lat = lat, w->cap = cap;
        }
        w->lat[w->n++] = t1 - t0;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_http (--tcp HOST:PORT | --unix PATH) [--path /svc/fn] "
                    "[--body TEXT] [--content-type TYPE] [--conns N] [--seconds S] "
                    "[--warmup S]\n");
    exit(2);
}

int main(int argc, char **argv) {
    config cfg = {.seconds = 5, .warmup = 0.5};
    const char *path = "/", *body = "{}", *ctype = "application/json", *tcp = NULL;
    int conns = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[++i];
        if (strcmp(k, "--tcp") == 0)
            tcp = v;
        else if (strcmp(k, "--unix") == 0)
            cfg.unix_path = v;
        else if (strcmp(k, "--path") == 0)
            path = v;
        else if (strcmp(k, "--body") == 0)
            body = v;
        else if (strcmp(k, "--content-type") == 0)
            ctype = v;
        else if (strcmp(k, "--conns") == 0)
            conns = atoi(v);
        else if (strcmp(k, "--seconds") == 0)
            cfg.seconds = atof(v);
        else if (strcmp(k, "--warmup") == 0)
            cfg.warmup = atof(v);
        else
            usage();
    }
    static char host[64];
    if ((tcp == NULL) == (cfg.unix_path == NULL) || conns < 1 || conns > 1024 || cfg.seconds <= 0 ||
        cfg.warmup < 0)
        usage();
    if (tcp != NULL) {
        const char *colon = strrchr(tcp, ':');
        if (colon == NULL || (size_t)(colon - tcp) >= sizeof(host))
            usage();
        memcpy(host, tcp, (size_t)(colon - tcp));
        cfg.tcp_host = host;
        cfg.tcp_port = atoi(colon + 1);
    }
    size_t blen = strlen(body);
    size_t cap = strlen(path) + strlen(ctype) + blen + 256;
    if ((cfg.request = malloc(cap)) == NULL)
        return 1;
    int n = snprintf(cfg.request, cap,
                     "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, ctype, blen, body);
    cfg.request_len = (size_t)n;

    worker *ws = calloc((size_t)conns, sizeof(*ws));
    if (ws == NULL)
        return 1;
    for (int i = 0; i < conns; i++) {
        ws[i].cfg = &cfg;
        if (pthread_create(&ws[i].thread, NULL, run_worker, &ws[i]) != 0) {
            fprintf(stderr, "bench_http: pthread_create failed\n");
            return 1;
        }
    }
    size_t total = 0;
    long errors = 0, reconnects = 0, answered = 0;
    int last_status = 0;
    const char *fatal = NULL;
    for (int i = 0; i < conns; i++) {
        pthread_join(ws[i].thread, NULL);
        total += ws[i].n;
        errors += ws[i].errors;
        reconnects += ws[i].reconnects;
        answered += ws[i].answered;
        if (ws[i].fatal != NULL)
            fatal = ws[i].fatal;
        if (ws[i].last_status != 0)
            last_status = ws[i].last_status;
    }
    struct rusage ru;
    double cpu_s = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    double *all = malloc((total != 0 ? total : 1) * sizeof(*all));
    if (all == NULL)
        return 1;
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, ws[i].lat, ws[i].n * sizeof(*all));
        k += ws[i].n;
        free(ws[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp_double);
    double p50 = total != 0 ? all[(total - 1) / 2] : 0;
    double p99 = total != 0 ? all[(size_t)((double)(total - 1) * 0.99)] : 0;
    printf("{\"target\": \"%s%s\", \"path\": \"%s\", \"conns\": %d, \"seconds\": %.1f, "
           "\"calls\": %zu, \"answered\": %ld, \"errors\": %ld, \"reconnects\": %ld, "
           "\"last_status\": %d, "
           "\"calls_per_s\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"client_cpu_us\": "
           "%.1f%s%s%s}\n",
           tcp != NULL ? "tcp:" : "unix:", tcp != NULL ? tcp : cfg.unix_path, path, conns,
           cfg.seconds, total, answered, errors, reconnects, last_status,
           (double)total / cfg.seconds, p50 * 1000, p99 * 1000,
           answered != 0 ? cpu_s * 1e6 / (double)answered : 0,
           fatal != NULL ? ", \"fatal\": \"" : "", fatal != NULL ? fatal : "",
           fatal != NULL ? "\"" : "");
    free(all);
    free(ws);
    free(cfg.request);
    return fatal != NULL || total == 0 ? 1 : 0;
}
