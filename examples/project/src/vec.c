#include <stdlib.h>
#include "kit.h"

int kit_vec_push(kit_vec *v, int x) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        int *items = realloc(v->items, cap * sizeof *items);
        if (!items)
            return -1;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = x;
    return 0;
}

void kit_vec_free(kit_vec *v) {
    free(v->items);
    v->items = NULL;
    v->len = v->cap = 0;
}
