/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration estimates (libxlmig_estimate_compute): the fit of a dirty-log
 * sample (linear, or saturating over a working set), the full copy alone
 * for an idle guest, rounds and downtime from the pre-copy policy, the
 * bandwidth limit, a guest that never converges, and bad input.
 */
#include <math.h>
#include <stdlib.h>

#include "libxlmig.h"
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

int main(void)
{
    libxlmig_ctx *ctx;
    libxlmig_dirty_sample s;
    libxlmig_estimate e;
    libxlmig_params p;
    size_t i;
    int rc;

    plan(ARRAY_SIZE(cases) * 4 + 2);
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
    libxlmig_ctx_free(ctx);
    return 0;
}
