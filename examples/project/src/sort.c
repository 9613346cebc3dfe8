#include <stdlib.h>
#include <string.h>
#include "kit.h"

static void merge(int *a, int *tmp, size_t lo, size_t mid, size_t hi) {
    size_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi)
        tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
    while (i < mid)
        tmp[k++] = a[i++];
    while (j < hi)
        tmp[k++] = a[j++];
    memcpy(a + lo, tmp + lo, (hi - lo) * sizeof *a);
}

void kit_merge_sort(int *a, size_t n) {
    int *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return;
    for (size_t width = 1; width < n; width *= 2)
        for (size_t lo = 0; lo + width < n; lo += 2 * width)
            merge(a, tmp, lo, lo + width, lo + 2 * width < n ? lo + 2 * width : n);
    free(tmp);
}
