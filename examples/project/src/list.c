#include "kit.h"

kit_node *kit_list_reverse(kit_node *head) {
    kit_node *prev = NULL;
    while (head) {
        kit_node *next = head->next;
        head->next = prev;
        prev = head;
        head = next;
    }
    return prev;
}

size_t kit_list_length(const kit_node *head) {
    size_t n = 0;
    for (; head; head = head->next)
        n++;
    return n;
}
