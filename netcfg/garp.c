/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Gratuitous ARP over an AF_PACKET socket.  The frame is 42 bytes of
 * fixed layout (RFC 826, RFC 5227 section 3 "ARP Announcement"), so it is
 * built here rather than through a packet library.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "garp.h"

int netcfg_mac_parse(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    int i;

    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &tail) != 6 || strlen(s) != 17)
        return -EINVAL;
    for (i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

void netcfg_garp_frame(uint8_t frame[42], const uint8_t mac[6],
                       struct in_addr ip)
{
    struct ether_header *eh = (struct ether_header *)frame;
    struct ether_arp *arp = (struct ether_arp *)(frame + sizeof(*eh));

    memset(eh->ether_dhost, 0xff, ETH_ALEN);
    memcpy(eh->ether_shost, mac, ETH_ALEN);
    eh->ether_type = htons(ETHERTYPE_ARP);
    arp->arp_hrd = htons(ARPHRD_ETHER);
    arp->arp_pro = htons(ETHERTYPE_IP);
    arp->arp_hln = ETH_ALEN;
    arp->arp_pln = 4;
    arp->arp_op = htons(ARPOP_REQUEST);
    memcpy(arp->arp_sha, mac, ETH_ALEN);
    memcpy(arp->arp_spa, &ip.s_addr, 4);
    memset(arp->arp_tha, 0, ETH_ALEN);
    memcpy(arp->arp_tpa, &ip.s_addr, 4);
}

int netcfg_garp_send(const char *ifname, const uint8_t mac[6],
                     struct in_addr ip, unsigned count, unsigned interval_ms,
                     const char **err)
{
    struct sockaddr_ll sll;
    struct timespec ts;
    uint8_t frame[42];
    unsigned i;
    int fd = -1, r;

    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = (int)if_nametoindex(ifname);
    if (!sll.sll_ifindex) {
        *err = "no such interface";
        return -errno;
    }
    sll.sll_halen = ETH_ALEN;
    memset(sll.sll_addr, 0xff, ETH_ALEN);
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (fd < 0) {
        *err = "cannot open a packet socket (needs CAP_NET_RAW)";
        return -errno;
    }
    netcfg_garp_frame(frame, mac, ip);
    for (i = 0; i < count; i++) {
        if (i && interval_ms) {
            ts.tv_sec = interval_ms / 1000;
            ts.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
            nanosleep(&ts, NULL);
        }
        if (sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&sll,
                   sizeof(sll)) != (ssize_t)sizeof(frame)) {
            r = -errno;
            close(fd);
            *err = "sending the announcement failed";
            return r;
        }
    }
    close(fd);
    *err = NULL;
    return 0;
}
