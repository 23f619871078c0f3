/*
 * histogram.h -- an HDR-style log-linear latency histogram for tind-bench.
 *
 * Values (nanoseconds) below 2^BH_SUB_BITS are counted exactly; above, each
 * power-of-two range [2^e, 2^(e+1)) is split into 2^BH_SUB_BITS equal
 * buckets, so any recorded value is known to within 1/2^BH_SUB_BITS (0.8%)
 * of itself. Values beyond 2^BH_MAX_EXP ns (~5 hours) land in the last
 * bucket. Memory is fixed (~48 KiB) whatever the number of samples.
 *
 * Not thread-safe: each benchmark thread records into its own histogram and
 * the harness merges them (bh_merge) after the threads have stopped.
 */
#ifndef TIND_BENCH_HISTOGRAM_H
#define TIND_BENCH_HISTOGRAM_H

#include <stdint.h>

#define BH_SUB_BITS 7
#define BH_MAX_EXP 44
#define BH_BUCKETS ((BH_MAX_EXP - BH_SUB_BITS + 2) << BH_SUB_BITS)

typedef struct bench_hist {
    uint64_t count;
    uint64_t sum;          /* ns, for the mean */
    uint64_t min;
    uint64_t max;
    uint64_t buckets[BH_BUCKETS];
} bench_hist;

void bh_init(bench_hist *h);
void bh_record(bench_hist *h, uint64_t ns);
/* dst += src */
void bh_merge(bench_hist *dst, const bench_hist *src);
/* The value at quantile q (0..1): the midpoint of the bucket holding the
 * ceil(q * count)-th smallest sample, clamped to [min, max]; 0 when empty. */
uint64_t bh_quantile(const bench_hist *h, double q);
double bh_mean(const bench_hist *h);

/* Exposed for the self-check: the bucket of a value and the lowest value of a bucket. */
unsigned bh_bucket_of(uint64_t ns);
uint64_t bh_bucket_low(unsigned bucket);

#endif
