# executor/executor.mk
#	Build of the pi-executor program (the event loop, the zygote that
#	embeds CPython, kernels, runner.py) and its test client.  Included by
#	the top-level PGXS Makefile; also usable alone:
#
#		make -f executor/executor.mk executor/pi-executor
#		make -f executor/executor.mk install-executor
#
# The executor is a plain program, not a server module, so it is compiled
# with its own flags rather than PGXS's CFLAGS: the pattern rule names the
# folder, which GNU make prefers to PGXS's generic %.o rule.  Python must be
# Debian's libpython3.11 (the one whose dist-packages hold numpy and
# pandas), hence the absolute path of python3.11-config.

PI_PYTHON_CONFIG ?= /usr/bin/python3.11-config
PG_CONFIG ?= pg_config
bindir ?= $(shell $(PG_CONFIG) --bindir)
INSTALL_PROGRAM ?= install -m 755
MKDIR_P ?= mkdir -p

PI_EXEC_CC ?= $(or $(CC),cc)
PI_EXEC_CFLAGS ?= -std=gnu11 -Wall -Wextra -O2 -g
PI_EXEC_CPPFLAGS = $(shell $(PI_PYTHON_CONFIG) --includes) -Iexecutor -Ijail -Iinclude -Icommon
# CPython is linked in statically, as Debian links its own python3.11,
# when the static library is installed (libpython3.11-dev): the shared
# libpython is position-independent code that reaches its globals through
# the GOT and calls itself through the PLT, and ran Python ~20% slower
# in a kernel than /usr/bin/python3 (measured: 33 against 27 ms for the
# same pure-Python loop; a chart's matplotlib code likewise).  Static
# libpython is not position-independent, hence -no-pie; the C API
# (every Py* and _Py* name) is exported for the extension modules the
# kernels load, and nothing else of ours.  Without the static library,
# the shared one.
PI_PYTHON_STATIC = $(wildcard $(shell $(PI_PYTHON_CONFIG) --configdir)/libpython3.11.a)
ifneq ($(PI_PYTHON_STATIC),)
PI_EXEC_PYTHON_LIBS = $(PI_PYTHON_STATIC) -ldl -lm -lexpat -lz \
	-Wl,--export-dynamic-symbol='Py*' -Wl,--export-dynamic-symbol='_Py*'
PI_EXEC_PIE = -no-pie
else
PI_EXEC_PYTHON_LIBS = $(shell $(PI_PYTHON_CONFIG) --ldflags --embed)
PI_EXEC_PIE =
endif
PI_EXEC_LIBS = $(PI_EXEC_PYTHON_LIBS) -ljansson
# Bind every symbol of the program at start-up: with lazy binding each
# kernel resolved the libc functions the zygote had not called yet and
# wrote the result into the GOT, a copy-on-write fault per page and a
# symbol search per function (~24 faults a run, measured)
PI_EXEC_LDFLAGS = -Wl,-z,now -Wl,-z,relro $(PI_EXEC_PIE)

PI_EXEC_OBJS = \
	executor/util.o \
	executor/hugepages.o \
	executor/heap.o \
	executor/arenas.o \
	executor/prefault.o \
	executor/settings.o \
	executor/held.o \
	executor/quota.o \
	executor/frames.o \
	executor/child.o \
	executor/fdpass.o \
	executor/forker.o \
	executor/zygote.o \
	executor/forkers.o \
	executor/notices.o \
	executor/kernel_io.o \
	executor/kernel.o \
	executor/output.o \
	executor/cell.o \
	executor/requests.o \
	executor/schedule.o \
	executor/loop.o \
	executor/main.o

# Shared with the extension library, hence -fPIC (common/*.h: plain C).
PI_COMMON_OBJS = common/tree_remove.o

PI_EXEC_HEADERS = $(wildcard executor/*.h) include/executor_protocol.h

# The kernel sandbox library (JAIL_OBJS, JAIL_LIBS = -lseccomp).
include jail/jail.mk

common/%.o: common/%.c $(wildcard common/*.h)
	$(PI_EXEC_CC) $(PI_EXEC_CFLAGS) -fPIC -Icommon -c -o $@ $<

executor/%.o: executor/%.c $(PI_EXEC_HEADERS) $(JAIL_HEADERS)
	$(PI_EXEC_CC) $(PI_EXEC_CFLAGS) $(PI_EXEC_CPPFLAGS) -c -o $@ $<

executor/child.o: executor/runner_py.h

# runner.py, outputs.py (its rich outputs), pdf.py (pi.pdf_text and
# pi.pdf_tables), cellcode.py (a cell's source made code) and
# kernelstate.py (random states, thread pools) as NUL-terminated C arrays
# (od is in coreutils; xxd may not be).
# $(call PI_EXEC_PY_ARRAY,NAME,FILE): FILE as "static const char NAME[]"
PI_EXEC_PY_ARRAY = echo 'static const char $(1)[] = {'; \
	od -An -v -tx1 $(2) | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	echo '0x00};'
executor/runner_py.h: executor/runner.py executor/outputs.py executor/pdf.py executor/cellcode.py \
		executor/kernelstate.py
	{ echo '/* generated from runner.py and the modules it imports by executor.mk; do not edit */'; \
	  $(call PI_EXEC_PY_ARRAY,pi_outputs_source,executor/outputs.py); \
	  $(call PI_EXEC_PY_ARRAY,pi_pdf_source,executor/pdf.py); \
	  $(call PI_EXEC_PY_ARRAY,pi_cellcode_source,executor/cellcode.py); \
	  $(call PI_EXEC_PY_ARRAY,pi_kernelstate_source,executor/kernelstate.py); \
	  $(call PI_EXEC_PY_ARRAY,pi_runner_source,executor/runner.py); } > $@.tmp && mv $@.tmp $@

executor/pi-executor: $(PI_EXEC_OBJS) $(PI_COMMON_OBJS) $(JAIL_OBJS)
	$(PI_EXEC_CC) $(PI_EXEC_CFLAGS) $(PI_EXEC_LDFLAGS) -o $@ $(PI_EXEC_OBJS) $(PI_COMMON_OBJS) $(JAIL_OBJS) $(PI_EXEC_LIBS) $(JAIL_LIBS)

tests/executor/pi-exec-client: tests/executor/pi-exec-client.c include/executor_protocol.h
	$(PI_EXEC_CC) $(PI_EXEC_CFLAGS) -Iinclude -o $@ $< -ljansson

.PHONY: install-executor clean-executor check-executor

install-executor: executor/pi-executor
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) executor/pi-executor '$(DESTDIR)$(bindir)/pi-executor'

check-executor: executor/pi-executor tests/executor/pi-exec-client
	bash tests/executor/run.sh

clean-executor: clean-jail
	rm -f executor/pi-executor $(PI_EXEC_OBJS) $(PI_COMMON_OBJS) executor/runner_py.h \
		executor/runner_py.h.tmp tests/executor/pi-exec-client
