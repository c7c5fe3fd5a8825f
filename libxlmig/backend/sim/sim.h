/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The simulated hypervisor (backend/sim): sim domains (sim_dom.c), the
 * in-daemon host that owns them (sim_host.c), its control requests, and
 * the client side that CLI processes use (sim_client.c).  Includes
 * nothing of backend/xen.
 */
#ifndef LIBXLMIG_BACKEND_SIM_H
#define LIBXLMIG_BACKEND_SIM_H

#include <sys/types.h>

#include "core/core.h"
#include "engine/engine.h"
#include "host/host.h"

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
    uint32_t content;        /* libxlmig_sim_content of its pages */
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
    libxlmig_sim_content content; /* RANDOM or MIXED; DEFAULT: random */
} libxlmig__sim_config;

/*
 * Fill page (LIBXLMIG__PAGE_SIZE bytes) with what a guest of content
 * model content (libxlmig_sim_content) writes for key, a function of
 * (seed, pfn, generation) (sim_content.c).  Deterministic: the guest
 * checks a page by generating it again.
 */
_hidden void libxlmig__sim_page_gen(uint32_t content, uint64_t key,
                                    uint8_t *page);
/* Make the generator's tables now: before a fork, so that the child
 * never inherits them half made by another thread. */
_hidden void libxlmig__sim_content_init(void);

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

/* Run the engine's save side on a sim domain (sim_host.c). */
_hidden int libxlmig__sim_save(libxlmig__gc *gc, libxlmig__sim_dom *d,
                               libxlmig__transport *t,
                               const libxlmig__engine_opts *o,
                               libxlmig_stats *st);

_hidden int libxlmig__sim_save_fd(libxlmig__gc *gc, libxlmig__sim_dom *d,
                                  int fd, const libxlmig__engine_opts *o,
                                  libxlmig_stats *st);

/* The sim host inside xlmigd, which owns the node's sim domains
 * (sim_host.c), and what CLI processes open instead: its client over the
 * control socket (sim_client.c). */
_hidden extern const libxlmig__host_ops libxlmig__host_sim;
_hidden extern const libxlmig__host_ops libxlmig__host_sim_client;

/* Host facts from Linux (/proc, sysconf, uname) for the sim backend,
 * and the CPU policy the cpuid instruction shows (hostinfo_linux.c). */
_hidden int libxlmig__host_info_linux(libxlmig__gc *gc,
                                      libxlmig_host_info *hi);
_hidden int libxlmig__cpu_policy_linux(libxlmig__gc *gc,
                                       struct policy_cpuid *p);

/* A 64-bit mixer (splitmix64's finaliser): page contents and choices
 * as functions of a seed, page and generation. */
static inline uint64_t libxlmig__sim_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif /* LIBXLMIG_BACKEND_SIM_H */
