/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The JSON form of a CPUID policy, both ways, with yajl.  The parser is
 * strict (unknown keys, unknown feature names, out-of-range numbers are
 * errors) and every message names the input and the field, because these
 * files are written by hand: baselines, and policies copied between hosts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"

static yajl_gen_status gen_str(yajl_gen g, const char *s)
{
    return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static yajl_gen_status gen_kv_str(yajl_gen g, const char *k, const char *v)
{
    yajl_gen_status s = gen_str(g, k);

    return s != yajl_gen_status_ok ? s : gen_str(g, v);
}

static yajl_gen_status gen_kv_int(yajl_gen g, const char *k, long long v)
{
    yajl_gen_status s = gen_str(g, k);

    return s != yajl_gen_status_ok ? s : yajl_gen_integer(g, v);
}

yajl_gen_status policy_gen_json(yajl_gen g, const struct policy_cpuid *p)
{
    yajl_gen_status s;
    char hex[16];
    unsigned int w;
    size_t i;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_int(g, "version", POLICY_JSON_VERSION);
    if (s != yajl_gen_status_ok) goto out;
    if (*p->name) {
        s = gen_kv_str(g, "name", p->name);
        if (s != yajl_gen_status_ok) goto out;
    }
    if (*p->source) {
        s = gen_kv_str(g, "source", p->source);
        if (s != yajl_gen_status_ok) goto out;
    }
    s = gen_kv_str(g, "vendor", policy_vendor_to_string(p->vendor));
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_int(g, "family", p->family);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_int(g, "model", p->model);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_int(g, "stepping", p->stepping);
    if (s != yajl_gen_status_ok) goto out;
    snprintf(hex, sizeof(hex), "0x%x", p->max_leaf);
    s = gen_kv_str(g, "max_leaf", hex);
    if (s != yajl_gen_status_ok) goto out;
    snprintf(hex, sizeof(hex), "0x%x", p->max_ext_leaf);
    s = gen_kv_str(g, "max_ext_leaf", hex);
    if (s != yajl_gen_status_ok) goto out;

    s = gen_str(g, "features");
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_array_open(g);
    if (s != yajl_gen_status_ok) goto out;
    for (i = 0; i < policy_nr_features; i++) {
        if (!policy_has(p, &policy_features[i]))
            continue;
        s = gen_str(g, policy_features[i].name);
        if (s != yajl_gen_status_ok) goto out;
    }
    s = yajl_gen_array_close(g);
    if (s != yajl_gen_status_ok) goto out;

    s = gen_str(g, "words");
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    for (w = 0; w < POLICY_NR_WORDS; w++) {
        snprintf(hex, sizeof(hex), "0x%08x", p->words[w]);
        s = gen_kv_str(g, policy_word_name(w), hex);
        if (s != yajl_gen_status_ok) goto out;
    }
    s = yajl_gen_map_close(g);
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_close(g);
 out:
    return s;
}

struct perr {
    const char *what;
    char *buf;
    size_t len;
};

static bool fail(struct perr *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct perr *e, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (field)
        snprintf(e->buf, e->len, "%s: field \"%s\": %s", e->what, field, msg);
    else
        snprintf(e->buf, e->len, "%s: %s", e->what, msg);
    return false;
}

/* A uint32 from a JSON integer or a "0x..."/decimal string. */
static bool get_u32(struct perr *e, const char *field, yajl_val v,
                    uint32_t *v_r)
{
    unsigned long long u;
    const char *s;
    char *end;

    if (YAJL_IS_INTEGER(v)) {
        if (YAJL_GET_INTEGER(v) < 0 || YAJL_GET_INTEGER(v) > UINT32_MAX)
            return fail(e, field, "%lld is out of range 0..0xffffffff",
                        (long long)YAJL_GET_INTEGER(v));
        *v_r = (uint32_t)YAJL_GET_INTEGER(v);
        return true;
    }
    if (!YAJL_IS_STRING(v))
        return fail(e, field, "expected an integer or a hex string");
    s = YAJL_GET_STRING(v);
    if (!s)
        return fail(e, field, "expected an integer or a hex string");
    errno = 0;
    u = strtoull(s, &end, 0);
    if (!*s || *end || errno || *s == '-' || u > UINT32_MAX)
        return fail(e, field, "\"%s\" is not a number in 0..0xffffffff", s);
    *v_r = (uint32_t)u;
    return true;
}

static bool get_string(struct perr *e, const char *field, yajl_val v,
                       char *out, size_t len)
{
    const char *s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;

    if (!s)
        return fail(e, field, "expected a string");
    if (strlen(s) >= len)
        return fail(e, field, "longer than %zu characters", len - 1);
    snprintf(out, len, "%s", s);
    return true;
}

static bool parse_features(struct perr *e, yajl_val v, struct policy_cpuid *p)
{
    const struct policy_feature *f;
    char field[32];
    size_t i;

    if (!YAJL_IS_ARRAY(v))
        return fail(e, "features", "expected an array of feature names");
    for (i = 0; i < v->u.array.len; i++) {
        yajl_val n = v->u.array.values[i];

        snprintf(field, sizeof(field), "features[%zu]", i);
        if (!YAJL_IS_STRING(n))
            return fail(e, field, "expected a feature name string");
        f = policy_feature_by_name(YAJL_GET_STRING(n));
        if (!f)
            return fail(e, field, "unknown feature '%s'",
                        YAJL_GET_STRING(n));
        policy_set(p, f, true);
    }
    return true;
}

static bool parse_words(struct perr *e, yajl_val v, struct policy_cpuid *p)
{
    char field[32];
    uint32_t val, unknown;
    unsigned int w;
    size_t i;

    if (!YAJL_IS_OBJECT(v))
        return fail(e, "words", "expected an object of word name to value");
    for (i = 0; i < v->u.object.len; i++) {
        const char *k = v->u.object.keys[i];

        snprintf(field, sizeof(field), "words.%s", k);
        for (w = 0; w < POLICY_NR_WORDS; w++)
            if (!strcasecmp(k, policy_word_name(w)))
                break;
        if (w == POLICY_NR_WORDS)
            return fail(e, field, "unknown feature word (expected 1d, 1c, "
                        "e1d, e1c, Da1, 7b0, 7c0, e7d, e8b, 7d0 or 7a1)");
        if (!get_u32(e, field, v->u.object.values[i], &val))
            return false;
        unknown = val & ~policy_word_known_mask(w);
        if (unknown)
            return fail(e, field, "bit %d is not a known feature",
                        __builtin_ctz(unknown));
        p->words[w] |= val;
    }
    return true;
}

static const char *const known_keys[] = {
    "version", "name", "source", "vendor", "family", "model", "stepping",
    "max_leaf", "max_ext_leaf", "features", "words",
};

bool policy_parse_json(yajl_val obj, const char *what,
                       struct policy_cpuid *p, char *err, size_t errlen)
{
    struct perr e = { what ? what : "policy", err, errlen };
    bool have_vendor = false, have_max = false, have_feat = false;
    size_t i, k;

    policy_init(p);
    if (!YAJL_IS_OBJECT(obj))
        return fail(&e, NULL, "expected a JSON object");
    for (i = 0; i < obj->u.object.len; i++) {
        const char *key = obj->u.object.keys[i];
        yajl_val v = obj->u.object.values[i];

        for (k = 0; k < sizeof(known_keys) / sizeof(known_keys[0]); k++)
            if (!strcmp(key, known_keys[k]))
                break;
        if (k == sizeof(known_keys) / sizeof(known_keys[0]))
            return fail(&e, key, "unknown field");
        if (!strcmp(key, "version")) {
            if (!YAJL_IS_INTEGER(v))
                return fail(&e, key, "expected an integer");
            if (YAJL_GET_INTEGER(v) < 1 ||
                YAJL_GET_INTEGER(v) > POLICY_JSON_VERSION)
                return fail(&e, key, "version %lld is not supported (this "
                            "build reads up to %d)",
                            (long long)YAJL_GET_INTEGER(v),
                            POLICY_JSON_VERSION);
        } else if (!strcmp(key, "name")) {
            if (!get_string(&e, key, v, p->name, sizeof(p->name)))
                return false;
        } else if (!strcmp(key, "source")) {
            if (!get_string(&e, key, v, p->source, sizeof(p->source)))
                return false;
        } else if (!strcmp(key, "vendor")) {
            if (!YAJL_IS_STRING(v) ||
                !policy_vendor_from_string(YAJL_GET_STRING(v), &p->vendor) ||
                p->vendor == POLICY_VENDOR_UNKNOWN)
                return fail(&e, key, "expected \"intel\", \"amd\", "
                            "\"hygon\" or \"any\"");
            have_vendor = true;
        } else if (!strcmp(key, "family")) {
            if (!get_u32(&e, key, v, &p->family)) return false;
        } else if (!strcmp(key, "model")) {
            if (!get_u32(&e, key, v, &p->model)) return false;
        } else if (!strcmp(key, "stepping")) {
            if (!get_u32(&e, key, v, &p->stepping)) return false;
        } else if (!strcmp(key, "max_leaf")) {
            if (!get_u32(&e, key, v, &p->max_leaf)) return false;
            have_max = true;
        } else if (!strcmp(key, "max_ext_leaf")) {
            if (!get_u32(&e, key, v, &p->max_ext_leaf)) return false;
            if (p->max_ext_leaf && p->max_ext_leaf < 0x80000000u)
                return fail(&e, key, "0x%x is not an extended leaf "
                            "(0x80000000 or above, or 0)", p->max_ext_leaf);
        } else if (!strcmp(key, "features")) {
            if (!parse_features(&e, v, p)) return false;
            have_feat = true;
        } else if (!strcmp(key, "words")) {
            if (!parse_words(&e, v, p)) return false;
            have_feat = true;
        }
    }
    if (!YAJL_IS_INTEGER(yajl_tree_get(obj, (const char *[]){ "version",
                                       NULL }, yajl_t_any)))
        return fail(&e, "version", "missing");
    if (!have_vendor)
        return fail(&e, "vendor", "missing");
    if (!have_max)
        return fail(&e, "max_leaf", "missing");
    if (!have_feat)
        return fail(&e, "features", "missing (give \"features\" or "
                    "\"words\")");
    return true;
}

bool policy_parse_json_text(const char *text, const char *what,
                            struct policy_cpuid *p, char *err, size_t errlen)
{
    char yerr[256];
    yajl_val tree;
    size_t n;
    bool ok;

    yerr[0] = '\0';
    tree = yajl_tree_parse(text, yerr, sizeof(yerr));
    if (!tree) {
        n = strlen(yerr);
        while (n && (yerr[n - 1] == '\n' || yerr[n - 1] == ' '))
            yerr[--n] = '\0';
        for (n = 0; yerr[n]; n++)
            if (yerr[n] == '\n')
                yerr[n] = ' ';
        snprintf(err, errlen, "%s: invalid JSON: %s", what ? what : "policy",
                 yerr[0] ? yerr : "parse error");
        policy_init(p);
        return false;
    }
    ok = policy_parse_json(tree, what, p, err, errlen);
    yajl_tree_free(tree);
    return ok;
}

static yajl_gen_status gen_kv_bool(yajl_gen g, const char *k, bool v)
{
    yajl_gen_status s = gen_str(g, k);

    return s != yajl_gen_status_ok ? s : yajl_gen_bool(g, v);
}

static yajl_gen_status gen_kv_hex(yajl_gen g, const char *k, uint32_t v)
{
    char hex[16];

    snprintf(hex, sizeof(hex), "0x%x", v);
    return gen_kv_str(g, k, hex);
}

yajl_gen_status policy_check_gen_json(yajl_gen g,
                                      const struct policy_check *res)
{
    yajl_gen_status s;
    char *summary = NULL;
    size_t i;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_bool(g, "compatible", res->compatible);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_bool(g, "vendor_mismatch", res->vendor_mismatch);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_str(g, "domain_vendor",
                   policy_vendor_to_string(res->domain_vendor));
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_str(g, "host_vendor",
                   policy_vendor_to_string(res->host_vendor));
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_bool(g, "max_leaf_short", res->max_leaf_short);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_hex(g, "domain_max_leaf", res->domain_max_leaf);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_hex(g, "host_max_leaf", res->host_max_leaf);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_bool(g, "max_ext_leaf_short", res->max_ext_leaf_short);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_hex(g, "domain_max_ext_leaf", res->domain_max_ext_leaf);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_kv_hex(g, "host_max_ext_leaf", res->host_max_ext_leaf);
    if (s != yajl_gen_status_ok) goto out;
    s = gen_str(g, "missing");
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_array_open(g);
    if (s != yajl_gen_status_ok) goto out;
    for (i = 0; i < policy_nr_features; i++) {
        const struct policy_feature *f = &policy_features[i];

        if (!(res->missing[f->word] & (1u << f->bit)))
            continue;
        s = gen_str(g, f->name);
        if (s != yajl_gen_status_ok) goto out;
    }
    s = yajl_gen_array_close(g);
    if (s != yajl_gen_status_ok) goto out;
    summary = policy_check_summary(res);
    if (!summary) {
        s = yajl_gen_generation_complete;
        goto out;
    }
    s = gen_kv_str(g, "summary", summary);
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_close(g);
 out:
    free(summary);
    return s;
}
