#include <stdlib.h>
#include "kit.h"

int kit_trie_insert(kit_trie *t, const char *word) {
    for (; *word; word++) {
        int c = *word - 'a';
        if (c < 0 || c >= 26)
            return -1;
        if (!t->next[c] && !(t->next[c] = calloc(1, sizeof *t)))
            return -1;
        t = t->next[c];
    }
    t->end = 1;
    return 0;
}

int kit_trie_contains(const kit_trie *t, const char *word) {
    for (; t && *word; word++) {
        int c = *word - 'a';
        if (c < 0 || c >= 26)
            return 0;
        t = t->next[c];
    }
    return t && t->end;
}

void kit_trie_free(kit_trie *t) {
    for (int c = 0; c < 26; c++) {
        if (t->next[c]) {
            kit_trie_free(t->next[c]);
            free(t->next[c]);
            t->next[c] = NULL;
        }
    }
}
