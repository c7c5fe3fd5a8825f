/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The migration network types of the public interface (libxlmig.h
 * includes this): addresses and prefixes, a failure message, the
 * private/public class of a network, the status of each migration
 * network of this node (libxlmig_cluster_networks) and the ways to reach
 * a peer.  netcfg/ implements the functions on them, which libxlmig
 * exports as libxlmig_net_* calls.  All are plain values; the strings a
 * status or a candidate points to are static or belong to the cluster
 * config they were made from.
 */
#ifndef LIBXLMIG_NETCFG_H
#define LIBXLMIG_NETCFG_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define NETCFG_ADDRSTRLEN INET6_ADDRSTRLEN
#define NETCFG_ERR_MAX 512

/* A failure message; callers keep one per call chain. */
typedef struct netcfg_err {
    char msg[NETCFG_ERR_MAX];
} netcfg_err;

/* An IPv4 or IPv6 address; v4 uses the first 4 bytes of addr. */
typedef struct netcfg_addr {
    int family;              /* AF_INET or AF_INET6 */
    uint8_t addr[16];
} netcfg_addr;

/* A network in CIDR form; host bits are zero. */
typedef struct netcfg_prefix {
    netcfg_addr net;
    unsigned len;            /* prefix length, bits */
} netcfg_prefix;

/* Classification of a migration network on this node. */
typedef enum netcfg_class {
    NETCFG_CLASS_UNKNOWN = 0,   /* no local address on it */
    NETCFG_CLASS_PRIVATE,       /* no route through its interface has a
                                   gateway */
    NETCFG_CLASS_PUBLIC,        /* a route through its interface has one */
} netcfg_class;

/*
 * One migration network as this node sees it.  The input fields come
 * from the cluster config; the classification fills the rest.
 */
typedef struct netcfg_status {
    /* input */
    const char *name;            /* network name from the config */
    netcfg_prefix prefix;        /* its CIDR */
    netcfg_addr local;           /* this node's address on it */
    /* output */
    bool present;                /* local is assigned to an interface */
    char ifname[IF_NAMESIZE];
    int ifindex;
    bool link_up;
    char link_state[16];
    unsigned mtu;
    bool has_gateway;            /* some route through ifname has one */
    bool gateway_default;        /* ... and it is a default route */
    char gateway[NETCFG_ADDRSTRLEN];
    netcfg_class cls;
    const char *range;           /* well-known range of local: "rfc1918",
                                    "ula", "global"...; static */
    bool allowed;                /* usable for migration under policy */
    char reason[NETCFG_ERR_MAX]; /* why not allowed; "" when allowed */
} netcfg_status;

/* One way to reach a peer: our address and interface, and its address. */
typedef struct netcfg_candidate {
    int net;                     /* index into the status array */
    const char *name;            /* network name */
    netcfg_addr local;
    netcfg_addr peer;
    char ifname[IF_NAMESIZE];
    bool is_public;
    /* set by libxlmig_net_connect */
    int result;                  /* 0 ok, else errno (ETIMEDOUT, ...);
                                    -1 not tried */
    double connect_ms;           /* time spent connecting, ms */
} netcfg_candidate;

#endif /* LIBXLMIG_NETCFG_H */
