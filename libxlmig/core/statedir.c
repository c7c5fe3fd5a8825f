/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The node's state directory (libxlmig_state_dir): where maintenance
 * flags, handoff records, decisions, jobs and sim domain records live.
 * Every file in it is reached through these functions: one level of
 * subdirectory and a leaf name, each checked (no "/", no leading dot) and
 * opened with openat() and O_NOFOLLOW under the directory, so that no
 * name a peer sends and no link planted there leads outside it.  Writes
 * are durable: a temporary file, fsync, rename.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/core.h"
#include "core/tunables.h"

const char *libxlmig_state_dir(void)
{
    return libxlmig__tunable_state_dir();
}

bool libxlmig__state_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    return n > 0 && n < 128 && name[0] != '.' && !strchr(name, '/');
}

/*
 * The directory fd of STATE_DIR[/sub], made (mode 0755, sub 0700) when
 * create; -1 with errno set (EINVAL for a bad sub).
 */
static int state_dir_open(const char *sub, bool create)
{
    const char *dir = libxlmig_state_dir();
    int dfd, sfd;

    if (sub && !libxlmig__state_name_ok(sub)) {
        errno = EINVAL;
        return -1;
    }
    if (create)
        mkdir(dir, 0755);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || !sub)
        return dfd;
    if (create)
        mkdirat(dfd, sub, 0700);
    sfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    return sfd;
}

int libxlmig__state_file_write(libxlmig__gc *gc, const char *sub,
                               const char *leaf, const char *text)
{
    char *tmp;
    size_t len = strlen(text), off = 0;
    ssize_t r;
    int dfd = -1, fd = -1, e, ret = -1;

    if (!libxlmig__state_name_ok(leaf)) {
        errno = EINVAL;
        return -1;
    }
    dfd = state_dir_open(sub, true);
    if (dfd < 0)
        return -1;
    tmp = GCSPRINTF("%s.tmp", leaf);
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
                O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    while (off < len) {
        r = write(fd, text + off, len - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) goto out_unlink;
        off += (size_t)r;
    }
    if (fsync(fd))
        goto out_unlink;
    if (close(fd)) {
        fd = -1;
        goto out_unlink;
    }
    fd = -1;
    if (renameat(dfd, tmp, dfd, leaf))
        goto out_unlink;
    ret = 0;
    goto out;
 out_unlink:
    e = errno;
    unlinkat(dfd, tmp, 0);
    errno = e;
 out:
    e = errno;
    if (fd >= 0) close(fd);
    if (dfd >= 0) close(dfd);
    errno = e;
    return ret;
}

int libxlmig__state_file_read(libxlmig__gc *gc, const char *sub,
                              const char *leaf, size_t max, char **text_r)
{
    char *buf;
    size_t len = 0;
    ssize_t r;
    int dfd, fd, e;

    if (!libxlmig__state_name_ok(leaf)) {
        errno = EINVAL;
        return -1;
    }
    dfd = state_dir_open(sub, false);
    if (dfd < 0)
        return -1;
    fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    e = errno;
    close(dfd);
    if (fd < 0) {
        errno = e;
        return -1;
    }
    buf = libxlmig__zalloc(gc, max + 1);
    while (len < max) {
        r = read(fd, buf + len, max - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *text_r = buf;
    return 0;
}

int libxlmig__state_file_remove(const char *sub, const char *leaf)
{
    int dfd, r, e;

    if (!libxlmig__state_name_ok(leaf)) {
        errno = EINVAL;
        return -1;
    }
    dfd = state_dir_open(sub, false);
    if (dfd < 0)
        return -1;
    r = unlinkat(dfd, leaf, 0);
    e = errno;
    close(dfd);
    errno = e;
    return r;
}

bool libxlmig__state_file_exists(const char *sub, const char *leaf)
{
    struct stat st;
    int dfd;
    bool found;

    if (!libxlmig__state_name_ok(leaf))
        return false;
    dfd = state_dir_open(sub, false);
    if (dfd < 0)
        return false;
    found = fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode);
    close(dfd);
    return found;
}

/*
 * /proc/locks lists every lock as "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INO
 * START END" (device numbers in hex); a waiter's line has "->" after N.
 * Reading it never takes the lock, so it never stands in a holder's way.
 */
pid_t libxlmig__state_file_lock_holder(const char *sub, const char *leaf)
{
    unsigned int maj, min;
    unsigned long long ino;
    char line[256], type[16];
    struct stat st;
    pid_t pid = 0;
    long p;
    FILE *f;
    int dfd, r;

    if (!libxlmig__state_name_ok(leaf))
        return 0;
    dfd = state_dir_open(sub, false);
    if (dfd < 0)
        return 0;
    r = fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW);
    close(dfd);
    if (r || !S_ISREG(st.st_mode))
        return 0;
    f = fopen("/proc/locks", "re");
    while (f && !pid && fgets(line, sizeof(line), f)) {
        if (strstr(line, "->") ||
            sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", type, &p, &maj,
                   &min, &ino) != 5 || strcmp(type, "FLOCK"))
            continue;
        if (maj == major(st.st_dev) && min == minor(st.st_dev) &&
            ino == (unsigned long long)st.st_ino && p > 0)
            pid = (pid_t)p;
    }
    if (f)
        fclose(f);
    return pid;
}

int libxlmig__state_dir_list(libxlmig__gc *gc, const char *sub,
                             libxlmig__state_entry **list_r, size_t *nr_r)
{
    libxlmig__state_entry *list = NULL;
    size_t nr = 0, cap = 0;
    struct dirent *e;
    struct stat st;
    DIR *d;
    int dfd;

    *list_r = NULL;
    *nr_r = 0;
    dfd = state_dir_open(sub, false);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    while ((e = readdir(d))) {
        /* Temporary files of a writer end in .tmp and start no record. */
        if (!libxlmig__state_name_ok(e->d_name) ||
            strstr(e->d_name, ".tmp") ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
            !S_ISREG(st.st_mode))
            continue;
        if (nr == cap) {
            cap = cap ? cap * 2 : 64;
            list = libxlmig__realloc(gc, list, cap * sizeof(*list));
        }
        list[nr].name = GCSTRDUP(e->d_name);
        list[nr].mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
                            (uint64_t)st.st_mtim.tv_nsec;
        nr++;
    }
    closedir(d);
    *list_r = list;
    *nr_r = nr;
    return 0;
}
