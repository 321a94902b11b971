-- async jobs: submit, status, result, cancel, bad input
\pset null '(null)'

CREATE FUNCTION pg_temp.wait_for(job uuid, max_seconds int DEFAULT 60) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	FOR i IN 1 .. max_seconds * 20 LOOP
		SELECT status INTO s FROM pi.jobs WHERE id = job;
		IF s NOT IN ('pending', 'running') THEN
			RETURN s;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN 'still ' || s;
END
$$;

SELECT pi.submit_job('print(6 * 7)') AS job \gset
SELECT pg_temp.wait_for(:'job');
SELECT r->>'status' AS status, r->>'stdout' AS stdout, r->>'job_id' = :'job' AS same_id
FROM pi.job_result(:'job') r;
SELECT s->>'status' AS status, s->>'progress' AS progress, (s->>'elapsed_ms')::numeric >= 0 AS elapsed,
       s->>'attempts' AS attempts
FROM pi.job_status(:'job') s;

-- the job's timeout, an exception, progress
SELECT pi.submit_job('while True: pass', 1) AS job \gset
SELECT pg_temp.wait_for(:'job');
SELECT r->>'status' AS status, r->'error'->>'type' AS type FROM pi.job_result(:'job') r;

SELECT pi.submit_job(E'import pi\npi.progress(0.5, "halfway")\nraise KeyError("k")') AS job \gset
SELECT pg_temp.wait_for(:'job');
SELECT r->>'status' AS status, r->'error'->>'type' AS type FROM pi.job_result(:'job') r;
SELECT progress, progress_message FROM pi.jobs WHERE id = :'job';

-- an unfinished job answers with its status; cancel stops it
SELECT pi.submit_job('import time; time.sleep(60)') AS job \gset
SELECT pg_sleep(1);
SELECT r->>'status' AS status, r ? 'message' AS has_message FROM pi.job_result(:'job') r;
SELECT pi.cancel_job(:'job');
SELECT pg_temp.wait_for(:'job');
SELECT pi.cancel_job(:'job');

-- a rolled-back submit never runs
BEGIN;
SELECT pi.submit_job('print("rolled back")') IS NOT NULL AS submitted;
ROLLBACK;
SELECT count(*) FROM pi.jobs WHERE code = 'print("rolled back")';

-- a job of a session, and the default timeout
SELECT pi.create_session('jobs test') AS sid \gset
SELECT pi.submit_job('open("note.txt", "w").write("hi")', NULL, :'sid') AS job \gset
SELECT pg_temp.wait_for(:'job');
SELECT timeout_s AS default_timeout FROM pi.jobs WHERE id = :'job';
SELECT r->'files' AS files FROM pi.execute('print(open("note.txt").read())', 10, :'sid') r;
SELECT r->>'stdout' AS stdout FROM pi.execute('print(open("note.txt").read())', 10, :'sid') r;

-- pi.job_result(job, wait_s) waits for the end
SELECT pi.submit_job('import time; time.sleep(0.5); print(8)', 30, :'sid') AS job \gset
SELECT r->>'status' AS status, r->>'stdout' AS stdout FROM pi.job_result(:'job', 30) r;

-- a job running in the session: pi.execute fails within about 2 s, naming it
SELECT pi.submit_job('import time; time.sleep(6)', 30, :'sid') AS job \gset
SELECT set_config('pi_test.sid', :'sid', false) IS NOT NULL AS set,
       set_config('pi_test.job', :'job', false) IS NOT NULL AS set;
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN pi.job_status(current_setting('pi_test.job')::uuid)->>'status' = 'running';
		PERFORM pg_sleep(0.1);
	END LOOP;
	PERFORM pi.execute('print(1)', 20, current_setting('pi_test.sid')::uuid);
	RAISE NOTICE 'not busy';
EXCEPTION WHEN object_in_use THEN
	RAISE NOTICE 'busy, naming the job: %',
		SQLERRM = 'the session is busy running job ' || current_setting('pi_test.job');
END
$$;
SELECT pi.cancel_job(:'job');

-- bad input
SELECT pi.submit_job(NULL);
SELECT pi.submit_job('');
SELECT pi.submit_job('print(1)', 0);
SELECT pi.submit_job('print(1)', 10000000);
SELECT pi.submit_job('print(1)', 10, '00000000-0000-0000-0000-000000000000');
SELECT pi.job_status(NULL);
SELECT pi.job_status('00000000-0000-0000-0000-000000000000');
SELECT pi.job_result('00000000-0000-0000-0000-000000000000');
SELECT pi.job_result('00000000-0000-0000-0000-000000000000', -1);
SELECT pi.cancel_job('00000000-0000-0000-0000-000000000000');
SELECT pi.job_status('not-a-uuid');
SELECT pi.create_session(repeat('x', 500));
