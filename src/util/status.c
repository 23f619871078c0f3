/* status.c -- status names and error messages with context. */
#include "util/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

TIND_API const char *tind_version(void) { return TIND_VERSION_STRING; }

TIND_API const char *tind_strerror(int status)
{
    switch (status) {
    case TIND_OK:        return "ok";
    case TIND_NOT_FOUND: return "not found";
    case TIND_EINVAL:    return "invalid argument";
    case TIND_ENOMEM:    return "out of memory";
    case TIND_EIO:       return "I/O error";
    case TIND_ECORRUPT:  return "corruption detected";
    case TIND_ENOSPC:    return "no space left on device";
    case TIND_EBUSY:     return "database is locked by another open";
    case TIND_EPOISONED: return "database poisoned by an earlier write or sync failure; reopen to recover";
    case TIND_EVERSION:  return "file format is newer than this library";
    case TIND_EEXIST:    return "already exists";
    case TIND_ETOOBIG:   return "key or value too large";
    case TIND_ECLOSED:   return "database is closed";
    case TIND_ENOTSUP:   return "not supported";
    case TIND_ECONFLICT: return "transaction conflict";
    case TIND_ENOENT:    return "no such file, folder or keyspace";
    case TIND_EMFILE:    return "too many open files";
    default:             return "unknown status";
    }
}

int err_set(tind_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int err_wrap(tind_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    char prefix[TIND_ERRMSG_MAX];
    char old[TIND_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    if (err->code == TIND_OK)
        err->code = code;
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3)
        n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof err->msg - n - 3;
    size_t m = strlen(old);
    if (m > rest)
        m = rest;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = 0;
    return err->code;
}

int err_from_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC: case EDQUOT: return TIND_ENOSPC;
    case EMFILE: case ENFILE: return TIND_EMFILE;
    case ENOENT: return TIND_ENOENT;
    case ENOMEM: return TIND_ENOMEM;
    case EEXIST: return TIND_EEXIST;
    case EWOULDBLOCK: return TIND_EBUSY;
    default: return TIND_EIO;
    }
}

int err_errno(tind_err *err, int errnum, const char *what, const char *path)
{
    return err_set(err, err_from_errno(errnum), "%s '%s': %s", what, path ? path : "",
                   strerror(errnum));
}

void err_clear(tind_err *err)
{
    if (err) {
        err->code = TIND_OK;
        err->msg[0] = 0;
    }
}
