/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Past migrations (history.c): the record xlmigd writes when a migration
 * ends, out (daemon/server.c, the source) or in (node.c, the target's
 * decision).  Records live in STATE_DIR/history/ID, written through the
 * state directory's one writer; the last LIBXLMIG_HISTORY_MAX are kept.
 */
#ifndef LIBXLMIG_HISTORY_H
#define LIBXLMIG_HISTORY_H

#include "core/core.h"

/* What a record says; the strings are the caller's. */
typedef struct libxlmig__history_rec {
    const char *id;              /* the migration id; NULL or not an id
                                    (refused before it had one): new */
    const char *direction;       /* "out" or "in" */
    const char *domain, *source, *target;
    const char *outcome;         /* out: the report's ("migrated",
                                    "failed", "cancelled", "refused",
                                    "ambiguous"); in: "committed",
                                    "aborted" */
    const char *error;           /* why it failed, or NULL */
    uint64_t start_ms;           /* when it began (libxlmig__wall_ms) */
    uint64_t duration_ms;        /* until it ended (ms) */
    bool has_downtime;
    uint64_t downtime_us;        /* the guest paused (us) */
    uint64_t bytes;              /* stream bytes */
    uint64_t queued_ms;          /* waited for a slot here (ms) */
    bool has_prediction_error;
    double prediction_error_pct; /* predicted vs measured time (%) */
    yajl_val report;             /* the whole report (out), or NULL */
} libxlmig__history_rec;

/* Write r (logged, not fatal, when it cannot be) and drop the oldest
 * records beyond LIBXLMIG_HISTORY_MAX. */
_hidden int libxlmig__history_add(libxlmig__gc *gc,
                                  const libxlmig__history_rec *r);

#endif /* LIBXLMIG_HISTORY_H */
