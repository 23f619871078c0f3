/*
 * quickstart.c -- tind's main job on an embedded default: a database folder
 * with two keyspaces, a sample data set loaded through atomic batches, point
 * reads, a reverse prefix scan, a snapshot, a reopen, and timings.
 *
 *   make demo            (or: ./build/quickstart [FOLDER] [USERS])
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tind.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define DIE(what, rc, db)                                                                     \
    do {                                                                                       \
        fprintf(stderr, "%s: %s (%s)\n", what, tind_strerror(rc), tind_errmsg(db));            \
        return 1;                                                                              \
    } while (0)

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./quickstart-db";
    int users = argc > 2 ? atoi(argv[2]) : 20000;
    const int posts_per_user = 10;
    tind_db *db;
    int rc = tind_open(path, NULL, &db);
    if (rc)
        DIE("open", rc, NULL);
    tind_keyspace *profiles, *posts;
    if ((rc = tind_keyspace_open(db, "profiles", NULL, &profiles)) ||
        (rc = tind_keyspace_open(db, "posts", NULL, &posts)))
        DIE("keyspace", rc, db);

    /* load: one atomic batch per user (profile + posts) */
    double t0 = now();
    tind_batch *b;
    if ((rc = tind_batch_new(db, &b)))
        DIE("batch", rc, db);
    char key[64], val[160];
    for (int u = 0; u < users; u++) {
        int kn = snprintf(key, sizeof key, "user%07d", u);
        int vn = snprintf(val, sizeof val, "{\"name\":\"user %d\",\"joined\":%d}", u, 2000 + u % 25);
        if ((rc = tind_batch_put(b, profiles, key, (size_t)kn, val, (size_t)vn)))
            DIE("batch put", rc, db);
        for (int p = 0; p < posts_per_user; p++) {
            kn = snprintf(key, sizeof key, "user%07d#post%04d", u, p);
            vn = snprintf(val, sizeof val, "post %d by user %d: lorem ipsum dolor sit amet", p, u);
            if ((rc = tind_batch_put(b, posts, key, (size_t)kn, val, (size_t)vn)))
                DIE("batch put", rc, db);
        }
        if ((rc = tind_batch_commit(b)))
            DIE("commit", rc, db);
    }
    tind_batch_free(b);
    if ((rc = tind_persist(db, TIND_PERSIST_SYNC_ALL)))
        DIE("persist", rc, db);
    double t1 = now();
    long total = (long)users * (1 + posts_per_user);
    printf("loaded %ld entries across 2 keyspaces in %.3f s (%.0f entries/s), synced\n", total, t1 - t0,
           total / (t1 - t0));

    /* point reads */
    srand(42);
    int found = 0, reads = 100000;
    t0 = now();
    for (int i = 0; i < reads; i++) {
        int kn = snprintf(key, sizeof key, "user%07d", rand() % users);
        void *v;
        size_t vn;
        rc = tind_get(profiles, key, (size_t)kn, NULL, &v, &vn);
        if (rc == TIND_OK) {
            found++;
            tind_free(v);
        } else if (rc != TIND_NOT_FOUND) {   /* absent is an answer, anything else an error */
            DIE("get", rc, db);
        }
    }
    t1 = now();
    printf("%d random profile reads, %d found, in %.3f s (%.0f reads/s)\n", reads, found, t1 - t0, reads / (t1 - t0));

    /* the three latest posts of one user: a reverse prefix scan */
    tind_iter *it;
    int kn = snprintf(key, sizeof key, "user%07d#", users / 2);
    if ((rc = tind_iter_prefix(posts, key, (size_t)kn, NULL, &it)))
        DIE("iter", rc, db);
    printf("latest posts of user%07d:\n", users / 2);
    int shown = 0;
    for (tind_iter_last(it); tind_iter_valid(it) && shown < 3; tind_iter_prev(it), shown++) {
        size_t k, v;
        const char *kp = tind_iter_key(it, &k);
        const char *vp = tind_iter_value(it, &v);
        printf("  %.*s = %.*s\n", (int)k, kp, (int)v, vp);
    }
    rc = tind_iter_status(it);   /* the loop also ends on an error */
    tind_iter_free(it);
    if (rc)
        DIE("scan", rc, db);
    if (found != reads || shown != 3) {
        fprintf(stderr, "expected every profile and 3 posts, got %d of %d and %d\n", found, reads, shown);
        return 1;
    }

    /* a snapshot keeps seeing the old value after an update */
    tind_snapshot *snap;
    if ((rc = tind_snapshot_new(db, &snap)) ||
        (rc = tind_put(profiles, "user0000000", 11, "{\"name\":\"renamed\"}", 18)))
        DIE("snapshot", rc, db);
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, snap);
    void *v1, *v2;
    size_t n1, n2;
    if ((rc = tind_get(profiles, "user0000000", 11, ro, &v1, &n1)))
        DIE("get at the snapshot", rc, db);
    if ((rc = tind_get(profiles, "user0000000", 11, NULL, &v2, &n2)))
        DIE("get", rc, db);
    printf("snapshot sees %.*s; latest is %.*s\n", (int)n1, (char *)v1, (int)n2, (char *)v2);
    static const char before[] = "{\"name\":\"user 0\",", after[] = "{\"name\":\"renamed\"}";
    int stable = n1 >= sizeof before - 1 && memcmp(v1, before, sizeof before - 1) == 0 &&
                 n2 == sizeof after - 1 && memcmp(v2, after, n2) == 0;
    tind_free(v1);
    tind_free(v2);
    tind_read_options_free(ro);
    tind_snapshot_free(snap);
    if (!stable) {
        fprintf(stderr, "the snapshot did not keep the old value\n");
        return 1;
    }

    /* close and reopen: everything is still there */
    t0 = now();
    if ((rc = tind_close(db)))
        DIE("close", rc, NULL);
    if ((rc = tind_open(path, NULL, &db)))
        DIE("reopen", rc, NULL);
    t1 = now();
    uint64_t approx = 0, disk = 0;
    tind_ks_stats st;
    if ((rc = tind_keyspace_open(db, "posts", NULL, &posts)) || (rc = tind_approximate_len(posts, &approx)) ||
        (rc = tind_disk_space(posts, &disk)) || (rc = tind_ks_stats_get(posts, &st)))
        DIE("stats", rc, db);
    printf("reopened in %.3f s: posts holds ~%llu entries, %llu bytes in tables, %llu flushes, %llu compactions\n",
           t1 - t0, (unsigned long long)approx, (unsigned long long)disk, (unsigned long long)st.flushes,
           (unsigned long long)st.compactions);
    if ((rc = tind_close(db)))
        DIE("close", rc, NULL);
    printf("done: the database is in %s\n", path);
    return 0;
}
