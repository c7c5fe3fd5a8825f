/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Names and identifiers as the protocol and the state directory allow
 * them, and their hex form.
 */
#include <ctype.h>

#include "core/core.h"

bool libxlmig__name_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    size_t i;

    if (n == 0 || n > max || s[0] == '.')
        return false;
    for (i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || strchr("._-", s[i])))
            return false;
    return true;
}

void libxlmig__hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

bool libxlmig__id_ok(const char *id)
{
    size_t i;

    if (!id || strlen(id) != LIBXLMIG__ID_LEN)
        return false;
    for (i = 0; i < LIBXLMIG__ID_LEN; i++)
        if (!isdigit((unsigned char)id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
            return false;
    return true;
}
