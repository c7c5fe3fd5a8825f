/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The transport interface and its plain-fd implementation: exact reads
 * and writes with an inactivity timeout, byte counters, and messages that
 * name the peer.  Other transports (TLS, parallel streams) implement the
 * same three ops.
 */
#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include "peer.h"

static ssize_t fd_writev(libxlmig__transport *t, const struct iovec *iov,
                         int iovcnt)
{
    return writev(t->fd, iov, iovcnt);
}

static ssize_t fd_read(libxlmig__transport *t, void *buf, size_t len)
{
    return read(t->fd, buf, len);
}

static ssize_t fd_readv(libxlmig__transport *t, const struct iovec *iov,
                        int iovcnt)
{
    return readv(t->fd, iov, iovcnt);
}

static void fd_close(libxlmig__transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static void fd_forget(libxlmig__transport *t)
{
    t->fd = -1;
}

static const libxlmig__transport_ops fd_ops = {
    .name = "fd",
    .writev = fd_writev,
    .read = fd_read,
    .readv = fd_readv,
    .close = fd_close,
};

static const libxlmig__transport_ops fd_borrowed_ops = {
    .name = "fd (borrowed)",
    .writev = fd_writev,
    .read = fd_read,
    .readv = fd_readv,
    .close = fd_forget,
};

int libxlmig__transport_fd_open(libxlmig__gc *gc, int fd, const char *peer,
                                libxlmig__transport **t_r)
{
    libxlmig__transport *t = calloc(1, sizeof(*t));

    if (!t)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*t));
    t->ops = &fd_ops;
    t->fd = fd;
    t->timeout_ms = LIBXLMIG_DEFAULT_IO_TIMEOUT_MS;
    t->peer = strdup(peer ? peer : "peer");
    if (!t->peer)
        libxlmig__alloc_failed(CTX, __func__, 1, 64);
    *t_r = t;
    return 0;
}

int libxlmig__transport_fd_borrow(libxlmig__gc *gc, int fd, const char *peer,
                                  libxlmig__transport **t_r)
{
    int rc = libxlmig__transport_fd_open(gc, fd, peer, t_r);

    if (!rc) {
        (*t_r)->ops = &fd_borrowed_ops;
        (*t_r)->timeout_ms = -1;
    }
    return rc;
}

void libxlmig__transport_free(libxlmig__transport *t)
{
    if (!t)
        return;
    t->ops->close(t);
    free(t->peer);
    free(t);
}

/* Wait until fd is ready for events; LIBXLMIG_ERROR_TIMEOUT if not. */
static int transport_wait(libxlmig__gc *gc, libxlmig__transport *t,
                          short events, const char *what)
{
    struct pollfd pfd = { .fd = t->fd, .events = events };
    int r;

    if (t->timeout_ms < 0)
        return 0;
    do {
        r = poll(&pfd, 1, t->timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        LOGE(ERROR, "%s %s: poll failed", what, t->peer);
        return LIBXLMIG_ERROR_IO;
    }
    if (r == 0) {
        LOG(ERROR, "%s %s: no progress for %d ms", what, t->peer,
            t->timeout_ms);
        return LIBXLMIG_ERROR_TIMEOUT;
    }
    return 0;
}

int libxlmig__transport_writev_all(libxlmig__gc *gc, libxlmig__transport *t,
                                   struct iovec *iov, int iovcnt)
{
    ssize_t r;
    int rc;

    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        rc = transport_wait(gc, t, POLLOUT, "sending to");
        if (rc) return rc;
        r = t->ops->writev(t, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            LOGE(ERROR, "sending to %s failed", t->peer);
            return LIBXLMIG_ERROR_IO;
        }
        t->bytes_sent += (uint64_t)r;
        while (r > 0 && iovcnt > 0) {
            if ((size_t)r >= iov->iov_len) {
                r -= (ssize_t)iov->iov_len;
                iov++;
                iovcnt--;
            } else {
                iov->iov_base = (char *)iov->iov_base + r;
                iov->iov_len -= (size_t)r;
                r = 0;
            }
        }
    }
    return 0;
}

int libxlmig__transport_write_all(libxlmig__gc *gc, libxlmig__transport *t,
                                  const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return libxlmig__transport_writev_all(gc, t, &iov, 1);
}

int libxlmig__transport_read_all(libxlmig__gc *gc, libxlmig__transport *t,
                                 void *buf, size_t len)
{
    char *p = buf;
    size_t done = 0;
    ssize_t r;
    int rc;

    while (done < len) {
        rc = transport_wait(gc, t, POLLIN, "receiving from");
        if (rc) return rc;
        r = t->ops->read(t, p + done, len - done);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            LOGE(ERROR, "receiving from %s failed", t->peer);
            return LIBXLMIG_ERROR_IO;
        }
        if (r == 0) {
            LOG(ERROR, "connection closed by %s (%zu of %zu bytes of a "
                "message received)", t->peer, done, len);
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        done += (size_t)r;
        t->bytes_received += (uint64_t)r;
    }
    return 0;
}
