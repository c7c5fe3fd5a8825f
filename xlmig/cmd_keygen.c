/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `xlmig keygen [-f] FILE`: make a new cluster key (32 random bytes as 64
 * hex digits) in a file only its owner can read, to copy to every node.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xlmig.h"

int main_keygen(int argc, char **argv)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 2];
    bool force = false;
    const char *path;
    size_t i;
    ssize_t n;
    int fd = -1, opt, ret, flags;

    static const struct option lo[] = {
        { "force", no_argument, NULL, 'f' },
        { 0, 0, 0, 0 },
    };

    while ((opt = cmd_getopt(argc, argv, "f", lo, "keygen", 1)) != 0) {
        switch (opt) {
        case 'f': force = true; break;
        case 'h': return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cmd_usage_error("keygen", "expected one file name");
    path = argv[optind];

    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
        ret = cmd_fail(LIBXLMIG_ERROR_IO, "cannot read /dev/urandom: %s",
                       strerror(errno));
        goto out;
    }
    close(fd);
    for (i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof(raw)] = '\n';
    hex[2 * sizeof(raw) + 1] = '\0';

    flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
            (force ? O_TRUNC : O_EXCL);
    fd = open(path, flags, 0600);
    if (fd < 0) {
        ret = cmd_fail(errno == EEXIST ? LIBXLMIG_ERROR_EXISTS
                                       : LIBXLMIG_ERROR_IO,
                       errno == EEXIST
                       ? "%s already exists (use -f to replace the key)"
                       : "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    n = write(fd, hex, strlen(hex));
    if (n != (ssize_t)strlen(hex) || fchmod(fd, 0600) || fsync(fd)) {
        ret = cmd_fail(LIBXLMIG_ERROR_IO, "cannot write %s: %s", path,
                       strerror(errno));
        goto out;
    }
    if (!g.json)
        printf("new cluster key in %s (mode 0600); copy it to every "
               "node\n", path);
    else
        printf("{\"version\":1,\"key_file\":\"%s\"}\n", path);
    ret = EXIT_OK;
 out:
    memset(raw, 0, sizeof(raw));
    memset(hex, 0, sizeof(hex));
    if (fd >= 0) close(fd);
    return ret;
}
