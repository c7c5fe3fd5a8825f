/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The public migration calls (libxlmig_migrate_cluster, _cancel,
 * _recover) and libxlmig_drain_done: requests to the xlmigd of this node
 * over its control socket (host/ctl.h), which runs the migration
 * (daemon/server.c); and reading the report that comes back.  In the
 * cluster layer, below the daemon: the drain (drain_run.c) and remote
 * jobs (jobs.c) migrate through them.
 */
#include "core/tunables.h"
#include "host/ctl.h"
#include "engine/engine.h"

const char *libxlmig_sim_socket_path(void)
{
    return libxlmig__tunable_control_socket();
}

/* The report in data as malloc'd JSON text (caller frees), or NULL. */
static void report_text(libxlmig__gc *gc, yajl_val data, char **report_r)
{
    yajl_gen g;

    if (!report_r)
        return;
    *report_r = NULL;
    if (!data)
        return;
    g = libxlmig__json_gen_alloc(gc, false);
    if (libxlmig__yajl_gen_val(g, data) == yajl_gen_status_ok)
        libxlmig__json_finish(gc, g, report_r);
}

int libxlmig_migrate_cluster(libxlmig_ctx *ctx, const char *domain,
                             const char *target, const libxlmig_params *p,
                             bool dry_run, libxlmig_progress_cb cb,
                             void *user, char **report_r)
{
    return libxlmig_migrate_cluster_predicted(ctx, domain, target, p, NULL,
                                              dry_run, cb, user, report_r);
}

int libxlmig_migrate_cluster_predicted(libxlmig_ctx *ctx, const char *domain,
                                       const char *target,
                                       const libxlmig_params *p,
                                       const libxlmig_estimate *prediction,
                                       bool dry_run, libxlmig_progress_cb cb,
                                       void *user, char **report_r)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    libxlmig_params def;
    yajl_val data = NULL;
    int rc;

    if (!p) {
        libxlmig_params_init(&def);
        p = &def;
    }
    s = libxlmig__ctl_request_open(g, "migrate");
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "domain", domain);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "target", target);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_bool(g, "dry_run", dry_run);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_str(g, "params");
    if (s == yajl_gen_status_ok)
        s = libxlmig__params_gen_json(g, p);
    if (s == yajl_gen_status_ok && prediction) {
        s = libxlmig__yajl_gen_str(g, "prediction");
        if (s == yajl_gen_status_ok)
            s = libxlmig__estimate_gen(g, prediction);
    }
    if (s == yajl_gen_status_ok)
        s = yajl_gen_map_close(g);
    rc = libxlmig__ctl_send(gc, ctx->backend_kind, g, s, "migrate", -1, cb,
                            user, &data);
    report_text(gc, data, report_r);
    GC_FREE;
    return rc;
}

int libxlmig_migrate_cancel(libxlmig_ctx *ctx, const char *domain)
{
    GC_INIT(ctx);
    int rc;

    rc = libxlmig__ctl_call(gc, ctx->backend_kind,
                            libxlmig__ctl_simple_request(gc, "cancel",
                                                         domain),
                            -1, NULL, NULL, NULL);
    GC_FREE;
    return rc;
}

int libxlmig_migrate_recover(libxlmig_ctx *ctx, const char *domain,
                             char **report_r)
{
    GC_INIT(ctx);
    yajl_val data = NULL;
    int rc;

    rc = libxlmig__ctl_call(gc, ctx->backend_kind,
                            libxlmig__ctl_simple_request(gc, "recover",
                                                         domain),
                            -1, NULL, NULL, &data);
    report_text(gc, data, report_r);
    GC_FREE;
    return rc;
}

int libxlmig_migration_report_stats(libxlmig_ctx *ctx, const char *report,
                                    libxlmig_stats *st)
{
    GC_INIT(ctx);
    const char *path[] = { "stats", NULL };
    yajl_val v, sv;
    int rc;

    rc = libxlmig__json_parse(gc, report, "migration report", &v);
    if (rc) goto out;
    sv = yajl_tree_get(v, path, yajl_t_object);
    if (!sv) {
        LOG(ERROR, "the migration report has no statistics");
        rc = LIBXLMIG_ERROR_NOTFOUND;
        goto out;
    }
    rc = libxlmig__stats_parse_json(gc, sv, st);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_drain_done(libxlmig_ctx *ctx, const char *result)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    int rc;

    s = libxlmig__ctl_request_open(g, "drain_done");
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "result", result);
    if (s == yajl_gen_status_ok)
        s = yajl_gen_map_close(g);
    rc = libxlmig__ctl_send(gc, ctx->backend_kind, g, s, "drain_done", -1,
                            NULL, NULL, NULL);
    GC_FREE;
    return rc;
}
