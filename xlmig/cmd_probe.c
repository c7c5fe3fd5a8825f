/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig probe ADDR[:PORT]`: measure what a client of a domain notices
 * during a migration: the longest gap between answers of the domain's echo
 * service, and the requests it never answered.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "xlmig.h"

#define PROBE_DEFAULT_PORT 7
#define PROBE_MAX_INTERVAL_MS 60000        /* ms */
#define PROBE_MAX_DURATION_MS 86400000     /* ms: a day */

static volatile sig_atomic_t probe_stop;

static void probe_on_signal(int sig)
{
    probe_stop = 1;
}

int main_probe(int argc, char **argv)
{
    static const struct option opts[] = {
        { "interval", required_argument, NULL, 'i' },
        { "duration", required_argument, NULL, 'D' },
        { 0, 0, 0, 0 },
    };
    unsigned long long interval = 5, duration = 10000;
    libxlmig_echo_result r;
    struct sigaction sa;
    char addr[64], *colon;
    unsigned long long port = PROBE_DEFAULT_PORT;
    int opt, rc;

    while ((opt = cmd_getopt(argc, argv, "i:D:d:", opts, "probe", 1)) != 0) {
        switch (opt) {
        case 'i':
            if (!cmd_parse_range("probe", "interval", optarg, 1,
                                 PROBE_MAX_INTERVAL_MS, "ms", &interval))
                return EXIT_USAGE;
            break;
        case 'd':       /* deprecated (NEWS): -d is the downtime limit */
        case 'D':
            if (!cmd_parse_range("probe", "duration", optarg, 1,
                                 PROBE_MAX_DURATION_MS, "ms", &duration))
                return EXIT_USAGE;
            break;
        case 'h':
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cmd_usage_error("probe", "expected one address");
    snprintf(addr, sizeof(addr), "%s", argv[optind]);
    colon = strchr(addr, ':');
    if (colon) {
        *colon = '\0';
        if (!cmd_parse_range("probe", "port", colon + 1, LIBXLMIG_PORT_MIN,
                             LIBXLMIG_PORT_MAX, "", &port))
            return EXIT_USAGE;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = probe_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = libxlmig_echo_probe(g.ctx, addr, (unsigned)port, (unsigned)interval,
                             (unsigned)duration, &probe_stop, &r);
    if (rc)
        return rc == LIBXLMIG_ERROR_INVAL
               ? cmd_usage_error("probe", "%s", libxlmig_last_error(g.ctx))
               : cmd_fail(rc, NULL);
    if (g.json)
        printf("{\"version\":1,\"sent\":%llu,\"received\":%llu,"
               "\"lost\":%llu,\"longest_gap_ms\":%.3f,\"max_rtt_ms\":%.3f,"
               "\"duration_ms\":%.3f}\n",
               (unsigned long long)r.sent, (unsigned long long)r.received,
               (unsigned long long)r.lost, r.longest_gap_ns / 1e6,
               r.max_rtt_ns / 1e6, r.duration_ns / 1e6);
    else
        printf("sent %llu, answered %llu, lost %llu; longest gap between "
               "answers %.1f ms, slowest answer %.1f ms\n",
               (unsigned long long)r.sent, (unsigned long long)r.received,
               (unsigned long long)r.lost, r.longest_gap_ns / 1e6,
               r.max_rtt_ns / 1e6);
    return r.received ? EXIT_OK : EXIT_FAILED;
}
