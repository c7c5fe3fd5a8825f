/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The node-to-node channel: CRC32C, the fd transport (exact I/O, EOF,
 * timeouts), framed messages and their refusal of malformed input, the
 * cluster key's permission checks, and the mutual handshake against a
 * wrong key, a replay and tampering.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"
#include "cluster/cluster.h"
#include "tap.h"

static libxlmig_ctx *ctx;
static char tmpdir[] = "/tmp/xlmig-peer-XXXXXX";

static void make_pair(libxlmig__gc *gc, libxlmig__transport **a,
                      libxlmig__transport **b)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        sysbail("socketpair");
    libxlmig__transport_fd_open(gc, sv[0], "peer-a", a);
    libxlmig__transport_fd_open(gc, sv[1], "peer-b", b);
}

static const char *write_key(const char *name, const char *content,
                             mode_t mode)
{
    static char path[256];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, content, strlen(content)) < 0)
        sysbail("write %s", path);
    fchmod(fd, mode);
    close(fd);
    return path;
}

static void test_crc(void)
{
    const char *s = "123456789";
    uint32_t whole = libxlmig__crc32c(0, s, 9);

    is_int(0xE3069283, whole, "CRC32C check value of \"123456789\"");
    is_int(whole, libxlmig__crc32c(libxlmig__crc32c(0, s, 4), s + 4, 5),
           "CRC32C chains across buffers");
    is_int(0, libxlmig__crc32c(0, s, 0), "CRC32C of nothing is 0");
}

static void test_transport(void)
{
    GC_INIT(ctx);
    libxlmig__transport *a, *b;
    char buf[8];

    make_pair(gc, &a, &b);
    is_int(0, libxlmig__transport_write_all(gc, a, "abcdefgh", 8),
           "write 8 bytes");
    is_int(0, libxlmig__transport_read_all(gc, b, buf, 8, "message"),
           "read 8 bytes");
    ok(!memcmp(buf, "abcdefgh", 8), "bytes arrive intact");
    is_int(8, (long long)a->bytes_sent, "sender counts bytes");
    is_int(8, (long long)b->bytes_received, "receiver counts bytes");

    b->timeout_ms = 50;
    is_int(LIBXLMIG_ERROR_TIMEOUT,
           libxlmig__transport_read_all(gc, b, buf, 1, "message"),
           "a silent peer times out");
    like_string("no progress for 50 ms", libxlmig_last_error(ctx),
                "timeout message names the limit");
    libxlmig__transport_write_all(gc, a, "xy", 2);
    libxlmig__transport_free(a);
    is_int(LIBXLMIG_ERROR_PROTOCOL,
           libxlmig__transport_read_all(gc, b, buf, 4, "message"),
           "EOF inside a message is a protocol error");
    like_string("connection closed by peer-b (2 of 4 bytes",
                libxlmig_last_error(ctx), "EOF message says how far it got");
    libxlmig__transport_free(b);
    GC_FREE;
}

/* Send raw bytes on a, receive one message on b; return rc. */
static int recv_raw(const unsigned char *raw, size_t len)
{
    GC_INIT(ctx);
    libxlmig__transport *a, *b;
    libxlmig__chan cb;
    unsigned type;
    char *payload;
    int rc;

    make_pair(gc, &a, &b);
    b->timeout_ms = 200;
    libxlmig__chan_init(&cb, b);
    libxlmig__transport_write_all(gc, a, raw, len);
    libxlmig__transport_free(a);
    rc = libxlmig__msg_recv(gc, &cb, &type, &payload, NULL);
    libxlmig__transport_free(b);
    GC_FREE;
    return rc;
}

static void test_messages(void)
{
    GC_INIT(ctx);
    libxlmig__transport *a, *b;
    libxlmig__chan ca, cb;
    unsigned char good[64], bad[64];
    unsigned type;
    char *payload;
    uint32_t len;
    size_t glen;
    int sv[2];

    make_pair(gc, &a, &b);
    libxlmig__chan_init(&ca, a);
    libxlmig__chan_init(&cb, b);
    is_int(0, libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_REQUEST,
                                 "{\"op\":\"ping\"}", 13), "send a request");
    is_int(0, libxlmig__msg_recv(gc, &cb, &type, &payload, &len),
           "receive it");
    is_int(LIBXLMIG_MSG_REQUEST, type, "type preserved");
    is_string("{\"op\":\"ping\"}", payload, "payload preserved, NUL ended");
    libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_REFUSED, "node in maintenance",
                       19);
    is_int(LIBXLMIG_ERROR_REFUSED,
           libxlmig__msg_expect(gc, &cb, LIBXLMIG_MSG_REPLY, &payload, NULL),
           "a refusal is reported as such");
    like_string("refused: node in maintenance", libxlmig_last_error(ctx),
                "with the peer's reason");
    libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_EVENT, "{}", 2);
    is_int(LIBXLMIG_ERROR_PROTOCOL,
           libxlmig__msg_expect(gc, &cb, LIBXLMIG_MSG_REPLY, &payload, NULL),
           "an unexpected type is a protocol error");
    is_int(LIBXLMIG_ERROR_INVAL,
           libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_REPLY, "",
                              LIBXLMIG_MSG_MAX + 1),
           "an oversized message is not sent");
    libxlmig__transport_free(a);
    libxlmig__transport_free(b);

    /* Capture one good frame to mutate. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) sysbail("socketpair");
    libxlmig__transport_fd_open(gc, sv[0], "cap", &a);
    libxlmig__chan_init(&ca, a);
    libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_REQUEST, "{\"a\":1}", 7);
    glen = (size_t)read(sv[1], good, sizeof(good));
    libxlmig__transport_free(a);
    close(sv[1]);
    is_int(27, (long long)glen, "a 7-byte message is 27 bytes on the wire");

    is_int(0, recv_raw(good, glen), "the captured frame is accepted");
    memcpy(bad, good, glen);
    bad[0] ^= 0xff;
    is_int(LIBXLMIG_ERROR_PROTOCOL, recv_raw(bad, glen), "bad magic refused");
    like_string("bad magic", libxlmig_last_error(ctx), "and named");
    memcpy(bad, good, glen);
    bad[5] = 9;
    is_int(LIBXLMIG_ERROR_PROTOCOL, recv_raw(bad, glen),
           "future version refused");
    like_string("protocol version 9", libxlmig_last_error(ctx), "and named");
    memcpy(bad, good, glen);
    bad[7] = 77;
    is_int(LIBXLMIG_ERROR_PROTOCOL, recv_raw(bad, glen),
           "unknown type refused");
    memcpy(bad, good, glen);
    bad[12] = 0x7f;
    is_int(LIBXLMIG_ERROR_PROTOCOL, recv_raw(bad, glen),
           "oversized length refused before reading");
    like_string("over the limit", libxlmig_last_error(ctx), "and named");
    memcpy(bad, good, glen);
    bad[glen - 2] ^= 0x01;
    is_int(LIBXLMIG_ERROR_PROTOCOL, recv_raw(bad, glen),
           "one flipped payload bit refused");
    like_string("corrupted (CRC32C", libxlmig_last_error(ctx), "by CRC32C");
    is_int(LIBXLMIG_ERROR_PROTOCOL, recv_raw(good, glen - 3),
           "truncated message refused");
    memcpy(bad, good, glen);
    bad[9] = 1;
    is_int(LIBXLMIG_ERROR_PROTOCOL, recv_raw(bad, glen),
           "a tag before the handshake refused");
    GC_FREE;
}

static void test_keys(void)
{
    GC_INIT(ctx);
    libxlmig__key k;

    libxlmig__key_init(&k);
    is_int(0, libxlmig__key_load(gc, write_key("good", "0123456789abcdef"
                                               "0123456789abcdef\n", 0600),
                                 &k), "a 0600 key loads");
    is_int(32, (long long)k.len, "trailing newline is not key material");
    is_int(LIBXLMIG_ERROR_CONFIG,
           libxlmig__key_load(gc, write_key("loose", "0123456789abcdef0123",
                                            0640), &k),
           "a group-readable key is refused");
    like_string("mode 0640", libxlmig_last_error(ctx), "message gives mode");
    like_string("chmod 600", libxlmig_last_error(ctx), "and the fix");
    is_int(LIBXLMIG_ERROR_CONFIG,
           libxlmig__key_load(gc, write_key("short", "tooshort", 0600), &k),
           "a short key is refused");
    is_int(LIBXLMIG_ERROR_CONFIG,
           libxlmig__key_load(gc, "/nonexistent/key", &k),
           "a missing key file is refused");
    like_string("/nonexistent/key", libxlmig_last_error(ctx),
                "message names the file");
    is_int(32, (long long)k.len, "failed loads keep the loaded key");
    libxlmig__key_dispose(&k);
    GC_FREE;
}

/*
 * Run a server handshake in a child on fd; the child exits 0 after the
 * handshake and one keyed request/reply, or with 10 + -rc % 100.
 */
static pid_t spawn_server(int fd, const char *keypath)
{
    pid_t pid = fork();

    if (pid < 0) sysbail("fork");
    if (pid == 0) {
        GC_INIT(ctx);
        libxlmig__transport *t;
        libxlmig__chan c;
        libxlmig__key k;
        unsigned type;
        char *peer, *payload;
        int rc;

        libxlmig__key_init(&k);
        libxlmig__key_load(gc, keypath, &k);
        libxlmig__transport_fd_open(gc, fd, "client", &t);
        t->timeout_ms = 2000;
        libxlmig__chan_init(&c, t);
        rc = libxlmig__handshake_server(gc, &c, &k, "node2", &peer);
        if (!rc) rc = libxlmig__msg_recv(gc, &c, &type, &payload, NULL);
        if (!rc) rc = libxlmig__msg_send(gc, &c, LIBXLMIG_MSG_REPLY, "pong",
                                         4);
        _exit(rc ? 10 + (-rc % 100) : 0);
    }
    close(fd);
    return pid;
}

static int child_status(pid_t pid)
{
    int st;

    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_handshake(void)
{
    GC_INIT(ctx);
    const char *k1 = GCSTRDUP(write_key("k1", "cluster-key-one-0123456789",
                                        0600));
    const char *k2 = GCSTRDUP(write_key("k2", "cluster-key-two-0123456789",
                                        0600));
    libxlmig__transport *t;
    libxlmig__chan c;
    libxlmig__key key1, key2;
    unsigned type;
    char *peer = NULL, *payload;
    int sv[2], rc;
    pid_t pid;

    libxlmig__key_init(&key1);
    libxlmig__key_init(&key2);
    libxlmig__key_load(gc, k1, &key1);
    libxlmig__key_load(gc, k2, &key2);

    /* Same key: both sides authenticate, keyed traffic flows. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid = spawn_server(sv[1], k1);
    libxlmig__transport_fd_open(gc, sv[0], "node2-addr", &t);
    libxlmig__chan_init(&c, t);
    rc = libxlmig__handshake_client(gc, &c, &key1, "node1", "node2", &peer);
    is_int(0, rc, "handshake with the right key succeeds");
    is_string("node2", peer, "peer node authenticated by name");
    ok(c.keyed, "channel is keyed after the handshake");
    libxlmig__msg_send(gc, &c, LIBXLMIG_MSG_REQUEST, "ping", 4);
    rc = libxlmig__msg_recv(gc, &c, &type, &payload, NULL);
    is_int(0, rc, "keyed request and reply");
    is_string("pong", payload, "reply intact");
    is_int(0, child_status(pid), "server side completed");
    libxlmig__transport_free(t);

    /* Wrong key: the client sees the server cannot prove membership. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid = spawn_server(sv[1], k2);
    libxlmig__transport_fd_open(gc, sv[0], "impostor", &t);
    libxlmig__chan_init(&c, t);
    rc = libxlmig__handshake_client(gc, &c, &key1, "node1", NULL, &peer);
    is_int(LIBXLMIG_ERROR_AUTH, rc, "a server with another key is refused");
    like_string("failed to prove cluster membership",
                libxlmig_last_error(ctx), "message says why");
    is_int(10 + (-LIBXLMIG_ERROR_REFUSED % 100), child_status(pid),
           "the server was told and got nothing further");
    libxlmig__transport_free(t);

    /* Expected node name differs. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid = spawn_server(sv[1], k1);
    libxlmig__transport_fd_open(gc, sv[0], "node2-addr", &t);
    libxlmig__chan_init(&c, t);
    rc = libxlmig__handshake_client(gc, &c, &key1, "node1", "node3", &peer);
    is_int(LIBXLMIG_ERROR_AUTH, rc, "a node answering under another name "
           "is refused");
    child_status(pid);
    libxlmig__transport_free(t);
    libxlmig__key_dispose(&key1);
    libxlmig__key_dispose(&key2);
    GC_FREE;
}

/*
 * A client without the key replays a recorded genuine HELLO and AUTH to a
 * fresh server: the server's new nonce makes the old proof worthless.
 */
static void test_replay_and_tamper(void)
{
    GC_INIT(ctx);
    const char *k1 = GCSTRDUP(write_key("k1", "cluster-key-one-0123456789",
                                        0600));
    libxlmig__transport *t, *raw;
    libxlmig__chan c, rc_chan;
    libxlmig__key key1;
    unsigned char rec[4096];
    char *payload;
    unsigned type;
    ssize_t n;
    size_t rlen = 0;
    int sv[2], tap_sv[2], rc;
    pid_t pid;

    libxlmig__key_init(&key1);
    libxlmig__key_load(gc, k1, &key1);

    /*
     * Record a genuine client's bytes: client -> tap_sv[0] ... we relay
     * through this process, keeping a copy of everything the client sent.
     */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid = spawn_server(sv[1], k1);
    socketpair(AF_UNIX, SOCK_STREAM, 0, tap_sv);
    {
        pid_t cl = fork();

        if (cl == 0) {
            libxlmig__transport *ct;
            libxlmig__chan cc;

            close(tap_sv[1]);
            libxlmig__transport_fd_open(gc, tap_sv[0], "relay", &ct);
            libxlmig__chan_init(&cc, ct);
            rc = libxlmig__handshake_client(gc, &cc, &key1, "node1",
                                            NULL, NULL);
            if (!rc) rc = libxlmig__msg_send(gc, &cc, LIBXLMIG_MSG_REQUEST,
                                             "ping", 4);
            if (!rc) rc = libxlmig__msg_recv(gc, &cc, &type, &payload, NULL);
            _exit(rc ? 1 : 0);
        }
        close(tap_sv[0]);
        /* Relay both ways until both ends close, recording the client. */
        for (;;) {
            fd_set fds;
            char buf[4096];
            int maxfd = sv[0] > tap_sv[1] ? sv[0] : tap_sv[1];

            FD_ZERO(&fds);
            FD_SET(sv[0], &fds);
            FD_SET(tap_sv[1], &fds);
            if (select(maxfd + 1, &fds, NULL, NULL, NULL) < 0) break;
            if (FD_ISSET(tap_sv[1], &fds)) {
                n = read(tap_sv[1], buf, sizeof(buf));
                if (n <= 0) break;
                if (rlen + (size_t)n <= sizeof(rec)) {
                    memcpy(rec + rlen, buf, (size_t)n);
                    rlen += (size_t)n;
                }
                if (write(sv[0], buf, (size_t)n) != n) break;
            }
            if (FD_ISSET(sv[0], &fds)) {
                n = read(sv[0], buf, sizeof(buf));
                if (n <= 0) break;
                if (write(tap_sv[1], buf, (size_t)n) != n) break;
            }
        }
        is_int(0, child_status(cl), "recorded a genuine session");
        child_status(pid);
        close(sv[0]);
        close(tap_sv[1]);
    }

    /* Replay the recorded bytes to a fresh server. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid = spawn_server(sv[1], k1);
    if (write(sv[0], rec, rlen) != (ssize_t)rlen) sysbail("replay");
    shutdown(sv[0], SHUT_WR);
    is_int(10 + (-LIBXLMIG_ERROR_AUTH % 100), child_status(pid),
           "a replayed handshake is refused by a fresh server");
    libxlmig__transport_fd_open(gc, sv[0], "server", &raw);
    libxlmig__chan_init(&rc_chan, raw);
    /* Skip the CHALLENGE; the next message must be the refusal. */
    libxlmig__msg_recv(gc, &rc_chan, &type, &payload, NULL);
    rc = libxlmig__msg_recv(gc, &rc_chan, &type, &payload, NULL);
    ok(rc == 0 && type == LIBXLMIG_MSG_REFUSED,
       "the replayer gets only a refusal");
    libxlmig__transport_free(raw);

    /* Tamper with a keyed message: flip a payload bit, fix the CRC. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    libxlmig__transport_fd_open(gc, sv[0], "a", &t);
    libxlmig__transport_fd_open(gc, sv[1], "b", &raw);
    {
        unsigned char key[LIBXLMIG_MAC_LEN] = { 1, 2, 3 };
        unsigned char frame[128];
        uint32_t crc;
        int fds2[2];

        libxlmig__chan_init(&c, t);
        libxlmig__chan_set_keys(&c, key, key);
        libxlmig__msg_send(gc, &c, LIBXLMIG_MSG_EVENT, "go", 2);
        n = read(sv[1], frame, sizeof(frame));
        is_int(20 + 2 + 32, n, "a keyed frame carries a 32-byte tag");
        frame[20] ^= 0x20;   /* "go" -> "Go" */
        frame[16] = frame[17] = frame[18] = frame[19] = 0;
        crc = libxlmig__crc32c(0, frame, 20);
        crc = libxlmig__crc32c(crc, frame + 20, 2);
        frame[16] = crc >> 24; frame[17] = crc >> 16;
        frame[18] = crc >> 8; frame[19] = crc;
        socketpair(AF_UNIX, SOCK_STREAM, 0, fds2);
        if (write(fds2[0], frame, (size_t)n) != n) sysbail("write");
        libxlmig__transport_free(raw);
        libxlmig__transport_fd_open(gc, fds2[1], "b", &raw);
        libxlmig__chan_init(&rc_chan, raw);
        libxlmig__chan_set_keys(&rc_chan, key, key);
        rc = libxlmig__msg_recv(gc, &rc_chan, &type, &payload, NULL);
        is_int(LIBXLMIG_ERROR_AUTH, rc,
               "a tampered keyed message with a fixed CRC is refused");
        /* The untampered frame replayed twice: the second is refused. */
        frame[20] ^= 0x20;
        frame[16] = frame[17] = frame[18] = frame[19] = 0;
        crc = libxlmig__crc32c(0, frame, 20);
        crc = libxlmig__crc32c(crc, frame + 20, 2);
        frame[16] = crc >> 24; frame[17] = crc >> 16;
        frame[18] = crc >> 8; frame[19] = crc;
        libxlmig__chan_set_keys(&rc_chan, key, key);
        if (write(fds2[0], frame, (size_t)n) != n) sysbail("write");
        if (write(fds2[0], frame, (size_t)n) != n) sysbail("write");
        rc = libxlmig__msg_recv(gc, &rc_chan, &type, &payload, NULL);
        is_int(0, rc, "the genuine keyed message is accepted");
        rc = libxlmig__msg_recv(gc, &rc_chan, &type, &payload, NULL);
        is_int(LIBXLMIG_ERROR_AUTH, rc, "its replay is refused");
        close(fds2[0]);
    }
    libxlmig__transport_free(t);
    libxlmig__transport_free(raw);
    libxlmig__key_dispose(&key1);
    GC_FREE;
}

static int h_echo(libxlmig__gc *gc, void *opaque, yajl_val args,
                  yajl_gen g)
{
    const char *s = libxlmig__json_get_str(args, "text");

    (*(int *)opaque)++;
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "text", s);
    yajl_gen_map_close(g);
    return 0;
}

static int h_fail(libxlmig__gc *gc, void *opaque, yajl_val args, yajl_gen g)
{
    LOG(ERROR, "node2 is in maintenance mode");
    return LIBXLMIG_ERROR_REFUSED;
}

static void test_rpc(void)
{
    static const libxlmig__rpc_op ops[] = {
        { "echo", h_echo },
        { "fail", h_fail },
    };
    GC_INIT(ctx);
    libxlmig__transport *a, *b;
    libxlmig__chan ca;
    yajl_val res;
    pid_t pid;
    int sv[2], rc, st;

    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid = fork();
    if (pid == 0) {
        libxlmig__chan cb;
        int served = 0;

        close(sv[0]);
        libxlmig__transport_fd_open(gc, sv[1], "client", &b);
        libxlmig__chan_init(&cb, b);
        while (libxlmig__rpc_serve_one(gc, &cb, ops, ARRAY_SIZE(ops),
                                       &served) == 0)
            ;
        _exit(served);
    }
    close(sv[1]);
    libxlmig__transport_fd_open(gc, sv[0], "node2", &a);
    libxlmig__chan_init(&ca, a);
    rc = libxlmig__rpc_call(gc, &ca, "echo", "{\"text\":\"hi\"}", &res);
    is_int(0, rc, "a request is answered");
    is_string("hi", libxlmig__json_get_str(res, "text"), "with its result");
    rc = libxlmig__rpc_call(gc, &ca, "fail", NULL, &res);
    is_int(LIBXLMIG_ERROR_REFUSED, rc, "a handler's error code comes back");
    is_string("node2: node2 is in maintenance mode", libxlmig_last_error(ctx),
              "with the handler's message, naming the peer");
    rc = libxlmig__rpc_call(gc, &ca, "nosuch", NULL, &res);
    is_int(LIBXLMIG_ERROR_UNSUPPORTED, rc, "an unknown request is refused");
    like_string("unknown request 'nosuch'", libxlmig_last_error(ctx),
                "by name");
    libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_REQUEST, "{\"op\":1}", 8);
    rc = libxlmig__msg_expect(gc, &ca, LIBXLMIG_MSG_REPLY, NULL, NULL);
    is_int(0, rc, "a malformed request gets an error reply");
    libxlmig__transport_free(a);
    waitpid(pid, &st, 0);
    is_int(1, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
           "the server ran the echo handler once, then stopped on the "
           "malformed request");
    GC_FREE;
}

/*
 * One key per direction: a's message verifies at b, but the same bytes
 * sent back to a (a reflection) do not; and before the handshake nothing
 * larger than LIBXLMIG_MSG_MAX_PREAUTH is read.
 */
static void test_directions_and_preauth(void)
{
    GC_INIT(ctx);
    const unsigned char k1[LIBXLMIG_MAC_LEN] = { 1 };
    const unsigned char k2[LIBXLMIG_MAC_LEN] = { 2 };
    libxlmig__transport *a, *b, *a2, *b2;
    libxlmig__chan ca, cb, cr;
    unsigned char frame[256];
    unsigned type;
    char *payload, *big;
    ssize_t n;
    int rc;

    make_pair(gc, &a, &b);
    libxlmig__chan_init(&ca, a);
    libxlmig__chan_init(&cb, b);
    libxlmig__chan_set_keys(&ca, k1, k2);
    libxlmig__chan_set_keys(&cb, k2, k1);
    libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_EVENT, "go", 2);
    n = read(b->fd, frame, sizeof(frame));
    /* The frame once to b, once back to a as if b had sent it. */
    make_pair(gc, &a2, &b2);
    if (write(a2->fd, frame, (size_t)n) != n) sysbail("write");
    libxlmig__chan_init(&cr, b2);
    libxlmig__chan_set_keys(&cr, k2, k1);
    rc = libxlmig__msg_recv(gc, &cr, &type, &payload, NULL);
    is_int(0, rc, "a message in its own direction verifies");
    if (write(a2->fd, frame, (size_t)n) != n) sysbail("write");
    libxlmig__chan_set_keys(&cr, k1, k2);     /* now cr is the sender */
    rc = libxlmig__msg_recv(gc, &cr, &type, &payload, NULL);
    is_int(LIBXLMIG_ERROR_AUTH, rc,
           "the same message reflected back to its sender is refused");
    libxlmig__transport_free(a2);
    libxlmig__transport_free(b2);

    /* Unkeyed: a HELLO over the pre-authentication limit. */
    libxlmig__chan_init(&ca, a);
    libxlmig__chan_init(&cb, b);
    big = libxlmig__zalloc(gc, LIBXLMIG_MSG_MAX_PREAUTH + 2);
    memset(big, '[', LIBXLMIG_MSG_MAX_PREAUTH + 1);
    libxlmig__msg_send(gc, &ca, LIBXLMIG_MSG_HELLO, big,
                       LIBXLMIG_MSG_MAX_PREAUTH + 1);
    rc = libxlmig__msg_recv(gc, &cb, &type, &payload, NULL);
    is_int(LIBXLMIG_ERROR_PROTOCOL, rc,
           "an unauthenticated message over 4096 bytes is refused");
    like_string("before the handshake, over the limit of 4096",
                libxlmig_last_error(ctx), "unread, and says why");
    libxlmig__transport_free(a);
    libxlmig__transport_free(b);
    GC_FREE;
}

int main(void)
{
    plan_lazy();
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(tmpdir))
        sysbail("mkdtemp");
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    test_crc();
    test_transport();
    test_messages();
    test_keys();
    test_handshake();
    test_replay_and_tamper();
    test_rpc();
    test_directions_and_preauth();
    libxlmig_ctx_free(ctx);
    {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd)) diag("cannot remove %s", tmpdir);
    }
    return 0;
}
