/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What the benchmarks share.  pin_to: this thread onto one CPU, where
 * there are two.  Left to itself the scheduler sometimes puts a writer
 * and its reader on one CPU, and a socketpair's throughput then swings by
 * a factor of five between runs; a raw yardstick and the code measured
 * get the same placement (writer on CPU 0, reader on CPU 1) so that
 * their ratio measures the code, not the scheduler.
 */
#ifndef XLMIG_BENCH_H
#define XLMIG_BENCH_H

#include <sched.h>
#include <unistd.h>

static inline void pin_to(int cpu)
{
    cpu_set_t set;

    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

#endif /* XLMIG_BENCH_H */
