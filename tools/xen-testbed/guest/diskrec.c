/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * diskrec: the testbed guest's disk workload.  It appends numbered
 * records of 64 bytes to FILE (on the shared disk), each acknowledged only
 * once fdatasync() returned, and every PERIOD seconds (or on SIGUSR1)
 * drops the page cache and reads the file back from the disk, checking
 * that every acknowledged record is there and intact.  After a migration
 * the check reads the target host's view of the storage: a write the
 * guest was told was durable but that the shared storage lost fails it.
 * One line per check goes to stdout (the guest console):
 *
 *   DISKREC seed=S check=K ok acked=N ondisk=M rate=R
 *   DISKREC seed=S check=K FAIL acked=N ondisk=M first=I
 *
 * Record i: "REC <seed> <i> <crc>" padded with dots to 63 bytes and a
 * newline.  The seed names the writer instance.  -d drops the page cache
 * (root) before each check, as the guest does; without it the check
 * reads through the cache, as on the build host, where -x I overwrites
 * record I behind the writer's back before the first check, as a lost
 * write would look, so a test can see the check fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REC_LEN 64

static volatile sig_atomic_t check_now;

static void on_usr1(int sig)
{
    (void)sig;
    check_now = 1;
}

static uint32_t crc(uint32_t seed, uint64_t i)
{
    uint64_t x = ((uint64_t)seed << 32) ^ i ^ 0x9e3779b97f4a7c15ULL;

    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)(x ^ (x >> 31));
}

static void record(char *buf, uint32_t seed, uint64_t i)
{
    int n = snprintf(buf, REC_LEN, "REC %08" PRIx32 " %010" PRIu64
                     " %08" PRIx32 " ", seed, i, crc(seed, i));

    memset(buf + n, '.', REC_LEN - 1 - n);
    buf[REC_LEN - 1] = '\n';
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read FILE back from the disk; the first bad record among the acked
 * ones, or -1.  *ondisk_r: whole records in the file. */
static int64_t verify(const char *file, uint32_t seed, uint64_t acked,
                      bool drop, uint64_t *ondisk_r)
{
    char want[REC_LEN], got[REC_LEN];
    uint64_t i;
    int fd, dc;

    sync();
    dc = drop ? open("/proc/sys/vm/drop_caches", O_WRONLY) : -1;
    if (dc >= 0) {
        if (write(dc, "3\n", 2) != 2) { /* not root: read through cache */ }
        close(dc);
    }
    fd = open(file, O_RDONLY);
    if (fd < 0)
        return 0;
    *ondisk_r = (uint64_t)lseek(fd, 0, SEEK_END) / REC_LEN;
    for (i = 0; i < acked; i++) {
        record(want, seed, i);
        if (pread(fd, got, REC_LEN, (off_t)(i * REC_LEN)) != REC_LEN ||
            memcmp(want, got, REC_LEN)) {
            close(fd);
            return (int64_t)i;
        }
    }
    close(fd);
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: diskrec -f FILE [-d] [-p PERIOD] [-n CHECKS] "
            "[-s SEED] [-x RECORD]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    unsigned period = 5, nchecks = 0, check = 0;
    long long corrupt = -1;
    uint32_t seed;
    uint64_t acked = 0, ondisk = 0, acked_at_check = 0;
    double next, last_check;
    char buf[REC_LEN];
    bool drop = false;
    int opt, fd;
    int64_t bad;

    seed = (uint32_t)(time(NULL) ^ (getpid() << 16));
    while ((opt = getopt(argc, argv, "df:p:n:s:x:")) != -1) {
        switch (opt) {
        case 'd': drop = true; break;
        case 'f': file = optarg; break;
        case 'p': period = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'n': nchecks = (unsigned)strtoul(optarg, NULL, 0); break;
        case 's': seed = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'x': corrupt = strtoll(optarg, NULL, 0); break;
        default: usage();
        }
    }
    if (!file || !period)
        usage();
    signal(SIGUSR1, on_usr1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || fsync(fd)) {
        printf("DISKREC seed=%08" PRIx32 " cannot open %s: %s\n", seed, file,
               strerror(errno));
        return 2;
    }
    last_check = now_s();
    next = last_check + period;
    for (;;) {
        record(buf, seed, acked);
        if (pwrite(fd, buf, REC_LEN, (off_t)(acked * REC_LEN)) != REC_LEN ||
            fdatasync(fd)) {
            printf("DISKREC seed=%08" PRIx32 " write of record %" PRIu64
                   " failed: %s\n", seed, acked, strerror(errno));
            sleep(1);
            continue;
        }
        acked++;                /* durable: acknowledged */
        if (corrupt >= 0 && (uint64_t)corrupt < acked) {
            int cfd = open(file, O_WRONLY);

            if (cfd >= 0) {
                memset(buf, 'X', 8);
                if (pwrite(cfd, buf, 8, (off_t)(corrupt * REC_LEN)) != 8 ||
                    fdatasync(cfd)) { /* the check will say */ }
                close(cfd);
            }
            corrupt = -1;
        }
        if (!check_now && now_s() < next)
            continue;
        check_now = 0;
        check++;
        bad = verify(file, seed, acked, drop, &ondisk);
        if (bad < 0)
            printf("DISKREC seed=%08" PRIx32 " check=%u ok acked=%" PRIu64
                   " ondisk=%" PRIu64 " rate=%.0f\n", seed, check, acked,
                   ondisk, (acked - acked_at_check) / (now_s() - last_check));
        else
            printf("DISKREC seed=%08" PRIx32 " check=%u FAIL acked=%" PRIu64
                   " ondisk=%" PRIu64 " first=%" PRId64 "\n", seed, check,
                   acked, ondisk, bad);
        if (bad >= 0 || (nchecks && check >= nchecks))
            return bad >= 0 ? 1 : 0;
        acked_at_check = acked;
        last_check = now_s();
        next = last_check + period;
    }
}
