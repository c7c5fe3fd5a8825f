/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The host layer: the one hypervisor interface every backend implements.
 * Everything above it (the public domain operations, CPU policies,
 * migrations, the node service, the daemon) reaches a hypervisor only
 * through a libxlmig__host: an ops table and the private state its open()
 * made.  Includes only core, net and engine.
 *
 * Three tables implement it (docs/architecture.md, "The host interface"):
 *   xen      libxl and libxenctrl, in whatever process opens it (the CLI
 *            and xlmigd alike), each open with its own state;
 *   sim      the simulated hypervisor inside xlmigd, which owns the sim
 *            domains of its node;
 *   sim (client)  what CLI processes of the sim backend open: each
 *            operation is a request to xlmigd's control socket, served
 *            there by the sim table.
 * An op left NULL is unsupported by that table: a caller asks first
 * (BACKEND_NEED, or a check of its own) and says so.
 *
 * Names are domain names.  A domain a save, restore or migration holds is
 * "reserved": the user's operations (pause, unpause, destroy, save,
 * dirty_sample) refuse it, the migration's own operations act on it.
 * Calls are synchronous and may come from several threads at once.
 */
#ifndef LIBXLMIG_HOST_H
#define LIBXLMIG_HOST_H

#include "core/core.h"
#include "engine/engine.h"

struct policy_cpuid;

/* A disk of a domain: what the target must attach (host/storage.h). */
typedef struct libxlmig__dom_disk {
    char *vdev;                  /* the guest's name for it: xvda */
    char *path;                  /* the backend's target path */
    char *id;                    /* its storage identifier here, or NULL */
    char *why;                   /* why there is none */
} libxlmig__dom_disk;

/* A vif of a domain and the bridge it joins. */
typedef struct libxlmig__dom_vif {
    unsigned devid;
    char *bridge;
} libxlmig__dom_vif;

/* What the source knows of the domain it sends. */
typedef struct libxlmig__dom_facts {
    uint64_t memory_kib;         /* KiB the target must provide */
    char *config_json;           /* the domain config record (malloc'd) */
    char *storage;               /* shared storage path it needs, or NULL */
    char *mac, *ip;              /* for the announcement (malloc'd) */
    bool pv;                     /* a PV guest (else HVM or PVH) */
    /* Xen: the disks and the bridged vifs the target must provide; all
     * malloc'd (the sim has neither). */
    libxlmig__dom_disk *disks;
    int nr_disks;
    libxlmig__dom_vif *vifs;
    int nr_vifs;
} libxlmig__dom_facts;

_hidden void libxlmig__dom_facts_init(libxlmig__dom_facts *f);
_hidden void libxlmig__dom_facts_dispose(libxlmig__dom_facts *f);

/*
 * A request of xlmigd's control socket that only one backend serves (sim:
 * create, verify).  The handler generates its result as one JSON value
 * into data, or returns an error after logging it; the daemon sends
 * either back.
 */
typedef int libxlmig__ctl_handler(libxlmig__gc *gc, void *priv,
                                  yajl_val req, yajl_gen data);
typedef struct libxlmig__ctl_op {
    const char *op;
    libxlmig__ctl_handler *fn;
} libxlmig__ctl_op;

/* What xlmigd tells its host before it serves (see daemon_init). */
typedef struct libxlmig__host_daemon_opts {
    uint64_t capacity_kib;             /* sim: memory for domains; 0: all */
    const struct policy_cpuid *cpu;    /* sim: this node's CPU, or NULL */
    const char *storage;               /* sim: shared storage directory */
    const char *public_if;             /* sim: where domains answer */
} libxlmig__host_daemon_opts;

typedef struct libxlmig__host_ops {
    const char *name;                  /* "xen", "sim" */
    /* The private state: made once per context or daemon, released by
     * close.  Fails with a message saying what is missing. */
    int (*open)(libxlmig__gc *gc, void **priv_r);
    void (*close)(libxlmig_ctx *ctx, void *priv);

    /* ---- queries ---- */
    int (*host_info)(libxlmig__gc *gc, void *priv, libxlmig_host_info *hi);
    /* All domains, malloc'd; the caller frees with dominfo_list_free. */
    int (*list)(libxlmig__gc *gc, void *priv, libxlmig_dominfo **list_r,
                int *nr_r);
    /* Does a domain of that name exist here (any state)? */
    bool (*domain_exists)(void *priv, const char *name);
    int (*domain_facts)(libxlmig__gc *gc, void *priv, const char *name,
                        libxlmig__dom_facts *f);
    /*
     * The policy a domain is checked against on this host: what a guest
     * of that kind may use here (Xen: the HVM maximum policy for HVM and
     * PVH guests, the PV maximum for PV ones; sim: the node's CPU).  The
     * pre-flight, `xlmig cpuid`, drain and validate all use this one.
     */
    int (*host_cpu_policy)(libxlmig__gc *gc, void *priv, bool pv,
                           struct policy_cpuid *p);
    /* The policy a running domain has. */
    int (*domain_cpu_policy)(libxlmig__gc *gc, void *priv, const char *name,
                             struct policy_cpuid *p);
    /* Distinct pages written from now until each of the sample points
     * (ms/4, ms/2, ms): the dirty log (sim: the kernel's; Xen: log-dirty
     * mode); then the content sample where the backend can read the
     * domain's memory (libxlmig__content_take). */
    int (*dirty_sample)(libxlmig__gc *gc, void *priv, const char *name,
                        unsigned ms, libxlmig_dirty_sample *s);

    /* ---- the user's operations (xlmig pause, ..., save, restore) ---- */
    int (*pause)(libxlmig__gc *gc, void *priv, const char *name);
    int (*unpause)(libxlmig__gc *gc, void *priv, const char *name);
    int (*destroy)(libxlmig__gc *gc, void *priv, const char *name);
    /* Save to fd (LIBXLMIG_SAVE_* flags; o: parameters, progress and
     * cancel); the domain is destroyed after it unless CHECKPOINT. */
    int (*save)(libxlmig__gc *gc, void *priv, const char *name, int fd,
                unsigned flags, const libxlmig__engine_opts *o,
                libxlmig_stats *st);
    /* Restore from fd as new_name (NULL: the saved name); *name_r
     * malloc'd. */
    int (*restore)(libxlmig__gc *gc, void *priv, int fd,
                   const char *new_name, bool paused,
                   const libxlmig__engine_opts *o, libxlmig_stats *st,
                   char **name_r);

    /* ---- migrations between nodes (xlmigd) ---- */
    /*
     * Live-save into the migration's transport t and leave the domain
     * paused and reserved on success; on failure it runs again,
     * unreserved.  o->cancelled stops the save at the next batch.
     */
    int (*save_handoff)(libxlmig__gc *gc, void *priv, const char *name,
                        libxlmig__transport *t,
                        const libxlmig__engine_opts *o, libxlmig_stats *st);
    /* Rename a reserved or running domain. */
    int (*rename)(libxlmig__gc *gc, void *priv, const char *from,
                  const char *to);
    /* Unpause a reserved domain and release it (failed handoff). */
    int (*resume)(libxlmig__gc *gc, void *priv, const char *name);
    /* Destroy a copy a migration holds or left (reserved or not). */
    int (*discard)(libxlmig__gc *gc, void *priv, const char *name);
    /*
     * Optional: create the empty, paused, reserved domain name for an
     * incoming migration from its config, before the stream starts (as
     * libxl does from the config xl sends first), so that allocating its
     * memory does not stall the stream.  restore_paused then fills it.
     */
    int (*prepare_incoming)(libxlmig__gc *gc, void *priv, const char *name,
                            const char *config_json);
    /* The memory (KiB) a domain of this config gets here. */
    int (*config_memory)(libxlmig__gc *gc, void *priv,
                         const char *config_json, uint64_t *kib_r);
    /*
     * Restore a domain called name from the migration's transport t,
     * paused and reserved (into the prepared domain if there is one).
     * The config that arrives in the stream must be the one announced
     * (config_json, as prepare_incoming had it): else it is refused.  On
     * failure nothing is left.
     */
    int (*restore_paused)(libxlmig__gc *gc, void *priv,
                          libxlmig__transport *t, const char *name,
                          const char *config_json,
                          const libxlmig__engine_opts *o, libxlmig_stats *st);
    /* Unpause a reserved domain and release it (committed handoff). */
    int (*unpause_release)(libxlmig__gc *gc, void *priv, const char *name);
    /* Announce the domain's new location (gratuitous ARP). */
    void (*announce)(libxlmig__gc *gc, void *priv, const char *name);

    /* ---- xlmigd ---- */
    /* Optional: called once before xlmigd serves (sim: take over the
     * domains an earlier xlmigd left; xen: install the save helper). */
    int (*daemon_init)(libxlmig__gc *gc, void *priv,
                       const libxlmig__host_daemon_opts *o);
    /* Requests of the control socket only this backend serves. */
    const libxlmig__ctl_op *ctl_ops;
    size_t nr_ctl_ops;
} libxlmig__host_ops;

/* Suffixes of the two copies during a handoff, as xl names them
 * (libxlmig_handoff_copy tells them). */
#define LIBXLMIG_SUFFIX_INCOMING    "--incoming"
#define LIBXLMIG_SUFFIX_MIGRATEDAWAY "--migratedaway"
/* The length of name without suffix sfx, or 0 when it does not end so
 * (or is nothing else). */
_hidden size_t libxlmig__suffix_base(const char *name, const char *sfx);

/* An opened host: the table and its private state. */
typedef struct libxlmig__host {
    const libxlmig__host_ops *ops;
    void *priv;
} libxlmig__host;

/* The opened host of the context, or LIBXLMIG_ERROR_BACKEND (logged). */
_hidden int libxlmig__backend_get(libxlmig__gc *gc,
                                  const libxlmig__host_ops **ops_r,
                                  void **priv_r);
/*
 * The opened host if it has the op at op_offset in its table, else
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

#endif /* LIBXLMIG_HOST_H */
