/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The storage pre-flight without Xen (host/storage.h): identifiers of
 * block devices from a fake sysfs tree (WWN before serial, serial, a
 * device-mapper UUID, a partition of a disk, none at all), of files from
 * mountinfo text (NFS by export and inode, a block file system by its
 * device, tmpfs refused), the verdicts and their messages (same storage,
 * other storage, missing, no identifier on either side), bridges, and the
 * needs on the wire from facts to a target's answer and back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/storage.h"
#include "tap.h"

static char root[64];

static void put(const char *rel, const char *text)
{
    char path[512], dir[512], *s;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    for (s = dir + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(dir, 0755);
        *s = '/';
    }
    if (text) {
        FILE *f = fopen(path, "w");

        if (!f) sysbail("cannot write %s", path);
        fputs(text, f);
        fclose(f);
    } else {
        mkdir(path, 0755);
    }
}

static void link_dev(const char *majmin, const char *target)
{
    char l[512], t[512];

    snprintf(l, sizeof(l), "%s/sys/dev/block/%s", root, majmin);
    snprintf(t, sizeof(t), "%s/sys/devices/%s", root, target);
    if (symlink(t, l)) sysbail("symlink %s", l);
}

static void fake_sysfs(void)
{
    put("sys/dev/block/x", NULL);
    put("sys/class/net/pub/bridge/x", NULL);
    /* A virtio disk with a serial, and its first partition. */
    put("sys/devices/vda/serial", "XENTB-SHARED0\n");
    put("sys/devices/vda/dev", "254:0\n");
    put("sys/devices/vda/vda1/partition", "1\n");
    put("sys/devices/vda/vda1/dev", "254:1\n");
    link_dev("254:0", "vda");
    link_dev("254:1", "vda/vda1");
    /* A SCSI disk with both a WWN and a serial: the WWN wins. */
    put("sys/devices/sdb/device/wwid", "naa.600508b1001c4d\n");
    put("sys/devices/sdb/device/serial", "PBKUD0BRH5X0\n");
    link_dev("8:16", "sdb");
    /* An LVM volume. */
    put("sys/devices/dm-3/dm/uuid", "LVM-abcdef\n");
    link_dev("253:3", "dm-3");
    /* An NBD device: nothing stable. */
    put("sys/devices/nbd0/size", "0\n");
    link_dev("43:0", "nbd0");
}

static const char mountinfo[] =
    "22 1 0:21 / / rw - tmpfs rootfs rw\n"
    "30 22 0:45 / /var/lib/xen/images rw,relatime - nfs4 "
    "filer:/export/xen rw,vers=4.2\n"
    "31 22 0:45 /sub /mnt/alias rw - nfs4 filer:/export/xen rw\n"
    "32 22 254:1 / /srv/shared rw - ext4 /dev/vda1 rw\n"
    "33 22 0:50 / /srv/with\\040blank rw - nfs filer:/blank rw\n";

int main(void)
{
    libxlmig_ctx *ctx = NULL;
    char *id, *why, *detail, tmpl[] = "/tmp/xlmig-storage.XXXXXX";

    plan(37);
    if (!mkdtemp(tmpl)) sysbail("mkdtemp");
    snprintf(root, sizeof(root), "%s", tmpl);
    if (libxlmig_ctx_alloc(&ctx, NULL)) bail("cannot allocate a context");
    fake_sysfs();
    {
        GC_INIT(ctx);

        /* ---- block devices ---- */
        is_int(0, libxlmig__storage_blk_ident(gc, root, 254, 0, &id, &why),
               "a virtio disk with a serial has an identifier");
        is_string("serial:XENTB-SHARED0", id, "its serial");
        is_int(0, libxlmig__storage_blk_ident(gc, root, 254, 1, &id, &why),
               "so has its partition");
        is_string("serial:XENTB-SHARED0-part1", id,
                  "the disk's serial and the partition number");
        libxlmig__storage_blk_ident(gc, root, 8, 16, &id, &why);
        is_string("wwid:naa.600508b1001c4d", id, "a WWN comes before a serial");
        libxlmig__storage_blk_ident(gc, root, 253, 3, &id, &why);
        is_string("dm:LVM-abcdef", id, "an LVM volume by its dm UUID");
        id = NULL;
        is_int(-1, libxlmig__storage_blk_ident(gc, root, 43, 0, &id, &why),
               "an NBD device has no stable identifier");
        like_string("nbd0 (43:0) reports no WWN, serial or device-mapper "
                    "UUID", why, "and the reason names the device");
        ok(id == NULL, "and no identifier is made up");
        is_int(-1, libxlmig__storage_blk_ident(gc, root, 7, 7, &id, &why),
               "a device sysfs does not know");
        like_string("no entry in sysfs", why, "says so");

        /* ---- files ---- */
        is_int(0, libxlmig__storage_file_ident(gc, root, mountinfo, 0, 45,
                   "/var/lib/xen/images/g.img", 1234, &id, &why),
               "a file on NFS has an identifier");
        is_string("fs(nfs4:filer:/export/xen):/g.img:ino=1234", id,
                  "the export, the path in it and the inode");
        libxlmig__storage_file_ident(gc, root, mountinfo, 0, 45,
                                     "/mnt/alias/g.img", 1234, &id, &why);
        is_string("fs(nfs4:filer:/export/xen):/sub/g.img:ino=1234", id,
                  "a mount of a subtree adds its root");
        libxlmig__storage_file_ident(gc, root, mountinfo, 254, 1,
                                     "/srv/shared/d/g.img", 99, &id, &why);
        is_string("fs(serial:XENTB-SHARED0-part1):/d/g.img:ino=99", id,
                  "a block file system by its device");
        libxlmig__storage_file_ident(gc, root, mountinfo, 0, 50,
                                     "/srv/with blank/x", 5, &id, &why);
        is_string("fs(nfs:filer:/blank):/x:ino=5", id,
                  "mountinfo's escapes are undone");
        is_int(-1, libxlmig__storage_file_ident(gc, root, mountinfo, 0, 21,
                   "/tmp/g.img", 7, &id, &why), "a file on tmpfs is refused");
        like_string("on tmpfs (rootfs), which no other host shares", why,
                    "naming the file system");
        is_int(-1, libxlmig__storage_file_ident(gc, root, mountinfo, 9, 9,
                   "/x", 7, &id, &why), "a device not mounted");
        like_string("is on no file system", why, "says so");

        /* ---- verdicts ---- */
        ok(libxlmig__storage_verdict(gc, "xvda", "/dev/vda", "B",
                                     "serial:S1", NULL, true, "serial:S1",
                                     NULL, &detail), "same identifier: go");
        is_string("disk xvda (/dev/vda) is the same storage on B (serial:S1)",
                  detail, "and says which");
        ok(!libxlmig__storage_verdict(gc, "xvda", "/dev/vda", "B",
                                      "serial:S1", NULL, true, "serial:S2",
                                      NULL, &detail),
           "the same path on other storage is refused");
        is_string("disk xvda (/dev/vda) is other storage on B: serial:S2 "
                  "there, serial:S1 here", detail, "naming both");
        ok(!libxlmig__storage_verdict(gc, "xvdb", "/dev/vdc", "B",
                                      "serial:S1", NULL, false, NULL,
                                      "no such file or device: No such file "
                                      "or directory", &detail),
           "a missing disk is refused");
        is_string("disk xvdb (/dev/vdc) is missing on B: no such file or "
                  "device: No such file or directory", detail,
                  "naming the disk and the path");
        ok(!libxlmig__storage_verdict(gc, "xvda", "/dev/nbd0", "B", NULL,
                                      "no stable identifier: nbd0", true,
                                      NULL, "no stable identifier: nbd0",
                                      &detail),
           "no identifier here: refused");
        like_string("cannot be told the same storage on B: here it has no "
                    "stable identifier", detail, "saying it cannot tell");
        ok(!libxlmig__storage_verdict(gc, "xvda", "/dev/sdb", "B", "wwid:1",
                                      NULL, true, NULL, "no stable "
                                      "identifier: sdb", &detail),
           "no identifier there: refused");

        /* ---- bridges ---- */
        ok(libxlmig__bridge_exists(root, "pub"), "a bridge that exists");
        ok(!libxlmig__bridge_exists(root, "xenbr9"), "one that does not");
        ok(!libxlmig__bridge_exists(root, "../../etc"),
           "a name with a slash is no bridge");
        libxlmig__bridge_verdict(gc, 1, "xenbr9", "B", false, &detail);
        is_string("vif 1 needs bridge xenbr9, which B lacks", detail,
                  "the refusal names the vif and the bridge");

        /* ---- the needs, a target's answer and the verdicts ---- */
        {
            libxlmig__dom_disk disks[2] = {
                { "xvda", "/dev/null", "serial:X", NULL },
                { "xvdb", "/nonexistent/xlmig-disk", "serial:Y", NULL },
            };
            libxlmig__dom_vif vifs[1] = { { 0, "xlmig-nosuch-br" } };
            libxlmig__dom_facts f;
            yajl_gen g = libxlmig__json_gen_alloc(gc, false);
            yajl_val needs = NULL, answer;
            const char *first;

            libxlmig__dom_facts_init(&f);
            f.disks = disks;
            f.nr_disks = 2;
            f.vifs = vifs;
            f.nr_vifs = 1;
            yajl_gen_map_open(g);
            libxlmig__dom_needs_gen(g, &f);
            yajl_gen_map_close(g);
            libxlmig__json_gen_to_val(gc, g, "needs", &needs);
            answer = libxlmig__dom_needs_local(gc, needs);
            ok(answer != NULL, "this host answers the needs");
            first = libxlmig__dom_needs_check(gc, needs, answer, "B", NULL,
                                              NULL);
            like_string("disk xvda (/dev/null) cannot be told the same "
                        "storage on B: there it has", first ? first : "",
                        "the first failure is the first disk's");
            f.nr_disks = 0;
            g = libxlmig__json_gen_alloc(gc, false);
            yajl_gen_map_open(g);
            libxlmig__dom_needs_gen(g, &f);
            yajl_gen_map_close(g);
            libxlmig__json_gen_to_val(gc, g, "needs", &needs);
            first = libxlmig__dom_needs_check(gc, needs,
                                              libxlmig__dom_needs_local(gc,
                                                                        needs),
                                              "B", NULL, NULL);
            is_string("vif 0 needs bridge xlmig-nosuch-br, which B lacks",
                      first, "a missing bridge is refused by name");
            first = libxlmig__dom_needs_check(gc, needs, NULL, "B", NULL,
                                              NULL);
            like_string("was not checked on B", first ? first : "",
                        "a target that does not answer cannot pass");
        }
        GC_FREE;
    }
    libxlmig_ctx_free(ctx);
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        if (system(cmd)) diag("cannot remove %s", root);
    }
    return 0;
}
