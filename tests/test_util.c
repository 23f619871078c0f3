/* test_util.c -- coding, varint, buffer, arena, hash, status, hugemem.
 * TSAN-LABEL: hugemem's four threads also run under `make test-tsan`. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/hugemem.h"
#include "util/rand.h"
#include "util/status.h"

TEST(fixed)
{
    uint8_t b[8];
    enc_u16(b, 0xBEEF); CHECK_EQ(dec_u16(b), 0xBEEF); CHECK_EQ(b[0], 0xEF);
    enc_u32(b, 0xDEADBEEF); CHECK_EQ(dec_u32(b), 0xDEADBEEF);
    enc_u64(b, UINT64_C(0x0123456789ABCDEF)); CHECK(dec_u64(b) == UINT64_C(0x0123456789ABCDEF));
    CHECK_EQ(b[0], 0xEF); CHECK_EQ(b[7], 0x01);
}

TEST(varint)
{
    trng r; trng_seed(&r, check_seed);
    uint8_t b[16];
    for (int i = 0; i < 100000; i++) {
        uint64_t v = trng_next(&r) >> trng_below(&r, 64);
        uint8_t *e = enc_varint64(b, v);
        CHECK_EQ((size_t)(e - b), varint_len(v));
        uint64_t got;
        const uint8_t *d = dec_varint64(b, e, &got);
        CHECK(d == e); CHECK(got == v);
        /* every truncation fails cleanly */
        for (uint8_t *t = b; t < e; t++)
            CHECK(dec_varint64(b, t, &got) == NULL);
        uint32_t v32;
        d = dec_varint32(b, e, &v32);
        if (v <= UINT32_MAX) { CHECK(d == e); CHECK_EQ(v32, v); }
        else CHECK(d == NULL);
    }
    /* over-long: 11 continuation bytes */
    memset(b, 0x80, 11); b[11] = 0; uint64_t got;
    CHECK(dec_varint64(b, b + 12, &got) == NULL);
    /* 10th byte with more than the 64th bit */
    memset(b, 0xFF, 9); b[9] = 0x02;
    CHECK(dec_varint64(b, b + 10, &got) == NULL);
    b[9] = 0x01;
    CHECK(dec_varint64(b, b + 10, &got) == b + 10); CHECK(got == UINT64_MAX);
}

/* copy_small (buf.h) copies exactly n bytes for every n, at every offset,
 * and touches nothing around them. */
TEST(copy_small)
{
    uint8_t src[64], dst[80];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + 1);
    for (size_t n = 0; n <= 40; n++)
        for (size_t at = 0; at < 8; at++) {
            memset(dst, 0xEE, sizeof dst);
            copy_small(dst + 8 + at, src + at, n);
            for (size_t i = 0; i < sizeof dst; i++) {
                size_t rel = i - 8 - at;
                CHECK_EQ(dst[i], i >= 8 + at && rel < n ? src[at + rel] : 0xEE);
            }
        }
}

TEST(buf)
{
    tbuf b = TBUF_INIT;
    for (int i = 0; i < 10000; i++)
        CHECK_OK(tbuf_append_u32(&b, (uint32_t)i));
    CHECK_EQ(b.len, 40000);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(dec_u32(b.data + 4 * i), i);
    CHECK_OK(tbuf_set(&b, "abc", 3));
    CHECK_MEM(b.data, b.len, "abc", 3);
    CHECK_OK(tbuf_append_varint(&b, 300));
    CHECK_EQ(b.len, 5);
    tbuf_free(&b);
}

/* Whether the mapping holding p was advised MADV_HUGEPAGE (its VmFlags in
 * /proc/self/smaps name "hg"): 1, 0, or -1 when that cannot be read. */
static int advised_huge(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int inside = 0, found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            found = strstr(line, " hg") != NULL;
    }
    fclose(f);
    return found;
}

TEST(arena)
{
    arena a; arena_init(&a, 4096);
    trng r; trng_seed(&r, check_seed);
    char *ptrs[2000]; size_t lens[2000];
    for (int i = 0; i < 2000; i++) {
        lens[i] = trng_below(&r, 3000) + 1;
        ptrs[i] = arena_alloc(&a, lens[i]);
        CHECK(ptrs[i] != NULL);
        CHECK(((uintptr_t)ptrs[i] & 7) == 0);
        memset(ptrs[i], i & 0xFF, lens[i]);
    }
    for (int i = 0; i < 2000; i++)
        for (size_t j = 0; j < lens[i]; j++)
            CHECK_EQ((uint8_t)ptrs[i][j], i & 0xFF);
    CHECK(arena_usage(&a) > 2000);
    CHECK_EQ(arena_mapped(&a), 0);   /* 4 KiB blocks: all from malloc */
    arena_destroy(&a);
    CHECK_EQ(arena_usage(&a), 0);

    /* 1 MiB blocks (a memtable's): the small first ones from malloc, the
     * large ones and a large request mapped, all of them usable */
    arena_init(&a, (1u << 20) - 64);
    size_t total = 0;
    for (int i = 0; i < 2000; i++) {
        lens[i] = i == 1000 ? (600u << 10) : trng_below(&r, 3000) + 1;
        ptrs[i] = arena_alloc(&a, lens[i]);
        CHECK(ptrs[i] != NULL);
        CHECK(((uintptr_t)ptrs[i] & 7) == 0);
        memset(ptrs[i], i & 0xFF, lens[i]);
        total += lens[i];
    }
    for (int i = 0; i < 2000; i++)
        CHECK(ptrs[i][0] == (char)(i & 0xFF) && ptrs[i][lens[i] - 1] == (char)(i & 0xFF));
    CHECK(arena_mapped(&a) >= (600u << 10) + ((size_t)1 << 20));
    CHECK(arena_mapped(&a) <= total + ((size_t)2 << 20));
    CHECK(arena_usage(&a) >= total);
    arena_destroy(&a);
    CHECK_EQ(arena_usage(&a), 0);
    CHECK_EQ(arena_mapped(&a), 0);

    /* blocks of a whole huge page (a memtable's: util/hugemem.h's hm_map)
     * start 2 MiB-aligned; their memory is usable and returned whole */
    arena_init(&a, HM_CHUNK - 64);
    char *prev_end = NULL;
    int aligned_blocks = 0;
    while (arena_usage(&a) < ((size_t)12 << 20)) {
        char *p = arena_alloc(&a, 200);
        CHECK(p != NULL);
        memset(p, 0x5A, 200);
        if (prev_end && p != prev_end && p != prev_end + 8 - ((uintptr_t)prev_end & 7) && arena_usage(&a) > ((size_t)4 << 20)) {
            CHECK(((uintptr_t)p & (HM_CHUNK - 1)) < 64);   /* the block header only before it */
            CHECK(advised_huge(p) != 0);                    /* -1: no /proc/self/smaps */
            aligned_blocks++;
        }
        prev_end = p + 200;
    }
    CHECK(aligned_blocks >= 3);
    CHECK(arena_mapped(&a) >= ((size_t)12 << 20));
    arena_destroy(&a);
    CHECK_EQ(arena_mapped(&a), 0);
}

/* A pool (hm_pool) takes the whole-chunk blocks of destroyed arenas up to
 * its cap and hands them to the next arenas: the same memory, no new
 * mapping; beyond the cap they go back to the system; the pool lives until
 * its last user lets go. */
TEST(arena_pool)
{
    hm_pool *pool = hm_pool_new(4 * HM_CHUNK);
    CHECK(pool != NULL);
    CHECK_EQ(hm_pool_bytes(pool), 0);
    CHECK_EQ(hm_pool_bytes(NULL), 0);

    /* 6 chunks used, 4 kept: the cap */
    arena a;
    arena_init(&a, HM_CHUNK - 64);
    arena_set_pool(&a, pool);
    char *blocks[16];
    size_t nb = 0;
    while (arena_mapped(&a) < 6 * HM_CHUNK) {
        char *p = arena_alloc(&a, 4000);
        CHECK(p != NULL);
        char *chunk = (char *)((uintptr_t)p & ~(uintptr_t)(HM_CHUNK - 1));
        if (p - chunk < 64 + 8 && nb < 16)   /* the first allocation of a chunk block */
            blocks[nb++] = chunk;
        memset(p, 0x11, 4000);
    }
    CHECK(nb >= 5);
    arena_destroy(&a);
    CHECK_EQ(hm_pool_bytes(pool), 4 * HM_CHUNK);

    /* the next arena takes them back (no zeroing: what the first wrote is
     * still there) and maps a fresh one only when the pool is empty */
    arena b;
    arena_init(&b, HM_CHUNK - 64);
    arena_set_pool(&b, pool);
    hm_pool_unref(pool);   /* the arena's reference keeps it */
    size_t reused = 0, chunks = 0;
    while (arena_mapped(&b) < 5 * HM_CHUNK) {
        char *p = arena_alloc(&b, 4000);
        CHECK(p != NULL);
        char *chunk = (char *)((uintptr_t)p & ~(uintptr_t)(HM_CHUNK - 1));
        if (p - chunk < 64 + 8 && chunks++ < 4) {   /* the first four: the pool's */
            for (size_t i = 0; i < nb; i++)
                reused += chunk == blocks[i];
            CHECK_EQ((uint8_t)p[0], 0x11);   /* not zeroed: the first arena's bytes */
        }
        memset(p, 0x22, 4000);
    }
    CHECK_EQ(reused, 4);
    CHECK_EQ(hm_pool_bytes(pool), 0);
    hm_pool_ref(pool);
    arena_destroy(&b);   /* 4 of the 5 kept */
    CHECK_EQ(hm_pool_bytes(pool), 4 * HM_CHUNK);

    /* trimming: not while recently used, all of it once idle long enough */
    CHECK_EQ(hm_pool_trim(pool, UINT64_C(3600) * 1000000000u), 0);
    CHECK_EQ(hm_pool_bytes(pool), 4 * HM_CHUNK);
    CHECK_EQ(hm_pool_trim(pool, 0), 4 * HM_CHUNK);
    CHECK_EQ(hm_pool_bytes(pool), 0);
    CHECK_EQ(hm_pool_trim(pool, 0), 0);
    CHECK_EQ(hm_pool_trim(NULL, 0), 0);
    hm_pool_unref(pool);
}

/* Waits (10 s at most) until the pool holds `bytes` spare bytes. */
static int pool_reaches(hm_pool *pool, size_t bytes)
{
    for (int i = 0; i < 10000 && hm_pool_bytes(pool) != bytes; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return hm_pool_bytes(pool) == bytes;
}

/* The stocker (hm_pool_stock_start) maps nothing until a chunk is taken,
 * then keeps its stock of faulted-in, zeroed chunks, never past the cap;
 * trimming empties it and it stays empty until the next take; it stops at
 * its budget of live and spare chunks; stopping and the last unref while it
 * runs end it. */
TEST(arena_pool_stock)
{
    hm_pool *pool = hm_pool_new(3 * HM_CHUNK);
    CHECK(pool != NULL);
    CHECK_EQ(hm_pool_stock_start(pool, 2, SIZE_MAX), 0);
    CHECK_EQ(hm_pool_stock_start(pool, 2, SIZE_MAX), 0);   /* already running */
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    CHECK_EQ(hm_pool_bytes(pool), 0);            /* no take yet */
    CHECK_EQ(hm_pool_stocked(pool), 0);

    uint8_t *taken[8];
    taken[0] = hm_pool_map(pool, HM_CHUNK);      /* mapped by the taker, on small pages */
    CHECK(taken[0] != NULL && ((uintptr_t)taken[0] & (HM_CHUNK - 1)) == 0);
    CHECK_EQ(hm_pool_small(pool), 1);
    memset(taken[0], 0x11, HM_CHUNK);
    CHECK(pool_reaches(pool, 2 * HM_CHUNK));
    CHECK_EQ(hm_pool_stocked(pool), 2);
    for (int i = 1; i <= 2; i++) {               /* the stock: zeroed, aligned */
        taken[i] = hm_pool_map(pool, HM_CHUNK);
        CHECK(taken[i] != NULL && ((uintptr_t)taken[i] & (HM_CHUNK - 1)) == 0);
        for (size_t j = 0; j < HM_CHUNK; j += 4096)
            CHECK_EQ(taken[i][j], 0);
        memset(taken[i], 0x33, HM_CHUNK);
    }
    CHECK(pool_reaches(pool, 2 * HM_CHUNK));     /* restocked */
    CHECK_EQ(hm_pool_stocked(pool), 4);
    CHECK_EQ(hm_pool_small(pool), 1);            /* the stock served them */
    /* returns fill it to the cap, but for the small-page chunk (unmapped);
     * the stocker adds nothing past the cap */
    hm_pool_unmap(pool, taken[0], HM_CHUNK);
    CHECK_EQ(hm_pool_bytes(pool), 2 * HM_CHUNK);
    for (int i = 1; i <= 2; i++)
        hm_pool_unmap(pool, taken[i], HM_CHUNK);
    CHECK_EQ(hm_pool_bytes(pool), 3 * HM_CHUNK);
    taken[3] = hm_pool_map(pool, HM_CHUNK);      /* 2 left: stock met */
    nanosleep(&ts, NULL);
    CHECK_EQ(hm_pool_bytes(pool), 2 * HM_CHUNK);
    CHECK_EQ(hm_pool_stocked(pool), 4);
    CHECK_EQ(hm_pool_small(pool), 1);
    hm_pool_unmap(pool, taken[3], HM_CHUNK);
    /* trimmed: empty, and no restock until a take */
    CHECK_EQ(hm_pool_trim(pool, 0), 3 * HM_CHUNK);
    nanosleep(&ts, NULL);
    CHECK_EQ(hm_pool_bytes(pool), 0);
    CHECK_EQ(hm_pool_stocked(pool), 4);
    hm_pool_stock_stop(pool);
    hm_pool_stock_stop(pool);                    /* twice: harmless */
    taken[4] = hm_pool_map(pool, HM_CHUNK);      /* no stocker: none made, a huge-page chunk */
    nanosleep(&ts, NULL);
    CHECK_EQ(hm_pool_bytes(pool), 0);
    CHECK_EQ(hm_pool_small(pool), 1);
    hm_pool_unmap(pool, taken[4], HM_CHUNK);     /* kept */
    CHECK_EQ(hm_pool_bytes(pool), HM_CHUNK);
    CHECK_EQ(hm_pool_trim(pool, 0), HM_CHUNK);
    /* within the budget: 3 chunks live or spare at most; the takers map
     * past it themselves */
    CHECK_EQ(hm_pool_stock_start(pool, 2, 3 * HM_CHUNK), 0);
    taken[5] = hm_pool_map(pool, HM_CHUNK);      /* small pages: the stock is empty */
    CHECK(pool_reaches(pool, 2 * HM_CHUNK));     /* 1 live + 2 spare */
    CHECK_EQ(hm_pool_small(pool), 2);
    taken[6] = hm_pool_map(pool, HM_CHUNK);
    taken[7] = hm_pool_map(pool, HM_CHUNK);
    CHECK(taken[6] && taken[7]);
    CHECK(pool_reaches(pool, 0));
    nanosleep(&ts, NULL);
    CHECK_EQ(hm_pool_bytes(pool), 0);            /* 3 live: none stocked */
    hm_pool_unmap(pool, taken[7], HM_CHUNK);     /* 2 live + 1 spare */
    taken[7] = hm_pool_map(pool, HM_CHUNK);      /* 3 live again: nothing */
    nanosleep(&ts, NULL);
    CHECK_EQ(hm_pool_bytes(pool), 0);
    CHECK_EQ(hm_pool_small(pool), 2);            /* the spare served it */
    hm_pool_unmap(pool, taken[6], HM_CHUNK);
    hm_pool_unmap(pool, taken[7], HM_CHUNK);
    hm_pool_unmap(pool, taken[5], HM_CHUNK);     /* small pages: unmapped */
    CHECK_EQ(hm_pool_bytes(pool), 2 * HM_CHUNK);
    hm_pool_stock_stop(pool);
    /* a chunk a spare served goes back to the spares (stopped first: a
     * running stocker would race this take with a restock) */
    hm_pool_unmap(pool, hm_pool_map(pool, HM_CHUNK), HM_CHUNK);
    CHECK_EQ(hm_pool_bytes(pool), 2 * HM_CHUNK);
    /* restarted, then the last unref while it runs */
    CHECK_EQ(hm_pool_stock_start(pool, 1, SIZE_MAX), 0);
    CHECK_EQ(hm_pool_trim(pool, 0), 2 * HM_CHUNK);
    hm_pool_unmap(pool, hm_pool_map(pool, HM_CHUNK), HM_CHUNK);
    hm_pool_unref(pool);
    CHECK_EQ(hm_pool_stock_start(NULL, 1, SIZE_MAX), 0);
    hm_pool_stock_stop(NULL);
}

TEST(hash)
{
    CHECK(hash64("abc", 3) == hash64("abc", 3));
    CHECK(hash64("abc", 3) != hash64("abd", 3));
    CHECK(hash64_seed("abc", 3, 1) != hash64_seed("abc", 3, 2));
    hash64_stream s; hash64_begin(&s);
    hash64_update(&s, "ab", 2); hash64_update(&s, "c", 1);
    CHECK(hash64_end(&s) == hash64("abc", 3));
    hash128 h = hash128_of("abc", 3), g = hash128_of("abd", 3);
    CHECK(h.low != g.low || h.high != g.high);
}

TEST(status)
{
    tind_err e; err_clear(&e);
    CHECK_RC(err_set(&e, TIND_ECORRUPT, "table %d: bad", 17), TIND_ECORRUPT);
    CHECK(strcmp(e.msg, "table 17: bad") == 0);
    err_wrap(&e, TIND_EIO, "open db");
    CHECK(strcmp(e.msg, "open db: table 17: bad") == 0);
    CHECK_EQ(e.code, TIND_ECORRUPT);
    for (int c = 0; c >= -16; c--)
        CHECK(strcmp(tind_strerror(c), "unknown status") != 0);
    CHECK(strcmp(tind_strerror(-999), "unknown status") == 0);
    CHECK_RC(err_from_errno(28 /* ENOSPC */), TIND_ENOSPC);
    CHECK_EQ(err_set(NULL, TIND_EIO, "x"), TIND_EIO);
}

/* hugemem: every live buffer keeps its bytes while others come and go (a
 * pattern per buffer, checked at its free), sizes round as hm_size says,
 * freed buffers are reused, and four threads at once corrupt nothing. */
typedef struct hm_buf {
    uint8_t *p;
    size_t n;
    uint8_t tag;
} hm_buf;

static void hm_fill(hm_buf *b) { memset(b->p, b->tag, b->n); }

static void hm_check_free(hm_buf *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->p[i] != b->tag)
            check_fail(__FILE__, __LINE__, "hugemem buffer of %zu bytes changed at %zu", b->n, i);
    hm_free(b->p, b->n);
    b->p = NULL;
}

static void *hm_worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    trng r;
    trng_seed(&r, seed);
    hm_buf live[64] = {{0}};
    for (int step = 0; step < 20000; step++) {
        hm_buf *b = &live[trng_below(&r, 64)];
        if (b->p)
            hm_check_free(b);
        size_t n = trng_below(&r, 8) ? 3000 + trng_below(&r, 3000) : 1 + trng_below(&r, HM_MAX_CLASS + 5000);
        b->p = hm_alloc(n);
        CHECK(b->p != NULL);
        CHECK((uintptr_t)b->p % 16 == 0);
        b->n = n;
        b->tag = (uint8_t)(seed + (uint64_t)step);
        hm_fill(b);
    }
    for (int i = 0; i < 64; i++)
        if (live[i].p)
            hm_check_free(&live[i]);
    return NULL;
}

TEST(hugemem)
{
    CHECK_EQ(hm_size(0), 0);
    size_t small = hm_size(1);
    CHECK(small == 1 || small == HM_GRAIN); /* a sanitizer build mallocs */
    CHECK(hm_size(HM_MAX_CLASS + 1) == HM_MAX_CLASS + 1);
    /* a freed buffer of a size is the next one of that size */
    void *a = hm_alloc(4100);
    CHECK(a != NULL);
    hm_free(a, 4100);
    void *b = hm_alloc(4097);
    if (hm_size(4100) != 4100)
        CHECK(a == b);
    hm_free(b, 4097);
    hm_stats st;
    hm_get_stats(&st);
    CHECK(st.free_bytes <= st.carved && st.carved <= st.mapped);
    pthread_t th[4];
    for (uintptr_t i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, hm_worker, (void *)(i + 1 + check_seed)) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    hm_get_stats(&st);
    CHECK(st.free_bytes <= st.carved && st.carved <= st.mapped);
    if (hm_size(4100) != 4100)
        CHECK_EQ(st.free_bytes, st.carved); /* everything given back */
}

int main(void)
{
    check_seed_init(1);
    RUN(fixed);
    RUN(varint);
    RUN(copy_small);
    RUN(buf);
    RUN(arena);
    RUN(arena_pool);
    RUN(arena_pool_stock);
    RUN(hash);
    RUN(status);
    RUN(hugemem);
    return 0;
}
