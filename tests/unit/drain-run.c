/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The drain executor's entry points (drain_run.c, drain_event.c): every
 * event kind through its JSON form and back, malformed event JSON
 * refused, bad arguments, and the drains that cannot start: no backend to
 * list the domains (dry run and real one), a second drain held off by the
 * lock, an interrupted drain's progress file taken up, a drain run twice.
 * The node service is not needed: the cluster's other node is
 * unreachable.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "libxlmig.h"
#include "tap.h"

static libxlmig_ctx *ctx;
static char tmpdir[] = "/tmp/xlmig-drain-run-XXXXXX";

/* ---- events ----------------------------------------------------------- */

static const struct {
    const char *name;
    libxlmig_drain_event ev;
} events[] = {
    { "maintenance", { .kind = LIBXLMIG_DRAIN_EV_MAINTENANCE,
                       .node = "node1" } },
    { "settling", { .kind = LIBXLMIG_DRAIN_EV_SETTLING, .node = "node1",
                    .domain = "web" } },
    { "continuing", { .kind = LIBXLMIG_DRAIN_EV_CONTINUING,
                      .node = "node1", .count = 3 } },
    { "unreachable", { .kind = LIBXLMIG_DRAIN_EV_UNREACHABLE,
                       .node = "node1", .target = "node3",
                       .message = "node3: Connection refused" } },
    { "plan", { .kind = LIBXLMIG_DRAIN_EV_PLAN, .node = "node1",
                .count = 8, .per_source = 2, .per_target = 1,
                .bandwidth = 123456789.5, .planned_ms = 4200 } },
    { "plan_step", { .kind = LIBXLMIG_DRAIN_EV_PLAN_STEP, .node = "node1",
                     .domain = "db", .target = "node2",
                     .memory_kib = 1048576, .start_ms = 1500,
                     .have_estimate = true,
                     .estimate = { .dirty_rate = 2500, .bandwidth = 1e8,
                                   .total_ms = 900, .downtime_ms = 40,
                                   .rounds = 3, .bytes = 1 << 30,
                                   .working_set_pages = 4096,
                                   .converges = true } } },
    { "plan_step without target",
      { .kind = LIBXLMIG_DRAIN_EV_PLAN_STEP, .node = "node1",
        .domain = "huge", .memory_kib = 716800,
        .message = "node2 has 640 MiB free, needs 700 MiB" } },
    { "plan_end", { .kind = LIBXLMIG_DRAIN_EV_PLAN_END, .node = "node1",
                    .planned_ms = 4200 } },
    { "started", { .kind = LIBXLMIG_DRAIN_EV_STARTED, .node = "node1",
                   .domain = "db", .target = "node2" } },
    { "retrying", { .kind = LIBXLMIG_DRAIN_EV_RETRYING, .node = "node1",
                    .domain = "db", .target = "node2",
                    .message = "the stream broke" } },
    { "migrated", { .kind = LIBXLMIG_DRAIN_EV_MIGRATED, .node = "node1",
                    .domain = "db", .target = "node2",
                    .have_estimate = true,
                    .estimate = { .total_ms = 900, .converges = true },
                    .have_stats = true,
                    .stats = { .state = LIBXLMIG_STATE_DONE, .round = 4,
                               .total_time_ms = 870, .downtime_us = 31000,
                               .total_bytes = 1200000000 } } },
    { "failed, ambiguous", { .kind = LIBXLMIG_DRAIN_EV_FAILED,
                             .node = "node1", .domain = "db",
                             .target = "node2", .ambiguous = true,
                             .message = "handoff outcome unknown" } },
    { "unplaced", { .kind = LIBXLMIG_DRAIN_EV_UNPLACED, .node = "node1",
                    .domain = "huge", .message = "no target: \"quoted\"" } },
    { "error", { .kind = LIBXLMIG_DRAIN_EV_ERROR, .node = "node1",
                 .message = "cannot write /x: Permission denied" } },
    { "done, interrupted", { .kind = LIBXLMIG_DRAIN_EV_DONE,
                             .node = "node1", .message = "interrupted",
                             .result = LIBXLMIG_DRAIN_INTERRUPTED,
                             .moved = 2, .left = 1,
                             .duration_ms = 61000 } },
    { "done, all moved", { .kind = LIBXLMIG_DRAIN_EV_DONE, .node = "node1",
                           .message = "all moved", .moved = 0,
                           .left = 0 } },
};

static bool same_event(const libxlmig_drain_event *a,
                       const libxlmig_drain_event *b)
{
    return a->kind == b->kind && !strcmp(a->node, b->node) &&
           !strcmp(a->domain, b->domain) && !strcmp(a->target, b->target) &&
           !strcmp(a->message, b->message) &&
           a->memory_kib == b->memory_kib && a->start_ms == b->start_ms &&
           a->planned_ms == b->planned_ms &&
           a->duration_ms == b->duration_ms &&
           a->per_source == b->per_source &&
           a->per_target == b->per_target &&
           a->bandwidth == b->bandwidth && a->count == b->count &&
           a->moved == b->moved && a->left == b->left &&
           a->ambiguous == b->ambiguous && a->result == b->result &&
           a->have_estimate == b->have_estimate &&
           (!a->have_estimate ||
            (a->estimate.total_ms == b->estimate.total_ms &&
             a->estimate.downtime_ms == b->estimate.downtime_ms &&
             a->estimate.rounds == b->estimate.rounds &&
             a->estimate.bytes == b->estimate.bytes &&
             a->estimate.converges == b->estimate.converges)) &&
           a->have_stats == b->have_stats &&
           (!a->have_stats ||
            (a->stats.state == b->stats.state &&
             a->stats.round == b->stats.round &&
             a->stats.total_time_ms == b->stats.total_time_ms &&
             a->stats.downtime_us == b->stats.downtime_us &&
             a->stats.total_bytes == b->stats.total_bytes));
}

static void test_events(void)
{
    libxlmig_drain_event back, bad;
    char *json = NULL;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(events); i++) {
        const libxlmig_drain_event *ev = &events[i].ev;
        int rc = libxlmig_drain_event_to_json(ctx, ev, &json);

        is_int(0, rc, "%s: to JSON", events[i].name);
        ok(json && !strchr(json, '\n'), "%s: one line", events[i].name);
        is_int(0, json ? libxlmig_drain_event_from_json(ctx, json, &back)
                       : -1, "%s: and back", events[i].name);
        ok(json && same_event(ev, &back), "%s: the same event",
           events[i].name);
        free(json);
        json = NULL;
    }
    is_string("migrated",
              libxlmig_drain_event_kind_to_string(LIBXLMIG_DRAIN_EV_MIGRATED),
              "kind names: migrated");
    ok(!libxlmig_drain_event_kind_to_string(
           (libxlmig_drain_event_kind)99), "an unknown kind has no name");
    memset(&bad, 0, sizeof(bad));
    bad.kind = (libxlmig_drain_event_kind)99;
    is_int(LIBXLMIG_ERROR_INVAL, libxlmig_drain_event_to_json(ctx, &bad,
                                                              &json),
           "an event of an unknown kind is refused");
    ok(!json, "and gives no JSON");
}

static const struct {
    const char *name;
    const char *json;
    const char *message;
} bad_events[] = {
    { "not JSON", "{\"version\":1,", "drain event" },
    { "no version", "{\"type\":\"drain\",\"event\":\"done\"}", "version" },
    { "a later version",
      "{\"version\":2,\"type\":\"drain\",\"event\":\"done\"}", "version 2" },
    { "another type",
      "{\"version\":1,\"type\":\"progress\",\"event\":\"done\"}",
      "not a drain event" },
    { "an unknown event",
      "{\"version\":1,\"type\":\"drain\",\"event\":\"exploded\"}",
      "event exploded" },
    { "a number for a name",
      "{\"version\":1,\"type\":\"drain\",\"event\":\"started\","
      "\"domain\":7}", "\"domain\" is not a string" },
    { "a negative size",
      "{\"version\":1,\"type\":\"drain\",\"event\":\"plan_step\","
      "\"memory_kib\":-1}", "memory_kib" },
    { "a result out of range",
      "{\"version\":1,\"type\":\"drain\",\"event\":\"done\","
      "\"result\":2}", "out of range" },
    { "a broken estimate",
      "{\"version\":1,\"type\":\"drain\",\"event\":\"migrated\","
      "\"estimate\":{\"version\":1}}", "total_ms" },
};

static void test_bad_events(void)
{
    libxlmig_drain_event ev;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bad_events); i++) {
        ok(libxlmig_drain_event_from_json(ctx, bad_events[i].json, &ev) != 0,
           "%s: refused", bad_events[i].name);
        like_string(bad_events[i].message, libxlmig_last_error(ctx),
                    "%s: the error says what", bad_events[i].name);
    }
}

/* ---- drains that cannot start ---------------------------------------- */

static libxlmig_drain_event seen[32];
static int nr_seen;

static void on_event(void *user, const libxlmig_drain_event *ev)
{
    if (nr_seen < (int)ARRAY_SIZE(seen))
        seen[nr_seen++] = *ev;
}

/* Run a drain of node a; its rc, result and report in the out params. */
static int run_drain(libxlmig_cluster *cl, bool dry,
                     libxlmig_drain_result *res, char **report)
{
    libxlmig_drain_opts o;
    libxlmig_drain *d = NULL;
    int rc;

    nr_seen = 0;
    libxlmig_drain_opts_init(&o);
    o.dry_run = dry;
    o.event_cb = on_event;
    rc = libxlmig_drain_alloc(ctx, cl, &o, &d);
    if (!rc)
        rc = libxlmig_drain_run(d, res, report);
    libxlmig_drain_free(d);
    return rc;
}

static bool saw(libxlmig_drain_event_kind k, int *count_r)
{
    int i;

    for (i = 0; i < nr_seen; i++)
        if (seen[i].kind == k) {
            if (count_r)
                *count_r = seen[i].count;
            return true;
        }
    return false;
}

/* An interrupted drain moved d1; d2 failed and stays. */
static const char progress[] =
    "{\"version\":1,\"domains\":["
    "{\"name\":\"d1\",\"memory_kib\":1024,\"target\":\"b\","
    "\"outcome\":\"migrated\"},"
    "{\"name\":\"d2\",\"target\":null,\"outcome\":\"failed\"}]}";

static void test_not_started(libxlmig_cluster *cl)
{
    libxlmig_drain_result res = LIBXLMIG_DRAIN_ALL_MOVED;
    char path[256], *report = (char *)"x";
    libxlmig_drain_opts o;
    libxlmig_drain *d = NULL;
    int fd, count = 0, rc;

    libxlmig_drain_opts_init(&o);
    is_int(LIBXLMIG_ERROR_INVAL, libxlmig_drain_alloc(ctx, NULL, &o, &d),
           "a drain without a cluster is refused");
    ok(!d, "and no drain is made");

    rc = run_drain(cl, true, &res, &report);
    is_int(LIBXLMIG_ERROR_BACKEND, rc, "dry run without xlmigd: cannot "
           "list the domains");
    is_int(LIBXLMIG_DRAIN_NOT_STARTED, res, "dry run: not started");
    ok(!report, "dry run: no report");
    like_string("cannot list the domains here", libxlmig_last_error(ctx),
                "dry run: the error says so");
    ok(saw(LIBXLMIG_DRAIN_EV_UNREACHABLE, NULL),
       "dry run: the unreachable node is said");
    ok(!saw(LIBXLMIG_DRAIN_EV_MAINTENANCE, NULL),
       "dry run: no maintenance");
    snprintf(path, sizeof(path), "%s/maintenance", tmpdir);
    ok(access(path, F_OK) != 0, "dry run: no maintenance flag");

    /* An interrupted drain's progress: a real run takes it up. */
    snprintf(path, sizeof(path), "%s/drain-progress.json", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, progress, strlen(progress)) < 0)
        sysbail("write %s", path);
    close(fd);
    rc = run_drain(cl, false, &res, &report);
    is_int(LIBXLMIG_ERROR_BACKEND, rc, "real drain without xlmigd: not "
           "started");
    ok(saw(LIBXLMIG_DRAIN_EV_MAINTENANCE, NULL),
       "real drain: maintenance entered first");
    snprintf(path, sizeof(path), "%s/maintenance", tmpdir);
    ok(access(path, F_OK) == 0, "real drain: the maintenance flag is set");
    ok(saw(LIBXLMIG_DRAIN_EV_CONTINUING, &count) && count == 1,
       "real drain: one domain moved by the interrupted run");

    /* The lock held elsewhere. */
    snprintf(path, sizeof(path), "%s/drain.lock", tmpdir);
    fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB))
        sysbail("lock %s", path);
    rc = run_drain(cl, false, &res, &report);
    is_int(LIBXLMIG_ERROR_BUSY, rc, "a second drain: busy");
    like_string("another drain of a is running", libxlmig_last_error(ctx),
                "a second drain: the lock is named");
    is_int(0, nr_seen, "a second drain: no event");
    close(fd);

    libxlmig_drain_opts_init(&o);
    o.dry_run = true;
    rc = libxlmig_drain_alloc(ctx, cl, &o, &d);
    if (!rc) {
        libxlmig_drain_cancel(d);
        libxlmig_drain_run(d, &res, NULL);
        is_int(LIBXLMIG_ERROR_INVAL, libxlmig_drain_run(d, &res, NULL),
               "a drain runs once");
    } else {
        ok(0, "a drain runs once");
    }
    libxlmig_drain_free(d);
    libxlmig_drain_free(NULL);
    ok(1, "freeing no drain is harmless");
}

int main(void)
{
    libxlmig_cluster *cl = NULL;
    char sock[300];

    plan(4 * ARRAY_SIZE(events) + 4 + 2 * ARRAY_SIZE(bad_events) + 18);
    if (!mkdtemp(tmpdir))
        sysbail("mkdtemp");
    snprintf(sock, sizeof(sock), "%s/no-xlmigd.sock", tmpdir);
    setenv("XLMIG_STATE_DIR", tmpdir, 1);
    setenv("XLMIGD_SOCKET", sock, 1);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("no context");
    test_events();
    test_bad_events();
    if (libxlmig_cluster_open(ctx, test_data_path("config/minimal.cfg"), "a",
                              &cl))
        bail("cannot open the test cluster: %s", libxlmig_last_error(ctx));
    libxlmig_backend_open(ctx, LIBXLMIG_BACKEND_SIM);
    test_not_started(cl);
    libxlmig_cluster_free(cl);
    libxlmig_ctx_free(ctx);
    if (system(NULL)) {
        char cmd[400];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd))
            diag("cannot remove %s", tmpdir);
    }
    return 0;
}
