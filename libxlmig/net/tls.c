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
 * tickets, no early data.
 *
 * OpenSSL runs the handshake; the records after it are protected here,
 * in user space (tls_record.h: from the pages into the send buffer and
 * from the receive buffer into the pages, without OpenSSL's copies),
 * with the traffic secrets OpenSSL hands its key log callback.  Where
 * the kernel has TLS, OpenSSL gives it the sending keys instead
 * (SSL_OP_ENABLE_KTLS), so pages still go by reference, and only what
 * is received is opened here.  The records are TLS 1.3's either way.
 *
 * Full duplex: the socket is non-blocking; the writer's and the reader's
 * state each have a mutex (and OpenSSL's SSL object one of its own),
 * held while a record is sealed, opened or sent, never while waiting
 * (poll), so one thread may read while another writes, and
 * libxlmig__transport_shutdown from a third makes both fail promptly.
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

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/net.h"
#include "net/tls_record.h"

#define TLS_PSK_LEN     32
#define TLS_NODE_MAX    64             /* bytes of a PSK identity */
#define TLS_PSK_SALT    "xlmig"
#define TLS_PSK_LABEL   "xlmig tls13 psk v1"
#define TLS_SUITE       "TLS_AES_128_GCM_SHA256"
/* The largest record's payload (TLS 1.3), and the buffer small pieces
 * of a write are gathered in: whole records each. */
#define TLS_RECORD      (16 * 1024)
#define TLS_GATHER      (4 * TLS_RECORD)
/* Records sealed before they go to the socket in one send (user-space
 * TLS; kernel TLS has the socket's own buffers). */
#define TLS_OUT_BUF     (256 * 1024)
/* Bytes read from the socket at a time (many records). */
#define TLS_READ_BUF    (256 * 1024)
/* A piece of a write shorter than this (a frame header) goes in a record
 * with only the short pieces next to it; a record's plaintext at least
 * this long is opened straight into the reader's buffers. */
#define TLS_SHORT       512
/* Empty records in a row a reader takes: as many as OpenSSL's record
 * layer took, so a peer cannot keep the reader opening nothing. */
#define TLS_IDLE_MAX    32

/* Records a sending key protects before this side moves to the next one
 * (KeyUpdate): AES-GCM's limit in TLS 1.3 is 2^24.5 full records (RFC
 * 8446 5.5).  Lowered by tests. */
uint64_t libxlmig__tls_records_per_key = UINT64_C(1) << 23;
/* Tests only: records through OpenSSL's own record layer, as a peer that
 * is not xlmig would (what the client sends: 1, receives: 2; the server:
 * 4, 8); whether this side's KeyUpdates ask the peer for one (OpenSSL's
 * SSL_KEY_UPDATE_REQUESTED); how many empty records this side writes
 * before each write (as a hostile peer could); how many KeyUpdates were
 * sent, taken, and sent as answers. */
int libxlmig__tls_openssl_records;
bool libxlmig__tls_request_update;
unsigned libxlmig__tls_empty_records;
uint64_t libxlmig__tls_key_updates[3];

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
    /* the handshake's traffic secrets (key log): [0] the client's */
    unsigned char secret[2][LIBXLMIG__TLS_SECRET_LEN];
    unsigned have_secret;      /* bit 0: [0], bit 1: [1] */
    int fd;
    /* records sealed (utx) and opened (urx) here, not by OpenSSL */
    bool utx, urx;
    /* the writer's: OpenSSL's (kernel TLS) ... */
    unsigned char *wbuf;
    /* ... or this side's, under txlock */
    pthread_mutex_t txlock;
    libxlmig__tls_dir tx;
    unsigned char *obuf;       /* records sealed, not yet on the socket */
    size_t olen, ooff;
    int txerr;                 /* the first failure: final */
    bool tx_update;            /* the peer asked for a KeyUpdate (atomic) */
    /* the reader's, under rxlock */
    pthread_mutex_t rxlock;
    libxlmig__tls_dir rx;
    unsigned char *rbuf;       /* from the socket, not yet opened */
    size_t rlen, roff;
    unsigned char *pbuf;       /* opened, not yet read */
    size_t plen, poff;
    bool reof;                 /* the peer's close_notify, or the end */
    int rxerr;                 /* the first failure: final */
    unsigned rx_idle;          /* empty records in a row */
    char why_send[160], why_recv[160];  /* last failure of each side */
} tls_priv;

/* PSK of node: HKDF-SHA256 over the cluster key, bound to the name. */
static int derive_psk(const struct libxlmig__key *k, const char *node,
                      unsigned char psk[TLS_PSK_LEN])
{
    unsigned char info[sizeof(TLS_PSK_LABEL) + TLS_NODE_MAX];
    size_t nlen = strlen(node);

    if (nlen > TLS_NODE_MAX)
        return -1;
    memcpy(info, TLS_PSK_LABEL, sizeof(TLS_PSK_LABEL)); /* with its NUL */
    memcpy(info + sizeof(TLS_PSK_LABEL), node, nlen);
    return libxlmig__tls_hkdf(k->bytes, k->len, TLS_PSK_SALT,
                              strlen(TLS_PSK_SALT), info,
                              sizeof(TLS_PSK_LABEL) + nlen, psk,
                              TLS_PSK_LEN);
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

static void peer_alert(tls_priv *tp, int e);

/* ---- OpenSSL's input ---- */

/*
 * OpenSSL reads the handshake (and, in tests, records) through this BIO
 * rather than its socket BIO, so the kernel takes the keys for sending
 * only and receiving stays in user space: OpenSSL's kernel-TLS receive
 * path gives each read from the kernel a made-up record header with a
 * 16-bit length, but the kernel returns as many ready records as fit the
 * read buffer, and a read of more than 64 KiB got a wrong length.
 * Kernel TLS matters on the sending side (pages by reference).
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

/*
 * Wait until t's socket is ready for events, with lock (if any) dropped
 * meanwhile: 0, or the errno why not.  Our wait expiring is ETIME, as
 * ETIMEDOUT is the socket's own (TCP's user timeout).
 */
static int wait_socket(libxlmig__transport *t, pthread_mutex_t *lock,
                       short events)
{
    int e;

    if (lock)
        pthread_mutex_unlock(lock);
    e = libxlmig__transport_poll(t, events) ? errno : 0;
    if (lock)
        pthread_mutex_lock(lock);
    return e == ETIMEDOUT ? ETIME : e;
}

/* ---- records through OpenSSL (kernel TLS sending; tests) ---- */

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

    for (;;) {
        if (wr) sigpipe_block(tp, &g);
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
        pthread_mutex_unlock(&tp->lock);
        if (wr) sigpipe_unblock(&g);
        if (wr && err == SSL_ERROR_SYSCALL && (e == EPIPE || e == ECONNRESET))
            peer_alert(tp, e);
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
        if ((e = wait_socket(t, NULL, ev))) {
            errno = e;
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
 * All of iov through SSL_write, in records of TLS_RECORD bytes where it
 * can: a piece of at least TLS_GATHER / 2 bytes is encrypted from where
 * it is; smaller ones (a frame header, scattered pages) are gathered into
 * wbuf, up to the next record boundary of a large piece that follows.
 * The bytes written (fewer only if it failed), or -1.
 */
static ssize_t ssl_writev(libxlmig__transport *t, const struct iovec *iov,
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
    return done || !total ? (ssize_t)done : -1;
}

static ssize_t ssl_readv(libxlmig__transport *t, const struct iovec *iov,
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

/* ---- records out, in user space (tls_record.h) ---- */

/*
 * The writer seals records from the caller's pages straight into obuf,
 * which goes to the socket in sends of up to TLS_OUT_BUF bytes: when it
 * cannot take another record, and at the end of each write.  A frame
 * header or another short piece goes in a record of its own (with the
 * short pieces next to it), so a record of pages starts where the
 * reader's buffer for them does and is decrypted straight into it.
 * Everything here is the writer's, under txlock; a failure is final
 * (txerr), as records sealed but not sent cannot be taken back.
 */

/* Send what obuf holds, without waiting: 0 when it is empty, -1 with
 * errno (EAGAIN: the socket is full) otherwise.  txlock held. */
static int obuf_send(tls_priv *tp)
{
    ssize_t r;

    while (tp->ooff < tp->olen) {
        r = send(tp->fd, tp->obuf + tp->ooff, tp->olen - tp->ooff,
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

/* All of obuf to the socket, waiting for room (txlock dropped while
 * waiting): 0, or -1 with errno, txerr and why_send set. */
static int obuf_flush(libxlmig__transport *t, tls_priv *tp)
{
    int e;

    for (;;) {
        if (!obuf_send(tp))
            return 0;
        e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if (!(e = wait_socket(t, &tp->txlock, POLLOUT)))
                continue;
        } else {
            snprintf(tp->why_send, sizeof(tp->why_send), "%s", strerror(e));
            if (e == EPIPE || e == ECONNRESET)
                peer_alert(tp, e);
        }
        tp->txerr = e;
        errno = e;
        return -1;
    }
}

/* Seal one record of type into obuf, sending first if it has no room:
 * 0, or -1 with errno. */
static int obuf_seal(libxlmig__transport *t, tls_priv *tp, uint8_t type,
                     libxlmig__iov_pos *pos, const void *buf, size_t len)
{
    size_t k;

    if (TLS_OUT_BUF - tp->olen < len + LIBXLMIG__TLS_OVERHEAD &&
        obuf_flush(t, tp))
        return -1;
    k = libxlmig__tls_seal(&tp->tx, type, pos, buf, len,
                           tp->obuf + tp->olen);
    if (!k) {
        snprintf(tp->why_send, sizeof(tp->why_send),
                 "TLS: cannot encrypt a record");
        tp->txerr = errno = EIO;
        return -1;
    }
    tp->olen += k;
    return 0;
}

/*
 * A KeyUpdate (RFC 8446 4.6.3) before the next record, when the peer
 * asked for one or this direction's key has protected
 * libxlmig__tls_records_per_key records: 0, or -1 with errno.
 */
static int tx_key_update(libxlmig__transport *t, tls_priv *tp)
{
    unsigned char msg[] = {
        LIBXLMIG__TLS_KEY_UPDATE, 0, 0, 1, 0 /* update_not_requested */ };

    if (__atomic_load_n(&tp->tx_update, __ATOMIC_ACQUIRE) &&
        __atomic_exchange_n(&tp->tx_update, false, __ATOMIC_ACQ_REL))
        __atomic_add_fetch(&libxlmig__tls_key_updates[2], 1,
                           __ATOMIC_RELAXED);  /* an answer asks none */
    else if (tp->tx.seq >= libxlmig__tls_records_per_key)
        msg[4] = libxlmig__tls_request_update;
    else
        return 0;
    if (obuf_seal(t, tp, LIBXLMIG__TLS_HANDSHAKE, NULL, msg, sizeof(msg)))
        return -1;
    if (libxlmig__tls_dir_update(&tp->tx)) {
        snprintf(tp->why_send, sizeof(tp->why_send),
                 "TLS: cannot derive the next key");
        tp->txerr = errno = EIO;
        return -1;
    }
    __atomic_add_fetch(&libxlmig__tls_key_updates[0], 1, __ATOMIC_RELAXED);
    return 0;
}

/* Bytes of the next record at p: up to a full record, ending early
 * after short pieces that a long one follows. */
static size_t next_record_len(const libxlmig__iov_pos *p)
{
    size_t n = 0, off = p->off, k;
    bool after_short = false;
    int i;

    for (i = p->i; i < p->iovcnt && n < LIBXLMIG__TLS_PLAIN_MAX; i++) {
        const size_t len = p->iov[i].iov_len;
        const bool short_piece = len < TLS_SHORT;

        if (!short_piece && after_short && n)
            break;
        k = len - off;
        if (k > LIBXLMIG__TLS_PLAIN_MAX - n)
            k = LIBXLMIG__TLS_PLAIN_MAX - n;
        n += k;
        off = 0;
        if (len)
            after_short = short_piece;
    }
    return n;
}

static ssize_t rec_writev(libxlmig__transport *t, const struct iovec *iov,
                          int iovcnt)
{
    tls_priv *tp = t->priv;
    libxlmig__iov_pos pos = { iov, iovcnt, 0, 0 };
    size_t total = 0, done = 0, n;
    int i;

    for (i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    pthread_mutex_lock(&tp->txlock);
    if (tp->txerr) {
        errno = tp->txerr;
        goto fail;
    }
    for (i = 0; i < (int)libxlmig__tls_empty_records && total; i++)
        if (obuf_seal(t, tp, LIBXLMIG__TLS_APPDATA, NULL, "", 0))
            goto fail;
    while (done < total) {
        if (tx_key_update(t, tp))
            goto fail;
        n = next_record_len(&pos);
        if (obuf_seal(t, tp, LIBXLMIG__TLS_APPDATA, &pos, NULL, n))
            goto fail;
        done += n;
    }
    if (obuf_flush(t, tp))
        goto fail;
    pthread_mutex_unlock(&tp->txlock);
    return (ssize_t)total;
 fail:
    pthread_mutex_unlock(&tp->txlock);
    return -1;
}

/* An alert (level 2: fatal, 1: close_notify) out without waiting, if
 * obuf has room: the last record of this side.  txlock held. */
static void tx_alert(tls_priv *tp, int level, int desc)
{
    unsigned char a[2] = { (unsigned char)level, (unsigned char)desc };
    size_t k;

    if (tp->txerr || TLS_OUT_BUF - tp->olen < sizeof(a) + LIBXLMIG__TLS_OVERHEAD)
        return;
    k = libxlmig__tls_seal(&tp->tx, LIBXLMIG__TLS_ALERT, NULL, a, sizeof(a),
                           tp->obuf + tp->olen);
    tp->olen += k;
    (void)obuf_send(tp);
    tp->txerr = EPIPE;
}

/* ---- records in, in user space ---- */

/*
 * The reader receives into rbuf, many records at a time, and opens each
 * record straight into the caller's buffers where it fits them (the
 * plaintext of a short record, or of the part that overflows the
 * caller's buffers, waits in pbuf).  Everything here is the reader's,
 * under rxlock, which is dropped while it waits for the socket.
 */

/* len bytes of src to *p (advanced). */
static void pos_copy(libxlmig__iov_pos *p, const unsigned char *src,
                     size_t len)
{
    unsigned char *at;
    size_t k;

    while (len && (k = libxlmig__iov_pos_at(p, len, &at))) {
        memcpy(at, src, k);
        libxlmig__iov_pos_skip(p, k);
        src += k;
        len -= k;
    }
}

/* Bytes in the record at the head of rbuf if all of it is there, 0 if
 * not, -1 (why_recv set) if its header is not a protected record's. */
static ssize_t rx_next(tls_priv *tp)
{
    const unsigned char *h = tp->rbuf + tp->roff;
    size_t avail = tp->rlen - tp->roff, len;

    if (avail < LIBXLMIG__TLS_HDR_LEN)
        return 0;
    len = (size_t)h[3] << 8 | h[4];
    if (h[0] != LIBXLMIG__TLS_APPDATA || h[1] != 3 || h[2] != 3) {
        snprintf(tp->why_recv, sizeof(tp->why_recv), "TLS: unexpected "
                 "record of type %u after the handshake", h[0]);
        return -1;
    }
    if (len > LIBXLMIG__TLS_BODY_MAX ||
        len < 1 + LIBXLMIG__TLS_TAG_LEN) {
        snprintf(tp->why_recv, sizeof(tp->why_recv), "TLS: a record of "
                 "%zu bytes, outside what TLS 1.3 allows", len);
        return -1;
    }
    return avail < LIBXLMIG__TLS_HDR_LEN + len
           ? 0 : (ssize_t)(LIBXLMIG__TLS_HDR_LEN + len);
}

/* More of the socket into rbuf, without waiting: > 0 bytes, 0 at its
 * end, -1 with errno. */
static ssize_t rx_fill(tls_priv *tp)
{
    size_t left = tp->rlen - tp->roff;
    ssize_t r;

    if (tp->roff && TLS_READ_BUF + LIBXLMIG__TLS_RECORD_MAX - tp->rlen <
                    LIBXLMIG__TLS_RECORD_MAX) {
        memmove(tp->rbuf, tp->rbuf + tp->roff, left);
        tp->rlen = left;
        tp->roff = 0;
    }
    do
        r = recv(tp->fd, tp->rbuf + tp->rlen,
                 TLS_READ_BUF + LIBXLMIG__TLS_RECORD_MAX - tp->rlen,
                 MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r > 0)
        tp->rlen += (size_t)r;
    return r;
}

/* A fatal alert to the peer for what the reader refused (as OpenSSL
 * sends one), where this side seals its own records. */
static void rx_refuse(tls_priv *tp, int desc)
{
    if (!tp->utx || pthread_mutex_trylock(&tp->txlock))
        return;                 /* the writer is at work: no alert */
    tx_alert(tp, 2, desc);
    pthread_mutex_unlock(&tp->txlock);
}

/*
 * What the record of rec bytes at the head of rbuf means, opened with
 * ndirect bytes to *pos: 1 data (ndirect bytes at *pos, then pbuf),
 * 0 nothing for the caller (close_notify sets reof; a KeyUpdate), or
 * -1 (why_recv set) if it is refused.
 */
static int rx_open(tls_priv *tp, size_t rec, libxlmig__iov_pos *pos,
                   size_t ndirect)
{
    unsigned char *p = tp->pbuf, type;
    ssize_t n;

    n = libxlmig__tls_open(&tp->rx, tp->rbuf + tp->roff, rec, pos, ndirect,
                           p);
    tp->roff += rec;
    if (n < 0) {
        snprintf(tp->why_recv, sizeof(tp->why_recv),
                 "TLS: decryption failed or bad record mac");
        rx_refuse(tp, SSL_AD_BAD_RECORD_MAC);
        return -1;
    }
    while (n && !p[n - 1])                  /* padding */
        n--;
    if (!n) {
        snprintf(tp->why_recv, sizeof(tp->why_recv), "TLS: a record without "
                 "a content type%s", ndirect ? " (padded records are not "
                 "supported)" : "");
        rx_refuse(tp, SSL_AD_UNEXPECTED_MESSAGE);
        return -1;
    }
    type = p[--n];
    if (type != LIBXLMIG__TLS_APPDATA || n || ndirect) {
        tp->rx_idle = 0;
    } else if (++tp->rx_idle > TLS_IDLE_MAX) {
        snprintf(tp->why_recv, sizeof(tp->why_recv), "TLS: more than %d "
                 "empty records in a row", TLS_IDLE_MAX);
        rx_refuse(tp, SSL_AD_UNEXPECTED_MESSAGE);
        return -1;
    }
    if (type == LIBXLMIG__TLS_APPDATA) {
        tp->plen = (size_t)n;
        tp->poff = 0;
        return 1;
    }
    if (ndirect) {
        snprintf(tp->why_recv, sizeof(tp->why_recv), "TLS: a protected "
                 "record of type %u and %zu bytes", type, ndirect + n);
        rx_refuse(tp, SSL_AD_UNEXPECTED_MESSAGE);
        return -1;
    }
    if (type == LIBXLMIG__TLS_ALERT && n == 2) {
        if (p[1] == SSL_AD_CLOSE_NOTIFY) {
            tp->reof = true;
            return 0;
        }
        snprintf(tp->why_recv, sizeof(tp->why_recv), "TLS: alert %s",
                 SSL_alert_desc_string_long(p[1]));
        return -1;
    }
    if (type == LIBXLMIG__TLS_HANDSHAKE && n == 5 &&
        p[0] == LIBXLMIG__TLS_KEY_UPDATE && !p[1] && !p[2] && p[3] == 1 &&
        p[4] <= 1) {
        if (libxlmig__tls_dir_update(&tp->rx)) {
            snprintf(tp->why_recv, sizeof(tp->why_recv),
                     "TLS: cannot derive the next key");
            return -1;
        }
        if (p[4])
            __atomic_store_n(&tp->tx_update, true, __ATOMIC_RELEASE);
        __atomic_add_fetch(&libxlmig__tls_key_updates[1], 1, __ATOMIC_RELAXED);
        return 0;
    }
    snprintf(tp->why_recv, sizeof(tp->why_recv), "TLS: an unexpected "
             "protected record (type %u, %zd bytes)", type, n);
    rx_refuse(tp, SSL_AD_UNEXPECTED_MESSAGE);
    return -1;
}

static ssize_t rec_readv(libxlmig__transport *t, const struct iovec *iov,
                         int iovcnt)
{
    tls_priv *tp = t->priv;
    libxlmig__iov_pos pos = { iov, iovcnt, 0, 0 };
    size_t total = 0, done = 0, k, ndirect;
    ssize_t rec, r;
    int i, e;

    for (i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    pthread_mutex_lock(&tp->rxlock);
    while (done < total) {
        if (tp->poff < tp->plen) {          /* plaintext waiting */
            k = tp->plen - tp->poff;
            if (k > total - done)
                k = total - done;
            pos_copy(&pos, tp->pbuf + tp->poff, k);
            tp->poff += k;
            done += k;
            continue;
        }
        if (tp->rxerr || tp->reof)
            break;
        rec = rx_next(tp);
        if (rec < 0) {
            tp->rxerr = EPROTO;
            rx_refuse(tp, SSL_AD_DECODE_ERROR);
            break;
        }
        if (rec > 0) {
            k = (size_t)rec - LIBXLMIG__TLS_HDR_LEN - LIBXLMIG__TLS_TAG_LEN;
            ndirect = k - 1 >= TLS_SHORT ? k - 1 : 0;
            if (ndirect > total - done)
                ndirect = total - done;
            r = rx_open(tp, (size_t)rec, &pos, ndirect);
            if (r < 0)
                tp->rxerr = EPROTO;
            else if (r > 0)
                done += ndirect;
            continue;
        }
        if (done)
            break;                          /* what is there, at once */
        r = rx_fill(tp);
        if (r > 0)
            continue;
        if (r == 0) {
            /* The end, without close_notify: as OpenSSL is told to take
             * it (SSL_OP_IGNORE_UNEXPECTED_EOF), unless inside a record. */
            if (tp->rlen > tp->roff) {
                snprintf(tp->why_recv, sizeof(tp->why_recv),
                         "TLS: the connection closed inside a record");
                tp->rxerr = EPROTO;
            }
            tp->reof = true;
            continue;
        }
        e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if (!(e = wait_socket(t, &tp->rxlock, POLLIN)))
                continue;
            pthread_mutex_unlock(&tp->rxlock);
            errno = e;
            return -1;
        }
        snprintf(tp->why_recv, sizeof(tp->why_recv), "%s", strerror(e));
        tp->rxerr = e;
    }
    e = tp->rxerr;
    pthread_mutex_unlock(&tp->rxlock);
    if (done || !total || !e)
        return (ssize_t)done;
    errno = e;
    return -1;
}

/*
 * A write failed because the peer closed: did it say why first (a TLS
 * alert such as bad_record_mac when it refused altered data)?  The
 * connection is over, so what is read here is lost to nobody.  Called
 * by the writer; skipped if the reader is at work.
 */
static void peer_alert(tls_priv *tp, int e)
{
    libxlmig__iov_pos none = { NULL, 0, 0, 0 };
    unsigned char b;
    const char *r;
    ssize_t rec;
    size_t n;

    if (tp->urx) {
        if (pthread_mutex_trylock(&tp->rxlock))
            return;
        while (!tp->rxerr && !tp->reof) {
            rec = rx_next(tp);
            if (!rec && rx_fill(tp) > 0)
                continue;
            if (rec <= 0 || rx_open(tp, (size_t)rec, &none, 0) < 0)
                break;
            tp->plen = tp->poff = 0;
        }
        if (!strncmp(tp->why_recv, "TLS: alert ", 11))
            snprintf(tp->why_send, sizeof(tp->why_send), "%s, after the "
                     "peer sent TLS %s", strerror(e), tp->why_recv + 5);
        pthread_mutex_unlock(&tp->rxlock);
        return;
    }
    pthread_mutex_lock(&tp->lock);
    ERR_clear_error();
    if (!SSL_read_ex(tp->ssl, &b, 1, &n) &&
        SSL_get_error(tp->ssl, 0) == SSL_ERROR_SSL) {
        r = ERR_reason_error_string(ERR_peek_last_error());
        if (r && strstr(r, "alert"))
            snprintf(tp->why_send, sizeof(tp->why_send), "%s, after the "
                     "peer sent TLS %s", strerror(e), r);
    }
    pthread_mutex_unlock(&tp->lock);
}

/* ---- the transport's ops ---- */

static ssize_t tls_writev(libxlmig__transport *t, const struct iovec *iov,
                          int iovcnt)
{
    tls_priv *tp = t->priv;

    return tp->utx ? rec_writev(t, iov, iovcnt) : ssl_writev(t, iov, iovcnt);
}

static ssize_t tls_readv(libxlmig__transport *t, const struct iovec *iov,
                         int iovcnt)
{
    tls_priv *tp = t->priv;

    return tp->urx ? rec_readv(t, iov, iovcnt) : ssl_readv(t, iov, iovcnt);
}

static ssize_t tls_read(libxlmig__transport *t, void *buf, size_t len)
{
    struct iovec v = { buf, len };

    return tls_readv(t, &v, 1);
}

static void tls_priv_free(tls_priv *tp)
{
    if (!tp)
        return;
    SSL_free(tp->ssl);
    SSL_CTX_free(tp->sslctx);
    pthread_mutex_destroy(&tp->lock);
    pthread_mutex_destroy(&tp->txlock);
    pthread_mutex_destroy(&tp->rxlock);
    libxlmig__tls_dir_free(&tp->tx);
    libxlmig__tls_dir_free(&tp->rx);
    OPENSSL_cleanse(tp->secret, sizeof(tp->secret));
    free(tp->wbuf);
    free(tp->obuf);
    free(tp->rbuf);
    free(tp->pbuf);
    free(tp);
}

static void tls_close(libxlmig__transport *t)
{
    tls_priv *tp = t->priv;
    sigpipe_guard g;

    if (tp && tp->done && tp->utx) {
        /* close_notify, if the socket takes it now */
        pthread_mutex_lock(&tp->txlock);
        tx_alert(tp, 1, SSL_AD_CLOSE_NOTIFY);
        pthread_mutex_unlock(&tp->txlock);
    } else if (tp && tp->done) {
        sigpipe_block(tp, &g);
        ERR_clear_error();
        (void)SSL_shutdown(tp->ssl);
        ERR_clear_error();
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

/*
 * The traffic secrets of the handshake, as OpenSSL logs them: "LABEL
 * <client random> <secret>" in hex.  Only the first application
 * traffic secrets are kept; records_setup takes them.
 */
static void keylog_cb(const SSL *ssl, const char *line)
{
    static const char *const label[2] = {
        "CLIENT_TRAFFIC_SECRET_0 ", "SERVER_TRAFFIC_SECRET_0 " };
    tls_priv *tp = SSL_get_app_data(ssl);
    const char *hex;
    unsigned char *out;
    int w, i;

    for (w = 0; w < 2; w++)
        if (!strncmp(line, label[w], strlen(label[w])))
            break;
    if (w == 2 || !tp ||
        !(hex = strchr(line + strlen(label[w]), ' ')) ||
        strlen(++hex) != 2 * LIBXLMIG__TLS_SECRET_LEN)
        return;
    out = tp->secret[w];
    for (i = 0; i < LIBXLMIG__TLS_SECRET_LEN; i++) {
        int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
        int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    tp->have_secret |= 1u << w;
}

/*
 * After the handshake: the records from here on are sealed and opened by
 * this side (tls_record.h), but for what the kernel sends (kernel TLS).
 * 0, or -1 (why says why).
 */
static int records_setup(tls_priv *tp, bool client, const char **why)
{
    const int mine = client ? 0 : 1;
    const int openssl = libxlmig__tls_openssl_records >> (client ? 0 : 2);

    if (SSL_pending(tp->ssl) || SSL_has_pending(tp->ssl)) {
        *why = "OpenSSL read past the handshake";
        return -1;
    }
    tp->urx = !(openssl & 2);
    tp->utx = !tp->ktls_send && !(openssl & 1);
    if ((tp->urx || tp->utx) && tp->have_secret != 3) {
        *why = "OpenSSL did not give the traffic secrets";
        return -1;
    }
    if (tp->urx &&
        (libxlmig__tls_dir_init(&tp->rx, tp->secret[1 - mine], false) ||
         !(tp->rbuf = malloc(TLS_READ_BUF + LIBXLMIG__TLS_RECORD_MAX)) ||
         !(tp->pbuf = malloc(LIBXLMIG__TLS_BODY_MAX)))) {
        *why = "cannot set up its receiving side";
        return -1;
    }
    if (tp->utx &&
        (libxlmig__tls_dir_init(&tp->tx, tp->secret[mine], true) ||
         !(tp->obuf = malloc(TLS_OUT_BUF)))) {
        *why = "cannot set up its sending side";
        return -1;
    }
    OPENSSL_cleanse(tp->secret, sizeof(tp->secret));
    if (!tp->urx) {
        SSL_set_read_ahead(tp->ssl, 1);
        SSL_set_default_read_buffer_len(tp->ssl, TLS_READ_BUF);
    }
    return 0;
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
    pthread_mutex_init(&tp->txlock, NULL);
    pthread_mutex_init(&tp->rxlock, NULL);
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
    /* OpenSSL reads no byte past the handshake's last record: what
     * follows is this side's to open (records_setup). */
    SSL_CTX_set_read_ahead(tp->sslctx, 0);
    SSL_CTX_set_keylog_callback(tp->sslctx, keylog_cb);
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
    const char *lib;
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
    lib = libxlmig__tls_dir_lib(&tp->rx);
    if (tp->ktls_send)
        LOG(INFO, "TLS: the kernel encrypts what this node sends (kernel "
            "TLS); what it receives is decrypted in user space (%s's "
            "AES-GCM)", lib);
    else if (!offered)
        LOG(INFO, "TLS: encrypted in user space (%s's AES-GCM): this "
            "kernel offers no kernel TLS (load its tls module: modprobe "
            "tls)", lib);
    else if (!getsockopt(tp->fd, IPPROTO_TCP, TCP_ULP, on, &onlen) &&
             !strcmp(on, "tls"))
        LOG(INFO, "TLS: encrypted in user space (%s's AES-GCM): %s "
            "attached kernel TLS to the connection, but the kernel refused "
            "the session keys (is its AES-GCM available? modprobe gcm ctr "
            "ghash-generic)", lib, OpenSSL_version(OPENSSL_VERSION));
    else
        LOG(INFO, "TLS: encrypted in user space (%s's AES-GCM): the kernel "
            "offers kernel TLS, but %s did not attach it to the "
            "connection", lib,
            OpenSSL_version(OPENSSL_VERSION));
}

/* Run the handshake to its end, honouring t's timeouts. */
static int tls_handshake(libxlmig__gc *gc, libxlmig__transport *t,
                         tls_priv *tp, bool client, const char *who)
{
    const char *rwhy;
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
    tp->key = NULL;
    tp->ktls_send = BIO_get_ktls_send(SSL_get_wbio(tp->ssl)) > 0;
    if (records_setup(tp, client, &rwhy)) {
        LOG(ERROR, "TLS with %s: %s", who, rwhy);
        return LIBXLMIG_ERROR_FAIL;
    }
    tp->done = true;
    ktls_note(gc, tp);
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
