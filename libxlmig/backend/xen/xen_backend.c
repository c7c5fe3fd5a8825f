/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The Xen backend: the host interface (host/host.h) on a real Xen host,
 * through libxl and libxenctrl, in the CLI and in xlmigd alike, each open
 * with its own state.  Only backend/xen includes their headers.  libxl
 * logs through the context's own xentoollog logger.
 *
 * It builds against the libxl and libxenctrl of Xen 4.17 (Debian 12) and
 * 4.20 (Debian 13), using only calls both have, and runs on the release
 * it was built for alone (XLMIG_XEN_MAJOR/MINOR, from Config.mk): open
 * refuses any other hypervisor release, naming both.
 *
 * A migration's memory stream is libxl's own (libxl_domain_suspend on
 * the source, libxl_domain_create_restore on the target), sent after a
 * small header of ours carrying the domain's libxl config as JSON, as xl
 * sends its config before the stream.  Everything goes through the
 * migration's transport: libxl reads or writes one end of a local socket
 * pair and a relay thread (xen_relay.c) frames the stream on the
 * transport, so that bandwidth limits, encryption and parallel paths
 * apply to it, the bytes are counted as they go, and the control messages
 * after it are found (docs/stream.md).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <xenctrl.h>
#include <xenforeignmemory.h>
#include <xenguest.h>

#include "core/tunables.h"
#include "host/host.h"
#include "host/storage.h"
#include "backend/xen/xen.h"
#include "backend/xen/xen_relay.h"
#include "backend/xen/xen_save_shim.h"
#include "policy.h"

#ifndef XLMIG_SHIMDIR
#define XLMIG_SHIMDIR "/usr/local/libexec/xlmig"
#endif

/* Our error table mirrors libxl's codes by value; keep them honest. */
_Static_assert(ERROR_FAIL == -3, "libxl ERROR_FAIL changed");
_Static_assert(ERROR_INVAL == -6, "libxl ERROR_INVAL changed");
_Static_assert(ERROR_DOMAIN_NOTFOUND == -21, "libxl ERROR_DOMAIN_NOTFOUND");
_Static_assert(ERROR_QEMU_API == -32, "libxl ERROR_QEMU_API changed");

/* Domains whose log-dirty mode we own at once: saved or sampled. */
#define XH_MAX_BUSY 16

/* The private state of one open (a CLI's context, or xlmigd's host). */
typedef struct xen_priv {
    libxl_ctx *lctx;
    xc_interface *xch;
    /* libxl serialises itself; our own libxenctrl calls go one at a
     * time. */
    pthread_mutex_t xc_lock;
    /* Guards busy: the domains whose log-dirty mode is ours. */
    pthread_mutex_t busy_lock;
    struct { uint32_t domid; const char *what; } busy[XH_MAX_BUSY];
    /* The pre-copy shim's directory of per-domain files, or "" (no shim:
     * set by daemon_init). */
    char precopy_dir[256];
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
    pthread_mutex_destroy(&xp->xc_lock);
    pthread_mutex_destroy(&xp->busy_lock);
    free(xp);
}

/*
 * The hypervisor must be the Xen release this build is for: the domctl
 * and sysctl interfaces, libxenguest's stream and the save-helper shim
 * change between releases.
 */
static int xh_check_release(libxlmig__gc *gc, xen_priv *xp)
{
    const libxl_version_info *vi = libxl_get_version_info(xp->lctx);

    if (!vi) {
        LOG(ERROR, "cannot read the Xen version (libxl_get_version_info)");
        return LIBXLMIG_ERROR_FAIL;
    }
    if (vi->xen_version_major == XLMIG_XEN_MAJOR &&
        vi->xen_version_minor == XLMIG_XEN_MINOR)
        return 0;
    LOG(ERROR, "this xlmig is built for Xen " XLMIG_XEN_RELEASE ", but this "
        "host runs Xen %d.%d: install the xlmig built for Xen %d.%d",
        vi->xen_version_major, vi->xen_version_minor,
        vi->xen_version_major, vi->xen_version_minor);
    return LIBXLMIG_ERROR_UNSUPPORTED;
}
/* What to do when this is no dom0 (or not root in one). */
#define NOT_DOM0_HINT "run xlmig as root in a Xen dom0, or --backend=sim " \
                      "to try it on simulated domains"

static int xen_open(libxlmig__gc *gc, void **priv_r)
{
    xen_priv *xp = NULL;
    const char *why = NULL;
    int r, rc;

    if (!xen_is_dom0(gc, &why)) {
        LOG(ERROR, "not running in a Xen dom0: %s (%s)", why, NOT_DOM0_HINT);
        rc = LIBXLMIG_ERROR_NOT_DOM0;
        goto out;
    }
    xp = calloc(1, sizeof(*xp));
    if (!xp)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*xp));
    pthread_mutex_init(&xp->xc_lock, NULL);
    pthread_mutex_init(&xp->busy_lock, NULL);

    r = libxl_ctx_alloc(&xp->lctx, LIBXL_VERSION, 0, CTX->lg);
    if (r) {
        LOG(ERROR, "not running in a Xen dom0: cannot open libxl (%s) "
            "(%s)", libxlmig_strerror(r), NOT_DOM0_HINT);
        rc = LIBXLMIG_ERROR_NOT_DOM0;
        goto out;
    }
    xp->xch = xc_interface_open(CTX->lg, CTX->lg, 0);
    if (!xp->xch) {
        LOGE(ERROR, "not running in a Xen dom0: cannot open libxenctrl "
             "(%s)", NOT_DOM0_HINT);
        rc = LIBXLMIG_ERROR_NOT_DOM0;
        goto out;
    }
    rc = xh_check_release(gc, xp);
    if (rc)
        goto out;
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

/*
 * Convert a libxenguest policy object into ours: serialise its CPUID
 * leaves (the MSRs are not needed) and read the words from them.
 */
static int xen_policy_convert(libxlmig__gc *gc, xen_priv *xp,
                              const xc_cpu_policy_t *xcp,
                              struct policy_cpuid *p)
{
    xen_cpuid_leaf_t *leaves;
    struct policy_leaf *pl;
    uint32_t nr_leaves, nr_msrs, i;
    int r;

    r = xc_cpu_policy_get_size(xp->xch, &nr_leaves, &nr_msrs);
    if (r) {
        LOGE(ERROR, "xc_cpu_policy_get_size failed");
        return LIBXLMIG_ERROR_FAIL;
    }
    leaves = libxlmig__calloc(gc, nr_leaves, sizeof(*leaves));
    r = xc_cpu_policy_serialise(xp->xch, xcp, leaves, &nr_leaves, NULL,
                                NULL);
    if (r) {
        LOGE(ERROR, "xc_cpu_policy_serialise failed");
        return LIBXLMIG_ERROR_FAIL;
    }
    pl = libxlmig__calloc(gc, nr_leaves ? nr_leaves : 1, sizeof(*pl));
    for (i = 0; i < nr_leaves; i++) {
        pl[i].leaf = leaves[i].leaf;
        pl[i].subleaf = leaves[i].subleaf == XEN_CPUID_NO_SUBLEAF
                        ? POLICY_NO_SUBLEAF : leaves[i].subleaf;
        pl[i].a = leaves[i].a;
        pl[i].b = leaves[i].b;
        pl[i].c = leaves[i].c;
        pl[i].d = leaves[i].d;
    }
    policy_from_leaves(p, pl, nr_leaves);
    return 0;
}

/* One of Xen's system policies (XEN_SYSCTL_cpu_policy_*) as ours. */
static int xen_system_cpu_policy(libxlmig__gc *gc, xen_priv *xp,
                                 uint32_t which, const char *name,
                                 struct policy_cpuid *p)
{
    xc_cpu_policy_t *xcp = NULL;
    int r, rc;

    xcp = xc_cpu_policy_init();
    if (!xcp)
        libxlmig__alloc_failed(CTX, __func__, 1, 0);
    pthread_mutex_lock(&xp->xc_lock);
    r = xc_cpu_policy_get_system(xp->xch, which, xcp);
    if (r) {
        LOGE(ERROR, "xc_cpu_policy_get_system(%s) failed", name);
        rc = LIBXLMIG_ERROR_FAIL;
    } else {
        rc = xen_policy_convert(gc, xp, xcp, p);
    }
    pthread_mutex_unlock(&xp->xc_lock);
    if (rc) goto out;
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->source, sizeof(p->source),
             "Xen %s policy (xc_cpu_policy_get_system)", name);
 out:
    xc_cpu_policy_destroy(xcp);
    return rc;
}

/*
 * What a guest may use here, and so what a domain is checked against:
 * Xen's HVM maximum policy for HVM and PVH guests, its PV maximum for PV
 * ones.  The raw host policy is the wrong yardstick: Xen gives guests
 * features the host policy lacks (x2apic, sep for HVM, ...).
 */
static int xen_host_cpu_policy(libxlmig__gc *gc, void *priv, bool pv,
                               struct policy_cpuid *p)
{
    return pv ? xen_system_cpu_policy(gc, priv, XEN_SYSCTL_cpu_policy_pv_max,
                                      "pv_max", p)
              : xen_system_cpu_policy(gc, priv, XEN_SYSCTL_cpu_policy_hvm_max,
                                      "hvm_max", p);
}

static int xen_domid_cpu_policy(libxlmig__gc *gc, xen_priv *xp,
                                uint32_t domid, struct policy_cpuid *p)
{
    xc_cpu_policy_t *xcp = NULL;
    int r, rc;

    xcp = xc_cpu_policy_init();
    if (!xcp)
        libxlmig__alloc_failed(CTX, __func__, 1, 0);
    pthread_mutex_lock(&xp->xc_lock);
    r = xc_cpu_policy_get_domain(xp->xch, domid, xcp);
    if (r) {
        LOGED(ERROR, domid, "xc_cpu_policy_get_domain failed");
        rc = LIBXLMIG_ERROR_FAIL;
    } else {
        rc = xen_policy_convert(gc, xp, xcp, p);
    }
    pthread_mutex_unlock(&xp->xc_lock);
    if (rc) goto out;
    snprintf(p->name, sizeof(p->name), "domain %u", domid);
    snprintf(p->source, sizeof(p->source),
             "Xen domain policy (xc_cpu_policy_get_domain)");
 out:
    xc_cpu_policy_destroy(xcp);
    return rc;
}

static int xh_busy_claim(libxlmig__gc *gc, xen_priv *xp, uint32_t domid,
                         const char *what);
static void xh_busy_release(xen_priv *xp, uint32_t domid);

/*
 * The content sample of an HVM or PVH guest (a PV guest's frames are
 * machine frames, which this does not translate: no content): its runs
 * over the first nr_pages of its physical address space, mapped
 * read-only, a frame not populated there left out.  Xen's stream
 * carries zero pages too.  Best effort: on a failure, no content.
 */
typedef struct {
    xenforeignmemory_handle *fmem;
    uint32_t domid;
} xen_content_src;

static uint32_t xen_content_read(void *opaque, uint64_t first, uint32_t len,
                                 uint8_t *buf)
{
    const xen_content_src *src = opaque;
    xen_pfn_t pfns[LIBXLMIG_CONTENT_SAMPLE_RUN] = { 0 };
    int err[LIBXLMIG_CONTENT_SAMPLE_RUN] = { 0 };
    uint32_t i, got = 0;
    uint8_t *m;

    if (len > LIBXLMIG_CONTENT_SAMPLE_RUN)
        len = LIBXLMIG_CONTENT_SAMPLE_RUN;
    for (i = 0; i < len; i++)
        pfns[i] = (xen_pfn_t)(first + i);
    m = xenforeignmemory_map(src->fmem, src->domid, PROT_READ, len, pfns,
                             err);
    if (!m)
        return 0;
    for (i = 0; i < len; i++)
        if (!err[i])
            memcpy(buf + (size_t)got++ * LIBXLMIG__PAGE_SIZE,
                   m + (size_t)i * LIBXLMIG__PAGE_SIZE, LIBXLMIG__PAGE_SIZE);
    xenforeignmemory_unmap(src->fmem, m, len);
    return got;
}

static void xen_content(libxlmig__gc *gc, uint32_t domid, uint64_t nr_pages,
                        libxlmig_content_sample *c)
{
    xen_content_src src = { .domid = domid };

    memset(c, 0, sizeof(*c));
    src.fmem = xenforeignmemory_open(NULL, 0);
    if (!src.fmem) {
        LOGED(WARN, domid, "content sample: cannot open foreign memory");
        return;
    }
    (void)libxlmig__content_take(gc, nr_pages, xen_content_read, &src,
                                 false, c);
    xenforeignmemory_close(src.fmem);
}

static int xh_domid(libxlmig__gc *gc, xen_priv *xp, const char *name,
                    uint32_t *domid_r);

/*
 * The dirty sample through log-dirty mode, as the save does it: on, a
 * CLEAN to start from an empty log, a PEEK at each point (its dirty_count
 * is the distinct pages marked since the CLEAN), off again whatever
 * happens.  Refused while a save of the domain runs in this process
 * (Xen refuses a second log-dirty user anyway).  Then the content of an
 * HVM or PVH guest (xen_content).
 */
static int xen_dirty_sample(libxlmig__gc *gc, void *priv, const char *name,
                            unsigned ms, libxlmig_dirty_sample *s)
{
    const unsigned div[LIBXLMIG_DIRTY_SAMPLE_POINTS] = { 4, 2, 1 };
    xen_priv *xp = priv;
    xc_shadow_op_stats_t stats;
    libxl_dominfo di;
    uint64_t t0 = 0, at, now;
    uint32_t domid;
    bool on = false, translated;
    long long r;
    int i, rc;

    memset(s, 0, sizeof(*s));
    rc = xh_domid(gc, xp, name, &domid);
    if (rc) return rc;
    libxl_dominfo_init(&di);
    if (libxl_domain_info(xp->lctx, &di, domid)) {
        LOG(ERROR, "domain '%s' not found on this host", name);
        libxl_dominfo_dispose(&di);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    s->nr_pages = di.max_memkb / 4;
    translated = di.domain_type != LIBXL_DOMAIN_TYPE_PV;
    libxl_dominfo_dispose(&di);
    rc = xh_busy_claim(gc, xp, domid, "dirty sample");
    if (rc) return rc;
    pthread_mutex_lock(&xp->xc_lock);
    r = xc_shadow_control(xp->xch, domid,
                          XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0);
    pthread_mutex_unlock(&xp->xc_lock);
    if (r) {
        LOGED(ERROR, domid, "cannot turn log-dirty mode on for %s (is a "
              "migration or save of it running?)", name);
        rc = LIBXLMIG_ERROR_FAIL;
        goto out;
    }
    on = true;
    for (i = -1; i < LIBXLMIG_DIRTY_SAMPLE_POINTS; i++) {
        if (i >= 0) {
            at = t0 + (uint64_t)ms * 1000 / div[i];
            while ((now = libxlmig__now_us()) < at)
                usleep((useconds_t)(at - now));
        }
        memset(&stats, 0, sizeof(stats));
        pthread_mutex_lock(&xp->xc_lock);
        r = xc_logdirty_control(xp->xch, domid,
                                i < 0 ? XEN_DOMCTL_SHADOW_OP_CLEAN
                                      : XEN_DOMCTL_SHADOW_OP_PEEK,
                                NULL, 0, 0, &stats);
        pthread_mutex_unlock(&xp->xc_lock);
        if (r < 0) {
            LOGED(ERROR, domid, "reading the dirty log of %s failed", name);
            rc = LIBXLMIG_ERROR_FAIL;
            goto out;
        }
        if (i < 0) {
            t0 = libxlmig__now_us();
            continue;
        }
        s->ms[i] = (libxlmig__now_us() - t0) / 1000;
        s->pages[i] = stats.dirty_count;
        s->nr_points++;
    }
    if (translated)
        xen_content(gc, domid, s->nr_pages, &s->content);
    rc = 0;
 out:
    if (on) {
        pthread_mutex_lock(&xp->xc_lock);
        r = xc_shadow_control(xp->xch, domid, XEN_DOMCTL_SHADOW_OP_OFF,
                              NULL, 0);
        pthread_mutex_unlock(&xp->xc_lock);
        if (r)
            LOGED(WARN, domid, "cannot turn log-dirty mode off for %s", name);
    }
    xh_busy_release(xp, domid);
    return rc;
}


/* ---- migrations between nodes ---------------------------------------- */

/*
 * Header of our own in front of libxl's stream: magic, version, length
 * of the config JSON that follows (network byte order).
 */
#define XEN_HDR_MAGIC   "XLMIGXC\n"
/* What follows the config: libxl's stream in the relay's frames
 * (xen_relay.h).  Version 1, the unframed stream of an earlier xlmig,
 * is refused. */
#define XEN_HDR_VERSION_UNFRAMED 1
#define XEN_HDR_VERSION_RELAY    2
#define XEN_HDR_MAX_CONFIG (1u << 20)      /* bytes of config JSON */
/* How often the relay's tick reads the shim's report (ms). */
#define XEN_TICK_MS 200
/*
 * How long the relayed stream may stand still (ms): libxl pauses it for
 * long on its own, the target creating the domain before it reads, the
 * source waiting for the guest to suspend, both well over the engine's
 * LIBXLMIG_STREAM_TIMEOUT_MS on a loaded host.  A dead link is noticed
 * sooner by TCP's user timeout.
 */
#define XEN_STREAM_TIMEOUT_MS (5 * 60 * 1000)
/* libxl's migration stream as xl sends it (libxl stream format v2). */
#define XEN_STREAM_VERSION 2

/* A throttle in force: what to put back. */
typedef struct xh_throttle {
    uint32_t domid;
    int cap;                      /* scheduler cap before the throttle */
    bool active;
} xh_throttle;

static int xh_throttle_restore(libxlmig__gc *gc, xen_priv *xp,
                               xh_throttle *t);

typedef struct xen_hdr {
    char magic[8];
    uint32_t version;
    uint32_t config_len;
} xen_hdr;

/* Claim domid's log-dirty mode for what; fails (logged) if taken. */
static int xh_busy_claim(libxlmig__gc *gc, xen_priv *xp, uint32_t domid,
                         const char *what)
{
    int i, free_slot = -1, rc = 0;

    pthread_mutex_lock(&xp->busy_lock);
    for (i = 0; i < XH_MAX_BUSY; i++) {
        if (xp->busy[i].what && xp->busy[i].domid == domid) {
            LOGD(ERROR, domid, "cannot %s domain %u: a %s of it runs", what,
                 domid, xp->busy[i].what);
            rc = LIBXLMIG_ERROR_BUSY;
            break;
        }
        if (!xp->busy[i].what && free_slot < 0)
            free_slot = i;
    }
    if (!rc && free_slot < 0) {
        LOGD(ERROR, domid, "too many saves and samplings at once");
        rc = LIBXLMIG_ERROR_BUSY;
    }
    if (!rc) {
        xp->busy[free_slot].domid = domid;
        xp->busy[free_slot].what = what;
    }
    pthread_mutex_unlock(&xp->busy_lock);
    return rc;
}

static void xh_busy_release(xen_priv *xp, uint32_t domid)
{
    int i;

    pthread_mutex_lock(&xp->busy_lock);
    for (i = 0; i < XH_MAX_BUSY; i++)
        if (xp->busy[i].what && xp->busy[i].domid == domid)
            xp->busy[i].what = NULL;
    pthread_mutex_unlock(&xp->busy_lock);
}

/*
 * Use the save-helper shim (xen_save_shim.c) when it is installed: libxl
 * then runs our wrapper as its save helper.  $XLMIG_SAVE_HELPER names
 * another wrapper; "none" keeps libxenguest's default policy.
 */
static void xh_shim_setup(libxlmig__gc *gc, xen_priv *xp)
{
    const char *helper = libxlmig__tunable_save_helper();
    const char *run = libxlmig__tunable_run_dir();
    char *dir;

    xp->precopy_dir[0] = '\0';
    if (helper && !strcmp(helper, "none")) {
        LOG(INFO, "pre-copy: libxenguest's default policy "
            "(XLMIG_SAVE_HELPER=none)");
        return;
    }
    if (!helper || !*helper)
        helper = XLMIG_SHIMDIR "/" XLMIG_SHIM_HELPER;
    if (access(helper, X_OK)) {
        LOG(WARN, "pre-copy: %s missing, libxenguest's default policy "
            "(5 rounds, downtime not bounded) will run", helper);
        return;
    }
    dir = GCSPRINTF("%s/precopy", run && *run ? run : "/run/xlmig");
    mkdir(run && *run ? run : "/run/xlmig", 0700);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        LOGE(WARN, "pre-copy: cannot create %s; default policy", dir);
        return;
    }
    /* Before any thread starts: libxl reads it when it spawns helpers. */
    setenv("LIBXL_SAVE_HELPER", helper, 1);
    setenv(XLMIG_SHIM_ENV_DIR, dir, 1);
    snprintf(xp->precopy_dir, sizeof(xp->precopy_dir), "%s", dir);
    LOG(INFO, "pre-copy: xlmig's downtime-bounded policy through %s "
        "(libxenguest " XLMIG_SHIM_XENGUEST_VERSION ")", helper);
}

/*
 * The shim's report of one save (PRECOPY_DIR/DOMID.progress, a line per
 * policy decision, then "done"), read while the save runs, from the
 * relay's tick, and once more after it: the rounds go into the stats and
 * the progress callback as they come.
 */
typedef struct xh_shim_reader {
    /* caller-set */
    libxlmig_ctx *ctx;
    xen_priv *xp;
    uint32_t domid;
    const libxlmig__engine_opts *o;
    libxlmig_stats *st;
    const libxlmig__transport *t;  /* the stream's bytes are its count */
    uint64_t b0;                   /* t->bytes_sent as the save began */
    uint64_t t0_us;                /* the save began */
    /* private */
    FILE *f;                       /* the report, once the shim made it */
    long off;                      /* of the first line not read yet */
    uint64_t prev_elapsed_ms;      /* of the last round line */
    unsigned long long stop_wire;  /* stream bytes at the last decision */
    uint64_t *wire;                /* the relay's byte count, shared with
                                    * the shim (DOMID.wire), or NULL */
} xh_shim_reader;

/*
 * Hand the shim the parameters of domid's save, and the shared page where
 * the relay counts the stream's bytes (sr->wire), which the shim's
 * bandwidth needs: its stream fd is a local socket.
 */
static void xh_shim_params(libxlmig__gc *gc, xh_shim_reader *sr)
{
    xen_priv *xp = sr->xp;
    const libxlmig_params *p = &sr->o->params;
    uint32_t domid = sr->domid;
    char *path;
    void *m;
    FILE *f;
    int fd;

    if (!xp->precopy_dir[0])
        return;
    path = GCSPRINTF("%s/%u.progress", xp->precopy_dir, domid);
    unlink(path);
    path = GCSPRINTF("%s/%u.wire", xp->precopy_dir, domid);
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 4096)) {
        LOGE(WARN, "cannot create %s: the pre-copy policy will not know "
             "the bandwidth", path);
    } else {
        m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            LOGE(WARN, "cannot map %s", path);
        else
            sr->wire = m;
    }
    if (fd >= 0) close(fd);
    path = GCSPRINTF("%s/%u.params", xp->precopy_dir, domid);
    f = fopen(path, "w");
    if (!f) {
        LOGE(WARN, "cannot write %s: this save runs libxenguest's default "
             "policy", path);
        return;
    }
    fprintf(f, "downtime_limit_ms=%llu\nmax_rounds=%u\nmax_time_ms=%llu\n"
            "abort_on_limit=%d\nauto_converge=%d\nthrottle_initial_pct=%u\n"
            "throttle_step_pct=%u\nthrottle_max_pct=%u\n",
            (unsigned long long)p->downtime_limit_ms, p->max_rounds,
            (unsigned long long)p->max_time_ms,
            p->on_limit == LIBXLMIG_LIMIT_ABORT, p->auto_converge,
            p->throttle_initial_pct, p->throttle_step_pct,
            p->throttle_max_pct);
    fclose(f);
}

/* One line of the shim's report into the stats (and the log); a round
 * line while the save runs (live) is a round's progress. */
static void xh_shim_line(libxlmig__gc *gc, xh_shim_reader *sr,
                         const char *line, bool live)
{
    libxlmig_stats *st = sr->st;
    unsigned long long ms, fin, wire, exp, stop_wire, elapsed;
    unsigned rounds, round, pct;
    double bw;
    long dirty;

    LOGD(INFO, sr->domid, "pre-copy: %s", line);
    if (sscanf(line, "round=%u dirty_pages=%ld wire_bytes=%llu "
               "bandwidth=%lf expected_downtime_ms=%llu elapsed_ms=%llu",
               &round, &dirty, &stop_wire, &bw, &exp, &elapsed) == 6) {
        /* round=N: N rounds sent, the next one's pages counted: the
         * stats say the last round done, as the engine's do. */
        st->round = round ? round - 1 : 0;
        st->remaining_bytes = dirty > 0 ? (uint64_t)dirty * 4096 : 0;
        st->expected_downtime_ms = exp;
        st->bandwidth = (uint64_t)bw;
        st->round_pages = dirty > 0 ? (uint64_t)dirty : 0;
        /* Dirtied while the last round was sent, over its time. */
        if (elapsed > sr->prev_elapsed_ms && dirty > 0)
            st->dirty_rate = (uint64_t)dirty * 1000 /
                             (elapsed - sr->prev_elapsed_ms);
        sr->prev_elapsed_ms = elapsed;
        sr->stop_wire = stop_wire;
        if (strstr(line, " action=stop "))
            st->state = LIBXLMIG_STATE_STOP_AND_COPY;
        if (live && sr->o->progress) {
            st->total_time_ms = (libxlmig__now_us() - sr->t0_us) / 1000;
            sr->o->progress(sr->o->progress_user, st);
        }
    } else if (sscanf(line, "done rc=%*d rounds=%u total_ms=%llu "
                      "final_us=%llu wire_bytes=%llu", &rounds, &ms,
                      &fin, &wire) == 4) {
        st->round = rounds;
        /* From the stop decision to the end of the save: the guest's
         * pause is within it (an upper bound). */
        st->downtime_us = fin;
        /* Bytes after the stop decision: the last batches. */
        if (sr->stop_wire && wire >= sr->stop_wire)
            st->downtime_bytes = wire - sr->stop_wire;
    } else if (sscanf(line, "throttle=%u cap=", &pct) == 1) {
        st->throttle_pct = pct;
        if (pct > st->throttle_max_pct)
            st->throttle_max_pct = pct;
    }
}

/* The lines the shim completed since the last call. */
static void xh_shim_read(libxlmig__gc *gc, xh_shim_reader *sr, bool live)
{
    char line[512];
    size_t len;

    if (!sr->xp->precopy_dir[0])
        return;
    if (!sr->f) {
        sr->f = fopen(GCSPRINTF("%s/%u.progress", sr->xp->precopy_dir,
                                sr->domid), "re");
        if (!sr->f)
            return;                 /* not yet */
    }
    clearerr(sr->f);
    if (fseek(sr->f, sr->off, SEEK_SET))
        return;
    while (fgets(line, sizeof(line), sr->f)) {
        len = strlen(line);
        if (!len || (line[len - 1] != '\n' && len < sizeof(line) - 1))
            break;                  /* being written: next time */
        sr->off += (long)len;
        line[strcspn(line, "\n")] = '\0';
        xh_shim_line(gc, sr, line, live);
    }
}

/* The relay's tick while the save runs (relay thread): bytes, time, and
 * the rounds the shim reported since. */
static void xh_save_tick(void *user)
{
    xh_shim_reader *sr = user;
    GC_INIT(sr->ctx);

    sr->st->total_bytes = sr->t->bytes_sent - sr->b0;
    sr->st->total_time_ms = (libxlmig__now_us() - sr->t0_us) / 1000;
    xh_shim_read(gc, sr, true);
    GC_FREE;
}

/*
 * After the save: the rest of the shim's report into st (and the log);
 * remove its files.  Without them nothing is known of the rounds.
 */
static void xh_shim_collect(libxlmig__gc *gc, xh_shim_reader *sr)
{
    const char *dir = sr->xp->precopy_dir;
    uint32_t domid = sr->domid;

    if (!dir[0])
        return;
    xh_shim_read(gc, sr, false);
    if (!sr->f)
        LOGD(WARN, domid, "the pre-copy shim left no report (%s/%u."
             "progress): was it loaded?", dir, domid);
    else
        fclose(sr->f);
    sr->f = NULL;
    if (sr->wire)
        munmap(sr->wire, 4096);
    sr->wire = NULL;
    unlink(GCSPRINTF("%s/%u.progress", dir, domid));
    unlink(GCSPRINTF("%s/%u.params", dir, domid));
    unlink(GCSPRINTF("%s/%u.wire", dir, domid));
}

/* Name -> domid; logs "not found" as the error. */
static int xh_domid(libxlmig__gc *gc, xen_priv *xp, const char *name,
                    uint32_t *domid_r)
{
    if (libxl_name_to_domid(xp->lctx, name, domid_r)) {
        LOG(ERROR, "domain '%s' not found on this host", name);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    return 0;
}

static bool xh_exists(void *priv, const char *name)
{
    xen_priv *xp = priv;
    uint32_t domid;

    return libxl_name_to_domid(xp->lctx, name, &domid) == 0;
}

/* A strdup that cannot fail (facts own malloc'd strings). */
static char *xh_strdup(libxlmig__gc *gc, const char *s)
{
    char *d = strdup(s ? s : "");

    if (!d)
        libxlmig__alloc_failed(CTX, __func__, 1, strlen(s ? s : "") + 1);
    return d;
}

/*
 * The disks and bridged vifs the target must provide, with the storage
 * identifier of each disk here (host/storage.h).  Skipped: empty CD-ROM
 * drives, and disks whose target is no path but a block script's
 * argument (iSCSI, DRBD, NBD: "iqn=...", a resource, "host:port"), which
 * the script finds on the target.
 */
static void xh_facts_devices(libxlmig__gc *gc, const libxl_domain_config *dc,
                             libxlmig__dom_facts *f)
{
    int i;

    f->disks = calloc(dc->num_disks ? dc->num_disks : 1, sizeof(*f->disks));
    f->vifs = calloc(dc->num_nics ? dc->num_nics : 1, sizeof(*f->vifs));
    if (!f->disks || !f->vifs)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*f->disks));
    for (i = 0; i < dc->num_disks; i++) {
        const libxl_device_disk *d = &dc->disks[i];
        libxlmig__dom_disk *o = &f->disks[f->nr_disks];
        char *id, *why;
        bool present;

        if (!d->pdev_path || !*d->pdev_path)
            continue;
        if (d->pdev_path[0] != '/') {
            LOG(INFO, "disk %s (%s) is attached by block script %s: its "
                "target is the script's to find", d->vdev, d->pdev_path,
                d->script ? d->script : "?");
            continue;
        }
        libxlmig__storage_ident(gc, d->pdev_path, &present, &id, &why);
        o->vdev = xh_strdup(gc, d->vdev);
        o->path = xh_strdup(gc, d->pdev_path);
        o->id = id ? xh_strdup(gc, id) : NULL;
        o->why = why ? xh_strdup(gc, why) : NULL;
        f->nr_disks++;
    }
    for (i = 0; i < dc->num_nics; i++) {
        const libxl_device_nic *n = &dc->nics[i];
        const char *script = n->script ? strrchr(n->script, '/') : NULL;

        script = script ? script + 1 : n->script;
        /* vif-route and vif-nat join no bridge; any other script (the
         * default vif-bridge, vif-openvswitch, a site's own) the one the
         * config names. */
        if (script && (!strcmp(script, "vif-route") ||
                       !strcmp(script, "vif-nat")))
            continue;
        f->vifs[f->nr_vifs].devid = (unsigned)n->devid;
        f->vifs[f->nr_vifs].bridge = xh_strdup(gc, n->bridge && *n->bridge
                                                   ? n->bridge : "xenbr0");
        /* Open vSwitch: BRIDGE[.VLAN][:TRUNKS]. */
        if (script && !strcmp(script, "vif-openvswitch"))
            f->vifs[f->nr_vifs].bridge[strcspn(f->vifs[f->nr_vifs].bridge,
                                               ".:")] = 0;
        f->nr_vifs++;
    }
}

static int xh_facts(libxlmig__gc *gc, void *priv, const char *name,
                    libxlmig__dom_facts *f)
{
    xen_priv *xp = priv;
    libxl_domain_config dc;
    libxl_dominfo di;
    uint32_t domid;
    char *json = NULL;
    int r, rc;

    libxl_domain_config_init(&dc);
    libxl_dominfo_init(&di);
    rc = xh_domid(gc, xp, name, &domid);
    if (rc) goto out;
    if (domid == 0) {
        LOG(ERROR, "Domain-0 cannot be migrated");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    r = libxl_domain_info(xp->lctx, &di, domid);
    if (r) {
        LOGD(ERROR, domid, "libxl_domain_info failed: %s",
             libxlmig_strerror(r));
        rc = r;
        goto out;
    }
    r = libxl_retrieve_domain_configuration(xp->lctx, domid, &dc, NULL);
    if (r) {
        LOGD(ERROR, domid, "cannot retrieve the configuration of %s: %s",
             name, libxlmig_strerror(r));
        rc = r;
        goto out;
    }
    json = libxl_domain_config_to_json(xp->lctx, &dc);
    if (!json) {
        LOGD(ERROR, domid, "cannot encode the configuration of %s", name);
        rc = LIBXLMIG_ERROR_JSON;
        goto out;
    }
    f->config_json = json;
    json = NULL;
    xh_facts_devices(gc, &dc, f);
    f->pv = dc.c_info.type == LIBXL_DOMAIN_TYPE_PV;
    f->memory_kib = di.max_memkb > di.current_memkb ? di.max_memkb
                                                    : di.current_memkb;
    rc = 0;
 out:
    free(json);
    libxl_dominfo_dispose(&di);
    libxl_domain_config_dispose(&dc);
    return rc;
}

static int xen_domain_cpu_policy(libxlmig__gc *gc, void *priv,
                                 const char *name, struct policy_cpuid *p)
{
    uint32_t domid;
    int rc;

    rc = xh_domid(gc, priv, name, &domid);
    if (rc) return rc;
    return xen_domid_cpu_policy(gc, priv, domid, p);
}

static int xh_resume(libxlmig__gc *gc, void *priv, const char *name)
{
    xen_priv *xp = priv;
    uint32_t domid;
    int r, rc;

    rc = xh_domid(gc, xp, name, &domid);
    if (rc) return rc;
    /* Co-operative resume: the guest carries on from its suspend. */
    r = libxl_domain_resume(xp->lctx, domid, 1, NULL);
    if (r) {
        LOGD(ERROR, domid, "libxl_domain_resume of %s failed: %s", name,
             libxlmig_strerror(r));
        return r;
    }
    return 0;
}

/*
 * Our header and the config, then libxl's own stream, all through the
 * transport: libxl_domain_suspend writes into a local socket pair and a
 * relay thread frames what comes out on t (xen_relay.h).  The relay's
 * tick follows the shim's rounds meanwhile and reports them.
 */
static int xh_save_handoff(libxlmig__gc *gc, void *priv, const char *name,
                           libxlmig__transport *t,
                           const libxlmig__engine_opts *o,
                           libxlmig_stats *st)
{
    xen_priv *xp = priv;
    libxlmig__dom_facts f;
    libxlmig__xen_relay relay;
    xh_shim_reader sr;
    xh_throttle guard = { 0, 0, false };
    xen_hdr hdr;
    uint32_t domid, len;
    uint64_t t0, t1, b0;
    int pair[2] = { -1, -1 };
    int r = 0, rrc = 0, rc;
    int timeout_ms = t->timeout_ms;

    libxlmig__dom_facts_init(&f);
    libxlmig__xen_relay_init(&relay);
    memset(&sr, 0, sizeof(sr));
    rc = xh_domid(gc, xp, name, &domid);
    if (rc) goto out;
    rc = xh_facts(gc, xp, name, &f);
    if (rc) goto out;
    len = (uint32_t)strlen(f.config_json) + 1;
    if (len > XEN_HDR_MAX_CONFIG) {
        LOGD(ERROR, domid, "the configuration of %s is too large (%u "
             "bytes)", name, len);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    memcpy(hdr.magic, XEN_HDR_MAGIC, sizeof(hdr.magic));
    hdr.version = htonl(XEN_HDR_VERSION_RELAY);
    hdr.config_len = htonl(len);
    t0 = libxlmig__now_us();
    b0 = t->bytes_sent;
    rc = libxlmig__transport_write_all(gc, t, &hdr, sizeof(hdr));
    if (!rc) rc = libxlmig__transport_write_all(gc, t, f.config_json, len);
    if (rc) goto out;
    st->state = LIBXLMIG_STATE_PRECOPY;
    st->nr_pages = f.memory_kib / 4;
    rc = xh_busy_claim(gc, xp, domid, "save");
    if (rc) goto out;
    /* The cap to put back if the shim's throttle outlives its helper. */
    {
        libxl_domain_sched_params sp;

        libxl_domain_sched_params_init(&sp);
        if (!libxl_domain_sched_params_get(xp->lctx, domid, &sp)) {
            guard.domid = domid;
            guard.cap = sp.cap;
            guard.active = true;
        }
        libxl_domain_sched_params_dispose(&sp);
    }
    sr.ctx = CTX;
    sr.xp = xp;
    sr.domid = domid;
    sr.o = o;
    sr.st = st;
    sr.t = t;
    sr.b0 = b0;
    sr.t0_us = t0;
    xh_shim_params(gc, &sr);
    rc = libxlmig__xen_relay_pair(gc, pair);
    if (rc) goto released;
    /* The bandwidth limit is t's to apply (over every path): every byte
     * of the stream is written on t here. */
    libxlmig__transport_set_limit(t, o->params.bandwidth_limit);
    relay.t = t;
    relay.fd = pair[1];
    t->timeout_ms = XEN_STREAM_TIMEOUT_MS;
    relay.tick = xh_save_tick;
    relay.tick_user = &sr;
    relay.tick_ms = XEN_TICK_MS;
    relay.mirror = sr.wire;
    rc = libxlmig__xen_relay_send_start(gc, &relay);
    if (rc) goto released;
    /* libxl's live migration: pre-copy rounds, then the guest is
     * suspended and the rest sent; it stays suspended on success. */
    r = libxl_domain_suspend(xp->lctx, domid, pair[0], LIBXL_SUSPEND_LIVE,
                             NULL);
    /* libxl and its helper are done writing: the relay sends the rest,
     * sees the end of input and ends; then END or ABORT. */
    shutdown(pair[0], SHUT_WR);
    rrc = libxlmig__xen_relay_wait(&relay);
    if (!rrc)
        rrc = libxlmig__xen_relay_send_end(gc, &relay, r == 0);
 released:
    t1 = libxlmig__now_us();
    xh_busy_release(xp, domid);
    xh_shim_collect(gc, &sr);
    xh_throttle_restore(gc, xp, &guard);
    if (rc) goto out;                  /* no relay: libxl never ran */
    st->total_time_ms = (t1 - t0) / 1000;
    st->total_bytes = t->bytes_sent - b0;
    st->precopy_bytes = st->total_bytes > st->downtime_bytes
                        ? st->total_bytes - st->downtime_bytes : 0;
    st->throughput = t1 > t0 ? st->total_bytes * 1000000 / (t1 - t0) : 0;
    if (r || rrc) {
        /* libxl says "guest timed out" for any save that failed before
         * the guest was asked to suspend: tell a broken stream apart. */
        if (rrc) {
            LOGD(ERROR, domid, "the stream of %s to the target broke "
                 "(libxl_domain_suspend: %s)", name,
                 r ? libxlmig_strerror(r) : "done");
            r = LIBXLMIG_ERROR_IO;
        } else {
            LOGD(ERROR, domid, "libxl_domain_suspend (live) of %s failed: "
                 "%s", name, libxlmig_strerror(r));
        }
        /* Whatever state the failure left it in, make it run again. */
        if (libxl_domain_resume(xp->lctx, domid, 1, NULL))
            LOGD(WARN, domid, "%s: libxl_domain_resume after the failed "
                 "save failed too (it may have been running already)",
                 name);
        st->state = LIBXLMIG_STATE_ABORTED;
        rc = r == ERROR_FAIL ? LIBXLMIG_ERROR_IO : r;
        goto out;
    }
    st->state = LIBXLMIG_STATE_DONE;
    rc = 0;
 out:
    if (rc && st->state != LIBXLMIG_STATE_ABORTED &&
        st->state != LIBXLMIG_STATE_SETUP)
        st->state = LIBXLMIG_STATE_ABORTED;
    if (o->progress && st->state != LIBXLMIG_STATE_SETUP)
        o->progress(o->progress_user, st);
    if (pair[0] >= 0) close(pair[0]);
    if (pair[1] >= 0) close(pair[1]);
    t->timeout_ms = timeout_ms;
    libxlmig__dom_facts_dispose(&f);
    return rc;
}

static int xh_rename(libxlmig__gc *gc, void *priv, const char *from,
                     const char *to)
{
    xen_priv *xp = priv;
    uint32_t domid;
    int r, rc;

    rc = xh_domid(gc, xp, from, &domid);
    if (rc) return rc;
    r = libxl_domain_rename(xp->lctx, domid, from, to);
    if (r) {
        LOGD(ERROR, domid, "cannot rename %s to %s: %s", from, to,
             libxlmig_strerror(r));
        return r;
    }
    return 0;
}

/* Look name up and apply a synchronous libxl domain operation to it. */
static int xh_domain_op(libxlmig__gc *gc, xen_priv *xp, const char *name,
                        int (*op)(libxl_ctx *, uint32_t,
                                  const libxl_asyncop_how *),
                        const char *what)
{
    uint32_t domid;
    int r, rc;

    rc = xh_domid(gc, xp, name, &domid);
    if (rc) return rc;
    r = op(xp->lctx, domid, NULL);
    if (r) {
        LOGD(ERROR, domid, "cannot %s %s: %s", what, name,
             libxlmig_strerror(r));
        return r;
    }
    return 0;
}

static int xh_destroy(libxlmig__gc *gc, void *priv, const char *name)
{
    return xh_domain_op(gc, priv, name, libxl_domain_destroy, "destroy");
}

static int xh_config_memory(libxlmig__gc *gc, void *priv,
                            const char *config_json, uint64_t *kib_r)
{
    xen_priv *xp = priv;
    libxl_domain_config dc;
    int r;

    libxl_domain_config_init(&dc);
    r = libxl_domain_config_from_json(xp->lctx, &dc, config_json);
    if (r)
        LOG(ERROR, "cannot parse a domain configuration: %s",
            libxlmig_strerror(r));
    else
        *kib_r = dc.b_info.max_memkb > dc.b_info.target_memkb
                 ? dc.b_info.max_memkb : dc.b_info.target_memkb;
    libxl_domain_config_dispose(&dc);
    return r ? LIBXLMIG_ERROR_JSON : 0;
}

/*
 * Is the config that came in the stream (got) the one announced before
 * it (json)?  What the target allocated and checked must be what runs:
 * the same guest (uuid, type), memory and vCPUs.
 */
static int xh_config_same(libxlmig__gc *gc, xen_priv *xp, const char *name,
                          const libxl_domain_config *got, const char *json)
{
    libxl_domain_config want;
    int r, rc = 0;

    libxl_domain_config_init(&want);
    r = libxl_domain_config_from_json(xp->lctx, &want, json);
    if (r) {
        LOG(ERROR, "cannot parse the announced configuration of %s: %s",
            name, libxlmig_strerror(r));
        rc = LIBXLMIG_ERROR_JSON;
    } else if (libxl_uuid_compare(&want.c_info.uuid, &got->c_info.uuid) ||
               want.c_info.type != got->c_info.type ||
               want.b_info.max_memkb != got->b_info.max_memkb ||
               want.b_info.target_memkb != got->b_info.target_memkb ||
               want.b_info.max_vcpus != got->b_info.max_vcpus) {
        LOG(ERROR, "the configuration in the stream of %s is not the one "
            "announced (%llu KiB, %d vCPUs there; %llu KiB, %d vCPUs "
            "announced): refused", name,
            (unsigned long long)got->b_info.max_memkb,
            got->b_info.max_vcpus,
            (unsigned long long)want.b_info.max_memkb,
            want.b_info.max_vcpus);
        rc = LIBXLMIG_ERROR_PROTOCOL;
    }
    libxl_domain_config_dispose(&want);
    return rc;
}

static int xh_restore_paused(libxlmig__gc *gc, void *priv,
                             libxlmig__transport *t, const char *name,
                             const char *config_json,
                             const libxlmig__engine_opts *o,
                             libxlmig_stats *st)
{
    xen_priv *xp = priv;
    libxl_domain_config dc;
    libxl_domain_restore_params params;
    libxlmig__xen_relay relay;
    xen_hdr hdr;
    uint32_t domid = INVALID_DOMID, len, version;
    uint64_t t0, b0;
    char *json = NULL;
    int pair[2] = { -1, -1 };
    int r, rrc = 0, rc;
    int timeout_ms = t->timeout_ms;

    libxl_domain_config_init(&dc);
    libxl_domain_restore_params_init(&params);
    libxlmig__xen_relay_init(&relay);
    t0 = libxlmig__now_us();
    b0 = t->bytes_received;
    rc = libxlmig__transport_read_all(gc, t, &hdr, sizeof(hdr),
                                      "Xen migration header");
    if (rc) goto out;
    len = ntohl(hdr.config_len);
    version = ntohl(hdr.version);
    if (!memcmp(hdr.magic, XEN_HDR_MAGIC, sizeof(hdr.magic)) &&
        version == XEN_HDR_VERSION_UNFRAMED) {
        LOG(ERROR, "the stream for %s is a Xen migration of an earlier "
            "xlmig (bad header: the source sends libxl's stream unframed, "
            "header version %u; this xlmig takes only version %u): "
            "refused; update the source", name, version,
            XEN_HDR_VERSION_RELAY);
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    if (memcmp(hdr.magic, XEN_HDR_MAGIC, sizeof(hdr.magic)) ||
        version != XEN_HDR_VERSION_RELAY || len == 0 ||
        len > XEN_HDR_MAX_CONFIG) {
        LOG(ERROR, "the stream for %s is not a Xen migration of this xlmig "
            "(bad header: is the source another backend or version?)", name);
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    json = libxlmig__zalloc(gc, len + 1);
    rc = libxlmig__transport_read_all(gc, t, json, len,
                                      "Xen domain configuration");
    if (rc) goto out;
    json[len] = '\0';
    r = libxl_domain_config_from_json(xp->lctx, &dc, json);
    if (r) {
        LOG(ERROR, "cannot parse the configuration of %s: %s", name,
            libxlmig_strerror(r));
        rc = LIBXLMIG_ERROR_JSON;
        goto out;
    }
    if (config_json) {
        rc = xh_config_same(gc, xp, name, &dc, config_json);
        if (rc) goto out;
    }
    free(dc.c_info.name);
    dc.c_info.name = strdup(name);
    params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
    params.stream_version = XEN_STREAM_VERSION;
    /* The relay feeds libxl's end of a local pair from t. */
    rc = libxlmig__xen_relay_pair(gc, pair);
    if (rc) goto out;
    relay.t = t;
    relay.fd = pair[1];
    t->timeout_ms = XEN_STREAM_TIMEOUT_MS;
    rc = libxlmig__xen_relay_recv_start(gc, &relay);
    if (rc) goto out;
    st->state = LIBXLMIG_STATE_PRECOPY;
    /* libxl leaves the restored domain paused. */
    r = libxl_domain_create_restore(xp->lctx, &dc, &domid, pair[0], -1,
                                    &params, NULL, NULL);
    /* A failed libxl reads no more: the relay stops at its next write
     * instead of waiting for the END frame. */
    if (r)
        shutdown(pair[0], SHUT_RDWR);
    rrc = libxlmig__xen_relay_wait(&relay);
    st->total_time_ms = (libxlmig__now_us() - t0) / 1000;
    st->total_bytes = t->bytes_received - b0;
    if (r || rrc) {
        if (r)
            LOG(ERROR, "libxl could not restore %s: %s%s", name,
                libxlmig_strerror(r), rrc ? " (the stream failed)" : "");
        else
            LOG(ERROR, "the stream of %s did not end as it should: the "
                "restored domain is destroyed", name);
        /* libxl destroys a half-made domain itself; make sure. */
        if (domid != (uint32_t)INVALID_DOMID && domid != 0)
            libxl_domain_destroy(xp->lctx, domid, NULL);
        else if (xh_exists(xp, name) &&
                 !libxl_name_to_domid(xp->lctx, name, &domid) && domid)
            libxl_domain_destroy(xp->lctx, domid, NULL);
        st->state = LIBXLMIG_STATE_ABORTED;
        rc = r ? r : rrc;
        goto out;
    }
    st->state = LIBXLMIG_STATE_DONE;
    LOGD(INFO, domid, "restored %s (paused) in %llu ms, %llu bytes", name,
         (unsigned long long)st->total_time_ms,
         (unsigned long long)st->total_bytes);
    rc = 0;
 out:
    if (pair[0] >= 0) close(pair[0]);
    if (pair[1] >= 0) close(pair[1]);
    t->timeout_ms = timeout_ms;
    libxl_domain_restore_params_dispose(&params);
    libxl_domain_config_dispose(&dc);
    return rc;
}

static int xh_unpause_release(libxlmig__gc *gc, void *priv, const char *name)
{
    return xh_domain_op(gc, priv, name, libxl_domain_unpause, "unpause");
}

/*
 * Nothing to send: a Xen guest's netfront announces itself (gratuitous
 * ARP) when it reconnects after the resume on the new host.
 */
static void xh_announce(libxlmig__gc *gc, void *priv, const char *name)
{
}

/* ---- throttling ------------------------------------------------------ */

/*
 * Put the scheduler cap a throttle replaced back (the shim throttles the
 * guest during a save and restores the cap itself; we do it when the
 * helper died first).  A no-op when nothing is in force or the cap is
 * back already.
 */
static int xh_throttle_restore(libxlmig__gc *gc, xen_priv *xp,
                               xh_throttle *t)
{
    libxl_domain_sched_params sp;
    int r, rc = 0;

    if (!t->active)
        return 0;
    libxl_domain_sched_params_init(&sp);
    r = libxl_domain_sched_params_get(xp->lctx, t->domid, &sp);
    if (!r && sp.cap != t->cap) {
        LOGD(WARN, t->domid, "the throttle's scheduler cap %d of domain %u "
             "outlived the save helper; putting %d back", sp.cap, t->domid,
             t->cap);
        sp.cap = t->cap;
        r = libxl_domain_sched_params_set(xp->lctx, t->domid, &sp);
    }
    if (r) {
        LOGD(ERROR, t->domid, "cannot restore the scheduler cap %d of "
             "domain %u: %s", t->cap, t->domid, libxlmig_strerror(r));
        rc = r;
    } else {
        t->active = false;
    }
    libxl_domain_sched_params_dispose(&sp);
    return rc;
}

/* ---- the user's operations ------------------------------------------ */

static int xen_pause(libxlmig__gc *gc, void *priv, const char *name)
{
    return xh_domain_op(gc, priv, name, libxl_domain_pause, "pause");
}

static int xen_unpause(libxlmig__gc *gc, void *priv, const char *name)
{
    return xh_domain_op(gc, priv, name, libxl_domain_unpause, "unpause");
}

/* The user's destroy: not of a domain whose log-dirty mode a save or a
 * sample of this process holds (discard is the migration's). */
static int xen_destroy(libxlmig__gc *gc, void *priv, const char *name)
{
    xen_priv *xp = priv;
    uint32_t domid;
    int rc;

    rc = xh_domid(gc, xp, name, &domid);
    if (!rc) rc = xh_busy_claim(gc, xp, domid, "destroy");
    if (rc) return rc;
    xh_busy_release(xp, domid);
    return xh_destroy(gc, priv, name);
}

/* ---- xlmigd ----------------------------------------------------------- */

static int xen_daemon_init(libxlmig__gc *gc, void *priv,
                           const libxlmig__host_daemon_opts *o)
{
    xh_shim_setup(gc, priv);
    return 0;
}

/*
 * Saving to a file and restoring from one are xl's (xl save, xl restore):
 * left out here.
 */
const libxlmig__host_ops libxlmig__host_xen = {
    .name = "xen",
    .open = xen_open,
    .close = xen_close,
    .host_info = xen_host_info,
    .list = xen_list,
    .domain_exists = xh_exists,
    .domain_facts = xh_facts,
    .host_cpu_policy = xen_host_cpu_policy,
    .domain_cpu_policy = xen_domain_cpu_policy,
    /* The prediction before each migration samples through log-dirty
     * mode like xlmig estimate; the save claims it after that. */
    .dirty_sample = xen_dirty_sample,
    .pause = xen_pause,
    .unpause = xen_unpause,
    .destroy = xen_destroy,
    .save_handoff = xh_save_handoff,
    .rename = xh_rename,
    .resume = xh_resume,
    .discard = xh_destroy,
    .config_memory = xh_config_memory,
    .restore_paused = xh_restore_paused,
    .unpause_release = xh_unpause_release,
    .announce = xh_announce,
    .daemon_init = xen_daemon_init,
};
