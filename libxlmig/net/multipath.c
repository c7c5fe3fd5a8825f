/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration paths: one ordered, reliable byte stream in each direction
 * over one or more connections (net/mp_format.h, docs/protocol.md).  It
 * is a transport like any other, so the engine, the Xen relay and the
 * control messages of the handoff run over it unchanged.
 *
 * One path ("direct"): frames go from the caller's thread straight to the
 * connection, guest pages still by reference where the connection can;
 * nothing is kept for resending, as there is nowhere else to send it.
 *
 * Several paths ("striped"): writev copies the bytes into numbered frames
 * of up to MP_CHUNK bytes on one queue; each path has a writer thread,
 * which takes the next frame when its connection has room -- so each path
 * carries what its throughput allows -- and a reader thread, which files
 * what arrives by number.  read delivers frames strictly in order and
 * acknowledges what it consumed; the sender keeps a frame until then.
 * When a path fails, its writer puts back what the path had not got
 * acknowledged and the other paths send it; a frame that arrives twice
 * is dropped.  The stream fails only when no path is left, or when a
 * frame is malformed (corruption or tampering is never routed around).
 *
 * Compression (net/compress.c): each DATA frame of the source's writes
 * goes through the migration's chooser, with the path's link speed from
 * TCP_INFO; the frame says how its payload is encoded and the reader
 * decodes it into exactly the raw length announced.
 *
 * Locks: mp->lock guards every queue, counter and path state; path
 * threads do their I/O without it.  Each path's transport has exactly
 * one writer thread and one reader thread.  Path threads log through
 * their own contexts (the creator's logger).
 */
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/compress.h"
#include "net/mp_format.h"
#include "net/net.h"

/* Bytes of one frame when several paths share the stream. */
#define MP_CHUNK (256u << 10)
/* The highest link speed compression auto is told of (bytes/s). */
#define MP_LINK_MAX_BPS 12.5e9
/* Bytes not yet acknowledged per path, before writev waits: about what a
 * connection's socket buffers hold (cluster.c), so that the writer sees
 * the network's pace, as over one connection, and its statistics (rates,
 * the downtime) stay true. */
#define MP_WINDOW_PER_PATH (4u << 20)
/* How long closing waits for the peer to acknowledge the rest (ms). */
#define MP_FLUSH_MS 10000

typedef struct mp_frame {
    struct mp_frame *next;
    uint64_t seq;
    uint32_t len;
    int path;                      /* sent on; -1: not (yet, or again) */
    bool sealed;                   /* taken by a writer: no appending */
    bool busy;                     /* a writer sends it now */
    bool done;                     /* acknowledged while busy */
    unsigned char data[];
} mp_frame;

enum { PATH_UP, PATH_FAILED, PATH_CLOSED };

typedef struct mp_path {
    struct mp *mp;
    int index;
    libxlmig__transport *t;        /* owned */
    char *name;                    /* "mig1 (10.20.0.1 -> 10.20.0.2)" */
    int state;
    char why[200];                 /* PATH_FAILED: the reason */
    pthread_t reader, writer;
    bool has_reader, has_writer;
    uint64_t frames_sent, wire_sent, frames_recv, wire_recv, resent;
    uint64_t raw_sent;             /* DATA bytes before compression */
    /* the link's speed as TCP sees it (bytes/s), for the chooser */
    libxlmig__link_est link;       /* of this path (compress.h) */
    uint64_t link_us;              /* when it was read */
    uint64_t stall_us;             /* first seen stalled (0: not) */
    unsigned char *zbuf;           /* the writer's compressed frame */
    unsigned char *rbuf;           /* the reader's frame to decode */
    unsigned last_algo;            /* of the last frame it encoded */
    unsigned skipped;              /* frames not offered to the chooser */
} mp_path;

typedef struct mp {
    libxlmig__transport *t;        /* the public transport (ops below) */
    xentoollog_logger *logger;
    libxlmig__mp_opts o;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int npaths;
    mp_path path[LIBXLMIG__MP_MAX_PATHS];
    bool striped;
    bool closing;
    int fatal;                     /* 0, or the error that ends it */
    char fatal_why[240];
    /* sending */
    uint64_t next_seq;
    mp_frame *queue, *queue_tail;  /* not sent, or to send again: by seq */
    mp_frame *sent;                /* sent, not acknowledged: by seq */
    uint64_t unacked_bytes;
    uint64_t window;               /* MP_WINDOW_PER_PATH per path */
    uint64_t stall_check_us;       /* the writer's last stall check */
    /* receiving */
    uint64_t want_seq;             /* next to deliver */
    uint64_t held_bytes;           /* in held */
    uint64_t acked_seq;            /* last ACK sent (all below consumed) */
    mp_frame *held;                /* arrived early: by seq */
    mp_frame *cur;                 /* being consumed */
    size_t cur_off;
    /* direct mode: the frame being read */
    uint32_t direct_left;
    unsigned char *dbuf;           /* a decoded frame (MP_FRAME_MAX) */
    uint32_t dbuf_len, dbuf_off;
    unsigned char *gbuf;           /* a gathered frame to compress */
    libxlmig__comp *comp;          /* NULL: compression off */
    libxlmig__bucket bucket;       /* the bandwidth limit, all paths */
} mp;

static mp *mp_of(libxlmig__transport *t)
{
    return t->priv;
}

/* ---- frames ---- */

static void hdr_fill(libxlmig__mp_hdr *h, unsigned type, unsigned path,
                     uint64_t seq, uint32_t wire_len, uint32_t raw_len,
                     unsigned algo)
{
    memset(h, 0, sizeof(*h));
    h->magic = LIBXLMIG__MP_MAGIC;
    h->type = (uint8_t)type;
    h->algo = (uint8_t)algo;
    h->path = (uint16_t)path;
    h->wire_len = wire_len;
    h->raw_len = raw_len;
    h->seq = seq;
    h->crc = libxlmig__crc32c(0, h, offsetof(libxlmig__mp_hdr, crc));
}

/* Check a received header; a logged LIBXLMIG_ERROR_PROTOCOL if bad. */
static int hdr_check(libxlmig__gc *gc, const libxlmig__mp_hdr *h,
                     const char *from)
{
    if (h->magic != LIBXLMIG__MP_MAGIC ||
        h->crc != libxlmig__crc32c(0, h, offsetof(libxlmig__mp_hdr, crc))) {
        LOG(ERROR, "malformed frame from %s (bad magic or checksum): the "
            "stream was corrupted or tampered with", from);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (h->type < LIBXLMIG__MP_START || h->type > LIBXLMIG__MP_FIN ||
        h->wire_len > LIBXLMIG__MP_FRAME_MAX ||
        h->raw_len > LIBXLMIG__MP_FRAME_MAX ||
        (h->type != LIBXLMIG__MP_DATA && h->wire_len) ||
        (h->type == LIBXLMIG__MP_DATA &&
         (h->algo >= LIBXLMIG__COMP_NR_ALGOS ||
          (h->algo == LIBXLMIG__COMP_NONE && h->raw_len != h->wire_len))) ||
        (h->type != LIBXLMIG__MP_DATA && h->algo)) {
        LOG(ERROR, "malformed frame from %s (type %u, %u bytes, %u raw, "
            "encoding %u)", from, h->type, h->wire_len, h->raw_len,
            h->algo);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    return 0;
}

static void frames_free(mp_frame *f)
{
    mp_frame *n;

    for (; f; f = n) {
        n = f->next;
        free(f);
    }
}

/* Insert f into the list at *head, ordered by seq. */
static void list_insert(mp_frame **head, mp_frame *f)
{
    while (*head && (*head)->seq < f->seq)
        head = &(*head)->next;
    f->next = *head;
    *head = f;
}

/* Paths still up (mp->lock held). */
static int paths_up_locked(const mp *m)
{
    int i, n = 0;

    for (i = 0; i < m->npaths; i++)
        n += m->path[i].state == PATH_UP;
    return n;
}

/* ---- compression ---- */

/* The path's link speed for compression (bytes/s; 0: unknown) from
 * TCP's delivery rate, read at most every 10 ms: libxlmig__link_est.  A
 * sample TCP marks application-limited measured how fast we wrote, not
 * what the link carries: otherwise a sender slowed by compressing (or
 * by its CPU) would see the link slow down with it, and compress on. */
static double path_link_bps(mp *m, mp_path *p)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    uint64_t now = libxlmig__now_us();
    bool have_rate, app_limited, waiting;
    int fd;

    if (now - p->link_us < 10000)
        return p->link.bps;
    p->link_us = now;
    fd = libxlmig__transport_fd(p->t);
    memset(&ti, 0, sizeof(ti));
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
        return p->link.bps;
    have_rate = len >= offsetof(struct tcp_info, tcpi_delivery_rate) +
                       sizeof(ti.tcpi_delivery_rate);
    app_limited = have_rate && ti.tcpi_delivery_rate_app_limited;
    waiting = app_limited && !m->bucket.rate &&
              len >= offsetof(struct tcp_info, tcpi_notsent_bytes) +
                     sizeof(ti.tcpi_notsent_bytes) &&
              !ti.tcpi_notsent_bytes;
    return libxlmig__link_est_sample(&p->link,
                                     have_rate
                                     ? (double)ti.tcpi_delivery_rate : 0,
                                     app_limited, waiting, MP_LINK_MAX_BPS);
}

/*
 * Encode len bytes at src for path p: *out_r and *wire_r what to send,
 * the algorithm returned.  zbuf holds at least libxlmig__comp_bound.
 */
static unsigned frame_encode(mp *m, mp_path *p, const void *src,
                             uint32_t len, unsigned char *zbuf,
                             const void **out_r, uint32_t *wire_r)
{
    libxlmig__comp_algo a = LIBXLMIG__COMP_NONE;
    size_t out = len;
    double link, share;
    uint64_t limit;
    int up;

    if (m->comp && len >= 4096) {
        /* Under a bandwidth limit the path carries at most its share of
         * it, whatever TCP measures in the bursts between waits. */
        link = path_link_bps(m, p);
        pthread_mutex_lock(&m->lock);
        limit = m->bucket.rate;
        up = paths_up_locked(m);
        pthread_mutex_unlock(&m->lock);
        share = (double)limit / (up > 0 ? up : 1);
        if (limit && (!link || link > share))
            link = share;
        a = libxlmig__comp_frame(m->comp, src, len, zbuf,
                                 libxlmig__comp_bound(MP_CHUNK), &out, link);
    }
    *out_r = a == LIBXLMIG__COMP_NONE ? src : zbuf;
    *wire_r = a == LIBXLMIG__COMP_NONE ? len : (uint32_t)out;
    return a;
}

/* ---- the bandwidth limit ---- */

/* The window: MP_WINDOW_PER_PATH a path, and under a bandwidth limit no
 * more than 100 ms of it (mp->lock held, or not shared yet). */
static void window_set_locked(mp *m)
{
    uint64_t rate = m->bucket.rate;

    m->window = (uint64_t)MP_WINDOW_PER_PATH * (uint64_t)m->npaths;
    if (rate && rate / 10 < m->window)
        m->window = rate / 10 > MP_CHUNK ? rate / 10 : MP_CHUNK;
    pthread_cond_broadcast(&m->cond);
}

/* Wait until n bytes may go out (every path draws on one bucket). */
static void bucket_take(mp *m, size_t n)
{
    uint64_t us;

    pthread_mutex_lock(&m->lock);
    us = libxlmig__bucket_take(&m->bucket, n);
    pthread_mutex_unlock(&m->lock);
    while (us && !m->closing && !m->fatal) {
        uint64_t step = us > 100000 ? 100000 : us;

        usleep((useconds_t)step);
        us -= step;
    }
}

static void mp_set_limit(libxlmig__transport *t, uint64_t bytes_per_s)
{
    mp *m = mp_of(t);

    pthread_mutex_lock(&m->lock);
    memset(&m->bucket, 0, sizeof(m->bucket));
    m->bucket.rate = bytes_per_s;
    window_set_locked(m);
    pthread_mutex_unlock(&m->lock);
}

/* ---- failure ---- */

/* The whole stream fails (mp->lock held). */
static void fail_locked(mp *m, int rc, const char *why)
{
    int i;

    if (m->fatal)
        return;
    snprintf(m->fatal_why, sizeof(m->fatal_why), "%s", why);
    m->fatal = rc;
    for (i = 0; i < m->npaths; i++)
        libxlmig__transport_shutdown(m->path[i].t);
    pthread_cond_broadcast(&m->cond);
}

/*
 * Path p failed (mp->lock held): it is shut down, its writer puts back
 * what it had not got acknowledged; with no path left the stream fails.
 */
static void path_fail_locked(mp *m, mp_path *p, const char *why)
{
    if (p->state != PATH_UP)
        return;
    p->state = PATH_FAILED;
    snprintf(p->why, sizeof(p->why), "%s", why);
    libxlmig__transport_shutdown(p->t);
    if (!paths_up_locked(m) && !m->closing)
        fail_locked(m, LIBXLMIG_ERROR_IO,
                    "every migration path failed");
    pthread_cond_broadcast(&m->cond);
}

/* Put the frames sent on p and not acknowledged back on the queue. */
static void path_requeue_locked(mp *m, mp_path *p)
{
    mp_frame **pp = &m->sent, *f;

    while ((f = *pp)) {
        if (f->path != p->index) {
            pp = &f->next;
            continue;
        }
        *pp = f->next;
        f->path = -1;
        p->resent++;
        list_insert(&m->queue, f);
    }
    for (f = m->queue, m->queue_tail = NULL; f; f = f->next)
        m->queue_tail = f;
    pthread_cond_broadcast(&m->cond);
}

/* ---- path threads (striped mode) ---- */

typedef struct {
    mp_path *p;
    libxlmig_ctx *ctx;
} thread_arg;

static int thread_ctx(mp *m, libxlmig_ctx **ctx_r)
{
    return libxlmig_ctx_alloc(ctx_r, m->logger);
}

static int send_frame(libxlmig__gc *gc, mp_path *p, unsigned type,
                      uint64_t seq, const void *data, uint32_t len,
                      uint32_t raw_len, unsigned algo)
{
    libxlmig__mp_hdr h;
    struct iovec iov[2];

    hdr_fill(&h, type, (unsigned)p->index, seq, len, raw_len, algo);
    iov[0].iov_base = &h;
    iov[0].iov_len = sizeof(h);
    iov[1].iov_base = (void *)data;
    iov[1].iov_len = len;
    return libxlmig__transport_writev_all(gc, p->t, iov, len ? 2 : 1);
}

static void *writer_main(void *arg)
{
    mp_path *p = arg;
    mp *m = p->mp;
    libxlmig_ctx *ctx = NULL;
    mp_frame *f;
    uint64_t ack, sent_len;
    const void *out;
    uint32_t wire;
    unsigned algo;
    int rc;

    libxlmig__thread_altstack();
    if (thread_ctx(m, &ctx)) {
        pthread_mutex_lock(&m->lock);
        path_fail_locked(m, p, "out of memory");
        path_requeue_locked(m, p);
        pthread_mutex_unlock(&m->lock);
        return NULL;
    }
    GC_INIT(ctx);
    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (p->state != PATH_UP || m->fatal)
            break;
        if (m->want_seq != m->acked_seq) {
            ack = m->acked_seq = m->want_seq;
            pthread_mutex_unlock(&m->lock);
            rc = send_frame(gc, p, LIBXLMIG__MP_ACK, ack, NULL, 0, 0, 0);
            pthread_mutex_lock(&m->lock);
            if (rc) {
                m->acked_seq = 0;     /* another path sends it again */
                path_fail_locked(m, p, libxlmig_last_error(ctx));
            }
            continue;
        }
        f = m->queue;
        if (!f) {
            if (m->closing)
                break;
            pthread_cond_wait(&m->cond, &m->lock);
            continue;
        }
        m->queue = f->next;
        if (!m->queue)
            m->queue_tail = NULL;
        f->path = p->index;
        f->sealed = f->busy = true;
        list_insert(&m->sent, f);
        pthread_mutex_unlock(&m->lock);
        /* An ACK of a copy that went on another path may come meanwhile:
         * busy keeps f until this send is done. */
        algo = frame_encode(m, p, f->data, f->len, p->zbuf, &out, &wire);
        bucket_take(m, wire + sizeof(libxlmig__mp_hdr));
        rc = send_frame(gc, p, LIBXLMIG__MP_DATA, f->seq, out, wire, f->len,
                        algo);
        sent_len = wire + sizeof(libxlmig__mp_hdr);
        p->raw_sent += f->len;
        pthread_mutex_lock(&m->lock);
        f->busy = false;
        if (f->done) {
            free(f);
            f = NULL;
        }
        if (rc) {
            path_fail_locked(m, p, libxlmig_last_error(ctx));
            break;
        }
        p->frames_sent++;
        p->wire_sent += sent_len;
    }
    if (p->state != PATH_UP)
        path_requeue_locked(m, p);
    pthread_mutex_unlock(&m->lock);
    GC_FREE;
    libxlmig_ctx_free(ctx);
    return NULL;
}

/* Consumed frames below seq: the sender forgets them. */
static void acked_locked(mp *m, uint64_t seq)
{
    mp_frame *f;

    while ((f = m->sent) && f->seq < seq) {
        m->sent = f->next;
        m->unacked_bytes -= f->len;
        if (f->busy)
            f->done = true;           /* its writer frees it */
        else
            free(f);
    }
    pthread_cond_broadcast(&m->cond);
}

/* What may wait for an earlier frame: twice the most a sender of as many
 * paths has unacknowledged, and one frame. */
static uint64_t held_max(const mp *m)
{
    return 2ULL * MP_WINDOW_PER_PATH * (uint64_t)m->npaths +
           LIBXLMIG__MP_FRAME_MAX;
}

static void *reader_main(void *arg)
{
    mp_path *p = arg;
    mp *m = p->mp;
    libxlmig_ctx *ctx = NULL;
    libxlmig__mp_hdr h;
    mp_frame *f, **pp;
    int rc;

    libxlmig__thread_altstack();
    if (thread_ctx(m, &ctx)) {
        pthread_mutex_lock(&m->lock);
        path_fail_locked(m, p, "out of memory");
        pthread_mutex_unlock(&m->lock);
        return NULL;
    }
    GC_INIT(ctx);
    for (;;) {
        bool bad_frame = false;

        rc = libxlmig__transport_read_all(gc, p->t, &h, sizeof(h),
                                          "migration path (frame header)");
        if (!rc) {
            rc = hdr_check(gc, &h, p->name);
            bad_frame = rc != 0;
        }
        if (rc) {
            pthread_mutex_lock(&m->lock);
            if (m->closing || p->state != PATH_UP)
                ;                     /* it was shut down on purpose */
            else if (bad_frame)
                fail_locked(m, rc, libxlmig_last_error(ctx));
            else
                path_fail_locked(m, p, libxlmig_last_error(ctx));
            pthread_mutex_unlock(&m->lock);
            break;
        }
        if (h.type == LIBXLMIG__MP_FIN) {
            pthread_mutex_lock(&m->lock);
            if (p->state == PATH_UP)
                p->state = PATH_CLOSED;
            pthread_cond_broadcast(&m->cond);
            pthread_mutex_unlock(&m->lock);
            break;
        }
        if (h.type == LIBXLMIG__MP_ACK) {
            pthread_mutex_lock(&m->lock);
            acked_locked(m, h.seq);
            pthread_mutex_unlock(&m->lock);
            continue;
        }
        if (h.type != LIBXLMIG__MP_DATA) {
            pthread_mutex_lock(&m->lock);
            fail_locked(m, LIBXLMIG_ERROR_PROTOCOL,
                        GCSPRINTF("unexpected frame type %u from %s",
                                  h.type, p->name));
            pthread_mutex_unlock(&m->lock);
            break;
        }
        f = malloc(sizeof(*f) + h.raw_len);
        if (!f)
            libxlmig__alloc_failed(ctx, __func__, 1, h.raw_len);
        memset(f, 0, sizeof(*f));
        f->seq = h.seq;
        f->len = h.raw_len;
        f->path = p->index;
        if (h.algo && !p->rbuf) {
            p->rbuf = malloc(LIBXLMIG__MP_FRAME_MAX);
            if (!p->rbuf)
                libxlmig__alloc_failed(ctx, __func__, 1,
                                       LIBXLMIG__MP_FRAME_MAX);
        }
        rc = libxlmig__transport_read_all(gc, p->t,
                                          h.algo ? p->rbuf : f->data,
                                          h.wire_len,
                                          "migration path (frame)");
        if (!rc && h.algo &&
            libxlmig__decomp_frame(gc, h.algo, p->rbuf, h.wire_len, f->data,
                                   h.raw_len)) {
            free(f);
            pthread_mutex_lock(&m->lock);
            fail_locked(m, LIBXLMIG_ERROR_PROTOCOL, GCSPRINTF(
                "a frame from %s does not decode: %s", p->name,
                libxlmig_last_error(ctx)));
            pthread_mutex_unlock(&m->lock);
            break;
        }
        pthread_mutex_lock(&m->lock);
        if (rc) {
            free(f);
            if (!m->closing)
                path_fail_locked(m, p, libxlmig_last_error(ctx));
            pthread_mutex_unlock(&m->lock);
            break;
        }
        p->frames_recv++;
        p->wire_recv += h.wire_len + sizeof(h);
        /* A copy of a frame already delivered or held: drop it. */
        for (pp = &m->held; *pp && (*pp)->seq < f->seq; pp = &(*pp)->next)
            ;
        if (f->seq < m->want_seq || (*pp && (*pp)->seq == f->seq) ||
            (m->cur && m->cur->seq == f->seq)) {
            free(f);
            m->acked_seq = m->want_seq - 1;   /* say again what arrived */
        } else if (m->held_bytes + f->len > held_max(m)) {
            /* An honest sender never has more out than its window: one
             * that runs ahead of a frame it never sends is refused. */
            free(f);
            fail_locked(m, LIBXLMIG_ERROR_PROTOCOL, GCSPRINTF(
                "%s sent more than %llu MiB ahead of a frame that does not "
                "come", p->name, (unsigned long long)(held_max(m) >> 20)));
        } else {
            f->next = *pp;
            *pp = f;
            m->held_bytes += f->len;
        }
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
    }
    GC_FREE;
    libxlmig_ctx_free(ctx);
    return NULL;
}

/* ---- the public transport's ops ---- */

/* Wait on mp->cond at most ms. */
static int wait_slice_locked(mp *m, int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&m->cond, &m->lock, &ts);
}

static ssize_t fatal_errno(mp *m)
{
    errno = m->fatal == LIBXLMIG_ERROR_PROTOCOL ? EPROTO : ECONNRESET;
    return -1;
}

/*
 * A path whose connection has data to deliver, out on the link or still
 * queued while the peer's window is open (a link whose device went down
 * sends nothing), that the peer's
 * TCP has not acknowledged for MP_STALL_MS, while another path is up,
 * has stalled: a link that drops everything, seconds before TCP's user
 * timeout says so.  Seen so at two checks MP_STALL_CONFIRM_MS apart (data
 * written after a quiet spell is unacknowledged for one round trip), it
 * is failed and its frames go on the others (mp->lock held).  TCP's own
 * acknowledgements, not ours, so that a slow reader (a window that
 * closed, which TCP still acknowledges) never counts as a dead link.
 * Without the queued data, a mig1 cut by `ip link set down` in the
 * benchmark went unnoticed until the user timeout (15 s), and at the end
 * of the stream close waited its 10 s for it.  The writer checks every
 * MP_STALL_CONFIRM_MS, and so do waits (striped_writev, the reader,
 * mp_close).
 */
#define MP_STALL_MS 3000
#define MP_STALL_CONFIRM_MS 500
static void stall_check_locked(mp *m)
{
    struct tcp_info ti;
    socklen_t len;
    uint64_t now = libxlmig__now_us();
    bool pending;
    int i, fd;

    if (paths_up_locked(m) < 2)
        return;
    for (i = 0; i < m->npaths; i++) {
        mp_path *p = &m->path[i];

        if (p->state != PATH_UP)
            continue;
        fd = libxlmig__transport_fd(p->t);
        len = sizeof(ti);
        memset(&ti, 0, sizeof(ti));
        if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
            continue;
        /* Queued data counts only while the peer's window is open: a
         * slow reader's zero window sends nothing either, and the
         * probes TCP sends it back off to seconds apart. */
        pending = ti.tcpi_unacked ||
                  (len >= offsetof(struct tcp_info, tcpi_snd_wnd) +
                          sizeof(ti.tcpi_snd_wnd) &&
                   ti.tcpi_notsent_bytes && ti.tcpi_snd_wnd);
        if (!pending || ti.tcpi_last_ack_recv < MP_STALL_MS) {
            p->stall_us = 0;
            continue;
        }
        if (!p->stall_us) {
            p->stall_us = now;
            continue;
        }
        if (now - p->stall_us < MP_STALL_CONFIRM_MS * 1000ULL)
            continue;
        path_fail_locked(m, p, "its link acknowledged nothing for "
                         "3 s: taken for dead");
        if (paths_up_locked(m) < 2)
            return;
    }
}

/*
 * Queue the bytes: appended to the last queued frame while no writer has
 * taken it (small writes share frames), else in new frames of up to
 * MP_CHUNK bytes.  Waits while the window is full of unacknowledged bytes.
 */
static ssize_t striped_writev(mp *m, const struct iovec *iov, int iovcnt)
{
    uint64_t waited_us, now = libxlmig__now_us();
    size_t total = 0, off = 0, n;
    int i;
    mp_frame *f;

    for (i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    i = 0;
    pthread_mutex_lock(&m->lock);
    /* Every MP_STALL_CONFIRM_MS also while the window has room: a dead
     * path whose frames are few is found during the stream, not when
     * its end waits for them with the guest paused. */
    if (now - m->stall_check_us >= MP_STALL_CONFIRM_MS * 1000ULL) {
        m->stall_check_us = now;
        stall_check_locked(m);
    }
    while (i < iovcnt) {
        waited_us = 0;
        while (!m->fatal && m->unacked_bytes >= m->window) {
            if (wait_slice_locked(m, 500) == ETIMEDOUT) {
                waited_us += 500000;
                stall_check_locked(m);
                if (m->t->timeout_ms >= 0 &&
                    waited_us >= (uint64_t)m->t->timeout_ms * 1000ULL) {
                    pthread_mutex_unlock(&m->lock);
                    errno = ETIME;
                    return -1;
                }
            }
        }
        if (m->fatal) {
            pthread_mutex_unlock(&m->lock);
            return fatal_errno(m);
        }
        f = m->queue_tail;
        if (!f || f->len == MP_CHUNK || f->sealed) {
            f = malloc(sizeof(*f) + MP_CHUNK);
            if (!f) {
                pthread_mutex_unlock(&m->lock);
                errno = ENOMEM;
                return -1;
            }
            memset(f, 0, sizeof(*f));
            f->path = -1;
            f->seq = m->next_seq++;
            if (m->queue_tail)
                m->queue_tail->next = f;
            else
                m->queue = f;
            m->queue_tail = f;
        }
        n = iov[i].iov_len - off;
        if (n > MP_CHUNK - f->len)
            n = MP_CHUNK - f->len;
        memcpy(f->data + f->len, (char *)iov[i].iov_base + off, n);
        f->len += (uint32_t)n;
        m->unacked_bytes += n;
        off += n;
        if (off == iov[i].iov_len) {
            i++;
            off = 0;
        }
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    /* All of it is queued: it is sent (or resent) from here on. */
    return (ssize_t)total;
}

/* Buffers of one frame on the only path (direct_writev splits more). */
#define DIRECT_IOV_MAX 64

/* The only path failed (its reason logged in the caller's context): the
 * stream with it, and the reason is the transport's (mp_why). */
static void direct_failed(mp *m, int rc)
{
    pthread_mutex_lock(&m->lock);
    fail_locked(m, rc, libxlmig_last_error(m->t->log_ctx));
    pthread_mutex_unlock(&m->lock);
}

/* One frame on the only path, from the caller's thread: compressed when
 * the chooser says so, else the data as it is (pages by reference). */
static int direct_frame(mp *m, const struct iovec *iov, int iovcnt,
                        size_t total, bool pages)
{
    mp_path *p = &m->path[0];
    libxlmig__transport *pt = p->t;
    libxlmig__mp_hdr h;
    struct iovec v[DIRECT_IOV_MAX + 1];
    const void *out = NULL;
    uint32_t wire = (uint32_t)total;
    unsigned algo = LIBXLMIG__COMP_NONE;
    int i, rc;

    /* Scattered pages are gathered for the chooser only while it
     * compresses, in a fixed mode, or one frame in 32 (its sample):
     * a copy of every frame would cost more than auto saves on a fast
     * link. */
    if (m->comp && total >= 4096 &&
        (iovcnt == 1 || m->o.compression != LIBXLMIG_COMPRESSION_AUTO ||
         p->last_algo != LIBXLMIG__COMP_NONE || !(++p->skipped % 32))) {
        const void *src = iov[0].iov_base;

        if (iovcnt > 1) {
            size_t off = 0;

            for (i = 0; i < iovcnt; i++) {
                memcpy(m->gbuf + off, iov[i].iov_base, iov[i].iov_len);
                off += iov[i].iov_len;
            }
            src = m->gbuf;
        }
        algo = frame_encode(m, p, src, (uint32_t)total, p->zbuf, &out,
                            &wire);
        p->last_algo = algo;
    }
    hdr_fill(&h, LIBXLMIG__MP_DATA, 0, m->next_seq++, wire, (uint32_t)total,
             algo);
    bucket_take(m, wire + sizeof(h));
    {
        GC_INIT(m->t->log_ctx);

        if (algo != LIBXLMIG__COMP_NONE) {
            v[0].iov_base = &h;
            v[0].iov_len = sizeof(h);
            v[1].iov_base = (void *)out;
            v[1].iov_len = wire;
            rc = libxlmig__transport_writev_all(gc, pt, v, 2);
        } else if (pages && libxlmig__transport_by_ref(pt)) {
            rc = libxlmig__transport_write_all(gc, pt, &h, sizeof(h));
            if (!rc) {
                uint64_t ref = pt->bytes_by_ref;

                memcpy(v, iov, sizeof(*v) * (size_t)iovcnt);
                rc = libxlmig__transport_send_pages(gc, pt, v, iovcnt);
                m->t->bytes_by_ref += pt->bytes_by_ref - ref;
            }
        } else {
            /* Header and data in one write: over TLS one run of full
             * records, not a record for the header alone. */
            v[0].iov_base = &h;
            v[0].iov_len = sizeof(h);
            memcpy(v + 1, iov, sizeof(*v) * (size_t)iovcnt);
            rc = libxlmig__transport_writev_all(gc, pt, v, iovcnt + 1);
        }
        GC_FREE;
    }
    if (rc) {
        direct_failed(m, rc);
        errno = rc == LIBXLMIG_ERROR_TIMEOUT ? ETIME : EIO;
        return -1;
    }
    p->frames_sent++;
    p->wire_sent += wire + sizeof(h);
    p->raw_sent += total;
    return 0;
}

/* One path: the writes in frames of at most MP_CHUNK bytes when they may
 * be compressed, else of at most LIBXLMIG__MP_FRAME_MAX. */
static ssize_t direct_writev(mp *m, const struct iovec *iov, int iovcnt,
                             bool pages)
{
    size_t max = m->comp ? MP_CHUNK : LIBXLMIG__MP_FRAME_MAX;
    size_t total = 0, done = 0;
    struct iovec *copy, *cv, part[DIRECT_IOV_MAX];
    int i, cn = iovcnt;

    for (i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total <= max && iovcnt <= DIRECT_IOV_MAX)
        return direct_frame(m, iov, iovcnt, total, pages) ? -1
                                                           : (ssize_t)total;
    copy = malloc(sizeof(*copy) * (size_t)iovcnt);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(copy, iov, sizeof(*copy) * (size_t)iovcnt);
    cv = copy;
    while (done < total) {
        size_t want = total - done < max ? total - done : max, got = 0;
        int k = 0;

        while (k < cn && k < DIRECT_IOV_MAX && got < want) {
            part[k] = cv[k];
            if (got + part[k].iov_len > want)
                part[k].iov_len = want - got;
            got += part[k].iov_len;
            k++;
        }
        if (direct_frame(m, part, k, got, pages)) {
            free(copy);
            return -1;
        }
        libxlmig__iov_advance(&cv, &cn, got);
        done += got;
    }
    free(copy);
    return (ssize_t)total;
}

static ssize_t mp_writev(libxlmig__transport *t, const struct iovec *iov,
                         int iovcnt)
{
    mp *m = mp_of(t);

    if (m->fatal)
        return fatal_errno(m);
    return m->striped ? striped_writev(m, iov, iovcnt)
                      : direct_writev(m, iov, iovcnt, false);
}

static int mp_send_pages(libxlmig__gc *gc, libxlmig__transport *t,
                         struct iovec *iov, int iovcnt)
{
    mp *m = mp_of(t);
    ssize_t r;

    (void)gc;
    r = m->striped ? striped_writev(m, iov, iovcnt)
                   : direct_writev(m, iov, iovcnt, true);
    if (r < 0) {
        LOGE(ERROR, "sending to %s failed", t->peer);
        return LIBXLMIG_ERROR_IO;
    }
    t->bytes_sent += (uint64_t)r;
    return 0;
}

/* Striped: until the reader consumed every frame; one path: its
 * socket's queue. */
static int mp_drain(libxlmig__transport *t, int timeout_ms)
{
    mp *m = mp_of(t);
    uint64_t end = libxlmig__now_us() + (uint64_t)timeout_ms * 1000ULL;
    uint64_t now;
    int ms;

    if (!m->striped)
        return libxlmig__transport_drain(m->path[0].t, timeout_ms);
    pthread_mutex_lock(&m->lock);
    while (m->unacked_bytes && !m->fatal &&
           (now = libxlmig__now_us()) < end) {
        ms = (int)((end - now + 999) / 1000);
        if (wait_slice_locked(m, ms < MP_STALL_CONFIRM_MS ?
                                 ms : MP_STALL_CONFIRM_MS) == ETIMEDOUT)
            stall_check_locked(m);   /* what we wait for may be stuck */
    }
    ms = m->unacked_bytes && !m->fatal ? -1 : 0;
    pthread_mutex_unlock(&m->lock);
    return ms;
}

/* Every path is opened alike: sealed when the first one is. */
static bool mp_sealed(libxlmig__transport *t)
{
    return libxlmig__transport_sealed(mp_of(t)->path[0].t);
}

static bool mp_by_ref(libxlmig__transport *t)
{
    mp *m = mp_of(t);

    return !m->striped && libxlmig__transport_by_ref(m->path[0].t);
}

static ssize_t striped_read(mp *m, void *buf, size_t len)
{
    uint64_t waited_us = 0;
    size_t n;
    int r;

    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (m->cur) {
            n = m->cur->len - m->cur_off;
            if (n > len) n = len;
            memcpy(buf, m->cur->data + m->cur_off, n);
            m->cur_off += n;
            if (m->cur_off == m->cur->len) {
                free(m->cur);
                m->cur = NULL;
                m->want_seq++;
                pthread_cond_broadcast(&m->cond);   /* an ACK is due */
            }
            pthread_mutex_unlock(&m->lock);
            return (ssize_t)n;
        }
        if (m->held && m->held->seq == m->want_seq) {
            m->cur = m->held;
            m->held = m->cur->next;
            m->held_bytes -= m->cur->len;
            m->cur_off = 0;
            if (!m->cur->len) {
                free(m->cur);
                m->cur = NULL;
                m->want_seq++;
            }
            continue;
        }
        if (m->fatal) {
            pthread_mutex_unlock(&m->lock);
            return fatal_errno(m);
        }
        if (!paths_up_locked(m)) {
            pthread_mutex_unlock(&m->lock);
            return 0;                 /* every path closed: the end */
        }
        r = wait_slice_locked(m, 500);
        if (r == ETIMEDOUT) {
            waited_us += 500000;
            stall_check_locked(m);    /* what we wait for may be stuck */
            if (m->t->timeout_ms >= 0 &&
                waited_us >= (uint64_t)m->t->timeout_ms * 1000ULL &&
                !m->cur && !(m->held && m->held->seq == m->want_seq)) {
                pthread_mutex_unlock(&m->lock);
                errno = ETIME;
                return -1;
            }
        }
    }
}

/* Into the buffers of iov, in order, as much of the current frame as
 * one read of the only path brings (pages of a slice in one readv). */
static ssize_t direct_readv(mp *m, const struct iovec *iov, int iovcnt)
{
    libxlmig__transport *pt = m->path[0].t;
    libxlmig__mp_hdr h;
    struct iovec v[DIRECT_IOV_MAX];
    size_t got, want;
    int rc = 0, i, n;
    GC_INIT(m->t->log_ctx);

    while (!m->direct_left && m->dbuf_off == m->dbuf_len) {
        rc = libxlmig__transport_read_all(gc, pt, &h, sizeof(h),
                                          "migration path (frame header)");
        if (!rc)
            rc = hdr_check(gc, &h, m->path[0].name);
        if (!rc && h.type == LIBXLMIG__MP_FIN) {
            GC_FREE;
            return 0;
        }
        if (!rc && h.type != LIBXLMIG__MP_DATA) {
            LOG(ERROR, "unexpected frame type %u from %s", h.type,
                m->path[0].name);
            rc = LIBXLMIG_ERROR_PROTOCOL;
        }
        if (!rc && h.algo) {
            /* A compressed frame: decoded whole, then served from dbuf. */
            if (!m->dbuf)
                m->dbuf = malloc(2 * (size_t)LIBXLMIG__MP_FRAME_MAX);
            if (!m->dbuf)
                libxlmig__alloc_failed(CTX, __func__, 2,
                                       LIBXLMIG__MP_FRAME_MAX);
            rc = libxlmig__transport_read_all(gc, pt,
                                              m->dbuf + LIBXLMIG__MP_FRAME_MAX,
                                              h.wire_len,
                                              "migration path (frame)");
            if (!rc)
                rc = libxlmig__decomp_frame(gc, h.algo,
                                            m->dbuf + LIBXLMIG__MP_FRAME_MAX,
                                            h.wire_len, m->dbuf, h.raw_len);
            if (!rc) {
                m->dbuf_len = h.raw_len;
                m->dbuf_off = 0;
            }
        } else if (!rc) {
            m->direct_left = h.wire_len;
        }
        if (rc) {
            GC_FREE;
            direct_failed(m, rc);
            errno = rc == LIBXLMIG_ERROR_TIMEOUT ? ETIME : EPROTO;
            return -1;
        }
        m->path[0].frames_recv++;
        m->path[0].wire_recv += h.wire_len + sizeof(h);
    }
    if (m->dbuf_off < m->dbuf_len) {
        GC_FREE;
        for (i = 0, got = 0; i < iovcnt && m->dbuf_off < m->dbuf_len; i++) {
            want = iov[i].iov_len;
            if (want > m->dbuf_len - m->dbuf_off)
                want = m->dbuf_len - m->dbuf_off;
            memcpy(iov[i].iov_base, m->dbuf + m->dbuf_off, want);
            m->dbuf_off += (uint32_t)want;
            got += want;
        }
        return (ssize_t)got;
    }
    /* The buffers this frame fills, the last one cut to its end. */
    for (n = 0, want = 0; n < iovcnt && n < DIRECT_IOV_MAX &&
                          want < m->direct_left; n++) {
        v[n] = iov[n];
        if (v[n].iov_len > m->direct_left - want)
            v[n].iov_len = m->direct_left - want;
        want += v[n].iov_len;
    }
    rc = libxlmig__transport_readv_some(gc, pt, v, n, &got,
                                        "migration path (frame)");
    GC_FREE;
    if (rc) {
        direct_failed(m, rc);
        errno = rc == LIBXLMIG_ERROR_TIMEOUT ? ETIME : EIO;
        return -1;
    }
    if (!got) {
        errno = EPIPE;            /* the connection ended inside a frame */
        return -1;
    }
    m->direct_left -= (uint32_t)got;
    return (ssize_t)got;
}

static ssize_t mp_read(libxlmig__transport *t, void *buf, size_t len)
{
    mp *m = mp_of(t);
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    return m->striped ? striped_read(m, buf, len) : direct_readv(m, &iov, 1);
}

static ssize_t mp_readv(libxlmig__transport *t, const struct iovec *iov,
                        int iovcnt)
{
    mp *m = mp_of(t);
    int i;

    /* Empty buffers first are skipped; the rest are filled in order. */
    for (i = 0; i < iovcnt && !iov[i].iov_len; i++)
        ;
    if (i == iovcnt)
        return 0;
    if (!m->striped)
        return direct_readv(m, iov + i, iovcnt - i);
    return striped_read(m, iov[i].iov_base, iov[i].iov_len);
}

static void mp_shutdown(libxlmig__transport *t)
{
    mp *m = mp_of(t);
    int i;

    pthread_mutex_lock(&m->lock);
    fail_locked(m, LIBXLMIG_ERROR_IO, "shut down");
    for (i = 0; i < m->npaths; i++)
        libxlmig__transport_shutdown(m->path[i].t);
    pthread_mutex_unlock(&m->lock);
}

/*
 * Close: wait (bounded) until the peer has everything we sent, say FIN on
 * every path that is up, stop the threads, free the paths.
 */
static void mp_close(libxlmig__transport *t)
{
    mp *m = mp_of(t);
    uint64_t until = libxlmig__now_us() + MP_FLUSH_MS * 1000ULL;
    int i;

    pthread_mutex_lock(&m->lock);
    if (m->striped) {
        while (!m->fatal && paths_up_locked(m) &&
               (m->queue || m->sent) && libxlmig__now_us() < until) {
            struct timespec ts;

            /* A dead path's frames go on the others instead of
             * holding the end. */
            stall_check_locked(m);

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&m->cond, &m->lock, &ts);
        }
    }
    m->closing = true;
    /* What the peer has not acknowledged by now will not arrive: stop the
     * writers that may hang on a dead link. */
    if (m->striped && (m->queue || m->sent))
        for (i = 0; i < m->npaths; i++)
            libxlmig__transport_shutdown(m->path[i].t);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    for (i = 0; i < m->npaths; i++)
        if (m->path[i].has_writer)
            pthread_join(m->path[i].writer, NULL);
    for (i = 0; i < m->npaths; i++) {
        mp_path *p = &m->path[i];

        if (p->state == PATH_UP && !m->fatal) {
            GC_INIT(m->t->log_ctx);
            int saved = p->t->timeout_ms;

            p->t->timeout_ms = 1000;
            (void)send_frame(gc, p, LIBXLMIG__MP_FIN, 0, NULL, 0, 0, 0);
            p->t->timeout_ms = saved;
            GC_FREE;
        }
        libxlmig__transport_shutdown(p->t);
    }
    for (i = 0; i < m->npaths; i++) {
        if (m->path[i].has_reader)
            pthread_join(m->path[i].reader, NULL);
        libxlmig__transport_free(m->path[i].t);
        free(m->path[i].name);
        free(m->path[i].zbuf);
        free(m->path[i].rbuf);
    }
    frames_free(m->queue);
    frames_free(m->sent);
    frames_free(m->held);
    free(m->cur);
    free(m->dbuf);
    free(m->gbuf);
    libxlmig__comp_free(m->comp);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
    t->priv = NULL;
}

static const char *mp_why(libxlmig__transport *t, bool send)
{
    mp *m = mp_of(t);

    (void)send;
    return m->fatal ? m->fatal_why : NULL;
}

/* The paths' security: the first one's (every path is opened alike). */
static const char *mp_security(libxlmig__transport *t)
{
    return libxlmig__transport_security(mp_of(t)->path[0].t);
}

static int mp_fd(libxlmig__transport *t)
{
    return libxlmig__transport_fd(mp_of(t)->path[0].t);
}

static const libxlmig__transport_ops mp_ops = {
    .why = mp_why,
    .security = mp_security,
    .set_limit = mp_set_limit,
    .fd_of = mp_fd,
    .name = "migration paths",
    .waits = true,
    .writev = mp_writev,
    .read = mp_read,
    .readv = mp_readv,
    .close = mp_close,
    .shutdown = mp_shutdown,
    .send_pages = mp_send_pages,
    .by_ref = mp_by_ref,
    .sealed = mp_sealed,
    .drain = mp_drain,
};

/* ---- opening ---- */

static int mp_new(libxlmig__gc *gc, libxlmig__transport **paths,
                  char **names, int n, const libxlmig__mp_opts *o,
                  libxlmig__transport **t_r)
{
    libxlmig__transport *t;
    mp *m;
    int i;

    t = calloc(1, sizeof(*t));
    m = calloc(1, sizeof(*m));
    if (!t || !m)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    m->t = t;
    m->logger = libxlmig_ctx_logger(CTX);
    if (o)
        m->o = *o;
    m->npaths = n;
    m->striped = n > 1;
    m->bucket.rate = m->o.bandwidth_limit;
    window_set_locked(m);
    if (m->o.compression != LIBXLMIG_COMPRESSION_OFF) {
        if (libxlmig__comp_new(gc, m->o.compression, &m->comp))
            m->comp = NULL;       /* logged: the stream goes raw */
        else if (!(m->gbuf = malloc(MP_CHUNK)))
            libxlmig__alloc_failed(CTX, __func__, 1, MP_CHUNK);
    }
    for (i = 0; i < n; i++) {
        m->path[i].mp = m;
        m->path[i].index = i;
        m->path[i].t = paths[i];
        m->path[i].name = strdup(names && names[i] ? names[i]
                                                   : paths[i]->peer);
        m->path[i].state = PATH_UP;
        if (m->comp &&
            !(m->path[i].zbuf = malloc(libxlmig__comp_bound(MP_CHUNK))))
            libxlmig__alloc_failed(CTX, __func__, 1, MP_CHUNK);
        paths[i]->timeout_ms = -1;    /* path threads wait for data */
    }
    if (!m->striped)
        paths[0]->timeout_ms = LIBXLMIG_STREAM_TIMEOUT_MS;
    t->ops = &mp_ops;
    t->fd = -1;
    t->priv = m;
    t->log_ctx = CTX;
    t->timeout_ms = LIBXLMIG_STREAM_TIMEOUT_MS;
    t->peer = strdup(paths[0]->peer);
    if (!t->peer)
        libxlmig__alloc_failed(CTX, __func__, 1, 64);
    if (m->striped) {
        for (i = 0; i < n; i++) {
            mp_path *p = &m->path[i];

            if (pthread_create(&p->writer, NULL, writer_main, p) == 0)
                p->has_writer = true;
            if (pthread_create(&p->reader, NULL, reader_main, p) == 0)
                p->has_reader = true;
            if (!p->has_writer || !p->has_reader) {
                LOG(ERROR, "cannot start the threads of migration path %s",
                    p->name);
                libxlmig__transport_free(t);
                return LIBXLMIG_ERROR_FAIL;
            }
        }
    }
    *t_r = t;
    return 0;
}

int libxlmig__mp_open(libxlmig__gc *gc, libxlmig__transport **paths,
                      char **names, int n, const libxlmig__mp_opts *o,
                      libxlmig__transport **t_r)
{
    libxlmig__mp_hdr h;
    int i, rc;

    if (n < 1 || n > LIBXLMIG__MP_MAX_PATHS) {
        LOG(ERROR, "%d migration paths: between 1 and %d are possible", n,
            LIBXLMIG__MP_MAX_PATHS);
        for (i = 0; i < n; i++)
            libxlmig__transport_free(paths[i]);
        return LIBXLMIG_ERROR_INVAL;
    }
    hdr_fill(&h, LIBXLMIG__MP_START, 0, (uint64_t)n, 0, LIBXLMIG__MP_VERSION,
             0);
    rc = libxlmig__transport_write_all(gc, paths[0], &h, sizeof(h));
    if (rc) {
        for (i = 0; i < n; i++)
            libxlmig__transport_free(paths[i]);
        return rc;
    }
    return mp_new(gc, paths, names, n, o, t_r);
}

int libxlmig__mp_accept(libxlmig__gc *gc, libxlmig__transport *first,
                        const char *first_name, libxlmig__mp_join_fn *join,
                        void *opaque, const libxlmig__mp_opts *o,
                        libxlmig__transport **t_r)
{
    libxlmig__transport *paths[LIBXLMIG__MP_MAX_PATHS] = { first };
    char *names[LIBXLMIG__MP_MAX_PATHS] = { (char *)first_name };
    libxlmig__mp_hdr h;
    int i, n, rc;

    rc = libxlmig__transport_read_all(gc, first, &h, sizeof(h),
                                      "migration stream (paths)");
    if (!rc)
        rc = hdr_check(gc, &h, first->peer);
    if (rc)
        goto fail;
    if (h.type != LIBXLMIG__MP_START || h.raw_len != LIBXLMIG__MP_VERSION ||
        h.seq < 1 || h.seq > LIBXLMIG__MP_MAX_PATHS) {
        LOG(ERROR, "%s opened the migration stream wrongly (frame type %u, "
            "version %u, %llu paths)", first->peer, h.type, h.raw_len,
            (unsigned long long)h.seq);
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto fail;
    }
    n = (int)h.seq;
    for (i = 1; i < n; i++) {
        rc = join(gc, opaque, i, &paths[i], &names[i]);
        if (rc) {
            while (--i >= 1)
                libxlmig__transport_free(paths[i]);
            goto fail;
        }
    }
    return mp_new(gc, paths, names, n, o, t_r);
 fail:
    libxlmig__transport_free(first);
    return rc;
}

void libxlmig__mp_gen_paths(libxlmig__transport *t, yajl_gen g)
{
    mp *m;
    int i;

    yajl_gen_array_open(g);
    if (!t || t->ops != &mp_ops) {
        yajl_gen_array_close(g);
        return;
    }
    m = mp_of(t);
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->npaths; i++) {
        mp_path *p = &m->path[i];

        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "path", p->name);
        libxlmig__yajl_gen_kv_str(g, "state",
                                  p->state == PATH_UP ? "up" :
                                  p->state == PATH_CLOSED ? "closed" :
                                  "failed");
        if (p->state == PATH_FAILED)
            libxlmig__yajl_gen_kv_str(g, "error", p->why);
        libxlmig__yajl_gen_kv_uint(g, "bytes_sent", p->wire_sent);
        libxlmig__yajl_gen_kv_uint(g, "data_bytes_sent", p->raw_sent);
        libxlmig__yajl_gen_kv_uint(g, "bytes_received", p->wire_recv);
        libxlmig__yajl_gen_kv_uint(g, "frames_resent", p->resent);
        yajl_gen_map_close(g);
    }
    pthread_mutex_unlock(&m->lock);
    yajl_gen_array_close(g);
}

void libxlmig__mp_gen_compression(libxlmig__transport *t, yajl_gen g)
{
    libxlmig__comp_stats_t cs;
    uint64_t raw = 0, wire = 0;
    mp *m;
    int a;

    if (t && t->ops == &mp_ops && (m = mp_of(t))->comp) {
        libxlmig__comp_stats(m->comp, &cs);
        for (a = 0; a < LIBXLMIG__COMP_NR_ALGOS; a++) {
            libxlmig__yajl_gen_str(g, libxlmig__comp_algo_name(a));
            yajl_gen_map_open(g);
            libxlmig__yajl_gen_kv_uint(g, "frames", cs.frames[a]);
            libxlmig__yajl_gen_kv_uint(g, "bytes_in", cs.bytes_in[a]);
            libxlmig__yajl_gen_kv_uint(g, "bytes_out", cs.bytes_out[a]);
            yajl_gen_map_close(g);
            raw += cs.bytes_in[a];
            wire += cs.bytes_out[a];
        }
        libxlmig__yajl_gen_kv_uint(g, "cpu_ms", cs.cpu_ns / 1000000);
        libxlmig__yajl_gen_kv_double(g, "ratio",
                                     raw ? (double)wire / (double)raw : 1.0);
    }
}

int libxlmig__mp_paths_up(libxlmig__transport *t)
{
    mp *m;
    int n;

    if (!t || t->ops != &mp_ops)
        return 0;
    m = mp_of(t);
    pthread_mutex_lock(&m->lock);
    n = paths_up_locked(m);
    pthread_mutex_unlock(&m->lock);
    return n;
}
