/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The migration stream's wire format, alone (docs/stream.md): the stream
 * header, the record header, record types, batch flags and limits.  All
 * integers are little-endian, as the hosts of a cluster are x86.  Readers
 * check magic, version, CRC32C and every length before they trust it.
 */
#ifndef LIBXLMIG_ENGINE_STREAM_FORMAT_H
#define LIBXLMIG_ENGINE_STREAM_FORMAT_H

#include <stdint.h>

#define LIBXLMIG__PAGE_SHIFT 12
#define LIBXLMIG__PAGE_SIZE  (1UL << LIBXLMIG__PAGE_SHIFT)

#define LIBXLMIG__STREAM_MAGIC   "XLMIGSTR"
#define LIBXLMIG__STREAM_VERSION 2
enum {
    LIBXLMIG__REC_END = 0,
    LIBXLMIG__REC_DOMAIN_CONFIG = 1,
    LIBXLMIG__REC_PAGE_BATCH = 2,
    LIBXLMIG__REC_VCPU_STATE = 3,
    LIBXLMIG__REC_ROUND = 4,
    LIBXLMIG__REC_PAGE_DATA = 5,   /* batch whose data PAGE_CHECK covers */
    LIBXLMIG__REC_PAGE_CHECK = 6,  /* per-page CRCs of the PAGE_DATA before */
};
#define LIBXLMIG__REC_MAX_BODY   (16u << 20)
#define LIBXLMIG__BATCH_PAGES    512      /* 2 MiB of data per batch */
#define LIBXLMIG__PFN_ZERO       (1ULL << 63)
/* Batch flags (the word after the count): */
#define LIBXLMIG__BATCH_BY_REF   (1u << 0)  /* PAGE_DATA only: pages may
                                             * change until read */
#define LIBXLMIG__BATCH_SEALED   (1u << 1)  /* no checksums of page data:
                                             * the transport authenticates
                                             * every byte (TLS) */
#define LIBXLMIG__PFN_MASK       ((1ULL << 52) - 1)

typedef struct libxlmig__stream_hdr {
    char magic[8];
    uint32_t version;
    uint32_t page_size;
    uint64_t nr_pages;
    uint32_t flags;
    uint32_t crc;            /* CRC32C of the 28 bytes before it */
} libxlmig__stream_hdr;

typedef struct libxlmig__rec_hdr {
    uint32_t type;
    uint32_t body_len;
    uint32_t crc;            /* CRC32C of type, body_len, then body */
    uint32_t reserved;
} libxlmig__rec_hdr;

#endif /* LIBXLMIG_ENGINE_STREAM_FORMAT_H */
