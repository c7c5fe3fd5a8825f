/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration estimates: a fit of the domain's dirty-log sample fed through
 * the engine's own pre-copy policy (precopy.c) over simulated rounds, and
 * the estimate's JSON form.
 */
#include <math.h>

#include "engine/engine.h"

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
    double rate, ws, secs, total, pages, eff, bw = bandwidth;
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

    /* Round 0 sends every page; then the policy decides per round. */
    pages = (double)s->nr_pages;
    secs = pages * LIBXLMIG__PAGE_SIZE / bw;
    total = secs;
    e->bytes = s->nr_pages * LIBXLMIG__PAGE_SIZE;
    memset(&in, 0, sizeof(in));
    in.last_round_bytes = e->bytes;
    for (round = 0; round < ESTIMATE_MAX_ROUNDS; round++) {
        eff = rate * (100 - in.throttle_pct) / 100.0;
        pages = dirtied(eff, ws, secs);
        in.round = round + 1;
        in.prev_dirty_bytes = in.dirty_bytes;
        in.dirty_bytes = (uint64_t)pages * LIBXLMIG__PAGE_SIZE;
        in.bandwidth_bps = bw;
        in.elapsed_ms = (uint64_t)(total * 1000);
        d = libxlmig__precopy_decide(p, &in);
        in.stalled_rounds = d.stalled_rounds;
        if (d.action == LIBXLMIG__PRECOPY_ABORT) {
            e->converges = false;
            break;
        }
        if (d.action == LIBXLMIG__PRECOPY_STOP_AND_COPY) {
            secs = (double)in.dirty_bytes / bw;
            e->downtime_ms = (uint64_t)(secs * 1000 + 0.5);
            e->bytes += in.dirty_bytes;
            total += secs;
            break;
        }
        in.throttle_pct = d.throttle_pct;
        if (d.throttle_pct > e->throttle_pct)
            e->throttle_pct = d.throttle_pct;
        secs = (double)in.dirty_bytes / bw;
        total += secs;
        e->bytes += in.dirty_bytes;
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
    return yajl_gen_map_close(g);
}

static yajl_gen_status estimate_gen(yajl_gen g, const void *e)
{
    return libxlmig__estimate_gen(g, e);
}

int libxlmig__estimate_parse(libxlmig__gc *gc, yajl_val v,
                            libxlmig_estimate *e)
{
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
    return rc;
}

int libxlmig_estimate_to_json(libxlmig_ctx *ctx, const libxlmig_estimate *e,
                              char **json_r)
{
    return libxlmig__json_encode(ctx, estimate_gen, e, false, "estimate",
                                 json_r);
}
