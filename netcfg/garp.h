/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Gratuitous ARP: after a domain moves, the new host announces the
 * domain's IPv4 address with the domain's MAC so switches and neighbours
 * learn its new location at once, as Hyper-V does after a live migration.
 */
#ifndef NETCFG_GARP_H
#define NETCFG_GARP_H

#include <stdint.h>
#include <netinet/in.h>

/*
 * Send count gratuitous ARP requests on interface ifname: Ethernet source
 * and sender hardware address mac, sender and target protocol address ip,
 * to the broadcast address, interval_ms apart.  Needs CAP_NET_RAW.
 * Returns 0, or -errno with *err (static text) naming the failing step.
 */
int netcfg_garp_send(const char *ifname, const uint8_t mac[6],
                     struct in_addr ip, unsigned count, unsigned interval_ms,
                     const char **err);

/* Parse "aa:bb:cc:dd:ee:ff"; 0 or -EINVAL. */
int netcfg_mac_parse(const char *s, uint8_t mac[6]);

/* Build the 42-byte frame netcfg_garp_send sends (for tests). */
void netcfg_garp_frame(uint8_t frame[42], const uint8_t mac[6],
                       struct in_addr ip);

#endif /* NETCFG_GARP_H */
