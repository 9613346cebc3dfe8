#include <string.h>
#include "kit.h"

int kit_roman(int n, char *out, size_t max) {
    static const int values[] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
    static const char *const names[] = {"M", "CM", "D", "CD", "C", "XC", "L", "XL", "X", "IX", "V", "IV", "I"};
    size_t o = 0;
    if (n <= 0 || n >= 4000)
        return -1;
    for (int i = 0; i < 13; i++) {
        while (n >= values[i]) {
            size_t len = strlen(names[i]);
            if (o + len >= max)
                return -1;
            memcpy(out + o, names[i], len);
            o += len;
            n -= values[i];
        }
    }
    out[o] = '\0';
    return (int)o;
}
