/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Test support shared by the C tests (beside the TAP harness, not part
 * of it): a transport that says it authenticates every byte, as TLS does
 * (libxlmig__transport_sealed), while its reads and writes stay its own.
 * For the tests of what a stream leaves out over such a transport.
 */
#ifndef XLMIG_TESTS_SEALED_H
#define XLMIG_TESTS_SEALED_H

#include "net/net.h"

static inline bool test_sealed_yes(libxlmig__transport *t)
{
    (void)t;
    return true;
}

/* t sealed from now on; ops (the caller's, outliving t) holds t's ops
 * with the sealed one added. */
static inline void test_seal(libxlmig__transport *t,
                             libxlmig__transport_ops *ops)
{
    *ops = *t->ops;
    ops->sealed = test_sealed_yes;
    t->ops = ops;
}

#endif
