#include "kit.h"

void kit_bit_set(uint64_t *bits, size_t i) {
    bits[i / 64] |= (uint64_t)1 << (i % 64);
}

int kit_bit_test(const uint64_t *bits, size_t i) {
    return (bits[i / 64] >> (i % 64)) & 1;
}

size_t kit_bit_count(const uint64_t *bits, size_t words) {
    size_t n = 0;
    for (size_t w = 0; w < words; w++)
        for (uint64_t v = bits[w]; v; v &= v - 1)
            n++;
    return n;
}
