/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The migration transport alone: one path of net/multipath.c over a TCP
 * connection on loopback, plain or TLS, carrying MIB of guest pages the
 * way a live round of the engine writes them (per batch of 512 pages a
 * page list, slices of 64 pages by reference, a check record) and read
 * the way the engine reads them (the list, then each slice in one readv
 * into scattered pages).  Prints JSON: wall time, throughput and the CPU
 * time of the sending and the receiving thread per GiB of pages -- the
 * figure that matters on a host where the two ends compete with
 * everything else for CPUs (docs/bench.md).  Not a test.
 * Usage: bench-transport plain|tls [MIB [scattered|contiguous [COMP]]]
 * where COMP is the frames' compression (off, the default; auto, lz4,
 * zstd: what its chooser and frames cost, on pages that do not compress).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "bench.h"

#define PAGE 4096u
#define BATCH 512u                 /* pages per batch (the engine's) */
#define SLICE 64u                  /* pages per slice (the engine's) */
#define DST_PAGES (64u << 8)       /* the receiver's RAM: 64 MiB, reused */

static libxlmig__key key;
static bool tls, scattered = true;
static uint64_t nbatch;
static unsigned char *src, *dst;

static bool known(void *opaque, const char *node)
{
    (void)opaque;
    return !strcmp(node, "node1");
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


static void tune(int fd)
{
    int buf = 4 << 20;

    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

/* Page k of batch b. */
static uint64_t pfn_of(uint64_t b, unsigned k)
{
    return b * BATCH * (scattered ? 2 : 1) + k * (scattered ? 2u : 1u);
}

typedef struct recv_arg {
    int fd;
    uint64_t cpu_ns;
    int rc;
} recv_arg;

static void *receiver(void *opaque)
{
    recv_arg *a = opaque;
    libxlmig_ctx *ctx;
    libxlmig__transport *t = NULL, *m = NULL;
    unsigned char head[16 + BATCH * 8], check[16 + BATCH * 4];
    struct iovec iov[SLICE];
    uint64_t b, c0 = 0, pfn;
    unsigned s, k;

    pin_to(1);
    if (libxlmig_ctx_alloc(&ctx, NULL)) {
        a->rc = -1;
        return NULL;
    }
    {
        GC_INIT(ctx);

        libxlmig__transport_fd_open(gc, a->fd, "sender", &t);
        a->rc = tls ? libxlmig__transport_tls_server(gc, t, &key, known,
                                                     NULL) : 0;
        if (!a->rc)
            a->rc = libxlmig__mp_accept(gc, t, "mig0", NULL, NULL, NULL, &m);
        else
            libxlmig__transport_free(t);
        c0 = cpu_ns();
        for (b = 0; !a->rc && b < nbatch; b++) {
            a->rc = libxlmig__transport_read_all(gc, m, head, sizeof(head),
                                                 "page list");
            for (s = 0; !a->rc && s < BATCH / SLICE; s++) {
                for (k = 0; k < SLICE; k++) {
                    pfn = (b * BATCH + s * SLICE + k) % DST_PAGES;
                    iov[k].iov_base = dst + pfn * PAGE;
                    iov[k].iov_len = PAGE;
                }
                a->rc = libxlmig__transport_readv_all(gc, m, iov, SLICE,
                                                      "pages");
            }
            if (!a->rc)
                a->rc = libxlmig__transport_read_all(gc, m, check,
                                                     sizeof(check), "check");
        }
        a->cpu_ns = cpu_ns() - c0;
        if (a->rc)
            fprintf(stderr, "receiver: %s\n", libxlmig_last_error(ctx));
        libxlmig__transport_free(m);
        GC_FREE;
    }
    libxlmig_ctx_free(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 0) : 1024;
    uint64_t i, b, c0, send_ns, w0, wall_ns;
    unsigned char head[16 + BATCH * 8], check[16 + BATCH * 4];
    struct iovec iov[SLICE];
    struct timespec ts;
    recv_arg a = { 0 };
    libxlmig_ctx *ctx;
    libxlmig__transport *t, *m = NULL;
    libxlmig__mp_opts o = { 0 };
    pthread_t th;
    int l, c, rc;
    unsigned s, k;

    if (argc < 2 || (strcmp(argv[1], "plain") && strcmp(argv[1], "tls")) ||
        !mib || (argc > 3 && strcmp(argv[3], "scattered") &&
                 strcmp(argv[3], "contiguous")) ||
        (argc > 4 &&
         libxlmig_compression_from_string(argv[4], &o.compression))) {
        fprintf(stderr, "usage: bench-transport plain|tls "
                "[MIB [scattered|contiguous [off|auto|lz4|zstd]]]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);          /* as xlmigd */
    tls = !strcmp(argv[1], "tls");
    scattered = argc <= 3 || !strcmp(argv[3], "scattered");
    nbatch = (mib << 20) / (BATCH * PAGE);
    key.bytes = (unsigned char *)strdup("bench-transport key, 32 bytes..");
    key.len = strlen((char *)key.bytes);
    src = mmap(NULL, (size_t)(nbatch * BATCH * PAGE * (scattered ? 2 : 1)),
               PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    dst = mmap(NULL, (size_t)DST_PAGES * PAGE, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (src == MAP_FAILED || dst == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    /* Pages that do not compress (xorshift), as the sim's random
     * content: a compressing mode pays its chooser and its samples. */
    {
        uint64_t x = 0x9e3779b97f4a7c15ull, *w = (uint64_t *)src;
        uint64_t nw = nbatch * BATCH * (scattered ? 2 : 1) * PAGE / 8;

        for (i = 0; i < nw; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w[i] = x;
        }
    }
    memset(dst, 1, (size_t)DST_PAGES * PAGE);
    memset(head, 0, sizeof(head));
    memset(check, 0, sizeof(check));

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &len)) {
        perror("socket");
        return 1;
    }
    tune(c);
    tune(l);
    if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) ||
        (a.fd = accept(l, NULL, NULL)) < 0) {
        perror("connect");
        return 1;
    }
    close(l);
    pin_to(0);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_create(&th, NULL, receiver, &a);
    {
        GC_INIT(ctx);

        libxlmig__transport_fd_open(gc, c, "receiver", &t);
        rc = tls ? libxlmig__transport_tls_client(gc, t, &key, "node1",
                                                  "node2") : 0;
        if (!rc)
            rc = libxlmig__mp_open(gc, &t, NULL, 1, &o, &m);
        else
            libxlmig__transport_free(t);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        w0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        c0 = cpu_ns();
        for (b = 0; !rc && b < nbatch; b++) {
            rc = libxlmig__transport_write_all(gc, m, head, sizeof(head));
            for (s = 0; !rc && s < BATCH / SLICE; s++) {
                for (k = 0; k < SLICE; k++) {
                    iov[k].iov_base = src + pfn_of(b, s * SLICE + k) * PAGE;
                    iov[k].iov_len = PAGE;
                }
                /* Adjacent pages in one buffer, as the engine does. */
                if (!scattered) {
                    iov[0].iov_len = SLICE * PAGE;
                    rc = libxlmig__transport_send_pages(gc, m, iov, 1);
                } else {
                    rc = libxlmig__transport_send_pages(gc, m, iov, SLICE);
                }
            }
            if (!rc)
                rc = libxlmig__transport_write_all(gc, m, check,
                                                   sizeof(check));
        }
        send_ns = cpu_ns() - c0;
        if (rc)
            fprintf(stderr, "sender: %s\n", libxlmig_last_error(ctx));
        pthread_join(th, NULL);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        wall_ns = (uint64_t)ts.tv_sec * 1000000000ull +
                  (uint64_t)ts.tv_nsec - w0;
        libxlmig__transport_free(m);
        GC_FREE;
    }
    libxlmig_ctx_free(ctx);
    if (rc || a.rc)
        return 1;
    {
        double gib = (double)(nbatch * BATCH * PAGE) / (1 << 30);

        printf("{\"transport\":\"%s\",\"pages\":\"%s\","
               "\"compression\":\"%s\",\"mib\":%llu,"
               "\"wall_ms\":%.1f,\"mib_s\":%.1f,"
               "\"send_cpu_ms_per_gib\":%.1f,"
               "\"recv_cpu_ms_per_gib\":%.1f}\n", argv[1],
               scattered ? "scattered" : "contiguous",
               libxlmig_compression_to_string(o.compression),
               (unsigned long long)mib, wall_ns / 1e6,
               gib * 1024 / (wall_ns / 1e9), send_ns / 1e6 / gib,
               a.cpu_ns / 1e6 / gib);
    }
    return 0;
}
