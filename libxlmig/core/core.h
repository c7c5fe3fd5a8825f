/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The core of libxlmig, below every other layer: the context layout, the
 * per-call arena, logging, errors, JSON helpers, the clock, names, the
 * state directory and fault injection.  Nothing here is exported from the
 * shared library; names start with libxlmig__.  It includes nothing of
 * the tree but the public header.
 */
#ifndef LIBXLMIG_CORE_H
#define LIBXLMIG_CORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libxlmig.h"

#define _hidden __attribute__((visibility("hidden")))

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define LIBXLMIG__LAST_ERROR_MAX 1024

struct libxlmig__host_ops;

struct libxlmig_ctx {
    xentoollog_logger *lg;              /* never NULL */
    xentoollog_logger *owned_lg;        /* ours when the caller gave none */
    libxlmig_backend_kind backend_kind;
    const struct libxlmig__host_ops *backend;  /* NULL until opened */
    void *backend_priv;                 /* owned by the backend */
    /* Set by the host layer when it opens a backend: releases it. */
    void (*backend_close)(libxlmig_ctx *ctx);
    char last_error[LIBXLMIG__LAST_ERROR_MAX];
};

/*
 * The per-call arena.  GC_INIT(ctx) declares `gc`; every GCNEW/GCSPRINTF/
 * libxlmig__*alloc(gc, ...) allocation is freed by GC_FREE.  Allocation
 * failure logs and aborts, as libxl's arena does: callers need no NULL
 * checks on arena memory.
 */
typedef struct libxlmig__gc_entry {
    void *ptr;
    void (*dtor)(void *);    /* NULL: free() */
} libxlmig__gc_entry;

typedef struct libxlmig__gc {
    libxlmig_ctx *owner;
    size_t nptrs, maxptrs;
    libxlmig__gc_entry *ptrs;
} libxlmig__gc;

#define LIBXLMIG__INIT_GC(ctx) { (ctx), 0, 0, NULL }
#define GC_INIT(ctx) \
    libxlmig__gc gc_buf = LIBXLMIG__INIT_GC(ctx); \
    libxlmig__gc *gc = &gc_buf
#define GC_FREE libxlmig__gc_free_all(gc)
#define CTX (gc->owner)

_hidden void libxlmig__gc_free_all(libxlmig__gc *gc);
_hidden void *libxlmig__zalloc(libxlmig__gc *gc, size_t size);
_hidden void *libxlmig__calloc(libxlmig__gc *gc, size_t n, size_t size);
_hidden void *libxlmig__realloc(libxlmig__gc *gc, void *ptr, size_t size);
_hidden char *libxlmig__strdup(libxlmig__gc *gc, const char *s);
_hidden char *libxlmig__strndup(libxlmig__gc *gc, const char *s, size_t n);
_hidden char *libxlmig__sprintf(libxlmig__gc *gc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds ptr (from malloc) to the arena so GC_FREE frees it; returns ptr. */
_hidden void *libxlmig__ptr_add(libxlmig__gc *gc, void *ptr);
/* Adds an object that GC_FREE releases with dtor(ptr); returns ptr. */
_hidden void *libxlmig__ptr_add_dtor(libxlmig__gc *gc, void *ptr,
                                     void (*dtor)(void *));
/* Logs and aborts; for allocations that must not fail. */
_hidden void libxlmig__alloc_failed(libxlmig_ctx *ctx, const char *func,
                                    size_t nmemb, size_t size)
    __attribute__((noreturn));

#define GCNEW(var) ((var) = libxlmig__zalloc(gc, sizeof(*(var))))
#define GCNEW_ARRAY(var, n) ((var) = libxlmig__calloc(gc, (n), sizeof(*(var))))
#define GCSPRINTF(fmt, ...) libxlmig__sprintf(gc, (fmt), __VA_ARGS__)
#define GCSTRDUP(s) libxlmig__strdup(gc, (s))

/*
 * Logging through the context's xentoollog logger.  domid is -1 when no
 * domain is concerned.  Messages at ERROR and above are also kept as the
 * context's last error (see libxlmig_last_error).
 */
_hidden void libxlmig__log(libxlmig_ctx *ctx, xentoollog_level level,
                           int errnoval, const char *file, int line,
                           const char *func, int64_t domid,
                           const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

#define LIBXLMIG__LOG(ctx, l, e, d, ...) \
    libxlmig__log((ctx), XTL_##l, (e), __FILE__, __LINE__, __func__, (d), \
                  __VA_ARGS__)
#define LOG(l, ...)       LIBXLMIG__LOG(CTX, l, -1, -1, __VA_ARGS__)
#define LOGE(l, ...)      LIBXLMIG__LOG(CTX, l, errno, -1, __VA_ARGS__)
#define LOGEV(l, e, ...)  LIBXLMIG__LOG(CTX, l, (e), -1, __VA_ARGS__)
#define LOGD(l, d, ...)   LIBXLMIG__LOG(CTX, l, -1, (d), __VA_ARGS__)
#define LOGED(l, d, ...)  LIBXLMIG__LOG(CTX, l, errno, (d), __VA_ARGS__)

/*
 * CRC32C (Castagnoli) of every control message and stream record, by
 * ISA-L (core/crc32c.c).  Pass 0 to start; chain by passing the last result.
 */
_hidden uint32_t libxlmig__crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * Start loading the len bytes at p into the cache, every line of them.
 * Guest pages are 4 KiB apart in physical memory too, where the CPU's
 * own prefetcher stops: a page read cold costs 2.6 times one loaded
 * this way (docs/stream.md, "Reading pages").
 */
static inline void libxlmig__prefetch(const void *p, size_t len)
{
    const char *c = p;
    size_t off;

    for (off = 0; off < len; off += 64)
        __builtin_prefetch(c + off);
}

/* Symbolic name of rc ("NOT_DOM0", "ERROR_FAIL"); static string. */
_hidden const char *libxlmig__error_name(int rc);

/*
 * Files of the state directory (core/statedir.c): STATE_DIR[/sub]/leaf,
 * sub and leaf each a name state_name_ok accepts, reached with openat()
 * and O_NOFOLLOW.  file_write replaces it with text durably (temporary
 * file, fsync, rename; directories made); file_read reads at most max
 * bytes into *text_r (arena, NUL-terminated).  Both return -1 with errno
 * set on failure (EINVAL for a bad name): the caller says what it was
 * doing.
 */
_hidden bool libxlmig__state_name_ok(const char *name);
_hidden int libxlmig__state_file_write(libxlmig__gc *gc, const char *sub,
                                       const char *leaf, const char *text);
_hidden int libxlmig__state_file_read(libxlmig__gc *gc, const char *sub,
                                      const char *leaf, size_t max,
                                      char **text_r);
_hidden int libxlmig__state_file_remove(const char *sub, const char *leaf);
_hidden bool libxlmig__state_file_exists(const char *sub, const char *leaf);
/* The regular files of STATE_DIR[/sub] with a good name (no .tmp of a
 * writer), in no order, with when each was last written; arena memory.
 * An absent directory has none; -1 with errno on failure. */
typedef struct libxlmig__state_entry {
    const char *name;
    uint64_t mtime_ns;             /* ns since the epoch */
} libxlmig__state_entry;
_hidden int libxlmig__state_dir_list(libxlmig__gc *gc, const char *sub,
                                     libxlmig__state_entry **list_r,
                                     size_t *nr_r);
/* The pid of a process holding an flock(2) on the file (a running drain
 * holds drain.lock), from /proc/locks; 0 if none or no such file. */
_hidden pid_t libxlmig__state_file_lock_holder(const char *sub,
                                               const char *leaf);

/* A node or domain name as the protocol allows it: [A-Za-z0-9._-], 1 to
 * max characters, not starting with a dot (core/names.c). */
#define LIBXLMIG__DOMAIN_NAME_MAX 47
_hidden bool libxlmig__name_ok(const char *s, size_t max);
/* A migration id: exactly 32 lowercase hex digits (core/names.c). */
#define LIBXLMIG__ID_LEN 32
_hidden bool libxlmig__id_ok(const char *id);
/* n bytes as 2n lowercase hex digits and a NUL into out (core/names.c). */
_hidden void libxlmig__hex_encode(const unsigned char *in, size_t n,
                                  char *out);

/* Give the calling thread an alternate signal stack (core/thread.c),
 * freed when it ends; every thread that serves peers or clients calls it
 * first. */
_hidden void libxlmig__thread_altstack(void);

/* Monotonic time (us), for every duration the library measures. */
_hidden uint64_t libxlmig__now_us(void);
/* Wall-clock time (ms since the epoch), for when something happened. */
_hidden uint64_t libxlmig__wall_ms(void);

/*
 * JSON helpers.  Generators return yajl_gen_status; a NULL string is
 * generated as null.  libxlmig__json_gen_alloc never returns NULL (arena
 * rules); the yajl_gen is freed by GC_FREE.  libxlmig__json_finish copies
 * the buffer into malloc'd memory: the caller frees *json_r.
 */
_hidden yajl_gen libxlmig__json_gen_alloc(libxlmig__gc *gc, bool pretty);
_hidden yajl_gen_status libxlmig__yajl_gen_str(yajl_gen g, const char *s);
_hidden yajl_gen_status libxlmig__yajl_gen_kv_str(yajl_gen g, const char *k,
                                                  const char *v);
_hidden yajl_gen_status libxlmig__yajl_gen_kv_int(yajl_gen g, const char *k,
                                                  long long v);
_hidden yajl_gen_status libxlmig__yajl_gen_kv_uint(yajl_gen g, const char *k,
                                                   unsigned long long v);
_hidden yajl_gen_status libxlmig__yajl_gen_kv_double(yajl_gen g,
                                                     const char *k, double v);
_hidden yajl_gen_status libxlmig__yajl_gen_kv_bool(yajl_gen g, const char *k,
                                                   bool v);
_hidden int libxlmig__json_finish(libxlmig__gc *gc, yajl_gen g,
                                  char **json_r);

/*
 * Parse text into a yajl tree freed by GC_FREE.  what names the input in
 * the error message ("host info from node1").  Text nested deeper than
 * LIBXLMIG__JSON_MAX_DEPTH is refused before any tree is built (yajl
 * builds and frees trees by recursion).
 */
#define LIBXLMIG__JSON_MAX_DEPTH 64u
_hidden int libxlmig__json_parse(libxlmig__gc *gc, const char *text,
                                 const char *what, yajl_val *tree_r);
/* Typed lookups of one key of an object; NULL or an error if missing. */
_hidden const char *libxlmig__json_get_str(yajl_val obj, const char *key);
_hidden int libxlmig__json_get_u64(libxlmig__gc *gc, yajl_val obj,
                                   const char *key, uint64_t *v_r);
_hidden int libxlmig__json_get_int(libxlmig__gc *gc, yajl_val obj,
                                   const char *key, long long *v_r);
/* The same, but an absent key leaves *v_r as it is and is no error. */
_hidden int libxlmig__json_get_bool_opt(libxlmig__gc *gc, yajl_val obj,
                                        const char *key, bool *v_r);
_hidden int libxlmig__json_get_u64_opt(libxlmig__gc *gc, yajl_val obj,
                                       const char *key, uint64_t *v_r);
_hidden int libxlmig__json_get_bool(libxlmig__gc *gc, yajl_val obj,
                                    const char *key, bool *v_r);
_hidden int libxlmig__json_get_double(libxlmig__gc *gc, yajl_val obj,
                                      const char *key, double *v_r);
/*
 * Encode obj with its generator into malloc'd JSON text for a public
 * *_to_json function; what names it in the error.  Caller frees *json_r.
 */
typedef yajl_gen_status libxlmig__json_gen_fn(yajl_gen g, const void *obj);
_hidden int libxlmig__json_encode(libxlmig_ctx *ctx, libxlmig__json_gen_fn *fn,
                                  const void *obj, bool pretty,
                                  const char *what, char **json_r);
/* Generate a parsed value again (to embed one document in another). */
_hidden yajl_gen_status libxlmig__yajl_gen_val(yajl_gen g, yajl_val v);
/* The document built in g, parsed back (arena). */
_hidden int libxlmig__json_gen_to_val(libxlmig__gc *gc, yajl_gen g,
                                      const char *what, yajl_val *v_r);
/* Checks {"version": N} with N <= max_version. */
_hidden int libxlmig__json_check_version(libxlmig__gc *gc, yajl_val obj,
                                         const char *what,
                                         long long max_version);

/* Test-only fault injection at protocol step point of side ("src" or
 * "dst"), driven by $XLMIG_FAULT (core/fault.c); fd: the connection or
 * -1. */
_hidden void libxlmig__fault(const char *side, const char *point, int fd);
/* $XLMIG_TEST_DROP_PAGE: the engine leaves one page out of the stream. */
_hidden bool libxlmig__fault_drop_page(void);
/* $XLMIG_TEST_LOSE_GO="DOMAIN[:MS]": for migrations of domain, the
 * connection is cut just before go and the source waits MS before
 * resolving.  Returns MS (0 if not given), or -1 when not asked for. */
_hidden int libxlmig__fault_lose_go(const char *domain);

#endif /* LIBXLMIG_CORE_H */
