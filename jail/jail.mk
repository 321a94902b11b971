# jail/jail.mk
#	Build of the kernel sandbox library (jail/jail.h: namespaces,
#	pivot_root, cgroups, capabilities, rlimits, seccomp) and its standalone
#	self-test.  Included by executor/executor.mk; also usable alone:
#
#		make -f jail/jail.mk tests/sandbox/jail-selftest
#		bash tests/sandbox/selftest.sh
#
# The executor links the sandbox by adding JAIL_OBJS and JAIL_LIBS to its
# link line.  No Python include path: the sandbox must stay usable before
# Py_Initialize and outside the executor.  The pattern rule names the
# folder, so GNU make prefers it to PGXS's generic %.o rule (shorter stem)
# and these objects get the flags below, not the server's.

JAIL_CC ?= $(or $(CC),cc)
JAIL_CFLAGS ?= -std=gnu11 -Wall -Wextra -O2 -g
JAIL_CPPFLAGS = -D_GNU_SOURCE -Ijail
JAIL_LIBS = -lseccomp

JAIL_OBJS = \
	jail/log.o \
	jail/util.o \
	jail/jail.o \
	jail/userns.o \
	jail/mountns.o \
	jail/pidns.o \
	jail/netns.o \
	jail/privileges.o \
	jail/cgroup.o \
	jail/rlimits.o \
	jail/seccomp_policy.o

JAIL_HEADERS = $(wildcard jail/*.h)

jail/%.o: jail/%.c $(JAIL_HEADERS)
	$(JAIL_CC) $(JAIL_CFLAGS) $(JAIL_CPPFLAGS) -c -o $@ $<

tests/sandbox/jail-selftest: tests/sandbox/jail-selftest.c $(JAIL_OBJS) $(JAIL_HEADERS)
	$(JAIL_CC) $(JAIL_CFLAGS) $(JAIL_CPPFLAGS) -o $@ $< $(JAIL_OBJS) $(JAIL_LIBS)

.PHONY: jail-selftest check-sandbox clean-jail

jail-selftest: tests/sandbox/jail-selftest

check-sandbox: tests/sandbox/jail-selftest
	bash tests/sandbox/selftest.sh

clean-jail:
	rm -f $(JAIL_OBJS) tests/sandbox/jail-selftest
