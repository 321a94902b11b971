/*-------------------------------------------------------------------------
 *
 * executor_client.h
 *	  Running code through pi-executor (executor_client.c), from a backend
 *	  or a job worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EXECUTOR_CLIENT_H
#define EXECUTOR_CLIENT_H

#include "utils/jsonb.h"

typedef struct PiRunRequest
{
	const char *op;				/* NULL ("run"), "reset_session" or
								 * "owner_sessions" */
	const char *kind;			/* "sync" or "async" */
	const char *code;
	int			timeout_s;
	const char *workspace;		/* NULL: temporary workspace */
	const char *session_id;		/* NULL or uuid text */
	const char *job_id;			/* NULL or uuid text */
	const char *owner;			/* the role the run is for: its pi.query() sees
								 * that role's datasets */
	int			workspace_quota_mb; /* 0: pi.max_workspace_mb; else the
									 * smaller quota a tenant's limit leaves */
	const char *quota_note;		/* with it: which limit, for the error */
	bool		live_output;	/* stream stdout while it runs ('O' frames,
								 * to on_output) */
	bool		has_owner_max_sessions; /* send owner_max_sessions */
	int			owner_max_sessions; /* the live session kernels the owner
									 * may keep (pi_tenant_session_limit) */
} PiRunRequest;

/*
 * Called while a run waits for its result: progress reports (the JSON text
 * {"progress": number, "message": text or null}), live output (the 'O'
 * frame's JSON text, include/executor_protocol.h), periodic ticks (for
 * leases), and the question whether the run should be cancelled.
 */
typedef struct PiRunCallbacks
{
	void		(*on_progress) (const char *progress_json, void *arg);
	void		(*on_output) (const char *output_json, void *arg);
	void		(*on_tick) (void *arg);
	bool		(*should_cancel) (void *arg);
	int			tick_ms;
	void	   *arg;
} PiRunCallbacks;

typedef enum PiRunOutcome
{
	PI_RUN_RESULT,				/* the executor answered with a result */
	PI_RUN_EXECUTOR_LOST		/* the executor went away before answering */
} PiRunOutcome;

extern bool pi_executor_listening(void);
extern Jsonb *pi_executor_op(const char *op, const char *owner, const char *session_id);
extern PiRunOutcome pi_run_code(const PiRunRequest *req,
								const PiRunCallbacks *callbacks,
								char **result_json);

#endif							/* EXECUTOR_CLIENT_H */
