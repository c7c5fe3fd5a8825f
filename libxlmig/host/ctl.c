/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xlmigd's control socket (host/ctl.h): the client's call, and the
 * server's framing of requests and reply lines.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/tunables.h"
#include "host/ctl.h"
#include "engine/engine.h"

/* ---- the client ---- */

int libxlmig__ctl_call(libxlmig__gc *gc, libxlmig_backend_kind kind,
                       const char *req, int fd, libxlmig_progress_cb cb,
                       void *user, yajl_val *data_r)
{
    bool sim = kind == LIBXLMIG_BACKEND_SIM;
    const char *daemon = sim ? "the sim daemon" : "xlmigd";
    const char *path = libxlmig__tunable_control_socket();
    struct sockaddr_un sa;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg;
    struct iovec iov[2];
    char *line = NULL, *buf = NULL, *nl;
    size_t len = 0, cap = 0;
    yajl_val v;
    long long rcv;
    ssize_t r;
    int s = -1, rc;

    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
        LOGE(ERROR, "cannot reach %s at %s (%s, or set XLMIGD_SOCKET)",
             daemon, path,
             sim ? "start xlmigd --backend=sim"
                 : "start the Xen node daemon: systemctl start "
                   "xlmigd.service, or xlmigd --backend=xen -c CONFIG");
        rc = LIBXLMIG_ERROR_BACKEND;
        goto out;
    }
    memset(&msg, 0, sizeof(msg));
    iov[0].iov_base = (void *)req;
    iov[0].iov_len = strlen(req);
    iov[1].iov_base = "\n";
    iov[1].iov_len = 1;
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    if (fd >= 0) {
        memset(&cm, 0, sizeof(cm));
        msg.msg_control = cm.b;
        msg.msg_controllen = sizeof(cm.b);
        cm.h.cmsg_level = SOL_SOCKET;
        cm.h.cmsg_type = SCM_RIGHTS;
        cm.h.cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
    }
    if (sendmsg(s, &msg, MSG_NOSIGNAL) != (ssize_t)(iov[0].iov_len + 1)) {
        LOGE(ERROR, "cannot send a request to %s", daemon);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    for (;;) {
        nl = buf ? memchr(buf, '\n', len) : NULL;
        if (!nl) {
            if (len + 4096 > cap) {
                cap = cap ? cap * 2 : 65536;
                buf = libxlmig__realloc(gc, buf, cap);
            }
            r = read(s, buf + len, cap - len - 1);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                LOG(ERROR, "%s closed the connection without a result",
                    daemon);
                rc = LIBXLMIG_ERROR_PROTOCOL;
                goto out;
            }
            len += r;
            continue;
        }
        *nl = 0;
        line = GCSTRDUP(buf);
        memmove(buf, nl + 1, len - (nl + 1 - buf));
        len -= nl + 1 - buf;
        rc = libxlmig__json_parse(gc, line, "xlmigd reply", &v);
        if (rc) goto out;
        {
            const char *type = libxlmig__json_get_str(v, "type");
            const char *keys[] = { "stats", NULL };
            yajl_val sv = yajl_tree_get(v, keys, yajl_t_object);

            if (type && !strcmp(type, "progress")) {
                libxlmig_stats st;
                if (cb && sv && !libxlmig__stats_parse_json(gc, sv, &st))
                    cb(user, &st);
                continue;
            }
        }
        rc = libxlmig__json_get_int(gc, v, "rc", &rcv);
        if (rc) goto out;
        if (data_r) {
            /* Also on failure: a migration reports how far it got. */
            const char *keys[] = { "data", NULL };
            *data_r = yajl_tree_get(v, keys, yajl_t_any);
        }
        if (rcv) {
            const char *e = libxlmig__json_get_str(v, "error");
            LOG(ERROR, "%s", e && *e ? e : libxlmig_strerror((int)rcv));
            rc = (int)rcv;
            goto out;
        }
        rc = 0;
        break;
    }
 out:
    if (s >= 0) close(s);
    return rc;
}

int libxlmig__ctl_send(libxlmig__gc *gc, libxlmig_backend_kind kind,
                       yajl_gen g, yajl_gen_status s, const char *what,
                       int fd, libxlmig_progress_cb cb, void *user,
                       yajl_val *data_r)
{
    char *json = NULL;
    int rc;

    if (s != yajl_gen_status_ok) {
        LOG(ERROR, "cannot encode a %s request", what);
        return LIBXLMIG_ERROR_JSON;
    }
    rc = libxlmig__json_finish(gc, g, &json);
    if (rc) return rc;
    libxlmig__ptr_add(gc, json);
    return libxlmig__ctl_call(gc, kind, json, fd, cb, user, data_r);
}

yajl_gen_status libxlmig__ctl_request_open(yajl_gen g, const char *op)
{
    yajl_gen_status s = yajl_gen_map_open(g);

    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s == yajl_gen_status_ok)
        s = libxlmig__yajl_gen_kv_str(g, "op", op);
    return s;
}

/* {"version":1,"op":op[,"domain":name]} */
char *libxlmig__ctl_simple_request(libxlmig__gc *gc, const char *op,
                                   const char *name)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char *json = NULL;

    if (libxlmig__ctl_request_open(g, op) != yajl_gen_status_ok ||
        (name && libxlmig__yajl_gen_kv_str(g, "domain", name) !=
                 yajl_gen_status_ok) ||
        yajl_gen_map_close(g) != yajl_gen_status_ok ||
        libxlmig__json_finish(gc, g, &json))
        return NULL;
    return libxlmig__ptr_add(gc, json);
}

/* ---- the server ---- */

int libxlmig__ctl_read_request(libxlmig__gc *gc, libxlmig__ctl_conn *c,
                               char **line_r)
{
    char *buf = libxlmig__zalloc(gc, LIBXLMIG_CTL_MAX_REQUEST + 1);
    size_t len = 0, i, n;
    char *nl;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(8 * sizeof(int))];
    } cm;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *h;
    ssize_t r;
    int fd;

    while (!memchr(buf, '\n', len)) {
        if (len >= LIBXLMIG_CTL_MAX_REQUEST) {
            LOG(ERROR, "request too long");
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        memset(&msg, 0, sizeof(msg));
        iov.iov_base = buf + len;
        iov.iov_len = LIBXLMIG_CTL_MAX_REQUEST - len;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cm.b;
        msg.msg_controllen = sizeof(cm.b);
        r = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            LOG(ERROR, "no whole request within %d s",
                LIBXLMIG_CTL_REQUEST_TIMEOUT_S);
            return LIBXLMIG_ERROR_TIMEOUT;
        }
        if (r <= 0) {
            LOG(ERROR, "client closed the connection");
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        /* The first fd passed is the request's; any other is closed. */
        for (h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
            if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                continue;
            n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (i = 0; i < n; i++) {
                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                if (c->fd < 0)
                    c->fd = fd;
                else
                    close(fd);
            }
        }
        len += r;
    }
    nl = memchr(buf, '\n', len);
    if (memchr(buf, '\0', (size_t)(nl - buf))) {
        LOG(ERROR, "request holds a NUL byte");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    *nl = 0;
    *line_r = buf;
    return 0;
}

void libxlmig__ctl_send_line(libxlmig__ctl_conn *c, const char *s)
{
    size_t len = strlen(s), off = 0;
    ssize_t r;

    while (off < len) {
        r = send(c->sock, s + off, len - off, MSG_NOSIGNAL);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            c->gone = true;
            return;
        }
        off += r;
    }
    while (send(c->sock, "\n", 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

bool libxlmig__ctl_client_gone(libxlmig__ctl_conn *c)
{
    char b;

    if (!c->gone && recv(c->sock, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
        c->gone = true;
    return c->gone;
}
