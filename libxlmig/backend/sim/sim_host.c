/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The simulated hypervisor's host (the "sim" table of host/host.h): it
 * lives in xlmigd --backend=sim and owns the sim domains of its node, in a
 * table guarded by one mutex, and runs the migration engine for them.
 * Sim domains outlive their xlmigd, as Xen domains outlive the toolstack:
 * each is recorded in STATE_DIR/sim-domains/DOMID.json with its process
 * (pid and start time), its config and whether a user paused it; the next
 * xlmigd takes them over (daemon_init).  CLI processes reach this host
 * through the control socket (sim_client.c, daemon/server.c).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <net/if.h>
#include <arpa/inet.h>

#include "core/tunables.h"
#include "host/host.h"
#include "backend/sim/sim.h"
#include "garp.h"
#include "macvlan.h"
#include "netcfg.h"
#include "policy.h"

#define SIM_MAX_DOMAINS 256

/* The private state of the sim host (one per xlmigd). */
typedef struct sim_host {
    pthread_mutex_t lock;             /* guards everything below */
    libxlmig__sim_dom *doms[SIM_MAX_DOMAINS];
    uint32_t next_domid;
    uint64_t capacity_kib;            /* memory for domains; 0: the host's */
    bool cpu_override;
    struct policy_cpuid cpu;          /* this node's CPU, when overridden */
    char storage[256];                /* shared storage directory */
    char pub_if[IF_NAMESIZE];         /* where domains answer and are
                                       * announced; "" for none */
} sim_host;

/* ---- the registry: what a restarted xlmigd takes over ------------- */
static char *reg_path(char *buf, size_t n, uint32_t domid, const char *ext)
{
    snprintf(buf, n, "%s/sim-domains/%u.json%s", libxlmig_state_dir(),
             domid, ext);
    return buf;
}

static void reg_write(libxlmig__gc *gc, const libxlmig__sim_dom *d)
{
    char path[PATH_MAX], *cfg = NULL;

    if (libxlmig__sim_config_to_json(gc, &d->cfg, &cfg))
        return;
    if (libxlmig__state_file_write(gc, "sim-domains",
            GCSPRINTF("%u.json", d->domid),
            GCSPRINTF("{\"version\":1,\"domid\":%u,\"pid\":%d,"
                      "\"start_time\":%llu,\"user_paused\":%s,"
                      "\"config\":%s}\n", d->domid, (int)d->pid,
                      (unsigned long long)d->start_time,
                      d->user_paused ? "true" : "false", cfg)))
        LOGED(WARN, d->domid, "cannot record domain %s in %s: a restarted "
              "xlmigd will not find it", d->cfg.name,
              reg_path(path, sizeof(path), d->domid, ""));
    free(cfg);
}

static void reg_remove(const libxlmig__sim_dom *d)
{
    char path[PATH_MAX];

    unlink(reg_path(path, sizeof(path), d->domid, ""));
}


/* ---- the table (call with sh->lock held) ------------------------- */
static libxlmig__sim_dom *table_find(sim_host *sh, const char *name)
{
    char *end;
    unsigned long id = strtoul(name, &end, 10);
    bool by_id = *name && !*end;
    int i;

    for (i = 0; i < SIM_MAX_DOMAINS; i++)
        if (sh->doms[i] && (!strcmp(sh->doms[i]->cfg.name, name) ||
                        (by_id && sh->doms[i]->domid == id)))
            return sh->doms[i];
    return NULL;
}

static int table_insert(libxlmig__gc *gc, sim_host *sh, libxlmig__sim_dom *d)
{
    int i;

    if (table_find(sh, d->cfg.name)) {
        LOG(ERROR, "a domain called %s already exists on this host",
            d->cfg.name);
        return LIBXLMIG_ERROR_EXISTS;
    }
    for (i = 0; i < SIM_MAX_DOMAINS; i++) {
        if (!sh->doms[i]) {
            sh->doms[i] = d;
            if (!d->start_time)
                d->start_time = libxlmig__proc_start_time(d->pid);
            reg_write(gc, d);
            return 0;
        }
    }
    LOG(ERROR, "too many domains on this host (%d)", SIM_MAX_DOMAINS);
    return LIBXLMIG_ERROR_BUSY;
}

static void table_remove(sim_host *sh, libxlmig__sim_dom *d)
{
    int i;

    for (i = 0; i < SIM_MAX_DOMAINS; i++)
        if (sh->doms[i] == d) sh->doms[i] = NULL;
    reg_remove(d);
}

/* Find name and mark it busy; fails if missing or busy. */
static int dom_get(libxlmig__gc *gc, sim_host *sh, const char *name,
                   libxlmig__sim_dom **d_r)
{
    libxlmig__sim_dom *d;
    int rc = 0;

    pthread_mutex_lock(&sh->lock);
    d = name ? table_find(sh, name) : NULL;
    if (!d) {
        LOG(ERROR, "domain '%s' not found on this host", name ? name : "");
        rc = LIBXLMIG_ERROR_NOTFOUND;
    } else if (d->busy) {
        LOG(ERROR, "domain %s is busy (a save or restore is running)",
            d->cfg.name);
        rc = LIBXLMIG_ERROR_BUSY;
    } else {
        d->busy = true;
        *d_r = d;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static void dom_put(sim_host *sh, libxlmig__sim_dom *d)
{
    pthread_mutex_lock(&sh->lock);
    d->busy = false;
    pthread_mutex_unlock(&sh->lock);
}

static void dom_attach(libxlmig__gc *gc, sim_host *sh, libxlmig__sim_dom *d);
static void dom_detach(sim_host *sh, libxlmig__sim_dom *d);

static void dom_remove_destroy(sim_host *sh, libxlmig__sim_dom *d)
{
    pthread_mutex_lock(&sh->lock);
    table_remove(sh, d);
    pthread_mutex_unlock(&sh->lock);
    dom_detach(sh, d);
    libxlmig__sim_dom_destroy(d);
}

/*
 * A new domain of cfg, in the table under a fresh domid.  fresh: filled
 * and running (cfg completed with the domid first); else empty, paused and
 * reserved (busy) for a restore.  hint ends the "already exists" error.
 */
static int dom_new(libxlmig__gc *gc, sim_host *sh, libxlmig__sim_config *cfg,
                   bool fresh,
                   const char *hint, libxlmig__sim_dom **d_r)
{
    libxlmig__sim_dom *d = NULL;
    uint32_t domid;
    bool exists;
    int rc;

    pthread_mutex_lock(&sh->lock);
    exists = table_find(sh, cfg->name) != NULL;
    domid = sh->next_domid++;
    pthread_mutex_unlock(&sh->lock);
    if (exists) {
        LOG(ERROR, "a domain called %s already exists on this host%s",
            cfg->name, hint);
        return LIBXLMIG_ERROR_EXISTS;
    }
    if (fresh)
        libxlmig__sim_config_complete(cfg, domid);
    rc = libxlmig__sim_dom_create(gc, cfg, fresh, &d);
    if (rc) return rc;
    d->domid = domid;
    d->busy = !fresh;
    pthread_mutex_lock(&sh->lock);
    rc = table_insert(gc, sh, d);
    pthread_mutex_unlock(&sh->lock);
    if (rc) {
        libxlmig__sim_dom_destroy(d);
        return rc;
    }
    *d_r = d;
    return 0;
}

/* A run of d's RAM, from the controller's mapping (reading dirties
 * nothing). */
static uint32_t sim_content_read(void *opaque, uint64_t first, uint32_t len,
                                 uint8_t *buf)
{
    const libxlmig__sim_dom *d = opaque;

    memcpy(buf, d->mem + first * LIBXLMIG__PAGE_SIZE,
           (size_t)len * LIBXLMIG__PAGE_SIZE);
    return len;
}

/* The sample itself (d reserved): distinct pages written from now until
 * ms/4, ms/2 and ms, then the content. */
static int sim_sample(libxlmig__gc *gc, libxlmig__sim_dom *d, uint64_t ms,
                      libxlmig_dirty_sample *s)
{
    const unsigned div[LIBXLMIG_DIRTY_SAMPLE_POINTS] = { 4, 2, 1 };
    unsigned long *bm;
    uint64_t t0, at, now, n, sum = 0;
    int i, rc;

    memset(s, 0, sizeof(*s));
    s->nr_pages = d->nr_pages;
    bm = libxlmig__calloc(gc, bitmap_longs(d->nr_pages), sizeof(*bm));
    /* Write-protect everything: the sample starts now. */
    rc = libxlmig__sim_dom_clean_dirty(gc, d, NULL, NULL);
    t0 = libxlmig__now_us();
    for (i = 0; !rc && i < LIBXLMIG_DIRTY_SAMPLE_POINTS; i++) {
        at = t0 + ms * 1000 / div[i];
        while ((now = libxlmig__now_us()) < at)
            usleep((useconds_t)(at - now));
        rc = libxlmig__sim_dom_clean_dirty(gc, d, bm, &n);
        sum += n;
        s->ms[i] = (libxlmig__now_us() - t0) / 1000;
        s->pages[i] = sum;
        s->nr_points++;
    }
    /* What its RAM holds; the stream leaves zero pages out. */
    if (!rc)
        rc = libxlmig__content_take(gc, d->nr_pages, sim_content_read, d,
                                    true, &s->content);
    return rc;
}

/* The engine's view of a sim domain. */
static int src_clean(libxlmig__gc *gc, void *priv, unsigned long *bm,
                     uint64_t *n)
{
    return libxlmig__sim_dom_clean_dirty(gc, priv, bm, n);
}
static int src_clean_range(libxlmig__gc *gc, void *priv, uint64_t first,
                           uint64_t last, unsigned long *bm, uint64_t *n)
{
    return libxlmig__sim_dom_clean_range(gc, priv, first, last, bm, n);
}
static int src_pause(libxlmig__gc *gc, void *priv)
{
    return libxlmig__sim_dom_pause(gc, priv);
}
static int src_unpause(libxlmig__gc *gc, void *priv)
{
    return libxlmig__sim_dom_unpause(gc, priv);
}
static void src_throttle(void *priv, bool stop)
{
    libxlmig__sim_dom *d = priv;

    kill(d->pid, stop ? SIGSTOP : SIGCONT);
}
static int src_vcpu(libxlmig__gc *gc, void *priv, void **buf_r,
                    uint32_t *len_r)
{
    libxlmig__sim_dom *d = priv;
    libxlmig__sim_regs *r = calloc(1, sizeof(*r));

    if (!r) return LIBXLMIG_ERROR_NOMEM;
    r->rng = d->vcpu->rng;
    r->nr_writes = d->vcpu->nr_writes;
    r->cur_pfn = d->vcpu->cur_pfn;
    r->cur_gen = d->vcpu->cur_gen;
    r->busy = d->vcpu->busy;
    *buf_r = r;
    *len_r = sizeof(*r);
    return 0;
}

int libxlmig__sim_save(libxlmig__gc *gc, libxlmig__sim_dom *d,
                       libxlmig__transport *t,
                       const libxlmig__engine_opts *o, libxlmig_stats *st)
{
    libxlmig__mig_source src;
    char *config = NULL;
    int rc;

    rc = libxlmig__sim_config_to_json(gc, &d->cfg, &config);
    if (rc) return rc;
    memset(&src, 0, sizeof(src));
    src.priv = d;
    src.nr_pages = d->nr_pages;
    src.mem = d->mem;
    src.domid = d->domid;
    src.config_json = config;
    src.clean_dirty = src_clean;
    src.clean_range = src_clean_range;
    src.pause = src_pause;
    src.unpause = src_unpause;
    src.throttle = src_throttle;
    src.vcpu_state = src_vcpu;
    rc = libxlmig__engine_save(gc, &src, t, o, st);
    free(config);
    return rc;
}

int libxlmig__sim_save_fd(libxlmig__gc *gc, libxlmig__sim_dom *d, int fd,
                          const libxlmig__engine_opts *o, libxlmig_stats *st)
{
    libxlmig__transport *t = NULL;
    int rc;

    rc = libxlmig__transport_fd_borrow(gc, fd, "the save stream", &t);
    if (rc) return rc;
    rc = libxlmig__sim_save(gc, d, t, o, st);
    libxlmig__transport_free(t);
    return rc;
}

typedef struct restore_sink {
    sim_host *sh;
    const char *new_name;
    libxlmig__sim_dom *d;
    /* The config a migration announced, which the stream must carry. */
    const libxlmig__sim_config *announced;
} restore_sink;

static int sink_create(libxlmig__gc *gc, void *priv, const char *config,
                       uint64_t nr_pages, uint8_t **mem_r)
{
    restore_sink *rs = priv;
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;
    int rc;

    rc = libxlmig__sim_config_from_json(gc, config, &cfg);
    if (rc) return rc;
    if (rs->new_name && *rs->new_name)
        snprintf(cfg.name, sizeof(cfg.name), "%s", rs->new_name);
    if (cfg.memory_mib << (20 - LIBXLMIG__PAGE_SHIFT) != nr_pages) {
        LOG(ERROR, "migration stream: %llu pages do not match the "
            "domain's %llu MiB", (unsigned long long)nr_pages,
            (unsigned long long)cfg.memory_mib);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (rs->announced &&
        (cfg.memory_mib != rs->announced->memory_mib ||
         strcmp(cfg.uuid, rs->announced->uuid))) {
        LOG(ERROR, "migration stream: the domain's config (%s, %llu MiB) "
            "is not the one announced (%s, %llu MiB)", cfg.uuid,
            (unsigned long long)cfg.memory_mib, rs->announced->uuid,
            (unsigned long long)rs->announced->memory_mib);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (rs->d) {
        /* Prepared before the stream: it takes the stream's state. */
        rc = libxlmig__sim_dom_adopt(gc, rs->d, &cfg);
        if (rc) return rc;
        pthread_mutex_lock(&rs->sh->lock);
        reg_write(gc, rs->d);
        pthread_mutex_unlock(&rs->sh->lock);
        *mem_r = rs->d->mem;
        return 0;
    }
    rc = dom_new(gc, rs->sh, &cfg, false, " (restore it under another name)", &d);
    if (rc) return rc;
    rs->d = d;
    *mem_r = d->mem;
    return 0;
}

static int sink_vcpu(libxlmig__gc *gc, void *priv, const void *buf,
                     uint32_t len)
{
    restore_sink *rs = priv;

    return libxlmig__sim_dom_set_regs(gc, rs->d, buf, len);
}

static void sink_destroy(libxlmig__gc *gc, void *priv)
{
    restore_sink *rs = priv;

    if (rs->d) {
        LOGD(INFO, rs->d->domid, "destroying the partly restored domain %s",
             rs->d->cfg.name);
        dom_remove_destroy(rs->sh, rs->d);
    }
    rs->d = NULL;
}


/* ---- the host interface ------------------------------------------- */

static uint64_t used_kib_locked(sim_host *sh)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < SIM_MAX_DOMAINS; i++)
        if (sh->doms[i])
            sum += sh->doms[i]->cfg.memory_mib * 1024;
    return sum;
}

static int sh_host_info(libxlmig__gc *gc, void *priv, libxlmig_host_info *hi)
{
    sim_host *sh = priv;
    uint64_t used;
    int rc;

    rc = libxlmig__host_info_linux(gc, hi);
    if (rc) return rc;
    hi->backend = strdup("sim");
    hi->hypervisor = strdup("xlmig-sim " LIBXLMIG_VERSION);
    hi->scheduler = strdup("sim");
    pthread_mutex_lock(&sh->lock);
    used = used_kib_locked(sh);
    pthread_mutex_unlock(&sh->lock);
    if (sh->capacity_kib) {
        hi->total_memory_kib = sh->capacity_kib;
        hi->free_memory_kib = sh->capacity_kib > used
                              ? sh->capacity_kib - used : 0;
    }
    return 0;
}

static int sh_host_cpu(libxlmig__gc *gc, void *priv, bool pv,
                       struct policy_cpuid *p)
{
    sim_host *sh = priv;

    if (sh->cpu_override) {
        *p = sh->cpu;
        return 0;
    }
    return libxlmig__cpu_policy_linux(gc, p);
}

static int sh_list(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                   int *nr_r)
{
    sim_host *sh = priv;
    libxlmig_dominfo *list;
    int i, n = 0;

    list = calloc(SIM_MAX_DOMAINS, sizeof(*list));
    if (!list)
        libxlmig__alloc_failed(CTX, __func__, SIM_MAX_DOMAINS,
                               sizeof(*list));
    pthread_mutex_lock(&sh->lock);
    for (i = 0; i < SIM_MAX_DOMAINS; i++) {
        libxlmig__sim_dom *d = sh->doms[i];

        if (!d) continue;
        list[n].name = strdup(d->cfg.name);
        snprintf(list[n].uuid, sizeof(list[n].uuid), "%s", d->cfg.uuid);
        list[n].domid = d->domid;
        list[n].memory_kib = list[n].max_memory_kib =
            d->cfg.memory_mib * 1024;
        list[n].vcpus = 1;
        list[n].state = !libxlmig__sim_dom_alive(d) ? LIBXLMIG_DOMAIN_SHUTDOWN
                      : d->paused ? LIBXLMIG_DOMAIN_PAUSED
                                  : LIBXLMIG_DOMAIN_RUNNING;
        n++;
    }
    pthread_mutex_unlock(&sh->lock);
    *list_r = list;
    *nr_r = n;
    return 0;
}

static bool sh_exists(void *priv, const char *name)
{
    sim_host *sh = priv;
    bool found;

    pthread_mutex_lock(&sh->lock);
    found = table_find(sh, name) != NULL;
    pthread_mutex_unlock(&sh->lock);
    return found;
}

static int sh_facts(libxlmig__gc *gc, void *priv, const char *name,
                    libxlmig__dom_facts *f)
{
    sim_host *sh = priv;
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d;
    int rc;

    pthread_mutex_lock(&sh->lock);
    d = table_find(sh, name);
    if (d) cfg = d->cfg;
    pthread_mutex_unlock(&sh->lock);
    if (!d) {
        LOG(ERROR, "domain '%s' not found on this host", name);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    rc = libxlmig__sim_config_to_json(gc, &cfg, &f->config_json);
    if (rc) return rc;
    f->memory_kib = cfg.memory_mib * 1024;
    f->mac = strdup(cfg.mac);
    f->ip = strdup(cfg.ip);
    if (sh->storage[0])
        f->storage = strdup(sh->storage);
    return 0;
}

/* Sim domains run with their node's CPU policy. */
static int sh_dom_cpu(libxlmig__gc *gc, void *priv, const char *name,
                      struct policy_cpuid *p)
{
    return sh_host_cpu(gc, priv, false, p);
}

static int sh_dirty_sample(libxlmig__gc *gc, void *priv, const char *name,
                           unsigned ms, libxlmig_dirty_sample *s)
{
    sim_host *sh = priv;
    libxlmig__sim_dom *d;
    int rc;

    rc = dom_get(gc, sh, name, &d);
    if (rc) return rc;
    rc = sim_sample(gc, d, ms, s);
    dom_put(sh, d);
    return rc;
}

static int sh_save_handoff(libxlmig__gc *gc, void *priv, const char *name,
                           libxlmig__transport *t,
                           const libxlmig__engine_opts *o, libxlmig_stats *st)
{
    sim_host *sh = priv;
    libxlmig__sim_dom *d;
    bool was_paused;
    int rc;

    rc = dom_get(gc, sh, name, &d);
    if (rc) return rc;
    was_paused = d->paused;
    rc = libxlmig__sim_save(gc, d, t, o, st);
    if (rc) {
        /* The engine left it running; keep a paused one paused. */
        if (was_paused) libxlmig__sim_dom_pause(gc, d);
        dom_put(sh, d);
    }
    return rc;      /* on success: paused and still reserved */
}

static int sh_rename(libxlmig__gc *gc, void *priv, const char *from,
                     const char *to)
{
    sim_host *sh = priv;
    libxlmig__sim_dom *d;
    int rc = 0;

    pthread_mutex_lock(&sh->lock);
    d = table_find(sh, from);
    if (!d) {
        LOG(ERROR, "cannot rename %s: no such domain", from);
        rc = LIBXLMIG_ERROR_NOTFOUND;
    } else if (table_find(sh, to)) {
        LOG(ERROR, "cannot rename %s to %s: the name is taken", from, to);
        rc = LIBXLMIG_ERROR_EXISTS;
    } else if (strlen(to) >= sizeof(d->cfg.name)) {
        LOG(ERROR, "cannot rename %s to %s: name too long", from, to);
        rc = LIBXLMIG_ERROR_INVAL;
    } else {
        snprintf(d->cfg.name, sizeof(d->cfg.name), "%s", to);
        reg_write(gc, d);
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

/* Unpause a reserved domain and release it. */
static int sh_unpause_release(libxlmig__gc *gc, void *priv, const char *name)
{
    sim_host *sh = priv;
    libxlmig__sim_dom *d;
    int rc;

    pthread_mutex_lock(&sh->lock);
    d = table_find(sh, name);
    pthread_mutex_unlock(&sh->lock);
    if (!d) {
        LOG(ERROR, "cannot resume %s: no such domain", name);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    rc = libxlmig__sim_dom_unpause(gc, d);
    dom_put(sh, d);
    return rc;
}

static int sh_discard(libxlmig__gc *gc, void *priv, const char *name)
{
    sim_host *sh = priv;
    libxlmig__sim_dom *d;

    pthread_mutex_lock(&sh->lock);
    d = table_find(sh, name);
    if (d) table_remove(sh, d);
    pthread_mutex_unlock(&sh->lock);
    if (!d) {
        LOG(ERROR, "cannot destroy %s: no such domain", name);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    dom_detach(sh, d);
    libxlmig__sim_dom_destroy(d);
    return 0;
}

static int sh_prepare_incoming(libxlmig__gc *gc, void *priv,
                               const char *name, const char *config_json)
{
    sim_host *sh = priv;
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;
    int rc;

    rc = libxlmig__sim_config_from_json(gc, config_json, &cfg);
    if (rc) return rc;
    if (strlen(name) >= sizeof(cfg.name)) {
        LOG(ERROR, "domain name %s is too long", name);
        return LIBXLMIG_ERROR_INVAL;
    }
    snprintf(cfg.name, sizeof(cfg.name), "%s", name);
    return dom_new(gc, sh, &cfg, false, "", &d);
}

static int sh_config_memory(libxlmig__gc *gc, void *priv,
                            const char *config_json, uint64_t *kib_r)
{
    libxlmig__sim_config cfg;
    int rc;

    rc = libxlmig__sim_config_from_json(gc, config_json, &cfg);
    if (rc) return rc;
    *kib_r = cfg.memory_mib * 1024;
    return 0;
}

static int sh_restore_paused(libxlmig__gc *gc, void *priv,
                             libxlmig__transport *t, const char *name,
                             const char *config_json,
                             const libxlmig__engine_opts *o,
                             libxlmig_stats *st)
{
    sim_host *sh = priv;
    int rc;
    restore_sink rs = { sh, name, NULL, NULL };
    libxlmig__sim_config announced;
    libxlmig__mig_sink sink;

    if (config_json) {
        rc = libxlmig__sim_config_from_json(gc, config_json, &announced);
        if (rc) return rc;
        rs.announced = &announced;
    }

    /* The domain prepared for it, if any. */
    pthread_mutex_lock(&sh->lock);
    rs.d = table_find(sh, name);
    pthread_mutex_unlock(&sh->lock);

    memset(&sink, 0, sizeof(sink));
    sink.priv = &rs;
    sink.mem_zeroed = true;
    sink.create = sink_create;
    sink.vcpu_state = sink_vcpu;
    sink.destroy = sink_destroy;
    rc = libxlmig__engine_restore(gc, &sink, t, o, st);
    /* A stream that failed before its config leaves the prepared domain
     * to us: nothing of a failed restore may stay. */
    if (rc && rs.d)
        sink_destroy(gc, &rs);
    return rc;
}

static void sh_announce(libxlmig__gc *gc, void *priv, const char *name)
{
    sim_host *sh = priv;
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d;
    struct in_addr ip;
    const char *err = NULL;
    uint8_t mac[6];

    if (!sh->pub_if[0])
        return;
    pthread_mutex_lock(&sh->lock);
    d = table_find(sh, name);
    if (d) cfg = d->cfg;
    pthread_mutex_unlock(&sh->lock);
    if (!d || netcfg_mac_parse(cfg.mac, mac) ||
        inet_pton(AF_INET, cfg.ip, &ip) != 1)
        return;
    dom_attach(gc, sh, d);
    if (netcfg_garp_send(sh->pub_if, mac, ip, 3, 20, &err))
        LOG(WARN, "announcing %s (%s, %s) on %s failed: %s", name, cfg.ip,
            cfg.mac, sh->pub_if, err);
    else
        LOG(INFO, "announced %s at %s (%s) on %s", name, cfg.ip, cfg.mac,
            sh->pub_if);
}

static void dom_ifname(const libxlmig__sim_dom *d, char name[IF_NAMESIZE])
{
    snprintf(name, IF_NAMESIZE, "xd%u", d->domid);
}

/*
 * Give a running domain its own interface on the public network (when
 * xlmigd has one, -P): a macvlan with its MAC and IP, which its process
 * answers on.  A failure is logged; the domain runs without it.
 */
static void dom_attach(libxlmig__gc *gc, sim_host *sh, libxlmig__sim_dom *d)
{
    char name[IF_NAMESIZE];
    struct in_addr ip;
    netcfg_err err;
    uint8_t mac[6];
    int plen;

    if (!sh->pub_if[0] || netcfg_mac_parse(d->cfg.mac, mac) ||
        inet_pton(AF_INET, d->cfg.ip, &ip) != 1)
        return;
    dom_ifname(d, name);
    if (if_nametoindex(name))
        return;
    plen = netcfg_if_prefixlen(sh->pub_if);
    if (netcfg_macvlan_add(sh->pub_if, name, mac, ip,
                           plen > 0 ? (unsigned)plen : 32, &err))
        LOGD(WARN, d->domid, "%s gets no interface on %s: %s",
             d->cfg.name, sh->pub_if, err.msg);
}

static void dom_detach(sim_host *sh, libxlmig__sim_dom *d)
{
    char name[IF_NAMESIZE];

    if (!sh->pub_if[0])
        return;
    dom_ifname(d, name);
    netcfg_link_del(name, NULL);
}

/* One registry entry: take its domain over; false if it is gone. */
static bool adopt_one(libxlmig__gc *gc, sim_host *sh, const char *path)
{
    char text[8192];
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;
    uint64_t domid = 0, pid = 0, start = 0;
    bool user_paused = false;
    const unsigned char *buf;
    yajl_val v, cv;
    yajl_gen g;
    size_t n, len;
    FILE *f;
    int rc;

    f = fopen(path, "r");
    if (!f) return false;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    rc = libxlmig__json_parse(gc, text, path, &v);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "domid", &domid);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "pid", &pid);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "start_time", &start);
    if (!rc) rc = libxlmig__json_get_bool(gc, v, "user_paused", &user_paused);
    cv = rc ? NULL : yajl_tree_get(v, (const char *[]){ "config", NULL },
                                   yajl_t_object);
    if (!cv) {
        LOG(WARN, "%s is not a domain record; ignored", path);
        return false;
    }
    g = yajl_gen_alloc(NULL);
    if (!g) return false;
    libxlmig__yajl_gen_val(g, cv);
    yajl_gen_get_buf(g, &buf, &len);
    rc = libxlmig__sim_config_from_json(gc, GCSTRDUP((const char *)buf), &cfg);
    yajl_gen_free(g);
    if (rc) return false;
    rc = libxlmig__sim_dom_adopt_pid(gc, (pid_t)pid, start, &cfg, &d);
    if (rc) {
        LOG(WARN, "domain %s (%s) is not there any more: %s", cfg.name, path,
            libxlmig_last_error(CTX));
        return false;
    }
    d->domid = (uint32_t)domid;
    d->user_paused = user_paused;
    d->start_time = start;
    pthread_mutex_lock(&sh->lock);
    rc = table_insert(gc, sh, d);
    if (!rc && d->domid >= sh->next_domid)
        sh->next_domid = d->domid + 1;
    pthread_mutex_unlock(&sh->lock);
    if (rc) {
        d->pid = -1;   /* leave the process alone */
        libxlmig__sim_dom_destroy(d);
        return true;
    }
    LOGD(INFO, d->domid, "took over domain %s (process %d, %s)", cfg.name,
         (int)pid, d->paused ? "paused" : "running");
    if (d->paused && !d->user_paused && !libxlmig_handoff_copy(cfg.name)) {
        /* Paused by a migration (stop-and-copy, a throttle, a commit's
         * unpause) that ended with the daemon before the handoff: nothing
         * else runs this domain, and nobody asked for it paused. */
        if (!libxlmig__sim_dom_unpause(gc, d))
            LOGD(INFO, d->domid, "resumed %s: a migration had paused it "
                 "when the previous xlmigd ended", cfg.name);
    }
    if (!d->paused)
        dom_attach(gc, sh, d);
    return true;
}

/*
 * Take over the sim domains an earlier xlmigd of this state directory
 * left running (xlmigd ended, crashed or was restarted); forget those
 * whose process is gone.
 */
static void adopt_all(libxlmig__gc *gc, sim_host *sh)
{
    const char *dir = GCSPRINTF("%s/sim-domains", libxlmig_state_dir());
    struct dirent *e;
    DIR *dp = opendir(dir);
    char *path;
    size_t l;

    if (!dp) return;
    while ((e = readdir(dp))) {
        l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
        path = GCSPRINTF("%s/%s", dir, e->d_name);
        if (!adopt_one(gc, sh, path))
            unlink(path);
    }
    closedir(dp);
}

/* ---- the user's operations ---------------------------------------- */

/* Pause or unpause (pause false) for the user; a restarted xlmigd keeps
 * the domain as the user left it. */
static int sim_set_paused(libxlmig__gc *gc, sim_host *sh, const char *name,
                          bool pause)
{
    libxlmig__sim_dom *d;
    int rc;

    rc = dom_get(gc, sh, name, &d);
    if (rc) return rc;
    rc = pause ? libxlmig__sim_dom_pause(gc, d)
               : libxlmig__sim_dom_unpause(gc, d);
    if (!rc) {
        pthread_mutex_lock(&sh->lock);
        d->user_paused = pause;
        reg_write(gc, d);
        pthread_mutex_unlock(&sh->lock);
    }
    dom_put(sh, d);
    return rc;
}

static int sim_pause(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_set_paused(gc, priv, name, true);
}

static int sim_unpause(libxlmig__gc *gc, void *priv, const char *name)
{
    return sim_set_paused(gc, priv, name, false);
}

/* The user's destroy: not of a domain a save, restore or migration
 * holds (discard is the migration's). */
static int sim_destroy(libxlmig__gc *gc, void *priv, const char *name)
{
    sim_host *sh = priv;
    libxlmig__sim_dom *d;
    int rc;

    rc = dom_get(gc, sh, name, &d);
    if (rc) return rc;
    dom_remove_destroy(sh, d);
    return 0;
}

static int sim_save(libxlmig__gc *gc, void *priv, const char *name, int fd,
                    unsigned flags, const libxlmig__engine_opts *opts,
                    libxlmig_stats *st)
{
    sim_host *sh = priv;
    bool checkpoint = flags & LIBXLMIG_SAVE_CHECKPOINT, was_paused;
    libxlmig__engine_opts o = *opts;
    libxlmig__sim_dom *d = NULL;
    int rc;

    o.live = flags & LIBXLMIG_SAVE_LIVE;
    rc = dom_get(gc, sh, name, &d);
    if (rc) return rc;
    was_paused = d->paused;
    /* A paused guest dirties nothing: one stop-and-copy pass, and no
     * throttle that would let it run. */
    if (was_paused) o.live = false;
    /* The domain is destroyed after the save, or runs on (checkpoint),
     * perhaps before the reader has read all: then pages are copied. */
    o.pages_by_ref = !checkpoint;
    rc = libxlmig__sim_save_fd(gc, d, fd, &o, st);
    if (rc) {
        if (was_paused) libxlmig__sim_dom_pause(gc, d);
        dom_put(sh, d);
        return rc;
    }
    if (checkpoint) {
        if (!was_paused) libxlmig__sim_dom_unpause(gc, d);
        dom_put(sh, d);
    } else {
        dom_remove_destroy(sh, d);
    }
    return 0;
}

static int sim_restore(libxlmig__gc *gc, void *priv, int fd,
                       const char *new_name, bool paused,
                       const libxlmig__engine_opts *o, libxlmig_stats *st,
                       char **name_r)
{
    sim_host *sh = priv;
    libxlmig__transport *t = NULL;
    restore_sink rs = { sh, new_name, NULL, NULL };
    libxlmig__mig_sink sink;
    int rc;

    memset(&sink, 0, sizeof(sink));
    sink.priv = &rs;
    sink.mem_zeroed = true;
    sink.create = sink_create;
    sink.vcpu_state = sink_vcpu;
    sink.destroy = sink_destroy;
    libxlmig__transport_fd_borrow(gc, fd, "the restore stream", &t);
    rc = libxlmig__engine_restore(gc, &sink, t, o, st);
    libxlmig__transport_free(t);
    if (rc) return rc;
    if (name_r)
        *name_r = strdup(rs.d->cfg.name);
    if (!paused) {
        rc = libxlmig__sim_dom_unpause(gc, rs.d);
        dom_attach(gc, sh, rs.d);
    }
    dom_put(sh, rs.d);
    return rc;
}

/* ---- requests only the sim host serves ------------------------------ */

/* {name, memory_mib, dirty_rate, working_set_mib, zero_fraction, hot_pct,
 *  [ip], [mac], [content]}: a new domain, running. */
static int ctl_create(libxlmig__gc *gc, void *priv, yajl_val req,
                      yajl_gen data)
{
    sim_host *sh = priv;
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;
    const char *name = libxlmig__json_get_str(req, "name");
    const char *ip = libxlmig__json_get_str(req, "ip");
    const char *mac = libxlmig__json_get_str(req, "mac");
    const char *content = libxlmig__json_get_str(req, "content");
    struct in_addr a;
    long long hot = 0;
    uint8_t m[6];
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    if (!libxlmig__name_ok(name, LIBXLMIG__DOMAIN_NAME_MAX)) {
        LOG(ERROR, "invalid domain name '%s' (1 to %d of A-Z a-z 0-9 . _ -, "
            "not starting with a dot)", name ? name : "",
            LIBXLMIG__DOMAIN_NAME_MAX);
        return LIBXLMIG_ERROR_INVAL;
    }
    snprintf(cfg.name, sizeof(cfg.name), "%s", name);
    rc = libxlmig__json_get_u64(gc, req, "memory_mib", &cfg.memory_mib);
    if (!rc) rc = libxlmig__json_get_u64(gc, req, "dirty_rate",
                                         &cfg.dirty_rate);
    if (!rc) rc = libxlmig__json_get_u64(gc, req, "working_set_mib",
                                         &cfg.working_set_mib);
    if (!rc) rc = libxlmig__json_get_double(gc, req, "zero_fraction",
                                            &cfg.zero_fraction);
    if (!rc) rc = libxlmig__json_get_int(gc, req, "hot_pct", &hot);
    if (rc) return rc;
    cfg.hot_pct = (uint32_t)hot;
    if (ip && (strlen(ip) >= sizeof(cfg.ip) ||
               inet_pton(AF_INET, ip, &a) != 1)) {
        LOG(ERROR, "invalid IPv4 address '%s'", ip);
        return LIBXLMIG_ERROR_INVAL;
    }
    if (mac && netcfg_mac_parse(mac, m)) {
        LOG(ERROR, "invalid MAC address '%s' (aa:bb:cc:dd:ee:ff)", mac);
        return LIBXLMIG_ERROR_INVAL;
    }
    if (ip) snprintf(cfg.ip, sizeof(cfg.ip), "%s", ip);
    if (mac) snprintf(cfg.mac, sizeof(cfg.mac), "%s", mac);
    if (cfg.zero_fraction < 0 || cfg.zero_fraction > 1) {
        LOG(ERROR, "zero fraction %g is not between 0 and 1",
            cfg.zero_fraction);
        return LIBXLMIG_ERROR_INVAL;
    }
    /* The default is mixed: sim domains stand in for real guests, whose
     * pages are not random (docs/sim.md). */
    cfg.content = LIBXLMIG_SIM_CONTENT_MIXED;
    if (content && libxlmig_sim_content_from_string(content, &cfg.content)) {
        LOG(ERROR, "invalid content '%s' (random or mixed)", content);
        return LIBXLMIG_ERROR_INVAL;
    }
    rc = dom_new(gc, sh, &cfg, true, "", &d);
    if (rc) return rc;
    dom_attach(gc, sh, d);
    LOGD(INFO, d->domid, "created sim domain %s (%llu MiB, %s content)",
         name, (unsigned long long)cfg.memory_mib,
         libxlmig_sim_content_to_string(cfg.content));
    return yajl_gen_null(data) == yajl_gen_status_ok ? 0
                                                     : LIBXLMIG_ERROR_JSON;
}

/* {domain} -> {bad_pages, first_bad_pfn}: the guest checks its memory. */
static int ctl_verify(libxlmig__gc *gc, void *priv, yajl_val req,
                      yajl_gen data)
{
    sim_host *sh = priv;
    libxlmig__sim_dom *d;
    uint64_t bad, first;
    int rc;

    rc = dom_get(gc, sh, libxlmig__json_get_str(req, "domain"), &d);
    if (rc) return rc;
    rc = libxlmig__sim_dom_verify(gc, d, &bad, &first);
    dom_put(sh, d);
    if (rc) return rc;
    if (yajl_gen_map_open(data) != yajl_gen_status_ok ||
        libxlmig__yajl_gen_kv_uint(data, "bad_pages", bad) !=
            yajl_gen_status_ok ||
        libxlmig__yajl_gen_kv_int(data, "first_bad_pfn",
                                  bad ? (long long)first : -1) !=
            yajl_gen_status_ok ||
        yajl_gen_map_close(data) != yajl_gen_status_ok)
        return LIBXLMIG_ERROR_JSON;
    return 0;
}

static const libxlmig__ctl_op sim_ctl_ops[] = {
    { "create", ctl_create },
    { "verify", ctl_verify },
};

/* ---- open, close, xlmigd's start ------------------------------------ */

static int sim_open(libxlmig__gc *gc, void **priv_r)
{
    sim_host *sh = calloc(1, sizeof(*sh));

    if (!sh)
        libxlmig__alloc_failed(CTX, __func__, 1, sizeof(*sh));
    pthread_mutex_init(&sh->lock, NULL);
    sh->next_domid = 1;
    *priv_r = sh;
    return 0;
}

/* Domains outlive the daemon: the next one takes them over. */
static void sim_close(libxlmig_ctx *ctx, void *priv)
{
    sim_host *sh = priv;
    int i;

    if (!sh)
        return;
    for (i = 0; i < SIM_MAX_DOMAINS; i++) {
        if (!sh->doms[i]) continue;
        sh->doms[i]->pid = -1;    /* leave the process alone */
        libxlmig__sim_dom_destroy(sh->doms[i]);
    }
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

static int sim_daemon_init(libxlmig__gc *gc, void *priv,
                           const libxlmig__host_daemon_opts *o)
{
    sim_host *sh = priv;
    int rc;

    rc = libxlmig__sim_probe(gc);
    if (rc) return rc;
    sh->capacity_kib = o->capacity_kib;
    if (o->cpu) {
        sh->cpu = *o->cpu;
        sh->cpu_override = true;
    }
    if (o->storage)
        snprintf(sh->storage, sizeof(sh->storage), "%s", o->storage);
    if (o->public_if)
        snprintf(sh->pub_if, sizeof(sh->pub_if), "%s", o->public_if);
    libxlmig__sim_set_persistent(true);
    adopt_all(gc, sh);
    return 0;
}

const libxlmig__host_ops libxlmig__host_sim = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .host_info = sh_host_info,
    .list = sh_list,
    .domain_exists = sh_exists,
    .domain_facts = sh_facts,
    .host_cpu_policy = sh_host_cpu,
    .domain_cpu_policy = sh_dom_cpu,
    .dirty_sample = sh_dirty_sample,
    .pause = sim_pause,
    .unpause = sim_unpause,
    .destroy = sim_destroy,
    .save = sim_save,
    .restore = sim_restore,
    .save_handoff = sh_save_handoff,
    .rename = sh_rename,
    .resume = sh_unpause_release,
    .discard = sh_discard,
    .prepare_incoming = sh_prepare_incoming,
    .config_memory = sh_config_memory,
    .restore_paused = sh_restore_paused,
    .unpause_release = sh_unpause_release,
    .announce = sh_announce,
    .daemon_init = sim_daemon_init,
    .ctl_ops = sim_ctl_ops,
    .nr_ctl_ops = ARRAY_SIZE(sim_ctl_ops),
};
