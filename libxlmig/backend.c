/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Backend selection and the public wrappers that dispatch through the
 * opened backend's ops table.
 */
#include "libxlmig_internal.h"

static const libxlmig__backend_ops *backend_ops_of(libxlmig_backend_kind k)
{
    switch (k) {
    case LIBXLMIG_BACKEND_XEN: return &libxlmig__backend_xen;
    case LIBXLMIG_BACKEND_SIM: return &libxlmig__backend_sim;
    }
    return NULL;
}

const char *libxlmig_backend_kind_to_string(libxlmig_backend_kind k)
{
    const libxlmig__backend_ops *ops = backend_ops_of(k);

    return ops ? ops->name : "unknown";
}

int libxlmig_backend_kind_from_string(const char *s,
                                      libxlmig_backend_kind *k_r)
{
    if (!s)
        return LIBXLMIG_ERROR_INVAL;
    if (!strcmp(s, "xen")) {
        *k_r = LIBXLMIG_BACKEND_XEN;
        return 0;
    }
    if (!strcmp(s, "sim")) {
        *k_r = LIBXLMIG_BACKEND_SIM;
        return 0;
    }
    return LIBXLMIG_ERROR_INVAL;
}

int libxlmig_backend_open(libxlmig_ctx *ctx, libxlmig_backend_kind kind)
{
    GC_INIT(ctx);
    const libxlmig__backend_ops *ops = backend_ops_of(kind);
    void *priv = NULL;
    int rc;

    if (!ops) {
        LOG(ERROR, "unknown backend %d", (int)kind);
        rc = LIBXLMIG_ERROR_BACKEND;
        goto out;
    }
    if (ctx->backend && ctx->backend->close)
        ctx->backend->close(ctx, ctx->backend_priv);
    ctx->backend = NULL;
    ctx->backend_priv = NULL;

    rc = ops->open(gc, &priv);
    if (rc) goto out;
    ctx->backend = ops;
    ctx->backend_priv = priv;
    ctx->backend_kind = kind;
 out:
    GC_FREE;
    return rc;
}

libxlmig_backend_kind libxlmig_backend_current(libxlmig_ctx *ctx)
{
    return ctx->backend_kind;
}

int libxlmig__backend_get(libxlmig__gc *gc,
                          const libxlmig__backend_ops **ops_r, void **priv_r)
{
    if (!CTX->backend) {
        LOG(ERROR, "no backend opened (call libxlmig_backend_open first)");
        return LIBXLMIG_ERROR_BACKEND;
    }
    *ops_r = CTX->backend;
    *priv_r = CTX->backend_priv;
    return 0;
}

int libxlmig__backend_need(libxlmig__gc *gc, size_t op_offset,
                           const char *what,
                           const libxlmig__backend_ops **ops_r, void **priv_r)
{
    void (*const *op)(void);
    int rc;

    rc = libxlmig__backend_get(gc, ops_r, priv_r);
    if (rc) return rc;
    op = (void (*const *)(void))((const char *)*ops_r + op_offset);
    if (!*op) {
        LOG(ERROR, "backend %s cannot %s", (*ops_r)->name, what);
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }
    return 0;
}

void libxlmig_host_info_init(libxlmig_host_info *hi)
{
    memset(hi, 0, sizeof(*hi));
}

void libxlmig_host_info_dispose(libxlmig_host_info *hi)
{
    free(hi->backend);
    free(hi->hostname);
    free(hi->hypervisor);
    free(hi->scheduler);
    libxlmig_host_info_init(hi);
}

int libxlmig_host_info_get(libxlmig_ctx *ctx, libxlmig_host_info *hi)
{
    GC_INIT(ctx);
    const libxlmig__backend_ops *ops;
    void *priv;
    int rc;

    rc = BACKEND_NEED(host_info, "report host information");
    if (rc) goto out;
    libxlmig_host_info_dispose(hi);
    rc = ops->host_info(gc, priv, hi);
    if (rc) {
        libxlmig_host_info_dispose(hi);
        goto out;
    }
    if (!hi->backend)
        hi->backend = strdup(ops->name);
 out:
    GC_FREE;
    return rc;
}

static yajl_gen_status host_info_gen_json(yajl_gen g, const void *obj)
{
    const libxlmig_host_info *hi = obj;
    yajl_gen_status s;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "backend", hi->backend);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "hostname", hi->hostname);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "hypervisor", hi->hypervisor);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "scheduler", hi->scheduler);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "total_memory_kib",
                                   hi->total_memory_kib);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "free_memory_kib", hi->free_memory_kib);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "nr_cpus", hi->nr_cpus);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "nr_nodes", hi->nr_nodes);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "cpu_mhz", hi->cpu_mhz);
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_close(g);
 out:
    return s;
}

int libxlmig_host_info_to_json(libxlmig_ctx *ctx,
                               const libxlmig_host_info *hi, char **json_r)
{
    return libxlmig__json_encode(ctx, host_info_gen_json, hi, true,
                                 "host information", json_r);
}
