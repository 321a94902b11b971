-- tests/lib/load_procedures.sql: the clients of tests/load and tests/faults.
--
-- Each procedure calls for SECONDS and counts its answers by their body,
-- not by whether the call returned: ok (a completed run with the right
-- output), busy (SQLSTATE 53000 or status "busy"), bad (anything else).
-- kinds collects the distinct kinds of bad answers ("failed:Timeout",
-- "sqlstate:58000", "stuck:running", ...), last_bad the last one whole
-- (cut to 300 characters).  A job that has not ended 60 s after the
-- client's deadline counts as bad ("stuck:<status>"), never as a hang.

CREATE FUNCTION load_kind(r jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(r->>'status', 'null') || ':' || coalesce(r->'error'->>'type', '-')
$$;

CREATE FUNCTION load_add_kind(kinds text, kind text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN kind = ANY (string_to_array(kinds, ' ')) THEN kinds
				ELSE ltrim(kinds || ' ' || kind) END
$$;

CREATE PROCEDURE load_sync(seconds int, INOUT ok int DEFAULT 0, INOUT busy int DEFAULT 0,
						   INOUT bad int DEFAULT 0, INOUT kinds text DEFAULT '',
						   INOUT last_bad text DEFAULT '')
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
BEGIN
	WHILE clock_timestamp() < deadline LOOP
		BEGIN
			r := pi.execute('print(1)', 20);
			IF r->>'status' = 'completed' AND r->>'stdout' = E'1\n' THEN
				ok := ok + 1;
			ELSIF r->>'status' = 'busy' THEN
				busy := busy + 1;
			ELSE
				bad := bad + 1;
				kinds := load_add_kind(kinds, load_kind(r));
				last_bad := left(r::text, 300);
			END IF;
		EXCEPTION WHEN SQLSTATE '53000' THEN
			busy := busy + 1;
		WHEN OTHERS THEN
			bad := bad + 1;
			kinds := load_add_kind(kinds, 'sqlstate:' || SQLSTATE);
			last_bad := SQLSTATE || ' ' || SQLERRM;
		END;
		COMMIT;
	END LOOP;
END $$;

CREATE PROCEDURE load_jobs(seconds int, INOUT ok int DEFAULT 0, INOUT busy int DEFAULT 0,
						   INOUT bad int DEFAULT 0, INOUT kinds text DEFAULT '',
						   INOUT last_bad text DEFAULT '')
LANGUAGE plpgsql AS $$
DECLARE
	j uuid;
	s text;
	r jsonb;
	deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
BEGIN
	WHILE clock_timestamp() < deadline LOOP
		BEGIN
			j := pi.submit_job('print(2)', 60);
		EXCEPTION WHEN OTHERS THEN
			j := NULL;
			bad := bad + 1;
			kinds := load_add_kind(kinds, 'submit:' || SQLSTATE);
			last_bad := SQLSTATE || ' ' || SQLERRM;
		END;
		COMMIT;
		CONTINUE WHEN j IS NULL;
		LOOP
			s := pi.job_status(j)->>'status';
			EXIT WHEN s NOT IN ('pending', 'running')
				OR clock_timestamp() > deadline + interval '60 s';
			PERFORM pg_sleep(0.05);
			COMMIT;
		END LOOP;
		IF s IN ('pending', 'running') THEN
			bad := bad + 1;
			kinds := load_add_kind(kinds, 'stuck:' || s);
			last_bad := 'job ' || j || ' still ' || s;
			EXIT;
		END IF;
		r := pi.job_result(j);
		IF r->>'status' = 'completed' AND r->>'stdout' = E'2\n' THEN
			ok := ok + 1;
		ELSE
			bad := bad + 1;
			kinds := load_add_kind(kinds, load_kind(r));
			last_bad := left(coalesce(r::text, s), 300);
		END IF;
		COMMIT;
	END LOOP;
END $$;

CREATE PROCEDURE load_session(seconds int, INOUT ok int DEFAULT 0, INOUT busy int DEFAULT 0,
							  INOUT bad int DEFAULT 0, INOUT kinds text DEFAULT '',
							  INOUT last_bad text DEFAULT '')
LANGUAGE plpgsql AS $$
DECLARE
	sid uuid := pi.create_session();
	r jsonb;
	n int := 0;
	deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
BEGIN
	COMMIT;
	WHILE clock_timestamp() < deadline LOOP
		BEGIN
			r := pi.execute('n = globals().get("n", 0) + 1' || chr(10) || 'n', 20, sid);
			IF r->>'status' = 'completed' AND (r->'result'->>'json')::int = n + 1 THEN
				ok := ok + 1;
				n := n + 1;
			ELSIF r->>'status' = 'completed' AND (r->'session'->>'state_reset')::boolean THEN
				ok := ok + 1;	/* its kernel was replaced: said so, state restarts */
				n := (r->'result'->>'json')::int;
			ELSIF r->>'status' = 'busy' THEN
				busy := busy + 1;
			ELSE
				bad := bad + 1;
				kinds := load_add_kind(kinds, load_kind(r));
				last_bad := left(r::text, 300);
			END IF;
		EXCEPTION WHEN SQLSTATE '53000' THEN
			busy := busy + 1;
		WHEN OTHERS THEN
			bad := bad + 1;
			kinds := load_add_kind(kinds, 'sqlstate:' || SQLSTATE);
			last_bad := SQLSTATE || ' ' || SQLERRM;
		END;
		COMMIT;
	END LOOP;
END $$;
