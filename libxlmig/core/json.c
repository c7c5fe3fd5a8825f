/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * yajl helpers: generator shorthands for key/value pairs, arena-owned
 * generators and parse trees, and typed lookups with clear errors.
 */
#include <math.h>

#include "core/core.h"

static void json_gen_free(void *p)
{
    yajl_gen_free(p);
}

static void json_tree_free(void *p)
{
    yajl_tree_free(p);
}

yajl_gen libxlmig__json_gen_alloc(libxlmig__gc *gc, bool pretty)
{
    yajl_gen g = yajl_gen_alloc(NULL);

    if (!g)
        libxlmig__alloc_failed(gc->owner, __func__, 1, sizeof(g));
    if (pretty) {
        yajl_gen_config(g, yajl_gen_beautify, 1);
        yajl_gen_config(g, yajl_gen_indent_string, "    ");
    }
    libxlmig__ptr_add_dtor(gc, g, json_gen_free);
    return g;
}

yajl_gen_status libxlmig__yajl_gen_str(yajl_gen g, const char *s)
{
    if (!s)
        return yajl_gen_null(g);
    return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

yajl_gen_status libxlmig__yajl_gen_kv_str(yajl_gen g, const char *k,
                                          const char *v)
{
    yajl_gen_status s = libxlmig__yajl_gen_str(g, k);

    return s != yajl_gen_status_ok ? s : libxlmig__yajl_gen_str(g, v);
}

yajl_gen_status libxlmig__yajl_gen_kv_int(yajl_gen g, const char *k,
                                          long long v)
{
    yajl_gen_status s = libxlmig__yajl_gen_str(g, k);

    return s != yajl_gen_status_ok ? s : yajl_gen_integer(g, v);
}

yajl_gen_status libxlmig__yajl_gen_kv_uint(yajl_gen g, const char *k,
                                           unsigned long long v)
{
    yajl_gen_status s = libxlmig__yajl_gen_str(g, k);
    char buf[32];
    int n;

    if (s != yajl_gen_status_ok)
        return s;
    /* yajl_gen_integer takes long long; emit full-range u64 as a number. */
    n = snprintf(buf, sizeof(buf), "%llu", v);
    return yajl_gen_number(g, buf, (size_t)n);
}

yajl_gen_status libxlmig__yajl_gen_kv_double(yajl_gen g, const char *k,
                                             double v)
{
    yajl_gen_status s = libxlmig__yajl_gen_str(g, k);

    if (s != yajl_gen_status_ok)
        return s;
    if (!isfinite(v))
        return yajl_gen_null(g);
    return yajl_gen_double(g, v);
}

yajl_gen_status libxlmig__yajl_gen_kv_bool(yajl_gen g, const char *k,
                                           bool v)
{
    yajl_gen_status s = libxlmig__yajl_gen_str(g, k);

    return s != yajl_gen_status_ok ? s : yajl_gen_bool(g, v);
}

int libxlmig__json_finish(libxlmig__gc *gc, yajl_gen g, char **json_r)
{
    const unsigned char *buf;
    size_t len;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        LOG(ERROR, "cannot finish JSON document");
        return LIBXLMIG_ERROR_JSON;
    }
    *json_r = strndup((const char *)buf, len);
    if (!*json_r)
        libxlmig__alloc_failed(CTX, __func__, 1, len + 1);
    return 0;
}

/*
 * The deepest nesting of arrays and objects in text, counted outside
 * strings, up to limit + 1: yajl's tree is built and freed by recursion,
 * so depth is checked before any tree exists.
 */
static unsigned json_depth(const char *text, unsigned limit)
{
    unsigned depth = 0, max = 0;
    bool in_str = false;
    const char *p;

    for (p = text; *p && max <= limit; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = false;
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '[' || *p == '{') {
            if (++depth > max)
                max = depth;
        } else if ((*p == ']' || *p == '}') && depth) {
            depth--;
        }
    }
    return max;
}

int libxlmig__json_parse(libxlmig__gc *gc, const char *text,
                         const char *what, yajl_val *tree_r)
{
    char err[256];
    yajl_val tree;
    size_t n;

    if (json_depth(text, LIBXLMIG__JSON_MAX_DEPTH) >
        LIBXLMIG__JSON_MAX_DEPTH) {
        LOG(ERROR, "%s: invalid JSON: nested deeper than %u levels", what,
            LIBXLMIG__JSON_MAX_DEPTH);
        return LIBXLMIG_ERROR_JSON;
    }
    err[0] = '\0';
    tree = yajl_tree_parse(text, err, sizeof(err));
    if (!tree) {
        n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        LOG(ERROR, "%s: invalid JSON: %s", what, err[0] ? err : "parse error");
        return LIBXLMIG_ERROR_JSON;
    }
    libxlmig__ptr_add_dtor(gc, tree, json_tree_free);
    *tree_r = tree;
    return 0;
}

static yajl_val json_get(yajl_val obj, const char *key)
{
    const char *path[] = { key, NULL };

    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    return yajl_tree_get(obj, path, yajl_t_any);
}

const char *libxlmig__json_get_str(yajl_val obj, const char *key)
{
    yajl_val v = json_get(obj, key);

    return YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

int libxlmig__json_get_u64(libxlmig__gc *gc, yajl_val obj, const char *key,
                           uint64_t *v_r)
{
    yajl_val v = json_get(obj, key);
    unsigned long long u;
    char *end;

    if (!v || !YAJL_IS_NUMBER(v)) {
        LOG(ERROR, "JSON key \"%s\": missing or not a number", key);
        return LIBXLMIG_ERROR_JSON;
    }
    errno = 0;
    u = strtoull(YAJL_GET_NUMBER(v), &end, 10);
    if (errno || *end || YAJL_GET_NUMBER(v)[0] == '-') {
        LOG(ERROR, "JSON key \"%s\": \"%s\" is not an unsigned integer",
            key, YAJL_GET_NUMBER(v));
        return LIBXLMIG_ERROR_JSON;
    }
    *v_r = u;
    return 0;
}

int libxlmig__json_get_int(libxlmig__gc *gc, yajl_val obj, const char *key,
                           long long *v_r)
{
    yajl_val v = json_get(obj, key);

    if (!v || !YAJL_IS_INTEGER(v)) {
        LOG(ERROR, "JSON key \"%s\": missing or not an integer", key);
        return LIBXLMIG_ERROR_JSON;
    }
    *v_r = YAJL_GET_INTEGER(v);
    return 0;
}

int libxlmig__json_get_bool(libxlmig__gc *gc, yajl_val obj, const char *key,
                            bool *v_r)
{
    yajl_val v = json_get(obj, key);

    if (!v || !(YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))) {
        LOG(ERROR, "JSON key \"%s\": missing or not a boolean", key);
        return LIBXLMIG_ERROR_JSON;
    }
    *v_r = YAJL_IS_TRUE(v);
    return 0;
}

int libxlmig__json_get_bool_opt(libxlmig__gc *gc, yajl_val obj,
                                const char *key, bool *v_r)
{
    return json_get(obj, key) ? libxlmig__json_get_bool(gc, obj, key, v_r)
                              : 0;
}

int libxlmig__json_get_u64_opt(libxlmig__gc *gc, yajl_val obj,
                               const char *key, uint64_t *v_r)
{
    return json_get(obj, key) ? libxlmig__json_get_u64(gc, obj, key, v_r)
                              : 0;
}

int libxlmig__json_get_double(libxlmig__gc *gc, yajl_val obj,
                              const char *key, double *v_r)
{
    yajl_val v = json_get(obj, key);

    if (!v || !YAJL_IS_NUMBER(v)) {
        LOG(ERROR, "JSON key \"%s\": missing or not a number", key);
        return LIBXLMIG_ERROR_JSON;
    }
    *v_r = YAJL_IS_DOUBLE(v) ? YAJL_GET_DOUBLE(v)
                             : (double)YAJL_GET_INTEGER(v);
    return 0;
}

int libxlmig__json_check_version(libxlmig__gc *gc, yajl_val obj,
                                 const char *what, long long max_version)
{
    long long v;

    if (!YAJL_IS_OBJECT(obj)) {
        LOG(ERROR, "%s: expected a JSON object", what);
        return LIBXLMIG_ERROR_JSON;
    }
    if (libxlmig__json_get_int(gc, obj, "version", &v)) {
        LOG(ERROR, "%s: no \"version\" key", what);
        return LIBXLMIG_ERROR_JSON;
    }
    if (v < 1 || v > max_version) {
        LOG(ERROR, "%s: version %lld is not supported (this build reads "
            "up to %lld)", what, v, max_version);
        return LIBXLMIG_ERROR_JSON;
    }
    return 0;
}

yajl_gen_status libxlmig__yajl_gen_val(yajl_gen g, yajl_val v)
{
    yajl_gen_status s;
    size_t i;

    if (!v || YAJL_IS_NULL(v))
        return yajl_gen_null(g);
    if (YAJL_IS_STRING(v))
        return libxlmig__yajl_gen_str(g, YAJL_GET_STRING(v));
    if (YAJL_IS_NUMBER(v))
        return yajl_gen_number(g, YAJL_GET_NUMBER(v),
                               strlen(YAJL_GET_NUMBER(v)));
    if (YAJL_IS_TRUE(v))
        return yajl_gen_bool(g, 1);
    if (YAJL_IS_FALSE(v))
        return yajl_gen_bool(g, 0);
    if (YAJL_IS_ARRAY(v)) {
        s = yajl_gen_array_open(g);
        for (i = 0; s == yajl_gen_status_ok && i < v->u.array.len; i++)
            s = libxlmig__yajl_gen_val(g, v->u.array.values[i]);
        return s == yajl_gen_status_ok ? yajl_gen_array_close(g) : s;
    }
    s = yajl_gen_map_open(g);
    for (i = 0; s == yajl_gen_status_ok && i < v->u.object.len; i++) {
        s = libxlmig__yajl_gen_str(g, v->u.object.keys[i]);
        if (s == yajl_gen_status_ok)
            s = libxlmig__yajl_gen_val(g, v->u.object.values[i]);
    }
    return s == yajl_gen_status_ok ? yajl_gen_map_close(g) : s;
}

int libxlmig__json_gen_to_val(libxlmig__gc *gc, yajl_gen g, const char *what,
                              yajl_val *v_r)
{
    const unsigned char *buf;
    size_t len;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        LOG(ERROR, "%s: cannot finish the JSON document", what);
        return LIBXLMIG_ERROR_JSON;
    }
    return libxlmig__json_parse(gc, GCSTRDUP((const char *)buf), what, v_r);
}

int libxlmig__json_encode(libxlmig_ctx *ctx, libxlmig__json_gen_fn *fn,
                          const void *obj, bool pretty, const char *what,
                          char **json_r)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, pretty);
    int rc;

    if (fn(g, obj) != yajl_gen_status_ok) {
        LOG(ERROR, "cannot encode %s", what);
        rc = LIBXLMIG_ERROR_JSON;
        goto out;
    }
    rc = libxlmig__json_finish(gc, g, json_r);
 out:
    GC_FREE;
    return rc;
}

/* ---- errors as JSON (libxlmig_error_to_json) ---- */

static yajl_gen_status error_gen_json(yajl_gen g, int rc,
                                      const char *message)
{
    yajl_gen_status s;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "version", 1);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_str(g, "error");
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_int(g, "code", rc);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "name", libxlmig__error_name(rc));
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "message",
                                  message && *message ? message
                                  : libxlmig_strerror(rc));
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_close(g);
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_close(g);
 out:
    return s;
}

int libxlmig_error_to_json(libxlmig_ctx *ctx, int err, const char *message,
                           char **json_r)
{
    GC_INIT(ctx);
    yajl_gen g = libxlmig__json_gen_alloc(gc, false);
    int rc;

    if (error_gen_json(g, err, message) != yajl_gen_status_ok) {
        LOG(ERROR, "cannot encode error object");
        rc = LIBXLMIG_ERROR_JSON;
        goto out;
    }
    rc = libxlmig__json_finish(gc, g, json_r);
 out:
    GC_FREE;
    return rc;
}
