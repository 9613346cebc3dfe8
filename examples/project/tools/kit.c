/* kit: the library's functions from the command line.
 *   kit crc32 TEXT | adler32 TEXT | fnv TEXT | base64 TEXT | roman N | primes N | rpn EXPR | distance A B */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kit.h"

static int usage(void) {
    fputs("usage: kit crc32|adler32|fnv|base64 TEXT, kit roman|primes N, kit rpn EXPR, kit distance A B\n", stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    const char *cmd = argv[1], *arg = argv[2];
    size_t n = strlen(arg);
    if (strcmp(cmd, "crc32") == 0) {
        printf("%08x\n", (unsigned)kit_crc32(arg, n));
    } else if (strcmp(cmd, "adler32") == 0) {
        printf("%08x\n", (unsigned)kit_adler32(arg, n));
    } else if (strcmp(cmd, "fnv") == 0) {
        printf("%016llx\n", (unsigned long long)kit_fnv1a64(arg, n));
    } else if (strcmp(cmd, "base64") == 0) {
        char *out = malloc(4 * (n / 3 + 1) + 1);
        if (!out)
            return 1;
        kit_base64_encode(arg, n, out);
        puts(out);
        free(out);
    } else if (strcmp(cmd, "roman") == 0) {
        char out[32];
        if (kit_roman(atoi(arg), out, sizeof out) < 0)
            return 1;
        puts(out);
    } else if (strcmp(cmd, "primes") == 0) {
        printf("%zu\n", kit_count_primes((size_t)strtoul(arg, NULL, 10)));
    } else if (strcmp(cmd, "rpn") == 0) {
        long value;
        if (kit_rpn(arg, &value) != 0)
            return 1;
        printf("%ld\n", value);
    } else if (strcmp(cmd, "distance") == 0 && argc == 4) {
        printf("%zu\n", kit_levenshtein(arg, argv[3]));
    } else {
        return usage();
    }
    return 0;
}
