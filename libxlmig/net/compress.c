/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Compression of data frames with lz4 or zstd, and the adaptive chooser
 * (compress.h).  Auto keeps, per algorithm, moving averages of its speed
 * (input bytes per second of the calling thread's CPU time) and of its
 * ratio (output over input bytes), and sends each frame the way that is
 * expected to take least time per input byte:
 *
 *     none:       1 / link
 *     algorithm:  1 / speed + ratio / link
 *
 * with an algorithm whose ratio is above LIBXLMIG__COMP_RATIO_MAX never
 * chosen.  One frame in LIBXLMIG__COMP_SAMPLE_EVERY goes through an
 * algorithm not chosen, so the estimates follow the content and the link;
 * LIBXLMIG__COMP_SAMPLE_FAR times fewer while every alternative is
 * expected to take over twice as long as the choice.  Samples are
 * further held to LIBXLMIG__COMP_SAMPLE_BUDGET of the time since the
 * first frame: on a link faster than the compressors a sample is pure
 * cost (measured on the unshaped veth of `make bench`: zstd samples of
 * one frame in 32 took 7-13 % of the sending thread).
 * The receiver's decompression is not counted: both decompress at several
 * GB/s, far above the links the choice matters for.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <lz4.h>
#include <zstd.h>

#include "net/compress.h"

#define EWMA_WEIGHT 0.125        /* of a new measurement */
#define CCTX_POOL 16             /* idle zstd contexts kept */

typedef struct comp_est {
    double speed;                /* bytes/s of thread CPU time */
    double ratio;                /* output bytes / input bytes */
    uint64_t n;                  /* measurements */
} comp_est;

struct libxlmig__comp {
    libxlmig_compression mode;
    pthread_mutex_t lock;
    /* under lock */
    comp_est est[LIBXLMIG__COMP_NR_ALGOS];
    uint64_t nr_frames;          /* frames seen by auto */
    uint64_t last_sample;        /* nr_frames at the last sample */
    uint64_t t0_ns;              /* CLOCK_MONOTONIC at the first frame */
    uint64_t sample_ns;          /* CPU time samples took */
    libxlmig__comp_stats_t st;
    ZSTD_CCtx *pool[CCTX_POOL];
    unsigned nr_pool;
};

static const char *const algo_names[] = { "none", "lz4", "zstd" };

const char *libxlmig__comp_algo_name(libxlmig__comp_algo a)
{
    return (unsigned)a < ARRAY_SIZE(algo_names) ? algo_names[a]
                                                : "invalid";
}

int libxlmig__comp_new(libxlmig__gc *gc, libxlmig_compression mode,
                       libxlmig__comp **c_r)
{
    libxlmig__comp *c;

    if (mode != LIBXLMIG_COMPRESSION_OFF &&
        mode != LIBXLMIG_COMPRESSION_AUTO &&
        mode != LIBXLMIG_COMPRESSION_LZ4 &&
        mode != LIBXLMIG_COMPRESSION_ZSTD) {
        LOG(ERROR, "unknown compression mode %d", (int)mode);
        return LIBXLMIG_ERROR_INVAL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        LOG(ERROR, "cannot allocate a compressor");
        return LIBXLMIG_ERROR_NOMEM;
    }
    c->mode = mode;
    pthread_mutex_init(&c->lock, NULL);
    *c_r = c;
    return 0;
}

void libxlmig__comp_free(libxlmig__comp *c)
{
    unsigned i;

    if (!c) return;
    for (i = 0; i < c->nr_pool; i++)
        ZSTD_freeCCtx(c->pool[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

size_t libxlmig__comp_bound(size_t n)
{
    size_t z = ZSTD_compressBound(n);
    size_t l = n <= LZ4_MAX_INPUT_SIZE
               ? (size_t)LZ4_compressBound((int)n) : 0;

    return z > l ? z : l;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* Whether a sample now stays within the budget (lock held). */
static bool sample_affordable(const libxlmig__comp *c)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);

    return (double)c->sample_ns <=
           LIBXLMIG__COMP_SAMPLE_BUDGET * (double)(now - c->t0_ns);
}

double libxlmig__comp_cost(libxlmig__comp_algo a, double speed,
                           double ratio, double link)
{
    if (a == LIBXLMIG__COMP_NONE)
        return 1 / link;
    if (ratio > LIBXLMIG__COMP_RATIO_MAX || speed <= 0)
        return HUGE_VAL;
    return 1 / speed + ratio / link;
}

/* Expected seconds per input byte of sending with a (lock held). */
static double cost(const libxlmig__comp *c, libxlmig__comp_algo a,
                   double link)
{
    return libxlmig__comp_cost(a, c->est[a].speed, c->est[a].ratio, link);
}

/* Auto's choice for the next frame (lock held); *sample_r: only to
 * measure the choice. */
static libxlmig__comp_algo choose(libxlmig__comp *c, double link_bps,
                                  bool *sample_r)
{
    static const libxlmig__comp_algo comp[] = { LIBXLMIG__COMP_LZ4,
                                                LIBXLMIG__COMP_ZSTD };
    libxlmig__comp_algo best = LIBXLMIG__COMP_NONE, alt[2];
    double link = link_bps > 0 ? link_bps : LIBXLMIG__COMP_LINK_UNKNOWN_BPS;
    uint64_t k = c->nr_frames++, every;
    unsigned i, nalt = 0;
    bool close = false;

    *sample_r = false;
    if (!k)
        c->t0_ns = clock_ns(CLOCK_MONOTONIC);
    /* Measure each algorithm once before choosing. */
    for (i = 0; i < ARRAY_SIZE(comp); i++)
        if (!c->est[comp[i]].n) {
            *sample_r = true;
            return comp[i];
        }
    for (i = 0; i < ARRAY_SIZE(comp); i++)
        if (cost(c, comp[i], link) < cost(c, best, link))
            best = comp[i];
    /* Sample less when every alternative costs over twice the choice. */
    every = LIBXLMIG__COMP_SAMPLE_EVERY;
    for (i = 0; i < ARRAY_SIZE(comp); i++)
        if (comp[i] != best) {
            alt[nalt++] = comp[i];
            if (cost(c, comp[i], link) < 2 * cost(c, best, link))
                close = true;
        }
    if (best != LIBXLMIG__COMP_NONE &&
        cost(c, LIBXLMIG__COMP_NONE, link) < 2 * cost(c, best, link))
        close = true;
    if (!close)
        every *= LIBXLMIG__COMP_SAMPLE_FAR;
    if (k - c->last_sample < every || !sample_affordable(c))
        return best;
    c->last_sample = k;
    *sample_r = true;
    return alt[c->st.samples % nalt];
}

static void est_update(comp_est *e, double speed, double ratio)
{
    if (!e->n++) {
        e->speed = speed;
        e->ratio = ratio;
        return;
    }
    e->speed += EWMA_WEIGHT * (speed - e->speed);
    e->ratio += EWMA_WEIGHT * (ratio - e->ratio);
}

static void account(libxlmig__comp *c, libxlmig__comp_algo a, size_t in,
                    size_t out)
{
    c->st.frames[a]++;
    c->st.bytes_in[a] += in;
    c->st.bytes_out[a] += out;
}

libxlmig__comp_algo libxlmig__comp_frame(libxlmig__comp *c, const void *src,
                                         size_t n, void *dst, size_t cap,
                                         size_t *out_len, double link_bps)
{
    libxlmig__comp_algo a;
    ZSTD_CCtx *cctx = NULL;
    size_t limit = cap < n - 1 ? cap : n - 1, out = 0;
    uint64_t t0, dt;
    bool sample = false, fits;

    *out_len = n;
    pthread_mutex_lock(&c->lock);
    switch (c->mode) {
    case LIBXLMIG_COMPRESSION_LZ4: a = LIBXLMIG__COMP_LZ4; break;
    case LIBXLMIG_COMPRESSION_ZSTD: a = LIBXLMIG__COMP_ZSTD; break;
    case LIBXLMIG_COMPRESSION_AUTO:
        a = n > 1 ? choose(c, link_bps, &sample) : LIBXLMIG__COMP_NONE;
        break;
    default: a = LIBXLMIG__COMP_NONE; break;
    }
    if (n < 2 || n > LZ4_MAX_INPUT_SIZE)
        a = LIBXLMIG__COMP_NONE;
    if (a == LIBXLMIG__COMP_NONE) {
        account(c, a, n, n);
        pthread_mutex_unlock(&c->lock);
        return a;
    }
    if (a == LIBXLMIG__COMP_ZSTD && c->nr_pool)
        cctx = c->pool[--c->nr_pool];
    pthread_mutex_unlock(&c->lock);

    t0 = thread_cpu_ns();
    if (a == LIBXLMIG__COMP_LZ4) {
        int r = LZ4_compress_default(src, dst, (int)n,
                                     (int)(limit < INT_MAX ? limit
                                                           : INT_MAX));
        fits = r > 0;
        out = fits ? (size_t)r : 0;
    } else {
        if (!cctx) cctx = ZSTD_createCCtx();
        out = cctx ? ZSTD_compressCCtx(cctx, dst, limit, src, n,
                                       LIBXLMIG__COMP_ZSTD_LEVEL)
                   : (size_t)-1;
        fits = cctx && !ZSTD_isError(out) && out > 0 && out < n;
    }
    dt = thread_cpu_ns() - t0;

    pthread_mutex_lock(&c->lock);
    est_update(&c->est[a], (double)n * 1e9 / (double)(dt ? dt : 1),
               fits ? (double)out / (double)n : 1.0);
    c->st.cpu_ns += dt;
    c->st.attempts++;
    if (sample) {
        c->st.samples++;
        c->sample_ns += dt;
    }
    if (cctx && c->nr_pool < CCTX_POOL) {
        c->pool[c->nr_pool++] = cctx;
        cctx = NULL;
    }
    if (!fits) a = LIBXLMIG__COMP_NONE;
    account(c, a, n, fits ? out : n);
    pthread_mutex_unlock(&c->lock);
    ZSTD_freeCCtx(cctx);
    if (fits) *out_len = out;
    return a;
}

static void link_observe(libxlmig__link_est *e, double v)
{
    double a[LIBXLMIG__LINK_SAMPLES], t;
    unsigned i, j;

    e->obs[e->next] = v;
    e->next = (e->next + 1) % LIBXLMIG__LINK_SAMPLES;
    if (e->n < LIBXLMIG__LINK_SAMPLES)
        e->n++;
    /* The median of the n there are (the upper one of an even count);
     * until the ring is full they are obs[0..n). */
    memcpy(a, e->obs, sizeof(a));
    for (i = 1; i < e->n; i++)
        for (j = i; j > 0 && a[j - 1] > a[j]; j--) {
            t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
    e->bps = a[e->n / 2];
}

double libxlmig__link_est_sample(libxlmig__link_est *e, double rate,
                                 bool app_limited, bool waiting,
                                 double max_bps)
{
    if (rate > 0 && (!app_limited || rate > e->bps))
        link_observe(e, rate < max_bps ? rate : max_bps);
    else if (waiting && e->bps > 0 && e->bps < max_bps)
        link_observe(e, 2 * e->bps < max_bps ? 2 * e->bps : max_bps);
    return e->bps;
}

/* One zstd decompression context per thread, freed when it ends. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p)
{
    ZSTD_freeDCtx(p);
}

static void dctx_key_init(void)
{
    pthread_key_create(&dctx_key, dctx_free);
}

static ZSTD_DCtx *thread_dctx(void)
{
    ZSTD_DCtx *d;

    pthread_once(&dctx_once, dctx_key_init);
    d = pthread_getspecific(dctx_key);
    if (!d) {
        d = ZSTD_createDCtx();
        if (d && pthread_setspecific(dctx_key, d)) {
            ZSTD_freeDCtx(d);
            d = NULL;
        }
    }
    return d;
}

int libxlmig__decomp_frame(libxlmig__gc *gc, libxlmig__comp_algo a,
                           const void *src, size_t n, void *dst,
                           size_t raw_len)
{
    const char *why = NULL;
    ZSTD_DCtx *d;
    unsigned long long size;
    size_t r;
    int lr;

    switch (a) {
    case LIBXLMIG__COMP_NONE:
        if (n != raw_len) {
            why = "a raw frame of another length";
            break;
        }
        if (dst != src) memcpy(dst, src, n);
        return 0;
    case LIBXLMIG__COMP_LZ4:
        if (n > INT_MAX || raw_len > INT_MAX) {
            why = "too long";
            break;
        }
        lr = LZ4_decompress_safe(src, dst, (int)n, (int)raw_len);
        if (lr < 0) why = "corrupt or truncated";
        else if ((size_t)lr != raw_len) why = "shorter than announced";
        break;
    case LIBXLMIG__COMP_ZSTD:
        size = ZSTD_getFrameContentSize(src, n);
        if (size == ZSTD_CONTENTSIZE_ERROR) {
            why = "not a zstd frame";
            break;
        }
        if (size != ZSTD_CONTENTSIZE_UNKNOWN && size != raw_len) {
            why = size > raw_len ? "longer than announced"
                                 : "shorter than announced";
            break;
        }
        d = thread_dctx();
        if (!d) {
            LOG(ERROR, "cannot allocate a zstd decompression context");
            return LIBXLMIG_ERROR_NOMEM;
        }
        r = ZSTD_decompressDCtx(d, dst, raw_len, src, n);
        if (ZSTD_isError(r)) why = ZSTD_getErrorName(r);
        else if (r != raw_len) why = "shorter than announced";
        break;
    default:
        LOG(ERROR, "data frame compressed with unknown algorithm %u",
            (unsigned)a);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (!why) return 0;
    LOG(ERROR, "malformed %s data frame (%zu bytes for %zu): %s",
        libxlmig__comp_algo_name(a), n, raw_len, why);
    return LIBXLMIG_ERROR_PROTOCOL;
}

void libxlmig__comp_stats(const libxlmig__comp *c, libxlmig__comp_stats_t *s)
{
    libxlmig__comp *m = (libxlmig__comp *)c;   /* the lock only */

    pthread_mutex_lock(&m->lock);
    *s = c->st;
    pthread_mutex_unlock(&m->lock);
}
