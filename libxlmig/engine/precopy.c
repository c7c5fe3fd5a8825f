/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The pre-copy policy, shared by every backend: a pure function from the
 * parameters and what the last dirty-log scan showed to what to do next.
 * Stop and copy when the remaining dirty bytes fit the downtime limit at
 * the measured bandwidth; throttle the guest (auto-converge) when rounds
 * stop shrinking; at the round or time limit, force or abort.
 */
#include "engine/engine.h"

/* A round "shrank" if it left less than this share of the previous. */
#define PRECOPY_SHRINK_PCT 90
/* Rounds without shrinking before the throttle starts or steps up. */
#define PRECOPY_STALL_ROUNDS 2

libxlmig__precopy_decision
libxlmig__precopy_decide(const libxlmig_params *p,
                         const libxlmig__precopy_input *in)
{
    libxlmig__precopy_decision d;
    double bw = in->bandwidth_bps > 0 ? in->bandwidth_bps : 1;
    double ms = in->dirty_bytes * 1000.0 / bw;
    uint32_t next;

    memset(&d, 0, sizeof(d));
    d.throttle_pct = in->throttle_pct;
    d.expected_downtime_ms = (uint64_t)ms + ((double)(uint64_t)ms < ms);
    d.stalled_rounds = in->stalled_rounds;

    if (ms <= (double)p->downtime_limit_ms && in->bandwidth_bps > 0) {
        d.action = LIBXLMIG__PRECOPY_STOP_AND_COPY;
        d.reason = "remaining dirty memory fits the downtime limit";
        return d;
    }
    if ((p->max_rounds && in->round >= p->max_rounds) ||
        (p->max_time_ms && in->elapsed_ms >= p->max_time_ms)) {
        if (p->on_limit == LIBXLMIG_LIMIT_ABORT) {
            d.action = LIBXLMIG__PRECOPY_ABORT;
            d.reason = "pre-copy did not converge within the round or "
                       "time limit";
        } else {
            d.action = LIBXLMIG__PRECOPY_STOP_AND_COPY;
            d.reason = "round or time limit reached: forcing stop and copy";
        }
        return d;
    }
    d.action = LIBXLMIG__PRECOPY_CONTINUE;
    d.reason = "pre-copy continues";
    if (in->prev_dirty_bytes &&
        in->dirty_bytes * 100 >= in->prev_dirty_bytes * PRECOPY_SHRINK_PCT)
        d.stalled_rounds++;
    else
        d.stalled_rounds = 0;
    if (p->auto_converge && d.stalled_rounds >= PRECOPY_STALL_ROUNDS) {
        next = in->throttle_pct ? in->throttle_pct + p->throttle_step_pct
                                : p->throttle_initial_pct;
        if (next > p->throttle_max_pct) next = p->throttle_max_pct;
        if (next != in->throttle_pct) {
            d.throttle_pct = next;
            d.reason = "rounds stopped shrinking: throttling the guest";
        }
        d.stalled_rounds = 0;
    }
    return d;
}
