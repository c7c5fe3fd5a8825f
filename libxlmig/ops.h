/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Cluster operations shared by the node service and the client side
 * (ops.c): the maintenance flag on disk, the facts a node adds to its
 * node_info reply (clock, config hash, network classes), and the size
 * limit of the bandwidth probe.
 */
#ifndef LIBXLMIG_OPS_H
#define LIBXLMIG_OPS_H

#include "libxlmig_internal.h"

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
_hidden void libxlmig__node_facts_gen(libxlmig__gc *gc,
                                      struct libxlmig_cluster *cl,
                                      yajl_gen g);

#endif /* LIBXLMIG_OPS_H */
