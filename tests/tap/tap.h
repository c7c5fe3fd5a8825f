/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A small TAP producer with the c-tap-harness API.  Tests call plan()
 * (or plan_lazy()), then one assertion per check; every assertion takes a
 * printf-style description.  At exit the library checks the plan and sets
 * the exit status so that prove reports any mismatch.
 */
#ifndef XLMIG_TAP_H
#define XLMIG_TAP_H

#include <stdbool.h>
#include <stddef.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))

void plan(unsigned long count);
void plan_lazy(void);
void skip_all(const char *fmt, ...) TAP_PRINTF(1, 2)
    __attribute__((noreturn));

bool ok(bool success, const char *fmt, ...) TAP_PRINTF(2, 3);
bool is_int(long long wanted, long long seen, const char *fmt, ...)
    TAP_PRINTF(3, 4);
bool is_bool(bool wanted, bool seen, const char *fmt, ...) TAP_PRINTF(3, 4);
bool is_string(const char *wanted, const char *seen, const char *fmt, ...)
    TAP_PRINTF(3, 4);
/* seen contains wanted as a substring. */
bool like_string(const char *wanted, const char *seen, const char *fmt, ...)
    TAP_PRINTF(3, 4);
void skip(const char *reason, ...) TAP_PRINTF(1, 2);
void skip_block(unsigned long count, const char *reason, ...)
    TAP_PRINTF(2, 3);

void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
void bail(const char *fmt, ...) TAP_PRINTF(1, 2) __attribute__((noreturn));
void sysbail(const char *fmt, ...) TAP_PRINTF(1, 2)
    __attribute__((noreturn));

/* Path of a file under tests/data (static buffer). */
const char *test_data_path(const char *name);
/* Top of the build tree (MIG_ROOT), from the environment or the binary. */
const char *test_top_dir(void);

#endif /* XLMIG_TAP_H */
