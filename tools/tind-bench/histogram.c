/*
 * histogram.c -- log-linear latency histogram (see histogram.h).
 *
 * Bucket layout: index v for v < 2^S (S = BH_SUB_BITS); for v >= 2^S with
 * e = floor(log2 v), index (e - S + 1) * 2^S + (v >> (e - S)) - 2^S. The
 * mapping is monotonic and continuous at 2^S, so buckets are ordered by value.
 */
#include "histogram.h"

#include <string.h>

#define BH_SUB_COUNT (1u << BH_SUB_BITS)

void bh_init(bench_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

unsigned bh_bucket_of(uint64_t v)
{
    if (v < BH_SUB_COUNT)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    if (e > BH_MAX_EXP)
        return BH_BUCKETS - 1;
    unsigned shift = e - BH_SUB_BITS;
    return ((shift + 1) << BH_SUB_BITS) + (unsigned)(v >> shift) - BH_SUB_COUNT;
}

uint64_t bh_bucket_low(unsigned b)
{
    if (b < BH_SUB_COUNT)
        return b;
    unsigned shift = (b >> BH_SUB_BITS) - 1;
    uint64_t mant = (uint64_t)(b & (BH_SUB_COUNT - 1)) + BH_SUB_COUNT;
    return mant << shift;
}

static uint64_t bh_bucket_width(unsigned b)
{
    if (b < BH_SUB_COUNT)
        return 1;
    return (uint64_t)1 << ((b >> BH_SUB_BITS) - 1);
}

void bh_record(bench_hist *h, uint64_t ns)
{
    h->count++;
    h->sum += ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
    h->buckets[bh_bucket_of(ns)]++;
}

void bh_merge(bench_hist *dst, const bench_hist *src)
{
    if (src->count == 0)
        return;
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    for (unsigned i = 0; i < BH_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
}

uint64_t bh_quantile(const bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BH_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = bh_bucket_low(i) + bh_bucket_width(i) / 2;
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}

double bh_mean(const bench_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
