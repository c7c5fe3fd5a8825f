/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * CPUID policy operations: building a policy from raw leaves, the
 * compatibility check a migration pre-flight runs, levelling by
 * intersection, the xl.cfg `cpuid=` mask line and its inverse (applying
 * a cpuid= value to a host policy), and the text forms.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"

/* A growing malloc'd string; on allocation failure s becomes NULL. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        size_t avail = b->cap - b->len;
        char *ns;

        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? avail : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->s && (size_t)n < avail) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        ns = realloc(b->s, b->cap);
        if (!ns) {
            b->failed = true;
            return;
        }
        b->s = ns;
        if (!b->len)
            b->s[0] = '\0';
    }
}

/* The string, or NULL (and freed) if anything failed. */
static char *sb_finish(struct sbuf *b)
{
    if (b->failed) {
        free(b->s);
        return NULL;
    }
    if (!b->s)
        return strdup("");
    return b->s;
}

static const struct {
    enum policy_vendor v;
    const char *name, *cpuid_name;
} vendors[] = {
    { POLICY_VENDOR_UNKNOWN, "unknown", "" },
    { POLICY_VENDOR_INTEL, "intel", "GenuineIntel" },
    { POLICY_VENDOR_AMD, "amd", "AuthenticAMD" },
    { POLICY_VENDOR_HYGON, "hygon", "HygonGenuine" },
    { POLICY_VENDOR_ANY, "any", "" },
};

const char *policy_vendor_to_string(enum policy_vendor v)
{
    size_t i;

    for (i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++)
        if (vendors[i].v == v)
            return vendors[i].name;
    return "unknown";
}

bool policy_vendor_from_string(const char *s, enum policy_vendor *v_r)
{
    size_t i;

    if (!s)
        return false;
    for (i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++) {
        if (!strcasecmp(s, vendors[i].name) ||
            (*vendors[i].cpuid_name && !strcmp(s, vendors[i].cpuid_name))) {
            *v_r = vendors[i].v;
            return true;
        }
    }
    return false;
}

void policy_init(struct policy_cpuid *p)
{
    memset(p, 0, sizeof(*p));
}

bool policy_has(const struct policy_cpuid *p, const struct policy_feature *f)
{
    return p->words[f->word] & (1u << f->bit);
}

void policy_set(struct policy_cpuid *p, const struct policy_feature *f,
                bool on)
{
    if (on)
        p->words[f->word] |= 1u << f->bit;
    else
        p->words[f->word] &= ~(1u << f->bit);
}

unsigned int policy_count(const struct policy_cpuid *p)
{
    unsigned int n = 0, w;

    for (w = 0; w < POLICY_NR_WORDS; w++)
        n += (unsigned int)__builtin_popcount(p->words[w]);
    return n;
}

static const struct policy_leaf *find_leaf(const struct policy_leaf *leaves,
                                           size_t nr, uint32_t leaf,
                                           uint32_t subleaf)
{
    size_t i;

    for (i = 0; i < nr; i++) {
        if (leaves[i].leaf != leaf)
            continue;
        if (leaves[i].subleaf == subleaf ||
            (subleaf == 0 && leaves[i].subleaf == POLICY_NO_SUBLEAF) ||
            (subleaf == POLICY_NO_SUBLEAF && leaves[i].subleaf == 0))
            return &leaves[i];
    }
    return NULL;
}

static enum policy_vendor vendor_of_leaf0(const struct policy_leaf *l)
{
    char id[13];
    enum policy_vendor v;

    memcpy(id, &l->b, 4);
    memcpy(id + 4, &l->d, 4);
    memcpy(id + 8, &l->c, 4);
    id[12] = '\0';
    if (policy_vendor_from_string(id, &v) && v != POLICY_VENDOR_ANY)
        return v;
    return POLICY_VENDOR_UNKNOWN;
}

void policy_from_leaves(struct policy_cpuid *p,
                        const struct policy_leaf *leaves, size_t nr)
{
    const struct policy_leaf *l;
    uint32_t basefam, basemodel, w;

    policy_init(p);
    l = find_leaf(leaves, nr, 0, POLICY_NO_SUBLEAF);
    if (!l)
        return;
    p->max_leaf = l->a;
    p->vendor = vendor_of_leaf0(l);

    if (p->max_leaf >= 1 && (l = find_leaf(leaves, nr, 1, POLICY_NO_SUBLEAF))) {
        p->stepping = l->a & 0xf;
        basemodel = (l->a >> 4) & 0xf;
        basefam = (l->a >> 8) & 0xf;
        p->family = basefam == 0xf ? basefam + ((l->a >> 20) & 0xff)
                                   : basefam;
        p->model = (basefam == 0x6 || basefam == 0xf)
                   ? (((l->a >> 16) & 0xf) << 4) | basemodel : basemodel;
        p->words[POLICY_W_1D] = l->d;
        p->words[POLICY_W_1C] = l->c;
    }
    if (p->max_leaf >= 7 && (l = find_leaf(leaves, nr, 7, 0))) {
        p->words[POLICY_W_7B0] = l->b;
        p->words[POLICY_W_7C0] = l->c;
        p->words[POLICY_W_7D0] = l->d;
        if (l->a >= 1 && (l = find_leaf(leaves, nr, 7, 1)))
            p->words[POLICY_W_7A1] = l->a;
    }
    if (p->max_leaf >= 0xd && (l = find_leaf(leaves, nr, 0xd, 1)))
        p->words[POLICY_W_DA1] = l->a;

    l = find_leaf(leaves, nr, 0x80000000u, POLICY_NO_SUBLEAF);
    if (l && (l->a & 0xffff0000u) == 0x80000000u) {
        p->max_ext_leaf = l->a;
        if (p->max_ext_leaf >= 0x80000001u &&
            (l = find_leaf(leaves, nr, 0x80000001u, POLICY_NO_SUBLEAF))) {
            p->words[POLICY_W_E1D] = l->d;
            p->words[POLICY_W_E1C] = l->c;
        }
        if (p->max_ext_leaf >= 0x80000007u &&
            (l = find_leaf(leaves, nr, 0x80000007u, POLICY_NO_SUBLEAF)))
            p->words[POLICY_W_E7D] = l->d;
        if (p->max_ext_leaf >= 0x80000008u &&
            (l = find_leaf(leaves, nr, 0x80000008u, POLICY_NO_SUBLEAF)))
            p->words[POLICY_W_E8B] = l->b;
    }
    for (w = 0; w < POLICY_NR_WORDS; w++)
        p->words[w] &= policy_word_known_mask(w);
}

bool policy_check(const struct policy_cpuid *dom,
                  const struct policy_cpuid *host, struct policy_check *res)
{
    unsigned int w;

    memset(res, 0, sizeof(*res));
    res->domain_vendor = dom->vendor;
    res->host_vendor = host->vendor;
    res->vendor_mismatch = dom->vendor != host->vendor &&
                           dom->vendor != POLICY_VENDOR_ANY &&
                           host->vendor != POLICY_VENDOR_ANY;
    res->domain_max_leaf = dom->max_leaf;
    res->host_max_leaf = host->max_leaf;
    res->max_leaf_short = dom->max_leaf > host->max_leaf;
    res->domain_max_ext_leaf = dom->max_ext_leaf;
    res->host_max_ext_leaf = host->max_ext_leaf;
    res->max_ext_leaf_short = dom->max_ext_leaf > host->max_ext_leaf;
    for (w = 0; w < POLICY_NR_WORDS; w++) {
        res->missing[w] = dom->words[w] & ~host->words[w] &
                          policy_word_checked_mask(w);
        res->nr_missing += (unsigned int)__builtin_popcount(res->missing[w]);
    }
    res->compatible = !res->vendor_mismatch && !res->max_leaf_short &&
                      !res->max_ext_leaf_short && !res->nr_missing;
    return res->compatible;
}

char *policy_check_missing_names(const struct policy_check *res)
{
    struct sbuf b = { 0 };
    size_t i;

    for (i = 0; i < policy_nr_features; i++) {
        const struct policy_feature *f = &policy_features[i];

        if (res->missing[f->word] & (1u << f->bit))
            sb_printf(&b, "%s%s", b.len ? " " : "", f->name);
    }
    return sb_finish(&b);
}

char *policy_check_summary(const struct policy_check *res)
{
    struct sbuf b = { 0 };
    char *missing;

    if (res->compatible)
        return strdup("compatible");
    sb_printf(&b, "not compatible:");
    if (res->vendor_mismatch)
        sb_printf(&b, " vendor mismatch (domain %s, host %s);",
                  policy_vendor_to_string(res->domain_vendor),
                  policy_vendor_to_string(res->host_vendor));
    if (res->max_leaf_short)
        sb_printf(&b, " max leaf 0x%x > host's 0x%x;", res->domain_max_leaf,
                  res->host_max_leaf);
    if (res->max_ext_leaf_short)
        sb_printf(&b, " max extended leaf 0x%x > host's 0x%x;",
                  res->domain_max_ext_leaf, res->host_max_ext_leaf);
    if (res->nr_missing) {
        missing = policy_check_missing_names(res);
        sb_printf(&b, " host lacks %u feature%s: %s;", res->nr_missing,
                  res->nr_missing == 1 ? "" : "s", missing ? missing : "?");
        free(missing);
    }
    if (!b.failed && b.len && b.s[b.len - 1] == ';')
        b.s[--b.len] = '\0';
    return sb_finish(&b);
}

void policy_intersect(struct policy_cpuid *acc, const struct policy_cpuid *b)
{
    unsigned int w;

    if (acc->vendor == POLICY_VENDOR_ANY)
        acc->vendor = b->vendor;
    else if (b->vendor != POLICY_VENDOR_ANY && b->vendor != acc->vendor)
        acc->vendor = POLICY_VENDOR_UNKNOWN;
    if (b->family < acc->family ||
        (b->family == acc->family && b->model < acc->model) ||
        (b->family == acc->family && b->model == acc->model &&
         b->stepping < acc->stepping)) {
        acc->family = b->family;
        acc->model = b->model;
        acc->stepping = b->stepping;
    }
    if (b->max_leaf < acc->max_leaf)
        acc->max_leaf = b->max_leaf;
    if (b->max_ext_leaf < acc->max_ext_leaf)
        acc->max_ext_leaf = b->max_ext_leaf;
    for (w = 0; w < POLICY_NR_WORDS; w++)
        acc->words[w] &= b->words[w];
}

int policy_highest_baseline(const struct policy_cpuid *baselines, size_t nr,
                            const struct policy_cpuid *hosts,
                            size_t nr_hosts, bool *sat)
{
    struct policy_check res;
    unsigned int best_count = 0;
    int best = -1;
    size_t i, h;
    bool fits;

    for (i = 0; i < nr; i++) {
        fits = true;
        for (h = 0; h < nr_hosts && fits; h++)
            fits = policy_check(&baselines[i], &hosts[h], &res);
        if (sat)
            sat[i] = fits;
        if (fits && (best < 0 || policy_count(&baselines[i]) > best_count)) {
            best = (int)i;
            best_count = policy_count(&baselines[i]);
        }
    }
    return best;
}

/*
 * The token xl's parser needs for f.  libxl's original table names the
 * CLFLUSH line-size field of leaf 1 ebx "clflush" and the feature bit
 * "clfsh", and that table is searched first.
 */
static const char *xl_name(const struct policy_feature *f)
{
    return strcmp(f->name, "clflush") ? f->name : "clfsh";
}

char *policy_xlcfg_mask(const struct policy_cpuid *target,
                        const struct policy_cpuid *hosts, size_t nr)
{
    struct sbuf b = { 0 };
    size_t i, h;

    sb_printf(&b, "host");
    for (i = 0; i < policy_nr_features; i++) {
        const struct policy_feature *f = &policy_features[i];
        bool clear = false;

        if (!policy_feature_is_checked(f) || policy_has(target, f))
            continue;
        if (!nr) {
            clear = !(f->flags & POLICY_F_SPEC);
        } else if (f->flags & POLICY_F_SPEC) {
            /* Levelled across the hosts, never down to the target. */
            bool some = false, all = true;

            for (h = 0; h < nr; h++) {
                some = some || policy_has(&hosts[h], f);
                all = all && policy_has(&hosts[h], f);
            }
            clear = some && !all;
        } else {
            for (h = 0; h < nr && !clear; h++)
                clear = policy_has(&hosts[h], f);
        }
        if (clear)
            sb_printf(&b, ",%s=0", xl_name(f));
    }
    return sb_finish(&b);
}

/* libxl cpuid= keys outside our feature words: accepted, ignored. */
static const char *const xl_other_keys[] = {
    "brandid", "clflush", "proccount", "localapicid", "psn", "ia64",
    "cntxid", "arat", "pks", "wrmsrns", "perfctr_core", "perfctr_nb",
    "nc", "apicidsize", "procpkg", "maxhvleaf", "lfence+", "nscb",
    "svm_npt", "svm_lbrv", "svm_nrips", "svm_tscrate", "svm_vmcbclean",
    "svm_decode", "svm_pausefilt", "intel-psfd", "mcdt-no", "cet-sss",
};

static bool apply_token(struct policy_cpuid *p, const char *tok,
                        char *err, size_t errlen)
{
    const struct policy_feature *f;
    const char *eq = strchr(tok, '=');
    char key[64], *end;
    unsigned long long num;
    bool numeric;
    size_t i, klen;

    if (!eq || eq == tok || !eq[1]) {
        snprintf(err, errlen, "cpuid token '%s' is not NAME=VALUE", tok);
        return false;
    }
    klen = (size_t)(eq - tok);
    if (klen >= sizeof(key)) {
        snprintf(err, errlen, "cpuid token '%s': name too long", tok);
        return false;
    }
    memcpy(key, tok, klen);
    key[klen] = '\0';
    num = strtoull(eq + 1, &end, 0);
    numeric = end != eq + 1 && !*end;
    if (!numeric && !(strchr("xks", eq[1]) && !eq[2])) {
        snprintf(err, errlen, "cpuid token '%s': value must be a number, "
                 "x, k or s", tok);
        return false;
    }
    if (!strcmp(key, "family") || !strcmp(key, "model") ||
        !strcmp(key, "stepping") || !strcmp(key, "maxleaf")) {
        if (numeric) {
            if (key[0] == 'f') p->family = (uint32_t)num;
            else if (key[1] == 'o') p->model = (uint32_t)num;
            else if (key[0] == 's') p->stepping = (uint32_t)num;
            else p->max_leaf = (uint32_t)num;
        }
        return true;
    }
    for (i = 0; i < sizeof(xl_other_keys) / sizeof(xl_other_keys[0]); i++)
        if (!strcmp(key, xl_other_keys[i]))
            return true;
    /* "clfsh" is the CLFLUSH feature bit (see xl_name). */
    f = policy_feature_by_name(!strcmp(key, "clfsh") ? "clflush" : key);
    if (!f) {
        snprintf(err, errlen, "cpuid token '%s': unknown feature '%s'",
                 tok, key);
        return false;
    }
    if (numeric)
        policy_set(p, f, num & 1);
    return true;
}

bool policy_apply_xlcfg_cpuid(struct policy_cpuid *p, const char *value,
                              char *err, size_t errlen)
{
    char *copy = strdup(value ? value : ""), *tok, *save = NULL;
    bool ok = false;

    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    tok = strtok_r(copy, ",", &save);
    if (!tok || strcmp(tok, "host")) {
        snprintf(err, errlen, "cpuid value must start with \"host\"");
        goto out;
    }
    while ((tok = strtok_r(NULL, ",", &save)))
        if (!apply_token(p, tok, err, errlen))
            goto out;
    ok = true;
 out:
    free(copy);
    return ok;
}

void policy_format_words(const struct policy_cpuid *p, char *buf, size_t len)
{
    size_t off = 0;
    unsigned int w;

    if (!len)
        return;
    buf[0] = '\0';
    for (w = 0; w < POLICY_NR_WORDS && off < len; w++)
        off += (size_t)snprintf(buf + off, len - off, "%s%08x",
                                w ? ":" : "", p->words[w]);
}

char *policy_feature_list(const struct policy_cpuid *p)
{
    struct sbuf b = { 0 };
    size_t i;

    for (i = 0; i < policy_nr_features; i++)
        if (policy_has(p, &policy_features[i]))
            sb_printf(&b, "%s%s", b.len ? " " : "", policy_features[i].name);
    return sb_finish(&b);
}

char *policy_format_text(const struct policy_cpuid *p)
{
    struct sbuf b = { 0 };
    char words[POLICY_NR_WORDS * 9 + 1];
    unsigned int w;
    size_t i;

    if (*p->name)
        sb_printf(&b, "name        : %s\n", p->name);
    if (*p->source)
        sb_printf(&b, "source      : %s\n", p->source);
    sb_printf(&b, "vendor      : %s\n", policy_vendor_to_string(p->vendor));
    sb_printf(&b, "family      : %u (0x%x) model %u (0x%x) stepping %u\n",
              p->family, p->family, p->model, p->model, p->stepping);
    sb_printf(&b, "max leaves  : 0x%x, extended 0x%x\n", p->max_leaf,
              p->max_ext_leaf);
    policy_format_words(p, words, sizeof(words));
    sb_printf(&b, "featureset  : %s\n", words);
    sb_printf(&b, "features    : %u\n", policy_count(p));
    for (w = 0; w < POLICY_NR_WORDS; w++) {
        sb_printf(&b, "  %-4s %08x:", policy_word_name(w), p->words[w]);
        for (i = 0; i < policy_nr_features; i++)
            if (policy_features[i].word == w &&
                policy_has(p, &policy_features[i]))
                sb_printf(&b, " %s", policy_features[i].name);
        sb_printf(&b, "\n");
    }
    return sb_finish(&b);
}
