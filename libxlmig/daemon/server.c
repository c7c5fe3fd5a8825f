/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xlmigd (libxlmig_daemon_run): the node daemon of both backends.  It
 * opens the host its backend runs in a daemon (host/host.h), the node
 * service on the migration networks (cluster/), and serves its control
 * socket (host/ctl.h): each connection gets a thread that reads one
 * request and answers it, through the host interface, the host's own
 * requests (sim: create, verify) or, for migrations between nodes, a
 * libxlmig__migration this file owns while it runs so that a cancel from
 * another connection can reach it.
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <net/if.h>

#include "core/tunables.h"
#include "host/ctl.h"
#include "backend/backends.h"
#include "cluster/history.h"
#include "cluster/metrics.h"
#include "cluster/migrate.h"
#include "cluster/ops.h"
#include "policy.h"

#define DAEMON_MAX_OUTGOING 32
#define DAEMON_QUEUE_POLL_MS 200       /* a queued migration looks for a
                                          cancel this often (ms) */

typedef struct daemon_state daemon_state;

/* A connection being served. */
typedef struct conn {
    libxlmig__ctl_conn c;
    daemon_state *dm;
} conn;

/* A migration this node sends, from its request until it ends. */
struct outgoing {
    daemon_state *dm;
    char domain[64];
    char target[64];
    libxlmig__migration *m;            /* NULL: a free slot */
    conn *c;                           /* its client, for progress */
    bool dry_run;                      /* a pre-flight takes no slot */
    bool running;                      /* holds a slot of max_outgoing;
                                          false: waits in the queue */
    uint64_t ticket;                   /* arrival order: the queue's */
    uint64_t t_queued_us;              /* its request came */
    libxlmig_stats st;                 /* its last progress (a round's end) */
    bool have_st;
    uint64_t bytes_at_st;              /* stream bytes sent by then */
};

/* The daemon: made by libxlmig_daemon_run, shared by its threads. */
struct daemon_state {
    xentoollog_logger *lg;
    libxlmig__host host;
    libxlmig_cluster *cl;              /* NULL: no cluster config */
    libxlmig__node_service *svc;
    int active;                        /* connections being served */
    /* Guards outgoing and tickets: the migrations this node sends. */
    pthread_mutex_t lock;
    pthread_cond_t turn;               /* one ended: a queued one may run */
    uint64_t tickets;
    struct outgoing outgoing[DAEMON_MAX_OUTGOING];
};

/* Set by SIGTERM and SIGINT: the accept loop ends. */
static volatile sig_atomic_t quit_requested;

/* ---- replies ------------------------------------------------------- */

static void progress_cb(void *user, const libxlmig_stats *st)
{
    conn *c = user;
    yajl_gen g = yajl_gen_alloc(NULL);
    const unsigned char *buf;
    size_t len;

    if (!g) return;
    if (yajl_gen_map_open(g) == yajl_gen_status_ok &&
        libxlmig__yajl_gen_kv_str(g, "type", "progress") ==
            yajl_gen_status_ok &&
        libxlmig__yajl_gen_str(g, "stats") == yajl_gen_status_ok &&
        libxlmig__stats_gen_json(g, st) == yajl_gen_status_ok &&
        yajl_gen_map_close(g) == yajl_gen_status_ok &&
        yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
        libxlmig__ctl_send_line(&c->c, (const char *)buf);
    yajl_gen_free(g);
}

/* A client that hung up (Ctrl-C) cancels its save. */
static bool client_gone(void *user)
{
    conn *c = user;

    return libxlmig__ctl_client_gone(&c->c);
}

/*
 * The result line: rc, the error message when rc says so, and data (may
 * be NULL), which goes along also on failure (a migration's report says
 * how far it got).
 */
static void send_result(libxlmig__gc *gc, conn *c, int rc, yajl_val data)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    char *json = NULL;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "type", "result");
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "rc", rc);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "error",
                                  rc ? libxlmig_last_error(CTX) : "");
    if (s != yajl_gen_status_ok) goto out;
    if (data) {
        s = libxlmig__yajl_gen_str(g, "data");
        if (s != yajl_gen_status_ok) goto out;
        s = libxlmig__yajl_gen_val(g, data);
        if (s != yajl_gen_status_ok) goto out;
    }
    s = yajl_gen_map_close(g);
    if (s != yajl_gen_status_ok) goto out;
    if (!libxlmig__json_finish(gc, g, &json)) {
        libxlmig__ctl_send_line(&c->c, json);
        free(json);
    }
 out:
    return;
}

/* The result of a handler that generated its data into g (when s is
 * yajl_gen_status_ok and rc 0). */
static void send_generated(libxlmig__gc *gc, conn *c, int rc, yajl_gen g,
                           yajl_gen_status s)
{
    yajl_val data = NULL;

    if (!rc && s != yajl_gen_status_ok) {
        LOG(ERROR, "cannot encode the result");
        rc = LIBXLMIG_ERROR_JSON;
    }
    if (!rc)
        rc = libxlmig__json_gen_to_val(gc, g, "result", &data);
    send_result(gc, c, rc, rc ? NULL : data);
}

/* The host's op, or UNSUPPORTED logged as "backend NAME cannot WHAT". */
#define HOST_NEED(dm, op, what) \
    ((dm)->host.ops->op ? 0 : host_lacks(gc, (dm), (what)))

static int host_lacks(libxlmig__gc *gc, daemon_state *dm, const char *what)
{
    LOG(ERROR, "backend %s cannot %s", dm->host.ops->name, what);
    return LIBXLMIG_ERROR_UNSUPPORTED;
}

/* ---- the host's operations --------------------------------------- */

static void op_list(libxlmig__gc *gc, conn *c, yajl_val req)
{
    daemon_state *dm = c->dm;
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s = yajl_gen_status_ok;
    libxlmig_dominfo *list = NULL;
    int i, nr = 0, rc;

    rc = HOST_NEED(dm, list, "list domains");
    if (!rc) rc = dm->host.ops->list(gc, dm->host.priv, &list, &nr);
    if (rc) goto out;
    s = yajl_gen_array_open(g);
    for (i = 0; s == yajl_gen_status_ok && i < nr; i++) {
        const libxlmig_dominfo *d = &list[i];

        s = yajl_gen_map_open(g);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_str(g, "name", d->name);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_str(g, "uuid", d->uuid);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_uint(g, "domid", d->domid);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_uint(g, "memory_kib", d->memory_kib);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_str(g, "state",
                    libxlmig_domain_state_to_string(d->state));
        if (s == yajl_gen_status_ok)
            s = yajl_gen_map_close(g);
    }
    if (s == yajl_gen_status_ok)
        s = yajl_gen_array_close(g);
 out:
    libxlmig_dominfo_list_free(list, nr);
    send_generated(gc, c, rc, g, s);
}

static void op_simple(libxlmig__gc *gc, conn *c, yajl_val req,
                      const char *op)
{
    const libxlmig__host_ops *ops = c->dm->host.ops;
    const char *name = libxlmig__json_get_str(req, "domain");
    int (*fn)(libxlmig__gc *, void *, const char *) =
        !strcmp(op, "pause") ? ops->pause
        : !strcmp(op, "unpause") ? ops->unpause : ops->destroy;
    int rc;

    if (!fn) {
        rc = host_lacks(gc, c->dm, GCSPRINTF("%s domains", op));
    } else if (!name) {
        LOG(ERROR, "%s request without a domain", op);
        rc = LIBXLMIG_ERROR_PROTOCOL;
    } else {
        rc = fn(gc, c->dm->host.priv, name);
    }
    send_result(gc, c, rc, NULL);
}

/* The result's data: the stats, or {name, stats} for a restore. */
static void send_stats(libxlmig__gc *gc, conn *c, int rc, const char *name,
                       const libxlmig_stats *st)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s = yajl_gen_status_ok;

    if (!rc && name) {
        s = yajl_gen_map_open(g);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_str(g, "name", name);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_str(g, "stats");
    }
    if (!rc && s == yajl_gen_status_ok)
        s = libxlmig__stats_gen_json(g, st);
    if (!rc && name && s == yajl_gen_status_ok)
        s = yajl_gen_map_close(g);
    send_generated(gc, c, rc, g, s);
}

static void op_save(libxlmig__gc *gc, conn *c, yajl_val req)
{
    const char *path_params[] = { "params", NULL };
    daemon_state *dm = c->dm;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    bool live = false, checkpoint = false;
    unsigned flags;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&st, 0, sizeof(st));
    rc = HOST_NEED(dm, save, "save domains");
    if (rc) goto out;
    if (c->c.fd < 0) {
        LOG(ERROR, "save request without a stream fd");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    rc = libxlmig__json_get_bool(gc, req, "live", &live);
    if (!rc) rc = libxlmig__json_get_bool(gc, req, "checkpoint", &checkpoint);
    if (!rc) rc = libxlmig__params_parse_json(gc,
                      yajl_tree_get(req, path_params, yajl_t_object),
                      &o.params);
    if (rc) goto out;
    flags = (live ? LIBXLMIG_SAVE_LIVE : 0) |
            (checkpoint ? LIBXLMIG_SAVE_CHECKPOINT : 0);
    o.live = live;
    o.progress = progress_cb;
    o.progress_user = c;
    o.cancelled = client_gone;
    rc = dm->host.ops->save(gc, dm->host.priv,
                            libxlmig__json_get_str(req, "domain"), c->c.fd,
                            flags, &o, &st);
 out:
    send_stats(gc, c, rc, NULL, &st);
}

static void op_restore(libxlmig__gc *gc, conn *c, yajl_val req)
{
    daemon_state *dm = c->dm;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    bool paused = false;
    char *name = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&st, 0, sizeof(st));
    rc = HOST_NEED(dm, restore, "restore domains");
    if (rc) goto out;
    if (c->c.fd < 0) {
        LOG(ERROR, "restore request without a stream fd");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    rc = libxlmig__json_get_bool(gc, req, "paused", &paused);
    if (rc) goto out;
    libxlmig_params_init(&o.params);
    rc = dm->host.ops->restore(gc, dm->host.priv, c->c.fd,
                               libxlmig__json_get_str(req, "name"), paused,
                               &o, &st, &name);
    libxlmig__ptr_add(gc, name);
 out:
    send_stats(gc, c, rc, name ? name : "", &st);
}

/* The sample of xlmig estimate: distinct pages written by the domain
 * between the start and each of three points (ms/4, ms/2, ms), and its
 * content sample where the host took one. */
static void op_sample_dirty(libxlmig__gc *gc, conn *c, yajl_val req)
{
    daemon_state *dm = c->dm;
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s = yajl_gen_status_ok;
    libxlmig_dirty_sample ds;
    uint64_t ms = LIBXLMIG_DEFAULT_SAMPLE_MS;
    uint32_t i;
    int rc;

    memset(&ds, 0, sizeof(ds));
    rc = HOST_NEED(dm, dirty_sample, "sample the dirty log");
    if (rc) goto out;
    libxlmig__json_get_u64(gc, req, "ms", &ms);
    if (ms < 40 || ms > 60000) {
        LOG(ERROR, "dirty sample: duration must be 40 ms to 60 s");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = dm->host.ops->dirty_sample(gc, dm->host.priv,
                                    libxlmig__json_get_str(req, "domain"),
                                    (unsigned)ms, &ds);
    if (rc) goto out;
    s = yajl_gen_map_open(g);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_uint(g, "nr_pages", ds.nr_pages);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_str(g, "points");
    if (s == yajl_gen_status_ok)
        s = yajl_gen_array_open(g);
    for (i = 0; s == yajl_gen_status_ok && i < ds.nr_points; i++) {
        s = yajl_gen_map_open(g);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_uint(g, "ms", ds.ms[i]);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_kv_uint(g, "pages", ds.pages[i]);
        if (s == yajl_gen_status_ok)
            s = yajl_gen_map_close(g);
    }
    if (s == yajl_gen_status_ok)
        s = yajl_gen_array_close(g);
    if (s == yajl_gen_status_ok && ds.content.pages) {
        s = libxlmig__yajl_gen_str(g, "content");
        if (s == yajl_gen_status_ok)
            s = libxlmig__content_gen(g, &ds.content);
    }
    if (s == yajl_gen_status_ok)
        s = yajl_gen_map_close(g);
 out:
    send_generated(gc, c, rc, g, s);
}

/* A request of the host's own table (sim: create, verify); false if the
 * host has none of that name. */
static bool op_host(libxlmig__gc *gc, conn *c, yajl_val req, const char *op)
{
    const libxlmig__host_ops *ops = c->dm->host.ops;
    yajl_gen g;
    size_t i;
    int rc;

    for (i = 0; i < ops->nr_ctl_ops; i++) {
        if (strcmp(ops->ctl_ops[i].op, op))
            continue;
        g = libxlmig__json_gen_alloc(gc, false);
        rc = ops->ctl_ops[i].fn(gc, c->dm->host.priv, req, g);
        send_generated(gc, c, rc, g, yajl_gen_status_ok);
        return true;
    }
    return false;
}

/* ---- migrations this node sends ------------------------------------- */

/*
 * Register m, the migration of m->domain asked for on c, in the table (in
 * the queue: outgoing_wait_turn gives it a slot); NULL (logged) if that
 * domain is being migrated already or the table is full.
 */
static struct outgoing *outgoing_add(libxlmig__gc *gc, daemon_state *dm,
                                     libxlmig__migration *m, conn *c)
{
    struct outgoing *o = NULL;
    bool dup = false;
    int i;

    pthread_mutex_lock(&dm->lock);
    for (i = 0; i < DAEMON_MAX_OUTGOING; i++) {
        if (dm->outgoing[i].m && !strcmp(dm->outgoing[i].domain,
                                         m->domain)) {
            dup = true;
            break;
        }
        if (!dm->outgoing[i].m && !o)
            o = &dm->outgoing[i];
    }
    if (dup)
        o = NULL;
    if (o) {
        memset(o, 0, sizeof(*o));
        o->dm = dm;
        snprintf(o->domain, sizeof(o->domain), "%s", m->domain);
        snprintf(o->target, sizeof(o->target), "%s", m->target);
        o->m = m;
        o->c = c;
        o->dry_run = m->dry_run;
        o->ticket = ++dm->tickets;
        o->t_queued_us = libxlmig__now_us();
    }
    pthread_mutex_unlock(&dm->lock);
    if (o && !o->dry_run) {
        libxlmig__metrics_queued(1);
        libxlmig__metrics_flush(gc, false);
    }
    if (dup)
        LOG(ERROR, "%s is already being migrated from here", m->domain);
    else if (!o)
        LOG(ERROR, "%d migrations run or wait here already: %s is not "
            "taken", DAEMON_MAX_OUTGOING, m->domain);
    return o;
}

/* o ends: no cancel or status reaches it from now; a queued one may run. */
static void outgoing_remove(daemon_state *dm, struct outgoing *o)
{
    pthread_mutex_lock(&dm->lock);
    o->m = NULL;
    o->running = false;
    pthread_cond_broadcast(&dm->turn);
    pthread_mutex_unlock(&dm->lock);
}

/* How many of the others run, and how many of the queued came before o
 * (the daemon's lock held). */
static void outgoing_count(daemon_state *dm, const struct outgoing *o,
                           unsigned *running_r, unsigned *ahead_r)
{
    int i;

    *running_r = *ahead_r = 0;
    for (i = 0; i < DAEMON_MAX_OUTGOING; i++) {
        const struct outgoing *e = &dm->outgoing[i];

        if (!e->m || e == o || e->dry_run)
            continue;
        if (e->running)
            (*running_r)++;
        else if (e->ticket < o->ticket)
            (*ahead_r)++;
    }
}

/*
 * The source's limit (docs/xlmig.cfg.5.md, max_outgoing): at most that
 * many migrations run from this node at once, however they were asked
 * for; the others wait in the order they came, their place shown by
 * status.  0 when o may run; CANCELLED (logged) when it was cancelled or
 * its client hung up while it waited.  *waited_ms_r: how long it waited.
 */
static int outgoing_wait_turn(libxlmig__gc *gc, daemon_state *dm,
                              struct outgoing *o, uint64_t *waited_ms_r)
{
    unsigned max = libxlmig_cluster_cfg(dm->cl)->max_outgoing;
    unsigned running, ahead;
    struct timespec ts;
    bool logged = false;
    int rc = 0;

    *waited_ms_r = 0;
    if (o->dry_run)
        return 0;
    pthread_mutex_lock(&dm->lock);
    for (;;) {
        outgoing_count(dm, o, &running, &ahead);
        if (running < max && !ahead) {
            o->running = true;
            break;
        }
        if (!logged) {
            LOG(INFO, "migration of %s to %s waits: %u of max_outgoing = %u "
                "run from %s; place %u in the queue", o->domain, o->target,
                running, max, libxlmig__cluster_self_name(dm->cl),
                ahead + 1);
            logged = true;
        }
        pthread_mutex_unlock(&dm->lock);
        if (libxlmig__migration_cancelled(o->m) ||
            libxlmig__ctl_client_gone(&o->c->c)) {
            LOG(ERROR, "migration of %s to %s cancelled while it waited "
                "for a slot (max_outgoing = %u); it runs on %s as before",
                o->domain, o->target, max,
                libxlmig__cluster_self_name(dm->cl));
            rc = LIBXLMIG_ERROR_CANCELLED;
            pthread_mutex_lock(&dm->lock);
            break;
        }
        pthread_mutex_lock(&dm->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += DAEMON_QUEUE_POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&dm->turn, &dm->lock, &ts);
    }
    pthread_mutex_unlock(&dm->lock);
    *waited_ms_r = (libxlmig__now_us() - o->t_queued_us) / 1000;
    libxlmig__metrics_queued(-1);
    if (!rc)
        libxlmig__metrics_started("out");
    libxlmig__metrics_flush(gc, false);
    if (logged && !rc)
        LOG(INFO, "migration of %s to %s starts after %llu ms in the queue",
            o->domain, o->target, (unsigned long long)*waited_ms_r);
    return rc;
}

/* The engine's progress: kept for status, passed on to the client. */
static void outgoing_progress(void *user, const libxlmig_stats *st)
{
    struct outgoing *o = user;
    libxlmig__migration_view v;

    /* The migration's lock alone first: the daemon's is taken before it
     * elsewhere, never after. */
    libxlmig__migration_view_get(o->m, &v);
    pthread_mutex_lock(&o->dm->lock);
    o->st = *st;
    o->have_st = true;
    o->bytes_at_st = v.stream_bytes;
    pthread_mutex_unlock(&o->dm->lock);
    progress_cb(o->c, st);
}

/* One migration of "outgoing" (the daemon's lock held; the migration's
 * is taken inside it: the documented order). */
static void outgoing_entry_gen(libxlmig__gc *gc, daemon_state *dm,
                               struct outgoing *o, yajl_gen g)
{
    libxlmig__migration_view v;
    unsigned running, ahead;
    uint64_t rate = 0, remaining = 0;
    bool streaming;

    libxlmig__migration_view_get(o->m, &v);
    outgoing_count(dm, o, &running, &ahead);
    streaming = !strcmp(v.phase, LIBXLMIG_PHASE_STREAM);
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "domain", o->domain);
    libxlmig__yajl_gen_kv_str(g, "target", o->target);
    libxlmig__yajl_gen_kv_str(g, "id", v.id[0] ? v.id : NULL);
    libxlmig__yajl_gen_kv_bool(g, "dry_run", o->dry_run);
    if (!o->running && !o->dry_run) {
        libxlmig__yajl_gen_kv_str(g, "state", "queued");
        libxlmig__yajl_gen_kv_uint(g, "queue_position", ahead + 1);
        libxlmig__yajl_gen_kv_uint(g, "elapsed_ms",
            (libxlmig__now_us() - o->t_queued_us) / 1000);
        yajl_gen_map_close(g);
        return;
    }
    libxlmig__yajl_gen_kv_str(g, "state", "running");
    libxlmig__yajl_gen_kv_str(g, "phase", v.phase[0] ? v.phase : "check");
    /* Fixed before the migration became visible (migrate_args). */
    libxlmig__yajl_gen_kv_uint(g, "downtime_limit_ms",
                               o->m->params.downtime_limit_ms);
    libxlmig__yajl_gen_kv_uint(g, "bandwidth_limit",
                               o->m->params.bandwidth_limit);
    libxlmig__yajl_gen_kv_uint(g, "elapsed_ms", v.elapsed_ms);
    libxlmig__yajl_gen_kv_uint(g, "memory_kib", v.memory_kib);
    libxlmig__yajl_gen_kv_str(g, "network", v.path[0] ? v.path : NULL);
    libxlmig__yajl_gen_kv_uint(g, "bytes", v.stream_bytes);
    if (v.stream_ms)
        rate = v.stream_bytes * 1000 / v.stream_ms;
    if (o->have_st) {
        /* A round ended (the full copy is round 0): the one being sent
         * began with the dirty set of its scan; what of it is not sent
         * yet remains. */
        uint64_t sent = v.stream_bytes - o->bytes_at_st;

        libxlmig__yajl_gen_kv_str(g, "engine_state",
                                  libxlmig_state_to_string(v.live.state));
        libxlmig__yajl_gen_kv_uint(g, "round", o->st.round + 1);
        libxlmig__yajl_gen_kv_uint(g, "dirty_rate", v.live.dirty_rate);
        libxlmig__yajl_gen_kv_uint(g, "bandwidth", v.live.bandwidth);
        libxlmig__yajl_gen_kv_uint(g, "expected_downtime_ms",
                                   v.live.expected_downtime_ms);
        libxlmig__yajl_gen_kv_uint(g, "throttle_pct", v.live.throttle_pct);
        remaining = v.live.remaining_bytes > sent
                    ? v.live.remaining_bytes - sent : 0;
    } else if (streaming && v.stream_bytes) {
        /* The full copy, before its end is reported (the engine and,
         * on Xen, the save shim report at each round's end): what of the
         * memory is not sent yet. */
        libxlmig__yajl_gen_kv_str(g, "engine_state", "precopy");
        libxlmig__yajl_gen_kv_uint(g, "round", 0);
        if (v.memory_kib * 1024 > v.stream_bytes)
            remaining = v.memory_kib * 1024 - v.stream_bytes;
    }
    if (streaming) {
        libxlmig__yajl_gen_kv_uint(g, "rate", rate);
        libxlmig__yajl_gen_kv_uint(g, "remaining_bytes", remaining);
        if (rate)
            libxlmig__yajl_gen_kv_uint(g, "eta_ms", remaining * 1000 / rate);
    }
    yajl_gen_map_close(g);
}

/* "outgoing" of status: the node service asks it (set_outgoing). */
static void outgoing_gen(libxlmig__gc *gc, void *opaque, yajl_gen g)
{
    daemon_state *dm = opaque;
    int i;

    libxlmig__yajl_gen_str(g, "outgoing");
    yajl_gen_array_open(g);
    pthread_mutex_lock(&dm->lock);
    for (i = 0; i < DAEMON_MAX_OUTGOING; i++)
        if (dm->outgoing[i].m)
            outgoing_entry_gen(gc, dm, &dm->outgoing[i], g);
    pthread_mutex_unlock(&dm->lock);
    yajl_gen_array_close(g);
}

/*
 * A migration that ended (or left the queue): its history record, with
 * the report (v) it sends; why is its error, NULL when it worked.
 * start_ms is when it was asked for, run_ms how long it ran, waited_ms
 * how long it was queued.
 */
static void record_outgoing(libxlmig__gc *gc, daemon_state *dm,
                            const libxlmig__migration *m, const char *why,
                            yajl_val v, uint64_t start_ms, uint64_t run_ms,
                            uint64_t waited_ms, bool ran)
{
    const char *path_err[] = { "prediction_error_pct", NULL };
    yajl_val pe = yajl_tree_get(v, path_err, yajl_t_number);
    libxlmig__history_rec r;
    libxlmig__metrics_end e;

    memset(&r, 0, sizeof(r));
    r.id = m->id;
    r.direction = "out";
    r.domain = m->domain;
    r.source = libxlmig__cluster_self_name(dm->cl);
    r.target = m->target;
    r.outcome = m->outcome[0] ? m->outcome : "cancelled";
    r.error = why;
    r.start_ms = start_ms;
    r.duration_ms = run_ms;
    r.has_downtime = !why && m->stats.downtime_us;
    r.downtime_us = m->stats.downtime_us;
    r.bytes = m->stats.total_bytes;
    r.queued_ms = waited_ms;
    if (pe) {
        r.has_prediction_error = true;
        r.prediction_error_pct = YAJL_GET_DOUBLE(pe);
    }
    r.report = v;
    libxlmig__history_add(gc, &r);

    memset(&e, 0, sizeof(e));
    e.direction = "out";
    e.outcome = r.outcome;
    e.started = ran;
    e.succeeded = !why;
    e.duration_ms = run_ms;
    e.has_downtime = r.has_downtime;
    e.downtime_us = r.downtime_us;
    e.bytes = r.bytes;
    e.has_prediction_error = r.has_prediction_error;
    e.prediction_error_pct = r.prediction_error_pct;
    libxlmig__metrics_ended(&e);
    libxlmig__metrics_flush(gc, false);
}

/* The result line carries the report, also when the migration failed. */
static void send_report(libxlmig__gc *gc, conn *c, int rc, yajl_gen rep)
{
    yajl_val v = NULL;

    if (libxlmig__json_gen_to_val(gc, rep, "migration report", &v)) {
        send_result(gc, c, rc ? rc : LIBXLMIG_ERROR_JSON, NULL);
        return;
    }
    send_result(gc, c, rc, v);
}

/* The request's migration: what it asks, checked. */
static int migrate_args(libxlmig__gc *gc, yajl_val req,
                        libxlmig__migration *m)
{
    const char *path_params[] = { "params", NULL };
    const char *path_pred[] = { "prediction", NULL };
    yajl_val pv;
    bool dry = false;
    int rc;

    m->domain = libxlmig__json_get_str(req, "domain");
    m->target = libxlmig__json_get_str(req, "target");
    libxlmig__json_get_bool(gc, req, "dry_run", &dry);
    m->dry_run = dry;
    rc = libxlmig__params_parse_json(gc, yajl_tree_get(req, path_params,
                                                       yajl_t_object),
                                     &m->params);
    if (rc) return rc;
    /* What the caller did not give, this node's config decides. */
    libxlmig_params_resolve(libxlmig_cluster_cfg(m->cl), &m->params,
                            &m->params);
    pv = yajl_tree_get(req, path_pred, yajl_t_object);
    if (pv) {
        rc = libxlmig__estimate_parse(gc, pv, &m->prediction);
        if (rc) return rc;
        m->predicted = true;
    }
    if (!m->domain || !m->target) {
        LOG(ERROR, "migrate request without a domain or a target");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    return 0;
}

static void op_migrate(libxlmig__gc *gc, conn *c, yajl_val req)
{
    daemon_state *dm = c->dm;
    yajl_gen rep = libxlmig__json_gen_alloc(gc, false);
    libxlmig__migration m;
    struct outgoing *o = NULL;
    uint64_t waited_ms = 0, start_ms = 0, t_run = 0;
    bool ran = false;
    int rc;

    libxlmig__migration_init(&m);
    yajl_gen_map_open(rep);
    libxlmig__yajl_gen_kv_int(rep, "version", 1);
    if (!dm->cl) {
        LOG(ERROR, "this xlmigd runs without a cluster config (start it "
            "with -c CONFIG) and cannot migrate");
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    m.cl = dm->cl;
    m.host = &dm->host;
    m.report = rep;
    rc = migrate_args(gc, req, &m);
    if (rc) goto out;
    o = outgoing_add(gc, dm, &m, c);
    if (!o) {
        rc = LIBXLMIG_ERROR_BUSY;
        goto out;
    }
    m.progress = outgoing_progress;
    m.progress_user = o;
    start_ms = libxlmig__wall_ms();
    rc = outgoing_wait_turn(gc, dm, o, &waited_ms);
    if (waited_ms && !m.dry_run)
        libxlmig__yajl_gen_kv_uint(rep, "queued_ms", waited_ms);
    t_run = libxlmig__now_us();
    ran = !rc;
    if (!rc) {
        rc = libxlmig__migration_run(gc, &m);
    } else {
        libxlmig__yajl_gen_kv_str(rep, "domain", m.domain);
        libxlmig__yajl_gen_kv_str(rep, "source",
                                  libxlmig__cluster_self_name(dm->cl));
        libxlmig__yajl_gen_kv_str(rep, "target", m.target);
        libxlmig__yajl_gen_kv_str(rep, "outcome", "cancelled");
    }
    outgoing_remove(dm, o);
    t_run = (libxlmig__now_us() - t_run) / 1000;
 out:
    yajl_gen_map_close(rep);
    if (o && !m.dry_run) {
        /* The migration's own error, before recording it logs any. */
        const char *why = rc ? GCSTRDUP(libxlmig_last_error(CTX)) : NULL;
        yajl_val v = NULL;

        if (!libxlmig__json_gen_to_val(gc, rep, "migration report", &v))
            record_outgoing(gc, dm, &m, why, v, start_ms, t_run, waited_ms,
                            ran);
        if (why)
            snprintf(CTX->last_error, sizeof(CTX->last_error), "%s", why);
    }
    libxlmig__migration_dispose(&m);
    send_report(gc, c, rc, rep);
}

static void op_cancel(libxlmig__gc *gc, conn *c, yajl_val req)
{
    daemon_state *dm = c->dm;
    const char *domain = libxlmig__json_get_str(req, "domain");
    int i, rc = LIBXLMIG_ERROR_NOTFOUND;

    pthread_mutex_lock(&dm->lock);
    for (i = 0; domain && i < DAEMON_MAX_OUTGOING; i++) {
        if (dm->outgoing[i].m && !strcmp(dm->outgoing[i].domain, domain)) {
            libxlmig__migration_cancel(dm->outgoing[i].m);
            rc = 0;
        }
    }
    pthread_cond_broadcast(&dm->turn);      /* a queued one leaves */
    pthread_mutex_unlock(&dm->lock);
    if (rc)
        LOG(ERROR, "no migration of '%s' is running here",
            domain ? domain : "");
    send_result(gc, c, rc, NULL);
}

static void op_recover(libxlmig__gc *gc, conn *c, yajl_val req)
{
    daemon_state *dm = c->dm;
    yajl_gen rep = libxlmig__json_gen_alloc(gc, false);
    const char *domain = libxlmig__json_get_str(req, "domain");
    int rc;

    yajl_gen_map_open(rep);
    libxlmig__yajl_gen_kv_int(rep, "version", 1);
    if (!dm->cl || !domain) {
        LOG(ERROR, "%s", !domain ? "recover request without a domain"
            : "this xlmigd runs without a cluster config");
        rc = LIBXLMIG_ERROR_CONFIG;
    } else {
        rc = libxlmig__migrate_recover(gc, dm->cl, &dm->host, domain, rep);
    }
    yajl_gen_map_close(rep);
    send_report(gc, c, rc, rep);
}

/* A drain of this node ended (the drain tells it: it runs in xlmig). */
static void op_drain_done(libxlmig__gc *gc, conn *c, yajl_val req)
{
    const char *result = libxlmig__json_get_str(req, "result");
    int rc = 0;

    if (!result || (strcmp(result, "all_moved") &&
                    strcmp(result, "some_left") &&
                    strcmp(result, "interrupted"))) {
        LOG(ERROR, "drain_done request without a known result");
        rc = LIBXLMIG_ERROR_PROTOCOL;
    } else {
        libxlmig__metrics_drain(result);
        libxlmig__metrics_flush(gc, false);
    }
    send_result(gc, c, rc, NULL);
}

/* What runs on this node: `xlmig status` (docs/xlmigd.md, "Status"). */
static void op_status(libxlmig__gc *gc, conn *c, yajl_val req)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    int rc;

    rc = libxlmig__node_service_status_gen(gc, c->dm->svc, g);
    send_generated(gc, c, rc, g, yajl_gen_status_ok);
}

/* ---- connections --------------------------------------------------- */

static void dispatch(libxlmig__gc *gc, conn *c, yajl_val req)
{
    const char *op = libxlmig__json_get_str(req, "op");

    if (!op) op = "";
    if (!strcmp(op, "list")) op_list(gc, c, req);
    else if (!strcmp(op, "pause") || !strcmp(op, "unpause") ||
             !strcmp(op, "destroy")) op_simple(gc, c, req, op);
    else if (!strcmp(op, "save")) op_save(gc, c, req);
    else if (!strcmp(op, "restore")) op_restore(gc, c, req);
    else if (!strcmp(op, "sample_dirty")) op_sample_dirty(gc, c, req);
    else if (!strcmp(op, "migrate")) op_migrate(gc, c, req);
    else if (!strcmp(op, "cancel")) op_cancel(gc, c, req);
    else if (!strcmp(op, "recover")) op_recover(gc, c, req);
    else if (!strcmp(op, "status")) op_status(gc, c, req);
    else if (!strcmp(op, "drain_done")) op_drain_done(gc, c, req);
    else if (!op_host(gc, c, req, op)) {
        LOG(ERROR, "unknown request '%s'", op);
        send_result(gc, c, LIBXLMIG_ERROR_PROTOCOL, NULL);
    }
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    libxlmig_ctx *ctx = NULL;
    yajl_val req;
    char *line;
    int rc;

    libxlmig__thread_altstack();
    if (libxlmig_ctx_alloc(&ctx, c->dm->lg)) goto done;
    {
        GC_INIT(ctx);
        rc = libxlmig__ctl_read_request(gc, &c->c, &line);
        if (!rc) rc = libxlmig__json_parse(gc, line, "request", &req);
        if (!rc) rc = libxlmig__json_check_version(gc, req, "request", 1);
        if (rc)
            send_result(gc, c, rc, NULL);
        else
            dispatch(gc, c, req);
        GC_FREE;
    }
 done:
    if (c->c.fd >= 0) close(c->c.fd);
    close(c->c.sock);
    if (ctx) libxlmig_ctx_free(ctx);
    __atomic_sub_fetch(&c->dm->active, 1, __ATOMIC_SEQ_CST);
    free(c);
    return NULL;
}

static void on_signal(int sig)
{
    quit_requested = 1;
}

/* Bind the control socket at path (its directory made), mode 0600;
 * refuses when another xlmigd answers there. */
static int ctl_listen(libxlmig__gc *gc, const char *path, int *fd_r)
{
    struct sockaddr_un sa;
    char *dir, *slash;
    mode_t old_mask;
    int lfd, r;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        LOG(ERROR, "socket path %s is too long", path);
        return LIBXLMIG_ERROR_INVAL;
    }
    dir = GCSTRDUP(path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdir(dir, 0755) && errno != EEXIST) {
            LOGE(ERROR, "cannot create %s", dir);
            return LIBXLMIG_ERROR_IO;
        }
    }
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (lfd >= 0 && connect(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        LOG(ERROR, "another xlmigd already listens on %s", path);
        close(lfd);
        return LIBXLMIG_ERROR_BUSY;
    }
    if (lfd >= 0) close(lfd);
    unlink(path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* Made 0600 from the start: no moment where another user could
     * connect before a chmod. */
    old_mask = umask(0177);
    r = lfd < 0 ? -1 : bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (r || chmod(path, 0600) || listen(lfd, 64)) {
        LOGE(ERROR, "cannot listen on %s", path);
        if (lfd >= 0) close(lfd);
        return LIBXLMIG_ERROR_IO;
    }
    *fd_r = lfd;
    return 0;
}

/*
 * Only root and the daemon's own user may talk to it: the socket's mode
 * says so already; this holds even if someone loosens it.
 */
static bool peer_allowed(libxlmig__gc *gc, int s)
{
    struct ucred cr;
    socklen_t l = sizeof(cr);

    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &l)) {
        LOGE(WARN, "cannot tell who connected to the control socket");
        return false;
    }
    if (cr.uid == 0 || cr.uid == geteuid())
        return true;
    LOG(WARN, "refused a control connection from uid %u (pid %d): only "
        "root may use xlmigd", (unsigned)cr.uid, (int)cr.pid);
    return false;
}

/* Serve the control socket until SIGTERM or SIGINT. */
static int daemon_serve(libxlmig__gc *gc, daemon_state *dm, const char *path)
{
    struct sigaction act;
    struct pollfd pfd;
    struct timeval rcv_to = { LIBXLMIG_CTL_REQUEST_TIMEOUT_S, 0 };
    pthread_attr_t attr;
    uint64_t last_log = 0;
    pthread_t t;
    conn *c;
    int lfd = -1, s, rc;

    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = ctl_listen(gc, path, &lfd);
    if (rc) return rc;
    LOG(INFO, "xlmigd (%s backend) listening on %s", dm->host.ops->name,
        path);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (!quit_requested) {
        pfd.fd = lfd;
        pfd.events = POLLIN;
        /* What changes without an event here: maintenance, a drain. */
        libxlmig__metrics_flush(gc, true);
        if (poll(&pfd, 1, 200) <= 0) continue;
        s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0) {
            /* Out of fds or memory: say so, and let requests end. */
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                if (!last_log || libxlmig__now_us() - last_log > 10000000) {
                    LOGE(WARN, "cannot accept a control connection");
                    last_log = libxlmig__now_us();
                }
                usleep(100000);
            }
            continue;
        }
        if (!peer_allowed(gc, s)) {
            close(s);
            continue;
        }
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &rcv_to, sizeof(rcv_to));
        c = calloc(1, sizeof(*c));
        if (!c) { close(s); continue; }
        c->c.sock = s;
        c->c.fd = -1;
        c->dm = dm;
        /* Counted before it starts: the daemon never ends under it
         * unnoticed. */
        __atomic_add_fetch(&dm->active, 1, __ATOMIC_SEQ_CST);
        if (pthread_create(&t, &attr, conn_main, c)) {
            __atomic_sub_fetch(&dm->active, 1, __ATOMIC_SEQ_CST);
            close(s);
            free(c);
        }
    }
    pthread_attr_destroy(&attr);
    LOG(INFO, "xlmigd shutting down; its domains keep running for the "
        "next xlmigd to take over");
    unlink(path);
    close(lfd);
    return 0;
}

/* ---- the daemon ----------------------------------------------------- */

/* What the daemon tells its host: the sim options, checked. */
static int host_opts(libxlmig__gc *gc, const libxlmig_daemon_opts *o,
                     libxlmig_cluster *cl, struct policy_cpuid *cpu,
                     libxlmig__host_daemon_opts *ho)
{
    int rc;

    memset(ho, 0, sizeof(*ho));
    ho->capacity_kib = o->memory_mib * 1024;
    if (o->cpu_policy) {
        rc = libxlmig_baseline_load(CTX, o->cpu_policy, cpu);
        if (rc == LIBXLMIG_ERROR_NOTFOUND) {
            CTX->last_error[0] = '\0';
            rc = libxlmig_cpu_policy_load(CTX, o->cpu_policy, cpu);
        }
        if (rc) return rc;
        ho->cpu = cpu;
    }
    if (cl) {
        ho->storage = libxlmig_cluster_cfg(cl)->sim_storage_dir;
        if (o->public_if) {
            if (!if_nametoindex(o->public_if)) {
                LOG(ERROR, "no public interface %s on this node",
                    o->public_if);
                return LIBXLMIG_ERROR_CONFIG;
            }
            ho->public_if = o->public_if;
        }
    }
    return 0;
}

/*
 * The metrics file: the one asked for, none for "", else node_exporter's
 * textfile directory when that exists (the prometheus-node-exporter
 * package made it).
 */
static void metrics_start(libxlmig__gc *gc, daemon_state *dm,
                          const libxlmig_daemon_opts *o)
{
    const libxlmig_cluster_config *c = dm->cl ? libxlmig_cluster_cfg(dm->cl)
                                              : NULL;
    const char *path = o->metrics_file;
    struct stat st;

    if (!path) {
        char *dir = GCSTRDUP(LIBXLMIG_DEFAULT_METRICS_FILE);

        *strrchr(dir, '/') = '\0';
        path = !stat(dir, &st) && S_ISDIR(st.st_mode)
               ? LIBXLMIG_DEFAULT_METRICS_FILE : "";
    }
    libxlmig__metrics_init(gc, path, dm->cl
                           ? libxlmig__cluster_self_name(dm->cl) : NULL,
                           dm->host.ops->name, c ? c->max_outgoing : 0,
                           c ? c->max_incoming : 0);
    libxlmig__metrics_flush(gc, false);
}

int libxlmig_daemon_run(libxlmig_ctx *ctx, const libxlmig_daemon_opts *o)
{
    GC_INIT(ctx);
    const char *backend = o->backend ? o->backend : "sim";
    const char *path = o->socket ? o->socket
                                 : libxlmig__tunable_control_socket();
    libxlmig__host_daemon_opts ho;
    libxlmig__node_service *svc = NULL;
    libxlmig_backend_kind kind;
    struct policy_cpuid cpu;
    daemon_state *dm;
    bool idle;
    int rc;

    libxlmig__thread_altstack();
    GCNEW(dm);
    pthread_mutex_init(&dm->lock, NULL);
    pthread_cond_init(&dm->turn, NULL);
    dm->lg = ctx->lg;
    if (libxlmig_backend_kind_from_string(backend, &kind)) {
        LOG(ERROR, "unknown backend '%s' (xen or sim)", backend);
        rc = LIBXLMIG_ERROR_BACKEND;
        goto out;
    }
    if (kind != LIBXLMIG_BACKEND_SIM && (o->memory_mib || o->cpu_policy)) {
        LOG(ERROR, "--memory and --cpu-policy are for the sim backend");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    dm->host.ops = libxlmig__backend_daemon_host(kind);
    rc = dm->host.ops->open(gc, &dm->host.priv);
    if (rc) {
        dm->host.ops = NULL;
        goto out;
    }
    if (o->config) {
        rc = libxlmig_cluster_open(CTX, o->config, o->node, &dm->cl);
        if (rc) goto out;
    }
    rc = host_opts(gc, o, dm->cl, &cpu, &ho);
    if (rc) goto out;
    metrics_start(gc, dm, o);
    if (dm->host.ops->daemon_init) {
        rc = dm->host.ops->daemon_init(gc, dm->host.priv, &ho);
        if (rc) goto out;
    }
    rc = libxlmig__node_service_alloc(gc, dm->cl, &dm->host, &svc);
    if (rc) goto out;
    dm->svc = svc;
    libxlmig__node_service_set_outgoing(svc, outgoing_gen, dm);
    if (dm->cl) {
        /* Jobs first: the node service may take a job_start at once. */
        libxlmig__jobs_init(gc, path, o->config, dm->host.ops->name);
        rc = libxlmig__node_service_start(gc, svc);
        if (rc) goto out;
    }
    libxlmig__node_service_settle(gc, svc);
    rc = daemon_serve(gc, dm, path);
 out:
    idle = libxlmig__node_service_free(svc);
    if (!idle || __atomic_load_n(&dm->active, __ATOMIC_SEQ_CST)) {
        /* Requests still run (a migration): the process ends under
         * them, as a crash would; what they hold stays for them. */
        LOG(WARN, "requests still run at exit");
        return rc;
    }
    if (dm->host.ops)
        dm->host.ops->close(CTX, dm->host.priv);
    libxlmig_cluster_free(dm->cl);
    pthread_cond_destroy(&dm->turn);
    pthread_mutex_destroy(&dm->lock);
    GC_FREE;
    return rc;
}
