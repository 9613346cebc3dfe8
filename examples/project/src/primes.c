#include <stdlib.h>
#include "kit.h"

size_t kit_count_primes(size_t below) {
    if (below < 3)
        return 0;
    unsigned char *composite = calloc(below, 1);
    if (!composite)
        return 0;
    size_t n = 0;
    for (size_t i = 2; i < below; i++) {
        if (composite[i])
            continue;
        n++;
        for (size_t j = i * i; j < below; j += i)
            composite[j] = 1;
    }
    free(composite);
    return n;
}
