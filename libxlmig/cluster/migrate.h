/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Live migration between nodes (migrate.c: the source's job; node.c: the
 * node service that answers peers and receives migrations).  Both run in
 * the node daemon and reach the local hypervisor only through the host
 * interface (host/host.h).
 */
#ifndef LIBXLMIG_MIGRATE_H
#define LIBXLMIG_MIGRATE_H

#include "core/core.h"
#include "engine/engine.h"
#include "host/host.h"
#include "cluster/cluster.h"

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

#endif /* LIBXLMIG_MIGRATE_H */
