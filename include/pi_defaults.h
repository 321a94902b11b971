/*-------------------------------------------------------------------------
 *
 * pi_defaults.h
 *	  Default limits that both sides of the executor socket know: the
 *	  extension's GUCs start from them (extension/guc.c), and pi-executor
 *	  uses them for request members and options a client leaves out, so a
 *	  hand-written request behaves like pi.execute.  One place, so the two
 *	  never drift apart.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_DEFAULTS_H
#define PI_DEFAULTS_H

#define PI_DEFAULT_EXECUTION_TIME_S		300 /* pi.max_execution_time */
#define PI_DEFAULT_MEMORY_MB			4096	/* pi.max_memory_mb */
#define PI_DEFAULT_FILE_SIZE_MB			500 /* pi.max_file_size_mb */
#define PI_DEFAULT_WORKSPACE_MB			2048	/* pi.max_workspace_mb */
#define PI_DEFAULT_WORKSPACE_FILES		100000	/* pi.max_workspace_files */
#define PI_MAX_WORKSPACE_FILES			1000000 /* its largest value */
#define PI_DEFAULT_OUTPUT_BYTES			(1024 * 1024)	/* pi.max_output_bytes */
#define PI_DEFAULT_MAX_SESSIONS			16	/* pi.max_sessions */
#define PI_DEFAULT_MAX_SESSIONS_PER_TENANT	8	/* pi.max_sessions_per_tenant */
#define PI_DEFAULT_SESSION_IDLE_S		1800	/* pi.session_idle_timeout */
#define PI_DEFAULT_BLAS_THREADS			1	/* pi.blas_threads */

#endif							/* PI_DEFAULTS_H */
