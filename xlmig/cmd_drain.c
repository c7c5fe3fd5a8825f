/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig drain [NODE]`: put a node in maintenance and move every domain
 * away.  The drain of this node runs in the library (libxlmig_drain_*,
 * drain_run.c); another node's runs there, as a job of its xlmigd, and is
 * followed from here.  Either way this command parses the options, prints
 * the drain's events as they come (errors only with --cron or --json),
 * saves or prints the report and exits with the drain's status; SIGINT
 * and SIGTERM stop the drain, letting migrations in flight finish.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "opsutil.h"

/* Exit status (docs/drain.md): the library's results, and usage (2). */
#define DRAIN_EXIT_NOT_STARTED LIBXLMIG_DRAIN_NOT_STARTED
#define DRAIN_EXIT_INTERRUPTED LIBXLMIG_DRAIN_INTERRUPTED

/* The command line. */
struct drain_args {
    libxlmig_params params;
    bool dry;                     /* -n */
    bool cron;                    /* --cron */
    const char *report_file;      /* --report */
    const char *node;             /* NODE, or NULL: this node */
};

/* ---- showing the drain ----------------------------------------------- */

/* Print on stdout unless quiet (--cron or --json). */
static void say(bool quiet, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(bool quiet, const char *fmt, ...)
{
    va_list ap;

    if (quiet)
        return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void print_plan_event(bool q, const libxlmig_drain_event *ev)
{
    const libxlmig_estimate *e = &ev->estimate;
    char bw[32];

    switch (ev->kind) {
    case LIBXLMIG_DRAIN_EV_PLAN:
        say(q, "drain plan for %s: %d domain(s), at most %u at once, %u "
            "into any node; raw bandwidth %s\n", ev->node,
            ev->count, ev->per_source, ev->per_target,
            libxlmig_bandwidth_str(ev->bandwidth, false, bw, sizeof(bw)));
        break;
    case LIBXLMIG_DRAIN_EV_PLAN_STEP:
        if (!ev->target[0])
            say(q, "  %-16s %6llu MiB  CANNOT MOVE: %s\n", ev->domain,
                (unsigned long long)ev->memory_kib / 1024, ev->message);
        else
            say(q, "  %-16s %6llu MiB  -> %-8s start %6.1f s  est. %6.1f s "
                "(%u rounds, downtime %llu ms)\n", ev->domain,
                (unsigned long long)ev->memory_kib / 1024, ev->target,
                ev->start_ms / 1000.0, e->total_ms / 1000.0, e->rounds,
                (unsigned long long)e->downtime_ms);
        break;
    case LIBXLMIG_DRAIN_EV_PLAN_END:
        say(q, "planned drain time %.1f s\n", ev->planned_ms / 1000.0);
        break;
    default:
        break;
    }
}

/* One event of a drain, here or followed from another node. */
static void print_event(bool q, const libxlmig_drain_event *ev)
{
    const char *p = g.progname;

    switch (ev->kind) {
    case LIBXLMIG_DRAIN_EV_MAINTENANCE:
        say(q, "%s is in maintenance mode\n", ev->node);
        break;
    case LIBXLMIG_DRAIN_EV_SETTLING:
        say(q, "%s: settling an earlier handoff\n", ev->domain);
        break;
    case LIBXLMIG_DRAIN_EV_CONTINUING:
        say(q, "continuing an interrupted drain: %d domain(s) moved "
            "earlier\n", ev->count);
        break;
    case LIBXLMIG_DRAIN_EV_UNREACHABLE:
        fprintf(stderr, "%s drain: %s is unreachable: %s\n", p, ev->target,
                ev->message);
        break;
    case LIBXLMIG_DRAIN_EV_STARTED:
        say(q, "%s -> %s: started\n", ev->domain, ev->target);
        break;
    case LIBXLMIG_DRAIN_EV_RETRYING:
        fprintf(stderr, "%s drain: %s -> %s failed (%s); retrying\n", p,
                ev->domain, ev->target, ev->message);
        break;
    case LIBXLMIG_DRAIN_EV_MIGRATED:
        say(q, "%s -> %s: migrated in %.2f s (predicted %.2f s), downtime "
            "%llu ms\n", ev->domain, ev->target,
            ev->stats.total_time_ms / 1000.0,
            ev->estimate.total_ms / 1000.0,
            (unsigned long long)ev->stats.downtime_us / 1000);
        break;
    case LIBXLMIG_DRAIN_EV_FAILED:
        fprintf(stderr, "%s drain: %s -> %s failed: %s; it runs on %s\n", p,
                ev->domain, ev->target, ev->message,
                ev->ambiguous ? "neither node until `xlmig recover`"
                              : ev->node);
        break;
    case LIBXLMIG_DRAIN_EV_UNPLACED:
        fprintf(stderr, "%s drain: %s cannot move: %s\n", p, ev->domain,
                ev->message);
        break;
    case LIBXLMIG_DRAIN_EV_ERROR:
        fprintf(stderr, "%s drain: %s\n", p, ev->message);
        break;
    case LIBXLMIG_DRAIN_EV_DONE:
        say(q, "drain of %s: %s: %d moved, %d left, %.1f s\n", ev->node,
            ev->message, ev->moved, ev->left, ev->duration_ms / 1000.0);
        break;
    default:
        print_plan_event(q, ev);
        break;
    }
}

/* libxlmig_drain_event_cb: user is the drain_args. */
static void on_event(void *user, const libxlmig_drain_event *ev)
{
    const struct drain_args *a = user;

    print_event(a->cron || g.json, ev);
}

/* Replace path with text, as the library writes reports. */
static void report_save(const char *path, const char *text)
{
    char tmp[1100];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "%s drain: cannot write %s: %m\n", g.progname, tmp);
        return;
    }
    fputs(text, f);
    if (fclose(f) || rename(tmp, path))
        fprintf(stderr, "%s drain: cannot write %s: %m\n", g.progname, path);
}

/* ---- stopping it --------------------------------------------------------- */

static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static libxlmig_drain *stop_drain;          /* under stop_lock */
static volatile sig_atomic_t stop_follow;   /* a followed drain */

/* SIGINT and SIGTERM, waited for: cancel the drain running here. */
static void *stop_main(void *arg)
{
    sigset_t *set = arg;
    int sig;

    for (;;) {
        if (sigwait(set, &sig))
            continue;
        pthread_mutex_lock(&stop_lock);
        if (stop_drain)
            libxlmig_drain_cancel(stop_drain);
        pthread_mutex_unlock(&stop_lock);
    }
    return NULL;
}

/* From now on SIGINT and SIGTERM cancel d (NULL: nothing). */
static void stop_signals_to(libxlmig_drain *d)
{
    static sigset_t set;
    static bool started;
    pthread_t t;

    pthread_mutex_lock(&stop_lock);
    stop_drain = d;
    pthread_mutex_unlock(&stop_lock);
    if (started || !d)
        return;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Blocked before the drain's threads exist, so they inherit it. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (!pthread_create(&t, NULL, stop_main, &set)) {
        pthread_detach(t);
        started = true;
    }
}

static void on_stop_follow(int sig)
{
    stop_follow = 1;
}

/* ---- this node's drain, and another's ---------------------------------- */

static int drain_here(libxlmig_cluster *cl, struct drain_args *a)
{
    libxlmig_drain_opts o;
    libxlmig_drain_result res = LIBXLMIG_DRAIN_NOT_STARTED;
    libxlmig_drain *d = NULL;
    char *report = NULL;
    int rc;

    libxlmig_drain_opts_init(&o);
    o.params = a->params;
    o.dry_run = a->dry;
    o.cron = a->cron;
    o.report_file = a->report_file;
    o.event_cb = on_event;
    o.user = a;
    rc = libxlmig_drain_alloc(g.ctx, cl, &o, &d);
    if (rc) goto out;
    /* A dry run moves nothing: the signals end it at once. */
    if (!a->dry)
        stop_signals_to(d);
    rc = libxlmig_drain_run(d, &res, &report);
    stop_signals_to(NULL);
    if (!rc && report && g.json)
        fputs(report, stdout);
 out:
    if (rc)
        cmd_fail(rc, NULL);
    free(report);
    libxlmig_drain_free(d);
    return rc ? DRAIN_EXIT_NOT_STARTED : (int)res;
}

/* ops_job_event_fn of a followed drain. */
static void on_job_event(void *user, const char *type, const char *json)
{
    struct drain_args *a = user;
    libxlmig_drain_event ev;

    if (!strcmp(type, "error")) {
        ops_job_print_error(json);
        return;
    }
    if (strcmp(type, "drain"))
        return;
    if (libxlmig_drain_event_from_json(g.ctx, json, &ev)) {
        fprintf(stderr, "%s drain: %s\n", g.progname,
                libxlmig_last_error(g.ctx));
        return;
    }
    print_event(a->cron || g.json, &ev);
}

/*
 * The drain of another node: that node's xlmigd runs it (its lock,
 * maintenance, progress file, syslog and report are that node's) and this
 * command follows it: the plan, each migration, the errors, the report
 * and the exit status are the remote drain's.
 */
static int drain_remote(libxlmig_cluster *cl, struct drain_args *a)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    yajl_val last = NULL;
    const char *report;
    char *job = NULL;
    int rc, st;

    if (libxlmig_cluster_config_node(c, a->node) < 0) {
        cmd_fail(LIBXLMIG_ERROR_NOTFOUND, "no node %s in the cluster %s",
                 a->node, c->file);
        return DRAIN_EXIT_NOT_STARTED;
    }
    rc = libxlmig_job_start(g.ctx, cl, a->node, "drain", &a->params, a->dry,
                            a->cron, NULL, NULL, &job);
    if (rc) {
        cmd_fail(rc, "cannot start the drain of %s: %s", a->node,
                 libxlmig_last_error(g.ctx));
        return DRAIN_EXIT_NOT_STARTED;
    }
    say(a->cron || g.json, "the drain of %s runs there (job %s); following "
        "it\n", a->node, job);
    ops_on_stop_signals(on_stop_follow);
    st = ops_job_follow(cl, a->node, job, on_job_event, a, &stop_follow,
                        &last);
    report = ops_jstr(last, "report");
    if (report && a->report_file)
        report_save(a->report_file, report);
    if (report && g.json)
        fputs(report, stdout);
    if (st < 0)
        fprintf(stderr, "%s drain: the drain of %s may still run there; "
                "its report is drain-report.json in %s's state directory\n",
                g.progname, a->node, a->node);
    if (last)
        yajl_tree_free(last);
    free(job);
    if (st < 0 || st > DRAIN_EXIT_INTERRUPTED)
        return DRAIN_EXIT_INTERRUPTED;
    return st;
}

/* Options and NODE into a; -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct drain_args *a)
{
    static const struct option lo[] = {
        { "dry-run", no_argument, NULL, 'n' },
        { "cron", no_argument, NULL, 'C' },
        { "report", required_argument, NULL, 'R' },
        CMD_PARAM_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    int opt;

    memset(a, 0, sizeof(*a));
    libxlmig_params_init(&a->params);
    a->dry = g.dry_run;
    while ((opt = cmd_getopt(argc, argv, "nCR:" CMD_PARAM_OPTS, lo,
                             "drain", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'n') { a->dry = true; continue; }
        if (opt == 'C') { a->cron = true; continue; }
        if (opt == 'R') { a->report_file = optarg; continue; }
        if (cmd_param_opt("drain", opt, optarg, &a->params) <= 0)
            return EXIT_USAGE;
    }
    if (argc - optind > 1)
        return cmd_usage_error("drain", "at most one NODE");
    if (a->report_file && !a->report_file[0])
        return cmd_usage_error("drain", "--report needs a file name");
    a->node = argc - optind == 1 ? argv[optind] : NULL;
    return -1;
}

int main_drain(int argc, char **argv)
{
    const libxlmig_cluster_config *c;
    libxlmig_cluster *cl = NULL;
    struct drain_args a;
    int ret;

    ret = parse_args(argc, argv, &a);
    if (ret >= 0)
        return ret;
    if (a.cron)
        openlog("xlmig-drain", LOG_PID, LOG_DAEMON);
    if (cmd_open_backend() || ops_open_cluster(&cl))
        return DRAIN_EXIT_NOT_STARTED;
    c = libxlmig_cluster_cfg(cl);
    if (a.node && !strcmp(a.node, c->nodes[libxlmig_cluster_self(cl)].name))
        a.node = NULL;
    ret = a.node ? drain_remote(cl, &a) : drain_here(cl, &a);
    libxlmig_cluster_free(cl);
    return ret;
}
