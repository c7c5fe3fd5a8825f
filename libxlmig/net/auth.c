/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Cluster membership: loading the shared key with its permission checks,
 * and the mutual HMAC-SHA256 challenge-response over fresh nonces.
 *
 *   client -> HELLO     {node, nonce_c}
 *   server -> CHALLENGE {node, nonce_s, proof_s}
 *   client -> AUTH      {proof_c}            (only if proof_s is right)
 *   server -> WELCOME   {}                   (only if proof_c is right)
 *
 *   proof_s = HMAC(K, "xlmig-server-v1" | nonce_c | nonce_s | cnode | snode)
 *   proof_c = HMAC(K, "xlmig-client-v1" | nonce_c | nonce_s | cnode | snode)
 *   k_c2s   = HMAC(K, "xlmig-c2s-v1" | nonce_c | nonce_s | cnode | snode)
 *   k_s2c   = HMAC(K, "xlmig-s2c-v1" | nonce_c | nonce_s | cnode | snode)
 *
 * Fields are length-prefixed inside the MAC input.  Different labels stop
 * reflection, fresh nonces on both sides stop replay, and the two session
 * keys, one per direction, then authenticate every later control message
 * (proto.c): a message sent by one side never verifies as the other's.
 */
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "net/net.h"

#define NODE_NAME_MAX 64

void libxlmig__key_init(libxlmig__key *k)
{
    k->bytes = NULL;
    k->len = 0;
}

void libxlmig__key_dispose(libxlmig__key *k)
{
    if (k->bytes) {
        OPENSSL_cleanse(k->bytes, k->len);
        free(k->bytes);
    }
    libxlmig__key_init(k);
}

int libxlmig__key_load(libxlmig__gc *gc, const char *path, libxlmig__key *k)
{
    unsigned char *buf = NULL;
    struct stat st;
    size_t len = 0;
    ssize_t r;
    int fd = -1, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        LOGE(ERROR, "cannot open cluster key %s", path);
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    if (fstat(fd, &st)) {
        LOGE(ERROR, "cannot stat cluster key %s", path);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        LOG(ERROR, "cluster key %s is not a regular file", path);
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        LOG(ERROR, "cluster key %s has mode %04o: group and others must "
            "have no access (chmod 600 %s)", path,
            (unsigned)(st.st_mode & 07777), path);
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    if (st.st_uid != geteuid()) {
        LOG(ERROR, "cluster key %s is owned by uid %u, not by this user "
            "(uid %u)", path, (unsigned)st.st_uid, (unsigned)geteuid());
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    buf = malloc(LIBXLMIG_KEY_MAX + 1);
    if (!buf)
        libxlmig__alloc_failed(CTX, __func__, 1, LIBXLMIG_KEY_MAX + 1);
    while (len <= LIBXLMIG_KEY_MAX) {
        r = read(fd, buf + len, LIBXLMIG_KEY_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            LOGE(ERROR, "cannot read cluster key %s", path);
            rc = LIBXLMIG_ERROR_IO;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    /* A trailing newline from an editor or `echo` is not key material. */
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len > LIBXLMIG_KEY_MAX) {
        LOG(ERROR, "cluster key %s is longer than %d bytes", path,
            LIBXLMIG_KEY_MAX);
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    if (len < LIBXLMIG_KEY_MIN) {
        LOG(ERROR, "cluster key %s is %zu bytes; at least %d are needed "
            "(xlmig keygen makes one)", path, len, LIBXLMIG_KEY_MIN);
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    libxlmig__key_dispose(k);
    k->bytes = buf;
    k->len = len;
    buf = NULL;
    rc = 0;
 out:
    if (buf) {
        OPENSSL_cleanse(buf, LIBXLMIG_KEY_MAX + 1);
        free(buf);
    }
    if (fd >= 0) close(fd);
    return rc;
}

static bool hex_decode(const char *in, unsigned char *out, size_t n)
{
    size_t i;
    int hi, lo;

    if (!in || strlen(in) != 2 * n)
        return false;
    for (i = 0; i < n; i++) {
        hi = OPENSSL_hexchar2int((unsigned char)in[2 * i]);
        lo = OPENSSL_hexchar2int((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* HMAC(K, label | nc | ns | len cnode | cnode | len snode | snode). */
static int proof(libxlmig__gc *gc, const libxlmig__key *k, const char *label,
                 const unsigned char *nc, const unsigned char *ns,
                 const char *cnode, const char *snode,
                 unsigned char out[LIBXLMIG_MAC_LEN])
{
    unsigned char buf[64 + 2 * LIBXLMIG_NONCE_LEN + 2 * (NODE_NAME_MAX + 1)];
    unsigned int outlen = LIBXLMIG_MAC_LEN;
    size_t n = 0, l;

    l = strlen(label);
    memcpy(buf + n, label, l + 1);
    n += l + 1;
    memcpy(buf + n, nc, LIBXLMIG_NONCE_LEN);
    n += LIBXLMIG_NONCE_LEN;
    memcpy(buf + n, ns, LIBXLMIG_NONCE_LEN);
    n += LIBXLMIG_NONCE_LEN;
    if (cnode) {
        l = strlen(cnode);
        buf[n++] = (unsigned char)l;
        memcpy(buf + n, cnode, l);
        n += l;
    }
    if (snode) {
        l = strlen(snode);
        buf[n++] = (unsigned char)l;
        memcpy(buf + n, snode, l);
        n += l;
    }
    if (!HMAC(EVP_sha256(), k->bytes, (int)k->len, buf, n, out, &outlen) ||
        outlen != LIBXLMIG_MAC_LEN) {
        LOG(ERROR, "HMAC-SHA256 failed (libcrypto)");
        return LIBXLMIG_ERROR_FAIL;
    }
    return 0;
}

static int send_json(libxlmig__gc *gc, libxlmig__chan *c, unsigned type,
                     const char *json)
{
    return libxlmig__msg_send(gc, c, type, json, (uint32_t)strlen(json));
}

static int refuse(libxlmig__gc *gc, libxlmig__chan *c, const char *reason)
{
    /* Best effort: the peer may already be gone. */
    (void)libxlmig__msg_send(gc, c, LIBXLMIG_MSG_REFUSED, reason,
                             (uint32_t)strlen(reason));
    return 0;
}

static int random_nonce(libxlmig__gc *gc, unsigned char n[LIBXLMIG_NONCE_LEN])
{
    if (RAND_bytes(n, LIBXLMIG_NONCE_LEN) != 1) {
        LOG(ERROR, "no random bytes for a nonce (libcrypto)");
        return LIBXLMIG_ERROR_FAIL;
    }
    return 0;
}

/* Key the channel with the two direction keys of this handshake. */
static int session_keys(libxlmig__gc *gc, libxlmig__chan *c,
                        const libxlmig__key *k, const unsigned char *nc,
                        const unsigned char *ns, const char *cnode,
                        const char *snode, bool client)
{
    unsigned char c2s[LIBXLMIG_MAC_LEN], s2c[LIBXLMIG_MAC_LEN];
    int rc;

    rc = proof(gc, k, "xlmig-c2s-v1", nc, ns, cnode, snode, c2s);
    if (!rc) rc = proof(gc, k, "xlmig-s2c-v1", nc, ns, cnode, snode, s2c);
    if (!rc) {
        if (client)
            libxlmig__chan_set_keys(c, c2s, s2c);
        else
            libxlmig__chan_set_keys(c, s2c, c2s);
    }
    OPENSSL_cleanse(c2s, sizeof(c2s));
    OPENSSL_cleanse(s2c, sizeof(s2c));
    return rc;
}

int libxlmig__handshake_client(libxlmig__gc *gc, libxlmig__chan *c,
                               const libxlmig__key *k, const char *my_node,
                               const char *want_peer, char **peer_node_r)
{
    unsigned char nc[LIBXLMIG_NONCE_LEN], ns[LIBXLMIG_NONCE_LEN];
    unsigned char ps[LIBXLMIG_MAC_LEN], want[LIBXLMIG_MAC_LEN];
    char nc_hex[2 * LIBXLMIG_NONCE_LEN + 1], pc_hex[2 * LIBXLMIG_MAC_LEN + 1];
    const char *snode;
    char *payload;
    yajl_val v;
    int rc;

    rc = random_nonce(gc, nc);
    if (rc) goto out;
    libxlmig__hex_encode(nc, sizeof(nc), nc_hex);
    rc = send_json(gc, c, LIBXLMIG_MSG_HELLO,
                   GCSPRINTF("{\"version\":1,\"node\":\"%s\",\"nonce\":"
                             "\"%s\"}", my_node, nc_hex));
    if (rc) goto out;

    rc = libxlmig__msg_expect(gc, c, LIBXLMIG_MSG_CHALLENGE, &payload, NULL);
    if (rc) goto out;
    rc = libxlmig__json_parse(gc, payload,
                              GCSPRINTF("challenge from %s", c->t->peer), &v);
    if (rc) goto out;
    snode = libxlmig__json_get_str(v, "node");
    if (!libxlmig__name_ok(snode, NODE_NAME_MAX) ||
        !hex_decode(libxlmig__json_get_str(v, "nonce"), ns, sizeof(ns)) ||
        !hex_decode(libxlmig__json_get_str(v, "proof"), ps, sizeof(ps))) {
        LOG(ERROR, "malformed challenge from %s", c->t->peer);
        refuse(gc, c, "malformed challenge");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    if (want_peer && strcmp(snode, want_peer)) {
        LOG(ERROR, "%s answers as node '%s', not '%s'", c->t->peer, snode,
            want_peer);
        refuse(gc, c, "wrong node");
        rc = LIBXLMIG_ERROR_AUTH;
        goto out;
    }
    rc = proof(gc, k, "xlmig-server-v1", nc, ns, my_node, snode, want);
    if (rc) goto out;
    if (CRYPTO_memcmp(ps, want, sizeof(ps))) {
        LOG(ERROR, "%s (node '%s') failed to prove cluster membership: "
            "wrong cluster key", c->t->peer, snode);
        refuse(gc, c, "authentication failed");
        rc = LIBXLMIG_ERROR_AUTH;
        goto out;
    }
    rc = proof(gc, k, "xlmig-client-v1", nc, ns, my_node, snode, want);
    if (rc) goto out;
    libxlmig__hex_encode(want, sizeof(want), pc_hex);
    rc = send_json(gc, c, LIBXLMIG_MSG_AUTH,
                   GCSPRINTF("{\"version\":1,\"proof\":\"%s\"}", pc_hex));
    if (rc) goto out;
    rc = session_keys(gc, c, k, nc, ns, my_node, snode, true);
    if (rc) goto out;
    rc = libxlmig__msg_expect(gc, c, LIBXLMIG_MSG_WELCOME, &payload, NULL);
    if (rc) {
        if (rc == LIBXLMIG_ERROR_REFUSED)
            rc = LIBXLMIG_ERROR_AUTH;
        goto out;
    }
    if (peer_node_r)
        *peer_node_r = GCSTRDUP(snode);
    rc = 0;
 out:
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}

int libxlmig__handshake_server(libxlmig__gc *gc, libxlmig__chan *c,
                               const libxlmig__key *k, const char *my_node,
                               char **peer_node_r)
{
    unsigned char nc[LIBXLMIG_NONCE_LEN], ns[LIBXLMIG_NONCE_LEN];
    unsigned char pc[LIBXLMIG_MAC_LEN], want[LIBXLMIG_MAC_LEN];
    char ns_hex[2 * LIBXLMIG_NONCE_LEN + 1], ps_hex[2 * LIBXLMIG_MAC_LEN + 1];
    const char *cnode;
    char *payload, *cnode_copy;
    yajl_val v;
    int rc;

    rc = libxlmig__msg_expect(gc, c, LIBXLMIG_MSG_HELLO, &payload, NULL);
    if (rc) goto out;
    rc = libxlmig__json_parse(gc, payload,
                              GCSPRINTF("hello from %s", c->t->peer), &v);
    if (rc) goto out;
    cnode = libxlmig__json_get_str(v, "node");
    if (!libxlmig__name_ok(cnode, NODE_NAME_MAX) ||
        !hex_decode(libxlmig__json_get_str(v, "nonce"), nc, sizeof(nc))) {
        LOG(ERROR, "malformed hello from %s", c->t->peer);
        refuse(gc, c, "malformed hello");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    cnode_copy = GCSTRDUP(cnode);
    rc = random_nonce(gc, ns);
    if (rc) goto out;
    rc = proof(gc, k, "xlmig-server-v1", nc, ns, cnode_copy, my_node, want);
    if (rc) goto out;
    libxlmig__hex_encode(ns, sizeof(ns), ns_hex);
    libxlmig__hex_encode(want, sizeof(want), ps_hex);
    rc = send_json(gc, c, LIBXLMIG_MSG_CHALLENGE,
                   GCSPRINTF("{\"version\":1,\"node\":\"%s\",\"nonce\":\"%s\","
                             "\"proof\":\"%s\"}", my_node, ns_hex, ps_hex));
    if (rc) goto out;

    rc = libxlmig__msg_expect(gc, c, LIBXLMIG_MSG_AUTH, &payload, NULL);
    if (rc) goto out;
    rc = libxlmig__json_parse(gc, payload,
                              GCSPRINTF("auth from %s", c->t->peer), &v);
    if (rc) goto out;
    rc = proof(gc, k, "xlmig-client-v1", nc, ns, cnode_copy, my_node, want);
    if (rc) goto out;
    if (!hex_decode(libxlmig__json_get_str(v, "proof"), pc, sizeof(pc)) ||
        CRYPTO_memcmp(pc, want, sizeof(pc))) {
        LOG(ERROR, "%s (claiming node '%s') failed to prove cluster "
            "membership: refused", c->t->peer, cnode_copy);
        refuse(gc, c, "authentication failed");
        rc = LIBXLMIG_ERROR_AUTH;
        goto out;
    }
    rc = session_keys(gc, c, k, nc, ns, cnode_copy, my_node, false);
    if (rc) goto out;
    rc = send_json(gc, c, LIBXLMIG_MSG_WELCOME, "{\"version\":1}");
    if (rc) goto out;
    if (peer_node_r)
        *peer_node_r = cnode_copy;
    rc = 0;
 out:
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}
