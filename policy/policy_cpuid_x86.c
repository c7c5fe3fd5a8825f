/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Capture of the running CPU's policy with the cpuid instruction: reads
 * the leaves the policy needs into a leaf array and hands it to
 * policy_from_leaves, the same path Xen's serialised policies take.
 * Under a hypervisor this is the policy the hypervisor gives this
 * kernel, which is what a sim host offers its domains.
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static void read_leaf(struct policy_leaf *l, uint32_t leaf, uint32_t sub)
{
    unsigned int a, b, c, d;

    __cpuid_count(leaf, sub == POLICY_NO_SUBLEAF ? 0 : sub, a, b, c, d);
    l->leaf = leaf;
    l->subleaf = sub;
    l->a = a;
    l->b = b;
    l->c = c;
    l->d = d;
}

bool policy_capture_native(struct policy_cpuid *p)
{
    static const struct { uint32_t leaf, sub; } want[] = {
        { 0x0, POLICY_NO_SUBLEAF }, { 0x1, POLICY_NO_SUBLEAF },
        { 0x7, 0 }, { 0x7, 1 }, { 0xd, 1 },
        { 0x80000000u, POLICY_NO_SUBLEAF },
        { 0x80000001u, POLICY_NO_SUBLEAF },
        { 0x80000007u, POLICY_NO_SUBLEAF },
        { 0x80000008u, POLICY_NO_SUBLEAF },
    };
    struct policy_leaf leaves[sizeof(want) / sizeof(want[0])];
    uint32_t max = 0, maxext = 0;
    size_t i, n = 0;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint32_t leaf = want[i].leaf;

        /* Never ask beyond the maxima: out-of-range leaves alias others. */
        if (leaf >= 0x80000000u ? (leaf > 0x80000000u && leaf > maxext)
                                : (leaf > 0 && leaf > max))
            continue;
        read_leaf(&leaves[n], leaf, want[i].sub);
        if (leaf == 0)
            max = leaves[n].a;
        if (leaf == 0x80000000u)
            maxext = (leaves[n].a & 0xffff0000u) == 0x80000000u
                     ? leaves[n].a : 0;
        n++;
    }
    policy_from_leaves(p, leaves, n);
    snprintf(p->name, sizeof(p->name), "host");
    snprintf(p->source, sizeof(p->source), "cpuid instruction");
    return true;
}

#else

bool policy_capture_native(struct policy_cpuid *p)
{
    policy_init(p);
    return false;
}

#endif
