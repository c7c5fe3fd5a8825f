/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fuzz the cluster-config parser (libxlmig/cluster/config.c over
 * libxlutil): any file content must end in a loaded config or a clean
 * error naming the file, never a crash, a leak or undefined behaviour.
 * The input is written to a temporary file, which
 * libxlmig_cluster_config_load reads as it reads /etc/xlmig/xlmig.cfg;
 * the loaded config is also turned into JSON and looked up, as `xlmig
 * cluster` does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"

static libxlmig_ctx *ctx;

/*
 * libxlutil's parser leaks the string it was building when it meets a
 * syntax error (xlu__cfg_string_mk, xlu__cfgl_dequote; Xen 4.17): a few
 * bytes once per failed load, outside this project.  LeakSanitizer reads
 * this hook, so fuzzing and the replay under SANITIZE=1 ignore it.
 */
/* Default visibility: Config.mk builds with -fvisibility=hidden. */
const char *__lsan_default_suppressions(void)
    __attribute__((visibility("default")));
const char *__lsan_default_suppressions(void)
{
    return "leak:libxlutil.so\n";
}
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    libxlmig_cluster_config c;
    char *json = NULL;
    FILE *f;

    if (!ctx) {
        /* The default logger keeps only critical messages. */
        if (libxlmig_ctx_alloc(&ctx, NULL))
            abort();
        snprintf(path, sizeof(path), "/tmp/xlmig-fuzz-config.%d.cfg",
                 (int)getpid());
    }
    if (size > 65536)
        return 0;
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f))
        abort();
    libxlmig_cluster_config_init(&c);
    if (!libxlmig_cluster_config_load(ctx, path, &c)) {
        if (libxlmig_cluster_config_to_json(ctx, &c, &json))
            abort();
        free(json);
    }
    libxlmig_cluster_config_dispose(&c);
    unlink(path);
    return 0;
}
