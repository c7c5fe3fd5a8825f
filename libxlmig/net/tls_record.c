/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * TLS 1.3 record protection in user space (tls_record.h says why):
 * the keys of a direction from its traffic secret (HKDF, OpenSSL's), and
 * sealing and opening one record, AES-128-GCM through libgcrypt or
 * OpenSSL's EVP interface (use_gcrypt says which).
 *
 *   key   = HKDF-Expand-Label(secret, "key", "", 16)
 *   iv    = HKDF-Expand-Label(secret, "iv", "", 12)
 *   nonce = iv XOR the record's 64-bit sequence number (right-aligned)
 *   AAD   = the record's 5-byte header
 *   next secret (KeyUpdate) = HKDF-Expand-Label(secret, "traffic upd",
 *                                               "", 32)
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <limits.h>
#include <pthread.h>

#include "net/tls_record.h"

int libxlmig__tls_hkdf(const void *key, size_t key_len, const void *salt,
                       size_t salt_len, const void *info, size_t info_len,
                       unsigned char *out, size_t len)
{
    int mode = salt ? EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND
                    : EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx;
    OSSL_PARAM params[6], *p = params;

    *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *)key, key_len);
    if (salt)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                 (void *)salt, salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    ok = kctx && EVP_KDF_derive(kctx, out, len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

/* HKDF-Expand-Label (RFC 8446 7.1) with SHA-256 and an empty context:
 * 0, or -1. */
static int expand_label(const unsigned char *secret, const char *label,
                        unsigned char *out, size_t len)
{
    unsigned char info[2 + 1 + 255 + 1];
    size_t llen = strlen("tls13 ") + strlen(label), n = 0;

    if (llen > 255 || len > 0xffff)
        return -1;
    info[n++] = (unsigned char)(len >> 8);
    info[n++] = (unsigned char)len;
    info[n++] = (unsigned char)llen;
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, llen - 6);
    n += llen;
    info[n++] = 0;                          /* the context: empty */
    return libxlmig__tls_hkdf(secret, LIBXLMIG__TLS_SECRET_LEN, NULL, 0,
                              info, n, out, len);
}

/*
 * Which library's AES-GCM protects the records.  libgcrypt's is the
 * faster where the CPU has AES-NI and PCLMULQDQ (x86-64 servers since
 * about 2010; with VAES more so): docs/bench.md, "AES-GCM from
 * libgcrypt".  Without them OpenSSL's SSSE3 code is the faster, and on
 * other architectures OpenSSL's has had the CPU's crypto instructions
 * longest: there it stays OpenSSL's.
 */
int libxlmig__tls_cipher_lib;               /* tests: LIBXLMIG__TLS_LIB_* */
static bool gcrypt_wanted, gcrypt_ok;

static void cipher_lib_init(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    gcrypt_wanted = __builtin_cpu_supports("aes") &&
                    __builtin_cpu_supports("pclmul");
#endif
    gcrypt_ok = gcry_check_version(LIBXLMIG__GCRYPT_MIN) != NULL;
}

/* Whether a direction keyed now uses libgcrypt (else OpenSSL). */
static bool use_gcrypt(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, cipher_lib_init);
    switch (libxlmig__tls_cipher_lib) {
    case LIBXLMIG__TLS_LIB_GCRYPT: return gcrypt_ok;
    case LIBXLMIG__TLS_LIB_OPENSSL: return false;
    default: return gcrypt_ok && gcrypt_wanted;
    }
}

/* d's key and IV from d->secret; the sequence starts again at 0.  The
 * library is chosen when d is first keyed and kept for its KeyUpdates. */
static int dir_key(libxlmig__tls_dir *d)
{
    unsigned char key[LIBXLMIG__TLS_KEY_LEN];
    bool ok;

    if (expand_label(d->secret, "key", key, sizeof(key)) ||
        expand_label(d->secret, "iv", d->iv, sizeof(d->iv))) {
        OPENSSL_cleanse(key, sizeof(key));
        return -1;
    }
    if (!d->hd && !d->ctx) {
        if (use_gcrypt()) {
            if (gcry_cipher_open(&d->hd, GCRY_CIPHER_AES128,
                                 GCRY_CIPHER_MODE_GCM, 0))
                d->hd = NULL;
        } else {
            d->ctx = EVP_CIPHER_CTX_new();
        }
    }
    if (d->hd)
        ok = !gcry_cipher_setkey(d->hd, key, sizeof(key));
    else
        ok = d->ctx &&
             EVP_CipherInit_ex(d->ctx, EVP_aes_128_gcm(), NULL, key, NULL,
                               d->enc ? 1 : 0) == 1 &&
             EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_SET_IVLEN,
                                 LIBXLMIG__TLS_IV_LEN, NULL) == 1;
    OPENSSL_cleanse(key, sizeof(key));
    d->seq = 0;
    return ok ? 0 : -1;
}

int libxlmig__tls_dir_init(libxlmig__tls_dir *d, const unsigned char *secret,
                           bool enc)
{
    memset(d, 0, sizeof(*d));
    d->enc = enc;
    memcpy(d->secret, secret, LIBXLMIG__TLS_SECRET_LEN);
    return dir_key(d);
}

int libxlmig__tls_dir_update(libxlmig__tls_dir *d)
{
    unsigned char next[LIBXLMIG__TLS_SECRET_LEN];

    if (expand_label(d->secret, "traffic upd", next, sizeof(next)))
        return -1;
    memcpy(d->secret, next, sizeof(next));
    OPENSSL_cleanse(next, sizeof(next));
    return dir_key(d);
}

const char *libxlmig__tls_dir_lib(const libxlmig__tls_dir *d)
{
    return d->hd ? "libgcrypt" : "OpenSSL";
}

void libxlmig__tls_dir_free(libxlmig__tls_dir *d)
{
    gcry_cipher_close(d->hd);               /* both wipe the key schedule */
    EVP_CIPHER_CTX_free(d->ctx);
    OPENSSL_cleanse(d, sizeof(*d));
}

/* The next record's nonce, and its header as AAD: 0, or -1. */
static int record_start(libxlmig__tls_dir *d, const unsigned char *hdr)
{
    unsigned char nonce[LIBXLMIG__TLS_IV_LEN];
    int i, n;

    memcpy(nonce, d->iv, sizeof(nonce));
    for (i = 0; i < 8; i++)
        nonce[LIBXLMIG__TLS_IV_LEN - 1 - i] ^= (unsigned char)(d->seq >> (8 * i));
    if (d->hd)
        return gcry_cipher_setiv(d->hd, nonce, sizeof(nonce)) ||
               gcry_cipher_authenticate(d->hd, hdr, LIBXLMIG__TLS_HDR_LEN)
               ? -1 : 0;
    return EVP_CipherInit_ex(d->ctx, NULL, NULL, NULL, nonce, -1) == 1 &&
           EVP_CipherUpdate(d->ctx, NULL, &n, hdr,
                            LIBXLMIG__TLS_HDR_LEN) == 1 ? 0 : -1;
}

/* Run len bytes of in through d's cipher to out: 0, or -1. */
static int crypt_some(libxlmig__tls_dir *d, unsigned char *out,
                      const unsigned char *in, size_t len)
{
    int n;

    if (d->hd) {
        if (!len)
            return 0;
        return (d->enc ? gcry_cipher_encrypt(d->hd, out, len, in, len)
                       : gcry_cipher_decrypt(d->hd, out, len, in, len))
               ? -1 : 0;
    }
    while (len) {
        size_t k = len > INT_MAX / 2 ? INT_MAX / 2 : len;

        if (EVP_CipherUpdate(d->ctx, out, &n, in, (int)k) != 1 ||
            (size_t)n != k)
            return -1;
        out += k;
        in += k;
        len -= k;
    }
    return 0;
}

/* Sealing: the record's tag, after its last byte.  0, or -1. */
static int record_tag(libxlmig__tls_dir *d, unsigned char *tag)
{
    int n;

    if (d->hd)
        return gcry_cipher_gettag(d->hd, tag, LIBXLMIG__TLS_TAG_LEN)
               ? -1 : 0;
    return EVP_CipherFinal_ex(d->ctx, tag, &n) == 1 && n == 0 &&
           EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_GET_TAG,
                               LIBXLMIG__TLS_TAG_LEN, tag) == 1 ? 0 : -1;
}

/* Opening: whether the record's tag is the one its bytes give.  0, or
 * -1. */
static int record_check(libxlmig__tls_dir *d, const unsigned char *tag)
{
    unsigned char none[LIBXLMIG__TLS_TAG_LEN];
    int n;

    if (d->hd)
        return gcry_cipher_checktag(d->hd, tag, LIBXLMIG__TLS_TAG_LEN)
               ? -1 : 0;
    return EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_SET_TAG,
                               LIBXLMIG__TLS_TAG_LEN, (void *)tag) == 1 &&
           EVP_CipherFinal_ex(d->ctx, none, &n) == 1 ? 0 : -1;
}

/* len bytes from *pos through the cipher: to out (seal) or the other
 * way, from in to the places of *pos (open).  0, or -1. */
static int crypt_iov(libxlmig__tls_dir *d, libxlmig__iov_pos *pos,
                     size_t len, unsigned char *buf)
{
    unsigned char *at;
    size_t k;

    while (len) {
        k = libxlmig__iov_pos_at(pos, len, &at);
        if (!k || (d->enc ? crypt_some(d, buf, at, k)
                          : crypt_some(d, at, buf, k)))
            return -1;
        libxlmig__iov_pos_skip(pos, k);
        buf += k;
        len -= k;
    }
    return 0;
}

size_t libxlmig__tls_seal(libxlmig__tls_dir *d, uint8_t type,
                          libxlmig__iov_pos *pos, const void *buf,
                          size_t len, unsigned char *out)
{
    size_t body = len + 1 + LIBXLMIG__TLS_TAG_LEN;
    unsigned char *p = out + LIBXLMIG__TLS_HDR_LEN;

    if (len > LIBXLMIG__TLS_PLAIN_MAX)
        return 0;
    out[0] = LIBXLMIG__TLS_APPDATA;
    out[1] = 3;                             /* legacy_record_version */
    out[2] = 3;
    out[3] = (unsigned char)(body >> 8);
    out[4] = (unsigned char)body;
    if (record_start(d, out))
        return 0;
    if (pos ? crypt_iov(d, pos, len, p) : crypt_some(d, p, buf, len))
        return 0;
    p += len;
    if (crypt_some(d, p, &type, 1) || record_tag(d, p + 1))
        return 0;
    d->seq++;
    return LIBXLMIG__TLS_HDR_LEN + body;
}

ssize_t libxlmig__tls_open(libxlmig__tls_dir *d, const unsigned char *rec,
                           size_t rec_len, libxlmig__iov_pos *pos,
                           size_t ndirect, unsigned char *rest)
{
    const unsigned char *c = rec + LIBXLMIG__TLS_HDR_LEN;
    size_t inner, nrest;

    if (rec_len < LIBXLMIG__TLS_HDR_LEN + 1 + LIBXLMIG__TLS_TAG_LEN ||
        rec_len > LIBXLMIG__TLS_RECORD_MAX)
        return -1;
    inner = rec_len - LIBXLMIG__TLS_HDR_LEN - LIBXLMIG__TLS_TAG_LEN;
    if (ndirect >= inner)
        return -1;                          /* the type stays in rest */
    nrest = inner - ndirect;
    if (record_start(d, rec) ||
        (ndirect && crypt_iov(d, pos, ndirect, (unsigned char *)c)) ||
        crypt_some(d, rest, c + ndirect, nrest) ||
        record_check(d, c + inner))
        return -1;
    d->seq++;
    return (ssize_t)nrest;
}
