#include "kit.h"

void kit_hex_encode(const void *data, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int kit_hex_decode(const char *hex, void *out, size_t max) {
    unsigned char *p = out;
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        int hi = value(hex[0]), lo = value(hex[1]);
        if (hi < 0 || lo < 0 || n == max)
            return -1;
        p[n++] = (unsigned char)(hi << 4 | lo);
    }
    return hex[0] ? -1 : (int)n;
}
