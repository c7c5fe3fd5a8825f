/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The backend registry (backends.c): which table of the host interface
 * each backend kind opens.  The public libxlmig_backend_open opens the
 * one for CLI processes; xlmigd asks here for its own.
 */
#ifndef LIBXLMIG_BACKEND_BACKENDS_H
#define LIBXLMIG_BACKEND_BACKENDS_H

#include "host/host.h"

/* The table xlmigd opens for kind (sim: the host that owns the domains;
 * xen: the same as everywhere), or NULL for an unknown kind. */
_hidden const libxlmig__host_ops *libxlmig__backend_daemon_host(
    libxlmig_backend_kind k);

#endif /* LIBXLMIG_BACKEND_BACKENDS_H */
