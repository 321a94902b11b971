/*-------------------------------------------------------------------------
 *
 * executor_protocol.h
 *	  The wire protocol between PostgreSQL processes (backends running
 *	  pi.execute, job workers) and the pi-executor process.
 *
 * The executor is a separate binary (docs/architecture.md, rule 1) that the launcher
 * background worker fork+execs with a clean environment.  It embeds CPython,
 * pre-imports numpy, pandas and matplotlib once (the "zygote"), and forks one
 * child per run.  It listens on a Unix stream socket whose path is given on
 * its command line (relative to the data directory, which is its working
 * directory), mode 0600, so only the server's own user can connect.
 *
 * One connection carries exactly one run:
 *
 *	 client -> executor   'Q' frame: the request (JSON object, below)
 *	 client -> executor   optional 'C' frame (empty payload): cancel the run;
 *						  the executor kills it and still answers with the
 *						  final 'R' frame, status "cancelled"
 *	 executor -> client   zero or more 'P' frames: progress reported by the
 *						  running code through pi.progress()
 *	 executor -> client   with "live_output": zero or more 'O' frames, the
 *						  run's stdout as it is printed (below)
 *	 executor -> client   'S' frames: a pi.query() call from the running code,
 *						  {"sql": text, "max_rows": int}; the client runs it
 *						  through pi.query (same rules as from SQL) and answers;
 *						  {"datasets": true} asks for the registry (pi.datasets())
 *	 client -> executor   an 'A' frame for each 'S': {"ok": true, "result":
 *						  <pi.query's jsonb>} or {"ok": false, "error": text,
 *						  "hint": text or null}
 *	 executor -> client   exactly one 'R' frame: the final result (JSON
 *						  object in the user-visible result shape, see
 *						  README.md), then the executor closes the socket
 *
 * If the client closes the connection before the 'R' frame, the executor
 * kills the run (this is how query cancel and statement_timeout of a sync
 * pi.execute stop the Python process).
 *
 * Frame layout: 1 byte tag, 4 byte payload length (network byte order),
 * payload.  Payloads are UTF-8 JSON objects (the 'C' frame has none).
 *
 * Request ('Q') members:
 *	 "op"				"run" (default when absent) or "reset_session": stop the
 *						live kernel of session_id, if any; the 'R' answer is
 *						{"status": "completed", "kernel_stopped": bool}; or
 *						"owner_sessions": count the live session kernels of
 *						"owner"; the answer is {"status": "completed",
 *						"live_sessions": int}
 *	 "kind"				"sync" or "async": sync runs and async jobs have separate
 *						slot pools (see max_sync / max_async below), so a queue
 *						of long jobs never starves pi.execute
 *	 "code"				Python source text
 *	 "timeout_ms"		wall-clock limit of the run; CPU limit is derived from it
 *	 "memory_mb"		address-space / memory limit of the run
 *	 "max_file_size_mb" largest file the run may write
 *	 "max_output_bytes" cap of stdout and of stderr each
 *	 "workspace_quota_mb" disk quota of the workspace (pi.max_workspace_mb,
 *						default 2048): measured while the cell runs (every
 *						~250 ms, links never followed) and after it; over it,
 *						the cell is stopped (a stateless kernel is killed, a
 *						session's cell interrupted like a timeout) and the
 *						answer is "failed" with WorkspaceQuotaExceeded.
 *						What counts: every name (a file with several
 *						names once), and files the run's processes hold
 *						open after unlinking them (their blocks); a
 *						deleted file held only by a mapping cannot be
 *						measured and stops the cell.  Over the quota
 *						because of such held files, a session's kernel is
 *						ended (the only way to free them)
 *	 "workspace_max_files" files and folders the workspace may hold
 *						(pi.max_workspace_files, default 100000, at most
 *						1000000), held deleted files included; over it,
 *						like "workspace_quota_mb"
 *	 "workspace"		absolute path of the session workspace (a directory
 *						that exists), or null: the executor then creates a
 *						private temporary workspace and removes it afterwards
 *	 "session_id"		uuid text or null (exposed as pi.session_id)
 *	 "job_id"			uuid text or null (exposed as pi.job_id)
 *	 "live_output"		true: stream stdout in 'O' frames while the run goes
 *						on (job workers ask for it; default false)
 *	 "owner"			the tenant (role) the run is for, or null; session
 *						kernels are counted and evicted per owner
 *	 "owner_max_sessions" the live session kernels the owner may keep (its
 *						tenant limit max_sessions), an integer from 0, or
 *						null: --max-sessions-per-owner.  Capped at
 *						--max-sessions.  Before a new kernel for the owner,
 *						its least recently used idle kernels stop until the
 *						new one fits (their next run's notice names the
 *						limit); at 0 a run in a session without a live
 *						kernel fails with SessionLimitExceeded
 *
 * Progress ('P') members: "progress" (number 0..1), "message" (text or null).
 *
 * Output ('O') members: "stdout" (text printed since the last 'O' frame,
 * whole UTF-8 characters), "stdout_bytes" (bytes printed by the run so far,
 * including those past max_output_bytes) and "gap" (true: output between
 * the last frame and this one was skipped because the client read too
 * slowly; only the newest EXECUTOR_LIVE_PENDING_MAX bytes wait for it).
 * The frames are sent as the executor reads the output, and never held
 * back by the cap: a client that keeps a tail sees the newest lines even
 * when the final stdout is cut.  The last one comes before the 'R' frame.
 *
 * Result ('R') members: "status" ("completed", "failed", "timeout",
 * "cancelled", "busy"), "stdout", "stderr", "stdout_truncated",
 * "stderr_truncated", "result", "error", "figures", "files", "elapsed_ms",
 * and for a run in a session (session_id and workspace given) "session":
 * {"id": uuid text, "kernel": "started" (a new kernel: no earlier state) or
 * "reused" (the live kernel of the earlier runs), "state_reset": bool (the
 * session had state that is gone: idle timeout, LRU eviction, a crash,
 * pi.reset_session), "notice": text or null (why, or other news such as
 * "the cell was interrupted; the session's variables are kept")}.
 *
 * "error" is null or {"type", "message", ...}.  Types the executor itself
 * sets (besides the Python exception names of the user's code): BadRequest,
 * ExecutorBusy and SessionBusy (status "busy": no free slot, or another run
 * of the same session still executing, for the run's whole timeout),
 * Cancelled, TimeoutError, MemoryLimitExceeded, FileSizeLimitExceeded,
 * SessionLimitExceeded (the owner's "owner_max_sessions" is 0),
 * WorkspaceQuotaExceeded (the workspace grew past "workspace_quota_mb"),
 * KilledBySignal, ExitedWithoutResult, SandboxUnavailable, SandboxError,
 * ExecutorError, WorkspaceError.
 * Every string is valid UTF-8 without NUL characters (both are replaced by
 * U+FFFD), so the payload is always accepted by jsonb_in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_EXECUTOR_PROTOCOL_H
#define PI_EXECUTOR_PROTOCOL_H

#include <stdint.h>

#define PI_FRAME_REQUEST	'Q'
#define PI_FRAME_CANCEL		'C'
#define PI_FRAME_PROGRESS	'P'
#define PI_FRAME_OUTPUT		'O'
#define PI_FRAME_RESULT		'R'
#define PI_FRAME_QUERY		'S'
#define PI_FRAME_ANSWER		'A'

/* tag byte + uint32 length */
#define PI_FRAME_HEADER_SIZE 5

/*
 * Largest frame either side accepts.  A result holds at most two capped
 * output streams (1 MiB each by default) plus figures as base64 PNG; 256 MiB
 * leaves room for generous caps while still refusing garbage lengths.
 */
#define PI_FRAME_MAX_PAYLOAD (256U * 1024 * 1024)

/* Socket file name, relative to the data directory. */
#define PI_EXECUTOR_SOCKET_NAME "pi_executor.sock"

#endif							/* PI_EXECUTOR_PROTOCOL_H */
