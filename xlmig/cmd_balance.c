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
static int move(libxlmig_cluster *cl, const libxlmig_params *params,
                const struct ops_node *from, bool here, const char *dom,
                const char *to)
{
    char *report = NULL, *job = NULL;
    bool started = false;
    int rc;

    if (here) {
        rc = libxlmig_migrate_cluster(g.ctx, dom, to, params, false, NULL,
                                      NULL, &report);
        free(report);
    } else {
        rc = libxlmig_job_start(g.ctx, cl, from->name, "migrate", params,
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

/* One run of `xlmig balance`. */
struct balance {
    libxlmig_cluster *cl;
    struct ops_node *nodes;
    int nr;                      /* nodes */
    int self;                    /* this node's index in nodes */
    unsigned long long thr;      /* threshold (% of memory) */
    bool apply;                  /* --apply */
    libxlmig_params params;      /* options given; the config the rest */
    unsigned long long *used;    /* per node, with the moves so far (KiB) */
    struct bdom *doms;           /* movable domains, largest first */
    int nd;
    int moves, stuck, failed;
};

/* Each reachable node's memory in use and its movable domains, largest
 * first; unreachable nodes are said on stderr. */
static void balance_gather(struct balance *b)
{
    struct ops_node *nodes = b->nodes;
    int i;

    for (i = 0; i < b->nr; i++) {
        yajl_val list = ops_jget(nodes[i].info, "domain_info",
                                 yajl_t_array);
        size_t n;

        if (!nodes[i].reachable) {
            fprintf(stderr, "%s balance: %s is unreachable: %s\n",
                    g.progname, nodes[i].name, nodes[i].error);
            continue;
        }
        b->used[i] = nodes[i].total_kib - nodes[i].free_kib;
        for (n = 0; list && n < list->u.array.len; n++) {
            yajl_val e = list->u.array.values[n];
            const char *name = ops_jstr(e, "name");

            yajl_val id = ops_jget(e, "domid", yajl_t_number);

            if (!ops_movable(name, id ? (uint32_t)ops_ju64(e, "domid") : 1))
                continue;
            b->doms = realloc(b->doms, sizeof(*b->doms) * (size_t)(b->nd + 1));
            b->doms[b->nd].name = name;
            b->doms[b->nd].kib = ops_ju64(e, "memory_kib");
            b->doms[b->nd].node = i;
            b->nd++;
        }
    }
    if (b->nd)
        qsort(b->doms, (size_t)b->nd, sizeof(*b->doms), by_size_desc);
}

/* The least loaded node for d, of node i: not i, not in maintenance,
 * its CPU fits, and under the threshold with d; -1 if none. */
static int pick_target(const struct balance *b, int i, const struct bdom *d)
{
    const struct ops_node *nodes = b->nodes;
    const unsigned long long *used = b->used;
    char why[256];
    int j, best = -1;

    for (j = 0; j < b->nr; j++) {
        unsigned long long jcap = nodes[j].total_kib * b->thr / 100;

        if (j == i || !nodes[j].reachable || nodes[j].maintenance ||
            used[j] + d->kib > jcap ||
            !ops_cpu_compatible(&nodes[i], &nodes[j], why, sizeof(why)))
            continue;
        if (best < 0 || pct(used[j], nodes[j].total_kib) <
                        pct(used[best], nodes[best].total_kib))
            best = j;
    }
    return best;
}

static void print_move(const struct balance *b, int i, int best,
                       const struct bdom *d)
{
    const struct ops_node *nodes = b->nodes;
    const unsigned long long *used = b->used;

    if (g.json)
        printf("{\"version\":1,\"type\":\"move\",\"domain\":\"%s\","
               "\"from\":\"%s\",\"to\":\"%s\",\"memory_kib\":%llu}"
               "\n", d->name, nodes[i].name, nodes[best].name, d->kib);
    else
        printf("move %s (%llu MiB) %s -> %s: %s %.1f%% -> %.1f%%, "
               "%s %.1f%% -> %.1f%%\n", d->name, d->kib / 1024,
               nodes[i].name, nodes[best].name,
               nodes[i].name, pct(used[i], nodes[i].total_kib),
               pct(used[i] - d->kib, nodes[i].total_kib),
               nodes[best].name, pct(used[best], nodes[best].total_kib),
               pct(used[best] + d->kib, nodes[best].total_kib));
}

/* Propose, and with --apply make, moves of node i's domains, largest
 * first, until it is under the threshold; say so if it stays above. */
static void relieve_node(struct balance *b, int i)
{
    struct ops_node *nodes = b->nodes;
    struct bdom *doms = b->doms;
    unsigned long long *used = b->used;
    unsigned long long cap = nodes[i].total_kib * b->thr / 100;
    int k, best;

    for (k = 0; k < b->nd && used[i] > cap; k++) {
        if (doms[k].node != i)
            continue;
        best = pick_target(b, i, &doms[k]);
        if (best < 0)
            continue;
        b->moves++;
        print_move(b, i, best, &doms[k]);
        if (b->apply && move(b->cl, &b->params, &nodes[i], i == b->self,
                             doms[k].name, nodes[best].name)) {
            b->failed++;
            continue;
        }
        used[i] -= doms[k].kib;
        used[best] += doms[k].kib;
        doms[k].node = best;
    }
    if (used[i] > cap) {
        b->stuck++;
        fprintf(stderr, "%s balance: %s stays above %llu%% (%.1f%%): no "
                "domain of it fits elsewhere\n", g.progname,
                nodes[i].name, b->thr, pct(used[i], nodes[i].total_kib));
    }
}

int main_balance(int argc, char **argv)
{
    static const struct option lo[] = {
        { "apply", no_argument, NULL, 'a' },
        { "threshold", required_argument, NULL, 't' },
        CMD_PARAM_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    const libxlmig_cluster_config *c;
    struct balance b;
    int opt, i;

    memset(&b, 0, sizeof(b));
    b.thr = BALANCE_DEFAULT_PCT;
    libxlmig_params_init(&b.params);
    while ((opt = cmd_getopt(argc, argv, "at:" CMD_PARAM_OPTS, lo,
                             "balance", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'a') { b.apply = true; continue; }
        if (opt == 't') {
            if (!cmd_parse_range("balance", "threshold", optarg, 1, 100,
                                 "%", &b.thr))
                return EXIT_USAGE;
            continue;
        }
        if (cmd_param_opt("balance", opt, optarg, &b.params) <= 0)
            return EXIT_USAGE;
    }
    if (argc - optind)
        return cmd_usage_error("balance", "no arguments expected");
    if (ops_open_cluster(&b.cl))
        return EXIT_FAILED;
    c = libxlmig_cluster_cfg(b.cl);
    b.self = libxlmig_cluster_self(b.cl);
    b.nr = ops_gather(b.cl, &b.nodes);
    b.used = calloc((size_t)b.nr, sizeof(*b.used));
    balance_gather(&b);

    if (!g.json)
        for (i = 0; i < b.nr; i++)
            if (b.nodes[i].reachable)
                printf("%-10s %5.1f%% of %llu MiB in use%s\n",
                       b.nodes[i].name,
                       pct(b.used[i], b.nodes[i].total_kib),
                       b.nodes[i].total_kib / 1024,
                       b.nodes[i].maintenance ? " (maintenance)" : "");
    for (i = 0; i < b.nr; i++)
        if (b.nodes[i].reachable)
            relieve_node(&b, i);
    if (!b.moves && !b.stuck && !g.json)
        printf("every node is under %llu%%: nothing to do\n", b.thr);
    free(b.doms);
    free(b.used);
    ops_nodes_free(b.nodes, b.nr);
    libxlmig_cluster_free(b.cl);
    (void)c;
    return b.stuck || b.failed ? EXIT_FAILED : EXIT_OK;
}
