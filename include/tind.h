/*
 * tind.h -- the one public header of tind, an embeddable log-structured
 * (LSM-tree) key-value storage engine.
 *
 * Conventions
 *   - Every handle is opaque.
 *   - Every fallible call returns an int status: TIND_OK (0) or a negative
 *     TIND_E... code (TIND_NOT_FOUND is a status, not a failure).
 *     tind_strerror() names a status; handles keep a detailed last-error text
 *     naming the file and the cause (tind_db_errmsg()).
 *   - Ownership of every returned pointer is stated where it is returned.
 */
#ifndef TIND_H
#define TIND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TIND_BUILDING)
#define TIND_API __attribute__((visibility("default")))
#else
#define TIND_API
#endif

#define TIND_VERSION_MAJOR 0
#define TIND_VERSION_MINOR 1
#define TIND_VERSION_PATCH 0

/* Status codes. Values are part of the ABI: never renumber. */
enum tind_status {
    TIND_OK          = 0,
    TIND_NOT_FOUND   = -1,  /* key (or keyspace) absent: not a failure */
    TIND_EINVAL      = -2,  /* bad argument: NULL handle, empty key, bad option */
    TIND_ENOMEM      = -3,  /* out of memory */
    TIND_EIO         = -4,  /* I/O error from the operating system */
    TIND_ECORRUPT    = -5,  /* a file failed a checksum or a structural check */
    TIND_ENOSPC      = -6,  /* no space left on the device */
    TIND_EBUSY       = -7,  /* database folder locked by another open */
    TIND_EPOISONED   = -8,  /* an earlier journal/version write or fsync failed: read-only until reopen */
    TIND_EVERSION    = -9,  /* file written by a newer tind (format version unknown) */
    TIND_EEXIST      = -10, /* already exists */
    TIND_ETOOBIG     = -11, /* key or value beyond the documented limits */
    TIND_ECLOSED     = -12, /* the database is closing or closed */
    TIND_ENOTSUP     = -13, /* not supported by this build or option set */
    TIND_ECONFLICT   = -14, /* transaction conflict: retry (later milestone) */
    TIND_ENOENT      = -15, /* file, folder or keyspace does not exist */
    TIND_EMFILE      = -16, /* too many open files */
};

/* A static, never-NULL English name for a status code. */
TIND_API const char *tind_strerror(int status);

/* Limits (SPEC section 1). */
#define TIND_MAX_KEY_SIZE   65535u
#define TIND_MAX_VALUE_SIZE 0xFFFFFFFFu
#define TIND_MAX_KEYSPACE_NAME 255u

#ifdef __cplusplus
}
#endif
#endif /* TIND_H */
