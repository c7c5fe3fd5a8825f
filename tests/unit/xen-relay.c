/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The relay of the Xen migration stream (backend/xen/xen_relay.c) without
 * Xen: "libxl" is a thread writing into (or reading from) a local socket
 * pair, the migration's connection another pair.  The stream arrives
 * whole and the control bytes after it are not swallowed; an ABORT, a
 * corrupted or malformed frame, a wrong total, a truncated connection, a
 * peer that goes away, a cancel and a reader that stops each end both
 * relays with a clear error and give libxl's end EOF or EPIPE.  Each
 * relay's own account (bytes, wall and CPU time, the transport's part)
 * is filled and logged in one line of a fixed form.  Over a transport
 * that authenticates every byte the frames leave the payload out of their
 * CRC (SEALED), and a receiver on one that does not refuses them.
 */
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/xen/xen_relay.h"
#include "sealed.h"
#include "tap.h"

static libxlmig_ctx *ctx;

/* A logger that keeps the relays' account lines ("xen relay: ..."). */
typedef struct relay_logger {
    xentoollog_logger vtable;
    pthread_mutex_t lock;
    char lines[2][512];
    int n;
} relay_logger;

static void rl_vmessage(xentoollog_logger *lg, xentoollog_level level,
                        int errnoval, const char *context,
                        const char *format, va_list al)
{
    relay_logger *rl = (relay_logger *)lg;
    char msg[512];
    const char *l;

    (void)errnoval; (void)context;
    vsnprintf(msg, sizeof(msg), format, al);
    /* "FILE:LINE:FUNC: xen relay: ..." */
    l = strstr(msg, ": xen relay: ");
    if (level != XTL_INFO || !l)
        return;
    pthread_mutex_lock(&rl->lock);
    if (rl->n < 2)
        snprintf(rl->lines[rl->n++], sizeof(rl->lines[0]), "%s", l + 2);
    pthread_mutex_unlock(&rl->lock);
}

static void rl_progress(xentoollog_logger *lg, const char *context,
                        const char *doing_what, int percent,
                        unsigned long done, unsigned long total)
{
    (void)lg; (void)context; (void)doing_what; (void)percent;
    (void)done; (void)total;
}

static void rl_destroy(xentoollog_logger *lg)
{
    (void)lg;
}

static relay_logger logger = {
    .vtable = { rl_vmessage, rl_progress, rl_destroy },
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 7 + (i >> 12));
}

/* "libxl" on the source: writes total bytes in uneven pieces, then shuts
 * its end for writing (libxl_domain_suspend returned). */
typedef struct writer {
    int fd;
    uint64_t total, written;
    unsigned delay_us;         /* between pieces */
    int err;                   /* errno of a failed write, or 0 */
    pthread_t th;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    uint8_t buf[70000];
    size_t piece = 1, i;
    ssize_t n;

    while (w->written < w->total) {
        piece = piece * 3 % sizeof(buf) + 1;
        if (piece > w->total - w->written)
            piece = (size_t)(w->total - w->written);
        for (i = 0; i < piece; i++)
            buf[i] = pattern(w->written + i);
        n = write(w->fd, buf, piece);
        if (n < 0) {
            if (errno == EINTR) continue;
            w->err = errno;
            break;
        }
        w->written += (uint64_t)n;
        if (w->delay_us) usleep(w->delay_us);
    }
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

/* "libxl" on the target: reads until the end of input, checking. */
typedef struct reader {
    int fd;
    uint64_t stop_after;       /* go away after this much (0: never) */
    uint64_t got;
    bool bad, eof;
    pthread_t th;
} reader;

static void *reader_main(void *arg)
{
    reader *rd = arg;
    uint8_t buf[65536];
    ssize_t n, i;

    for (;;) {
        n = read(rd->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rd->eof = n == 0;
            break;
        }
        for (i = 0; i < n; i++)
            if (buf[i] != pattern(rd->got + (uint64_t)i))
                rd->bad = true;
        rd->got += (uint64_t)n;
        if (rd->stop_after && rd->got >= rd->stop_after) {
            shutdown(rd->fd, SHUT_RDWR);   /* libxl failed */
            break;
        }
    }
    return NULL;
}

/* Both sides: the connection, both local pairs, both relays. */
typedef struct rig {
    libxlmig__transport *ta, *tb;      /* source's, target's connection */
    int src[2], dst[2];                /* [0] libxl's, [1] the relay's */
    libxlmig__xen_relay s, r;
    writer w;
    reader rd;
    uint64_t mirror;
    unsigned ticks;
} rig;

static void count_tick(void *user)
{
    rig *g = user;

    __atomic_add_fetch(&g->ticks, 1, __ATOMIC_RELAXED);
}

static void rig_init(libxlmig__gc *gc, rig *g, uint64_t total)
{
    int net[2];

    memset(g, 0, sizeof(*g));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, net))
        sysbail("socketpair");
    libxlmig__transport_fd_open(gc, net[0], "target", &g->ta);
    libxlmig__transport_fd_open(gc, net[1], "source", &g->tb);
    g->ta->timeout_ms = g->tb->timeout_ms = 5000;
    if (libxlmig__xen_relay_pair(gc, g->src) ||
        libxlmig__xen_relay_pair(gc, g->dst))
        bail("cannot make the local pairs");
    libxlmig__xen_relay_init(&g->s);
    g->s.t = g->ta;
    g->s.fd = g->src[1];
    g->s.tick = count_tick;
    g->s.tick_user = g;
    g->s.tick_ms = 10;
    g->s.mirror = &g->mirror;
    libxlmig__xen_relay_init(&g->r);
    g->r.t = g->tb;
    g->r.fd = g->dst[1];
    g->w.fd = g->src[0];
    g->w.total = total;
    g->rd.fd = g->dst[0];
}

static void rig_dispose(rig *g)
{
    int i;

    for (i = 0; i < 2; i++) {
        close(g->src[i]);
        close(g->dst[i]);
    }
    libxlmig__transport_free(g->ta);
    libxlmig__transport_free(g->tb);
}

static void start_threads(rig *g, bool w, bool rd)
{
    if (w && pthread_create(&g->w.th, NULL, writer_main, &g->w))
        bail("pthread_create");
    if (rd && pthread_create(&g->rd.th, NULL, reader_main, &g->rd))
        bail("pthread_create");
}

/* A relay's account after it ended well. */
static void check_account(const libxlmig__xen_relay *r, const char *who,
                          uint64_t total)
{
    is_int((long long)total, (long long)r->bytes, "%s's account: the bytes",
           who);
    ok(r->wall_us > 0, "%s's account: wall time %llu us", who,
       (unsigned long long)r->wall_us);
    ok(r->cpu_us > 0 && r->cpu_us >= r->transport_cpu_us,
       "%s's account: thread CPU %llu us, of which %llu us in the transport",
       who, (unsigned long long)r->cpu_us,
       (unsigned long long)r->transport_cpu_us);
    ok(r->cpu_us <= r->wall_us + 10000,
       "%s's account: its thread's CPU (%llu us) is no more than its wall "
       "time (%llu us)", who, (unsigned long long)r->cpu_us,
       (unsigned long long)r->wall_us);
}

/* The two account lines, in the form a test script parses. */
static void check_lines(uint64_t total)
{
    static const char *const re =
        "^xen relay: (sent|received) ([0-9]+) bytes (to|from) ([a-z]+) "
        "in ([0-9]+) ms, relay thread CPU ([0-9]+) ms, of which ([0-9]+) "
        "ms in the transport, own ([0-9]+) ms \\(([0-9]+\\.[0-9]) "
        "ms/GiB\\)$";
    bool seen_sent = false, seen_received = false;
    regmatch_t m[10];
    regex_t rx;
    char f[10][64], peer[2 * 64 + 2];
    long long cpu, tr, own;
    int i, j;

    if (regcomp(&rx, re, REG_EXTENDED))
        bail("regcomp");
    is_int(2, logger.n, "one account line per relay");
    for (i = 0; i < logger.n && i < 2; i++) {
        const char *l = logger.lines[i];

        if (regexec(&rx, l, 10, m, 0)) {
            ok(0, "account line in form: %s", l);
            continue;
        }
        for (j = 1; j < 10; j++)
            snprintf(f[j], sizeof(f[j]), "%.*s",
                     (int)(m[j].rm_eo - m[j].rm_so), l + m[j].rm_so);
        ok(1, "account line in form: %s", l);
        is_int((long long)total, strtoll(f[2], NULL, 10),
               "%s line: the bytes", f[1]);
        cpu = strtoll(f[6], NULL, 10);
        tr = strtoll(f[7], NULL, 10);
        own = strtoll(f[8], NULL, 10);
        /* Each figure is rounded down from microseconds on its own. */
        ok(cpu >= tr && (own == cpu - tr || own + 1 == cpu - tr),
           "%s line: own = CPU - transport (%lld ms = %lld - %lld)", f[1],
           own, cpu, tr);
        snprintf(peer, sizeof(peer), "%s %s", f[3], f[4]);
        if (!strcmp(f[1], "sent")) {
            seen_sent = true;
            is_string("to target", peer, "sent line: names the peer");
        } else {
            seen_received = true;
            is_string("from source", peer, "received line: names the peer");
        }
    }
    ok(seen_sent && seen_received, "a sent and a received line");
    regfree(&rx);
}

/* The whole stream, then a control message on the same connection. */
static void test_stream(void)
{
    GC_INIT(ctx);
    const uint64_t total = 5 * 1048576 + 12345;
    char ctl[5] = "";
    rig g;
    int rcs, rcr;

    logger.n = 0;
    rig_init(gc, &g, total);
    g.w.delay_us = 50;
    start_threads(&g, true, true);
    if (libxlmig__xen_relay_recv_start(gc, &g.r) ||
        libxlmig__xen_relay_send_start(gc, &g.s))
        bail("cannot start the relays");
    rcs = libxlmig__xen_relay_wait(&g.s);
    is_int(0, rcs, "sending relay ends at libxl's end of output");
    is_int(0, libxlmig__xen_relay_send_end(gc, &g.s, true), "END sent");
    is_int(0, libxlmig__transport_write_all(gc, g.ta, "CTRL", 4),
           "a control message follows on the connection");
    rcr = libxlmig__xen_relay_wait(&g.r);
    is_int(0, rcr, "receiving relay ends at END");
    pthread_join(g.w.th, NULL);
    pthread_join(g.rd.th, NULL);
    is_int(0, g.w.err, "libxl's writes all succeeded");
    ok(g.rd.eof && g.rd.got == total && !g.rd.bad,
       "libxl on the target read the %llu bytes intact, then EOF "
       "(got %llu, eof %d, bad %d)", (unsigned long long)total,
       (unsigned long long)g.rd.got, g.rd.eof, g.rd.bad);
    is_int((long long)total, (long long)g.s.bytes, "sender counted them");
    is_int((long long)total, (long long)g.r.bytes, "receiver counted them");
    is_int((long long)total, (long long)g.mirror, "and mirrored the count");
    ok(g.ticks >= 1, "the sender ticked (%u times)", g.ticks);
    check_account(&g.s, "sender", total);
    check_account(&g.r, "receiver", total);
    check_lines(total);
    ok(g.ta->bytes_sent > total && g.ta->bytes_sent < total + total / 50,
       "framing costs under 2%% (%llu bytes for %llu)",
       (unsigned long long)g.ta->bytes_sent, (unsigned long long)total);
    is_int(0, libxlmig__transport_read_all(gc, g.tb, ctl, 4, "control"),
           "the control message is there after the stream");
    is_string("CTRL", ctl, "intact: the relay did not swallow it");
    rig_dispose(&g);
    GC_FREE;
}

/*
 * Over a sealed transport the frames are SEALED, their CRC over the
 * header only, and the stream arrives whole; a receiver on a transport
 * that is not sealed refuses them.
 */
static void test_sealed(void)
{
    GC_INIT(ctx);
    const uint64_t total = 3 * 1048576 + 777;
    libxlmig__transport_ops ops_a, ops_b;
    xen_relay_hdr h;
    uint32_t crc;
    rig g;

    /* The first frame as the wire has it. */
    rig_init(gc, &g, total);
    test_seal(g.ta, &ops_a);
    start_threads(&g, true, false);
    libxlmig__xen_relay_send_start(gc, &g.s);
    is_int(0, libxlmig__transport_read_all(gc, g.tb, &h, sizeof(h), "frame"),
           "sealed: a frame arrives");
    is_int(XEN_RELAY_SEALED, ntohl(h.type), "sealed: its type is SEALED");
    crc = libxlmig__crc32c(0, &h, offsetof(xen_relay_hdr, crc));
    is_int(crc, ntohl(h.crc), "sealed: its CRC covers the header only");
    libxlmig__transport_shutdown(g.ta);
    libxlmig__xen_relay_wait(&g.s);
    pthread_join(g.w.th, NULL);
    rig_dispose(&g);

    /* Refused by a receiver whose transport is not sealed. */
    rig_init(gc, &g, total);
    test_seal(g.ta, &ops_a);
    start_threads(&g, true, true);
    libxlmig__xen_relay_recv_start(gc, &g.r);
    libxlmig__xen_relay_send_start(gc, &g.s);
    is_int(LIBXLMIG_ERROR_PROTOCOL, libxlmig__xen_relay_wait(&g.r),
           "sealed frames over a transport that is not: refused");
    like_string("only an authenticated transport (TLS) may send, and "
                "this connection is unencrypted", libxlmig_last_error(ctx),
                "and says why");
    libxlmig__transport_shutdown(g.ta);
    libxlmig__xen_relay_wait(&g.s);
    pthread_join(g.w.th, NULL);
    pthread_join(g.rd.th, NULL);
    ok(g.rd.got == 0 && g.rd.eof, "libxl on the target got none of it");
    rig_dispose(&g);

    /* Both sealed: the whole stream. */
    rig_init(gc, &g, total);
    test_seal(g.ta, &ops_a);
    test_seal(g.tb, &ops_b);
    start_threads(&g, true, true);
    libxlmig__xen_relay_recv_start(gc, &g.r);
    is_int(0, libxlmig__xen_relay_send(gc, &g.s), "sealed: sent");
    is_int(0, libxlmig__xen_relay_send_end(gc, &g.s, true), "sealed: END");
    is_int(0, libxlmig__xen_relay_wait(&g.r), "sealed: received");
    pthread_join(g.w.th, NULL);
    pthread_join(g.rd.th, NULL);
    ok(g.rd.eof && g.rd.got == total && !g.rd.bad,
       "sealed: libxl on the target read the %llu bytes intact (got %llu)",
       (unsigned long long)total, (unsigned long long)g.rd.got);
    rig_dispose(&g);
    GC_FREE;
}

/* The source's libxl failed: ABORT; the target's libxl sees EOF. */
static void test_abort(void)
{
    GC_INIT(ctx);
    rig g;

    rig_init(gc, &g, 300000);
    start_threads(&g, true, true);
    libxlmig__xen_relay_recv_start(gc, &g.r);
    is_int(0, libxlmig__xen_relay_send(gc, &g.s), "sent what libxl wrote");
    is_int(0, libxlmig__xen_relay_send_end(gc, &g.s, false), "ABORT sent");
    is_int(LIBXLMIG_ERROR_IO, libxlmig__xen_relay_wait(&g.r),
           "ABORT fails the receiving relay");
    like_string("the source's libxl failed", libxlmig_last_error(ctx),
                "and says so");
    pthread_join(g.w.th, NULL);
    pthread_join(g.rd.th, NULL);
    ok(g.rd.got == 300000 && !g.rd.bad,
       "the target's libxl got what was sent (%llu), then its input ended",
       (unsigned long long)g.rd.got);
    rig_dispose(&g);
    GC_FREE;
}

/* The peer went away, or the migration was cancelled, mid-stream: the
 * sending relay fails and libxl's writes fail with EPIPE. */
static void test_peer_gone(bool cancel)
{
    GC_INIT(ctx);
    const char *what = cancel ? "cancel" : "peer gone";
    rig g;
    int rc;

    rig_init(gc, &g, 1ull << 40);             /* "forever" */
    start_threads(&g, true, false);
    libxlmig__xen_relay_send_start(gc, &g.s);
    /* Let some of it through, then break the connection. */
    {
        char buf[65536];
        uint64_t got = 0;

        while (got < 2 * 1048576) {
            if (libxlmig__transport_read_all(gc, g.tb, buf, sizeof(buf),
                                             "stream"))
                break;
            got += sizeof(buf);
        }
    }
    if (cancel)
        libxlmig__transport_shutdown(g.ta);
    else
        shutdown(g.tb->fd, SHUT_RDWR);
    rc = libxlmig__xen_relay_wait(&g.s);
    ok(rc == LIBXLMIG_ERROR_IO || rc == LIBXLMIG_ERROR_TIMEOUT,
       "%s: the sending relay fails (%d)", what, rc);
    like_string("relaying the Xen stream to target failed",
                libxlmig_last_error(ctx), "%s: and says so", what);
    pthread_join(g.w.th, NULL);
    is_int(EPIPE, g.w.err, "%s: libxl's next write fails with EPIPE", what);
    rig_dispose(&g);
    GC_FREE;
}

/* One frame written by hand on the connection. */
static void put_frame(libxlmig__gc *gc, libxlmig__transport *t,
                      uint32_t magic, uint32_t type, const void *p,
                      uint32_t len, bool bad_crc)
{
    xen_relay_hdr h;
    uint32_t crc;

    h.magic = htonl(magic);
    h.type = htonl(type);
    h.len = htonl(len);
    crc = libxlmig__crc32c(0, &h, offsetof(xen_relay_hdr, crc));
    crc = libxlmig__crc32c(crc, p, len);
    h.crc = htonl(crc ^ (bad_crc ? 1 : 0));
    libxlmig__transport_write_all(gc, t, &h, sizeof(h));
    libxlmig__transport_write_all(gc, t, p, len);
}

/* The receiving relay refuses what it must, and libxl's input ends. */
static void test_refusals(void)
{
    static const struct {
        const char *name;
        uint32_t magic, type, len;
        bool bad_crc;
        uint64_t total;        /* of an END frame */
        bool close;            /* then the connection closes */
        int rc;
        const char *msg;
    } cases[] = {
        { "corrupted data", XEN_RELAY_MAGIC, XEN_RELAY_DATA, 100, true, 0,
          false, LIBXLMIG_ERROR_PROTOCOL, "is corrupted (frame CRC32C" },
        { "bad magic", 0x12345678, XEN_RELAY_DATA, 100, false, 0, false,
          LIBXLMIG_ERROR_PROTOCOL, "is malformed (frame magic 12345678" },
        { "unknown type", XEN_RELAY_MAGIC, 9, 0, false, 0, false,
          LIBXLMIG_ERROR_PROTOCOL, "type 9" },
        { "oversized", XEN_RELAY_MAGIC, XEN_RELAY_DATA,
          XEN_RELAY_CHUNK_MAX + 1, false, 0, false,
          LIBXLMIG_ERROR_PROTOCOL, "is malformed" },
        { "wrong total", XEN_RELAY_MAGIC, XEN_RELAY_END, 8, false, 999,
          false, LIBXLMIG_ERROR_PROTOCOL, "but 999 were sent" },
        { "truncated", XEN_RELAY_MAGIC, XEN_RELAY_DATA, 100, false, 0,
          true, LIBXLMIG_ERROR_PROTOCOL, "Xen stream frame header truncated" },
    };
    uint8_t data[100];
    size_t i;

    for (i = 0; i < sizeof(data); i++)
        data[i] = pattern(i);
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        GC_INIT(ctx);
        rig g;
        uint64_t be;
        int rc;

        rig_init(gc, &g, 0);
        start_threads(&g, false, true);
        libxlmig__xen_relay_recv_start(gc, &g.r);
        put_frame(gc, g.ta, XEN_RELAY_MAGIC, XEN_RELAY_DATA, data, 100,
                  false);
        if (cases[i].type == XEN_RELAY_END) {
            be = htobe64(cases[i].total);
            put_frame(gc, g.ta, cases[i].magic, cases[i].type, &be, 8,
                      false);
        } else if (cases[i].close) {
            shutdown(g.ta->fd, SHUT_RDWR);
        } else if (cases[i].len <= sizeof(data)) {
            put_frame(gc, g.ta, cases[i].magic, cases[i].type, data,
                      cases[i].len, cases[i].bad_crc);
        } else {
            /* A header alone: the relay refuses it before reading on. */
            xen_relay_hdr h;

            h.magic = htonl(cases[i].magic);
            h.type = htonl(cases[i].type);
            h.len = htonl(cases[i].len);
            h.crc = 0;
            libxlmig__transport_write_all(gc, g.ta, &h, sizeof(h));
        }
        rc = libxlmig__xen_relay_wait(&g.r);
        is_int(cases[i].rc, rc, "%s: refused", cases[i].name);
        like_string(cases[i].msg, libxlmig_last_error(ctx), "%s: says so",
                    cases[i].name);
        pthread_join(g.rd.th, NULL);
        ok(g.rd.got == 100 && !g.rd.bad,
           "%s: libxl got the good frame before it (%llu bytes), then its "
           "input ended", cases[i].name, (unsigned long long)g.rd.got);
        rig_dispose(&g);
        GC_FREE;
    }
}

/* The target's libxl failed and stopped reading: the relay stops. */
static void test_reader_gone(void)
{
    GC_INIT(ctx);
    rig g;
    int rc;

    rig_init(gc, &g, 1ull << 40);
    g.rd.stop_after = 1048576;
    start_threads(&g, true, true);
    libxlmig__xen_relay_recv_start(gc, &g.r);
    libxlmig__xen_relay_send_start(gc, &g.s);
    pthread_join(g.rd.th, NULL);
    rc = libxlmig__xen_relay_wait(&g.r);
    ok(rc < 0, "the receiving relay ends when libxl stops reading (%d)", rc);
    like_string("libxl stopped reading the Xen stream",
                libxlmig_last_error(ctx), "and says so");
    /* The target closes the connection: the source fails in turn. */
    shutdown(g.tb->fd, SHUT_RDWR);
    rc = libxlmig__xen_relay_wait(&g.s);
    ok(rc < 0, "then the sending relay fails (%d)", rc);
    pthread_join(g.w.th, NULL);
    is_int(EPIPE, g.w.err, "and the source's libxl gets EPIPE");
    rig_dispose(&g);
    GC_FREE;
}

int main(void)
{
    plan_lazy();
    signal(SIGPIPE, SIG_IGN);
    if (libxlmig_ctx_alloc(&ctx, &logger.vtable))
        bail("cannot allocate a context");
    test_stream();
    test_sealed();
    test_abort();
    test_peer_gone(false);
    test_peer_gone(true);
    test_refusals();
    test_reader_gone();
    libxlmig_ctx_free(ctx);
    return 0;
}
