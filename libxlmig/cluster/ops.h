/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Cluster operations shared by the node service and the client side
 * (ops.c): the maintenance flag on disk, the facts a node adds to its
 * node_info reply (clock, config hash, network classes), and the size
 * limit of the bandwidth probe.
 */
#ifndef LIBXLMIG_OPS_H
#define LIBXLMIG_OPS_H

#include "core/core.h"
#include "net/net.h"
#include "cluster/cluster.h"

struct libxlmig_cluster;

/* Largest bandwidth probe a node accepts (bytes). */
#define LIBXLMIG_SINK_MAX (1ULL << 30)

/*
 * Set or clear this node's maintenance flag ($XLMIG_STATE_DIR or
 * /var/lib/xlmig, file "maintenance"); who names the requester.
 */
_hidden int libxlmig__maintenance_write(libxlmig__gc *gc, bool on,
                                        const char *who);

/*
 * The node_info members describing this node beyond its domains:
 * "time_ms" (wall clock, ms since the epoch), "config_sha256" (of the
 * config file it runs with) and "networks" (each network's class,
 * gateway and whether migration may use it, inspected now).  Generates
 * key/value pairs into an open map.
 */
/* Send bytes into the peer's sink over its connection; *bps_r measured
 * (probe.c).  max_ms 0: all of them in one go; else in growing pieces,
 * ending once about max_ms went by (what was sent by then measures). */
_hidden int libxlmig__peer_probe(libxlmig__gc *gc, libxlmig__peer *p,
                                 uint64_t bytes, unsigned max_ms,
                                 double *bps_r);
/*
 * The bandwidth probe of estimates, drains and predictions: over every
 * path a migration to node would open (libxlmig__cluster_path_plan), all
 * at once, each path as libxlmig__peer_probe with max_ms, or (max_ms 0)
 * its share of bytes.  *bps_r: the sum of the paths' rates; a path that
 * fails is left out with a warning, and the probe fails only when every
 * one does.  *paths_r (may be NULL): how many counted; *networks_r (may
 * be NULL; malloc'd): their networks, "mig0, mig1".
 */
_hidden int libxlmig__probe_paths(libxlmig__gc *gc,
                                  struct libxlmig_cluster *cl,
                                  const char *node, uint64_t bytes,
                                  unsigned max_ms, double *bps_r,
                                  int *paths_r, char **networks_r);
_hidden void libxlmig__node_facts_gen(libxlmig__gc *gc,
                                      struct libxlmig_cluster *cl,
                                      yajl_gen g);

/*
 * Jobs other nodes start here (jobs.c): a drain of this node or the
 * migration of one of its domains, each run by the library in a child
 * of xlmigd, through its control socket (socket), with its config and
 * backend ("sim" or "xen").  jobs_init turns them on (or logs why not);
 * the three requests of the node service "job_start" ({kind:
 * drain|migrate, params, dry_run, cron, domain, target} -> {job, node}),
 * "job_status" ({job, events_offset} -> {running, events,
 * events_offset, exit_status|signal, report}) and "job_stop" ({job})
 * answer into g.
 */
_hidden int libxlmig__jobs_init(libxlmig__gc *gc, const char *socket,
                                const char *config, const char *backend);
_hidden int libxlmig__job_start(libxlmig__gc *gc,
                                struct libxlmig_cluster *cl,
                                const char *asked_by, yajl_val args,
                                yajl_gen g);
_hidden int libxlmig__job_status(libxlmig__gc *gc, yajl_val args,
                                 yajl_gen g);
_hidden int libxlmig__job_stop(libxlmig__gc *gc, const char *asked_by,
                               yajl_val args, yajl_gen g);
/* The jobs remembered, running or ended, as a JSON array (status). */
_hidden void libxlmig__jobs_gen(libxlmig__gc *gc, yajl_gen g);

#endif /* LIBXLMIG_OPS_H */
