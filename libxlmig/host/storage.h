/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The storage and network a domain needs on a target (host layer): a
 * stable identifier of the storage behind a disk path, the comparison of
 * the source's identifier with the target's, and whether a vif's bridge
 * exists.  The same path on two hosts proves nothing: a migration may
 * only go where the disk is the same storage (docs/architecture.md,
 * "Pre-flight").
 *
 * Identifiers (strings, equal on two hosts when the storage is the same):
 *   block device   its WWN ("wwid:..."), else its serial ("serial:...",
 *                  what virtio, SCSI and NVMe disks report in sysfs), a
 *                  device-mapper UUID ("dm:...", LVM, multipath), a loop
 *                  device by its backing file ("loop:<file id>"); a
 *                  partition adds "-partN" to its disk's
 *   file           the file system it is on plus its inode: a network
 *                  file system by type and export ("nfs4:srv:/export"),
 *                  a block one by its device's identifier, then the path
 *                  within that file system and ":ino=N"
 * A block device without WWN or serial (an NBD device, a RAM disk), a file
 * on tmpfs or on a disk without one: no identifier, and the check refuses
 * (it cannot tell).
 */
#ifndef LIBXLMIG_STORAGE_H
#define LIBXLMIG_STORAGE_H

#include <sys/stat.h>

#include "core/core.h"
#include "host/host.h"

/*
 * The identifier of the storage at path, from this host's /sys and
 * /proc/self/mountinfo.  0 and *id_r (gc), or -1 with *why_r (gc) saying
 * what is missing: "no such file or device: ...", "no stable identifier:
 * ...".  *present_r says whether path exists at all.
 */
_hidden int libxlmig__storage_ident(libxlmig__gc *gc, const char *path,
                                    bool *present_r, char **id_r,
                                    char **why_r);

/* The parts, for tests: sysfs under sysroot ("" for the host's). */
_hidden int libxlmig__storage_blk_ident(libxlmig__gc *gc,
                                        const char *sysroot,
                                        unsigned major, unsigned minor,
                                        char **id_r, char **why_r);
/* A file's identifier from mountinfo's text (its device st_dev, its
 * inode ino, its canonical path rpath). */
_hidden int libxlmig__storage_file_ident(libxlmig__gc *gc,
                                         const char *sysroot,
                                         const char *mountinfo,
                                         unsigned major, unsigned minor,
                                         const char *rpath, uint64_t ino,
                                         char **id_r, char **why_r);

/*
 * The verdict on one disk: the source's identifier (src_id; NULL with
 * src_why when it has none), what the target found (present, tgt_id or
 * tgt_why).  Returns whether it may go; *detail_r (gc) says why, naming
 * the disk (vdev) and path on target.
 */
_hidden bool libxlmig__storage_verdict(libxlmig__gc *gc, const char *vdev,
                                       const char *path, const char *target,
                                       const char *src_id,
                                       const char *src_why, bool present,
                                       const char *tgt_id,
                                       const char *tgt_why,
                                       char **detail_r);

/* Whether a network device called bridge exists here (a Linux bridge or
 * an Open vSwitch one), under sysroot. */
_hidden bool libxlmig__bridge_exists(const char *sysroot,
                                     const char *bridge);
/* The verdict on a vif's bridge; *detail_r (gc). */
_hidden bool libxlmig__bridge_verdict(libxlmig__gc *gc, unsigned devid,
                                      const char *bridge,
                                      const char *target, bool present,
                                      char **detail_r);

/*
 * The needs of a domain on the wire.  The source generates them into an
 * open map ("disks": [{"vdev", "path", "id"|"why"}], "vifs": [{"devid",
 * "bridge"}]); a target answers the needs of a request with what it has
 * ("disk_checks": [{"vdev", "path", "present", "id"|"why"}],
 * "bridge_checks": [{"devid", "bridge", "present"}]), nothing when the
 * request names none.  It answers for the first LIBXLMIG__NEEDS_MAX
 * disks and vifs only: each costs it file system lookups, and a peer may
 * send any number; the source finds the rest unchecked and refuses.
 */
#define LIBXLMIG__NEEDS_MAX 256
_hidden void libxlmig__dom_needs_gen(yajl_gen g, const libxlmig__dom_facts *f);
_hidden void libxlmig__dom_needs_answer(libxlmig__gc *gc, yajl_val needs,
                                        yajl_gen g);
/* The answer this host gives to needs, as a tree (arena). */
_hidden yajl_val libxlmig__dom_needs_local(libxlmig__gc *gc, yajl_val needs);

/*
 * The verdicts on needs (a request's disks and vifs) given a target's
 * answer: fn(user, "disk" or "bridge", ok, detail) for each.  Returns
 * the first failure's detail (gc), or NULL when all may go.  An answer
 * without checks while there are needs fails: that target cannot say.
 */
typedef void libxlmig__needs_verdict_fn(void *user, const char *check,
                                        bool ok, const char *detail);
_hidden const char *libxlmig__dom_needs_check(libxlmig__gc *gc,
                                              yajl_val needs,
                                              yajl_val answer,
                                              const char *target,
                                              libxlmig__needs_verdict_fn *fn,
                                              void *user);

#endif /* LIBXLMIG_STORAGE_H */
