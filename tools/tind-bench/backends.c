/*
 * backends.c -- the list of engines compiled into tind-bench and the small
 * helpers every backend uses (error text, value buffer).
 *
 * A peer's backend is listed only when CMake found its library and header
 * and defined TIND_BENCH_HAVE_<NAME>. The list is constant; no state.
 */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tind.h"
#ifdef TIND_BENCH_HAVE_LEVELDB
#include <leveldb/c.h>
#endif
#ifdef TIND_BENCH_HAVE_LMDB
#include <lmdb.h>
#endif
#ifdef TIND_BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif
#ifdef TIND_BENCH_HAVE_WIREDTIGER
#include <wiredtiger.h>
#endif

extern const bench_backend bench_backend_tind;
extern const bench_backend bench_backend_tind_inline;
extern const bench_backend bench_backend_tind_sw;
#ifdef TIND_BENCH_HAVE_ROCKSDB
extern const bench_backend bench_backend_rocksdb;
extern const bench_backend bench_backend_rocksdb_otxn;
extern const bench_backend bench_backend_rocksdb_ptxn;
#endif
#ifdef TIND_BENCH_HAVE_LEVELDB
extern const bench_backend bench_backend_leveldb;
#endif
#ifdef TIND_BENCH_HAVE_LMDB
extern const bench_backend bench_backend_lmdb;
#endif
#ifdef TIND_BENCH_HAVE_SQLITE
extern const bench_backend bench_backend_sqlite;
#endif
#ifdef TIND_BENCH_HAVE_WIREDTIGER
extern const bench_backend bench_backend_wiredtiger;
#endif

const bench_backend *const bench_backends[] = {
    &bench_backend_tind,
    &bench_backend_tind_inline,
    &bench_backend_tind_sw,
#ifdef TIND_BENCH_HAVE_ROCKSDB
    &bench_backend_rocksdb,
    &bench_backend_rocksdb_otxn,
    &bench_backend_rocksdb_ptxn,
#endif
#ifdef TIND_BENCH_HAVE_LEVELDB
    &bench_backend_leveldb,
#endif
#ifdef TIND_BENCH_HAVE_LMDB
    &bench_backend_lmdb,
#endif
#ifdef TIND_BENCH_HAVE_SQLITE
    &bench_backend_sqlite,
#endif
#ifdef TIND_BENCH_HAVE_WIREDTIGER
    &bench_backend_wiredtiger,
#endif
    NULL,
};

const bench_backend *bench_backend_find(const char *name)
{
    for (int i = 0; bench_backends[i]; i++)
        if (strcmp(bench_backends[i]->name, name) == 0)
            return bench_backends[i];
    return NULL;
}

void bench_err_set(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int bench_buf_set(bench_buf *b, const void *p, size_t n)
{
    if (n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data, p, n);
    b->len = n;
    return 0;
}

#if defined(TIND_BENCH_HAVE_LMDB) || defined(TIND_BENCH_HAVE_WIREDTIGER)
/* (only with those peers: clang's -Wunused-function fails the build without them) */
static const char *bench_version3(char *buf, size_t n, int a, int b, int c)
{
    snprintf(buf, n, "%d.%d.%d", a, b, c);
    return buf;
}
#endif

/* The library's own version where it can say (the linked library, not the
 * header); RocksDB's C API has none, so CMake reads rocksdb/version.h. */
const char *bench_backend_version(const bench_backend *be)
{
    static _Thread_local char buf[64];
    const char *n = be->name;
    if (strncmp(n, "tind", 4) == 0)
        return tind_version();
#ifdef TIND_BENCH_HAVE_ROCKSDB
    if (strncmp(n, "rocksdb", 7) == 0)
        return TIND_BENCH_ROCKSDB_VERSION;
#endif
#ifdef TIND_BENCH_HAVE_LEVELDB
    if (strcmp(n, "leveldb") == 0) {
        snprintf(buf, sizeof buf, "%d.%d", leveldb_major_version(), leveldb_minor_version());
        return buf;
    }
#endif
#ifdef TIND_BENCH_HAVE_LMDB
    if (strcmp(n, "lmdb") == 0) {
        int a, b, c;
        mdb_version(&a, &b, &c);
        return bench_version3(buf, sizeof buf, a, b, c);
    }
#endif
#ifdef TIND_BENCH_HAVE_SQLITE
    if (strcmp(n, "sqlite") == 0)
        return sqlite3_libversion();
#endif
#ifdef TIND_BENCH_HAVE_WIREDTIGER
    if (strcmp(n, "wiredtiger") == 0) {
        int a, b, c;
        wiredtiger_version(&a, &b, &c);
        return bench_version3(buf, sizeof buf, a, b, c);
    }
#endif
    (void)buf;
    return "unknown";
}
