/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration parameters: named defaults, names of the limit actions and
 * of the compression modes, and their JSON form (the daemon protocol and
 * jobs of other nodes carry them): "given" lists the members the caller
 * set, the others the config decides (libxlmig_params_resolve).
 */
#include "engine/engine.h"

void libxlmig_params_init(libxlmig_params *p)
{
    memset(p, 0, sizeof(*p));
    p->downtime_limit_ms = LIBXLMIG_DEFAULT_DOWNTIME_MS;
    p->max_rounds = LIBXLMIG_DEFAULT_MAX_ROUNDS;
    p->max_time_ms = LIBXLMIG_DEFAULT_MAX_TIME_MS;
    p->on_limit = LIBXLMIG_LIMIT_FORCE;
    p->auto_converge = true;
    p->throttle_initial_pct = LIBXLMIG_DEFAULT_THROTTLE_INITIAL;
    p->throttle_step_pct = LIBXLMIG_DEFAULT_THROTTLE_STEP;
    p->throttle_max_pct = LIBXLMIG_DEFAULT_THROTTLE_MAX;
    p->bandwidth_limit = LIBXLMIG_DEFAULT_BANDWIDTH_LIMIT;
    p->compression = LIBXLMIG_DEFAULT_COMPRESSION;
    p->given = 0;
}

static const char *const compression_names[] = {
    [LIBXLMIG_COMPRESSION_OFF] = "off",
    [LIBXLMIG_COMPRESSION_AUTO] = "auto",
    [LIBXLMIG_COMPRESSION_LZ4] = "lz4",
    [LIBXLMIG_COMPRESSION_ZSTD] = "zstd",
};

const char *libxlmig_compression_to_string(libxlmig_compression c)
{
    return (unsigned)c < ARRAY_SIZE(compression_names)
           ? compression_names[c] : NULL;
}

int libxlmig_compression_from_string(const char *s, libxlmig_compression *c_r)
{
    size_t i;

    for (i = 0; s && i < ARRAY_SIZE(compression_names); i++)
        if (!strcmp(s, compression_names[i])) {
            *c_r = (libxlmig_compression)i;
            return 0;
        }
    return LIBXLMIG_ERROR_INVAL;
}

const char *libxlmig_limit_action_to_string(libxlmig_limit_action a)
{
    return a == LIBXLMIG_LIMIT_ABORT ? "abort" : "force";
}

int libxlmig_limit_action_from_string(const char *s,
                                      libxlmig_limit_action *a_r)
{
    if (s && !strcmp(s, "abort")) { *a_r = LIBXLMIG_LIMIT_ABORT; return 0; }
    if (s && !strcmp(s, "force")) { *a_r = LIBXLMIG_LIMIT_FORCE; return 0; }
    return LIBXLMIG_ERROR_INVAL;
}

/* The members "given" names, by their JSON keys. */
static const struct {
    unsigned bit;
    const char *name;
} given_names[] = {
    { LIBXLMIG_PARAM_DOWNTIME, "downtime_limit_ms" },
    { LIBXLMIG_PARAM_BANDWIDTH, "bandwidth_limit" },
    { LIBXLMIG_PARAM_COMPRESSION, "compression" },
};

yajl_gen_status libxlmig__params_gen_json(yajl_gen g,
                                          const libxlmig_params *p)
{
    yajl_gen_status s;
    size_t i;

    s = yajl_gen_map_open(g);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "downtime_limit_ms",
                                   p->downtime_limit_ms);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "max_rounds", p->max_rounds);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "max_time_ms", p->max_time_ms);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "on_limit",
                                  libxlmig_limit_action_to_string(p->on_limit));
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_bool(g, "auto_converge", p->auto_converge);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "throttle_initial_pct",
                                   p->throttle_initial_pct);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "throttle_step_pct",
                                   p->throttle_step_pct);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "throttle_max_pct",
                                   p->throttle_max_pct);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_uint(g, "bandwidth_limit", p->bandwidth_limit);
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_kv_str(g, "compression",
                                  libxlmig_compression_to_string(
                                      p->compression));
    if (s != yajl_gen_status_ok) goto out;
    s = libxlmig__yajl_gen_str(g, "given");
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_array_open(g);
    for (i = 0; s == yajl_gen_status_ok && i < ARRAY_SIZE(given_names); i++)
        if (p->given & given_names[i].bit)
            s = libxlmig__yajl_gen_str(g, given_names[i].name);
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_array_close(g);
    if (s != yajl_gen_status_ok) goto out;
    s = yajl_gen_map_close(g);
 out:
    return s;
}

/*
 * bandwidth_limit: bytes/s as a number, or a string in the syntax of
 * libxlmig_bandwidth_parse ("800", "1Gbit", "100MiB"); either within the
 * range.
 */
static int params_bandwidth(libxlmig__gc *gc, yajl_val v, uint64_t *bps_r)
{
    const char *path[] = { "bandwidth_limit", NULL };
    yajl_val b = yajl_tree_get(v, path, yajl_t_any);
    char why[256];
    int rc;

    if (b && YAJL_IS_STRING(b)) {
        rc = libxlmig_bandwidth_parse(YAJL_GET_STRING(b), bps_r, why,
                                      sizeof(why));
        if (rc) LOG(ERROR, "migration parameters: bandwidth_limit: %s", why);
        return rc;
    }
    rc = libxlmig__json_get_u64(gc, v, "bandwidth_limit", bps_r);
    if (!rc && *bps_r && (*bps_r < LIBXLMIG_BANDWIDTH_MIN ||
                          *bps_r > LIBXLMIG_BANDWIDTH_MAX)) {
        LOG(ERROR, "migration parameters: bandwidth_limit %llu bytes/s "
            "out of range (0: unlimited, or %llu to %llu bytes/s)",
            (unsigned long long)*bps_r, LIBXLMIG_BANDWIDTH_MIN,
            LIBXLMIG_BANDWIDTH_MAX);
        rc = LIBXLMIG_ERROR_INVAL;
    }
    return rc;
}

/* "given": the members named; absent (an older peer): all of them. */
static int params_given(libxlmig__gc *gc, yajl_val v, unsigned *given_r)
{
    const char *path[] = { "given", NULL };
    yajl_val a = yajl_tree_get(v, path, yajl_t_any);
    size_t i, j;

    *given_r = LIBXLMIG_PARAM_ALL;
    if (!a) return 0;
    if (!YAJL_IS_ARRAY(a)) goto bad;
    *given_r = 0;
    for (i = 0; i < a->u.array.len; i++) {
        const char *n = YAJL_GET_STRING(a->u.array.values[i]);

        for (j = 0; n && j < ARRAY_SIZE(given_names); j++)
            if (!strcmp(n, given_names[j].name)) break;
        if (!n || j == ARRAY_SIZE(given_names)) goto bad;
        *given_r |= given_names[j].bit;
    }
    return 0;
 bad:
    LOG(ERROR, "migration parameters: \"given\" must list parameter names");
    return LIBXLMIG_ERROR_INVAL;
}

int libxlmig__params_parse_json(libxlmig__gc *gc, yajl_val v,
                                libxlmig_params *p)
{
    const char *comp;
    uint64_t u[6];
    int rc;

    libxlmig_params_init(p);
    if (!v || !YAJL_IS_OBJECT(v)) return 0;
    rc = libxlmig__json_get_u64(gc, v, "downtime_limit_ms", &u[0]);
    if (!rc && (u[0] < LIBXLMIG_DOWNTIME_MS_MIN ||
                u[0] > LIBXLMIG_DOWNTIME_MS_MAX)) {
        LOG(ERROR, "migration parameters: downtime_limit_ms %llu out of "
            "range (%d to %d ms)", (unsigned long long)u[0],
            LIBXLMIG_DOWNTIME_MS_MIN, LIBXLMIG_DOWNTIME_MS_MAX);
        rc = LIBXLMIG_ERROR_INVAL;
    }
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "max_rounds", &u[1]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "max_time_ms", &u[2]);
    if (!rc) rc = libxlmig__json_get_bool(gc, v, "auto_converge",
                                          &p->auto_converge);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "throttle_initial_pct", &u[3]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "throttle_step_pct", &u[4]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "throttle_max_pct", &u[5]);
    if (!rc) rc = params_bandwidth(gc, v, &p->bandwidth_limit);
    if (!rc) rc = params_given(gc, v, &p->given);
    comp = libxlmig__json_get_str(v, "compression");
    if (!rc && comp &&
        libxlmig_compression_from_string(comp, &p->compression)) {
        LOG(ERROR, "migration parameters: compression must be off, auto, "
            "lz4 or zstd, not '%s'", comp);
        rc = LIBXLMIG_ERROR_INVAL;
    }
    if (!rc && libxlmig_limit_action_from_string(
                   libxlmig__json_get_str(v, "on_limit"), &p->on_limit)) {
        LOG(ERROR, "migration parameters: on_limit must be abort or force");
        rc = LIBXLMIG_ERROR_INVAL;
    }
    /* Absent (an older peer or client): the default. */
    if (!rc && libxlmig__json_get_str(v, "compression") &&
        libxlmig_compression_from_string(
            libxlmig__json_get_str(v, "compression"), &p->compression)) {
        LOG(ERROR, "migration parameters: compression must be off, auto, "
            "lz4 or zstd, not '%s'", libxlmig__json_get_str(v, "compression"));
        rc = LIBXLMIG_ERROR_INVAL;
    }
    if (rc) return rc;
    p->downtime_limit_ms = u[0];
    p->max_rounds = (uint32_t)u[1];
    p->max_time_ms = u[2];
    p->throttle_initial_pct = (uint32_t)u[3];
    p->throttle_step_pct = (uint32_t)u[4];
    p->throttle_max_pct = (uint32_t)(u[5] > 99 ? 99 : u[5]);
    return 0;
}
