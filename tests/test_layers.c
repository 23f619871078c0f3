/*
 * test_layers.c -- the modules the second floor plan took out of db/:
 * format/filename (the folder's names, parsed back), compaction/compact's
 * entry stream (the rules every flushed or compacted entry passes) and
 * journal/journal_set (start, append, seal, replay with the chain check,
 * the keep number, deleting obsolete journals), each against its contract
 * without a database around it.
 */
#include "check.h"

#include "compaction/compact.h"
#include "format/entry.h"
#include "format/filename.h"
#include "io/fs.h"
#include "iter/adapters.h"
#include "journal/journal_set.h"
#include "memtable/memtable.h"

TEST(filename_round_trip)
{
    char buf[64];
    uint64_t n = 0;
    CHECK_OK(fname_table("t", 17, buf, sizeof buf));
    CHECK(strcmp(buf, "t/00000017.tbl") == 0);
    CHECK_EQ(fname_parse(buf + 2, &n), FNAME_KIND_TABLE);
    CHECK_EQ(n, 17);
    CHECK_OK(fname_journal("j", UINT64_C(123456789012), buf, sizeof buf));
    CHECK(strcmp(buf, "j/123456789012.jrn") == 0);
    CHECK_EQ(fname_parse(buf + 2, &n), FNAME_KIND_JOURNAL);
    CHECK_EQ(n, UINT64_C(123456789012));
    CHECK_RC(fname_table("t", 1, buf, 8), TIND_EINVAL); /* does not fit */
    CHECK_EQ(fname_parse("LOCK", NULL), FNAME_KIND_LOCK);
    CHECK_EQ(fname_parse("FORMAT", NULL), FNAME_KIND_FORMAT);
    CHECK_EQ(fname_parse("VERSIONS", NULL), FNAME_KIND_VERSIONS);
    CHECK_EQ(fname_parse("VERSIONS.tmp", NULL), FNAME_KIND_TEMP);
    /* only the canonical spelling names a file */
    CHECK_EQ(fname_parse("000000001.jrn", &n), FNAME_UNKNOWN);
    CHECK_EQ(fname_parse("1.tbl", &n), FNAME_UNKNOWN);
    CHECK_EQ(fname_parse("0000001x.tbl", &n), FNAME_UNKNOWN);
    CHECK_EQ(fname_parse("99999999999999999999.tbl", &n), FNAME_UNKNOWN); /* past 2^64 */
    CHECK_EQ(fname_parse("notes.txt", &n), FNAME_UNKNOWN);
}

/* The stream over a memtable: what survives, in order, as "key@seqno type". */
static void stream_out(memtable *m, int bottommost, const uint64_t *snaps, size_t nsnap, char *out, size_t n)
{
    iiter *it = mt_iiter_new(m);
    CHECK(it != NULL);
    cmp_stream s;
    cmp_stream_init(&s, NULL, it, bottommost, snaps, nsnap);
    size_t len = 0;
    out[0] = 0;
    while (cmp_stream_next(&s))
        len += (size_t)snprintf(out + len, n - len, "%.*s@%" PRIu64 "%s%s ", (int)s.klen, (const char *)s.key,
                                s.seqno, s.type == ENTRY_TOMBSTONE ? "x" : "", s.new_key ? "" : "+");
    CHECK_OK(cmp_stream_status(&s, NULL));
    cmp_stream_free(&s);
    ii_free(it);
}

TEST(stream_rules)
{
    memtable *m = mt_new(1);
    CHECK(m != NULL);
    /* a: 3 versions; b: a tombstone over a value; c: one value */
    CHECK_OK(mt_add(m, 1, ENTRY_VALUE, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1));
    CHECK_OK(mt_add(m, 5, ENTRY_VALUE, (const uint8_t *)"a", 1, (const uint8_t *)"5", 1));
    CHECK_OK(mt_add(m, 9, ENTRY_VALUE, (const uint8_t *)"a", 1, (const uint8_t *)"9", 1));
    CHECK_OK(mt_add(m, 2, ENTRY_VALUE, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1));
    CHECK_OK(mt_add(m, 7, ENTRY_TOMBSTONE, (const uint8_t *)"b", 1, NULL, 0));
    CHECK_OK(mt_add(m, 3, ENTRY_VALUE, (const uint8_t *)"c", 1, (const uint8_t *)"3", 1));
    char out[256];
    /* no snapshot, not the bottom: the newest version of each key */
    stream_out(m, 0, NULL, 0, out, sizeof out);
    CHECK(strcmp(out, "a@9 b@7x c@3 ") == 0);
    /* the bottom: the tombstone goes, seqnos become 0 */
    stream_out(m, 1, NULL, 0, out, sizeof out);
    CHECK(strcmp(out, "a@0 c@0 ") == 0);
    /* a snapshot at 5 keeps what it sees beside the newest */
    uint64_t snaps[] = {5};
    stream_out(m, 0, snaps, 1, out, sizeof out);
    CHECK(strcmp(out, "a@9 a@5+ b@7x b@2+ c@3 ") == 0);
    /* at the bottom only the oldest stripe is rewritten */
    stream_out(m, 1, snaps, 1, out, sizeof out);
    CHECK(strcmp(out, "a@9 a@0+ b@7x b@0+ c@0 ") == 0);
    mt_unref(m);
}

typedef struct replayed {
    uint64_t records;
    uint64_t last;
} replayed;

static int count_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    replayed *r = ctx;
    r->records++;
    r->last = first_seqno + count - 1;
    return TIND_OK;
}

static int journal_files(fs *f, const char *dir)
{
    uint64_t *numbers = NULL;
    size_t count = 0;
    CHECK_OK(jrn_list(f, dir, &numbers, &count, NULL));
    free(numbers);
    return (int)count;
}

TEST(journal_set_cycle)
{
    fs *f = fs_mem_new();
    CHECK(f != NULL);
    CHECK_OK(fs_mkdir(f, "/db", NULL));
    CHECK_OK(fs_mkdir(f, "/db/journals", NULL));
    jset s;
    CHECK_OK(jset_init(&s, f, "/db", 0));
    uint64_t grown = 0;
    /* journal 1 gets seqnos 1..3, journal 2 seqnos 4..5 */
    CHECK_OK(jset_start(&s, 1, 1, NULL));
    CHECK_OK(jset_append(&s, 1, 3, "abc", 3, &grown, NULL));
    CHECK(grown > 3);
    CHECK_OK(jset_seal(&s, 3, NULL));
    CHECK(!jset_writing(&s));
    CHECK_EQ(s.synced_seqno, 0); /* sealing does not sync (journal format 4) */
    uint64_t end = 0;
    /* no later journal (as after a failed rotation): the keep number cannot
     * pass journal 1, so a flush may not count on its loss being harmless */
    CHECK(!jset_sealed_end(&s, 2, &end));
    CHECK_OK(jset_start(&s, 2, 4, NULL));
    CHECK(jset_sealed_end(&s, 2, &end));
    CHECK_EQ(end, 3);
    CHECK(!jset_sealed_end(&s, 4, &end));
    CHECK_OK(jset_append(&s, 4, 2, "de", 2, &grown, NULL));
    CHECK_OK(jset_sync(&s, FS_SYNC_DATA, 5, NULL)); /* journal 1 first */
    CHECK_EQ(s.synced_seqno, 5);
    uint64_t oldest_max = 0;
    CHECK(jset_oldest_sealed_max(&s, &oldest_max));
    CHECK_EQ(oldest_max, 3);
    /* everything before seqno 4 is flushed: journal 1 may go, once kept from 2 */
    CHECK_EQ(jset_keep_number(&s, 4), 2);
    CHECK_EQ(jset_keep_number(&s, 2), 1);
    CHECK_EQ(jset_keep_number(&s, UINT64_MAX), 2); /* never past the one being written */
    jset_delete_obsolete(&s);
    CHECK_EQ(journal_files(f, "/db/journals"), 2); /* the keep number is still 0 */
    jset_raise_keep(&s, 2);
    jset_delete_obsolete(&s);
    CHECK_EQ(journal_files(f, "/db/journals"), 1);
    CHECK_OK(jset_close(&s, 1, NULL));
    jset_free(&s);

    /* recovery replays what is kept and continues the file numbers */
    CHECK_OK(jset_init(&s, f, "/db", 0));
    jset_set_keep(&s, 2);
    replayed r = {0, 0};
    uint64_t next = 1, max_seqno = 0;
    CHECK_OK(jset_replay(&s, count_record, &r, 0, 0, &next, &max_seqno, NULL));
    CHECK_EQ(r.records, 1);
    CHECK_EQ(r.last, 5);
    CHECK_EQ(max_seqno, 5);
    CHECK_EQ(next, 3);
    jset_free(&s);
    fs_destroy(f);
}

TEST(journal_set_chain_gap)
{
    /* journal 2 starts at seqno 6 although journal 1 ended at 3: records
     * are missing. Journal 1 was sealed unsynced (format 4), so that is a
     * power loss's doing, and journal 2 goes, unless it holds a record
     * written after journal 1 was synced (the prior-synced flag; proof 1)
     * or a clean close's mark (proof 2): then replay says so instead of
     * leaving a hole. Without either the journals are closed as a crash
     * leaves them (no sync, no mark) */
    for (int proof = 0; proof < 3; proof++) {
        fs *f = fs_mem_new();
        CHECK_OK(fs_mkdir(f, "/db", NULL));
        CHECK_OK(fs_mkdir(f, "/db/journals", NULL));
        jset s;
        uint64_t grown;
        CHECK_OK(jset_init(&s, f, "/db", 0));
        CHECK_OK(jset_start(&s, 1, 1, NULL));
        CHECK_OK(jset_append(&s, 1, 3, "abc", 3, &grown, NULL));
        CHECK_OK(jset_seal(&s, 3, NULL));
        CHECK_OK(jset_start(&s, 2, 6, NULL));
        CHECK_OK(jset_append(&s, 6, 1, "f", 1, &grown, NULL)); /* no proof: journal 1 unsynced */
        if (proof == 1)
            CHECK_OK(jset_sync(&s, FS_SYNC_DATA, 6, NULL)); /* journal 1, then 2 */
        CHECK_OK(jset_append(&s, 7, 1, "g", 1, &grown, NULL));
        CHECK_OK(jset_close(&s, proof == 2, NULL));
        jset_free(&s);
        CHECK_OK(jset_init(&s, f, "/db", 0));
        replayed r = {0, 0};
        uint64_t next = 1, max_seqno = 0;
        tind_err err;
        err_clear(&err);
        if (proof) {
            CHECK_RC(jset_replay(&s, count_record, &r, 0, 0, &next, &max_seqno, &err), TIND_ECORRUPT);
            CHECK(strstr(err.msg, "00000002.jrn") != NULL);
            CHECK(strstr(err.msg, "records are missing") != NULL);
        } else {
            CHECK_OK(jset_replay(&s, count_record, &r, 0, 0, &next, &max_seqno, &err));
            CHECK_EQ(r.records, 1); /* journal 1's; nothing of journal 2 */
            CHECK_EQ(r.last, 3);
            CHECK_EQ(max_seqno, 3);
            CHECK_EQ(next, 3);
            CHECK_EQ(journal_files(f, "/db/journals"), 1);
        }
        CHECK_EQ(journal_files(f, "/db/journals"), proof ? 2 : 1);
        jset_free(&s);
        fs_destroy(f);
    }
}

TEST(journal_set_first_record_past_start)
{
    /* journal 2's header meets journal 1's end (4) but its first record is
     * seqno 6: damage in journal 2, not a lost end of journal 1 */
    fs *f = fs_mem_new();
    CHECK_OK(fs_mkdir(f, "/db", NULL));
    CHECK_OK(fs_mkdir(f, "/db/journals", NULL));
    jset s;
    uint64_t grown;
    CHECK_OK(jset_init(&s, f, "/db", 0));
    CHECK_OK(jset_start(&s, 1, 1, NULL));
    CHECK_OK(jset_append(&s, 1, 3, "abc", 3, &grown, NULL));
    CHECK_OK(jset_seal(&s, 3, NULL));
    CHECK_OK(jset_start(&s, 2, 4, NULL));
    CHECK_OK(jset_append(&s, 6, 1, "f", 1, &grown, NULL));
    CHECK_OK(jset_close(&s, 1, NULL));
    jset_free(&s);
    CHECK_OK(jset_init(&s, f, "/db", 0));
    replayed r = {0, 0};
    uint64_t next = 1, max_seqno = 0;
    tind_err err;
    err_clear(&err);
    CHECK_RC(jset_replay(&s, count_record, &r, 0, 0, &next, &max_seqno, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "00000002.jrn") != NULL && strstr(err.msg, "first record") != NULL);
    CHECK_EQ(journal_files(f, "/db/journals"), 2);
    jset_free(&s);
    fs_destroy(f);
}

int main(void)
{
    check_seed_init(20261203);
    RUN(filename_round_trip);
    RUN(stream_rules);
    RUN(journal_set_cycle);
    RUN(journal_set_chain_gap);
    RUN(journal_set_first_record_past_start);
    return 0;
}
