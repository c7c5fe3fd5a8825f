/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The cluster config parser: a complete file and a minimal one (values,
 * defaults, key path resolution, warnings for unknown keys), then each
 * broken file under tests/data/config/ must fail with LIBXLMIG_ERROR_CONFIG
 * and a message naming the file, the line, the key and the problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxlmig.h"
#include "tap.h"

static const struct {
    const char *file;
    const char *where;       /* after the path: ":LINE: KEY" */
    const char *what;        /* part of the message */
} bad[] = {
    { "bad-syntax.cfg", ":3:", "config parsing error near `node'" },
    { "bad-nul.cfg", ":2:", "a NUL byte: the cluster config must be text" },
    { "bad-no-cluster.cfg", ": cluster", "missing (required)" },
    { "bad-cluster-list.cfg", ":1: cluster", "single string, not a list" },
    { "bad-no-network.cfg", ": network", "missing (required)" },
    { "bad-misspelt-node.cfg", ": node", "missing (required) (line 3 has "
      "'nodes': misspelt?)" },
    { "bad-escaped-quote.cfg", ":3: node", "node a: mgmt '192.0.2.1\"x' "
      "is not an address or host name" },
    { "bad-network-not-list.cfg", ":2: network", "must be a list" },
    { "bad-network-no-cidr.cfg", ":2: network", "network mig0: cidr= is "
      "missing" },
    { "bad-cidr-hostbits.cfg", ":3: network", "has host bits set (the "
      "network is 10.10.0.0/24)" },
    { "bad-cidr-length.cfg", ":2: network", "prefix length must be 0 to 32" },
    { "bad-network-dup.cfg", ":2: network", "network mig0 is defined twice" },
    { "bad-network-overlap.cfg", ":2: network", "networks mig0 (10.10.0.0/16)"
      " and mig1 (10.10.5.0/24) overlap" },
    { "bad-network-item.cfg", ":2: network", "unknown item 'mtu'" },
    { "bad-node-missing-net.cfg", ":3: node", "node b has no address on "
      "network mig1 (add mig1=ADDRESS)" },
    { "bad-node-outside.cfg", ":3: node", "node a: address 10.10.1.1 is "
      "outside network mig0 (10.10.0.0/24)" },
    { "bad-node-unknown-net.cfg", ":3: node", "'mig2' is neither name=, "
      "mgmt= nor a network" },
    { "bad-node-malformed.cfg", ":3: node", "\"mig0\" is not KEY=VALUE" },
    { "bad-node-dup.cfg", ":3: node", "node a is defined twice" },
    { "bad-node-same-addr.cfg", ":3: node", "nodes a and b share address "
      "10.10.0.1 on network mig0" },
    { "bad-node-no-mgmt.cfg", ":3: node", "node a: mgmt= (management "
      "address) is missing" },
    { "bad-node-bad-addr.cfg", ":3: node", "'10.10.0.300' is not an IPv4 or "
      "IPv6 address" },
    { "bad-node-nested.cfg", ":3: node", "entry 1 must be a string" },
    { "bad-allow-public.cfg", ":4: allow_public", "must be between 0 and 1" },
    { "bad-downtime.cfg", ":4: downtime_limit_ms", "must be a number" },
    { "bad-port.cfg", ":4: port", "must be between 1 and 65535" },
    { "bad-key-file-list.cfg", ":4: key_file", "single string, not a list" },
    { "bad-downtime-zero.cfg", ":4: downtime_limit_ms", "0 is out of range "
      "(must be between 1 and 3600000)" },
    { "bad-connections.cfg", ":4: connections_per_network", "9 is out of "
      "range (must be between 1 and 8)" },
    { "bad-downtime-max.cfg", ":4: downtime_limit_ms", "3600001 is out of "
      "range (must be between 1 and 3600000)" },
    { "bad-bandwidth-unit.cfg", ":4: bandwidth_limit", "bandwidth '12q': "
      "expected a number with an optional unit (Mbit, Gbit, MiB, ...)" },
    { "bad-bandwidth-negative.cfg", ":4: bandwidth_limit", "bandwidth '-5': "
      "expected a number" },
    { "bad-bandwidth-range.cfg", ":4: bandwidth_limit", "bandwidth '20Tbit': "
      "out of range (0 or unlimited, or 1 Mbit/s to 10 Tbit/s" },
    { "bad-bandwidth-both.cfg", ":5: bandwidth_limit_mbps", "give "
      "bandwidth_limit or its older spelling bandwidth_limit_mbps, not both" },
    { "bad-bandwidth-mbps.cfg", ":4: bandwidth_limit_mbps", "10000001 is out "
      "of range (must be between 0 and 10000000)" },
    { "bad-compression.cfg", ":4: compression", "'gzip' is not one of auto, "
      "off, lz4, zstd" },
};

/* The one bandwidth syntax: value, bytes/s wanted (or -1: refused, with
 * part of the message). */
static const struct {
    const char *in;
    long long bps;
    const char *why;
} bw[] = {
    { "800", 100000000, NULL },            /* a bare number: Mbit/s */
    { "1Gbit", 125000000, NULL },
    { "1.5 Gbit/s", 187500000, NULL },
    { "10Mbps", 1250000, NULL },
    { "mbit", -1, "expected a number with an optional unit" },
    { "2500kbit", 312500, NULL },
    { "100MiB", 104857600, NULL },
    { "1GiB/s", 1073741824, NULL },
    { "64 MiB", 67108864, NULL },
    { "125000B", 125000, NULL },
    { "0", 0, NULL },
    { "unlimited", 0, NULL },
    { "10Tbit", 1250000000000LL, NULL },
    { "12q", -1, "bandwidth '12q': expected a number with an optional unit "
      "(Mbit, Gbit, MiB, ...)" },
    { "-5", -1, "expected a number" },
    { "", -1, "expected a number" },
    { "1e3", -1, "expected a number" },
    { "0x10", -1, "expected a number" },
    { "8 MBps", -1, "expected a number" },      /* bytes or bits? refused */
    { "1.2.3", -1, "expected a number" },
    { "0.5", -1, "out of range" },              /* 0.5 Mbit/s: too slow */
    { "10.1Tbit", -1, "out of range" },
    { "99999999999999999999999", -1, "out of range" },
};

static void test_bandwidth(void)
{
    char why[256], buf[32];
    uint64_t v;
    size_t i;
    int rc;

    for (i = 0; i < ARRAY_SIZE(bw); i++) {
        why[0] = 0;
        v = 12345;
        rc = libxlmig_bandwidth_parse(bw[i].in, &v, why, sizeof(why));
        if (bw[i].bps >= 0)
            ok(!rc && v == (uint64_t)bw[i].bps, "bandwidth '%s' is %lld "
               "bytes/s (got %llu; %s)", bw[i].in, bw[i].bps,
               (unsigned long long)v, why);
        else
            ok(rc == LIBXLMIG_ERROR_INVAL && strstr(why, bw[i].why) &&
               v == 12345, "bandwidth '%s' refused: %s", bw[i].in, why);
    }
    is_string("800 Mbit/s", libxlmig_bandwidth_str(1e8, false, buf,
                                                    sizeof(buf)),
              "reports print Mbit/s");
    is_string("12.5 Mbit/s", libxlmig_bandwidth_str(1562500, false, buf,
                                                     sizeof(buf)),
              "with a decimal below 100 Mbit/s");
    is_string("unlimited", libxlmig_bandwidth_str(0, true, buf, sizeof(buf)),
              "a limit of 0 is unlimited");
}

static void test_compression(void)
{
    static const char *const names[] = { "off", "auto", "lz4", "zstd" };
    libxlmig_compression c;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(names); i++)
        ok(!libxlmig_compression_from_string(names[i], &c) &&
           !strcmp(libxlmig_compression_to_string(c), names[i]),
           "compression %s both ways", names[i]);
    is_int(LIBXLMIG_ERROR_INVAL, libxlmig_compression_from_string("gzip", &c),
           "compression gzip refused");
}

/* The config's migration defaults, then what the caller gave. */
static void test_resolve(libxlmig_ctx *ctx)
{
    libxlmig_cluster_config c;
    libxlmig_params given, p, again;
    int rc;

    libxlmig_cluster_config_init(&c);
    rc = libxlmig_cluster_config_load(ctx, test_data_path("config/units.cfg"),
                                      &c);
    is_int(0, rc, "units.cfg loads (%s)", libxlmig_last_error(ctx));
    is_int(250, c.downtime_limit_ms, "its downtime_limit_ms");
    ok(c.bandwidth_limit == 187500000, "bandwidth_limit = \"1.5 Gbit/s\" "
       "is 187500000 bytes/s (%llu)", (unsigned long long)c.bandwidth_limit);
    is_int(LIBXLMIG_COMPRESSION_ZSTD, c.compression, "compression = zstd");

    libxlmig_params_resolve(&c, NULL, &p);
    ok(p.downtime_limit_ms == 250 && p.bandwidth_limit == 187500000 &&
       p.compression == LIBXLMIG_COMPRESSION_ZSTD,
       "nothing given: the config's three defaults");
    is_int(LIBXLMIG_DEFAULT_MAX_ROUNDS, p.max_rounds,
           "and the named default of the rest");

    libxlmig_params_init(&given);
    given.bandwidth_limit = 8 << 20;
    given.given = LIBXLMIG_PARAM_BANDWIDTH;
    given.downtime_limit_ms = 999;      /* not given: the config wins */
    given.max_rounds = 7;
    libxlmig_params_resolve(&c, &given, &p);
    ok(p.bandwidth_limit == 8 << 20 && p.downtime_limit_ms == 250 &&
       p.compression == LIBXLMIG_COMPRESSION_ZSTD && p.max_rounds == 7,
       "a given bandwidth overrides the config, the rest comes from it");

    given.downtime_limit_ms = LIBXLMIG_DEFAULT_DOWNTIME_MS;
    given.compression = LIBXLMIG_COMPRESSION_OFF;
    given.bandwidth_limit = 0;
    given.given = LIBXLMIG_PARAM_ALL;
    libxlmig_params_resolve(&c, &given, &p);
    ok(p.downtime_limit_ms == LIBXLMIG_DEFAULT_DOWNTIME_MS &&
       p.bandwidth_limit == 0 && p.compression == LIBXLMIG_COMPRESSION_OFF,
       "given values equal to the named defaults still override");
    libxlmig_params_resolve(NULL, &p, &again);
    ok(!memcmp(&p, &again, sizeof(p)), "resolving again changes nothing");
    libxlmig_params_resolve(NULL, NULL, &p);
    ok(p.downtime_limit_ms == LIBXLMIG_DEFAULT_DOWNTIME_MS &&
       p.bandwidth_limit == 0 && p.compression == LIBXLMIG_COMPRESSION_AUTO,
       "no config: the named defaults");
    libxlmig_cluster_config_dispose(&c);

    rc = libxlmig_cluster_config_load(
        ctx, test_data_path("config/units-bare.cfg"), &c);
    ok(rc == 0 && c.bandwidth_limit == 50000000, "bandwidth_limit = 400 "
       "unquoted is 400 Mbit/s (%llu)", (unsigned long long)c.bandwidth_limit);
    libxlmig_cluster_config_dispose(&c);
}

static void test_good(libxlmig_ctx *ctx)
{
    libxlmig_cluster_config c;
    char want[4096];
    char *json = NULL;
    const char *path = test_data_path("config/good.cfg");
    int rc;

    libxlmig_cluster_config_init(&c);
    rc = libxlmig_cluster_config_load(ctx, path, &c);
    is_int(0, rc, "good.cfg loads (%s)", libxlmig_last_error(ctx));
    if (rc) {
        skip_block(19, "good.cfg did not load");
        return;
    }
    is_string("lab", c.cluster, "cluster name");
    is_int(2, c.num_networks, "two networks");
    is_string("mig0", c.networks[0].name, "first network in order");
    is_string("fd00:10:11::/64", c.networks[1].cidr,
              "IPv6 network, whitespace around items ignored");
    is_int(2, c.num_nodes, "two nodes");
    is_string("dom0-b.example.org", c.nodes[1].mgmt,
              "management address may be a host name");
    is_string("10.10.0.2", c.nodes[1].mig_addrs[0],
              "addresses indexed by network whatever the item order");
    is_string("fd00:10:11::2", c.nodes[1].mig_addrs[1], "IPv6 address");
    is_bool(true, c.allow_public, "allow_public = 1");
    snprintf(want, sizeof(want), "%s", path);
    *strrchr(want, '/') = 0;
    strncat(want, "/keys/xlmig.key", sizeof(want) - strlen(want) - 1);
    is_string(want, c.key_file, "relative key_file is next to the config");
    is_int(9000, c.port, "port");
    is_int(500, c.downtime_limit_ms, "downtime_limit_ms");
    ok(c.bandwidth_limit == 312500000, "the older bandwidth_limit_mbps = "
       "2500 is 2500 Mbit/s (%llu bytes/s)",
       (unsigned long long)c.bandwidth_limit);
    is_int(3, c.max_outgoing, "max_outgoing");
    is_int(1, c.max_incoming, "max_incoming");
    is_int(1, c.connections_per_network,
           "connections_per_network defaults to 1");
    is_string("x86-64-v2", c.cpu_baseline, "cpu_baseline");
    is_string("/srv/xlmig", c.sim_storage_dir, "sim_storage_dir");
    is_int(0, c.num_warnings, "no warnings for a correct file");
    rc = libxlmig_cluster_config_to_json(ctx, &c, &json);
    ok(rc == 0 && json && strstr(json, "\"mig1\": \"fd00:10:11::2\""),
       "config as JSON has the node addresses by network");
    free(json);
    libxlmig_cluster_config_dispose(&c);
    libxlmig_cluster_config_dispose(&c);
}

static void test_minimal(libxlmig_ctx *ctx)
{
    libxlmig_cluster_config c;
    const char *path = test_data_path("config/minimal.cfg");
    int rc;

    libxlmig_cluster_config_init(&c);
    rc = libxlmig_cluster_config_load(ctx, path, &c);
    is_int(0, rc, "minimal.cfg loads");
    is_bool(false, c.allow_public, "allow_public defaults to 0");
    is_string("/etc/xen/xlmig.key", c.key_file, "default key_file");
    is_int(LIBXLMIG_DEFAULT_PORT, c.port, "default port");
    is_int(LIBXLMIG_DEFAULT_DOWNTIME_MS, c.downtime_limit_ms,
           "default downtime limit");
    ok(c.bandwidth_limit == 0, "default bandwidth unlimited");
    is_int(LIBXLMIG_COMPRESSION_AUTO, c.compression,
           "default compression auto");
    is_int(LIBXLMIG_DEFAULT_MAX_OUTGOING, c.max_outgoing,
           "default max_outgoing");
    is_string(LIBXLMIG_DEFAULT_CPU_BASELINE, c.cpu_baseline,
              "default cpu_baseline");
    is_int(2, c.num_warnings, "two unknown keys warned about");
    like_string(":5: unknown key 'alow_public' ignored (did you mean "
                "'allow_public'?)", c.num_warnings > 0 ? c.warnings[0] : "",
                "misspelt key named with its line and a suggestion");
    like_string(":6: unknown key 'colour' ignored",
                c.num_warnings > 1 ? c.warnings[1] : "",
                "unknown key named with its line");
    is_int(1, libxlmig_cluster_config_node(&c, "b"), "node lookup");
    is_int(-1, libxlmig_cluster_config_node(&c, "c"), "missing node");
    is_int(0, libxlmig_cluster_config_network(&c, "mig0"), "network lookup");
    libxlmig_cluster_config_dispose(&c);
}

int main(void)
{
    libxlmig_ctx *ctx;
    libxlmig_cluster_config c;
    char name[64], where[1200];
    size_t i;
    int rc;

    plan(21 + 15 + 2 + 4 * ARRAY_SIZE(bad) + ARRAY_SIZE(bw) + 3 + 5 + 11);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    test_good(ctx);
    test_minimal(ctx);
    test_bandwidth();
    test_compression();
    test_resolve(ctx);

    libxlmig_cluster_config_init(&c);
    rc = libxlmig_cluster_config_load(ctx, "/nonexistent/xlmig.cfg", &c);
    is_int(LIBXLMIG_ERROR_NOTFOUND, rc, "missing file: NOTFOUND");
    like_string("/nonexistent/xlmig.cfg: cluster config not found",
                libxlmig_last_error(ctx), "missing file named");

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        const char *path;

        snprintf(name, sizeof(name), "config/%s", bad[i].file);
        path = test_data_path(name);
        rc = libxlmig_cluster_config_load(ctx, path, &c);
        is_int(LIBXLMIG_ERROR_CONFIG, rc, "%s is refused", bad[i].file);
        snprintf(where, sizeof(where), "%s%s", path, bad[i].where);
        like_string(where, libxlmig_last_error(ctx),
                    "%s: error names file, line and key", bad[i].file);
        like_string(bad[i].what, libxlmig_last_error(ctx),
                    "%s: error says what is wrong", bad[i].file);
        ok(!c.num_nodes && !c.num_networks && !c.cluster && !c.file,
           "%s: config left empty", bad[i].file);
    }
    libxlmig_cluster_config_dispose(&c);
    libxlmig_ctx_free(ctx);
    return 0;
}
