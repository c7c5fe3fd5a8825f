/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig history [--last N] [DOMAIN]`: the past migrations of this node,
 * sent and received, newest first, one line each (time, direction,
 * domain, source, target, outcome, duration, downtime, bytes, prediction
 * error, id); `xlmig history show ID`: one of them in full, with its
 * report.  xlmigd records them (libxlmig_history_list, _get).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opsutil.h"

#define OPT_LAST 0x100
#define HISTORY_DEFAULT_LAST 20

static const char *when(unsigned long long ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (!ms || !localtime_r(&t, &tm) ||
        !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, len, "-");
    return buf;
}

static double jdouble(yajl_val v, const char *key, bool *has_r)
{
    yajl_val n = ops_jget(v, key, yajl_t_number);

    *has_r = n != NULL;
    return n ? YAJL_GET_DOUBLE(n) : 0;
}

static void print_line(yajl_val e)
{
    char t[32], dt[16], pe[16], id[9];
    bool has;
    double d;

    d = jdouble(e, "downtime_ms", &has);
    if (has)
        snprintf(dt, sizeof(dt), "%.1f ms", d);
    else
        snprintf(dt, sizeof(dt), "-");
    d = jdouble(e, "prediction_error_pct", &has);
    if (has)
        snprintf(pe, sizeof(pe), "%+.0f%%", d);
    else
        snprintf(pe, sizeof(pe), "-");
    snprintf(id, sizeof(id), "%s", ops_jstr(e, "id") ? ops_jstr(e, "id")
                                                      : "");
    printf("%-19s  %-3s  %-14s %-8s %-8s %-10s %8.1f s %10s %9.1f MiB "
           "%6s  %s\n", when(ops_ju64(e, "time_ms"), t, sizeof(t)),
           ops_jstr(e, "direction"), ops_jstr(e, "domain"),
           ops_jstr(e, "source"), ops_jstr(e, "target"),
           ops_jstr(e, "outcome"), ops_ju64(e, "duration_ms") / 1000.0, dt,
           ops_ju64(e, "bytes") / 1048576.0, pe, id);
}

static int history_show(int argc, char **argv)
{
    char err[256], t[32], *json = NULL;
    yajl_val v, rep;
    bool has;
    double d;
    int opt, rc;

    while ((opt = cmd_getopt(argc, argv, "", NULL, "history", 1)) != 0)
        return opt == 'h' ? EXIT_OK : EXIT_USAGE;
    if (argc - optind != 1)
        return cmd_usage_error("history", "show needs one migration ID");
    rc = libxlmig_history_get(g.ctx, argv[optind], &json);
    if (rc)
        return rc == LIBXLMIG_ERROR_INVAL
               ? cmd_usage_error("history", "%s", libxlmig_last_error(g.ctx))
               : cmd_fail(rc, NULL);
    if (g.json) {
        printf("%s\n", json);
        free(json);
        return EXIT_OK;
    }
    v = yajl_tree_parse(json, err, sizeof(err));
    free(json);
    if (!v)
        return cmd_fail(LIBXLMIG_ERROR_JSON, "bad history record: %s", err);
    printf("migration %s\n", ops_jstr(v, "id"));
    printf("  %-20s %s\n", "time:", when(ops_ju64(v, "time_ms"), t,
                                         sizeof(t)));
    printf("  %-20s %s (%s)\n", "domain:", ops_jstr(v, "domain"),
           !strcmp(ops_jstr(v, "direction") ? ops_jstr(v, "direction") : "",
                   "in") ? "received" : "sent");
    printf("  %-20s %s -> %s\n", "from, to:", ops_jstr(v, "source"),
           ops_jstr(v, "target"));
    printf("  %-20s %s\n", "outcome:", ops_jstr(v, "outcome"));
    if (ops_jstr(v, "error"))
        printf("  %-20s %s\n", "error:", ops_jstr(v, "error"));
    printf("  %-20s %.3f s\n", "duration:",
           ops_ju64(v, "duration_ms") / 1000.0);
    if (ops_ju64(v, "queued_ms"))
        printf("  %-20s %.3f s\n", "queued:",
               ops_ju64(v, "queued_ms") / 1000.0);
    d = jdouble(v, "downtime_ms", &has);
    if (has)
        printf("  %-20s %.3f ms\n", "downtime:", d);
    printf("  %-20s %.1f MiB\n", "bytes:", ops_ju64(v, "bytes") / 1048576.0);
    d = jdouble(v, "prediction_error_pct", &has);
    if (has)
        printf("  %-20s %+.1f%% of the measured time\n",
               "prediction error:", d);
    rep = ops_jget(v, "report", yajl_t_object);
    if (rep) {
        printf("report:\n");
        cmd_print_report_val(stdout, rep);
    }
    yajl_tree_free(v);
    return EXIT_OK;
}

int main_history(int argc, char **argv)
{
    static const struct option lo[] = {
        { "last", required_argument, NULL, OPT_LAST },
        { "json", no_argument, NULL, 'j' },
        { 0, 0, 0, 0 },
    };
    unsigned long long last = HISTORY_DEFAULT_LAST;
    const char *domain = NULL;
    char err[256], *json = NULL;
    yajl_val v, a;
    size_t i;
    int opt, rc;

    if (argc > 1 && !strcmp(argv[1], "show"))
        return history_show(argc - 1, argv + 1);
    while ((opt = cmd_getopt(argc, argv, "", lo, "history", 0)) != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'j': g.json = true; break;
        case OPT_LAST:
            if (!cmd_parse_range("history", "count", optarg, 1,
                                 LIBXLMIG_HISTORY_MAX, "", &last))
                return EXIT_USAGE;
            break;
        default: return EXIT_USAGE;
        }
    }
    if (argc - optind > 1)
        return cmd_usage_error("history", "at most one DOMAIN");
    if (argc - optind == 1)
        domain = argv[optind];
    rc = libxlmig_history_list(g.ctx, domain, (unsigned)last, &json);
    if (rc)
        return cmd_fail(rc, NULL);
    if (g.json) {
        printf("%s\n", json);
        free(json);
        return EXIT_OK;
    }
    v = yajl_tree_parse(json, err, sizeof(err));
    free(json);
    if (!v)
        return cmd_fail(LIBXLMIG_ERROR_JSON, "bad history: %s", err);
    a = ops_jget(v, "migrations", yajl_t_array);
    if (!a || !a->u.array.len) {
        printf("no migration%s%s recorded on this node\n",
               domain ? " of " : "", domain ? domain : "");
    } else {
        printf("%-19s  %-3s  %-14s %-8s %-8s %-10s %10s %10s %13s %6s  %s\n",
               "TIME", "DIR", "DOMAIN", "SOURCE", "TARGET", "OUTCOME",
               "DURATION", "DOWNTIME", "BYTES", "PRED.", "ID");
        for (i = 0; i < a->u.array.len; i++)
            print_line(a->u.array.values[i]);
    }
    yajl_tree_free(v);
    return EXIT_OK;
}
