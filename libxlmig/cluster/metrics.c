/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What this node's xlmigd did since it started, for Prometheus, in its
 * text exposition format (version 0.0.4), written for node_exporter's
 * textfile collector: a .prom file replaced atomically (a temporary file
 * beside it, then rename) after every event and every
 * LIBXLMIG_METRICS_REFRESH_S, so that a dom0 opens no listening socket
 * for it (docs/xlmigd.md, "Metrics").  The counters live in this process,
 * under one lock; the daemon and the node service report events here.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/metrics.h"

/* Histogram bounds (s, or a ratio): each bucket counts what is <= it. */
static const double duration_le[] = { 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
                                      1800 };
static const double downtime_le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5, 1, 2.5, 5 };
static const double prederr_le[] = { 0.05, 0.1, 0.25, 0.5, 1, 2 };

#define HIST_MAX 10

typedef struct histogram {
    const double *le;
    size_t nr;
    uint64_t bucket[HIST_MAX];     /* not cumulative: generated so */
    uint64_t count;
    double sum;
} histogram;

/* Directions, outcomes and drain results with a series of their own
 * from the start (at 0), so that rate() sees the first one. */
enum { DIR_OUT, DIR_IN, DIR_NR };
static const char *const dir_name[DIR_NR] = { "out", "in" };
static const char *const out_failures[] = { "failed", "refused",
                                            "cancelled", "ambiguous" };
static const char *const in_failures[] = { "aborted" };
static const char *const drain_results[] = { "all_moved", "some_left",
                                             "interrupted" };

#define OUTCOMES_MAX 8

static struct {
    pthread_mutex_t lock;
    bool on;                       /* a file to write */
    char path[512];
    char node[64], backend[16];
    unsigned limit[DIR_NR];        /* max_outgoing, max_incoming */
    uint64_t start_s;              /* the daemon started (s since epoch) */
    uint64_t started[DIR_NR];
    uint64_t succeeded[DIR_NR];
    struct { char outcome[32]; uint64_t n; } failed[DIR_NR][OUTCOMES_MAX];
    uint64_t bytes[DIR_NR];
    int64_t running[DIR_NR];
    int64_t queued;
    histogram duration[DIR_NR], downtime, prederr;
    bool has_last_prederr;
    double last_prederr;
    uint64_t drains[ARRAY_SIZE(drain_results)];
    uint64_t last_write_us;
    bool warned;                   /* a failed write was logged */
} M = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void hist_init(histogram *h, const double *le, size_t nr)
{
    memset(h, 0, sizeof(*h));
    h->le = le;
    h->nr = nr;
}

static void hist_add(histogram *h, double v)
{
    size_t i;

    for (i = 0; i < h->nr; i++)
        if (v <= h->le[i]) {
            h->bucket[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}

/* A failure outcome's slot (lock held): the known ones from the start,
 * another on first sight while there is room. */
static uint64_t *failed_slot(int d, const char *outcome)
{
    int i;

    for (i = 0; i < OUTCOMES_MAX && M.failed[d][i].outcome[0]; i++)
        if (!strcmp(M.failed[d][i].outcome, outcome))
            return &M.failed[d][i].n;
    if (i == OUTCOMES_MAX)
        return NULL;
    snprintf(M.failed[d][i].outcome, sizeof(M.failed[d][i].outcome), "%s",
             outcome);
    return &M.failed[d][i].n;
}

static int dir_of(const char *direction)
{
    return direction && !strcmp(direction, "in") ? DIR_IN : DIR_OUT;
}

void libxlmig__metrics_init(libxlmig__gc *gc, const char *path,
                            const char *node, const char *backend,
                            unsigned max_outgoing, unsigned max_incoming)
{
    size_t i;
    int d;

    pthread_mutex_lock(&M.lock);
    M.on = path && *path;
    snprintf(M.path, sizeof(M.path), "%s", path ? path : "");
    snprintf(M.node, sizeof(M.node), "%s", node ? node : "");
    snprintf(M.backend, sizeof(M.backend), "%s", backend ? backend : "");
    M.limit[DIR_OUT] = max_outgoing;
    M.limit[DIR_IN] = max_incoming;
    M.start_s = libxlmig__wall_ms() / 1000;
    for (d = 0; d < DIR_NR; d++)
        hist_init(&M.duration[d], duration_le, ARRAY_SIZE(duration_le));
    hist_init(&M.downtime, downtime_le, ARRAY_SIZE(downtime_le));
    hist_init(&M.prederr, prederr_le, ARRAY_SIZE(prederr_le));
    for (i = 0; i < ARRAY_SIZE(out_failures); i++)
        failed_slot(DIR_OUT, out_failures[i]);
    for (i = 0; i < ARRAY_SIZE(in_failures); i++)
        failed_slot(DIR_IN, in_failures[i]);
    pthread_mutex_unlock(&M.lock);
    if (M.on)
        LOG(INFO, "metrics for Prometheus in %s (node_exporter's textfile "
            "collector)", path);
}

void libxlmig__metrics_started(const char *direction)
{
    int d = dir_of(direction);

    pthread_mutex_lock(&M.lock);
    M.started[d]++;
    M.running[d]++;
    pthread_mutex_unlock(&M.lock);
}

void libxlmig__metrics_queued(int delta)
{
    pthread_mutex_lock(&M.lock);
    M.queued += delta;
    pthread_mutex_unlock(&M.lock);
}

void libxlmig__metrics_ended(const libxlmig__metrics_end *e)
{
    int d = dir_of(e->direction);
    uint64_t *slot;

    pthread_mutex_lock(&M.lock);
    if (e->started && M.running[d] > 0)
        M.running[d]--;
    if (e->succeeded) {
        M.succeeded[d]++;
    } else {
        slot = failed_slot(d, e->outcome ? e->outcome : "failed");
        if (slot)
            (*slot)++;
    }
    M.bytes[d] += e->bytes;
    if (e->started)
        hist_add(&M.duration[d], e->duration_ms / 1000.0);
    if (e->succeeded && e->has_downtime)
        hist_add(&M.downtime, e->downtime_us / 1e6);
    if (e->has_prediction_error) {
        double r = e->prediction_error_pct / 100.0;

        hist_add(&M.prederr, r < 0 ? -r : r);
        M.has_last_prederr = true;
        M.last_prederr = r;
    }
    pthread_mutex_unlock(&M.lock);
}

void libxlmig__metrics_drain(const char *result)
{
    size_t i;

    pthread_mutex_lock(&M.lock);
    for (i = 0; i < ARRAY_SIZE(drain_results); i++)
        if (result && !strcmp(result, drain_results[i]))
            M.drains[i]++;
    pthread_mutex_unlock(&M.lock);
}

/* ---- the exposition ---------------------------------------------------- */

static void head(FILE *f, const char *name, const char *type,
                 const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Buckets, sum and count of h; labels: "" or `name="value",`. */
static void hist_write(FILE *f, const char *name, const char *labels,
                       const histogram *h)
{
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i < h->nr; i++) {
        cum += h->bucket[i];
        fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, h->le[i],
                (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
            (unsigned long long)h->count);
    fprintf(f, "%s_sum%s%.*s%s %.6f\n", name, *labels ? "{" : "",
            *labels ? (int)strlen(labels) - 1 : 0, labels,
            *labels ? "}" : "", h->sum);
    fprintf(f, "%s_count%s%.*s%s %llu\n", name, *labels ? "{" : "",
            *labels ? (int)strlen(labels) - 1 : 0, labels,
            *labels ? "}" : "", (unsigned long long)h->count);
}

/* The exposition (lock held); maintenance and drain as read now. */
static void write_all(FILE *f, bool maintenance, bool draining)
{
    char labels[32];
    size_t i;
    int d;

    head(f, "xlmig_info", "gauge", "The node and xlmig version, always 1.");
    fprintf(f, "xlmig_info{node=\"%s\",version=\"%s\",backend=\"%s\"} 1\n",
            M.node, LIBXLMIG_VERSION, M.backend);
    head(f, "xlmig_daemon_start_time_seconds", "gauge",
         "When this xlmigd started, seconds since the epoch.");
    fprintf(f, "xlmig_daemon_start_time_seconds %llu\n",
            (unsigned long long)M.start_s);
    head(f, "xlmig_maintenance", "gauge",
         "1 while the node is in maintenance mode (takes no migrations).");
    fprintf(f, "xlmig_maintenance %d\n", maintenance);
    head(f, "xlmig_migration_limit", "gauge",
         "max_outgoing and max_incoming of the cluster config.");
    for (d = 0; d < DIR_NR; d++)
        fprintf(f, "xlmig_migration_limit{direction=\"%s\"} %u\n",
                dir_name[d], M.limit[d]);

    head(f, "xlmig_migrations_started_total", "counter",
         "Migrations that began: out, once their slot came; in, accepted.");
    for (d = 0; d < DIR_NR; d++)
        fprintf(f, "xlmig_migrations_started_total{direction=\"%s\"} %llu\n",
                dir_name[d], (unsigned long long)M.started[d]);
    head(f, "xlmig_migrations_succeeded_total", "counter",
         "Migrations that ended with the domain on the target.");
    for (d = 0; d < DIR_NR; d++)
        fprintf(f, "xlmig_migrations_succeeded_total{direction=\"%s\"} "
                "%llu\n", dir_name[d], (unsigned long long)M.succeeded[d]);
    head(f, "xlmig_migrations_failed_total", "counter",
         "Migrations that did not move the domain, by outcome.");
    for (d = 0; d < DIR_NR; d++)
        for (i = 0; i < OUTCOMES_MAX && M.failed[d][i].outcome[0]; i++)
            fprintf(f, "xlmig_migrations_failed_total{direction=\"%s\","
                    "outcome=\"%s\"} %llu\n", dir_name[d],
                    M.failed[d][i].outcome,
                    (unsigned long long)M.failed[d][i].n);
    head(f, "xlmig_migrations_running", "gauge",
         "Migrations running now.");
    for (d = 0; d < DIR_NR; d++)
        fprintf(f, "xlmig_migrations_running{direction=\"%s\"} %lld\n",
                dir_name[d], (long long)M.running[d]);
    head(f, "xlmig_migrations_queued", "gauge",
         "Migrations out waiting for a slot (max_outgoing).");
    fprintf(f, "xlmig_migrations_queued %lld\n", (long long)M.queued);
    head(f, "xlmig_migration_bytes_total", "counter",
         "Bytes of migration streams, sent or received.");
    for (d = 0; d < DIR_NR; d++)
        fprintf(f, "xlmig_migration_bytes_total{direction=\"%s\"} %llu\n",
                dir_name[d], (unsigned long long)M.bytes[d]);

    head(f, "xlmig_migration_duration_seconds", "histogram",
         "How long migrations ran, from the pre-flight to the end.");
    for (d = 0; d < DIR_NR; d++) {
        snprintf(labels, sizeof(labels), "direction=\"%s\",", dir_name[d]);
        hist_write(f, "xlmig_migration_duration_seconds", labels,
                   &M.duration[d]);
    }
    head(f, "xlmig_migration_downtime_seconds", "histogram",
         "How long the guest was paused, for the migrations sent.");
    hist_write(f, "xlmig_migration_downtime_seconds", "", &M.downtime);
    head(f, "xlmig_migration_prediction_error_ratio", "histogram",
         "|predicted - measured| / measured time of the migrations sent.");
    hist_write(f, "xlmig_migration_prediction_error_ratio", "", &M.prederr);
    if (M.has_last_prederr) {
        head(f, "xlmig_migration_last_prediction_error_ratio", "gauge",
             "(predicted - measured) / measured time of the last one.");
        fprintf(f, "xlmig_migration_last_prediction_error_ratio %.6f\n",
                M.last_prederr);
    }

    head(f, "xlmig_drains_total", "counter",
         "Drains of this node that ended, by result.");
    for (i = 0; i < ARRAY_SIZE(drain_results); i++)
        fprintf(f, "xlmig_drains_total{result=\"%s\"} %llu\n",
                drain_results[i], (unsigned long long)M.drains[i]);
    head(f, "xlmig_drain_running", "gauge",
         "1 while a drain of this node runs.");
    fprintf(f, "xlmig_drain_running %d\n", draining);
}

int libxlmig__metrics_text(libxlmig__gc *gc, char **text_r)
{
    bool maint = libxlmig__state_file_exists(NULL, "maintenance");
    bool draining = libxlmig__state_file_lock_holder(NULL, "drain.lock") > 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f) {
        LOGE(ERROR, "cannot make the metrics");
        return LIBXLMIG_ERROR_NOMEM;
    }
    pthread_mutex_lock(&M.lock);
    write_all(f, maint, draining);
    pthread_mutex_unlock(&M.lock);
    if (fclose(f)) {
        free(buf);
        LOGE(ERROR, "cannot make the metrics");
        return LIBXLMIG_ERROR_NOMEM;
    }
    *text_r = libxlmig__ptr_add(gc, buf);
    return 0;
}

void libxlmig__metrics_flush(libxlmig__gc *gc, bool periodic)
{
    char *text, *tmp;
    size_t len, off = 0;
    ssize_t r;
    int fd, e = 0;

    pthread_mutex_lock(&M.lock);
    if (!M.on || (periodic && libxlmig__now_us() - M.last_write_us <
                  LIBXLMIG_METRICS_REFRESH_S * 1000000ULL)) {
        pthread_mutex_unlock(&M.lock);
        return;
    }
    M.last_write_us = libxlmig__now_us();
    pthread_mutex_unlock(&M.lock);
    if (libxlmig__metrics_text(gc, &text))
        return;
    len = strlen(text);
    /* node_exporter reads *.prom only: the temporary file is ignored. */
    pthread_mutex_lock(&M.lock);
    tmp = GCSPRINTF("%s.tmp", M.path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    if (fd < 0)
        e = errno;
    while (fd >= 0 && off < len) {
        r = write(fd, text + off, len - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { e = r < 0 ? errno : EIO; break; }
        off += (size_t)r;
    }
    if (fd >= 0 && close(fd) && !e)
        e = errno;
    if (!e && rename(tmp, M.path))
        e = errno;
    if (e) {
        if (fd >= 0)
            unlink(tmp);
        if (!M.warned)
            LOGEV(WARN, e, "cannot write the metrics file %s", M.path);
        M.warned = true;
    } else {
        M.warned = false;
    }
    pthread_mutex_unlock(&M.lock);
}
