/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The pre-copy policy, a pure function: switchover when the remaining
 * dirty bytes fit the downtime limit at the measured bandwidth, throttle
 * steps when rounds stop shrinking, the round and time limits with both
 * actions, and the named defaults.
 */
#include "engine/engine.h"
#include "tap.h"

#define MIB (1ULL << 20)
#define GBPS 1e9

enum { DEF, ABORT, NOAC, THR_AT_MAX, LIMIT_TIME };

static const struct {
    const char *name;
    int params;
    uint32_t round;
    uint64_t dirty, prev;
    double bw;
    uint64_t elapsed_ms;
    uint32_t throttle, stalled;
    libxlmig__precopy_action want;
    uint32_t want_throttle;
    uint64_t want_downtime_ms;
} cases[] = {
    { "fits 100 ms at 1 GB/s", DEF, 1, 50 * MIB, 400 * MIB, GBPS, 500,
      0, 0, LIBXLMIG__PRECOPY_STOP_AND_COPY, 0, 53 },
    { "exactly the limit", DEF, 1, 100000000, 400 * MIB, GBPS, 500, 0, 0,
      LIBXLMIG__PRECOPY_STOP_AND_COPY, 0, 100 },
    { "just over the limit", DEF, 1, 100001000, 400 * MIB, GBPS, 500, 0, 0,
      LIBXLMIG__PRECOPY_CONTINUE, 0, 101 },
    { "shrinking: no throttle", DEF, 2, 300 * MIB, 400 * MIB, GBPS, 900, 0,
      1, LIBXLMIG__PRECOPY_CONTINUE, 0, 315 },
    { "first stalled round: wait", DEF, 2, 390 * MIB, 400 * MIB, GBPS, 900,
      0, 0, LIBXLMIG__PRECOPY_CONTINUE, 0, 409 },
    { "second stalled round: throttle 20%", DEF, 3, 400 * MIB, 400 * MIB,
      GBPS, 900, 0, 1, LIBXLMIG__PRECOPY_CONTINUE, 20, 420 },
    { "stalled again: step to 30%", DEF, 5, 400 * MIB, 400 * MIB, GBPS,
      900, 20, 1, LIBXLMIG__PRECOPY_CONTINUE, 30, 420 },
    { "capped at 99%", THR_AT_MAX, 9, 400 * MIB, 400 * MIB, GBPS, 900, 95,
      1, LIBXLMIG__PRECOPY_CONTINUE, 99, 420 },
    { "no auto-converge: never throttle", NOAC, 3, 400 * MIB, 400 * MIB,
      GBPS, 900, 0, 5, LIBXLMIG__PRECOPY_CONTINUE, 0, 420 },
    { "round limit forces", DEF, 30, 400 * MIB, 400 * MIB, GBPS, 900, 50,
      0, LIBXLMIG__PRECOPY_STOP_AND_COPY, 50, 420 },
    { "round limit aborts", ABORT, 30, 400 * MIB, 400 * MIB, GBPS, 900, 50,
      0, LIBXLMIG__PRECOPY_ABORT, 50, 420 },
    { "time limit aborts", LIMIT_TIME, 3, 400 * MIB, 400 * MIB, GBPS, 2000,
      0, 0, LIBXLMIG__PRECOPY_ABORT, 0, 420 },
    { "no bandwidth yet: continue", DEF, 1, 4096, 0, 0, 1, 0, 0,
      LIBXLMIG__PRECOPY_CONTINUE, 0, 4096000 },
    { "nothing dirty: switch", DEF, 1, 0, 400 * MIB, GBPS, 1, 0, 0,
      LIBXLMIG__PRECOPY_STOP_AND_COPY, 0, 0 },
};

int main(void)
{
    libxlmig_params p;
    libxlmig__precopy_input in;
    libxlmig__precopy_decision d;
    size_t i;

    plan(3 * ARRAY_SIZE(cases) + 5);
    libxlmig_params_init(&p);
    is_int(100, p.downtime_limit_ms, "default downtime limit 100 ms");
    is_int(20, p.throttle_initial_pct, "throttle starts at 20%%");
    is_int(99, p.throttle_max_pct, "throttle stops at 99%%");
    is_int(LIBXLMIG_LIMIT_FORCE, p.on_limit, "default limit action force");
    ok(p.auto_converge, "auto-converge on by default");

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        libxlmig_params_init(&p);
        if (cases[i].params == ABORT || cases[i].params == LIMIT_TIME)
            p.on_limit = LIBXLMIG_LIMIT_ABORT;
        if (cases[i].params == LIMIT_TIME) p.max_time_ms = 1500;
        if (cases[i].params == NOAC) p.auto_converge = false;
        memset(&in, 0, sizeof(in));
        in.round = cases[i].round;
        in.dirty_bytes = cases[i].dirty;
        in.prev_dirty_bytes = cases[i].prev;
        in.bandwidth_bps = cases[i].bw;
        in.elapsed_ms = cases[i].elapsed_ms;
        in.throttle_pct = cases[i].throttle;
        in.stalled_rounds = cases[i].stalled;
        d = libxlmig__precopy_decide(&p, &in);
        is_int(cases[i].want, d.action, "%s: action", cases[i].name);
        is_int(cases[i].want_throttle, d.throttle_pct, "%s: throttle",
               cases[i].name);
        is_int(cases[i].want_downtime_ms, d.expected_downtime_ms,
               "%s: expected downtime", cases[i].name);
    }
    return 0;
}
