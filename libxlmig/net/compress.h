/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Compression of the migration stream's data frames (compress.c): lz4
 * and zstd over whole frames of pages, and the adaptive chooser of one
 * migration, which picks per frame the algorithm that moves the frame
 * soonest: compressing time plus compressed bytes over the link's speed,
 * from its measured compressor speeds (input bytes per second of thread
 * CPU time) and ratios, against sending the frame raw.  Includes only
 * the core.
 *
 * Ownership and locking: a libxlmig__comp belongs to one migration and is
 * freed by its creator after every sender thread is done with it;
 * libxlmig__comp_frame may be called from several threads at once (its
 * estimates and statistics sit under a mutex, each call compresses with a
 * context of its own).  libxlmig__decomp_frame keeps a decompression
 * context per thread.
 */
#ifndef LIBXLMIG_NET_COMPRESS_H
#define LIBXLMIG_NET_COMPRESS_H

#include "core/core.h"

/* On the wire: one byte.  The zstd level is the sender's affair. */
typedef enum {
    LIBXLMIG__COMP_NONE = 0,
    LIBXLMIG__COMP_LZ4 = 1,
    LIBXLMIG__COMP_ZSTD = 2,
} libxlmig__comp_algo;
#define LIBXLMIG__COMP_NR_ALGOS 3

/* The zstd level used: 1, zstd's fastest regular level. */
#define LIBXLMIG__COMP_ZSTD_LEVEL 1
/* Auto samples an algorithm it did not choose once every this many
 * frames, so its estimates follow the content and the link. */
#define LIBXLMIG__COMP_SAMPLE_EVERY 32
/* ... and this many times less often while every alternative is
 * expected to take over twice as long as the choice. */
#define LIBXLMIG__COMP_SAMPLE_FAR 4
/* ... and only while samples took at most this share of the time since
 * the first frame (CPU time of samples over wall time). */
#define LIBXLMIG__COMP_SAMPLE_BUDGET 0.02
/* Auto sends raw when the expected ratio (out/in) is above this. */
#define LIBXLMIG__COMP_RATIO_MAX 0.97
/* The link speed auto assumes while the caller knows none (bytes/s):
 * 1 Gbit/s. */
#define LIBXLMIG__COMP_LINK_UNKNOWN_BPS 125e6

typedef struct libxlmig__comp libxlmig__comp;

/* What a chooser did, for reports; indexed by libxlmig__comp_algo. */
typedef struct libxlmig__comp_stats_t {
    uint64_t frames[LIBXLMIG__COMP_NR_ALGOS];    /* frames sent so */
    uint64_t bytes_in[LIBXLMIG__COMP_NR_ALGOS];  /* their raw bytes */
    uint64_t bytes_out[LIBXLMIG__COMP_NR_ALGOS]; /* their bytes on the
                                                   * wire (NONE: raw) */
    uint64_t cpu_ns;      /* thread CPU time compressing (ns), also of
                           * attempts that did not shrink a frame */
    uint64_t attempts;    /* frames compressed (count), samples too */
    uint64_t samples;     /* frames compressed only to measure (count) */
} libxlmig__comp_stats_t;

/* A chooser for one migration in mode (off, auto, lz4, zstd); free it
 * with _free.  INVAL (logged) for an unknown mode. */
_hidden int libxlmig__comp_new(libxlmig__gc *gc, libxlmig_compression mode,
                               libxlmig__comp **c_r);
/* NULL is a no-op. */
_hidden void libxlmig__comp_free(libxlmig__comp *c);
/* The capacity of dst that any frame of n bytes fits in. */
_hidden size_t libxlmig__comp_bound(size_t n);
/*
 * Compress src[0..n) for a link that currently moves link_bps bytes/s
 * (0: unknown) of this caller's frames: with several threads sending on
 * one path, each thread's share of it, since the choice weighs one
 * thread's CPU time against the wire.  Returns the algorithm used and its output's length in
 * *out_len; NONE means "send src as it is" (*out_len = n; dst holds
 * nothing of use: a compression that did not shrink the frame may have
 * written up to n - 1 bytes of it, never more).  Thread-safe.
 */
_hidden libxlmig__comp_algo libxlmig__comp_frame(libxlmig__comp *c,
                                                 const void *src, size_t n,
                                                 void *dst, size_t cap,
                                                 size_t *out_len,
                                                 double link_bps);
/*
 * The link speed auto weighs compression against, for one path, from
 * TCP's delivery-rate samples (bytes/s) as the caller reads them: the
 * median of the last LIBXLMIG__LINK_SAMPLES observations, so that one
 * odd sample (measured: 8.6 to 87 MB/s among samples of 1-4 GB/s on an
 * unshaped veth, each sending the frames after it through zstd) moves
 * nothing.  An observation is a sample TCP did not mark
 * application-limited; one it marked only when above the estimate (it
 * measured how fast we wrote, and the link carries at least that);
 * and, while waiting (application-limited with nothing left unsent and
 * no bandwidth limit: the link waits for the sender), twice the
 * estimate, up to max_bps, so that a link faster than the compressor
 * soon gets raw frames, which fill it and let TCP measure it.
 */
#define LIBXLMIG__LINK_SAMPLES 5
typedef struct libxlmig__link_est {
    double obs[LIBXLMIG__LINK_SAMPLES];
    unsigned n, next;
    double bps;                   /* the estimate; 0 before any */
} libxlmig__link_est;
/* Take one sample (rate 0: none); returns the estimate. */
_hidden double libxlmig__link_est_sample(libxlmig__link_est *e, double rate,
                                         bool app_limited, bool waiting,
                                         double max_bps);

/* Seconds per input byte of sending with a, for a compressor of speed
 * (input bytes per second of CPU time) and ratio (out/in) over a link of
 * link bytes/s: compressing time plus compressed bytes over the link;
 * HUGE_VAL for an algorithm auto would not use (ratio above
 * LIBXLMIG__COMP_RATIO_MAX).  The rule auto chooses by. */
_hidden double libxlmig__comp_cost(libxlmig__comp_algo a, double speed,
                                   double ratio, double link);

/* Decompress a frame of algorithm a into exactly raw_len bytes of dst;
 * anything else (unknown algorithm, corrupt, truncated, longer or shorter
 * output) is a logged PROTOCOL error. */
_hidden int libxlmig__decomp_frame(libxlmig__gc *gc, libxlmig__comp_algo a,
                                   const void *src, size_t n, void *dst,
                                   size_t raw_len);
/* A consistent copy of c's statistics. */
_hidden void libxlmig__comp_stats(const libxlmig__comp *c,
                                  libxlmig__comp_stats_t *s);
/* "none", "lz4", "zstd" ("invalid" else). */
_hidden const char *libxlmig__comp_algo_name(libxlmig__comp_algo a);

#endif /* LIBXLMIG_NET_COMPRESS_H */
