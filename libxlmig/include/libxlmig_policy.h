/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The CPUID policy types of the public interface (libxlmig.h includes
 * this): a policy (vendor, family/model/stepping, leaf maxima and the
 * feature words that decide whether a domain can run on a host) and the
 * result of a compatibility check.  policy/ implements the pure
 * functions on them, which libxlmig exports as libxlmig_cpu_* calls.
 *
 * Feature words are numbered as Xen numbers its featureset words, so
 * words[] is a prefix of xc_get_cpu_featureset().  Both structs are
 * plain values (no pointers); copy them freely.
 */
#ifndef LIBXLMIG_POLICY_H
#define LIBXLMIG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* Feature words, in Xen's featureset order. */
#define POLICY_W_1D      0   /* leaf 0x1 edx */
#define POLICY_W_1C      1   /* leaf 0x1 ecx */
#define POLICY_W_E1D     2   /* leaf 0x80000001 edx */
#define POLICY_W_E1C     3   /* leaf 0x80000001 ecx */
#define POLICY_W_DA1     4   /* leaf 0xd subleaf 1 eax */
#define POLICY_W_7B0     5   /* leaf 0x7 subleaf 0 ebx */
#define POLICY_W_7C0     6   /* leaf 0x7 subleaf 0 ecx */
#define POLICY_W_E7D     7   /* leaf 0x80000007 edx */
#define POLICY_W_E8B     8   /* leaf 0x80000008 ebx */
#define POLICY_W_7D0     9   /* leaf 0x7 subleaf 0 edx */
#define POLICY_W_7A1    10   /* leaf 0x7 subleaf 1 eax */
#define POLICY_NR_WORDS 11

/* Longest policy name and source text kept, including the NUL. */
#define POLICY_NAME_MAX   64
#define POLICY_SOURCE_MAX 512

/*
 * Version of the JSON form written by libxlmig_cpu_policy_gen_json;
 * libxlmig_cpu_policy_parse_json reads this version and older.
 */
#define POLICY_JSON_VERSION 1

enum policy_vendor {
    POLICY_VENDOR_UNKNOWN = 0,
    POLICY_VENDOR_INTEL,
    POLICY_VENDOR_AMD,
    POLICY_VENDOR_HYGON,
    POLICY_VENDOR_ANY,      /* vendor-neutral baselines (x86-64-v2...) */
};

struct policy_cpuid {
    char name[POLICY_NAME_MAX];      /* "Haswell", "host", or "" */
    char source[POLICY_SOURCE_MAX];  /* where the facts come from, or "" */
    enum policy_vendor vendor;
    uint32_t family;                 /* display family (base + extended) */
    uint32_t model;                  /* display model (with extended) */
    uint32_t stepping;
    uint32_t max_leaf;               /* leaf 0 eax */
    uint32_t max_ext_leaf;           /* leaf 0x80000000 eax; 0 if none */
    uint32_t words[POLICY_NR_WORDS]; /* only bits of known features */
};

/*
 * The result of a check (libxlmig_cpu_check, libxlmig_cpu_policy_fits):
 * what the domain needs and the host lacks.  A domain policy of vendor
 * "any" fits any host vendor.
 */
struct policy_check {
    bool compatible;
    bool vendor_mismatch;
    enum policy_vendor domain_vendor, host_vendor;
    bool max_leaf_short;             /* domain max_leaf > host's */
    uint32_t domain_max_leaf, host_max_leaf;
    bool max_ext_leaf_short;         /* domain max_ext_leaf > host's */
    uint32_t domain_max_ext_leaf, host_max_ext_leaf;
    uint32_t missing[POLICY_NR_WORDS]; /* checked features host lacks */
    unsigned int nr_missing;
};

#endif /* LIBXLMIG_POLICY_H */
