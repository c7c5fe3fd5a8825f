/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration estimates (libxlmig_estimate_compute): the fit of a dirty-log
 * sample (linear, or saturating over a working set), the full copy alone
 * for an idle guest, rounds and downtime from the pre-copy policy, the
 * bandwidth limit, a guest that never converges, and bad input; the
 * content sample (libxlmig__content_measure) and what it changes: zero
 * pages left out of the first copy, compression weighed as the stream's
 * chooser does, where its runs lie, the estimate's JSON with it, and a content sample out of
 * range refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tap.h"

/* Distinct pages after t seconds: w (1 - exp(-r t / w)). */
static uint64_t model(double r, double w, double t)
{
    return (uint64_t)(w * (1 - exp(-r * t / w)));
}

static void sample(libxlmig_dirty_sample *s, uint64_t pages, double r,
                   double w)
{
    static const uint64_t ms[] = { 500, 1000, 2000 };
    int i;

    memset(s, 0, sizeof(*s));
    s->nr_pages = pages;
    s->nr_points = 3;
    for (i = 0; i < 3; i++) {
        s->ms[i] = ms[i];
        s->pages[i] = w ? model(r, w, ms[i] / 1000.0)
                        : (uint64_t)(r * ms[i] / 1000.0);
    }
}

static bool near(double want, double seen, double pct)
{
    return fabs(seen - want) <= fabs(want) * pct / 100.0;
}

static const struct {
    const char *name;
    uint64_t pages;            /* guest size (pages) */
    double rate, ws;           /* model; ws 0: linear */
    double bw;                 /* bytes/s */
    uint64_t limit;            /* bandwidth limit (bytes/s), 0 none */
    bool abort;                /* on_limit abort */
    /* expectations */
    double want_rate, want_ws; /* fitted; ws 0: the whole guest */
    uint64_t min_ms, max_ms;   /* total time range */
    uint32_t min_rounds, max_rounds;
    bool converges;
} cases[] = {
    { "idle 1 GiB at 1 GiB/s: the full copy",
      262144, 0, 0, 1073741824.0, 0, false,
      0, 0, 1000, 1040, 0, 0, true },
    { "linear 2000 pages/s, 256 MiB at 100 MiB/s",
      65536, 2000, 0, 104857600.0, 0, false,
      2000, 0, 2600, 3200, 1, 3, true },
    { "saturating over 4096 pages at 20000 pages/s",
      65536, 20000, 4096, 104857600.0, 0, false,
      20000, 4096, 2600, 3400, 1, 30, true },
    { "the bandwidth limit caps the link",
      65536, 0, 0, 1073741824.0, 33554432, false,
      0, 0, 8000, 8100, 0, 0, true },
    { "dirtying faster than the link: abort",
      65536, 200000, 0, 104857600.0, 0, true,
      200000, 0, 0, UINT64_MAX, 0, 1000, false },
};

/* A page like text: words from a small vocabulary (lz4 and zstd shrink
 * it); or random bytes (they do not). */
static void fill_text(uint8_t *p, unsigned seed)
{
    static const char *w[] = { "the ", "domain ", "page ", "memory ",
                               "xen ", "of ", "migration ", "and " };
    size_t n = 0;

    while (n < 4096) {
        const char *x = w[(seed = seed * 1103515245 + 12345) >> 29];
        size_t l = strlen(x);

        memcpy(p + n, x, n + l <= 4096 ? l : 4096 - n);
        n += l;
    }
}

static void fill_random(uint8_t *p, unsigned seed)
{
    size_t i;

    for (i = 0; i < 4096; i++)
        p[i] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
}

/* The content sample: 2 runs of 8 pages, 4 zero, 6 text, 6 random. */
static void test_measure(libxlmig_ctx *ctx)
{
    static const uint32_t len[2] = { 8, 8 };
    libxlmig__gc gc_buf = LIBXLMIG__INIT_GC(ctx), *gc = &gc_buf;
    libxlmig_content_sample c, text, rnd;
    uint8_t *buf = calloc(16, 4096);
    unsigned i;
    int rc;

    for (i = 0; i < 16; i++)
        if (i % 4 == 0)
            continue;                       /* pages 0, 4, 8, 12: zero */
        else if (i < 8)
            fill_text(buf + i * 4096, i);
        else
            fill_random(buf + i * 4096, i);
    rc = libxlmig__content_measure(gc, buf, len, 2, true, &c);
    ok(!rc && c.pages == 16 && c.skipped == 4 && c.data_bytes == 12 * 4096,
       "content: 16 pages read, the 4 zero ones left out (%u, %u, %llu)",
       c.pages, c.skipped, (unsigned long long)c.data_bytes);
    ok(c.lz4_bytes < c.data_bytes && c.zstd_bytes < c.data_bytes &&
       c.lz4_ns > 0 && c.zstd_ns > 0,
       "content: both compressors shrink the text (lz4 %llu, zstd %llu "
       "of %llu bytes) and took time",
       (unsigned long long)c.lz4_bytes, (unsigned long long)c.zstd_bytes,
       (unsigned long long)c.data_bytes);
    rc = libxlmig__content_measure(gc, buf, len, 2, false, &c);
    ok(!rc && c.skipped == 0 && c.data_bytes == 16 * 4096,
       "content: a stream that carries zero pages counts them as data");
    /* Text alone against random alone. */
    rc = libxlmig__content_measure(gc, buf + 4096, (const uint32_t[]){ 3 },
                                   1, true, &text);
    if (!rc)
        rc = libxlmig__content_measure(gc, buf + 9 * 4096,
                                       (const uint32_t[]){ 3 }, 1, true,
                                       &rnd);
    ok(!rc && text.zstd_bytes * 2 < text.data_bytes &&
       rnd.lz4_bytes == rnd.data_bytes && rnd.zstd_bytes == rnd.data_bytes,
       "content: text compresses to under half, random frames count raw "
       "(text zstd %llu, random lz4 %llu zstd %llu of %llu)",
       (unsigned long long)text.zstd_bytes,
       (unsigned long long)rnd.lz4_bytes, (unsigned long long)rnd.zstd_bytes,
       (unsigned long long)rnd.data_bytes);
    GC_FREE;
    free(buf);
}

/* Where the content sample's runs lie. */
static void test_runs(void)
{
    uint64_t first, prev_end = 0;
    uint32_t len, pages = 0;
    unsigned r;
    bool apart = true;

    for (r = 0; r < LIBXLMIG_CONTENT_SAMPLE_RUNS; r++) {
        libxlmig__content_run(262144, r, &first, &len);
        apart = apart && first >= prev_end && first + len <= 262144;
        prev_end = first + len;
        pages += len;
    }
    ok(apart && pages == LIBXLMIG_CONTENT_SAMPLE_RUNS *
                         LIBXLMIG_CONTENT_SAMPLE_RUN && prev_end > 250000,
       "runs over 1 GiB: 32 of 64 pages, apart, the last near the end "
       "(ends at page %llu)", (unsigned long long)prev_end);
    libxlmig__content_run(1000, 31, &first, &len);
    ok(first == 961 && len == 31, "1000 pages: runs of 31 (last %llu+%u)",
       (unsigned long long)first, len);
    libxlmig__content_run(10, 9, &first, &len);
    ok(first == 9 && len == 1, "10 pages: a page a run");
    libxlmig__content_run(10, 10, &first, &len);
    ok(len == 0, "10 pages: no 11th run");
}

/* What a content sample changes in the estimate (an idle 256 MiB guest:
 * the full copy alone). */
static void test_content(libxlmig_ctx *ctx)
{
    libxlmig__gc gc_buf = LIBXLMIG__INIT_GC(ctx), *gc = &gc_buf;
    libxlmig_dirty_sample s;
    libxlmig_estimate raw, e, back;
    libxlmig_params p;
    char *json = NULL;
    yajl_val v;
    int rc;

    libxlmig_params_init(&p);
    sample(&s, 65536, 0, 0);
    rc = libxlmig_estimate_compute(ctx, &p, &s, 125e6, &raw);
    ok(!rc && raw.memory_rate == 0 && near(2147, (double)raw.total_ms, 3),
       "no content sample: every page raw at 1 Gbit/s (%llu ms)",
       (unsigned long long)raw.total_ms);
    /* Half the pages zero; of the rest, lz4 to 50% at 1 GB/s, zstd to
     * 30% at 400 MB/s (per byte: lz4 1 + 4 ns, zstd 2.5 + 2.4 ns, raw
     * 8 ns at 1 Gbit/s: the chooser's zstd; compressing and sending
     * overlap, so zstd moves a byte in 2.5 ns). */
    s.content.pages = 2048;
    s.content.skipped = 1024;
    s.content.data_bytes = 1024 * 4096;
    s.content.lz4_bytes = s.content.data_bytes / 2;
    s.content.lz4_ns = s.content.data_bytes;
    s.content.zstd_bytes = s.content.data_bytes * 3 / 10;
    s.content.zstd_ns = s.content.data_bytes * 5 / 2;
    p.compression = LIBXLMIG_COMPRESSION_OFF;
    rc = libxlmig_estimate_compute(ctx, &p, &s, 125e6, &e);
    ok(!rc && e.compression == LIBXLMIG_COMPRESSION_OFF &&
       near(0.5, e.skipped_share, 0.1) && near(125e6, e.memory_rate, 0.1) &&
       near(raw.total_ms / 2.0, (double)e.total_ms, 3) &&
       near((double)raw.bytes / 2, (double)e.bytes, 1),
       "compression off: the zero half left out halves time and bytes "
       "(%llu ms, %.1f MiB)", (unsigned long long)e.total_ms,
       e.bytes / 1048576.0);
    p.compression = LIBXLMIG_COMPRESSION_AUTO;
    rc = libxlmig_estimate_compute(ctx, &p, &s, 125e6, &e);
    ok(!rc && e.compression == LIBXLMIG_COMPRESSION_ZSTD &&
       near(1e9 / 2.5, e.memory_rate, 1) &&
       near((double)raw.bytes * 0.5 * 0.3, (double)e.bytes, 1),
       "auto at 1 Gbit/s: zstd, %.1f MB/s of memory, %.1f MiB sent",
       e.memory_rate / 1e6, e.bytes / 1048576.0);
    rc = libxlmig_estimate_compute(ctx, &p, &s, 1.25e9, &e);
    ok(!rc && e.compression == LIBXLMIG_COMPRESSION_OFF &&
       near(1.25e9, e.memory_rate, 0.1),
       "auto at 10 Gbit/s: raw (the link is faster than the compressors)");
    p.compression = LIBXLMIG_COMPRESSION_LZ4;
    rc = libxlmig_estimate_compute(ctx, &p, &s, 1.25e9, &e);
    ok(!rc && e.compression == LIBXLMIG_COMPRESSION_LZ4 &&
       near(1e9, e.memory_rate, 1),
       "lz4 at 10 Gbit/s: lz4 all the same, %.1f MB/s of memory",
       e.memory_rate / 1e6);
    p.compression = LIBXLMIG_COMPRESSION_AUTO;
    s.content.zstd_bytes = s.content.lz4_bytes = s.content.data_bytes;
    rc = libxlmig_estimate_compute(ctx, &p, &s, 125e6, &e);
    ok(!rc && e.compression == LIBXLMIG_COMPRESSION_OFF &&
       near(125e6, e.memory_rate, 0.1),
       "auto on content that does not compress: raw");

    /* The JSON, with the content's figures, and back. */
    s.content.zstd_bytes = s.content.data_bytes * 3 / 10;
    libxlmig_estimate_compute(ctx, &p, &s, 125e6, &e);
    v = !libxlmig_estimate_to_json(ctx, &e, &json)
        ? yajl_tree_parse(json, NULL, 0) : NULL;
    ok(v && !libxlmig__estimate_parse(gc, v, &back) &&
       back.compression == LIBXLMIG_COMPRESSION_ZSTD &&
       near(e.memory_rate, back.memory_rate, 0.01) &&
       near(e.skipped_share, back.skipped_share, 0.01) &&
       back.total_ms == e.total_ms,
       "the estimate's JSON carries memory rate, zero share, compression");
    yajl_tree_free(v);
    free(json);
    json = NULL;
    v = !libxlmig_estimate_to_json(ctx, &raw, &json)
        ? yajl_tree_parse(json, NULL, 0) : NULL;
    ok(v && !strstr(json, "memory_rate") &&
       !libxlmig__estimate_parse(gc, v, &back) && back.memory_rate == 0,
       "without a content sample it has none of them");
    yajl_tree_free(v);
    free(json);

    /* A content sample from a peer (sim's control socket) out of range. */
    v = yajl_tree_parse("{\"pages\":10,\"skipped\":11,\"data_bytes\":0,"
                        "\"lz4_bytes\":0,\"zstd_bytes\":0,\"lz4_ns\":0,"
                        "\"zstd_ns\":0}", NULL, 0);
    ok(v && libxlmig__content_parse(gc, v, &s.content) ==
            LIBXLMIG_ERROR_PROTOCOL && !s.content.pages,
       "a content sample with more zero pages than pages is refused");
    yajl_tree_free(v);
    v = yajl_tree_parse("{\"pages\":10,\"skipped\":2,\"data_bytes\":32768,"
                        "\"lz4_bytes\":30000,\"zstd_bytes\":40000,"
                        "\"lz4_ns\":1,\"zstd_ns\":1}", NULL, 0);
    ok(v && libxlmig__content_parse(gc, v, &s.content) ==
            LIBXLMIG_ERROR_PROTOCOL,
       "... and one compressed to more than its data");
    yajl_tree_free(v);
    GC_FREE;
}

int main(void)
{
    libxlmig_ctx *ctx;
    libxlmig_dirty_sample s;
    libxlmig_estimate e;
    libxlmig_params p;
    size_t i;
    int rc;

    plan(ARRAY_SIZE(cases) * 4 + 2 + 4 + 4 + 10);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        libxlmig_params_init(&p);
        p.downtime_limit_ms = 100;
        p.bandwidth_limit = cases[i].limit;
        if (cases[i].abort) {
            p.on_limit = LIBXLMIG_LIMIT_ABORT;
            p.auto_converge = false;
        }
        sample(&s, cases[i].pages, cases[i].rate, cases[i].ws);
        rc = libxlmig_estimate_compute(ctx, &p, &s, cases[i].bw, &e);
        ok(rc == 0, "%s: computed", cases[i].name);
        ok(near(cases[i].want_rate, e.dirty_rate, 5) &&
           (!cases[i].want_ws ||
            near(cases[i].want_ws, (double)e.working_set_pages, 5)),
           "%s: fitted rate %.0f pages/s over %llu pages", cases[i].name,
           e.dirty_rate, (unsigned long long)e.working_set_pages);
        ok(e.converges == cases[i].converges &&
           (!e.converges || (e.total_ms >= cases[i].min_ms &&
                             e.total_ms <= cases[i].max_ms)),
           "%s: total %llu ms", cases[i].name,
           (unsigned long long)e.total_ms);
        ok(e.rounds >= cases[i].min_rounds &&
           e.rounds <= cases[i].max_rounds &&
           (!e.converges || e.downtime_ms <= 100),
           "%s: %u rounds, downtime %llu ms", cases[i].name, e.rounds,
           (unsigned long long)e.downtime_ms);
    }
    sample(&s, 1024, 10, 0);
    ok(libxlmig_estimate_compute(ctx, NULL, &s, 0, &e) ==
       LIBXLMIG_ERROR_INVAL, "no bandwidth: refused");
    s.nr_pages = 0;
    ok(libxlmig_estimate_compute(ctx, NULL, &s, 1e9, &e) ==
       LIBXLMIG_ERROR_INVAL, "no guest size: refused");
    test_runs();
    test_measure(ctx);
    test_content(ctx);
    libxlmig_ctx_free(ctx);
    return 0;
}
