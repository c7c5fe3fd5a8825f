/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * peer-req: a peer of xlmigd for the hardening tests, which does what a
 * well-behaved node never would.  Not installed; built with the tests.
 *
 *   peer-req [-b SRC] ADDR PORT rpc KEY AS_NODE OP ARGS_JSON
 *       TLS and then authenticate with the key file as node AS_NODE (from
 *       SRC when given), send one request, print the result (exit 0) or
 *       the error (exit 1); ARGS_JSON @FILE reads the arguments from FILE
 *   peer-req [-k KEY -a AS_NODE] ADDR PORT nested-hello DEPTH
 *       an unauthenticated HELLO of DEPTH '[' then DEPTH ']'; exit 0 when
 *       the daemon closes the connection or refuses.  With -k over TLS
 *       (as AS_NODE, default node1): the message layer's own limits; else
 *       raw, as a stranger would send it
 *   peer-req [-k KEY -a AS_NODE] ADDR PORT refused TEXT
 *       a REFUSED frame carrying TEXT (the daemon logs it), before the
 *       handshake (over TLS with -k)
 *
 * XLMIG_PEER_REQ_TRANSPORT=plain: the plain transport preamble, no TLS
 * (against nodes configured with transport = "plain").
 *   peer-req ctl SOCKET fds N
 *       a "list" request to xlmigd's control socket with N fds attached
 *   peer-req ctl SOCKET uid UID
 *       a "list" request from a process of user UID; exit 0 when the
 *       daemon answers it, 1 when it does not
 *   peer-req ADDR PORT slow N SECONDS
 *       N connections, each sending one byte of a HELLO header every 8 s
 *       for SECONDS; prints "accepted A closed C max_close_s S": how many
 *       the daemon took, how many it closed, and the longest any stayed
 *       open before it was closed
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"

static int connect_to(const char *addr, int port, const char *src)
{
    struct sockaddr_in sa, sb;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (s < 0) return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        close(s);
        return -1;
    }
    if (src) {
        memset(&sb, 0, sizeof(sb));
        sb.sin_family = AF_INET;
        if (inet_pton(AF_INET, src, &sb.sin_addr) != 1 ||
            bind(s, (struct sockaddr *)&sb, sizeof(sb))) {
            close(s);
            return -1;
        }
    }
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
        close(s);
        return -1;
    }
    return s;
}

/* The transport preamble and TLS as node as, with k; nothing without
 * k (raw bytes, which a node refuses at the preamble). */
static int secure(libxlmig__gc *gc, libxlmig__transport *t,
                  const libxlmig__key *k, const char *as)
{
    const char *mode = getenv("XLMIG_PEER_REQ_TRANSPORT");
    bool plain = mode && !strcmp(mode, "plain");
    int rc;

    if (!k)
        return 0;
    rc = libxlmig__transport_preamble(gc, t, plain ? LIBXLMIG_TRANSPORT_PLAIN
                                                   : LIBXLMIG_TRANSPORT_TLS,
                                      "xlmigd");
    if (!rc && !plain)
        rc = libxlmig__transport_tls_client(gc, t, k, as, "xlmigd");
    return rc;
}

static int do_rpc(libxlmig__gc *gc, int s, const char *keyfile,
                  const char *as, const char *op, const char *args)
{
    libxlmig__transport *t = NULL;
    libxlmig__chan c;
    libxlmig__key k;
    char *peer = NULL, *json = NULL;
    yajl_gen g;
    yajl_val res;
    int rc;

    libxlmig__key_init(&k);
    rc = libxlmig__key_load(gc, keyfile, &k);
    if (rc) return rc;
    libxlmig__transport_fd_open(gc, dup(s), "xlmigd", &t);
    libxlmig__chan_init(&c, t);
    rc = secure(gc, t, &k, as);
    if (!rc) rc = libxlmig__handshake_client(gc, &c, &k, as, NULL, &peer);
    if (!rc) rc = libxlmig__rpc_call(gc, &c, op, args, &res);
    if (!rc) {
        g = libxlmig__json_gen_alloc(gc, false);
        if (libxlmig__yajl_gen_val(g, res) == yajl_gen_status_ok &&
            !libxlmig__json_finish(gc, g, &json)) {
            printf("%s\n", json);
            free(json);
        }
    }
    libxlmig__chan_dispose(&c);
    libxlmig__transport_free(t);
    libxlmig__key_dispose(&k);
    return rc;
}

/* One unkeyed frame of type with payload; then wait for the daemon to
 * answer or close.  0 when it did either within 15 s. */
static int send_raw(libxlmig__gc *gc, int s, const libxlmig__key *k,
                    const char *as, unsigned type, const char *payload,
                    uint32_t len)
{
    libxlmig__transport *t = NULL;
    libxlmig__chan c;
    char buf[256];
    struct pollfd pfd = { .fd = s, .events = POLLIN };
    int rc;

    libxlmig__transport_fd_open(gc, dup(s), "xlmigd", &t);
    libxlmig__chan_init(&c, t);
    rc = secure(gc, t, k, as);
    if (rc) {
        libxlmig__transport_free(t);
        fprintf(stderr, "%s\n", libxlmig_last_error(CTX));
        return 2;
    }
    rc = libxlmig__msg_send(gc, &c, type, payload, len);
    if (rc) {
        libxlmig__transport_free(t);
        return 0;                  /* the daemon closed it already */
    }
    rc = poll(&pfd, 1, 15000) <= 0;
    while (read(s, buf, sizeof(buf)) > 0)
        ;
    libxlmig__transport_free(t);
    return rc;
}

static int do_slow(const char *addr, int port, int n, int secs)
{
    struct rlimit rl = { 65536, 65536 };
    int *fd = calloc((size_t)n, sizeof(int));
    uint64_t *opened = calloc((size_t)n, sizeof(uint64_t));
    uint64_t t0 = libxlmig__now_us(), now, max_close = 0;
    int i, accepted = 0, closed = 0, open_n;
    char hdr[4] = "XLMP";
    int sent = 0;

    if (!fd || !opened) return 2;
    setrlimit(RLIMIT_NOFILE, &rl);
    for (i = 0; i < n; i++) {
        fd[i] = connect_to(addr, port, NULL);
        opened[i] = libxlmig__now_us();
        if (fd[i] >= 0) {
            accepted++;
            fcntl(fd[i], F_SETFL, O_NONBLOCK);
        }
    }
    while ((now = libxlmig__now_us()) - t0 < (uint64_t)secs * 1000000) {
        open_n = 0;
        for (i = 0; i < n; i++) {
            char b;
            ssize_t r;

            if (fd[i] < 0) continue;
            r = recv(fd[i], &b, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                if ((now - opened[i]) > max_close)
                    max_close = now - opened[i];
                close(fd[i]);
                fd[i] = -1;
                closed++;
                continue;
            }
            open_n++;
        }
        /* One more byte of the header to each, every 8 s. */
        if ((now - t0) / 8000000 >= (uint64_t)sent && sent < 4) {
            for (i = 0; i < n; i++)
                if (fd[i] >= 0 &&
                    send(fd[i], &hdr[sent], 1, MSG_NOSIGNAL) < 0 &&
                    errno != EAGAIN) {
                    close(fd[i]);
                    fd[i] = -1;
                    closed++;
                }
            sent++;
        }
        if (!open_n) break;
        usleep(100000);
    }
    printf("accepted %d closed %d max_close_s %.1f\n", accepted, closed,
           (double)max_close / 1e6);
    for (i = 0; i < n; i++)
        if (fd[i] >= 0) close(fd[i]);
    return 0;
}

/* Connect to the control socket at path as the calling user. */
static int ctl_connect(const char *path)
{
    struct sockaddr_un sa;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
        if (s >= 0) close(s);
        return -1;
    }
    return s;
}

/* Send a list request with n fds; 0 when a result line comes back. */
static int ctl_list(int s, int n)
{
    static const char req[] = "{\"version\":1,\"op\":\"list\"}\n";
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(16 * sizeof(int))];
    } cm;
    struct msghdr msg;
    struct iovec iov = { (void *)req, sizeof(req) - 1 };
    int fds[16], i;
    char buf[4096];
    ssize_t r;

    if (n > 16) n = 16;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (n > 0) {
        for (i = 0; i < n; i++)
            fds[i] = open("/dev/null", O_RDONLY);
        memset(&cm, 0, sizeof(cm));
        msg.msg_control = cm.b;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        cm.h.cmsg_level = SOL_SOCKET;
        cm.h.cmsg_type = SCM_RIGHTS;
        cm.h.cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(&cm.h), fds, n * sizeof(int));
    }
    if (sendmsg(s, &msg, MSG_NOSIGNAL) < 0)
        return 1;
    for (i = 0; i < n; i++)
        close(fds[i]);
    r = read(s, buf, sizeof(buf) - 1);
    if (r <= 0)
        return 1;
    buf[r] = '\0';
    return strstr(buf, "\"type\":\"result\"") ? 0 : 1;
}

static int do_ctl(const char *path, const char *what, int n)
{
    pid_t pid;
    int s, st;

    if (!strcmp(what, "fds")) {
        s = ctl_connect(path);
        if (s < 0) return 1;
        st = ctl_list(s, n);
        close(s);
        return st;
    }
    /* uid: connect as that user, in a child that gives root up first. */
    pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) || setgid((gid_t)n) || setuid((uid_t)n))
            _exit(2);
        s = ctl_connect(path);
        _exit(s < 0 ? 1 : ctl_list(s, 0));
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return 2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}

int main(int argc, char **argv)
{
    libxlmig_ctx *ctx = NULL;
    const char *src = NULL, *keyfile = NULL, *as = "node1";
    libxlmig__key k;
    int s, rc = 2;

    while (argc > 2 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "-b"))
            src = argv[2];
        else if (!strcmp(argv[1], "-k"))
            keyfile = argv[2];
        else if (!strcmp(argv[1], "-a"))
            as = argv[2];
        else
            break;
        argv += 2;
        argc -= 2;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: see tests/helpers/peer-req.c\n");
        return 2;
    }
    if (!strcmp(argv[1], "ctl") && argc == 5)
        return do_ctl(argv[2], argv[3], atoi(argv[4]));
    if (!strcmp(argv[3], "slow") && argc == 6)
        return do_slow(argv[1], atoi(argv[2]), atoi(argv[4]),
                       atoi(argv[5]));
    if (libxlmig_ctx_alloc(&ctx, NULL)) return 2;
    libxlmig__key_init(&k);
    {
        GC_INIT(ctx);

        if (keyfile && libxlmig__key_load(gc, keyfile, &k)) {
            fprintf(stderr, "%s\n", libxlmig_last_error(ctx));
            return 2;
        }

        s = connect_to(argv[1], atoi(argv[2]), src);
        if (s < 0) {
            perror("peer-req: connect");
            rc = 1;
        } else if (!strcmp(argv[3], "rpc") && argc == 8) {
            const char *args = argv[7];
            char *text = NULL;
            size_t cap = 0;
            FILE *f;

            if (args[0] == '@' && (f = fopen(args + 1, "r"))) {
                if (getdelim(&text, &cap, '\0', f) > 0)
                    args = libxlmig__ptr_add(gc, text);
                else
                    free(text);
                fclose(f);
            }
            rc = do_rpc(gc, s, argv[4], argv[5], argv[6], args) ? 1 : 0;
            if (rc) fprintf(stderr, "%s\n", libxlmig_last_error(ctx));
        } else if (!strcmp(argv[3], "nested-hello") && argc == 5) {
            size_t d = (size_t)atol(argv[4]);
            char *p = libxlmig__zalloc(gc, 2 * d + 1);

            memset(p, '[', d);
            memset(p + d, ']', d);
            rc = send_raw(gc, s, keyfile ? &k : NULL, as, LIBXLMIG_MSG_HELLO,
                          p, (uint32_t)(2 * d));
        } else if (!strcmp(argv[3], "refused") && argc == 5) {
            rc = send_raw(gc, s, keyfile ? &k : NULL, as,
                          LIBXLMIG_MSG_REFUSED, argv[4],
                          (uint32_t)strlen(argv[4]));
        }
        if (s >= 0) close(s);
        GC_FREE;
    }
    libxlmig__key_dispose(&k);
    libxlmig_ctx_free(ctx);
    return rc;
}
