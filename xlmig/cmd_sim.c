/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig sim create NAME --memory MIB [...]` and `xlmig sim verify NAME`:
 * the simulated hypervisor's own commands, served by xlmigd --backend=sim.
 */
#include <stdlib.h>
#include <string.h>

#include "xlmig.h"

/* Long only: -r and -i mean the round limit and probe's interval in
 * other commands; here they stay as deprecated aliases (NEWS). */
#define OPT_DIRTY_RATE 0x100
#define OPT_IP 0x101
#define OPT_CONTENT 0x102
#define SIM_MAX_MIB (1ULL << 20)            /* MiB: 1 TiB */
#define SIM_MAX_DIRTY_RATE 100000000ULL     /* pages/s */

static int sim_create(int argc, char **argv)
{
    static const struct option lo[] = {
        { "memory", required_argument, NULL, 'm' },
        { "dirty-rate", required_argument, NULL, OPT_DIRTY_RATE },
        { "working-set", required_argument, NULL, 'w' },
        { "zero-fraction", required_argument, NULL, 'z' },
        { "hot", required_argument, NULL, 'H' },
        { "ip", required_argument, NULL, OPT_IP },
        { "mac", required_argument, NULL, 'M' },
        { "content", required_argument, NULL, OPT_CONTENT },
        { 0, 0, 0, 0 },
    };
    libxlmig_sim_params p;
    unsigned long long v;
    const char *name = NULL;
    char *end;
    int opt, rc;

    memset(&p, 0, sizeof(p));
    /* NAME comes first, as in `xl create`; options follow it. */
    if (argc > 1 && argv[1][0] != '-') {
        name = argv[1];
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    while ((opt = cmd_getopt(argc, argv, "m:r:w:z:H:i:M:", lo, "sim", 0))
           != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'm':
            if (!cmd_parse_range("sim", "memory", optarg, 1, SIM_MAX_MIB,
                                 "MiB", &v))
                return EXIT_USAGE;
            p.memory_mib = v;
            break;
        case 'r':       /* deprecated (NEWS): -r is the round limit */
        case OPT_DIRTY_RATE:
            if (!cmd_parse_range("sim", "dirty rate", optarg, 0,
                                 SIM_MAX_DIRTY_RATE, "pages/s", &v))
                return EXIT_USAGE;
            p.dirty_rate = v;
            break;
        case 'w':
            if (!cmd_parse_range("sim", "working set", optarg, 0,
                                 SIM_MAX_MIB, "MiB", &v))
                return EXIT_USAGE;
            p.working_set_mib = v;
            break;
        case 'z':
            p.zero_fraction = strtod(optarg, &end);
            if (*end || p.zero_fraction < 0 || p.zero_fraction > 1)
                return cmd_usage_error("sim", "invalid zero fraction '%s' "
                                       "(0 to 1)", optarg);
            break;
        case 'H':
            if (!cmd_parse_range("sim", "hot share", optarg, 0, 100, "%",
                                 &v))
                return EXIT_USAGE;
            p.hot_pct = (uint32_t)v;
            break;
        case 'i':       /* deprecated (NEWS): -i is probe's interval */
        case OPT_IP: p.ip = optarg; break;
        case 'M': p.mac = optarg; break;
        case OPT_CONTENT:
            if (libxlmig_sim_content_from_string(optarg, &p.content))
                return cmd_usage_error("sim", "invalid content '%s' "
                                       "(random or mixed)", optarg);
            break;
        default: return EXIT_USAGE;
        }
    }
    if (!name && argc - optind == 1)
        name = argv[optind++];
    if (!name || argc - optind != 0)
        return cmd_usage_error("sim", "create needs one NAME");
    if (!p.memory_mib)
        return cmd_usage_error("sim", "create needs --memory MIB");
    p.name = name;
    rc = libxlmig_sim_create(g.ctx, &p);
    return rc ? cmd_fail(rc, NULL) : EXIT_OK;
}

static int sim_verify(int argc, char **argv)
{
    uint64_t bad = 0, first = 0;
    int opt, rc;

    while ((opt = cmd_getopt(argc, argv, "", NULL, "sim", 1)) != 0) {
        if (opt == 'h') return EXIT_OK;
        return EXIT_USAGE;
    }
    if (argc - optind != 1)
        return cmd_usage_error("sim", "verify needs one NAME");
    rc = libxlmig_sim_verify(g.ctx, argv[optind], &bad, &first);
    if (rc) return cmd_fail(rc, NULL);
    if (g.json)
        printf("{\"version\":1,\"domain\":\"%s\",\"bad_pages\":%llu}\n",
               argv[optind], (unsigned long long)bad);
    if (bad)
        return cmd_fail(LIBXLMIG_ERROR_FAIL, "domain %s: memory check "
                        "FAILED: %llu pages differ (first: page %llu)",
                        argv[optind], (unsigned long long)bad,
                        (unsigned long long)first);
    if (!g.json)
        printf("domain %s: memory intact\n", argv[optind]);
    return EXIT_OK;
}

int main_sim(int argc, char **argv)
{
    if (argc < 2)
        return cmd_usage_error("sim", "missing subcommand (create, verify)");
    if (!strcmp(argv[1], "create"))
        return sim_create(argc - 1, argv + 1);
    if (!strcmp(argv[1], "verify"))
        return sim_verify(argc - 1, argv + 1);
    return cmd_usage_error("sim", "unknown subcommand '%s'", argv[1]);
}
