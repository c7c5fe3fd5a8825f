/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Stats and parameters survive their JSON form (the daemon protocol and
 * --json output carry them): every field round-trips, state names are
 * stable, bad limit actions are refused.
 */
#include "engine/engine.h"
#include "tap.h"

#define PJ(rest) "{\"downtime_limit_ms\":300,\"max_rounds\":30," \
    "\"max_time_ms\":600000,\"on_limit\":\"force\"," \
    "\"auto_converge\":true,\"throttle_initial_pct\":20," \
    "\"throttle_step_pct\":10,\"throttle_max_pct\":99" rest "}"

/* Parameters as a JSON request gives them: the bandwidth's syntax, the
 * ranges, "given". */
static void test_params_json(libxlmig_ctx *ctx)
{
    static const struct {
        const char *json;
        int rc;
        uint64_t bps;
        unsigned given;
        const char *what;
    } c[] = {
        { PJ(",\"bandwidth_limit\":\"1Gbit\",\"given\":"
             "[\"bandwidth_limit\"]"), 0, 125000000,
          LIBXLMIG_PARAM_BANDWIDTH, "bandwidth as a string with a unit" },
        { PJ(",\"bandwidth_limit\":\"800\",\"given\":[]"), 0,
          100000000, 0, "a bare string number is Mbit/s; nothing given" },
        { PJ(",\"bandwidth_limit\":0"), 0, 0, LIBXLMIG_PARAM_ALL,
          "without \"given\" (an older peer) everything counts as given" },
        { PJ(",\"bandwidth_limit\":\"12q\""), LIBXLMIG_ERROR_INVAL, 0, 0,
          "a bad bandwidth string is refused" },
        { PJ(",\"bandwidth_limit\":5"), LIBXLMIG_ERROR_INVAL, 0, 0,
          "5 bytes/s is refused (below 1 Mbit/s)" },
        { PJ(",\"bandwidth_limit\":0,\"compression\":\"gzip\""),
          LIBXLMIG_ERROR_INVAL, 0, 0, "an unknown compression is refused" },
        { PJ(",\"bandwidth_limit\":0,\"given\":[\"colour\"]"),
          LIBXLMIG_ERROR_INVAL, 0, 0, "an unknown given name is refused" },
    };
    libxlmig_params p;
    yajl_val v;
    size_t i;
    int rc;

    for (i = 0; i < ARRAY_SIZE(c); i++) {
        GC_INIT(ctx);
        libxlmig__json_parse(gc, c[i].json, "params", &v);
        rc = libxlmig__params_parse_json(gc, v, &p);
        ok(rc == c[i].rc && (rc || (p.bandwidth_limit == c[i].bps &&
                                    p.given == c[i].given)),
           "%s (rc %d: %s)", c[i].what, rc, rc ? libxlmig_last_error(ctx)
                                              : "");
        GC_FREE;
    }
    {
        GC_INIT(ctx);
        libxlmig__json_parse(gc, "{\"downtime_limit_ms\":0,\"max_rounds\""
                             ":30,\"max_time_ms\":1,\"on_limit\":\"force\","
                             "\"auto_converge\":true,"
                             "\"throttle_initial_pct\":20,"
                             "\"throttle_step_pct\":10,"
                             "\"throttle_max_pct\":99,"
                             "\"bandwidth_limit\":0}", "params", &v);
        rc = libxlmig__params_parse_json(gc, v, &p);
        ok(rc == LIBXLMIG_ERROR_INVAL &&
           strstr(libxlmig_last_error(ctx), "downtime_limit_ms 0 out of "
                  "range (1 to 3600000 ms)"),
           "downtime_limit_ms 0 is refused with its range (%s)",
           libxlmig_last_error(ctx));
        GC_FREE;
    }
}

static const struct {
    libxlmig_state s;
    const char *name;
} states[] = {
    { LIBXLMIG_STATE_SETUP, "setup" },
    { LIBXLMIG_STATE_PRECOPY, "precopy" },
    { LIBXLMIG_STATE_STOP_AND_COPY, "stop-and-copy" },
    { LIBXLMIG_STATE_HANDOFF, "handoff" },
    { LIBXLMIG_STATE_DONE, "done" },
    { LIBXLMIG_STATE_ABORTED, "aborted" },
};

int main(void)
{
    libxlmig_ctx *ctx;
    libxlmig_stats a, b;
    libxlmig_params p, q;
    libxlmig_limit_action act;
    yajl_gen g;
    yajl_val v;
    char *json = NULL;
    size_t i;

    plan(ARRAY_SIZE(states) + 10 + 8);
    if (libxlmig_ctx_alloc(&ctx, NULL)) bail("no context");
    for (i = 0; i < ARRAY_SIZE(states); i++)
        is_string(states[i].name, libxlmig_state_to_string(states[i].s),
                  "state %d is called %s", (int)states[i].s,
                  states[i].name);

    memset(&a, 0, sizeof(a));
    a.state = LIBXLMIG_STATE_DONE;
    a.round = 7;
    a.nr_pages = 262144;
    a.total_time_ms = 1234;
    a.setup_time_ms = 5;
    a.downtime_us = 12345;
    a.precopy_bytes = 1ULL << 33;
    a.downtime_bytes = 4096 * 300;
    a.total_bytes = (1ULL << 33) + 4096 * 300;
    a.normal_pages = 250000;
    a.zero_pages = 12144;
    a.round_pages = 300;
    a.remaining_bytes = 0;
    a.dirty_rate = 20000;
    a.bandwidth = 3000000000ULL;
    a.expected_downtime_ms = 1;
    a.throughput = 2900000000ULL;
    a.throttle_pct = 0;
    a.throttle_max_pct = 40;
    a.by_ref_bytes = 1ULL << 32;
    is_int(0, libxlmig_stats_to_json(ctx, &a, &json), "stats encode");
    like_string("\"downtime_us\":12345", json, "downtime in microseconds");
    like_string("\"state\":\"done\"", json, "state by name");
    {
        GC_INIT(ctx);
        libxlmig__json_parse(gc, json, "stats", &v);
        is_int(0, libxlmig__stats_parse_json(gc, v, &b), "stats decode");
        ok(!memcmp(&a, &b, sizeof(a)), "every stats field round-trips");

        libxlmig_params_init(&p);
        p.downtime_limit_ms = 7;
        p.on_limit = LIBXLMIG_LIMIT_ABORT;
        p.auto_converge = false;
        p.bandwidth_limit = 100 << 20;
        p.compression = LIBXLMIG_COMPRESSION_LZ4;
        p.given = LIBXLMIG_PARAM_BANDWIDTH | LIBXLMIG_PARAM_COMPRESSION;
        g = libxlmig__json_gen_alloc(gc, false);
        libxlmig__params_gen_json(g, &p);
        free(json);
        libxlmig__json_finish(gc, g, &json);
        libxlmig__json_parse(gc, json, "params", &v);
        is_int(0, libxlmig__params_parse_json(gc, v, &q), "params decode");
        ok(!memcmp(&p, &q, sizeof(p)), "every parameter round-trips, "
           "with which the caller gave");
        like_string("\"given\":[\"bandwidth_limit\",\"compression\"]",
                    json, "given lists them by name");
        GC_FREE;
    }
    test_params_json(ctx);
    is_int(LIBXLMIG_ERROR_INVAL,
           libxlmig_limit_action_from_string("retry", &act),
           "an unknown limit action is refused");
    is_int(0, libxlmig_limit_action_from_string("abort", &act) ||
              act != LIBXLMIG_LIMIT_ABORT, "abort parses");
    free(json);
    libxlmig_ctx_free(ctx);
    return 0;
}
