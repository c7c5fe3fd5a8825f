/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The sim domain's kernel dirty tracking and self-verification: an idle
 * guest dirties nothing; a running one dirties about its rate; a rescan
 * right after a paused scan finds nothing; the vCPU page records the
 * workload's registers; verify catches a single changed byte and names
 * the page; the kernel probe passes here.
 */
#include <unistd.h>

#include "engine/engine.h"
#include "backend/sim/sim.h"
#include "tap.h"

static libxlmig__sim_dom *make(libxlmig__gc *gc, const char *name,
                               uint64_t rate)
{
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.name, sizeof(cfg.name), "%s", name);
    cfg.memory_mib = 16;
    cfg.dirty_rate = rate;
    cfg.working_set_mib = 8;
    cfg.zero_fraction = 0.2;
    libxlmig__sim_config_complete(&cfg, 1);
    if (libxlmig__sim_dom_create(gc, &cfg, true, &d))
        skip_all("cannot create a sim domain: %s",
                 libxlmig_last_error(gc->owner));
    return d;
}

int main(void)
{
    libxlmig_ctx *ctx;
    libxlmig__sim_dom *idle, *busy;
    uint64_t n, bad, first, pfn, writes;
    unsigned long *bm;

    plan(11);
    if (libxlmig_ctx_alloc(&ctx, NULL)) bail("no context");
    {
        GC_INIT(ctx);
        is_int(0, libxlmig__sim_probe(gc),
               "the kernel has async write-protect and PAGEMAP_SCAN");
        idle = make(gc, "idle", 0);
        busy = make(gc, "busy", 2000);
        bm = calloc(bitmap_longs(busy->nr_pages), sizeof(*bm));

        usleep(200000);
        libxlmig__sim_dom_clean_dirty(gc, idle, NULL, &n);
        is_int(0, n, "an idle guest dirties no page");

        libxlmig__sim_dom_clean_dirty(gc, busy, NULL, NULL);
        usleep(500000);
        libxlmig__sim_dom_pause(gc, busy);
        libxlmig__sim_dom_clean_dirty(gc, busy, bm, &n);
        writes = busy->vcpu->nr_writes;
        ok(n >= 200 && n <= 1200,
           "2000 pages/s for 0.5 s dirties about 1000 pages (%llu)",
           (unsigned long long)n);
        for (pfn = 0; pfn < busy->vcpu->gen_pages; pfn++)
            if (bitmap_test(bm, pfn)) break;
        ok(pfn < busy->vcpu->gen_pages,
           "the generation table is dirtied too");
        libxlmig__sim_dom_clean_dirty(gc, busy, NULL, &n);
        is_int(0, n, "a paused guest dirties nothing after a scan");
        ok(writes > 0, "the vCPU page counts the workload's writes (%llu)",
           (unsigned long long)writes);

        libxlmig__sim_dom_verify(gc, busy, &bad, &first);
        is_int(0, bad, "the running guest's memory verifies");
        pfn = busy->nr_pages - 3;
        busy->mem[pfn * LIBXLMIG__PAGE_SIZE + 77] ^= 1;
        libxlmig__sim_dom_verify(gc, busy, &bad, &first);
        is_int(1, bad, "one flipped bit is one bad page");
        is_int(pfn, first, "and verify names it");
        busy->mem[pfn * LIBXLMIG__PAGE_SIZE + 77] ^= 1;
        libxlmig__sim_dom_unpause(gc, busy);
        usleep(100000);
        libxlmig__sim_dom_verify(gc, busy, &bad, &first);
        is_int(0, bad, "restored, it verifies again while running");
        ok(libxlmig__sim_dom_alive(busy) && !busy->paused,
           "verify leaves a running guest running");
        free(bm);
        libxlmig__sim_dom_destroy(idle);
        libxlmig__sim_dom_destroy(busy);
        GC_FREE;
    }
    libxlmig_ctx_free(ctx);
    return 0;
}
