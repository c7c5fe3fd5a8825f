/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The stream reader refuses every malformed input with a clear error:
 * bad magic, future version, header checksum, truncation at several
 * points, a corrupted page, a page number out of range, an unknown record
 * type, an oversized record, unknown batch flags, a page sent by
 * reference that changed and never came again.  The receiving domain is
 * destroyed and the source keeps running.  A valid stream of the same live
 * save restores and verifies, and so does one where a page sent by
 * reference changed in flight and came again.  Over a transport that
 * authenticates every byte (as TLS does) the stream has no page CRCs;
 * such a stream is refused over one that does not, and restores and
 * verifies over one that does.  Live saves of a busy
 * domain into a receiver process restore and verify: over a socketpair
 * with its pages by reference (a slow reader: many of them changed before
 * it read them), over a pipe and with
 * XLMIG_ENGINE_NO_SPLICE=1 by copying.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "backend/sim/sim.h"
#include "sealed.h"
#include "tap.h"

typedef struct sink_state {
    libxlmig__sim_dom *d;
    bool created, destroyed;
} sink_state;

static int t_create(libxlmig__gc *gc, void *priv, const char *config,
                    uint64_t nr_pages, uint8_t **mem_r)
{
    sink_state *s = priv;
    libxlmig__sim_config cfg;
    int rc;

    rc = libxlmig__sim_config_from_json(gc, config, &cfg);
    if (rc) return rc;
    snprintf(cfg.name, sizeof(cfg.name), "target");
    rc = libxlmig__sim_dom_create(gc, &cfg, false, &s->d);
    if (rc) return rc;
    s->created = true;
    *mem_r = s->d->mem;
    return 0;
}

static int t_vcpu(libxlmig__gc *gc, void *priv, const void *buf,
                  uint32_t len)
{
    sink_state *s = priv;
    const libxlmig__sim_regs *r = buf;

    if (len != sizeof(*r)) return LIBXLMIG_ERROR_PROTOCOL;
    s->d->vcpu->rng = r->rng;
    s->d->vcpu->cur_pfn = r->cur_pfn;
    s->d->vcpu->cur_gen = r->cur_gen;
    s->d->vcpu->busy = r->busy;
    return 0;
}

static void t_destroy(libxlmig__gc *gc, void *priv)
{
    sink_state *s = priv;

    libxlmig__sim_dom_destroy(s->d);
    s->d = NULL;
    s->destroyed = true;
}

static int restore_buf(libxlmig_ctx *ctx, const uint8_t *buf, size_t len,
                       sink_state *s)
{
    GC_INIT(ctx);
    libxlmig__mig_sink sink = { s, true, t_create, t_vcpu, t_destroy };
    libxlmig__engine_opts o;
    libxlmig_stats st;
    int fd = memfd_create("stream", MFD_CLOEXEC), rc;

    memset(&o, 0, sizeof(o));
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len ||
        lseek(fd, 0, SEEK_SET))
        bail("cannot stage the stream");
    rc = libxlmig__engine_restore_fd(gc, &sink, fd, &o, &st);
    close(fd);
    GC_FREE;
    return rc;
}

/* Records follow each other unpadded: access them through types of
 * alignment 1 (a plain cast would be undefined behaviour). */
typedef uint32_t u32u __attribute__((aligned(1), may_alias));
typedef uint64_t u64u __attribute__((aligned(1), may_alias));
typedef struct __attribute__((packed, may_alias)) hdr_u {
    uint32_t type, body_len, crc, reserved;   /* libxlmig__rec_hdr */
} hdr_u;

/* Recompute a record's CRC (PAGE_DATA: header and pfn list only). */
static void fix_crc(uint8_t *rec)
{
    hdr_u *h = (hdr_u *)rec;
    uint32_t len = h->body_len;

    if (h->type == LIBXLMIG__REC_PAGE_DATA)
        len = 8 + 8 * *(u32u *)(rec + sizeof(*h));
    h->crc = libxlmig__crc32c(0, h, 8);
    h->crc = libxlmig__crc32c(h->crc, rec + sizeof(*h), len);
}

static uint32_t rec_len(const uint8_t *rec)
{
    return sizeof(libxlmig__rec_hdr) +
           ((const hdr_u *)rec)->body_len;
}

enum mut { M_MAGIC, M_VERSION, M_HDRCRC, M_TRUNC_HDR, M_TRUNC_BATCH,
           M_TRUNC_END, M_DATA, M_PFN, M_TYPE, M_HUGE, M_NOCHECK,
           M_NEVER_RESENT, M_FLAGS, M_REF_NEVER_RESENT };

static const struct {
    const char *name;
    enum mut m;
    const char *msg;
    bool creates;
} cases[] = {
    { "bad magic", M_MAGIC, "bad magic", false },
    { "future version", M_VERSION, "version 3 is not supported", false },
    { "header checksum", M_HDRCRC, "header checksum mismatch", false },
    { "truncated header", M_TRUNC_HDR, "truncated", false },
    { "truncated page batch", M_TRUNC_BATCH, "truncated", true },
    { "truncated before the end record", M_TRUNC_END, "truncated", true },
    { "corrupted page data", M_DATA, "checksum mismatch in page", true },
    { "page number out of range", M_PFN, "out of range", true },
    { "unknown record type", M_TYPE, "unknown record type 99", true },
    { "oversized record", M_HUGE, "limit", true },
    { "page data without its check", M_NOCHECK,
      "without its page check record", true },
    { "changing page never resent", M_NEVER_RESENT, "never resent", true },
    { "unknown batch flags", M_FLAGS, "unknown flags 0x6", true },
    { "page changed by reference, never resent", M_REF_NEVER_RESENT,
      "never resent", true },
};

/* The index of the first data page of a PAGE_CHECK not flagged unstable. */
static uint32_t stable_page(const u32u *cb)
{
    uint32_t k, u;

    for (k = 0; k < cb[0]; k++) {
        for (u = 0; u < cb[1]; u++)
            if (cb[2 + cb[0] + u] == k) break;
        if (u == cb[1]) return k;
    }
    bail("no stable page in the first batch");
}

/* In the PAGE_DATA at rec: flag it sent by reference and damage data
 * page k, as if the guest wrote it before the receiver read it. */
static void changed_by_ref(uint8_t *rec, uint32_t k)
{
    uint32_t count = *(u32u *)(rec + 16);

    *(u32u *)(rec + 20) = LIBXLMIG__BATCH_BY_REF;
    fix_crc(rec);
    rec[16 + 8 + count * 8 + (size_t)k * 4096 + 100] ^= 0x40;
}

/*
 * A reader that takes its time, 256 KiB a millisecond: pages sent by
 * reference wait in the socket while the guest rewrites its working set,
 * so many arrive changed and must come again.
 */
#define SLOW_READ (256 << 10)

static ssize_t slow_read(libxlmig__transport *t, void *buf, size_t len)
{
    usleep(1000);
    return read(t->fd, buf, len > SLOW_READ ? SLOW_READ : len);
}

static ssize_t slow_readv(libxlmig__transport *t, const struct iovec *iov,
                          int iovcnt)
{
    struct iovec v[64];
    size_t left = SLOW_READ;
    int n;

    usleep(1000);
    for (n = 0; n < iovcnt && n < 64 && left; n++) {
        v[n] = iov[n];
        if (v[n].iov_len > left) v[n].iov_len = left;
        left -= v[n].iov_len;
    }
    return readv(t->fd, v, n);
}

static void slow_close(libxlmig__transport *t)
{
    t->fd = -1;   /* the caller's */
}

static const libxlmig__transport_ops slow_ops = {
    .name = "slow reader",
    .read = slow_read,
    .readv = slow_readv,
    .close = slow_close,
};

/* Restore from fd (at its start) through a sealed transport. */
static int restore_sealed(libxlmig_ctx *ctx, int fd, sink_state *s)
{
    GC_INIT(ctx);
    libxlmig__mig_sink sink = { s, true, t_create, t_vcpu, t_destroy };
    libxlmig__transport *t = NULL;
    libxlmig__transport_ops ops;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    int rc;

    memset(&o, 0, sizeof(o));
    lseek(fd, 0, SEEK_SET);
    rc = libxlmig__transport_fd_borrow(gc, fd, "the test", &t);
    if (!rc) {
        test_seal(t, &ops);
        rc = libxlmig__engine_restore(gc, &sink, t, &o, &st);
    }
    libxlmig__transport_free(t);
    GC_FREE;
    return rc;
}

/*
 * A live save of d into a receiver process over a socketpair or a pipe,
 * pages by reference where the transport can.  Returns the save's rc;
 * *rrc_r: the receiver's exit status (0: restored, and it verifies).
 */
static int live_over(libxlmig_ctx *ctx, libxlmig__sim_dom *d, bool sock,
                     libxlmig_stats *st, int *rrc_r)
{
    GC_INIT(ctx);
    libxlmig__engine_opts o;
    int fds[2], status = -1, rc;
    pid_t pid;

    /* fds[0] reads, fds[1] writes. */
    if (sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : pipe(fds))
        sysbail("cannot create the stream");
    if (sock) {
        int sz = 4 << 20;
        setsockopt(fds[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
        setsockopt(fds[0], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
    }
    memset(&o, 0, sizeof(o));
    pid = fork();
    if (pid < 0) sysbail("fork");
    if (pid == 0) {
        sink_state s;
        libxlmig__mig_sink sink = { &s, true, t_create, t_vcpu, t_destroy };
        libxlmig_stats rst;
        uint64_t bad = 1, first;

        close(fds[1]);
        memset(&s, 0, sizeof(s));
        libxlmig__transport *t = NULL;

        if (libxlmig__transport_fd_borrow(gc, fds[0], "the test", &t))
            _exit(1);
        t->ops = &slow_ops;
        if (libxlmig__engine_restore(gc, &sink, t, &o, &rst) || !s.d)
            _exit(1);
        libxlmig__transport_free(t);
        libxlmig__sim_dom_verify(gc, s.d, &bad, &first);
        libxlmig__sim_dom_destroy(s.d);
        _exit(bad ? 2 : 0);
    }
    close(fds[0]);
    libxlmig_params_init(&o.params);
    o.live = true;
    o.pages_by_ref = true;
    rc = libxlmig__sim_save_fd(gc, d, fds[1], &o, st);
    close(fds[1]);
    waitpid(pid, &status, 0);
    *rrc_r = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    /* Runs on once the receiver has read all it was sent. */
    if (!rc) libxlmig__sim_dom_unpause(gc, d);
    GC_FREE;
    return rc;
}

/* A running sim domain (MiB, pages/s, working set MiB, zero pages). */
static libxlmig__sim_dom *start_dom(libxlmig_ctx *ctx, const char *name,
                                    uint64_t mib, uint64_t rate,
                                    uint64_t ws_mib, double zero)
{
    GC_INIT(ctx);
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.name, sizeof(cfg.name), "%s", name);
    cfg.memory_mib = mib;
    cfg.dirty_rate = rate;
    cfg.working_set_mib = ws_mib;
    cfg.zero_fraction = zero;
    libxlmig__sim_config_complete(&cfg, 1);
    if (libxlmig__sim_dom_create(gc, &cfg, true, &d))
        d = NULL;
    GC_FREE;
    return d;
}

int main(void)
{
    libxlmig_ctx *ctx;
    libxlmig__sim_dom *src = NULL;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    uint8_t *stream, *b;
    size_t len, cfg_len, batch;
    uint64_t bad = 1, first;
    sink_state s;
    int fd, rc;
    size_t i;

    plan(22 + 4 * ARRAY_SIZE(cases));
    signal(SIGPIPE, SIG_IGN);   /* a receiver that gives up: EPIPE */
    if (libxlmig_ctx_alloc(&ctx, NULL)) bail("no context");
    {
        GC_INIT(ctx);
        src = start_dom(ctx, "source", 16, 2000, 0, 0.25);
        if (!src) skip_all("cannot create a sim domain: %s",
                           libxlmig_last_error(ctx));
        fd = memfd_create("saved", MFD_CLOEXEC);
        memset(&o, 0, sizeof(o));
        libxlmig_params_init(&o.params);
        o.live = true;
        rc = libxlmig__sim_save_fd(gc, src, fd, &o, &st);
        is_int(0, rc, "live save of a running 16 MiB domain");
        libxlmig__sim_dom_unpause(gc, src);
        len = lseek(fd, 0, SEEK_END);
        stream = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        b = malloc(len);
        if (stream == MAP_FAILED || !b) bail("cannot map the stream");
        GC_FREE;
    }
    cfg_len = ((hdr_u *)(stream + 32))->body_len;
    batch = 32 + 16 + cfg_len;

    memset(&s, 0, sizeof(s));
    rc = restore_buf(ctx, stream, len, &s);
    is_int(0, rc, "the valid stream restores");
    {
        GC_INIT(ctx);
        if (s.d) libxlmig__sim_dom_verify(gc, s.d, &bad, &first);
        is_int(0, bad, "and the restored domain verifies");
        libxlmig__sim_dom_destroy(s.d);
        GC_FREE;
    }

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t n = len;
        hdr_u *h = (hdr_u *)(b + batch);
        uint32_t count;

        uint8_t *chk = b + batch + rec_len(stream + batch);
        u32u *cb = (u32u *)(chk + 16);
        uint32_t k;

        memcpy(b, stream, len);
        count = *(u32u *)(b + batch + 16);
        if (h->type != LIBXLMIG__REC_PAGE_DATA ||
            ((hdr_u *)chk)->type != LIBXLMIG__REC_PAGE_CHECK)
            bail("the live stream should start with PAGE_DATA+PAGE_CHECK");
        switch (cases[i].m) {
        case M_MAGIC: b[0] ^= 0xff; break;
        case M_VERSION: b[8] = 3; break;
        case M_HDRCRC: b[16] ^= 1; break;
        case M_TRUNC_HDR: n = 20; break;
        case M_TRUNC_BATCH: n = batch + 16 + 8 + count * 8 + 1000; break;
        case M_TRUNC_END: n = len - 16; break;
        case M_DATA:
            /* A page sent stable (not flagged as changing). */
            k = stable_page(cb);
            b[batch + 16 + 8 + count * 8 + (size_t)k * 4096 + 100] ^= 0x40;
            break;
        case M_FLAGS:
            *(u32u *)(b + batch + 20) = 6;
            fix_crc(b + batch);
            break;
        case M_REF_NEVER_RESENT: {
            /* The damaged batch, its check, vCPU state and END. */
            size_t tail = 16 + sizeof(libxlmig__sim_regs) + 16;
            changed_by_ref(b + batch, stable_page(cb));
            memcpy(chk + rec_len(chk), stream + len - tail, tail);
            n = (chk - b) + rec_len(chk) + tail;
            break;
        }
        case M_NOCHECK:
            memmove(chk, chk + rec_len(chk), len - (chk - b) - rec_len(chk));
            n = len - rec_len(stream + (chk - b));
            break;
        case M_NEVER_RESENT: {
            /* Header, config, the first batch with every page flagged
             * as changing, then vCPU state and END: nothing resent. */
            size_t tail = 16 + sizeof(libxlmig__sim_regs) + 16;
            uint32_t nd = cb[0];
            uint8_t *p = chk + 16 + 8 + 4 * nd;
            for (k = 0; k < nd; k++)
                ((u32u *)p)[k] = k;
            cb[1] = nd;
            ((hdr_u *)chk)->body_len = 8 + 8 * nd;
            fix_crc(chk);
            memcpy(chk + rec_len(chk), stream + len - tail, tail);
            n = (chk - b) + rec_len(chk) + tail;
            break;
        }
        case M_PFN:
            *(u64u *)(b + batch + 16 + 8) = 1ULL << 40;
            fix_crc(b + batch);
            break;
        case M_TYPE: h->type = 99; fix_crc(b + batch); break;
        case M_HUGE: h->body_len = 1u << 30; break;
        }
        memset(&s, 0, sizeof(s));
        rc = restore_buf(ctx, b, n, &s);
        is_int(LIBXLMIG_ERROR_PROTOCOL, rc, "%s: refused", cases[i].name);
        like_string(cases[i].msg, libxlmig_last_error(ctx),
                    "%s: says why", cases[i].name);
        ok(cases[i].creates ? s.created && s.destroyed && !s.d
                            : !s.created,
           "%s: %s", cases[i].name,
           cases[i].creates ? "partial domain destroyed"
                            : "refused before creating a domain");
        ok(libxlmig__sim_dom_alive(src) && !src->paused,
           "%s: source still running", cases[i].name);
    }

    /* Changed in flight and sent again: the second copy is checked. */
    {
        size_t end1 = batch + rec_len(stream + batch);
        size_t end2 = end1 + rec_len(stream + end1);
        uint8_t *r = malloc(len + (end2 - batch));

        if (!r) bail("out of memory");
        memcpy(r, stream, end2);
        changed_by_ref(r + batch, stable_page((u32u *)(r + end1 + 16)));
        memcpy(r + end2, stream + batch, len - batch);
        memset(&s, 0, sizeof(s));
        rc = restore_buf(ctx, r, len + (end2 - batch), &s);
        is_int(0, rc, "a page changed by reference and resent: restores");
        {
            GC_INIT(ctx);
            bad = 1;
            if (s.d) libxlmig__sim_dom_verify(gc, s.d, &bad, &first);
            is_int(0, bad, "and the restored domain verifies");
            libxlmig__sim_dom_destroy(s.d);
            GC_FREE;
        }
        free(r);
    }
    /* Over a transport that authenticates every byte: no page CRCs. */
    {
        GC_INIT(ctx);
        libxlmig__transport *t = NULL;
        libxlmig__transport_ops ops;
        uint8_t *sealed = MAP_FAILED;
        size_t slen = 0, chk;
        u32u *cb;

        fd = memfd_create("sealed", MFD_CLOEXEC);
        memset(&o, 0, sizeof(o));
        libxlmig_params_init(&o.params);
        o.live = true;
        rc = libxlmig__transport_fd_borrow(gc, fd, "the test", &t);
        if (!rc) {
            test_seal(t, &ops);
            rc = libxlmig__sim_save(gc, src, t, &o, &st);
        }
        libxlmig__transport_free(t);
        is_int(0, rc, "live save through a sealed transport");
        libxlmig__sim_dom_unpause(gc, src);
        slen = lseek(fd, 0, SEEK_END);
        if (slen > batch)
            sealed = mmap(NULL, slen, PROT_READ, MAP_PRIVATE, fd, 0);
        if (sealed == MAP_FAILED) bail("cannot map the sealed stream");
        chk = batch + rec_len(sealed + batch);
        cb = (u32u *)(sealed + chk + 16);
        is_int(LIBXLMIG__BATCH_SEALED, *(u32u *)(sealed + batch + 20),
               "its page data records say BATCH_SEALED");
        ok(((hdr_u *)(sealed + chk))->type == LIBXLMIG__REC_PAGE_CHECK &&
           ((hdr_u *)(sealed + chk))->body_len == 8 + 4 * cb[1],
           "and their page checks carry no CRCs (%u pages, %u unstable)",
           cb[0], cb[1]);
        memset(&s, 0, sizeof(s));
        rc = restore_buf(ctx, sealed, slen, &s);
        munmap(sealed, slen);
        is_int(LIBXLMIG_ERROR_PROTOCOL, rc,
               "a sealed stream over an unauthenticated transport: refused");
        like_string("only an authenticated transport", libxlmig_last_error(ctx),
                    "and says why");
        memset(&s, 0, sizeof(s));
        rc = restore_sealed(ctx, fd, &s);
        is_int(0, rc, "a sealed stream over a sealed transport restores");
        bad = 1;
        if (s.d) libxlmig__sim_dom_verify(gc, s.d, &bad, &first);
        is_int(0, bad, "and the restored domain verifies");
        libxlmig__sim_dom_destroy(s.d);
        close(fd);
        GC_FREE;
    }

    ok(libxlmig__sim_dom_alive(src), "source alive at the end");
    free(b);
    munmap(stream, len);
    libxlmig__sim_dom_destroy(src);

    /* A busy guest, many of its pages written while in flight. */
    {
        static const struct {
            const char *name;
            bool sock, no_splice, by_ref;
        } runs[] = {
            { "socketpair", true, false, true },
            { "pipe", false, false, false },
            { "socketpair, XLMIG_ENGINE_NO_SPLICE=1", true, true, false },
        };
        int rrc;

        src = start_dom(ctx, "busy", 64, 400000, 4, 0);
        if (!src)
            bail("cannot create a sim domain: %s", libxlmig_last_error(ctx));
        for (i = 0; i < ARRAY_SIZE(runs); i++) {
            if (runs[i].no_splice) setenv("XLMIG_ENGINE_NO_SPLICE", "1", 1);
            rc = live_over(ctx, src, runs[i].sock, &st, &rrc);
            unsetenv("XLMIG_ENGINE_NO_SPLICE");
            is_int(0, rc, "live save of a busy domain over a %s",
                   runs[i].name);
            is_int(0, rrc, "%s: restored, and the copy verifies",
                   runs[i].name);
            /* By reference: every data page, stop-and-copy's too. */
            ok(runs[i].by_ref
               ? st.by_ref_bytes == st.normal_pages * LIBXLMIG__PAGE_SIZE &&
                 st.downtime_bytes > 0
               : st.by_ref_bytes == 0,
               "%s: %llu of %llu bytes by reference (%llu data pages, "
               "%llu bytes while paused)", runs[i].name,
               (unsigned long long)st.by_ref_bytes,
               (unsigned long long)st.total_bytes,
               (unsigned long long)st.normal_pages,
               (unsigned long long)st.downtime_bytes);
        }
        libxlmig__sim_dom_destroy(src);
    }
    libxlmig_ctx_free(ctx);
    return 0;
}
