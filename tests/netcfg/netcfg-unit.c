/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * netcfg without the kernel: address and CIDR parsing, well-known ranges,
 * the classification of networks from a hand-made snapshot (gateway via a
 * default route, via a more specific route, none), the refusal message,
 * and the order of candidates under both allow_public settings.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "netcfg.h"
#include "tap.h"

static const struct {
    const char *s;
    bool ok;
    const char *norm;        /* network as printed back, or the error */
    unsigned len;
} prefixes[] = {
    { "10.10.0.0/24", true, "10.10.0.0", 24 },
    { "0.0.0.0/0", true, "0.0.0.0", 0 },
    { "fd00:10::/64", true, "fd00:10::", 64 },
    { "10.10.0.1/32", true, "10.10.0.1", 32 },
    { "10.10.0.1/24", false, "has host bits set (the network is "
      "10.10.0.0/24)", 0 },
    { "10.10.0.0/33", false, "prefix length must be 0 to 32", 0 },
    { "fd00::/129", false, "prefix length must be 0 to 128", 0 },
    { "10.10.0.0", false, "is not in CIDR form", 0 },
    { "10.10.0.0/", false, "prefix length must be", 0 },
    { "10.10.0.0/2x", false, "prefix length must be", 0 },
    { "mig0/24", false, "'mig0' is not an IPv4 or IPv6 address", 0 },
};

static const struct {
    const char *addr;
    const char *range;
} ranges[] = {
    { "10.1.2.3", "rfc1918" },
    { "172.16.0.1", "rfc1918" },
    { "172.32.0.1", "global" },
    { "192.168.255.1", "rfc1918" },
    { "169.254.1.1", "link-local" },
    { "100.64.0.1", "shared" },
    { "192.0.2.1", "documentation" },
    { "8.8.8.8", "global" },
    { "fd12::1", "ula" },
    { "fc00::1", "ula" },
    { "fe80::1", "link-local" },
    { "2001:db8::1", "documentation" },
    { "2a00::1", "global" },
    { "127.0.0.1", "loopback" },
};

static netcfg_addr A(const char *s)
{
    netcfg_addr a;

    if (netcfg_addr_parse(s, &a, NULL))
        bail("bad address in the test: %s", s);
    return a;
}

static netcfg_prefix P(const char *s)
{
    netcfg_prefix p;

    if (netcfg_prefix_parse(s, &p, NULL))
        bail("bad prefix in the test: %s", s);
    return p;
}

/* Interfaces: 2 pub0 (default route), 3 mig0, 4 mig1 (down), 5 mig2
 * (gateway for one remote subnet only), 6 mig3 (multipath next hop). */
static netcfg_link links[] = {
    { 1, "lo", IFF_UP | IFF_RUNNING | IFF_LOOPBACK, 0, 65536 },
    { 2, "pub0", IFF_UP | IFF_RUNNING, 6, 1500 },
    { 3, "mig0", IFF_UP | IFF_RUNNING, 6, 9000 },
    { 4, "mig1", 0, 2, 1500 },
    { 5, "mig2", IFF_UP | IFF_RUNNING, 6, 1500 },
    { 6, "mig3", IFF_UP, 2, 1500 },
};

static netcfg_ifaddr addrs[6];
static netcfg_route routes[7];

static void build_snapshot(netcfg_snapshot *s)
{
    static const struct { int ifi; const char *a; unsigned len; } ad[] = {
        { 1, "127.0.0.1", 8 }, { 2, "192.0.2.1", 24 },
        { 3, "10.10.0.1", 24 }, { 4, "10.11.0.1", 24 },
        { 5, "fd00:12::1", 64 }, { 6, "10.13.0.1", 24 },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(ad); i++) {
        addrs[i].ifindex = ad[i].ifi;
        addrs[i].addr = A(ad[i].a);
        addrs[i].prefixlen = ad[i].len;
    }
    memset(routes, 0, sizeof(routes));
    routes[0] = (netcfg_route){ 2, P("0.0.0.0/0"), true, A("192.0.2.254"),
                                254 };
    routes[1] = (netcfg_route){ 2, P("192.0.2.0/24"), false, { 0, { 0 } },
                                254 };
    routes[2] = (netcfg_route){ 3, P("10.10.0.0/24"), false, { 0, { 0 } },
                                254 };
    routes[3] = (netcfg_route){ 4, P("10.11.0.0/24"), false, { 0, { 0 } },
                                254 };
    routes[4] = (netcfg_route){ 5, P("fd00:99::/32"), true,
                                A("fd00:12::fe"), 254 };
    routes[5] = (netcfg_route){ 5, P("fd00:12::/64"), false, { 0, { 0 } },
                                254 };
    routes[6] = (netcfg_route){ 6, P("10.50.0.0/16"), true, A("10.13.0.9"),
                                100 };
    s->links = links;
    s->nr_links = ARRAY_SIZE(links);
    s->addrs = addrs;
    s->nr_addrs = ARRAY_SIZE(addrs);
    s->routes = routes;
    s->nr_routes = ARRAY_SIZE(routes);
}

static const struct {
    const char *name, *cidr, *local;
    netcfg_class cls;
    const char *ifname, *gateway, *link;
    bool allowed0;           /* allowed with allow_public = 0 */
    const char *reason0;
} nets[] = {
    { "pub", "192.0.2.0/24", "192.0.2.1", NETCFG_CLASS_PUBLIC, "pub0",
      "192.0.2.254", "up", false,
      "network pub (192.0.2.0/24) is public: interface pub0 has a default "
      "route via gateway 192.0.2.254, so migration traffic could leave the "
      "cluster; it is not used. To allow it, set allow_public = 1 in "
      "/etc/xen/xlmig.cfg (public networks are then used only after every "
      "private one)" },
    { "mig0", "10.10.0.0/24", "10.10.0.1", NETCFG_CLASS_PRIVATE, "mig0", "",
      "up", true, "" },
    { "mig1", "10.11.0.0/24", "10.11.0.1", NETCFG_CLASS_PRIVATE, "mig1", "",
      "down", true, "" },
    { "mig2", "fd00:12::/64", "fd00:12::1", NETCFG_CLASS_PUBLIC, "mig2",
      "fd00:12::fe", "up", false,
      "interface mig2 has a route to fd00:99::/32 via gateway fd00:12::fe" },
    { "mig3", "10.13.0.0/24", "10.13.0.1", NETCFG_CLASS_PUBLIC, "mig3",
      "10.13.0.9", "no-carrier", false, "via gateway 10.13.0.9" },
    { "gone", "10.14.0.0/24", "10.14.0.1", NETCFG_CLASS_UNKNOWN, "", "", "-",
      false, "network gone: address 10.14.0.1 is not assigned to any local "
      "interface" },
};

static void test_classify(void)
{
    netcfg_snapshot snap;
    netcfg_status st[ARRAY_SIZE(nets)];
    netcfg_addr peer[ARRAY_SIZE(nets)];
    netcfg_candidate c[ARRAY_SIZE(nets)];
    char pb[NETCFG_ADDRSTRLEN];
    size_t i;
    int n, allow;

    build_snapshot(&snap);
    for (allow = 0; allow <= 1; allow++) {
        for (i = 0; i < ARRAY_SIZE(nets); i++) {
            memset(&st[i], 0, sizeof(st[i]));
            st[i].name = nets[i].name;
            st[i].prefix = P(nets[i].cidr);
            st[i].local = A(nets[i].local);
            netcfg_classify(&snap, &st[i], allow, "/etc/xen/xlmig.cfg");
            peer[i] = st[i].local;
            peer[i].addr[st[i].local.family == AF_INET ? 3 : 15] = 2;
            if (allow) {
                is_bool(nets[i].cls != NETCFG_CLASS_UNKNOWN, st[i].allowed,
                        "%s allowed with allow_public = 1", nets[i].name);
                continue;
            }
            is_string(netcfg_class_str(nets[i].cls),
                      netcfg_class_str(st[i].cls), "%s is %s", nets[i].name,
                      netcfg_class_str(nets[i].cls));
            is_string(nets[i].ifname, st[i].ifname, "%s interface",
                      nets[i].name);
            is_string(nets[i].gateway, st[i].gateway, "%s gateway",
                      nets[i].name);
            is_string(nets[i].link, st[i].link_state, "%s link state",
                      nets[i].name);
            is_bool(nets[i].allowed0, st[i].allowed,
                    "%s allowed with allow_public = 0", nets[i].name);
            like_string(nets[i].reason0, st[i].reason, "%s reason",
                        nets[i].name);
        }
        n = netcfg_candidates(st, ARRAY_SIZE(nets), peer, c, ARRAY_SIZE(c));
        if (!allow) {
            is_int(1, n, "allow_public = 0: one candidate (mig1 is down, "
                   "the others public or absent)");
            is_string("mig0", n > 0 ? c[0].name : "", "it is mig0");
            is_string("10.10.0.2", n > 0 ? netcfg_addr_str(&c[0].peer, pb)
                                         : "", "with the peer's mig0 "
                      "address");
            is_string("mig0", n > 0 ? c[0].ifname : "",
                      "bound to interface mig0");
        } else {
            is_int(3, n, "allow_public = 1: three candidates");
            is_string("mig0", n > 0 ? c[0].name : "", "private mig0 first");
            is_string("pub", n > 1 ? c[1].name : "",
                      "then public networks in config order: pub");
            is_string("mig2", n > 2 ? c[2].name : "", "then mig2 (mig3 has "
                      "no carrier, gone has no address)");
            is_bool(true, n > 1 && c[1].is_public, "pub marked public");
        }
    }
    n = netcfg_candidates(st, ARRAY_SIZE(nets), peer, c, 2);
    is_int(2, n, "candidate list bounded by max");
}

int main(void)
{
    netcfg_prefix p;
    netcfg_err err;
    char buf[NETCFG_ADDRSTRLEN];
    size_t i;

    plan(2 * ARRAY_SIZE(prefixes) + ARRAY_SIZE(ranges) + 5 +
         6 * ARRAY_SIZE(nets) + 4 + ARRAY_SIZE(nets) + 5 + 1);
    for (i = 0; i < ARRAY_SIZE(prefixes); i++) {
        int r = netcfg_prefix_parse(prefixes[i].s, &p, &err);

        is_int(prefixes[i].ok ? 0 : -1, r, "parse %s", prefixes[i].s);
        if (prefixes[i].ok)
            ok(!strcmp(netcfg_addr_str(&p.net, buf), prefixes[i].norm) &&
               p.len == prefixes[i].len, "%s read back", prefixes[i].s);
        else
            like_string(prefixes[i].norm, err.msg, "%s: error message",
                        prefixes[i].s);
    }
    for (i = 0; i < ARRAY_SIZE(ranges); i++) {
        netcfg_addr a = A(ranges[i].addr);

        is_string(ranges[i].range, netcfg_addr_range(&a), "%s is %s",
                  ranges[i].addr, ranges[i].range);
    }
    p = P("10.10.0.0/23");
    is_bool(true, netcfg_prefix_contains(&p, &(netcfg_addr){ 0, { 0 } }) ==
            false, "empty address not contained");
    { netcfg_addr a = A("10.10.1.255"); is_bool(true,
      netcfg_prefix_contains(&p, &a), "10.10.1.255 in 10.10.0.0/23"); }
    { netcfg_addr a = A("10.10.2.0"); is_bool(false,
      netcfg_prefix_contains(&p, &a), "10.10.2.0 not in 10.10.0.0/23"); }
    { netcfg_addr a = A("::ffff:10.10.0.1"); is_bool(false,
      netcfg_prefix_contains(&p, &a), "IPv6-mapped not in an IPv4 net"); }
    is_int(-1, netcfg_addr_parse("10.1.1", &(netcfg_addr){ 0, { 0 } }, &err),
           "short IPv4 address refused");
    test_classify();
    return 0;
}
