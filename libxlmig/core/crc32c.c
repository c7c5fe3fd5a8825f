/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * CRC32C (Castagnoli), the checksum of every control message and stream
 * record, computed by ISA-L with the CPU's crc32 instruction when present.
 */
#include <limits.h>

#include <isa-l/crc.h>

#include "core/core.h"

/* Standard CRC32C: pass 0 to start; chain by passing the last result. */
uint32_t libxlmig__crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    crc = ~crc;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;

        crc = crc32_iscsi((unsigned char *)p, n, crc);
        p += n;
        len -= (size_t)n;
    }
    return ~crc;
}
