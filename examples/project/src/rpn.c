#include <ctype.h>
#include <stdlib.h>
#include "kit.h"

/* "3 4 + 2 *" -> 14. 0 on success, -1 on a malformed expression. */
int kit_rpn(const char *expr, long *result) {
    long stack[64];
    size_t depth = 0;
    while (*expr) {
        if (isspace((unsigned char)*expr)) {
            expr++;
        } else if (isdigit((unsigned char)*expr)) {
            char *end;
            if (depth == 64)
                return -1;
            stack[depth++] = strtol(expr, &end, 10);
            expr = end;
        } else {
            if (depth < 2)
                return -1;
            long b = stack[--depth], a = stack[--depth];
            switch (*expr++) {
            case '+': stack[depth++] = a + b; break;
            case '-': stack[depth++] = a - b; break;
            case '*': stack[depth++] = a * b; break;
            case '/':
                if (!b)
                    return -1;
                stack[depth++] = a / b;
                break;
            default: return -1;
            }
        }
    }
    if (depth != 1)
        return -1;
    *result = stack[0];
    return 0;
}
