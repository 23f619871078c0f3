/*
 * common.c -- helpers shared by the tind-stress campaigns (common.h): the
 * clock, scratch folders, the value checksum of kill and concurrent, and the
 * data model, database options and mem-fs images of faults and corrupt.
 *
 * Nothing here keeps state between calls; every function is reentrant.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "tind_internal.h"

/* ------------------------------------------------------------------ time and folders */

double stress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int stress_scratch_dir(const stress_opts *o, const char *campaign, char *base, size_t cap, int *own)
{
    *own = 0;
    if (o->dir) {
        snprintf(base, cap, "%s", o->dir);
        mkdir(base, 0755);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(base, cap, "%s/tind-stress-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", campaign);
    if (!mkdtemp(base)) {
        fprintf(stderr, "tind-stress %s: mkdtemp %s: %s\n", campaign, base, strerror(errno));
        return -1;
    }
    *own = 1;
    return 0;
}

static void stress_rmtree_at(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char sub[4400];
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                stress_rmtree_at(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

int stress_rmtree(const char *path)
{
    stress_rmtree_at(path);
    struct stat st;
    return lstat(path, &st) == 0 ? -1 : 0;
}

int stress_digits(const void *s, size_t n, uint32_t *out)
{
    const uint8_t *p = s;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ the value checksum */

void stress_seal(uint8_t *v, size_t vlen, const void *key, size_t klen)
{
    enc_u64(v + vlen - 8, hash64_seed(v, vlen - 8, hash64(key, klen)));
}

int stress_sealed(const uint8_t *v, size_t vlen, const void *key, size_t klen)
{
    return dec_u64(v + vlen - 8) == hash64_seed(v, vlen - 8, hash64(key, klen));
}

/* ------------------------------------------------------------------ the in-memory model */

int stress_draw_ops(const stress_model *m, trng *r, stress_op ops[STRESS_MAXOPS])
{
    int nops = trng_below(r, 3) == 0 ? 1 + (int)trng_below(r, STRESS_MAXOPS) : 1;
    for (int i = 0; i < nops; i++) {
        ops[i].ks = (uint8_t)trng_below(r, (uint64_t)m->nks);
        ops[i].key = (uint16_t)trng_below(r, (uint64_t)m->universe);
        ops[i].tomb = trng_below(r, (uint64_t)m->tomb_one_in) == 0;
        ops[i].span = 0;
        if (ops[i].tomb && trng_below(r, 8) == 0) {
            ops[i].tomb = 2;
            ops[i].span = (uint8_t)(1 + trng_below(r, 16));
        }
    }
    return nops;
}

void stress_op_apply(const stress_model *m, const stress_op *op, int *row, int value)
{
    if (op->tomb == 2) {
        for (int k = op->key; k < op->key + op->span && k < m->universe; k++)
            row[k] = -1;
        return;
    }
    row[op->key] = op->tomb ? -1 : value;
}

size_t stress_key(const stress_model *m, int key, char out[16])
{
    return (size_t)snprintf(out, 16, "%s%0*d", m->key_prefix, m->key_digits, key);
}

int stress_key_id(const stress_model *m, const char *k, size_t n)
{
    size_t pn = strlen(m->key_prefix);
    uint32_t id;
    if (n != pn + (size_t)m->key_digits || memcmp(k, m->key_prefix, pn) != 0 ||
        stress_digits(k + pn, (size_t)m->key_digits, &id) != 0)
        return -1;
    return id < (uint32_t)m->universe ? (int)id : -1;
}

size_t stress_value(const stress_model *m, uint32_t batch, int ks, int key, uint8_t *out, size_t cap)
{
    uint64_t x = ((uint64_t)batch << 20) ^ ((uint64_t)ks << 16) ^ (uint64_t)key ^ m->value_salt;
    uint64_t h = trng_splitmix(&x);
    size_t len = m->value_min + (size_t)(h % m->value_span);
    if (h % m->big_one_in == 0)
        len = m->big_min + (size_t)(h % m->big_span);
    if (len > cap)
        len = cap;
    enc_u32(out, batch);
    out[4] = (uint8_t)ks;
    enc_u16(out + 5, (uint16_t)key);
    uint64_t s = h;
    for (size_t i = 7; i < len; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        out[i] = (uint8_t)(s >> 56);
    }
    return len;
}

int stress_batch_add(const stress_model *m, tind_batch *tb, tind_keyspace *const *ks, const stress_op *ops,
                     int nops, uint32_t batch)
{
    uint8_t val[STRESS_VALUE_CAP];
    int rc = TIND_OK;
    for (int i = 0; i < nops && !rc; i++) {
        char key[16];
        size_t kn = stress_key(m, ops[i].key, key);
        if (ops[i].tomb == 2) {
            /* [key, key + span), or to every key of the prefix ('~' follows the digits) */
            char hi[24];
            size_t hn = ops[i].key + ops[i].span < m->universe
                            ? stress_key(m, ops[i].key + ops[i].span, hi)
                            : (size_t)snprintf(hi, sizeof hi, "%s~", m->key_prefix);
            rc = tind_batch_remove_range(tb, ks[ops[i].ks], key, kn, hi, hn);
        } else if (ops[i].tomb) {
            rc = tind_batch_remove(tb, ks[ops[i].ks], key, kn);
        } else {
            size_t vn = stress_value(m, batch, ops[i].ks, ops[i].key, val, sizeof val);
            rc = tind_batch_put(tb, ks[ops[i].ks], key, kn, val, vn);
        }
    }
    return rc;
}

int stress_encrypt;
const uint8_t stress_enc_key[32] = "tind-stress encryption key 0123";

void stress_options_key(tind_options *o)
{
    if (stress_encrypt)
        tind_options_set_encryption_key(o, stress_enc_key, sizeof stress_enc_key);
}

int stress_db_open(fs *f, const char *path, const stress_db_sizes *z, tind_db **db)
{
    tind_options *o = tind_options_new();
    if (!o)
        return TIND_ENOMEM;
    tind_options_set_fs(o, f);
    tind_options_set_no_background(o, 1);
    tind_options_set_cache_size(o, z->cache);
    tind_options_set_write_buffer_size(o, z->write_buffer);
    tind_options_set_journal_file_size(o, z->journal_file);
    tind_options_set_max_journal_size(o, z->max_journal);
    tind_options_set_journal_compression_threshold(o, z->journal_compression);
    stress_options_key(o);
    int rc = tind_open(path, o, db);
    tind_options_free(o);
    return rc;
}

/* ------------------------------------------------------------------ mem-fs images */

void stress_image_free(stress_image *img)
{
    for (size_t i = 0; i < img->n; i++) {
        free(img->v[i].path);
        free(img->v[i].data);
    }
    free(img->v);
    memset(img, 0, sizeof *img);
}

int stress_image_capture(fs *mem, const char *dir, stress_image *img)
{
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list(mem, dir, &names, &count, NULL);
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        size_t need = strlen(dir) + strlen(names[i]) + 2;
        char *p = malloc(need);
        if (!p) {
            rc = TIND_ENOMEM;
            break;
        }
        snprintf(p, need, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", names[i]);
        int is_dir = 0;
        fs_exists(mem, p, &is_dir);
        if (img->n == img->cap) {
            size_t cap = img->cap ? img->cap * 2 : 32;
            stress_entry *nv = realloc(img->v, cap * sizeof *nv);
            if (!nv) {
                free(p);
                rc = TIND_ENOMEM;
                break;
            }
            img->v = nv;
            img->cap = cap;
        }
        stress_entry *e = &img->v[img->n++];
        memset(e, 0, sizeof *e);
        e->path = p;
        e->is_dir = is_dir;
        if (is_dir)
            rc = stress_image_capture(mem, p, img);
        else
            rc = fs_read_all(mem, p, &e->data, &e->len, NULL);
    }
    fs_list_free(names, count);
    return rc;
}

fs *stress_image_load(const stress_image *img, long damaged, const uint8_t *data, size_t len)
{
    fs *mem = fs_mem_new();
    if (!mem)
        return NULL;
    int rc = TIND_OK;
    for (size_t i = 0; rc == TIND_OK && i < img->n; i++) {
        const stress_entry *e = &img->v[i];
        if (e->is_dir) {
            rc = fs_mkdir(mem, e->path, NULL);
            continue;
        }
        const uint8_t *d = (long)i == damaged ? data : e->data;
        size_t n = (long)i == damaged ? len : e->len;
        fs_file *f;
        rc = fs_open(mem, e->path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &f, NULL);
        if (rc)
            break;
        if (n)
            rc = fs_write(f, d, n, 0, NULL);
        if (!rc)
            rc = fs_sync(f, FS_SYNC_ALL, NULL);
        fs_close(f, NULL);
    }
    if (!rc)
        rc = fs_sync_dir(mem, "/", NULL);
    for (size_t i = 0; rc == TIND_OK && i < img->n; i++)
        if (img->v[i].is_dir)
            rc = fs_sync_dir(mem, img->v[i].path, NULL);
    if (rc) {
        fs_destroy(mem);
        return NULL;
    }
    return mem;
}

long stress_image_find(const stress_image *img, const char *path)
{
    for (size_t i = 0; i < img->n; i++)
        if (!img->v[i].is_dir && strcmp(img->v[i].path, path) == 0)
            return (long)i;
    return -1;
}

int stress_file_put(fs *mem, const char *path, const uint8_t *data, size_t len)
{
    char dir[512];
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= sizeof dir)
        return TIND_EINVAL;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = 0;
    return fs_write_atomic(mem, dir[0] ? dir : "/", slash + 1, data, len, NULL);
}

/* ------------------------------------------------------------------ shown violations */

void stress_shown_add(stress_shown *s, const char *fmt, ...)
{
    if (s->n >= STRESS_SHOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->text[s->n++], sizeof s->text[0], fmt, ap);
    va_end(ap);
}

void stress_shown_print(const stress_shown *s, uint64_t total)
{
    for (size_t i = 0; i < s->n; i++)
        fprintf(stderr, "VIOLATION %s\n", s->text[i]);
    if (total > s->n)
        fprintf(stderr, "... and %" PRIu64 " more violations\n", total - s->n);
}
