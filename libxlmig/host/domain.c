/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Domain listing and lookup by name, over whichever backend is open.
 */
#include <stdlib.h>

#include "host/host.h"

const char *libxlmig_domain_state_to_string(libxlmig_domain_state s)
{
    switch (s) {
    case LIBXLMIG_DOMAIN_RUNNING: return "running";
    case LIBXLMIG_DOMAIN_PAUSED: return "paused";
    case LIBXLMIG_DOMAIN_SHUTDOWN: return "shutdown";
    case LIBXLMIG_DOMAIN_DYING: return "dying";
    }
    return "unknown";
}

void libxlmig_dominfo_init(libxlmig_dominfo *di)
{
    memset(di, 0, sizeof(*di));
}

void libxlmig_dominfo_dispose(libxlmig_dominfo *di)
{
    free(di->name);
    libxlmig_dominfo_init(di);
}

void libxlmig_dominfo_list_free(libxlmig_dominfo *list, int nr)
{
    int i;

    if (!list)
        return;
    for (i = 0; i < nr; i++)
        libxlmig_dominfo_dispose(&list[i]);
    free(list);
}

int libxlmig_domain_list(libxlmig_ctx *ctx, libxlmig_dominfo **list_r,
                         int *nr_r)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    void *priv;
    int rc;

    *list_r = NULL;
    *nr_r = 0;
    rc = BACKEND_NEED(list, "list domains");
    if (rc) goto out;
    rc = ops->list(gc, priv, list_r, nr_r);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_domain_info(libxlmig_ctx *ctx, const char *name,
                         libxlmig_dominfo *di)
{
    GC_INIT(ctx);
    libxlmig_dominfo *list = NULL;
    char *end;
    unsigned long domid;
    bool by_id;
    int i, nr = 0, rc;

    errno = 0;
    domid = strtoul(name, &end, 10);
    by_id = *name && !*end && !errno;

    rc = libxlmig_domain_list(ctx, &list, &nr);
    if (rc) goto out;
    for (i = 0; i < nr; i++) {
        if ((by_id && list[i].domid == domid) ||
            (list[i].name && !strcmp(list[i].name, name))) {
            libxlmig_dominfo_dispose(di);
            *di = list[i];
            libxlmig_dominfo_init(&list[i]);
            rc = 0;
            goto out;
        }
    }
    LOG(ERROR, "domain '%s' not found on this host", name);
    rc = LIBXLMIG_ERROR_NOTFOUND;
 out:
    libxlmig_dominfo_list_free(list, nr);
    GC_FREE;
    return rc;
}

int libxlmig_domain_lookup(libxlmig_ctx *ctx, const char *name,
                           bool *running_r, uint32_t *domid_r)
{
    libxlmig_dominfo *list = NULL;
    int i, nr = 0, rc;

    *running_r = false;
    rc = libxlmig_domain_list(ctx, &list, &nr);
    if (rc) goto out;
    for (i = 0; i < nr; i++) {
        if (list[i].name && !strcmp(list[i].name, name)) {
            *running_r = true;
            if (domid_r)
                *domid_r = list[i].domid;
            break;
        }
    }
 out:
    libxlmig_dominfo_list_free(list, nr);
    return rc;
}

static yajl_gen_status dominfo_gen_json(yajl_gen g, const libxlmig_dominfo *d)
{
    yajl_gen_status s;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "name", d->name);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "uuid", d->uuid);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "domid", d->domid);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "memory_kib", d->memory_kib);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "max_memory_kib", d->max_memory_kib);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "vcpus", d->vcpus);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "state",
                                  libxlmig_domain_state_to_string(d->state));
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_close(g);
 out:
    return s;
}

int libxlmig_domain_list_to_json(libxlmig_ctx *ctx,
                                 const libxlmig_dominfo *list, int nr,
                                 char **json_r)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, true);
    yajl_gen_status s;
    int i, rc;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_str(g, "domains");
    if (s != yajl_gen_status_ok) goto fail;
    s = yajl_gen_array_open(g);
    if (s != yajl_gen_status_ok) goto fail;
    for (i = 0; i < nr; i++) {
        s = dominfo_gen_json(g, &list[i]);
        if (s != yajl_gen_status_ok) goto fail;
    }
    s = yajl_gen_array_close(g);
    if (s != yajl_gen_status_ok) goto fail;
    s = yajl_gen_map_close(g);
    if (s != yajl_gen_status_ok) goto fail;
    rc = libxlmig__json_finish(gc, g, json_r);
    goto out;
 fail:
    LOG(ERROR, "cannot encode the domain list");
    rc = LIBXLMIG_ERROR_JSON;
 out:
    GC_FREE;
    return rc;
}
