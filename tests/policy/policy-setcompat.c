/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Compatibility mode is a cold setting: libxlmig_cpu_set_compat refuses
 * while a domain of that name runs and otherwise writes the cpuid= line
 * into the domain's xl.cfg (replacing an old one, keeping everything
 * else).  Runs against a fake backend whose domain table the test sets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"
#include "policy.h"
#include "tap.h"

static const char *running_name;   /* the fake backend's one domain */
static struct policy_cpuid fake_host;

static int fake_open(libxlmig__gc *gc, void **priv_r)
{
    *priv_r = NULL;
    return 0;
}

static int fake_list(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                     int *nr_r)
{
    libxlmig_dominfo *list = calloc(1, sizeof(*list));

    *nr_r = 0;
    if (running_name) {
        list[0].name = strdup(running_name);
        list[0].domid = 7;
        *nr_r = 1;
    }
    *list_r = list;
    return 0;
}

static int fake_host_policy(libxlmig__gc *gc, void *priv, bool pv,
                            struct policy_cpuid *p)
{
    *p = fake_host;
    return 0;
}

static const libxlmig__host_ops fake_backend = {
    .name = "fake",
    .open = fake_open,
    .list = fake_list,
    .host_cpu_policy = fake_host_policy,
};

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void spew(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) == EOF || fclose(f))
        sysbail("cannot write %s", path);
}

static int count(const char *text, const char *needle)
{
    int n = 0;

    while (text && (text = strstr(text, needle))) {
        n++;
        text++;
    }
    return n;
}

int main(void)
{
    static const char cfg_old[] =
        "name = \"web1\"\n"
        "memory = 1024\n"
        "cpuid = \"host,avx=0\"\n"
        "vcpus = 2\n";
    struct policy_cpuid dom, base;
    char dir[] = "/tmp/xlmig-setcompat-XXXXXX", cfg[256], *value = NULL;
    const char *text;
    libxlmig_ctx *ctx;
    struct stat st;
    int rc;

    if (!mkdtemp(dir))
        sysbail("mkdtemp");
    snprintf(cfg, sizeof(cfg), "%s/web1.cfg", dir);
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    ctx->backend = &fake_backend;
    if (libxlmig_baseline_load(ctx, "Skylake-Server", &fake_host) ||
        libxlmig_baseline_load(ctx, "Haswell", &base))
        bail("baselines: %s", libxlmig_last_error(ctx));
    plan(17);

    spew(cfg, cfg_old);
    chmod(cfg, 0640);
    running_name = "web1";
    rc = libxlmig_cpu_set_compat(ctx, "web1", "Haswell", cfg, &value);
    is_int(LIBXLMIG_ERROR_BUSY, rc, "refused while web1 runs");
    like_string("shut the domain down first", libxlmig_last_error(ctx),
                "and says to shut the domain down first");
    is_string(cfg_old, slurp(cfg), "the config is untouched");

    running_name = "other";
    rc = libxlmig_cpu_set_compat(ctx, "web1", "Haswell", cfg, &value);
    is_int(0, rc, "written once web1 is shut down");
    text = slurp(cfg);
    is_int(1, count(text, "cpuid ="), "exactly one cpuid= setting");
    like_string("name = \"web1\"\nmemory = 1024\ncpuid = \"host,", text,
                "it replaces the old setting in place");
    like_string("\"\nvcpus = 2\n", text, "the lines after it are kept");
    like_string(",avx512f=0,", value ? value : "", "the value masks "
                "avx512f (not in Haswell)");
    ok(!strstr(value ? value : "", ",avx2=0"), "and keeps avx2 (in Haswell)");
    ok(stat(cfg, &st) == 0 && (st.st_mode & 07777) == 0640,
       "the file mode is kept");
    free(value);
    value = NULL;

    rc = libxlmig_cpu_policy_from_xlcfg(ctx, cfg, &fake_host, &dom);
    is_int(0, rc, "the domain's policy comes from its config");
    ok(policy_check(&dom, &base, &(struct policy_check){ 0 }),
       "a Skylake-Server host masked to Haswell fits a Haswell host");

    spew(cfg, "name = \"web1\"\nmemory = 1024");
    rc = libxlmig_cpu_set_compat(ctx, "web1", "x86-64-v2", cfg, NULL);
    text = slurp(cfg);
    ok(rc == 0 && count(text, "cpuid =") == 1 &&
       strstr(text, "memory = 1024\ncpuid = \"host,"),
       "appended to a config without a cpuid= line or final newline");
    rc = libxlmig_xlcfg_get_cpuid(ctx, cfg, &value);
    like_string("host,", value ? value : "", "and read back");
    free(value);

    rc = libxlmig_cpu_set_compat(ctx, "web1", "Pentium4", cfg, NULL);
    like_string("unknown baseline 'Pentium4'", libxlmig_last_error(ctx),
                "an unknown baseline is refused");
    spew(cfg, "cpuid = [ \"0x1:ecx=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0\" ]\n");
    rc = libxlmig_cpu_policy_from_xlcfg(ctx, cfg, &fake_host, &dom);
    like_string("the xend list form) is not supported",
                libxlmig_last_error(ctx), "the list form is reported");
    unlink(cfg);
    rc = libxlmig_cpu_set_compat(ctx, "web1", "Haswell", cfg, NULL);
    is_int(LIBXLMIG_ERROR_NOTFOUND, rc, "a missing config is reported");

    ctx->backend = NULL;
    libxlmig_ctx_free(ctx);
    rmdir(dir);
    return 0;
}
