-- pi.load_csv: type inference over the whole file, dialects, bad rows, replace
\pset null '(null)'
-- load(): submit, commit (a worker only sees a committed job), wait, and
-- leave the result in psql variable :r
CREATE PROCEDURE pg_temp.load(path text, name text, sid uuid, options jsonb, INOUT r jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	job uuid := pi.load_csv(path, name, sid, options);
	s text;
BEGIN
	COMMIT;
	FOR i IN 1 .. 1200 LOOP
		SELECT status INTO s FROM pi.jobs WHERE id = job;
		EXIT WHEN s NOT IN ('pending', 'running');
		PERFORM pg_sleep(0.05);
	END LOOP;
	r := pi.job_result(job);
END
$$;
CREATE FUNCTION pg_temp.columns(r jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg((c->>'name') || ' ' || (c->>'type'), ', ' ORDER BY o)
	FROM jsonb_array_elements(r->'columns') WITH ORDINALITY AS t(c, o)
$$;
SELECT pi.create_session('datasets test') AS sid \gset

SELECT pi.write_file(:'sid', 'mixed.csv', convert_to(
'id,Amount (USD),ratio,day,at,at_tz,flag,zip,city,note
1,10.50,1e-3,2024-01-31,2024-01-31 10:00:00,2024-01-31T10:00:00Z,true,00501,Paris,"a, b"
2,7.25,2.5E2,2024-02-29,2024-02-29 23:59:59.5,2024-02-29 23:59:59+02:00,FALSE,02134,Oslo,"say ""hi"""
3,,NaN,,,,,,"Rome","line
break"
2147483648,0.1,3,2023-12-01,2023-12-01 00:00,2023-12-01 00:00:00-05,true,10001,Lima,
', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('mixed.csv', 'mixed', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->>'status' AS status, (:'r')::jsonb->>'rows' AS rows,
       pg_temp.columns(:'r') AS columns;
SELECT id, amount_usd, ratio, day, at, flag, zip, city, note FROM pi_data.mixed ORDER BY id;
SELECT name, rows, columns->1->>'original' AS original FROM pi.list_datasets();

-- a column that turns decimal late is numeric; NA and empty are NULL
SELECT pi.write_file(:'sid', 'late.csv', convert_to(
	'n;v' || E'\n' || (SELECT string_agg(i || ';' || CASE WHEN i = 5000 THEN '1.5' WHEN i = 7 THEN 'NA' ELSE i::text END, E'\n') FROM generate_series(1, 5000) i) || E'\n',
	'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('late.csv', 'late', :'sid', '{}', NULL) \gset
SELECT pg_temp.columns(:'r') AS columns;
SELECT count(*), count(v), sum(v) FROM pi_data.late;

-- BOM, CRLF, tab delimiter, duplicate and empty headers, no header
SELECT pi.write_file(:'sid', 'bom.tsv', '\xefbbbf'::bytea || convert_to(E'Name\tname\t\tValue\r\nx\ty\tz\t1\r\nu\tv\tw\t2\r\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('bom.tsv', 'bom', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->>'delimiter' AS delimiter, pg_temp.columns((:'r')::jsonb) AS columns, (:'r')::jsonb->>'copy_path' AS copy_path;
SELECT * FROM pi_data.bom ORDER BY value;
SELECT pi.write_file(:'sid', 'nohead.csv', convert_to(E'1,2024-05-01\n2,2024-05-02\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('nohead.csv', 'nohead', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->>'header' AS header, pg_temp.columns((:'r')::jsonb) AS columns;

-- overrides: a column's type, the delimiter, the header
CALL pg_temp.load('nohead.csv', 'nohead', :'sid', '{"header": false, "types": {"column_1": "text"}}', NULL) \gset
SELECT pg_temp.columns(:'r') AS columns;

-- bad files: clear errors, nothing half-loaded
SELECT pi.write_file(:'sid', 'ragged.csv', convert_to(E'a,b\n1,2\n3\n4,5\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('ragged.csv', 'ragged', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->>'status' AS status, (:'r')::jsonb->'error'->>'message' AS message;
SELECT count(*) FROM pi.datasets WHERE name = 'ragged';
CALL pg_temp.load('ragged.csv', 'ragged', :'sid', '{"on_error": "skip"}', NULL) \gset
SELECT (:'r')::jsonb->>'status' AS status, (:'r')::jsonb->>'rows' AS rows, (:'r')::jsonb->>'rejected_rows' AS rejected, (:'r')::jsonb->'rejected' AS rejects;
SELECT pi.write_file(:'sid', 'empty.csv', '') IS NOT NULL AS written;
CALL pg_temp.load('empty.csv', 'e', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->'error'->>'message' AS message;
SELECT pi.write_file(:'sid', 'header_only.csv', convert_to(E'a,b\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('header_only.csv', 'e', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->'error'->>'message' AS message;
SELECT pi.write_file(:'sid', 'latin1.csv', '\x6e616d650a4dfc6c6c65720a'::bytea) IS NOT NULL AS written;
CALL pg_temp.load('latin1.csv', 'latin', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->'error'->>'message' AS message;
CALL pg_temp.load('latin1.csv', 'latin', :'sid', '{"encoding": "latin1"}', NULL) \gset
SELECT (:'r')::jsonb->>'status' AS status;
SELECT name FROM pi_data.latin;
SELECT pi.write_file(:'sid', 'unclosed.csv', convert_to(E'a,b\n1,"open\n2,3\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('unclosed.csv', 'u', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->'error'->>'message' AS message;
SELECT pi.write_file(:'sid', 'badtype.csv', convert_to(E'a\n1\nx\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('badtype.csv', 'b', :'sid', '{"types": {"a": "integer"}}', NULL) \gset
SELECT (:'r')::jsonb->'error'->>'message' AS message;

-- a header that names a system column is renamed like other unusable names
SELECT pi.write_file(:'sid', 'syscols.csv', convert_to(E'id,xmin,ctid,tableoid,cmax,CMIN,xmax\n1,2,3,4,5,6,7\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('syscols.csv', 'syscols', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->>'status' AS status, pg_temp.columns(:'r') AS columns;
SELECT * FROM pi_data.syscols;

-- replacing a dataset swaps the table in one transaction
SELECT pi.write_file(:'sid', 'v2.csv', convert_to(E'x\n10\n20\n30\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('v2.csv', 'late', :'sid', '{}', NULL) \gset
SELECT (:'r')::jsonb->>'rows' AS rows;
SELECT count(*), sum(x) FROM pi_data.late;
SELECT count(*) AS tables FROM pg_tables WHERE schemaname = 'pi_data' AND tablename LIKE 'late%';

-- bad arguments
SELECT pi.load_csv('mixed.csv', 'bad name!', :'sid');
SELECT pi.load_csv('mixed.csv', 'x', NULL);
SELECT pi.load_csv('../mixed.csv', 'x', :'sid');
SELECT pi.load_csv('missing.csv', 'x', :'sid');
SELECT pi.load_csv('mixed.csv', 'x', :'sid', '{"delimiter": ";;"}');
SELECT pi.load_csv('mixed.csv', 'x', :'sid', '{"colour": "red"}');
SELECT pi.load_csv('mixed.csv', 'x', :'sid', '{"types": {"id": "money"}}');
SELECT pi.describe_dataset('mixed')->>'rows' AS rows;
SELECT pi.describe_dataset('nope');
SELECT pi.drop_dataset('nohead'), pi.drop_dataset('nohead');
-- a NULL name is an error saying so, not a dataset "<NULL>" or a silent false
SELECT pi.describe_dataset(NULL);
SELECT pi.drop_dataset(NULL);
