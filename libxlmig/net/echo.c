/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The interruption meter.  A sim domain answers a small UDP echo service
 * on its public address from its own process, so it falls silent while it
 * is paused.  The probe sends a numbered request every few milliseconds
 * during a migration and reports what a client of the domain noticed: the
 * longest gap between replies and the requests that were never answered.
 *
 * Datagram (network order): u32 magic "XLME" | u32 seq | u64 send time ns.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

#define ECHO_MAGIC 0x584c4d45u
#define ECHO_LEN   16

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int libxlmig_echo_serve(int fd)
{
    unsigned char buf[64];
    struct sockaddr_storage from;
    socklen_t flen;
    uint32_t magic;
    ssize_t n;

    for (;;) {
        flen = sizeof(from);
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                     &flen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n != ECHO_LEN)
            continue;
        memcpy(&magic, buf, 4);
        if (ntohl(magic) != ECHO_MAGIC)
            continue;
        (void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
    }
}

void libxlmig_echo_result_init(libxlmig_echo_result *r)
{
    memset(r, 0, sizeof(*r));
}

int libxlmig_echo_probe(libxlmig_ctx *ctx, const char *addr, unsigned port,
                        unsigned interval_ms, unsigned duration_ms,
                        volatile sig_atomic_t *stop,
                        libxlmig_echo_result *r)
{
    GC_INIT(ctx);
    struct sockaddr_in sin;
    unsigned char buf[ECHO_LEN], in[64];
    uint8_t *answered = NULL;
    uint64_t start, next, end, t, last_reply, sent_ns, rtt, gap;
    uint32_t seq = 0, v32, maxseq;
    struct pollfd pfd;
    ssize_t n;
    int fd = -1, rc, timeout;

    libxlmig_echo_result_init(r);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 || !port ||
        port > 65535 || !interval_ms) {
        LOG(ERROR, "echo probe: bad address %s:%u or interval %u ms", addr,
            port, interval_ms);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
        LOGE(ERROR, "echo probe: cannot reach %s:%u", addr, port);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    maxseq = duration_ms / interval_ms + 2;
    answered = libxlmig__calloc(gc, maxseq, 1);
    start = now_ns();
    end = start + (uint64_t)duration_ms * 1000000ull;
    next = start;
    last_reply = start;
    pfd.fd = fd;
    pfd.events = POLLIN;
    for (;;) {
        t = now_ns();
        if (t >= next && t < end && seq < maxseq && !(stop && *stop)) {
            v32 = htonl(ECHO_MAGIC);
            memcpy(buf, &v32, 4);
            v32 = htonl(seq);
            memcpy(buf + 4, &v32, 4);
            memcpy(buf + 8, &t, 8);
            /* A refused send (no route, ICMP) counts as a lost request. */
            (void)send(fd, buf, sizeof(buf), 0);
            seq++;
            r->sent++;
            next += (uint64_t)interval_ms * 1000000ull;
        }
        t = now_ns();
        /* Stop sending at the end; wait one more second for stragglers. */
        if ((t >= end || (stop && *stop) || seq >= maxseq) &&
            (r->received == r->sent || t >= end + 1000000000ull ||
             (stop && *stop && t >= next + 1000000000ull)))
            break;
        timeout = t < next ? (int)((next - t) / 1000000ull) + 1 : 0;
        if (t >= end || (stop && *stop))
            timeout = 10;
        if (poll(&pfd, 1, timeout) <= 0)
            continue;
        n = recv(fd, in, sizeof(in), 0);
        if (n != ECHO_LEN)
            continue;
        memcpy(&v32, in, 4);
        if (ntohl(v32) != ECHO_MAGIC)
            continue;
        memcpy(&v32, in + 4, 4);
        v32 = ntohl(v32);
        if (v32 >= seq || answered[v32])
            continue;
        answered[v32] = 1;
        t = now_ns();
        memcpy(&sent_ns, in + 8, 8);
        rtt = t - sent_ns;
        if (rtt > r->max_rtt_ns)
            r->max_rtt_ns = rtt;
        gap = t - last_reply;
        if (gap > r->longest_gap_ns)
            r->longest_gap_ns = gap;
        last_reply = t;
        r->received++;
    }
    r->lost = r->sent - r->received;
    r->duration_ns = now_ns() - start;
    rc = 0;
 out:
    if (fd >= 0) close(fd);
    GC_FREE;
    return rc;
}
