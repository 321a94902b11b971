-- pi.execute: results, errors, limits and bad input
\pset null '(null)'

-- the value of the last expression, stdout and stderr
SELECT r->>'status' AS status, r->>'stdout' AS stdout, r->'result'->>'repr' AS repr,
       r->'result'->'json' AS json, r->'error' AS error
FROM pi.execute('print(1)') r;
SELECT r->>'status' AS status, r->'result'->>'repr' AS repr, r->'result'->'json' AS json
FROM pi.execute('import pandas as pd; pd.DataFrame({"a": [1, 2, 3]}).a.sum()') r;
SELECT r->>'stdout' AS stdout, r->>'stderr' AS stderr
FROM pi.execute(E'import sys\nprint("out")\nprint("err", file=sys.stderr)') r;
SELECT r->'result' AS result FROM pi.execute('x = 5') r;
SELECT r->'result'->>'type' AS type, r->'result'->'json' AS json
FROM pi.execute('{"a": [1, 2.5, None], "b": "text"}') r;

-- numpy, pandas and matplotlib are already imported as np, pd, plt
SELECT r->'result'->'json' AS json FROM pi.execute('int(np.arange(10).sum())') r;

-- a DataFrame comes back as a table
SELECT r->'result'->>'type' AS type, r->'result'->'table'->'columns' AS columns,
       r->'result'->'table'->'shape' AS shape, r->'result'->'table'->'data' AS data
FROM pi.execute('pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})') r;

-- errors carry type, message and a traceback with the user's line numbers
SELECT r->>'status' AS status, r->'error'->>'type' AS type, r->'error'->>'message' AS message,
       r->'error'->>'traceback' LIKE '%line 3%' AS names_line,
       r->'error'->>'traceback' LIKE '%runner%' AS shows_runner
FROM pi.execute(E'x = 1\ny = 0\nx / y') r;
SELECT r->>'status' AS status, r->'error'->>'type' AS type,
       r->'error'->>'traceback' LIKE '%line 2%' AS names_line
FROM pi.execute(E'print("before")\ndef f(:\n  pass') r;
SELECT r->>'stdout' AS stdout, r->'error'->>'type' AS type
FROM pi.execute(E'print("partial")\nraise ValueError("bad value")') r;

-- figures left open are returned as PNG
SELECT jsonb_array_length(r->'figures') AS figures, r->'figures'->0->>'width' AS width,
       r->'figures'->0->>'height' AS height,
       left(r->'figures'->0->>'png_base64', 8) AS png_magic
FROM pi.execute(E'fig, ax = plt.subplots(figsize=(4, 3))\nax.plot([1, 2, 3])') r;

-- stateless: nothing of one run is visible in the next
SELECT r->>'status' AS status FROM pi.execute(E'import builtins\nbuiltins.leak = 1\npd.leak = 2\nglobal_leak = 3') r;
SELECT r->'result'->'json' AS json
FROM pi.execute(E'import builtins\n[hasattr(builtins, "leak"), hasattr(pd, "leak"), "global_leak" in globals()]') r;

-- limits: time, output, memory
SELECT r->>'status' AS status, r->>'stdout' AS stdout, r->'error'->>'type' AS type
FROM pi.execute(E'import sys, time\nprint("started", flush=True)\nwhile True: pass', 1) r;
SET pi.max_output_bytes = 1024;
SELECT r->>'stdout_truncated' AS truncated, length(r->>'stdout') < 1200 AS capped,
       r->>'stdout' LIKE '%output truncated%' AS marker
FROM pi.execute('print("x" * 5000)') r;
RESET pi.max_output_bytes;
SET pi.max_memory_mb = 512;
SELECT r->>'status' AS status, r->'error'->>'type' AS type
FROM pi.execute('b = bytearray(2 * 1024 ** 3)') r;
RESET pi.max_memory_mb;

-- output that is not UTF-8, or holds NUL bytes, is made valid
SELECT r->>'status' AS status, r->>'stdout' AS stdout
FROM pi.execute(E'import sys\nsys.stdout.buffer.write(b"a\\xffb\\x00c\\n")') r;

-- bad input
SELECT pi.execute(NULL);
SELECT pi.execute('');
SELECT pi.execute('print(1)', 0);
SELECT pi.execute('print(1)', -5);
SELECT pi.execute('print(1)', 1000000);
SELECT pi.execute('print(1)', 10, '00000000-0000-0000-0000-000000000000');

-- every library of the data stack imports
SELECT r->>'status' AS status, r->>'stdout' AS stdout, r->'error' AS error
FROM pi.execute(E'import importlib\nmods = ["numpy", "pandas", "matplotlib", "seaborn", "plotly", "scipy", "sklearn", "statsmodels.api", "openpyxl", "xlsxwriter", "tabulate", "pdfminer.high_level", "pypdf"]\nfor m in mods:\n    importlib.import_module(m)\nprint(len(mods), "imported")', 120) r;

-- sync runs are recorded in pi.jobs; figures without their PNG data
SELECT kind, status FROM pi.jobs WHERE kind = 'sync' AND code = 'x = 5';
SELECT jsonb_array_length(result->'figures') AS figures, result->'figures'->0 ? 'png_base64' AS has_png,
       result->'figures'->0 ? 'width' AS has_width,
       (SELECT count(*) >= 1 FROM jsonb_array_elements(result->'outputs') o) AS has_outputs,
       (SELECT coalesce(bool_or(o->'data' ? 'image/png'), false)
          FROM jsonb_array_elements(result->'outputs') o) AS outputs_png
FROM pi.jobs WHERE kind = 'sync' AND code LIKE 'fig, ax = plt.subplots(figsize=(4, 3))%';

-- a read-only transaction may run code in a session; it records nothing
SELECT pi.create_session('read only') AS ro_sid \gset
BEGIN READ ONLY;
SELECT r->>'status' AS status, r->>'stdout' AS stdout
FROM pi.execute('ro = 1; print(ro)', 10, :'ro_sid') r;
COMMIT;
SELECT count(*) AS recorded FROM pi.jobs WHERE code = 'ro = 1; print(ro)';
