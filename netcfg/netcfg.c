/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * netcfg, the portable part: address and prefix parsing, well-known
 * ranges, the private/public classification of a migration network from
 * a snapshot of links and routes, the allow_public policy with its
 * refusal message, and the order of candidate networks for a peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcfg.h"

static int set_err(netcfg_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int set_err(netcfg_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int netcfg_addr_parse(const char *s, netcfg_addr *a, netcfg_err *err)
{
    memset(a, 0, sizeof(*a));
    if (s && inet_pton(AF_INET, s, a->addr) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (s && inet_pton(AF_INET6, s, a->addr) == 1) {
        a->family = AF_INET6;
        return 0;
    }
    return set_err(err, "'%s' is not an IPv4 or IPv6 address", s ? s : "");
}

const char *netcfg_addr_str(const netcfg_addr *a, char *buf)
{
    if (!inet_ntop(a->family, a->addr, buf, NETCFG_ADDRSTRLEN))
        snprintf(buf, NETCFG_ADDRSTRLEN, "?");
    return buf;
}

static size_t addr_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

bool netcfg_addr_equal(const netcfg_addr *a, const netcfg_addr *b)
{
    return a->family == b->family &&
           !memcmp(a->addr, b->addr, addr_len(a->family));
}

/* True when the first len bits of a and b agree. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
    unsigned full = len / 8, rest = len % 8;
    uint8_t mask;

    if (memcmp(a, b, full))
        return false;
    if (!rest)
        return true;
    mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int netcfg_prefix_parse(const char *s, netcfg_prefix *p, netcfg_err *err)
{
    char buf[NETCFG_ADDRSTRLEN + 8];
    const char *slash = s ? strchr(s, '/') : NULL;
    char *end;
    unsigned long len;
    netcfg_addr masked;
    size_t alen;

    memset(p, 0, sizeof(*p));
    if (!slash || (size_t)(slash - s) >= NETCFG_ADDRSTRLEN)
        return set_err(err, "'%s' is not in CIDR form ADDRESS/LENGTH",
                       s ? s : "");
    memcpy(buf, s, slash - s);
    buf[slash - s] = 0;
    if (netcfg_addr_parse(buf, &p->net, NULL))
        return set_err(err, "'%s': '%s' is not an IPv4 or IPv6 address", s,
                       buf);
    errno = 0;
    len = strtoul(slash + 1, &end, 10);
    alen = addr_len(p->net.family);
    if (errno || end == slash + 1 || *end || len > alen * 8)
        return set_err(err, "'%s': prefix length must be 0 to %zu", s,
                       alen * 8);
    p->len = len;
    memset(&masked, 0, sizeof(masked));
    masked.family = p->net.family;
    memcpy(masked.addr, p->net.addr, len / 8);
    if (len % 8)
        masked.addr[len / 8] = p->net.addr[len / 8] &
                               (uint8_t)(0xff << (8 - len % 8));
    if (!netcfg_addr_equal(&masked, &p->net)) {
        char nb[NETCFG_ADDRSTRLEN];

        return set_err(err, "'%s' has host bits set (the network is %s/%lu)",
                       s, netcfg_addr_str(&masked, nb), len);
    }
    return 0;
}

bool netcfg_prefix_contains(const netcfg_prefix *p, const netcfg_addr *a)
{
    return p->net.family == a->family &&
           bits_equal(p->net.addr, a->addr, p->len);
}

static bool in_range(const netcfg_addr *a, int family, const char *net,
                     unsigned len)
{
    netcfg_prefix p;

    memset(&p, 0, sizeof(p));
    p.net.family = family;
    p.len = len;
    inet_pton(family, net, p.net.addr);
    return netcfg_prefix_contains(&p, a);
}

const char *netcfg_addr_range(const netcfg_addr *a)
{
    static const struct {
        int family;
        const char *net;
        unsigned len;
        const char *name;
    } ranges[] = {
        { AF_INET, "10.0.0.0", 8, "rfc1918" },
        { AF_INET, "172.16.0.0", 12, "rfc1918" },
        { AF_INET, "192.168.0.0", 16, "rfc1918" },
        { AF_INET, "169.254.0.0", 16, "link-local" },
        { AF_INET, "127.0.0.0", 8, "loopback" },
        { AF_INET, "100.64.0.0", 10, "shared" },
        { AF_INET, "192.0.2.0", 24, "documentation" },
        { AF_INET, "198.51.100.0", 24, "documentation" },
        { AF_INET, "203.0.113.0", 24, "documentation" },
        { AF_INET6, "fc00::", 7, "ula" },
        { AF_INET6, "fe80::", 10, "link-local" },
        { AF_INET6, "::1", 128, "loopback" },
        { AF_INET6, "2001:db8::", 32, "documentation" },
    };
    size_t i;

    for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if (in_range(a, ranges[i].family, ranges[i].net, ranges[i].len))
            return ranges[i].name;
    return "global";
}

const netcfg_link *netcfg_snapshot_link(const netcfg_snapshot *snap,
                                        int ifindex)
{
    int i;

    for (i = 0; i < snap->nr_links; i++)
        if (snap->links[i].ifindex == ifindex)
            return &snap->links[i];
    return NULL;
}

const netcfg_ifaddr *netcfg_snapshot_find_addr(const netcfg_snapshot *snap,
                                               const netcfg_addr *a)
{
    int i;

    for (i = 0; i < snap->nr_addrs; i++)
        if (netcfg_addr_equal(&snap->addrs[i].addr, a))
            return &snap->addrs[i];
    return NULL;
}

bool netcfg_link_is_up(const netcfg_link *l)
{
    return (l->flags & IFF_UP) && (l->flags & IFF_RUNNING);
}

const char *netcfg_link_state_str(const netcfg_link *l)
{
    if (!(l->flags & IFF_UP))
        return "down";
    if (!(l->flags & IFF_RUNNING))
        return "no-carrier";
    return "up";
}

const char *netcfg_class_str(netcfg_class c)
{
    switch (c) {
    case NETCFG_CLASS_PRIVATE: return "private";
    case NETCFG_CLASS_PUBLIC: return "public";
    default: return "unknown";
    }
}

void netcfg_classify(const netcfg_snapshot *snap, netcfg_status *st,
                     bool allow_public, const char *cfg_file)
{
    const netcfg_ifaddr *ia;
    const netcfg_link *l;
    const netcfg_route *gw = NULL;
    char lb[NETCFG_ADDRSTRLEN], nb[NETCFG_ADDRSTRLEN + 32];
    int i;

    st->present = false;
    st->ifname[0] = 0;
    st->ifindex = 0;
    st->link_up = false;
    snprintf(st->link_state, sizeof(st->link_state), "-");
    st->mtu = 0;
    st->has_gateway = false;
    st->gateway_default = false;
    st->gateway[0] = 0;
    st->cls = NETCFG_CLASS_UNKNOWN;
    st->range = netcfg_addr_range(&st->local);
    st->allowed = false;
    st->reason[0] = 0;

    ia = netcfg_snapshot_find_addr(snap, &st->local);
    if (!ia) {
        snprintf(st->reason, sizeof(st->reason),
                 "network %s: address %s is not assigned to any local "
                 "interface", st->name, netcfg_addr_str(&st->local, lb));
        return;
    }
    st->present = true;
    st->ifindex = ia->ifindex;
    l = netcfg_snapshot_link(snap, ia->ifindex);
    if (l) {
        snprintf(st->ifname, sizeof(st->ifname), "%s", l->name);
        st->link_up = netcfg_link_is_up(l);
        snprintf(st->link_state, sizeof(st->link_state), "%s",
                 netcfg_link_state_str(l));
        st->mtu = l->mtu;
    } else {
        snprintf(st->ifname, sizeof(st->ifname), "if%d", ia->ifindex);
    }

    /* Any gateway route through the interface; a default one wins. */
    for (i = 0; i < snap->nr_routes; i++) {
        const netcfg_route *r = &snap->routes[i];

        if (r->oif != ia->ifindex || !r->has_gateway)
            continue;
        if (!gw || (r->dst.len == 0 && gw->dst.len != 0))
            gw = r;
    }
    if (gw) {
        st->has_gateway = true;
        st->gateway_default = gw->dst.len == 0;
        netcfg_addr_str(&gw->gateway, st->gateway);
        st->cls = NETCFG_CLASS_PUBLIC;
    } else {
        st->cls = NETCFG_CLASS_PRIVATE;
    }

    if (st->cls == NETCFG_CLASS_PRIVATE || allow_public) {
        st->allowed = true;
        return;
    }
    if (gw->dst.len == 0)
        snprintf(nb, sizeof(nb), "a default route");
    else
        snprintf(nb, sizeof(nb), "a route to %s/%u",
                 netcfg_addr_str(&gw->dst.net, lb), gw->dst.len);
    snprintf(st->reason, sizeof(st->reason),
             "network %s (%s/%u) is public: interface %s has %s via "
             "gateway %s, so migration traffic could leave the cluster; "
             "it is not used. To allow it, set allow_public = 1 in %s "
             "(public networks are then used only after every private one)",
             st->name, netcfg_addr_str(&st->prefix.net, lb), st->prefix.len,
             st->ifname, nb, st->gateway, cfg_file ? cfg_file
                                                   : "the cluster config");
}

int netcfg_candidates(const netcfg_status *st, int nr,
                      const netcfg_addr *peer, netcfg_candidate *out,
                      int max)
{
    int pass, i, n = 0;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < nr && n < max; i++) {
            const netcfg_status *s = &st[i];
            netcfg_candidate *c;
            bool pub = s->cls == NETCFG_CLASS_PUBLIC;

            if (!s->present || !s->allowed || !s->link_up)
                continue;
            if (pub != (pass == 1))
                continue;
            if (peer[i].family != s->local.family)
                continue;
            c = &out[n++];
            memset(c, 0, sizeof(*c));
            c->net = i;
            c->name = s->name;
            c->local = s->local;
            c->peer = peer[i];
            snprintf(c->ifname, sizeof(c->ifname), "%s", s->ifname);
            c->is_public = pub;
            c->result = -1;
        }
    }
    return n;
}
