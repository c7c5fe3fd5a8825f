/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Domain life-cycle operations (pause, unpause, destroy, save, restore)
 * dispatched through the opened backend's ops table.
 */
#include "host/host.h"


int libxlmig_domain_pause(libxlmig_ctx *ctx, const char *name)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    void *priv;
    int rc;

    rc = BACKEND_NEED(pause, "pause domains");
    if (rc) goto out;
    rc = ops->pause(gc, priv, name);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_domain_unpause(libxlmig_ctx *ctx, const char *name)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    void *priv;
    int rc;

    rc = BACKEND_NEED(unpause, "unpause domains");
    if (rc) goto out;
    rc = ops->unpause(gc, priv, name);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_domain_destroy(libxlmig_ctx *ctx, const char *name)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    void *priv;
    int rc;

    rc = BACKEND_NEED(destroy, "destroy domains");
    if (rc) goto out;
    rc = ops->destroy(gc, priv, name);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_domain_save(libxlmig_ctx *ctx, const char *name, int fd,
                         unsigned flags, const libxlmig_params *params,
                         libxlmig_progress_cb cb, void *user,
                         libxlmig_stats *st)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    libxlmig__engine_opts o;
    void *priv;
    int rc;

    rc = BACKEND_NEED(save, "save domains");
    if (rc) goto out;
    memset(&o, 0, sizeof(o));
    if (params)
        o.params = *params;
    else
        libxlmig_params_init(&o.params);
    o.live = flags & LIBXLMIG_SAVE_LIVE;
    o.progress = cb;
    o.progress_user = user;
    rc = ops->save(gc, priv, name, fd, flags, &o, st);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_domain_restore(libxlmig_ctx *ctx, int fd, const char *new_name,
                            bool paused, libxlmig_progress_cb cb, void *user,
                            libxlmig_stats *st, char **name_r)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    libxlmig__engine_opts o;
    void *priv;
    int rc;

    rc = BACKEND_NEED(restore, "restore domains");
    if (rc) goto out;
    memset(&o, 0, sizeof(o));
    libxlmig_params_init(&o.params);
    o.progress = cb;
    o.progress_user = user;
    rc = ops->restore(gc, priv, fd, new_name, paused, &o, st, name_r);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_dirty_sample_take(libxlmig_ctx *ctx, const char *domain,
                               unsigned ms, libxlmig_dirty_sample *s)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    void *priv;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = BACKEND_NEED(dirty_sample, "sample a domain's dirty pages");
    if (rc) goto out;
    if (ms < 40 || ms > 60000) {
        LOG(ERROR, "dirty sample: duration must be 40 ms to 60 s");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = ops->dirty_sample(gc, priv, domain, ms, s);
 out:
    GC_FREE;
    return rc;
}
