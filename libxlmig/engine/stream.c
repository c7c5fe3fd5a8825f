/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The migration stream (docs/stream.md): a header with magic, version and
 * page size, then typed, length-prefixed records each protected by a
 * CRC32C.  Writers batch pages and hand the kernel large scatter-gather
 * writes straight from guest RAM; readers check everything and say what
 * is wrong.  All I/O goes through a transport (net/net.h): the fd one works
 * on a file, pipe, socketpair or TCP connection; others (TLS, parallel
 * streams) plug in without touching this file or the engine.
 */
#include <pthread.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine.h"

int libxlmig__stream_write_header(libxlmig__gc *gc, libxlmig__transport *t,
                                  uint64_t nr_pages)
{
    libxlmig__stream_hdr h;
    struct iovec iov;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, LIBXLMIG__STREAM_MAGIC, 8);
    h.version = LIBXLMIG__STREAM_VERSION;
    h.page_size = LIBXLMIG__PAGE_SIZE;
    h.nr_pages = nr_pages;
    h.crc = libxlmig__crc32c(0, &h, offsetof(libxlmig__stream_hdr, crc));
    iov.iov_base = &h;
    iov.iov_len = sizeof(h);
    return libxlmig__transport_writev_all(gc, t, &iov, 1);
}

int libxlmig__stream_read_header(libxlmig__gc *gc, libxlmig__transport *t,
                                 uint64_t *nr_pages_r)
{
    libxlmig__stream_hdr h;
    int rc;

    rc = libxlmig__transport_read_all(gc, t, &h, sizeof(h),
                                     "migration stream (stream header)");
    if (rc) return rc;
    if (memcmp(h.magic, LIBXLMIG__STREAM_MAGIC, 8)) {
        LOG(ERROR, "not an xlmig migration stream (bad magic)");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (h.version > LIBXLMIG__STREAM_VERSION || h.version == 0) {
        LOG(ERROR, "migration stream version %u is not supported "
            "(this xlmig reads version %d)", h.version,
            LIBXLMIG__STREAM_VERSION);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (h.crc != libxlmig__crc32c(0, &h,
                                  offsetof(libxlmig__stream_hdr, crc))) {
        LOG(ERROR, "migration stream header checksum mismatch");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (h.page_size != LIBXLMIG__PAGE_SIZE) {
        LOG(ERROR, "migration stream page size %u differs from ours (%lu)",
            h.page_size, LIBXLMIG__PAGE_SIZE);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (!h.nr_pages || h.nr_pages > (1ULL << 40 >> LIBXLMIG__PAGE_SHIFT)) {
        LOG(ERROR, "migration stream: %llu pages is out of range",
            (unsigned long long)h.nr_pages);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    *nr_pages_r = h.nr_pages;
    return 0;
}

int libxlmig__stream_write_record(libxlmig__gc *gc, libxlmig__transport *t,
                                  uint32_t type,
                                  const void *body, uint32_t len)
{
    libxlmig__rec_hdr h;
    struct iovec iov[2];

    memset(&h, 0, sizeof(h));
    h.type = type;
    h.body_len = len;
    h.crc = libxlmig__crc32c(0, &h, 8);
    h.crc = libxlmig__crc32c(h.crc, body, len);
    iov[0].iov_base = &h;
    iov[0].iov_len = sizeof(h);
    iov[1].iov_base = (void *)body;
    iov[1].iov_len = len;
    return libxlmig__transport_writev_all(gc, t, iov, len ? 2 : 1);
}

bool libxlmig__page_is_zero(const void *p)
{
    const uint64_t *w = p;
    size_t i;

    for (i = 0; i < LIBXLMIG__PAGE_SIZE / 8; i += 4)
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
            return false;
    return true;
}

/* CRC32C of a page of zeros: a page with another CRC is not zero. */
static uint32_t zero_crc;
static pthread_once_t zero_crc_once = PTHREAD_ONCE_INIT;

static void zero_crc_init(void)
{
    static const uint8_t zeros[LIBXLMIG__PAGE_SIZE];

    zero_crc = libxlmig__crc32c(0, zeros, sizeof(zeros));
}

static uint32_t zero_page_crc(void)
{
    pthread_once(&zero_crc_once, zero_crc_init);
    return zero_crc;
}

int libxlmig__batch_add(libxlmig__gc *gc, libxlmig__batch_writer *w,
                        uint64_t pfn)
{
    const uint8_t *p = w->mem + (pfn << LIBXLMIG__PAGE_SHIFT);
    bool zero;
    uint32_t crc = 0;

    if (!w->stable && w->recheck && !w->sealed) {
        /* In a run of pages (a first round is one), the page two ahead
         * is most likely next but one: load it while this one is read. */
        if (pfn == w->last_pfn + 1 && pfn + 2 < w->nr_pages)
            libxlmig__prefetch(p + 2 * LIBXLMIG__PAGE_SIZE,
                               LIBXLMIG__PAGE_SIZE);
        w->last_pfn = pfn;
        /*
         * Live and zero-copy: the page's checksum, which PAGE_CHECK
         * sends, also finds the zero pages (only they have the zero
         * page's CRC; they are compared to make sure).  One pass over
         * the page instead of a zero check and a checksum, and it
         * leaves the page in the cache for the copy into the socket
         * (unless the pages go by reference).
         * A write after this is seen by the recheck (batch_flush_live).
         * Sealed (TLS) there are no CRCs: a zero check, which stops at
         * the first word that is not zero, is all a page costs here.
         */
        crc = libxlmig__crc32c(0, p, LIBXLMIG__PAGE_SIZE);
        zero = crc == zero_page_crc() && libxlmig__page_is_zero(p);
        if (!zero)
            w->crcs[2 + w->ndata] = crc;
    } else {
        /* A zero check mostly reads a page's first line: load that of
         * the pages that most likely follow. */
        if (pfn + 8 < w->nr_pages)
            __builtin_prefetch(p + 8 * LIBXLMIG__PAGE_SIZE);
        zero = libxlmig__page_is_zero(p);
    }
    if (zero) {
        w->pfns[w->npfn++] = pfn | LIBXLMIG__PFN_ZERO;
        w->nzero++;
        w->total_zero++;
    } else {
        /*
         * While the guest runs a page may change under us: copy it so the
         * checksum matches what is sent.  A torn copy is harmless, the
         * write that tore it marked the page dirty for the next round.
         */
        if (!w->stable && !w->recheck)
            memcpy(w->data + (w->ndata << LIBXLMIG__PAGE_SHIFT), p,
                   LIBXLMIG__PAGE_SIZE);
        w->pfns[w->npfn++] = pfn;
        w->ndata++;
        w->total_data++;
    }
    if (w->npfn == LIBXLMIG__BATCH_PAGES)
        return libxlmig__batch_flush(gc, w);
    return 0;
}

/*
 * A batch: u32 count, u32 reserved, count u64 pfn entries (bit 63: zero
 * page, no data), then the data pages in entry order.  When the guest is
 * paused, runs of adjacent pages go as iovecs straight from guest RAM.
 */
/* Runs of adjacent pages of the batch as iovecs into guest RAM. */
static int data_iovecs(const libxlmig__batch_writer *w, struct iovec *iov,
                       int n)
{
    uint64_t i, pfn;
    int first = n;

    for (i = 0; i < w->npfn; i++) {
        if (w->pfns[i] & LIBXLMIG__PFN_ZERO) continue;
        pfn = w->pfns[i];
        if (n > first &&
            (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len ==
            w->mem + (pfn << LIBXLMIG__PAGE_SHIFT)) {
            iov[n - 1].iov_len += LIBXLMIG__PAGE_SIZE;
        } else {
            iov[n].iov_base = (void *)(w->mem + (pfn << LIBXLMIG__PAGE_SHIFT));
            iov[n++].iov_len = LIBXLMIG__PAGE_SIZE;
        }
    }
    return n;
}

/*
 * Zero-copy flush while the guest runs: PAGE_DATA (its CRC covers the
 * header and the pfn list) straight from RAM, then PAGE_CHECK with the
 * CRC of each data page, taken when the page was queued (batch_add; none
 * over a transport that authenticates every byte: BATCH_SEALED), and
 * the pages that may have changed since: the recheck covers every write
 * since the round's scan, so a page written after its CRC was taken, and
 * before or while it was sent, is flagged unstable and sent again.  The
 * data goes in slices of LIVE_SLICE_PAGES (256 KiB), which keeps writer
 * and reader working on the stream at once (measured: one 2 MiB writev
 * per batch cost a few percent of throughput on a socketpair).
 *
 * On a socket the pages go by reference (BATCH_BY_REF): the kernel copies
 * them only when the receiver reads them, which may be after the recheck.
 * A page written in between is in the dirty log all the same, so a later
 * round sends it again; the flag tells the receiver to take a checksum
 * mismatch for such a page, not for corruption (docs/stream.md).
 */
#define LIVE_SLICE_PAGES 64

static int batch_flush_live(libxlmig__gc *gc, libxlmig__batch_writer *w)
{
    struct {
        libxlmig__rec_hdr h;
        uint32_t count, flags;
    } head;
    struct iovec iov[LIVE_SLICE_PAGES + 2];
    uint64_t i = 0, pfn, lo = UINT64_MAX, hi = 0;
    uint32_t ncrc = w->sealed ? 0 : (uint32_t)w->ndata;
    uint32_t k = 0, nun = 0, *unstable = w->crcs + 2 + ncrc, slice;
    bool by_ref = w->by_ref && libxlmig__transport_by_ref(w->t);
    const uint8_t *p;
    int n = 0, rc;

    memset(&head, 0, sizeof(head));
    head.h.type = LIBXLMIG__REC_PAGE_DATA;
    head.h.body_len = (uint32_t)(8 + w->npfn * 8 +
                                 w->ndata * LIBXLMIG__PAGE_SIZE);
    head.count = (uint32_t)w->npfn;
    head.flags = (by_ref ? LIBXLMIG__BATCH_BY_REF : 0) |
                 (w->sealed ? LIBXLMIG__BATCH_SEALED : 0);
    head.h.crc = libxlmig__crc32c(0, &head.h, 8);
    head.h.crc = libxlmig__crc32c(head.h.crc, &head.count, 8);
    head.h.crc = libxlmig__crc32c(head.h.crc, w->pfns, w->npfn * 8);
    iov[n].iov_base = &head;
    iov[n++].iov_len = sizeof(head);
    iov[n].iov_base = w->pfns;
    iov[n++].iov_len = w->npfn * 8;
    if (by_ref) {
        /* Copied: head and pfns are reused before the receiver reads. */
        rc = libxlmig__transport_writev_all(gc, w->t, iov, n);
        if (rc) return rc;
        n = 0;
    }
    do {
        /* The next slice: up to LIVE_SLICE_PAGES data pages, in runs. */
        for (slice = 0; i < w->npfn && slice < LIVE_SLICE_PAGES; i++) {
            if (w->pfns[i] & LIBXLMIG__PFN_ZERO) continue;
            pfn = w->pfns[i];
            p = w->mem + (pfn << LIBXLMIG__PAGE_SHIFT);
            if (slice &&
                (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == p) {
                iov[n - 1].iov_len += LIBXLMIG__PAGE_SIZE;
            } else {
                iov[n].iov_base = (void *)p;
                iov[n++].iov_len = LIBXLMIG__PAGE_SIZE;
            }
            slice++;
            if (pfn < lo) lo = pfn;
            if (pfn > hi) hi = pfn;
        }
        rc = by_ref ? libxlmig__transport_send_pages(gc, w->t, iov, n)
                    : libxlmig__transport_writev_all(gc, w->t, iov, n);
        if (rc) return rc;
        n = 0;
    } while (i < w->npfn);
    w->bytes += sizeof(head.h) + head.h.body_len;
    rc = w->recheck(gc, w->recheck_priv, lo, hi + 1);
    if (rc) return rc;
    for (i = 0; i < w->npfn; i++) {
        if (w->pfns[i] & LIBXLMIG__PFN_ZERO) continue;
        if (bitmap_test(w->next, w->pfns[i]))
            unstable[nun++] = k;
        k++;
    }
    w->unstable += nun;
    w->crcs[0] = (uint32_t)w->ndata;
    w->crcs[1] = nun;
    rc = libxlmig__stream_write_record(gc, w->t, LIBXLMIG__REC_PAGE_CHECK,
                                       w->crcs, (2 + ncrc + nun) * 4);
    if (rc) return rc;
    w->bytes += sizeof(libxlmig__rec_hdr) + (2 + ncrc + nun) * 4;
    w->npfn = w->nzero = w->ndata = 0;
    return 0;
}

int libxlmig__batch_flush(libxlmig__gc *gc, libxlmig__batch_writer *w)
{
    struct {
        libxlmig__rec_hdr h;
        uint32_t count, flags;
    } head;
    struct iovec iov[LIBXLMIG__BATCH_PAGES + 2];
    uint64_t i, len;
    uint32_t crc;
    int n = 0, rc;

    if (!w->npfn) return 0;
    if (!w->stable && w->recheck && w->ndata)
        return batch_flush_live(gc, w);
    len = 8 + w->npfn * 8 + w->ndata * LIBXLMIG__PAGE_SIZE;
    memset(&head, 0, sizeof(head));
    head.h.type = LIBXLMIG__REC_PAGE_BATCH;
    head.h.body_len = (uint32_t)len;
    head.count = (uint32_t)w->npfn;
    head.flags = w->sealed ? LIBXLMIG__BATCH_SEALED : 0;
    iov[n].iov_base = &head;
    iov[n++].iov_len = sizeof(head);
    iov[n].iov_base = w->pfns;
    iov[n++].iov_len = w->npfn * 8;
    if (!w->stable && !w->recheck) {
        if (w->ndata) {
            iov[n].iov_base = w->data;
            iov[n++].iov_len = w->ndata << LIBXLMIG__PAGE_SHIFT;
        }
    } else {
        n = data_iovecs(w, iov, n);
    }
    /* Sealed: the CRC covers the header and the pfn list (iov[1]). */
    crc = libxlmig__crc32c(0, &head.h, 8);
    crc = libxlmig__crc32c(crc, &head.count, 8);
    for (i = 1; i < (w->sealed ? 2 : (uint64_t)n); i++)
        crc = libxlmig__crc32c(crc, iov[i].iov_base, iov[i].iov_len);
    head.h.crc = crc;
    if (w->stable && w->by_ref && n > 2 &&
        libxlmig__transport_by_ref(w->t)) {
        /* Paused until the receiver has read it all (the by_ref
         * contract): the pages by reference, as in a live round, so
         * stop-and-copy goes as fast as the rounds whose pace the
         * policy measured.  The head is copied. */
        rc = libxlmig__transport_writev_all(gc, w->t, iov, 2);
        if (!rc)
            rc = libxlmig__transport_send_pages(gc, w->t, iov + 2, n - 2);
    } else {
        rc = libxlmig__transport_writev_all(gc, w->t, iov, n);
    }
    if (rc) return rc;
    w->bytes += sizeof(head.h) + len;
    w->npfn = w->nzero = w->ndata = 0;
    return 0;
}
