/*
 * replay_main.c -- runs a fuzz target over every file of a corpus folder,
 * so that corpora are replayed by `make test` without clang or libFuzzer.
 * An input that traps or runs longer than REPLAY_WATCHDOG_S seconds (a hang:
 * fuzz_api with background threads on) is named on stderr and fails the run.
 */
#include <dirent.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_WATCHDOG_S 30

static char replay_path[4096]; /* the input being replayed */

/* async-signal-safe: names the input, then dies of the signal */
static void replay_report(int sig)
{
    const char *what = sig == SIGALRM ? "replay: input did not finish in time (a hang): " : "replay: input traps: ";
    ssize_t rc = write(2, what, strlen(what));
    rc = write(2, replay_path, strlen(replay_path));
    rc = write(2, "\n", 1);
    (void)rc;
    signal(sig, SIG_DFL);
    if (sig == SIGALRM)
        _exit(1);
    raise(sig);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
        return 2;
    }
    size_t files = 0;
    signal(SIGALRM, replay_report);
    signal(SIGILL, replay_report);
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            perror(argv[a]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char *path = replay_path;
            snprintf(path, sizeof replay_path, "%s/%s", argv[a], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            fseek(f, 0, SEEK_END);
            long n = ftell(f);
            fseek(f, 0, SEEK_SET);
            uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
            size_t got = fread(buf, 1, (size_t)n, f);
            fclose(f);
            alarm(REPLAY_WATCHDOG_S);
            LLVMFuzzerTestOneInput(buf, got);
            alarm(0);
            free(buf);
            files++;
        }
        closedir(d);
    }
    printf("replayed %zu inputs\n", files);
    return files ? 0 : 1;
}
