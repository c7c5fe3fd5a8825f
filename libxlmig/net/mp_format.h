/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The multi-path layer's wire format, alone (docs/protocol.md,
 * "Migration paths"): every byte of a migration after migrate_begin goes
 * in frames over one or more connections (paths).  All integers are
 * little-endian.  A reader checks magic, CRC32C and every length before
 * it trusts a frame.
 */
#ifndef LIBXLMIG_NET_MP_FORMAT_H
#define LIBXLMIG_NET_MP_FORMAT_H

#include <stdint.h>

#define LIBXLMIG__MP_MAGIC 0x464d4c58u     /* "XLMF" */

enum {
    /* seq: number of paths the sender opened; raw_len: format version.
     * The first frame on the first path, nothing else before it. */
    LIBXLMIG__MP_START = 1,
    /* seq: the frame's number; wire_len bytes of payload, raw_len bytes
     * once decompressed with algo.  Frames are numbered from 0 in each
     * direction; the receiver delivers them in that order whatever path
     * they took, so a frame resent on another path, or a later copy of a
     * page, can never overtake what was written before it. */
    LIBXLMIG__MP_DATA = 2,
    /* seq: every DATA frame numbered below it was delivered (consumed);
     * the sender may forget them.  Only when more than one path runs. */
    LIBXLMIG__MP_ACK = 3,
    /* The sender closes this path; nothing follows on it. */
    LIBXLMIG__MP_FIN = 4,
};

#define LIBXLMIG__MP_VERSION   1
#define LIBXLMIG__MP_MAX_PATHS 16
/* Largest payload of a DATA frame, raw and on the wire (bytes). */
#define LIBXLMIG__MP_FRAME_MAX (4u << 20)

typedef struct libxlmig__mp_hdr {
    uint32_t magic;
    uint8_t type;
    uint8_t algo;            /* libxlmig__comp_algo of the payload */
    uint16_t path;           /* the sender's index of this path */
    uint32_t wire_len;
    uint32_t raw_len;
    uint64_t seq;
    uint32_t reserved;       /* 0 */
    uint32_t crc;            /* CRC32C of the 28 bytes before it */
} libxlmig__mp_hdr;

#endif /* LIBXLMIG_NET_MP_FORMAT_H */
