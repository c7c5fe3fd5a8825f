/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the cluster-operation commands (cmd_opsutil.c): one
 * node's facts as its xlmigd reports them, and small JSON accessors.
 */
#ifndef XLMIG_OPSUTIL_H
#define XLMIG_OPSUTIL_H

#include <signal.h>

#include <yajl/yajl_tree.h>

#include "xlmig.h"

/* One node as node_info describes it. */
struct ops_node {
    const char *name;            /* not owned */
    bool reachable;              /* answered and authenticated */
    char error[512];             /* why not, when !reachable */
    char *network;               /* network used (malloc'd) */
    yajl_val info;               /* the node_info reply (owned) */
    unsigned long long total_kib, free_kib;  /* KiB; free counts
                                                migrations in flight */
    bool maintenance;
    bool cpu_ok;                 /* cpu is valid */
    struct policy_cpuid cpu;
};

/* Open the cluster of -c; reports failure (returns rc). */
int ops_open_cluster(libxlmig_cluster **cl_r);
/* node_info of name over network net (-1: any); fills n even on failure. */
int ops_node_query(libxlmig_cluster *cl, const char *name, int net,
                   struct ops_node *n);
void ops_node_dispose(struct ops_node *n);
/* Every node of the config, in config order (also this one). */
int ops_gather(libxlmig_cluster *cl, struct ops_node **nodes_r);
void ops_nodes_free(struct ops_node *nodes, int nr);
/* May a domain running with from's CPU run on to?  why: the verdict. */
bool ops_cpu_compatible(const struct ops_node *from,
                        const struct ops_node *to, char *why, size_t len);
/* A domain a drain or balance may move: not domain 0, not mid-handoff. */
bool ops_movable(const char *name, uint32_t domid);

/* The estimate, indented, one figure per line. */
void ops_print_estimate(FILE *f, const libxlmig_estimate *e);

/* handler for SIGINT and SIGTERM from now on (Ctrl-C, kill, cron). */
void ops_on_stop_signals(void (*handler)(int));

/*
 * One event of a job another node runs: type is its "type" ("drain",
 * "progress", "error"), json the whole event, one line of JSON.
 */
typedef void ops_job_event_fn(void *user, const char *type,
                              const char *json);

/*
 * Follow job on node until it ends: hand each event to fn as it comes;
 * stop the job once *stop is set (stop may be NULL).  Returns its exit
 * status (128 + signal if killed), with its last state in *final_r
 * (caller frees with yajl_tree_free), or -1, said on stderr, when node
 * no longer answers or forgot the job.
 */
int ops_job_follow(libxlmig_cluster *cl, const char *node, const char *job,
                   ops_job_event_fn *fn, void *user,
                   volatile sig_atomic_t *stop, yajl_val *final_r);
/* An "error" event of a job on stderr, as cmd_fail says errors here. */
void ops_job_print_error(const char *json);
/*
 * Follow the migration job of dom from node from to target (cmd_migrate.c)
 * and show it as `migrate-cluster` does, or only its errors when quiet;
 * stop it once *stop is set (may be NULL).  The exit status of
 * migrate-cluster.
 */
int migrate_follow(libxlmig_cluster *cl, const char *from, const char *job,
                   const char *dom, const char *target, bool dry, bool quiet,
                   volatile sig_atomic_t *stop);

yajl_val ops_jget(yajl_val v, const char *key, yajl_type t);
const char *ops_jstr(yajl_val v, const char *key);
unsigned long long ops_ju64(yajl_val v, const char *key);
bool ops_jbool(yajl_val v, const char *key);

#endif /* XLMIG_OPSUTIL_H */
