/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxlmig: live migration of Xen domains between the dom0s of a cluster.
 * This is the public interface: the context, error codes, the backend
 * selection and host information.  Everything here is safe to call from a
 * single thread per context; contexts are independent of each other.
 */
#ifndef LIBXLMIG_H
#define LIBXLMIG_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <xentoollog.h>

#include "libxlmig_netcfg.h"
#include "libxlmig_policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LIBXLMIG_VERSION "0.1.0"
#define LIBXLMIG_API __attribute__((visibility("default")))

/*
 * Error codes.  Functions return int rc: 0 on success, negative on failure.
 * Values from -1 to -999 are libxl's ERROR_* codes passed through unchanged
 * (their values are libxl ABI); ours start at -1000.
 */
enum libxlmig_error {
    LIBXLMIG_ERROR_FAIL = -1000,      /* unspecified failure */
    LIBXLMIG_ERROR_NOMEM = -1001,     /* out of memory */
    LIBXLMIG_ERROR_INVAL = -1002,     /* invalid argument or input */
    LIBXLMIG_ERROR_NOT_DOM0 = -1003,  /* not running in a Xen dom0 */
    LIBXLMIG_ERROR_BACKEND = -1004,   /* unknown or unusable backend */
    LIBXLMIG_ERROR_JSON = -1005,      /* JSON encoding or parsing failed */
    LIBXLMIG_ERROR_NOTFOUND = -1006,  /* domain, node or file not found */
    LIBXLMIG_ERROR_CONFIG = -1007,    /* bad cluster configuration */
    LIBXLMIG_ERROR_IO = -1008,        /* system call or I/O failure */
    LIBXLMIG_ERROR_PROTOCOL = -1009,  /* malformed or unexpected message */
    LIBXLMIG_ERROR_INCOMPATIBLE = -1010, /* CPU or host incompatibility */
    LIBXLMIG_ERROR_REFUSED = -1011,   /* peer or policy refused */
    LIBXLMIG_ERROR_AUTH = -1012,      /* authentication failed */
    LIBXLMIG_ERROR_TIMEOUT = -1013,   /* operation timed out */
    LIBXLMIG_ERROR_CANCELLED = -1014, /* cancelled by the user */
    LIBXLMIG_ERROR_EXISTS = -1015,    /* object already exists */
    LIBXLMIG_ERROR_UNSUPPORTED = -1016, /* not supported here */
    LIBXLMIG_ERROR_BUSY = -1017,      /* resource busy or locked */
    LIBXLMIG_ERROR_AMBIGUOUS = -1018, /* handoff outcome unknown: both
                                         copies paused; xlmig recover */
    LIBXLMIG_ERROR__LAST = -1019,
};

/* Static string describing rc (ours or libxl's); never NULL. */
LIBXLMIG_API const char *libxlmig_strerror(int rc);

typedef struct libxlmig_ctx libxlmig_ctx;

/* Which hypervisor interface the context drives. */
typedef enum libxlmig_backend_kind {
    LIBXLMIG_BACKEND_XEN = 0,  /* real Xen through libxl / libxenctrl */
    LIBXLMIG_BACKEND_SIM = 1,  /* the simulated hypervisor (xlmigd) */
} libxlmig_backend_kind;

LIBXLMIG_API const char *
libxlmig_backend_kind_to_string(libxlmig_backend_kind k);
/* Parses "xen" or "sim"; returns 0 or LIBXLMIG_ERROR_INVAL. */
LIBXLMIG_API int libxlmig_backend_kind_from_string(const char *s,
                                                   libxlmig_backend_kind *k_r);

/*
 * Allocate a context logging to lg (which the caller keeps and frees after
 * libxlmig_ctx_free).  lg may be NULL: only critical messages then reach
 * stderr.  The same logger is handed to libxl, so one stream carries both.
 * Caller frees *ctx_r with libxlmig_ctx_free.
 */
LIBXLMIG_API int libxlmig_ctx_alloc(libxlmig_ctx **ctx_r,
                                    xentoollog_logger *lg);
LIBXLMIG_API void libxlmig_ctx_free(libxlmig_ctx *ctx);
LIBXLMIG_API xentoollog_logger *libxlmig_ctx_logger(libxlmig_ctx *ctx);

/*
 * The last error message logged at ERROR level through ctx, or "" if none.
 * Owned by ctx; valid until the next failing call.
 */
LIBXLMIG_API const char *libxlmig_last_error(libxlmig_ctx *ctx);

/*
 * Select and open a backend.  Fails with LIBXLMIG_ERROR_NOT_DOM0 for the
 * Xen backend outside a dom0, with a message saying so.  Opening twice
 * closes the first backend.
 */
LIBXLMIG_API int libxlmig_backend_open(libxlmig_ctx *ctx,
                                       libxlmig_backend_kind kind);
LIBXLMIG_API libxlmig_backend_kind libxlmig_backend_current(libxlmig_ctx *ctx);
/*
 * Name the backend without opening it: the kind whose xlmigd the
 * requests to the control socket reach, and its messages name (the sim
 * daemon, or xlmigd for Xen and its systemd unit).  Opening one sets it.
 */
LIBXLMIG_API void libxlmig_backend_choose(libxlmig_ctx *ctx,
                                          libxlmig_backend_kind kind);

/* Host facts, as `xl info` reports the ones migration cares about. */
typedef struct libxlmig_host_info {
    char *backend;           /* "xen" or "sim" */
    char *hostname;
    char *hypervisor;        /* "Xen 4.17.7" or "xlmig-sim 0.1.0" */
    char *scheduler;         /* "credit2", ... or "sim" */
    uint64_t total_memory_kib; /* KiB of host memory */
    uint64_t free_memory_kib;  /* KiB free for new domains */
    uint32_t nr_cpus;        /* logical CPUs */
    uint32_t nr_nodes;       /* NUMA nodes */
    uint32_t cpu_mhz;        /* nominal clock, MHz; 0 if unknown */
} libxlmig_host_info;

LIBXLMIG_API void libxlmig_host_info_init(libxlmig_host_info *hi);
LIBXLMIG_API void libxlmig_host_info_dispose(libxlmig_host_info *hi);
LIBXLMIG_API int libxlmig_host_info_get(libxlmig_ctx *ctx,
                                        libxlmig_host_info *hi);
/* Encode as a JSON object with "version".  Caller frees *json_r. */
LIBXLMIG_API int libxlmig_host_info_to_json(libxlmig_ctx *ctx,
                                            const libxlmig_host_info *hi,
                                            char **json_r);

/* Run state of a domain, as `xl list` shows it. */
typedef enum libxlmig_domain_state {
    LIBXLMIG_DOMAIN_RUNNING = 0,   /* running or blocked */
    LIBXLMIG_DOMAIN_PAUSED = 1,
    LIBXLMIG_DOMAIN_SHUTDOWN = 2,  /* shut down, not yet destroyed */
    LIBXLMIG_DOMAIN_DYING = 3,
} libxlmig_domain_state;

LIBXLMIG_API const char *
libxlmig_domain_state_to_string(libxlmig_domain_state s);

/* One domain of the host. */
typedef struct libxlmig_dominfo {
    char *name;
    char uuid[37];             /* canonical text form */
    uint32_t domid;
    uint64_t memory_kib;       /* KiB currently allocated */
    uint64_t max_memory_kib;   /* KiB maximum */
    uint32_t vcpus;            /* online vCPUs */
    libxlmig_domain_state state;
} libxlmig_dominfo;

LIBXLMIG_API void libxlmig_dominfo_init(libxlmig_dominfo *di);
LIBXLMIG_API void libxlmig_dominfo_dispose(libxlmig_dominfo *di);
LIBXLMIG_API void libxlmig_dominfo_list_free(libxlmig_dominfo *list, int nr);

/*
 * All domains of the host, in domid order.  Caller frees *list_r with
 * libxlmig_dominfo_list_free(*list_r, *nr_r).
 */
LIBXLMIG_API int libxlmig_domain_list(libxlmig_ctx *ctx,
                                      libxlmig_dominfo **list_r, int *nr_r);
/*
 * The domain called name (or with that numeric domid).  Fails with
 * LIBXLMIG_ERROR_NOTFOUND, logged, if there is none.  Caller disposes *di.
 */
LIBXLMIG_API int libxlmig_domain_info(libxlmig_ctx *ctx, const char *name,
                                      libxlmig_dominfo *di);
/* Encode a list as {"version":1,"domains":[...]}.  Caller frees *json_r. */
LIBXLMIG_API int libxlmig_domain_list_to_json(libxlmig_ctx *ctx,
                                              const libxlmig_dominfo *list,
                                              int nr, char **json_r);

/*
 * The interruption meter (echo.c): what a client of a domain notices.
 * Counts and durations as named; times in nanoseconds.
 */
typedef struct libxlmig_echo_result {
    uint64_t sent;            /* requests sent */
    uint64_t received;        /* distinct requests answered */
    uint64_t lost;            /* requests never answered */
    uint64_t longest_gap_ns;  /* longest time between two replies, ns */
    uint64_t max_rtt_ns;      /* slowest answered request, ns */
    uint64_t duration_ns;     /* whole probe, ns */
} libxlmig_echo_result;

#define LIBXLMIG_ECHO_PORT 7       /* UDP port of a sim domain's service */

LIBXLMIG_API void libxlmig_echo_result_init(libxlmig_echo_result *r);
/*
 * Answer echo requests on the bound UDP socket fd until an error; for the
 * domain's own process.  Returns -errno.
 */
LIBXLMIG_API int libxlmig_echo_serve(int fd);
/*
 * Send a request to addr:port every interval_ms for duration_ms (or until
 * *stop becomes non-zero), then wait up to a second for late replies.
 */
LIBXLMIG_API int libxlmig_echo_probe(libxlmig_ctx *ctx, const char *addr,
                                     unsigned port, unsigned interval_ms,
                                     unsigned duration_ms,
                                     volatile sig_atomic_t *stop,
                                     libxlmig_echo_result *r);

/*
 * CPUID policies.  The types are in libxlmig_policy.h.  These calls
 * capture, load and check policies through the context; the pure
 * functions on them (no context, no logging) follow.
 */

/* This host's CPUID policy, from the opened backend. */
LIBXLMIG_API int libxlmig_host_cpu_policy(libxlmig_ctx *ctx,
                                          struct policy_cpuid *p);
/* A running domain's CPUID policy, from the opened backend. */
LIBXLMIG_API int libxlmig_domain_cpu_policy(libxlmig_ctx *ctx,
                                            uint32_t domid,
                                            struct policy_cpuid *p);
/*
 * Is a domain called name running here?  *running_r and, if running,
 * *domid_r (may be NULL).  LIBXLMIG_ERROR_UNSUPPORTED when the backend
 * cannot tell.
 */
LIBXLMIG_API int libxlmig_domain_lookup(libxlmig_ctx *ctx, const char *name,
                                        bool *running_r, uint32_t *domid_r);
/* Load a policy from a JSON file; errors name the file and the field. */
LIBXLMIG_API int libxlmig_cpu_policy_load(libxlmig_ctx *ctx,
                                          const char *path,
                                          struct policy_cpuid *p);
/*
 * The directory holding the named baselines: $XLMIG_BASELINE_DIR, else
 * the build tree's policy/baselines for programs run from it, else
 * $(datadir)/xlmig/baselines.  Caller frees *dir_r.
 */
LIBXLMIG_API int libxlmig_baseline_dir(libxlmig_ctx *ctx, char **dir_r);
/* Load the named baseline ("Haswell"; case-insensitive). */
LIBXLMIG_API int libxlmig_baseline_load(libxlmig_ctx *ctx, const char *name,
                                        struct policy_cpuid *p);
/*
 * All baselines, in a stable order (Intel by age, AMD by age, then the
 * x86-64 psABI levels).  Caller frees *list_r (one malloc'd array).
 */
LIBXLMIG_API int libxlmig_baseline_list(libxlmig_ctx *ctx,
                                        struct policy_cpuid **list_r,
                                        size_t *nr_r);
/*
 * The migration pre-flight: can a domain with policy dom run on a host
 * with policy host?  Fills *res (may be NULL) and returns 0 if so, or
 * LIBXLMIG_ERROR_INCOMPATIBLE with a message naming the vendors, the leaf
 * shortfall and the missing features.
 */
LIBXLMIG_API int libxlmig_cpu_check(libxlmig_ctx *ctx,
                                    const struct policy_cpuid *dom,
                                    const struct policy_cpuid *host,
                                    struct policy_check *res);
/* JSON of a policy (policy_gen_json), pretty.  Caller frees *json_r. */
LIBXLMIG_API int libxlmig_cpu_policy_to_json(libxlmig_ctx *ctx,
                                             const struct policy_cpuid *p,
                                             char **json_r);
/*
 * The value of the `cpuid =` setting of an xl.cfg file, or NULL in
 * *value_r if it has none.  Caller frees *value_r.
 */
LIBXLMIG_API int libxlmig_xlcfg_get_cpuid(libxlmig_ctx *ctx,
                                          const char *path, char **value_r);
/*
 * A domain's policy from its xl.cfg: the host policy with the file's
 * cpuid= setting applied (the whole host policy if it has none).
 */
LIBXLMIG_API int libxlmig_cpu_policy_from_xlcfg(libxlmig_ctx *ctx,
                                                const char *path,
                                                const struct policy_cpuid *host,
                                                struct policy_cpuid *p);
/*
 * Compatibility mode, a cold setting: write `cpuid = "host,..."` masking
 * domain to the named baseline into its xl.cfg at cfg_path (replacing any
 * cpuid= setting).  Refused with LIBXLMIG_ERROR_BUSY ("shut the domain
 * down first") while a domain of that name runs.  The value written is
 * returned in *value_r if not NULL (caller frees).
 */
LIBXLMIG_API int libxlmig_cpu_set_compat(libxlmig_ctx *ctx,
                                         const char *domain,
                                         const char *baseline,
                                         const char *cfg_path,
                                         char **value_r);

/*
 * Pure functions on CPUID policies: no context, no I/O, nothing logged.
 * Strings returned are malloc'd and the caller frees them; NULL only when
 * out of memory.  The JSON generators write into a yajl generator the
 * caller owns (a yajl_gen is a struct yajl_gen_t *, a yajl_val a struct
 * yajl_val_s *, so this header needs no yajl header) and return the
 * yajl_gen_status of the first call that failed, yajl_gen_status_ok (0)
 * if none.
 */
struct yajl_gen_t;
struct yajl_val_s;

/*
 * Can a domain with policy dom run on host?  Fills *res; returns the
 * verdict.  libxlmig_cpu_check is the same check, logging why not.
 */
LIBXLMIG_API bool libxlmig_cpu_policy_fits(const struct policy_cpuid *dom,
                                           const struct policy_cpuid *host,
                                           struct policy_check *res);
/* One line explaining res ("compatible", "vendor mismatch: ..."). */
LIBXLMIG_API char *libxlmig_cpu_check_summary(const struct policy_check *res);
/*
 * The verdict of libxlmig_cpu_policy_fits with its one line in why
 * (len bytes): "compatible", the reason, or "CPU policy unknown" when
 * dom or host is NULL (a node whose policy could not be had).
 */
LIBXLMIG_API bool libxlmig_cpu_verdict(const struct policy_cpuid *dom,
                                       const struct policy_cpuid *host,
                                       char *why, size_t len);
/*
 * JSON of a check result: "compatible", "vendor_mismatch", the vendors,
 * the leaf maxima and shortfalls, "missing" (names) and "summary".
 */
LIBXLMIG_API int libxlmig_cpu_check_gen_json(struct yajl_gen_t *g,
                                             const struct policy_check *res);
/* "intel", "amd", "hygon", "any" or "unknown". */
LIBXLMIG_API const char *libxlmig_cpu_vendor_to_string(enum policy_vendor v);
/* Number of features set in p. */
LIBXLMIG_API unsigned int
libxlmig_cpu_policy_count(const struct policy_cpuid *p);
/* Space-separated names of the features set in p. */
LIBXLMIG_API char *libxlmig_cpu_policy_features(const struct policy_cpuid *p);
/*
 * Compact text form, like xen-cpuid: vendor, family/model/stepping, leaf
 * maxima, the featureset words, then one line per word with its names.
 */
LIBXLMIG_API char *libxlmig_cpu_policy_to_text(const struct policy_cpuid *p);
/*
 * The JSON object of p (the form libxlmig_cpu_policy_to_json returns as
 * text): "version", "name", "source", "vendor", "family", "model",
 * "stepping", "max_leaf", "max_ext_leaf", "features" and "words".
 */
LIBXLMIG_API int libxlmig_cpu_policy_gen_json(struct yajl_gen_t *g,
                                              const struct policy_cpuid *p);
/*
 * Parse that object (a yajl_tree value).  what names the input in
 * messages; on failure writes "WHAT: field FIELD: problem" into err and
 * returns false.
 */
LIBXLMIG_API bool libxlmig_cpu_policy_parse_json(struct yajl_val_s *obj,
                                                 const char *what,
                                                 struct policy_cpuid *p,
                                                 char *err, size_t errlen);
/*
 * Levelling: fold b into acc (the features and leaf maxima both have,
 * the lower family/model, the vendor if equal).  Start from a copy of the
 * first policy.
 */
LIBXLMIG_API void libxlmig_cpu_policy_intersect(struct policy_cpuid *acc,
                                                const struct policy_cpuid *b);
/*
 * The baseline with the most features among baselines[0..nr-1] that every
 * host of hosts[0..nr_hosts-1] can run; ties go to the earlier one.  Sets
 * sat[i] (if not NULL) for each baseline every host satisfies.  Returns
 * the index, or -1 if none fits.
 */
LIBXLMIG_API int libxlmig_baseline_highest(const struct policy_cpuid *baselines,
                                           size_t nr,
                                           const struct policy_cpuid *hosts,
                                           size_t nr_hosts, bool *sat);
/*
 * The xl.cfg cpuid= value masking a domain to target on hosts[0..nr-1]:
 * "host" then ",name=0" for every checked feature some host has and
 * target lacks (speculation controls levelled across the hosts instead).
 * With nr == 0, valid on any host.  Accepted by libxl_cpuid_parse_config.
 */
LIBXLMIG_API char *
libxlmig_cpu_policy_xlcfg_mask(const struct policy_cpuid *target,
                               const struct policy_cpuid *hosts, size_t nr);

/*
 * Bandwidth as people write it (core/units.c), one syntax for the config,
 * every option and the JSON requests: a number with an optional unit, a
 * bare number being Mbit/s; bit units decimal (bit, kbit, Mbit, Gbit,
 * Tbit, also "bps"/"Mbps"... and an optional "/s"), byte units binary
 * (B, KiB, MiB, GiB, TiB); "0" or "unlimited": no limit.  *bps_r in
 * bytes/s, 0 or LIBXLMIG_BANDWIDTH_MIN to _MAX.  0, or
 * LIBXLMIG_ERROR_INVAL with the reason in why (len bytes; may be NULL),
 * "bandwidth '12q': expected a number with an optional unit (...)".
 */
LIBXLMIG_API int libxlmig_bandwidth_parse(const char *s, uint64_t *bps_r,
                                          char *why, size_t len);
/*
 * bytes/s in the one unit reports print, Mbit/s ("800 Mbit/s", "12.5
 * Mbit/s"); 0 gives "unlimited" when limit is set.  Returns buf.
 */
LIBXLMIG_API const char *libxlmig_bandwidth_str(double bps, bool limit,
                                                char *buf, size_t len);

/*
 * Compression of the migration stream's data frames (net/compress.c,
 * docs/compression.md): off sends pages raw; auto picks per frame
 * whichever of none, lz4 and zstd (level 1) moves the frame soonest over
 * the measured link, from measured compressor speed and ratio; lz4 and
 * zstd always compress (a frame that does not shrink still goes raw).
 * Zero pages are never sent, whatever the mode.
 */
typedef enum libxlmig_compression {
    LIBXLMIG_COMPRESSION_OFF = 0,
    LIBXLMIG_COMPRESSION_AUTO,
    LIBXLMIG_COMPRESSION_LZ4,
    LIBXLMIG_COMPRESSION_ZSTD,
} libxlmig_compression;
#define LIBXLMIG_DEFAULT_COMPRESSION LIBXLMIG_COMPRESSION_AUTO
/* "off", "auto", "lz4", "zstd"; NULL if c is unknown. */
LIBXLMIG_API const char *libxlmig_compression_to_string(
    libxlmig_compression c);
/* 0, or LIBXLMIG_ERROR_INVAL if s is none of them. */
LIBXLMIG_API int libxlmig_compression_from_string(
    const char *s, libxlmig_compression *c_r);

/*
 * The cluster config (docs/xlmig.cfg.5.md): one file in xl.cfg syntax,
 * identical on every node.  Named defaults for the keys that may be left
 * out follow.
 */
#define LIBXLMIG_DEFAULT_CONFIG_FILE "/etc/xen/xlmig.cfg"
#define LIBXLMIG_DEFAULT_PORT 8002              /* TCP port of xlmigd */
#define LIBXLMIG_DEFAULT_MAX_OUTGOING 2         /* migrations per source */
#define LIBXLMIG_DEFAULT_MAX_INCOMING 2         /* migrations per target */
#define LIBXLMIG_DEFAULT_CONNECTIONS 1   /* a migration's per network */
#define LIBXLMIG_DEFAULT_CPU_BASELINE "host"    /* level to this node */
#define LIBXLMIG_DEFAULT_SIM_STORAGE_DIR "/var/lib/xlmig/sim-storage"

/*
 * The ranges of the numbers the cluster config takes (config.c refuses a
 * value outside them); the command line checks the options that set the
 * same things against them.
 */
#define LIBXLMIG_PORT_MIN 1
#define LIBXLMIG_PORT_MAX 65535
#define LIBXLMIG_DOWNTIME_MS_MIN 1              /* ms */
#define LIBXLMIG_DOWNTIME_MS_MAX 3600000        /* ms */
/* A bandwidth limit is 0 (unlimited) or within these (bytes/s): 1 Mbit/s
 * to 10 Tbit/s. */
#define LIBXLMIG_BANDWIDTH_MIN 125000ULL        /* bytes/s */
#define LIBXLMIG_BANDWIDTH_MAX 1250000000000ULL /* bytes/s */
#define LIBXLMIG_CONCURRENT_MIN 1               /* max_outgoing/_incoming */
#define LIBXLMIG_CONCURRENT_MAX 64
#define LIBXLMIG_CONNECTIONS_MIN 1              /* connections_per_network */
#define LIBXLMIG_CONNECTIONS_MAX 8

/* A migration network, in preference order. */
typedef struct libxlmig_cfg_network {
    char *name;              /* "mig0" */
    char *cidr;              /* "10.10.0.0/24", as written */
} libxlmig_cfg_network;

/* A node: its management address and one address per network. */
typedef struct libxlmig_cfg_node {
    char *name;              /* "node1" */
    char *mgmt;              /* management address (literal IP) */
    char **mig_addrs;        /* [i] is its address on networks[i] */
} libxlmig_cfg_node;

typedef struct libxlmig_cluster_config {
    char *file;              /* path it was read from */
    char *cluster;           /* cluster name */
    libxlmig_cfg_network *networks;
    int num_networks;
    libxlmig_cfg_node *nodes;
    int num_nodes;
    bool allow_public;       /* public networks after private ones */
    char *key_file;          /* shared cluster key; absolute path */
    uint16_t port;           /* TCP port of xlmigd on migration addrs */
    bool transport_plain;    /* transport = "plain": no TLS between nodes */
    /* Migration defaults (libxlmig_params_resolve applies them). */
    uint32_t downtime_limit_ms;    /* ms */
    uint64_t bandwidth_limit;      /* bytes/s per migration; 0 unlimited */
    libxlmig_compression compression;
    uint32_t max_outgoing;   /* concurrent migrations per source node */
    uint32_t max_incoming;   /* concurrent migrations per target node */
    /* connections a migration opens on each private network it uses */
    uint32_t connections_per_network;
    char *cpu_baseline;      /* named CPU baseline ("host", ...) */
    char *sim_storage_dir;   /* shared disk directory of the sim backend */
    char **warnings;         /* unknown keys etc., "FILE:LINE: ..." */
    int num_warnings;
} libxlmig_cluster_config;

LIBXLMIG_API void libxlmig_cluster_config_init(libxlmig_cluster_config *c);
LIBXLMIG_API void libxlmig_cluster_config_dispose(libxlmig_cluster_config *c);

/*
 * Read and check the cluster config at path (NULL: the default).  Every
 * error names the file, the line when known, and the key; unknown keys
 * are logged as warnings.  LIBXLMIG_ERROR_NOTFOUND if the file is
 * missing, LIBXLMIG_ERROR_CONFIG if it is wrong.  On failure c is left
 * initialised (empty).
 */
LIBXLMIG_API int libxlmig_cluster_config_load(libxlmig_ctx *ctx,
                                              const char *path,
                                              libxlmig_cluster_config *c);

/* Index of the node or network called name, or -1. */
LIBXLMIG_API int libxlmig_cluster_config_node(const libxlmig_cluster_config *c,
                                              const char *name);
LIBXLMIG_API int libxlmig_cluster_config_network(
    const libxlmig_cluster_config *c, const char *name);

/* Encode as a JSON object with "version".  Caller frees *json_r. */
LIBXLMIG_API int libxlmig_cluster_config_to_json(
    libxlmig_ctx *ctx, const libxlmig_cluster_config *c, char **json_r);

/*
 * This node's view of its cluster (cluster.c): the config, which node this
 * host is, and the state of each migration network here (struct
 * netcfg_status of libxlmig_netcfg.h: interface, link, gateway, class,
 * allowed).
 */
typedef struct libxlmig_cluster libxlmig_cluster;

/*
 * Load the config at path (NULL: the default) and find this node: the
 * one called node, or (node NULL) the one owning a local address.  Then
 * inspect and classify every migration network.  Config warnings are
 * logged at WARN.  Caller frees *cl_r with libxlmig_cluster_free.
 */
LIBXLMIG_API int libxlmig_cluster_open(libxlmig_ctx *ctx, const char *path,
                                       const char *node,
                                       libxlmig_cluster **cl_r);
LIBXLMIG_API void libxlmig_cluster_free(libxlmig_cluster *cl);
/* Inspect the networks again (links and routes may have changed). */
LIBXLMIG_API int libxlmig_cluster_refresh(libxlmig_ctx *ctx,
                                          libxlmig_cluster *cl);
LIBXLMIG_API const libxlmig_cluster_config *
libxlmig_cluster_cfg(const libxlmig_cluster *cl);
/* Index of this node in the config's nodes. */
LIBXLMIG_API int libxlmig_cluster_self(const libxlmig_cluster *cl);
/*
 * What protects connections to other nodes as configured here:
 * "unencrypted" (transport = plain), else "TLS 1.3 (kernel send)" when this
 * kernel takes TLS on a socket, or "TLS 1.3 (user space)".  A connection
 * made says what it got (libxlmig_net_probe_result.transport).
 */
LIBXLMIG_API const char *
libxlmig_cluster_transport_security(const libxlmig_cluster *cl);
/* One status per config network, in config order; owned by cl. */
LIBXLMIG_API const struct netcfg_status *
libxlmig_cluster_networks(const libxlmig_cluster *cl);

/*
 * The migration networks, below the cluster: addresses, the order of the
 * networks for reaching a peer, and sockets bound to a migration address
 * and its interface.  No context and nothing logged: failures return -1
 * with a message in *err (may be NULL where noted).
 */
/* Parse a literal IPv4/IPv6 address; 0 or -1 (message in err if set). */
LIBXLMIG_API int libxlmig_net_addr_parse(const char *s, netcfg_addr *a,
                                         netcfg_err *err);
/* Format a into buf (NETCFG_ADDRSTRLEN bytes); returns buf. */
LIBXLMIG_API const char *libxlmig_net_addr_str(const netcfg_addr *a,
                                               char *buf);
/* "private", "public" or "unknown". */
LIBXLMIG_API const char *libxlmig_net_class_str(netcfg_class c);
/*
 * The ways to reach a peer whose addresses are peer[i] (one per status
 * entry of st[0..nr-1], same order): allowed private networks first in
 * config order, then allowed public ones; networks not allowed, without
 * a local address or with the link down are left out.  Writes at most
 * max entries to out; returns how many.
 */
LIBXLMIG_API int libxlmig_net_candidates(const netcfg_status *st, int nr,
                                         const netcfg_addr *peer,
                                         netcfg_candidate *out, int max);
/*
 * Connect to port on the first candidate of c[0..nr-1] that answers, each
 * socket bound to the candidate's address and interface, each connect
 * bounded by timeout_ms; fills result/connect_ms of every one tried.  0
 * with a blocking connected socket in *fd_r (the caller closes it) and
 * the candidate's index in *used_r, or -1 with every attempt in *err.
 */
LIBXLMIG_API int libxlmig_net_connect(netcfg_candidate *c, int nr,
                                      uint16_t port, int timeout_ms,
                                      int *fd_r, int *used_r,
                                      netcfg_err *err);
/*
 * Listen on port on each allowed, present network of st[0..nr-1], bound
 * to its address and interface (never a wildcard address).  Writes up to
 * max descriptors to fds (the caller closes them); returns how many
 * (>= 1), or -1 with a message (none left open).
 */
LIBXLMIG_API int libxlmig_net_listen(const netcfg_status *st, int nr,
                                     uint16_t port, int *fds, int max,
                                     netcfg_err *err);

/*
 * Encode an error as {"version":1,"error":{"code":err,"name":...,
 * "message":...}}.  Caller frees *json_r.
 */
LIBXLMIG_API int libxlmig_error_to_json(libxlmig_ctx *ctx, int err,
                                        const char *message, char **json_r);

/*
 * The drain planner (drain.c): where each domain of a node in maintenance
 * goes, and in which order, so that the whole drain ends soonest.  Pure:
 * the caller gathers the facts (free memory, maintenance, CPU verdicts,
 * estimates) and performs the plan.
 */
#define LIBXLMIG_REASON_MAX 256

typedef struct libxlmig_drain_target {
    const char *name;              /* node name; not owned */
    uint64_t total_memory_kib;     /* KiB */
    uint64_t free_memory_kib;      /* KiB free now, before this plan */
    uint64_t inflight_kib;         /* KiB already promised to migrations
                                      in flight from elsewhere */
    bool in_maintenance;
    bool reachable;                /* its daemon answered the pre-flight */
} libxlmig_drain_target;

typedef struct libxlmig_drain_domain {
    const char *name;              /* not owned */
    uint64_t memory_kib;           /* KiB the target must provide */
    uint64_t estimate_ms;          /* predicted migration time, ms */
    /*
     * compat[t]: may the domain run on target t (CPU policy check)?
     * compat_reason[t] says why not (e.g. "missing avx512f"); not owned.
     */
    const bool *compat;
    const char *const *compat_reason;
} libxlmig_drain_domain;

typedef struct libxlmig_drain_step {
    int domain;                    /* index into the domains */
    int target;                    /* index into the targets; -1: none */
    uint64_t start_ms;             /* planned start after drain start */
    uint64_t end_ms;               /* planned end */
    char reason[LIBXLMIG_REASON_MAX]; /* why no target, when target < 0 */
} libxlmig_drain_step;

typedef struct libxlmig_drain_plan {
    int nr_steps;                  /* one per domain */
    libxlmig_drain_step *steps;    /* in start order; unplaced ones last */
    int nr_unplaced;
    uint64_t makespan_ms;          /* planned end of the last migration */
} libxlmig_drain_plan;

LIBXLMIG_API void libxlmig_drain_plan_init(libxlmig_drain_plan *p);
LIBXLMIG_API void libxlmig_drain_plan_dispose(libxlmig_drain_plan *p);
/*
 * Plan a drain with at most per_source migrations at once from the node
 * and per_target at once into any one target.  Longest migrations start
 * first; each goes to the compatible, reachable target outside maintenance
 * with room for it that is least loaded (by the share of memory in use,
 * counting this plan's earlier placements and in-flight migrations).
 */
LIBXLMIG_API int libxlmig_drain_plan_make(libxlmig_ctx *ctx,
                                          const libxlmig_drain_target *t,
                                          int nr_targets,
                                          const libxlmig_drain_domain *d,
                                          int nr_domains,
                                          unsigned per_source,
                                          unsigned per_target,
                                          libxlmig_drain_plan *plan);
/* ---- Migration: parameters, state, stats (params.c, stats.c) ---- */

/* Named defaults of the migration parameters. */
#define LIBXLMIG_DEFAULT_DOWNTIME_MS       100   /* ms */
#define LIBXLMIG_DEFAULT_MAX_ROUNDS        30    /* rounds */
#define LIBXLMIG_DEFAULT_MAX_TIME_MS       600000 /* ms */
#define LIBXLMIG_DEFAULT_THROTTLE_INITIAL  20    /* % of guest time */
#define LIBXLMIG_DEFAULT_THROTTLE_STEP     10    /* % */
#define LIBXLMIG_DEFAULT_THROTTLE_MAX      99    /* % */
#define LIBXLMIG_DEFAULT_BANDWIDTH_LIMIT   0     /* bytes/s, 0: none */
/* The round limit's range (the downtime limit's is the config's,
 * LIBXLMIG_DOWNTIME_MS_MIN to _MAX). */
#define LIBXLMIG_MAX_ROUNDS_MIN            1     /* rounds */
#define LIBXLMIG_MAX_ROUNDS_MAX            1000  /* rounds */

/* What to do when pre-copy hits the round or time limit. */
typedef enum libxlmig_limit_action {
    LIBXLMIG_LIMIT_FORCE = 0,   /* stop and copy anyway (Xen's choice) */
    LIBXLMIG_LIMIT_ABORT = 1,   /* give up; the source keeps running */
} libxlmig_limit_action;

/* Which members of libxlmig_params a caller set (libxlmig_params.given):
 * those win over the config's defaults (libxlmig_params_resolve). */
#define LIBXLMIG_PARAM_DOWNTIME     (1u << 0)
#define LIBXLMIG_PARAM_BANDWIDTH    (1u << 1)
#define LIBXLMIG_PARAM_COMPRESSION  (1u << 2)
#define LIBXLMIG_PARAM_ALL          (LIBXLMIG_PARAM_DOWNTIME | \
                                     LIBXLMIG_PARAM_BANDWIDTH | \
                                     LIBXLMIG_PARAM_COMPRESSION)

typedef struct libxlmig_params {
    uint64_t downtime_limit_ms;    /* ms */
    uint32_t max_rounds;           /* pre-copy rounds */
    uint64_t max_time_ms;          /* pre-copy time (ms) */
    libxlmig_limit_action on_limit;
    bool auto_converge;            /* throttle when rounds stop shrinking */
    uint32_t throttle_initial_pct; /* % */
    uint32_t throttle_step_pct;    /* % */
    uint32_t throttle_max_pct;     /* % */
    uint64_t bandwidth_limit;      /* bytes/s; 0: unlimited */
    libxlmig_compression compression; /* the compression block above */
    unsigned given;                /* LIBXLMIG_PARAM_*: set by the caller */
} libxlmig_params;

/* Fill p with the named defaults, nothing given. */
LIBXLMIG_API void libxlmig_params_init(libxlmig_params *p);
LIBXLMIG_API const char *libxlmig_limit_action_to_string(
    libxlmig_limit_action a);
LIBXLMIG_API int libxlmig_limit_action_from_string(
    const char *s, libxlmig_limit_action *a_r);

/*
 * The parameters a migration runs with (cluster/config.c), decided in
 * this one place for every way one starts (migrate-cluster, balance,
 * drains, jobs of other nodes, integration, the control socket): the
 * named defaults, then the
 * config's migration defaults (downtime_limit_ms, bandwidth_limit,
 * compression; c NULL: none), then what given sets (given->given says
 * which; given NULL: nothing).  The result has every LIBXLMIG_PARAM_*
 * bit set, so resolving it again changes nothing.
 */
LIBXLMIG_API void libxlmig_params_resolve(const libxlmig_cluster_config *c,
                                          const libxlmig_params *given,
                                          libxlmig_params *p_r);

/* The migration job's state; one writer (the engine). */
typedef enum libxlmig_state {
    LIBXLMIG_STATE_SETUP = 0,
    LIBXLMIG_STATE_PRECOPY,
    LIBXLMIG_STATE_STOP_AND_COPY,
    LIBXLMIG_STATE_HANDOFF,
    LIBXLMIG_STATE_DONE,
    LIBXLMIG_STATE_ABORTED,
} libxlmig_state;

LIBXLMIG_API const char *libxlmig_state_to_string(libxlmig_state s);

/* Progress and final statistics, as QEMU's query-migrate. */
typedef struct libxlmig_stats {
    libxlmig_state state;
    uint32_t round;               /* current round (0: the full copy) */
    uint64_t nr_pages;            /* guest RAM (pages of 4 KiB) */
    uint64_t total_time_ms;       /* setup start to end (ms) */
    uint64_t setup_time_ms;       /* until the first page is sent (ms) */
    uint64_t downtime_us;         /* guest paused to end record (us);
                                   * of a migration between nodes, until
                                   * it ran on the target */
    uint64_t precopy_bytes;       /* sent while the guest ran (bytes) */
    uint64_t downtime_bytes;      /* sent while paused (bytes) */
    uint64_t total_bytes;         /* all stream bytes (bytes) */
    uint64_t normal_pages;        /* pages sent with data (pages) */
    uint64_t zero_pages;          /* pages sent as zero flags (pages) */
    uint64_t round_pages;         /* pages sent in the last round (pages) */
    uint64_t remaining_bytes;     /* dirty, still to send (bytes) */
    uint64_t dirty_rate;          /* last measured (pages/s) */
    uint64_t bandwidth;           /* last measured (bytes/s) */
    uint64_t expected_downtime_ms;/* remaining / bandwidth (ms) */
    uint64_t throughput;          /* total_bytes / transfer time (bytes/s) */
    uint32_t throttle_pct;        /* current throttle (%) */
    uint32_t throttle_max_pct;    /* highest throttle reached (%) */
    uint64_t by_ref_bytes;        /* page data sent by reference (bytes) */
} libxlmig_stats;

/* Called after each round and at the end; st is valid for the call. */
typedef void (*libxlmig_progress_cb)(void *user, const libxlmig_stats *st);

/* One line of JSON {"version":1,...}.  Caller frees *json_r. */
LIBXLMIG_API int libxlmig_stats_to_json(libxlmig_ctx *ctx,
                                        const libxlmig_stats *st,
                                        char **json_r);

/* ---- Domain operations (backend ops) ---------------------------- */
LIBXLMIG_API int libxlmig_domain_pause(libxlmig_ctx *ctx, const char *name);
LIBXLMIG_API int libxlmig_domain_unpause(libxlmig_ctx *ctx,
                                         const char *name);
LIBXLMIG_API int libxlmig_domain_destroy(libxlmig_ctx *ctx,
                                         const char *name);

#define LIBXLMIG_SAVE_LIVE       (1u << 0)  /* pre-copy while running */
#define LIBXLMIG_SAVE_CHECKPOINT (1u << 1)  /* leave the domain running */
/*
 * Save domain name into fd (any fd: file, pipe, socket).  Without
 * CHECKPOINT the domain is destroyed after a successful save, as xl save
 * does.  On failure the domain keeps running.  params NULL: defaults.
 */
LIBXLMIG_API int libxlmig_domain_save(libxlmig_ctx *ctx, const char *name,
                                      int fd, unsigned flags,
                                      const libxlmig_params *params,
                                      libxlmig_progress_cb cb, void *user,
                                      libxlmig_stats *st);
/*
 * Restore a domain from fd.  new_name NULL: the saved name.  paused: leave
 * it paused.  On failure the partial domain is destroyed.  *name_r (may
 * be NULL) gets the domain's name, malloc'd.
 */
LIBXLMIG_API int libxlmig_domain_restore(libxlmig_ctx *ctx, int fd,
                                         const char *new_name, bool paused,
                                         libxlmig_progress_cb cb, void *user,
                                         libxlmig_stats *st, char **name_r);

/* ---- The simulated hypervisor ----------------------------------- */
/* What a sim guest writes into its pages (docs/sim.md).  random: data no
 * compressor shrinks; mixed: zero, text, records, code and random pages
 * in the shares measured on Linux memory.  DEFAULT: mixed. */
typedef enum libxlmig_sim_content {
    LIBXLMIG_SIM_CONTENT_DEFAULT = 0,
    LIBXLMIG_SIM_CONTENT_RANDOM = 1,
    LIBXLMIG_SIM_CONTENT_MIXED = 2,
} libxlmig_sim_content;
/* "random", "mixed" ("default" for DEFAULT); from_string takes "random"
 * and "mixed" only, else INVAL. */
LIBXLMIG_API const char *libxlmig_sim_content_to_string(
    libxlmig_sim_content c);
LIBXLMIG_API int libxlmig_sim_content_from_string(
    const char *s, libxlmig_sim_content *c_r);

typedef struct libxlmig_sim_params {
    const char *name;
    uint64_t memory_mib;       /* MiB */
    uint64_t dirty_rate;       /* pages/s */
    uint64_t working_set_mib;  /* MiB; 0: all of RAM */
    double zero_fraction;      /* 0..1 of pages initially zero */
    uint32_t hot_pct;          /* 0: uniform; else % of writes to 10% */
    const char *ip;            /* IPv4 on the public network, or NULL */
    const char *mac;           /* MAC, or NULL: generated */
    libxlmig_sim_content content; /* of its pages */
} libxlmig_sim_params;

LIBXLMIG_API int libxlmig_sim_create(libxlmig_ctx *ctx,
                                     const libxlmig_sim_params *p);
/* Check every page; *bad_r pages differ (0: memory intact). */
LIBXLMIG_API int libxlmig_sim_verify(libxlmig_ctx *ctx, const char *name,
                                     uint64_t *bad_r, uint64_t *first_bad_r);
/* The unix socket of xlmigd: $XLMIGD_SOCKET or the default. */
#define LIBXLMIG_SIM_SOCKET_DEFAULT "/run/xlmig/xlmigd.sock"

/*
 * Live-migrate domain to the cluster node target through this node's
 * xlmigd (migrate.c): pre-flight, stream over the private migration
 * networks, handoff.  p: the parameters (NULL: none given); xlmigd fills
 * in what p->given leaves out from its config (libxlmig_params_resolve),
 * and the report's "params" says what the migration ran with.  dry_run:
 * pre-flight only.  Progress goes to cb.
 * *report_r (may be NULL; caller frees) is the JSON report, also on
 * failure.  Returns 0 when the domain runs on target; on failure it runs
 * here, except LIBXLMIG_ERROR_AMBIGUOUS (see libxlmig_migrate_recover).
 */
LIBXLMIG_API int libxlmig_migrate_cluster(libxlmig_ctx *ctx,
                                          const char *domain,
                                          const char *target,
                                          const libxlmig_params *p,
                                          bool dry_run,
                                          libxlmig_progress_cb cb,
                                          void *user, char **report_r);
/*
 * The same, recording the caller's prediction beside the result (a drain
 * plans with its own estimates) instead of taking a new one; NULL:
 * predict as libxlmig_migrate_cluster does.
 */
struct libxlmig_estimate;
LIBXLMIG_API int libxlmig_migrate_cluster_predicted(
    libxlmig_ctx *ctx, const char *domain, const char *target,
    const libxlmig_params *p, const struct libxlmig_estimate *prediction,
    bool dry_run, libxlmig_progress_cb cb, void *user, char **report_r);
/*
 * Whether name is one of the two copies of a domain in a handoff,
 * NAME--incoming (target) or NAME--migratedaway (source): not a domain of
 * its own to list, move or balance.
 */
LIBXLMIG_API bool libxlmig_handoff_copy(const char *name);
/* The engine statistics of a migration report. */
LIBXLMIG_API int libxlmig_migration_report_stats(libxlmig_ctx *ctx,
                                                 const char *report,
                                                 libxlmig_stats *st);
/* Cancel the running migration of domain; it keeps running here. */
LIBXLMIG_API int libxlmig_migrate_cancel(libxlmig_ctx *ctx,
                                         const char *domain);
/*
 * Settle a handoff left ambiguous (both copies paused): ask the target
 * again and destroy or resume the copy here.  Caller frees *report_r.
 */
LIBXLMIG_API int libxlmig_migrate_recover(libxlmig_ctx *ctx,
                                          const char *domain,
                                          char **report_r);

/* How xlmigd runs (libxlmig_daemon_run). */
typedef struct libxlmig_daemon_opts {
    const char *socket;        /* control socket; NULL: the default */
    const char *config;        /* cluster config; NULL: no node service */
    const char *node;          /* this node's name; NULL: by address */
    uint64_t memory_mib;       /* sim: memory for domains; 0: the host's */
    const char *cpu_policy;    /* sim: baseline name or policy file this
                                  node's CPU pretends to be; NULL: real */
    const char *public_if;     /* interface for announcements, or NULL */
    const char *backend;       /* "sim" (also NULL) or "xen" */
    const char *metrics_file;  /* Prometheus textfile; NULL: the default
                                  when its directory exists; "": none */
} libxlmig_daemon_opts;

/* Where xlmigd writes its metrics by default: node_exporter's textfile
 * collector directory of Debian's prometheus-node-exporter. */
#define LIBXLMIG_DEFAULT_METRICS_FILE \
    "/var/lib/prometheus/node-exporter/xlmig.prom"

/*
 * Tell this node's xlmigd that a drain of this node ended, for its
 * metrics: result "all_moved", "some_left" or "interrupted".
 */
LIBXLMIG_API int libxlmig_drain_done(libxlmig_ctx *ctx, const char *result);

/*
 * Run the node daemon until SIGTERM/SIGINT: the control socket and, with
 * a cluster config, the node service on the migration networks.
 */
LIBXLMIG_API int libxlmig_daemon_run(libxlmig_ctx *ctx,
                                     const libxlmig_daemon_opts *o);
/*
 * xlmigd's control socket: $XLMIGD_SOCKET, else
 * LIBXLMIG_SIM_SOCKET_DEFAULT.  Static or environment storage; do not free.
 */
LIBXLMIG_API const char *libxlmig_sim_socket_path(void);

/* ---- Cluster operations (ops.c) ---------------------------------- */

/* Where node state lives: $XLMIG_STATE_DIR, else /var/lib/xlmig. */
#define LIBXLMIG_DEFAULT_STATE_DIR "/var/lib/xlmig"
LIBXLMIG_API const char *libxlmig_state_dir(void);

/*
 * Maintenance mode of node (NULL or this node's name: this node, read or
 * written under the state directory; else asked of node's xlmigd over an
 * authenticated migration network, which needs cl).  A node in
 * maintenance takes no migrations and no placements.
 */
LIBXLMIG_API int libxlmig_maintenance_get(libxlmig_ctx *ctx,
                                          libxlmig_cluster *cl,
                                          const char *node, bool *on_r);
LIBXLMIG_API int libxlmig_maintenance_set(libxlmig_ctx *ctx,
                                          libxlmig_cluster *cl,
                                          const char *node, bool on);

/*
 * node_info of node's xlmigd as JSON text (caller frees *json_r): over
 * migration network net (its index in the config), or over the first
 * that answers when net < 0.  *network_r (may be NULL; caller frees)
 * names the network used.  Fails (logged) when node is unreachable or
 * cannot prove membership.
 */
LIBXLMIG_API int libxlmig_node_query(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                                     const char *node, int net,
                                     char **json_r, char **network_r);

/*
 * The storage and bridge checks across the cluster (`xlmig validate`):
 * every node's xlmigd is asked what each of its domains needs of a target
 * (its disks, each with the identifier of its storage, and its vifs'
 * bridges), and every other node whether it has them: fn(user, domain,
 * source, target, "disk" or "bridge", ok, detail) for each, and "reach"
 * when a node cannot be asked.  Nodes that do not answer at all are
 * skipped (validate reports them).  Returns the number of failed checks,
 * or an error.
 */
typedef void (*libxlmig_needs_cb)(void *user, const char *domain,
                                  const char *source, const char *target,
                                  const char *check, bool ok,
                                  const char *detail);
LIBXLMIG_API int libxlmig_validate_needs(libxlmig_ctx *ctx,
                                         libxlmig_cluster *cl,
                                         libxlmig_needs_cb fn, void *user);

/*
 * Past migrations of this node (`xlmig history`; docs/xlmigd.md,
 * "History"): xlmigd records each one that ends, sent or received, in
 * STATE_DIR/history, and keeps the last LIBXLMIG_HISTORY_MAX.
 * _list: {"version":1,"migrations":[...]}, newest first, at most max (0:
 * all), only domain's (NULL: all); each with id, time_ms (when it began,
 * ms since the epoch), direction ("out", "in"), domain, source, target,
 * outcome, error, duration_ms, downtime_ms, bytes, queued_ms and
 * prediction_error_pct where known.  _get: one record with the
 * migration's whole report ("report"), by its id or a prefix only it
 * has.  Caller frees *json_r.
 */
#define LIBXLMIG_HISTORY_MAX 1000
LIBXLMIG_API int libxlmig_history_list(libxlmig_ctx *ctx, const char *domain,
                                       unsigned max, char **json_r);
LIBXLMIG_API int libxlmig_history_get(libxlmig_ctx *ctx, const char *id,
                                      char **json_r);

/*
 * What runs on a node, as `xlmig status` shows it (docs/xlmigd.md,
 * "Status"), as JSON text (caller frees *json_r): the migrations it sends
 * (phase, round, bytes, rate, dirty rate, ETA, network; the queued ones
 * with their place), those it receives, its drain and jobs, maintenance
 * and the config's limits.  node NULL or this node's name: this node's
 * xlmigd over the control socket; another node: its xlmigd over an
 * authenticated migration network, which needs cl.
 */
LIBXLMIG_API int libxlmig_status_get(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                                     const char *node, char **json_r);

/*
 * Jobs on another node (docs/drain.md, "From another node").  node's
 * xlmigd runs the drain of that node (kind "drain": dry_run, cron; as
 * libxlmig_drain_run there) or the migration of one of its domains to
 * target (kind "migrate": dry_run; as libxlmig_migrate_cluster there),
 * with params (NULL: none given; node's config decides what params.given
 * leaves out, libxlmig_params_resolve).  The job belongs to node: it goes on when the caller ends.
 * *job_r: its id (caller frees).  LIBXLMIG_ERROR_BUSY when a drain of
 * node runs already.
 */
LIBXLMIG_API int libxlmig_job_start(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                                    const char *node, const char *kind,
                                    const libxlmig_params *params,
                                    bool dry_run, bool cron,
                                    const char *domain, const char *target,
                                    char **job_r);
/*
 * A job's state as JSON text (caller frees *json_r): "running";
 * "events", the job's events from events_offset on, each one line of
 * JSON text with a "type" (at most 64 KiB in all): "drain" (a
 * libxlmig_drain_event, libxlmig_drain_event_from_json), "progress"
 * ({"stats": ...} of a migration) or "error" ({"message", "code"} and,
 * for a migration, "domain_here": whether it still runs on node), and
 * "events_offset" to ask from next; once it ended "exit_status" (or
 * "signal") and its "report" (JSON text: the drain's or the
 * migration's).  A drain exits with its libxlmig_drain_result, a
 * migration with 0, 1 (failed) or 3 (LIBXLMIG_ERROR_AMBIGUOUS).
 */
LIBXLMIG_API int libxlmig_job_status(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                                     const char *node, const char *job,
                                     uint64_t events_offset, char **json_r);
/* Stop a job: a drain is cancelled (migrations in flight finish), a
 * migration is cancelled. */
LIBXLMIG_API int libxlmig_job_stop(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                                   const char *node, const char *job);

/*
 * Raw throughput to node over the paths a migration there would open
 * (every allowed private network that reaches it, the configured
 * connections on each), all at once, bytes in all shared out among
 * them: authenticated connections as the stream's.  *bps_r in bytes/s,
 * the paths' sum; *network_r (may be NULL; free it): their networks,
 * "mig0, mig1".
 */
LIBXLMIG_API int libxlmig_bandwidth_probe(libxlmig_ctx *ctx,
                                          libxlmig_cluster *cl,
                                          const char *node, uint64_t bytes,
                                          double *bps_r, char **network_r);

/* What a probe of one node over one migration network measured. */
typedef struct libxlmig_net_probe_result {
    bool connected;               /* the TCP connection was made */
    bool reachable;               /* and the node proved membership */
    double connect_ms;            /* TCP connect, or the time it tried (ms) */
    double rtt_ms;                /* median request round trip (ms) */
    uint64_t probe_bytes;         /* bytes the node read (bytes) */
    double throughput;            /* of those (bytes/s); 0: not measured */
    char error[256];              /* what failed, or "" */
    char transport[48];           /* "TLS 1.3 (user space)", ..., or "" */
} libxlmig_net_probe_result;

#define LIBXLMIG_NET_PROBE_PINGS 5   /* round trips timed per probe */

/*
 * Probe node's xlmigd over migration network net (its index in the
 * config) and no other, as `xlmig net check` does: connect within
 * connect_timeout_ms, authenticate both ways with the cluster key, time
 * LIBXLMIG_NET_PROBE_PINGS requests, then send up to probe_bytes (0:
 * none; at most 1 GiB) into its sink, for probe_max_ms at most (0: no
 * limit).  0 once node answered, even if the throughput probe failed
 * (r->error says so); otherwise an error, logged, with r->error saying
 * briefly what failed ("Connection refused", ...).
 */
LIBXLMIG_API int libxlmig_net_probe(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                                    const char *node, int net,
                                    unsigned connect_timeout_ms,
                                    uint64_t probe_bytes,
                                    unsigned probe_max_ms,
                                    libxlmig_net_probe_result *r);

/*
 * What a domain's memory holds, from LIBXLMIG_CONTENT_SAMPLE_RUNS runs of
 * LIBXLMIG_CONTENT_SAMPLE_RUN pages spread evenly over it, read while
 * the dirty sample runs: the pages its migration stream would carry
 * (the sim stream leaves zero pages out; Xen's carries every page), and
 * what lz4 and zstd (the levels the stream uses, over frames of up to
 * one run) make of them on the sampling host.  pages 0: not sampled (a
 * backend that cannot read the domain's memory, e.g. a Xen PV guest).
 */
#define LIBXLMIG_CONTENT_SAMPLE_RUNS 32
#define LIBXLMIG_CONTENT_SAMPLE_RUN  64       /* pages: 256 KiB */
typedef struct libxlmig_content_sample {
    uint32_t pages;               /* pages read */
    uint32_t skipped;             /* of them zero pages the stream omits */
    uint64_t data_bytes;          /* bytes of the others */
    uint64_t lz4_bytes;           /* those bytes after lz4 (a frame that
                                   * does not shrink counts raw) */
    uint64_t zstd_bytes;          /* ... after zstd */
    uint64_t lz4_ns, zstd_ns;     /* CPU time compressing them (ns) */
} libxlmig_content_sample;

/*
 * A sample of a running domain.  Its dirty log: the distinct pages it
 * wrote from the start of the sample until each of the sample points
 * (sim: the kernel's write-protect dirty tracking; Xen: log-dirty mode).
 * Its content, as above.
 */
#define LIBXLMIG_DIRTY_SAMPLE_POINTS 3
typedef struct libxlmig_dirty_sample {
    uint64_t nr_pages;            /* guest RAM (pages of 4 KiB) */
    uint32_t nr_points;
    uint64_t ms[LIBXLMIG_DIRTY_SAMPLE_POINTS];    /* ms since start */
    uint64_t pages[LIBXLMIG_DIRTY_SAMPLE_POINTS]; /* distinct pages */
    libxlmig_content_sample content;
} libxlmig_dirty_sample;

#define LIBXLMIG_DEFAULT_SAMPLE_MS 2000   /* ms */
/* Sample domain's writes for ms milliseconds (points at ms/4, /2, 1). */
LIBXLMIG_API int libxlmig_dirty_sample_take(libxlmig_ctx *ctx,
                                            const char *domain, unsigned ms,
                                            libxlmig_dirty_sample *s);

/* A predicted migration. */
typedef struct libxlmig_estimate {
    double dirty_rate;            /* fitted write rate (pages/s) */
    uint64_t working_set_pages;   /* fitted span it writes (pages) */
    double bandwidth;             /* assumed (bytes/s) */
    uint64_t total_ms;            /* predicted total time (ms) */
    uint64_t downtime_ms;         /* predicted downtime (ms) */
    uint32_t rounds;              /* pre-copy rounds after the full copy */
    uint64_t bytes;               /* predicted stream bytes */
    uint32_t throttle_pct;        /* highest throttle predicted (%) */
    bool converges;               /* false: the policy would abort */
    /* From the content sample (when there is one): */
    double memory_rate;           /* bytes of guest memory moved per
                                   * second, pages the stream carries */
    double skipped_share;         /* share of the first copy's pages the
                                   * stream omits (zero pages) */
    libxlmig_compression compression; /* what the frames would mostly
                                   * go as: OFF (raw), LZ4 or ZSTD */
} libxlmig_estimate;

/*
 * Predict a migration from the domain's size and dirty sample and the
 * bandwidth (bytes/s): run the pre-copy policy the engine uses (same
 * parameters p, NULL: defaults) over simulated rounds in which the
 * guest dirties pages as the sample's fitted model says.  With a content
 * sample, the first copy leaves out the pages the stream omits, and
 * p's compression is weighed as the stream does (compressing time plus
 * compressed bytes over the bandwidth, per frame; auto takes the best of
 * raw, lz4 and zstd); the pages dirtied later are taken to be like the
 * sample's data pages.  Without one, every page goes raw.
 */
LIBXLMIG_API int libxlmig_estimate_compute(libxlmig_ctx *ctx,
                                           const libxlmig_params *p,
                                           const libxlmig_dirty_sample *s,
                                           double bandwidth,
                                           libxlmig_estimate *e);
/* The estimate as a JSON object with "version".  Caller frees. */
LIBXLMIG_API int libxlmig_estimate_to_json(libxlmig_ctx *ctx,
                                           const libxlmig_estimate *e,
                                           char **json_r);

/* ---- The drain (drain_run.c) ---------------------------------------- */

/*
 * How a drain ended.  The values are the exit statuses of `xlmig drain`
 * (docs/drain.md); a drain run as a job of xlmigd exits with them too.
 */
typedef enum libxlmig_drain_result {
    LIBXLMIG_DRAIN_ALL_MOVED = 0,    /* every domain moved (dry run: can) */
    LIBXLMIG_DRAIN_SOME_LEFT = 1,    /* some could not move: they run here */
    LIBXLMIG_DRAIN_NOT_STARTED = 3,  /* lock held, no daemon, no plan */
    LIBXLMIG_DRAIN_INTERRUPTED = 4,  /* cancelled: run it again to continue */
} libxlmig_drain_result;

/* What a drain reports, in the order it happens. */
typedef enum libxlmig_drain_event_kind {
    LIBXLMIG_DRAIN_EV_MAINTENANCE = 0, /* node entered maintenance mode */
    LIBXLMIG_DRAIN_EV_SETTLING,     /* domain: settling an earlier handoff */
    LIBXLMIG_DRAIN_EV_CONTINUING,   /* count: moved by an interrupted run */
    LIBXLMIG_DRAIN_EV_UNREACHABLE,  /* target: no answer; message: why */
    LIBXLMIG_DRAIN_EV_PLAN,         /* count steps, limits, bandwidth,
                                       planned_ms: the plan begins */
    LIBXLMIG_DRAIN_EV_PLAN_STEP,    /* domain, memory_kib, target and
                                       start_ms with estimate, or no
                                       target and message: why */
    LIBXLMIG_DRAIN_EV_PLAN_END,     /* planned_ms: the plan ends */
    LIBXLMIG_DRAIN_EV_STARTED,      /* domain -> target: migration began */
    LIBXLMIG_DRAIN_EV_RETRYING,     /* domain -> target failed (message),
                                       runs here; trying again */
    LIBXLMIG_DRAIN_EV_MIGRATED,     /* domain -> target: stats, estimate */
    LIBXLMIG_DRAIN_EV_FAILED,       /* domain -> target failed: message;
                                       ambiguous: it runs on neither node
                                       until `xlmig recover`, else here */
    LIBXLMIG_DRAIN_EV_UNPLACED,     /* domain has no target: message */
    LIBXLMIG_DRAIN_EV_ERROR,        /* message: a failure the drain goes
                                       on after (a report not written) */
    LIBXLMIG_DRAIN_EV_DONE,         /* result (message: its text), moved,
                                       left, duration_ms */
} libxlmig_drain_event_kind;

/* "migrated", ... (the JSON form's "event"); NULL if k is unknown. */
LIBXLMIG_API const char *libxlmig_drain_event_kind_to_string(
    libxlmig_drain_event_kind k);

#define LIBXLMIG_DRAIN_NAME_MAX 64       /* bytes of a name, with NUL */
#define LIBXLMIG_DRAIN_MESSAGE_MAX 512   /* bytes of a message, with NUL */

/* One event; which fields are set depends on kind (see above). */
typedef struct libxlmig_drain_event {
    libxlmig_drain_event_kind kind;
    char node[LIBXLMIG_DRAIN_NAME_MAX];    /* the node drained */
    char domain[LIBXLMIG_DRAIN_NAME_MAX];  /* or "" */
    char target[LIBXLMIG_DRAIN_NAME_MAX];  /* or "" */
    char message[LIBXLMIG_DRAIN_MESSAGE_MAX]; /* or "" */
    uint64_t memory_kib;          /* KiB of the domain */
    uint64_t start_ms;            /* planned start after the drain's (ms) */
    uint64_t planned_ms;          /* planned end of the whole drain (ms) */
    uint64_t duration_ms;         /* the whole drain so far (ms) */
    unsigned per_source;          /* migrations at once from the node */
    unsigned per_target;          /* migrations at once into one target */
    double bandwidth;             /* raw, to the slowest target (bytes/s) */
    int count;                    /* PLAN: steps; CONTINUING: domains */
    int moved, left;              /* DONE: domains */
    bool ambiguous;               /* FAILED: both copies paused */
    libxlmig_drain_result result; /* DONE */
    bool have_estimate;
    libxlmig_estimate estimate;   /* the plan's prediction */
    bool have_stats;
    libxlmig_stats stats;         /* MIGRATED: the engine's figures */
} libxlmig_drain_event;

/*
 * Called for each event, one call at a time (possibly from the drain's
 * worker threads); ev is valid for the call only.
 */
typedef void (*libxlmig_drain_event_cb)(void *user,
                                        const libxlmig_drain_event *ev);

/* How to drain this node. */
typedef struct libxlmig_drain_opts {
    libxlmig_params params;       /* for each migration; the config fills
                                     in what params.given leaves out
                                     (libxlmig_params_resolve) */
    bool dry_run;                 /* plan only: no lock, no maintenance */
    bool cron;                    /* syslog lines (facility daemon), and
                                     the report by default in
                                     STATE_DIR/drain-report.json */
    const char *report_file;      /* JSON report here too, or NULL */
    libxlmig_drain_event_cb event_cb; /* may be NULL */
    void *user;
} libxlmig_drain_opts;

/* Defaults: libxlmig_params_init, no dry run, no cron, no report file. */
LIBXLMIG_API void libxlmig_drain_opts_init(libxlmig_drain_opts *o);

/*
 * A drain of this node (docs/drain.md): enter maintenance, settle
 * handoffs an earlier drain left, continue an interrupted one from its
 * progress file, gather every node's facts, estimate and plan, then
 * migrate through this node's xlmigd, at most max_outgoing at once and
 * max_incoming into any target, retrying transient failures.  A lock in
 * the state directory keeps two drains of a node apart.
 *
 * Lifecycle: libxlmig_drain_alloc (ctx with a backend opened, and cl,
 * outlive the drain; o is copied), libxlmig_drain_run once, then
 * libxlmig_drain_free.  libxlmig_drain_cancel may be called from any
 * other thread (one waiting for SIGTERM with sigwait, say; not from a
 * signal handler) at any time between alloc and free.
 */
typedef struct libxlmig_drain libxlmig_drain;

LIBXLMIG_API int libxlmig_drain_alloc(libxlmig_ctx *ctx, libxlmig_cluster *cl,
                                      const libxlmig_drain_opts *o,
                                      libxlmig_drain **d_r);
/*
 * Run the drain to its end.  0 when it ran, with *result_r ALL_MOVED,
 * SOME_LEFT or INTERRUPTED and *report_r (may be NULL; caller frees) its
 * JSON report; an error (logged) when it could not start, with
 * *result_r NOT_STARTED and no report.
 */
LIBXLMIG_API int libxlmig_drain_run(libxlmig_drain *d,
                                    libxlmig_drain_result *result_r,
                                    char **report_r);
/*
 * Stop the drain: no new migration starts and none is retried; those in
 * flight finish.  The progress file is kept for the next run.
 */
LIBXLMIG_API void libxlmig_drain_cancel(libxlmig_drain *d);
LIBXLMIG_API void libxlmig_drain_free(libxlmig_drain *d);

/*
 * An event as one line of JSON, {"version":1,"type":"drain","event":...}
 * (caller frees *json_r), and back: a job of another node hands its
 * drain's events over this way.
 */
LIBXLMIG_API int libxlmig_drain_event_to_json(libxlmig_ctx *ctx,
                                              const libxlmig_drain_event *ev,
                                              char **json_r);
LIBXLMIG_API int libxlmig_drain_event_from_json(libxlmig_ctx *ctx,
                                                const char *json,
                                                libxlmig_drain_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* LIBXLMIG_H */
