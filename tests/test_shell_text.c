/*
 * test_shell_text.c -- the tind shell's text forms (tools/tind/text.c):
 * the display form parses back to the same bytes, the export escaping
 * round-trips and never emits a raw control byte or a line break, the
 * tokenizer's quotes and escapes, and its error reports. Randomized from
 * the seed (TIND_SEED) over every byte value.
 *
 * text.c is compiled into this test directly: it belongs to the tool, not
 * to the library.
 */
#include "check.h"

#include "../tools/tind/text.c"

static uint64_t next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Random bytes biased towards the troublesome ones. */
static size_t random_bytes(uint64_t *s, uint8_t *out, size_t max)
{
    static const uint8_t special[] = {0, '\n', '\r', '\t', ' ', '\\', '"', '\'', '#', 'x', 0x7f, 0x80, 0xff};
    size_t n = (size_t)(next(s) % (max + 1));
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next(s);
        out[i] = (r & 3) == 0 ? special[(r >> 8) % sizeof special] : (uint8_t)(r >> 16);
    }
    return n;
}

TEST(display_parses_back)
{
    uint64_t s = check_seed;
    uint8_t in[300];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = random_bytes(&s, in, iter % 10 == 0 ? sizeof in : 12);
        for (int hex = 0; hex < 2; hex++) {
            tbuf shown = TBUF_INIT;
            CHECK_OK(sh_show(&shown, in, n, hex, 0));
            for (size_t i = 0; i < shown.len; i++)
                CHECK(shown.data[i] >= 0x20 && shown.data[i] < 0x7f);
            if (!hex) {
                /* "cmd <shown>" is two words and the second is the bytes */
                tbuf line = TBUF_INIT;
                CHECK_OK(tbuf_append(&line, "get ", 4));
                CHECK_OK(tbuf_append(&line, shown.data, shown.len));
                sh_words w = {0};
                char why[160];
                CHECK_OK(sh_split_line((const char *)line.data, line.len, &w, why, sizeof why));
                CHECK_EQ(w.count, 2);
                CHECK_MEM(w.v[1].bytes.data, w.v[1].bytes.len, in, n);
                CHECK_EQ(w.v[1].bytes.data[n], 0);   /* NUL-terminated past len */
                sh_words_free(&w);
                tbuf_free(&line);
                /* and the same text as one argv word */
                if (shown.len && shown.data[0] != '"') {
                    CHECK_OK(tbuf_append_u8(&shown, 0));
                    CHECK_OK(sh_parse_arg((const char *)shown.data, &w, why, sizeof why));
                    CHECK_EQ(w.count, 1);
                    CHECK_MEM(w.v[0].bytes.data, w.v[0].bytes.len, in, n);
                    sh_words_free(&w);
                }
            } else {
                CHECK_EQ(shown.len, n ? 2 * n : 2);
            }
            tbuf_free(&shown);
        }
    }
}

TEST(export_round_trip)
{
    uint64_t s = check_seed ^ 0x1234;
    uint8_t in[300];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = random_bytes(&s, in, iter % 10 == 0 ? sizeof in : 12);
        int line_start = iter & 1;
        tbuf e = TBUF_INIT, back = TBUF_INIT;
        CHECK_OK(exp_escape(&e, in, n, line_start));
        for (size_t i = 0; i < e.len; i++) {
            CHECK(e.data[i] >= 0x20 && e.data[i] < 0x7f);   /* no TAB, LF, CR, NUL */
        }
        if (line_start && e.len)
            CHECK(e.data[0] != '#');
        size_t bad = 0;
        char why[128];
        CHECK_OK(exp_unescape((const char *)e.data, e.len, &back, &bad, why, sizeof why));
        CHECK_MEM(back.data, back.len, in, n);
        tbuf_free(&e);
        tbuf_free(&back);
    }
    /* the documented spelling */
    tbuf e = TBUF_INIT;
    CHECK_OK(exp_escape(&e, (const uint8_t *)"#a\\b\t\n\x00\xff~", 9, 1));
    CHECK_MEM(e.data, e.len, "\\x23a\\x5cb\\x09\\x0a\\x00\\xff~", 27);
    tbuf_free(&e);
}

TEST(export_rejects)
{
    static const char *bad[] = {"a\\", "a\\x4", "\\y41", "a\\xg0", "tab\there", "cr\r", "nul\0x"};
    static const size_t badlen[] = {2, 4, 4, 5, 8, 3, 5};
    static const size_t at[] = {1, 1, 0, 1, 3, 2, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tbuf out = TBUF_INIT;
        size_t where = 99;
        char why[128];
        CHECK_RC(exp_unescape(bad[i], badlen[i], &out, &where, why, sizeof why), TIND_EINVAL);
        CHECK_EQ(where, at[i]);
        tbuf_free(&out);
    }
    /* upper-case hex and raw UTF-8 are taken */
    tbuf out = TBUF_INIT;
    size_t where;
    char why[128];
    CHECK_OK(exp_unescape("\\x4A\xc3\xa9", 6, &out, &where, why, sizeof why));
    CHECK_MEM(out.data, out.len, "J\xc3\xa9", 3);
    tbuf_free(&out);
}

TEST(tokenizer)
{
    const char *line = "  put ks \"a b\\x00\"c 'x\\y z' --hex \\\"q\\  \"\" # not a comment here\r\n";
    sh_words w = {0};
    char why[160];
    CHECK_OK(sh_split_line(line, strlen(line), &w, why, sizeof why));
    CHECK_EQ(w.count, 12);
    CHECK_MEM(w.v[0].bytes.data, w.v[0].bytes.len, "put", 3);
    CHECK(!w.v[0].literal);
    CHECK_MEM(w.v[2].bytes.data, w.v[2].bytes.len, "a b\0c", 5);
    CHECK(w.v[2].literal);
    CHECK_MEM(w.v[3].bytes.data, w.v[3].bytes.len, "x\\y z", 5);
    CHECK_MEM(w.v[4].bytes.data, w.v[4].bytes.len, "--hex", 5);
    CHECK(!w.v[4].literal);
    CHECK_MEM(w.v[5].bytes.data, w.v[5].bytes.len, "\"q ", 3);
    CHECK_EQ(w.v[6].bytes.len, 0);
    CHECK(w.v[6].literal);
    CHECK_MEM(w.v[7].bytes.data, w.v[7].bytes.len, "#", 1);
    sh_words_free(&w);

    CHECK_OK(sh_split_line("   # comment \"unterminated", 25, &w, why, sizeof why));
    CHECK_EQ(w.count, 0);
    CHECK_OK(sh_split_line("", 0, &w, why, sizeof why));
    CHECK_EQ(w.count, 0);

    static const char *bad[] = {"put \"open", "put 'open", "put a\\", "put \\x4", "put \\q", "get \"\\xZZ\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(sh_split_line(bad[i], strlen(bad[i]), &w, why, sizeof why), TIND_EINVAL);
        CHECK_EQ(w.count, 0);   /* nothing left behind */
        CHECK(why[0] != 0);
    }
    /* argv words: escapes decoded, quotes are plain characters */
    CHECK_OK(sh_parse_arg("a\\x00\"b'", &w, why, sizeof why));
    CHECK_MEM(w.v[0].bytes.data, w.v[0].bytes.len, "a\0\"b'", 5);
    CHECK(w.v[0].literal);
    CHECK_OK(sh_parse_arg("--full", &w, why, sizeof why));
    CHECK(!w.v[1].literal);
    CHECK_RC(sh_parse_arg("bad\\", &w, why, sizeof why), TIND_EINVAL);
    CHECK_EQ(w.count, 2);
    sh_words_free(&w);
}

TEST(abbreviation)
{
    uint8_t v[300];
    memset(v, 'a', sizeof v);
    tbuf b = TBUF_INIT;
    CHECK_OK(sh_show(&b, v, SH_ABBREV_LIMIT, 0, 1));
    CHECK_EQ(b.len, SH_ABBREV_LIMIT);   /* at the limit: whole */
    tbuf_reset(&b);
    CHECK_OK(sh_show(&b, v, 300, 0, 1));
    CHECK_EQ(b.len, SH_ABBREV_SHOW + strlen("... (300 bytes)"));
    CHECK(memcmp(b.data + SH_ABBREV_SHOW, "... (300 bytes)", 15) == 0);
    tbuf_reset(&b);
    CHECK_OK(sh_show(&b, v, 300, 0, 0));
    CHECK_EQ(b.len, 300);
    tbuf_free(&b);
}

/* The test's own JSON string reader: the escapes RFC 8259 allows, each code
 * point <= U+00FF taken as one byte (what sh_json_string promises). Returns
 * the length of the string read, 0 when it is not one well-formed string. */
static size_t json_read(const uint8_t *p, size_t n, tbuf *out)
{
    if (n < 2 || p[0] != '"')
        return 0;
    size_t i = 1;
    while (i < n && p[i] != '"') {
        if (p[i] < 0x20 || p[i] >= 0x7f)
            return 0;   /* the writer keeps its output 7-bit and control-free */
        if (p[i] != '\\') {
            tbuf_append_u8(out, p[i++]);
            continue;
        }
        if (i + 1 >= n)
            return 0;
        uint8_t e = p[i + 1];
        if (e == '"' || e == '\\' || e == '/') {
            tbuf_append_u8(out, e);
            i += 2;
        } else if (e == 'u' && i + 6 <= n) {
            unsigned cp = 0;
            for (size_t k = i + 2; k < i + 6; k++) {
                int d = (p[k] >= '0' && p[k] <= '9') ? p[k] - '0' : (p[k] >= 'a' && p[k] <= 'f') ? p[k] - 'a' + 10 : -1;
                if (d < 0)
                    return 0;
                cp = cp * 16 + (unsigned)d;
            }
            if (cp > 0xff)
                return 0;
            tbuf_append_u8(out, (uint8_t)cp);
            i += 6;
        } else {
            return 0;
        }
    }
    return i < n ? i + 1 : 0;
}

/* RFC 4180 field reader: quoted or not, up to a comma or the end. */
static size_t csv_read(const uint8_t *p, size_t n, tbuf *out)
{
    if (n == 0 || p[0] != '"') {
        size_t i = 0;
        for (; i < n && p[i] != ','; i++) {
            if (p[i] == '"' || p[i] == '\r' || p[i] == '\n')
                return (size_t)-1;   /* these bytes require quoting */
            tbuf_append_u8(out, p[i]);
        }
        return i;
    }
    size_t i = 1;
    for (;;) {
        if (i >= n)
            return (size_t)-1;
        if (p[i] == '"') {
            if (i + 1 < n && p[i + 1] == '"') {
                tbuf_append_u8(out, '"');
                i += 2;
                continue;
            }
            return i + 1;
        }
        tbuf_append_u8(out, p[i++]);
    }
}

TEST(json_and_csv_round_trip)
{
    uint64_t s = check_seed;
    uint8_t in[300];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = random_bytes(&s, in, iter % 10 == 0 ? sizeof in : 12);
        tbuf j = TBUF_INIT, c = TBUF_INIT, back = TBUF_INIT;
        CHECK_OK(sh_json_string(&j, in, n));
        CHECK_EQ(json_read(j.data, j.len, &back), j.len);
        CHECK_MEM(back.data, back.len, in, n);
        tbuf_reset(&back);
        CHECK_OK(sh_csv_field(&c, in, n));
        CHECK_OK(tbuf_append(&c, ",x", 2));   /* the field ends where the next begins */
        CHECK_EQ(csv_read(c.data, c.len, &back), c.len - 2);
        CHECK_MEM(back.data, back.len, in, n);
        tbuf_free(&j);
        tbuf_free(&c);
        tbuf_free(&back);
    }
    tbuf b = TBUF_INIT;
    CHECK_OK(sh_json_string(&b, (const uint8_t *)"a\"\\\n\0\xc3\xa9", 7));
    const char *want = "\"a\\\"\\\\\\u000a\\u0000\\u00c3\\u00a9\"";
    CHECK_MEM(b.data, b.len, want, strlen(want));
    tbuf_reset(&b);
    CHECK_OK(sh_csv_field(&b, (const uint8_t *)"plain text", 10));
    CHECK_MEM(b.data, b.len, "plain text", 10);
    tbuf_reset(&b);
    CHECK_OK(sh_csv_field(&b, (const uint8_t *)"say \"hi\", ok", 12));
    want = "\"say \"\"hi\"\", ok\"";
    CHECK_MEM(b.data, b.len, want, strlen(want));
    tbuf_free(&b);
}

int main(void)
{
    check_seed_init(20240611);
    RUN(display_parses_back);
    RUN(export_round_trip);
    RUN(export_rejects);
    RUN(tokenizer);
    RUN(abbreviation);
    RUN(json_and_csv_round_trip);
    return 0;
}
