/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The handoff: how the source and the target of a migration agree on
 * which copy of a domain runs, so that exactly one does at every moment
 * (docs/architecture.md, invariants 1 and 2).  Both sides are pure state machines:
 * an event goes in, the next state and one action to perform come out.
 * The callers (engine, daemon, both backends) perform the action and feed
 * back its outcome as the next event.  No I/O here.
 *
 * Source:  PRECOPY -stream_sent-> AWAIT_READY -ready-> GO_SENT
 *          -confirm-> DONE (destroy the source copy)
 *          any failure before GO -> RESUMED (resume the source copy)
 *          failure after GO -> RESOLVING (ask the target over any
 *          migration network) -> DONE | RESUMED | AMBIGUOUS
 * Target:  RECEIVING -stream_complete-> AWAIT_GO -go-> COMMITTED
 *          (unpause, confirm) or -failure/timeout/abort-> ABORTED
 *          (destroy the partial domain).  The decision is made once;
 *          a RESOLVE request in AWAIT_GO commits (the source sends it only
 *          after it sent go), in RECEIVING it aborts.
 */
#ifndef LIBXLMIG_HANDOFF_H
#define LIBXLMIG_HANDOFF_H

#include "core/core.h"

typedef enum libxlmig__hsrc_state {
    HSRC_PRECOPY = 0,     /* memory still streaming; source running */
    HSRC_AWAIT_READY,     /* stream sent, source paused; target restoring */
    HSRC_GO_SENT,         /* go sent; waiting for the target's confirm */
    HSRC_RESOLVING,       /* go sent, link lost: asking the target */
    HSRC_DONE,            /* target runs the domain; source destroyed */
    HSRC_RESUMED,         /* migration failed; source runs the domain */
    HSRC_AMBIGUOUS,       /* target unreachable after go: both paused */
    HSRC__NR,
} libxlmig__hsrc_state;

typedef enum libxlmig__hsrc_event {
    HSRC_EV_STREAM_SENT = 0, /* last pages and vCPU state sent */
    HSRC_EV_READY,           /* target restored the domain paused */
    HSRC_EV_CONFIRM,         /* target unpaused the domain */
    HSRC_EV_FAILURE,         /* link, peer, local or stream failure */
    HSRC_EV_CANCEL,          /* user cancelled */
    HSRC_EV_TARGET_RUNNING,  /* resolve: target committed and runs it */
    HSRC_EV_TARGET_ABORTED,  /* resolve: target aborted, has nothing */
    HSRC_EV_UNREACHABLE,     /* resolve: no migration network answers */
    HSRC_EV__NR,
} libxlmig__hsrc_event;

typedef enum libxlmig__hsrc_action {
    HSRC_ACT_NONE = 0,        /* keep going (or nothing left to do) */
    HSRC_ACT_AWAIT_READY,     /* wait for the target's ready */
    HSRC_ACT_SEND_GO,         /* rename source NAME--migratedaway, send go */
    HSRC_ACT_DESTROY_SOURCE,  /* destroy the source copy; report success */
    HSRC_ACT_RESUME_SOURCE,   /* tell the target to abort (best effort),
                                 rename back, resume; report failure */
    HSRC_ACT_RESOLVE,         /* ask the target what it decided, over
                                 every allowed migration network */
    HSRC_ACT_REPORT_AMBIGUOUS,/* keep the paused copy; report; `xlmig
                                 recover` resolves later */
    HSRC_ACT_INVALID,         /* event impossible in this state: a bug */
} libxlmig__hsrc_action;

typedef enum libxlmig__htgt_state {
    HTGT_RECEIVING = 0,   /* stream arriving; partial domain paused */
    HTGT_AWAIT_GO,        /* restored paused, ready sent */
    HTGT_COMMITTED,       /* unpaused: the domain runs here */
    HTGT_ABORTED,         /* partial domain destroyed */
    HTGT__NR,
} libxlmig__htgt_state;

typedef enum libxlmig__htgt_event {
    HTGT_EV_STREAM_COMPLETE = 0, /* end record received, domain restored */
    HTGT_EV_GO,                  /* go received */
    HTGT_EV_FAILURE,             /* bad stream, link lost, timeout */
    HTGT_EV_ABORT,               /* source said abort */
    HTGT_EV_RESOLVE,             /* source asks, after its go */
    HTGT__EV_NR,
} libxlmig__htgt_event;

typedef enum libxlmig__htgt_action {
    HTGT_ACT_NONE = 0,
    HTGT_ACT_SEND_READY,      /* report ready, wait for go */
    HTGT_ACT_UNPAUSE_CONFIRM, /* rename to NAME, unpause, send confirm */
    HTGT_ACT_DESTROY,         /* destroy the partial domain */
    HTGT_ACT_ANSWER,          /* answer a resolve with the decision */
    HTGT_ACT_INVALID,
} libxlmig__htgt_action;

_hidden const char *libxlmig__hsrc_state_to_string(libxlmig__hsrc_state s);
_hidden const char *libxlmig__hsrc_event_to_string(libxlmig__hsrc_event e);
_hidden const char *libxlmig__hsrc_action_to_string(libxlmig__hsrc_action a);
_hidden const char *libxlmig__htgt_state_to_string(libxlmig__htgt_state s);
_hidden const char *libxlmig__htgt_event_to_string(libxlmig__htgt_event e);
_hidden const char *libxlmig__htgt_action_to_string(libxlmig__htgt_action a);

/*
 * Next source state for event ev in *st; returns the action to perform.
 * An impossible event leaves *st alone and returns HSRC_ACT_INVALID.
 */
_hidden libxlmig__hsrc_action libxlmig__hsrc_step(libxlmig__hsrc_state *st,
                                                  libxlmig__hsrc_event ev);
_hidden libxlmig__htgt_action libxlmig__htgt_step(libxlmig__htgt_state *st,
                                                  libxlmig__htgt_event ev);

/* Final states: nothing more will happen. */
_hidden bool libxlmig__hsrc_is_final(libxlmig__hsrc_state s);
_hidden bool libxlmig__htgt_is_final(libxlmig__htgt_state s);

/* Does the source (target) copy run, or may it run, in this state? */
_hidden bool libxlmig__hsrc_copy_runs(libxlmig__hsrc_state s);
_hidden bool libxlmig__htgt_copy_runs(libxlmig__htgt_state s);

#endif /* LIBXLMIG_HANDOFF_H */
