/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xlmig entry point: global options, the xentoollog logger, argv[0]
 * dispatch (installed as xl-migrate-cluster it runs migrate-cluster) and
 * the helpers every command uses to parse options and report failures.
 */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "xlmig.h"

struct xlmig_globals g = {
    .progname = "xlmig",
    .config_file = XLMIG_DEFAULT_CONFIG,
    .backend = LIBXLMIG_BACKEND_XEN,
};

static void main_usage(FILE *f)
{
    fprintf(f, "usage: %s [-v] [-N] [-c CONFIG] [--json] "
            "[--backend xen|sim] COMMAND [ARGS...]\n", g.progname);
}

void cmd_usage(FILE *f, const char *cmd, bool full)
{
    const struct cmd_spec *c = cmd_lookup(cmd);

    if (!c) {
        main_usage(f);
        return;
    }
    fprintf(f, "usage: xlmig %s%s%s\n", c->name, *c->usage ? " " : "",
            c->usage);
    if (!full)
        return;
    fprintf(f, "\n%s.\n", c->help);
    if (*c->options)
        fprintf(f, "\nOptions:\n%s", c->options);
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s %s: ", g.progname, cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cmd_usage(stderr, cmd, false);
    return EXIT_USAGE;
}

int cmd_fail(int rc, const char *fmt, ...)
{
    char msg[1024];
    const char *last = g.ctx ? libxlmig_last_error(g.ctx) : "";
    char *json = NULL;
    va_list ap;

    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    } else if (last && *last) {
        snprintf(msg, sizeof(msg), "%s", last);
    } else {
        snprintf(msg, sizeof(msg), "%s", libxlmig_strerror(rc));
    }
    if (g.json && g.ctx && !libxlmig_error_to_json(g.ctx, rc, msg, &json)) {
        printf("%s\n", json);
        free(json);
    }
    fprintf(stderr, "%s: %s\n", g.progname, msg);
    return EXIT_FAILED;
}

int cmd_open_backend(void)
{
    int rc = libxlmig_backend_open(g.ctx, g.backend);

    return rc ? cmd_fail(rc, NULL) : 0;
}

bool cmd_parse_u64(const char *cmd, const char *what, const char *s,
                   unsigned long long *v_r)
{
    char *end;

    errno = 0;
    if (!s || !*s || *s == '-') goto bad;
    *v_r = strtoull(s, &end, 0);
    if (errno || *end) goto bad;
    return true;
 bad:
    cmd_usage_error(cmd, "invalid %s: '%s'", what, s ? s : "");
    return false;
}

int cmd_getopt(int argc, char **argv, const char *opts,
               const struct option *longopts, const char *cmd, int min_args)
{
    static const struct option no_long[] = { { 0, 0, 0, 0 } };
    char optstring[64];
    int opt;

    snprintf(optstring, sizeof(optstring), "+:h%s", opts);
    opt = getopt_long(argc, argv, optstring, longopts ? longopts : no_long,
                      NULL);
    if (opt == 'h') {
        cmd_usage(stdout, cmd, true);
        return 'h';
    }
    if (opt == ':') {
        cmd_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        return '?';
    }
    if (opt == '?') {
        if (optopt)
            cmd_usage_error(cmd, "unknown option '-%c'", optopt);
        else
            cmd_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        return '?';
    }
    if (opt == -1) {
        if (argc - optind < min_args) {
            cmd_usage_error(cmd, "missing argument");
            return '?';
        }
        return 0;
    }
    return opt;
}

static int run_command(const struct cmd_spec *c, int argc, char **argv)
{
    /* Each command parses its own argv starting at its name. */
    optind = 1;
    return c->fn(argc, argv);
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "backend", required_argument, NULL, 'b' },
        { "config", required_argument, NULL, 'c' },
        { "verbose", no_argument, NULL, 'v' },
        { "dry-run", no_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    const struct cmd_spec *c;
    const char *base = basename(argv[0]);
    const char *cmd;
    bool as_xl = !strcmp(base, "xl-migrate-cluster");
    xentoollog_level level;
    int opt, rc;

    g.progname = as_xl ? "xl-migrate-cluster" : "xlmig";

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:hvNjc:b:", long_opts,
                              NULL)) != -1) {
        switch (opt) {
        case 'v': g.verbosity++; break;
        case 'N': g.dry_run = true; break;
        case 'j': g.json = true; break;
        case 'c':
            g.config_file = optarg;
            g.config_given = true;
            break;
        case 'b':
            if (libxlmig_backend_kind_from_string(optarg, &g.backend)) {
                fprintf(stderr, "%s: unknown backend '%s' (use xen or "
                        "sim)\n", g.progname, optarg);
                main_usage(stderr);
                return EXIT_USAGE;
            }
            g.backend_given = true;
            break;
        case 'h':
            return main_help(0, NULL);
        case ':':
            fprintf(stderr, "%s: option '%s' needs a value\n", g.progname,
                    argv[optind - 1]);
            main_usage(stderr);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "%s: unknown option '%s'\n", g.progname,
                    argv[optind - 1]);
            main_usage(stderr);
            return EXIT_USAGE;
        }
    }

    argc -= optind;
    argv += optind;
    if (as_xl) {
        /* xl-migrate-cluster DOMAIN HOST ... == xlmig migrate-cluster ... */
        cmd = "migrate-cluster";
        argv--;
        argc++;
        argv[0] = (char *)cmd;
    } else {
        if (argc < 1) {
            main_usage(stderr);
            fprintf(stderr, "Run '%s help' for the list of commands.\n",
                    g.progname);
            return EXIT_USAGE;
        }
        cmd = argv[0];
    }

    c = cmd_lookup(cmd);
    if (!c) {
        fprintf(stderr, "%s: unknown command '%s'\n", g.progname, cmd);
        main_usage(stderr);
        return EXIT_USAGE;
    }

    level = g.verbosity >= 2 ? XTL_DEBUG
          : g.verbosity == 1 ? XTL_INFO
          : XTL_CRITICAL;  /* errors are printed once, by cmd_fail() */
    g.logger = (xentoollog_logger *)
        xtl_createlogger_stdiostream(stderr, level,
                                     g.verbosity ? XTL_STDIOSTREAM_SHOW_DATE
                                                   : 0);
    if (!g.logger) {
        fprintf(stderr, "%s: cannot create logger\n", g.progname);
        return EXIT_FAILED;
    }
    rc = libxlmig_ctx_alloc(&g.ctx, g.logger);
    if (rc) {
        fprintf(stderr, "%s: cannot allocate context: %s\n", g.progname,
                libxlmig_strerror(rc));
        xtl_logger_destroy(g.logger);
        return EXIT_FAILED;
    }

    rc = run_command(c, argc, argv);

    libxlmig_ctx_free(g.ctx);
    xtl_logger_destroy(g.logger);
    return rc;
}
