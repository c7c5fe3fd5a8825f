/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Cluster operations: maintenance mode (a file under the node's state
 * directory, set locally or through a peer's set_maintenance request),
 * queries of other nodes' xlmigd (node_info), the bandwidth probe over a
 * migration network (the sink request), and migration estimates: a fit
 * of the domain's dirty-log sample fed through the engine's own pre-copy
 * policy over simulated rounds.
 */
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "libxlmig_mig.h"
#include "netcfg.h"
#include "ops.h"
#include "migrate.h"

/* Fixed costs the estimate adds (ms): connection and stream setup,
 * and the end of the stream plus the handoff. */
#define ESTIMATE_SETUP_MS    20
#define ESTIMATE_HANDOFF_MS  10
/* Simulated rounds stop here whatever the policy says. */
#define ESTIMATE_MAX_ROUNDS  1000

const char *libxlmig_state_dir(void)
{
    const char *s = getenv("XLMIG_STATE_DIR");

    return s && *s ? s : LIBXLMIG_DEFAULT_STATE_DIR;
}

int libxlmig__state_file_write(libxlmig__gc *gc, const char *sub,
                               const char *leaf, const char *text)
{
    const char *dir = libxlmig_state_dir();
    char *path, *tmp;
    FILE *f;
    int e;

    mkdir(dir, 0755);
    if (sub) {
        dir = GCSPRINTF("%s/%s", dir, sub);
        mkdir(dir, 0700);
    }
    path = GCSPRINTF("%s/%s", dir, leaf);
    tmp = GCSPRINTF("%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return -1;
    if (fputs(text, f) < 0 || fflush(f) || fsync(fileno(f))) {
        e = errno;
        fclose(f);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (fclose(f) || rename(tmp, path)) {
        e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* ---- maintenance ---------------------------------------------------- */

int libxlmig__maintenance_write(libxlmig__gc *gc, bool on, const char *who)
{
    char *path = GCSPRINTF("%s/maintenance", libxlmig_state_dir());

    if (!on) {
        if (unlink(path) && errno != ENOENT) {
            LOGE(ERROR, "cannot leave maintenance mode: removing %s", path);
            return LIBXLMIG_ERROR_IO;
        }
        LOG(INFO, "maintenance mode off (by %s)", who);
        return 0;
    }
    if (libxlmig__state_file_write(gc, NULL, "maintenance",
                                   GCSPRINTF("since %lld by %s\n",
                                             (long long)time(NULL), who))) {
        LOGE(ERROR, "cannot enter maintenance mode: writing %s", path);
        return LIBXLMIG_ERROR_IO;
    }
    LOG(INFO, "maintenance mode on (by %s)", who);
    return 0;
}

static bool is_self(libxlmig_cluster *cl, const char *node)
{
    return !node || (cl && !strcmp(node, libxlmig__cluster_self_name(cl)));
}

/* Connect to node and make one request; *res_r is arena memory. */
static int peer_call(libxlmig__gc *gc, libxlmig_cluster *cl,
                     const char *node, int net, const char *op,
                     const char *args, yajl_val *res_r, char **network_r)
{
    libxlmig__peer p;
    int rc;

    libxlmig__peer_init(&p);
    if (!cl) {
        LOG(ERROR, "asking node %s needs the cluster config", node);
        return LIBXLMIG_ERROR_CONFIG;
    }
    rc = libxlmig__peer_connect(gc, cl, node, net < 0 ? 0 : net,
                                LIBXLMIG_DEFAULT_CONNECT_TIMEOUT_MS, &p);
    if (rc) goto out;
    if (net >= 0 && libxlmig__peer_network_index(cl, &p) != net) {
        LOG(ERROR, "node %s does not answer on network %s",
            node, libxlmig_cluster_cfg(cl)->networks[net].name);
        rc = LIBXLMIG_ERROR_REFUSED;
        goto out;
    }
    if (network_r)
        *network_r = strdup(p.network);
    rc = libxlmig__rpc_call(gc, &p.chan, op, args, res_r);
 out:
    libxlmig__peer_dispose(&p);
    return rc;
}

int libxlmig_maintenance_get(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                             const char *node, bool *on_r)
{
    GC_INIT(ctx);
    yajl_val res;
    int rc;

    if (is_self(cl, node)) {
        *on_r = access(GCSPRINTF("%s/maintenance", libxlmig_state_dir()),
                       F_OK) == 0;
        rc = 0;
        goto out;
    }
    rc = peer_call(gc, cl, node, -1, "node_info", NULL, &res, NULL);
    if (!rc) rc = libxlmig__json_get_bool(gc, res, "maintenance", on_r);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_maintenance_set(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                             const char *node, bool on)
{
    GC_INIT(ctx);
    yajl_val res;
    int rc;

    if (is_self(cl, node)) {
        rc = libxlmig__maintenance_write(gc, on, "xlmig maintenance");
        goto out;
    }
    rc = peer_call(gc, cl, node, -1, "set_maintenance",
                   on ? "{\"maintenance\":true}" : "{\"maintenance\":false}",
                   &res, NULL);
 out:
    GC_FREE;
    return rc;
}

/* ---- jobs on other nodes (jobs.c runs them) ------------------------ */

/* peer_call with the arguments built in generator a. */
static int peer_call_gen(libxlmig__gc *gc, libxlmig_cluster *cl,
                         const char *node, int net, const char *op,
                         yajl_gen a, yajl_val *res_r, char **network_r)
{
    char *args = NULL;
    int rc = libxlmig__json_finish(gc, a, &args);

    if (rc) return rc;
    libxlmig__ptr_add(gc, args);
    return peer_call(gc, cl, node, net, op, args, res_r, network_r);
}

/* A reply as JSON text for the caller (who frees *json_r). */
static int reply_text(libxlmig__gc *gc, yajl_val res, const char *what,
                      const char *node, char **json_r)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);

    if (libxlmig__yajl_gen_val(g, res) != yajl_gen_status_ok) {
        LOG(ERROR, "cannot encode the %s of %s", what, node);
        return LIBXLMIG_ERROR_JSON;
    }
    return libxlmig__json_finish(gc, g, json_r);
}

int libxlmig_job_start(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                       const char *node, const char *kind,
                       const libxlmig_params *params, bool dry_run,
                       bool cron, bool json, const char *domain,
                       const char *target, char **job_r)
{
    GC_INIT(ctx);
    yajl_gen a = libxlmig__json_gen_alloc(gc, false);
    libxlmig_params def;
    const char *id;
    yajl_val res;
    int rc;

    *job_r = NULL;
    libxlmig_params_init(&def);
    yajl_gen_map_open(a);
    libxlmig__yajl_gen_kv_str(a, "kind", kind);
    libxlmig__yajl_gen_kv_bool(a, "dry_run", dry_run);
    libxlmig__yajl_gen_kv_bool(a, "cron", cron);
    libxlmig__yajl_gen_kv_bool(a, "json", json);
    libxlmig__yajl_gen_str(a, "params");
    libxlmig__params_gen_json(a, params ? params : &def);
    if (domain)
        libxlmig__yajl_gen_kv_str(a, "domain", domain);
    if (target)
        libxlmig__yajl_gen_kv_str(a, "target", target);
    yajl_gen_map_close(a);
    rc = peer_call_gen(gc, cl, node, -1, "job_start", a, &res, NULL);
    if (rc) goto out;
    id = libxlmig__json_get_str(res, "job");
    if (!id || !(*job_r = strdup(id))) {
        LOG(ERROR, "%s started a job but sent no id", node);
        rc = LIBXLMIG_ERROR_PROTOCOL;
    }
 out:
    GC_FREE;
    return rc;
}

/* op for job at node: {"job": job[, "out_offset", "err_offset"]}. */
static int job_call(libxlmig__gc *gc, libxlmig_cluster *cl, const char *node,
                    const char *op, const char *job, const uint64_t *offsets,
                    yajl_val *res_r)
{
    yajl_gen a = libxlmig__json_gen_alloc(gc, false);

    yajl_gen_map_open(a);
    libxlmig__yajl_gen_kv_str(a, "job", job);
    if (offsets) {
        libxlmig__yajl_gen_kv_uint(a, "out_offset", offsets[0]);
        libxlmig__yajl_gen_kv_uint(a, "err_offset", offsets[1]);
    }
    yajl_gen_map_close(a);
    return peer_call_gen(gc, cl, node, -1, op, a, res_r, NULL);
}

int libxlmig_job_status(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                        const char *node, const char *job,
                        uint64_t out_offset, uint64_t err_offset,
                        char **json_r)
{
    GC_INIT(ctx);
    const uint64_t offsets[2] = { out_offset, err_offset };
    yajl_val res;
    int rc;

    *json_r = NULL;
    rc = job_call(gc, cl, node, "job_status", job, offsets, &res);
    if (!rc)
        rc = reply_text(gc, res, "job state", node, json_r);
    GC_FREE;
    return rc;
}

int libxlmig_job_stop(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                      const char *node, const char *job)
{
    GC_INIT(ctx);
    yajl_val res;
    int rc;

    rc = job_call(gc, cl, node, "job_stop", job, NULL, &res);
    GC_FREE;
    return rc;
}

/* ---- node facts for node_info ------------------------------------- */

static void sha256_file(const char *path, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[8192];
    unsigned int len = 0, i;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    size_t n;

    out[0] = '\0';
    if (!f || !c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
        goto out;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (!EVP_DigestUpdate(c, buf, n))
            goto out;
    if (ferror(f) || !EVP_DigestFinal_ex(c, md, &len))
        goto out;
    for (i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
 out:
    if (f) fclose(f);
    EVP_MD_CTX_free(c);
}

void libxlmig__node_facts_gen(libxlmig__gc *gc, libxlmig_cluster *cl,
                              yajl_gen g)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    int self = libxlmig_cluster_self(cl), w;
    netcfg_snapshot *snap = NULL;
    netcfg_status st;
    netcfg_err err;
    struct timespec ts;
    char hash[65];

    clock_gettime(CLOCK_REALTIME, &ts);
    libxlmig__yajl_gen_kv_uint(g, "time_ms", (uint64_t)ts.tv_sec * 1000 +
                               (uint64_t)ts.tv_nsec / 1000000);
    sha256_file(c->file, hash);
    libxlmig__yajl_gen_kv_str(g, "config_sha256", hash);
    libxlmig__yajl_gen_str(g, "networks");
    yajl_gen_array_open(g);
    if (netcfg_snapshot_take(&snap, &err))
        snap = NULL;
    for (w = 0; snap && self >= 0 && w < c->num_networks; w++) {
        memset(&st, 0, sizeof(st));
        st.name = c->networks[w].name;
        netcfg_prefix_parse(c->networks[w].cidr, &st.prefix, NULL);
        netcfg_addr_parse(c->nodes[self].mig_addrs[w], &st.local, NULL);
        netcfg_classify(snap, &st, c->allow_public, c->file);
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "name", st.name);
        libxlmig__yajl_gen_kv_bool(g, "present", st.present);
        libxlmig__yajl_gen_kv_bool(g, "link_up", st.link_up);
        libxlmig__yajl_gen_kv_str(g, "class", netcfg_class_str(st.cls));
        libxlmig__yajl_gen_kv_bool(g, "has_gateway", st.has_gateway);
        libxlmig__yajl_gen_kv_str(g, "gateway", st.gateway);
        libxlmig__yajl_gen_kv_bool(g, "allowed", st.allowed);
        libxlmig__yajl_gen_kv_str(g, "reason", st.reason);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    netcfg_snapshot_free(snap);
}

/* ---- queries of other nodes ------------------------------------------ */

int libxlmig_node_query(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                        const char *node, int net, char **json_r,
                        char **network_r)
{
    GC_INIT(ctx);
    const char *storage = cl ? libxlmig_cluster_cfg(cl)->sim_storage_dir
                             : NULL;
    yajl_gen a = libxlmig__json_gen_alloc(gc, false);
    yajl_val res;
    int rc;

    *json_r = NULL;
    if (network_r) *network_r = NULL;
    /* Ask whether the shared storage is visible there too. */
    yajl_gen_map_open(a);
    if (storage && *storage)
        libxlmig__yajl_gen_kv_str(a, "storage", storage);
    yajl_gen_map_close(a);
    rc = peer_call_gen(gc, cl, node, net, "node_info", a, &res, network_r);
    if (!rc)
        rc = reply_text(gc, res, "node_info", node, json_r);
    GC_FREE;
    return rc;
}

int libxlmig__peer_probe(libxlmig__gc *gc, libxlmig__peer *p, uint64_t bytes,
                         double *bps_r)
{
    size_t chunk = 1 << 20, n;
    char *buf, *payload;
    uint64_t left = bytes, t0, us;
    yajl_val res;
    int rc;

    if (!bytes || bytes > LIBXLMIG_SINK_MAX) {
        LOG(ERROR, "bandwidth probe: size must be 1 byte to 1 GiB");
        return LIBXLMIG_ERROR_INVAL;
    }
    buf = libxlmig__zalloc(gc, chunk);
    /* Not all zeros: a compressing path must not flatter the figure. */
    for (n = 0; n < chunk; n++)
        buf[n] = (char)(n * 2654435761u >> 13);
    libxlmig__tune_socket(p->t->fd);
    rc = libxlmig__rpc_call(gc, &p->chan, "sink",
                            GCSPRINTF("{\"bytes\":%llu}",
                                      (unsigned long long)bytes), &res);
    if (rc) return rc;
    t0 = libxlmig__now_us();
    while (left) {
        n = left < chunk ? (size_t)left : chunk;
        rc = libxlmig__transport_write_all(gc, p->t, buf, n);
        if (rc) return rc;
        left -= n;
    }
    rc = libxlmig__msg_expect(gc, &p->chan, LIBXLMIG_MSG_EVENT, &payload,
                              NULL);
    if (rc) return rc;
    us = libxlmig__now_us() - t0;
    *bps_r = us ? (double)bytes * 1e6 / (double)us : 0;
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
        rc = libxlmig__peer_probe(gc, &p, bytes, bps_r);
    if (!rc && network_r)
        *network_r = strdup(p.network);
 out:
    libxlmig__peer_dispose(&p);
    GC_FREE;
    return rc;
}

/* ---- estimates --------------------------------------------------------- */

/*
 * The model: a guest writing r pages/s uniformly over w pages has written
 * f(t) = w (1 - exp(-r t / w)) distinct pages after t seconds.  Two sample
 * points at t and 4t give c1 and c4; with x = exp(-r t / w), c4 / c1 =
 * 1 + x + x^2 + x^3, which fixes x, then w and r.
 */
static void fit(const libxlmig_dirty_sample *s, double *rate_r, double *ws_r)
{
    double t1, c1, c4, q, lo = 0, hi = 1, x = 0, w, r;
    int i, last = (int)s->nr_points - 1;

    *rate_r = 0;
    *ws_r = (double)s->nr_pages;
    if (last < 0 || last >= LIBXLMIG_DIRTY_SAMPLE_POINTS || !s->ms[0] ||
        !s->pages[last])
        return;
    t1 = s->ms[0] / 1000.0;
    c1 = (double)s->pages[0];
    c4 = (double)s->pages[last];
    if (!c1) {
        *rate_r = c4 * 1000.0 / (double)s->ms[last];
        return;
    }
    q = c4 / c1 * (4.0 * (double)s->ms[0] / (double)s->ms[last]);
    if (q >= 3.96) {                 /* linear: no sign of saturation */
        *rate_r = c4 * 1000.0 / (double)s->ms[last];
        return;
    }
    if (q <= 1.0) q = 1.0001;
    for (i = 0; i < 60; i++) {
        x = (lo + hi) / 2;
        if (1 + x + x * x + x * x * x < q) lo = x; else hi = x;
    }
    w = c1 / (1 - x);
    r = -w * log(x) / t1;
    if (w > (double)s->nr_pages) w = (double)s->nr_pages;
    *rate_r = r;
    *ws_r = w;
}

static double dirtied(double rate, double ws, double secs)
{
    if (ws <= 0 || rate <= 0 || secs <= 0)
        return 0;
    return ws * (1 - exp(-rate * secs / ws));
}

int libxlmig_estimate_compute(libxlmig_ctx *ctx, const libxlmig_params *p,
                              const libxlmig_dirty_sample *s,
                              double bandwidth, libxlmig_estimate *e)
{
    GC_INIT(ctx);
    libxlmig__precopy_input in;
    libxlmig__precopy_decision d;
    libxlmig_params def;
    double rate, ws, secs, total, pages, eff, bw = bandwidth;
    uint32_t round;
    int rc;

    memset(e, 0, sizeof(*e));
    if (!p) {
        libxlmig_params_init(&def);
        p = &def;
    }
    if (p->bandwidth_limit && (!bw || bw > (double)p->bandwidth_limit))
        bw = (double)p->bandwidth_limit;
    if (bw <= 0 || !s->nr_pages) {
        LOG(ERROR, "estimate: need a bandwidth and a domain size");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    fit(s, &rate, &ws);
    e->dirty_rate = rate;
    e->working_set_pages = (uint64_t)ws;
    e->bandwidth = bw;
    e->converges = true;

    /* Round 0 sends every page; then the policy decides per round. */
    pages = (double)s->nr_pages;
    secs = pages * LIBXLMIG__PAGE_SIZE / bw;
    total = secs;
    e->bytes = s->nr_pages * LIBXLMIG__PAGE_SIZE;
    memset(&in, 0, sizeof(in));
    in.last_round_bytes = e->bytes;
    for (round = 0; round < ESTIMATE_MAX_ROUNDS; round++) {
        eff = rate * (100 - in.throttle_pct) / 100.0;
        pages = dirtied(eff, ws, secs);
        in.round = round + 1;
        in.prev_dirty_bytes = in.dirty_bytes;
        in.dirty_bytes = (uint64_t)pages * LIBXLMIG__PAGE_SIZE;
        in.bandwidth_bps = bw;
        in.elapsed_ms = (uint64_t)(total * 1000);
        d = libxlmig__precopy_decide(p, &in);
        in.stalled_rounds = d.stalled_rounds;
        if (d.action == LIBXLMIG__PRECOPY_ABORT) {
            e->converges = false;
            break;
        }
        if (d.action == LIBXLMIG__PRECOPY_STOP_AND_COPY) {
            secs = (double)in.dirty_bytes / bw;
            e->downtime_ms = (uint64_t)(secs * 1000 + 0.5);
            e->bytes += in.dirty_bytes;
            total += secs;
            break;
        }
        in.throttle_pct = d.throttle_pct;
        if (d.throttle_pct > e->throttle_pct)
            e->throttle_pct = d.throttle_pct;
        secs = (double)in.dirty_bytes / bw;
        total += secs;
        e->bytes += in.dirty_bytes;
        in.last_round_bytes = in.dirty_bytes;
        e->rounds++;
    }
    e->total_ms = (uint64_t)(total * 1000 + 0.5) + ESTIMATE_SETUP_MS +
                  ESTIMATE_HANDOFF_MS;
    rc = 0;
 out:
    GC_FREE;
    return rc;
}

yajl_gen_status libxlmig__estimate_gen(yajl_gen g, const libxlmig_estimate *e)
{
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_uint(g, "total_ms", e->total_ms);
    libxlmig__yajl_gen_kv_uint(g, "downtime_ms", e->downtime_ms);
    libxlmig__yajl_gen_kv_uint(g, "rounds", e->rounds);
    libxlmig__yajl_gen_kv_uint(g, "bytes", e->bytes);
    libxlmig__yajl_gen_kv_double(g, "dirty_rate", e->dirty_rate);
    libxlmig__yajl_gen_kv_uint(g, "working_set_pages", e->working_set_pages);
    libxlmig__yajl_gen_kv_double(g, "bandwidth", e->bandwidth);
    libxlmig__yajl_gen_kv_uint(g, "throttle_pct", e->throttle_pct);
    libxlmig__yajl_gen_kv_bool(g, "converges", e->converges);
    return yajl_gen_map_close(g);
}

static yajl_gen_status estimate_gen(yajl_gen g, const void *e)
{
    return libxlmig__estimate_gen(g, e);
}

int libxlmig__estimate_parse(libxlmig__gc *gc, yajl_val v,
                            libxlmig_estimate *e)
{
    long long rounds = 0, thr = 0;
    int rc;

    memset(e, 0, sizeof(*e));
    rc = libxlmig__json_check_version(gc, v, "prediction", 1);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "total_ms", &e->total_ms);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "downtime_ms",
                                         &e->downtime_ms);
    if (!rc) rc = libxlmig__json_get_int(gc, v, "rounds", &rounds);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "bytes", &e->bytes);
    if (!rc) rc = libxlmig__json_get_double(gc, v, "dirty_rate",
                                            &e->dirty_rate);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "working_set_pages",
                                         &e->working_set_pages);
    if (!rc) rc = libxlmig__json_get_double(gc, v, "bandwidth",
                                            &e->bandwidth);
    if (!rc) rc = libxlmig__json_get_int(gc, v, "throttle_pct", &thr);
    if (!rc) rc = libxlmig__json_get_bool(gc, v, "converges",
                                          &e->converges);
    if (!rc && (rounds < 0 || rounds > UINT32_MAX || thr < 0 || thr > 100)) {
        LOG(ERROR, "prediction: rounds or throttle out of range");
        rc = LIBXLMIG_ERROR_PROTOCOL;
    }
    e->rounds = (uint32_t)rounds;
    e->throttle_pct = (uint32_t)thr;
    return rc;
}

int libxlmig_estimate_to_json(libxlmig_ctx *ctx, const libxlmig_estimate *e,
                              char **json_r)
{
    return libxlmig__json_encode(ctx, estimate_gen, e, false, "estimate",
                                 json_r);
}
