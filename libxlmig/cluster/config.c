/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The cluster config: one file in xl.cfg syntax, read with Xen's own
 * libxlutil parser, whose node= and network= lists hold spec strings in
 * the style of xl's vif= lines ("name=node1,mgmt=192.0.2.1,mig0=...").
 * This file checks everything an administrator can get wrong (syntax,
 * types, ranges, malformed specs, addresses outside their network, a node
 * missing a network, duplicates, overlapping networks) and reports each
 * with the file, the line of the key and the key.  libxlutil cannot list
 * the keys it read, so a small scan of the file finds their lines and
 * warns about unknown or misspelt ones.  The format is documented in
 * docs/xlmig.cfg.5.md.
 */
#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <unistd.h>

#include <libxlutil.h>

#include "core/core.h"
#include "netcfg.h"

#define LIBXLMIG__DEFAULT_KEY_FILE "/etc/xen/xlmig.key"
#define CFG_NAME_MAX 63

/* Every key the file may set. */
static const char *const known_keys[] = {
    "cluster", "network", "node", "allow_public", "key_file", "port",
    "downtime_limit_ms", "bandwidth_limit", "bandwidth_limit_mbps",
    "compression", "max_outgoing", "max_incoming",
    "connections_per_network", "cpu_baseline",
    "sim_storage_dir", "transport",
};

typedef struct cfg_key {
    char *name;
    int line;
} cfg_key;

/* Parse state of one load. */
typedef struct cfg_state {
    libxlmig__gc *gc;
    const char *file;
    XLU_Config *xc;
    cfg_key *keys;           /* from the scan; last assignment wins */
    int nr_keys;
    libxlmig_cluster_config *c;
    netcfg_prefix *prefixes; /* parsed networks[i].cidr */
    FILE *report;            /* libxlutil's messages, into rbuf */
    char *rbuf;
    size_t rlen;
} cfg_state;

static int key_line(const cfg_state *st, const char *key)
{
    int i, line = 0;

    for (i = 0; i < st->nr_keys; i++)
        if (!strcmp(st->keys[i].name, key))
            line = st->keys[i].line;
    return line;
}

/* Logs "FILE:LINE: KEY: message" (LINE when known); returns CONFIG. */
static int cfg_error(cfg_state *st, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_error(cfg_state *st, const char *key, const char *fmt, ...)
{
    libxlmig__gc *gc = st->gc;
    char msg[768];
    int line = key ? key_line(st, key) : 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line)
        LOG(ERROR, "%s:%d: %s: %s", st->file, line, key, msg);
    else if (key)
        LOG(ERROR, "%s: %s: %s", st->file, key, msg);
    else
        LOG(ERROR, "%s: %s", st->file, msg);
    return LIBXLMIG_ERROR_CONFIG;
}

/* Levenshtein distance, for "did you mean" on short keys. */
static int edit_distance(const char *a, const char *b)
{
    int la = strlen(a), lb = strlen(b), i, j;
    int d[64][64];

    if (la >= 63 || lb >= 63)
        return 99;
    for (i = 0; i <= la; i++) d[i][0] = i;
    for (j = 0; j <= lb; j++) d[0][j] = j;
    for (i = 1; i <= la; i++)
        for (j = 1; j <= lb; j++) {
            int v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

static void add_warning(cfg_state *st, const char *msg)
{
    libxlmig_cluster_config *c = st->c;
    char **w = realloc(c->warnings, (c->num_warnings + 1) * sizeof(*w));
    libxlmig__gc *gc = st->gc;

    if (!w)
        libxlmig__alloc_failed(CTX, __func__, c->num_warnings + 1,
                               sizeof(*w));
    c->warnings = w;
    c->warnings[c->num_warnings] = strdup(msg);
    if (!c->warnings[c->num_warnings])
        libxlmig__alloc_failed(CTX, __func__, 1, strlen(msg));
    c->num_warnings++;
    LOG(WARN, "%s", msg);
}

/*
 * Finds the key of every top-level assignment with its line: outside
 * strings and brackets, an identifier followed by '=' or '+='.  Comments
 * run from '#' to the end of the line.
 */
static void scan_keys(cfg_state *st, const char *text)
{
    libxlmig__gc *gc = st->gc;
    const char *p = text;
    int line = 1, depth = 0;
    bool at_start = true;

    while (*p) {
        if (*p == '\n') {
            line++;
            p++;
            if (!depth) at_start = true;
            continue;
        }
        if (*p == '#') {
            while (*p && *p != '\n') p++;
            continue;
        }
        if (*p == '"' || *p == '\'') {
            char q = *p++;

            while (*p && *p != q && *p != '\n') {
                if (*p == '\\' && p[1] && p[1] != '\n') p++;
                p++;
            }
            if (*p == q) p++;
            at_start = false;
            continue;
        }
        if (*p == '[') { depth++; p++; continue; }
        if (*p == ']') { if (depth) depth--; p++; continue; }
        if (*p == ';') { if (!depth) at_start = true; p++; continue; }
        if (isspace((unsigned char)*p)) { p++; continue; }
        if (at_start && !depth &&
            (isalpha((unsigned char)*p) || *p == '_')) {
            const char *s = p, *q;

            while (isalnum((unsigned char)*p) || *p == '_') p++;
            q = p;
            while (*q == ' ' || *q == '\t') q++;
            if (*q == '=' || (q[0] == '+' && q[1] == '=')) {
                st->keys = libxlmig__realloc(gc, st->keys,
                                             (st->nr_keys + 1) *
                                             sizeof(*st->keys));
                st->keys[st->nr_keys].name = libxlmig__strndup(gc, s, p - s);
                st->keys[st->nr_keys].line = line;
                st->nr_keys++;
            }
            at_start = false;
            continue;
        }
        at_start = false;
        p++;
    }
}

static void warn_unknown_keys(cfg_state *st)
{
    libxlmig__gc *gc = st->gc;
    size_t k;
    int i;

    for (i = 0; i < st->nr_keys; i++) {
        const char *best = NULL;
        int bestd = 3;

        for (k = 0; k < ARRAY_SIZE(known_keys); k++) {
            int d;

            if (!strcmp(st->keys[i].name, known_keys[k]))
                break;
            d = edit_distance(st->keys[i].name, known_keys[k]);
            if (d < bestd) {
                bestd = d;
                best = known_keys[k];
            }
        }
        if (k < ARRAY_SIZE(known_keys))
            continue;
        if (best)
            add_warning(st, GCSPRINTF("%s:%d: unknown key '%s' ignored "
                                      "(did you mean '%s'?)", st->file,
                                      st->keys[i].line, st->keys[i].name,
                                      best));
        else
            add_warning(st, GCSPRINTF("%s:%d: unknown key '%s' ignored",
                                      st->file, st->keys[i].line,
                                      st->keys[i].name));
    }
}

/*
 * For a missing required key: " (line N has 'KEY2': misspelt?)" when an
 * unknown key of the file is close to it, else "".
 */
static const char *misspelt_hint(cfg_state *st, const char *key)
{
    libxlmig__gc *gc = st->gc;
    size_t k;
    int i;

    for (i = 0; i < st->nr_keys; i++) {
        for (k = 0; k < ARRAY_SIZE(known_keys); k++)
            if (!strcmp(st->keys[i].name, known_keys[k]))
                break;
        if (k == ARRAY_SIZE(known_keys) &&
            edit_distance(st->keys[i].name, key) <= 2)
            return GCSPRINTF(" (line %d has '%s': misspelt?)",
                             st->keys[i].line, st->keys[i].name);
    }
    return "";
}

/* A string key; ESRCH leaves *v_r NULL unless required. */
static int get_string(cfg_state *st, const char *key, bool required,
                      const char **v_r)
{
    int r = xlu_cfg_get_string(st->xc, key, v_r, 1);

    if (r == ESRCH) {
        *v_r = NULL;
        return required ? cfg_error(st, key, "missing (required)%s",
                                    misspelt_hint(st, key)) : 0;
    }
    if (r)
        return cfg_error(st, key, "must be a single string, not a list");
    if (required && !**v_r)
        return cfg_error(st, key, "must not be empty");
    return 0;
}

static int get_bounded(cfg_state *st, const char *key, long min, long max,
                       long dflt, long *v_r)
{
    int r = xlu_cfg_get_long(st->xc, key, v_r, 1);

    if (r == ESRCH) {
        *v_r = dflt;
        return 0;
    }
    if (r == EINVAL)
        return cfg_error(st, key, "must be a number");
    if (r)
        return cfg_error(st, key, "out of range (must be between %ld and "
                         "%ld)", min, max);
    if (*v_r < min || *v_r > max)
        return cfg_error(st, key, "%ld is out of range (must be between %ld "
                         "and %ld)", *v_r, min, max);
    return 0;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s), i;

    if (!n || n > CFG_NAME_MAX || !isalnum((unsigned char)s[0]))
        return false;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

/*
 * Splits a spec string "k=v,k=v" into arena arrays of keys and values.
 * Whitespace around items is ignored.
 */
static int split_spec(cfg_state *st, const char *key, int idx,
                      const char *spec, char ***k_r, char ***v_r, int *n_r)
{
    libxlmig__gc *gc = st->gc;
    char *buf = GCSTRDUP(spec), *item, *save = NULL, *eq;
    char **ks = NULL, **vs = NULL;
    int n = 0, i;

    for (item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *e;

        while (isspace((unsigned char)*item)) item++;
        e = item + strlen(item);
        while (e > item && isspace((unsigned char)e[-1])) *--e = 0;
        if (!*item)
            return cfg_error(st, key, "entry %d \"%s\": empty item", idx + 1,
                             spec);
        eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1])
            return cfg_error(st, key, "entry %d \"%s\": \"%s\" is not "
                             "KEY=VALUE", idx + 1, spec, item);
        *eq = 0;
        for (i = 0; i < n; i++)
            if (!strcmp(ks[i], item))
                return cfg_error(st, key, "entry %d \"%s\": '%s' given "
                                 "twice", idx + 1, spec, item);
        ks = libxlmig__realloc(gc, ks, (n + 1) * sizeof(*ks));
        vs = libxlmig__realloc(gc, vs, (n + 1) * sizeof(*vs));
        ks[n] = item;
        vs[n] = eq + 1;
        n++;
    }
    if (!n)
        return cfg_error(st, key, "entry %d is empty", idx + 1);
    *k_r = ks;
    *v_r = vs;
    *n_r = n;
    return 0;
}

/* The string items of list key; errors for a non-list or nested list. */
static int get_spec_list(cfg_state *st, const char *key,
                         const char ***items_r, int *n_r)
{
    libxlmig__gc *gc = st->gc;
    XLU_ConfigList *list;
    const char **items;
    int n, i, r;

    r = xlu_cfg_get_list(st->xc, key, &list, &n, 1);
    if (r == ESRCH)
        return cfg_error(st, key, "missing (required)%s: give a list such "
                         "as %s", misspelt_hint(st, key), !strcmp(key, "node")
                         ? "[ \"name=node1,mgmt=192.0.2.1,mig0=10.10.0.1\" ]"
                         : "[ \"name=mig0,cidr=10.10.0.0/24\" ]");
    if (r)
        return cfg_error(st, key, "must be a list [ \"...\", ... ]");
    if (n == 0)
        return cfg_error(st, key, "the list is empty");
    GCNEW_ARRAY(items, n);
    for (i = 0; i < n; i++) {
        items[i] = xlu_cfg_get_listitem(list, i);
        if (!items[i])
            return cfg_error(st, key, "entry %d must be a string", i + 1);
    }
    *items_r = items;
    *n_r = n;
    return 0;
}

static int parse_networks(cfg_state *st)
{
    libxlmig__gc *gc = st->gc;
    libxlmig_cluster_config *c = st->c;
    const char **items;
    netcfg_err err;
    int n, i, j, k, nk, rc;
    char **ks, **vs;

    rc = get_spec_list(st, "network", &items, &n);
    if (rc) return rc;
    c->networks = calloc(n, sizeof(*c->networks));
    if (!c->networks)
        libxlmig__alloc_failed(CTX, __func__, n, sizeof(*c->networks));
    c->num_networks = n;
    GCNEW_ARRAY(st->prefixes, n);
    for (i = 0; i < n; i++) {
        libxlmig_cfg_network *nw = &c->networks[i];

        rc = split_spec(st, "network", i, items[i], &ks, &vs, &nk);
        if (rc) return rc;
        for (k = 0; k < nk; k++) {
            if (!strcmp(ks[k], "name"))
                nw->name = strdup(vs[k]);
            else if (!strcmp(ks[k], "cidr"))
                nw->cidr = strdup(vs[k]);
            else
                return cfg_error(st, "network", "entry %d \"%s\": unknown "
                                 "item '%s' (use name= and cidr=)", i + 1,
                                 items[i], ks[k]);
        }
        if (!nw->name)
            return cfg_error(st, "network", "entry %d \"%s\": name= is "
                             "missing", i + 1, items[i]);
        if (!valid_name(nw->name) || !strcmp(nw->name, "name") ||
            !strcmp(nw->name, "mgmt"))
            return cfg_error(st, "network", "entry %d: '%s' is not a valid "
                             "network name (letters, digits, _ . -; not "
                             "'name' or 'mgmt')", i + 1, nw->name);
        if (!nw->cidr)
            return cfg_error(st, "network", "network %s: cidr= is missing",
                             nw->name);
        if (netcfg_prefix_parse(nw->cidr, &st->prefixes[i], &err))
            return cfg_error(st, "network", "network %s: cidr %s",
                             nw->name, err.msg);
        for (j = 0; j < i; j++) {
            const netcfg_prefix *a = &st->prefixes[i], *b = &st->prefixes[j];

            if (!strcmp(c->networks[j].name, nw->name))
                return cfg_error(st, "network", "network %s is defined "
                                 "twice", nw->name);
            if (netcfg_prefix_contains(a, &b->net) ||
                netcfg_prefix_contains(b, &a->net))
                return cfg_error(st, "network", "networks %s (%s) and %s "
                                 "(%s) overlap", c->networks[j].name,
                                 c->networks[j].cidr, nw->name, nw->cidr);
        }
    }
    return 0;
}

static bool valid_host(const char *s)
{
    netcfg_addr a;
    size_t i;

    if (!netcfg_addr_parse(s, &a, NULL))
        return true;
    if (!*s || strlen(s) > 253)
        return false;
    for (i = 0; s[i]; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

static int parse_nodes(cfg_state *st)
{
    libxlmig__gc *gc = st->gc;
    libxlmig_cluster_config *c = st->c;
    const char **items;
    netcfg_err err;
    int n, i, j, k, nk, w, rc;
    char **ks, **vs;

    rc = get_spec_list(st, "node", &items, &n);
    if (rc) return rc;
    c->nodes = calloc(n, sizeof(*c->nodes));
    if (!c->nodes)
        libxlmig__alloc_failed(CTX, __func__, n, sizeof(*c->nodes));
    c->num_nodes = n;
    for (i = 0; i < n; i++) {
        libxlmig_cfg_node *nd = &c->nodes[i];

        nd->mig_addrs = calloc(c->num_networks, sizeof(char *));
        if (!nd->mig_addrs)
            libxlmig__alloc_failed(CTX, __func__, c->num_networks,
                                   sizeof(char *));
        rc = split_spec(st, "node", i, items[i], &ks, &vs, &nk);
        if (rc) return rc;
        for (k = 0; k < nk; k++) {
            if (!strcmp(ks[k], "name")) {
                nd->name = strdup(vs[k]);
                continue;
            }
            if (!strcmp(ks[k], "mgmt")) {
                nd->mgmt = strdup(vs[k]);
                continue;
            }
            w = libxlmig_cluster_config_network(c, ks[k]);
            if (w < 0)
                return cfg_error(st, "node", "entry %d \"%s\": '%s' is "
                                 "neither name=, mgmt= nor a network from "
                                 "network=", i + 1, items[i], ks[k]);
            nd->mig_addrs[w] = strdup(vs[k]);
        }
        if (!nd->name)
            return cfg_error(st, "node", "entry %d \"%s\": name= is "
                             "missing", i + 1, items[i]);
        if (!valid_name(nd->name))
            return cfg_error(st, "node", "entry %d: '%s' is not a valid node "
                             "name (letters, digits, _ . -)", i + 1,
                             nd->name);
        for (j = 0; j < i; j++)
            if (!strcmp(c->nodes[j].name, nd->name))
                return cfg_error(st, "node", "node %s is defined twice",
                                 nd->name);
        if (!nd->mgmt)
            return cfg_error(st, "node", "node %s: mgmt= (management "
                             "address) is missing", nd->name);
        if (!valid_host(nd->mgmt))
            return cfg_error(st, "node", "node %s: mgmt '%s' is not an "
                             "address or host name", nd->name, nd->mgmt);
        for (w = 0; w < c->num_networks; w++) {
            const char *nw = c->networks[w].name;
            netcfg_addr a;

            if (!nd->mig_addrs[w])
                return cfg_error(st, "node", "node %s has no address on "
                                 "network %s (add %s=ADDRESS)", nd->name,
                                 nw, nw);
            if (netcfg_addr_parse(nd->mig_addrs[w], &a, &err))
                return cfg_error(st, "node", "node %s, network %s: %s",
                                 nd->name, nw, err.msg);
            if (!netcfg_prefix_contains(&st->prefixes[w], &a))
                return cfg_error(st, "node", "node %s: address %s is "
                                 "outside network %s (%s)", nd->name,
                                 nd->mig_addrs[w], nw,
                                 c->networks[w].cidr);
            for (j = 0; j < i; j++) {
                netcfg_addr b;

                netcfg_addr_parse(c->nodes[j].mig_addrs[w], &b, NULL);
                if (netcfg_addr_equal(&a, &b))
                    return cfg_error(st, "node", "nodes %s and %s share "
                                     "address %s on network %s",
                                     c->nodes[j].name, nd->name,
                                     nd->mig_addrs[w], nw);
            }
        }
    }
    return 0;
}

/* Copies the optional string key into *dst (default dflt). */
static int get_opt_string(cfg_state *st, const char *key, const char *dflt,
                          char **dst)
{
    const char *v;
    int rc = get_string(st, key, false, &v);

    if (rc) return rc;
    if (v && !*v)
        return cfg_error(st, key, "must not be empty");
    free(*dst);
    *dst = strdup(v ? v : dflt);
    return 0;
}

/* The whole file into *text_r (arena, NUL-terminated), *len_r bytes;
 * refused unless it is text. */
static int cfg_read_file(cfg_state *st, char **text_r, size_t *len_r)
{
    libxlmig__gc *gc = st->gc;
    FILE *f = NULL;
    char *text, *nul;
    size_t tlen = 0;
    int line, rc;

    f = fopen(st->file, "r");
    if (!f) {
        if (errno == ENOENT) {
            LOG(ERROR, "%s: cluster config not found (use -c FILE to name "
                "another)", st->file);
            rc = LIBXLMIG_ERROR_NOTFOUND;
        } else {
            LOGE(ERROR, "%s: cannot read the cluster config", st->file);
            rc = LIBXLMIG_ERROR_IO;
        }
        goto out;
    }
    text = libxlmig__zalloc(gc, 1);
    for (;;) {
        char buf[4096];
        size_t got = fread(buf, 1, sizeof(buf), f);

        if (!got) break;
        text = libxlmig__realloc(gc, text, tlen + got + 1);
        memcpy(text + tlen, buf, got);
        tlen += got;
        text[tlen] = 0;
    }
    if (ferror(f)) {
        LOGE(ERROR, "%s: cannot read the cluster config", st->file);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }

    /* libxlutil's lexer asserts on a NUL inside a quoted string: a
     * config file is text, so refuse any NUL before it sees one. */
    if (memchr(text, '\0', tlen)) {
        nul = memchr(text, '\0', tlen);
        for (line = 1; nul > text; nul--)
            if (nul[-1] == '\n') line++;
        LOG(ERROR, "%s:%d: a NUL byte: the cluster config must be text",
            st->file, line);
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    *text_r = text;
    *len_r = tlen;
    rc = 0;
 out:
    if (f) fclose(f);
    return rc;
}

/* text through libxlutil into st->xc (its messages go to st->report),
 * then the scan for the keys' lines. */
static int cfg_parse_text(cfg_state *st, const char *text, size_t tlen)
{
    libxlmig__gc *gc = st->gc;
    char *nl;
    int r;

    st->report = open_memstream(&st->rbuf, &st->rlen);
    if (!st->report)
        libxlmig__alloc_failed(CTX, __func__, 1, 1);
    st->xc = xlu_cfg_init(st->report, st->file);
    if (!st->xc)
        libxlmig__alloc_failed(CTX, __func__, 1, 1);
    r = xlu_cfg_readdata(st->xc, text, tlen);
    fflush(st->report);
    if (r) {
        /* libxlutil's own message has file:line; keep its first line. */
        if (st->rlen) {
            nl = strchr(st->rbuf, '\n');
            if (nl) *nl = 0;
            LOG(ERROR, "%s", st->rbuf);
        } else {
            LOG(ERROR, "%s: syntax error", st->file);
        }
        return LIBXLMIG_ERROR_CONFIG;
    }
    scan_keys(st, text);
    return 0;
}

/*
 * bandwidth_limit = "800", "1Gbit", "100MiB", ... (libxlmig_bandwidth_parse,
 * a bare number being Mbit/s, as a string or a number), or the older
 * bandwidth_limit_mbps = N (Mbit/s); not both.
 */
static int parse_bandwidth(cfg_state *st)
{
    libxlmig__gc *gc = st->gc;
    const char *v = NULL;
    char why[256];
    long lv;
    int r;

    st->c->bandwidth_limit = LIBXLMIG_DEFAULT_BANDWIDTH_LIMIT;
    r = xlu_cfg_get_string(st->xc, "bandwidth_limit", &v, 1);
    if (r == ESRCH) {
        v = NULL;
    } else if (r) {
        /* A bare number without quotes: Mbit/s, as "N" is. */
        r = xlu_cfg_get_long(st->xc, "bandwidth_limit", &lv, 1);
        if (r)
            return cfg_error(st, "bandwidth_limit", "must be a single "
                             "value such as \"800\" (Mbit/s), \"10Gbit\" "
                             "or \"100MiB\"");
        v = GCSPRINTF("%ld", lv);
    }
    if (v && xlu_cfg_get_long(st->xc, "bandwidth_limit_mbps", &lv, 1) !=
             ESRCH)
        return cfg_error(st, "bandwidth_limit_mbps", "give bandwidth_limit "
                         "or its older spelling bandwidth_limit_mbps, not "
                         "both");
    if (v) {
        if (libxlmig_bandwidth_parse(v, &st->c->bandwidth_limit, why,
                                     sizeof(why)))
            return cfg_error(st, "bandwidth_limit", "%s", why);
        return 0;
    }
    r = get_bounded(st, "bandwidth_limit_mbps", 0,
                    (long)(LIBXLMIG_BANDWIDTH_MAX * 8 / 1000000), 0, &lv);
    if (r) return r;
    if (lv) {
        v = GCSPRINTF("%ldMbit", lv);
        if (libxlmig_bandwidth_parse(v, &st->c->bandwidth_limit, why,
                                     sizeof(why)))
            return cfg_error(st, "bandwidth_limit_mbps", "%s", why);
    }
    return 0;
}

/* compression = "auto" (default), "off", "lz4" or "zstd". */
static int parse_compression(cfg_state *st)
{
    const char *v;
    int rc = get_string(st, "compression", false, &v);

    st->c->compression = LIBXLMIG_DEFAULT_COMPRESSION;
    if (rc || !v) return rc;
    if (libxlmig_compression_from_string(v, &st->c->compression))
        return cfg_error(st, "compression", "'%s' is not one of auto, off, "
                         "lz4, zstd", v);
    return 0;
}

/* allow_public and the numbers, each within its range, else default. */
static int parse_numbers(cfg_state *st)
{
    libxlmig_cluster_config *c = st->c;
    long lv;
    int rc;

    rc = get_bounded(st, "allow_public", 0, 1, 0, &lv);
    if (rc) return rc;
    c->allow_public = lv;
    rc = get_bounded(st, "port", LIBXLMIG_PORT_MIN, LIBXLMIG_PORT_MAX,
                     LIBXLMIG_DEFAULT_PORT, &lv);
    if (rc) return rc;
    c->port = lv;
    rc = get_bounded(st, "downtime_limit_ms", LIBXLMIG_DOWNTIME_MS_MIN,
                     LIBXLMIG_DOWNTIME_MS_MAX,
                     LIBXLMIG_DEFAULT_DOWNTIME_MS, &lv);
    if (rc) return rc;
    c->downtime_limit_ms = lv;
    rc = parse_bandwidth(st);
    if (rc) return rc;
    rc = get_bounded(st, "max_outgoing", LIBXLMIG_CONCURRENT_MIN,
                     LIBXLMIG_CONCURRENT_MAX,
                     LIBXLMIG_DEFAULT_MAX_OUTGOING, &lv);
    if (rc) return rc;
    c->max_outgoing = lv;
    rc = get_bounded(st, "max_incoming", LIBXLMIG_CONCURRENT_MIN,
                     LIBXLMIG_CONCURRENT_MAX,
                     LIBXLMIG_DEFAULT_MAX_INCOMING, &lv);
    if (rc) return rc;
    c->max_incoming = lv;
    rc = get_bounded(st, "connections_per_network",
                     LIBXLMIG_CONNECTIONS_MIN, LIBXLMIG_CONNECTIONS_MAX,
                     LIBXLMIG_DEFAULT_CONNECTIONS, &lv);
    if (rc) return rc;
    c->connections_per_network = lv;
    return 0;
}

/* key_file (relative to the config file's directory), cpu_baseline and
 * sim_storage_dir, each else its default. */
static int parse_strings(cfg_state *st)
{
    libxlmig__gc *gc = st->gc;
    libxlmig_cluster_config *c = st->c;
    int rc;

    rc = get_opt_string(st, "key_file", LIBXLMIG__DEFAULT_KEY_FILE,
                        &c->key_file);
    if (rc) return rc;
    if (c->key_file[0] != '/') {
        /* Relative to the directory of the config file. */
        char *dir = GCSTRDUP(st->file);
        char *abs = NULL;

        if (asprintf(&abs, "%s/%s", dirname(dir), c->key_file) < 0)
            libxlmig__alloc_failed(CTX, __func__, 1, PATH_MAX);
        free(c->key_file);
        c->key_file = abs;
    }
    rc = get_opt_string(st, "cpu_baseline", LIBXLMIG_DEFAULT_CPU_BASELINE,
                        &c->cpu_baseline);
    if (rc) return rc;
    rc = parse_compression(st);
    if (rc) return rc;
    return get_opt_string(st, "sim_storage_dir",
                          LIBXLMIG_DEFAULT_SIM_STORAGE_DIR,
                          &c->sim_storage_dir);
}

/* transport = "tls" (the default) or "plain"; plain only if written. */
static int parse_transport(cfg_state *st)
{
    const char *v;
    int rc = get_string(st, "transport", false, &v);

    if (rc) return rc;
    st->c->transport_plain = v && !strcmp(v, "plain");
    if (v && strcmp(v, "tls") && strcmp(v, "plain"))
        return cfg_error(st, "transport", "'%s' is not a transport: "
                         "\"tls\" (TLS 1.3 on the cluster key, the "
                         "default) or \"plain\" (unencrypted)", v);
    return 0;
}

int libxlmig_cluster_config_load(libxlmig_ctx *ctx, const char *path,
                                 libxlmig_cluster_config *c)
{
    GC_INIT(ctx);
    cfg_state st;
    char *text;
    size_t tlen;
    const char *v;
    int rc;

    memset(&st, 0, sizeof(st));
    st.gc = gc;
    st.c = c;
    if (!path)
        path = LIBXLMIG_DEFAULT_CONFIG_FILE;
    st.file = path;
    libxlmig_cluster_config_dispose(c);
    libxlmig_cluster_config_init(c);

    rc = cfg_read_file(&st, &text, &tlen);
    if (rc) goto out;
    rc = cfg_parse_text(&st, text, tlen);
    if (rc) goto out;

    c->file = strdup(path);
    rc = get_string(&st, "cluster", true, &v);
    if (rc) goto out;
    if (!valid_name(v)) {
        rc = cfg_error(&st, "cluster", "'%s' is not a valid cluster name "
                       "(letters, digits, _ . -)", v);
        goto out;
    }
    c->cluster = strdup(v);

    rc = parse_networks(&st);
    if (rc) goto out;
    rc = parse_nodes(&st);
    if (rc) goto out;
    rc = parse_numbers(&st);
    if (rc) goto out;
    rc = parse_strings(&st);
    if (!rc)
        rc = parse_transport(&st);
    if (rc) goto out;

    /* Only a file that is otherwise right gets its warnings. */
    warn_unknown_keys(&st);
    rc = 0;
 out:
    if (rc) {
        libxlmig_cluster_config_dispose(c);
        libxlmig_cluster_config_init(c);
    }
    if (st.xc) xlu_cfg_destroy(st.xc);
    if (st.report) fclose(st.report);
    free(st.rbuf);
    GC_FREE;
    return rc;
}

void libxlmig_cluster_config_init(libxlmig_cluster_config *c)
{
    memset(c, 0, sizeof(*c));
    c->downtime_limit_ms = LIBXLMIG_DEFAULT_DOWNTIME_MS;
    c->compression = LIBXLMIG_DEFAULT_COMPRESSION;
    c->connections_per_network = LIBXLMIG_DEFAULT_CONNECTIONS;
}

void libxlmig_params_resolve(const libxlmig_cluster_config *c,
                             const libxlmig_params *given,
                             libxlmig_params *p_r)
{
    libxlmig_params p;
    unsigned set = given ? given->given : 0;

    if (given)
        p = *given;
    else
        libxlmig_params_init(&p);
    if (!(set & LIBXLMIG_PARAM_DOWNTIME))
        p.downtime_limit_ms = c && c->downtime_limit_ms
                              ? c->downtime_limit_ms
                              : LIBXLMIG_DEFAULT_DOWNTIME_MS;
    if (!(set & LIBXLMIG_PARAM_BANDWIDTH))
        p.bandwidth_limit = c ? c->bandwidth_limit
                              : LIBXLMIG_DEFAULT_BANDWIDTH_LIMIT;
    if (!(set & LIBXLMIG_PARAM_COMPRESSION))
        p.compression = c ? c->compression : LIBXLMIG_DEFAULT_COMPRESSION;
    p.given = LIBXLMIG_PARAM_ALL;
    *p_r = p;
}

void libxlmig_cluster_config_dispose(libxlmig_cluster_config *c)
{
    int i, w;

    for (i = 0; i < c->num_networks; i++) {
        free(c->networks[i].name);
        free(c->networks[i].cidr);
    }
    for (i = 0; i < c->num_nodes; i++) {
        free(c->nodes[i].name);
        free(c->nodes[i].mgmt);
        if (c->nodes[i].mig_addrs)
            for (w = 0; w < c->num_networks; w++)
                free(c->nodes[i].mig_addrs[w]);
        free(c->nodes[i].mig_addrs);
    }
    for (i = 0; i < c->num_warnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    free(c->networks);
    free(c->nodes);
    free(c->file);
    free(c->cluster);
    free(c->key_file);
    free(c->cpu_baseline);
    free(c->sim_storage_dir);
    memset(c, 0, sizeof(*c));
}

int libxlmig_cluster_config_node(const libxlmig_cluster_config *c,
                                 const char *name)
{
    int i;

    for (i = 0; i < c->num_nodes; i++)
        if (c->nodes[i].name && !strcmp(c->nodes[i].name, name))
            return i;
    return -1;
}

int libxlmig_cluster_config_network(const libxlmig_cluster_config *c,
                                    const char *name)
{
    int i;

    for (i = 0; i < c->num_networks; i++)
        if (c->networks[i].name && !strcmp(c->networks[i].name, name))
            return i;
    return -1;
}

int libxlmig_cluster_config_to_json(libxlmig_ctx *ctx,
                                    const libxlmig_cluster_config *c,
                                    char **json_r)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, true);
    yajl_gen_status s;
    int i, w, rc;

#define CK(x) do { s = (x); if (s != yajl_gen_status_ok) goto fail; } while (0)
    CK(yajl_gen_map_open(g));
    CK(libxlmig__yajl_gen_kv_int(g, "version", 1));
    CK(libxlmig__yajl_gen_kv_str(g, "file", c->file));
    CK(libxlmig__yajl_gen_kv_str(g, "cluster", c->cluster));
    CK(libxlmig__yajl_gen_str(g, "networks"));
    CK(yajl_gen_array_open(g));
    for (i = 0; i < c->num_networks; i++) {
        CK(yajl_gen_map_open(g));
        CK(libxlmig__yajl_gen_kv_str(g, "name", c->networks[i].name));
        CK(libxlmig__yajl_gen_kv_str(g, "cidr", c->networks[i].cidr));
        CK(yajl_gen_map_close(g));
    }
    CK(yajl_gen_array_close(g));
    CK(libxlmig__yajl_gen_str(g, "nodes"));
    CK(yajl_gen_array_open(g));
    for (i = 0; i < c->num_nodes; i++) {
        CK(yajl_gen_map_open(g));
        CK(libxlmig__yajl_gen_kv_str(g, "name", c->nodes[i].name));
        CK(libxlmig__yajl_gen_kv_str(g, "mgmt", c->nodes[i].mgmt));
        CK(libxlmig__yajl_gen_str(g, "addresses"));
        CK(yajl_gen_map_open(g));
        for (w = 0; w < c->num_networks; w++)
            CK(libxlmig__yajl_gen_kv_str(g, c->networks[w].name,
                                         c->nodes[i].mig_addrs[w]));
        CK(yajl_gen_map_close(g));
        CK(yajl_gen_map_close(g));
    }
    CK(yajl_gen_array_close(g));
    CK(libxlmig__yajl_gen_kv_bool(g, "allow_public", c->allow_public));
    CK(libxlmig__yajl_gen_kv_str(g, "key_file", c->key_file));
    CK(libxlmig__yajl_gen_kv_uint(g, "port", c->port));
    CK(libxlmig__yajl_gen_kv_str(g, "transport",
                                 c->transport_plain ? "plain" : "tls"));
    CK(libxlmig__yajl_gen_kv_uint(g, "downtime_limit_ms",
                                  c->downtime_limit_ms));
    CK(libxlmig__yajl_gen_kv_uint(g, "bandwidth_limit",
                                  c->bandwidth_limit));
    CK(libxlmig__yajl_gen_kv_str(g, "compression",
                                 libxlmig_compression_to_string(
                                     c->compression)));
    CK(libxlmig__yajl_gen_kv_uint(g, "max_outgoing", c->max_outgoing));
    CK(libxlmig__yajl_gen_kv_uint(g, "max_incoming", c->max_incoming));
    CK(libxlmig__yajl_gen_kv_uint(g, "connections_per_network",
                                  c->connections_per_network));
    CK(libxlmig__yajl_gen_kv_str(g, "cpu_baseline", c->cpu_baseline));
    CK(libxlmig__yajl_gen_kv_str(g, "sim_storage_dir", c->sim_storage_dir));
    CK(yajl_gen_map_close(g));
#undef CK
    rc = libxlmig__json_finish(gc, g, json_r);
    goto out;
 fail:
    LOG(ERROR, "cannot encode the cluster config as JSON");
    rc = LIBXLMIG_ERROR_JSON;
 out:
    GC_FREE;
    return rc;
}
