/* ferryctl manifests: YAML (libyaml) or JSON documents turned into JSON objects, and JSON written
 * back as YAML (get -o yaml). */
#ifndef FERRYCTL_MANIFEST_H
#define FERRYCTL_MANIFEST_H

#include <jansson.h>
#include <stdio.h>

/* Read f to its end: a new buffer (ferry_malloc; free with ferry_free) of *len bytes plus a NUL,
 * or NULL with errno EFBIG (more than max bytes), EIO (a read error) or ENOMEM. */
char *ctl_read_all(FILE *f, size_t max, size_t *len);

/* Parse text (len bytes) into an array of JSON objects, one per document (new, in *docs).
 * Text whose first non-blank character is '{' or '[' is JSON: one object, or an array of objects.
 * Anything else is YAML, any number of documents ("---"); empty documents are skipped. Plain
 * YAML scalars resolve as in the YAML 1.2 core schema (null, ~ and the empty scalar: null;
 * true/false in three casings; decimal, 0o octal and 0x hex integers; decimal floats); quoted
 * scalars and other plain scalars are strings ("yes", "on" and "1.0.2" included); the tags !!str,
 * !!int, !!float, !!bool and !!null are honoured; aliases are expanded. Every document must be a
 * mapping, keys must be unique scalars. Returns 0, or -1 with "SOURCE:LINE:COLUMN: what" in err
 * (lines and columns from 1). */
int ctl_manifest_parse(const char *text, size_t len, const char *source, json_t **docs, char *err,
                       size_t errlen);

/* What a plain scalar means (the resolution above): a new JSON value; a string when nothing
 * else. NULL for an integer that does not fit in 64 bits. */
json_t *ctl_yaml_resolve_plain(const char *s, size_t len);

/* Write v as a YAML document to f (block style; strings quoted where plain would resolve to
 * something else). Returns 0, or -1 on a write error. */
int ctl_yaml_write(FILE *f, const json_t *v);

#endif
