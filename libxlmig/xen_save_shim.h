/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What xlmigd (backend_xen.c) and the save-helper shim (xen_save_shim.c)
 * agree on: the libxenguest symbol version the shim binds to, the
 * environment that names the directory of the per-domain files, and the
 * installed names.
 */
#ifndef XLMIG_XEN_SAVE_SHIM_H
#define XLMIG_XEN_SAVE_SHIM_H

/* The only libxenguest ABI the shim knows (Xen 4.17). */
#define XLMIG_SHIM_XENGUEST_VERSION "VERS_4.17.0"
/* Directory of DOMID.params (in) and DOMID.progress (out). */
#define XLMIG_SHIM_ENV_DIR "XLMIG_PRECOPY_DIR"
/* The wrapper libxl runs as its save helper, under the libexec dir. */
#define XLMIG_SHIM_HELPER "xlmig-save-helper"

#endif /* XLMIG_XEN_SAVE_SHIM_H */
