/*
 * wgroup.h -- group commit: the queue of writers waiting to write (LevelDB's
 * writer deque, RocksDB's write group). The mechanism only; write.c is the
 * leader's work (db/write.c, "the write path").
 *
 * A writer that finds the queue empty and the write lock free writes its
 * batch alone at once (no queue: the uncontended case costs one lock).
 * Otherwise it joins the queue and waits. The queue must be empty for the
 * shortcut: a leader waiting for the lock would otherwise lose it, again and
 * again, to a thread that takes the shortcut after each of its own writes
 * (mutexes are not fair): one writer measured 1,800 writes of another while
 * its own waited (tind-bench's queue workload saw its key missing). The writer at its head is the leader: it takes the lock that serializes writing (db->write_mu), then
 * collects the group -- itself and the writers queued behind it, up to a
 * byte bound, never past a writer marked `solo` -- writes the whole group
 * (one journal write, one sync, consecutive seqnos in queue order), sets
 * every member's status, and ends the group: the followers wake with their
 * status and the next writer in the queue becomes leader. Writers that
 * queue while a group is being written (its sync, say) form the next group,
 * so N threads doing synced writes share syncs instead of taking turns.
 *
 * Thread-safety: the queue's own mutex `mu` is a leaf (taken under
 * write_mu by the leader, alone by everyone else). A member's fields other
 * than `done` and `next` are written by its owner before wg_join and by
 * the leader between wg_collect and wg_finish; the owner reads them after
 * wg_join returns 0, which the mutex orders after the leader's writes.
 */
#ifndef TIND_DB_WGROUP_H
#define TIND_DB_WGROUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mutex.h"
#include "util/status.h"

typedef struct wg_writer {
    void *item;               /* the owner's: what to write */
    size_t bytes;             /* its journal bytes (the group's bound) */
    int solo;                 /* leads its own group, never rides in another */
    int status;               /* the outcome, set by the leader */
    tind_err *err;            /* filled by the leader on a failure (NULL-able) */
    int done;                 /* the leader finished it (queue mu) */
    tind_cond cv;             /* its owner waits here (with queue mu) */
    struct wg_writer *next;   /* queue order (queue mu) */
} wg_writer;

typedef struct wg_queue {
    tind_mutex mu;
    wg_writer *head GUARDED_BY(mu);
    wg_writer *tail GUARDED_BY(mu);
    _Atomic size_t waiting;   /* writers queued (joined, group not finished) */
    _Atomic uint64_t groups;  /* groups written */
    _Atomic uint64_t batches; /* batches in them */
} wg_queue;

void wg_init(wg_queue *q);
void wg_destroy(wg_queue *q);

/* wg_writer_init fills w; wg_writer_wait_init readies it for wg_join (its
 * condition variable), and wg_writer_destroy undoes that after wg_join. A
 * writer that got the write lock at once (uncontended) needs neither: it
 * writes a group of its own without queueing. */
void wg_writer_init(wg_writer *w, void *item, size_t bytes, int solo, tind_err *err);
void wg_writer_wait_init(wg_writer *w);
void wg_writer_destroy(wg_writer *w);

/* Queues w and waits until it leads (1) or a leader wrote it (0: w->status
 * and *w->err hold the outcome). */
int wg_join(wg_queue *q, wg_writer *w) EXCLUDES(q->mu);
/* The leader's group, taken once the leader holds the write lock: w and the
 * writers behind it while their bytes add up to at most max_bytes (w always
 * counts) and none is solo. Returns the last member; members follow each
 * other through `next` (stable until wg_finish). */
wg_writer *wg_collect(wg_queue *q, wg_writer *leader, size_t max_bytes) EXCLUDES(q->mu);
/* Ends the group leader..last: the followers wake (their status set), the
 * writer after last, if any, becomes the leader. */
void wg_finish(wg_queue *q, wg_writer *leader, wg_writer *last) EXCLUDES(q->mu);
/* 1 when no writer is queued: a writer may then take the write lock
 * without queueing (a hint; a writer queueing right after is served next). */
static inline int wg_idle(wg_queue *q)
{
    return atomic_load_explicit(&q->waiting, memory_order_relaxed) == 0;
}
/* Writers queued now (tests). */
size_t wg_queued(wg_queue *q) EXCLUDES(q->mu);

#endif
