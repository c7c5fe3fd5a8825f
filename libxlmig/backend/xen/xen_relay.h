/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The relay of a Xen migration stream through xlmig's transport
 * (xen_relay.c).  libxl writes its stream into, or reads it from, one end
 * of a local socket pair; a relay thread in the same process moves every
 * byte between the other end and the migration's transport, framed so
 * that the receiver knows where the Xen stream ends on a connection that
 * carries control messages after it (docs/stream.md, "The Xen stream on
 * the wire").  Nothing here includes libxl: the relay is tested alone
 * (tests/unit/xen-relay.c).
 *
 * Ownership: the caller owns both ends of the pair and the transport;
 * while the relay thread runs, only it uses the transport and its end of
 * the pair (r->fd).  Cancel by shutting the transport down
 * (libxlmig__transport_shutdown) from any thread: the relay then fails
 * and shuts its end down, so that libxl's reads and writes fail too.
 */
#ifndef LIBXLMIG_BACKEND_XEN_RELAY_H
#define LIBXLMIG_BACKEND_XEN_RELAY_H

#include <pthread.h>

#include "core/core.h"
#include "net/net.h"

/* Frame header: magic, type, payload length, CRC32C (network order). */
#define XEN_RELAY_MAGIC      0x58525359u   /* "XRSY" */
#define XEN_RELAY_DATA       1u    /* 1..XEN_RELAY_CHUNK_MAX stream bytes */
#define XEN_RELAY_END        2u    /* 8 bytes: total stream bytes sent */
#define XEN_RELAY_ABORT      3u    /* empty: the sender's libxl failed */
#define XEN_RELAY_SEALED     4u    /* DATA whose CRC covers the header
                                    * only: the transport authenticates
                                    * every byte (TLS) */
#define XEN_RELAY_CHUNK_MAX  (1u << 20)     /* bytes of one DATA frame */

typedef struct xen_relay_hdr {
    uint32_t magic;
    uint32_t type;
    uint32_t len;
    uint32_t crc;      /* CRC32C of magic, type, len, then the payload
                        * (not of a SEALED one's) */
} xen_relay_hdr;

typedef struct libxlmig__xen_relay {
    /* caller-set, before a start */
    libxlmig__transport *t;    /* the migration's (not owned) */
    int fd;                    /* the relay's end of the pair (not owned) */
    /* Called from the relay thread every tick_ms or so while it runs,
     * and once more as it ends (NULL: never). */
    void (*tick)(void *user);
    void *tick_user;
    unsigned tick_ms;
    /* NULL, or where the relay also stores bytes after every frame sent
     * (shared memory another process reads: the save helper's shim). */
    uint64_t *mirror;
    /* shared: the relay writes, others read with __atomic_load_n */
    uint64_t bytes;            /* stream bytes relayed so far (bytes) */
    /*
     * The relay's own account, filled as it ends (read them after _wait,
     * or after _send/_recv returned): its wall time from start to end,
     * its thread's CPU time (CLOCK_THREAD_CPUTIME_ID, ticks included),
     * and the part of it spent inside the transport's calls on t
     * (write_all sending, read_all receiving; on several paths the
     * path threads' work is not in it).  cpu_us - transport_cpu_us is
     * the relay's own cost: the local pair's copy and the framing.
     */
    uint64_t wall_us;
    uint64_t cpu_us;
    uint64_t transport_cpu_us;
    /* private to xen_relay.c */
    libxlmig_ctx *ctx;
    libxlmig__transport *local;   /* fd as a transport */
    uint64_t t_tick_us;
    uint64_t t0_us;               /* the relay began (wall) */
    uint64_t cpu0_ns;             /* its thread's CPU then */
    uint64_t transport_ns;        /* CPU inside the transport so far */
    pthread_t thread;
    bool running;
    bool sending;
    int rc;
} libxlmig__xen_relay;

/* Zero *r's private part; set the caller's fields after it. */
_hidden void libxlmig__xen_relay_init(libxlmig__xen_relay *r);

/*
 * Sending side: relay what arrives on r->fd to r->t as DATA frames until
 * the end of input on r->fd (the writer shut its end down).  On a failure
 * of the transport r->fd is shut down both ways, so that its writer gets
 * EPIPE.  _send runs in the caller's thread; _send_start in a thread of
 * its own, ended with _wait.
 */
_hidden int libxlmig__xen_relay_send(libxlmig__gc *gc, libxlmig__xen_relay *r);
_hidden int libxlmig__xen_relay_send_start(libxlmig__gc *gc,
                                           libxlmig__xen_relay *r);
/*
 * After the sending relay ended: tell the receiver how the stream ends,
 * END (ok: every byte of it was sent, with the total) or ABORT (the
 * stream failed here; nothing more of it follows).
 */
_hidden int libxlmig__xen_relay_send_end(libxlmig__gc *gc,
                                         libxlmig__xen_relay *r, bool ok);

/*
 * Receiving side: write the DATA frames from r->t into r->fd until the
 * END frame (then r->fd is shut down for writing: its reader sees the end
 * of input).  ABORT, a bad frame, a broken transport or a reader that
 * went away fail it, and r->fd is shut down both ways.
 */
_hidden int libxlmig__xen_relay_recv(libxlmig__gc *gc, libxlmig__xen_relay *r);
_hidden int libxlmig__xen_relay_recv_start(libxlmig__gc *gc,
                                           libxlmig__xen_relay *r);

/* Wait for a started relay to end: its result (0, or the logged error). */
_hidden int libxlmig__xen_relay_wait(libxlmig__xen_relay *r);

/*
 * A connected pair of local stream sockets, close-on-exec, with the
 * system's default buffers: pair_r[0] for libxl, pair_r[1] for the relay.
 */
_hidden int libxlmig__xen_relay_pair(libxlmig__gc *gc, int pair_r[2]);

#endif /* LIBXLMIG_BACKEND_XEN_RELAY_H */
