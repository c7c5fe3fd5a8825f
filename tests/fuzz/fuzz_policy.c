/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fuzz the CPU policy file parser (policy/policy_json.c): any JSON text
 * must end in a policy or a clean error message, never a crash or
 * undefined behaviour.  A policy that parses is written back as JSON and
 * parsed again, which must succeed: what xlmig writes it reads.
 */
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct policy_cpuid p, q;
    char err[512], *text;
    const unsigned char *out;
    size_t outlen;
    yajl_gen g;

    if (size > 65536)
        return 0;
    text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = 0;
    if (policy_parse_json_text(text, "fuzz", &p, err, sizeof(err))) {
        g = yajl_gen_alloc(NULL);
        if (!g || policy_gen_json(g, &p) != yajl_gen_status_ok ||
            yajl_gen_get_buf(g, &out, &outlen) != yajl_gen_status_ok)
            abort();
        free(text);
        text = strndup((const char *)out, outlen);
        if (!text || !policy_parse_json_text(text, "fuzz", &q, err,
                                             sizeof(err)))
            abort();
        yajl_gen_free(g);
    } else if (!err[0]) {
        abort();   /* a failure always says why */
    }
    free(text);
    return 0;
}
