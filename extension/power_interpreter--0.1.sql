/* power_interpreter--0.1.sql: tables, indexes and SQL functions of schema pi */

\echo Use "CREATE EXTENSION power_interpreter" to load this file. \quit

/*
 * Sessions: a workspace directory under pi.workspace_root named after the id.
 */
CREATE TABLE pi.sessions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	label text,
	workspace text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz NOT NULL DEFAULT now()
);

/*
 * Jobs: the async queue and the history of every run (sync runs are recorded
 * with kind = 'sync').  A job is claimed with FOR UPDATE SKIP LOCKED; a running
 * job carries a lease that its worker renews, and the boot id of the server
 * generation that claimed it, so that jobs left running by a crash or a dead
 * worker can be told apart and rescued.
 */
CREATE TABLE pi.jobs (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	kind text NOT NULL DEFAULT 'async' CHECK (kind IN ('async', 'sync')),
	session_id uuid REFERENCES pi.sessions (id) ON DELETE SET NULL,
	code text NOT NULL,
	timeout_s integer NOT NULL CHECK (timeout_s > 0),
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'running', 'completed', 'failed', 'timeout', 'cancelled')),
	progress double precision,
	progress_message text,
	attempts integer NOT NULL DEFAULT 0,
	submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	started_at timestamptz,
	finished_at timestamptz,
	lease_until timestamptz,
	worker_boot bigint,
	worker_pid integer,
	cancel_requested boolean NOT NULL DEFAULT false,
	submitted_by name NOT NULL DEFAULT current_user,
	result jsonb
);

/* The queue: only pending rows, in submission order. */
CREATE INDEX jobs_pending_idx ON pi.jobs (submitted_at, id) WHERE status = 'pending';
/* The rescuer: only running rows. */
CREATE INDEX jobs_running_idx ON pi.jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_session_idx ON pi.jobs (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX jobs_submitted_idx ON pi.jobs (submitted_at);

CREATE FUNCTION pi.create_session(label text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'pi_create_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.execute(code text, timeout_s integer DEFAULT 60,
						   session_id uuid DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_execute'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.submit_job(code text, timeout_s integer DEFAULT NULL,
							  session_id uuid DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'pi_submit_job'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.job_status(job_id uuid)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_job_status'
LANGUAGE C STABLE;

CREATE FUNCTION pi.job_result(job_id uuid)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_job_result'
LANGUAGE C STABLE;

CREATE FUNCTION pi.cancel_job(job_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pi_cancel_job'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.write_file(session_id uuid, path text, content bytea,
							  append boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_write_file'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.read_file(session_id uuid, path text, "offset" bigint DEFAULT 0,
							 length bigint DEFAULT NULL)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pi_read_file'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.list_files(session_id uuid)
RETURNS TABLE (path text, size bigint, modified timestamptz, mime text)
AS 'MODULE_PATHNAME', 'pi_list_files'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.delete_file(session_id uuid, path text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pi_delete_file'
LANGUAGE C VOLATILE;

/*
 * Running Python is a privilege: nothing is open to PUBLIC.  Grant EXECUTE on
 * these functions and the tables to the roles that should have it.
 */
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pi FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pi FROM PUBLIC;
