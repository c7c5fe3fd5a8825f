/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The node daemon's core (xlmigd --backend=sim): it owns the sim domains
 * of this host and runs the migration engine for them.  Control is over a
 * unix socket, one request per connection: the client sends one line of
 * JSON {"version":1,"op":...} with, for save and restore, the stream's fd
 * attached (SCM_RIGHTS); the daemon answers with JSON lines, zero or more
 * {"type":"progress","stats":{...}} then one {"type":"result","rc":N,
 * "error":"...","data":{...}}.  Each connection is served by its own
 * thread; the domain table is protected by one mutex.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <net/if.h>
#include <arpa/inet.h>

#include "core/tunables.h"
#include "garp.h"
#include "macvlan.h"
#include "engine/engine.h"
#include "backend/sim/sim.h"
#include "cluster/migrate.h"
#include "cluster/ops.h"
#include "policy.h"

#define DAEMON_MAX_DOMAINS 256
#define DAEMON_MAX_REQUEST (64 * 1024)

static pthread_mutex_t dom_lock = PTHREAD_MUTEX_INITIALIZER;
static libxlmig__sim_dom *doms[DAEMON_MAX_DOMAINS];
static uint32_t next_domid = 1;
static volatile sig_atomic_t quit_requested;
static xentoollog_logger *daemon_lg;

typedef struct conn {
    int sock;
    int fd;                  /* passed fd or -1 */
    bool gone;               /* the client closed its end */
} conn;

/*
 * ---- the registry: what a restarted xlmigd takes over ------------------
 *
 * Sim domains outlive their xlmigd, as Xen domains outlive the toolstack:
 * each is recorded in $XLMIG_STATE_DIR/sim-domains/DOMID.json with its
 * process (pid and start time), its config and whether a user paused it.
 * The next xlmigd reopens them (sim_adopt_all) and settles what a
 * migration left half done (libxlmig__node_settle).  Written under
 * dom_lock, atomically (temporary file, rename).
 */
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

/* ---- the table (call with dom_lock held) ------------------------- */
static libxlmig__sim_dom *table_find(const char *name)
{
    char *end;
    unsigned long id = strtoul(name, &end, 10);
    bool by_id = *name && !*end;
    int i;

    for (i = 0; i < DAEMON_MAX_DOMAINS; i++)
        if (doms[i] && (!strcmp(doms[i]->cfg.name, name) ||
                        (by_id && doms[i]->domid == id)))
            return doms[i];
    return NULL;
}

static int table_insert(libxlmig__gc *gc, libxlmig__sim_dom *d)
{
    int i;

    if (table_find(d->cfg.name)) {
        LOG(ERROR, "a domain called %s already exists on this host",
            d->cfg.name);
        return LIBXLMIG_ERROR_EXISTS;
    }
    for (i = 0; i < DAEMON_MAX_DOMAINS; i++) {
        if (!doms[i]) {
            doms[i] = d;
            if (!d->start_time)
                d->start_time = libxlmig__proc_start_time(d->pid);
            reg_write(gc, d);
            return 0;
        }
    }
    LOG(ERROR, "too many domains on this host (%d)", DAEMON_MAX_DOMAINS);
    return LIBXLMIG_ERROR_BUSY;
}

static void table_remove(libxlmig__sim_dom *d)
{
    int i;

    for (i = 0; i < DAEMON_MAX_DOMAINS; i++)
        if (doms[i] == d) doms[i] = NULL;
    reg_remove(d);
}

/* Find name and mark it busy; fails if missing or busy. */
static int dom_get(libxlmig__gc *gc, const char *name,
                   libxlmig__sim_dom **d_r)
{
    libxlmig__sim_dom *d;
    int rc = 0;

    pthread_mutex_lock(&dom_lock);
    d = name ? table_find(name) : NULL;
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
    pthread_mutex_unlock(&dom_lock);
    return rc;
}

static void dom_put(libxlmig__sim_dom *d)
{
    pthread_mutex_lock(&dom_lock);
    d->busy = false;
    pthread_mutex_unlock(&dom_lock);
}

static void dom_attach(libxlmig__gc *gc, libxlmig__sim_dom *d);
static void dom_detach(libxlmig__sim_dom *d);

static void dom_remove_destroy(libxlmig__sim_dom *d)
{
    pthread_mutex_lock(&dom_lock);
    table_remove(d);
    pthread_mutex_unlock(&dom_lock);
    dom_detach(d);
    libxlmig__sim_dom_destroy(d);
}

/* ---- replies ------------------------------------------------------- */
static void send_line(conn *c, const char *s)
{
    size_t len = strlen(s), off = 0;
    ssize_t r;

    while (off < len) {
        r = send(c->sock, s + off, len - off, MSG_NOSIGNAL);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            c->gone = true;
            return;
        }
        off += r;
    }
    while (send(c->sock, "\n", 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* A client that hung up (Ctrl-C) cancels its save. */
static bool client_gone(void *user)
{
    conn *c = user;
    char b;

    if (!c->gone && recv(c->sock, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
        c->gone = true;
    return c->gone;
}

static void progress_cb(void *user, const libxlmig_stats *st)
{
    conn *c = user;
    yajl_gen g = yajl_gen_alloc(NULL);
    const unsigned char *buf;
    size_t len;

    if (!g) return;
    if (yajl_gen_map_open(g) == yajl_gen_status_ok &&
        libxlmig__yajl_gen_kv_str(g, "type", "progress") ==
            yajl_gen_status_ok &&
        libxlmig__yajl_gen_str(g, "stats") == yajl_gen_status_ok &&
        libxlmig__stats_gen_json(g, st) == yajl_gen_status_ok &&
        yajl_gen_map_close(g) == yajl_gen_status_ok &&
        yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
        send_line(c, (const char *)buf);
    yajl_gen_free(g);
}

/* Result line; data_gen (may be NULL) adds the "data" object. */
typedef yajl_gen_status (*data_gen_fn)(yajl_gen g, void *arg);

static void send_result(libxlmig__gc *gc, conn *c, int rc,
                        data_gen_fn data_gen, void *arg)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_gen_status s;
    char *json = NULL;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "type", "result");
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "rc", rc);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "error",
                                  rc ? libxlmig_last_error(CTX) : "");
    if (s != yajl_gen_status_ok) goto out;
    if (!rc && data_gen) {
        s = libxlmig__yajl_gen_str(g, "data");
        if (s != yajl_gen_status_ok) goto out;
        s = data_gen(g, arg);
        if (s != yajl_gen_status_ok) goto out;
    }
    s = yajl_gen_map_close(g);
    if (s != yajl_gen_status_ok) goto out;
    if (!libxlmig__json_finish(gc, g, &json)) {
        send_line(c, json);
        free(json);
    }
 out:
    return;
}

/* ---- operations ---------------------------------------------------- */

typedef struct list_entry {
    libxlmig__sim_config cfg;
    uint32_t domid;
    pid_t pid;
    const char *state;
} list_entry;

typedef struct list_snapshot {
    int n;
    list_entry e[DAEMON_MAX_DOMAINS];
} list_snapshot;

static yajl_gen_status list_gen(yajl_gen g, void *arg)
{
    list_snapshot *ls = arg;
    yajl_gen_status s;
    int i;

    s = yajl_gen_array_open(g);
    if (s != yajl_gen_status_ok) return s;
    for (i = 0; i < ls->n; i++) {
        const list_entry *d = &ls->e[i];

        s = yajl_gen_map_open(g);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_str(g, "name", d->cfg.name);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_str(g, "uuid", d->cfg.uuid);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_uint(g, "domid", d->domid);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_uint(g, "memory_kib",
                                       d->cfg.memory_mib * 1024);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_str(g, "state", d->state);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_str(g, "mac", d->cfg.mac);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_str(g, "ip", d->cfg.ip);
        if (s != yajl_gen_status_ok) return s;
        s = libxlmig__yajl_gen_kv_uint(g, "pid", (uint64_t)d->pid);
        if (s != yajl_gen_status_ok) return s;
        s = yajl_gen_map_close(g);
        if (s != yajl_gen_status_ok) return s;
    }
    return yajl_gen_array_close(g);
}

/* Snapshot the table under the lock; reply without it. */
static void op_list(libxlmig__gc *gc, conn *c, yajl_val req)
{
    list_snapshot *ls;
    int i;

    GCNEW(ls);
    pthread_mutex_lock(&dom_lock);
    for (i = 0; i < DAEMON_MAX_DOMAINS; i++) {
        libxlmig__sim_dom *d = doms[i];
        list_entry *e;

        if (!d) continue;
        e = &ls->e[ls->n++];
        e->cfg = d->cfg;
        e->domid = d->domid;
        e->pid = d->pid;
        e->state = !libxlmig__sim_dom_alive(d) ? "shutdown"
                 : d->paused ? "paused" : "running";
    }
    pthread_mutex_unlock(&dom_lock);
    send_result(gc, c, 0, list_gen, ls);
}

/*
 * A new domain of cfg, in the table under a fresh domid.  fresh: filled
 * and running (cfg completed with the domid first); else empty, paused and
 * reserved (busy) for a restore.  hint ends the "already exists" error.
 */
static int dom_new(libxlmig__gc *gc, libxlmig__sim_config *cfg, bool fresh,
                   const char *hint, libxlmig__sim_dom **d_r)
{
    libxlmig__sim_dom *d = NULL;
    uint32_t domid;
    bool exists;
    int rc;

    pthread_mutex_lock(&dom_lock);
    exists = table_find(cfg->name) != NULL;
    domid = next_domid++;
    pthread_mutex_unlock(&dom_lock);
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
    pthread_mutex_lock(&dom_lock);
    rc = table_insert(gc, d);
    pthread_mutex_unlock(&dom_lock);
    if (rc) {
        libxlmig__sim_dom_destroy(d);
        return rc;
    }
    *d_r = d;
    return 0;
}

static void op_create(libxlmig__gc *gc, conn *c, yajl_val req)
{
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d = NULL;
    const char *name = libxlmig__json_get_str(req, "name");
    long long hot = 0;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    if (!name || !*name || strlen(name) >= sizeof(cfg.name) ||
        strchr(name, '/')) {
        LOG(ERROR, "invalid domain name '%s'", name ? name : "");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
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
    if (rc) goto out;
    cfg.hot_pct = (uint32_t)hot;
    {
        const char *ip = libxlmig__json_get_str(req, "ip");
        const char *mac = libxlmig__json_get_str(req, "mac");
        struct in_addr a;
        uint8_t m[6];

        if (ip && (strlen(ip) >= sizeof(cfg.ip) ||
                   inet_pton(AF_INET, ip, &a) != 1)) {
            LOG(ERROR, "invalid IPv4 address '%s'", ip);
            rc = LIBXLMIG_ERROR_INVAL;
            goto out;
        }
        if (mac && netcfg_mac_parse(mac, m)) {
            LOG(ERROR, "invalid MAC address '%s' (aa:bb:cc:dd:ee:ff)", mac);
            rc = LIBXLMIG_ERROR_INVAL;
            goto out;
        }
        if (ip) snprintf(cfg.ip, sizeof(cfg.ip), "%s", ip);
        if (mac) snprintf(cfg.mac, sizeof(cfg.mac), "%s", mac);
    }
    if (cfg.zero_fraction < 0 || cfg.zero_fraction > 1) {
        LOG(ERROR, "zero fraction %g is not between 0 and 1",
            cfg.zero_fraction);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = dom_new(gc, &cfg, true, "", &d);
    if (rc) goto out;
    dom_attach(gc, d);
    LOGD(INFO, d->domid, "created sim domain %s (%llu MiB)", name,
         (unsigned long long)cfg.memory_mib);
 out:
    send_result(gc, c, rc, NULL, NULL);
}

static void op_simple(libxlmig__gc *gc, conn *c, yajl_val req,
                      const char *op)
{
    const char *name = libxlmig__json_get_str(req, "domain");
    libxlmig__sim_dom *d;
    int rc;

    rc = dom_get(gc, name, &d);
    if (rc) goto out;
    if (!strcmp(op, "destroy")) {
        dom_remove_destroy(d);
        goto out;
    }
    if (!strcmp(op, "pause"))
        rc = libxlmig__sim_dom_pause(gc, d);
    else
        rc = libxlmig__sim_dom_unpause(gc, d);
    if (!rc) {
        /* A restarted xlmigd keeps it as the user left it. */
        pthread_mutex_lock(&dom_lock);
        d->user_paused = !strcmp(op, "pause");
        reg_write(gc, d);
        pthread_mutex_unlock(&dom_lock);
    }
    dom_put(d);
 out:
    send_result(gc, c, rc, NULL, NULL);
}

typedef struct verify_result { uint64_t bad, first; } verify_result;

static yajl_gen_status verify_gen(yajl_gen g, void *arg)
{
    verify_result *v = arg;
    yajl_gen_status s;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) return s;
    s = libxlmig__yajl_gen_kv_uint(g, "bad_pages", v->bad);
    if (s != yajl_gen_status_ok) return s;
    s = libxlmig__yajl_gen_kv_int(g, "first_bad_pfn",
                                  v->bad ? (long long)v->first : -1);
    if (s != yajl_gen_status_ok) return s;
    return yajl_gen_map_close(g);
}

static void op_verify(libxlmig__gc *gc, conn *c, yajl_val req)
{
    libxlmig__sim_dom *d;
    verify_result v;
    int rc;

    rc = dom_get(gc, libxlmig__json_get_str(req, "domain"), &d);
    if (rc) goto out;
    rc = libxlmig__sim_dom_verify(gc, d, &v.bad, &v.first);
    dom_put(d);
 out:
    send_result(gc, c, rc, verify_gen, &v);
}

/* The dirty-log sample of xlmig estimate: distinct pages written by the
 * domain between the start and each of three points (ms/4, ms/2, ms). */
static yajl_gen_status sample_gen(yajl_gen g, void *arg)
{
    const libxlmig_dirty_sample *r = arg;
    uint32_t i;

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_uint(g, "nr_pages", r->nr_pages);
    libxlmig__yajl_gen_str(g, "points");
    yajl_gen_array_open(g);
    for (i = 0; i < r->nr_points; i++) {
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_uint(g, "ms", r->ms[i]);
        libxlmig__yajl_gen_kv_uint(g, "pages", r->pages[i]);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    return yajl_gen_map_close(g);
}

/* The sample itself (d reserved): distinct pages written from now until
 * ms/4, ms/2 and ms. */
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
    return rc;
}

static int sh_dirty_sample(libxlmig__gc *gc, void *priv, const char *name,
                           unsigned ms, libxlmig_dirty_sample *s);

static void op_sample_dirty(libxlmig__gc *gc, conn *c, yajl_val req)
{
    libxlmig_dirty_sample s;
    uint64_t ms = LIBXLMIG_DEFAULT_SAMPLE_MS;
    int rc;

    memset(&s, 0, sizeof(s));
    libxlmig__json_get_u64(gc, req, "ms", &ms);
    if (ms < 40 || ms > 60000) {
        LOG(ERROR, "dirty sample: duration must be 40 ms to 60 s");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    rc = sh_dirty_sample(gc, NULL, libxlmig__json_get_str(req, "domain"),
                         (unsigned)ms, &s);
 out:
    send_result(gc, c, rc, sample_gen, &s);
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

static yajl_gen_status stats_gen(yajl_gen g, void *arg)
{
    return libxlmig__stats_gen_json(g, arg);
}

static void op_save(libxlmig__gc *gc, conn *c, yajl_val req)
{
    libxlmig__transport *t = NULL;
    libxlmig__sim_dom *d = NULL;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    bool checkpoint = false, was_paused;
    yajl_val params = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&st, 0, sizeof(st));
    if (c->fd < 0) {
        LOG(ERROR, "save request without a stream fd");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    rc = libxlmig__json_get_bool(gc, req, "live", &o.live);
    if (!rc) rc = libxlmig__json_get_bool(gc, req, "checkpoint", &checkpoint);
    if (rc) goto out;
    if (YAJL_IS_OBJECT(req)) {
        size_t i;
        for (i = 0; i < req->u.object.len; i++)
            if (!strcmp(req->u.object.keys[i], "params"))
                params = req->u.object.values[i];
    }
    rc = libxlmig__params_parse_json(gc, params, &o.params);
    if (rc) goto out;
    o.progress = progress_cb;
    o.progress_user = c;
    o.cancelled = client_gone;
    rc = dom_get(gc, libxlmig__json_get_str(req, "domain"), &d);
    if (rc) goto out;
    was_paused = d->paused;
    /* A paused guest dirties nothing: one stop-and-copy pass, and no
     * throttle that would let it run. */
    if (was_paused) o.live = false;
    /* The domain is destroyed after the save, or runs on (checkpoint),
     * perhaps before the reader has read all: then pages are copied. */
    o.pages_by_ref = !checkpoint;
    libxlmig__transport_fd_borrow(gc, c->fd, "the save stream", &t);
    rc = libxlmig__sim_save(gc, d, t, &o, &st);
    libxlmig__transport_free(t);
    if (rc) {
        if (was_paused) libxlmig__sim_dom_pause(gc, d);
        dom_put(d);
        goto out;
    }
    if (checkpoint) {
        if (!was_paused) libxlmig__sim_dom_unpause(gc, d);
        dom_put(d);
    } else {
        dom_remove_destroy(d);
    }
 out:
    send_result(gc, c, rc, stats_gen, &st);
}

typedef struct restore_sink {
    libxlmig__gc *gc;
    const char *new_name;
    libxlmig__sim_dom *d;
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
    if (rs->d) {
        /* Prepared before the stream: it takes the stream's state. */
        rc = libxlmig__sim_dom_adopt(gc, rs->d, &cfg);
        if (rc) return rc;
        pthread_mutex_lock(&dom_lock);
        reg_write(gc, rs->d);
        pthread_mutex_unlock(&dom_lock);
        *mem_r = rs->d->mem;
        return 0;
    }
    rc = dom_new(gc, &cfg, false, " (restore it under another name)", &d);
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
        dom_remove_destroy(rs->d);
    }
    rs->d = NULL;
}

typedef struct restore_result {
    libxlmig_stats *st;
    const char *name;
} restore_result;

static yajl_gen_status restore_gen(yajl_gen g, void *arg)
{
    restore_result *r = arg;
    yajl_gen_status s;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) return s;
    s = libxlmig__yajl_gen_kv_str(g, "name", r->name);
    if (s != yajl_gen_status_ok) return s;
    s = libxlmig__yajl_gen_str(g, "stats");
    if (s != yajl_gen_status_ok) return s;
    s = libxlmig__stats_gen_json(g, r->st);
    if (s != yajl_gen_status_ok) return s;
    return yajl_gen_map_close(g);
}

static void op_restore(libxlmig__gc *gc, conn *c, yajl_val req)
{
    libxlmig__transport *t = NULL;
    restore_sink rs = { gc, NULL, NULL };
    libxlmig__mig_sink sink;
    libxlmig__engine_opts o;
    libxlmig_stats st;
    restore_result res = { &st, NULL };
    bool paused = false;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&st, 0, sizeof(st));
    if (c->fd < 0) {
        LOG(ERROR, "restore request without a stream fd");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    rc = libxlmig__json_get_bool(gc, req, "paused", &paused);
    if (rc) goto out;
    rs.new_name = libxlmig__json_get_str(req, "name");
    sink.priv = &rs;
    sink.mem_zeroed = true;
    sink.create = sink_create;
    sink.vcpu_state = sink_vcpu;
    sink.destroy = sink_destroy;
    libxlmig__transport_fd_borrow(gc, c->fd, "the restore stream", &t);
    rc = libxlmig__engine_restore(gc, &sink, t, &o, &st);
    libxlmig__transport_free(t);
    if (rc) goto out;
    res.name = GCSTRDUP(rs.d->cfg.name);
    if (!paused) {
        rc = libxlmig__sim_dom_unpause(gc, rs.d);
        dom_attach(gc, rs.d);
    }
    dom_put(rs.d);
 out:
    send_result(gc, c, rc, restore_gen, &res);
}

/* ---- connections --------------------------------------------------- */

static int read_request(libxlmig__gc *gc, conn *c, char **line_r)
{
    char *buf = libxlmig__zalloc(gc, DAEMON_MAX_REQUEST + 1);
    size_t len = 0;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *h;
    ssize_t r;

    while (!memchr(buf, '\n', len)) {
        if (len >= DAEMON_MAX_REQUEST) {
            LOG(ERROR, "request too long");
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        memset(&msg, 0, sizeof(msg));
        iov.iov_base = buf + len;
        iov.iov_len = DAEMON_MAX_REQUEST - len;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cm.b;
        msg.msg_controllen = sizeof(cm.b);
        r = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            LOG(ERROR, "client closed the connection");
            return LIBXLMIG_ERROR_PROTOCOL;
        }
        for (h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
            if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
                c->fd < 0)
                memcpy(&c->fd, CMSG_DATA(h), sizeof(int));
        }
        len += r;
    }
    *strchr(buf, '\n') = 0;
    *line_r = buf;
    return 0;
}

static void op_migrate(libxlmig__gc *gc, conn *c, yajl_val req);
/* The local host migrations use: the sim one, or Xen's (daemon_run). */
static const libxlmig__local_host *daemon_host;
static const libxlmig__local_host sim_local_host;
static void op_cancel(libxlmig__gc *gc, conn *c, yajl_val req);
static void op_recover(libxlmig__gc *gc, conn *c, yajl_val req);

static void *conn_main(void *arg)
{
    conn *c = arg;
    libxlmig_ctx *ctx = NULL;
    yajl_val req;
    const char *op;
    char *line;
    int rc;

    if (libxlmig_ctx_alloc(&ctx, daemon_lg)) goto done;
    {
        GC_INIT(ctx);
        rc = read_request(gc, c, &line);
        if (!rc) rc = libxlmig__json_parse(gc, line, "request", &req);
        if (!rc) rc = libxlmig__json_check_version(gc, req, "request", 1);
        if (rc) {
            send_result(gc, c, rc, NULL, NULL);
            GC_FREE;
            goto done;
        }
        op = libxlmig__json_get_str(req, "op");
        if (!op) op = "";
        if (strcmp(daemon_host->backend, "sim") &&
            strcmp(op, "migrate") && strcmp(op, "cancel") &&
            strcmp(op, "recover")) {
            /* Xen domains are created, saved and listed with xl or
             * xlmig's backend ops; the daemon only migrates them. */
            LOG(ERROR, "request '%s' is for sim domains; this xlmigd runs "
                "the %s backend (use xl or `xlmig --backend %s`)", op,
                daemon_host->backend, daemon_host->backend);
            send_result(gc, c, LIBXLMIG_ERROR_UNSUPPORTED, NULL, NULL);
        }
        else if (!strcmp(op, "list")) op_list(gc, c, req);
        else if (!strcmp(op, "create")) op_create(gc, c, req);
        else if (!strcmp(op, "verify")) op_verify(gc, c, req);
        else if (!strcmp(op, "pause") || !strcmp(op, "unpause") ||
                 !strcmp(op, "destroy")) op_simple(gc, c, req, op);
        else if (!strcmp(op, "save")) op_save(gc, c, req);
        else if (!strcmp(op, "restore")) op_restore(gc, c, req);
        else if (!strcmp(op, "migrate")) op_migrate(gc, c, req);
        else if (!strcmp(op, "cancel")) op_cancel(gc, c, req);
        else if (!strcmp(op, "recover")) op_recover(gc, c, req);
        else if (!strcmp(op, "sample_dirty")) op_sample_dirty(gc, c, req);
        else {
            LOG(ERROR, "unknown request '%s'", op);
            send_result(gc, c, LIBXLMIG_ERROR_PROTOCOL, NULL, NULL);
        }
        GC_FREE;
    }
 done:
    if (c->fd >= 0) close(c->fd);
    close(c->sock);
    free(c);
    if (ctx) libxlmig_ctx_free(ctx);
    return NULL;
}

/* One registry entry: take its domain over; false if it is gone. */
static bool adopt_one(libxlmig__gc *gc, const char *path)
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
    pthread_mutex_lock(&dom_lock);
    rc = table_insert(gc, d);
    if (!rc && d->domid >= next_domid)
        next_domid = d->domid + 1;
    pthread_mutex_unlock(&dom_lock);
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
        dom_attach(gc, d);
    return true;
}

/*
 * Take over the sim domains an earlier xlmigd of this state directory
 * left running (xlmigd ended, crashed or was restarted); forget those
 * whose process is gone.
 */
static void sim_adopt_all(libxlmig__gc *gc)
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
        if (!adopt_one(gc, path))
            unlink(path);
    }
    closedir(dp);
}

static void on_signal(int sig)
{
    quit_requested = 1;
}

static int daemon_serve(libxlmig_ctx *ctx, const char *path, bool sim);

int libxlmig_sim_daemon_run(libxlmig_ctx *ctx, const char *path)
{
    libxlmig_daemon_opts o;

    memset(&o, 0, sizeof(o));
    o.socket = path;
    return libxlmig_daemon_run(ctx, &o);
}

/* The control socket; sim: also the sim domains (probed first). */
static int daemon_serve(libxlmig_ctx *ctx, const char *path, bool sim)
{
    GC_INIT(ctx);
    struct sockaddr_un sa;
    struct sigaction act;
    struct pollfd pfd;
    char *dir, *slash;
    pthread_attr_t attr;
    pthread_t t;
    conn *c;
    int lfd = -1, s, i, rc;

    daemon_lg = ctx->lg;
    if (!daemon_host)
        daemon_host = &sim_local_host;
    if (sim) {
        rc = libxlmig__sim_probe(gc);
        if (rc) goto out;
    }
    if (!path) path = libxlmig__tunable_control_socket();
    if (strlen(path) >= sizeof(sa.sun_path)) {
        LOG(ERROR, "socket path %s is too long", path);
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    dir = GCSTRDUP(path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdir(dir, 0755) && errno != EEXIST) {
            LOGE(ERROR, "cannot create %s", dir);
            rc = LIBXLMIG_ERROR_IO;
            goto out;
        }
    }
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    signal(SIGPIPE, SIG_IGN);

    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (lfd >= 0 && connect(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        LOG(ERROR, "another xlmigd already listens on %s", path);
        rc = LIBXLMIG_ERROR_BUSY;
        goto out;
    }
    if (lfd >= 0) close(lfd);
    unlink(path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
        chmod(path, 0600) || listen(lfd, 64)) {
        LOGE(ERROR, "cannot listen on %s", path);
        rc = LIBXLMIG_ERROR_IO;
        goto out;
    }
    LOG(INFO, "xlmigd (%s backend) listening on %s",
        sim ? "sim" : daemon_host->backend, path);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (!quit_requested) {
        pfd.fd = lfd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 200) <= 0) continue;
        s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0) continue;
        c = calloc(1, sizeof(*c));
        if (!c) { close(s); continue; }
        c->sock = s;
        c->fd = -1;
        if (pthread_create(&t, &attr, conn_main, c)) {
            close(s);
            free(c);
        }
    }
    /* Domains outlive the daemon: the next one takes them over. */
    pthread_mutex_lock(&dom_lock);
    for (i = 0, s = 0; i < DAEMON_MAX_DOMAINS; i++)
        if (doms[i]) s++;
    pthread_mutex_unlock(&dom_lock);
    LOG(INFO, "xlmigd shutting down; %d domain(s) keep running for the "
        "next xlmigd to take over", s);
    unlink(path);
    rc = 0;
 out:
    if (lfd >= 0) close(lfd);
    GC_FREE;
    return rc;
}

/* ---- the local host of migrations between nodes (migrate.h) -------- */

static struct {
    uint64_t capacity_kib;            /* memory for domains; 0: the host's */
    bool cpu_override;
    struct policy_cpuid cpu;          /* this node's CPU, when overridden */
    char storage[256];                /* shared storage directory */
    char pub_if[IF_NAMESIZE];         /* where announcements go */
} simhost;

static uint64_t used_kib_locked(void)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < DAEMON_MAX_DOMAINS; i++)
        if (doms[i])
            sum += doms[i]->cfg.memory_mib * 1024;
    return sum;
}

static int sh_host_info(libxlmig__gc *gc, void *priv, libxlmig_host_info *hi)
{
    uint64_t used;
    int rc;

    rc = libxlmig__host_info_linux(gc, hi);
    if (rc) return rc;
    hi->backend = strdup("sim");
    hi->hypervisor = strdup("xlmig-sim " LIBXLMIG_VERSION);
    hi->scheduler = strdup("sim");
    pthread_mutex_lock(&dom_lock);
    used = used_kib_locked();
    pthread_mutex_unlock(&dom_lock);
    if (simhost.capacity_kib) {
        hi->total_memory_kib = simhost.capacity_kib;
        hi->free_memory_kib = simhost.capacity_kib > used
                              ? simhost.capacity_kib - used : 0;
    }
    return 0;
}

static int sh_host_cpu(libxlmig__gc *gc, void *priv, struct policy_cpuid *p)
{
    if (simhost.cpu_override) {
        *p = simhost.cpu;
        return 0;
    }
    if (!policy_capture_native(p)) {
        LOG(ERROR, "no cpuid instruction on this architecture");
        return LIBXLMIG_ERROR_UNSUPPORTED;
    }
    return 0;
}

static int sh_list(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                   int *nr_r)
{
    libxlmig_dominfo *list;
    int i, n = 0;

    list = calloc(DAEMON_MAX_DOMAINS, sizeof(*list));
    if (!list)
        libxlmig__alloc_failed(CTX, __func__, DAEMON_MAX_DOMAINS,
                               sizeof(*list));
    pthread_mutex_lock(&dom_lock);
    for (i = 0; i < DAEMON_MAX_DOMAINS; i++) {
        libxlmig__sim_dom *d = doms[i];

        if (!d) continue;
        list[n].name = strdup(d->cfg.name);
        snprintf(list[n].uuid, sizeof(list[n].uuid), "%s", d->cfg.uuid);
        list[n].domid = d->domid;
        list[n].memory_kib = list[n].max_memory_kib =
            d->cfg.memory_mib * 1024;
        list[n].vcpus = 1;
        list[n].state = d->paused ? LIBXLMIG_DOMAIN_PAUSED
                                  : LIBXLMIG_DOMAIN_RUNNING;
        n++;
    }
    pthread_mutex_unlock(&dom_lock);
    *list_r = list;
    *nr_r = n;
    return 0;
}

static bool sh_exists(void *priv, const char *name)
{
    bool found;

    pthread_mutex_lock(&dom_lock);
    found = table_find(name) != NULL;
    pthread_mutex_unlock(&dom_lock);
    return found;
}

static int sh_facts(libxlmig__gc *gc, void *priv, const char *name,
                    libxlmig__dom_facts *f)
{
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d;
    int rc;

    pthread_mutex_lock(&dom_lock);
    d = table_find(name);
    if (d) cfg = d->cfg;
    pthread_mutex_unlock(&dom_lock);
    if (!d) {
        LOG(ERROR, "domain '%s' not found on this host", name);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    rc = libxlmig__sim_config_to_json(gc, &cfg, &f->config_json);
    if (rc) return rc;
    f->memory_kib = cfg.memory_mib * 1024;
    f->mac = strdup(cfg.mac);
    f->ip = strdup(cfg.ip);
    if (simhost.storage[0])
        f->storage = strdup(simhost.storage);
    return 0;
}

/* Sim domains run with their node's CPU policy. */
static int sh_dom_cpu(libxlmig__gc *gc, void *priv, const char *name,
                      struct policy_cpuid *p)
{
    return sh_host_cpu(gc, priv, p);
}

static int sh_dirty_sample(libxlmig__gc *gc, void *priv, const char *name,
                           unsigned ms, libxlmig_dirty_sample *s)
{
    libxlmig__sim_dom *d;
    int rc;

    rc = dom_get(gc, name, &d);
    if (rc) return rc;
    rc = sim_sample(gc, d, ms, s);
    dom_put(d);
    return rc;
}

static int sh_save_handoff(libxlmig__gc *gc, void *priv, const char *name,
                           int fd, const libxlmig__engine_opts *o,
                           libxlmig_stats *st)
{
    libxlmig__transport *t = NULL;
    libxlmig__sim_dom *d;
    bool was_paused;
    int rc;

    rc = dom_get(gc, name, &d);
    if (rc) return rc;
    was_paused = d->paused;
    libxlmig__transport_fd_borrow(gc, fd, "the migration stream", &t);
    rc = libxlmig__sim_save(gc, d, t, o, st);
    libxlmig__transport_free(t);
    if (rc) {
        /* The engine left it running; keep a paused one paused. */
        if (was_paused) libxlmig__sim_dom_pause(gc, d);
        dom_put(d);
    }
    return rc;      /* on success: paused and still reserved */
}

static int sh_rename(libxlmig__gc *gc, void *priv, const char *from,
                     const char *to)
{
    libxlmig__sim_dom *d;
    int rc = 0;

    pthread_mutex_lock(&dom_lock);
    d = table_find(from);
    if (!d) {
        LOG(ERROR, "cannot rename %s: no such domain", from);
        rc = LIBXLMIG_ERROR_NOTFOUND;
    } else if (table_find(to)) {
        LOG(ERROR, "cannot rename %s to %s: the name is taken", from, to);
        rc = LIBXLMIG_ERROR_EXISTS;
    } else if (strlen(to) >= sizeof(d->cfg.name)) {
        LOG(ERROR, "cannot rename %s to %s: name too long", from, to);
        rc = LIBXLMIG_ERROR_INVAL;
    } else {
        snprintf(d->cfg.name, sizeof(d->cfg.name), "%s", to);
        reg_write(gc, d);
    }
    pthread_mutex_unlock(&dom_lock);
    return rc;
}

/* Unpause a reserved domain and release it. */
static int sh_unpause_release(libxlmig__gc *gc, void *priv, const char *name)
{
    libxlmig__sim_dom *d;
    int rc;

    pthread_mutex_lock(&dom_lock);
    d = table_find(name);
    pthread_mutex_unlock(&dom_lock);
    if (!d) {
        LOG(ERROR, "cannot resume %s: no such domain", name);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    rc = libxlmig__sim_dom_unpause(gc, d);
    dom_put(d);
    return rc;
}

static int sh_destroy(libxlmig__gc *gc, void *priv, const char *name)
{
    libxlmig__sim_dom *d;

    pthread_mutex_lock(&dom_lock);
    d = table_find(name);
    if (d) table_remove(d);
    pthread_mutex_unlock(&dom_lock);
    if (!d) {
        LOG(ERROR, "cannot destroy %s: no such domain", name);
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    dom_detach(d);
    libxlmig__sim_dom_destroy(d);
    return 0;
}

static int sh_prepare_incoming(libxlmig__gc *gc, void *priv,
                               const char *name, const char *config_json)
{
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
    return dom_new(gc, &cfg, false, "", &d);
}

static int sh_restore_paused(libxlmig__gc *gc, void *priv, int fd,
                             const char *name, const libxlmig__engine_opts *o,
                             libxlmig_stats *st)
{
    libxlmig__transport *t = NULL;
    int rc;
    restore_sink rs = { gc, name, NULL };
    libxlmig__mig_sink sink;

    /* The domain prepared for it, if any. */
    pthread_mutex_lock(&dom_lock);
    rs.d = table_find(name);
    pthread_mutex_unlock(&dom_lock);

    memset(&sink, 0, sizeof(sink));
    sink.priv = &rs;
    sink.mem_zeroed = true;
    sink.create = sink_create;
    sink.vcpu_state = sink_vcpu;
    sink.destroy = sink_destroy;
    libxlmig__transport_fd_borrow(gc, fd, "the migration stream", &t);
    rc = libxlmig__engine_restore(gc, &sink, t, o, st);
    libxlmig__transport_free(t);
    /* A stream that failed before its config leaves the prepared domain
     * to us: nothing of a failed restore may stay. */
    if (rc && rs.d)
        sink_destroy(gc, &rs);
    return rc;
}

static void sh_announce(libxlmig__gc *gc, void *priv, const char *name)
{
    libxlmig__sim_config cfg;
    libxlmig__sim_dom *d;
    struct in_addr ip;
    const char *err = NULL;
    uint8_t mac[6];

    if (!simhost.pub_if[0])
        return;
    pthread_mutex_lock(&dom_lock);
    d = table_find(name);
    if (d) cfg = d->cfg;
    pthread_mutex_unlock(&dom_lock);
    if (!d || netcfg_mac_parse(cfg.mac, mac) ||
        inet_pton(AF_INET, cfg.ip, &ip) != 1)
        return;
    dom_attach(gc, d);
    if (netcfg_garp_send(simhost.pub_if, mac, ip, 3, 20, &err))
        LOG(WARN, "announcing %s (%s, %s) on %s failed: %s", name, cfg.ip,
            cfg.mac, simhost.pub_if, err);
    else
        LOG(INFO, "announced %s at %s (%s) on %s", name, cfg.ip, cfg.mac,
            simhost.pub_if);
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
static void dom_attach(libxlmig__gc *gc, libxlmig__sim_dom *d)
{
    char name[IF_NAMESIZE];
    struct in_addr ip;
    netcfg_err err;
    uint8_t mac[6];
    int plen;

    if (!simhost.pub_if[0] || netcfg_mac_parse(d->cfg.mac, mac) ||
        inet_pton(AF_INET, d->cfg.ip, &ip) != 1)
        return;
    dom_ifname(d, name);
    if (if_nametoindex(name))
        return;
    plen = netcfg_if_prefixlen(simhost.pub_if);
    if (netcfg_macvlan_add(simhost.pub_if, name, mac, ip,
                           plen > 0 ? (unsigned)plen : 32, &err))
        LOGD(WARN, d->domid, "%s gets no interface on %s: %s",
             d->cfg.name, simhost.pub_if, err.msg);
}

static void dom_detach(libxlmig__sim_dom *d)
{
    char name[IF_NAMESIZE];

    if (!simhost.pub_if[0])
        return;
    dom_ifname(d, name);
    netcfg_link_del(name, NULL);
}

static const libxlmig__local_host sim_local_host = {
    .backend = "sim",
    .host_info = sh_host_info,
    .host_cpu_policy = sh_host_cpu,
    .list = sh_list,
    .domain_exists = sh_exists,
    .domain_facts = sh_facts,
    .domain_cpu_policy = sh_dom_cpu,
    .save_handoff = sh_save_handoff,
    .rename = sh_rename,
    .resume = sh_unpause_release,
    .destroy = sh_destroy,
    .prepare_incoming = sh_prepare_incoming,
    .restore_paused = sh_restore_paused,
    .unpause_release = sh_unpause_release,
    .announce = sh_announce,
    .dirty_sample = sh_dirty_sample,
};

/* ---- migrations this node sends ------------------------------------- */

#define DAEMON_MAX_OUTGOING 32

static libxlmig_cluster *daemon_cluster;
static struct outgoing {
    char domain[64];
    libxlmig__migration *m;
    volatile int cancel;
} outgoing[DAEMON_MAX_OUTGOING];

static struct outgoing *outgoing_add(const char *domain,
                                     libxlmig__migration *m)
{
    struct outgoing *o = NULL;
    int i;

    pthread_mutex_lock(&dom_lock);
    for (i = 0; i < DAEMON_MAX_OUTGOING; i++) {
        if (outgoing[i].m && !strcmp(outgoing[i].domain, domain)) {
            o = NULL;
            break;
        }
        if (!outgoing[i].m && !o)
            o = &outgoing[i];
    }
    if (o) {
        snprintf(o->domain, sizeof(o->domain), "%s", domain);
        o->m = m;
        o->cancel = 0;
        m->cancel = &o->cancel;
    }
    pthread_mutex_unlock(&dom_lock);
    return o;
}

static void outgoing_remove(struct outgoing *o)
{
    pthread_mutex_lock(&dom_lock);
    o->m = NULL;
    pthread_mutex_unlock(&dom_lock);
}

typedef struct report_arg { yajl_val v; } report_arg;

static yajl_gen_status report_gen(yajl_gen g, void *arg)
{
    return libxlmig__yajl_gen_val(g, ((report_arg *)arg)->v);
}

/* The result line carries the report even when the migration failed. */
static void send_report(libxlmig__gc *gc, conn *c, int rc, yajl_gen rep)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    report_arg ra = { NULL };
    char *json = NULL;

    if (libxlmig__json_gen_to_val(gc, rep, "migration report", &ra.v)) {
        send_result(gc, c, rc ? rc : LIBXLMIG_ERROR_JSON, NULL, NULL);
        return;
    }
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "type", "result");
    libxlmig__yajl_gen_kv_int(g, "rc", rc);
    libxlmig__yajl_gen_kv_str(g, "error", rc ? libxlmig_last_error(CTX) : "");
    libxlmig__yajl_gen_str(g, "data");
    report_gen(g, &ra);
    yajl_gen_map_close(g);
    if (!libxlmig__json_finish(gc, g, &json)) {
        send_line(c, json);
        free(json);
    }
}

static void op_migrate(libxlmig__gc *gc, conn *c, yajl_val req)
{
    const char *path_params[] = { "params", NULL };
    libxlmig__migration m;
    struct outgoing *og;
    yajl_gen rep = libxlmig__json_gen_alloc(gc, false);
    bool dry = false;
    int rc;

    memset(&m, 0, sizeof(m));
    yajl_gen_map_open(rep);
    libxlmig__yajl_gen_kv_int(rep, "version", 1);
    if (!daemon_cluster) {
        LOG(ERROR, "this xlmigd runs without a cluster config (start it "
            "with -c CONFIG) and cannot migrate");
        rc = LIBXLMIG_ERROR_CONFIG;
        goto out;
    }
    m.cl = daemon_cluster;
    m.host = daemon_host;
    m.domain = libxlmig__json_get_str(req, "domain");
    m.target = libxlmig__json_get_str(req, "target");
    libxlmig__json_get_bool(gc, req, "dry_run", &dry);
    m.dry_run = dry;
    rc = libxlmig__params_parse_json(gc, yajl_tree_get(req, path_params,
                                                       yajl_t_object),
                                     &m.params);
    if (rc) goto out;
    {
        const char *path_pred[] = { "prediction", NULL };
        yajl_val pv = yajl_tree_get(req, path_pred, yajl_t_object);

        if (pv) {
            rc = libxlmig__estimate_parse(gc, pv, &m.prediction);
            if (rc) goto out;
            m.predicted = true;
        }
    }
    if (!m.domain || !m.target) {
        LOG(ERROR, "migrate request without a domain or a target");
        rc = LIBXLMIG_ERROR_PROTOCOL;
        goto out;
    }
    m.progress = progress_cb;
    m.progress_user = c;
    m.report = rep;
    og = outgoing_add(m.domain, &m);
    if (!og) {
        LOG(ERROR, "%s is already being migrated (or too many migrations "
            "run)", m.domain);
        rc = LIBXLMIG_ERROR_BUSY;
        goto out;
    }
    rc = libxlmig__migrate(gc, &m);
    outgoing_remove(og);
 out:
    yajl_gen_map_close(rep);
    send_report(gc, c, rc, rep);
}

static void op_cancel(libxlmig__gc *gc, conn *c, yajl_val req)
{
    const char *domain = libxlmig__json_get_str(req, "domain");
    int i, rc = LIBXLMIG_ERROR_NOTFOUND;

    pthread_mutex_lock(&dom_lock);
    for (i = 0; domain && i < DAEMON_MAX_OUTGOING; i++) {
        if (outgoing[i].m && !strcmp(outgoing[i].domain, domain)) {
            outgoing[i].cancel = 1;
            if (outgoing[i].m->fd_in_use >= 0)
                shutdown(outgoing[i].m->fd_in_use, SHUT_RDWR);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&dom_lock);
    if (rc)
        LOG(ERROR, "no migration of '%s' is running here",
            domain ? domain : "");
    send_result(gc, c, rc, NULL, NULL);
}

static void op_recover(libxlmig__gc *gc, conn *c, yajl_val req)
{
    yajl_gen rep = libxlmig__json_gen_alloc(gc, false);
    const char *domain = libxlmig__json_get_str(req, "domain");
    int rc;

    yajl_gen_map_open(rep);
    libxlmig__yajl_gen_kv_int(rep, "version", 1);
    if (!daemon_cluster || !domain) {
        LOG(ERROR, "%s", !domain ? "recover request without a domain"
            : "this xlmigd runs without a cluster config");
        rc = LIBXLMIG_ERROR_CONFIG;
    } else {
        rc = libxlmig__migrate_recover(gc, daemon_cluster, daemon_host,
                                       domain, rep);
    }
    yajl_gen_map_close(rep);
    send_report(gc, c, rc, rep);
}

int libxlmig_daemon_run(libxlmig_ctx *ctx, const libxlmig_daemon_opts *o)
{
    GC_INIT(ctx);
    libxlmig_cluster *cl = NULL;
    const libxlmig__local_host *xen = NULL;
    bool sim = !o->backend || !strcmp(o->backend, "sim");
    char err[256];
    int rc;

    if (!sim && strcmp(o->backend, "xen")) {
        LOG(ERROR, "unknown backend '%s' (xen or sim)", o->backend);
        rc = LIBXLMIG_ERROR_BACKEND;
        goto out;
    }
    if (!sim && (o->memory_mib || o->cpu_policy)) {
        LOG(ERROR, "--memory and --cpu-policy are for the sim backend");
        rc = LIBXLMIG_ERROR_INVAL;
        goto out;
    }
    if (!sim) {
        rc = libxlmig__xen_local_host_open(gc, &xen);
        if (rc) goto out;
    }
    daemon_host = sim ? &sim_local_host : xen;
    memset(&simhost, 0, sizeof(simhost));
    simhost.capacity_kib = o->memory_mib * 1024;
    if (o->cpu_policy) {
        rc = libxlmig_baseline_load(CTX, o->cpu_policy, &simhost.cpu);
        if (rc == LIBXLMIG_ERROR_NOTFOUND) {
            CTX->last_error[0] = '\0';
            rc = libxlmig_cpu_policy_load(CTX, o->cpu_policy, &simhost.cpu);
        }
        if (rc) goto out;
        simhost.cpu_override = true;
    }
    if (o->config) {
        rc = libxlmig_cluster_open(CTX, o->config, o->node, &cl);
        if (rc) goto out;
        snprintf(simhost.storage, sizeof(simhost.storage), "%s",
                 libxlmig_cluster_cfg(cl)->sim_storage_dir);
        if (o->public_if) {
            char *path = GCSPRINTF("/proc/sys/net/ipv4/conf/%s/arp_ignore",
                                   o->public_if);
            FILE *f = fopen(path, "w");

            if (!if_nametoindex(o->public_if)) {
                LOG(ERROR, "no public interface %s on this node",
                    o->public_if);
                rc = LIBXLMIG_ERROR_CONFIG;
                goto out;
            }
            /* Only each domain's own interface answers for its address. */
            if (!f || fputs("1\n", f) < 0)
                LOGE(WARN, "cannot set %s", path);
            if (f) fclose(f);
            snprintf(simhost.pub_if, sizeof(simhost.pub_if), "%s",
                     o->public_if);
        }
        daemon_cluster = cl;
    }
    if (sim) {
        libxlmig__sim_set_persistent(true);
        sim_adopt_all(gc);
    }
    if (cl) {
        /* Jobs first: the node service may take a job_start at once. */
        libxlmig__jobs_init(gc, o->socket ? o->socket
                                          : libxlmig__tunable_control_socket(),
                            o->config, sim ? "sim" : "xen");
        rc = libxlmig__node_service_start(gc, cl, daemon_host);
        if (rc) goto out;
    }
    libxlmig__node_settle(gc, cl, daemon_host);
    (void)err;
    rc = daemon_serve(CTX, o->socket, sim);
    libxlmig__node_service_stop();
 out:
    if (xen)
        libxlmig__xen_local_host_close(CTX);
    daemon_host = NULL;
    daemon_cluster = NULL;
    libxlmig_cluster_free(cl);
    GC_FREE;
    return rc;
}
