/* kit: a small C library of everyday algorithms, the project `./run-demo`
 * builds through ggcc. Each function lives in its own source file, as in
 * most C libraries, so that a build has a few dozen compiles to cache. */
#ifndef KIT_H
#define KIT_H

#include <stddef.h>
#include <stdint.h>

/* arena.c: a bump allocator */
typedef struct { unsigned char *base; size_t size, used; } kit_arena;
void kit_arena_init(kit_arena *a, void *buf, size_t size);
void *kit_arena_alloc(kit_arena *a, size_t n);

/* vec.c: a growable array of ints */
typedef struct { int *items; size_t len, cap; } kit_vec;
int kit_vec_push(kit_vec *v, int x);
void kit_vec_free(kit_vec *v);

/* str.c: a string builder */
typedef struct { char *buf; size_t len, cap; } kit_str;
int kit_str_append(kit_str *s, const char *text);
int kit_str_appendf(kit_str *s, const char *fmt, ...);
void kit_str_free(kit_str *s);

/* hashmap.c: string -> int, open addressing */
typedef struct { char **keys; int *values; size_t cap, len; } kit_map;
int kit_map_put(kit_map *m, const char *key, int value);
int kit_map_get(const kit_map *m, const char *key, int *value);
void kit_map_free(kit_map *m);

/* list.c: a singly linked list */
typedef struct kit_node { int value; struct kit_node *next; } kit_node;
kit_node *kit_list_reverse(kit_node *head);
size_t kit_list_length(const kit_node *head);

/* heap.c: a binary min-heap */
typedef struct { int *items; size_t len, cap; } kit_heap;
int kit_heap_push(kit_heap *h, int x);
int kit_heap_pop(kit_heap *h, int *x);
void kit_heap_free(kit_heap *h);

/* sort.c, bsearch.c */
void kit_merge_sort(int *a, size_t n);
size_t kit_lower_bound(const int *a, size_t n, int x);

/* bitset.c */
void kit_bit_set(uint64_t *bits, size_t i);
int kit_bit_test(const uint64_t *bits, size_t i);
size_t kit_bit_count(const uint64_t *bits, size_t words);

/* base64.c, hex.c */
size_t kit_base64_encode(const void *data, size_t n, char *out);
void kit_hex_encode(const void *data, size_t n, char *out);
int kit_hex_decode(const char *hex, void *out, size_t max);

/* crc32.c, adler32.c, fnv.c */
uint32_t kit_crc32(const void *data, size_t n);
uint32_t kit_adler32(const void *data, size_t n);
uint64_t kit_fnv1a64(const void *data, size_t n);

/* utf8.c */
long kit_utf8_length(const char *s);

/* rle.c */
size_t kit_rle_encode(const char *in, char *out, size_t max);

/* levenshtein.c, wildcard.c */
size_t kit_levenshtein(const char *a, const char *b);
int kit_wildcard(const char *pattern, const char *text);

/* primes.c, gcd.c, roman.c */
size_t kit_count_primes(size_t below);
long kit_gcd(long a, long b);
long kit_lcm(long a, long b);
int kit_roman(int n, char *out, size_t max);

/* stats.c */
double kit_mean(const double *x, size_t n);
double kit_variance(const double *x, size_t n);

/* rpn.c */
int kit_rpn(const char *expr, long *result);

/* trie.c */
typedef struct kit_trie { struct kit_trie *next[26]; int end; } kit_trie;
int kit_trie_insert(kit_trie *t, const char *word);
int kit_trie_contains(const kit_trie *t, const char *word);
void kit_trie_free(kit_trie *t);

/* ring.c: a fixed ring buffer of ints */
typedef struct { int items[16]; size_t head, len; } kit_ring;
int kit_ring_push(kit_ring *r, int x);
int kit_ring_pop(kit_ring *r, int *x);

/* csv.c */
size_t kit_csv_fields(const char *line);

#endif
