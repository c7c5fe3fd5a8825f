/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Bitmaps of guest pages (one bit per pfn), as the dirty log and the
 * engine keep them.
 */
#ifndef LIBXLMIG_CORE_BITMAP_H
#define LIBXLMIG_CORE_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIBXLMIG__BPL (8 * sizeof(unsigned long))
static inline void bitmap_set(unsigned long *b, uint64_t i)
{ b[i / LIBXLMIG__BPL] |= 1UL << (i % LIBXLMIG__BPL); }
static inline void bitmap_clear(unsigned long *b, uint64_t i)
{ b[i / LIBXLMIG__BPL] &= ~(1UL << (i % LIBXLMIG__BPL)); }
static inline bool bitmap_test(const unsigned long *b, uint64_t i)
{ return b[i / LIBXLMIG__BPL] & (1UL << (i % LIBXLMIG__BPL)); }
static inline size_t bitmap_longs(uint64_t n)
{ return (n + LIBXLMIG__BPL - 1) / LIBXLMIG__BPL; }

#endif /* LIBXLMIG_CORE_BITMAP_H */
