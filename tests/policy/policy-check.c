/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The compatibility check and levelling against the named baselines:
 * domain/host pairs across both vendors and the psABI levels, each with
 * its verdict, the exact missing features, vendor mismatch and leaf
 * shortfalls; then levelling of baseline sets (intersection and highest
 * named baseline), and the pre-flight wrapper libxlmig_cpu_check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxlmig.h"
#include "policy.h"
#include "tap.h"

/*
 * Features Xen 4.17 never offers a guest (no A, S or H annotation in
 * cpufeatureset.h: osvw, topoext, wbnoinvd, avx512-fp16, monitor...) are
 * not compared, so they never appear in a missing list.
 */
static const struct {
    const char *domain, *host;
    bool compatible;
    const char *missing;     /* exact, in table order */
    bool vendor_mismatch;
    bool leaf_short;         /* max basic leaf */
    bool ext_leaf_short;     /* max extended leaf */
} pairs[] = {
    /* The cases the issue names. */
    { "x86-64-v3", "Broadwell", true, "", false, false, false },
    { "x86-64-v4", "EPYC-Milan", false,
      "avx512f avx512dq avx512cd avx512bw avx512vl", false, false, false },
    { "Haswell", "Haswell-noTSX", false, "hle rtm", false, false, false },
    { "Skylake-Server", "Skylake-Client", false,
      "page1gb avx512f avx512dq clflushopt clwb avx512cd avx512bw avx512vl "
      "pku", false, false, false },
    { "EPYC-Rome", "EPYC-Milan", true, "", false, false, false },
    { "Haswell", "EPYC", false,
      "pcid x2apic tsc-deadline hle erms invpcid rtm", true, false, false },
    { "EPYC", "Haswell", false,
      "mmxext ffxsr page1gb cr8-legacy sse4a misalignsse 3dnowprefetch "
      "xsavec xgetbv1 rdseed adx smap clflushopt sha",
      true, false, true },
    /* Intel generations, both directions. */
    { "Nehalem", "Westmere", true, "", false, false, false },
    { "Westmere", "Nehalem", false, "pclmulqdq aesni", false, false, false },
    { "SandyBridge", "IvyBridge", true, "", false, false, false },
    { "IvyBridge", "SandyBridge", false, "f16c rdrand fsgsbase smep erms",
      false, false, false },
    { "Haswell-noTSX", "Haswell", true, "", false, false, false },
    { "Broadwell", "Haswell", false, "3dnowprefetch rdseed adx smap",
      false, false, false },
    { "Skylake-Client", "Skylake-Server", true, "", false, false, false },
    { "Cascadelake-Server", "Skylake-Server", false,
      "avx512-vnni ibrsb ssbd", false, false, false },
    { "Icelake-Server", "Cascadelake-Server", false,
      "avx512-vbmi umip avx512-vbmi2 gfni vaes vpclmulqdq avx512-bitalg "
      "avx512-vpopcntdq", false, false, false },
    { "SapphireRapids", "Icelake-Server", false,
      "xsaves avx512-ifma sha rdpid fsrm serialize tsxldtrk arch-caps "
      "avx-vnni avx512-bf16 fzrm fsrs fsrcs", false, true, false },
    { "SapphireRapids", "SapphireRapids", true, "", false, false, false },
    /* AMD generations. */
    { "EPYC-Milan", "EPYC-Rome", false,
      "pcid erms invpcid pku ibrs amd-ssbd fsrm", false, false, false },
    { "EPYC-Genoa", "EPYC-Milan", false,
      "avx512f avx512dq avx512-ifma avx512cd avx512bw avx512vl avx512-vbmi "
      "avx512-vbmi2 gfni vaes vpclmulqdq avx512-vnni avx512-bitalg "
      "avx512-vpopcntdq stibp-always psfd avx512-bf16",
      false, false, true },
    { "Opteron_G4", "EPYC", false, "xop fma4", false, false, false },
    { "EPYC", "Opteron_G4", false,
      "fma movbe f16c rdrand mmxext ffxsr cr8-legacy xsaveopt xsavec "
      "xgetbv1 fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap "
      "clflushopt sha", false, false, true },
    { "EPYC-Genoa", "SapphireRapids", false,
      "mmxext ffxsr cr8-legacy sse4a misalignsse clzero "
      "rstr-fp-err-ptrs ibpb ibrs amd-stibp stibp-always amd-ssbd psfd",
      true, false, true },
    /* The vendor-neutral psABI levels on both vendors. */
    { "x86-64-v2", "Nehalem", true, "", false, false, false },
    { "x86-64-v2", "Opteron_G4", true, "", false, false, false },
    { "x86-64-v3", "SandyBridge", false, "fma movbe f16c abm bmi1 avx2 bmi2",
      false, false, false },
    { "x86-64-v3", "Haswell", true, "", false, false, false },
    { "x86-64-v3", "Opteron_G4", false, "fma movbe f16c bmi1 avx2 bmi2",
      false, false, false },
    { "x86-64-v3", "EPYC", true, "", false, false, false },
    { "x86-64-v4", "Skylake-Server", true, "", false, false, false },
    { "x86-64-v4", "EPYC-Genoa", true, "", false, false, false },
    { "x86-64-v4", "Broadwell", false,
      "avx512f avx512dq avx512cd avx512bw avx512vl", false, false, false },
    { "x86-64-v2", "x86-64-v4", true, "", false, false, false },
};

static const struct {
    const char *nodes[4];
    const char *equal_to;    /* the intersection has this one's features */
    const char *highest;     /* NULL: none fits */
    bool vendor_mixed;
} levels[] = {
    { { "Haswell", "Broadwell", "Skylake-Server" }, "Haswell", "Haswell",
      false },
    { { "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa" }, "EPYC-Rome", "EPYC-Rome",
      false },
    { { "Skylake-Server", "EPYC-Genoa" }, NULL, "x86-64-v4", true },
    { { "Haswell-noTSX", "EPYC" }, NULL, "x86-64-v3", true },
    { { "Nehalem", "Opteron_G4", "SapphireRapids" }, NULL, "x86-64-v2",
      true },
    { { "Skylake-Client", "Skylake-Server" }, "Skylake-Client",
      "Skylake-Client", false },
};

static struct policy_cpuid *baselines;
static size_t nr_baselines;

static const struct policy_cpuid *baseline(const char *name)
{
    size_t i;

    for (i = 0; i < nr_baselines; i++)
        if (!strcmp(baselines[i].name, name))
            return &baselines[i];
    bail("no baseline %s", name);
}

static void test_pairs(libxlmig_ctx *ctx)
{
    struct policy_check res;
    char *missing;
    size_t i;
    int rc;

    for (i = 0; i < ARRAY_SIZE(pairs); i++) {
        const struct policy_cpuid *d = baseline(pairs[i].domain);
        const struct policy_cpuid *h = baseline(pairs[i].host);

        is_bool(pairs[i].compatible, policy_check(d, h, &res),
                "%s on %s: %s", pairs[i].domain, pairs[i].host,
                pairs[i].compatible ? "fits" : "does not fit");
        missing = policy_check_missing_names(&res);
        is_string(pairs[i].missing, missing, "%s on %s: missing features",
                  pairs[i].domain, pairs[i].host);
        free(missing);
        ok(res.vendor_mismatch == pairs[i].vendor_mismatch &&
           res.max_leaf_short == pairs[i].leaf_short &&
           res.max_ext_leaf_short == pairs[i].ext_leaf_short,
           "%s on %s: vendor mismatch %d, leaf short %d, ext leaf short %d",
           pairs[i].domain, pairs[i].host, pairs[i].vendor_mismatch,
           pairs[i].leaf_short, pairs[i].ext_leaf_short);
        rc = libxlmig_cpu_check(ctx, d, h, NULL);
        is_int(pairs[i].compatible ? 0 : LIBXLMIG_ERROR_INCOMPATIBLE, rc,
               "%s on %s: pre-flight libxlmig_cpu_check", pairs[i].domain,
               pairs[i].host);
    }
}

static void test_preflight_message(libxlmig_ctx *ctx)
{
    libxlmig_cpu_check(ctx, baseline("Haswell"), baseline("Haswell-noTSX"),
                       NULL);
    is_string("CPU policy of Haswell does not fit Haswell-noTSX: host lacks "
              "2 features: hle rtm", libxlmig_last_error(ctx),
              "pre-flight refusal names the missing features");
    libxlmig_cpu_check(ctx, baseline("EPYC-Genoa"), baseline("Haswell"),
                       NULL);
    like_string("vendor mismatch (domain amd, host intel)",
                libxlmig_last_error(ctx), "pre-flight names a vendor "
                "mismatch");
    like_string("max extended leaf 0x80000022 > host's 0x80000008",
                libxlmig_last_error(ctx), "pre-flight names the leaf "
                "shortfall");
}

static void test_levels(void)
{
    struct policy_cpuid nodes[4], inter;
    size_t i, n, nr;
    int best;

    for (i = 0; i < ARRAY_SIZE(levels); i++) {
        for (nr = 0; nr < 4 && levels[i].nodes[nr]; nr++)
            nodes[nr] = *baseline(levels[i].nodes[nr]);
        inter = nodes[0];
        for (n = 1; n < nr; n++)
            policy_intersect(&inter, &nodes[n]);
        if (levels[i].equal_to) {
            ok(!memcmp(inter.words, baseline(levels[i].equal_to)->words,
                       sizeof(inter.words)),
               "level %zu: intersection has exactly %s's features", i,
               levels[i].equal_to);
        } else {
            for (n = 0; n < nr; n++) {
                struct policy_check res;

                if (!policy_check(&inter, &nodes[n], &res) &&
                    !res.vendor_mismatch)
                    break;
            }
            ok(n == nr, "level %zu: every node has the intersection's "
               "features", i);
        }
        is_bool(levels[i].vendor_mixed, inter.vendor == POLICY_VENDOR_UNKNOWN,
                "level %zu: vendor %s", i,
                levels[i].vendor_mixed ? "mixed" : "kept");
        best = policy_highest_baseline(baselines, nr_baselines, nodes, nr,
                                       NULL);
        is_string(levels[i].highest, best >= 0 ? baselines[best].name : NULL,
                  "level %zu: highest baseline every node runs", i);
    }
}

int main(void)
{
    libxlmig_ctx *ctx;

    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    if (libxlmig_baseline_list(ctx, &baselines, &nr_baselines))
        bail("cannot load the baselines: %s", libxlmig_last_error(ctx));
    plan(1 + ARRAY_SIZE(pairs) * 4 + 3 + ARRAY_SIZE(levels) * 3);
    is_int(20, (long long)nr_baselines, "all 20 baselines load");
    test_pairs(ctx);
    test_preflight_message(ctx);
    test_levels();
    free(baselines);
    libxlmig_ctx_free(ctx);
    return 0;
}
