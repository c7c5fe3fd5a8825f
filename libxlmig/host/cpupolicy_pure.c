/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The pure functions on CPUID policies that programs need (checks,
 * levelling, the xl.cfg mask, JSON and text forms), exported under
 * libxlmig_cpu_* names: policy/ stays internal to the library, and a
 * program that links libxlmig uses libxlmig.h alone.  Each call is the
 * policy/ function of the same job, unchanged.
 */
#include <stdio.h>
#include <stdlib.h>

#include "libxlmig.h"
#include "policy.h"

bool libxlmig_cpu_policy_fits(const struct policy_cpuid *dom,
                              const struct policy_cpuid *host,
                              struct policy_check *res)
{
    return policy_check(dom, host, res);
}

char *libxlmig_cpu_check_summary(const struct policy_check *res)
{
    return policy_check_summary(res);
}

bool libxlmig_cpu_verdict(const struct policy_cpuid *dom,
                          const struct policy_cpuid *host, char *why,
                          size_t len)
{
    struct policy_check chk;
    char *sum;
    bool ok;

    if (!dom || !host) {
        snprintf(why, len, "CPU policy unknown");
        return false;
    }
    ok = policy_check(dom, host, &chk);
    sum = ok ? NULL : policy_check_summary(&chk);
    snprintf(why, len, "%s", ok ? "compatible" : sum ? sum : "incompatible");
    free(sum);
    return ok;
}

int libxlmig_cpu_check_gen_json(struct yajl_gen_t *g,
                                const struct policy_check *res)
{
    return policy_check_gen_json(g, res);
}

const char *libxlmig_cpu_vendor_to_string(enum policy_vendor v)
{
    return policy_vendor_to_string(v);
}

unsigned int libxlmig_cpu_policy_count(const struct policy_cpuid *p)
{
    return policy_count(p);
}

char *libxlmig_cpu_policy_features(const struct policy_cpuid *p)
{
    return policy_feature_list(p);
}

char *libxlmig_cpu_policy_to_text(const struct policy_cpuid *p)
{
    return policy_format_text(p);
}

int libxlmig_cpu_policy_gen_json(struct yajl_gen_t *g,
                                 const struct policy_cpuid *p)
{
    return policy_gen_json(g, p);
}

bool libxlmig_cpu_policy_parse_json(struct yajl_val_s *obj,
                                    const char *what,
                                    struct policy_cpuid *p,
                                    char *err, size_t errlen)
{
    return policy_parse_json(obj, what, p, err, errlen);
}

void libxlmig_cpu_policy_intersect(struct policy_cpuid *acc,
                                   const struct policy_cpuid *b)
{
    policy_intersect(acc, b);
}

int libxlmig_baseline_highest(const struct policy_cpuid *baselines,
                              size_t nr, const struct policy_cpuid *hosts,
                              size_t nr_hosts, bool *sat)
{
    return policy_highest_baseline(baselines, nr, hosts, nr_hosts, sat);
}

char *libxlmig_cpu_policy_xlcfg_mask(const struct policy_cpuid *target,
                                     const struct policy_cpuid *hosts,
                                     size_t nr)
{
    return policy_xlcfg_mask(target, hosts, nr);
}
