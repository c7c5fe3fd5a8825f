/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Stable identifiers of the storage behind a disk path, and the verdicts
 * of the pre-flight on disks and bridges (host/storage.h).
 */
#include <limits.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "host/storage.h"

/* Loop devices backed by loop devices: not followed further. */
#define STORAGE_MAX_DEPTH 4

/* The first line of a small sysfs file, trimmed; NULL when absent or
 * empty. */
static char *sys_read(libxlmig__gc *gc, const char *path)
{
    char buf[512];
    size_t n;
    FILE *f;

    f = fopen(path, "re");
    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    while (n && (buf[strlen(buf) - 1] == ' ' || buf[strlen(buf) - 1] == '\t'))
        buf[strlen(buf) - 1] = 0, n--;
    {
        char *p = buf;

        while (*p == ' ' || *p == '\t') p++;
        return *p ? GCSTRDUP(p) : NULL;
    }
}

static int file_ident(libxlmig__gc *gc, const char *sysroot,
                      const char *path, int depth, char **id_r,
                      char **why_r);

static int blk_ident(libxlmig__gc *gc, const char *sysroot, unsigned major,
                     unsigned minor, int depth, char **id_r, char **why_r)
{
    static const struct { const char *file, *kind; } attrs[] = {
        { "wwid", "wwid" }, { "device/wwid", "wwid" },
        { "serial", "serial" }, { "device/serial", "serial" },
        { "dm/uuid", "dm" },
    };
    char *dir = GCSPRINTF("%s/sys/dev/block/%u:%u", sysroot, major, minor);
    char real[PATH_MAX], *part, *v;
    size_t i;

    if (!realpath(dir, real)) {
        *why_r = GCSPRINTF("no stable identifier: block device %u:%u has "
                           "no entry in sysfs", major, minor);
        return -1;
    }
    part = sys_read(gc, GCSPRINTF("%s/partition", real));
    if (part) {
        /* A partition: its disk's identifier and its number. */
        char *parent = GCSTRDUP(real), *dev, *slash = strrchr(parent, '/');
        unsigned pmaj, pmin;

        if (slash) *slash = 0;
        dev = sys_read(gc, GCSPRINTF("%s/dev", parent));
        if (!dev || sscanf(dev, "%u:%u", &pmaj, &pmin) != 2) {
            *why_r = GCSPRINTF("no stable identifier: the disk of partition "
                               "%u:%u is unknown", major, minor);
            return -1;
        }
        if (blk_ident(gc, sysroot, pmaj, pmin, depth, id_r, why_r))
            return -1;
        *id_r = GCSPRINTF("%s-part%s", *id_r, part);
        return 0;
    }
    for (i = 0; i < ARRAY_SIZE(attrs); i++) {
        v = sys_read(gc, GCSPRINTF("%s/%s", real, attrs[i].file));
        if (v) {
            *id_r = GCSPRINTF("%s:%s", attrs[i].kind, v);
            return 0;
        }
    }
    v = sys_read(gc, GCSPRINTF("%s/loop/backing_file", real));
    if (v && depth < STORAGE_MAX_DEPTH) {
        char *fid;

        if (file_ident(gc, sysroot, v, depth + 1, &fid, why_r))
            return -1;
        *id_r = GCSPRINTF("loop:%s", fid);
        return 0;
    }
    {
        const char *name = strrchr(real, '/');

        *why_r = GCSPRINTF("no stable identifier: block device %s (%u:%u) "
                           "reports no WWN, serial or device-mapper UUID",
                           name ? name + 1 : real, major, minor);
    }
    return -1;
}

int libxlmig__storage_blk_ident(libxlmig__gc *gc, const char *sysroot,
                                unsigned major, unsigned minor, char **id_r,
                                char **why_r)
{
    return blk_ident(gc, sysroot, major, minor, 0, id_r, why_r);
}

/* File systems whose source names the same export on every client. */
static bool network_fs(const char *type)
{
    static const char *const t[] = {
        "nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs",
        "fuse.glusterfs", "9p", "lustre", "gpfs", "fuse.sshfs",
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(t); i++)
        if (!strcmp(type, t[i]))
            return true;
    return false;
}

/* mountinfo escapes blanks and backslashes as \ooo. */
static char *unescape(libxlmig__gc *gc, const char *s)
{
    char *o = libxlmig__zalloc(gc, strlen(s) + 1), *d = o;

    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
            *d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 4;
        } else {
            *d++ = *s++;
        }
    }
    return o;
}

int libxlmig__storage_file_ident(libxlmig__gc *gc, const char *sysroot,
                                 const char *mountinfo, unsigned major,
                                 unsigned minor, const char *rpath,
                                 uint64_t ino, char **id_r, char **why_r)
{
    const char *line = mountinfo, *end;
    char *best_root = NULL, *best_mp = NULL, *best_type = NULL;
    char *best_src = NULL, *rel, *fsid;
    size_t best_len = 0;

    for (; line && *line; line = end ? end + 1 : NULL) {
        char *l, *tok[12], *sep, *save = NULL, *mp;
        unsigned ma, mi;
        int n = 0;
        size_t len;

        end = strchr(line, '\n');
        l = end ? libxlmig__strndup(gc, line, end - line) : GCSTRDUP(line);
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE SRC */
        sep = strstr(l, " - ");
        if (!sep)
            continue;
        *sep = 0;
        for (char *t = strtok_r(l, " ", &save); t && n < 5;
             t = strtok_r(NULL, " ", &save))
            tok[n++] = t;
        if (n < 5 || sscanf(tok[2], "%u:%u", &ma, &mi) != 2 ||
            ma != major || mi != minor)
            continue;
        mp = unescape(gc, tok[4]);
        len = strlen(mp);
        if (strncmp(rpath, mp, len) ||
            (len > 1 && rpath[len] && rpath[len] != '/'))
            continue;
        if (best_mp && len <= best_len)
            continue;
        save = NULL;
        tok[5] = strtok_r(sep + 3, " ", &save);
        tok[6] = tok[5] ? strtok_r(NULL, " ", &save) : NULL;
        if (!tok[5] || !tok[6])
            continue;
        best_len = len;
        best_mp = mp;
        best_root = unescape(gc, tok[3]);
        best_type = GCSTRDUP(tok[5]);
        best_src = unescape(gc, tok[6]);
    }
    if (!best_mp) {
        *why_r = GCSPRINTF("no stable identifier: %s is on no file system "
                           "of /proc/self/mountinfo", rpath);
        return -1;
    }
    /* The path within the file system: its root there, then the rest. */
    rel = GCSPRINTF("%s%s%s", strcmp(best_root, "/") ? best_root : "",
                    best_len > 1 ? "" : "/",
                    rpath + (best_len > 1 ? best_len : 1));
    if (network_fs(best_type)) {
        fsid = GCSPRINTF("%s:%s", best_type, best_src);
    } else if (major != 0) {
        if (blk_ident(gc, sysroot, major, minor, 1, &fsid, why_r)) {
            *why_r = GCSPRINTF("%s (the %s file system holding %s)", *why_r,
                               best_type, rpath);
            return -1;
        }
    } else {
        *why_r = GCSPRINTF("no stable identifier: %s is on %s (%s), which "
                           "no other host shares", rpath, best_type,
                           best_src);
        return -1;
    }
    *id_r = GCSPRINTF("fs(%s):%s:ino=%llu", fsid, rel,
                      (unsigned long long)ino);
    return 0;
}

static int file_ident(libxlmig__gc *gc, const char *sysroot,
                      const char *path, int depth, char **id_r,
                      char **why_r)
{
    char real[PATH_MAX], *info = NULL;
    size_t cap = 0, len = 0, r;
    struct stat st;
    FILE *f;

    (void)depth;
    if (!realpath(path, real) || stat(real, &st)) {
        *why_r = GCSPRINTF("no such file or device: %s: %s", path,
                           strerror(errno));
        return -1;
    }
    if (S_ISBLK(st.st_mode))
        return blk_ident(gc, sysroot, major(st.st_rdev), minor(st.st_rdev),
                         depth, id_r, why_r);
    if (!S_ISREG(st.st_mode)) {
        *why_r = GCSPRINTF("%s is neither a block device nor a file", path);
        return -1;
    }
    f = fopen(GCSPRINTF("%s/proc/self/mountinfo", sysroot), "re");
    if (!f) {
        *why_r = GCSPRINTF("no stable identifier: cannot read "
                           "/proc/self/mountinfo: %s", strerror(errno));
        return -1;
    }
    do {
        if (len + 4096 >= cap) {
            cap = cap ? cap * 2 : 65536;
            info = libxlmig__realloc(gc, info, cap);
        }
        r = fread(info + len, 1, cap - len - 1, f);
        len += r;
    } while (r > 0);
    fclose(f);
    info[len] = 0;
    return libxlmig__storage_file_ident(gc, sysroot, info, major(st.st_dev),
                                        minor(st.st_dev), real, st.st_ino,
                                        id_r, why_r);
}

int libxlmig__storage_ident(libxlmig__gc *gc, const char *path,
                            bool *present_r, char **id_r, char **why_r)
{
    struct stat st;

    *id_r = NULL;
    *why_r = NULL;
    *present_r = path && path[0] == '/' && stat(path, &st) == 0;
    if (!path || path[0] != '/') {
        *why_r = GCSPRINTF("%s is not an absolute path", path ? path : "''");
        return -1;
    }
    if (!*present_r) {
        *why_r = GCSPRINTF("no such file or device: %s", strerror(errno));
        return -1;
    }
    return file_ident(gc, "", path, 0, id_r, why_r);
}

bool libxlmig__storage_verdict(libxlmig__gc *gc, const char *vdev,
                               const char *path, const char *target,
                               const char *src_id, const char *src_why,
                               bool present, const char *tgt_id,
                               const char *tgt_why, char **detail_r)
{
    const char *disk = GCSPRINTF("disk %s (%s)", vdev, path);

    if (!present) {
        *detail_r = GCSPRINTF("%s is missing on %s%s%s", disk, target,
                              tgt_why ? ": " : "", tgt_why ? tgt_why : "");
        return false;
    }
    if (!src_id) {
        *detail_r = GCSPRINTF("%s cannot be told the same storage on %s: "
                              "here it has %s", disk, target,
                              src_why ? src_why : "no stable identifier");
        return false;
    }
    if (!tgt_id) {
        *detail_r = GCSPRINTF("%s cannot be told the same storage on %s: "
                              "there it has %s", disk, target,
                              tgt_why ? tgt_why : "no stable identifier");
        return false;
    }
    if (strcmp(src_id, tgt_id)) {
        *detail_r = GCSPRINTF("%s is other storage on %s: %s there, %s here",
                              disk, target, tgt_id, src_id);
        return false;
    }
    *detail_r = GCSPRINTF("%s is the same storage on %s (%s)", disk, target,
                          src_id);
    return true;
}

bool libxlmig__bridge_exists(const char *sysroot, const char *bridge)
{
    char path[PATH_MAX];
    struct stat st;

    if (!bridge || !*bridge || strchr(bridge, '/') ||
        !strcmp(bridge, ".") || !strcmp(bridge, ".."))
        return false;
    snprintf(path, sizeof(path), "%s/sys/class/net/%s", sysroot, bridge);
    return stat(path, &st) == 0;
}

bool libxlmig__bridge_verdict(libxlmig__gc *gc, unsigned devid,
                              const char *bridge, const char *target,
                              bool present, char **detail_r)
{
    *detail_r = present
        ? GCSPRINTF("vif %u's bridge %s exists on %s", devid, bridge, target)
        : GCSPRINTF("vif %u needs bridge %s, which %s lacks", devid, bridge,
                    target);
    return present;
}

/* ---- the needs on the wire ------------------------------------------- */

void libxlmig__dom_needs_gen(yajl_gen g, const libxlmig__dom_facts *f)
{
    int i;

    libxlmig__yajl_gen_str(g, "disks");
    yajl_gen_array_open(g);
    for (i = 0; i < f->nr_disks; i++) {
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_str(g, "vdev", f->disks[i].vdev);
        libxlmig__yajl_gen_kv_str(g, "path", f->disks[i].path);
        if (f->disks[i].id)
            libxlmig__yajl_gen_kv_str(g, "id", f->disks[i].id);
        else
            libxlmig__yajl_gen_kv_str(g, "why", f->disks[i].why);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    libxlmig__yajl_gen_str(g, "vifs");
    yajl_gen_array_open(g);
    for (i = 0; i < f->nr_vifs; i++) {
        yajl_gen_map_open(g);
        libxlmig__yajl_gen_kv_uint(g, "devid", f->vifs[i].devid);
        libxlmig__yajl_gen_kv_str(g, "bridge", f->vifs[i].bridge);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
}

static yajl_val arr(yajl_val obj, const char *key)
{
    const char *path[] = { key, NULL };

    return obj ? yajl_tree_get(obj, path, yajl_t_array) : NULL;
}

void libxlmig__dom_needs_answer(libxlmig__gc *gc, yajl_val needs, yajl_gen g)
{
    yajl_val disks = arr(needs, "disks"), vifs = arr(needs, "vifs");
    size_t i;

    if (disks) {
        libxlmig__yajl_gen_str(g, "disk_checks");
        yajl_gen_array_open(g);
        for (i = 0; i < disks->u.array.len && i < LIBXLMIG__NEEDS_MAX;
             i++) {
            yajl_val d = disks->u.array.values[i];
            const char *path = libxlmig__json_get_str(d, "path");
            char *id, *why;
            bool present;

            libxlmig__storage_ident(gc, path, &present, &id, &why);
            yajl_gen_map_open(g);
            libxlmig__yajl_gen_kv_str(g, "vdev",
                                      libxlmig__json_get_str(d, "vdev"));
            libxlmig__yajl_gen_kv_str(g, "path", path);
            libxlmig__yajl_gen_kv_bool(g, "present", present);
            if (id)
                libxlmig__yajl_gen_kv_str(g, "id", id);
            else
                libxlmig__yajl_gen_kv_str(g, "why", why);
            yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
    }
    if (vifs) {
        libxlmig__yajl_gen_str(g, "bridge_checks");
        yajl_gen_array_open(g);
        for (i = 0; i < vifs->u.array.len && i < LIBXLMIG__NEEDS_MAX;
             i++) {
            yajl_val v = vifs->u.array.values[i];
            const char *br = libxlmig__json_get_str(v, "bridge");
            uint64_t devid = 0;

            libxlmig__json_get_u64_opt(gc, v, "devid", &devid);
            yajl_gen_map_open(g);
            libxlmig__yajl_gen_kv_uint(g, "devid", devid);
            libxlmig__yajl_gen_kv_str(g, "bridge", br);
            libxlmig__yajl_gen_kv_bool(g, "present",
                                       libxlmig__bridge_exists("", br));
            yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
    }
}

yajl_val libxlmig__dom_needs_local(libxlmig__gc *gc, yajl_val needs)
{
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_val v = NULL;

    yajl_gen_map_open(g);
    libxlmig__dom_needs_answer(gc, needs, g);
    yajl_gen_map_close(g);
    if (libxlmig__json_gen_to_val(gc, g, "storage checks", &v))
        return NULL;
    return v;
}

/* The answer's entry i, if it is about the same path or bridge. */
static yajl_val answer_for(yajl_val checks, size_t i, const char *key,
                           const char *want)
{
    yajl_val a;
    const char *got;

    if (!checks || i >= checks->u.array.len)
        return NULL;
    a = checks->u.array.values[i];
    got = libxlmig__json_get_str(a, key);
    return got && want && !strcmp(got, want) ? a : NULL;
}

const char *libxlmig__dom_needs_check(libxlmig__gc *gc, yajl_val needs,
                                      yajl_val answer, const char *target,
                                      libxlmig__needs_verdict_fn *fn,
                                      void *user)
{
    yajl_val disks = arr(needs, "disks"), vifs = arr(needs, "vifs");
    yajl_val dchk = arr(answer, "disk_checks");
    yajl_val bchk = arr(answer, "bridge_checks");
    const char *first = NULL;
    size_t i;

    for (i = 0; disks && i < disks->u.array.len; i++) {
        yajl_val d = disks->u.array.values[i];
        const char *vdev = libxlmig__json_get_str(d, "vdev");
        const char *path = libxlmig__json_get_str(d, "path");
        yajl_val a = answer_for(dchk, i, "path", path);
        bool present = false, ok;
        char *detail;

        if (a)
            libxlmig__json_get_bool_opt(gc, a, "present", &present);
        if (!a) {
            detail = GCSPRINTF("disk %s (%s) was not checked on %s: its "
                               "xlmigd does not check disks", vdev ? vdev : "?",
                               path ? path : "?", target);
            ok = false;
        } else {
            ok = libxlmig__storage_verdict(gc, vdev ? vdev : "?",
                                           path ? path : "?", target,
                                           libxlmig__json_get_str(d, "id"),
                                           libxlmig__json_get_str(d, "why"),
                                           present,
                                           libxlmig__json_get_str(a, "id"),
                                           libxlmig__json_get_str(a, "why"),
                                           &detail);
        }
        if (fn) fn(user, "disk", ok, detail);
        if (!ok && !first) first = detail;
    }
    for (i = 0; vifs && i < vifs->u.array.len; i++) {
        yajl_val v = vifs->u.array.values[i];
        const char *br = libxlmig__json_get_str(v, "bridge");
        yajl_val a = answer_for(bchk, i, "bridge", br);
        uint64_t devid = 0;
        bool present = false, ok;
        char *detail;

        libxlmig__json_get_u64_opt(gc, v, "devid", &devid);
        if (a)
            libxlmig__json_get_bool_opt(gc, a, "present", &present);
        if (!a) {
            detail = GCSPRINTF("vif %u's bridge %s was not checked on %s: "
                               "its xlmigd does not check bridges",
                               (unsigned)devid, br ? br : "?", target);
            ok = false;
        } else {
            ok = libxlmig__bridge_verdict(gc, (unsigned)devid,
                                          br ? br : "?", target, present,
                                          &detail);
        }
        if (fn) fn(user, "bridge", ok, detail);
        if (!ok && !first) first = detail;
    }
    return first;
}
