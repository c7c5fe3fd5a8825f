/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Our feature names and generated cpuid= lines against the real libxl:
 * every feature's token must make libxl_cpuid_parse_config() clear exactly
 * that feature's leaf, register and bit; and for every baseline against
 * this machine's host policy, every token of every line we generate (the
 * level line, the host-independent set-compat line) must be accepted.
 * Applying a set-compat line to the host must leave no feature outside the
 * baseline.  libxl needs no hypervisor for any of this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libxlmig.h"
#include "policy.h"
#include "tap.h"

/*
 * libxl's policy list is opaque; its JSON form shows what a token did:
 * {"cpuid":[{"leaf":7,"subleaf":0,"ebx":"xxx0xxx..."}],"msr":[]}, each
 * register a 32-character string, bit 31 first.
 */
yajl_gen_status libxl_cpuid_policy_list_gen_json(yajl_gen hand,
                                                 libxl_cpuid_policy_list *p);

/* Where libxl keeps each of our words: leaf, subleaf (-1: none), reg. */
static const struct {
    long long leaf, subleaf;
    const char *reg;
} word_regs[POLICY_NR_WORDS] = {
    [POLICY_W_1D]  = { 0x1, -1, "edx" },
    [POLICY_W_1C]  = { 0x1, -1, "ecx" },
    [POLICY_W_E1D] = { 0x80000001, -1, "edx" },
    [POLICY_W_E1C] = { 0x80000001, -1, "ecx" },
    [POLICY_W_DA1] = { 0xd, 1, "eax" },
    [POLICY_W_7B0] = { 0x7, 0, "ebx" },
    [POLICY_W_7C0] = { 0x7, 0, "ecx" },
    [POLICY_W_E7D] = { 0x80000007, -1, "edx" },
    [POLICY_W_E8B] = { 0x80000008, -1, "ebx" },
    [POLICY_W_7D0] = { 0x7, 0, "edx" },
    [POLICY_W_7A1] = { 0x7, 1, "eax" },
};

static long long json_int(yajl_val obj, const char *key, long long dflt)
{
    const char *path[] = { key, NULL };
    yajl_val v = yajl_tree_get(obj, path, yajl_t_number);

    return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : dflt;
}

/* Does the parsed list clear exactly one bit, and that f's? */
static bool clears_exactly(libxl_cpuid_policy_list *l,
                           const struct policy_feature *f)
{
    static const char *const regs[] = { "eax", "ebx", "ecx", "edx" };
    const char *path[] = { "cpuid", NULL };
    const unsigned char *buf;
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_val tree = NULL, arr;
    char *text = NULL;
    size_t len, i, r, c;
    int zeros = 0;
    bool hit = false;

    if (!g || libxl_cpuid_policy_list_gen_json(g, l) != yajl_gen_status_ok ||
        yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
        goto out;
    text = strndup((const char *)buf, len);
    tree = text ? yajl_tree_parse(text, NULL, 0) : NULL;
    arr = tree ? yajl_tree_get(tree, path, yajl_t_array) : NULL;
    for (i = 0; arr && i < arr->u.array.len; i++) {
        yajl_val e = arr->u.array.values[i];

        for (r = 0; r < 4; r++) {
            const char *rp[] = { regs[r], NULL };
            yajl_val v = yajl_tree_get(e, rp, yajl_t_string);
            const char *str = v ? YAJL_GET_STRING(v) : NULL;

            for (c = 0; str && c < 32 && str[c]; c++) {
                if (str[c] != '0')
                    continue;
                zeros++;
                if (json_int(e, "leaf", -2) == word_regs[f->word].leaf &&
                    json_int(e, "subleaf", -1) ==
                    word_regs[f->word].subleaf &&
                    !strcmp(regs[r], word_regs[f->word].reg) &&
                    c == 31 - f->bit)
                    hit = true;
            }
        }
    }
 out:
    if (tree) yajl_tree_free(tree);
    free(text);
    if (g) yajl_gen_free(g);
    return hit && zeros == 1;
}

/* The token xl needs for f (see policy_xlcfg_mask). */
static const char *token_name(const struct policy_feature *f)
{
    return strcmp(f->name, "clflush") ? f->name : "clfsh";
}

static void test_feature_names(void)
{
    libxl_cpuid_policy_list l;
    char tok[80];
    size_t i, bad = 0;
    int r;

    for (i = 0; i < policy_nr_features; i++) {
        const struct policy_feature *f = &policy_features[i];

        l = NULL;
        snprintf(tok, sizeof(tok), "%s=0", token_name(f));
        r = libxl_cpuid_parse_config(&l, tok);
        if (r || !clears_exactly(&l, f)) {
            diag("%s: libxl returned %d or cleared another bit", tok, r);
            bad++;
        }
        libxl_cpuid_dispose(&l);
    }
    is_int(0, (long long)bad, "libxl clears exactly the right bit for all "
           "%zu feature names", policy_nr_features);
}

/* Feed each token after "host" to libxl; count the rejected ones. */
static size_t libxl_rejects(const char *line, size_t *nr_tokens)
{
    libxl_cpuid_policy_list l = NULL;
    char *copy = strdup(line), *tok, *save = NULL;
    size_t bad = 0;

    *nr_tokens = 0;
    if (!copy)
        bail("out of memory");
    tok = strtok_r(copy, ",", &save);
    if (!tok || strcmp(tok, "host"))
        bad++;
    while ((tok = strtok_r(NULL, ",", &save))) {
        (*nr_tokens)++;
        if (libxl_cpuid_parse_config(&l, tok)) {
            diag("libxl rejects '%s'", tok);
            bad++;
        }
    }
    libxl_cpuid_dispose(&l);
    free(copy);
    return bad;
}

static void test_baseline_lines(const struct policy_cpuid *bl, size_t nr,
                                const struct policy_cpuid *host)
{
    struct policy_cpuid masked, pair[2];
    char err[256], *line;
    size_t i, k, n, tokens;
    unsigned int outside;

    for (i = 0; i < nr; i++) {
        /* `xlmig cpuid level --baseline B` with this host as the node. */
        line = policy_xlcfg_mask(&bl[i], host, 1);
        is_int(0, (long long)libxl_rejects(line, &tokens),
               "%s: level line for this host (%zu tokens) accepted by "
               "libxl", bl[i].name, tokens);
        free(line);

        /* `xlmig cpuid level` of {host, B}: mask to the intersection. */
        pair[0] = *host;
        pair[1] = bl[i];
        masked = pair[0];
        policy_intersect(&masked, &pair[1]);
        line = policy_xlcfg_mask(&masked, pair, 2);
        is_int(0, (long long)libxl_rejects(line, &n),
               "%s: intersection line with this host (%zu tokens) accepted",
               bl[i].name, n);
        free(line);

        /* `xlmig cpuid set-compat DOMAIN B`: valid on any host. */
        line = policy_xlcfg_mask(&bl[i], NULL, 0);
        is_int(0, (long long)libxl_rejects(line, &n),
               "%s: set-compat line (%zu tokens) accepted", bl[i].name, n);
        masked = *host;
        ok(policy_apply_xlcfg_cpuid(&masked, line, err, sizeof(err)),
           "%s: set-compat line applies to this host", bl[i].name);
        /* Speculation hints are left to the host on purpose. */
        for (outside = 0, k = 0; k < policy_nr_features; k++) {
            const struct policy_feature *f = &policy_features[k];

            if (policy_feature_is_checked(f) &&
                !(f->flags & POLICY_F_SPEC) && policy_has(&masked, f) &&
                !policy_has(&bl[i], f)) {
                diag("%s: %s left on", bl[i].name, f->name);
                outside++;
            }
        }
        is_int(0, outside, "%s: masked host has no feature outside the "
               "baseline", bl[i].name);
        free(line);
    }
}

int main(void)
{
    struct policy_cpuid host, *bl = NULL;
    libxlmig_ctx *ctx;
    size_t nr = 0;

    if (!policy_capture_native(&host))
        skip_all("no cpuid instruction on this architecture");
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    if (libxlmig_baseline_list(ctx, &bl, &nr))
        bail("cannot load the baselines: %s", libxlmig_last_error(ctx));
    plan(1 + nr * 5);
    diag("host: %s family %u model %u, %u features",
         policy_vendor_to_string(host.vendor), host.family, host.model,
         policy_count(&host));
    test_feature_names();
    test_baseline_lines(bl, nr, &host);
    free(bl);
    libxlmig_ctx_free(ctx);
    return 0;
}
