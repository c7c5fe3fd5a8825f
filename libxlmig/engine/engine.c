/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The migration engine.  Sending: setup, round 0 (every page), pre-copy
 * rounds driven by the dirty log and the pre-copy policy, with the guest
 * throttled when rounds stop shrinking, then stop-and-copy (pause, the
 * last dirty pages, vCPU state) and the end record.  Receiving: check and
 * apply a stream into a paused domain, destroying it on any error.  The
 * engine owns the job's state and is its only writer.
 */
#include <pthread.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/tunables.h"
#include "engine/engine.h"

/* Rounds smaller than this do not update the bandwidth estimate. */
#define ENGINE_MIN_BW_SAMPLE (4ULL << 20)     /* bytes */
#define THROTTLE_PERIOD_US 10000              /* duty cycle period (us) */
#define RESTORE_MAX_BATCH 4096                /* pages per batch record */

typedef struct mig_job {
    libxlmig__gc *gc;
    int64_t domid;
    libxlmig_state state;          /* written only by mig_set_state */
} mig_job;

/* Sole writer of job->state; fails unless still in `from`. */
static bool mig_set_state(mig_job *job, libxlmig_state from,
                          libxlmig_state to)
{
    libxlmig__gc *gc = job->gc;

    if (job->state != from)
        return false;
    job->state = to;
    LOGD(DEBUG, job->domid, "state %s -> %s",
         libxlmig_state_to_string(from), libxlmig_state_to_string(to));
    return true;
}

/* ---- auto-converge: duty-cycled stop/continue of the guest -------- */
typedef struct throttle {
    const libxlmig__mig_source *src;
    pthread_t thread;
    bool started;
    volatile uint32_t pct;
    volatile bool quit;
} throttle;

static void *throttle_main(void *arg)
{
    throttle *t = arg;
    uint32_t p;

    while (!t->quit) {
        p = t->pct;
        if (!p) {
            usleep(THROTTLE_PERIOD_US);
            continue;
        }
        t->src->throttle(t->src->priv, true);
        usleep(THROTTLE_PERIOD_US / 100 * p);
        t->src->throttle(t->src->priv, false);
        usleep(THROTTLE_PERIOD_US / 100 * (100 - p));
    }
    return NULL;
}

static void throttle_set(throttle *t, uint32_t pct)
{
    t->pct = pct;
    if (pct && !t->started && t->src->throttle) {
        t->quit = false;
        t->started = !pthread_create(&t->thread, NULL, throttle_main, t);
    }
}

/* Stops the thread; the guest is left running (continued). */
static void throttle_stop(throttle *t)
{
    if (!t->started) return;
    t->quit = true;
    pthread_join(t->thread, NULL);
    t->started = false;
}

/* ---- sending -------------------------------------------------------- */

/*
 * One save.  libxlmig__engine_save runs the phases below in the order
 * they appear (setup, round 0, pre-copy, stop-and-copy, end) on this
 * state, which it owns; send_finish releases it whatever the outcome.
 */
typedef struct send_ctx {
    /* caller-set */
    libxlmig__gc *gc;
    const libxlmig__mig_source *src;
    libxlmig__transport *t;
    const libxlmig__engine_opts *o;
    libxlmig_stats *st;
    /* private */
    mig_job job;
    libxlmig__batch_writer *w;     /* owned; w->t set once complete */
    unsigned long *bitmap;         /* pages of the next round (owned) */
    throttle thr;
    libxlmig__precopy_input in;    /* the policy's input, kept between
                                    * rounds */
    bool paused;                   /* the guest, by us */
    double bw;                     /* estimate (bytes/s) */
    uint64_t t_start;              /* us */
    uint64_t t_round;              /* us, when the last round started */
    uint64_t dt;                   /* us, the last pre-copy round took */
    uint64_t t_pause;              /* us, when the guest was paused */
    uint64_t t_xfer;               /* us, spent sending rounds */
    uint64_t drop_pfn;             /* test knob; UINT64_MAX: off */
} send_ctx;

/* The writer's recheck: collect writes of first..last-1 into w->next. */
static int engine_recheck(libxlmig__gc *gc, void *priv, uint64_t first,
                          uint64_t last)
{
    send_ctx *sc = priv;

    return sc->src->clean_range(gc, sc->src->priv, first, last, sc->w->next,
                                NULL);
}

/* Move the writes collected while sending into bitmap; returns the
 * number of pages set in bitmap. */
static uint64_t merge_next(send_ctx *sc, unsigned long *bitmap)
{
    uint64_t i, n = 0, words = bitmap_longs(sc->src->nr_pages);

    for (i = 0; i < words; i++) {
        if (sc->w->next) {
            bitmap[i] |= sc->w->next[i];
            sc->w->next[i] = 0;
        }
        n += __builtin_popcountl(bitmap[i]);
    }
    return n;
}

static int send_page(send_ctx *sc, uint64_t pfn)
{
    if (pfn == sc->drop_pfn)
        return 0;
    return libxlmig__batch_add(sc->gc, sc->w, pfn);
}

/* Send every page set in bitmap, clearing it; counts into st. */
static int send_bitmap(send_ctx *sc, unsigned long *bitmap, uint64_t *n_r)
{
    uint64_t i, b, n = 0;
    unsigned long word;
    int rc;

    for (i = 0; i < bitmap_longs(sc->src->nr_pages); i++) {
        word = bitmap[i];
        if (!word) continue;
        bitmap[i] = 0;
        while (word) {
            b = __builtin_ctzl(word);
            word &= word - 1;
            rc = send_page(sc, i * LIBXLMIG__BPL + b);
            if (rc) return rc;
            n++;
        }
    }
    rc = libxlmig__batch_flush(sc->gc, sc->w);
    if (rc) return rc;
    *n_r = n;
    return 0;
}

/* The first page in the upper half that holds data: what the test knob
 * XLMIG_TEST_DROP_PAGE never sends, to prove verification catches it. */
static uint64_t pick_drop_pfn(const libxlmig__mig_source *src)
{
    uint64_t pfn, i;
    const uint64_t *p;

    for (pfn = src->nr_pages / 2; pfn < src->nr_pages; pfn++) {
        p = (const uint64_t *)(src->mem + (pfn << LIBXLMIG__PAGE_SHIFT));
        for (i = 0; i < LIBXLMIG__PAGE_SIZE / 8; i++)
            if (p[i]) return pfn;
    }
    return UINT64_MAX;
}

static void progress(send_ctx *sc)
{
    sc->st->total_time_ms = (libxlmig__now_us() - sc->t_start) / 1000;
    if (sc->w && sc->w->t) {
        sc->st->total_bytes = sc->w->bytes + sizeof(libxlmig__stream_hdr);
        sc->st->normal_pages = sc->w->total_data;
        sc->st->zero_pages = sc->w->total_zero;
        sc->st->by_ref_bytes = sc->w->t->bytes_by_ref;
    }
    if (sc->o->progress)
        sc->o->progress(sc->o->progress_user, sc->st);
}

static void send_ctx_init(send_ctx *sc, libxlmig__gc *gc,
                          const libxlmig__mig_source *src,
                          libxlmig__transport *t,
                          const libxlmig__engine_opts *o, libxlmig_stats *st)
{
    memset(st, 0, sizeof(*st));
    memset(sc, 0, sizeof(*sc));
    sc->gc = gc;
    sc->src = src;
    sc->t = t;
    sc->o = o;
    sc->st = st;
    sc->t_start = libxlmig__now_us();
    sc->job.gc = gc;
    sc->job.domid = src->domid;
    sc->job.state = LIBXLMIG_STATE_SETUP;
    sc->thr.src = src;
    sc->drop_pfn = UINT64_MAX;
    st->nr_pages = src->nr_pages;
    st->state = sc->job.state;
}

/* The batch writer with its buffers, and the dirty bitmap. */
static int send_alloc(send_ctx *sc)
{
    libxlmig__gc *gc = sc->gc;
    const libxlmig__mig_source *src = sc->src;
    libxlmig__batch_writer *w;

    sc->w = w = calloc(1, sizeof(*w));
    sc->bitmap = calloc(bitmap_longs(src->nr_pages), sizeof(*sc->bitmap));
    if (w) {
        w->data = malloc(LIBXLMIG__BATCH_PAGES * LIBXLMIG__PAGE_SIZE);
        w->crcs = malloc((2 * LIBXLMIG__BATCH_PAGES + 2) * sizeof(uint32_t));
        w->next = calloc(bitmap_longs(src->nr_pages), sizeof(*sc->bitmap));
    }
    if (!w || !sc->bitmap || !w->data || !w->crcs || !w->next) {
        LOG(ERROR, "out of memory for the migration of domain %lld",
            (long long)src->domid);
        return LIBXLMIG_ERROR_NOMEM;
    }
    w->t = sc->t;
    w->by_ref = sc->o->pages_by_ref;
    w->sealed = libxlmig__transport_sealed(sc->t);
    w->mem = src->mem;
    w->nr_pages = src->nr_pages;
    if (sc->o->live && src->clean_range && !libxlmig__tunable_engine_copy()) {
        w->recheck = engine_recheck;
        w->recheck_priv = sc;
    }
    return 0;
}

/* Setup: the stream header and the domain config record, then the guest
 * paused (not live) or its dirty log started (live). */
static int send_setup(send_ctx *sc)
{
    libxlmig__gc *gc = sc->gc;
    const libxlmig__mig_source *src = sc->src;
    int rc;

    rc = send_alloc(sc);
    if (rc) return rc;
    /* The transport keeps the limit (over every path of a migration). */
    libxlmig__transport_set_limit(sc->t, sc->o->params.bandwidth_limit);
    rc = libxlmig__stream_write_header(gc, sc->t, src->nr_pages);
    if (rc) return rc;
    rc = libxlmig__stream_write_record(gc, sc->t, LIBXLMIG__REC_DOMAIN_CONFIG,
                                       src->config_json,
                                       strlen(src->config_json));
    if (rc) return rc;
    if (!sc->o->live) {
        rc = src->pause(gc, src->priv);
        if (rc) return rc;
        sc->paused = true;
        sc->w->stable = true;
        sc->t_pause = libxlmig__now_us();
    } else {
        /* Start the dirty log: round 0 sends what is there now. */
        rc = src->clean_dirty(gc, src->priv, NULL, NULL);
        if (rc) return rc;
    }
    if (libxlmig__fault_drop_page()) {
        sc->drop_pfn = pick_drop_pfn(src);
        LOGD(WARN, src->domid, "test knob XLMIG_TEST_DROP_PAGE: page %llu "
             "will never be sent", (unsigned long long)sc->drop_pfn);
    }
    sc->st->setup_time_ms = (libxlmig__now_us() - sc->t_start) / 1000;
    mig_set_state(&sc->job, LIBXLMIG_STATE_SETUP,
                  sc->paused ? LIBXLMIG_STATE_STOP_AND_COPY
                             : LIBXLMIG_STATE_PRECOPY);
    sc->st->state = sc->job.state;
    return 0;
}

/* Round 0: every page.  Starts the bandwidth limiter and estimate. */
static int send_round0(send_ctx *sc)
{
    const libxlmig__mig_source *src = sc->src;
    libxlmig__batch_writer *w = sc->w;
    libxlmig_stats *st = sc->st;
    uint64_t n;
    int rc;

    sc->t_round = libxlmig__now_us();
    libxlmig__fault("src", "round", libxlmig__transport_fd(sc->t));
    for (n = 0; n < src->nr_pages; n++) {
        rc = send_page(sc, n);
        if (rc) return rc;
    }
    rc = libxlmig__batch_flush(sc->gc, w);
    if (rc) return rc;
    sc->dt = libxlmig__now_us() - sc->t_round;
    sc->t_xfer += sc->dt;
    sc->bw = sc->dt ? w->bytes * 1e6 / sc->dt : 0;
    st->round_pages = src->nr_pages;
    st->bandwidth = (uint64_t)sc->bw;
    sc->in.last_round_bytes = w->bytes;
    if (sc->paused) {
        st->downtime_bytes = w->bytes;
    } else {
        st->precopy_bytes = w->bytes;
        progress(sc);
    }
    return 0;
}

/* Scan the dirty log (at t_scan) into sc->bitmap and ask the pre-copy
 * policy what next; *d_r is its decision. */
static int precopy_scan(send_ctx *sc, uint64_t t_scan,
                        libxlmig__precopy_decision *d_r)
{
    libxlmig__gc *gc = sc->gc;
    const libxlmig__mig_source *src = sc->src;
    libxlmig__precopy_input *in = &sc->in;
    libxlmig_stats *st = sc->st;
    uint64_t count;
    int rc;

    rc = src->clean_dirty(gc, src->priv, sc->bitmap, &count);
    if (rc) return rc;
    count = merge_next(sc, sc->bitmap);
    if (sc->drop_pfn != UINT64_MAX && bitmap_test(sc->bitmap, sc->drop_pfn)) {
        bitmap_clear(sc->bitmap, sc->drop_pfn);
        count--;
    }
    in->round = st->round + 1;
    in->prev_dirty_bytes = in->dirty_bytes;
    in->dirty_bytes = count * LIBXLMIG__PAGE_SIZE;
    in->bandwidth_bps = sc->bw;
    in->elapsed_ms = (t_scan - sc->t_start) / 1000 - st->setup_time_ms;
    in->throttle_pct = sc->thr.pct;
    *d_r = libxlmig__precopy_decide(&sc->o->params, in);
    in->stalled_rounds = d_r->stalled_rounds;
    st->remaining_bytes = in->dirty_bytes;
    st->expected_downtime_ms = d_r->expected_downtime_ms;
    st->dirty_rate = sc->dt ? count * 1000000ULL / (t_scan - sc->t_round)
                            : 0;
    LOGD(DEBUG, src->domid, "round %u: %llu dirty pages; %s",
         in->round, (unsigned long long)count, d_r->reason);
    return 0;
}

/* The guest's throttle as the policy decided, in the statistics too. */
static void precopy_throttle(send_ctx *sc,
                             const libxlmig__precopy_decision *d)
{
    libxlmig__gc *gc = sc->gc;
    libxlmig_stats *st = sc->st;

    if (d->throttle_pct != sc->thr.pct) {
        LOGD(INFO, sc->src->domid, "throttling the guest to %u%%",
             d->throttle_pct);
        throttle_set(&sc->thr, d->throttle_pct);
    }
    st->throttle_pct = sc->thr.pct;
    if (sc->thr.pct > st->throttle_max_pct)
        st->throttle_max_pct = sc->thr.pct;
}

/* One pre-copy round: the pages scanned into sc->bitmap. */
static int precopy_round(send_ctx *sc)
{
    libxlmig__batch_writer *w = sc->w;
    libxlmig_stats *st = sc->st;
    uint64_t bytes0, n;
    int rc;

    sc->t_round = libxlmig__now_us();
    bytes0 = w->bytes;
    libxlmig__fault("src", "round", libxlmig__transport_fd(sc->t));
    rc = send_bitmap(sc, sc->bitmap, &n);
    if (rc) return rc;
    sc->dt = libxlmig__now_us() - sc->t_round;
    sc->t_xfer += sc->dt;
    if (w->bytes - bytes0 >= ENGINE_MIN_BW_SAMPLE && sc->dt)
        sc->bw = (w->bytes - bytes0) * 1e6 / sc->dt;
    st->round++;
    st->round_pages = n;
    st->precopy_bytes = w->bytes;
    st->bandwidth = (uint64_t)sc->bw;
    sc->in.last_round_bytes = w->bytes - bytes0;
    progress(sc);
    return 0;
}

/* Pre-copy rounds while the guest runs: 0 once the policy calls for
 * stop-and-copy; fails if it gives up or the requester goes away. */
static int send_precopy(send_ctx *sc)
{
    libxlmig__gc *gc = sc->gc;
    const libxlmig__engine_opts *o = sc->o;
    libxlmig__precopy_decision d;
    uint64_t t_scan;
    int rc;

    for (;;) {
        t_scan = libxlmig__now_us();
        if (o->cancelled && o->cancelled(o->progress_user)) {
            throttle_stop(&sc->thr);
            mig_set_state(&sc->job, LIBXLMIG_STATE_PRECOPY,
                          LIBXLMIG_STATE_ABORTED);
            LOGD(ERROR, sc->src->domid, "migration cancelled: the "
                 "requester went away");
            return LIBXLMIG_ERROR_CANCELLED;
        }
        rc = precopy_scan(sc, t_scan, &d);
        if (rc) return rc;
        if (d.action == LIBXLMIG__PRECOPY_STOP_AND_COPY)
            return 0;
        if (d.action == LIBXLMIG__PRECOPY_ABORT) {
            throttle_stop(&sc->thr);
            mig_set_state(&sc->job, LIBXLMIG_STATE_PRECOPY,
                          LIBXLMIG_STATE_ABORTED);
            sc->st->state = sc->job.state;
            LOGD(ERROR, sc->src->domid, "migration aborted after %u "
                 "rounds: %s", sc->in.round, d.reason);
            return LIBXLMIG_ERROR_TIMEOUT;
        }
        precopy_throttle(sc, &d);
        rc = precopy_round(sc);
        if (rc) return rc;
    }
}

/*
 * Before the pause, the stream lets what it already wrote reach the
 * target, for at most the downtime limit: a socket's send queue or the
 * paths' window holds up to tens of MiB, which would otherwise drain at
 * the link's pace with the guest paused, on top of the pages the policy
 * counted.  The guest dirties pages meanwhile, but fewer than the link
 * sends in that time wherever pre-copy converges.  Bounded by the limit,
 * since what takes longer to drain would overrun it anyway and the guest
 * goes on dirtying pages: a path that died unnoticed (its data never
 * arrives) must not hold the pause back for long (measured: 2 s of
 * waiting there made stop-and-copy 550 ms instead of 12 ms).
 */
static int drain_before_pause_ms(const send_ctx *sc)
{
    uint64_t ms = sc->o->params.downtime_limit_ms;

    return ms < 1 ? 1 : ms > 1000 ? 1000 : (int)ms;
}

/* Stop-and-copy: pause the guest, send the pages it dirtied last. */
static int send_stop_and_copy(send_ctx *sc)
{
    libxlmig__gc *gc = sc->gc;
    const libxlmig__mig_source *src = sc->src;
    libxlmig__batch_writer *w = sc->w;
    libxlmig_stats *st = sc->st;
    uint64_t count, bytes0, n;
    int drain_ms = drain_before_pause_ms(sc), rc;

    throttle_stop(&sc->thr);
    if (sc->o->live && libxlmig__transport_drain(sc->t, drain_ms))
        LOGD(DEBUG, src->domid, "the stream had not reached the target "
             "after %d ms; pausing all the same", drain_ms);
    mig_set_state(&sc->job, LIBXLMIG_STATE_PRECOPY,
                  LIBXLMIG_STATE_STOP_AND_COPY);
    st->state = sc->job.state;
    sc->t_pause = libxlmig__now_us();
    rc = src->pause(gc, src->priv);
    if (rc) return rc;
    sc->paused = true;
    w->stable = true;
    libxlmig__fault("src", "stopcopy", libxlmig__transport_fd(sc->t));
    rc = src->clean_dirty(gc, src->priv, sc->bitmap, &count);
    if (rc) return rc;
    merge_next(sc, sc->bitmap);
    if (sc->drop_pfn != UINT64_MAX)
        bitmap_clear(sc->bitmap, sc->drop_pfn);
    sc->t_round = libxlmig__now_us();
    bytes0 = w->bytes;
    rc = send_bitmap(sc, sc->bitmap, &n);
    if (rc) return rc;
    sc->t_xfer += libxlmig__now_us() - sc->t_round;
    st->round++;
    st->round_pages = n;
    st->downtime_bytes = w->bytes - bytes0;
    return 0;
}

/* The vCPU state and the end record, from the paused guest. */
static int send_end(send_ctx *sc)
{
    libxlmig__gc *gc = sc->gc;
    const libxlmig__mig_source *src = sc->src;
    void *vcpu = NULL;
    uint32_t vcpu_len = 0;
    int rc;

    rc = src->vcpu_state(gc, src->priv, &vcpu, &vcpu_len);
    if (rc) goto out;
    rc = libxlmig__stream_write_record(gc, sc->t, LIBXLMIG__REC_VCPU_STATE,
                                       vcpu, vcpu_len);
    if (rc) goto out;
    rc = libxlmig__stream_write_record(gc, sc->t, LIBXLMIG__REC_END, NULL, 0);
    if (rc) goto out;
    sc->st->downtime_us = libxlmig__now_us() - sc->t_pause;
    mig_set_state(&sc->job, LIBXLMIG_STATE_STOP_AND_COPY,
                  LIBXLMIG_STATE_DONE);
    sc->st->state = sc->job.state;
    sc->st->remaining_bytes = 0;
    rc = 0;
 out:
    free(vcpu);
    return rc;
}

/* The final statistics and state for outcome rc; a failed live
 * migration leaves the guest running.  Frees what sc owns. */
static void send_finish(send_ctx *sc, int rc)
{
    libxlmig__gc *gc = sc->gc;
    libxlmig__batch_writer *w = sc->w;
    libxlmig_stats *st = sc->st;

    throttle_stop(&sc->thr);
    if (w) {
        st->total_bytes = w->bytes + sizeof(libxlmig__stream_hdr);
        if (sc->t_xfer)
            st->throughput = (uint64_t)(w->bytes * 1e6 / sc->t_xfer);
    }
    if (rc) {
        /* Failed or aborted: the source keeps running as before. */
        if (sc->paused && sc->o->live)
            sc->src->unpause(gc, sc->src->priv);
        mig_set_state(&sc->job, sc->job.state, LIBXLMIG_STATE_ABORTED);
    }
    st->state = sc->job.state;
    if (w) {
        st->normal_pages = w->total_data;
        st->zero_pages = w->total_zero;
    }
    progress(sc);
    if (w) {
        free(w->data);
        free(w->crcs);
        free(w->next);
    }
    free(w);
    free(sc->bitmap);
}

int libxlmig__engine_save(libxlmig__gc *gc, const libxlmig__mig_source *src,
                          libxlmig__transport *t,
                          const libxlmig__engine_opts *o, libxlmig_stats *st)
{
    send_ctx sc;
    int rc;

    send_ctx_init(&sc, gc, src, t, o, st);
    rc = send_setup(&sc);
    if (rc) goto out;
    rc = send_round0(&sc);
    if (rc) goto out;
    if (!sc.paused) {
        rc = send_precopy(&sc);
        if (rc) goto out;
        rc = send_stop_and_copy(&sc);
        if (rc) goto out;
    }
    rc = send_end(&sc);
 out:
    send_finish(&sc, rc);
    return rc;
}

/* ---- receiving ------------------------------------------------------ */

static const char *rec_name(uint32_t type)
{
    switch (type) {
    case LIBXLMIG__REC_END: return "end record";
    case LIBXLMIG__REC_DOMAIN_CONFIG: return "domain config record";
    case LIBXLMIG__REC_PAGE_BATCH: return "page batch record";
    case LIBXLMIG__REC_VCPU_STATE: return "vCPU state record";
    case LIBXLMIG__REC_ROUND: return "round record";
    case LIBXLMIG__REC_PAGE_DATA: return "page data record";
    case LIBXLMIG__REC_PAGE_CHECK: return "page check record";
    }
    return "record";
}

static bool mem_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    size_t i;

    for (i = 0; i < LIBXLMIG__PAGE_SIZE / 8; i++)
        if (w[i]) return false;
    return true;
}

/* Pages a PAGE_DATA record brought, awaiting their PAGE_CHECK. */
typedef struct pending_check {
    bool open;
    bool by_ref;                        /* LIBXLMIG__BATCH_BY_REF */
    bool sealed;                        /* LIBXLMIG__BATCH_SEALED */
    uint32_t ndata;
    uint64_t pfns[RESTORE_MAX_BATCH];
    uint32_t crcs[RESTORE_MAX_BATCH];   /* of each page as it arrived */
} pending_check;

/*
 * One restore.  libxlmig__engine_restore reads the stream record by
 * record into this state, which it owns; recv_finish releases it
 * whatever the outcome.
 */
typedef struct recv_ctx {
    /* caller-set */
    libxlmig__gc *gc;
    const libxlmig__mig_sink *sink;
    libxlmig__transport *t;
    libxlmig_stats *st;
    /* private */
    mig_job job;
    uint64_t t0;                        /* us */
    uint64_t nr_pages;                  /* from the stream header */
    uint8_t *mem;                       /* guest RAM, once created */
    uint64_t *pfns;                     /* RESTORE_MAX_BATCH (owned) */
    char *body;                         /* of the last record other than
                                         * a page batch (owned) */
    unsigned long *must_resend;         /* nr_pages bits (owned) */
    unsigned long *written;             /* nr_pages bits (owned) */
    pending_check *pc;                  /* owned */
    bool created;                       /* sink->create succeeded */
    bool have_vcpu;                     /* vCPU state record applied */
} recv_ctx;

/* Read a part of the stream; what names it in messages. */
static int stream_read(libxlmig__gc *gc, libxlmig__transport *t, void *buf,
                       size_t len, const char *part)
{
    char what[64];

    snprintf(what, sizeof(what), "migration stream (%s)", part);
    return libxlmig__transport_read_all(gc, t, buf, len, what);
}

/* Data pages read, then checksummed, at a time: small enough to be still
 * in the CPU's cache when checksummed right after the kernel's copy. */
#define RESTORE_SLICE_PAGES 64

/* A batch body's head and page list, checked, into head and rx->pfns;
 * *crc_r continues.  by_ref_ok: the record may be sent by reference. */
static int batch_read_pfns(recv_ctx *rx, uint32_t body_len, bool by_ref_ok,
                           uint32_t head[2], uint32_t *crc_r)
{
    libxlmig__gc *gc = rx->gc;
    uint64_t *pfns = rx->pfns, pfn, want;
    uint32_t i, ndata = 0;
    int rc;

    if (body_len < 8) {
        LOG(ERROR, "malformed page batch record: %u bytes", body_len);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    rc = stream_read(gc, rx->t, head, 8, "page batch record");
    if (rc) return rc;
    if (!head[0] || head[0] > RESTORE_MAX_BATCH ||
        8 + (uint64_t)head[0] * 8 > body_len) {
        LOG(ERROR, "malformed page batch record: %u pages in %u bytes",
            head[0], body_len);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (head[1] & ~((by_ref_ok ? LIBXLMIG__BATCH_BY_REF : 0) |
                    LIBXLMIG__BATCH_SEALED)) {
        LOG(ERROR, "malformed page batch record: unknown flags 0x%x",
            head[1]);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if ((head[1] & LIBXLMIG__BATCH_SEALED) &&
        !libxlmig__transport_sealed(rx->t)) {
        LOG(ERROR, "migration stream refused: its page data has no "
            "checksums, which only an authenticated transport (TLS) may "
            "leave out, and this one is %s",
            libxlmig__transport_security(rx->t));
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    rc = stream_read(gc, rx->t, pfns, head[0] * 8ULL, "page batch record");
    if (rc) return rc;
    *crc_r = libxlmig__crc32c(*crc_r, head, 8);
    *crc_r = libxlmig__crc32c(*crc_r, pfns, head[0] * 8ULL);
    for (i = 0; i < head[0]; i++) {
        pfn = pfns[i] & ~LIBXLMIG__PFN_ZERO;
        if (pfn >= rx->nr_pages) {
            LOG(ERROR, "migration stream: page %llu is out of range "
                "(the domain has %llu pages)", (unsigned long long)pfn,
                (unsigned long long)rx->nr_pages);
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        if (!(pfns[i] & LIBXLMIG__PFN_ZERO)) ndata++;
    }
    want = 8 + head[0] * 8ULL + (uint64_t)ndata * LIBXLMIG__PAGE_SIZE;
    if (want != body_len) {
        LOG(ERROR, "malformed page batch record: %u bytes for %u pages "
            "(%u with data)", body_len, head[0], ndata);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    return 0;
}

/* The zero pages among the npfns of rx->pfns.  written: NULL, or the
 * pages written so far of RAM that started zero. */
static void batch_zero_pages(recv_ctx *rx, uint32_t npfns,
                             unsigned long *written)
{
    const uint64_t *pfns = rx->pfns;
    uint8_t *mem = rx->mem;
    uint64_t pfn;
    uint32_t i;

    for (i = 0; i < npfns; i++) {
        if (!(pfns[i] & LIBXLMIG__PFN_ZERO)) continue;
        pfn = pfns[i] & LIBXLMIG__PFN_MASK;
        /* Untouched RAM of a fresh domain is zero already. */
        if ((!written || bitmap_test(written, pfn)) &&
            !mem_is_zero(mem + pfn * LIBXLMIG__PAGE_SIZE))
            memset(mem + pfn * LIBXLMIG__PAGE_SIZE, 0, LIBXLMIG__PAGE_SIZE);
        bitmap_clear(rx->must_resend, pfn);
        rx->st->zero_pages++;
    }
}

/* The data pages among the npfns of rx->pfns, a slice at a time, into
 * place; each checksummed into *crc_r, or (pc) one CRC per page, unless
 * sealed. */
static int batch_read_data(recv_ctx *rx, uint32_t npfns,
                           unsigned long *written, pending_check *pc,
                           bool sealed, uint32_t *crc_r)
{
    const uint64_t *pfns = rx->pfns;
    uint8_t *mem = rx->mem;
    libxlmig_stats *st = rx->st;
    unsigned long *must_resend = rx->must_resend;
    struct iovec iov[RESTORE_SLICE_PAGES];
    uint8_t *sp[RESTORE_SLICE_PAGES];
    uint32_t i = 0, crc = *crc_r, slice, j;
    uint64_t pfn;
    int n, rc;

    while (i < npfns) {
        for (n = 0, slice = 0; i < npfns && slice < RESTORE_SLICE_PAGES;
             i++) {
            if (pfns[i] & LIBXLMIG__PFN_ZERO) continue;
            pfn = pfns[i];
            if (written)
                bitmap_set(written, pfn);
            if (pc)
                pc->pfns[pc->ndata + slice] = pfn;
            else
                bitmap_clear(must_resend, pfn);
            st->normal_pages++;
            sp[slice++] = mem + (pfn << LIBXLMIG__PAGE_SHIFT);
            if (n && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len ==
                     sp[slice - 1]) {
                iov[n - 1].iov_len += LIBXLMIG__PAGE_SIZE;
            } else {
                iov[n].iov_base = sp[slice - 1];
                iov[n++].iov_len = LIBXLMIG__PAGE_SIZE;
            }
        }
        if (!slice) break;
        rc = libxlmig__transport_readv_all(rx->gc, rx->t, iov, n,
                                           "migration stream (page data)");
        if (rc) return rc;
        if (pc && sealed)
            pc->ndata += slice;
        for (j = 0; j < slice && !sealed; j++) {
            if (pc)
                pc->crcs[pc->ndata++] = libxlmig__crc32c(0, sp[j],
                                                         LIBXLMIG__PAGE_SIZE);
            else
                crc = libxlmig__crc32c(crc, sp[j], LIBXLMIG__PAGE_SIZE);
        }
    }
    *crc_r = crc;
    return 0;
}

/* Read one batch body straight into guest RAM; *crc_r continues.  pc:
 * a PAGE_DATA record, whose PAGE_CHECK comes next. */
static int restore_batch(recv_ctx *rx, uint32_t body_len, uint32_t *crc_r,
                         pending_check *pc)
{
    unsigned long *written = rx->sink->mem_zeroed ? rx->written : NULL;
    uint32_t head[2], crc = *crc_r;
    int rc;

    rc = batch_read_pfns(rx, body_len, pc != NULL, head, &crc);
    if (rc) return rc;
    if (pc) {
        pc->open = true;
        pc->by_ref = head[1] & LIBXLMIG__BATCH_BY_REF;
        pc->sealed = head[1] & LIBXLMIG__BATCH_SEALED;
        pc->ndata = 0;
    }
    /*
     * Zero pages first (no data), then the data straight into place, a
     * slice at a time, each checksummed while the CPU still has it: into
     * the record's CRC, or (PAGE_DATA) one CRC per page for PAGE_CHECK.
     */
    batch_zero_pages(rx, head[0], written);
    rc = batch_read_data(rx, head[0], written, pc,
                         head[1] & LIBXLMIG__BATCH_SEALED, &crc);
    if (rc) return rc;
    *crc_r = crc;
    return 0;
}

/* A PAGE_CHECK body against the PAGE_DATA before it. */
static int restore_check(libxlmig__gc *gc, const uint32_t *b, uint32_t len,
                         const uint8_t *mem, unsigned long *must_resend,
                         pending_check *pc)
{
    uint32_t ndata, nun, ncrc, k, u = 0;
    const uint32_t *crcs, *unstable;
    uint64_t pfn;

    if (!pc->open || len < 8) {
        LOG(ERROR, "malformed migration stream: page check record without "
            "its page data record");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    pc->open = false;
    ndata = b[0];
    nun = b[1];
    ncrc = pc->sealed ? 0 : ndata;     /* sealed: no CRCs */
    if (ndata != pc->ndata || nun > ndata ||
        len != (2ULL + ncrc + nun) * 4) {
        LOG(ERROR, "malformed page check record: %u pages (%u unstable) "
            "in %u bytes for %u data pages%s", ndata, nun, len, pc->ndata,
            pc->sealed ? " without checksums" : "");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    crcs = b + 2;
    unstable = crcs + ncrc;
    for (k = 0; k < ndata; k++) {
        pfn = pc->pfns[k];
        if (u < nun && unstable[u] == k) {
            /* Changed while sent: a later record must bring it. */
            bitmap_set(must_resend, pfn);
            u++;
            continue;
        }
        if (pc->sealed) {
            /* A write after the recheck is in the dirty log: resent. */
            bitmap_clear(must_resend, pfn);
            continue;
        }
        if (pc->crcs[k] != crcs[k] && pc->by_ref) {
            /* Written after the sender's recheck, before we read it:
             * in the dirty log, so a later record must bring it. */
            bitmap_set(must_resend, pfn);
            continue;
        }
        if (pc->crcs[k] != crcs[k]) {
            LOG(ERROR, "migration stream corrupted: checksum mismatch in "
                "page %llu", (unsigned long long)pfn);
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        bitmap_clear(must_resend, pfn);
    }
    if (u != nun) {
        LOG(ERROR, "malformed page check record: unstable page list not "
            "in order");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    return 0;
}

static void recv_ctx_init(recv_ctx *rx, libxlmig__gc *gc,
                          const libxlmig__mig_sink *sink,
                          libxlmig__transport *t, libxlmig_stats *st)
{
    memset(rx, 0, sizeof(*rx));
    rx->gc = gc;
    rx->sink = sink;
    rx->t = t;
    rx->st = st;
    rx->t0 = libxlmig__now_us();
    rx->job.gc = gc;
    rx->job.domid = -1;
    rx->job.state = LIBXLMIG_STATE_SETUP;
}

/* The stream header, and the buffers and bitmaps for its size. */
static int recv_setup(recv_ctx *rx)
{
    libxlmig_stats *st = rx->st;
    int rc;

    memset(st, 0, sizeof(*st));
    rx->pfns = malloc(RESTORE_MAX_BATCH * sizeof(*rx->pfns));
    rx->pc = calloc(1, sizeof(*rx->pc));
    if (!rx->pfns || !rx->pc) return LIBXLMIG_ERROR_NOMEM;
    rc = libxlmig__stream_read_header(rx->gc, rx->t, &rx->nr_pages);
    if (rc) return rc;
    rx->must_resend = calloc(bitmap_longs(rx->nr_pages),
                             sizeof(*rx->must_resend));
    rx->written = calloc(bitmap_longs(rx->nr_pages), sizeof(*rx->written));
    if (!rx->must_resend || !rx->written) return LIBXLMIG_ERROR_NOMEM;
    st->nr_pages = rx->nr_pages;
    st->total_bytes = sizeof(libxlmig__stream_hdr);
    return 0;
}

/* What a record header must satisfy before its body is read. */
static int recv_check_header(recv_ctx *rx, const libxlmig__rec_hdr *h)
{
    libxlmig__gc *gc = rx->gc;

    if (h->body_len > LIBXLMIG__REC_MAX_BODY) {
        LOG(ERROR, "malformed migration stream: %s of %u bytes "
            "(limit %u)", rec_name(h->type), h->body_len,
            LIBXLMIG__REC_MAX_BODY);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (h->type != LIBXLMIG__REC_DOMAIN_CONFIG && !rx->created) {
        LOG(ERROR, "malformed migration stream: %s before the domain "
            "config record", rec_name(h->type));
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (rx->pc->open && h->type != LIBXLMIG__REC_PAGE_CHECK) {
        LOG(ERROR, "malformed migration stream: page data record "
            "without its page check record");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    return 0;
}

/* A record's body: pages straight into guest RAM, anything else into
 * rx->body; *crc_r continues. */
static int recv_body(recv_ctx *rx, const libxlmig__rec_hdr *h,
                     uint32_t *crc_r)
{
    libxlmig__gc *gc = rx->gc;
    int rc;

    switch (h->type) {
    case LIBXLMIG__REC_PAGE_BATCH:
    case LIBXLMIG__REC_PAGE_DATA:
        return restore_batch(rx, h->body_len, crc_r,
                             h->type == LIBXLMIG__REC_PAGE_DATA ? rx->pc
                                                                : NULL);
    case LIBXLMIG__REC_PAGE_CHECK:
    case LIBXLMIG__REC_DOMAIN_CONFIG:
    case LIBXLMIG__REC_VCPU_STATE:
    case LIBXLMIG__REC_ROUND:
    case LIBXLMIG__REC_END:
        if ((h->type == LIBXLMIG__REC_DOMAIN_CONFIG && rx->created) ||
            (h->type == LIBXLMIG__REC_END && h->body_len)) {
            LOG(ERROR, "malformed migration stream: unexpected %s",
                rec_name(h->type));
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        free(rx->body);
        rx->body = malloc(h->body_len + 1);
        if (!rx->body) return LIBXLMIG_ERROR_NOMEM;
        rc = stream_read(gc, rx->t, rx->body, h->body_len,
                         rec_name(h->type));
        if (rc) return rc;
        rx->body[h->body_len] = 0;
        *crc_r = libxlmig__crc32c(*crc_r, rx->body, h->body_len);
        return 0;
    default:
        LOG(ERROR, "malformed migration stream: unknown record type %u",
            h->type);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
}

/* The end record: the vCPU state came, and every page that changed
 * while it was sent came again. */
static int recv_check_end(recv_ctx *rx)
{
    libxlmig__gc *gc = rx->gc;
    uint64_t i;

    if (!rx->have_vcpu) {
        LOG(ERROR, "malformed migration stream: end record without "
            "vCPU state");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    for (i = 0; i < bitmap_longs(rx->nr_pages); i++) {
        if (rx->must_resend[i]) {
            LOG(ERROR, "malformed migration stream: page %llu "
                "changed while it was sent and was never resent",
                (unsigned long long)(i * LIBXLMIG__BPL +
                                     __builtin_ctzl(rx->must_resend[i])));
            return LIBXLMIG_ERROR_PROTOCOL;
        }
    }
    return 0;
}

/* Act on a record read and checked whole. */
static int recv_apply(recv_ctx *rx, const libxlmig__rec_hdr *h)
{
    libxlmig__gc *gc = rx->gc;
    const libxlmig__mig_sink *sink = rx->sink;
    int rc;

    switch (h->type) {
    case LIBXLMIG__REC_DOMAIN_CONFIG:
        rc = sink->create(gc, sink->priv, rx->body, rx->nr_pages, &rx->mem);
        if (rc) return rc;
        rx->created = true;
        mig_set_state(&rx->job, LIBXLMIG_STATE_SETUP,
                      LIBXLMIG_STATE_PRECOPY);
        rx->st->setup_time_ms = (libxlmig__now_us() - rx->t0) / 1000;
        return 0;
    case LIBXLMIG__REC_PAGE_CHECK:
        return restore_check(gc, (const uint32_t *)rx->body, h->body_len,
                             rx->mem, rx->must_resend, rx->pc);
    case LIBXLMIG__REC_VCPU_STATE:
        rc = sink->vcpu_state(gc, sink->priv, rx->body, h->body_len);
        if (rc) return rc;
        rx->have_vcpu = true;
        return 0;
    case LIBXLMIG__REC_END:
        return recv_check_end(rx);
    }
    return 0;
}

/* The final statistics and state for outcome rc; a failed restore
 * destroys the domain.  Frees what rx owns. */
static void recv_finish(recv_ctx *rx, const libxlmig__engine_opts *o,
                        int rc)
{
    libxlmig__gc *gc = rx->gc;
    libxlmig_stats *st = rx->st;

    if (rc) {
        mig_set_state(&rx->job, rx->job.state, LIBXLMIG_STATE_ABORTED);
        if (rx->created)
            rx->sink->destroy(gc, rx->sink->priv);
    }
    st->state = rx->job.state;
    st->total_time_ms = (libxlmig__now_us() - rx->t0) / 1000;
    if (st->total_time_ms)
        st->throughput = st->total_bytes * 1000 / st->total_time_ms;
    if (o && o->progress)
        o->progress(o->progress_user, st);
    free(rx->body);
    free(rx->pfns);
    free(rx->pc);
    free(rx->must_resend);
    free(rx->written);
}

int libxlmig__engine_restore(libxlmig__gc *gc, const libxlmig__mig_sink *sink,
                             libxlmig__transport *t,
                             const libxlmig__engine_opts *o,
                             libxlmig_stats *st)
{
    recv_ctx rx;
    libxlmig__rec_hdr h;
    uint32_t crc;
    int rc;

    recv_ctx_init(&rx, gc, sink, t, st);
    rc = recv_setup(&rx);
    if (rc) goto out;
    do {
        rc = stream_read(gc, t, &h, sizeof(h), "record header");
        if (rc) goto out;
        rc = recv_check_header(&rx, &h);
        if (rc) goto out;
        crc = libxlmig__crc32c(0, &h, 8);
        libxlmig__fault("dst", h.type == LIBXLMIG__REC_VCPU_STATE
                        ? "stopcopy" : "round", libxlmig__transport_fd(t));
        st->total_bytes += sizeof(h) + h.body_len;
        rc = recv_body(&rx, &h, &crc);
        if (rc) goto out;
        if (crc != h.crc) {
            LOG(ERROR, "migration stream corrupted: checksum mismatch in "
                "the %s", rec_name(h.type));
            rc = LIBXLMIG_ERROR_PROTOCOL;
            goto out;
        }
        rc = recv_apply(&rx, &h);
        if (rc) goto out;
    } while (h.type != LIBXLMIG__REC_END);
    mig_set_state(&rx.job, LIBXLMIG_STATE_PRECOPY, LIBXLMIG_STATE_DONE);
    rc = 0;
 out:
    recv_finish(&rx, o, rc);
    return rc;
}

int libxlmig__engine_restore_fd(libxlmig__gc *gc,
                                const libxlmig__mig_sink *sink, int fd,
                                const libxlmig__engine_opts *o,
                                libxlmig_stats *st)
{
    libxlmig__transport *t = NULL;
    int rc;

    rc = libxlmig__transport_fd_borrow(gc, fd, "the restore stream", &t);
    if (rc) return rc;
    rc = libxlmig__engine_restore(gc, sink, t, o, st);
    libxlmig__transport_free(t);
    return rc;
}
