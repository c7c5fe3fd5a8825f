/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xlmigd: the node daemon.  With --backend=sim it hosts the sim domains
 * of this node and runs the migration engine for them; it stays in the
 * foreground (run it under systemd or with &) and listens on a unix
 * socket (default /run/xlmig/xlmigd.sock; -s PATH or $XLMIGD_SOCKET).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxlmig.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: xlmigd [-v] [-F] [-s SOCKET] --backend=sim\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "backend", required_argument, NULL, 'b' },
        { "socket", required_argument, NULL, 's' },
        { "foreground", no_argument, NULL, 'F' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *backend = NULL, *sock = NULL;
    xentoollog_logger *lg;
    libxlmig_ctx *ctx = NULL;
    int opt, verbose = 0, rc;

    while ((opt = getopt_long(argc, argv, "b:s:Fvh", lo, NULL)) != -1) {
        switch (opt) {
        case 'b': backend = optarg; break;
        case 's': sock = optarg; break;
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
    if (strcmp(backend, "sim")) {
        fprintf(stderr, "xlmigd: backend '%s' is not supported yet "
                "(only sim)\n", backend);
        return 2;
    }
    lg = (xentoollog_logger *)xtl_createlogger_stdiostream(
        stderr, verbose >= 2 ? XTL_DEBUG : verbose ? XTL_INFO : XTL_WARN,
        XTL_STDIOSTREAM_SHOW_DATE);
    if (!lg || libxlmig_ctx_alloc(&ctx, lg)) {
        fprintf(stderr, "xlmigd: cannot allocate a context\n");
        return 1;
    }
    rc = libxlmig_sim_daemon_run(ctx, sock);
    if (rc)
        fprintf(stderr, "xlmigd: %s\n", libxlmig_last_error(ctx));
    libxlmig_ctx_free(ctx);
    xtl_logger_destroy(lg);
    return rc ? 1 : 0;
}
