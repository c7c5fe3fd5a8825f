/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Raw single-stream TCP throughput between two test hosts, the yardstick
 * of the cluster benchmark: the same socket buffers (4 MiB) and write size
 * (2 MiB) as the migration stream, nothing else.
 *   bench-tcp serve ADDR PORT        accept one connection, discard, exit
 *   bench-tcp send ADDR PORT MIB     send MIB MiB, print MiB/s
 * Never installed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (2u << 20)

static void tune(int fd)
{
    int buf = 4 << 20;

    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    struct timespec a, b;
    char *buf;
    unsigned long long total, done = 0;
    ssize_t r;
    int fd, c, one = 1;

    if (argc < 4 || inet_pton(AF_INET, argv[2], &sin.sin_addr) != 1) {
        fprintf(stderr, "usage: bench-tcp serve ADDR PORT | "
                "send ADDR PORT MIB\n");
        return 2;
    }
    sin.sin_port = htons((unsigned short)atoi(argv[3]));
    buf = calloc(1, CHUNK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (!buf || fd < 0)
        return 1;
    tune(fd);
    if (!strcmp(argv[1], "serve")) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 1)) {
            perror("bench-tcp: listen");
            return 1;
        }
        c = accept(fd, NULL, NULL);
        if (c < 0)
            return 1;
        while ((r = read(c, buf, CHUNK)) > 0)
            ;
        return 0;
    }
    if (argc != 5 || strcmp(argv[1], "send"))
        return 2;
    total = strtoull(argv[4], NULL, 10) << 20;
    memset(buf, 0x5a, CHUNK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
        perror("bench-tcp: connect");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    while (done < total) {
        r = write(fd, buf, CHUNK);
        if (r <= 0) {
            perror("bench-tcp: write");
            return 1;
        }
        done += (unsigned long long)r;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, CHUNK) > 0)
        ;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", done / 1048576.0 /
           ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9));
    return 0;
}
