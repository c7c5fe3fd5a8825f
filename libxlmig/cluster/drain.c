/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The drain planner.  Placement is greedy in decreasing estimated time
 * (longest-processing-time-first list scheduling, within 4/3 of the best
 * makespan on identical slots), with each domain's start set by the first
 * moment both a source slot and a slot on its target are free.
 */
#include <stdlib.h>

#include "core/core.h"

void libxlmig_drain_plan_init(libxlmig_drain_plan *p)
{
    memset(p, 0, sizeof(*p));
}

void libxlmig_drain_plan_dispose(libxlmig_drain_plan *p)
{
    free(p->steps);
    libxlmig_drain_plan_init(p);
}

static int by_estimate_desc(const void *a, const void *b, void *arg)
{
    const libxlmig_drain_domain *d = arg;
    const libxlmig_drain_domain *da = &d[*(const int *)a];
    const libxlmig_drain_domain *db = &d[*(const int *)b];

    if (da->estimate_ms != db->estimate_ms)
        return da->estimate_ms < db->estimate_ms ? 1 : -1;
    if (da->memory_kib != db->memory_kib)
        return da->memory_kib < db->memory_kib ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

/* Index of the earliest-free slot in slots[0..n). */
static unsigned earliest(const uint64_t *slots, unsigned n)
{
    unsigned i, best = 0;

    for (i = 1; i < n; i++)
        if (slots[i] < slots[best])
            best = i;
    return best;
}

static void add_reason(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_reason(char *buf, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;

    if (n && n < LIBXLMIG_REASON_MAX - 2) {
        buf[n++] = ';';
        buf[n++] = ' ';
        buf[n] = '\0';
    }
    va_start(ap, fmt);
    vsnprintf(buf + n, LIBXLMIG_REASON_MAX - n, fmt, ap);
    va_end(ap);
}

int libxlmig_drain_plan_make(libxlmig_ctx *ctx,
                             const libxlmig_drain_target *t, int nr_targets,
                             const libxlmig_drain_domain *d, int nr_domains,
                             unsigned per_source, unsigned per_target,
                             libxlmig_drain_plan *plan)
{
    GC_INIT(ctx);
    uint64_t *src_slots, *tgt_slots, *promised, start, used, room;
    libxlmig_drain_step *steps = NULL, *placed, *unplaced;
    int *order, i, j, best, nplaced = 0, nunplaced = 0;
    double load, best_load = 0;
    unsigned s, ts;
    int rc;

    if (nr_domains < 0 || nr_targets < 0 || !per_source || !per_target) {
        LOG(ERROR, "drain plan: concurrency limits must be at least 1");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    GCNEW_ARRAY(order, nr_domains + 1);
    GCNEW_ARRAY(src_slots, per_source);
    GCNEW_ARRAY(tgt_slots, (size_t)(nr_targets + 1) * per_target);
    GCNEW_ARRAY(promised, nr_targets + 1);
    GCNEW_ARRAY(placed, nr_domains + 1);
    GCNEW_ARRAY(unplaced, nr_domains + 1);
    for (i = 0; i < nr_domains; i++)
        order[i] = i;
    qsort_r(order, (size_t)nr_domains, sizeof(*order), by_estimate_desc,
            (void *)d);

    for (i = 0; i < nr_domains; i++) {
        const libxlmig_drain_domain *dom = &d[order[i]];
        libxlmig_drain_step st = { .domain = order[i], .target = -1 };

        best = -1;
        for (j = 0; j < nr_targets; j++) {
            const libxlmig_drain_target *tg = &t[j];

            if (!tg->reachable) {
                add_reason(st.reason, "%s unreachable", tg->name);
                continue;
            }
            if (tg->in_maintenance) {
                add_reason(st.reason, "%s in maintenance", tg->name);
                continue;
            }
            if (dom->compat && !dom->compat[j]) {
                add_reason(st.reason, "%s CPU-incompatible (%s)", tg->name,
                           dom->compat_reason && dom->compat_reason[j]
                           ? dom->compat_reason[j] : "CPU policy");
                continue;
            }
            used = tg->inflight_kib + promised[j];
            room = tg->free_memory_kib > used ? tg->free_memory_kib - used
                                              : 0;
            if (room < dom->memory_kib) {
                add_reason(st.reason, "%s has %llu MiB free, needs %llu MiB",
                           tg->name, (unsigned long long)(room / 1024),
                           (unsigned long long)(dom->memory_kib / 1024));
                continue;
            }
            load = tg->total_memory_kib
                   ? (double)(tg->total_memory_kib - room + dom->memory_kib) /
                     (double)tg->total_memory_kib
                   : 1.0;
            if (best < 0 || load < best_load) {
                best = j;
                best_load = load;
            }
        }
        if (best < 0) {
            if (!nr_targets)
                add_reason(st.reason, "no other node in the cluster");
            unplaced[nunplaced++] = st;
            continue;
        }
        promised[best] += dom->memory_kib;
        s = earliest(src_slots, per_source);
        ts = earliest(tgt_slots + (size_t)best * per_target, per_target);
        start = src_slots[s];
        if (tgt_slots[(size_t)best * per_target + ts] > start)
            start = tgt_slots[(size_t)best * per_target + ts];
        st.target = best;
        st.reason[0] = '\0';
        st.start_ms = start;
        st.end_ms = start + dom->estimate_ms;
        src_slots[s] = st.end_ms;
        tgt_slots[(size_t)best * per_target + ts] = st.end_ms;
        placed[nplaced++] = st;
    }

    steps = calloc((size_t)nr_domains + 1, sizeof(*steps));
    if (!steps)
        libxlmig__alloc_failed(CTX, __func__, nr_domains, sizeof(*steps));
    /* Placed steps are already in start order per slot; sort globally. */
    for (i = 1; i < nplaced; i++) {
        libxlmig_drain_step key = placed[i];

        for (j = i - 1; j >= 0 && placed[j].start_ms > key.start_ms; j--)
            placed[j + 1] = placed[j];
        placed[j + 1] = key;
    }
    memcpy(steps, placed, sizeof(*steps) * (size_t)nplaced);
    memcpy(steps + nplaced, unplaced, sizeof(*steps) * (size_t)nunplaced);
    libxlmig_drain_plan_dispose(plan);
    plan->steps = steps;
    plan->nr_steps = nr_domains;
    plan->nr_unplaced = nunplaced;
    for (i = 0; i < nplaced; i++)
        if (placed[i].end_ms > plan->makespan_ms)
            plan->makespan_ms = placed[i].end_ms;
    rc = 0;
 out:
    GC_FREE;
    return rc;
}
