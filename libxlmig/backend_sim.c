/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The simulated hypervisor backend.  Domains are processes hosted by the
 * node daemon (xlmigd --backend=sim); host facts are the Linux machine's.
 */
#include "libxlmig_internal.h"
#include "policy.h"

static int sim_open(libxlmig__gc *gc, void **priv_r)
{
    *priv_r = NULL;
    return 0;
}

static void sim_close(libxlmig_ctx *ctx, void *priv)
{
}

static int sim_host_info(libxlmig__gc *gc, void *priv,
                         libxlmig_host_info *hi)
{
    int rc;

    rc = libxlmig__host_info_linux(gc, hi);
    if (rc) return rc;
    hi->hypervisor = strdup("xlmig-sim " LIBXLMIG_VERSION);
    hi->scheduler = strdup("sim");
    return 0;
}

/* The policy this kernel sees, from the cpuid instruction. */
static int sim_host_cpu_policy(libxlmig__gc *gc, void *priv,
                               struct policy_cpuid *p)
{
    if (!policy_capture_native(p)) {
        LOG(ERROR, "no cpuid instruction on this architecture");
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }
    return 0;
}

const libxlmig__backend_ops libxlmig__backend_sim = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .host_info = sim_host_info,
    .host_cpu_policy = sim_host_cpu_policy,
};
