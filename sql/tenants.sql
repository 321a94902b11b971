-- tenants: two tenant roles, an administrator and a role outside pi_user try
-- every function against each other's sessions, jobs, files and datasets
-- (ids leaked through psql variables).  Another tenant's object answers as
-- a missing one (42704) or nothing; a role outside pi_user is refused
-- (42501); nothing of the owner's is read, changed or cancelled.
\pset null '(null)'
SELECT current_user AS admin \gset
CREATE ROLE pi_t1 LOGIN IN ROLE pi_user;
CREATE ROLE pi_t2 LOGIN IN ROLE pi_user;
CREATE ROLE pi_outsider LOGIN;
CREATE ROLE pi_auditor LOGIN IN ROLE pi_user, pi_admin;
CREATE SCHEMA tenant_test;
GRANT USAGE ON SCHEMA tenant_test TO PUBLIC;
CREATE FUNCTION tenant_test.wait_for(job uuid) RETURNS text
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

-- pi_t1 makes one of everything
\c - pi_t1
SELECT pi.create_session('t1') AS s1 \gset
SELECT pi.write_file(:'s1', 'data.csv', convert_to(E'k,v\na,1\nb,2\n', 'UTF8')) ->> 'size' AS size;
SELECT r->>'stdout' AS stdout FROM pi.execute('secret = 41; print(secret)', 30, :'s1') r;
SELECT pi.submit_job('print("t1 job")', 30, :'s1') AS j1 \gset
SELECT tenant_test.wait_for(:'j1');
SELECT pi.submit_job('import time; time.sleep(60)', 90) AS jlong \gset
SELECT pi.load_csv('data.csv', 'sales', :'s1') AS l1 \gset
SELECT tenant_test.wait_for(:'l1');
SELECT pi.load_csv('data.csv', 'only_t1', :'s1') AS l1b \gset
SELECT tenant_test.wait_for(:'l1b');
SELECT pi.describe_dataset('sales') ->> 'table' AS t1table \gset

-- pi_t2 has a dataset of the same name, with other rows
\c - pi_t2
SELECT pi.create_session('t2') AS s2 \gset
SELECT pi.write_file(:'s2', 'data.csv', convert_to(E'k,v\nz,100\n', 'UTF8')) ->> 'size' AS size;
SELECT pi.load_csv('data.csv', 'sales', :'s2') AS l2 \gset
SELECT tenant_test.wait_for(:'l2');
SELECT pi.query('SELECT k, v FROM sales ORDER BY k') -> 'rows' AS own_rows;

-- ... and tries everything of pi_t1's
\set VERBOSITY sqlstate
SELECT pi.job_status(:'j1');
SELECT pi.job_result(:'j1');
SELECT pi.job_status(:'l1');
SELECT pi.job_result(:'l1');
SELECT pi.cancel_job(:'jlong');
SELECT pi.execute('print(secret)', 30, :'s1');
SELECT pi.submit_job('print(secret)', 30, :'s1');
SELECT pi.reset_session(:'s1');
SELECT pi.close_session(:'s1');
SELECT pi.write_file(:'s1', 'data.csv', 'overwritten');
SELECT pi.write_file(:'s1', 'data.csv', 'appended', true);
SELECT pi.read_file(:'s1', 'data.csv');
SELECT * FROM pi.list_files(:'s1');
SELECT pi.delete_file(:'s1', 'data.csv');
SELECT pi.load_csv('data.csv', 'stolen', :'s1');
SELECT pi.query(format('SELECT * FROM %s', :'t1table'));
SELECT pi.query('SELECT * FROM only_t1');
SELECT pi.describe_dataset('only_t1');
SELECT pi.drop_dataset('only_t1');
SELECT name, rows, owner FROM pi.list_datasets();
\set VERBOSITY default
-- from Python, in a sync run and in a job: only pi_t2's own datasets
SELECT r->>'stdout' AS stdout FROM pi.execute(format($py$
import pi
print(pi.query("SELECT k, v FROM sales").to_dict("records"))
print(sorted(pi.datasets()["name"]))
for sql in ["SELECT * FROM only_t1", "SELECT * FROM %s"]:
    try:
        pi.query(sql)
        print("read", sql)
    except Exception as e:
        print("refused")
$py$, :'t1table'), 30) r;
SELECT pi.submit_job('import pi; print(pi.query("SELECT sum(v) AS s FROM sales")["s"][0])') AS j2 \gset
SELECT tenant_test.wait_for(:'j2');
SELECT pi.job_result(:'j2') ->> 'stdout' AS job_stdout;

-- a role outside pi_user can call nothing
\c - pi_outsider
\set VERBOSITY sqlstate
SELECT pi.job_status(:'j1');
SELECT pi.job_result(:'j1');
SELECT pi.cancel_job(:'jlong');
SELECT pi.create_session('x');
SELECT pi.execute('print(1)');
SELECT pi.submit_job('print(1)');
SELECT pi.reset_session(:'s1');
SELECT pi.close_session(:'s1');
SELECT pi.write_file(:'s1', 'data.csv', 'x');
SELECT pi.read_file(:'s1', 'data.csv');
SELECT * FROM pi.list_files(:'s1');
SELECT pi.delete_file(:'s1', 'data.csv');
SELECT pi.load_csv('data.csv', 'x', :'s1');
SELECT pi.query('SELECT 1');
SELECT * FROM pi.list_datasets();
SELECT pi.describe_dataset('sales');
SELECT pi.drop_dataset('sales');
SELECT pi.caller_sees('pi_t1');
SELECT count(*) FROM pi.jobs;
\set VERBOSITY default

-- pi_t1 finds everything as it was, and can still cancel its own job
\c - pi_t1
SELECT pi.job_result(:'j1') ->> 'stdout' AS stdout;
SELECT r->>'stdout' AS stdout FROM pi.execute('print(secret + 1)', 30, :'s1') r;
SELECT convert_from(pi.read_file(:'s1', 'data.csv'), 'UTF8') AS content;
SELECT path FROM pi.list_files(:'s1') ORDER BY path;
SELECT pi.query('SELECT k, v FROM sales ORDER BY k') -> 'rows' AS own_rows;
SELECT name, rows, owner FROM pi.list_datasets();
SELECT pi.cancel_job(:'jlong');
SELECT tenant_test.wait_for(:'jlong');

-- an administrator (a member of pi_admin) sees every tenant's objects
\c - pi_auditor
SELECT pi.job_result(:'j1') ->> 'stdout' AS stdout;
SELECT pi.job_status(:'j2') ->> 'status' AS status;
SELECT path FROM pi.list_files(:'s1') ORDER BY path;
SELECT name, rows, owner FROM pi.list_datasets() WHERE owner LIKE 'pi_t_' ORDER BY name, owner;
SELECT pi.query(format('SELECT count(*) AS n FROM %s', :'t1table')) -> 'rows' AS rows;

\c - :admin
SELECT submitted_by, count(*) FROM pi.jobs
WHERE submitted_by IN ('pi_t1', 'pi_t2') GROUP BY 1 ORDER BY 1;
SELECT owner, label FROM pi.sessions WHERE owner IN ('pi_t1', 'pi_t2') ORDER BY 1;
SELECT pi.close_session(:'s1'), pi.close_session(:'s2');
SET client_min_messages = warning;
DO $$
DECLARE
	s text;
BEGIN
	FOR s IN SELECT DISTINCT schema_name FROM pi.datasets WHERE owner IN ('pi_t1', 'pi_t2') LOOP
		EXECUTE format('DROP SCHEMA %I CASCADE', s);
	END LOOP;
	DELETE FROM pi.datasets WHERE owner IN ('pi_t1', 'pi_t2');
END
$$;
DROP SCHEMA tenant_test CASCADE;
DROP ROLE pi_t1;
DROP ROLE pi_t2;
DROP ROLE pi_outsider;
DROP ROLE pi_auditor;
