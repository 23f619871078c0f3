/*
 * blockpool.c -- data blocks encoded on helper threads (blockpool.h).
 *
 * The ring: slots [head, tail) are the producer's submitted blocks, oldest
 * first; [head, next) have been taken by a thread (encoded once done is
 * set), [next, tail) wait for one. head is the producer's alone, tail and
 * next change under mu. Each thread keeps its own compression contexts
 * (compress.c's per-thread contexts), freed when it exits with the pool.
 */
#include "format/blockpool.h"

#include <pthread.h>
#include <stdlib.h>

#include "format/blockio.h"
#include "util/mutex.h"

struct bpool {
    tind_mutex mu;
    tind_cond work_cv;            /* a slot was submitted, or stop */
    tind_cond done_cv;            /* a slot was encoded */
    bpool_slot *slot;
    size_t nslots;
    uint64_t head;                /* producer only: the oldest pending slot */
    uint64_t tail;                /* guarded by mu: the next slot to fill */
    uint64_t next;                /* guarded by mu: the next slot to encode */
    int stop;                     /* guarded by mu */
    int idle;                     /* guarded by mu: threads waiting for a slot */
    int waiting;                  /* guarded by mu: the producer waits for the oldest */
    int compression, level;
    pthread_t thread[BPOOL_MAX_THREADS];
    int threads;
};

static void *bpool_main(void *arg)
{
    bpool *p = arg;
    mu_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next == p->tail) {
            p->idle++;
            cv_wait(&p->work_cv, &p->mu);
            p->idle--;
        }
        if (p->stop)
            break;
        bpool_slot *s = &p->slot[p->next++ % p->nslots];
        mu_unlock(&p->mu);
        tbuf_reset(&s->stored);
        int rc = TIND_OK;
        for (size_t i = 0, at = 0; i < s->count && rc == TIND_OK; at = s->raw_end[i++]) {
            rc = blockio_encode(&s->stored, s->raw.data + at, s->raw_end[i] - at, p->compression, p->level);
            s->stored_end[i] = s->stored.len;
        }
        mu_lock(&p->mu);
        s->rc = rc;
        s->done = 1;
        if (p->waiting)
            cv_broadcast(&p->done_cv);
    }
    mu_unlock(&p->mu);
    return NULL;
}

static void bpool_stop(bpool *p)
{
    mu_lock(&p->mu);
    p->stop = 1;
    cv_broadcast(&p->work_cv);
    mu_unlock(&p->mu);
    for (int i = 0; i < p->threads; i++)
        pthread_join(p->thread[i], NULL);
    p->threads = 0;
}

void bpool_free(bpool *p)
{
    if (!p)
        return;
    bpool_stop(p);
    for (size_t i = 0; i < p->nslots; i++) {
        tbuf_free(&p->slot[i].raw);
        tbuf_free(&p->slot[i].stored);
        tbuf_free(&p->slot[i].keys);
    }
    free(p->slot);
    cv_destroy(&p->done_cv);
    cv_destroy(&p->work_cv);
    mu_destroy(&p->mu);
    free(p);
}

int bpool_new(int threads, int compression, int level, bpool **out)
{
    *out = NULL;
    if (threads < 1 || threads > BPOOL_MAX_THREADS)
        return TIND_EINVAL;
    bpool *p = calloc(1, sizeof *p);
    if (!p)
        return TIND_ENOMEM;
    /* two batches a thread (one encoding, one waiting) and two more, so
     * the producer fills while the oldest waits to be taken back */
    p->nslots = (size_t)threads * 2 + 2;
    p->slot = calloc(p->nslots, sizeof *p->slot);
    int made = 0; /* how many of mu, work_cv, done_cv exist */
    if (!p->slot || mu_init(&p->mu))
        goto fail;
    made = 1;
    if (cv_init(&p->work_cv))
        goto fail;
    made = 2;
    if (cv_init(&p->done_cv))
        goto fail;
    p->compression = compression;
    p->level = level;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->thread[i], NULL, bpool_main, p) != 0) {
            bpool_free(p);
            return TIND_EIO;
        }
        p->threads++;
    }
    *out = p;
    return TIND_OK;
fail:
    if (made >= 2)
        cv_destroy(&p->work_cv);
    if (made >= 1)
        mu_destroy(&p->mu);
    free(p->slot);
    free(p);
    return TIND_ENOMEM;
}

bpool_slot *bpool_claim(bpool *p)
{
    mu_lock(&p->mu);
    uint64_t tail = p->tail;
    mu_unlock(&p->mu);
    if (tail - p->head == p->nslots)
        return NULL;
    bpool_slot *s = &p->slot[tail % p->nslots];
    tbuf_reset(&s->raw);
    tbuf_reset(&s->keys);
    s->count = 0;
    s->done = 0;   /* released: no thread holds it */
    s->rc = TIND_OK;
    return s;
}

int bpool_slot_add(bpool_slot *s, const uint8_t *raw, size_t n, const uint8_t *key, size_t klen, uint64_t seqno,
                   int flags)
{
    if (s->count == BPOOL_BATCH || tbuf_append(&s->raw, raw, n) || tbuf_append(&s->keys, key, klen))
        return TIND_ENOMEM;
    s->raw_end[s->count] = s->raw.len;
    s->key_end[s->count] = s->keys.len;
    s->seqno[s->count] = seqno;
    s->flags[s->count] = flags;
    s->count++;
    return TIND_OK;
}

int bpool_slot_full(const bpool_slot *s) { return s->count == BPOOL_BATCH || s->raw.len >= BPOOL_BATCH_BYTES; }

void bpool_submit(bpool *p)
{
    mu_lock(&p->mu);
    p->tail++;
    if (p->idle)
        cv_broadcast(&p->work_cv);
    mu_unlock(&p->mu);
}

size_t bpool_pending(bpool *p)
{
    mu_lock(&p->mu);
    size_t n = (size_t)(p->tail - p->head);
    mu_unlock(&p->mu);
    return n;
}

bpool_slot *bpool_oldest(bpool *p, int wait)
{
    mu_lock(&p->mu);
    bpool_slot *s = NULL;
    if (p->head != p->tail) {
        s = &p->slot[p->head % p->nslots];
        while (wait && !s->done) {
            p->waiting = 1;
            cv_wait(&p->done_cv, &p->mu);
            p->waiting = 0;
        }
        if (!s->done)
            s = NULL;
    }
    mu_unlock(&p->mu);
    return s;
}

void bpool_release(bpool *p) { p->head++; }
