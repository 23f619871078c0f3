/*
 * mutex.h -- the engine's mutex and condition variable: thin wrappers over
 * pthreads carrying clang's thread-safety annotations, so that clang's
 * -Wthread-safety (on in clang builds, warnings as errors) checks lock
 * discipline at compile time: a function marked REQUIRES(x->mu) may only be
 * called with that lock held, ACQUIRE/RELEASE name what a function takes or
 * lets go of, every lock taken in a function is released on every path, and
 * nothing is released that was not held. The macros are no-ops elsewhere
 * (gcc).
 *
 * GUARDED_BY(lock) marks the fields a lock guards. In C, clang (through at
 * least 14) cannot parse a reference to another member in a field's
 * attribute, so there the macro is documentation only; the function-level
 * annotations are checked. (C++ and newer clangs check fields too; flip
 * TIND_TSA_FIELDS on when the compiler supports it.)
 *
 * Thread-safety: as pthreads. The wrappers add no state.
 */
#ifndef TIND_UTIL_MUTEX_H
#define TIND_UTIL_MUTEX_H

#include <pthread.h>
#include <time.h>

#if defined(__clang__)
#define TIND_TSA(x) __attribute__((x))
#else
#define TIND_TSA(x)
#endif

#define CAPABILITY(name) TIND_TSA(capability(name))
#define REQUIRES(...) TIND_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) TIND_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TIND_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) TIND_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) TIND_TSA(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS TIND_TSA(no_thread_safety_analysis)
#if defined(TIND_TSA_FIELDS)
#define GUARDED_BY(x) TIND_TSA(guarded_by(x))
#else
#define GUARDED_BY(x)
#endif

typedef struct CAPABILITY("mutex") tind_mutex {
    pthread_mutex_t m;
} tind_mutex;

typedef struct tind_cond {
    pthread_cond_t c;
} tind_cond;

static inline int mu_init(tind_mutex *mu) { return pthread_mutex_init(&mu->m, NULL); }
static inline void mu_destroy(tind_mutex *mu) { pthread_mutex_destroy(&mu->m); }
static inline void mu_lock(tind_mutex *mu) ACQUIRE(*mu) NO_THREAD_SAFETY_ANALYSIS { pthread_mutex_lock(&mu->m); }
static inline void mu_unlock(tind_mutex *mu) RELEASE(*mu) NO_THREAD_SAFETY_ANALYSIS { pthread_mutex_unlock(&mu->m); }
/* 1 when mu was free and is now held, 0 when another thread holds it. */
static inline int mu_trylock(tind_mutex *mu) TRY_ACQUIRE(1, *mu) NO_THREAD_SAFETY_ANALYSIS
{
    return pthread_mutex_trylock(&mu->m) == 0;
}

static inline int cv_init(tind_cond *cv) { return pthread_cond_init(&cv->c, NULL); }
static inline void cv_destroy(tind_cond *cv) { pthread_cond_destroy(&cv->c); }
static inline void cv_broadcast(tind_cond *cv) { pthread_cond_broadcast(&cv->c); }
/* Waits on cv; mu is released while waiting and held again on return. */
static inline void cv_wait(tind_cond *cv, tind_mutex *mu) REQUIRES(*mu) { pthread_cond_wait(&cv->c, &mu->m); }
/* As cv_wait, until the absolute CLOCK_REALTIME time `deadline`. */
static inline int cv_timedwait(tind_cond *cv, tind_mutex *mu, const struct timespec *deadline) REQUIRES(*mu)
{
    return pthread_cond_timedwait(&cv->c, &mu->m, deadline);
}

#endif
