/* libFuzzer target: what edge-sync reads from the container engine (engine_wire.h), fed
 * arbitrary bytes in arbitrary chunks as curl hands them over (the layout is in fuzz_util.h):
 *   a progress stream: cut into lines, each line's verdict kept; whatever the chunks, the same
 *     lines and the same error and message as when it comes in one piece;
 *   a whole body: kept as it came (and, under a small cap, a prefix that stops at the cap, as
 *     curl stops at a refused chunk); parsed as JSON exactly when it is JSON; the error message
 *     taken from it is a prefix of its "message" or of the body, without trailing newlines;
 *   logs: demultiplexing never writes past what it was given; frames made by our encoder from
 *     the bytes come back as those bytes, and, cut short anywhere, as the part that arrived;
 *     made fit for a logs answer, they are at most its cap, valid UTF-8 without NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_wire.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The chunk sizes: 1..64 bytes from a xorshift generator seeded by the input, or, for seed 0,
 * the whole input at once. */
typedef struct {
    uint32_t state;
} chunker;

static size_t next_chunk(chunker *c, size_t left) {
    if (c->state == 0)
        return left;
    c->state ^= c->state << 13;
    c->state ^= c->state >> 17;
    c->state ^= c->state << 5;
    size_t n = 1 + c->state % 64;
    return n < left ? n : left;
}

/* A progress stream as engine.c reads it: resp_write per chunk, then the last line without
 * '\n' handed on. */
static void read_stream(const char *body, size_t len, uint32_t seed, ferry_engine__stream *s) {
    ferry_engine__resp b = {.on_line = ferry_engine__stream_line, .ctx = s};
    chunker c = {seed};
    memset(s, 0, sizeof(*s));
    for (size_t pos = 0, n; pos < len; pos += n) {
        n = next_chunk(&c, len - pos);
        if (ferry_engine__resp_write((char *)body + pos, 1, n, &b) != n)
            abort(); /* far below FERRY_ENGINE_LINE_CAP */
    }
    if (b.len > 0)
        ferry_engine__stream_line(s, b.data, b.len);
    ferry_engine__resp_free(&b);
}

static void check_stream(const char *body, size_t len, uint8_t seed) {
    ferry_engine__stream chunked, whole;
    size_t lines = 0;

    read_stream(body, len, (uint32_t)seed * 2654435761u + 1, &chunked);
    read_stream(body, len, 0, &whole);
    if (chunked.lines != whole.lines || strcmp(chunked.error, whole.error) != 0 ||
        strcmp(chunked.message, whole.message) != 0)
        abort();
    for (size_t i = 0; i < len; i++)
        lines += body[i] == '\n';
    if (len > 0 && body[len - 1] != '\n')
        lines++;
    if (whole.lines != lines)
        abort();
}

/* s[0..n) stops at its first NUL (what "%s" and "%.*s" print of it). */
static size_t c_len(const char *s, size_t n) {
    const char *nul = memchr(s, '\0', n);
    return nul != NULL ? (size_t)(nul - s) : n;
}

static void check_body(const char *body, size_t len, uint8_t seed) {
    ferry_engine__resp b = {0};
    chunker c = {(uint32_t)seed * 2654435761u + 1};
    json_t *parsed = NULL, *direct = NULL;
    char out[256];

    for (size_t pos = 0, n; pos < len; pos += n) {
        n = next_chunk(&c, len - pos);
        if (ferry_engine__resp_write((char *)body + pos, 1, n, &b) != n)
            abort();
    }
    if (b.len != len || (len > 0 && memcmp(b.data, body, len) != 0))
        abort();

    /* JSON exactly when it is JSON. */
    direct = json_loadb(body, len, 0, NULL);
    if ((ferry_engine__parse_body(&b, &parsed) == FERRY_OK) != (direct != NULL) ||
        (parsed != NULL && !json_equal(parsed, direct)))
        abort();

    /* The message a person reads. */
    long status = 400 + seed % 200;
    ferry_engine__message(&b, status, out, sizeof(out));
    size_t olen = strlen(out);
    if (olen > 0 && (out[olen - 1] == '\n' || out[olen - 1] == '\r'))
        abort();
    const char *msg = json_string_value(json_object_get(direct, "message"));
    if (msg != NULL) {
        if (strncmp(out, msg, olen) != 0)
            abort();
    } else if (len > 0) {
        if (olen > c_len(body, len > 512 ? 512 : len) || memcmp(out, body, olen) != 0)
            abort();
    } else {
        char want[64];
        snprintf(want, sizeof(want), "engine answered HTTP %ld", status);
        if (strcmp(out, want) != 0)
            abort();
    }
    json_decref(parsed);
    json_decref(direct);
    ferry_engine__resp_free(&b);

    /* Under a cap of seed bytes, chunk by chunk until one is refused, as curl does. */
    size_t cap = seed, pos = 0, n = 0;
    c.state = (uint32_t)seed + 7;
    for (; pos < len; pos += n) {
        n = next_chunk(&c, len - pos);
        if (!ferry_engine__resp_append(&b, body + pos, n, cap))
            break;
    }
    if (b.overflow != (pos < len) || b.len != pos || b.len > cap ||
        (b.len > 0 && memcmp(b.data, body, b.len) != 0) || (b.overflow && pos + n <= cap))
        abort();
    ferry_engine__resp_free(&b);
}

static void check_logs(const unsigned char *in, size_t len, uint8_t seed) {
    char *out = malloc(len + 1);
    unsigned char *frames = malloc(len * 9 + 8); /* a frame per byte at worst */
    chunker c = {(uint32_t)seed * 2654435761u + 1};
    size_t flen = 0, n;

    if (out == NULL || frames == NULL)
        abort();
    /* Anything: never more than it was given. */
    if ((n = ferry_engine__demux_logs(in, len, out)) > len || out[n] != '\0')
        abort();

    /* Our frames of the bytes, on every stream. */
    for (size_t pos = 0, k = 0; pos < len; pos += n, k++) {
        n = next_chunk(&c, len - pos);
        flen += fuzz_log_frame(frames + flen, (unsigned)(k % 3), in + pos, n);
    }
    if (ferry_engine__demux_logs(frames, flen, out) != len || memcmp(out, in, len) != 0)
        abort();
    /* Cut short: what arrived of the payloads whose header arrived. */
    size_t cut = flen > 0 ? (size_t)seed * 7919 % (flen + 1) : 0, want = 0;
    for (size_t pos = 0; pos + 8 <= cut;) {
        size_t plen = (size_t)frames[pos + 4] << 24 | (size_t)frames[pos + 5] << 16 |
                      (size_t)frames[pos + 6] << 8 | frames[pos + 7];
        size_t got = cut - (pos + 8) < plen ? cut - (pos + 8) : plen;
        want += got;
        pos += 8 + plen;
    }
    if (ferry_engine__demux_logs(frames, cut, out) != want || memcmp(out, in, want) != 0)
        abort();
    /* Made fit to send: at most the cap, and what jansson takes as a string (valid UTF-8, no
     * NUL); cut exactly when it was over the cap. */
    bool truncated = false;
    size_t max = 1 + (size_t)seed * 13;
    memcpy(out, in, len);
    n = ferry_engine__clean_log(out, len, max, &truncated);
    json_t *s = json_stringn(out, n);
    if (n > max || truncated != (len > max) || s == NULL || memchr(out, '\0', n) != NULL)
        abort();
    json_decref(s);
    free(frames);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    switch (data[0] % FUZZ_WIRE_KINDS) {
    case FUZZ_WIRE_STREAM:
        check_stream(body, len, data[1]);
        break;
    case FUZZ_WIRE_BODY:
        check_body(body, len, data[1]);
        break;
    default:
        check_logs(data + 2, len, data[1]);
        break;
    }
    return 0;
}
