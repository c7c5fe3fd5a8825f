/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The drain executor (docs/drain.md): put this node in maintenance and
 * move every domain away.  Facts come from every node's xlmigd (free
 * memory counting migrations in flight, maintenance, CPU policy),
 * estimates from a dirty-log sample of each domain and a bandwidth
 * probe, the plan from libxlmig_drain_plan_make (drain.c); worker threads
 * then run the migrations through this node's xlmigd, at most
 * max_outgoing at once and max_incoming into any target, retrying those
 * that failed but left the domain running here.  A lock in the state
 * directory keeps two drains of a node apart; a progress file there lets
 * a later run continue an interrupted one.  Everything the caller shows
 * comes as events; with cron, syslog lines too.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "cluster/cluster.h"
#include "cluster/migrate.h"
#include "policy.h"

#define DRAIN_SAMPLE_MS  1000      /* dirty-log sample per domain (ms) */
#define DRAIN_PROBE_MIB  32        /* bandwidth probe per target (MiB) */
#define DRAIN_RETRIES    2         /* more attempts after a failure that
                                      left the domain running here */
#define DRAIN_RETRY_WAIT_S 5       /* pause before retrying (s): the target
                                      may still be removing the partial
                                      copy of the failed attempt */
#define DRAIN_REASON_MAX 256

#define DRAIN_PROGRESS "drain-progress.json"  /* in the state directory */
#define DRAIN_LOCK     "drain.lock"           /* in the state directory */
#define DRAIN_REPORT   "drain-report.json"    /* cron's default report */

/* A node as its node_info reply describes it. */
typedef struct drain_node {
    const char *name;             /* the config's */
    bool reachable;               /* answered and authenticated */
    char error[LIBXLMIG_DRAIN_MESSAGE_MAX]; /* why not */
    uint64_t total_kib, free_kib; /* KiB; free counts migrations in
                                     flight */
    bool maintenance;
    bool cpu_ok;                  /* cpu is valid */
    struct policy_cpuid cpu;
} drain_node;

/* A domain to move, or one an interrupted run moved. */
typedef struct drain_dom {
    char name[LIBXLMIG_DRAIN_NAME_MAX];
    uint64_t memory_kib;
    libxlmig_dirty_sample sample;
    bool sampled;
    libxlmig_estimate est;
    bool *compat;                 /* [target]: may it run there? */
    const char **compat_reason;   /* [target]: why not */
    char (*reasons)[DRAIN_REASON_MAX];
    /* the outcome, written under the drain's lock once workers run */
    int target;                   /* index into the targets, or -1 */
    const char *outcome;          /* "migrated", "failed", "unplaced", ...;
                                     NULL: pending */
    char error[LIBXLMIG_DRAIN_MESSAGE_MAX];
    libxlmig_stats st;
    bool have_stats;
    uint64_t start_ms, end_ms;    /* since the drain started (ms) */
    bool earlier;                 /* moved by an earlier, interrupted run */
    unsigned attempts;            /* migrations tried */
    char earlier_target[LIBXLMIG_DRAIN_NAME_MAX];
} drain_dom;

struct libxlmig_drain {
    /* Set by alloc, then fixed. */
    libxlmig_ctx *ctx;
    libxlmig_cluster *cl;
    libxlmig_drain_opts opts;     /* report_file points into gc */
    const char *self;             /* this node's name */
    unsigned per_source, per_target;
    libxlmig__gc gc;              /* the drain's memory; calling thread */

    /* Facts and plan: written before the workers start, then read. */
    drain_node *nodes;            /* every node, config order */
    int nr_nodes;
    int *tmap;                    /* target index -> node index */
    int nr_targets;
    drain_dom *doms;
    int nr_doms;
    libxlmig_drain_plan plan;
    double bandwidth;             /* raw, bytes/s (slowest target) */
    uint64_t t0_us;
    int lockfd;
    bool ran;

    /* Shared with the workers and libxlmig_drain_cancel, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool cancelled;
    bool *started;                /* per plan step */
    int *running_into;            /* per target */

    pthread_mutex_t ev_lock;      /* one event at a time */
};

void libxlmig_drain_opts_init(libxlmig_drain_opts *o)
{
    memset(o, 0, sizeof(*o));
    libxlmig_params_init(&o->params);
}

static uint64_t since_start_ms(const libxlmig_drain *d)
{
    return (libxlmig__now_us() - d->t0_us) / 1000;
}

static bool is_cancelled(libxlmig_drain *d)
{
    bool c;

    pthread_mutex_lock(&d->lock);
    c = d->cancelled;
    pthread_mutex_unlock(&d->lock);
    return c;
}

static const char *target_name(const libxlmig_drain *d, const drain_dom *m)
{
    if (m->earlier)
        return m->earlier_target;
    return m->target >= 0 ? d->nodes[d->tmap[m->target]].name : NULL;
}

/* ---- events ----------------------------------------------------------- */

static void ev_init(libxlmig_drain_event *ev, libxlmig_drain_event_kind k,
                    const char *domain, const char *target)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = k;
    snprintf(ev->domain, sizeof(ev->domain), "%s", domain ? domain : "");
    snprintf(ev->target, sizeof(ev->target), "%s", target ? target : "");
}

/* The syslog line of ev, with cron, for what a cron drain answers for. */
static void ev_syslog(const libxlmig_drain *d, const libxlmig_drain_event *ev)
{
    const int fac = LOG_DAEMON;

    if (!d->opts.cron || d->opts.dry_run)
        return;
    switch (ev->kind) {
    case LIBXLMIG_DRAIN_EV_MIGRATED:
        syslog(fac | LOG_INFO, "drain %s: %s migrated to %s in %llu ms "
               "(predicted %llu ms)", ev->node, ev->domain, ev->target,
               (unsigned long long)ev->stats.total_time_ms,
               (unsigned long long)ev->estimate.total_ms);
        break;
    case LIBXLMIG_DRAIN_EV_FAILED:
        syslog(fac | LOG_ERR, "drain %s: %s to %s failed: %s", ev->node,
               ev->domain, ev->target, ev->message);
        break;
    case LIBXLMIG_DRAIN_EV_UNPLACED:
        syslog(fac | LOG_ERR, "drain %s: %s cannot move: %s", ev->node,
               ev->domain, ev->message);
        break;
    case LIBXLMIG_DRAIN_EV_DONE:
        syslog(fac | (ev->result ? LOG_ERR : LOG_INFO), "drain %s: %s (%d "
               "moved, %d left)", ev->node, ev->message, ev->moved,
               ev->left);
        break;
    default:
        break;
    }
}

/* Hand ev to the caller (never with d->lock held: cb may cancel). */
static void emit(libxlmig_drain *d, libxlmig_drain_event *ev)
{
    snprintf(ev->node, sizeof(ev->node), "%s", d->self);
    pthread_mutex_lock(&d->ev_lock);
    if (d->opts.event_cb)
        d->opts.event_cb(d->opts.user, ev);
    ev_syslog(d, ev);
    pthread_mutex_unlock(&d->ev_lock);
}

static void emit_error(libxlmig_drain *d, const char *msg)
{
    libxlmig_drain_event ev;

    ev_init(&ev, LIBXLMIG_DRAIN_EV_ERROR, NULL, NULL);
    snprintf(ev.message, sizeof(ev.message), "%s", msg);
    emit(d, &ev);
}

/* ---- the report -------------------------------------------------------- */

/* A number with a fixed count of decimals, as the report has always had. */
static void gen_fixed(yajl_gen g, const char *key, double v, int decimals)
{
    char num[64];

    snprintf(num, sizeof(num), "%.*f", decimals, v);
    libxlmig__yajl_gen_str(g, key);
    yajl_gen_number(g, num, strlen(num));
}

static double prediction_error_pct(const drain_dom *m)
{
    if (!m->have_stats || !m->st.total_time_ms || !m->sampled)
        return 0;
    return ((double)m->est.total_ms - (double)m->st.total_time_ms) * 100.0 /
           (double)m->st.total_time_ms;
}

static void report_gen_domain(yajl_gen g, const libxlmig_drain *d,
                              const drain_dom *m)
{
    const char *t = target_name(d, m);

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "name", m->name);
    libxlmig__yajl_gen_kv_uint(g, "memory_kib", m->memory_kib);
    libxlmig__yajl_gen_kv_uint(g, "attempts", m->attempts);
    libxlmig__yajl_gen_kv_str(g, "target", t);
    libxlmig__yajl_gen_kv_str(g, "outcome",
                              m->outcome ? m->outcome : "pending");
    if (m->error[0])
        libxlmig__yajl_gen_kv_str(g, "error", m->error);
    if (m->start_ms || m->end_ms) {
        libxlmig__yajl_gen_kv_uint(g, "start_ms", m->start_ms);
        libxlmig__yajl_gen_kv_uint(g, "end_ms", m->end_ms);
    }
    if (m->sampled) {
        libxlmig__yajl_gen_str(g, "prediction");
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_uint(g, "total_ms", m->est.total_ms);
        libxlmig__yajl_gen_kv_uint(g, "downtime_ms", m->est.downtime_ms);
        libxlmig__yajl_gen_kv_uint(g, "rounds", m->est.rounds);
        libxlmig__yajl_gen_kv_uint(g, "bytes", m->est.bytes);
        gen_fixed(g, "dirty_rate", m->est.dirty_rate, 0);
        gen_fixed(g, "bandwidth", m->est.bandwidth, 0);
        yajl_gen_map_close(g);
    }
    if (m->have_stats) {
        libxlmig__yajl_gen_str(g, "stats");
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_uint(g, "total_time_ms", m->st.total_time_ms);
        libxlmig__yajl_gen_kv_uint(g, "downtime_us", m->st.downtime_us);
        libxlmig__yajl_gen_kv_uint(g, "rounds", m->st.round);
        libxlmig__yajl_gen_kv_uint(g, "total_bytes", m->st.total_bytes);
        yajl_gen_map_close(g);
        if (m->sampled)
            gen_fixed(g, "prediction_error_pct", prediction_error_pct(m), 1);
    }
    yajl_gen_map_close(g);
}

/*
 * The JSON report, one line (d->lock held while workers run).  Arena
 * memory of gc.
 */
static char *report_text(libxlmig__gc *gc, const libxlmig_drain *d,
                         const char *result, bool complete)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    uint64_t bytes = 0;
    char *json = NULL;
    int i;

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "node", d->self);
    libxlmig__yajl_gen_kv_str(g, "result", result);
    libxlmig__yajl_gen_kv_bool(g, "complete", complete);
    libxlmig__yajl_gen_kv_int(g, "time", (long long)time(NULL));
    libxlmig__yajl_gen_kv_uint(g, "duration_ms", since_start_ms(d));
    libxlmig__yajl_gen_kv_uint(g, "max_outgoing", d->per_source);
    libxlmig__yajl_gen_kv_uint(g, "max_incoming", d->per_target);
    gen_fixed(g, "raw_bandwidth", d->bandwidth, 0);
    libxlmig__yajl_gen_kv_uint(g, "planned_ms", d->plan.makespan_ms);
    libxlmig__yajl_gen_str(g, "domains");
    yajl_gen_array_open(g);
    for (i = 0; i < d->nr_doms; i++) {
        report_gen_domain(g, d, &d->doms[i]);
        if (d->doms[i].have_stats)
            bytes += d->doms[i].st.total_bytes;
    }
    yajl_gen_array_close(g);
    libxlmig__yajl_gen_kv_uint(g, "total_bytes", bytes);
    yajl_gen_map_close(g);
    if (libxlmig__json_finish(gc, g, &json))
        return NULL;
    libxlmig__ptr_add(gc, json);
    return GCSPRINTF("%s\n", json);
}

/* Replace path with text; *why_r (arena) says what failed, else NULL. */
static void report_save(libxlmig__gc *gc, const char *path, const char *text,
                        const char **why_r)
{
    char *tmp = GCSPRINTF("%s.tmp", path);
    FILE *f;

    *why_r = NULL;
    f = fopen(tmp, "w");
    if (!f) {
        LOGE(ERROR, "cannot write %s", tmp);
        *why_r = GCSPRINTF("cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    if (fputs(text, f) < 0 || fclose(f) || rename(tmp, path)) {
        LOGE(ERROR, "cannot write %s", path);
        *why_r = GCSPRINTF("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

/* The progress file (d->lock held while workers run); *why_r as above. */
static void progress_save(libxlmig__gc *gc, const libxlmig_drain *d,
                          const char *result, bool complete,
                          const char **why_r)
{
    const char *text = report_text(gc, d, result, complete);
    char *path = GCSPRINTF("%s/%s", libxlmig_state_dir(), DRAIN_PROGRESS);

    *why_r = NULL;
    if (!text) {
        *why_r = GCSPRINTF("cannot encode %s", path);
        return;
    }
    if (libxlmig__state_file_write(gc, NULL, DRAIN_PROGRESS, text)) {
        LOGE(ERROR, "cannot write %s", path);
        *why_r = GCSPRINTF("cannot write %s: %s", path, strerror(errno));
    }
}

/* ---- before the plan: lock, maintenance, leftovers, progress ---------- */

static drain_dom *dom_add(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    drain_dom *m;

    d->doms = libxlmig__realloc(gc, d->doms,
                                sizeof(*d->doms) * (size_t)(d->nr_doms + 1));
    m = &d->doms[d->nr_doms++];
    memset(m, 0, sizeof(*m));
    m->target = -1;
    return m;
}

/* Settle copies an interrupted handoff left paused here. */
static void settle_leftovers(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    libxlmig_drain_event ev;
    libxlmig_dominfo *list = NULL;
    char *report = NULL, *base;
    int i, nr = 0;
    size_t n;

    if (libxlmig_domain_list(CTX, &list, &nr))
        return;
    for (i = 0; i < nr; i++) {
        n = libxlmig__suffix_base(list[i].name, LIBXLMIG_SUFFIX_MIGRATEDAWAY);
        if (!n)
            continue;
        base = libxlmig__strndup(gc, list[i].name, n);
        ev_init(&ev, LIBXLMIG_DRAIN_EV_SETTLING, base, NULL);
        emit(d, &ev);
        if (libxlmig_migrate_recover(CTX, base, &report))
            emit_error(d, GCSPRINTF("cannot settle %s: %s", base,
                                    libxlmig_last_error(CTX)));
        free(report);
        report = NULL;
    }
    libxlmig_dominfo_list_free(list, nr);
}

/* The progress file of an interrupted drain: who moved where. */
static void load_progress(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    const char *path_domains[] = { "domains", NULL };
    char *path = GCSPRINTF("%s/%s", libxlmig_state_dir(), DRAIN_PROGRESS);
    libxlmig_drain_event ev;
    char *text = NULL;
    size_t len = 0, i;
    yajl_val v, doms;
    drain_dom *m;
    FILE *f;

    f = fopen(path, "r");
    if (!f)
        return;
    if (getdelim(&text, &len, '\0', f) < 0) {
        fclose(f);
        free(text);
        return;
    }
    fclose(f);
    libxlmig__ptr_add(gc, text);
    if (libxlmig__json_parse(gc, text, path, &v)) {
        CTX->last_error[0] = '\0';      /* a broken file: start afresh */
        return;
    }
    doms = yajl_tree_get(v, path_domains, yajl_t_array);
    for (i = 0; doms && i < doms->u.array.len; i++) {
        yajl_val e = doms->u.array.values[i];
        const char *oc = libxlmig__json_get_str(e, "outcome");
        const char *t = libxlmig__json_get_str(e, "target");
        const char *name = libxlmig__json_get_str(e, "name");
        uint64_t mem = 0;

        if (!oc || !t || !name ||
            libxlmig__json_get_u64_opt(gc, e, "memory_kib", &mem) ||
            (strcmp(oc, "migrated") && strcmp(oc, "migrated earlier")))
            continue;
        m = dom_add(d);
        snprintf(m->name, sizeof(m->name), "%s", name);
        m->memory_kib = mem;
        m->earlier = true;
        snprintf(m->earlier_target, sizeof(m->earlier_target), "%s", t);
        m->outcome = "migrated earlier";
    }
    if (d->nr_doms) {
        ev_init(&ev, LIBXLMIG_DRAIN_EV_CONTINUING, NULL, NULL);
        ev.count = d->nr_doms;
        emit(d, &ev);
    }
}

/* Lock, maintenance, leftovers, progress: a real drain's first steps. */
static int begin(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    char *lock = GCSPRINTF("%s/%s", libxlmig_state_dir(), DRAIN_LOCK);
    libxlmig_drain_event ev;

    mkdir(libxlmig_state_dir(), 0755);
    d->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->lockfd < 0 || flock(d->lockfd, LOCK_EX | LOCK_NB)) {
        LOG(ERROR, "another drain of %s is running (lock %s held)",
            d->self, lock);
        return LIBXLMIG_ERROR_BUSY;
    }
    if (libxlmig_maintenance_set(CTX, d->cl, NULL, true)) {
        LOG(ERROR, "cannot enter maintenance mode: %s",
            libxlmig_last_error(CTX));
        return LIBXLMIG_ERROR_IO;
    }
    ev_init(&ev, LIBXLMIG_DRAIN_EV_MAINTENANCE, NULL, NULL);
    emit(d, &ev);
    settle_leftovers(d);
    load_progress(d);
    return 0;
}

/* ---- gathering facts --------------------------------------------------- */

/* node_info of n's xlmigd into n; n->error says why not. */
static void node_facts(libxlmig_drain *d, drain_node *n)
{
    libxlmig__gc *gc = &d->gc;
    const char *path_cpu[] = { "cpu_policy", NULL };
    char err[256], *json = NULL;
    yajl_val v, cpu;

    if (libxlmig_node_query(CTX, d->cl, n->name, -1, &json, NULL)) {
        snprintf(n->error, sizeof(n->error), "%s", libxlmig_last_error(CTX));
        return;
    }
    libxlmig__ptr_add(gc, json);
    if (libxlmig__json_parse(gc, json, GCSPRINTF("node_info of %s",
                                                 n->name), &v)) {
        snprintf(n->error, sizeof(n->error), "%s", libxlmig_last_error(CTX));
        return;
    }
    n->reachable = true;
    libxlmig__json_get_u64(gc, v, "total_memory_kib", &n->total_kib);
    libxlmig__json_get_u64(gc, v, "free_memory_kib", &n->free_kib);
    libxlmig__json_get_bool_opt(gc, v, "maintenance", &n->maintenance);
    cpu = yajl_tree_get(v, path_cpu, yajl_t_object);
    n->cpu_ok = cpu && policy_parse_json(cpu, "CPU policy", &n->cpu, err,
                                         sizeof(err));
}

/* Every node's facts; the others are the targets. */
static drain_node *gather_nodes(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(d->cl);
    drain_node *self = NULL;
    libxlmig_drain_event ev;
    int i;

    d->nr_nodes = c->num_nodes;
    GCNEW_ARRAY(d->nodes, d->nr_nodes + 1);
    GCNEW_ARRAY(d->tmap, d->nr_nodes + 1);
    for (i = 0; i < d->nr_nodes; i++) {
        drain_node *n = &d->nodes[i];

        n->name = c->nodes[i].name;
        node_facts(d, n);
        if (i == libxlmig_cluster_self(d->cl)) {
            self = n;
            continue;
        }
        d->tmap[d->nr_targets++] = i;
        if (!n->reachable) {
            ev_init(&ev, LIBXLMIG_DRAIN_EV_UNREACHABLE, NULL, n->name);
            snprintf(ev.message, sizeof(ev.message), "%s", n->error);
            emit(d, &ev);
        }
    }
    /* Sim domains run with their node's CPU: ask the backend. */
    if (self && !self->reachable &&
        libxlmig_host_cpu_policy(CTX, &self->cpu) == 0)
        self->cpu_ok = true;
    return self;
}

static bool movable(const libxlmig_dominfo *di)
{
    /* Domain 0 is the host's own (Xen's control domain): it never
     * moves; sim domains are numbered from 1. */
    return di->name && di->domid != 0 && !libxlmig_handoff_copy(di->name);
}

/* This node's domains; one moved earlier but here again moves again. */
static int gather_domains(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    libxlmig_dominfo *list = NULL;
    int i, j, nr = 0, first = d->nr_doms, rc;
    drain_dom *m;

    rc = libxlmig_domain_list(CTX, &list, &nr);
    if (rc) {
        LOG(ERROR, "cannot list the domains here: %s",
            libxlmig_last_error(CTX));
        return LIBXLMIG_ERROR_BACKEND;
    }
    for (i = 0; i < nr; i++) {
        if (!movable(&list[i]))
            continue;
        for (j = 0; j < first; j++)
            if (!strcmp(d->doms[j].name, list[i].name))
                break;
        if (j < first) {
            m = &d->doms[j];
            m->earlier = false;
            m->outcome = NULL;
        } else {
            m = dom_add(d);
            snprintf(m->name, sizeof(m->name), "%s", list[i].name);
        }
        m->memory_kib = list[i].memory_kib;
        m->target = -1;
    }
    libxlmig_dominfo_list_free(list, nr);
    return 0;
}

/* Bandwidth: the slowest target bounds the estimate. */
static void measure_bandwidth(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    double bw;
    int k;

    d->bandwidth = 0;
    for (k = 0; k < d->nr_targets; k++) {
        const drain_node *t = &d->nodes[d->tmap[k]];

        if (!t->reachable || t->maintenance)
            continue;
        if (!libxlmig_bandwidth_probe(CTX, d->cl, t->name,
                                      (uint64_t)DRAIN_PROBE_MIB << 20, &bw,
                                      NULL) &&
            (!d->bandwidth || bw < d->bandwidth))
            d->bandwidth = bw;
    }
}

typedef struct sample_arg {
    libxlmig_drain *d;
    drain_dom *m;
} sample_arg;

static void *sample_main(void *arg)
{
    sample_arg *a = arg;
    libxlmig_ctx *ctx = NULL;

    if (libxlmig_ctx_alloc(&ctx, libxlmig_ctx_logger(a->d->ctx)))
        return NULL;
    a->m->sampled =
        !libxlmig_backend_open(ctx, libxlmig_backend_current(a->d->ctx)) &&
        !libxlmig_dirty_sample_take(ctx, a->m->name, DRAIN_SAMPLE_MS,
                                    &a->m->sample);
    libxlmig_ctx_free(ctx);
    return NULL;
}

/* A dirty-log sample of every domain to move, all at once. */
static void sample_domains(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    sample_arg *a;
    pthread_t *th;
    bool *up;
    int i;

    GCNEW_ARRAY(a, d->nr_doms + 1);
    GCNEW_ARRAY(th, d->nr_doms + 1);
    GCNEW_ARRAY(up, d->nr_doms + 1);
    for (i = 0; i < d->nr_doms; i++) {
        if (d->doms[i].earlier)
            continue;
        a[i].d = d;
        a[i].m = &d->doms[i];
        up[i] = !pthread_create(&th[i], NULL, sample_main, &a[i]);
    }
    for (i = 0; i < d->nr_doms; i++)
        if (up[i])
            pthread_join(th[i], NULL);
}

/* May a domain running with from's CPU run on to?  why: the verdict. */
static bool cpu_compatible(const drain_node *from, const drain_node *to,
                           char *why, size_t len)
{
    return libxlmig_cpu_verdict(from->cpu_ok ? &from->cpu : NULL,
                                to->cpu_ok ? &to->cpu : NULL, why, len);
}

/* Each domain's estimate at its share of the bandwidth, and its targets. */
static void estimate_domains(libxlmig_drain *d, const drain_node *self)
{
    libxlmig__gc *gc = &d->gc;
    unsigned conc = d->per_source;
    char why[DRAIN_REASON_MAX];
    double per;
    int i, k, nr = 0;

    /* Concurrent migrations share the source's link. */
    for (i = 0; i < d->nr_doms; i++)
        nr += !d->doms[i].earlier;
    if ((unsigned)nr < conc)
        conc = nr ? (unsigned)nr : 1;
    per = d->bandwidth / conc;
    for (i = 0; i < d->nr_doms; i++) {
        drain_dom *m = &d->doms[i];

        if (m->earlier)
            continue;
        if (!m->sampled || !per ||
            libxlmig_estimate_compute(CTX, &d->opts.params, &m->sample, per,
                                      &m->est)) {
            m->sampled = false;
            /* Without a sample: the full copy alone. */
            m->est.total_ms = per ? (uint64_t)(m->memory_kib * 1024.0 / per *
                                               1000) : 1000;
        }
        GCNEW_ARRAY(m->compat, d->nr_targets + 1);
        GCNEW_ARRAY(m->compat_reason, d->nr_targets + 1);
        GCNEW_ARRAY(m->reasons, d->nr_targets + 1);
        for (k = 0; k < d->nr_targets; k++) {
            const drain_node *t = &d->nodes[d->tmap[k]];

            m->compat[k] = !t->reachable ||
                           (self && cpu_compatible(self, t, why,
                                                   sizeof(why)));
            if (!m->compat[k]) {
                snprintf(m->reasons[k], sizeof(m->reasons[k]), "%s",
                         self ? why : "this node's CPU is unknown");
                m->compat_reason[k] = m->reasons[k];
            }
        }
    }
}

/* ---- the plan ---------------------------------------------------------- */

static int make_plan(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    libxlmig_drain_target *t;
    libxlmig_drain_domain *dd;
    int *idx, i, n = 0, rc;

    GCNEW_ARRAY(t, d->nr_targets + 1);
    GCNEW_ARRAY(dd, d->nr_doms + 1);
    GCNEW_ARRAY(idx, d->nr_doms + 1);
    for (i = 0; i < d->nr_targets; i++) {
        const drain_node *nd = &d->nodes[d->tmap[i]];

        t[i].name = nd->name;
        t[i].total_memory_kib = nd->total_kib;
        t[i].free_memory_kib = nd->free_kib;
        t[i].in_maintenance = nd->maintenance;
        t[i].reachable = nd->reachable;
    }
    for (i = 0; i < d->nr_doms; i++) {
        if (d->doms[i].earlier)
            continue;
        idx[n] = i;
        dd[n].name = d->doms[i].name;
        dd[n].memory_kib = d->doms[i].memory_kib;
        dd[n].estimate_ms = d->doms[i].est.total_ms;
        dd[n].compat = d->doms[i].compat;
        dd[n].compat_reason = d->doms[i].compat_reason;
        n++;
    }
    rc = libxlmig_drain_plan_make(CTX, t, d->nr_targets, dd, n,
                                  d->per_source, d->per_target, &d->plan);
    if (rc) {
        LOG(ERROR, "cannot plan the drain: %s", libxlmig_last_error(CTX));
        return rc;
    }
    /* Steps name domains by their index in dd: map them back. */
    for (i = 0; i < d->plan.nr_steps; i++) {
        libxlmig_drain_step *s = &d->plan.steps[i];
        drain_dom *m;

        s->domain = idx[s->domain];
        m = &d->doms[s->domain];
        m->target = s->target;
        if (s->target < 0) {
            m->outcome = "unplaced";
            snprintf(m->error, sizeof(m->error), "no target: %s", s->reason);
        }
    }
    return 0;
}

static void emit_plan(libxlmig_drain *d)
{
    libxlmig_drain_event ev;
    int i;

    ev_init(&ev, LIBXLMIG_DRAIN_EV_PLAN, NULL, NULL);
    ev.count = d->plan.nr_steps;
    ev.per_source = d->per_source;
    ev.per_target = d->per_target;
    ev.bandwidth = d->bandwidth;
    ev.planned_ms = d->plan.makespan_ms;
    emit(d, &ev);
    for (i = 0; i < d->plan.nr_steps; i++) {
        const libxlmig_drain_step *s = &d->plan.steps[i];
        const drain_dom *m = &d->doms[s->domain];

        ev_init(&ev, LIBXLMIG_DRAIN_EV_PLAN_STEP, m->name,
                s->target < 0 ? NULL : d->nodes[d->tmap[s->target]].name);
        ev.memory_kib = m->memory_kib;
        if (s->target < 0) {
            snprintf(ev.message, sizeof(ev.message), "%s", s->reason);
        } else {
            ev.start_ms = s->start_ms;
            ev.have_estimate = true;
            ev.estimate = m->est;
        }
        emit(d, &ev);
    }
    ev_init(&ev, LIBXLMIG_DRAIN_EV_PLAN_END, NULL, NULL);
    ev.planned_ms = d->plan.makespan_ms;
    emit(d, &ev);
}

/* ---- running the plan -------------------------------------------------- */

/*
 * The next step whose target has a free slot, or -1; -2 when all began
 * (d->lock held).
 */
static int take_step(libxlmig_drain *d)
{
    int i, pending = 0;

    for (i = 0; i < d->plan.nr_steps; i++) {
        const libxlmig_drain_step *s = &d->plan.steps[i];

        if (d->started[i] || s->target < 0)
            continue;
        pending++;
        if ((unsigned)d->running_into[s->target] < d->per_target) {
            d->started[i] = true;
            d->running_into[s->target]++;
            return i;
        }
    }
    return pending ? -1 : -2;
}

/*
 * A transient failure (the stream broke, the target was busy) leaves the
 * domain running here: try again.  A first refusal, an incompatibility
 * or an ambiguous handoff is final; a refusal after a failed attempt may
 * be the target still removing that attempt's partial copy.
 */
static bool retry_worth(int rc, unsigned attempts)
{
    return rc && attempts <= DRAIN_RETRIES &&
           rc != LIBXLMIG_ERROR_AMBIGUOUS &&
           rc != LIBXLMIG_ERROR_INCOMPATIBLE &&
           rc != LIBXLMIG_ERROR_CANCELLED &&
           rc != LIBXLMIG_ERROR_NOTFOUND &&
           !(rc == LIBXLMIG_ERROR_REFUSED && attempts == 1);
}

/* Wait before a retry; false if the drain was cancelled meanwhile. */
static bool retry_wait(libxlmig_drain *d)
{
    struct timespec until;
    bool go;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DRAIN_RETRY_WAIT_S;
    pthread_mutex_lock(&d->lock);
    while (!d->cancelled &&
           pthread_cond_timedwait(&d->cond, &d->lock, &until) == 0)
        ;
    go = !d->cancelled;
    pthread_mutex_unlock(&d->lock);
    return go;
}

/* Migrate m to tname, retrying; the last attempt's rc and report. */
static int migrate_one(libxlmig_drain *d, libxlmig_ctx *ctx, drain_dom *m,
                       const char *tname, char **report_r)
{
    libxlmig_drain_event ev;
    int rc;

    for (;;) {
        m->attempts++;
        /* The plan's estimate is the prediction its report records. */
        rc = libxlmig_migrate_cluster_predicted(ctx, m->name, tname,
                                                &d->opts.params,
                                                m->sampled ? &m->est : NULL,
                                                false, NULL, NULL, report_r);
        if (!retry_worth(rc, m->attempts) || is_cancelled(d))
            return rc;
        ev_init(&ev, LIBXLMIG_DRAIN_EV_RETRYING, m->name, tname);
        snprintf(ev.message, sizeof(ev.message), "%s",
                 libxlmig_last_error(ctx));
        emit(d, &ev);
        free(*report_r);
        *report_r = NULL;
        if (!retry_wait(d))
            return rc;
    }
}

/* Record step i's outcome and save the progress; the event to emit. */
static void record_outcome(libxlmig_drain *d, libxlmig_ctx *ctx, int i,
                           int rc, const char *report,
                           libxlmig_drain_event *ev, char *why, size_t len)
{
    GC_INIT(ctx);
    const libxlmig_drain_step *s = &d->plan.steps[i];
    drain_dom *m = &d->doms[s->domain];
    const char *tname = d->nodes[d->tmap[s->target]].name;
    const char *fail;

    pthread_mutex_lock(&d->lock);
    m->end_ms = since_start_ms(d);
    if (report && !libxlmig_migration_report_stats(ctx, report, &m->st))
        m->have_stats = true;
    if (rc == 0) {
        m->outcome = "migrated";
    } else {
        m->outcome = rc == LIBXLMIG_ERROR_AMBIGUOUS ? "ambiguous" : "failed";
        snprintf(m->error, sizeof(m->error), "%s", libxlmig_last_error(ctx));
    }
    d->running_into[s->target]--;
    progress_save(gc, d, "running", false, &fail);
    snprintf(why, len, "%s", fail ? fail : "");
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);

    ev_init(ev, rc ? LIBXLMIG_DRAIN_EV_FAILED : LIBXLMIG_DRAIN_EV_MIGRATED,
            m->name, tname);
    ev->have_estimate = true;
    ev->estimate = m->est;
    ev->have_stats = m->have_stats;
    ev->stats = m->st;
    ev->ambiguous = rc == LIBXLMIG_ERROR_AMBIGUOUS;
    if (rc)
        snprintf(ev->message, sizeof(ev->message), "%s", m->error);
    GC_FREE;
}

static void *worker_main(void *arg)
{
    libxlmig_drain *d = arg;
    libxlmig_drain_event ev;
    libxlmig_ctx *ctx = NULL;
    char *report = NULL, why[LIBXLMIG_DRAIN_MESSAGE_MAX];
    int i = -2, rc;

    if (libxlmig_ctx_alloc(&ctx, libxlmig_ctx_logger(d->ctx)))
        return NULL;
    for (;;) {
        const libxlmig_drain_step *s;
        drain_dom *m;
        const char *tname;

        pthread_mutex_lock(&d->lock);
        while (!d->cancelled && (i = take_step(d)) == -1)
            pthread_cond_wait(&d->cond, &d->lock);
        if (d->cancelled)
            i = -2;
        pthread_mutex_unlock(&d->lock);
        if (i < 0)
            break;
        s = &d->plan.steps[i];
        m = &d->doms[s->domain];
        tname = d->nodes[d->tmap[s->target]].name;
        pthread_mutex_lock(&d->lock);
        m->start_ms = since_start_ms(d);
        pthread_mutex_unlock(&d->lock);
        ev_init(&ev, LIBXLMIG_DRAIN_EV_STARTED, m->name, tname);
        emit(d, &ev);
        rc = migrate_one(d, ctx, m, tname, &report);
        record_outcome(d, ctx, i, rc, report, &ev, why, sizeof(why));
        free(report);
        report = NULL;
        if (why[0])
            emit_error(d, why);
        emit(d, &ev);
    }
    libxlmig_ctx_free(ctx);
    return NULL;
}

static void run_plan(libxlmig_drain *d)
{
    libxlmig__gc *gc = &d->gc;
    pthread_t *th;
    bool *up;
    unsigned i;

    GCNEW_ARRAY(d->started, d->plan.nr_steps + 1);
    GCNEW_ARRAY(d->running_into, d->nr_targets + 1);
    GCNEW_ARRAY(th, d->per_source);
    GCNEW_ARRAY(up, d->per_source);
    for (i = 0; i < d->per_source; i++)
        up[i] = !pthread_create(&th[i], NULL, worker_main, d);
    for (i = 0; i < d->per_source; i++)
        if (up[i])
            pthread_join(th[i], NULL);
}

/* ---- the end ------------------------------------------------------------ */

/* Count, report and say how the drain ended. */
static libxlmig_drain_result finish(libxlmig_drain *d, char **report_r)
{
    libxlmig__gc *gc = &d->gc;
    const bool dry = d->opts.dry_run, cancelled = is_cancelled(d);
    libxlmig_drain_result res;
    libxlmig_drain_event ev;
    const char *result, *text, *why;
    int i, moved = 0, left = 0;

    for (i = 0; i < d->nr_doms; i++) {
        const drain_dom *m = &d->doms[i];
        const char *oc = m->outcome;

        if (oc && (!strcmp(oc, "migrated") ||
                   !strcmp(oc, "migrated earlier")))
            moved++;
        else if (!(dry && !oc))         /* dry, placed: would move */
            left++;
        if (oc && !strcmp(oc, "unplaced")) {
            ev_init(&ev, LIBXLMIG_DRAIN_EV_UNPLACED, m->name, NULL);
            snprintf(ev.message, sizeof(ev.message), "%s", m->error);
            emit(d, &ev);
        }
    }
    if (dry) {
        result = left ? "some cannot move" : "all can move";
        res = left ? LIBXLMIG_DRAIN_SOME_LEFT : LIBXLMIG_DRAIN_ALL_MOVED;
    } else if (cancelled && left) {
        result = "interrupted";
        res = LIBXLMIG_DRAIN_INTERRUPTED;
    } else if (left) {
        result = "some could not move";
        res = LIBXLMIG_DRAIN_SOME_LEFT;
    } else {
        result = "all moved";
        res = LIBXLMIG_DRAIN_ALL_MOVED;
    }
    if (!dry) {
        char *progress = GCSPRINTF("%s/%s", libxlmig_state_dir(),
                                   DRAIN_PROGRESS);

        why = NULL;
        if (res == LIBXLMIG_DRAIN_INTERRUPTED)
            progress_save(gc, d, result, false, &why);
        else
            unlink(progress);
        if (why)
            emit_error(d, why);
    }
    text = report_text(gc, d, result, !cancelled);
    if (text && d->opts.report_file) {
        report_save(gc, d->opts.report_file, text, &why);
        if (why)
            emit_error(d, why);
    }
    if (text && report_r)
        *report_r = strdup(text);

    ev_init(&ev, LIBXLMIG_DRAIN_EV_DONE, NULL, NULL);
    ev.result = res;
    snprintf(ev.message, sizeof(ev.message), "%s", result);
    ev.moved = moved;
    ev.left = left;
    ev.duration_ms = since_start_ms(d);
    emit(d, &ev);
    return res;
}

/* ---- the state object -------------------------------------------------- */

int libxlmig_drain_alloc(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                         const libxlmig_drain_opts *o, libxlmig_drain **d_r)
{
    const libxlmig_cluster_config *c;
    libxlmig_drain *d;

    *d_r = NULL;
    if (!cl || !o) {
        GC_INIT(ctx);
        LOG(ERROR, "a drain needs the cluster and its options");
        GC_FREE;
        return LIBXLMIG_ERROR_INVAL;
    }
    c = libxlmig_cluster_cfg(cl);
    d = calloc(1, sizeof(*d));
    if (!d)
        libxlmig__alloc_failed(ctx, __func__, 1, sizeof(*d));
    d->gc = (libxlmig__gc)LIBXLMIG__INIT_GC(ctx);
    d->ctx = ctx;
    d->cl = cl;
    d->opts = *o;
    d->self = c->nodes[libxlmig_cluster_self(cl)].name;
    d->per_source = c->max_outgoing ? c->max_outgoing : 1;
    d->per_target = c->max_incoming ? c->max_incoming : 1;
    d->lockfd = -1;
    libxlmig_drain_plan_init(&d->plan);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_mutex_init(&d->ev_lock, NULL);

    /* Parameters the caller did not give: the cluster config decides. */
    libxlmig_params_resolve(c, &o->params, &d->opts.params);
    if (o->report_file)
        d->opts.report_file = libxlmig__strdup(&d->gc, o->report_file);
    else if (o->cron)
        d->opts.report_file = libxlmig__sprintf(&d->gc, "%s/%s",
                                                libxlmig_state_dir(),
                                                DRAIN_REPORT);
    *d_r = d;
    return 0;
}

int libxlmig_drain_run(libxlmig_drain *d, libxlmig_drain_result *result_r,
                       char **report_r)
{
    libxlmig__gc *gc = &d->gc;
    drain_node *self;
    const char *why;
    int rc;

    *result_r = LIBXLMIG_DRAIN_NOT_STARTED;
    if (report_r)
        *report_r = NULL;
    if (d->ran) {
        LOG(ERROR, "a drain runs once");
        return LIBXLMIG_ERROR_INVAL;
    }
    d->ran = true;
    d->t0_us = libxlmig__now_us();
    if (!d->opts.dry_run) {
        rc = begin(d);
        if (rc) goto out;
    }
    self = gather_nodes(d);
    rc = gather_domains(d);
    if (rc) goto out;
    measure_bandwidth(d);
    sample_domains(d);
    estimate_domains(d, self);
    rc = make_plan(d);
    if (rc) goto out;
    emit_plan(d);
    if (!d->opts.dry_run) {
        progress_save(gc, d, "running", false, &why);
        if (why)
            emit_error(d, why);
        run_plan(d);
    }
    *result_r = finish(d, report_r);
    rc = 0;
 out:
    if (d->lockfd >= 0) {
        close(d->lockfd);
        d->lockfd = -1;
    }
    /* For xlmigd's metrics, once the lock is free; a daemon that is gone
     * misses one. */
    if (!rc && !d->opts.dry_run)
        libxlmig_drain_done(CTX, *result_r == LIBXLMIG_DRAIN_ALL_MOVED
                            ? "all_moved"
                            : *result_r == LIBXLMIG_DRAIN_SOME_LEFT
                            ? "some_left" : "interrupted");
    return rc;
}

void libxlmig_drain_cancel(libxlmig_drain *d)
{
    pthread_mutex_lock(&d->lock);
    d->cancelled = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

void libxlmig_drain_free(libxlmig_drain *d)
{
    if (!d)
        return;
    if (d->lockfd >= 0)
        close(d->lockfd);
    libxlmig_drain_plan_dispose(&d->plan);
    libxlmig__gc_free_all(&d->gc);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->ev_lock);
    free(d);
}
