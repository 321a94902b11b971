# gateway/gateway.mk: build and install pi-gateway, the REST + MCP server.
# Included by the top-level Makefile, which adds gateway/pi-gateway to
# `all`, install-gateway to `install` and clean-gateway to `clean`; also
# usable alone:
#
#	make -f gateway/gateway.mk gateway/pi-gateway
#
# Each source compiles to its own object, so a change rebuilds one file and
# tests/layout/symbol_cycles.sh can check the objects for circular
# dependencies.  The pattern rule below has a directory prefix, hence a
# shorter stem than PGXS's generic %.o: %.c, so make picks it (and these
# flags, not PGXS's) for gateway/*.o.
#
# Needs libmicrohttpd-dev, libjansson-dev and libpq-dev.

GATEWAY_OBJS = gateway/main.o gateway/http.o gateway/routes.o \
	gateway/files.o gateway/ops.o gateway/op_args.o gateway/op_run.o gateway/db.o gateway/mcp.o \
	gateway/mcp_http.o gateway/mcp_stdio.o gateway/mcp_content.o \
	gateway/mcp_render.o gateway/mcp_text.o gateway/mcp_resources.o \
	gateway/mcp_test_tools.o gateway/metrics.o gateway/openapi.o \
	gateway/cors.o gateway/auth.o gateway/common.o gateway/error_terms.o \
	gateway/utf8.o
GATEWAY_HDRS = gateway/gateway.h gateway/http.h gateway/mcp_internal.h \
	gateway/ops_internal.h

GATEWAY_PG_CONFIG ?= pg_config
GATEWAY_CC ?= cc
GATEWAY_CFLAGS ?= -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wformat=2 -D_FORTIFY_SOURCE=2 \
	-fstack-protector-strong
GATEWAY_CPPFLAGS = -I$(shell $(GATEWAY_PG_CONFIG) --includedir) \
	$(shell pkg-config --cflags libmicrohttpd jansson 2>/dev/null)
GATEWAY_LIBS = -L$(shell $(GATEWAY_PG_CONFIG) --libdir) -lpq \
	$(shell pkg-config --libs libmicrohttpd jansson 2>/dev/null || echo -lmicrohttpd -ljansson) \
	-lpthread

# Set by PGXS when included from the top Makefile; defaults for use alone.
bindir ?= $(shell $(GATEWAY_PG_CONFIG) --bindir)
INSTALL_PROGRAM ?= install -m 755
MKDIR_P ?= mkdir -p

gateway/%.o: gateway/%.c $(GATEWAY_HDRS) gateway/gateway.mk
	$(GATEWAY_CC) $(GATEWAY_CFLAGS) $(GATEWAY_CPPFLAGS) -c -o $@ $<

gateway/pi-gateway: $(GATEWAY_OBJS)
	$(GATEWAY_CC) $(GATEWAY_CFLAGS) -o $@ $(GATEWAY_OBJS) $(GATEWAY_LIBS)

install-gateway: gateway/pi-gateway
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) gateway/pi-gateway '$(DESTDIR)$(bindir)/pi-gateway'

# pi-gateway on PATH: PostgreSQL's bindir, where `install` puts the
# programs, is not on PATH, and MCP client configs name a command.  `make
# run` calls this after installing: a link in GATEWAY_LINKDIR.  Not part of
# `install`, so that installing into a private PostgreSQL copy never
# replaces the system's link; the Debian package links /usr/bin instead
# (debian/links).
GATEWAY_LINKDIR ?= /usr/local/bin

link-gateway:
	$(MKDIR_P) '$(GATEWAY_LINKDIR)'
	ln -sfn '$(bindir)/pi-gateway' '$(GATEWAY_LINKDIR)/pi-gateway'

clean-gateway:
	rm -f gateway/pi-gateway $(GATEWAY_OBJS)

.PHONY: install-gateway link-gateway clean-gateway
