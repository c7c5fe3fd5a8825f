/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The pure policy functions: feature names and aliases, building a policy
 * from raw leaves (vendor, family/model/stepping, leaf maxima, unknown
 * bits), applying xl.cfg cpuid= values, the text form and JSON round
 * trips of every baseline and of this host's captured policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxlmig.h"
#include "policy.h"
#include "tap.h"

#define NS POLICY_NO_SUBLEAF

static const struct {
    const char *name;
    const char *want;        /* canonical name, NULL: unknown */
} names[] = {
    { "avx512f", "avx512f" },
    { "AVX512F", "avx512f" },
    { "sse4_1", "sse4-1" },
    { "sse4.2", "sse4-2" },
    { "lahfsahf", "lahf-lm" },
    { "lahf_lm", "lahf-lm" },
    { "cmpxchg16", "cx16" },
    { "aes", "aesni" },
    { "invtsc", "itsc" },
    { "avx512_ifma", "avx512-ifma" },
    { "clfsh", "clflush" },
    { "avx513", NULL },
    { "", NULL },
};

static void test_names(void)
{
    const struct policy_feature *f;
    size_t i, j, dup = 0;

    for (i = 0; i < ARRAY_SIZE(names); i++) {
        f = policy_feature_by_name(names[i].name);
        is_string(names[i].want, f ? f->name : NULL, "name '%s'",
                  names[i].name);
    }
    for (i = 0; i < policy_nr_features; i++)
        for (j = i + 1; j < policy_nr_features; j++)
            if (!strcmp(policy_features[i].name, policy_features[j].name) ||
                (policy_features[i].word == policy_features[j].word &&
                 policy_features[i].bit == policy_features[j].bit))
                dup++;
    is_int(0, (long long)dup, "no feature name or bit appears twice");
    f = policy_feature_at(POLICY_W_7B0, 16);
    is_string("avx512f", f ? f->name : NULL, "7b0 bit 16 is avx512f");
}

/* Leaf 0 with a vendor string and a maximum. */
static struct policy_leaf leaf0(const char *vendor, uint32_t max)
{
    struct policy_leaf l = { 0, NS, max, 0, 0, 0 };

    memcpy(&l.b, vendor, 4);
    memcpy(&l.d, vendor + 4, 4);
    memcpy(&l.c, vendor + 8, 4);
    return l;
}

static void test_leaves(void)
{
    struct policy_leaf intel[] = {
        leaf0("GenuineIntel", 0xd),
        /* Haswell 06_3C stepping 3; ecx: sse3, bit 10 (cntxid, unknown) */
        { 1, NS, 0x000306c3, 0, 0x00000401, 0x00000001 },
        { 7, 0, 1, 0x00000020, 0, 0x04000000 },  /* avx2; ibrsb */
        { 7, 1, 0x00000010, 0, 0, 0 },           /* avx-vnni */
        { 0xd, 1, 0x00000001, 0, 0, 0 },         /* xsaveopt */
        { 0x80000000, NS, 0x80000008, 0, 0, 0 },
        { 0x80000001, NS, 0, 0, 0x00000001, 0x20000000 }, /* lahf-lm; lm */
        { 0x80000008, NS, 0, 0x00001000, 0, 0 }, /* ibpb */
    };
    struct policy_leaf amd[] = {
        leaf0("AuthenticAMD", 0x5),              /* leaf 7 out of range */
        { 1, NS, 0x00a10f11, 0, 0, 0x00000001 }, /* Genoa 19h/11h/1 */
        { 7, 0, 0, 0x00000020, 0, 0 },           /* ignored */
        { 0x80000000, NS, 0x80000001, 0, 0, 0 },
        { 0x80000001, NS, 0, 0, 0, 0x00000800 }, /* syscall */
        { 0x80000008, NS, 0, 0x00001000, 0, 0 }, /* beyond max ext */
    };
    struct policy_leaf hygon[] = { leaf0("HygonGenuine", 1) };
    struct policy_cpuid p;

    policy_from_leaves(&p, intel, ARRAY_SIZE(intel));
    ok(p.vendor == POLICY_VENDOR_INTEL && p.family == 6 && p.model == 60 &&
       p.stepping == 3, "Intel leaves: vendor intel, 6/60/3");
    ok(p.max_leaf == 0xd && p.max_ext_leaf == 0x80000008,
       "Intel leaves: maxima 0xd and 0x80000008");
    is_int(0x00000001, p.words[POLICY_W_1C],
           "unknown bit 10 of leaf 1 ecx is dropped");
    ok(p.words[POLICY_W_7B0] == 0x20 && p.words[POLICY_W_7D0] == 0x04000000
       && p.words[POLICY_W_7A1] == 0x10 && p.words[POLICY_W_DA1] == 1,
       "leaf 7 subleaves 0 and 1 and leaf 0xd subleaf 1 read");
    ok(p.words[POLICY_W_E1C] == 1 && p.words[POLICY_W_E1D] == 0x20000000 &&
       p.words[POLICY_W_E8B] == 0x1000, "extended leaves read");

    policy_from_leaves(&p, amd, ARRAY_SIZE(amd));
    ok(p.vendor == POLICY_VENDOR_AMD && p.family == 0x19 &&
       p.model == 0x11 && p.stepping == 1,
       "AMD leaves: extended family and model decoded (25/17/1)");
    is_int(0, p.words[POLICY_W_7B0], "leaf 7 beyond max leaf is ignored");
    is_int(0, p.words[POLICY_W_E8B],
           "leaf 0x80000008 beyond max extended leaf is ignored");
    is_int(0x800, p.words[POLICY_W_E1D], "syscall read from 0x80000001");

    policy_from_leaves(&p, hygon, ARRAY_SIZE(hygon));
    ok(p.vendor == POLICY_VENDOR_HYGON, "Hygon vendor recognised");
    policy_from_leaves(&p, NULL, 0);
    ok(p.vendor == POLICY_VENDOR_UNKNOWN && !policy_count(&p),
       "no leaves: an empty policy");
}

static const struct {
    const char *value;
    bool ok;
    const char *check;       /* feature expected on (+) or off (-) */
    const char *err;         /* expected message substring */
} xlcfg[] = {
    { "host", true, "+avx", NULL },
    { "host,avx=0", true, "-avx", NULL },
    { "host,avx=0,avx=1", true, "+avx", NULL },
    { "host,rtm=1", true, "+rtm", NULL },
    { "host,sse4.1=0", true, "-sse4-1", NULL },
    { "host,clfsh=0", true, "-clflush", NULL },
    { "host,clflush=0", true, "+clflush", NULL },  /* libxl: line size */
    { "host,avx=x,avx2=k", true, "+avx2", NULL },
    { "host,family=6,model=60", true, "+avx", NULL },
    { "avx=0", false, NULL, "must start with \"host\"" },
    { "", false, NULL, "must start with \"host\"" },
    { "host,bogus=0", false, NULL, "unknown feature 'bogus'" },
    { "host,avx", false, NULL, "not NAME=VALUE" },
    { "host,avx=q", false, NULL, "value must be a number, x, k or s" },
};

static void test_xlcfg(void)
{
    const struct policy_feature *f;
    struct policy_cpuid host, p;
    char err[256];
    size_t i;
    bool r;

    policy_init(&host);
    for (i = 0; i < policy_nr_features; i++)
        if (strcmp(policy_features[i].name, "rtm"))
            policy_set(&host, &policy_features[i], true);
    for (i = 0; i < ARRAY_SIZE(xlcfg); i++) {
        p = host;
        err[0] = '\0';
        r = policy_apply_xlcfg_cpuid(&p, xlcfg[i].value, err, sizeof(err));
        is_bool(xlcfg[i].ok, r, "cpuid = \"%s\" %s", xlcfg[i].value,
                xlcfg[i].ok ? "applies" : "is refused");
        if (xlcfg[i].ok) {
            f = policy_feature_by_name(xlcfg[i].check + 1);
            is_bool(xlcfg[i].check[0] == '+', f && policy_has(&p, f),
                    "cpuid = \"%s\": %s", xlcfg[i].value, xlcfg[i].check);
        } else {
            like_string(xlcfg[i].err, err, "cpuid = \"%s\": message",
                        xlcfg[i].value);
        }
    }
    p = host;
    policy_apply_xlcfg_cpuid(&p, "host,family=6,model=60,stepping=3", err,
                             sizeof(err));
    ok(p.family == 6 && p.model == 60 && p.stepping == 3,
       "family, model and stepping tokens applied");
}

static void test_masks(libxlmig_ctx *ctx)
{
    struct policy_cpuid hsw, clx, skx, hosts[2], none;
    char *line;

    if (libxlmig_baseline_load(ctx, "Haswell", &hsw) ||
        libxlmig_baseline_load(ctx, "Cascadelake-Server", &clx) ||
        libxlmig_baseline_load(ctx, "Skylake-Server", &skx))
        bail("baselines: %s", libxlmig_last_error(ctx));

    hosts[0] = clx;
    hosts[1] = clx;
    line = policy_xlcfg_mask(&hsw, hosts, 2);
    like_string(",avx512f=0,", line, "Haswell on Cascadelake hosts: "
                "avx512f masked");
    ok(!strstr(line, "ibrsb=0") && !strstr(line, "ssbd=0"),
       "speculation controls every host has are kept");
    ok(!strstr(line, "avx2=0"), "a feature of the target is kept");
    free(line);

    hosts[1] = skx;
    line = policy_xlcfg_mask(&hsw, hosts, 2);
    like_string(",ibrsb=0,ssbd=0", line,
                "speculation controls some host lacks are masked");
    free(line);

    line = policy_xlcfg_mask(&hsw, NULL, 0);
    ok(!strstr(line, "ibrsb=0") && strstr(line, ",avx512f=0"),
       "host-independent line: masks avx512f, leaves ibrsb to the host");
    ok(!strstr(line, "osxsave") && !strstr(line, "hypervisor") &&
       !strstr(line, "vmx"), "dynamic bits are never masked");
    free(line);

    policy_init(&none);
    none.vendor = POLICY_VENDOR_ANY;
    line = policy_xlcfg_mask(&none, &hsw, 1);
    ok(strstr(line, ",clfsh=0") && !strstr(line, "clflush"),
       "the CLFLUSH feature is written clfsh= (clflush= is a field)");
    free(line);
}

static bool same_policy(const struct policy_cpuid *a,
                        const struct policy_cpuid *b)
{
    return a->vendor == b->vendor && a->family == b->family &&
           a->model == b->model && a->stepping == b->stepping &&
           a->max_leaf == b->max_leaf && a->max_ext_leaf == b->max_ext_leaf &&
           !memcmp(a->words, b->words, sizeof(a->words)) &&
           !strcmp(a->name, b->name) && !strcmp(a->source, b->source);
}

static bool roundtrip(const struct policy_cpuid *p)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    const unsigned char *buf;
    struct policy_cpuid back;
    char err[256], *text;
    size_t len;
    bool ok_ = false;

    if (policy_gen_json(g, p) == yajl_gen_status_ok &&
        yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
        text = strndup((const char *)buf, len);
        ok_ = text && policy_parse_json_text(text, "roundtrip", &back, err,
                                             sizeof(err)) &&
              same_policy(p, &back);
        free(text);
    }
    yajl_gen_free(g);
    return ok_;
}

static void test_roundtrips(libxlmig_ctx *ctx)
{
    struct policy_cpuid *bl = NULL, host;
    size_t nr = 0, i, bad = 0;
    char *text;

    if (libxlmig_baseline_list(ctx, &bl, &nr))
        bail("cannot load baselines: %s", libxlmig_last_error(ctx));
    for (i = 0; i < nr; i++)
        if (!roundtrip(&bl[i])) {
            diag("%s does not survive a JSON round trip", bl[i].name);
            bad++;
        }
    is_int(0, (long long)bad, "all %zu baselines survive a JSON round trip",
           nr);
    ok(policy_capture_native(&host) && roundtrip(&host),
       "this host's captured policy survives a JSON round trip");

    text = policy_format_text(&bl[0]);
    like_string("featureset  : 078bfbff:00982201:20100800:00000001:",
                text ? text : "",
                "text form has xen-cpuid style featureset words");
    like_string("  1c   00982201: sse3 ssse3 cx16 sse4-1 sse4-2 popcnt",
                text ? text : "", "text form lists names per word");
    free(text);
    free(bl);
}

int main(void)
{
    libxlmig_ctx *ctx;

    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    plan(ARRAY_SIZE(names) + 2 + 11 + ARRAY_SIZE(xlcfg) * 2 + 1 + 7 + 4);
    test_names();
    test_leaves();
    test_xlcfg();
    test_masks(ctx);
    test_roundtrips(ctx);
    libxlmig_ctx_free(ctx);
    return 0;
}
