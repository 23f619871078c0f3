/*
 * wgroup.c -- the queue of writers for group commit (db/wgroup.h).
 */
#include "db/wgroup.h"

void wg_init(wg_queue *q)
{
    mu_init(&q->mu);
    q->head = q->tail = NULL;
    atomic_init(&q->waiting, 0);
    atomic_init(&q->groups, 0);
    atomic_init(&q->batches, 0);
}

void wg_destroy(wg_queue *q) { mu_destroy(&q->mu); }

void wg_writer_init(wg_writer *w, void *item, size_t bytes, int solo, tind_err *err)
{
    w->item = item;
    w->bytes = bytes;
    w->solo = solo;
    w->status = 0;
    w->err = err;
    w->done = 0;
    w->next = NULL;
}

void wg_writer_wait_init(wg_writer *w) { cv_init(&w->cv); }

void wg_writer_destroy(wg_writer *w) { cv_destroy(&w->cv); }

int wg_join(wg_queue *q, wg_writer *w)
{
    mu_lock(&q->mu);
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    atomic_fetch_add_explicit(&q->waiting, 1, memory_order_relaxed);
    while (!w->done && q->head != w)
        cv_wait(&w->cv, &q->mu);
    int lead = !w->done;
    mu_unlock(&q->mu);
    return lead;
}

wg_writer *wg_collect(wg_queue *q, wg_writer *leader, size_t max_bytes)
{
    mu_lock(&q->mu);
    wg_writer *last = leader;
    size_t bytes = leader->bytes;
    uint64_t n = 1;
    for (wg_writer *m = leader->next; m && !m->solo && bytes <= max_bytes && m->bytes <= max_bytes - bytes;
         m = m->next) {
        bytes += m->bytes;
        last = m;
        n++;
    }
    mu_unlock(&q->mu);
    atomic_fetch_add_explicit(&q->groups, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->batches, n, memory_order_relaxed);
    return last;
}

void wg_finish(wg_queue *q, wg_writer *leader, wg_writer *last)
{
    mu_lock(&q->mu);
    size_t n = 1;
    for (wg_writer *m = leader; m != last; n++) {
        wg_writer *next = m->next;
        if (next) {
            next->done = 1;
            cv_broadcast(&next->cv);
        }
        m = next;
    }
    atomic_fetch_sub_explicit(&q->waiting, n, memory_order_relaxed);
    q->head = last->next;
    if (!q->head)
        q->tail = NULL;
    else
        cv_broadcast(&q->head->cv);
    mu_unlock(&q->mu);
}

size_t wg_queued(wg_queue *q)
{
    mu_lock(&q->mu);
    size_t n = 0;
    for (wg_writer *m = q->head; m; m = m->next)
        n++;
    mu_unlock(&q->mu);
    return n;
}
