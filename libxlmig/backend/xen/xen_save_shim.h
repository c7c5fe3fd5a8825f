/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What xlmigd (xen_backend.c) and the save-helper shim (xen_save_shim.c)
 * agree on: the libxenguest symbol version the shim binds to, the
 * environment that names the directory of the per-domain files and the
 * installed names.
 */
#ifndef XLMIG_XEN_SAVE_SHIM_H
#define XLMIG_XEN_SAVE_SHIM_H

/*
 * The Xen release the build's headers and libraries are (Config.mk, from
 * xenguest.pc): the only one the backend and the shim are built for.
 */
#if !defined(XLMIG_XEN_MAJOR) || !defined(XLMIG_XEN_MINOR)
#error "XLMIG_XEN_MAJOR/MINOR unset: pkg-config found no xenguest"
#endif
#define XLMIG_XEN_STR_(x) #x
#define XLMIG_XEN_STR(x) XLMIG_XEN_STR_(x)
/* "4.17" */
#define XLMIG_XEN_RELEASE \
    XLMIG_XEN_STR(XLMIG_XEN_MAJOR) "." XLMIG_XEN_STR(XLMIG_XEN_MINOR)
/* The libxenguest ABI the shim binds: Xen versions its symbols per
 * release, "VERS_4.17.0" up to 4.17, "libxenguest_4.20.0" in 4.20;
 * libxlmig/Makefile reads it off the library it links. */
#ifndef XLMIG_SHIM_XENGUEST_VERSION
#error "XLMIG_SHIM_XENGUEST_VERSION unset (libxlmig/Makefile sets it)"
#endif
/* Directory of DOMID.params (in) and DOMID.progress (out). */
#define XLMIG_SHIM_ENV_DIR "XLMIG_PRECOPY_DIR"
/* The wrapper libxl runs as its save helper, under the libexec dir. */
#define XLMIG_SHIM_HELPER "xlmig-save-helper"

#endif /* XLMIG_XEN_SAVE_SHIM_H */
