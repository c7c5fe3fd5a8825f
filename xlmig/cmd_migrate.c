/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig migrate-cluster DOMAIN TARGET` (also `xl-migrate-cluster`): live
 * migration to another node of the cluster through this node's xlmigd,
 * with every pre-flight verdict, progress, the final statistics and the
 * outcome; Ctrl-C cancels.  `xlmig cancel DOMAIN` cancels from elsewhere;
 * `xlmig recover DOMAIN` settles a handoff left ambiguous.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "opsutil.h"

/* Exit status when both copies are paused and recover must settle it. */
#define EXIT_AMBIGUOUS 3

static const char *migrate_domain;

/* Ctrl-C and SIGTERM ask xlmigd to cancel; the migration then ends. */
static void *cancel_thread(void *arg)
{
    sigset_t *set = arg;
    libxlmig_ctx *ctx = NULL;
    int sig;

    for (;;) {
        if (sigwait(set, &sig))
            continue;
        fprintf(stderr, "\n%s: cancelling the migration of %s\n",
                g.progname, migrate_domain);
        if (libxlmig_ctx_alloc(&ctx, NULL) == 0) {
            libxlmig_migrate_cancel(ctx, migrate_domain);
            libxlmig_ctx_free(ctx);
            ctx = NULL;
        }
    }
    return NULL;
}

static yajl_val jget(yajl_val v, const char *key, yajl_type t)
{
    const char *path[] = { key, NULL };

    return yajl_tree_get(v, path, t);
}

static const char *jstr(yajl_val v, const char *key)
{
    yajl_val s = jget(v, key, yajl_t_string);

    return s ? YAJL_GET_STRING(s) : NULL;
}

/* The human-readable report: checks, attempts, handoff, outcome. */
static void print_report(FILE *f, const char *text)
{
    yajl_val v;
    char err[256];

    v = yajl_tree_parse(text, err, sizeof(err));
    if (!v)
        return;
    cmd_print_report_val(f, v);
    yajl_tree_free(v);
}

/* The connections a stream went over, when there was more than one. */
static void print_paths(FILE *f, yajl_val a)
{
    yajl_val e;
    size_t i;

    if (!a || a->u.array.len < 2)
        return;
    for (i = 0; i < a->u.array.len; i++) {
        e = a->u.array.values[i];
        fprintf(f, "  path %s: %.1f MiB sent, %s%s%s\n", jstr(e, "path"),
                (double)YAJL_GET_INTEGER(jget(e, "bytes_sent",
                                              yajl_t_any)) / 1048576,
                jstr(e, "state"), jstr(e, "error") ? ": " : "",
                jstr(e, "error") ? jstr(e, "error") : "");
    }
}

void cmd_print_report_val(FILE *f, yajl_val v)
{
    yajl_val a, e;
    char bw[32];
    size_t i;

    a = jget(v, "preflight", yajl_t_array);
    if (a)
        fprintf(f, "pre-flight, %s -> %s:\n", jstr(v, "source"),
                jstr(v, "target"));
    for (i = 0; a && i < a->u.array.len; i++) {
        e = a->u.array.values[i];
        fprintf(f, "  %-4s %-11s %s\n",
                YAJL_IS_TRUE(jget(e, "ok", yajl_t_any)) ? "ok" : "FAIL",
                jstr(e, "check"), jstr(e, "detail"));
    }
    e = jget(v, "params", yajl_t_object);
    if (e && YAJL_IS_NUMBER(jget(e, "downtime_limit_ms", yajl_t_any)))
        fprintf(f, "limits: downtime %lld ms, bandwidth %s, compression "
                "%s\n",
                YAJL_GET_INTEGER(jget(e, "downtime_limit_ms", yajl_t_any)),
                libxlmig_bandwidth_str((double)YAJL_GET_INTEGER(
                    jget(e, "bandwidth_limit", yajl_t_any)), true, bw,
                    sizeof(bw)),
                jstr(e, "compression") ? jstr(e, "compression") : "auto");
    if (jstr(v, "transport"))
        fprintf(f, "transport: %s\n", jstr(v, "transport"));
    e = jget(v, "prediction", yajl_t_object);
    if (e && YAJL_IS_NUMBER(jget(e, "total_ms", yajl_t_any)))
        fprintf(f, "predicted: %lld ms, %lld round(s) after the first, "
                "downtime %lld ms (%.0f pages/s dirtied, %s)\n",
                YAJL_GET_INTEGER(jget(e, "total_ms", yajl_t_any)),
                YAJL_GET_INTEGER(jget(e, "rounds", yajl_t_any)),
                YAJL_GET_INTEGER(jget(e, "downtime_ms", yajl_t_any)),
                YAJL_GET_DOUBLE(jget(e, "dirty_rate", yajl_t_any)),
                libxlmig_bandwidth_str(YAJL_GET_DOUBLE(
                    jget(e, "bandwidth", yajl_t_any)), false, bw,
                    sizeof(bw)));
    if (e && YAJL_IS_NUMBER(jget(e, "memory_rate", yajl_t_any)) &&
        YAJL_IS_NUMBER(jget(e, "skipped_share", yajl_t_any)))
        fprintf(f, "  from its content: memory at %.1f MiB/s (%s), %.0f%% "
                "of pages left out (zero)\n",
                YAJL_GET_DOUBLE(jget(e, "memory_rate", yajl_t_any)) /
                1048576.0,
                !jstr(e, "compression") ||
                !strcmp(jstr(e, "compression"), "off")
                ? "raw" : jstr(e, "compression"),
                YAJL_GET_DOUBLE(jget(e, "skipped_share", yajl_t_any)) * 100);
    a = jget(v, "attempts", yajl_t_array);
    for (i = 0; a && i < a->u.array.len; i++) {
        e = a->u.array.values[i];
        fprintf(f, "stream over %s (%s -> %s): %s%s%s; %s\n",
                jstr(e, "network"), jstr(e, "local"), jstr(e, "peer"),
                jstr(e, "result"), jstr(e, "error") ? ": " : "",
                jstr(e, "error") ? jstr(e, "error") : "",
                jstr(e, "transport") ? jstr(e, "transport") : "unencrypted");
        print_paths(f, jget(e, "paths", yajl_t_array));
    }
    if (jstr(v, "resolved_via"))
        fprintf(f, "handoff settled by asking %s over %s\n",
                jstr(v, "target"), jstr(v, "resolved_via"));
    if (jstr(v, "outcome"))
        fprintf(f, "outcome: %s\n", jstr(v, "outcome"));
    e = jget(v, "prediction_error_pct", yajl_t_any);
    if (e && YAJL_IS_NUMBER(e))
        fprintf(f, "prediction error: %+.0f%% of the measured time\n",
                YAJL_GET_DOUBLE(e));
}

/* The report of a migration, as text or (--json) as one JSON line. */
static void show_report(const char *report, bool dry)
{
    libxlmig_stats st;

    if (g.json) {
        printf("{\"type\":\"report\",\"report\":%s}\n", report);
        return;
    }
    print_report(stdout, report);
    if (!dry && !libxlmig_migration_report_stats(g.ctx, report, &st) &&
        st.total_bytes)
        cmd_print_stats(stdout, "migrate-cluster", &st);
}

/* Where the domain is after a failed migration, as its source sees it. */
enum where {
    WHERE_SOURCE,                 /* it runs on the source */
    WHERE_GONE,                   /* not on the source now */
    WHERE_UNKNOWN,                /* the source's xlmigd does not answer */
};

/*
 * Say how the migration of dom from source (NULL: this node) to target
 * failed, why, and where dom is; the exit status.
 */
static int say_failed(int rc, const char *why, const char *dom,
                      const char *target, const char *source,
                      enum where where)
{
    char node[80], on[96], there[96];

    snprintf(node, sizeof(node), "%s", source ? source : "this node");
    snprintf(on, sizeof(on), "on %s", node);
    if (source)
        snprintf(there, sizeof(there), "on %s", source);
    else
        snprintf(there, sizeof(there), "here");
    if (rc == LIBXLMIG_ERROR_AMBIGUOUS) {
        cmd_fail(rc, "%s: both copies of %s are paused; run `xlmig "
                 "recover %s`%s%s when a migration network to %s works",
                 why, dom, dom, source ? " on " : "", source ? source : "",
                 target);
        return EXIT_AMBIGUOUS;
    }
    if (rc == LIBXLMIG_ERROR_BACKEND)
        /* No xlmigd to ask: the migration never began. */
        return cmd_fail(rc, "cannot migrate %s to %s: %s; nothing was "
                        "sent, %s was not touched", dom, target, why, dom);
    if (where == WHERE_SOURCE)
        return cmd_fail(rc, "migration of %s to %s failed: %s; %s runs %s",
                        dom, target, why, dom, on);
    if (where == WHERE_UNKNOWN)
        return cmd_fail(rc, "migration of %s to %s failed: %s; xlmigd %s "
                        "does not answer (did it end?): its domains keep "
                        "running, and when it is back it settles what this "
                        "migration left; see where %s runs with `xlmig "
                        "list` %s and on %s", dom, target, why, on, dom,
                        there, target);
    return cmd_fail(rc, "migration of %s to %s failed: %s; %s is not %s "
                    "now: look for it on %s with `xlmig list`, and settle "
                    "a %s%s copy left %s with `xlmig recover %s`%s", dom,
                    target, why, dom, on, target, dom, "--migratedaway",
                    there, dom, source ? " there" : "");
}

/* A migration job followed from here. */
struct follow {
    const char *from, *dom, *target;
    bool quiet;                   /* errors only (balance) */
    bool failed;                  /* an error event came */
    int rc;
    char why[1024];
    enum where where;
};

/* ops_job_event_fn of a followed migration. */
static void on_job_event(void *user, const char *type, const char *json)
{
    struct follow *f = user;
    char err[256];
    yajl_val v, here, code;

    if (!strcmp(type, "progress")) {
        if (g.json && !f->quiet) {
            printf("%s\n", json);
            fflush(stdout);       /* a pipe or file sees it as it comes */
        }
        return;
    }
    if (strcmp(type, "error"))
        return;
    v = yajl_tree_parse(json, err, sizeof(err));
    code = v ? jget(v, "code", yajl_t_number) : NULL;
    here = v ? jget(v, "domain_here", yajl_t_any) : NULL;
    f->failed = true;
    f->rc = code && YAJL_IS_INTEGER(code) ? (int)YAJL_GET_INTEGER(code)
                                          : LIBXLMIG_ERROR_FAIL;
    snprintf(f->why, sizeof(f->why), "%s",
             v && jstr(v, "message") ? jstr(v, "message") : "");
    f->where = !here ? WHERE_UNKNOWN : YAJL_IS_TRUE(here) ? WHERE_SOURCE
                                                          : WHERE_GONE;
    if (v)
        yajl_tree_free(v);
}

int migrate_follow(libxlmig_cluster *cl, const char *from, const char *job,
                   const char *dom, const char *target, bool dry, bool quiet,
                   volatile sig_atomic_t *stop)
{
    struct follow f = { .from = from, .dom = dom, .target = target,
                        .quiet = quiet };
    const char *report;
    yajl_val last = NULL;
    int st;

    st = ops_job_follow(cl, from, job, on_job_event, &f, stop, &last);
    report = ops_jstr(last, "report");
    if (report && !quiet)
        show_report(report, dry);
    if (last)
        yajl_tree_free(last);
    if (st < 0) {
        fprintf(stderr, "%s: see where %s runs with `xlmig list` on %s and "
                "on %s\n", g.progname, dom, from, target);
        return EXIT_FAILED;
    }
    if (st == 0) {
        if (!g.json && !quiet)
            printf("%s %s\n", dom, dry ? "passed the pre-flight checks"
                                        : "now runs on the target");
        return EXIT_OK;
    }
    if (f.failed)
        return say_failed(f.rc, f.why, dom, target, from, f.where);
    return cmd_fail(LIBXLMIG_ERROR_FAIL, "the migration of %s on %s ended "
                    "with status %d", dom, from, st);
}

static volatile sig_atomic_t remote_stop;

static void on_remote_stop(int sig)
{
    remote_stop = 1;
}

/*
 * --from NODE: the migration of DOMAIN, which runs on NODE, as a job of
 * NODE's xlmigd (jobs.c), followed here: its output, its exit status;
 * Ctrl-C cancels it there.
 */
static int migrate_remote(const char *from, const char *dom,
                          const char *target, const libxlmig_params *params,
                          bool dry)
{
    libxlmig_cluster *cl = NULL;
    char *job = NULL;
    int rc, ret;

    rc = ops_open_cluster(&cl);
    if (rc) return EXIT_FAILED;
    if (!strcmp(from, libxlmig_cluster_cfg(cl)->nodes[
                          libxlmig_cluster_self(cl)].name)) {
        libxlmig_cluster_free(cl);
        return -1;                      /* this node: the usual way */
    }
    rc = libxlmig_job_start(g.ctx, cl, from, "migrate", params, dry, false,
                            dom, target, &job);
    if (rc) {
        cmd_fail(rc, "cannot start the migration of %s on %s: %s", dom,
                 from, libxlmig_last_error(g.ctx));
        libxlmig_cluster_free(cl);
        return EXIT_FAILED;
    }
    ops_on_stop_signals(on_remote_stop);
    ret = migrate_follow(cl, from, job, dom, target, dry, false,
                         &remote_stop);
    free(job);
    libxlmig_cluster_free(cl);
    return ret;
}

/* A migration from here failed: say so, after looking where it is. */
static int migrate_failed_here(int rc, const char *target)
{
    /* Say where the domain is only after looking: xlmigd may have ended
     * (crashed, killed) in the middle of the migration. */
    char *why = strdup(libxlmig_last_error(g.ctx));
    enum where where = WHERE_UNKNOWN;
    bool here = false;
    uint32_t domid;
    int ret;

    if (rc != LIBXLMIG_ERROR_AMBIGUOUS &&
        !libxlmig_backend_open(g.ctx, g.backend) &&
        !libxlmig_domain_lookup(g.ctx, migrate_domain, &here, &domid))
        where = here ? WHERE_SOURCE : WHERE_GONE;
    ret = say_failed(rc, why ? why : "", migrate_domain, target, NULL,
                     where);
    free(why);
    return ret;
}

int main_migrate_cluster(int argc, char **argv)
{
    static const struct option lo[] = {
        { "dry-run", no_argument, NULL, 'n' },
        { "from", required_argument, NULL, 'F' },
        CMD_PARAM_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    const char *from = NULL;
    static sigset_t set;
    libxlmig_params params;
    const char *target;
    char *report = NULL;
    bool dry = g.dry_run;
    pthread_t t;
    int opt, rc, ret;

    libxlmig_params_init(&params);
    while ((opt = cmd_getopt(argc, argv, "nF:" CMD_PARAM_OPTS, lo,
                             "migrate-cluster", 2)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'n') {
            dry = true;
            continue;
        }
        if (opt == 'F') {
            from = optarg;
            continue;
        }
        ret = cmd_param_opt("migrate-cluster", opt, optarg, &params);
        if (ret <= 0) return EXIT_USAGE;
    }
    if (argc - optind != 2)
        return cmd_usage_error("migrate-cluster", "need DOMAIN and TARGET");
    migrate_domain = argv[optind];
    target = argv[optind + 1];
    if (from) {
        ret = migrate_remote(from, migrate_domain, target, &params, dry);
        if (ret >= 0)
            return ret;
    }

    /* The migration runs in xlmigd; this process shows it. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_create(&t, NULL, cancel_thread, &set);
    pthread_detach(t);

    rc = libxlmig_migrate_cluster(g.ctx, migrate_domain, target, &params,
                                  dry, cmd_progress, stdout, &report);
    if (report)
        show_report(report, dry);
    free(report);
    if (rc)
        return migrate_failed_here(rc, target);
    if (!g.json)
        printf("%s %s\n", migrate_domain,
               dry ? "passed the pre-flight checks" : "now runs on the "
               "target");
    return EXIT_OK;
}

int main_cancel(int argc, char **argv)
{
    int opt, rc;

    while ((opt = cmd_getopt(argc, argv, "", NULL, "cancel", 1)) != 0)
        return opt == 'h' ? EXIT_OK : EXIT_USAGE;
    if (argc - optind != 1)
        return cmd_usage_error("cancel", "need DOMAIN");
    rc = libxlmig_migrate_cancel(g.ctx, argv[optind]);
    if (rc)
        return cmd_fail(rc, NULL);
    if (!g.json)
        printf("cancel sent: %s stays on this node\n", argv[optind]);
    return EXIT_OK;
}

int main_recover(int argc, char **argv)
{
    char *report = NULL;
    int opt, rc;

    while ((opt = cmd_getopt(argc, argv, "", NULL, "recover", 1)) != 0)
        return opt == 'h' ? EXIT_OK : EXIT_USAGE;
    if (argc - optind != 1)
        return cmd_usage_error("recover", "need DOMAIN");
    rc = libxlmig_migrate_recover(g.ctx, argv[optind], &report);
    if (report) {
        if (g.json)
            printf("{\"type\":\"report\",\"report\":%s}\n", report);
        else
            print_report(stdout, report);
    }
    free(report);
    if (rc)
        return rc == LIBXLMIG_ERROR_AMBIGUOUS
               ? (cmd_fail(rc, NULL), EXIT_AMBIGUOUS) : cmd_fail(rc, NULL);
    return EXIT_OK;
}
