/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The engine layer: the stream's writers and readers (stream.c), the
 * pre-copy policy (precopy.c), the engine (engine.c), the estimator
 * (estimate.c), statistics and parameters.  The engine sees a domain only
 * through libxlmig__mig_source (sending side) and libxlmig__mig_sink
 * (receiving side), and the stream only through a transport (net/net.h),
 * so every backend and every node connection reuse it.  The wire format
 * itself is engine/stream_format.h.  Includes only core and net.
 */
#ifndef LIBXLMIG_ENGINE_H
#define LIBXLMIG_ENGINE_H

#include <sys/types.h>
#include <sys/uio.h>

#include "core/core.h"
#include "core/bitmap.h"
#include "net/net.h"
#include "engine/stream_format.h"

/* Writers: whole records through the transport. */
_hidden int libxlmig__stream_write_header(libxlmig__gc *gc,
                                          libxlmig__transport *t,
                                          uint64_t nr_pages);
_hidden int libxlmig__stream_write_record(libxlmig__gc *gc,
                                          libxlmig__transport *t,
                                          uint32_t type, const void *body,
                                          uint32_t len);

typedef struct libxlmig__batch_writer {
    libxlmig__transport *t;  /* where the stream goes */
    const uint8_t *mem;
    uint64_t nr_pages;       /* of mem */
    bool stable;             /* guest paused: send from RAM, no copy */
    bool by_ref;             /* live pages by reference if t can */
    bool sealed;             /* t authenticates every byte: no page
                              * checksums (BATCH_SEALED) */
    /*
     * Zero-copy while the guest runs: a PAGE_DATA record straight from
     * RAM, then recheck() collects (and re-arms) the pages of
     * first..last-1 written since they were last re-armed into *next,
     * and a PAGE_CHECK record gives per-page CRCs, flagging as unstable
     * every page written meanwhile (it is in *next: the next round
     * resends it).  NULL recheck: copy into data first, PAGE_BATCH.
     */
    int (*recheck)(libxlmig__gc *gc, void *priv, uint64_t first,
                   uint64_t last);
    void *recheck_priv;
    unsigned long *next;
    uint32_t *crcs;          /* PAGE_CHECK's body: 2 + 2 * BATCH_PAGES
                              * entries (caller's) */
    uint64_t unstable;       /* pages flagged unstable (pages) */
    uint8_t *data;           /* staging, BATCH_PAGES pages (caller's) */
    uint64_t npfn, nzero, ndata;
    uint64_t last_pfn;       /* the page queued last (read-ahead) */
    uint64_t pfns[LIBXLMIG__BATCH_PAGES];
    uint64_t bytes;          /* written through this writer (bytes) */
    uint64_t total_data, total_zero;   /* pages queued (pages) */
} libxlmig__batch_writer;
/* Queue one page; flushes a full batch. */
_hidden int libxlmig__batch_add(libxlmig__gc *gc, libxlmig__batch_writer *w,
                                uint64_t pfn);
_hidden int libxlmig__batch_flush(libxlmig__gc *gc,
                                  libxlmig__batch_writer *w);

/* Reader: the header, checked; records are read by the engine. */
_hidden int libxlmig__stream_read_header(libxlmig__gc *gc,
                                         libxlmig__transport *t,
                                         uint64_t *nr_pages_r);

/* ---- parameters, policy, stats ------------------------------------ */
_hidden yajl_gen_status libxlmig__params_gen_json(yajl_gen g,
                                                  const libxlmig_params *p);
_hidden int libxlmig__params_parse_json(libxlmig__gc *gc, yajl_val v,
                                        libxlmig_params *p);
_hidden yajl_gen_status libxlmig__stats_gen_json(yajl_gen g,
                                                 const libxlmig_stats *st);
_hidden int libxlmig__stats_parse_json(libxlmig__gc *gc, yajl_val v,
                                       libxlmig_stats *st);

/* What the policy sees after each dirty-log scan. */
typedef struct libxlmig__precopy_input {
    uint32_t round;              /* rounds sent so far (>= 1) */
    uint64_t dirty_bytes;        /* dirty now, to send (bytes) */
    uint64_t prev_dirty_bytes;   /* dirty at the previous scan (bytes) */
    uint64_t last_round_bytes;   /* sent in the last round (bytes) */
    double bandwidth_bps;        /* measured (bytes/s) */
    uint64_t elapsed_ms;         /* since setup ended (ms) */
    uint32_t throttle_pct;       /* current throttle (%) */
    uint32_t stalled_rounds;     /* consecutive rounds that did not shrink */
} libxlmig__precopy_input;

typedef enum libxlmig__precopy_action {
    LIBXLMIG__PRECOPY_CONTINUE,
    LIBXLMIG__PRECOPY_STOP_AND_COPY,
    LIBXLMIG__PRECOPY_ABORT,
} libxlmig__precopy_action;

typedef struct libxlmig__precopy_decision {
    libxlmig__precopy_action action;
    uint32_t throttle_pct;        /* to apply from now (%) */
    uint32_t stalled_rounds;      /* carry to the next input */
    uint64_t expected_downtime_ms;
    const char *reason;           /* static string */
} libxlmig__precopy_decision;

/* The pre-copy policy: a pure function of the parameters and the input. */
_hidden libxlmig__precopy_decision
libxlmig__precopy_decide(const libxlmig_params *p,
                         const libxlmig__precopy_input *in);

/* Whether the page at p (LIBXLMIG__PAGE_SIZE bytes) is all zero. */
_hidden bool libxlmig__page_is_zero(const void *p);

/* ---- estimates (estimate.c) ---------------------------------------- */
/* Run r of the content sample of a domain of nr_pages: its first page
 * and length (0: none), LIBXLMIG_CONTENT_SAMPLE_RUNS spread evenly. */
_hidden void libxlmig__content_run(uint64_t nr_pages, unsigned r,
                                   uint64_t *first_r, uint32_t *len_r);
/*
 * A content sample's figures (c) from the pages a backend read: nruns
 * runs, run_len[i] pages each, one after another in buf.  The pages the
 * stream carries of each run (all, or the non-zero ones if skip_zero)
 * form one frame, compressed as the stream would.
 */
_hidden int libxlmig__content_measure(libxlmig__gc *gc, const void *buf,
                                      const uint32_t *run_len,
                                      unsigned nruns, bool skip_zero,
                                      libxlmig_content_sample *c);
/*
 * The content sample of a domain of nr_pages: each run read by read
 * (run's first page and length, into buf; returns the pages it put there,
 * one after another, those it could not read left out), then measured.
 */
typedef uint32_t libxlmig__content_read_fn(void *opaque, uint64_t first,
                                           uint32_t len, uint8_t *buf);
_hidden int libxlmig__content_take(libxlmig__gc *gc, uint64_t nr_pages,
                                   libxlmig__content_read_fn *read,
                                   void *opaque, bool skip_zero,
                                   libxlmig_content_sample *c);
/* A content sample as a JSON object into g, and back (absent: none;
 * out of range: logged PROTOCOL). */
_hidden yajl_gen_status libxlmig__content_gen(
    yajl_gen g, const libxlmig_content_sample *c);
_hidden int libxlmig__content_parse(libxlmig__gc *gc, yajl_val v,
                                    libxlmig_content_sample *c);
/* The estimate as a JSON object (with "version") into g, and back. */
_hidden yajl_gen_status libxlmig__estimate_gen(yajl_gen g,
                                               const libxlmig_estimate *e);
_hidden int libxlmig__estimate_parse(libxlmig__gc *gc, yajl_val v,
                                     libxlmig_estimate *e);

/* ---- the engine (engine.c) ---------------------------------------- */

/* The sending side's view of a domain. */
typedef struct libxlmig__mig_source {
    void *priv;
    uint64_t nr_pages;
    const uint8_t *mem;          /* readable mapping of all of RAM */
    int64_t domid;
    const char *config_json;     /* domain config record */
    int (*clean_dirty)(libxlmig__gc *gc, void *priv, unsigned long *bitmap,
                       uint64_t *count_r);
    /* The same for pages first..last-1; NULL if the backend cannot. */
    int (*clean_range)(libxlmig__gc *gc, void *priv, uint64_t first,
                       uint64_t last, unsigned long *bitmap,
                       uint64_t *count_r);
    int (*pause)(libxlmig__gc *gc, void *priv);
    int (*unpause)(libxlmig__gc *gc, void *priv);
    /* Throttle duty cycle: called from the throttle thread. */
    void (*throttle)(void *priv, bool stop);
    /* vCPU state, captured while paused; malloc'd, caller frees. */
    int (*vcpu_state)(libxlmig__gc *gc, void *priv, void **buf_r,
                      uint32_t *len_r);
} libxlmig__mig_source;

/* The receiving side: called in stream order. */
typedef struct libxlmig__mig_sink {
    void *priv;
    bool mem_zeroed;             /* create() gives all-zero RAM */
    /* Domain config record: create the (paused) domain; *mem_r is where
     * pages go, *nr_pages_r its size. */
    int (*create)(libxlmig__gc *gc, void *priv, const char *config_json,
                  uint64_t nr_pages, uint8_t **mem_r);
    int (*vcpu_state)(libxlmig__gc *gc, void *priv, const void *buf,
                      uint32_t len);
    /* Malformed stream or failure after create: destroy the domain. */
    void (*destroy)(libxlmig__gc *gc, void *priv);
} libxlmig__mig_sink;

typedef struct libxlmig__engine_opts {
    libxlmig_params params;
    bool live;
    /*
     * Send live pages by reference where the transport can (a socket;
     * docs/stream.md).  Only for callers that, after a successful save,
     * keep the source paused or destroy it until the receiver has read
     * the whole stream, as a migration's handoff and a save without
     * checkpoint do: a page the guest writes before the receiver reads
     * it fails the restore.
     */
    bool pages_by_ref;
    libxlmig_progress_cb progress;
    void *progress_user;
    /* Polled between rounds (may be NULL): true aborts the save, the
     * source keeps running. */
    bool (*cancelled)(void *progress_user);
} libxlmig__engine_opts;

/* Save src to fd.  On success the source is left paused (the caller
 * destroys, resumes or hands it off); on abort it runs as before. */
_hidden int libxlmig__engine_save(libxlmig__gc *gc,
                                  const libxlmig__mig_source *src,
                                  libxlmig__transport *t,
                                  const libxlmig__engine_opts *o,
                                  libxlmig_stats *st);
/* Read a stream from fd into sink.  On any error the sink's domain is
 * destroyed and the error logged. */
_hidden int libxlmig__engine_restore(libxlmig__gc *gc,
                                     const libxlmig__mig_sink *sink,
                                     libxlmig__transport *t,
                                     const libxlmig__engine_opts *o,
                                     libxlmig_stats *st);

/* The same on an fd the caller keeps (files, pipes, tests, benches). */
_hidden int libxlmig__engine_restore_fd(libxlmig__gc *gc,
                                        const libxlmig__mig_sink *sink,
                                        int fd,
                                        const libxlmig__engine_opts *o,
                                        libxlmig_stats *st);

#endif /* LIBXLMIG_ENGINE_H */
