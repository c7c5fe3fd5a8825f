/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Jobs another node starts here (docs/drain.md, "From another node"): the
 * drain of this node, or the migration of one of its domains to another
 * node, asked for by an authenticated member of the cluster.  A job is the
 * xlmig command an administrator would run on this node, started by
 * xlmigd as a child in a session of its own, with an argv built here from
 * checked fields and never through a shell.  Its standard output and
 * error go to files under $STATE_DIR/jobs, which job_status hands back
 * piece by piece; a drain also writes its JSON report.  The work stays on
 * this node: when the asking node goes away, the job goes on.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/core.h"
#include "engine/engine.h"
#include "cluster/ops.h"

#define JOBS_MAX        16          /* remembered, running or ended */
#define JOB_CHUNK_MAX   65536       /* output bytes per job_status */
#define JOB_ARGV_MAX    32

extern char **environ;

typedef struct job {
    bool used;
    char id[17];
    char kind[16];                /* "drain" or "migrate" */
    char asked_by[64];
    pid_t pid;
    bool running;
    int wstatus;                  /* waitpid status once ended */
    char report[PATH_MAX];        /* report file, or "" */
    uint64_t seq;                 /* start order, for eviction */
    char domain[64], target[64];  /* a migration's, for status */
} job;

static struct {
    pthread_mutex_t lock;
    job table[JOBS_MAX];
    uint64_t seq;
    char exe[PATH_MAX];           /* the xlmig command */
    char socket[PATH_MAX];        /* this daemon's control socket */
    char config[PATH_MAX];        /* the cluster config */
    char backend[8];
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

/* The output of a forgotten job, or of every job of an earlier daemon. */
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
    char self[PATH_MAX], *slash;
    ssize_t n;

    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        LOGE(WARN, "jobs from other nodes are off: cannot find this "
             "program");
        return 0;
    }
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return 0;
    snprintf(J.exe, sizeof(J.exe), "%.*s/xlmig", (int)(slash - self), self);
    if (access(J.exe, X_OK)) {
        LOGE(WARN, "jobs from other nodes are off: no %s", J.exe);
        return 0;
    }
    if (!realpath(config, J.config)) {
        LOGE(WARN, "jobs from other nodes are off: %s", config);
        return 0;
    }
    snprintf(J.socket, sizeof(J.socket), "%s", socket);
    snprintf(J.backend, sizeof(J.backend), "%s", backend);
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

/* Start argv as job j (J.lock held); 0 or an error. */
static int spawn(libxlmig__gc *gc, job *j, char **argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    char **envp;
    pthread_attr_t ta;
    pthread_t t;
    size_t n = 0, k = 0;
    int e;

    while (environ[n])
        n++;
    envp = libxlmig__calloc(gc, n + 2, sizeof(*envp));
    for (n = 0; environ[n]; n++)
        if (strncmp(environ[n], "XLMIGD_SOCKET=", 14))
            envp[k++] = environ[n];
    envp[k++] = GCSPRINTF("XLMIGD_SOCKET=%s", J.socket);
    envp[k] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, job_file(gc, j->id, "out"),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, job_file(gc, j->id, "err"),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&def);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID |
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    e = posix_spawn(&j->pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e) {
        errno = e;
        LOGE(ERROR, "cannot start %s", argv[0]);
        return LIBXLMIG_ERROR_IO;
    }
    j->running = true;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &ta, reap_main, j)) {
        /* Without a reaper the job would look running for ever. */
        kill(j->pid, SIGTERM);
        waitpid(j->pid, &j->wstatus, 0);
        j->running = false;
        pthread_attr_destroy(&ta);
        LOG(ERROR, "cannot watch the job");
        return LIBXLMIG_ERROR_FAIL;
    }
    pthread_attr_destroy(&ta);
    return 0;
}

/*
 * Migration parameters as options of the xlmig command, each one only
 * when it differs from the named default: like an option not given, the
 * default leaves this node's cluster config in charge.
 */
static void param_args(libxlmig__gc *gc, const libxlmig_params *p,
                       char **argv, int *n)
{
    libxlmig_params d;

    libxlmig_params_init(&d);
    if (p->downtime_limit_ms != d.downtime_limit_ms) {
        argv[(*n)++] = "-d";
        argv[(*n)++] = GCSPRINTF("%llu",
                                 (unsigned long long)p->downtime_limit_ms);
    }
    if (p->bandwidth_limit) {
        argv[(*n)++] = "-B";
        argv[(*n)++] = GCSPRINTF("%llu", (unsigned long long)
                                 ((p->bandwidth_limit + 1048575) >> 20));
    }
    if (p->max_rounds != d.max_rounds) {
        argv[(*n)++] = "-r";
        argv[(*n)++] = GCSPRINTF("%u", p->max_rounds);
    }
    if (p->on_limit != d.on_limit) {
        argv[(*n)++] = "-L";
        argv[(*n)++] = (char *)libxlmig_limit_action_to_string(p->on_limit);
    }
    if (!p->auto_converge)
        argv[(*n)++] = "-A";
}

int libxlmig__job_start(libxlmig__gc *gc, libxlmig_cluster *cl,
                        const char *asked_by, yajl_val args, yajl_gen g)
{
    const char *path_params[] = { "params", NULL };
    const char *kind = libxlmig__json_get_str(args, "kind");
    const char *self = libxlmig__cluster_self_name(cl);
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    char *argv[JOB_ARGV_MAX];
    unsigned char rnd[8];
    libxlmig_params p;
    bool dry = false, cron = false, json = false;
    job *j = NULL;
    int n = 0, i, rc;

    libxlmig_params_init(&p);
    if (!kind || (strcmp(kind, "drain") && strcmp(kind, "migrate"))) {
        LOG(ERROR, "job request from %s: unknown kind", asked_by);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    rc = libxlmig__params_parse_json(gc, yajl_tree_get(args, path_params,
                                                       yajl_t_object), &p);
    if (rc) return rc;
    if (!rc) rc = libxlmig__json_get_bool_opt(gc, args, "dry_run", &dry);
    if (!rc) rc = libxlmig__json_get_bool_opt(gc, args, "cron", &cron);
    if (!rc) rc = libxlmig__json_get_bool_opt(gc, args, "json", &json);
    if (rc) return rc;
    if (!J.ready) {
        LOG(ERROR, "xlmigd on %s runs no jobs for other nodes (see its log "
            "for why)", self);
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }

    argv[n++] = J.exe;
    argv[n++] = "-c";
    argv[n++] = J.config;
    argv[n++] = "-b";
    argv[n++] = J.backend;
    if (!strcmp(kind, "migrate")) {
        const char *dom = libxlmig__json_get_str(args, "domain");
        const char *target = libxlmig__json_get_str(args, "target");

        for (i = 0; target && i < c->num_nodes; i++)
            if (!strcmp(c->nodes[i].name, target))
                break;
        bool dom_ok = libxlmig__name_ok(dom, LIBXLMIG__DOMAIN_NAME_MAX);

        if (!dom_ok || !target || i == c->num_nodes) {
            LOG(ERROR, "migration job from %s: %s", asked_by,
                !dom_ok ? "bad domain name"
                : "the target is not a node of this cluster");
            return LIBXLMIG_ERROR_INVAL;
        }
        if (json)
            argv[n++] = "-j";
        argv[n++] = "migrate-cluster";
        if (dry)
            argv[n++] = "-n";
        param_args(gc, &p, argv, &n);
        argv[n++] = "--";
        argv[n++] = (char *)dom;
        argv[n++] = (char *)target;
    } else {
        argv[n++] = "drain";
        if (dry)
            argv[n++] = "-n";
        if (cron)
            argv[n++] = "--cron";
        param_args(gc, &p, argv, &n);
        argv[n++] = "--report";
        argv[n++] = NULL;        /* the report path, below */
    }
    argv[n] = NULL;

    pthread_mutex_lock(&J.lock);
    if (!strcmp(kind, "drain")) {
        for (i = 0; i < JOBS_MAX; i++)
            if (J.table[i].used && J.table[i].running &&
                !strcmp(J.table[i].kind, "drain"))
                break;
        /* A drain started otherwise (cron, a shell) holds the lock:
         * the command itself refuses then, and says so. */
        if (i < JOBS_MAX && !dry) {
            LOG(ERROR, "another drain of %s is running", self);
            rc = LIBXLMIG_ERROR_BUSY;
            goto out;
        }
    }
    j = slot_take(gc);
    if (!j) {
        LOG(ERROR, "%s runs %d jobs already", self, JOBS_MAX);
        rc = LIBXLMIG_ERROR_BUSY;
        goto out;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        LOG(ERROR, "no random job id");
        rc = LIBXLMIG_ERROR_FAIL;
        goto out;
    }
    memset(j, 0, sizeof(*j));
    libxlmig__hex_encode(rnd, sizeof(rnd), j->id);
    snprintf(j->kind, sizeof(j->kind), "%s", kind);
    snprintf(j->asked_by, sizeof(j->asked_by), "%s", asked_by);
    if (!strcmp(kind, "migrate")) {
        snprintf(j->domain, sizeof(j->domain), "%s",
                 libxlmig__json_get_str(args, "domain"));
        snprintf(j->target, sizeof(j->target), "%s",
                 libxlmig__json_get_str(args, "target"));
    }
    if (!strcmp(kind, "drain")) {
        /* A real drain reports where a cron drain does. */
        snprintf(j->report, sizeof(j->report), "%s",
                 dry ? job_file(gc, j->id, "json")
                     : GCSPRINTF("%s/drain-report.json",
                                 libxlmig_state_dir()));
        argv[n - 1] = j->report;
    }
    j->used = true;
    j->seq = ++J.seq;
    rc = spawn(gc, j, argv);
    if (rc) {
        memset(j, 0, sizeof(*j));
        goto out;
    }
    {
        char *cmd = GCSTRDUP("");

        for (i = 1; argv[i]; i++)
            cmd = GCSPRINTF("%s %s", cmd, argv[i]);
        LOG(INFO, "job %s for %s (pid %d): xlmig%s", j->id, asked_by,
            (int)j->pid, cmd);
    }
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "job", j->id);
    libxlmig__yajl_gen_kv_str(g, "node", self);
    yajl_gen_map_close(g);
 out:
    pthread_mutex_unlock(&J.lock);
    return rc;
}

/* Up to JOB_CHUNK_MAX bytes of file from off, as "key" and "key_offset". */
static void gen_chunk(libxlmig__gc *gc, yajl_gen g, const char *key,
                      const char *path, uint64_t off)
{
    char *buf = libxlmig__zalloc(gc, JOB_CHUNK_MAX);
    ssize_t r = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        r = pread(fd, buf, JOB_CHUNK_MAX, (off_t)off);
        close(fd);
    }
    if (r < 0)
        r = 0;
    libxlmig__yajl_gen_str(g, key);
    yajl_gen_string(g, (const unsigned char *)buf, (size_t)r);
    libxlmig__yajl_gen_kv_uint(g, GCSPRINTF("%s_offset", key),
                               off + (uint64_t)r);
}

int libxlmig__job_status(libxlmig__gc *gc, yajl_val args, yajl_gen g)
{
    const char *id = libxlmig__json_get_str(args, "job");
    uint64_t out_off = 0, err_off = 0;
    bool running;
    int ws;
    job *j;
    char report[PATH_MAX];

    libxlmig__json_get_u64(gc, args, "out_offset", &out_off);
    libxlmig__json_get_u64(gc, args, "err_offset", &err_off);
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
    /* Output is read after the state: an ended job's is complete. */
    gen_chunk(gc, g, "out", job_file(gc, id, "out"), out_off);
    gen_chunk(gc, g, "err", job_file(gc, id, "err"), err_off);
    if (!running) {
        if (WIFEXITED(ws))
            libxlmig__yajl_gen_kv_int(g, "exit_status", WEXITSTATUS(ws));
        else
            libxlmig__yajl_gen_kv_int(g, "signal", WTERMSIG(ws));
        if (report[0]) {
            char *text = NULL;
            size_t len = 0;
            FILE *f = fopen(report, "r");

            /* As the command wrote it: the asking node saves it. */
            if (f && getdelim(&text, &len, '\0', f) > 0)
                libxlmig__yajl_gen_kv_str(g, "report", text);
            free(text);
            if (f) fclose(f);
        }
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
