/*
 * test_bloom.c -- Bloom filters (src/format/bloom.c).
 *
 * Every check runs on both filter versions: 2 (blocked, written) and 1
 * (standard, still read). Checks: no false negatives at any size and
 * bits-per-key; measured false positive rates at 5, 10 and 20 bits/key
 * against the theory (version 1: (1 - e^{-kn/m})^k; version 2: the mean over
 * the filter's lines of (ones in the line / 512)^k), and version 2 within
 * 1.35x of version 1's rate up to the bits per key it is written for (the
 * builder's choice of version by bits per key is checked too); the documented sizing and probe formulas, bit
 * for bit, against an independent re-implementation; bloom_bits_for_fpr; the empty filter; appending several
 * filters to one buffer; and that bloom_check / bloom_may_contain are safe on
 * garbage, truncated and damaged filters (run under ASan to prove the bounds).
 */
#include <math.h>

#include "check.h"
#include "format/bloom.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/rand.h"

static uint64_t key_hash(const char *tag, uint64_t i)
{
    char k[64];
    int n = snprintf(k, sizeof k, "%s-%016" PRIx64 "-%" PRIx64, tag, i, check_seed);
    return hash64(k, (size_t)n);
}

static int version = 2;   /* of the filters build() makes: each test runs with 2, then 1 */

TEST(version_by_bits_per_key)
{
    static const double bpks[] = {0, 1, 5, 10, 12, 12.5, 16, 20, 45};
    for (size_t i = 0; i < sizeof bpks / sizeof bpks[0]; i++) {
        bloom_builder b;
        bloom_builder_init(&b, bpks[i]);
        CHECK_OK(bloom_builder_add(&b, 7));
        tbuf f = TBUF_INIT;
        CHECK_OK(bloom_builder_finish(&b, &f));
        CHECK_EQ(f.data[f.len - 1], bpks[i] <= BLOOM_BLOCKED_MAX_BITS_PER_KEY ? 2 : 1);
        CHECK_EQ(bloom_may_contain(f.data, f.len, 7), 1);
        bloom_builder_free(&b);
        tbuf_free(&f);
    }
}

static void builder_init(bloom_builder *b, double bits_per_key)
{
    bloom_builder_init(b, bits_per_key);
    bloom_builder_set_version(b, version);
}

/* Builds a filter over hashes of ("present", 0..n-1) into out (reset first). */
static void build(tbuf *out, size_t n, double bits_per_key)
{
    bloom_builder b;
    builder_init(&b, bits_per_key);
    for (size_t i = 0; i < n; i++)
        CHECK_OK(bloom_builder_add(&b, key_hash("present", i)));
    CHECK_EQ(bloom_builder_count(&b), n);
    tbuf_reset(out);
    CHECK_OK(bloom_builder_finish(&b, out));
    CHECK_EQ(bloom_builder_count(&b), 0);
    bloom_builder_free(&b);
}

static uint32_t footer_bits(const tbuf *f) { return dec_u32(f->data + f->len - 6); }
static unsigned footer_probes(const tbuf *f) { return f->data[f->len - 2]; }

/* Copies bytes into a buffer of exactly len bytes so ASan sees any overrun. */
static uint8_t *exact_copy(const uint8_t *p, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    CHECK(c != NULL);
    if (len)
        memcpy(c, p, len);
    return c;
}

TEST(no_false_negatives)
{
    static const size_t counts[] = {0, 1, 2, 7, 63, 100, 1000, 12345, 100000};
    static const double bpks[] = {0.5, 1, 2.5, 5, 10, 16, 20, 45};
    tbuf f = TBUF_INIT;
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        for (size_t b = 0; b < sizeof bpks / sizeof bpks[0]; b++) {
            size_t n = counts[c];
            double bpk = bpks[b];
            build(&f, n, bpk);
            CHECK_OK(bloom_check(f.data, f.len, NULL));
            /* sizing as documented */
            double want = ceil((double)n * bpk);
            uint32_t unit = version == 2 ? 512 : 8;
            uint32_t bits = want < unit * (version == 2 ? 1 : 8) ? unit * (version == 2 ? 1 : 8)
                                                                 : ((uint32_t)want + unit - 1) / unit * unit;
            CHECK_EQ(footer_bits(&f), bits);
            CHECK_EQ(f.len, bits / 8 + 6);
            long k = lround(bpk * log(2.0));
            if (k < 1) k = 1;
            if (k > 30) k = 30;
            CHECK_EQ(footer_probes(&f), k);
            CHECK_EQ(f.data[f.len - 1], version);
            for (size_t i = 0; i < n; i++)
                CHECK(bloom_may_contain(f.data, f.len, key_hash("present", i)) == 1);
        }
    }
    tbuf_free(&f);
}

/* Measures the false-positive rate over `probes` absent keys and compares it
 * with the theory for the filter's actual m and k: version 1 (1 -
 * e^{-kn/m})^k, version 2 the mean over its lines of (ones / 512)^k (a key
 * tests k bits of one line, drawn with replacement). Version 2's theory must
 * also stay within 1.35x of version 1's for the same n and bits per key. */
static void fpr_within(double bits_per_key, size_t n, size_t probes, double tolerance)
{
    tbuf f = TBUF_INIT;
    build(&f, n, bits_per_key);
    double m = footer_bits(&f), k = footer_probes(&f);
    double theory = pow(1.0 - exp(-k * (double)n / m), k);
    if (version == 2) {
        double standard = pow(1.0 - exp(-k * (double)n / ceil((double)n * bits_per_key)), k), sum = 0;
        size_t lines = (size_t)m / 512;
        for (size_t l = 0; l < lines; l++) {
            int ones = 0;
            for (int byte = 0; byte < 64; byte++)
                ones += __builtin_popcount(f.data[l * 64 + (size_t)byte]);
            sum += pow(ones / 512.0, k);
        }
        theory = sum / (double)lines;
        if (bits_per_key <= BLOOM_BLOCKED_MAX_BITS_PER_KEY && theory > 1.35 * standard)
            check_fail(__FILE__, __LINE__, "%.1f bits/key: blocked filter's fpr %.6f against the standard %.6f",
                       bits_per_key, theory, standard);
    }
    size_t hits = 0;
    for (size_t i = 0; i < probes; i++)
        hits += (size_t)bloom_may_contain(f.data, f.len, key_hash("absent", i));
    double measured = (double)hits / (double)probes;
    if (fabs(measured - theory) > tolerance * theory)
        check_fail(__FILE__, __LINE__, "%.1f bits/key: measured fpr %.6f (%zu/%zu), theory %.6f",
                   bits_per_key, measured, hits, probes, theory);
    tbuf_free(&f);
}

TEST(fpr_10_bits)
{
    fpr_within(10, 100000, 1000000, 0.20);     /* theory ~0.82% */
}

TEST(fpr_5_bits)
{
    fpr_within(5, 100000, 1000000, 0.20);      /* theory ~9.2% */
}

TEST(fpr_20_bits)
{
    /* theory ~0.0067%: 10M probes give ~670 hits, so 20% is ~5 sigma */
    fpr_within(20, 100000, 10000000, 0.20);
}

TEST(bits_for_fpr)
{
    CHECK(fabs(bloom_bits_for_fpr(0.01) - 9.585) < 0.001);
    CHECK(fabs(bloom_bits_for_fpr(0.1) - 4.7925) < 0.001);
    CHECK(fabs(bloom_bits_for_fpr(0.001) - 14.3775) < 0.001);
    CHECK(bloom_bits_for_fpr(1.0) == 0.0);
    CHECK(bloom_bits_for_fpr(2.0) == 0.0);
    double z = bloom_bits_for_fpr(0.0);
    CHECK(z > 0 && isfinite(z));
    CHECK(isfinite(bloom_bits_for_fpr(-1.0)));
    CHECK(isfinite(bloom_bits_for_fpr(NAN)));
}

/* The format as documented (docs/FORMAT.md), re-implemented independently:
 * every bit of a built filter must match. */
#define GOLDEN_FILTER_HASH UINT64_C(0x88d53b5d868ced6b)
#define GOLDEN_FILTER_HASH2 UINT64_C(0x2c0f657dffd5116b)

static uint64_t doc_remix(uint64_t h)
{
    uint64_t x = h ^ UINT64_C(0x6a09e667f3bcc909);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Version 2 as documented: the line from the high half of remix(h), the
 * bits from 9-bit fields of remix(remix(h)), remixed again every 7 probes. */
static void doc_set_v2(uint8_t *want, uint32_t m, unsigned k, uint64_t h)
{
    uint64_t x = doc_remix(h);
    uint64_t line = ((x >> 32) * (uint64_t)(m / 512)) >> 32;
    uint64_t z = doc_remix(x);
    for (unsigned p = 0; p < k; p++) {
        if (p > 0 && p % 7 == 0)
            z = doc_remix(z);
        uint64_t bit = line * 512 + ((z >> (9 * (p % 7))) & 511);
        want[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

TEST(format_bit_exact)
{
    static const size_t counts[] = {1, 3, 37, 500};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c];
        tbuf f = TBUF_INIT;
        build(&f, n, 10);
        uint32_t m = footer_bits(&f);
        unsigned k = footer_probes(&f);
        CHECK_EQ(k, 7);
        uint8_t *want = calloc(m / 8, 1);
        CHECK(want != NULL);
        for (size_t i = 0; i < n; i++) {
            if (version == 2) {
                doc_set_v2(want, m, k, key_hash("present", i));
                continue;
            }
            uint64_t x = doc_remix(key_hash("present", i));
            uint64_t h1 = x & 0xffffffffu, h2 = (x >> 32) | 1;
            for (uint64_t p = 0; p < k; p++) {
                uint64_t bit = (h1 + p * h2) % m;
                want[bit / 8] |= (uint8_t)(1u << (bit % 8));
            }
        }
        CHECK_MEM(f.data, m / 8, want, m / 8);
        free(want);
        tbuf_free(&f);
    }
    /* A golden filter over fixed hashes pins the bytes across refactors. */
    bloom_builder b;
    builder_init(&b, 10);
    for (uint64_t i = 1; i <= 10; i++)
        CHECK_OK(bloom_builder_add(&b, i * UINT64_C(0x9e3779b97f4a7c15)));
    tbuf f = TBUF_INIT;
    CHECK_OK(bloom_builder_finish(&b, &f));
    bloom_builder_free(&b);
    static const uint8_t golden_footer[6] = {104, 0, 0, 0, 7, 1}, golden_footer2[6] = {0, 2, 0, 0, 7, 2};
    CHECK_EQ(f.len, (version == 2 ? 64 : 13) + 6);
    CHECK_MEM(f.data + f.len - 6, 6, version == 2 ? golden_footer2 : golden_footer, 6);
    if (hash64(f.data, f.len) != (version == 2 ? GOLDEN_FILTER_HASH2 : GOLDEN_FILTER_HASH))
        check_fail(__FILE__, __LINE__, "golden filter changed: hash64 %016" PRIx64, hash64(f.data, f.len));
    tbuf_free(&f);
}

TEST(empty_filter)
{
    bloom_builder b;
    builder_init(&b, 10);
    tbuf f = TBUF_INIT;
    CHECK_OK(bloom_builder_finish(&b, &f));
    CHECK_EQ(f.len, (version == 2 ? 512 : 64) / 8 + 6);
    CHECK_OK(bloom_check(f.data, f.len, NULL));
    trng r;
    trng_seed(&r, check_seed);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(bloom_may_contain(f.data, f.len, trng_next(&r)), 0);
    bloom_builder_free(&b);
    bloom_builder_free(&b);       /* idempotent */
    tbuf_free(&f);

    /* bits_per_key 0 or NaN still gives a valid (tiny) filter */
    builder_init(&b, 0);
    CHECK_OK(bloom_builder_add(&b, 42));
    CHECK_OK(bloom_builder_finish(&b, &f));
    CHECK_OK(bloom_check(f.data, f.len, NULL));
    CHECK_EQ(bloom_may_contain(f.data, f.len, 42), 1);
    bloom_builder_free(&b);
    tbuf_free(&f);
    builder_init(&b, NAN);
    CHECK_OK(bloom_builder_add(&b, 42));
    CHECK_OK(bloom_builder_finish(&b, &f));
    CHECK_OK(bloom_check(f.data, f.len, NULL));
    CHECK_EQ(bloom_may_contain(f.data, f.len, 42), 1);
    bloom_builder_free(&b);
    tbuf_free(&f);
}

/* finish appends and clears: several filters (partitions) in one buffer. */
TEST(append_partitions)
{
    bloom_builder b;
    builder_init(&b, 10);
    tbuf f = TBUF_INIT;
    CHECK_OK(tbuf_append(&f, "hdr", 3));
    size_t starts[4], ends[4];
    for (int p = 0; p < 4; p++) {
        for (uint64_t i = 0; i < 1000; i++) {
            CHECK_OK(bloom_builder_add(&b, key_hash("part", (uint64_t)p * 1000 + i)));
            CHECK_OK(bloom_builder_add(&b, key_hash("part", (uint64_t)p * 1000 + i))); /* repeat */
        }
        CHECK_EQ(bloom_builder_count(&b), 1000);   /* adjacent repeats are dropped */
        starts[p] = f.len;
        CHECK_OK(bloom_builder_finish(&b, &f));
        ends[p] = f.len;
    }
    CHECK_MEM(f.data, 3, "hdr", 3);
    for (int p = 0; p < 4; p++) {
        const uint8_t *fp = f.data + starts[p];
        size_t len = ends[p] - starts[p];
        CHECK_OK(bloom_check(fp, len, NULL));
        CHECK_EQ(len, (version == 2 ? 10240 : 10000) / 8 + 6);
        size_t others = 0;
        for (uint64_t i = 0; i < 4000; i++) {
            int in = bloom_may_contain(fp, len, key_hash("part", i));
            if (i / 1000 == (uint64_t)p)
                CHECK_EQ(in, 1);
            else
                others += (size_t)in;
        }
        CHECK(others < 100);    /* ~0.8% of 3000 expected; would be 3000 if not cleared */
    }
    bloom_builder_free(&b);
    tbuf_free(&f);
}

TEST(truncated_and_damaged)
{
    tbuf f = TBUF_INIT;
    build(&f, 200, 10);
    tind_err err;
    /* every truncation (a prefix, as a short read would give) is rejected */
    for (size_t len = 0; len < f.len; len++) {
        uint8_t *c = exact_copy(f.data, len);
        CHECK_RC(bloom_check(c, len, &err), TIND_ECORRUPT);
        CHECK(err.msg[0] != '\0');
        (void)bloom_may_contain(c, len, key_hash("present", 1));
        if (len < 6)
            CHECK_EQ(bloom_may_contain(c, len, 123), 1);
        free(c);
    }
    /* cut from the front too (a wrong handle offset) */
    for (size_t cut = 1; cut < f.len; cut++) {
        uint8_t *c = exact_copy(f.data + cut, f.len - cut);
        CHECK_RC(bloom_check(c, f.len - cut, NULL), TIND_ECORRUPT);
        (void)bloom_may_contain(c, f.len - cut, 7);
        free(c);
    }
    /* every bit of num_bits and of the version byte, and probes 0 / 31 / 255 */
    uint8_t *c = exact_copy(f.data, f.len);
    size_t foot = f.len - 6;
    for (size_t byte = 0; byte < 6; byte++) {
        if (byte == 4)
            continue;
        for (int bit = 0; bit < 8; bit++) {
            c[foot + byte] ^= (uint8_t)(1u << bit);
            CHECK_RC(bloom_check(c, f.len, NULL), TIND_ECORRUPT);
            for (uint64_t i = 0; i < 200; i++)
                (void)bloom_may_contain(c, f.len, key_hash("present", i));
            c[foot + byte] ^= (uint8_t)(1u << bit);
        }
    }
    static const uint8_t bad_probes[] = {0, 31, 255};
    for (size_t i = 0; i < sizeof bad_probes; i++) {
        c[foot + 4] = bad_probes[i];
        CHECK_RC(bloom_check(c, f.len, NULL), TIND_ECORRUPT);
        (void)bloom_may_contain(c, f.len, 99);
    }
    c[foot + 4] = 7;
    CHECK_OK(bloom_check(c, f.len, NULL));
    /* a footer claiming 0 bits must not divide by zero */
    enc_u32(c + foot, 0);
    CHECK_RC(bloom_check(c, f.len, NULL), TIND_ECORRUPT);
    CHECK_EQ(bloom_may_contain(c, f.len, 5), 1);
    /* nor one claiming more bits than there are bytes */
    enc_u32(c + foot, 0xFFFFFFF8u);
    CHECK_RC(bloom_check(c, f.len, NULL), TIND_ECORRUPT);
    CHECK_EQ(bloom_may_contain(c, f.len, 5), 1);
    free(c);
    tbuf_free(&f);
}

TEST(garbage)
{
    trng r;
    trng_seed(&r, check_seed ^ 0x9a7ba9e);
    size_t accepted = 0, accepted2 = 0;
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = (size_t)trng_below(&r, 140);
        uint8_t *g = malloc(len ? len : 1);
        CHECK(g != NULL);
        for (size_t i = 0; i < len; i++)
            g[i] = (uint8_t)trng_next(&r);
        /* half the time, make the footer plausible to get past the checks */
        if (len >= 6 && (iter & 1)) {
            enc_u32(g + len - 6, (uint32_t)(8 * (len - 6)) ^ (uint32_t)(trng_below(&r, 4) == 0 ? 8 : 0));
            g[len - 2] = (uint8_t)trng_below(&r, 34);
            g[len - 1] = (uint8_t)(trng_below(&r, 8) ? 1 + trng_below(&r, 2) : trng_next(&r));
        }
        int rc = bloom_check(g, len, NULL);
        CHECK(rc == TIND_OK || rc == TIND_ECORRUPT);
        if (rc == TIND_OK) {
            accepted++;
            CHECK(len >= 6 + 8);
            CHECK_EQ(dec_u32(g + len - 6), 8 * (len - 6));
            CHECK(g[len - 1] == 1 || (g[len - 1] == 2 && (len - 6) % 64 == 0));
            accepted2 += g[len - 1] == 2;
        }
        for (int p = 0; p < 4; p++) {
            int v = bloom_may_contain(g, len, trng_next(&r));
            CHECK(v == 0 || v == 1);
        }
        free(g);
    }
    CHECK(accepted > 1000);     /* the plausible footers did reach the probe path */
    CHECK(accepted2 > 100);     /* of both versions */
}

int main(void)
{
    check_seed_init(0xb100f);
    for (version = 2; version >= 1; version--) {
        fprintf(stderr, " filter version %d\n", version);
        RUN(no_false_negatives);
        RUN(fpr_10_bits);
        RUN(fpr_5_bits);
        RUN(fpr_20_bits);
        RUN(format_bit_exact);
        RUN(empty_filter);
        RUN(append_partitions);
        RUN(truncated_and_damaged);
    }
    RUN(bits_for_fpr);
    RUN(version_by_bits_per_key);
    RUN(garbage);
    return 0;
}
