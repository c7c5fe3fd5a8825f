/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Threads of the library that serve peers and clients: each runs on an
 * alternate signal stack of its own, so that a fatal signal handler
 * installed with SA_ONSTACK (xlmigd's) still runs, and reports, when the
 * thread's own stack is what overflowed.
 */
#include <pthread.h>
#include <signal.h>

#include "core/core.h"

/* Enough for a handler that writes a backtrace (bytes). */
#define ALTSTACK_SIZE (64 * 1024)

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;

/* At the thread's end: leave the stack, then free it. */
static void altstack_free(void *sp)
{
    stack_t ss;

    memset(&ss, 0, sizeof(ss));
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    free(sp);
}

static void altstack_key_init(void)
{
    pthread_key_create(&altstack_key, altstack_free);
}

void libxlmig__thread_altstack(void)
{
    stack_t ss;

    pthread_once(&altstack_once, altstack_key_init);
    if (pthread_getspecific(altstack_key))
        return;
    memset(&ss, 0, sizeof(ss));
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_sp = malloc(ss.ss_size);
    if (!ss.ss_sp)
        return;             /* the handler then runs where it can */
    if (sigaltstack(&ss, NULL)) {
        free(ss.ss_sp);
        return;
    }
    pthread_setspecific(altstack_key, ss.ss_sp);
}
