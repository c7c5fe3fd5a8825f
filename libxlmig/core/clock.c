/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The library's clock: monotonic microseconds for every duration it
 * measures (phases, rounds, rates, timeouts).
 */
#include <time.h>

#include "core/core.h"

uint64_t libxlmig__now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}
