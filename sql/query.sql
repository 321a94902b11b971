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


-- normal analytic SQL still runs: aggregates, window functions, dates,
-- regexps, casts, CTEs, joins, JSON, full-text search
CREATE TABLE pi_data.r (id int, region text);
INSERT INTO pi_data.r VALUES (1, 'north'), (2, 'south'), (3, 'north');
GRANT SELECT ON pi_data.r TO pi_reader;
SELECT pi.query($$
  WITH j AS (SELECT q.*, r.region FROM q JOIN r USING (id))
  SELECT region, count(*) AS n, sum(amount) FILTER (WHERE amount <> 'NaN') AS total,
         string_agg(name, ',' ORDER BY name) AS names, array_agg(id ORDER BY id) AS ids,
         max(date_trunc('month', at)::date) AS last_month,
         bool_or(regexp_like(name, '^[ab]$')) AS ab,
         jsonb_agg(id ORDER BY id) AS ids_json
  FROM j GROUP BY region ORDER BY region$$);
SELECT pi.query($$SELECT id, rank() OVER (ORDER BY id DESC) AS rk,
  lag(name) OVER (ORDER BY id) AS prev, to_char(at, 'YYYY-MM') AS month,
  coalesce(amount, 0)::text || '!' AS txt, 2 ^ id AS p, id::numeric / 3 AS third,
  extract(epoch FROM at::timestamp) AS epoch, '2024-01-01'::date + id AS day,
  regexp_replace(name, '[aeiou]', '_') AS re, split_part('a.b.c', '.', id) AS part,
  to_tsvector('english', 'the running dogs') @@ to_tsquery('english', 'run') AS fts,
  '{"a": [1, 2]}'::jsonb -> 'a' ->> id - 1 AS js, md5(name) = md5(name) AS same,
  id IN (1, 3) AS odd, greatest(id, 2) AS g, nullif(id, 2) AS n, id IS DISTINCT FROM 2 AS d
  FROM q ORDER BY id$$);
SELECT pi.query('SELECT g, sum(g) OVER w FROM generate_series(1, 3) g WINDOW w AS (ORDER BY g)');

-- functions are allowed by what they can reach, not by volatility: these are
-- STABLE or IMMUTABLE yet read catalogs, settings or other tables, run SQL
-- given as text, or assign a transaction id
SELECT pi.query('SELECT table_to_xml(''pi.jobs'', true, false, '''')');
SELECT pi.query('SELECT query_to_xml(''SELECT * FROM pg_roles'', true, false, '''')');
SELECT pi.query('SELECT schema_to_xml(''pi'', true, false, '''')');
SELECT pi.query('SELECT database_to_xml(true, false, '''')');
SELECT pi.query('SELECT cursor_to_xml(''c'', 1, true, false, '''')');
SELECT pi.query('SELECT current_setting(''data_directory'')');
SELECT pi.query('SELECT txid_current()');
SELECT pi.query('SELECT pg_current_xact_id()');
SELECT pi.query('SELECT version()');
SELECT pi.query('SELECT has_table_privilege(''pi.jobs'', ''SELECT'')');
SELECT pi.query('SELECT pg_get_userbyid(10)');
SELECT pi.query('SELECT ts_stat(''SELECT 1'')');
SELECT pi.query('SELECT setseed(0.5)');
-- operators and casts call functions too; the reg* types print catalog names
SELECT pi.query('SELECT 10::oid::regrole::text');
SELECT pi.query('SELECT format(''%s'', 1259::oid::regclass)');
SELECT pi.query('SELECT ''pg_authid''::regclass::oid');
SELECT pi.query('SELECT to_json(x) FROM (SELECT 10::oid::regrole AS r) x');
SELECT pi.query('SELECT makeaclitem(10, 10, ''SELECT'', false)');
SELECT pi.query('SELECT pg_typeof(1)');
SELECT pi.query('SELECT * FROM json_to_record(''{"r": "pi_reader"}'') AS t(r regrole)');

-- every function PUBLIC may execute has a verdict: this lists those that no
-- rule names (pi.query refuses them); add each to extension/query_policy.c
CREATE FUNCTION pg_temp.query_function_policy(regprocedure) RETURNS text
  AS 'power_interpreter', 'pi_query_function_policy' LANGUAGE C STRICT;
SELECT p.oid::regprocedure AS unreviewed FROM pg_proc p
  WHERE has_function_privilege('public', p.oid, 'EXECUTE')
    AND pg_temp.query_function_policy(p.oid) NOT IN ('allowed', 'denied')
  ORDER BY 1::text;
SELECT f, pg_temp.query_function_policy(f::regprocedure) FROM (VALUES
  ('table_to_xml(regclass,boolean,boolean,text)'), ('query_to_xml(text,boolean,boolean,text)'),
  ('txid_current()'), ('current_setting(text)'), ('set_config(text,text,boolean)'),
  ('regclassout(regclass)'), ('int4pl(integer,integer)'), ('textin(cstring)'),
  ('sum(numeric)'), ('array_agg(anynonarray)'), ('date_trunc(text,timestamp with time zone)'),
  ('random()'), ('pg_sleep(double precision)'), ('nextval(regclass)')) v(f);

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

-- Python's pi.query() takes the same path: same refusals, same bounds
SELECT r->>'status' AS status, r->>'stdout' AS stdout, r->'error' AS error FROM pi.execute($py$
import pi
for sql in ["SELECT table_to_xml('pi.jobs', true, false, '')",
            "SELECT query_to_xml('SELECT * FROM pg_roles', true, false, '')",
            "SELECT count(*) AS n FROM q"]:
    try:
        print(pi.query(sql).to_dict("records"))
    except pi.QueryError as e:
        print("refused:", e)
$py$) r;
SET pi.query_max_memory = '64MB';
SELECT r->>'status' AS status, r->>'stdout' AS stdout, r->'error' AS error FROM pi.execute($py$
import pi
try:
    pi.query("SELECT cardinality(array_agg(repeat('x', 1000) || g)) FROM generate_series(1, 1000000) g")
except pi.QueryError as e:
    print("refused:", str(e).splitlines()[0])
print(pi.query("SELECT 1 AS one").to_dict("records"))
$py$) r;
RESET pi.query_max_memory;

-- nothing above changed the data or the session
SELECT count(*) FROM pi_data.q;
SHOW search_path;
