/* power_interpreter--0.1.sql: tables, indexes and SQL functions of schema pi */

\echo Use "CREATE EXTENSION power_interpreter" to load this file. \quit

/*
 * Who a call is made for (tenants.c): the API functions run as their owner,
 * so the caller is the outer user, the role a login or SET ROLE chose.
 * Every object records its owner; a caller sees its own objects, and a
 * superuser or a member of pi_admin sees all (docs/tenants.md).
 */
CREATE FUNCTION pi.caller()
RETURNS name
AS 'MODULE_PATHNAME', 'pi_caller'
LANGUAGE C STABLE;

CREATE FUNCTION pi.caller_sees(owner name)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pi_caller_sees_sql'
LANGUAGE C STABLE;

/*
 * The schema of a role's datasets: pi_data for superusers, else
 * pi_data_<oid>; NULL when the role does not exist.  role must not be NULL.
 */
CREATE FUNCTION pi.dataset_schema(role name)
RETURNS text
AS 'MODULE_PATHNAME', 'pi_dataset_schema_sql'
LANGUAGE C STABLE;

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pi_admin') THEN
		CREATE ROLE pi_admin NOLOGIN;
	END IF;
END
$$;

/*
 * Sessions: a workspace directory under pi.workspace_root named after the id.
 */
CREATE TABLE pi.sessions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	owner name NOT NULL,
	label text,
	workspace text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz NOT NULL DEFAULT now(),
	kernel_live boolean NOT NULL DEFAULT false,	/* a run left Python state behind */
	is_default boolean NOT NULL DEFAULT false	/* pi.default_session(): runs keep no state */
);

/* A role has at most one default session. */
CREATE UNIQUE INDEX sessions_default_idx ON pi.sessions (owner) WHERE is_default;

/*
 * The session of a workspace, looked up by each workspace_mb check
 * (workspace_tally.c) without reading the whole table.
 */
CREATE INDEX sessions_workspace_idx ON pi.sessions (workspace);

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
	/* a job's newest stdout while it runs (bgworker/job_live.c) and its size */
	stdout_tail text,
	stdout_bytes bigint,
	attempts integer NOT NULL DEFAULT 0,
	retry_reason text,			/* why the last attempt ended without a result */
	submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	started_at timestamptz,
	finished_at timestamptz,
	lease_until timestamptz,
	worker_boot bigint,
	worker_pid integer,
	cancel_requested boolean NOT NULL DEFAULT false,
	submitted_by name NOT NULL DEFAULT current_user,	/* the job's owner: pi.caller() */
	payload jsonb,				/* what a non-Python job (load_csv) works on */
	result jsonb
);

/* The queue: only pending rows, in submission order. */
CREATE INDEX jobs_pending_idx ON pi.jobs (submitted_at, id) WHERE status = 'pending';
/* The rescuer: only running rows. */
CREATE INDEX jobs_running_idx ON pi.jobs (lease_until) WHERE status = 'running';
/*
 * A tenant's jobs and loads queued or running (its max_jobs limit): only
 * those rows, so a recorded sync run, which is finished when it is
 * inserted, adds no entry here.
 */
CREATE INDEX jobs_owner_idx ON pi.jobs (submitted_by)
	WHERE kind <> 'sync' AND status IN ('pending', 'running');
CREATE INDEX jobs_session_idx ON pi.jobs (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX jobs_submitted_idx ON pi.jobs (submitted_at);
/* The retention sweep (pi.job_retention). */
CREATE INDEX jobs_finished_idx ON pi.jobs (finished_at) WHERE finished_at IS NOT NULL;

/*
 * Figures for monitoring (the gateway's /metrics): jobs queued and running
 * by kind, jobs that ended in the last hour by kind and status, and sync
 * runs in progress.  Counts only, nothing of any job's content, so every
 * tenant and the gateway's own role may read them (SECURITY DEFINER,
 * below); cheap enough to scrape often, as each part reads a partial index
 * (pending, running, finished_at) rather than the whole retained history.
 */
CREATE FUNCTION pi.job_counts()
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
SELECT jsonb_build_object(
	'queued', (SELECT coalesce(jsonb_object_agg(kind, n), '{}')
			   FROM (SELECT kind, count(*) AS n FROM pi.jobs
					 WHERE status = 'pending' GROUP BY kind) q),
	'running', (SELECT coalesce(jsonb_object_agg(kind, n), '{}')
				FROM (SELECT kind, count(*) AS n FROM pi.jobs
					  WHERE status = 'running' GROUP BY kind) r),
	'finished_last_hour', (SELECT coalesce(jsonb_agg(jsonb_build_object(
										'kind', kind, 'status', status, 'jobs', n)), '[]')
						   FROM (SELECT kind, status, count(*) AS n FROM pi.jobs
								 WHERE finished_at > now() - interval '1 hour'
								 GROUP BY kind, status) f),
	'sync_runs_active', (SELECT count(*) FROM pg_catalog.pg_stat_activity
						 WHERE state = 'active' AND query LIKE '%pi.execute(%'
						 AND pid <> pg_catalog.pg_backend_pid()))
$$;

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

/*
 * The caller's default session, made on first use: the workspace of calls
 * that name no session (the gateway's REST routes).  Its runs keep no
 * Python state and do not take turns (sessions.c).
 */
CREATE FUNCTION pi.default_session()
RETURNS uuid
AS 'MODULE_PATHNAME', 'pi_default_session'
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

/*
 * The end of an upload sent in pieces: part becomes path whole (renamed
 * over it, or appended to it with append), or path stays as it was.
 */
CREATE FUNCTION pi.finish_upload(session_id uuid, part text, path text,
								 append boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_finish_upload'
LANGUAGE C VOLATILE;

CREATE FUNCTION pi.read_file(session_id uuid, path text, "offset" bigint DEFAULT 0,
							 length bigint DEFAULT NULL)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pi_read_file'
LANGUAGE C VOLATILE;

/* One file's {path, size, modified, mime}, to read a range of it. */
CREATE FUNCTION pi.file_info(session_id uuid, path text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pi_file_info'
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

/*
 * Tables that two backends fill at once during a large load, before the
 * load moves them into the dataset schema; nobody else is granted anything
 * here, and the workers' rescue sweep drops what a failed load left.
 */
CREATE SCHEMA pi_staging;

CREATE TABLE pi.datasets (
	owner name NOT NULL,
	schema_name text NOT NULL,	/* pi.dataset_schema(owner) when it was loaded */
	name text NOT NULL,
	table_name text NOT NULL,
	rows bigint NOT NULL,
	bytes bigint NOT NULL,
	columns jsonb NOT NULL,
	source_file text,
	session_id uuid,
	job_id uuid,
	options jsonb NOT NULL DEFAULT '{}',
	loaded_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (schema_name, name),
	UNIQUE (schema_name, table_name)
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

/* The caller's datasets; an administrator's list holds every tenant's. */
CREATE FUNCTION pi.list_datasets()
RETURNS TABLE (name text, table_name text, rows bigint, bytes bigint, columns jsonb,
			   source_file text, loaded_at timestamptz, owner name)
LANGUAGE sql STABLE
AS $$
	SELECT d.name, pg_catalog.quote_ident(d.schema_name) || '.' || pg_catalog.quote_ident(d.table_name),
		   d.rows, d.bytes, d.columns, d.source_file, d.loaded_at, d.owner
	FROM pi.datasets d WHERE pi.caller_sees(d.owner)
	ORDER BY d.name, d.owner
$$;

/* One of the caller's datasets, by name (required: NULL is an error). */
CREATE FUNCTION pi.describe_dataset(name text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	d pi.datasets;
BEGIN
	IF describe_dataset.name IS NULL THEN
		RAISE EXCEPTION 'a dataset name is required: name must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'pi.list_datasets() lists the datasets that exist.';
	END IF;
	SELECT * INTO d FROM pi.datasets
	WHERE datasets.name = describe_dataset.name
	  AND datasets.schema_name = pi.dataset_schema(pi.caller());
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dataset "%" does not exist', describe_dataset.name
			USING ERRCODE = 'undefined_object',
				  HINT = 'pi.list_datasets() lists the datasets that exist.';
	END IF;
	RETURN pg_catalog.to_jsonb(d) - 'table_name' - 'schema_name'
		|| pg_catalog.jsonb_build_object('table',
			pg_catalog.quote_ident(d.schema_name) || '.' || pg_catalog.quote_ident(d.table_name));
END
$$;

/*
 * Drop one of the caller's datasets; false when it has none of that name.
 * The name is required: NULL is an error, not a silent false.
 */
CREATE FUNCTION pi.drop_dataset(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	t text;
	s text;
BEGIN
	IF drop_dataset.name IS NULL THEN
		RAISE EXCEPTION 'a dataset name is required: name must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'pi.list_datasets() lists the datasets that exist.';
	END IF;
	DELETE FROM pi.datasets
	WHERE datasets.name = drop_dataset.name
	  AND datasets.schema_name = pi.dataset_schema(pi.caller())
	RETURNING schema_name, table_name INTO s, t;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	EXECUTE pg_catalog.format('DROP TABLE IF EXISTS %I.%I', s, t);
	RETURN true;
END
$$;

/*
 * API keys: each maps to one tenant role.  Only a SHA-256 of the key is
 * kept (a key is 160 random bits or more, so an unsalted fast hash is
 * enough: nobody can guess back through it), with its first characters to
 * tell keys apart in lists.  The gateway's role may only resolve a key to
 * its role (pi.resolve_api_key), which also records its use.
 */
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pi_authenticator') THEN
		CREATE ROLE pi_authenticator NOLOGIN;
	END IF;
END
$$;

CREATE TABLE pi.api_keys (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	prefix text NOT NULL,		/* the key's first characters, not secret */
	key_hash bytea NOT NULL UNIQUE,	/* sha256 of the whole key */
	role name NOT NULL,			/* the tenant the key's calls run as */
	label text,
	created_at timestamptz NOT NULL DEFAULT now(),
	created_by name NOT NULL,
	last_used_at timestamptz,
	use_count bigint NOT NULL DEFAULT 0,
	revoked_at timestamptz
);
CREATE INDEX api_keys_prefix_idx ON pi.api_keys (prefix);

CREATE FUNCTION pi.caller_is_admin()
RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT pi.caller_sees(NULL) $$;

/*
 * Refuse what may not hold a key: no role (NULL included, with an error
 * saying a role name is required), a superuser, a non-member of pi_user.
 */
CREATE FUNCTION pi.check_key_role(role name)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	r pg_catalog.pg_roles;
BEGIN
	IF NOT pi.caller_is_admin() THEN
		RAISE EXCEPTION 'permission denied to create API keys'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only a superuser or a member of pi_admin creates API keys.';
	END IF;
	IF role IS NULL THEN
		RAISE EXCEPTION 'a role name is required: role must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass the tenant role the key''s calls run as, e.g. pi.create_api_key(''acme'', ''laptop'').';
	END IF;
	SELECT * INTO r FROM pg_catalog.pg_roles WHERE rolname = role;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create the tenant first: CREATE ROLE name NOLOGIN IN ROLE pi_user.';
	END IF;
	IF r.rolsuper OR pg_catalog.pg_has_role(role, 'pi_admin', 'USAGE') THEN
		RAISE EXCEPTION 'an API key cannot run as an administrator ("%")', role
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give the key a tenant role that is neither a superuser nor a member of pi_admin.';
	END IF;
	IF NOT pg_catalog.pg_has_role(role, 'pi_user', 'USAGE') THEN
		RAISE EXCEPTION 'role "%" is not a member of pi_user', role
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'GRANT pi_user TO the role first.';
	END IF;
END
$$;

/* A new key for role, returned this once. */
CREATE FUNCTION pi.create_api_key(role name, label text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	key text;
BEGIN
	PERFORM pi.check_key_role(role);
	/* gen_random_uuid() draws from the server's strong random source */
	key := 'pik_' || pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12)
		|| '_' || pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', '')
		|| pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 8);
	INSERT INTO pi.api_keys (prefix, key_hash, role, label, created_by)
	VALUES (pg_catalog.left(key, 16), pg_catalog.sha256(pg_catalog.convert_to(key, 'UTF8')),
			role, label, pi.caller());
	RETURN key;
END
$$;

/*
 * Register a key chosen elsewhere (the service's API_KEY) for role; again
 * with the same key, it moves to role and is no longer revoked.  Returns
 * its prefix.  role and key are required; label may be NULL.
 */
CREATE FUNCTION pi.register_api_key(role name, label text, key text)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	PERFORM pi.check_key_role(role);
	IF key IS NULL THEN
		RAISE EXCEPTION 'a key is required: key must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass the key of at least 16 characters, or use pi.create_api_key(), which makes a strong key.';
	END IF;
	IF pg_catalog.length(key) < 16 THEN
		RAISE EXCEPTION 'an API key needs at least 16 characters'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use pi.create_api_key(), which makes a strong key.';
	END IF;
	INSERT INTO pi.api_keys AS k (prefix, key_hash, role, label, created_by)
	VALUES (pg_catalog.left(key, 6), pg_catalog.sha256(pg_catalog.convert_to(key, 'UTF8')),
			role, label, pi.caller())
	ON CONFLICT (key_hash) DO UPDATE SET role = excluded.role, label = excluded.label,
		revoked_at = NULL;
	RETURN pg_catalog.left(key, 6);
END
$$;

/*
 * Revoke the keys that start with prefix; a tenant may revoke its own.
 * False when none was live; a NULL prefix is an error, not a silent false.
 */
CREATE FUNCTION pi.revoke_api_key(prefix text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	IF prefix IS NULL THEN
		RAISE EXCEPTION 'a key prefix is required: prefix must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass the prefix that pi.list_api_keys() shows, e.g. pi.revoke_api_key(''pik_3f9c0a1b2c3d'').';
	END IF;
	UPDATE pi.api_keys k SET revoked_at = now()
	WHERE k.prefix = revoke_api_key.prefix AND k.revoked_at IS NULL
	  AND pi.caller_sees(k.role);
	RETURN FOUND;
END
$$;

/* The keys the caller may see (an administrator: all), without secrets. */
CREATE FUNCTION pi.list_api_keys()
RETURNS TABLE (prefix text, role name, label text, created_at timestamptz, created_by name,
			   last_used_at timestamptz, use_count bigint, revoked_at timestamptz)
LANGUAGE sql STABLE
AS $$
	SELECT k.prefix, k.role, k.label, k.created_at, k.created_by, k.last_used_at,
		   k.use_count, k.revoked_at
	FROM pi.api_keys k WHERE pi.caller_sees(k.role)
	ORDER BY k.created_at, k.id
$$;

/*
 * The tenant role of a live key, or NULL (so also for a NULL key: no key
 * is no live key, which the gateway answers 401); records uses (a gateway
 * that caches a key for a few seconds reports the calls it served
 * meanwhile; NULL uses counts as 1).
 */
CREATE FUNCTION pi.resolve_api_key(key text, uses bigint DEFAULT 1)
RETURNS name
LANGUAGE sql VOLATILE
AS $$
	UPDATE pi.api_keys SET last_used_at = now(),
		use_count = use_count + GREATEST(coalesce(uses, 1), 0)
	WHERE key_hash = pg_catalog.sha256(pg_catalog.convert_to(key, 'UTF8'))
	  AND revoked_at IS NULL
	RETURNING role
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
		'pi.create_session(text)', 'pi.default_session()', 'pi.close_session(uuid)', 'pi.reset_session(uuid)',
		'pi.execute(text, integer, uuid)', 'pi.submit_job(text, integer, uuid)',
		'pi.submit_job(text, integer, uuid, boolean)',
		'pi.job_status(uuid)', 'pi.job_result(uuid)', 'pi.job_result(uuid, double precision)',
		'pi.cancel_job(uuid)',
		'pi.write_file(uuid, text, bytea, boolean)', 'pi.read_file(uuid, text, bigint, bigint)',
		'pi.finish_upload(uuid, text, text, boolean)',
		'pi.file_info(uuid, text)',
		'pi.list_files(uuid)', 'pi.delete_file(uuid, text)',
		'pi.query(text, integer)', 'pi.load_csv(text, text, uuid, jsonb)',
		'pi.list_datasets()', 'pi.describe_dataset(text)', 'pi.drop_dataset(text)',
		'pi.job_counts()',
		'pi.revoke_api_key(text)', 'pi.list_api_keys()']::regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO pi_user, pi_admin', f);
	END LOOP;
	/* administrators make keys; the gateway's role only resolves them */
	FOREACH f IN ARRAY ARRAY['pi.create_api_key(name, text)',
		'pi.register_api_key(name, text, text)']::regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO pi_admin', f);
	END LOOP;
	ALTER FUNCTION pi.resolve_api_key(text, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pi FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pi FROM PUBLIC;
GRANT USAGE ON SCHEMA pi TO pi_user, pi_admin, pi_authenticator;
GRANT EXECUTE ON FUNCTION pi.resolve_api_key(text, bigint) TO pi_authenticator;
GRANT EXECUTE ON FUNCTION pi.job_counts() TO pi_authenticator;

/*
 * pi.load_dataset: pi.load_csv for the files assistants are handed besides
 * CSV.  format 'auto' tells CSV, xlsx and JSON Lines apart by the file's
 * name and first bytes; an xlsx sheet (the first, or `sheet` by name) or a
 * JSON Lines file is converted to CSV in a sandboxed run and loaded like
 * one.  Returns the id of the load job.
 */
CREATE FUNCTION pi.load_dataset(file_path text, dataset_name text, session_id uuid DEFAULT NULL,
	options jsonb DEFAULT '{}', format text DEFAULT 'auto', sheet text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'pi_load_dataset'
LANGUAGE C VOLATILE;

ALTER FUNCTION pi.load_dataset(text, text, uuid, jsonb, text, text)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pi.load_dataset(text, text, uuid, jsonb, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pi.load_dataset(text, text, uuid, jsonb, text, text) TO pi_user, pi_admin;

/*
 * Per-tenant limits (tenant_limits.c, docs/tenants.md): a row overrides the
 * server-wide defaults (the pi.tenant_* settings) for one role; NULL keeps
 * the default.  Only administrators write it, through pi.set_tenant_limit,
 * so a tenant cannot raise its own limits.
 */
CREATE TABLE pi.tenant_limits (
	role name PRIMARY KEY,
	max_sync_runs integer CHECK (max_sync_runs >= 0),	/* pi.execute calls at once */
	max_jobs integer CHECK (max_jobs >= 0),				/* jobs and loads queued or running */
	workspace_mb integer CHECK (workspace_mb >= 0),		/* all its sessions' files */
	datasets_mb integer CHECK (datasets_mb >= 0),		/* its dataset tables */
	max_sessions integer CHECK (max_sessions >= 0),		/* live session kernels */
	updated_at timestamptz NOT NULL DEFAULT now(),
	updated_by name NOT NULL
);

/*
 * What role uses of one limit, in its unit, and the limit in force for it:
 * counted by the same C code that enforces the limits (tenant_usage.c), so
 * what pi.show_tenant_limits shows is what the checks count.  Internal
 * (no one is granted them): their callers pass checked arguments, so
 * STRICT's NULL for a NULL argument never reaches a user.
 */
CREATE FUNCTION pi.tenant_in_use(role name, limit_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pi_tenant_in_use'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION pi.tenant_limit_value(role name, limit_name text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pi_tenant_limit_value'
LANGUAGE C STRICT STABLE;

/*
 * The limits in force for tenant (the caller's own by default) and its use
 * of each.  A superuser's are shown too, though none applies to it.
 */
CREATE FUNCTION pi.show_tenant_limits(tenant name DEFAULT NULL)
RETURNS TABLE (limit_name text, value integer, is_default boolean, in_use bigint, unit text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	who name := coalesce(tenant, pi.caller());
	r pi.tenant_limits;
	roleid oid;
BEGIN
	SELECT oid INTO roleid FROM pg_catalog.pg_roles WHERE rolname = who;
	IF roleid IS NULL OR NOT pi.caller_sees(who) THEN
		RAISE EXCEPTION 'role "%" does not exist', who
			USING ERRCODE = 'undefined_object',
				  HINT = 'Leave tenant out for your own limits; administrators may name any role.';
	END IF;
	SELECT * INTO r FROM pi.tenant_limits l WHERE l.role = who;
	RETURN QUERY
	SELECT l.name, pi.tenant_limit_value(who, l.name), l.is_default, pi.tenant_in_use(who, l.name), l.unit
	FROM (VALUES (1, 'max_sync_runs', r.max_sync_runs IS NULL, 'runs'),
				 (2, 'max_jobs', r.max_jobs IS NULL, 'jobs'),
				 (3, 'workspace_mb', r.workspace_mb IS NULL, 'MB'),
				 (4, 'datasets_mb', r.datasets_mb IS NULL, 'MB'),
				 (5, 'max_sessions', r.max_sessions IS NULL, 'kernels')) l(ord, name, is_default, unit)
	ORDER BY l.ord;
END
$$;

/*
 * Set one limit of tenant to value (NULL: back to the server default);
 * returns the value now in force.  Administrators only.  tenant and
 * limit_name are required: NULL for either is an error naming it.
 */
CREATE FUNCTION pi.set_tenant_limit(tenant name, limit_name text, value integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	IF NOT pi.caller_is_admin() THEN
		RAISE EXCEPTION 'permission denied to set tenant limits'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only a superuser or a member of pi_admin sets tenant limits; pi.show_tenant_limits() shows yours.';
	END IF;
	IF tenant IS NULL THEN
		RAISE EXCEPTION 'a role name is required: tenant must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass the tenant''s role name, e.g. pi.set_tenant_limit(''acme'', ''max_jobs'', 10).';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = tenant) THEN
		RAISE EXCEPTION 'role "%" does not exist', tenant
			USING ERRCODE = 'undefined_object',
				  HINT = 'Pass the tenant''s role name.';
	END IF;
	IF limit_name IS NULL THEN
		RAISE EXCEPTION 'a limit name is required: limit_name must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'The limits are max_sync_runs, max_jobs, workspace_mb, datasets_mb and max_sessions; pass NULL as the value, not the name, to go back to the default.';
	END IF;
	IF limit_name NOT IN ('max_sync_runs', 'max_jobs', 'workspace_mb', 'datasets_mb', 'max_sessions') THEN
		RAISE EXCEPTION 'unknown tenant limit "%"', limit_name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The limits are max_sync_runs, max_jobs, workspace_mb, datasets_mb and max_sessions.';
	END IF;
	IF value < 0 THEN
		RAISE EXCEPTION 'a tenant limit cannot be negative (% is)', value
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass 0 to allow none, or NULL to go back to the server default.';
	END IF;
	INSERT INTO pi.tenant_limits AS l (role, updated_by) VALUES (tenant, pi.caller())
	ON CONFLICT (role) DO UPDATE SET updated_at = now(), updated_by = excluded.updated_by;
	EXECUTE pg_catalog.format('UPDATE pi.tenant_limits SET %I = $1 WHERE role = $2', limit_name)
		USING value, tenant;
	RETURN pi.tenant_limit_value(tenant, limit_name);
END
$$;

ALTER FUNCTION pi.show_tenant_limits(name) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pi.set_tenant_limit(name, text, integer) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pi.tenant_in_use(name, text), pi.tenant_limit_value(name, text), pi.show_tenant_limits(name),
	pi.set_tenant_limit(name, text, integer) FROM PUBLIC;
REVOKE ALL ON TABLE pi.tenant_limits FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pi.show_tenant_limits(name) TO pi_user, pi_admin;
GRANT EXECUTE ON FUNCTION pi.set_tenant_limit(name, text, integer) TO pi_admin;
GRANT SELECT ON TABLE pi.tenant_limits TO pi_admin;
