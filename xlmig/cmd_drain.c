/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig drain [NODE]`: put this node in maintenance and move every
 * domain away.  Facts come from every other node's xlmigd (free memory
 * counting migrations in flight, maintenance, CPU policy), estimates from
 * a dirty-log sample of each domain and a bandwidth probe, the plan from
 * libxlmig_drain_plan_make; the migrations then run through this node's
 * xlmigd, at most max_outgoing at once and max_incoming into any target.
 * A lock in the state directory keeps two drains of a node apart; a
 * progress file there lets a rerun continue an interrupted drain.
 * --cron: nothing on the terminal but errors, one syslog line per
 * domain, a JSON report file.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "opsutil.h"

/* Exit status (docs/drain.md). */
#define DRAIN_EXIT_ALL_MOVED   0
#define DRAIN_EXIT_SOME_LEFT   1   /* some domains could not move */
#define DRAIN_EXIT_NOT_STARTED 3   /* lock held, no daemon, no config */
#define DRAIN_EXIT_INTERRUPTED 4   /* stopped; rerun to continue */

#define DRAIN_SAMPLE_MS  1000      /* dirty-log sample per domain (ms) */
#define DRAIN_PROBE_MIB  32        /* bandwidth probe per target (MiB) */
#define DRAIN_RETRIES    2         /* more attempts after a failure that
                                      left the domain running here */
#define DRAIN_RETRY_WAIT_S 5       /* pause before retrying (s): the target
                                      may still be removing the partial
                                      copy of the failed attempt */

struct ddom {
    char name[64];
    unsigned long long memory_kib;
    libxlmig_dirty_sample sample;
    bool sampled;
    libxlmig_estimate est;
    bool *compat;
    const char **compat_reason;
    char (*reasons)[256];
    /* results */
    int target;                  /* index into targets, or -1 */
    const char *outcome;         /* "migrated", "failed", "unplaced", ... */
    char error[512];
    libxlmig_stats st;
    bool have_stats;
    unsigned long long start_ms, end_ms;  /* since the drain started */
    bool earlier;                /* moved by an earlier, interrupted run */
    unsigned attempts;           /* migrations tried */
    char earlier_target[64];
};

static struct {
    libxlmig_cluster *cl;
    const char *self;
    struct ops_node *nodes;       /* every node, config order */
    int nr_nodes;
    int *tmap;                    /* target index -> node index */
    int nr_targets;
    struct ddom *doms;
    int nr_doms;
    libxlmig_drain_plan plan;
    libxlmig_params params;
    unsigned per_source, per_target;
    bool cron;
    const char *report_file;
    double bandwidth;             /* raw, bytes/s (lowest target) */
    unsigned long long t0_us;
    /* the run */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int next_step;                /* first plan step not yet started */
    bool *started;                /* per plan step */
    int *running_into;            /* per target */
    volatile sig_atomic_t stop;
} D = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

static unsigned long long now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_stop(int sig)
{
    D.stop = 1;
}

/* Print unless --cron. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    if (D.cron || g.json)
        return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static const char *state_path(const char *leaf)
{
    static char buf[3][1024];
    static int i;

    i = (i + 1) % 3;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", libxlmig_state_dir(), leaf);
    return buf[i];
}

/* ---- the report ------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static const char *target_name(const struct ddom *d)
{
    if (d->earlier)
        return d->earlier_target;
    return d->target >= 0 ? D.nodes[D.tmap[d->target]].name : NULL;
}

static double prediction_error_pct(const struct ddom *d)
{
    if (!d->have_stats || !d->st.total_time_ms || !d->sampled)
        return 0;
    return ((double)d->est.total_ms - (double)d->st.total_time_ms) * 100.0 /
           (double)d->st.total_time_ms;
}

static void report_write(FILE *f, const char *result, bool complete)
{
    unsigned long long bytes = 0;
    int i;

    fprintf(f, "{\"version\":1,\"node\":");
    json_str(f, D.self);
    fprintf(f, ",\"result\":");
    json_str(f, result);
    fprintf(f, ",\"complete\":%s,\"time\":%lld,\"duration_ms\":%llu,"
            "\"max_outgoing\":%u,\"max_incoming\":%u,"
            "\"raw_bandwidth\":%.0f,\"planned_ms\":%llu,\"domains\":[",
            complete ? "true" : "false", (long long)time(NULL),
            (now_us() - D.t0_us) / 1000, D.per_source, D.per_target,
            D.bandwidth, (unsigned long long)D.plan.makespan_ms);
    for (i = 0; i < D.nr_doms; i++) {
        const struct ddom *d = &D.doms[i];

        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_str(f, d->name);
        fprintf(f, ",\"memory_kib\":%llu,\"attempts\":%u,\"target\":",
                d->memory_kib, d->attempts);
        if (target_name(d)) json_str(f, target_name(d));
        else fprintf(f, "null");
        fprintf(f, ",\"outcome\":");
        json_str(f, d->outcome ? d->outcome : "pending");
        if (d->error[0]) {
            fprintf(f, ",\"error\":");
            json_str(f, d->error);
        }
        if (d->start_ms || d->end_ms)
            fprintf(f, ",\"start_ms\":%llu,\"end_ms\":%llu", d->start_ms,
                    d->end_ms);
        if (d->sampled)
            fprintf(f, ",\"prediction\":{\"total_ms\":%llu,"
                    "\"downtime_ms\":%llu,\"rounds\":%u,\"bytes\":%llu,"
                    "\"dirty_rate\":%.0f,\"bandwidth\":%.0f}",
                    (unsigned long long)d->est.total_ms,
                    (unsigned long long)d->est.downtime_ms, d->est.rounds,
                    (unsigned long long)d->est.bytes, d->est.dirty_rate,
                    d->est.bandwidth);
        if (d->have_stats) {
            fprintf(f, ",\"stats\":{\"total_time_ms\":%llu,"
                    "\"downtime_us\":%llu,\"rounds\":%u,\"total_bytes\":%llu}",
                    (unsigned long long)d->st.total_time_ms,
                    (unsigned long long)d->st.downtime_us, d->st.round,
                    (unsigned long long)d->st.total_bytes);
            bytes += d->st.total_bytes;
            if (d->sampled)
                fprintf(f, ",\"prediction_error_pct\":%.1f",
                        prediction_error_pct(d));
        }
        fprintf(f, "}");
    }
    fprintf(f, "],\"total_bytes\":%llu}\n", bytes);
}

struct report_args {
    const char *result, *text;
    bool complete;
};

/* Replace path with the report (args->text as it is, or this drain's). */
static void report_save_as(const char *path, const struct report_args *a)
{
    char tmp[1100];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "%s drain: cannot write %s: %m\n", g.progname, tmp);
        return;
    }
    if (a->text)
        fputs(a->text, f);
    else
        report_write(f, a->result, a->complete);
    if (fclose(f) || rename(tmp, path))
        fprintf(stderr, "%s drain: cannot write %s: %m\n", g.progname, path);
}

static void report_save(const char *path, const char *result, bool complete)
{
    const struct report_args a = { result, NULL, complete };

    report_save_as(path, &a);
}

/* The progress file of an interrupted drain: who moved where. */
static void load_progress(void)
{
    char err[256], *text = NULL;
    yajl_val v, doms;
    size_t len = 0, i;
    FILE *f = fopen(state_path("drain-progress.json"), "r");
    struct ddom *d;

    if (!f)
        return;
    if (getdelim(&text, &len, '\0', f) < 0) {
        fclose(f);
        free(text);
        return;
    }
    fclose(f);
    v = yajl_tree_parse(text, err, sizeof(err));
    free(text);
    doms = ops_jget(v, "domains", yajl_t_array);
    for (i = 0; doms && i < doms->u.array.len; i++) {
        yajl_val e = doms->u.array.values[i];
        const char *oc = ops_jstr(e, "outcome"), *t = ops_jstr(e, "target");

        if (!oc || !t || !ops_jstr(e, "name") ||
            (strcmp(oc, "migrated") && strcmp(oc, "migrated earlier")))
            continue;
        D.doms = realloc(D.doms, sizeof(*D.doms) * (size_t)(D.nr_doms + 1));
        d = &D.doms[D.nr_doms++];
        memset(d, 0, sizeof(*d));
        snprintf(d->name, sizeof(d->name), "%s", ops_jstr(e, "name"));
        d->memory_kib = ops_ju64(e, "memory_kib");
        d->target = -1;
        d->earlier = true;
        snprintf(d->earlier_target, sizeof(d->earlier_target), "%s", t);
        d->outcome = "migrated earlier";
    }
    if (v) yajl_tree_free(v);
    if (D.nr_doms)
        say("continuing an interrupted drain: %d domain(s) moved "
            "earlier\n", D.nr_doms);
}

/* ---- gathering facts ----------------------------------------------- */

static void *sample_main(void *arg)
{
    struct ddom *d = arg;
    libxlmig_ctx *ctx = NULL;

    if (libxlmig_ctx_alloc(&ctx, NULL))
        return NULL;
    d->sampled = !libxlmig_backend_open(ctx, g.backend) &&
                 !libxlmig_dirty_sample_take(ctx, d->name, DRAIN_SAMPLE_MS,
                                             &d->sample);
    libxlmig_ctx_free(ctx);
    return NULL;
}

static int gather(void)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(D.cl);
    libxlmig_dominfo *list = NULL;
    struct ops_node *self = NULL;
    pthread_t *th;
    double bw, per;
    unsigned conc;
    char why[256];
    int i, j, k, nr = 0, first, rc;

    D.nr_nodes = ops_gather(D.cl, &D.nodes);
    D.tmap = calloc((size_t)D.nr_nodes, sizeof(*D.tmap));
    for (i = 0; i < D.nr_nodes; i++) {
        if (!strcmp(D.nodes[i].name, D.self)) {
            self = &D.nodes[i];
            continue;
        }
        D.tmap[D.nr_targets++] = i;
        if (!D.nodes[i].reachable)
            fprintf(stderr, "%s drain: %s is unreachable: %s\n",
                    g.progname, D.nodes[i].name, D.nodes[i].error);
    }
    if (!self || !self->reachable) {
        /* Sim domains run with their node's CPU: ask the backend. */
        if (self && libxlmig_host_cpu_policy(g.ctx, &self->cpu) == 0)
            self->cpu_ok = true;
    }
    rc = libxlmig_domain_list(g.ctx, &list, &nr);
    if (rc)
        return rc;
    first = D.nr_doms;
    for (i = 0; i < nr; i++) {
        struct ddom *d;

        if (!ops_movable(list[i].name, list[i].domid))
            continue;
        for (j = 0; j < first; j++)
            if (!strcmp(D.doms[j].name, list[i].name))
                break;
        if (j < first) {
            /* Moved earlier but here again: move it again. */
            D.doms[j].earlier = false;
            D.doms[j].outcome = NULL;
            d = &D.doms[j];
        } else {
            D.doms = realloc(D.doms, sizeof(*D.doms) *
                             (size_t)(D.nr_doms + 1));
            d = &D.doms[D.nr_doms++];
            memset(d, 0, sizeof(*d));
            snprintf(d->name, sizeof(d->name), "%s", list[i].name);
        }
        d->memory_kib = list[i].memory_kib;
        d->target = -1;
    }
    libxlmig_dominfo_list_free(list, nr);

    /* Bandwidth: the slowest target bounds the estimate. */
    D.bandwidth = 0;
    for (k = 0; k < D.nr_targets; k++) {
        struct ops_node *t = &D.nodes[D.tmap[k]];

        if (!t->reachable || t->maintenance)
            continue;
        if (!libxlmig_bandwidth_probe(g.ctx, D.cl, t->name,
                                      DRAIN_PROBE_MIB << 20, &bw, NULL) &&
            (!D.bandwidth || bw < D.bandwidth))
            D.bandwidth = bw;
    }
    /* Concurrent migrations share the source's link. */
    conc = D.per_source;
    for (i = 0, nr = 0; i < D.nr_doms; i++)
        nr += !D.doms[i].earlier;
    if ((unsigned)nr < conc) conc = nr ? (unsigned)nr : 1;
    per = D.bandwidth / conc;

    th = calloc((size_t)D.nr_doms + 1, sizeof(*th));
    for (i = 0; i < D.nr_doms; i++)
        if (!D.doms[i].earlier)
            pthread_create(&th[i], NULL, sample_main, &D.doms[i]);
    for (i = 0; i < D.nr_doms; i++)
        if (!D.doms[i].earlier)
            pthread_join(th[i], NULL);
    free(th);
    for (i = 0; i < D.nr_doms; i++) {
        struct ddom *d = &D.doms[i];

        if (d->earlier) continue;
        if (!d->sampled || !per || libxlmig_estimate_compute(
                g.ctx, &D.params, &d->sample, per, &d->est)) {
            d->sampled = false;
            /* Without a sample: the full copy alone. */
            d->est.total_ms = per ? (unsigned long long)
                              (d->memory_kib * 1024.0 / per * 1000) : 1000;
        }
        d->compat = calloc((size_t)D.nr_targets + 1, sizeof(bool));
        d->compat_reason = calloc((size_t)D.nr_targets + 1,
                                  sizeof(char *));
        d->reasons = calloc((size_t)D.nr_targets + 1, sizeof(*d->reasons));
        for (k = 0; k < D.nr_targets; k++) {
            struct ops_node *t = &D.nodes[D.tmap[k]];

            d->compat[k] = !t->reachable ||
                           (self && ops_cpu_compatible(self, t, why,
                                                       sizeof(why)));
            if (!d->compat[k]) {
                snprintf(d->reasons[k], sizeof(d->reasons[k]), "%s",
                         self ? why : "this node's CPU is unknown");
                d->compat_reason[k] = d->reasons[k];
            }
        }
    }
    (void)c;
    return 0;
}

static int make_plan(void)
{
    libxlmig_drain_target *t;
    libxlmig_drain_domain *dd;
    int *idx, i, n = 0, rc;

    t = calloc((size_t)D.nr_targets + 1, sizeof(*t));
    dd = calloc((size_t)D.nr_doms + 1, sizeof(*dd));
    idx = calloc((size_t)D.nr_doms + 1, sizeof(*idx));
    for (i = 0; i < D.nr_targets; i++) {
        struct ops_node *nd = &D.nodes[D.tmap[i]];

        t[i].name = nd->name;
        t[i].total_memory_kib = nd->total_kib;
        t[i].free_memory_kib = nd->free_kib;
        t[i].in_maintenance = nd->maintenance;
        t[i].reachable = nd->reachable;
    }
    for (i = 0; i < D.nr_doms; i++) {
        if (D.doms[i].earlier)
            continue;
        idx[n] = i;
        dd[n].name = D.doms[i].name;
        dd[n].memory_kib = D.doms[i].memory_kib;
        dd[n].estimate_ms = D.doms[i].est.total_ms;
        dd[n].compat = D.doms[i].compat;
        dd[n].compat_reason = D.doms[i].compat_reason;
        n++;
    }
    libxlmig_drain_plan_init(&D.plan);
    rc = libxlmig_drain_plan_make(g.ctx, t, D.nr_targets, dd, n,
                                  D.per_source, D.per_target, &D.plan);
    /* Steps name domains by their index in dd: map them back. */
    for (i = 0; !rc && i < D.plan.nr_steps; i++) {
        libxlmig_drain_step *s = &D.plan.steps[i];

        s->domain = idx[s->domain];
        D.doms[s->domain].target = s->target;
        if (s->target < 0) {
            D.doms[s->domain].outcome = "unplaced";
            snprintf(D.doms[s->domain].error,
                     sizeof(D.doms[s->domain].error), "no target: %s",
                     s->reason);
        }
    }
    free(t);
    free(dd);
    free(idx);
    return rc;
}

static void print_plan(void)
{
    int i;

    say("drain plan for %s: %d domain(s), at most %u at once, %u into any "
        "node; raw bandwidth %.1f MiB/s\n", D.self, D.plan.nr_steps,
        D.per_source, D.per_target, D.bandwidth / 1048576.0);
    for (i = 0; i < D.plan.nr_steps; i++) {
        const libxlmig_drain_step *s = &D.plan.steps[i];
        const struct ddom *d = &D.doms[s->domain];

        if (s->target < 0)
            say("  %-16s %6llu MiB  CANNOT MOVE: %s\n", d->name,
                d->memory_kib / 1024, s->reason);
        else
            say("  %-16s %6llu MiB  -> %-8s start %6.1f s  est. %6.1f s "
                "(%u rounds, downtime %llu ms)\n", d->name,
                d->memory_kib / 1024, D.nodes[D.tmap[s->target]].name,
                s->start_ms / 1000.0, d->est.total_ms / 1000.0,
                d->est.rounds, (unsigned long long)d->est.downtime_ms);
    }
    say("planned drain time %.1f s\n", D.plan.makespan_ms / 1000.0);
}

/* ---- running the plan ------------------------------------------------ */

/* The next step whose target has a free slot, or -1; -2 when all began. */
static int take_step(void)
{
    int i, pending = 0;

    for (i = 0; i < D.plan.nr_steps; i++) {
        const libxlmig_drain_step *s = &D.plan.steps[i];

        if (D.started[i] || s->target < 0)
            continue;
        pending++;
        if ((unsigned)D.running_into[s->target] < D.per_target) {
            D.started[i] = true;
            D.running_into[s->target]++;
            return i;
        }
    }
    return pending ? -1 : -2;
}

static void *worker_main(void *arg)
{
    libxlmig_ctx *ctx = NULL;
    char *report = NULL;
    int i = -2, rc;

    if (libxlmig_ctx_alloc(&ctx, g.logger))
        return NULL;
    for (;;) {
        const libxlmig_drain_step *s;
        struct ddom *d;
        const char *tname;

        pthread_mutex_lock(&D.lock);
        while (!D.stop && (i = take_step()) == -1)
            pthread_cond_wait(&D.cond, &D.lock);
        pthread_mutex_unlock(&D.lock);
        if (D.stop || i < 0)
            break;
        s = &D.plan.steps[i];
        d = &D.doms[s->domain];
        tname = D.nodes[D.tmap[s->target]].name;
        d->start_ms = (now_us() - D.t0_us) / 1000;
        say("%s -> %s: started\n", d->name, tname);
        for (;;) {
            d->attempts++;
            /* The plan's estimate is the prediction its report records. */
            rc = libxlmig_migrate_cluster_predicted(ctx, d->name, tname,
                                                    &D.params,
                                                    d->sampled ? &d->est
                                                               : NULL,
                                                    false, NULL, NULL,
                                                    &report);
            /* A transient failure (the stream broke, the target was
             * busy) leaves the domain running here: try again.  A first
             * refusal, an incompatibility or an ambiguous handoff is
             * final; a refusal after a failed attempt may be the target
             * still removing that attempt's partial copy. */
            if (!rc || D.stop || d->attempts > DRAIN_RETRIES ||
                rc == LIBXLMIG_ERROR_AMBIGUOUS ||
                rc == LIBXLMIG_ERROR_INCOMPATIBLE ||
                rc == LIBXLMIG_ERROR_CANCELLED ||
                rc == LIBXLMIG_ERROR_NOTFOUND ||
                (rc == LIBXLMIG_ERROR_REFUSED && d->attempts == 1))
                break;
            fprintf(stderr, "%s drain: %s -> %s failed (%s); retrying\n",
                    g.progname, d->name, tname, libxlmig_last_error(ctx));
            free(report);
            report = NULL;
            sleep(DRAIN_RETRY_WAIT_S);
        }
        pthread_mutex_lock(&D.lock);
        d->end_ms = (now_us() - D.t0_us) / 1000;
        if (report && !libxlmig_migration_report_stats(ctx, report, &d->st))
            d->have_stats = true;
        free(report);
        report = NULL;
        if (rc == 0) {
            d->outcome = "migrated";
        } else {
            d->outcome = rc == LIBXLMIG_ERROR_AMBIGUOUS ? "ambiguous"
                                                        : "failed";
            snprintf(d->error, sizeof(d->error), "%s",
                     libxlmig_last_error(ctx));
        }
        D.running_into[s->target]--;
        report_save(state_path("drain-progress.json"), "running", false);
        pthread_cond_broadcast(&D.cond);
        pthread_mutex_unlock(&D.lock);
        if (rc == 0) {
            say("%s -> %s: migrated in %.2f s (predicted %.2f s), downtime "
                "%llu ms\n", d->name, tname, d->st.total_time_ms / 1000.0,
                d->est.total_ms / 1000.0,
                (unsigned long long)d->st.downtime_us / 1000);
            if (D.cron)
                syslog(LOG_INFO, "drain %s: %s migrated to %s in %llu ms "
                       "(predicted %llu ms)", D.self, d->name, tname,
                       (unsigned long long)d->st.total_time_ms,
                       (unsigned long long)d->est.total_ms);
        } else {
            fprintf(stderr, "%s drain: %s -> %s failed: %s; it runs on "
                    "%s\n", g.progname, d->name, tname, d->error,
                    rc == LIBXLMIG_ERROR_AMBIGUOUS ? "neither node until "
                    "`xlmig recover`" : D.self);
            if (D.cron)
                syslog(LOG_ERR, "drain %s: %s to %s failed: %s", D.self,
                       d->name, tname, d->error);
        }
    }
    libxlmig_ctx_free(ctx);
    return NULL;
}

static void run_plan(void)
{
    pthread_t *th;
    unsigned i;

    D.started = calloc((size_t)D.plan.nr_steps + 1, sizeof(bool));
    D.running_into = calloc((size_t)D.nr_targets + 1, sizeof(int));
    th = calloc(D.per_source, sizeof(*th));
    for (i = 0; i < D.per_source; i++)
        pthread_create(&th[i], NULL, worker_main, NULL);
    for (i = 0; i < D.per_source; i++)
        pthread_join(th[i], NULL);
    free(th);
}

/* Settle copies an interrupted handoff left paused here. */
static void recover_leftovers(void)
{
    libxlmig_dominfo *list = NULL;
    char *report = NULL, base[64];
    int i, nr = 0;

    if (libxlmig_domain_list(g.ctx, &list, &nr))
        return;
    for (i = 0; i < nr; i++) {
        size_t n = strlen(list[i].name);

        if (n <= 14 || strcmp(list[i].name + n - 14, "--migratedaway"))
            continue;
        snprintf(base, sizeof(base), "%.*s", (int)(n - 14), list[i].name);
        say("%s: settling an earlier handoff\n", base);
        if (libxlmig_migrate_recover(g.ctx, base, &report))
            fprintf(stderr, "%s drain: cannot settle %s: %s\n", g.progname,
                    base, libxlmig_last_error(g.ctx));
        free(report);
        report = NULL;
    }
    libxlmig_dominfo_list_free(list, nr);
}

/*
 * The drain of another node: that node's xlmigd runs `xlmig drain` there
 * (its lock, maintenance, progress file, syslog and report are that
 * node's) and this command follows it: the plan, each migration, the
 * errors, the report and the exit status are the remote drain's.
 */
static int drain_remote(const char *node, bool dry)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(D.cl);
    yajl_val last = NULL;
    const char *report;
    char *job = NULL;
    int i, rc, st;

    for (i = 0; i < c->num_nodes; i++)
        if (!strcmp(c->nodes[i].name, node))
            break;
    if (i == c->num_nodes) {
        cmd_fail(LIBXLMIG_ERROR_NOTFOUND, "no node %s in the cluster %s",
                 node, c->file);
        return DRAIN_EXIT_NOT_STARTED;
    }
    rc = libxlmig_job_start(g.ctx, D.cl, node, "drain", &D.params, dry,
                            D.cron, false, NULL, NULL, &job);
    if (rc) {
        cmd_fail(rc, "cannot start the drain of %s: %s", node,
                 libxlmig_last_error(g.ctx));
        return DRAIN_EXIT_NOT_STARTED;
    }
    say("the drain of %s runs there (job %s); following it\n", node, job);
    ops_on_stop_signals(on_stop);
    st = ops_job_follow(D.cl, node, job, !D.cron && !g.json, &D.stop,
                        &last);
    report = ops_jstr(last, "report");
    if (report && D.report_file) {
        const struct report_args a = { NULL, report, true };

        report_save_as(D.report_file, &a);
    }
    if (report && g.json)
        fputs(report, stdout);
    if (st < 0)
        fprintf(stderr, "%s drain: the drain of %s may still run there; "
                "its report is drain-report.json in %s's state directory\n",
                g.progname, node, node);
    if (last)
        yajl_tree_free(last);
    free(job);
    if (st < 0 || st > 4)
        return DRAIN_EXIT_INTERRUPTED;
    return st;
}

int main_drain(int argc, char **argv)
{
    static const struct option lo[] = {
        { "dry-run", no_argument, NULL, 'n' },
        { "cron", no_argument, NULL, 'C' },
        { "report", required_argument, NULL, 'R' },
        CMD_PARAM_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    const libxlmig_cluster_config *c;
    bool dry = g.dry_run;
    const char *result;
    int opt, ret, lockfd = -1, i, moved = 0, left = 0, exit_code;

    libxlmig_params_init(&D.params);
    while ((opt = cmd_getopt(argc, argv, "nCR:" CMD_PARAM_OPTS, lo,
                             "drain", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'n') { dry = true; continue; }
        if (opt == 'C') { D.cron = true; continue; }
        if (opt == 'R') { D.report_file = optarg; continue; }
        ret = cmd_param_opt("drain", opt, optarg, &D.params);
        if (ret <= 0) return EXIT_USAGE;
    }
    if (argc - optind > 1)
        return cmd_usage_error("drain", "at most one NODE");
    if (D.cron)
        openlog("xlmig-drain", LOG_PID, LOG_DAEMON);
    if (cmd_open_backend() || ops_open_cluster(&D.cl))
        return DRAIN_EXIT_NOT_STARTED;
    c = libxlmig_cluster_cfg(D.cl);
    D.self = c->nodes[libxlmig_cluster_self(D.cl)].name;
    if (argc - optind == 1 && strcmp(argv[optind], D.self))
        return drain_remote(argv[optind], dry);
    ops_params_from_config(D.cl, &D.params);
    D.per_source = c->max_outgoing ? c->max_outgoing : 1;
    D.per_target = c->max_incoming ? c->max_incoming : 1;
    if (D.cron && !D.report_file)
        D.report_file = state_path("drain-report.json");
    D.t0_us = now_us();

    if (!dry) {
        mkdir(libxlmig_state_dir(), 0755);
        lockfd = open(state_path("drain.lock"),
                      O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB)) {
            cmd_fail(LIBXLMIG_ERROR_BUSY, "another drain of %s is running "
                     "(lock %s held)", D.self, state_path("drain.lock"));
            return DRAIN_EXIT_NOT_STARTED;
        }
        if (libxlmig_maintenance_set(g.ctx, D.cl, NULL, true)) {
            cmd_fail(LIBXLMIG_ERROR_IO, "cannot enter maintenance mode: %s",
                     libxlmig_last_error(g.ctx));
            return DRAIN_EXIT_NOT_STARTED;
        }
        say("%s is in maintenance mode\n", D.self);
        ops_on_stop_signals(on_stop);
        recover_leftovers();
        load_progress();
    }
    if (gather()) {
        cmd_fail(LIBXLMIG_ERROR_BACKEND, "cannot list the domains here: %s",
                 libxlmig_last_error(g.ctx));
        return DRAIN_EXIT_NOT_STARTED;
    }
    if (make_plan()) {
        cmd_fail(LIBXLMIG_ERROR_FAIL, "cannot plan the drain: %s",
                 libxlmig_last_error(g.ctx));
        return DRAIN_EXIT_NOT_STARTED;
    }
    print_plan();
    if (!dry) {
        report_save(state_path("drain-progress.json"), "running", false);
        run_plan();
    }

    for (i = 0; i < D.nr_doms; i++) {
        const char *oc = D.doms[i].outcome;

        if (oc && (!strcmp(oc, "migrated") ||
                   !strcmp(oc, "migrated earlier")))
            moved++;
        else if (dry && !oc)
            ;                   /* placed: would move */
        else
            left++;
        if (oc && !strcmp(oc, "unplaced")) {
            fprintf(stderr, "%s drain: %s cannot move: %s\n", g.progname,
                    D.doms[i].name, D.doms[i].error);
            if (D.cron && !dry)
                syslog(LOG_ERR, "drain %s: %s cannot move: %s", D.self,
                       D.doms[i].name, D.doms[i].error);
        }
    }
    if (dry) {
        result = left ? "some cannot move" : "all can move";
        exit_code = left ? DRAIN_EXIT_SOME_LEFT : DRAIN_EXIT_ALL_MOVED;
    } else if (D.stop && left) {
        result = "interrupted";
        exit_code = DRAIN_EXIT_INTERRUPTED;
    } else if (left) {
        result = "some could not move";
        exit_code = DRAIN_EXIT_SOME_LEFT;
    } else {
        result = "all moved";
        exit_code = DRAIN_EXIT_ALL_MOVED;
    }
    if (!dry) {
        if (exit_code == DRAIN_EXIT_INTERRUPTED)
            report_save(state_path("drain-progress.json"), result, false);
        else
            unlink(state_path("drain-progress.json"));
        if (D.cron)
            syslog(exit_code ? LOG_ERR : LOG_INFO, "drain %s: %s (%d moved, "
                   "%d left)", D.self, result, moved, left);
    }
    if (D.report_file)
        report_save(D.report_file, result, !D.stop);
    if (g.json)
        report_write(stdout, result, !D.stop);
    say("drain of %s: %s: %d moved, %d left, %.1f s\n", D.self, result,
        moved, left, (now_us() - D.t0_us) / 1e6);
    if (lockfd >= 0)
        close(lockfd);
    /* For xlmigd's metrics, the lock free; a daemon gone misses one. */
    if (!dry)
        libxlmig_drain_done(g.ctx, exit_code == DRAIN_EXIT_ALL_MOVED
                            ? "all_moved" : exit_code == DRAIN_EXIT_SOME_LEFT
                            ? "some_left" : "interrupted");
    return exit_code;
}
