# Power Interpreter: PGXS build of the extension library (extension/ and
# bgworker/), its install script, the pi-executor program
# (executor/executor.mk, with the jail/ sandbox library) and pi-gateway
# (gateway/gateway.mk), plus the service and test entry points that
# README.md gives.  docs/architecture.md maps the folders to the processes.

EXTENSION = power_interpreter
MODULE_big = power_interpreter
DATA = extension/power_interpreter--0.1.sql
PGFILEDESC = "power_interpreter - sandboxed Python execution inside PostgreSQL"

OBJS = \
	extension/pi_main.o \
	extension/guc.o \
	extension/tenants.o \
	extension/tenant_limits.o \
	extension/workspace_tally.o \
	extension/tenant_usage.o \
	extension/kept_plans.o \
	extension/jsonb_util.o \
	extension/shmem.o \
	extension/executor_client.o \
	extension/execute.o \
	extension/jobs.o \
	extension/sessions.o \
	extension/workspace_path.o \
	extension/files.o \
	extension/query.o \
	extension/query_limits.o \
	extension/query_policy.o \
	extension/query_rows.o \
	extension/csv_scan.o \
	extension/csv_header.o \
	extension/csv_load.o \
	extension/csv_parallel.o \
	extension/datasets.o \
	extension/dataset_queue.o \
	extension/dataset_convert.o \
	extension/load_options.o \
	extension/load_copy.o \
	bgworker/launcher.o \
	bgworker/worker.o \
	bgworker/held_job.o \
	bgworker/rescue.o \
	bgworker/job_live.o \
	bgworker/job_end.o \
	common/tree_remove.o

# pg_regress files (sql/, expected/).  `make installcheck` runs them against
# an installed, running server (PGHOST, PGPORT, PGUSER as usual) whose
# postgresql.conf has shared_preload_libraries = 'power_interpreter' and
# pi.database = 'contrib_regression': the job workers run jobs in that
# database.  `make test` runs them in a temporary instance instead
# (tests/regress.sh), with everything else.
REGRESS = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=power_interpreter

PG_CPPFLAGS = -I$(srcdir)/extension -I$(srcdir)/bgworker -I$(srcdir)/include -I$(srcdir)/common
PG_CFLAGS = -Wno-declaration-after-statement

# JIT bitcode would need clang at build time, which a fresh machine lacks.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on our headers.
$(OBJS): $(wildcard extension/*.h) $(wildcard bgworker/*.h) $(wildcard include/*.h)

include executor/executor.mk
include gateway/gateway.mk

all: executor/pi-executor gateway/pi-gateway
install: install-executor install-gateway
clean: clean-executor clean-gateway

.PHONY: deps run stop test deb

# deb: postgresql-15-power-interpreter_*.deb in build/deb/ (debian/,
# packaging/).  Built from a copy of the tracked files (plus uncommitted
# changes to them), because the package build runs `make clean`, which
# would remove this checkout's programs under other test runs.  Needs
# debhelper (and lintian for tests/package); README.md, "Deploying".
deb:
	rm -rf build/deb && mkdir -p build/deb/src
	git ls-files -z --cached --others --exclude-standard | \
		grep -zv '^build/' | xargs -0 cp --parents -t build/deb/src
	cd build/deb/src && dpkg-buildpackage -us -uc -b -j$$(nproc)
	ls build/deb/*.deb

deps:
	bash scripts/deps.sh

run: deps
	$(MAKE) all
	if [ "$$(id -u)" = 0 ]; then $(MAKE) install link-gateway; else sudo $(MAKE) install link-gateway; fi
	bash scripts/run.sh

stop:
	bash scripts/stop.sh

test: deps
	bash scripts/test.sh
