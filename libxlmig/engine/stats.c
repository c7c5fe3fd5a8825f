/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration statistics: the state names and the JSON form of
 * libxlmig_stats (each field's unit is in libxlmig.h), used for progress
 * lines, final results and the daemon protocol.
 */
#include "engine/engine.h"

const char *libxlmig_state_to_string(libxlmig_state s)
{
    switch (s) {
    case LIBXLMIG_STATE_SETUP: return "setup";
    case LIBXLMIG_STATE_PRECOPY: return "precopy";
    case LIBXLMIG_STATE_STOP_AND_COPY: return "stop-and-copy";
    case LIBXLMIG_STATE_HANDOFF: return "handoff";
    case LIBXLMIG_STATE_DONE: return "done";
    case LIBXLMIG_STATE_ABORTED: return "aborted";
    }
    return "unknown";
}

#define STATS_U64(X) \
    X(nr_pages) X(total_time_ms) X(setup_time_ms) X(downtime_us) \
    X(precopy_bytes) X(downtime_bytes) X(total_bytes) X(normal_pages) \
    X(zero_pages) X(round_pages) X(remaining_bytes) X(dirty_rate) \
    X(bandwidth) X(expected_downtime_ms) X(throughput) X(by_ref_bytes)
#define STATS_U32(X) X(round) X(throttle_pct) X(throttle_max_pct)

yajl_gen_status libxlmig__stats_gen_json(yajl_gen g, const libxlmig_stats *st)
{
    yajl_gen_status s;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "state",
                                  libxlmig_state_to_string(st->state));
    if (s != yajl_gen_status_ok) goto out;
#define GEN(f) \
    s = libxlmig__yajl_gen_kv_uint(g, #f, st->f); \
    if (s != yajl_gen_status_ok) goto out;
    STATS_U32(GEN)
    STATS_U64(GEN)
#undef GEN
    s = yajl_gen_map_close(g);
 out:
    return s;
}

int libxlmig__stats_parse_json(libxlmig__gc *gc, yajl_val v,
                               libxlmig_stats *st)
{
    const char *state;
    uint64_t u;
    int i, rc;

    memset(st, 0, sizeof(*st));
#define PARSE(f) \
    rc = libxlmig__json_get_u64(gc, v, #f, &u); \
    if (rc) return rc; \
    st->f = u;
    STATS_U32(PARSE)
    STATS_U64(PARSE)
#undef PARSE
    state = libxlmig__json_get_str(v, "state");
    for (i = LIBXLMIG_STATE_SETUP; i <= LIBXLMIG_STATE_ABORTED; i++)
        if (state && !strcmp(state, libxlmig_state_to_string(i)))
            st->state = i;
    return 0;
}

static yajl_gen_status stats_gen(yajl_gen g, const void *st)
{
    return libxlmig__stats_gen_json(g, st);
}

int libxlmig_stats_to_json(libxlmig_ctx *ctx, const libxlmig_stats *st,
                           char **json_r)
{
    return libxlmig__json_encode(ctx, stats_gen, st, false,
                                 "migration stats", json_r);
}
