/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A domain's own interface on the public network of the sim backend: a
 * macvlan (bridge mode) on the node's public interface with the domain's
 * MAC and IPv4 address, so that the domain is a host of its own on that
 * network, reachable by its clients and announced after a move.
 */
#ifndef NETCFG_MACVLAN_H
#define NETCFG_MACVLAN_H

#include <netinet/in.h>
#include <stdint.h>

#include "netcfg.h"

/*
 * Create name (up) on parent with mac and ip/prefixlen.  Fails if name
 * exists.  Needs CAP_NET_ADMIN.
 */
int netcfg_macvlan_add(const char *parent, const char *name,
                       const uint8_t mac[6], struct in_addr ip,
                       unsigned prefixlen, netcfg_err *err);
/* Delete the link name; 0 also if it does not exist. */
int netcfg_link_del(const char *name, netcfg_err *err);
/* The prefix length of the first IPv4 address on ifname, or -1. */
int netcfg_if_prefixlen(const char *ifname);

#endif /* NETCFG_MACVLAN_H */
