/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * echod: the testbed guest's network service.  Answers the UDP requests
 * of `xlmig probe` (16-byte datagrams starting with "XLME", sent back as
 * they came) on PORT (default 7) of every address, from the guest itself:
 * while the guest is paused nobody answers, so the probe's longest gap is
 * what a client of the guest notices during a migration.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    unsigned port = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 7;
    struct sockaddr_in sin, from;
    unsigned char buf[64];
    socklen_t flen;
    ssize_t n;
    int fd;

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin))) {
        perror("echod");
        return 1;
    }
    printf("ECHOD listening on udp port %u\n", port);
    fflush(stdout);
    for (;;) {
        flen = sizeof(from);
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                     &flen);
        if (n == 16 && !memcmp(buf, "XLME", 4))
            sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
    }
}
