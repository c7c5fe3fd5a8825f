/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Probes of another node's xlmigd over an authenticated connection: the
 * bandwidth probe of estimates, drains and each migration's prediction
 * (raw bytes into the node's sink, over the network a migration would
 * use), and the probe of one given network that `xlmig net check` makes
 * of each: connect time, the round trip of "ping" requests and a short,
 * bounded throughput figure.  Nothing here speaks any protocol but the
 * node service's (docs/protocol.md).
 */
#include <stdlib.h>

#include "cluster/ops.h"

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

int libxlmig_bandwidth_probe(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                             const char *node, uint64_t bytes,
                             double *bps_r, char **network_r)
{
    GC_INIT(ctx);
    libxlmig__peer p;
    int rc;

    libxlmig__peer_init(&p);
    if (network_r) *network_r = NULL;
    if (!bytes || bytes > LIBXLMIG_SINK_MAX) {
        LOG(ERROR, "bandwidth probe: size must be 1 byte to 1 GiB");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = libxlmig__peer_connect(gc, cl, node, 0,
                                LIBXLMIG_DEFAULT_CONNECT_TIMEOUT_MS, &p);
    if (!rc)
        rc = libxlmig__peer_probe(gc, &p, bytes, 0, bps_r);
    if (!rc && network_r)
        *network_r = strdup(p.network);
 out:
    libxlmig__peer_dispose(&p);
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
