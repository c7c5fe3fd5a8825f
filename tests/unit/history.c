/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The history of migrations (cluster/history.c): records written through
 * the state directory's writer under their migration id, bounded to
 * LIBXLMIG_HISTORY_MAX with the oldest removed, listed newest first (by
 * domain, at most N, without the reports), read back whole by id or a
 * prefix only one id has; bad ids refused, a record without an id given
 * one, a planted symlink ignored.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/history.h"
#include "tap.h"

#define EXTRA 5                    /* records beyond the bound */

static char dir[64];

static void id_of(unsigned i, char id[33])
{
    snprintf(id, 33, "%032x", i);
}

/* Write record i; then date its file i seconds after the epoch, so that
 * age follows i even when several are written within one clock tick. */
static int add(libxlmig__gc *gc, unsigned i, yajl_val report)
{
    struct timespec ts[2] = { { (time_t)i + 1, 0 }, { (time_t)i + 1, 0 } };
    libxlmig__history_rec r;
    char id[33];
    int rc;

    id_of(i, id);
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.direction = "out";
    r.domain = i % 2 ? "b" : "a";
    r.source = "node1";
    r.target = "node2";
    r.outcome = "migrated";
    r.start_ms = 1000000 + i;
    r.duration_ms = 1500;
    r.has_downtime = true;
    r.downtime_us = 2500;
    r.bytes = 1 << 20;
    r.report = report;
    rc = libxlmig__history_add(gc, &r);
    utimensat(AT_FDCWD, GCSPRINTF("%s/history/%s", dir, id), ts, 0);
    return rc;
}

/* The list's migrations (arena tree); NULL if the call failed. */
static yajl_val list(libxlmig__gc *gc, const char *domain, unsigned max)
{
    const char *path[] = { "migrations", NULL };
    char *json = NULL;
    yajl_val v;

    if (libxlmig_history_list(CTX, domain, max, &json))
        return NULL;
    libxlmig__ptr_add(gc, json);
    if (libxlmig__json_parse(gc, json, "history", &v))
        return NULL;
    return yajl_tree_get(v, path, yajl_t_array);
}

static size_t len(yajl_val a)
{
    return a ? a->u.array.len : 0;
}

int main(void)
{
    libxlmig_ctx *ctx = NULL;
    yajl_val a, report;
    char id[33], *json = NULL;
    unsigned i;
    int rc, bad = 0;

    plan(17);
    snprintf(dir, sizeof(dir), "/tmp/xlmig-history.XXXXXX");
    if (!mkdtemp(dir))
        bail("cannot make a state directory");
    setenv("XLMIG_STATE_DIR", dir, 1);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("no context");
    {
        GC_INIT(ctx);

        libxlmig__json_parse(gc, "{\"outcome\":\"migrated\",\"attempts\":[]}",
                             "report", &report);
        for (i = 0; i < LIBXLMIG_HISTORY_MAX + EXTRA; i++)
            bad += add(gc, i, i == LIBXLMIG_HISTORY_MAX + EXTRA - 1
                              ? report : NULL) != 0;
        is_int(0, bad, "%d records written", LIBXLMIG_HISTORY_MAX + EXTRA);

        a = list(gc, NULL, 0);
        is_int(LIBXLMIG_HISTORY_MAX, (int)len(a),
               "the last %d are kept", LIBXLMIG_HISTORY_MAX);
        id_of(LIBXLMIG_HISTORY_MAX + EXTRA - 1, id);
        is_string(id, libxlmig__json_get_str(len(a) ? a->u.array.values[0]
                                                    : NULL, "id"),
                  "newest first");
        ok(len(a) && !libxlmig__json_get_str(a->u.array.values[0], "report")
           && libxlmig__json_get_str(a->u.array.values[0], "outcome"),
           "the list has the summary, not the report");
        id_of(EXTRA - 1, id);
        rc = libxlmig_history_get(ctx, id, &json);
        is_int(LIBXLMIG_ERROR_NOTFOUND, rc, "the oldest are removed");
        id_of(EXTRA, id);
        rc = libxlmig_history_get(ctx, id, &json);
        is_int(0, rc, "the oldest kept one is there");
        free(json);
        json = NULL;

        is_int(LIBXLMIG_HISTORY_MAX / 2, (int)len(list(gc, "a", 0)),
               "by domain");
        is_int(3, (int)len(list(gc, NULL, 3)), "at most N");
        is_int(0, (int)len(list(gc, "nosuch", 0)), "a domain never moved");

        id_of(LIBXLMIG_HISTORY_MAX + EXTRA - 1, id);
        rc = libxlmig_history_get(ctx, id + 24, &json);
        is_int(LIBXLMIG_ERROR_NOTFOUND, rc, "a suffix is no prefix");
        rc = libxlmig_history_get(ctx, "0000", &json);
        is_int(LIBXLMIG_ERROR_INVAL, rc, "a prefix many ids have is refused");
        rc = libxlmig_history_get(ctx, "../maintenance", &json);
        is_int(LIBXLMIG_ERROR_INVAL, rc, "a name that is no id is refused");
        rc = libxlmig_history_get(ctx, id, &json);
        is_int(0, rc, "read back by id");
        ok(json && strstr(json, "\"report\":{\"outcome\":\"migrated\""),
           "with its whole report");
        free(json);
        json = NULL;

        {
            libxlmig__history_rec r;

            memset(&r, 0, sizeof(r));
            r.direction = "out";
            r.domain = "fresh";
            r.outcome = "refused";
            r.start_ms = 9000000;
            is_int(0, libxlmig__history_add(gc, &r),
                   "a record without an id is written");
            a = list(gc, "fresh", 0);
            ok(len(a) && libxlmig__id_ok(libxlmig__json_get_str(
                   a->u.array.values[0], "id")), "under a new id");
        }
        symlink("/etc/passwd", GCSPRINTF("%s/history/%032x", dir, 99999));
        is_int(LIBXLMIG_HISTORY_MAX, (int)len(list(gc, NULL, 0)),
               "a planted symlink is no record");
        GC_FREE;
    }
    libxlmig_ctx_free(ctx);
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd))
            diag("cannot remove %s", dir);
    }
    return 0;
}
