/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The source side of a live migration between nodes, run by the source's
 * node daemon: pre-flight checks against the target (every verdict is
 * reported, nothing moves unless all pass), the memory stream over the
 * first allowed migration network with a restart over the next one if a
 * network fails during pre-copy, and the handoff of handoff.h, so that
 * the domain runs on exactly one host at every moment.
 *
 * The report is a JSON object the caller opened in m->report; this file
 * adds members as they become known, so a failed migration still reports
 * how far it got.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/tunables.h"
#include "cluster/handoff.h"
#include "cluster/migrate.h"
#include "cluster/ops.h"
#include "net/mp_format.h"
#include "host/storage.h"
#include "netcfg.h"
#include "policy.h"


/* ---- the report ---------------------------------------------------- */

static void rep_str(libxlmig__migration *m, const char *k, const char *v)
{
    libxlmig__yajl_gen_kv_str(m->report, k, v);
}

static void rep_check(yajl_gen g, const char *check, bool ok,
                      const char *detail)
{
    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_str(g, "check", check);
    libxlmig__yajl_gen_kv_bool(g, "ok", ok);
    libxlmig__yajl_gen_kv_str(g, "detail", detail);
    yajl_gen_map_close(g);
}

/* libxlmig__needs_verdict_fn into the report. */
static void rep_need(void *user, const char *check, bool ok,
                     const char *detail)
{
    rep_check(user, check, ok, detail);
}

/* The disks and vifs of facts as a tree: what the target must have. */
static yajl_val facts_needs(libxlmig__gc *gc, const libxlmig__dom_facts *f)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_val v = NULL;

    yajl_gen_map_open(g);
    libxlmig__dom_needs_gen(g, f);
    yajl_gen_map_close(g);
    libxlmig__json_gen_to_val(gc, g, "domain needs", &v);
    return v;
}

/* ---- handoff records: what a paused source copy is waiting for ----- */

/* Where the record of domain is, for messages. */
static char *record_path(libxlmig__gc *gc, const char *domain)
{
    return GCSPRINTF("%s/handoff/%s.json", libxlmig_state_dir(), domain);
}

static int record_write(libxlmig__gc *gc, const char *domain,
                        const char *target, const char *id)
{
    if (libxlmig__state_file_write(gc, "handoff",
            GCSPRINTF("%s.json", domain),
            GCSPRINTF("{\"version\":1,\"domain\":\"%s\",\"target\":\"%s\","
                      "\"id\":\"%s\"}\n", domain, target, id))) {
        LOGE(ERROR, "cannot write the handoff record %s",
             record_path(gc, domain));
        return LIBXLMIG_ERROR_IO;
    }
    return 0;
}

static void record_remove(libxlmig__gc *gc, const char *domain)
{
    libxlmig__state_file_remove("handoff", GCSPRINTF("%s.json", domain));
}

bool libxlmig__handoff_pending(libxlmig__gc *gc, const char *name)
{
    return libxlmig__state_file_exists("handoff",
                                       GCSPRINTF("%s.json", name));
}

/* ---- talking to the target ----------------------------------------- */

/*
 * Wait for the target's next handoff event (*event_r arena text); *error_r
 * its error, if any, and *running_us_r (if given) how long the domain had
 * run on the target when it sent a confirm (UINT64_MAX: it did not say).
 */
static int await_event(libxlmig__gc *gc, libxlmig__peer *p,
                       const char **event_r, const char **error_r,
                       uint64_t *running_us_r)
{
    char *payload;
    yajl_val v;
    int rc;

    p->t->timeout_ms = libxlmig__tunable_handoff_timeout_ms();
    rc = libxlmig__msg_expect(gc, &p->chan, LIBXLMIG_MSG_EVENT, &payload,
                              NULL);
    if (rc) return rc;
    rc = libxlmig__json_parse(gc, payload,
                              GCSPRINTF("event from %s", p->node), &v);
    if (rc) return rc;
    *event_r = libxlmig__json_get_str(v, "event");
    if (error_r)
        *error_r = libxlmig__json_get_str(v, "error");
    if (!*event_r) {
        LOG(ERROR, "event from %s names no event", p->node);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (running_us_r) {
        /* Only a figure: one the target got wrong (not a count of
         * microseconds) is left out, never taken for a failed confirm. */
        static const char *path[] = { "running_us", NULL };
        yajl_val r = yajl_tree_get(v, path, yajl_t_number);

        *running_us_r = r && YAJL_IS_INTEGER(r) && YAJL_GET_INTEGER(r) >= 0
                        ? (uint64_t)YAJL_GET_INTEGER(r) : UINT64_MAX;
    }
    return 0;
}

static int send_event(libxlmig__gc *gc, libxlmig__peer *p, const char *event,
                      const char *id)
{
    char *json = GCSPRINTF("{\"version\":1,\"event\":\"%s\",\"id\":\"%s\"}",
                           event, id);

    return libxlmig__msg_send(gc, &p->chan, LIBXLMIG_MSG_EVENT, json,
                              (uint32_t)strlen(json));
}

/*
 * Ask the target what it decided about migration id, over every allowed
 * migration network in turn.  *running_r true: it committed (the domain
 * runs there).  LIBXLMIG_ERROR_AMBIGUOUS if no network answers.
 */
static int resolve(libxlmig__gc *gc, libxlmig_cluster *cl, const char *target,
                   const char *id, bool *running_r, char **via_r)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(cl);
    libxlmig__peer p;
    const char *decision;
    yajl_val res;
    int net, rc;

    libxlmig__peer_init(&p);
    for (net = 0; net < c->num_networks; net++) {
        rc = libxlmig__peer_connect(gc, cl, target, net,
                                    LIBXLMIG_DEFAULT_CONNECT_TIMEOUT_MS, &p);
        if (rc) continue;
        net = libxlmig__peer_network_index(cl, &p);
        rc = libxlmig__rpc_call(gc, &p.chan, "resolve",
                                GCSPRINTF("{\"id\":\"%s\"}", id), &res);
        if (rc) {
            libxlmig__peer_dispose(&p);
            continue;
        }
        decision = libxlmig__json_get_str(res, "decision");
        if (!decision || (strcmp(decision, "committed") &&
                          strcmp(decision, "aborted"))) {
            LOG(ERROR, "%s answered resolve without a decision", target);
            libxlmig__peer_dispose(&p);
            continue;
        }
        *running_r = !strcmp(decision, "committed");
        if (via_r)
            *via_r = GCSTRDUP(p.network);
        libxlmig__peer_dispose(&p);
        return 0;
    }
    LOG(ERROR, "no migration network reaches %s to learn whether it runs "
        "the domain", target);
    return LIBXLMIG_ERROR_AMBIGUOUS;
}

/* ---- pre-flight ------------------------------------------------------ */

typedef struct preflight {
    libxlmig__dom_facts facts;
    struct policy_cpuid dom_cpu;
    bool ok;
} preflight;

/*
 * Ask the connected target for its facts and check them; every verdict
 * goes into the report's "preflight" array.  Returns 0 when all pass,
 * LIBXLMIG_ERROR_REFUSED (first failure logged) otherwise.
 */
/*
 * failover: the checks again before the next attempt over another
 * network.  The target may still hold the failed attempt's NAME--incoming
 * (and its memory) until it notices the loss; migrate_begin supersedes
 * that attempt, so neither counts against the new one.
 */
static int preflight_checks(libxlmig__gc *gc, libxlmig__migration *m,
                            libxlmig__peer *p, preflight *pf, yajl_gen g,
                            bool failover)
{
    const char *path_cpu[] = { "cpu_policy", NULL };
    const char *path_doms[] = { "domains", NULL };
    const char *first_fail = NULL, *incoming;
    struct policy_cpuid host_cpu;
    struct policy_check chk;
    char err[256], *detail;
    yajl_val info, cpu, doms;
    uint64_t free_kib = 0;
    bool maint = false, exists = false, storage_ok = false, ok;
    size_t i;
    int rc;

    {
        yajl_gen a = libxlmig__json_gen_alloc(gc, false);
        char *args;

        yajl_gen_map_open(a);
        if (pf->facts.storage)
            libxlmig__yajl_gen_kv_str(a, "storage", pf->facts.storage);
        /* Ask about every disk and bridge the domain needs. */
        libxlmig__dom_needs_gen(a, &pf->facts);
        yajl_gen_map_close(a);
        if (libxlmig__json_finish(gc, a, &args))
            return LIBXLMIG_ERROR_JSON;
        libxlmig__ptr_add(gc, args);
        rc = libxlmig__rpc_call(gc, &p->chan, "node_info", args, &info);
    }
    if (rc) return rc;

    /* Not in maintenance. */
    libxlmig__json_get_bool(gc, info, "maintenance", &maint);
    rep_check(g, "maintenance", !maint,
              maint ? GCSPRINTF("%s is in maintenance mode", m->target)
                    : GCSPRINTF("%s accepts migrations", m->target));
    if (maint && !first_fail)
        first_fail = GCSPRINTF("%s is in maintenance mode", m->target);

    /* CPU compatibility. */
    cpu = yajl_tree_get(info, path_cpu, yajl_t_object);
    if (!cpu || !policy_parse_json(cpu, GCSPRINTF("CPU policy of %s",
                                                  m->target),
                                   &host_cpu, err, sizeof(err))) {
        LOG(ERROR, "%s sent no usable CPU policy: %s", m->target,
            cpu ? err : "missing");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    ok = policy_check(&pf->dom_cpu, &host_cpu, &chk);
    {
        char *sum = policy_check_summary(&chk);

        detail = GCSPRINTF("%s on %s: %s", m->domain, m->target,
                           sum ? sum : (ok ? "compatible" : "incompatible"));
        free(sum);
    }
    rep_check(g, "cpu", ok, detail);
    if (!ok && !first_fail)
        first_fail = detail;

    /* Memory. */
    libxlmig__json_get_u64(gc, info, "free_memory_kib", &free_kib);
    if (failover)
        free_kib += pf->facts.memory_kib;   /* the superseded attempt's */
    ok = free_kib >= pf->facts.memory_kib;
    detail = GCSPRINTF("%s needs %llu MiB, %s has %llu MiB free", m->domain,
                       (unsigned long long)(pf->facts.memory_kib / 1024),
                       m->target, (unsigned long long)(free_kib / 1024));
    rep_check(g, "memory", ok, detail);
    if (!ok && !first_fail)
        first_fail = detail;

    /* No domain of that name there. */
    doms = yajl_tree_get(info, path_doms, yajl_t_array);
    incoming = GCSPRINTF("%s%s", m->domain, LIBXLMIG_SUFFIX_INCOMING);
    for (i = 0; doms && i < doms->u.array.len; i++) {
        const char *n = YAJL_GET_STRING(doms->u.array.values[i]);

        if (n && (!strcmp(n, m->domain) ||
                  (!failover && !strcmp(n, incoming))))
            exists = true;
    }
    detail = exists ? GCSPRINTF("a domain called %s already exists on %s",
                                m->domain, m->target)
                    : GCSPRINTF("no domain called %s on %s", m->domain,
                                m->target);
    rep_check(g, "name", !exists, detail);
    if (exists && !first_fail)
        first_fail = detail;

    /* Shared storage. */
    if (pf->facts.storage) {
        libxlmig__json_get_bool(gc, info, "storage_ok", &storage_ok);
        detail = GCSPRINTF("%s %s on %s", pf->facts.storage,
                           storage_ok ? "is visible" : "is not visible",
                           m->target);
        rep_check(g, "storage", storage_ok, detail);
        if (!storage_ok && !first_fail)
            first_fail = detail;
    }

    /* Every disk the same storage there, every vif's bridge there. */
    {
        const char *f = libxlmig__dom_needs_check(gc,
                                                  facts_needs(gc, &pf->facts),
                                                  info, m->target, rep_need,
                                                  g);

        if (f && !first_fail)
            first_fail = f;
    }

    if (first_fail) {
        LOG(ERROR, "pre-flight refused the migration of %s to %s: %s",
            m->domain, m->target, first_fail);
        return LIBXLMIG_ERROR_REFUSED;
    }
    return 0;
}

/* ---- the job ----------------------------------------------------------- */

static void new_id(char id[33])
{
    unsigned char r[16];
    int i;

    if (RAND_bytes(r, sizeof(r)) != 1)
        for (i = 0; i < 16; i++)
            r[i] = (unsigned char)(libxlmig__now_us() >> (i % 8));
    libxlmig__hex_encode(r, sizeof(r), id);
}

void libxlmig__migration_init(libxlmig__migration *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
}

void libxlmig__migration_dispose(libxlmig__migration *m)
{
    pthread_mutex_destroy(&m->lock);
}

void libxlmig__migration_cancel(libxlmig__migration *m)
{
    pthread_mutex_lock(&m->lock);
    m->cancelled = true;
    if (m->t_in_use)
        libxlmig__transport_shutdown(m->t_in_use);
    pthread_mutex_unlock(&m->lock);
}

static bool cancelled(libxlmig__migration *m)
{
    bool c;

    pthread_mutex_lock(&m->lock);
    c = m->cancelled;
    pthread_mutex_unlock(&m->lock);
    return c;
}

bool libxlmig__migration_cancelled(libxlmig__migration *m)
{
    return cancelled(m);
}

/* Bytes written on t so far; its writer does not lock. */
static uint64_t bytes_sent(const libxlmig__transport *t)
{
    return __atomic_load_n(&t->bytes_sent, __ATOMIC_RELAXED);
}

/*
 * The transport the stream flows over from now (NULL: none any more), so
 * that a cancel can stop it; one cancelled already stops it at once.  t
 * must stay valid until it is replaced here.
 */
static void stream_transport_set(libxlmig__migration *m,
                                 libxlmig__transport *t)
{
    pthread_mutex_lock(&m->lock);
    if (m->t_in_use && !t)
        m->stream_bytes = bytes_sent(m->t_in_use) - m->stream_base;
    m->t_in_use = t;
    if (t) {
        m->stream_base = bytes_sent(t);
        m->stream_bytes = 0;
    }
    if (t && m->cancelled)
        libxlmig__transport_shutdown(t);
    pthread_mutex_unlock(&m->lock);
}

/* Sole writer of m->phase: what status shows (the stream's start time
 * with it). */
static void set_phase(libxlmig__migration *m, const char *phase)
{
    pthread_mutex_lock(&m->lock);
    m->phase = phase;
    if (!m->t_run_us)
        m->t_run_us = libxlmig__now_us();
    if (!strcmp(phase, LIBXLMIG_PHASE_STREAM))
        m->t_stream_us = libxlmig__now_us();
    pthread_mutex_unlock(&m->lock);
}

/* The connection status names: network and both addresses. */
static void set_path(libxlmig__migration *m, const libxlmig__peer *p)
{
    pthread_mutex_lock(&m->lock);
    snprintf(m->path, sizeof(m->path), "%s (%s -> %s)", p->network,
             p->local_addr, p->peer_addr);
    pthread_mutex_unlock(&m->lock);
}

void libxlmig__migration_view_get(libxlmig__migration *m,
                                  libxlmig__migration_view *v)
{
    uint64_t now = libxlmig__now_us();

    memset(v, 0, sizeof(*v));
    pthread_mutex_lock(&m->lock);
    snprintf(v->phase, sizeof(v->phase), "%s", m->phase ? m->phase : "");
    memcpy(v->id, m->id, sizeof(v->id));
    v->id[sizeof(v->id) - 1] = '\0';
    snprintf(v->path, sizeof(v->path), "%s", m->path);
    v->memory_kib = m->memory_kib;
    if (m->t_run_us)
        v->elapsed_ms = (now - m->t_run_us) / 1000;
    if (m->t_stream_us)
        v->stream_ms = (now - m->t_stream_us) / 1000;
    v->stream_bytes = m->t_in_use ? bytes_sent(m->t_in_use) - m->stream_base
                                  : m->stream_bytes;
    pthread_mutex_unlock(&m->lock);
    /* The engine writes these as it goes, without a lock of ours: each
     * is read whole, not all of them at one instant. */
#define LIVE(f) v->live.f = __atomic_load_n(&m->stats.f, __ATOMIC_RELAXED)
    LIVE(state);
    LIVE(round);
    LIVE(remaining_bytes);
    LIVE(dirty_rate);
    LIVE(bandwidth);
    LIVE(expected_downtime_ms);
    LIVE(throttle_pct);
#undef LIVE
}

/* What protects the connection p, for the pre-flight. */
static const char *transport_detail(libxlmig__gc *gc,
                                    const libxlmig__migration *m,
                                    libxlmig__peer *p)
{
    const char *sec = libxlmig__transport_security(p->t);

    if (libxlmig_cluster_cfg(m->cl)->transport_plain)
        return GCSPRINTF("%s (transport = plain in %s): guest memory "
                         "crosses the network readable and unprotected",
                         sec, libxlmig_cluster_cfg(m->cl)->file);
    return GCSPRINTF("%s, on the cluster key", sec);
}

/*
 * Connect and run the pre-flight on the first network from first_net.
 * The report gets "preflight" (first attempt only) and the attempt.
 */
static int connect_and_check(libxlmig__gc *gc, libxlmig__migration *m,
                             int first_net, bool report_checks,
                             libxlmig__peer *p, preflight *pf)
{
    yajl_gen g = m->report;
    bool connected;
    int rc;

    rc = libxlmig__peer_connect(gc, m->cl, m->target, first_net,
                                LIBXLMIG_DEFAULT_CONNECT_TIMEOUT_MS, p);
    connected = rc == 0;
    if (report_checks) {
        libxlmig__yajl_gen_str(g, "preflight");
        yajl_gen_array_open(g);
        rep_check(g, "reachable", rc == 0,
                  rc == 0 ? GCSPRINTF("%s authenticated over %s (%s -> %s)"
                                      "%s%s", m->target, p->network,
                                      p->local_addr, p->peer_addr,
                                      p->tried && *p->tried ? "; skipped: "
                                                            : "",
                                      p->tried ? p->tried : "")
                          : libxlmig_last_error(CTX));
        if (!rc)
            rep_check(g, "transport", true, transport_detail(gc, m, p));
    }
    if (rc) goto out;
    set_path(m, p);
    libxlmig__tune_socket(p->t->fd);
    libxlmig__fault("src", "preflight", libxlmig__transport_fd(p->t));
    /* Checks again after a fail-over are not reported a second time. */
    rc = preflight_checks(gc, m, p, pf, report_checks
                          ? g : libxlmig__json_gen_alloc(gc, false),
                          !report_checks);
 out:
    if (report_checks)
        yajl_gen_array_close(g);
    if (report_checks && connected)
        rep_str(m, "transport", libxlmig__transport_security(p->t));
    return rc;
}

/*
 * migrate_begin, and again while the target refuses it as busy: it runs
 * max_incoming migrations already (the target's limit, node.c), and this
 * one waits its turn (phase "waiting", shown by status), asking every
 * LIBXLMIG_SLOT_RETRY_MS on the same connection (which keeps it alive)
 * for at most LIBXLMIG_SLOT_WAIT_MS, or until it is cancelled.
 */
static int begin_when_free(libxlmig__gc *gc, libxlmig__migration *m,
                           libxlmig__peer *p, const char *args,
                           yajl_val *res_r)
{
    uint64_t t0 = libxlmig__now_us(), waited = 0;
    int rc, i;

    rc = libxlmig__rpc_call(gc, &p->chan, "migrate_begin", args, res_r);
    if (rc != LIBXLMIG_ERROR_BUSY)
        return rc;
    set_phase(m, LIBXLMIG_PHASE_WAIT);
    LOG(INFO, "migration of %s waits for a slot on %s: %s", m->domain,
        m->target, libxlmig_last_error(CTX));
    while (rc == LIBXLMIG_ERROR_BUSY) {
        for (i = 0; i < LIBXLMIG_SLOT_RETRY_MS / 100 && !cancelled(m); i++)
            usleep(100000);
        waited = (libxlmig__now_us() - t0) / 1000;
        if (cancelled(m)) {
            LOG(ERROR, "migration of %s cancelled while it waited for a "
                "slot on %s; it runs on %s as before", m->domain, m->target,
                libxlmig__cluster_self_name(m->cl));
            rc = LIBXLMIG_ERROR_CANCELLED;
            break;
        }
        if (waited >= LIBXLMIG_SLOT_WAIT_MS) {
            LOG(ERROR, "%s stayed busy for %llu s (max_incoming reached): "
                "the migration of %s gives up; it runs on %s as before",
                m->target, (unsigned long long)waited / 1000, m->domain,
                libxlmig__cluster_self_name(m->cl));
            break;
        }
        rc = libxlmig__rpc_call_quiet(gc, &p->chan, "migrate_begin", args,
                                      res_r);
    }
    m->target_wait_ms = waited;
    if (!rc)
        LOG(INFO, "migration of %s: %s took it after %llu ms", m->domain,
            m->target, (unsigned long long)waited);
    return rc;
}

/* What open_paths collects. */
typedef struct path_set {
    libxlmig__migration *m;
    libxlmig__transport *t[LIBXLMIG__MP_MAX_PATHS];
    char *names[LIBXLMIG__MP_MAX_PATHS];
    int n, per;
} path_set;

/* libxlmig__path_keep_fn: join migration m->id there as path n. */
static int path_join(libxlmig__gc *gc, libxlmig__peer *j, int k, void *user)
{
    path_set *ps = user;
    yajl_val res;
    int rc;

    rc = libxlmig__rpc_call(gc, &j->chan, "migrate_join",
                            GCSPRINTF("{\"id\":\"%s\",\"path\":%d}",
                                      ps->m->id, ps->n), &res);
    if (rc) return rc;
    /* Keepalives, TCP's user timeout and large buffers, as the first: a
     * dead link must fail its path in seconds. */
    libxlmig__tune_socket(libxlmig__transport_fd(j->t));
    ps->t[ps->n] = j->t;
    ps->names[ps->n++] = ps->per > 1
        ? GCSPRINTF("%s#%d (%s -> %s)", j->network, k + 1, j->local_addr,
                    j->peer_addr)
        : GCSPRINTF("%s (%s -> %s)", j->network, j->local_addr,
                    j->peer_addr);
    j->t = NULL;
    return 0;
}

/*
 * The migration's paths: p's connection first, then, up to the config's
 * connections_per_network on each, further ones on its network and on
 * every other allowed private network that reaches the target
 * (libxlmig__cluster_path_plan), each joining migration m->id there (one
 * that does not is left out, with a warning).
 * From here p->t is the paths' transport (net/multipath.c).
 */
static int open_paths(libxlmig__gc *gc, libxlmig__migration *m,
                      libxlmig__peer *p)
{
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(m->cl);
    int plan[LIBXLMIG__MP_MAX_PATHS], np, rc;
    libxlmig__mp_opts mo = { .bandwidth_limit = m->params.bandwidth_limit,
                             .compression = m->params.compression };
    libxlmig__transport *mt = NULL;
    path_set ps = { .m = m, .n = 1,
                    .per = c->connections_per_network
                           ? (int)c->connections_per_network : 1 };

    np = libxlmig__cluster_path_plan(m->cl,
                                     libxlmig__peer_network_index(m->cl, p),
                                     plan, LIBXLMIG__MP_MAX_PATHS);
    ps.t[0] = p->t;
    ps.names[0] = ps.per > 1
        ? GCSPRINTF("%s#1 (%s -> %s)", p->network, p->local_addr,
                    p->peer_addr)
        : GCSPRINTF("%s (%s -> %s)", p->network, p->local_addr,
                    p->peer_addr);
    /* The first network's further connections, then each other's. */
    libxlmig__peer_connect_plan(gc, m->cl, m->target, plan, np,
                                GCSPRINTF("migration of %s", m->domain),
                                path_join, &ps);
    p->t = NULL;
    rc = libxlmig__mp_open(gc, ps.t, ps.names, ps.n, &mo, &mt);
    p->t = mt;
    p->chan.t = mt;          /* keys and sequence numbers stay */
    if (!rc)
        LOG(INFO, "migration of %s: %d path%s to %s", m->domain, ps.n,
            ps.n == 1 ? "" : "s", m->target);
    return rc;
}

/*
 * One attempt at streaming the domain over p.  Returns 0 with the source
 * paused and the target restoring, or an error with the source running.
 * *retry_r: the failure was the network's, another may work.
 */
static int stream_once(libxlmig__gc *gc, libxlmig__migration *m,
                       libxlmig__peer *p, preflight *pf, bool *retry_r)
{
    libxlmig__engine_opts o;
    char *args, *cpu_json = NULL;
    yajl_gen cg;
    yajl_val res;
    int rc;

    *retry_r = false;
    /* Each attempt is a migration of its own for the target. */
    {
        char id[33];

        new_id(id);
        pthread_mutex_lock(&m->lock);
        memcpy(m->id, id, sizeof(m->id));
        pthread_mutex_unlock(&m->lock);
    }
    cg = libxlmig__json_gen_alloc(gc, false);
    if (policy_gen_json(cg, &pf->dom_cpu) != yajl_gen_status_ok ||
        libxlmig__json_finish(gc, cg, &cpu_json)) {
        LOG(ERROR, "cannot encode the domain's CPU policy");
        return LIBXLMIG_ERROR_JSON;
    }
    libxlmig__ptr_add(gc, cpu_json);
    {
        yajl_gen ag = libxlmig__json_gen_alloc(gc, false);

        yajl_gen_map_open(ag);
        libxlmig__yajl_gen_kv_str(ag, "id", m->id);
        libxlmig__yajl_gen_kv_str(ag, "domain", m->domain);
        libxlmig__yajl_gen_kv_str(ag, "source",
                                  libxlmig__cluster_self_name(m->cl));
        libxlmig__yajl_gen_kv_uint(ag, "memory_kib", pf->facts.memory_kib);
        libxlmig__yajl_gen_kv_bool(ag, "pv", pf->facts.pv);
        libxlmig__yajl_gen_kv_str(ag, "storage", pf->facts.storage);
        libxlmig__dom_needs_gen(ag, &pf->facts);
        libxlmig__yajl_gen_kv_str(ag, "config", pf->facts.config_json);
        yajl_gen_map_close(ag);
        if (libxlmig__json_finish(gc, ag, &args))
            return LIBXLMIG_ERROR_JSON;
        libxlmig__ptr_add(gc, args);
        /* The CPU policy object goes in as raw JSON. */
        args[strlen(args) - 1] = '\0';
        args = GCSPRINTF("%s,\"cpu_policy\":%s}", args, cpu_json);
    }
    libxlmig__fault("src", "begin", libxlmig__transport_fd(p->t));
    rc = begin_when_free(gc, m, p, args, &res);
    if (rc) return rc;          /* the target refused: no retry */
    rc = open_paths(gc, m, p);
    if (rc) {
        *retry_r = rc == LIBXLMIG_ERROR_IO || rc == LIBXLMIG_ERROR_TIMEOUT;
        return rc;
    }
    m->t_prepared = libxlmig__now_us();
    set_phase(m, LIBXLMIG_PHASE_STREAM);

    memset(&o, 0, sizeof(o));
    o.params = m->params;
    o.live = true;
    o.pages_by_ref = true;      /* the source stays paused until handoff */
    o.progress = m->progress;
    o.progress_user = m->progress_user;
    stream_transport_set(m, p->t);
    p->t->timeout_ms = LIBXLMIG_STREAM_TIMEOUT_MS;
    memset(&m->stats, 0, sizeof(m->stats));
    rc = m->host->ops->save_handoff(gc, m->host->priv, m->domain, p->t, &o,
                                    &m->stats);
    stream_transport_set(m, NULL);
    if (rc) {
        if (cancelled(m)) {
            LOG(ERROR, "migration of %s cancelled; it runs on %s as before",
                m->domain, libxlmig__cluster_self_name(m->cl));
            return LIBXLMIG_ERROR_CANCELLED;
        }
        *retry_r = rc == LIBXLMIG_ERROR_IO || rc == LIBXLMIG_ERROR_TIMEOUT;
    }
    return rc;
}

/*
 * The forecast recorded beside the result: a short dirty sample of the
 * domain and a bandwidth probe to the target over a connection of its
 * own, fed to the estimator `xlmig estimate` uses, with this migration's
 * parameters.  It runs after the pre-flight and before any memory moves;
 * a failure only leaves the report without a prediction.  A caller that
 * has its own (a drain) hands it in: then that one is recorded.
 */
static void predict(libxlmig__gc *gc, libxlmig__migration *m,
                    const preflight *pf)
{
    uint64_t probe = pf->facts.memory_kib * 1024 / 8;
    libxlmig_dirty_sample s;
    char *nets = NULL;
    double bps = 0;
    char bw[32];
    int rc, paths = 0;

    if (m->predicted)
        goto report;
    if (!m->host->ops->dirty_sample)
        return;
    memset(&s, 0, sizeof(s));
    rc = m->host->ops->dirty_sample(gc, m->host->priv, m->domain,
                               LIBXLMIG_PREDICT_SAMPLE_MS, &s);
    if (!rc)
        rc = libxlmig__probe_paths(gc, m->cl, m->target,
                                   probe < LIBXLMIG_PREDICT_PROBE_MIN
                                   ? LIBXLMIG_PREDICT_PROBE_MIN
                                   : probe > LIBXLMIG_PREDICT_PROBE_MAX
                                   ? LIBXLMIG_PREDICT_PROBE_MAX : probe,
                                   LIBXLMIG_PREDICT_PROBE_MS, &bps, &paths,
                                   &nets);
    libxlmig__ptr_add(gc, nets);
    if (!rc && m->params.bandwidth_limit &&
        (double)m->params.bandwidth_limit < bps)
        bps = (double)m->params.bandwidth_limit;
    if (!rc)
        rc = libxlmig_estimate_compute(CTX, &m->params, &s, bps,
                                       &m->prediction);
    if (rc) {
        LOG(WARN, "no prediction for the migration of %s: %s", m->domain,
            libxlmig_last_error(CTX));
        return;
    }
    m->predicted = true;
    LOG(INFO, "migration of %s to %s: predicted %llu ms, %u rounds, "
        "downtime %llu ms (%.0f pages/s dirtied, %s over %d path%s on %s%s)",
        m->domain, m->target, (unsigned long long)m->prediction.total_ms,
        m->prediction.rounds,
        (unsigned long long)m->prediction.downtime_ms,
        m->prediction.dirty_rate,
        libxlmig_bandwidth_str(bps, false, bw, sizeof(bw)), paths,
        paths == 1 ? "" : "s", nets,
        m->prediction.memory_rate > 0
        ? GCSPRINTF("; memory %.1f MiB/s %s, %.0f%% zero pages",
                    m->prediction.memory_rate / 1048576.0,
                    m->prediction.compression == LIBXLMIG_COMPRESSION_OFF
                    ? "raw" : libxlmig_compression_to_string(
                                  m->prediction.compression),
                    m->prediction.skipped_share * 100)
        : "");
 report:
    libxlmig__yajl_gen_str(m->report, "prediction");
    libxlmig__estimate_gen(m->report, &m->prediction);
    if (nets)        /* a forecast of our own: what its probe went over */
        libxlmig__yajl_gen_kv_str(m->report, "prediction_networks", nets);
}

/*
 * How long each phase took, in the report's "phases_ms" (those reached):
 * checks (pre-flight), prediction, target_prepare (migrate_begin: the
 * target checks again and creates the empty domain; with a retry, the
 * last attempt's), stream (the engine, last attempt), handoff (ready, go,
 * confirm) and cleanup (destroying the source's copy).
 */
static void report_phases(libxlmig__migration *m)
{
    const struct { const char *name; uint64_t from, to; } ph[] = {
        { "checks", m->t_start, m->t_checked },
        { "prediction", m->t_checked, m->t_predicted },
        { "target_prepare", m->t_predicted, m->t_prepared },
        { "stream", m->t_prepared, m->t_sent },
        { "handoff", m->t_sent, m->t_handed_off },
        { "cleanup", m->t_handed_off, m->t_done },
    };
    size_t i;

    libxlmig__yajl_gen_str(m->report, "phases_ms");
    yajl_gen_map_open(m->report);
    for (i = 0; i < ARRAY_SIZE(ph); i++)
        if (ph[i].from && ph[i].to >= ph[i].from)
            libxlmig__yajl_gen_kv_uint(m->report, ph[i].name,
                                       (ph[i].to - ph[i].from) / 1000);
    yajl_gen_map_close(m->report);
}

/* What one run of a migration keeps between its phases. */
typedef struct mig_run {
    libxlmig__migration *m;
    libxlmig__peer p;             /* the connection to the target */
    preflight pf;
    libxlmig__hsrc_state hs;      /* the source's handoff state */
    libxlmig__hsrc_action act;    /* its last action */
    const char *away;             /* NAME--migratedaway */
    int attempts;                 /* streams started */
    int hold_ms;                  /* test knob: lose go, wait, resolve */
} mig_run;

/* Facts, pre-flight over the first network that answers, forecast. */
static int phase_check(libxlmig__gc *gc, mig_run *r)
{
    libxlmig__migration *m = r->m;
    int rc;

    if (!strcmp(m->target, libxlmig__cluster_self_name(m->cl))) {
        LOG(ERROR, "%s is this node: choose another target", m->target);
        return LIBXLMIG_ERROR_INVAL;
    }
    /* Links and routes may have changed since the daemon started. */
    rc = libxlmig_cluster_refresh(CTX, m->cl);
    if (rc) return rc;
    rc = m->host->ops->domain_facts(gc, m->host->priv, m->domain,
                                    &r->pf.facts);
    if (rc) return rc;
    pthread_mutex_lock(&m->lock);
    m->memory_kib = r->pf.facts.memory_kib;
    pthread_mutex_unlock(&m->lock);
    rc = m->host->ops->domain_cpu_policy(gc, m->host->priv, m->domain,
                                         &r->pf.dom_cpu);
    if (rc) return rc;
    rc = connect_and_check(gc, m, 0, true, &r->p, &r->pf);
    if (rc) return rc;
    m->t_checked = libxlmig__now_us();
    set_phase(m, LIBXLMIG_PHASE_PREDICT);
    predict(gc, m, &r->pf);
    m->t_predicted = libxlmig__now_us();
    return 0;
}

/*
 * The stream, restarted over the next allowed network when one fails
 * during pre-copy (the source runs meanwhile).  Each attempt goes into
 * the report's "attempts".  0: the source is paused, the target has it
 * all.
 */
static int phase_stream(libxlmig__gc *gc, mig_run *r)
{
    libxlmig__migration *m = r->m;
    const libxlmig_cluster_config *c = libxlmig_cluster_cfg(m->cl);
    yajl_gen g = m->report;
    bool retry;
    int net, rc;

    libxlmig__yajl_gen_str(g, "attempts");
    yajl_gen_array_open(g);
    for (;;) {
        r->attempts++;
        net = libxlmig__peer_network_index(m->cl, &r->p);
        rc = stream_once(gc, m, &r->p, &r->pf, &retry);
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "id", m->id);
        libxlmig__yajl_gen_kv_str(g, "network", r->p.network);
        libxlmig__yajl_gen_kv_str(g, "local", r->p.local_addr);
        libxlmig__yajl_gen_kv_str(g, "peer", r->p.peer_addr);
        libxlmig__yajl_gen_kv_str(g, "transport",
                                  libxlmig__transport_security(r->p.t));
        libxlmig__yajl_gen_kv_str(g, "result", rc ? "failed" : "sent");
        libxlmig__yajl_gen_kv_str(g, "error", rc ? libxlmig_last_error(CTX)
                                                 : NULL);
        libxlmig__yajl_gen_kv_uint(g, "bytes", m->stats.total_bytes);
        libxlmig__yajl_gen_str(g, "paths");
        libxlmig__mp_gen_paths(r->p.t, g);
        libxlmig__yajl_gen_str(g, "compression");
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "mode", libxlmig_compression_to_string(
                                                 m->params.compression));
        libxlmig__mp_gen_compression(r->p.t, g);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
        if (!rc || !retry || cancelled(m))
            break;
        /* The network failed during pre-copy: the source runs; restart
         * the copy over the next allowed network. */
        LOG(WARN, "migration of %s over %s failed (%s); restarting over "
            "the next migration network", m->domain, r->p.network,
            libxlmig_last_error(CTX));
        libxlmig__peer_dispose(&r->p);
        libxlmig_cluster_refresh(CTX, m->cl);
        if (net + 1 >= c->num_networks ||
            connect_and_check(gc, m, net + 1, false, &r->p, &r->pf)) {
            LOG(ERROR, "migration of %s failed: no other migration network "
                "reaches %s; it runs on %s as before", m->domain, m->target,
                libxlmig__cluster_self_name(m->cl));
            rc = LIBXLMIG_ERROR_IO;
            break;
        }
    }
    yajl_gen_array_close(g);
    if (rc) {
        libxlmig__hsrc_step(&r->hs, cancelled(m) ? HSRC_EV_CANCEL
                                                 : HSRC_EV_FAILURE);
        snprintf(m->outcome, sizeof(m->outcome), "%s",
                 cancelled(m) ? "cancelled" : "failed");
        return rc;
    }
    rep_str(m, "network", r->p.network);
    m->t_sent = libxlmig__now_us();
    return 0;
}

/*
 * Before go: wait for the target's ready, then rename the paused copy
 * NAME--migratedaway and record the handoff.  An error leaves r->act at
 * RESUME_SOURCE: nothing has been handed off.
 */
static int phase_ready(libxlmig__gc *gc, mig_run *r)
{
    libxlmig__migration *m = r->m;
    const char *event, *why;
    int rc;

    /* The stream is sent; the source is paused. */
    set_phase(m, LIBXLMIG_PHASE_HANDOFF);
    r->act = libxlmig__hsrc_step(&r->hs, HSRC_EV_STREAM_SENT);
    rc = await_event(gc, &r->p, &event, &why, NULL);
    libxlmig__fault("src", "ready", libxlmig__transport_fd(r->p.t));
    if (!rc && strcmp(event, "ready")) {
        LOG(ERROR, "%s could not restore %s: %s", m->target, m->domain,
            why ? why : event);
        rc = LIBXLMIG_ERROR_REFUSED;
    }
    if (!rc && cancelled(m)) {
        LOG(ERROR, "migration of %s cancelled before the handoff",
            m->domain);
        rc = LIBXLMIG_ERROR_CANCELLED;
    }
    if (rc) {
        r->act = libxlmig__hsrc_step(&r->hs, cancelled(m) ? HSRC_EV_CANCEL
                                                          : HSRC_EV_FAILURE);
        return rc;
    }
    /* SEND_GO: rename the paused copy, remember the handoff, send go. */
    rc = m->host->ops->rename(gc, m->host->priv, m->domain, r->away);
    if (!rc) {
        rc = record_write(gc, r->away, m->target, m->id);
        if (rc)
            m->host->ops->rename(gc, m->host->priv, r->away, m->domain);
    }
    if (rc)    /* go not sent: still before the handoff */
        r->act = libxlmig__hsrc_step(&r->hs, HSRC_EV_FAILURE);
    return rc;
}

/*
 * After go was sent and no confirm came: never guess; ask the target
 * over every migration network what it decided.  0 with r->act set
 * (DESTROY_SOURCE or RESUME_SOURCE), or AMBIGUOUS when none answers.
 */
static int phase_resolve(libxlmig__gc *gc, mig_run *r)
{
    libxlmig__migration *m = r->m;
    char *via = NULL;
    bool running;
    int rc;

    set_phase(m, LIBXLMIG_PHASE_RESOLVE);
    r->act = libxlmig__hsrc_step(&r->hs, HSRC_EV_FAILURE);   /* RESOLVE */
    LOG(WARN, "lost %s after go (%s); asking it over every migration "
        "network", m->target, libxlmig_last_error(CTX));
    if (r->hold_ms > 0)
        usleep((useconds_t)r->hold_ms * 1000);
    libxlmig__peer_dispose(&r->p);
    libxlmig_cluster_refresh(CTX, m->cl);
    rc = resolve(gc, m->cl, m->target, m->id, &running, &via);
    if (rc) {
        r->act = libxlmig__hsrc_step(&r->hs, HSRC_EV_UNREACHABLE);
        snprintf(m->outcome, sizeof(m->outcome), "ambiguous");
        LOG(ERROR, "cannot tell whether %s runs %s: the copy here stays "
            "paused as %s; run `xlmig recover %s` once a migration "
            "network to %s works", m->target, m->domain, r->away, r->away,
            m->target);
        return LIBXLMIG_ERROR_AMBIGUOUS;
    }
    rep_str(m, "resolved_via", via);
    r->act = libxlmig__hsrc_step(&r->hs, running ? HSRC_EV_TARGET_RUNNING
                                                 : HSRC_EV_TARGET_ABORTED);
    if (r->act == HSRC_ACT_RESUME_SOURCE) {
        m->host->ops->rename(gc, m->host->priv, r->away, m->domain);
        record_remove(gc, r->away);
        LOG(ERROR, "%s never received go (resolved over %s); %s runs "
            "on %s again", m->target, via, m->domain,
            libxlmig__cluster_self_name(m->cl));
        return LIBXLMIG_ERROR_IO;
    }
    return 0;
}

/*
 * The downtime the report gives: from the pause here until the domain ran
 * on the target.  The stream's own figure ends when its last record was
 * written; the last pages may still be on their way (the paths' window),
 * and the target then restores, waits for go and unpauses.  The pause
 * lasted the stream's figure, plus the handoff until the confirm came,
 * less the time the domain had already run there when the target sent
 * it (running_us, by the target's clock: durations only, so the two
 * clocks need not agree).  A target that does not say keeps the stream's
 * figure.
 */
static void downtime_to_running(libxlmig__migration *m, uint64_t running_us)
{
    uint64_t handoff = libxlmig__now_us() - m->t_sent;

    if (running_us == UINT64_MAX || running_us > handoff)
        return;
    m->stream_downtime_us = m->stats.downtime_us;
    m->stats.downtime_us += handoff - running_us;
}

/* Go, and the target's confirm (or a resolve); 0: the target runs it. */
static int phase_go(libxlmig__gc *gc, mig_run *r)
{
    libxlmig__migration *m = r->m;
    const char *event, *why;
    uint64_t running_us;
    int rc;

    r->act = libxlmig__hsrc_step(&r->hs, HSRC_EV_READY);
    r->hold_ms = libxlmig__fault_lose_go(m->domain);
    if (r->hold_ms >= 0)
        libxlmig__transport_shutdown(r->p.t);
    libxlmig__fault("src", "go", libxlmig__transport_fd(r->p.t));
    rc = send_event(gc, &r->p, "go", m->id);
    if (!rc)
        rc = await_event(gc, &r->p, &event, &why, &running_us);
    if (!rc)
        libxlmig__fault("src", "confirm", libxlmig__transport_fd(r->p.t));
    if (!rc && strcmp(event, "confirm")) {
        LOG(ERROR, "%s did not confirm: %s", m->target, why ? why : event);
        rc = LIBXLMIG_ERROR_PROTOCOL;
    }
    if (!rc) {
        downtime_to_running(m, running_us);
        r->act = libxlmig__hsrc_step(&r->hs, HSRC_EV_CONFIRM);
        return 0;
    }
    return phase_resolve(gc, r);
}

/* The target runs the domain: destroy the paused copy here. */
static void phase_cleanup(libxlmig__gc *gc, mig_run *r)
{
    libxlmig__migration *m = r->m;

    m->t_handed_off = libxlmig__now_us();
    set_phase(m, LIBXLMIG_PHASE_CLEANUP);
    libxlmig__fault("src", "destroy", -1);
    if (m->host->ops->discard(gc, m->host->priv, r->away))
        LOG(WARN, "%s runs on %s, but its paused copy %s here could not be "
            "destroyed: destroy it by hand", m->domain, m->target, r->away);
    record_remove(gc, r->away);
    m->t_done = libxlmig__now_us();
    snprintf(m->outcome, sizeof(m->outcome), "migrated");
}

/* Before go, or the target aborted: the domain runs here again. */
static void phase_resume(libxlmig__gc *gc, mig_run *r, int rc)
{
    libxlmig__migration *m = r->m;
    int r2;

    if (r->act == HSRC_ACT_RESUME_SOURCE) {
        set_phase(m, LIBXLMIG_PHASE_RESUME);
        if (r->p.t)
            (void)send_event(gc, &r->p, "abort", m->id);
        r2 = m->host->ops->resume(gc, m->host->priv, m->domain);
        if (r2)
            LOG(CRITICAL, "could not resume %s on %s after a failed "
                "migration: %s", m->domain,
                libxlmig__cluster_self_name(m->cl),
                libxlmig_strerror(r2));
    }
    snprintf(m->outcome, sizeof(m->outcome), "%s",
             rc == LIBXLMIG_ERROR_CANCELLED ? "cancelled" : "failed");
}

/* The report's closing members, whatever the outcome. */
static void report_end(mig_run *r, int rc)
{
    libxlmig__migration *m = r->m;
    yajl_gen g = m->report;

    rep_str(m, "outcome", m->outcome);
    if (m->predicted && !rc && m->stats.total_time_ms)
        libxlmig__yajl_gen_kv_double(g, "prediction_error_pct",
            ((double)m->prediction.total_ms - (double)m->stats.total_time_ms)
            * 100.0 / (double)m->stats.total_time_ms);
    rep_str(m, "handoff", libxlmig__hsrc_state_to_string(r->hs));
    if (m->target_wait_ms)
        libxlmig__yajl_gen_kv_uint(g, "target_wait_ms", m->target_wait_ms);
    report_phases(m);
    /* stats.downtime_us runs until the domain ran on the target; the
     * stream's part of it, for comparison with the limit it kept. */
    if (m->stream_downtime_us)
        libxlmig__yajl_gen_kv_uint(g, "stream_downtime_us",
                                   m->stream_downtime_us);
    libxlmig__yajl_gen_kv_uint(g, "attempt_count", (unsigned)r->attempts);
    libxlmig__yajl_gen_str(g, "stats");
    libxlmig__stats_gen_json(g, &m->stats);
}

int libxlmig__migration_run(libxlmig__gc *gc, libxlmig__migration *m)
{
    mig_run r;
    int rc;

    memset(&r, 0, sizeof(r));
    r.m = m;
    r.hs = HSRC_PRECOPY;
    r.hold_ms = -1;
    libxlmig__peer_init(&r.p);
    libxlmig__dom_facts_init(&r.pf.facts);
    m->t_start = libxlmig__now_us();
    m->t_checked = m->t_predicted = m->t_prepared = m->t_sent = 0;
    m->t_handed_off = m->t_done = 0;
    m->stream_downtime_us = 0;
    snprintf(m->outcome, sizeof(m->outcome), "refused");
    set_phase(m, LIBXLMIG_PHASE_CHECK);
    rep_str(m, "domain", m->domain);
    rep_str(m, "source", libxlmig__cluster_self_name(m->cl));
    rep_str(m, "target", m->target);
    /* As resolved (libxlmig_params_resolve) when the request came. */
    libxlmig__yajl_gen_str(m->report, "params");
    libxlmig__params_gen_json(m->report, &m->params);
    r.away = GCSPRINTF("%s%s", m->domain, LIBXLMIG_SUFFIX_MIGRATEDAWAY);

    rc = phase_check(gc, &r);
    if (rc) goto out;
    if (m->dry_run) {
        snprintf(m->outcome, sizeof(m->outcome), "dry-run: would migrate");
        goto out;
    }
    rc = phase_stream(gc, &r);
    if (rc) goto out;
    rc = phase_ready(gc, &r);
    if (!rc) rc = phase_go(gc, &r);
    if (rc == LIBXLMIG_ERROR_AMBIGUOUS) goto out;
    if (rc) {
        phase_resume(gc, &r, rc);
        goto out;
    }
    /* r.act == DESTROY_SOURCE: the target runs the domain. */
    phase_cleanup(gc, &r);
 out:
    set_phase(m, LIBXLMIG_PHASE_DONE);
    report_end(&r, rc);
    libxlmig__peer_dispose(&r.p);
    libxlmig__dom_facts_dispose(&r.pf.facts);
    return rc;
}

int libxlmig__migrate_recover(libxlmig__gc *gc, libxlmig_cluster *cl,
                              const libxlmig__host *host,
                              const char *domain, yajl_gen report)
{
    const char *name = domain, *target, *id;
    char *text = NULL, *via = NULL, *base;
    bool running = false;
    yajl_val v;
    int rc;

    if (!libxlmig__suffix_base(name, LIBXLMIG_SUFFIX_MIGRATEDAWAY))
        name = GCSPRINTF("%s%s", domain, LIBXLMIG_SUFFIX_MIGRATEDAWAY);
    base = GCSTRDUP(name);
    base[libxlmig__suffix_base(name, LIBXLMIG_SUFFIX_MIGRATEDAWAY)] = '\0';
    if (libxlmig__state_file_read(gc, "handoff",
                                  GCSPRINTF("%s.json", name), 4096, &text)) {
        LOG(ERROR, "no handoff of %s is waiting here (no %s)", domain,
            record_path(gc, name));
        return LIBXLMIG_ERROR_NOTFOUND;
    }
    rc = libxlmig__json_parse(gc, text, record_path(gc, name), &v);
    if (rc) return rc;
    target = libxlmig__json_get_str(v, "target");
    id = libxlmig__json_get_str(v, "id");
    if (!target || !libxlmig__id_ok(id)) {
        LOG(ERROR, "%s lacks the target or a valid migration id",
            record_path(gc, name));
        return LIBXLMIG_ERROR_CONFIG;
    }
    libxlmig__yajl_gen_kv_str(report, "domain", base);
    libxlmig__yajl_gen_kv_str(report, "target", target);
    libxlmig__yajl_gen_kv_str(report, "id", id);
    rc = resolve(gc, cl, target, id, &running, &via);
    if (rc) {
        libxlmig__yajl_gen_kv_str(report, "outcome", "ambiguous");
        return rc;
    }
    libxlmig__yajl_gen_kv_str(report, "resolved_via", via);
    if (running) {
        rc = host->ops->discard(gc, host->priv, name);
        libxlmig__yajl_gen_kv_str(report, "outcome", "runs on target");
        LOG(INFO, "%s runs on %s: destroyed the paused copy %s", base,
            target, name);
    } else {
        rc = host->ops->rename(gc, host->priv, name, base);
        if (!rc)
            rc = host->ops->resume(gc, host->priv, base);
        libxlmig__yajl_gen_kv_str(report, "outcome", "resumed here");
    }
    if (!rc)
        record_remove(gc, name);
    return rc;
}
