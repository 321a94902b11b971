-- tenant_limits: per-tenant limits on sync runs, jobs, workspace and dataset
-- storage, and live session kernels.  Each limit reached by lim_t1 leaves
-- lim_t2 alone; only an administrator sets them; racing calls (other
-- connections, by dblink) cannot pass a limit together, and neither an
-- error nor a killed backend leaks a sync run slot.
\pset null '(null)'
SELECT current_user AS admin, current_database() AS db \gset
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE ROLE lim_t1 LOGIN IN ROLE pi_user;
CREATE ROLE lim_t2 LOGIN IN ROLE pi_user;
CREATE ROLE lim_admin LOGIN IN ROLE pi_user, pi_admin;
CREATE SCHEMA lim_test;
GRANT USAGE ON SCHEMA lim_test TO PUBLIC;
-- a call's outcome as text: its stdout, or the SQLSTATE it failed with
CREATE FUNCTION lim_test.try_execute(code text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN pi.execute(code, 60) ->> 'stdout';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
CREATE FUNCTION lim_test.try_submit(code text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pi.submit_job(code, 120);
	RETURN 'queued';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
-- wait until role holds n sync run slots (pi.show_tenant_limits)
CREATE FUNCTION lim_test.wait_sync(role name, n int) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 1200 LOOP
		IF (SELECT in_use FROM pi.show_tenant_limits(role) WHERE limit_name = 'max_sync_runs') = n THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END
$$;
CREATE FUNCTION lim_test.wait_job(job uuid) RETURNS text
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
-- wait until n backends of role wait for a lock (wait_lock: one)
CREATE FUNCTION lim_test.wait_locks(role name, n int) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 1200 LOOP
		IF (SELECT count(*) FROM pg_stat_activity WHERE usename = role AND wait_event_type = 'Lock') >= n THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END
$$;
CREATE FUNCTION lim_test.wait_lock(role name) RETURNS boolean
LANGUAGE sql AS $$ SELECT lim_test.wait_locks(role, 1) $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA lim_test TO PUBLIC;

-- the defaults, and what a tenant uses of each
SELECT * FROM pi.show_tenant_limits('lim_t1');

-- only an administrator sets limits: a tenant cannot raise its own
\c - lim_t1
SELECT pi.set_tenant_limit('lim_t1', 'max_sync_runs', 100);
SET pi.tenant_max_sync_runs = 100;
UPDATE pi.tenant_limits SET max_sync_runs = 100;
SELECT limit_name, value, is_default FROM pi.show_tenant_limits();
SELECT * FROM pi.show_tenant_limits('lim_t2');
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'max_sync_runs', 1);
SELECT pi.set_tenant_limit('lim_t1', 'max_jobs', 2);
SELECT pi.set_tenant_limit('lim_t1', 'bogus', 1);
SELECT pi.set_tenant_limit('lim_t1', 'max_jobs', -1);
SELECT pi.set_tenant_limit('lim_t1', 'max_sessions', -1);
SELECT pi.set_tenant_limit('nobody', 'max_jobs', 1);
SELECT limit_name, value, is_default FROM pi.show_tenant_limits('lim_t1');
SELECT limit_name, value, is_default FROM pi.show_tenant_limits('lim_t2');
-- back to the default, and set again
SELECT pi.set_tenant_limit('lim_t1', 'max_jobs', NULL);
SELECT pi.set_tenant_limit('lim_t1', 'max_jobs', 2);
SELECT role, max_sync_runs, max_jobs, workspace_mb, datasets_mb, max_sessions, updated_by FROM pi.tenant_limits;

-- sync runs: lim_t1 (limit 1) holds its slot with a run in another connection
\c - :admin
SELECT dblink_connect('c1', 'dbname=' || :'db' || ' user=lim_t1');
SELECT dblink_send_query('c1', $$SELECT pi.execute('import time; time.sleep(60)', 90)$$);
SELECT lim_test.wait_sync('lim_t1', 1);
\c - lim_t1
SELECT pi.execute('print(1)');
\c - lim_t2
SELECT pi.execute('print("t2 runs")') ->> 'stdout' AS t2;
-- a killed backend gives its slot back
\c - :admin
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE usename = 'lim_t1' AND query LIKE '%time.sleep(60)%';
SELECT lim_test.wait_sync('lim_t1', 0);
\c - lim_t1
SELECT pi.execute('print("after kill")') ->> 'stdout' AS after_kill;
-- so does a run that fails (cancelled by statement_timeout)
SET statement_timeout = '1s';
SELECT pi.execute('import time; time.sleep(20)', 30);
RESET statement_timeout;
SELECT pi.execute('print("after error")') ->> 'stdout' AS after_error;
-- calls in one transaction take the slot one after the other
BEGIN;
SELECT pi.execute('print(5)') ->> 'stdout' AS first, pi.execute('print(6)') ->> 'stdout' AS second;
COMMIT;
-- two runs at once: one runs, the other is refused
\c - :admin
SELECT dblink_connect('r1', 'dbname=' || :'db' || ' user=lim_t1');
SELECT dblink_connect('r2', 'dbname=' || :'db' || ' user=lim_t1');
SELECT dblink_send_query('r1', $$SELECT lim_test.try_execute('import time; time.sleep(3); print("ran")')$$);
SELECT dblink_send_query('r2', $$SELECT lim_test.try_execute('import time; time.sleep(3); print("ran")')$$);
SELECT r FROM (SELECT * FROM dblink_get_result('r1') AS t(r text)
			   UNION ALL SELECT * FROM dblink_get_result('r2') AS t(r text)) x ORDER BY r;
SELECT dblink_disconnect('r1'), dblink_disconnect('r2');
SELECT lim_test.wait_sync('lim_t1', 0);

-- jobs: lim_t1 may have 2 queued or running
\c - lim_t1
SELECT pi.submit_job('import time; time.sleep(100)', 120) AS j1 \gset
SELECT pi.submit_job('import time; time.sleep(100)', 120) AS j2 \gset
SELECT pi.submit_job('print(3)', 120);
\c - lim_t2
SELECT pi.submit_job('print("t2 job")', 60) AS jt2 \gset
SELECT lim_test.wait_job(:'jt2');
\c - lim_t1
SELECT pi.cancel_job(:'j2');
SELECT lim_test.wait_job(:'j2');
-- racing submits: r1's job is not committed yet when r2 counts; r2 waits
-- for it, and its repeatable read snapshot, taken before, does not hide it
\c - :admin
SELECT dblink_connect('r1', 'dbname=' || :'db' || ' user=lim_t1');
SELECT dblink_connect('r2', 'dbname=' || :'db' || ' user=lim_t1');
SELECT dblink_exec('r2', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM dblink('r2', 'SELECT count(*) FROM pg_class WHERE false') AS t(n bigint);
SELECT dblink_exec('r1', 'BEGIN');
SELECT * FROM dblink('r1', $$SELECT lim_test.try_submit('import time; time.sleep(100)')$$) AS t(r text);
SELECT dblink_send_query('r2', $$SELECT lim_test.try_submit('import time; time.sleep(100)')$$);
SELECT lim_test.wait_lock('lim_t1');
SELECT dblink_exec('r1', 'COMMIT');
SELECT * FROM dblink_get_result('r2') AS t(r text);
SELECT dblink_disconnect('r1'), dblink_disconnect('r2');
SELECT count(*) AS live_jobs FROM pi.jobs
WHERE submitted_by = 'lim_t1' AND kind <> 'sync' AND status IN ('pending', 'running');
-- the administrator raises the limit: the tenant submits again
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'max_jobs', 3);
\c - lim_t1
SELECT lim_test.try_submit('import time; time.sleep(100)');
\c - :admin
SELECT count(*) AS cancelled FROM (SELECT pi.cancel_job(id) FROM pi.jobs
	WHERE submitted_by = 'lim_t1' AND status IN ('pending', 'running')) c;
SELECT count(*) AS ended FROM (SELECT lim_test.wait_job(id) AS s FROM pi.jobs
	WHERE submitted_by = 'lim_t1' AND kind = 'async') w WHERE s NOT LIKE 'still%';

-- workspace storage across a tenant's sessions: lim_t1 gets 1 MB
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'workspace_mb', 1);
\c - lim_t1
SELECT pi.create_session('a') AS sa \gset
SELECT pi.create_session('b') AS sb \gset
SELECT pi.write_file(:'sa', 'big.bin', convert_to(repeat('x', 700000), 'UTF8')) ->> 'size' AS size;
SELECT pi.write_file(:'sb', 'more.bin', convert_to(repeat('x', 400000), 'UTF8'));
SELECT pi.write_file(:'sb', 'small.bin', convert_to(repeat('x', 1000), 'UTF8')) ->> 'size' AS size;
-- a run in session b may only use what session a leaves
SELECT r->>'status' AS status, r->'error'->>'type' AS error,
	   r->'error'->>'message' LIKE '%tenant "lim_t1"''s limit workspace_mb (1 MB across its sessions)%' AS names_the_limit
FROM pi.execute('open("grow.bin", "wb").write(b"x" * 3000000); import time; time.sleep(5)', 60, :'sb') r;
\c - lim_t2
SELECT pi.create_session('t2') AS s2 \gset
SELECT pi.write_file(:'s2', 'big.bin', convert_to(repeat('x', 1500000), 'UTF8')) ->> 'size' AS t2_size;
-- at the limit, runs in its sessions are refused before they start
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'workspace_mb', 2);
\c - lim_t1
SELECT pi.write_file(:'sb', 'more.bin', convert_to(repeat('x', 1400000), 'UTF8')) ->> 'size' AS size;
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'workspace_mb', 1);
\c - lim_t1
SELECT pi.execute('print(1)', 30, :'sb');
SELECT pi.submit_job('print(1)', 30, :'sa');
SELECT pi.execute('print("no session")') ->> 'stdout' AS sessionless;
SELECT limit_name, value, in_use FROM pi.show_tenant_limits() WHERE limit_name = 'workspace_mb';
SELECT pi.delete_file(:'sb', 'grow.bin');
SELECT pi.execute('print("room again")', 30, :'sb') ->> 'stdout' AS room_again;

-- datasets storage: lim_t1 gets 1 MB; a load that overflows it is undone
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'datasets_mb', 1);
SELECT pi.set_tenant_limit('lim_t1', 'workspace_mb', NULL);
\c - lim_t1
SELECT pi.write_file(:'sa', 'wide.csv', convert_to('id,pad' || E'\n' ||
	(SELECT string_agg(i || ',' || repeat('p', 200), E'\n') FROM generate_series(1, 20000) i), 'UTF8')) ->> 'size' AS size;
SELECT pi.write_file(:'sa', 'small.csv', convert_to(E'id,v\n1,a\n2,b\n', 'UTF8')) ->> 'size' AS size;
SELECT pi.load_csv('wide.csv', 'wide', :'sa') AS lw \gset
SELECT lim_test.wait_job(:'lw');
SELECT pi.job_result(:'lw') -> 'error' ->> 'message' AS load_error;
SELECT count(*) AS wide_datasets FROM pi.list_datasets() WHERE name = 'wide';
SELECT pi.load_csv('small.csv', 'small', :'sa') AS ls \gset
SELECT lim_test.wait_job(:'ls');
SELECT name, rows FROM pi.list_datasets();
\c - lim_t2
SELECT pi.write_file(:'s2', 'wide.csv', convert_to('id,pad' || E'\n' ||
	(SELECT string_agg(i || ',' || repeat('p', 200), E'\n') FROM generate_series(1, 20000) i), 'UTF8')) ->> 'size' AS size;
SELECT pi.load_csv('wide.csv', 'wide', :'s2') AS l2 \gset
SELECT lim_test.wait_job(:'l2');
SELECT name, rows FROM pi.list_datasets();
-- at the limit, a load is refused at the call
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'datasets_mb', 0);
\c - lim_t1
SELECT pi.load_csv('small.csv', 'small2', :'sa');
SELECT limit_name, value, in_use > 0 AS used FROM pi.show_tenant_limits() WHERE limit_name = 'datasets_mb';

-- live session kernels: lim_t1 may keep 1, lim_t2 keeps the default (8)
\c - lim_t1
SELECT pi.set_tenant_limit('lim_t1', 'max_sessions', 1);
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'max_sessions', 1);
\c - lim_t1
SELECT pi.create_session('k1') AS k1 \gset
SELECT pi.create_session('k2') AS k2 \gset
SELECT pi.execute('x = 1', 30, :'k1') -> 'session' ->> 'kernel' AS k1_kernel;
SELECT pi.execute('x = 2', 30, :'k2') -> 'session' ->> 'kernel' AS k2_kernel;
-- k2's kernel took k1's place: k1's next run says why and what to do
SELECT r -> 'result' -> 'json' AS had_x, r -> 'session' ->> 'state_reset' AS state_reset,
	   r -> 'session' ->> 'notice' LIKE '%at most 1 live kernels for this tenant: its limit max_sessions%' AS names_the_limit,
	   r -> 'session' ->> 'notice' LIKE '%SELECT pi.set_tenant_limit(''lim_t1'', ''max_sessions'', n)%' AS says_how
FROM pi.execute('had = "x" in globals(); x = 3; had', 30, :'k1') r;
SELECT limit_name, value, is_default, in_use, unit FROM pi.show_tenant_limits() WHERE limit_name = 'max_sessions';
\c - lim_t2
SELECT pi.create_session('m1') AS m1 \gset
SELECT pi.create_session('m2') AS m2 \gset
SELECT pi.create_session('m3') AS m3 \gset
SELECT pi.execute('x = 1', 30, :'m1') -> 'session' ->> 'kernel' AS m1_kernel,
	   pi.execute('x = 2', 30, :'m2') -> 'session' ->> 'kernel' AS m2_kernel,
	   pi.execute('x = 3', 30, :'m3') -> 'session' ->> 'kernel' AS m3_kernel;
SELECT pi.execute('x', 30, :'m1') -> 'result' -> 'json' AS m1_x,
	   pi.execute('x', 30, :'m2') -> 'result' -> 'json' AS m2_x,
	   pi.execute('x', 30, :'m3') -> 'result' -> 'json' AS m3_x;
SELECT limit_name, value, is_default, in_use FROM pi.show_tenant_limits() WHERE limit_name = 'max_sessions';
-- raised by an administrator, the limit holds from the tenant's next run
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'max_sessions', 2);
SELECT limit_name, value, is_default, in_use FROM pi.show_tenant_limits('lim_t1') WHERE limit_name = 'max_sessions';
\c - lim_t1
SELECT pi.execute('y = 1', 30, :'k2') -> 'session' ->> 'kernel' AS k2_kernel;
SELECT r -> 'result' -> 'json' AS k1_x, r -> 'session' ->> 'kernel' AS k1_kernel
FROM pi.execute('x', 30, :'k1') r;
SELECT limit_name, value, in_use FROM pi.show_tenant_limits() WHERE limit_name = 'max_sessions';
-- 0: no new kernels at all (a lowered limit stops no running kernel: it
-- holds when the tenant next starts one); runs without a session still go
\c - lim_admin
SELECT pi.set_tenant_limit('lim_t1', 'max_sessions', 0);
\c - lim_t1
SELECT pi.execute('x', 30, :'k1') -> 'result' -> 'json' AS k1_still_live;
SELECT r ->> 'status' AS status, r -> 'error' ->> 'type' AS error,
	   r -> 'error' ->> 'message' LIKE '%its limit max_sessions is 0%' AS names_the_limit
FROM pi.execute('1', 30, :'sa') r;
SELECT pi.execute('print("no session")') ->> 'stdout' AS sessionless;
-- a limit changed within a transaction holds from the next statement on
\c - :admin
BEGIN;
SELECT pi.set_tenant_limit('lim_t1', 'max_sync_runs', 0) IS NOT NULL AS set;
SET ROLE lim_t1;
SELECT lim_test.try_execute('print(7)') AS refused;
RESET ROLE;
SELECT pi.set_tenant_limit('lim_t1', 'max_sync_runs', 1) IS NOT NULL AS set;
SET ROLE lim_t1;
SELECT lim_test.try_execute('print(8)') AS runs;
ROLLBACK;

-- a NULL tenant or limit name is an error that says which is missing
\c - :admin
SELECT pi.set_tenant_limit(NULL, 'max_jobs', 1);
SELECT pi.set_tenant_limit('lim_t1', NULL, 1);

-- workspace_mb across 200 sessions (counted by the tally of
-- workspace_tally.c, not by walking them at each call): lim_t3 holds
-- 200 x 10000 bytes, its limit 2 MB (2097152 bytes) leaves 97152
CREATE ROLE lim_t3 LOGIN IN ROLE pi_user;
CREATE FUNCTION lim_test.try_write(sid uuid, path text, n int) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pi.write_file(sid, path, convert_to(repeat('x', n), 'UTF8'));
	RETURN 'written';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
GRANT EXECUTE ON FUNCTION lim_test.try_write(uuid, text, int) TO PUBLIC;
SELECT pi.set_tenant_limit('lim_t3', 'workspace_mb', 2);
\c - lim_t3
SELECT pi.create_session('m1') AS m1, pi.create_session('m2') AS m2, pi.create_session('m3') AS m3 \gset
SELECT count(pi.write_file(sid, 'f.bin', convert_to(repeat('x', 10000), 'UTF8'))) AS sessions
FROM (SELECT :'m1'::uuid UNION ALL SELECT :'m2' UNION ALL SELECT :'m3'
	  UNION ALL SELECT pi.create_session('many ' || i) FROM generate_series(4, 200) i) x(sid);
SELECT limit_name, value, in_use FROM pi.show_tenant_limits() WHERE limit_name = 'workspace_mb';
SELECT lim_test.try_write(:'m1', 'g.bin', 100000) AS over_by_2848;
SELECT lim_test.try_write(:'m1', 'g.bin', 90000) AS fits;
-- the write just made counts in another session at once
SELECT lim_test.try_write(:'m2', 'h.bin', 8000) AS over_by_848;
-- a deleted file frees its room
SELECT pi.delete_file(:'m1', 'g.bin');
SELECT lim_test.try_write(:'m2', 'h.bin', 8000) AS fits_again;
-- what a run writes counts from its end on: 50000 bytes of room are left
-- after this run in m2: 50001 more bytes in m3 do not fit, 50000 do
SELECT pi.execute('open("run.bin", "wb").write(b"x" * 39152)', 60, :'m2') ->> 'status' AS run;
SELECT lim_test.try_write(:'m3', 'i.bin', 50001) AS over_by_1;
SELECT lim_test.try_write(:'m3', 'i.bin', 50000) AS fits_exactly;
SELECT r ->> 'status' AS status, r -> 'error' ->> 'type' AS error
FROM pi.execute('print(1)', 30, :'m2') r;
SELECT limit_name, value, in_use FROM pi.show_tenant_limits() WHERE limit_name = 'workspace_mb';
-- a session closed leaves the count with its files
SELECT pi.close_session(:'m3');
SELECT lim_test.try_write(:'m2', 'j.bin', 50000) AS fits_after_close;
-- what a job writes counts from its end on too: it takes the last 10000
-- bytes of room, so not one byte more fits
SELECT pi.submit_job('open("job.bin", "wb").write(b"x" * 10000)', 60, :'m2') AS jm \gset
SELECT lim_test.wait_job(:'jm');
SELECT lim_test.try_write(:'m1', 'k.bin', 1) AS over_by_1;

-- racing writes: two writes of 600000 bytes in two sessions of lim_t4
-- (limit 1 MB) each fit alone; the first holds its tenant's tally lock
-- while it waits for pi.tenant_limits (locked here), so the second waits
-- for it, then counts its bytes and is refused
\c - :admin
CREATE ROLE lim_t4 LOGIN IN ROLE pi_user;
SELECT pi.set_tenant_limit('lim_t4', 'workspace_mb', 1);
SET ROLE lim_t4;
SELECT pi.create_session('r1') AS rs1, pi.create_session('r2') AS rs2 \gset
RESET ROLE;
SELECT dblink_connect('w1', 'dbname=' || :'db' || ' user=lim_t4');
SELECT dblink_connect('w2', 'dbname=' || :'db' || ' user=lim_t4');
BEGIN;
LOCK TABLE pi.tenant_limits IN ACCESS EXCLUSIVE MODE;
SELECT dblink_send_query('w1', format('SELECT lim_test.try_write(%L, %L, 600000)', :'rs1', 'a.bin'));
SELECT lim_test.wait_lock('lim_t4');
SELECT dblink_send_query('w2', format('SELECT lim_test.try_write(%L, %L, 600000)', :'rs2', 'b.bin'));
SELECT lim_test.wait_locks('lim_t4', 2);
COMMIT;
SELECT r FROM (SELECT * FROM dblink_get_result('w1') AS t(r text)
			   UNION ALL SELECT * FROM dblink_get_result('w2') AS t(r text)) x ORDER BY r;
SELECT dblink_disconnect('w1'), dblink_disconnect('w2');

-- clean up
\c - :admin
SELECT count(pi.close_session(id)) AS closed FROM pi.sessions WHERE owner IN ('lim_t3', 'lim_t4');
SELECT pi.close_session(id) FROM pi.sessions WHERE owner IN ('lim_t1', 'lim_t2') ORDER BY created_at;
DELETE FROM pi.datasets WHERE owner IN ('lim_t1', 'lim_t2');
DELETE FROM pi.tenant_limits;
DELETE FROM pi.jobs WHERE submitted_by IN ('lim_t1', 'lim_t2', 'lim_t3', 'lim_t4');
SET client_min_messages = warning;
DROP SCHEMA lim_test CASCADE;
DO $$
BEGIN
	EXECUTE 'DROP SCHEMA ' || pi.dataset_schema('lim_t1') || ' CASCADE';
	EXECUTE 'DROP SCHEMA ' || pi.dataset_schema('lim_t2') || ' CASCADE';
END
$$;
DROP ROLE lim_t1;
DROP ROLE lim_t2;
DROP ROLE lim_t3;
DROP ROLE lim_t4;
DROP ROLE lim_admin;
