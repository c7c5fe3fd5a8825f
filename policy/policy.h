/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * CPUID policies for migration: functions on the policy type (defined
 * in the public libxlmig_policy.h: vendor, family/model/stepping, maximum
 * leaves and the feature words that decide whether a domain can run on a
 * host), the table of feature names, capture from raw CPUID leaves,
 * compatibility checks, levelling across hosts, the xl.cfg `cpuid=` line
 * that masks a domain to a baseline, and JSON and text forms.
 * Everything here is a pure function of its arguments except
 * policy_capture_native(), which executes the cpuid instruction.
 *
 * Feature names are Xen's: the XEN_CPUFEATURE names of
 * xen/include/public/arch-x86/cpufeatureset.h, lower case, '_' written
 * '-', as libxl_cpuid_parse_config() accepts them ("avx512f",
 * "sse4-1", "lahf-lm").  The feature words are numbered as Xen numbers its
 * featureset words, so words[] is a prefix of xc_get_cpu_featureset().
 *
 * Ownership: struct policy_cpuid and struct policy_check are plain values
 * (no pointers); copy them freely.  Strings returned by the formatting
 * functions are malloc'd and the caller frees them.
 *
 * Internal to libxlmig (hidden, not installed): programs reach the
 * functions they need through the libxlmig_cpu_* calls of libxlmig.h.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libxlmig_policy.h"

/* Feature flags (struct policy_feature.flags). */
#define POLICY_F_GUEST   0x1  /* Xen may offer it to a guest (A/S/H) */
#define POLICY_F_DYNAMIC 0x2  /* depends on guest OS or topology state */
#define POLICY_F_SPEC    0x4  /* speculation control or vulnerability hint */

struct policy_feature {
    const char *name;
    unsigned int word;  /* POLICY_W_* */
    unsigned int bit;
    unsigned int flags; /* POLICY_F_* */
};

/* The table of known features, in featureset order. */
extern const struct policy_feature policy_features[];
extern const size_t policy_nr_features;

/* Feature by name (case-insensitive, '_' same as '-', libxl aliases). */
const struct policy_feature *policy_feature_by_name(const char *name);
/* Feature at word/bit, or NULL. */
const struct policy_feature *policy_feature_at(unsigned int word,
                                               unsigned int bit);
/* Does the compatibility check consider f (guest-visible, not dynamic)? */
bool policy_feature_is_checked(const struct policy_feature *f);
/* Mask of the bits of word w that belong to known features. */
uint32_t policy_word_known_mask(unsigned int w);
/* Mask of the bits of word w that the compatibility check compares. */
uint32_t policy_word_checked_mask(unsigned int w);
/* Short name of word w ("1d", "7b0", "e1c"), as xen-cpuid labels them. */
const char *policy_word_name(unsigned int w);

const char *policy_vendor_to_string(enum policy_vendor v);
/* "intel"/"GenuineIntel", "amd"/"AuthenticAMD", "hygon", "any". */
bool policy_vendor_from_string(const char *s, enum policy_vendor *v_r);

void policy_init(struct policy_cpuid *p);
bool policy_has(const struct policy_cpuid *p, const struct policy_feature *f);
void policy_set(struct policy_cpuid *p, const struct policy_feature *f,
                bool on);
/* Number of features set. */
unsigned int policy_count(const struct policy_cpuid *p);

/* One CPUID leaf as the cpuid instruction or Xen's serialiser gives it. */
struct policy_leaf {
    uint32_t leaf, subleaf;   /* subleaf POLICY_NO_SUBLEAF if none */
    uint32_t a, b, c, d;
};
#define POLICY_NO_SUBLEAF 0xffffffffu

/*
 * Build a policy from raw leaves (any order; leaves beyond the maxima in
 * leaf 0 / 0x80000000 are ignored).  Bits of unknown features are dropped.
 * Leaves 0x7 and 0xd are looked up with subleaf 0/1; a leaf given with
 * POLICY_NO_SUBLEAF matches subleaf 0.
 */
void policy_from_leaves(struct policy_cpuid *p,
                        const struct policy_leaf *leaves, size_t nr);

/*
 * Capture the policy of the CPU this runs on with the cpuid instruction.
 * Returns false where there is no such instruction (non-x86 build).
 */
bool policy_capture_native(struct policy_cpuid *p);

/* Can a domain with policy dom run on host?  Fills *res; returns ok. */
bool policy_check(const struct policy_cpuid *dom,
                  const struct policy_cpuid *host, struct policy_check *res);

/*
 * Missing feature names of res, space-separated in table order ("" if
 * none).  Caller frees; NULL only when out of memory.
 */
char *policy_check_missing_names(const struct policy_check *res);
/* One line explaining res ("compatible", "vendor mismatch: ..."). */
char *policy_check_summary(const struct policy_check *res);

/*
 * JSON of a check result: "compatible", "vendor_mismatch", the vendors,
 * the leaf maxima and shortfalls, "missing" (names) and "summary".
 */
yajl_gen_status policy_check_gen_json(yajl_gen g,
                                      const struct policy_check *res);

/*
 * Levelling.  policy_intersect folds b into acc: the features and leaf
 * maxima both have, the lower family/model, the vendor if equal (else
 * UNKNOWN).  Start from a copy of the first policy.
 */
void policy_intersect(struct policy_cpuid *acc, const struct policy_cpuid *b);

/*
 * The baseline with the most features among baselines[0..nr-1] that every
 * host of hosts[0..nr_hosts-1] can run (policy_check); ties go to the
 * earlier one.  Sets sat[i] (if not NULL) for each baseline every host
 * satisfies.  Returns the index, or -1 if none fits.
 */
int policy_highest_baseline(const struct policy_cpuid *baselines, size_t nr,
                            const struct policy_cpuid *hosts,
                            size_t nr_hosts, bool *sat);

/*
 * The xl.cfg value masking a domain to target on hosts whose policies are
 * hosts[0..nr-1]: "host" followed by ",name=0" for every checked feature
 * some host has and target lacks.  Speculation controls (POLICY_F_SPEC)
 * are levelled across the hosts instead: cleared only if some host lacks
 * them, so a baseline never hides a mitigation every host offers.  With
 * nr == 0 every checked, non-SPEC feature that target lacks is cleared
 * (valid on any host; speculation controls are left to the host).  Every
 * token is accepted by libxl_cpuid_parse_config().  Caller frees.
 */
char *policy_xlcfg_mask(const struct policy_cpuid *target,
                        const struct policy_cpuid *hosts, size_t nr);

/*
 * Apply an xl.cfg cpuid= string value ("host,avx=0,rtm=1") to p, which
 * holds the host policy: "name=0" clears, "name=1" sets, "x"/"k"/"s" keep
 * the host's bit; numeric leaf fields (family, model, stepping, maxleaf)
 * are applied too.  Unknown tokens fail with a message in err.
 */
bool policy_apply_xlcfg_cpuid(struct policy_cpuid *p, const char *value,
                              char *err, size_t errlen);

/*
 * Compact text form, like xen-cpuid: vendor, family/model/stepping, leaf
 * maxima, the colon-separated featureset words, then one line per word
 * with its feature names.  Caller frees.
 */
char *policy_format_text(const struct policy_cpuid *p);
/* Featureset words as "xxxxxxxx:xxxxxxxx:..." into buf (>= 100 bytes). */
void policy_format_words(const struct policy_cpuid *p, char *buf,
                         size_t len);
/* Space-separated names of the features set in p.  Caller frees. */
char *policy_feature_list(const struct policy_cpuid *p);

/*
 * JSON.  The object has "version", "name", "source", "vendor", "family",
 * "model", "stepping", "max_leaf", "max_ext_leaf", "features" (array of
 * names) and "words" (object of hex strings by word name).
 */
yajl_gen_status policy_gen_json(yajl_gen g, const struct policy_cpuid *p);
/*
 * Parse the object made by policy_gen_json.  "features" and "words" are
 * both optional and OR'd together; "max_ext_leaf" defaults to 0, the FMS
 * to 0.  what names the input in messages ("file.json").  On failure
 * writes "WHAT: field FIELD: problem" into err and returns false.
 */
bool policy_parse_json(yajl_val obj, const char *what,
                       struct policy_cpuid *p, char *err, size_t errlen);
/* Parse JSON text (yajl_tree_parse + policy_parse_json). */
bool policy_parse_json_text(const char *text, const char *what,
                            struct policy_cpuid *p, char *err,
                            size_t errlen);

/*
 * Directories that may hold the named baselines (NAME.json), in search
 * order: i = 0, 1, ... until NULL.  from_build_tree puts the source tree's
 * policy/baselines first (for programs run from the build tree).
 */
const char *policy_baseline_dir(bool from_build_tree, unsigned int i);
/* Is path (an executable's) inside the tree this was built in? */
bool policy_is_build_tree_path(const char *path);

#endif /* POLICY_H */
