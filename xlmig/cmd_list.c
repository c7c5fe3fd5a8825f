/* SPDX-License-Identifier: GPL-2.0-only */
/* `xlmig list [DOMAIN]`: the domains of this host, as `xl list` shows. */
#include <stdlib.h>

#include "xlmig.h"

int main_list(int argc, char **argv)
{
    libxlmig_dominfo *list = NULL, one;
    char *json = NULL;
    int i, nr = 0, opt, rc, ret;

    libxlmig_dominfo_init(&one);
    while ((opt = cmd_getopt(argc, argv, "", NULL, "list", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        return EXIT_USAGE;
    }
    if (argc - optind > 1)
        return cmd_usage_error("list", "too many arguments");

    ret = cmd_open_backend();
    if (ret) goto out;
    if (argc - optind == 1) {
        rc = libxlmig_domain_info(g.ctx, argv[optind], &one);
        if (rc) {
            ret = cmd_fail(rc, NULL);
            goto out;
        }
        list = &one;
        nr = 1;
    } else {
        rc = libxlmig_domain_list(g.ctx, &list, &nr);
        if (rc) {
            ret = cmd_fail(rc, NULL);
            goto out;
        }
    }
    if (g.json) {
        rc = libxlmig_domain_list_to_json(g.ctx, list, nr, &json);
        if (rc) {
            ret = cmd_fail(rc, NULL);
            goto out;
        }
        printf("%s\n", json);
    } else {
        printf("%-24s %5s %9s %5s %-9s %s\n", "Name", "ID", "Mem(MiB)",
               "VCPUs", "State", "UUID");
        for (i = 0; i < nr; i++)
            printf("%-24s %5u %9llu %5u %-9s %s\n",
                   list[i].name ? list[i].name : "(null)", list[i].domid,
                   (unsigned long long)(list[i].memory_kib / 1024),
                   list[i].vcpus,
                   libxlmig_domain_state_to_string(list[i].state),
                   list[i].uuid);
    }
    ret = EXIT_OK;
 out:
    free(json);
    if (list == &one)
        libxlmig_dominfo_dispose(&one);
    else
        libxlmig_dominfo_list_free(list, nr);
    return ret;
}
