#include "kit.h"

long kit_gcd(long a, long b) {
    if (a < 0)
        a = -a;
    if (b < 0)
        b = -b;
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

long kit_lcm(long a, long b) {
    return a && b ? a / kit_gcd(a, b) * b : 0;
}
