/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Internal interfaces of the migration engine and the simulated
 * hypervisor: sim domains (sim_dom.c), the stream (stream.c), the pre-copy
 * policy (precopy.c), the engine (engine.c), stats and parameters.  The
 * engine sees a domain only through libxlmig__mig_source (sending side)
 * and libxlmig__mig_sink (receiving side), and the stream only through a
 * file descriptor, so the Xen backend and the cluster transport reuse it.
 */
#ifndef LIBXLMIG_MIG_H
#define LIBXLMIG_MIG_H

#include <sys/types.h>
#include <sys/uio.h>

#include "libxlmig_internal.h"
#include "peer.h"

#define LIBXLMIG__PAGE_SHIFT 12
#define LIBXLMIG__PAGE_SIZE  (1UL << LIBXLMIG__PAGE_SHIFT)

/* ---- bitmaps ------------------------------------------------------- */
#define LIBXLMIG__BPL (8 * sizeof(unsigned long))
static inline void bitmap_set(unsigned long *b, uint64_t i)
{ b[i / LIBXLMIG__BPL] |= 1UL << (i % LIBXLMIG__BPL); }
static inline void bitmap_clear(unsigned long *b, uint64_t i)
{ b[i / LIBXLMIG__BPL] &= ~(1UL << (i % LIBXLMIG__BPL)); }
static inline bool bitmap_test(const unsigned long *b, uint64_t i)
{ return b[i / LIBXLMIG__BPL] & (1UL << (i % LIBXLMIG__BPL)); }
static inline size_t bitmap_longs(uint64_t n)
{ return (n + LIBXLMIG__BPL - 1) / LIBXLMIG__BPL; }

/* ---- sim domains (sim_dom.c) ------------------------------------- */

/*
 * The vCPU page: shared between the controller and the domain process.
 * The workload keeps its registers here, so the controller captures them
 * while the process is stopped.  cur_pfn/cur_gen/busy describe the page
 * write in progress: a restored domain redoes it before anything else.
 */
#define LIBXLMIG__SIM_VCPU_MAGIC 0x55504356u   /* "VCPU" */
typedef struct libxlmig__sim_vcpu {
    uint32_t magic;
    uint32_t version;
    /* the registers: migrated in the vCPU record */
    uint64_t rng;            /* workload PRNG state */
    uint64_t nr_writes;      /* pages written since creation (pages) */
    uint64_t cur_pfn;        /* page being written */
    uint32_t cur_gen;        /* generation being written */
    uint32_t busy;           /* 1 while cur_pfn is being written */
    /* the machine: from the domain config */
    uint64_t seed;
    uint64_t nr_pages;       /* pages of RAM */
    uint64_t gen_pages;      /* pages 0..gen_pages-1 hold the gen table */
    uint64_t ws_pages;       /* working set: pages after the gen table */
    uint64_t dirty_rate;     /* pages/s; UINT64_MAX: as fast as it can */
    uint32_t hot_pct;        /* 0: uniform; else % of writes to the hot 10% */
    uint32_t zero_permille;  /* initial zero pages, per mille */
    /* set by the domain process */
    uint64_t guest_base;     /* address of RAM in the domain process */
    volatile int32_t ready;  /* 1: set up; -errno: failed */
    int32_t pad;
} libxlmig__sim_vcpu;

/* The part of the vCPU page that travels in the vCPU state record. */
typedef struct libxlmig__sim_regs {
    uint64_t rng, nr_writes, cur_pfn;
    uint32_t cur_gen, busy;
} libxlmig__sim_regs;

typedef struct libxlmig__sim_config {
    char name[64];
    char uuid[37];
    char mac[18];
    char ip[16];
    uint64_t memory_mib;
    uint64_t dirty_rate;         /* pages/s */
    uint64_t working_set_mib;    /* 0: all of RAM */
    double zero_fraction;
    uint32_t hot_pct;
    uint64_t seed;
} libxlmig__sim_config;

typedef struct libxlmig__sim_dom {
    libxlmig__sim_config cfg;
    uint32_t domid;
    pid_t pid;                   /* the domain process; -1 when gone */
    int pidfd;                   /* pidfd_open(pid), or -1 */
    bool adopted;                /* not our child: a restarted daemon's */
    int memfd;
    int vcpufd;                  /* memfd of the vCPU page */
    int pagemap_fd;              /* /proc/PID/pagemap, for PAGEMAP_SCAN */
    uint8_t *mem;                /* the controller's mapping of RAM */
    uint64_t nr_pages;
    libxlmig__sim_vcpu *vcpu;    /* shared page */
    bool paused;
    bool busy;                   /* a save or restore is using it */
    bool user_paused;            /* xlmigd: paused by xlmig pause */
    uint64_t start_time;         /* xlmigd: of the process, /proc/PID/stat */
} libxlmig__sim_dom;

/*
 * Create a domain process.  fresh: fill RAM with its initial content and
 * start running; else RAM stays zero (a restore fills it) and the process
 * starts paused.  Fails with a clear message if the kernel lacks
 * userfaultfd async write-protect or PAGEMAP_SCAN.  Free with _destroy.
 */
_hidden int libxlmig__sim_dom_create(libxlmig__gc *gc,
                                     const libxlmig__sim_config *cfg,
                                     bool fresh, libxlmig__sim_dom **dom_r);
/*
 * Give a paused, not yet filled domain (created with fresh=false) the
 * identity and workload of cfg, of the same memory size: a receiver can
 * create its domain (and allocate its RAM) before the stream arrives, as
 * libxl does from the config xl migrate sends ahead of the stream.
 */
_hidden int libxlmig__sim_dom_adopt(libxlmig__gc *gc, libxlmig__sim_dom *d,
                                    const libxlmig__sim_config *cfg);
/*
 * Domains that outlive the process that created them (xlmigd): created
 * in their own session, they do not end with their creator, and keep
 * their RAM and vCPU page at fds 3 and 4 so that another process can
 * take them over (sim_dom_adopt_pid).  Default off: a test program's or
 * a benchmark's domains end with it.
 */
_hidden void libxlmig__sim_set_persistent(bool on);
/*
 * Take over a running or paused domain process started by an earlier
 * xlmigd: pid, its start time (field 22 of /proc/PID/stat, against pid
 * reuse) and its config.  Reopens RAM and vCPU page through /proc/PID/fd
 * and checks they are what cfg says.
 */
_hidden int libxlmig__sim_dom_adopt_pid(libxlmig__gc *gc, pid_t pid,
                                        uint64_t start_time,
                                        const libxlmig__sim_config *cfg,
                                        libxlmig__sim_dom **dom_r);
/* The start time of a process (field 22 of /proc/PID/stat); 0: none. */
_hidden uint64_t libxlmig__proc_start_time(pid_t pid);
/* Load a vCPU state record (libxlmig__sim_regs) into the paused d;
 * PROTOCOL (logged) if malformed. */
_hidden int libxlmig__sim_dom_set_regs(libxlmig__gc *gc, libxlmig__sim_dom *d,
                                       const void *buf, uint32_t len);
/* Check the kernel has what dirty tracking needs; clear message if not. */
_hidden int libxlmig__sim_probe(libxlmig__gc *gc);
/* Kill the process, unmap, close; frees dom.  NULL is a no-op. */
_hidden void libxlmig__sim_dom_destroy(libxlmig__sim_dom *dom);
/* SIGSTOP and wait until stopped / SIGCONT. */
_hidden int libxlmig__sim_dom_pause(libxlmig__gc *gc, libxlmig__sim_dom *d);
_hidden int libxlmig__sim_dom_unpause(libxlmig__gc *gc, libxlmig__sim_dom *d);
/* Log-dirty CLEAN: OR the pages written since the last call into bitmap
 * (may be NULL: discard) and re-arm tracking; *count_r new bits. */
_hidden int libxlmig__sim_dom_clean_dirty(libxlmig__gc *gc,
                                          libxlmig__sim_dom *d,
                                          unsigned long *bitmap,
                                          uint64_t *count_r);
/* The same for pages first..last-1 only. */
_hidden int libxlmig__sim_dom_clean_range(libxlmig__gc *gc,
                                          libxlmig__sim_dom *d,
                                          uint64_t first, uint64_t last,
                                          unsigned long *bitmap,
                                          uint64_t *count_r);
/* Check every page against (seed, pfn, generation).  Pauses the domain
 * while checking if it runs.  *bad_r pages differ, *first_bad_r the
 * first (UINT64_MAX if none). */
_hidden int libxlmig__sim_dom_verify(libxlmig__gc *gc, libxlmig__sim_dom *d,
                                     uint64_t *bad_r, uint64_t *first_bad_r);
_hidden bool libxlmig__sim_dom_alive(libxlmig__sim_dom *d);
_hidden int libxlmig__sim_config_to_json(libxlmig__gc *gc,
                                         const libxlmig__sim_config *c,
                                         char **json_r);
_hidden int libxlmig__sim_config_from_json(libxlmig__gc *gc, const char *s,
                                           libxlmig__sim_config *c);
/* Fill in uuid/mac/ip/seed when empty. */
_hidden void libxlmig__sim_config_complete(libxlmig__sim_config *c,
                                           uint32_t domid);

/* ---- CRC32C (stream.c) ------------------------------------------- */

/* ---- the stream (stream.c, docs/stream.md) ---------------------- */
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
/* Batch flags (the word after the count; PAGE_DATA only): */
#define LIBXLMIG__BATCH_BY_REF   (1u << 0)  /* pages may change until read */
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

/* Write helpers: full writes, retried on EINTR/partial. */
/* Step iov/iovcnt past done bytes (a partial writev or readv). */
_hidden void libxlmig__iov_advance(struct iovec **iov, int *iovcnt,
                                   size_t done);
_hidden int libxlmig__write_full(libxlmig__gc *gc, libxlmig__transport *t,
                                 struct iovec *iov, int iovcnt);
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
    uint32_t *crcs;          /* BATCH_PAGES entries (caller's) */
    uint64_t unstable;       /* pages flagged unstable (pages) */
    uint8_t *data;           /* staging, BATCH_PAGES pages (caller's) */
    uint64_t npfn, nzero, ndata;
    uint64_t pfns[LIBXLMIG__BATCH_PAGES];
    uint64_t bytes;          /* written through this writer (bytes) */
    uint64_t total_data, total_zero;   /* pages queued (pages) */
} libxlmig__batch_writer;
/* Queue one page; flushes a full batch. */
_hidden int libxlmig__batch_add(libxlmig__gc *gc, libxlmig__batch_writer *w,
                                uint64_t pfn);
_hidden int libxlmig__batch_flush(libxlmig__gc *gc,
                                  libxlmig__batch_writer *w);

/* Reader: full reads with a clear error on EOF. */
_hidden int libxlmig__read_full(libxlmig__gc *gc, libxlmig__transport *t,
                                void *buf,
                                size_t len, const char *what);
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

_hidden uint64_t libxlmig__now_us(void);

/* Run the engine's save side on a sim domain (sim_daemon.c). */
_hidden int libxlmig__sim_save(libxlmig__gc *gc, libxlmig__sim_dom *d,
                               libxlmig__transport *t,
                               const libxlmig__engine_opts *o,
                               libxlmig_stats *st);

_hidden int libxlmig__sim_save_fd(libxlmig__gc *gc, libxlmig__sim_dom *d,
                                  int fd, const libxlmig__engine_opts *o,
                                  libxlmig_stats *st);

/* ---- the daemon client (backend_sim.c) ---------------------------- */
_hidden const char *libxlmig__sim_socket_path(void);

#endif /* LIBXLMIG_MIG_H */
