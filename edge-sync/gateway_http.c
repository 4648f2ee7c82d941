/* edge-sync gateway: parsing one client request with http_parser under the gateway's limits
 * (head, header count, body), free of I/O so that the fuzz target feeds it raw bytes. */
#include <string.h>
#include <strings.h>

#include "gateway_internal.h"

static void fail(ferry_gateway__req *r, int status, const char *why) {
    r->state = FERRY_GATEWAY_REQ_ERROR;
    r->error_status = status;
    r->error = why;
}

static ferry_gateway__req *req_of(http_parser *p) {
    return (ferry_gateway__req *)p->data;
}

/* Append to the head; -1 (431) past FERRY_GATEWAY_MAX_HEAD. */
static int head_append(ferry_gateway__req *r, const char *at, size_t len) {
    if (len > FERRY_GATEWAY_MAX_HEAD - r->head_len) {
        fail(r, 431, "the request line and headers exceed 16 KiB");
        return -1;
    }
    if (r->head_len + len > r->head_cap) {
        size_t cap = r->head_cap != 0 ? r->head_cap : 1024;
        while (cap < r->head_len + len)
            cap *= 2;
        if (cap > FERRY_GATEWAY_MAX_HEAD)
            cap = FERRY_GATEWAY_MAX_HEAD;
        char *head = ferry_realloc(r->head, cap);
        if (head == NULL) {
            fail(r, 503, "out of memory");
            return -1;
        }
        r->head = head;
        r->head_cap = cap;
    }
    memcpy(r->head + r->head_len, at, len);
    r->head_len += len;
    return 0;
}

static int on_message_begin(http_parser *p) {
    ferry_gateway__req *r = req_of(p);
    r->start_ns = r->now_ns;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    ferry_gateway__req *r = req_of(p);
    if (head_append(r, at, len) != 0)
        return -1;
    r->url_len += (uint32_t)len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    ferry_gateway__req *r = req_of(p);
    if (r->last != 1) {
        if (r->nheaders == FERRY_GATEWAY_MAX_HEADERS) {
            fail(r, 431, "more than 100 header lines");
            return -1;
        }
        ferry_gateway__header *h = &r->headers[r->nheaders++];
        memset(h, 0, sizeof(*h));
        h->name = (uint32_t)r->head_len;
        h->value = (uint32_t)r->head_len;
        r->last = 1;
    }
    if (head_append(r, at, len) != 0)
        return -1;
    r->headers[r->nheaders - 1].name_len += (uint32_t)len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    ferry_gateway__req *r = req_of(p);
    if (r->nheaders == 0)
        return 0; /* http_parser never calls it before a name */
    ferry_gateway__header *h = &r->headers[r->nheaders - 1];
    if (r->last != 2) {
        h->value = (uint32_t)r->head_len;
        r->last = 2;
    }
    if (head_append(r, at, len) != 0)
        return -1;
    h->value_len += (uint32_t)len;
    return 0;
}

static int on_headers_complete(http_parser *p) {
    ferry_gateway__req *r = req_of(p);
    for (size_t i = 0; i < r->nheaders; i++) {
        const ferry_gateway__header *h = &r->headers[i];
        if (h->name_len == 12 && strncasecmp(r->head + h->name, "content-type", 12) == 0)
            r->content_type = (int)i;
        else if (h->name_len == 6 && strncasecmp(r->head + h->name, "expect", 6) == 0 &&
                 h->value_len == 12 && strncasecmp(r->head + h->value, "100-continue", 12) == 0)
            r->expect_continue = true;
    }
    if ((p->flags & F_CONTENTLENGTH) != 0) {
        if (p->content_length > FERRY_GATEWAY_MAX_BODY) {
            fail(r, 413, "the request body exceeds 6 MiB");
            return -1;
        }
        size_t want = (size_t)p->content_length;
        if (want > r->body_cap) {
            char *body = ferry_realloc(r->body, want);
            if (body == NULL) {
                fail(r, 503, "out of memory");
                return -1;
            }
            r->body = body;
            r->body_cap = want;
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    ferry_gateway__req *r = req_of(p);
    if (len > FERRY_GATEWAY_MAX_BODY - r->body_len) {
        fail(r, 413, "the request body exceeds 6 MiB");
        return -1;
    }
    if (r->body_len + len > r->body_cap) {
        size_t cap = r->body_cap != 0 ? r->body_cap : 4096;
        while (cap < r->body_len + len)
            cap *= 2;
        if (cap > FERRY_GATEWAY_MAX_BODY)
            cap = FERRY_GATEWAY_MAX_BODY;
        char *body = ferry_realloc(r->body, cap);
        if (body == NULL) {
            fail(r, 503, "out of memory");
            return -1;
        }
        r->body = body;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p) {
    ferry_gateway__req *r = req_of(p);
    r->state = FERRY_GATEWAY_REQ_COMPLETE;
    r->keep_alive = http_should_keep_alive(p) != 0 && p->upgrade == 0;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void req_reset(ferry_gateway__req *r) {
    r->state = FERRY_GATEWAY_REQ_MORE;
    r->error_status = 0;
    r->error = NULL;
    r->head_len = 0;
    r->url_len = 0;
    r->nheaders = 0;
    r->last = 0;
    r->content_type = -1;
    r->body_len = 0;
    r->keep_alive = false;
    r->expect_continue = false;
}

void ferry_gateway__req_init(ferry_gateway__req *r) {
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    req_reset(r);
}

void ferry_gateway__req_free(ferry_gateway__req *r) {
    ferry_free(r->head);
    ferry_free(r->body);
    r->head = NULL;
    r->body = NULL;
    r->head_cap = r->body_cap = 0;
}

size_t ferry_gateway__req_feed(ferry_gateway__req *r, const char *data, size_t len,
                               uint64_t now_ns) {
    if (r->state != FERRY_GATEWAY_REQ_MORE)
        return 0;
    r->now_ns = now_ns;
    size_t n = http_parser_execute(&r->parser, &settings, data, len);
    if (r->state != FERRY_GATEWAY_REQ_MORE)
        return n;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (e != HPE_OK)
        fail(r, 400, http_errno_description(e));
    else if (n != len)
        fail(r, 400, "bytes after an upgrade request");
    return n;
}

void ferry_gateway__req_next(ferry_gateway__req *r) {
    req_reset(r);
    if (r->body_cap > FERRY_GATEWAY__KEEP_BUFFER) {
        /* A big body's buffer is not kept for the next request of an idle connection. */
        ferry_free(r->body);
        r->body = NULL;
        r->body_cap = 0;
    }
    http_parser_pause(&r->parser, 0);
}

bool ferry_gateway__hop_by_hop(const char *name, size_t len) {
    static const char *const hop[] = {"connection",
                                      "keep-alive",
                                      "proxy-connection",
                                      "te",
                                      "trailer",
                                      "transfer-encoding",
                                      "upgrade",
                                      "proxy-authenticate",
                                      "proxy-authorization",
                                      "content-length",
                                      "expect"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (strlen(hop[i]) == len && strncasecmp(name, hop[i], len) == 0)
            return true;
    return false;
}

const char *ferry_gateway__reason(int status) {
    const char *s = http_status_str((enum http_status)status);
    return strcmp(s, "<unknown>") == 0 ? "Status" : s;
}
