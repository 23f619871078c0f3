/*
 * filename.h -- the names of a database folder's files (docs/FORMAT.md
 * "Folder layout"), in one place:
 *
 *   LOCK              advisory lock, held while the database is open
 *   FORMAT            magic + database format version
 *   VERSIONS          the version file (VERSIONS.tmp while being replaced)
 *   ENCRYPTION        an encrypted database's key check (absent when plain)
 *   journals/N.jrn    journal N
 *   tables/N.tbl      table N
 *
 * N is the file number in decimal, at least 8 digits (zero-padded); only
 * that canonical spelling parses back ("000000001.jrn" is not journal 1).
 * Journals and tables share one number space. Pure functions, no state.
 */
#ifndef TIND_FORMAT_FILENAME_H
#define TIND_FORMAT_FILENAME_H

#include <stddef.h>
#include <stdint.h>

#define FNAME_LOCK "LOCK"
#define FNAME_FORMAT "FORMAT"
#define FNAME_VERSIONS "VERSIONS"
#define FNAME_ENCRYPTION "ENCRYPTION"    /* key check of an encrypted database (io/fs_crypt.h), plaintext */
#define FNAME_TEMP_SUFFIX ".tmp"        /* fs_write_atomic's temporary (io/fs_util.c) */
#define FNAME_JOURNALS_DIR "journals"
#define FNAME_TABLES_DIR "tables"
#define FNAME_JOURNAL_SUFFIX ".jrn"
#define FNAME_TABLE_SUFFIX ".tbl"
#define FNAME_BLOB_SUFFIX ".blob"       /* blob files, in the tables folder */

typedef enum fname_kind {
    FNAME_UNKNOWN = 0,
    FNAME_KIND_LOCK,
    FNAME_KIND_FORMAT,
    FNAME_KIND_VERSIONS,
    FNAME_KIND_TEMP,              /* <anything>.tmp */
    FNAME_KIND_JOURNAL,
    FNAME_KIND_TABLE,
    FNAME_KIND_BLOB,
} fname_kind;

/* "<dir>/<name>", malloc'd (NULL when out of memory). */
char *fname_join(const char *dir, const char *name);
/* "<journals_dir>/<N>.jrn" / "<tables_dir>/<N>.tbl" into buf; TIND_EINVAL
 * when it does not fit. */
int fname_journal(const char *journals_dir, uint64_t number, char *buf, size_t bufsize);
int fname_table(const char *tables_dir, uint64_t number, char *buf, size_t bufsize);
/* "<tables_dir>/<N>.blob" */
int fname_blob(const char *tables_dir, uint64_t number, char *buf, size_t bufsize);
/* The kind of a base name (no folder), and the number of a journal or
 * table. Names of no known kind are FNAME_UNKNOWN. */
fname_kind fname_parse(const char *name, uint64_t *number);

#endif
