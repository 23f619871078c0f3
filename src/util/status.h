/*
 * status.h -- error reporting with context.
 *
 * Internal functions return an int status (tind_status) and, when given a
 * non-NULL tind_err, leave a detailed message there ("table 17: block at
 * offset 40960: checksum mismatch"). err_set() returns the code it was given
 * so that `return err_set(err, TIND_EIO, "...")` reads naturally.
 * A tind_err is owned by whoever declares it; no allocation, no global state.
 */
#ifndef TIND_UTIL_STATUS_H
#define TIND_UTIL_STATUS_H

#include "tind.h"

#define TIND_ERRMSG_MAX 512

typedef struct tind_err {
    int code;
    char msg[TIND_ERRMSG_MAX];
} tind_err;

/* Sets code and a printf-formatted message; returns code. err may be NULL. */
int err_set(tind_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("journal 5: " + msg);
 * returns err->code (or code when err is NULL). */
int err_wrap(tind_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Maps an errno value to a status (ENOSPC -> TIND_ENOSPC, EMFILE -> TIND_EMFILE,
 * ENOENT -> TIND_ENOENT, ENOMEM -> TIND_ENOMEM, else TIND_EIO). */
int err_from_errno(int errnum);

/* err_set with the status from errno and "<what> '<path>': <strerror>". */
int err_errno(tind_err *err, int errnum, const char *what, const char *path);

void err_clear(tind_err *err);

#endif
