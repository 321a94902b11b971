# bgworker/executor.mk
#	Build of the pi-executor binary (the zygote that embeds CPython) and its
#	test client.  Included by the top-level PGXS Makefile; also usable alone:
#
#		make -f bgworker/executor.mk bgworker/pi-executor
#		make -f bgworker/executor.mk install-executor
#
# The executor is a plain program, not a server module, so it is compiled
# with its own flags rather than PGXS's CFLAGS.  Python must be Debian's
# libpython3.11 (the one whose dist-packages hold numpy and pandas), hence
# the absolute path of python3.11-config instead of whatever is on PATH.

PI_PYTHON_CONFIG ?= /usr/bin/python3.11-config
PG_CONFIG ?= pg_config
bindir ?= $(shell $(PG_CONFIG) --bindir)
INSTALL_PROGRAM ?= install -m 755
MKDIR_P ?= mkdir -p

PI_EXEC_CC ?= $(or $(CC),cc)
PI_EXEC_CFLAGS ?= -std=gnu11 -Wall -Wextra -O2 -g
PI_EXEC_CPPFLAGS = $(shell $(PI_PYTHON_CONFIG) --includes) -iquote bgworker
PI_EXEC_LIBS = $(shell $(PI_PYTHON_CONFIG) --ldflags --embed) -ljansson

PI_EXEC_OBJS = \
	bgworker/executor_main.exec.o \
	bgworker/executor_loop.exec.o \
	bgworker/executor_kernel.exec.o \
	bgworker/executor_frames.exec.o \
	bgworker/executor_child.exec.o \
	bgworker/executor_quota.exec.o \
	bgworker/sandbox.exec.o \
	bgworker/limits.exec.o

PI_EXEC_HEADERS = bgworker/executor.h bgworker/executor_protocol.h \
	bgworker/sandbox.h bgworker/limits.h bgworker/jail.h

# The kernel sandbox library (JAIL_OBJS, JAIL_LIBS = -lseccomp).
-include bgworker/jail.mk

# ".exec.o" keeps these objects apart from PGXS's %.o rule and its flags.
bgworker/%.exec.o: bgworker/%.c $(PI_EXEC_HEADERS)
	$(PI_EXEC_CC) $(PI_EXEC_CFLAGS) $(PI_EXEC_CPPFLAGS) -c -o $@ $<

bgworker/executor_child.exec.o: bgworker/runner_py.h

# runner.py as a NUL-terminated C array (od is in coreutils; xxd may not be).
bgworker/runner_py.h: bgworker/runner.py
	{ echo '/* generated from runner.py by executor.mk; do not edit */'; \
	  echo 'static const char pi_runner_source[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; } > $@.tmp && mv $@.tmp $@

bgworker/pi-executor: $(PI_EXEC_OBJS) $(JAIL_OBJS)
	$(PI_EXEC_CC) $(PI_EXEC_CFLAGS) -o $@ $(PI_EXEC_OBJS) $(JAIL_OBJS) $(PI_EXEC_LIBS) $(JAIL_LIBS)

tests/executor/pi-exec-client: tests/executor/pi-exec-client.c bgworker/executor_protocol.h
	$(PI_EXEC_CC) $(PI_EXEC_CFLAGS) -iquote bgworker -o $@ $< -ljansson

.PHONY: install-executor clean-executor check-executor

install-executor: bgworker/pi-executor
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) bgworker/pi-executor '$(DESTDIR)$(bindir)/pi-executor'

check-executor: bgworker/pi-executor tests/executor/pi-exec-client
	bash tests/executor/run.sh

clean-executor:
	rm -f bgworker/pi-executor $(PI_EXEC_OBJS) $(JAIL_OBJS) bgworker/runner_py.h \
		bgworker/runner_py.h.tmp tests/executor/pi-exec-client
