#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-only
# The Xen testbed on Debian 13 (trixie): Xen 4.20 hosts running the xlmig
# built against Debian 13's libxen-dev (make build-trixie), the same
# scenarios as xen.t on Debian 12's Xen 4.17.  See docs/xen-testbed.md.
XENTB_DIST=trixie exec "$(dirname "$0")/xen.t" "$@"
