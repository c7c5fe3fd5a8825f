/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * This node's view of the cluster (cluster/cluster.c): which node it is,
 * listening only on allowed migration addresses, the cluster key, and
 * authenticated connections to other nodes over the allowed migration
 * networks in the config's order.
 */
#ifndef LIBXLMIG_CLUSTER_H
#define LIBXLMIG_CLUSTER_H

#include "core/core.h"
#include "net/net.h"

#define LIBXLMIG_DEFAULT_CONNECT_TIMEOUT_MS 1000

/*
 * An authenticated connection to another node over one migration
 * network.  Ownership: the peer owns its transport.
 */
typedef struct libxlmig__peer {
    libxlmig__transport *t;
    libxlmig__chan chan;
    char *node;              /* authenticated peer node name */
    char *network;           /* network used ("mig0") */
    char *local_addr;        /* our address on it */
    char *peer_addr;         /* theirs */
    char *tried;             /* "mig0: Connection timed out; " etc. */
} libxlmig__peer;

_hidden void libxlmig__peer_init(libxlmig__peer *p);
_hidden void libxlmig__peer_dispose(libxlmig__peer *p);

/*
 * Connect to node over the first allowed migration network that answers,
 * in the config's order, skipping networks before first_net (to fail over
 * after a network broke: pass the index after the broken one), and
 * authenticate both ways with the cluster key.  A network that does not
 * connect is skipped; a peer that fails authentication is not (the error
 * is returned).  LIBXLMIG_ERROR_REFUSED when no allowed network reaches it.
 */
_hidden int libxlmig__peer_connect(libxlmig__gc *gc, libxlmig_cluster *cl,
                                   const char *node, int first_net,
                                   int timeout_ms, libxlmig__peer *p);
/*
 * The same over network net only, for a probe of it: r->connected,
 * r->connect_ms and, on failure, r->error are set.
 */
_hidden int libxlmig__peer_connect_on(libxlmig__gc *gc, libxlmig_cluster *cl,
                                      const char *node, int net,
                                      int timeout_ms, libxlmig__peer *p,
                                      libxlmig_net_probe_result *r);
/*
 * The networks a migration stripes over besides network except: every
 * other allowed private network whose link is up, in the config's order
 * (public ones never: they are a last resort, one at a time).  Fills
 * nets[0..max) and returns how many.
 */
_hidden int libxlmig__cluster_stripe_networks(libxlmig_cluster *cl,
                                              int except, int *nets,
                                              int max);
/*
 * The networks of a migration's paths, one entry per connection, as
 * net/multipath.c stripes over them: first (the network of the
 * connection already made; -1 if unknown) connections_per_network
 * times, then each of libxlmig__cluster_stripe_networks as many times.
 * Fills nets[0..max) and returns how many; the migration's paths and
 * the bandwidth probe of its prediction (probe.c) both follow it.
 */
#define LIBXLMIG__CLUSTER_MAX_PLAN 64
_hidden int libxlmig__cluster_path_plan(libxlmig_cluster *cl, int first,
                                        int *nets, int max);
/*
 * Connects the further paths of a plan, plan[1..np) (plan[0] is the
 * caller's connection), to node, in order.  keep gets each connected
 * peer j and its number on its network (the caller's connection is 0 on
 * plan[0]'s), and returns 0 when it took j (moving what it keeps out of
 * j) or an error to drop it.  A network whose connection fails or is
 * dropped is not tried again, with a warning "WHAT: a further connection
 * over network N does not work; it goes on without: WHY".
 */
typedef int libxlmig__path_keep_fn(libxlmig__gc *gc, libxlmig__peer *j,
                                   int k, void *user);
_hidden void libxlmig__peer_connect_plan(libxlmig__gc *gc,
                                         libxlmig_cluster *cl,
                                         const char *node, const int *plan,
                                         int np, const char *what,
                                         libxlmig__path_keep_fn *keep,
                                         void *user);
/* Index of the network p uses in the config, or -1. */
_hidden int libxlmig__peer_network_index(const libxlmig_cluster *cl,
                                         const libxlmig__peer *p);

/*
 * Listening sockets on every allowed migration address of this node (never
 * a wildcard).  Caller closes the *nr_r fds in fds.
 */
_hidden int libxlmig__cluster_listen(libxlmig__gc *gc, libxlmig_cluster *cl,
                                     int *fds, int max, int *nr_r);
/* The cluster key, loaded once by cluster_open's first user. */
_hidden int libxlmig__cluster_key(libxlmig__gc *gc, libxlmig_cluster *cl,
                                  const libxlmig__key **key_r);
/*
 * Is node a node of the cluster, and addr one of its addresses (its
 * management address or one on a migration network)?  A peer is who the
 * config and the key say it is: its name proven by the handshake, bound
 * to where it connects from.
 */
_hidden bool libxlmig__cluster_peer_ok(const libxlmig_cluster *cl,
                                       const char *node, const char *addr);
/*
 * Secure a new connection to or from another node as the config's
 * transport key says: the mode preamble (a node configured otherwise is
 * refused with a message naming both settings), then for "tls" TLS 1.3
 * on the cluster key (net/tls.c).  node: the node called (client), or
 * NULL (server: any node of the config).
 */
_hidden int libxlmig__cluster_secure(libxlmig__gc *gc, libxlmig_cluster *cl,
                                     libxlmig__transport *t,
                                     const char *node);
/* The node whose address addr ("10.0.0.1:port" or a bare address) is,
 * or NULL. */
_hidden const char *libxlmig__cluster_node_at(const libxlmig_cluster *cl,
                                              const char *addr);
/* This node's name. */
_hidden const char *libxlmig__cluster_self_name(const libxlmig_cluster *cl);

/* Socket options for node connections: keepalive, TCP's user timeout
 * (libxlmig__tunable_user_timeout_ms) and large buffers. */
_hidden void libxlmig__tune_socket(int fd);

#endif /* LIBXLMIG_CLUSTER_H */
