/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig net show|check|responder`: the migration networks of this node
 * as the cluster config names them and as the kernel sees them (address,
 * interface, link, MTU, gateway, private/public, allowed), and a check
 * of each peer over each network (reachable, connect time, round-trip
 * time, a short bounded throughput probe).  The check talks to the probe
 * responder, which `xlmig net responder` runs on the migration addresses
 * only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "xlmig.h"

/* The probe protocol: a 16-byte header, magic and version first. */
#define PROBE_MAGIC 0x584c4d4eu       /* "XLMN"; the control channel: "XLMP" */
#define PROBE_VERSION 1
#define PROBE_OP_PING 1               /* echoed back unchanged */
#define PROBE_OP_SINK 2               /* len bytes follow; reply len read */
#define PROBE_SINK_MAX (256u << 20)   /* bytes a responder accepts */
#define PROBE_IO_TIMEOUT_S 3          /* per read/write, seconds */

#define NET_DEFAULT_CONNECT_MS 1000   /* connect timeout per network, ms */
#define NET_DEFAULT_PROBE_MIB 16      /* throughput probe size, MiB */
#define NET_PROBE_MAX_MS 500          /* throughput probe duration cap, ms */
#define NET_PINGS 5                   /* RTT samples per network */

struct probe_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint64_t len;
} __attribute__((packed));

/* What the commands share: config, this node, its networks. */
struct net_view {
    libxlmig_cluster *cl;
    const libxlmig_cluster_config *cfg;
    int self;                    /* index of this node in cfg->nodes */
    const netcfg_status *st;     /* one per cfg network */
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void view_dispose(struct net_view *v)
{
    libxlmig_cluster_free(v->cl);
    v->cl = NULL;
}

/* Loads config, finds this node and classifies; EXIT_OK or reports. */
static int view_load(struct net_view *v, const char *node)
{
    int rc, w;

    memset(v, 0, sizeof(*v));
    rc = libxlmig_cluster_open(g.ctx, g.config_file, node, &v->cl);
    if (rc)
        return cmd_fail(rc, NULL);
    v->cfg = libxlmig_cluster_cfg(v->cl);
    v->self = libxlmig_cluster_self(v->cl);
    v->st = libxlmig_cluster_networks(v->cl);
    for (w = 0; w < v->cfg->num_warnings; w++)
        fprintf(stderr, "%s: warning: %s\n", g.progname,
                v->cfg->warnings[w]);
    return EXIT_OK;
}

/* yajl shorthands; generation into a memory buffer cannot fail short of
 * memory, which yajl's allocator aborts on. */
static void j_str(yajl_gen j, const char *s)
{
    if (s)
        yajl_gen_string(j, (const unsigned char *)s, strlen(s));
    else
        yajl_gen_null(j);
}

static void j_kstr(yajl_gen j, const char *k, const char *v)
{
    j_str(j, k);
    j_str(j, v);
}

static void j_kint(yajl_gen j, const char *k, long long v)
{
    j_str(j, k);
    yajl_gen_integer(j, v);
}

static void j_kbool(yajl_gen j, const char *k, bool v)
{
    j_str(j, k);
    yajl_gen_bool(j, v);
}

static void j_kdouble(yajl_gen j, const char *k, double v, bool valid)
{
    char num[32];

    j_str(j, k);
    if (valid) {
        /* Microsecond resolution is all a probe can claim. */
        snprintf(num, sizeof(num), "%.3f", v);
        yajl_gen_number(j, num, strlen(num));
    } else {
        yajl_gen_null(j);
    }
}

static yajl_gen j_open(void)
{
    yajl_gen j = yajl_gen_alloc(NULL);

    if (!j) {
        fprintf(stderr, "%s: out of memory\n", g.progname);
        exit(EXIT_FAILED);
    }
    yajl_gen_config(j, yajl_gen_beautify, 1);
    yajl_gen_config(j, yajl_gen_indent_string, "    ");
    return j;
}

static void j_print(yajl_gen j)
{
    const unsigned char *buf;
    size_t len;

    if (yajl_gen_get_buf(j, &buf, &len) == yajl_gen_status_ok)
        printf("%.*s\n", (int)len, (const char *)buf);
    yajl_gen_free(j);
}

static void gen_status(yajl_gen j, const struct net_view *v, int w)
{
    const netcfg_status *s = &v->st[w];
    char lb[NETCFG_ADDRSTRLEN];

    yajl_gen_map_open(j);
    j_kstr(j, "name", s->name);
    j_kstr(j, "cidr", v->cfg->networks[w].cidr);
    j_kstr(j, "local_address", libxlmig_net_addr_str(&s->local, lb));
    j_kbool(j, "present", s->present);
    j_kstr(j, "interface", s->present ? s->ifname : NULL);
    j_kstr(j, "link", s->present ? s->link_state : NULL);
    j_kint(j, "mtu", s->mtu);
    j_kstr(j, "gateway", s->has_gateway ? s->gateway : NULL);
    j_kbool(j, "gateway_default", s->gateway_default);
    j_kstr(j, "class", libxlmig_net_class_str(s->cls));
    j_kstr(j, "range", s->range);
    j_kbool(j, "allowed", s->allowed);
    j_kstr(j, "reason", s->reason[0] ? s->reason : NULL);
    yajl_gen_map_close(j);
}

/* Long-only options: their old short spellings mean something else in
 * other commands, and stay here as deprecated aliases (NEWS). */
#define OPT_NODE 0x100          /* --node NODE (was -n) */
#define OPT_PORT 0x101          /* --port PORT (was -p) */
#define OPT_TIMEOUT_S 0x102     /* responder --timeout SECONDS (was -t) */
#define NET_RESPONDER_MAX_S (30 * 86400)   /* s */


static int net_show(int argc, char **argv)
{
    static const struct option lo[] = {
        { "node", required_argument, NULL, OPT_NODE }, { 0, 0, 0, 0 },
    };
    struct net_view v;
    const char *node = NULL;
    char lb[NETCFG_ADDRSTRLEN], gw[NETCFG_ADDRSTRLEN + 12];
    int opt, ret, w;

    while ((opt = cmd_getopt(argc, argv, "n:", lo, "net", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'n' || opt == OPT_NODE) { node = optarg; continue; }
        return EXIT_USAGE;
    }
    if (argc > optind)
        return cmd_usage_error("net", "show takes no arguments");

    ret = view_load(&v, node);
    if (ret) goto out;
    if (g.json) {
        yajl_gen j = j_open();

        yajl_gen_map_open(j);
        j_kint(j, "version", 1);
        j_kstr(j, "cluster", v.cfg->cluster);
        j_kstr(j, "node", v.cfg->nodes[v.self].name);
        j_kbool(j, "allow_public", v.cfg->allow_public);
        j_str(j, "networks");
        yajl_gen_array_open(j);
        for (w = 0; w < v.cfg->num_networks; w++)
            gen_status(j, &v, w);
        yajl_gen_array_close(j);
        yajl_gen_map_close(j);
        j_print(j);
    } else {
        printf("cluster %s, node %s, allow_public = %d\n", v.cfg->cluster,
               v.cfg->nodes[v.self].name, v.cfg->allow_public);
        printf("%-8s %-18s %-16s %-10s %-10s %5s %-22s %-8s %-13s %s\n",
               "NETWORK", "CIDR", "LOCAL", "INTERFACE", "LINK", "MTU",
               "GATEWAY", "CLASS", "RANGE", "ALLOWED");
        for (w = 0; w < v.cfg->num_networks; w++) {
            const netcfg_status *s = &v.st[w];

            if (s->has_gateway)
                snprintf(gw, sizeof(gw), "%s%s", s->gateway,
                         s->gateway_default ? " (default)" : "");
            else
                snprintf(gw, sizeof(gw), "-");
            printf("%-8s %-18s %-16s %-10s %-10s %5u %-22s %-8s %-13s %s\n",
                   s->name, v.cfg->networks[w].cidr,
                   libxlmig_net_addr_str(&s->local, lb),
                   s->present ? s->ifname : "-", s->link_state, s->mtu, gw,
                   libxlmig_net_class_str(s->cls), s->range,
                   s->allowed ? "yes" : "no");
        }
        for (w = 0; w < v.cfg->num_networks; w++)
            if (v.st[w].reason[0])
                printf("note: %s\n", v.st[w].reason);
    }
    ret = EXIT_OK;
 out:
    view_dispose(&v);
    return ret;
}

static void hdr_fill(struct probe_hdr *h, uint16_t op, uint64_t len)
{
    h->magic = htonl(PROBE_MAGIC);
    h->version = htons(PROBE_VERSION);
    h->op = htons(op);
    h->len = htobe64(len);
}

static bool hdr_check(struct probe_hdr *h)
{
    h->magic = ntohl(h->magic);
    h->version = ntohs(h->version);
    h->op = ntohs(h->op);
    h->len = be64toh(h->len);
    return h->magic == PROBE_MAGIC && h->version == PROBE_VERSION;
}

/* Full read/write; false on error, EOF or timeout. */
static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    ssize_t r;

    while (len) {
        r = read(fd, p, len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        len -= r;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    ssize_t r;

    while (len) {
        r = send(fd, p, len, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        len -= r;
    }
    return true;
}

static void set_io_timeout(int fd, int seconds)
{
    struct timeval tv = { seconds, 0 };

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Serves one connection: pings and sinks until EOF or a bad header. */
static void responder_serve(int fd)
{
    static char buf[65536];
    struct probe_hdr h;
    uint64_t got;
    ssize_t r;

    set_io_timeout(fd, PROBE_IO_TIMEOUT_S);
    while (read_all(fd, &h, sizeof(h)) && hdr_check(&h)) {
        if (h.op == PROBE_OP_PING) {
            hdr_fill(&h, PROBE_OP_PING, h.len);
            if (!write_all(fd, &h, sizeof(h))) return;
        } else if (h.op == PROBE_OP_SINK && h.len <= PROBE_SINK_MAX) {
            /* The sender may stop early and shut its side down. */
            for (got = 0; got < h.len; got += r) {
                size_t want = h.len - got < sizeof(buf) ? h.len - got
                                                        : sizeof(buf);

                r = read(fd, buf, want);
                if (r < 0 && errno == EINTR) { r = 0; continue; }
                if (r <= 0) break;
            }
            hdr_fill(&h, PROBE_OP_SINK, got);
            if (!write_all(fd, &h, sizeof(h))) return;
        } else {
            return;
        }
    }
}

static volatile sig_atomic_t responder_stop;

static void on_signal(int sig)
{
    responder_stop = 1;
}

static int net_responder(int argc, char **argv)
{
    static const struct option lo[] = {
        { "node", required_argument, NULL, OPT_NODE },
        { "port", required_argument, NULL, OPT_PORT },
        { "timeout", required_argument, NULL, OPT_TIMEOUT_S },
        { 0, 0, 0, 0 },
    };
    struct net_view v;
    const char *node = NULL;
    unsigned long long port = 0, secs = 0;
    struct pollfd pfd[16];
    char lb[NETCFG_ADDRSTRLEN];
    netcfg_err err;
    double deadline;
    int fds[16];
    int opt, ret, n, i, w;

    while ((opt = cmd_getopt(argc, argv, "n:p:t:", lo, "net", 0)) != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'n':               /* deprecated (NEWS) */
        case OPT_NODE: node = optarg; break;
        case 'p':               /* deprecated: restore's paused */
        case OPT_PORT:
            if (!cmd_parse_range("net", "port", optarg, LIBXLMIG_PORT_MIN,
                                 LIBXLMIG_PORT_MAX, "", &port))
                return EXIT_USAGE;
            break;
        case 't':               /* deprecated: balance's threshold */
        case OPT_TIMEOUT_S:
            if (!cmd_parse_range("net", "timeout", optarg, 1,
                                 NET_RESPONDER_MAX_S, "s", &secs))
                return EXIT_USAGE;
            break;
        default: return EXIT_USAGE;
        }
    }
    if (argc > optind)
        return cmd_usage_error("net", "responder takes no arguments");

    ret = view_load(&v, node);
    if (ret) goto out;
    if (!port)
        port = v.cfg->port;
    n = libxlmig_net_listen(v.st, v.cfg->num_networks, port, fds,
                            (int)ARRAY_SIZE(fds), &err);
    if (n < 0) {
        ret = cmd_fail(LIBXLMIG_ERROR_IO, "%s", err.msg);
        goto out;
    }
    for (w = 0; w < v.cfg->num_networks; w++)
        if (v.st[w].reason[0])
            fprintf(stderr, "%s: not listening on %s: %s\n", g.progname,
                    v.st[w].name, v.st[w].reason);
    printf("node %s: probe responder on port %llu:",
           v.cfg->nodes[v.self].name, port);
    for (w = 0; w < v.cfg->num_networks; w++)
        if (v.st[w].present && v.st[w].allowed)
            printf(" %s=%s", v.st[w].name,
                   libxlmig_net_addr_str(&v.st[w].local, lb));
    printf("\n");
    fflush(stdout);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    deadline = secs ? now_ms() + secs * 1e3 : 0;
    for (i = 0; i < n; i++) {
        pfd[i].fd = fds[i];
        pfd[i].events = POLLIN;
    }
    while (!responder_stop && (!deadline || now_ms() < deadline)) {
        int r = poll(pfd, n, 200);

        if (r <= 0)
            continue;
        for (i = 0; i < n; i++) {
            int c;

            if (!(pfd[i].revents & POLLIN))
                continue;
            c = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            responder_serve(c);
            close(c);
        }
    }
    for (i = 0; i < n; i++)
        close(fds[i]);
    ret = EXIT_OK;
 out:
    view_dispose(&v);
    return ret;
}

/* What a check measured on one network to one peer. */
struct probe_result {
    bool tried;              /* a candidate: allowed, present, link up */
    bool reachable;
    int err;                 /* errno of the failed connect or probe */
    double connect_ms;       /* ms */
    double rtt_ms;           /* median application round trip, ms */
    double mbit_s;           /* throughput, Mbit/s; 0 if not measured */
    uint64_t probe_bytes;    /* bytes the responder counted */
    const char *why;         /* why not tried, or what failed */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Pings and (if probe_bytes) a bounded sink over a connected fd. */
static void probe_fd(int fd, uint64_t probe_bytes, struct probe_result *pr)
{
    static char buf[65536];
    struct probe_hdr h;
    double t[NET_PINGS], t0, t1;
    uint64_t sent = 0;
    int i;

    set_io_timeout(fd, PROBE_IO_TIMEOUT_S);
    for (i = 0; i < NET_PINGS; i++) {
        t0 = now_ms();
        hdr_fill(&h, PROBE_OP_PING, i);
        if (!write_all(fd, &h, sizeof(h)) || !read_all(fd, &h, sizeof(h)) ||
            !hdr_check(&h) || h.op != PROBE_OP_PING) {
            pr->reachable = false;
            pr->err = errno ? errno : EPROTO;
            pr->why = "no probe responder answered (start `xlmig net "
                      "responder` or xlmigd on the peer)";
            return;
        }
        t[i] = now_ms() - t0;
    }
    qsort(t, NET_PINGS, sizeof(t[0]), cmp_double);
    pr->rtt_ms = t[NET_PINGS / 2];
    if (!probe_bytes)
        return;

    hdr_fill(&h, PROBE_OP_SINK, probe_bytes);
    t0 = now_ms();
    if (!write_all(fd, &h, sizeof(h)))
        goto fail;
    while (sent < probe_bytes && now_ms() - t0 < NET_PROBE_MAX_MS) {
        size_t n = probe_bytes - sent < sizeof(buf) ? probe_bytes - sent
                                                    : sizeof(buf);

        if (!write_all(fd, buf, n))
            goto fail;
        sent += n;
    }
    shutdown(fd, SHUT_WR);
    if (!read_all(fd, &h, sizeof(h)) || !hdr_check(&h) ||
        h.op != PROBE_OP_SINK)
        goto fail;
    t1 = now_ms();
    pr->probe_bytes = h.len;
    if (t1 > t0)
        pr->mbit_s = h.len * 8.0 / ((t1 - t0) * 1e3);
    return;
 fail:
    pr->why = "throughput probe failed";
}

static int net_check(int argc, char **argv)
{
    static const struct option lo[] = {
        { "node", required_argument, NULL, OPT_NODE },
        { "timeout", required_argument, NULL, 'T' },
        { "probe", required_argument, NULL, 'S' },
        { "size", required_argument, NULL, 'S' },    /* deprecated */
        { 0, 0, 0, 0 },
    };
    struct net_view v;
    const char *node = NULL;
    unsigned long long tmo = NET_DEFAULT_CONNECT_MS;
    unsigned long long mib = NET_DEFAULT_PROBE_MIB;
    netcfg_candidate *cand = NULL;
    netcfg_addr *peer = NULL;
    struct probe_result *pr = NULL;
    int *peers = NULL;
    char lb[NETCFG_ADDRSTRLEN], pb[NETCFG_ADDRSTRLEN];
    yajl_gen j = NULL;
    netcfg_err err;
    int opt, ret, i, k, w, nc, npeers = 0, unreachable = 0;

    while ((opt = cmd_getopt(argc, argv, "n:T:S:s:", lo, "net", 0)) != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'n':               /* deprecated (NEWS) */
        case OPT_NODE: node = optarg; break;
        case 'T':
            if (!cmd_parse_range("net", "timeout", optarg, 1, 60000, "ms",
                                 &tmo))
                return EXIT_USAGE;
            break;
        case 's':       /* deprecated: -s is estimate's sample time */
        case 'S':
            if (!cmd_parse_range("net", "size", optarg, 0,
                                 PROBE_SINK_MAX >> 20, "MiB", &mib))
                return EXIT_USAGE;
            break;
        default: return EXIT_USAGE;
        }
    }

    ret = view_load(&v, node);
    if (ret) goto out;
    peers = calloc(v.cfg->num_nodes, sizeof(*peers));
    peer = calloc(v.cfg->num_networks, sizeof(*peer));
    cand = calloc(v.cfg->num_networks, sizeof(*cand));
    pr = calloc(v.cfg->num_networks, sizeof(*pr));
    if (!peers || !peer || !cand || !pr) {
        ret = cmd_fail(LIBXLMIG_ERROR_NOMEM, NULL);
        goto out;
    }
    if (argc > optind) {
        for (i = optind; i < argc; i++) {
            k = libxlmig_cluster_config_node(v.cfg, argv[i]);
            if (k < 0) {
                ret = cmd_fail(LIBXLMIG_ERROR_NOTFOUND, "%s: no node '%s' "
                               "in cluster %s", v.cfg->file, argv[i],
                               v.cfg->cluster);
                goto out;
            }
            if (k != v.self)
                peers[npeers++] = k;
        }
    } else {
        for (k = 0; k < v.cfg->num_nodes; k++)
            if (k != v.self)
                peers[npeers++] = k;
    }

    if (g.json) {
        j = j_open();
        yajl_gen_map_open(j);
        j_kint(j, "version", 1);
        j_kstr(j, "cluster", v.cfg->cluster);
        j_kstr(j, "node", v.cfg->nodes[v.self].name);
        j_kint(j, "connect_timeout_ms", tmo);
        j_kint(j, "probe_bytes_max", mib << 20);
        j_str(j, "peers");
        yajl_gen_array_open(j);
    } else {
        printf("node %s checking %d peer(s) of cluster %s (connect timeout "
               "%llu ms, probe up to %llu MiB / %d ms)\n",
               v.cfg->nodes[v.self].name, npeers, v.cfg->cluster, tmo, mib,
               NET_PROBE_MAX_MS);
    }

    for (k = 0; k < npeers; k++) {
        const libxlmig_cfg_node *pn = &v.cfg->nodes[peers[k]];
        int fd = -1, used = -1;

        for (w = 0; w < v.cfg->num_networks; w++) {
            libxlmig_net_addr_parse(pn->mig_addrs[w], &peer[w], NULL);
            memset(&pr[w], 0, sizeof(pr[w]));
            if (!v.st[w].present || !v.st[w].allowed)
                pr[w].why = v.st[w].reason;
            else if (!v.st[w].link_up)
                pr[w].why = "local link is down";
        }
        /* The network a migration would use: the first that connects. */
        nc = libxlmig_net_candidates(v.st, v.cfg->num_networks, peer, cand,
                                     v.cfg->num_networks);
        if (!libxlmig_net_connect(cand, nc, v.cfg->port, tmo, &fd, &used,
                                  &err))
            close(fd);
        else
            used = -1;
        /* Then each candidate network on its own, for its figures; those
         * that failed above are not waited for twice. */
        for (i = 0; i < nc; i++) {
            netcfg_candidate one = cand[i];
            struct probe_result *r = &pr[cand[i].net];
            int u;

            r->tried = true;
            if (cand[i].result > 0) {
                r->err = cand[i].result;
                r->why = strerror(cand[i].result);
                continue;
            }
            if (libxlmig_net_connect(&one, 1, v.cfg->port, tmo, &fd, &u,
                                     &err)) {
                r->err = one.result;
                r->why = strerror(one.result);
                continue;
            }
            r->reachable = true;
            r->connect_ms = one.connect_ms;
            errno = 0;
            probe_fd(fd, mib << 20, r);
            close(fd);
        }
        if (used < 0 || !pr[cand[used].net].reachable)
            unreachable++;

        if (j) {
            yajl_gen_map_open(j);
            j_kstr(j, "node", pn->name);
            j_kstr(j, "used_network", used >= 0 ? cand[used].name : NULL);
            j_str(j, "networks");
            yajl_gen_array_open(j);
            for (w = 0; w < v.cfg->num_networks; w++) {
                yajl_gen_map_open(j);
                j_kstr(j, "name", v.st[w].name);
                j_kstr(j, "local_address",
                       libxlmig_net_addr_str(&v.st[w].local, lb));
                j_kstr(j, "peer_address", pn->mig_addrs[w]);
                j_kstr(j, "interface", v.st[w].present ? v.st[w].ifname
                                                       : NULL);
                j_kbool(j, "tried", pr[w].tried);
                j_kbool(j, "reachable", pr[w].reachable);
                j_kdouble(j, "connect_ms", pr[w].connect_ms,
                          pr[w].reachable);
                j_kdouble(j, "rtt_ms", pr[w].rtt_ms,
                          pr[w].reachable && pr[w].rtt_ms > 0);
                j_kdouble(j, "throughput_mbit_s", pr[w].mbit_s,
                          pr[w].mbit_s > 0);
                j_kint(j, "probe_bytes", pr[w].probe_bytes);
                j_kstr(j, "error", pr[w].why);
                yajl_gen_map_close(j);
            }
            yajl_gen_array_close(j);
            yajl_gen_map_close(j);
            continue;
        }
        printf("\npeer %s: %s\n", pn->name,
               used >= 0 ? "reachable" : "UNREACHABLE on every network");
        printf("  %-8s %-16s %-16s %-10s %-9s %9s %9s %12s\n", "NETWORK",
               "LOCAL", "PEER", "INTERFACE", "REACHABLE", "CONNECT", "RTT",
               "THROUGHPUT");
        for (w = 0; w < v.cfg->num_networks; w++) {
            char cbuf[16] = "-", rbuf[16] = "-", tbuf[24] = "-";

            if (pr[w].reachable) {
                snprintf(cbuf, sizeof(cbuf), "%.2f ms", pr[w].connect_ms);
                if (pr[w].rtt_ms > 0)
                    snprintf(rbuf, sizeof(rbuf), "%.3f ms", pr[w].rtt_ms);
                if (pr[w].mbit_s > 0)
                    snprintf(tbuf, sizeof(tbuf), "%.0f Mbit/s",
                             pr[w].mbit_s);
            }
            printf("  %-8s %-16s %-16s %-10s %-9s %9s %9s %12s\n",
                   v.st[w].name, libxlmig_net_addr_str(&v.st[w].local, lb),
                   libxlmig_net_addr_str(&peer[w], pb),
                   v.st[w].present ? v.st[w].ifname : "-",
                   !pr[w].tried ? "skipped"
                   : pr[w].reachable && !pr[w].why ? "yes"
                   : pr[w].reachable ? "partly" : "no",
                   cbuf, rbuf, tbuf);
            if (!pr[w].tried && v.st[w].cls == NETCFG_CLASS_PUBLIC &&
                !v.st[w].allowed)
                printf("           public network, not allowed (gateway "
                       "%s on %s; see `xlmig net show`)\n", v.st[w].gateway,
                       v.st[w].ifname);
            else if (pr[w].why)
                printf("           %s\n", pr[w].why);
        }
        if (used >= 0)
            printf("  migration to %s would use %s (%s -> %s on %s)\n",
                   pn->name, cand[used].name,
                   libxlmig_net_addr_str(&cand[used].local, lb),
                   libxlmig_net_addr_str(&cand[used].peer, pb),
                   cand[used].ifname);
    }
    if (j) {
        yajl_gen_array_close(j);
        j_kint(j, "unreachable_peers", unreachable);
        yajl_gen_map_close(j);
        j_print(j);
        j = NULL;
    }
    if (unreachable) {
        fprintf(stderr, "%s: %d peer(s) unreachable over every allowed "
                "migration network\n", g.progname, unreachable);
        ret = EXIT_FAILED;
    } else {
        ret = EXIT_OK;
    }
 out:
    if (j) yajl_gen_free(j);
    free(peers);
    free(peer);
    free(cand);
    free(pr);
    view_dispose(&v);
    return ret;
}

int main_net(int argc, char **argv)
{
    const char *sub;
    int opt;

    /* Options of the subcommands come after it: stop at the first word. */
    while ((opt = cmd_getopt(argc, argv, "", NULL, "net", 1)) != 0) {
        if (opt == 'h') return EXIT_OK;
        return EXIT_USAGE;
    }
    sub = argv[optind];
    /* Each subcommand parses argv from its own name. */
    argc -= optind;
    argv += optind;
    optind = 1;
    if (!strcmp(sub, "show"))
        return net_show(argc, argv);
    if (!strcmp(sub, "check"))
        return net_check(argc, argv);
    if (!strcmp(sub, "responder"))
        return net_responder(argc, argv);
    return cmd_usage_error("net", "unknown subcommand '%s' (show, check, "
                           "responder)", sub);
}
