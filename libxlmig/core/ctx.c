/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The libxlmig context: the logger, the last error message, the opened
 * backend.  Also the error-code table and the logging entry point.
 */
#include <stdint.h>

#include "core/core.h"

int libxlmig_ctx_alloc(libxlmig_ctx **ctx_r, xentoollog_logger *lg)
{
    libxlmig_ctx *ctx = calloc(1, sizeof(*ctx));

    if (!ctx)
        return LIBXLMIG_ERROR_NOMEM;
    if (!lg) {
        /* libxl and libxenctrl need a logger: keep only critical ones. */
        ctx->owned_lg = (xentoollog_logger *)
            xtl_createlogger_stdiostream(stderr, XTL_CRITICAL, 0);
        if (!ctx->owned_lg) {
            free(ctx);
            return LIBXLMIG_ERROR_NOMEM;
        }
        lg = ctx->owned_lg;
    }
    ctx->lg = lg;
    ctx->backend_kind = LIBXLMIG_BACKEND_XEN;
    *ctx_r = ctx;
    return 0;
}

void libxlmig_ctx_free(libxlmig_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->backend_close)
        ctx->backend_close(ctx);
    if (ctx->owned_lg)
        xtl_logger_destroy(ctx->owned_lg);
    free(ctx);
}

xentoollog_logger *libxlmig_ctx_logger(libxlmig_ctx *ctx)
{
    return ctx->lg;
}

const char *libxlmig_last_error(libxlmig_ctx *ctx)
{
    return ctx->last_error;
}

void libxlmig__log(libxlmig_ctx *ctx, xentoollog_level level, int errnoval,
                   const char *file, int line, const char *func,
                   int64_t domid, const char *fmt, ...)
{
    char msg[LIBXLMIG__LAST_ERROR_MAX - 128], *p;
    va_list ap;
    int esave = errno;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages may quote what a peer sent: one line, nothing that a
     * terminal or a log reader would take for control. */
    for (p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';

    if (level >= XTL_ERROR) {
        if (errnoval >= 0)
            snprintf(ctx->last_error, sizeof(ctx->last_error), "%s: %s",
                     msg, strerror(errnoval));
        else
            snprintf(ctx->last_error, sizeof(ctx->last_error), "%s", msg);
    }
    {
        if (domid >= 0)
            xtl_log(ctx->lg, level, errnoval, "xlmig",
                    "%s:%d:%s: domain %lld: %s", file, line, func,
                    (long long)domid, msg);
        else
            xtl_log(ctx->lg, level, errnoval, "xlmig", "%s:%d:%s: %s",
                    file, line, func, msg);
    }
    errno = esave;
}

static const struct {
    int rc;
    const char *name;
    const char *text;
} error_table[] = {
    /* libxl's ERROR_* codes (libxl.h, libxl_error): stable ABI values. */
    { -1, "ERROR_NONSPECIFIC", "libxl: unspecified error" },
    { -2, "ERROR_VERSION", "libxl: version mismatch" },
    { -3, "ERROR_FAIL", "libxl: operation failed" },
    { -4, "ERROR_NI", "libxl: not implemented" },
    { -5, "ERROR_NOMEM", "libxl: out of memory" },
    { -6, "ERROR_INVAL", "libxl: invalid argument" },
    { -7, "ERROR_BADFAIL", "libxl: failure while handling failure" },
    { -8, "ERROR_GUEST_TIMEDOUT", "libxl: guest timed out" },
    { -9, "ERROR_TIMEDOUT", "libxl: timed out" },
    { -10, "ERROR_NOPARAVIRT", "libxl: guest has no paravirtual drivers" },
    { -11, "ERROR_NOT_READY", "libxl: not ready" },
    { -12, "ERROR_OSEVENT_REG_FAIL", "libxl: event registration failed" },
    { -13, "ERROR_BUFFERFULL", "libxl: buffer full" },
    { -14, "ERROR_UNKNOWN_CHILD", "libxl: unknown child process" },
    { -15, "ERROR_LOCK_FAIL", "libxl: lock failed" },
    { -16, "ERROR_JSON_CONFIG_EMPTY", "libxl: empty JSON configuration" },
    { -17, "ERROR_DEVICE_EXISTS", "libxl: device exists" },
    { -18, "ERROR_CHECKPOINT_DEVOPS_DOES_NOT_MATCH",
      "libxl: checkpoint device ops mismatch" },
    { -19, "ERROR_CHECKPOINT_DEVICE_NOT_SUPPORTED",
      "libxl: checkpoint device not supported" },
    { -20, "ERROR_VNUMA_CONFIG_INVALID", "libxl: invalid vNUMA config" },
    { -21, "ERROR_DOMAIN_NOTFOUND", "libxl: domain not found" },
    { -22, "ERROR_ABORTED", "libxl: aborted" },
    { -23, "ERROR_NOTFOUND", "libxl: not found" },
    { -24, "ERROR_DOMAIN_DESTROYED", "libxl: domain destroyed" },
    { -25, "ERROR_FEATURE_REMOVED", "libxl: feature removed" },
    { -26, "ERROR_PROTOCOL_ERROR_QMP", "libxl: QMP protocol error" },
    { -27, "ERROR_UNKNOWN_QMP_ERROR", "libxl: unknown QMP error" },
    { -28, "ERROR_QMP_GENERIC_ERROR", "libxl: QMP generic error" },
    { -29, "ERROR_QMP_COMMAND_NOT_FOUND", "libxl: QMP command not found" },
    { -30, "ERROR_QMP_DEVICE_NOT_ACTIVE", "libxl: QMP device not active" },
    { -31, "ERROR_QMP_DEVICE_NOT_FOUND", "libxl: QMP device not found" },
    { -32, "ERROR_QEMU_API", "libxl: QEMU API error" },
    /* Ours. */
    { LIBXLMIG_ERROR_FAIL, "FAIL", "operation failed" },
    { LIBXLMIG_ERROR_NOMEM, "NOMEM", "out of memory" },
    { LIBXLMIG_ERROR_INVAL, "INVAL", "invalid argument" },
    { LIBXLMIG_ERROR_NOT_DOM0, "NOT_DOM0", "not running in a Xen dom0" },
    { LIBXLMIG_ERROR_BACKEND, "BACKEND", "backend unavailable" },
    { LIBXLMIG_ERROR_JSON, "JSON", "JSON encoding or parsing failed" },
    { LIBXLMIG_ERROR_NOTFOUND, "NOTFOUND", "not found" },
    { LIBXLMIG_ERROR_CONFIG, "CONFIG", "bad configuration" },
    { LIBXLMIG_ERROR_IO, "IO", "input/output error" },
    { LIBXLMIG_ERROR_PROTOCOL, "PROTOCOL", "protocol error" },
    { LIBXLMIG_ERROR_INCOMPATIBLE, "INCOMPATIBLE", "incompatible" },
    { LIBXLMIG_ERROR_REFUSED, "REFUSED", "refused" },
    { LIBXLMIG_ERROR_AUTH, "AUTH", "authentication failed" },
    { LIBXLMIG_ERROR_TIMEOUT, "TIMEOUT", "timed out" },
    { LIBXLMIG_ERROR_CANCELLED, "CANCELLED", "cancelled" },
    { LIBXLMIG_ERROR_EXISTS, "EXISTS", "already exists" },
    { LIBXLMIG_ERROR_UNSUPPORTED, "UNSUPPORTED", "not supported" },
    { LIBXLMIG_ERROR_BUSY, "BUSY", "busy" },
    { LIBXLMIG_ERROR_AMBIGUOUS, "AMBIGUOUS",
      "handoff outcome unknown; both copies paused" },
};

const char *libxlmig_strerror(int rc)
{
    size_t i;

    if (rc == 0)
        return "success";
    for (i = 0; i < ARRAY_SIZE(error_table); i++)
        if (error_table[i].rc == rc)
            return error_table[i].text;
    return "unknown error";
}

const char *libxlmig__error_name(int rc)
{
    size_t i;

    if (rc == 0)
        return "OK";
    for (i = 0; i < ARRAY_SIZE(error_table); i++)
        if (error_table[i].rc == rc)
            return error_table[i].name;
    return "UNKNOWN";
}
