/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Bandwidth as people write it and as reports print it: one syntax for
 * the config, the options of every command and the JSON requests, and
 * one unit (Mbit/s) for what is printed.
 */
#include <ctype.h>
#include <math.h>
#include <strings.h>

#include "core/core.h"

#define UNITS_HINT "expected a number with an optional unit " \
                   "(Mbit, Gbit, MiB, ...)"

/* The units, bits per second decimal, bytes per second binary. */
static const struct {
    const char *name;
    double bytes;                 /* bytes/s of one */
} units[] = {
    { "bit", 1.0 / 8 },  { "kbit", 1e3 / 8 }, { "Mbit", 1e6 / 8 },
    { "Gbit", 1e9 / 8 }, { "Tbit", 1e12 / 8 },
    { "bps", 1.0 / 8 },  { "kbps", 1e3 / 8 }, { "Mbps", 1e6 / 8 },
    { "Gbps", 1e9 / 8 }, { "Tbps", 1e12 / 8 },
    { "B", 1 }, { "KiB", 1024.0 }, { "MiB", 1048576.0 },
    { "GiB", 1073741824.0 }, { "TiB", 1099511627776.0 },
};

static int fail(char *why, size_t len, const char *s, const char *what)
{
    if (why && len)
        snprintf(why, len, "bandwidth '%s': %s", s, what);
    return LIBXLMIG_ERROR_INVAL;
}

int libxlmig_bandwidth_parse(const char *s, uint64_t *bps_r, char *why,
                             size_t len)
{
    char unit[16], range[128];
    const char *p, *u;
    double v, mult = 1e6 / 8;     /* a bare number: Mbit/s */
    size_t i, n;

    if (!s)
        return fail(why, len, "", UNITS_HINT);
    for (p = s; isspace((unsigned char)*p); p++)
        ;
    if (!strcasecmp(p, "unlimited")) {
        *bps_r = 0;
        return 0;
    }
    /* Digits and one point only: no sign, exponent, hex, inf or nan. */
    for (u = p, n = 0; isdigit((unsigned char)*u) || *u == '.'; u++)
        n += *u == '.';
    if (u == p || n > 1 || (u == p + 1 && *p == '.'))
        return fail(why, len, s, UNITS_HINT);
    v = strtod(p, NULL);
    while (isspace((unsigned char)*u)) u++;
    n = strlen(u);
    while (n && isspace((unsigned char)u[n - 1])) n--;
    if (n >= 2 && !strncmp(u + n - 2, "/s", 2)) {
        n -= 2;
        if (!n) return fail(why, len, s, UNITS_HINT);
    }
    if (n >= sizeof(unit))
        return fail(why, len, s, UNITS_HINT);
    memcpy(unit, u, n);
    unit[n] = 0;
    if (n) {
        for (i = 0; i < ARRAY_SIZE(units); i++)
            /* The multiple's letter in either case, the rest as is:
             * "mbit" is Mbit, "MBps" nothing, "b" not B. */
            if (strlen(units[i].name) == n && n > 1 &&
                tolower((unsigned char)unit[0]) ==
                tolower((unsigned char)units[i].name[0]) &&
                !strcmp(unit + 1, units[i].name + 1))
                break;
            else if (!strcmp(unit, units[i].name))
                break;
        if (i == ARRAY_SIZE(units))
            return fail(why, len, s, UNITS_HINT);
        mult = units[i].bytes;
    }
    v = round(v * mult);
    if (v == 0) {
        *bps_r = 0;
        return 0;
    }
    if (v < (double)LIBXLMIG_BANDWIDTH_MIN ||
        v > (double)LIBXLMIG_BANDWIDTH_MAX) {
        snprintf(range, sizeof(range), "out of range (0 or unlimited, or "
                 "1 Mbit/s to 10 Tbit/s = %llu Mbit/s)",
                 LIBXLMIG_BANDWIDTH_MAX * 8 / 1000000);
        return fail(why, len, s, range);
    }
    *bps_r = (uint64_t)v;
    return 0;
}

const char *libxlmig_bandwidth_str(double bps, bool limit, char *buf,
                                   size_t len)
{
    double mbit = bps * 8 / 1e6;

    if (limit && bps <= 0)
        snprintf(buf, len, "unlimited");
    else if (mbit >= 100 || mbit == floor(mbit))
        snprintf(buf, len, "%.0f Mbit/s", mbit);
    else
        snprintf(buf, len, "%.1f Mbit/s", mbit);
    return buf;
}
