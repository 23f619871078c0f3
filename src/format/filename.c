/*
 * filename.c -- the database folder's file names (format/filename.h).
 */
#include "format/filename.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/status.h"

char *fname_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int numbered(const char *dir, uint64_t number, const char *suffix, char *buf, size_t bufsize)
{
    if (!buf || bufsize == 0)
        return TIND_EINVAL;
    int n = snprintf(buf, bufsize, "%s/%08" PRIu64 "%s", dir, number, suffix);
    return n < 0 || (size_t)n >= bufsize ? TIND_EINVAL : TIND_OK;
}

int fname_journal(const char *journals_dir, uint64_t number, char *buf, size_t bufsize)
{
    return numbered(journals_dir, number, FNAME_JOURNAL_SUFFIX, buf, bufsize);
}

int fname_table(const char *tables_dir, uint64_t number, char *buf, size_t bufsize)
{
    return numbered(tables_dir, number, FNAME_TABLE_SUFFIX, buf, bufsize);
}

int fname_blob(const char *tables_dir, uint64_t number, char *buf, size_t bufsize)
{
    return numbered(tables_dir, number, FNAME_BLOB_SUFFIX, buf, bufsize);
}

static int ends_with(const char *name, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len >= sl && strcmp(name + len - sl, suffix) == 0;
}

/* The number of "<N><suffix>" in its canonical spelling; 1 on success. */
static int parse_number(const char *name, size_t len, const char *suffix, uint64_t *number)
{
    size_t sl = strlen(suffix);
    if (len < 8 + sl || len > 20 + sl || strcmp(name + len - sl, suffix) != 0)
        return 0;
    size_t digits = len - sl;
    uint64_t v = 0;
    for (size_t i = 0; i < digits; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        unsigned d = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    char canon[32];
    int n = snprintf(canon, sizeof canon, "%08" PRIu64, v);
    if (n < 0 || (size_t)n != digits || memcmp(canon, name, digits) != 0)
        return 0;
    *number = v;
    return 1;
}

fname_kind fname_parse(const char *name, uint64_t *number)
{
    uint64_t n = 0;
    size_t len = strlen(name);
    if (strcmp(name, FNAME_LOCK) == 0)
        return FNAME_KIND_LOCK;
    if (strcmp(name, FNAME_FORMAT) == 0)
        return FNAME_KIND_FORMAT;
    if (strcmp(name, FNAME_VERSIONS) == 0)
        return FNAME_KIND_VERSIONS;
    if (ends_with(name, len, FNAME_TEMP_SUFFIX))
        return FNAME_KIND_TEMP;
    fname_kind kind = parse_number(name, len, FNAME_JOURNAL_SUFFIX, &n) ? FNAME_KIND_JOURNAL
                      : parse_number(name, len, FNAME_TABLE_SUFFIX, &n) ? FNAME_KIND_TABLE
                      : parse_number(name, len, FNAME_BLOB_SUFFIX, &n)  ? FNAME_KIND_BLOB
                                                                         : FNAME_UNKNOWN;
    if (kind != FNAME_UNKNOWN && number)
        *number = n;
    return kind;
}
