/* Ferry quantities and times: resource limits in Kubernetes quantity form and RFC 3339 times. */
#ifndef FERRY_QUANTITY_H
#define FERRY_QUANTITY_H

#include <jansson.h>
#include <stdint.h>

#include "ferry/common.h"

/* Largest CPU limit accepted: one million cores (so cores * 1e9 nanoCPUs fits int64). */
#define FERRY_CPU_MAX_MILLICORES INT64_C(1000000000)

/* Parse a CPU quantity into millicores (1 core = 1000). v is a JSON number of cores (2, 0.5) or a
 * string: decimal cores ("2", "0.5", "1.25") or millicores with suffix 'm' ("500m"). No sign,
 * exponent, whitespace or other suffix. The value must be > 0, a whole number of millicores
 * ("0.0005" is refused) and at most FERRY_CPU_MAX_MILLICORES.
 * FERRY_OK with *millicores set; FERRY_EINVAL for junk, zero or a fraction of a millicore;
 * FERRY_ETOOBIG past the maximum. */
ferry_err ferry_quantity_parse_cpu(const json_t *v, int64_t *millicores);

/* Parse a memory quantity into bytes. v is a JSON integer >= 0 (bytes) or a string: a decimal
 * number ("1000", "1.5") with an optional suffix, decimal k M G T P E (10^3 .. 10^18) or binary
 * Ki Mi Gi Ti Pi Ei (2^10 .. 2^60). Fractions are exact decimals, rounded up to a whole byte
 * ("1.5Gi" = 1610612736, "0.5" = 1). No sign, exponent or whitespace.
 * FERRY_OK with *bytes set; FERRY_EINVAL for junk (a JSON real included); FERRY_ETOOBIG when the
 * value does not fit int64. */
ferry_err ferry_quantity_parse_memory(const json_t *v, int64_t *bytes);

/* Parse an RFC 3339 date-time with a zone into milliseconds since the epoch (UTC):
 * "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)"; 'T' and 'Z' may be lowercase; the fraction
 * (any number of digits) is truncated to milliseconds; second 60 (a leap second) counts as the
 * first second of the next minute. Fields are range-checked (February 29 only in leap years).
 * FERRY_OK with *ms set; FERRY_EINVAL otherwise (a time without zone included). */
ferry_err ferry_time_parse_rfc3339(const char *s, int64_t *ms);

#endif
