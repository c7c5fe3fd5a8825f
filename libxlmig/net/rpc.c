/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Requests and replies over an authenticated channel: the queries nodes
 * answer for each other (node state, free memory, CPU policy, domains)
 * and the migration's control steps.  See net/net.h for the message
 * shapes.
 */
#include "net/net.h"

static int rpc_call(libxlmig__gc *gc, libxlmig__chan *c, const char *op,
                    const char *args_json, yajl_val *result_r, bool quiet)
{
    const char *path_result[] = { "result", NULL };
    const char *path_error[] = { "error", NULL };
    const char *msg;
    char *payload, *what, *req;
    yajl_val reply, v, err;
    long long code;
    int rc;

    req = GCSPRINTF("{\"version\":1,\"op\":\"%s\",\"args\":%s}", op,
                    args_json ? args_json : "{}");
    rc = libxlmig__msg_send(gc, c, LIBXLMIG_MSG_REQUEST, req,
                            (uint32_t)strlen(req));
    if (rc) return rc;
    rc = libxlmig__msg_expect(gc, c, LIBXLMIG_MSG_REPLY, &payload, NULL);
    if (rc) return rc;
    what = GCSPRINTF("reply to %s from %s", op, c->t->peer);
    rc = libxlmig__json_parse(gc, payload, what, &reply);
    if (rc) return rc;
    rc = libxlmig__json_check_version(gc, reply, what, 1);
    if (rc) return rc;
    err = yajl_tree_get(reply, path_error, yajl_t_object);
    if (err) {
        msg = libxlmig__json_get_str(err, "message");
        if (libxlmig__json_get_int(gc, err, "code", &code) ||
            code >= 0 || code < INT32_MIN)
            code = LIBXLMIG_ERROR_PROTOCOL;
        if (quiet)
            LOG(DEBUG, "%s: %s", c->t->peer, msg ? msg : "request failed");
        else
            LOG(ERROR, "%s: %s", c->t->peer, msg ? msg : "request failed");
        return (int)code;
    }
    v = yajl_tree_get(reply, path_result, yajl_t_any);
    if (!v) {
        LOG(ERROR, "%s has neither result nor error", what);
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    if (result_r)
        *result_r = v;
    return 0;
}

int libxlmig__rpc_call(libxlmig__gc *gc, libxlmig__chan *c, const char *op,
                       const char *args_json, yajl_val *result_r)
{
    return rpc_call(gc, c, op, args_json, result_r, false);
}

int libxlmig__rpc_call_quiet(libxlmig__gc *gc, libxlmig__chan *c,
                             const char *op, const char *args_json,
                             yajl_val *result_r)
{
    return rpc_call(gc, c, op, args_json, result_r, true);
}

static int rpc_reply_error(libxlmig__gc *gc, libxlmig__chan *c, int err,
                           const char *message)
{
    char *json = NULL;
    int rc;

    rc = libxlmig_error_to_json(CTX, err, message, &json);
    if (rc) return rc;
    libxlmig__ptr_add(gc, json);
    return libxlmig__msg_send(gc, c, LIBXLMIG_MSG_REPLY, json,
                              (uint32_t)strlen(json));
}

int libxlmig__rpc_serve_one(libxlmig__gc *gc, libxlmig__chan *c,
                            const libxlmig__rpc_op *ops, size_t nops,
                            void *opaque)
{
    const char *path_args[] = { "args", NULL };
    const libxlmig__rpc_op *h = NULL;
    const char *op;
    char *payload, *json;
    yajl_val req, args;
    yajl_gen g;
    size_t i;
    int rc, hrc;

    rc = libxlmig__msg_expect(gc, c, LIBXLMIG_MSG_REQUEST, &payload, NULL);
    if (rc) return rc;
    rc = libxlmig__json_parse(gc, payload,
                              GCSPRINTF("request from %s", c->t->peer), &req);
    if (!rc)
        rc = libxlmig__json_check_version(gc, req, "request", 1);
    op = rc ? NULL : libxlmig__json_get_str(req, "op");
    args = rc ? NULL : yajl_tree_get(req, path_args, yajl_t_object);
    if (rc || !op || !args) {
        (void)rpc_reply_error(gc, c, LIBXLMIG_ERROR_PROTOCOL,
                              "malformed request");
        return LIBXLMIG_ERROR_PROTOCOL;
    }
    for (i = 0; i < nops; i++)
        if (!strcmp(ops[i].op, op)) {
            h = &ops[i];
            break;
        }
    if (!h)
        return rpc_reply_error(gc, c, LIBXLMIG_ERROR_UNSUPPORTED,
                               GCSPRINTF("unknown request '%s'", op));

    g = libxlmig__json_gen_alloc(gc, false);
    if (yajl_gen_map_open(g) != yajl_gen_status_ok ||
        libxlmig__yajl_gen_kv_int(g, "version", 1) != yajl_gen_status_ok ||
        libxlmig__yajl_gen_str(g, "result") != yajl_gen_status_ok)
        return rpc_reply_error(gc, c, LIBXLMIG_ERROR_JSON, "cannot encode");
    CTX->last_error[0] = '\0';
    hrc = h->fn(gc, opaque, args, g);
    if (hrc)
        return rpc_reply_error(gc, c, hrc,
                               CTX->last_error[0] ? CTX->last_error
                               : libxlmig_strerror(hrc));
    if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        LOG(ERROR, "handler of '%s' produced invalid JSON", op);
        return rpc_reply_error(gc, c, LIBXLMIG_ERROR_JSON,
                               "handler produced invalid JSON");
    }
    rc = libxlmig__json_finish(gc, g, &json);
    if (rc) return rc;
    libxlmig__ptr_add(gc, json);
    return libxlmig__msg_send(gc, c, LIBXLMIG_MSG_REPLY, json,
                              (uint32_t)strlen(json));
}
