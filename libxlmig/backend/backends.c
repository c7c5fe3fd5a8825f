/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The backend registry: which implementations of the host interface
 * exist (xen, sim), selecting one by name and opening it for a context.
 * It sits above both backends, which never know of each other.
 */
#include "backend/backends.h"
#include "backend/xen/xen.h"
#include "backend/sim/sim.h"

/* What a CLI process (any process but xlmigd) opens for kind k. */
static const libxlmig__host_ops *backend_ops_of(libxlmig_backend_kind k)
{
    switch (k) {
    case LIBXLMIG_BACKEND_XEN: return &libxlmig__host_xen;
    case LIBXLMIG_BACKEND_SIM: return &libxlmig__host_sim_client;
    }
    return NULL;
}

const libxlmig__host_ops *libxlmig__backend_daemon_host(
    libxlmig_backend_kind k)
{
    switch (k) {
    case LIBXLMIG_BACKEND_XEN: return &libxlmig__host_xen;
    case LIBXLMIG_BACKEND_SIM: return &libxlmig__host_sim;
    }
    return NULL;
}

const char *libxlmig_backend_kind_to_string(libxlmig_backend_kind k)
{
    const libxlmig__host_ops *ops = backend_ops_of(k);

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

/* Release the opened backend of ctx, if any (ctx->backend_close). */
static void backend_close(libxlmig_ctx *ctx)
{
    if (ctx->backend && ctx->backend->close)
        ctx->backend->close(ctx, ctx->backend_priv);
    ctx->backend = NULL;
    ctx->backend_priv = NULL;
    ctx->backend_close = NULL;
}

int libxlmig_backend_open(libxlmig_ctx *ctx, libxlmig_backend_kind kind)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops = backend_ops_of(kind);
    void *priv = NULL;
    int rc;

    if (!ops) {
        LOG(ERROR, "unknown backend %d", (int)kind);
        rc = LIBXLMIG_ERROR_BACKEND;
        goto out;
    }
    backend_close(ctx);

    rc = ops->open(gc, &priv);
    if (rc) goto out;
    ctx->backend = ops;
    ctx->backend_priv = priv;
    ctx->backend_close = backend_close;
    ctx->backend_kind = kind;
 out:
    GC_FREE;
    return rc;
}

void libxlmig_backend_choose(libxlmig_ctx *ctx, libxlmig_backend_kind kind)
{
    if (backend_ops_of(kind))
        ctx->backend_kind = kind;
}

libxlmig_backend_kind libxlmig_backend_current(libxlmig_ctx *ctx)
{
    return ctx->backend_kind;
}
