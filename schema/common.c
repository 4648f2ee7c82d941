/* Ferry common runtime: error strings, the logger, allocation wrappers (with the failing-allocator
 * test hook) and clocks. */
#include "ferry/common.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* ---- errors ---------------------------------------------------------------------------------- */

const char *ferry_strerror(ferry_err err) {
    static const char *const msgs[FERRY_ERR_COUNT] = {
        [FERRY_OK] = "success",
        [FERRY_ENOMEM] = "out of memory",
        [FERRY_EINVAL] = "invalid argument or input",
        [FERRY_ETOOBIG] = "input exceeds a size, count or depth limit",
        [FERRY_EFORMAT] = "malformed encoding",
        [FERRY_EVERSION] = "unsupported format version",
        [FERRY_ENOTFOUND] = "not found",
        [FERRY_EEXIST] = "already exists",
        [FERRY_ECONFLICT] = "version conflict or object in use",
        [FERRY_ESTORE] = "storage (LMDB) failure",
        [FERRY_EIO] = "I/O or transport failure",
        [FERRY_EENGINE] = "container engine error",
    };
    if ((unsigned)err >= FERRY_ERR_COUNT || msgs[err] == NULL)
        return "unknown error";
    return msgs[err];
}

/* ---- error details --------------------------------------------------------------------------- */

void common__utf8_trim(char *s) {
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0) {
        s[0] = '\0';
        return;
    }
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (n - (i - 1) < want)
        s[i - 1] = '\0';
}

ferry_err ferry_fail(ferry_detail *d, ferry_err err, const char *field, const char *fmt, ...) {
    if (d == NULL)
        return err;
    snprintf(d->field, sizeof(d->field), "%s", field != NULL ? field : "");
    common__utf8_trim(d->field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
    common__utf8_trim(d->message);
    return err;
}

const char *ferry_detail_text(const ferry_detail *d, char *buf, size_t len) {
    if (len == 0)
        return buf;
    if (d->field[0] != '\0')
        snprintf(buf, len, "%s: %s", d->field, d->message);
    else
        snprintf(buf, len, "%s", d->message);
    common__utf8_trim(buf);
    return buf;
}

/* ---- logging --------------------------------------------------------------------------------- */

ferry_log_level ferry_log_threshold = FERRY_LOG_INFO;

/* Set once by ferry_log_init() before threads start; read by every thread afterwards. */
static char log_program[64] = "ferry";

void ferry_log_init(const char *program) {
    if (program != NULL && program[0] != '\0') {
        const char *base = strrchr(program, '/');
        base = base != NULL && base[1] != '\0' ? base + 1 : program;
        snprintf(log_program, sizeof(log_program), "%s", base);
    }
    const char *lvl = getenv("FERRY_LOG_LEVEL");
    if (lvl == NULL || lvl[0] == '\0')
        return;
    if (strcasecmp(lvl, "error") == 0)
        ferry_log_threshold = FERRY_LOG_ERROR;
    else if (strcasecmp(lvl, "warn") == 0 || strcasecmp(lvl, "warning") == 0)
        ferry_log_threshold = FERRY_LOG_WARN;
    else if (strcasecmp(lvl, "info") == 0)
        ferry_log_threshold = FERRY_LOG_INFO;
    else if (strcasecmp(lvl, "debug") == 0)
        ferry_log_threshold = FERRY_LOG_DEBUG;
    else
        LOG_WARN("FERRY_LOG_LEVEL='%s' is not one of error|warn|info|debug; keeping 'info'", lvl);
}

/* Each line is formatted into one buffer and written with a single fwrite, so lines from
 * different threads never interleave (stdio locks the stream per call). Control characters in
 * the message (which may quote untrusted input) are replaced so that one call is one line. */
void ferry_log_write(ferry_log_level level, const char *file, int line, const char *fmt, ...) {
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char buf[4096];
    char ts[32] = "";
    struct timespec now;
    struct tm tm;

    if (clock_gettime(CLOCK_REALTIME, &now) == 0 && gmtime_r(&now.tv_sec, &tm) != NULL) {
        size_t k = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + k, sizeof(ts) - k, ".%03ldZ", now.tv_nsec / 1000000); /* milliseconds */
    }
    const char *base = file != NULL ? strrchr(file, '/') : NULL;
    base = base != NULL ? base + 1 : (file != NULL ? file : "?");
    const char *lname = (unsigned)level < 4 ? names[level] : "LOG";

    int n = snprintf(buf, sizeof(buf), "%s %s %s %s:%d ", ts, log_program, lname, base, line);
    if (n < 0 || (size_t)n >= sizeof(buf) - 2)
        n = 0;
    size_t head = (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + head, sizeof(buf) - head - 1, fmt, ap);
    va_end(ap);
    size_t end = head;
    if (m > 0)
        end += (size_t)m < sizeof(buf) - head - 1 ? (size_t)m : sizeof(buf) - head - 2;
    for (size_t i = head; i < end; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c < 0x20 || c == 0x7f)
            buf[i] = c == '\t' ? ' ' : '?';
    }
    buf[end++] = '\n';
    fwrite(buf, 1, end, stderr);
}

/* ---- allocation ------------------------------------------------------------------------------ */

/* Countdown for ferry_alloc_fail_after(); 0 = disabled. Atomic so the hook is safe to leave in
 * multi-threaded daemons (the fast path is one relaxed load). */
static atomic_long alloc_countdown;

void ferry_alloc_fail_after(long n) {
    atomic_store(&alloc_countdown, n > 0 ? n : 0);
}

static bool alloc_should_fail(void) {
    long n = atomic_load_explicit(&alloc_countdown, memory_order_relaxed);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&alloc_countdown, &n, n - 1))
            return n == 1;
    }
    return false;
}

void *ferry_malloc(size_t size) {
    if (alloc_should_fail())
        return NULL;
    return malloc(size != 0 ? size : 1);
}

void *ferry_calloc(size_t nmemb, size_t size) {
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    if (alloc_should_fail())
        return NULL;
    if (nmemb == 0 || size == 0)
        return calloc(1, 1);
    return calloc(nmemb, size);
}

void *ferry_realloc(void *ptr, size_t size) {
    if (alloc_should_fail())
        return NULL;
    return realloc(ptr, size != 0 ? size : 1);
}

char *ferry_strndup(const char *s, size_t n) {
    if (s == NULL)
        return NULL;
    size_t len = strnlen(s, n);
    char *p = ferry_malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *ferry_strdup(const char *s) {
    return s != NULL ? ferry_strndup(s, strlen(s)) : NULL;
}

void ferry_free(void *ptr) {
    free(ptr);
}

void ferry_alloc_install_json(void) {
    json_set_alloc_funcs(ferry_malloc, ferry_free);
}

/* ---- clocks ---------------------------------------------------------------------------------- */

static int64_t clock_ms(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ferry_now_ms(void) {
    return clock_ms(CLOCK_REALTIME);
}

int64_t ferry_mono_ms(void) {
    return clock_ms(CLOCK_MONOTONIC);
}

void ferry_text_scrub(char *s) {
    unsigned char *p = (unsigned char *)s;

    while (p != NULL && *p) {
        unsigned char c = *p;
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        uint32_t cp = n == 2 ? c & 0x1Fu : n == 3 ? c & 0x0Fu : c & 0x07u;
        size_t i;

        for (i = 1; i < n && (p[i] & 0xC0) == 0x80; i++)
            cp = (cp << 6) | (p[i] & 0x3Fu);
        /* Reject truncated sequences, overlong forms, surrogates and code points past U+10FFFF. */
        if (n == 0 || i < n || (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF && n == 3)) {
            *p++ = '?';
            continue;
        }
        if (n == 1 && (c < 0x20 || c == 0x7F) && c != '\n' && c != '\t')
            *p = '?';
        p += n;
    }
}
