/* SPDX-License-Identifier: GPL-2.0-only */
/* `xlmig destroy DOMAIN`, like `xl destroy`. */
#include "xlmig.h"

int main_destroy(int argc, char **argv)
{
    int opt, rc, ret;

    while ((opt = cmd_getopt(argc, argv, "", NULL, "destroy", 1)) != 0) {
        if (opt == 'h') return EXIT_OK;
        return EXIT_USAGE;
    }
    if (argc - optind != 1)
        return cmd_usage_error("destroy", "need one DOMAIN");
    ret = cmd_open_backend();
    if (ret) return ret;
    rc = libxlmig_domain_destroy(g.ctx, argv[optind]);
    return rc ? cmd_fail(rc, NULL) : EXIT_OK;
}
