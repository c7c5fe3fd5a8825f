/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The simulated hypervisor backend.  Domains are processes hosted by the
 * node daemon (xlmigd --backend=sim); this file is its client: each
 * operation is one connection to the daemon's unix socket carrying one
 * JSON request (and, for save/restore, the stream fd via SCM_RIGHTS), and
 * reading JSON lines back (progress, then the result).  Host facts are
 * the Linux machine's.
 */
#include "core/tunables.h"
#include "core/core.h"
#include "policy.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/engine.h"
#include "backend/sim/sim.h"
#include "cluster/ops.h"

static int sim_open(libxlmig__gc *gc, void **priv_r)
{
    *priv_r = NULL;
    return 0;
}

static void sim_close(libxlmig_ctx *ctx, void *priv)
{
}

static int sim_host_info(libxlmig__gc *gc, void *priv,
                         libxlmig_host_info *hi)
{
    int rc;

    rc = libxlmig__host_info_linux(gc, hi);
    if (rc) return rc;
    hi->hypervisor = strdup("xlmig-sim " LIBXLMIG_VERSION);
    hi->scheduler = strdup("sim");
    return 0;
}

/* The policy this kernel sees, from the cpuid instruction. */
static int sim_host_cpu_policy(libxlmig__gc *gc, void *priv,
                               struct policy_cpuid *p)
{
    if (!policy_capture_native(p)) {
        LOG(ERROR, "no cpuid instruction on this architecture");
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }
    return 0;
}

/*
 * One request to the daemon.  req is the JSON text; fd (or -1) is passed
 * along.  Progress lines go to cb; *data_r (may be NULL) is the result's
 * "data", freed by GC_FREE.  A failed result is logged with the daemon's
 * message and its rc returned.
 */
static int sim_call(libxlmig__gc *gc, const char *req, int fd,
                    libxlmig_progress_cb cb, void *user, yajl_val *data_r)
{
    const char *path = libxlmig__tunable_control_socket();
    struct sockaddr_un sa;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg;
    struct iovec iov[2];
    char *line = NULL, *buf = NULL, *nl;
    size_t len = 0, cap = 0;
    yajl_val v;
    long long rcv;
    ssize_t r;
    int s = -1, rc;

    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
        LOGE(ERROR, "cannot reach the sim daemon at %s (start xlmigd "
             "--backend=sim, or set XLMIGD_SOCKET)", path);
        rc = LIBXLMIG_ERROR_BACKEND;
        goto out;
    }
    memset(&msg, 0, sizeof(msg));
    iov[0].iov_base = (void *)req;
    iov[0].iov_len = strlen(req);
    iov[1].iov_base = "\n";
    iov[1].iov_len = 1;
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    if (fd >= 0) {
        memset(&cm, 0, sizeof(cm));
        msg.msg_control = cm.b;
        msg.msg_controllen = sizeof(cm.b);
        cm.h.cmsg_level = SOL_SOCKET;
        cm.h.cmsg_type = SCM_RIGHTS;
        cm.h.cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
    }
    if (sendmsg(s, &msg, MSG_NOSIGNAL) != (ssize_t)(iov[0].iov_len + 1)) {
        LOGE(ERROR, "cannot send a request to the sim daemon");
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    for (;;) {
        nl = buf ? memchr(buf, '\n', len) : NULL;
        if (!nl) {
            if (len + 4096 > cap) {
                cap = cap ? cap * 2 : 65536;
                buf = libxlmig__realloc(gc, buf, cap);
            }
            r = read(s, buf + len, cap - len - 1);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                LOG(ERROR, "the sim daemon closed the connection without "
                    "a result");
                rc = LIBXLMIG_ERROR_PROTOCOL;
                goto out;
            }
            len += r;
            continue;
        }
        *nl = 0;
        line = GCSTRDUP(buf);
        memmove(buf, nl + 1, len - (nl + 1 - buf));
        len -= nl + 1 - buf;
        rc = libxlmig__json_parse(gc, line, "sim daemon reply", &v);
        if (rc) goto out;
        {
            const char *type = libxlmig__json_get_str(v, "type");
            const char *keys[] = { "stats", NULL };
            yajl_val sv = yajl_tree_get(v, keys, yajl_t_object);

            if (type && !strcmp(type, "progress")) {
                libxlmig_stats st;
                if (cb && sv && !libxlmig__stats_parse_json(gc, sv, &st))
                    cb(user, &st);
                continue;
            }
        }
        rc = libxlmig__json_get_int(gc, v, "rc", &rcv);
        if (rc) goto out;
        if (data_r) {
            /* Also on failure: a migration reports how far it got. */
            const char *keys[] = { "data", NULL };
            *data_r = yajl_tree_get(v, keys, yajl_t_any);
        }
        if (rcv) {
            const char *e = libxlmig__json_get_str(v, "error");
            LOG(ERROR, "%s", e && *e ? e : libxlmig_strerror((int)rcv));
            rc = (int)rcv;
            goto out;
        }
        rc = 0;
        break;
    }
 out:
    if (s >= 0) close(s);
    return rc;
}

/* {"version":1,"op":op[,"domain":name]} */
static char *simple_req(libxlmig__gc *gc, const char *op, const char *name)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char *json = NULL;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok ||
        libxlmig__yajl_gen_kv_int(g, "version", 1) != yajl_gen_status_ok ||
        libxlmig__yajl_gen_kv_str(g, "op", op) != yajl_gen_status_ok ||
        (name && libxlmig__yajl_gen_kv_str(g, "domain", name) !=
                 yajl_gen_status_ok) ||
        yajl_gen_map_close(g) != yajl_gen_status_ok ||
        libxlmig__json_finish(gc, g, &json))
        return NULL;
    return libxlmig__ptr_add(gc, json);
}

/*
 * Send the request built in g (s: the status of building it) with fd
 * attached, as sim_call does.  what names the request in the error.
 */
static int sim_send(libxlmig__gc *gc, yajl_gen g, yajl_gen_status s,
                    const char *what, int fd, libxlmig_progress_cb cb,
                    void *user, yajl_val *data_r)
{
    char *json = NULL;
    int rc;

    if (s != yajl_gen_status_ok) {
        LOG(ERROR, "cannot encode a %s request", what);
        return LIBXLMIG_ERROR_JSON;
    }
    rc = libxlmig__json_finish(gc, g, &json);
    if (rc) return rc;
    libxlmig__ptr_add(gc, json);
    return sim_call(gc, json, fd, cb, user, data_r);
}

static int sim_list(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                    int *nr_r)
{
    libxlmig_dominfo *list = NULL;
    yajl_val data;
    size_t i, n;
    int rc;

    rc = sim_call(gc, simple_req(gc, "list", NULL), -1, NULL, NULL, &data);
    if (rc) return rc;
    if (!YAJL_IS_ARRAY(data)) {
        LOG(ERROR, "the sim daemon sent a malformed domain list");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    n = data->u.array.len;
    list = calloc(n ? n : 1, sizeof(*list));
    if (!list) return LIBXLMIG_ERROR_NOMEM;
    for (i = 0; i < n; i++) {
        yajl_val d = data->u.array.values[i];
        libxlmig_dominfo *di = &list[i];
        const char *state = libxlmig__json_get_str(d, "state");
        uint64_t u;

        di->name = strdup(libxlmig__json_get_str(d, "name") ?: "");
        snprintf(di->uuid, sizeof(di->uuid), "%s",
                 libxlmig__json_get_str(d, "uuid") ?: "");
        if (!libxlmig__json_get_u64(gc, d, "domid", &u)) di->domid = u;
        if (!libxlmig__json_get_u64(gc, d, "memory_kib", &u))
            di->memory_kib = di->max_memory_kib = u;
        di->vcpus = 1;
        di->state = !state ? LIBXLMIG_DOMAIN_RUNNING
                  : !strcmp(state, "paused") ? LIBXLMIG_DOMAIN_PAUSED
                  : !strcmp(state, "shutdown") ? LIBXLMIG_DOMAIN_SHUTDOWN
                  : LIBXLMIG_DOMAIN_RUNNING;
    }
    *list_r = list;
    *nr_r = (int)n;
    return 0;
}

static int sim_pause(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_call(gc, simple_req(gc, "pause", name), -1, NULL, NULL, NULL);
}

static int sim_unpause(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_call(gc, simple_req(gc, "unpause", name), -1, NULL, NULL,
                    NULL);
}

static int sim_destroy(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_call(gc, simple_req(gc, "destroy", name), -1, NULL, NULL,
                    NULL);
}

static int sim_save(libxlmig__gc *gc, void *priv, const char *name, int fd,
                    unsigned flags, const libxlmig_params *params,
                    libxlmig_progress_cb cb, void *user, libxlmig_stats *st)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    libxlmig_params def;
    yajl_val data;
    int rc;

    if (!params) {
        libxlmig_params_init(&def);
        params = &def;
    }
    s = yajl_gen_map_open(g);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "op", "save");
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "domain", name);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_bool(g, "live", flags & LIBXLMIG_SAVE_LIVE);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_bool(g, "checkpoint",
                                       flags & LIBXLMIG_SAVE_CHECKPOINT);
    if (s == yajl_gen_status_ok) s = libxlmig__yajl_gen_str(g, "params");
    if (s == yajl_gen_status_ok) s = libxlmig__params_gen_json(g, params);
    if (s == yajl_gen_status_ok) s = yajl_gen_map_close(g);
    rc = sim_send(gc, g, s, "save", fd, cb, user, &data);
    if (rc) return rc;
    if (st && data)
        rc = libxlmig__stats_parse_json(gc, data, st);
    return rc;
}

static int sim_restore(libxlmig__gc *gc, void *priv, int fd,
                       const char *new_name, bool paused,
                       libxlmig_progress_cb cb, void *user,
                       libxlmig_stats *st, char **name_r)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    yajl_val data, sv;
    const char *keys[] = { "stats", NULL };
    int rc;

    s = yajl_gen_map_open(g);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "op", "restore");
    if (s == yajl_gen_status_ok && new_name)
        s = libxlmig__yajl_gen_kv_str(g, "name", new_name);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_bool(g, "paused", paused);
    if (s == yajl_gen_status_ok) s = yajl_gen_map_close(g);
    rc = sim_send(gc, g, s, "restore", fd, cb, user, &data);
    if (rc) return rc;
    sv = yajl_tree_get(data, keys, yajl_t_object);
    if (st && sv)
        rc = libxlmig__stats_parse_json(gc, sv, st);
    if (name_r)
        *name_r = strdup(libxlmig__json_get_str(data, "name") ?: "");
    return rc;
}

int libxlmig_sim_create(libxlmig_ctx *ctx, const libxlmig_sim_params *p)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    int rc;

    s = yajl_gen_map_open(g);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "op", "create");
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "name", p->name);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "memory_mib", p->memory_mib);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "dirty_rate", p->dirty_rate);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "working_set_mib",
                                       p->working_set_mib);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_double(g, "zero_fraction", p->zero_fraction);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_int(g, "hot_pct", p->hot_pct);
    if (s == yajl_gen_status_ok && p->ip)
        s = libxlmig__yajl_gen_kv_str(g, "ip", p->ip);
    if (s == yajl_gen_status_ok && p->mac)
        s = libxlmig__yajl_gen_kv_str(g, "mac", p->mac);
    if (s == yajl_gen_status_ok) s = yajl_gen_map_close(g);
    rc = sim_send(gc, g, s, "create", -1, NULL, NULL, NULL);
    GC_FREE;
    return rc;
}

int libxlmig_sim_verify(libxlmig_ctx *ctx, const char *name,
                        uint64_t *bad_r, uint64_t *first_bad_r)
{
    GC_INIT(ctx);
    yajl_val data;
    long long first = -1;
    int rc;

    rc = sim_call(gc, simple_req(gc, "verify", name), -1, NULL, NULL, &data);
    if (rc) goto out;
    rc = libxlmig__json_get_u64(gc, data, "bad_pages", bad_r);
    if (!rc) rc = libxlmig__json_get_int(gc, data, "first_bad_pfn", &first);
    if (first_bad_r) *first_bad_r = first < 0 ? UINT64_MAX : (uint64_t)first;
 out:
    GC_FREE;
    return rc;
}

static int sim_dirty_sample(libxlmig__gc *gc, void *priv, const char *domain,
                            unsigned ms, libxlmig_dirty_sample *s)
{
    const char *path[] = { "points", NULL };
    yajl_val data, pts;
    size_t i;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = sim_call(gc, GCSPRINTF("{\"version\":1,\"op\":\"sample_dirty\","
                                "\"domain\":\"%s\",\"ms\":%u}", domain, ms),
                  -1, NULL, NULL, &data);
    if (rc) goto out;
    rc = libxlmig__json_get_u64(gc, data, "nr_pages", &s->nr_pages);
    if (rc) goto out;
    pts = yajl_tree_get(data, path, yajl_t_array);
    for (i = 0; pts && i < pts->u.array.len &&
                i < LIBXLMIG_DIRTY_SAMPLE_POINTS; i++) {
        yajl_val pt = pts->u.array.values[i];

        if (libxlmig__json_get_u64(gc, pt, "ms", &s->ms[i]) ||
            libxlmig__json_get_u64(gc, pt, "pages", &s->pages[i])) {
            rc = LIBXLMIG_ERROR_PROTOCOL;
            goto out;
        }
        s->nr_points++;
    }
 out:
    return rc;
}

const libxlmig__host_ops libxlmig__backend_sim = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .host_info = sim_host_info,
    .host_cpu_policy = sim_host_cpu_policy,
    .list = sim_list,
    .pause = sim_pause,
    .unpause = sim_unpause,
    .destroy = sim_destroy,
    .save = sim_save,
    .restore = sim_restore,
    .dirty_sample = sim_dirty_sample,
};

/* ---- migrations between nodes, run by the local xlmigd -------------- */

/* The report in data as malloc'd JSON text (caller frees), or NULL. */
static void report_text(libxlmig__gc *gc, yajl_val data, char **report_r)
{
    yajl_gen g;

    if (!report_r)
        return;
    *report_r = NULL;
    if (!data)
        return;
    g = libxlmig__json_gen_alloc(gc, false);
    if (libxlmig__yajl_gen_val(g, data) == yajl_gen_status_ok)
        libxlmig__json_finish(gc, g, report_r);
}

int libxlmig_migrate_cluster(libxlmig_ctx *ctx, const char *domain,
                             const char *target, const libxlmig_params *p,
                             bool dry_run, libxlmig_progress_cb cb,
                             void *user, char **report_r)
{
    return libxlmig_migrate_cluster_predicted(ctx, domain, target, p, NULL,
                                              dry_run, cb, user, report_r);
}

int libxlmig_migrate_cluster_predicted(libxlmig_ctx *ctx, const char *domain,
                                       const char *target,
                                       const libxlmig_params *p,
                                       const libxlmig_estimate *prediction,
                                       bool dry_run, libxlmig_progress_cb cb,
                                       void *user, char **report_r)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    libxlmig_params def;
    yajl_val data = NULL;
    int rc;

    if (!p) {
        libxlmig_params_init(&def);
        p = &def;
    }
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "op", "migrate");
    libxlmig__yajl_gen_kv_str(g, "domain", domain);
    libxlmig__yajl_gen_kv_str(g, "target", target);
    libxlmig__yajl_gen_kv_bool(g, "dry_run", dry_run);
    libxlmig__yajl_gen_str(g, "params");
    libxlmig__params_gen_json(g, p);
    if (prediction) {
        libxlmig__yajl_gen_str(g, "prediction");
        libxlmig__estimate_gen(g, prediction);
    }
    rc = sim_send(gc, g, yajl_gen_map_close(g), "migrate", -1, cb, user,
                  &data);
    report_text(gc, data, report_r);
    GC_FREE;
    return rc;
}

int libxlmig_migrate_cancel(libxlmig_ctx *ctx, const char *domain)
{
    GC_INIT(ctx);
    int rc = sim_call(gc, simple_req(gc, "cancel", domain), -1, NULL, NULL,
                      NULL);

    GC_FREE;
    return rc;
}

int libxlmig_migrate_recover(libxlmig_ctx *ctx, const char *domain,
                             char **report_r)
{
    GC_INIT(ctx);
    yajl_val data = NULL;
    int rc;

    rc = sim_call(gc, simple_req(gc, "recover", domain), -1, NULL, NULL,
                  &data);
    report_text(gc, data, report_r);
    GC_FREE;
    return rc;
}

int libxlmig_migration_report_stats(libxlmig_ctx *ctx, const char *report,
                                    libxlmig_stats *st)
{
    GC_INIT(ctx);
    const char *path[] = { "stats", NULL };
    yajl_val v, sv;
    int rc;

    rc = libxlmig__json_parse(gc, report, "migration report", &v);
    if (rc) goto out;
    sv = yajl_tree_get(v, path, yajl_t_object);
    if (!sv) {
        LOG(ERROR, "the migration report has no statistics");
        rc = LIBXLMIG_ERROR_NOTFOUND;
        goto out;
    }
    rc = libxlmig__stats_parse_json(gc, sv, st);
 out:
    GC_FREE;
    return rc;
}
