/* ferryctl samples: example messages of every type, and the writers of golden files and fuzz seeds
 * built from them with our own encoder. */
#ifndef FERRYCTL_SAMPLES_H
#define FERRYCTL_SAMPLES_H

#include <jansson.h>

/* Example app specs (JSON text): version 1 and version 2 of app "web". */
extern const char *const samples_app_v1;
extern const char *const samples_app_v2;

/* Sample message i (0 <= i < samples_count(), without "v"), named for file names
 * ("app-put", ...). Returns a new reference or NULL on error. */
size_t samples_count(void);
json_t *samples_message(size_t i, const char **name);

/* Write the golden payloads and their MANIFEST into dir (which must exist). 0 on success. */
int samples_write_golden(const char *dir);

/* Write fuzz seed corpora into dir/<fuzzer>/ for every fuzz target. 0 on success. */
int samples_write_seeds(const char *dir);

#endif
