/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The transport interface and its plain-fd implementation: the one place
 * that reads or writes all of a buffer, with an inactivity timeout, byte
 * counters, and messages that name the peer and what was being read.
 * Other transports (TLS, parallel streams) implement the same three ops.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "core/tunables.h"
#include "net/net.h"

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
    if (t->by_ref > 0) {
        close(t->pipe_fd[0]);
        close(t->pipe_fd[1]);
    }
    t->ops->close(t);
    free(t->peer);
    free(t);
}

void libxlmig__iov_advance(struct iovec **iov, int *iovcnt, size_t done)
{
    while (*iovcnt > 0 && done >= (*iov)->iov_len) {
        done -= (*iov)->iov_len;
        (*iov)++;
        (*iovcnt)--;
    }
    if (*iovcnt > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + done;
        (*iov)->iov_len -= done;
    }
}


const char *libxlmig__transport_security(libxlmig__transport *t)
{
    if (t && t->ops->security)
        return t->ops->security(t);
    return "unencrypted";
}

bool libxlmig__transport_sealed(libxlmig__transport *t)
{
    return t && t->ops->sealed && t->ops->sealed(t);
}

void libxlmig__transport_shutdown(libxlmig__transport *t)
{
    if (t && t->ops->shutdown)
        t->ops->shutdown(t);
    else if (t && t->fd >= 0)
        shutdown(t->fd, SHUT_RDWR);
}

uint64_t libxlmig__bucket_take(libxlmig__bucket *b, size_t n)
{
    uint64_t now;
    double burst;

    if (!b->rate)
        return 0;
    burst = (double)b->rate / 10 > (256 << 10) ? (double)b->rate / 10
                                               : (256 << 10);
    now = libxlmig__now_us();
    if (!b->last_us)
        b->last_us = now;
    b->tokens += (double)(now - b->last_us) * (double)b->rate / 1e6;
    b->last_us = now;
    if (b->tokens > burst)
        b->tokens = burst;
    b->tokens -= (double)n;
    return b->tokens >= 0 ? 0
                          : (uint64_t)(-b->tokens * 1e6 / (double)b->rate);
}

void libxlmig__transport_set_limit(libxlmig__transport *t,
                                   uint64_t bytes_per_s)
{
    if (t->ops->set_limit) {
        t->ops->set_limit(t, bytes_per_s);
        return;
    }
    memset(&t->limit, 0, sizeof(t->limit));
    t->limit.rate = bytes_per_s;
}

/* After n bytes went out: wait as the limit says. */
static void limit_wait(libxlmig__transport *t, size_t n)
{
    uint64_t us = libxlmig__bucket_take(&t->limit, n);

    if (us)
        usleep((useconds_t)us);
}

int libxlmig__transport_fd(libxlmig__transport *t)
{
    if (!t)
        return -1;
    return t->ops->fd_of ? t->ops->fd_of(t) : t->fd;
}

/* The socket's send queue, sent or not, that its peer has not
 * acknowledged, polled every DRAIN_POLL_US. */
#define DRAIN_POLL_US 500

int libxlmig__transport_drain(libxlmig__transport *t, int timeout_ms)
{
    uint64_t end = libxlmig__now_us() + (uint64_t)timeout_ms * 1000ULL;
    struct stat sb;
    int queued;

    if (t->ops->drain)
        return t->ops->drain(t, timeout_ms);
    if (t->fd < 0 || fstat(t->fd, &sb) || !S_ISSOCK(sb.st_mode))
        return 0;
    for (;;) {
        if (ioctl(t->fd, SIOCOUTQ, &queued) || queued <= 0)
            return 0;
        if (libxlmig__now_us() >= end)
            return -1;
        usleep(DRAIN_POLL_US);
    }
}

/* How long an operation may wait now (ms; -1: no limit); *deadline_r:
 * whether the deadline, not timeout_ms, set it.  0 when past it. */
static int wait_ms(const libxlmig__transport *t, bool *deadline_r)
{
    uint64_t now;
    int ms = t->timeout_ms;

    *deadline_r = false;
    if (t->deadline_us) {
        now = libxlmig__now_us();
        if (now >= t->deadline_us) {
            *deadline_r = true;
            return 0;
        }
        if (ms < 0 || (t->deadline_us - now) / 1000 < (uint64_t)ms) {
            ms = (int)((t->deadline_us - now + 999) / 1000);
            *deadline_r = true;
        }
    }
    return ms;
}

int libxlmig__transport_poll(libxlmig__transport *t, short events)
{
    struct pollfd pfd = { .fd = t->fd, .events = events };
    bool deadline;
    int ms = wait_ms(t, &deadline), r;

    if (deadline && ms == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    do {
        r = poll(&pfd, 1, ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    if (r == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    return 0;
}

/* Log a timeout of what with t's peer. */
static int timed_out(libxlmig__gc *gc, libxlmig__transport *t,
                     const char *what)
{
    bool deadline;

    (void)wait_ms(t, &deadline);
    if (deadline || t->timeout_ms < 0)
        LOG(ERROR, "%s %s: past the deadline", what, t->peer);
    else
        LOG(ERROR, "%s %s: no progress for %d ms", what, t->peer,
            t->timeout_ms);
    return LIBXLMIG_ERROR_TIMEOUT;
}

/*
 * Wait until fd is ready for events, at most timeout_ms and never past
 * the deadline; LIBXLMIG_ERROR_TIMEOUT (logged) if not.  Transports
 * whose ops wait themselves (TLS) are not waited for here.
 */
static int transport_wait(libxlmig__gc *gc, libxlmig__transport *t,
                          short events, const char *what)
{
    bool deadline;

    if (t->ops->waits)
        return 0;
    if (wait_ms(t, &deadline) < 0)
        return 0;
    if (!libxlmig__transport_poll(t, events))
        return 0;
    if (errno == ETIMEDOUT)
        return timed_out(gc, t, what);
    LOGE(ERROR, "%s %s: poll failed", what, t->peer);
    return LIBXLMIG_ERROR_IO;
}

/* A failed read (send false) or write: its timeout, the transport's own
 * reason, or errno's; logged, and the error code. */
static int io_error(libxlmig__gc *gc, libxlmig__transport *t, bool send,
                    const char *what)
{
    const char *why;

    if (errno == ETIME && t->ops->waits)
        return timed_out(gc, t, send ? "sending to" : "receiving from");
    why = t->ops->why ? t->ops->why(t, send) : NULL;
    if (send && why)
        LOG(ERROR, "sending to %s failed: %s", t->peer, why);
    else if (send)
        LOGE(ERROR, "sending to %s failed", t->peer);
    else if (why)
        LOG(ERROR, "receiving %s from %s failed: %s", what, t->peer, why);
    else
        LOGE(ERROR, "receiving %s from %s failed", what, t->peer);
    return LIBXLMIG_ERROR_IO;
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
            return io_error(gc, t, true, NULL);
        }
        t->bytes_sent += (uint64_t)r;
        limit_wait(t, (size_t)r);
        libxlmig__iov_advance(&iov, &iovcnt, (size_t)r);
    }
    return 0;
}

int libxlmig__transport_write_all(libxlmig__gc *gc, libxlmig__transport *t,
                                  const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return libxlmig__transport_writev_all(gc, t, &iov, 1);
}

int libxlmig__transport_readv_all(libxlmig__gc *gc, libxlmig__transport *t,
                                  struct iovec *iov, int iovcnt,
                                  const char *what)
{
    size_t len = 0, done = 0;
    ssize_t r;
    int i, rc;

    for (i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    while (done < len) {
        rc = transport_wait(gc, t, POLLIN, "receiving from");
        if (rc) return rc;
        r = t->ops->readv(t, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return io_error(gc, t, false, what);
        }
        if (r == 0) {
            LOG(ERROR, "%s truncated: connection closed by %s (%zu of %zu "
                "bytes received)", what, t->peer, done, len);
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        done += (size_t)r;
        t->bytes_received += (uint64_t)r;
        libxlmig__iov_advance(&iov, &iovcnt, (size_t)r);
    }
    return 0;
}

int libxlmig__transport_readv_some(libxlmig__gc *gc, libxlmig__transport *t,
                                   const struct iovec *iov, int iovcnt,
                                   size_t *got_r, const char *what)
{
    ssize_t r;
    int rc;

    *got_r = 0;
    for (;;) {
        rc = transport_wait(gc, t, POLLIN, "receiving from");
        if (rc) return rc;
        r = iovcnt == 1 ? t->ops->read(t, iov[0].iov_base, iov[0].iov_len)
                        : t->ops->readv(t, iov,
                                        iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
        if (r >= 0)
            break;
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return io_error(gc, t, false, what);
    }
    *got_r = (size_t)r;
    t->bytes_received += (uint64_t)r;
    return 0;
}

int libxlmig__transport_read_some(libxlmig__gc *gc, libxlmig__transport *t,
                                  void *buf, size_t len, size_t *got_r,
                                  const char *what)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    return libxlmig__transport_readv_some(gc, t, &iov, 1, got_r, what);
}

int libxlmig__transport_read_all(libxlmig__gc *gc, libxlmig__transport *t,
                                 void *buf, size_t len, const char *what)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    return libxlmig__transport_readv_all(gc, t, &iov, 1, what);
}

/* ---- guest pages by reference ---- */

/* The pipe holds this much (bytes): a slice of pages in one go. */
#define BY_REF_PIPE_SIZE (1 << 20)

bool libxlmig__transport_by_ref(libxlmig__transport *t)
{
    struct stat sb;

    if (t->ops->by_ref)
        return t->ops->by_ref(t);
    if (t->by_ref)
        return t->by_ref > 0;
    t->by_ref = -1;
    if (libxlmig__tunable_no_splice() || t->fd < 0 ||
        (t->ops->fd_writes_ok && !t->ops->fd_writes_ok(t)) ||
        fstat(t->fd, &sb) || !S_ISSOCK(sb.st_mode) ||
        pipe2(t->pipe_fd, O_CLOEXEC))
        return false;
    /* A smaller pipe (pipe-max-size) only means more calls. */
    (void)fcntl(t->pipe_fd[1], F_SETPIPE_SZ, BY_REF_PIPE_SIZE);
    t->by_ref = 1;
    return true;
}

/* Move len bytes that vmsplice() put into the pipe on to the socket. */
static int pipe_to_socket(libxlmig__gc *gc, libxlmig__transport *t,
                          size_t len)
{
    ssize_t r;

    while (len > 0) {
        r = splice(t->pipe_fd[0], NULL, t->fd, NULL, len, SPLICE_F_MOVE);
        if (r < 0 && errno == EINTR)
            continue;
        /* A non-blocking socket (kernel TLS): wait for room. */
        if (r < 0 && errno == EAGAIN) {
            if (!libxlmig__transport_poll(t, POLLOUT))
                continue;
            if (errno == ETIMEDOUT)
                return timed_out(gc, t, "sending to");
        }
        if (r <= 0) {
            if (r == 0) errno = EPIPE;   /* the pipe is ours: not seen */
            LOGE(ERROR, "cannot write the migration stream");
            return LIBXLMIG_ERROR_IO;
        }
        t->bytes_sent += (uint64_t)r;
        t->bytes_by_ref += (uint64_t)r;
        limit_wait(t, (size_t)r);
        len -= (size_t)r;
    }
    return 0;
}

int libxlmig__transport_send_pages(libxlmig__gc *gc, libxlmig__transport *t,
                                   struct iovec *iov, int iovcnt)
{
    ssize_t r;
    int rc;

    if (t->ops->send_pages)
        return t->ops->send_pages(gc, t, iov, iovcnt);
    if (!libxlmig__transport_by_ref(t))
        return libxlmig__transport_writev_all(gc, t, iov, iovcnt);
    while (iovcnt > 0) {
        /* The pipe is empty here, so this never waits. */
        r = vmsplice(t->pipe_fd[1], iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt,
                     SPLICE_F_NONBLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* Memory the kernel cannot refer to: copy from now on. */
            LOGE(DEBUG, "sending pages by reference to %s failed; "
                 "copying them", t->peer);
            close(t->pipe_fd[0]);
            close(t->pipe_fd[1]);
            t->by_ref = -1;
            return libxlmig__transport_writev_all(gc, t, iov, iovcnt);
        }
        rc = pipe_to_socket(gc, t, (size_t)r);
        if (rc) return rc;
        libxlmig__iov_advance(&iov, &iovcnt, (size_t)r);
    }
    return 0;
}
