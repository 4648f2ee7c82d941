/* Internal interfaces between the files of the schema library (not installed, not public). */
#ifndef FERRY_SCHEMA_INTERNAL_H
#define FERRY_SCHEMA_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include <stdarg.h>
#include <stdio.h>

#include "ferry/common.h"

/* common.c: drop an incomplete UTF-8 sequence that truncation left at the end of s. */
void common__utf8_trim(char *s);

/* codec.c: true when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF) without NUL bytes. C consumers read our strings NUL-terminated, so an embedded NUL
 * would let "web\0x" pass as "web". */
bool codec__text_valid(const char *s, size_t n);

/* codec.c: number of code points in the valid UTF-8 string s (JSON Schema's maxLength unit). */
size_t codec__utf8_chars(const char *s);

/* labels.c: label key and value rules (see ferry_labels_validate). */
bool labels__key_valid(const char *key, size_t len);
bool labels__value_valid(const char *value, size_t len);

/* validate.c: checks shared by the validators (labels.c, selector.c, config.c, app.c). */
/* Reject members of obj not in allowed (nor in ignored, which may be NULL); path is the object's
 * field path ("" for the top level). */
ferry_err validate__check_fields(const json_t *obj, const char *path, const char *const *allowed,
                                 const char *const *ignored, ferry_detail *d);
/* The string of v when it is a JSON string without NUL bytes, else NULL. */
const char *validate__str(const json_t *v);
/* true when key is in the NULL-terminated set. */
bool validate__key_in(const char *key, const char *const *set);
/* A short, printable rendering of an untrusted string for error messages, in buf. */
const char *validate__quote(const char *s, char *buf, size_t cap);

/* config.c: check the "resolved" member of an app that passed every other rule (app.c calls it
 * last). */
ferry_err config__check_resolved(const json_t *app, const json_t *resolved, ferry_detail *d);

/* patch.c: structural check of an untrusted patch without a document. FERRY_EFORMAT (why says
 * what is wrong) or FERRY_ETOOBIG past FERRY_MAX_DEPTH. */
ferry_err patch__check(const json_t *patch, char *why, size_t whylen);

/* Format a field path ("services[1].ports[0]") into buf. Paths are bounded by the validator's
 * caps on names and counts; one that would not fit is cut, which only shortens an error message.
 * (A function of its own so that GCC's -Wformat-truncation, which cannot know those caps, stays
 * on for every other snprintf.) */
__attribute__((format(printf, 3, 4))) static inline void ferry__path(char *buf, size_t len,
                                                                     const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* app.c: checks function.c shares. */
ferry_err app__check_env(const json_t *env, const char *path, ferry_detail *d);
ferry_err app__check_mounts(const json_t *mounts, const char *path, const json_t *volumes,
                            ferry_detail *d);
ferry_err app__check_resources(const json_t *res, const char *path, ferry_detail *d);
/* The container named name in list[0..n); its index in *at. */
bool app__name_in(const json_t *list, size_t n, const char *name, size_t *at);
/* The kind key of a volume ("hostPath", "config", ...), or NULL when it has none or several. */
const char *app__volume_kind(const json_t *vol);
/* config, secret or certificate: a kind that names a config object. */
bool app__config_kind(const char *kind);

/* function.c: function apps (type "function"). */
bool function__is_function_app(const json_t *app);
/* App-level rules of a function app (no initServices, no job, one replica, reserved volumes). */
ferry_err function__check_app(const json_t *app, ferry_detail *d);
/* services[i] of a function app. */
ferry_err function__check_service(const json_t *list, size_t i, const json_t *volumes,
                                  ferry_detail *d);
/* A function service with defaults; env and mounts (normalized by app.c) are stolen. */
json_t *function__normalize_service(const json_t *svc, json_t *env, json_t *mounts);

#endif
