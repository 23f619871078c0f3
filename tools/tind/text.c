/*
 * text.c -- the shell's tokenizer, display form and export escaping
 * (text.h has the three forms). Pure functions; thread-safe.
 */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tind.h"

static const char hexdig[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void sh_words_free(sh_words *w)
{
    for (size_t i = 0; i < w->count; i++)
        tbuf_free(&w->v[i].bytes);
    free(w->v);
    w->v = NULL;
    w->count = w->cap = 0;
}

static sh_word *words_push(sh_words *w)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        sh_word *v = realloc(w->v, cap * sizeof *v);
        if (!v)
            return NULL;
        w->v = v;
        w->cap = cap;
    }
    sh_word *x = &w->v[w->count++];
    memset(x, 0, sizeof *x);
    return x;
}

/* Keeps the bytes NUL-terminated past len. */
static int word_finish(sh_word *x)
{
    if (tbuf_append_u8(&x->bytes, 0))
        return TIND_ENOMEM;
    x->bytes.len--;
    return TIND_OK;
}

/* Decodes the escape starting at s[*i] == '\\'; advances *i past it. */
static int decode_escape(const char *s, size_t len, size_t *i, tbuf *out, char *why, size_t why_len)
{
    size_t at = *i;
    if (at + 1 >= len) {
        snprintf(why, why_len, "a backslash ends the line (column %zu)", at + 1);
        return TIND_EINVAL;
    }
    char c = s[at + 1];
    int v;
    size_t used = 2;
    switch (c) {
    case '\\': v = '\\'; break;
    case '"':  v = '"'; break;
    case '\'': v = '\''; break;
    case ' ':  v = ' '; break;
    case 't':  v = '\t'; break;
    case 'n':  v = '\n'; break;
    case 'r':  v = '\r'; break;
    case '0':  v = 0; break;
    case 'x': {
        int h = at + 2 < len ? hexval((unsigned char)s[at + 2]) : -1;
        int l = at + 3 < len ? hexval((unsigned char)s[at + 3]) : -1;
        if (h < 0 || l < 0) {
            snprintf(why, why_len, "\\x needs two hex digits (column %zu)", at + 1);
            return TIND_EINVAL;
        }
        v = h * 16 + l;
        used = 4;
        break;
    }
    default:
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
            snprintf(why, why_len, "unknown escape \\%c (column %zu); use \\xHH for any byte", c, at + 1);
        else
            snprintf(why, why_len, "unknown escape \\x%02x (column %zu); use \\xHH for any byte",
                     (unsigned char)c, at + 1);
        return TIND_EINVAL;
    }
    *i = at + used;
    return tbuf_append_u8(out, (uint8_t)v) ? TIND_ENOMEM : TIND_OK;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int sh_split_line(const char *s, size_t len, sh_words *out, char *why, size_t why_len)
{
    size_t start_count = out->count;
    size_t i = 0;
    int rc = TIND_OK;
    while (i < len && is_blank(s[i]))
        i++;
    if (i < len && s[i] == '#')
        return TIND_OK;
    while (i < len) {
        while (i < len && is_blank(s[i]))
            i++;
        if (i >= len)
            break;
        sh_word *x = words_push(out);
        if (!x) {
            rc = TIND_ENOMEM;
            goto fail;
        }
        while (i < len && !is_blank(s[i])) {
            char c = s[i];
            if (c == '\\') {
                x->literal = 1;
                if ((rc = decode_escape(s, len, &i, &x->bytes, why, why_len)))
                    goto fail;
            } else if (c == '\'') {
                size_t open = i++;
                x->literal = 1;
                while (i < len && s[i] != '\'')
                    if (tbuf_append_u8(&x->bytes, (uint8_t)s[i++])) {
                        rc = TIND_ENOMEM;
                        goto fail;
                    }
                if (i >= len) {
                    snprintf(why, why_len, "unterminated ' quote (column %zu)", open + 1);
                    rc = TIND_EINVAL;
                    goto fail;
                }
                i++;
            } else if (c == '"') {
                size_t open = i++;
                x->literal = 1;
                while (i < len && s[i] != '"') {
                    if (s[i] == '\\') {
                        if ((rc = decode_escape(s, len, &i, &x->bytes, why, why_len)))
                            goto fail;
                    } else if (tbuf_append_u8(&x->bytes, (uint8_t)s[i++])) {
                        rc = TIND_ENOMEM;
                        goto fail;
                    }
                }
                if (i >= len) {
                    snprintf(why, why_len, "unterminated \" quote (column %zu)", open + 1);
                    rc = TIND_EINVAL;
                    goto fail;
                }
                i++;
            } else {
                if (tbuf_append_u8(&x->bytes, (uint8_t)c)) {
                    rc = TIND_ENOMEM;
                    goto fail;
                }
                i++;
            }
        }
        if ((rc = word_finish(x)))
            goto fail;
    }
    return TIND_OK;
fail:
    while (out->count > start_count)
        tbuf_free(&out->v[--out->count].bytes);
    if (rc == TIND_ENOMEM)
        snprintf(why, why_len, "out of memory");
    return rc;
}

int sh_parse_arg(const char *arg, sh_words *out, char *why, size_t why_len)
{
    size_t len = strlen(arg);
    sh_word *x = words_push(out);
    if (!x) {
        snprintf(why, why_len, "out of memory");
        return TIND_ENOMEM;
    }
    int rc = TIND_OK;
    for (size_t i = 0; i < len && !rc;) {
        if (arg[i] == '\\') {
            x->literal = 1;
            rc = decode_escape(arg, len, &i, &x->bytes, why, why_len);
        } else {
            rc = tbuf_append_u8(&x->bytes, (uint8_t)arg[i++]) ? TIND_ENOMEM : TIND_OK;
        }
    }
    if (!rc)
        rc = word_finish(x);
    if (rc) {
        tbuf_free(&x->bytes);
        out->count--;
        if (rc == TIND_ENOMEM)
            snprintf(why, why_len, "out of memory");
    }
    return rc;
}

int sh_show(tbuf *out, const uint8_t *p, size_t n, int hex, int abbreviate)
{
    size_t show = n;
    if (abbreviate && n > SH_ABBREV_LIMIT)
        show = SH_ABBREV_SHOW;
    int rc = TIND_OK;
    if (hex) {
        if (show == 0)
            rc |= tbuf_append(out, "\"\"", 2);
        for (size_t i = 0; i < show && !rc; i++) {
            char h[2] = {hexdig[p[i] >> 4], hexdig[p[i] & 15]};
            rc |= tbuf_append(out, h, 2);
        }
    } else {
        int quote = show == 0;
        for (size_t i = 0; i < show; i++)
            if (p[i] == ' ')
                quote = 1;
        if (quote)
            rc |= tbuf_append_u8(out, '"');
        for (size_t i = 0; i < show && !rc; i++) {
            uint8_t c = p[i];
            if (c == '\\' || c == '"' || c == '\'') {
                char e[2] = {'\\', (char)c};
                rc |= tbuf_append(out, e, 2);
            } else if (c >= 0x20 && c < 0x7f) {
                rc |= tbuf_append_u8(out, c);
            } else {
                char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};
                rc |= tbuf_append(out, e, 4);
            }
        }
        if (quote)
            rc |= tbuf_append_u8(out, '"');
    }
    if (!rc && show < n) {
        char tail[48];
        int k = snprintf(tail, sizeof tail, "... (%zu bytes)", n);
        rc |= tbuf_append(out, tail, (size_t)k);
    }
    return rc ? TIND_ENOMEM : TIND_OK;
}

void sh_print(FILE *f, const uint8_t *p, size_t n, int hex, int abbreviate)
{
    tbuf b = TBUF_INIT;
    if (sh_show(&b, p, n, hex, abbreviate) == TIND_OK && b.len)
        fwrite(b.data, 1, b.len, f);
    else if (b.len == 0 && n)
        fputs("(out of memory)", f);
    tbuf_free(&b);
}

int exp_escape(tbuf *out, const uint8_t *p, size_t n, int line_start)
{
    if (tbuf_reserve(out, n + 8))
        return TIND_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        int plain = c >= 0x20 && c < 0x7f && c != '\\' && !(c == '#' && i == 0 && line_start);
        if (plain) {
            if (tbuf_append_u8(out, c))
                return TIND_ENOMEM;
        } else {
            char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};
            if (tbuf_append(out, e, 4))
                return TIND_ENOMEM;
        }
    }
    return TIND_OK;
}

int exp_unescape(const char *p, size_t n, tbuf *out, size_t *bad_at, char *why, size_t why_len)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)p[i];
        if (c == '\\') {
            int h = i + 2 < n && p[i + 1] == 'x' ? hexval((unsigned char)p[i + 2]) : -1;
            int l = h >= 0 && i + 3 < n ? hexval((unsigned char)p[i + 3]) : -1;
            if (l < 0) {
                *bad_at = i;
                snprintf(why, why_len, "a backslash must start \\xHH");
                return TIND_EINVAL;
            }
            if (tbuf_append_u8(out, (uint8_t)(h * 16 + l)))
                return TIND_ENOMEM;
            i += 4;
        } else if (c < 0x20 || c == 0x7f) {
            *bad_at = i;
            snprintf(why, why_len, "raw control byte 0x%02x (must be written \\x%02x)", c, c);
            return TIND_EINVAL;
        } else {
            if (tbuf_append_u8(out, c))
                return TIND_ENOMEM;
            i++;
        }
    }
    return TIND_OK;
}

int sh_json_string(tbuf *out, const uint8_t *p, size_t n)
{
    if (tbuf_reserve(out, n + 2) || tbuf_append_u8(out, '"'))
        return TIND_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        int rc;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = tbuf_append(out, e, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            rc = tbuf_append_u8(out, c);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
            rc = tbuf_append(out, e, 6);
        }
        if (rc)
            return TIND_ENOMEM;
    }
    return tbuf_append_u8(out, '"') ? TIND_ENOMEM : TIND_OK;
}

int sh_csv_field(tbuf *out, const uint8_t *p, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n')
            quote = 1;
    if (!quote)
        return n && tbuf_append(out, p, n) ? TIND_ENOMEM : TIND_OK;
    if (tbuf_reserve(out, n + 2) || tbuf_append_u8(out, '"'))
        return TIND_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((p[i] == '"' && tbuf_append_u8(out, '"')) || tbuf_append_u8(out, p[i]))
            return TIND_ENOMEM;
    return tbuf_append_u8(out, '"') ? TIND_ENOMEM : TIND_OK;
}
