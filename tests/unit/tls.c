/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Transport security (net/tls.c): the mode preamble and its mismatch
 * errors, the TLS 1.3 handshake on the cluster key (right key, wrong key,
 * an unknown node, a replayed handshake, a timeout), a flipped byte in
 * the stream, full-duplex use (a reader and a writer thread on each end,
 * large transfers both ways, data checked) and shutdown from a third
 * thread while both wait.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net/tls_record.h"
#include "tap.h"

static libxlmig_ctx *ctx;
static libxlmig__key key1, key2;

static void set_key(libxlmig__key *k, const char *s)
{
    k->len = strlen(s);
    k->bytes = (unsigned char *)strdup(s);
}

static bool known(void *opaque, const char *node)
{
    return !strcmp(node, "node1") || !strcmp(node, "node2");
}

/* ---- a server in a thread ---- */

typedef struct server_arg {
    int fd;
    const libxlmig__key *key;
    libxlmig__transport_mode mode;
    int rc;
    char error[512];
    char identity[80];
    char security[64];
    libxlmig__transport *t;    /* kept if keep */
    bool keep;
} server_arg;

static void *server_main(void *opaque)
{
    server_arg *a = opaque;
    libxlmig_ctx *sctx;
    libxlmig__transport *t = NULL;
    const char *id;

    if (libxlmig_ctx_alloc(&sctx, NULL))
        bail("cannot allocate a context");
    {
        libxlmig_ctx *ctx_ = sctx;
        GC_INIT(ctx_);

        libxlmig__transport_fd_open(gc, a->fd, "client", &t);
        t->timeout_ms = 5000;
        a->rc = libxlmig__transport_preamble(gc, t, a->mode, NULL);
        if (!a->rc && a->mode == LIBXLMIG_TRANSPORT_TLS)
            a->rc = libxlmig__transport_tls_server(gc, t, a->key, known,
                                                   NULL);
        snprintf(a->error, sizeof(a->error), "%s",
                 a->rc ? libxlmig_last_error(sctx) : "");
        id = libxlmig__transport_tls_identity(t);
        snprintf(a->identity, sizeof(a->identity), "%s", id ? id : "");
        snprintf(a->security, sizeof(a->security), "%s",
                 libxlmig__transport_security(t));
        if (a->keep && !a->rc)
            a->t = t;
        else
            libxlmig__transport_free(t);
        GC_FREE;
    }
    libxlmig_ctx_free(sctx);
    return NULL;
}

/* Client side over fd (taken): preamble, then TLS as node me. */
static int client(libxlmig__gc *gc, int fd, const libxlmig__key *k,
                  const char *me, libxlmig__transport_mode mode,
                  libxlmig__transport **t_r)
{
    libxlmig__transport *t;
    int rc;

    libxlmig__transport_fd_open(gc, fd, "node2-addr", &t);
    t->timeout_ms = 5000;
    rc = libxlmig__transport_preamble(gc, t, mode, "node2");
    if (!rc && mode == LIBXLMIG_TRANSPORT_TLS)
        rc = libxlmig__transport_tls_client(gc, t, k, me, "node2");
    if (rc || !t_r)
        libxlmig__transport_free(t);
    else
        *t_r = t;
    return rc;
}

static void socket_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        sysbail("socketpair");
}

/* A connected TLS pair: *c (client, node1) and *s (server). */
static void tls_pair(libxlmig__gc *gc, libxlmig__transport **c,
                     libxlmig__transport **s)
{
    server_arg a = { .key = &key1, .keep = true };
    pthread_t th;
    int sv[2], rc;

    socket_pair(sv);
    a.fd = sv[1];
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, sv[0], &key1, "node1", LIBXLMIG_TRANSPORT_TLS, c);
    pthread_join(th, NULL);
    if (rc || a.rc)
        bail("TLS pair: %s / %s", libxlmig_last_error(ctx), a.error);
    *s = a.t;
}

static void test_handshake(void)
{
    GC_INIT(ctx);
    server_arg a = { .key = &key1 };
    libxlmig__transport *t = NULL;
    pthread_t th;
    char buf[6];
    int sv[2], rc;

    socket_pair(sv);
    a.fd = sv[1];
    a.keep = true;
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, sv[0], &key1, "node1", LIBXLMIG_TRANSPORT_TLS, &t);
    pthread_join(th, NULL);
    is_int(0, rc, "TLS client with the cluster key connects");
    is_int(0, a.rc, "the server accepts it");
    is_string("node1", a.identity, "the server knows the client's node");
    like_string("TLS 1.3 (", a.security, "server: %s", a.security);
    if (t)
        like_string("TLS 1.3 (", libxlmig__transport_security(t),
                    "client: %s", libxlmig__transport_security(t));
    if (!rc && !a.rc) {
        is_int(0, libxlmig__transport_write_all(gc, t, "hello", 6),
               "client writes");
        is_int(0, libxlmig__transport_read_all(gc, a.t, buf, 6, "greeting"),
               "server reads");
        is_string("hello", buf, "the bytes arrive");
        is_bool(false, libxlmig__transport_by_ref(t) &&
                !strstr(libxlmig__transport_security(t), "kernel"),
                "no pages by reference past user-space TLS");
        libxlmig__transport_free(a.t);
        a.t = NULL;
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__transport_read_all(gc, t, buf, 1, "reply"),
               "the peer's close is an end of stream");
    }
    libxlmig__transport_free(t);

    /* a wrong key */
    socket_pair(sv);
    memset(&a, 0, sizeof(a));
    a.fd = sv[1];
    a.key = &key1;
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, sv[0], &key2, "node1", LIBXLMIG_TRANSPORT_TLS, NULL);
    pthread_join(th, NULL);
    is_int(LIBXLMIG_ERROR_AUTH, rc, "a client with the wrong key fails");
    like_string("same cluster key", libxlmig_last_error(ctx),
                "and says to check the key");
    is_int(LIBXLMIG_ERROR_AUTH, a.rc, "the server refuses it");
    like_string("without the cluster key", a.error, "saying why: %s",
                a.error);

    /* a node the server does not know */
    socket_pair(sv);
    memset(&a, 0, sizeof(a));
    a.fd = sv[1];
    a.key = &key1;
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, sv[0], &key1, "node9", LIBXLMIG_TRANSPORT_TLS, NULL);
    pthread_join(th, NULL);
    ok(rc != 0, "an unknown node name cannot connect");
    like_string("'node9', which is not a node of the cluster", a.error,
                "the server names it: %s", a.error);

    /* a silent server: the handshake times out */
    socket_pair(sv);
    {
        libxlmig__transport *c;
        uint64_t t0 = libxlmig__now_us();

        libxlmig__transport_fd_open(gc, sv[0], "silent", &c);
        c->timeout_ms = 200;
        rc = libxlmig__transport_tls_client(gc, c, &key1, "node1", "node2");
        is_int(LIBXLMIG_ERROR_TIMEOUT, rc, "a silent server times out");
        ok(libxlmig__now_us() - t0 < 2000000, "within its timeout");
        libxlmig__transport_free(c);
        close(sv[1]);
    }
    GC_FREE;
}

static void test_mismatch(void)
{
    GC_INIT(ctx);
    server_arg a = { .key = &key1, .mode = LIBXLMIG_TRANSPORT_TLS };
    pthread_t th;
    int sv[2], rc;

    socket_pair(sv);
    a.fd = sv[1];
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, sv[0], &key1, "node1", LIBXLMIG_TRANSPORT_PLAIN, NULL);
    pthread_join(th, NULL);
    is_int(LIBXLMIG_ERROR_REFUSED, rc, "a plain client and a TLS server: "
           "refused");
    is_string("node2 requires transport = tls; this node is configured "
              "with transport = plain", libxlmig_last_error(ctx),
              "the plain side names the mismatch");
    is_int(LIBXLMIG_ERROR_REFUSED, a.rc, "refused by the TLS side too");
    like_string("client is configured with transport = plain; this node "
                "requires transport = tls", a.error,
                "the TLS side names it: %s", a.error);

    socket_pair(sv);
    memset(&a, 0, sizeof(a));
    a.fd = sv[1];
    a.key = &key1;
    a.mode = LIBXLMIG_TRANSPORT_PLAIN;
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, sv[0], &key1, "node1", LIBXLMIG_TRANSPORT_PLAIN, NULL);
    pthread_join(th, NULL);
    ok(rc == 0 && a.rc == 0, "plain against plain connects");
    is_string("unencrypted", a.security, "and says it is unencrypted");

    /* not a preamble at all */
    socket_pair(sv);
    {
        libxlmig__transport *t;

        if (write(sv[1], "GET / HTTP/1.0\r\n", 16) != 16)
            sysbail("write");
        libxlmig__transport_fd_open(gc, sv[0], "stranger", &t);
        is_int(LIBXLMIG_ERROR_PROTOCOL,
               libxlmig__transport_preamble(gc, t, LIBXLMIG_TRANSPORT_TLS,
                                            NULL),
               "a stranger's bytes are refused");
        like_string("did not open with an xlmig transport preamble",
                    libxlmig_last_error(ctx), "saying so");
        libxlmig__transport_free(t);
        close(sv[1]);
    }
    GC_FREE;
}

/* ---- a relay between two sockets: records, or flips a byte ---- */

typedef struct relay_arg {
    int a, b;                  /* a: client side, b: server side */
    unsigned char *rec;        /* a -> b bytes, recorded */
    size_t rec_len, rec_max;
    long flip_at;              /* a -> b byte to flip, or -1 */
} relay_arg;

static void *relay_main(void *opaque)
{
    relay_arg *r = opaque;
    struct pollfd p[2] = { { .fd = r->a, .events = POLLIN },
                           { .fd = r->b, .events = POLLIN } };
    unsigned char buf[65536];
    long seen = 0;
    ssize_t n;
    int i;

    for (;;) {
        if (poll(p, 2, 10000) <= 0)
            break;
        for (i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0)
                goto out;
            if (i == 0) {
                if (r->flip_at >= seen && r->flip_at < seen + n)
                    buf[r->flip_at - seen] ^= 0x01;
                seen += n;
                if (r->rec && r->rec_len + (size_t)n <= r->rec_max) {
                    memcpy(r->rec + r->rec_len, buf, (size_t)n);
                    r->rec_len += (size_t)n;
                }
            }
            if (send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
                goto out;
        }
    }
 out:
    shutdown(r->a, SHUT_RDWR);
    shutdown(r->b, SHUT_RDWR);
    return NULL;
}

static void test_replay_and_tamper(void)
{
    GC_INIT(ctx);
    static unsigned char rec[65536];
    relay_arg r = { .rec = rec, .rec_max = sizeof(rec), .flip_at = -1 };
    server_arg a = { .key = &key1, .keep = true };
    libxlmig__transport *t = NULL;
    pthread_t th, rth;
    int c2r[2], r2s[2], sv[2], rc;
    char buf[64], big[4096];

    /* A real handshake through a recording relay. */
    socket_pair(c2r);
    socket_pair(r2s);
    r.a = c2r[1];
    r.b = r2s[0];
    a.fd = r2s[1];
    pthread_create(&rth, NULL, relay_main, &r);
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, c2r[0], &key1, "node1", LIBXLMIG_TRANSPORT_TLS, &t);
    pthread_join(th, NULL);
    ok(rc == 0 && a.rc == 0, "a handshake through a relay");
    if (!rc)
        libxlmig__transport_write_all(gc, t, "data", 5);
    if (a.t) {
        libxlmig__transport_read_all(gc, a.t, buf, 5, "data");
        libxlmig__transport_free(a.t);
    }
    libxlmig__transport_free(t);
    pthread_join(rth, NULL);
    close(c2r[1]);
    close(r2s[0]);
    ok(r.rec_len > 100, "recorded the client's %zu bytes", r.rec_len);

    /* Play them again against a new server. */
    socket_pair(sv);
    memset(&a, 0, sizeof(a));
    a.fd = sv[1];
    a.key = &key1;
    pthread_create(&th, NULL, server_main, &a);
    /* The server may refuse before it has all: no SIGPIPE for that. */
    if (send(sv[0], rec, r.rec_len, MSG_NOSIGNAL) != (ssize_t)r.rec_len)
        diag("the replay was not written whole (refused early)");
    pthread_join(th, NULL);
    is_int(LIBXLMIG_ERROR_AUTH, a.rc, "a replayed handshake is refused");
    like_string("TLS handshake with client failed", a.error, "%s", a.error);
    is_string("", a.identity, "and never authenticates anyone");
    close(sv[0]);

    /* A byte flipped inside the data, after the handshake. */
    memset(&r, 0, sizeof(r));
    socket_pair(c2r);
    socket_pair(r2s);
    r.a = c2r[1];
    r.b = r2s[0];
    r.flip_at = 4000;              /* past the handshake (~700 bytes) */
    memset(&a, 0, sizeof(a));
    a.fd = r2s[1];
    a.key = &key1;
    a.keep = true;
    pthread_create(&rth, NULL, relay_main, &r);
    pthread_create(&th, NULL, server_main, &a);
    rc = client(gc, c2r[0], &key1, "node1", LIBXLMIG_TRANSPORT_TLS, &t);
    pthread_join(th, NULL);
    ok(rc == 0 && a.rc == 0, "a handshake through a tampering relay");
    if (!rc && a.t) {
        memset(big, 'p', sizeof(big));
        libxlmig__transport_write_all(gc, t, big, sizeof(big));
        libxlmig__transport_write_all(gc, t, big, sizeof(big));
        rc = libxlmig__transport_read_all(gc, a.t, big, sizeof(big), "page");
        if (!rc)
            rc = libxlmig__transport_read_all(gc, a.t, big, sizeof(big),
                                              "page");
        is_int(LIBXLMIG_ERROR_IO, rc, "a flipped byte is not accepted");
        like_string("TLS: ", libxlmig_last_error(ctx), "TLS says why: %s",
                    libxlmig_last_error(ctx));
        libxlmig__transport_free(a.t);
    }
    libxlmig__transport_free(t);
    pthread_join(rth, NULL);
    close(c2r[1]);
    close(r2s[0]);
    GC_FREE;
}

/* ---- full duplex ---- */

#define DUPLEX_BYTES (48u << 20)

static unsigned char pattern(uint64_t i, unsigned seed)
{
    return (unsigned char)((i * 2654435761u + seed) >> 7);
}

typedef struct duplex_arg {
    libxlmig__transport *t;
    unsigned seed;
    bool write;
    bool odd;                  /* read in pieces unlike the writer's */
    uint64_t bytes;            /* 0: DUPLEX_BYTES */
    int rc;
    bool intact;
} duplex_arg;

static void *duplex_main(void *opaque)
{
    duplex_arg *d = opaque;
    static __thread unsigned char buf[1 + 3000 + 70000 + 5];
    libxlmig_ctx *tctx;
    uint64_t off = 0, i, bytes = d->bytes ? d->bytes : DUPLEX_BYTES;
    struct iovec iov[4];
    size_t piece[4] = { 16, 4096, 8192, 4096 + 7 }, n;
    size_t odd[4] = { 1, 3000, 70000, 5 };
    int k;

    if (d->odd && !d->write)
        memcpy(piece, odd, sizeof(piece));
    d->intact = true;
    if (libxlmig_ctx_alloc(&tctx, NULL))
        bail("cannot allocate a context");
    {
        libxlmig_ctx *ctx_ = tctx;
        GC_INIT(ctx_);

        while (off < bytes && !d->rc) {
            /* A header and pages, as the stream writes them. */
            for (k = 0, n = 0; k < 4; k++) {
                iov[k].iov_base = buf + n;
                iov[k].iov_len = piece[k];
                n += piece[k];
            }
            if (off + n > bytes) {
                n = bytes - off;
                iov[0].iov_len = n;
                k = 1;
            }
            if (d->write) {
                for (i = 0; i < n; i++)
                    buf[i] = pattern(off + i, d->seed);
                d->rc = libxlmig__transport_writev_all(gc, d->t, iov, k);
            } else {
                d->rc = libxlmig__transport_readv_all(gc, d->t, iov, k,
                                                      "test data");
                for (i = 0; i < n && !d->rc; i++)
                    if (buf[i] != pattern(off + i, d->seed))
                        d->intact = false;
            }
            off += n;
        }
        if (d->rc)
            diag("%s: %s", d->write ? "writer" : "reader",
                 libxlmig_last_error(tctx));
        GC_FREE;
    }
    libxlmig_ctx_free(tctx);
    return NULL;
}

static void test_duplex(void)
{
    GC_INIT(ctx);
    libxlmig__transport *c, *s;
    duplex_arg d[4];
    pthread_t th[4];
    uint64_t t0;
    int i;

    tls_pair(gc, &c, &s);
    d[0] = (duplex_arg){ .t = c, .seed = 1, .write = true };
    d[1] = (duplex_arg){ .t = s, .seed = 1, .write = false };
    d[2] = (duplex_arg){ .t = s, .seed = 2, .write = true };
    d[3] = (duplex_arg){ .t = c, .seed = 2, .write = false };
    t0 = libxlmig__now_us();
    for (i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, duplex_main, &d[i]);
    for (i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    diag("%u MiB each way in %.2f s", DUPLEX_BYTES >> 20,
         (double)(libxlmig__now_us() - t0) / 1e6);
    ok(!d[0].rc && !d[2].rc, "both ends write at once");
    ok(!d[1].rc && !d[3].rc, "while both ends read");
    ok(d[1].intact && d[3].intact, "every byte arrives intact both ways");
    is_int(DUPLEX_BYTES + LIBXLMIG_PREAMBLE_LEN, (long long)c->bytes_sent,
           "client counted its bytes sent (and the preamble)");
    is_int(DUPLEX_BYTES + LIBXLMIG_PREAMBLE_LEN,
           (long long)c->bytes_received, "and received");
    libxlmig__transport_free(c);
    libxlmig__transport_free(s);
    GC_FREE;
}

/* 6 MiB each way between c and s, both ways at once, or one way at a
 * time (c to s, s to c, c to s again): true if every byte arrived. */
static bool both_ways(libxlmig__transport *c, libxlmig__transport *s,
                      unsigned seed, bool odd, bool in_turn)
{
    duplex_arg d[6];
    pthread_t th[6];
    unsigned i, k, n = in_turn ? 6 : 4;
    bool good = true;

    for (i = 0; i < n; i++)
        d[i] = (duplex_arg){ .t = (i % 4 == 0 || i % 4 == 3) ? c : s,
                             .seed = seed + i / 2, .write = !(i & 1),
                             .odd = odd, .bytes = 6u << 20 };
    for (k = 0; k < n; k += in_turn ? 2 : 4) {
        for (i = k; i < (in_turn ? k + 2 : 4); i++)
            pthread_create(&th[i], NULL, duplex_main, &d[i]);
        for (i = k; i < (in_turn ? k + 2 : 4); i++)
            pthread_join(th[i], NULL);
    }
    for (i = 0; i < n; i++)
        good = good && !d[i].rc && (d[i].write || d[i].intact);
    return good;
}

/*
 * The records are TLS 1.3's: OpenSSL's own record layer on one side
 * (what a peer that is not xlmig runs) reads what this side seals and
 * seals what it opens, also across KeyUpdates, and reads in pieces
 * unlike the writes come out right.
 */
static void test_interop(void)
{
    static const struct { int openssl; const char *who; } cf[] = {
        { 3, "the client's records through OpenSSL" },
        { 12, "the server's records through OpenSSL" },
        { 0, "both sides' records here" },
    };
    const uint64_t per_key = libxlmig__tls_records_per_key;
    libxlmig__transport *c, *s;
    uint64_t sent, taken, answers;
    unsigned j, rekey;
    bool good;

    for (rekey = 0; rekey < 3; rekey++)
        for (j = 0; j < sizeof(cf) / sizeof(cf[0]); j++) {
            GC_INIT(ctx);
            /* rekey 2: KeyUpdates ask the peer for one back, which it
             * sends with its next write: one way at a time, as OpenSSL's
             * SSL object answers a KeyUpdate wrongly while a write of
             * its own is unfinished ("bad length"). */
            libxlmig__tls_openssl_records = cf[j].openssl;
            libxlmig__tls_records_per_key = rekey ? 7 : per_key;
            libxlmig__tls_request_update = rekey == 2;
            sent = libxlmig__tls_key_updates[0];
            taken = libxlmig__tls_key_updates[1];
            answers = libxlmig__tls_key_updates[2];
            tls_pair(gc, &c, &s);
            good = both_ways(c, s, 10 + j, rekey, rekey == 2);
            ok(good, "%s%s: 6 MiB each way, intact%s", cf[j].who,
               rekey == 2 ? ", a new key every 7 records, asking for "
               "one back" : rekey ? ", a new key every 7 records" : "",
               rekey == 2 ? ", one way at a time, three times" :
               rekey ? ", read in other pieces" : "");
            sent = libxlmig__tls_key_updates[0] - sent;
            taken = libxlmig__tls_key_updates[1] - taken;
            answers = libxlmig__tls_key_updates[2] - answers;
            if (!rekey)
                ok(!sent && !taken, "and no KeyUpdate");
            else if (rekey == 2 && cf[j].openssl)
                ok(sent >= 50 && taken >= 1, "%llu KeyUpdates sent, and "
                   "%llu of OpenSSL's answers taken",
                   (unsigned long long)sent, (unsigned long long)taken);
            else if (rekey == 2)
                ok(taken == sent && sent >= 400 && answers >= 2,
                   "%llu KeyUpdates sent, %llu of them answers, and %llu "
                   "taken", (unsigned long long)sent,
                   (unsigned long long)answers, (unsigned long long)taken);
            else if (cf[j].openssl)
                ok(sent >= 50 && !taken, "%llu KeyUpdates sent, none "
                   "asked for", (unsigned long long)sent);
            else
                ok(sent >= 100 && taken == sent, "%llu KeyUpdates sent and "
                   "%llu taken", (unsigned long long)sent,
                   (unsigned long long)taken);
            libxlmig__transport_free(c);
            libxlmig__transport_free(s);
            GC_FREE;
        }
    libxlmig__tls_openssl_records = 0;
    libxlmig__tls_records_per_key = per_key;
    libxlmig__tls_request_update = false;
}

/*
 * Both libraries' AES-GCM protect records alike: what one seals the
 * other opens, across KeyUpdates, and neither opens a record whose tag
 * does not match.  The automatic choice is libgcrypt's on an x86-64 CPU
 * with AES-NI and PCLMULQDQ, OpenSSL's otherwise.
 */
static void test_cipher_libs(void)
{
    static const int lib[2] = { LIBXLMIG__TLS_LIB_GCRYPT,
                                LIBXLMIG__TLS_LIB_OPENSSL };
    static const char *const name[2] = { "libgcrypt", "OpenSSL" };
    unsigned char secret[LIBXLMIG__TLS_SECRET_LEN], page[3][4096];
    unsigned char rec[3 * 4096 + LIBXLMIG__TLS_OVERHEAD];
    unsigned char back[3][4096], rest[LIBXLMIG__TLS_BODY_MAX];
    struct iovec in[3], out[3];
    libxlmig__iov_pos pin, pout;
    libxlmig__tls_dir tx, rx;
    const char *want = "OpenSSL";
    unsigned i, a, b, k, good;
    size_t n;
    ssize_t nrest;

    for (i = 0; i < sizeof(secret); i++)
        secret[i] = (unsigned char)(i * 7 + 1);
    for (i = 0; i < 3; i++) {
        memset(page[i], 0x11 * (i + 1), sizeof(page[i]));
        in[i] = (struct iovec){ page[i], sizeof(page[i]) };
        out[i] = (struct iovec){ back[i], sizeof(back[i]) };
    }
    for (a = 0; a < 2; a++)
        for (b = 0; b < 2; b++) {
            libxlmig__tls_cipher_lib = lib[a];
            if (libxlmig__tls_dir_init(&tx, secret, true))
                bail("cannot key a sending direction");
            libxlmig__tls_cipher_lib = lib[b];
            if (libxlmig__tls_dir_init(&rx, secret, false))
                bail("cannot key a receiving direction");
            ok(!strcmp(libxlmig__tls_dir_lib(&tx), name[a]) &&
               !strcmp(libxlmig__tls_dir_lib(&rx), name[b]),
               "a direction keyed for %s uses it, and one for %s",
               name[a], name[b]);
            good = 0;
            for (k = 0; k < 6; k++) {
                /* Two KeyUpdates on the way: keys 0, 1 and 2. */
                if (k == 2 || k == 4)
                    if (libxlmig__tls_dir_update(&tx) ||
                        libxlmig__tls_dir_update(&rx))
                        bail("KeyUpdate failed");
                page[k % 3][k] ^= 0x5a;
                pin = (libxlmig__iov_pos){ .iov = in, .iovcnt = 3 };
                pout = (libxlmig__iov_pos){ .iov = out, .iovcnt = 3 };
                n = libxlmig__tls_seal(&tx, LIBXLMIG__TLS_APPDATA, &pin,
                                       NULL, 3 * 4096 - k, rec);
                memset(back, 0, sizeof(back));
                nrest = n ? libxlmig__tls_open(&rx, rec, n, &pout,
                                               3 * 4096 - k, rest) : -1;
                if (nrest == 1 && rest[0] == LIBXLMIG__TLS_APPDATA &&
                    !memcmp(back, page, 3 * 4096 - k))
                    good++;
            }
            ok(good == 6, "%s seals, %s opens: %u of 6 records of pages "
               "intact over 3 keys", name[a], name[b], good);
            n = libxlmig__tls_seal(&tx, LIBXLMIG__TLS_APPDATA, NULL,
                                   "short", 5, rec);
            rec[n - 1] ^= 1;
            ok(n && libxlmig__tls_open(&rx, rec, n, NULL, 0, rest) < 0,
               "and %s refuses a record whose tag is wrong", name[b]);
            libxlmig__tls_dir_free(&tx);
            libxlmig__tls_dir_free(&rx);
        }
    libxlmig__tls_cipher_lib = LIBXLMIG__TLS_LIB_AUTO;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul"))
        want = "libgcrypt";
#endif
    if (libxlmig__tls_dir_init(&tx, secret, true))
        bail("cannot key a sending direction");
    is_string(want, libxlmig__tls_dir_lib(&tx),
              "by default records use %s's AES-GCM on this CPU", want);
    libxlmig__tls_dir_free(&tx);
}

/*
 * Bytes that are not a protected record, written under the client's TLS
 * straight to its socket: the server refuses each, saying why, and
 * never hands the caller a byte of it.
 */
static void test_bad_records(void)
{
    static const struct {
        unsigned char bytes[24];
        size_t len;
        bool close;
        const char *why;
    } bad[] = {
        { { 23, 3, 3, 0x4e, 0x20 }, 5, false,
          "TLS: a record of 20000 bytes, outside what TLS 1.3 allows" },
        { { 23, 3, 3, 0, 16 }, 5, false,
          "TLS: a record of 16 bytes, outside what TLS 1.3 allows" },
        { { 22, 3, 3, 0, 40 }, 5, false,
          "TLS: unexpected record of type 22 after the handshake" },
        { { 23, 3, 1, 0, 40 }, 5, false,
          "TLS: unexpected record of type 23 after the handshake" },
        { { 23, 3, 3, 0, 40, 1, 2, 3 }, 8, true,
          "TLS: the connection closed inside a record" },
        { { 23, 3, 3, 0, 17, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 }, 16,
          true, "TLS: the connection closed inside a record" },
        { { 23, 3, 3, 0, 17, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
            14, 15, 16, 17 }, 22, false,
          "TLS: decryption failed or bad record mac" },
    };
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        GC_INIT(ctx);
        libxlmig__transport *c, *s;
        char buf[64];
        int rc;

        tls_pair(gc, &c, &s);
        if (send(c->fd, bad[i].bytes, bad[i].len, MSG_NOSIGNAL) !=
            (ssize_t)bad[i].len)
            sysbail("send");
        if (bad[i].close)
            shutdown(c->fd, SHUT_WR);
        s->timeout_ms = 2000;
        rc = libxlmig__transport_read_all(gc, s, buf, sizeof(buf),
                                          "test data");
        ok(rc != 0, "bad record %u is refused", i + 1);
        like_string(bad[i].why, libxlmig_last_error(ctx), "saying: %s",
                    libxlmig_last_error(ctx));
        libxlmig__transport_free(c);
        libxlmig__transport_free(s);
        GC_FREE;
    }
}

/* Empty records are taken up to 32 in a row, not more. */
static void test_empty_records(void)
{
    static const unsigned n[] = { 32, 33 };
    unsigned i;

    for (i = 0; i < 2; i++) {
        GC_INIT(ctx);
        libxlmig__transport *c, *s;
        char buf[5];
        int rc;

        tls_pair(gc, &c, &s);
        libxlmig__tls_empty_records = n[i];
        rc = libxlmig__transport_write_all(gc, c, "data", 5);
        libxlmig__tls_empty_records = 0;
        if (!rc)
            rc = libxlmig__transport_read_all(gc, s, buf, sizeof(buf),
                                              "test data");
        if (i == 0) {
            ok(!rc && !strcmp(buf, "data"), "32 empty records, then data: "
               "read");
        } else {
            ok(rc != 0, "33 empty records in a row are refused");
            like_string("TLS: more than 32 empty records in a row",
                        libxlmig_last_error(ctx), "saying: %s",
                        libxlmig_last_error(ctx));
        }
        libxlmig__transport_free(c);
        libxlmig__transport_free(s);
        GC_FREE;
    }
}

/* A shutdown from a third thread ends a waiting reader and writer. */
static void test_shutdown(void)
{
    GC_INIT(ctx);
    libxlmig__transport *c, *s;
    duplex_arg d[2];
    pthread_t th[2];
    uint64_t t0;

    tls_pair(gc, &c, &s);
    c->timeout_ms = -1;
    /* The reader waits for bytes that never come; the writer fills the
     * socket nobody drains. */
    d[0] = (duplex_arg){ .t = c, .seed = 3, .write = false };
    d[1] = (duplex_arg){ .t = c, .seed = 3, .write = true };
    pthread_create(&th[0], NULL, duplex_main, &d[0]);
    pthread_create(&th[1], NULL, duplex_main, &d[1]);
    usleep(300000);
    t0 = libxlmig__now_us();
    libxlmig__transport_shutdown(c);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    ok(d[0].rc != 0, "the waiting reader fails after shutdown");
    ok(d[1].rc != 0, "the blocked writer fails after shutdown");
    ok(libxlmig__now_us() - t0 < 1000000, "both promptly (%.0f ms)",
       (double)(libxlmig__now_us() - t0) / 1000);
    libxlmig__transport_free(c);
    libxlmig__transport_free(s);
    GC_FREE;
}

int main(void)
{
    plan_lazy();
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    set_key(&key1, "0123456789abcdef0123456789abcdef");
    set_key(&key2, "fedcba9876543210fedcba9876543210");
    test_handshake();
    test_mismatch();
    test_replay_and_tamper();
    test_cipher_libs();
    /* The transport once with each library's AES-GCM. */
    libxlmig__tls_cipher_lib = LIBXLMIG__TLS_LIB_GCRYPT;
    diag("records with libgcrypt's AES-GCM");
    test_duplex();
    test_interop();
    test_bad_records();
    libxlmig__tls_cipher_lib = LIBXLMIG__TLS_LIB_OPENSSL;
    diag("records with OpenSSL's AES-GCM");
    test_duplex();
    test_interop();
    test_bad_records();
    libxlmig__tls_cipher_lib = LIBXLMIG__TLS_LIB_AUTO;
    test_empty_records();
    test_shutdown();
    /* Once more where SIGPIPE is ignored, as in the daemon. */
    signal(SIGPIPE, SIG_IGN);
    test_shutdown();
    libxlmig__key_dispose(&key1);
    libxlmig__key_dispose(&key2);
    libxlmig_ctx_free(ctx);
    return 0;
}
