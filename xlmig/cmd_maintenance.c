/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig maintenance enter|exit|status [NODE]`: maintenance mode, kept in
 * the node's state directory (so it survives daemon restarts).  NODE
 * other than this one is asked over an authenticated migration network.
 */
#include <stdlib.h>
#include <string.h>

#include "opsutil.h"

int main_maintenance(int argc, char **argv)
{
    libxlmig_cluster *cl = NULL;
    const char *verb, *node = NULL;
    bool on = false;
    int opt, rc;

    while ((opt = cmd_getopt(argc, argv, "", NULL, "maintenance", 1)) != 0)
        return opt == 'h' ? EXIT_OK : EXIT_USAGE;
    if (argc - optind < 1 || argc - optind > 2)
        return cmd_usage_error("maintenance", "need enter, exit or status");
    verb = argv[optind];
    if (argc - optind == 2)
        node = argv[optind + 1];
    if (strcmp(verb, "enter") && strcmp(verb, "exit") &&
        strcmp(verb, "status"))
        return cmd_usage_error("maintenance", "unknown action '%s'", verb);
    /* This node needs no cluster config; another one does. */
    if (node && ops_open_cluster(&cl))
        return EXIT_FAILED;
    if (!strcmp(verb, "status")) {
        rc = libxlmig_maintenance_get(g.ctx, cl, node, &on);
    } else {
        on = !strcmp(verb, "enter");
        rc = libxlmig_maintenance_set(g.ctx, cl, node, on);
    }
    if (rc) {
        libxlmig_cluster_free(cl);
        return cmd_fail(rc, NULL);
    }
    if (g.json)
        printf("{\"version\":1,\"node\":\"%s\",\"maintenance\":%s}\n",
               node ? node : cl ? "" : "local", on ? "true" : "false");
    else
        printf("%s: %s\n", node ? node : "this node",
               on ? "in maintenance (takes no migrations or placements)"
                  : "in service");
    libxlmig_cluster_free(cl);
    return EXIT_OK;
}
