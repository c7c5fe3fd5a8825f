/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The events of a drain (drain_run.c) as JSON, one line each: how a job
 * of xlmigd hands its drain's events to the node that follows it
 * (jobs.c), and how that node reads them back.
 */
#include "engine/engine.h"

static const char *const event_names[] = {
    [LIBXLMIG_DRAIN_EV_MAINTENANCE] = "maintenance",
    [LIBXLMIG_DRAIN_EV_SETTLING] = "settling",
    [LIBXLMIG_DRAIN_EV_CONTINUING] = "continuing",
    [LIBXLMIG_DRAIN_EV_UNREACHABLE] = "unreachable",
    [LIBXLMIG_DRAIN_EV_PLAN] = "plan",
    [LIBXLMIG_DRAIN_EV_PLAN_STEP] = "plan_step",
    [LIBXLMIG_DRAIN_EV_PLAN_END] = "plan_end",
    [LIBXLMIG_DRAIN_EV_STARTED] = "started",
    [LIBXLMIG_DRAIN_EV_RETRYING] = "retrying",
    [LIBXLMIG_DRAIN_EV_MIGRATED] = "migrated",
    [LIBXLMIG_DRAIN_EV_FAILED] = "failed",
    [LIBXLMIG_DRAIN_EV_UNPLACED] = "unplaced",
    [LIBXLMIG_DRAIN_EV_ERROR] = "error",
    [LIBXLMIG_DRAIN_EV_DONE] = "done",
};

const char *libxlmig_drain_event_kind_to_string(libxlmig_drain_event_kind k)
{
    return (unsigned)k < ARRAY_SIZE(event_names) ? event_names[k] : NULL;
}

/* Members left at zero or "" are left out. */
static yajl_gen_status event_gen(yajl_gen g, const void *arg)
{
    const libxlmig_drain_event *ev = arg;

#define STR(k, v) if ((v)[0]) libxlmig__yajl_gen_kv_str(g, k, v)
#define NUM(k, v) if (v) libxlmig__yajl_gen_kv_uint(g, k, v)
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "type", "drain");
    libxlmig__yajl_gen_kv_str(g, "event",
                              libxlmig_drain_event_kind_to_string(ev->kind));
    STR("node", ev->node);
    STR("domain", ev->domain);
    STR("target", ev->target);
    STR("message", ev->message);
    NUM("memory_kib", ev->memory_kib);
    NUM("start_ms", ev->start_ms);
    NUM("planned_ms", ev->planned_ms);
    NUM("duration_ms", ev->duration_ms);
    NUM("per_source", ev->per_source);
    NUM("per_target", ev->per_target);
    if (ev->bandwidth)
        libxlmig__yajl_gen_kv_double(g, "bandwidth", ev->bandwidth);
    if (ev->count)
        libxlmig__yajl_gen_kv_int(g, "count", ev->count);
    if (ev->kind == LIBXLMIG_DRAIN_EV_DONE) {
        libxlmig__yajl_gen_kv_int(g, "moved", ev->moved);
        libxlmig__yajl_gen_kv_int(g, "left", ev->left);
        libxlmig__yajl_gen_kv_int(g, "result", ev->result);
    }
    if (ev->ambiguous)
        libxlmig__yajl_gen_kv_bool(g, "ambiguous", true);
    if (ev->have_estimate) {
        libxlmig__yajl_gen_str(g, "estimate");
        libxlmig__estimate_gen(g, &ev->estimate);
    }
    if (ev->have_stats) {
        libxlmig__yajl_gen_str(g, "stats");
        libxlmig__stats_gen_json(g, &ev->stats);
    }
#undef STR
#undef NUM
    return yajl_gen_map_close(g);
}

int libxlmig_drain_event_to_json(libxlmig_ctx *ctx,
                                 const libxlmig_drain_event *ev,
                                 char **json_r)
{
    GC_INIT(ctx);
    int rc = 0;

    *json_r = NULL;
    if (!libxlmig_drain_event_kind_to_string(ev->kind)) {
        LOG(ERROR, "drain event of unknown kind %d", (int)ev->kind);
        rc = LIBXLMIG_ERROR_INVAL;
    }
    GC_FREE;
    if (rc) return rc;
    return libxlmig__json_encode(ctx, event_gen, ev, false, "drain event",
                                 json_r);
}

/* An optional string member into buf; false (logged) if not a string. */
static bool get_str_opt(libxlmig__gc *gc, yajl_val v, const char *key,
                        char *buf, size_t len)
{
    const char *path[] = { key, NULL };
    yajl_val s = yajl_tree_get(v, path, yajl_t_any);

    if (!s)
        return true;
    if (!YAJL_IS_STRING(s)) {
        LOG(ERROR, "drain event: \"%s\" is not a string", key);
        return false;
    }
    snprintf(buf, len, "%s", YAJL_GET_STRING(s));
    return true;
}

static int event_parse_numbers(libxlmig__gc *gc, yajl_val v,
                               libxlmig_drain_event *ev)
{
    uint64_t ps = 0, pt = 0, count = 0, moved = 0, left = 0, result = 0;
    const char *path_bw[] = { "bandwidth", NULL };

    if (libxlmig__json_get_u64_opt(gc, v, "memory_kib", &ev->memory_kib) ||
        libxlmig__json_get_u64_opt(gc, v, "start_ms", &ev->start_ms) ||
        libxlmig__json_get_u64_opt(gc, v, "planned_ms", &ev->planned_ms) ||
        libxlmig__json_get_u64_opt(gc, v, "duration_ms", &ev->duration_ms) ||
        libxlmig__json_get_u64_opt(gc, v, "per_source", &ps) ||
        libxlmig__json_get_u64_opt(gc, v, "per_target", &pt) ||
        libxlmig__json_get_u64_opt(gc, v, "count", &count) ||
        libxlmig__json_get_u64_opt(gc, v, "moved", &moved) ||
        libxlmig__json_get_u64_opt(gc, v, "left", &left) ||
        libxlmig__json_get_u64_opt(gc, v, "result", &result) ||
        (yajl_tree_get(v, path_bw, yajl_t_any) &&
         libxlmig__json_get_double(gc, v, "bandwidth", &ev->bandwidth)))
        return LIBXLMIG_ERROR_JSON;
    if (ps > UINT32_MAX || pt > UINT32_MAX || count > INT32_MAX ||
        moved > INT32_MAX || left > INT32_MAX ||
        (result != LIBXLMIG_DRAIN_ALL_MOVED &&
         result != LIBXLMIG_DRAIN_SOME_LEFT &&
         result != LIBXLMIG_DRAIN_NOT_STARTED &&
         result != LIBXLMIG_DRAIN_INTERRUPTED)) {
        LOG(ERROR, "drain event: a count or the result is out of range");
        return LIBXLMIG_ERROR_JSON;
    }
    ev->per_source = (unsigned)ps;
    ev->per_target = (unsigned)pt;
    ev->count = (int)count;
    ev->moved = (int)moved;
    ev->left = (int)left;
    ev->result = (libxlmig_drain_result)result;
    return 0;
}

int libxlmig_drain_event_from_json(libxlmig_ctx *ctx, const char *json,
                                   libxlmig_drain_event *ev)
{
    GC_INIT(ctx);
    const char *path_est[] = { "estimate", NULL };
    const char *path_stats[] = { "stats", NULL };
    const char *type, *name;
    yajl_val v, e;
    unsigned k;
    int rc;

    memset(ev, 0, sizeof(*ev));
    rc = libxlmig__json_parse(gc, json, "drain event", &v);
    if (!rc)
        rc = libxlmig__json_check_version(gc, v, "drain event", 1);
    if (rc) goto out;
    type = libxlmig__json_get_str(v, "type");
    name = libxlmig__json_get_str(v, "event");
    for (k = 0; name && k < ARRAY_SIZE(event_names); k++)
        if (!strcmp(name, event_names[k]))
            break;
    if (!type || strcmp(type, "drain") || !name ||
        k == ARRAY_SIZE(event_names)) {
        LOG(ERROR, "not a drain event: type %s, event %s",
            type ? type : "missing", name ? name : "missing");
        rc = LIBXLMIG_ERROR_JSON;
        goto out;
    }
    ev->kind = (libxlmig_drain_event_kind)k;
    if (!get_str_opt(gc, v, "node", ev->node, sizeof(ev->node)) ||
        !get_str_opt(gc, v, "domain", ev->domain, sizeof(ev->domain)) ||
        !get_str_opt(gc, v, "target", ev->target, sizeof(ev->target)) ||
        !get_str_opt(gc, v, "message", ev->message, sizeof(ev->message)) ||
        libxlmig__json_get_bool_opt(gc, v, "ambiguous", &ev->ambiguous)) {
        rc = LIBXLMIG_ERROR_JSON;
        goto out;
    }
    rc = event_parse_numbers(gc, v, ev);
    if (rc) goto out;
    e = yajl_tree_get(v, path_est, yajl_t_object);
    if (e) {
        rc = libxlmig__estimate_parse(gc, e, &ev->estimate);
        if (rc) goto out;
        ev->have_estimate = true;
    }
    e = yajl_tree_get(v, path_stats, yajl_t_object);
    if (e) {
        rc = libxlmig__stats_parse_json(gc, e, &ev->stats);
        if (rc) goto out;
        ev->have_stats = true;
    }
 out:
    if (rc)
        memset(ev, 0, sizeof(*ev));
    GC_FREE;
    return rc;
}
