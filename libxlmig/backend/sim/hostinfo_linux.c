/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Host facts read from Linux itself, for the simulated hypervisor: the
 * memory the sim domains may use is the machine's available memory.
 */
#include <sys/utsname.h>
#include <unistd.h>

#include "backend/sim/sim.h"
#include "policy.h"

static int meminfo_kib(libxlmig__gc *gc, const char *key, uint64_t *v_r)
{
    FILE *f = NULL;
    char line[256];
    size_t klen = strlen(key);
    unsigned long long v;
    int rc;

    f = fopen("/proc/meminfo", "r");
    if (!f) {
        LOGE(ERROR, "cannot open /proc/meminfo");
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, key, klen) && line[klen] == ':' &&
            sscanf(line + klen + 1, "%llu", &v) == 1) {
            *v_r = v;
            rc = 0;
            goto out;
        }
    }
    LOG(ERROR, "/proc/meminfo has no %s line", key);
    rc = LIBXLMIG_ERROR_IO;
 out:
    if (f) fclose(f);
    return rc;
}

static uint32_t cpu_mhz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
            break;
    fclose(f);
    return (uint32_t)mhz;
}

int libxlmig__host_info_linux(libxlmig__gc *gc, libxlmig_host_info *hi)
{
    struct utsname u;
    long ncpu;
    int rc;

    rc = meminfo_kib(gc, "MemTotal", &hi->total_memory_kib);
    if (rc) goto out;
    rc = meminfo_kib(gc, "MemAvailable", &hi->free_memory_kib);
    if (rc) goto out;
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    hi->nr_cpus = ncpu > 0 ? (uint32_t)ncpu : 1;
    hi->nr_nodes = 1;
    hi->cpu_mhz = cpu_mhz();
    if (uname(&u) == 0)
        hi->hostname = strdup(u.nodename);
 out:
    return rc;
}

int libxlmig__cpu_policy_linux(libxlmig__gc *gc, struct policy_cpuid *p)
{
    if (!policy_capture_native(p)) {
        LOG(ERROR, "no cpuid instruction on this architecture");
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }
    return 0;
}
