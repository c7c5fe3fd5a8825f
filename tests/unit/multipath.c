/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration paths (net/multipath.c) over socketpairs: one path and
 * several carry a stream in order both ways; a path cut in the middle
 * loses nothing and the others finish; the bandwidth limit holds over
 * all paths, and auto compression weighs it as the link; a drain waits
 * for the peer to take what was written; a malformed
 * frame or announcement ends the stream.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/compress.h"
#include "net/mp_format.h"
#include "net/net.h"
#include "tap.h"

static libxlmig_ctx *ctx;
static libxlmig_compression comp_mode;

#define MAXP 4

typedef struct {
    int n;
    int src[MAXP], dst[MAXP];     /* fds of each socketpair's ends */
} pairs;

static void pairs_make(pairs *ps, int n)
{
    int i, sv[2];

    ps->n = n;
    for (i = 0; i < n; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
            sysbail("socketpair");
        ps->src[i] = sv[0];
        ps->dst[i] = sv[1];
    }
}

/* n paths over TCP on the loopback (TCP measures its delivery rate). */
static void pairs_make_tcp(pairs *ps, int n)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t al = sizeof(a);
    int i, l;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
        listen(l, MAXP) || getsockname(l, (struct sockaddr *)&a, &al))
        sysbail("loopback listener");
    ps->n = n;
    for (i = 0; i < n; i++) {
        ps->src[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (ps->src[i] < 0 ||
            connect(ps->src[i], (struct sockaddr *)&a, sizeof(a)) ||
            (ps->dst[i] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
            sysbail("loopback connection");
    }
    close(l);
}

static int join_cb(libxlmig__gc *gc, void *opaque, int index,
                   libxlmig__transport **t_r, char **name_r)
{
    pairs *ps = opaque;

    if (index >= ps->n)
        return LIBXLMIG_ERROR_PROTOCOL;
    *name_r = GCSPRINTF("dst%d", index);
    return libxlmig__transport_fd_open(gc, ps->dst[index], *name_r, t_r);
}

/* Open both ends of n paths: *s the source's transport, *d the target's. */
static int open_both(libxlmig__gc *gc, pairs *ps, uint64_t limit,
                     libxlmig__transport **s, libxlmig__transport **d)
{
    libxlmig__transport *paths[MAXP], *first;
    char *names[MAXP];
    libxlmig__mp_opts o = { .bandwidth_limit = limit,
                            .compression = comp_mode };
    int i, rc;

    for (i = 0; i < ps->n; i++) {
        names[i] = GCSPRINTF("src%d", i);
        libxlmig__transport_fd_open(gc, ps->src[i], names[i], &paths[i]);
    }
    rc = libxlmig__mp_open(gc, paths, names, ps->n, &o, s);
    if (rc) return rc;
    libxlmig__transport_fd_open(gc, ps->dst[0], "dst0", &first);
    return libxlmig__mp_accept(gc, first, "dst0", join_cb, ps, NULL, d);
}

static bool text_pattern;        /* compressible bytes instead */
static bool half_pattern;        /* each 4 KiB: 2 KiB random, 2 KiB zero */

static uint8_t pattern(uint64_t i)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull;

    if (text_pattern)
        return (uint8_t)"the quick brown fox jumps over the lazy dog "
                        "0123456789"[(i + (i >> 12)) % 54];
    if (half_pattern && (i & 2048))
        return 0;
    return (uint8_t)(x >> 56 ^ x >> 29);
}

typedef struct {
    libxlmig__transport *t;
    size_t len;
    int cut_fd;                   /* shut down half way; -1: none */
    int rc;
} sender;

/* Write len pattern bytes in writes of varying sizes. */
static void *send_main(void *arg)
{
    sender *s = arg;
    libxlmig_ctx *c;
    static const size_t sizes[] = { 1, 4096, 100000, 2u << 20, 77 };
    size_t off = 0, n, k = 0, i;
    uint8_t *buf = malloc(2u << 20);

    libxlmig_ctx_alloc(&c, NULL);
    {
        GC_INIT(c);

        s->rc = 0;
        while (off < s->len && !s->rc) {
            n = sizes[k++ % 5];
            if (n > s->len - off) n = s->len - off;
            for (i = 0; i < n; i++)
                buf[i] = pattern(off + i);
            s->rc = libxlmig__transport_write_all(gc, s->t, buf, n);
            off += n;
            if (s->cut_fd >= 0 && off >= s->len / 2) {
                shutdown(s->cut_fd, SHUT_RDWR);
                s->cut_fd = -1;
            }
        }
        GC_FREE;
    }
    libxlmig_ctx_free(c);
    free(buf);
    return NULL;
}

/* Read len bytes and check them against the pattern. */
static bool recv_check(libxlmig__gc *gc, libxlmig__transport *t, size_t len)
{
    uint8_t *buf = malloc(1u << 20);
    size_t off = 0, n, i;
    bool good = true;

    while (off < len && good) {
        n = len - off < (1u << 20) ? len - off : (1u << 20);
        if (libxlmig__transport_read_all(gc, t, buf, n, "test stream")) {
            diag("read failed at %zu: %s", off, libxlmig_last_error(CTX));
            good = false;
            break;
        }
        for (i = 0; i < n; i++) {
            if (buf[i] != pattern(off + i)) {
                diag("byte %zu differs", off + i);
                good = false;
                break;
            }
        }
        off += n;
    }
    free(buf);
    return good;
}

/* Frames sent by algorithm, from the stream's compression report. */
static void frames_by_algo(libxlmig__gc *gc, libxlmig__transport *t,
                           uint64_t frames[LIBXLMIG__COMP_NR_ALGOS])
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char *json = NULL;
    yajl_val v = NULL;
    int a;

    yajl_gen_map_open(g);
    libxlmig__mp_gen_compression(t, g);
    yajl_gen_map_close(g);
    if (!libxlmig__json_finish(gc, g, &json))
        v = yajl_tree_parse(json, NULL, 0);
    for (a = 0; a < LIBXLMIG__COMP_NR_ALGOS; a++) {
        const char *path[] = { libxlmig__comp_algo_name(a), "frames", NULL };
        yajl_val f = v ? yajl_tree_get(v, path, yajl_t_number) : NULL;

        frames[a] = f ? (uint64_t)YAJL_GET_INTEGER(f) : 0;
    }
    yajl_tree_free(v);
    free(json);
}

static void run_stream(libxlmig__gc *gc, int npaths, bool cut,
                       const char *what)
{
    libxlmig__transport *s = NULL, *d = NULL;
    pthread_t th;
    sender snd;
    pairs ps;
    size_t len = 48u << 20;
    char *reply;
    int rc;

    pairs_make(&ps, npaths);
    rc = open_both(gc, &ps, 0, &s, &d);
    is_int(0, rc, "%s: both ends open", what);
    if (rc) return;
    snd.t = s;
    snd.len = len;
    snd.cut_fd = cut ? ps.src[1] : -1;
    pthread_create(&th, NULL, send_main, &snd);
    ok(recv_check(gc, d, len), "%s: %zu MiB arrive in order", what,
       len >> 20);
    pthread_join(th, NULL);
    is_int(0, snd.rc, "%s: every write succeeded", what);
    /* The other way: a reply, as the handoff's events go. */
    reply = GCSTRDUP("confirm");
    libxlmig__transport_write_all(gc, d, reply, 8);
    {
        char got[8];

        rc = libxlmig__transport_read_all(gc, s, got, 8, "reply");
        ok(!rc && !memcmp(got, "confirm", 8), "%s: the reply arrives",
           what);
    }
    if (comp_mode != LIBXLMIG_COMPRESSION_OFF) {
        yajl_gen g = libxlmig__json_gen_alloc(gc, false);
        char *json = NULL;

        yajl_gen_map_open(g);
        libxlmig__mp_gen_compression(s, g);
        yajl_gen_map_close(g);
        libxlmig__json_finish(gc, g, &json);
        ok(json && strstr(json, "\"lz4\":{\"frames\":") &&
           !strstr(json, "\"lz4\":{\"frames\":0,"),
           "%s: frames went compressed: %s", what, json ? json : "-");
        free(json);
    }
    if (cut)
        is_int(npaths - 1, libxlmig__mp_paths_up(s),
               "%s: the cut path is down, the others up", what);
    else
        is_int(npaths, libxlmig__mp_paths_up(s), "%s: every path up",
               what);
    libxlmig__transport_free(d);
    libxlmig__transport_free(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* as xlmigd */
    plan(48);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("context");
    {
        GC_INIT(ctx);

        run_stream(gc, 1, false, "one path");
        run_stream(gc, 3, false, "three paths");
        run_stream(gc, 3, true, "three paths, one cut");
        text_pattern = true;
        comp_mode = LIBXLMIG_COMPRESSION_LZ4;
        run_stream(gc, 1, false, "one path, lz4");
        run_stream(gc, 3, true, "three paths, lz4, one cut");
        text_pattern = false;
        comp_mode = LIBXLMIG_COMPRESSION_OFF;

        /* Draining: the peer has everything once it took it all. */
        {
            libxlmig__transport *s = NULL, *d = NULL, *a = NULL;
            sender snd = { .len = 1u << 20, .cut_fd = -1 };
            static char buf[65536];
            size_t got = 0;
            ssize_t r;
            pairs ps;
            int sv[2];

            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
                sysbail("socketpair");
            if (libxlmig__transport_fd_open(gc, sv[0], "a", &a))
                bail("transport");
            memset(buf, 7, sizeof(buf));
            is_int(0, libxlmig__transport_write_all(gc, a, buf, sizeof(buf)),
                   "drain: 64 KiB written to a socket");
            is_int(-1, libxlmig__transport_drain(a, 50),
                   "drain: not drained while its peer reads nothing");
            while (got < sizeof(buf) &&
                   (r = read(sv[1], buf, sizeof(buf) - got)) > 0)
                got += (size_t)r;
            is_int(0, libxlmig__transport_drain(a, 1000),
                   "drain: drained once its peer read all %zu bytes", got);
            libxlmig__transport_free(a);
            close(sv[1]);

            pairs_make(&ps, 2);
            is_int(0, open_both(gc, &ps, 0, &s, &d), "drain, two paths: open");
            snd.t = s;
            send_main(&snd);
            is_int(0, snd.rc, "drain, two paths: 1 MiB written");
            is_int(-1, libxlmig__transport_drain(s, 100),
                   "drain, two paths: not while the reader takes nothing");
            ok(recv_check(gc, d, snd.len),
               "drain, two paths: the data arrives");
            is_int(0, libxlmig__transport_drain(s, 2000),
                   "drain, two paths: drained once the reader took it");
            libxlmig__transport_free(d);
            libxlmig__transport_free(s);
        }

        /* The bandwidth limit holds over all paths together. */
        {
            libxlmig__transport *s = NULL, *d = NULL;
            pthread_t th;
            sender snd = { .len = 6u << 20, .cut_fd = -1 };
            pairs ps;
            uint64_t t0, us;

            pairs_make(&ps, 2);
            is_int(0, open_both(gc, &ps, 8u << 20, &s, &d),
                   "limited: open");
            snd.t = s;
            t0 = libxlmig__now_us();
            pthread_create(&th, NULL, send_main, &snd);
            ok(recv_check(gc, d, snd.len), "limited: the data arrives");
            pthread_join(th, NULL);
            us = libxlmig__now_us() - t0;
            /* 6 MiB at 8 MiB/s, less the first burst (0.8 MiB). */
            ok(us >= 600000, "limited: 6 MiB at 8 MiB/s took %.2f s "
               "(at least 0.65 s)", us / 1e6);
            libxlmig__transport_free(d);
            libxlmig__transport_free(s);
        }

        /* Auto compression under a bandwidth limit: the link is the
         * limit's share, not what TCP measures on the loopback in the
         * bursts between waits (gigabytes a second, faster than lz4). */
        {
            libxlmig__transport *s = NULL, *d = NULL;
            uint64_t frames[LIBXLMIG__COMP_NR_ALGOS];
            pthread_t th;
            sender snd = { .len = 6u << 20, .cut_fd = -1 };
            uint64_t packed;
            pairs ps;

            half_pattern = true;
            comp_mode = LIBXLMIG_COMPRESSION_AUTO;
            pairs_make_tcp(&ps, 2);
            is_int(0, open_both(gc, &ps, 8u << 20, &s, &d),
                   "limited, auto: open");
            snd.t = s;
            pthread_create(&th, NULL, send_main, &snd);
            ok(recv_check(gc, d, snd.len), "limited, auto: the data arrives");
            pthread_join(th, NULL);
            frames_by_algo(gc, s, frames);
            packed = frames[LIBXLMIG__COMP_LZ4] + frames[LIBXLMIG__COMP_ZSTD];
            ok(packed > 2 * frames[LIBXLMIG__COMP_NONE],
               "limited, auto: half-zero frames at 8 MiB/s go compressed "
               "(%llu of %llu)", (unsigned long long)packed,
               (unsigned long long)(packed + frames[LIBXLMIG__COMP_NONE]));
            libxlmig__transport_free(d);
            libxlmig__transport_free(s);
            half_pattern = false;
            comp_mode = LIBXLMIG_COMPRESSION_OFF;
        }

        /* A malformed frame ends the stream; it is not routed around. */
        {
            libxlmig__transport *s = NULL, *d = NULL;
            libxlmig__mp_hdr h;
            char buf[16];
            pairs ps;

            pairs_make(&ps, 2);
            is_int(0, open_both(gc, &ps, 0, &s, &d), "corrupt: open");
            memset(&h, 0, sizeof(h));
            h.magic = LIBXLMIG__MP_MAGIC;
            h.type = LIBXLMIG__MP_DATA;
            h.wire_len = h.raw_len = 16;
            h.crc = 12345;           /* wrong */
            if (write(ps.src[1], &h, sizeof(h)) != (ssize_t)sizeof(h))
                sysbail("write");
            d->timeout_ms = 5000;
            ok(libxlmig__transport_read_all(gc, d, buf, 16,
                                            "test stream") != 0,
               "corrupt: the read fails");
            like_string("failed", libxlmig_last_error(ctx),
                        "corrupt: says so: %s", libxlmig_last_error(ctx));
            libxlmig__transport_free(d);
            libxlmig__transport_free(s);
        }

        /* Frames far ahead of one that never comes: refused, bounded. */
        {
            libxlmig__transport *s = NULL, *d = NULL;
            libxlmig__mp_hdr h;
            static char big[LIBXLMIG__MP_FRAME_MAX];
            char buf[16];
            pairs ps;
            int k;

            pairs_make(&ps, 2);
            is_int(0, open_both(gc, &ps, 0, &s, &d), "ahead: open");
            for (k = 0; k < 8; k++) {
                memset(&h, 0, sizeof(h));
                h.magic = LIBXLMIG__MP_MAGIC;
                h.type = LIBXLMIG__MP_DATA;
                h.path = 1;
                h.wire_len = h.raw_len = LIBXLMIG__MP_FRAME_MAX;
                h.seq = 1000 + (uint64_t)k;
                h.crc = libxlmig__crc32c(0, &h,
                                         offsetof(libxlmig__mp_hdr, crc));
                if (write(ps.src[1], &h, sizeof(h)) != (ssize_t)sizeof(h) ||
                    write(ps.src[1], big, sizeof(big)) != (ssize_t)sizeof(big))
                    break;           /* refused: the reader shut it */
            }
            d->timeout_ms = 5000;
            ok(libxlmig__transport_read_all(gc, d, buf, 16,
                                            "test stream") != 0,
               "ahead: the read fails");
            like_string("ahead of a frame that does not come",
                        libxlmig_last_error(ctx), "ahead: says so: %s",
                        libxlmig_last_error(ctx));
            libxlmig__transport_free(d);
            libxlmig__transport_free(s);
        }

        /* An announcement that is not one. */
        {
            libxlmig__transport *first, *d = NULL;
            pairs ps;
            static const char junk[32] = "XLMP not a start frame";

            pairs_make(&ps, 1);
            if (write(ps.src[0], junk, sizeof(junk)) != sizeof(junk))
                sysbail("write");
            libxlmig__transport_fd_open(gc, ps.dst[0], "dst0", &first);
            ok(libxlmig__mp_accept(gc, first, "dst0", join_cb, &ps, NULL,
                                   &d) != 0,
               "a stream without its announcement is refused");
            close(ps.src[0]);
        }
        GC_FREE;
    }
    libxlmig_ctx_free(ctx);
    return 0;
}
