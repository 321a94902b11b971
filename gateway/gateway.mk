# gateway/gateway.mk: build and install pi-gateway, the REST + MCP server.
# Included by the top-level Makefile, which adds gateway/pi-gateway to
# `all`, install-gateway to `install` and clean-gateway to `clean`.
#
# Needs libmicrohttpd-dev, libjansson-dev and libpq-dev.

GATEWAY_SRCS = gateway/main.c gateway/http.c gateway/routes.c \
	gateway/files.c gateway/ops.c gateway/db.c gateway/mcp.c \
	gateway/mcp_http.c gateway/mcp_content.c gateway/mcp_test_tools.c \
	gateway/metrics.c gateway/openapi.c
GATEWAY_HDRS = gateway/gateway.h gateway/http.h gateway/mcp_internal.h

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

gateway/pi-gateway: $(GATEWAY_SRCS) $(GATEWAY_HDRS) gateway/gateway.mk
	$(GATEWAY_CC) $(GATEWAY_CFLAGS) $(GATEWAY_CPPFLAGS) -o $@ $(GATEWAY_SRCS) $(GATEWAY_LIBS)

install-gateway: gateway/pi-gateway
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) gateway/pi-gateway '$(DESTDIR)$(bindir)/pi-gateway'

clean-gateway:
	rm -f gateway/pi-gateway

.PHONY: install-gateway clean-gateway
