/*-------------------------------------------------------------------------
 *
 * forker_protocol.h
 *	  The messages between pi-executor's event loop and its forkers: the
 *	  processes, forked from the preloaded zygote, that clone sandboxed
 *	  kernels (executor/forker.c).
 *
 * Why a separate process forks kernels (docs/architecture.md, rule 7): a
 * kernel inherits a copy of its parent's whole memory.  The loop receives
 * every client's code and relays every output and query answer; a kernel
 * cloned from it could read those bytes back with ctypes.  A forker never
 * receives a client's bytes: only what the message below holds (limits,
 * flags, a token) and, as a descriptor, the folder to bind at /workspace.
 * Code, output and answers travel between the loop and the kernel only,
 * over the pipes whose ends the forker hands to the loop.
 *
 * Transport: one SOCK_SEQPACKET socketpair per forker, so one message is
 * one record; descriptors travel as SCM_RIGHTS.  Loop to forker:
 *	 FORKER_SPAWN	ForkerRequest + SCM_RIGHTS [workspace folder, O_PATH]
 * Forker to loop:
 *	 FORKER_READY	once, after start-up: whether kernels can be sandboxed
 *	 FORKER_SPAWNED	ForkerReply + SCM_RIGHTS [control pipe write end,
 *					stdout, stderr and result channel read ends]
 *	 FORKER_FAILED	ForkerReply with errtype and message; no kernel exists
 *	 FORKER_EXITED	a kernel of this forker was reaped: pid and wait status
 * The loop kills kernels itself (by pid); the forker only reaps them.
 *
 * Nothing here names a host path or assumes one PID space beyond this
 * machine's: a remote forker would need a transport, not a new protocol.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_FORKER_PROTOCOL_H
#define PI_FORKER_PROTOCOL_H

#include <stdint.h>

#include "jail.h"

#define FORKER_SPAWN	1
#define FORKER_READY	2
#define FORKER_SPAWNED	3
#define FORKER_FAILED	4
#define FORKER_EXITED	5

/* Descriptors that come with FORKER_SPAWNED, in this order. */
#define FORKER_FD_CONTROL	0
#define FORKER_FD_STDOUT	1
#define FORKER_FD_STDERR	2
#define FORKER_FD_RESULT	3
#define FORKER_NFDS			4

typedef struct ForkerRequest
{
	uint32_t	type;			/* FORKER_SPAWN */
	uint32_t	token;			/* the loop's name for the kernel */
	int32_t		memory_mb;		/* cgroup and RLIMIT_AS ceiling */
	int32_t		max_file_size_mb;	/* RLIMIT_FSIZE ceiling */
	uint8_t		is_session;		/* keeps its state between cells */
	uint8_t		workspace_is_session;	/* false: a temporary workspace */
	uint8_t		copy_ahead;		/* a pool kernel that copies ahead the
								 * pages a typical cell writes (prefault.c) */
} ForkerRequest;

typedef struct ForkerReply
{
	uint32_t	type;			/* FORKER_READY / SPAWNED / FAILED / EXITED */
	uint32_t	token;			/* SPAWNED, FAILED */
	int32_t		pid;			/* SPAWNED, EXITED */
	int32_t		status;			/* EXITED: waitpid status; READY: 1 = sandbox ok */
	char		errtype[32];	/* FAILED */
	char		message[512];	/* FAILED; READY: why the sandbox is unusable */
	JailCgroup	cg;				/* SPAWNED: the kernel's cgroup */
} ForkerReply;

#endif							/* PI_FORKER_PROTOCOL_H */
