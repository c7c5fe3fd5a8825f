/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Policy files: malformed ones under tests/data/policy are refused with a
 * message naming the file and the field; a good one mixing feature names,
 * aliases and raw words loads as intended; baseline lookup by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxlmig.h"
#include "policy.h"
#include "tap.h"

static const struct {
    const char *file;
    const char *message;     /* after "<path>: " */
} bad[] = {
    { "truncated.json", "invalid JSON: " },
    { "unknown-feature.json",
      "field \"features[1]\": unknown feature 'avx513'" },
    { "bad-vendor.json", "field \"vendor\": expected \"intel\", \"amd\"" },
    { "no-vendor.json", "field \"vendor\": missing" },
    { "future-version.json",
      "field \"version\": version 7 is not supported" },
    { "bad-max-leaf.json",
      "field \"max_leaf\": \"0xzz\" is not a number in 0..0xffffffff" },
    { "unknown-bit.json",
      "field \"words.1c\": bit 11 is not a known feature" },
    { "bad-word-name.json", "field \"words.9z\": unknown feature word" },
    { "misspelt-key.json", "field \"feature\": unknown field" },
    { "not-object.json", "expected a JSON object" },
    { "features-string.json",
      "field \"features\": expected an array of feature names" },
    { "bad-ext-leaf.json",
      "field \"max_ext_leaf\": 0x8 is not an extended leaf" },
    { "negative-family.json",
      "field \"family\": -6 is out of range 0..0xffffffff" },
    { "no-features.json", "field \"features\": missing" },
    { "no-version.json", "field \"version\": missing" },
    { "feature-number.json",
      "field \"features[1]\": expected a feature name string" },
    { "no-such-file.json", "No such file or directory" },
};

int main(void)
{
    struct policy_cpuid p;
    libxlmig_ctx *ctx;
    char want[1024];
    const char *path;
    size_t i;
    int rc;

    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    plan(ARRAY_SIZE(bad) * 2 + 5);
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        char full[512];

        path = test_data_path("policy");
        snprintf(full, sizeof(full), "%s/%s", path, bad[i].file);
        snprintf(want, sizeof(want), "%s: %s", full, bad[i].message);
        rc = libxlmig_cpu_policy_load(ctx, full, &p);
        ok(rc != 0, "%s is refused", bad[i].file);
        like_string(want, libxlmig_last_error(ctx),
                    "%s: the message names the file and the field",
                    bad[i].file);
    }

    {
        char full[512];
        const struct policy_feature *avx2 = policy_feature_by_name("avx2");

        snprintf(full, sizeof(full), "%s/good-mixed.json",
                 test_data_path("policy"));
        rc = libxlmig_cpu_policy_load(ctx, full, &p);
        is_int(0, rc, "good-mixed.json loads");
        ok(p.vendor == POLICY_VENDOR_INTEL && p.model == 60 &&
           p.max_ext_leaf == 0x80000008, "its vendor, model and leaf");
        ok(policy_count(&p) == 4 && policy_has(&p, avx2) &&
           policy_has(&p, policy_feature_by_name("lahf-lm")),
           "names, aliases and raw words are OR'd (sse2 sse4-1 lahf-lm "
           "avx2)");
    }
    rc = libxlmig_baseline_load(ctx, "haswell-notsx", &p);
    ok(rc == 0 && !strcmp(p.name, "Haswell-noTSX"),
       "baselines are found by name, case-insensitively");
    rc = libxlmig_baseline_load(ctx, "../etc/passwd", &p);
    is_int(LIBXLMIG_ERROR_INVAL, rc, "a baseline name with a path is "
           "refused");
    libxlmig_ctx_free(ctx);
    return 0;
}
