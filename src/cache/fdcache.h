/*
 * fdcache.h -- a cache of open read-only files with a limit on how many stay
 * open. Tables ask it for their file on each block read; the least recently
 * used unheld file is closed when the limit is passed. Files in use are never
 * closed under their user (a held file may push the count over the limit).
 * Thread-safe.
 */
#ifndef TIND_CACHE_FDCACHE_H
#define TIND_CACHE_FDCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"
#include "util/status.h"

typedef struct fd_cache fd_cache;
typedef struct fdc_handle fdc_handle;

fd_cache *fdc_new(fs *fs, size_t limit);   /* limit 0 = 512 */
void fdc_free(fd_cache *c);                /* all handles must be released */
/* Opens (or reuses) the file `path` under the key id, read-only. When the
 * process is out of descriptors (EMFILE), closes unheld files and retries;
 * TIND_EMFILE only when none is left to close. */
int fdc_get(fd_cache *c, uint64_t id, const char *path, fdc_handle **h, tind_err *err);
fs_file *fdc_file(const fdc_handle *h);
void fdc_release(fd_cache *c, fdc_handle *h);
/* Closes the file of id once nobody holds it (a deleted table). */
void fdc_evict(fd_cache *c, uint64_t id);
size_t fdc_open_count(fd_cache *c);

#endif
