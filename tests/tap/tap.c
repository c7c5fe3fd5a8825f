/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * TAP output for the C tests: plan, assertions, diagnostics, skips and
 * bail-outs, with the plan checked at exit.  Written for this project with
 * the API of c-tap-harness so tests read the same.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static unsigned long planned;     /* 0: no plan yet */
static unsigned long testnum;     /* last test number printed */
static unsigned long failures;
static bool lazy;
static bool atexit_done;
static pid_t tap_pid;

static void tap_finish(void)
{
    if (getpid() != tap_pid)
        return;   /* a forked child of a test: the parent reports */
    fflush(stderr);
    if (lazy && testnum > 0)
        printf("1..%lu\n", testnum);
    if (planned && testnum != planned) {
        printf("# Looks like you planned %lu tests but ran %lu.\n",
               planned, testnum);
        fflush(stdout);
        _exit(255);
    }
    if (failures) {
        printf("# Looks like you failed %lu test%s of %lu.\n", failures,
               failures == 1 ? "" : "s", testnum);
        fflush(stdout);
        _exit(failures > 254 ? 254 : (int)failures);
    }
    fflush(stdout);
}

static void tap_start(void)
{
    if (!atexit_done) {
        tap_pid = getpid();
        setvbuf(stdout, NULL, _IOLBF, 0);
        atexit(tap_finish);
        atexit_done = true;
    }
}

void plan(unsigned long count)
{
    tap_start();
    planned = count;
    printf("1..%lu\n", count);
    fflush(stdout);
}

void plan_lazy(void)
{
    tap_start();
    lazy = true;
}

void skip_all(const char *fmt, ...)
{
    va_list ap;

    printf("1..0 # SKIP ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    _exit(0);
}

static bool report(bool success, const char *fmt, va_list ap)
{
    tap_start();
    testnum++;
    if (!success)
        failures++;
    printf("%sok %lu - ", success ? "" : "not ", testnum);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    return success;
}

bool ok(bool success, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(success, fmt, ap);
    va_end(ap);
    return success;
}

bool is_int(long long wanted, long long seen, const char *fmt, ...)
{
    bool success = wanted == seen;
    va_list ap;

    va_start(ap, fmt);
    report(success, fmt, ap);
    va_end(ap);
    if (!success)
        diag("wanted: %lld\n#   seen: %lld", wanted, seen);
    return success;
}

bool is_bool(bool wanted, bool seen, const char *fmt, ...)
{
    bool success = wanted == seen;
    va_list ap;

    va_start(ap, fmt);
    report(success, fmt, ap);
    va_end(ap);
    if (!success)
        diag("wanted: %s\n#   seen: %s", wanted ? "true" : "false",
             seen ? "true" : "false");
    return success;
}

bool is_string(const char *wanted, const char *seen, const char *fmt, ...)
{
    bool success;
    va_list ap;

    if (!wanted || !seen)
        success = wanted == seen;
    else
        success = strcmp(wanted, seen) == 0;
    va_start(ap, fmt);
    report(success, fmt, ap);
    va_end(ap);
    if (!success)
        diag("wanted: %s\n#   seen: %s", wanted ? wanted : "(null)",
             seen ? seen : "(null)");
    return success;
}

bool like_string(const char *wanted, const char *seen, const char *fmt, ...)
{
    bool success = wanted && seen && strstr(seen, wanted);
    va_list ap;

    va_start(ap, fmt);
    report(success, fmt, ap);
    va_end(ap);
    if (!success)
        diag("wanted a string containing: %s\n#   seen: %s",
             wanted ? wanted : "(null)", seen ? seen : "(null)");
    return success;
}

void skip(const char *reason, ...)
{
    va_list ap;

    tap_start();
    testnum++;
    printf("ok %lu # SKIP ", testnum);
    va_start(ap, reason);
    vprintf(reason, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void skip_block(unsigned long count, const char *reason, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, reason);
    vsnprintf(buf, sizeof(buf), reason, ap);
    va_end(ap);
    while (count--)
        skip("%s", buf);
}

void diag(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void bail(const char *fmt, ...)
{
    va_list ap;

    fflush(stderr);
    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    _exit(255);
}

void sysbail(const char *fmt, ...)
{
    int oerrno = errno;
    va_list ap;

    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(": %s\n", strerror(oerrno));
    fflush(stdout);
    _exit(255);
}

const char *test_top_dir(void)
{
    static char top[PATH_MAX];
    const char *env = getenv("MIG_ROOT");
    char self[PATH_MAX];
    ssize_t n;
    char *p;

    if (top[0])
        return top;
    if (env && *env) {
        snprintf(top, sizeof(top), "%s", env);
        return top;
    }
    /* Tests live in MIG_ROOT/tests/<dir>/<name>.t */
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        sysbail("cannot find the test binary");
    self[n] = '\0';
    for (int i = 0; i < 3 && (p = strrchr(self, '/')); i++)
        *p = '\0';
    snprintf(top, sizeof(top), "%s", self);
    return top;
}

const char *test_data_path(const char *name)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/tests/data/%s", test_top_dir(), name);
    return path;
}
