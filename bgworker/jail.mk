# bgworker/jail.mk
#	Build of the kernel sandbox library (jail.h: namespaces, pivot_root,
#	cgroups, capabilities, seccomp) and its standalone self-test.  Meant to
#	be included by bgworker/executor.mk (or the top-level Makefile); also
#	usable alone:
#
#		make -f bgworker/jail.mk jail-selftest		# builds tests/sandbox/jail-selftest
#		bash tests/sandbox/selftest.sh
#
# The executor links the sandbox by adding two variables to its link line:
#
#		bgworker/pi-executor: $(PI_EXEC_OBJS) $(JAIL_OBJS)
#			$(CC) ... $(PI_EXEC_OBJS) $(JAIL_OBJS) $(PI_EXEC_LIBS) $(JAIL_LIBS)
#
# ".jail.o" keeps these objects apart from PGXS's %.o rule (and its flags)
# and from executor.mk's %.exec.o rule.  No Python include path: the sandbox
# must stay usable before Py_Initialize and outside the executor.

JAIL_CC ?= $(or $(CC),cc)
JAIL_CFLAGS ?= -std=gnu11 -Wall -Wextra -O2 -g
JAIL_CPPFLAGS = -D_GNU_SOURCE -iquote bgworker
JAIL_LIBS = -lseccomp

JAIL_OBJS = \
	bgworker/jail.jail.o \
	bgworker/userns.jail.o \
	bgworker/mountns.jail.o \
	bgworker/pidns.jail.o \
	bgworker/netns.jail.o \
	bgworker/privileges.jail.o \
	bgworker/cgroup.jail.o \
	bgworker/seccomp_policy.jail.o

JAIL_HEADERS = bgworker/jail.h bgworker/jail_int.h

bgworker/%.jail.o: bgworker/%.c $(JAIL_HEADERS)
	$(JAIL_CC) $(JAIL_CFLAGS) $(JAIL_CPPFLAGS) -c -o $@ $<

tests/sandbox/jail-selftest: tests/sandbox/jail-selftest.c $(JAIL_OBJS) $(JAIL_HEADERS)
	$(JAIL_CC) $(JAIL_CFLAGS) $(JAIL_CPPFLAGS) -o $@ $< $(JAIL_OBJS) $(JAIL_LIBS)

.PHONY: jail-selftest check-sandbox clean-jail

jail-selftest: tests/sandbox/jail-selftest

check-sandbox: tests/sandbox/jail-selftest
	bash tests/sandbox/selftest.sh

clean-jail:
	rm -f $(JAIL_OBJS) tests/sandbox/jail-selftest
