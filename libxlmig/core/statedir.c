/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The node's state directory (libxlmig_state_dir): where maintenance
 * flags, handoff records, decisions, jobs and sim domain records live,
 * each written durably through one writer.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/tunables.h"

const char *libxlmig_state_dir(void)
{
    return libxlmig__tunable_state_dir();
}

int libxlmig__state_file_write(libxlmig__gc *gc, const char *sub,
                               const char *leaf, const char *text)
{
    const char *dir = libxlmig_state_dir();
    char *path, *tmp;
    FILE *f;
    int e;

    mkdir(dir, 0755);
    if (sub) {
        dir = GCSPRINTF("%s/%s", dir, sub);
        mkdir(dir, 0700);
    }
    path = GCSPRINTF("%s/%s", dir, leaf);
    tmp = GCSPRINTF("%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return -1;
    if (fputs(text, f) < 0 || fflush(f) || fsync(fileno(f))) {
        e = errno;
        fclose(f);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (fclose(f) || rename(tmp, path)) {
        e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

