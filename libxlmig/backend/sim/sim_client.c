/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The sim backend as CLI processes open it (the "sim (client)" table of
 * host/host.h).  Domains are processes that xlmigd --backend=sim owns
 * (sim_host.c); each operation here is one request to the daemon's
 * control socket (host/ctl.h), with the stream fd attached for save and
 * restore.  Host facts are the Linux machine's.
 */
#include "host/ctl.h"
#include "backend/sim/sim.h"
#include "policy.h"

/* {"version":1,"op":op[,"domain":name]} to xlmigd; *data_r as
 * libxlmig__ctl_call gives it (may be NULL). */
static int sim_request(libxlmig__gc *gc, const char *op, const char *name,
                       yajl_val *data_r)
{
    return libxlmig__ctl_call(gc, LIBXLMIG_BACKEND_SIM,
                              libxlmig__ctl_simple_request(gc, op, name), -1,
                              NULL, NULL, data_r);
}

static int sim_open(libxlmig__gc *gc, void **priv_r)
{
    *priv_r = NULL;
    return 0;
}

static void sim_close(libxlmig_ctx *ctx, void *priv)
{
}

static int sim_host_info(libxlmig__gc *gc, void *priv,
                         libxlmig_host_info *hi)
{
    int rc;

    rc = libxlmig__host_info_linux(gc, hi);
    if (rc) return rc;
    hi->hypervisor = strdup("xlmig-sim " LIBXLMIG_VERSION);
    hi->scheduler = strdup("sim");
    return 0;
}

/* The policy this kernel sees, from the cpuid instruction. */
static int sim_host_cpu_policy(libxlmig__gc *gc, void *priv, bool pv,
                               struct policy_cpuid *p)
{
    return libxlmig__cpu_policy_linux(gc, p);
}

static int sim_list(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                    int *nr_r)
{
    libxlmig_dominfo *list = NULL;
    yajl_val data;
    size_t i, n;
    int rc;

    rc = sim_request(gc, "list", NULL, &data);
    if (rc) return rc;
    if (!YAJL_IS_ARRAY(data)) {
        LOG(ERROR, "the sim daemon sent a malformed domain list");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    n = data->u.array.len;
    list = calloc(n ? n : 1, sizeof(*list));
    if (!list) return LIBXLMIG_ERROR_NOMEM;
    for (i = 0; i < n; i++) {
        yajl_val d = data->u.array.values[i];
        libxlmig_dominfo *di = &list[i];
        const char *state = libxlmig__json_get_str(d, "state");
        uint64_t u;

        di->name = strdup(libxlmig__json_get_str(d, "name") ?: "");
        snprintf(di->uuid, sizeof(di->uuid), "%s",
                 libxlmig__json_get_str(d, "uuid") ?: "");
        if (!libxlmig__json_get_u64(gc, d, "domid", &u)) di->domid = u;
        if (!libxlmig__json_get_u64(gc, d, "memory_kib", &u))
            di->memory_kib = di->max_memory_kib = u;
        di->vcpus = 1;
        di->state = !state ? LIBXLMIG_DOMAIN_RUNNING
                  : !strcmp(state, "paused") ? LIBXLMIG_DOMAIN_PAUSED
                  : !strcmp(state, "shutdown") ? LIBXLMIG_DOMAIN_SHUTDOWN
                  : LIBXLMIG_DOMAIN_RUNNING;
    }
    *list_r = list;
    *nr_r = (int)n;
    return 0;
}

static int sim_pause(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_request(gc, "pause", name, NULL);
}

static int sim_unpause(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_request(gc, "unpause", name, NULL);
}

static int sim_destroy(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_request(gc, "destroy", name, NULL);
}

static int sim_save(libxlmig__gc *gc, void *priv, const char *name, int fd,
                    unsigned flags, const libxlmig__engine_opts *o,
                    libxlmig_stats *st)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    const libxlmig_params *params = &o->params;
    yajl_gen_status s;
    yajl_val data;
    int rc;

    s = libxlmig__ctl_request_open(g, "save");
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "domain", name);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_bool(g, "live", flags & LIBXLMIG_SAVE_LIVE);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_bool(g, "checkpoint",
                                       flags & LIBXLMIG_SAVE_CHECKPOINT);
    if (s == yajl_gen_status_ok) s = libxlmig__yajl_gen_str(g, "params");
    if (s == yajl_gen_status_ok) s = libxlmig__params_gen_json(g, params);
    if (s == yajl_gen_status_ok) s = yajl_gen_map_close(g);
    rc = libxlmig__ctl_send(gc, LIBXLMIG_BACKEND_SIM, g, s, "save", fd,
                            o->progress, o->progress_user, &data);
    if (rc) return rc;
    if (st && data)
        rc = libxlmig__stats_parse_json(gc, data, st);
    return rc;
}

static int sim_restore(libxlmig__gc *gc, void *priv, int fd,
                       const char *new_name, bool paused,
                       const libxlmig__engine_opts *o, libxlmig_stats *st,
                       char **name_r)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    yajl_val data, sv;
    const char *keys[] = { "stats", NULL };
    int rc;

    s = libxlmig__ctl_request_open(g, "restore");
    if (s == yajl_gen_status_ok && new_name)
        s = libxlmig__yajl_gen_kv_str(g, "name", new_name);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_bool(g, "paused", paused);
    if (s == yajl_gen_status_ok) s = yajl_gen_map_close(g);
    rc = libxlmig__ctl_send(gc, LIBXLMIG_BACKEND_SIM, g, s, "restore", fd,
                            o->progress, o->progress_user, &data);
    if (rc) return rc;
    sv = yajl_tree_get(data, keys, yajl_t_object);
    if (st && sv)
        rc = libxlmig__stats_parse_json(gc, sv, st);
    if (name_r)
        *name_r = strdup(libxlmig__json_get_str(data, "name") ?: "");
    return rc;
}

int libxlmig_sim_create(libxlmig_ctx *ctx, const libxlmig_sim_params *p)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    int rc;

    s = libxlmig__ctl_request_open(g, "create");
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "name", p->name);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "memory_mib", p->memory_mib);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "dirty_rate", p->dirty_rate);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "working_set_mib",
                                       p->working_set_mib);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_double(g, "zero_fraction", p->zero_fraction);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_int(g, "hot_pct", p->hot_pct);
    if (s == yajl_gen_status_ok && p->ip)
        s = libxlmig__yajl_gen_kv_str(g, "ip", p->ip);
    if (s == yajl_gen_status_ok && p->mac)
        s = libxlmig__yajl_gen_kv_str(g, "mac", p->mac);
    if (s == yajl_gen_status_ok && p->content != LIBXLMIG_SIM_CONTENT_DEFAULT)
        s = libxlmig__yajl_gen_kv_str(g, "content",
                                      libxlmig_sim_content_to_string(
                                          p->content));
    if (s == yajl_gen_status_ok) s = yajl_gen_map_close(g);
    rc = libxlmig__ctl_send(gc, LIBXLMIG_BACKEND_SIM, g, s, "create", -1,
                            NULL, NULL, NULL);
    GC_FREE;
    return rc;
}

int libxlmig_sim_verify(libxlmig_ctx *ctx, const char *name,
                        uint64_t *bad_r, uint64_t *first_bad_r)
{
    GC_INIT(ctx);
    yajl_val data;
    long long first = -1;
    int rc;

    rc = sim_request(gc, "verify", name, &data);
    if (rc) goto out;
    rc = libxlmig__json_get_u64(gc, data, "bad_pages", bad_r);
    if (!rc) rc = libxlmig__json_get_int(gc, data, "first_bad_pfn", &first);
    if (first_bad_r) *first_bad_r = first < 0 ? UINT64_MAX : (uint64_t)first;
 out:
    GC_FREE;
    return rc;
}

static int sim_dirty_sample(libxlmig__gc *gc, void *priv, const char *domain,
                            unsigned ms, libxlmig_dirty_sample *s)
{
    const char *path[] = { "points", NULL };
    const char *cpath[] = { "content", NULL };
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status st;
    yajl_val data, pts;
    size_t i;
    int rc;

    memset(s, 0, sizeof(*s));
    st = libxlmig__ctl_request_open(g, "sample_dirty");
    if (st == yajl_gen_status_ok)
        st = libxlmig__yajl_gen_kv_str(g, "domain", domain);
    if (st == yajl_gen_status_ok)
        st = libxlmig__yajl_gen_kv_uint(g, "ms", ms);
    if (st == yajl_gen_status_ok)
        st = yajl_gen_map_close(g);
    rc = libxlmig__ctl_send(gc, LIBXLMIG_BACKEND_SIM, g, st, "dirty sample",
                            -1, NULL, NULL, &data);
    if (rc) goto out;
    rc = libxlmig__json_get_u64(gc, data, "nr_pages", &s->nr_pages);
    if (rc) goto out;
    pts = yajl_tree_get(data, path, yajl_t_array);
    for (i = 0; pts && i < pts->u.array.len &&
                i < LIBXLMIG_DIRTY_SAMPLE_POINTS; i++) {
        yajl_val pt = pts->u.array.values[i];

        if (libxlmig__json_get_u64(gc, pt, "ms", &s->ms[i]) ||
            libxlmig__json_get_u64(gc, pt, "pages", &s->pages[i])) {
            rc = LIBXLMIG_ERROR_PROTOCOL;
            goto out;
        }
        s->nr_points++;
    }
    rc = libxlmig__content_parse(gc, yajl_tree_get(data, cpath,
                                                   yajl_t_object),
                                 &s->content);
 out:
    return rc;
}

const libxlmig__host_ops libxlmig__host_sim_client = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .host_info = sim_host_info,
    .host_cpu_policy = sim_host_cpu_policy,
    .list = sim_list,
    .pause = sim_pause,
    .unpause = sim_unpause,
    .destroy = sim_destroy,
    .save = sim_save,
    .restore = sim_restore,
    .dirty_sample = sim_dirty_sample,
};
