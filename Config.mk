# SPDX-License-Identifier: LGPL-2.1-only
#
# Toolchain, flags, install directories and library lookups shared by every
# Makefile of the tree.  Each Makefile sets an absolute MIG_ROOT first.

XLMIG_VERSION   := 0.1.0
XLMIG_SOVERSION := 0

prefix      ?= /usr/local
exec_prefix ?= $(prefix)
bindir      ?= $(exec_prefix)/bin
sbindir     ?= $(exec_prefix)/sbin
libdir      ?= $(exec_prefix)/lib
libexecdir  ?= $(exec_prefix)/libexec
includedir  ?= $(prefix)/include
pkgconfigdir ?= $(libdir)/pkgconfig
datadir     ?= $(prefix)/share
mandir      ?= $(datadir)/man
docdir      ?= $(datadir)/doc/xlmig
bashcompdir ?= $(datadir)/bash-completion/completions
systemdunitdir ?= $(prefix)/lib/systemd/system
sysconfdir  ?= /etc
DESTDIR     ?=
# RUNPATH=0 links the installed programs without a run path: for a
# distribution package, whose libdir the dynamic loader searches anyway.
RUNPATH     ?= 1

CC          ?= cc
AR          ?= ar
INSTALL     ?= install
PKG_CONFIG  ?= pkg-config
PROVE       ?= prove
PANDOC      ?= pandoc

# Xen 4.17 ships xencontrol.pc for libxenctrl.
XEN_PKGS    := xenlight xencontrol xenguest xlutil xentoollog xenforeignmemory
OTHER_PKGS  := yajl libssl libcrypto libgcrypt libmnl

pkgcfg = $(shell $(PKG_CONFIG) $(1) $(2) 2>/dev/null)

XEN_CFLAGS  := $(call pkgcfg,--cflags,$(XEN_PKGS))
# The Xen release whose libraries the build links (4.17 on Debian 12,
# 4.20 on Debian 13): the Xen backend and the save-helper shim are built
# for it alone (the shim binds libxenguest's VERS_<major>.<minor>.0).
XEN_VERSION := $(call pkgcfg,--modversion,xenguest)
XEN_MAJOR   := $(word 1,$(subst ., ,$(XEN_VERSION)))
XEN_MINOR   := $(word 2,$(subst ., ,$(XEN_VERSION)))
XEN_RELEASE := $(XEN_MAJOR).$(XEN_MINOR)
# The symbol version of libxenguest's xc_domain_save, read off the library
# the build links (from xenguest.pc's libdir, else where the compiler
# finds it): "VERS_4.17.0" in 4.17, "libxenguest_4.20.0" in 4.20.
XENGUEST_SO := $(firstword \
    $(wildcard $(call pkgcfg,--variable=libdir,xenguest)/libxenguest.so) \
    $(shell $(CC) -print-file-name=libxenguest.so))
XENGUEST_SYMVER := $(shell readelf --dyn-syms -W $(XENGUEST_SO) 2>/dev/null | \
    sed -n 's/.* xc_domain_save@@\?\([^ ]*\).*/\1/p' | head -n1)
ifneq ($(XEN_VERSION),)
XEN_CFLAGS  += -DXLMIG_XEN_MAJOR=$(XEN_MAJOR) -DXLMIG_XEN_MINOR=$(XEN_MINOR)
endif
XEN_LIBS    := $(call pkgcfg,--libs,$(XEN_PKGS))
YAJL_CFLAGS := $(call pkgcfg,--cflags,yajl)
YAJL_LIBS   := $(call pkgcfg,--libs,yajl)
MNL_LIBS    := $(call pkgcfg,--libs,libmnl)

CFLAGS      ?= -O2 -g
CFLAGS      += -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
               -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
               -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing \
               -D_GNU_SOURCE -fvisibility=hidden -fPIC
ifeq ($(WERROR),1)
CFLAGS      += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS      += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS     += -fsanitize=address,undefined
endif

CPPFLAGS    += -I$(MIG_ROOT)/libxlmig/include -I$(MIG_ROOT)/libxlmig \
               -I$(MIG_ROOT)/policy -I$(MIG_ROOT)/netcfg

CRYPTO_LIBS := $(call pkgcfg,--libs,libssl libcrypto libgcrypt)
ISAL_LIBS   := $(call pkgcfg,--libs,libisal)
COMP_LIBS   := $(call pkgcfg,--libs,liblz4 libzstd)

# Every library libxlmig needs, for programs that link libxlmig.a.
LIBXLMIG_DEPLIBS = $(XEN_LIBS) $(YAJL_LIBS) $(CRYPTO_LIBS) $(ISAL_LIBS) \
                   $(COMP_LIBS) -lpthread
LIBXLMIG_DEPLIBS += $(MNL_LIBS)
LIBXLMIG_DEPLIBS += -lm

# Recipe of a stamp file that holds TEXT and is rewritten only when TEXT
# changes; what depends on the stamp (a path compiled in or substituted)
# is then rebuilt when the install paths change, as in `make` followed by
# `make install prefix=/usr`.  The stamp's rule depends on FORCE.
path_stamp = @mkdir -p $(dir $@) && echo '$(1)' | cmp -s - $@ || \
    echo '$(1)' >$@

ifeq ($(V),1)
quiet =
else
quiet = @printf '  %-5s %s\n' $(1) $@;
endif

%.o: %.c
	$(call quiet,CC)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<
