/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Sim domains: one process per domain whose RAM is a memfd mapped
 * MAP_SHARED, with a workload that rewrites pages at a configured rate.
 * Every page's content is a function of (seed, pfn, generation) and the
 * generations live in the first pages of RAM, so the guest can prove its
 * memory intact.  Dirty tracking is the kernel's: the domain process
 * registers its RAM with userfaultfd in asynchronous write-protect mode
 * and the controller collects and re-arms written pages with the
 * PAGEMAP_SCAN ioctl on /proc/PID/pagemap (our log-dirty CLEAN).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "engine/engine.h"
#include "backend/sim/sim.h"

/*
 * Debian 12's headers predate these; values from the kernel's uapi
 * (linux/include/uapi/linux/fs.h and linux/userfaultfd.h, Linux 6.7+).
 */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
};
struct pm_scan_arg {
    uint64_t size;
    uint64_t flags;
    uint64_t start;
    uint64_t end;
    uint64_t walk_end;
    uint64_t vec;
    uint64_t vec_len;
    uint64_t max_pages;
    uint64_t category_inverted;
    uint64_t category_mask;
    uint64_t category_anyof_mask;
    uint64_t return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

#define SIM_TICK_NS 1000000L              /* workload tick: 1 ms */
#define SIM_READY_TIMEOUT_US (120 * 1000000ULL)

#define barrier() __asm__ __volatile__("" ::: "memory")

static inline bool page_zero_at_start(const libxlmig__sim_vcpu *v,
                                      uint64_t pfn)
{
    return libxlmig__sim_mix64(v->seed ^ (pfn * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a) % 1000
           < v->zero_permille;
}

static inline uint64_t page_key(const libxlmig__sim_vcpu *v, uint64_t pfn,
                                uint32_t gen)
{
    return libxlmig__sim_mix64(v->seed ^ libxlmig__sim_mix64(pfn * 0x100000001b3ULL + gen));
}

static void page_fill(const libxlmig__sim_vcpu *v, uint8_t *mem,
                      uint64_t pfn, uint32_t gen)
{
    uint8_t *p = mem + (pfn << LIBXLMIG__PAGE_SHIFT);

    if (gen == 0 && page_zero_at_start(v, pfn)) {
        memset(p, 0, LIBXLMIG__PAGE_SIZE);
        return;
    }
    libxlmig__sim_page_gen(v->content, page_key(v, pfn, gen), p);
}

static bool page_check(const libxlmig__sim_vcpu *v, const uint8_t *mem,
                       uint64_t pfn, uint32_t gen)
{
    const uint8_t *p = mem + (pfn << LIBXLMIG__PAGE_SHIFT);
    uint64_t want[LIBXLMIG__PAGE_SIZE / sizeof(uint64_t)];

    if (gen == 0 && page_zero_at_start(v, pfn))
        memset(want, 0, sizeof(want));
    else
        libxlmig__sim_page_gen(v->content, page_key(v, pfn, gen),
                               (uint8_t *)want);
    return !memcmp(p, want, sizeof(want));
}

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* One page write of the workload: the vCPU page says what is in flight. */
static void workload_write(libxlmig__sim_vcpu *v, uint8_t *mem,
                           uint32_t *gens)
{
    uint64_t r = rng_next(&v->rng), pfn, span = v->ws_pages;

    if (v->hot_pct && (r >> 40) % 100 < v->hot_pct && span >= 10)
        span /= 10;
    pfn = v->gen_pages + (r % span);
    v->cur_pfn = pfn;
    v->cur_gen = gens[pfn] + 1;
    barrier();
    v->busy = 1;
    barrier();
    page_fill(v, mem, pfn, v->cur_gen);
    barrier();
    gens[pfn] = v->cur_gen;
    barrier();
    v->busy = 0;
    v->nr_writes++;
}

static void ts_add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static int64_t ts_diff_ns(const struct timespec *a, const struct timespec *b)
{
    return (int64_t)(a->tv_sec - b->tv_sec) * 1000000000LL +
           (a->tv_nsec - b->tv_nsec);
}

/* The guest: never returns.  Runs in the domain process. */
static void __attribute__((noreturn))
workload_run(libxlmig__sim_vcpu *v, uint8_t *mem, pid_t parent)
{
    uint32_t *gens = (uint32_t *)mem;
    struct timespec next, now;
    double acc = 0, per_tick;
    unsigned ticks = 0;

    /* A restored domain finishes the write it was stopped in. */
    if (v->busy) {
        page_fill(v, mem, v->cur_pfn, v->cur_gen);
        barrier();
        gens[v->cur_pfn] = v->cur_gen;
        barrier();
        v->busy = 0;
        v->nr_writes++;
    }
    per_tick = v->dirty_rate == UINT64_MAX ? 0
             : (double)v->dirty_rate * SIM_TICK_NS / 1e9;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        if (parent && ++ticks % 64 == 0 && getppid() != parent)
            _exit(0);
        if (v->dirty_rate == UINT64_MAX) {
            int k;
            for (k = 0; k < 256; k++)
                workload_write(v, mem, gens);
            continue;
        }
        acc += per_tick;
        while (acc >= 1) {
            workload_write(v, mem, gens);
            acc -= 1;
        }
        ts_add_ns(&next, SIM_TICK_NS);
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* After a stop (pause, throttle) do not catch up. */
        if (ts_diff_ns(&now, &next) > 2 * SIM_TICK_NS)
            next = now;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
}

/* The domain's echo service, for its clients (echo.c). */
static void *echo_main(void *arg)
{
    libxlmig_echo_serve((int)(intptr_t)arg);
    return NULL;
}

/*
 * Answer the echo service on ip, from this process, so that the domain
 * falls silent while paused.  IP_FREEBIND: the address comes up on this
 * host only when the domain runs here (its interface, sim_host.c).
 */
static void echo_start(const char *ip)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(LIBXLMIG_ECHO_PORT) };
    pthread_t t;
    int one = 1, fd;

    if (!ip || !*ip || inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
        return;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
        pthread_create(&t, NULL, echo_main, (void *)(intptr_t)fd))
        close(fd);
}

/* A userfaultfd for this process's own memory; -1 (errno) if none. */
static int uffd_open(void)
{
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK |
                            UFFD_USER_MODE_ONLY);

    if (uffd < 0 && errno == EINVAL)
        uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    return uffd;
}

/*
 * Register addr..addr+len on uffd for asynchronous write-protect and
 * write-protect it all: from now on the kernel logs every first write,
 * for PAGEMAP_SCAN.  0, or -errno (-ENOSYS: no UFFD_FEATURE_WP_ASYNC).
 */
static int uffd_wp_arm(int uffd, void *addr, size_t len)
{
    struct uffdio_api api;
    struct uffdio_register reg;
    struct uffdio_writeprotect wp;

    memset(&api, 0, sizeof(api));
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
    if (ioctl(uffd, UFFDIO_API, &api))
        return -(errno == EINVAL ? ENOSYS : errno);
    memset(&reg, 0, sizeof(reg));
    reg.range.start = (uintptr_t)addr;
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    memset(&wp, 0, sizeof(wp));
    wp.range = reg.range;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) ||
        ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
        return -errno;
    return 0;
}

static bool sim_persistent;

void libxlmig__sim_set_persistent(bool on)
{
    sim_persistent = on;
}

/* Where a domain process keeps its RAM and vCPU page (sim_dom_adopt_pid). */
#define SIM_FD_RAM  3
#define SIM_FD_VCPU 4

/*
 * The domain process: set up tracking, then run (or wait paused).
 * parent 0: a persistent domain, in its own session (a stopped domain in
 * an orphaned process group would get SIGHUP and SIGCONT from the kernel
 * when its creator ends), keeping RAM and vCPU page at SIM_FD_RAM and
 * SIM_FD_VCPU; else it ends when parent does.
 */
static void __attribute__((noreturn))
domain_main(libxlmig__sim_vcpu *v, int memfd, int vcpufd, bool fresh,
            pid_t parent, const char *ip)
{
    size_t size = v->nr_pages << LIBXLMIG__PAGE_SHIFT;
    uint8_t *mem;
    uint64_t pfn;
    int uffd, r;

    if (parent)
        setpgid(0, 0);   /* stopped and orphaned: the kernel sends SIGHUP */
    else
        setsid();
    signal(SIGHUP, SIG_DFL);
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mem == MAP_FAILED) {
        v->ready = -errno;
        _exit(1);
    }
    if (!parent) {
        int a = fcntl(memfd, F_DUPFD, 16), b = fcntl(vcpufd, F_DUPFD, 16);

        if (a < 0 || b < 0 || dup2(a, SIM_FD_RAM) < 0 ||
            dup2(b, SIM_FD_VCPU) < 0) {
            v->ready = -errno;
            _exit(1);
        }
        syscall(SYS_close_range, (unsigned)SIM_FD_VCPU + 1, ~0U, 0U);
    } else {
        syscall(SYS_close_range, 3U, ~0U, 0U);
    }
    if (fresh) {
        for (pfn = v->gen_pages; pfn < v->nr_pages; pfn++)
            page_fill(v, mem, pfn, 0);
    }
    uffd = uffd_open();
    if (uffd < 0) {
        v->ready = -errno;
        _exit(1);
    }
    r = uffd_wp_arm(uffd, mem, size);
    if (r) {
        v->ready = r;
        _exit(1);
    }
    v->guest_base = (uintptr_t)mem;
    echo_start(ip);
    barrier();
    v->ready = 1;
    if (!fresh)
        raise(SIGSTOP);
    workload_run(v, mem, parent);
}

int libxlmig__sim_probe(libxlmig__gc *gc)
{
    struct page_region vec[4];
    struct pm_scan_arg arg;
    size_t len = 4 * LIBXLMIG__PAGE_SIZE;
    uint8_t *m = MAP_FAILED;
    int uffd = -1, pm = -1, rc;
    long r;

    m = mmap(NULL, len, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uffd = uffd_open();
    if (m == MAP_FAILED || uffd < 0) {
        LOGE(ERROR, "sim backend: userfaultfd is not available");
        rc = LIBXLMIG_ERROR_UNSUPPORTED;
        goto out;
    }
    if (uffd_wp_arm(uffd, m, len)) {
        LOGE(ERROR, "sim backend: the kernel lacks userfaultfd asynchronous "
             "write-protect (UFFD_FEATURE_WP_ASYNC, Linux 6.7 or later), "
             "needed for dirty tracking");
        rc = LIBXLMIG_ERROR_UNSUPPORTED;
        goto out;
    }
    m[LIBXLMIG__PAGE_SIZE] = 1;    /* write one page */
    pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    memset(&arg, 0, sizeof(arg));
    arg.size = sizeof(arg);
    arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    arg.start = (uintptr_t)m;
    arg.end = (uintptr_t)m + len;
    arg.vec = (uintptr_t)vec;
    arg.vec_len = 4;
    arg.category_mask = PAGE_IS_WRITTEN;
    arg.return_mask = PAGE_IS_WRITTEN;
    r = pm < 0 ? -1 : ioctl(pm, PAGEMAP_SCAN, &arg);
    if (r != 1 || vec[0].start != (uintptr_t)m + LIBXLMIG__PAGE_SIZE ||
        vec[0].end != (uintptr_t)m + 2 * LIBXLMIG__PAGE_SIZE) {
        LOGE(ERROR, "sim backend: the kernel lacks the PAGEMAP_SCAN ioctl "
             "with write-protect (Linux 6.7 or later), needed for dirty "
             "tracking");
        rc = LIBXLMIG_ERROR_UNSUPPORTED;
        goto out;
    }
    rc = 0;
 out:
    if (pm >= 0) close(pm);
    if (uffd >= 0) close(uffd);
    if (m != MAP_FAILED) munmap(m, len);
    return rc;
}

/* /proc/PID/stat into buf; returns what follows the command name (") S
 * ..."), or NULL. */
static const char *proc_stat(pid_t pid, char *buf, size_t size)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) return NULL;
    buf[n] = 0;
    return strrchr(buf, ')');
}

/* The process's start time (field 22), 0 if unknown, and its state
 * (field 3) into *state_r (0 if unknown; state_r may be NULL). */
static uint64_t proc_stat_fields(pid_t pid, char *state_r)
{
    char buf[1024];
    const char *p = proc_stat(pid, buf, sizeof(buf));   /* field 3 on */
    unsigned long long t = 0;
    int field;

    if (state_r)
        *state_r = p && p[1] == ' ' ? p[2] : 0;
    for (field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &t) != 1) return 0;
    return t;
}

static char proc_state(pid_t pid)
{
    char s;

    proc_stat_fields(pid, &s);
    return s;
}

uint64_t libxlmig__proc_start_time(pid_t pid)
{
    return proc_stat_fields(pid, NULL);
}

/* Signal the domain process; through its pidfd when it has one, which
 * cannot hit a process that reused the pid. */
static int dom_kill(libxlmig__sim_dom *d, int sig)
{
    if (d->pidfd >= 0)
        return (int)syscall(SYS_pidfd_send_signal, d->pidfd, sig, NULL, 0);
    return kill(d->pid, sig);
}

bool libxlmig__sim_dom_alive(libxlmig__sim_dom *d)
{
    char s;

    if (d->pid <= 0) return false;
    s = proc_state(d->pid);
    return s && s != 'Z' && s != 'X';
}

static int wait_stopped(libxlmig__gc *gc, libxlmig__sim_dom *d)
{
    uint64_t t0 = libxlmig__now_us();
    char s;

    for (;;) {
        s = proc_state(d->pid);
        if (s == 'T' || s == 't') return 0;
        if (!s || s == 'Z' || s == 'X') {
            LOGD(ERROR, d->domid, "domain process %d is gone", (int)d->pid);
            return LIBXLMIG_ERROR_FAIL;
        }
        if (libxlmig__now_us() - t0 > 10 * 1000000ULL) {
            LOGD(ERROR, d->domid, "domain process %d does not stop",
                 (int)d->pid);
            return LIBXLMIG_ERROR_TIMEOUT;
        }
        usleep(20);
    }
}

int libxlmig__sim_dom_pause(libxlmig__gc *gc, libxlmig__sim_dom *d)
{
    if (dom_kill(d, SIGSTOP)) {
        LOGED(ERROR, d->domid, "cannot stop domain process %d", (int)d->pid);
        return LIBXLMIG_ERROR_FAIL;
    }
    d->paused = true;
    return wait_stopped(gc, d);
}

int libxlmig__sim_dom_unpause(libxlmig__gc *gc, libxlmig__sim_dom *d)
{
    if (dom_kill(d, SIGCONT)) {
        LOGED(ERROR, d->domid, "cannot continue domain process %d",
              (int)d->pid);
        return LIBXLMIG_ERROR_FAIL;
    }
    d->paused = false;
    return 0;
}

int libxlmig__sim_dom_clean_dirty(libxlmig__gc *gc, libxlmig__sim_dom *d,
                                  unsigned long *bitmap, uint64_t *count_r)
{
    return libxlmig__sim_dom_clean_range(gc, d, 0, d->nr_pages, bitmap,
                                         count_r);
}

int libxlmig__sim_dom_clean_range(libxlmig__gc *gc, libxlmig__sim_dom *d,
                                  uint64_t first, uint64_t last,
                                  unsigned long *bitmap, uint64_t *count_r)
{
    enum { NVEC = 1024 };
    struct page_region vec[NVEC];
    struct pm_scan_arg arg;
    uint64_t base = d->vcpu->guest_base, end, count = 0, a, pfn;
    long r, i;

    if (last > d->nr_pages) last = d->nr_pages;
    if (first >= last) {
        if (count_r) *count_r = 0;
        return 0;
    }
    end = base + (last << LIBXLMIG__PAGE_SHIFT);
    memset(&arg, 0, sizeof(arg));
    arg.size = sizeof(arg);
    arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    arg.start = base + (first << LIBXLMIG__PAGE_SHIFT);
    arg.end = end;
    arg.vec = (uintptr_t)vec;
    arg.vec_len = NVEC;
    arg.category_mask = PAGE_IS_WRITTEN;
    arg.return_mask = PAGE_IS_WRITTEN;
    for (;;) {
        r = ioctl(d->pagemap_fd, PAGEMAP_SCAN, &arg);
        if (r < 0) {
            if (errno == ENOTTY || errno == EINVAL)
                LOGD(ERROR, d->domid, "the kernel lacks the PAGEMAP_SCAN "
                     "ioctl with write-protect (Linux 6.7 or later is "
                     "needed for dirty tracking)");
            else
                LOGED(ERROR, d->domid, "PAGEMAP_SCAN of domain process %d",
                      (int)d->pid);
            return LIBXLMIG_ERROR_FAIL;
        }
        for (i = 0; i < r; i++) {
            for (a = vec[i].start; a < vec[i].end;
                 a += LIBXLMIG__PAGE_SIZE) {
                pfn = (a - base) >> LIBXLMIG__PAGE_SHIFT;
                if (bitmap) {
                    if (!bitmap_test(bitmap, pfn)) count++;
                    bitmap_set(bitmap, pfn);
                } else {
                    count++;
                }
            }
        }
        if (arg.walk_end >= end) break;
        arg.start = arg.walk_end;
    }
    if (count_r) *count_r = count;
    return 0;
}

void libxlmig__sim_config_complete(libxlmig__sim_config *c, uint32_t domid)
{
    uint64_t r = libxlmig__sim_mix64(libxlmig__now_us() ^ ((uint64_t)getpid() << 32) ^
                       domid);
    uint64_t r2 = libxlmig__sim_mix64(r);

    if (!c->seed) c->seed = (r >> 1) | 1;
    if (!c->uuid[0])
        snprintf(c->uuid, sizeof(c->uuid),
                 "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(r >> 32),
                 (unsigned)(r >> 16) & 0xffff, (unsigned)r & 0xfff,
                 (unsigned)((r2 >> 48) & 0x3fff) | 0x8000,
                 (unsigned long long)(r2 & 0xffffffffffffULL));
    if (!c->mac[0])
        snprintf(c->mac, sizeof(c->mac), "00:16:3e:%02x:%02x:%02x",
                 (unsigned)(r2 >> 8) & 0x7f, (unsigned)(r2 >> 16) & 0xff,
                 (unsigned)(r2 >> 24) & 0xff);
    /* No default IP: a domain is on the public network only if told. */
}

void libxlmig__sim_dom_destroy(libxlmig__sim_dom *d)
{
    if (!d) return;
    if (d->pid > 0) {
        dom_kill(d, SIGKILL);
        if (!d->adopted) {
            waitpid(d->pid, NULL, 0);
        } else if (d->pidfd >= 0) {
            /* Not our child: its end shows on the pidfd. */
            struct pollfd pfd = { .fd = d->pidfd, .events = POLLIN };

            poll(&pfd, 1, 5000);
        }
    }
    if (d->pidfd >= 0) close(d->pidfd);
    if (d->vcpufd >= 0) close(d->vcpufd);
    if (d->pagemap_fd >= 0) close(d->pagemap_fd);
    if (d->mem && d->mem != MAP_FAILED)
        munmap(d->mem, d->nr_pages << LIBXLMIG__PAGE_SHIFT);
    if (d->vcpu && (void *)d->vcpu != MAP_FAILED)
        munmap(d->vcpu, LIBXLMIG__PAGE_SIZE);
    if (d->memfd >= 0) close(d->memfd);
    free(d);
}

static int vcpu_set_machine(libxlmig__gc *gc, libxlmig__sim_vcpu *v,
                            const libxlmig__sim_config *cfg,
                            uint64_t nr_pages);

/* The RAM of d (from a memfd: zero, or allocated up front unless
 * fresh) and its vCPU page, both shared with the domain process. */
static int dom_map_memory(libxlmig__gc *gc, libxlmig__sim_dom *d,
                          const libxlmig__sim_config *cfg, bool fresh)
{
    uint64_t size = d->nr_pages << LIBXLMIG__PAGE_SHIFT;

    d->memfd = memfd_create(cfg->name[0] ? cfg->name : "xlmig-sim",
                            MFD_CLOEXEC);
    if (d->memfd < 0 || ftruncate(d->memfd, size)) {
        LOGE(ERROR, "cannot create %llu MiB of RAM for domain %s",
             (unsigned long long)cfg->memory_mib, cfg->name);
        return LIBXLMIG_ERROR_IO;
    }
    if (!fresh && fallocate(d->memfd, 0, 0, size)) {
        LOGE(ERROR, "cannot allocate %llu MiB of RAM for domain %s",
             (unsigned long long)cfg->memory_mib, cfg->name);
        return LIBXLMIG_ERROR_NOMEM;
    }
    d->vcpufd = memfd_create("xlmig-sim-vcpu", MFD_CLOEXEC);
    if (d->vcpufd < 0 || ftruncate(d->vcpufd, LIBXLMIG__PAGE_SIZE)) {
        LOGE(ERROR, "cannot create the vCPU page of domain %s", cfg->name);
        return LIBXLMIG_ERROR_IO;
    }
    d->vcpu = mmap(NULL, LIBXLMIG__PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_SHARED, d->vcpufd, 0);
    d->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  d->memfd, 0);
    if (d->vcpu == MAP_FAILED || d->mem == MAP_FAILED) {
        LOGE(ERROR, "cannot map the RAM of domain %s", cfg->name);
        return LIBXLMIG_ERROR_NOMEM;
    }
    /* A receiver writes every page: fault them in writable up front. */
    if (!fresh)
        madvise(d->mem, size, MADV_POPULATE_WRITE);
    return 0;
}

/* Fork the domain process and wait until it says it is ready, with
 * its dirty tracking set up. */
static int dom_start_process(libxlmig__gc *gc, libxlmig__sim_dom *d,
                             const libxlmig__sim_config *cfg, bool fresh,
                             pid_t parent)
{
    libxlmig__sim_vcpu *v = d->vcpu;
    uint64_t t0;

    libxlmig__sim_content_init();
    d->pid = fork();
    if (d->pid < 0) {
        LOGE(ERROR, "cannot start the process of domain %s", cfg->name);
        return LIBXLMIG_ERROR_FAIL;
    }
    if (d->pid == 0)
        domain_main(v, d->memfd, d->vcpufd, fresh,
                    sim_persistent ? 0 : parent, cfg->ip);
    d->pidfd = (int)syscall(SYS_pidfd_open, d->pid, 0);

    t0 = libxlmig__now_us();
    while (!v->ready) {
        if (!libxlmig__sim_dom_alive(d) ||
            libxlmig__now_us() - t0 > SIM_READY_TIMEOUT_US) {
            LOG(ERROR, "the process of domain %s did not start", cfg->name);
            return LIBXLMIG_ERROR_FAIL;
        }
        usleep(500);
    }
    if (v->ready < 0) {
        if (v->ready == -ENOSYS)
            LOG(ERROR, "the kernel lacks userfaultfd asynchronous "
                "write-protect (UFFD_FEATURE_WP_ASYNC, Linux 6.7 or later), "
                "needed for dirty tracking of sim domains");
        else
            LOGEV(ERROR, -v->ready, "cannot set up dirty tracking for "
                  "domain %s (userfaultfd)", cfg->name);
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }
    return 0;
}

int libxlmig__sim_dom_create(libxlmig__gc *gc,
                             const libxlmig__sim_config *cfg, bool fresh,
                             libxlmig__sim_dom **dom_r)
{
    libxlmig__sim_dom *d = NULL;
    libxlmig__sim_vcpu *v;
    uint64_t size;
    char path[64];
    pid_t parent = getpid();
    int rc;

    if (cfg->memory_mib < 1 || cfg->memory_mib > (1ULL << 20)) {
        LOG(ERROR, "memory of %llu MiB is out of range (1 MiB to 1 TiB)",
            (unsigned long long)cfg->memory_mib);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    d = calloc(1, sizeof(*d));
    if (!d) { rc = LIBXLMIG_ERROR_NOMEM; goto out; }
    d->memfd = d->pagemap_fd = d->vcpufd = d->pidfd = -1;
    d->pid = -1;
    d->cfg = *cfg;
    d->nr_pages = cfg->memory_mib << (20 - LIBXLMIG__PAGE_SHIFT);
    size = d->nr_pages << LIBXLMIG__PAGE_SHIFT;

    rc = dom_map_memory(gc, d, cfg, fresh);
    if (rc) goto out;
    v = d->vcpu;
    v->magic = LIBXLMIG__SIM_VCPU_MAGIC;
    v->version = 1;
    v->rng = libxlmig__sim_mix64(cfg->seed ^ 0x1234567) | 1;
    rc = vcpu_set_machine(gc, v, cfg, d->nr_pages);
    if (rc) goto out;
    rc = dom_start_process(gc, d, cfg, fresh, parent);
    if (rc) goto out;

    /* The engine reads every page: map them now, not while sending. */
    if (fresh)
        madvise(d->mem, size, MADV_POPULATE_READ);
    snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)d->pid);
    d->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->pagemap_fd < 0) {
        LOGE(ERROR, "cannot open %s", path);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    /* Proves PAGEMAP_SCAN works here, and starts a clean log. */
    rc = libxlmig__sim_dom_clean_dirty(gc, d, NULL, NULL);
    if (rc) goto out;
    if (!fresh) {
        rc = wait_stopped(gc, d);
        if (rc) goto out;
        d->paused = true;
    }
    *dom_r = d;
    d = NULL;
    rc = 0;
 out:
    libxlmig__sim_dom_destroy(d);
    return rc;
}

/* The machine fields of the vCPU page, from cfg. */
static int vcpu_set_machine(libxlmig__gc *gc, libxlmig__sim_vcpu *v,
                            const libxlmig__sim_config *cfg,
                            uint64_t nr_pages)
{
    uint64_t ws;

    v->seed = cfg->seed;
    v->nr_pages = nr_pages;
    v->gen_pages = (nr_pages * sizeof(uint32_t) + LIBXLMIG__PAGE_SIZE - 1)
                   >> LIBXLMIG__PAGE_SHIFT;
    if (v->gen_pages >= nr_pages) {
        LOG(ERROR, "domain %s is too small", cfg->name);
        return LIBXLMIG_ERROR_INVAL;
    }
    ws = cfg->working_set_mib << (20 - LIBXLMIG__PAGE_SHIFT);
    if (!ws || ws > nr_pages - v->gen_pages)
        ws = nr_pages - v->gen_pages;
    v->ws_pages = ws;
    v->dirty_rate = cfg->dirty_rate;
    v->hot_pct = cfg->hot_pct;
    v->zero_permille = (uint32_t)(cfg->zero_fraction * 1000 + 0.5);
    v->content = cfg->content;
    return 0;
}

int libxlmig__sim_dom_adopt(libxlmig__gc *gc, libxlmig__sim_dom *d,
                            const libxlmig__sim_config *cfg)
{
    int rc;

    if (cfg->memory_mib != d->cfg.memory_mib || !d->paused) {
        LOG(ERROR, "domain %s (%llu MiB) cannot take the state of a "
            "%llu MiB domain", d->cfg.name,
            (unsigned long long)d->cfg.memory_mib,
            (unsigned long long)cfg->memory_mib);
        return LIBXLMIG_ERROR_INVAL;
    }
    rc = vcpu_set_machine(gc, d->vcpu, cfg, d->nr_pages);
    if (rc) return rc;
    d->cfg = *cfg;
    return 0;
}

int libxlmig__sim_dom_adopt_pid(libxlmig__gc *gc, pid_t pid,
                                uint64_t start_time,
                                const libxlmig__sim_config *cfg,
                                libxlmig__sim_dom **dom_r)
{
    libxlmig__sim_dom *d = NULL;
    char path[64], link[128];
    struct stat st;
    ssize_t n;
    char s;
    int rc;

    d = calloc(1, sizeof(*d));
    if (!d) return LIBXLMIG_ERROR_NOMEM;
    d->memfd = d->pagemap_fd = d->vcpufd = d->pidfd = -1;
    d->pid = -1;
    d->adopted = true;
    d->cfg = *cfg;
    d->nr_pages = cfg->memory_mib << (20 - LIBXLMIG__PAGE_SHIFT);
    /* The pidfd first: from here on the pid cannot be another process. */
    d->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (d->pidfd < 0 || proc_stat_fields(pid, &s) != start_time || !s ||
        s == 'Z' || s == 'X') {
        LOG(ERROR, "the process %d of domain %s is gone", (int)pid,
            cfg->name);
        rc = LIBXLMIG_ERROR_NOTFOUND;
        goto out;
    }
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, SIM_FD_RAM);
    n = readlink(path, link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    if (strncmp(link, "/memfd:", 7)) {
        LOG(ERROR, "process %d is not the domain %s (its fd %d is '%s')",
            (int)pid, cfg->name, SIM_FD_RAM, link);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    d->memfd = open(path, O_RDWR | O_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, SIM_FD_VCPU);
    d->vcpufd = open(path, O_RDWR | O_CLOEXEC);
    if (d->memfd < 0 || d->vcpufd < 0 || fstat(d->memfd, &st)) {
        LOGE(ERROR, "cannot reopen the memory of domain %s (process %d)",
             cfg->name, (int)pid);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    if ((uint64_t)st.st_size != d->nr_pages << LIBXLMIG__PAGE_SHIFT) {
        LOG(ERROR, "domain %s (process %d) has %llu bytes of RAM, its "
            "config says %llu MiB", cfg->name, (int)pid,
            (unsigned long long)st.st_size,
            (unsigned long long)cfg->memory_mib);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    d->vcpu = mmap(NULL, LIBXLMIG__PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_SHARED, d->vcpufd, 0);
    d->mem = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  d->memfd, 0);
    if (d->vcpu == MAP_FAILED || d->mem == MAP_FAILED) {
        LOGE(ERROR, "cannot map the memory of domain %s", cfg->name);
        rc = LIBXLMIG_ERROR_NOMEM;
        goto out;
    }
    if (d->vcpu->magic != LIBXLMIG__SIM_VCPU_MAGIC ||
        d->vcpu->nr_pages != d->nr_pages || d->vcpu->ready != 1) {
        LOG(ERROR, "domain %s (process %d): its vCPU page does not match "
            "its config", cfg->name, (int)pid);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    d->pid = pid;
    snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
    d->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->pagemap_fd < 0) {
        LOGE(ERROR, "cannot open %s", path);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    madvise(d->mem, st.st_size, MADV_POPULATE_READ);
    s = proc_state(pid);   /* again: the domain may have run on */
    d->paused = s == 'T' || s == 't';
    *dom_r = d;
    d = NULL;
    rc = 0;
 out:
    if (d) {
        d->pid = -1;    /* never kill what we failed to take over */
        libxlmig__sim_dom_destroy(d);
    }
    return rc;
}

int libxlmig__sim_dom_set_regs(libxlmig__gc *gc, libxlmig__sim_dom *d,
                               const void *buf, uint32_t len)
{
    const libxlmig__sim_regs *r = buf;
    libxlmig__sim_vcpu *v = d->vcpu;

    if (len != sizeof(*r) || (r->busy && r->cur_pfn >= v->nr_pages)) {
        LOG(ERROR, "malformed vCPU state record (%u bytes)", len);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    v->rng = r->rng;
    v->nr_writes = r->nr_writes;
    v->cur_pfn = r->cur_pfn;
    v->cur_gen = r->cur_gen;
    v->busy = r->busy;
    return 0;
}

int libxlmig__sim_dom_verify(libxlmig__gc *gc, libxlmig__sim_dom *d,
                             uint64_t *bad_r, uint64_t *first_bad_r)
{
    const libxlmig__sim_vcpu *v = d->vcpu;
    const uint32_t *gens = (const uint32_t *)d->mem;
    bool was_paused = d->paused;
    uint64_t pfn, bad = 0, first = UINT64_MAX;
    int rc;

    if (!was_paused) {
        rc = libxlmig__sim_dom_pause(gc, d);
        if (rc) return rc;
    }
    for (pfn = v->gen_pages; pfn < d->nr_pages; pfn++) {
        if (v->busy && pfn == v->cur_pfn)
            continue;      /* in flight; the vCPU redoes it on resume */
        if (!page_check(v, d->mem, pfn, gens[pfn])) {
            if (!bad) first = pfn;
            bad++;
        }
    }
    if (!was_paused) {
        rc = libxlmig__sim_dom_unpause(gc, d);
        if (rc) return rc;
    }
    *bad_r = bad;
    *first_bad_r = first;
    return 0;
}

int libxlmig__sim_config_to_json(libxlmig__gc *gc,
                                 const libxlmig__sim_config *c,
                                 char **json_r)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_str(g, "name", c->name);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_str(g, "uuid", c->uuid);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_str(g, "mac", c->mac);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_str(g, "ip", c->ip);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_uint(g, "memory_mib", c->memory_mib);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_uint(g, "dirty_rate", c->dirty_rate);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_uint(g, "working_set_mib", c->working_set_mib);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_double(g, "zero_fraction", c->zero_fraction);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_uint(g, "hot_pct", c->hot_pct);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_uint(g, "seed", c->seed);
    if (s != yajl_gen_status_ok) goto fail;
    s = libxlmig__yajl_gen_kv_str(g, "content",
                                  libxlmig_sim_content_to_string(
                                      c->content == LIBXLMIG_SIM_CONTENT_MIXED
                                      ? c->content
                                      : LIBXLMIG_SIM_CONTENT_RANDOM));
    if (s != yajl_gen_status_ok) goto fail;
    s = yajl_gen_map_close(g);
    if (s != yajl_gen_status_ok) goto fail;
    return libxlmig__json_finish(gc, g, json_r);
 fail:
    LOG(ERROR, "cannot encode a sim domain config");
    return LIBXLMIG_ERROR_JSON;
}

static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "");
}

int libxlmig__sim_config_from_json(libxlmig__gc *gc, const char *text,
                                   libxlmig__sim_config *c)
{
    yajl_val t;
    long long hot;
    int rc;

    memset(c, 0, sizeof(*c));
    rc = libxlmig__json_parse(gc, text, "domain config record", &t);
    if (rc) return rc;
    rc = libxlmig__json_check_version(gc, t, "domain config record", 1);
    if (rc) return rc;
    copy_str(c->name, sizeof(c->name), libxlmig__json_get_str(t, "name"));
    copy_str(c->uuid, sizeof(c->uuid), libxlmig__json_get_str(t, "uuid"));
    copy_str(c->mac, sizeof(c->mac), libxlmig__json_get_str(t, "mac"));
    copy_str(c->ip, sizeof(c->ip), libxlmig__json_get_str(t, "ip"));
    rc = libxlmig__json_get_u64(gc, t, "memory_mib", &c->memory_mib);
    if (!rc) rc = libxlmig__json_get_u64(gc, t, "dirty_rate", &c->dirty_rate);
    if (!rc) rc = libxlmig__json_get_u64(gc, t, "working_set_mib",
                                         &c->working_set_mib);
    if (!rc) rc = libxlmig__json_get_double(gc, t, "zero_fraction",
                                            &c->zero_fraction);
    if (!rc) rc = libxlmig__json_get_int(gc, t, "hot_pct", &hot);
    if (!rc) rc = libxlmig__json_get_u64(gc, t, "seed", &c->seed);
    if (rc) return rc;
    c->hot_pct = (uint32_t)hot;
    /* Absent: a record of a version that had random content only. */
    c->content = LIBXLMIG_SIM_CONTENT_RANDOM;
    if (libxlmig__json_get_str(t, "content") &&
        libxlmig_sim_content_from_string(libxlmig__json_get_str(t, "content"),
                                         &c->content)) {
        LOG(ERROR, "domain config record: unknown content '%s'",
            libxlmig__json_get_str(t, "content"));
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (!c->name[0]) {
        LOG(ERROR, "domain config record has no name");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    return 0;
}
