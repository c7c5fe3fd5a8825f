/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The node service: xlmigd listens only on this node's allowed migration
 * addresses, proves and checks cluster membership on every connection
 * (peer.h), answers the queries other nodes make before a migration, and
 * receives migrations: it restores the domain paused as NAME--incoming,
 * reports ready, and unpauses it only on go (or on a resolve, which the
 * source sends only after go).  Each decision is made once, under a lock,
 * through the target state machine of handoff.h, and recorded on disk so
 * that a later resolve gets the same answer.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "core/tunables.h"
#include "cluster/handoff.h"
#include "cluster/ops.h"
#include "cluster/migrate.h"
#include "policy.h"

#define NODE_MAX_LISTEN   16
#define NODE_MAX_INCOMING 64
#define NODE_AUTH_TIMEOUT_MS 10000   /* a silent peer is dropped, ms */

typedef struct incoming {
    bool used;
    char id[33];
    char domain[64];
    char source[64];
    uint64_t memory_kib;          /* KiB promised to it */
    bool prepared;                /* its domain exists (counts as used) */
    libxlmig__htgt_state state;
    int fd;                       /* its stream connection, or -1 */
} incoming;

static pthread_mutex_t in_lock = PTHREAD_MUTEX_INITIALIZER;
static incoming in_table[NODE_MAX_INCOMING];

static struct {
    libxlmig_ctx *ctx;
    libxlmig_cluster *cl;
    const libxlmig__local_host *host;
    int fds[NODE_MAX_LISTEN];
    int nfds;
    pthread_t thread;
    volatile sig_atomic_t stop;
    bool running;
} svc;

typedef struct node_conn {
    int fd;
    char peer[96];
    char node[64];               /* authenticated peer */
    incoming *pending;           /* set by migrate_begin */
    uint64_t sink_bytes;         /* set by sink: raw bytes to read next */
} node_conn;

/* ---- decisions on disk --------------------------------------------- */

static const char *decision_dir(libxlmig__gc *gc)
{
    return GCSPRINTF("%s/decisions", libxlmig_state_dir());
}

static void decision_record(libxlmig__gc *gc, const char *id, bool committed)
{
    if (libxlmig__state_file_write(gc, "decisions", id,
                                   committed ? "committed\n" : "aborted\n"))
        LOGE(ERROR, "cannot record the decision on migration %s in %s/%s",
             id, decision_dir(gc), id);
}

/* "committed", "aborted", or NULL if this node never decided id. */
static const char *decision_lookup(libxlmig__gc *gc, const char *id)
{
    char buf[32] = "";
    FILE *f = fopen(GCSPRINTF("%s/%s", decision_dir(gc), id), "r");

    if (!f)
        return NULL;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    return !strncmp(buf, "committed", 9) ? "committed" : "aborted";
}

static bool in_maintenance(libxlmig__gc *gc)
{
    return access(GCSPRINTF("%s/maintenance", libxlmig_state_dir()),
                  F_OK) == 0;
}

/*
 * The incoming record, $XLMIG_STATE_DIR/incoming/DOMAIN: the id of the
 * migration whose DOMAIN--incoming this node holds, from the moment it is
 * accepted until it commits or aborts.  After a restart it tells which
 * decision settles a DOMAIN--incoming found here (node_settle).
 */
static char *incoming_path(libxlmig__gc *gc, const char *dom)
{
    return GCSPRINTF("%s/incoming/%s", libxlmig_state_dir(), dom);
}

static void incoming_record(libxlmig__gc *gc, const char *dom,
                            const char *id)
{
    if (libxlmig__state_file_write(gc, "incoming", dom,
                                   GCSPRINTF("%s\n", id)))
        LOGE(WARN, "cannot record incoming migration %s in %s", id,
             incoming_path(gc, dom));
}

/* The id in DOMAIN's incoming record, or NULL. */
static const char *incoming_lookup(libxlmig__gc *gc, const char *dom)
{
    char buf[64] = "";
    FILE *f = fopen(incoming_path(gc, dom), "r");

    if (!f) return NULL;
    if (!fgets(buf, sizeof(buf), f)) buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] ? GCSTRDUP(buf) : NULL;
}

/* Remove DOMAIN's incoming record if it is still id's. */
static void incoming_forget(libxlmig__gc *gc, const char *dom, const char *id)
{
    const char *cur = incoming_lookup(gc, dom);

    if (cur && !strcmp(cur, id))
        unlink(incoming_path(gc, dom));
}

/* ---- the incoming table (in_lock held) --------------------------------- */

static incoming *in_find(const char *id)
{
    int i;

    for (i = 0; i < NODE_MAX_INCOMING; i++)
        if (in_table[i].used && !strcmp(in_table[i].id, id))
            return &in_table[i];
    return NULL;
}

static uint64_t in_promised_kib(void)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < NODE_MAX_INCOMING; i++)
        if (in_table[i].used && !in_table[i].prepared &&
            !libxlmig__htgt_is_final(in_table[i].state))
            sum += in_table[i].memory_kib;
    return sum;
}

/* Commit: the domain takes its name and runs here. */
static void commit(libxlmig__gc *gc, incoming *in)
{
    const libxlmig__local_host *h = svc.host;
    char *incoming_name = GCSPRINTF("%s%s", in->domain,
                                    LIBXLMIG_SUFFIX_INCOMING);
    int rc;

    decision_record(gc, in->id, true);
    libxlmig__fault("dst", "unpause", -1);
    rc = h->rename(gc, h->priv, incoming_name, in->domain);
    if (rc)
        LOG(ERROR, "committed migration %s: cannot rename %s to %s; it "
            "runs under the temporary name", in->id, incoming_name,
            in->domain);
    rc = h->unpause_release(gc, h->priv, rc ? incoming_name : in->domain);
    if (rc)
        LOG(CRITICAL, "committed migration %s: cannot unpause %s", in->id,
            in->domain);
    if (h->announce)
        h->announce(gc, h->priv, in->domain);
    incoming_forget(gc, in->domain, in->id);
    LOG(INFO, "migration %s: %s from %s runs here", in->id, in->domain,
        in->source);
}

static void abort_incoming(libxlmig__gc *gc, incoming *in, bool destroy)
{
    const libxlmig__local_host *h = svc.host;
    char *incoming_name = GCSPRINTF("%s%s", in->domain,
                                    LIBXLMIG_SUFFIX_INCOMING);

    decision_record(gc, in->id, false);
    libxlmig__fault("dst", "destroy", -1);
    if (destroy && h->domain_exists(h->priv, incoming_name))
        h->destroy(gc, h->priv, incoming_name);
    incoming_forget(gc, in->domain, in->id);
    LOG(INFO, "migration %s of %s from %s aborted; nothing of it is left "
        "here", in->id, in->domain, in->source);
}

/* ---- requests ---------------------------------------------------------- */

static int h_node_info(libxlmig__gc *gc, void *opaque, yajl_val args,
                       yajl_gen g)
{
    const libxlmig__local_host *h = svc.host;
    libxlmig_host_info hi;
    libxlmig_dominfo *list = NULL;
    struct policy_cpuid cpu;
    const char *storage = libxlmig__json_get_str(args, "storage");
    struct stat st;
    uint64_t promised;
    int i, nr = 0, rc;

    libxlmig_host_info_init(&hi);
    libxlmig__fault("dst", "preflight", ((node_conn *)opaque)->fd);
    rc = h->host_info(gc, h->priv, &hi);
    if (!rc) rc = h->host_cpu_policy(gc, h->priv, &cpu);
    if (!rc) rc = h->list(gc, h->priv, &list, &nr);
    if (rc) goto out;
    pthread_mutex_lock(&in_lock);
    promised = in_promised_kib();
    pthread_mutex_unlock(&in_lock);

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "node", libxlmig__cluster_self_name(svc.cl));
    libxlmig__yajl_gen_kv_str(g, "xlmig", LIBXLMIG_VERSION);
    libxlmig__yajl_gen_kv_str(g, "backend", h->backend);
    libxlmig__yajl_gen_kv_uint(g, "total_memory_kib", hi.total_memory_kib);
    libxlmig__yajl_gen_kv_uint(g, "free_memory_kib",
                               hi.free_memory_kib > promised
                               ? hi.free_memory_kib - promised : 0);
    libxlmig__yajl_gen_kv_bool(g, "maintenance", in_maintenance(gc));
    libxlmig__yajl_gen_str(g, "cpu_policy");
    policy_gen_json(g, &cpu);
    libxlmig__yajl_gen_str(g, "domains");
    yajl_gen_array_open(g);
    for (i = 0; i < nr; i++)
        libxlmig__yajl_gen_str(g, list[i].name);
    yajl_gen_array_close(g);
    if (storage)
        libxlmig__yajl_gen_kv_bool(g, "storage_ok",
                                   stat(storage, &st) == 0 &&
                                   S_ISDIR(st.st_mode));
    libxlmig__yajl_gen_str(g, "domain_info");
    yajl_gen_array_open(g);
    for (i = 0; i < nr; i++) {
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "name", list[i].name);
        libxlmig__yajl_gen_kv_uint(g, "domid", list[i].domid);
        libxlmig__yajl_gen_kv_uint(g, "memory_kib", list[i].memory_kib);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    libxlmig__node_facts_gen(gc, svc.cl, g);
    yajl_gen_map_close(g);
 out:
    libxlmig_dominfo_list_free(list, nr);
    libxlmig_host_info_dispose(&hi);
    return rc;
}

/*
 * A new migration of dom from source supersedes any unfinished earlier
 * one from the same source: that source has given the old one up (it
 * restarts after a network failure, or it resumed the domain and tries
 * again), so it will never send go for it.  Abort it and wait, a bounded
 * time, until its partial domain is gone.
 */
static void supersede(libxlmig__gc *gc, const char *dom, const char *source)
{
    const libxlmig__local_host *h = svc.host;
    char *name = GCSPRINTF("%s%s", dom, LIBXLMIG_SUFFIX_INCOMING);
    libxlmig__htgt_action act;
    incoming copy;
    bool destroy = false;
    int i, tries;

    for (i = 0; i < NODE_MAX_INCOMING; i++) {
        pthread_mutex_lock(&in_lock);
        act = HTGT_ACT_NONE;
        if (in_table[i].used && !strcmp(in_table[i].domain, dom) &&
            !strcmp(in_table[i].source, source) &&
            !libxlmig__htgt_is_final(in_table[i].state)) {
            bool receiving = in_table[i].state == HTGT_RECEIVING;

            act = libxlmig__htgt_step(&in_table[i].state, HTGT_EV_ABORT);
            if (in_table[i].fd >= 0)
                shutdown(in_table[i].fd, SHUT_RDWR);
            copy = in_table[i];
            /* A restore in progress cleans up after itself. */
            destroy = !receiving;
        }
        pthread_mutex_unlock(&in_lock);
        if (act == HTGT_ACT_DESTROY) {
            LOG(INFO, "migration %s of %s from %s is superseded by a new "
                "attempt", copy.id, dom, source);
            abort_incoming(gc, &copy, destroy);
        }
    }
    for (tries = 0; tries < 100 && h->domain_exists(h->priv, name); tries++)
        usleep(50000);
}

static int h_migrate_begin(libxlmig__gc *gc, void *opaque, yajl_val args,
                           yajl_gen g)
{
    const char *path_cpu[] = { "cpu_policy", NULL };
    const libxlmig__local_host *h = svc.host;
    node_conn *nc = opaque;
    const char *id = libxlmig__json_get_str(args, "id");
    const char *dom = libxlmig__json_get_str(args, "domain");
    const char *storage = libxlmig__json_get_str(args, "storage");
    struct policy_cpuid dcpu, hcpu;
    struct policy_check chk;
    libxlmig_host_info hi;
    incoming *in = NULL;
    uint64_t mem = 0;
    struct stat st;
    char err[256];
    yajl_val cpu;
    int i, rc;

    libxlmig_host_info_init(&hi);
    if (!id || strlen(id) != 32 ||
        !libxlmig__name_ok(dom, LIBXLMIG__DOMAIN_NAME_MAX) ||
        libxlmig__json_get_u64(gc, args, "memory_kib", &mem)) {
        LOG(ERROR, "malformed migration request from %s", nc->node);
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    /* The target checks again: it alone knows its state right now. */
    if (in_maintenance(gc)) {
        LOG(ERROR, "%s is in maintenance mode and takes no migrations",
            libxlmig__cluster_self_name(svc.cl));
        rc = LIBXLMIG_ERROR_REFUSED;
        goto out;
    }
    cpu = yajl_tree_get(args, path_cpu, yajl_t_object);
    rc = h->host_cpu_policy(gc, h->priv, &hcpu);
    if (rc) goto out;
    if (!cpu || !policy_parse_json(cpu, "CPU policy of the domain", &dcpu,
                                   err, sizeof(err))) {
        LOG(ERROR, "migration request from %s: %s", nc->node,
            cpu ? err : "no CPU policy");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    if (!policy_check(&dcpu, &hcpu, &chk)) {
        char *sum = policy_check_summary(&chk);

        LOG(ERROR, "%s cannot run here: %s", dom, sum ? sum : "CPU");
        free(sum);
        rc = LIBXLMIG_ERROR_INCOMPATIBLE;
        goto out;
    }
    if (storage && (stat(storage, &st) || !S_ISDIR(st.st_mode))) {
        LOG(ERROR, "the storage of %s, %s, is not visible here", dom,
            storage);
        rc = LIBXLMIG_ERROR_REFUSED;
        goto out;
    }
    rc = h->host_info(gc, h->priv, &hi);
    if (rc) goto out;
    supersede(gc, dom, nc->node);

    pthread_mutex_lock(&in_lock);
    if (h->domain_exists(h->priv, dom) ||
        h->domain_exists(h->priv, GCSPRINTF("%s%s", dom,
                                            LIBXLMIG_SUFFIX_INCOMING))) {
        LOG(ERROR, "a domain called %s already exists on %s", dom,
            libxlmig__cluster_self_name(svc.cl));
        rc = LIBXLMIG_ERROR_EXISTS;
    } else if (in_find(id)) {
        LOG(ERROR, "migration %s is already known here", id);
        rc = LIBXLMIG_ERROR_EXISTS;
    } else if (hi.free_memory_kib < in_promised_kib() + mem) {
        LOG(ERROR, "%s needs %llu MiB; %s has %llu MiB free", dom,
            (unsigned long long)(mem / 1024),
            libxlmig__cluster_self_name(svc.cl),
            (unsigned long long)((hi.free_memory_kib > in_promised_kib()
                                  ? hi.free_memory_kib - in_promised_kib()
                                  : 0) / 1024));
        rc = LIBXLMIG_ERROR_REFUSED;
    } else {
        for (i = 0; i < NODE_MAX_INCOMING; i++)
            if (!in_table[i].used ||
                (libxlmig__htgt_is_final(in_table[i].state) &&
                 in_table[i].fd < 0)) {
                in = &in_table[i];
                break;
            }
        if (!in) {
            LOG(ERROR, "too many migrations in progress here");
            rc = LIBXLMIG_ERROR_BUSY;
        } else {
            memset(in, 0, sizeof(*in));
            in->used = true;
            snprintf(in->id, sizeof(in->id), "%s", id);
            snprintf(in->domain, sizeof(in->domain), "%s", dom);
            snprintf(in->source, sizeof(in->source), "%s", nc->node);
            in->memory_kib = mem;
            in->state = HTGT_RECEIVING;
            in->fd = nc->fd;
            nc->pending = in;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&in_lock);
    if (rc) goto out;
    incoming_record(gc, dom, id);
    if (h->prepare_incoming) {
        const char *config = libxlmig__json_get_str(args, "config");

        rc = config ? h->prepare_incoming(gc, h->priv,
                                          GCSPRINTF("%s%s", dom,
                                                    LIBXLMIG_SUFFIX_INCOMING),
                                          config)
                    : LIBXLMIG_ERROR_PROTOCOL;
        pthread_mutex_lock(&in_lock);
        if (rc) {
            in->state = HTGT_ABORTED;
            in->fd = -1;
            nc->pending = NULL;
        } else {
            in->prepared = true;
        }
        pthread_mutex_unlock(&in_lock);
        if (rc) {
            incoming_forget(gc, dom, id);
            if (!config)
                LOG(ERROR, "migration request from %s without the domain "
                    "config", nc->node);
            goto out;
        }
    }
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_bool(g, "accepted", true);
    yajl_gen_map_close(g);
 out:
    libxlmig_host_info_dispose(&hi);
    return rc;
}

static int h_resolve(libxlmig__gc *gc, void *opaque, yajl_val args,
                     yajl_gen g)
{
    const char *id = libxlmig__json_get_str(args, "id");
    const char *decision;
    libxlmig__htgt_action act = HTGT_ACT_NONE;
    incoming *in, copy;
    int fd = -1;

    if (!id) {
        LOG(ERROR, "resolve without a migration id");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    pthread_mutex_lock(&in_lock);
    in = in_find(id);
    if (in) {
        act = libxlmig__htgt_step(&in->state, HTGT_EV_RESOLVE);
        copy = *in;
        fd = in->fd;
        if (act == HTGT_ACT_DESTROY && fd >= 0)
            shutdown(fd, SHUT_RDWR);   /* stop its restore */
    }
    pthread_mutex_unlock(&in_lock);
    if (in) {
        if (act == HTGT_ACT_UNPAUSE_CONFIRM)
            commit(gc, &copy);
        else if (act == HTGT_ACT_DESTROY)
            abort_incoming(gc, &copy, false);
        decision = copy.state == HTGT_COMMITTED ? "committed" : "aborted";
    } else {
        /* Not in memory (the daemon restarted?): the record decides;
         * never heard of it means nothing of it runs here. */
        decision = decision_lookup(gc, id);
        if (!decision)
            decision = "aborted";
    }
    LOG(INFO, "resolve of migration %s: %s", id, decision);
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "decision", decision);
    yajl_gen_map_close(g);
    return 0;
}

/* Enter or leave maintenance mode at a peer's request. */
static int h_set_maintenance(libxlmig__gc *gc, void *opaque, yajl_val args,
                             yajl_gen g)
{
    node_conn *nc = opaque;
    bool on = false;
    int rc;

    rc = libxlmig__json_get_bool(gc, args, "maintenance", &on);
    if (rc) return rc;
    rc = libxlmig__maintenance_write(gc, on, nc->node);
    if (rc) return rc;
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_bool(g, "maintenance", in_maintenance(gc));
    yajl_gen_map_close(g);
    return 0;
}

/* A bandwidth probe: the peer sends that many raw bytes after the reply. */
static int h_sink(libxlmig__gc *gc, void *opaque, yajl_val args, yajl_gen g)
{
    node_conn *nc = opaque;
    uint64_t bytes = 0;

    if (libxlmig__json_get_u64(gc, args, "bytes", &bytes) || !bytes ||
        bytes > LIBXLMIG_SINK_MAX) {
        LOG(ERROR, "bandwidth probe from %s: bad size", nc->node);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    nc->sink_bytes = bytes;
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_uint(g, "bytes", bytes);
    yajl_gen_map_close(g);
    return 0;
}

/* A round trip of `xlmig net check`: nothing to do but answer. */
static int h_ping(libxlmig__gc *gc, void *opaque, yajl_val args, yajl_gen g)
{
    yajl_gen_map_open(g);
    yajl_gen_map_close(g);
    return 0;
}

static int h_job_start(libxlmig__gc *gc, void *opaque, yajl_val args,
                       yajl_gen g)
{
    return libxlmig__job_start(gc, svc.cl, ((node_conn *)opaque)->node,
                               args, g);
}

static int h_job_status(libxlmig__gc *gc, void *opaque, yajl_val args,
                        yajl_gen g)
{
    return libxlmig__job_status(gc, args, g);
}

static int h_job_stop(libxlmig__gc *gc, void *opaque, yajl_val args,
                      yajl_gen g)
{
    return libxlmig__job_stop(gc, ((node_conn *)opaque)->node, args, g);
}

static const libxlmig__rpc_op node_ops[] = {
    { "node_info", h_node_info },
    { "set_maintenance", h_set_maintenance },
    { "sink", h_sink },
    { "ping", h_ping },
    { "migrate_begin", h_migrate_begin },
    { "resolve", h_resolve },
    { "job_start", h_job_start },
    { "job_status", h_job_status },
    { "job_stop", h_job_stop },
};

/* ---- receiving a migration ------------------------------------------- */

static void send_event(libxlmig__gc *gc, libxlmig__chan *c, const char *ev,
                       const char *error)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char *json = NULL;

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "event", ev);
    if (error)
        libxlmig__yajl_gen_kv_str(g, "error", error);
    yajl_gen_map_close(g);
    if (libxlmig__json_finish(gc, g, &json))
        return;
    libxlmig__ptr_add(gc, json);
    (void)libxlmig__msg_send(gc, c, LIBXLMIG_MSG_EVENT, json,
                             (uint32_t)strlen(json));
}

/* Step in's state under the lock; returns the action. */
static libxlmig__htgt_action step(incoming *in, libxlmig__htgt_event ev,
                                  incoming *copy_r)
{
    libxlmig__htgt_action act;

    pthread_mutex_lock(&in_lock);
    act = libxlmig__htgt_step(&in->state, ev);
    *copy_r = *in;
    pthread_mutex_unlock(&in_lock);
    return act;
}

static void run_incoming(libxlmig__gc *gc, node_conn *nc, libxlmig__chan *c)
{
    const libxlmig__local_host *h = svc.host;
    incoming *in = nc->pending, copy;
    libxlmig__htgt_action act;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    const char *ev = NULL;
    char *name = GCSPRINTF("%s%s", in->domain, LIBXLMIG_SUFFIX_INCOMING);
    char *payload;
    yajl_val v;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&st, 0, sizeof(st));
    libxlmig_params_init(&o.params);
    LOG(INFO, "migration %s: receiving %s from %s", in->id, in->domain,
        in->source);
    libxlmig__fault("dst", "begin", nc->fd);
    rc = h->restore_paused(gc, h->priv, nc->fd, name, &o, &st);
    if (rc) {
        act = step(in, HTGT_EV_FAILURE, &copy);
        if (act == HTGT_ACT_DESTROY)
            abort_incoming(gc, &copy, false);
        send_event(gc, c, "failed", libxlmig_last_error(CTX));
        goto out;
    }
    act = step(in, HTGT_EV_STREAM_COMPLETE, &copy);
    if (act != HTGT_ACT_SEND_READY) {
        /* A resolve aborted it while the stream arrived. */
        h->destroy(gc, h->priv, name);
        send_event(gc, c, "failed", "migration aborted by a resolve");
        goto out;
    }
    libxlmig__fault("dst", "ready", nc->fd);
    send_event(gc, c, "ready", NULL);

    c->t->timeout_ms = libxlmig__tunable_handoff_timeout_ms();
    rc = libxlmig__msg_expect(gc, c, LIBXLMIG_MSG_EVENT, &payload, NULL);
    if (!rc)
        rc = libxlmig__json_parse(gc, payload, "handoff event", &v);
    if (!rc)
        ev = libxlmig__json_get_str(v, "event");
    if (rc || !ev) {
        act = step(in, HTGT_EV_FAILURE, &copy);
    } else if (!strcmp(ev, "go")) {
        libxlmig__fault("dst", "go", nc->fd);
        act = step(in, HTGT_EV_GO, &copy);
    } else {
        act = step(in, HTGT_EV_ABORT, &copy);
    }
    switch (act) {
    case HTGT_ACT_UNPAUSE_CONFIRM:
        commit(gc, &copy);
        libxlmig__fault("dst", "confirm", nc->fd);
        send_event(gc, c, "confirm", NULL);
        break;
    case HTGT_ACT_DESTROY:
        abort_incoming(gc, &copy, true);
        break;
    case HTGT_ACT_ANSWER:
        send_event(gc, c, copy.state == HTGT_COMMITTED ? "confirm"
                                                       : "aborted",
                   NULL);
        break;
    default:
        break;
    }
 out:
    pthread_mutex_lock(&in_lock);
    in->fd = -1;
    pthread_mutex_unlock(&in_lock);
}

/* Read the probe's raw bytes, then report how long they took. */
static int run_sink(libxlmig__gc *gc, node_conn *nc, libxlmig__chan *c)
{
    size_t chunk = 1 << 20;
    char *buf = libxlmig__zalloc(gc, chunk);
    uint64_t left = nc->sink_bytes, t0 = libxlmig__now_us();
    size_t n;
    int rc;

    nc->sink_bytes = 0;
    while (left) {
        n = left < chunk ? (size_t)left : chunk;
        rc = libxlmig__transport_read_all(gc, c->t, buf, n, "probe");
        if (rc) return rc;
        left -= n;
    }
    {
        yajl_gen g = libxlmig__json_gen_alloc(gc, false);
        char *json = NULL;

        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_int(g, "version", 1);
        libxlmig__yajl_gen_kv_str(g, "event", "sunk");
        libxlmig__yajl_gen_kv_uint(g, "us", libxlmig__now_us() - t0);
        yajl_gen_map_close(g);
        rc = libxlmig__json_finish(gc, g, &json);
        if (rc) return rc;
        libxlmig__ptr_add(gc, json);
        return libxlmig__msg_send(gc, c, LIBXLMIG_MSG_EVENT, json,
                                  (uint32_t)strlen(json));
    }
}

/* ---- connections ------------------------------------------------------- */

static void *conn_main(void *arg)
{
    node_conn *nc = arg;
    libxlmig_ctx *ctx = NULL;
    libxlmig__transport *t = NULL;
    const libxlmig__key *key;
    libxlmig__chan c;
    char *peer_node = NULL;
    int rc;

    libxlmig__chan_init(&c, NULL);
    if (libxlmig_ctx_alloc(&ctx, libxlmig_ctx_logger(svc.ctx))) {
        close(nc->fd);
        free(nc);
        return NULL;
    }
    {
        GC_INIT(ctx);

        rc = libxlmig__cluster_key(gc, svc.cl, &key);
        if (rc) goto done;
        libxlmig__tune_socket(nc->fd);
        rc = libxlmig__transport_fd_open(gc, nc->fd, nc->peer, &t);
        nc->fd = -1;
        if (rc) goto done;
        nc->fd = t->fd;
        t->timeout_ms = NODE_AUTH_TIMEOUT_MS;
        libxlmig__chan_init(&c, t);
        libxlmig__fault("dst", "handshake", t->fd);
        rc = libxlmig__handshake_server(gc, &c, key,
                                        libxlmig__cluster_self_name(svc.cl),
                                        &peer_node);
        if (rc) {
            LOG(WARN, "refused connection from %s: %s", nc->peer,
                libxlmig_last_error(ctx));
            goto done;
        }
        snprintf(nc->node, sizeof(nc->node), "%s", peer_node);
        t->timeout_ms = libxlmig__tunable_handoff_timeout_ms();
        while (!svc.stop) {
            rc = libxlmig__rpc_serve_one(gc, &c, node_ops,
                                         ARRAY_SIZE(node_ops), nc);
            if (rc && nc->pending) {
                /* Accepted, but the acceptance never reached the source:
                 * nothing will stream; drop what was prepared. */
                incoming copy;

                if (step(nc->pending, HTGT_EV_FAILURE, &copy) ==
                    HTGT_ACT_DESTROY)
                    abort_incoming(gc, &copy, true);
                pthread_mutex_lock(&in_lock);
                nc->pending->fd = -1;
                pthread_mutex_unlock(&in_lock);
                break;
            }
            if (rc)
                break;
            if (nc->pending) {
                run_incoming(gc, nc, &c);
                break;
            }
            if (nc->sink_bytes && run_sink(gc, nc, &c))
                break;
        }
     done:
        libxlmig__chan_dispose(&c);
        if (t)
            libxlmig__transport_free(t);
        else if (nc->fd >= 0)
            close(nc->fd);
        GC_FREE;
    }
    free(nc);
    libxlmig_ctx_free(ctx);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct pollfd pfd[NODE_MAX_LISTEN];
    struct sockaddr_storage ss;
    pthread_attr_t attr;
    socklen_t sl;
    node_conn *nc;
    pthread_t t;
    char host[64];
    int i, n, s;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (!svc.stop) {
        for (i = 0; i < svc.nfds; i++) {
            pfd[i].fd = svc.fds[i];
            pfd[i].events = POLLIN;
        }
        n = poll(pfd, (nfds_t)svc.nfds, 200);
        if (n <= 0)
            continue;
        for (i = 0; i < svc.nfds; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            sl = sizeof(ss);
            s = accept4(svc.fds[i], (struct sockaddr *)&ss, &sl,
                        SOCK_CLOEXEC);
            if (s < 0)
                continue;
            nc = calloc(1, sizeof(*nc));
            if (!nc) {
                close(s);
                continue;
            }
            nc->fd = s;
            host[0] = '\0';
            if (ss.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
                          host, sizeof(host));
            else if (ss.ss_family == AF_INET6)
                inet_ntop(AF_INET6,
                          &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
                          sizeof(host));
            snprintf(nc->peer, sizeof(nc->peer), "%s", host);
            if (pthread_create(&t, &attr, conn_main, nc)) {
                close(s);
                free(nc);
            }
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

/* ---- after a restart ------------------------------------------------ */

/* A DOMAIN--incoming found at start: its decision settles it. */
static void settle_incoming(libxlmig__gc *gc, const libxlmig__local_host *h,
                            const char *name)
{
    char *dom = GCSTRDUP(name);
    const char *id, *decision;

    dom[libxlmig__suffix_base(dom, LIBXLMIG_SUFFIX_INCOMING)] = '\0';
    id = incoming_lookup(gc, dom);
    decision = id ? decision_lookup(gc, id) : NULL;
    if (decision && !strcmp(decision, "committed")) {
        incoming in;

        memset(&in, 0, sizeof(in));
        snprintf(in.id, sizeof(in.id), "%s", id);
        snprintf(in.domain, sizeof(in.domain), "%s", dom);
        snprintf(in.source, sizeof(in.source), "%s", "its source");
        LOG(INFO, "migration %s of %s was committed before xlmigd ended: "
            "finishing it", id, dom);
        commit(gc, &in);
        return;
    }
    /* Never decided: decide now, so a source that asks hears it. */
    if (id && !decision)
        decision_record(gc, id, false);
    LOG(INFO, "%s: its migration%s%s was not committed when xlmigd ended: "
        "destroying the partial copy", name, id ? " " : "", id ? id : "");
    h->destroy(gc, h->priv, name);
    if (id)
        incoming_forget(gc, dom, id);
}

typedef struct settle_job {
    const libxlmig__local_host *h;
    libxlmig_cluster *cl;
    char name[80];
} settle_job;

/* Resolve a DOMAIN--migratedaway with its target, until it is settled. */
static void *recover_main(void *arg)
{
    settle_job *j = arg;
    libxlmig_ctx *ctx = NULL;
    int tries = 0, rc;

    if (libxlmig_ctx_alloc(&ctx, libxlmig_ctx_logger(svc.ctx))) {
        free(j);
        return NULL;
    }
    while (!svc.stop) {
        GC_INIT(ctx);
        yajl_gen rep = yajl_gen_alloc(NULL);

        if (!libxlmig__handoff_pending(gc, j->name)) {
            GC_FREE;
            if (rep) yajl_gen_free(rep);
            break;   /* settled (xlmig recover, or gone) */
        }
        rc = rep ? (yajl_gen_map_open(rep),
                    libxlmig__migrate_recover(gc, j->cl, j->h, j->name, rep))
                 : LIBXLMIG_ERROR_NOMEM;
        if (rep) yajl_gen_free(rep);
        if (!rc)
            LOG(INFO, "%s: the handoff left when xlmigd ended is settled",
                j->name);
        else if (tries == 0)
            LOG(WARN, "%s stays paused until its target answers (retrying; "
                "or run xlmig recover): %s", j->name, libxlmig_last_error(ctx));
        GC_FREE;
        if (!rc) break;
        tries++;
        sleep(2);
    }
    libxlmig_ctx_free(ctx);
    free(j);
    return NULL;
}

void libxlmig__node_settle(libxlmig__gc *gc, libxlmig_cluster *cl,
                           const libxlmig__local_host *h)
{
    libxlmig_dominfo *list = NULL;
    pthread_attr_t attr;
    pthread_t t;
    int i, nr = 0;

    if (h->list(gc, h->priv, &list, &nr))
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (i = 0; i < nr; i++) {
        const char *n = list[i].name;
        size_t bl = libxlmig__suffix_base(n, LIBXLMIG_SUFFIX_MIGRATEDAWAY);

        if (libxlmig__suffix_base(n, LIBXLMIG_SUFFIX_INCOMING)) {
            settle_incoming(gc, h, n);
        } else if (bl) {
            char *base = GCSTRDUP(n);

            base[bl] = '\0';
            if (!libxlmig__handoff_pending(gc, n)) {
                /* Renamed, but go was never sent: take it back. */
                LOG(INFO, "%s: the previous xlmigd ended before its "
                    "handoff; resuming it as %s", n, base);
                if (!h->rename(gc, h->priv, n, base))
                    h->resume(gc, h->priv, base);
            } else if (cl) {
                settle_job *j = calloc(1, sizeof(*j));

                if (!j) continue;
                j->h = h;
                j->cl = cl;
                snprintf(j->name, sizeof(j->name), "%s", n);
                if (pthread_create(&t, &attr, recover_main, j))
                    free(j);
            } else {
                LOG(WARN, "%s waits for xlmig recover (no cluster "
                    "configured here)", n);
            }
        }
    }
    pthread_attr_destroy(&attr);
    libxlmig_dominfo_list_free(list, nr);
}

int libxlmig__node_service_start(libxlmig__gc *gc, libxlmig_cluster *cl,
                                 const libxlmig__local_host *host)
{
    const libxlmig__key *key;
    int rc;

    /* Refuse to start without a usable key: peers could not talk to us. */
    rc = libxlmig__cluster_key(gc, cl, &key);
    if (rc) return rc;
    svc.ctx = CTX;
    svc.cl = cl;
    svc.host = host;
    svc.stop = 0;
    rc = libxlmig__cluster_listen(gc, cl, svc.fds, NODE_MAX_LISTEN,
                                  &svc.nfds);
    if (rc) return rc;
    if (pthread_create(&svc.thread, NULL, accept_main, NULL)) {
        LOGE(ERROR, "cannot start the node service");
        return LIBXLMIG_ERROR_FAIL;
    }
    svc.running = true;
    LOG(INFO, "node %s serving peers on %d migration address(es), port %u",
        libxlmig__cluster_self_name(cl), svc.nfds,
        libxlmig_cluster_cfg(cl)->port);
    return 0;
}

void libxlmig__node_service_stop(void)
{
    int i;

    if (!svc.running)
        return;
    svc.stop = 1;
    pthread_join(svc.thread, NULL);
    for (i = 0; i < svc.nfds; i++)
        close(svc.fds[i]);
    svc.nfds = 0;
    svc.running = false;
}
