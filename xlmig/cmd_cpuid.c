/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig cpuid`: CPUID policies for migration.  show prints a policy (this
 * host's, a domain's, a file's); baselines lists the named baselines;
 * check says whether a domain fits a target host (exit 0 yes, 1 no, 2 bad
 * input); level intersects host policies, names the highest baseline they
 * all satisfy and prints the xl.cfg cpuid= line; set-compat writes that
 * line for a baseline into a shut-down domain's xl.cfg.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "xlmig.h"

#define CPUID_MAX_POLICIES 64

/* One parsed command line of a cpuid subcommand. */
struct cpuid_args {
    const char *sub;
    const char *policy;       /* --policy FILE */
    const char *host_policy;  /* --host-policy FILE */
    const char *baseline;     /* --baseline NAME */
    const char *cfg;          /* -x FILE */
    bool host;                /* --host */
    int nr_pos;
    char *pos[CPUID_MAX_POLICIES];
};

static bool backend_opened;

static int open_backend_once(void)
{
    int ret;

    if (backend_opened)
        return 0;
    ret = cmd_open_backend();
    if (!ret)
        backend_opened = true;
    return ret;
}

/*
 * Parse argv[1..] of `cpuid SUB ...`: options may come anywhere.  Returns
 * 0, or 'h' after printing help, or '?' after a usage error.
 */
static int parse_args(int argc, char **argv, const char *allowed,
                      struct cpuid_args *a)
{
    static const struct {
        const char *name;
        char key;
        bool has_value;
    } opts[] = {
        { "--policy", 'p', true },
        { "--host-policy", 'P', true },
        { "--baseline", 'b', true },
        { "--host", 'H', false },
        { "--json", 'j', false },
        { "-x", 'f', true },
        { "--xlcfg", 'f', true },
        { "-f", 'f', true },      /* deprecated (NEWS): keygen's force */
        { "-h", 'h', false },
        { "--help", 'h', false },
    };
    int i;
    size_t o;

    for (i = 2; i < argc; i++) {
        const char *arg = argv[i], *val = NULL, *eq;
        size_t nlen;

        if (arg[0] != '-' || !arg[1]) {
            if (a->nr_pos == CPUID_MAX_POLICIES) {
                cmd_usage_error("cpuid", "too many arguments");
                return '?';
            }
            a->pos[a->nr_pos++] = argv[i];
            continue;
        }
        eq = strchr(arg, '=');
        nlen = eq && arg[1] == '-' ? (size_t)(eq - arg) : strlen(arg);
        for (o = 0; o < ARRAY_SIZE(opts); o++)
            if (strlen(opts[o].name) == nlen &&
                !strncmp(arg, opts[o].name, nlen))
                break;
        if (o == ARRAY_SIZE(opts) ||
            (opts[o].key != 'h' && opts[o].key != 'j' &&
             !strchr(allowed, opts[o].key))) {
            cmd_usage_error("cpuid", "%s: unknown option '%s'", a->sub,
                            arg);
            return '?';
        }
        if (opts[o].has_value) {
            if (eq && arg[1] == '-') {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                cmd_usage_error("cpuid", "option '%s' needs a value", arg);
                return '?';
            }
        } else if (eq && arg[1] == '-') {
            cmd_usage_error("cpuid", "option '%.*s' takes no value",
                            (int)nlen, arg);
            return '?';
        }
        switch (opts[o].key) {
        case 'p': a->policy = val; break;
        case 'P': a->host_policy = val; break;
        case 'b': a->baseline = val; break;
        case 'f': a->cfg = val; break;
        case 'H': a->host = true; break;
        case 'j': g.json = true; break;
        case 'h':
            cmd_usage(stdout, "cpuid", true);
            return 'h';
        }
    }
    return 0;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int host_policy(struct policy_cpuid *p)
{
    int ret = open_backend_once(), rc;

    if (ret) return ret;
    rc = libxlmig_host_cpu_policy(g.ctx, p);
    return rc ? cmd_fail(rc, NULL) : 0;
}

/*
 * A policy named on the command line: "host", an existing file (JSON),
 * or a baseline name.  Failures are reported; returns an exit code.
 */
static int load_policy_spec(const char *spec, struct policy_cpuid *p)
{
    int rc;

    if (!strcmp(spec, "host") || !strcmp(spec, "localhost"))
        return host_policy(p);
    if (strchr(spec, '/') || file_exists(spec)) {
        rc = libxlmig_cpu_policy_load(g.ctx, spec, p);
        return rc ? cmd_fail(rc, NULL) : 0;
    }
    rc = libxlmig_baseline_load(g.ctx, spec, p);
    if (rc)
        return cmd_fail(rc, "%s: no such policy file or baseline", spec);
    return 0;
}

/*
 * A domain's policy: from the backend while it runs, else from its
 * xl.cfg (cfg, or /etc/xen/NAME.cfg) applied to this host's policy.
 */
static int domain_policy(const char *name, const char *cfg,
                         struct policy_cpuid *p)
{
    struct policy_cpuid host;
    const char *path;
    char defpath[4096];
    bool running = false;
    uint32_t domid;
    int ret, rc;

    ret = open_backend_once();
    if (ret) return ret;
    if (!cfg) {
        rc = libxlmig_domain_lookup(g.ctx, name, &running, &domid);
        if (rc && rc != LIBXLMIG_ERROR_UNSUPPORTED)
            return cmd_fail(rc, NULL);
        if (running) {
            rc = libxlmig_domain_cpu_policy(g.ctx, domid, p);
            if (rc) return cmd_fail(rc, NULL);
            snprintf(p->name, sizeof(p->name), "%s", name);
            return 0;
        }
    }
    snprintf(defpath, sizeof(defpath), "/etc/xen/%s.cfg", name);
    path = cfg ? cfg : defpath;
    if (!file_exists(path))
        return cmd_fail(LIBXLMIG_ERROR_NOTFOUND, "domain %s: not running "
                        "here and no config %s (name one with -x FILE)",
                        name, path);
    ret = host_policy(&host);
    if (ret) return ret;
    rc = libxlmig_cpu_policy_from_xlcfg(g.ctx, path, &host, p);
    if (rc) return cmd_fail(rc, NULL);
    snprintf(p->name, sizeof(p->name), "%s", name);
    return 0;
}

static yajl_gen json_gen(void)
{
    yajl_gen jg = yajl_gen_alloc(NULL);

    if (!jg) {
        fprintf(stderr, "%s: out of memory\n", g.progname);
        exit(EXIT_FAILED);
    }
    yajl_gen_config(jg, yajl_gen_beautify, 1);
    yajl_gen_config(jg, yajl_gen_indent_string, "    ");
    return jg;
}

/* Print and free jg; ok says whether generation succeeded. */
static int json_print(yajl_gen jg, bool ok)
{
    const unsigned char *buf;
    size_t len;

    if (!ok || yajl_gen_get_buf(jg, &buf, &len) != yajl_gen_status_ok) {
        yajl_gen_free(jg);
        return cmd_fail(LIBXLMIG_ERROR_JSON, "cannot encode JSON output");
    }
    printf("%.*s\n", (int)len, (const char *)buf);
    yajl_gen_free(jg);
    return EXIT_OK;
}

#define JS(x) (ok = ok && (x) == yajl_gen_status_ok)

static yajl_gen_status js_str(yajl_gen jg, const char *s)
{
    if (!s)
        return yajl_gen_null(jg);
    return yajl_gen_string(jg, (const unsigned char *)s, strlen(s));
}

static int print_policy(const struct policy_cpuid *p)
{
    char *text;

    if (g.json) {
        yajl_gen jg = json_gen();

        return json_print(jg, libxlmig_cpu_policy_gen_json(jg, p) ==
                              yajl_gen_status_ok);
    }
    text = libxlmig_cpu_policy_to_text(p);
    if (!text)
        return cmd_fail(LIBXLMIG_ERROR_NOMEM, NULL);
    fputs(text, stdout);
    free(text);
    return EXIT_OK;
}

static int cpuid_show(struct cpuid_args *a)
{
    struct policy_cpuid p;
    int given = a->host + !!a->policy + (a->nr_pos > 0), ret;

    if (given != 1 || a->nr_pos > 1)
        return cmd_usage_error("cpuid", "show: give one of --host, "
                               "--policy FILE or DOMAIN");
    if (a->host)
        ret = host_policy(&p);
    else if (a->policy)
        ret = load_policy_spec(a->policy, &p);
    else
        ret = domain_policy(a->pos[0], a->cfg, &p);
    return ret ? ret : print_policy(&p);
}

static int cpuid_baselines(struct cpuid_args *a)
{
    struct policy_cpuid *list = NULL;
    size_t nr = 0, i;
    char *dir = NULL;
    int rc, ret;

    if (a->nr_pos)
        return cmd_usage_error("cpuid", "baselines: too many arguments");
    rc = libxlmig_baseline_dir(g.ctx, &dir);
    if (!rc)
        rc = libxlmig_baseline_list(g.ctx, &list, &nr);
    if (rc) {
        free(dir);
        return cmd_fail(rc, NULL);
    }
    if (g.json) {
        yajl_gen jg = json_gen();
        bool ok = true;

        JS(yajl_gen_map_open(jg));
        JS(js_str(jg, "version"));
        JS(yajl_gen_integer(jg, 1));
        JS(js_str(jg, "directory"));
        JS(js_str(jg, dir));
        JS(js_str(jg, "baselines"));
        JS(yajl_gen_array_open(jg));
        for (i = 0; i < nr; i++)
            JS(libxlmig_cpu_policy_gen_json(jg, &list[i]));
        JS(yajl_gen_array_close(jg));
        JS(yajl_gen_map_close(jg));
        ret = json_print(jg, ok);
    } else {
        printf("%-20s %-6s %-8s %s\n", "NAME", "VENDOR", "FEATURES",
               "SOURCE");
        for (i = 0; i < nr; i++)
            printf("%-20s %-6s %8u %s\n", list[i].name,
                   libxlmig_cpu_vendor_to_string(list[i].vendor),
                   libxlmig_cpu_policy_count(&list[i]), list[i].source);
        printf("(%zu baselines in %s)\n", nr, dir);
        ret = EXIT_OK;
    }
    free(list);
    free(dir);
    return ret;
}

static int cpuid_check(struct cpuid_args *a)
{
    struct policy_cpuid dom, host;
    struct policy_check res;
    const char *target = NULL;
    char *text;
    int pos = 0, ret;

    if (!a->policy) {
        if (pos >= a->nr_pos)
            return cmd_usage_error("cpuid", "check: give DOMAIN or "
                                   "--policy FILE");
        ret = domain_policy(a->pos[pos++], a->cfg, &dom);
    } else {
        ret = load_policy_spec(a->policy, &dom);
    }
    if (ret) return EXIT_USAGE;

    if (a->host_policy) {
        ret = load_policy_spec(a->host_policy, &host);
    } else {
        if (pos >= a->nr_pos)
            return cmd_usage_error("cpuid", "check: give TARGET or "
                                   "--host-policy FILE");
        target = a->pos[pos++];
        {
            char self[256] = "";

            gethostname(self, sizeof(self) - 1);
            if (!strcmp(target, self))
                target = "host";
        }
        if (strcmp(target, "host") && strcmp(target, "localhost") &&
            !strchr(target, '/') && !file_exists(target)) {
            struct policy_cpuid probe;

            if (libxlmig_baseline_load(g.ctx, target, &probe)) {
                cmd_fail(LIBXLMIG_ERROR_UNSUPPORTED, "%s: not a policy "
                         "file or baseline, and fetching a remote node's "
                         "policy is not supported yet: run `xlmig cpuid "
                         "show --host --json` there and pass the file "
                         "with --host-policy", target);
                return EXIT_USAGE;
            }
        }
        ret = load_policy_spec(target, &host);
    }
    if (ret) return EXIT_USAGE;
    if (pos < a->nr_pos)
        return cmd_usage_error("cpuid", "check: too many arguments");

    libxlmig_cpu_check(g.ctx, &dom, &host, &res);
    if (g.json) {
        yajl_gen jg = json_gen();
        bool ok = true;

        JS(yajl_gen_map_open(jg));
        JS(js_str(jg, "version"));
        JS(yajl_gen_integer(jg, 1));
        JS(js_str(jg, "domain"));
        JS(js_str(jg, dom.name));
        JS(js_str(jg, "host"));
        JS(js_str(jg, host.name));
        JS(js_str(jg, "result"));
        JS(libxlmig_cpu_check_gen_json(jg, &res));
        JS(yajl_gen_map_close(jg));
        ret = json_print(jg, ok);
        if (ret) return ret;
    } else {
        text = libxlmig_cpu_check_summary(&res);
        printf("%s on %s: %s\n", *dom.name ? dom.name : "domain",
               *host.name ? host.name : "host", text ? text : "?");
        free(text);
    }
    return res.compatible ? EXIT_OK : EXIT_FAILED;
}

/* What `cpuid level` finds, for its printers. */
struct level {
    struct policy_cpuid *nodes;         /* nr_nodes host policies */
    size_t nr_nodes;
    struct policy_cpuid inter;          /* their intersection */
    struct policy_cpuid *bl;            /* the named baselines */
    size_t nr_bl;
    bool *sat;                          /* bl[i] fits every node */
    const struct policy_cpuid *best;    /* highest in sat, or NULL */
    struct policy_cpuid target;         /* inter, or --baseline */
    bool all_fit;                       /* every node can run target */
    char *line;                         /* cpuid= for target */
    char *best_line;                    /* cpuid= for best */
    char *names;                        /* the features of inter */
};

/* The nodes' policies (this host's if none is named) and their
 * intersection; returns an exit code. */
static int level_load_nodes(struct cpuid_args *a, struct level *lv)
{
    size_t n;
    int ret;

    for (n = 0; n < lv->nr_nodes; n++) {
        ret = a->nr_pos ? load_policy_spec(a->pos[n], &lv->nodes[n])
                        : host_policy(&lv->nodes[n]);
        if (ret)
            return EXIT_USAGE;
        if (!*lv->nodes[n].name || !strcmp(lv->nodes[n].name, "host"))
            snprintf(lv->nodes[n].name, sizeof(lv->nodes[n].name), "%s",
                     a->nr_pos ? a->pos[n] : "host");
    }
    lv->inter = lv->nodes[0];
    for (n = 1; n < lv->nr_nodes; n++)
        libxlmig_cpu_policy_intersect(&lv->inter, &lv->nodes[n]);
    snprintf(lv->inter.name, sizeof(lv->inter.name), "cluster");
    snprintf(lv->inter.source, sizeof(lv->inter.source),
             "intersection of %zu host polic%s", lv->nr_nodes,
             lv->nr_nodes == 1 ? "y" : "ies");
    return 0;
}

/* The named baselines every node satisfies, and the highest of them. */
static int level_baselines(struct level *lv)
{
    int b, rc;

    rc = libxlmig_baseline_list(g.ctx, &lv->bl, &lv->nr_bl);
    if (rc)
        return cmd_fail(rc, NULL);
    free(lv->sat);
    lv->sat = calloc(lv->nr_bl ? lv->nr_bl : 1, sizeof(*lv->sat));
    if (!lv->sat)
        return cmd_fail(LIBXLMIG_ERROR_NOMEM, NULL);
    b = libxlmig_baseline_highest(lv->bl, lv->nr_bl, lv->nodes, lv->nr_nodes,
                                lv->sat);
    lv->best = b >= 0 ? &lv->bl[b] : NULL;
    return 0;
}

/* The target: the intersection, or the --baseline named, which every
 * node is checked against (each that cannot run it is said). */
static int level_target(struct cpuid_args *a, struct level *lv)
{
    struct policy_check res;
    size_t i, n;

    lv->target = lv->inter;
    if (!a->baseline)
        return 0;
    for (i = 0; i < lv->nr_bl; i++)
        if (!strcasecmp(lv->bl[i].name, a->baseline))
            break;
    if (i == lv->nr_bl) {
        cmd_fail(LIBXLMIG_ERROR_NOTFOUND, "unknown baseline '%s' (see "
                 "`xlmig cpuid baselines`)", a->baseline);
        return EXIT_USAGE;
    }
    lv->target = lv->bl[i];
    for (n = 0; n < lv->nr_nodes; n++) {
        if (!libxlmig_cpu_policy_fits(&lv->target, &lv->nodes[n], &res)) {
            char *why = libxlmig_cpu_check_summary(&res);

            fprintf(stderr, "%s: node %s cannot run baseline %s: %s\n",
                    g.progname, lv->nodes[n].name, lv->target.name,
                    why ? why : "not compatible");
            free(why);
            lv->all_fit = false;
        }
    }
    return 0;
}

static int level_print_json(const struct level *lv)
{
    yajl_gen jg = json_gen();
    bool ok = true;
    size_t i, n;

    JS(yajl_gen_map_open(jg));
    JS(js_str(jg, "version"));
    JS(yajl_gen_integer(jg, 1));
    JS(js_str(jg, "nodes"));
    JS(yajl_gen_array_open(jg));
    for (n = 0; n < lv->nr_nodes; n++)
        JS(js_str(jg, lv->nodes[n].name));
    JS(yajl_gen_array_close(jg));
    JS(js_str(jg, "intersection"));
    JS(libxlmig_cpu_policy_gen_json(jg, &lv->inter));
    JS(js_str(jg, "satisfied_baselines"));
    JS(yajl_gen_array_open(jg));
    for (i = 0; i < lv->nr_bl; i++)
        if (lv->sat[i])
            JS(js_str(jg, lv->bl[i].name));
    JS(yajl_gen_array_close(jg));
    JS(js_str(jg, "highest_baseline"));
    JS(js_str(jg, lv->best ? lv->best->name : NULL));
    JS(js_str(jg, "target"));
    JS(js_str(jg, lv->target.name));
    JS(js_str(jg, "target_fits_all"));
    JS(yajl_gen_bool(jg, lv->all_fit));
    JS(js_str(jg, "cpuid"));
    JS(js_str(jg, lv->line));
    JS(js_str(jg, "highest_baseline_cpuid"));
    JS(js_str(jg, lv->best_line));
    JS(yajl_gen_map_close(jg));
    return json_print(jg, ok);
}

static void level_print_text(const struct cpuid_args *a,
                             const struct level *lv)
{
    const struct policy_cpuid *inter = &lv->inter;
    size_t i, n;

    printf("nodes            :");
    for (n = 0; n < lv->nr_nodes; n++)
        printf(" %s", lv->nodes[n].name);
    printf("\n");
    printf("vendor           : %s%s\n",
           libxlmig_cpu_vendor_to_string(inter->vendor),
           inter->vendor == POLICY_VENDOR_UNKNOWN
           ? " (nodes mix vendors: domains cannot move between them)"
           : "");
    printf("common leaves    : 0x%x, extended 0x%x\n", inter->max_leaf,
           inter->max_ext_leaf);
    printf("common features  : %u: %s\n", libxlmig_cpu_policy_count(inter), lv->names);
    printf("satisfied        :");
    for (i = 0; i < lv->nr_bl; i++)
        if (lv->sat[i])
            printf(" %s", lv->bl[i].name);
    printf("\n");
    printf("highest baseline : %s\n", lv->best ? lv->best->name
           : "(none: no named baseline fits every node)");
    if (lv->best && !a->baseline)
        printf("  cpuid = \"%s\"\n", lv->best_line);
    printf("masked to %s%s:\n  cpuid = \"%s\"\n", lv->target.name,
           a->baseline ? "" : " (the intersection)", lv->line);
}

static int cpuid_level(struct cpuid_args *a)
{
    struct level lv;
    int ret;

    memset(&lv, 0, sizeof(lv));
    lv.all_fit = true;
    lv.nr_nodes = a->nr_pos ? (size_t)a->nr_pos : 1;
    lv.nodes = calloc(lv.nr_nodes, sizeof(*lv.nodes));
    lv.sat = calloc(1, sizeof(*lv.sat));
    if (!lv.nodes || !lv.sat) {
        ret = cmd_fail(LIBXLMIG_ERROR_NOMEM, NULL);
        goto out;
    }
    ret = level_load_nodes(a, &lv);
    if (ret) goto out;
    ret = level_baselines(&lv);
    if (ret) goto out;
    ret = level_target(a, &lv);
    if (ret) goto out;
    lv.line = libxlmig_cpu_policy_xlcfg_mask(&lv.target, lv.nodes, lv.nr_nodes);
    if (lv.best)
        lv.best_line = libxlmig_cpu_policy_xlcfg_mask(lv.best, lv.nodes, lv.nr_nodes);
    lv.names = libxlmig_cpu_policy_features(&lv.inter);
    if (!lv.line || (lv.best && !lv.best_line) || !lv.names) {
        ret = cmd_fail(LIBXLMIG_ERROR_NOMEM, NULL);
        goto out;
    }
    if (g.json) {
        ret = level_print_json(&lv);
        if (ret) goto out;
    } else {
        level_print_text(a, &lv);
    }
    ret = lv.all_fit ? EXIT_OK : EXIT_FAILED;
 out:
    free(lv.nodes);
    free(lv.bl);
    free(lv.sat);
    free(lv.line);
    free(lv.best_line);
    free(lv.names);
    return ret;
}

static int cpuid_set_compat(struct cpuid_args *a)
{
    char defpath[4096], *value = NULL;
    const char *path;
    int rc, ret;

    if (a->nr_pos != 2)
        return cmd_usage_error("cpuid", "set-compat: give DOMAIN and "
                               "BASELINE");
    snprintf(defpath, sizeof(defpath), "/etc/xen/%s.cfg", a->pos[0]);
    path = a->cfg ? a->cfg : defpath;
    ret = open_backend_once();
    if (ret) return ret;
    {
        bool running;
        int lrc = libxlmig_domain_lookup(g.ctx, a->pos[0], &running, NULL);

        if (lrc == LIBXLMIG_ERROR_UNSUPPORTED || lrc == LIBXLMIG_ERROR_BACKEND)
            fprintf(stderr, "%s: warning: cannot tell whether %s runs on "
                    "the %s backend; make sure it is shut down\n",
                    g.progname, a->pos[0],
                    libxlmig_backend_kind_to_string(g.backend));
    }
    rc = libxlmig_cpu_set_compat(g.ctx, a->pos[0], a->pos[1], path, &value);
    if (rc)
        return cmd_fail(rc, NULL);
    if (g.json) {
        yajl_gen jg = json_gen();
        bool ok = true;

        JS(yajl_gen_map_open(jg));
        JS(js_str(jg, "version"));
        JS(yajl_gen_integer(jg, 1));
        JS(js_str(jg, "domain"));
        JS(js_str(jg, a->pos[0]));
        JS(js_str(jg, "baseline"));
        JS(js_str(jg, a->pos[1]));
        JS(js_str(jg, "config"));
        JS(js_str(jg, path));
        JS(js_str(jg, "cpuid"));
        JS(js_str(jg, value));
        JS(yajl_gen_map_close(jg));
        ret = json_print(jg, ok);
    } else {
        printf("%s: cpuid = \"%s\"\n", path, value);
        ret = EXIT_OK;
    }
    free(value);
    return ret;
}

int main_cpuid(int argc, char **argv)
{
    static const struct {
        const char *name;
        const char *options;
        int (*fn)(struct cpuid_args *a);
    } subs[] = {
        { "show", "Hpf", cpuid_show },
        { "baselines", "", cpuid_baselines },
        { "check", "pPf", cpuid_check },
        { "level", "b", cpuid_level },
        { "set-compat", "f", cpuid_set_compat },
    };
    struct cpuid_args a;
    size_t i;
    int r;

    memset(&a, 0, sizeof(a));
    if (argc < 2)
        return cmd_usage_error("cpuid", "missing subcommand");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        cmd_usage(stdout, "cpuid", true);
        return EXIT_OK;
    }
    for (i = 0; i < ARRAY_SIZE(subs); i++)
        if (!strcmp(argv[1], subs[i].name))
            break;
    if (i == ARRAY_SIZE(subs))
        return cmd_usage_error("cpuid", "unknown subcommand '%s'", argv[1]);
    a.sub = subs[i].name;
    r = parse_args(argc, argv, subs[i].options, &a);
    if (r == 'h')
        return EXIT_OK;
    if (r)
        return EXIT_USAGE;
    return subs[i].fn(&a);
}
