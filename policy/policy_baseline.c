/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Where the named baselines (policy/baselines/NAME.json) live: the
 * installed data directory and the build tree, in the order a program
 * should try them.  No I/O here; libxlmig checks which exists.
 */
#include <string.h>

#include "policy.h"

#ifndef POLICY_BASELINE_DATADIR
#define POLICY_BASELINE_DATADIR "/usr/local/share/xlmig/baselines"
#endif
#ifndef POLICY_BASELINE_SRCDIR
#define POLICY_BASELINE_SRCDIR ""
#endif
#ifndef POLICY_BUILD_ROOT
#define POLICY_BUILD_ROOT ""
#endif

const char *policy_baseline_dir(bool from_build_tree, unsigned int i)
{
    const char *dirs[2];

    if (from_build_tree && *POLICY_BASELINE_SRCDIR) {
        dirs[0] = POLICY_BASELINE_SRCDIR;
        dirs[1] = POLICY_BASELINE_DATADIR;
    } else {
        dirs[0] = POLICY_BASELINE_DATADIR;
        dirs[1] = *POLICY_BASELINE_SRCDIR ? POLICY_BASELINE_SRCDIR : NULL;
    }
    return i < 2 ? dirs[i] : NULL;
}

bool policy_is_build_tree_path(const char *path)
{
    size_t n = strlen(POLICY_BUILD_ROOT);

    return n && path && !strncmp(path, POLICY_BUILD_ROOT, n) &&
           path[n] == '/';
}
