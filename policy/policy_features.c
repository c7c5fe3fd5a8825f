/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The table of CPUID features in the words a migration check compares:
 * name, featureset word, bit and flags.  Names and positions are the
 * facts of Xen's public cpufeatureset.h (Xen 4.17.7), named as libxl's
 * cpuid= parser accepts them; POLICY_F_GUEST marks the features Xen may
 * offer a guest (annotated A, S or H there).  POLICY_F_DYNAMIC marks bits
 * that follow guest state (osxsave, ospke), topology (htt, cmp-legacy), the
 * hypervisor bit, and nested virtualisation (vmx, svm: offered only with
 * nestedhvm, which Xen levels itself).  Also name lookup, with the
 * older libxl spellings ("sse4.1", "lahfsahf") accepted as aliases.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy.h"

#define G POLICY_F_GUEST
#define D POLICY_F_DYNAMIC
#define S POLICY_F_SPEC

const struct policy_feature policy_features[] = {
    { "fpu",                 POLICY_W_1D,   0, G },
    { "vme",                 POLICY_W_1D,   1, G },
    { "de",                  POLICY_W_1D,   2, G },
    { "pse",                 POLICY_W_1D,   3, G },
    { "tsc",                 POLICY_W_1D,   4, G },
    { "msr",                 POLICY_W_1D,   5, G },
    { "pae",                 POLICY_W_1D,   6, G },
    { "mce",                 POLICY_W_1D,   7, G },
    { "cx8",                 POLICY_W_1D,   8, G },
    { "apic",                POLICY_W_1D,   9, G },
    { "sep",                 POLICY_W_1D,  11, G },
    { "mtrr",                POLICY_W_1D,  12, G },
    { "pge",                 POLICY_W_1D,  13, G },
    { "mca",                 POLICY_W_1D,  14, G },
    { "cmov",                POLICY_W_1D,  15, G },
    { "pat",                 POLICY_W_1D,  16, G },
    { "pse36",               POLICY_W_1D,  17, G },
    { "clflush",             POLICY_W_1D,  19, G },
    { "ds",                  POLICY_W_1D,  21, 0 },
    { "acpi",                POLICY_W_1D,  22, G },
    { "mmx",                 POLICY_W_1D,  23, G },
    { "fxsr",                POLICY_W_1D,  24, G },
    { "sse",                 POLICY_W_1D,  25, G },
    { "sse2",                POLICY_W_1D,  26, G },
    { "ss",                  POLICY_W_1D,  27, G },
    { "htt",                 POLICY_W_1D,  28, G | D },
    { "tm1",                 POLICY_W_1D,  29, 0 },
    { "pbe",                 POLICY_W_1D,  31, 0 },
    { "sse3",                POLICY_W_1C,   0, G },
    { "pclmulqdq",           POLICY_W_1C,   1, G },
    { "dtes64",              POLICY_W_1C,   2, 0 },
    { "monitor",             POLICY_W_1C,   3, 0 },
    { "dscpl",               POLICY_W_1C,   4, 0 },
    { "vmx",                 POLICY_W_1C,   5, G | D },
    { "smx",                 POLICY_W_1C,   6, 0 },
    { "eist",                POLICY_W_1C,   7, 0 },
    { "tm2",                 POLICY_W_1C,   8, 0 },
    { "ssse3",               POLICY_W_1C,   9, G },
    { "fma",                 POLICY_W_1C,  12, G },
    { "cx16",                POLICY_W_1C,  13, G },
    { "xtpr",                POLICY_W_1C,  14, 0 },
    { "pdcm",                POLICY_W_1C,  15, 0 },
    { "pcid",                POLICY_W_1C,  17, G },
    { "dca",                 POLICY_W_1C,  18, 0 },
    { "sse4-1",              POLICY_W_1C,  19, G },
    { "sse4-2",              POLICY_W_1C,  20, G },
    { "x2apic",              POLICY_W_1C,  21, G },
    { "movbe",               POLICY_W_1C,  22, G },
    { "popcnt",              POLICY_W_1C,  23, G },
    { "tsc-deadline",        POLICY_W_1C,  24, G },
    { "aesni",               POLICY_W_1C,  25, G },
    { "xsave",               POLICY_W_1C,  26, G },
    { "osxsave",             POLICY_W_1C,  27, D },
    { "avx",                 POLICY_W_1C,  28, G },
    { "f16c",                POLICY_W_1C,  29, G },
    { "rdrand",              POLICY_W_1C,  30, G },
    { "hypervisor",          POLICY_W_1C,  31, G | D },
    { "syscall",             POLICY_W_E1D, 11, G },
    { "nx",                  POLICY_W_E1D, 20, G },
    { "mmxext",              POLICY_W_E1D, 22, G },
    { "ffxsr",               POLICY_W_E1D, 25, G },
    { "page1gb",             POLICY_W_E1D, 26, G },
    { "rdtscp",              POLICY_W_E1D, 27, G },
    { "lm",                  POLICY_W_E1D, 29, G },
    { "3dnowext",            POLICY_W_E1D, 30, G },
    { "3dnow",               POLICY_W_E1D, 31, G },
    { "lahf-lm",             POLICY_W_E1C,  0, G },
    { "cmp-legacy",          POLICY_W_E1C,  1, G | D },
    { "svm",                 POLICY_W_E1C,  2, G | D },
    { "extapic",             POLICY_W_E1C,  3, 0 },
    { "cr8-legacy",          POLICY_W_E1C,  4, G },
    { "abm",                 POLICY_W_E1C,  5, G },
    { "sse4a",               POLICY_W_E1C,  6, G },
    { "misalignsse",         POLICY_W_E1C,  7, G },
    { "3dnowprefetch",       POLICY_W_E1C,  8, G },
    { "osvw",                POLICY_W_E1C,  9, 0 },
    { "ibs",                 POLICY_W_E1C, 10, 0 },
    { "xop",                 POLICY_W_E1C, 11, G },
    { "skinit",              POLICY_W_E1C, 12, 0 },
    { "wdt",                 POLICY_W_E1C, 13, 0 },
    { "lwp",                 POLICY_W_E1C, 15, 0 },
    { "fma4",                POLICY_W_E1C, 16, G },
    { "nodeid-msr",          POLICY_W_E1C, 19, 0 },
    { "tbm",                 POLICY_W_E1C, 21, G },
    { "topoext",             POLICY_W_E1C, 22, 0 },
    { "dbext",               POLICY_W_E1C, 26, G },
    { "monitorx",            POLICY_W_E1C, 29, 0 },
    { "xsaveopt",            POLICY_W_DA1,  0, G },
    { "xsavec",              POLICY_W_DA1,  1, G },
    { "xgetbv1",             POLICY_W_DA1,  2, G },
    { "xsaves",              POLICY_W_DA1,  3, G },
    { "fsgsbase",            POLICY_W_7B0,  0, G },
    { "tsc-adjust",          POLICY_W_7B0,  1, G },
    { "sgx",                 POLICY_W_7B0,  2, 0 },
    { "bmi1",                POLICY_W_7B0,  3, G },
    { "hle",                 POLICY_W_7B0,  4, G },
    { "avx2",                POLICY_W_7B0,  5, G },
    { "fdp-excp-only",       POLICY_W_7B0,  6, 0 },
    { "smep",                POLICY_W_7B0,  7, G },
    { "bmi2",                POLICY_W_7B0,  8, G },
    { "erms",                POLICY_W_7B0,  9, G },
    { "invpcid",             POLICY_W_7B0, 10, G },
    { "rtm",                 POLICY_W_7B0, 11, G },
    { "pqm",                 POLICY_W_7B0, 12, 0 },
    { "no-fpu-sel",          POLICY_W_7B0, 13, 0 },
    { "mpx",                 POLICY_W_7B0, 14, G },
    { "pqe",                 POLICY_W_7B0, 15, 0 },
    { "avx512f",             POLICY_W_7B0, 16, G },
    { "avx512dq",            POLICY_W_7B0, 17, G },
    { "rdseed",              POLICY_W_7B0, 18, G },
    { "adx",                 POLICY_W_7B0, 19, G },
    { "smap",                POLICY_W_7B0, 20, G },
    { "avx512-ifma",         POLICY_W_7B0, 21, G },
    { "clflushopt",          POLICY_W_7B0, 23, G },
    { "clwb",                POLICY_W_7B0, 24, G },
    { "proc-trace",          POLICY_W_7B0, 25, 0 },
    { "avx512pf",            POLICY_W_7B0, 26, G },
    { "avx512er",            POLICY_W_7B0, 27, G },
    { "avx512cd",            POLICY_W_7B0, 28, G },
    { "sha",                 POLICY_W_7B0, 29, G },
    { "avx512bw",            POLICY_W_7B0, 30, G },
    { "avx512vl",            POLICY_W_7B0, 31, G },
    { "prefetchwt1",         POLICY_W_7C0,  0, G },
    { "avx512-vbmi",         POLICY_W_7C0,  1, G },
    { "umip",                POLICY_W_7C0,  2, G },
    { "pku",                 POLICY_W_7C0,  3, G },
    { "ospke",               POLICY_W_7C0,  4, D },
    { "avx512-vbmi2",        POLICY_W_7C0,  6, G },
    { "cet-ss",              POLICY_W_7C0,  7, 0 },
    { "gfni",                POLICY_W_7C0,  8, G },
    { "vaes",                POLICY_W_7C0,  9, G },
    { "vpclmulqdq",          POLICY_W_7C0, 10, G },
    { "avx512-vnni",         POLICY_W_7C0, 11, G },
    { "avx512-bitalg",       POLICY_W_7C0, 12, G },
    { "avx512-vpopcntdq",    POLICY_W_7C0, 14, G },
    { "rdpid",               POLICY_W_7C0, 22, G },
    { "cldemote",            POLICY_W_7C0, 25, G },
    { "movdiri",             POLICY_W_7C0, 27, G },
    { "movdir64b",           POLICY_W_7C0, 28, G },
    { "enqcmd",              POLICY_W_7C0, 29, 0 },
    { "hw-pstate",           POLICY_W_E7D,  7, 0 },
    { "itsc",                POLICY_W_E7D,  8, G },
    { "cpb",                 POLICY_W_E7D,  9, 0 },
    { "efro",                POLICY_W_E7D, 10, 0 },
    { "clzero",              POLICY_W_E8B,  0, G },
    { "rstr-fp-err-ptrs",    POLICY_W_E8B,  2, G },
    { "wbnoinvd",            POLICY_W_E8B,  9, 0 },
    { "ibpb",                POLICY_W_E8B, 12, G | S },
    { "ibrs",                POLICY_W_E8B, 14, G | S },
    { "amd-stibp",           POLICY_W_E8B, 15, G | S },
    { "ibrs-always",         POLICY_W_E8B, 16, G | S },
    { "stibp-always",        POLICY_W_E8B, 17, G | S },
    { "ibrs-fast",           POLICY_W_E8B, 18, G | S },
    { "ibrs-same-mode",      POLICY_W_E8B, 19, G | S },
    { "no-lmsl",             POLICY_W_E8B, 20, G | S },
    { "amd-ppin",            POLICY_W_E8B, 23, 0 },
    { "amd-ssbd",            POLICY_W_E8B, 24, G | S },
    { "virt-ssbd",           POLICY_W_E8B, 25, S },
    { "ssb-no",              POLICY_W_E8B, 26, G | S },
    { "psfd",                POLICY_W_E8B, 28, G | S },
    { "btc-no",              POLICY_W_E8B, 29, G | S },
    { "ibpb-ret",            POLICY_W_E8B, 30, G | S },
    { "avx512-4vnniw",       POLICY_W_7D0,  2, G },
    { "avx512-4fmaps",       POLICY_W_7D0,  3, G },
    { "fsrm",                POLICY_W_7D0,  4, G },
    { "avx512-vp2intersect", POLICY_W_7D0,  8, G },
    { "srbds-ctrl",          POLICY_W_7D0,  9, S },
    { "md-clear",            POLICY_W_7D0, 10, G | S },
    { "rtm-always-abort",    POLICY_W_7D0, 11, S },
    { "tsx-force-abort",     POLICY_W_7D0, 13, S },
    { "serialize",           POLICY_W_7D0, 14, G },
    { "hybrid",              POLICY_W_7D0, 15, 0 },
    { "tsxldtrk",            POLICY_W_7D0, 16, G },
    { "cet-ibt",             POLICY_W_7D0, 20, 0 },
    { "avx512-fp16",         POLICY_W_7D0, 23, 0 },
    { "ibrsb",               POLICY_W_7D0, 26, G | S },
    { "stibp",               POLICY_W_7D0, 27, G | S },
    { "l1d-flush",           POLICY_W_7D0, 28, G | S },
    { "arch-caps",           POLICY_W_7D0, 29, G | S },
    { "core-caps",           POLICY_W_7D0, 30, S },
    { "ssbd",                POLICY_W_7D0, 31, G | S },
    { "avx-vnni",            POLICY_W_7A1,  4, G },
    { "avx512-bf16",         POLICY_W_7A1,  5, G },
    { "fzrm",                POLICY_W_7A1, 10, G },
    { "fsrs",                POLICY_W_7A1, 11, G },
    { "fsrcs",               POLICY_W_7A1, 12, G },
};

#undef G
#undef D
#undef S

const size_t policy_nr_features =
    sizeof(policy_features) / sizeof(policy_features[0]);

/* Spellings of libxl's original name table, still accepted by xl. */
static const struct {
    const char *alias, *name;
} feature_aliases[] = {
    { "sse4.1", "sse4-1" },
    { "sse4.2", "sse4-2" },
    { "lahfsahf", "lahf-lm" },
    { "cmplegacy", "cmp-legacy" },
    { "altmovcr8", "cr8-legacy" },
    { "cmpxchg8", "cx8" },
    { "cmpxchg16", "cx16" },
    { "clfsh", "clflush" },
    { "sysenter", "sep" },
    { "est", "eist" },
    { "tm", "tm1" },
    { "aes", "aesni" },
    { "invtsc", "itsc" },
    { "nodeid", "nodeid-msr" },
    { "cmt", "pqm" },
    { "ppin", "amd-ppin" },
};

static const char *const word_names[POLICY_NR_WORDS] = {
    "1d", "1c", "e1d", "e1c", "Da1", "7b0", "7c0", "e7d", "e8b", "7d0",
    "7a1",
};

const char *policy_word_name(unsigned int w)
{
    return w < POLICY_NR_WORDS ? word_names[w] : "?";
}

/* Lower case, '_' as '-'; false if it does not fit. */
static bool normalise(const char *in, char *out, size_t len)
{
    size_t i;

    for (i = 0; in[i]; i++) {
        if (i + 1 >= len)
            return false;
        out[i] = in[i] == '_' ? '-' : (char)tolower((unsigned char)in[i]);
    }
    out[i] = '\0';
    return true;
}

const struct policy_feature *policy_feature_by_name(const char *name)
{
    char n[64];
    size_t i;

    if (!name || !normalise(name, n, sizeof(n)))
        return NULL;
    for (i = 0; i < sizeof(feature_aliases) / sizeof(feature_aliases[0]);
         i++) {
        if (!strcmp(n, feature_aliases[i].alias)) {
            snprintf(n, sizeof(n), "%s", feature_aliases[i].name);
            break;
        }
    }
    for (i = 0; i < policy_nr_features; i++)
        if (!strcmp(n, policy_features[i].name))
            return &policy_features[i];
    return NULL;
}

const struct policy_feature *policy_feature_at(unsigned int word,
                                               unsigned int bit)
{
    size_t i;

    for (i = 0; i < policy_nr_features; i++)
        if (policy_features[i].word == word && policy_features[i].bit == bit)
            return &policy_features[i];
    return NULL;
}

bool policy_feature_is_checked(const struct policy_feature *f)
{
    return (f->flags & POLICY_F_GUEST) && !(f->flags & POLICY_F_DYNAMIC);
}

uint32_t policy_word_known_mask(unsigned int w)
{
    uint32_t m = 0;
    size_t i;

    for (i = 0; i < policy_nr_features; i++)
        if (policy_features[i].word == w)
            m |= 1u << policy_features[i].bit;
    return m;
}

uint32_t policy_word_checked_mask(unsigned int w)
{
    uint32_t m = 0;
    size_t i;

    for (i = 0; i < policy_nr_features; i++)
        if (policy_features[i].word == w &&
            policy_feature_is_checked(&policy_features[i]))
            m |= 1u << policy_features[i].bit;
    return m;
}
