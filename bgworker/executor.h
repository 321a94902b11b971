/*-------------------------------------------------------------------------
 *
 * executor.h
 *	  Types and entry points shared by the parts of the pi-executor binary:
 *	  start-up (executor_main.c), the zygote's event loop
 *	  (executor_loop.c) and the forked child that runs one piece of Python
 *	  (executor_child.c).
 *
 * The wire format the executor speaks is in executor_protocol.h; this
 * header only holds what the executor itself needs internally.  It does not
 * include Python.h, so the event loop stays free of the Python C API (the
 * loop never calls into Python: a Python call there could block or run
 * arbitrary finalisers in the one process that serves every run).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_EXECUTOR_H
#define PI_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EXECUTOR_LOG_PREFIX "pi-executor: "

/*
 * Defaults for request members a client leaves out.  They mirror the GUC
 * defaults of DESIGN.md (pi.max_execution_time, pi.max_memory_mb,
 * pi.max_file_size_mb), so a hand-written request behaves like pi.execute.
 */
#define EXECUTOR_DEFAULT_TIMEOUT_MS		(300 * 1000)
#define EXECUTOR_DEFAULT_MEMORY_MB		4096
#define EXECUTOR_DEFAULT_FILE_SIZE_MB	500
#define EXECUTOR_DEFAULT_OUTPUT_BYTES	(1024 * 1024)

/* What the command line configures. */
typedef struct ExecutorConfig
{
	const char *socket_path;	/* relative to the data directory, or absolute */
	const char *workspace_root; /* absolute, exists */
	int			max_sync;		/* concurrent "sync" runs (pi.execute) */
	int			max_async;		/* concurrent "async" runs (job workers) */
} ExecutorConfig;

/* One parsed 'Q' request; strings are owned by the connection. */
typedef struct RunRequest
{
	bool		is_async;
	char	   *code;
	size_t		code_len;
	int			timeout_ms;
	int			memory_mb;
	int			max_file_size_mb;
	size_t		max_output_bytes;
	char	   *workspace;		/* session workspace or the run's temp dir */
	bool		workspace_is_session;
	char	   *session_id;		/* NULL when not given */
	char	   *job_id;			/* NULL when not given */
} RunRequest;

/* executor_main.c */
extern void executor_log(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));
extern double executor_now_ms(void);

/* executor_loop.c */
extern int	executor_loop_run(const ExecutorConfig *config, int listen_fd);

/* executor_child.c */
extern bool executor_child_prepare(void);
extern void executor_child_main(const RunRequest *req, int stdout_fd,
								int stderr_fd, int result_fd,
								pid_t zygote_pid) __attribute__((noreturn));

#endif							/* PI_EXECUTOR_H */
