#include "kit.h"

/* The number of fields in one CSV line; commas inside quotes do not count. */
size_t kit_csv_fields(const char *line) {
    size_t n = 1;
    int quoted = 0;
    for (; *line && *line != '\n'; line++) {
        if (*line == '"')
            quoted = !quoted;
        else if (*line == ',' && !quoted)
            n++;
    }
    return n;
}
