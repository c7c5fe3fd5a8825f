/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers of the cluster-operation commands (maintenance, drain,
 * estimate, validate, balance): opening this node's view of the cluster
 * and gathering every node's facts (node_info) into plain structs.  Not
 * a command itself.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "opsutil.h"

int ops_open_cluster(libxlmig_cluster **cl_r)
{
    int rc = libxlmig_cluster_open(g.ctx, g.config_file, NULL, cl_r);

    if (rc)
        cmd_fail(rc, "cannot open the cluster config %s: %s",
                 g.config_file, libxlmig_last_error(g.ctx));
    return rc;
}

yajl_val ops_jget(yajl_val v, const char *key, yajl_type t)
{
    const char *path[] = { key, NULL };

    return v ? yajl_tree_get(v, path, t) : NULL;
}

const char *ops_jstr(yajl_val v, const char *key)
{
    yajl_val s = ops_jget(v, key, yajl_t_string);

    return s ? YAJL_GET_STRING(s) : NULL;
}

unsigned long long ops_ju64(yajl_val v, const char *key)
{
    yajl_val n = ops_jget(v, key, yajl_t_number);

    return n && YAJL_IS_INTEGER(n) && YAJL_GET_INTEGER(n) > 0
           ? (unsigned long long)YAJL_GET_INTEGER(n) : 0;
}

bool ops_jbool(yajl_val v, const char *key)
{
    return YAJL_IS_TRUE(ops_jget(v, key, yajl_t_any));
}

void ops_node_dispose(struct ops_node *n)
{
    if (n->info)
        yajl_tree_free(n->info);
    free(n->network);
    memset(n, 0, sizeof(*n));
}

int ops_node_query(libxlmig_cluster *cl, const char *name, int net,
                   struct ops_node *n)
{
    char err[256], *json = NULL;
    yajl_val cpu;
    int rc;

    memset(n, 0, sizeof(*n));
    n->name = name;
    rc = libxlmig_node_query(g.ctx, cl, name, net, &json, &n->network);
    if (rc) {
        snprintf(n->error, sizeof(n->error), "%s",
                 libxlmig_last_error(g.ctx));
        return rc;
    }
    n->info = yajl_tree_parse(json, err, sizeof(err));
    free(json);
    if (!n->info) {
        snprintf(n->error, sizeof(n->error), "bad node_info: %s", err);
        return LIBXLMIG_ERROR_JSON;
    }
    n->reachable = true;
    n->total_kib = ops_ju64(n->info, "total_memory_kib");
    n->free_kib = ops_ju64(n->info, "free_memory_kib");
    n->maintenance = ops_jbool(n->info, "maintenance");
    cpu = ops_jget(n->info, "cpu_policy", yajl_t_object);
    n->cpu_ok = cpu && libxlmig_cpu_policy_parse_json(cpu, "CPU policy",
                                                      &n->cpu, err,
                                                      sizeof(err));
    return 0;
}

int ops_gather(libxlmig_cluster *cl, struct ops_node **nodes_r)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    struct ops_node *nodes = calloc((size_t)c->num_nodes, sizeof(*nodes));
    int i;

    if (!nodes) {
        fprintf(stderr, "%s: out of memory\n", g.progname);
        exit(EXIT_FAILED);
    }
    for (i = 0; i < c->num_nodes; i++)
        ops_node_query(cl, c->nodes[i].name, -1, &nodes[i]);
    *nodes_r = nodes;
    return c->num_nodes;
}

void ops_nodes_free(struct ops_node *nodes, int nr)
{
    int i;

    for (i = 0; i < nr; i++)
        ops_node_dispose(&nodes[i]);
    free(nodes);
}

bool ops_cpu_compatible(const struct ops_node *from,
                        const struct ops_node *to, char *why, size_t len)
{
    struct policy_check chk;
    char *sum;
    bool ok;

    if (!from->cpu_ok || !to->cpu_ok) {
        snprintf(why, len, "CPU policy unknown");
        return false;
    }
    ok = libxlmig_cpu_policy_fits(&from->cpu, &to->cpu, &chk);
    sum = ok ? NULL : libxlmig_cpu_check_summary(&chk);
    snprintf(why, len, "%s", ok ? "compatible" : sum ? sum : "incompatible");
    free(sum);
    return ok;
}

bool ops_movable(const char *name, uint32_t domid)
{
    /* Domain 0 is the host's own (Xen's control domain): it never
     * moves; sim domains are numbered from 1. */
    return name && domid != 0 && !libxlmig_handoff_copy(name);
}

void ops_on_stop_signals(void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- following a job on another node -------------------------------- */

#define JOB_POLL_MS       500
#define JOB_CONTACT_S     60     /* give up after this long unanswered */

static void write_all(FILE *f, const char *s, size_t len)
{
    if (len && fwrite(s, 1, len, f) != len)
        return;
    fflush(f);
}

int ops_job_follow(libxlmig_cluster *cl, const char *node, const char *job,
                   bool show_out, volatile sig_atomic_t *stop,
                   yajl_val *final_r)
{
    return ops_job_follow_to(cl, node, job, show_out ? stdout : NULL,
                             stderr, stop, final_r);
}

int ops_job_follow_to(libxlmig_cluster *cl, const char *node,
                      const char *job, FILE *out_f, FILE *err_f,
                      volatile sig_atomic_t *stop, yajl_val *final_r)
{
    unsigned long long out_off = 0, err_off = 0;
    struct timespec nap = { 0, JOB_POLL_MS * 1000000L };
    time_t lost_since = 0;
    bool stop_sent = false, running;
    const char *out, *errs;
    char err[256], *json;
    yajl_val v;
    int rc;

    *final_r = NULL;
    for (;;) {
        if (stop && *stop && !stop_sent) {
            fprintf(stderr, "%s: stopping the job on %s\n", g.progname,
                    node);
            if (!libxlmig_job_stop(g.ctx, cl, node, job))
                stop_sent = true;
        }
        rc = libxlmig_job_status(g.ctx, cl, node, job, out_off, err_off,
                                 &json);
        if (rc == LIBXLMIG_ERROR_NOTFOUND) {
            fprintf(stderr, "%s: %s no longer knows the job: %s\n",
                    g.progname, node, libxlmig_last_error(g.ctx));
            return -1;
        }
        if (rc) {
            if (!lost_since)
                lost_since = time(NULL);
            if (time(NULL) - lost_since > JOB_CONTACT_S) {
                fprintf(stderr, "%s: lost contact with %s (%s); the job "
                        "goes on there\n", g.progname, node,
                        libxlmig_last_error(g.ctx));
                return -1;
            }
            sleep(1);
            continue;
        }
        lost_since = 0;
        v = yajl_tree_parse(json, err, sizeof(err));
        free(json);
        if (!v) {
            fprintf(stderr, "%s: bad job state from %s: %s\n", g.progname,
                    node, err);
            return -1;
        }
        out = ops_jstr(v, "out");
        errs = ops_jstr(v, "err");
        if (!out || !errs || ops_ju64(v, "out_offset") < out_off ||
            ops_ju64(v, "err_offset") < err_off) {
            fprintf(stderr, "%s: bad job state from %s\n", g.progname,
                    node);
            yajl_tree_free(v);
            return -1;
        }
        if (out_f)
            write_all(out_f, out, strlen(out));
        if (err_f)
            write_all(err_f, errs, strlen(errs));
        out_off = ops_ju64(v, "out_offset");
        err_off = ops_ju64(v, "err_offset");
        /* An ended job's output is complete once a reply brings none. */
        if (!ops_jbool(v, "running") && !out[0] && !errs[0]) {
            yajl_val x = ops_jget(v, "exit_status", yajl_t_number);

            *final_r = v;
            if (x && YAJL_IS_INTEGER(x))
                return (int)YAJL_GET_INTEGER(x);
            return 128 + (int)ops_ju64(v, "signal");
        }
        running = ops_jbool(v, "running");
        yajl_tree_free(v);
        if (running)
            nanosleep(&nap, NULL);
    }
}
