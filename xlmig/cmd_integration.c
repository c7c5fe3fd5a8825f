/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig integration --nodes A,B[,...] [--hops N] [--drain] [--probe
 * ADDR[:PORT]] [--tap FILE] [--junit FILE] DOMAIN`: the job an
 * OSSTest-style integration harness runs.  A bounded series of
 * migrations of DOMAIN around the nodes (or drains of the node it runs on
 * and its return), with after every move the checks that matter: the
 * migration worked, the domain runs exactly once in the whole cluster and
 * on the node it should, and it answers its client probe (the echo
 * service `xlmig probe` talks to).  The results are TAP, and JUnit XML
 * made from the TAP by tap2junit (TAP::Formatter::JUnit, Debian's
 * libtap-formatter-junit-perl); the exit status is 0 only when every
 * check passed.  A migration from another node runs as a job of that
 * node's xlmigd; one from this node through this node's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "opsutil.h"

#define OPT_HOPS   0x100
#define OPT_NODES  0x101
#define OPT_DRAIN  0x102
#define OPT_PROBE  0x103
#define OPT_TAP    0x104
#define OPT_JUNIT  0x105

#define INTEG_MAX_HOPS      1000
#define INTEG_MAX_NODES     64
#define INTEG_PROBE_MS      1000    /* the probe after a move (ms) */
#define INTEG_PROBE_EVERY   10      /* one echo request each (ms) */
#define INTEG_PROBE_PORT    LIBXLMIG_ECHO_PORT

extern char **environ;

static struct {
    libxlmig_cluster *cl;
    const char *self;
    const char *domain;
    const char *nodes[INTEG_MAX_NODES];
    int nr_nodes;
    libxlmig_params params;
    char probe_addr[64];
    unsigned probe_port;            /* 0: no probe */
    FILE *tap;                      /* where TAP goes */
    FILE *copy;                     /* a second copy (for tap2junit) */
    int n;                          /* tests so far */
    int failed;
    volatile sig_atomic_t stop;
} I;

static void on_stop(int sig)
{
    I.stop = 1;
}

/* ---- TAP --------------------------------------------------------------- */

static void tap_line(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void tap_line(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(I.tap, fmt, ap);
    va_end(ap);
    fputc('\n', I.tap);
    fflush(I.tap);
    if (I.copy) {
        va_start(ap, fmt);
        vfprintf(I.copy, fmt, ap);
        va_end(ap);
        fputc('\n', I.copy);
        fflush(I.copy);
    }
}

static void tap_ok(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tap_ok(bool ok, const char *fmt, ...)
{
    char desc[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    I.n++;
    if (!ok)
        I.failed++;
    tap_line("%sok %d - %s", ok ? "" : "not ", I.n, desc);
}

/* Each line of text as a TAP comment. */
static void tap_diag(const char *text)
{
    const char *p = text, *nl;

    while (p && *p) {
        nl = strchr(p, '\n');
        tap_line("# %.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
        p = nl ? nl + 1 : NULL;
    }
}

/* ---- where the domain runs ------------------------------------------- */

/*
 * Every copy of the domain in the cluster, asking every node of the
 * config: *where_r the node that runs it when exactly one running copy
 * named DOMAIN exists and no handoff copy; false otherwise, with why.
 */
static bool locate(const char **where_r, char *why, size_t len)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(I.cl);
    char found[1024] = "";
    int copies = 0, running = 0, i;
    size_t k, dl = strlen(I.domain);
    bool ok = true;

    *where_r = NULL;
    for (i = 0; i < c->num_nodes; i++) {
        struct ops_node n;
        yajl_val a;

        if (ops_node_query(I.cl, c->nodes[i].name, -1, &n)) {
            snprintf(why, len, "%s does not answer (%s): cannot tell",
                     c->nodes[i].name, n.error);
            ops_node_dispose(&n);
            return false;
        }
        a = ops_jget(n.info, "domain_info", yajl_t_array);
        for (k = 0; a && k < a->u.array.len; k++) {
            yajl_val d = a->u.array.values[k];
            const char *name = ops_jstr(d, "name");
            const char *state = ops_jstr(d, "state");

            if (!name || strncmp(name, I.domain, dl) ||
                (name[dl] && !libxlmig_handoff_copy(name)))
                continue;
            copies++;
            snprintf(found + strlen(found), sizeof(found) - strlen(found),
                     "%s%s:%s:%s", copies > 1 ? " " : "", c->nodes[i].name,
                     name, state ? state : "?");
            if (!name[dl] && state && !strcmp(state, "running")) {
                running++;
                *where_r = c->nodes[i].name;
            }
        }
        ops_node_dispose(&n);
    }
    if (copies != 1 || running != 1) {
        snprintf(why, len, "%d copies, %d running: %s", copies, running,
                 copies ? found : "none anywhere");
        ok = false;
        *where_r = NULL;
    } else {
        snprintf(why, len, "%s", found);
    }
    return ok;
}

/* The check after every move: once in the cluster, on want. */
static bool check_once(const char *label, const char *want,
                       const char **where_r)
{
    char why[1200];
    const char *where;
    bool ok = locate(&where, why, sizeof(why));

    ok = ok && (!want || !strcmp(where, want));
    tap_ok(ok, "%s: %s runs exactly once in the cluster, on %s", label,
           I.domain, want ? want : where ? where : "one node");
    if (!ok)
        tap_line("#   found: %s", why);
    *where_r = where;
    return ok;
}

/* ---- the probe ------------------------------------------------------ */

typedef struct probe_run {
    pthread_t t;
    volatile sig_atomic_t stop;
    libxlmig_echo_result r;
    int rc;
    bool started;
} probe_run;

static void *probe_main(void *arg)
{
    probe_run *p = arg;
    libxlmig_ctx *ctx = NULL;

    p->rc = libxlmig_ctx_alloc(&ctx, NULL);
    if (!p->rc)
        p->rc = libxlmig_echo_probe(ctx, I.probe_addr, I.probe_port,
                                    INTEG_PROBE_EVERY, 24 * 3600 * 1000,
                                    &p->stop, &p->r);
    libxlmig_ctx_free(ctx);
    return NULL;
}

/* A client talks to the domain through the move (its longest gap). */
static void probe_during_start(probe_run *p)
{
    memset(p, 0, sizeof(*p));
    if (I.probe_port)
        p->started = !pthread_create(&p->t, NULL, probe_main, p);
}

static void probe_during_end(probe_run *p)
{
    if (!p->started)
        return;
    p->stop = 1;
    pthread_join(p->t, NULL);
}

/* After the move: the domain answers on its new node. */
static bool check_probe(const char *label, const probe_run *during)
{
    libxlmig_echo_result r;
    int rc;

    if (!I.probe_port)
        return true;
    rc = libxlmig_echo_probe(g.ctx, I.probe_addr, I.probe_port,
                             INTEG_PROBE_EVERY, INTEG_PROBE_MS, &I.stop, &r);
    tap_ok(!rc && r.received > 0, "%s: %s answers its probe at %s:%u "
           "(%llu of %llu answered)", label, I.domain, I.probe_addr,
           I.probe_port, (unsigned long long)r.received,
           (unsigned long long)r.sent);
    if (rc)
        tap_line("#   %s", libxlmig_last_error(g.ctx));
    if (during && during->started && !during->rc)
        tap_line("#   during the move: longest gap between answers %.1f ms, "
                 "%llu of %llu lost", during->r.longest_gap_ns / 1e6,
                 (unsigned long long)during->r.lost,
                 (unsigned long long)during->r.sent);
    return !rc && r.received > 0;
}

/* ---- moves ------------------------------------------------------------ */

/* Where a job's events go while run_job follows it. */
struct job_out {
    FILE *out, *err;
};

/* An event of a job: errors to err (their message), the rest to out. */
static void job_event(void *user, const char *type, const char *json)
{
    struct job_out *o = user;
    char err[256];
    yajl_val v;
    const char *msg;

    if (strcmp(type, "error")) {
        fprintf(o->out, "%s\n", json);
        return;
    }
    v = yajl_tree_parse(json, err, sizeof(err));
    msg = ops_jstr(v, "message");
    fprintf(o->err, "%s\n", msg ? msg : "the job failed");
    if (v)
        yajl_tree_free(v);
}

/*
 * Run a job on node (a migration or a drain) and wait for its end: its
 * exit status, its events in *out_r, its errors in *err_r and its report
 * in *report_r (caller frees all three; each may be NULL).
 */
static int run_job(const char *node, const char *kind, const char *target,
                   char **out_r, char **err_r, char **report_r)
{
    char *job = NULL, *out = NULL, *err = NULL;
    size_t ol = 0, el = 0;
    struct job_out o = { open_memstream(&out, &ol),
                         open_memstream(&err, &el) };
    yajl_val last = NULL;
    const char *report;
    int rc, st = -1;

    *out_r = *err_r = *report_r = NULL;
    if (!o.out || !o.err) {
        if (o.out) fclose(o.out);
        if (o.err) fclose(o.err);
        free(out);
        free(err);
        return -1;
    }
    rc = libxlmig_job_start(g.ctx, I.cl, node, kind, &I.params, false, false,
                            !strcmp(kind, "migrate") ? I.domain : NULL,
                            target, &job);
    if (rc)
        fprintf(o.err, "cannot start the %s on %s: %s\n", kind, node,
                libxlmig_last_error(g.ctx));
    else
        st = ops_job_follow(I.cl, node, job, job_event, &o, &I.stop, &last);
    fclose(o.out);
    fclose(o.err);
    report = ops_jstr(last, "report");
    if (report && *report)
        *report_r = strdup(report);
    if (last)
        yajl_tree_free(last);
    free(job);
    *out_r = out;
    *err_r = err;
    return st;
}

/* Move the domain from `from` to `to`; the TAP line says how it went. */
static bool migrate_hop(const char *label, const char *from, const char *to)
{
    libxlmig_stats st;
    char *report = NULL, *out = NULL, *err = NULL;
    bool have = false, ok;
    int rc;

    memset(&st, 0, sizeof(st));
    if (!strcmp(from, I.self)) {
        rc = libxlmig_migrate_cluster(g.ctx, I.domain, to, &I.params, false,
                                      NULL, NULL, &report);
        have = report && !libxlmig_migration_report_stats(g.ctx, report,
                                                          &st);
        ok = !rc;
        if (rc)
            err = strdup(libxlmig_last_error(g.ctx));
    } else {
        rc = run_job(from, "migrate", to, &out, &err, &report);
        have = report && !libxlmig_migration_report_stats(g.ctx, report,
                                                          &st);
        ok = rc == 0;
    }
    if (have && st.total_bytes)
        tap_ok(ok, "%s: %s migrated %s -> %s in %llu ms, downtime %.1f ms",
               label, I.domain, from, to,
               (unsigned long long)st.total_time_ms, st.downtime_us / 1000.0);
    else
        tap_ok(ok, "%s: %s migrated %s -> %s", label, I.domain, from, to);
    if (err && *err)
        tap_diag(err);
    free(report);
    free(out);
    free(err);
    return ok;
}

/* Drain `node` (where the domain runs); it must leave. */
static bool drain_hop(const char *label, const char *node)
{
    char *out = NULL, *err = NULL, *report = NULL;
    int st = run_job(node, "drain", NULL, &out, &err, &report);

    tap_ok(st == 0, "%s: drain of %s moved every domain away (exit %d)",
           label, node, st);
    if (st != 0 && out && *out)
        tap_diag(out);
    if (err && *err)
        tap_diag(err);
    free(out);
    free(err);
    free(report);
    return st == 0;
}

/* The next node of the list after cur (the first if cur is not in it). */
static const char *next_node(const char *cur)
{
    int i;

    for (i = 0; i < I.nr_nodes; i++)
        if (!strcmp(I.nodes[i], cur))
            return I.nodes[(i + 1) % I.nr_nodes];
    return I.nodes[0];
}

/* ---- JUnit through tap2junit ----------------------------------------- */

/* tap_file as JUnit XML into junit (tap2junit writes TAP_FILE.xml). */
static int junit_write(const char *tap_file, const char *junit)
{
    char *argv[] = { "tap2junit", "--name", NULL, (char *)tap_file, NULL };
    char name[128], xml[4200], buf[8192];
    posix_spawn_file_actions_t fa;
    ssize_t r;
    pid_t pid;
    int st = 0, e, in = -1, outfd = -1, ret = -1;

    snprintf(name, sizeof(name), "xlmig-integration-%s", I.domain);
    argv[2] = name;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    e = posix_spawnp(&pid, "tap2junit", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        fprintf(stderr, "%s integration: cannot run tap2junit (%s): install "
                "Debian's libtap-formatter-junit-perl\n", g.progname,
                strerror(e));
        return -1;
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "%s integration: tap2junit failed on %s\n",
                g.progname, tap_file);
        return -1;
    }
    snprintf(xml, sizeof(xml), "%s.xml", tap_file);
    in = open(xml, O_RDONLY | O_CLOEXEC);
    outfd = open(junit, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || outfd < 0)
        goto out;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (write(outfd, buf, (size_t)r) != r)
            goto out;
    ret = r == 0 ? 0 : -1;
 out:
    if (ret)
        fprintf(stderr, "%s integration: cannot write %s: %s\n", g.progname,
                junit, strerror(errno));
    if (in >= 0) close(in);
    if (outfd >= 0 && close(outfd))
        ret = -1;
    unlink(xml);
    return ret;
}

/* ---- the command ------------------------------------------------------ */

static int parse_nodes(char *list)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(I.cl);
    char *tok, *save = NULL;
    int i;

    for (tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (I.nr_nodes == INTEG_MAX_NODES)
            return cmd_usage_error("integration", "at most %d nodes",
                                   INTEG_MAX_NODES);
        if (libxlmig_cluster_config_node(c, tok) < 0)
            return cmd_usage_error("integration", "no node %s in the "
                                   "cluster %s", tok, c->file);
        for (i = 0; i < I.nr_nodes; i++)
            if (!strcmp(I.nodes[i], tok))
                return cmd_usage_error("integration", "node %s twice in "
                                       "--nodes", tok);
        I.nodes[I.nr_nodes++] = tok;
    }
    return 0;
}

/* The series itself; the TAP lines say how it went. */
static void run_series(bool drain, unsigned hops)
{
    const char *where, *to;
    probe_run during;
    char label[32];
    unsigned h;

    if (!check_once("before", NULL, &where))
        return;
    if (!check_probe("before", NULL))
        return;
    for (h = 1; h <= hops && !I.stop; h++) {
        const char *home = where;
        bool moved;

        if (drain) {
            snprintf(label, sizeof(label), "drain %u", h);
            tap_line("# %s: drain %s, where %s runs, then bring it back",
                     label, home, I.domain);
            probe_during_start(&during);
            moved = drain_hop(label, home);
            probe_during_end(&during);
            if (!check_once(label, NULL, &where) || !strcmp(where, home)) {
                if (where && !strcmp(where, home))
                    tap_line("#   %s is still on %s", I.domain, home);
                return;
            }
            if (!check_probe(label, &during) || !moved)
                return;
            if (libxlmig_maintenance_set(g.ctx, I.cl, home, false)) {
                tap_ok(false, "%s: %s leaves maintenance", label, home);
                tap_line("#   %s", libxlmig_last_error(g.ctx));
                return;
            }
            snprintf(label, sizeof(label), "return %u", h);
            to = home;
        } else {
            snprintf(label, sizeof(label), "hop %u", h);
            to = next_node(where);
        }
        tap_line("# %s: %s %s -> %s", label, I.domain, where, to);
        probe_during_start(&during);
        moved = migrate_hop(label, where, to);
        probe_during_end(&during);
        /* Where it is now decides the next hop; after a failure it should
         * be where it was. */
        if (!check_once(label, moved ? to : NULL, &where))
            return;
        if (!check_probe(label, &during) || !moved)
            return;
    }
}

int main_integration(int argc, char **argv)
{
    static const struct option lo[] = {
        { "hops", required_argument, NULL, OPT_HOPS },
        { "nodes", required_argument, NULL, OPT_NODES },
        { "drain", no_argument, NULL, OPT_DRAIN },
        { "probe", required_argument, NULL, OPT_PROBE },
        { "tap", required_argument, NULL, OPT_TAP },
        { "junit", required_argument, NULL, OPT_JUNIT },
        { "dry-run", no_argument, NULL, 'n' },
        CMD_PARAM_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    const char *tap_path = NULL, *junit = NULL, *probe = NULL;
    char *nodes = NULL, tmpdir[] = "/tmp/xlmig-integration.XXXXXX";
    char tap_file[sizeof(tmpdir) + 32] = "";
    unsigned long long hops = 0, port;
    bool drain = false, dry = g.dry_run;
    int opt, ret, i;

    memset(&I, 0, sizeof(I));
    libxlmig_params_init(&I.params);
    while ((opt = cmd_getopt(argc, argv, "n" CMD_PARAM_OPTS, lo,
                             "integration", 1)) != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'n': dry = true; break;
        case OPT_HOPS:
            if (!cmd_parse_range("integration", "hop count", optarg, 1,
                                 INTEG_MAX_HOPS, "", &hops))
                return EXIT_USAGE;
            break;
        case OPT_NODES: nodes = optarg; break;
        case OPT_DRAIN: drain = true; break;
        case OPT_PROBE: probe = optarg; break;
        case OPT_TAP: tap_path = optarg; break;
        case OPT_JUNIT: junit = optarg; break;
        default:
            ret = cmd_param_opt("integration", opt, optarg, &I.params);
            if (ret <= 0) return EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cmd_usage_error("integration", "need one DOMAIN");
    I.domain = argv[optind];
    if (!nodes && !drain)
        return cmd_usage_error("integration", "--nodes A,B[,...] names "
                               "where the domain goes");
    if (probe) {
        char *colon;

        snprintf(I.probe_addr, sizeof(I.probe_addr), "%s", probe);
        colon = strchr(I.probe_addr, ':');
        port = INTEG_PROBE_PORT;
        if (colon) {
            *colon = '\0';
            if (!cmd_parse_range("integration", "probe port", colon + 1,
                                 LIBXLMIG_PORT_MIN, LIBXLMIG_PORT_MAX, "",
                                 &port))
                return EXIT_USAGE;
        }
        I.probe_port = (unsigned)port;
    }
    if (ops_open_cluster(&I.cl))
        return EXIT_FAILED;
    I.self = libxlmig_cluster_cfg(I.cl)->nodes[
                 libxlmig_cluster_self(I.cl)].name;
    if (nodes) {
        ret = parse_nodes(nodes);
        if (ret) goto out;
        if (!drain && I.nr_nodes < 2) {
            ret = cmd_usage_error("integration", "--nodes needs two nodes "
                                  "or more");
            goto out;
        }
    }
    if (!hops)
        hops = drain ? 1 : (unsigned)I.nr_nodes;
    if (dry) {
        printf("%s: %llu %s%s", I.domain, hops, drain ? "drain(s) of the "
               "node it runs on, each with its return" : "hop(s) around",
               drain ? "" : " ");
        for (i = 0; !drain && i < I.nr_nodes; i++)
            printf("%s%s", i ? "," : "", I.nodes[i]);
        printf("; after each move: it runs exactly once in the cluster%s\n",
               I.probe_port ? ", it answers its probe" : "");
        ret = EXIT_OK;
        goto out;
    }

    I.tap = stdout;
    if (tap_path && strcmp(tap_path, "-")) {
        I.tap = fopen(tap_path, "w");
        if (!I.tap) {
            ret = cmd_fail(LIBXLMIG_ERROR_IO, "cannot write %s: %s",
                           tap_path, strerror(errno));
            goto out;
        }
    }
    if (junit) {
        if (!mkdtemp(tmpdir)) {
            ret = cmd_fail(LIBXLMIG_ERROR_IO, "cannot make %s: %s", tmpdir,
                           strerror(errno));
            goto out;
        }
        snprintf(tap_file, sizeof(tap_file), "%s/integration.tap", tmpdir);
        I.copy = fopen(tap_file, "w");
        if (!I.copy) {
            ret = cmd_fail(LIBXLMIG_ERROR_IO, "cannot write %s: %s",
                           tap_file, strerror(errno));
            goto out;
        }
    }
    ops_on_stop_signals(on_stop);
    tap_line("# xlmig integration: %s, %llu %s, from %s", I.domain, hops,
             drain ? "drain(s) and return(s)" : "hop(s)", I.self);
    run_series(drain, (unsigned)hops);
    if (I.stop)
        tap_line("# interrupted");
    tap_line("1..%d", I.n);
    ret = I.failed || I.stop ? EXIT_FAILED : EXIT_OK;
    if (I.copy) {
        fclose(I.copy);
        I.copy = NULL;
        if (junit_write(tap_file, junit))
            ret = EXIT_FAILED;
    }
    if (I.failed)
        fprintf(stderr, "%s integration: %d of %d checks failed\n",
                g.progname, I.failed, I.n);
 out:
    if (I.copy)
        fclose(I.copy);
    if (tap_file[0]) {
        unlink(tap_file);
        rmdir(tmpdir);
    }
    if (I.tap && I.tap != stdout)
        fclose(I.tap);
    libxlmig_cluster_free(I.cl);
    return ret;
}
