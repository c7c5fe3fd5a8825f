/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * flip-relay: a man in the middle for the transport security tests.  Not
 * installed; built with the tests.
 *
 *   flip-relay LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT FLIP_AT
 *
 * Accepts connections on LISTEN_ADDR:LISTEN_PORT and relays each, both
 * ways, to TARGET_ADDR:TARGET_PORT; in the direction from the connecting
 * side to the target, the byte at offset FLIP_AT of each connection has
 * one bit flipped (connections shorter than that pass untouched).  Says
 * on stderr when it flipped one.  Runs until killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int addr_of(const char *a, int port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, a, &sa->sin_addr) == 1 ? 0 : -1;
}

static int write_all(int fd, const unsigned char *b, size_t n)
{
    ssize_t r;

    while (n) {
        r = write(fd, b, n);
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static void relay(int c, const struct sockaddr_in *to, long long flip_at)
{
    static unsigned char buf[1 << 16];
    struct pollfd p[2];
    long long seen = 0;
    ssize_t n;
    int s, i;

    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (const struct sockaddr *)to, sizeof(*to))) {
        perror("flip-relay: connect");
        return;
    }
    p[0] = (struct pollfd){ .fd = c, .events = POLLIN };
    p[1] = (struct pollfd){ .fd = s, .events = POLLIN };
    for (;;) {
        if (poll(p, 2, -1) < 0)
            return;
        for (i = 0; i < 2; i++) {
            if (!p[i].revents)
                continue;
            n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0)
                return;
            if (i == 0) {
                if (flip_at >= seen && flip_at < seen + n) {
                    buf[flip_at - seen] ^= 0x10;
                    fprintf(stderr, "flip-relay: flipped byte %lld\n",
                            flip_at);
                }
                seen += n;
            }
            if (write_all(p[1 - i].fd, buf, (size_t)n))
                return;
        }
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in la, ta;
    long long flip_at;
    int l, c, one = 1;

    if (argc != 6 || addr_of(argv[1], atoi(argv[2]), &la) ||
        addr_of(argv[3], atoi(argv[4]), &ta)) {
        fprintf(stderr, "usage: flip-relay LISTEN_ADDR LISTEN_PORT "
                "TARGET_ADDR TARGET_PORT FLIP_AT\n");
        return 2;
    }
    flip_at = atoll(argv[5]);
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l < 0 || bind(l, (struct sockaddr *)&la, sizeof(la)) ||
        listen(l, 16)) {
        perror("flip-relay: listen");
        return 1;
    }
    fprintf(stderr, "flip-relay: listening\n");
    for (;;) {
        c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        if (fork() == 0) {
            close(l);
            relay(c, &ta, flip_at);
            _exit(0);
        }
        close(c);
    }
}
