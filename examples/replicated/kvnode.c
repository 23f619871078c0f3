/*
 * kvnode.c -- one node of a small replicated key-value service: its state
 * machine is a tind database, replicated by canonical's C raft library
 * (libraft, with libuv for the log, the snapshots and the network).
 *
 *   tind-kvnode ID DIR [--nodes N] [--port P]
 *
 * Node ID (1..N) keeps its raft log in DIR/raft and its database in DIR/db;
 * raft talks on 127.0.0.1:P+ID, clients on 127.0.0.1:P+100+ID, one request
 * per line, one answer per line:
 *   PUT key value   write through the leader: "OK index" once the write is
 *                   committed by a majority and applied here; "REDIRECT id"
 *                   on a follower (id 0: no leader known); "ERR why"
 *   DEL key         remove, as PUT
 *   GET key         linearizable read on the leader (a raft barrier first,
 *                   so every write acknowledged anywhere before is seen):
 *                   "VAL value" or "NONE"; "REDIRECT id" on a follower
 *   SGET key        local read on any node: may be stale (a follower lags
 *                   its leader by what is not yet replicated and applied)
 *   STAT            "STAT id state leader applied seqno keys hash": raft
 *                   state (3 = leader), the leader's id, the raft index of
 *                   the last command applied, tind's last seqno, the number
 *                   of keys and a hash of them with their values
 * Keys and values are words (no spaces); the example shows the design, not
 * a protocol.
 *
 * The state machine. A raft command is one write (op, key, value); applying
 * it commits one tind batch holding the write and the raft index it came
 * from (keyspace "_raft", key "applied"), so the database always knows how
 * far into the log it is, also after a crash: entries up to that index are
 * skipped when raft replays its log at start. Every node applies the same
 * commands in the same order to the same starting state, so every node's
 * database holds the same data at the same tind seqnos (checked by STAT's
 * seqno and hash; tind_batch_commit_at is the check a follower fed by a
 * change feed would use instead).
 *
 * Snapshots are tind checkpoints: the snapshot callback makes a checkpoint
 * folder of the database and packs its files into the raft snapshot;
 * restoring unpacks them into a folder that replaces the database (a node
 * that fell behind the leader's log, or a new one, catches up from the
 * snapshot plus the log after it). A snapshot older than the database
 * (raft restores its last snapshot at every start) is ignored.
 *
 * Threads: everything runs on the libuv loop's thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "tind.h"

#define MAX_NODES 7
#define SNAP_MAGIC "TKVSNAP1"

typedef struct node {
    unsigned id;
    unsigned nodes;
    int port;
    char dir[1024];
    char db_dir[1100];
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    uv_tcp_t listener;
    uv_signal_t sigterm;
    tind_db *db;
    tind_keyspace *kv;
    tind_keyspace *meta;
    uint64_t applied;             /* raft index of the last command in the database */
} node;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "kvnode: %s: %s\n", what, why);
    exit(1);
}

/* ------------------------------------------------------------------ the database */

static uint64_t get_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void db_open(node *n)
{
    tind_options *o = tind_options_new();
    tind_options_set_background_threads(o, 1);
    int rc = tind_open(n->db_dir, o, &n->db);
    tind_options_free(o);
    if (rc)
        die(n->db_dir, tind_errmsg(NULL));
    if (tind_keyspace_open(n->db, "kv", NULL, &n->kv) || tind_keyspace_open(n->db, "_raft", NULL, &n->meta))
        die("keyspace", tind_errmsg(n->db));
    void *v = NULL;
    size_t vlen = 0;
    n->applied = 0;
    if (tind_get(n->meta, "applied", 7, NULL, &v, &vlen) == TIND_OK && vlen == 8)
        n->applied = get_u64(v);
    tind_free(v);
}

static int rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : unlink(path);
    struct dirent *e;
    char sub[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    return rmdir(path);
}

/* A checkpoint of the database in `dir` (which must not exist): an
 * openable copy holding every write applied so far, at the same seqnos. */
static int make_checkpoint(node *n, const char *dir) { return tind_checkpoint(n->db, dir); }

/* ------------------------------------------------------------------ snapshot files */

typedef struct packer {
    char *data;
    size_t len, cap;
} packer;

static int reserve(packer *p, size_t n)
{
    if (p->len + n <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : 65536;
    while (cap < p->len + n)
        cap *= 2;
    char *d = raft_realloc(p->data, cap);
    if (!d)
        return -1;
    p->data = d;
    p->cap = cap;
    return 0;
}

static int pack(packer *p, const void *src, size_t n)
{
    if (reserve(p, n))
        return -1;
    memcpy(p->data + p->len, src, n);
    p->len += n;
    return 0;
}

/* Packs every file and folder under root/rel but LOCK: u32 name length,
 * name (a folder's ends in '/'), u64 size, bytes (none for a folder). */
static int pack_tree(packer *p, const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "LOCK"))
            continue;
        char sub[2048], full[4096];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st) != 0) {
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            /* the folder itself (it may be empty): its name and a '/' */
            uint32_t nl = (uint32_t)strlen(sub) + 1;
            uint64_t zero = 0;
            rc = pack(p, &nl, 4) || pack(p, sub, nl - 1) || pack(p, "/", 1) || pack(p, &zero, 8) ? -1 : 0;
            if (rc == 0)
                rc = pack_tree(p, root, sub);
        } else {
            uint32_t nl = (uint32_t)strlen(sub);
            uint64_t size = (uint64_t)st.st_size;
            int fd = open(full, O_RDONLY);
            rc = fd < 0 || pack(p, &nl, 4) || pack(p, sub, nl) || pack(p, &size, 8) || reserve(p, size) ? -1 : 0;
            if (rc == 0 && pread(fd, p->data + p->len, size, 0) != (ssize_t)size)
                rc = -1;
            if (rc == 0)
                p->len += size;
            if (fd >= 0)
                close(fd);
        }
    }
    closedir(d);
    return rc;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    node *n = fsm->data;
    char dir[1200];
    snprintf(dir, sizeof dir, "%.1000s/snapshot.tmp", n->dir);
    rm_tree(dir);
    int rc = make_checkpoint(n, dir);
    packer p = {0};
    if (rc == TIND_OK)
        rc = pack(&p, SNAP_MAGIC, 8) || pack(&p, &n->applied, 8) || pack_tree(&p, dir, "") ? -1 : 0;
    rm_tree(dir);
    if (rc) {
        raft_free(p.data);
        fprintf(stderr, "kvnode %u: snapshot failed: %s\n", n->id, rc < 0 ? "packing" : tind_errmsg(n->db));
        return RAFT_IOERR;
    }
    *bufs = raft_malloc(sizeof **bufs);
    if (!*bufs) {
        raft_free(p.data);
        return RAFT_NOMEM;
    }
    (*bufs)[0].base = p.data;
    (*bufs)[0].len = p.len;
    *n_bufs = 1;
    return 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        mkdir(dir, 0755);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int rc = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    return rc;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    node *n = fsm->data;
    const char *p = buf->base, *end = p + buf->len;
    if (buf->len < 16 || memcmp(p, SNAP_MAGIC, 8) != 0)
        return RAFT_MALFORMED;
    uint64_t index = get_u64(p + 8);
    if (index <= n->applied) {
        /* raft restoring its own last snapshot at start: the database is newer */
        raft_free(buf->base);
        return 0;
    }
    char dir[1200];
    snprintf(dir, sizeof dir, "%.1000s/restore.tmp", n->dir);
    rm_tree(dir);
    mkdir(dir, 0755);
    int rc = 0;
    for (p += 16; p < end && rc == 0;) {
        uint32_t nl;
        uint64_t size;
        if (end - p < 4)
            return RAFT_MALFORMED;
        memcpy(&nl, p, 4);
        if ((size_t)(end - p) < 4 + (size_t)nl + 8 || nl >= 1024)
            return RAFT_MALFORMED;
        char name[1024], path[2300];
        memcpy(name, p + 4, nl);
        name[nl] = 0;
        memcpy(&size, p + 4 + nl, 8);
        p += 4 + nl + 8;
        if ((uint64_t)(end - p) < size || strstr(name, ".."))
            return RAFT_MALFORMED;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (nl && name[nl - 1] == '/')
            rc = mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
        else
            rc = write_file(path, p, (size_t)size);
        p += size;
    }
    if (rc)
        return RAFT_IOERR;
    /* swap the folders: the old database goes, the checkpoint becomes it */
    if (tind_close(n->db))
        die("close before restore", tind_errmsg(NULL));
    n->db = NULL;
    rm_tree(n->db_dir);
    if (rename(dir, n->db_dir) != 0)
        die("restore rename", strerror(errno));
    db_open(n);
    fprintf(stderr, "kvnode %u: restored a snapshot at index %" PRIu64 "\n", n->id, n->applied);
    raft_free(buf->base);
    return 0;
}

/* ------------------------------------------------------------------ applying commands */

/* A command: u8 op ('P' put, 'D' delete) | u32 key length | u32 value
 * length | key | value | zeros to a multiple of 8 bytes (libraft 0.15's
 * segment loader misreads entries of other lengths after a restart: the
 * TODO in its uv_segment.c, canonical/raft issue 304). */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    node *n = fsm->data;
    *result = NULL;
    /* raft sets last_applied after this returns: this entry is the next one */
    uint64_t index = raft_last_applied(&n->raft) + 1;
    if (index <= n->applied)
        return 0;   /* in the database already (raft replays its log at start) */
    const char *p = buf->base;
    uint32_t kl, vl;
    if (buf->len < 9)
        return RAFT_MALFORMED;
    memcpy(&kl, p + 1, 4);
    memcpy(&vl, p + 5, 4);
    if (buf->len < 9 + (size_t)kl + vl)
        return RAFT_MALFORMED;
    tind_batch *b = NULL;
    int rc = tind_batch_new(n->db, &b);
    if (rc == TIND_OK && p[0] == 'P')
        rc = tind_batch_put(b, n->kv, p + 9, kl, p + 9 + kl, vl);
    else if (rc == TIND_OK)
        rc = tind_batch_remove(b, n->kv, p + 9, kl);
    if (rc == TIND_OK)
        rc = tind_batch_put(b, n->meta, "applied", 7, &index, 8);
    if (rc == TIND_OK)
        rc = tind_batch_commit(b);
    tind_batch_free(b);
    if (rc) {
        fprintf(stderr, "kvnode %u: apply %" PRIu64 ": %s\n", n->id, index, tind_errmsg(n->db));
        return RAFT_IOERR;
    }
    n->applied = index;
    return 0;
}

/* ------------------------------------------------------------------ clients */

typedef struct conn {
    uv_tcp_t tcp;
    node *n;
    char in[8192];
    size_t len;
    int pending;                  /* raft requests still to answer */
    int closed;
} conn;

typedef struct request {
    union {
        struct raft_apply apply;
        struct raft_barrier barrier;
    };
    conn *c;
    char key[512];
} request;

static void conn_free_cb(uv_handle_t *h) { free(h->data); }

static void conn_release(conn *c)
{
    if (c->closed && c->pending == 0)
        uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
}

static void write_cb(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void reply(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(conn *c, const char *fmt, ...)
{
    if (c->closed)
        return;
    uv_write_t *w = malloc(sizeof *w + 1100);
    if (!w)
        return;
    char *text = (char *)(w + 1);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(text, 1100, fmt, ap);
    va_end(ap);
    if (len < 0 || len >= 1100)
        len = 1099;
    uv_buf_t b = uv_buf_init(text, (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0)
        free(w);
}

static void redirect(conn *c)
{
    raft_id id = 0;
    const char *addr = NULL;
    raft_leader(&c->n->raft, &id, &addr);
    reply(c, "REDIRECT %llu\n", (unsigned long long)id);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)result;
    request *r = req->data;
    conn *c = r->c;
    if (status == 0)
        reply(c, "OK %llu\n", (unsigned long long)req->index);
    else
        reply(c, "ERR %s\n", raft_strerror(status));
    c->pending--;
    conn_release(c);
    free(r);
}

static void local_get(conn *c, const char *key)
{
    void *v = NULL;
    size_t vl = 0;
    int rc = tind_get(c->n->kv, key, strlen(key), NULL, &v, &vl);
    if (rc == TIND_OK)
        reply(c, "VAL %.*s\n", (int)vl, (const char *)v);
    else if (rc == TIND_NOT_FOUND)
        reply(c, "NONE\n");
    else
        reply(c, "ERR %s\n", tind_errmsg(c->n->db));
    tind_free(v);
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    request *r = req->data;
    conn *c = r->c;
    if (status == 0)
        local_get(c, r->key);
    else
        reply(c, "ERR %s\n", raft_strerror(status));
    c->pending--;
    conn_release(c);
    free(r);
}

static void stat_reply(conn *c)
{
    node *n = c->n;
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(&n->raft, &leader, &addr);
    uint64_t seqno = 0, keys = 0, hash = 1469598103934665603ull;
    tind_last_seqno(n->db, &seqno);
    tind_iter *it = NULL;
    if (tind_iter_prefix(n->kv, NULL, 0, NULL, &it) == TIND_OK) {
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
            size_t kl, vl;
            const unsigned char *k = tind_iter_key(it, &kl), *v = tind_iter_value(it, &vl);
            for (size_t i = 0; i < kl; i++)
                hash = (hash ^ k[i]) * 1099511628211ull;
            hash = (hash ^ 0x100) * 1099511628211ull;
            for (size_t i = 0; i < vl; i++)
                hash = (hash ^ v[i]) * 1099511628211ull;
            hash = (hash ^ 0x200) * 1099511628211ull;
            keys++;
        }
        tind_iter_free(it);
    }
    reply(c, "STAT %u %d %llu %" PRIu64 " %" PRIu64 " %" PRIu64 " %016" PRIx64 "\n", n->id, raft_state(&n->raft),
          (unsigned long long)leader, n->applied, seqno, keys, hash);
}

static void handle_line(conn *c, char *line)
{
    node *n = c->n;
    char *save = NULL;
    char *cmd = strtok_r(line, " \r", &save);
    char *key = cmd ? strtok_r(NULL, " \r", &save) : NULL;
    char *val = key ? strtok_r(NULL, " \r", &save) : NULL;
    if (!cmd) {
        reply(c, "ERR empty\n");
    } else if (!strcmp(cmd, "STAT")) {
        stat_reply(c);
    } else if (!key || strlen(key) >= 500) {
        reply(c, "ERR bad request\n");
    } else if (!strcmp(cmd, "SGET")) {
        local_get(c, key);
    } else if (raft_state(&n->raft) != RAFT_LEADER) {
        redirect(c);
    } else if (!strcmp(cmd, "GET")) {
        request *r = calloc(1, sizeof *r);
        if (!r) {
            reply(c, "ERR out of memory\n");
            return;
        }
        r->c = c;
        snprintf(r->key, sizeof r->key, "%s", key);
        r->barrier.data = r;
        c->pending++;
        if (raft_barrier(&n->raft, &r->barrier, barrier_cb) != 0) {
            c->pending--;
            free(r);
            reply(c, "ERR %s\n", raft_errmsg(&n->raft));
        }
    } else if (!strcmp(cmd, "PUT") || !strcmp(cmd, "DEL")) {
        int put = cmd[0] == 'P';
        if (put && !val) {
            reply(c, "ERR bad request\n");
            return;
        }
        uint32_t kl = (uint32_t)strlen(key);
        uint32_t vl = put ? (uint32_t)strlen(val) : 0;
        struct raft_buffer b;
        b.len = (9 + kl + vl + 7) / 8 * 8;
        b.base = raft_calloc(1, b.len);
        request *r = calloc(1, sizeof *r);
        if (!b.base || !r) {
            raft_free(b.base);
            free(r);
            reply(c, "ERR out of memory\n");
            return;
        }
        char *p = b.base;
        p[0] = put ? 'P' : 'D';
        memcpy(p + 1, &kl, 4);
        memcpy(p + 5, &vl, 4);
        memcpy(p + 9, key, kl);
        if (vl)
            memcpy(p + 9 + kl, val, vl);
        r->c = c;
        r->apply.data = r;
        c->pending++;
        if (raft_apply(&n->raft, &r->apply, &b, 1, apply_cb) != 0) {
            c->pending--;
            raft_free(b.base);
            free(r);
            reply(c, "ERR %s\n", raft_errmsg(&n->raft));
        }
    } else {
        reply(c, "ERR unknown command\n");
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn *c = h->data;
    buf->base = c->in + c->len;
    buf->len = sizeof c->in - c->len;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn *c = s->data;
    if (nread < 0 || (nread == 0 && c->len == sizeof c->in)) {
        uv_read_stop(s);
        c->closed = 1;
        conn_release(c);
        return;
    }
    c->len += (size_t)nread;
    char *start = c->in, *nl;
    while ((nl = memchr(start, '\n', (size_t)(c->in + c->len - start)))) {
        *nl = 0;
        handle_line(c, start);
        start = nl + 1;
    }
    c->len -= (size_t)(start - c->in);
    memmove(c->in, start, c->len);
    if (c->len == sizeof c->in) {   /* a line longer than the buffer */
        uv_read_stop(s);
        c->closed = 1;
        conn_release(c);
    }
}

static void accept_cb(uv_stream_t *server, int status)
{
    node *n = server->data;
    if (status < 0)
        return;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return;   /* the connection stays pending; the client times out */
    c->n = n;
    uv_tcp_init(&n->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    } else {
        c->closed = 1;
        conn_release(c);
    }
}

/* ------------------------------------------------------------------ start and stop */

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void raft_closed(struct raft *r)
{
    node *n = r->data;
    raft_uv_close(&n->io);
    raft_uv_tcp_close(&n->transport);
    uv_walk(&n->loop, walk_close, NULL);
}

static void on_sigterm(uv_signal_t *s, int signum)
{
    (void)signum;
    node *n = s->data;
    uv_signal_stop(s);
    raft_close(&n->raft, raft_closed);
}

int main(int argc, char **argv)
{
    static node nd;
    node *n = &nd;
    n->nodes = 3;
    n->port = 17000;
    if (argc < 3)
        die("usage", "tind-kvnode ID DIR [--nodes N] [--port P]");
    n->id = (unsigned)atoi(argv[1]);
    snprintf(n->dir, sizeof n->dir, "%s", argv[2]);
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--nodes"))
            n->nodes = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--port"))
            n->port = atoi(argv[i + 1]);
    }
    if (n->nodes < 1 || n->nodes > MAX_NODES || n->id < 1 || n->id > n->nodes)
        die("arguments", "ID must be 1..N, N 1..7");
    signal(SIGPIPE, SIG_IGN);
    char raft_dir[1100];
    snprintf(raft_dir, sizeof raft_dir, "%.1000s/raft", n->dir);
    snprintf(n->db_dir, sizeof n->db_dir, "%.1000s/db", n->dir);
    mkdir(n->dir, 0755);
    mkdir(raft_dir, 0755);
    db_open(n);

    uv_loop_init(&n->loop);
    if (raft_uv_tcp_init(&n->transport, &n->loop) != 0)
        die("raft_uv_tcp_init", "failed");
    if (raft_uv_init(&n->io, &n->loop, raft_dir, &n->transport) != 0)
        die("raft_uv_init", n->io.errmsg);
    n->fsm.version = 1;
    n->fsm.data = n;
    n->fsm.apply = fsm_apply;
    n->fsm.snapshot = fsm_snapshot;
    n->fsm.restore = fsm_restore;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", n->port + (int)n->id);
    if (raft_init(&n->raft, &n->io, &n->fsm, n->id, addr) != 0)
        die("raft_init", raft_errmsg(&n->raft));
    n->raft.data = n;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (unsigned i = 1; i <= n->nodes; i++) {
        char a[64];
        snprintf(a, sizeof a, "127.0.0.1:%d", n->port + (int)i);
        raft_configuration_add(&conf, i, a, RAFT_VOTER);
    }
    int rv = raft_bootstrap(&n->raft, &conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP)
        die("raft_bootstrap", raft_errmsg(&n->raft));
    raft_configuration_close(&conf);
    /* loopback: short timeouts; snapshots often, so that a node that was
     * down catches up from a snapshot plus the log */
    raft_set_election_timeout(&n->raft, 600);
    raft_set_heartbeat_timeout(&n->raft, 100);
    raft_set_snapshot_threshold(&n->raft, 512);
    raft_set_snapshot_trailing(&n->raft, 128);
    /* a snapshot of a few MiB crosses loopback in milliseconds; the default
     * (30 s) left a restarted node waiting that long when the first send
     * met it still starting */
    raft_set_install_snapshot_timeout(&n->raft, 3000);
    raft_set_pre_vote(&n->raft, true);
    if (raft_start(&n->raft) != 0)
        die("raft_start", raft_errmsg(&n->raft));

    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", n->port + 100 + (int)n->id, &sa);
    uv_tcp_init(&n->loop, &n->listener);
    n->listener.data = n;
    if (uv_tcp_bind(&n->listener, (const struct sockaddr *)&sa, 0) != 0 ||
        uv_listen((uv_stream_t *)&n->listener, 64, accept_cb) != 0)
        die("listen", "cannot listen on the client port");
    uv_signal_init(&n->loop, &n->sigterm);
    n->sigterm.data = n;
    uv_signal_start(&n->sigterm, on_sigterm, SIGTERM);
    fprintf(stderr, "kvnode %u: raft %s, clients 127.0.0.1:%d, applied %" PRIu64 "\n", n->id, addr,
            n->port + 100 + (int)n->id, n->applied);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    int rc = tind_close(n->db);
    return rc ? 1 : 0;
}
