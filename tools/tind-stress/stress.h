/*
 * stress.h -- tind-stress: randomized crash, fault and corruption campaigns
 * (TESTING.md items 3-5). main.c parses flags and runs one campaign:
 *
 *   tind-stress kill       [--seconds N] [--power-loss] [--writers W] [--bg B] [--seed S] [--dir D]
 *   tind-stress faults     [--seconds N] [--seed S]
 *   tind-stress corrupt    [--seconds N] [--seed S]
 *   tind-stress concurrent [--seconds N] [--threads T] [--seed S] [--mixed] [--bg B]
 *
 * Every campaign is reproducible from its seed, prints its figures at the
 * end (one "figures:" line of key=value pairs, for docs/RELIABILITY.md) and
 * returns 0 when no invariant was violated, 1 otherwise (with the seed and
 * what failed).
 */
#ifndef TIND_STRESS_H
#define TIND_STRESS_H

#include <stdint.h>

typedef struct stress_opts {
    double seconds;         /* time budget of the campaign */
    uint64_t seed;
    int threads;
    int power_loss;         /* kill: also simulate power loss (fault/mem file system) */
    int mixed;              /* concurrent: also keyspace create/delete and close/reopen mid-phase */
    int writers;            /* kill: writer threads in the child besides the batch writer (kill.h) */
    int bg;                 /* kill, concurrent: background threads (-1: the campaign's choice) */
    const char *dir;        /* scratch folder (default: a new one under $TMPDIR) */
    int verbose;
} stress_opts;

int campaign_kill(const stress_opts *o);        /* kill.c */
int campaign_concurrent(const stress_opts *o);  /* concurrent.c */
int campaign_faults(const stress_opts *o);      /* faults.c */
int campaign_corrupt(const stress_opts *o);     /* corrupt.c */

/* kill.c: the writer child of the kill campaign. campaign_kill() execs
 * "tind-stress __kill-child <args>" (a fresh process, so the kill-point
 * settings are read from its own environment); main() hands the arguments
 * after "__kill-child" here. Never returns normally: it is killed. */
int kill_child_main(int argc, char **argv);

#endif
