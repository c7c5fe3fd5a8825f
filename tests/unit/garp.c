/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Gratuitous ARP: the frame's layout, MAC parsing, and a real announcement
 * between two network namespaces that moves a neighbour entry to the new
 * MAC, as a switch or router next to the target host would learn it.
 */
#include <stdarg.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "garp.h"
#include "tap.h"

static char ns_a[32], ns_b[32];

static int sh(const char *fmt, ...) TAP_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void cleanup(void)
{
    if (ns_a[0])
        sh("ip netns del %s 2>/dev/null", ns_a);
    if (ns_b[0])
        sh("ip netns del %s 2>/dev/null", ns_b);
}

static void capture(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;

    out[0] = '\0';
    if (!p)
        return;
    n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    pclose(p);
}

int main(void)
{
    static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x12, 0x34, 0x56 };
    uint8_t frame[42], parsed[6];
    struct in_addr ip;
    char path[64], out[1024];
    const char *err = NULL;
    pid_t pid;
    int st, fd;

    plan(14);
    inet_pton(AF_INET, "192.0.2.50", &ip);
    netcfg_garp_frame(frame, mac, ip);
    ok(!memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6),
       "sent to the Ethernet broadcast address");
    ok(!memcmp(frame + 6, mac, 6), "Ethernet source is the domain's MAC");
    ok(frame[12] == 0x08 && frame[13] == 0x06, "EtherType ARP");
    ok(frame[20] == 0 && frame[21] == 1, "ARP request (announcement)");
    ok(!memcmp(frame + 22, mac, 6), "sender hardware address is the MAC");
    ok(!memcmp(frame + 28, &ip.s_addr, 4) && !memcmp(frame + 38, &ip.s_addr, 4),
       "sender and target protocol address are the domain's IP");
    is_int(0, netcfg_mac_parse("00:16:3e:12:34:56", parsed), "parse a MAC");
    ok(!memcmp(parsed, mac, 6), "parsed MAC matches");
    is_int(-EINVAL, netcfg_mac_parse("00:16:3e:12:34", parsed),
           "short MAC refused");
    is_int(-EINVAL, netcfg_mac_parse("00:16:3e:12:34:56:78", parsed),
           "long MAC refused");

    if (geteuid() != 0) {
        skip_block(4, "needs root for network namespaces");
        return 0;
    }
    snprintf(ns_a, sizeof(ns_a), "xmga%d", (int)getpid());
    snprintf(ns_b, sizeof(ns_b), "xmgb%d", (int)getpid());
    atexit(cleanup);
    if (sh("ip netns add %s && ip netns add %s && "
           "ip -n %s link add ga type veth peer name gb netns %s && "
           "ip -n %s link set ga up && ip -n %s link set gb up && "
           "ip -n %s addr add 192.0.2.1/24 dev ga && "
           "ip -n %s addr add 192.0.2.2/24 dev gb && "
           "ip -n %s neigh replace 192.0.2.50 lladdr 02:00:00:00:00:01 "
           "dev gb nud stale", ns_a, ns_b, ns_a, ns_b, ns_a, ns_b, ns_a,
           ns_b, ns_b))
        bail("cannot build the namespaces");
    snprintf(path, sizeof(path), "ip -n %s neigh show 192.0.2.50", ns_b);
    capture(path, out, sizeof(out));
    like_string("02:00:00:00:00:01", out, "neighbour starts at the old MAC");

    /* Past the neighbour lock time, so the update is not ignored. */
    usleep(1100 * 1000);
    pid = fork();
    if (pid == 0) {
        snprintf(path, sizeof(path), "/run/netns/%s", ns_a);
        fd = open(path, O_RDONLY);
        if (fd < 0 || setns(fd, CLONE_NEWNET))
            _exit(99);
        _exit(netcfg_garp_send("ga", mac, ip, 3, 50, &err) ? 1 : 0);
    }
    waitpid(pid, &st, 0);
    is_int(0, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
           "announcement sent from the target's namespace");
    snprintf(path, sizeof(path), "ip -n %s neigh show 192.0.2.50", ns_b);
    capture(path, out, sizeof(out));
    like_string("00:16:3e:12:34:56", out,
                "the neighbour learned the domain's new location");
    is_int(-ENODEV, netcfg_garp_send("nosuchif0", mac, ip, 1, 0, &err),
           "an unknown interface is refused");
    return 0;
}
