/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The handoff state machines: chosen transitions by table, then an
 * exhaustive exploration of both sides together over a link that may lose
 * any message, fail at any moment, a target that may time out at any
 * moment, a user who may cancel at any moment, and a second migration
 * network that may or may not answer.  In every reachable state at most
 * one copy runs; in every end state exactly one runs, or the source
 * reported the ambiguity and a later recover leaves exactly one.
 */
#include "cluster/handoff.h"
#include "tap.h"

static const struct {
    const char *name;
    libxlmig__hsrc_state from;
    libxlmig__hsrc_event ev;
    libxlmig__hsrc_state to;
    libxlmig__hsrc_action act;
} src_cases[] = {
    { "stream sent: wait for ready", HSRC_PRECOPY, HSRC_EV_STREAM_SENT,
      HSRC_AWAIT_READY, HSRC_ACT_AWAIT_READY },
    { "failure in pre-copy resumes", HSRC_PRECOPY, HSRC_EV_FAILURE,
      HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE },
    { "cancel in pre-copy resumes", HSRC_PRECOPY, HSRC_EV_CANCEL,
      HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE },
    { "ready: send go", HSRC_AWAIT_READY, HSRC_EV_READY, HSRC_GO_SENT,
      HSRC_ACT_SEND_GO },
    { "failure before go resumes", HSRC_AWAIT_READY, HSRC_EV_FAILURE,
      HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE },
    { "confirm destroys the source", HSRC_GO_SENT, HSRC_EV_CONFIRM,
      HSRC_DONE, HSRC_ACT_DESTROY_SOURCE },
    { "failure after go resolves, never guesses", HSRC_GO_SENT,
      HSRC_EV_FAILURE, HSRC_RESOLVING, HSRC_ACT_RESOLVE },
    { "cancel after go is too late", HSRC_GO_SENT, HSRC_EV_CANCEL,
      HSRC_GO_SENT, HSRC_ACT_NONE },
    { "resolved running: destroy source", HSRC_RESOLVING,
      HSRC_EV_TARGET_RUNNING, HSRC_DONE, HSRC_ACT_DESTROY_SOURCE },
    { "resolved aborted: resume source", HSRC_RESOLVING,
      HSRC_EV_TARGET_ABORTED, HSRC_RESUMED, HSRC_ACT_RESUME_SOURCE },
    { "unreachable: report ambiguity", HSRC_RESOLVING, HSRC_EV_UNREACHABLE,
      HSRC_AMBIGUOUS, HSRC_ACT_REPORT_AMBIGUOUS },
    { "recover finds it running", HSRC_AMBIGUOUS, HSRC_EV_TARGET_RUNNING,
      HSRC_DONE, HSRC_ACT_DESTROY_SOURCE },
    { "ready in pre-copy is a bug", HSRC_PRECOPY, HSRC_EV_READY,
      HSRC_PRECOPY, HSRC_ACT_INVALID },
    { "confirm before go is a bug", HSRC_AWAIT_READY, HSRC_EV_CONFIRM,
      HSRC_AWAIT_READY, HSRC_ACT_INVALID },
};

static const struct {
    const char *name;
    libxlmig__htgt_state from;
    libxlmig__htgt_event ev;
    libxlmig__htgt_state to;
    libxlmig__htgt_action act;
} tgt_cases[] = {
    { "restored: send ready", HTGT_RECEIVING, HTGT_EV_STREAM_COMPLETE,
      HTGT_AWAIT_GO, HTGT_ACT_SEND_READY },
    { "bad stream destroys", HTGT_RECEIVING, HTGT_EV_FAILURE, HTGT_ABORTED,
      HTGT_ACT_DESTROY },
    { "go unpauses and confirms", HTGT_AWAIT_GO, HTGT_EV_GO, HTGT_COMMITTED,
      HTGT_ACT_UNPAUSE_CONFIRM },
    { "timeout waiting for go destroys", HTGT_AWAIT_GO, HTGT_EV_FAILURE,
      HTGT_ABORTED, HTGT_ACT_DESTROY },
    { "resolve while waiting commits", HTGT_AWAIT_GO, HTGT_EV_RESOLVE,
      HTGT_COMMITTED, HTGT_ACT_UNPAUSE_CONFIRM },
    { "resolve while receiving aborts", HTGT_RECEIVING, HTGT_EV_RESOLVE,
      HTGT_ABORTED, HTGT_ACT_DESTROY },
    { "late go never revives", HTGT_ABORTED, HTGT_EV_GO, HTGT_ABORTED,
      HTGT_ACT_ANSWER },
    { "abort after commit is refused", HTGT_COMMITTED, HTGT_EV_ABORT,
      HTGT_COMMITTED, HTGT_ACT_ANSWER },
    { "lost link after commit changes nothing", HTGT_COMMITTED,
      HTGT_EV_FAILURE, HTGT_COMMITTED, HTGT_ACT_NONE },
    { "go while receiving is a bug", HTGT_RECEIVING, HTGT_EV_GO,
      HTGT_RECEIVING, HTGT_ACT_INVALID },
};

/* ---- exhaustive exploration ---- */

enum msg { M_NONE, M_STREAM, M_READY, M_GO, M_CONFIRM, M_ABORT };
#define QLEN 4

typedef struct world {
    unsigned char src, tgt;
    unsigned char to_tgt[QLEN], to_src[QLEN];   /* FIFO, M_NONE-padded */
    unsigned char link_up;        /* the connection in use */
    unsigned char alt_up;         /* another migration network answers */
    unsigned char src_saw_fail;   /* source noticed the broken link */
    unsigned char tgt_saw_fail;
    unsigned char cancelled;
    unsigned char timed_out;      /* target's go timeout already fired */
} world;

#define MAXW 200000
static world seen[MAXW];
static size_t nseen;
static unsigned long states, finals, ambiguous, violations, invalid;

static bool world_eq(const world *a, const world *b)
{
    return !memcmp(a, b, sizeof(*a));
}

static bool mark_seen(const world *w)
{
    size_t i;

    for (i = 0; i < nseen; i++)
        if (world_eq(&seen[i], w))
            return false;
    if (nseen == MAXW)
        bail("state space larger than %d", MAXW);
    seen[nseen++] = *w;
    return true;
}

static void push(unsigned char *q, unsigned char m)
{
    int i;

    for (i = 0; i < QLEN; i++)
        if (q[i] == M_NONE) {
            q[i] = m;
            return;
        }
    bail("queue overflow");
}

static unsigned char pop(unsigned char *q)
{
    unsigned char m = q[0];

    memmove(q, q + 1, QLEN - 1);
    q[QLEN - 1] = M_NONE;
    return m;
}

static void explore(world w);

/*
 * The source step under test: the real one, or one that guesses "the
 * target did not get go" and resumes after a lost link, to prove that the
 * exploration catches a doubled domain.
 */
static libxlmig__hsrc_action (*src_step)(libxlmig__hsrc_state *,
                                         libxlmig__hsrc_event);

static libxlmig__hsrc_action guessing_step(libxlmig__hsrc_state *st,
                                           libxlmig__hsrc_event ev)
{
    if (*st == HSRC_GO_SENT && ev == HSRC_EV_FAILURE) {
        *st = HSRC_RESUMED;
        return HSRC_ACT_RESUME_SOURCE;
    }
    return libxlmig__hsrc_step(st, ev);
}

/* Perform a source action in w (may recurse into the target). */
static void src_do(world *w, libxlmig__hsrc_action a)
{
    libxlmig__htgt_state ts;
    libxlmig__htgt_action ta;
    libxlmig__hsrc_state ss;

    switch (a) {
    case HSRC_ACT_SEND_GO:
        if (w->link_up) push(w->to_tgt, M_GO);
        break;
    case HSRC_ACT_RESUME_SOURCE:
        if (w->link_up) push(w->to_tgt, M_ABORT);
        break;
    case HSRC_ACT_RESOLVE:
        ss = w->src;
        if (w->alt_up) {
            ts = w->tgt;
            ta = libxlmig__htgt_step(&ts, HTGT_EV_RESOLVE);
            if (ta == HTGT_ACT_INVALID) invalid++;
            w->tgt = ts;
            a = libxlmig__hsrc_step(&ss, ts == HTGT_COMMITTED
                                    ? HSRC_EV_TARGET_RUNNING
                                    : HSRC_EV_TARGET_ABORTED);
        } else {
            a = libxlmig__hsrc_step(&ss, HSRC_EV_UNREACHABLE);
        }
        if (a == HSRC_ACT_INVALID) invalid++;
        w->src = ss;
        break;
    case HSRC_ACT_INVALID:
        invalid++;
        break;
    default:
        break;
    }
}

static void tgt_do(world *w, libxlmig__htgt_action a)
{
    switch (a) {
    case HTGT_ACT_SEND_READY:
        if (w->link_up) push(w->to_src, M_READY);
        break;
    case HTGT_ACT_UNPAUSE_CONFIRM:
        if (w->link_up) push(w->to_src, M_CONFIRM);
        break;
    case HTGT_ACT_INVALID:
        invalid++;
        break;
    default:
        break;
    }
}

static void src_event(world w, libxlmig__hsrc_event ev)
{
    libxlmig__hsrc_state s = w.src;
    libxlmig__hsrc_action a = src_step(&s, ev);

    w.src = s;
    src_do(&w, a);
    explore(w);
}

static void tgt_event(world w, libxlmig__htgt_event ev)
{
    libxlmig__htgt_state s = w.tgt;
    libxlmig__htgt_action a = libxlmig__htgt_step(&s, ev);

    w.tgt = s;
    tgt_do(&w, a);
    if (a == HTGT_ACT_DESTROY || (ev == HTGT_EV_FAILURE && w.link_up)) {
        /* The target closes the connection when it gives up. */
        w.link_up = 0;
        memset(w.to_tgt, 0, QLEN);
        memset(w.to_src, 0, QLEN);
    }
    explore(w);
}

static void check(const world *w, bool end)
{
    bool s = libxlmig__hsrc_copy_runs(w->src);
    bool t = libxlmig__htgt_copy_runs(w->tgt);

    if (s && t) {
        violations++;
        if (src_step == libxlmig__hsrc_step)
            diag("both copies run: src %s tgt %s",
             libxlmig__hsrc_state_to_string(w->src),
             libxlmig__htgt_state_to_string(w->tgt));
    }
    if (!end)
        return;
    finals++;
    if (w->src == HSRC_AMBIGUOUS) {
        libxlmig__hsrc_state ss = w->src;
        libxlmig__htgt_state ts = w->tgt;

        /* `xlmig recover` once a network answers again. */
        ambiguous++;
        libxlmig__htgt_step(&ts, HTGT_EV_RESOLVE);
        libxlmig__hsrc_step(&ss, ts == HTGT_COMMITTED
                            ? HSRC_EV_TARGET_RUNNING
                            : HSRC_EV_TARGET_ABORTED);
        s = libxlmig__hsrc_copy_runs(ss);
        t = libxlmig__htgt_copy_runs(ts);
    }
    if (s == t) {
        violations++;
        if (src_step == libxlmig__hsrc_step)
            diag("end state with %s copies: src %s tgt %s", s ? "two" : "no",
             libxlmig__hsrc_state_to_string(w->src),
             libxlmig__htgt_state_to_string(w->tgt));
    }
}

static void explore(world w)
{
    world n;
    bool any = false;

    if (!mark_seen(&w))
        return;
    states++;
    check(&w, false);

    /* Source makes progress. */
    if (w.src == HSRC_PRECOPY && w.link_up) {
        n = w;
        push(n.to_tgt, M_STREAM);
        any = true;
        src_event(n, HSRC_EV_STREAM_SENT);
    }
    /* Deliver the head message either way. */
    if (w.link_up && w.to_tgt[0] != M_NONE) {
        n = w;
        any = true;
        switch (pop(n.to_tgt)) {
        case M_STREAM: tgt_event(n, HTGT_EV_STREAM_COMPLETE); break;
        case M_GO: tgt_event(n, HTGT_EV_GO); break;
        case M_ABORT: tgt_event(n, HTGT_EV_ABORT); break;
        default: bail("bad message to target");
        }
    }
    if (w.link_up && w.to_src[0] != M_NONE) {
        n = w;
        any = true;
        switch (pop(n.to_src)) {
        case M_READY:
            if (n.src == HSRC_AWAIT_READY) src_event(n, HSRC_EV_READY);
            else explore(n);   /* stale: source already gave up */
            break;
        case M_CONFIRM:
            if (n.src == HSRC_GO_SENT || n.src == HSRC_RESOLVING)
                src_event(n, HSRC_EV_CONFIRM);
            else explore(n);
            break;
        default: bail("bad message to source");
        }
    }
    /* The link fails, losing everything in flight. */
    if (w.link_up) {
        n = w;
        n.link_up = 0;
        memset(n.to_tgt, 0, QLEN);
        memset(n.to_src, 0, QLEN);
        any = true;
        explore(n);
        /* ... possibly together with the other network. */
        if (w.alt_up) {
            n.alt_up = 0;
            explore(n);
        }
    }
    /* Each side notices a dead link once. */
    if (!w.link_up && !w.src_saw_fail && !libxlmig__hsrc_is_final(w.src) &&
        w.src != HSRC_AMBIGUOUS) {
        n = w;
        n.src_saw_fail = 1;
        any = true;
        src_event(n, HSRC_EV_FAILURE);
    }
    if (!w.link_up && !w.tgt_saw_fail && !libxlmig__htgt_is_final(w.tgt)) {
        n = w;
        n.tgt_saw_fail = 1;
        any = true;
        tgt_event(n, HTGT_EV_FAILURE);
    }
    /* The target's wait for go times out while the link is up. */
    if (w.link_up && w.tgt == HTGT_AWAIT_GO && !w.timed_out) {
        n = w;
        n.timed_out = 1;
        any = true;
        tgt_event(n, HTGT_EV_FAILURE);
    }
    /* The user cancels. */
    if (!w.cancelled && !libxlmig__hsrc_is_final(w.src)) {
        n = w;
        n.cancelled = 1;
        any = true;
        src_event(n, HSRC_EV_CANCEL);
    }
    if (!any)
        check(&w, true);
}

int main(void)
{
    world w;
    size_t i;
    int alt;

    plan_lazy();
    for (i = 0; i < ARRAY_SIZE(src_cases); i++) {
        libxlmig__hsrc_state s = src_cases[i].from;
        libxlmig__hsrc_action a = libxlmig__hsrc_step(&s, src_cases[i].ev);

        ok(s == src_cases[i].to && a == src_cases[i].act,
           "source: %s (%s --%s--> %s, %s)", src_cases[i].name,
           libxlmig__hsrc_state_to_string(src_cases[i].from),
           libxlmig__hsrc_event_to_string(src_cases[i].ev),
           libxlmig__hsrc_state_to_string(s),
           libxlmig__hsrc_action_to_string(a));
    }
    for (i = 0; i < ARRAY_SIZE(tgt_cases); i++) {
        libxlmig__htgt_state s = tgt_cases[i].from;
        libxlmig__htgt_action a = libxlmig__htgt_step(&s, tgt_cases[i].ev);

        ok(s == tgt_cases[i].to && a == tgt_cases[i].act,
           "target: %s (%s --%s--> %s, %s)", tgt_cases[i].name,
           libxlmig__htgt_state_to_string(tgt_cases[i].from),
           libxlmig__htgt_event_to_string(tgt_cases[i].ev),
           libxlmig__htgt_state_to_string(s),
           libxlmig__htgt_action_to_string(a));
    }

    src_step = libxlmig__hsrc_step;
    for (alt = 0; alt <= 1; alt++) {
        nseen = states = finals = ambiguous = violations = invalid = 0;
        memset(&w, 0, sizeof(w));
        w.src = HSRC_PRECOPY;
        w.tgt = HTGT_RECEIVING;
        w.link_up = 1;
        w.alt_up = (unsigned char)alt;
        explore(w);
        diag("second network %s: %lu states, %lu end states, %lu ambiguous",
             alt ? "up" : "down", states, finals, ambiguous);
        ok(states > 30, "exploration reached %lu states", states);
        is_int(0, (long long)violations,
               "never two copies running, exactly one at the end "
               "(second network %s)", alt ? "up" : "down");
        is_int(0, (long long)invalid,
               "no impossible event reached (second network %s)",
               alt ? "up" : "down");
        if (alt)
            ok(ambiguous > 0, "ambiguity arises only when the second "
               "network fails too (%lu)", ambiguous);
        else
            ok(ambiguous > 0, "without a second network some lost links "
               "after go are reported as ambiguous (%lu)", ambiguous);
    }

    /* The checker itself: xl's guess after a lost go must be caught. */
    src_step = guessing_step;
    nseen = states = finals = ambiguous = violations = invalid = 0;
    memset(&w, 0, sizeof(w));
    w.src = HSRC_PRECOPY;
    w.tgt = HTGT_RECEIVING;
    w.link_up = 1;
    explore(w);
    ok(violations > 0, "a source that guesses after go is caught running "
       "the domain twice (%lu violations)", violations);
    return 0;
}
