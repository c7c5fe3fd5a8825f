/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxlmig_net_probe, the probe of one node over one migration network
 * (`xlmig net check`), refusing what it cannot do with a clear error in
 * the log and in the result: no cluster or node, no timeout, too large a
 * probe, a network or node the cluster does not have, a network this
 * host has no address on.  Probes that reach a node run in
 * tests/netcfg/netns.t, against xlmigd.
 */
#include <stdlib.h>
#include <string.h>

#include "libxlmig.h"
#include "tap.h"

static const struct {
    const char *name;
    bool cluster;                 /* pass the test cluster */
    const char *node;
    int net;
    unsigned timeout_ms;
    uint64_t bytes;
    int rc;
    const char *error;            /* in r.error and the last error */
} cases[] = {
    { "no cluster", false, "b", 0, 1000, 0, LIBXLMIG_ERROR_INVAL,
      "needs the cluster" },
    { "no node", true, NULL, 0, 1000, 0, LIBXLMIG_ERROR_INVAL,
      "a node" },
    { "no connect timeout", true, "b", 0, 0, 0, LIBXLMIG_ERROR_INVAL,
      "a connect timeout" },
    { "more than 1 GiB", true, "b", 0, 1000, (1ULL << 30) + 1,
      LIBXLMIG_ERROR_INVAL, "at most 1 GiB" },
    { "a network past the last", true, "b", 1, 1000, 0,
      LIBXLMIG_ERROR_INVAL, "has no migration network 1" },
    { "a negative network", true, "b", -1, 1000, 0, LIBXLMIG_ERROR_INVAL,
      "has no migration network -1" },
    { "a node of no cluster", true, "zz", 0, 1000, 0,
      LIBXLMIG_ERROR_NOTFOUND, "no node 'zz'" },
    { "no local address on the network", true, "b", 0, 1000, 1 << 20,
      LIBXLMIG_ERROR_REFUSED, "no allowed migration network" },
};

int main(void)
{
    libxlmig_net_probe_result r;
    libxlmig_cluster *cl = NULL;
    libxlmig_ctx *ctx = NULL;
    size_t i;
    int rc;

    plan(5 * ARRAY_SIZE(cases));
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("no context");
    /* Node a's addresses are nowhere on this host: mig0 is unusable. */
    if (libxlmig_cluster_open(ctx, test_data_path("config/minimal.cfg"), "a",
                              &cl))
        bail("cannot open the test cluster: %s", libxlmig_last_error(ctx));
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        memset(&r, 0xff, sizeof(r));
        rc = libxlmig_net_probe(ctx, cases[i].cluster ? cl : NULL,
                                cases[i].node, cases[i].net,
                                cases[i].timeout_ms, cases[i].bytes, 500,
                                &r);
        is_int(cases[i].rc, rc, "%s: refused", cases[i].name);
        like_string(cases[i].error, libxlmig_last_error(ctx),
                    "%s: the log says why", cases[i].name);
        like_string(cases[i].error, r.error, "%s: so does the result",
                    cases[i].name);
        ok(!r.connected && !r.reachable, "%s: nothing reached",
           cases[i].name);
        ok(!r.probe_bytes && !r.throughput && !r.rtt_ms,
           "%s: nothing measured", cases[i].name);
    }
    libxlmig_cluster_free(cl);
    libxlmig_ctx_free(ctx);
    return 0;
}
