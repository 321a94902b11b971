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
	last_used_at timestamptz NOT NULL DEFAULT now(),
	kernel_live boolean NOT NULL DEFAULT false	/* a run left Python state behind */
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
	kind text NOT NULL DEFAULT 'async' CHECK (kind IN ('async', 'sync', 'load_csv')),
	session_id uuid REFERENCES pi.sessions (id) ON DELETE SET NULL,
	code text NOT NULL,
	timeout_s integer NOT NULL CHECK (timeout_s > 0),
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'running', 'completed', 'failed', 'timeout', 'cancelled')),
	progress double precision,
	progress_message text,
	attempts integer NOT NULL DEFAULT 0,
	retry_reason text,			/* why the last attempt ended without a result */
	submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	started_at timestamptz,
	finished_at timestamptz,
	lease_until timestamptz,
	worker_boot bigint,
	worker_pid integer,
	cancel_requested boolean NOT NULL DEFAULT false,
	submitted_by name NOT NULL DEFAULT current_user,
	payload jsonb,				/* what a non-Python job (load_csv) works on */
	result jsonb
);

/* The queue: only pending rows, in submission order. */
CREATE INDEX jobs_pending_idx ON pi.jobs (submitted_at, id) WHERE status = 'pending';
/* The rescuer: only running rows. */
CREATE INDEX jobs_running_idx ON pi.jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_session_idx ON pi.jobs (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX jobs_submitted_idx ON pi.jobs (submitted_at);
/* The retention sweep (pi.job_retention). */
CREATE INDEX jobs_finished_idx ON pi.jobs (finished_at) WHERE finished_at IS NOT NULL;

/*
 * The result of a job that ended without producing one of its own (cancelled
 * while pending, or lost with its worker): the usual shape, with the reason
 * as the error.
 */
CREATE FUNCTION pi.ended_result(status text, error_type text, message text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$
	SELECT pg_catalog.jsonb_build_object('status', status, 'stdout', '', 'stderr', '',
		'result', NULL, 'figures', '[]'::jsonb, 'files', '[]'::jsonb, 'elapsed_ms', 0,
		'error', pg_catalog.jsonb_build_object('type', error_type, 'message', message))
$$;

/*
 * What a job's result says about its attempt: always its number, and on a
 * re-run why the first attempt ended without a result.  Jobs run at least
 * once: a re-run may repeat what the first attempt already did, and its
 * result must say so.
 */
CREATE FUNCTION pi.attempt_note(attempts integer, retry_reason text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$
	SELECT CASE WHEN attempts > 1 THEN
		pg_catalog.jsonb_build_object('attempt', attempts, 'notice',
			'this job ran again (attempt ' || attempts || '): ' ||
			coalesce(retry_reason, 'its first attempt ended without a result') ||
			'; what the first attempt did before it stopped (files written, data sent) may have happened twice')
	ELSE pg_catalog.jsonb_build_object('attempt', attempts) END
$$;

/*
 * Keep the promise that a run says when its session's Python state was lost
 * also across a restart of the executor (which forgets every kernel): a
 * session whose last run left state behind, and whose kernel now had to be
 * started afresh without the executor saying why, gets the notice here.
 */
CREATE FUNCTION pi.note_session_kernel(sid uuid, result jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	had_state boolean;
BEGIN
	IF sid IS NULL OR pg_catalog.jsonb_typeof(result -> 'session') IS DISTINCT FROM 'object' THEN
		RETURN result;
	END IF;
	SELECT s.kernel_live INTO had_state FROM pi.sessions s WHERE s.id = sid FOR UPDATE;
	UPDATE pi.sessions SET kernel_live = true WHERE id = sid;
	IF had_state AND result -> 'session' ->> 'kernel' = 'started'
		AND (result -> 'session' ->> 'state_reset') IS DISTINCT FROM 'true' THEN
		RETURN pg_catalog.jsonb_set(pg_catalog.jsonb_set(result, '{session,state_reset}', 'true'),
			'{session,notice}', pg_catalog.to_jsonb(
			'the session''s Python state was reset: the executor restarted since its last run; its files are kept'::text));
	END IF;
	RETURN result;
END
$$;

CREATE FUNCTION pi.create_session(label text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'pi_create_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.close_session(session_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pi_close_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.reset_session(session_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pi_reset_session'
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

/* The same, refusing at once when a job already runs in the session. */
CREATE FUNCTION pi.submit_job(code text, timeout_s integer, session_id uuid,
							  fail_if_busy boolean)
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

/* The same, after waiting up to wait_s seconds for the job to end. */
CREATE FUNCTION pi.job_result(job_id uuid, wait_s double precision)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_job_result'
LANGUAGE C VOLATILE;

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
 * Datasets: tables in schema pi_data, registered in pi.datasets, read by
 * pi.query as the NOLOGIN role pi_reader, which may SELECT pi_data and
 * nothing else.
 */
CREATE SCHEMA pi_data;

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pi_reader') THEN
		CREATE ROLE pi_reader NOLOGIN;
	END IF;
END
$$;
GRANT USAGE ON SCHEMA pi_data TO pi_reader;

CREATE TABLE pi.datasets (
	name text PRIMARY KEY,
	table_name text NOT NULL UNIQUE,
	rows bigint NOT NULL,
	bytes bigint NOT NULL,
	columns jsonb NOT NULL,
	source_file text,
	session_id uuid,
	job_id uuid,
	options jsonb NOT NULL DEFAULT '{}',
	loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION pi.query(sql text, max_rows integer DEFAULT 1000)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_query'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.load_csv(file_path text, dataset_name text, session_id uuid DEFAULT NULL,
							options jsonb DEFAULT '{}')
RETURNS uuid
AS 'MODULE_PATHNAME', 'pi_load_csv'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.list_datasets()
RETURNS TABLE (name text, table_name text, rows bigint, bytes bigint, columns jsonb,
			   source_file text, loaded_at timestamptz)
LANGUAGE sql STABLE
AS $$
	SELECT d.name, 'pi_data.' || pg_catalog.quote_ident(d.table_name), d.rows, d.bytes,
		   d.columns, d.source_file, d.loaded_at
	FROM pi.datasets d ORDER BY d.name
$$;

CREATE FUNCTION pi.describe_dataset(name text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	d pi.datasets;
BEGIN
	SELECT * INTO d FROM pi.datasets WHERE datasets.name = describe_dataset.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dataset "%" does not exist', describe_dataset.name
			USING ERRCODE = 'undefined_object',
				  HINT = 'pi.list_datasets() lists the datasets that exist.';
	END IF;
	RETURN pg_catalog.to_jsonb(d) - 'table_name'
		|| pg_catalog.jsonb_build_object('table', 'pi_data.' || pg_catalog.quote_ident(d.table_name));
END
$$;

CREATE FUNCTION pi.drop_dataset(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	t text;
BEGIN
	DELETE FROM pi.datasets WHERE datasets.name = drop_dataset.name RETURNING table_name INTO t;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	EXECUTE pg_catalog.format('DROP TABLE IF EXISTS pi_data.%I', t);
	RETURN true;
END
$$;

/*
 * Running Python is a privilege: nothing is open to PUBLIC.  The NOLOGIN role
 * pi_user carries what a user of the service needs: USAGE on schema pi and
 * EXECUTE on the functions of the API, and nothing else; grant it to the
 * roles that may run Python (GRANT pi_user TO alice).
 *
 * The functions of the API run as their owner (SECURITY DEFINER) with a
 * pinned search_path, instead of pi_user being granted the tables: with
 * table grants a member could rewrite any job or session row directly (mark
 * a job completed, point a session's workspace anywhere, register any table
 * as a dataset).  Through the functions it can only do what they check.  The
 * functions name every object by schema; pg_temp comes last so that a
 * caller's temporary objects can never stand in for them.  The caller's
 * role is what pi.jobs.submitted_by records (pi_caller_name() in C).
 */
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pi_user') THEN
		CREATE ROLE pi_user NOLOGIN;
	END IF;
END
$$;

DO $$
DECLARE
	f regprocedure;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'pi.create_session(text)', 'pi.close_session(uuid)', 'pi.reset_session(uuid)',
		'pi.execute(text, integer, uuid)', 'pi.submit_job(text, integer, uuid)',
		'pi.submit_job(text, integer, uuid, boolean)',
		'pi.job_status(uuid)', 'pi.job_result(uuid)', 'pi.job_result(uuid, double precision)',
		'pi.cancel_job(uuid)',
		'pi.write_file(uuid, text, bytea, boolean)', 'pi.read_file(uuid, text, bigint, bigint)',
		'pi.list_files(uuid)', 'pi.delete_file(uuid, text)',
		'pi.query(text, integer)', 'pi.load_csv(text, text, uuid, jsonb)',
		'pi.list_datasets()', 'pi.describe_dataset(text)', 'pi.drop_dataset(text)']::regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO pi_user', f);
	END LOOP;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pi FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pi FROM PUBLIC;
GRANT USAGE ON SCHEMA pi TO pi_user;
