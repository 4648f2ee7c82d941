/* Call statistics of the node gateway (monitorQps): the latency histogram both sides share and the
 * shape of the node.stats message (schema/PROTOCOL.md, "node.stats"). */
#ifndef FERRY_STATS_H
#define FERRY_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Latency buckets of a histogram. Bucket k (k < FERRY_STATS_BUCKETS - 1) counts calls that took at
 * most ferry_stats_bound_us(k) microseconds and more than bucket k-1's bound; the last bucket
 * counts everything slower. Bounds double from 50 us: 50 us, 100 us, ... ~13.1 s. */
#define FERRY_STATS_BUCKETS 20

/* Most entries ("calls") in one node.stats message; a node with more series sends the busiest. */
#define FERRY_STATS_MAX_CALLS 4096

/* The function name under which calls proxied to a container app's service are counted. */
#define FERRY_STATS_PROXY_FUNCTION "*"

/* Upper bound in microseconds of bucket k (0 <= k < FERRY_STATS_BUCKETS - 1); UINT64_MAX for the
 * last bucket. */
uint64_t ferry_stats_bound_us(int k);

/* The bucket a call of us microseconds falls in. */
int ferry_stats_bucket(uint64_t us);

/* The q-quantile (0 < q < 1) in milliseconds of a histogram of FERRY_STATS_BUCKETS counts,
 * interpolated linearly inside the bucket it falls in (the last bucket reports its lower bound).
 * 0 when the histogram is empty. */
double ferry_stats_quantile_ms(const uint64_t *buckets, double q);

#endif
