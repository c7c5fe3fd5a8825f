/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration estimates: a fit of the domain's dirty-log sample fed through
 * the engine's own pre-copy policy (precopy.c) over simulated rounds, and
 * the estimate's JSON form.
 */
#include <math.h>
#include <stddef.h>

#include "engine/engine.h"
#include "net/compress.h"

/* Fixed costs the estimate adds (ms): connection and stream setup,
 * and the end of the stream plus the handoff. */
#define ESTIMATE_SETUP_MS    20
#define ESTIMATE_HANDOFF_MS  10
/* Simulated rounds stop here whatever the policy says. */
#define ESTIMATE_MAX_ROUNDS  1000

/*
 * The model: a guest writing r pages/s uniformly over w pages has written
 * f(t) = w (1 - exp(-r t / w)) distinct pages after t seconds.  Two sample
 * points at t and 4t give c1 and c4; with x = exp(-r t / w), c4 / c1 =
 * 1 + x + x^2 + x^3, which fixes x, then w and r.
 */
static void fit(const libxlmig_dirty_sample *s, double *rate_r, double *ws_r)
{
    double t1, c1, c4, q, lo = 0, hi = 1, x = 0, w, r;
    int i, last = (int)s->nr_points - 1;

    *rate_r = 0;
    *ws_r = (double)s->nr_pages;
    if (last < 0 || last >= LIBXLMIG_DIRTY_SAMPLE_POINTS || !s->ms[0] ||
        !s->pages[last])
        return;
    t1 = s->ms[0] / 1000.0;
    c1 = (double)s->pages[0];
    c4 = (double)s->pages[last];
    if (!c1) {
        *rate_r = c4 * 1000.0 / (double)s->ms[last];
        return;
    }
    q = c4 / c1 * (4.0 * (double)s->ms[0] / (double)s->ms[last]);
    if (q >= 3.96) {                 /* linear: no sign of saturation */
        *rate_r = c4 * 1000.0 / (double)s->ms[last];
        return;
    }
    if (q <= 1.0) q = 1.0001;
    for (i = 0; i < 60; i++) {
        x = (lo + hi) / 2;
        if (1 + x + x * x + x * x * x < q) lo = x; else hi = x;
    }
    w = c1 / (1 - x);
    r = -w * log(x) / t1;
    if (w > (double)s->nr_pages) w = (double)s->nr_pages;
    *rate_r = r;
    *ws_r = w;
}

void libxlmig__content_run(uint64_t nr_pages, unsigned r,
                           uint64_t *first_r, uint32_t *len_r)
{
    uint64_t stride = nr_pages / LIBXLMIG_CONTENT_SAMPLE_RUNS;

    if (!stride) {              /* a tiny domain: a page a run */
        *first_r = r;
        *len_r = r < nr_pages ? 1 : 0;
        return;
    }
    *first_r = stride * r;
    *len_r = stride < LIBXLMIG_CONTENT_SAMPLE_RUN
             ? (uint32_t)stride : LIBXLMIG_CONTENT_SAMPLE_RUN;
}

int libxlmig__content_measure(libxlmig__gc *gc, const void *buf,
                              const uint32_t *run_len, unsigned nruns,
                              bool skip_zero, libxlmig_content_sample *c)
{
    static const libxlmig_compression mode[2] = {
        LIBXLMIG_COMPRESSION_LZ4, LIBXLMIG_COMPRESSION_ZSTD };
    libxlmig__comp *comp[2] = { NULL, NULL };
    uint64_t *bytes_r[2] = { &c->lz4_bytes, &c->zstd_bytes };
    uint64_t *ns_r[2] = { &c->lz4_ns, &c->zstd_ns };
    libxlmig__comp_stats_t st;
    const uint8_t *p = buf;
    uint8_t *frame, *dst;
    uint32_t longest = 0, i;
    size_t n, cap, out;
    unsigned r, k, a;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    for (r = 0; r < nruns; r++)
        if (run_len[r] > longest)
            longest = run_len[r];
    if (!longest)
        return 0;
    cap = libxlmig__comp_bound((size_t)longest * LIBXLMIG__PAGE_SIZE);
    frame = libxlmig__zalloc(gc, (size_t)longest * LIBXLMIG__PAGE_SIZE);
    dst = libxlmig__zalloc(gc, cap);
    for (k = 0; !rc && k < 2; k++)
        rc = libxlmig__comp_new(gc, mode[k], &comp[k]);
    for (r = 0; !rc && r < nruns; r++) {
        n = 0;
        for (i = 0; i < run_len[r]; i++, p += LIBXLMIG__PAGE_SIZE) {
            c->pages++;
            if (skip_zero && libxlmig__page_is_zero(p)) {
                c->skipped++;
                continue;
            }
            memcpy(frame + n, p, LIBXLMIG__PAGE_SIZE);
            n += LIBXLMIG__PAGE_SIZE;
        }
        if (!n)
            continue;
        c->data_bytes += n;
        for (k = 0; k < 2; k++)
            (void)libxlmig__comp_frame(comp[k], frame, n, dst, cap, &out, 0);
    }
    for (k = 0; !rc && k < 2; k++) {
        libxlmig__comp_stats(comp[k], &st);
        for (a = 0; a < LIBXLMIG__COMP_NR_ALGOS; a++)
            *bytes_r[k] += st.bytes_out[a];
        *ns_r[k] = st.cpu_ns;
    }
    for (k = 0; k < 2; k++)
        libxlmig__comp_free(comp[k]);
    if (rc)
        memset(c, 0, sizeof(*c));
    return rc;
}

int libxlmig__content_take(libxlmig__gc *gc, uint64_t nr_pages,
                           libxlmig__content_read_fn *read, void *opaque,
                           bool skip_zero, libxlmig_content_sample *c)
{
    uint32_t len[LIBXLMIG_CONTENT_SAMPLE_RUNS];
    uint8_t *buf, *p;
    uint64_t first;
    unsigned r;

    buf = p = libxlmig__zalloc(gc, (size_t)LIBXLMIG_CONTENT_SAMPLE_RUNS *
                                   LIBXLMIG_CONTENT_SAMPLE_RUN *
                                   LIBXLMIG__PAGE_SIZE);
    for (r = 0; r < LIBXLMIG_CONTENT_SAMPLE_RUNS; r++) {
        libxlmig__content_run(nr_pages, r, &first, &len[r]);
        if (len[r])
            len[r] = read(opaque, first, len[r], p);
        p += (size_t)len[r] * LIBXLMIG__PAGE_SIZE;
    }
    return libxlmig__content_measure(gc, buf, len,
                                     LIBXLMIG_CONTENT_SAMPLE_RUNS, skip_zero,
                                     c);
}

/*
 * Seconds per byte of the data pages' memory as the stream would send
 * them over bw bytes/s with p's compression; *algo_r what they would go
 * as, *ratio_r wire bytes per byte of memory.  The algorithm is the one
 * the chooser would take (libxlmig__comp_cost, with the sample's speed
 * and ratio); its pace is the slower of compressing and sending, which
 * overlap in the stream (a frame compresses while the socket or the
 * bandwidth limit's bucket drains the one before): measured on the
 * namespace cluster, a 64 MiB guest of mixed content at 32 MiB/s took
 * 637 ms where compressing, then sending, would take 1017.
 */
static double data_cost(const libxlmig_params *p,
                        const libxlmig_content_sample *c, double bw,
                        libxlmig_compression *algo_r, double *ratio_r)
{
    static const struct {
        libxlmig_compression mode;
        libxlmig__comp_algo algo;
    } alg[2] = { { LIBXLMIG_COMPRESSION_LZ4, LIBXLMIG__COMP_LZ4 },
                 { LIBXLMIG_COMPRESSION_ZSTD, LIBXLMIG__COMP_ZSTD } };
    double best = 1 / bw, pace = 1 / bw, t, speed, ratio;
    uint64_t bytes, ns;
    unsigned k;

    *algo_r = LIBXLMIG_COMPRESSION_OFF;
    *ratio_r = 1;
    if (!c->data_bytes || p->compression == LIBXLMIG_COMPRESSION_OFF)
        return best;
    for (k = 0; k < 2; k++) {
        if (p->compression != LIBXLMIG_COMPRESSION_AUTO &&
            p->compression != alg[k].mode)
            continue;
        bytes = k ? c->zstd_bytes : c->lz4_bytes;
        ns = k ? c->zstd_ns : c->lz4_ns;
        speed = (double)c->data_bytes * 1e9 / (double)(ns ? ns : 1);
        ratio = (double)bytes / (double)c->data_bytes;
        /* lz4 or zstd on their own compress every frame. */
        t = p->compression == LIBXLMIG_COMPRESSION_AUTO
            ? libxlmig__comp_cost(alg[k].algo, speed, ratio, bw)
            : 1 / speed + ratio / bw;
        if (t < best || p->compression != LIBXLMIG_COMPRESSION_AUTO) {
            best = t;
            pace = fmax(1 / speed, ratio / bw);
            *algo_r = alg[k].mode;
            *ratio_r = ratio;
        }
    }
    return pace;
}

static double dirtied(double rate, double ws, double secs)
{
    if (ws <= 0 || rate <= 0 || secs <= 0)
        return 0;
    return ws * (1 - exp(-rate * secs / ws));
}

int libxlmig_estimate_compute(libxlmig_ctx *ctx, const libxlmig_params *p,
                              const libxlmig_dirty_sample *s,
                              double bandwidth, libxlmig_estimate *e)
{
    GC_INIT(ctx);
    libxlmig__precopy_input in;
    libxlmig__precopy_decision d;
    libxlmig_params def;
    double rate, ws, secs, total, pages, eff, bw = bandwidth, mem, ratio;
    uint32_t round;
    int rc;

    memset(e, 0, sizeof(*e));
    if (!p) {
        libxlmig_params_init(&def);
        p = &def;
    }
    if (p->bandwidth_limit && (!bw || bw > (double)p->bandwidth_limit))
        bw = (double)p->bandwidth_limit;
    if (bw <= 0 || !s->nr_pages) {
        LOG(ERROR, "estimate: need a bandwidth and a domain size");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    fit(s, &rate, &ws);
    e->dirty_rate = rate;
    e->working_set_pages = (uint64_t)ws;
    e->bandwidth = bw;
    e->converges = true;
    /* Memory per second of the pages the stream carries, and what the
     * first copy leaves out. */
    mem = 1 / data_cost(p, &s->content, bw, &e->compression, &ratio);
    if (s->content.pages) {
        e->memory_rate = mem;
        e->skipped_share = (double)s->content.skipped / s->content.pages;
    }

    /* Round 0 sends every page but those left out; then the policy
     * decides per round, on the memory it moves per second (as the
     * engine does), for pages dirtied since, taken to be data pages. */
    pages = (double)s->nr_pages * (1 - e->skipped_share);
    secs = pages * LIBXLMIG__PAGE_SIZE / mem;
    total = secs;
    e->bytes = (uint64_t)(pages * LIBXLMIG__PAGE_SIZE * ratio);
    memset(&in, 0, sizeof(in));
    in.last_round_bytes = (uint64_t)(pages * LIBXLMIG__PAGE_SIZE);
    for (round = 0; round < ESTIMATE_MAX_ROUNDS; round++) {
        eff = rate * (100 - in.throttle_pct) / 100.0;
        pages = dirtied(eff, ws, secs);
        in.round = round + 1;
        in.prev_dirty_bytes = in.dirty_bytes;
        in.dirty_bytes = (uint64_t)pages * LIBXLMIG__PAGE_SIZE;
        in.bandwidth_bps = mem;
        in.elapsed_ms = (uint64_t)(total * 1000);
        d = libxlmig__precopy_decide(p, &in);
        in.stalled_rounds = d.stalled_rounds;
        if (d.action == LIBXLMIG__PRECOPY_ABORT) {
            e->converges = false;
            break;
        }
        if (d.action == LIBXLMIG__PRECOPY_STOP_AND_COPY) {
            secs = (double)in.dirty_bytes / mem;
            e->downtime_ms = (uint64_t)(secs * 1000 + 0.5);
            e->bytes += (uint64_t)((double)in.dirty_bytes * ratio);
            total += secs;
            break;
        }
        in.throttle_pct = d.throttle_pct;
        if (d.throttle_pct > e->throttle_pct)
            e->throttle_pct = d.throttle_pct;
        secs = (double)in.dirty_bytes / mem;
        total += secs;
        e->bytes += (uint64_t)((double)in.dirty_bytes * ratio);
        in.last_round_bytes = in.dirty_bytes;
        e->rounds++;
    }
    e->total_ms = (uint64_t)(total * 1000 + 0.5) + ESTIMATE_SETUP_MS +
                  ESTIMATE_HANDOFF_MS;
    rc = 0;
 out:
    GC_FREE;
    return rc;
}

/* The content sample's byte and time counts, by JSON name. */
static const struct {
    const char *key;
    size_t off;
} content_u64[] = {
    { "data_bytes", offsetof(libxlmig_content_sample, data_bytes) },
    { "lz4_bytes", offsetof(libxlmig_content_sample, lz4_bytes) },
    { "zstd_bytes", offsetof(libxlmig_content_sample, zstd_bytes) },
    { "lz4_ns", offsetof(libxlmig_content_sample, lz4_ns) },
    { "zstd_ns", offsetof(libxlmig_content_sample, zstd_ns) },
};
#define CONTENT_U64(c, k) \
    ((uint64_t *)((char *)(c) + content_u64[k].off))

yajl_gen_status libxlmig__content_gen(yajl_gen g,
                                      const libxlmig_content_sample *c)
{
    yajl_gen_status s = yajl_gen_map_open(g);
    size_t k;

    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "pages", c->pages);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "skipped", c->skipped);
    for (k = 0; s == yajl_gen_status_ok && k < ARRAY_SIZE(content_u64); k++)
        s = libxlmig__yajl_gen_kv_uint(g, content_u64[k].key,
                                       *CONTENT_U64(c, k));
    if (s == yajl_gen_status_ok)
        s = yajl_gen_map_close(g);
    return s;
}

int libxlmig__content_parse(libxlmig__gc *gc, yajl_val v,
                            libxlmig_content_sample *c)
{
    uint64_t pages = 0, skipped = 0;
    size_t k;
    int rc;

    memset(c, 0, sizeof(*c));
    if (!v)
        return 0;
    rc = libxlmig__json_get_u64(gc, v, "pages", &pages);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "skipped", &skipped);
    for (k = 0; !rc && k < ARRAY_SIZE(content_u64); k++)
        rc = libxlmig__json_get_u64(gc, v, content_u64[k].key,
                                    CONTENT_U64(c, k));
    if (!rc && (pages > (uint64_t)LIBXLMIG_CONTENT_SAMPLE_RUNS *
                        LIBXLMIG_CONTENT_SAMPLE_RUN || skipped > pages ||
                c->data_bytes != (pages - skipped) * LIBXLMIG__PAGE_SIZE ||
                c->lz4_bytes > c->data_bytes ||
                c->zstd_bytes > c->data_bytes)) {
        LOG(ERROR, "content sample out of range");
        rc = LIBXLMIG_ERROR_PROTOCOL;
    }
    if (rc) {
        memset(c, 0, sizeof(*c));
        return rc;
    }
    c->pages = (uint32_t)pages;
    c->skipped = (uint32_t)skipped;
    return 0;
}

yajl_gen_status libxlmig__estimate_gen(yajl_gen g, const libxlmig_estimate *e)
{
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_uint(g, "total_ms", e->total_ms);
    libxlmig__yajl_gen_kv_uint(g, "downtime_ms", e->downtime_ms);
    libxlmig__yajl_gen_kv_uint(g, "rounds", e->rounds);
    libxlmig__yajl_gen_kv_uint(g, "bytes", e->bytes);
    libxlmig__yajl_gen_kv_double(g, "dirty_rate", e->dirty_rate);
    libxlmig__yajl_gen_kv_uint(g, "working_set_pages", e->working_set_pages);
    libxlmig__yajl_gen_kv_double(g, "bandwidth", e->bandwidth);
    libxlmig__yajl_gen_kv_uint(g, "throttle_pct", e->throttle_pct);
    libxlmig__yajl_gen_kv_bool(g, "converges", e->converges);
    if (e->memory_rate > 0) {
        libxlmig__yajl_gen_kv_double(g, "memory_rate", e->memory_rate);
        libxlmig__yajl_gen_kv_double(g, "skipped_share", e->skipped_share);
        libxlmig__yajl_gen_kv_str(g, "compression",
            libxlmig_compression_to_string(e->compression));
    }
    return yajl_gen_map_close(g);
}

static yajl_gen_status estimate_gen(yajl_gen g, const void *e)
{
    return libxlmig__estimate_gen(g, e);
}

int libxlmig__estimate_parse(libxlmig__gc *gc, yajl_val v,
                            libxlmig_estimate *e)
{
    static const char *content_path[] = { "memory_rate", NULL };
    long long rounds = 0, thr = 0;
    int rc;

    memset(e, 0, sizeof(*e));
    rc = libxlmig__json_check_version(gc, v, "prediction", 1);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "total_ms", &e->total_ms);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "downtime_ms",
                                         &e->downtime_ms);
    if (!rc) rc = libxlmig__json_get_int(gc, v, "rounds", &rounds);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "bytes", &e->bytes);
    if (!rc) rc = libxlmig__json_get_double(gc, v, "dirty_rate",
                                            &e->dirty_rate);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "working_set_pages",
                                         &e->working_set_pages);
    if (!rc) rc = libxlmig__json_get_double(gc, v, "bandwidth",
                                            &e->bandwidth);
    if (!rc) rc = libxlmig__json_get_int(gc, v, "throttle_pct", &thr);
    if (!rc) rc = libxlmig__json_get_bool(gc, v, "converges",
                                          &e->converges);
    if (!rc && (rounds < 0 || rounds > UINT32_MAX || thr < 0 || thr > 100)) {
        LOG(ERROR, "prediction: rounds or throttle out of range");
        rc = LIBXLMIG_ERROR_PROTOCOL;
    }
    e->rounds = (uint32_t)rounds;
    e->throttle_pct = (uint32_t)thr;
    /* Only with a content sample. */
    if (!rc && yajl_tree_get(v, content_path, yajl_t_any)) {
        rc = libxlmig__json_get_double(gc, v, "memory_rate",
                                       &e->memory_rate);
        if (!rc) rc = libxlmig__json_get_double(gc, v, "skipped_share",
                                                &e->skipped_share);
        if (!rc && libxlmig_compression_from_string(
                       libxlmig__json_get_str(v, "compression"),
                       &e->compression)) {
            LOG(ERROR, "prediction: unknown compression");
            rc = LIBXLMIG_ERROR_PROTOCOL;
        }
        if (!rc && (e->memory_rate <= 0 || !(e->skipped_share >= 0) ||
                    e->skipped_share > 1)) {
            LOG(ERROR, "prediction: memory rate or skipped share out of "
                "range");
            rc = LIBXLMIG_ERROR_PROTOCOL;
        }
    }
    return rc;
}

int libxlmig_estimate_to_json(libxlmig_ctx *ctx, const libxlmig_estimate *e,
                              char **json_r)
{
    return libxlmig__json_encode(ctx, estimate_gen, e, false, "estimate",
                                 json_r);
}
