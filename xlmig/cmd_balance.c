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

int main_balance(int argc, char **argv)
{
    static const struct option lo[] = {
        { "apply", no_argument, NULL, 'a' },
        { "threshold", required_argument, NULL, 't' },
        { 0, 0, 0, 0 },
    };
    unsigned long long thr = BALANCE_DEFAULT_PCT, *used, cap;
    const libxlmig_cluster_config *c;
    libxlmig_cluster *cl = NULL;
    struct ops_node *nodes;
    struct bdom *doms = NULL;
    bool apply = false;
    char why[256];
    int opt, i, j, k, nr, nd = 0, best, self, moves = 0, stuck = 0;
    int failed = 0;

    while ((opt = cmd_getopt(argc, argv, "at:", lo, "balance", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'a') { apply = true; continue; }
        if (opt == 't') {
            if (!cmd_parse_u64("balance", "threshold", optarg, &thr) ||
                !thr || thr > 100)
                return thr ? EXIT_USAGE : cmd_usage_error("balance",
                       "threshold is 1 to 100");
            continue;
        }
        return EXIT_USAGE;
    }
    if (argc - optind)
        return cmd_usage_error("balance", "no arguments expected");
    if (ops_open_cluster(&cl))
        return EXIT_FAILED;
    c = libxlmig_cluster_cfg(cl);
    self = libxlmig_cluster_self(cl);
    nr = ops_gather(cl, &nodes);
    used = calloc((size_t)nr, sizeof(*used));
    for (i = 0; i < nr; i++) {
        yajl_val list = ops_jget(nodes[i].info, "domain_info",
                                 yajl_t_array);
        size_t n;

        if (!nodes[i].reachable) {
            fprintf(stderr, "%s balance: %s is unreachable: %s\n",
                    g.progname, nodes[i].name, nodes[i].error);
            continue;
        }
        used[i] = nodes[i].total_kib - nodes[i].free_kib;
        for (n = 0; list && n < list->u.array.len; n++) {
            yajl_val e = list->u.array.values[n];
            const char *name = ops_jstr(e, "name");

            yajl_val id = ops_jget(e, "domid", yajl_t_number);

            if (!ops_movable(name, id ? (uint32_t)ops_ju64(e, "domid") : 1))
                continue;
            doms = realloc(doms, sizeof(*doms) * (size_t)(nd + 1));
            doms[nd].name = name;
            doms[nd].kib = ops_ju64(e, "memory_kib");
            doms[nd].node = i;
            nd++;
        }
    }
    if (nd)
        qsort(doms, (size_t)nd, sizeof(*doms), by_size_desc);

    if (!g.json)
        for (i = 0; i < nr; i++)
            if (nodes[i].reachable)
                printf("%-10s %5.1f%% of %llu MiB in use%s\n",
                       nodes[i].name, pct(used[i], nodes[i].total_kib),
                       nodes[i].total_kib / 1024,
                       nodes[i].maintenance ? " (maintenance)" : "");
    for (i = 0; i < nr; i++) {
        if (!nodes[i].reachable)
            continue;
        cap = nodes[i].total_kib * thr / 100;
        for (k = 0; k < nd && used[i] > cap; k++) {
            if (doms[k].node != i)
                continue;
            best = -1;
            for (j = 0; j < nr; j++) {
                unsigned long long jcap = nodes[j].total_kib * thr / 100;

                if (j == i || !nodes[j].reachable || nodes[j].maintenance ||
                    used[j] + doms[k].kib > jcap ||
                    !ops_cpu_compatible(&nodes[i], &nodes[j], why,
                                        sizeof(why)))
                    continue;
                if (best < 0 || pct(used[j], nodes[j].total_kib) <
                                pct(used[best], nodes[best].total_kib))
                    best = j;
            }
            if (best < 0)
                continue;
            moves++;
            if (g.json)
                printf("{\"version\":1,\"type\":\"move\",\"domain\":\"%s\","
                       "\"from\":\"%s\",\"to\":\"%s\",\"memory_kib\":%llu}"
                       "\n", doms[k].name, nodes[i].name, nodes[best].name,
                       doms[k].kib);
            else
                printf("move %s (%llu MiB) %s -> %s: %s %.1f%% -> %.1f%%, "
                       "%s %.1f%% -> %.1f%%\n", doms[k].name,
                       doms[k].kib / 1024, nodes[i].name, nodes[best].name,
                       nodes[i].name, pct(used[i], nodes[i].total_kib),
                       pct(used[i] - doms[k].kib, nodes[i].total_kib),
                       nodes[best].name,
                       pct(used[best], nodes[best].total_kib),
                       pct(used[best] + doms[k].kib,
                           nodes[best].total_kib));
            if (apply && move(cl, &nodes[i], i == self, doms[k].name,
                              nodes[best].name)) {
                failed++;
                continue;
            }
            used[i] -= doms[k].kib;
            used[best] += doms[k].kib;
            doms[k].node = best;
        }
        if (used[i] > cap) {
            stuck++;
            fprintf(stderr, "%s balance: %s stays above %llu%% (%.1f%%): no "
                    "domain of it fits elsewhere\n", g.progname,
                    nodes[i].name, thr, pct(used[i], nodes[i].total_kib));
        }
    }
    if (!moves && !stuck && !g.json)
        printf("every node is under %llu%%: nothing to do\n", thr);
    free(doms);
    free(used);
    ops_nodes_free(nodes, nr);
    libxlmig_cluster_free(cl);
    (void)c;
    return stuck || failed ? EXIT_FAILED : EXIT_OK;
}
