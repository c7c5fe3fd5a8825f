/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The library's clocks: monotonic microseconds for every duration it
 * measures (phases, rounds, rates, timeouts), and the wall clock for when
 * something happened (history records).
 */
#include <time.h>

#include "core/core.h"

uint64_t libxlmig__now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

uint64_t libxlmig__wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
