/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig balance [--apply] [--threshold PCT]`: the PRO-tips analogue.
 * For every node above PCT% memory use, propose moving its largest
 * domains, each to the least-loaded node outside maintenance whose CPU
 * fits and which stays under PCT% with it.  Without --apply it only
 * prints; with --apply it performs the moves, one after the other, each
 * run by its source node's xlmigd: this node's directly, another's as a
 * job started over the migration network (jobs.c).
 */
#include <stdlib.h>
#include <string.h>

#include "opsutil.h"

#define BALANCE_DEFAULT_PCT 80

struct bdom {
    const char *name;
    unsigned long long kib;
    int node;
};

static int by_size_desc(const void *a, const void *b)
{
    const struct bdom *x = a, *y = b;

    return x->kib < y->kib ? 1 : x->kib > y->kib ? -1
           : strcmp(x->name, y->name);
}

static double pct(unsigned long long used, unsigned long long total)
{
    return total ? used * 100.0 / total : 100.0;
}

/*
 * Migrate dom from node from to node to: through this node's xlmigd when
 * from is this node, else as a job of from's xlmigd (the source runs every
 * migration).  0 once dom runs on to; failures are said on stderr.
 */
static int move(libxlmig_cluster *cl, const struct ops_node *from,
                bool here, const char *dom, const char *to)
{
    char *report = NULL, *job = NULL;
    bool started = false;
    int rc;

    if (here) {
        rc = libxlmig_migrate_cluster(g.ctx, dom, to, NULL, false, NULL,
                                      NULL, &report);
        free(report);
    } else {
        rc = libxlmig_job_start(g.ctx, cl, from->name, "migrate", NULL,
                                false, false, dom, to, &job);
        if (!rc) {
            /* Only its errors show. */
            started = true;
            rc = migrate_follow(cl, from->name, job, dom, to, false, true,
                                NULL);
        }
        free(job);
    }
    if (rc) {
        fprintf(stderr, "%s balance: moving %s from %s to %s failed%s%s\n",
                g.progname, dom, from->name, to, started ? "" : ": ",
                started ? " (its errors above)"
                        : libxlmig_last_error(g.ctx));
        return -1;
    }
    if (!g.json)
        printf("  done: %s runs on %s\n", dom, to);
    return 0;
}

/* One balance run: the facts, the domains, the options. */
struct balance {
    libxlmig_cluster *cl;
    struct ops_node *nodes;       /* every node, config order */
    int nr;
    int self;                     /* this node's index */
    unsigned long long *used;     /* KiB in use per node */
    struct bdom *doms;            /* largest first */
    int nd;
    unsigned long long thr;       /* --threshold, % */
    bool apply;
};

/* Every movable domain of every reachable node, largest first. */
static void collect(struct balance *b)
{
    int i;

    b->used = calloc((size_t)b->nr + 1, sizeof(*b->used));
    for (i = 0; i < b->nr; i++) {
        const struct ops_node *n = &b->nodes[i];
        yajl_val list = ops_jget(n->info, "domain_info", yajl_t_array);
        size_t k;

        if (!n->reachable) {
            fprintf(stderr, "%s balance: %s is unreachable: %s\n",
                    g.progname, n->name, n->error);
            continue;
        }
        b->used[i] = n->total_kib - n->free_kib;
        for (k = 0; list && k < list->u.array.len; k++) {
            yajl_val e = list->u.array.values[k];
            const char *name = ops_jstr(e, "name");
            yajl_val id = ops_jget(e, "domid", yajl_t_number);

            if (!ops_movable(name, id ? (uint32_t)ops_ju64(e, "domid") : 1))
                continue;
            b->doms = realloc(b->doms, sizeof(*b->doms) *
                              (size_t)(b->nd + 1));
            b->doms[b->nd].name = name;
            b->doms[b->nd].kib = ops_ju64(e, "memory_kib");
            b->doms[b->nd].node = i;
            b->nd++;
        }
    }
    if (b->nd)
        qsort(b->doms, (size_t)b->nd, sizeof(*b->doms), by_size_desc);
}

/* The least-loaded node that takes domain k off node i, or -1. */
static int best_target(const struct balance *b, int i, int k)
{
    const struct ops_node *nodes = b->nodes;
    char why[256];
    int j, best = -1;

    for (j = 0; j < b->nr; j++) {
        unsigned long long jcap = nodes[j].total_kib * b->thr / 100;

        if (j == i || !nodes[j].reachable || nodes[j].maintenance ||
            b->used[j] + b->doms[k].kib > jcap ||
            !ops_cpu_compatible(&nodes[i], &nodes[j], why, sizeof(why)))
            continue;
        if (best < 0 || pct(b->used[j], nodes[j].total_kib) <
                        pct(b->used[best], nodes[best].total_kib))
            best = j;
    }
    return best;
}

static void print_move(const struct balance *b, int i, int k, int to)
{
    const struct ops_node *from = &b->nodes[i], *dst = &b->nodes[to];
    const struct bdom *d = &b->doms[k];

    if (g.json)
        printf("{\"version\":1,\"type\":\"move\",\"domain\":\"%s\","
               "\"from\":\"%s\",\"to\":\"%s\",\"memory_kib\":%llu}\n",
               d->name, from->name, dst->name, d->kib);
    else
        printf("move %s (%llu MiB) %s -> %s: %s %.1f%% -> %.1f%%, "
               "%s %.1f%% -> %.1f%%\n", d->name, d->kib / 1024, from->name,
               dst->name, from->name, pct(b->used[i], from->total_kib),
               pct(b->used[i] - d->kib, from->total_kib), dst->name,
               pct(b->used[to], dst->total_kib),
               pct(b->used[to] + d->kib, dst->total_kib));
}

/*
 * Move domains off node i, largest first, until it is under the
 * threshold; *moves_r and *failed_r count.  False if it stays above.
 */
static bool unload(struct balance *b, int i, int *moves_r, int *failed_r)
{
    unsigned long long cap = b->nodes[i].total_kib * b->thr / 100;
    int k, to;

    for (k = 0; k < b->nd && b->used[i] > cap; k++) {
        if (b->doms[k].node != i)
            continue;
        to = best_target(b, i, k);
        if (to < 0)
            continue;
        (*moves_r)++;
        print_move(b, i, k, to);
        if (b->apply && move(b->cl, &b->nodes[i], i == b->self,
                             b->doms[k].name, b->nodes[to].name)) {
            (*failed_r)++;
            continue;
        }
        b->used[i] -= b->doms[k].kib;
        b->used[to] += b->doms[k].kib;
        b->doms[k].node = to;
    }
    if (b->used[i] <= cap)
        return true;
    fprintf(stderr, "%s balance: %s stays above %llu%% (%.1f%%): no domain "
            "of it fits elsewhere\n", g.progname, b->nodes[i].name, b->thr,
            pct(b->used[i], b->nodes[i].total_kib));
    return false;
}

/* Options into b; -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct balance *b)
{
    static const struct option lo[] = {
        { "apply", no_argument, NULL, 'a' },
        { "threshold", required_argument, NULL, 't' },
        { 0, 0, 0, 0 },
    };
    int opt;

    b->thr = BALANCE_DEFAULT_PCT;
    while ((opt = cmd_getopt(argc, argv, "at:", lo, "balance", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'a') { b->apply = true; continue; }
        if (opt == 't') {
            if (!cmd_parse_u64("balance", "threshold", optarg, &b->thr) ||
                !b->thr || b->thr > 100)
                return b->thr ? EXIT_USAGE : cmd_usage_error("balance",
                       "threshold is 1 to 100");
            continue;
        }
        return EXIT_USAGE;
    }
    if (argc - optind)
        return cmd_usage_error("balance", "no arguments expected");
    return -1;
}

int main_balance(int argc, char **argv)
{
    struct balance b;
    int i, ret, moves = 0, stuck = 0, failed = 0;

    memset(&b, 0, sizeof(b));
    ret = parse_args(argc, argv, &b);
    if (ret >= 0)
        return ret;
    if (ops_open_cluster(&b.cl))
        return EXIT_FAILED;
    b.self = libxlmig_cluster_self(b.cl);
    b.nr = ops_gather(b.cl, &b.nodes);
    collect(&b);
    if (!g.json)
        for (i = 0; i < b.nr; i++)
            if (b.nodes[i].reachable)
                printf("%-10s %5.1f%% of %llu MiB in use%s\n",
                       b.nodes[i].name, pct(b.used[i], b.nodes[i].total_kib),
                       b.nodes[i].total_kib / 1024,
                       b.nodes[i].maintenance ? " (maintenance)" : "");
    for (i = 0; i < b.nr; i++)
        if (b.nodes[i].reachable && !unload(&b, i, &moves, &failed))
            stuck++;
    if (!moves && !stuck && !g.json)
        printf("every node is under %llu%%: nothing to do\n", b.thr);
    free(b.doms);
    free(b.used);
    ops_nodes_free(b.nodes, b.nr);
    libxlmig_cluster_free(b.cl);
    return stuck || failed ? EXIT_FAILED : EXIT_OK;
}
