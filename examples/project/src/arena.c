#include "kit.h"

void kit_arena_init(kit_arena *a, void *buf, size_t size) {
    a->base = buf;
    a->size = size;
    a->used = 0;
}

void *kit_arena_alloc(kit_arena *a, size_t n) {
    size_t start = (a->used + 15) & ~(size_t)15; /* 16-byte alignment */
    if (start > a->size || n > a->size - start)
        return NULL;
    a->used = start + n;
    return a->base + start;
}
