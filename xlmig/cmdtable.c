/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The command table, as in xl: name, handler, one-line help, usage and
 * option help in one row.  `xlmig help` prints it.
 */
#include <string.h>

#include "xlmig.h"

const struct cmd_spec cmd_table[] = {
    { "help", main_help,
      "Show the commands, or the usage of one",
      "[COMMAND]",
      "" },
    { "version", main_version,
      "Show the xlmig version",
      "",
      "" },
    { "info", main_info,
      "Show the host facts the backend reports (hypervisor, memory, CPUs)",
      "",
      "" },
    { "list", main_list,
      "List the domains of this host",
      "[DOMAIN]",
      "" },
    { "sim", main_sim,
      "Create or verify a simulated domain (xlmigd --backend=sim)",
      "create NAME --memory MIB [--dirty-rate PAGES_PER_S] "
      "[--working-set MIB] [--zero-fraction F] [--hot PCT] | verify NAME",
      "  --memory MIB          guest RAM\n"
      "  --dirty-rate N        pages the workload rewrites per second\n"
      "  --working-set MIB     span of RAM the workload writes (all)\n"
      "  --zero-fraction F     share of pages that start zero (0..1)\n"
      "  --hot PCT             PCT% of writes go to a tenth of the set\n" },
    { "save", main_save,
      "Save a domain's state to a file or stdout",
      "[-cA] [--live] [-d MS] [-B MIBPS] [-r N] [-L abort|force] "
      "DOMAIN FILE|-",
      "  -l, --live            pre-copy while the domain runs\n"
      "  -c, --checkpoint      leave the domain running afterwards\n"
      "  -d, --downtime MS     downtime limit (default 100)\n"
      "  -B, --bandwidth MIBPS bandwidth limit in MiB/s (none)\n"
      "  -r, --max-rounds N    pre-copy round limit (default 30)\n"
      "  -L, --on-limit ACT    at the limit: force (default) or abort\n"
      "  -A, --no-auto-converge  never throttle the guest\n" },
    { "restore", main_restore,
      "Restore a domain from a saved state file or stdin",
      "[-p] [-n NAME] FILE|-",
      "  -p, --paused          leave the domain paused\n"
      "  -n, --name NAME       restore under another name\n" },
    { "destroy", main_destroy,
      "Terminate a domain immediately",
      "DOMAIN",
      "" },
    { "pause", main_pause,
      "Pause execution of a domain",
      "DOMAIN",
      "" },
    { "unpause", main_unpause,
      "Unpause a paused domain",
      "DOMAIN",
      "" },
};

const int cmd_table_len = ARRAY_SIZE(cmd_table);

const struct cmd_spec *cmd_lookup(const char *name)
{
    int i;

    for (i = 0; i < cmd_table_len; i++)
        if (!strcmp(name, cmd_table[i].name))
            return &cmd_table[i];
    return NULL;
}
