/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The save-helper shim of the Xen backend (xlmig-save-shim.so): gives
 * real Xen migrations xlmig's downtime-bounded pre-copy policy.
 *
 * libxl (4.17 to 4.20) installs no pre-copy policy, so libxenguest's
 * default runs
 * (5 rounds or under 50 dirty pages, whatever the downtime).  libxl starts
 * its save helper from $LIBXL_SAVE_HELPER when set; xlmigd points that at
 * xlmig-save-helper, which execs Debian's libxl-save-helper with this
 * library preloaded for saves only.  Our xc_domain_save is then bound
 * before libxenguest's: it installs save_callbacks.precopy_policy (calling
 * the same pure libxlmig__precopy_decide the sim engine uses) and calls
 * the real xc_domain_save at the version of the libxenguest it was built
 * against (VERS_4.17.0 on Debian 12, VERS_4.20.0 on Debian 13: Config.mk
 * takes it from xenguest.pc).  On any other libxenguest (no such version)
 * or hypervisor release it refuses the save, naming both versions, rather
 * than guess at a changed ABI.
 *
 * xlmigd passes the parameters in PRECOPY_DIR/DOMID.params (key=value
 * lines) and reads one line per policy decision, and a last "done" line,
 * from PRECOPY_DIR/DOMID.progress, as they are written (flushed each).
 * Without a params file the shim is transparent.  Bandwidth is the
 * stream's bytes over the time between the policy's calls: xlmigd relays
 * the stream from a local socket and counts what it sent in a shared page,
 * PRECOPY_DIR/DOMID.wire, which the shim maps; without that page the
 * bandwidth is unknown (0).
 * libxenguest's total_written counts pages (the whole p2m in round 0),
 * not bytes on the wire.
 *
 * This file is owned by xen_backend.c (it includes xenguest.h) and is
 * built into its own shared object, never into libxlmig.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <xenctrl.h>
#include <xenguest.h>

#include "engine/engine.h"
#include "backend/xen/xen_save_shim.h"

#define SHIM_PAGE 4096u

typedef int (*save_fn)(xc_interface *, int, uint32_t, uint32_t,
                       struct save_callbacks *, xc_stream_type_t, int);

static struct {
    libxlmig_params p;
    FILE *progress;
    uint64_t t0_us;               /* xc_domain_save entered */
    uint64_t t_round_us;          /* last "after sending" call */
    uint64_t wire_round;          /* stream bytes at t_round_us */
    uint64_t t_stop_us;           /* stop-and-copy decided */
    double bandwidth;             /* bytes/s, last round */
    uint64_t prev_dirty_bytes;
    uint32_t stalled, throttle;
    unsigned rounds;
    /* the throttle: the guest's scheduler cap while it is in force */
    xc_interface *xch;
    uint32_t dom;
    int sched;                    /* XEN_SCHEDULER_*, or -1 */
    bool capped;                  /* orig_cap must be put back */
    uint16_t orig_cap;
    /* the relay's count of the stream's bytes (DOMID.wire), or NULL */
    const uint64_t *wire;
} shim;

/* Bytes of the stream sent so far: the relay's count (the stream fd is
 * a local socket), or 0 without the shared page. */
static uint64_t wire_bytes(void)
{
    if (shim.wire)
        return __atomic_load_n(shim.wire, __ATOMIC_RELAXED);
    return 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void say(const char *fmt, ...)
{
    va_list ap;

    if (!shim.progress)
        return;
    va_start(ap, fmt);
    vfprintf(shim.progress, fmt, ap);
    va_end(ap);
    fflush(shim.progress);
}

/*
 * The scheduler that runs the domain: its cpupool's, which need not be
 * the host's default (XEN_SCHEDULER_*), or -1 if it cannot be told.
 */
/*
 * The domain's Xen info: xc_domain_getinfolist is in every release the
 * shim builds for (xc_domain_getinfo went away in Xen 4.18).
 */
static bool domain_info(xc_interface *xch, uint32_t dom, xc_domaininfo_t *i)
{
    return xc_domain_getinfolist(xch, dom, 1, i) == 1 && i->domain == dom;
}

static int domain_sched(xc_interface *xch, uint32_t dom)
{
    xc_cpupoolinfo_t *pool;
    xc_domaininfo_t info;
    int id = -1;

    if (!domain_info(xch, dom, &info))
        return -1;
    /* The first pool from info.cpupool on: it must be that one. */
    pool = xc_cpupool_getinfo(xch, info.cpupool);
    if (pool && pool->cpupool_id == info.cpupool)
        id = (int)pool->sched_id;
    xc_cpupool_infofree(xch, pool);
    return id;
}

/* The domain's scheduler cap (% of one pCPU, 0: none): get or set. */
static int sched_cap(bool set, uint16_t *cap)
{
    struct xen_domctl_sched_credit c1;
    struct xen_domctl_sched_credit2 c2;

    if (shim.sched == XEN_SCHEDULER_CREDIT2) {
        if (xc_sched_credit2_domain_get(shim.xch, shim.dom, &c2))
            return -1;
        if (!set) { *cap = c2.cap; return 0; }
        c2.cap = *cap;
        return xc_sched_credit2_domain_set(shim.xch, shim.dom, &c2);
    }
    if (shim.sched == XEN_SCHEDULER_CREDIT) {
        if (xc_sched_credit_domain_get(shim.xch, shim.dom, &c1))
            return -1;
        if (!set) { *cap = c1.cap; return 0; }
        c1.cap = *cap;
        return xc_sched_credit_domain_set(shim.xch, shim.dom, &c1);
    }
    errno = EOPNOTSUPP;
    return -1;
}

/*
 * Throttle the guest to (100 - pct) % of each vCPU through its scheduler
 * cap, as the sim engine's auto-converge stops its process part of the
 * time; never looser than a cap the guest already had, which is put back
 * when the save ends (throttle_end), whatever its outcome.
 */
static void throttle_to(uint32_t pct)
{
    xc_domaininfo_t info;
    uint32_t vcpus = 1, cap;
    uint16_t c;

    if (pct == shim.throttle || shim.sched < 0)
        return;
    if (!shim.capped) {
        if (sched_cap(false, &shim.orig_cap)) {
            say("throttle=unavailable errno=%d (scheduler %d has no cap)\n",
                errno, shim.sched);
            shim.sched = -1;
            return;
        }
        shim.capped = true;
    }
    if (domain_info(shim.xch, shim.dom, &info))
        vcpus = info.max_vcpu_id + 1;
    cap = pct ? vcpus * (100 - pct) : shim.orig_cap;
    if (pct && !cap) cap = 1;
    if (pct && shim.orig_cap && cap > shim.orig_cap) cap = shim.orig_cap;
    c = (uint16_t)(cap > 65535 ? 65535 : cap);
    if (sched_cap(true, &c)) {
        say("throttle=%u failed errno=%d\n", pct, errno);
        return;
    }
    shim.throttle = pct;
    say("throttle=%u cap=%u vcpus=%u\n", pct, c, vcpus);
}

static void throttle_end(void)
{
    if (!shim.capped)
        return;
    if (sched_cap(true, &shim.orig_cap))
        say("throttle=restore-failed errno=%d cap=%u\n", errno,
            shim.orig_cap);
    else
        say("throttle=restored cap=%u\n", shim.orig_cap);
    shim.capped = false;
}

/*
 * libxenguest asks twice per round: after sending it (dirty_count -1)
 * and after reading the dirty bitmap (dirty_count = pages to send next).
 */
static int shim_policy(struct precopy_stats s, void *data)
{
    libxlmig__precopy_input in;
    libxlmig__precopy_decision d;
    uint64_t t = now_us(), w = wire_bytes(), dt;

    if (s.dirty_count < 0) {
        dt = t - shim.t_round_us;
        if (dt > 0 && w > shim.wire_round)
            shim.bandwidth = (double)(w - shim.wire_round) * 1e6 / dt;
        shim.rounds = s.iteration;          /* rounds sent so far */
        return XGS_POLICY_CONTINUE_PRECOPY;
    }
    if (s.iteration == 0) {
        /* Before anything was sent: the whole p2m is "dirty". */
        shim.t_round_us = t;
        shim.wire_round = w;
        return XGS_POLICY_CONTINUE_PRECOPY;
    }
    memset(&in, 0, sizeof(in));
    in.round = s.iteration;
    in.dirty_bytes = (uint64_t)s.dirty_count * SHIM_PAGE;
    in.prev_dirty_bytes = shim.prev_dirty_bytes;
    in.bandwidth_bps = shim.bandwidth;
    in.elapsed_ms = (t - shim.t0_us) / 1000;
    in.throttle_pct = shim.throttle;
    in.stalled_rounds = shim.stalled;
    d = libxlmig__precopy_decide(&shim.p, &in);
    shim.prev_dirty_bytes = in.dirty_bytes;
    shim.stalled = d.stalled_rounds;
    say("round=%u dirty_pages=%ld wire_bytes=%llu bandwidth=%.0f "
        "expected_downtime_ms=%llu elapsed_ms=%llu action=%s reason=%s\n",
        s.iteration, s.dirty_count, (unsigned long long)w, shim.bandwidth,
        (unsigned long long)d.expected_downtime_ms,
        (unsigned long long)in.elapsed_ms,
        d.action == LIBXLMIG__PRECOPY_STOP_AND_COPY ? "stop"
        : d.action == LIBXLMIG__PRECOPY_ABORT ? "abort" : "continue",
        d.reason);
    /* The next round's pages go out from now on. */
    shim.t_round_us = now_us();
    shim.wire_round = w;
    if (d.action == LIBXLMIG__PRECOPY_CONTINUE)
        throttle_to(d.throttle_pct);
    switch (d.action) {
    case LIBXLMIG__PRECOPY_STOP_AND_COPY:
        shim.t_stop_us = now_us();
        return XGS_POLICY_STOP_AND_COPY;
    case LIBXLMIG__PRECOPY_ABORT:
        return XGS_POLICY_ABORT;
    default:
        return XGS_POLICY_CONTINUE_PRECOPY;
    }
}

/* Read DIR/DOMID.params; false (transparent) when there is none. */
static bool load_params(uint32_t dom)
{
    const char *dir = getenv(XLMIG_SHIM_ENV_DIR);
    char path[512], line[256], *eq;
    unsigned long long v;
    void *m;
    FILE *f;
    int fd;

    if (!dir || !*dir)
        return false;
    snprintf(path, sizeof(path), "%s/%u.params", dir, dom);
    f = fopen(path, "r");
    if (!f)
        return false;
    /* xlmigd writes every key; these only stand in for missing ones. */
    memset(&shim.p, 0, sizeof(shim.p));
    shim.p.downtime_limit_ms = LIBXLMIG_DEFAULT_DOWNTIME_MS;
    shim.p.max_rounds = LIBXLMIG_DEFAULT_MAX_ROUNDS;
    shim.p.max_time_ms = LIBXLMIG_DEFAULT_MAX_TIME_MS;
    shim.p.on_limit = LIBXLMIG_LIMIT_FORCE;
    shim.p.auto_converge = true;
    shim.p.throttle_initial_pct = LIBXLMIG_DEFAULT_THROTTLE_INITIAL;
    shim.p.throttle_step_pct = LIBXLMIG_DEFAULT_THROTTLE_STEP;
    shim.p.throttle_max_pct = LIBXLMIG_DEFAULT_THROTTLE_MAX;
    while (fgets(line, sizeof(line), f)) {
        eq = strchr(line, '=');
        if (!eq) continue;
        *eq++ = '\0';
        v = strtoull(eq, NULL, 10);
        if (!strcmp(line, "downtime_limit_ms")) shim.p.downtime_limit_ms = v;
        else if (!strcmp(line, "max_rounds")) shim.p.max_rounds = (uint32_t)v;
        else if (!strcmp(line, "max_time_ms")) shim.p.max_time_ms = v;
        else if (!strcmp(line, "abort_on_limit"))
            shim.p.on_limit = v ? LIBXLMIG_LIMIT_ABORT : LIBXLMIG_LIMIT_FORCE;
        else if (!strcmp(line, "auto_converge")) shim.p.auto_converge = v;
        else if (!strcmp(line, "throttle_initial_pct"))
            shim.p.throttle_initial_pct = (uint32_t)v;
        else if (!strcmp(line, "throttle_step_pct"))
            shim.p.throttle_step_pct = (uint32_t)v;
        else if (!strcmp(line, "throttle_max_pct"))
            shim.p.throttle_max_pct = (uint32_t)v;
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/%u.wire", dir, dom);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        m = mmap(NULL, sizeof(uint64_t), PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED)
            shim.wire = m;
        close(fd);
    }
    snprintf(path, sizeof(path), "%s/%u.progress", dir, dom);
    shim.progress = fopen(path, "w");
    return true;
}

/*
 * Is this the Xen the shim was built for?  real is libxenguest's
 * xc_domain_save at the built-for version (NULL: it has none).  Says why
 * not on stderr (libxl logs it) and in the progress file, naming both.
 */
static bool shim_version_ok(xc_interface *xch, uint32_t dom, save_fn real)
{
    char running[256] = "";
    const char *lib = "libxenguest";
    Dl_info di;
    void *any;
    int v;

    if (!real) {
        any = dlsym(RTLD_NEXT, "xc_domain_save");
        if (any && dladdr(any, &di) && di.dli_fname)
            lib = di.dli_fname;
        snprintf(running, sizeof(running), "%s has no xc_domain_save@"
                 XLMIG_SHIM_XENGUEST_VERSION, lib);
    } else {
        v = xc_version(xch, XENVER_version, NULL);
        if (v < 0)
            snprintf(running, sizeof(running), "the hypervisor's version "
                     "cannot be read (errno %d)", errno);
        else if ((v >> 16) != XLMIG_XEN_MAJOR ||
                 (v & 0xffff) != XLMIG_XEN_MINOR)
            snprintf(running, sizeof(running), "the hypervisor is Xen "
                     "%d.%d", v >> 16, v & 0xffff);
    }
    if (!running[0])
        return true;
    fprintf(stderr, "xlmig-save-shim: built for Xen " XLMIG_XEN_RELEASE
            " (libxenguest " XLMIG_SHIM_XENGUEST_VERSION "), but %s: "
            "refusing the save (install the xlmig built for this Xen, or "
            "set XLMIG_SAVE_HELPER=none)\n", running);
    if (load_params(dom)) {
        say("refused built_for=" XLMIG_XEN_RELEASE " running=\"%s\"\n",
            running);
        fclose(shim.progress);
        shim.progress = NULL;
    }
    return false;
}

__attribute__((visibility("default")))
int xc_domain_save(xc_interface *xch, int io_fd, uint32_t dom,
                   uint32_t flags, struct save_callbacks *callbacks,
                   xc_stream_type_t stream_type, int recv_fd)
{
    save_fn real = (save_fn)dlvsym(RTLD_NEXT, "xc_domain_save",
                                   XLMIG_SHIM_XENGUEST_VERSION);
    uint64_t t_end;
    int r, saved_errno;

    memset(&shim, 0, sizeof(shim));
    if (!shim_version_ok(xch, dom, real)) {
        errno = ENOSYS;
        return -1;
    }
    if (!load_params(dom) || !callbacks)
        return real(xch, io_fd, dom, flags, callbacks, stream_type, recv_fd);
    if (callbacks->precopy_policy) {
        /* A libxl that sets its own policy: leave it in charge. */
        say("done rc=0 policy=libxl\n");
        return real(xch, io_fd, dom, flags, callbacks, stream_type, recv_fd);
    }
    callbacks->precopy_policy = shim_policy;
    shim.xch = xch;
    shim.dom = dom;
    shim.sched = domain_sched(xch, dom);
    shim.t0_us = shim.t_round_us = now_us();
    shim.wire_round = wire_bytes();
    say("start domid=%u downtime_limit_ms=%llu max_rounds=%u\n", dom,
        (unsigned long long)shim.p.downtime_limit_ms, shim.p.max_rounds);
    r = real(xch, io_fd, dom, flags, callbacks, stream_type, recv_fd);
    saved_errno = errno;
    throttle_end();
    t_end = now_us();
    say("done rc=%d rounds=%u total_ms=%llu final_us=%llu wire_bytes=%llu\n",
        r, shim.rounds, (unsigned long long)((t_end - shim.t0_us) / 1000),
        (unsigned long long)(shim.t_stop_us ? t_end - shim.t_stop_us : 0),
        (unsigned long long)wire_bytes());
    if (shim.progress)
        fclose(shim.progress);
    shim.progress = NULL;
    if (shim.wire)
        munmap((void *)shim.wire, sizeof(uint64_t));
    shim.wire = NULL;
    errno = saved_errno;
    return r;
}
