/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Probes of another node's xlmigd over authenticated connections: the
 * bandwidth probe of estimates, drains and each migration's prediction
 * (raw bytes into the node's sink, over every path a migration would
 * open, all at once), and the probe of one given network that `xlmig net
 * check` makes
 * of each: connect time, the round trip of "ping" requests and a short,
 * bounded throughput figure.  Nothing here speaks any protocol but the
 * node service's (docs/protocol.md).
 */
#include <pthread.h>
#include <stdlib.h>

#include "cluster/ops.h"
#include "net/mp_format.h"

#define SINK_CHUNK (1u << 20)       /* bytes per write, and per sink of a
                                       time-bounded probe */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Data to send: not all zeros, so a compressing path does not flatter. */
static char *probe_data(libxlmig__gc *gc)
{
    char *buf = libxlmig__zalloc(gc, SINK_CHUNK);
    size_t n;

    for (n = 0; n < SINK_CHUNK; n++)
        buf[n] = (char)(n * 2654435761u >> 13);
    return buf;
}

/*
 * One sink request: bytes of buf (repeated) read by the node.  *start_r
 * (may be NULL): when the node's reply came and the bytes began (us).
 */
static int sink(libxlmig__gc *gc, libxlmig__peer *p, const char *buf,
                uint64_t bytes, uint64_t *start_r)
{
    uint64_t left = bytes;
    char *payload;
    yajl_val res;
    size_t n;
    int rc;

    rc = libxlmig__rpc_call(gc, &p->chan, "sink",
                            GCSPRINTF("{\"bytes\":%llu}",
                                      (unsigned long long)bytes), &res);
    if (rc) return rc;
    if (start_r)
        *start_r = libxlmig__now_us();
    while (left) {
        n = left < SINK_CHUNK ? (size_t)left : SINK_CHUNK;
        rc = libxlmig__transport_write_all(gc, p->t, buf, n);
        if (rc) return rc;
        left -= n;
    }
    return libxlmig__msg_expect(gc, &p->chan, LIBXLMIG_MSG_EVENT, &payload,
                                NULL);
}

int libxlmig__peer_probe(libxlmig__gc *gc, libxlmig__peer *p, uint64_t bytes,
                         unsigned max_ms, double *bps_r)
{
    const char *buf = probe_data(gc);
    const uint64_t limit_us = (uint64_t)max_ms * 1000;
    uint64_t t0 = 0, us = 0, sent = 0, n = SINK_CHUNK, fit;
    int rc;

    if (!bytes || bytes > LIBXLMIG_SINK_MAX) {
        LOG(ERROR, "bandwidth probe: size must be 1 byte to 1 GiB");
        return LIBXLMIG_ERROR_INVAL;
    }
    libxlmig__tune_socket(p->t->fd);
    while (sent < bytes) {
        /* Unbounded: one piece.  Bounded: 1 MiB, then twice what went,
         * but no more than the rate so far fits in the time left. */
        if (!max_ms)
            n = bytes;
        else if (sent) {
            n = sent;
            fit = us ? (uint64_t)((double)sent * (double)(limit_us - us) /
                                  (double)us) : n;
            if (n > fit)
                n = fit < SINK_CHUNK ? SINK_CHUNK : fit;
        }
        if (n > bytes - sent)
            n = bytes - sent;
        rc = sink(gc, p, buf, n, sent ? NULL : &t0);
        if (rc) return rc;
        sent += n;
        us = libxlmig__now_us() - t0;
        if (max_ms && us >= limit_us)
            break;
    }
    *bps_r = us ? (double)sent * 1e6 / (double)us : 0;
    return 0;
}

/* One path of a probe over all of a migration's paths. */
typedef struct probe_path {
    libxlmig__peer p;
    xentoollog_logger *lg;
    uint64_t bytes;
    unsigned max_ms;
    double bps;
    int rc;
    char error[256];
} probe_path;

static void probe_path_run(libxlmig__gc *gc, probe_path *pp)
{
    pp->rc = libxlmig__peer_probe(gc, &pp->p, pp->bytes, pp->max_ms,
                                  &pp->bps);
    if (pp->rc)
        snprintf(pp->error, sizeof(pp->error), "%s",
                 libxlmig_last_error(CTX));
}

static void *probe_path_main(void *arg)
{
    probe_path *pp = arg;
    libxlmig_ctx *ctx = NULL;

    libxlmig__thread_altstack();
    if (libxlmig_ctx_alloc(&ctx, pp->lg)) {
        pp->rc = LIBXLMIG_ERROR_NOMEM;
        snprintf(pp->error, sizeof(pp->error), "cannot allocate a context");
        return NULL;
    }
    {
        GC_INIT(ctx);
        probe_path_run(gc, pp);
        GC_FREE;
    }
    libxlmig_ctx_free(ctx);
    return NULL;
}

/* The paths connected so far. */
typedef struct probe_set {
    probe_path *pp;
    int n;
} probe_set;

/* libxlmig__path_keep_fn: the next path, as connected. */
static int probe_path_keep(libxlmig__gc *gc, libxlmig__peer *j, int k,
                           void *user)
{
    probe_set *ps = user;

    (void)gc; (void)k;
    ps->pp[ps->n++].p = *j;
    libxlmig__peer_init(j);
    return 0;
}

int libxlmig__probe_paths(libxlmig__gc *gc, libxlmig_cluster *cl,
                          const char *node, uint64_t bytes, unsigned max_ms,
                          double *bps_r, int *paths_r, char **networks_r)
{
    int plan[LIBXLMIG__MP_MAX_PATHS], np, i, q, n = 0, ok = 0, rc;
    pthread_t th[LIBXLMIG__MP_MAX_PATHS];
    bool started[LIBXLMIG__MP_MAX_PATHS];
    const char *nets = "";
    probe_set ps;
    probe_path *pp;

    *bps_r = 0;
    if (paths_r) *paths_r = 0;
    if (networks_r) *networks_r = NULL;
    if (!bytes || bytes > LIBXLMIG_SINK_MAX) {
        LOG(ERROR, "bandwidth probe: size must be 1 byte to 1 GiB");
        return LIBXLMIG_ERROR_INVAL;
    }
    GCNEW_ARRAY(pp, LIBXLMIG__MP_MAX_PATHS);
    for (i = 0; i < LIBXLMIG__MP_MAX_PATHS; i++)
        libxlmig__peer_init(&pp[i].p);
    /* The first as a migration's control connection is made. */
    rc = libxlmig__peer_connect(gc, cl, node, 0,
                                LIBXLMIG_DEFAULT_CONNECT_TIMEOUT_MS,
                                &pp[0].p);
    if (rc) goto out;
    np = libxlmig__cluster_path_plan(cl,
                                     libxlmig__peer_network_index(cl,
                                                                  &pp[0].p),
                                     plan, LIBXLMIG__MP_MAX_PATHS);
    ps.pp = pp;
    ps.n = 1;
    libxlmig__peer_connect_plan(gc, cl, node, plan, np,
                                GCSPRINTF("bandwidth probe to %s", node),
                                probe_path_keep, &ps);
    n = ps.n;
    /*
     * All at once, as the stream will be: paths that share a link or the
     * CPU show it.  A size, not a time bound: the bytes shared out.
     */
    for (i = 0; i < n; i++) {
        pp[i].lg = libxlmig_ctx_logger(CTX);
        pp[i].max_ms = max_ms;
        pp[i].bytes = max_ms ? bytes : (bytes + (uint64_t)n - 1) / n;
        started[i] = i && !pthread_create(&th[i], NULL, probe_path_main,
                                          &pp[i]);
        if (i && !started[i]) {
            pp[i].rc = LIBXLMIG_ERROR_FAIL;
            snprintf(pp[i].error, sizeof(pp[i].error),
                     "cannot start a thread");
        }
    }
    probe_path_run(gc, &pp[0]);
    for (i = 1; i < n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    rc = pp[0].rc;
    for (i = 0; i < n; i++) {
        if (pp[i].rc) {
            LOG(WARN, "bandwidth probe to %s over %s failed; the others "
                "count: %s", node, pp[i].p.network, pp[i].error);
            continue;
        }
        ok++;
        *bps_r += pp[i].bps;
        for (q = 0; q < i; q++)          /* each network named once */
            if (!pp[q].rc && !strcmp(pp[q].p.network, pp[i].p.network))
                break;
        if (q == i)
            nets = *nets ? GCSPRINTF("%s, %s", nets, pp[i].p.network)
                         : pp[i].p.network;
    }
    if (ok) {
        rc = 0;
        if (paths_r) *paths_r = ok;
        if (networks_r) {
            *networks_r = strdup(nets);
            if (!*networks_r) rc = LIBXLMIG_ERROR_NOMEM;
        }
    } else {
        LOG(ERROR, "bandwidth probe to %s failed on every path: %s", node,
            pp[0].error);
    }
 out:
    for (i = 0; i < LIBXLMIG__MP_MAX_PATHS; i++)
        libxlmig__peer_dispose(&pp[i].p);
    return rc;
}

int libxlmig_bandwidth_probe(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                             const char *node, uint64_t bytes,
                             double *bps_r, char **network_r)
{
    GC_INIT(ctx);
    int rc = libxlmig__probe_paths(gc, cl, node, bytes, 0, bps_r, NULL,
                                   network_r);

    GC_FREE;
    return rc;
}

/* LIBXLMIG_NET_PROBE_PINGS requests; their median round trip in r. */
static int ping(libxlmig__gc *gc, libxlmig__peer *p,
                libxlmig_net_probe_result *r)
{
    double t[LIBXLMIG_NET_PROBE_PINGS];
    uint64_t t0;
    yajl_val res;
    int i, rc;

    for (i = 0; i < LIBXLMIG_NET_PROBE_PINGS; i++) {
        t0 = libxlmig__now_us();
        rc = libxlmig__rpc_call(gc, &p->chan, "ping", NULL, &res);
        if (rc) return rc;
        t[i] = (double)(libxlmig__now_us() - t0) / 1000.0;
    }
    qsort(t, LIBXLMIG_NET_PROBE_PINGS, sizeof(t[0]), cmp_double);
    r->rtt_ms = t[LIBXLMIG_NET_PROBE_PINGS / 2];
    return 0;
}

/* Up to bytes into the sink, one SINK_CHUNK at a time, for max_ms. */
static int throughput(libxlmig__gc *gc, libxlmig__peer *p, uint64_t bytes,
                      unsigned max_ms, libxlmig_net_probe_result *r)
{
    const char *buf = probe_data(gc);
    uint64_t t0 = libxlmig__now_us(), us, n;
    int rc = 0;

    libxlmig__tune_socket(p->t->fd);
    while (r->probe_bytes < bytes &&
           (!max_ms || libxlmig__now_us() - t0 < (uint64_t)max_ms * 1000)) {
        n = bytes - r->probe_bytes;
        if (n > SINK_CHUNK)
            n = SINK_CHUNK;
        rc = sink(gc, p, buf, n, NULL);
        if (rc) break;
        r->probe_bytes += n;
    }
    us = libxlmig__now_us() - t0;
    if (r->probe_bytes && us)
        r->throughput = (double)r->probe_bytes * 1e6 / (double)us;
    return rc;
}

int libxlmig_net_probe(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                       const char *node, int net,
                       unsigned connect_timeout_ms, uint64_t probe_bytes,
                       unsigned probe_max_ms, libxlmig_net_probe_result *r)
{
    GC_INIT(ctx);
    libxlmig__peer p;
    int rc;

    memset(r, 0, sizeof(*r));
    libxlmig__peer_init(&p);
    if (!cl || !node || !connect_timeout_ms ||
        probe_bytes > LIBXLMIG_SINK_MAX) {
        LOG(ERROR, "network probe: needs the cluster, a node, a connect "
            "timeout and at most 1 GiB to send");
        snprintf(r->error, sizeof(r->error), "%s", libxlmig_last_error(CTX));
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = libxlmig__peer_connect_on(gc, cl, node, net,
                                   (int)connect_timeout_ms, &p, r);
    if (rc) goto out;
    snprintf(r->transport, sizeof(r->transport), "%s",
             libxlmig__transport_security(p.t));
    rc = ping(gc, &p, r);
    if (rc) {
        snprintf(r->error, sizeof(r->error), "%s", libxlmig_last_error(CTX));
        goto out;
    }
    r->reachable = true;
    if (probe_bytes &&
        throughput(gc, &p, probe_bytes, probe_max_ms, r))
        snprintf(r->error, sizeof(r->error), "throughput probe failed: %s",
                 libxlmig_last_error(CTX));
 out:
    libxlmig__peer_dispose(&p);
    GC_FREE;
    return rc;
}
