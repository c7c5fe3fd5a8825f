/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fuzz the handshake server: what any host on a migration network can
 * send before it is known.  Arbitrary bytes from the peer must end in a
 * clean refusal, never a crash, a leak or undefined behaviour, however
 * large (up to the frame limit) or deeply nested they are.
 *
 * This is the plain message layer: all a peer reaches with transport =
 * "plain", and what runs inside TLS otherwise.  The transport preamble
 * and TLS itself (OpenSSL's record and handshake parsing) come before
 * it and are not fuzzed here; tests/unit/tls.c covers their refusals.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "feed.h"

#include "net/net.h"

static libxlmig_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char keybytes[32] = "fuzz-cluster-key-0123456789abcd";
    libxlmig__key k = { keybytes, sizeof(keybytes) };
    libxlmig__transport *t = NULL;
    libxlmig__chan c;
    char *peer = NULL;
    feed f;
    int sv[2];

    if (!ctx && libxlmig_ctx_alloc(&ctx, NULL))
        abort();
    if (size > (2u << 20))
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        abort();
    feed_start(&f, sv[1], data, size);
    {
        GC_INIT(ctx);

        libxlmig__transport_fd_open(gc, sv[0], "fuzz", &t);
        t->timeout_ms = 1000;
        libxlmig__chan_init(&c, t);
        (void)libxlmig__handshake_server(gc, &c, &k, "node2", &peer);
        libxlmig__chan_dispose(&c);
        libxlmig__transport_free(t);
        GC_FREE;
    }
    feed_wait(&f);
    return 0;
}
