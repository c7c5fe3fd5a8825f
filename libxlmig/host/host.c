/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The host interface's dispatch: the opened backend of a context, the
 * check that it has an operation, and the host facts every backend
 * reports the same way.
 */
#include "host/host.h"

int libxlmig__backend_get(libxlmig__gc *gc,
                          const libxlmig__host_ops **ops_r, void **priv_r)
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
                           const libxlmig__host_ops **ops_r, void **priv_r)
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
    const libxlmig__host_ops *ops;
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

void libxlmig__dom_facts_init(libxlmig__dom_facts *f)
{
    memset(f, 0, sizeof(*f));
}


void libxlmig__dom_facts_dispose(libxlmig__dom_facts *f)
{
    free(f->config_json);
    free(f->storage);
    free(f->mac);
    free(f->ip);
    for (int i = 0; i < f->nr_disks; i++) {
        free(f->disks[i].vdev);
        free(f->disks[i].path);
        free(f->disks[i].id);
        free(f->disks[i].why);
    }
    free(f->disks);
    for (int i = 0; i < f->nr_vifs; i++)
        free(f->vifs[i].bridge);
    free(f->vifs);
    libxlmig__dom_facts_init(f);
}

size_t libxlmig__suffix_base(const char *name, const char *sfx)
{
    size_t l = name ? strlen(name) : 0, ls = strlen(sfx);

    return l > ls && !strcmp(name + l - ls, sfx) ? l - ls : 0;
}


bool libxlmig_handoff_copy(const char *name)
{
    return libxlmig__suffix_base(name, LIBXLMIG_SUFFIX_INCOMING) ||
           libxlmig__suffix_base(name, LIBXLMIG_SUFFIX_MIGRATEDAWAY);
}

