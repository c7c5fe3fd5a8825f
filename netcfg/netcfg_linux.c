/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * netcfg on Linux: the snapshot of links, addresses and routes comes from
 * rtnetlink dumps made with libmnl (RTM_GETLINK, RTM_GETADDR and
 * RTM_GETROUTE over every table, multipath next hops expanded into one
 * route each), and the sockets are bound to an address and, with
 * SO_BINDTODEVICE, to its interface so that the kernel cannot send
 * migration traffic out of another one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

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

/* Grows *arr (of elem bytes) to hold one more; NULL on ENOMEM. */
static void *grow(void **arr, int *nr, size_t elem)
{
    void *p = realloc(*arr, (size_t)(*nr + 1) * elem);

    if (!p)
        return NULL;
    *arr = p;
    memset((char *)p + (size_t)*nr * elem, 0, elem);
    return (char *)p + (size_t)(*nr)++ * elem;
}

typedef struct dump_state {
    netcfg_snapshot *snap;
    bool nomem;
} dump_state;

static int link_attr_cb(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);

    if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
        return MNL_CB_OK;
    tb[type] = attr;
    return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
    dump_state *ds = data;
    const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    netcfg_link *l;

    mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb);
    l = grow((void **)&ds->snap->links, &ds->snap->nr_links, sizeof(*l));
    if (!l) {
        ds->nomem = true;
        return MNL_CB_ERROR;
    }
    l->ifindex = ifm->ifi_index;
    l->flags = ifm->ifi_flags;
    if (tb[IFLA_IFNAME])
        snprintf(l->name, sizeof(l->name), "%s",
                 mnl_attr_get_str(tb[IFLA_IFNAME]));
    if (tb[IFLA_MTU])
        l->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
    if (tb[IFLA_OPERSTATE])
        l->operstate = mnl_attr_get_u8(tb[IFLA_OPERSTATE]);
    return MNL_CB_OK;
}

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;

    if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
        return MNL_CB_OK;
    tb[mnl_attr_get_type(attr)] = attr;
    return MNL_CB_OK;
}

/* Copies an address attribute of the right size into a; false if not. */
static bool attr_addr(const struct nlattr *attr, int family, netcfg_addr *a)
{
    size_t want = family == AF_INET ? 4 : 16;

    if (!attr || mnl_attr_get_payload_len(attr) < want)
        return false;
    memset(a, 0, sizeof(*a));
    a->family = family;
    memcpy(a->addr, mnl_attr_get_payload(attr), want);
    return true;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
    dump_state *ds = data;
    const struct nlattr *tb[IFA_MAX + 1] = { NULL };
    struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *a;
    netcfg_ifaddr *ia;

    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
        return MNL_CB_OK;
    mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb);
    /* IFA_LOCAL is ours on point-to-point links; else IFA_ADDRESS. */
    a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!a)
        return MNL_CB_OK;
    ia = grow((void **)&ds->snap->addrs, &ds->snap->nr_addrs, sizeof(*ia));
    if (!ia) {
        ds->nomem = true;
        return MNL_CB_ERROR;
    }
    ia->ifindex = ifa->ifa_index;
    ia->prefixlen = ifa->ifa_prefixlen;
    attr_addr(a, ifa->ifa_family, &ia->addr);
    return MNL_CB_OK;
}

static int route_attr_cb(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;

    if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
        return MNL_CB_OK;
    tb[mnl_attr_get_type(attr)] = attr;
    return MNL_CB_OK;
}

static netcfg_route *add_route(dump_state *ds, const struct rtmsg *rtm,
                               const struct nlattr *dst, uint32_t table)
{
    netcfg_route *r = grow((void **)&ds->snap->routes, &ds->snap->nr_routes,
                           sizeof(*r));

    if (!r) {
        ds->nomem = true;
        return NULL;
    }
    r->dst.net.family = rtm->rtm_family;
    r->dst.len = rtm->rtm_dst_len;
    attr_addr(dst, rtm->rtm_family, &r->dst.net);
    r->table = table;
    return r;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
    dump_state *ds = data;
    const struct nlattr *tb[RTA_MAX + 1] = { NULL };
    struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
    uint32_t table = rtm->rtm_table;
    netcfg_route *r;

    if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
        return MNL_CB_OK;
    mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb);
    if (tb[RTA_TABLE])
        table = mnl_attr_get_u32(tb[RTA_TABLE]);

    if (tb[RTA_MULTIPATH]) {
        /* One route per next hop, each with its own interface. */
        const struct rtnexthop *nh = mnl_attr_get_payload(tb[RTA_MULTIPATH]);
        int left = mnl_attr_get_payload_len(tb[RTA_MULTIPATH]);

        while (left >= (int)sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) &&
               nh->rtnh_len <= left) {
            const struct nlattr *na;
            int alen = nh->rtnh_len - sizeof(*nh);

            r = add_route(ds, rtm, tb[RTA_DST], table);
            if (!r)
                return MNL_CB_ERROR;
            r->oif = nh->rtnh_ifindex;
            for (na = (const struct nlattr *)RTNH_DATA(nh);
                 alen >= (int)sizeof(*na) && na->nla_len >= sizeof(*na) &&
                 na->nla_len <= alen;
                 alen -= MNL_ALIGN(na->nla_len),
                 na = (const struct nlattr *)((const char *)na +
                                              MNL_ALIGN(na->nla_len))) {
                if (mnl_attr_get_type(na) == RTA_GATEWAY &&
                    attr_addr(na, rtm->rtm_family, &r->gateway))
                    r->has_gateway = true;
            }
            left -= RTNH_ALIGN(nh->rtnh_len);
            nh = RTNH_NEXT(nh);
        }
        return MNL_CB_OK;
    }

    r = add_route(ds, rtm, tb[RTA_DST], table);
    if (!r)
        return MNL_CB_ERROR;
    if (tb[RTA_OIF])
        r->oif = mnl_attr_get_u32(tb[RTA_OIF]);
    if (attr_addr(tb[RTA_GATEWAY], rtm->rtm_family, &r->gateway))
        r->has_gateway = true;
    return MNL_CB_OK;
}

/* One NLM_F_DUMP request of type with family, parsed by cb. */
static int dump(struct mnl_socket *nl, uint16_t type, int family,
                mnl_cb_t cb, dump_state *ds, netcfg_err *err)
{
    char buf[32768];
    struct nlmsghdr *nlh;
    unsigned int seq = (unsigned int)time(NULL) ^ type ^ (family << 8);
    unsigned int portid = mnl_socket_get_portid(nl);
    ssize_t r;
    int cr;

    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = seq;
    if (type == RTM_GETLINK) {
        struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

        ifm->ifi_family = family;
    } else if (type == RTM_GETADDR) {
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

        ifa->ifa_family = family;
    } else {
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

        rtm->rtm_family = family;
    }
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return set_err(err, "netlink request failed: %s", strerror(errno));
    for (;;) {
        r = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (r < 0)
            return set_err(err, "netlink dump failed: %s", strerror(errno));
        cr = mnl_cb_run(buf, r, seq, portid, cb, ds);
        if (cr == MNL_CB_STOP)
            return 0;
        if (cr < 0) {
            if (ds->nomem)
                return set_err(err, "out of memory reading netlink dump");
            return set_err(err, "netlink dump failed: %s", strerror(errno));
        }
    }
}

int netcfg_snapshot_take(netcfg_snapshot **snap_r, netcfg_err *err)
{
    struct mnl_socket *nl = NULL;
    dump_state ds = { NULL, false };
    int rc = -1;

    ds.snap = calloc(1, sizeof(*ds.snap));
    if (!ds.snap) {
        set_err(err, "out of memory");
        goto out;
    }
    nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl) {
        set_err(err, "cannot open a netlink socket: %s", strerror(errno));
        goto out;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        set_err(err, "cannot bind the netlink socket: %s", strerror(errno));
        goto out;
    }
    if (dump(nl, RTM_GETLINK, AF_UNSPEC, link_cb, &ds, err) ||
        dump(nl, RTM_GETADDR, AF_INET, addr_cb, &ds, err) ||
        dump(nl, RTM_GETADDR, AF_INET6, addr_cb, &ds, err) ||
        dump(nl, RTM_GETROUTE, AF_INET, route_cb, &ds, err) ||
        dump(nl, RTM_GETROUTE, AF_INET6, route_cb, &ds, err))
        goto out;
    *snap_r = ds.snap;
    ds.snap = NULL;
    rc = 0;
 out:
    if (nl) mnl_socket_close(nl);
    netcfg_snapshot_free(ds.snap);
    return rc;
}

void netcfg_snapshot_free(netcfg_snapshot *snap)
{
    if (!snap)
        return;
    free(snap->links);
    free(snap->addrs);
    free(snap->routes);
    free(snap);
}

/* ifname gives the scope of an IPv6 link-local address; may be NULL. */
static socklen_t make_sockaddr(const netcfg_addr *a, uint16_t port,
                               const char *ifname,
                               struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a->addr, 4);
        return sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, a->addr, 16);
        if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) && ifname && *ifname)
            sin6->sin6_scope_id = if_nametoindex(ifname);
        return sizeof(*sin6);
    }
}

/* A TCP socket bound to local:port on ifname; -1 with errno set. */
static int bound_socket(const netcfg_addr *local, const char *ifname,
                        uint16_t port, bool nonblock)
{
    struct sockaddr_storage ss;
    socklen_t sl = make_sockaddr(local, port, ifname, &ss);
    int one = 1, e;
    int fd = socket(local->family, SOCK_STREAM | SOCK_CLOEXEC |
                    (nonblock ? SOCK_NONBLOCK : 0), 0);

    if (fd < 0)
        return -1;
    if (port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if ((ifname && *ifname &&
         setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
                    strlen(ifname) + 1) < 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Connects one candidate; 0 or an errno value.  *fd_r on success. */
static int connect_one(const netcfg_candidate *c, uint16_t port,
                       int timeout_ms, int *fd_r)
{
    struct sockaddr_storage ss;
    socklen_t sl = make_sockaddr(&c->peer, port, c->ifname, &ss);
    struct pollfd pfd;
    int fd, r, e = 0, flags;
    socklen_t el = sizeof(e);

    fd = bound_socket(&c->local, c->ifname, 0, true);
    if (fd < 0)
        return errno;
    r = connect(fd, (struct sockaddr *)&ss, sl);
    if (r < 0 && errno != EINPROGRESS) {
        e = errno;
        goto fail;
    }
    if (r < 0) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        do {
            r = poll(&pfd, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            e = errno;
            goto fail;
        }
        if (r == 0) {
            e = ETIMEDOUT;
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
            e = errno;
        if (e)
            goto fail;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        e = errno;
        goto fail;
    }
    *fd_r = fd;
    return 0;
 fail:
    close(fd);
    return e ? e : EIO;
}

int netcfg_connect(netcfg_candidate *c, int nr, uint16_t port,
                   int timeout_ms, int *fd_r, int *used_r, netcfg_err *err)
{
    char tried[NETCFG_ERR_MAX] = "";
    char lb[NETCFG_ADDRSTRLEN], pb[NETCFG_ADDRSTRLEN];
    size_t len = 0;
    double t0;
    int i, fd = -1;

    if (nr == 0)
        return set_err(err, "no usable migration network to the peer");
    for (i = 0; i < nr; i++) {
        t0 = now_ms();
        c[i].result = connect_one(&c[i], port, timeout_ms, &fd);
        c[i].connect_ms = now_ms() - t0;
        if (!c[i].result) {
            *fd_r = fd;
            *used_r = i;
            return 0;
        }
        if (len < sizeof(tried))
            len += snprintf(tried + len, sizeof(tried) - len,
                            "%s%s %s->%s: %s", i ? "; " : "", c[i].name,
                            netcfg_addr_str(&c[i].local, lb),
                            netcfg_addr_str(&c[i].peer, pb),
                            strerror(c[i].result));
    }
    return set_err(err, "no migration network reached the peer (%s)", tried);
}

int netcfg_listen(const netcfg_status *st, int nr, uint16_t port,
                  int *fds, int max, netcfg_err *err)
{
    char lb[NETCFG_ADDRSTRLEN];
    int i, n = 0, fd;

    for (i = 0; i < nr && n < max; i++) {
        if (!st[i].present || !st[i].allowed)
            continue;
        fd = bound_socket(&st[i].local, st[i].ifname, port, false);
        /* A deep queue: a burst of connections waits in it to be
         * accepted and judged, not in SYN retransmits. */
        if (fd < 0 || listen(fd, 512) < 0) {
            set_err(err, "cannot listen on %s port %u (network %s): %s",
                    netcfg_addr_str(&st[i].local, lb), port, st[i].name,
                    strerror(errno));
            if (fd >= 0) close(fd);
            goto fail;
        }
        fds[n++] = fd;
    }
    if (n == 0)
        return set_err(err, "no allowed migration network has a local "
                       "address to listen on");
    return n;
 fail:
    while (n > 0)
        close(fds[--n]);
    return -1;
}
