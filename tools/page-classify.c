/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Classify 4 KiB pages of memory as a migration stream sees them: zero,
 * compresses well (lz4 to under half), compresses somewhat (to under
 * 90%) or incompressible, and count the text-like ones (nine bytes in
 * ten printable ASCII or white space) among the non-zero; then the
 * ratio of lz4 and zstd level 1 on frames of 64 non-zero pages, as the
 * migration stream compresses them.  The source of the proportions of
 * the sim's mixed content (docs/sim.md).  Not built by make:
 *
 *   cc -O2 -o page-classify tools/page-classify.c -llz4 -lzstd
 *   page-classify -p PID...      every readable mapping of each process
 *   page-classify FILE...        the pages of files (a memory image)
 *
 * Prints one JSON object with the counts and the shares.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#include <zstd.h>

#define PAGE 4096
#define FRAME_PAGES 64

static unsigned long long n_zero, n_well, n_some, n_incomp, n_text;
static unsigned long long bytes_lz4;     /* of the non-zero pages */
static unsigned char frame[FRAME_PAGES * PAGE];
static unsigned frame_pages;
static unsigned long long frame_in, frame_lz4, frame_zstd;

/* Compress the frame of non-zero pages collected so far. */
static void frame_flush(void)
{
    static char out[FRAME_PAGES * PAGE * 2];
    size_t n = (size_t)frame_pages * PAGE, z;
    int r;

    if (!n) return;
    r = LZ4_compress_default((const char *)frame, out, (int)n, sizeof(out));
    frame_lz4 += r > 0 && (size_t)r < n ? (size_t)r : n;
    z = ZSTD_compress(out, sizeof(out), frame, n, 1);
    frame_zstd += !ZSTD_isError(z) && z < n ? z : n;
    frame_in += n;
    frame_pages = 0;
}

static void classify(const unsigned char *p)
{
    static char out[LZ4_COMPRESSBOUND(PAGE)];
    int i, printable = 0, r;

    for (i = 0; i < PAGE && !p[i]; i++)
        ;
    if (i == PAGE) {
        n_zero++;
        return;
    }
    memcpy(frame + (size_t)frame_pages * PAGE, p, PAGE);
    if (++frame_pages == FRAME_PAGES) frame_flush();
    r = LZ4_compress_default((const char *)p, out, PAGE, sizeof(out));
    bytes_lz4 += r > 0 && r < PAGE ? (unsigned)r : PAGE;
    if (r > 0 && r < PAGE / 2) n_well++;
    else if (r > 0 && r < PAGE * 9 / 10) n_some++;
    else n_incomp++;
    for (i = 0; i < PAGE; i++)
        printable += isprint(p[i]) || isspace(p[i]);
    if (printable >= PAGE * 9 / 10) n_text++;
}

static void scan_fd(int fd, off_t start, off_t end)
{
    unsigned char buf[PAGE];
    off_t a;

    for (a = start; a < end; a += PAGE)
        if (pread(fd, buf, PAGE, a) == PAGE)
            classify(buf);
}

static int scan_pid(const char *pid)
{
    char path[64], line[512];
    unsigned long long s, e;
    char perm[8];
    FILE *maps;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/maps", pid);
    maps = fopen(path, "r");
    snprintf(path, sizeof(path), "/proc/%s/mem", pid);
    fd = open(path, O_RDONLY);
    if (!maps || fd < 0) {
        perror(path);
        return 1;
    }
    while (fgets(line, sizeof(line), maps))
        if (sscanf(line, "%llx-%llx %7s", &s, &e, perm) == 3 &&
            perm[0] == 'r' && !strstr(line, "[vvar]") &&
            !strstr(line, "[vsyscall]"))
            scan_fd(fd, (off_t)s, (off_t)e);
    fclose(maps);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long long total, nz;
    int i, rc = 0, pids = argc > 1 && !strcmp(argv[1], "-p");

    if (argc < 2 + pids) {
        fprintf(stderr, "usage: page-classify -p PID... | FILE...\n");
        return 2;
    }
    for (i = 1 + pids; i < argc; i++) {
        if (pids) {
            rc |= scan_pid(argv[i]);
        } else {
            int fd = open(argv[i], O_RDONLY);

            if (fd < 0) {
                perror(argv[i]);
                rc = 1;
                continue;
            }
            scan_fd(fd, 0, lseek(fd, 0, SEEK_END));
            close(fd);
        }
    }
    frame_flush();
    total = n_zero + n_well + n_some + n_incomp;
    nz = total - n_zero;
    if (!total) total = 1;
    if (!nz) nz = 1;
    printf("{\"pages\":%llu,\"zero\":%llu,\"well\":%llu,\"somewhat\":%llu,"
           "\"incompressible\":%llu,\"text_like\":%llu,\n"
           " \"share\":{\"zero\":%.3f,\"well\":%.3f,\"somewhat\":%.3f,"
           "\"incompressible\":%.3f,\"text_like\":%.3f},\n"
           " \"lz4_ratio_nonzero\":%.3f,\"frame_lz4_ratio\":%.3f,"
           "\"frame_zstd1_ratio\":%.3f}\n",
           n_zero + n_well + n_some + n_incomp, n_zero, n_well, n_some,
           n_incomp, n_text, (double)n_zero / total,
           (double)n_well / total, (double)n_some / total,
           (double)n_incomp / total, (double)n_text / total,
           (double)bytes_lz4 / ((double)nz * PAGE),
           (double)frame_lz4 / (double)(frame_in ? frame_in : 1),
           (double)frame_zstd / (double)(frame_in ? frame_in : 1));
    return rc;
}
