/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The node service: xlmigd listens only on this node's allowed migration
 * addresses, proves and checks cluster membership on every connection
 * (net/net.h), answers the queries other nodes make before a migration, and
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
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "core/tunables.h"
#include "cluster/handoff.h"
#include "cluster/history.h"
#include "cluster/metrics.h"
#include "cluster/ops.h"
#include "cluster/migrate.h"
#include "net/mp_format.h"
#include "host/storage.h"
#include "policy.h"

#define NODE_MAX_LISTEN   16
#define NODE_MAX_INCOMING 64
#define NODE_AUTH_TIMEOUT_MS 10000   /* the whole handshake, ms */
/* Connections still in their handshake: nobody knows who they are. */
#define NODE_MAX_PREAUTH         128 /* at once, in all */
#define NODE_MAX_PREAUTH_PER_SRC 32  /* at once, from one address */
/* Refusals logged: at most NODE_LOG_BURST lines a NODE_LOG_EVERY_US
 * window, then one line that counts the rest; an accept failure at most
 * once a window. */
#define NODE_LOG_EVERY_US        (10 * 1000000ULL)
#define NODE_LOG_BURST           100

typedef struct incoming {
    bool used;
    char id[33];
    char domain[64];
    char source[64];
    uint64_t memory_kib;          /* KiB promised to it */
    bool prepared;                /* its domain exists (counts as used) */
    libxlmig__htgt_state state;
    /* Its stream's connection while it is read (NULL: none); a resolve
     * or a new attempt shuts it down under in_lock. */
    libxlmig__transport *t;
    uint64_t t_start_us;          /* accepted (libxlmig__now_us) */
    uint64_t start_ms;            /* the same, wall clock, for history */
    uint64_t bytes_base;          /* t's bytes_received when accepted */
    uint64_t bytes;               /* stream bytes, once it ended */
    char peer[96];                /* the source's address it came from */
    /* Further paths of its stream (migrate_join), until the stream's
     * announcement takes them over; index 0 unused. */
    libxlmig__transport *join_t[LIBXLMIG__MP_MAX_PATHS];
    char join_name[LIBXLMIG__MP_MAX_PATHS][96];
    bool paths_taken;             /* the stream began: no more joins */
} incoming;

/* The node service: one per xlmigd, made by _alloc, shared by its
 * threads. */
struct libxlmig__node_service {
    libxlmig_ctx *ctx;                 /* the daemon's, for its logger */
    libxlmig_cluster *cl;              /* NULL: settle only, no peers */
    const libxlmig__host *host;
    int fds[NODE_MAX_LISTEN];          /* listening sockets */
    int nfds;
    pthread_t thread;                  /* accept_main, while running */
    volatile sig_atomic_t stop;
    bool running;
    int active;                        /* threads that use it */
    /* Guards preauth*: the connections in their handshake, by address. */
    pthread_mutex_t conn_lock;
    int preauth_total;
    struct { char addr[64]; int n; } preauth[NODE_MAX_PREAUTH];
    uint64_t last_log_us;              /* of an accept failure */
    uint64_t window_us;                /* start of the refusal window */
    unsigned window_lines;             /* refusals logged in it */
    unsigned window_quiet;             /* refusals not logged in it */
    /* Guards in_table: the migrations coming in. */
    pthread_mutex_t in_lock;
    incoming in_table[NODE_MAX_INCOMING];
    /* The daemon's part of status: its migrations out (set once, before
     * _start). */
    libxlmig__status_gen_fn *outgoing_gen;
    void *outgoing_opaque;
};
typedef struct libxlmig__node_service node_service;

typedef struct node_conn {
    node_service *svc;
    bool preauth;                /* counted in svc->preauth */
    char *config;                /* the config migrate_begin announced
                                  * (malloc'd), which the stream must carry */
    libxlmig__transport *t;      /* once the connection is set up */
    int fd;
    char peer[96];
    char node[64];               /* authenticated peer */
    incoming *pending;           /* set by migrate_begin */
    uint64_t sink_bytes;         /* set by sink: raw bytes to read next */
    /* set by migrate_join: after the reply, hand t over to that path */
    char join_id[33];
    int join_index;              /* 0: none */
} node_conn;

/* ---- decisions on disk --------------------------------------------- */

/*
 * The decision on migration id, STATE_DIR/decisions/ID: "committed" or
 * "aborted", then the node it came from (a later resolve must come from
 * there too).
 */
static void decision_record(libxlmig__gc *gc, const char *id, bool committed,
                            const char *source)
{
    if (libxlmig__state_file_write(gc, "decisions", id,
                                   GCSPRINTF("%s %s\n",
                                             committed ? "committed"
                                                       : "aborted",
                                             source)))
        LOGE(ERROR, "cannot record the decision on migration %s in "
             "%s/decisions", id, libxlmig_state_dir());
}

/* "committed", "aborted", or NULL if this node never decided id;
 * *source_r (may be NULL) the migration's source, "" if not recorded. */
static const char *decision_lookup(libxlmig__gc *gc, const char *id,
                                   const char **source_r)
{
    char *text, *sp;

    if (!libxlmig__id_ok(id) ||
        libxlmig__state_file_read(gc, "decisions", id, 256, &text))
        return NULL;
    text[strcspn(text, "\n")] = '\0';
    sp = strchr(text, ' ');
    if (source_r)
        *source_r = sp ? sp + 1 : "";
    return !strncmp(text, "committed", 9) ? "committed" : "aborted";
}

static bool in_maintenance(libxlmig__gc *gc)
{
    return libxlmig__state_file_exists(NULL, "maintenance");
}

/*
 * The incoming record, STATE_DIR/incoming/DOMAIN: the id of the
 * migration whose DOMAIN--incoming this node holds, from the moment it is
 * accepted until it commits or aborts.  After a restart it tells which
 * decision settles a DOMAIN--incoming found here (node_settle).
 */
static void incoming_record(libxlmig__gc *gc, const char *dom,
                            const char *id, const char *source)
{
    if (libxlmig__state_file_write(gc, "incoming", dom,
                                   GCSPRINTF("%s %s\n", id, source)))
        LOGE(WARN, "cannot record incoming migration %s in %s/incoming/%s",
             id, libxlmig_state_dir(), dom);
}

/* The id in DOMAIN's incoming record, or NULL; *source_r (may be NULL)
 * the node it comes from ("" if not recorded). */
static const char *incoming_lookup(libxlmig__gc *gc, const char *dom,
                                   const char **source_r)
{
    char *text, *sp;

    if (libxlmig__state_file_read(gc, "incoming", dom, 256, &text))
        return NULL;
    text[strcspn(text, "\n")] = '\0';
    sp = strchr(text, ' ');
    if (sp)
        *sp++ = '\0';
    if (source_r)
        *source_r = sp ? sp : "";
    return libxlmig__id_ok(text) ? text : NULL;
}

/* Remove DOMAIN's incoming record if it is still id's. */
static void incoming_forget(libxlmig__gc *gc, const char *dom, const char *id)
{
    const char *cur = incoming_lookup(gc, dom, NULL);

    if (cur && !strcmp(cur, id))
        libxlmig__state_file_remove("incoming", dom);
}

/* ---- the incoming table (in_lock held) --------------------------------- */

static incoming *in_find(node_service *svc, const char *id)
{
    int i;

    for (i = 0; i < NODE_MAX_INCOMING; i++)
        if (svc->in_table[i].used && !strcmp(svc->in_table[i].id, id))
            return &svc->in_table[i];
    return NULL;
}

static uint64_t in_promised_kib(node_service *svc)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < NODE_MAX_INCOMING; i++)
        if (svc->in_table[i].used && !svc->in_table[i].prepared &&
            !libxlmig__htgt_is_final(svc->in_table[i].state))
            sum += svc->in_table[i].memory_kib;
    return sum;
}

/* The history record and the metrics of a migration in, decided (not
 * one settled after a restart: nothing is known of it but its id). */
static void record_incoming(libxlmig__gc *gc, node_service *svc,
                            const incoming *in, const char *outcome)
{
    libxlmig__history_rec r;
    libxlmig__metrics_end e;

    if (!in->t_start_us)
        return;
    memset(&r, 0, sizeof(r));
    r.id = in->id;
    r.direction = "in";
    r.domain = in->domain;
    r.source = in->source;
    r.target = libxlmig__cluster_self_name(svc->cl);
    r.outcome = outcome;
    r.start_ms = in->start_ms;
    r.duration_ms = (libxlmig__now_us() - in->t_start_us) / 1000;
    r.bytes = in->bytes;
    libxlmig__history_add(gc, &r);

    memset(&e, 0, sizeof(e));
    e.direction = "in";
    e.outcome = outcome;
    e.started = true;
    e.succeeded = !strcmp(outcome, "committed");
    e.duration_ms = r.duration_ms;
    e.bytes = r.bytes;
    libxlmig__metrics_ended(&e);
    libxlmig__metrics_flush(gc, false);
}

/* Commit: the domain takes its name and runs here, from the time
 * returned (libxlmig__now_us). */
static uint64_t commit(libxlmig__gc *gc, node_service *svc, incoming *in)
{
    const libxlmig__host *h = svc->host;
    char *incoming_name = GCSPRINTF("%s%s", in->domain,
                                    LIBXLMIG_SUFFIX_INCOMING);
    uint64_t t_running;
    int rc;

    decision_record(gc, in->id, true, in->source);
    libxlmig__fault("dst", "unpause", -1);
    rc = h->ops->rename(gc, h->priv, incoming_name, in->domain);
    if (rc)
        LOG(ERROR, "committed migration %s: cannot rename %s to %s; it "
            "runs under the temporary name", in->id, incoming_name,
            in->domain);
    rc = h->ops->unpause_release(gc, h->priv, rc ? incoming_name : in->domain);
    t_running = libxlmig__now_us();
    if (rc)
        LOG(CRITICAL, "committed migration %s: cannot unpause %s", in->id,
            in->domain);
    if (h->ops->announce)
        h->ops->announce(gc, h->priv, in->domain);
    incoming_forget(gc, in->domain, in->id);
    LOG(INFO, "migration %s: %s from %s runs here", in->id, in->domain,
        in->source);
    record_incoming(gc, svc, in, "committed");
    return t_running;
}

static void abort_incoming(libxlmig__gc *gc, node_service *svc,
                           incoming *in, bool destroy)
{
    const libxlmig__host *h = svc->host;
    char *incoming_name = GCSPRINTF("%s%s", in->domain,
                                    LIBXLMIG_SUFFIX_INCOMING);

    decision_record(gc, in->id, false, in->source);
    libxlmig__fault("dst", "destroy", -1);
    if (destroy && h->ops->domain_exists(h->priv, incoming_name))
        h->ops->discard(gc, h->priv, incoming_name);
    incoming_forget(gc, in->domain, in->id);
    if (destroy)
        LOG(INFO, "migration %s of %s from %s aborted; nothing of it is "
            "left here", in->id, in->domain, in->source);
    else
        LOG(INFO, "migration %s of %s from %s aborted; its stream is "
            "stopped, and the partial copy goes with it", in->id,
            in->domain, in->source);
    record_incoming(gc, svc, in, "aborted");
}

/* ---- requests ---------------------------------------------------------- */

/*
 * Whether path is storage the cluster config names (only that may be
 * asked about: a peer learns nothing else of this node's files) and is a
 * directory here.
 */
static bool storage_visible(libxlmig__gc *gc, node_service *svc,
                            const char *path)
{
    const char *dir = libxlmig_cluster_cfg(svc->cl)->sim_storage_dir;
    struct stat st;

    if (!dir || !*dir || strcmp(path, dir)) {
        LOG(WARN, "a peer asked about storage %s, which the cluster config "
            "does not name", path);
        return false;
    }
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * "domain_needs": what each domain here needs of a target (xlmig
 * validate): its disks with their storage identifiers and its bridges.
 * Domain-0 and the copies of a handoff are left out; so is a domain whose
 * facts cannot be had (it may be going away).
 */
static void gen_domain_needs(libxlmig__gc *gc, const libxlmig__host *h,
                             const libxlmig_dominfo *list, int nr,
                             yajl_gen g)
{
    libxlmig__dom_facts f;
    int i;

    libxlmig__yajl_gen_str(g, "domain_needs");
    yajl_gen_array_open(g);
    for (i = 0; i < nr && h->ops->domain_facts; i++) {
        if (list[i].domid == 0 ||
            libxlmig__suffix_base(list[i].name, LIBXLMIG_SUFFIX_INCOMING) ||
            libxlmig__suffix_base(list[i].name,
                                  LIBXLMIG_SUFFIX_MIGRATEDAWAY))
            continue;
        libxlmig__dom_facts_init(&f);
        if (!h->ops->domain_facts(gc, h->priv, list[i].name, &f)) {
            yajl_gen_map_open(g);
            libxlmig__yajl_gen_kv_str(g, "name", list[i].name);
            libxlmig__dom_needs_gen(g, &f);
            yajl_gen_map_close(g);
        }
        libxlmig__dom_facts_dispose(&f);
    }
    yajl_gen_array_close(g);
}

static int h_node_info(libxlmig__gc *gc, void *opaque, yajl_val args,
                       yajl_gen g)
{
    node_conn *nc = opaque;
    node_service *svc = nc->svc;
    const libxlmig__host *h = svc->host;
    libxlmig_host_info hi;
    libxlmig_dominfo *list = NULL;
    struct policy_cpuid cpu;
    const char *storage = libxlmig__json_get_str(args, "storage");
    bool wants_needs = false;
    uint64_t promised;
    int i, nr = 0, rc;

    libxlmig_host_info_init(&hi);
    if (args)
        libxlmig__json_get_bool_opt(gc, args, "domain_needs", &wants_needs);
    libxlmig__fault("dst", "preflight", nc->fd);
    rc = h->ops->host_info(gc, h->priv, &hi);
    if (!rc) rc = h->ops->host_cpu_policy(gc, h->priv, false, &cpu);
    if (!rc) rc = h->ops->list(gc, h->priv, &list, &nr);
    if (rc) goto out;
    pthread_mutex_lock(&svc->in_lock);
    promised = in_promised_kib(svc);
    pthread_mutex_unlock(&svc->in_lock);

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "node", libxlmig__cluster_self_name(svc->cl));
    libxlmig__yajl_gen_kv_str(g, "xlmig", LIBXLMIG_VERSION);
    libxlmig__yajl_gen_kv_str(g, "backend", h->ops->name);
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
    /* sim_storage_dir is the sim's stand-in for shared storage: a Xen
     * node has none to report (its disks are checked one by one). */
    if (storage && !strcmp(h->ops->name, "sim"))
        libxlmig__yajl_gen_kv_bool(g, "storage_ok",
                                   storage_visible(gc, svc, storage));
    /* The disks and bridges a domain from there would need. */
    libxlmig__dom_needs_answer(gc, args, g);
    if (wants_needs)
        gen_domain_needs(gc, h, list, nr, g);
    libxlmig__yajl_gen_str(g, "domain_info");
    yajl_gen_array_open(g);
    for (i = 0; i < nr; i++) {
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "name", list[i].name);
        libxlmig__yajl_gen_kv_uint(g, "domid", list[i].domid);
        libxlmig__yajl_gen_kv_uint(g, "memory_kib", list[i].memory_kib);
        libxlmig__yajl_gen_kv_str(g, "state",
                                  libxlmig_domain_state_to_string(
                                      list[i].state));
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    libxlmig__node_facts_gen(gc, svc->cl, g);
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
static void supersede(libxlmig__gc *gc, node_service *svc, const char *dom,
                      const char *source)
{
    const libxlmig__host *h = svc->host;
    char *name = GCSPRINTF("%s%s", dom, LIBXLMIG_SUFFIX_INCOMING);
    libxlmig__htgt_action act;
    incoming copy;
    bool destroy = false;
    int i, tries;

    for (i = 0; i < NODE_MAX_INCOMING; i++) {
        pthread_mutex_lock(&svc->in_lock);
        act = HTGT_ACT_NONE;
        if (svc->in_table[i].used && !strcmp(svc->in_table[i].domain, dom) &&
            !strcmp(svc->in_table[i].source, source) &&
            !libxlmig__htgt_is_final(svc->in_table[i].state)) {
            bool receiving = svc->in_table[i].state == HTGT_RECEIVING;

            act = libxlmig__htgt_step(&svc->in_table[i].state, HTGT_EV_ABORT);
            libxlmig__transport_shutdown(svc->in_table[i].t);
            copy = svc->in_table[i];
            /* A restore in progress cleans up after itself. */
            destroy = !receiving;
        }
        pthread_mutex_unlock(&svc->in_lock);
        if (act == HTGT_ACT_DESTROY) {
            LOG(INFO, "migration %s of %s from %s is superseded by a new "
                "attempt", copy.id, dom, source);
            abort_incoming(gc, svc, &copy, destroy);
        }
    }
    for (tries = 0; tries < 100 && h->ops->domain_exists(h->priv, name);
         tries++)
        usleep(50000);
}

/*
 * What a migration asks of this node before it is accepted: not in
 * maintenance, a CPU that covers the domain's (against the policy for
 * its kind of guest), and its storage visible here.
 */
static int begin_checks(libxlmig__gc *gc, node_conn *nc, yajl_val args,
                        const char *dom)
{
    const char *path_cpu[] = { "cpu_policy", NULL };
    node_service *svc = nc->svc;
    const libxlmig__host *h = svc->host;
    const char *storage = libxlmig__json_get_str(args, "storage");
    struct policy_cpuid dcpu, hcpu;
    struct policy_check chk;
    char err[256];
    bool pv = false;
    yajl_val cpu;
    int rc;

    /* The target checks again: it alone knows its state right now. */
    if (in_maintenance(gc)) {
        LOG(ERROR, "%s is in maintenance mode and takes no migrations",
            libxlmig__cluster_self_name(svc->cl));
        return LIBXLMIG_ERROR_REFUSED;
    }
    cpu = yajl_tree_get(args, path_cpu, yajl_t_object);
    /* Absent from sources that check every guest against the HVM
     * maximum policy. */
    rc = libxlmig__json_get_bool_opt(gc, args, "pv", &pv);
    if (!rc) rc = h->ops->host_cpu_policy(gc, h->priv, pv, &hcpu);
    if (rc) return rc;
    if (!cpu || !policy_parse_json(cpu, "CPU policy of the domain", &dcpu,
                                   err, sizeof(err))) {
        LOG(ERROR, "migration request from %s: %s", nc->node,
            cpu ? err : "no CPU policy");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (!policy_check(&dcpu, &hcpu, &chk)) {
        char *sum = policy_check_summary(&chk);

        LOG(ERROR, "%s cannot run here: %s", dom, sum ? sum : "CPU");
        free(sum);
        return LIBXLMIG_ERROR_INCOMPATIBLE;
    }
    if (storage && !storage_visible(gc, svc, storage)) {
        LOG(ERROR, "the storage of %s, %s, is not visible here", dom,
            storage);
        return LIBXLMIG_ERROR_REFUSED;
    }
    {
        /* Again here: the disks may have gone since the pre-flight. */
        const char *fail = libxlmig__dom_needs_check(
            gc, args, libxlmig__dom_needs_local(gc, args),
            libxlmig__cluster_self_name(svc->cl), NULL, NULL);

        if (fail) {
            LOG(ERROR, "%s cannot run here: %s", dom, fail);
            return LIBXLMIG_ERROR_REFUSED;
        }
    }
    return 0;
}

/*
 * The memory promised (mem KiB, what the free memory is checked against)
 * must cover what the domain's config makes it here: no promise of 1 MiB
 * for a config of 64 GiB.  The config is kept: the stream must carry the
 * same.
 */
static int begin_memory(libxlmig__gc *gc, node_conn *nc, yajl_val args,
                        const char *dom, uint64_t mem)
{
    const libxlmig__host *h = nc->svc->host;
    const char *config = libxlmig__json_get_str(args, "config");
    uint64_t kib = 0;
    int rc;

    if (!config) {
        LOG(ERROR, "migration request from %s without the domain config",
            nc->node);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (h->ops->config_memory) {
        rc = h->ops->config_memory(gc, h->priv, config, &kib);
        if (rc) return rc;
        /* Xen's own accounting adds some slack to what was announced:
         * more than announced is what must never pass. */
        if (kib > mem) {
            LOG(ERROR, "migration request from %s: %s's config gives it %llu "
                "KiB, but %llu KiB were announced: refused", nc->node, dom,
                (unsigned long long)kib, (unsigned long long)mem);
            return LIBXLMIG_ERROR_REFUSED;
        }
    }
    free(nc->config);
    nc->config = strdup(config);
    if (!nc->config)
        libxlmig__alloc_failed(CTX, __func__, 1, strlen(config) + 1);
    return 0;
}

/*
 * Take a slot of the incoming table for migration id of dom (mem KiB
 * promised), unless the name is taken, the id known, the memory short
 * or the table full.  Call with in_lock held; *in_r the slot.
 */
static int begin_reserve_locked(libxlmig__gc *gc, node_conn *nc,
                                const char *id, const char *dom,
                                uint64_t mem, uint64_t free_kib,
                                incoming **in_r)
{
    node_service *svc = nc->svc;
    const libxlmig__host *h = svc->host;
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(svc->cl);
    uint64_t promised = in_promised_kib(svc);
    incoming *in = NULL;
    unsigned busy = 0;
    int i;

    if (h->ops->domain_exists(h->priv, dom) ||
        h->ops->domain_exists(h->priv, GCSPRINTF("%s%s", dom,
                                                 LIBXLMIG_SUFFIX_INCOMING))) {
        LOG(ERROR, "a domain called %s already exists on %s", dom,
            libxlmig__cluster_self_name(svc->cl));
        return LIBXLMIG_ERROR_EXISTS;
    }
    if (in_find(svc, id)) {
        LOG(ERROR, "migration %s is already known here", id);
        return LIBXLMIG_ERROR_EXISTS;
    }
    /* The target's limit: however the migrations were asked for. */
    for (i = 0; i < NODE_MAX_INCOMING; i++)
        if (svc->in_table[i].used &&
            !libxlmig__htgt_is_final(svc->in_table[i].state))
            busy++;
    if (busy >= c->max_incoming) {
        LOG(ERROR, "%s already receives %u migration(s), its limit "
            "(max_incoming = %u in %s): %s from %s waits its turn",
            libxlmig__cluster_self_name(svc->cl), busy, c->max_incoming,
            c->file, dom, nc->node);
        return LIBXLMIG_ERROR_BUSY;
    }
    if (free_kib < promised + mem) {
        LOG(ERROR, "%s needs %llu MiB; %s has %llu MiB free", dom,
            (unsigned long long)(mem / 1024),
            libxlmig__cluster_self_name(svc->cl),
            (unsigned long long)((free_kib > promised
                                  ? free_kib - promised : 0) / 1024));
        return LIBXLMIG_ERROR_REFUSED;
    }
    for (i = 0; i < NODE_MAX_INCOMING && !in; i++)
        if (!svc->in_table[i].used ||
            (libxlmig__htgt_is_final(svc->in_table[i].state) &&
             !svc->in_table[i].t))
            in = &svc->in_table[i];
    if (!in) {
        LOG(ERROR, "too many migrations in progress here");
        return LIBXLMIG_ERROR_BUSY;
    }
    memset(in, 0, sizeof(*in));
    in->used = true;
    snprintf(in->id, sizeof(in->id), "%s", id);
    snprintf(in->domain, sizeof(in->domain), "%s", dom);
    snprintf(in->source, sizeof(in->source), "%s", nc->node);
    in->memory_kib = mem;
    in->state = HTGT_RECEIVING;
    in->t = nc->t;
    in->t_start_us = libxlmig__now_us();
    in->start_ms = libxlmig__wall_ms();
    in->bytes_base = nc->t->bytes_received;
    snprintf(in->peer, sizeof(in->peer), "%s", nc->peer);
    *in_r = in;
    return 0;
}

/* Create the empty DOM--incoming from the config the request carries,
 * where the host can; a failure gives the slot up. */
static int begin_prepare(libxlmig__gc *gc, node_conn *nc, yajl_val args,
                         incoming *in)
{
    node_service *svc = nc->svc;
    const libxlmig__host *h = svc->host;
    const char *config = libxlmig__json_get_str(args, "config");
    int rc;

    if (!h->ops->prepare_incoming)
        return 0;
    rc = config ? h->ops->prepare_incoming(gc, h->priv,
                                           GCSPRINTF("%s%s", in->domain,
                                               LIBXLMIG_SUFFIX_INCOMING),
                                           config)
                : LIBXLMIG_ERROR_PROTOCOL;
    pthread_mutex_lock(&svc->in_lock);
    if (rc) {
        in->state = HTGT_ABORTED;
        in->t = NULL;
        nc->pending = NULL;
    } else {
        in->prepared = true;
    }
    pthread_mutex_unlock(&svc->in_lock);
    if (rc) {
        incoming_forget(gc, in->domain, in->id);
        if (!config)
            LOG(ERROR, "migration request from %s without the domain "
                "config", nc->node);
    }
    return rc;
}

/* migrate_begin {id, domain, source, memory_kib, pv, storage, config,
 * cpu_policy} -> {accepted}: the stream follows on this connection. */
static int h_migrate_begin(libxlmig__gc *gc, void *opaque, yajl_val args,
                           yajl_gen g)
{
    node_conn *nc = opaque;
    node_service *svc = nc->svc;
    const libxlmig__host *h = svc->host;
    const char *id = libxlmig__json_get_str(args, "id");
    const char *dom = libxlmig__json_get_str(args, "domain");
    libxlmig_host_info hi;
    incoming *in = NULL;
    uint64_t mem = 0;
    int rc;

    libxlmig_host_info_init(&hi);
    if (!libxlmig__id_ok(id) ||
        !libxlmig__name_ok(dom, LIBXLMIG__DOMAIN_NAME_MAX) ||
        libxlmig__json_get_u64(gc, args, "memory_kib", &mem)) {
        LOG(ERROR, "malformed migration request from %s", nc->node);
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    rc = begin_memory(gc, nc, args, dom, mem);
    if (!rc) rc = begin_checks(gc, nc, args, dom);
    if (rc) goto out;
    rc = h->ops->host_info(gc, h->priv, &hi);
    if (rc) goto out;
    supersede(gc, svc, dom, nc->node);
    pthread_mutex_lock(&svc->in_lock);
    rc = begin_reserve_locked(gc, nc, id, dom, mem, hi.free_memory_kib, &in);
    if (!rc)
        nc->pending = in;
    pthread_mutex_unlock(&svc->in_lock);
    if (rc) goto out;
    incoming_record(gc, dom, id, nc->node);
    rc = begin_prepare(gc, nc, args, in);
    if (rc) goto out;
    libxlmig__metrics_started("in");
    libxlmig__metrics_flush(gc, false);
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
    node_conn *nc = opaque;
    node_service *svc = nc->svc;
    const char *source = NULL;
    incoming *in, copy;

    if (!libxlmig__id_ok(id)) {
        LOG(ERROR, "resolve from %s without a valid migration id", nc->node);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    pthread_mutex_lock(&svc->in_lock);
    in = in_find(svc, id);
    if (in && strcmp(in->source, nc->node)) {
        /* Only the migration's own source decides its fate. */
        source = GCSTRDUP(in->source);
        in = NULL;
    }
    if (in) {
        act = libxlmig__htgt_step(&in->state, HTGT_EV_RESOLVE);
        copy = *in;
        if (act == HTGT_ACT_DESTROY)    /* stop its restore */
            libxlmig__transport_shutdown(in->t);
    }
    pthread_mutex_unlock(&svc->in_lock);
    if (source) {
        LOG(ERROR, "%s asked to resolve migration %s, which comes from %s: "
            "refused", nc->node, id, source);
        return LIBXLMIG_ERROR_REFUSED;
    }
    if (in) {
        if (act == HTGT_ACT_UNPAUSE_CONFIRM)
            commit(gc, svc, &copy);
        else if (act == HTGT_ACT_DESTROY)
            abort_incoming(gc, svc, &copy, false);
        decision = copy.state == HTGT_COMMITTED ? "committed" : "aborted";
    } else {
        /* Not in memory (the daemon restarted?): the record decides;
         * never heard of it means nothing of it runs here. */
        decision = decision_lookup(gc, id, &source);
        if (decision && *source && strcmp(source, nc->node)) {
            LOG(ERROR, "%s asked to resolve migration %s, which came from "
                "%s: refused", nc->node, id, source);
            return LIBXLMIG_ERROR_REFUSED;
        }
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
    node_conn *nc = opaque;

    return libxlmig__job_start(gc, nc->svc->cl, nc->node, args, g);
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

/* ---- status ---------------------------------------------------------- */

/* "incoming": the migrations coming in that are not decided yet. */
static void incoming_gen(libxlmig__gc *gc, node_service *svc, yajl_gen g)
{
    uint64_t now = libxlmig__now_us(), bytes;
    int i;

    libxlmig__yajl_gen_str(g, "incoming");
    yajl_gen_array_open(g);
    pthread_mutex_lock(&svc->in_lock);
    for (i = 0; i < NODE_MAX_INCOMING; i++) {
        const incoming *in = &svc->in_table[i];

        if (!in->used || libxlmig__htgt_is_final(in->state))
            continue;
        /* The stream's reader does not lock its counter. */
        bytes = in->t ? __atomic_load_n(&in->t->bytes_received,
                                        __ATOMIC_RELAXED) - in->bytes_base
                      : in->bytes;
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "domain", in->domain);
        libxlmig__yajl_gen_kv_str(g, "source", in->source);
        libxlmig__yajl_gen_kv_str(g, "id", in->id);
        libxlmig__yajl_gen_kv_str(g, "state",
                                  libxlmig__htgt_state_to_string(in->state));
        libxlmig__yajl_gen_kv_str(g, "peer", in->peer);
        libxlmig__yajl_gen_kv_uint(g, "memory_kib", in->memory_kib);
        libxlmig__yajl_gen_kv_uint(g, "elapsed_ms",
                                   (now - in->t_start_us) / 1000);
        libxlmig__yajl_gen_kv_uint(g, "bytes", bytes);
        yajl_gen_map_close(g);
    }
    pthread_mutex_unlock(&svc->in_lock);
    yajl_gen_array_close(g);
}

/* "drain": null, or the drain of this node that holds its lock, with the
 * domains of its progress file (written by the drain as it goes). */
static void drain_gen(libxlmig__gc *gc, yajl_gen g)
{
    const char *path_doms[] = { "domains", NULL };
    pid_t pid = libxlmig__state_file_lock_holder(NULL, "drain.lock");
    yajl_val v = NULL, doms;
    char *text;
    size_t i;

    libxlmig__yajl_gen_str(g, "drain");
    if (!pid) {
        yajl_gen_null(g);
        return;
    }
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_bool(g, "running", true);
    libxlmig__yajl_gen_kv_int(g, "pid", (long long)pid);
    if (!libxlmig__state_file_read(gc, NULL, "drain-progress.json",
                                   1 << 20, &text) &&
        !libxlmig__json_parse(gc, text, "drain progress", &v)) {
        doms = yajl_tree_get(v, path_doms, yajl_t_array);
        libxlmig__yajl_gen_str(g, "domains");
        yajl_gen_array_open(g);
        for (i = 0; doms && i < doms->u.array.len; i++) {
            yajl_val d = doms->u.array.values[i];

            yajl_gen_map_open(g);
            libxlmig__yajl_gen_kv_str(g, "name",
                                      libxlmig__json_get_str(d, "name"));
            libxlmig__yajl_gen_kv_str(g, "target",
                                      libxlmig__json_get_str(d, "target"));
            libxlmig__yajl_gen_kv_str(g, "outcome",
                                      libxlmig__json_get_str(d, "outcome"));
            yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
    }
    yajl_gen_map_close(g);
}

void libxlmig__node_service_set_outgoing(node_service *svc,
                                         libxlmig__status_gen_fn *fn,
                                         void *opaque)
{
    svc->outgoing_gen = fn;
    svc->outgoing_opaque = opaque;
}

int libxlmig__node_service_status_gen(libxlmig__gc *gc, node_service *svc,
                                      yajl_gen g)
{
    const libxlmig_cluster_config *c = svc->cl
                                       ? libxlmig_cluster_cfg(svc->cl) : NULL;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "node", svc->cl
                              ? libxlmig__cluster_self_name(svc->cl) : NULL);
    libxlmig__yajl_gen_kv_str(g, "xlmig", LIBXLMIG_VERSION);
    libxlmig__yajl_gen_kv_str(g, "backend", svc->host->ops->name);
    libxlmig__yajl_gen_kv_uint(g, "time_ms", (uint64_t)ts.tv_sec * 1000 +
                               (uint64_t)ts.tv_nsec / 1000000);
    libxlmig__yajl_gen_kv_bool(g, "maintenance", in_maintenance(gc));
    if (c) {
        libxlmig__yajl_gen_kv_uint(g, "max_outgoing", c->max_outgoing);
        libxlmig__yajl_gen_kv_uint(g, "max_incoming", c->max_incoming);
    }
    if (svc->outgoing_gen)
        svc->outgoing_gen(gc, svc->outgoing_opaque, g);
    incoming_gen(gc, svc, g);
    drain_gen(gc, g);
    libxlmig__yajl_gen_str(g, "jobs");
    libxlmig__jobs_gen(gc, g);
    yajl_gen_map_close(g);
    return 0;
}

/* status {} -> what runs here (a peer's `xlmig status`). */
static int h_status(libxlmig__gc *gc, void *opaque, yajl_val args,
                    yajl_gen g)
{
    return libxlmig__node_service_status_gen(gc, ((node_conn *)opaque)->svc,
                                             g);
}

/*
 * migrate_join {id, path} -> {}: this connection becomes path PATH of
 * the stream of migration ID, which its source began on another.  Only
 * the node that began it may join it, only while it is received.
 */
static int h_migrate_join(libxlmig__gc *gc, void *opaque, yajl_val args,
                          yajl_gen g)
{
    node_conn *nc = opaque;
    node_service *svc = nc->svc;
    const char *id = libxlmig__json_get_str(args, "id");
    uint64_t path = 0;
    bool found = false;
    int i;

    if (!id || libxlmig__json_get_u64(gc, args, "path", &path) || path < 1 ||
        path >= LIBXLMIG__MP_MAX_PATHS) {
        LOG(ERROR, "migrate_join from %s: needs an id and a path from 1 "
            "to %d", nc->node, LIBXLMIG__MP_MAX_PATHS - 1);
        return LIBXLMIG_ERROR_INVAL;
    }
    pthread_mutex_lock(&svc->in_lock);
    for (i = 0; i < NODE_MAX_INCOMING; i++) {
        incoming *in = &svc->in_table[i];

        if (in->used && in->t && !strcmp(in->id, id) &&
            !strcmp(in->source, nc->node) && in->state == HTGT_RECEIVING &&
            !in->paths_taken && !in->join_t[path])
            found = true;
    }
    pthread_mutex_unlock(&svc->in_lock);
    if (!found) {
        LOG(ERROR, "migrate_join from %s: no migration %s from it is being "
            "received here, or its path %llu is taken", nc->node, id,
            (unsigned long long)path);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    snprintf(nc->join_id, sizeof(nc->join_id), "%s", id);
    nc->join_index = (int)path;
    yajl_gen_map_open(g);
    yajl_gen_map_close(g);
    return 0;
}

/* The reply to migrate_join went out: give nc's transport to its
 * migration (it may have ended meanwhile: then keep it, to be closed). */
static void join_hand_over(node_conn *nc)
{
    node_service *svc = nc->svc;
    int i, k = nc->join_index;

    pthread_mutex_lock(&svc->in_lock);
    for (i = 0; i < NODE_MAX_INCOMING; i++) {
        incoming *in = &svc->in_table[i];

        if (in->used && in->t && !strcmp(in->id, nc->join_id) &&
            !strcmp(in->source, nc->node) && !in->paths_taken &&
            !in->join_t[k]) {
            in->join_t[k] = nc->t;
            snprintf(in->join_name[k], sizeof(in->join_name[k]), "%s",
                     nc->peer);
            nc->t = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&svc->in_lock);
}

static const libxlmig__rpc_op node_ops[] = {
    { "migrate_join", h_migrate_join },
    { "node_info", h_node_info },
    { "status", h_status },
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

/* An event of the handoff; running_us: with a confirm, how long the
 * domain has run here (the source's measure of the pause), or -1. */
static void send_event_running(libxlmig__gc *gc, libxlmig__chan *c,
                               const char *ev, const char *error,
                               int64_t running_us)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char *json = NULL;

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "event", ev);
    if (error)
        libxlmig__yajl_gen_kv_str(g, "error", error);
    if (running_us >= 0)
        libxlmig__yajl_gen_kv_uint(g, "running_us", (uint64_t)running_us);
    yajl_gen_map_close(g);
    if (libxlmig__json_finish(gc, g, &json))
        return;
    libxlmig__ptr_add(gc, json);
    (void)libxlmig__msg_send(gc, c, LIBXLMIG_MSG_EVENT, json,
                             (uint32_t)strlen(json));
}

static void send_event(libxlmig__gc *gc, libxlmig__chan *c, const char *ev,
                       const char *error)
{
    send_event_running(gc, c, ev, error, -1);
}

/* Step in's state under the lock; returns the action. */
static libxlmig__htgt_action step(node_service *svc, incoming *in,
                                  libxlmig__htgt_event ev, incoming *copy_r)
{
    libxlmig__htgt_action act;

    pthread_mutex_lock(&svc->in_lock);
    act = libxlmig__htgt_step(&in->state, ev);
    *copy_r = *in;
    pthread_mutex_unlock(&svc->in_lock);
    return act;
}

/* How long the stream's announcement waits for a path it names (ms). */
#define NODE_JOIN_WAIT_MS 5000

typedef struct {
    node_service *svc;
    incoming *in;
} join_wait_ctx;

/* libxlmig__mp_join_fn: the path that migrate_join handed over. */
static int join_wait(libxlmig__gc *gc, void *opaque, int index,
                     libxlmig__transport **t_r, char **name_r)
{
    join_wait_ctx *jw = opaque;
    uint64_t until = libxlmig__now_us() + NODE_JOIN_WAIT_MS * 1000ULL;

    for (;;) {
        pthread_mutex_lock(&jw->svc->in_lock);
        *t_r = jw->in->join_t[index];
        jw->in->join_t[index] = NULL;
        *name_r = GCSTRDUP(jw->in->join_name[index]);
        pthread_mutex_unlock(&jw->svc->in_lock);
        if (*t_r)
            return 0;
        if (libxlmig__now_us() >= until)
            break;
        usleep(10000);
    }
    LOG(ERROR, "migration %s: its source announced path %d, which never "
        "joined", jw->in->id, index);
    return LIBXLMIG_ERROR_PROTOCOL;
}

/* Paths joined and not taken over: closed. */
static void joins_drop(node_service *svc, incoming *in)
{
    libxlmig__transport *t[LIBXLMIG__MP_MAX_PATHS];
    int i;

    pthread_mutex_lock(&svc->in_lock);
    for (i = 0; i < LIBXLMIG__MP_MAX_PATHS; i++) {
        t[i] = in->join_t[i];
        in->join_t[i] = NULL;
    }
    pthread_mutex_unlock(&svc->in_lock);
    for (i = 0; i < LIBXLMIG__MP_MAX_PATHS; i++)
        libxlmig__transport_free(t[i]);
}

/*
 * The stream's announcement on this connection: it becomes the first of
 * the migration's paths (net/multipath.c), with the others that joined.
 * From here c, nc->t and in->t are the paths' transport.
 */
static int accept_paths(libxlmig__gc *gc, node_conn *nc, libxlmig__chan *c,
                        incoming *in)
{
    node_service *svc = nc->svc;
    join_wait_ctx jw = { svc, in };
    libxlmig__transport *mt = NULL;
    int rc;

    rc = libxlmig__mp_accept(gc, nc->t, nc->peer, join_wait, &jw, NULL,
                             &mt);
    pthread_mutex_lock(&svc->in_lock);
    in->t = mt;
    in->bytes_base = 0;
    in->paths_taken = true;
    pthread_mutex_unlock(&svc->in_lock);
    nc->t = mt;
    c->t = mt;
    joins_drop(svc, in);
    if (mt)
        mt->timeout_ms = LIBXLMIG_STREAM_TIMEOUT_MS;
    return rc;
}

/*
 * After the stream of an incoming migration failed: settle it.  Aborted
 * by this failure, or earlier by a resolve that stopped the stream (which
 * leaves the partial copy to the stream's thread, here): either way the
 * partial copy must not outlive it.
 */
static void incoming_failed(libxlmig__gc *gc, node_service *svc,
                            incoming *in)
{
    const libxlmig__host *h = svc->host;
    char *name = GCSPRINTF("%s%s", in->domain, LIBXLMIG_SUFFIX_INCOMING);
    incoming copy;

    if (step(svc, in, HTGT_EV_FAILURE, &copy) == HTGT_ACT_DESTROY) {
        abort_incoming(gc, svc, &copy, true);
        return;
    }
    if (copy.state == HTGT_ABORTED && h->ops->domain_exists(h->priv, name)) {
        h->ops->discard(gc, h->priv, name);
        LOG(INFO, "migration %s of %s from %s: its partial copy removed",
            copy.id, copy.domain, copy.source);
    }
}

static void run_incoming(libxlmig__gc *gc, node_conn *nc, libxlmig__chan *c)
{
    node_service *svc = nc->svc;
    const libxlmig__host *h = svc->host;
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
    c->t->timeout_ms = LIBXLMIG_STREAM_TIMEOUT_MS;
    rc = accept_paths(gc, nc, c, in);
    if (!rc)
        rc = h->ops->restore_paused(gc, h->priv, c->t, name, nc->config,
                                    &o, &st);
    pthread_mutex_lock(&svc->in_lock);
    in->bytes = c->t ? c->t->bytes_received - in->bytes_base : 0;
    pthread_mutex_unlock(&svc->in_lock);
    if (rc) {
        incoming_failed(gc, svc, in);
        if (c->t)
            send_event(gc, c, "failed", libxlmig_last_error(CTX));
        goto out;
    }
    act = step(svc, in, HTGT_EV_STREAM_COMPLETE, &copy);
    if (act != HTGT_ACT_SEND_READY) {
        /* A resolve aborted it while the stream arrived. */
        h->ops->discard(gc, h->priv, name);
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
        act = step(svc, in, HTGT_EV_FAILURE, &copy);
    } else if (!strcmp(ev, "go")) {
        libxlmig__fault("dst", "go", nc->fd);
        act = step(svc, in, HTGT_EV_GO, &copy);
    } else {
        act = step(svc, in, HTGT_EV_ABORT, &copy);
    }
    switch (act) {
    case HTGT_ACT_UNPAUSE_CONFIRM: {
        uint64_t t_running = commit(gc, svc, &copy);

        libxlmig__fault("dst", "confirm", nc->fd);
        send_event_running(gc, c, "confirm", NULL,
                           (int64_t)(libxlmig__now_us() - t_running));
        break;
    }
    case HTGT_ACT_DESTROY:
        abort_incoming(gc, svc, &copy, true);
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
    pthread_mutex_lock(&svc->in_lock);
    in->t = NULL;
    pthread_mutex_unlock(&svc->in_lock);
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

/* Count a connection from addr into its handshake; false when the caps
 * (in all, from one address) are reached. */
static bool preauth_enter(node_service *svc, const char *addr)
{
    int i, slot = -1;
    bool ok = false;

    pthread_mutex_lock(&svc->conn_lock);
    for (i = 0; i < NODE_MAX_PREAUTH; i++) {
        if (svc->preauth[i].n && !strcmp(svc->preauth[i].addr, addr)) {
            slot = i;
            break;
        }
        if (!svc->preauth[i].n && slot < 0)
            slot = i;
    }
    if (slot >= 0 && svc->preauth_total < NODE_MAX_PREAUTH &&
        svc->preauth[slot].n < NODE_MAX_PREAUTH_PER_SRC) {
        snprintf(svc->preauth[slot].addr, sizeof(svc->preauth[slot].addr),
                 "%s", addr);
        svc->preauth[slot].n++;
        svc->preauth_total++;
        ok = true;
    }
    pthread_mutex_unlock(&svc->conn_lock);
    return ok;
}

/* The handshake of nc ended (either way). */
static void preauth_leave(node_conn *nc)
{
    node_service *svc = nc->svc;
    int i;

    if (!nc->preauth)
        return;
    nc->preauth = false;
    pthread_mutex_lock(&svc->conn_lock);
    for (i = 0; i < NODE_MAX_PREAUTH; i++) {
        if (svc->preauth[i].n && !strcmp(svc->preauth[i].addr, nc->peer)) {
            svc->preauth[i].n--;
            svc->preauth_total--;
            break;
        }
    }
    pthread_mutex_unlock(&svc->conn_lock);
}

/*
 * Whether one more refused connection may be logged now (within the
 * window's burst); a new window first says how many were not.
 */
static bool refusal_log_due(node_service *svc)
{
    uint64_t now = libxlmig__now_us();
    unsigned quiet = 0;
    bool due;

    pthread_mutex_lock(&svc->conn_lock);
    if (now - svc->window_us >= NODE_LOG_EVERY_US) {
        quiet = svc->window_quiet;
        svc->window_us = now;
        svc->window_lines = svc->window_quiet = 0;
    }
    due = svc->window_lines < NODE_LOG_BURST;
    if (due)
        svc->window_lines++;
    else
        svc->window_quiet++;
    pthread_mutex_unlock(&svc->conn_lock);
    if (quiet)
        LIBXLMIG__LOG(svc->ctx, WARN, -1, -1, "%u more connections were "
                      "refused and not logged", quiet);
    return due;
}

/* Whether a line about a failing accept may be logged now. */
static bool log_due(node_service *svc)
{
    uint64_t now = libxlmig__now_us();
    bool due;

    pthread_mutex_lock(&svc->conn_lock);
    due = !svc->last_log_us || now - svc->last_log_us >= NODE_LOG_EVERY_US;
    if (due)
        svc->last_log_us = now;
    pthread_mutex_unlock(&svc->conn_lock);
    return due;
}

static void *conn_main(void *arg)
{
    node_conn *nc = arg;
    node_service *svc = nc->svc;
    libxlmig_ctx *ctx = NULL;
    libxlmig__transport *t = NULL;
    const libxlmig__key *key;
    libxlmig__chan c;
    char *peer_node = NULL;
    int rc;

    libxlmig__thread_altstack();
    libxlmig__chan_init(&c, NULL);
    if (libxlmig_ctx_alloc(&ctx, libxlmig_ctx_logger(svc->ctx))) {
        preauth_leave(nc);
        close(nc->fd);
        free(nc);
        __atomic_sub_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    {
        GC_INIT(ctx);

        rc = libxlmig__cluster_key(gc, svc->cl, &key);
        if (rc) goto done;
        libxlmig__tune_socket(nc->fd);
        rc = libxlmig__transport_fd_open(gc, nc->fd, nc->peer, &t);
        nc->fd = -1;
        if (rc) goto done;
        nc->fd = t->fd;
        nc->t = t;
        /* One deadline for the whole handshake, however slowly the peer
         * sends. */
        t->timeout_ms = NODE_AUTH_TIMEOUT_MS;
        t->deadline_us = libxlmig__now_us() + NODE_AUTH_TIMEOUT_MS * 1000ULL;
        libxlmig__chan_init(&c, t);
        libxlmig__fault("dst", "handshake", t->fd);
        rc = libxlmig__cluster_secure(gc, svc->cl, t, NULL);
        if (!rc)
            rc = libxlmig__handshake_server(gc, &c, key,
                                            libxlmig__cluster_self_name(
                                                svc->cl),
                                            &peer_node);
        preauth_leave(nc);
        t->deadline_us = 0;
        if (rc) {
            if (refusal_log_due(svc))
                LOG(WARN, "refused connection from %s: %s", nc->peer,
                    libxlmig_last_error(ctx));
            goto done;
        }
        if (!libxlmig__cluster_peer_ok(svc->cl, peer_node, nc->peer)) {
            LOG(WARN, "refused connection from %s: it proves the cluster "
                "key as node '%s', but that is not one of %s's addresses "
                "in the cluster config", nc->peer, peer_node, peer_node);
            goto done;
        }
        if (libxlmig__transport_tls_identity(t) &&
            strcmp(libxlmig__transport_tls_identity(t), peer_node)) {
            LOG(WARN, "refused connection from %s: TLS as node '%s' but "
                "the handshake as node '%s'", nc->peer,
                libxlmig__transport_tls_identity(t), peer_node);
            goto done;
        }
        snprintf(nc->node, sizeof(nc->node), "%s", peer_node);
        t->timeout_ms = libxlmig__tunable_handoff_timeout_ms();
        while (!svc->stop) {
            rc = libxlmig__rpc_serve_one(gc, &c, node_ops,
                                         ARRAY_SIZE(node_ops), nc);
            if (rc && nc->pending) {
                /* Accepted, but the acceptance never reached the source,
                 * or a resolve stopped it: nothing will stream; drop what
                 * was prepared. */
                incoming_failed(gc, svc, nc->pending);
                pthread_mutex_lock(&svc->in_lock);
                nc->pending->t = NULL;
                pthread_mutex_unlock(&svc->in_lock);
                break;
            }
            if (rc)
                break;
            if (nc->join_index) {
                join_hand_over(nc);
                break;
            }
            if (nc->pending) {
                run_incoming(gc, nc, &c);
                break;
            }
            if (nc->sink_bytes && run_sink(gc, nc, &c))
                break;
        }
     done:
        preauth_leave(nc);
        free(nc->config);
        libxlmig__chan_dispose(&c);
        /* nc->t: this connection's transport, the migration's paths
         * when it became a stream, NULL when it joined another's. */
        if (t)
            libxlmig__transport_free(nc->t);
        else if (nc->fd >= 0)
            close(nc->fd);
        GC_FREE;
    }
    free(nc);
    libxlmig_ctx_free(ctx);
    __atomic_sub_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *accept_main(void *arg)
{
    node_service *svc = arg;
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
    while (!svc->stop) {
        for (i = 0; i < svc->nfds; i++) {
            pfd[i].fd = svc->fds[i];
            pfd[i].events = POLLIN;
        }
        n = poll(pfd, (nfds_t)svc->nfds, 200);
        if (n <= 0)
            continue;
        for (i = 0; i < svc->nfds; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            sl = sizeof(ss);
            s = accept4(svc->fds[i], (struct sockaddr *)&ss, &sl,
                        SOCK_CLOEXEC);
            if (s < 0) {
                /* Out of fds or memory: say so, and give the connections
                 * being served time to end instead of spinning. */
                if (errno != EAGAIN && errno != EINTR &&
                    errno != ECONNABORTED) {
                    if (log_due(svc))
                        LIBXLMIG__LOG(svc->ctx, WARN, errno, -1, "cannot "
                                      "accept a peer's connection");
                    usleep(100000);
                }
                continue;
            }
            nc = calloc(1, sizeof(*nc));
            if (!nc) {
                close(s);
                continue;
            }
            nc->svc = svc;
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
            if (!preauth_enter(svc, host)) {
                if (refusal_log_due(svc))
                    LIBXLMIG__LOG(svc->ctx, WARN, -1, -1, "refused "
                                  "connection from %s: too many handshakes "
                                  "at once (%d from one address, %d in all)",
                                  host, NODE_MAX_PREAUTH_PER_SRC,
                                  NODE_MAX_PREAUTH);
                close(s);
                free(nc);
                continue;
            }
            nc->preauth = true;
            __atomic_add_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
            if (pthread_create(&t, &attr, conn_main, nc)) {
                __atomic_sub_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
                preauth_leave(nc);
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
static void settle_incoming(libxlmig__gc *gc, node_service *svc,
                            const char *name)
{
    const libxlmig__host *h = svc->host;
    char *dom = GCSTRDUP(name);
    const char *id, *decision, *source = "";

    dom[libxlmig__suffix_base(dom, LIBXLMIG_SUFFIX_INCOMING)] = '\0';
    id = incoming_lookup(gc, dom, &source);
    decision = id ? decision_lookup(gc, id, NULL) : NULL;
    if (decision && !strcmp(decision, "committed")) {
        incoming in;

        memset(&in, 0, sizeof(in));
        snprintf(in.id, sizeof(in.id), "%s", id);
        snprintf(in.domain, sizeof(in.domain), "%s", dom);
        snprintf(in.source, sizeof(in.source), "%s",
                 *source ? source : "its source");
        LOG(INFO, "migration %s of %s was committed before xlmigd ended: "
            "finishing it", id, dom);
        commit(gc, svc, &in);
        return;
    }
    /* Never decided: decide now, so a source that asks hears it. */
    if (id && !decision)
        decision_record(gc, id, false, source);
    LOG(INFO, "%s: its migration%s%s was not committed when xlmigd ended: "
        "destroying the partial copy", name, id ? " " : "", id ? id : "");
    h->ops->discard(gc, h->priv, name);
    if (id)
        incoming_forget(gc, dom, id);
}

typedef struct settle_job {
    node_service *svc;
    char name[80];
} settle_job;

/* Resolve a DOMAIN--migratedaway with its target, until it is settled. */
static void *recover_main(void *arg)
{
    settle_job *j = arg;
    node_service *svc = j->svc;
    libxlmig_ctx *ctx = NULL;
    int tries = 0, rc;

    libxlmig__thread_altstack();
    if (libxlmig_ctx_alloc(&ctx, libxlmig_ctx_logger(svc->ctx))) {
        free(j);
        __atomic_sub_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    while (!svc->stop) {
        GC_INIT(ctx);
        yajl_gen rep = yajl_gen_alloc(NULL);

        if (!libxlmig__handoff_pending(gc, j->name)) {
            GC_FREE;
            if (rep) yajl_gen_free(rep);
            break;   /* settled (xlmig recover, or gone) */
        }
        rc = rep ? (yajl_gen_map_open(rep),
                    libxlmig__migrate_recover(gc, svc->cl, svc->host,
                                              j->name, rep))
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
    __atomic_sub_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

void libxlmig__node_service_settle(libxlmig__gc *gc, node_service *svc)
{
    const libxlmig__host *h = svc->host;
    libxlmig_dominfo *list = NULL;
    pthread_attr_t attr;
    pthread_t t;
    int i, nr = 0;

    if (h->ops->list(gc, h->priv, &list, &nr))
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (i = 0; i < nr; i++) {
        const char *n = list[i].name;
        size_t bl = libxlmig__suffix_base(n, LIBXLMIG_SUFFIX_MIGRATEDAWAY);

        if (libxlmig__suffix_base(n, LIBXLMIG_SUFFIX_INCOMING)) {
            settle_incoming(gc, svc, n);
        } else if (bl) {
            char *base = GCSTRDUP(n);

            base[bl] = '\0';
            if (!libxlmig__handoff_pending(gc, n)) {
                /* Renamed, but go was never sent: take it back. */
                LOG(INFO, "%s: the previous xlmigd ended before its "
                    "handoff; resuming it as %s", n, base);
                if (!h->ops->rename(gc, h->priv, n, base))
                    h->ops->resume(gc, h->priv, base);
            } else if (svc->cl) {
                settle_job *j = calloc(1, sizeof(*j));

                if (!j) continue;
                j->svc = svc;
                snprintf(j->name, sizeof(j->name), "%s", n);
                __atomic_add_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
                if (pthread_create(&t, &attr, recover_main, j)) {
                    __atomic_sub_fetch(&svc->active, 1, __ATOMIC_SEQ_CST);
                    free(j);
                }
            } else {
                LOG(WARN, "%s waits for xlmig recover (no cluster "
                    "configured here)", n);
            }
        }
    }
    pthread_attr_destroy(&attr);
    libxlmig_dominfo_list_free(list, nr);
}

int libxlmig__node_service_alloc(libxlmig__gc *gc, libxlmig_cluster *cl,
                                 const libxlmig__host *host,
                                 node_service **svc_r)
{
    node_service *svc = calloc(1, sizeof(*svc));

    if (!svc)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*svc));
    svc->ctx = CTX;
    svc->cl = cl;
    svc->host = host;
    pthread_mutex_init(&svc->in_lock, NULL);
    pthread_mutex_init(&svc->conn_lock, NULL);
    *svc_r = svc;
    return 0;
}

int libxlmig__node_service_start(libxlmig__gc *gc, node_service *svc)
{
    const libxlmig__key *key;
    int rc;

    /* Refuse to start without a usable key: peers could not talk to us. */
    rc = libxlmig__cluster_key(gc, svc->cl, &key);
    if (rc) return rc;
    svc->stop = 0;
    rc = libxlmig__cluster_listen(gc, svc->cl, svc->fds, NODE_MAX_LISTEN,
                                  &svc->nfds);
    if (rc) return rc;
    if (pthread_create(&svc->thread, NULL, accept_main, svc)) {
        LOGE(ERROR, "cannot start the node service");
        return LIBXLMIG_ERROR_FAIL;
    }
    svc->running = true;
    LOG(INFO, "node %s serving peers on %d migration address(es), port %u",
        libxlmig__cluster_self_name(svc->cl), svc->nfds,
        libxlmig_cluster_cfg(svc->cl)->port);
    return 0;
}

bool libxlmig__node_service_free(node_service *svc)
{
    int i;

    if (!svc)
        return true;
    svc->stop = 1;
    if (svc->running)
        pthread_join(svc->thread, NULL);
    for (i = 0; i < svc->nfds; i++)
        close(svc->fds[i]);
    svc->nfds = 0;
    svc->running = false;
    if (__atomic_load_n(&svc->active, __ATOMIC_SEQ_CST))
        return false;     /* its threads still use it: the process ends */
    pthread_mutex_destroy(&svc->in_lock);
    pthread_mutex_destroy(&svc->conn_lock);
    free(svc);
    return true;
}
