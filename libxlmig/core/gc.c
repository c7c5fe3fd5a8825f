/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The per-call arena: every allocation made through a libxlmig__gc is
 * recorded and released together by GC_FREE, so functions need one cleanup
 * path only.  Allocation failure aborts after logging, as in libxl.
 */
#include "core/core.h"

void libxlmig__alloc_failed(libxlmig_ctx *ctx, const char *func,
                            size_t nmemb, size_t size)
{
    if (ctx)
        libxlmig__log(ctx, XTL_CRITICAL, ENOMEM, __FILE__, __LINE__, func,
                      -1, "memory allocation failed (%zu x %zu bytes)",
                      nmemb, size);
    fprintf(stderr, "libxlmig: fatal: out of memory in %s (%zu x %zu)\n",
            func, nmemb, size);
    abort();
}

void *libxlmig__ptr_add_dtor(libxlmig__gc *gc, void *ptr,
                             void (*dtor)(void *))
{
    if (!ptr)
        return NULL;
    if (gc->nptrs == gc->maxptrs) {
        size_t nmax = gc->maxptrs ? gc->maxptrs * 2 : 16;
        libxlmig__gc_entry *n = realloc(gc->ptrs, nmax * sizeof(*n));

        if (!n)
            libxlmig__alloc_failed(gc->owner, __func__, nmax, sizeof(*n));
        gc->ptrs = n;
        gc->maxptrs = nmax;
    }
    gc->ptrs[gc->nptrs].ptr = ptr;
    gc->ptrs[gc->nptrs].dtor = dtor;
    gc->nptrs++;
    return ptr;
}

void *libxlmig__ptr_add(libxlmig__gc *gc, void *ptr)
{
    return libxlmig__ptr_add_dtor(gc, ptr, NULL);
}

void libxlmig__gc_free_all(libxlmig__gc *gc)
{
    size_t i;

    /* Newest first, so objects go before the buffers they may use. */
    for (i = gc->nptrs; i-- > 0;) {
        if (gc->ptrs[i].dtor)
            gc->ptrs[i].dtor(gc->ptrs[i].ptr);
        else
            free(gc->ptrs[i].ptr);
    }
    free(gc->ptrs);
    gc->ptrs = NULL;
    gc->nptrs = gc->maxptrs = 0;
}

void *libxlmig__calloc(libxlmig__gc *gc, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        libxlmig__alloc_failed(gc->owner, __func__, n, size);
    return libxlmig__ptr_add(gc, p);
}

void *libxlmig__zalloc(libxlmig__gc *gc, size_t size)
{
    return libxlmig__calloc(gc, 1, size);
}

void *libxlmig__realloc(libxlmig__gc *gc, void *ptr, size_t size)
{
    void *n;
    size_t i;

    if (!ptr)
        return libxlmig__zalloc(gc, size);
    for (i = 0; i < gc->nptrs; i++)
        if (gc->ptrs[i].ptr == ptr && !gc->ptrs[i].dtor)
            break;
    if (i == gc->nptrs) {
        libxlmig__log(gc->owner, XTL_CRITICAL, -1, __FILE__, __LINE__,
                      __func__, -1, "realloc of memory not in the arena");
        abort();
    }
    n = realloc(ptr, size ? size : 1);
    if (!n)
        libxlmig__alloc_failed(gc->owner, __func__, 1, size);
    gc->ptrs[i].ptr = n;
    return n;
}

char *libxlmig__strdup(libxlmig__gc *gc, const char *s)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        libxlmig__alloc_failed(gc->owner, __func__, 1, strlen(s) + 1);
    return libxlmig__ptr_add(gc, d);
}

char *libxlmig__strndup(libxlmig__gc *gc, const char *s, size_t n)
{
    char *d;

    if (!s)
        return NULL;
    d = strndup(s, n);
    if (!d)
        libxlmig__alloc_failed(gc->owner, __func__, 1, n + 1);
    return libxlmig__ptr_add(gc, d);
}

char *libxlmig__sprintf(libxlmig__gc *gc, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        libxlmig__alloc_failed(gc->owner, __func__, 1, strlen(fmt));
    return libxlmig__ptr_add(gc, s);
}
