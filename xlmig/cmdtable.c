/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The command table, as in xl: name, handler, one-line help, usage and
 * option help in one row.  `xlmig help` prints it.
 */
#include <string.h>

#include "xlmig.h"

const struct cmd_spec cmd_table[] = {
    { "migrate-cluster", main_migrate_cluster,
      "Live-migrate a domain to another node of the cluster",
      "[-n] [-F NODE] [-d MS] [-B RATE] "
      "[--compression MODE] [-r N] [-L abort|force] [-A] "
      "DOMAIN TARGET",
      "  -n, --dry-run         run the pre-flight checks only\n"
      "  -F, --from NODE       DOMAIN runs on NODE: its xlmigd migrates it "
      "and\n                        this command follows\n"
      CMD_PARAM_HELP
      "Exit status: 0 migrated, 1 failed (the domain runs here), 2 bad "
      "usage,\n3 handoff ambiguous (both copies paused: xlmig recover).\n" },
    { "cancel", main_cancel,
      "Cancel the running migration of a domain (it stays here)",
      "DOMAIN",
      "" },
    { "recover", main_recover,
      "Settle a handoff left ambiguous: ask the target, then destroy or "
      "resume the paused copy here",
      "DOMAIN",
      "" },
    { "status", main_status,
      "Show what runs on this node and its peers: migrations (phase, "
      "round, bytes, rate, dirty rate, ETA, network), queues, drains, "
      "jobs, maintenance",
      "[--local] [DOMAIN]",
      "  --local               this node only (default: every node of the "
      "config)\n"
      "  --json                one JSON document of every node's status "
      "(also a\n                        global option)\n"
      "DOMAIN shows only what concerns that domain.  A migration that "
      "waits for\na slot (max_outgoing) shows its place in the queue.  "
      "Exit status: 0, or 1\nwhen this node's xlmigd does not answer.\n" },
    { "history", main_history,
      "List the past migrations of this node, or show one in full",
      "[--last N] [DOMAIN]\n"
      "       xlmig history show ID",
      "  --last N              the N newest, 1 to 1000 (default 20)\n"
      "  --json                JSON output (also a global option)\n"
      "One line per migration sent or received: when it began, direction, "
      "domain,\nsource, target, outcome, duration, downtime, bytes, "
      "prediction error and\nthe start of its id; `history show ID` (the "
      "id or a prefix only it has)\nprints the record with the "
      "migration's report.  xlmigd keeps the last\n1000 in "
      "STATE_DIR/history.\n" },
    { "maintenance", main_maintenance,
      "Put a node in maintenance mode (no migrations or placements), take "
      "it out, or show its mode",
      "enter|exit|status [NODE]",
      "NODE defaults to this node; another node is asked over a migration "
      "network.\n" },
    { "drain", main_drain,
      "Enter maintenance and live-migrate every domain of a node away",
      "[-n] [-C] [-R FILE] [-d MS] [-B RATE] [--compression MODE] [NODE]",
      "  -n, --dry-run         print the plan with estimated times only\n"
      "  -C, --cron            no output but errors; syslog per domain; "
      "JSON report\n"
      "  -R, --report FILE     write the JSON report to FILE (--cron: "
      "default\n"
      "                        STATE_DIR/drain-report.json)\n"
      CMD_PARAM_HELP
      "NODE defaults to this node; another node's xlmigd drains it and "
      "this\ncommand follows (Ctrl-C stops that drain).\n"
      "Exit status: 0 all moved, 1 some could not move, 3 could not "
      "start\n(another drain runs, no daemon), 4 interrupted (run it "
      "again to continue).\n" },
    { "integration", main_integration,
      "Integration job: migrate a domain around nodes (or drain and bring "
      "it back), check it after every move, write TAP and JUnit XML",
      "[-n] --nodes A,B[,...] [--hops N] [--probe ADDR[:PORT]] "
      "[--tap FILE] [--junit FILE] [-d MS] [-B RATE] "
      "[--compression MODE] DOMAIN\n"
      "       xlmig integration [-n] --drain [--hops N] [--probe "
      "ADDR[:PORT]]\n"
      "                         [--tap FILE] [--junit FILE] DOMAIN",
      "  --nodes A,B[,...]     the nodes DOMAIN goes round, in this order\n"
      "  --hops N              moves, 1 to 1000 (default: one per node; "
      "--drain: 1)\n"
      "  --drain               each hop drains the node DOMAIN runs on "
      "(as a job of\n"
      "                        its xlmigd), then brings DOMAIN back\n"
      "  --probe ADDR[:PORT]   DOMAIN's echo service (port 7): it must "
      "answer after\n"
      "                        every move; the gap during it is reported\n"
      "  --tap FILE            the TAP results (default: stdout)\n"
      "  --junit FILE          also JUnit XML, made by tap2junit "
      "(libtap-formatter-junit-perl)\n"
      "  -n, --dry-run         print the series only\n"
      CMD_PARAM_HELP
      "After every move: the migration worked, DOMAIN runs exactly once in "
      "the\ncluster (every node of the config is asked), on the node it "
      "should, and\nanswers its probe.  A move from another node runs as a "
      "job of that\nnode's xlmigd.  The series stops at the first check "
      "that fails.\nExit status: 0 when every check passed, 1 when one "
      "failed, 2 bad usage.\n" },
    { "estimate", main_estimate,
      "Predict a live migration: total time, rounds and downtime",
      "[-s MS] [-S MIB] [-d MS] [-B RATE] "
      "[--compression MODE] DOMAIN [TARGET]",
      "  -s, --sample MS       dirty-log sample time, 40 to 60000 "
      "(default 2000)\n"
      "  -S, --probe MIB       bandwidth probe size, 1 to 1024 (default 32)\n"
      CMD_PARAM_HELP },
    { "validate", main_validate,
      "Check the whole cluster: daemons, keys, config, versions, CPUs, "
      "networks, clocks, storage",
      "[-k MS]",
      "  -k, --clock-skew MS   largest clock difference allowed, 1 to "
      "3600000\n                        (default 2000)\n"
      "  --json                JSON output (also a global option)\n"
      "Exit status: 0 when every check passes, 1 when any fails.\n" },
    { "balance", main_balance,
      "Propose (or perform) migrations that bring every node under a "
      "memory-use threshold",
      "[-a] [-t PCT] [MIGRATION OPTIONS]",
      "  -a, --apply           perform the moves (each by its source's "
      "xlmigd)\n"
      "  -t, --threshold PCT   memory use to stay under, 1 to 100 "
      "(default 80)\n"
      CMD_PARAM_HELP },
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
    { "keygen", main_keygen,
      "Make a new cluster key file (mode 0600) to copy to every node",
      "[-f] FILE",
      "  -f, --force         replace an existing key file\n" },
    { "probe", main_probe,
      "Measure the interruption a domain's clients see (echo service)",
      "[-i MS] [-D MS] ADDR[:PORT]",
      "  -i, --interval MS   one request every MS milliseconds, 1 to 60000 "
      "(default 5)\n"
      "  -D, --duration MS   probe for MS milliseconds, 1 to 86400000 "
      "(default\n                      10000; -d MS is a deprecated "
      "spelling)\n" },
    { "list", main_list,
      "List the domains of this host",
      "[DOMAIN]",
      "" },
    { "cpuid", main_cpuid,
      "CPUID policies: show, check compatibility, level a cluster, set a "
      "domain's compatibility baseline",
      "show [--host | [-x CFG] DOMAIN | --policy FILE]\n"
      "       xlmig cpuid baselines\n"
      "       xlmig cpuid check (DOMAIN | --policy FILE) "
      "(TARGET | --host-policy FILE)\n"
      "       xlmig cpuid level [--baseline NAME] [POLICY_FILE ...]\n"
      "       xlmig cpuid set-compat [-x CFG] DOMAIN BASELINE",
      "  --host              this host's policy (from the backend)\n"
      "  --policy FILE       a policy file (JSON), a baseline name or host\n"
      "  --host-policy FILE  the target's policy: file, baseline or host\n"
      "  --baseline NAME     level: mask to this baseline\n"
      "  -x, --xlcfg CFG     the domain's xl.cfg (default "
      "/etc/xen/DOMAIN.cfg)\n"
      "  --json              JSON output (also a global option)\n"
      "check exits 0 when compatible, 1 when not, 2 on bad input.\n" },
    { "net", main_net,
      "Show the migration networks, or check each peer's xlmigd over them",
      "show [--node NODE] | check [--node NODE] [-T MS] [-S MIB] [NODE...]",
      "  --node NODE           act as this node (default: the node owning a "
      "local address)\n"
      "  -T, --timeout MS      check: connect timeout per network, 1 to "
      "60000\n                        (default 1000)\n"
      "  -S, --probe MIB       check: throughput probe size, 0 to 256, 0 "
      "skips it\n                        (default 16)\n"
      "-n NODE, -s MIB and --size MIB are deprecated spellings (NEWS).\n" },
    { "sim", main_sim,
      "Create or verify a simulated domain (xlmigd --backend=sim)",
      "create NAME --memory MIB [--dirty-rate PAGES_PER_S] "
      "[--working-set MIB] [--zero-fraction F] [--hot PCT] [--ip ADDR] "
      "[--mac MAC] [--content random|mixed] | verify NAME",
      "  --memory MIB          guest RAM, 1 to 1048576\n"
      "  --dirty-rate N        pages the workload rewrites per second\n"
      "  --working-set MIB     span of RAM the workload writes (all)\n"
      "  --zero-fraction F     share of pages that start zero (0..1)\n"
      "  --hot PCT             PCT% of writes go to a tenth of the set\n"
      "  --ip ADDR             its IPv4 address on the public network\n"
      "  --mac MAC             its MAC address (default 00:16:3e:...)\n"
      "  --content KIND        what its pages hold: random, or mixed (zero,\n"
      "                        text, code, records, random; the default)\n" },
    { "save", main_save,
      "Save a domain's state to a file or stdout",
      "[-cA] [--live] [-d MS] [-B RATE] "
      "[--compression MODE] [-r N] [-L abort|force] "
      "DOMAIN FILE|-",
      "  -l, --live            pre-copy while the domain runs\n"
      "  -c, --checkpoint      leave the domain running afterwards\n"
      CMD_PARAM_HELP },
    { "restore", main_restore,
      "Restore a domain from a saved state file or stdin",
      "[-p] [--name NAME] FILE|-",
      "  -p, --paused          leave the domain paused\n"
      "  --name NAME           restore under another name (-n NAME is a\n"
      "                        deprecated spelling)\n" },
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
