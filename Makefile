# Power Interpreter: PGXS build of the extension library, its install script
# and the pi-executor binary (bgworker/executor.mk), plus the service and
# test entry points that README.md gives.

EXTENSION = power_interpreter
MODULE_big = power_interpreter
DATA = extension/power_interpreter--0.1.sql
PGFILEDESC = "power_interpreter - sandboxed Python execution inside PostgreSQL"

OBJS = \
	extension/pi_main.o \
	extension/guc.o \
	extension/jsonb_util.o \
	extension/shmem.o \
	extension/executor_client.o \
	extension/execute.o \
	extension/jobs.o \
	extension/sessions.o \
	extension/workspace_path.o \
	extension/files.o \
	extension/query.o \
	extension/csv_scan.o \
	extension/csv_header.o \
	extension/csv_load.o \
	extension/csv_parallel.o \
	extension/datasets.o \
	bgworker/launcher.o \
	bgworker/worker.o

# -iquote: bgworker/limits.h must not shadow the system <limits.h>
PG_CPPFLAGS = -I$(srcdir)/extension -iquote $(srcdir)/bgworker
PG_CFLAGS = -Wno-declaration-after-statement

# JIT bitcode would need clang at build time, which a fresh machine lacks.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on our headers.
$(OBJS): $(wildcard extension/*.h) bgworker/executor_protocol.h

include bgworker/executor.mk
include gateway/gateway.mk

all: bgworker/pi-executor gateway/pi-gateway
install: install-executor install-gateway
clean: clean-executor clean-gateway

.PHONY: deps run stop test

deps:
	bash scripts/deps.sh

run: deps
	$(MAKE) all
	if [ "$$(id -u)" = 0 ]; then $(MAKE) install; else sudo $(MAKE) install; fi
	bash scripts/run.sh

stop:
	bash scripts/stop.sh

test: deps
	bash scripts/test.sh
