/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fuzz the control-message reader and the request dispatcher: arbitrary
 * bytes from a peer must end in a clean error, never a crash, a leak or
 * undefined behaviour.  The first input byte chooses an unkeyed or keyed
 * channel (bit 0) and the raw reader or the dispatcher (bit 1).
 */
#include <sys/socket.h>
#include <unistd.h>

#include "feed.h"

#include "net/net.h"
#include "cluster/cluster.h"

static libxlmig_ctx *ctx;

static int h_echo(libxlmig__gc *gc, void *opaque, yajl_val args, yajl_gen g)
{
    return libxlmig__yajl_gen_str(g, libxlmig__json_get_str(args, "x")) ==
           yajl_gen_status_ok ? 0 : LIBXLMIG_ERROR_JSON;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const libxlmig__rpc_op ops[] = { { "echo", h_echo } };
    static const unsigned char key[LIBXLMIG_MAC_LEN] = { 7 };
    libxlmig__transport *t = NULL;
    libxlmig__chan c;
    unsigned type;
    char *payload;
    feed f;
    int sv[2], i, rc;

    if (!ctx && libxlmig_ctx_alloc(&ctx, NULL))
        abort();
    if (size < 1 || size > (2u << 20))
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        abort();
    /* A peer writing while the daemon reads: inputs as large as a whole
     * frame and more fit. */
    feed_start(&f, sv[1], data + 1, size - 1);
    {
        GC_INIT(ctx);

        libxlmig__transport_fd_open(gc, sv[0], "fuzz", &t);
        t->timeout_ms = 1000;
        libxlmig__chan_init(&c, t);
        if (data[0] & 1)
            libxlmig__chan_set_keys(&c, key, key);
        for (i = 0; i < 16; i++) {
            if (data[0] & 2)
                rc = libxlmig__rpc_serve_one(gc, &c, ops, 1, NULL);
            else
                rc = libxlmig__msg_recv(gc, &c, &type, &payload, NULL);
            if (rc)
                break;
        }
        libxlmig__chan_dispose(&c);
        libxlmig__transport_free(t);
        GC_FREE;
    }
    feed_wait(&f);
    return 0;
}
