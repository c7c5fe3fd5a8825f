/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Framed control messages between nodes.  Wire format (network order):
 *
 *   u32 magic "XLMP" | u16 version | u16 type | u16 flags | u16 zero |
 *   u32 payload length | u32 CRC32C(header with crc 0, payload) |
 *   payload | [32-byte HMAC-SHA256 tag when flags has MSG_F_MAC]
 *
 * The tag covers a 64-bit per-direction sequence number, the header and
 * the payload, so a keyed channel refuses forged, replayed, reordered or
 * corrupted messages.  Every field is checked before a payload is read.
 */
#include <arpa/inet.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "net/net.h"

#define MSG_HDR_LEN 20
#define MSG_F_MAC   0x0001

static const char *const msg_type_names[] = {
    [LIBXLMIG_MSG_HELLO] = "hello",
    [LIBXLMIG_MSG_CHALLENGE] = "challenge",
    [LIBXLMIG_MSG_AUTH] = "auth",
    [LIBXLMIG_MSG_WELCOME] = "welcome",
    [LIBXLMIG_MSG_REFUSED] = "refused",
    [LIBXLMIG_MSG_REQUEST] = "request",
    [LIBXLMIG_MSG_REPLY] = "reply",
    [LIBXLMIG_MSG_EVENT] = "event",
};

const char *libxlmig__msg_type_to_string(unsigned type)
{
    if (type < ARRAY_SIZE(msg_type_names) && msg_type_names[type])
        return msg_type_names[type];
    return "unknown";
}

void libxlmig__chan_init(libxlmig__chan *c, libxlmig__transport *t)
{
    memset(c, 0, sizeof(*c));
    c->t = t;
}

void libxlmig__chan_dispose(libxlmig__chan *c)
{
    OPENSSL_cleanse(c->send_key, sizeof(c->send_key));
    OPENSSL_cleanse(c->recv_key, sizeof(c->recv_key));
    c->keyed = false;
}

void libxlmig__chan_set_keys(libxlmig__chan *c,
                             const unsigned char send[LIBXLMIG_MAC_LEN],
                             const unsigned char recv[LIBXLMIG_MAC_LEN])
{
    memcpy(c->send_key, send, LIBXLMIG_MAC_LEN);
    memcpy(c->recv_key, recv, LIBXLMIG_MAC_LEN);
    c->keyed = true;
    c->send_seq = c->recv_seq = 0;
}

static void put16(unsigned char *p, uint16_t v)
{
    v = htons(v);
    memcpy(p, &v, 2);
}

static void put32(unsigned char *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}

static uint16_t get16(const unsigned char *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return ntohs(v);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return ntohl(v);
}

/* HMAC-SHA256(key, seq || hdr || payload) into tag. */
static int msg_mac(libxlmig__gc *gc, const unsigned char *key, uint64_t seq,
                   const unsigned char *hdr, const void *payload,
                   uint32_t len, unsigned char tag[LIBXLMIG_MAC_LEN])
{
    unsigned char seqb[8];
    size_t taglen = LIBXLMIG_MAC_LEN;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *mctx = NULL;
    OSSL_PARAM params[2];
    int i, rc;

    for (i = 7; i >= 0; i--) {
        seqb[i] = (unsigned char)(seq & 0xff);
        seq >>= 8;
    }
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac)
        mctx = EVP_MAC_CTX_new(mac);
    if (!mctx) {
        LOG(ERROR, "cannot set up HMAC-SHA256 (libcrypto)");
        rc = LIBXLMIG_ERROR_FAIL;
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256",
                                                 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(mctx, key, LIBXLMIG_MAC_LEN, params) ||
        !EVP_MAC_update(mctx, seqb, sizeof(seqb)) ||
        !EVP_MAC_update(mctx, hdr, MSG_HDR_LEN) ||
        (len && !EVP_MAC_update(mctx, payload, len)) ||
        !EVP_MAC_final(mctx, tag, &taglen, LIBXLMIG_MAC_LEN) ||
        taglen != LIBXLMIG_MAC_LEN) {
        LOG(ERROR, "HMAC-SHA256 computation failed (libcrypto)");
        rc = LIBXLMIG_ERROR_FAIL;
        goto out;
    }
    rc = 0;
 out:
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(mac);
    return rc;
}

int libxlmig__msg_send(libxlmig__gc *gc, libxlmig__chan *c, unsigned type,
                       const void *payload, uint32_t len)
{
    unsigned char hdr[MSG_HDR_LEN], tag[LIBXLMIG_MAC_LEN];
    struct iovec iov[3];
    uint32_t crc;
    int rc;

    if (len > LIBXLMIG_MSG_MAX) {
        LOG(ERROR, "%s message of %u bytes exceeds the limit of %u",
            libxlmig__msg_type_to_string(type), len, LIBXLMIG_MSG_MAX);
        return LIBXLMIG_ERROR_INVAL;
    }
    put32(hdr, LIBXLMIG_MSG_MAGIC);
    put16(hdr + 4, LIBXLMIG_MSG_VERSION);
    put16(hdr + 6, (uint16_t)type);
    put16(hdr + 8, c->keyed ? MSG_F_MAC : 0);
    put16(hdr + 10, 0);
    put32(hdr + 12, len);
    put32(hdr + 16, 0);
    crc = libxlmig__crc32c(0, hdr, MSG_HDR_LEN);
    crc = libxlmig__crc32c(crc, payload, len);
    put32(hdr + 16, crc);

    iov[0].iov_base = hdr;
    iov[0].iov_len = MSG_HDR_LEN;
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = len;
    iov[2].iov_base = tag;
    iov[2].iov_len = 0;
    if (c->keyed) {
        rc = msg_mac(gc, c->send_key, c->send_seq, hdr, payload, len, tag);
        if (rc) return rc;
        iov[2].iov_len = LIBXLMIG_MAC_LEN;
    }
    rc = libxlmig__transport_writev_all(gc, c->t, iov, 3);
    if (rc) return rc;
    c->send_seq++;
    return 0;
}

int libxlmig__msg_recv(libxlmig__gc *gc, libxlmig__chan *c, unsigned *type_r,
                       char **payload_r, uint32_t *len_r)
{
    unsigned char hdr[MSG_HDR_LEN], tag[LIBXLMIG_MAC_LEN];
    unsigned char want[LIBXLMIG_MAC_LEN];
    uint32_t magic, len, crc, crc_seen;
    uint16_t version, type, flags;
    char *payload;
    int rc;

    rc = libxlmig__transport_read_all(gc, c->t, hdr, sizeof(hdr),
                                      "message");
    if (rc) return rc;
    magic = get32(hdr);
    version = get16(hdr + 4);
    type = get16(hdr + 6);
    flags = get16(hdr + 8);
    len = get32(hdr + 12);
    crc_seen = get32(hdr + 16);
    if (magic != LIBXLMIG_MSG_MAGIC) {
        LOG(ERROR, "message from %s has bad magic 0x%08x (not an xlmig "
            "peer?)", c->t->peer, magic);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (version != LIBXLMIG_MSG_VERSION) {
        LOG(ERROR, "message from %s has protocol version %u; this node "
            "speaks version %u", c->t->peer, version, LIBXLMIG_MSG_VERSION);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (type == 0 || type > LIBXLMIG_MSG__MAX) {
        LOG(ERROR, "message from %s has unknown type %u", c->t->peer, type);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if ((flags & ~MSG_F_MAC) || get16(hdr + 10)) {
        LOG(ERROR, "message from %s has unknown flags 0x%04x", c->t->peer,
            flags);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (len > LIBXLMIG_MSG_MAX) {
        LOG(ERROR, "%s message from %s announces %u bytes, over the limit "
            "of %u", libxlmig__msg_type_to_string(type), c->t->peer, len,
            LIBXLMIG_MSG_MAX);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (!c->keyed && len > LIBXLMIG_MSG_MAX_PREAUTH) {
        LOG(ERROR, "%s message from %s announces %u bytes before the "
            "handshake, over the limit of %u",
            libxlmig__msg_type_to_string(type), c->t->peer, len,
            LIBXLMIG_MSG_MAX_PREAUTH);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (c->keyed && !(flags & MSG_F_MAC)) {
        LOG(ERROR, "unauthenticated %s message from %s on an authenticated "
            "channel", libxlmig__msg_type_to_string(type), c->t->peer);
        return LIBXLMIG_ERROR_AUTH;
    }
    if (!c->keyed && (flags & MSG_F_MAC)) {
        LOG(ERROR, "%s message from %s carries a tag before the handshake",
            libxlmig__msg_type_to_string(type), c->t->peer);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    payload = libxlmig__zalloc(gc, (size_t)len + 1);
    rc = libxlmig__transport_read_all(gc, c->t, payload, len,
                                      "message");
    if (rc) return rc;
    put32(hdr + 16, 0);
    crc = libxlmig__crc32c(0, hdr, MSG_HDR_LEN);
    crc = libxlmig__crc32c(crc, payload, len);
    if (crc != crc_seen) {
        LOG(ERROR, "%s message from %s is corrupted (CRC32C 0x%08x, "
            "expected 0x%08x)", libxlmig__msg_type_to_string(type),
            c->t->peer, crc_seen, crc);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    put32(hdr + 16, crc_seen);
    if (c->keyed) {
        rc = libxlmig__transport_read_all(gc, c->t, tag, sizeof(tag),
                                      "message");
        if (rc) return rc;
        rc = msg_mac(gc, c->recv_key, c->recv_seq, hdr, payload, len, want);
        if (rc) return rc;
        if (CRYPTO_memcmp(tag, want, sizeof(tag))) {
            LOG(ERROR, "%s message from %s fails authentication (forged, "
                "replayed or reordered)", libxlmig__msg_type_to_string(type),
                c->t->peer);
            return LIBXLMIG_ERROR_AUTH;
        }
        c->recv_seq++;
    }
    *type_r = type;
    if (payload_r)
        *payload_r = payload;
    if (len_r)
        *len_r = len;
    return 0;
}

int libxlmig__msg_expect(libxlmig__gc *gc, libxlmig__chan *c, unsigned want,
                         char **payload_r, uint32_t *len_r)
{
    unsigned type;
    char *payload;
    uint32_t len;
    int rc;

    rc = libxlmig__msg_recv(gc, c, &type, &payload, &len);
    if (rc) return rc;
    if (type == LIBXLMIG_MSG_REFUSED) {
        LOG(ERROR, "%s refused: %.*s", c->t->peer, (int)len, payload);
        return LIBXLMIG_ERROR_REFUSED;
    }
    if (type != want) {
        LOG(ERROR, "expected a %s message from %s, got %s",
            libxlmig__msg_type_to_string(want), c->t->peer,
            libxlmig__msg_type_to_string(type));
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (payload_r)
        *payload_r = payload;
    if (len_r)
        *len_r = len;
    return 0;
}
