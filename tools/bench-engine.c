/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Engine benchmark (`make bench`): the raw throughput of a socketpair for
 * 1 GiB, then a live save of a 1 GiB sim domain dirtying 20,000 pages/s
 * over a 256 MiB working set, streamed through a socketpair to a
 * receiver process that restores it into a new sim domain and verifies
 * every page.  Prints JSON.  Not a test: figures depend on the machine.
 * Usage: bench-engine [MEMORY_MIB [DIRTY_RATE [WORKING_SET_MIB]]]
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libxlmig_mig.h"

#define SOCKBUF (4 << 20)
#define RAW_CHUNK (2 << 20)

static void big_buffers(int fd)
{
    int sz = SOCKBUF;

    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/*
 * Raw socketpair throughput: bytes/s for total bytes in RAW_CHUNK writes.
 * whole: from a total-byte buffer into another (the memory traffic a
 * migration has); else one hot RAW_CHUNK buffer on each side.
 */
static double raw_throughput(uint64_t total, bool whole)
{
    int sv[2];
    size_t len = whole ? total : RAW_CHUNK;
    char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint64_t t0, sent = 0;
    char ack;
    pid_t pid;
    ssize_t r;

    if (buf == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        return 0;
    memset(buf, 0x5a, len);
    big_buffers(sv[0]);
    big_buffers(sv[1]);
    pid = fork();
    if (pid == 0) {
        uint64_t got = 0;
        close(sv[0]);
        if (whole) {
            /* Guest RAM is shared memory on both sides: so is this. */
            buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if (buf == MAP_FAILED) _exit(1);
            memset(buf, 0, len);
        }
        ack = 0;
        if (write(sv[1], &ack, 1) != 1) _exit(1);   /* ready */
        while (got < total &&
               (r = read(sv[1], buf + (whole ? got : 0), RAW_CHUNK)) > 0)
            got += r;
        ack = 1;
        if (write(sv[1], &ack, 1) != 1) _exit(1);
        _exit(0);
    }
    close(sv[1]);
    if (read(sv[0], &ack, 1) != 1) return 0;   /* reader ready */
    t0 = libxlmig__now_us();
    while (sent < total) {
        r = write(sv[0], buf + (whole ? sent : 0), RAW_CHUNK);
        if (r <= 0) break;
        sent += r;
    }
    if (read(sv[0], &ack, 1) != 1) sent = 0;
    t0 = libxlmig__now_us() - t0;
    close(sv[0]);
    waitpid(pid, NULL, 0);
    munmap(buf, len);
    return t0 ? sent * 1e6 / t0 : 0;
}

typedef struct bench_sink {
    libxlmig__sim_dom *d;
} bench_sink;

static int bs_create(libxlmig__gc *gc, void *priv, const char *config,
                     uint64_t nr_pages, uint8_t **mem_r)
{
    bench_sink *bs = priv;
    libxlmig__sim_config cfg;
    int rc;

    rc = libxlmig__sim_config_from_json(gc, config, &cfg);
    if (rc) return rc;
    rc = libxlmig__sim_dom_adopt(gc, bs->d, &cfg);
    if (rc) return rc;
    *mem_r = bs->d->mem;
    return 0;
}

static int bs_vcpu(libxlmig__gc *gc, void *priv, const void *buf,
                   uint32_t len)
{
    bench_sink *bs = priv;
    const libxlmig__sim_regs *r = buf;

    if (len != sizeof(*r)) return LIBXLMIG_ERROR_PROTOCOL;
    bs->d->vcpu->rng = r->rng;
    bs->d->vcpu->nr_writes = r->nr_writes;
    bs->d->vcpu->cur_pfn = r->cur_pfn;
    bs->d->vcpu->cur_gen = r->cur_gen;
    bs->d->vcpu->busy = r->busy;
    return 0;
}

static void bs_destroy(libxlmig__gc *gc, void *priv)
{
    bench_sink *bs = priv;

    libxlmig__sim_dom_destroy(bs->d);
    bs->d = NULL;
}

/*
 * The receiving process: create the domain (RAM allocated up front, the
 * setup phase of a real migration), restore into it, verify, report.
 */
static void __attribute__((noreturn)) receiver(int fd, int out,
                                               uint64_t mem_mib)
{
    libxlmig_ctx *ctx;
    bench_sink bs = { NULL };
    libxlmig__mig_sink sink = { &bs, bs_create, bs_vcpu, bs_destroy };
    libxlmig__engine_opts o;
    libxlmig_stats st;
    uint64_t bad = UINT64_MAX, first = 0, t0;
    libxlmig__sim_config cfg;
    char line[256];
    int rc;

    if (libxlmig_ctx_alloc(&ctx, NULL)) _exit(1);
    {
        GC_INIT(ctx);
        memset(&o, 0, sizeof(o));
        memset(&cfg, 0, sizeof(cfg));
        snprintf(cfg.name, sizeof(cfg.name), "bench-target");
        cfg.memory_mib = mem_mib;
        libxlmig__sim_config_complete(&cfg, 2);
        t0 = libxlmig__now_us();
        rc = libxlmig__sim_dom_create(gc, &cfg, false, &bs.d);
        t0 = libxlmig__now_us() - t0;
        if (write(out, &t0, sizeof(t0)) != sizeof(t0)) rc = -1;
        if (!rc)
            rc = libxlmig__engine_restore(gc, &sink, fd, &o, &st);
        if (!rc)
            rc = libxlmig__sim_dom_verify(gc, bs.d, &bad, &first);
        snprintf(line, sizeof(line), "%d %llu %llu\n", rc,
                 (unsigned long long)bad,
                 (unsigned long long)st.total_time_ms);
        if (write(out, line, strlen(line)) < 0) rc = -1;
        if (rc) fprintf(stderr, "bench receiver: %s\n",
                        libxlmig_last_error(ctx));
        libxlmig__sim_dom_destroy(bs.d);
        GC_FREE;
    }
    _exit(rc ? 1 : 0);
}

int main(int argc, char **argv)
{
    uint64_t mem_mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1024;
    uint64_t rate = argc > 2 ? strtoull(argv[2], NULL, 0) : 20000;
    uint64_t ws = argc > 3 ? strtoull(argv[3], NULL, 0) : 256;
    libxlmig_ctx *ctx;
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    double raw, raw_hot, eng;
    int sv[2], res[2], rc, rrc = -1;
    unsigned long long bad = 0, rtime = 0;
    char line[256];
    ssize_t n;
    uint64_t target_setup_us = 0;
    pid_t pid;

    signal(SIGPIPE, SIG_IGN);
    raw_hot = raw_throughput(mem_mib << 20, false);
    raw = raw_throughput(mem_mib << 20, true);
    if (libxlmig_ctx_alloc(&ctx, NULL)) return 1;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(res)) return 1;
    big_buffers(sv[0]);
    big_buffers(sv[1]);
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        close(res[0]);
        receiver(sv[1], res[1], mem_mib);
    }
    close(sv[1]);
    close(res[1]);
    if (read(res[0], &target_setup_us, sizeof(target_setup_us)) !=
        sizeof(target_setup_us))
        return 1;
    {
        GC_INIT(ctx);
        memset(&cfg, 0, sizeof(cfg));
        snprintf(cfg.name, sizeof(cfg.name), "bench");
        cfg.memory_mib = mem_mib;
        cfg.dirty_rate = rate;
        cfg.working_set_mib = ws;
        cfg.zero_fraction = 0.1;
        libxlmig__sim_config_complete(&cfg, 1);
        rc = libxlmig__sim_dom_create(gc, &cfg, true, &d);
        if (rc) {
            fprintf(stderr, "bench: %s\n", libxlmig_last_error(ctx));
            return 1;
        }
        usleep(300000);   /* let the workload run */
        memset(&o, 0, sizeof(o));
        libxlmig_params_init(&o.params);
        o.live = true;
        rc = libxlmig__sim_save(gc, d, sv[0], &o, &st);
        if (rc)
            fprintf(stderr, "bench: save failed: %s\n",
                    libxlmig_last_error(ctx));
        close(sv[0]);
        n = read(res[0], line, sizeof(line) - 1);
        if (n > 0) {
            line[n] = 0;
            sscanf(line, "%d %llu %llu", &rrc, &bad, &rtime);
        }
        waitpid(pid, NULL, 0);
        libxlmig__sim_dom_destroy(d);
        GC_FREE;
    }
    eng = st.throughput;
    printf("{\"version\":1,\"memory_mib\":%llu,\"dirty_rate\":%llu,"
           "\"working_set_mib\":%llu,\"target_setup_ms\":%llu,"
           "\"save_rc\":%d,\"restore_rc\":%d,"
           "\"verified\":%s,\"bad_pages\":%llu,"
           "\"total_time_ms\":%llu,\"downtime_ms\":%.3f,\"rounds\":%u,"
           "\"total_bytes\":%llu,\"precopy_bytes\":%llu,"
           "\"downtime_bytes\":%llu,\"throttle_max_pct\":%u,"
           "\"engine_throughput_mib_s\":%.1f,\"raw_throughput_mib_s\":%.1f,"
           "\"raw_hot_buffer_throughput_mib_s\":%.1f,"
           "\"engine_vs_raw_pct\":%.1f,"
           "\"targets\":{\"throughput_85pct\":%s,\"downtime_under_50ms\":%s,"
           "\"verifies\":%s}}\n",
           (unsigned long long)mem_mib, (unsigned long long)rate,
           (unsigned long long)ws,
           (unsigned long long)(target_setup_us / 1000), rc, rrc,
           rrc == 0 && bad == 0 ? "true" : "false", bad,
           (unsigned long long)st.total_time_ms, st.downtime_us / 1000.0,
           st.round + 1, (unsigned long long)st.total_bytes,
           (unsigned long long)st.precopy_bytes,
           (unsigned long long)st.downtime_bytes, st.throttle_max_pct,
           eng / 1048576, raw / 1048576, raw_hot / 1048576,
           raw ? 100 * eng / raw : 0,
           raw && eng >= 0.85 * raw ? "true" : "false",
           st.downtime_us < 50000 ? "true" : "false",
           rrc == 0 && bad == 0 ? "true" : "false");
    libxlmig_ctx_free(ctx);
    return rc || rrc || bad ? 1 : 0;
}
