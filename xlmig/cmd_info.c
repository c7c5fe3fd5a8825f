/* SPDX-License-Identifier: GPL-2.0-only */
/* `xlmig info`: the host facts the backend reports, as `xl info` does. */
#include <stdlib.h>

#include "xlmig.h"

int main_info(int argc, char **argv)
{
    libxlmig_host_info hi;
    char *json = NULL;
    int opt, rc, ret;

    libxlmig_host_info_init(&hi);
    while ((opt = cmd_getopt(argc, argv, "", NULL, "info", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        return EXIT_USAGE;
    }
    if (argc - optind > 0)
        return cmd_usage_error("info", "too many arguments");

    ret = cmd_open_backend();
    if (ret) goto out;
    rc = libxlmig_host_info_get(g.ctx, &hi);
    if (rc) {
        ret = cmd_fail(rc, NULL);
        goto out;
    }
    if (g.json) {
        rc = libxlmig_host_info_to_json(g.ctx, &hi, &json);
        if (rc) {
            ret = cmd_fail(rc, NULL);
            goto out;
        }
        printf("%s\n", json);
    } else {
        printf("backend                : %s\n", hi.backend);
        printf("host                   : %s\n", hi.hostname ? hi.hostname
                                                             : "");
        printf("hypervisor             : %s\n", hi.hypervisor);
        printf("scheduler              : %s\n", hi.scheduler);
        printf("nr_cpus                : %u\n", hi.nr_cpus);
        printf("nr_nodes               : %u\n", hi.nr_nodes);
        printf("cpu_mhz                : %u\n", hi.cpu_mhz);
        printf("total_memory           : %llu MiB\n",
               (unsigned long long)(hi.total_memory_kib / 1024));
        printf("free_memory            : %llu MiB\n",
               (unsigned long long)(hi.free_memory_kib / 1024));
    }
    ret = EXIT_OK;
 out:
    free(json);
    libxlmig_host_info_dispose(&hi);
    return ret;
}
