-- pi.load_dataset: format detection and argument checks at the call, and a
-- JSON Lines load (xlsx loads and the traps of both formats: tests/datasets)
\pset null '(null)'
CREATE PROCEDURE pg_temp.load(path text, name text, sid uuid, fmt text, INOUT r jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	job uuid := pi.load_dataset(path, name, sid, '{}', fmt);
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
SELECT pi.create_session('load_dataset test') AS sid \gset

SELECT pi.write_file(:'sid', 'rows.jsonl', convert_to(
'{"id": 1, "tags": ["a"], "price": 1.5, "when": "2024-03-01 10:00:00"}
{"id": 2, "note": "late key", "price": 2}
', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('rows.jsonl', 'rows_jl', :'sid', 'auto', NULL) \gset
SELECT (:'r')::jsonb->>'status' AS status, (:'r')::jsonb->>'format' AS format,
       (:'r')::jsonb->>'rows' AS rows, (:'r')::jsonb->'columns' AS columns;
SELECT id, tags, price, "when", note FROM pi_data.rows_jl ORDER BY id;
SELECT count(*) AS leftovers FROM pi.list_files(:'sid') WHERE path LIKE '.pi_load_%';

-- a CSV goes the CSV way, named or not
SELECT pi.write_file(:'sid', 'plain.txt', convert_to(E'a,b\n1,x\n', 'UTF8')) IS NOT NULL AS written;
CALL pg_temp.load('plain.txt', 'plain', :'sid', 'auto', NULL) \gset
SELECT (:'r')::jsonb->>'status' AS status, (:'r')::jsonb->>'format' AS format;

-- refused at the call
SELECT pi.write_file(:'sid', 'fake.xlsx', convert_to('a,b', 'UTF8')) IS NOT NULL AS written;
SELECT pi.load_dataset('fake.xlsx', 'fake', :'sid');
SELECT pi.load_dataset('plain.txt', 'p', :'sid', format => 'xlsx');
SELECT pi.load_dataset('plain.txt', 'p', :'sid', format => 'parquet');
SELECT pi.load_dataset('plain.txt', 'p', :'sid', sheet => 'Sheet1');
SELECT pi.write_file(:'sid', 'array.json', convert_to('[{"a": 1}]', 'UTF8')) IS NOT NULL AS written;
SELECT pi.load_dataset('array.json', 'arr', :'sid');
SELECT pi.load_dataset('rows.jsonl', 'r', :'sid', '{"header": true}');
SELECT pi.load_dataset('rows.jsonl', 'r', :'sid', '{"encoding": "latin1"}');
SELECT pi.load_dataset('missing.xlsx', 'm', :'sid');
SELECT pi.load_dataset('rows.jsonl', 'r', NULL);

SELECT pi.drop_dataset('rows_jl'), pi.drop_dataset('plain');
SELECT pi.close_session(:'sid');
