/*
 * main.c -- tind-stress: parses the command line (stress.h) and runs one
 * campaign. Exit status: 0 when no invariant was violated, 1 when one was
 * (the campaign printed the seed and what failed), 2 on a usage or setup
 * error. The hidden subcommand "__kill-child" is the writer process the kill
 * campaign execs (kill.c).
 *
 * Without --seed the seed comes from the clock and the pid; every campaign
 * prints the seed it used.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "stress.h"
#include "tind_internal.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tind-stress <campaign> [options]\n"
            "campaigns:\n"
            "  kill        a child writes tagged batches; it is SIGKILLed at random moments and\n"
            "              the recovered database is checked (prefix, atomicity, synced data)\n"
            "  faults      fail every I/O call site in turn; errors surface, nothing acknowledged is lost\n"
            "  corrupt     flip bits in and truncate every kind of file; never wrong data, never a crash\n"
            "  concurrent  threads of mixed operations against per-thread expectations\n"
            "options:\n"
            "  --seconds N     time budget (default 60)\n"
            "  --seed S        seed (default: from the clock; printed)\n"
            "  --threads T     concurrent: threads (default 4)\n"
            "  --power-loss    kill: every other kill also simulates a power loss\n"
            "  --writers W     kill: W more writer threads in the child, each putting its own keys;\n"
            "                  every write a thread saw acknowledged must survive the kill\n"
            "  --mixed         concurrent: also keyspace create/delete, scratch flush/compact and\n"
            "                  whole-database close + reopen while the threads run\n"
            "  --encrypt       kill, faults, corrupt, concurrent: the database is encrypted at rest\n"
            "  --bg B          kill, concurrent: B background threads; 0: none, the campaign's\n"
            "                  threads run the flushes and compactions themselves (default: kill\n"
            "                  picks 0-3 per life, concurrent 2)\n"
            "  --dir D         scratch folder (default: a new one under $TMPDIR, removed on success)\n"
            "  --verbose       more output\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "__kill-child") == 0)
        return kill_child_main(argc - 2, argv + 2);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *campaign = argv[1];
    stress_opts o;
    memset(&o, 0, sizeof o);
    o.seconds = 60;
    o.threads = 4;
    o.bg = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ((uint64_t)getpid() << 32);
    o.seed = trng_splitmix(&x) % 1000000000ull; /* short enough to retype */
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seconds") && v) {
            o.seconds = strtod(v, NULL);
            i++;
        } else if (!strcmp(a, "--seed") && v) {
            o.seed = strtoull(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            o.threads = atoi(v);
            i++;
        } else if (!strcmp(a, "--bg") && v) {
            o.bg = atoi(v);
            i++;
        } else if (!strcmp(a, "--writers") && v) {
            o.writers = atoi(v);
            i++;
        } else if (!strcmp(a, "--dir") && v) {
            o.dir = v;
            i++;
        } else if (!strcmp(a, "--mixed")) {
            o.mixed = 1;
        } else if (!strcmp(a, "--power-loss")) {
            o.power_loss = 1;
        } else if (!strcmp(a, "--encrypt")) {
            stress_encrypt = 1;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o.verbose = 1;
        } else {
            fprintf(stderr, "tind-stress: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.seconds < 0 || o.threads < 1 || o.threads > 256 || o.writers < 0 || o.writers > 32 || o.bg > 16) {
        fprintf(stderr, "tind-stress: --seconds must be >= 0, --threads in 1..256, --writers in 0..32 and --bg at most 16\n");
        return 2;
    }
    if (!strcmp(campaign, "kill"))
        return campaign_kill(&o);
    if (!strcmp(campaign, "concurrent"))
        return campaign_concurrent(&o);
    if (!strcmp(campaign, "faults"))
        return campaign_faults(&o);
    if (!strcmp(campaign, "corrupt"))
        return campaign_corrupt(&o);
    fprintf(stderr, "tind-stress: unknown campaign '%s'\n", campaign);
    usage(stderr);
    return 2;
}
