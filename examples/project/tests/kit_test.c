/* kit's tests: known answers for every module. Exit status 0 when all pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kit.h"

static int failures;

#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                \
        }                                                              \
    } while (0)

static void test_containers(void) {
    unsigned char buf[64];
    kit_arena arena;
    kit_arena_init(&arena, buf, sizeof buf);
    CHECK(kit_arena_alloc(&arena, 40) != NULL && kit_arena_alloc(&arena, 40) == NULL);

    kit_vec v = {0};
    for (int i = 0; i < 100; i++)
        CHECK(kit_vec_push(&v, i * i) == 0);
    CHECK(v.len == 100 && v.items[99] == 9801);
    kit_vec_free(&v);

    kit_str s = {0};
    kit_str_append(&s, "kit ");
    kit_str_appendf(&s, "%d-%s", 42, "ok");
    CHECK(strcmp(s.buf, "kit 42-ok") == 0);
    kit_str_free(&s);

    kit_map m = {0};
    char key[16];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        kit_map_put(&m, key, i);
    }
    int got = -1;
    CHECK(kit_map_get(&m, "k137", &got) && got == 137 && !kit_map_get(&m, "nope", &got) && m.len == 200);
    kit_map_free(&m);

    kit_node nodes[3] = {{1, &nodes[1]}, {2, &nodes[2]}, {3, NULL}};
    kit_node *head = kit_list_reverse(&nodes[0]);
    CHECK(head->value == 3 && kit_list_length(head) == 3);

    kit_heap h = {0};
    int in[] = {5, 1, 4, 2, 3}, out = 0;
    for (int i = 0; i < 5; i++)
        kit_heap_push(&h, in[i]);
    for (int i = 1; i <= 5; i++)
        CHECK(kit_heap_pop(&h, &out) && out == i);
    kit_heap_free(&h);

    kit_ring r = {{0}, 0, 0};
    for (int i = 0; i < 20; i++)
        kit_ring_push(&r, i);
    CHECK(r.len == 16 && kit_ring_pop(&r, &out) && out == 0);

    kit_trie t = {{0}, 0};
    kit_trie_insert(&t, "kit");
    kit_trie_insert(&t, "kitten");
    CHECK(kit_trie_contains(&t, "kit") && !kit_trie_contains(&t, "kitt") && kit_trie_contains(&t, "kitten"));
    kit_trie_free(&t);
}

static void test_algorithms(void) {
    int a[] = {9, 3, 7, 1, 8, 2, 6, 4, 5, 0};
    kit_merge_sort(a, 10);
    for (int i = 0; i < 10; i++)
        CHECK(a[i] == i);
    CHECK(kit_lower_bound(a, 10, 6) == 6 && kit_lower_bound(a, 10, 42) == 10);

    uint64_t bits[2] = {0, 0};
    kit_bit_set(bits, 3);
    kit_bit_set(bits, 100);
    CHECK(kit_bit_test(bits, 100) && !kit_bit_test(bits, 99) && kit_bit_count(bits, 2) == 2);

    CHECK(kit_levenshtein("kitten", "sitting") == 3);
    CHECK(kit_wildcard("*.c", "main.c") && kit_wildcard("a?c", "abc") && !kit_wildcard("a*b", "ac"));
    CHECK(kit_count_primes(100) == 25);
    CHECK(kit_gcd(12, 18) == 6 && kit_lcm(12, 18) == 36);

    char roman[32];
    CHECK(kit_roman(1994, roman, sizeof roman) > 0 && strcmp(roman, "MCMXCIV") == 0);

    double x[] = {1, 2, 3, 4, 5};
    CHECK(fabs(kit_mean(x, 5) - 3) < 1e-12 && fabs(kit_variance(x, 5) - 2) < 1e-12);

    long value = 0;
    CHECK(kit_rpn("3 4 + 2 *", &value) == 0 && value == 14 && kit_rpn("1 +", &value) == -1);
    CHECK(kit_csv_fields("a,\"b,c\",d") == 3);
}

static void test_encodings(void) {
    char text[64];
    kit_base64_encode("hello", 5, text);
    CHECK(strcmp(text, "aGVsbG8=") == 0);

    unsigned char bytes[4] = {0xde, 0xad, 0xbe, 0xef}, back[4];
    kit_hex_encode(bytes, 4, text);
    CHECK(strcmp(text, "deadbeef") == 0 && kit_hex_decode(text, back, 4) == 4 && memcmp(back, bytes, 4) == 0);

    CHECK(kit_crc32("123456789", 9) == 0xCBF43926u);
    CHECK(kit_adler32("Wikipedia", 9) == 0x11E60398u);
    CHECK(kit_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(kit_utf8_length("h\xc3\xa9llo") == 5 && kit_utf8_length("\xc3") == -1);
    CHECK(kit_rle_encode("aaabcc", text, sizeof text) == 6 && strcmp(text, "3a1b2c") == 0);
}

int main(void) {
    test_containers();
    test_algorithms();
    test_encodings();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("kit: all checks passed");
    return 0;
}
