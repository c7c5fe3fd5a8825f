/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The Xen backend (backend/xen): the host interface on libxl and
 * libxenctrl, and the save-helper shim that gives Xen's pre-copy our
 * policy.  Includes nothing of backend/sim.
 */
#ifndef LIBXLMIG_BACKEND_XEN_H
#define LIBXLMIG_BACKEND_XEN_H

#include "host/host.h"

/* The host interface on a real Xen host, in any process (xen_backend.c);
 * open fails with LIBXLMIG_ERROR_NOT_DOM0 outside a dom0. */
_hidden extern const libxlmig__host_ops libxlmig__host_xen;

#endif /* LIBXLMIG_BACKEND_XEN_H */
