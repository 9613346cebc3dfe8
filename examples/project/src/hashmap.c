#include <stdlib.h>
#include <string.h>
#include "kit.h"

static size_t hash(const char *key) {
    return (size_t)kit_fnv1a64(key, strlen(key));
}

static int grow(kit_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    char **keys = calloc(cap, sizeof *keys);
    int *values = calloc(cap, sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = hash(m->keys[i]) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        values[j] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
    return 0;
}

int kit_map_put(kit_map *m, const char *key, int value) {
    if ((m->len + 1) * 4 > m->cap * 3 && grow(m))
        return -1;
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) {
        size_t n = strlen(key) + 1;
        if (!(m->keys[i] = malloc(n)))
            return -1;
        memcpy(m->keys[i], key, n);
        m->len++;
    }
    m->values[i] = value;
    return 0;
}

int kit_map_get(const kit_map *m, const char *key, int *value) {
    if (!m->cap)
        return 0;
    for (size_t i = hash(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1)) {
        if (strcmp(m->keys[i], key) == 0) {
            *value = m->values[i];
            return 1;
        }
    }
    return 0;
}

void kit_map_free(kit_map *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->values);
    m->keys = NULL;
    m->values = NULL;
    m->cap = m->len = 0;
}
