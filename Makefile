# SPDX-License-Identifier: LGPL-2.1-only
# xlmig top-level Makefile.  `make check` and `make demo` install what is
# missing first (`make deps`), then build, so each works alone on a fresh
# Debian 12 machine.  V=1 shows full commands; WERROR=1 fails on warnings.
MIG_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
include $(MIG_ROOT)/Config.mk

# Build order: the sub-libraries, then the library, then its users.
LIBDIRS := policy netcfg
SUBDIRS := $(LIBDIRS) libxlmig xlmig docs examples

PROVE_FLAGS ?=

.PHONY: all check test deps install uninstall clean distclean fuzz demo \
        $(SUBDIRS) tests xen-check deb-check bench bench-cluster bench-drain soak \
        build-trixie

all: xlmig docs

policy netcfg:
	@$(MAKE) -s -C $@ all
# The man pages (pandoc); the examples are only installed.
docs examples:
	@$(MAKE) -s -C $@ all
libxlmig: $(LIBDIRS)
	@$(MAKE) -s -C $@ all
xlmig: libxlmig
	@$(MAKE) -s -C $@ all
tests: xlmig docs
	@$(MAKE) -s -C tests all

# Packages are checked (about a second) before anything is built: the
# pkg-config lookups in Config.mk need them, hence the sub-make.
deps:
	@$(MIG_ROOT)/tools/install-deps

# The main job on the built-in simulated cluster (root).
demo: deps
	@$(MAKE) --no-print-directory all
	@$(MIG_ROOT)/tools/demo

# The tests, then the Xen testbed on Debian 13's Xen 4.20, today's
# stable, with xlmig built for it (two emulated hosts; root; it skips
# itself otherwise): its core scenarios, XENTB_CHECK_ONLY (docs/
# xen-testbed.md).  All scenarios, or both releases (4.17 of Debian 12
# too), would take check past 40 minutes on a fresh 2-core machine:
# xen-check runs all default scenarios on both.  XENTB=0 leaves the testbed out of
# a quick local run; XENTB_DIST=bookworm, trixie or both chooses (here
# and in xen-check); XENTB_ONLY in the environment names the scenarios.
XENTB ?= 1
XENTB_CHECK_ONLY ?= boot xlmig-migrate xlmig-bridge xlmig-killed \
    xlmig-public xlmig-cpu
XENTB_DIST ?= trixie
XEN_CHECK_DIST ?= bookworm trixie
xentb_file = $(if $(filter bookworm,$(1)),tools/xen-testbed/xen.t,\
    $(if $(filter trixie,$(1)),tools/xen-testbed/xen-trixie.t,\
    $(error XENTB_DIST: bookworm and/or trixie, not $(1))))
XENTB_FILES = $(foreach d,$(XENTB_DIST),$(call xentb_file,$(d)))
XEN_CHECK_FILES = $(foreach d,$(if $(filter command line environment,\
    $(origin XENTB_DIST)),$(XENTB_DIST),$(XEN_CHECK_DIST)),\
    $(call xentb_file,$(d)))
XENTB_T := $(if $(filter 0,$(XENTB)),,$(XENTB_FILES))
check test: deps
	@$(MAKE) --no-print-directory tests
	env -u XENTB_DIST XENTB_ONLY="$${XENTB_ONLY:-$(XENTB_CHECK_ONLY)}" \
	    $(PROVE) $(PROVE_FLAGS) --exec '' -r tests/ $(XENTB_T)

# libFuzzer harnesses under ASan+UBSan; FUZZ_SECONDS per harness.
fuzz: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) -s -C tests/fuzz run

# One domain migrated back and forth SOAK_MOVES (100) times between two
# namespace hosts, verified after each move; needs root, about 2 minutes.
soak: all
	$(PROVE) -v --exec '' tests/soak/soak.sh

# Real Xen on two emulated hosts (QEMU TCG): 4.17 (Debian 12), then 4.20
# (Debian 13), all default scenarios, the client on the public network
# every 5 ms (check's subset asks every 20 ms, which keeps it within CI's
# time); needs root, 5-7 minutes more each the first time (images cached
# under XEN_TESTBED_CACHE); run times in docs/xen-testbed.md.
xen-check: all
	env -u XENTB_DIST XENTB_PROBE_MS=$${XENTB_PROBE_MS:-5} \
	    $(PROVE) -v --exec '' $(XEN_CHECK_FILES)

# xlmig for Xen 4.20: the tree built in a Debian 13 (trixie) root against
# its libxen-dev, into build/trixie/ (root; the root is made once, about
# 70 s, and cached under XLMIG_BUILD_ROOT_CACHE, default
# /var/cache/xlmig-build-root).  The Xen testbed's trixie hosts run it.
build-trixie:
	$(MIG_ROOT)/tools/build-root/build.sh trixie $(if $(WERROR),WERROR=$(WERROR))

# The Debian packages: built from the tree (nocheck), checked with
# lintian, installed into a clean Debian 12 root and purged again; needs
# root and the Debian mirror.  About 50 s, 100 s the first time, when
# debootstrap makes the clean root it caches under XLMIG_DEB_CHECK_CACHE
# (default /var/cache/xlmig-deb-check).  Not part of make check: it
# builds the whole tree a second time.
deb-check:
	$(PROVE) -v --exec '' tools/deb-check/deb.t

# Benchmarks (not tests; tests/bench, built with the tests): the engine
# through a socketpair (BENCH_ARGS: its arguments), the compressors, then
# live migration between namespace hosts (root; the cases and their
# environment in docs/bench.md).  JSON figures on stdout.
BENCH_ARGS ?=
bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) -s -C tests bench/bench-engine bench/bench-tcp \
	    bench/bench-compress
	tests/bench/bench-engine $(BENCH_ARGS)
	tests/bench/bench-compress
	tests/bench/bench-cluster

# The cluster benchmark alone (needs root; docs/bench.md).
bench-cluster: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) -s -C tests bench/bench-tcp
	tests/bench/bench-cluster

# The drain benchmark (needs root): 8 domains off one node, against the
# bound total bytes / raw throughput; RATE=2gbit shapes the links (none).
bench-drain: deps
	@$(MAKE) --no-print-directory all
	tests/bench/bench-drain

install: all
	@for d in $(SUBDIRS); do $(MAKE) -s -C $$d install || exit 1; done

uninstall:
	@for d in $(SUBDIRS); do $(MAKE) -s -C $$d uninstall || exit 1; done

clean:
	@for d in $(SUBDIRS) tests tests/fuzz; do \
	    $(MAKE) -s -C $$d clean || exit 1; done

distclean: clean
