/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The interruption meter: a server process answering the echo service is
 * stopped for a known time, as a paused domain is; the probe must report a
 * gap at least that long and lose nothing the socket buffered.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libxlmig.h"
#include "tap.h"

int main(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    libxlmig_echo_result r;
    libxlmig_ctx *ctx;
    pid_t server, pauser;
    int fd, rc;

    plan(9);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("context");
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
        getsockname(fd, (struct sockaddr *)&sin, &len))
        sysbail("udp socket");
    server = fork();
    if (server == 0)
        _exit(libxlmig_echo_serve(fd) ? 1 : 0);
    close(fd);

    rc = libxlmig_echo_probe(ctx, "127.0.0.1", ntohs(sin.sin_port), 5, 300,
                             NULL, &r);
    is_int(0, rc, "probe of a running server");
    ok(r.sent >= 50 && r.received == r.sent, "every request answered "
       "(%llu of %llu)", (unsigned long long)r.received,
       (unsigned long long)r.sent);
    ok(r.longest_gap_ns < 200000000ull, "no long gap while running "
       "(%.1f ms)", r.longest_gap_ns / 1e6);

    /* Stop the server for 400 ms in the middle of a 1 s probe. */
    pauser = fork();
    if (pauser == 0) {
        struct timespec d = { 0, 300000000 }, p = { 0, 400000000 };

        nanosleep(&d, NULL);
        kill(server, SIGSTOP);
        nanosleep(&p, NULL);
        kill(server, SIGCONT);
        _exit(0);
    }
    rc = libxlmig_echo_probe(ctx, "127.0.0.1", ntohs(sin.sin_port), 5, 1000,
                             NULL, &r);
    waitpid(pauser, NULL, 0);
    is_int(0, rc, "probe across a pause");
    ok(r.longest_gap_ns >= 400000000ull, "the gap covers the pause "
       "(%.1f ms >= 400 ms)", r.longest_gap_ns / 1e6);
    ok(r.longest_gap_ns < 1000000000ull, "and is not longer than the probe "
       "(%.1f ms)", r.longest_gap_ns / 1e6);
    is_int(0, (long long)r.lost, "requests buffered during the pause are "
           "answered, not lost");

    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    rc = libxlmig_echo_probe(ctx, "127.0.0.1", ntohs(sin.sin_port), 5, 100,
                             NULL, &r);
    ok(rc == 0 && r.received == 0 && r.lost == r.sent && r.sent > 0,
       "a dead server loses every request (%llu)",
       (unsigned long long)r.lost);
    is_int(LIBXLMIG_ERROR_INVAL,
           libxlmig_echo_probe(ctx, "not-an-ip", 7, 5, 100, NULL, &r),
           "a bad address is refused");
    libxlmig_ctx_free(ctx);
    return 0;
}
