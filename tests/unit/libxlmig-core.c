/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Unit tests of the library core: context, error table, arena, logging
 * and last-error capture, JSON helpers (and their nesting limit), names
 * and ids, the state directory's one writer and reader, and backend
 * selection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "tap.h"

static const struct {
    int rc;
    const char *text;
    const char *name;
} errors[] = {
    { 0, "success", "OK" },
    { -3, "libxl: operation failed", "ERROR_FAIL" },
    { -21, "libxl: domain not found", "ERROR_DOMAIN_NOTFOUND" },
    { LIBXLMIG_ERROR_NOT_DOM0, "not running in a Xen dom0", "NOT_DOM0" },
    { LIBXLMIG_ERROR_AUTH, "authentication failed", "AUTH" },
    { LIBXLMIG_ERROR_BUSY, "busy", "BUSY" },
    { -999, "unknown error", "UNKNOWN" },
    { 17, "unknown error", "UNKNOWN" },
};

static void test_errors(void)
{
    size_t i;
    int rc;

    for (i = 0; i < ARRAY_SIZE(errors); i++) {
        is_string(errors[i].text, libxlmig_strerror(errors[i].rc),
                  "strerror(%d)", errors[i].rc);
        is_string(errors[i].name, libxlmig__error_name(errors[i].rc),
                  "error name of %d", errors[i].rc);
    }
    /* Every one of our codes has its own text. */
    for (rc = LIBXLMIG_ERROR_FAIL; rc > LIBXLMIG_ERROR__LAST; rc--)
        if (!strcmp(libxlmig_strerror(rc), "unknown error"))
            break;
    is_int(LIBXLMIG_ERROR__LAST, rc, "every libxlmig error code has a text");
}

static void test_arena(libxlmig_ctx *ctx)
{
    GC_INIT(ctx);
    char *s, *big;
    int *arr;
    size_t i;
    bool zero = true;

    s = GCSPRINTF("%s-%d", "dom", 7);
    is_string("dom-7", s, "GCSPRINTF formats into the arena");
    GCNEW_ARRAY(arr, 1000);
    for (i = 0; i < 1000; i++)
        zero = zero && arr[i] == 0;
    ok(zero, "GCNEW_ARRAY returns zeroed memory");
    big = libxlmig__zalloc(gc, 16);
    strcpy(big, "0123456789abcde");
    big = libxlmig__realloc(gc, big, 1 << 20);
    is_string("0123456789abcde", big, "realloc keeps content");
    for (i = 0; i < 100; i++)
        (void)GCSPRINTF("%zu", i);
    ok(gc->nptrs >= 103, "arena tracks every allocation (%zu)", gc->nptrs);
    is_string(NULL, GCSTRDUP(NULL), "strdup of NULL is NULL");
    GC_FREE;
    is_int(0, (long long)gc->nptrs, "GC_FREE empties the arena");
}

static void test_last_error(libxlmig_ctx *ctx)
{
    GC_INIT(ctx);

    is_string("", libxlmig_last_error(ctx), "no error yet");
    LOG(INFO, "just information");
    is_string("", libxlmig_last_error(ctx), "INFO is not an error");
    LOG(ERROR, "cannot frob %s", "node2");
    is_string("cannot frob node2", libxlmig_last_error(ctx),
              "ERROR becomes the last error");
    errno = ENOENT;
    LOGE(ERROR, "open %s", "/x");
    is_string("open /x: No such file or directory",
              libxlmig_last_error(ctx), "LOGE appends errno text");
    GC_FREE;
}

static void test_json(libxlmig_ctx *ctx)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    yajl_val tree;
    char *json = NULL;
    uint64_t u = 0;
    long long i = 0;
    double d = 0;
    bool b = false;
    int rc;

    yajl_gen_map_open(g);
    libxlmig__yajl_gen_kv_int(g, "version", 1);
    libxlmig__yajl_gen_kv_str(g, "name", "guest \"one\"");
    libxlmig__yajl_gen_kv_str(g, "none", NULL);
    libxlmig__yajl_gen_kv_uint(g, "big", 18446744073709551615ULL);
    libxlmig__yajl_gen_kv_int(g, "neg", -42);
    libxlmig__yajl_gen_kv_double(g, "ratio", 0.5);
    libxlmig__yajl_gen_kv_bool(g, "flag", true);
    yajl_gen_map_close(g);
    rc = libxlmig__json_finish(gc, g, &json);
    is_int(0, rc, "generate a document");
    is_string("{\"version\":1,\"name\":\"guest \\\"one\\\"\",\"none\":null,"
              "\"big\":18446744073709551615,\"neg\":-42,\"ratio\":0.5,"
              "\"flag\":true}", json, "generated JSON text");

    rc = libxlmig__json_parse(gc, json, "test document", &tree);
    is_int(0, rc, "parse it back");
    is_int(0, libxlmig__json_check_version(gc, tree, "doc", 1),
           "version 1 accepted");
    is_int(LIBXLMIG_ERROR_JSON,
           libxlmig__json_check_version(gc, tree, "doc", 0),
           "version above the maximum refused");
    like_string("version 1 is not supported", libxlmig_last_error(ctx),
                "version refusal names the version");
    is_string("guest \"one\"", libxlmig__json_get_str(tree, "name"),
              "string value");
    is_string(NULL, libxlmig__json_get_str(tree, "none"), "null is no string");
    is_int(0, libxlmig__json_get_u64(gc, tree, "big", &u), "u64 lookup");
    ok(u == 18446744073709551615ULL, "u64 keeps all 64 bits");
    is_int(LIBXLMIG_ERROR_JSON, libxlmig__json_get_u64(gc, tree, "neg", &u),
           "negative is no u64");
    is_int(0, libxlmig__json_get_int(gc, tree, "neg", &i), "int lookup");
    is_int(-42, i, "int value");
    is_int(0, libxlmig__json_get_double(gc, tree, "ratio", &d),
           "double lookup");
    ok(d == 0.5, "double value");
    is_int(0, libxlmig__json_get_bool(gc, tree, "flag", &b), "bool lookup");
    is_bool(true, b, "bool value");
    is_int(LIBXLMIG_ERROR_JSON, libxlmig__json_get_bool(gc, tree, "missing",
                                                        &b),
           "missing key refused");
    like_string("\"missing\"", libxlmig_last_error(ctx),
                "error names the missing key");

    rc = libxlmig__json_parse(gc, "{\"a\": [1, 2", "broken input", &tree);
    is_int(LIBXLMIG_ERROR_JSON, rc, "truncated JSON refused");
    like_string("broken input: invalid JSON", libxlmig_last_error(ctx),
                "parse error names the input");
    free(json);
    GC_FREE;
}

static void test_error_json(libxlmig_ctx *ctx)
{
    char *json = NULL;

    is_int(0, libxlmig_error_to_json(ctx, LIBXLMIG_ERROR_NOT_DOM0,
                                     "not running in a Xen dom0: x", &json),
           "error object encodes");
    is_string("{\"version\":1,\"error\":{\"code\":-1003,\"name\":"
              "\"NOT_DOM0\",\"message\":\"not running in a Xen dom0: x\"}}",
              json, "error object text");
    free(json);
}

static void test_backends(libxlmig_ctx *ctx)
{
    libxlmig_backend_kind k = LIBXLMIG_BACKEND_XEN;
    libxlmig_host_info hi;
    char *json = NULL;

    is_int(0, libxlmig_backend_kind_from_string("sim", &k), "parse sim");
    is_int(LIBXLMIG_BACKEND_SIM, k, "sim kind");
    is_int(LIBXLMIG_ERROR_INVAL,
           libxlmig_backend_kind_from_string("kvm", &k), "kvm refused");
    is_string("xen", libxlmig_backend_kind_to_string(LIBXLMIG_BACKEND_XEN),
              "xen name");

    libxlmig_host_info_init(&hi);
    is_int(LIBXLMIG_ERROR_BACKEND, libxlmig_host_info_get(ctx, &hi),
           "host info without a backend refused");
    is_int(0, libxlmig_backend_open(ctx, LIBXLMIG_BACKEND_SIM),
           "open the sim backend");
    is_int(0, libxlmig_host_info_get(ctx, &hi), "sim host info");
    is_string("sim", hi.backend, "backend named");
    ok(hi.total_memory_kib > 0 && hi.free_memory_kib <= hi.total_memory_kib,
       "memory figures are consistent (%llu of %llu KiB free)",
       (unsigned long long)hi.free_memory_kib,
       (unsigned long long)hi.total_memory_kib);
    ok(hi.nr_cpus >= 1, "at least one CPU");
    is_int(0, libxlmig_host_info_to_json(ctx, &hi, &json), "to JSON");
    like_string("\"backend\": \"sim\"", json, "JSON names the backend");
    free(json);
    libxlmig_host_info_dispose(&hi);
    libxlmig_host_info_dispose(&hi);
    ok(hi.backend == NULL, "dispose is idempotent");
}

/* A text of depth brackets of open, then as many of close. */
static char *nested(libxlmig__gc *gc, size_t depth, char open, char close)
{
    char *t = libxlmig__zalloc(gc, 2 * depth + 1);

    memset(t, open, depth);
    memset(t + depth, close, depth);
    return t;
}

static void test_json_depth(libxlmig_ctx *ctx)
{
    GC_INIT(ctx);
    yajl_val v;

    is_int(0, libxlmig__json_parse(gc, nested(gc, 64, '[', ']'), "t", &v),
           "JSON nested 64 deep parses");
    is_int(LIBXLMIG_ERROR_JSON,
           libxlmig__json_parse(gc, nested(gc, 65, '[', ']'), "t", &v),
           "65 deep is refused");
    like_string("nested deeper than 64 levels", libxlmig_last_error(ctx),
                "and the message says why");
    is_int(LIBXLMIG_ERROR_JSON,
           libxlmig__json_parse(gc, nested(gc, 524000, '[', ']'), "t", &v),
           "524000 deep (the attack) is refused without recursion");
    is_int(0, libxlmig__json_parse(gc, GCSPRINTF("{\"s\":\"%s\"}",
                                                   nested(gc, 100, '[', '{')),
                                   "t", &v),
           "brackets inside a string do not count");
    GC_FREE;
}

static void test_names(void)
{
    ok(libxlmig__id_ok("0123456789abcdef0123456789abcdef"),
       "32 lowercase hex digits are an id");
    ok(!libxlmig__id_ok("0123456789ABCDEF0123456789abcdef"),
       "uppercase is not");
    ok(!libxlmig__id_ok("../../././././././outside/pwned1"),
       "a path of 32 characters is not");
    ok(!libxlmig__id_ok("0123456789abcdef0123456789abcde"), "31 digits not");
    ok(!libxlmig__id_ok(NULL), "NULL is not");
    ok(libxlmig__name_ok("web-1.a_b", 47), "a plain name is a name");
    ok(!libxlmig__name_ok("..", 47), "'..' is not");
    ok(!libxlmig__name_ok(".hidden", 47), "a leading dot is not");
    ok(!libxlmig__name_ok("a;rm -rf x", 47), "shell metacharacters are not");
    ok(!libxlmig__name_ok("a/b", 47), "a slash is not");
}

static void test_state_files(libxlmig_ctx *ctx)
{
    GC_INIT(ctx);
    char dir[] = "/tmp/xlmig-state.XXXXXX", *text = NULL;
    const char *bad[] = { "../escape", ".hidden", "a/b", "" };
    size_t i;

    if (!mkdtemp(dir)) sysbail("mkdtemp");
    setenv("XLMIG_STATE_DIR", dir, 1);
    is_int(0, libxlmig__state_file_write(gc, "sub", "rec", "one\n"),
           "a record is written");
    is_int(0, libxlmig__state_file_read(gc, "sub", "rec", 64, &text),
           "and read back");
    is_string("one\n", text, "intact");
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        errno = 0;
        ok(libxlmig__state_file_write(gc, "sub", bad[i], "x") == -1 &&
           errno == EINVAL, "leaf '%s' is refused", bad[i]);
    }
    ok(libxlmig__state_file_write(gc, "../up", "rec", "x") == -1,
       "a subdirectory '../up' is refused");
    /* A link planted where the record goes is not followed. */
    if (symlink("/etc/passwd", GCSPRINTF("%s/sub/link", dir)))
        sysbail("symlink");
    ok(libxlmig__state_file_read(gc, "sub", "link", 64, &text) == -1,
       "a planted symlink is not read through");
    if (symlink(GCSPRINTF("%s/outside", dir),
                GCSPRINTF("%s/sub/evil.tmp", dir)))
        sysbail("symlink");
    ok(libxlmig__state_file_write(gc, "sub", "evil", "x") == -1 &&
       access(GCSPRINTF("%s/outside", dir), F_OK) != 0,
       "nor written through, as the temporary file either");
    ok(libxlmig__state_file_exists("sub", "rec") &&
       !libxlmig__state_file_exists("sub", "link"),
       "exists: a record yes, a link no");
    is_int(0, libxlmig__state_file_remove("sub", "rec"), "removed");
    ok(!libxlmig__state_file_exists("sub", "rec"), "and gone");
    unsetenv("XLMIG_STATE_DIR");
    if (system(GCSPRINTF("rm -rf %s", dir))) diag("cannot remove %s", dir);
    GC_FREE;
}

static void test_log_sanitised(libxlmig_ctx *ctx)
{
    GC_INIT(ctx);

    LOG(ERROR, "peer says: %s", "bye\nxlmig: FORGED\x1b[2J");
    ok(!strchr(libxlmig_last_error(ctx), '\n') &&
       !strchr(libxlmig_last_error(ctx), '\x1b'),
       "a logged peer text holds no newline or escape");
    like_string("bye?xlmig: FORGED?[2J", libxlmig_last_error(ctx),
                "they become '?'");
    GC_FREE;
}

int main(void)
{
    libxlmig_ctx *ctx = NULL;

    plan_lazy();
    if (libxlmig_ctx_alloc(&ctx, NULL))
        bail("cannot allocate a context");
    test_errors();
    test_arena(ctx);
    test_last_error(ctx);
    test_json(ctx);
    test_error_json(ctx);
    test_backends(ctx);
    test_json_depth(ctx);
    test_names();
    test_state_files(ctx);
    test_log_sanitised(ctx);
    libxlmig_ctx_free(ctx);
    return 0;
}
