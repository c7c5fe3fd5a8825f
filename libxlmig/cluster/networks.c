/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The migration network calls programs need below the cluster (address
 * parsing and formatting, the order of the networks for reaching a peer,
 * connecting and listening bound to a migration address), exported under
 * libxlmig_net_* names: netcfg/ stays internal to the library, and a
 * program that links libxlmig uses libxlmig.h alone.  Each call is the
 * netcfg/ function of the same job, unchanged.
 */
#include "libxlmig.h"
#include "netcfg.h"

int libxlmig_net_addr_parse(const char *s, netcfg_addr *a, netcfg_err *err)
{
    return netcfg_addr_parse(s, a, err);
}

const char *libxlmig_net_addr_str(const netcfg_addr *a, char *buf)
{
    return netcfg_addr_str(a, buf);
}

const char *libxlmig_net_class_str(netcfg_class c)
{
    return netcfg_class_str(c);
}

int libxlmig_net_candidates(const netcfg_status *st, int nr,
                            const netcfg_addr *peer, netcfg_candidate *out,
                            int max)
{
    return netcfg_candidates(st, nr, peer, out, max);
}

int libxlmig_net_connect(netcfg_candidate *c, int nr, uint16_t port,
                         int timeout_ms, int *fd_r, int *used_r,
                         netcfg_err *err)
{
    return netcfg_connect(c, nr, port, timeout_ms, fd_r, used_r, err);
}

int libxlmig_net_listen(const netcfg_status *st, int nr, uint16_t port,
                        int *fds, int max, netcfg_err *err)
{
    return netcfg_listen(st, nr, port, fds, max, err);
}
