/* SPDX-License-Identifier: GPL-2.0-only */
/* `xlmig restore [-p] [--name NAME] FILE|-`, like `xl restore`. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xlmig.h"

#define OPT_NAME 0x100           /* --name: long only */

int main_restore(int argc, char **argv)
{
    static const struct option lo[] = {
        { "paused", no_argument, NULL, 'p' },
        { "name", required_argument, NULL, OPT_NAME },
        { 0, 0, 0, 0 },
    };
    const char *file, *new_name = NULL;
    libxlmig_stats st;
    bool paused = false;
    char *name = NULL;
    int opt, fd, rc, ret;

    while ((opt = cmd_getopt(argc, argv, "pn:", lo, "restore", 1)) != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'p': paused = true; break;
        case 'n':       /* deprecated (NEWS): -n is the dry run elsewhere */
        case OPT_NAME: new_name = optarg; break;
        default: return EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cmd_usage_error("restore", "need one FILE");
    file = argv[optind];
    ret = cmd_open_backend();
    if (ret) return ret;
    if (!strcmp(file, "-")) {
        fd = STDIN_FILENO;
    } else {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return cmd_fail(0, "cannot open %s: %s", file, strerror(errno));
    }
    rc = libxlmig_domain_restore(g.ctx, fd, new_name, paused, cmd_progress,
                                 stdout, &st, &name);
    if (fd != STDIN_FILENO) close(fd);
    if (rc)
        return cmd_fail(rc, "restore failed: %s; no domain was created",
                        libxlmig_last_error(g.ctx));
    if (!g.json)
        printf("restored domain %s%s\n", name, paused ? " (paused)" : "");
    cmd_print_stats(stdout, "restore", &st);
    free(name);
    return EXIT_OK;
}
