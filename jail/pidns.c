/*-------------------------------------------------------------------------
 *
 * pidns.c
 *	  Creation of the run's process: a raw clone() that creates the user,
 *	  mount, PID, network, IPC and UTS namespaces in the fork itself.
 *
 * Why clone and not fork + unshare: a process cannot move itself into a
 * new PID namespace, only its next child, so unshare(CLONE_NEWPID) needs a
 * second fork.  Creating every namespace in the one clone() saves that
 * fork and the unshare: 2.7 ms per run on the reference machine
 * (docs/architecture.md, "Measured facts").
 *
 * Why the raw system call: glibc's clone() wrapper wants a separate stack
 * and a function to run; with a NULL stack the raw call behaves like
 * fork() (the child continues on a copy of the caller's stack), which is
 * what a zygote needs.  Unlike fork() it runs no pthread_atfork handlers
 * and does not reset glibc's internal locks, so the caller must be single
 * threaded when it calls jail_clone() (the zygote is: OpenBLAS threads are
 * pinned to one, see docs/architecture.md) and, when Python is initialised, must
 * call PyOS_BeforeFork()/PyOS_AfterFork_Child()/PyOS_AfterFork_Parent()
 * around it exactly as around fork().
 *
 * Consequences of the new PID namespace, which the executor must know:
 *	- the child is PID 1 of its namespace; getppid() returns 0 in it;
 *	- signals sent from inside the namespace to PID 1 without a handler
 *	  are ignored (the zygote's SIGKILL from outside always works);
 *	- when the child exits, the kernel kills every process left in the
 *	  namespace (double-forked daemons cannot outlive the run), and
 *	  orphans of the run are reparented to the child, not to the zygote.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "jail_int.h"

#define JAIL_CLONE_FLAGS \
	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD)

pid_t
jail_clone(const JailConfig *cfg)
{
	(void) cfg;
	/* x86_64 argument order: flags, stack, parent_tid, child_tid, tls */
	return (pid_t) syscall(SYS_clone, (unsigned long) JAIL_CLONE_FLAGS,
						   NULL, NULL, NULL, NULL);
}

/*
 * Can this process create the namespaces at all?  The cheap, precise
 * first check, so that jail_prepare can say "user namespaces are refused"
 * instead of a later, vaguer mount error.
 */
int
pidns_probe(const JailConfig *cfg, char *err, size_t errlen)
{
	pid_t		pid;
	int			status;

	pid = jail_clone(cfg);
	if (pid < 0)
		return jail_error(err, errlen, errno,
						  "clone with CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|"
						  "CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS "
						  "(are unprivileged user namespaces disabled? see "
						  "/proc/sys/user/max_user_namespaces and "
						  "kernel.unprivileged_userns_clone)");
	if (pid == 0)
		_exit(0);
	while (waitpid(pid, &status, 0) < 0)
	{
		if (errno != EINTR)
			return jail_error(err, errlen, errno, "waitpid for the namespace probe");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return jail_error(err, errlen, 0,
						  "namespace probe child ended abnormally (status %d)",
						  status);
	return 0;
}
