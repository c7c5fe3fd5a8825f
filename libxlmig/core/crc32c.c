/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * CRC32C (Castagnoli), the checksum of every control message and stream
 * record, computed by ISA-L with the CPU's crc32 instruction when present.
 */
#include <isa-l/crc.h>

#include "core/core.h"

/* Read ahead by this much: two pages (measured best, docs/stream.md). */
#define CRC_CHUNK     4096
#define CRC_LOOKAHEAD (2 * CRC_CHUNK)

/*
 * Standard CRC32C: pass 0 to start; chain by passing the last result.
 * A buffer of several pages (runs of guest pages, cold) goes a page at a
 * time, loading the page two ahead meanwhile.
 */
uint32_t libxlmig__crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t n;

    crc = ~crc;
    while (len > 0) {
        n = len > CRC_CHUNK ? CRC_CHUNK : len;
        if (len > CRC_LOOKAHEAD)
            libxlmig__prefetch(p + CRC_LOOKAHEAD,
                               len - CRC_LOOKAHEAD < CRC_CHUNK ?
                               len - CRC_LOOKAHEAD : CRC_CHUNK);
        crc = crc32_iscsi((unsigned char *)p, (int)n, crc);
        p += n;
        len -= n;
    }
    return ~crc;
}
