/* Ferry common definitions shared by every module: the error enum and error details, logging,
 * allocation wrappers, clocks. */
#ifndef FERRY_COMMON_H
#define FERRY_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One error enum for the whole project; 0 is success. */
typedef enum {
    FERRY_OK = 0,
    FERRY_ENOMEM,    /* allocation failed */
    FERRY_EINVAL,    /* invalid argument or input that fails validation */
    FERRY_ETOOBIG,   /* input exceeds a size, count or depth cap */
    FERRY_EFORMAT,   /* malformed encoding (msgpack, JSON, topic, record) */
    FERRY_EVERSION,  /* unknown format version */
    FERRY_ENOTFOUND, /* no such object */
    FERRY_EEXIST,    /* object already exists */
    FERRY_ECONFLICT, /* version conflict or object in use */
    FERRY_ESTORE,    /* LMDB failure */
    FERRY_EIO,       /* I/O or transport failure */
    FERRY_EENGINE,   /* container engine answered with an error */
    FERRY_ERR_COUNT
} ferry_err;

/* A static, human readable description of err. Never NULL. */
const char *ferry_strerror(ferry_err err);

/* What a failure is about, for a person: the one shape of error details in Ferry (the validators
 * of the schema library and the bridge's operations fill it; the REST API answers with it).
 * field: the path the failure is about ("services[1].ports[0].hostPort"), "" when none.
 * message: what is wrong, without the field ("must be an integer between 1 and 65535", "app 'web'
 * already exists"). Both are valid UTF-8 (cut at a character boundary when too long). */
typedef struct {
    char field[192];
    char message[512];
} ferry_detail;

/* Fill *d, when d is not NULL, with field (NULL counts as "") and the printf-formatted message;
 * return err. For the one-line error returns of validators and operations:
 *   return ferry_fail(d, FERRY_EINVAL, "replicas", "must be an integer between 1 and %d", 64); */
ferry_err ferry_fail(ferry_detail *d, ferry_err err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* d as one line in buf (len bytes, cut at a character boundary): "field: message", or the
 * message alone when field is "". Returns buf. */
const char *ferry_detail_text(const ferry_detail *d, char *buf, size_t len);

/* ---- logging --------------------------------------------------------------------------------- */

typedef enum {
    FERRY_LOG_ERROR = 0,
    FERRY_LOG_WARN = 1,
    FERRY_LOG_INFO = 2,
    FERRY_LOG_DEBUG = 3
} ferry_log_level;

/* Current threshold; messages above it are not formatted. Default FERRY_LOG_INFO.
 * Read from FERRY_LOG_LEVEL (error|warn|info|debug) by ferry_log_init(). */
extern ferry_log_level ferry_log_threshold;

/* Set the program name printed on every line and read FERRY_LOG_LEVEL. */
void ferry_log_init(const char *program);

void ferry_log_write(ferry_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The one log macro: checks the level before formatting. Lines go to stderr as
 * "2026-11-26T06:44:48Z program LEVEL file:line message". */
#define FERRY_LOG(level, ...)                                                                      \
    do {                                                                                           \
        if ((level) <= ferry_log_threshold)                                                        \
            ferry_log_write((level), __FILE__, __LINE__, __VA_ARGS__);                             \
    } while (0)
#define LOG_ERROR(...) FERRY_LOG(FERRY_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) FERRY_LOG(FERRY_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) FERRY_LOG(FERRY_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) FERRY_LOG(FERRY_LOG_DEBUG, __VA_ARGS__)

/* ---- allocation ------------------------------------------------------------------------------ */

/* All allocation in Ferry goes through these. They return NULL on failure (the codec layer turns
 * that into FERRY_ENOMEM; daemons may abort). ferry_calloc checks nmemb*size for overflow.
 * ferry_free(NULL) is a no-op. */
void *ferry_malloc(size_t size);
void *ferry_calloc(size_t nmemb, size_t size);
void *ferry_realloc(void *ptr, size_t size);
char *ferry_strdup(const char *s);
char *ferry_strndup(const char *s, size_t n);
void ferry_free(void *ptr);

/* Test hook (the failing-allocator loop): when set to N > 0, the N-th allocation from now fails
 * and the counter resets to 0. 0 disables. Also routes jansson's allocations through the wrappers
 * once ferry_alloc_install_json() was called. */
void ferry_alloc_fail_after(long n);
void ferry_alloc_install_json(void);

/* Make text from outside (container logs, engine messages) safe to put in a protocol string:
 * in place, every byte that is not part of a valid UTF-8 sequence, and every control character
 * but newline and tab, becomes '?'. */
void ferry_text_scrub(char *s);

/* Wall clock in milliseconds since the epoch; monotonic clock in milliseconds. */
int64_t ferry_now_ms(void);
int64_t ferry_mono_ms(void);

#endif
