-- pi.query: one read-only SELECT over pi_data, refused otherwise
\pset null '(null)'
CREATE TABLE pi_data.q (id int, name text, amount numeric, ok boolean, at date);
INSERT INTO pi_data.q VALUES (1, 'a', 1.5, true, '2024-01-01'), (2, 'b', NULL, false, NULL), (3, 'c', 'NaN', NULL, '2024-03-01');
GRANT SELECT ON pi_data.q TO pi_reader;
CREATE SEQUENCE pi_data.s;

SELECT pi.query('SELECT * FROM q ORDER BY id');
SELECT pi.query('SELECT id FROM q ORDER BY id', 2);
SELECT pi.query('WITH t AS (SELECT id FROM q) SELECT count(*) AS n FROM t');
SELECT pi.query('select /* comment; DROP TABLE q */ name from pi_data.q where id = 1');
SELECT pi.query('SELECT random() < 2 AS ok, now() IS NOT NULL AS now');

-- refused
SELECT pi.query('SELECT 1; SELECT 2');
SELECT pi.query('SELECT 1; DROP TABLE pi_data.q');
SELECT pi.query('WITH d AS (DELETE FROM q RETURNING *) SELECT * FROM d');
SELECT pi.query('SELECT * INTO newtable FROM q');
SELECT pi.query('SELECT * FROM q FOR UPDATE');
SELECT pi.query('COPY q TO STDOUT');
SELECT pi.query('DELETE FROM q');
SELECT pi.query('INSERT INTO q VALUES (4)');
SELECT pi.query('UPDATE q SET id = 0');
SELECT pi.query('DROP TABLE q');
SELECT pi.query('SET statement_timeout = 0');
SELECT pi.query('SELECT pg_read_file(''postgresql.conf'')');
SELECT pi.query('SELECT lo_export(1, ''/tmp/x'')');
SELECT pi.query('SELECT set_config(''search_path'', ''pi'', false)');
SELECT pi.query('SELECT nextval(''s'')');
SELECT pi.query('SELECT pg_terminate_backend(1)');
SELECT pi.query('SELECT * FROM pi.jobs');
SELECT pi.query('SELECT * FROM pg_catalog.pg_authid');
SELECT pi.query('SELECT * FROM pg_class');
SELECT pi.query('SELECT * FROM "pi".sessions');
SELECT pi.query('SELECT (SELECT count(*) FROM pi.jobs) FROM q');
SELECT pi.query('SELECT * FROM q WHERE id IN (SELECT 1 FROM pi.datasets)');
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT pi.query('SELECT public.dblink_exec(''dbname=postgres'', ''DROP TABLE x'')');
SELECT pi.query('SELECT * FROM public.dblink(''dbname=postgres'', ''SELECT 1'') AS t(x int)');
DROP EXTENSION dblink;
SELECT pi.query('SELECT 1 /* ; */ ; SELECT 2');
SELECT pi.query(E'SELECT 1 \\; SELECT 2');
SELECT pi.query('');
SELECT pi.query(NULL);
SELECT pi.query('SELECT 1', 0);
SELECT pi.query('SELEC 1');
SELECT pi.query('SELECT * FROM nosuchtable');

-- the timeout stops a slow query
SET pi.query_timeout = 1;
SELECT pi.query('SELECT pg_sleep(5)');
RESET pi.query_timeout;

-- bounds: memory, temporary files, result size (terse: where memory ran
-- out differs from run to run)
\set VERBOSITY terse
SET pi.query_max_memory = '64MB';
SELECT pi.query('SELECT cardinality(array_agg(repeat(''x'', 1000) || g)) FROM generate_series(1, 1000000) g');
SELECT pi.query('SELECT length(repeat(''x'', 200000000)) + length(repeat(''y'', 200000000))');
RESET pi.query_max_memory;
SET pi.query_temp_file_limit = '1MB';
SET pi.query_work_mem = '64kB';
SELECT pi.query('SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY md5(g::text)) AS r FROM generate_series(1, 300000) g) s');
SELECT pi.query('SELECT count(*) FROM generate_series(1, 2000) a CROSS JOIN generate_series(1, 2000) b WHERE md5(a::text) < md5(b::text) GROUP BY md5(a::text || b::text) ORDER BY 1 LIMIT 1');
RESET pi.query_temp_file_limit;
RESET pi.query_work_mem;
\set VERBOSITY default
-- the settings were the statement's only
SHOW work_mem;
SHOW temp_file_limit;
SET pi.query_max_bytes = '2kB';
SELECT pi.query('SELECT g, repeat(''x'', 100) FROM generate_series(1, 100) g') - 'rows';
SELECT pi.query('SELECT repeat(''x'', 5000)') - 'columns';
RESET pi.query_max_bytes;
-- the backend is still usable, and memory is unbounded again outside pi.query
SELECT pi.query('SELECT 1 AS one');
SELECT length(string_agg(repeat('x', 1000), '')) FROM generate_series(1, 100000);


-- nothing above changed the data or the session
SELECT count(*) FROM pi_data.q;
SHOW search_path;
