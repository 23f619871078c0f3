/*
 * check.h -- the tiny test harness every tests/test_*.c uses.
 *
 *   CHECK(cond)            fails the test (prints file:line and the condition)
 *   CHECK_EQ(a, b)         integer equality, printing both sides
 *   CHECK_OK(rc)           rc == TIND_OK, printing tind_strerror(rc)
 *   CHECK_RC(rc, want)     a specific status
 *   CHECK_MEM(a, an, b, bn) byte equality
 *   TEST(name) { ... }     defines a test; RUN(name) in main runs it
 *
 * A failed check prints the seed (check_seed) and exits 1, so every
 * randomized failure is reproducible with TIND_SEED=<seed>.
 */
#ifndef TIND_TESTS_CHECK_H
#define TIND_TESTS_CHECK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tind.h"

extern uint64_t check_seed;
extern const char *check_current;
/* Called before a failing check exits (e.g. to print an op log). */
extern void (*check_on_fail)(void);

void check_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* The seed for randomized tests: $TIND_SEED if set, else a fixed default. */
uint64_t check_seed_init(uint64_t fallback);
/* A fresh empty temporary folder (removed by check_rmtree). Caller frees. */
char *check_tmpdir(const char *tag);
void check_rmtree(const char *path);
/* Fails the test when a file under dir (recursively) holds one of the n
 * needles (plaintext an encrypted database must not store); returns the
 * number of files read. */
int check_no_plaintext(const char *dir, const char *const *needles, size_t n);

/* Opens "/db" on the file system mem (io/fs.h), background work on or off;
 * a failed open fails the test with tind's message. */
struct fs;
tind_db *check_open_mem(struct fs *mem, int background);
/* Fails the test (exit 1, naming check_current) if it still runs after
 * `seconds` (SIGALRM); 0 disarms. A hang is then a failure, not a stuck ctest. */
void check_watchdog(unsigned seconds);
/* Opens path with o (which it frees); a failed open fails the test. */
tind_db *check_open_with(const char *path, tind_options *o);
/* The same with the caller's options (it sets their fs and background; the
 * caller still frees o). */
tind_db *check_open_mem_opts(struct fs *mem, int background, tind_options *o);
/* The number of blob files (key-value separation) in mem's "/db/tables". */
size_t check_count_blob_files(struct fs *mem);
/* Opens (creating) keyspace `name` with a memtable of memtable_size bytes,
 * 4 KiB tables, 512-byte blocks and an L0 threshold of 2, so that flushes
 * and compactions run all the time; a failure fails the test. */
tind_keyspace *check_small_ks(tind_db *db, const char *name, size_t memtable_size);
/* $TIND_TEST_SCALE (default 1): multiply iteration counts in long tests. */
double check_scale(void);

#define CHECK(c) do { if (!(c)) check_fail(__FILE__, __LINE__, "CHECK(%s)", #c); } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) check_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b, _a, _b); } while (0)
#define CHECK_OK(rc) do { int _rc = (rc); \
    if (_rc != TIND_OK) check_fail(__FILE__, __LINE__, "CHECK_OK(%s): %d (%s)", #rc, _rc, tind_strerror(_rc)); } while (0)
#define CHECK_RC(rc, want) do { int _rc = (rc), _w = (want); \
    if (_rc != _w) check_fail(__FILE__, __LINE__, "CHECK_RC(%s): got %d (%s), want %d (%s)", #rc, _rc, tind_strerror(_rc), _w, tind_strerror(_w)); } while (0)
#define CHECK_MEM(a, an, b, bn) do { size_t _an = (an), _bn = (bn); \
    if (_an != _bn || (_an && memcmp((a), (b), _an) != 0)) check_fail(__FILE__, __LINE__, "CHECK_MEM(%s, %s): differ (len %zu vs %zu)", #a, #b, _an, _bn); } while (0)

#define TEST(name) static void test_##name(void)
#define RUN(name) do { check_current = #name; fprintf(stderr, "  %s ...\n", #name); test_##name(); } while (0)

#endif
