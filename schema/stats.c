/* The latency histogram of call statistics (include/ferry/stats.h). */
#include "ferry/stats.h"

uint64_t ferry_stats_bound_us(int k) {
    if (k < 0)
        return 0;
    if (k >= FERRY_STATS_BUCKETS - 1)
        return UINT64_MAX;
    return (uint64_t)50 << k;
}

int ferry_stats_bucket(uint64_t us) {
    for (int k = 0; k < FERRY_STATS_BUCKETS - 1; k++)
        if (us <= ferry_stats_bound_us(k))
            return k;
    return FERRY_STATS_BUCKETS - 1;
}

double ferry_stats_quantile_ms(const uint64_t *buckets, double q) {
    uint64_t total = 0;
    for (int k = 0; k < FERRY_STATS_BUCKETS; k++)
        total += buckets[k];
    if (total == 0 || !(q > 0.0 && q < 1.0))
        return 0.0;
    /* The rank of the quantile among the calls, then the bucket that holds it. */
    double rank = q * (double)total;
    uint64_t below = 0;
    for (int k = 0; k < FERRY_STATS_BUCKETS; k++) {
        if (buckets[k] == 0 || (double)(below + buckets[k]) < rank) {
            below += buckets[k];
            continue;
        }
        double lo = (double)ferry_stats_bound_us(k - 1);
        if (k == FERRY_STATS_BUCKETS - 1)
            return lo / 1000.0;
        double hi = (double)ferry_stats_bound_us(k);
        double frac = (rank - (double)below) / (double)buckets[k];
        return (lo + frac * (hi - lo)) / 1000.0;
    }
    return (double)ferry_stats_bound_us(FERRY_STATS_BUCKETS - 2) / 1000.0;
}
