/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * netcfg: the migration networks of a node.  Address and prefix parsing,
 * a netlink snapshot of links, addresses and routes (netcfg_linux.c, with
 * libmnl), the private/public classification of each migration network,
 * the allow_public policy, the ordered candidate (local, peer) address
 * pairs for a peer node, and sockets bound to a migration address and its
 * interface for connecting and listening.  Nothing here calls into the
 * libxlmig engine or prints: failures return -1 with a message in a
 * netcfg_err the caller supplies.
 *
 * The types the public interface shares (addresses, status, candidates)
 * are in libxlmig_netcfg.h.  The rest is internal to libxlmig (hidden,
 * not installed): programs reach it through the libxlmig_net_* calls.
 */
#ifndef NETCFG_H
#define NETCFG_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libxlmig_netcfg.h"

/* Parses a literal IPv4/IPv6 address; 0 or -1 (message in err). */
int netcfg_addr_parse(const char *s, netcfg_addr *a, netcfg_err *err);
/* Formats a into buf (NETCFG_ADDRSTRLEN bytes); returns buf. */
const char *netcfg_addr_str(const netcfg_addr *a, char *buf);
bool netcfg_addr_equal(const netcfg_addr *a, const netcfg_addr *b);
/* Parses "ADDR/LEN"; host bits must be zero.  0 or -1 (message). */
int netcfg_prefix_parse(const char *s, netcfg_prefix *p, netcfg_err *err);
bool netcfg_prefix_contains(const netcfg_prefix *p, const netcfg_addr *a);

/*
 * The well-known range an address falls in, as extra information next to
 * the classification: "rfc1918", "ula", "link-local", "loopback",
 * "shared" (RFC 6598), "documentation" or "global".  Static string.
 */
const char *netcfg_addr_range(const netcfg_addr *a);

/*
 * A snapshot of the kernel's links, addresses and routes (all tables),
 * taken with one netlink dump each.  Read-only after netcfg_snapshot_take.
 */
typedef struct netcfg_link {
    int ifindex;
    char name[IF_NAMESIZE];
    unsigned flags;          /* IFF_* */
    unsigned operstate;      /* IF_OPER_* */
    unsigned mtu;            /* bytes */
} netcfg_link;

typedef struct netcfg_ifaddr {
    int ifindex;
    netcfg_addr addr;
    unsigned prefixlen;
} netcfg_ifaddr;

typedef struct netcfg_route {
    int oif;                 /* output interface; 0 if none */
    netcfg_prefix dst;       /* len 0: default route */
    bool has_gateway;
    netcfg_addr gateway;
    uint32_t table;
} netcfg_route;

typedef struct netcfg_snapshot {
    netcfg_link *links;
    int nr_links;
    netcfg_ifaddr *addrs;
    int nr_addrs;
    netcfg_route *routes;
    int nr_routes;
} netcfg_snapshot;

/* Dumps links, addresses and routes.  Free with netcfg_snapshot_free. */
int netcfg_snapshot_take(netcfg_snapshot **snap_r, netcfg_err *err);
void netcfg_snapshot_free(netcfg_snapshot *snap);
const netcfg_link *netcfg_snapshot_link(const netcfg_snapshot *snap,
                                        int ifindex);
/* The local interface address equal to a, or NULL. */
const netcfg_ifaddr *netcfg_snapshot_find_addr(const netcfg_snapshot *snap,
                                               const netcfg_addr *a);

/* A link is usable when it is administratively up and has carrier. */
bool netcfg_link_is_up(const netcfg_link *l);
/* "up", "down" (admin), "no-carrier", or the operstate name. */
const char *netcfg_link_state_str(const netcfg_link *l);

const char *netcfg_class_str(netcfg_class c);

/*
 * Classifies st->local using snap and applies the policy: a public
 * network is allowed only with allow_public; cfg_file names the config
 * in the refusal message.
 */
void netcfg_classify(const netcfg_snapshot *snap, netcfg_status *st,
                     bool allow_public, const char *cfg_file);

/*
 * Orders the networks for reaching a peer whose addresses are peer[i]
 * (one per status entry, same order).  Allowed private networks come
 * first in config order, then allowed public ones; networks that are not
 * allowed, have no local address or whose link is down are left out.
 * Writes at most max entries; returns how many.
 */
int netcfg_candidates(const netcfg_status *st, int nr,
                      const netcfg_addr *peer, netcfg_candidate *out,
                      int max);

/*
 * Connects to port on the first candidate that answers, in order: each
 * socket is bound to the candidate's local address and interface
 * (SO_BINDTODEVICE) before a non-blocking connect bounded by timeout_ms.
 * Fills result/connect_ms of every candidate tried.  On success *fd_r is
 * a blocking connected socket and *used_r the index of the candidate;
 * on failure -1 with a message listing every attempt.
 */
int netcfg_connect(netcfg_candidate *c, int nr, uint16_t port,
                   int timeout_ms, int *fd_r, int *used_r, netcfg_err *err);

/*
 * Opens a listening TCP socket on port for each allowed, present network
 * in st (bound to its address and interface): never on a wildcard
 * address.  Writes up to max descriptors to fds; returns the number
 * opened (>= 1) or -1 (message; none left open).
 */
int netcfg_listen(const netcfg_status *st, int nr, uint16_t port,
                  int *fds, int max, netcfg_err *err);

#endif /* NETCFG_H */
