/*
 * text.h -- how the tind shell reads and shows bytes: the command-line
 * tokenizer (quotes and backslash escapes), the binary-safe display of keys
 * and values (text with \xHH escapes, or hex), and the escaping of the
 * export format.
 *
 * Three textual forms, each a total function of the bytes:
 *
 *   input (commands typed or scripted)
 *       words split on unquoted blanks; "double quotes" group and keep
 *       escapes; 'single quotes' group and are literal; escapes anywhere
 *       outside single quotes: \xHH \\ \" \' \t \n \r \0 and "\ " (a blank).
 *       A line whose first non-blank byte is '#' is a comment.
 *   display (what get / scan / dump print)
 *       bytes 0x20..0x7e as they are, except \ " ' shown as \\ \" \';
 *       every other byte as \xHH; the whole word in double quotes when it is
 *       empty or holds a blank. Display output parses back, as one word, to
 *       the same bytes. In hex mode: lowercase hex digits, "" when empty.
 *   export (one record per line, docs in man/tind.1 and the shell README)
 *       bytes 0x20..0x7e as they are, except \ as \x5c; every other byte
 *       (TAB, newline, CR, NUL, >= 0x7f ...) as \xHH; a '#' that would start
 *       a line as \x23.
 *
 * Pure functions over caller-owned buffers; no global state; thread-safe.
 */
#ifndef TIND_TOOLS_TEXT_H
#define TIND_TOOLS_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tind_internal.h"

/* One word of a command. `bytes` is NUL-terminated past len (the NUL is not
 * counted), so a word without NULs is also a C string. `literal` is set when
 * the word used a quote or an escape: such a word is never taken as an
 * --option. */
typedef struct sh_word {
    tbuf bytes;
    int literal;
} sh_word;

typedef struct sh_words {
    sh_word *v;
    size_t count;
    size_t cap;
} sh_words;

void sh_words_free(sh_words *w);
/* The word as a C string (its bytes; a word holding a NUL is cut there). */
static inline const char *sh_str(const sh_word *w) { return w->bytes.data ? (const char *)w->bytes.data : ""; }

/* Splits one line of input into words (appended to out). TIND_OK, or
 * TIND_EINVAL with a message in why (bad escape, unterminated quote) and out
 * unchanged; TIND_ENOMEM. */
int sh_split_line(const char *line, size_t len, sh_words *out, char *why, size_t why_len);

/* One word from the process's argv: escapes are decoded, quotes are plain
 * characters (the calling shell already removed its own quoting). */
int sh_parse_arg(const char *arg, sh_words *out, char *why, size_t why_len);

/* Display form of n bytes appended to out. hex: hex digits instead of text.
 * abbreviate: more than SH_ABBREV_LIMIT bytes are cut to the first
 * SH_ABBREV_SHOW, followed by "... (N bytes)". */
#define SH_ABBREV_LIMIT 256
#define SH_ABBREV_SHOW 64
int sh_show(tbuf *out, const uint8_t *p, size_t n, int hex, int abbreviate);
/* The same written to f. */
void sh_print(FILE *f, const uint8_t *p, size_t n, int hex, int abbreviate);

/* Export form of n bytes appended to out; line_start: a leading '#' is
 * escaped (the field starts a line). */
int exp_escape(tbuf *out, const uint8_t *p, size_t n, int line_start);
/* Decodes one export field [p, p+n) into out (appended). Returns TIND_OK, or
 * TIND_EINVAL with why set and *bad_at the offset of the offending byte. */
int exp_unescape(const char *p, size_t n, tbuf *out, size_t *bad_at, char *why, size_t why_len);

/* The machine output modes (tind --json / --csv), exact and never abbreviated.
 *
 * sh_json_string: a JSON string (quotes included) in which each byte b stands
 * for the code point U+00bb: 0x20..0x7e as they are, except " and \ as \" and
 * \\; every other byte as \u00HH. Any byte string is representable and a
 * reader gets the bytes back by encoding the decoded string as Latin-1 (in
 * Python: s.encode("latin-1")). UTF-8 text therefore shows as one escape per
 * byte, never as the characters: the price of being unambiguous.
 *
 * sh_csv_field: one RFC 4180 field: the bytes as they are, enclosed in double
 * quotes (a quote doubled) when they hold a comma, a quote, CR or LF. */
int sh_json_string(tbuf *out, const uint8_t *p, size_t n);
int sh_csv_field(tbuf *out, const uint8_t *p, size_t n);

#endif
