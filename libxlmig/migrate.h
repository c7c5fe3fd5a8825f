/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Live migration between nodes (migrate.c: the source's job; node.c: the
 * node service that answers peers and receives migrations).  Both run in
 * the node daemon and reach the local hypervisor through
 * libxlmig__local_host, which each backend implements in-process (sim:
 * the daemon's domain table; xen: libxl).
 */
#ifndef LIBXLMIG_MIGRATE_H
#define LIBXLMIG_MIGRATE_H

#include "libxlmig_mig.h"
#include "peer.h"

struct policy_cpuid;

/* What the source knows of the domain it sends. */
typedef struct libxlmig__dom_facts {
    uint64_t memory_kib;         /* KiB the target must provide */
    char *config_json;           /* the domain config record (malloc'd) */
    char *storage;               /* shared storage path it needs, or NULL */
    char *mac, *ip;              /* for the announcement (malloc'd) */
} libxlmig__dom_facts;

_hidden void libxlmig__dom_facts_init(libxlmig__dom_facts *f);
_hidden void libxlmig__dom_facts_dispose(libxlmig__dom_facts *f);

/*
 * The local hypervisor as the migration job needs it.  Each call is
 * synchronous; names are domain names.  A domain being migrated is
 * reserved: no other request may use it until resume or destroy.
 */
typedef struct libxlmig__local_host {
    void *priv;
    const char *backend;                 /* "sim", "xen" */
    int (*host_info)(libxlmig__gc *gc, void *priv, libxlmig_host_info *hi);
    int (*host_cpu_policy)(libxlmig__gc *gc, void *priv,
                           struct policy_cpuid *p);
    /* All domains here, as libxlmig_domain_list gives them. */
    int (*list)(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                int *nr_r);
    /* Does a domain of that name exist here (any state)? */
    bool (*domain_exists)(void *priv, const char *name);
    int (*domain_facts)(libxlmig__gc *gc, void *priv, const char *name,
                        libxlmig__dom_facts *f);
    /* The domain's CPU policy as it runs here. */
    int (*domain_cpu_policy)(libxlmig__gc *gc, void *priv, const char *name,
                             struct policy_cpuid *p);
    /*
     * Live-save to fd and leave the domain paused and reserved on
     * success; on failure it runs again, unreserved.  *cancel set makes
     * the save stop at the next batch.
     */
    int (*save_handoff)(libxlmig__gc *gc, void *priv, const char *name,
                        int fd, const libxlmig__engine_opts *o,
                        libxlmig_stats *st);
    /* Rename a reserved or running domain. */
    int (*rename)(libxlmig__gc *gc, void *priv, const char *from,
                  const char *to);
    /* Unpause a reserved domain and release it (failed handoff). */
    int (*resume)(libxlmig__gc *gc, void *priv, const char *name);
    /* Destroy a domain (reserved or not). */
    int (*destroy)(libxlmig__gc *gc, void *priv, const char *name);
    /*
     * Optional: create the empty, paused, reserved domain name for an
     * incoming migration from its config, before the stream starts (as
     * libxl does from the config xl sends first), so that allocating its
     * memory does not stall the stream.  restore_paused then fills it.
     */
    int (*prepare_incoming)(libxlmig__gc *gc, void *priv, const char *name,
                            const char *config_json);
    /*
     * Restore a domain called name from fd, paused and reserved (into the
     * prepared domain if there is one).  On failure nothing is left.
     */
    int (*restore_paused)(libxlmig__gc *gc, void *priv, int fd,
                          const char *name, const libxlmig__engine_opts *o,
                          libxlmig_stats *st);
    /* Unpause a reserved domain and release it (committed handoff). */
    int (*unpause_release)(libxlmig__gc *gc, void *priv, const char *name);
    /* Announce the domain's new location (gratuitous ARP). */
    void (*announce)(libxlmig__gc *gc, void *priv, const char *name);
    /* Optional: the domain's dirty sample (libxlmig_dirty_sample_take). */
    int (*dirty_sample)(libxlmig__gc *gc, void *priv, const char *name,
                        unsigned ms, libxlmig_dirty_sample *s);
} libxlmig__local_host;

/*
 * The Xen local host (backend_xen.c): opens libxl and libxenctrl for the
 * daemon; LIBXLMIG_ERROR_NOT_DOM0 (logged) outside a dom0.  One at a
 * time; close it after the node service stopped.
 */
_hidden int libxlmig__xen_local_host_open(libxlmig__gc *gc,
                                          const libxlmig__local_host **host_r);
_hidden void libxlmig__xen_local_host_close(libxlmig_ctx *ctx);

/* A throttle in force: what to put back (init with {0}). */
typedef struct libxlmig__xen_throttle {
    uint32_t domid;
    int cap;                      /* scheduler cap before the throttle */
    bool active;
} libxlmig__xen_throttle;

/*
 * Put the scheduler cap a throttle replaced back (the shim throttles the
 * guest during a save and restores the cap itself; xlmigd does it when the
 * helper died first).  A no-op when nothing is in force or the cap is
 * back already.
 */
_hidden int libxlmig__xen_throttle_restore(libxlmig__gc *gc,
                                           libxlmig__xen_throttle *t);

/* A migration the source runs; the caller sets the caller-set part. */
typedef struct libxlmig__migration {
    /* caller-set */
    libxlmig_cluster *cl;
    const libxlmig__local_host *host;
    const char *domain;
    const char *target;
    libxlmig_params params;
    bool dry_run;                 /* pre-flight only */
    libxlmig_progress_cb progress;
    void *progress_user;
    volatile int *cancel;         /* set non-zero to cancel */
    /* shared: the report, built as the job runs */
    yajl_gen report;              /* JSON object being written */
    libxlmig_stats stats;
    char id[33];                  /* migration id, hex */
    char outcome[64];             /* "migrated", "refused", "resumed", ... */
    int fd_in_use;                /* the stream socket, for cancel; -1 */
    bool predicted;               /* prediction holds the forecast */
    /* When each phase ended (us, libxlmig__now_us; 0: not reached), for
     * the report's "phases_ms". */
    uint64_t t_start, t_checked, t_predicted, t_prepared, t_sent,
             t_handed_off, t_done;
    libxlmig_estimate prediction;
} libxlmig__migration;

/* The forecast every migration records beside its result: a dirty sample
 * of this long (ms) and a bandwidth probe of an eighth of the domain's
 * memory, between these bounds (bytes; a few MiB measure latency more
 * than bandwidth). */
#define LIBXLMIG_PREDICT_SAMPLE_MS 400
#define LIBXLMIG_PREDICT_PROBE_MIN (8ULL << 20)
#define LIBXLMIG_PREDICT_PROBE_MAX (64ULL << 20)

/*
 * Run the migration: pre-flight (every check, reported), stream with
 * fail-over to the next network, and the handoff.  The report (JSON
 * object members) is written into m->report as it goes.  Returns 0 when
 * the domain runs on the target, or the error (logged) with the domain
 * running on the source, or LIBXLMIG_ERROR_TIMEOUT... see handoff.h for
 * the ambiguous case (outcome "ambiguous").
 */
_hidden int libxlmig__migrate(libxlmig__gc *gc, libxlmig__migration *m);

/*
 * Resolve a domain left paused after an ambiguous handoff: ask its
 * target what it decided, then destroy or resume the local copy.
 */
_hidden int libxlmig__migrate_recover(libxlmig__gc *gc, libxlmig_cluster *cl,
                                      const libxlmig__local_host *host,
                                      const char *domain, yajl_gen report);

/* The node service: listen on the migration networks and serve peers. */
_hidden int libxlmig__node_service_start(libxlmig__gc *gc,
                                         libxlmig_cluster *cl,
                                         const libxlmig__local_host *host);
_hidden void libxlmig__node_service_stop(void);
/*
 * At a daemon's start, after the node service: settle the copies that
 * migrations left when the previous daemon ended (docs/protocol.md,
 * "Restarts"): each NAME--incoming by its recorded decision, each
 * NAME--migratedaway by resolving with its target (in the background,
 * retrying) or, if go was never sent, by resuming it.
 */
_hidden void libxlmig__node_settle(libxlmig__gc *gc, libxlmig_cluster *cl,
                                   const libxlmig__local_host *host);
/* Whether a handoff record for the (--migratedaway) domain exists. */
_hidden bool libxlmig__handoff_pending(libxlmig__gc *gc, const char *name);
/* The length of name without suffix sfx, or 0 when it does not end so
 * (or is nothing else). */
_hidden size_t libxlmig__suffix_base(const char *name, const char *sfx);

/* Suffixes of the two copies during a handoff, as xl names them. */
#define LIBXLMIG_SUFFIX_INCOMING    "--incoming"
#define LIBXLMIG_SUFFIX_MIGRATEDAWAY "--migratedaway"

/* How long each handoff step may wait, ms ($XLMIG_HANDOFF_TIMEOUT_MS). */
_hidden int libxlmig__handoff_timeout_ms(void);

/* Socket options for node connections: keepalive and user timeout. */
_hidden void libxlmig__tune_socket(int fd);

#endif /* LIBXLMIG_MIGRATE_H */
