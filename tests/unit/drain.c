/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The drain planner: placement rules (maintenance, CPU, memory counting
 * in-flight and planned migrations, least loaded), concurrency limits per
 * source and per target checked over the whole schedule, the reasons
 * given for domains that fit nowhere, and the makespan against bounds.
 */
#include <stdlib.h>

#include "libxlmig.h"
#include "tap.h"

#define MiB 1024ull
#define GiB (1024ull * 1024ull)

static libxlmig_ctx *ctx;

/* Largest number of steps overlapping in time, overall or on target t. */
static unsigned max_overlap(const libxlmig_drain_plan *p, int t)
{
    unsigned best = 0, n;
    int i, j;

    for (i = 0; i < p->nr_steps; i++) {
        if (p->steps[i].target < 0 || (t >= 0 && p->steps[i].target != t))
            continue;
        n = 0;
        for (j = 0; j < p->nr_steps; j++) {
            if (p->steps[j].target < 0 ||
                (t >= 0 && p->steps[j].target != t))
                continue;
            if (p->steps[j].start_ms <= p->steps[i].start_ms &&
                p->steps[j].end_ms > p->steps[i].start_ms)
                n++;
        }
        if (n > best)
            best = n;
    }
    return best;
}

static void test_eight_domains(void)
{
    libxlmig_drain_target t[3] = {
        { "node2", 16 * GiB, 12 * GiB, 0, false, true },
        { "node3", 16 * GiB, 12 * GiB, 0, false, true },
        { "node4", 16 * GiB, 15 * GiB, 0, true, true },  /* maintenance */
    };
    libxlmig_drain_domain d[8];
    uint64_t placed_kib[3] = { 0 }, work = 0, longest = 0;
    libxlmig_drain_plan p;
    int i;

    for (i = 0; i < 8; i++) {
        d[i].name = "dom";
        d[i].memory_kib = (uint64_t)(256 + 128 * i) * MiB;
        d[i].estimate_ms = 1000 + 500 * (uint64_t)i;
        d[i].compat = NULL;
        d[i].compat_reason = NULL;
        work += d[i].estimate_ms;
        if (d[i].estimate_ms > longest) longest = d[i].estimate_ms;
    }
    libxlmig_drain_plan_init(&p);
    is_int(0, libxlmig_drain_plan_make(ctx, t, 3, d, 8, 2, 2, &p),
           "plan 8 domains over 3 nodes, concurrency 2");
    is_int(0, p.nr_unplaced, "every domain placed");
    for (i = 0; i < p.nr_steps; i++)
        if (p.steps[i].target >= 0)
            placed_kib[p.steps[i].target] += d[p.steps[i].domain].memory_kib;
    is_int(0, (long long)placed_kib[2], "the node in maintenance gets none");
    ok(placed_kib[0] <= t[0].free_memory_kib &&
       placed_kib[1] <= t[1].free_memory_kib, "no target overcommitted");
    ok(placed_kib[0] > 0 && placed_kib[1] > 0,
       "both eligible targets share the load");
    ok(max_overlap(&p, -1) <= 2, "at most 2 migrations at once from the "
       "source (%u)", max_overlap(&p, -1));
    ok(max_overlap(&p, 0) <= 2 && max_overlap(&p, 1) <= 2,
       "at most 2 at once into any target");
    ok(p.makespan_ms >= work / 2 && p.makespan_ms >= longest,
       "makespan %llu ms is at least the lower bounds",
       (unsigned long long)p.makespan_ms);
    ok(p.makespan_ms * 3 <= (work / 2 + longest) * 4,
       "makespan within 4/3 of work/slots + longest");
    for (i = 1; i < p.nr_steps; i++)
        if (p.steps[i].start_ms < p.steps[i - 1].start_ms)
            break;
    is_int(p.nr_steps, i, "steps listed in start order");
    is_int(7, p.steps[0].domain, "the longest migration starts first");
    libxlmig_drain_plan_dispose(&p);
}

static void test_unplaceable(void)
{
    static const bool compat_big[2] = { true, false };
    static const char *const why[2] = { NULL, "missing avx512f avx512bw" };
    libxlmig_drain_target t[2] = {
        { "node2", 8 * GiB, 2 * GiB, 512 * MiB, false, true },
        { "node3", 64 * GiB, 60 * GiB, 0, false, true },
    };
    libxlmig_drain_domain d[2] = {
        { "big", 4 * GiB, 9000, compat_big, why },
        { "small", 1 * GiB, 2000, NULL, NULL },
    };
    libxlmig_drain_plan p;
    const libxlmig_drain_step *big = NULL, *small = NULL;
    int i;

    libxlmig_drain_plan_init(&p);
    is_int(0, libxlmig_drain_plan_make(ctx, t, 2, d, 2, 1, 1, &p),
           "plan with a domain that fits nowhere");
    is_int(1, p.nr_unplaced, "one domain cannot move");
    for (i = 0; i < p.nr_steps; i++) {
        if (p.steps[i].domain == 0) big = &p.steps[i];
        if (p.steps[i].domain == 1) small = &p.steps[i];
    }
    ok(big && big->target == -1, "the big one has no target");
    like_string("node2 has 1536 MiB free, needs 4096 MiB",
                big ? big->reason : "", "reason counts in-flight memory");
    like_string("node3 CPU-incompatible (missing avx512f avx512bw)",
                big ? big->reason : "", "reason names the missing features");
    ok(small && small->target == 1,
       "the small one goes to the least loaded node3");
    is_int(LIBXLMIG_ERROR_INVAL,
           libxlmig_drain_plan_make(ctx, t, 2, d, 2, 0, 1, &p),
           "a zero concurrency limit is refused");
    libxlmig_drain_plan_dispose(&p);

    t[0].in_maintenance = true;
    t[1].reachable = false;
    is_int(0, libxlmig_drain_plan_make(ctx, t, 2, d + 1, 1, 1, 1, &p),
           "plan when no node can take anything");
    like_string("node2 in maintenance; node3 unreachable",
                p.steps[0].reason, "every node's reason listed");
    libxlmig_drain_plan_dispose(&p);
}

static void test_memory_counting(void)
{
    libxlmig_drain_target t[1] = {
        { "node2", 4 * GiB, 3 * GiB, 0, false, true },
    };
    libxlmig_drain_domain d[3] = {
        { "a", 1 * GiB, 100, NULL, NULL },
        { "b", 1 * GiB, 100, NULL, NULL },
        { "c", 1536 * MiB, 300, NULL, NULL },
    };
    libxlmig_drain_plan p;

    libxlmig_drain_plan_init(&p);
    libxlmig_drain_plan_make(ctx, t, 1, d, 3, 4, 4, &p);
    is_int(1, p.nr_unplaced, "planned placements use up free memory");
    is_int(1, p.steps[p.nr_steps - 1].domain,
           "the one left over is the last that no longer fits");
    libxlmig_drain_plan_dispose(&p);
}

int main(void)
{
    plan_lazy();
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("context");
    test_eight_domains();
    test_unplaceable();
    test_memory_counting();
    libxlmig_ctx_free(ctx);
    return 0;
}
