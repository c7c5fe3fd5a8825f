/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Jobs another node starts here (docs/drain.md, "From another node"): the
 * drain of this node, or the migration of one of its domains to another
 * node, asked for by an authenticated member of the cluster.  xlmigd
 * forks a child for each job, in a session of its own, which calls the
 * library as the xlmig command would (libxlmig_drain_run,
 * libxlmig_migrate_cluster) with a context, backend and cluster of its
 * own, through this daemon's control socket.  A child that crashes takes
 * only its job down, and a job belongs to this node: when the asking node
 * goes away, or this daemon restarts, it goes on.  The child writes its
 * events, one line of JSON each, and its report to files under
 * $STATE_DIR/jobs, which job_status hands back piece by piece; SIGTERM
 * (job_stop) cancels it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/core.h"
#include "engine/engine.h"
#include "cluster/ops.h"

#define JOBS_MAX        16          /* remembered, running or ended */
#define JOB_CHUNK_MAX   65536       /* event bytes per job_status */
#define JOB_EXIT_FAILED    1        /* a migration failed */
#define JOB_EXIT_AMBIGUOUS 3        /* LIBXLMIG_ERROR_AMBIGUOUS */

typedef struct job {
    bool used;
    char id[17];
    char kind[16];                /* "drain" or "migrate" */
    char asked_by[64];
    pid_t pid;
    bool running;
    int wstatus;                  /* waitpid status once ended */
    char report[PATH_MAX];        /* its report file */
    uint64_t seq;                 /* start order, for eviction */
    char domain[64], target[64];  /* a migration's, for status */
} job;

/* What a job does: the checked fields of its job_start request. */
typedef struct job_spec {
    bool drain;                   /* else a migration */
    libxlmig_params params;
    bool dry, cron;
    char domain[LIBXLMIG__DOMAIN_NAME_MAX + 1];  /* migration */
    char target[64];              /* migration: a node of the cluster */
    char self[64];                /* this node */
    char report[PATH_MAX];        /* where the child writes its report */
} job_spec;

static struct {
    pthread_mutex_t lock;
    job table[JOBS_MAX];
    uint64_t seq;
    char socket[PATH_MAX];        /* this daemon's control socket */
    char config[PATH_MAX];        /* the cluster config */
    libxlmig_backend_kind backend;
    bool ready;
} J = { .lock = PTHREAD_MUTEX_INITIALIZER };

static char *jobs_dir(libxlmig__gc *gc)
{
    return GCSPRINTF("%s/jobs", libxlmig_state_dir());
}

static char *job_file(libxlmig__gc *gc, const char *id, const char *ext)
{
    return GCSPRINTF("%s/%s.%s", jobs_dir(gc), id, ext);
}

/* The files of a forgotten job, or of every job of an earlier daemon. */
static void remove_files(libxlmig__gc *gc, const char *id)
{
    const char *dir = jobs_dir(gc);
    struct dirent *e;
    DIR *d = opendir(dir);

    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' ||
            (id && strncmp(e->d_name, id, strlen(id))))
            continue;
        unlink(GCSPRINTF("%s/%s", dir, e->d_name));
    }
    if (d)
        closedir(d);
}

int libxlmig__jobs_init(libxlmig__gc *gc, const char *socket,
                        const char *config, const char *backend)
{
    if (libxlmig_backend_kind_from_string(backend, &J.backend)) {
        LOG(WARN, "jobs from other nodes are off: unknown backend %s",
            backend ? backend : "(none)");
        return 0;
    }
    if (!realpath(config, J.config)) {
        LOGE(WARN, "jobs from other nodes are off: %s", config);
        return 0;
    }
    snprintf(J.socket, sizeof(J.socket), "%s", socket);
    mkdir(libxlmig_state_dir(), 0755);
    if (mkdir(jobs_dir(gc), 0700) && errno != EEXIST) {
        LOGE(WARN, "jobs from other nodes are off: cannot create %s",
             jobs_dir(gc));
        return 0;
    }
    remove_files(gc, NULL);
    J.ready = true;
    return 0;
}

/* ---- the child: one job, run by the library --------------------------- */

/* Replace path with text; -1 with errno set on failure. */
static int report_write(const char *path, const char *text)
{
    char tmp[PATH_MAX + 8];
    FILE *f;
    int e;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return -1;
    if (fputs(text, f) < 0 || fclose(f) || rename(tmp, path)) {
        e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

static void write_all(int fd, const char *buf, size_t len)
{
    ssize_t r;

    while (len) {
        r = write(fd, buf, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        buf += r;
        len -= (size_t)r;
    }
}

/*
 * One event line into the events file (fd).  job_status hands back
 * complete lines only, so a line read before its newline waits.
 */
static void event_write(int fd, const char *json)
{
    write_all(fd, json, strlen(json));
    write_all(fd, "\n", 1);
}

/* {"version":1,"type":"error",...}: how the job failed. */
static void event_error(libxlmig__gc *gc, int fd, int rc, const char *msg,
                        const bool *domain_here)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char *json = NULL;

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "type", "error");
    libxlmig__yajl_gen_kv_str(g, "message",
                              msg && *msg ? msg : libxlmig_strerror(rc));
    libxlmig__yajl_gen_kv_int(g, "code", rc);
    if (domain_here)
        libxlmig__yajl_gen_kv_bool(g, "domain_here", *domain_here);
    yajl_gen_map_close(g);
    if (!libxlmig__json_finish(gc, g, &json)) {
        event_write(fd, json);
        free(json);
    }
}

/* Where a job's events go; ctx only encodes them. */
typedef struct job_out {
    int fd;
    libxlmig_ctx *ctx;
} job_out;

/* libxlmig_drain_event_cb of a drain job (one call at a time). */
static void drain_event_out(void *user, const libxlmig_drain_event *ev)
{
    job_out *o = user;
    char *json = NULL;

    if (!libxlmig_drain_event_to_json(o->ctx, ev, &json))
        event_write(o->fd, json);
    free(json);
}

/* libxlmig_progress_cb of a migration job. */
static void progress_out(void *user, const libxlmig_stats *st)
{
    job_out *o = user;
    GC_INIT(o->ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char *json = NULL;

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "type", "progress");
    libxlmig__yajl_gen_str(g, "stats");
    libxlmig__stats_gen_json(g, st);
    yajl_gen_map_close(g);
    if (!libxlmig__json_finish(gc, g, &json)) {
        event_write(o->fd, json);
        free(json);
    }
    GC_FREE;
}

/* What SIGTERM and SIGINT cancel in a job's process (its stop thread). */
static struct {
    sigset_t set;
    libxlmig_drain *drain;        /* this drain, or */
    const char *domain;           /* the migration of this domain */
} job_stop;

static void *stop_main(void *arg)
{
    libxlmig_ctx *ctx = NULL;
    int sig;

    for (;;) {
        if (sigwait(&job_stop.set, &sig))
            continue;
        if (job_stop.drain) {
            libxlmig_drain_cancel(job_stop.drain);
        } else if (!libxlmig_ctx_alloc(&ctx, NULL)) {
            libxlmig_migrate_cancel(ctx, job_stop.domain);
            libxlmig_ctx_free(ctx);
            ctx = NULL;
        }
    }
    return NULL;
}

/* From now on SIGTERM and SIGINT cancel the drain d or domain's
 * migration.  Once: the job's process does one thing. */
static void stop_on_signals(libxlmig_drain *d, const char *domain)
{
    pthread_t t;

    job_stop.drain = d;
    job_stop.domain = domain;
    sigemptyset(&job_stop.set);
    sigaddset(&job_stop.set, SIGTERM);
    sigaddset(&job_stop.set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &job_stop.set, NULL);
    if (!pthread_create(&t, NULL, stop_main, NULL))
        pthread_detach(t);
}

/*
 * A drain job; exits with its libxlmig_drain_result.  The drain is not
 * freed: the stop thread may use it until the process ends.
 */
static int run_drain(libxlmig__gc *gc, libxlmig_cluster *cl,
                     const job_spec *s, job_out *out)
{
    libxlmig_drain_result res = LIBXLMIG_DRAIN_NOT_STARTED;
    libxlmig_drain_opts o;
    libxlmig_drain *d = NULL;
    int rc;

    libxlmig_drain_opts_init(&o);
    o.params = s->params;
    o.dry_run = s->dry;
    o.cron = s->cron;
    o.report_file = s->report;
    o.event_cb = drain_event_out;
    o.user = out;
    if (s->cron)
        openlog("xlmig-drain", LOG_PID, LOG_DAEMON);
    rc = libxlmig_drain_alloc(CTX, cl, &o, &d);
    if (!rc) {
        if (!s->dry)
            stop_on_signals(d, NULL);
        rc = libxlmig_drain_run(d, &res, NULL);
    }
    if (rc)
        event_error(gc, out->fd, rc, libxlmig_last_error(CTX), NULL);
    return res;
}

/* A migration job; exits 0, JOB_EXIT_FAILED or JOB_EXIT_AMBIGUOUS. */
static int run_migrate(libxlmig__gc *gc, const job_spec *s, job_out *out)
{
    char *report = NULL, *why;
    bool here = false;
    uint32_t domid;
    int rc;

    stop_on_signals(NULL, s->domain);
    rc = libxlmig_migrate_cluster(CTX, s->domain, s->target, &s->params,
                                  s->dry, progress_out, out, &report);
    if (report && report_write(s->report, report))
        LOGE(ERROR, "cannot write %s", s->report);
    free(report);
    if (!rc)
        return 0;
    /* Say where the domain is only after looking (as the command). */
    why = GCSTRDUP(libxlmig_last_error(CTX));
    if (libxlmig_domain_lookup(CTX, s->domain, &here, &domid))
        event_error(gc, out->fd, rc, why, NULL);
    else
        event_error(gc, out->fd, rc, why, &here);
    return rc == LIBXLMIG_ERROR_AMBIGUOUS ? JOB_EXIT_AMBIGUOUS
                                          : JOB_EXIT_FAILED;
}

/* The child's own context, backend and cluster; then the job. */
static int job_run(const job_spec *s, int fd)
{
    xentoollog_logger *lg = NULL;
    libxlmig_cluster *cl = NULL;
    libxlmig_ctx *ctx = NULL;
    job_out out = { fd, NULL };
    FILE *log = NULL;
    int status = s->drain ? LIBXLMIG_DRAIN_NOT_STARTED : JOB_EXIT_FAILED;

    /* A logger of its own to the daemon's log (never the daemon's FILE,
     * whose lock another thread may have held at the fork). */
    log = fdopen(dup(2), "w");
    if (log) {
        setvbuf(log, NULL, _IOLBF, 0);
        lg = (xentoollog_logger *)xtl_createlogger_stdiostream(
            log, XTL_WARN, XTL_STDIOSTREAM_SHOW_PID |
                           XTL_STDIOSTREAM_SHOW_DATE |
                           XTL_STDIOSTREAM_HIDE_PROGRESS);
    }
    if (libxlmig_ctx_alloc(&ctx, lg) || libxlmig_ctx_alloc(&out.ctx, NULL))
        goto out;
    {
        GC_INIT(ctx);
        int rc = libxlmig_backend_open(CTX, J.backend);

        if (!rc)
            rc = libxlmig_cluster_open(CTX, J.config, s->self, &cl);
        if (rc)
            event_error(gc, fd, rc, libxlmig_last_error(CTX), NULL);
        else if (s->drain)
            status = run_drain(gc, cl, s, &out);
        else
            status = run_migrate(gc, s, &out);
        GC_FREE;
    }
 out:
    if (log)
        fflush(log);
    return status;
}

/*
 * In the child, after fork: a session of its own, the default signal
 * dispositions, stdin and stdout on /dev/null, stderr (the daemon's log)
 * kept, the events file as fd 3 and nothing else of the daemon's.
 */
static void __attribute__((noreturn)) job_child(const job_spec *s, int evfd)
{
    struct sigaction sa;
    sigset_t none;
    int sig, null;

    setsid();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    if (evfd != 3 && dup2(evfd, 3) < 0)
        _exit(s->drain ? LIBXLMIG_DRAIN_NOT_STARTED : JOB_EXIT_FAILED);
    null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (evfd == 2)
            dup2(null, 2);
    }
    close_range(4, ~0U, 0);
    setenv("XLMIGD_SOCKET", J.socket, 1);
    _exit(job_run(s, 3));
}

/* ---- the daemon's side --------------------------------------------------- */

static void *reap_main(void *arg)
{
    job *j = arg;
    int st = 0;
    pid_t pid = j->pid;

    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&J.lock);
    j->wstatus = st;
    j->running = false;
    pthread_mutex_unlock(&J.lock);
    return NULL;
}

/* A free slot (the oldest ended job's, if need be); J.lock held. */
static job *slot_take(libxlmig__gc *gc)
{
    job *old = NULL;
    int i;

    for (i = 0; i < JOBS_MAX; i++) {
        job *j = &J.table[i];

        if (!j->used)
            return j;
        if (!j->running && (!old || j->seq < old->seq))
            old = j;
    }
    if (old) {
        remove_files(gc, old->id);
        memset(old, 0, sizeof(*old));
    }
    return old;
}

static job *job_find(const char *id)
{
    int i;

    for (i = 0; id && i < JOBS_MAX; i++)
        if (J.table[i].used && !strcmp(J.table[i].id, id))
            return &J.table[i];
    return NULL;
}

/* Fork the child of job j doing s, and its reaper (J.lock held). */
static int job_fork(libxlmig__gc *gc, job *j, const job_spec *s)
{
    char *events = job_file(gc, j->id, "events");
    pthread_attr_t ta;
    pthread_t t;
    int fd, rc;

    fd = open(events, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        LOGE(ERROR, "cannot create %s", events);
        return LIBXLMIG_ERROR_IO;
    }
    j->pid = fork();
    if (j->pid == 0)
        job_child(s, fd);
    close(fd);
    if (j->pid < 0) {
        LOGE(ERROR, "cannot start the job");
        return LIBXLMIG_ERROR_IO;
    }
    j->running = true;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    rc = 0;
    if (pthread_create(&t, &ta, reap_main, j)) {
        /* Without a reaper the job would look running for ever. */
        kill(j->pid, SIGTERM);
        waitpid(j->pid, &j->wstatus, 0);
        j->running = false;
        LOG(ERROR, "cannot watch the job");
        rc = LIBXLMIG_ERROR_FAIL;
    }
    pthread_attr_destroy(&ta);
    return rc;
}

/*
 * Migration parameters as options of the xlmig command, for the log line
 * that says what a job does: those the caller gave (the config decides
 * the others) and the rest when they differ from the named default.
 */
static char *param_args(libxlmig__gc *gc, const libxlmig_params *p)
{
    libxlmig_params d;
    char *s = GCSTRDUP("");

    libxlmig_params_init(&d);
    if (p->given & LIBXLMIG_PARAM_DOWNTIME)
        s = GCSPRINTF("%s -d %llu", s,
                      (unsigned long long)p->downtime_limit_ms);
    /* Exact, in the unit it was most likely given in. */
    if ((p->given & LIBXLMIG_PARAM_BANDWIDTH) &&
        !(p->bandwidth_limit % 1048576))
        s = GCSPRINTF("%s -B %lluMiB", s,
                      (unsigned long long)p->bandwidth_limit >> 20);
    else if ((p->given & LIBXLMIG_PARAM_BANDWIDTH) &&
             !(p->bandwidth_limit % 125000))
        s = GCSPRINTF("%s -B %lluMbit", s,
                      (unsigned long long)p->bandwidth_limit / 125000);
    else if (p->given & LIBXLMIG_PARAM_BANDWIDTH)
        s = GCSPRINTF("%s -B %lluB", s,
                      (unsigned long long)p->bandwidth_limit);
    if (p->given & LIBXLMIG_PARAM_COMPRESSION)
        s = GCSPRINTF("%s --compression=%s", s,
                      libxlmig_compression_to_string(p->compression));
    if (p->max_rounds != d.max_rounds)
        s = GCSPRINTF("%s -r %u", s, p->max_rounds);
    if (p->on_limit != d.on_limit)
        s = GCSPRINTF("%s -L %s", s,
                      libxlmig_limit_action_to_string(p->on_limit));
    if (!p->auto_converge)
        s = GCSPRINTF("%s -A", s);
    return s;
}

/* The xlmig command that does what s does. */
static char *describe(libxlmig__gc *gc, const job_spec *s)
{
    if (s->drain)
        return GCSPRINTF("xlmig drain%s%s%s --report %s",
                         s->dry ? " -n" : "", s->cron ? " --cron" : "",
                         param_args(gc, &s->params), s->report);
    return GCSPRINTF("xlmig migrate-cluster%s%s -- %s %s",
                     s->dry ? " -n" : "", param_args(gc, &s->params),
                     s->domain, s->target);
}

/* The job_start request as a job_spec, checked. */
static int spec_parse(libxlmig__gc *gc, libxlmig_cluster *cl,
                      const char *asked_by, yajl_val args, job_spec *s)
{
    const char *path_params[] = { "params", NULL };
    const char *kind = libxlmig__json_get_str(args, "kind");
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    const char *dom, *target;
    int rc;

    memset(s, 0, sizeof(*s));
    libxlmig_params_init(&s->params);
    if (!kind || (strcmp(kind, "drain") && strcmp(kind, "migrate"))) {
        LOG(ERROR, "job request from %s: unknown kind", asked_by);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    s->drain = !strcmp(kind, "drain");
    snprintf(s->self, sizeof(s->self), "%s",
             libxlmig__cluster_self_name(cl));
    rc = libxlmig__params_parse_json(gc, yajl_tree_get(args, path_params,
                                                       yajl_t_object),
                                     &s->params);
    if (!rc) rc = libxlmig__json_get_bool_opt(gc, args, "dry_run", &s->dry);
    if (!rc) rc = libxlmig__json_get_bool_opt(gc, args, "cron", &s->cron);
    if (rc || s->drain)
        return rc;
    dom = libxlmig__json_get_str(args, "domain");
    target = libxlmig__json_get_str(args, "target");
    if (!libxlmig__name_ok(dom, LIBXLMIG__DOMAIN_NAME_MAX)) {
        LOG(ERROR, "migration job from %s: bad domain name", asked_by);
        return LIBXLMIG_ERROR_INVAL;
    }
    if (!target || libxlmig_cluster_config_node(c, target) < 0) {
        LOG(ERROR, "migration job from %s: the target is not a node of "
            "this cluster", asked_by);
        return LIBXLMIG_ERROR_INVAL;
    }
    snprintf(s->domain, sizeof(s->domain), "%s", dom);
    snprintf(s->target, sizeof(s->target), "%s", target);
    return 0;
}

/* Is a drain job running here?  J.lock held. */
static bool drain_running(void)
{
    int i;

    for (i = 0; i < JOBS_MAX; i++)
        if (J.table[i].used && J.table[i].running &&
            !strcmp(J.table[i].kind, "drain"))
            return true;
    return false;
}

/* Take a slot for s with a fresh id into *j_r (J.lock held). */
static int job_new(libxlmig__gc *gc, const job_spec *s, const char *asked_by,
                   job **j_r)
{
    unsigned char rnd[8];
    job *j;

    /* A drain started otherwise (cron, a shell) holds the lock: the
     * job's drain refuses then, and says so. */
    if (s->drain && !s->dry && drain_running()) {
        LOG(ERROR, "another drain of %s is running", s->self);
        return LIBXLMIG_ERROR_BUSY;
    }
    j = slot_take(gc);
    if (!j) {
        LOG(ERROR, "%s runs %d jobs already", s->self, JOBS_MAX);
        return LIBXLMIG_ERROR_BUSY;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        LOG(ERROR, "no random job id");
        return LIBXLMIG_ERROR_FAIL;
    }
    memset(j, 0, sizeof(*j));
    libxlmig__hex_encode(rnd, sizeof(rnd), j->id);
    snprintf(j->kind, sizeof(j->kind), "%s", s->drain ? "drain" : "migrate");
    snprintf(j->asked_by, sizeof(j->asked_by), "%s", asked_by);
    if (!s->drain) {
        snprintf(j->domain, sizeof(j->domain), "%s", s->domain);
        snprintf(j->target, sizeof(j->target), "%s", s->target);
    }
    *j_r = j;
    return 0;
}

int libxlmig__job_start(libxlmig__gc *gc, libxlmig_cluster *cl,
                        const char *asked_by, yajl_val args, yajl_gen g)
{
    job_spec s;
    job *j = NULL;
    int rc;

    rc = spec_parse(gc, cl, asked_by, args, &s);
    if (rc) return rc;
    if (!J.ready) {
        LOG(ERROR, "xlmigd on %s runs no jobs for other nodes (see its log "
            "for why)", s.self);
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }
    pthread_mutex_lock(&J.lock);
    rc = job_new(gc, &s, asked_by, &j);
    if (rc) goto out;
    /* A real drain reports where a cron drain does. */
    snprintf(s.report, sizeof(s.report), "%s",
             s.drain && !s.dry ? GCSPRINTF("%s/drain-report.json",
                                           libxlmig_state_dir())
                               : job_file(gc, j->id, "json"));
    snprintf(j->report, sizeof(j->report), "%s", s.report);
    j->used = true;
    j->seq = ++J.seq;
    rc = job_fork(gc, j, &s);
    if (rc) {
        memset(j, 0, sizeof(*j));
        goto out;
    }
    LOG(INFO, "job %s for %s (pid %d): %s", j->id, asked_by, (int)j->pid,
        describe(gc, &s));
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "job", j->id);
    libxlmig__yajl_gen_kv_str(g, "node", s.self);
    yajl_gen_map_close(g);
 out:
    pthread_mutex_unlock(&J.lock);
    return rc;
}

/*
 * The complete event lines of path from off on (at most JOB_CHUNK_MAX
 * bytes), as "events" (strings) and "events_offset".
 */
static void gen_events(libxlmig__gc *gc, yajl_gen g, const char *path,
                       uint64_t off)
{
    char *buf = libxlmig__zalloc(gc, JOB_CHUNK_MAX + 1), *p, *nl;
    ssize_t r = 0;
    size_t used = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        r = pread(fd, buf, JOB_CHUNK_MAX, (off_t)off);
        close(fd);
    }
    if (r < 0)
        r = 0;
    buf[r] = '\0';
    nl = memrchr(buf, '\n', (size_t)r);
    if (nl) {
        used = (size_t)(nl - buf) + 1;
    } else if (r == JOB_CHUNK_MAX) {
        LOG(ERROR, "%s: an event longer than %d bytes, left out", path,
            JOB_CHUNK_MAX);
        used = (size_t)r;
        r = 0;
    }
    libxlmig__yajl_gen_str(g, "events");
    yajl_gen_array_open(g);
    for (p = buf; nl && p < buf + used; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(buf + used - p));
        yajl_gen_string(g, (const unsigned char *)p, (size_t)(nl - p));
    }
    yajl_gen_array_close(g);
    libxlmig__yajl_gen_kv_uint(g, "events_offset", off + used);
}

/* The report file as it was written, into g as "report". */
static void gen_report(yajl_gen g, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = path[0] ? fopen(path, "r") : NULL;

    if (f && getdelim(&text, &len, '\0', f) > 0)
        libxlmig__yajl_gen_kv_str(g, "report", text);
    free(text);
    if (f) fclose(f);
}

int libxlmig__job_status(libxlmig__gc *gc, yajl_val args, yajl_gen g)
{
    const char *id = libxlmig__json_get_str(args, "job");
    uint64_t off = 0;
    bool running;
    int ws;
    job *j;
    char report[PATH_MAX];

    if (libxlmig__json_get_u64_opt(gc, args, "events_offset", &off))
        return LIBXLMIG_ERROR_PROTOCOL;
    pthread_mutex_lock(&J.lock);
    j = job_find(id);
    if (j) {
        running = j->running;
        ws = j->wstatus;
        snprintf(report, sizeof(report), "%s", j->report);
    }
    pthread_mutex_unlock(&J.lock);
    if (!j) {
        LOG(ERROR, "no job %s here (xlmigd may have restarted since)",
            id ? id : "");
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_bool(g, "running", running);
    /* Events are read after the state: an ended job's are complete. */
    gen_events(gc, g, job_file(gc, id, "events"), off);
    if (!running) {
        if (WIFEXITED(ws))
            libxlmig__yajl_gen_kv_int(g, "exit_status", WEXITSTATUS(ws));
        else
            libxlmig__yajl_gen_kv_int(g, "signal", WTERMSIG(ws));
        /* As the job wrote it: the asking node saves it. */
        gen_report(g, report);
    }
    yajl_gen_map_close(g);
    return 0;
}

int libxlmig__job_stop(libxlmig__gc *gc, const char *asked_by, yajl_val args,
                       yajl_gen g)
{
    const char *id = libxlmig__json_get_str(args, "job");
    job *j;
    int rc = 0;

    pthread_mutex_lock(&J.lock);
    j = job_find(id);
    if (!j) {
        LOG(ERROR, "no job %s here", id ? id : "");
        rc = LIBXLMIG_ERROR_NOTFOUND;
    } else if (j->running) {
        /* SIGTERM: a drain lets migrations in flight finish, a
         * migration is cancelled; either leaves each domain running. */
        LOG(INFO, "job %s stopped by %s", j->id, asked_by);
        kill(j->pid, SIGTERM);
    }
    pthread_mutex_unlock(&J.lock);
    if (rc) return rc;
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_bool(g, "stopping", true);
    yajl_gen_map_close(g);
    return 0;
}

void libxlmig__jobs_gen(libxlmig__gc *gc, yajl_gen g)
{
    int i;

    yajl_gen_array_open(g);
    pthread_mutex_lock(&J.lock);
    for (i = 0; i < JOBS_MAX; i++) {
        const job *j = &J.table[i];

        if (!j->used)
            continue;
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "id", j->id);
        libxlmig__yajl_gen_kv_str(g, "kind", j->kind);
        libxlmig__yajl_gen_kv_str(g, "asked_by", j->asked_by);
        if (j->domain[0]) {
            libxlmig__yajl_gen_kv_str(g, "domain", j->domain);
            libxlmig__yajl_gen_kv_str(g, "target", j->target);
        }
        libxlmig__yajl_gen_kv_bool(g, "running", j->running);
        libxlmig__yajl_gen_kv_int(g, "pid", (long long)j->pid);
        if (!j->running && WIFEXITED(j->wstatus))
            libxlmig__yajl_gen_kv_int(g, "exit_status",
                                      WEXITSTATUS(j->wstatus));
        yajl_gen_map_close(g);
    }
    pthread_mutex_unlock(&J.lock);
    yajl_gen_array_close(g);
}
