/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fuzz the migration stream reader: the stream header, the record loop
 * and the restore path of the engine (libxlmig__engine_restore) against
 * a sink that keeps a small buffer as guest RAM and discards the rest.
 * Arbitrary bytes must end in a clean error, never a crash, a leak or
 * undefined behaviour.  A stream with wrong checksums stops at the first
 * record, so when bit 0 of the first byte is set the harness rewrites the
 * header and every record checksum before feeding the stream: the fuzzer
 * then reaches the record semantics (page batches, checks, ordering).
 */
#include <sys/socket.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "backend/sim/sim.h"

/* Larger domains are refused by the sink, as a receiver refuses a
 * stream whose size does not match the domain it created. */
#define FUZZ_MAX_PAGES 64

static libxlmig_ctx *ctx;

typedef struct fuzz_sink {
    uint8_t *mem;
} fuzz_sink;

static int sink_create(libxlmig__gc *gc, void *priv, const char *config,
                       uint64_t nr_pages, uint8_t **mem_r)
{
    fuzz_sink *s = priv;

    if (nr_pages > FUZZ_MAX_PAGES)
        return LIBXLMIG_ERROR_INVAL;
    s->mem = calloc(nr_pages, LIBXLMIG__PAGE_SIZE);
    if (!s->mem)
        return LIBXLMIG_ERROR_NOMEM;
    *mem_r = s->mem;
    return 0;
}

static int sink_vcpu(libxlmig__gc *gc, void *priv, const void *buf,
                     uint32_t len)
{
    return len == sizeof(libxlmig__sim_regs) ? 0 : LIBXLMIG_ERROR_PROTOCOL;
}

static void sink_destroy(libxlmig__gc *gc, void *priv)
{
    fuzz_sink *s = priv;

    free(s->mem);
    s->mem = NULL;
}

/* Rewrite the header and record checksums of buf in place. */
static void fix_crcs(uint8_t *buf, size_t len)
{
    libxlmig__stream_hdr h;
    libxlmig__rec_hdr r;
    size_t off, body, covered;
    uint32_t npfn;

    if (len < sizeof(h))
        return;
    memcpy(&h, buf, sizeof(h));
    h.crc = libxlmig__crc32c(0, &h, offsetof(libxlmig__stream_hdr, crc));
    memcpy(buf, &h, sizeof(h));
    for (off = sizeof(h); off + sizeof(r) <= len; off += sizeof(r) + body) {
        memcpy(&r, buf + off, sizeof(r));
        body = r.body_len;
        if (body > len - off - sizeof(r))
            break;
        /* A page data record's checksum leaves out the page data. */
        covered = body;
        if (r.type == LIBXLMIG__REC_PAGE_DATA && body >= 8) {
            memcpy(&npfn, buf + off + sizeof(r), 4);
            if (8 + (uint64_t)npfn * 8 < covered)
                covered = 8 + (size_t)npfn * 8;
        }
        r.crc = libxlmig__crc32c(0, &r, 8);
        r.crc = libxlmig__crc32c(r.crc, buf + off + sizeof(r), covered);
        memcpy(buf + off, &r, sizeof(r));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_sink s = { NULL };
    libxlmig__mig_sink sink = {
        .priv = &s, .mem_zeroed = true, .create = sink_create,
        .vcpu_state = sink_vcpu, .destroy = sink_destroy,
    };
    libxlmig_stats st;
    uint8_t *buf;
    int sv[2], rc;

    /* FUZZ_VERBOSE=1 shows why each input was refused. */
    if (!ctx && libxlmig_ctx_alloc(&ctx, getenv("FUZZ_VERBOSE") ?
            (xentoollog_logger *)xtl_createlogger_stdiostream(stderr,
                XTL_DEBUG, 0) : NULL))
        abort();
    /* The socket buffer holds the whole input: no writer thread. */
    if (size < 1 || size > 100000)
        return 0;
    buf = malloc(size);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    if (buf[0] & 1)
        fix_crcs(buf + 1, size - 1);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        abort();
    {
        int bufsz = 1 << 20;

        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
        setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
    }
    if (write(sv[1], buf + 1, size - 1) != (ssize_t)(size - 1))
        abort();
    shutdown(sv[1], SHUT_WR);
    {
        GC_INIT(ctx);

        rc = libxlmig__engine_restore_fd(gc, &sink, sv[0], NULL, &st);
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "restore: rc %d\n", rc);
        GC_FREE;
    }
    /* A successful restore leaves the domain to the caller. */
    free(s.mem);
    close(sv[0]);
    close(sv[1]);
    free(buf);
    return 0;
}
