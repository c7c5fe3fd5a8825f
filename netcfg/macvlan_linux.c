/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * macvlan links and their addresses through rtnetlink, with libmnl.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "macvlan.h"

static void seterr(netcfg_err *err, const char *what, int e)
{
    if (err)
        snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(e));
}

/* Send one request and wait for its acknowledgement; 0 or -errno. */
static int nl_request(struct nlmsghdr *nlh)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct mnl_socket *nl;
    unsigned int seq, portid;
    int r;

    nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl)
        return -errno;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        r = -errno;
        goto out;
    }
    portid = mnl_socket_get_portid(nl);
    seq = (unsigned int)time(NULL);
    nlh->nlmsg_seq = seq;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        r = -errno;
        goto out;
    }
    r = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (r < 0) {
        r = -errno;
        goto out;
    }
    r = mnl_cb_run(buf, (size_t)r, seq, portid, NULL, NULL);
    r = r < 0 ? -errno : 0;
 out:
    mnl_socket_close(nl);
    return r;
}

int netcfg_macvlan_add(const char *parent, const char *name,
                       const uint8_t mac[6], struct in_addr ip,
                       unsigned prefixlen, netcfg_err *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh;
    struct ifinfomsg *ifm;
    struct ifaddrmsg *ifa;
    struct nlattr *linkinfo, *data;
    unsigned int pidx, idx;
    int r;

    pidx = if_nametoindex(parent);
    if (!pidx) {
        seterr(err, parent, errno);
        return -ENODEV;
    }
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL |
                       NLM_F_ACK;
    ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    mnl_attr_put_u32(nlh, IFLA_LINK, pidx);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
    linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macvlan");
    data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, linkinfo);
    r = nl_request(nlh);
    if (r) {
        seterr(err, "creating the macvlan", -r);
        return r;
    }
    idx = if_nametoindex(name);
    if (!idx) {
        r = -errno;
        seterr(err, name, errno);
        return r;
    }
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL |
                       NLM_F_ACK;
    ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefixlen;
    ifa->ifa_index = idx;
    mnl_attr_put(nlh, IFA_LOCAL, 4, &ip.s_addr);
    mnl_attr_put(nlh, IFA_ADDRESS, 4, &ip.s_addr);
    r = nl_request(nlh);
    if (r) {
        seterr(err, "adding the address", -r);
        netcfg_link_del(name, NULL);
        return r;
    }
    return 0;
}

int netcfg_link_del(const char *name, netcfg_err *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh;
    struct ifinfomsg *ifm;
    int r;

    if (!if_nametoindex(name))
        return 0;
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_DELLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    r = nl_request(nlh);
    if (r && r != -ENODEV) {
        seterr(err, "deleting the link", -r);
        return r;
    }
    return 0;
}

int netcfg_if_prefixlen(const char *ifname)
{
    struct ifaddrs *ifs, *i;
    int len = -1;
    uint32_t m;

    if (getifaddrs(&ifs))
        return -1;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
            !i->ifa_netmask || strcmp(i->ifa_name, ifname))
            continue;
        m = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
        len = __builtin_popcount(m);
        break;
    }
    freeifaddrs(ifs);
    return len;
}
