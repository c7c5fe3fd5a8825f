/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xlmigd: the node daemon.  With --backend=sim it hosts the sim domains
 * of this node and runs the migration engine for them; with --backend=xen
 * it migrates this dom0's Xen domains through libxl; it stays in the
 * foreground (run it under systemd or with &) and listens on a unix
 * socket (default /run/xlmig/xlmigd.sock; -s PATH or $XLMIGD_SOCKET).
 * With a cluster config (-c) it also serves the other nodes on this
 * node's migration networks: queries, and migrations in and out.
 */
#include <execinfo.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libxlmig.h"

#define OPT_METRICS 0x100        /* --metrics FILE: long only */

/*
 * A daemon that dies of a fatal signal says where, in its log (stderr),
 * before the default action (core dump) runs: the frames as
 * backtrace_symbols_fd prints them, addresses inside libxlmig.so resolve
 * with addr2line against the build.  Domains are not affected: they
 * outlive the daemon, and the next one takes them over.
 */
static void on_fatal(int sig)
{
    static const char head[] = "xlmigd: fatal signal, backtrace:\n";
    void *frames[64];
    int n;

    if (write(STDERR_FILENO, head, sizeof(head) - 1) < 0) {
        /* nothing else to do */
    }
    n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void fatal_handlers(void)
{
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
    struct sigaction sa;
    void *warm[1];
    size_t i;

    backtrace(warm, 1);   /* loads libgcc now, not in the handler */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal;
    /* On the thread's alternate stack (libxlmig gives every thread that
     * serves peers one): a handler on an overflowed stack cannot run. */
    sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xlmigd [-v] [-F] [-s SOCKET] [-c CONFIG [-n NODE]] "
            "[-m MIB] [-C CPU] [-P IF] [--metrics FILE] --backend=sim|xen\n"
            "  -c, --config FILE     cluster config: serve the other nodes\n"
            "  -n, --node NODE       this node (default: by its addresses)\n"
            "  -m, --memory MIB      sim: memory for domains (default: "
            "the host's)\n"
            "  -C, --cpu-policy CPU  sim: act as a node with this CPU "
            "(baseline name\n"
            "                        or policy file)\n"
            "  -P, --public-if IF    announce arriving domains on IF\n"
            "  --metrics FILE        write Prometheus metrics to FILE for "
            "node_exporter's\n"
            "                        textfile collector (default: the "
            "collector's\n"
            "                        directory when it exists, xlmigd(8); "
            "'' for none)\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "backend", required_argument, NULL, 'b' },
        { "socket", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "node", required_argument, NULL, 'n' },
        { "memory", required_argument, NULL, 'm' },
        { "cpu-policy", required_argument, NULL, 'C' },
        { "public-if", required_argument, NULL, 'P' },
        { "metrics", required_argument, NULL, OPT_METRICS },
        { "foreground", no_argument, NULL, 'F' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *backend = NULL;
    libxlmig_daemon_opts o;
    char *end;
    xentoollog_logger *lg;
    libxlmig_ctx *ctx = NULL;
    int opt, verbose = 0, rc;

    memset(&o, 0, sizeof(o));
    while ((opt = getopt_long(argc, argv, "b:s:c:n:m:C:P:Fvh", lo,
                              NULL)) != -1) {
        switch (opt) {
        case 'b': backend = optarg; break;
        case 's': o.socket = optarg; break;
        case 'c': o.config = optarg; break;
        case 'n': o.node = optarg; break;
        case 'C': o.cpu_policy = optarg; break;
        case 'P': o.public_if = optarg; break;
        case OPT_METRICS: o.metrics_file = optarg; break;
        case 'm':
            o.memory_mib = strtoull(optarg, &end, 10);
            if (!*optarg || *end) {
                fprintf(stderr, "xlmigd: invalid memory '%s'\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'F': break;               /* always in the foreground */
        case 'v': verbose++; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !backend) {
        usage(stderr);
        return 2;
    }
    if (strcmp(backend, "sim") && strcmp(backend, "xen")) {
        fprintf(stderr, "xlmigd: unknown backend '%s' (xen or sim)\n",
                backend);
        return 2;
    }
    o.backend = backend;
    fatal_handlers();
    lg = (xentoollog_logger *)xtl_createlogger_stdiostream(
        stderr, verbose >= 2 ? XTL_DEBUG : verbose ? XTL_INFO : XTL_WARN,
        XTL_STDIOSTREAM_SHOW_DATE);
    if (!lg || libxlmig_ctx_alloc(&ctx, lg)) {
        fprintf(stderr, "xlmigd: cannot allocate a context\n");
        return 1;
    }
    rc = libxlmig_daemon_run(ctx, &o);
    if (rc)
        fprintf(stderr, "xlmigd: %s\n", libxlmig_last_error(ctx));
    libxlmig_ctx_free(ctx);
    xtl_logger_destroy(lg);
    return rc ? 1 : 0;
}
