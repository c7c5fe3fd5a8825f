/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The net layer: the transport (the only code that reads or writes a
 * peer's socket or a stream's fd: exact reads and writes with timeouts
 * and counters, so TLS or parallel streams can be added without touching
 * the engine), framed control messages with magic, version, CRC32C and,
 * once authenticated, an HMAC-SHA256 tag and sequence number, the mutual
 * challenge-response handshake on the cluster key, and requests and
 * replies.  Includes only the core.
 *
 * Ownership: a transport owns its fd and closes it in _free.  A channel
 * is used by one thread at a time; a transport may have one reader and
 * one writer thread at the same time (full duplex), and
 * libxlmig__transport_shutdown from a third.
 */
#ifndef LIBXLMIG_NET_H
#define LIBXLMIG_NET_H

#include <sys/types.h>
#include <sys/uio.h>

#include "core/core.h"

/* ---- transport ---- */

typedef struct libxlmig__transport libxlmig__transport;

/*
 * A token bucket: rate bytes/s, bursts of a tenth of a second (at least
 * 256 KiB).  Not locked: its owner serialises the calls.
 */
typedef struct libxlmig__bucket {
    uint64_t rate;             /* bytes/s; 0: no limit */
    double tokens;
    uint64_t last_us;
} libxlmig__bucket;

/* Take n bytes; how long (us) the caller must wait before it sends
 * more (0: at once). */
_hidden uint64_t libxlmig__bucket_take(libxlmig__bucket *b, size_t n);

typedef struct libxlmig__transport_ops {
    const char *name;
    /* Like writev(2)/read(2): may be partial; -1 with errno on error. */
    ssize_t (*writev)(libxlmig__transport *t, const struct iovec *iov,
                      int iovcnt);
    ssize_t (*read)(libxlmig__transport *t, void *buf, size_t len);
    ssize_t (*readv)(libxlmig__transport *t, const struct iovec *iov,
                     int iovcnt);
    void (*close)(libxlmig__transport *t);
    /* The ops wait for the fd themselves, honouring timeout_ms and
     * deadline_us, and fail with ETIME when that wait expires (TLS:
     * buffered data). */
    bool waits;
    /* May bytes be written to fd directly, bypassing writev (guest pages
     * by reference)?  NULL: yes. */
    bool (*fd_writes_ok)(libxlmig__transport *t);
    /* "TLS 1.3 (kernel send)", ...; NULL: "unencrypted". */
    const char *(*security)(libxlmig__transport *t);
    /* Why the last failed write (send) or read did, beyond errno
     * ("TLS: bad record mac"); NULL: errno says it. */
    const char *(*why)(libxlmig__transport *t, bool send);
    /* Optional: libxlmig__transport_shutdown (default: shutdown(2) of
     * fd); _send_pages and _by_ref (default: vmsplice into fd when it is
     * a socket and fd_writes_ok); _set_limit (default: the transport's
     * own bucket); _fd (default: fd). */
    void (*shutdown)(libxlmig__transport *t);
    int (*send_pages)(libxlmig__gc *gc, libxlmig__transport *t,
                      struct iovec *iov, int iovcnt);
    bool (*by_ref)(libxlmig__transport *t);
    /* Does t authenticate every byte (an AEAD: TLS)?  NULL: no. */
    bool (*sealed)(libxlmig__transport *t);
    void (*set_limit)(libxlmig__transport *t, uint64_t bytes_per_s);
    int (*fd_of)(libxlmig__transport *t);
    /* libxlmig__transport_drain (default: the socket's send queue). */
    int (*drain)(libxlmig__transport *t, int timeout_ms);
} libxlmig__transport_ops;

struct libxlmig__transport {
    /* caller-set */
    int timeout_ms;            /* inactivity limit per operation; -1: none */
    uint64_t deadline_us;      /* libxlmig__now_us by which every operation
                                * must be done (a handshake's); 0: none */
    /* shared */
    const libxlmig__transport_ops *ops;
    int fd;
    char *peer;                /* "10.10.0.2:8002 (mig0)", for messages */
    uint64_t bytes_sent;       /* bytes written */
    uint64_t bytes_by_ref;     /* of them, sent by reference */
    uint64_t bytes_received;   /* bytes read */
    /* private to the ops */
    void *priv;
    libxlmig_ctx *log_ctx;     /* whose logger ops without a gc use */
    /* private to transport.c: the bandwidth limit of transports without
     * their own (set_limit) */
    libxlmig__bucket limit;
    /* private to transport.c: guest pages sent by reference */
    int by_ref;                /* 0: not tried yet, 1: on, -1: off */
    int pipe_fd[2];            /* vmsplice() into [1], splice() from [0] */
};

#define LIBXLMIG_DEFAULT_IO_TIMEOUT_MS 30000
/* While a memory stream flows, neither side may fall silent longer
 * (ms): a stalled stream ends instead of holding a thread and a partial
 * domain; dead links are noticed sooner by TCP's user timeout. */
#define LIBXLMIG_STREAM_TIMEOUT_MS 60000

/*
 * Wrap a connected socket or pipe.  The transport owns fd from now on,
 * also on failure.  peer names the other end in messages.  Caller frees
 * *t_r with libxlmig__transport_free.
 */
_hidden int libxlmig__transport_fd_open(libxlmig__gc *gc, int fd,
                                        const char *peer,
                                        libxlmig__transport **t_r);
/*
 * The same for an fd the caller keeps: libxlmig__transport_free leaves it
 * open.  For streams on files, pipes and fds passed in by callers.
 */
_hidden int libxlmig__transport_fd_borrow(libxlmig__gc *gc, int fd,
                                          const char *peer,
                                          libxlmig__transport **t_r);
_hidden void libxlmig__transport_free(libxlmig__transport *t);
/*
 * Shut the connection down both ways: every read and write on it, in any
 * thread, fails from now.  Only for a transport the caller knows is not
 * freed meanwhile (a lock they share with its owner).
 */
_hidden void libxlmig__transport_shutdown(libxlmig__transport *t);
/*
 * Limit what t sends to bytes_per_s (0: no limit), from now on: every
 * write waits as the bucket says.  Over a migration's paths one bucket
 * holds all paths' bytes on the wire.
 */
_hidden void libxlmig__transport_set_limit(libxlmig__transport *t,
                                           uint64_t bytes_per_s);
/* The socket under t, for fault injection (core/fault.c); -1: none. */
_hidden int libxlmig__transport_fd(libxlmig__transport *t);
/*
 * Wait, at most timeout_ms, until the peer has everything written so far:
 * its TCP acknowledged it (a socket), or its reader consumed it (the
 * migration paths).  0 once so (at once on files and pipes), -1 if not
 * yet when the time is up.
 */
_hidden int libxlmig__transport_drain(libxlmig__transport *t, int timeout_ms);

/*
 * Write or read exactly len bytes, honouring timeout_ms; logged errors.
 * These are the only loops that write or read all of something: every
 * layer above calls them.  writev_all consumes iov.  what names what is
 * read in the messages ("message", "migration stream (record header)"):
 * an end of input before len bytes is LIBXLMIG_ERROR_PROTOCOL, "WHAT
 * truncated: connection closed by PEER (N of LEN bytes received)".
 */
_hidden int libxlmig__transport_write_all(libxlmig__gc *gc,
                                          libxlmig__transport *t,
                                          const void *buf, size_t len);
_hidden int libxlmig__transport_writev_all(libxlmig__gc *gc,
                                           libxlmig__transport *t,
                                           struct iovec *iov, int iovcnt);
_hidden int libxlmig__transport_read_all(libxlmig__gc *gc,
                                         libxlmig__transport *t,
                                         void *buf, size_t len,
                                         const char *what);
/*
 * Read what is there, at most len bytes, waiting as read_all does until
 * something is; *got_r 0 at the end of input; errors logged, what named.
 * For relays and frames that pass a stream on as it comes.
 */
_hidden int libxlmig__transport_read_some(libxlmig__gc *gc,
                                          libxlmig__transport *t,
                                          void *buf, size_t len,
                                          size_t *got_r, const char *what);
/* The same into the buffers of iov, filled in order: one call to the
 * transport, however many buffers it fills. */
_hidden int libxlmig__transport_readv_some(libxlmig__gc *gc,
                                           libxlmig__transport *t,
                                           const struct iovec *iov,
                                           int iovcnt, size_t *got_r,
                                           const char *what);
/* The same into the buffers of iov (consumed). */
_hidden int libxlmig__transport_readv_all(libxlmig__gc *gc,
                                          libxlmig__transport *t,
                                          struct iovec *iov, int iovcnt,
                                          const char *what);
/* Step iov/iovcnt past done bytes (a partial writev or readv). */
_hidden void libxlmig__iov_advance(struct iovec **iov, int *iovcnt,
                                   size_t done);

/*
 * Guest pages by reference (zero-copy): when the fd is a socket, pages go
 * through a pipe with vmsplice() and splice(), and the socket's buffers
 * refer to the pages instead of holding a copy, until the peer reads them.
 * A page written meanwhile arrives with the new content, so only guest RAM
 * whose changes the stream tolerates may be sent so (docs/stream.md,
 * PAGE_DATA flags).  _by_ref says whether _send_pages will do so (it sets
 * up the pipe on first use; XLMIG_ENGINE_NO_SPLICE=1 turns it off);
 * _send_pages writes exactly iov's bytes, by reference if it can, else by
 * copying, like libxlmig__transport_writev_all.
 */
_hidden bool libxlmig__transport_by_ref(libxlmig__transport *t);
_hidden int libxlmig__transport_send_pages(libxlmig__gc *gc,
                                           libxlmig__transport *t,
                                           struct iovec *iov, int iovcnt);

/*
 * Wait until t's fd is ready for events, at most timeout_ms and never
 * past deadline_us: 0, or -1 with errno (ETIMEDOUT).  Not logged.
 */
_hidden int libxlmig__transport_poll(libxlmig__transport *t, short events);

/* ---- transport security (tls.c) ---- */

struct libxlmig__key;                      /* the cluster key, below */

/*
 * Before anything else on a connection between nodes, each side sends an
 * 8-byte preamble naming its transport mode, and reads the other's: a
 * node configured otherwise gets a clear error on both sides instead of
 * a failed TLS handshake.
 */
typedef enum libxlmig__transport_mode {
    LIBXLMIG_TRANSPORT_TLS = 0,     /* TLS 1.3 keyed by the cluster key */
    LIBXLMIG_TRANSPORT_PLAIN = 1,   /* unencrypted (HMAC on control only) */
} libxlmig__transport_mode;

#define LIBXLMIG_PREAMBLE_LEN 8
_hidden const char *libxlmig__transport_mode_name(
    libxlmig__transport_mode mode);
/*
 * Send our preamble and check the peer's.  peer_node (may be NULL) names
 * the peer in messages (the client knows whom it called).  A mismatch is
 * LIBXLMIG_ERROR_REFUSED: "node2 requires transport = tls; this node is
 * configured with transport = plain".
 */
_hidden int libxlmig__transport_preamble(libxlmig__gc *gc,
                                         libxlmig__transport *t,
                                         libxlmig__transport_mode mode,
                                         const char *peer_node);

/* Does a node of this name belong to the cluster?  (The TLS server's
 * PSK lookup.) */
typedef bool libxlmig__tls_known_fn(void *opaque, const char *node);

/*
 * Turn the plain fd transport t (connected socket) into TLS 1.3 over the
 * same fd, in place: external PSK, identity = the client's node name,
 * key = HKDF-SHA256 of the cluster key bound to that name (docs/
 * protocol.md); no certificates, no tickets, no 0-RTT; AES-GCM; kernel
 * TLS where the kernel has it.  timeout_ms and deadline_us bound the
 * handshake.  want_peer (may be NULL) names the server in messages.  A
 * failed handshake is LIBXLMIG_ERROR_AUTH, logged; t is then unusable
 * (free it).
 */
_hidden int libxlmig__transport_tls_client(libxlmig__gc *gc,
                                           libxlmig__transport *t,
                                           const struct libxlmig__key *key,
                                           const char *my_node,
                                           const char *want_peer);
/* The server side: the client's identity must be a node known() says is
 * one, else the handshake is refused. */
_hidden int libxlmig__transport_tls_server(libxlmig__gc *gc,
                                           libxlmig__transport *t,
                                           const struct libxlmig__key *key,
                                           libxlmig__tls_known_fn *known,
                                           void *opaque);
/* "TLS 1.3 (kernel send)", "TLS 1.3 (user space)" or "unencrypted". */
_hidden const char *libxlmig__transport_security(libxlmig__transport *t);
/*
 * Does t authenticate every byte it carries, both ways (TLS once the
 * handshake is done)?  A stream over it needs no checksums of its own
 * for integrity: a changed byte fails the record it is in.
 */
_hidden bool libxlmig__transport_sealed(libxlmig__transport *t);
/* What TLS a new connection from here would get: "TLS 1.3 (kernel send)"
 * when the kernel takes TLS on a socket, else "TLS 1.3 (user space)". */
_hidden const char *libxlmig__tls_expected_security(void);
/* The PSK identity (client node name) a TLS server accepted, or NULL. */
_hidden const char *libxlmig__transport_tls_identity(libxlmig__transport *t);

/* ---- migration paths (multipath.c, mp_format.h) ---- */

typedef struct libxlmig__mp_opts {
    uint64_t bandwidth_limit;  /* bytes/s over every path; 0: none */
    libxlmig_compression compression;  /* of DATA frames sent (0: off) */
} libxlmig__mp_opts;

/*
 * The source side: a transport over paths[0..n) (taken over, also on
 * failure), which announces n on paths[0].  names[i] names path i in
 * reports (NULL: the transport's peer).  One path is sent on directly,
 * several are striped with resending when one fails (multipath.c).  The
 * result is freed with libxlmig__transport_free, which first waits a
 * bounded time until the peer has everything.
 */
_hidden int libxlmig__mp_open(libxlmig__gc *gc, libxlmig__transport **paths,
                              char **names, int n,
                              const libxlmig__mp_opts *o,
                              libxlmig__transport **t_r);
/*
 * The target side: read the announcement on first (taken over, also on
 * failure), then ask join for paths 1..n-1, each a transport it hands
 * over, and its name (arena).
 */
typedef int libxlmig__mp_join_fn(libxlmig__gc *gc, void *opaque, int index,
                                 libxlmig__transport **t_r, char **name_r);
_hidden int libxlmig__mp_accept(libxlmig__gc *gc, libxlmig__transport *first,
                                const char *first_name,
                                libxlmig__mp_join_fn *join, void *opaque,
                                const libxlmig__mp_opts *o,
                                libxlmig__transport **t_r);
/* The paths of t as a JSON array into g (empty if t is not paths). */
_hidden void libxlmig__mp_gen_paths(libxlmig__transport *t, yajl_gen g);
/* What compression did on t: members of an open JSON object (per
 * algorithm frames and bytes, CPU time, ratio), none when it was off. */
_hidden void libxlmig__mp_gen_compression(libxlmig__transport *t,
                                          yajl_gen g);
/* How many of t's paths are up. */
_hidden int libxlmig__mp_paths_up(libxlmig__transport *t);

/* ---- framed messages ---- */

#define LIBXLMIG_MSG_MAGIC   0x584c4d50u  /* "XLMP" */
#define LIBXLMIG_MSG_VERSION 1
#define LIBXLMIG_MSG_MAX     (1u << 20)   /* payload bytes */
/* Before the handshake keys a channel, nobody is known: HELLO, CHALLENGE,
 * AUTH and REFUSED are small, and anything larger is refused unread. */
#define LIBXLMIG_MSG_MAX_PREAUTH 4096u
#define LIBXLMIG_MAC_LEN     32           /* HMAC-SHA256 */
#define LIBXLMIG_NONCE_LEN   32

typedef enum libxlmig__msg_type {
    LIBXLMIG_MSG_HELLO = 1,      /* client: node, nonce */
    LIBXLMIG_MSG_CHALLENGE = 2,  /* server: node, nonce, server proof */
    LIBXLMIG_MSG_AUTH = 3,       /* client: client proof */
    LIBXLMIG_MSG_WELCOME = 4,    /* server: authenticated */
    LIBXLMIG_MSG_REFUSED = 5,    /* either: reason; connection ends */
    LIBXLMIG_MSG_REQUEST = 6,    /* JSON request */
    LIBXLMIG_MSG_REPLY = 7,      /* JSON reply */
    LIBXLMIG_MSG_EVENT = 8,      /* JSON progress or handoff event */
    LIBXLMIG_MSG__MAX = 8,
} libxlmig__msg_type;

_hidden const char *libxlmig__msg_type_to_string(unsigned type);

/*
 * A framed, optionally authenticated message channel over a transport.
 * Before libxlmig__chan_set_keys messages carry only a CRC32C; after it
 * every message carries HMAC-SHA256(the sender's direction key, seq ||
 * header || payload) and a receiver refuses a message without a valid
 * tag.
 */
typedef struct libxlmig__chan {
    libxlmig__transport *t;     /* not owned */
    bool keyed;
    /* One key per direction, so that a message cannot be reflected back
     * to its sender. */
    unsigned char send_key[LIBXLMIG_MAC_LEN];
    unsigned char recv_key[LIBXLMIG_MAC_LEN];
    uint64_t send_seq, recv_seq;
} libxlmig__chan;

_hidden void libxlmig__chan_init(libxlmig__chan *c, libxlmig__transport *t);
_hidden void libxlmig__chan_dispose(libxlmig__chan *c);
_hidden void libxlmig__chan_set_keys(libxlmig__chan *c,
                                     const unsigned char send[LIBXLMIG_MAC_LEN],
                                     const unsigned char recv[LIBXLMIG_MAC_LEN]);

_hidden int libxlmig__msg_send(libxlmig__gc *gc, libxlmig__chan *c,
                               unsigned type, const void *payload,
                               uint32_t len);
/*
 * Receive one message.  *payload_r is arena memory with a NUL after the
 * payload (JSON payloads are C strings).  A REFUSED message is returned
 * as such; the caller decides.
 */
_hidden int libxlmig__msg_recv(libxlmig__gc *gc, libxlmig__chan *c,
                               unsigned *type_r, char **payload_r,
                               uint32_t *len_r);
/*
 * Receive a message of type want.  A REFUSED message becomes
 * LIBXLMIG_ERROR_REFUSED with the peer's reason logged; any other type is
 * a protocol error.
 */
_hidden int libxlmig__msg_expect(libxlmig__gc *gc, libxlmig__chan *c,
                                 unsigned want, char **payload_r,
                                 uint32_t *len_r);

/* ---- cluster key and handshake ---- */

#define LIBXLMIG_KEY_MIN 16   /* bytes */
#define LIBXLMIG_KEY_MAX 4096

typedef struct libxlmig__key {
    unsigned char *bytes;      /* malloc'd */
    size_t len;
} libxlmig__key;

_hidden void libxlmig__key_init(libxlmig__key *k);
_hidden void libxlmig__key_dispose(libxlmig__key *k);
/*
 * Load the cluster key.  Refuses a file that is not a regular file, that
 * group or others may read or write, or that is shorter than
 * LIBXLMIG_KEY_MIN bytes; each with a message naming the file.
 */
_hidden int libxlmig__key_load(libxlmig__gc *gc, const char *path,
                               libxlmig__key *k);

/*
 * Mutual challenge-response.  The client proves the key only after the
 * server has; each proof covers both fresh nonces, both node names and a
 * role label, so neither a replay nor a reflection passes.  On success
 * the channel is keyed with a session key derived from both nonces and
 * *peer_node_r (arena) names the authenticated peer.
 */
_hidden int libxlmig__handshake_client(libxlmig__gc *gc, libxlmig__chan *c,
                                       const libxlmig__key *k,
                                       const char *my_node,
                                       const char *want_peer,
                                       char **peer_node_r);
_hidden int libxlmig__handshake_server(libxlmig__gc *gc, libxlmig__chan *c,
                                       const libxlmig__key *k,
                                       const char *my_node,
                                       char **peer_node_r);

/* ---- requests and replies ---- */

/*
 * A request is {"version":1,"op":OP,"args":{...}}; a reply is
 * {"version":1,"result":VALUE} or {"version":1,"error":{"code":rc,
 * "name":...,"message":...}}.  A handler generates its result as one JSON
 * value into g, or returns an error code after logging the reason, which
 * is sent to the caller as the error message.
 */
typedef int libxlmig__rpc_handler(libxlmig__gc *gc, void *opaque,
                                  yajl_val args, yajl_gen g);

typedef struct libxlmig__rpc_op {
    const char *op;
    libxlmig__rpc_handler *fn;
} libxlmig__rpc_op;

/*
 * Send op with args_json (a JSON object text, or NULL for {}) and wait for
 * the reply.  *result_r is arena memory.  An error reply is logged with
 * the peer's message and its code returned.
 */
_hidden int libxlmig__rpc_call(libxlmig__gc *gc, libxlmig__chan *c,
                               const char *op, const char *args_json,
                               yajl_val *result_r);
/* The same, logging an error reply only at DEBUG (a request asked again
 * while the answer is the one already logged: "busy"). */
_hidden int libxlmig__rpc_call_quiet(libxlmig__gc *gc, libxlmig__chan *c,
                                     const char *op, const char *args_json,
                                     yajl_val *result_r);
/*
 * Serve one request from c with the handlers in ops.  Returns 0 once a
 * reply was sent, also an error reply (a failing handler, an unknown op).
 * Returns the channel's error when it fails, and LIBXLMIG_ERROR_PROTOCOL
 * for a malformed request after replying so.
 */
_hidden int libxlmig__rpc_serve_one(libxlmig__gc *gc, libxlmig__chan *c,
                                    const libxlmig__rpc_op *ops, size_t nops,
                                    void *opaque);

#endif /* LIBXLMIG_NET_H */
