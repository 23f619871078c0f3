/*
 * progress.h -- the shell's progress meter: one line on stderr, redrawn in
 * place with \r at most ~10 times a second, showing what is done (items or
 * bytes), the percent and ETA when the total is known, and the rate.
 *
 * It draws only when both stderr and stdin are terminals and the commands do
 * not come from a script, so scripts, pipes and redirections never see it;
 * sh_progress_end erases the line. Not thread-safe: one meter belongs to the
 * command (the shell's one thread) that began it.
 *
 * sh_progress_wait runs one long library call that reports no progress
 * (tind_compact) in a thread of its own while the shell's thread draws the
 * elapsed time; the library has no call to cancel it, so Ctrl-C only says
 * that the shell waits for it.
 */
#ifndef TIND_TOOLS_PROGRESS_H
#define TIND_TOOLS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct tsh;

typedef struct sh_progress {
    FILE *err;
    int on;               /* drawing at all (a terminal, not a script) */
    int bytes;            /* done/total count bytes, else items named by unit */
    const char *label;    /* "export", "verify", ... */
    const char *unit;     /* "entries", "files", ... (items only) */
    uint64_t done, total; /* total 0: unknown (no percent, no ETA) */
    double start, next_draw;
    int width;            /* columns of the line drawn last (0: none shown) */
    int elapsed_only;     /* sh_progress_wait: the elapsed time, nothing counted */
} sh_progress;

/* Starts a meter for sh (drawn only when sh runs on a terminal). total 0
 * means unknown; bytes selects bytes (B, KiB, ...) over items named unit. */
void sh_progress_begin(sh_progress *p, const struct tsh *sh, const char *label, uint64_t total, int bytes,
                       const char *unit);
/* Redraws when ~0.1 s have passed since the last drawing. */
void sh_progress_draw(sh_progress *p);
static inline void sh_progress_add(sh_progress *p, uint64_t n)
{
    p->done += n;
    if (p->on)
        sh_progress_draw(p);
}
/* Erases the line; the meter is done (a second call does nothing). */
void sh_progress_end(sh_progress *p);
/* Returns run(arg). On a terminal, run goes in a new thread while this one
 * draws "label: S s" until it returns; elsewhere (or when no thread can be
 * made) it is called directly. */
int sh_progress_wait(const struct tsh *sh, const char *label, int (*run)(void *arg), void *arg);

#endif
