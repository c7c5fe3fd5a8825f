/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Metrics for Prometheus (metrics.c): counters of this xlmigd, which the
 * daemon (migrations out, the queue, drains) and the node service
 * (migrations in) report, written as node_exporter's textfile collector
 * reads them (docs/xlmigd.md, "Metrics").  Process-wide, under their own
 * lock; every call may come from any thread.
 */
#ifndef LIBXLMIG_METRICS_H
#define LIBXLMIG_METRICS_H

#include "core/core.h"

/* The file is rewritten after every event, and at least this often for
 * what changes without one (maintenance, a drain's lock) (s). */
#define LIBXLMIG_METRICS_REFRESH_S 10

/* Turn the file on (path "" or NULL: kept in memory only). */
_hidden void libxlmig__metrics_init(libxlmig__gc *gc, const char *path,
                                    const char *node, const char *backend,
                                    unsigned max_outgoing,
                                    unsigned max_incoming);
/* A migration began ("out" once its slot came, "in" once accepted). */
_hidden void libxlmig__metrics_started(const char *direction);
/* delta migrations out joined (+1) or left (-1) the queue. */
_hidden void libxlmig__metrics_queued(int delta);

/* A migration ended, as its history record says. */
typedef struct libxlmig__metrics_end {
    const char *direction;         /* "out" or "in" */
    const char *outcome;           /* history's, for a failure */
    bool started;                  /* counted by _started (not refused
                                      in the queue) */
    bool succeeded;                /* the domain runs on the target */
    uint64_t duration_ms;          /* ms */
    bool has_downtime;
    uint64_t downtime_us;          /* us */
    uint64_t bytes;                /* stream bytes */
    bool has_prediction_error;
    double prediction_error_pct;   /* (predicted - measured) / measured, % */
} libxlmig__metrics_end;
_hidden void libxlmig__metrics_ended(const libxlmig__metrics_end *e);
/* A drain of this node ended: "all_moved", "some_left", "interrupted". */
_hidden void libxlmig__metrics_drain(const char *result);

/* Write the file now (periodic: only when LIBXLMIG_METRICS_REFRESH_S
 * passed since the last write); a failure is logged once. */
_hidden void libxlmig__metrics_flush(libxlmig__gc *gc, bool periodic);
/* The exposition text (arena), as the file would have it. */
_hidden int libxlmig__metrics_text(libxlmig__gc *gc, char **text_r);

#endif /* LIBXLMIG_METRICS_H */
