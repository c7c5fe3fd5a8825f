/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Migration parameters: named defaults, names of the limit actions and
 * their JSON form (the daemon protocol carries them).
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

static const char *const compression_names[] = {
    [LIBXLMIG_COMPRESSION_OFF] = "off",
    [LIBXLMIG_COMPRESSION_AUTO] = "auto",
    [LIBXLMIG_COMPRESSION_LZ4] = "lz4",
    [LIBXLMIG_COMPRESSION_ZSTD] = "zstd",
};

const char *libxlmig_compression_to_string(libxlmig_compression c)
{
    return (unsigned)c < ARRAY_SIZE(compression_names)
           ? compression_names[c] : "invalid";
}

int libxlmig_compression_from_string(const char *s,
                                     libxlmig_compression *c_r)
{
    unsigned i;

    for (i = 0; s && i < ARRAY_SIZE(compression_names); i++)
        if (!strcmp(s, compression_names[i])) {
            *c_r = (libxlmig_compression)i;
            return 0;
        }
    return LIBXLMIG_ERROR_INVAL;
}

yajl_gen_status libxlmig__params_gen_json(yajl_gen g,
                                          const libxlmig_params *p)
{
    yajl_gen_status s;

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
    s = yajl_gen_map_close(g);
 out:
    return s;
}

int libxlmig__params_parse_json(libxlmig__gc *gc, yajl_val v,
                                libxlmig_params *p)
{
    uint64_t u[6];
    int rc;

    libxlmig_params_init(p);
    if (!v || !YAJL_IS_OBJECT(v)) return 0;
    rc = libxlmig__json_get_u64(gc, v, "downtime_limit_ms", &u[0]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "max_rounds", &u[1]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "max_time_ms", &u[2]);
    if (!rc) rc = libxlmig__json_get_bool(gc, v, "auto_converge",
                                          &p->auto_converge);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "throttle_initial_pct", &u[3]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "throttle_step_pct", &u[4]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "throttle_max_pct", &u[5]);
    if (!rc) rc = libxlmig__json_get_u64(gc, v, "bandwidth_limit",
                                         &p->bandwidth_limit);
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
