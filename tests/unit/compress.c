/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Compression of data frames (net/compress.c): every algorithm round
 * trips; the decompressor refuses truncated, corrupt, longer and shorter
 * frames and unknown algorithms; a fixed mode sends raw (NONE) what does
 * not shrink; auto sends random pages raw, text compressed over a slow
 * link and raw over an infinitely fast one; and several threads share
 * one chooser.  Also the public mode's names and its JSON.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "net/compress.h"
#include "tap.h"

#define FRAME (256 * 1024)
#define THREADS 4
#define THREAD_FRAMES 150
#define SLOW_LINK 12.5e6            /* bytes/s: 100 Mbit/s */

static libxlmig_ctx *ctx;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill_random(uint8_t *p, size_t n, uint64_t *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(next(s) >> 32);
}

/* Log lines of words and numbers, as a guest's page cache holds. */
static void fill_text(uint8_t *p, size_t n, uint64_t *s)
{
    static const char *const w[] = {
        "kernel:", "eth0", "link", "up", "systemd[1]:", "Started",
        "session", "of", "user", "root.", "audit:", "type=1400",
        "nfs:", "server", "not", "responding,", "still", "trying",
    };
    size_t off = 0;
    char line[160];
    int len, k;

    while (off < n) {
        uint64_t r = next(s);

        len = snprintf(line, sizeof(line), "Dec  3 10:%02u:%02u node%u ",
                       (unsigned)(r % 60), (unsigned)(r >> 8) % 60,
                       (unsigned)(r >> 16) % 8);
        for (k = 0; k < 6; k++)
            len += snprintf(line + len, sizeof(line) - len, "%s ",
                            w[(next(s) >> 20) % ARRAY_SIZE(w)]);
        len += snprintf(line + len, sizeof(line) - len, "%u\n",
                        (unsigned)(next(s) % 100000));
        if ((size_t)len > n - off) len = (int)(n - off);
        memcpy(p + off, line, len);
        off += len;
    }
}

static void test_roundtrips(uint8_t *text, uint8_t *dst, uint8_t *back)
{
    static const struct {
        libxlmig_compression mode;
        libxlmig__comp_algo want;
        size_t n;
    } cases[] = {
        { LIBXLMIG_COMPRESSION_LZ4, LIBXLMIG__COMP_LZ4, FRAME },
        { LIBXLMIG_COMPRESSION_LZ4, LIBXLMIG__COMP_LZ4, 4096 },
        { LIBXLMIG_COMPRESSION_ZSTD, LIBXLMIG__COMP_ZSTD, FRAME },
        { LIBXLMIG_COMPRESSION_ZSTD, LIBXLMIG__COMP_ZSTD, 4096 },
        { LIBXLMIG_COMPRESSION_OFF, LIBXLMIG__COMP_NONE, FRAME },
    };
    GC_INIT(ctx);
    libxlmig__comp *c;
    size_t i, out;
    int rc;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *m = libxlmig_compression_to_string(cases[i].mode);
        libxlmig__comp_algo a;

        if (libxlmig__comp_new(gc, cases[i].mode, &c))
            bail("comp_new");
        a = libxlmig__comp_frame(c, text, cases[i].n, dst,
                                 libxlmig__comp_bound(cases[i].n), &out,
                                 SLOW_LINK);
        is_int(cases[i].want, a, "%s, %zu bytes of text: %s", m,
               cases[i].n, libxlmig__comp_algo_name(cases[i].want));
        ok(a == LIBXLMIG__COMP_NONE ? out == cases[i].n
                                    : out < cases[i].n / 2,
           "%s, %zu bytes: %zu bytes out", m, cases[i].n, out);
        memset(back, 0xa5, cases[i].n);
        rc = libxlmig__decomp_frame(gc, a, a ? dst : text, out, back,
                                    cases[i].n);
        ok(!rc && !memcmp(back, text, cases[i].n),
           "%s, %zu bytes: decompressed exactly", m, cases[i].n);
        libxlmig__comp_free(c);
    }
    GC_FREE;
}

/* Fixed modes on random data: NONE, the frame's length unchanged. */
static void test_incompressible(uint8_t *random, uint8_t *dst)
{
    static const libxlmig_compression modes[] = {
        LIBXLMIG_COMPRESSION_LZ4, LIBXLMIG_COMPRESSION_ZSTD,
    };
    GC_INIT(ctx);
    libxlmig__comp *c;
    libxlmig__comp_stats_t st;
    size_t i, out;

    for (i = 0; i < ARRAY_SIZE(modes); i++) {
        if (libxlmig__comp_new(gc, modes[i], &c)) bail("comp_new");
        memset(dst, 0x5a, FRAME);
        is_int(LIBXLMIG__COMP_NONE,
               libxlmig__comp_frame(c, random, FRAME, dst, FRAME, &out,
                                    SLOW_LINK),
               "%s on random data: sent raw",
               libxlmig_compression_to_string(modes[i]));
        ok(out == FRAME, "%s on random data: length stays %d",
           libxlmig_compression_to_string(modes[i]), FRAME);
        libxlmig__comp_stats(c, &st);
        ok(st.frames[LIBXLMIG__COMP_NONE] == 1 && st.attempts == 1,
           "%s on random data: one attempt, one raw frame",
           libxlmig_compression_to_string(modes[i]));
        libxlmig__comp_free(c);
    }
    GC_FREE;
}

static void test_malformed(uint8_t *text, uint8_t *dst, uint8_t *back)
{
    static const libxlmig__comp_algo algos[] = { LIBXLMIG__COMP_LZ4,
                                                 LIBXLMIG__COMP_ZSTD };
    GC_INIT(ctx);
    libxlmig__comp *c;
    uint8_t *bad = malloc(libxlmig__comp_bound(FRAME) + 64);
    size_t i, out;

    if (!bad) bail("malloc");
    for (i = 0; i < ARRAY_SIZE(algos); i++) {
        const char *name = libxlmig__comp_algo_name(algos[i]);
        uint64_t s = 7;

        if (libxlmig__comp_new(gc, algos[i] == LIBXLMIG__COMP_LZ4
                                   ? LIBXLMIG_COMPRESSION_LZ4
                                   : LIBXLMIG_COMPRESSION_ZSTD, &c))
            bail("comp_new");
        if (libxlmig__comp_frame(c, text, FRAME, dst,
                                 libxlmig__comp_bound(FRAME), &out,
                                 SLOW_LINK) != algos[i])
            bail("%s did not compress text", name);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__decomp_frame(gc, algos[i], dst, out - 1, back,
                                      FRAME),
               "%s: a truncated frame is refused", name);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__decomp_frame(gc, algos[i], dst, out / 2, back,
                                      FRAME),
               "%s: half a frame is refused", name);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__decomp_frame(gc, algos[i], dst, out, back,
                                      FRAME - 4096),
               "%s: more data than announced is refused", name);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__decomp_frame(gc, algos[i], dst, out, back,
                                      FRAME + 4096),
               "%s: less data than announced is refused", name);
        fill_random(bad, out, &s);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__decomp_frame(gc, algos[i], bad, out, back, FRAME),
               "%s: random bytes are refused", name);
        memcpy(bad, dst, out);
        memset(bad + out / 3, 0xff, 64);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__decomp_frame(gc, algos[i], bad, out, back, FRAME),
               "%s: a frame with 64 bytes overwritten is refused", name);
        memcpy(bad, dst, out);
        memset(bad + out, 0x42, 64);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__decomp_frame(gc, algos[i], bad, out + 64, back,
                                      FRAME),
               "%s: trailing bytes after the frame are refused", name);
        libxlmig__comp_free(c);
    }
    is_int(LIBXLMIG_ERROR_PROTOCOL,
           libxlmig__decomp_frame(gc, LIBXLMIG__COMP_NONE, text, 4095, back,
                                  4096),
           "none: a raw frame of another length is refused");
    is_int(LIBXLMIG_ERROR_PROTOCOL,
           libxlmig__decomp_frame(gc, (libxlmig__comp_algo)3, text, 4096,
                                  back, 4096),
           "an unknown algorithm is refused");
    free(bad);
    GC_FREE;
}

/* Auto over nframes frames of src at link_bps, gap_us apart. */
static void run_auto(const uint8_t *src, uint8_t *dst, double link_bps,
                     unsigned nframes, unsigned gap_us,
                     libxlmig__comp_stats_t *st)
{
    GC_INIT(ctx);
    libxlmig__comp *c;
    unsigned i;
    size_t out;

    if (libxlmig__comp_new(gc, LIBXLMIG_COMPRESSION_AUTO, &c))
        bail("comp_new");
    for (i = 0; i < nframes; i++) {
        libxlmig__comp_frame(c, src, FRAME, dst, libxlmig__comp_bound(FRAME),
                             &out, link_bps);
        if (gap_us) usleep(gap_us);
    }
    libxlmig__comp_stats(c, st);
    libxlmig__comp_free(c);
    GC_FREE;
}

static void test_auto(uint8_t *text, uint8_t *random, uint8_t *dst)
{
    libxlmig__comp_stats_t st;
    unsigned n = 96;
    uint64_t comp;

    run_auto(random, dst, SLOW_LINK, n, 0, &st);
    is_int(n, st.frames[LIBXLMIG__COMP_NONE],
           "auto, random pages, slow link: every frame raw");
    is_int(st.samples, st.attempts, "auto, random pages: compressed only "
           "to measure (%llu of %u frames)",
           (unsigned long long)st.attempts, n);
    ok(st.samples <= 2 + n / LIBXLMIG__COMP_SAMPLE_EVERY,
       "auto, random pages: at most 1 frame in %d sampled after the first "
       "two", LIBXLMIG__COMP_SAMPLE_EVERY);

    run_auto(text, dst, SLOW_LINK, n, 0, &st);
    comp = st.frames[LIBXLMIG__COMP_LZ4] + st.frames[LIBXLMIG__COMP_ZSTD];
    is_int(n, comp, "auto, text, 100 Mbit/s: every frame compressed "
           "(lz4 %llu, zstd %llu)",
           (unsigned long long)st.frames[LIBXLMIG__COMP_LZ4],
           (unsigned long long)st.frames[LIBXLMIG__COMP_ZSTD]);
    ok(st.bytes_out[LIBXLMIG__COMP_LZ4] + st.bytes_out[LIBXLMIG__COMP_ZSTD]
       < (uint64_t)n * FRAME / 2, "auto, text: less than half the bytes "
       "on the wire");

    run_auto(text, dst, INFINITY, n, 0, &st);
    ok(st.frames[LIBXLMIG__COMP_NONE] >= n - 2 - n /
       LIBXLMIG__COMP_SAMPLE_EVERY, "auto, text, infinitely fast link: "
       "raw but for samples (%llu of %u raw)",
       (unsigned long long)st.frames[LIBXLMIG__COMP_NONE], n);
    is_int(st.samples, st.attempts, "auto, text, infinitely fast link: "
           "compressed only to measure");

    /*
     * The sampling budget.  Back to back, the samples are nearly all the
     * time there is, so after the first two they are held back (one in
     * LIBXLMIG__COMP_SAMPLE_FAR * EVERY frames without the budget: 17 of
     * 2000); a slack of 3 for a thread that loses the CPU for long.
     */
    run_auto(text, dst, INFINITY, 2000, 0, &st);
    ok(st.samples <= 5, "auto, text, infinitely fast link, frames back to "
       "back: samples held to the budget (%llu of 2000 frames)",
       (unsigned long long)st.samples);
    /* With time between frames they go on. */
    run_auto(text, dst, INFINITY, 400, 1000, &st);
    ok(st.samples >= 3, "auto, text, infinitely fast link, frames 1 ms "
       "apart: still sampled (%llu of 400 frames)",
       (unsigned long long)st.samples);
}

/* n samples of rate into e; the estimate after them. */
static double feed(libxlmig__link_est *e, int n, double rate,
                   bool app_limited, bool waiting)
{
    double v = e->bps;

    while (n-- > 0)
        v = libxlmig__link_est_sample(e, rate, app_limited, waiting, 12.5e9);
    return v;
}

/* The link estimate auto weighs against (libxlmig__link_est). */
static void test_link_est(void)
{
    libxlmig__link_est e;
    double v;

    memset(&e, 0, sizeof(e));
    is_int(0, (long long)feed(&e, 1, 0, false, false),
           "link estimate: none before a sample");
    ok(feed(&e, 4, 1e9, false, false) == 1e9,
       "link estimate: four samples of 1 GB/s give 1 GB/s");
    v = feed(&e, 1, 8.6e6, false, false);
    ok(v == 1e9, "link estimate: one sample of 8.6 MB/s among them moves "
       "nothing (%.0f)", v);
    v = feed(&e, 1, 1.25e8, false, false);
    ok(v == 1e9, "link estimate: nor does a second low one (%.0f)", v);
    v = feed(&e, 1, 1.25e8, false, false);
    ok(v == 1.25e8, "link estimate: three low samples of the last five: "
       "the link is slower now (%.0f)", v);
    v = feed(&e, 5, 5e7, true, false);
    ok(v == 1.25e8, "link estimate: application-limited samples below it "
       "do not lower it (%.0f)", v);
    v = feed(&e, 3, 3e8, true, false);
    ok(v == 3e8, "link estimate: application-limited samples above it "
       "raise it (%.0f)", v);
    v = feed(&e, 3, 1e8, true, true);
    ok(v == 6e8, "link estimate: a link waiting for the sender doubles "
       "it (%.0f)", v);
    v = feed(&e, 40, 1e8, true, true);
    ok(v == 12.5e9, "link estimate: doubling stops at the maximum (%.0f)",
       v);
}

typedef struct worker {
    const uint8_t *text, *random;
    libxlmig__comp *c;
    unsigned bad;
    uint64_t in;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    libxlmig_ctx *wctx = ctx;
    GC_INIT(wctx);
    size_t cap = libxlmig__comp_bound(FRAME), out, n;
    uint8_t *dst = malloc(cap), *back = malloc(FRAME);
    libxlmig__comp_algo a;
    unsigned i;

    for (i = 0; dst && back && i < THREAD_FRAMES; i++) {
        const uint8_t *src = i % 3 ? w->text + (i % 7) * 512
                                   : w->random + (i % 5) * 512;

        n = FRAME - 4096;
        a = libxlmig__comp_frame(w->c, src, n, dst, cap, &out,
                                 i % 2 ? SLOW_LINK : 1.25e9);
        if (libxlmig__decomp_frame(gc, a, a ? dst : src, out, back, n) ||
            memcmp(back, src, n))
            w->bad++;
        w->in += n;
    }
    if (!dst || !back) w->bad++;
    free(dst);
    free(back);
    GC_FREE;
    return NULL;
}

static void test_threads(uint8_t *text, uint8_t *random)
{
    GC_INIT(ctx);
    pthread_t th[THREADS];
    worker w[THREADS];
    libxlmig__comp_stats_t st;
    libxlmig__comp *c;
    uint64_t frames = 0, in = 0, want_in = 0;
    unsigned i, bad = 0;

    if (libxlmig__comp_new(gc, LIBXLMIG_COMPRESSION_AUTO, &c))
        bail("comp_new");
    for (i = 0; i < THREADS; i++) {
        w[i] = (worker){ .text = text, .random = random, .c = c };
        if (pthread_create(&th[i], NULL, worker_main, &w[i]))
            bail("pthread_create");
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += w[i].bad;
        want_in += w[i].in;
    }
    libxlmig__comp_stats(c, &st);
    for (i = 0; i < LIBXLMIG__COMP_NR_ALGOS; i++) {
        frames += st.frames[i];
        in += st.bytes_in[i];
    }
    is_int(0, bad, "%d threads sharing a chooser: every frame round trips",
           THREADS);
    is_int(THREADS * THREAD_FRAMES, frames, "%d threads: every frame "
           "counted once", THREADS);
    ok(in == want_in, "%d threads: every input byte counted once",
       THREADS);
    ok(st.frames[LIBXLMIG__COMP_NONE] && (st.frames[LIBXLMIG__COMP_LZ4] ||
                                          st.frames[LIBXLMIG__COMP_ZSTD]),
       "%d threads: both raw and compressed frames (none %llu, lz4 %llu, "
       "zstd %llu)", THREADS,
       (unsigned long long)st.frames[LIBXLMIG__COMP_NONE],
       (unsigned long long)st.frames[LIBXLMIG__COMP_LZ4],
       (unsigned long long)st.frames[LIBXLMIG__COMP_ZSTD]);
    libxlmig__comp_free(c);
    GC_FREE;
}

static void test_names(void)
{
    static const struct {
        const char *s;
        int rc;
        libxlmig_compression want;
    } cases[] = {
        { "off", 0, LIBXLMIG_COMPRESSION_OFF },
        { "auto", 0, LIBXLMIG_COMPRESSION_AUTO },
        { "lz4", 0, LIBXLMIG_COMPRESSION_LZ4 },
        { "zstd", 0, LIBXLMIG_COMPRESSION_ZSTD },
        { "gzip", LIBXLMIG_ERROR_INVAL, 0 },
        { "", LIBXLMIG_ERROR_INVAL, 0 },
        { "LZ4", LIBXLMIG_ERROR_INVAL, 0 },
    };
    GC_INIT(ctx);
    libxlmig_compression m;
    libxlmig_params p;
    libxlmig__comp *c = NULL;
    size_t i;
    int rc;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        m = (libxlmig_compression)99;
        rc = libxlmig_compression_from_string(cases[i].s, &m);
        is_int(cases[i].rc, rc, "from_string(\"%s\")", cases[i].s);
        if (!rc)
            is_string(cases[i].s, libxlmig_compression_to_string(m),
                      "to_string gives \"%s\" back", cases[i].s);
    }
    is_int(LIBXLMIG_ERROR_INVAL,
           libxlmig_compression_from_string(NULL, &m), "from_string(NULL)");
    libxlmig_params_init(&p);
    is_int(LIBXLMIG_COMPRESSION_AUTO, p.compression,
           "the default mode is auto");
    is_int(LIBXLMIG_ERROR_INVAL,
           libxlmig__comp_new(gc, (libxlmig_compression)42, &c),
           "comp_new refuses an unknown mode");
    GC_FREE;
}

/* The mode travels in the parameters' JSON (client to xlmigd, jobs). */
static void test_params_json(void)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    libxlmig_params p, q;
    yajl_val v;
    char *json, *key;

    libxlmig_params_init(&p);
    p.compression = LIBXLMIG_COMPRESSION_LZ4;
    if (libxlmig__params_gen_json(g, &p) != yajl_gen_status_ok ||
        libxlmig__json_finish(gc, g, &json))
        bail("params_gen_json");
    libxlmig__ptr_add(gc, json);
    ok(strstr(json, "\"compression\":\"lz4\"") != NULL,
       "the parameters' JSON carries the mode");
    if (libxlmig__json_parse(gc, json, "params", &v)) bail("parse");
    is_int(0, libxlmig__params_parse_json(gc, v, &q), "parsed back");
    is_int(LIBXLMIG_COMPRESSION_LZ4, q.compression, "mode parsed back");
    /* The same without the key, then with an unknown mode. */
    key = strstr(json, ",\"compression\":\"lz4\"");
    memmove(key, key + strlen(",\"compression\":\"lz4\""),
            strlen(key + strlen(",\"compression\":\"lz4\"")) + 1);
    if (libxlmig__json_parse(gc, json, "params", &v)) bail("parse");
    q.compression = LIBXLMIG_COMPRESSION_OFF;
    if (libxlmig__params_parse_json(gc, v, &q)) bail("params_parse_json");
    is_int(LIBXLMIG_COMPRESSION_AUTO, q.compression,
           "no mode in the JSON: the default");
    key = strrchr(json, '}');
    *key = '\0';
    json = GCSPRINTF("%s,\"compression\":\"gzip\"}", json);
    if (libxlmig__json_parse(gc, json, "params", &v)) bail("parse");
    is_int(LIBXLMIG_ERROR_INVAL, libxlmig__params_parse_json(gc, v, &q),
           "an unknown mode in the JSON is refused");
    GC_FREE;
}

int main(void)
{
    uint8_t *text, *random, *dst, *back;
    uint64_t s = 1;

    plan(78);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("context");
    /* Room for the threads' offsets past one frame. */
    text = malloc(FRAME + 4096);
    random = malloc(FRAME + 4096);
    dst = malloc(libxlmig__comp_bound(FRAME));
    back = malloc(FRAME + 4096);
    if (!text || !random || !dst || !back)
        bail("malloc");
    fill_text(text, FRAME + 4096, &s);
    fill_random(random, FRAME + 4096, &rng);

    test_roundtrips(text, dst, back);
    test_incompressible(random, dst);
    test_malformed(text, dst, back);
    test_auto(text, random, dst);
    test_link_est();
    test_threads(text, random);
    test_names();
    test_params_json();

    free(text);
    free(random);
    free(dst);
    free(back);
    libxlmig_ctx_free(ctx);
    return 0;
}
