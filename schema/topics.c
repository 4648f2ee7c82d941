/* Ferry MQTT topics: build and parse every topic shape of PROTOCOL.md, percent-encoding labels. */
#include "ferry/topics.h"

#include <stdio.h>
#include <string.h>

#include "ferry/labels.h"
#include "internal.h"

/* Bytes that stand for themselves in a label segment; everything else is %XX (upper-case hex).
 * The encoding is canonical (parse refuses %XX for these bytes and lower-case hex), so every
 * label has exactly one topic: nodes subscribe to the exact topic the bridge publishes on. */
static bool topic_plain(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool full;
} tbuf;

static void tb_putn(tbuf *b, const char *s, size_t n) {
    if (b->full || n >= b->cap - b->len) {
        b->full = true;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void tb_puts(tbuf *b, const char *s) {
    tb_putn(b, s, strlen(s));
}

static void tb_put_encoded(tbuf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (topic_plain(*p))
            tb_putn(b, (const char *)p, 1);
        else
            tb_putn(b, esc, 3);
    }
}

static bool name_ok(const char *s) {
    return s != NULL && strnlen(s, FERRY_NAME_MAX) < FERRY_NAME_MAX && ferry_name_valid(s);
}

static bool label_ok(const char *key, const char *value) {
    if (key == NULL || value == NULL)
        return false;
    size_t kl = strnlen(key, FERRY_LABEL_KEY_MAX), vl = strnlen(value, FERRY_LABEL_VALUE_MAX);
    return kl < FERRY_LABEL_KEY_MAX && vl < FERRY_LABEL_VALUE_MAX && labels__key_valid(key, kl) &&
           labels__value_valid(value, vl);
}

static void tb_label_prefix(tbuf *b, const char *ns, const char *key, const char *value) {
    tb_puts(b, "ferry/");
    tb_puts(b, ns);
    tb_puts(b, "/labels/");
    tb_put_encoded(b, key);
    tb_puts(b, "=");
    tb_put_encoded(b, value);
    tb_puts(b, "/apps/");
}

ferry_err ferry_topic_build(const ferry_topic *t, char *buf, size_t buflen) {
    tbuf b = {buf, buflen, 0, false};
    const char *suffix = NULL;

    if (t == NULL || buf == NULL || buflen == 0)
        return FERRY_EINVAL;
    buf[0] = '\0';
    if (!name_ok(t->ns))
        return FERRY_EINVAL;
    switch (t->kind) {
    case FERRY_TOPIC_APP_LABEL:
        if (!label_ok(t->label_key, t->label_value) || !name_ok(t->app))
            return FERRY_EINVAL;
        tb_label_prefix(&b, t->ns, t->label_key, t->label_value);
        tb_puts(&b, t->app);
        break;
    case FERRY_TOPIC_APP_ALL:
        if (!name_ok(t->app))
            return FERRY_EINVAL;
        tb_puts(&b, "ferry/");
        tb_puts(&b, t->ns);
        tb_puts(&b, "/all/apps/");
        tb_puts(&b, t->app);
        break;
    case FERRY_TOPIC_NODE_SYNC:
        suffix = "/sync";
        break;
    case FERRY_TOPIC_NODE_HELLO:
        suffix = "/hello";
        break;
    case FERRY_TOPIC_NODE_ONLINE:
        suffix = "/online";
        break;
    case FERRY_TOPIC_NODE_STATS:
        suffix = "/stats";
        break;
    case FERRY_TOPIC_LOGS_REQUEST:
        suffix = "/logs/request";
        break;
    case FERRY_TOPIC_LOGS_REPLY:
        suffix = "/logs/reply";
        break;
    case FERRY_TOPIC_NODE_STATUS:
        if (!name_ok(t->app))
            return FERRY_EINVAL;
        suffix = "/status/";
        break;
    case FERRY_TOPIC_NODE_SECRETS:
        if (!name_ok(t->app))
            return FERRY_EINVAL;
        suffix = "/secrets/";
        break;
    default:
        return FERRY_EINVAL;
    }
    if (suffix != NULL) {
        if (!name_ok(t->node))
            return FERRY_EINVAL;
        tb_puts(&b, "ferry/");
        tb_puts(&b, t->ns);
        tb_puts(&b, "/nodes/");
        tb_puts(&b, t->node);
        tb_puts(&b, suffix);
        if (t->kind == FERRY_TOPIC_NODE_STATUS || t->kind == FERRY_TOPIC_NODE_SECRETS)
            tb_puts(&b, t->app);
    }
    if (b.full) {
        buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

ferry_err ferry_topic_label_filter(const char *ns, const char *key, const char *value, char *buf,
                                   size_t buflen) {
    tbuf b = {buf, buflen, 0, false};
    if (buf == NULL || buflen == 0)
        return FERRY_EINVAL;
    buf[0] = '\0';
    if (!name_ok(ns) || !label_ok(key, value))
        return FERRY_EINVAL;
    tb_label_prefix(&b, ns, key, value);
    tb_puts(&b, "+");
    if (b.full) {
        buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

ferry_err ferry_topic_all_filter(const char *ns, char *buf, size_t buflen) {
    tbuf b = {buf, buflen, 0, false};
    if (buf == NULL || buflen == 0)
        return FERRY_EINVAL;
    buf[0] = '\0';
    if (!name_ok(ns))
        return FERRY_EINVAL;
    tb_puts(&b, "ferry/");
    tb_puts(&b, ns);
    tb_puts(&b, "/all/apps/+");
    if (b.full) {
        buf[0] = '\0';
        return FERRY_ETOOBIG;
    }
    return FERRY_OK;
}

/* ---- parsing --------------------------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} seg;

/* Copy a segment that must be a DNS label. */
static bool parse_name(seg s, char out[FERRY_NAME_MAX]) {
    if (s.n == 0 || s.n >= FERRY_NAME_MAX)
        return false;
    memcpy(out, s.p, s.n);
    out[s.n] = '\0';
    return ferry_name_valid(out);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower-case hex is not canonical */
}

/* Percent-decode s into out (cap bytes including NUL), refusing non-canonical encodings. */
static bool parse_encoded(seg s, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '%') {
            if (s.n - i < 3)
                return false;
            int hi = hexval(s.p[i + 1]), lo = hexval(s.p[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi * 16 + lo);
            if (topic_plain(c) || c == 0)
                return false;
            i += 2;
        } else if (!topic_plain(c)) {
            return false;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

static bool seg_is(seg s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

ferry_err ferry_topic_parse(const char *topic, size_t len, ferry_topic *out) {
    seg segs[7];
    size_t nseg = 0;
    ferry_topic t;

    if (out == NULL)
        return FERRY_EINVAL;
    memset(out, 0, sizeof(*out));
    if (topic == NULL || len == 0 || len >= FERRY_TOPIC_MAX || memchr(topic, '\0', len) != NULL)
        return FERRY_EFORMAT;
    memset(&t, 0, sizeof(t));

    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && topic[i] != '/')
            continue;
        if (nseg == 7)
            return FERRY_EFORMAT;
        segs[nseg].p = topic + start;
        segs[nseg].n = i - start;
        if (segs[nseg].n == 0)
            return FERRY_EFORMAT;
        nseg++;
        start = i + 1;
    }
    if (nseg < 5 || !seg_is(segs[0], "ferry") || !parse_name(segs[1], t.ns))
        return FERRY_EFORMAT;

    if (nseg == 5 && seg_is(segs[2], "all") && seg_is(segs[3], "apps")) {
        t.kind = FERRY_TOPIC_APP_ALL;
        if (!parse_name(segs[4], t.app))
            return FERRY_EFORMAT;
    } else if (nseg == 6 && seg_is(segs[2], "labels") && seg_is(segs[4], "apps")) {
        const char *eq = memchr(segs[3].p, '=', segs[3].n);
        if (eq == NULL)
            return FERRY_EFORMAT;
        seg k = {segs[3].p, (size_t)(eq - segs[3].p)};
        seg v = {eq + 1, segs[3].n - k.n - 1};
        t.kind = FERRY_TOPIC_APP_LABEL;
        if (k.n == 0 || !parse_encoded(k, t.label_key, sizeof(t.label_key)) ||
            !parse_encoded(v, t.label_value, sizeof(t.label_value)) ||
            !labels__key_valid(t.label_key, strlen(t.label_key)) ||
            !labels__value_valid(t.label_value, strlen(t.label_value)) ||
            !parse_name(segs[5], t.app))
            return FERRY_EFORMAT;
    } else if ((nseg == 5 || nseg == 6) && seg_is(segs[2], "nodes")) {
        if (!parse_name(segs[3], t.node))
            return FERRY_EFORMAT;
        if (nseg == 5 && seg_is(segs[4], "sync"))
            t.kind = FERRY_TOPIC_NODE_SYNC;
        else if (nseg == 5 && seg_is(segs[4], "hello"))
            t.kind = FERRY_TOPIC_NODE_HELLO;
        else if (nseg == 5 && seg_is(segs[4], "online"))
            t.kind = FERRY_TOPIC_NODE_ONLINE;
        else if (nseg == 5 && seg_is(segs[4], "stats"))
            t.kind = FERRY_TOPIC_NODE_STATS;
        else if (nseg == 6 && seg_is(segs[4], "status") && parse_name(segs[5], t.app))
            t.kind = FERRY_TOPIC_NODE_STATUS;
        else if (nseg == 6 && seg_is(segs[4], "secrets") && parse_name(segs[5], t.app))
            t.kind = FERRY_TOPIC_NODE_SECRETS;
        else if (nseg == 6 && seg_is(segs[4], "logs") && seg_is(segs[5], "request"))
            t.kind = FERRY_TOPIC_LOGS_REQUEST;
        else if (nseg == 6 && seg_is(segs[4], "logs") && seg_is(segs[5], "reply"))
            t.kind = FERRY_TOPIC_LOGS_REPLY;
        else
            return FERRY_EFORMAT;
    } else {
        return FERRY_EFORMAT;
    }
    *out = t;
    return FERRY_OK;
}
