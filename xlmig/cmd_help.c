/* SPDX-License-Identifier: GPL-2.0-only */
/* `xlmig help [COMMAND]` and `xlmig version` (also --version, -V). */
#include <string.h>

#include "xlmig.h"

int main_help(int argc, char **argv)
{
    int i, opt;

    if (argc > 0) {
        while ((opt = cmd_getopt(argc, argv, "", NULL, "help", 0)) != 0) {
            if (opt == 'h') return EXIT_OK;
            return EXIT_USAGE;
        }
        if (argc - optind > 1)
            return cmd_usage_error("help", "too many arguments");
        if (argc - optind == 1) {
            if (!cmd_lookup(argv[optind])) {
                fprintf(stderr, "%s: unknown command '%s'\n", g.progname,
                        argv[optind]);
                return EXIT_USAGE;
            }
            cmd_usage(stdout, argv[optind], true);
            return EXIT_OK;
        }
    }
    printf("usage: xlmig [-vV] [-N] [-c CONFIG] [--json] [--backend xen|sim] "
           "COMMAND [ARGS...]\n\n"
           "Live-migrate Xen domains between the dom0s of a cluster.\n\n"
           "Global options:\n"
           "  -c, --config FILE   cluster configuration (default %s)\n"
           "  -v, --verbose       more log output (repeat for debug)\n"
           "  -N, --dry-run       check and plan only; change nothing\n"
           "  -j, --json          machine-readable JSON output\n"
           "  -b, --backend KIND  xen (default) or sim\n"
           "  -V, --version       print the version and exit\n\n"
           "Commands:\n", XLMIG_DEFAULT_CONFIG);
    for (i = 0; i < cmd_table_len; i++)
        printf("  %-18s %s\n", cmd_table[i].name, cmd_table[i].help);
    printf("\nRun 'xlmig help COMMAND' for the usage of one command.\n");
    return EXIT_OK;
}

int main_version(int argc, char **argv)
{
    int opt;

    /* argc 0: --version or -V, before any command. */
    while (argc > 0 &&
           (opt = cmd_getopt(argc, argv, "", NULL, "version", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        return EXIT_USAGE;
    }
    if (argc > 0 && argc - optind > 0)
        return cmd_usage_error("version", "too many arguments");
    if (g.json)
        printf("{\"version\":1,\"xlmig\":\"%s\"}\n", LIBXLMIG_VERSION);
    else
        printf("xlmig %s\n", LIBXLMIG_VERSION);
    return EXIT_OK;
}
