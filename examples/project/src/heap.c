#include <stdlib.h>
#include "kit.h"

static void swap(int *a, int *b) {
    int t = *a;
    *a = *b;
    *b = t;
}

int kit_heap_push(kit_heap *h, int x) {
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        int *items = realloc(h->items, cap * sizeof *items);
        if (!items)
            return -1;
        h->items = items;
        h->cap = cap;
    }
    size_t i = h->len++;
    h->items[i] = x;
    while (i > 0 && h->items[(i - 1) / 2] > h->items[i]) {
        swap(&h->items[(i - 1) / 2], &h->items[i]);
        i = (i - 1) / 2;
    }
    return 0;
}

int kit_heap_pop(kit_heap *h, int *x) {
    if (!h->len)
        return 0;
    *x = h->items[0];
    h->items[0] = h->items[--h->len];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->len && h->items[l] < h->items[m])
            m = l;
        if (r < h->len && h->items[r] < h->items[m])
            m = r;
        if (m == i)
            break;
        swap(&h->items[i], &h->items[m]);
        i = m;
    }
    return 1;
}

void kit_heap_free(kit_heap *h) {
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
