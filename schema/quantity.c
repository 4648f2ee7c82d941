/* Ferry quantities and times: CPU and memory limits in Kubernetes quantity form, RFC 3339 times. */
#include "ferry/quantity.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define DEC_MAX_FRACTION 18 /* decimal places kept exactly (10^18 fits uint64) */

/* A non-negative decimal number ip + frac / 10^fd, parsed exactly. */
typedef struct {
    uint64_t ip;
    uint64_t frac;
    int fd;
} decimal;

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Parse "digits[.digits]" from s (stops at the first other character). *used receives the number
 * of characters consumed. FERRY_EINVAL when there is no number there, a '.' without digits on
 * both sides, or more than DEC_MAX_FRACTION significant decimal places; FERRY_ETOOBIG when the
 * integer part exceeds INT64_MAX. */
static ferry_err parse_decimal(const char *s, decimal *d, size_t *used) {
    size_t i = 0;
    bool big = false;

    memset(d, 0, sizeof(*d));
    if (!is_digit(s[0]))
        return FERRY_EINVAL;
    for (; is_digit(s[i]); i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (d->ip > ((uint64_t)INT64_MAX - digit) / 10)
            big = true;
        else
            d->ip = d->ip * 10 + digit;
    }
    if (s[i] == '.') {
        size_t start = ++i;
        size_t end;
        if (!is_digit(s[i]))
            return FERRY_EINVAL;
        while (is_digit(s[i]))
            i++;
        end = i;
        while (end > start && s[end - 1] == '0') /* trailing zeros carry no value */
            end--;
        if (end - start > DEC_MAX_FRACTION)
            return FERRY_EINVAL;
        for (size_t k = start; k < end; k++)
            d->frac = d->frac * 10 + (unsigned)(s[k] - '0');
        d->fd = (int)(end - start);
    }
    *used = i;
    return big ? FERRY_ETOOBIG : FERRY_OK;
}

/* d * base^exp as an integer: *out gets the value rounded down, *exact whether nothing was cut.
 * The fraction is multiplied one factor of base at a time with a remainder below 10^fd, so no
 * step needs more than 64 bits. FERRY_ETOOBIG past INT64_MAX. */
static ferry_err scale(const decimal *d, unsigned base, int exp, int64_t *out, bool *exact) {
    uint64_t whole = d->ip;
    uint64_t den = 1;
    uint64_t q = 0;
    uint64_t r = d->frac;

    for (int k = 0; k < d->fd; k++)
        den *= 10;
    for (int k = 0; k < exp; k++) {
        if (whole > (uint64_t)INT64_MAX / base)
            return FERRY_ETOOBIG;
        whole *= base;
        r *= base;
        q = q * base + r / den;
        r %= den;
    }
    if (q > (uint64_t)INT64_MAX - whole)
        return FERRY_ETOOBIG;
    *out = (int64_t)(whole + q);
    *exact = r == 0;
    return FERRY_OK;
}

ferry_err ferry_quantity_parse_cpu(const json_t *v, int64_t *millicores) {
    int64_t m = 0;
    ferry_err rc;

    if (json_is_integer(v)) {
        json_int_t cores = json_integer_value(v);
        if (cores <= 0)
            return FERRY_EINVAL;
        if (cores > FERRY_CPU_MAX_MILLICORES / 1000)
            return FERRY_ETOOBIG;
        m = (int64_t)cores * 1000;
    } else if (json_is_real(v)) {
        double cores = json_real_value(v);
        if (!isfinite(cores) || cores <= 0)
            return FERRY_EINVAL;
        if (cores > (double)(FERRY_CPU_MAX_MILLICORES / 1000))
            return FERRY_ETOOBIG;
        /* 0.1 is not exact in binary: accept what lies within a rounding error of a millicore */
        double mc = cores * 1000.0;
        double whole = round(mc);
        if (fabs(mc - whole) > 1e-6 * (whole > 1 ? whole : 1))
            return FERRY_EINVAL;
        m = (int64_t)whole;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        decimal d;
        size_t used = 0;
        bool exact = false;
        if (strlen(s) != json_string_length(v))
            return FERRY_EINVAL;
        if ((rc = parse_decimal(s, &d, &used)) != FERRY_OK)
            return rc;
        bool milli = s[used] == 'm';
        if (s[used + (milli ? 1 : 0)] != '\0')
            return FERRY_EINVAL;
        if ((rc = scale(&d, 10, milli ? 0 : 3, &m, &exact)) != FERRY_OK)
            return rc;
        if (!exact)
            return FERRY_EINVAL;
    } else {
        return FERRY_EINVAL;
    }
    if (m <= 0)
        return FERRY_EINVAL;
    if (m > FERRY_CPU_MAX_MILLICORES)
        return FERRY_ETOOBIG;
    if (millicores != NULL)
        *millicores = m;
    return FERRY_OK;
}

ferry_err ferry_quantity_parse_memory(const json_t *v, int64_t *bytes) {
    static const struct {
        const char *suffix;
        unsigned base;
        int exp;
    } suffixes[] = {
        {"", 10, 0},   {"k", 10, 3},  {"M", 10, 6},  {"G", 10, 9},  {"T", 10, 12},
        {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20}, {"Gi", 2, 30},
        {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
    };
    int64_t b = 0;
    ferry_err rc;

    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return FERRY_EINVAL;
        b = (int64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        decimal d;
        size_t used = 0;
        bool exact = false;
        size_t k;
        if (strlen(s) != json_string_length(v))
            return FERRY_EINVAL;
        if ((rc = parse_decimal(s, &d, &used)) != FERRY_OK)
            return rc;
        for (k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++)
            if (strcmp(s + used, suffixes[k].suffix) == 0)
                break;
        if (k == sizeof(suffixes) / sizeof(suffixes[0]))
            return FERRY_EINVAL;
        if ((rc = scale(&d, suffixes[k].base, suffixes[k].exp, &b, &exact)) != FERRY_OK)
            return rc;
        if (!exact) { /* a fraction of a byte rounds up, as in Kubernetes */
            if (b == INT64_MAX)
                return FERRY_ETOOBIG;
            b++;
        }
    } else {
        return FERRY_EINVAL;
    }
    if (bytes != NULL)
        *bytes = b;
    return FERRY_OK;
}

/* ---- RFC 3339 -------------------------------------------------------------------------------- */

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool leap_year(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

ferry_err ferry_time_parse_rfc3339(const char *s, int64_t *ms) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (s == NULL || strlen(s) < 20)
        return FERRY_EINVAL;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
        sec > 60 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return FERRY_EINVAL;
    if (d > mdays[mo - 1] + (mo == 2 && leap_year(y)))
        return FERRY_EINVAL;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; is_digit(*p); p++, n++)
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (n == 0)
            return FERRY_EINVAL;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2);
        if (oh < 0 || oh > 23 || p[3] != ':')
            return FERRY_EINVAL;
        int om = digits(p + 4, 2);
        if (om < 0 || om > 59)
            return FERRY_EINVAL;
        offset_min = (int64_t)(oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return FERRY_EINVAL;
    }
    if (*p != '\0')
        return FERRY_EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec -
                   offset_min * 60;
    if (ms != NULL)
        *ms = secs * 1000 + frac_ms;
    return FERRY_OK;
}
