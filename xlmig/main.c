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
    if (g.as_xl)
        cmd_usage(f, "migrate-cluster", false);
    else
        fprintf(f, "usage: %s [-vV] [-N] [-c CONFIG] [--json] "
                "[--backend xen|sim] COMMAND [ARGS...]\n", g.progname);
}

void cmd_usage(FILE *f, const char *cmd, bool full)
{
    const struct cmd_spec *c = cmd_lookup(cmd);

    if (!c) {
        main_usage(f);
        return;
    }
    /* Installed as xl-migrate-cluster, the program is that command. */
    if (g.as_xl && !strcmp(c->name, "migrate-cluster"))
        fprintf(f, "usage: xl-migrate-cluster [-v] [-c CONFIG] [--json] "
                "%s\n", c->usage);
    else
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

    if (g.as_xl)
        fprintf(stderr, "%s: ", g.progname);
    else
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

bool cmd_parse_range(const char *cmd, const char *what, const char *s,
                     unsigned long long min, unsigned long long max,
                     const char *unit, unsigned long long *v_r)
{
    unsigned long long v;
    char *end;

    errno = 0;
    if (!s || !*s || *s == '-') goto bad;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) goto bad;
    *v_r = v;
    return true;
 bad:
    cmd_usage_error(cmd, "invalid %s: '%s' (%llu to %llu%s%s)", what,
                    s ? s : "", min, max, *unit ? " " : "", unit);
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

/*
 * As xl-migrate-cluster the program is migrate-cluster: the global options
 * it knows come first, and the first word that is not one of them starts
 * the command's own options and arguments (-n, -d MS ... DOMAIN TARGET).
 */
static int xl_global_end(int argc, char **argv)
{
    static const char *const flags[] = {
        "-v", "--verbose", "-N", "--dry-run", "-j", "--json", "-h",
        "--help", "-V", "--version",
    };
    static const char *const valued[] = {
        "-c", "--config", "-b", "--backend",
    };
    int i;
    size_t k;

    for (i = 1; i < argc; i++) {
        bool known = false;

        if (!strcmp(argv[i], "--"))
            break;
        for (k = 0; k < ARRAY_SIZE(flags) && !known; k++)
            known = !strcmp(argv[i], flags[k]);
        for (k = 0; k < ARRAY_SIZE(valued) && !known; k++) {
            size_t n = strlen(valued[k]);

            if (!strcmp(argv[i], valued[k]) && i + 1 < argc) {
                known = true;
                i++;
            } else if (valued[k][1] == '-' && !strncmp(argv[i], valued[k], n)
                       && argv[i][n] == '=') {
                known = true;
            }
        }
        if (!known)
            break;
    }
    return i;
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
        { "version", no_argument, NULL, 'V' },
        { 0, 0, 0, 0 },
    };
    const struct cmd_spec *c;
    const char *base = basename(argv[0]);
    const char *cmd;
    bool as_xl = !strcmp(base, "xl-migrate-cluster");
    xentoollog_level level;
    int opt, rc, global_argc = argc;

    g.progname = as_xl ? "xl-migrate-cluster" : "xlmig";
    g.as_xl = as_xl;
    if (as_xl)
        global_argc = xl_global_end(argc, argv);

    opterr = 0;
    while ((opt = getopt_long(global_argc, argv, "+:hVvNjc:b:", long_opts,
                              NULL)) != -1) {
        switch (opt) {
        case 'V':
            return main_version(0, NULL);
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
            if (as_xl) {
                cmd_usage(stdout, "migrate-cluster", true);
                return EXIT_OK;
            }
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

    if (as_xl && optind < argc && !strcmp(argv[optind], "--") &&
        optind < global_argc)
        optind++;
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
    libxlmig_backend_choose(g.ctx, g.backend);

    rc = run_command(c, argc, argv);

    libxlmig_ctx_free(g.ctx);
    xtl_logger_destroy(g.logger);
    return rc;
}
