/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig save [-c] [--live] DOMAIN FILE|-`, like `xl save`, plus the
 * progress output every migration command shares: a progress bar on a
 * TTY, JSON lines with --json, and the final statistics.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xlmig.h"

/* Where progress and results go: stderr when the stream is on stdout. */
FILE *cmd_report_stream(bool stream_on_stdout)
{
    return stream_on_stdout ? stderr : stdout;
}

void cmd_progress(void *user, const libxlmig_stats *st)
{
    FILE *f = user;
    char *json = NULL, bw[32];
    double pct;

    if (g.json) {
        if (!libxlmig_stats_to_json(g.ctx, st, &json)) {
            fprintf(f, "{\"type\":\"progress\",\"stats\":%s}\n", json);
            fflush(f);
            free(json);
        }
        return;
    }
    if (!isatty(fileno(stderr)))
        return;
    pct = st->nr_pages ? 100.0 * (st->nr_pages * 4096.0 -
                                  (double)st->remaining_bytes) /
                         (st->nr_pages * 4096.0) : 0;
    if (pct < 0) pct = 0;
    fprintf(stderr, "\r[%-30.*s] %5.1f%% round %u %s %7.1f MiB sent "
            "%12s dirty %llu p/s throttle %u%%  ",
            (int)(pct * 30 / 100), "##############################", pct,
            st->round, libxlmig_state_to_string(st->state),
            st->total_bytes / 1048576.0,
            libxlmig_bandwidth_str((double)st->bandwidth, false, bw,
                                   sizeof(bw)),
            (unsigned long long)st->dirty_rate, st->throttle_pct);
    if (st->state == LIBXLMIG_STATE_DONE ||
        st->state == LIBXLMIG_STATE_ABORTED)
        fputc('\n', stderr);
    fflush(stderr);
}

void cmd_print_stats(FILE *f, const char *what, const libxlmig_stats *st)
{
    char *json = NULL, bw[32];

    if (g.json) {
        if (!libxlmig_stats_to_json(g.ctx, st, &json)) {
            fprintf(f, "{\"type\":\"result\",\"op\":\"%s\",\"stats\":%s}\n",
                    what, json);
            free(json);
        }
        return;
    }
    fprintf(f, "%s: %s in %llu ms (setup %llu ms), downtime %.3f ms, "
            "%u rounds\n", what, libxlmig_state_to_string(st->state),
            (unsigned long long)st->total_time_ms,
            (unsigned long long)st->setup_time_ms, st->downtime_us / 1000.0,
            st->round + 1);
    fprintf(f, "  %.1f MiB sent (%.1f MiB pre-copy, %.1f MiB in downtime), ",
            st->total_bytes / 1048576.0, st->precopy_bytes / 1048576.0,
            st->downtime_bytes / 1048576.0);
    /* Xen's own stream does not count its pages for us. */
    if (st->normal_pages || st->zero_pages)
        fprintf(f, "%llu normal and %llu zero pages, ",
                (unsigned long long)st->normal_pages,
                (unsigned long long)st->zero_pages);
    fprintf(f, "%s, throttle max %u%%\n",
            libxlmig_bandwidth_str((double)st->throughput, false, bw,
                                   sizeof(bw)), st->throttle_max_pct);
}

int cmd_param_opt(const char *cmd, int opt, const char *arg,
                  libxlmig_params *params)
{
    unsigned long long v;
    char why[256];

    switch (opt) {
    case 'd':
        if (!cmd_parse_range(cmd, "downtime", arg, LIBXLMIG_DOWNTIME_MS_MIN,
                             LIBXLMIG_DOWNTIME_MS_MAX, "ms", &v))
            return -1;
        params->downtime_limit_ms = v;
        params->given |= LIBXLMIG_PARAM_DOWNTIME;
        return 1;
    case 'B':
        /* The config's syntax and range (libxlmig_bandwidth_parse). */
        if (libxlmig_bandwidth_parse(arg, &params->bandwidth_limit, why,
                                     sizeof(why))) {
            cmd_usage_error(cmd, "-B/--bandwidth: %s", why);
            return -1;
        }
        params->given |= LIBXLMIG_PARAM_BANDWIDTH;
        return 1;
    case CMD_OPT_COMPRESSION:
        if (libxlmig_compression_from_string(arg, &params->compression)) {
            cmd_usage_error(cmd, "--compression is auto, off, lz4 or zstd, "
                            "not '%s'", arg);
            return -1;
        }
        params->given |= LIBXLMIG_PARAM_COMPRESSION;
        return 1;
    case 'r':
        if (!cmd_parse_range(cmd, "round limit", arg, LIBXLMIG_MAX_ROUNDS_MIN,
                             LIBXLMIG_MAX_ROUNDS_MAX, "rounds", &v))
            return -1;
        params->max_rounds = (uint32_t)v;
        return 1;
    case 'L':
        if (libxlmig_limit_action_from_string(arg, &params->on_limit)) {
            cmd_usage_error(cmd, "--on-limit is abort or force, not '%s'",
                            arg);
            return -1;
        }
        return 1;
    case 'A':
        params->auto_converge = false;
        return 1;
    }
    return 0;
}

int main_save(int argc, char **argv)
{
    static const struct option lo[] = {
        { "live", no_argument, NULL, 'l' },
        { "checkpoint", no_argument, NULL, 'c' },
        CMD_PARAM_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    libxlmig_params params;
    libxlmig_stats st;
    unsigned flags = 0;
    const char *dom, *file;
    bool to_stdout;
    FILE *rep;
    int opt, fd = -1, rc, ret;

    libxlmig_params_init(&params);
    while ((opt = cmd_getopt(argc, argv, "lc" CMD_PARAM_OPTS, lo, "save",
                             2)) != 0) {
        switch (opt) {
        case 'h': return EXIT_OK;
        case 'l': flags |= LIBXLMIG_SAVE_LIVE; break;
        case 'c': flags |= LIBXLMIG_SAVE_CHECKPOINT; break;
        default:
            if (cmd_param_opt("save", opt, optarg, &params) <= 0)
                return EXIT_USAGE;
        }
    }
    if (argc - optind != 2)
        return cmd_usage_error("save", "need DOMAIN and FILE");
    dom = argv[optind];
    file = argv[optind + 1];
    to_stdout = !strcmp(file, "-");
    rep = cmd_report_stream(to_stdout);
    ret = cmd_open_backend();
    if (ret) return ret;
    if (to_stdout) {
        fd = STDOUT_FILENO;
    } else {
        fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return cmd_fail(0, "cannot create %s: %s", file,
                            strerror(errno));
    }
    rc = libxlmig_domain_save(g.ctx, dom, fd, flags, &params, cmd_progress,
                              rep, &st);
    if (!to_stdout) close(fd);
    if (rc) {
        if (!to_stdout) unlink(file);
        return cmd_fail(rc, "save of domain %s failed: %s; the domain "
                        "keeps running", dom, libxlmig_last_error(g.ctx));
    }
    cmd_print_stats(rep, "save", &st);
    return EXIT_OK;
}
