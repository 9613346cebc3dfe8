#include <stdio.h>
#include "kit.h"

/* "aaabcc" -> "3a1b2c"; the length written, or 0 if it does not fit. */
size_t kit_rle_encode(const char *in, char *out, size_t max) {
    size_t o = 0;
    while (*in) {
        size_t run = 1;
        while (in[run] == in[0])
            run++;
        int n = snprintf(out + o, max - o, "%zu%c", run, in[0]);
        if (n < 0 || (size_t)n >= max - o)
            return 0;
        o += (size_t)n;
        in += run;
    }
    return o;
}
