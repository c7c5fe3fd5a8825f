/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Compression benchmark (`make bench`): the speed and ratio of lz4 and
 * zstd level 1 (net/compress.c) on data frames of 256 KiB made of random
 * pages and of the sim's mixed pages (docs/sim.md), zero pages left out
 * as the engine leaves them out, and what auto chooses at link speeds of
 * 1 and 10 Gbit/s, with the time a frame then costs one sender thread:
 * its CPU time compressing plus its bytes on the wire over the link.
 * Speeds are input bytes per second of thread CPU time, the median of
 * RUNS runs (the machine is shared); generate_pages_s is how fast the
 * sim guest writes pages of that content.  Prints JSON.  Not a test: the
 * figures depend on the machine.
 * Usage: bench-compress [MIB]   (pages of each content, default 64 MiB)
 */
#include <time.h>

#include "backend/sim/sim.h"
#include "net/compress.h"

#define FRAME_PAGES 64                      /* 256 KiB */
#define FRAME (FRAME_PAGES * LIBXLMIG__PAGE_SIZE)
#define RUNS 5

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* nr_pages non-zero pages of content into a new buffer; *zero_r: the
 * zero pages generated on the way (mixed content has them), *gen_s_r
 * the CPU time generating took (s). */
static uint8_t *make_pages(uint32_t content, size_t nr_pages,
                           size_t *zero_r, double *gen_s_r)
{
    uint8_t *buf = malloc(nr_pages * LIBXLMIG__PAGE_SIZE), *p;
    static const uint8_t zero[LIBXLMIG__PAGE_SIZE];
    size_t n = 0, zeros = 0;
    uint64_t key = 0x5eed, t0;

    if (!buf) return NULL;
    memset(buf, 1, nr_pages * LIBXLMIG__PAGE_SIZE);   /* fault it in */
    t0 = thread_cpu_ns();
    while (n < nr_pages) {
        p = buf + n * LIBXLMIG__PAGE_SIZE;
        libxlmig__sim_page_gen(content, mix64(key++), p);
        if (!memcmp(p, zero, sizeof(zero))) zeros++;
        else n++;
    }
    *gen_s_r = (double)(thread_cpu_ns() - t0) / 1e9;
    *zero_r = zeros;
    return buf;
}

typedef struct result {
    double speed;                 /* bytes/s of CPU time, median */
    double dspeed;                /* decompression, the same */
    double ratio;                 /* out / in */
    libxlmig__comp_stats_t st;    /* of the last run */
} result;

/* Every frame of buf through a chooser of mode at link_bps, RUNS times;
 * check each frame decompresses exactly. */
static int run(libxlmig_ctx *ctx, const uint8_t *buf, size_t len,
               libxlmig_compression mode, double link_bps, result *r)
{
    GC_INIT(ctx);
    size_t cap = libxlmig__comp_bound(FRAME), off, out, in;
    uint8_t *dst = malloc(cap), *back = malloc(FRAME);
    double speeds[RUNS], dspeeds[RUNS];
    uint64_t cpu, dcpu, total_out;
    libxlmig__comp *c = NULL;
    libxlmig__comp_algo a;
    int i, rc = 0;

    for (i = 0; i < RUNS && dst && back && !rc; i++) {
        libxlmig__comp_free(c);
        c = NULL;
        rc = libxlmig__comp_new(gc, mode, &c);
        cpu = dcpu = total_out = in = 0;
        for (off = 0; off + FRAME <= len && !rc; off += FRAME) {
            uint64_t t0 = thread_cpu_ns(), t1;

            a = libxlmig__comp_frame(c, buf + off, FRAME, dst, cap, &out,
                                     link_bps);
            t1 = thread_cpu_ns();
            cpu += t1 - t0;
            rc = libxlmig__decomp_frame(gc, a, a ? dst : buf + off, out,
                                        back, FRAME);
            dcpu += thread_cpu_ns() - t1;
            if (!rc && memcmp(back, buf + off, FRAME)) rc = -1;
            total_out += out;
            in += FRAME;
        }
        speeds[i] = (double)in * 1e9 / (double)(cpu ? cpu : 1);
        dspeeds[i] = (double)in * 1e9 / (double)(dcpu ? dcpu : 1);
        r->ratio = (double)total_out / (double)in;
    }
    if (!dst || !back) rc = LIBXLMIG_ERROR_NOMEM;
    if (!rc) {
        qsort(speeds, RUNS, sizeof(double), cmp_double);
        qsort(dspeeds, RUNS, sizeof(double), cmp_double);
        r->speed = speeds[RUNS / 2];
        r->dspeed = dspeeds[RUNS / 2];
        libxlmig__comp_stats(c, &r->st);
    }
    libxlmig__comp_free(c);
    free(dst);
    free(back);
    GC_FREE;
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        libxlmig_compression mode;
        double link;              /* bytes/s; 0: none given */
    } cases[] = {
        { "lz4", LIBXLMIG_COMPRESSION_LZ4, 0 },
        { "zstd-1", LIBXLMIG_COMPRESSION_ZSTD, 0 },
        { "auto-1gbit", LIBXLMIG_COMPRESSION_AUTO, 125e6 },
        { "auto-10gbit", LIBXLMIG_COMPRESSION_AUTO, 1.25e9 },
    };
    static const struct {
        const char *name;
        uint32_t content;
    } contents[] = {
        { "random", LIBXLMIG_SIM_CONTENT_RANDOM },
        { "mixed", LIBXLMIG_SIM_CONTENT_MIXED },
    };
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 64, nr, zeros;
    libxlmig_ctx *ctx;
    unsigned i, j, k;

    if (!mib || mib > 4096) {
        fprintf(stderr, "usage: bench-compress [MIB] (1 to 4096)\n");
        return 2;
    }
    if (libxlmig_ctx_alloc(&ctx, NULL)) return 1;
    nr = mib << (20 - LIBXLMIG__PAGE_SHIFT);
    printf("{\"version\":1,\"frame_bytes\":%lu,\"mib\":%zu,\"runs\":%d,"
           "\"contents\":[", (unsigned long)FRAME, mib, RUNS);
    for (i = 0; i < ARRAY_SIZE(contents); i++) {
        double gen_s;
        uint8_t *buf = make_pages(contents[i].content, nr, &zeros, &gen_s);

        if (!buf) return 1;
        printf("%s\n {\"content\":\"%s\",\"zero_pages_skipped\":%zu,"
               "\"generate_pages_s\":%.0f,\"results\":[", i ? "," : "",
               contents[i].name, zeros, (double)(nr + zeros) / gen_s);
        for (j = 0; j < ARRAY_SIZE(cases); j++) {
            result r;
            double link = cases[j].link, t_raw, t_auto;
            uint64_t in = 0, out = 0;

            if (run(ctx, buf, nr * LIBXLMIG__PAGE_SIZE, cases[j].mode,
                    link, &r)) {
                fprintf(stderr, "bench-compress: %s on %s failed\n",
                        cases[j].name, contents[i].name);
                return 1;
            }
            printf("%s\n  {\"mode\":\"%s\",\"compress_mb_s\":%.0f,"
                   "\"decompress_mb_s\":%.0f,\"ratio\":%.3f,"
                   "\"frames\":{", j ? "," : "", cases[j].name,
                   r.speed / 1e6, r.dspeed / 1e6, r.ratio);
            for (k = 0; k < LIBXLMIG__COMP_NR_ALGOS; k++) {
                printf("%s\"%s\":%llu", k ? "," : "",
                       libxlmig__comp_algo_name(k),
                       (unsigned long long)r.st.frames[k]);
                in += r.st.bytes_in[k];
                out += r.st.bytes_out[k];
            }
            printf("}");
            if (link > 0) {
                /* One sender thread: CPU time, then the wire. */
                t_raw = (double)in / link;
                t_auto = (double)r.st.cpu_ns / 1e9 + (double)out / link;
                printf(",\"link_mb_s\":%.0f,\"raw_s\":%.3f,"
                       "\"auto_s\":%.3f,\"effective_mb_s\":%.0f",
                       link / 1e6, t_raw, t_auto, (double)in / t_auto / 1e6);
            }
            printf("}");
            fflush(stdout);
        }
        printf("]}");
        free(buf);
    }
    printf("]}\n");
    libxlmig_ctx_free(ctx);
    return 0;
}
