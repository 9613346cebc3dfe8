#include "kit.h"

#define CAP (sizeof ((kit_ring *)0)->items / sizeof ((kit_ring *)0)->items[0])

int kit_ring_push(kit_ring *r, int x) {
    if (r->len == CAP)
        return 0;
    r->items[(r->head + r->len++) % CAP] = x;
    return 1;
}

int kit_ring_pop(kit_ring *r, int *x) {
    if (!r->len)
        return 0;
    *x = r->items[r->head];
    r->head = (r->head + 1) % CAP;
    r->len--;
    return 1;
}
