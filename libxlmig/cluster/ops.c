/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Cluster operations: maintenance mode (a file under the node's state
 * directory, set locally or through a peer's set_maintenance request),
 * queries of other nodes' xlmigd (node_info), and remote jobs.
 */
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "engine/engine.h"
#include "host/ctl.h"
#include "netcfg.h"
#include "cluster/ops.h"
#include "host/storage.h"
#include "cluster/migrate.h"

/* ---- maintenance ---------------------------------------------------- */

int libxlmig__maintenance_write(libxlmig__gc *gc, bool on, const char *who)
{
    char *path = GCSPRINTF("%s/maintenance", libxlmig_state_dir());

    if (!on) {
        if (libxlmig__state_file_remove(NULL, "maintenance") &&
            errno != ENOENT) {
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
                       bool cron, const char *domain, const char *target,
                       char **job_r)
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

/* op for job at node: {"job": job[, "events_offset"]}. */
static int job_call(libxlmig__gc *gc, libxlmig_cluster *cl, const char *node,
                    const char *op, const char *job, const uint64_t *offset,
                    yajl_val *res_r)
{
    yajl_gen a = libxlmig__json_gen_alloc(gc, false);

    yajl_gen_map_open(a);
    libxlmig__yajl_gen_kv_str(a, "job", job);
    if (offset)
        libxlmig__yajl_gen_kv_uint(a, "events_offset", *offset);
    yajl_gen_map_close(a);
    return peer_call_gen(gc, cl, node, -1, op, a, res_r, NULL);
}

int libxlmig_job_status(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                        const char *node, const char *job,
                        uint64_t events_offset, char **json_r)
{
    GC_INIT(ctx);
    yajl_val res;
    int rc;

    *json_r = NULL;
    rc = job_call(gc, cl, node, "job_status", job, &events_offset, &res);
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

/* libxlmig__needs_verdict_fn to the caller's libxlmig_needs_cb. */
struct needs_cb {
    libxlmig_needs_cb fn;
    void *user;
    const char *domain, *source, *target;
    int failed;
};

static void needs_verdict(void *user, const char *check, bool ok,
                          const char *detail)
{
    struct needs_cb *c = user;

    if (!ok) c->failed++;
    if (c->fn)
        c->fn(c->user, c->domain, c->source, c->target, check, ok, detail);
}

int libxlmig_validate_needs(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                            libxlmig_needs_cb fn, void *user)
{
    GC_INIT(ctx);
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    const char *path_n[] = { "domain_needs", NULL };
    const char *path_d[] = { "disks", NULL }, *path_v[] = { "vifs", NULL };
    struct needs_cb cb = { fn, user, NULL, NULL, NULL, 0 };
    int s, t;
    size_t i;

    for (s = 0; s < c->num_nodes; s++) {
        yajl_gen a = libxlmig__json_gen_alloc(gc, false);
        yajl_val res, dn;

        yajl_gen_map_open(a);
        libxlmig__yajl_gen_kv_bool(a, "domain_needs", true);
        yajl_gen_map_close(a);
        if (peer_call_gen(gc, cl, c->nodes[s].name, -1, "node_info", a, &res,
                          NULL))
            continue;
        dn = yajl_tree_get(res, path_n, yajl_t_array);
        for (i = 0; dn && i < dn->u.array.len; i++) {
            yajl_val d = dn->u.array.values[i];

            cb.domain = libxlmig__json_get_str(d, "name");
            cb.source = c->nodes[s].name;
            for (t = 0; t < c->num_nodes; t++) {
                yajl_val ans, v;

                if (t == s)
                    continue;
                cb.target = c->nodes[t].name;
                a = libxlmig__json_gen_alloc(gc, false);
                yajl_gen_map_open(a);
                if ((v = yajl_tree_get(d, path_d, yajl_t_array))) {
                    libxlmig__yajl_gen_str(a, "disks");
                    libxlmig__yajl_gen_val(a, v);
                }
                if ((v = yajl_tree_get(d, path_v, yajl_t_array))) {
                    libxlmig__yajl_gen_str(a, "vifs");
                    libxlmig__yajl_gen_val(a, v);
                }
                yajl_gen_map_close(a);
                if (peer_call_gen(gc, cl, cb.target, -1, "node_info", a,
                                  &ans, NULL)) {
                    needs_verdict(&cb, "reach", false,
                                  GCSPRINTF("%s cannot be asked about the "
                                            "disks and bridges of %s: %s",
                                            cb.target, cb.domain,
                                            libxlmig_last_error(ctx)));
                    continue;
                }
                libxlmig__dom_needs_check(gc, d, ans, cb.target,
                                          needs_verdict, &cb);
            }
        }
    }
    GC_FREE;
    return cb.failed;
}

int libxlmig_status_get(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                        const char *node, char **json_r)
{
    GC_INIT(ctx);
    yajl_val res = NULL;
    int rc;

    *json_r = NULL;
    if (is_self(cl, node))
        rc = libxlmig__ctl_call(gc, ctx->backend_kind,
                                libxlmig__ctl_simple_request(gc, "status",
                                                             NULL),
                                -1, NULL, NULL, &res);
    else
        rc = peer_call(gc, cl, node, -1, "status", NULL, &res, NULL);
    if (!rc && !res) {
        LOG(ERROR, "%s sent no status", node ? node : "xlmigd");
        rc = LIBXLMIG_ERROR_PROTOCOL;
    }
    if (!rc)
        rc = reply_text(gc, res, "status", node ? node : "this node",
                        json_r);
    GC_FREE;
    return rc;
}
