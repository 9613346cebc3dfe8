#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kit.h"

static int reserve(kit_str *s, size_t extra) {
    if (s->len + extra + 1 <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 32;
    while (cap < s->len + extra + 1)
        cap *= 2;
    char *buf = realloc(s->buf, cap);
    if (!buf)
        return -1;
    s->buf = buf;
    s->cap = cap;
    return 0;
}

int kit_str_append(kit_str *s, const char *text) {
    size_t n = strlen(text);
    if (reserve(s, n))
        return -1;
    memcpy(s->buf + s->len, text, n + 1);
    s->len += n;
    return 0;
}

int kit_str_appendf(kit_str *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(s, (size_t)n))
        return -1;
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
    return 0;
}

void kit_str_free(kit_str *s) {
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}
