/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Live migration between nodes (migrate.c: the source's job; node.c: the
 * node service that answers peers and receives migrations).  Both run in
 * the node daemon and reach the local hypervisor only through the host
 * interface (host/host.h).
 */
#ifndef LIBXLMIG_MIGRATE_H
#define LIBXLMIG_MIGRATE_H

#include <pthread.h>

#include "core/core.h"
#include "engine/engine.h"
#include "host/host.h"
#include "cluster/cluster.h"

/*
 * A migration the source runs: one owned object, like libxl's
 * libxl__stream_write_state.  _init it, set the caller-set part, _run it
 * (in the thread that owns it); any other thread may _cancel it until
 * _run returns; then _dispose it.
 */
typedef struct libxlmig__migration {
    /* caller-set */
    libxlmig_cluster *cl;
    const libxlmig__host *host;
    const char *domain;
    const char *target;
    libxlmig_params params;
    bool dry_run;                 /* pre-flight only */
    libxlmig_progress_cb progress;
    void *progress_user;
    /* A forecast the caller made (a drain's), recorded instead of one of
     * our own: set predicted and prediction. */
    bool predicted;
    libxlmig_estimate prediction;
    /* shared: the report, built as the job runs */
    yajl_gen report;              /* JSON object being written */
    libxlmig_stats stats;
    char id[33];                  /* migration id, hex */
    char outcome[64];             /* "migrated", "refused", "resumed", ... */
    uint64_t target_wait_ms;      /* waited for a slot on the target (ms) */
    /* The stream's downtime (us), kept when stats.downtime_us became the
     * pause until the domain ran on the target; 0: it did not. */
    uint64_t stream_downtime_us;
    /* When each phase ended (us, libxlmig__now_us; 0: not reached), for
     * the report's "phases_ms". */
    uint64_t t_start, t_checked, t_predicted, t_prepared, t_sent,
             t_handed_off, t_done;
    /* private: cancellation and what status shows, under lock */
    pthread_mutex_t lock;
    bool cancelled;               /* _cancel was called */
    libxlmig__transport *t_in_use;  /* the stream's, while it flows */
    const char *phase;            /* LIBXLMIG_PHASE_*; NULL before _run */
    char path[160];               /* "mig0 (10.10.0.1 -> 10.10.0.2)" */
    uint64_t memory_kib;          /* the domain's (KiB), once known */
    uint64_t t_run_us, t_stream_us;   /* _run, its last stream began */
    uint64_t stream_base;         /* t_in_use's bytes_sent when published */
    uint64_t stream_bytes;        /* the last stream's bytes, withdrawn */
} libxlmig__migration;

/* The phases of _run, as status names them (docs/architecture.md). */
#define LIBXLMIG_PHASE_CHECK      "check"       /* pre-flight */
#define LIBXLMIG_PHASE_PREDICT    "prediction"  /* dirty sample, probe */
#define LIBXLMIG_PHASE_WAIT       "waiting"     /* for a slot on the target */
#define LIBXLMIG_PHASE_STREAM     "stream"      /* memory flows */
#define LIBXLMIG_PHASE_HANDOFF    "handoff"     /* ready, go, confirm */
#define LIBXLMIG_PHASE_RESOLVE    "resolve"     /* go sent, no confirm */
#define LIBXLMIG_PHASE_CLEANUP    "cleanup"
#define LIBXLMIG_PHASE_RESUME     "resume"
#define LIBXLMIG_PHASE_DONE       "done"

_hidden void libxlmig__migration_init(libxlmig__migration *m);
_hidden void libxlmig__migration_dispose(libxlmig__migration *m);
/*
 * Cancel m from any thread: a migration before the handoff stops at once
 * (the stream's transport is shut down under m's lock) and its domain
 * runs on here; one in the handoff finishes it.  Idempotent.
 */
_hidden void libxlmig__migration_cancel(libxlmig__migration *m);
/* Whether _cancel was called (from any thread). */
_hidden bool libxlmig__migration_cancelled(libxlmig__migration *m);

/* A running migration as `xlmig status` shows it: a copy taken under its
 * lock, from any thread, while _run runs or before it. */
typedef struct libxlmig__migration_view {
    char phase[16];               /* LIBXLMIG_PHASE_*, "" before _run */
    char id[33];                  /* the current attempt's, or "" */
    char path[160];               /* network and addresses, or "" */
    uint64_t memory_kib;          /* KiB; 0 until known */
    uint64_t elapsed_ms;          /* since _run began (ms) */
    uint64_t stream_ms;           /* since the stream began (ms); 0 before */
    uint64_t stream_bytes;        /* sent on the stream so far (bytes) */
    /* The engine's statistics as it writes them (sim: at every round's
     * dirty scan and end; Xen: only at the end): state, round (rounds
     * after the full copy that ended), remaining_bytes (the dirty set the
     * round being sent began with), dirty_rate, bandwidth,
     * expected_downtime_ms, throttle_pct; the rest is left 0. */
    libxlmig_stats live;
} libxlmig__migration_view;
_hidden void libxlmig__migration_view_get(libxlmig__migration *m,
                                          libxlmig__migration_view *v);

/* The forecast every migration records beside its result: a dirty sample
 * of this long (ms) and a bandwidth probe of an eighth of the domain's
 * memory, between these bounds (bytes; a few MiB measure latency more
 * than bandwidth), ended early after about PROBE_MS: on a slow or loaded
 * link the pre-flight connection, idle meanwhile, must not outlast the
 * target's patience (LIBXLMIG_HANDOFF_TIMEOUT_MS). */
#define LIBXLMIG_PREDICT_SAMPLE_MS 400
#define LIBXLMIG_PREDICT_PROBE_MIN (8ULL << 20)
#define LIBXLMIG_PREDICT_PROBE_MAX (64ULL << 20)
#define LIBXLMIG_PREDICT_PROBE_MS  3000

/* A target that runs max_incoming migrations refuses another (BUSY): the
 * source asks again this often, for this long, before it gives up (ms). */
#define LIBXLMIG_SLOT_RETRY_MS 1000
#define LIBXLMIG_SLOT_WAIT_MS  600000

/*
 * Run the migration: pre-flight (every check, reported), stream with
 * fail-over to the next network, and the handoff.  The report (JSON
 * object members) is written into m->report as it goes.  Returns 0 when
 * the domain runs on the target, or the error (logged) with the domain
 * running on the source, or LIBXLMIG_ERROR_TIMEOUT... see handoff.h for
 * the ambiguous case (outcome "ambiguous").
 */
_hidden int libxlmig__migration_run(libxlmig__gc *gc, libxlmig__migration *m);

/*
 * Resolve a domain left paused after an ambiguous handoff: ask its
 * target what it decided, then destroy or resume the local copy.
 */
_hidden int libxlmig__migrate_recover(libxlmig__gc *gc, libxlmig_cluster *cl,
                                      const libxlmig__host *host,
                                      const char *domain, yajl_gen report);

/*
 * The node service (node.c): one per xlmigd.  _alloc makes it for this
 * node's host; _start listens on the migration networks and serves peers
 * (needs the cluster); _settle, at a daemon's start after _start, settles
 * the copies that migrations left when the previous daemon ended
 * (docs/protocol.md, "Restarts"): each NAME--incoming by its recorded
 * decision, each NAME--migratedaway by resolving with its target (in the
 * background, retrying) or, if go was never sent, by resuming it.  _free
 * stops it; false when threads still use it (it is then left to the
 * ending process).
 */
typedef struct libxlmig__node_service libxlmig__node_service;
_hidden int libxlmig__node_service_alloc(libxlmig__gc *gc,
                                         libxlmig_cluster *cl,
                                         const libxlmig__host *host,
                                         libxlmig__node_service **svc_r);
_hidden int libxlmig__node_service_start(libxlmig__gc *gc,
                                         libxlmig__node_service *svc);
_hidden void libxlmig__node_service_settle(libxlmig__gc *gc,
                                           libxlmig__node_service *svc);
_hidden bool libxlmig__node_service_free(libxlmig__node_service *svc);
/*
 * What runs on this node, as `xlmig status` shows it (docs/xlmigd.md,
 * "Status"): one JSON object into g, for the control socket's status
 * request and for a peer's.  The migrations this node sends are the
 * daemon's: it hands the node service, before _start, a function that
 * generates their "outgoing" member into the open object.
 */
typedef void libxlmig__status_gen_fn(libxlmig__gc *gc, void *opaque,
                                     yajl_gen g);
_hidden void libxlmig__node_service_set_outgoing(
    libxlmig__node_service *svc, libxlmig__status_gen_fn *fn, void *opaque);
_hidden int libxlmig__node_service_status_gen(libxlmig__gc *gc,
                                              libxlmig__node_service *svc,
                                              yajl_gen g);
/* Whether a handoff record for the (--migratedaway) domain exists. */
_hidden bool libxlmig__handoff_pending(libxlmig__gc *gc, const char *name);

#endif /* LIBXLMIG_MIGRATE_H */
