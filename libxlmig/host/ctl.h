/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xlmigd's control socket (docs/xlmigd.md): how processes of this node
 * reach the daemon's host.  A unix socket, one request per connection:
 * the client sends one line of JSON {"version":1,"op":...} with, for save
 * and restore, the stream's fd attached (SCM_RIGHTS); the daemon answers
 * with JSON lines, zero or more {"type":"progress","stats":{...}} then one
 * {"type":"result","rc":N,"error":"...","data":...}.  The client side is
 * here for the sim backend's client and the public migration calls; the
 * server's framing is here for daemon/server.c.
 */
#ifndef LIBXLMIG_HOST_CTL_H
#define LIBXLMIG_HOST_CTL_H

#include "core/core.h"

/* Largest request line (bytes), and how long it may take to arrive (s:
 * the daemon sets it as the socket's receive timeout). */
#define LIBXLMIG_CTL_MAX_REQUEST (64 * 1024)
#define LIBXLMIG_CTL_REQUEST_TIMEOUT_S 10

/*
 * One request to the xlmigd of this node ($XLMIGD_SOCKET).  req is the
 * JSON text; fd (or -1) is passed along.  Progress lines go to cb; *data_r
 * (may be NULL) is the result's "data", also on failure (a migration
 * reports how far it got), freed by GC_FREE.  A failed result is logged
 * with the daemon's message and its rc returned.  kind names the backend
 * the caller expects the daemon to run, for the message when it cannot
 * be reached.
 */
_hidden int libxlmig__ctl_call(libxlmig__gc *gc, libxlmig_backend_kind kind,
                               const char *req, int fd,
                               libxlmig_progress_cb cb, void *user,
                               yajl_val *data_r);
/*
 * The same for the request built in g (s: the status of building it);
 * what names the request in the error.
 */
_hidden int libxlmig__ctl_send(libxlmig__gc *gc, libxlmig_backend_kind kind,
                               yajl_gen g, yajl_gen_status s,
                               const char *what, int fd,
                               libxlmig_progress_cb cb, void *user,
                               yajl_val *data_r);
/* Open a request in g: the map, its "version" and its "op"; the caller
 * adds the arguments and closes the map. */
_hidden yajl_gen_status libxlmig__ctl_request_open(yajl_gen g,
                                                   const char *op);
/* {"version":1,"op":op[,"domain":name]} as arena text, or NULL. */
_hidden char *libxlmig__ctl_simple_request(libxlmig__gc *gc, const char *op,
                                           const char *name);

/* ---- the server's side ---- */

/* One accepted connection; owned by the thread that serves it. */
typedef struct libxlmig__ctl_conn {
    int sock;
    int fd;                  /* passed fd or -1 */
    bool gone;               /* the client closed its end */
} libxlmig__ctl_conn;

/* Read the request line (and the fd passed with it) into *line_r
 * (arena). */
_hidden int libxlmig__ctl_read_request(libxlmig__gc *gc,
                                       libxlmig__ctl_conn *c, char **line_r);
/* Send s and a newline; a client that hung up is marked gone. */
_hidden void libxlmig__ctl_send_line(libxlmig__ctl_conn *c, const char *s);
/* Has the client hung up (Ctrl-C)?  Polled by long requests to cancel. */
_hidden bool libxlmig__ctl_client_gone(libxlmig__ctl_conn *c);

#endif /* LIBXLMIG_HOST_CTL_H */
