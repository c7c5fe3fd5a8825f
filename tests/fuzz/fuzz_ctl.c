/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fuzz the front of xlmigd's control socket: reading a request line (and
 * the fds passed with it), parsing it and finding its op, as the daemon
 * does before it dispatches.  Arbitrary bytes must end in a clean error.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "feed.h"

#include "host/ctl.h"

static libxlmig_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    libxlmig__ctl_conn c = { -1, -1, false };
    yajl_val req;
    char *line;
    feed f;
    int sv[2], rc;

    if (!ctx && libxlmig_ctx_alloc(&ctx, NULL))
        abort();
    if (size > (1u << 20))
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        abort();
    feed_start(&f, sv[1], data, size);
    c.sock = sv[0];
    {
        GC_INIT(ctx);

        rc = libxlmig__ctl_read_request(gc, &c, &line);
        if (!rc) rc = libxlmig__json_parse(gc, line, "request", &req);
        if (!rc) rc = libxlmig__json_check_version(gc, req, "request", 1);
        if (!rc) (void)libxlmig__json_get_str(req, "op");
        GC_FREE;
    }
    feed_wait(&f);
    if (c.fd >= 0) close(c.fd);
    close(sv[0]);
    return 0;
}
