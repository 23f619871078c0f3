/* coding.c -- the slow path of varint decoding. */
#include "util/coding.h"

const uint8_t *dec_varint64_slow(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t result = 0;
    for (unsigned shift = 0; shift <= 63 && p < end; shift += 7) {
        uint64_t byte = *p++;
        if (shift == 63 && byte > 1)
            return NULL; /* more than 64 bits */
        result |= (byte & 0x7f) << shift;
        if (byte < 0x80) {
            *v = result;
            return p;
        }
    }
    return NULL;
}
