/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Test-only fault injection.  Nothing happens unless the environment of
 * the process (xlmigd) sets XLMIG_FAULT="SIDE:POINT:ACTION[:N]": the Nth
 * time (default the first) the SIDE ("src", the sending daemon, or "dst",
 * the receiving one) reaches the protocol step POINT, ACTION is done once
 * (up to four such specs, separated by commas):
 *
 *   crash    _exit(97) at once, without any cleanup (a host or daemon
 *            crash at that step)
 *   hang     stop this thread for 3 handoff timeouts, then carry on (a
 *            stuck toolstack; the peer's timeouts must fire)
 *   drop     shut the connection down both ways (a connection lost)
 *   corrupt  write one stray byte 0xa5 into the connection, which puts
 *            every frame or record after it out of step (a corrupted byte)
 *
 * Points: handshake, preflight, begin, round, stopcopy,
 * ready, go, unpause, confirm, destroy.  Each call site is one line,
 * libxlmig__fault("src", "go", fd); fd -1 when there is no connection
 * (drop and corrupt then do nothing).  Every fault is announced on
 * stderr (the daemon's log) so a test can tell it fired.
 *
 * Two more knobs act inside a step rather than at one:
 * XLMIG_TEST_DROP_PAGE (the engine never sends one page; verification
 * must catch it) and XLMIG_TEST_LOSE_GO="DOMAIN[:MS]" (the source cuts
 * the connection just before go and waits MS before resolving).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "core/tunables.h"

#define FAULT_MAX 4
static int fault_hits[FAULT_MAX];   /* hits of each spec's side:point */

/* One spec "SIDE:POINT:ACTION[:N]" (modified in place), index k. */
static void fault_one(char *spec, int k, const char *side, const char *point,
                      int fd)
{
    char *f[4] = { NULL }, *save = NULL, *tok;
    unsigned char stray = 0xa5;
    int i = 0, nth;

    for (tok = strtok_r(spec, ":", &save); tok && i < 4;
         tok = strtok_r(NULL, ":", &save))
        f[i++] = tok;
    if (i < 3 || strcmp(f[0], side) || strcmp(f[1], point))
        return;
    nth = f[3] ? atoi(f[3]) : 1;
    if (__atomic_add_fetch(&fault_hits[k], 1, __ATOMIC_SEQ_CST) != nth)
        return;
    fprintf(stderr, "xlmig: fault injection: %s at %s:%s (hit %d)\n", f[2],
            side, point, nth);
    fflush(stderr);
    if (!strcmp(f[2], "crash")) {
        _exit(97);
    } else if (!strcmp(f[2], "hang")) {
        usleep((useconds_t)libxlmig__tunable_handoff_timeout_ms() * 3000);
    } else if (!strcmp(f[2], "drop")) {
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    } else if (!strcmp(f[2], "corrupt")) {
        if (fd >= 0 && send(fd, &stray, 1, MSG_NOSIGNAL) != 1)
            fprintf(stderr, "xlmig: fault injection: cannot corrupt\n");
    }
}

void libxlmig__fault(const char *side, const char *point, int fd)
{
    const char *s = libxlmig__tunable_fault();
    char spec[256], *save = NULL, *one;
    int k = 0;

    if (!s || strlen(s) >= sizeof(spec))
        return;
    snprintf(spec, sizeof(spec), "%s", s);
    for (one = strtok_r(spec, ",", &save); one && k < FAULT_MAX;
         one = strtok_r(NULL, ",", &save))
        fault_one(one, k++, side, point, fd);
}

bool libxlmig__fault_drop_page(void)
{
    const char *s = libxlmig__tunable_test_drop_page();

    return s && strcmp(s, "0");
}

int libxlmig__fault_lose_go(const char *domain)
{
    const char *s = libxlmig__tunable_test_lose_go();
    size_t n;

    if (!s)
        return -1;
    n = strcspn(s, ":");
    if (strlen(domain) != n || strncmp(s, domain, n))
        return -1;
    return s[n] == ':' ? atoi(s + n + 1) : 0;
}
