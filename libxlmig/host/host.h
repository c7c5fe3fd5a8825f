/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The host layer: the hypervisor interface every backend implements and
 * the registry that opens one per context.  Everything above (the public
 * domain operations, CPU policies, migrations, the node service, the
 * daemon) reaches a hypervisor only through it.  Includes only core,
 * net and engine.
 */
#ifndef LIBXLMIG_HOST_H
#define LIBXLMIG_HOST_H

#include "core/core.h"
#include "engine/engine.h"

struct policy_cpuid;

/*
 * The backend ops table: one per hypervisor interface (DESIGN.md).  An op
 * left NULL is unsupported by that backend and its wrapper returns
 * LIBXLMIG_ERROR_UNSUPPORTED.  open() is called once per context and stores
 * its private state in *priv_r; close() releases it.
 */
typedef struct libxlmig__host_ops {
    const char *name;
    int (*open)(libxlmig__gc *gc, void **priv_r);
    void (*close)(libxlmig_ctx *ctx, void *priv);
    int (*host_info)(libxlmig__gc *gc, void *priv, libxlmig_host_info *hi);
    /* All domains, malloc'd; the caller frees with dominfo_list_free. */
    int (*list)(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                int *nr_r);
    /* CPUID policy of this host (Xen: the host policy of the system). */
    int (*host_cpu_policy)(libxlmig__gc *gc, void *priv,
                           struct policy_cpuid *p);
    /* CPUID policy of a running domain. */
    int (*domain_cpu_policy)(libxlmig__gc *gc, void *priv, uint32_t domid,
                             struct policy_cpuid *p);
    /* libxl_domain_pause / _unpause / _destroy; name or domid. */
    int (*pause)(libxlmig__gc *gc, void *priv, const char *name);
    int (*unpause)(libxlmig__gc *gc, void *priv, const char *name);
    int (*destroy)(libxlmig__gc *gc, void *priv, const char *name);
    /* libxl_domain_suspend into fd (LIBXLMIG_SAVE_* flags). */
    int (*save)(libxlmig__gc *gc, void *priv, const char *name, int fd,
                unsigned flags, const libxlmig_params *params,
                libxlmig_progress_cb cb, void *user, libxlmig_stats *st);
    /* libxl_domain_create_restore from fd; *name_r malloc'd. */
    int (*restore)(libxlmig__gc *gc, void *priv, int fd,
                   const char *new_name, bool paused,
                   libxlmig_progress_cb cb, void *user, libxlmig_stats *st,
                   char **name_r);
    /* Distinct pages written from now until each of the sample points
     * (ms/4, ms/2, ms): the dirty log (sim: the kernel's; Xen: log-dirty
     * mode). */
    int (*dirty_sample)(libxlmig__gc *gc, void *priv, const char *name,
                        unsigned ms, libxlmig_dirty_sample *s);
} libxlmig__host_ops;

_hidden extern const libxlmig__host_ops libxlmig__backend_xen;
_hidden extern const libxlmig__host_ops libxlmig__backend_sim;

/* The opened backend, or LIBXLMIG_ERROR_BACKEND (logged) if none. */
_hidden int libxlmig__backend_get(libxlmig__gc *gc,
                                  const libxlmig__host_ops **ops_r,
                                  void **priv_r);
/*
 * The opened backend if it has the op at op_offset in its table, else
 * LIBXLMIG_ERROR_UNSUPPORTED with "backend NAME cannot WHAT" logged.
 * Use through BACKEND_NEED(op, what), which fills ops and priv.
 */
_hidden int libxlmig__backend_need(libxlmig__gc *gc, size_t op_offset,
                                   const char *what,
                                   const libxlmig__host_ops **ops_r,
                                   void **priv_r);
#define BACKEND_NEED(op, what) \
    libxlmig__backend_need(gc, offsetof(libxlmig__host_ops, op), (what), \
                           &ops, &priv)

/* What the source knows of the domain it sends. */
typedef struct libxlmig__dom_facts {
    uint64_t memory_kib;         /* KiB the target must provide */
    char *config_json;           /* the domain config record (malloc'd) */
    char *storage;               /* shared storage path it needs, or NULL */
    char *mac, *ip;              /* for the announcement (malloc'd) */
} libxlmig__dom_facts;

_hidden void libxlmig__dom_facts_init(libxlmig__dom_facts *f);
_hidden void libxlmig__dom_facts_dispose(libxlmig__dom_facts *f);

/*
 * The local hypervisor as the migration job needs it.  Each call is
 * synchronous; names are domain names.  A domain being migrated is
 * reserved: no other request may use it until resume or destroy.
 */
typedef struct libxlmig__local_host {
    void *priv;
    const char *backend;                 /* "sim", "xen" */
    int (*host_info)(libxlmig__gc *gc, void *priv, libxlmig_host_info *hi);
    int (*host_cpu_policy)(libxlmig__gc *gc, void *priv,
                           struct policy_cpuid *p);
    /* All domains here, as libxlmig_domain_list gives them. */
    int (*list)(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                int *nr_r);
    /* Does a domain of that name exist here (any state)? */
    bool (*domain_exists)(void *priv, const char *name);
    int (*domain_facts)(libxlmig__gc *gc, void *priv, const char *name,
                        libxlmig__dom_facts *f);
    /* The domain's CPU policy as it runs here. */
    int (*domain_cpu_policy)(libxlmig__gc *gc, void *priv, const char *name,
                             struct policy_cpuid *p);
    /*
     * Live-save to fd and leave the domain paused and reserved on
     * success; on failure it runs again, unreserved.  *cancel set makes
     * the save stop at the next batch.
     */
    int (*save_handoff)(libxlmig__gc *gc, void *priv, const char *name,
                        int fd, const libxlmig__engine_opts *o,
                        libxlmig_stats *st);
    /* Rename a reserved or running domain. */
    int (*rename)(libxlmig__gc *gc, void *priv, const char *from,
                  const char *to);
    /* Unpause a reserved domain and release it (failed handoff). */
    int (*resume)(libxlmig__gc *gc, void *priv, const char *name);
    /* Destroy a domain (reserved or not). */
    int (*destroy)(libxlmig__gc *gc, void *priv, const char *name);
    /*
     * Optional: create the empty, paused, reserved domain name for an
     * incoming migration from its config, before the stream starts (as
     * libxl does from the config xl sends first), so that allocating its
     * memory does not stall the stream.  restore_paused then fills it.
     */
    int (*prepare_incoming)(libxlmig__gc *gc, void *priv, const char *name,
                            const char *config_json);
    /*
     * Restore a domain called name from fd, paused and reserved (into the
     * prepared domain if there is one).  On failure nothing is left.
     */
    int (*restore_paused)(libxlmig__gc *gc, void *priv, int fd,
                          const char *name, const libxlmig__engine_opts *o,
                          libxlmig_stats *st);
    /* Unpause a reserved domain and release it (committed handoff). */
    int (*unpause_release)(libxlmig__gc *gc, void *priv, const char *name);
    /* Announce the domain's new location (gratuitous ARP). */
    void (*announce)(libxlmig__gc *gc, void *priv, const char *name);
    /* Optional: the domain's dirty sample (libxlmig_dirty_sample_take). */
    int (*dirty_sample)(libxlmig__gc *gc, void *priv, const char *name,
                        unsigned ms, libxlmig_dirty_sample *s);
} libxlmig__local_host;

/*
 * The Xen local host (backend_xen.c): opens libxl and libxenctrl for the
 * daemon; LIBXLMIG_ERROR_NOT_DOM0 (logged) outside a dom0.  One at a
 * time; close it after the node service stopped.
 */
_hidden int libxlmig__xen_local_host_open(libxlmig__gc *gc,
                                          const libxlmig__local_host **host_r);
_hidden void libxlmig__xen_local_host_close(libxlmig_ctx *ctx);

/* A throttle in force: what to put back (init with {0}). */
typedef struct libxlmig__xen_throttle {
    uint32_t domid;
    int cap;                      /* scheduler cap before the throttle */
    bool active;
} libxlmig__xen_throttle;

/*
 * Put the scheduler cap a throttle replaced back (the shim throttles the
 * guest during a save and restores the cap itself; xlmigd does it when the
 * helper died first).  A no-op when nothing is in force or the cap is
 * back already.
 */
_hidden int libxlmig__xen_throttle_restore(libxlmig__gc *gc,
                                           libxlmig__xen_throttle *t);

#endif /* LIBXLMIG_HOST_H */
