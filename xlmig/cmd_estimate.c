/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig estimate DOMAIN [TARGET]`: how long migrating DOMAIN would take.
 * Samples the domain's writes through the dirty log for a few seconds,
 * measures the raw throughput to TARGET on the migration network, and
 * runs the engine's pre-copy policy over simulated rounds: total time,
 * rounds and downtime, the three things memory size, dirty rate and
 * bandwidth decide.
 */
#include <stdlib.h>
#include <string.h>

#include "opsutil.h"

#define ESTIMATE_PROBE_MIB 32   /* default bandwidth probe (MiB) */

void ops_print_estimate(FILE *f, const libxlmig_estimate *e)
{
    char bw[32];

    fprintf(f, "  dirty rate   %.0f pages/s over %llu pages\n",
            e->dirty_rate, (unsigned long long)e->working_set_pages);
    fprintf(f, "  bandwidth    %s\n",
            libxlmig_bandwidth_str(e->bandwidth, false, bw, sizeof(bw)));
    if (e->memory_rate > 0)
        fprintf(f, "  memory       %.1f MiB/s of data pages (%s), %.0f%% of "
                "pages left out (zero)\n", e->memory_rate / 1048576.0,
                e->compression == LIBXLMIG_COMPRESSION_OFF
                ? "raw" : libxlmig_compression_to_string(e->compression),
                e->skipped_share * 100);
    fprintf(f, "  total        %.2f s\n", e->total_ms / 1000.0);
    fprintf(f, "  rounds       %u after the full copy%s\n", e->rounds,
            e->throttle_pct ? " (with throttling)" : "");
    fprintf(f, "  downtime     %llu ms\n",
            (unsigned long long)e->downtime_ms);
    fprintf(f, "  bytes        %.1f MiB%s\n", e->bytes / 1048576.0,
            e->converges ? "" : " (does not converge: the policy aborts)");
}

int main_estimate(int argc, char **argv)
{
    static const struct option lo[] = {
        { "sample", required_argument, NULL, 's' },
        { "probe", required_argument, NULL, 'S' },
        CMD_PARAM_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    const libxlmig_cluster_config *c;
    libxlmig_cluster *cl = NULL;
    libxlmig_dirty_sample s;
    libxlmig_estimate e;
    libxlmig_params params;
    unsigned long long sample_ms = LIBXLMIG_DEFAULT_SAMPLE_MS;
    unsigned long long probe_mib = ESTIMATE_PROBE_MIB;
    const char *domain, *target = NULL;
    char *net = NULL, *json = NULL;
    double bw = 0;
    char bws[32];
    int opt, ret, rc, i;

    libxlmig_params_init(&params);
    while ((opt = cmd_getopt(argc, argv, "s:S:" CMD_PARAM_OPTS, lo,
                             "estimate", 1)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 's') {
            /* The range xlmigd takes for a dirty sample. */
            if (!cmd_parse_range("estimate", "sample time", optarg, 40,
                                 60000, "ms", &sample_ms))
                return EXIT_USAGE;
            continue;
        }
        if (opt == 'S') {
            if (!cmd_parse_range("estimate", "probe size", optarg, 1, 1024,
                                 "MiB", &probe_mib))
                return EXIT_USAGE;
            continue;
        }
        ret = cmd_param_opt("estimate", opt, optarg, &params);
        if (ret <= 0) return EXIT_USAGE;
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cmd_usage_error("estimate", "need DOMAIN [TARGET]");
    domain = argv[optind];
    if (argc - optind == 2)
        target = argv[optind + 1];
    ret = cmd_open_backend();   /* the dirty sample goes through it */
    if (ret) return ret;
    if (ops_open_cluster(&cl))
        return EXIT_FAILED;
    c = libxlmig_cluster_cfg(cl);
    libxlmig_params_resolve(c, &params, &params);

    /* Bandwidth: to TARGET, or to the first other node that answers. */
    for (i = 0; i < c->num_nodes; i++) {
        const char *n = target ? target : c->nodes[i].name;

        if (!target && i == libxlmig_cluster_self(cl))
            continue;
        rc = libxlmig_bandwidth_probe(g.ctx, cl, n, probe_mib << 20, &bw,
                                      &net);
        if (!rc) {
            target = n;
            break;
        }
        if (target) {
            libxlmig_cluster_free(cl);
            return cmd_fail(rc, "cannot measure the bandwidth to %s: %s",
                            target, libxlmig_last_error(g.ctx));
        }
    }
    if (!target) {
        libxlmig_cluster_free(cl);
        return cmd_fail(LIBXLMIG_ERROR_REFUSED, "no other node answers "
                        "the bandwidth probe");
    }
    rc = libxlmig_dirty_sample_take(g.ctx, domain, (unsigned)sample_ms, &s);
    if (!rc)
        rc = libxlmig_estimate_compute(g.ctx, &params, &s, bw, &e);
    if (rc) {
        free(net);
        libxlmig_cluster_free(cl);
        return cmd_fail(rc, NULL);
    }
    if (g.json) {
        if (!libxlmig_estimate_to_json(g.ctx, &e, &json))
            printf("{\"version\":1,\"domain\":\"%s\",\"target\":\"%s\","
                   "\"network\":\"%s\",\"memory_kib\":%llu,"
                   "\"raw_bandwidth\":%.0f,\"sample_ms\":%llu,"
                   "\"sample_pages\":%llu,\"estimate\":%s}\n",
                   domain, target, net,
                   (unsigned long long)s.nr_pages * 4, bw,
                   (unsigned long long)s.ms[s.nr_points - 1],
                   (unsigned long long)s.pages[s.nr_points - 1], json);
        free(json);
    } else {
        printf("estimate for %s (%llu MiB) to %s over %s:\n", domain,
               (unsigned long long)s.nr_pages / 256, target, net);
        printf("  sample       %llu distinct pages written in %llu ms\n",
               (unsigned long long)s.pages[s.nr_points - 1],
               (unsigned long long)s.ms[s.nr_points - 1]);
        printf("  raw network  %s\n",
               libxlmig_bandwidth_str(bw, false, bws, sizeof(bws)));
        ops_print_estimate(stdout, &e);
    }
    free(net);
    libxlmig_cluster_free(cl);
    return EXIT_OK;
}
