/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The xlmig command line: the command table, the global options every
 * command sees, and the helpers commands use to parse options and report
 * results.  Only this folder prints or exits.
 */
#ifndef XLMIG_H
#define XLMIG_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "libxlmig.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Exit codes of every command. */
#define EXIT_OK      0   /* success */
#define EXIT_FAILED  1   /* the operation failed (message printed) */
#define EXIT_USAGE   2   /* bad command line */

#define XLMIG_DEFAULT_CONFIG "/etc/xen/xlmig.cfg"

/* One row of the command table: everything `help` needs, in one place. */
struct cmd_spec {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;       /* one line */
    const char *usage;      /* arguments after the command name */
    const char *options;    /* option help, one option per line */
};

extern const struct cmd_spec cmd_table[];
extern const int cmd_table_len;
const struct cmd_spec *cmd_lookup(const char *name);

/* Global options, set by main() before a command runs. */
struct xlmig_globals {
    const char *progname;        /* "xlmig" or "xl-migrate-cluster" */
    bool as_xl;                  /* run as xl-migrate-cluster */
    const char *config_file;     /* -c; default XLMIG_DEFAULT_CONFIG */
    bool config_given;           /* -c was given */
    int verbosity;               /* number of -v */
    bool json;                   /* --json */
    bool dry_run;                /* -N */
    libxlmig_backend_kind backend; /* --backend */
    bool backend_given;
    xentoollog_logger *logger;
    libxlmig_ctx *ctx;
};
extern struct xlmig_globals g;

/*
 * xl-style option loop for a command: returns the next option character,
 * 0 when options end, or after printing help for -h returns 'h' (the
 * caller exits 0); on a bad option prints the usage line and returns '?'
 * (the caller exits EXIT_USAGE).  Checks at least min_args remain.
 */
int cmd_getopt(int argc, char **argv, const char *opts,
               const struct option *longopts, const char *cmd, int min_args);

/* Print the usage line (and options when full) of cmd to f. */
void cmd_usage(FILE *f, const char *cmd, bool full);

/* Report a bad command line for cmd and return EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Report a failed operation: the library's last error (or fmt) on stderr,
 * or a JSON error object on stdout with --json.  Returns EXIT_FAILED.
 */
int cmd_fail(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Open the backend chosen by --backend (default xen); reports failure. */
int cmd_open_backend(void);

/*
 * Parse a decimal option value within min..max (unit names them in the
 * message, "" for none); false, reported as a usage error, if it is not
 * a number or out of range.  Every numeric option goes through it.
 */
bool cmd_parse_range(const char *cmd, const char *what, const char *s,
                     unsigned long long min, unsigned long long max,
                     const char *unit, unsigned long long *v_r);

/* Command handlers: one cmd_<name>.c each. */
int main_help(int argc, char **argv);
int main_version(int argc, char **argv);
int main_info(int argc, char **argv);
int main_list(int argc, char **argv);
int main_probe(int argc, char **argv);
int main_keygen(int argc, char **argv);
int main_cpuid(int argc, char **argv);
int main_net(int argc, char **argv);
int main_sim(int argc, char **argv);
int main_save(int argc, char **argv);
int main_restore(int argc, char **argv);
int main_destroy(int argc, char **argv);
int main_pause(int argc, char **argv);
int main_unpause(int argc, char **argv);
int main_migrate_cluster(int argc, char **argv);
int main_cancel(int argc, char **argv);
int main_recover(int argc, char **argv);
int main_maintenance(int argc, char **argv);
int main_drain(int argc, char **argv);
int main_estimate(int argc, char **argv);
int main_validate(int argc, char **argv);
int main_balance(int argc, char **argv);
int main_status(int argc, char **argv);
int main_history(int argc, char **argv);
int main_integration(int argc, char **argv);

/*
 * The migration parameters every migrating command takes (cmd_save.c):
 * -d MS, -B RATE, --compression MODE, -r N, -L abort|force, -A.  Those
 * given override the config's defaults (libxlmig_params_resolve, where
 * the migration runs).  cmd_param_opt returns 1 if opt was one of them,
 * 0 if not, -1 after reporting a bad value.
 */
#define CMD_OPT_COMPRESSION 0x100   /* --compression: no short option */
#define CMD_PARAM_OPTS "d:B:r:L:A"
#define CMD_PARAM_LONGOPTS \
    { "downtime", required_argument, NULL, 'd' }, \
    { "bandwidth", required_argument, NULL, 'B' }, \
    { "compression", required_argument, NULL, CMD_OPT_COMPRESSION }, \
    { "max-rounds", required_argument, NULL, 'r' }, \
    { "on-limit", required_argument, NULL, 'L' }, \
    { "no-auto-converge", no_argument, NULL, 'A' }
#define CMD_PARAM_HELP \
    "  -d, --downtime MS     downtime limit, 1 to 3600000 (default: the\n" \
    "                        config's downtime_limit_ms, else 100)\n" \
    "  -B, --bandwidth RATE  bandwidth limit: Mbit/s, or with a unit\n" \
    "                        (500Mbit, 10Gbit, 100MiB; 1 Mbit/s to\n" \
    "                        10 Tbit/s; 0: none; default: the config's)\n" \
    "      --compression MODE  auto, off, lz4 or zstd (default: the\n" \
    "                        config's compression, else auto)\n" \
    "  -r, --max-rounds N    pre-copy round limit, 1 to 1000 (default 30)\n" \
    "  -L, --on-limit ACT    at the limit: force (default) or abort\n" \
    "  -A, --no-auto-converge  never throttle the guest\n"
int cmd_param_opt(const char *cmd, int opt, const char *arg,
                  libxlmig_params *params);

/* A migration report, parsed, as migrate-cluster prints it: pre-flight
 * verdicts, prediction, attempts, outcome (cmd_migrate.c). */
struct yajl_val_s;
void cmd_print_report_val(FILE *f, struct yajl_val_s *report);

/* Migration progress (cmd_save.c): user is the FILE to report to. */
void cmd_progress(void *user, const libxlmig_stats *st);
void cmd_print_stats(FILE *f, const char *what, const libxlmig_stats *st);
FILE *cmd_report_stream(bool stream_on_stdout);

#endif /* XLMIG_H */
