/* status_load: the app.status publisher of bench/bench_bridge.py. Publishes one app.status
 * (phase Running, one container; encoded by schema/ like a node's) per line of a pairs file, at
 * QoS 1, on the nodes' status topics {prefix}/{ns}/nodes/{node}/status/{app}, as fast as the
 * broker acknowledges them. Insecure nodes: nothing is signed.
 *
 * It speaks MQTT 5 itself over plain sockets (CONNECT, PUBLISH, PUBACK, SUBSCRIBE): one thread
 * pipelines publishes over C connections, each up to the Receive Maximum the broker announced in
 * its CONNACK (or --window, whichever is lower). Paho MQTTAsync was tried first: ~40 us of CPU per
 * publish and ~18,000/s from one process, and ~6,000/s when a subscriber shared its threads; on a
 * 2-core machine that shares the cores with the bridge, the load generator must cost little.
 *
 * With --subscribe, a child process runs a plain subscriber on {prefix}/{ns}/nodes/+/status/+
 * (QoS 1, acknowledging each message, no retained messages at subscribe) and the run waits until it
 * received everything, or nothing more for 5 s: the raw broker baseline for the same messages (use
 * another prefix than "ferry", so that no bridge hears them). Prints one JSON line: {"sent",
 * "acked", "failed", "bytes", "t0", "pub_s", "pub_per_s"[, "received", "recv_s", "recv_per_s"]}; t0
 * is CLOCK_MONOTONIC at the first publish (the clock of Python's time.monotonic), times are from
 * t0.
 *
 * usage: status_load --mqtt tcp://HOST:PORT --ns NS --pairs FILE (lines "node app version")
 *                    [--prefix ferry] [--clients 4] [--window 1000] [--retain] [--subscribe]
 *                    [--repeat R] [--timeout 600] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ferry/common.h>
#include <ferry/proto.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define RBUF (1 << 20)
#define WBUF (1 << 20)

typedef struct {
    unsigned char *bytes; /* the whole PUBLISH packet but for the packet id */
    size_t len;
    size_t id_at; /* offset of the 2-byte packet id */
    size_t payload_len;
} status_msg;

typedef struct {
    int fd;
    unsigned char *rbuf, *wbuf;
    size_t rlen, wlen, woff;
    long inflight, window;
    uint16_t next_id;
} client;

/* What the subscriber child shares with the parent. */
typedef struct {
    atomic_long received;
    atomic_int ready; /* 1 subscribed, -1 failed */
    _Atomic double last_recv;
} shared_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t put_varint(unsigned char *p, size_t v) {
    size_t n = 0;
    do {
        unsigned char b = (unsigned char)(v % 128);
        v /= 128;
        p[n++] = v > 0 ? (unsigned char)(b | 0x80) : b;
    } while (v > 0);
    return n;
}

/* A packet's remaining length from buf (len bytes): bytes used, 0 when incomplete, -1 malformed. */
static int get_varint(const unsigned char *buf, size_t len, size_t *v) {
    size_t mult = 1;
    *v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len)
            return 0;
        *v += (size_t)(buf[i] & 0x7f) * mult;
        if ((buf[i] & 0x80) == 0)
            return (int)i + 1;
        mult *= 128;
    }
    return -1;
}

static size_t put_str(unsigned char *p, const char *s, size_t n) {
    p[0] = (unsigned char)(n >> 8);
    p[1] = (unsigned char)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one whole packet (blocking): its first byte, its body into body (cap bytes). */
static int read_packet(client *c, unsigned char *type, unsigned char **body, size_t *blen) {
    for (;;) {
        size_t rl;
        int vn = c->rlen >= 2 ? get_varint(c->rbuf + 1, c->rlen - 1, &rl) : 0;
        if (vn < 0)
            return -1;
        if (vn > 0 && c->rlen >= 1 + (size_t)vn + rl) {
            *type = c->rbuf[0];
            *body = c->rbuf + 1 + vn;
            *blen = rl;
            return 1 + vn; /* header bytes: the caller consumes header + rl */
        }
        if (c->rlen == RBUF)
            return -1;
        ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c->rlen += (size_t)r;
    }
}

static void consume(client *c, size_t n) {
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
}

/* The Receive Maximum (property 0x21) of a CONNACK's properties, else 65535. */
static long receive_maximum(const unsigned char *p, size_t n) {
    size_t plen;
    int vn = get_varint(p, n, &plen);
    if (vn <= 0 || (size_t)vn + plen > n)
        return 65535;
    const unsigned char *q = p + vn, *end = q + plen;
    while (q < end) {
        unsigned char id = *q++;
        size_t skip;
        switch (id) {
        case 0x21:
            return end - q >= 2 ? (long)((q[0] << 8) | q[1]) : 65535;
        case 0x24:
        case 0x25:
        case 0x28:
        case 0x29:
        case 0x2A:
            skip = 1;
            break;
        case 0x13:
        case 0x22:
            skip = 2;
            break;
        case 0x11:
        case 0x27:
            skip = 4;
            break;
        case 0x12:
        case 0x15:
        case 0x16:
        case 0x1A:
        case 0x1C:
        case 0x1F:
            skip = end - q >= 2 ? 2 + (size_t)((q[0] << 8) | q[1]) : (size_t)(end - q);
            break;
        case 0x26: /* two strings */
            skip = end - q >= 2 ? 2 + (size_t)((q[0] << 8) | q[1]) : (size_t)(end - q);
            if ((size_t)(end - q) >= skip + 2)
                skip += 2 + (size_t)((q[skip] << 8) | q[skip + 1]);
            break;
        default:
            return 65535;
        }
        q += skip;
    }
    return 65535;
}

/* Connect and log in (MQTT 5, clean start, no properties); c->window is then the broker's Receive
 * Maximum capped at window. 0 or -1. */
static int mqtt_connect(client *c, const char *host, int port, const char *id, long window) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    unsigned char pkt[512], *body;
    size_t n = 0, idlen = strlen(id), blen;
    unsigned char type;
    int one = 1;

    c->rbuf = malloc(RBUF);
    c->wbuf = malloc(WBUF);
    c->next_id = 1;
    if (c->rbuf == NULL || c->wbuf == NULL || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        idlen > 200)
        return -1;
    if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    size_t rl = 10 + 1 + 2 + idlen; /* variable header, props length 0, client id */
    pkt[n++] = 0x10;
    n += put_varint(pkt + n, rl);
    n += put_str(pkt + n, "MQTT", 4);
    pkt[n++] = 5;    /* protocol version */
    pkt[n++] = 0x02; /* clean start */
    pkt[n++] = 0;
    pkt[n++] = 60; /* keep alive */
    pkt[n++] = 0;  /* properties */
    n += put_str(pkt + n, id, idlen);
    if (write_all(c->fd, pkt, n) != 0)
        return -1;
    int hn = read_packet(c, &type, &body, &blen);
    if (hn < 0 || type != 0x20 || blen < 2 || body[1] != 0) {
        fprintf(stderr, "status_load: CONNACK refused (type 0x%02x, reason %d)\n", type,
                hn >= 0 && blen >= 2 ? body[1] : -1);
        return -1;
    }
    long rm = receive_maximum(body + 2, blen - 2);
    c->window = rm < window ? rm : window;
    consume(c, (size_t)hn + blen);
    return 0;
}

/* Read what the socket holds and count PUBACKs (reason < 0x80 acked, else failed). -1 on error. */
static int drain_acks(client *c, long *acked, long *failed) {
    ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0)
        return -1;
    c->rlen += (size_t)r;
    size_t off = 0;
    while (c->rlen - off >= 2) {
        size_t rl;
        int vn = get_varint(c->rbuf + off + 1, c->rlen - off - 1, &rl);
        if (vn < 0)
            return -1;
        if (vn == 0 || c->rlen - off < 1 + (size_t)vn + rl)
            break;
        const unsigned char *body = c->rbuf + off + 1 + vn;
        if ((c->rbuf[off] & 0xf0) == 0x40) { /* PUBACK: id, [reason, props] */
            c->inflight--;
            if (rl >= 3 && body[2] >= 0x80)
                (*failed)++;
            else
                (*acked)++;
        } else if ((c->rbuf[off] & 0xf0) == 0xe0) { /* DISCONNECT */
            fprintf(stderr, "status_load: the broker disconnected (reason 0x%02x)\n",
                    rl >= 1 ? body[0] : 0);
            return -1;
        }
        off += 1 + (size_t)vn + rl;
    }
    consume(c, off);
    return 0;
}

static int flush_some(client *c) {
    while (c->woff < c->wlen) {
        ssize_t w = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (w <= 0)
            return -1;
        c->woff += (size_t)w;
    }
    c->woff = c->wlen = 0;
    return 0;
}

/* The subscriber child: subscribe, then acknowledge and count until killed. */
static void subscriber(const char *host, int port, const char *filter, shared_state *sh) {
    client c = {0};
    unsigned char pkt[512], type, *body;
    size_t n = 0, flen = strlen(filter), blen;
    char id[64];

    snprintf(id, sizeof(id), "status-load-sub-%d", (int)getpid());
    if (mqtt_connect(&c, host, port, id, 65535) != 0 || flen > 400)
        goto fail;
    pkt[n++] = 0x82;
    n += put_varint(pkt + n, 2 + 1 + 2 + flen + 1);
    pkt[n++] = 0;
    pkt[n++] = 1; /* packet id */
    pkt[n++] = 0; /* properties */
    n += put_str(pkt + n, filter, flen);
    pkt[n++] = 0x21; /* QoS 1, retain handling 2: no retained messages at subscribe */
    if (write_all(c.fd, pkt, n) != 0)
        goto fail;
    for (;;) {
        int hn = read_packet(&c, &type, &body, &blen);
        if (hn < 0)
            goto fail;
        if ((type & 0xf0) == 0x90) {
            if (blen < 4 || body[3] > 0x02)
                goto fail;
            atomic_store(&sh->ready, 1);
        } else if ((type & 0xf0) == 0x30) {
            if ((type & 0x06) != 0 && blen >= 2) { /* QoS > 0: the id follows the topic */
                size_t tl = (size_t)((body[0] << 8) | body[1]);
                if (blen >= 2 + tl + 2) {
                    unsigned char ack[4] = {0x40, 2, body[2 + tl], body[3 + tl]};
                    if (write_all(c.fd, ack, sizeof(ack)) != 0)
                        goto fail;
                }
            }
            atomic_store(&sh->last_recv, now_s());
            atomic_fetch_add(&sh->received, 1);
        }
        consume(&c, (size_t)hn + blen);
    }
fail:
    atomic_store(&sh->ready, -1);
    _exit(1);
}

/* The messages of the pairs file, each a PUBLISH packet but for its id, encoded once. */
static status_msg *read_pairs(const char *path, const char *prefix, const char *ns, bool retain,
                              size_t *n) {
    FILE *f = fopen(path, "r");
    status_msg *msgs = NULL;
    size_t cap = 0;
    char node[128], app[128], topic[512];
    long long version;
    *n = 0;
    if (f == NULL)
        return NULL;
    while (fscanf(f, "%127s %127s %lld", node, app, &version) == 3) {
        unsigned char *payload = NULL;
        size_t plen = 0;
        if (*n == cap) {
            cap = cap != 0 ? cap * 2 : 1024;
            status_msg *grown = realloc(msgs, cap * sizeof(*msgs));
            if (grown == NULL)
                goto fail;
            msgs = grown;
        }
        json_t *m =
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:[{s:s, s:s, s:i, s:i, "
                      "s:s, s:s}]}",
                      "type", FERRY_MSG_APP_STATUS, "ns", ns, "node", node, "app", app, "version",
                      (json_int_t)version, "phase", "Running", "message", "", "ts",
                      (json_int_t)ferry_now_ms(), "containers", "name", "web", "state", "running",
                      "restarts", 0, "exitCode", 0, "error", "", "image", "hollow/web:1");
        int err = m != NULL ? (int)ferry_proto_encode(m, &payload, &plen) : -1;
        json_decref(m);
        if (err != 0)
            goto fail;
        size_t tlen = (size_t)snprintf(topic, sizeof(topic), "%s/%s/nodes/%s/status/%s", prefix, ns,
                                       node, app);
        size_t rl = 2 + tlen + 2 + 1 + plen;
        status_msg *s = &msgs[*n];
        s->bytes = malloc(1 + 4 + rl);
        if (s->bytes == NULL) {
            ferry_free(payload);
            goto fail;
        }
        size_t k = 0;
        s->bytes[k++] = retain ? 0x33 : 0x32; /* PUBLISH, QoS 1 */
        k += put_varint(s->bytes + k, rl);
        k += put_str(s->bytes + k, topic, tlen);
        s->id_at = k;
        k += 2;
        s->bytes[k++] = 0; /* properties */
        memcpy(s->bytes + k, payload, plen);
        s->len = k + plen;
        s->payload_len = plen;
        ferry_free(payload);
        (*n)++;
    }
    fclose(f);
    return msgs;
fail:
    fclose(f);
    for (size_t i = 0; i < *n; i++)
        free(msgs[i].bytes);
    free(msgs);
    *n = 0;
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: status_load --mqtt tcp://HOST:PORT --ns NS --pairs FILE "
                    "[--prefix ferry] [--clients 4] [--window 1000] [--retain] [--subscribe] "
                    "[--repeat R] [--timeout 600]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *uri = NULL, *ns = NULL, *pairs = NULL, *prefix = "ferry";
    int nclients = 4, repeat = 1, port = 0;
    long window = 1000, acked = 0, failed = 0;
    bool retain = false, subscribe = false;
    double timeout = 600;
    char host[64];
    client clients[MAX_CLIENTS] = {0};
    pid_t child = -1;
    shared_state *sh = NULL;
    status_msg *msgs = NULL;
    size_t n = 0;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--retain") == 0) {
            retain = true;
            continue;
        }
        if (strcmp(a, "--subscribe") == 0) {
            subscribe = true;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--mqtt") == 0)
            uri = v;
        else if (strcmp(a, "--ns") == 0)
            ns = v;
        else if (strcmp(a, "--pairs") == 0)
            pairs = v;
        else if (strcmp(a, "--prefix") == 0)
            prefix = v;
        else if (strcmp(a, "--clients") == 0)
            nclients = atoi(v);
        else if (strcmp(a, "--window") == 0)
            window = atol(v);
        else if (strcmp(a, "--timeout") == 0)
            timeout = atof(v);
        else if (strcmp(a, "--repeat") == 0)
            repeat = atoi(v);
        else
            usage();
    }
    if (uri == NULL || ns == NULL || pairs == NULL || nclients < 1 || nclients > MAX_CLIENTS ||
        window < 1 || repeat < 1 || sscanf(uri, "tcp://%63[^:]:%d", host, &port) != 2)
        usage();
    signal(SIGPIPE, SIG_IGN);

    if ((msgs = read_pairs(pairs, prefix, ns, retain, &n)) == NULL || n == 0) {
        fprintf(stderr, "status_load: no messages from %s\n", pairs);
        goto out;
    }
    if (subscribe) {
        char filter[256];
        snprintf(filter, sizeof(filter), "%s/%s/nodes/+/status/+", prefix, ns);
        sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED) {
            sh = NULL;
            goto out;
        }
        if ((child = fork()) == 0)
            subscriber(host, port, filter, sh);
        double end = now_s() + 30;
        while (atomic_load(&sh->ready) == 0 && now_s() < end)
            usleep(1000);
        if (atomic_load(&sh->ready) != 1) {
            fprintf(stderr, "status_load: the subscriber did not subscribe\n");
            goto out;
        }
    }
    for (int i = 0; i < nclients; i++) {
        char id[64];
        snprintf(id, sizeof(id), "status-load-%d-%d", (int)getpid(), i);
        if (mqtt_connect(&clients[i], host, port, id, window) != 0) {
            fprintf(stderr, "status_load: could not connect to %s\n", uri);
            goto out;
        }
        /* Non-blocking from here: one thread drives every connection. */
        if (fcntl(clients[i].fd, F_SETFL, fcntl(clients[i].fd, F_GETFL) | O_NONBLOCK) != 0)
            goto out;
    }

    size_t total = n * (size_t)repeat, next = 0, bytes = 0;
    double t0 = now_s(), end = t0 + timeout;
    struct pollfd pfd[MAX_CLIENTS];
    while ((next < total || acked + failed < (long)total) && now_s() < end) {
        /* Fill every connection's window, then write what fits and read the PUBACKs. */
        for (int i = 0; i < nclients && next < total; i++) {
            client *c = &clients[i];
            while (c->inflight < c->window && next < total && c->wlen + 8192 < WBUF) {
                const status_msg *s = &msgs[next % n];
                if (c->wlen + s->len > WBUF)
                    break;
                memcpy(c->wbuf + c->wlen, s->bytes, s->len);
                c->wbuf[c->wlen + s->id_at] = (unsigned char)(c->next_id >> 8);
                c->wbuf[c->wlen + s->id_at + 1] = (unsigned char)c->next_id;
                c->next_id = c->next_id == 65535 ? 1 : (uint16_t)(c->next_id + 1);
                c->wlen += s->len;
                c->inflight++;
                bytes += s->payload_len;
                next++;
            }
        }
        for (int i = 0; i < nclients; i++) {
            pfd[i].fd = clients[i].fd;
            pfd[i].events = (short)(POLLIN | (clients[i].woff < clients[i].wlen ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        if (poll(pfd, (nfds_t)nclients, 100) < 0 && errno != EINTR)
            goto out;
        for (int i = 0; i < nclients; i++) {
            if (((pfd[i].revents & POLLOUT) && flush_some(&clients[i]) != 0) ||
                ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                 drain_acks(&clients[i], &acked, &failed) != 0)) {
                fprintf(stderr, "status_load: connection %d failed\n", i);
                goto report;
            }
        }
    }
report:;
    double pub_s = now_s() - t0;
    printf("{\"sent\": %zu, \"acked\": %ld, \"failed\": %ld, \"bytes\": %zu, \"t0\": %.6f, "
           "\"pub_s\": %.3f, \"pub_per_s\": %.0f",
           next, acked, failed, bytes, t0, pub_s, pub_s > 0 ? (double)acked / pub_s : 0.0);
    if (sh != NULL) {
        long last = -1;
        double idle_since = now_s();
        while (atomic_load(&sh->received) < (long)total && now_s() < end) {
            long r = atomic_load(&sh->received);
            if (r != last) {
                last = r;
                idle_since = now_s();
            } else if (now_s() - idle_since > 5) {
                break;
            }
            usleep(1000);
        }
        long r = atomic_load(&sh->received);
        double recv_s = atomic_load(&sh->last_recv) - t0;
        printf(", \"received\": %ld, \"recv_s\": %.3f, \"recv_per_s\": %.0f", r, recv_s,
               recv_s > 0 ? (double)r / recv_s : 0.0);
    }
    printf("}\n");
    fflush(stdout);
    rc = acked == (long)total ? 0 : 1;
out:
    for (int i = 0; i < nclients; i++) {
        if (clients[i].fd > 0) {
            unsigned char disc[2] = {0xe0, 0};
            (void)!write(clients[i].fd, disc, sizeof(disc));
            close(clients[i].fd);
        }
        free(clients[i].rbuf);
        free(clients[i].wbuf);
    }
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    if (sh != NULL)
        munmap(sh, sizeof(*sh));
    for (size_t i = 0; i < n; i++)
        free(msgs[i].bytes);
    free(msgs);
    return rc;
}
