/* ferryctl output: tables with aligned columns, and ages as kubectl shows them. */
#ifndef FERRYCTL_TABLE_H
#define FERRYCTL_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ctl_table ctl_table;

/* A table of ncols columns with these headers (copied). NULL on ENOMEM. */
ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
void ctl_table_free(ctl_table *t);

/* The number of rows, not counting the headers. */
size_t ctl_table_rows(const ctl_table *t);

/* Append a row of ncols cells (copied; NULL is shown as ""). 0, or -1 on ENOMEM. */
int ctl_table_add(ctl_table *t, const char *const *cells);

/* Write the headers and rows, each line after indent: each column as wide as its widest cell,
 * three spaces between columns, no padding after the last non-empty cell of a row; only the first
 * ncols columns (at most the table's, at most 32). Widths count UTF-8 characters, not bytes. */
void ctl_table_write(const ctl_table *t, size_t ncols, const char *indent, FILE *f);

/* The age of something seconds old, as kubectl's HumanDuration: "45s", "3m12s" (under 10
 * minutes), "42m", "5h3m" (under 8 hours), "30h", "6d5h" (under 8 days), "120d", "2y30d",
 * "10y"; "0s" for the future within a second, "<invalid>" beyond. */
void ctl_age(int64_t seconds, char *buf, size_t len);

/* The age of an RFC 3339 time at now_ms into buf; "<unknown>" when it does not parse. */
void ctl_age_since(const char *rfc3339, int64_t now_ms, char *buf, size_t len);

#endif
