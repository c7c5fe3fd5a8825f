/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Past migrations (`xlmig history`): xlmigd writes one record per
 * migration, out (the source's, with the whole report) and in (the
 * target's decision), into STATE_DIR/history/ID through the state
 * directory's one writer, the migration id as the leaf; it keeps the last
 * LIBXLMIG_HISTORY_MAX and removes the oldest.  Any process of the node
 * reads them back (libxlmig_history_list, _get).
 */
#include <pthread.h>

#include <openssl/rand.h>

#include "cluster/history.h"

#define HISTORY_SUB "history"
#define HISTORY_RECORD_MAX (1 << 20)     /* bytes read of one record */

/* One writer at a time prunes. */
static pthread_mutex_t history_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_mtime(const void *a, const void *b)
{
    const libxlmig__state_entry *x = a, *y = b;

    return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

/* Remove the oldest records beyond LIBXLMIG_HISTORY_MAX (lock held). */
static void prune(libxlmig__gc *gc)
{
    libxlmig__state_entry *list;
    size_t nr, i;

    if (libxlmig__state_dir_list(gc, HISTORY_SUB, &list, &nr) ||
        nr <= LIBXLMIG_HISTORY_MAX)
        return;
    qsort(list, nr, sizeof(*list), cmp_mtime);
    for (i = 0; i < nr - LIBXLMIG_HISTORY_MAX; i++)
        if (libxlmig__state_file_remove(HISTORY_SUB, list[i].name))
            LOGE(WARN, "cannot remove the old history record %s/%s/%s",
                 libxlmig_state_dir(), HISTORY_SUB, list[i].name);
}

int libxlmig__history_add(libxlmig__gc *gc, const libxlmig__history_rec *r)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    char id[LIBXLMIG__ID_LEN + 1], *text = NULL;
    unsigned char rnd[LIBXLMIG__ID_LEN / 2];
    int rc;

    /* A migration refused before its stream has no id yet. */
    if (r->id && libxlmig__id_ok(r->id)) {
        snprintf(id, sizeof(id), "%s", r->id);
    } else {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            LOG(WARN, "no random id for a history record");
            return LIBXLMIG_ERROR_FAIL;
        }
        libxlmig__hex_encode(rnd, sizeof(rnd), id);
    }
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "id", id);
    libxlmig__yajl_gen_kv_uint(g, "time_ms", r->start_ms);
    libxlmig__yajl_gen_kv_str(g, "direction", r->direction);
    libxlmig__yajl_gen_kv_str(g, "domain", r->domain);
    libxlmig__yajl_gen_kv_str(g, "source", r->source);
    libxlmig__yajl_gen_kv_str(g, "target", r->target);
    libxlmig__yajl_gen_kv_str(g, "outcome", r->outcome);
    if (r->error && *r->error)
        libxlmig__yajl_gen_kv_str(g, "error", r->error);
    libxlmig__yajl_gen_kv_uint(g, "duration_ms", r->duration_ms);
    if (r->has_downtime)
        libxlmig__yajl_gen_kv_double(g, "downtime_ms",
                                     (double)r->downtime_us / 1000.0);
    libxlmig__yajl_gen_kv_uint(g, "bytes", r->bytes);
    if (r->queued_ms)
        libxlmig__yajl_gen_kv_uint(g, "queued_ms", r->queued_ms);
    if (r->has_prediction_error)
        libxlmig__yajl_gen_kv_double(g, "prediction_error_pct",
                                     r->prediction_error_pct);
    if (r->report) {
        libxlmig__yajl_gen_str(g, "report");
        libxlmig__yajl_gen_val(g, r->report);
    }
    yajl_gen_map_close(g);
    rc = libxlmig__json_finish(gc, g, &text);
    if (rc) return rc;
    libxlmig__ptr_add(gc, text);
    pthread_mutex_lock(&history_lock);
    if (libxlmig__state_file_write(gc, HISTORY_SUB, id,
                                   GCSPRINTF("%s\n", text))) {
        LOGE(WARN, "cannot write the history record %s/%s/%s",
             libxlmig_state_dir(), HISTORY_SUB, id);
        rc = LIBXLMIG_ERROR_IO;
    } else {
        prune(gc);
    }
    pthread_mutex_unlock(&history_lock);
    return rc;
}

/* ---- reading them back ---------------------------------------------- */

/* The summary members of record v (all but the report) into g. */
static void summary_gen(yajl_gen g, yajl_val v)
{
    size_t i;

    yajl_gen_map_open(g);
    for (i = 0; i < v->u.object.len; i++) {
        if (!strcmp(v->u.object.keys[i], "report"))
            continue;
        libxlmig__yajl_gen_str(g, v->u.object.keys[i]);
        libxlmig__yajl_gen_val(g, v->u.object.values[i]);
    }
    yajl_gen_map_close(g);
}

typedef struct rec {
    yajl_val v;
    uint64_t time_ms;
} rec;

static int cmp_newest(const void *a, const void *b)
{
    const rec *x = a, *y = b;

    return x->time_ms > y->time_ms ? -1 : x->time_ms < y->time_ms;
}

int libxlmig_history_list(libxlmig_ctx *ctx, const char *domain,
                          unsigned max, char **json_r)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    libxlmig__state_entry *list;
    rec *recs;
    size_t nr, n = 0, i;
    char *text;
    int rc;

    *json_r = NULL;
    if (libxlmig__state_dir_list(gc, HISTORY_SUB, &list, &nr)) {
        LOGE(ERROR, "cannot read %s/%s", libxlmig_state_dir(), HISTORY_SUB);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    GCNEW_ARRAY(recs, nr + 1);
    for (i = 0; i < nr; i++) {
        yajl_val v;
        const char *d;

        /* A record that cannot be read is left out, not fatal. */
        if (libxlmig__state_file_read(gc, HISTORY_SUB, list[i].name,
                                      HISTORY_RECORD_MAX, &text) ||
            libxlmig__json_parse(gc, text, list[i].name, &v) ||
            !YAJL_IS_OBJECT(v))
            continue;
        d = libxlmig__json_get_str(v, "domain");
        if (domain && (!d || strcmp(d, domain)))
            continue;
        recs[n].v = v;
        libxlmig__json_get_u64(gc, v, "time_ms", &recs[n].time_ms);
        n++;
    }
    CTX->last_error[0] = '\0';
    qsort(recs, n, sizeof(*recs), cmp_newest);
    if (max && n > max)
        n = max;
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_str(g, "migrations");
    yajl_gen_array_open(g);
    for (i = 0; i < n; i++)
        summary_gen(g, recs[i].v);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    rc = libxlmig__json_finish(gc, g, json_r);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_history_get(libxlmig_ctx *ctx, const char *id, char **json_r)
{
    GC_INIT(ctx);
    libxlmig__state_entry *list;
    const char *leaf = NULL;
    size_t nr, i, len = id ? strlen(id) : 0;
    char *text;
    int rc;

    *json_r = NULL;
    if (!len || len > LIBXLMIG__ID_LEN ||
        strspn(id, "0123456789abcdef") != len) {
        LOG(ERROR, "a migration id is up to 32 lowercase hex digits, not "
            "'%s'", id ? id : "");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    /* The whole id, or a prefix only one record has. */
    if (libxlmig__state_dir_list(gc, HISTORY_SUB, &list, &nr)) {
        LOGE(ERROR, "cannot read %s/%s", libxlmig_state_dir(), HISTORY_SUB);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    for (i = 0; i < nr; i++) {
        if (strncmp(list[i].name, id, len))
            continue;
        if (leaf && len < LIBXLMIG__ID_LEN) {
            LOG(ERROR, "more than one migration id starts with %s", id);
            rc = LIBXLMIG_ERROR_INVAL;
            goto out;
        }
        leaf = list[i].name;
    }
    if (!leaf || libxlmig__state_file_read(gc, HISTORY_SUB, leaf,
                                           HISTORY_RECORD_MAX, &text)) {
        LOG(ERROR, "no migration %s in the history of this node (%s/%s)",
            id, libxlmig_state_dir(), HISTORY_SUB);
        rc = LIBXLMIG_ERROR_NOTFOUND;
        goto out;
    }
    text[strcspn(text, "\n")] = '\0';
    *json_r = strdup(text);
    rc = *json_r ? 0 : LIBXLMIG_ERROR_NOMEM;
 out:
    GC_FREE;
    return rc;
}
