/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The handoff state machines of both sides as transition tables (see
 * handoff.h).  The tables are the whole logic: tests walk every
 * interleaving of the two sides against them.
 */
#include "cluster/handoff.h"

typedef struct {
    unsigned char next;   /* state after the event */
    unsigned char action;
} transition;

#define T(n, a) { (n), (a) }
#define BAD(s)  { (s), HSRC_ACT_INVALID }

/* src_table[state][event] */
static const transition src_table[HSRC__NR][HSRC_EV__NR] = {
    [HSRC_PRECOPY] = {
        [HSRC_EV_STREAM_SENT] = T(HSRC_AWAIT_READY, HSRC_ACT_AWAIT_READY),
        [HSRC_EV_READY] = BAD(HSRC_PRECOPY),
        [HSRC_EV_CONFIRM] = BAD(HSRC_PRECOPY),
        [HSRC_EV_FAILURE] = T(HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE),
        [HSRC_EV_CANCEL] = T(HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE),
        [HSRC_EV_TARGET_RUNNING] = BAD(HSRC_PRECOPY),
        [HSRC_EV_TARGET_ABORTED] = BAD(HSRC_PRECOPY),
        [HSRC_EV_UNREACHABLE] = BAD(HSRC_PRECOPY),
    },
    [HSRC_AWAIT_READY] = {
        [HSRC_EV_STREAM_SENT] = BAD(HSRC_AWAIT_READY),
        [HSRC_EV_READY] = T(HSRC_GO_SENT, HSRC_ACT_SEND_GO),
        [HSRC_EV_CONFIRM] = BAD(HSRC_AWAIT_READY),
        [HSRC_EV_FAILURE] = T(HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE),
        [HSRC_EV_CANCEL] = T(HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE),
        [HSRC_EV_TARGET_RUNNING] = BAD(HSRC_AWAIT_READY),
        [HSRC_EV_TARGET_ABORTED] = BAD(HSRC_AWAIT_READY),
        [HSRC_EV_UNREACHABLE] = BAD(HSRC_AWAIT_READY),
    },
    /*
     * From here on go may have arrived: only the target knows whether it
     * runs the domain.  A cancel is too late; the source never guesses.
     */
    [HSRC_GO_SENT] = {
        [HSRC_EV_STREAM_SENT] = BAD(HSRC_GO_SENT),
        [HSRC_EV_READY] = BAD(HSRC_GO_SENT),
        [HSRC_EV_CONFIRM] = T(HSRC_DONE, HSRC_ACT_DESTROY_SOURCE),
        [HSRC_EV_FAILURE] = T(HSRC_RESOLVING, HSRC_ACT_RESOLVE),
        [HSRC_EV_CANCEL] = T(HSRC_GO_SENT, HSRC_ACT_NONE),
        [HSRC_EV_TARGET_RUNNING] = BAD(HSRC_GO_SENT),
        [HSRC_EV_TARGET_ABORTED] = BAD(HSRC_GO_SENT),
        [HSRC_EV_UNREACHABLE] = BAD(HSRC_GO_SENT),
    },
    [HSRC_RESOLVING] = {
        [HSRC_EV_STREAM_SENT] = BAD(HSRC_RESOLVING),
        [HSRC_EV_READY] = BAD(HSRC_RESOLVING),
        /* A late confirm on a surviving link settles it too. */
        [HSRC_EV_CONFIRM] = T(HSRC_DONE, HSRC_ACT_DESTROY_SOURCE),
        [HSRC_EV_FAILURE] = T(HSRC_RESOLVING, HSRC_ACT_RESOLVE),
        [HSRC_EV_CANCEL] = T(HSRC_RESOLVING, HSRC_ACT_NONE),
        [HSRC_EV_TARGET_RUNNING] = T(HSRC_DONE, HSRC_ACT_DESTROY_SOURCE),
        [HSRC_EV_TARGET_ABORTED] = T(HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE),
        [HSRC_EV_UNREACHABLE] = T(HSRC_AMBIGUOUS,
                                  HSRC_ACT_REPORT_AMBIGUOUS),
    },
    /* Final states ignore nothing silently: any event is a bug... */
    [HSRC_DONE] = {
        [HSRC_EV_STREAM_SENT] = BAD(HSRC_DONE),
        [HSRC_EV_READY] = BAD(HSRC_DONE),
        [HSRC_EV_CONFIRM] = BAD(HSRC_DONE),
        [HSRC_EV_FAILURE] = T(HSRC_DONE, HSRC_ACT_NONE),
        [HSRC_EV_CANCEL] = T(HSRC_DONE, HSRC_ACT_NONE),
        [HSRC_EV_TARGET_RUNNING] = BAD(HSRC_DONE),
        [HSRC_EV_TARGET_ABORTED] = BAD(HSRC_DONE),
        [HSRC_EV_UNREACHABLE] = BAD(HSRC_DONE),
    },
    /* ...except failures and cancels arriving late, which change nothing. */
    [HSRC_RESUMED] = {
        [HSRC_EV_STREAM_SENT] = BAD(HSRC_RESUMED),
        [HSRC_EV_READY] = BAD(HSRC_RESUMED),
        [HSRC_EV_CONFIRM] = BAD(HSRC_RESUMED),
        [HSRC_EV_FAILURE] = T(HSRC_RESUMED, HSRC_ACT_NONE),
        [HSRC_EV_CANCEL] = T(HSRC_RESUMED, HSRC_ACT_NONE),
        [HSRC_EV_TARGET_RUNNING] = BAD(HSRC_RESUMED),
        [HSRC_EV_TARGET_ABORTED] = BAD(HSRC_RESUMED),
        [HSRC_EV_UNREACHABLE] = BAD(HSRC_RESUMED),
    },
    /* `xlmig recover` asks again later and feeds its answer here. */
    [HSRC_AMBIGUOUS] = {
        [HSRC_EV_STREAM_SENT] = BAD(HSRC_AMBIGUOUS),
        [HSRC_EV_READY] = BAD(HSRC_AMBIGUOUS),
        [HSRC_EV_CONFIRM] = BAD(HSRC_AMBIGUOUS),
        [HSRC_EV_FAILURE] = T(HSRC_AMBIGUOUS, HSRC_ACT_NONE),
        [HSRC_EV_CANCEL] = T(HSRC_AMBIGUOUS, HSRC_ACT_NONE),
        [HSRC_EV_TARGET_RUNNING] = T(HSRC_DONE, HSRC_ACT_DESTROY_SOURCE),
        [HSRC_EV_TARGET_ABORTED] = T(HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE),
        [HSRC_EV_UNREACHABLE] = T(HSRC_AMBIGUOUS, HSRC_ACT_NONE),
    },
};

#undef BAD
#define BAD(s)  { (s), HTGT_ACT_INVALID }

static const transition tgt_table[HTGT__NR][HTGT__EV_NR] = {
    [HTGT_RECEIVING] = {
        [HTGT_EV_STREAM_COMPLETE] = T(HTGT_AWAIT_GO, HTGT_ACT_SEND_READY),
        [HTGT_EV_GO] = BAD(HTGT_RECEIVING),
        [HTGT_EV_FAILURE] = T(HTGT_ABORTED, HTGT_ACT_DESTROY),
        [HTGT_EV_ABORT] = T(HTGT_ABORTED, HTGT_ACT_DESTROY),
        /* The source cannot have sent go yet: abort, then answer. */
        [HTGT_EV_RESOLVE] = T(HTGT_ABORTED, HTGT_ACT_DESTROY),
    },
    [HTGT_AWAIT_GO] = {
        [HTGT_EV_STREAM_COMPLETE] = BAD(HTGT_AWAIT_GO),
        [HTGT_EV_GO] = T(HTGT_COMMITTED, HTGT_ACT_UNPAUSE_CONFIRM),
        [HTGT_EV_FAILURE] = T(HTGT_ABORTED, HTGT_ACT_DESTROY),
        [HTGT_EV_ABORT] = T(HTGT_ABORTED, HTGT_ACT_DESTROY),
        /* Resolve is sent only after go: it carries go's authority. */
        [HTGT_EV_RESOLVE] = T(HTGT_COMMITTED, HTGT_ACT_UNPAUSE_CONFIRM),
    },
    [HTGT_COMMITTED] = {
        [HTGT_EV_STREAM_COMPLETE] = BAD(HTGT_COMMITTED),
        [HTGT_EV_GO] = T(HTGT_COMMITTED, HTGT_ACT_NONE),
        /* The domain runs here; a lost link changes nothing. */
        [HTGT_EV_FAILURE] = T(HTGT_COMMITTED, HTGT_ACT_NONE),
        /* Too late to abort: the source must destroy its copy. */
        [HTGT_EV_ABORT] = T(HTGT_COMMITTED, HTGT_ACT_ANSWER),
        [HTGT_EV_RESOLVE] = T(HTGT_COMMITTED, HTGT_ACT_ANSWER),
    },
    [HTGT_ABORTED] = {
        [HTGT_EV_STREAM_COMPLETE] = BAD(HTGT_ABORTED),
        /* A late go must not revive a destroyed copy. */
        [HTGT_EV_GO] = T(HTGT_ABORTED, HTGT_ACT_ANSWER),
        [HTGT_EV_FAILURE] = T(HTGT_ABORTED, HTGT_ACT_NONE),
        [HTGT_EV_ABORT] = T(HTGT_ABORTED, HTGT_ACT_NONE),
        [HTGT_EV_RESOLVE] = T(HTGT_ABORTED, HTGT_ACT_ANSWER),
    },
};

libxlmig__hsrc_action libxlmig__hsrc_step(libxlmig__hsrc_state *st,
                                          libxlmig__hsrc_event ev)
{
    const transition *t;

    if ((unsigned)*st >= HSRC__NR || (unsigned)ev >= HSRC_EV__NR)
        return HSRC_ACT_INVALID;
    t = &src_table[*st][ev];
    if (t->action != HSRC_ACT_INVALID)
        *st = t->next;
    return t->action;
}

libxlmig__htgt_action libxlmig__htgt_step(libxlmig__htgt_state *st,
                                          libxlmig__htgt_event ev)
{
    const transition *t;

    if ((unsigned)*st >= HTGT__NR || (unsigned)ev >= HTGT__EV_NR)
        return HTGT_ACT_INVALID;
    t = &tgt_table[*st][ev];
    if (t->action != HTGT_ACT_INVALID)
        *st = t->next;
    return t->action;
}

bool libxlmig__hsrc_is_final(libxlmig__hsrc_state s)
{
    return s == HSRC_DONE || s == HSRC_RESUMED;
}

bool libxlmig__htgt_is_final(libxlmig__htgt_state s)
{
    return s == HTGT_COMMITTED || s == HTGT_ABORTED;
}

bool libxlmig__hsrc_copy_runs(libxlmig__hsrc_state s)
{
    return s == HSRC_PRECOPY || s == HSRC_RESUMED;
}

bool libxlmig__htgt_copy_runs(libxlmig__htgt_state s)
{
    return s == HTGT_COMMITTED;
}

#define NAME_FN(fn, type, n, ...)                                  \
    const char *fn(type v)                                         \
    {                                                              \
        static const char *const names[n] = { __VA_ARGS__ };       \
        return (unsigned)v < n && names[v] ? names[v] : "invalid"; \
    }

NAME_FN(libxlmig__hsrc_state_to_string, libxlmig__hsrc_state, HSRC__NR,
        "precopy", "await-ready", "go-sent", "resolving", "done", "resumed",
        "ambiguous")
NAME_FN(libxlmig__hsrc_event_to_string, libxlmig__hsrc_event, HSRC_EV__NR,
        "stream-sent", "ready", "confirm", "failure", "cancel",
        "target-running", "target-aborted", "unreachable")
NAME_FN(libxlmig__hsrc_action_to_string, libxlmig__hsrc_action,
        HSRC_ACT_INVALID + 1, "none", "await-ready", "send-go",
        "destroy-source", "resume-source", "resolve", "report-ambiguous",
        "invalid")
NAME_FN(libxlmig__htgt_state_to_string, libxlmig__htgt_state, HTGT__NR,
        "receiving", "await-go", "committed", "aborted")
NAME_FN(libxlmig__htgt_event_to_string, libxlmig__htgt_event, HTGT__EV_NR,
        "stream-complete", "go", "failure", "abort", "resolve")
NAME_FN(libxlmig__htgt_action_to_string, libxlmig__htgt_action,
        HTGT_ACT_INVALID + 1, "none", "send-ready", "unpause-confirm",
        "destroy", "answer", "invalid")
