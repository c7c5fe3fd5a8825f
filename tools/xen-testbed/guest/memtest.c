/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * memtest: the testbed guest's workload.  It fills MIB mebibytes with a
 * pattern that is a function of (seed, page, generation), keeps rewriting
 * pages at RATE pages per second (each rewrite bumps the page's generation),
 * and every PERIOD seconds (or on SIGUSR1) checks every page against the
 * generation it last wrote.  A page that a migration lost or sent stale
 * fails the check.  One line per check goes to stdout (the guest console):
 *
 *   MEMTEST seed=S pass=P ok pages=N writes=W uptime=T
 *   MEMTEST seed=S pass=P FAIL bad=B first=I pages=N writes=W uptime=T
 *
 * The seed names the guest instance: a rebooted guest shows a new one.  At
 * start a self-test corrupts one word and checks that the check sees it.
 * Built static for the guest initramfs; also runs on the build host, where
 * -x PAGE (flip a bit of PAGE before the first periodic check, as a lost
 * page would look) lets a test see the check fail.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_WORDS (4096 / sizeof(uint64_t))
#define TICK_NS 10000000L   /* writer tick: 10 ms */

static uint64_t *mem;
static uint32_t *gen;
static unsigned npages;
static uint64_t seed;
static volatile sig_atomic_t check_now;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t page_base(unsigned page, uint32_t g)
{
    return mix(seed ^ mix(((uint64_t)page << 32) | g));
}

static void fill(unsigned page)
{
    uint64_t *p = mem + (size_t)page * PAGE_WORDS;
    uint64_t b = page_base(page, ++gen[page]);
    size_t k;

    for (k = 0; k < PAGE_WORDS; k++)
        p[k] = b + k * 0x9e3779b97f4a7c15ULL;
}

/* Number of pages that differ from their last write; *first_r: the first. */
static unsigned check(unsigned *first_r)
{
    unsigned page, bad = 0;
    size_t k;

    *first_r = 0;
    for (page = 0; page < npages; page++) {
        const uint64_t *p = mem + (size_t)page * PAGE_WORDS;
        uint64_t b = page_base(page, gen[page]);

        for (k = 0; k < PAGE_WORDS; k++)
            if (p[k] != b + k * 0x9e3779b97f4a7c15ULL) break;
        if (k < PAGE_WORDS && bad++ == 0) *first_r = page;
    }
    return bad;
}

static double now(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_usr1(int sig)
{
    (void)sig;
    check_now = 1;
}

/* Corrupt one word, expect the check to find exactly that page. */
static int selftest(void)
{
    unsigned page = npages / 2, first, bad;
    uint64_t *w = mem + (size_t)page * PAGE_WORDS + 7;

    *w ^= 1;
    bad = check(&first);
    *w ^= 1;
    if (bad != 1 || first != page) {
        printf("MEMTEST seed=%016" PRIx64 " selftest FAIL bad=%u first=%u\n",
               seed, bad, first);
        return 1;
    }
    bad = check(&first);
    if (bad) {
        printf("MEMTEST seed=%016" PRIx64 " selftest FAIL clean bad=%u\n",
               seed, bad);
        return 1;
    }
    printf("MEMTEST seed=%016" PRIx64 " selftest ok pages=%u\n", seed,
           npages);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: memtest [-m MIB] [-r PAGES_PER_S] [-p PERIOD_S]"
            " [-n PASSES] [-s SEED] [-x PAGE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned long mib = 32, rate = 512, period = 5, passes = 0;
    unsigned long pass = 0, corrupt = (unsigned long)-1;
    uint64_t writes = 0;
    unsigned cursor = 0, bad, first, failed = 0;
    double start, next_check, credit = 0;
    struct timespec tick = { 0, TICK_NS };
    int opt;

    seed = mix((uint64_t)now(CLOCK_REALTIME) * 1000003 ^ (uint64_t)getpid());
    while ((opt = getopt(argc, argv, "m:r:p:n:s:x:")) != -1) {
        switch (opt) {
        case 'm': mib = strtoul(optarg, NULL, 0); break;
        case 'r': rate = strtoul(optarg, NULL, 0); break;
        case 'p': period = strtoul(optarg, NULL, 0); break;
        case 'n': passes = strtoul(optarg, NULL, 0); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'x': corrupt = strtoul(optarg, NULL, 0); break;
        default: usage();
        }
    }
    if (!mib || !period || optind != argc) usage();
    if (corrupt != (unsigned long)-1 && corrupt >= mib * 256) usage();
    setvbuf(stdout, NULL, _IOLBF, 0);

    npages = mib * 256;
    mem = mmap(NULL, (size_t)npages * 4096, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    gen = calloc(npages, sizeof(*gen));
    if (mem == MAP_FAILED || !gen) {
        printf("MEMTEST cannot allocate %lu MiB: %s\n", mib, strerror(errno));
        return 1;
    }
    for (cursor = 0; cursor < npages; cursor++) fill(cursor);
    cursor = 0;
    if (selftest()) return 1;
    signal(SIGUSR1, on_usr1);

    start = now(CLOCK_MONOTONIC);
    next_check = start + period;
    for (;;) {
        /* Rewrite rate pages per second, in round robin. */
        credit += rate * (TICK_NS / 1e9);
        while (credit >= 1) {
            fill(cursor);
            cursor = (cursor + 1) % npages;
            writes++;
            credit -= 1;
        }
        if (check_now || now(CLOCK_MONOTONIC) >= next_check) {
            check_now = 0;
            if (pass == 0 && corrupt != (unsigned long)-1)
                mem[corrupt * PAGE_WORDS] ^= 1;
            pass++;
            bad = check(&first);
            if (bad) failed = 1;
            printf("MEMTEST seed=%016" PRIx64 " pass=%lu %s bad=%u first=%u"
                   " pages=%u writes=%" PRIu64 " uptime=%.0f\n",
                   seed, pass, bad ? "FAIL" : "ok", bad, bad ? first : 0,
                   npages, writes, now(CLOCK_MONOTONIC) - start);
            next_check = now(CLOCK_MONOTONIC) + period;
            if (passes && pass >= passes) return failed;
        }
        nanosleep(&tick, NULL);
    }
}
