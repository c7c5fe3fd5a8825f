/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The Xen backend: drives a real Xen 4.17 host through libxl and
 * libxenctrl.  This is the only file of libxlmig that includes their
 * headers.  libxl logs through the context's own xentoollog logger.
 */
#include <fcntl.h>
#include <unistd.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <xenctrl.h>

#include "libxlmig_internal.h"

/* Our error table mirrors libxl's codes by value; keep them honest. */
_Static_assert(ERROR_FAIL == -3, "libxl ERROR_FAIL changed");
_Static_assert(ERROR_INVAL == -6, "libxl ERROR_INVAL changed");
_Static_assert(ERROR_DOMAIN_NOTFOUND == -21, "libxl ERROR_DOMAIN_NOTFOUND");
_Static_assert(ERROR_QEMU_API == -32, "libxl ERROR_QEMU_API changed");

typedef struct xen_priv {
    libxl_ctx *lctx;
    xc_interface *xch;
} xen_priv;

/*
 * Is this a Xen dom0?  On a dom0 privcmd exists and xenfs reports
 * control_d.  *why_r says what is missing otherwise (arena string).
 */
static bool xen_is_dom0(libxlmig__gc *gc, const char **why_r)
{
    char caps[128];
    ssize_t n;
    int fd;

    if (access("/dev/xen/privcmd", F_OK) != 0 &&
        access("/proc/xen/privcmd", F_OK) != 0) {
        *why_r = GCSPRINTF("/dev/xen/privcmd: %s", strerror(errno));
        return false;
    }
    fd = open("/proc/xen/capabilities", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, caps, sizeof(caps) - 1);
        close(fd);
        if (n >= 0) {
            caps[n] = '\0';
            if (!strstr(caps, "control_d")) {
                *why_r = "this is a Xen guest, not the control domain";
                return false;
            }
        }
    }
    return true;
}

static void xen_close(libxlmig_ctx *ctx, void *priv)
{
    xen_priv *xp = priv;

    if (!xp)
        return;
    if (xp->xch) xc_interface_close(xp->xch);
    if (xp->lctx) libxl_ctx_free(xp->lctx);
    free(xp);
}

static int xen_open(libxlmig__gc *gc, void **priv_r)
{
    xen_priv *xp = NULL;
    const char *why = NULL;
    int r, rc;

    if (!xen_is_dom0(gc, &why)) {
        LOG(ERROR, "not running in a Xen dom0: %s (use --backend=sim)", why);
        rc = LIBXLMIG_ERROR_NOT_DOM0;
        goto out;
    }
    xp = calloc(1, sizeof(*xp));
    if (!xp)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*xp));

    r = libxl_ctx_alloc(&xp->lctx, LIBXL_VERSION, 0, CTX->lg);
    if (r) {
        LOG(ERROR, "not running in a Xen dom0: cannot open libxl (%s) "
            "(use --backend=sim)", libxlmig_strerror(r));
        rc = LIBXLMIG_ERROR_NOT_DOM0;
        goto out;
    }
    xp->xch = xc_interface_open(CTX->lg, CTX->lg, 0);
    if (!xp->xch) {
        LOGE(ERROR, "not running in a Xen dom0: cannot open libxenctrl "
             "(use --backend=sim)");
        rc = LIBXLMIG_ERROR_NOT_DOM0;
        goto out;
    }
    *priv_r = xp;
    xp = NULL;
    rc = 0;
 out:
    if (xp) xen_close(CTX, xp);
    return rc;
}

static int xen_host_info(libxlmig__gc *gc, void *priv, libxlmig_host_info *hi)
{
    xen_priv *xp = priv;
    const libxl_version_info *vi;
    libxl_physinfo pi;
    uint64_t pagekib;
    int r, rc;

    libxl_physinfo_init(&pi);
    vi = libxl_get_version_info(xp->lctx);
    if (!vi) {
        LOG(ERROR, "libxl_get_version_info failed");
        rc = LIBXLMIG_ERROR_FAIL;
        goto out;
    }
    r = libxl_get_physinfo(xp->lctx, &pi);
    if (r) {
        LOG(ERROR, "libxl_get_physinfo failed: %s", libxlmig_strerror(r));
        rc = r;
        goto out;
    }
    pagekib = (vi->pagesize > 0 ? (uint64_t)vi->pagesize : 4096) / 1024;
    hi->hypervisor = libxlmig__sprintf(gc, "Xen %d.%d%s",
                                       vi->xen_version_major,
                                       vi->xen_version_minor,
                                       vi->xen_version_extra
                                       ? vi->xen_version_extra : "");
    hi->hypervisor = strdup(hi->hypervisor);
    r = libxl_get_scheduler(xp->lctx);
    hi->scheduler = strdup(r >= 0 ? libxl_scheduler_to_string(r)
                                  : "unknown");
    hi->total_memory_kib = pi.total_pages * pagekib;
    hi->free_memory_kib = pi.free_pages * pagekib;
    hi->nr_cpus = pi.nr_cpus;
    hi->nr_nodes = pi.nr_nodes;
    hi->cpu_mhz = pi.cpu_khz / 1000;
    {
        char host[256];

        if (gethostname(host, sizeof(host)) == 0) {
            host[sizeof(host) - 1] = '\0';
            hi->hostname = strdup(host);
        }
    }
    rc = 0;
 out:
    libxl_physinfo_dispose(&pi);
    return rc;
}

static int xen_list(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                    int *nr_r)
{
    xen_priv *xp = priv;
    libxl_dominfo *info = NULL;
    libxlmig_dominfo *list = NULL;
    int i, nb = 0, rc;

    info = libxl_list_domain(xp->lctx, &nb);
    if (!info) {
        LOG(ERROR, "libxl_list_domain failed");
        rc = LIBXLMIG_ERROR_FAIL;
        goto out;
    }
    list = calloc(nb ? nb : 1, sizeof(*list));
    if (!list)
        libxlmig__alloc_failed(CTX, __func__, nb, sizeof(*list));
    for (i = 0; i < nb; i++) {
        libxlmig_dominfo *d = &list[i];
        const libxl_dominfo *x = &info[i];

        d->name = libxl_domid_to_name(xp->lctx, x->domid);
        snprintf(d->uuid, sizeof(d->uuid), LIBXL_UUID_FMT,
                 LIBXL_UUID_BYTES(x->uuid));
        d->domid = x->domid;
        d->memory_kib = x->current_memkb;
        d->max_memory_kib = x->max_memkb;
        d->vcpus = x->vcpu_online;
        d->state = x->dying ? LIBXLMIG_DOMAIN_DYING
                 : x->shutdown ? LIBXLMIG_DOMAIN_SHUTDOWN
                 : x->paused ? LIBXLMIG_DOMAIN_PAUSED
                 : LIBXLMIG_DOMAIN_RUNNING;
    }
    *list_r = list;
    *nr_r = nb;
    list = NULL;
    rc = 0;
 out:
    if (info) libxl_dominfo_list_free(info, nb);
    free(list);
    return rc;
}

const libxlmig__backend_ops libxlmig__backend_xen = {
    .name = "xen",
    .open = xen_open,
    .close = xen_close,
    .host_info = xen_host_info,
    .list = xen_list,
};
