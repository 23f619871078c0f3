/*
 * progress.c -- the shell's progress meter (progress.h).
 */
#include "progress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shell.h"

#define PROGRESS_INTERVAL 0.1 /* seconds between two drawings */

static double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "123 entries" or "4.5 MiB" */
static void progress_amount(char *buf, size_t cap, double n, int bytes, const char *unit)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (!bytes) {
        snprintf(buf, cap, "%.0f %s", n, unit);
        return;
    }
    int u = 0;
    while (n >= 1024 && u < 4) {
        n /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", n, units[u]);
}

/* sh_progress_begin without the first drawing */
static void progress_init(sh_progress *p, const struct tsh *sh, const char *label, uint64_t total, int bytes,
                          const char *unit)
{
    memset(p, 0, sizeof *p);
    p->err = sh->err;
    p->label = label;
    p->unit = unit ? unit : "items";
    p->bytes = bytes;
    p->total = total;
    p->on = !sh->stdin_commands && isatty(STDIN_FILENO) && isatty(fileno(sh->err));
    p->start = progress_now();
    p->next_draw = p->start;   /* the first call draws: even a short command shows it ran */
}

void sh_progress_begin(sh_progress *p, const struct tsh *sh, const char *label, uint64_t total, int bytes,
                       const char *unit)
{
    progress_init(p, sh, label, total, bytes, unit);
    sh_progress_draw(p);
}

void sh_progress_draw(sh_progress *p)
{
    double now = progress_now();
    if (!p->on || now < p->next_draw)
        return;
    p->next_draw = now + PROGRESS_INTERVAL;
    double elapsed = now - p->start;
    char done[48], rate[48], line[200];
    progress_amount(done, sizeof done, (double)p->done, p->bytes, p->unit);
    int n = p->elapsed_only ? snprintf(line, sizeof line, "%s: %.1f s", p->label, elapsed)
                            : snprintf(line, sizeof line, "%s: %s", p->label, done);
    if (p->total && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " (%.0f%%)",
                      100.0 * (double)(p->done < p->total ? p->done : p->total) / (double)p->total);
    if (elapsed >= 0.5 && p->done && !p->elapsed_only) {
        double per_second = (double)p->done / elapsed;
        progress_amount(rate, sizeof rate, per_second, p->bytes, p->unit);
        if (n < (int)sizeof line)
            n += snprintf(line + n, sizeof line - (size_t)n, ", %s/s", rate);
        if (p->total > p->done && n < (int)sizeof line) {
            long eta = (long)((double)(p->total - p->done) / per_second + 0.5);
            n += snprintf(line + n, sizeof line - (size_t)n, ", ETA %ld:%02ld", eta / 60, eta % 60);
        }
    }
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1;
    /* pad over what the previous drawing left to the right */
    fprintf(p->err, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
    fflush(p->err);
    p->width = n;
}

void sh_progress_end(sh_progress *p)
{
    if (p->on && p->width) {
        fprintf(p->err, "\r%*s\r", p->width, "");
        fflush(p->err);
    }
    p->on = 0;
    p->width = 0;
}

typedef struct progress_job {
    int (*run)(void *arg);
    void *arg;
    int result;
    atomic_int done; /* set once result holds run's return */
} progress_job;

static void *progress_job_main(void *p)
{
    progress_job *job = p;
    job->result = job->run(job->arg);
    atomic_store(&job->done, 1);
    return NULL;
}

int sh_progress_wait(const struct tsh *sh, const char *label, int (*run)(void *arg), void *arg)
{
    sh_progress meter;
    progress_init(&meter, sh, label, 0, 0, NULL);
    meter.elapsed_only = 1;
    sh_progress_draw(&meter);
    progress_job job = {run, arg, 0, 0};
    pthread_t thread;
    if (!meter.on || pthread_create(&thread, NULL, progress_job_main, &job) != 0) {
        sh_progress_end(&meter);
        return run(arg);
    }
    int told = 0;
    while (!atomic_load(&job.done)) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        if (sh_interrupted && !told) {
            sh_progress_end(&meter);
            fprintf(sh->err, "%s: Ctrl-C cannot stop it (the library has no cancel call): waiting for it to end; "
                    "Ctrl-C again quits tind at once\n", label);
            meter.on = 1;
            told = 1;
        }
        sh_progress_draw(&meter);
    }
    pthread_join(thread, NULL);
    sh_progress_end(&meter);
    return job.result;
}
