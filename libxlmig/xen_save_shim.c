/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The save-helper shim of the Xen backend (xlmig-save-shim.so): gives
 * real Xen migrations xlmig's downtime-bounded pre-copy policy.
 *
 * libxl 4.17 installs no pre-copy policy, so libxenguest's default runs
 * (5 rounds or under 50 dirty pages, whatever the downtime).  libxl starts
 * its save helper from $LIBXL_SAVE_HELPER when set; xlmigd points that at
 * xlmig-save-helper, which execs Debian's libxl-save-helper with this
 * library preloaded for saves only.  Our xc_domain_save is then bound
 * before libxenguest's: it installs save_callbacks.precopy_policy (calling
 * the same pure libxlmig__precopy_decide the sim engine uses) and calls
 * the real xc_domain_save@VERS_4.17.0.  On any other libxenguest (no such
 * version) it refuses the save rather than guess at a changed ABI.
 *
 * xlmigd passes the parameters in PRECOPY_DIR/DOMID.params (key=value
 * lines) and reads one line per policy decision, and a last "done" line,
 * from PRECOPY_DIR/DOMID.progress.  Without a params file the shim is
 * transparent.  Bandwidth is the stream socket's bytes (TCP_INFO) over the
 * time between the policy's calls; libxenguest's total_written counts
 * pages (the whole p2m in round 0), not bytes on the wire.
 *
 * This file is owned by backend_xen.c (it includes xenguest.h) and is
 * built into its own shared object, never into libxlmig.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>

#include <xenctrl.h>
#include <xenguest.h>

#include "libxlmig_mig.h"
#include "xen_save_shim.h"

#define SHIM_PAGE 4096u

typedef int (*save_fn)(xc_interface *, int, uint32_t, uint32_t,
                       struct save_callbacks *, xc_stream_type_t, int);

static struct {
    libxlmig_params p;
    FILE *progress;
    int io_fd;
    uint64_t t0_us;               /* xc_domain_save entered */
    uint64_t t_round_us;          /* last "after sending" call */
    uint64_t wire_round;          /* socket bytes at t_round_us */
    uint64_t t_stop_us;           /* stop-and-copy decided */
    double bandwidth;             /* bytes/s, last round */
    uint64_t prev_dirty_bytes;
    uint32_t stalled, throttle;
    unsigned rounds;
} shim;

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Bytes written into the stream socket so far, or 0 if not a socket. */
static uint64_t wire_bytes(int fd)
{
    struct tcp_info ti;
    socklen_t sl = sizeof(ti);
    int outq = 0;

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl))
        return 0;
    if (ioctl(fd, SIOCOUTQ, &outq))
        outq = 0;
    return ti.tcpi_bytes_acked + (uint64_t)(outq > 0 ? outq : 0);
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
 * libxenguest asks twice per round: after sending it (dirty_count -1)
 * and after reading the dirty bitmap (dirty_count = pages to send next).
 */
static int shim_policy(struct precopy_stats s, void *data)
{
    libxlmig__precopy_input in;
    libxlmig__precopy_decision d;
    uint64_t t = now_us(), w = wire_bytes(shim.io_fd), dt;

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
    /* The helper has no libxl to cap the guest with: no throttle. */
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
    FILE *f;

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
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/%u.progress", dir, dom);
    shim.progress = fopen(path, "w");
    return true;
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

    if (!real) {
        fprintf(stderr, "xlmig-save-shim: libxenguest has no xc_domain_save@"
                XLMIG_SHIM_XENGUEST_VERSION ": refusing the save (unset "
                "LIBXL_SAVE_HELPER or install the matching xlmig)\n");
        errno = ENOSYS;
        return -1;
    }
    memset(&shim, 0, sizeof(shim));
    if (!load_params(dom) || !callbacks)
        return real(xch, io_fd, dom, flags, callbacks, stream_type, recv_fd);
    if (callbacks->precopy_policy) {
        /* A libxl that sets its own policy: leave it in charge. */
        say("done rc=0 policy=libxl\n");
        return real(xch, io_fd, dom, flags, callbacks, stream_type, recv_fd);
    }
    callbacks->precopy_policy = shim_policy;
    shim.io_fd = io_fd;
    shim.t0_us = shim.t_round_us = now_us();
    shim.wire_round = wire_bytes(io_fd);
    say("start domid=%u downtime_limit_ms=%llu max_rounds=%u\n", dom,
        (unsigned long long)shim.p.downtime_limit_ms, shim.p.max_rounds);
    r = real(xch, io_fd, dom, flags, callbacks, stream_type, recv_fd);
    saved_errno = errno;
    t_end = now_us();
    say("done rc=%d rounds=%u total_ms=%llu final_us=%llu wire_bytes=%llu\n",
        r, shim.rounds, (unsigned long long)((t_end - shim.t0_us) / 1000),
        (unsigned long long)(shim.t_stop_us ? t_end - shim.t_stop_us : 0),
        (unsigned long long)wire_bytes(io_fd));
    if (shim.progress)
        fclose(shim.progress);
    shim.progress = NULL;
    errno = saved_errno;
    return r;
}
