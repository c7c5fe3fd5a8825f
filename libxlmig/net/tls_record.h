/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * TLS 1.3 record protection (RFC 8446, 5.2-5.3 and 7.1-7.2) for
 * TLS_AES_128_GCM_SHA256, in user space: what the kernel's TLS does for
 * a socket once OpenSSL has handed it the keys, done here where the
 * kernel has no TLS.  The records are TLS 1.3's; a peer that reads or
 * writes them with OpenSSL or the kernel sees no difference.  Used by
 * tls.c after the handshake, which OpenSSL runs.
 *
 * Why not OpenSSL's own record layer after the handshake: SSL_write
 * copies every byte into its buffer before it encrypts it in place, and
 * SSL_read decrypts in place in its buffer and copies the result out;
 * with scattered guest pages the caller adds a copy of its own to hand
 * SSL_write one buffer.  Here a record is encrypted from the pages into
 * the send buffer and decrypted from the receive buffer into the pages:
 * a third less work per byte for the receiver (docs/bench.md, "Records
 * in user space").
 *
 * The cipher is libgcrypt's AES-128-GCM where the CPU has AES-NI and
 * PCLMULQDQ: with it the sending thread took 11 % less CPU per GiB of
 * guest pages and the receiving thread 12 % less than with OpenSSL 3.0's
 * (docs/bench.md, "AES-GCM from libgcrypt").  Elsewhere it is OpenSSL's,
 * which is then the faster.  OpenSSL keeps the handshake and the key
 * derivation.
 */
#ifndef LIBXLMIG_NET_TLS_RECORD_H
#define LIBXLMIG_NET_TLS_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <gcrypt.h>
#include <openssl/evp.h>

#include "core/core.h"

/* The oldest libgcrypt whose AES-GCM records are sealed and opened with
 * (Debian 12 has 1.10.1). */
#define LIBXLMIG__GCRYPT_MIN       "1.8.0"

#define LIBXLMIG__TLS_SECRET_LEN   32      /* SHA-256 */
#define LIBXLMIG__TLS_KEY_LEN      16      /* AES-128 */
#define LIBXLMIG__TLS_IV_LEN       12
#define LIBXLMIG__TLS_TAG_LEN      16
#define LIBXLMIG__TLS_HDR_LEN      5
/* Largest plaintext of a record, and the largest record on the wire
 * (RFC 8446 5.2: plaintext, its content type, padding and the tag take
 * at most 2^14 + 256 bytes). */
#define LIBXLMIG__TLS_PLAIN_MAX    (16 * 1024)
#define LIBXLMIG__TLS_BODY_MAX     (LIBXLMIG__TLS_PLAIN_MAX + 256)
#define LIBXLMIG__TLS_RECORD_MAX   (LIBXLMIG__TLS_HDR_LEN + \
                                    LIBXLMIG__TLS_BODY_MAX)
/* A record this transport writes: header, plaintext, type, tag. */
#define LIBXLMIG__TLS_OVERHEAD     (LIBXLMIG__TLS_HDR_LEN + 1 + \
                                    LIBXLMIG__TLS_TAG_LEN)

/* Content types (RFC 8446 5.1); every protected record goes out as
 * application_data, its real type the last byte inside. */
enum {
    LIBXLMIG__TLS_ALERT = 21,
    LIBXLMIG__TLS_HANDSHAKE = 22,
    LIBXLMIG__TLS_APPDATA = 23,
};
#define LIBXLMIG__TLS_KEY_UPDATE   24      /* handshake message type */

/* One direction of a connection: its traffic secret, the key and IV
 * derived from it, and the next record's sequence number. */
typedef struct libxlmig__tls_dir {
    gcry_cipher_hd_t hd;        /* libgcrypt's AES-GCM, or */
    EVP_CIPHER_CTX *ctx;        /* OpenSSL's */
    unsigned char secret[LIBXLMIG__TLS_SECRET_LEN];
    unsigned char iv[LIBXLMIG__TLS_IV_LEN];
    uint64_t seq;
    bool enc;
} libxlmig__tls_dir;

/* d protects what one side sends (enc) or what it receives, from the
 * traffic secret the handshake gave that direction: 0, or -1. */
_hidden int libxlmig__tls_dir_init(libxlmig__tls_dir *d,
                                   const unsigned char *secret, bool enc);
/* The next generation of d's keys (KeyUpdate, RFC 8446 7.2): 0, or -1. */
_hidden int libxlmig__tls_dir_update(libxlmig__tls_dir *d);
/* The library whose AES-GCM protects d: "libgcrypt" or "OpenSSL". */
_hidden const char *libxlmig__tls_dir_lib(const libxlmig__tls_dir *d);
/* Forget d's keys. */
_hidden void libxlmig__tls_dir_free(libxlmig__tls_dir *d);

/* A place in an iovec array. */
typedef struct libxlmig__iov_pos {
    const struct iovec *iov;
    int iovcnt;
    int i;
    size_t off;
} libxlmig__iov_pos;

/* The bytes at p, at most len of them, in one piece: their count (0 at
 * the array's end) and *at_r where they are. */
static inline size_t libxlmig__iov_pos_at(libxlmig__iov_pos *p, size_t len,
                                          unsigned char **at_r)
{
    size_t k;

    while (p->i < p->iovcnt && p->off == p->iov[p->i].iov_len) {
        p->i++;
        p->off = 0;
    }
    if (p->i >= p->iovcnt)
        return 0;
    k = p->iov[p->i].iov_len - p->off;
    *at_r = (unsigned char *)p->iov[p->i].iov_base + p->off;
    return k < len ? k : len;
}

/* p past the k bytes libxlmig__iov_pos_at gave. */
static inline void libxlmig__iov_pos_skip(libxlmig__iov_pos *p, size_t k)
{
    p->off += k;
}

/* HKDF with SHA-256 (RFC 5869) of key, through OpenSSL: extract with
 * salt and expand, or expand only when salt is NULL.  0, or -1. */
_hidden int libxlmig__tls_hkdf(const void *key, size_t key_len,
                               const void *salt, size_t salt_len,
                               const void *info, size_t info_len,
                               unsigned char *out, size_t len);

/*
 * One record of type holding the next len bytes at *pos (advanced), or
 * the len bytes of buf when pos is NULL, into out, which has room for
 * len + LIBXLMIG__TLS_OVERHEAD bytes: the record's length, or 0 if
 * OpenSSL failed.  len <= LIBXLMIG__TLS_PLAIN_MAX.
 */
_hidden size_t libxlmig__tls_seal(libxlmig__tls_dir *d, uint8_t type,
                                  libxlmig__iov_pos *pos, const void *buf,
                                  size_t len, unsigned char *out);

/*
 * The record rec of rec_len bytes (header included; its header already
 * checked by the caller): the first ndirect bytes of its inner plaintext
 * are decrypted to *pos (advanced), the rest (content type and any
 * padding included) to rest, which has room for LIBXLMIG__TLS_BODY_MAX
 * bytes.  The number of bytes in rest, or -1 if the record fails its
 * tag (nothing it decrypted may then be used).
 */
_hidden ssize_t libxlmig__tls_open(libxlmig__tls_dir *d,
                                   const unsigned char *rec, size_t rec_len,
                                   libxlmig__iov_pos *pos, size_t ndirect,
                                   unsigned char *rest);

/* tls_record.c, tests only: which library's AES-GCM directions keyed
 * from now on use (LIBXLMIG__TLS_LIB_*; default AUTO). */
enum {
    LIBXLMIG__TLS_LIB_AUTO,             /* libgcrypt with AES-NI, PCLMUL */
    LIBXLMIG__TLS_LIB_GCRYPT,
    LIBXLMIG__TLS_LIB_OPENSSL,
};
_hidden extern int libxlmig__tls_cipher_lib;

/* tls.c: records a sending key protects before the next (KeyUpdate);
 * tests only: which records go through OpenSSL instead (the client's
 * sent: 1, received: 2; the server's: 4, 8), whether this side's
 * KeyUpdates ask for one back, empty records before each write,
 * KeyUpdates sent [0], taken [1] and sent as answers [2]. */
_hidden extern uint64_t libxlmig__tls_records_per_key;
_hidden extern int libxlmig__tls_openssl_records;
_hidden extern bool libxlmig__tls_request_update;
_hidden extern unsigned libxlmig__tls_empty_records;
_hidden extern uint64_t libxlmig__tls_key_updates[3];

#endif /* LIBXLMIG_NET_TLS_RECORD_H */
