/* killpoint.c -- see killpoint.h. Compiled to nothing in normal builds. */
#include "util/killpoint.h"

#ifdef TIND_KILL_POINTS
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/rand.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *kill_at;
static unsigned long kill_odds = 1;
static pthread_mutex_t rng_mu = PTHREAD_MUTEX_INITIALIZER;
static trng rng;

static void load(void)
{
    kill_at = getenv("TIND_KILL_AT");
    const char *odds = getenv("TIND_KILL_ODDS");
    if (odds && atol(odds) > 0)
        kill_odds = (unsigned long)atol(odds);
    trng_seed(&rng, (uint64_t)getpid() * 0x9e3779b97f4a7c15ull);
}

void kill_point(const char *name)
{
    pthread_once(&once, load);
    if (!kill_at || strncmp(name, kill_at, strlen(kill_at)) != 0)
        return;
    pthread_mutex_lock(&rng_mu);
    int hit = trng_below(&rng, kill_odds) == 0;
    pthread_mutex_unlock(&rng_mu);
    if (hit)
        kill(getpid(), SIGKILL);
}
#else
typedef int killpoint_unused; /* ISO C forbids an empty translation unit */
#endif
