/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The relay of a Xen migration stream through xlmig's transport
 * (xen_relay.h): libxl's stream goes through a local socket pair, and a
 * relay thread passes it on in frames (DATA chunks, then END with the
 * total or ABORT), so that the transport is the only code on the peer's
 * connection and the receiver knows where the Xen stream ends.  The
 * local end is read and written through a transport too (a borrowed fd),
 * as every stream's fd is.
 */
#include <endian.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/xen/xen_relay.h"

void libxlmig__xen_relay_init(libxlmig__xen_relay *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

int libxlmig__xen_relay_pair(libxlmig__gc *gc, int pair_r[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair_r)) {
        LOGE(ERROR, "cannot create the local socket pair of the Xen stream");
        return LIBXLMIG_ERROR_FAIL;
    }
    /* The system's default buffers (about 200 KiB each way): what waits
     * in them is neither on the wire nor counted as sent, and a larger
     * backlog only delays the last bytes after the guest stopped. */
    return 0;
}

/* The header of a frame of type with len bytes of payload (network
 * order), its CRC over the header and, unless SEALED, the payload. */
static void hdr_fill(xen_relay_hdr *h, uint32_t type, const void *payload,
                     uint32_t len)
{
    h->magic = htonl(XEN_RELAY_MAGIC);
    h->type = htonl(type);
    h->len = htonl(len);
    h->crc = libxlmig__crc32c(0, h, offsetof(xen_relay_hdr, crc));
    if (type != XEN_RELAY_SEALED)
        h->crc = libxlmig__crc32c(h->crc, payload, len);
    h->crc = htonl(h->crc);
}

static void tick(libxlmig__xen_relay *r, bool force)
{
    uint64_t now;

    if (!r->tick)
        return;
    now = libxlmig__now_us();
    if (!force && now - r->t_tick_us < (uint64_t)r->tick_ms * 1000)
        return;
    r->t_tick_us = now;
    r->tick(r->tick_user);
}

static void count(libxlmig__xen_relay *r, uint64_t n)
{
    uint64_t b = r->bytes + n;

    __atomic_store_n(&r->bytes, b, __ATOMIC_RELAXED);
    if (r->mirror)
        __atomic_store_n(r->mirror, b, __ATOMIC_RELAXED);
}

/* The calling thread's CPU time (ns). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The relay's account begins (in the thread that relays). */
static void account_start(libxlmig__xen_relay *r)
{
    r->t0_us = libxlmig__now_us();
    r->cpu0_ns = thread_cpu_ns();
    r->transport_ns = 0;
    r->wall_us = r->cpu_us = r->transport_cpu_us = 0;
}

/* A transport call's CPU time, from c0 = thread_cpu_ns() before it. */
static void account_transport(libxlmig__xen_relay *r, uint64_t c0)
{
    uint64_t c1 = thread_cpu_ns();

    if (c1 > c0)
        r->transport_ns += c1 - c0;
}

/*
 * The relay's account ends: the figures into *r and, when it ended well,
 * the one line that says what it cost (a test script parses it: keep its
 * words).  own = thread CPU - transport CPU, also per GiB of stream.
 */
static void account_end(libxlmig__gc *gc, libxlmig__xen_relay *r,
                        bool sending, int rc)
{
    uint64_t c1 = thread_cpu_ns(), now = libxlmig__now_us(), own_us;
    double per_gib;

    r->wall_us = now > r->t0_us ? now - r->t0_us : 0;
    r->cpu_us = c1 > r->cpu0_ns ? (c1 - r->cpu0_ns) / 1000 : 0;
    /* No more than cpu_us: every transport call lies within the relay. */
    r->transport_cpu_us = r->transport_ns / 1000;
    if (rc)
        return;
    own_us = r->cpu_us >= r->transport_cpu_us
             ? r->cpu_us - r->transport_cpu_us : 0;
    per_gib = r->bytes ? (double)own_us / 1000.0 /
                         ((double)r->bytes / (1024.0 * 1024.0 * 1024.0))
                       : 0.0;
    LOG(INFO, "xen relay: %s %llu bytes %s %s in %llu ms, relay thread CPU "
        "%llu ms, of which %llu ms in the transport, own %llu ms (%.1f "
        "ms/GiB)", sending ? "sent" : "received",
        (unsigned long long)r->bytes, sending ? "to" : "from", r->t->peer,
        (unsigned long long)(r->wall_us / 1000),
        (unsigned long long)(r->cpu_us / 1000),
        (unsigned long long)(r->transport_cpu_us / 1000),
        (unsigned long long)(own_us / 1000), per_gib);
}

static int local_open(libxlmig__gc *gc, libxlmig__xen_relay *r)
{
    int rc;

    if (r->local)
        return 0;
    rc = libxlmig__transport_fd_borrow(gc, r->fd, "libxl", &r->local);
    if (rc) return rc;
    r->t_tick_us = libxlmig__now_us();
    return 0;
}

static void local_close(libxlmig__xen_relay *r)
{
    libxlmig__transport_free(r->local);
    r->local = NULL;
}

/* The end of a relay either way: on failure libxl's end of the pair is
 * shut down; the last tick, the account, the buffer and the local end
 * go. */
static int relay_end(libxlmig__gc *gc, libxlmig__xen_relay *r,
                     bool sending, int rc, void *buf)
{
    if (rc && r->fd >= 0)
        shutdown(r->fd, SHUT_RDWR);
    tick(r, true);
    account_end(gc, r, sending, rc);
    free(buf);
    local_close(r);
    return rc;
}

/* Wait until libxl wrote something (or its end closed), ticking
 * meanwhile. */
static int wait_input(libxlmig__gc *gc, libxlmig__xen_relay *r)
{
    struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
    int ms = r->tick ? (int)r->tick_ms : -1, n;

    for (;;) {
        n = poll(&pfd, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            LOGE(ERROR, "waiting for libxl's stream failed");
            return LIBXLMIG_ERROR_IO;
        }
        tick(r, false);
    }
}

int libxlmig__xen_relay_send(libxlmig__gc *gc, libxlmig__xen_relay *r)
{
    const size_t hl = sizeof(xen_relay_hdr);
    uint8_t *buf = NULL;
    uint64_t c0;
    size_t got;
    ssize_t n;
    int rc;
    /* Over TLS the payload's CRC would repeat its AEAD tag's check (and
     * on a dom0 of one vCPU take time from libxl's save): left out. */
    uint32_t type = libxlmig__transport_sealed(r->t) ? XEN_RELAY_SEALED
                                                     : XEN_RELAY_DATA;

    account_start(r);
    rc = local_open(gc, r);
    if (rc) goto out;
    buf = malloc(hl + XEN_RELAY_CHUNK_MAX);
    if (!buf)
        libxlmig__alloc_failed(CTX, __func__, 1, hl + XEN_RELAY_CHUNK_MAX);
    for (;;) {
        rc = wait_input(gc, r);
        if (rc) break;
        rc = libxlmig__transport_read_some(gc, r->local, buf + hl,
                                           XEN_RELAY_CHUNK_MAX, &got,
                                           "the Xen stream");
        if (rc || !got)
            break;                  /* !got: libxl's end is shut: all read */
        n = (ssize_t)got;
        hdr_fill((xen_relay_hdr *)buf, type, buf + hl, (uint32_t)n);
        c0 = thread_cpu_ns();
        rc = libxlmig__transport_write_all(gc, r->t, buf, hl + (size_t)n);
        account_transport(r, c0);
        if (rc) {
            LOG(ERROR, "relaying the Xen stream to %s failed after %llu "
                "bytes", r->t->peer, (unsigned long long)r->bytes);
            break;
        }
        count(r, (uint64_t)n);
        tick(r, false);
    }
 out:
    /* libxl's writes fail from now on: nothing is lost in a buffer. */
    return relay_end(gc, r, true, rc, buf);
}

int libxlmig__xen_relay_send_end(libxlmig__gc *gc, libxlmig__xen_relay *r,
                                 bool ok)
{
    struct { xen_relay_hdr h; uint64_t total; } f;   /* no padding */
    uint32_t len = ok ? sizeof(f.total) : 0;

    f.total = htobe64(r->bytes);
    hdr_fill(&f.h, ok ? XEN_RELAY_END : XEN_RELAY_ABORT, &f.total, len);
    return libxlmig__transport_write_all(gc, r->t, &f, sizeof(f.h) + len);
}

/* Read one frame's payload into buf and check its CRC. */
static int recv_payload(libxlmig__gc *gc, libxlmig__xen_relay *r,
                        const xen_relay_hdr *h, void *buf, uint32_t len)
{
    uint64_t c0 = thread_cpu_ns();
    uint32_t crc;
    int rc;

    rc = libxlmig__transport_read_all(gc, r->t, buf, len,
                                      "Xen stream frame");
    account_transport(r, c0);
    if (rc) return rc;
    crc = libxlmig__crc32c(0, h, offsetof(xen_relay_hdr, crc));
    if (ntohl(h->type) != XEN_RELAY_SEALED)
        crc = libxlmig__crc32c(crc, buf, len);
    if (crc != ntohl(h->crc)) {
        LOG(ERROR, "the Xen stream from %s is corrupted (frame CRC32C "
            "%08x, expected %08x, after %llu bytes): refused", r->t->peer,
            crc, ntohl(h->crc), (unsigned long long)r->bytes);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    return 0;
}

int libxlmig__xen_relay_recv(libxlmig__gc *gc, libxlmig__xen_relay *r)
{
    xen_relay_hdr h;
    uint8_t *buf = NULL;
    uint64_t total, c0;
    uint32_t type, len;
    int rc;

    account_start(r);
    rc = local_open(gc, r);
    if (rc) goto out;
    buf = malloc(XEN_RELAY_CHUNK_MAX);
    if (!buf)
        libxlmig__alloc_failed(CTX, __func__, 1, XEN_RELAY_CHUNK_MAX);
    for (;;) {
        c0 = thread_cpu_ns();
        rc = libxlmig__transport_read_all(gc, r->t, &h, sizeof(h),
                                          "Xen stream frame header");
        account_transport(r, c0);
        if (rc) break;
        type = ntohl(h.type);
        len = ntohl(h.len);
        if (ntohl(h.magic) != XEN_RELAY_MAGIC ||
            ((type == XEN_RELAY_DATA || type == XEN_RELAY_SEALED) &&
             (!len || len > XEN_RELAY_CHUNK_MAX)) ||
            (type == XEN_RELAY_END && len != sizeof(total)) ||
            (type == XEN_RELAY_ABORT && len) ||
            type < XEN_RELAY_DATA || type > XEN_RELAY_SEALED) {
            LOG(ERROR, "the Xen stream from %s is malformed (frame magic "
                "%08x, type %u, length %u after %llu bytes): refused",
                r->t->peer, ntohl(h.magic), type, len,
                (unsigned long long)r->bytes);
            rc = LIBXLMIG_ERROR_PROTOCOL;
            break;
        }
        if (type == XEN_RELAY_SEALED && !libxlmig__transport_sealed(r->t)) {
            LOG(ERROR, "the Xen stream from %s has frames without "
                "checksums, which only an authenticated transport (TLS) "
                "may send, and this connection is %s: refused", r->t->peer,
                libxlmig__transport_security(r->t));
            rc = LIBXLMIG_ERROR_PROTOCOL;
            break;
        }
        rc = recv_payload(gc, r, &h, buf, len);
        if (rc) break;
        if (type == XEN_RELAY_ABORT) {
            LOG(ERROR, "the Xen stream from %s ended early: the source's "
                "libxl failed after %llu bytes", r->t->peer,
                (unsigned long long)r->bytes);
            rc = LIBXLMIG_ERROR_IO;
            break;
        }
        if (type == XEN_RELAY_END) {
            memcpy(&total, buf, sizeof(total));
            total = be64toh(total);
            if (total != r->bytes) {
                LOG(ERROR, "the Xen stream from %s ended after %llu bytes, "
                    "but %llu were sent: refused", r->t->peer,
                    (unsigned long long)r->bytes,
                    (unsigned long long)total);
                rc = LIBXLMIG_ERROR_PROTOCOL;
                break;
            }
            /* libxl reads its own end record; then the end of input. */
            shutdown(r->fd, SHUT_WR);
            break;
        }
        rc = libxlmig__transport_write_all(gc, r->local, buf, len);
        if (rc) {
            LOG(ERROR, "libxl stopped reading the Xen stream from %s after "
                "%llu bytes", r->t->peer, (unsigned long long)r->bytes);
            break;
        }
        count(r, len);
        tick(r, false);
    }
 out:
    /* libxl's reads end now instead of waiting for what will not come. */
    return relay_end(gc, r, false, rc, buf);
}

static void *relay_main(void *arg)
{
    libxlmig__xen_relay *r = arg;
    GC_INIT(r->ctx);

    libxlmig__thread_altstack();
    r->rc = r->sending ? libxlmig__xen_relay_send(gc, r)
                       : libxlmig__xen_relay_recv(gc, r);
    GC_FREE;
    return NULL;
}

static int relay_start(libxlmig__gc *gc, libxlmig__xen_relay *r,
                       bool sending)
{
    int e;

    r->ctx = CTX;
    r->sending = sending;
    r->rc = 0;
    e = pthread_create(&r->thread, NULL, relay_main, r);
    if (e) {
        LOGEV(ERROR, e, "cannot start the relay of the Xen stream");
        return LIBXLMIG_ERROR_FAIL;
    }
    r->running = true;
    return 0;
}

int libxlmig__xen_relay_send_start(libxlmig__gc *gc, libxlmig__xen_relay *r)
{
    return relay_start(gc, r, true);
}

int libxlmig__xen_relay_recv_start(libxlmig__gc *gc, libxlmig__xen_relay *r)
{
    return relay_start(gc, r, false);
}

int libxlmig__xen_relay_wait(libxlmig__xen_relay *r)
{
    if (!r->running)
        return r->rc;
    pthread_join(r->thread, NULL);
    r->running = false;
    return r->rc;
}
