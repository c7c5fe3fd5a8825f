/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * This node's view of the cluster and the connections between nodes: which
 * node this host is, the state of each migration network here, listening
 * only on allowed migration addresses, and connecting to a peer over the
 * first allowed network that answers, bound to it, then authenticating
 * with the cluster key.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcfg.h"
#include "net/net.h"
#include "cluster/cluster.h"
#include "core/tunables.h"

struct libxlmig_cluster {
    libxlmig_cluster_config cfg;
    int self;                  /* index in cfg.nodes */
    netcfg_snapshot *snap;
    netcfg_status *st;         /* [cfg.num_networks] */
    libxlmig__key key;
    bool key_loaded;
    pthread_mutex_t lock;      /* snap, st and the key, between threads */
};

static int cluster_find_self(const libxlmig_cluster *cl)
{
    const libxlmig_cluster_config *c = &cl->cfg;
    netcfg_addr a;
    int i, w;

    for (i = 0; i < c->num_nodes; i++) {
        for (w = 0; w < c->num_networks; w++)
            if (!netcfg_addr_parse(c->nodes[i].mig_addrs[w], &a, NULL) &&
                netcfg_snapshot_find_addr(cl->snap, &a))
                return i;
        if (!netcfg_addr_parse(c->nodes[i].mgmt, &a, NULL) &&
            netcfg_snapshot_find_addr(cl->snap, &a))
            return i;
    }
    return -1;
}

int libxlmig_cluster_refresh(libxlmig_ctx *ctx, libxlmig_cluster *cl)
{
    GC_INIT(ctx);
    const libxlmig_cluster_config *c = &cl->cfg;
    netcfg_snapshot *snap = NULL;
    netcfg_err err;
    int w, rc;

    if (netcfg_snapshot_take(&snap, &err)) {
        LOG(ERROR, "cannot inspect the networks: %s", err.msg);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    pthread_mutex_lock(&cl->lock);
    netcfg_snapshot_free(cl->snap);
    cl->snap = snap;
    if (cl->self < 0)
        goto done;
    for (w = 0; w < c->num_networks; w++) {
        netcfg_status *s = &cl->st[w];

        memset(s, 0, sizeof(*s));
        s->name = c->networks[w].name;
        netcfg_prefix_parse(c->networks[w].cidr, &s->prefix, NULL);
        netcfg_addr_parse(c->nodes[cl->self].mig_addrs[w], &s->local, NULL);
        netcfg_classify(cl->snap, s, c->allow_public, c->file);
    }
 done:
    pthread_mutex_unlock(&cl->lock);
    rc = 0;
 out:
    GC_FREE;
    return rc;
}

int libxlmig_cluster_open(libxlmig_ctx *ctx, const char *path,
                          const char *node, libxlmig_cluster **cl_r)
{
    GC_INIT(ctx);
    libxlmig_cluster *cl = NULL;
    int i, rc;

    cl = calloc(1, sizeof(*cl));
    if (!cl)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*cl));
    libxlmig_cluster_config_init(&cl->cfg);
    libxlmig__key_init(&cl->key);
    pthread_mutex_init(&cl->lock, NULL);
    cl->self = -1;
    rc = libxlmig_cluster_config_load(CTX, path, &cl->cfg);
    if (rc) goto out;
    for (i = 0; i < cl->cfg.num_warnings; i++)
        LOG(WARN, "%s", cl->cfg.warnings[i]);
    cl->st = calloc((size_t)cl->cfg.num_networks + 1, sizeof(*cl->st));
    if (!cl->st)
        libxlmig__alloc_failed(CTX, __func__, cl->cfg.num_networks,
                               sizeof(*cl->st));
    rc = libxlmig_cluster_refresh(CTX, cl);
    if (rc) goto out;
    if (node) {
        cl->self = libxlmig_cluster_config_node(&cl->cfg, node);
        if (cl->self < 0) {
            LOG(ERROR, "%s: no node '%s' in cluster %s", cl->cfg.file, node,
                cl->cfg.cluster);
            rc = LIBXLMIG_ERROR_NOTFOUND;
            goto out;
        }
    } else {
        cl->self = cluster_find_self(cl);
        if (cl->self < 0) {
            LOG(ERROR, "this host is not a node of cluster %s: none of the "
                "addresses in %s is assigned here (use -n NODE)",
                cl->cfg.cluster, cl->cfg.file);
            rc = LIBXLMIG_ERROR_NOTFOUND;
            goto out;
        }
    }
    rc = libxlmig_cluster_refresh(CTX, cl);
    if (rc) goto out;
    *cl_r = cl;
    cl = NULL;
 out:
    libxlmig_cluster_free(cl);
    GC_FREE;
    return rc;
}

void libxlmig_cluster_free(libxlmig_cluster *cl)
{
    if (!cl)
        return;
    libxlmig_cluster_config_dispose(&cl->cfg);
    netcfg_snapshot_free(cl->snap);
    free(cl->st);
    libxlmig__key_dispose(&cl->key);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}

const libxlmig_cluster_config *libxlmig_cluster_cfg(const libxlmig_cluster *cl)
{
    return &cl->cfg;
}

int libxlmig_cluster_self(const libxlmig_cluster *cl)
{
    return cl->self;
}

const char *libxlmig__cluster_self_name(const libxlmig_cluster *cl)
{
    return cl->cfg.nodes[cl->self].name;
}

const struct netcfg_status *libxlmig_cluster_networks(
    const libxlmig_cluster *cl)
{
    return cl->st;
}

int libxlmig__cluster_key(libxlmig__gc *gc, libxlmig_cluster *cl,
                          const libxlmig__key **key_r)
{
    int rc;

    pthread_mutex_lock(&cl->lock);
    rc = 0;
    if (!cl->key_loaded) {
        rc = libxlmig__key_load(gc, cl->cfg.key_file, &cl->key);
        cl->key_loaded = rc == 0;
    }
    pthread_mutex_unlock(&cl->lock);
    if (rc) return rc;
    *key_r = &cl->key;
    return 0;
}

/* Are a and b the same IP address (v4 or v6, however written)? */
static bool same_addr(const char *a, const char *b)
{
    unsigned char x[16], y[16];

    if (!a || !b)
        return false;
    if (inet_pton(AF_INET, a, x) == 1)
        return inet_pton(AF_INET, b, y) == 1 && !memcmp(x, y, 4);
    if (inet_pton(AF_INET6, a, x) == 1)
        return inet_pton(AF_INET6, b, y) == 1 && !memcmp(x, y, 16);
    return false;
}

bool libxlmig__cluster_peer_ok(const libxlmig_cluster *cl, const char *node,
                               const char *addr)
{
    const libxlmig_cluster_config *c = &cl->cfg;
    int i, n;

    for (i = 0; i < c->num_nodes; i++) {
        if (strcmp(c->nodes[i].name, node))
            continue;
        if (same_addr(c->nodes[i].mgmt, addr))
            return true;
        for (n = 0; n < c->num_networks; n++)
            if (same_addr(c->nodes[i].mig_addrs[n], addr))
                return true;
        return false;
    }
    return false;
}

int libxlmig__cluster_listen(libxlmig__gc *gc, libxlmig_cluster *cl,
                             int *fds, int max, int *nr_r)
{
    netcfg_err err;
    int n, w;

    pthread_mutex_lock(&cl->lock);
    for (w = 0; w < cl->cfg.num_networks; w++)
        if (!(cl->st[w].present && cl->st[w].allowed) && cl->st[w].reason[0])
            LOG(WARN, "not listening on %s: %s", cl->st[w].name,
                cl->st[w].reason);
    n = netcfg_listen(cl->st, cl->cfg.num_networks, cl->cfg.port, fds, max,
                      &err);
    pthread_mutex_unlock(&cl->lock);
    if (n < 0) {
        LOG(ERROR, "cannot listen on the migration networks: %s", err.msg);
        return LIBXLMIG_ERROR_IO;
    }
    if (n == 0) {
        LOG(ERROR, "node %s has no usable migration network to listen on "
            "(see xlmig net show)", libxlmig__cluster_self_name(cl));
        return LIBXLMIG_ERROR_CONFIG;
    }
    *nr_r = n;
    return 0;
}

void libxlmig__peer_init(libxlmig__peer *p)
{
    memset(p, 0, sizeof(*p));
}

void libxlmig__peer_dispose(libxlmig__peer *p)
{
    libxlmig__chan_dispose(&p->chan);
    libxlmig__transport_free(p->t);
    free(p->node);
    free(p->network);
    free(p->local_addr);
    free(p->peer_addr);
    free(p->tried);
    libxlmig__peer_init(p);
}

int libxlmig__peer_network_index(const libxlmig_cluster *cl,
                                 const libxlmig__peer *p)
{
    return p->network ? libxlmig_cluster_config_network(&cl->cfg, p->network)
                      : -1;
}

/*
 * The candidate networks to node among first_net..last_net (*pi_r: its
 * index in the config); LIBXLMIG_ERROR_REFUSED (logged) if there is none.
 */
static int peer_candidates(libxlmig__gc *gc, libxlmig_cluster *cl,
                           const char *node, int first_net, int last_net,
                           netcfg_candidate **cand_r, int *n_r)
{
    const libxlmig_cluster_config *c = &cl->cfg;
    netcfg_candidate *cand;
    netcfg_addr *peer_addrs;
    netcfg_status *st;
    int i, n, pi;

    pi = libxlmig_cluster_config_node(c, node);
    if (pi < 0) {
        LOG(ERROR, "no node '%s' in cluster %s (%s)", node, c->cluster,
            c->file);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    /* Candidates only from first_net on, so a failover skips the dead. */
    GCNEW_ARRAY(st, c->num_networks + 1);
    GCNEW_ARRAY(peer_addrs, c->num_networks + 1);
    GCNEW_ARRAY(cand, c->num_networks + 1);
    pthread_mutex_lock(&cl->lock);
    for (i = 0; i < c->num_networks; i++) {
        st[i] = cl->st[i];
        if (i < first_net || i > last_net)
            st[i].allowed = false;
        netcfg_addr_parse(c->nodes[pi].mig_addrs[i], &peer_addrs[i], NULL);
    }
    pthread_mutex_unlock(&cl->lock);
    n = netcfg_candidates(st, c->num_networks, peer_addrs, cand,
                          c->num_networks);
    if (n == 0) {
        char why[1024] = "";
        size_t len = 0;

        for (i = first_net; i <= last_net && i < c->num_networks &&
                            len < sizeof(why); i++)
            len += (size_t)snprintf(why + len, sizeof(why) - len, "; %s: %s",
                                    st[i].name,
                                    !st[i].allowed ? st[i].reason
                                    : !st[i].present ? "no local address"
                                    : "link down");
        LOG(ERROR, "no allowed migration network of node %s can reach %s"
            "%s", libxlmig__cluster_self_name(cl), node, why);
        return LIBXLMIG_ERROR_REFUSED;
    }
    *cand_r = cand;
    *n_r = n;
    return 0;
}

const char *libxlmig_cluster_transport_security(const libxlmig_cluster *cl)
{
    if (cl->cfg.transport_plain)
        return "unencrypted";
    return libxlmig__tls_expected_security();
}

/* Is node in the cluster config?  (TLS: whose PSK may be derived.) */
static bool cluster_known(void *opaque, const char *node)
{
    const libxlmig_cluster *cl = opaque;

    return libxlmig_cluster_config_node(&cl->cfg, node) >= 0;
}

const char *libxlmig__cluster_node_at(const libxlmig_cluster *cl,
                                      const char *addr)
{
    int i;

    for (i = 0; i < cl->cfg.num_nodes; i++)
        if (libxlmig__cluster_peer_ok(cl, cl->cfg.nodes[i].name, addr))
            return cl->cfg.nodes[i].name;
    return NULL;
}

int libxlmig__cluster_secure(libxlmig__gc *gc, libxlmig_cluster *cl,
                             libxlmig__transport *t, const char *node)
{
    libxlmig__transport_mode mode = cl->cfg.transport_plain
                                    ? LIBXLMIG_TRANSPORT_PLAIN
                                    : LIBXLMIG_TRANSPORT_TLS;
    const libxlmig__key *key;
    const char *who = node;
    int rc;

    if (!who && (who = libxlmig__cluster_node_at(cl, t->peer)))
        who = GCSPRINTF("%s (%s)", who, t->peer);
    rc = libxlmig__transport_preamble(gc, t, mode, who);
    if (rc || mode == LIBXLMIG_TRANSPORT_PLAIN)
        return rc;
    rc = libxlmig__cluster_key(gc, cl, &key);
    if (rc) return rc;
    if (node)
        return libxlmig__transport_tls_client(gc, t, key,
                                              libxlmig__cluster_self_name(cl),
                                              node);
    return libxlmig__transport_tls_server(gc, t, key, cluster_known, cl);
}

/* Over the connected fd (taken) to candidate c: authenticate. */
static int peer_handshake(libxlmig__gc *gc, libxlmig_cluster *cl,
                          const char *node, int fd,
                          const netcfg_candidate *c, libxlmig__peer *p)
{
    const libxlmig__key *key;
    char lb[NETCFG_ADDRSTRLEN], pb[NETCFG_ADDRSTRLEN];
    char *peer_node = NULL;
    int rc;

    p->network = strdup(c->name);
    p->local_addr = strdup(netcfg_addr_str(&c->local, lb));
    p->peer_addr = strdup(netcfg_addr_str(&c->peer, pb));
    rc = libxlmig__transport_fd_open(gc, fd,
                                     GCSPRINTF("%s (%s on %s)", node,
                                               p->peer_addr, p->network),
                                     &p->t);
    if (rc) return rc;
    rc = libxlmig__cluster_key(gc, cl, &key);
    if (rc) return rc;
    libxlmig__chan_init(&p->chan, p->t);
    libxlmig__fault("src", "handshake", p->t->fd);
    rc = libxlmig__cluster_secure(gc, cl, p->t, node);
    if (rc) return rc;
    rc = libxlmig__handshake_client(gc, &p->chan, key,
                                    libxlmig__cluster_self_name(cl), node,
                                    &peer_node);
    if (rc) return rc;
    p->node = strdup(peer_node);
    return 0;
}

int libxlmig__peer_connect(libxlmig__gc *gc, libxlmig_cluster *cl,
                           const char *node, int first_net, int timeout_ms,
                           libxlmig__peer *p)
{
    const libxlmig_cluster_config *c = &cl->cfg;
    const libxlmig__key *key;
    netcfg_candidate *cand;
    netcfg_err err;
    char tried[512] = "";
    size_t len = 0;
    int i, n, used, fd = -1, rc;

    libxlmig__peer_dispose(p);
    rc = peer_candidates(gc, cl, node, first_net, c->num_networks - 1,
                         &cand, &n);
    if (rc) goto out;
    /* Without the key nothing can be proved: say so before connecting. */
    rc = libxlmig__cluster_key(gc, cl, &key);
    if (rc) goto out;
    if (netcfg_connect(cand, n, c->port, timeout_ms, &fd, &used, &err)) {
        LOG(ERROR, "cannot reach node %s on any allowed migration network: "
            "%s", node, err.msg);
        rc = LIBXLMIG_ERROR_REFUSED;
        goto out;
    }
    for (i = 0; i < used && len < sizeof(tried); i++)
        len += (size_t)snprintf(tried + len, sizeof(tried) - len,
                                "%s%s: %s", len ? "; " : "", cand[i].name,
                                strerror(cand[i].result > 0
                                         ? cand[i].result : EIO));
    p->tried = strdup(tried);
    rc = peer_handshake(gc, cl, node, fd, &cand[used], p);
    fd = -1;
 out:
    if (fd >= 0) close(fd);
    if (rc) libxlmig__peer_dispose(p);
    return rc;
}

int libxlmig__peer_connect_on(libxlmig__gc *gc, libxlmig_cluster *cl,
                              const char *node, int net, int timeout_ms,
                              libxlmig__peer *p,
                              libxlmig_net_probe_result *r)
{
    const libxlmig_cluster_config *c = &cl->cfg;
    const libxlmig__key *key;
    netcfg_candidate *cand;
    netcfg_err err;
    int n, used, fd = -1, rc;

    libxlmig__peer_dispose(p);
    if (net < 0 || net >= c->num_networks) {
        LOG(ERROR, "cluster %s has no migration network %d", c->cluster,
            net);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = peer_candidates(gc, cl, node, net, net, &cand, &n);
    if (rc) goto out;
    rc = libxlmig__cluster_key(gc, cl, &key);
    if (rc) goto out;
    if (netcfg_connect(cand, n, c->port, timeout_ms, &fd, &used, &err)) {
        LOG(ERROR, "cannot reach node %s on network %s: %s", node,
            c->networks[net].name, err.msg);
        r->connect_ms = cand[0].connect_ms;
        snprintf(r->error, sizeof(r->error), "%s",
                 strerror(cand[0].result > 0 ? cand[0].result : EIO));
        rc = LIBXLMIG_ERROR_REFUSED;
        goto out;
    }
    r->connected = true;
    r->connect_ms = cand[used].connect_ms;
    rc = peer_handshake(gc, cl, node, fd, &cand[used], p);
    fd = -1;
 out:
    if (rc && !r->error[0])
        snprintf(r->error, sizeof(r->error), "%s", libxlmig_last_error(CTX));
    if (fd >= 0) close(fd);
    if (rc) libxlmig__peer_dispose(p);
    return rc;
}

int libxlmig__cluster_stripe_networks(libxlmig_cluster *cl, int except,
                                      int *nets, int max)
{
    int i, n = 0;

    pthread_mutex_lock(&cl->lock);
    for (i = 0; i < cl->cfg.num_networks && n < max; i++)
        if (i != except && cl->st[i].allowed && cl->st[i].present &&
            cl->st[i].link_up && cl->st[i].cls == NETCFG_CLASS_PRIVATE)
            nets[n++] = i;
    pthread_mutex_unlock(&cl->lock);
    return n;
}

int libxlmig__cluster_path_plan(libxlmig_cluster *cl, int first, int *nets,
                                int max)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    int per = c->connections_per_network ? (int)c->connections_per_network
                                         : 1;
    int other[LIBXLMIG__CLUSTER_MAX_PLAN], no, i, k, n = 0;

    if (max < 1) return 0;
    nets[n++] = first;
    for (k = 1; first >= 0 && k < per && n < max; k++)
        nets[n++] = first;
    no = libxlmig__cluster_stripe_networks(cl, first, other,
                                           LIBXLMIG__CLUSTER_MAX_PLAN);
    for (i = 0; i < no; i++)
        for (k = 0; k < per && n < max; k++)
            nets[n++] = other[i];
    return n;
}

void libxlmig__peer_connect_plan(libxlmig__gc *gc, libxlmig_cluster *cl,
                                 const char *node, const int *plan, int np,
                                 const char *what,
                                 libxlmig__path_keep_fn *keep, void *user)
{
    int i, q, k, skip = -1, rc;

    for (i = 1; i < np; i++) {
        libxlmig_net_probe_result r;
        libxlmig__peer j;

        if (plan[i] == skip)
            continue;
        for (k = 0, q = 0; q < i; q++)      /* its number on its network */
            k += plan[q] == plan[i];
        memset(&r, 0, sizeof(r));
        libxlmig__peer_init(&j);
        rc = libxlmig__peer_connect_on(gc, cl, node, plan[i],
                                       LIBXLMIG_DEFAULT_CONNECT_TIMEOUT_MS,
                                       &j, &r);
        if (!rc)
            rc = keep(gc, &j, k, user);
        if (rc) {
            LOG(WARN, "%s: a further connection over network %s does not "
                "work; it goes on without: %s", what,
                cl->cfg.networks[plan[i]].name, libxlmig_last_error(CTX));
            skip = plan[i];           /* not this network again */
        }
        libxlmig__peer_dispose(&j);
    }
}

/* Keepalive probes of node connections: idle (s), interval (s), count. */
#define KEEPALIVE_IDLE_S  2
#define KEEPALIVE_INTVL_S 1
#define KEEPALIVE_CNT     3

void libxlmig__tune_socket(int fd)
{
    int one = 1, idle = KEEPALIVE_IDLE_S, intvl = KEEPALIVE_INTVL_S;
    int cnt = KEEPALIVE_CNT;
    unsigned int uto = libxlmig__tunable_user_timeout_ms();
    int buf = 4 << 20;

    /*
     * A dead peer or link is noticed in seconds, not TCP's minutes: data
     * unacknowledged (or a zero window) for the user timeout ends the
     * connection ($XLMIG_USER_TIMEOUT_MS; tests shorten it).
     */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
    /* Large buffers: the stream is written in large batches. */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}
