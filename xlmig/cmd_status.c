/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig status [--local] [DOMAIN]`: what runs on this node and on its
 * peers, in the manner of `virsh domjobinfo`: each migration out with its
 * phase, round, bytes, rate, dirty rate, ETA and network path (a queued
 * one with its place), each migration in, the drain and the jobs, and
 * maintenance mode; --json gives the nodes' documents as they come
 * (libxlmig_status_get; docs/xlmigd.md, "Status").
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opsutil.h"

#define OPT_LOCAL 0x100

/* One node's answer: its status document, or why there is none. */
struct status_node {
    const char *name;            /* NULL: this node before it answers */
    char *json;                  /* its document (owned), or NULL */
    yajl_val st;                 /* parsed (owned) */
    char error[512];
};

static const char *mib(unsigned long long bytes, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f MiB", bytes / 1048576.0);
    return buf;
}

static const char *secs(unsigned long long ms, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f s", ms / 1000.0);
    return buf;
}

static bool wanted(yajl_val e, const char *key, const char *domain)
{
    const char *d = ops_jstr(e, key);

    return !domain || (d && !strcmp(d, domain));
}

static void row(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void row(const char *key, const char *fmt, ...)
{
    va_list ap;

    printf("    %-19s", key);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void print_outgoing(yajl_val e)
{
    char b1[32], b2[32];
    const char *state = ops_jstr(e, "state");

    printf("  %s -> %s%s\n", ops_jstr(e, "domain"), ops_jstr(e, "target"),
           ops_jbool(e, "dry_run") ? " (pre-flight only)" : "");
    if (state && !strcmp(state, "queued")) {
        row("Phase:", "queued, place %llu (max_outgoing reached)",
            ops_ju64(e, "queue_position"));
        row("Time waiting:", "%s", secs(ops_ju64(e, "elapsed_ms"), b1,
                                        sizeof(b1)));
        return;
    }
    if (ops_jstr(e, "phase") && !strcmp(ops_jstr(e, "phase"), "waiting"))
        row("Phase:", "waiting for a slot on %s (its max_incoming)",
            ops_jstr(e, "target"));
    else if (ops_jstr(e, "engine_state"))
        row("Phase:", "%s (%s, round %llu)", ops_jstr(e, "phase"),
            ops_jstr(e, "engine_state"), ops_ju64(e, "round"));
    else
        row("Phase:", "%s", ops_jstr(e, "phase"));
    row("Time elapsed:", "%s", secs(ops_ju64(e, "elapsed_ms"), b1,
                                    sizeof(b1)));
    if (ops_ju64(e, "memory_kib"))
        row("Memory:", "%s", mib(ops_ju64(e, "memory_kib") * 1024, b1,
                                 sizeof(b1)));
    if (ops_ju64(e, "bytes"))
        row("Data processed:", "%s", mib(ops_ju64(e, "bytes"), b1,
                                         sizeof(b1)));
    if (ops_jget(e, "remaining_bytes", yajl_t_number))
        row("Data remaining:", "%s (of this round)",
            mib(ops_ju64(e, "remaining_bytes"), b1, sizeof(b1)));
    if (ops_ju64(e, "rate"))
        row("Rate:", "%s", libxlmig_bandwidth_str(
            (double)ops_ju64(e, "rate"), false, b1, sizeof(b1)));
    if (ops_jget(e, "downtime_limit_ms", yajl_t_number))
        row("Limits:", "downtime %llu ms, bandwidth %s",
            ops_ju64(e, "downtime_limit_ms"),
            libxlmig_bandwidth_str((double)ops_ju64(e, "bandwidth_limit"),
                                   true, b2, sizeof(b2)));
    if (ops_jget(e, "dirty_rate", yajl_t_number))
        row("Dirty rate:", "%llu pages/s", ops_ju64(e, "dirty_rate"));
    if (ops_jget(e, "expected_downtime_ms", yajl_t_number))
        row("Expected downtime:", "%llu ms",
            ops_ju64(e, "expected_downtime_ms"));
    if (ops_jget(e, "eta_ms", yajl_t_number))
        row("Time remaining:", "%s (estimated, round %llu)",
            secs(ops_ju64(e, "eta_ms"), b2, sizeof(b2)),
            ops_ju64(e, "round"));
    if (ops_jstr(e, "network"))
        row("Network:", "%s", ops_jstr(e, "network"));
    if (ops_jstr(e, "id"))
        row("Id:", "%s", ops_jstr(e, "id"));
}

static void print_incoming(yajl_val e)
{
    char b1[32], b2[32];

    printf("  %s <- %s\n", ops_jstr(e, "domain"), ops_jstr(e, "source"));
    row("Phase:", "%s", ops_jstr(e, "state"));
    row("Time elapsed:", "%s", secs(ops_ju64(e, "elapsed_ms"), b1,
                                    sizeof(b1)));
    row("Memory:", "%s", mib(ops_ju64(e, "memory_kib") * 1024, b2,
                             sizeof(b2)));
    row("Data received:", "%s", mib(ops_ju64(e, "bytes"), b1, sizeof(b1)));
    row("From:", "%s", ops_jstr(e, "peer"));
    row("Id:", "%s", ops_jstr(e, "id"));
}

static void print_drain(yajl_val d, const char *domain)
{
    yajl_val doms = ops_jget(d, "domains", yajl_t_array);
    size_t i;

    if (!domain)
        printf("  drain of this node (pid %llu)\n", ops_ju64(d, "pid"));
    for (i = 0; doms && i < doms->u.array.len; i++) {
        yajl_val e = doms->u.array.values[i];

        if (!wanted(e, "name", domain))
            continue;
        if (domain)
            printf("  drain of this node (pid %llu)\n", ops_ju64(d, "pid"));
        printf("    %-19s-> %s: %s\n", ops_jstr(e, "name"),
               ops_jstr(e, "target") ? ops_jstr(e, "target") : "nowhere",
               ops_jstr(e, "outcome"));
    }
}

static void print_job(yajl_val e)
{
    printf("  job %s for %s: %s", ops_jstr(e, "id"), ops_jstr(e, "asked_by"),
           ops_jstr(e, "kind"));
    if (ops_jstr(e, "domain"))
        printf(" %s -> %s", ops_jstr(e, "domain"), ops_jstr(e, "target"));
    if (ops_jbool(e, "running"))
        printf(", running (pid %llu)\n", ops_ju64(e, "pid"));
    else if (ops_jget(e, "exit_status", yajl_t_number))
        printf(", ended (exit status %llu)\n", ops_ju64(e, "exit_status"));
    else
        printf(", ended\n");
}

/* The text of one node; returns how many entries it showed. */
static int print_node(const struct status_node *n, const char *domain)
{
    yajl_val st = n->st, a, d;
    unsigned running = 0, queued = 0, in = 0;
    int shown = 0;
    size_t i;

    if (!st) {
        printf("%s: no status: %s\n", n->name ? n->name : "this node",
               n->error);
        return 0;
    }
    a = ops_jget(st, "outgoing", yajl_t_array);
    for (i = 0; a && i < a->u.array.len; i++) {
        const char *s = ops_jstr(a->u.array.values[i], "state");

        if (s && !strcmp(s, "queued"))
            queued++;
        else if (!ops_jbool(a->u.array.values[i], "dry_run"))
            running++;
    }
    if (ops_jget(st, "incoming", yajl_t_array))
        in = ops_jget(st, "incoming", yajl_t_array)->u.array.len;
    printf("%s: maintenance %s; out %u running", ops_jstr(st, "node")
           ? ops_jstr(st, "node") : "this node",
           ops_jbool(st, "maintenance") ? "ON" : "off", running);
    if (queued)
        printf(", %u queued", queued);
    if (ops_ju64(st, "max_outgoing"))
        printf(" (max %llu)", ops_ju64(st, "max_outgoing"));
    printf("; in %u", in);
    if (ops_ju64(st, "max_incoming"))
        printf(" (max %llu)", ops_ju64(st, "max_incoming"));
    printf("\n");

    for (i = 0; a && i < a->u.array.len; i++)
        if (wanted(a->u.array.values[i], "domain", domain)) {
            print_outgoing(a->u.array.values[i]);
            shown++;
        }
    a = ops_jget(st, "incoming", yajl_t_array);
    for (i = 0; a && i < a->u.array.len; i++)
        if (wanted(a->u.array.values[i], "domain", domain)) {
            print_incoming(a->u.array.values[i]);
            shown++;
        }
    d = ops_jget(st, "drain", yajl_t_object);
    if (d) {
        print_drain(d, domain);
        shown++;
    }
    a = ops_jget(st, "jobs", yajl_t_array);
    for (i = 0; a && i < a->u.array.len; i++)
        if (wanted(a->u.array.values[i], "domain", domain) &&
            (!domain || ops_jbool(a->u.array.values[i], "running"))) {
            print_job(a->u.array.values[i]);
            shown++;
        }
    return shown;
}

static void ask(libxlmig_cluster *cl, const char *node, struct status_node *n)
{
    char err[256];
    int rc;

    n->name = node;
    rc = libxlmig_status_get(g.ctx, cl, node, &n->json);
    if (rc) {
        snprintf(n->error, sizeof(n->error), "%s",
                 libxlmig_last_error(g.ctx));
        return;
    }
    n->st = yajl_tree_parse(n->json, err, sizeof(err));
    if (!n->st)
        snprintf(n->error, sizeof(n->error), "bad status: %s", err);
}

/* s as a JSON string. */
static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* {"version":1,"nodes":[each node's document, or {"node","error"}]} */
static void print_json(const struct status_node *nodes, int nr)
{
    int i;

    printf("{\"version\":1,\"nodes\":[");
    for (i = 0; i < nr; i++) {
        if (i)
            putchar(',');
        if (nodes[i].st) {
            fputs(nodes[i].json, stdout);
            continue;
        }
        printf("{\"node\":");
        if (nodes[i].name)
            json_str(nodes[i].name);
        else
            printf("null");
        printf(",\"error\":");
        json_str(nodes[i].error);
        putchar('}');
    }
    printf("]}\n");
}

int main_status(int argc, char **argv)
{
    static const struct option lo[] = {
        { "local", no_argument, NULL, OPT_LOCAL },
        { "json", no_argument, NULL, 'j' },
        { 0, 0, 0, 0 },
    };
    libxlmig_cluster *cl = NULL;
    struct status_node *nodes = NULL;
    const char *domain = NULL;
    bool local = false;
    int opt, i, nr = 0, shown = 0, ret = EXIT_OK;

    while ((opt = cmd_getopt(argc, argv, "", lo, "status", 0)) != 0) {
        if (opt == 'h') return EXIT_OK;
        if (opt == OPT_LOCAL) { local = true; continue; }
        if (opt == 'j') { g.json = true; continue; }
        return EXIT_USAGE;
    }
    if (argc - optind > 1)
        return cmd_usage_error("status", "at most one DOMAIN");
    if (argc - optind == 1)
        domain = argv[optind];
    /* The peers come from the cluster config; without one (and not asked
     * for one with -c) this node alone. */
    if (!local && (g.config_given ||
                   !access(g.config_file, R_OK))) {
        if (ops_open_cluster(&cl))
            return EXIT_FAILED;
    }
    nr = cl ? libxlmig_cluster_cfg(cl)->num_nodes : 1;
    nodes = calloc((size_t)nr, sizeof(*nodes));
    if (!nodes) {
        libxlmig_cluster_free(cl);
        return cmd_fail(LIBXLMIG_ERROR_NOMEM, "out of memory");
    }
    if (!cl) {
        ask(NULL, NULL, &nodes[0]);
    } else {
        const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
        int self = libxlmig_cluster_self(cl);

        /* This node first, then its peers in config order. */
        ask(cl, NULL, &nodes[0]);
        nodes[0].name = c->nodes[self].name;
        for (i = 0, nr = 1; i < c->num_nodes; i++)
            if (i != self)
                ask(cl, c->nodes[i].name, &nodes[nr++]);
    }
    if (!nodes[0].st)
        ret = EXIT_FAILED;
    if (g.json) {
        print_json(nodes, nr);
    } else {
        for (i = 0; i < nr; i++)
            shown += print_node(&nodes[i], domain);
        if (domain && !shown)
            printf("nothing of %s runs\n", domain);
    }
    if (!nodes[0].st)
        fprintf(stderr, "%s: %s\n", g.progname, nodes[0].error);
    for (i = 0; i < nr; i++) {
        if (nodes[i].st)
            yajl_tree_free(nodes[i].st);
        free(nodes[i].json);
    }
    free(nodes);
    libxlmig_cluster_free(cl);
    return ret;
}
