/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * CPUID policies through the context: capture from the backend, loading
 * policy files and named baselines, the migration pre-flight check, the
 * xl.cfg `cpuid=` setting (read, apply, and the cold compatibility-mode
 * write).  The policy arithmetic itself is in policy/.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tunables.h"
#include "host/host.h"
#include "policy.h"

/* Largest policy or xl.cfg file read, bytes. */
#define CPUPOLICY_MAX_FILE (1024 * 1024)

/* Baselines in listing order; files not named here sort after, by name. */
static const char *const baseline_order[] = {
    "Nehalem", "Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX",
    "Haswell", "Broadwell", "Skylake-Client", "Skylake-Server",
    "Cascadelake-Server", "Icelake-Server", "SapphireRapids",
    "Opteron_G4", "EPYC", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa",
    "x86-64-v2", "x86-64-v3", "x86-64-v4",
};

/*
 * What HVM and PVH domains are checked against here (host/host.h): the
 * same policy the target's pre-flight uses.
 */
int libxlmig_host_cpu_policy(libxlmig_ctx *ctx, struct policy_cpuid *p)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    void *priv;
    int rc;

    rc = BACKEND_NEED(host_cpu_policy, "report the host CPU policy");
    if (rc) goto out;
    policy_init(p);
    rc = ops->host_cpu_policy(gc, priv, false, p);
 out:
    GC_FREE;
    return rc;
}

int libxlmig_domain_cpu_policy(libxlmig_ctx *ctx, uint32_t domid,
                               struct policy_cpuid *p)
{
    GC_INIT(ctx);
    const libxlmig__host_ops *ops;
    void *priv;
    int rc;

    libxlmig_dominfo *list = NULL;
    const char *name = NULL;
    int i, nr = 0;

    rc = BACKEND_NEED(domain_cpu_policy, "report a domain's CPU policy");
    if (rc) goto out;
    rc = BACKEND_NEED(list, "list domains");
    if (rc) goto out;
    rc = ops->list(gc, priv, &list, &nr);
    if (rc) goto out;
    for (i = 0; i < nr && !name; i++)
        if (list[i].domid == domid)
            name = GCSTRDUP(list[i].name);
    libxlmig_dominfo_list_free(list, nr);
    if (!name) {
        LOG(ERROR, "no domain %u on this host", domid);
        rc = LIBXLMIG_ERROR_NOTFOUND;
        goto out;
    }
    policy_init(p);
    rc = ops->domain_cpu_policy(gc, priv, name, p);
 out:
    GC_FREE;
    return rc;
}

/* Read a whole (small) file into arena memory, NUL-terminated. */
static int read_file(libxlmig__gc *gc, const char *path, char **text_r)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t r;
    int fd = -1, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        LOGE(ERROR, "%s", path);
        rc = errno == ENOENT ? LIBXLMIG_ERROR_NOTFOUND : LIBXLMIG_ERROR_IO;
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        LOGE(ERROR, "%s: stat", path);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CPUPOLICY_MAX_FILE) {
        LOG(ERROR, "%s: not a regular file of at most %d bytes", path,
            CPUPOLICY_MAX_FILE);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    buf = libxlmig__zalloc(gc, (size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            LOGE(ERROR, "%s: read", path);
            rc = LIBXLMIG_ERROR_IO;
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *text_r = buf;
    rc = 0;
 out:
    if (fd >= 0) close(fd);
    return rc;
}

static int policy_load(libxlmig__gc *gc, const char *path,
                       struct policy_cpuid *p)
{
    char err[512];
    char *text;
    int rc;

    rc = read_file(gc, path, &text);
    if (rc) return rc;
    if (!policy_parse_json_text(text, path, p, err, sizeof(err))) {
        LOG(ERROR, "%s", err);
        return LIBXLMIG_ERROR_INVAL;
    }
    return 0;
}

int libxlmig_cpu_policy_load(libxlmig_ctx *ctx, const char *path,
                             struct policy_cpuid *p)
{
    GC_INIT(ctx);
    int rc = policy_load(gc, path, p);

    GC_FREE;
    return rc;
}

static bool is_dir(const char *path)
{
    struct stat st;

    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int baseline_dir(libxlmig__gc *gc, const char **dir_r)
{
    const char *env = libxlmig__tunable_baseline_dir();
    char self[PATH_MAX];
    const char *d;
    bool build = false;
    ssize_t n;
    unsigned int i;

    if (env) {
        if (!is_dir(env)) {
            LOG(ERROR, "XLMIG_BASELINE_DIR=%s is not a directory", env);
            return LIBXLMIG_ERROR_NOTFOUND;
        }
        *dir_r = env;
        return 0;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        build = policy_is_build_tree_path(self);
    }
    for (i = 0; (d = policy_baseline_dir(build, i)); i++) {
        if (is_dir(d)) {
            *dir_r = d;
            return 0;
        }
    }
    LOG(ERROR, "no baseline directory found (tried %s; set "
        "XLMIG_BASELINE_DIR)", policy_baseline_dir(build, 0));
    return LIBXLMIG_ERROR_NOTFOUND;
}

int libxlmig_baseline_dir(libxlmig_ctx *ctx, char **dir_r)
{
    GC_INIT(ctx);
    const char *d;
    int rc;

    rc = baseline_dir(gc, &d);
    if (rc) goto out;
    *dir_r = strdup(d);
    if (!*dir_r)
        libxlmig__alloc_failed(CTX, __func__, 1, strlen(d) + 1);
 out:
    GC_FREE;
    return rc;
}

static bool baseline_name_ok(const char *name)
{
    const char *c;

    if (!name || !*name || strlen(name) >= POLICY_NAME_MAX)
        return false;
    for (c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' ||
              *c == '.'))
            return false;
    return name[0] != '.';
}

/* The file name (without .json) in dir matching name case-insensitively. */
static int baseline_find(libxlmig__gc *gc, const char *dir, const char *name,
                         const char **path_r)
{
    struct dirent *de;
    DIR *dh = NULL;
    size_t n = strlen(name);
    int rc = LIBXLMIG_ERROR_NOTFOUND;

    dh = opendir(dir);
    if (!dh) {
        LOGE(ERROR, "%s", dir);
        return LIBXLMIG_ERROR_IO;
    }
    while ((de = readdir(dh))) {
        if (strlen(de->d_name) == n + 5 && !strcasecmp(de->d_name + n, ".json")
            && !strncasecmp(de->d_name, name, n)) {
            *path_r = GCSPRINTF("%s/%s", dir, de->d_name);
            rc = 0;
            break;
        }
    }
    closedir(dh);
    return rc;
}

int libxlmig_baseline_load(libxlmig_ctx *ctx, const char *name,
                           struct policy_cpuid *p)
{
    GC_INIT(ctx);
    const char *dir, *path;
    int rc;

    if (!baseline_name_ok(name)) {
        LOG(ERROR, "invalid baseline name '%s'", name ? name : "");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = baseline_dir(gc, &dir);
    if (rc) goto out;
    rc = baseline_find(gc, dir, name, &path);
    if (rc == LIBXLMIG_ERROR_NOTFOUND) {
        LOG(ERROR, "unknown baseline '%s' (see `xlmig cpuid baselines`)",
            name);
        goto out;
    }
    if (rc) goto out;
    rc = policy_load(gc, path, p);
    if (rc) goto out;
    if (!*p->name)
        snprintf(p->name, sizeof(p->name), "%s", name);
 out:
    GC_FREE;
    return rc;
}

static int baseline_rank(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(baseline_order); i++)
        if (!strcasecmp(name, baseline_order[i]))
            return (int)i;
    return (int)ARRAY_SIZE(baseline_order);
}

static int baseline_cmp(const void *a, const void *b)
{
    const struct policy_cpuid *pa = a, *pb = b;
    int ra = baseline_rank(pa->name), rb = baseline_rank(pb->name);

    return ra != rb ? ra - rb : strcasecmp(pa->name, pb->name);
}

int libxlmig_baseline_list(libxlmig_ctx *ctx, struct policy_cpuid **list_r,
                           size_t *nr_r)
{
    GC_INIT(ctx);
    struct policy_cpuid *list = NULL, *nl;
    struct dirent *de;
    const char *dir;
    size_t nr = 0, len;
    DIR *dh = NULL;
    int rc;

    rc = baseline_dir(gc, &dir);
    if (rc) goto out;
    dh = opendir(dir);
    if (!dh) {
        LOGE(ERROR, "%s", dir);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    while ((de = readdir(dh))) {
        len = strlen(de->d_name);
        if (len <= 5 || de->d_name[0] == '.' ||
            strcmp(de->d_name + len - 5, ".json"))
            continue;
        nl = realloc(list, (nr + 1) * sizeof(*list));
        if (!nl)
            libxlmig__alloc_failed(CTX, __func__, nr + 1, sizeof(*list));
        list = nl;
        rc = policy_load(gc, GCSPRINTF("%s/%s", dir, de->d_name), &list[nr]);
        if (rc) goto out;
        if (!*list[nr].name)
            snprintf(list[nr].name, sizeof(list[nr].name), "%.*s",
                     (int)(len - 5), de->d_name);
        nr++;
    }
    if (nr)
        qsort(list, nr, sizeof(*list), baseline_cmp);
    *list_r = list;
    *nr_r = nr;
    list = NULL;
    rc = 0;
 out:
    if (dh) closedir(dh);
    free(list);
    GC_FREE;
    return rc;
}

int libxlmig_cpu_check(libxlmig_ctx *ctx, const struct policy_cpuid *dom,
                       const struct policy_cpuid *host,
                       struct policy_check *res)
{
    GC_INIT(ctx);
    struct policy_check local;
    char *summary = NULL;
    int rc;

    if (!res)
        res = &local;
    if (policy_check(dom, host, res)) {
        rc = 0;
        goto out;
    }
    summary = policy_check_summary(res);
    LOG(ERROR, "CPU policy of %s does not fit %s: %s",
        *dom->name ? dom->name : "the domain",
        *host->name ? host->name : "the host",
        summary ? summary + strlen("not compatible: ") : "not compatible");
    rc = LIBXLMIG_ERROR_INCOMPATIBLE;
 out:
    free(summary);
    GC_FREE;
    return rc;
}

static yajl_gen_status cpu_policy_gen(yajl_gen g, const void *p)
{
    return policy_gen_json(g, p);
}

int libxlmig_cpu_policy_to_json(libxlmig_ctx *ctx,
                                const struct policy_cpuid *p, char **json_r)
{
    return libxlmig__json_encode(ctx, cpu_policy_gen, p, true, "CPU policy",
                                 json_r);
}

/*
 * Find the `cpuid = ...` setting of an xl.cfg text: the offsets of the
 * whole setting [*start, *end) and of its quoted value.  Returns false if
 * there is none.  A list value ([ ... ], the legacy xend form) is found
 * too; *is_list says so.
 */
static bool xlcfg_find_cpuid(const char *text, size_t *start, size_t *end,
                             size_t *vstart, size_t *vend, bool *is_list)
{
    const char *line = text, *c, *q;

    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t linelen = nl ? (size_t)(nl - line) : strlen(line);

        c = line;
        while (*c == ' ' || *c == '\t')
            c++;
        if (!strncmp(c, "cpuid", 5) && (c[5] == ' ' || c[5] == '\t' ||
                                         c[5] == '=')) {
            c += 5;
            while (*c == ' ' || *c == '\t')
                c++;
            if (*c == '=') {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                *start = (size_t)(line - text);
                *is_list = *c == '[';
                if (*is_list) {
                    q = strchr(c, ']');
                    *vstart = (size_t)(c - text);
                    *vend = q ? (size_t)(q + 1 - text) : strlen(text);
                } else if (*c == '"' || *c == '\'') {
                    q = strchr(c + 1, *c);
                    if (!q || (nl && q > nl))
                        q = nl ? nl : c + strlen(c);
                    *vstart = (size_t)(c + 1 - text);
                    *vend = (size_t)(q - text);
                } else {
                    *vstart = (size_t)(c - text);
                    *vend = (size_t)(line + linelen - text);
                }
                q = strchr(text + *vend, '\n');
                *end = q ? (size_t)(q + 1 - text) : strlen(text);
                return true;
            }
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return false;
}

static int xlcfg_get_cpuid(libxlmig__gc *gc, const char *path,
                           const char **value_r)
{
    size_t start, end, vs, ve;
    bool is_list;
    char *text;
    int rc;

    rc = read_file(gc, path, &text);
    if (rc) return rc;
    if (!xlcfg_find_cpuid(text, &start, &end, &vs, &ve, &is_list)) {
        *value_r = NULL;
        return 0;
    }
    if (is_list) {
        LOG(ERROR, "%s: cpuid = [...] (the xend list form) is not "
            "supported; use the \"host,feature=0,...\" form", path);
        return LIBXLMIG_ERROR_INVAL;
    }
    *value_r = libxlmig__strndup(gc, text + vs, ve - vs);
    return 0;
}

int libxlmig_xlcfg_get_cpuid(libxlmig_ctx *ctx, const char *path,
                             char **value_r)
{
    GC_INIT(ctx);
    const char *v;
    int rc;

    rc = xlcfg_get_cpuid(gc, path, &v);
    if (rc) goto out;
    *value_r = v ? strdup(v) : NULL;
 out:
    GC_FREE;
    return rc;
}

int libxlmig_cpu_policy_from_xlcfg(libxlmig_ctx *ctx, const char *path,
                                   const struct policy_cpuid *host,
                                   struct policy_cpuid *p)
{
    GC_INIT(ctx);
    char err[256];
    const char *v;
    int rc;

    rc = xlcfg_get_cpuid(gc, path, &v);
    if (rc) goto out;
    *p = *host;
    snprintf(p->source, sizeof(p->source), "%s (cpuid = \"%s\")", path,
             v ? v : "host");
    if (v && !policy_apply_xlcfg_cpuid(p, v, err, sizeof(err))) {
        LOG(ERROR, "%s: %s", path, err);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = 0;
 out:
    GC_FREE;
    return rc;
}

/* Replace or append the cpuid= setting; atomically, keeping the mode. */
static int xlcfg_write_cpuid(libxlmig__gc *gc, const char *path,
                             const char *value)
{
    size_t start, end, vs, ve, len;
    char tmp[PATH_MAX];
    const char *newtext;
    struct stat st;
    bool is_list, created = false, renamed = false;
    char *text;
    FILE *f = NULL;
    int fd = -1, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.xlmig-tmp", path) >=
        sizeof(tmp)) {
        LOG(ERROR, "%s: path too long", path);
        return LIBXLMIG_ERROR_INVAL;
    }
    rc = read_file(gc, path, &text);
    if (rc) goto out;
    if (stat(path, &st) < 0) {
        LOGE(ERROR, "%s: stat", path);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    if (xlcfg_find_cpuid(text, &start, &end, &vs, &ve, &is_list)) {
        newtext = GCSPRINTF("%.*scpuid = \"%s\"\n%s", (int)start, text,
                            value, text + end);
    } else {
        len = strlen(text);
        newtext = GCSPRINTF("%s%scpuid = \"%s\"\n", text,
                            len && text[len - 1] != '\n' ? "\n" : "", value);
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
              st.st_mode & 07777);
    if (fd < 0) {
        LOGE(ERROR, "%s", tmp);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    created = true;
    f = fdopen(fd, "w");
    if (!f) {
        LOGE(ERROR, "%s", tmp);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    fd = -1;
    if (fputs(newtext, f) == EOF || fflush(f) == EOF ||
        fsync(fileno(f)) < 0) {
        LOGE(ERROR, "%s: write", tmp);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    if (fclose(f) == EOF) {
        f = NULL;
        LOGE(ERROR, "%s: close", tmp);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) < 0) {
        LOGE(ERROR, "rename %s to %s", tmp, path);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    renamed = true;
    rc = 0;
 out:
    if (f) fclose(f);
    if (fd >= 0) close(fd);
    if (created && !renamed) unlink(tmp);
    return rc;
}

int libxlmig_cpu_set_compat(libxlmig_ctx *ctx, const char *domain,
                            const char *baseline, const char *cfg_path,
                            char **value_r)
{
    GC_INIT(ctx);
    struct policy_cpuid base;
    char *value = NULL;
    bool running = false;
    int rc;

    rc = libxlmig_baseline_load(CTX, baseline, &base);
    if (rc) goto out;
    rc = libxlmig_domain_lookup(CTX, domain, &running, NULL);
    if (rc == LIBXLMIG_ERROR_UNSUPPORTED || rc == LIBXLMIG_ERROR_BACKEND) {
        /*
         * No list, or no sim daemon (which hosts every sim domain, so none
         * runs).  Logged at ERROR by the lookup; only a warning here.
         */
        CTX->last_error[0] = '\0';
        LOG(WARN, "cannot tell whether %s runs on the %s backend; "
            "assuming it is shut down", domain, CTX->backend->name);
    } else if (rc) {
        goto out;
    }
    if (running) {
        LOG(ERROR, "domain %s is running: compatibility mode is a cold "
            "setting, shut the domain down first", domain);
        rc = LIBXLMIG_ERROR_BUSY;
        goto out;
    }
    value = policy_xlcfg_mask(&base, NULL, 0);
    if (!value)
        libxlmig__alloc_failed(CTX, __func__, 1, 0);
    rc = xlcfg_write_cpuid(gc, cfg_path, value);
    if (rc) goto out;
    LOG(INFO, "%s: cpuid set to baseline %s", cfg_path, base.name);
    if (value_r) {
        *value_r = value;
        value = NULL;
    }
 out:
    free(value);
    GC_FREE;
    return rc;
}
