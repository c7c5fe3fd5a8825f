/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Transport security between nodes: the mode preamble, and TLS 1.3 as a
 * transport (OpenSSL 3) keyed by the cluster key as an external
 * pre-shared key, no certificates.
 *
 *   identity = the client's node name
 *   PSK      = HKDF-SHA256(salt "xlmig", IKM the cluster key,
 *                          info "xlmig tls13 psk v1" | 0 | identity)
 *
 * The server derives the PSK of an identity only for a node of the
 * cluster config; a peer without the key fails the PSK binder, and a
 * replayed ClientHello cannot finish (fresh server random and key
 * share).  One cipher suite (TLS_AES_128_GCM_SHA256, which the kernel's
 * TLS offloads), (EC)DHE with the PSK for forward secrecy, no session
 * tickets, no early data.  After the handshake the kernel takes the
 * sending keys where it has TLS (SSL_OP_ENABLE_KTLS), so pages still go
 * by reference; otherwise OpenSSL encrypts in user space.  Received
 * records are always decrypted in user space (ibio below says why).
 *
 * Full duplex: the socket is non-blocking and one mutex is held around
 * each SSL_* call only; waits (poll) happen outside it, so one thread may
 * read while another writes, and libxlmig__transport_shutdown from a
 * third makes both fail promptly.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "net/net.h"

#define TLS_PSK_LEN     32
#define TLS_NODE_MAX    64             /* bytes of a PSK identity */
#define TLS_PSK_SALT    "xlmig"
#define TLS_PSK_LABEL   "xlmig tls13 psk v1"
#define TLS_SUITE       "TLS_AES_128_GCM_SHA256"
/* The largest record's payload (TLS 1.3), and the buffer small pieces
 * of a write are gathered in: whole records each. */
#define TLS_RECORD      (16 * 1024)
#define TLS_GATHER      (4 * TLS_RECORD)
/* Records gathered before they go to the socket in one send (user-space
 * TLS; kernel TLS has the socket's own buffers). */
#define TLS_OUT_BUF     (256 * 1024)
/* Bytes OpenSSL reads from the socket at a time (read ahead). */
#define TLS_READ_BUF    (256 * 1024)

/* ---- the preamble ---- */

static const char preamble_tls[LIBXLMIG_PREAMBLE_LEN] = {
    'X', 'L', 'M', 'T', 'L', 'S', '1', '3' };
static const char preamble_plain[LIBXLMIG_PREAMBLE_LEN] = {
    'X', 'L', 'M', 'P', 'L', 'A', 'I', 'N' };

const char *libxlmig__transport_mode_name(libxlmig__transport_mode mode)
{
    return mode == LIBXLMIG_TRANSPORT_PLAIN ? "plain" : "tls";
}

int libxlmig__transport_preamble(libxlmig__gc *gc, libxlmig__transport *t,
                                 libxlmig__transport_mode mode,
                                 const char *peer_node)
{
    char theirs[LIBXLMIG_PREAMBLE_LEN];
    const char *who = peer_node ? peer_node : t->peer;
    libxlmig__transport_mode peer_mode;
    int rc;

    rc = libxlmig__transport_write_all(gc, t,
                                       mode == LIBXLMIG_TRANSPORT_PLAIN
                                       ? preamble_plain : preamble_tls,
                                       LIBXLMIG_PREAMBLE_LEN);
    if (rc) return rc;
    rc = libxlmig__transport_read_all(gc, t, theirs, sizeof(theirs),
                                      "transport preamble");
    if (rc) return rc;
    if (!memcmp(theirs, preamble_tls, sizeof(theirs))) {
        peer_mode = LIBXLMIG_TRANSPORT_TLS;
    } else if (!memcmp(theirs, preamble_plain, sizeof(theirs))) {
        peer_mode = LIBXLMIG_TRANSPORT_PLAIN;
    } else {
        LOG(ERROR, "%s did not open with an xlmig transport preamble (an "
            "xlmig of another protocol version, or not xlmig)", who);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (peer_mode == mode)
        return 0;
    if (peer_mode == LIBXLMIG_TRANSPORT_TLS)
        LOG(ERROR, "%s requires transport = tls; this node is configured "
            "with transport = plain", who);
    else
        LOG(ERROR, "%s is configured with transport = plain; this node "
            "requires transport = tls", who);
    return LIBXLMIG_ERROR_REFUSED;
}

/* ---- TLS ---- */

typedef struct tls_priv {
    SSL_CTX *sslctx;
    SSL *ssl;
    pthread_mutex_t lock;      /* held around SSL_* calls only */
    bool done;                 /* handshake finished */
    bool ktls_send;            /* the kernel encrypts what is sent */
    bool guard_sigpipe;        /* SIGPIPE is not ignored: block it */
    /* handshake only */
    const struct libxlmig__key *key;
    const char *my_node;
    libxlmig__tls_known_fn *known;
    void *opaque;
    bool unknown;              /* the client named an unknown node */
    char identity[TLS_NODE_MAX + 1];   /* server: the client's */
    /* the writer's */
    unsigned char *wbuf;
    /* user-space TLS: records encrypted, not yet on the socket */
    unsigned char *obuf;
    size_t olen, ooff;
    int fd;
    char why_send[160], why_recv[160];  /* last failure of each side */
} tls_priv;

/* PSK of node: HKDF-SHA256 over the cluster key, bound to the name. */
static int derive_psk(const struct libxlmig__key *k, const char *node,
                      unsigned char psk[TLS_PSK_LEN])
{
    unsigned char info[sizeof(TLS_PSK_LABEL) + TLS_NODE_MAX];
    size_t nlen = strlen(node), ilen = sizeof(TLS_PSK_LABEL) + nlen;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];
    int ok;

    if (nlen > TLS_NODE_MAX)
        return -1;
    memcpy(info, TLS_PSK_LABEL, sizeof(TLS_PSK_LABEL)); /* with its NUL */
    memcpy(info + sizeof(TLS_PSK_LABEL), node, nlen);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  k->bytes, k->len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                  (char *)TLS_PSK_SALT,
                                                  strlen(TLS_PSK_SALT));
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  info, ilen);
    params[4] = OSSL_PARAM_construct_end();
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    ok = kctx && EVP_KDF_derive(kctx, psk, TLS_PSK_LEN, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

/* A TLS 1.3 session holding psk for TLS_AES_128_GCM_SHA256. */
static SSL_SESSION *psk_session(SSL *ssl, const unsigned char *psk)
{
    static const unsigned char suite[2] = { 0x13, 0x01 };
    const SSL_CIPHER *c = SSL_CIPHER_find(ssl, suite);
    SSL_SESSION *s = SSL_SESSION_new();

    if (!c || !s || !SSL_SESSION_set1_master_key(s, psk, TLS_PSK_LEN) ||
        !SSL_SESSION_set_cipher(s, c) ||
        !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

static int client_psk_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
                         size_t *idlen, SSL_SESSION **sess)
{
    tls_priv *tp = SSL_get_app_data(ssl);
    unsigned char psk[TLS_PSK_LEN];

    *sess = NULL;
    if (md && md != EVP_sha256())
        return 1;              /* offer no PSK for another hash */
    if (!tp->key || derive_psk(tp->key, tp->my_node, psk))
        return 0;
    *sess = psk_session(ssl, psk);
    OPENSSL_cleanse(psk, sizeof(psk));
    if (!*sess)
        return 0;
    *id = (const unsigned char *)tp->my_node;
    *idlen = strlen(tp->my_node);
    return 1;
}

static int server_psk_cb(SSL *ssl, const unsigned char *id, size_t idlen,
                         SSL_SESSION **sess)
{
    tls_priv *tp = SSL_get_app_data(ssl);
    unsigned char psk[TLS_PSK_LEN];
    size_t i;

    *sess = NULL;
    if (!tp->key || idlen == 0 || idlen > TLS_NODE_MAX) {
        tp->unknown = true;
        return 0;
    }
    for (i = 0; i < idlen; i++)
        if (id[i] < 0x21 || id[i] > 0x7e) {
            tp->unknown = true;
            return 0;
        }
    memcpy(tp->identity, id, idlen);
    tp->identity[idlen] = 0;
    if (!tp->known(tp->opaque, tp->identity)) {
        tp->unknown = true;
        return 0;
    }
    if (derive_psk(tp->key, tp->identity, psk))
        return 0;
    *sess = psk_session(ssl, psk);
    OPENSSL_cleanse(psk, sizeof(psk));
    return *sess ? 1 : 0;
}

/*
 * SIGPIPE: OpenSSL writes to the socket with write(2); where the program
 * does not ignore SIGPIPE (a CLI probe), it is blocked around the call
 * and a SIGPIPE it raised is consumed.
 */
typedef struct sigpipe_guard {
    bool on, pending;
    sigset_t old;
} sigpipe_guard;

static void sigpipe_block(tls_priv *tp, sigpipe_guard *g)
{
    sigset_t set, pend;

    g->on = tp->guard_sigpipe;
    if (!g->on)
        return;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->pending = !sigpending(&pend) && sigismember(&pend, SIGPIPE);
}

static void sigpipe_unblock(sigpipe_guard *g)
{
    struct timespec zero = { 0, 0 };
    sigset_t set, pend;

    if (!g->on)
        return;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!g->pending && !sigpending(&pend) && sigismember(&pend, SIGPIPE))
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Why an SSL call failed, into buf. */
static void ssl_reason(char *buf, size_t len, int err, int saved_errno)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    if (r)
        snprintf(buf, len, "TLS: %s", r);
    else if (err == SSL_ERROR_SYSCALL && saved_errno)
        snprintf(buf, len, "%s", strerror(saved_errno));
    else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN)
        snprintf(buf, len, "connection closed");
    else
        snprintf(buf, len, "TLS error %d", err);
}

/*
 * A write failed because the peer closed: did it say why first (a TLS
 * alert such as bad_record_mac when it refused altered data)?  The
 * connection is over, so a byte of data read here is lost to nobody.
 */
static void peer_alert(tls_priv *tp, int e)
{
    unsigned char b;
    const char *r;
    size_t n;

    ERR_clear_error();
    if (SSL_read_ex(tp->ssl, &b, 1, &n) ||
        SSL_get_error(tp->ssl, 0) != SSL_ERROR_SSL)
        return;
    r = ERR_reason_error_string(ERR_peek_last_error());
    if (r && strstr(r, "alert"))
        snprintf(tp->why_send, sizeof(tp->why_send), "%s, after the peer "
                 "sent TLS %s", strerror(e), r);
}

/* ---- records in from the socket ---- */

/*
 * OpenSSL reads the records through this BIO rather than its socket BIO,
 * so the kernel takes the keys for sending only and receiving stays in
 * user space.  OpenSSL's kernel-TLS receive path gives each read from
 * the kernel a made-up record header with a 16-bit length, but the
 * kernel returns as many ready records as fit the read buffer: with this
 * transport's large read buffer (TLS_READ_BUF) a read of more than 64
 * KiB got a wrong length, and the peer answered decode_error.  Kernel
 * TLS matters on the sending side (pages by reference); the receiver
 * decrypts in user space as before.
 */
static int ibio_read(BIO *b, char *buf, int len)
{
    tls_priv *tp = BIO_get_data(b);
    ssize_t r;

    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    do
        r = recv(tp->fd, buf, (size_t)len, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    else if (r == 0)
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
    return (int)r;
}

/* Both BIOs: the end of input (ibio), and flushing, which is the
 * transport's (tls_flush, at the end of a write). */
static long xbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num; (void)ptr;
    if (cmd == BIO_CTRL_EOF)
        return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int xbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* A BIO method of ours that reads with rd or writes with wr; NULL if
 * OpenSSL cannot make it (the callers then go without). */
static BIO_METHOD *xbio_method_new(const char *name,
                                   int (*rd)(BIO *, char *, int),
                                   int (*wr)(BIO *, const char *, int))
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 name);

    if (m && ((rd && !BIO_meth_set_read(m, rd)) ||
              (wr && !BIO_meth_set_write(m, wr)) ||
              !BIO_meth_set_ctrl(m, xbio_ctrl) ||
              !BIO_meth_set_create(m, xbio_create))) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

static BIO_METHOD *ibio_method;
static pthread_once_t ibio_once = PTHREAD_ONCE_INIT;

static void ibio_method_init(void)
{
    ibio_method = xbio_method_new("xlmig TLS records in", ibio_read, NULL);
}

/* OpenSSL's reads through ibio: 0, or -1 (nothing changed). */
static int ibio_setup(tls_priv *tp)
{
    BIO *b;

    pthread_once(&ibio_once, ibio_method_init);
    if (!ibio_method || !(b = BIO_new(ibio_method)))
        return -1;
    BIO_set_data(b, tp);
    SSL_set0_rbio(tp->ssl, b);
    return 0;
}

/* ---- records out to the socket, many at a time ---- */

/*
 * With user-space TLS, OpenSSL writes each record of up to 16 KiB with
 * its own write(2): a system call, and often a packet, per record.  The
 * records go into obuf instead (the write BIO below), and out to the
 * socket in sends of up to TLS_OUT_BUF bytes: when obuf is full and at
 * the end of each write of the transport (tls_flush).  obuf is the
 * writer's, touched with tp->lock held.
 */

/* Send what obuf holds, without waiting: 0 when it is empty, -1 with
 * errno (EAGAIN: the socket is full) otherwise.  tp->lock held. */
static int obuf_send(tls_priv *tp, int fd)
{
    ssize_t r;

    while (tp->ooff < tp->olen) {
        r = send(fd, tp->obuf + tp->ooff, tp->olen - tp->ooff,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        tp->ooff += (size_t)r;
    }
    tp->olen = tp->ooff = 0;
    return 0;
}

static int obio_write(BIO *b, const char *data, int len)
{
    tls_priv *tp = BIO_get_data(b);

    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (tp->olen + (size_t)len > TLS_OUT_BUF &&
        obuf_send(tp, tp->fd)) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (tp->ooff && tp->ooff == tp->olen)
                tp->olen = tp->ooff = 0;
            else if (tp->ooff) {
                memmove(tp->obuf, tp->obuf + tp->ooff, tp->olen - tp->ooff);
                tp->olen -= tp->ooff;
                tp->ooff = 0;
            }
            if (tp->olen + (size_t)len > TLS_OUT_BUF) {
                BIO_set_retry_write(b);
                return -1;
            }
        } else {
            return -1;
        }
    }
    memcpy(tp->obuf + tp->olen, data, (size_t)len);
    tp->olen += (size_t)len;
    return len;
}

static BIO_METHOD *obio_method;
static pthread_once_t obio_once = PTHREAD_ONCE_INIT;

static void obio_method_init(void)
{
    obio_method = xbio_method_new("xlmig TLS records out", NULL, obio_write);
}

/* After the handshake, without kernel TLS: records out through obuf.
 * Where that cannot be set up, OpenSSL writes to the socket itself. */
static void obuf_setup(tls_priv *tp)
{
    BIO *b;

    pthread_once(&obio_once, obio_method_init);
    if (!obio_method || !(tp->obuf = malloc(TLS_OUT_BUF)))
        return;
    b = BIO_new(obio_method);
    if (!b) {
        free(tp->obuf);
        tp->obuf = NULL;
        return;
    }
    BIO_set_data(b, tp);
    SSL_set0_wbio(tp->ssl, b);
}

/*
 * The records of obuf out to the socket, waiting for room as tls_io
 * does: 0, or -1 with errno and the reason in why_send.
 */
static int tls_flush(libxlmig__transport *t)
{
    tls_priv *tp = t->priv;
    int r, e;

    if (!tp->obuf)
        return 0;
    for (;;) {
        pthread_mutex_lock(&tp->lock);
        r = obuf_send(tp, t->fd);
        e = errno;
        if (r && e != EAGAIN && e != EWOULDBLOCK) {
            snprintf(tp->why_send, sizeof(tp->why_send), "%s", strerror(e));
            if (e == EPIPE || e == ECONNRESET)
                peer_alert(tp, e);
        }
        pthread_mutex_unlock(&tp->lock);
        if (!r)
            return 0;
        if (e != EAGAIN && e != EWOULDBLOCK) {
            errno = e;
            return -1;
        }
        if (libxlmig__transport_poll(t, POLLOUT)) {
            if (errno == ETIMEDOUT)
                errno = ETIME;
            return -1;
        }
    }
}

/*
 * One SSL_write_ex (wr) or SSL_read_ex of buf, waiting for the socket as
 * needed (if may_wait): bytes done, 0 at the end of the stream (read), or
 * -1 with errno (EAGAIN: would wait and !may_wait).
 */
static ssize_t tls_io(libxlmig__transport *t, bool wr, void *buf, size_t len,
                      bool may_wait)
{
    tls_priv *tp = t->priv;
    sigpipe_guard g;
    size_t n = 0;
    int r, err, e;
    short ev;
    bool guard = wr && !tp->obuf;   /* obuf sends with MSG_NOSIGNAL */

    for (;;) {
        if (guard) sigpipe_block(tp, &g);
        pthread_mutex_lock(&tp->lock);
        ERR_clear_error();
        errno = 0;
        r = wr ? SSL_write_ex(tp->ssl, buf, len, &n)
               : SSL_read_ex(tp->ssl, buf, len, &n);
        e = errno;
        err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(tp->ssl, r);
        if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ &&
            err != SSL_ERROR_WANT_WRITE)
            ssl_reason(wr ? tp->why_send : tp->why_recv,
                       sizeof(tp->why_send), err, e);
        if (wr && err == SSL_ERROR_SYSCALL && (e == EPIPE || e == ECONNRESET))
            peer_alert(tp, e);
        /* A record a read made OpenSSL write (none in this protocol
         * after the handshake, but never held back). */
        if (!wr && tp->olen)
            (void)obuf_send(tp, tp->fd);
        pthread_mutex_unlock(&tp->lock);
        if (guard) sigpipe_unblock(&g);
        switch (err) {
        case SSL_ERROR_NONE:
            return (ssize_t)n;
        case SSL_ERROR_ZERO_RETURN:
            if (!wr)
                return 0;
            errno = EPIPE;
            return -1;
        case SSL_ERROR_WANT_READ:
            ev = POLLIN;
            break;
        case SSL_ERROR_WANT_WRITE:
            ev = POLLOUT;
            break;
        case SSL_ERROR_SYSCALL:
            if (!e && !wr)
                return 0;      /* the end, without close_notify */
            errno = e ? e : EPIPE;
            return -1;
        default:
            errno = EPROTO;
            return -1;
        }
        if (!may_wait) {
            errno = EAGAIN;
            return -1;
        }
        if (libxlmig__transport_poll(t, ev)) {
            /* Our wait expired: ETIME, as ETIMEDOUT is the socket's
             * (TCP's user timeout). */
            if (errno == ETIMEDOUT)
                errno = ETIME;
            return -1;
        }
    }
}

/* All of buf, or -1. */
static ssize_t tls_write_full(libxlmig__transport *t, const void *buf,
                              size_t len)
{
    size_t done = 0;
    ssize_t r;

    while (done < len) {
        r = tls_io(t, true, (char *)buf + done, len - done, true);
        if (r < 0)
            return -1;
        done += (size_t)r;
    }
    return (ssize_t)len;
}

/*
 * All of iov, in records of TLS_RECORD bytes where it can: a piece of at
 * least TLS_GATHER / 2 bytes is encrypted from where it is; smaller ones
 * (a frame header, scattered pages) are gathered into wbuf, up to the
 * next record boundary of a large piece that follows.  The bytes written
 * (fewer only if it failed), or -1.
 */
static ssize_t tls_writev(libxlmig__transport *t, const struct iovec *iov,
                          int iovcnt)
{
    tls_priv *tp = t->priv;
    size_t done = 0, total = 0, n, k, left, off = 0, to_rec;
    int i;

    for (i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    i = 0;
    while (i < iovcnt) {
        left = iov[i].iov_len - off;
        if (!left) {
            i++;
            off = 0;
            continue;
        }
        if (left >= TLS_GATHER / 2 ||
            (!tp->wbuf && !(tp->wbuf = malloc(TLS_GATHER)))) {
            if (tls_write_full(t, (char *)iov[i].iov_base + off, left) < 0)
                break;
            done += left;
            i++;
            off = 0;
            continue;
        }
        for (n = 0; i < iovcnt && n < TLS_GATHER; ) {
            left = iov[i].iov_len - off;
            k = TLS_GATHER - n;
            if (left >= TLS_GATHER / 2) {
                to_rec = (TLS_RECORD - n % TLS_RECORD) % TLS_RECORD;
                if (!to_rec)
                    break;
                if (k > to_rec)
                    k = to_rec;
            }
            if (k > left)
                k = left;
            memcpy(tp->wbuf + n, (char *)iov[i].iov_base + off, k);
            n += k;
            off += k;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (tls_write_full(t, tp->wbuf, n) < 0)
            break;
        done += n;
    }
    /* What failed to go out was not written. */
    if (tls_flush(t))
        return -1;
    return done || !total ? (ssize_t)done : -1;
}

static ssize_t tls_readv(libxlmig__transport *t, const struct iovec *iov,
                         int iovcnt)
{
    size_t done = 0;
    ssize_t r;
    int i;

    /* Wait for the first buffer; fill the next ones from what is there. */
    for (i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_len)
            continue;
        r = tls_io(t, false, iov[i].iov_base, iov[i].iov_len, done == 0);
        if (r < 0)
            return done ? (ssize_t)done : -1;
        if (r == 0)
            return (ssize_t)done;
        done += (size_t)r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return (ssize_t)done;
}

static ssize_t tls_read(libxlmig__transport *t, void *buf, size_t len)
{
    return tls_io(t, false, buf, len, true);
}

static void tls_priv_free(tls_priv *tp)
{
    if (!tp)
        return;
    SSL_free(tp->ssl);
    SSL_CTX_free(tp->sslctx);
    pthread_mutex_destroy(&tp->lock);
    free(tp->wbuf);
    free(tp->obuf);
    free(tp);
}

static void tls_close(libxlmig__transport *t)
{
    tls_priv *tp = t->priv;
    sigpipe_guard g;

    if (tp && tp->done) {
        /* close_notify, if the socket takes it now */
        sigpipe_block(tp, &g);
        ERR_clear_error();
        (void)SSL_shutdown(tp->ssl);
        ERR_clear_error();
        if (tp->obuf)
            (void)obuf_send(tp, t->fd);
        sigpipe_unblock(&g);
    }
    tls_priv_free(tp);
    t->priv = NULL;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static bool tls_fd_writes_ok(libxlmig__transport *t)
{
    tls_priv *tp = t->priv;

    return tp && tp->ktls_send;
}

static const char *tls_security(libxlmig__transport *t)
{
    tls_priv *tp = t->priv;

    if (!tp || !tp->done)
        return "unencrypted";
    return tp->ktls_send ? "TLS 1.3 (kernel send)" : "TLS 1.3 (user space)";
}

/* Every record is AES-GCM or ChaCha20-Poly1305 (TLS 1.3 has only
 * AEAD ciphers): a changed byte fails its record. */
static bool tls_sealed(libxlmig__transport *t)
{
    tls_priv *tp = t->priv;

    return tp && tp->done;
}

static const char *tls_why(libxlmig__transport *t, bool send)
{
    tls_priv *tp = t->priv;
    const char *w;

    if (!tp)
        return NULL;
    w = send ? tp->why_send : tp->why_recv;
    return w[0] ? w : NULL;
}

static const libxlmig__transport_ops tls_ops = {
    .name = "tls",
    .writev = tls_writev,
    .read = tls_read,
    .readv = tls_readv,
    .close = tls_close,
    .waits = true,
    .fd_writes_ok = tls_fd_writes_ok,
    .security = tls_security,
    .why = tls_why,
    .sealed = tls_sealed,
};

const char *libxlmig__transport_tls_identity(libxlmig__transport *t)
{
    tls_priv *tp;

    if (!t || t->ops != &tls_ops)
        return NULL;
    tp = t->priv;
    return tp && tp->done && tp->identity[0] ? tp->identity : NULL;
}

/* Set t up for TLS (client or server): ops, context, SSL object. */
static int tls_setup(libxlmig__gc *gc, libxlmig__transport *t, bool client,
                     tls_priv **tp_r)
{
    tls_priv *tp = NULL;
    struct sigaction sa;
    int fl;

    if (t->ops->waits || t->priv || t->fd < 0) {
        LOG(ERROR, "TLS with %s: not a plain connection", t->peer);
        return LIBXLMIG_ERROR_INVAL;
    }
    tp = calloc(1, sizeof(*tp));
    if (!tp)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*tp));
    pthread_mutex_init(&tp->lock, NULL);
    tp->guard_sigpipe = !sigaction(SIGPIPE, NULL, &sa) &&
                        sa.sa_handler != SIG_IGN;
    /* From now on the TLS ops own fd and priv (also on failure). */
    t->ops = &tls_ops;
    t->priv = tp;
    fl = fcntl(t->fd, F_GETFL);
    if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        LOGE(ERROR, "TLS with %s: cannot make the socket non-blocking",
             t->peer);
        return LIBXLMIG_ERROR_IO;
    }
    tp->sslctx = SSL_CTX_new(client ? TLS_client_method()
                                    : TLS_server_method());
    if (!tp->sslctx ||
        !SSL_CTX_set_min_proto_version(tp->sslctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(tp->sslctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(tp->sslctx, TLS_SUITE) ||
        !SSL_CTX_set_num_tickets(tp->sslctx, 0) ||
        !SSL_CTX_set_max_early_data(tp->sslctx, 0) ||
        !SSL_CTX_set_recv_max_early_data(tp->sslctx, 0))
        goto fail;
    SSL_CTX_set_session_cache_mode(tp->sslctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(tp->sslctx, SSL_OP_ENABLE_KTLS | SSL_OP_NO_TICKET |
                        SSL_OP_IGNORE_UNEXPECTED_EOF |
                        SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(tp->sslctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Records are read from the socket several at a time, not a header
     * and a body per record (two syscalls each). */
    SSL_CTX_set_read_ahead(tp->sslctx, 1);
    SSL_CTX_set_default_read_buffer_len(tp->sslctx, TLS_READ_BUF);
    if (client)
        SSL_CTX_set_psk_use_session_callback(tp->sslctx, client_psk_cb);
    else
        SSL_CTX_set_psk_find_session_callback(tp->sslctx, server_psk_cb);
    tp->ssl = SSL_new(tp->sslctx);
    tp->fd = t->fd;
    if (!tp->ssl || !SSL_set_fd(tp->ssl, t->fd) || ibio_setup(tp) ||
        !SSL_set_app_data(tp->ssl, tp))
        goto fail;
    *tp_r = tp;
    return 0;
 fail:
    LOG(ERROR, "TLS with %s: cannot set up OpenSSL: %s", t->peer,
        ERR_reason_error_string(ERR_peek_last_error())
        ? ERR_reason_error_string(ERR_peek_last_error()) : "unknown error");
    return LIBXLMIG_ERROR_FAIL;
}

/*
 * Once per process: whether the kernel took the session keys, and if not
 * why, as far as can be told: the kernel offers no TLS (its "tls" module
 * is not loaded), OpenSSL attached the kernel's TLS to the socket but the
 * kernel refused the keys (it cannot instantiate the cipher: its gcm
 * module is missing), or OpenSSL did not try.
 */
static void ktls_note(libxlmig__gc *gc, const tls_priv *tp)
{
    static int said;
    char ulp[256] = "", on[16] = "";
    socklen_t onlen = sizeof(on) - 1;
    bool offered;
    ssize_t n;
    int fd;

    if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        return;
    fd = open("/proc/sys/net/ipv4/tcp_available_ulp", O_RDONLY | O_CLOEXEC);
    n = fd >= 0 ? read(fd, ulp, sizeof(ulp) - 1) : -1;
    if (fd >= 0)
        close(fd);
    ulp[n > 0 ? n : 0] = '\0';
    offered = strstr(ulp, "tls") != NULL;
    if (tp->ktls_send)
        LOG(INFO, "TLS: the kernel encrypts what this node sends (kernel "
            "TLS); what it receives is decrypted in user space");
    else if (!offered)
        LOG(INFO, "TLS: encrypted in user space: this kernel offers no "
            "kernel TLS (load its tls module: modprobe tls)");
    else if (!getsockopt(tp->fd, IPPROTO_TCP, TCP_ULP, on, &onlen) &&
             !strcmp(on, "tls"))
        LOG(INFO, "TLS: encrypted in user space: %s attached kernel TLS "
            "to the connection, but the kernel refused the session keys "
            "(is its AES-GCM available? modprobe gcm ctr ghash-generic)",
            OpenSSL_version(OPENSSL_VERSION));
    else
        LOG(INFO, "TLS: encrypted in user space: the kernel offers kernel "
            "TLS, but %s did not attach it to the connection",
            OpenSSL_version(OPENSSL_VERSION));
}

/* Run the handshake to its end, honouring t's timeouts. */
static int tls_handshake(libxlmig__gc *gc, libxlmig__transport *t,
                         tls_priv *tp, bool client, const char *who)
{
    char why[160];
    sigpipe_guard g;
    int r, err, e;

    for (;;) {
        sigpipe_block(tp, &g);
        ERR_clear_error();
        errno = 0;
        r = client ? SSL_connect(tp->ssl) : SSL_accept(tp->ssl);
        e = errno;
        err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(tp->ssl, r);
        if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ &&
            err != SSL_ERROR_WANT_WRITE)
            ssl_reason(why, sizeof(why), err, e);
        sigpipe_unblock(&g);
        if (err == SSL_ERROR_NONE)
            break;
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (!libxlmig__transport_poll(t, err == SSL_ERROR_WANT_READ
                                             ? POLLIN : POLLOUT))
                continue;
            if (errno == ETIMEDOUT) {
                LOG(ERROR, "TLS handshake with %s: timed out", who);
                return LIBXLMIG_ERROR_TIMEOUT;
            }
            LOGE(ERROR, "TLS handshake with %s: poll failed", who);
            return LIBXLMIG_ERROR_IO;
        }
        if (!client && tp->unknown) {
            LOG(ERROR, "TLS handshake with %s refused: it names itself "
                "'%s', which is not a node of the cluster config", who,
                tp->identity[0] ? tp->identity : "(unprintable)");
        } else if (client) {
            LOG(ERROR, "TLS handshake with %s failed to prove cluster "
                "membership: %s (do both nodes hold the same cluster key, "
                "and does %s know this node?)", who, why, who);
        } else {
            LOG(ERROR, "TLS handshake with %s failed: %s (a peer without "
                "the cluster key, or a replayed handshake)", who, why);
        }
        return LIBXLMIG_ERROR_AUTH;
    }
    tp->done = true;
    tp->key = NULL;
    tp->ktls_send = BIO_get_ktls_send(SSL_get_wbio(tp->ssl)) > 0;
    ktls_note(gc, tp);
    if (!tp->ktls_send)
        obuf_setup(tp);
    return 0;
}

int libxlmig__transport_tls_client(libxlmig__gc *gc, libxlmig__transport *t,
                                   const struct libxlmig__key *key,
                                   const char *my_node,
                                   const char *want_peer)
{
    tls_priv *tp;
    int rc;

    if (strlen(my_node) > TLS_NODE_MAX) {
        LOG(ERROR, "node name '%s' is too long for TLS", my_node);
        return LIBXLMIG_ERROR_INVAL;
    }
    rc = tls_setup(gc, t, true, &tp);
    if (rc) return rc;
    tp->key = key;
    tp->my_node = my_node;
    return tls_handshake(gc, t, tp, true, want_peer ? want_peer : t->peer);
}

int libxlmig__transport_tls_server(libxlmig__gc *gc, libxlmig__transport *t,
                                   const struct libxlmig__key *key,
                                   libxlmig__tls_known_fn *known,
                                   void *opaque)
{
    tls_priv *tp;
    int rc;

    rc = tls_setup(gc, t, false, &tp);
    if (rc) return rc;
    tp->key = key;
    tp->known = known;
    tp->opaque = opaque;
    return tls_handshake(gc, t, tp, false, t->peer);
}

/* ---- what a new connection would get ---- */

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static bool kernel_tls;
static pthread_once_t kernel_tls_once = PTHREAD_ONCE_INIT;

/* Can a TCP socket here take the kernel's TLS (TCP_ULP "tls")?  Tried on
 * a loopback connection, as OpenSSL tries it on each real one. */
static void kernel_tls_probe(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int l = -1, c = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &len) ||
        connect(c, (struct sockaddr *)&sa, sizeof(sa)))
        goto out;
    kernel_tls = !setsockopt(c, SOL_TCP, TCP_ULP, "tls", sizeof("tls"));
 out:
    if (l >= 0) close(l);
    if (c >= 0) close(c);
}

const char *libxlmig__tls_expected_security(void)
{
    pthread_once(&kernel_tls_once, kernel_tls_probe);
    return kernel_tls ? "TLS 1.3 (kernel send)" : "TLS 1.3 (user space)";
}
