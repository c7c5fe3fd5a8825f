/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The peer of the socket harnesses: a thread writes the fuzz input into
 * one end of a socketpair and closes it, while the harness reads the other
 * end as xlmigd would, so that inputs larger than a socket's buffer reach
 * the reader whole and the reader never waits for bytes that will not
 * come.
 */
#ifndef XLMIG_FUZZ_FEED_H
#define XLMIG_FUZZ_FEED_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct feed {
    int fd;
    const uint8_t *data;
    size_t size;
    pthread_t thread;
} feed;

static void *feed_main(void *arg)
{
    feed *f = arg;
    size_t off = 0;
    ssize_t r;

    while (off < f->size) {
        r = write(f->fd, f->data + off, f->size - off);
        if (r <= 0) break;
        off += (size_t)r;
    }
    close(f->fd);
    return NULL;
}

/* Start writing size bytes of data into fd (owned from now). */
static inline void feed_start(feed *f, int fd, const uint8_t *data,
                              size_t size)
{
    /* Either end may close first, as xlmigd's peers do; xlmigd ignores
     * SIGPIPE too. */
    signal(SIGPIPE, SIG_IGN);
    f->fd = fd;
    f->data = data;
    f->size = size;
    if (pthread_create(&f->thread, NULL, feed_main, f))
        abort();
}

static inline void feed_wait(feed *f)
{
    pthread_join(f->thread, NULL);
}

#endif /* XLMIG_FUZZ_FEED_H */
