/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig net show|check`: the migration networks of this node as the
 * cluster config names them and as the kernel sees them (address,
 * interface, link, MTU, gateway, private/public, allowed), and a check
 * of each peer over each network (reachable, connect time, round-trip
 * time, a short bounded throughput probe).  The check asks each peer's
 * xlmigd, over a connection authenticated with the cluster key, as a
 * migration does (libxlmig_net_probe).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "xlmig.h"

#define NET_DEFAULT_CONNECT_MS 1000   /* connect timeout per network, ms */
#define NET_DEFAULT_PROBE_MIB 16      /* throughput probe size, MiB */
#define NET_PROBE_MAX_MIB 256         /* largest probe asked for, MiB */
#define NET_PROBE_MAX_MS 500          /* throughput probe duration cap, ms */

/* What the commands share: config, this node, its networks. */
struct net_view {
    libxlmig_cluster *cl;
    const libxlmig_cluster_config *cfg;
    int self;                    /* index of this node in cfg->nodes */
    const netcfg_status *st;     /* one per cfg network */
};

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
        printf("%-8s %-18s %-16s %-10s %-10s %5s %-22s %-8s %-13s %-7s "
               "%s\n", "NETWORK", "CIDR", "LOCAL", "INTERFACE", "LINK",
               "MTU", "GATEWAY", "CLASS", "RANGE", "ALLOWED", "TRANSPORT");
        for (w = 0; w < v.cfg->num_networks; w++) {
            const netcfg_status *s = &v.st[w];

            if (s->has_gateway)
                snprintf(gw, sizeof(gw), "%s%s", s->gateway,
                         s->gateway_default ? " (default)" : "");
            else
                snprintf(gw, sizeof(gw), "-");
            printf("%-8s %-18s %-16s %-10s %-10s %5u %-22s %-8s %-13s %-7s "
                   "%s\n", s->name, v.cfg->networks[w].cidr,
                   libxlmig_net_addr_str(&s->local, lb),
                   s->present ? s->ifname : "-", s->link_state, s->mtu, gw,
                   libxlmig_net_class_str(s->cls), s->range,
                   s->allowed ? "yes" : "no",
                   libxlmig_cluster_transport_security(v.cl));
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

/* The options of `net check`. */
struct check_opts {
    const char *node;             /* -n: this node's name, or NULL */
    unsigned long long tmo;       /* -T: connect timeout (ms) */
    unsigned long long mib;       /* -s: probe size (MiB) */
};

/* One network of one peer, as the check found it. */
struct net_result {
    bool tried;                   /* a candidate: allowed, present, up */
    const char *skipped;          /* why it was not tried, or NULL */
    libxlmig_net_probe_result r;
};

/* One peer, as the check found it; arrays of one per network. */
struct peer_check {
    const libxlmig_cfg_node *node;
    netcfg_addr *addr;            /* its address on each network */
    netcfg_candidate *cand;       /* in the order a migration tries them */
    int nc;
    int used;                     /* the candidate a migration would use:
                                     the first that connects; -1: none */
    struct net_result *res;
};

/* -n, -T, -s into o; -1 to go on, else the exit status. */
static int check_parse(int argc, char **argv, struct check_opts *o)
{
    static const struct option lo[] = {
        { "node", required_argument, NULL, OPT_NODE },
        { "timeout", required_argument, NULL, 'T' },
        { "probe", required_argument, NULL, 'S' },
        { "size", required_argument, NULL, 'S' },    /* deprecated */
        { 0, 0, 0, 0 },
    };
    int opt;

    o->node = NULL;
    o->tmo = NET_DEFAULT_CONNECT_MS;
    o->mib = NET_DEFAULT_PROBE_MIB;
    while ((opt = cmd_getopt(argc, argv, "n:T:S:s:", lo, "net", 0)) != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'n':               /* deprecated (NEWS) */
        case OPT_NODE: o->node = optarg; break;
        case 'T':
            if (!cmd_parse_range("net", "timeout", optarg, 1, 60000, "ms",
                                 &o->tmo))
                return EXIT_USAGE;
            break;
        case 's':       /* deprecated: -s is estimate's sample time */
        case 'S':
            if (!cmd_parse_range("net", "size", optarg, 0, NET_PROBE_MAX_MIB,
                                 "MiB", &o->mib))
                return EXIT_USAGE;
            break;
        default: return EXIT_USAGE;
        }
    }
    return -1;
}

/* The peers named on the command line, else every other node. */
static int check_peers(const struct net_view *v, int argc, char **argv,
                       int *peers, int *npeers_r)
{
    int i, k, n = 0;

    if (argc <= optind) {
        for (k = 0; k < v->cfg->num_nodes; k++)
            if (k != v->self)
                peers[n++] = k;
        *npeers_r = n;
        return EXIT_OK;
    }
    for (i = optind; i < argc; i++) {
        k = libxlmig_cluster_config_node(v->cfg, argv[i]);
        if (k < 0)
            return cmd_fail(LIBXLMIG_ERROR_NOTFOUND, "%s: no node '%s' in "
                            "cluster %s", v->cfg->file, argv[i],
                            v->cfg->cluster);
        if (k != v->self)
            peers[n++] = k;
    }
    *npeers_r = n;
    return EXIT_OK;
}

/* Probe pc->node over each candidate network, in a migration's order. */
static void check_peer(const struct net_view *v, const struct check_opts *o,
                       struct peer_check *pc)
{
    const int nn = v->cfg->num_networks;
    struct net_result *res;
    int i, w;

    for (w = 0; w < nn; w++) {
        libxlmig_net_addr_parse(pc->node->mig_addrs[w], &pc->addr[w], NULL);
        memset(&pc->res[w], 0, sizeof(pc->res[w]));
        if (!v->st[w].present || !v->st[w].allowed)
            pc->res[w].skipped = v->st[w].reason;
        else if (!v->st[w].link_up)
            pc->res[w].skipped = "local link is down";
    }
    pc->nc = libxlmig_net_candidates(v->st, nn, pc->addr, pc->cand, nn);
    pc->used = -1;
    for (i = 0; i < pc->nc; i++) {
        res = &pc->res[pc->cand[i].net];
        res->tried = true;
        libxlmig_net_probe(g.ctx, v->cl, pc->node->name, pc->cand[i].net,
                           (unsigned)o->tmo, o->mib << 20, NET_PROBE_MAX_MS,
                           &res->r);
        if (pc->used < 0 && res->r.connected)
            pc->used = i;
    }
}

static bool peer_unreachable(const struct peer_check *pc)
{
    return pc->used < 0 || !pc->res[pc->cand[pc->used].net].r.reachable;
}

static const char *result_error(const struct net_result *res)
{
    return res->skipped ? res->skipped : res->r.error[0] ? res->r.error
                                                           : NULL;
}

static void gen_peer(yajl_gen j, const struct net_view *v,
                     const struct peer_check *pc)
{
    char lb[NETCFG_ADDRSTRLEN];
    int w;

    yajl_gen_map_open(j);
    j_kstr(j, "node", pc->node->name);
    j_kstr(j, "used_network", pc->used >= 0 ? pc->cand[pc->used].name
                                            : NULL);
    j_str(j, "networks");
    yajl_gen_array_open(j);
    for (w = 0; w < v->cfg->num_networks; w++) {
        const libxlmig_net_probe_result *r = &pc->res[w].r;

        yajl_gen_map_open(j);
        j_kstr(j, "name", v->st[w].name);
        j_kstr(j, "local_address", libxlmig_net_addr_str(&v->st[w].local, lb));
        j_kstr(j, "peer_address", pc->node->mig_addrs[w]);
        j_kstr(j, "interface", v->st[w].present ? v->st[w].ifname : NULL);
        j_kbool(j, "tried", pc->res[w].tried);
        j_kbool(j, "reachable", r->reachable);
        j_kdouble(j, "connect_ms", r->connect_ms, r->reachable);
        j_kdouble(j, "rtt_ms", r->rtt_ms, r->reachable && r->rtt_ms > 0);
        j_kdouble(j, "throughput_mbit_s", r->throughput * 8 / 1e6,
                  r->throughput > 0);
        j_kint(j, "probe_bytes", (long long)r->probe_bytes);
        j_kstr(j, "transport", r->transport[0] ? r->transport : NULL);
        j_kstr(j, "error", result_error(&pc->res[w]));
        yajl_gen_map_close(j);
    }
    yajl_gen_array_close(j);
    yajl_gen_map_close(j);
}

static void print_peer(const struct net_view *v, const struct peer_check *pc)
{
    char lb[NETCFG_ADDRSTRLEN], pb[NETCFG_ADDRSTRLEN];
    int w;

    printf("\npeer %s: %s\n", pc->node->name,
           pc->used >= 0 ? "reachable" : "UNREACHABLE on every network");
    printf("  %-8s %-16s %-16s %-10s %-9s %9s %9s %12s  %s\n", "NETWORK",
           "LOCAL", "PEER", "INTERFACE", "REACHABLE", "CONNECT", "RTT",
           "THROUGHPUT", "TRANSPORT");
    for (w = 0; w < v->cfg->num_networks; w++) {
        const struct net_result *res = &pc->res[w];
        const netcfg_status *st = &v->st[w];
        const char *why = result_error(res);
        char cbuf[16] = "-", rbuf[16] = "-", tbuf[24] = "-";

        if (res->r.reachable) {
            snprintf(cbuf, sizeof(cbuf), "%.2f ms", res->r.connect_ms);
            if (res->r.rtt_ms > 0)
                snprintf(rbuf, sizeof(rbuf), "%.3f ms", res->r.rtt_ms);
            if (res->r.throughput > 0)
                snprintf(tbuf, sizeof(tbuf), "%.0f Mbit/s",
                         res->r.throughput * 8 / 1e6);
        }
        printf("  %-8s %-16s %-16s %-10s %-9s %9s %9s %12s  %s\n",
               st->name, libxlmig_net_addr_str(&st->local, lb),
               libxlmig_net_addr_str(&pc->addr[w], pb),
               st->present ? st->ifname : "-",
               !res->tried ? "skipped"
               : res->r.reachable && !why ? "yes"
               : res->r.reachable ? "partly" : "no", cbuf, rbuf, tbuf,
               res->r.transport[0] ? res->r.transport : "-");
        if (!res->tried && st->cls == NETCFG_CLASS_PUBLIC && !st->allowed)
            printf("           public network, not allowed (gateway %s on "
                   "%s; see `xlmig net show`)\n", st->gateway, st->ifname);
        else if (why)
            printf("           %s\n", why);
    }
    if (pc->used >= 0)
        printf("  migration to %s would use %s (%s -> %s on %s)\n",
               pc->node->name, pc->cand[pc->used].name,
               libxlmig_net_addr_str(&pc->cand[pc->used].local, lb),
               libxlmig_net_addr_str(&pc->cand[pc->used].peer, pb),
               pc->cand[pc->used].ifname);
}

static void check_header(yajl_gen j, const struct net_view *v,
                         const struct check_opts *o, int npeers)
{
    if (!j) {
        printf("node %s checking %d peer(s) of cluster %s (connect timeout "
               "%llu ms, probe up to %llu MiB / %d ms)\n",
               v->cfg->nodes[v->self].name, npeers, v->cfg->cluster, o->tmo,
               o->mib, NET_PROBE_MAX_MS);
        return;
    }
    yajl_gen_map_open(j);
    j_kint(j, "version", 1);
    j_kstr(j, "cluster", v->cfg->cluster);
    j_kstr(j, "node", v->cfg->nodes[v->self].name);
    j_kint(j, "connect_timeout_ms", (long long)o->tmo);
    j_kint(j, "probe_bytes_max", (long long)(o->mib << 20));
    j_str(j, "peers");
    yajl_gen_array_open(j);
}

static int net_check(int argc, char **argv)
{
    struct check_opts o;
    struct net_view v;
    struct peer_check pc;
    int *peers = NULL, ret, k, npeers = 0, unreachable = 0;
    yajl_gen j = NULL;

    ret = check_parse(argc, argv, &o);
    if (ret >= 0)
        return ret;
    memset(&pc, 0, sizeof(pc));
    ret = view_load(&v, o.node);
    if (ret) goto out;
    peers = calloc((size_t)v.cfg->num_nodes, sizeof(*peers));
    pc.addr = calloc((size_t)v.cfg->num_networks, sizeof(*pc.addr));
    pc.cand = calloc((size_t)v.cfg->num_networks, sizeof(*pc.cand));
    pc.res = calloc((size_t)v.cfg->num_networks, sizeof(*pc.res));
    if (!peers || !pc.addr || !pc.cand || !pc.res) {
        ret = cmd_fail(LIBXLMIG_ERROR_NOMEM, NULL);
        goto out;
    }
    ret = check_peers(&v, argc, argv, peers, &npeers);
    if (ret) goto out;

    if (g.json)
        j = j_open();
    check_header(j, &v, &o, npeers);
    for (k = 0; k < npeers; k++) {
        pc.node = &v.cfg->nodes[peers[k]];
        check_peer(&v, &o, &pc);
        unreachable += peer_unreachable(&pc);
        if (j)
            gen_peer(j, &v, &pc);
        else
            print_peer(&v, &pc);
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
    free(pc.addr);
    free(pc.cand);
    free(pc.res);
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
        return cmd_usage_error("net", "there is no probe responder any "
                               "more: `net check` asks each peer's xlmigd");
    return cmd_usage_error("net", "unknown subcommand '%s' (show, check)",
                           sub);
}
