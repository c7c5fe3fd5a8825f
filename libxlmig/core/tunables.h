/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Every environment variable the library reads, each with one owner here
 * (core/tunables.c), its default and its unit.  Nothing else in libxlmig
 * calls getenv(); the save-helper shim, which runs inside libxl's save
 * helper and links nothing of libxlmig, reads its one variable itself.
 * Values are read at each call, so a test may change them between calls.
 */
#ifndef LIBXLMIG_CORE_TUNABLES_H
#define LIBXLMIG_CORE_TUNABLES_H

#include <stdbool.h>

#include "core/core.h"

/* How long each handoff step may wait (ms). */
#define LIBXLMIG_DEFAULT_HANDOFF_TIMEOUT_MS 30000
/* Unacknowledged data on a node connection ends it after this (ms). */
#define LIBXLMIG_DEFAULT_USER_TIMEOUT_MS    15000

/* $XLMIG_STATE_DIR, else LIBXLMIG_DEFAULT_STATE_DIR: node state. */
_hidden const char *libxlmig__tunable_state_dir(void);
/* $XLMIGD_SOCKET, else LIBXLMIG_SIM_SOCKET_DEFAULT: xlmigd's control
 * socket. */
_hidden const char *libxlmig__tunable_control_socket(void);
/* $XLMIG_BASELINE_DIR: the named CPU baselines; NULL when unset. */
_hidden const char *libxlmig__tunable_baseline_dir(void);
/* $XLMIG_HANDOFF_TIMEOUT_MS (> 0), else the default above (ms). */
_hidden int libxlmig__tunable_handoff_timeout_ms(void);
/* $XLMIG_USER_TIMEOUT_MS (> 0), else the default above (ms): TCP's
 * user timeout on node connections. */
_hidden unsigned int libxlmig__tunable_user_timeout_ms(void);
/* $XLMIG_ENGINE_NO_SPLICE set and not "0": live pages are copied into
 * sockets, never sent by reference. */
_hidden bool libxlmig__tunable_no_splice(void);
/* $XLMIG_ENGINE_COPY set: the engine copies every live batch instead of
 * sending it from RAM with a recheck (a yardstick for benchmarks). */
_hidden bool libxlmig__tunable_engine_copy(void);
/* $XLMIG_SAVE_HELPER: libxl's save helper for Xen saves ("none": Xen's
 * own, with libxenguest's default policy); NULL when unset. */
_hidden const char *libxlmig__tunable_save_helper(void);
/* $XLMIG_RUN_DIR: where the Xen backend keeps per-save files; NULL when
 * unset. */
_hidden const char *libxlmig__tunable_run_dir(void);
/* Test knobs, read only by core/fault.c: $XLMIG_FAULT, $XLMIG_TEST_
 * DROP_PAGE, $XLMIG_TEST_LOSE_GO (NULL when unset or empty). */
_hidden const char *libxlmig__tunable_fault(void);
_hidden const char *libxlmig__tunable_test_drop_page(void);
_hidden const char *libxlmig__tunable_test_lose_go(void);

#endif /* LIBXLMIG_CORE_TUNABLES_H */
