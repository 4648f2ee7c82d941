/* ferryctl output: aligned tables and kubectl-style ages. */
#include "table.h"

#include <string.h>

#include "ferry/common.h"
#include "ferry/quantity.h"

struct ctl_table {
    size_t ncols, nrows, cap;
    char **cells; /* row-major, the headers as row 0 */
};

ctl_table *ctl_table_new(size_t ncols, const char *const *headers) {
    ctl_table *t = ferry_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    if (ctl_table_add(t, headers) != 0) {
        ctl_table_free(t);
        return NULL;
    }
    return t;
}

void ctl_table_free(ctl_table *t) {
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        ferry_free(t->cells[i]);
    ferry_free(t->cells);
    ferry_free(t);
}

size_t ctl_table_rows(const ctl_table *t) {
    return t->nrows - 1;
}

int ctl_table_add(ctl_table *t, const char *const *cells) {
    if (t->nrows == t->cap) {
        size_t ncap = t->cap != 0 ? t->cap * 2 : 16;
        char **nc = ferry_calloc(ncap * t->ncols, sizeof(*nc));
        if (nc == NULL)
            return -1;
        if (t->cells != NULL)
            memcpy(nc, t->cells, t->nrows * t->ncols * sizeof(*nc));
        ferry_free(t->cells);
        t->cells = nc;
        t->cap = ncap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        if ((row[c] = ferry_strdup(cells[c] != NULL ? cells[c] : "")) == NULL) {
            for (size_t j = 0; j < c; j++) {
                ferry_free(row[j]);
                row[j] = NULL;
            }
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

/* Characters of UTF-8 text: the bytes that do not continue a sequence. */
static size_t width(const char *s) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

void ctl_table_write(const ctl_table *t, size_t ncols, const char *indent, FILE *f) {
    size_t w[32] = {0};
    size_t nc = ncols < t->ncols ? ncols : t->ncols;
    nc = nc < 32 ? nc : 32;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t x = width(t->cells[r * t->ncols + c]);
            w[c] = x > w[c] ? x : w[c];
        }
    for (size_t r = 0; r < t->nrows; r++) {
        /* Empty cells at the end of a row get no padding: no trailing blanks. */
        size_t last = nc;
        while (last > 1 && t->cells[r * t->ncols + last - 1][0] == '\0')
            last--;
        fputs(indent, f);
        for (size_t c = 0; c < last; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            fputs(cell, f);
            if (c + 1 < last)
                fprintf(f, "%*s", (int)(w[c] - width(cell) + 3), "");
        }
        fputc('\n', f);
    }
}

void ctl_age(int64_t seconds, char *buf, size_t len) {
    if (seconds < -1) {
        snprintf(buf, len, "<invalid>");
        return;
    }
    if (seconds < 0)
        seconds = 0;
    int64_t minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;
    int64_t years = days / 365;
    if (seconds < 120)
        snprintf(buf, len, "%llds", (long long)seconds);
    else if (minutes < 10 && seconds % 60 != 0)
        snprintf(buf, len, "%lldm%llds", (long long)minutes, (long long)(seconds % 60));
    else if (minutes < 180)
        snprintf(buf, len, "%lldm", (long long)minutes);
    else if (hours < 8 && minutes % 60 != 0)
        snprintf(buf, len, "%lldh%lldm", (long long)hours, (long long)(minutes % 60));
    else if (hours < 48)
        snprintf(buf, len, "%lldh", (long long)hours);
    else if (hours < 192 && hours % 24 != 0)
        snprintf(buf, len, "%lldd%lldh", (long long)days, (long long)(hours % 24));
    else if (days < 730)
        snprintf(buf, len, "%lldd", (long long)days);
    else if (years < 8 && days % 365 != 0)
        snprintf(buf, len, "%lldy%lldd", (long long)years, (long long)(days % 365));
    else
        snprintf(buf, len, "%lldy", (long long)years);
}

void ctl_age_since(const char *rfc3339, int64_t now_ms, char *buf, size_t len) {
    int64_t at = 0;
    if (rfc3339 == NULL || ferry_time_parse_rfc3339(rfc3339, &at) != FERRY_OK) {
        snprintf(buf, len, "<unknown>");
        return;
    }
    /* Floor toward the past like kubectl: 999 ms old is 0s. */
    int64_t d = now_ms - at;
    ctl_age(d >= 0 ? d / 1000 : -((-d + 999) / 1000), buf, len);
}
