/* SPDX-License-Identifier: GPL-2.0-only */
/* `xlmig pause DOMAIN` and `xlmig unpause DOMAIN`, like xl's. */
#include "xlmig.h"

static int pause_common(int argc, char **argv, const char *cmd, bool pause)
{
    int opt, rc, ret;

    while ((opt = cmd_getopt(argc, argv, "", NULL, cmd, 1)) != 0) {
        if (opt == 'h') return EXIT_OK;
        return EXIT_USAGE;
    }
    if (argc - optind != 1)
        return cmd_usage_error(cmd, "need one DOMAIN");
    ret = cmd_open_backend();
    if (ret) return ret;
    rc = pause ? libxlmig_domain_pause(g.ctx, argv[optind])
               : libxlmig_domain_unpause(g.ctx, argv[optind]);
    return rc ? cmd_fail(rc, NULL) : EXIT_OK;
}

int main_pause(int argc, char **argv)
{
    return pause_common(argc, argv, "pause", true);
}

int main_unpause(int argc, char **argv)
{
    return pause_common(argc, argv, "unpause", false);
}
