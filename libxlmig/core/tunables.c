/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The environment variables of libxlmig (core/tunables.h): the one place
 * that reads them, so that each has one owner, one default and one
 * parser.
 */
#include <stdlib.h>
#include <string.h>

#include "core/tunables.h"

/* The variable's value, or NULL when unset or empty. */
static const char *env(const char *name)
{
    const char *s = getenv(name);

    return s && *s ? s : NULL;
}

/* A positive integer from name, else def. */
static long env_positive(const char *name, long def)
{
    const char *s = env(name);
    long v = s ? strtol(s, NULL, 10) : 0;

    return v > 0 ? v : def;
}

const char *libxlmig__tunable_state_dir(void)
{
    const char *s = env("XLMIG_STATE_DIR");

    return s ? s : LIBXLMIG_DEFAULT_STATE_DIR;
}

const char *libxlmig__tunable_control_socket(void)
{
    const char *s = env("XLMIGD_SOCKET");

    return s ? s : LIBXLMIG_SIM_SOCKET_DEFAULT;
}

const char *libxlmig__tunable_baseline_dir(void)
{
    return env("XLMIG_BASELINE_DIR");
}

int libxlmig__tunable_handoff_timeout_ms(void)
{
    return (int)env_positive("XLMIG_HANDOFF_TIMEOUT_MS",
                             LIBXLMIG_DEFAULT_HANDOFF_TIMEOUT_MS);
}

unsigned int libxlmig__tunable_user_timeout_ms(void)
{
    return (unsigned int)env_positive("XLMIG_USER_TIMEOUT_MS",
                                      LIBXLMIG_DEFAULT_USER_TIMEOUT_MS);
}

bool libxlmig__tunable_no_splice(void)
{
    const char *s = env("XLMIG_ENGINE_NO_SPLICE");

    return s && strcmp(s, "0");
}

bool libxlmig__tunable_engine_copy(void)
{
    return getenv("XLMIG_ENGINE_COPY") != NULL;
}

const char *libxlmig__tunable_save_helper(void)
{
    return getenv("XLMIG_SAVE_HELPER");
}

const char *libxlmig__tunable_run_dir(void)
{
    return getenv("XLMIG_RUN_DIR");
}

const char *libxlmig__tunable_fault(void)
{
    return env("XLMIG_FAULT");
}

const char *libxlmig__tunable_test_drop_page(void)
{
    return env("XLMIG_TEST_DROP_PAGE");
}

const char *libxlmig__tunable_test_lose_go(void)
{
    return env("XLMIG_TEST_LOSE_GO");
}
