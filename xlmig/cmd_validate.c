/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig validate`: check the whole cluster the way a failover-cluster
 * validation wizard does.  Every node's xlmigd must answer and prove the
 * cluster key on every migration network; run the same config file and
 * xlmig version; have CPUs of one vendor that meet the cluster baseline;
 * see every migration network as private (no gateway) unless public ones
 * are allowed; keep its clock within a bound of ours; see the shared
 * storage; and have, for every domain of every other node, each of its
 * disks (the same storage, by identifier) and its vifs' bridges.  A
 * table, or JSON; exit 1 when anything fails.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opsutil.h"

#define VALIDATE_CLOCK_SKEW_MS 2000   /* default bound (ms) */

enum verdict { V_OK, V_WARN, V_FAIL };
static const char *const verdict_str[] = { "ok", "warn", "FAIL" };

struct row {
    const char *check;
    char node[96];
    enum verdict v;
    char detail[600];
};

static struct row *rows;
static int nr_rows;

static void add(const char *check, const char *node, enum verdict v,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add(const char *check, const char *node, enum verdict v,
                const char *fmt, ...)
{
    struct row *r;
    va_list ap;

    rows = realloc(rows, sizeof(*rows) * (size_t)(nr_rows + 1));
    if (!rows) {
        fprintf(stderr, "%s: out of memory\n", g.progname);
        exit(EXIT_FAILED);
    }
    r = &rows[nr_rows++];
    r->check = check;
    snprintf(r->node, sizeof(r->node), "%s", node);
    r->v = v;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void jstr_out(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static void check_node(libxlmig_cluster *cl, int i, struct ops_node *keep,
                       unsigned long long skew_ms)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    const char *name = c->nodes[i].name;
    struct ops_node n;
    long long before, after, skew;
    char where[96];
    yajl_val nets, e;
    size_t k;
    int w;

    memset(keep, 0, sizeof(*keep));
    keep->name = name;
    for (w = 0; w < c->num_networks; w++) {
        snprintf(where, sizeof(where), "%s/%s", name, c->networks[w].name);
        before = wall_ms();
        if (ops_node_query(cl, name, w, &n)) {
            add("reach", where, V_FAIL, "%s", n.error);
            ops_node_dispose(&n);
            continue;
        }
        after = wall_ms();
        add("reach", where, V_OK, "daemon answered and proved the "
            "cluster key");
        if (!keep->reachable) {
            *keep = n;
            skew = (long long)ops_ju64(n.info, "time_ms") -
                   (before + after) / 2;
            if (skew < 0) skew = -skew;
            add("clock", name, (unsigned long long)skew > skew_ms ? V_FAIL
                : V_OK, "%lld ms from this node's clock (bound %llu ms)",
                skew, skew_ms);
        } else {
            ops_node_dispose(&n);
        }
    }
    if (!keep->reachable) {
        add("daemon", name, V_FAIL, "no migration network reaches an "
            "authenticated xlmigd");
        return;
    }
    nets = ops_jget(keep->info, "networks", yajl_t_array);
    for (k = 0; nets && k < nets->u.array.len; k++) {
        const char *cls, *nn;

        e = nets->u.array.values[k];
        cls = ops_jstr(e, "class");
        nn = ops_jstr(e, "name");
        snprintf(where, sizeof(where), "%s/%s", name, nn ? nn : "?");
        if (!ops_jbool(e, "present"))
            add("network", where, V_FAIL, "no local address on it");
        else if (cls && !strcmp(cls, "private"))
            add("network", where, V_OK, "private (no gateway)%s",
                ops_jbool(e, "link_up") ? "" : ", link down");
        else
            add("network", where, c->allow_public && ops_jbool(e, "allowed")
                ? V_WARN : V_FAIL, "%s: gateway %s%s%s", cls ? cls : "?",
                ops_jstr(e, "gateway") ? ops_jstr(e, "gateway") : "?",
                *(ops_jstr(e, "reason") ?: "") ? "; " : "",
                ops_jstr(e, "reason") ?: "");
    }
    if (!nets)
        add("network", name, V_FAIL, "the daemon reports no networks "
            "(older xlmig?)");
    if (ops_jget(keep->info, "storage_ok", yajl_t_any))
        add("storage", name, ops_jbool(keep->info, "storage_ok") ? V_OK
            : V_FAIL, "%s %s", c->sim_storage_dir,
            ops_jbool(keep->info, "storage_ok") ? "present" : "missing");
    if (keep->maintenance)
        add("maintenance", name, V_WARN, "in maintenance mode: takes no "
            "migrations");
}

/* libxlmig_needs_cb: one row per failure, one per domain and target
 * whose disks and bridges are all there. */
struct needs_rows {
    char last[200];               /* domain@source->target seen last */
    bool last_ok;
    int disks, bridges;
};

/* The row of the domain and target seen last, when all passed. */
static void needs_flush(struct needs_rows *nr)
{
    if (nr->last[0] && nr->last_ok && nr->disks + nr->bridges)
        add("storage", nr->last, V_OK, "%d disk(s) the same storage there, "
            "%d bridge(s) there", nr->disks, nr->bridges);
}

static void needs_row(void *user, const char *domain, const char *source,
                      const char *target, const char *check, bool ok,
                      const char *detail)
{
    struct needs_rows *nr = user;
    char where[200];

    snprintf(where, sizeof(where), "%s@%s->%s", domain, source, target);
    if (strcmp(where, nr->last)) {
        needs_flush(nr);
        snprintf(nr->last, sizeof(nr->last), "%s", where);
        nr->last_ok = true;
        nr->disks = nr->bridges = 0;
    }
    if (!strcmp(check, "disk")) nr->disks++;
    if (!strcmp(check, "bridge")) nr->bridges++;
    if (!ok) {
        nr->last_ok = false;
        add(!strcmp(check, "bridge") ? "bridge" : "storage", where, V_FAIL,
            "%s", detail);
    }
}

/* Every domain's disks and bridges on every other node. */
static void check_domain_needs(libxlmig_cluster *cl)
{
    struct needs_rows nr;
    int rc;

    memset(&nr, 0, sizeof(nr));
    rc = libxlmig_validate_needs(g.ctx, cl, needs_row, &nr);
    needs_flush(&nr);
    if (rc < 0)
        add("storage", "cluster", V_FAIL, "%s", libxlmig_last_error(g.ctx));
}

/* The same config and version everywhere: this node is the model. */
static void check_config_version(libxlmig_cluster *cl,
                                 const struct ops_node *nodes)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    const char *ref_hash = NULL, *ref_node = NULL, *h, *ver;
    int i;

    for (i = -1; i < c->num_nodes; i++) {
        int k = i < 0 ? libxlmig_cluster_self(cl) : i;

        if (i == libxlmig_cluster_self(cl) || !nodes[k].reachable)
            continue;
        h = ops_jstr(nodes[k].info, "config_sha256");
        ver = ops_jstr(nodes[k].info, "xlmig");
        if (!ref_hash && h) {
            ref_hash = h;
            ref_node = nodes[k].name;
        }
        add("config", nodes[k].name, h && ref_hash && !strcmp(h, ref_hash)
            ? V_OK : V_FAIL, "sha256 %.16s...%s%s", h ? h : "?",
            h && ref_hash && strcmp(h, ref_hash) ? " differs from " : "",
            h && ref_hash && strcmp(h, ref_hash) ? ref_node : "");
        add("version", nodes[k].name, ver && !strcmp(ver, LIBXLMIG_VERSION)
            ? V_OK : V_FAIL, "xlmig %s%s", ver ? ver : "?",
            ver && !strcmp(ver, LIBXLMIG_VERSION) ? ""
            : " (this node runs " LIBXLMIG_VERSION ")");
    }
}

/* CPUs of one vendor: the first node's. */
static void check_cpu_vendor(const libxlmig_cluster_config *c,
                             const struct ops_node *nodes)
{
    const char *vendor = NULL, *vendor_node = NULL, *v;
    int i;

    for (i = 0; i < c->num_nodes; i++) {
        if (!nodes[i].reachable)
            continue;
        if (!nodes[i].cpu_ok) {
            add("cpu", nodes[i].name, V_FAIL, "no readable CPU policy");
            continue;
        }
        v = libxlmig_cpu_vendor_to_string(nodes[i].cpu.vendor);
        if (!vendor) {
            vendor = v;
            vendor_node = nodes[i].name;
        }
        add("cpu-vendor", nodes[i].name, strcmp(v, vendor) ? V_FAIL : V_OK,
            "%s%s%s", v, strcmp(v, vendor) ? "; differs from " : "",
            strcmp(v, vendor) ? vendor_node : "");
    }
}

/* Every node meets the cluster's CPU baseline; with baseline "host",
 * which moves the CPUs forbid. */
static void check_cpu_baseline(const libxlmig_cluster_config *c,
                               const struct ops_node *nodes)
{
    struct policy_cpuid base;
    struct policy_check chk;
    char why[512];
    int i, j;

    if (c->cpu_baseline && strcmp(c->cpu_baseline, "host") &&
        !libxlmig_baseline_load(g.ctx, c->cpu_baseline, &base)) {
        for (i = 0; i < c->num_nodes; i++) {
            char *sum;
            bool ok;

            if (!nodes[i].reachable || !nodes[i].cpu_ok)
                continue;
            ok = libxlmig_cpu_policy_fits(&base, &nodes[i].cpu, &chk);
            sum = ok ? NULL : libxlmig_cpu_check_summary(&chk);
            add("cpu-baseline", nodes[i].name, ok ? V_OK : V_FAIL,
                "%s: %s", c->cpu_baseline, ok ? "meets it"
                : sum ? sum : "does not meet it");
            free(sum);
        }
    } else {
        /* Baseline "host": say which moves the CPUs forbid. */
        for (i = 0; i < c->num_nodes; i++)
            for (j = 0; j < c->num_nodes; j++) {
                char pair[96];

                if (i == j || !nodes[i].reachable || !nodes[j].reachable)
                    continue;
                if (ops_cpu_compatible(&nodes[i], &nodes[j], why,
                                       sizeof(why)))
                    continue;
                snprintf(pair, sizeof(pair), "%s->%s", nodes[i].name,
                         nodes[j].name);
                add("cpu-baseline", pair, V_WARN, "domains cannot move: "
                    "%s (level the cluster: xlmig cpuid level)", why);
            }
    }
}

/* Every row, as a table or JSON; returns how many failed. */
static int print_rows(const libxlmig_cluster_config *c)
{
    int i, fails = 0;

    for (i = 0; i < nr_rows; i++)
        fails += rows[i].v == V_FAIL;
    if (g.json) {
        printf("{\"version\":1,\"cluster\":");
        jstr_out(c->cluster);
        printf(",\"ok\":%s,\"checks\":[", fails ? "false" : "true");
        for (i = 0; i < nr_rows; i++) {
            printf("%s{\"check\":\"%s\",\"node\":", i ? "," : "",
                   rows[i].check);
            jstr_out(rows[i].node);
            printf(",\"result\":\"%s\",\"detail\":",
                   verdict_str[rows[i].v]);
            jstr_out(rows[i].detail);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%-12s %-16s %-4s %s\n", "CHECK", "NODE", "", "DETAIL");
        for (i = 0; i < nr_rows; i++)
            printf("%-12s %-16s %-4s %s\n", rows[i].check, rows[i].node,
                   verdict_str[rows[i].v], rows[i].detail);
        printf("%d check(s), %d failed\n", nr_rows, fails);
    }
    return fails;
}

int main_validate(int argc, char **argv)
{
    static const struct option lo[] = {
        { "clock-skew", required_argument, NULL, 'k' },
        { 0, 0, 0, 0 },
    };
    unsigned long long skew_ms = VALIDATE_CLOCK_SKEW_MS;
    const libxlmig_cluster_config *c;
    libxlmig_cluster *cl = NULL;
    struct ops_node *nodes;
    int opt, i, fails;

    while ((opt = cmd_getopt(argc, argv, "k:", lo, "validate", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == 'k') {
            if (!cmd_parse_range("validate", "clock skew", optarg, 1,
                                 3600000, "ms", &skew_ms))
                return EXIT_USAGE;
            continue;
        }
        return EXIT_USAGE;
    }
    if (argc - optind)
        return cmd_usage_error("validate", "no arguments expected");
    if (ops_open_cluster(&cl))
        return EXIT_FAILED;
    c = libxlmig_cluster_cfg(cl);
    nodes = calloc((size_t)c->num_nodes, sizeof(*nodes));
    for (i = 0; i < c->num_nodes; i++)
        check_node(cl, i, &nodes[i], skew_ms);
    check_config_version(cl, nodes);
    check_cpu_vendor(c, nodes);
    check_cpu_baseline(c, nodes);
    check_domain_needs(cl);
    fails = print_rows(c);
    ops_nodes_free(nodes, c->num_nodes);
    libxlmig_cluster_free(cl);
    free(rows);
    return fails ? EXIT_FAILED : EXIT_OK;
}
