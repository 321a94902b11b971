-- pi_user: a login role that is a member of it can use the whole service,
-- and can neither read nor write the tables behind it
\pset null '(null)'
SELECT current_user AS admin \gset
CREATE ROLE pi_alice LOGIN IN ROLE pi_user;
\c - pi_alice
SELECT current_user;

CREATE FUNCTION pg_temp.wait_for(job uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	FOR i IN 1 .. 1200 LOOP
		s := pi.job_status(job)->>'status';
		IF s NOT IN ('pending', 'running') THEN
			RETURN s;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN 'still ' || s;
END
$$;

-- run code, submit a job and read its result, cancel
SELECT r->>'status' AS status, r->>'stdout' AS stdout FROM pi.execute('print(6 * 7)') r;
SELECT pi.submit_job('print("from a job")') AS job \gset
SELECT pg_temp.wait_for(:'job');
SELECT r->>'status' AS status, r->>'stdout' AS stdout FROM pi.job_result(:'job') r;
SELECT pi.cancel_job(:'job');

-- a session: files, a live kernel, a CSV loaded and queried
SELECT pi.create_session('alice') AS sid \gset
SELECT pi.write_file(:'sid', 'sales.csv', convert_to(E'region,amount\nnorth,10\nsouth,5\nnorth,7\n', 'UTF8')) ->> 'path' AS written;
SELECT convert_from(pi.read_file(:'sid', 'sales.csv', 0, 6), 'UTF8') AS head;
SELECT path, size FROM pi.list_files(:'sid');
SELECT r->>'stdout' AS stdout FROM pi.execute('v = 5; print(len(open("sales.csv").read()))', 10, :'sid') r;
SELECT r->'result'->'json' AS json FROM pi.execute('v + 1', 10, :'sid') r;
SELECT pi.load_csv('sales.csv', 'alice_sales', :'sid') AS load \gset
SELECT pg_temp.wait_for(:'load');
SELECT pi.query('SELECT region, sum(amount) AS total FROM alice_sales GROUP BY 1 ORDER BY 1')->'rows' AS rows;
SELECT name, rows FROM pi.list_datasets() WHERE name = 'alice_sales';
SELECT count(*) FROM pi_data.alice_sales;
SELECT pi.describe_dataset('alice_sales')->>'rows' AS rows;
SELECT pi.reset_session(:'sid');
SELECT pi.delete_file(:'sid', 'sales.csv');
SELECT pi.drop_dataset('alice_sales');
SELECT pi.close_session(:'sid');

-- the tables behind the functions stay closed
SELECT count(*) FROM pi.jobs;
SELECT count(*) FROM pi.sessions;
UPDATE pi.jobs SET status = 'completed';
INSERT INTO pi.sessions (workspace) VALUES ('/tmp');
SELECT count(*) FROM pi.datasets;
SELECT pi.ended_result('completed', 'x', 'y');

-- dropped here: a temporary object can outlive its session for a moment
-- and would stop DROP ROLE below
DROP FUNCTION pg_temp.wait_for(uuid);
\c - :admin
-- the job is recorded as alice's, not as the functions' owner's
SELECT submitted_by FROM pi.jobs WHERE id = :'job';
DROP ROLE pi_alice;
