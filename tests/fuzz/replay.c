/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Replays a fuzz harness over its seed corpus and its regression inputs
 * (tests/fuzz/corpus/<name>/) in `make check`, without libFuzzer: one TAP
 * line per input, which passes when the harness returns.  A crash kills
 * the test, which prove reports.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    char dir[4096], path[8192];
    struct dirent **ents;
    unsigned char *buf;
    const char *name;
    FILE *f;
    long len;
    int i, n;

    /* The harness name is the program's: tests/fuzz/<name>-corpus.t */
    name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%.*s", test_top_dir(),
             (int)(strlen(name) - strlen("-corpus.t")), name);
    n = scandir(dir, &ents, NULL, by_name);
    if (n < 0)
        bail("no corpus at %s", dir);
    plan_lazy();
    for (i = 0; i < n; i++) {
        if (ents[i]->d_name[0] == '.') {
            free(ents[i]);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
        f = fopen(path, "rb");
        if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0)
            sysbail("read %s", path);
        rewind(f);
        buf = malloc((size_t)len + 1);
        if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
            sysbail("read %s", path);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)len);
        ok(1, "%s: input %s handled", name, ents[i]->d_name);
        free(buf);
        free(ents[i]);
    }
    free(ents);
    return 0;
}
