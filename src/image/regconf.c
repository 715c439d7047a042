#include "image/regconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strv.h"
#include "image/reference.h"

/* ---- A small strict TOML parser ------------------------------------------
 *
 * It builds a tree of values; the registries.conf interpretation below walks
 * it. Limits keep hostile or broken files from costing much: nesting depth,
 * keys per table and items per array are bounded. */

#define TOML_MAX_DEPTH 32
#define TOML_MAX_KEYS 1024
#define TOML_MAX_ITEMS 4096
#define TOML_MAX_KEY_PARTS 32

enum tkind { T_STRING, T_BOOL, T_INT, T_FLOAT, T_DATETIME, T_ARRAY, T_TABLE };

typedef struct tval tval;
struct tval {
    enum tkind kind;
    int line;
    char *str; /* strings; the raw text of numbers and dates */
    bool b;
    size_t n;
    tval **items; /* array items, table values */
    char **keys;  /* table keys, parallel to items */
    bool aot;     /* an array made by [[header]] */
    bool defined; /* a table opened by a [header] */
    bool dotted;  /* a table made by a dotted key */
    bool sealed;  /* inline table or array value: never extended */
};

static const char *kind_name(enum tkind k)
{
    switch (k) {
    case T_STRING:
        return "a string";
    case T_BOOL:
        return "a boolean";
    case T_INT:
        return "an integer";
    case T_FLOAT:
        return "a float";
    case T_DATETIME:
        return "a date";
    case T_ARRAY:
        return "an array";
    case T_TABLE:
        return "a table";
    }
    return "a value";
}

static void tval_free(tval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        tval_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void tval_freep(tval **v)
{
    tval_free(*v);
    *v = NULL;
}
#define _cleanup_tval_ _cleanup_(tval_freep)

static tval *tval_new(enum tkind k, int line)
{
    tval *v = rk_xcalloc(1, sizeof(*v));
    v->kind = k;
    v->line = line;
    return v;
}

static tval *table_get(const tval *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->keys[i], key))
            return t->items[i];
    return NULL;
}

typedef struct tparser {
    const char *p, *end;
    int line;
    const char *origin;
    rk_error **err;
    tval *root, *cur;
} tparser;

__attribute__((format(printf, 2, 3))) static int perr(tparser *t,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = rk_xvasprintf(fmt, ap);
    va_end(ap);
    rk_error_set(t->err, 0, "%s:%d: %s", t->origin, t->line, m);
    free(m);
    return -1;
}

/* Keys and strings in messages: printable, one line, bounded. */

static int table_add(tparser *t, tval *tbl, char *key, tval *v)
{
    if (tbl->n >= TOML_MAX_KEYS) {
        free(key);
        tval_free(v);
        return perr(t, "too many keys in one table");
    }
    tbl->keys = rk_xrealloc(tbl->keys, (tbl->n + 1) * sizeof(char *));
    tbl->items = rk_xrealloc(tbl->items, (tbl->n + 1) * sizeof(tval *));
    tbl->keys[tbl->n] = key;
    tbl->items[tbl->n] = v;
    tbl->n++;
    return 0;
}

static int array_add(tparser *t, tval *arr, tval *v)
{
    if (arr->n >= TOML_MAX_ITEMS) {
        tval_free(v);
        return perr(t, "too many items in one array");
    }
    arr->items = rk_xrealloc(arr->items, (arr->n + 1) * sizeof(tval *));
    arr->items[arr->n++] = v;
    return 0;
}

static bool at_end(const tparser *t)
{
    return t->p >= t->end;
}
static char peek(const tparser *t)
{
    return at_end(t) ? 0 : *t->p;
}
static char peek_at(const tparser *t, size_t off)
{
    return t->p + off < t->end ? t->p[off] : 0;
}

static void skip_ws(tparser *t)
{
    while (!at_end(t) && (*t->p == ' ' || *t->p == '\t'))
        t->p++;
}

static bool at_newline(const tparser *t)
{
    return peek(t) == '\n' || (peek(t) == '\r' && peek_at(t, 1) == '\n');
}

static void eat_newline(tparser *t)
{
    t->p += (*t->p == '\r') ? 2 : 1;
    t->line++;
}

static int skip_comment(tparser *t)
{
    /* at '#': to the end of the line; control characters are not allowed */
    t->p++;
    while (!at_end(t) && !at_newline(t)) {
        unsigned char c = (unsigned char)*t->p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return perr(t, "control character in a comment");
        t->p++;
    }
    return 0;
}

/* Whitespace, newlines and comments, as allowed inside arrays. */
static int skip_ws_nl(tparser *t)
{
    for (;;) {
        skip_ws(t);
        if (peek(t) == '#') {
            if (skip_comment(t) < 0)
                return -1;
        } else if (at_newline(t)) {
            eat_newline(t);
        } else {
            return 0;
        }
    }
}

/* After a key/value pair or a header: blanks, a comment, then the line end. */
static int expect_eol(tparser *t)
{
    skip_ws(t);
    if (peek(t) == '#' && skip_comment(t) < 0)
        return -1;
    if (at_end(t))
        return 0;
    if (!at_newline(t))
        return perr(t, "expected the end of the line");
    eat_newline(t);
    return 0;
}

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = rk_xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_addc(sbuf *b, char c)
{
    sb_add(b, &c, 1);
}


static void sb_add_utf8(sbuf *b, uint32_t cp)
{
    char o[4];
    if (cp < 0x80) {
        o[0] = (char)cp;
        sb_add(b, o, 1);
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        sb_add(b, o, 2);
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        sb_add(b, o, 3);
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        sb_add(b, o, 4);
    }
}

/* at '\\' in a basic string */
static int parse_escape(tparser *t, sbuf *b)
{
    t->p++;
    char c = peek(t);
    int digits = 0;
    switch (c) {
    case 'b':
        sb_addc(b, '\b');
        break;
    case 't':
        sb_addc(b, '\t');
        break;
    case 'n':
        sb_addc(b, '\n');
        break;
    case 'f':
        sb_addc(b, '\f');
        break;
    case 'r':
        sb_addc(b, '\r');
        break;
    case 'e':
        sb_addc(b, 0x1b);
        break;
    case '"':
        sb_addc(b, '"');
        break;
    case '\\':
        sb_addc(b, '\\');
        break;
    case 'u':
        digits = 4;
        break;
    case 'U':
        digits = 8;
        break;
    default:
        return perr(t, "invalid escape sequence in a string");
    }
    t->p++;
    if (digits) {
        uint32_t cp = 0;
        for (int i = 0; i < digits; i++) {
            int h = rk_hexval(peek(t));
            if (h < 0)
                return perr(t, "invalid \\u escape in a string");
            cp = cp * 16 + (uint32_t)h;
            t->p++;
        }
        if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return perr(t, "invalid unicode code point in a string");
        sb_add_utf8(b, cp);
    }
    return 0;
}

static bool bad_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int parse_basic_string(tparser *t, char **ret)
{
    sbuf b = {0};
    t->p++; /* opening quote */
    for (;;) {
        if (at_end(t) || at_newline(t) || peek(t) == '\n') {
            free(b.s);
            return perr(t, "unterminated string");
        }
        char c = *t->p;
        if (c == '"') {
            t->p++;
            break;
        }
        if (c == '\\') {
            if (parse_escape(t, &b) < 0) {
                free(b.s);
                return -1;
            }
            continue;
        }
        if (bad_ctl((unsigned char)c)) {
            free(b.s);
            return perr(t, "control character in a string");
        }
        sb_addc(&b, c);
        t->p++;
    }
    if (!b.s)
        b.s = rk_xstrdup("");
    *ret = b.s;
    return 0;
}

static int parse_literal_string(tparser *t, char **ret)
{
    t->p++;
    const char *start = t->p;
    for (;;) {
        if (at_end(t) || *t->p == '\n' || *t->p == '\r')
            return perr(t, "unterminated string");
        if (*t->p == '\'')
            break;
        if (bad_ctl((unsigned char)*t->p))
            return perr(t, "control character in a string");
        t->p++;
    }
    *ret = rk_xstrndup(start, (size_t)(t->p - start));
    t->p++;
    return 0;
}

/* """...""" and '''...''': a newline right after the opening delimiter is
 * dropped; in basic ones a backslash at the end of a line joins lines. */
static int parse_multiline_string(tparser *t, char q, char **ret)
{
    sbuf b = {0};
    t->p += 3;
    if (at_newline(t))
        eat_newline(t);
    for (;;) {
        if (at_end(t)) {
            free(b.s);
            return perr(t, "unterminated multi-line string");
        }
        char c = *t->p;
        if (c == q && peek_at(t, 1) == q && peek_at(t, 2) == q) {
            size_t run = 0;
            while (peek_at(t, run) == q)
                run++;
            if (run > 5) {
                free(b.s);
                return perr(t, "too many quotes at the end of a string");
            }
            for (size_t i = 3; i < run; i++)
                sb_addc(&b, q);
            t->p += run;
            break;
        }
        if (at_newline(t)) {
            sb_addc(&b, '\n');
            eat_newline(t);
            continue;
        }
        if (c == '\\' && q == '"') {
            /* line-ending backslash: only blanks up to the newline */
            const char *s = t->p + 1;
            while (s < t->end && (*s == ' ' || *s == '\t'))
                s++;
            if (s < t->end && (*s == '\n' || (*s == '\r' && s + 1 < t->end &&
                                              s[1] == '\n'))) {
                t->p = s;
                for (;;) {
                    skip_ws(t);
                    if (!at_newline(t))
                        break;
                    eat_newline(t);
                }
                continue;
            }
            if (parse_escape(t, &b) < 0) {
                free(b.s);
                return -1;
            }
            continue;
        }
        if (bad_ctl((unsigned char)c)) {
            free(b.s);
            return perr(t, "control character in a string");
        }
        sb_addc(&b, c);
        t->p++;
    }
    if (!b.s)
        b.s = rk_xstrdup("");
    *ret = b.s;
    return 0;
}

static bool is_bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* key ( "." key )* with quoted or bare parts */
static int parse_key(tparser *t, char ***ret)
{
    _cleanup_strv_ char **parts = rk_xcalloc(1, sizeof(char *));
    size_t n = 0;
    for (;;) {
        skip_ws(t);
        char *part = NULL;
        char c = peek(t);
        if (c == '"') {
            if (peek_at(t, 1) == '"' && peek_at(t, 2) == '"')
                return perr(t, "a multi-line string cannot be a key");
            if (parse_basic_string(t, &part) < 0)
                return -1;
        } else if (c == '\'') {
            if (peek_at(t, 1) == '\'' && peek_at(t, 2) == '\'')
                return perr(t, "a multi-line string cannot be a key");
            if (parse_literal_string(t, &part) < 0)
                return -1;
        } else if (is_bare_key_char(c)) {
            const char *s = t->p;
            while (!at_end(t) && is_bare_key_char(*t->p))
                t->p++;
            part = rk_xstrndup(s, (size_t)(t->p - s));
        } else {
            return perr(t, "expected a key");
        }
        if (++n > TOML_MAX_KEY_PARTS) {
            free(part);
            return perr(t, "too many dotted key parts");
        }
        rk_strv_push(&parts, part);
        skip_ws(t);
        if (peek(t) != '.')
            break;
        t->p++;
    }
    *ret = TAKE_PTR(parts);
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* [0-9](_?[0-9])* in the given base; returns the end or NULL */
static const char *scan_digits(const char *s, const char *e, int base)
{
    if (s >= e || rk_hexval(*s) < 0 || rk_hexval(*s) >= base)
        return NULL;
    s++;
    while (s < e) {
        if (*s == '_') {
            s++;
            if (s >= e || rk_hexval(*s) < 0 || rk_hexval(*s) >= base)
                return NULL;
        } else if (rk_hexval(*s) < 0 || rk_hexval(*s) >= base) {
            break;
        }
        s++;
    }
    return s;
}

/* Classify a bare value text (number or date); false when it is neither. */
static bool classify_bare(const char *s, size_t n, enum tkind *kind)
{
    const char *e = s + n, *p = s;
    if (n >= 3 && (!strncmp(s, "inf", 3) || !strncmp(s, "nan", 3)) && n == 3) {
        *kind = T_FLOAT;
        return true;
    }
    if (n == 4 && (s[0] == '+' || s[0] == '-') &&
        (!strncmp(s + 1, "inf", 3) || !strncmp(s + 1, "nan", 3))) {
        *kind = T_FLOAT;
        return true;
    }
    /* dates and times: 1979-05-27, 07:32:00, 1979-05-27T07:32:00Z ... */
    if ((n >= 10 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) &&
         is_digit(s[3]) && s[4] == '-') ||
        (n >= 8 && is_digit(s[0]) && is_digit(s[1]) && s[2] == ':')) {
        for (size_t i = 0; i < n; i++)
            if (!(is_digit(s[i]) || strchr(":.-+TtZz ", s[i])))
                return false;
        *kind = T_DATETIME;
        return true;
    }
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
        int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
        const char *q = scan_digits(s + 2, e, base);
        if (q == e) {
            *kind = T_INT;
            return true;
        }
        return false;
    }
    if (p < e && (*p == '+' || *p == '-'))
        p++;
    const char *q = scan_digits(p, e, 10);
    if (!q)
        return false;
    if (*p == '0' && q - p > 1)
        return false; /* leading zero */
    if (q == e) {
        *kind = T_INT;
        return true;
    }
    if (*q == '.') {
        q = scan_digits(q + 1, e, 10);
        if (!q)
            return false;
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < e && (*q == '+' || *q == '-'))
            q++;
        q = scan_digits(q, e, 10);
        if (!q)
            return false;
    }
    if (q != e)
        return false;
    *kind = T_FLOAT;
    return true;
}

static int parse_value(tparser *t, int depth, tval **ret);

static int assign_dotted(tparser *t, tval *tbl, char **parts, tval *v)
{
    size_t n = rk_strv_len(parts);
    for (size_t i = 0; i + 1 < n; i++) {
        tval *sub = table_get(tbl, parts[i]);
        if (!sub) {
            sub = tval_new(T_TABLE, t->line);
            sub->dotted = true;
            if (table_add(t, tbl, rk_xstrdup(parts[i]), sub) < 0) {
                tval_free(v);
                return -1;
            }
        } else if (sub->kind != T_TABLE || sub->sealed || !sub->dotted) {
            _cleanup_free_ char *q = rk_quote(parts[i]);
            tval_free(v);
            return perr(t, "key \"%s\" is already defined", q);
        }
        tbl = sub;
    }
    if (table_get(tbl, parts[n - 1])) {
        _cleanup_free_ char *q = rk_quote(parts[n - 1]);
        tval_free(v);
        return perr(t, "duplicate key \"%s\"", q);
    }
    return table_add(t, tbl, rk_xstrdup(parts[n - 1]), v);
}

static void seal(tval *v)
{
    v->sealed = true;
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->kind == T_TABLE || v->items[i]->kind == T_ARRAY)
            seal(v->items[i]);
}

static int parse_inline_table(tparser *t, int depth, tval **ret)
{
    _cleanup_tval_ tval *tbl = tval_new(T_TABLE, t->line);
    t->p++;
    skip_ws(t);
    if (peek(t) == '}') {
        t->p++;
        tbl->sealed = true;
        *ret = TAKE_PTR(tbl);
        return 0;
    }
    for (;;) {
        _cleanup_strv_ char **key = NULL;
        if (parse_key(t, &key) < 0)
            return -1;
        if (peek(t) != '=')
            return perr(t, "expected '=' after a key");
        t->p++;
        skip_ws(t);
        tval *v = NULL;
        if (parse_value(t, depth + 1, &v) < 0)
            return -1;
        if (assign_dotted(t, tbl, key, v) < 0)
            return -1;
        skip_ws(t);
        if (peek(t) == ',') {
            t->p++;
            continue;
        }
        if (peek(t) == '}') {
            t->p++;
            break;
        }
        return perr(t, "expected ',' or '}' in an inline table");
    }
    seal(tbl);
    *ret = TAKE_PTR(tbl);
    return 0;
}

static int parse_array(tparser *t, int depth, tval **ret)
{
    _cleanup_tval_ tval *arr = tval_new(T_ARRAY, t->line);
    arr->sealed = true;
    t->p++;
    for (;;) {
        if (skip_ws_nl(t) < 0)
            return -1;
        if (peek(t) == ']') {
            t->p++;
            break;
        }
        tval *v = NULL;
        if (parse_value(t, depth + 1, &v) < 0)
            return -1;
        if (array_add(t, arr, v) < 0)
            return -1;
        if (skip_ws_nl(t) < 0)
            return -1;
        if (peek(t) == ',') {
            t->p++;
            continue;
        }
        if (peek(t) == ']') {
            t->p++;
            break;
        }
        if (at_end(t))
            return perr(t, "unterminated array");
        return perr(t, "expected ',' or ']' in an array");
    }
    *ret = TAKE_PTR(arr);
    return 0;
}

static int parse_value(tparser *t, int depth, tval **ret)
{
    if (depth > TOML_MAX_DEPTH)
        return perr(t, "values nested too deeply");
    char c = peek(t);
    int line = t->line;
    char *s = NULL;
    if (c == '"' || c == '\'') {
        int r;
        if (peek_at(t, 1) == c && peek_at(t, 2) == c)
            r = parse_multiline_string(t, c, &s);
        else if (c == '"')
            r = parse_basic_string(t, &s);
        else
            r = parse_literal_string(t, &s);
        if (r < 0)
            return -1;
        tval *v = tval_new(T_STRING, line);
        v->str = s;
        *ret = v;
        return 0;
    }
    if (c == '[')
        return parse_array(t, depth, ret);
    if (c == '{')
        return parse_inline_table(t, depth, ret);

    /* booleans, numbers, dates: a run of bare characters */
    const char *start = t->p;
    while (!at_end(t) &&
           (is_bare_key_char(*t->p) || strchr("+.:", *t->p) != NULL))
        t->p++;
    /* "1979-05-27 07:32:00": a date and a time separated by one space */
    if (t->p - start == 10 && peek(t) == ' ' && is_digit(peek_at(t, 1)) &&
        is_digit(peek_at(t, 2)) && peek_at(t, 3) == ':') {
        t->p++;
        while (!at_end(t) &&
               (is_bare_key_char(*t->p) || strchr("+.:", *t->p) != NULL))
            t->p++;
    }
    size_t n = (size_t)(t->p - start);
    if (n == 0)
        return perr(t, "expected a value");
    tval *v;
    if (n == 4 && !memcmp(start, "true", 4)) {
        v = tval_new(T_BOOL, line);
        v->b = true;
    } else if (n == 5 && !memcmp(start, "false", 5)) {
        v = tval_new(T_BOOL, line);
        v->b = false;
    } else {
        enum tkind k;
        if (!classify_bare(start, n, &k)) {
            _cleanup_free_ char *raw = rk_xstrndup(start, n);
            _cleanup_free_ char *q = rk_quote(raw);
            return perr(t, "invalid value \"%s\" (strings need quotes)", q);
        }
        v = tval_new(k, line);
        v->str = rk_xstrndup(start, n);
    }
    *ret = v;
    return 0;
}

static int parse_header(tparser *t)
{
    bool aot = peek_at(t, 1) == '[';
    t->p += aot ? 2 : 1;
    _cleanup_strv_ char **key = NULL;
    if (parse_key(t, &key) < 0)
        return -1;
    if (peek(t) != ']' || (aot && peek_at(t, 1) != ']'))
        return perr(t, aot ? "expected ']]' after a table name"
                           : "expected ']' after a table name");
    t->p += aot ? 2 : 1;

    size_t n = rk_strv_len(key);
    tval *tbl = t->root;
    for (size_t i = 0; i + 1 < n; i++) {
        tval *sub = table_get(tbl, key[i]);
        if (!sub) {
            sub = tval_new(T_TABLE, t->line);
            if (table_add(t, tbl, rk_xstrdup(key[i]), sub) < 0)
                return -1;
        }
        if (sub->kind == T_ARRAY && sub->aot && sub->n > 0)
            sub = sub->items[sub->n - 1];
        if (sub->kind != T_TABLE || sub->sealed) {
            _cleanup_free_ char *q = rk_quote(key[i]);
            return perr(t, "key \"%s\" is not a table", q);
        }
        tbl = sub;
    }
    const char *last = key[n - 1];
    tval *v = table_get(tbl, last);
    _cleanup_free_ char *q = rk_quote(last);
    if (aot) {
        if (!v) {
            v = tval_new(T_ARRAY, t->line);
            v->aot = true;
            if (table_add(t, tbl, rk_xstrdup(last), v) < 0)
                return -1;
        } else if (v->kind != T_ARRAY || !v->aot) {
            return perr(t, "cannot define [[%s]]: \"%s\" is already defined", q,
                        q);
        }
        tval *nt = tval_new(T_TABLE, t->line);
        nt->defined = true;
        if (array_add(t, v, nt) < 0)
            return -1;
        t->cur = nt;
    } else {
        if (!v) {
            v = tval_new(T_TABLE, t->line);
            if (table_add(t, tbl, rk_xstrdup(last), v) < 0)
                return -1;
        } else if (v->kind != T_TABLE || v->defined || v->dotted || v->sealed) {
            return perr(t, "table [%s] is defined twice", q);
        }
        v->defined = true;
        t->cur = v;
    }
    return expect_eol(t);
}

static int parse_keyval(tparser *t)
{
    _cleanup_strv_ char **key = NULL;
    if (parse_key(t, &key) < 0)
        return -1;
    if (peek(t) != '=')
        return perr(t, "expected '=' after a key");
    t->p++;
    skip_ws(t);
    tval *v = NULL;
    if (parse_value(t, 0, &v) < 0)
        return -1;
    if (assign_dotted(t, t->cur, key, v) < 0)
        return -1;
    return expect_eol(t);
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static int toml_parse(const char *data, size_t len, const char *origin,
                      tval **ret, rk_error **err)
{
    tparser t = {
        .p = data, .end = data + len, .line = 1, .origin = origin, .err = err};
    if (memchr(data, 0, len))
        return rk_error_set(err, 0, "%s: contains a NUL byte", origin);
    if (!utf8_valid((const unsigned char *)data, len))
        return rk_error_set(err, 0, "%s: not valid UTF-8", origin);
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
        t.p += 3; /* byte order mark */
    _cleanup_tval_ tval *root = tval_new(T_TABLE, 1);
    t.root = t.cur = root;
    while (!at_end(&t)) {
        skip_ws(&t);
        if (at_end(&t))
            break;
        char c = *t.p;
        int r;
        if (c == '#')
            r = expect_eol(&t);
        else if (at_newline(&t)) {
            eat_newline(&t);
            r = 0;
        } else if (c == '[')
            r = parse_header(&t);
        else
            r = parse_keyval(&t);
        if (r < 0)
            return -1;
    }
    *ret = TAKE_PTR(root);
    return 0;
}

/* ---- registries.conf ---------------------------------------------------- */

typedef struct reg_mirror {
    char *location;
    bool insecure;
} reg_mirror;

typedef struct reg_entry {
    char *prefix;   /* as matched: "docker.io/library", "*.example.com" */
    char *location; /* "" only for wildcard prefixes: the name as-is */
    bool insecure, blocked;
    size_t n_mirrors;
    reg_mirror *mirrors;
    char *origin; /* the file that defined it */
} reg_entry;

struct rk_regconf {
    char **search; /* NULL when not set */
    char *search_origin;
    size_t n;
    reg_entry *regs;
};

static void reg_entry_clear(reg_entry *r)
{
    free(r->prefix);
    free(r->location);
    for (size_t i = 0; i < r->n_mirrors; i++)
        free(r->mirrors[i].location);
    free(r->mirrors);
    free(r->origin);
    memset(r, 0, sizeof(*r));
}

rk_regconf *rk_regconf_new(void)
{
    return rk_xcalloc(1, sizeof(rk_regconf));
}

void rk_regconf_free(rk_regconf *c)
{
    if (!c)
        return;
    rk_strv_free(c->search);
    free(c->search_origin);
    for (size_t i = 0; i < c->n; i++)
        reg_entry_clear(&c->regs[i]);
    free(c->regs);
    free(c);
}

void rk_endpoints_free(rk_endpoints *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].host);
        free(e->v[i].path);
    }
    free(e->v);
    free(e);
}

char *const *rk_regconf_search_registries(const rk_regconf *c)
{
    return c ? c->search : NULL;
}

const char *rk_regconf_search_origin(const rk_regconf *c)
{
    return c ? c->search_origin : NULL;
}

size_t rk_regconf_n_registries(const rk_regconf *c)
{
    return c ? c->n : 0;
}

__attribute__((format(printf, 4, 5))) static int
cerr(rk_error **err, const char *origin, const tval *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = rk_xvasprintf(fmt, ap);
    va_end(ap);
    rk_error_set(err, 0, "%s:%d: %s", origin, v ? v->line : 1, m);
    free(m);
    return -1;
}

static int get_string(const tval *tbl, const char *key, const char *origin,
                      const char **ret, rk_error **err)
{
    const tval *v = table_get(tbl, key);
    *ret = NULL;
    if (!v)
        return 0;
    if (v->kind != T_STRING)
        return cerr(err, origin, v, "\"%s\" must be a string, not %s", key,
                    kind_name(v->kind));
    *ret = v->str;
    return 0;
}

static int get_bool(const tval *tbl, const char *key, const char *origin,
                    bool *ret, rk_error **err)
{
    const tval *v = table_get(tbl, key);
    *ret = false;
    if (!v)
        return 0;
    if (v->kind != T_BOOL)
        return cerr(err, origin, v, "\"%s\" must be true or false, not %s", key,
                    kind_name(v->kind));
    *ret = v->b;
    return 0;
}

/* Why a prefix or location is unusable, or NULL. `name` is without the
 * trailing slashes; wildcards only when allowed. */
static const char *location_problem(const char *name, bool wildcard_ok)
{
    if (rk_startswith(name, "http://") || rk_startswith(name, "https://"))
        return "URI schemes are not supported";
    if (rk_startswith(name, "*.")) {
        if (!wildcard_ok)
            return "a wildcard is only allowed in a prefix";
        if (strchr(name, '/') || strchr(name, ':') ||
            !rk_ref_domain_valid(name + 2))
            return "a wildcard prefix must be *.DOMAIN without port or path";
        return NULL;
    }
    const char *slash = strchr(name, '/');
    _cleanup_free_ char *domain =
        slash ? rk_xstrndup(name, (size_t)(slash - name)) : rk_xstrdup(name);
    if (!rk_ref_domain_valid(domain))
        return "invalid registry host";
    if (slash) {
        if (strchr(slash, '@') || strchr(slash, ':'))
            return "a tag or digest is not supported here";
        if (!rk_ref_path_valid(slash + 1))
            return "invalid repository path";
    }
    return NULL;
}

static char *trim_slashes(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    return rk_xstrndup(s, n);
}

static int check_location(const char *value, bool wildcard_ok, const char *what,
                          const char *origin, const tval *v, char **ret,
                          rk_error **err)
{
    _cleanup_free_ char *s = trim_slashes(value);
    const char *why = location_problem(s, wildcard_ok);
    if (why) {
        _cleanup_free_ char *q = rk_quote(value);
        return cerr(err, origin, v, "invalid %s \"%s\": %s", what, q, why);
    }
    *ret = TAKE_PTR(s);
    return 0;
}

static int parse_registry(const tval *tbl, const char *origin, reg_entry *r,
                          rk_error **err)
{
    const char *prefix, *location;
    if (get_string(tbl, "prefix", origin, &prefix, err) < 0 ||
        get_string(tbl, "location", origin, &location, err) < 0 ||
        get_bool(tbl, "insecure", origin, &r->insecure, err) < 0 ||
        get_bool(tbl, "blocked", origin, &r->blocked, err) < 0)
        return -1;
    r->origin = rk_xstrdup(origin);
    if (location && *location &&
        check_location(location, false, "location", origin,
                       table_get(tbl, "location"), &r->location, err) < 0)
        return -1;
    if (prefix && *prefix) {
        if (check_location(prefix, true, "prefix", origin,
                           table_get(tbl, "prefix"), &r->prefix, err) < 0)
            return -1;
    } else {
        if (!r->location)
            return cerr(err, origin, tbl,
                        "[[registry]] needs a prefix or a location");
        r->prefix = rk_xstrdup(r->location);
    }
    /* The location defaults to the prefix, except for wildcard prefixes
     * where an empty location means "the name as written". */
    if (!r->location)
        r->location =
            rk_xstrdup(rk_startswith(r->prefix, "*.") ? "" : r->prefix);

    const tval *mirrors = table_get(tbl, "mirror");
    if (!mirrors)
        return 0;
    if (mirrors->kind != T_ARRAY)
        return cerr(
            err, origin, mirrors,
            "\"mirror\" must be an array of tables ([[registry.mirror]])");
    r->mirrors = rk_xcalloc(mirrors->n, sizeof(reg_mirror));
    for (size_t i = 0; i < mirrors->n; i++) {
        const tval *m = mirrors->items[i];
        if (m->kind != T_TABLE)
            return cerr(err, origin, m,
                        "\"mirror\" must be an array of tables");
        const char *ml;
        reg_mirror *rm = &r->mirrors[r->n_mirrors];
        if (get_string(m, "location", origin, &ml, err) < 0 ||
            get_bool(m, "insecure", origin, &rm->insecure, err) < 0)
            return -1;
        if (!ml || !*ml)
            return cerr(err, origin, m,
                        "a [[registry.mirror]] needs a location");
        if (check_location(ml, false, "mirror location", origin,
                           table_get(m, "location"), &rm->location, err) < 0)
            return -1;
        r->n_mirrors++;
    }
    return 0;
}

static reg_entry *find_prefix(const rk_regconf *c, const char *prefix)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->regs[i].prefix, prefix))
            return &c->regs[i];
    return NULL;
}

/* Interpret one parsed file into f (a fresh config). */
static int interpret(const tval *root, const char *origin, rk_regconf *f,
                     rk_error **err)
{
    const tval *v1 = table_get(root, "registries");
    if (v1 && v1->kind == T_TABLE)
        return cerr(err, origin, v1,
                    "version 1 format ([registries.search], "
                    "[registries.insecure], [registries.block]) is not "
                    "supported; use version 2 (unqualified-search-registries "
                    "and [[registry]] tables)");

    const tval *s = table_get(root, "unqualified-search-registries");
    if (s) {
        if (s->kind != T_ARRAY)
            return cerr(err, origin, s,
                        "\"unqualified-search-registries\" must be an array "
                        "of strings");
        f->search = rk_xcalloc(1, sizeof(char *));
        for (size_t i = 0; i < s->n; i++) {
            const tval *e = s->items[i];
            if (e->kind != T_STRING)
                return cerr(err, origin, e,
                            "\"unqualified-search-registries\" must be an "
                            "array of strings");
            _cleanup_free_ char *d = trim_slashes(e->str);
            if (!rk_ref_domain_valid(d)) {
                _cleanup_free_ char *q = rk_quote(e->str);
                return cerr(err, origin, e,
                            "invalid unqualified-search-registries entry "
                            "\"%s\" (expected host[:port])",
                            q);
            }
            rk_strv_push(&f->search, TAKE_PTR(d));
        }
        f->search_origin = rk_xstrdup(origin);
    }

    const tval *regs = table_get(root, "registry");
    if (!regs)
        return 0;
    if (regs->kind != T_ARRAY)
        return cerr(err, origin, regs,
                    "\"registry\" must be an array of tables ([[registry]])");
    f->regs = rk_xcalloc(regs->n, sizeof(reg_entry));
    for (size_t i = 0; i < regs->n; i++) {
        const tval *tbl = regs->items[i];
        if (tbl->kind != T_TABLE)
            return cerr(err, origin, tbl,
                        "\"registry\" must be an array of tables");
        reg_entry r = {0};
        if (parse_registry(tbl, origin, &r, err) < 0) {
            reg_entry_clear(&r);
            return -1;
        }
        /* Within one file the first entry for a prefix wins, as in
         * containers/image; later ones are ignored. */
        if (find_prefix(f, r.prefix)) {
            rk_debug("%s:%d: ignoring a second [[registry]] for prefix %s",
                     origin, tbl->line, r.prefix);
            reg_entry_clear(&r);
            continue;
        }
        f->regs[f->n++] = r;
    }
    return 0;
}

static void merge(rk_regconf *c, rk_regconf *f)
{
    if (f->search) {
        rk_strv_free(c->search);
        free(c->search_origin);
        c->search = TAKE_PTR(f->search);
        c->search_origin = TAKE_PTR(f->search_origin);
    }
    for (size_t i = 0; i < f->n; i++) {
        reg_entry *old = find_prefix(c, f->regs[i].prefix);
        if (old) {
            reg_entry_clear(old);
            *old = f->regs[i];
        } else {
            c->regs = rk_xrealloc(c->regs, (c->n + 1) * sizeof(reg_entry));
            c->regs[c->n++] = f->regs[i];
        }
        memset(&f->regs[i], 0, sizeof(reg_entry));
    }
    f->n = 0;
}

int rk_regconf_parse_buffer(rk_regconf *c, const char *data, size_t len,
                            const char *origin, rk_error **err)
{
    if (!origin)
        origin = "registries.conf";
    _cleanup_tval_ tval *root = NULL;
    if (toml_parse(data, len, origin, &root, err) < 0)
        return -1;
    _cleanup_regconf_ rk_regconf *f = rk_regconf_new();
    if (interpret(root, origin, f, err) < 0)
        return -1;
    merge(c, f);
    return 0;
}

int rk_regconf_parse_string(rk_regconf *c, const char *text, const char *origin,
                            rk_error **err)
{
    return rk_regconf_parse_buffer(c, text, strlen(text), origin, err);
}

int rk_regconf_load_file(rk_regconf *c, const char *path, rk_error **err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    if (rk_read_file_at(AT_FDCWD, path, 4u << 20, &data, &len, err) < 0)
        return -1;
    return rk_regconf_parse_buffer(c, data, len, path, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dropins(rk_regconf *c, const char *dir, rk_error **err)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return rk_error_set(err, errno, "opening %s", dir);
    }
    _cleanup_strv_ char **names = rk_xcalloc(1, sizeof(char *));
    struct dirent *de;
    while ((de = readdir(d)))
        if (rk_endswith(de->d_name, ".conf") && strcmp(de->d_name, ".conf"))
            rk_strv_push_dup(&names, de->d_name);
    qsort(names, rk_strv_len(names), sizeof(char *), cmp_str);
    for (size_t i = 0; names[i]; i++) {
        _cleanup_free_ char *path = rk_path_join(dir, names[i]);
        struct stat st;
        if (stat(path, &st) < 0) {
            if (errno == ENOENT)
                continue; /* removed since the listing */
            return rk_error_set(err, errno, "reading %s", path);
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (rk_regconf_load_file(c, path, err) < 0)
            return -1;
    }
    return 0;
}

static int load_main_file(rk_regconf *c, const char *file, bool file_required,
                          rk_error **err)
{
    rk_error *e = NULL;
    if (rk_regconf_load_file(c, file, &e) == 0)
        return 0;
    if (!file_required && e->errnum == ENOENT) {
        rk_error_free(e);
        return 0;
    }
    if (err && !*err)
        *err = e;
    else
        rk_error_free(e);
    return -1;
}

int rk_regconf_load_paths(const char *file, bool file_required,
                          const char *dropin_dir, rk_regconf **ret,
                          rk_error **err)
{
    _cleanup_regconf_ rk_regconf *c = rk_regconf_new();
    if (file && load_main_file(c, file, file_required, err) < 0)
        return -1;
    if (dropin_dir && load_dropins(c, dropin_dir, err) < 0)
        return -1;
    *ret = TAKE_PTR(c);
    return 0;
}

int rk_regconf_load_for(const char *home, const char *sys_file,
                        const char *sys_dir, rk_regconf **ret, rk_error **err)
{
    _cleanup_free_ char *user_file = NULL, *user_dir = NULL;
    if (home && *home) {
        user_file = rk_xasprintf("%s/.config/containers/registries.conf", home);
        user_dir = rk_xasprintf("%s/.config/containers/registries.conf.d", home);
    }
    _cleanup_regconf_ rk_regconf *c = rk_regconf_new();
    /* A user's own file replaces the system file and the system drop-ins
     * (containers-registries.conf(5)); the user's drop-ins come last. */
    if (user_file && access(user_file, F_OK) == 0) {
        if (load_main_file(c, user_file, true, err) < 0)
            return -1;
    } else {
        if (sys_file && load_main_file(c, sys_file, false, err) < 0)
            return -1;
        if (sys_dir && load_dropins(c, sys_dir, err) < 0)
            return -1;
    }
    if (user_dir && load_dropins(c, user_dir, err) < 0)
        return -1;
    *ret = TAKE_PTR(c);
    return 0;
}

int rk_regconf_load(rk_regconf **ret, rk_error **err)
{
    const char *env = getenv("CONTAINERS_REGISTRIES_CONF");
    if (env && *env)
        return rk_regconf_load_paths(env, true, NULL, ret, err);
    return rk_regconf_load_for(getenv("HOME"), RK_REGCONF_FILE, RK_REGCONF_DIR,
                               ret, err);
}

/* How much of name a prefix matches (-1: not at all). Plain prefixes match
 * at a '/' boundary; "*.example.com" matches a host below example.com (with
 * any port) and then the whole host part of name. */
static ssize_t prefix_match(const char *name, const char *prefix)
{
    if (rk_startswith(prefix, "*.")) {
        const char *suffix = prefix + 1; /* ".example.com" */
        size_t host_len = strcspn(name, "/");
        size_t hn = strcspn(name, ":/");
        size_t sl = strlen(suffix);
        if (hn <= sl || memcmp(name + hn - sl, suffix, sl) != 0)
            return -1;
        return (ssize_t)host_len;
    }
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0)
        return -1;
    if (name[pl] != 0 && name[pl] != '/')
        return -1;
    return (ssize_t)pl;
}

static int add_endpoint(rk_endpoints *e, const char *location, const char *name,
                        size_t match_len, bool insecure, bool mirror,
                        const reg_entry *r, rk_error **err)
{
    _cleanup_free_ char *full =
        *location ? rk_xasprintf("%s%s", location, name + match_len)
                  : rk_xstrdup(name);
    char *slash = strchr(full, '/');
    if (!slash || !slash[1] || !rk_ref_path_valid(slash + 1))
        return rk_error_set(err, 0,
                            "registries.conf (%s): location \"%s\" gives no "
                            "valid repository for %s",
                            r->origin, location, name);
    rk_endpoint *ep = &e->v[e->n++];
    ep->host = rk_xstrndup(full, (size_t)(slash - full));
    ep->path = rk_xstrdup(slash + 1);
    ep->insecure = insecure;
    ep->mirror = mirror;
    return 0;
}

int rk_regconf_resolve(const rk_regconf *c, const char *repo_name,
                       rk_endpoints **ret, rk_error **err)
{
    const char *slash = repo_name ? strchr(repo_name, '/') : NULL;
    _cleanup_free_ char *domain =
        slash ? rk_xstrndup(repo_name, (size_t)(slash - repo_name)) : NULL;
    if (!slash || !rk_ref_domain_valid(domain) ||
        !rk_ref_path_valid(slash + 1)) {
        _cleanup_free_ char *q = rk_quote(repo_name ? repo_name : "");
        return rk_error_set_status(err, 125, 0,
                                   "invalid repository name \"%s\"", q);
    }
    const reg_entry *best = NULL;
    size_t best_plen = 0, best_match = 0;
    for (size_t i = 0; c && i < c->n; i++) {
        ssize_t m = prefix_match(repo_name, c->regs[i].prefix);
        size_t pl = strlen(c->regs[i].prefix);
        if (m >= 0 && pl > best_plen) {
            best = &c->regs[i];
            best_plen = pl;
            best_match = (size_t)m;
        }
    }
    rk_endpoints *e = rk_xcalloc(1, sizeof(*e));
    _cleanup_endpoints_ rk_endpoints *guard = e;
    if (!best) {
        e->v = rk_xcalloc(1, sizeof(rk_endpoint));
        e->v[0].host = TAKE_PTR(domain);
        e->v[0].path = rk_xstrdup(slash + 1);
        e->n = 1;
        *ret = TAKE_PTR(guard);
        return 0;
    }
    if (best->blocked)
        return rk_error_set_status(err, 125, 0,
                                   "registry %s is blocked in "
                                   "registries.conf (%s)",
                                   best->prefix, best->origin);
    e->v = rk_xcalloc(best->n_mirrors + 1, sizeof(rk_endpoint));
    for (size_t i = 0; i < best->n_mirrors; i++)
        if (add_endpoint(e, best->mirrors[i].location, repo_name, best_match,
                         best->mirrors[i].insecure, true, best, err) < 0)
            return -1;
    if (add_endpoint(e, best->location, repo_name, best_match, best->insecure,
                     false, best, err) < 0)
        return -1;
    *ret = TAKE_PTR(guard);
    return 0;
}
